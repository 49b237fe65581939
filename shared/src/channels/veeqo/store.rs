//! A Veeqo connection's [`StoreApi`]: the orders poll, the products import (sellables with
//! their SKUs) and the tracking write-back, all for the connection's Inventory Sync Warehouse.
//!
//! **Orders poll.** `GET /orders?updated_at_min=…&page_size=100&page=N`, no status filter (a
//! cancellation must reach the WMS too; [`super::order`] decides what is ready). Veeqo does not
//! document the time zone of `updated_at_min` ([U]); we send UTC and start
//! [`TIME_ZONE_MARGIN`] earlier, so whichever zone Veeqo reads it in (UTC−12 to UTC+14) no
//! change is missed: the reconciliation skips states it has already seen. Pages are numbered;
//! the walk ends when `X-Total-Pages-Count` (or `X-Total-Count`/`X-Per-Page`) says so, or, with
//! no headers, at a short page. The sort order is not documented, so the adapter declares
//! `sorted_by_change: false` (a run stopped by its page limit keeps the watermark).
//!
//! **Tracking.** `POST /shipments` for our allocation with `update_remote_order: true`, so
//! Veeqo passes the tracking to Amazon. Veeqo refuses a second shipment, so the order is read
//! first: an allocation already shipped with our tracking number is our earlier write (its id
//! is returned); with another number it is refused for good.

use super::client::{has_next_page, id_text, VeeqoClient};
use super::order::{allocations, map_order};
use super::VeeqoCredentials;
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::ClientError;
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use http::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Orders and products per page.
pub const PAGE_SIZE: u32 = 100;
const PAGE_SIZE_TEXT: &str = "100";
/// Pages a walk may ask for (a page number past this is refused, never a loop).
pub const MAX_PAGE: u32 = 10_000;
/// How much earlier than the watermark the poll asks Veeqo, for its unknown time zone.
pub const TIME_ZONE_MARGIN: ChronoDuration = ChronoDuration::hours(14);
/// Veeqo's `updated_at_min` format.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// Veeqo's carrier id for carriers it does not list.
pub const OTHER_CARRIER: u32 = 3;

/// `updated_at_min` for a poll from `since`.
pub fn updated_at_min(since: DateTime<Utc>) -> String {
    (since - TIME_ZONE_MARGIN).format(TIME_FORMAT).to_string()
}

/// Veeqo's carrier id for the WMS's carrier name (reference §4.5); [`OTHER_CARRIER`] for the
/// rest. Names are compared without case, spaces or punctuation (`Royal Mail` = `royal-mail`).
pub fn carrier_id(name: &str) -> u32 {
    let key: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "royalmail" => 1,
        "fedex" => 2,
        "dpd" | "dpduk" => 4,
        "ups" => 5,
        "citylink" => 6,
        "usps" => 7,
        "interlink" | "interlinkexpress" => 8,
        "dhl" | "dhlexpress" => 9,
        "myhermes" | "hermes" | "evri" => 10,
        "australiapost" => 11,
        "parcelforce" | "parcelforceworldwide" => 12,
        "tnt" => 13,
        "yodel" => 14,
        "apc" | "apcovernight" => 15,
        "dx" => 16,
        "ukmail" => 17,
        "israelpost" => 18,
        "canadapost" => 19,
        "hermesworld" => 23,
        "dhlde" | "deutschepost" => 24,
        _ => OTHER_CARRIER,
    }
}

/// A Veeqo connection's store, for its Inventory Sync Warehouse.
pub struct VeeqoStore {
    client: VeeqoClient,
    creds: VeeqoCredentials,
    warehouse: String,
}

impl VeeqoStore {
    pub fn new(client: VeeqoClient, creds: VeeqoCredentials, warehouse: String) -> Self {
        Self {
            client,
            creds,
            warehouse,
        }
    }

    async fn order(&self, id: &str) -> Result<Value, ClientError> {
        let path = format!("/orders/{id}");
        self.client.get(&self.creds, &path, &[]).await?.ok()
    }
}

fn page_number(cursor: Option<&str>) -> Result<u32, ClientError> {
    match cursor {
        None => Ok(1),
        Some(c) => c
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ClientError::BadResponse(format!("not a Veeqo page cursor: {c:?}"))),
    }
}

