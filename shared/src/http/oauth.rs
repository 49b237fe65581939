//! OAuth installs for every channel whose stores install by OAuth (the `oauth` function and
//! `serve`). The channel's [`OAuthApp`] supplies the consent URL, its signatures and the code
//! exchange; the flow here is the same for all:
//!
//! - the WMS dashboard: `POST /api/oauth/{channel}/start {"shop"?}` (bearer, so the tenant is
//!   known) → `{"authorize_url"}` for the browser;
//! - a channel-initiated install (Shopify's App Store link):
//!   `GET /oauth/{channel}/install?…` (no tenant) → redirect to the consent screen.
//!
//! `GET /oauth/{channel}/callback` checks what the channel signs, consumes the single-use
//! `state` (10 minutes, bound to the tenant, the channel and the store; for channels that
//! require PKCE its verifier waits in the vault and is taken once), has the channel exchange the code, and stores the
//! credentials. With a tenant it creates or re-activates the connection; an install whose
//! store is not connected yet and whose tenant is unknown is parked under a one-time claim code
//! (1 day) that the dashboard redeems with `POST /api/oauth/{channel}/claim {"claim"}` — an
//! install is never bound to a guessed tenant. Every outcome redirects the browser to
//! `CHANNEL_SYNC_DASHBOARD_URL` with `{channel}=connected|claim|error`.

use super::{bearer_tenant, ApiError};
use crate::channels::adapter::{Callback, CallbackError, ChannelAdapter, InstallError, OAuthApp};
use crate::channels::registry::Registry;
use crate::channels::store::ConnectError;
use crate::domain::{Channel, Connection, TenantId};
use crate::keys;
use crate::ports::{Claim, Connections, Idempotency, Secret, Tenants, Vault};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

const STATE_TTL: Duration = Duration::from_secs(600);
const CLAIM_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long one redemption holds a claim code.
const REDEEM_LEASE: Duration = Duration::from_secs(60);

/// What the install routes need.
pub struct OAuthDeps {
    pub connections: Arc<dyn Connections>,
    pub tenants: Arc<dyn Tenants>,
    pub vault: Arc<dyn Vault>,
    /// Single use of states and claim codes (the `oauth-*-used#…` claims). The states and
    /// parked claims themselves are values: the registry context's `values`.
    pub idempotency: Arc<dyn Idempotency>,
    /// Each channel's OAuth app; our public URL (redirects) is the registry's.
    pub channels: Arc<Registry>,
    /// `CHANNEL_SYNC_DASHBOARD_URL`: where the browser ends up.
    pub dashboard_url: String,
}

/// The channel of a route and its configured OAuth app.
struct App<'a> {
    channel: Channel,
    app: &'a dyn OAuthApp,
    redirect_uri: String,
    dashboard_url: &'a str,
}

impl App<'_> {
    fn dashboard(&self, params: &[(&str, &str)]) -> Redirect {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            query.append_pair(k, v);
        }
        let base = self.dashboard_url;
        let sep = if base.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{base}{sep}{}", query.finish()))
    }

    /// `{channel}=error&reason=…` (plus extra pairs).
    fn error(&self, reason: &str, extra: &[(&str, &str)]) -> Redirect {
        let mut params = vec![(self.channel.as_str(), "error"), ("reason", reason)];
        params.extend_from_slice(extra);
        self.dashboard(&params)
    }
}

impl OAuthDeps {
    /// The OAuth app of the route's channel: 404 for a channel without OAuth installs, 503
    /// when its app is not configured.
    fn app(&self, channel: &str) -> Result<App<'_>, ApiError> {
        let unknown = || ApiError::NotFound(format!("no OAuth install for channel '{channel}'"));
        let adapter: &dyn ChannelAdapter = self.channels.by_name(channel).ok_or_else(unknown)?;
        let app = adapter.oauth().ok_or_else(unknown)?;
        if !app.is_configured() {
            return Err(ApiError::Unavailable(format!(
                "the {} app is not configured",
                adapter.channel()
            )));
        }
        Ok(App {
            channel: adapter.channel(),
            app,
            redirect_uri: format!(
                "{}/oauth/{}/callback",
                self.channels.context().public_url,
                adapter.channel()
            ),
            dashboard_url: &self.dashboard_url,
        })
    }
}

