//! eBay OAuth (authorization-code grant, reference §2.2): the consent URL (client id, the
//! RuName as `redirect_uri`, scopes, state), the code exchange (Basic client credentials,
//! form body), the seller's identity, and the rotation of the ~2-hour user token through
//! the channel-neutral refresher ([`crate::channels::tokens`]).

use super::client::{EbayClient, TokenGrant};
use crate::channels::adapter::{Callback, HealthReport, InstallError, Installed, OAuthApp};
use crate::channels::context::ChannelContext;
use crate::channels::tokens::{self, Refresher, TokenError, TokenPair};
use crate::channels::ClientError;
use crate::domain::Connection;
use crate::ports::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The scopes channel-sync asks for: orders and shipping fulfillments, inventory, the
/// seller's identity, notification subscriptions, and the base scope.
pub const SCOPES: &[&str] = &[
    "https://api.ebay.com/oauth/api_scope",
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
    "https://api.ebay.com/oauth/api_scope/sell.inventory",
    "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly",
    "https://api.ebay.com/oauth/api_scope/commerce.notification.subscription",
];

/// How long before expiry a user token is rotated.
const REFRESH_MARGIN_MINUTES: i64 = 5;
/// A user token's life when eBay does not say (its documented ~2 hours).
const DEFAULT_ACCESS_SECS: i64 = 7200;
/// A refresh token's life when eBay does not say (18 months, secondary sources).
const DEFAULT_REFRESH_SECS: i64 = 47_304_000;
/// Longest lifetime believed from the token endpoint (a longer one only refreshes earlier).
const MAX_LIFETIME_SECS: i64 = 2 * 366 * 24 * 3600;

/// A connection's eBay credentials as kept in the vault (one JSON secret, written whole).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct EbayCredentials {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    /// Space-separated scopes the refresh asks for again.
    pub scope: String,
    /// The seller's eBay user id and name (the cached identity, erased with the rest on
    /// account deletion).
    pub user_id: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The marketplace the merchant named at install (`EBAY_GB`), if any.
    #[serde(default)]
    pub marketplace: Option<String>,
}

impl std::fmt::Debug for EbayCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EbayCredentials")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

fn expiry(now: DateTime<Utc>, secs: Option<i64>, default: i64) -> DateTime<Utc> {
    let secs = secs.unwrap_or(default).clamp(0, MAX_LIFETIME_SECS);
    now.checked_add_signed(ChronoDuration::seconds(secs))
        .unwrap_or(now)
}

impl EbayCredentials {
    /// From an authorization-code grant (which must carry a refresh token).
    pub fn from_grant(
        grant: TokenGrant,
        user_id: String,
        username: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let refresh_token = grant
            .refresh_token
            .filter(|t| !t.is_empty())
            .ok_or("eBay granted no refresh token")?;
        Ok(Self {
            expires_at: expiry(now, grant.expires_in, DEFAULT_ACCESS_SECS),
            access_token: grant.access_token,
            refresh_token,
            refresh_expires_at: expiry(now, grant.refresh_token_expires_in, DEFAULT_REFRESH_SECS),
            scope: SCOPES.join(" "),
            user_id,
            username,
            marketplace: None,
        })
    }

    /// After a refresh: a new access token; the refresh token stays (eBay keeps it unless it
    /// sends a new one).
    fn refreshed(&self, grant: TokenGrant, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.expires_at = expiry(now, grant.expires_in, DEFAULT_ACCESS_SECS);
        next.access_token = grant.access_token;
        if let Some(token) = grant.refresh_token.filter(|t| !t.is_empty()) {
            next.refresh_token = token;
            next.refresh_expires_at =
                expiry(now, grant.refresh_token_expires_in, DEFAULT_REFRESH_SECS);
        }
        next
    }

    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    pub fn from_secret(secret: &Secret) -> Option<Self> {
        serde_json::from_str(secret.expose()).ok()
    }
}

impl TokenPair for EbayCredentials {
    fn from_secret(secret: &Secret) -> Option<Self> {
        EbayCredentials::from_secret(secret)
    }

    fn to_secret(&self) -> Secret {
        EbayCredentials::to_secret(self)
    }

    fn access_token(&self) -> &str {
        &self.access_token
    }

    fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        self.expires_at
            .checked_sub_signed(ChronoDuration::minutes(REFRESH_MARGIN_MINUTES))
            .is_none_or(|at| at <= now)
    }

    fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.expires_at)
    }
}

/// An eBay marketplace id: `EBAY_` and 2 to 10 capitals or underscores (`EBAY_US`,
/// `EBAY_GB`, `EBAY_MOTORS_US`).
pub fn valid_marketplace(raw: &str) -> bool {
    raw.strip_prefix("EBAY_").is_some_and(|rest| {
        (2..=10).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    })
}

