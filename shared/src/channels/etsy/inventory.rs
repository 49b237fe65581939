//! Etsy stock (§3.5): `PUT /listings/{listing_id}/inventory` **replaces the whole listing's
//! inventory**, and a product or variation left out is deleted. So each listing is read
//! (`GET …/inventory`), only the quantities of the offerings of our SKUs' products change, and
//! every product goes back with its SKU, property values, offerings (price as a decimal,
//! enabled flag, readiness state and whatever else Etsy returned) and the `*_on_property`
//! arrays, read-only fields stripped (`product_id`, `offering_id`, `is_deleted`,
//! `scale_name`). One write per listing; a listing's failure is reported on its SKUs alone.
//!
//! Etsy refuses a listing whose every offering is 0 ("One offering must have quantity greater
//! than 0"): such a write is not sent, and its SKUs are reported `all_offerings_zero` on the
//! run (the listing keeps its last quantities until the merchant deactivates it or it sells
//! out, as Etsy's staff advise). Quantities are clamped to Etsy's 0..=999.
//!
//! The day's call budget is shared by every job of the connection (Etsy counts per token):
//! when the last answer says fewer than [`ORDERS_RESERVE`] calls are left today, the push
//! stops (retried later) so the orders poll and tracking still have calls.

use super::tokens::EtsyApi;
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::ClientError;
use async_trait::async_trait;
use serde_json::{Map, Value};

/// Items per push call (grouped by listing inside).
pub const MAX_BATCH: usize = 50;
/// Calls of the day kept for orders and tracking.
pub const ORDERS_RESERVE: u64 = 500;
/// Etsy's largest offering quantity.
pub const MAX_QUANTITY: i64 = 999;

pub struct EtsyInventory {
    pub api: EtsyApi,
}

fn rejected(code: &str, message: impl Into<String>) -> ItemResult {
    ItemResult::Rejected {
        code: code.into(),
        message: message.into(),
    }
}

/// Money `{amount, divisor}` as the decimal the write takes; anything else as read.
fn price(v: &Value) -> Value {
    let amount = v.get("amount").and_then(Value::as_i64);
    let divisor = v.get("divisor").and_then(Value::as_i64).filter(|d| *d > 0);
    match (amount, divisor) {
        (Some(a), Some(d)) => {
            serde_json::Number::from_f64(a as f64 / d as f64).map_or(Value::Null, Value::Number)
        }
        _ => v.clone(),
    }
}

fn without(v: &Value, fields: &[&str]) -> Map<String, Value> {
    let mut map = v.as_object().cloned().unwrap_or_default();
    for f in fields {
        map.remove(*f);
    }
    map
}

/// The write body for `inventory` as read, with `quantities` (SKU → quantity) applied; also
/// says which SKUs were found. `Err`: the listing's answer is not an inventory.
pub fn write_body(
    inventory: &Value,
    quantities: &[(&str, i64)],
) -> Result<(Value, Vec<bool>), String> {
    let products = inventory
        .get("products")
        .and_then(Value::as_array)
        .ok_or("the listing's inventory has no products")?;
    let mut found = vec![false; quantities.len()];
    let mut out = Vec::with_capacity(products.len());
    for product in products {
        if product.get("is_deleted").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let sku = product.get("sku").and_then(Value::as_str).map(str::trim);
        let ours = quantities.iter().position(|(s, _)| Some(*s) == sku);
        let mut p = without(product, &["product_id", "is_deleted"]);
        if let Some(Value::Array(values)) = p.get("property_values") {
            let stripped: Vec<Value> = values
                .iter()
                .map(|v| Value::Object(without(v, &["scale_name"])))
                .collect();
            p.insert("property_values".into(), Value::Array(stripped));
        }
        let offerings = product
            .get("offerings")
            .and_then(Value::as_array)
            .ok_or("a product without offerings")?;
        let mut new_offerings = Vec::with_capacity(offerings.len());
        for offering in offerings {
            if offering.get("is_deleted").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let mut o = without(offering, &["offering_id", "is_deleted"]);
            if let Some(p) = offering.get("price") {
                o.insert("price".into(), price(p));
            }
            if let Some(i) = ours {
                o.insert(
                    "quantity".into(),
                    Value::from(quantities[i].1.clamp(0, MAX_QUANTITY)),
                );
            }
            new_offerings.push(Value::Object(o));
        }
        if let Some(i) = ours {
            found[i] = true;
        }
        p.insert("offerings".into(), Value::Array(new_offerings));
        out.push(Value::Object(p));
    }
    let mut body = Map::new();
    body.insert("products".into(), Value::Array(out));
    for key in [
        "price_on_property",
        "quantity_on_property",
        "sku_on_property",
        "readiness_state_on_property",
    ] {
        if let Some(v) = inventory.get(key) {
            body.insert(key.into(), v.clone());
        }
    }
    Ok((Value::Object(body), found))
}

