//! An Etsy shop for the jobs: receipts changed since a watermark (§3.3), one receipt, the
//! shop's listings with their products (§3.6) and tracking write-back (§3.4).

use super::order::{receipt_id, receipt_to_order};
use super::tokens::EtsyApi;
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, Reread, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::ClientError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Etsy's largest page (receipts and listings).
pub const PAGE: u64 = 100;
/// An offset beyond this is a loop, not a shop (Etsy refuses offsets past 12,000 anyway).
const MAX_OFFSET: u64 = 100_000;

pub struct EtsyStore {
    pub api: EtsyApi,
    pub shop_id: u64,
}

fn offset(cursor: Option<&str>) -> Result<u64, ClientError> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .parse::<u64>()
            .ok()
            .filter(|o| *o <= MAX_OFFSET)
            .ok_or_else(|| ClientError::BadResponse(format!("not an Etsy page offset: {c:.40}"))),
    }
}

/// `results` of a paged answer and the next offset (`None` on the last page).
fn page(body: &Value, offset: u64) -> Result<(&[Value], Option<u64>), ClientError> {
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| ClientError::BadResponse("an Etsy page without results".into()))?;
    let count = body.get("count").and_then(Value::as_u64);
    let seen = offset.saturating_add(results.len() as u64);
    let more = match count {
        Some(total) => seen < total,
        None => results.len() as u64 == PAGE,
    };
    let next = (more && !results.is_empty() && seen <= MAX_OFFSET).then_some(seen);
    Ok((results.as_slice(), next))
}

fn same_code(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase()
    };
    norm(a) == norm(b)
}

/// The id of a shipment on `receipt` carrying `code`, if one does.
fn shipment_with(receipt: &Value, code: &str) -> Option<String> {
    receipt
        .get("shipments")?
        .as_array()?
        .iter()
        .find(|s| {
            s.get("tracking_code")
                .and_then(Value::as_str)
                .is_some_and(|c| same_code(c, code))
        })
        .map(|s| match s.get("receipt_shipping_id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.chars().take(64).collect(),
            _ => String::new(),
        })
}

impl EtsyStore {
    fn receipt_path(&self, id: &str) -> Result<String, ClientError> {
        let id: u64 = id
            .parse()
            .map_err(|_| ClientError::BadResponse(format!("not an Etsy receipt id: {id:.40}")))?;
        Ok(format!("/shops/{}/receipts/{id}", self.shop_id))
    }
}

