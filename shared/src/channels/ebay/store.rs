//! A connected eBay seller as a [`StoreApi`]: orders modified since (Sell Fulfillment
//! `getOrders`, offset paging), one order, Inventory API items as listings, and tracking as
//! shipping fulfillments (reference §2.3–2.6).

use super::client::{ebay_time, EbayClient, ITEMS_PAGE, ORDERS_PAGE};
use super::oauth::EbayTokens;
use super::order::map_order;
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::tokens::TokenError;
use crate::channels::ClientError;
use crate::domain::Connection;
use crate::ports::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

/// One eBay seller's store.
pub struct EbayStore {
    pub client: Arc<EbayClient>,
    pub tokens: Arc<EbayTokens>,
    pub connection: Connection,
}

impl EbayStore {
    async fn token(&self) -> Result<Secret, ClientError> {
        self.tokens
            .access_token(&self.connection)
            .await
            .map_err(|e| match e {
                TokenError::NeedsReauth => ClientError::Unauthorized,
                other => ClientError::Unavailable(other.to_string()),
            })
    }
}

/// eBay's carrier code for a carrier as the WMS names it ([S]: the Trading API's
/// `ShippingCarrierCodeType` spellings). Unknown or blank → `Other`, eBay's documented
/// fallback, so a carrier eBay does not know is never a refused request retried forever.
pub fn carrier_code(wms: &str) -> &'static str {
    let key: String = wms
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "usps" => "USPS",
        "ups" => "UPS",
        "fedex" => "FedEx",
        "dhl" | "dhlexpress" => "DHL",
        "royalmail" => "RoyalMail",
        "parcelforce" | "parcelforceworldwide" => "Parcelforce",
        "dpd" => "DPD",
        "evri" | "hermes" => "Hermes",
        "yodel" => "Yodel",
        "deutschepost" => "DeutschePost",
        "gls" => "GLS",
        "tnt" => "TNT",
        "canadapost" => "CanadaPost",
        "australiapost" => "AustraliaPost",
        _ => "Other",
    }
}

/// The order's line items to ship: `(lineItemId, quantity)`. `None`: every line whole.
/// Each shipped SKU is spread over the order's lines with that SKU in order, never beyond a
/// line's quantity; a SKU the order lacks, or more units than it has, is refused.
pub fn plan_lines(
    order: &Value,
    lines: Option<&[ShippedSku]>,
) -> Result<Vec<(String, u64)>, String> {
    let items: Vec<(String, Option<String>, u64)> = order
        .get("lineItems")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let id = i.get("lineItemId")?.as_str()?.to_owned();
                    let sku = i
                        .get("sku")
                        .and_then(Value::as_str)
                        .map(|s| s.trim().to_owned());
                    let quantity = i.get("quantity").and_then(Value::as_u64).unwrap_or(0);
                    Some((id, sku, quantity))
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(lines) = lines else {
        let all: Vec<(String, u64)> = items
            .into_iter()
            .filter(|(_, _, q)| *q > 0)
            .map(|(id, _, q)| (id, q))
            .collect();
        return if all.is_empty() {
            Err("the eBay order has no line items to ship".into())
        } else {
            Ok(all)
        };
    };
    let mut left: Vec<u64> = items.iter().map(|(_, _, q)| *q).collect();
    let mut plan: Vec<(String, u64)> = Vec::new();
    for shipped in lines {
        let mut wanted = u64::from(shipped.quantity);
        for (i, (id, sku, _)) in items.iter().enumerate() {
            if wanted == 0 {
                break;
            }
            if sku.as_deref() != Some(shipped.sku.trim()) || left[i] == 0 {
                continue;
            }
            let take = wanted.min(left[i]);
            left[i] -= take;
            wanted -= take;
            match plan.iter_mut().find(|(p, _)| p == id) {
                Some((_, q)) => *q += take,
                None => plan.push((id.clone(), take)),
            }
        }
        if wanted > 0 {
            return Err(format!(
                "the eBay order has no (or not enough) line items with SKU {}",
                shipped.sku
            ));
        }
    }
    if plan.is_empty() {
        return Err("nothing to ship".into());
    }
    Ok(plan)
}

