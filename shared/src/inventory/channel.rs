//! How the engine talks to a channel: one small trait per connection, so a new channel plugs
//! in by implementing [`InventoryChannel`] (its batch limit and an absolute-quantity write with
//! a compare-and-set) and teaching [`ChannelInventory`] to build it.

use crate::channels::magento::MagentoInventory;
use crate::channels::shopify::tokens::{ShopifyTokens, TokenError};
use crate::channels::shopify::{ItemOutcome, QuantitySet, MAX_QUANTITIES_PER_CALL};
use crate::channels::stores::{OpenError, Stores};
use crate::channels::woocommerce::WooInventory;
use crate::channels::ClientError;
use crate::domain::{Channel, Connection, ShopDomain, Sku};
use crate::ports::Records;
use crate::ports::Secret;
use async_trait::async_trait;
use std::sync::Arc;

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
    pub stores: Arc<Stores>,
    /// The units of imported, unshipped orders (added back for Magento, see
    /// [`super::unshipped`]).
    pub records: Arc<dyn Records>,
}

#[async_trait]
impl ChannelInventory for Channels {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        match connection.channel {
            Channel::Shopify => {
                let location = connection
                    .settings
                    .inventory_location
                    .clone()
                    .ok_or_else(|| {
                        PushError::Setup(
                            "no inventory location is set: choose one with PATCH /api/connections/{id}"
                                .into(),
                        )
                    })?;
                let shop = ShopDomain::parse(&connection.shop)
                    .map_err(|e| PushError::Setup(e.to_string()))?;
                let token =
                    self.stores
                        .shopify
                        .access_token(connection)
                        .await
                        .map_err(|e| match e {
                            TokenError::NeedsReauth => PushError::NeedsReauth,
                            TokenError::NotActive(s) => {
                                PushError::Setup(format!("the connection is {s:?}"))
                            }
                            other => PushError::Retry(other.to_string()),
                        })?;
                Ok(Box::new(ShopifyInventory {
                    tokens: self.stores.shopify.clone(),
                    connection: connection.clone(),
                    shop,
                    token,
                    location: shopify_location_gid(&location),
                }))
            }
            Channel::Woocommerce => {
                let creds = self
                    .stores
                    .woocommerce_credentials(connection)
                    .await
                    .map_err(open_error)?;
                let inner = WooInventory::new(self.stores.woocommerce(), creds)
                    .map_err(PushError::Setup)?;
                Ok(Box::new(MarksReauth {
                    inner,
                    stores: self.stores.clone(),
                    connection: connection.clone(),
                }))
            }
            Channel::Magento => {
                let creds = self
                    .stores
                    .magento_credentials(connection)
                    .await
                    .map_err(open_error)?;
                // The MSI source to stock; `default` is the source every MSI store has.
                let source = connection
                    .settings
                    .inventory_location
                    .clone()
                    .unwrap_or_else(|| "default".to_owned());
                let inner = MagentoInventory::new(self.stores.magento(), creds, source)
                    .map_err(PushError::Setup)?;
                // Read once per channel handle (one push message), not per batch of 20.
                let open = super::unshipped::units(&*self.records, &connection.id)
                    .await
                    .map_err(|e| PushError::Retry(e.to_string()))?;
                Ok(Box::new(MarksReauth {
                    inner: AddsUnshipped { inner, open },
                    stores: self.stores.clone(),
                    connection: connection.clone(),
                }))
            }
            other => Err(PushError::Setup(format!(
                "inventory push to {other} stores is not available yet"
            ))),
        }
    }
}

fn open_error(e: OpenError) -> PushError {
    match e {
        OpenError::NeedsReauth => PushError::NeedsReauth,
        OpenError::NotActive(s) => PushError::Setup(format!("the connection is {s:?}")),
        OpenError::Setup(m) => PushError::Setup(m),
        OpenError::Unavailable(m) => PushError::Retry(m),
    }
}

/// Sets the quantity plus the units of this connection's imported, unshipped orders, for
/// channels that subtract their own reservations and deduct at shipment (see
/// [`super::unshipped`]).
struct AddsUnshipped<T> {
    inner: T,
    /// Unshipped units per SKU when the handle was built.
    open: std::collections::HashMap<crate::domain::Sku, i64>,
}

#[async_trait]
impl<T: InventoryChannel> InventoryChannel for AddsUnshipped<T> {
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

/// Puts the connection in `needs_reauth` when the channel refuses its credentials, so its
/// jobs stop until the merchant reconnects.
struct MarksReauth<T> {
    inner: T,
    stores: Arc<Stores>,
    connection: Connection,
}

#[async_trait]
impl<T: InventoryChannel> InventoryChannel for MarksReauth<T> {
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }

    async fn push(
        &self,
        reference: &str,
        key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let result = self.inner.push(reference, key, items).await;
        if let Err(PushError::NeedsReauth) = &result {
            self.stores.mark_needs_reauth(&self.connection).await;
        }
        result
    }
}

/// Location ids may be stored bare (`123`) or as a GID.
fn shopify_location_gid(id: &str) -> String {
    if id.starts_with("gid://") {
        id.to_owned()
    } else {
        format!("gid://shopify/Location/{id}")
    }
}

struct ShopifyInventory {
    tokens: Arc<ShopifyTokens>,
    connection: Connection,
    shop: ShopDomain,
    token: Secret,
    location: String,
}

#[async_trait]
impl InventoryChannel for ShopifyInventory {
    fn max_batch(&self) -> usize {
        MAX_QUANTITIES_PER_CALL
    }

    async fn push(
        &self,
        reference: &str,
        key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let rows: Vec<QuantitySet> = items
            .iter()
            .map(|i| QuantitySet {
                inventory_item_id: i.item.clone(),
                location_id: self.location.clone(),
                quantity: i.quantity,
                change_from: i.change_from,
            })
            .collect();
        let outcomes = self
            .tokens
            .client
            .set_available(&self.shop, &self.token, reference, key, &rows)
            .await;
        match outcomes {
            Ok(outcomes) => Ok(outcomes
                .into_iter()
                .map(|o| match o {
                    ItemOutcome::Set => ItemResult::Set,
                    ItemOutcome::Failed { code, .. } if code == "CHANGE_FROM_QUANTITY_STALE" => {
                        ItemResult::Stale
                    }
                    ItemOutcome::Failed { code, message } => ItemResult::Rejected { code, message },
                })
                .collect()),
            Err(ClientError::Unauthorized) => {
                self.tokens.mark_needs_reauth(&self.connection).await;
                Err(PushError::NeedsReauth)
            }
            Err(ClientError::NotFound) => Err(PushError::Setup(
                "Shopify says the store is unavailable (closed or uninstalled)".into(),
            )),
            Err(other) => Err(PushError::Retry(other.to_string())),
        }
    }
}
