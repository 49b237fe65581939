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
//! SKUs in paths are percent-encoded; a `/` becomes `%2F`, which some web servers refuse or
//! decode before Magento sees it (Apache without `AllowEncodedSlashes NoDecode`): such SKUs
//! can fail on the legacy path.

use super::{is_acl_refusal, is_no_route, segment, MagentoClient, MagentoCredentials, Target};
use crate::channels::rest::Reply;
use crate::channels::ClientError;
use crate::inventory::channel::{InventoryChannel, ItemResult, PushError, PushItem};
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

    async fn msi(&self, items: &[PushItem]) -> Result<Option<Vec<ItemResult>>, PushError> {
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
        let reply = self
            .client
            .send(
                &self.target,
                Method::POST,
                "/inventory/source-items",
                Some(&body),
            )
            .await
            .map_err(push_error)?;
        if is_no_route(&reply) {
            return Ok(None);
        }
        if reply.status.is_success() {
            return Ok(Some(vec![ItemResult::Set; items.len()]));
        }
        if reply.status == StatusCode::BAD_REQUEST {
            let message = super::error_message(&reply);
            return Ok(Some(
                items
                    .iter()
                    .map(|_| ItemResult::Rejected {
                        code: "rejected".into(),
                        message: message.clone(),
                    })
                    .collect(),
            ));
        }
        Err(reply_error(reply))
    }

    async fn legacy(&self, item: &PushItem) -> Result<ItemResult, PushError> {
        let sku = segment(&item.item);
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
                message: format!("no such product on Magento ({})", reply.message()),
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
        let reply = self
            .client
            .send(
                &self.target,
                Method::PUT,
                &format!("/products/{sku}/stockItems/{}", segment(&item_id)),
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
            reply.message()
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
        // Items without a Magento SKU cannot be sent; the others go in requests of 20.
        let mut results: Vec<Option<ItemResult>> = items
            .iter()
            .map(|i| {
                i.item.trim().is_empty().then(|| ItemResult::Rejected {
                    code: "no_item".into(),
                    message: "no Magento SKU is known for this item".into(),
                })
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