#[async_trait]
impl StoreApi for EtsyStore {
    /// `GET /shops/{shop_id}/receipts?min_last_modified=…&limit=100&offset=…&sort_on=updated
    /// &sort_order=asc`: oldest change first, offset paging (the job overlaps its watermark).
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let offset = offset(cursor)?;
        let query = [
            ("min_last_modified", since.timestamp().max(0).to_string()),
            ("limit", PAGE.to_string()),
            ("offset", offset.to_string()),
            ("sort_on", "updated".to_string()),
            ("sort_order", "asc".to_string()),
        ];
        let path = format!("/shops/{}/receipts", self.shop_id);
        let body = self.api.get(&path, &query).await?;
        let (results, next) = page(&body, offset)?;
        let mut orders = Vec::new();
        let mut skipped = Vec::new();
        for receipt in results {
            match receipt_to_order(receipt) {
                Ok(order) => orders.push(order),
                Err(reason) => skipped.push((
                    receipt_id(receipt).map_or_else(|| "?".into(), |id| id.to_string()),
                    reason,
                )),
            }
        }
        Ok(OrdersPage {
            orders,
            next_cursor: next.map(|n| n.to_string()),
            skipped,
        })
    }

    async fn order(&self, channel_order_id: &str) -> Result<Option<Reread>, ClientError> {
        let path = self.receipt_path(channel_order_id)?;
        match self.api.get(&path, &[]).await {
            Ok(receipt) => receipt_to_order(&receipt)
                .map(|order| Some(Reread::Order(Box::new(order))))
                .map_err(ClientError::BadResponse),
            Err(ClientError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /shops/{shop_id}/listings?state=active&includes=Inventory`: one [`Listing`] per
    /// product of each listing (a listing without variations has one). The inventory item is
    /// the listing id: Etsy's stock write is per listing, the SKU finds the product.
    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let offset = offset(cursor)?;
        let query = [
            ("state", "active".to_string()),
            ("limit", PAGE.to_string()),
            ("offset", offset.to_string()),
            ("includes", "Inventory".to_string()),
        ];
        let path = format!("/shops/{}/listings", self.shop_id);
        let body = self.api.get(&path, &query).await?;
        let (results, next) = page(&body, offset)?;
        let mut listings = Vec::new();
        for listing in results {
            let Some(listing_id) = listing.get("listing_id").and_then(Value::as_u64) else {
                continue;
            };
            let title: String = listing
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            let state = listing
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("active")
                .to_ascii_lowercase();
            let products: Vec<&Value> = listing
                .get("inventory")
                .and_then(|i| i.get("products"))
                .and_then(Value::as_array)
                .map(|p| {
                    p.iter()
                        .filter(|p| p.get("is_deleted").and_then(Value::as_bool) != Some(true))
                        .collect()
                })
                .unwrap_or_default();
            let one = |variant_id: String, sku: Option<&str>| Listing {
                variant_id,
                sku: sku
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                inventory_item_id: Some(listing_id.to_string()),
                tracked: true,
                product_id: listing_id.to_string(),
                product_title: title.clone(),
                sellable: state == "active",
                status: state.clone(),
            };
            if products.is_empty() {
                // No inventory included: the listing's own SKUs (one, without variations).
                let sku = listing
                    .get("skus")
                    .and_then(Value::as_array)
                    .and_then(|s| s.first())
                    .and_then(Value::as_str);
                listings.push(one(listing_id.to_string(), sku));
                continue;
            }
            for product in products {
                let id = product
                    .get("product_id")
                    .and_then(Value::as_u64)
                    .map_or_else(|| listing_id.to_string(), |p| format!("{listing_id}/{p}"));
                listings.push(one(id, product.get("sku").and_then(Value::as_str)));
            }
        }
        Ok(ListingsPage {
            listings,
            next_cursor: next.map(|n| n.to_string()),
        })
    }

    /// Etsy ships whole receipts: each shipment's tracking is added to the receipt
    /// (`POST …/receipts/{id}/tracking`; the first marks it shipped, and each call emails the
    /// buyer). So a retry first reads the receipt and answers the shipment already carrying
    /// this tracking code instead of posting it again.
    async fn write_tracking(
        &self,
        channel_order_id: &str,
        _lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        _notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.as_str();
        if number.len() > 100 {
            return Err(ShipError::Permanent(
                "a tracking number of 1 to 100 characters is required".into(),
            ));
        }
        let path = self
            .receipt_path(channel_order_id)
            .map_err(ShipError::Client)?;
        let receipt = match self.api.get(&path, &[]).await {
            Ok(r) => r,
            Err(ClientError::NotFound) => {
                return Err(ShipError::Permanent(format!(
                    "Etsy has no receipt {channel_order_id} in this shop"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(id) = shipment_with(&receipt, number) {
            tracing::info!(
                receipt = channel_order_id,
                "tracking already on the receipt: not posted again"
            );
            return Ok(vec![id]);
        }
        if let Ok(order) = receipt_to_order(&receipt) {
            if order.cancelled {
                return Err(ShipError::Permanent(format!(
                    "receipt {channel_order_id} is cancelled on Etsy"
                )));
            }
        }
        let carrier = self
            .api
            .client
            .carriers
            .name_for(&self.api, self.shop_id, &tracking.company)
            .await;
        let body = json!({
            "tracking_code": number,
            "carrier_name": carrier,
            "send_bcc": false,
        });
        let answer = self
            .api
            .call(
                reqwest::Method::POST,
                &format!("{path}/tracking"),
                &[],
                Some(&body),
            )
            .await;
        match answer {
            Ok(receipt) => Ok(shipment_with(&receipt, number).into_iter().collect()),
            Err(ClientError::BadResponse(m)) if m.starts_with("4") => Err(ShipError::Permanent(
                format!("Etsy refused the tracking: {m}"),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carriers_map_to_etsy_names_and_unknown_ones_to_other() {
        use super::super::carriers::carrier_name;
        assert_eq!(carrier_name("UPS"), "ups");
        assert_eq!(carrier_name("Royal Mail"), "royal-mail");
        assert_eq!(carrier_name("FedEx"), "fedex");
        assert_eq!(carrier_name("Acme Couriers"), "other");
        assert_eq!(carrier_name(""), "other");
    }

    #[test]
    fn pages_end_at_the_count_and_cursors_are_checked() {
        let body = json!({"count": 150, "results": vec![json!({}); 100]});
        assert_eq!(page(&body, 0).unwrap().1, Some(100));
        let last = json!({"count": 150, "results": vec![json!({}); 50]});
        assert_eq!(page(&last, 100).unwrap().1, None);
        assert!(offset(Some("abc")).is_err());
        assert!(offset(Some("999999999")).is_err());
        assert!(page(&json!({"error": "x"}), 0).is_err());
    }
}
