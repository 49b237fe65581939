//! [`StoreApi`] for a connected WooCommerce store: the reconciliation poll, product listings
//! and tracking write-back.

use super::api::{has_next, page_cursor, Api};
use super::order::{id_string, map_order};
use super::{WooClient, WooCredentials, API_ROOT};
use crate::channels::rest::Reply;
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::ClientError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A connected WooCommerce store.
#[derive(Clone)]
pub struct WooStore {
    api: Api,
}

impl WooStore {
    /// `Err` when the stored URL is unusable.
    pub fn new(client: WooClient, creds: WooCredentials) -> Result<Self, String> {
        Ok(Self {
            api: Api::from_credentials(client.http, &creds)?,
        })
    }
}

/// The path of the Shipment Tracking extension (WooCommerce.com, paid) for one order (§2.4).
fn trackings_path(order_id: &str) -> String {
    format!("/wp-json/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings")
}

/// Statuses tracking cannot be written to.
const CLOSED: &[&str] = &["cancelled", "refunded", "trash", "failed"];

fn array(reply: Reply, what: &str) -> Result<(Reply, Vec<Value>), ClientError> {
    let headers = reply.clone();
    match reply.ok()? {
        Value::Array(items) => Ok((headers, items)),
        _ => Err(ClientError::BadResponse(format!(
            "{what} is not a JSON array"
        ))),
    }
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn clean_sku(v: &Value) -> Option<String> {
    Some(str_of(v, "sku").trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl WooStore {
    /// Every variation of a variable product, all pages.
    async fn variations(&self, product_id: &str) -> Result<Vec<Value>, ClientError> {
        let path = format!("{API_ROOT}/products/{product_id}/variations");
        let mut all = Vec::new();
        for page in 1u64..=1000 {
            let page_text = page.to_string();
            let reply = self
                .api
                .get(&path, &[("per_page", "100"), ("page", &page_text)])
                .await?;
            let (reply, items) = array(reply, "a variations page")?;
            let more = has_next(&reply, page, items.len()) && !items.is_empty();
            all.extend(items);
            if !more {
                break;
            }
        }
        Ok(all)
    }

    /// Whether the order's notes already carry `number`; the id of that note.
    async fn find_note(&self, order_id: &str, number: &str) -> Result<Option<String>, ClientError> {
        let reply = self
            .api
            .get(&format!("{API_ROOT}/orders/{order_id}/notes"), &[])
            .await?;
        let (_, notes) = array(reply, "the order notes")?;
        Ok(notes
            .iter()
            .find(|n| str_of(n, "note").contains(number))
            .map(|n| id_string(n.get("id")).unwrap_or_else(|| "note".into())))
    }

    /// Adds `text` as an order note unless a note already carries `number`.
    async fn ensure_note(
        &self,
        order_id: &str,
        number: &str,
        text: &str,
        customer_note: bool,
    ) -> Result<String, ClientError> {
        if let Some(id) = self.find_note(order_id, number).await? {
            return Ok(id);
        }
        let created = self
            .api
            .send(
                Method::POST,
                &format!("{API_ROOT}/orders/{order_id}/notes"),
                &json!({"note": text, "customer_note": customer_note}),
            )
            .await?
            .ok()?;
        Ok(id_string(created.get("id")).unwrap_or_else(|| "note".into()))
    }
}

/// Whether `lines` ships every line item's full quantity (by SKU). `None` = everything.
fn ships_everything(order: &Value, lines: Option<&[ShippedSku]>) -> bool {
    let Some(lines) = lines else {
        return true;
    };
    let mut shipped: HashMap<&str, u64> = HashMap::new();
    for l in lines {
        *shipped.entry(l.sku.trim()).or_default() += u64::from(l.quantity);
    }
    let mut ordered: HashMap<String, u64> = HashMap::new();
    for item in order
        .get("line_items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let quantity = item.get("quantity").and_then(Value::as_u64).unwrap_or(0);
        if quantity == 0 {
            continue;
        }
        match clean_sku(item) {
            // A line without a SKU cannot be matched: it is not known to be shipped.
            None => return false,
            Some(sku) => *ordered.entry(sku).or_default() += quantity,
        }
    }
    ordered
        .iter()
        .all(|(sku, q)| shipped.get(sku.as_str()).copied().unwrap_or(0) >= *q)
}

fn client_error(e: ClientError) -> ShipError {
    ShipError::Client(e)
}

#[async_trait]
impl StoreApi for WooStore {
    /// `GET /orders?modified_after=…&dates_are_gmt=true&status=any&orderby=id&order=asc
    /// &per_page=100&page=N`. WooCommerce cannot sort by modification date (§2.3), so pages
    /// go by id; the cursor is the page number. `dates_are_gmt=true` because `modified_after`
    /// was read in the site timezone otherwise (issue #12594). An order that changes during
    /// the walk can move pages; the next poll (from the same `since`) catches it.
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let page = page_cursor(cursor)?;
        let since_text = since.format("%Y-%m-%dT%H:%M:%S").to_string();
        let page_text = page.to_string();
        let reply = self
            .api
            .get(
                &format!("{API_ROOT}/orders"),
                &[
                    ("modified_after", &since_text),
                    ("dates_are_gmt", "true"),
                    ("status", "any"),
                    ("orderby", "id"),
                    ("order", "asc"),
                    ("per_page", "100"),
                    ("page", &page_text),
                ],
            )
            .await?;
        let (reply, items) = array(reply, "the orders page")?;
        let mut orders = Vec::with_capacity(items.len());
        let mut skipped = Vec::new();
        for item in &items {
            match map_order(item) {
                Ok(order) => orders.push(order),
                Err(reason) => skipped.push((
                    id_string(item.get("id")).unwrap_or_else(|| "?".into()),
                    reason,
                )),
            }
        }
        let next_cursor = (!items.is_empty() && has_next(&reply, page, items.len()))
            .then(|| (page + 1).to_string());
        Ok(OrdersPage {
            orders,
            next_cursor,
            skipped,
        })
    }

    /// `GET /products?per_page=100&page=N&orderby=id&order=asc` (every status). Simple
    /// products, and other non-variable types that carry a SKU, are one listing
    /// (`product:{id}`); a variable product's variations (all pages of
    /// `/products/{id}/variations`) are one listing each (`variation:{pid}:{vid}`), and the
    /// parent itself only when it manages its own stock and has a SKU. Grouped and external
    /// products hold no stock: not listings. A variation's `manage_stock` is `"parent"`
    /// when the parent counts the stock: not tracked itself.
    ///
    /// Note: in the REST `view` context a variation without its own SKU shows its parent's
    /// SKU (WooCommerce's inheritance), so several variations can carry the same SKU.
    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let page = page_cursor(cursor)?;
        let page_text = page.to_string();
        let reply = self
            .api
            .get(
                &format!("{API_ROOT}/products"),
                &[
                    ("per_page", "100"),
                    ("page", &page_text),
                    ("orderby", "id"),
                    ("order", "asc"),
                ],
            )
            .await?;
        let (reply, products) = array(reply, "the products page")?;
        let mut listings = Vec::new();
        for product in &products {
            let Some(pid) = id_string(product.get("id")) else {
                continue;
            };
            let status = str_of(product, "status").to_ascii_lowercase();
            let title = str_of(product, "name").trim().to_owned();
            let tracked = product.get("manage_stock") == Some(&Value::Bool(true));
            let sku = clean_sku(product);
            let own = |sku: Option<String>| Listing {
                variant_id: pid.clone(),
                sku,
                inventory_item_id: Some(format!("product:{pid}")),
                tracked,
                product_id: pid.clone(),
                product_title: title.clone(),
                status: status.clone(),
                sellable: status == "publish",
            };
            match str_of(product, "type") {
                "grouped" | "external" => {}
                "variable" => {
                    if tracked && sku.is_some() {
                        listings.push(own(sku));
                    }
                    for variation in self.variations(&pid).await? {
                        let Some(vid) = id_string(variation.get("id")) else {
                            continue;
                        };
                        let vstatus = str_of(&variation, "status").to_ascii_lowercase();
                        listings.push(Listing {
                            variant_id: vid.clone(),
                            sku: clean_sku(&variation),
                            inventory_item_id: Some(format!("variation:{pid}:{vid}")),
                            tracked: variation.get("manage_stock") == Some(&Value::Bool(true)),
                            product_id: pid.clone(),
                            product_title: title.clone(),
                            sellable: status == "publish"
                                && vstatus != "private"
                                && vstatus != "draft",
                            status: vstatus,
                        });
                    }
                }
                "simple" => listings.push(own(sku)),
                _ => {
                    if sku.is_some() {
                        listings.push(own(sku));
                    }
                }
            }
        }
        let next_cursor = (!products.is_empty() && has_next(&reply, page, products.len()))
            .then(|| (page + 1).to_string());
        Ok(ListingsPage {
            listings,
            next_cursor,
        })
    }

    /// 1. `GET /orders/{id}`: unknown (404) or closed (`cancelled`, `refunded`, `trash`,
    ///    `failed`) → [`ShipError::Permanent`].
    /// 2. The Shipment Tracking extension, when installed (its `GET …/shipment-trackings`
    ///    answers an array; 404 `rest_no_route` otherwise): a tracking with the same number
    ///    is reused, else one is added (`tracking_provider`, or `custom_tracking_provider` +
    ///    `custom_tracking_link` when a tracking URL is given, since a WMS carrier name may
    ///    not be one of the extension's providers). Without the extension: an order note
    ///    (`customer_note` = `notify_customer`, which emails the buyer) unless one already
    ///    carries the tracking number.
    /// 3. `PUT /orders/{id} {"status":"completed"}` unless already completed, after the
    ///    tracking (the Completed email shows the extension's tracking, §2.4), and only when
    ///    `lines` covers every line item's full quantity by SKU: a partial shipment leaves the
    ///    status and says so in a note. WooCommerce sends its Completed email whatever
    ///    `notify_customer` says (its email settings decide).
    ///
    /// A retry finds the tracking (or note) already there and adds nothing.
    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.trim();
        if number.is_empty() {
            return Err(ShipError::Permanent("the tracking number is blank".into()));
        }
        let order_id = channel_order_id.trim();
        if order_id.is_empty()
            || order_id.len() > 20
            || !order_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ShipError::Permanent(format!(
                "{:?} is not a WooCommerce order id",
                crate::channels::rest::snippet(channel_order_id)
            )));
        }
        let order_path = format!("{API_ROOT}/orders/{order_id}");
        let order = match self.api.get(&order_path, &[]).await.and_then(Reply::ok) {
            Ok(order) => order,
            Err(ClientError::NotFound) => {
                return Err(ShipError::Permanent(
                    "the order does not exist on WooCommerce".into(),
                ))
            }
            Err(e) => return Err(client_error(e)),
        };
        let status = str_of(&order, "status").to_ascii_lowercase();
        if CLOSED.contains(&status.as_str()) {
            return Err(ShipError::Permanent(format!(
                "the order is {status} on WooCommerce: tracking is not written"
            )));
        }
        let carrier = tracking.company.trim();
        let url = tracking
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let complete = ships_everything(&order, lines);
        let mut ids = Vec::new();

        // The Shipment Tracking extension, if installed.
        let extension = match self.api.get(&trackings_path(order_id), &[]).await {
            Ok(reply) if reply.status.is_success() => match reply.body {
                Value::Array(items) => Some(items),
                _ => None,
            },
            Ok(reply) if reply.status == http::StatusCode::NOT_FOUND => None,
            Ok(reply) => {
                return Err(client_error(reply.ok().err().unwrap_or_else(|| {
                    ClientError::BadResponse("unexpected Shipment Tracking answer".into())
                })))
            }
            Err(ClientError::NotFound) => None,
            Err(e) => return Err(client_error(e)),
        };
        let with_url = match url {
            Some(u) => format!(" {u}"),
            None => String::new(),
        };
        let shipped_with = if carrier.is_empty() {
            String::new()
        } else {
            format!(" with {carrier}")
        };
        match extension {
            Some(existing) => {
                if let Some(found) = existing
                    .iter()
                    .find(|t| str_of(t, "tracking_number").trim() == number)
                {
                    ids.push(
                        found
                            .get("tracking_id")
                            .and_then(|v| {
                                v.as_str().map(str::to_owned).or_else(|| id_string(Some(v)))
                            })
                            .unwrap_or_else(|| number.to_owned()),
                    );
                } else {
                    let mut body = json!({
                        "tracking_number": number,
                        "date_shipped": Utc::now().format("%Y-%m-%d").to_string(),
                    });
                    match url {
                        Some(u) => {
                            body["custom_tracking_provider"] = json!(carrier);
                            body["custom_tracking_link"] = json!(u);
                        }
                        None => body["tracking_provider"] = json!(carrier),
                    }
                    let created = self
                        .api
                        .send(Method::POST, &trackings_path(order_id), &body)
                        .await
                        .and_then(Reply::ok)
                        .map_err(client_error)?;
                    ids.push(
                        created
                            .get("tracking_id")
                            .and_then(|v| {
                                v.as_str().map(str::to_owned).or_else(|| id_string(Some(v)))
                            })
                            .unwrap_or_else(|| number.to_owned()),
                    );
                }
                if !complete {
                    let text = format!(
                        "Partially shipped{shipped_with}: tracking number {number}{with_url}. The order stays {status} until everything has shipped."
                    );
                    ids.push(
                        self.ensure_note(order_id, number, &text, false)
                            .await
                            .map_err(client_error)?,
                    );
                }
            }
            None => {
                let text = if complete {
                    format!("Shipped{shipped_with}: tracking number {number}{with_url}")
                } else {
                    format!("Partially shipped{shipped_with}: tracking number {number}{with_url}")
                };
                ids.push(
                    self.ensure_note(order_id, number, &text, notify_customer)
                        .await
                        .map_err(client_error)?,
                );
            }
        }

        if complete && status != "completed" {
            self.api
                .send(Method::PUT, &order_path, &json!({"status": "completed"}))
                .await
                .and_then(Reply::ok)
                .map_err(client_error)?;
        }
        Ok(ids)
    }
}