/// The next page's cursor after `page` of `count` items.
fn next_cursor(headers: &http::HeaderMap, page: u32, count: usize) -> Option<String> {
    let more = has_next_page(headers, page, PAGE_SIZE).unwrap_or(count >= PAGE_SIZE as usize);
    (more && count > 0 && page < MAX_PAGE).then(|| (page + 1).to_string())
}

fn array(body: Value, what: &str) -> Result<Vec<Value>, ClientError> {
    match body {
        Value::Array(items) => Ok(items),
        _ => Err(ClientError::BadResponse(format!(
            "Veeqo's {what} answer is not a JSON array"
        ))),
    }
}

#[async_trait]
impl StoreApi for VeeqoStore {
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let page = page_number(cursor)?;
        let min = updated_at_min(since);
        let page_text = page.to_string();
        let reply = self
            .client
            .get(
                &self.creds,
                "/orders",
                &[
                    ("updated_at_min", &min),
                    ("page_size", PAGE_SIZE_TEXT),
                    ("page", &page_text),
                ],
            )
            .await?;
        let headers = reply.headers.clone();
        let items = array(reply.ok()?, "orders")?;
        let next_cursor = next_cursor(&headers, page, items.len());
        let mut orders = Vec::new();
        let mut skipped = Vec::new();
        for raw in &items {
            match map_order(raw, &self.warehouse) {
                Ok(order) => orders.push(order),
                Err(problem) => skipped.push(problem),
            }
        }
        Ok(OrdersPage {
            orders,
            next_cursor,
            skipped,
        })
    }

    /// Every sellable of every product, with its SKU. `inventory_item_id` is the sellable id
    /// (stock is written per sellable); a sellable whose stock entry at our warehouse is
    /// `infinite`, or which is listed only as FBA ([`fba_only`]), is not tracked, so never
    /// pushed.
    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let page = page_number(cursor)?;
        let page_text = page.to_string();
        let reply = self
            .client
            .get(
                &self.creds,
                "/products",
                &[("page_size", PAGE_SIZE_TEXT), ("page", &page_text)],
            )
            .await?;
        let headers = reply.headers.clone();
        let products = array(reply.ok()?, "products")?;
        let next_cursor = next_cursor(&headers, page, products.len());
        let mut listings = Vec::new();
        for product in &products {
            let Some(product_id) = id_text(product.get("id")) else {
                continue;
            };
            let title: String = product
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(255)
                .collect();
            let deleted = product.get("deleted_at").is_some_and(|d| !d.is_null());
            let empty = Vec::new();
            let sellables = product
                .get("sellables")
                .and_then(Value::as_array)
                .unwrap_or(&empty);
            for sellable in sellables {
                let Some(id) = id_text(sellable.get("id")) else {
                    continue;
                };
                let sku = sellable
                    .get("sku_code")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                let infinite = sellable
                    .get("stock_entries")
                    .and_then(Value::as_array)
                    .and_then(|entries| {
                        entries.iter().find(|e| {
                            id_text(e.get("warehouse_id")).as_deref() == Some(&self.warehouse)
                        })
                    })
                    .and_then(|e| e.get("infinite"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let fba = fba_only(sellable);
                if fba {
                    tracing::info!(sellable = %id, "Veeqo sellable listed only as FBA on Amazon: not tracked, never pushed");
                }
                listings.push(Listing {
                    variant_id: id.clone(),
                    sku,
                    inventory_item_id: Some(id),
                    tracked: !infinite && !fba,
                    product_id: product_id.clone(),
                    product_title: title.clone(),
                    status: if deleted { "deleted" } else { "active" }.into(),
                    sellable: !deleted,
                });
            }
        }
        Ok(ListingsPage {
            listings,
            next_cursor,
        })
    }

    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.as_str();
        if channel_order_id.is_empty() || !channel_order_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ShipError::Permanent(format!(
                "{channel_order_id:?} is not a Veeqo order id"
            )));
        }
        let order = match self.order(channel_order_id).await {
            Err(ClientError::NotFound) => {
                return Err(ShipError::Permanent(format!(
                    "Veeqo has no order {channel_order_id}"
                )))
            }
            other => other?,
        };
        let ours = allocations(&order)
            .into_iter()
            .find(|a| a.warehouse_id.as_deref() == Some(self.warehouse.as_str()))
            .ok_or_else(|| {
                ShipError::Permanent(format!(
                    "Veeqo order {channel_order_id} has no allocation to the warehouse {}",
                    self.warehouse
                ))
            })?;
        if let Some((shipment_id, shipped_number)) = &ours.shipment {
            if shipped_number.as_deref().map(str::trim) == Some(number) {
                // Our earlier write, whose answer was lost.
                return Ok(vec![shipment_id.clone()]);
            }
            return Err(ShipError::Permanent(format!(
                "Veeqo order {channel_order_id} was already shipped from this warehouse (tracking {}): Veeqo refuses a second shipment",
                shipped_number.as_deref().unwrap_or("none")
            )));
        }
        if let Some(lines) = lines {
            let mut allocated: BTreeMap<&str, u64> = BTreeMap::new();
            for (sku, quantity) in &ours.lines {
                let entry = allocated.entry(sku.as_deref().unwrap_or("")).or_default();
                *entry = entry.saturating_add(*quantity);
            }
            let mut shipped: BTreeMap<&str, u64> = BTreeMap::new();
            for l in lines {
                let entry = shipped.entry(l.sku.as_str()).or_default();
                *entry = entry.saturating_add(u64::from(l.quantity));
            }
            if shipped != allocated {
                return Err(ShipError::Permanent(format!(
                    "Veeqo ships an allocation whole: this shipment carries {shipped:?} of the allocation's {allocated:?}; ship the rest in the same parcel or mark the order shipped in Veeqo"
                )));
            }
        }
        let body = json!({
            "shipment": {
                "tracking_number_attributes": {"tracking_number": number},
                "carrier_id": carrier_id(&tracking.company),
                "notify_customer": notify_customer,
                "update_remote_order": true,
            },
            "allocation_id": ours.id.parse::<u64>().unwrap_or_default(),
            "order_id": channel_order_id.parse::<u64>().unwrap_or_default(),
        });
        let reply = self
            .client
            .call(&self.creds, Method::POST, "/shipments", &[], Some(&body))
            .await?;
        let refused = reply.status.is_client_error()
            && !matches!(
                reply.status,
                http::StatusCode::UNAUTHORIZED | http::StatusCode::FORBIDDEN
            );
        if refused {
            return Err(ShipError::Permanent(format!(
                "Veeqo refused the shipment ({}): {}",
                reply.status,
                super::client::refusal_message(&reply)
            )));
        }
        let created = reply.ok()?;
        let id = id_text(created.get("id")).ok_or_else(|| {
            ShipError::Client(ClientError::BadResponse(
                "Veeqo's shipment answer has no id".into(),
            ))
        })?;
        Ok(vec![id])
    }
}

