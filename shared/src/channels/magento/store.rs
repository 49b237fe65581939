//! [`StoreApi`] for Magento: orders changed since (`GET /V1/orders` with searchCriteria),
//! listings (`GET /V1/products`), tracking write-back (`POST /V1/order/{id}/ship`).

use super::order::{id_string, map_order};
use super::{query, segment, MagentoClient, MagentoCredentials, Target};
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::ClientError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};

/// Orders and products per page.
pub const PAGE_SIZE: u32 = 100;

/// A connected Magento store.
#[derive(Clone)]
pub struct MagentoStore {
    client: MagentoClient,
    target: Target,
}

impl MagentoStore {
    /// `Err` when the stored URL or store code is unusable.
    pub fn new(client: MagentoClient, creds: MagentoCredentials) -> Result<Self, String> {
        Ok(Self {
            target: Target::from_creds(&creds)?,
            client,
        })
    }

    async fn get(&self, path_and_query: &str) -> Result<crate::channels::rest::Reply, ClientError> {
        self.client
            .send(&self.target, Method::GET, path_and_query, None)
            .await
    }
}

/// A page cursor: a page number from 1. `None` → 1.
fn page(cursor: Option<&str>) -> Result<u32, ClientError> {
    match cursor {
        None => Ok(1),
        Some(c) => c
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| ClientError::BadResponse(format!("invalid page cursor {c:?}"))),
    }
}

/// `items` and `total_count` of a search result.
fn search_result(body: &Value) -> Result<(&[Value], u64), ClientError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ClientError::BadResponse("the search result is not a JSON object".into()))?;
    let items = match obj.get("items") {
        Some(Value::Array(items)) => items.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            return Err(ClientError::BadResponse(
                "the search result's items is not a list".into(),
            ))
        }
    };
    let total = obj.get("total_count").and_then(Value::as_u64).unwrap_or(0);
    Ok((items, total))
}

fn next_page(page: u32, items: &[Value], total: u64) -> Option<String> {
    (!items.is_empty() && u64::from(page) * u64::from(PAGE_SIZE) < total)
        .then(|| (page + 1).to_string())
}

/// The Magento carrier code of a WMS carrier name.
pub fn carrier_code(company: &str) -> &'static str {
    match company.trim().to_ascii_lowercase().as_str() {
        "ups" => "ups",
        "usps" => "usps",
        "fedex" => "fedex",
        "dhl" => "dhl",
        _ => "custom",
    }
}