/// The install routes (Shopify's paths are `/…/shopify/…`, as before).
pub fn router(deps: Arc<OAuthDeps>) -> Router {
    Router::new()
        .route("/api/oauth/{channel}/start", post(start))
        .route("/api/oauth/{channel}/claim", post(claim))
        .route("/oauth/{channel}/install", get(install))
        .route("/oauth/{channel}/callback", get(callback))
        .with_state(deps)
}

fn shopify() -> Channel {
    Channel::Shopify
}

/// A single-use install state. States issued before channels were named in them were
/// Shopify's (hence the default).
#[derive(Serialize, Deserialize)]
struct StateRecord {
    tenant: Option<TenantId>,
    #[serde(default = "shopify")]
    channel: Channel,
    #[serde(default)]
    shop: Option<String>,
    /// A PKCE verifier was issued with the state; it is kept in the vault (it is a secret:
    /// with the code it obtains the store's tokens), never in this record.
    #[serde(default)]
    pkce: bool,
}

#[derive(Serialize, Deserialize)]
struct ClaimRecord {
    shop: String,
    #[serde(default = "shopify")]
    channel: Channel,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A PKCE verifier (RFC 7636: 43–128 unreserved characters) and its S256 challenge.
fn pkce_pair() -> (String, String) {
    let verifier =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 48]>());
    let challenge = s256(&verifier);
    (verifier, challenge)
}

/// The S256 challenge of a PKCE verifier: base64url (no padding) of its SHA-256.
fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Where an install state's PKCE verifier waits for the callback.
fn pkce_name(state: &str) -> String {
    format!("oauth-pkce/{state}")
}

