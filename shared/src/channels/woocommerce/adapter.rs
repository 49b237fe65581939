//! WooCommerce's adapter: connect with a Read/Write REST key (URL and keys checked before
//! anything is stored), webhooks signed with a secret per connection, the [`WooStore`] and
//! [`WooInventory`] of a saved connection, and the daily webhook health check.

use super::{
    generate_webhook_secret, interpret, WooClient, WooCredentials, WooInventory, WooStore,
    WooVerifier, MAX_BATCH,
};
use crate::channels::adapter::{
    Capabilities, ChannelAdapter, Connected, HealthReport, Location, LocationKind, TokenLifetime,
    Webhooks,
};
use crate::channels::context::{credential, form, ChannelContext};
use crate::channels::inventory::{InventoryChannel, PushError};
use crate::channels::store::{ConnectError, StoreApi};
use crate::channels::{InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, TenantId};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// What WooCommerce can do.
const CAPABILITIES: Capabilities = Capabilities {
    webhooks: Webhooks::PerConnection,
    poll: true,
    // Orders come by id (§2.3): a partial poll keeps its watermark.
    sorted_by_change: false,
    deducts_at_shipment: false,
    locations: LocationKind::None,
    // Stock is set absolutely, with no compare-and-set (§2.5).
    compare_and_set: false,
    inventory_batch: MAX_BATCH,
    privacy_topics: &[],
    token_lifetime: TokenLifetime::Static,
};

const NO_LOCATIONS: &str = "WooCommerce has no locations: stock is set on each product, so leave inventory_location and fulfilment_location unset";

/// The registry's WooCommerce entry.
pub fn adapter(context: &Arc<ChannelContext>) -> Result<Arc<dyn ChannelAdapter>, String> {
    Ok(Arc::new(WooAdapter {
        context: context.clone(),
        verifier: Arc::new(WooVerifier::new(context.vault.clone())),
    }))
}

/// WooCommerce, for the registry.
pub struct WooAdapter {
    context: Arc<ChannelContext>,
    verifier: Arc<WooVerifier>,
}

/// `POST /api/connections` for WooCommerce.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyForm {
    store_url: String,
    consumer_key: String,
    consumer_secret: String,
}

impl WooAdapter {
    fn client(&self) -> WooClient {
        WooClient::new(self.context.http.clone())
    }

    async fn credentials(&self, connection: &Connection) -> Result<WooCredentials, OpenError> {
        self.context
            .credentials(connection, WooCredentials::from_secret)
            .await
    }
}

fn refuse_locations(settings: Option<&ConnectionSettings>) -> Result<(), ConnectError> {
    match settings {
        Some(s) if s.inventory_location.is_some() || s.fulfilment_location.is_some() => {
            Err(ConnectError::Invalid(NO_LOCATIONS.into()))
        }
        _ => Ok(()),
    }
}

#[async_trait]
impl ChannelAdapter for WooAdapter {
    fn channel(&self) -> Channel {
        Channel::Woocommerce
    }

    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    fn interpret(&self, topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
        interpret(topic, payload)
    }

    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>> {
        Some(self.verifier.clone())
    }

    /// Checks URL and keys (read and write), stores the credentials with a webhook secret of
    /// our own (kept across reconnects), then subscribes the order topics to
    /// `/webhooks/woocommerce/{connection_id}`. A webhook failure does not undo the connection
    /// (the reconciliation poll imports orders anyway, and the daily health check retries);
    /// the answer's `webhooks` says what happened.
    async fn connect(
        &self,
        tenant: &TenantId,
        body: Value,
        settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError> {
        let input: KeyForm = form(body)?;
        let url = self.context.store_url(&input.store_url).await?;
        let key = credential("consumer_key", &input.consumer_key)?;
        let secret = credential("consumer_secret", &input.consumer_secret)?;
        refuse_locations(settings.as_ref())?;
        let client = self.client();
        let info = client
            .check_connection(&url, &key, &secret)
            .await
            .map_err(|e| match e {
                ConnectError::Unreachable(m) => {
                    ConnectError::Unreachable(format!("could not check the WooCommerce store: {m}"))
                }
                other => other,
            })?;
        let shop = url.identity();
        // A reconnect keeps the secret the store's webhooks already carry.
        let webhook_secret = match self
            .context
            .connections
            .find_by_shop(Channel::Woocommerce, &shop)
            .await?
        {
            Some(existing) if &existing.tenant == tenant => self
                .context
                .vault
                .get(&existing.credentials_name())
                .await?
                .and_then(|s| WooCredentials::from_secret(&s).ok())
                .map(|c| c.webhook_secret),
            _ => None,
        }
        .unwrap_or_else(generate_webhook_secret);
        let creds = WooCredentials {
            store_url: url.as_str().to_owned(),
            consumer_key: key,
            consumer_secret: secret,
            webhook_secret,
        };
        let (created, connection) = self
            .context
            .upsert_connection(
                tenant,
                Channel::Woocommerce,
                &shop,
                &creds.to_secret(),
                info.name
                    .filter(|n| !n.trim().is_empty())
                    .or(Some(shop.clone())),
                settings,
            )
            .await?;
        let delivery_url = self.context.delivery_url(&connection);
        let webhooks = match client.ensure_webhooks(&creds, &delivery_url).await {
            Ok(report) => json!(report),
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "webhooks not created at connect; the daily health check retries");
                json!({ "error": format!("webhooks could not be created ({e}); orders are still imported by the reconciliation poll, and the daily check retries") })
            }
        };
        let mut extra = serde_json::Map::new();
        extra.insert("webhooks".into(), webhooks);
        Ok(Connected {
            created,
            connection,
            extra,
        })
    }

    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        let creds = self.credentials(connection).await?;
        let store = WooStore::new(self.client(), creds).map_err(OpenError::Setup)?;
        Ok(Box::new(store))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        let creds = self.credentials(connection).await?;
        let writer = WooInventory::new(self.client(), creds).map_err(PushError::Setup)?;
        Ok(Box::new(writer))
    }

    async fn locations(&self, _connection: &Connection) -> Result<Vec<Location>, ConnectError> {
        Err(ConnectError::Invalid(
            "WooCommerce has no locations: stock is set on each product".into(),
        ))
    }

    async fn check_settings(
        &self,
        _connection: &Connection,
        settings: &ConnectionSettings,
        _changed: &[String],
    ) -> Result<(), ConnectError> {
        refuse_locations(Some(settings))
    }

    /// WooCommerce sets a webhook to `disabled` after more than 5 consecutive failed
    /// deliveries and never retries: re-enable ours (with our secret), re-create missing ones.
    async fn ensure_webhooks(
        &self,
        connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        let creds = self.credentials(connection).await?;
        match self
            .client()
            .ensure_webhooks(&creds, &self.context.delivery_url(connection))
            .await
        {
            Ok(r) => Ok(Some(HealthReport {
                existing: r.existing,
                created: r.created,
                reenabled: r.reenabled,
                updated: r.updated,
            })),
            Err(e) => Err(self
                .context
                .call_failed(connection, "could not check the webhooks", e)
                .await),
        }
    }
}
