//! How a channel takes stock: the inventory writer every channel folder implements (its batch
//! limit and an absolute-quantity write, with a compare-and-set where the channel has one).
//! The engine (`crate::inventory`) plans and batches; a channel only writes.

use crate::domain::Sku;
use async_trait::async_trait;

/// One quantity to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushItem {
    pub sku: Sku,
    /// The channel's id for the SKU's stock (Shopify: the inventory item GID).
    pub item: String,
    pub quantity: i64,
    /// Set only if the channel still holds this quantity (`None`: overwrite).
    pub change_from: Option<i64>,
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    Set,
    /// The channel's quantity is no longer the one we expected: something sold or was edited
    /// there since our last write. Not written.
    Stale,
    /// The channel refused this item (e.g. a native bundle parent); the others are unaffected.
    Rejected {
        code: String,
        message: String,
    },
}

/// Why a whole batch could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The merchant must reconnect (the connection is marked so): stop pushing.
    #[error("the channel rejected the credentials: the store must be reconnected")]
    NeedsReauth,
    /// The connection is not set up for inventory (no location, channel not supported):
    /// retrying will not help until the merchant changes a setting.
    #[error("{0}")]
    Setup(String),
    /// Try again later (network, 5xx, rate limit beyond our patience).
    #[error("{0}")]
    Retry(String),
}

/// A connection's inventory endpoint.
#[async_trait]
pub trait InventoryChannel: Send + Sync {
    /// The most items one call may carry.
    fn max_batch(&self) -> usize;
    /// Writes one batch (at most [`InventoryChannel::max_batch`] items); one result per
    /// item, in order. `key` is the call's idempotency key (same key for a retry of the same
    /// batch); `reference` names the run for the channel's history.
    async fn push(
        &self,
        reference: &str,
        key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError>;
}

impl crate::failure::Classify for PushError {
    fn classify(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        match self {
            PushError::NeedsReauth => Failure::NeedsReauth(self.to_string()),
            PushError::Retry(_) => Failure::Retry(self.to_string()),
            PushError::Setup(_) => Failure::Permanent(self.to_string()),
        }
    }
}
