//! TikTok Shop's adapter: OAuth install (no connect form), app-secret webhooks routed by
//! `shop_id` whose order events are re-read from TikTok in the consumer, the orders poll,
//! listings and tracking ([`TikTokStore`]), per-product inventory writes
//! ([`TikTokInventory`]), warehouses as the places stock lives, Event API subscriptions.

use super::client::{ApiError, ShopAuth, TikTokClient, DEFAULT_API_BASE, DEFAULT_AUTH_BASE};
use super::credentials::{TikTokCredentials, TikTokTokens};
use super::install::{TikTokInstall, DEFAULT_AUTHORIZE_URL, US_AUTHORIZE_URL};
use super::inventory::{TikTokInventory, MAX_BATCH};
use super::store::{path_id, ProviderCache, TikTokStore};
use super::webhook::{id_text, Envelope, TikTokVerifier, ORDER_TOPICS};
use crate::channels::adapter::{
    Capabilities, ChannelAdapter, Connected, HealthReport, Location, LocationKind, OAuthApp,
    TokenLifetime, Webhooks,
};
use crate::channels::context::ChannelContext;
use crate::channels::inventory::{InventoryChannel, PushError};
use crate::channels::store::{ConnectError, StoreApi};
use crate::channels::tokens::TokenError;
use crate::channels::{ClientError, InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, TenantId};
use crate::ports::Secret;
use async_trait::async_trait;
use http::Method;
use serde_json::Value;
use std::sync::Arc;

/// What TikTok Shop can do.
const CAPABILITIES: Capabilities = Capabilities {
    webhooks: Webhooks::AppSecret,
    poll: true,
    // Search Orders sorts by update_time ascending.
    sorted_by_change: true,
    deducts_at_shipment: false,
    // Warehouses stock; which warehouse ships an order is TikTok's, not a setting of ours.
    locations: LocationKind::Sources,
    compare_and_set: false,
    inventory_batch: MAX_BATCH,
    privacy_topics: &[],
    token_lifetime: TokenLifetime::Expiring,
};

/// Where the app's non-secret settings come from (`serve`: the environment).
#[derive(Debug, Clone)]
pub struct TikTokSettings {
    /// `TIKTOK_SERVICE_ID`: the app's service id, for the authorization link.
    pub service_id: String,
    /// `TIKTOK_AUTH_BASE` (default [`DEFAULT_AUTH_BASE`]).
    pub auth_base: String,
    /// `TIKTOK_AUTHORIZE_URL` (default the global services page).
    pub authorize_url: String,
    /// `TIKTOK_US_AUTHORIZE_URL` (default the US services page).
    pub us_authorize_url: String,
}

impl TikTokSettings {
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            service_id: var("TIKTOK_SERVICE_ID", ""),
            auth_base: var("TIKTOK_AUTH_BASE", DEFAULT_AUTH_BASE),
            authorize_url: var("TIKTOK_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL),
            us_authorize_url: var("TIKTOK_US_AUTHORIZE_URL", US_AUTHORIZE_URL),
        }
    }
}

/// The registry's TikTok entry. The app key and secret are the channel app's client id and
/// secret (`TIKTOK_CLIENT_ID`/`TIKTOK_CLIENT_SECRET`, or `TIKTOK_APP_KEY`/`TIKTOK_APP_SECRET`;
/// on AWS the `TIKTOK_APP_SECRET_ID` secret).
pub fn adapter(context: &Arc<ChannelContext>) -> Result<Arc<dyn ChannelAdapter>, String> {
    Ok(Arc::new(TikTokAdapter::new(
        context,
        TikTokSettings::from_env(),
    )))
}

/// TikTok Shop, for the registry.
pub struct TikTokAdapter {
    context: Arc<ChannelContext>,
    client: TikTokClient,
    verifier: Arc<TikTokVerifier>,
    install: TikTokInstall,
    tokens: TikTokTokens,
    providers: Arc<ProviderCache>,
}

