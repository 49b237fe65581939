//! TikTok Shop inventory writes (reference §1.6): `POST /product/202309/products/{id}/
//! inventory/update`, one call per product (all SKUs of one call must belong to one product),
//! each SKU with **every** warehouse assigned to it: our quantity for the connection's
//! `inventory_location` warehouse, the SKU's other warehouses resent with the quantities
//! TikTok holds (read from the product first). Per-SKU failures in `data.errors` fail alone.
//!
//! Quantities: TikTok's current doc gives [1, 99 999], an older one "non-negative, less than
//! 99 999" [U]. We send 0 for sold out (a sold-out item must not stay on sale; a refusal comes
//! back as that SKU's rejection, never silently) and clamp above 99 999.

use super::client::{ApiError, ShopAuth, TikTokClient};
use super::credentials::TikTokCredentials;
use super::store::path_id;
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::ClientError;
use async_trait::async_trait;
use http::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Items one push may carry (split into one call per product inside).
pub const MAX_BATCH: usize = 100;
/// TikTok's largest accepted quantity.
pub const MAX_QUANTITY: i64 = 99_999;

/// The inventory writer of one connection.
pub struct TikTokInventory {
    pub(super) client: TikTokClient,
    pub(super) credentials: TikTokCredentials,
    /// The connection's `inventory_location`: the warehouse our stock is for (`None`: only
    /// SKUs with a single warehouse can be written).
    pub(super) warehouse: Option<String>,
}

/// `product_id:sku_id` (what [`super::store`] lists as the inventory item).
fn split_item(item: &str) -> Option<(&str, &str)> {
    let (product, sku) = item.split_once(':')?;
    Some((path_id(product)?, path_id(sku)?))
}

fn push_error(e: ApiError) -> PushError {
    match e {
        ApiError::Client(ClientError::Unauthorized) => PushError::NeedsReauth,
        ApiError::Client(ClientError::Throttled { retry_after_secs }) => PushError::Retry(format!(
            "rate limited by TikTok Shop (retry after {}s)",
            retry_after_secs.unwrap_or(1)
        )),
        ApiError::Client(other) => PushError::Retry(other.to_string()),
        refused @ ApiError::Refused { .. } => PushError::Retry(refused.to_string()),
    }
}