/// Whether some enabled offering of the write keeps a quantity above 0.
fn any_in_stock(body: &Value) -> bool {
    body["products"].as_array().is_some_and(|products| {
        products.iter().any(|p| {
            p["offerings"].as_array().is_some_and(|o| {
                o.iter().any(|o| {
                    o.get("is_enabled").and_then(Value::as_bool) != Some(false)
                        && o.get("quantity").and_then(Value::as_i64).unwrap_or(0) > 0
                })
            })
        })
    })
}

fn push_error(e: ClientError) -> PushError {
    match e {
        ClientError::Unauthorized => PushError::NeedsReauth,
        other => PushError::Retry(other.to_string()),
    }
}

impl EtsyInventory {
    /// One listing: read, change our quantities, write. `Ok(results)` per item of `items`;
    /// `Err` only for what stops the whole push (credentials, outage, rate limit).
    async fn listing(
        &self,
        listing: &str,
        items: &[&PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let Ok(listing_id) = listing.parse::<u64>() else {
            return Ok(items
                .iter()
                .map(|_| {
                    rejected(
                        "not_a_listing",
                        format!("{listing:.40} is not an Etsy listing id"),
                    )
                })
                .collect());
        };
        let path = format!("/listings/{listing_id}/inventory");
        let inventory = match self.api.get(&path, &[]).await {
            Ok(v) => v,
            Err(ClientError::NotFound) => {
                return Ok(items
                    .iter()
                    .map(|_| {
                        rejected(
                            "listing_not_found",
                            format!("Etsy has no listing {listing_id}"),
                        )
                    })
                    .collect())
            }
            Err(ClientError::BadResponse(m)) => {
                return Ok(items
                    .iter()
                    .map(|_| rejected("listing_unreadable", m.clone()))
                    .collect())
            }
            Err(e) => return Err(push_error(e)),
        };
        let quantities: Vec<(&str, i64)> =
            items.iter().map(|i| (i.sku.as_str(), i.quantity)).collect();
        let (body, found) = match write_body(&inventory, &quantities) {
            Ok(x) => x,
            Err(m) => {
                return Ok(items
                    .iter()
                    .map(|_| rejected("listing_unreadable", m.clone()))
                    .collect())
            }
        };
        if !any_in_stock(&body) {
            return Ok(items
                .iter()
                .map(|_| {
                    rejected(
                        "all_offerings_zero",
                        format!("Etsy refuses to set every offering of listing {listing_id} to 0: it keeps its last quantities until it is deactivated or sells out"),
                    )
                })
                .collect());
        }
        if self.api.client.rate().below(ORDERS_RESERVE) {
            return Err(PushError::Retry(format!(
                "fewer than {ORDERS_RESERVE} Etsy calls left today: kept for orders and tracking"
            )));
        }
        match self
            .api
            .call(reqwest::Method::PUT, &path, &[], Some(&body))
            .await
        {
            Ok(_) => Ok(found
                .iter()
                .map(|f| match f {
                    true => ItemResult::Set,
                    false => rejected(
                        "sku_not_on_listing",
                        format!("no product of listing {listing_id} has this SKU"),
                    ),
                })
                .collect()),
            Err(ClientError::BadResponse(m)) if m.starts_with('4') => Ok(items
                .iter()
                .map(|_| rejected("etsy_refused", m.clone()))
                .collect()),
            Err(e) => Err(push_error(e)),
        }
    }
}

#[async_trait]
impl InventoryChannel for EtsyInventory {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    async fn push(
        &self,
        _reference: &str,
        _key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
        let mut listings: Vec<&str> = Vec::new();
        for item in items {
            if !listings.contains(&item.item.as_str()) {
                listings.push(&item.item);
            }
        }
        for listing in listings {
            let index: Vec<usize> = (0..items.len())
                .filter(|i| items[*i].item == listing)
                .collect();
            let group: Vec<&PushItem> = index.iter().map(|i| &items[*i]).collect();
            let outcome = self.listing(listing, &group).await?;
            for (i, r) in index.into_iter().zip(outcome) {
                results[i] = Some(r);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| rejected("not_written", "no result")))
            .collect())
    }
}
