//! The WMS's management API (`/api/...`), bearer token per tenant. A tenant only ever sees
//! its own connections.

use super::{bearer_tenant, ApiError};
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::shopify::ShopifyClient;
use crate::channels::ClientError;
use crate::domain::{
    Channel, Connection, ConnectionId, ConnectionSettings, ConnectionStatus, ShopDomain, TenantId,
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
}

/// The management routes.
pub fn router(deps: Arc<ApiDeps>) -> Router {
    Router::new()
        .route("/api/connections", get(list).post(create))
        .route("/api/connections/{id}", get(get_one))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(deps)
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
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let not_found = || ApiError::NotFound(format!("no connection {id}"));
    let parsed = ConnectionId::parse(id.clone()).map_err(|_| not_found())?;
    deps.connections
        .get(&tenant, &parsed)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

async fn create(
    State(deps): State<Arc<ApiDeps>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Connection>), ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let body = body?;
    let request: NewConnection = serde_json::from_slice(&body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        } else {
            ApiError::Unprocessable(format!("invalid connection: {e}"))
        }
    })?;
    match request {
        NewConnection::Shopify {
            shop_domain,
            access_token,
            settings,
        } => connect_shopify(&deps, tenant, &shop_domain, access_token, settings).await,
    }
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
                existing,
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
