//! Etsy's adapter: OAuth install with PKCE, `order.paid` webhooks signed with the app's
//! secret and routed by shop, receipts polled, tracking, whole-listing stock writes.

use super::client::{EtsyClient, EtsyConfig};
use super::inventory::{EtsyInventory, MAX_BATCH};
use super::oauth::EtsyOAuth;
use super::store::EtsyStore;
use super::tokens::{EtsyApi, EtsyTokens};
use super::webhook::EtsyVerifier;
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

const CAPABILITIES: Capabilities = Capabilities {
    webhooks: Webhooks::AppSecret,
    poll: true,
    // Receipts are read with sort_on=updated&sort_order=asc.
    sorted_by_change: true,
    deducts_at_shipment: false,
    locations: LocationKind::None,
    compare_and_set: false,
    inventory_batch: MAX_BATCH,
    privacy_topics: &[],
    token_lifetime: TokenLifetime::Expiring,
};

/// The registry's Etsy entry (app from `ChannelApps` and the `ETSY_*` variables).
pub fn adapter(context: &Arc<ChannelContext>) -> Result<Arc<dyn ChannelAdapter>, String> {
    let config = EtsyConfig::from_app(&context.apps.get(Channel::Etsy));
    EtsyAdapter::new(context, config).map(|a| Arc::new(a) as Arc<dyn ChannelAdapter>)
}

pub struct EtsyAdapter {
    context: Arc<ChannelContext>,
    client: EtsyClient,
    oauth: EtsyOAuth,
    verifier: Arc<EtsyVerifier>,
}

impl EtsyAdapter {
    pub fn new(context: &Arc<ChannelContext>, config: EtsyConfig) -> Result<Self, String> {
        let verifier =
            Arc::new(EtsyVerifier::new(&config.webhook_secrets).with_vault(context.vault.clone()));
        let client = EtsyClient::new(Arc::new(config))?;
        Ok(Self {
            context: context.clone(),
            oauth: EtsyOAuth {
                client: client.clone(),
            },
            client,
            verifier,
        })
    }

    /// Authenticated calls for `connection`, with a rate state of their own.
    async fn api(&self, connection: &Connection) -> Result<(EtsyApi, u64), OpenError> {
        let shop_id: u64 = connection
            .shop
            .parse()
            .map_err(|_| OpenError::Setup(format!("{} is not an Etsy shop id", connection.shop)))?;
        let client = self.client.for_connection();
        let tokens = Arc::new(EtsyTokens {
            client: client.clone(),
            context: self.context.clone(),
        });
        Ok((
            EtsyApi {
                client,
                tokens,
                connection: connection.clone(),
            },
            shop_id,
        ))
    }
}

const NO_LOCATIONS: &str = "Etsy has no locations: stock is set on each listing";

#[async_trait]
impl ChannelAdapter for EtsyAdapter {
    fn channel(&self) -> Channel {
        Channel::Etsy
    }

    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    fn oauth(&self) -> Option<&dyn OAuthApp> {
        Some(&self.oauth)
    }

    fn interpret(&self, topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
        super::order::interpret(topic, payload)
    }

    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>> {
        Some(self.verifier.clone())
    }

    async fn connect(
        &self,
        _tenant: &TenantId,
        _form: Value,
        _settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError> {
        Err(ConnectError::Invalid(
            "Etsy shops connect through OAuth: POST /api/oauth/etsy/start".into(),
        ))
    }

    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        let (api, shop_id) = self.api(connection).await?;
        Ok(Box::new(EtsyStore { api, shop_id }))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        let (api, _) = self.api(connection).await?;
        Ok(Box::new(EtsyInventory { api }))
    }

    async fn locations(&self, _connection: &Connection) -> Result<Vec<Location>, ConnectError> {
        Err(ConnectError::Invalid(NO_LOCATIONS.into()))
    }

    async fn check_settings(
        &self,
        _connection: &Connection,
        settings: &ConnectionSettings,
        _changed: &[String],
    ) -> Result<(), ConnectError> {
        if settings.inventory_location.is_some() || settings.fulfilment_location.is_some() {
            return Err(ConnectError::Invalid(NO_LOCATIONS.into()));
        }
        Ok(())
    }

    /// Etsy's webhooks are configured once for the app in its developer portal.
    async fn ensure_webhooks(
        &self,
        _connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        Ok(None)
    }
}
