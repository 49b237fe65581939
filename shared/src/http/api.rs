//! The WMS's management API (`/api/...`), bearer token per tenant. A tenant only ever sees
//! its own connections.

use super::{bearer_tenant, connect, owned_connection, ApiError};
use crate::channels::magento::Source;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::shopify::tokens::TokenError;
use crate::channels::shopify::{Location, ShopifyClient};
use crate::channels::stores::Stores;
use crate::channels::ClientError;
use crate::domain::{
    Channel, Connection, ConnectionId, ConnectionSettings, ConnectionStatus, ShopDomain, SyncMode,
    TenantId,
};
use crate::ports::{Connections, CreateOutcome, Secret, Tenants, Vault};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// What the management API needs.
pub struct ApiDeps {
    pub connections: Arc<dyn Connections>,
    pub tenants: Arc<dyn Tenants>,
    pub vault: Arc<dyn Vault>,
    pub shopify: ShopifyClient,
    /// Calls on behalf of a connection (locations, sources), any channel; its `http` client
    /// also checks new WooCommerce and Magento stores.
    pub stores: Arc<Stores>,
    /// `CHANNEL_SYNC_PUBLIC_URL`: WooCommerce delivers webhooks to
    /// `{public_url}/webhooks/woocommerce/{connection_id}`.
    pub public_url: String,
    /// Sync now, runs, SKU audit (and the first push when inventory sync is switched on).
    pub inventory: Arc<super::inventory_api::InventoryApiDeps>,
}

/// The management routes.
pub fn router(deps: Arc<ApiDeps>) -> Router {
    let inventory = super::inventory_api::router(deps.inventory.clone());
    Router::new()
        .route("/api/connections", get(list).post(create))
        .route("/api/connections/{id}", get(get_one).patch(patch_settings))
        .route("/api/connections/{id}/locations", get(locations))
        .with_state(deps)
        .merge(inventory)
        .layer(DefaultBodyLimit::max(64 * 1024))
}

/// `POST /api/connections` bodies, by channel.
#[derive(Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase", deny_unknown_fields)]
enum NewConnection {
    /// A Shopify custom app's Admin API access token.
    Shopify {
        shop_domain: String,
        access_token: String,
        #[serde(default)]
        settings: Option<ConnectionSettings>,
    },
    /// A WooCommerce store's REST API key (Read/Write).
    Woocommerce {
        store_url: String,
        consumer_key: String,
        consumer_secret: String,
        #[serde(default)]
        settings: Option<ConnectionSettings>,
    },
    /// A Magento 2 integration's four credentials.
    Magento {
        store_url: String,
        /// The REST store code (`all` by default).
        #[serde(default)]
        store_code: Option<String>,
        consumer_key: String,
        consumer_secret: String,
        access_token: String,
        access_token_secret: String,
        #[serde(default)]
        settings: Option<ConnectionSettings>,
    },
}

/// `order_allocation`: a WMS warehouse code, 1 to 100 printable characters.
fn check_allocation(allocation: Option<&str>) -> Result<(), ApiError> {
    match allocation {
        Some(a) if a.trim().is_empty() || a.len() > 100 || a.chars().any(char::is_control) => {
            Err(ApiError::Unprocessable(
                "order_allocation must be a WMS warehouse code (1 to 100 characters) or null"
                    .into(),
            ))
        }
        _ => Ok(()),
    }
}

impl NewConnection {
    fn settings(&self) -> Option<&ConnectionSettings> {
        match self {
            NewConnection::Shopify { settings, .. }
            | NewConnection::Woocommerce { settings, .. }
            | NewConnection::Magento { settings, .. } => settings.as_ref(),
        }
    }
}

async fn list(
    State(deps): State<Arc<ApiDeps>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let connections = deps.connections.list(&tenant).await?;
    Ok(Json(json!({ "connections": connections })))
}

async fn get_one(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Connection>, ApiError> {
    owned_connection(&*deps.tenants, &*deps.connections, &headers, &id)
        .await
        .map(Json)
}

async fn create(
    State(deps): State<Arc<ApiDeps>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let body = body?;
    let request: NewConnection = serde_json::from_slice(&body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        } else {
            ApiError::Unprocessable(format!("invalid connection: {e}"))
        }
    })?;
    if let Some(settings) = request.settings() {
        check_allocation(settings.order_allocation.as_deref())?;
    }
    let (status, body) = match request {
        NewConnection::Shopify {
            shop_domain,
            access_token,
            settings,
        } => {
            let (status, Json(connection)) =
                connect_shopify(&deps, tenant, &shop_domain, access_token, settings).await?;
            let body = serde_json::to_value(connection)
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            (status, body)
        }
        NewConnection::Woocommerce {
            store_url,
            consumer_key,
            consumer_secret,
            settings,
        } => {
            connect::connect_woocommerce(
                &deps,
                tenant,
                &store_url,
                &consumer_key,
                &consumer_secret,
                settings,
            )
            .await?
        }
        NewConnection::Magento {
            store_url,
            store_code,
            consumer_key,
            consumer_secret,
            access_token,
            access_token_secret,
            settings,
        } => {
            connect::connect_magento(
                &deps,
                tenant,
                connect::MagentoConnect {
                    store_url: &store_url,
                    store_code: store_code.as_deref(),
                    consumer_key: &consumer_key,
                    consumer_secret: &consumer_secret,
                    access_token: &access_token,
                    access_token_secret: &access_token_secret,
                },
                settings,
            )
            .await?
        }
    };
    Ok((status, Json(body)))
}

