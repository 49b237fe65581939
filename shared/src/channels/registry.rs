//! The one list of channels this build speaks, built once at start from a
//! [`ChannelContext`]. Adding a channel = its folder + one line in [`Registry::new`].
//!
//! Everything above `channels/` reaches a channel only through here: the connection's
//! adapter ([`Registry::adapter`]), its store ([`Registry::open_store`]), its inventory writer
//! ([`Registry::open_inventory`]), its declared [`Capabilities`].

use super::adapter::{Capabilities, ChannelAdapter};
use super::context::ChannelContext;
use super::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use super::store::StoreApi;
use super::OpenError;
use super::{ebay, etsy, magento, shopify, tiktok, veeqo, woocommerce};
use super::{InterpretError, Interpreted};
use crate::domain::{Channel, Connection, ConnectionStatus, Order, Topic};
use async_trait::async_trait;
use std::sync::Arc;

/// Every channel's adapter.
pub struct Registry {
    context: Arc<ChannelContext>,
    adapters: Vec<Arc<dyn ChannelAdapter>>,
}

impl Registry {
    /// Every channel of this build, one line each. `Err` when a channel's configuration
    /// (its app credentials or API base) is unusable: found at start, not at the first call.
    pub fn new(context: ChannelContext) -> Result<Self, String> {
        let context = Arc::new(context);
        let adapters = vec![
            shopify::adapter(&context)?,
            woocommerce::adapter(&context)?,
            magento::adapter(&context)?,
            veeqo::adapter(&context)?,
            etsy::adapter(&context)?,
            tiktok::adapter(&context)?,
            ebay::adapter(&context)?,
        ];
        Ok(Self { context, adapters })
    }

    /// Every channel on `ports` (the common case of [`Registry::new`]).
    pub fn on(
        ports: &crate::ports::Ports,
        policy: super::store_url::UrlPolicy,
        public_url: &str,
        apps: super::context::ChannelApps,
    ) -> Result<Arc<Self>, String> {
        Self::new(ChannelContext::new(ports, policy, public_url, apps)).map(Arc::new)
    }

    /// What the adapters were built from.
    pub fn context(&self) -> &ChannelContext {
        &self.context
    }

    /// Every adapter, in registry order.
    pub fn adapters(&self) -> impl Iterator<Item = &Arc<dyn ChannelAdapter>> {
        self.adapters.iter()
    }

    /// The channel's adapter; `None` for a channel this build does not speak.
    pub fn adapter(&self, channel: Channel) -> Option<&dyn ChannelAdapter> {
        self.adapters
            .iter()
            .find(|a| a.channel() == channel)
            .map(|a| a.as_ref())
    }

    /// The adapter named by a path segment or form field (`shopify`, `woocommerce`…).
    pub fn by_name(&self, name: &str) -> Option<&dyn ChannelAdapter> {
        Channel::parse(name).and_then(|c| self.adapter(c))
    }

    /// What the channel declared; `None` for a channel this build does not speak.
    pub fn capabilities(&self, channel: Channel) -> Option<&Capabilities> {
        self.adapter(channel).map(|a| a.capabilities())
    }

    /// Whether the channel deducts stock at shipment (see [`Capabilities`]).
    pub fn deducts_at_shipment(&self, channel: Channel) -> bool {
        self.capabilities(channel)
            .is_some_and(|c| c.deducts_at_shipment)
    }

    /// Interprets a verified payload of `channel`. Polled orders (already normalized by the
    /// channel's poll) are read back here for every channel.
    pub fn interpret(
        &self,
        channel: Channel,
        topic: &Topic,
        payload: &[u8],
    ) -> Result<Interpreted, InterpretError> {
        if topic.is_polled_order() {
            return serde_json::from_slice::<Order>(payload)
                .map(|o| Interpreted::Order(Box::new(o)))
                .map_err(|e| InterpretError {
                    channel,
                    topic: topic.to_string(),
                    reason: format!("not a polled order: {e}"),
                });
        }
        match self.adapter(channel) {
            Some(adapter) => adapter.interpret(topic.as_str(), payload),
            None => Ok(Interpreted::Ignored(format!(
                "{channel} events are not handled by this build"
            ))),
        }
    }

    /// The store of an active connection.
    pub async fn open_store(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn StoreApi>, OpenError> {
        if connection.status != ConnectionStatus::Active {
            return Err(OpenError::NotActive(connection.status));
        }
        self.adapter(connection.channel)
            .ok_or_else(|| {
                OpenError::Setup(format!(
                    "{} stores are not supported by this build",
                    connection.channel
                ))
            })?
            .open_store(connection)
            .await
    }

    /// The inventory writer of an active connection. A writer whose channel refuses the
    /// credentials marks the connection `needs_reauth`, so its jobs stop.
    pub async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        if connection.status != ConnectionStatus::Active {
            return Err(PushError::Setup(format!(
                "the connection is {:?}",
                connection.status
            )));
        }
        let adapter = self.adapter(connection.channel).ok_or_else(|| {
            PushError::Setup(format!(
                "inventory push to {} stores is not available yet",
                connection.channel
            ))
        })?;
        let inner = adapter.open_inventory(connection).await?;
        Ok(Box::new(MarksReauth {
            inner,
            context: self.context.clone(),
            connection: connection.clone(),
        }))
    }

    /// Marks `connection` as needing re-authorisation (see [`ChannelContext`]).
    pub async fn mark_needs_reauth(&self, connection: &Connection) -> OpenError {
        self.context.mark_needs_reauth(connection).await
    }
}

/// An [`OpenError`] met while building an inventory writer.
impl From<OpenError> for PushError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NeedsReauth => PushError::NeedsReauth,
            OpenError::NotActive(s) => PushError::Setup(format!("the connection is {s:?}")),
            OpenError::Setup(m) => PushError::Setup(m),
            OpenError::Unavailable(m) => PushError::Retry(m),
        }
    }
}

/// Puts the connection in `needs_reauth` when the channel refuses its credentials, so its
/// jobs stop until the merchant reconnects.
struct MarksReauth {
    inner: Box<dyn InventoryChannel>,
    context: Arc<ChannelContext>,
    connection: Connection,
}

#[async_trait]
impl InventoryChannel for MarksReauth {
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
            self.context.mark_needs_reauth(&self.connection).await;
        }
        result
    }
}