/// The warehouses TikTok holds for each SKU of a product: sku id → [(warehouse, quantity)].
fn warehouses(product: &Value) -> BTreeMap<String, Vec<(String, i64)>> {
    let mut out = BTreeMap::new();
    for sku in product
        .get("skus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = sku.get("id").and_then(super::webhook::id_text) else {
            continue;
        };
        let list = sku
            .get("inventory")
            .and_then(Value::as_array)
            .map(|inv| {
                inv.iter()
                    .filter_map(|w| {
                        let warehouse = super::webhook::id_text(w.get("warehouse_id")?)?;
                        let quantity = w.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                        Some((warehouse, quantity.clamp(0, MAX_QUANTITY)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(id, list);
    }
    out
}

impl TikTokInventory {
    fn auth(&self) -> ShopAuth<'_> {
        ShopAuth {
            access_token: &self.credentials.access_token,
            cipher: Some(&self.credentials.shop_cipher),
        }
    }

    /// One product's SKUs (`(index in the batch, sku id, quantity)`): their results.
    async fn push_product(
        &self,
        product: &str,
        skus: &[(usize, &str, i64)],
    ) -> Result<Vec<(usize, ItemResult)>, PushError> {
        let detail = self
            .client
            .call(
                Method::GET,
                &format!("/product/202309/products/{product}"),
                &[],
                None,
                self.auth(),
            )
            .await;
        let detail = match detail {
            Ok(d) => d,
            Err(ApiError::Refused { code, message }) => {
                // The product is gone or unreadable: each of its SKUs is refused alone.
                return Ok(skus
                    .iter()
                    .map(|(i, ..)| {
                        (
                            *i,
                            ItemResult::Rejected {
                                code: code.to_string(),
                                message: message.clone(),
                            },
                        )
                    })
                    .collect());
            }
            Err(e) => return Err(push_error(e)),
        };
        let held = warehouses(&detail);
        let mut results = Vec::new();
        let mut payload = Vec::new();
        let mut sent = Vec::new();
        for &(index, sku, quantity) in skus {
            let theirs = held.get(sku).cloned().unwrap_or_default();
            let ours = match (&self.warehouse, theirs.as_slice()) {
                (Some(w), list) if list.iter().any(|(id, _)| id == w) => w.clone(),
                (Some(w), _) => {
                    results.push((
                        index,
                        ItemResult::Rejected {
                            code: "warehouse_not_assigned".into(),
                            message: format!(
                                "TikTok Shop has no warehouse {w} assigned to SKU {sku}"
                            ),
                        },
                    ));
                    continue;
                }
                (None, [(only, _)]) => only.clone(),
                (None, _) => {
                    results.push((index, ItemResult::Rejected {
                        code: "inventory_location_needed".into(),
                        message: format!(
                            "SKU {sku} has {} warehouses on TikTok Shop: set the connection's inventory_location to the warehouse's id",
                            theirs.len()
                        ),
                    }));
                    continue;
                }
            };
            let inventory: Vec<Value> = theirs
                .iter()
                .map(|(w, q)| {
                    let q = if *w == ours {
                        quantity.clamp(0, MAX_QUANTITY)
                    } else {
                        *q
                    };
                    json!({"warehouse_id": w, "quantity": q})
                })
                .collect();
            payload.push(json!({"id": sku, "inventory": inventory}));
            sent.push((index, sku));
        }
        if payload.is_empty() {
            return Ok(results);
        }
        let body = json!({ "skus": payload });
        let data = self
            .client
            .call(
                Method::POST,
                &format!("/product/202309/products/{product}/inventory/update"),
                &[],
                Some(&body),
                self.auth(),
            )
            .await;
        let data = match data {
            Ok(d) => d,
            Err(ApiError::Refused { code, message }) => {
                for (index, _) in sent {
                    results.push((
                        index,
                        ItemResult::Rejected {
                            code: code.to_string(),
                            message: message.clone(),
                        },
                    ));
                }
                return Ok(results);
            }
            Err(e) => return Err(push_error(e)),
        };
        // Partial failures: `errors[] {code, message, detail {sku_id}}`.
        let mut failed: BTreeMap<String, (String, String)> = BTreeMap::new();
        for e in data
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sku = e
                .get("detail")
                .and_then(|d| d.get("sku_id"))
                .and_then(super::webhook::id_text);
            let code = e.get("code").map(|c| c.to_string()).unwrap_or_default();
            let message: String = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("refused")
                .chars()
                .take(200)
                .collect();
            match sku {
                Some(sku) => {
                    failed.insert(sku, (code, message));
                }
                // An error naming no SKU concerns the whole call.
                None => {
                    for (_, s) in &sent {
                        failed.insert((*s).to_owned(), (code.clone(), message.clone()));
                    }
                }
            }
        }
        for (index, sku) in sent {
            let result = match failed.get(sku) {
                Some((code, message)) => ItemResult::Rejected {
                    code: code.clone(),
                    message: message.clone(),
                },
                None => ItemResult::Set,
            };
            results.push((index, result));
        }
        Ok(results)
    }
}

#[async_trait]
impl InventoryChannel for TikTokInventory {
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
        // One call per product, products in first-seen order.
        let mut products: Vec<(&str, Vec<(usize, &str, i64)>)> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Some((product, sku)) = split_item(&item.item) else {
                results[index] = Some(ItemResult::Rejected {
                    code: "bad_item".into(),
                    message: format!("{:?} is not a TikTok product:SKU id", item.item),
                });
                continue;
            };
            match products.iter_mut().find(|(p, _)| *p == product) {
                Some((_, skus)) => skus.push((index, sku, item.quantity)),
                None => products.push((product, vec![(index, sku, item.quantity)])),
            }
        }
        for (product, skus) in products {
            for (index, result) in self.push_product(product, &skus).await? {
                results[index] = Some(result);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or(ItemResult::Rejected {
                    code: "not_sent".into(),
                    message: "not sent".into(),
                })
            })
            .collect())
    }
}