/// Connects a Shopify store with an Admin API access token: the token is checked with a
/// real API call before anything is stored; reconnecting the same shop re-activates the
/// existing connection (so nothing is imported twice).
async fn connect_shopify(
    deps: &ApiDeps,
    tenant: TenantId,
    shop_domain: &str,
    access_token: String,
    settings: Option<ConnectionSettings>,
) -> Result<(StatusCode, Json<Connection>), ApiError> {
    let shop =
        ShopDomain::parse(shop_domain).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let token = Secret::new(access_token.trim());
    if token.expose().is_empty() {
        return Err(ApiError::Unprocessable(
            "access_token must not be empty".into(),
        ));
    }
    let info = deps
        .shopify
        .shop_info(&shop, &token)
        .await
        .map_err(|e| match e {
            ClientError::Unauthorized => {
                ApiError::Unprocessable("Shopify rejected the access token for this shop".into())
            }
            ClientError::NotFound => {
                ApiError::Unprocessable(format!("Shopify has no open shop at {shop}"))
            }
            other => ApiError::BadGateway(format!(
                "could not reach Shopify to check the token: {other}"
            )),
        })?;
    let credentials = ShopifyCredentials::static_token(token.expose(), "").to_secret();
    let (status, connection) = upsert_connection(
        &*deps.connections,
        &*deps.vault,
        &tenant,
        Channel::Shopify,
        shop.as_str(),
        &credentials,
        Some(info.name),
        settings,
    )
    .await?;
    Ok((status, Json(connection)))
}