impl TikTokAdapter {
    pub fn new(context: &Arc<ChannelContext>, settings: TikTokSettings) -> Self {
        let mut app = context.apps.get(Channel::Tiktok);
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if app.client_id.is_empty() {
            app.client_id = env("TIKTOK_APP_KEY").unwrap_or_default();
        }
        if app.secrets.is_empty() {
            app.secrets = env("TIKTOK_APP_SECRET")
                .map(Secret::new)
                .into_iter()
                .collect();
        }
        let api_base = app
            .api_base
            .clone()
            .unwrap_or_else(|| DEFAULT_API_BASE.into());
        let client = TikTokClient::new(
            &api_base,
            &settings.auth_base,
            &app.client_id,
            app.current_secret(),
        );
        Self::with_client(context, settings, client, app.is_configured(), app.secrets)
    }

    /// An adapter on an already built client (tests fix its clock).
    pub fn with_client(
        context: &Arc<ChannelContext>,
        settings: TikTokSettings,
        client: TikTokClient,
        configured: bool,
        secrets: Vec<Secret>,
    ) -> Self {
        Self {
            context: context.clone(),
            verifier: Arc::new(TikTokVerifier::new(client.app_key(), secrets)),
            install: TikTokInstall {
                client: client.clone(),
                configured,
                service_id: settings.service_id,
                authorize_url: settings.authorize_url,
                us_authorize_url: settings.us_authorize_url,
                context: context.clone(),
            },
            tokens: TikTokTokens {
                client: client.clone(),
                context: context.clone(),
            },
            client,
            providers: Arc::new(ProviderCache::default()),
        }
    }

    async fn credentials(&self, connection: &Connection) -> Result<TikTokCredentials, OpenError> {
        self.tokens
            .credentials(connection)
            .await
            .map_err(|e| match e {
                TokenError::NotActive(s) => OpenError::NotActive(s),
                TokenError::NeedsReauth => OpenError::NeedsReauth,
                TokenError::Unavailable(m) => OpenError::Unavailable(m),
            })
    }

    async fn store(&self, connection: &Connection) -> Result<TikTokStore, OpenError> {
        Ok(TikTokStore {
            client: self.client.clone(),
            credentials: self.credentials(connection).await?,
            providers: self.providers.clone(),
        })
    }
}

fn envelope(topic: &str, payload: &[u8]) -> Result<Envelope, InterpretError> {
    serde_json::from_slice(payload).map_err(|e| InterpretError {
        channel: Channel::Tiktok,
        topic: topic.to_owned(),
        reason: format!("not a TikTok webhook envelope: {e}"),
    })
}

/// `data.expiration_time` of an upcoming-expiry notice: Unix seconds, as a number or a
/// numeric string [U: the reference names the field, not its unit; TikTok's other times are
/// Unix seconds]; an RFC 3339 string is read too. Anything else (or a time beyond year 9999)
/// is `None`.
pub fn expiration_time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let seconds = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return chrono::DateTime::parse_from_rfc3339(s.trim())
                    .ok()
                    .map(|t| t.with_timezone(&chrono::Utc))
            }
        },
        _ => None,
    }?;
    (seconds > 0)
        .then(|| chrono::DateTime::from_timestamp(seconds, 0))
        .flatten()
        .filter(|t| t.timestamp() < 253_402_300_800)
}

