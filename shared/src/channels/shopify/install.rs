//! Shopify's side of the OAuth install: the consent URL, the query `hmac` Shopify signs its
//! install links and redirects with, the App Store install link, the code exchange
//! (`expiring: 1`) with its scope check, and the webhook subscriptions made right after.

use super::oauth::{authorize_url, missing_scopes, verify_query, ShopifyCredentials};
use super::tokens::ShopifyTokens;
use super::ORDER_TOPICS;
use crate::channels::adapter::{
    Callback, CallbackError, HealthReport, InstallError, Installed, OAuthApp,
};
use crate::channels::context::AppCredentials;
use crate::domain::{Connection, ShopDomain};
use crate::ports::Secret;
use async_trait::async_trait;
use std::sync::Arc;

/// How old an App Store install link may be.
const INSTALL_MAX_AGE_SECS: i64 = 600;

/// Shopify's OAuth install.
pub struct ShopifyInstall {
    pub(super) app: AppCredentials,
    pub(super) tokens: Arc<ShopifyTokens>,
    /// Where Shopify delivers webhooks: `{public_url}/webhooks/shopify`.
    pub(super) public_url: String,
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[async_trait]
impl OAuthApp for ShopifyInstall {
    fn is_configured(&self) -> bool {
        self.app.is_configured()
    }

    fn parse_shop(&self, raw: Option<&str>) -> Result<Option<String>, String> {
        let raw = raw.ok_or("shop is required: the store's myshopify.com domain")?;
        ShopDomain::parse(raw)
            .map(|s| Some(s.to_string()))
            .map_err(|e| e.to_string())
    }

    fn authorize_url(
        &self,
        shop: Option<&str>,
        redirect_uri: &str,
        state: &str,
        _pkce_challenge: Option<&str>,
    ) -> String {
        // Only called with a shop parse_shop accepted.
        let shop = shop.and_then(|s| ShopDomain::parse(s).ok());
        match shop {
            Some(shop) => authorize_url(&shop, &self.app.client_id, redirect_uri, state),
            None => String::new(),
        }
    }

    /// The App Store's link: `hmac` over the query with the app secret, a fresh `timestamp`
    /// (10 minutes), and the shop it installs on.
    fn install_link(&self, query: &[(String, String)]) -> Option<Result<String, CallbackError>> {
        if !verify_query(&self.app.secrets, query) {
            return Some(Err(CallbackError::BadSignature(
                "the install link's hmac does not match".into(),
            )));
        }
        let timestamp = param(query, "timestamp").and_then(|t| t.parse::<i64>().ok());
        let fresh = timestamp
            .is_some_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= INSTALL_MAX_AGE_SECS);
        if !fresh {
            return Some(Err(CallbackError::BadRequest(
                "the install link is missing its timestamp or has expired".into(),
            )));
        }
        Some(
            ShopDomain::parse(param(query, "shop").unwrap_or_default())
                .map(|s| s.to_string())
                .map_err(|e| CallbackError::BadRequest(e.to_string())),
        )
    }

    fn verify_callback(&self, query: &[(String, String)]) -> Result<Option<String>, CallbackError> {
        if !verify_query(&self.app.secrets, query) {
            return Err(CallbackError::BadSignature(
                "the callback's hmac does not match".into(),
            ));
        }
        ShopDomain::parse(param(query, "shop").unwrap_or_default())
            .map(|s| Some(s.to_string()))
            .map_err(|e| CallbackError::BadRequest(e.to_string()))
    }

    /// Exchanges the code for an (expiring, when Shopify grants one) offline token and checks
    /// the granted scopes (`write_X` implies `read_X`).
    async fn exchange(
        &self,
        code: &str,
        callback: Callback<'_>,
    ) -> Result<Installed, InstallError> {
        let shop = callback
            .shop
            .and_then(|s| ShopDomain::parse(s).ok())
            .ok_or_else(|| InstallError::ExchangeFailed("no shop in the install state".into()))?;
        let credentials = self
            .tokens
            .client
            .exchange_code(&shop, &self.app.client_id, &self.app.current_secret(), code)
            .await
            .map_err(|e| InstallError::ExchangeFailed(e.to_string()))?;
        let missing = missing_scopes(&credentials.scope);
        if !missing.is_empty() {
            return Err(InstallError::MissingScopes(
                missing.into_iter().map(str::to_owned).collect(),
            ));
        }
        Ok(Installed {
            shop: shop.to_string(),
            credentials: credentials.to_secret(),
            display_name: None,
        })
    }

    /// Subscribes the new store to the topics we use (list first, create only the missing).
    async fn after_connect(
        &self,
        connection: &Connection,
        credentials: &Secret,
    ) -> Option<HealthReport> {
        let creds = ShopifyCredentials::from_secret(credentials)?;
        let shop = ShopDomain::parse(&connection.shop).ok()?;
        let token = Secret::new(creds.access_token);
        let uri = format!("{}/webhooks/shopify", self.public_url);
        match self
            .tokens
            .client
            .ensure_subscriptions(&shop, &token, ORDER_TOPICS, &uri)
            .await
        {
            Ok(report) => Some(HealthReport {
                existing: report.existing,
                created: report.created,
                ..HealthReport::default()
            }),
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "could not subscribe to webhooks; the daily check retries");
                None
            }
        }
    }
}