/// Stores credentials and creates the connection for `shop`, or re-activates the existing one
/// when the same tenant connects it again (so nothing is imported twice). Another tenant's
/// shop → 409. Credentials are written first: a stored connection always has them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upsert_connection(
    connections: &dyn Connections,
    vault: &dyn Vault,
    tenant: &TenantId,
    channel: Channel,
    shop: &str,
    credentials: &Secret,
    display_name: Option<String>,
    settings: Option<ConnectionSettings>,
) -> Result<(StatusCode, Connection), ApiError> {
    if let Some(existing) = connections.find_by_shop(channel, shop).await? {
        return reconnect(
            connections,
            vault,
            tenant,
            existing,
            credentials,
            display_name,
            settings,
        )
        .await;
    }
    let now = chrono::Utc::now();
    let connection = Connection {
        id: ConnectionId::generate(),
        tenant: tenant.clone(),
        channel,
        shop: shop.to_owned(),
        display_name: display_name.clone(),
        status: ConnectionStatus::Active,
        settings: settings.clone().unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    vault
        .put(&connection.credentials_name(), credentials)
        .await?;
    match connections.create(&connection).await? {
        CreateOutcome::Created => {
            tracing::info!(connection = %connection.id, %channel, shop, "store connected");
            Ok((StatusCode::CREATED, connection))
        }
        CreateOutcome::ShopTaken(existing) => {
            // Lost a race with another connect of the same shop.
            vault.delete(&connection.credentials_name()).await?;
            reconnect(
                connections,
                vault,
                tenant,
                *existing,
                credentials,
                display_name,
                settings,
            )
            .await
        }
    }
}

async fn reconnect(
    connections: &dyn Connections,
    vault: &dyn Vault,
    tenant: &TenantId,
    mut existing: Connection,
    credentials: &Secret,
    display_name: Option<String>,
    settings: Option<ConnectionSettings>,
) -> Result<(StatusCode, Connection), ApiError> {
    if &existing.tenant != tenant {
        return Err(ApiError::Conflict(format!(
            "{} is connected to another account",
            existing.shop
        )));
    }
    vault.put(&existing.credentials_name(), credentials).await?;
    existing.status = ConnectionStatus::Active;
    existing.display_name = display_name.or(existing.display_name);
    if let Some(settings) = settings {
        existing.settings = settings;
    }
    existing.updated_at = chrono::Utc::now();
    connections.update(&existing).await?;
    tracing::info!(connection = %existing.id, "store reconnected");
    Ok((StatusCode::OK, existing))
}

/// The store's locations, live from the channel.
async fn fetch_locations(
    deps: &ApiDeps,
    connection: &Connection,
) -> Result<Vec<Location>, ApiError> {
    match connection.channel {
        Channel::Shopify => {}
        Channel::Magento => {
            return Ok(magento_sources(deps, connection)
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
        Channel::Woocommerce => {
            return Err(ApiError::Unprocessable(
                "WooCommerce has no locations: stock is set on each product".into(),
            ))
        }
        other => {
            return Err(ApiError::Unprocessable(format!(
                "locations of {other} stores are not available yet"
            )))
        }
    }
    let token = deps
        .stores
        .shopify
        .access_token(connection)
        .await
        .map_err(|e| match e {
            TokenError::Unavailable(m) => {
                ApiError::BadGateway(format!("could not get a token: {m}"))
            }
            other => ApiError::Conflict(other.to_string()),
        })?;
    let shop =
        ShopDomain::parse(&connection.shop).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    deps.stores
        .shopify
        .client
        .locations(&shop, &token)
        .await
        .map_err(|e| match e {
            ClientError::Unauthorized => {
                ApiError::Conflict("Shopify rejected the store's credentials: reconnect it".into())
            }
            other => {
                ApiError::BadGateway(format!("could not read locations from Shopify: {other}"))
            }
        })
}

/// A Magento store's MSI sources as locations (none without MSI).
/// A Magento store's MSI sources (`None`: the store has no MSI).
async fn magento_sources(
    deps: &ApiDeps,
    connection: &Connection,
) -> Result<Option<Vec<Source>>, ApiError> {
    let creds = deps
        .stores
        .magento_credentials(connection)
        .await
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    deps.stores
        .magento()
        .sources(&creds)
        .await
        .map_err(|e| match e {
            ClientError::Unauthorized => {
                ApiError::Conflict("Magento rejected the store's credentials: reconnect it".into())
            }
            other => ApiError::BadGateway(format!("could not read sources from Magento: {other}")),
        })
}

/// `GET /api/connections/{id}/locations`: where the merchant can fulfil and stock from.
async fn locations(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let connection = owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let locations = fetch_locations(&deps, &connection).await?;
    let body: Vec<Value> = locations
        .iter()
        .map(|l| json!({"id": l.id, "name": l.name, "active": l.active, "fulfills_online_orders": l.fulfills_online_orders}))
        .collect();
    Ok(Json(json!({ "locations": body })))
}

/// `PATCH /api/connections/{id}` with `{"settings": {...}}`: only the given settings change;
/// `null` clears a location. Location ids are checked against the store's active locations.
async fn patch_settings(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Connection>, ApiError> {
    let mut connection =
        owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let body: Value = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let Some(changes) = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("settings"))
        .and_then(Value::as_object)
    else {
        return Err(ApiError::Unprocessable(
            "expected {\"settings\": {...}}".into(),
        ));
    };
    let previous_mode = connection.settings.inventory_sync;
    let mut settings = serde_json::to_value(&connection.settings)
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let mut new_locations = Vec::new();
    for (key, value) in changes {
        match key.as_str() {
            "fulfilment_location" | "inventory_location" => match value {
                Value::Null => {}
                Value::String(s) if !s.trim().is_empty() && s.len() <= 200 => {
                    new_locations.push(s.trim().to_owned())
                }
                _ => {
                    return Err(ApiError::Unprocessable(format!(
                        "{key} must be a location id or null"
                    )))
                }
            },
            "order_allocation" => {} // checked once the settings are parsed
            "inventory_sync" | "notify_customer" | "safety_buffer" | "max_listed"
            | "import_unpaid" => {}
            other => return Err(ApiError::Unprocessable(format!("unknown setting {other}"))),
        }
        settings[key] = value.clone();
    }
    connection.settings = serde_json::from_value(settings)
        .map_err(|e| ApiError::Unprocessable(format!("invalid settings: {e}")))?;
    check_allocation(connection.settings.order_allocation.as_deref())?;
    if connection.channel == Channel::Woocommerce {
        connect::check_location_settings(connection.channel, Some(&connection.settings))?;
    }
    if connection.channel == Channel::Magento && !new_locations.is_empty() {
        let sources = magento_sources(&deps, &connection).await?;
        connect::check_magento_locations(&connection.settings, sources.as_deref())?;
        new_locations.clear();
    }
    if !new_locations.is_empty() {
        let known = fetch_locations(&deps, &connection).await?;
        for wanted in new_locations {
            let found = known
                .iter()
                .find(|l| l.id == wanted || l.id.rsplit('/').next() == Some(wanted.as_str()));
            match found {
                Some(l) if l.active => {}
                Some(_) => {
                    return Err(ApiError::Unprocessable(format!(
                        "location {wanted} is not active"
                    )))
                }
                None => {
                    return Err(ApiError::Unprocessable(format!(
                        "the store has no location {wanted}"
                    )))
                }
            }
        }
    }
    connection.updated_at = chrono::Utc::now();
    deps.connections.update(&connection).await?;
    // Switched on: the store gets every quantity now, not at the next daily push.
    if previous_mode == SyncMode::Disabled
        && connection.settings.inventory_sync != SyncMode::Disabled
        && connection.status == ConnectionStatus::Active
    {
        crate::inventory::engine::start_full(
            &*deps.inventory.records,
            &*deps.inventory.push_queue,
            &connection,
            crate::inventory::runs::RunKind::Enabled,
            false,
        )
        .await?;
    }
    Ok(Json(connection))
}
