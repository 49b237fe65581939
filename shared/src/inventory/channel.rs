//! How the engine reaches a connection's inventory writer: [`ChannelInventory`] opens one per
//! connection (tests give the engine fakes), and [`Channels`] opens it through the channel
//! registry, adding back unshipped units for channels that deduct stock at shipment.

pub use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::registry::Registry;
use crate::domain::Connection;
use crate::ports::Records;
use async_trait::async_trait;
use std::sync::Arc;

/// Builds a connection's [`InventoryChannel`].
#[async_trait]
pub trait ChannelInventory: Send + Sync {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError>;
}

/// The channels this build can push to.
pub struct Channels {
    pub registry: Arc<Registry>,
    /// The units of imported, unshipped orders (added back for channels that deduct at
    /// shipment, see [`super::unshipped`]).
    pub records: Arc<dyn Records>,
}

#[async_trait]
impl ChannelInventory for Channels {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        let writer = self.registry.open_inventory(connection).await?;
        if !self.registry.deducts_at_shipment(connection.channel) {
            return Ok(writer);
        }
        // Read once per channel handle (one push message), not per batch.
        let open = super::unshipped::units(&*self.records, &connection.id)
            .await
            .map_err(|e| PushError::Retry(e.to_string()))?;
        Ok(Box::new(AddsUnshipped {
            inner: writer,
            open,
        }))
    }
}

/// Sets the quantity plus the units of this connection's imported, unshipped orders, for
/// channels that subtract their own reservations and deduct at shipment (see
/// [`super::unshipped`]).
struct AddsUnshipped {
    inner: Box<dyn InventoryChannel>,
    /// Unshipped units per SKU when the handle was built.
    open: std::collections::HashMap<crate::domain::Sku, i64>,
}

#[async_trait]
impl InventoryChannel for AddsUnshipped {
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }

    async fn push(
        &self,
        reference: &str,
        key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let adjusted: Vec<PushItem> = items
            .iter()
            .map(|item| {
                let mut item = item.clone();
                if let Some(units) = self.open.get(&item.sku) {
                    item.quantity = item.quantity.max(0).saturating_add(*units);
                }
                item
            })
            .collect();
        self.inner.push(reference, key, &adjusted).await
    }
}
