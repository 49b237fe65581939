//! Veeqo's adapter: connect with an API key (`POST /api/connections {"channel": "veeqo",
//! "api_key": …}`, checked with a real read before anything is stored) or by OAuth (the
//! channel-neutral routes; one connection per Veeqo account), no webhooks (the poll is the
//! only intake), warehouses as locations, and the Inventory Sync Warehouse
//! (`inventory_location`) required before orders are read or stock is written.

use super::client::{Company, Marketplace, Warehouse};
use super::inventory::{VeeqoInventory, MAX_BATCH};
use super::limiter::Limiter;
use super::store::VeeqoStore;
use super::{VeeqoClient, VeeqoCredentials, UNAUTHORIZED_HINT};
use crate::channels::adapter::{
    Callback, Capabilities, ChannelAdapter, Connected, HealthReport, InstallError, Installed,
    Location, LocationKind, OAuthApp, TokenLifetime, Webhooks,
};
use crate::channels::context::{credential, form, AppCredentials, ChannelContext};
use crate::channels::inventory::{InventoryChannel, PushError};
use crate::channels::store::{ConnectError, StoreApi};
use crate::channels::{ClientError, InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, TenantId};
use crate::ports::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// What Veeqo can do.
const CAPABILITIES: Capabilities = Capabilities {
    webhooks: Webhooks::None,
    poll: true,
    // Veeqo does not document the sort of `GET /orders` ([U]).
    sorted_by_change: false,
    // Veeqo's available = physical − its own allocations; the writer adds them back
    // itself (inventory.rs), so the engine must not.
    deducts_at_shipment: false,
    // Warehouses stock only here: orders are chosen by the Inventory Sync Warehouse.
    locations: LocationKind::Sources,
    compare_and_set: false,
    inventory_batch: MAX_BATCH,
    privacy_topics: &[],
    token_lifetime: TokenLifetime::Static,
};

/// Said when the Inventory Sync Warehouse is not chosen yet.
pub const NO_WAREHOUSE: &str = "choose the Veeqo Inventory Sync Warehouse (the Amazon location, a warehouse id from GET /api/connections/{id}/locations) as inventory_location: until then no Veeqo order is imported and no stock is pushed";

/// The registry's Veeqo entry: `VEEQO_API_BASE` (tests, a local fake) and the OAuth app from
/// the context; `VEEQO_AUTHORIZE_URL` and `VEEQO_RATE_LIMIT` from the environment, read once
/// here (an unusable value stops the start).
pub fn adapter(context: &Arc<ChannelContext>) -> Result<Arc<dyn ChannelAdapter>, String> {
    let authorize_url = std::env::var("VEEQO_AUTHORIZE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| super::DEFAULT_AUTHORIZE_URL.to_owned());
    let limiter = match std::env::var("VEEQO_RATE_LIMIT")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(raw) => Limiter::parse(&raw)?,
        None => Limiter::default(),
    };
    VeeqoAdapter::new(context.clone(), authorize_url, limiter)
        .map(|a| Arc::new(a) as Arc<dyn ChannelAdapter>)
}

/// Veeqo, for the registry.
pub struct VeeqoAdapter {
    context: Arc<ChannelContext>,
    /// Every job's client: one limiter for every connection of this process.
    client: VeeqoClient,
    /// For calls a person waits for (connect, locations, settings): gives up sooner.
    interactive: VeeqoClient,
    app: VeeqoOAuth,
}

impl VeeqoAdapter {
    /// Veeqo on `context`, its consent screen at `authorize_url`, every call paced by `limiter`.
    pub fn new(
        context: Arc<ChannelContext>,
        authorize_url: String,
        limiter: Limiter,
    ) -> Result<Self, String> {
        let app = context.apps.get(Channel::Veeqo);
        let client = VeeqoClient::new(app.api_base.clone(), Arc::new(limiter))?;
        let interactive = client.clone().with_max_wait(Duration::from_secs(5));
        Ok(Self {
            context,
            app: VeeqoOAuth {
                app,
                authorize_url,
                client: interactive.clone(),
            },
            client,
            interactive,
        })
    }

    async fn credentials(&self, connection: &Connection) -> Result<VeeqoCredentials, OpenError> {
        self.context
            .credentials(connection, VeeqoCredentials::from_secret)
            .await
    }

    /// The connection's warehouse, or why nothing can run yet.
    fn warehouse(connection: &Connection) -> Result<String, String> {
        connection
            .settings
            .inventory_location
            .clone()
            .filter(|w| !w.trim().is_empty())
            .ok_or_else(|| NO_WAREHOUSE.to_owned())
    }