/// The consent URL: client id, the RuName as `redirect_uri`, the scopes, the state.
pub fn authorize_url(authorize: &str, client_id: &str, runame: &str, state: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", runame)
        .append_pair("response_type", "code")
        .append_pair("scope", &SCOPES.join(" "))
        .append_pair("state", state)
        .finish();
    let sep = if authorize.contains('?') { '&' } else { '?' };
    format!("{authorize}{sep}{query}")
}

/// User tokens for jobs, through the channel-neutral refresher.
pub struct EbayTokens {
    pub client: Arc<EbayClient>,
    pub context: Arc<ChannelContext>,
}

impl EbayTokens {
    /// A user token valid now for `connection`.
    pub async fn access_token(&self, connection: &Connection) -> Result<Secret, TokenError> {
        tokens::access_token(self, connection).await
    }
}

#[async_trait]
impl Refresher for EbayTokens {
    type Pair = EbayCredentials;

    fn context(&self) -> &ChannelContext {
        &self.context
    }

    /// A refresh token past its expiry is not sent: the merchant must reconnect.
    async fn rotate(
        &self,
        _connection: &Connection,
        current: &EbayCredentials,
    ) -> Result<Option<EbayCredentials>, ClientError> {
        let now = Utc::now();
        if current.refresh_expires_at <= now {
            return Err(ClientError::Unauthorized);
        }
        let grant = self
            .client
            .refresh(&current.refresh_token, &current.scope)
            .await?;
        Ok(Some(current.refreshed(grant, now)))
    }
}

/// The eBay install.
pub struct EbayOAuth {
    pub client: Arc<EbayClient>,
    /// Our notification endpoint (`{public_url}/webhooks/ebay`).
    pub endpoint: String,
}

/// Subscribes a seller's notifications with `user_token` (see [`super::subscriptions`]).
pub async fn subscribe(
    client: &EbayClient,
    endpoint: &str,
    user_token: &Secret,
) -> Result<HealthReport, String> {
    let config = client.config();
    let token = config
        .verification_token
        .as_ref()
        .filter(|t| super::notify::valid_verification_token(t.expose()))
        .ok_or("EBAY_VERIFICATION_TOKEN is not set to 32-80 characters")?;
    let app = client.app_token().await.map_err(|e| e.to_string())?;
    super::subscriptions::ensure(client, &app, user_token, endpoint, token)
        .await
        .map_err(|e| e.to_string())
}

#[async_trait]
impl OAuthApp for EbayOAuth {
    fn is_configured(&self) -> bool {
        self.client.config().is_configured()
    }

    /// eBay names the seller after the exchange; `{"marketplace": "EBAY_GB"}` optionally says
    /// which marketplace the seller sells on (kept with the credentials).
    fn parse_shop(&self, raw: Option<&str>) -> Result<Option<String>, String> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(m) if valid_marketplace(m) => Ok(Some(m.to_owned())),
            Some(_) => {
                Err("marketplace must be an eBay marketplace id such as EBAY_US or EBAY_GB".into())
            }
        }
    }

    /// The RuName stands for our callback URL (registered with eBay), so `redirect_uri` is
    /// not ours to send.
    fn authorize_url(
        &self,
        _shop: Option<&str>,
        _redirect_uri: &str,
        state: &str,
        _pkce_challenge: Option<&str>,
    ) -> String {
        let config = self.client.config();
        authorize_url(
            &config.authorize_url,
            &config.client_id,
            &config.runame,
            state,
        )
    }

    async fn exchange(
        &self,
        code: &str,
        callback: Callback<'_>,
    ) -> Result<Installed, InstallError> {
        let failed =
            |what: &str, e: ClientError| InstallError::ExchangeFailed(format!("{what}: {e}"));
        let grant = self
            .client
            .exchange_code(code)
            .await
            .map_err(|e| failed("code exchange", e))?;
        let token = Secret::new(grant.access_token.as_str());
        let user = self
            .client
            .user(&token)
            .await
            .map_err(|e| failed("reading the eBay user", e))?;
        let credentials = EbayCredentials::from_grant(
            grant,
            user.user_id.clone(),
            user.username.clone(),
            Utc::now(),
        )
        .map_err(InstallError::ExchangeFailed)?;
        let credentials = EbayCredentials {
            marketplace: callback
                .shop
                .filter(|m| valid_marketplace(m))
                .map(str::to_owned),
            ..credentials
        };
        Ok(Installed {
            shop: user.user_id,
            credentials: credentials.to_secret(),
            display_name: user.username,
        })
    }

    /// The destination and the seller's `ORDER_CONFIRMATION` subscription (best effort: the
    /// daily health check repairs a failure; the poll imports orders meanwhile).
    async fn after_connect(
        &self,
        connection: &Connection,
        credentials: &Secret,
    ) -> Option<HealthReport> {
        let credentials = EbayCredentials::from_secret(credentials)?;
        let token = Secret::new(credentials.access_token.as_str());
        match subscribe(&self.client, &self.endpoint, &token).await {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "eBay notifications not subscribed");
                None
            }
        }
    }
}
