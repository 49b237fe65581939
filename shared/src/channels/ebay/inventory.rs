//! eBay stock through the Inventory API's `bulk_update_price_quantity` (reference §2.5): at
//! most 25 SKUs a call, each with its offers' `availableQuantity` (an offer's quantity
//! overrides the item's) and the item's `shipToLocationAvailability.quantity`; the answer's
//! per-item statuses are read one by one. Absolute quantities only (no compare-and-set).
//! Each SKU's offers are read (`GET /offer?sku=`) before the call; a SKU without offers is
//! not listed, and its item quantity alone is set.

use super::client::EbayClient;
use super::oauth::EbayTokens;
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::tokens::TokenError;
use crate::channels::ClientError;
use crate::domain::Connection;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// The most SKUs one `bulk_update_price_quantity` carries.
pub const MAX_BATCH: usize = 25;

/// One seller's inventory writer.
pub struct EbayInventory {
    pub client: Arc<EbayClient>,
    pub tokens: Arc<EbayTokens>,
    pub connection: Connection,
}

fn push_error(e: ClientError) -> PushError {
    match e {
        ClientError::Unauthorized => PushError::NeedsReauth,
        other => PushError::Retry(other.to_string()),
    }
}

/// The result for `sku` among eBay's `responses` (every entry for it must be 2xx).
fn result_for(sku: &str, responses: &[Value]) -> ItemResult {
    let mine: Vec<&Value> = responses
        .iter()
        .filter(|r| r.get("sku").and_then(Value::as_str) == Some(sku))
        .collect();
    if mine.is_empty() {
        return ItemResult::Rejected {
            code: "no_status".into(),
            message: "eBay's answer has no status for this SKU".into(),
        };
    }
    for r in mine {
        let status = r.get("statusCode").and_then(Value::as_u64).unwrap_or(0);
        if !(200..300).contains(&status) {
            let error = r.pointer("/errors/0");
            let code = error
                .and_then(|e| e.get("errorId"))
                .map(|c| c.to_string())
                .unwrap_or_else(|| status.to_string());
            let message = error
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map(crate::channels::rest::snippet)
                .unwrap_or_else(|| format!("status {status}"));
            return ItemResult::Rejected { code, message };
        }
    }
    ItemResult::Set
}

#[async_trait]
impl InventoryChannel for EbayInventory {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    async fn push(
        &self,
        _reference: &str,
        _key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        if items.len() > MAX_BATCH {
            return Err(PushError::Setup(format!(
                "eBay takes at most {MAX_BATCH} SKUs a call ({} given)",
                items.len()
            )));
        }
        let token = self
            .tokens
            .access_token(&self.connection)
            .await
            .map_err(|e| match e {
                TokenError::NeedsReauth => PushError::NeedsReauth,
                other => PushError::Retry(other.to_string()),
            })?;
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let quantity = item.quantity.max(0);
            let offers = self
                .client
                .offers(&token, &item.item)
                .await
                .map_err(push_error)?;
            let offers: Vec<Value> = offers
                .iter()
                .filter_map(|o| o.get("offerId").and_then(Value::as_str))
                .map(|id| json!({"offerId": id, "availableQuantity": quantity}))
                .collect();
            let mut request = json!({
                "sku": item.item,
                "shipToLocationAvailability": {"quantity": quantity},
            });
            if !offers.is_empty() {
                request["offers"] = Value::Array(offers);
            }
            requests.push(request);
        }
        let reply = self
            .client
            .bulk_update_quantity(&token, requests)
            .await
            .map_err(push_error)?;
        if !reply.status.is_success() {
            return match reply.status.as_u16() {
                401 | 403 => Err(PushError::NeedsReauth),
                status => Err(PushError::Setup(format!(
                    "eBay refused the quantity update ({status})"
                ))),
            };
        }
        let responses = reply
            .body
            .get("responses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(items
            .iter()
            .map(|item| result_for(&item.item, &responses))
            .collect())
    }
}
