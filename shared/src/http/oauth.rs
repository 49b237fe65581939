//! Shopify install (OAuth authorization-code grant), in the `oauth` function and `serve`.
//!
//! Two entries end at one callback:
//! - the WMS dashboard: `POST /api/oauth/shopify/start {"shop"}` (bearer, so the tenant is
//!   known) → `{"authorize_url"}` for the browser;
//! - the App Store: `GET /oauth/shopify/install?shop=&timestamp=&hmac=` (no tenant) → redirect
//!   to Shopify's grant screen.
//!
//! `GET /oauth/shopify/callback` verifies the query `hmac`, consumes the single-use `state`
//! (10 minutes), exchanges the code, checks the granted scopes and stores the credentials.
//! With a tenant it creates or re-activates the connection; an App Store install whose shop is
//! not connected yet is parked under a one-time claim code (1 day) that the dashboard redeems
//! with `POST /api/oauth/shopify/claim {"claim"}` — the install is never bound to a guessed
//! tenant. Every outcome redirects the browser to `CHANNEL_SYNC_DASHBOARD_URL`.

use super::{bearer_tenant, ApiError};
use crate::channels::registry::Registry;
use crate::channels::shopify::oauth::{
    authorize_url, missing_scopes, verify_query, ShopifyCredentials,
};
use crate::channels::shopify::{ShopifyClient, ORDER_TOPICS};
use crate::channels::store::ConnectError;
use crate::domain::{Channel, ShopDomain, TenantId};
use crate::keys;
use crate::ports::{Claim, Connections, Idempotency, Secret, Tenants, Vault};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const STATE_TTL: Duration = Duration::from_secs(600);
const CLAIM_TTL: Duration = Duration::from_secs(24 * 3600);
/// How old an App Store install link may be.
const INSTALL_MAX_AGE_SECS: i64 = 600;

/// The Shopify app's identity and where our URLs live.
#[derive(Debug, Clone)]
pub struct ShopifyApp {
    pub client_id: String,
    /// Current client secret first, then the previous one during a rotation.
    pub secrets: Vec<Secret>,
    /// `CHANNEL_SYNC_PUBLIC_URL`: the base of our redirect and webhook URLs.
    pub public_url: String,
    /// `CHANNEL_SYNC_DASHBOARD_URL`: where the browser ends up.
    pub dashboard_url: String,
}

impl ShopifyApp {
    fn redirect_uri(&self) -> String {
        format!(
            "{}/oauth/shopify/callback",
            self.public_url.trim_end_matches('/')
        )
    }

    fn dashboard(&self, params: &[(&str, &str)]) -> Redirect {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            query.append_pair(k, v);
        }
        let base = &self.dashboard_url;
        let sep = if base.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{base}{sep}{}", query.finish()))
    }
}

/// What the install routes need.
pub struct OAuthDeps {
    pub connections: Arc<dyn Connections>,
    pub tenants: Arc<dyn Tenants>,
    pub vault: Arc<dyn Vault>,
    pub idempotency: Arc<dyn Idempotency>,
    pub shopify: ShopifyClient,
    /// `None` when the app is not configured: every route answers 503.
    pub app: Option<ShopifyApp>,
    /// Creates or re-activates the installed store's connection.
    pub channels: Arc<Registry>,
}

impl OAuthDeps {
    fn app(&self) -> Result<&ShopifyApp, ApiError> {
        self.app
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("the Shopify app is not configured".into()))
    }
}

/// The install routes.
pub fn router(deps: Arc<OAuthDeps>) -> Router {
    Router::new()
        .route("/api/oauth/shopify/start", post(start))
        .route("/api/oauth/shopify/claim", post(claim))
        .route("/oauth/shopify/install", get(install))
        .route("/oauth/shopify/callback", get(callback))
        .with_state(deps)
}

#[derive(Serialize, Deserialize)]
struct StateRecord {
    tenant: Option<TenantId>,
    shop: String,
}

#[derive(Serialize, Deserialize)]
struct ClaimRecord {
    shop: String,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        } else {
            ApiError::Unprocessable(e.to_string())
        }
    })
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Issues a single-use state bound to `tenant` (if known) and `shop`.
async fn issue_state(
    deps: &OAuthDeps,
    tenant: Option<TenantId>,
    shop: &ShopDomain,
) -> Result<String, ApiError> {
    let state = random_token();
    let record = serde_json::to_value(StateRecord {
        tenant,
        shop: shop.to_string(),
    })
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    deps.idempotency
        .complete(&keys::oauth_state(&state), &record, Some(STATE_TTL))
        .await?;
    Ok(state)
}