fn fulfillment_id(f: &Value) -> Option<String> {
    f.get("fulfillmentId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn same_tracking(f: &Value, number: &str) -> bool {
    f.get("shipmentTrackingNumber")
        .or_else(|| f.get("trackingNumber"))
        .and_then(Value::as_str)
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(number.trim()))
}

/// eBay's error text from a 4xx (`errors[].message`).
fn ebay_message(body: &Value) -> String {
    body.pointer("/errors/0/message")
        .or_else(|| body.pointer("/errors/0/longMessage"))
        .and_then(Value::as_str)
        .map(crate::channels::rest::snippet)
        .unwrap_or_else(|| "no reason given".into())
}

#[async_trait]
impl StoreApi for EbayStore {
    /// `cursor` is the zero-based offset of the next page. getOrders has no documented sort,
    /// so the adapter declares `sorted_by_change: false` (a partial run keeps the watermark).
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let offset: u64 = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| ClientError::BadResponse(format!("bad page cursor {c}")))?,
        };
        let token = self.token().await?;
        let body = self.client.orders(&token, since, offset).await?;
        let raw: &[Value] = match body.get("orders") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(orders)) => orders,
            Some(_) => return Err(ClientError::BadResponse("orders is not a list".into())),
        };
        let mut orders = Vec::with_capacity(raw.len());
        let mut skipped = Vec::new();
        for value in raw {
            match map_order(value) {
                Ok(order) => orders.push(order),
                Err(reason) => {
                    let id = value
                        .get("orderId")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned();
                    skipped.push((id, reason));
                }
            }
        }
        let total = body.get("total").and_then(Value::as_u64).unwrap_or(0);
        let next = offset.checked_add(raw.len() as u64);
        let next_cursor = match next {
            Some(next)
                if !raw.is_empty()
                    && next < total
                    && raw.len() as u64 <= u64::from(ORDERS_PAGE) =>
            {
                Some(next.to_string())
            }
            _ => None,
        };
        tracing::debug!(since = %ebay_time(since), offset, count = raw.len(), total, "eBay orders page");
        Ok(OrdersPage {
            orders,
            next_cursor,
            skipped,
        })
    }

    async fn order(
        &self,
        channel_order_id: &str,
    ) -> Result<Option<crate::channels::store::Reread>, ClientError> {
        let token = self.token().await?;
        match self.client.order(&token, channel_order_id).await {
            Ok(value) => map_order(&value)
                .map(|order| Some(crate::channels::store::Reread::Order(Box::new(order))))
                .map_err(|e| ClientError::BadResponse(format!("order {channel_order_id}: {e}"))),
            Err(ClientError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Inventory API items (page index cursor). Each listing's `inventory_item_id` is the
    /// SKU: [`super::inventory::EbayInventory`] looks up its offers when it pushes. Listings
    /// created on eBay's site are not in the Inventory API and are not returned here (see
    /// the adapter's SKU-audit note).
    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let page: u64 = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| ClientError::BadResponse(format!("bad page cursor {c}")))?,
        };
        let token = self.token().await?;
        let body = self.client.inventory_items(&token, page).await?;
        let items: &[Value] = match body.get("inventoryItems") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ClientError::BadResponse(
                    "inventoryItems is not a list".into(),
                ))
            }
        };
        let listings = items
            .iter()
            .filter_map(|item| {
                let sku = item.get("sku").and_then(Value::as_str)?.trim().to_owned();
                let title = item
                    .pointer("/product/title")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                Some(Listing {
                    variant_id: sku.clone(),
                    sku: (!sku.is_empty()).then(|| sku.clone()),
                    inventory_item_id: (!sku.is_empty()).then(|| sku.clone()),
                    tracked: true,
                    product_id: item
                        .get("groupIds")
                        .and_then(|g| g.get(0))
                        .and_then(Value::as_str)
                        .map_or_else(|| sku.clone(), str::to_owned),
                    product_title: title,
                    status: "active".into(),
                    sellable: true,
                })
            })
            .collect();
        let total = body.get("total").and_then(Value::as_u64).unwrap_or(0);
        let seen = page
            .checked_add(1)
            .and_then(|p| p.checked_mul(u64::from(ITEMS_PAGE)));
        let next_cursor = match seen {
            Some(seen) if !items.is_empty() && seen < total => Some((page + 1).to_string()),
            _ => None,
        };
        Ok(ListingsPage {
            listings,
            next_cursor,
        })
    }

    /// One shipping fulfillment per parcel. The order's fulfillments are listed first: one
    /// with this tracking number already (ours, from a lost answer) is returned, never
    /// created again.
    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        _notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.as_str();
        let token = self.token().await?;
        // Listed first: a retry after a lost answer finds its fulfillment without more calls.
        let existing = match self.client.fulfillments(&token, channel_order_id).await {
            Ok(existing) => existing,
            Err(ClientError::NotFound) => {
                return Err(ShipError::Permanent(format!(
                    "eBay has no order {channel_order_id}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(found) = existing.iter().find(|f| same_tracking(f, number)) {
            tracing::info!(
                order = channel_order_id,
                "tracking already on eBay: not created again"
            );
            return Ok(fulfillment_id(found).into_iter().collect());
        }
        let order = match self.client.order(&token, channel_order_id).await {
            Ok(order) => order,
            Err(ClientError::NotFound) => {
                return Err(ShipError::Permanent(format!(
                    "eBay has no order {channel_order_id}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let plan = plan_lines(&order, lines).map_err(ShipError::Permanent)?;
        let body = json!({
            "lineItems": plan.iter().map(|(id, q)| json!({"lineItemId": id, "quantity": q})).collect::<Vec<_>>(),
            "shippedDate": ebay_time(Utc::now()),
            "shippingCarrierCode": carrier_code(&tracking.company),
            "trackingNumber": number,
        });
        let reply = self
            .client
            .create_fulfillment(&token, channel_order_id, &body)
            .await?;
        if reply.status.is_success() {
            let from_location = reply
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let id = from_location
                .or_else(|| fulfillment_id(&reply.body))
                .unwrap_or_else(|| number.to_owned());
            return Ok(vec![id]);
        }
        match reply.status.as_u16() {
            401 | 403 => Err(ClientError::Unauthorized.into()),
            404 => Err(ShipError::Permanent(format!(
                "eBay has no order {channel_order_id}"
            ))),
            status => Err(ShipError::Permanent(format!(
                "eBay refused the shipping fulfillment ({status}): {}",
                ebay_message(&reply.body)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Value {
        json!({"lineItems": [
            {"lineItemId": "L1", "sku": "A", "quantity": 2},
            {"lineItemId": "L2", "sku": "B", "quantity": 1},
            {"lineItemId": "L3", "sku": "A", "quantity": 1}
        ]})
    }

    #[test]
    fn shipped_skus_spread_over_the_orders_lines() {
        let shipped = [ShippedSku {
            sku: "A".into(),
            quantity: 3,
        }];
        assert_eq!(
            plan_lines(&order(), Some(&shipped)).unwrap(),
            vec![("L1".into(), 2), ("L3".into(), 1)]
        );
        assert_eq!(
            plan_lines(&order(), None).unwrap(),
            vec![("L1".into(), 2), ("L2".into(), 1), ("L3".into(), 1)]
        );
        let too_many = [ShippedSku {
            sku: "B".into(),
            quantity: 2,
        }];
        assert!(plan_lines(&order(), Some(&too_many)).is_err());
        let unknown = [ShippedSku {
            sku: "Z".into(),
            quantity: 1,
        }];
        assert!(plan_lines(&order(), Some(&unknown)).is_err());
    }

    #[test]
    fn carriers_map_to_ebay_codes_with_other_as_the_fallback() {
        assert_eq!(carrier_code("Royal Mail"), "RoyalMail");
        assert_eq!(carrier_code("FEDEX"), "FedEx");
        assert_eq!(carrier_code("Evri"), "Hermes");
        assert_eq!(carrier_code("Acme Couriers"), "Other");
        assert_eq!(carrier_code(""), "Other");
    }
}
