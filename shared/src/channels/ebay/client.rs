//! eBay's REST client: the OAuth token endpoint (authorization code, refresh, client
//! credentials), the Commerce Identity user, Notification API public keys, Sell Fulfillment
//! orders and shipping fulfillments, Inventory API items, offers and bulk quantities.
//! Built once with a timeout; every answer goes through [`rest::call`], which classifies
//! 5xx, 429, redirects, non-JSON and oversized bodies.

use super::EbayConfig;
use crate::channels::rest::{self, Reply};
use crate::channels::ClientError;
use crate::ports::Secret;
use chrono::{DateTime, SecondsFormat, Utc};
use p256::ecdsa::VerifyingKey;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The scope of the application token (client credentials).
pub const APP_SCOPE: &str = "https://api.ebay.com/oauth/api_scope";
/// getOrders' largest page (more is an error).
pub const ORDERS_PAGE: u32 = 200;
/// Inventory items per page (the API's maximum is 200; its `offset` is a page index).
pub const ITEMS_PAGE: u32 = 100;

/// What the token endpoint answers.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub refresh_token_expires_in: Option<i64>,
}

/// The seller behind a user token (Commerce Identity `getUser`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EbayUser {
    /// eBay's immutable user id: the connection's shop identity.
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// eBay's REST APIs for one app.
pub struct EbayClient {
    http: reqwest::Client,
    config: EbayConfig,
    /// The application token and when to stop using it (5 minutes before eBay's expiry).
    app_token: Mutex<Option<(Secret, Instant)>>,
}