#[async_trait]
impl StoreApi for MagentoStore {
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let n = page(cursor)?;
        let since = since.format("%Y-%m-%d %H:%M:%S").to_string();
        let size = PAGE_SIZE.to_string();
        let current = n.to_string();
        let q = query(&[
            (
                "searchCriteria[filter_groups][0][filters][0][field]",
                "updated_at",
            ),
            (
                "searchCriteria[filter_groups][0][filters][0][value]",
                &since,
            ),
            (
                "searchCriteria[filter_groups][0][filters][0][condition_type]",
                "gteq",
            ),
            ("searchCriteria[sortOrders][0][field]", "updated_at"),
            ("searchCriteria[sortOrders][0][direction]", "ASC"),
            ("searchCriteria[pageSize]", &size),
            ("searchCriteria[currentPage]", &current),
        ]);
        let body = self.get(&format!("/orders?{q}")).await?.ok()?;
        let (items, total) = search_result(&body)?;
        let mut orders = Vec::with_capacity(items.len());
        let mut skipped = Vec::new();
        for item in items {
            match map_order(item) {
                Ok(order) => orders.push(order),
                Err(reason) => skipped.push((
                    id_string(item.get("entity_id")).unwrap_or_else(|| "?".into()),
                    reason,
                )),
            }
        }
        Ok(OrdersPage {
            orders,
            next_cursor: next_page(n, items, total),
            skipped,
        })
    }

    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let n = page(cursor)?;
        let size = PAGE_SIZE.to_string();
        let current = n.to_string();
        let q = query(&[
            ("searchCriteria[pageSize]", &size),
            ("searchCriteria[currentPage]", &current),
            ("searchCriteria[sortOrders][0][field]", "entity_id"),
            ("searchCriteria[sortOrders][0][direction]", "ASC"),
        ]);
        let body = self.get(&format!("/products?{q}")).await?.ok()?;
        let (items, total) = search_result(&body)?;
        let listings = items.iter().filter_map(listing).collect();
        Ok(ListingsPage {
            listings,
            next_cursor: next_page(n, items, total),
        })
    }

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
        let id = channel_order_id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ShipError::Permanent(format!(
                "{:?} is not a Magento order id",
                id.chars().take(64).collect::<String>()
            )));
        }

        // 1. Idempotency: a shipment of this order may already carry our tracking number
        //    (a retry after a lost answer).
        let q = query(&[
            (
                "searchCriteria[filter_groups][0][filters][0][field]",
                "order_id",
            ),
            ("searchCriteria[filter_groups][0][filters][0][value]", id),
            (
                "searchCriteria[filter_groups][0][filters][0][condition_type]",
                "eq",
            ),
        ]);
        let shipments = self.get(&format!("/shipments?{q}")).await?.ok()?;
        let (items, _) = search_result(&shipments)?;
        for shipment in items {
            let tracks = shipment.get("tracks").and_then(Value::as_array);
            let ours = tracks.is_some_and(|tracks| {
                tracks.iter().any(|t| {
                    t.get("track_number")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.trim() == number)
                })
            });
            if ours {
                let shipment_id = id_string(shipment.get("entity_id")).ok_or_else(|| {
                    ClientError::BadResponse("a shipment without an entity_id".into())
                })?;
                return Ok(vec![shipment_id]);
            }
        }

        // 2. The order must exist and still be shippable.
        let reply = self.get(&format!("/orders/{}", segment(id))).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(ShipError::Permanent(
                "the order does not exist on Magento".into(),
            ));
        }
        let order = reply.ok()?;
        let state = order.get("state").and_then(Value::as_str).unwrap_or("");
        let refusal = match state {
            "canceled" => Some("the order is cancelled on Magento (state canceled)"),
            "closed" => Some("the order is closed (refunded) on Magento (state closed)"),
            "complete" => {
                Some("the order is already complete (shipped) on Magento (state complete)")
            }
            _ => None,
        };
        if let Some(refusal) = refusal {
            return Err(ShipError::Permanent(refusal.into()));
        }

        // 3. Ship.
        let company = tracking.company.trim();
        let mut body = json!({
            "notify": notify_customer,
            "appendComment": false,
            "tracks": [{
                "track_number": number,
                "title": if company.is_empty() { "Tracking" } else { company },
                "carrier_code": carrier_code(company),
            }],
        });
        if let Some(lines) = lines {
            body["items"] = Value::Array(shipment_items(&order, lines)?);
        }
        let reply = self
            .client
            .send(
                &self.target,
                Method::POST,
                &format!("/order/{}/ship", segment(id)),
                Some(&body),
            )
            .await?;
        match reply.status {
            s if s.is_success() => match id_string(Some(&reply.body)) {
                Some(shipment_id) => Ok(vec![shipment_id]),
                None => Err(ShipError::Client(ClientError::BadResponse(format!(
                    "the ship answer is not a shipment id: {}",
                    crate::channels::rest::snippet(&reply.body.to_string())
                )))),
            },
            StatusCode::BAD_REQUEST => Err(ShipError::Permanent(format!(
                "Magento refused the shipment: {}",
                super::error_message(&reply)
            ))),
            StatusCode::NOT_FOUND => Err(ShipError::Permanent(format!(
                "the order does not exist on Magento ({})",
                reply.message()
            ))),
            _ => Err(ShipError::Client(reply.ok().err().unwrap_or_else(|| {
                ClientError::BadResponse("unexpected answer".into())
            }))),
        }
    }
}

