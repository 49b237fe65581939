//! Magento 2's adapter: connect with an integration's four credentials (every request OAuth
//! 1.0a signed), no webhooks (Magento Open Source has none: the reconciliation poll imports
//! every order), the [`MagentoStore`] and [`MagentoInventory`] of a saved connection, and MSI
//! sources as locations.

use super::{MagentoClient, MagentoCredentials, MagentoInventory, MagentoStore, Source};
use crate::channels::adapter::{
    Capabilities, ChannelAdapter, Connected, HealthReport, Location, LocationKind, TokenLifetime,
    Webhooks,
};
use crate::channels::context::{credential, form, ChannelContext};
use crate::channels::inventory::{InventoryChannel, PushError};
use crate::channels::store::{ConnectError, StoreApi};
use crate::channels::{ClientError, InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, TenantId};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// What Magento can do.
const CAPABILITIES: Capabilities = Capabilities {
    webhooks: Webhooks::None,
    poll: true,
    sorted_by_change: true,
    // MSI subtracts its own reservations and deducts at shipment (reference §3.5).
    deducts_at_shipment: true,
    locations: LocationKind::Sources,
    compare_and_set: false,
    inventory_batch: super::inventory::MAX_BATCH,
    privacy_topics: &[],
    token_lifetime: TokenLifetime::Static,
};

/// The registry's Magento entry.
pub fn adapter(context: &Arc<ChannelContext>) -> Result<Arc<dyn ChannelAdapter>, String> {
    Ok(Arc::new(MagentoAdapter {
        context: context.clone(),
    }))
}

/// Magento 2, for the registry.
pub struct MagentoAdapter {
    context: Arc<ChannelContext>,
}

/// `POST /api/connections` for Magento 2.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrationForm {
    store_url: String,
    /// The REST store code (`all` by default).
    #[serde(default)]
    store_code: Option<String>,
    consumer_key: String,
    consumer_secret: String,
    access_token: String,
    access_token_secret: String,
}

impl MagentoAdapter {
    fn client(&self) -> MagentoClient {
        MagentoClient::new(self.context.http.clone())
    }

    async fn credentials(&self, connection: &Connection) -> Result<MagentoCredentials, OpenError> {
        self.context
            .credentials(connection, MagentoCredentials::from_secret)
            .await
    }

    /// The store's MSI sources (`None`: the store has no MSI).
    async fn sources(&self, connection: &Connection) -> Result<Option<Vec<Source>>, ConnectError> {
        let creds = self
            .credentials(connection)
            .await
            .map_err(|e| ConnectError::Conflict(e.to_string()))?;
        self.client().sources(&creds).await.map_err(|e| match e {
            ClientError::Unauthorized => ConnectError::Conflict(
                "Magento rejected the store's credentials: reconnect it".into(),
            ),
            other => {
                ConnectError::Unreachable(format!("could not read sources from Magento: {other}"))
            }
        })
    }
}

/// `inventory_location` is an enabled MSI source code among `sources` (`None`: the store has
/// no MSI, so no sources); `fulfilment_location` is not used, because choosing a shipment's
/// source through `/order/{id}/ship` is unconfirmed.
fn check_sources(
    settings: &ConnectionSettings,
    sources: Option<&[Source]>,
) -> Result<(), ConnectError> {
    if settings.fulfilment_location.is_some() {
        return Err(ConnectError::Invalid(
            "Magento shipments are created without a source; leave fulfilment_location unset"
                .into(),
        ));
    }
    let Some(wanted) = &settings.inventory_location else {
        return Ok(());
    };
    let Some(sources) = sources else {
        return Err(ConnectError::Invalid(
            "this Magento store has no Multi-Source Inventory: stock goes to the legacy stock item, so leave inventory_location unset".into(),
        ));
    };
    match sources.iter().find(|s| &s.code == wanted) {
        Some(s) if s.enabled => Ok(()),
        Some(_) => Err(ConnectError::Invalid(format!(
            "the source {wanted} is disabled"
        ))),
        None => Err(ConnectError::Invalid(format!(
            "the store has no source {wanted}"
        ))),
    }
}

#[async_trait]
impl ChannelAdapter for MagentoAdapter {
    fn channel(&self) -> Channel {
        Channel::Magento
    }

    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    /// Magento sends no webhooks; only polled orders (read back by the registry) arrive.
    fn interpret(&self, topic: &str, _payload: &[u8]) -> Result<Interpreted, InterpretError> {
        Ok(Interpreted::Ignored(format!(
            "magento topic {topic} is not handled"
        )))
    }

    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>> {
        None
    }

    /// Connects with an integration's four credentials; checks orders, products and
    /// inventory access. The answer's `msi` and `sources` say where stock goes.
    async fn connect(
        &self,
        tenant: &TenantId,
        body: Value,
        settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError> {
        let input: IntegrationForm = form(body)?;
        let url = self.context.store_url(&input.store_url).await?;
        let store_code = match input.store_code.as_deref().map(str::trim) {
            None | Some("") => "all".to_owned(),
            Some(code)
                if code.len() <= 64
                    && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                code.to_owned()
            }
            Some(_) => {
                return Err(ConnectError::Invalid(
                    "store_code must be a Magento store code (letters, digits, underscore)".into(),
                ))
            }
        };
        let creds = MagentoCredentials {
            store_url: url.as_str().to_owned(),
            store_code,
            consumer_key: credential("consumer_key", &input.consumer_key)?,
            consumer_secret: credential("consumer_secret", &input.consumer_secret)?,
            access_token: credential("access_token", &input.access_token)?,
            access_token_secret: credential("access_token_secret", &input.access_token_secret)?,
        };
        let info = self
            .client()
            .check_connection(&url, &creds)
            .await
            .map_err(|e| match e {
                ConnectError::Unreachable(m) => {
                    ConnectError::Unreachable(format!("could not check the Magento store: {m}"))
                }
                other => other,
            })?;
        if let Some(settings) = &settings {
            check_sources(settings, info.msi.then_some(info.sources.as_slice()))?;
        }
        let shop = url.identity();
        let (created, connection) = self
            .context
            .upsert_connection(
                tenant,
                Channel::Magento,
                &shop,
                &creds.to_secret(),
                Some(shop.clone()),
                settings,
            )
            .await?;
        let mut extra = serde_json::Map::new();
        extra.insert("msi".into(), json!(info.msi));
        extra.insert("sources".into(), json!(info.sources));
        Ok(Connected {
            created,
            connection,
            extra,
        })
    }

    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        let creds = self.credentials(connection).await?;
        let store = MagentoStore::new(self.client(), creds).map_err(OpenError::Setup)?;
        Ok(Box::new(store))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        let creds = self.credentials(connection).await?;
        // The MSI source to stock; `default` is the source every MSI store has.
        let source = connection
            .settings
            .inventory_location
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let writer =
            MagentoInventory::new(self.client(), creds, source).map_err(PushError::Setup)?;
        Ok(Box::new(writer))
    }

    async fn locations(&self, connection: &Connection) -> Result<Vec<Location>, ConnectError> {
        Ok(self
            .sources(connection)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|s| Location {
                id: s.code,
                name: s.name,
                active: s.enabled,
                fulfills_online_orders: true,
            })
            .collect())
    }

    async fn check_settings(
        &self,
        connection: &Connection,
        settings: &ConnectionSettings,
        changed: &[String],
    ) -> Result<(), ConnectError> {
        if changed.is_empty() {
            return Ok(());
        }
        let sources = self.sources(connection).await?;
        check_sources(settings, sources.as_deref())
    }

    async fn ensure_webhooks(
        &self,
        _connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        Ok(None)
    }
}