    async fn warehouses(&self, connection: &Connection) -> Result<Vec<Warehouse>, ConnectError> {
        let creds = self
            .credentials(connection)
            .await
            .map_err(|e| ConnectError::Conflict(e.to_string()))?;
        self.interactive
            .warehouses(&creds)
            .await
            .map_err(|e| connect_error(e, "read the warehouses"))
    }
}

/// A failed call made while a person waits, as a sentence for them.
fn connect_error(e: ClientError, what: &str) -> ConnectError {
    match e {
        ClientError::Unauthorized => ConnectError::WrongCredentials(UNAUTHORIZED_HINT.to_owned()),
        ClientError::Throttled { .. } => ConnectError::Unreachable(format!(
            "Veeqo is rate limiting this account: could not {what}; try again in a minute"
        )),
        other => ConnectError::Unreachable(format!("could not {what} from Veeqo: {other}")),
    }
}

/// `inventory_location` must be a Veeqo warehouse that exists and is not deleted;
/// `fulfilment_location` is not used (orders are chosen by the Inventory Sync Warehouse).
fn check_warehouse(
    settings: &ConnectionSettings,
    warehouses: &[Warehouse],
) -> Result<(), ConnectError> {
    if settings.fulfilment_location.is_some() {
        return Err(ConnectError::Invalid(
            "Veeqo orders are chosen by the Inventory Sync Warehouse: set inventory_location and leave fulfilment_location unset".into(),
        ));
    }
    let Some(wanted) = &settings.inventory_location else {
        return Ok(());
    };
    match warehouses.iter().find(|w| &w.id == wanted) {
        Some(w) if w.active => Ok(()),
        Some(w) => Err(ConnectError::Invalid(format!(
            "the Veeqo warehouse {wanted} ({}) is deleted",
            w.name
        ))),
        None => Err(ConnectError::Invalid(format!(
            "the Veeqo account has no warehouse {wanted}: choose one from GET /api/connections/{{id}}/locations"
        ))),
    }
}

/// `POST /api/connections` for Veeqo.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyForm {
    api_key: String,
}

/// What the connect answer says besides the connection.
fn extra(
    warehouses: &[Warehouse],
    marketplaces: &[Marketplace],
    settings: &ConnectionSettings,
) -> serde_json::Map<String, Value> {
    let mut extra = serde_json::Map::new();
    extra.insert("warehouses".into(), json!(warehouses));
    extra.insert("marketplaces".into(), json!(marketplaces));
    if settings.inventory_location.is_none() {
        extra.insert("missing".into(), json!([NO_WAREHOUSE]));
    }
    extra
}

#[async_trait]
impl ChannelAdapter for VeeqoAdapter {
    fn channel(&self) -> Channel {
        Channel::Veeqo
    }

    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    fn oauth(&self) -> Option<&dyn OAuthApp> {
        Some(&self.app)
    }

    /// Veeqo sends no webhooks; only polled orders (read back by the registry) arrive.
    fn interpret(&self, topic: &str, _payload: &[u8]) -> Result<Interpreted, InterpretError> {
        Ok(Interpreted::Ignored(format!(
            "veeqo topic {topic} is not handled"
        )))
    }

    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>> {
        None
    }

    /// Connects with a user's API key: `GET /current_company` proves the key (and names the
    /// account), then the warehouses and marketplaces are read for the answer.
    async fn connect(
        &self,
        tenant: &TenantId,
        body: Value,
        settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError> {
        let input: ApiKeyForm = form(body)?;
        let creds = VeeqoCredentials::ApiKey {
            api_key: credential("api_key", &input.api_key)?,
        };
        let company = self
            .interactive
            .current_company(&creds)
            .await
            .map_err(|e| connect_error(e, "check the API key"))?;
        let shop = company.identity().ok_or_else(|| {
            ConnectError::NotTheChannel(
                "Veeqo's current_company answer names no company: is VEEQO_API_BASE Veeqo?".into(),
            )
        })?;
        let warehouses = self
            .interactive
            .warehouses(&creds)
            .await
            .map_err(|e| connect_error(e, "read the warehouses"))?;
        if let Some(settings) = &settings {
            check_warehouse(settings, &warehouses)?;
        }
        let marketplaces = self
            .interactive
            .marketplaces(&creds)
            .await
            .map_err(|e| connect_error(e, "read the marketplaces"))?;
        let (created, connection) = self
            .context
            .upsert_connection(
                tenant,
                Channel::Veeqo,
                &shop,
                &creds.to_secret(),
                company.name.clone().or(Some(shop.clone())),
                settings,
            )
            .await?;
        Ok(Connected {
            created,
            extra: extra(&warehouses, &marketplaces, &connection.settings),
            connection,
        })
    }

    /// The store, once the Inventory Sync Warehouse is chosen (a setup error until then: the
    /// poll and the SKU audit say what is missing).
    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        let warehouse = Self::warehouse(connection).map_err(OpenError::Setup)?;
        let creds = self.credentials(connection).await?;
        Ok(Box::new(VeeqoStore::new(
            self.client.clone(),
            creds,
            warehouse,
        )))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        let warehouse = Self::warehouse(connection).map_err(PushError::Setup)?;
        let creds = self.credentials(connection).await?;
        Ok(Box::new(VeeqoInventory::new(
            self.client.clone(),
            creds,
            warehouse,
        )))
    }