/// `items` of a partial shipment: each shipped SKU to the top-level order item whose SKU
/// matches (a configurable parent row carries the child's SKU).
fn shipment_items(order: &Value, lines: &[ShippedSku]) -> Result<Vec<Value>, ShipError> {
    let top_level: Vec<(String, &str)> = order
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| id_string(i.get("parent_item_id")).is_none())
                .filter_map(|i| {
                    Some((id_string(i.get("item_id"))?, i.get("sku")?.as_str()?.trim()))
                })
                .collect()
        })
        .unwrap_or_default();
    let children: Vec<&str> = order
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| id_string(i.get("parent_item_id")).is_some())
                .filter_map(|i| Some(i.get("sku")?.as_str()?.trim()))
                .collect()
        })
        .unwrap_or_default();
    let mut out: Vec<(String, u64)> = Vec::new();
    for line in lines {
        if line.quantity == 0 {
            continue;
        }
        let wanted = line.sku.trim();
        let found = top_level
            .iter()
            .find(|(_, sku)| *sku == wanted)
            .or_else(|| {
                top_level
                    .iter()
                    .find(|(_, sku)| sku.eq_ignore_ascii_case(wanted))
            });
        let Some((item_id, _)) = found else {
            let component = children.contains(&wanted);
            return Err(ShipError::Permanent(if component {
                format!(
                    "SKU {wanted} is a component of a bundle on this Magento order: Magento ships \
                     bundles by their top-level line, so ship the whole order or the whole bundle"
                )
            } else {
                format!("SKU {wanted} is not a line of this Magento order")
            }));
        };
        match out.iter_mut().find(|(id, _)| id == item_id) {
            Some((_, qty)) => *qty += u64::from(line.quantity),
            None => out.push((item_id.clone(), u64::from(line.quantity))),
        }
    }
    Ok(out
        .into_iter()
        .map(|(id, qty)| {
            let order_item_id = id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n));
            json!({"order_item_id": order_item_id, "qty": qty})
        })
        .collect())
}

/// A product of the catalog as a listing: simple, virtual and downloadable products carry
/// stock; configurable, bundle and grouped products do not.
fn listing(product: &Value) -> Option<Listing> {
    let type_id = product.get("type_id").and_then(Value::as_str)?;
    if !matches!(type_id, "simple" | "virtual" | "downloadable") {
        return None;
    }
    let id = id_string(product.get("id"))?;
    let raw_sku = product.get("sku").and_then(Value::as_str).unwrap_or("");
    let sku = Some(raw_sku.trim().to_owned()).filter(|s| !s.is_empty());
    let tracked = product
        .get("extension_attributes")
        .and_then(|e| e.get("stock_item"))
        .and_then(|s| s.get("manage_stock"))
        .is_none_or(super::truthy);
    let (status, sellable) = match product.get("status") {
        Some(v) if v.as_u64() == Some(1) || v.as_str() == Some("1") => ("enabled".to_owned(), true),
        Some(v) if v.as_u64() == Some(2) || v.as_str() == Some("2") => {
            ("disabled".to_owned(), false)
        }
        Some(Value::String(s)) => (s.trim().to_lowercase(), true),
        Some(Value::Null) | None => (String::new(), true),
        Some(other) => (other.to_string(), true),
    };
    Some(Listing {
        variant_id: id.clone(),
        inventory_item_id: sku.as_ref().map(|_| raw_sku.to_owned()),
        sku,
        tracked,
        product_id: id,
        product_title: product
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned(),
        status,
        sellable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipment_items_map_skus_to_top_level_lines() {
        let order = json!({"items": [
            {"item_id": 1, "sku": "SHIRT-M", "product_type": "configurable", "parent_item_id": null},
            {"item_id": 2, "sku": "SHIRT-M", "product_type": "simple", "parent_item_id": 1},
            {"item_id": 3, "sku": "KIT", "product_type": "bundle"},
            {"item_id": 4, "sku": "KIT-A", "product_type": "simple", "parent_item_id": 3}
        ]});
        let shipped = |sku: &str, quantity| ShippedSku {
            sku: sku.into(),
            quantity,
        };
        let items = shipment_items(
            &order,
            &[
                shipped("SHIRT-M", 1),
                shipped("shirt-m", 1),
                shipped("KIT", 2),
            ],
        )
        .unwrap();
        assert_eq!(
            items,
            vec![
                json!({"order_item_id": 1, "qty": 2}),
                json!({"order_item_id": 3, "qty": 2})
            ]
        );
        assert!(matches!(
            shipment_items(&order, &[shipped("KIT-A", 1)]),
            Err(ShipError::Permanent(m)) if m.contains("component of a bundle")
        ));
        assert!(matches!(
            shipment_items(&order, &[shipped("NOPE", 1)]),
            Err(ShipError::Permanent(m)) if m.contains("NOPE") && m.contains("not a line")
        ));
    }
}