/// The PKCE verifier issued with `state`, taken once (deleted as it is read).
async fn take_verifier(deps: &OAuthDeps, state: &str) -> Result<Option<String>, ApiError> {
    let name = pkce_name(state);
    let verifier = deps.vault.get(&name).await?;
    if verifier.is_some() {
        deps.vault.delete(&name).await?;
    }
    Ok(verifier.map(|v| v.expose().to_owned()))
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

impl From<CallbackError> for ApiError {
    fn from(e: CallbackError) -> Self {
        match e {
            CallbackError::BadSignature(m) => ApiError::Unauthorized(m),
            CallbackError::BadRequest(m) => ApiError::BadRequest(m),
        }
    }
}

/// Issues a single-use state bound to `tenant` (if known), the channel and `shop`, and the
/// consent URL that carries it.
async fn issue_state(
    deps: &OAuthDeps,
    app: &App<'_>,
    tenant: Option<TenantId>,
    shop: Option<String>,
) -> Result<String, ApiError> {
    let state = random_token();
    let (verifier, challenge) = match app.app.pkce() {
        true => {
            let (v, c) = pkce_pair();
            (Some(v), Some(c))
        }
        false => (None, None),
    };
    let url = app.app.authorize_url(
        shop.as_deref(),
        &app.redirect_uri,
        &state,
        challenge.as_deref(),
    );
    if let Some(verifier) = &verifier {
        deps.vault
            .put(&pkce_name(&state), &Secret::new(verifier.as_str()))
            .await?;
    }
    let record = serde_json::to_value(StateRecord {
        tenant,
        channel: app.channel,
        shop,
        pkce: verifier.is_some(),
    })
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    deps.channels
        .context()
        .values
        .put(&keys::oauth_state(&state), &record, Some(STATE_TTL))
        .await?;
    Ok(url)
}

/// Consumes a state once: `None` when unknown, expired or already used.
async fn consume_state(deps: &OAuthDeps, state: &str) -> Result<Option<StateRecord>, ApiError> {
    if state.is_empty() || state.len() > 128 {
        return Ok(None);
    }
    let values = &deps.channels.context().values;
    let Some(record) = values.get(&keys::oauth_state(state)).await? else {
        return Ok(None);
    };
    // Single use: the state's value is only read; the claim of its `used` key decides.
    let used = keys::oauth_state_used(state);
    let Claim::Acquired(fence) = deps.idempotency.claim(&used, STATE_TTL).await? else {
        return Ok(None);
    };
    if !deps
        .idempotency
        .finish(&used, &fence, &json!(true), Some(STATE_TTL))
        .await?
    {
        return Ok(None);
    }
    Ok(serde_json::from_value(record).ok())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    /// The store, as the channel names stores up front: `market` for TikTok Shop
    /// (`{"market": "us"}`), `marketplace` for eBay (the marketplace id the seller sells on,
    /// e.g. `EBAY_GB`).
    #[serde(default, alias = "market", alias = "marketplace")]
    shop: Option<String>,
}

async fn start(
    State(deps): State<Arc<OAuthDeps>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let app = deps.app(&channel)?;
    let body = body?;
    let request: StartRequest = if body.is_empty() {
        StartRequest { shop: None }
    } else {
        parse_json(&body)?
    };
    let shop = app
        .app
        .parse_shop(request.shop.as_deref())
        .map_err(ApiError::Unprocessable)?;
    let url = issue_state(&deps, &app, Some(tenant), shop).await?;
    Ok(Json(json!({ "authorize_url": url })))
}

async fn install(
    State(deps): State<Arc<OAuthDeps>>,
    Path(channel): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Redirect, ApiError> {
    let app = deps.app(&channel)?;
    let pairs = query_pairs(raw.as_deref());
    let shop = app
        .app
        .install_link(&pairs)
        .ok_or_else(|| ApiError::NotFound(format!("{} has no install link", app.channel)))??;
    let url = issue_state(&deps, &app, None, Some(shop)).await?;
    Ok(Redirect::to(&url))
}

async fn callback(
    State(deps): State<Arc<OAuthDeps>>,
    Path(channel): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Redirect, ApiError> {
    let app = deps.app(&channel)?;
    let pairs = query_pairs(raw.as_deref());
    let named = app.app.verify_callback(&pairs)?;
    let state_param = param(&pairs, "state").unwrap_or_default();
    let state = consume_state(&deps, state_param)
        .await?
        .filter(|s| s.channel == app.channel)
        .filter(|s| named.is_none() || s.shop.is_none() || s.shop == named)
        .ok_or_else(|| {
            ApiError::BadRequest("the install state is unknown, expired or already used".into())
        })?;
    // eBay's codes are up to 1024 characters.
    let code = param(&pairs, "code").filter(|c| !c.is_empty() && c.len() <= 2048);
    let Some(code) = code else {
        return Ok(app.error("missing_code", &[]));
    };
    let shop = state.shop.clone().or(named);
    let verifier = match state.pkce {
        true => take_verifier(&deps, state_param).await?,
        false => None,
    };
    let installed = match app
        .app
        .exchange(
            code,
            Callback {
                query: &pairs,
                shop: shop.as_deref(),
                redirect_uri: &app.redirect_uri,
                pkce_verifier: verifier.as_deref(),
            },
        )
        .await
    {
        Ok(installed) => installed,
        Err(InstallError::ExchangeFailed(e)) => {
            tracing::warn!(channel = %app.channel, shop = ?shop, error = %e, "code exchange failed");
            return Ok(app.error("exchange_failed", &[]));
        }
        Err(InstallError::MissingScopes(missing)) => {
            tracing::warn!(channel = %app.channel, shop = ?shop, missing = ?missing, "granted scopes are not enough");
            return Ok(app.error("missing_scopes", &[("missing", &missing.join(","))]));
        }
    };
    // A reinstall of a store that is already connected goes back to its owner. A store its
    // owner disconnected (or uninstalled) may have changed hands: whoever installs it now is
    // not known to be that tenant, so the install is parked until a tenant claims it.
    let owner = match state.tenant {
        Some(tenant) => Some(tenant),
        None => deps
            .connections
            .find_by_shop(app.channel, &installed.shop)
            .await?
            .filter(|c| c.status != crate::domain::ConnectionStatus::Disconnected)
            .map(|c| c.tenant),
    };
    match owner {
        Some(tenant) => connect(&deps, &app, &tenant, installed).await,
        None => park(&deps, &app, &installed.shop, &installed.credentials).await,
    }
}

async fn connect(
    deps: &OAuthDeps,
    app: &App<'_>,
    tenant: &TenantId,
    installed: crate::channels::adapter::Installed,
) -> Result<Redirect, ApiError> {
    let result = deps
        .channels
        .context()
        .upsert_connection(
            tenant,
            app.channel,
            &installed.shop,
            &installed.credentials,
            installed.display_name,
            None,
        )
        .await;
    match result {
        Ok((_, connection)) => {
            subscribe(deps, app, &connection, &installed.credentials).await;
            Ok(app.dashboard(&[
                (app.channel.as_str(), "connected"),
                ("connection", connection.id.as_str()),
            ]))
        }
        Err(ConnectError::Conflict(_)) => Ok(app.error("shop_owned_by_another_account", &[])),
        Err(e) => Err(e.into()),
    }
}

/// Subscribes the new store's webhooks and records the check. Best effort: a failure is
/// logged by the channel and the daily health check repairs it.
async fn subscribe(deps: &OAuthDeps, app: &App<'_>, connection: &Connection, credentials: &Secret) {
    let Some(report) = app.app.after_connect(connection, credentials).await else {
        return;
    };
    let record =
        json!({"at": chrono::Utc::now(), "existing": report.existing, "created": report.created});
    let key = keys::webhook_health_last(&connection.id);
    if let Err(e) = deps
        .channels
        .context()
        .values
        .put(&key, &record, None)
        .await
    {
        tracing::warn!(error = %e, "could not record the subscriptions");
    }
    tracing::info!(connection = %connection.id, created = ?report.created, "webhook subscriptions ensured");
}

/// Keeps an install's credentials under a one-time claim code, listed for the purge (first,
/// so credentials are never stored unlisted), and purges the codes that expired unredeemed.
async fn park(
    deps: &OAuthDeps,
    app: &App<'_>,
    shop: &str,
    credentials: &Secret,
) -> Result<Redirect, ApiError> {
    let code = random_token();
    let records = &deps.channels.context().records;
    let expires = chrono::Utc::now()
        + chrono::Duration::from_std(CLAIM_TTL).unwrap_or(chrono::Duration::days(1));
    records
        .put(
            keys::partition::PARKED_INSTALLS,
            &code,
            expires.timestamp_millis(),
            &json!({ "shop": shop, "channel": app.channel }),
        )
        .await?;
    deps.vault
        .put(&format!("pending/{code}"), credentials)
        .await?;
    let record = serde_json::to_value(ClaimRecord {
        shop: shop.to_owned(),
        channel: app.channel,
    })
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    deps.channels
        .context()
        .values
        .put(&keys::oauth_claim(&code), &record, Some(CLAIM_TTL))
        .await?;
    tracing::info!(channel = %app.channel, shop, "install parked until the dashboard claims it");
    match purge_parked_installs(&**records, &*deps.vault, chrono::Utc::now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "unclaimed parked installs deleted"),
        Err(e) => tracing::warn!(error = %e, "could not purge parked installs"),
    }
    Ok(app.dashboard(&[
        (app.channel.as_str(), "claim"),
        ("claim", &code),
        ("shop", shop),
    ]))
}

/// The work of a redemption: the parked credentials become the tenant's connection.
async fn redeem(
    deps: &OAuthDeps,
    tenant: &TenantId,
    channel: Channel,
    code: &str,
    shop: &str,
) -> Result<(bool, Connection, Secret), ApiError> {
    let pending = format!("pending/{code}");
    let Some(credentials) = deps.vault.get(&pending).await? else {
        return Err(ApiError::NotFound(
            "unknown, expired or already used claim".into(),
        ));
    };
    let (created, connection) = deps
        .channels
        .context()
        .upsert_connection(tenant, channel, shop, &credentials, None, None)
        .await?;
    deps.vault.delete(&pending).await?;
    Ok((created, connection, credentials))
}

/// Deletes the credentials of parked installs whose claim code expired unredeemed (they hold
/// live tokens of a store nobody connected), and unlists them. Run when an install is parked
/// and hourly by `serve`. Returns how many were purged.
pub async fn purge_parked_installs(
    records: &dyn crate::ports::Records,
    vault: &dyn Vault,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, crate::ports::PortError> {
    const PAGES: usize = 10;
    let partition = keys::partition::PARKED_INSTALLS;
    let now = now.timestamp_millis();
    let mut purged = 0;
    let mut after: Option<String> = None;
    for _ in 0..PAGES {
        let page = records.page(partition, "", after.as_deref(), 100).await?;
        for parked in page.records.iter().filter(|r| r.version <= now) {
            vault.delete(&format!("pending/{}", parked.key)).await?;
            if records
                .remove_if_version(partition, &parked.key, parked.version)
                .await?
            {
                purged += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(purged)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    claim: String,
}

async fn claim(
    State(deps): State<Arc<OAuthDeps>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Connection>), ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let app = deps.app(&channel)?;
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
        .channels
        .context()
        .values
        .get(&key)
        .await?
        .and_then(|r| serde_json::from_value(r).ok())
        .filter(|r: &ClaimRecord| r.channel == app.channel)
        .ok_or_else(invalid)?;
    // Held only while this request works: a failure gives the code back at once (a crash,
    // after the lease); only a connected store uses it up.
    let used = keys::oauth_claim_used(&request.claim);
    let fence = match deps.idempotency.claim(&used, REDEEM_LEASE).await? {
        Claim::Acquired(fence) => fence,
        Claim::Done(_) => return Err(invalid()),
        Claim::InProgress => {
            return Err(ApiError::RetryLater {
                message: "this claim is being redeemed by another request; retry".into(),
                retry_after: REDEEM_LEASE,
            })
        }
    };
    let redeemed = redeem(&deps, &tenant, app.channel, &request.claim, &record.shop).await;
    let (created, connection, credentials) = match redeemed {
        Ok(done) => done,
        Err(e) => {
            if let Err(release) = deps.idempotency.release(&used, &fence).await {
                tracing::warn!(error = %release, "could not give the claim code back; its lease expires");
            }
            return Err(e);
        }
    };
    deps.idempotency
        .finish(&used, &fence, &json!(true), Some(CLAIM_TTL))
        .await?;
    if let Err(e) = deps
        .channels
        .context()
        .records
        .remove(keys::partition::PARKED_INSTALLS, &request.claim)
        .await
    {
        tracing::warn!(error = %e, "could not unlist the redeemed install; the purge skips it");
    }
    subscribe(&deps, &app, &connection, &credentials).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(connection)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636 appendix B's vector.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let (verifier, challenge) = pkce_pair();
        assert!((43..=128).contains(&verifier.len()), "{}", verifier.len());
        assert!(verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(challenge, s256(&verifier));
        assert_ne!(pkce_pair().0, verifier, "a new verifier each time");
    }

    /// An OAuth app that asks for PKCE, as Etsy does.
    #[cfg(feature = "embedded")]
    struct PkceApp;

    #[cfg(feature = "embedded")]
    #[async_trait::async_trait]
    impl OAuthApp for PkceApp {
        fn is_configured(&self) -> bool {
            true
        }
        fn pkce(&self) -> bool {
            true
        }
        fn parse_shop(&self, _raw: Option<&str>) -> Result<Option<String>, String> {
            Ok(None)
        }
        fn authorize_url(
            &self,
            _shop: Option<&str>,
            _redirect_uri: &str,
            state: &str,
            pkce_challenge: Option<&str>,
        ) -> String {
            format!(
                "https://consent.example/?state={state}&code_challenge={}",
                pkce_challenge.unwrap_or_default()
            )
        }
        async fn exchange(
            &self,
            _code: &str,
            _callback: Callback<'_>,
        ) -> Result<crate::channels::adapter::Installed, InstallError> {
            Err(InstallError::ExchangeFailed("not in this test".into()))
        }
        async fn after_connect(
            &self,
            _connection: &Connection,
            _credentials: &Secret,
        ) -> Option<crate::channels::adapter::HealthReport> {
            None
        }
    }

    /// The verifier is a secret: it waits in the vault, never in the state record, and the
    /// callback takes it once.
    #[cfg(feature = "embedded")]
    #[tokio::test]
    async fn a_pkce_verifier_waits_in_the_vault_and_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::embedded::EmbeddedStore::open(dir.path()).unwrap();
        let vault = Arc::new(crate::embedded::EmbeddedVault::open(dir.path()).unwrap());
        let deps = OAuthDeps {
            connections: Arc::new(store.clone()),
            tenants: Arc::new(store.clone()),
            vault: vault.clone(),
            idempotency: Arc::new(store.clone()),
            channels: crate::channels::testkit::test_registry(&store, vault.clone(), None),
            dashboard_url: "https://wms.example/i".into(),
        };
        let app = App {
            channel: Channel::Etsy,
            app: &PkceApp,
            redirect_uri: "https://sync.example/oauth/etsy/callback".into(),
            dashboard_url: &deps.dashboard_url,
        };
        let url = issue_state(&deps, &app, None, None).await.unwrap();
        let state = url
            .split("state=")
            .nth(1)
            .and_then(|r| r.split('&').next())
            .unwrap()
            .to_owned();
        let record = deps
            .channels
            .context()
            .values
            .get(&keys::oauth_state(&state))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record["pkce"], true);
        let stored = record.to_string();
        let verifier = take_verifier(&deps, &state).await.unwrap().unwrap();
        assert!(
            !stored.contains(&verifier),
            "the verifier is not in the record"
        );
        assert!(url.ends_with(&format!("code_challenge={}", s256(&verifier))));
        assert_eq!(take_verifier(&deps, &state).await.unwrap(), None);
    }

    #[test]
    fn states_issued_before_channels_were_named_are_shopify_installs() {
        let old: StateRecord =
            serde_json::from_value(json!({"tenant": "dev", "shop": "a.myshopify.com"})).unwrap();
        assert_eq!(old.channel, Channel::Shopify);
        assert_eq!(old.shop.as_deref(), Some("a.myshopify.com"));
        assert!(!old.pkce);
    }
}

#[cfg(all(test, feature = "embedded"))]
mod claim_tests {
    use super::*;
    use crate::channels::testkit::test_registry;
    use crate::embedded::{EmbeddedStore, EmbeddedVault};
    use crate::ports::PortError;
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A vault whose next read of a parked install fails once (the store blinked).
    struct BlinkingVault {
        inner: Arc<EmbeddedVault>,
        blink: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Vault for BlinkingVault {
        async fn put(&self, name: &str, value: &Secret) -> crate::ports::PortResult<()> {
            self.inner.put(name, value).await
        }
        async fn get(&self, name: &str) -> crate::ports::PortResult<Option<Secret>> {
            if name.starts_with("pending/") && self.blink.swap(false, Ordering::SeqCst) {
                return Err(PortError::Unavailable("the vault blinked".into()));
            }
            self.inner.get(name).await
        }
        async fn delete(&self, name: &str) -> crate::ports::PortResult<()> {
            self.inner.delete(name).await
        }
    }

    struct World {
        deps: Arc<OAuthDeps>,
        vault: Arc<BlinkingVault>,
        _shopify: wiremock::MockServer,
        _dir: tempfile::TempDir,
    }

    async fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let inner = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
        // Subscriptions after connecting go to a fake that answers nothing (best effort).
        let shopify = wiremock::MockServer::start().await;
        let channels = test_registry(&store, inner.clone(), Some(shopify.uri()));
        let vault = Arc::new(BlinkingVault {
            inner,
            blink: AtomicBool::new(false),
        });
        let tenant = TenantId::parse("dev").unwrap();
        store
            .put_token(&tenant, &crate::http::token_sha256("tok_fake_claim"))
            .await
            .unwrap();
        let deps = Arc::new(OAuthDeps {
            connections: Arc::new(store.clone()),
            tenants: Arc::new(store.clone()),
            vault: vault.clone(),
            idempotency: Arc::new(store),
            channels,
            dashboard_url: "https://dashboard.example".into(),
        });
        World {
            deps,
            vault,
            _shopify: shopify,
            _dir: dir,
        }
    }

    /// Parks an install of `shop` and returns its claim code.
    async fn parked(w: &World, shop: &str) -> String {
        let app = w.deps.app("shopify").unwrap();
        let credentials = Secret::new(r#"{"access_token":"shpat_fake_parked"}"#);
        let redirect = park(&w.deps, &app, shop, &credentials).await.unwrap();
        let response = redirect.into_response();
        let location = response.headers()[http::header::LOCATION].to_str().unwrap();
        let url = url::Url::parse(location).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "claim")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }

    async fn redeem(w: &World, code: &str) -> Result<StatusCode, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer tok_fake_claim".parse().unwrap(),
        );
        let body = Bytes::from(json!({ "claim": code }).to_string());
        claim(
            State(w.deps.clone()),
            Path("shopify".into()),
            headers,
            Ok(body),
        )
        .await
        .map(|(status, _)| status)
    }

    /// Issue 15, item 12: a claim whose work fails (the vault blinked) is not used up: the
    /// dashboard's retry connects the store; once used, the code is gone.
    #[tokio::test]
    async fn a_claim_that_fails_midway_can_be_retried_and_is_single_use_once_done() {
        let w = world().await;
        let code = parked(&w, "parked.myshopify.com").await;
        w.vault.blink.store(true, Ordering::SeqCst);
        let first = redeem(&w, &code).await;
        assert!(matches!(first, Err(ApiError::Unavailable(_))), "{first:?}");
        assert_eq!(redeem(&w, &code).await.unwrap(), StatusCode::CREATED);
        assert!(matches!(
            redeem(&w, &code).await,
            Err(ApiError::NotFound(_))
        ));
        assert_eq!(w.vault.get(&format!("pending/{code}")).await.unwrap(), None);
    }

    /// Issue 15, item 12: the credentials of an install nobody claimed (live tokens) are
    /// deleted once the claim code expired; a redeemed one is no longer listed.
    #[tokio::test]
    async fn unclaimed_parked_installs_are_deleted_once_their_code_expired() {
        let w = world().await;
        let records = w.deps.channels.context().records.clone();
        let stale = parked(&w, "stale.myshopify.com").await;
        let redeemed = parked(&w, "redeemed.myshopify.com").await;
        assert_eq!(redeem(&w, &redeemed).await.unwrap(), StatusCode::CREATED);
        let now = chrono::Utc::now();
        assert_eq!(
            purge_parked_installs(&*records, &*w.vault, now)
                .await
                .unwrap(),
            0,
            "nothing expired yet"
        );
        assert!(w
            .vault
            .get(&format!("pending/{stale}"))
            .await
            .unwrap()
            .is_some());
        let later = now + chrono::Duration::hours(25);
        assert_eq!(
            purge_parked_installs(&*records, &*w.vault, later)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            w.vault.get(&format!("pending/{stale}")).await.unwrap(),
            None
        );
        let left = records
            .page(keys::partition::PARKED_INSTALLS, "", None, 10)
            .await
            .unwrap();
        assert!(left.records.is_empty(), "{:?}", left.records);
    }
}
