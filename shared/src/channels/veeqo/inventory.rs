//! Stock into Veeqo: one `PUT /sellables/{id}/warehouses/{warehouse}/stock_entry` per sellable,
//! to the connection's Inventory Sync Warehouse only (no bulk endpoint is documented [U]).
//!
//! **What we set.** Veeqo takes the *physical* stock level and shows
//! `available = physical − allocated`, where `allocated` counts Veeqo's own allocations of
//! unshipped orders to that warehouse. Those orders are already in the WMS (imported, so the
//! WMS's available figure has them subtracted). So that Veeqo's available equals what the WMS
//! has to sell, each write first reads the entry (`GET` same path) and sets
//! `physical_stock_level = quantity + allocated_stock_level`. Writes are absolute: a retried
//! batch sets the same levels again, never a relative change (no compare-and-set).
//!
//! Each call goes through the connection's limiter ([`super::limiter`]), so a full push of
//! thousands of sellables runs at Veeqo's leak rate while the orders poll still gets its turn.

use super::client::VeeqoClient;
use super::VeeqoCredentials;
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::ClientError;
use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::{json, Value};

/// Sellables per batch: each costs two calls, so a batch of 50 is ~20 s at the leak rate.
pub const MAX_BATCH: usize = 50;

/// A Veeqo connection's stock writer.
pub struct VeeqoInventory {
    client: VeeqoClient,
    creds: VeeqoCredentials,
    warehouse: String,
}

impl VeeqoInventory {
    pub fn new(client: VeeqoClient, creds: VeeqoCredentials, warehouse: String) -> Self {
        Self {
            client,
            creds,
            warehouse,
        }
    }

    async fn push_one(&self, item: &PushItem) -> Result<ItemResult, PushError> {
        let rejected = |code: &str, message: String| ItemResult::Rejected {
            code: code.to_owned(),
            message,
        };
        if item.item.is_empty() || !item.item.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(rejected(
                "invalid_sellable",
                format!("{:?} is not a Veeqo sellable id", item.item),
            ));
        }
        if item.quantity < 0 {
            return Ok(rejected(
                "invalid_quantity",
                format!("quantity {} is negative", item.quantity),
            ));
        }
        let path = format!(
            "/sellables/{}/warehouses/{}/stock_entry",
            item.item, self.warehouse
        );
        let current = match self
            .client
            .call(&self.creds, Method::GET, &path, &[], None)
            .await
        {
            Ok(reply) => reply,
            Err(e) => return classify(e),
        };
        let allocated = match current.status {
            s if s.is_success() => match current.body.get("allocated_stock_level") {
                None | Some(Value::Null) => 0,
                Some(v) => match v.as_i64() {
                    Some(n) if n >= 0 => n,
                    _ => {
                        return Ok(rejected(
                            "unreadable_stock_entry",
                            format!("Veeqo's allocated_stock_level {v} is not a whole number"),
                        ))
                    }
                },
            },
            // No entry at this warehouse yet: nothing is allocated there; the write creates it
            // or is refused (a sellable Veeqo does not have) [U].
            StatusCode::NOT_FOUND => 0,
            _ => return refusal(current),
        };
        let Some(physical) = item.quantity.checked_add(allocated) else {
            return Ok(rejected(
                "invalid_quantity",
                "quantity plus allocated stock overflows".into(),
            ));
        };
        let body = json!({"stock_entry": {"physical_stock_level": physical, "infinite": false}});
        let written = match self
            .client
            .call(&self.creds, Method::PUT, &path, &[], Some(&body))
            .await
        {
            Ok(reply) => reply,
            Err(e) => return classify(e),
        };
        if written.status.is_success() {
            Ok(ItemResult::Set)
        } else {
            refusal(written)
        }
    }
}

/// A non-2xx answer for one item: refused credentials stop the batch, the rest refuse the
/// item only.
fn refusal(reply: crate::channels::rest::Reply) -> Result<ItemResult, PushError> {
    match reply.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(PushError::NeedsReauth),
        StatusCode::NOT_FOUND => Ok(ItemResult::Rejected {
            code: "not_found".into(),
            message: "Veeqo has no such sellable or warehouse".into(),
        }),
        status => Ok(ItemResult::Rejected {
            code: status.as_u16().to_string(),
            message: super::client::refusal_message(&reply),
        }),
    }
}

/// A failed call for one item: refused credentials stop the batch, and so do transport
/// trouble and throttling (retried later); an answer we cannot use (an HTML page, a non-JSON
/// 4xx) refuses this item only, never a retry loop.
fn classify(e: ClientError) -> Result<ItemResult, PushError> {
    match e {
        ClientError::Unauthorized => Err(PushError::NeedsReauth),
        ClientError::NotFound => Ok(ItemResult::Rejected {
            code: "not_found".into(),
            message: "Veeqo has no such sellable or warehouse".into(),
        }),
        ClientError::BadResponse(m) => Ok(ItemResult::Rejected {
            code: "bad_response".into(),
            message: m,
        }),
        other @ (ClientError::Throttled { .. } | ClientError::Unavailable(_)) => {
            Err(PushError::Retry(format!("Veeqo stock write: {other}")))
        }
    }
}

#[async_trait]
impl InventoryChannel for VeeqoInventory {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    async fn push(
        &self,
        _reference: &str,
        _key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.push_one(item).await?);
        }
        Ok(results)
    }
}
