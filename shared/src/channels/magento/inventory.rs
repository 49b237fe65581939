//! Stock push to Magento.
//!
//! - MSI (2.3+): `POST /V1/inventory/source-items` with at most [`MAX_BATCH`] source items
//!   (Magento's optional "Web API input limits", on by default in 2.4.3 / 2.3.7-p1).
//! - Without MSI (the route answers 404 "Request does not match any route."): the legacy
//!   CatalogInventory stock item, per SKU (`GET /V1/stockItems/{sku}`, then
//!   `PUT /V1/products/{sku}/stockItems/{item_id}`).
//!
//! Absolute quantities only: Magento has no compare-and-set, so [`PushItem::change_from`] is
//! ignored. With MSI, salable quantity = source quantity − open reservations (orders placed and
//! not yet shipped): the WMS must push the **physical** quantity, not physical minus unshipped
//! orders, or those orders count twice (reference §3.5; magento/inventory#2725).
//!
//! When a request of several source items is refused (400: one unknown SKU fails the whole
//! list), its items are sent again one per request, so only the bad ones are rejected, each
//! with its own message.
//!
//! A SKU that is `.` or `..` is never sent (as a path segment the URL parser would resolve
//! it): it is rejected as `invalid_sku`.
//!
//! SKUs in paths are percent-encoded; a `/` becomes `%2F`, which some web servers refuse or
//! decode before Magento sees it (Apache without `AllowEncodedSlashes NoDecode`): such SKUs
//! can fail on the legacy path.

use super::{
    is_acl_refusal, is_dot_segment, is_no_route, segment, MagentoClient, MagentoCredentials, Target,
};
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::rest::Reply;
use crate::channels::ClientError;
use async_trait::async_trait;
use http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};

/// Magento's list input limit (when input limits are enabled).
pub const MAX_BATCH: usize = 20;

/// A Magento connection's stock endpoint, writing to one MSI source.
pub struct MagentoInventory {
    client: MagentoClient,
    target: Target,
    source_code: String,
}

impl MagentoInventory {
    /// `source_code`: the MSI source to write (`default` on a single-source store; unused on
    /// stores without MSI).
    pub fn new(
        client: MagentoClient,
        creds: MagentoCredentials,
        source_code: String,
    ) -> Result<Self, String> {
        let source_code = source_code.trim().to_owned();
        if source_code.is_empty() {
            return Err(
                "no Magento inventory source is set (`default` on a single-source store)".into(),
            );
        }
        Ok(Self {
            target: Target::from_creds(&creds)?,
            client,
            source_code,
        })
    }

    /// One `POST /V1/inventory/source-items` of `items`.
    async fn post_source_items(&self, items: &[PushItem]) -> Result<Reply, PushError> {
        let source_items: Vec<Value> = items
            .iter()
            .map(|i| {
                let quantity = i.quantity.max(0);
                json!({
                    "sku": i.item,
                    "source_code": self.source_code,
                    "quantity": quantity,
                    "status": i32::from(quantity > 0),
                })
            })
            .collect();
        let body = json!({ "sourceItems": source_items });
        self.client
            .send(
                &self.target,
                Method::POST,
                "/inventory/source-items",
                Some(&body),
            )
            .await
            .map_err(push_error)
    }

