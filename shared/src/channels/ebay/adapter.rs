//! eBay's adapter: OAuth install ([`super::oauth`]), signed notifications routed by eBay
//! user id ([`super::verifier`]), the [`EbayStore`] and [`EbayInventory`] of a connection.
//! eBay has no locations channel-sync manages (stock is per SKU).

use super::client::EbayClient;
use super::inventory::{EbayInventory, MAX_BATCH};
use super::notify::{KeyCache, KEY_TTL};
use super::oauth::{EbayOAuth, EbayTokens};
use super::store::EbayStore;
use super::verifier::{EbayVerifier, ACCOUNT_DELETION, ORDER_CONFIRMATION};
use super::EbayConfig;
use crate::channels::adapter::{
    Capabilities, ChannelAdapter, Connected, HealthReport, Location, LocationKind, OAuthApp,
    TokenLifetime, Webhooks,
};
use crate::channels::context::ChannelContext;
use crate::channels::inventory::{InventoryChannel, PushError};
use crate::channels::store::{ConnectError, StoreApi};
use crate::channels::{InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, TenantId};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

/// What eBay can do.
const CAPABILITIES: Capabilities = Capabilities {
    webhooks: Webhooks::AppSecret,
    poll: true,
    // getOrders documents no sort order: a poll stopped by its page limit keeps the watermark.
    sorted_by_change: false,
    deducts_at_shipment: false,
    locations: LocationKind::None,
    compare_and_set: false,
    inventory_batch: MAX_BATCH,
    privacy_topics: &[ACCOUNT_DELETION],
    token_lifetime: TokenLifetime::Expiring,
};

/// The registry's eBay entry: the app from the registry's credentials and the environment
/// (`EBAY_RUNAME`, `EBAY_VERIFICATION_TOKEN`, `EBAY_AUTHORIZE_URL`).
pub fn adapter(context: &Arc<ChannelContext>) -> Result<Arc<dyn ChannelAdapter>, String> {
    let config = EbayConfig::from_app(&context.apps.get(Channel::Ebay), |name| {
        std::env::var(name).ok()
    });
    Ok(Arc::new(EbayAdapter::new(
        context.clone(),
        config,
        KEY_TTL,
    )?))
}

/// eBay, for the registry.
pub struct EbayAdapter {
    client: Arc<EbayClient>,
    tokens: Arc<EbayTokens>,
    oauth: EbayOAuth,
    verifier: Arc<EbayVerifier>,
}

impl EbayAdapter {
    /// An adapter for `config`, public keys cached for `key_ttl`.
    pub fn new(
        context: Arc<ChannelContext>,
        config: EbayConfig,
        key_ttl: std::time::Duration,
    ) -> Result<Self, String> {
        let client = Arc::new(EbayClient::new(config)?);
        let verifier = Arc::new(EbayVerifier::new(
            client.clone(),
            &context.public_url,
            KeyCache::new(key_ttl),
        ));
        Ok(Self {
            tokens: Arc::new(EbayTokens {
                client: client.clone(),
                context: context.clone(),
            }),
            oauth: EbayOAuth {
                client: client.clone(),
                endpoint: super::verifier::endpoint(&context.public_url),
            },
            verifier,
            client,
        })
    }

    fn store(&self, connection: &Connection) -> EbayStore {
        EbayStore {
            client: self.client.clone(),
            tokens: self.tokens.clone(),
            connection: connection.clone(),
        }
    }
}

fn order_id(payload: &[u8]) -> Result<String, String> {
    let envelope = super::notify::envelope(payload)?;
    envelope
        .data
        .get("orderId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "data.orderId is missing".into())
}

#[async_trait]
impl ChannelAdapter for EbayAdapter {
    fn channel(&self) -> Channel {
        Channel::Ebay
    }

    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    fn oauth(&self) -> Option<&dyn OAuthApp> {
        Some(&self.oauth)
    }

    /// `ORDER_CONFIRMATION` names the order (one per line item): re-read it.
    /// `MARKETPLACE_ACCOUNT_DELETION` for a connected seller: their eBay account is gone, so
    /// the connection is disconnected and its credentials (tokens and the cached identity)
    /// are deleted.
    fn interpret(&self, topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
        let refuse = |reason: String| InterpretError {
            channel: Channel::Ebay,
            topic: topic.to_owned(),
            reason,
        };
        match topic {
            ORDER_CONFIRMATION => order_id(payload).map(Interpreted::Fetch).map_err(refuse),
            ACCOUNT_DELETION => Ok(Interpreted::Uninstalled),
            other => Ok(Interpreted::Ignored(format!(
                "ebay topic {other} is not handled"
            ))),
        }
    }

    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>> {
        if self.client.config().client_id.is_empty() {
            return None;
        }
        Some(self.verifier.clone())
    }

    /// eBay sellers connect through OAuth only.
    async fn connect(
        &self,
        _tenant: &TenantId,
        _form: Value,
        _settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError> {
        Err(ConnectError::Invalid(
            "eBay accounts connect through OAuth: POST /api/oauth/ebay/start".into(),
        ))
    }

    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        Ok(Box::new(self.store(connection)))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        Ok(Box::new(EbayInventory {
            client: self.client.clone(),
            tokens: self.tokens.clone(),
            connection: connection.clone(),
            records: self.tokens.context.records.clone(),
        }))
    }

    /// Stock is per SKU on eBay: no locations.
    async fn locations(&self, _connection: &Connection) -> Result<Vec<Location>, ConnectError> {
        Ok(Vec::new())
    }

    /// Our destination (re-enabled when eBay marked it down) and the seller's
    /// `ORDER_CONFIRMATION` subscription ([`super::subscriptions`]).
    async fn ensure_webhooks(
        &self,
        connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        let token = self
            .tokens
            .access_token(connection)
            .await
            .map_err(|e| match e {
                crate::channels::tokens::TokenError::NeedsReauth => OpenError::NeedsReauth,
                crate::channels::tokens::TokenError::NotActive(s) => OpenError::NotActive(s),
                other => OpenError::Unavailable(other.to_string()),
            })?;
        super::oauth::subscribe(&self.client, &self.oauth.endpoint, &token)
            .await
            .map(Some)
            .map_err(OpenError::Unavailable)
    }
}