    /// The account's warehouses (deleted ones listed inactive).
    async fn locations(&self, connection: &Connection) -> Result<Vec<Location>, ConnectError> {
        Ok(self
            .warehouses(connection)
            .await?
            .into_iter()
            .map(|w| Location {
                id: w.id,
                name: w.name,
                active: w.active,
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
        // Locations only change through `changed` (a connect checks its own settings).
        if changed.is_empty() {
            return Ok(());
        }
        check_warehouse(settings, &self.warehouses(connection).await?)
    }

    /// The Inventory Sync Warehouse, until it is chosen.
    fn missing_settings(&self, connection: &Connection) -> Vec<String> {
        Self::warehouse(connection).err().into_iter().collect()
    }

    async fn ensure_webhooks(
        &self,
        _connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        Ok(None)
    }
}

/// Veeqo's OAuth app (authorization code; tokens without expiry).
pub struct VeeqoOAuth {
    app: AppCredentials,
    authorize_url: String,
    client: VeeqoClient,
}

impl VeeqoOAuth {
    /// The app with `authorize_url` as the consent screen, exchanging codes through `client`.
    pub fn new(app: AppCredentials, authorize_url: String, client: VeeqoClient) -> Self {
        Self {
            app,
            authorize_url,
            client,
        }
    }

    async fn token(&self, code: &str, redirect_uri: &str) -> Result<Secret, String> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("client_id", &self.app.client_id)
            .append_pair("client_secret", self.app.current_secret().expose())
            .finish();
        let request = self
            .client
            .http()
            .post(format!("{}/oauth/token", self.client.base()))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(form);
        let reply = crate::channels::rest::call(request)
            .await
            .map_err(|e| e.to_string())?;
        if !reply.status.is_success() {
            return Err(format!("Veeqo refused the code ({})", reply.status));
        }
        reply
            .body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .map(Secret::new)
            .ok_or_else(|| "Veeqo's token answer has no access_token".to_owned())
    }
}

#[async_trait]
impl OAuthApp for VeeqoOAuth {
    fn is_configured(&self) -> bool {
        self.app.is_configured()
    }

    /// Veeqo names the account only after the exchange.
    fn parse_shop(&self, _raw: Option<&str>) -> Result<Option<String>, String> {
        Ok(None)
    }

    fn authorize_url(
        &self,
        _shop: Option<&str>,
        redirect_uri: &str,
        state: &str,
        _pkce_challenge: Option<&str>,
    ) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.app.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", "")
            .append_pair("state", state)
            .finish();
        format!("{}?{query}", self.authorize_url)
    }

    /// Exchanges the code for a token, then reads the account it belongs to (its identity
    /// is the connection's `shop`: one connection per Veeqo account).
    async fn exchange(
        &self,
        code: &str,
        callback: Callback<'_>,
    ) -> Result<Installed, InstallError> {
        let token = self
            .token(code, callback.redirect_uri)
            .await
            .map_err(InstallError::ExchangeFailed)?;
        let creds = VeeqoCredentials::Oauth {
            access_token: token.expose().to_owned(),
        };
        let company: Company = self.client.current_company(&creds).await.map_err(|e| {
            InstallError::ExchangeFailed(format!("could not read the Veeqo account: {e}"))
        })?;
        let shop = company.identity().ok_or_else(|| {
            InstallError::ExchangeFailed("Veeqo's current_company names no company".into())
        })?;
        Ok(Installed {
            shop,
            credentials: creds.to_secret(),
            display_name: company.name,
        })
    }

    async fn after_connect(
        &self,
        _connection: &Connection,
        _credentials: &Secret,
    ) -> Option<HealthReport> {
        None
    }
}