/// Whether a sellable is listed only as FBA: it has channel listings (`channel_sellables`),
/// and every one of them is on an Amazon channel (`channel.type_code` starting with `amazon`)
/// and fulfilled by Amazon. Such a sellable's stock is Amazon's, so the warehouse never writes
/// it. One FBM listing, or a listing on any other channel (eBay sells the warehouse's stock),
/// and it is pushed.
///
/// Veeqo documents `channel_sellables[]{id, remote_sku, channel_product_status,
/// channel{id, name, type_code, …}}` ([C], api-docs orders example) but no FBA field on a
/// listing [U]. Readings accepted, per listing: `fulfilled_by_amazon: true` or `fba: true`, or
/// a fulfilment channel string (`fulfillment_channel` / `fulfilment_channel`) of `AFN` or
/// starting with `AMAZON` (Amazon's own spellings). A listing that says none of these counts
/// as merchant-fulfilled: a missed FBA listing only gets a harmless write, a missed FBM one
/// would stay on sale after selling out.
pub fn fba_only(sellable: &Value) -> bool {
    let Some(listings) = sellable.get("channel_sellables").and_then(Value::as_array) else {
        return false;
    };
    !listings.is_empty() && listings.iter().all(|l| amazon_channel(l) && listed_fba(l))
}

fn amazon_channel(listing: &Value) -> bool {
    listing
        .pointer("/channel/type_code")
        .and_then(Value::as_str)
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("amazon"))
}

fn listed_fba(listing: &Value) -> bool {
    let flag = |name: &str| listing.get(name).and_then(Value::as_bool) == Some(true);
    let channel = ["fulfillment_channel", "fulfilment_channel"]
        .iter()
        .filter_map(|name| listing.get(*name).and_then(Value::as_str))
        .any(|c| {
            let c = c.trim().to_ascii_uppercase();
            c == "AFN" || c.starts_with("AMAZON")
        });
    flag("fulfilled_by_amazon") || flag("fba") || channel
}
