//! eBay stock through the Inventory API's `bulk_update_price_quantity` (reference §2.5): at
//! most 25 SKUs a call, each with its offers' `availableQuantity` (an offer's quantity
//! overrides the item's) and the item's `shipToLocationAvailability.quantity`; the answer's
//! per-item statuses are read one by one. Absolute quantities only (no compare-and-set).
//! Each SKU's offers are read (`GET /offer?sku=`) before the call; a SKU without offers is
//! not listed, and its item quantity alone is set.
//!
//! eBay allows 250 revisions of one listing a calendar day. Each SKU's writes are counted per
//! UTC day (`Records`, partition `ebay-revisions#{connection}`, one record per SKU); a SKU whose
//! count reached [`DAILY_REVISIONS`] is not sent and comes back
//! `Rejected { code: "revision_budget" }`, so the run says the push was deferred (the next
//! day's push sends it). The budget is half of eBay's because eBay's calendar day is not
//! documented to be UTC ([U]): two UTC days can overlap one eBay day.

use super::client::EbayClient;
use super::oauth::EbayTokens;
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::tokens::TokenError;
use crate::channels::ClientError;
use crate::domain::Connection;
use crate::ports::Records;
use async_trait::async_trait;
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The most SKUs one `bulk_update_price_quantity` carries.
pub const MAX_BATCH: usize = 25;
/// Writes of one SKU per UTC day (half of eBay's 250 revisions a listing a day).
pub const DAILY_REVISIONS: i64 = 125;
/// The code of a write deferred by the daily revision budget.
pub const REVISION_BUDGET: &str = "revision_budget";

/// One seller's inventory writer.
pub struct EbayInventory {
    pub client: Arc<EbayClient>,
    pub tokens: Arc<EbayTokens>,
    pub connection: Connection,
    /// Where each SKU's writes today are counted.
    pub records: Arc<dyn Records>,
}

impl EbayInventory {
    fn partition(&self) -> String {
        format!("ebay-revisions#{}", self.connection.id)
    }

    /// Today's writes of each SKU among `skus` (absent: none).
    async fn writes_today(&self, skus: &[String]) -> Result<HashMap<String, i64>, PushError> {
        let today = Utc::now().date_naive().to_string();
        let records = self
            .records
            .fetch_many(&self.partition(), skus)
            .await
            .map_err(|e| PushError::Retry(e.to_string()))?;
        Ok(records
            .into_iter()
            .filter(|r| r.value.get("day").and_then(Value::as_str) == Some(today.as_str()))
            .map(|r| {
                let count = r.value.get("count").and_then(Value::as_i64).unwrap_or(0);
                (r.key, count)
            })
            .collect())
    }

    /// Counts one more write of `sku` today.
    async fn count_write(&self, sku: &str, before: i64) {
        let today = Utc::now().date_naive().to_string();
        let count = before.saturating_add(1);
        let value = json!({"day": today, "count": count});
        if let Err(e) = self
            .records
            .put(&self.partition(), sku, count, &value)
            .await
        {
            tracing::warn!(error = %e, sku, "could not count an eBay revision");
        }
    }
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
        let skus: Vec<String> = items.iter().map(|i| i.item.clone()).collect();
        let today = self.writes_today(&skus).await?;
        let used = |item: &PushItem| today.get(&item.item).copied().unwrap_or(0);
        let sent: Vec<&PushItem> = items.iter().filter(|i| used(i) < DAILY_REVISIONS).collect();
        let mut requests = Vec::with_capacity(sent.len());
        for item in sent.iter().copied() {
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
        let deferred = || {
            ItemResult::Rejected {
            code: REVISION_BUDGET.into(),
            message: format!(
                "eBay allows 250 revisions of a listing a day: this SKU was written {DAILY_REVISIONS} times today, so this push waits for the next day's"
            ),
        }
        };
        if requests.is_empty() {
            return Ok(items.iter().map(|_| deferred()).collect());
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
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            if used(item) >= DAILY_REVISIONS {
                tracing::info!(sku = %item.item, "eBay daily revision budget used: push deferred");
                results.push(deferred());
                continue;
            }
            let result = result_for(&item.item, &responses);
            if result == ItemResult::Set {
                self.count_write(&item.item, used(item)).await;
            }
            results.push(result);
        }
        Ok(results)
    }
}