/// Consumes a state once: `None` when unknown, expired or already used.
async fn consume_state(deps: &OAuthDeps, state: &str) -> Result<Option<StateRecord>, ApiError> {
    if state.is_empty() || state.len() > 128 {
        return Ok(None);
    }
    let Some(record) = deps.idempotency.record(&keys::oauth_state(state)).await? else {
        return Ok(None);
    };
    let used = keys::oauth_state_used(state);
    if deps.idempotency.claim(&used, STATE_TTL).await? != Claim::Acquired {
        return Ok(None);
    }
    deps.idempotency
        .complete(&used, &json!(true), Some(STATE_TTL))
        .await?;
    Ok(serde_json::from_value(record).ok())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    shop: String,
}

async fn start(
    State(deps): State<Arc<OAuthDeps>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let app = deps.app()?;
    let request: StartRequest = parse_json(&body?)?;
    let shop =
        ShopDomain::parse(&request.shop).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let state = issue_state(&deps, Some(tenant), &shop).await?;
    let url = authorize_url(&shop, &app.client_id, &app.redirect_uri(), &state);
    Ok(Json(json!({ "authorize_url": url })))
}

async fn install(
    State(deps): State<Arc<OAuthDeps>>,
    RawQuery(raw): RawQuery,
) -> Result<Redirect, ApiError> {
    let app = deps.app()?;
    let pairs = query_pairs(raw.as_deref());
    if !verify_query(&app.secrets, &pairs) {
        return Err(ApiError::Unauthorized(
            "the install link's hmac does not match".into(),
        ));
    }
    let timestamp = param(&pairs, "timestamp").and_then(|t| t.parse::<i64>().ok());
    let fresh = timestamp
        .is_some_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= INSTALL_MAX_AGE_SECS);
    if !fresh {
        return Err(ApiError::BadRequest(
            "the install link is missing its timestamp or has expired".into(),
        ));
    }
    let shop = ShopDomain::parse(param(&pairs, "shop").unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let state = issue_state(&deps, None, &shop).await?;
    Ok(Redirect::to(&authorize_url(
        &shop,
        &app.client_id,
        &app.redirect_uri(),
        &state,
    )))
}

