//! Stock writes: `POST /products/batch` and `POST /products/{pid}/variations/batch` with
//! `{"update":[{"id":…,"stock_quantity":…}]}` (§2.5).

use super::api::Api;
use super::order::id_string;
use super::{WooClient, WooCredentials, API_ROOT, PAGE_SIZE};
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::ClientError;
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Most objects in one batch request: WooCommerce answers 413
/// `woocommerce_rest_request_entity_too_large` above 100 (`check_batch_limit`, §2.5).
pub const MAX_BATCH: usize = PAGE_SIZE;

/// A connected store's stock endpoint. Items are the listings' `inventory_item_id`:
/// `product:{id}` or `variation:{parent}:{id}`.
///
/// WooCommerce sets stock absolutely, with no compare-and-set: [`PushItem::change_from`] is
/// ignored, and a push can overwrite a sale made since the quantity was computed (§2.5).
/// `manage_stock` is never sent: whether WooCommerce counts an item's stock is the merchant's
/// choice, and an item that it does not count is reported `manage_stock_off`.
#[derive(Clone)]
pub struct WooInventory {
    api: Api,
}

impl WooInventory {
    /// `Err` when the stored URL is unusable.
    pub fn new(client: WooClient, creds: WooCredentials) -> Result<Self, String> {
        Ok(Self {
            api: Api::from_credentials(client.http, &creds)?,
        })
    }
}

/// Which batch endpoint an item goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Product,
    Variations(u64),
}

fn parse_item(item: &str) -> Option<(Target, u64)> {
    let positive = |s: &str| s.parse::<u64>().ok().filter(|n| *n > 0);
    let mut parts = item.trim().split(':');
    let target = match (parts.next()?, parts.next(), parts.next(), parts.next()) {
        ("product", Some(id), None, None) => (Target::Product, positive(id)?),
        ("variation", Some(pid), Some(vid), None) => {
            (Target::Variations(positive(pid)?), positive(vid)?)
        }
        _ => return None,
    };
    Some(target)
}

fn rejected(code: &str, message: impl Into<String>) -> ItemResult {
    ItemResult::Rejected {
        code: code.to_owned(),
        message: message.into(),
    }
}

#[async_trait]
impl InventoryChannel for WooInventory {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    /// One request per endpoint (products, each variable parent) and per 100 items; results
    /// one per item, in input order. A whole-request refusal (413, 400, 404…) rejects that
    /// request's items with WooCommerce's message; 401/403 → [`PushError::NeedsReauth`];
    /// network trouble, 5xx and throttling → [`PushError::Retry`] (a retry re-sends
    /// absolute quantities, so it is harmless).
    async fn push(
        &self,
        _reference: &str,
        _key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
        // Groups in order of first appearance: (target, [(index, id, quantity)]).
        let mut groups: Vec<(Target, Vec<(usize, u64, i64)>)> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match parse_item(&item.item) {
                None => {
                    results[index] = Some(rejected(
                        "invalid_item",
                        format!(
                            "{:?} is not a WooCommerce stock item (expected product:ID or variation:PARENT:ID)",
                            crate::channels::rest::snippet(&item.item)
                        ),
                    ))
                }
                Some((target, id)) => {
                    let quantity = item.quantity.max(0);
                    match groups.iter_mut().find(|(t, _)| *t == target) {
                        Some((_, rows)) => rows.push((index, id, quantity)),
                        None => groups.push((target, vec![(index, id, quantity)])),
                    }
                }
            }
        }
        for (target, rows) in &groups {
            let path = match target {
                Target::Product => format!("{API_ROOT}/products/batch"),
                Target::Variations(pid) => format!("{API_ROOT}/products/{pid}/variations/batch"),
            };
            for chunk in rows.chunks(MAX_BATCH) {
                let update: Vec<Value> = chunk
                    .iter()
                    .map(|(_, id, q)| json!({"id": id, "stock_quantity": q}))
                    .collect();
                let reply = match self
                    .api
                    .send(Method::POST, &path, &json!({"update": update}))
                    .await
                {
                    Ok(reply) => reply,
                    Err(ClientError::Unauthorized) => return Err(PushError::NeedsReauth),
                    Err(e @ (ClientError::Throttled { .. } | ClientError::Unavailable(_))) => {
                        return Err(PushError::Retry(e.to_string()))
                    }
                    Err(e) => {
                        for (index, _, _) in chunk {
                            results[*index] = Some(rejected("request_rejected", e.to_string()));
                        }
                        continue;
                    }
                };
                if reply.status == http::StatusCode::UNAUTHORIZED
                    || reply.status == http::StatusCode::FORBIDDEN
                {
                    return Err(PushError::NeedsReauth);
                }
                if !reply.status.is_success() {
                    let code = reply.code().unwrap_or("request_rejected").to_owned();
                    let message = format!("{}: {}", reply.status, reply.message());
                    for (index, _, _) in chunk {
                        results[*index] = Some(rejected(&code, message.clone()));
                    }
                    continue;
                }
                let entries: HashMap<String, &Value> = reply
                    .body
                    .get("update")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| id_string(e.get("id")).map(|id| (id, e)))
                            .collect()
                    })
                    .unwrap_or_default();
                for (index, id, _) in chunk {
                    results[*index] = Some(match entries.get(&id.to_string()) {
                        None => rejected(
                            "missing_from_response",
                            format!("WooCommerce's batch answer does not mention item {id}"),
                        ),
                        Some(entry) => match entry.get("error") {
                            Some(error) if !error.is_null() => rejected(
                                error.get("code").and_then(Value::as_str).unwrap_or("error"),
                                error
                                    .get("message")
                                    .and_then(Value::as_str)
                                    .unwrap_or("WooCommerce refused this item"),
                            ),
                            _ if entry.get("manage_stock") != Some(&Value::Bool(true)) => rejected(
                                "manage_stock_off",
                                "WooCommerce does not manage this item's stock",
                            ),
                            _ => ItemResult::Set,
                        },
                    });
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| rejected("missing_from_response", "not sent")))
            .collect())
    }
}