fn url_segment(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// `2026-01-01T00:00:00.000Z`, as eBay's filters spell instants.
pub fn ebay_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl EbayClient {
    pub fn new(config: EbayConfig) -> Result<Self, String> {
        let http = crate::channels::tls::client_builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("eBay HTTP client: {e}"))?;
        Ok(Self {
            http,
            config,
            app_token: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &EbayConfig {
        &self.config
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base)
    }

    /// One token call: Basic client credentials, form body. A refused grant (`invalid_grant`,
    /// a revoked or expired refresh token, a used code) is [`ClientError::Unauthorized`].
    async fn token(&self, form: &[(&str, &str)]) -> Result<TokenGrant, ClientError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(self.api("/identity/v1/oauth2/token"))
            .basic_auth(
                &self.config.client_id,
                Some(self.config.client_secret.expose()),
            )
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        let reply = rest::call(request).await?;
        if reply.status.is_success() {
            return serde_json::from_value(reply.body).map_err(|e| {
                ClientError::BadResponse(format!("the token answer is unreadable: {e}"))
            });
        }
        let error = reply
            .body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("");
        match (reply.status.as_u16(), error) {
            (_, "invalid_grant") | (401, _) => Err(ClientError::Unauthorized),
            (status, error) => Err(ClientError::BadResponse(format!(
                "the token endpoint answered {status} {}",
                rest::snippet(error)
            ))),
        }
    }

    /// Exchanges an authorization code (redirect_uri is the RuName).
    pub async fn exchange_code(&self, code: &str) -> Result<TokenGrant, ClientError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.config.runame),
        ])
        .await
    }

    /// A new access token from a refresh token (eBay keeps the refresh token: none comes back).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        scope: &str,
    ) -> Result<TokenGrant, ClientError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", scope),
        ])
        .await
    }

    /// The application token (client credentials), fetched once and reused until 5 minutes
    /// before it expires. Kept in memory only, apart from every user's tokens.
    pub async fn app_token(&self) -> Result<Secret, ClientError> {
        {
            let cached = self.app_token.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((token, until)) = cached.as_ref() {
                if Instant::now() < *until {
                    return Ok(token.clone());
                }
            }
        }
        let grant = self
            .token(&[("grant_type", "client_credentials"), ("scope", APP_SCOPE)])
            .await?;
        let life = grant.expires_in.unwrap_or(7200).clamp(0, 7 * 24 * 3600);
        let life = Duration::from_secs(u64::try_from(life).unwrap_or(0))
            .saturating_sub(Duration::from_secs(300));
        let token = Secret::new(grant.access_token);
        *self.app_token.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((token.clone(), Instant::now() + life));
        Ok(token)
    }

    async fn get(&self, url: String, token: &Secret) -> Result<Reply, ClientError> {
        rest::call(
            self.http
                .get(url)
                .bearer_auth(token.expose())
                .header(http::header::ACCEPT, "application/json"),
        )
        .await
    }

    async fn post(&self, url: String, token: &Secret, body: &Value) -> Result<Reply, ClientError> {
        rest::call(
            self.http
                .post(url)
                .bearer_auth(token.expose())
                .header(http::header::ACCEPT, "application/json")
                .json(body),
        )
        .await
    }

    async fn put(&self, url: String, token: &Secret, body: &Value) -> Result<Reply, ClientError> {
        rest::call(
            self.http
                .put(url)
                .bearer_auth(token.expose())
                .header(http::header::ACCEPT, "application/json")
                .json(body),
        )
        .await
    }

    /// A Notification API `GET` (first page of 100; a seller has a handful at most).
    pub async fn notification_list(
        &self,
        token: &Secret,
        resource: &str,
        field: &str,
    ) -> Result<Vec<Value>, ClientError> {
        let url = self.api(&format!("/commerce/notification/v1/{resource}?limit=100"));
        let body = self.get(url, token).await?.ok()?;
        Ok(body
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// A Notification API `POST` (create, enable); the reply for the caller to read.
    pub async fn notification_post(
        &self,
        token: &Secret,
        resource: &str,
        body: &Value,
    ) -> Result<Reply, ClientError> {
        let url = self.api(&format!("/commerce/notification/v1/{resource}"));
        self.post(url, token, body).await
    }

    /// A Notification API `PUT` (update a destination).
    pub async fn notification_put(
        &self,
        token: &Secret,
        resource: &str,
        body: &Value,
    ) -> Result<Reply, ClientError> {
        let url = self.api(&format!("/commerce/notification/v1/{resource}"));
        self.put(url, token, body).await
    }

    /// The public key eBay signs notifications with under `kid`; `Ok(None)` when eBay does
    /// not know the kid (404) or answers a key that is not P-256.
    pub async fn public_key(&self, kid: &str) -> Result<Option<VerifyingKey>, ClientError> {
        let token = self.app_token().await?;
        let url = self.api(&format!(
            "/commerce/notification/v1/public_key/{}",
            url_segment(kid)
        ));
        match self.get(url, &token).await?.ok() {
            Ok(body) => Ok(body
                .get("key")
                .and_then(Value::as_str)
                .and_then(super::notify::parse_public_key)),
            // Only eBay saying it has no such key is remembered as an unknown kid; any other
            // refusal is not cached (it would refuse every notification for an hour).
            Err(ClientError::NotFound) => Ok(None),
            Err(ClientError::BadResponse(m)) => Err(ClientError::Unavailable(m)),
            Err(ClientError::Unauthorized) => {
                // The cached app token was refused: drop it so the next call fetches one.
                *self.app_token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Err(ClientError::Unavailable(
                    "eBay refused the application token".into(),
                ))
            }
            Err(other) => Err(other),
        }
    }

    /// The seller a user token belongs to.
    pub async fn user(&self, token: &Secret) -> Result<EbayUser, ClientError> {
        let url = format!("{}/commerce/identity/v1/user/", self.config.identity_base);
        let body = self.get(url, token).await?.ok()?;
        let user: EbayUser = serde_json::from_value(body)
            .map_err(|e| ClientError::BadResponse(format!("the eBay user is unreadable: {e}")))?;
        if user.user_id.trim().is_empty() || user.user_id.len() > 100 {
            return Err(ClientError::BadResponse(
                "the eBay user has no userId".into(),
            ));
        }
        Ok(user)
    }

    /// One page of orders modified at or after `since` (`offset` zero-based, 200 a page).
    /// Only `lastmodifieddate` is given: with `creationdate` eBay would ignore it.
    pub async fn orders(
        &self,
        token: &Secret,
        since: DateTime<Utc>,
        offset: u64,
    ) -> Result<Value, ClientError> {
        // The brackets must be percent-encoded; the colons and dots may stay.
        let filter = format!("lastmodifieddate:%5B{}..%5D", ebay_time(since));
        let url = self.api(&format!(
            "/sell/fulfillment/v1/order?filter={filter}&limit={ORDERS_PAGE}&offset={offset}"
        ));
        self.get(url, token).await?.ok()
    }

    /// One order (with its cancellation details, which getOrders leaves empty).
    pub async fn order(&self, token: &Secret, order_id: &str) -> Result<Value, ClientError> {
        let url = self.api(&format!(
            "/sell/fulfillment/v1/order/{}",
            url_segment(order_id)
        ));
        self.get(url, token).await?.ok()
    }

    /// The order's shipping fulfillments.
    pub async fn fulfillments(
        &self,
        token: &Secret,
        order_id: &str,
    ) -> Result<Vec<Value>, ClientError> {
        let url = self.api(&format!(
            "/sell/fulfillment/v1/order/{}/shipping_fulfillment",
            url_segment(order_id)
        ));
        let body = self.get(url, token).await?.ok()?;
        match body.get("fulfillments") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(ClientError::BadResponse(
                "fulfillments is not a list".into(),
            )),
        }
    }

    /// Creates one shipping fulfillment; its id from the `Location` header (or the body).
    /// A refusal eBay explains (4xx) comes back as the reply for the caller to read.
    pub async fn create_fulfillment(
        &self,
        token: &Secret,
        order_id: &str,
        body: &Value,
    ) -> Result<Reply, ClientError> {
        let url = self.api(&format!(
            "/sell/fulfillment/v1/order/{}/shipping_fulfillment",
            url_segment(order_id)
        ));
        self.post(url, token, body).await
    }

    /// One page of inventory items (`offset` is a page index here).
    pub async fn inventory_items(&self, token: &Secret, page: u64) -> Result<Value, ClientError> {
        let url = self.api(&format!(
            "/sell/inventory/v1/inventory_item?limit={ITEMS_PAGE}&offset={page}"
        ));
        self.get(url, token).await?.ok()
    }

    /// The offers of one SKU (404: none).
    pub async fn offers(&self, token: &Secret, sku: &str) -> Result<Vec<Value>, ClientError> {
        let url = self.api(&format!(
            "/sell/inventory/v1/offer?sku={}",
            url_segment(sku)
        ));
        match self.get(url, token).await?.ok() {
            Ok(body) => Ok(body
                .get("offers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()),
            Err(ClientError::NotFound) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `bulk_update_price_quantity` with `requests` (at most 25).
    pub async fn bulk_update_quantity(
        &self,
        token: &Secret,
        requests: Vec<Value>,
    ) -> Result<Reply, ClientError> {
        let url = self.api("/sell/inventory/v1/bulk_update_price_quantity");
        self.post(url, token, &serde_json::json!({ "requests": requests }))
            .await
    }
}