async fn callback(
    State(deps): State<Arc<OAuthDeps>>,
    RawQuery(raw): RawQuery,
) -> Result<Redirect, ApiError> {
    let app = deps.app()?;
    let pairs = query_pairs(raw.as_deref());
    if !verify_query(&app.secrets, &pairs) {
        return Err(ApiError::Unauthorized(
            "the callback's hmac does not match".into(),
        ));
    }
    let shop = ShopDomain::parse(param(&pairs, "shop").unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let state = consume_state(&deps, param(&pairs, "state").unwrap_or_default())
        .await?
        .filter(|s| s.shop == shop.as_str())
        .ok_or_else(|| {
            ApiError::BadRequest("the install state is unknown, expired or already used".into())
        })?;
    let code = param(&pairs, "code").filter(|c| !c.is_empty() && c.len() <= 256);
    let Some(code) = code else {
        return Ok(app.dashboard(&[("shopify", "error"), ("reason", "missing_code")]));
    };
    let secret = app
        .secrets
        .first()
        .ok_or_else(|| ApiError::Unavailable("no client secret".into()))?;
    let credentials = match deps
        .shopify
        .exchange_code(&shop, &app.client_id, secret, code)
        .await
    {
        Ok(credentials) => credentials,
        Err(e) => {
            tracing::warn!(shop = %shop, error = %e, "code exchange failed");
            return Ok(app.dashboard(&[("shopify", "error"), ("reason", "exchange_failed")]));
        }
    };
    let missing = missing_scopes(&credentials.scope);
    if !missing.is_empty() {
        tracing::warn!(shop = %shop, missing = ?missing, "granted scopes are not enough");
        return Ok(app.dashboard(&[
            ("shopify", "error"),
            ("reason", "missing_scopes"),
            ("missing", &missing.join(",")),
        ]));
    }
    // A reinstall of a shop that is already connected goes back to its owner.
    let owner = match state.tenant {
        Some(tenant) => Some(tenant),
        None => deps
            .connections
            .find_by_shop(Channel::Shopify, shop.as_str())
            .await?
            .map(|c| c.tenant),
    };
    match owner {
        Some(tenant) => connect(&deps, app, &tenant, &shop, &credentials).await,
        None => park(&deps, app, &shop, &credentials).await,
    }
}

async fn connect(
    deps: &OAuthDeps,
    app: &ShopifyApp,
    tenant: &TenantId,
    shop: &ShopDomain,
    credentials: &ShopifyCredentials,
) -> Result<Redirect, ApiError> {
    let result = deps
        .channels
        .context()
        .upsert_connection(
            tenant,
            Channel::Shopify,
            shop.as_str(),
            &credentials.to_secret(),
            None,
            None,
        )
        .await;
    match result {
        Ok((_, connection)) => {
            subscribe(deps, app, &connection, shop, credentials).await;
            Ok(app.dashboard(&[
                ("shopify", "connected"),
                ("connection", connection.id.as_str()),
            ]))
        }
        Err(ConnectError::Conflict(_)) => Ok(app.dashboard(&[
            ("shopify", "error"),
            ("reason", "shop_owned_by_another_account"),
        ])),
        Err(e) => Err(e.into()),
    }
}

/// Subscribes the new store to the topics we use (list first, create only what is missing).
/// Best effort: a failure is logged and the daily health check repairs it.
async fn subscribe(
    deps: &OAuthDeps,
    app: &ShopifyApp,
    connection: &crate::domain::Connection,
    shop: &ShopDomain,
    credentials: &ShopifyCredentials,
) {
    let url = format!("{}/webhooks/shopify", app.public_url.trim_end_matches('/'));
    let token = Secret::new(credentials.access_token.clone());
    match deps
        .shopify
        .ensure_subscriptions(shop, &token, ORDER_TOPICS, &url)
        .await
    {
        Ok(report) => {
            let record = json!({"at": chrono::Utc::now(), "existing": report.existing, "created": report.created});
            let key = keys::webhook_health_last(&connection.id);
            if let Err(e) = deps.idempotency.complete(&key, &record, None).await {
                tracing::warn!(error = %e, "could not record the subscriptions");
            }
            tracing::info!(connection = %connection.id, created = ?report.created, "webhook subscriptions ensured");
        }
        Err(e) => {
            tracing::warn!(connection = %connection.id, error = %e, "could not subscribe to webhooks; the daily check retries")
        }
    }
}

/// Keeps an App Store install's credentials under a one-time claim code.
async fn park(
    deps: &OAuthDeps,
    app: &ShopifyApp,
    shop: &ShopDomain,
    credentials: &ShopifyCredentials,
) -> Result<Redirect, ApiError> {
    let code = random_token();
    deps.vault
        .put(&format!("pending/{code}"), &credentials.to_secret())
        .await?;
    let record = serde_json::to_value(ClaimRecord {
        shop: shop.to_string(),
    })
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    deps.idempotency
        .complete(&keys::oauth_claim(&code), &record, Some(CLAIM_TTL))
        .await?;
    tracing::info!(shop = %shop, "install parked until the dashboard claims it");
    Ok(app.dashboard(&[
        ("shopify", "claim"),
        ("claim", &code),
        ("shop", shop.as_str()),
    ]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    claim: String,
}

async fn claim(
    State(deps): State<Arc<OAuthDeps>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<crate::domain::Connection>), ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let request: ClaimRequest = parse_json(&body?)?;
    let invalid = || ApiError::NotFound("unknown, expired or already used claim".into());
    if request.claim.is_empty()
        || request.claim.len() > 128
        || !request.claim.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(invalid());
    }
    let key = keys::oauth_claim(&request.claim);
    let record: ClaimRecord = deps
        .idempotency
        .record(&key)
        .await?
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(invalid)?;
    let used = keys::oauth_claim_used(&request.claim);
    if deps.idempotency.claim(&used, CLAIM_TTL).await? != Claim::Acquired {
        return Err(invalid());
    }
    let pending = format!("pending/{}", request.claim);
    let Some(credentials) = deps.vault.get(&pending).await? else {
        return Err(invalid());
    };
    let (created, connection) = deps
        .channels
        .context()
        .upsert_connection(
            &tenant,
            Channel::Shopify,
            &record.shop,
            &credentials,
            None,
            None,
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    deps.vault.delete(&pending).await?;
    deps.idempotency
        .complete(&used, &json!(true), Some(CLAIM_TTL))
        .await?;
    if let (Some(app), Some(creds), Ok(shop)) = (
        deps.app.as_ref(),
        ShopifyCredentials::from_secret(&credentials),
        ShopDomain::parse(&record.shop),
    ) {
        subscribe(&deps, app, &connection, &shop, &creds).await;
    }
    Ok((status, Json(connection)))
}