    /// `Ok(None)` when the store has no MSI. A refused request of several items is retried
    /// one item per request.
    async fn msi(&self, items: &[PushItem]) -> Result<Option<Vec<ItemResult>>, PushError> {
        let reply = self.post_source_items(items).await?;
        if is_no_route(&reply) {
            return Ok(None);
        }
        if reply.status.is_success() {
            return Ok(Some(vec![ItemResult::Set; items.len()]));
        }
        if reply.status != StatusCode::BAD_REQUEST {
            return Err(reply_error(reply));
        }
        if items.len() == 1 {
            return Ok(Some(vec![rejected(&reply)]));
        }
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let reply = self.post_source_items(std::slice::from_ref(item)).await?;
            results.push(match reply.status {
                s if s.is_success() => ItemResult::Set,
                StatusCode::BAD_REQUEST => rejected(&reply),
                _ => return Err(reply_error(reply)),
            });
        }
        Ok(Some(results))
    }

    async fn legacy(&self, item: &PushItem) -> Result<ItemResult, PushError> {
        let sku = match segment(&item.item) {
            Ok(sku) => sku,
            Err(message) => return Ok(invalid_sku(message)),
        };
        let reply = self
            .client
            .send(
                &self.target,
                Method::GET,
                &format!("/stockItems/{sku}"),
                None,
            )
            .await
            .map_err(push_error)?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(ItemResult::Rejected {
                code: "not_found".into(),
                message: format!(
                    "no such product on Magento ({})",
                    super::message_of(reply.status, &reply.body)
                ),
            });
        }
        if !reply.status.is_success() {
            return Err(reply_error(reply));
        }
        let Some(item_id) = super::order::id_string(reply.body.get("item_id")) else {
            return Ok(ItemResult::Rejected {
                code: "no_stock_item".into(),
                message: "Magento returned a stock item without an item_id".into(),
            });
        };
        let quantity = item.quantity.max(0);
        let body = json!({"stockItem": {"qty": quantity, "is_in_stock": quantity > 0}});
        let item_segment = match segment(&item_id) {
            Ok(s) => s,
            Err(message) => {
                return Ok(ItemResult::Rejected {
                    code: "no_stock_item".into(),
                    message: format!("Magento returned an unusable stock item id: {message}"),
                })
            }
        };
        let reply = self
            .client
            .send(
                &self.target,
                Method::PUT,
                &format!("/products/{sku}/stockItems/{item_segment}"),
                Some(&body),
            )
            .await
            .map_err(push_error)?;
        match reply.status {
            s if s.is_success() => Ok(ItemResult::Set),
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => Ok(ItemResult::Rejected {
                code: "rejected".into(),
                message: super::error_message(&reply),
            }),
            _ => Err(reply_error(reply)),
        }
    }
}

/// A refused item, with Magento's reasons.
fn rejected(reply: &Reply) -> ItemResult {
    ItemResult::Rejected {
        code: "rejected".into(),
        message: super::error_message(reply),
    }
}

fn invalid_sku(message: String) -> ItemResult {
    ItemResult::Rejected {
        code: "invalid_sku".into(),
        message,
    }
}

fn push_error(e: ClientError) -> PushError {
    match e {
        ClientError::Unauthorized => PushError::NeedsReauth,
        other => PushError::Retry(other.to_string()),
    }
}

/// A JSON answer that is neither a success nor an item refusal.
fn reply_error(reply: Reply) -> PushError {
    if is_acl_refusal(&reply) {
        return PushError::Setup(format!(
            "the Magento integration lacks access to inventory: grant the Inventory resources ({})",
            super::message_of(reply.status, &reply.body)
        ));
    }
    match reply.ok() {
        Ok(_) => PushError::Retry("unexpected answer".into()),
        Err(ClientError::NotFound) => PushError::Setup(
            "Magento answered 404 to the stock update: check the store URL and store code".into(),
        ),
        Err(e) => push_error(e),
    }
}

#[async_trait]
impl InventoryChannel for MagentoInventory {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    /// `key` and `reference` are not used: Magento has no idempotency key or change history
    /// field; an absolute write repeated is harmless.
    async fn push(
        &self,
        _reference: &str,
        _key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        // Items without a usable Magento SKU cannot be sent; the others go in requests of 20.
        let mut results: Vec<Option<ItemResult>> = items
            .iter()
            .map(|i| {
                if i.item.trim().is_empty() {
                    Some(ItemResult::Rejected {
                        code: "no_item".into(),
                        message: "no Magento SKU is known for this item".into(),
                    })
                } else if is_dot_segment(&i.item) {
                    Some(invalid_sku(format!(
                        "SKU {:?} cannot be sent to Magento ('.' and '..' are URL path navigation)",
                        i.item.trim()
                    )))
                } else {
                    None
                }
            })
            .collect();
        let sendable: Vec<usize> = (0..items.len()).filter(|&i| results[i].is_none()).collect();
        let mut msi = true;
        for chunk in sendable.chunks(MAX_BATCH) {
            let batch: Vec<PushItem> = chunk.iter().map(|&i| items[i].clone()).collect();
            if msi {
                match self.msi(&batch).await? {
                    Some(chunk_results) => {
                        for (&i, result) in chunk.iter().zip(chunk_results) {
                            results[i] = Some(result);
                        }
                        continue;
                    }
                    None => msi = false,
                }
            }
            for &i in chunk {
                results[i] = Some(self.legacy(&items[i]).await?);
            }
        }
        let results = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| ItemResult::Rejected {
                    code: "not_sent".into(),
                    message: "not sent".into(),
                })
            })
            .collect();
        Ok(results)
    }
}