/// What the connection's status says about TikTok: the authorization's end while it is ahead,
/// and recent orders held because TikTok masked the address.
pub async fn tiktok_notes(
    records: &dyn crate::ports::Records,
    connection: &Connection,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    use crate::connection_state::{authorization_expiry, held_orders, HELD_RECENT};
    let mut notes = Vec::new();
    match authorization_expiry(records, &connection.id).await {
        Ok(Some(at)) if at > now => notes.push(format!(
            "TikTok authorization expires at {}: re-authorize in the dashboard",
            at.to_rfc3339()
        )),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the authorization expiry"),
    }
    match held_orders(records, &connection.id, now - HELD_RECENT).await {
        Ok(held) => {
            if let Some(masked) = held.get("masked_address").filter(|h| h.count > 0) {
                notes.push(format!(
                    "{} recent orders had a masked address: switch the products to a Shipped by \
                     Seller shipping template",
                    masked.count
                ));
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count held orders"),
    }
    notes
}

#[async_trait]
impl ChannelAdapter for TikTokAdapter {
    fn channel(&self) -> Channel {
        Channel::Tiktok
    }

    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    fn oauth(&self) -> Option<&dyn OAuthApp> {
        Some(&self.install)
    }

    /// Deauthorization disconnects; order events name the order, which the consumer reads
    /// through the connection's store ([`Interpreted::Fetch`]).
    fn interpret(&self, topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
        let envelope = envelope(topic, payload)?;
        Ok(match topic {
            "SELLER_DEAUTHORIZATION" => Interpreted::Uninstalled,
            // Sent 30 days before and then daily: the consumer records the expiry for the
            // connection and tells the WMS once per expiry.
            "UPCOMING_AUTHORIZATION_EXPIRATION" => Interpreted::AuthorizationExpiring(
                envelope
                    .data
                    .get("expiration_time")
                    .and_then(expiration_time)
                    .ok_or_else(|| InterpretError {
                        channel: Channel::Tiktok,
                        topic: topic.to_owned(),
                        reason: "the notice carries no usable expiration_time".into(),
                    })?,
            ),
            // TikTok's order events carry only the order's id: the consumer reads the order
            // through the connection's store.
            t if ORDER_TOPICS.contains(&t) => Interpreted::Fetch(
                envelope
                    .data
                    .get("order_id")
                    .and_then(id_text)
                    .filter(|id| path_id(id).is_some())
                    .ok_or_else(|| InterpretError {
                        channel: Channel::Tiktok,
                        topic: t.to_owned(),
                        reason: "the event names no usable order_id".into(),
                    })?,
            ),
            other => Interpreted::Ignored(format!("TikTok topic {other} is not handled")),
        })
    }

    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>> {
        Some(self.verifier.clone())
    }

    async fn notes(&self, connection: &Connection) -> Vec<String> {
        tiktok_notes(&*self.context.records, connection, chrono::Utc::now()).await
    }

    async fn connect(
        &self,
        _tenant: &TenantId,
        _form: Value,
        _settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError> {
        Err(ConnectError::Invalid(
            "TikTok Shop stores connect through POST /api/oauth/tiktok/start".into(),
        ))
    }

    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        Ok(Box::new(self.store(connection).await?))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        Ok(Box::new(TikTokInventory {
            client: self.client.clone(),
            credentials: self.credentials(connection).await?,
            warehouse: connection.settings.inventory_location.clone(),
        }))
    }

    async fn locations(&self, connection: &Connection) -> Result<Vec<Location>, ConnectError> {
        let creds = self
            .credentials(connection)
            .await
            .map_err(|e| ConnectError::Conflict(e.to_string()))?;
        let auth = ShopAuth {
            access_token: &creds.access_token,
            cipher: Some(&creds.shop_cipher),
        };
        let data = self
            .client
            .call(Method::GET, "/logistics/202309/warehouses", &[], None, auth)
            .await
            .map_err(|e| match e {
                ApiError::Client(ClientError::Unauthorized) => ConnectError::Conflict(
                    "TikTok Shop rejected the shop's credentials: reconnect it".into(),
                ),
                other => ConnectError::Unreachable(format!(
                    "could not read warehouses from TikTok Shop: {other}"
                )),
            })?;
        Ok(data
            .get("warehouses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| {
                let id = w.get("id").and_then(id_text)?;
                let status = w.get("effect_status").and_then(Value::as_str).unwrap_or("");
                let sales = w.get("type").and_then(Value::as_str) != Some("RETURN_WAREHOUSE");
                Some(Location {
                    name: w
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or(&id)
                        .chars()
                        .take(200)
                        .collect(),
                    id,
                    active: status != "DISABLED",
                    fulfills_online_orders: sales,
                })
            })
            .collect())
    }

    async fn ensure_webhooks(
        &self,
        connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        let creds = self.credentials(connection).await?;
        match super::events::ensure_events(&self.client, &creds, &self.context.public_url).await {
            Ok(report) => Ok(Some(report)),
            Err(e) => Err(self
                .context
                .call_failed(connection, "subscribing webhooks", ClientError::from(e))
                .await),
        }
    }
}
