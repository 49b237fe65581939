//! Shopify's side of the OAuth install: the consent URL, the query `hmac` Shopify signs its
//! install links and redirects with, the App Store install link, the code exchange
//! (`expiring: 1`) with its scope check, and the webhook subscriptions made right after.

use super::oauth::{authorize_url, missing_scopes, verify_query, ShopifyCredentials};
use super::tokens::ShopifyTokens;
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

/// What `POST /api/oauth/shopify/start` accepts as `shop`, said in every refusal.
pub const ACCEPTED_SHOP_FORMS: &str = "give the store's slug (adam-testing-store), its \
myshopify.com domain (adam-testing-store.myshopify.com) or its admin URL \
(https://admin.shopify.com/store/adam-testing-store)";

/// The store a merchant typed, normalized to its myshopify.com domain: the slug
/// (`adam-testing-store`), the domain (`adam-testing-store.myshopify.com`, also as an
/// `https://` URL), or the admin URL (`https://admin.shopify.com/store/adam-testing-store`,
/// any path after the slug). Case and surrounding whitespace do not matter.
pub fn shop_from_input(raw: &str) -> Result<ShopDomain, String> {
    let refuse = || {
        let shown: String = raw.trim().chars().take(80).collect();
        format!("{shown:?} is not a Shopify store: {ACCEPTED_SHOP_FORMS}")
    };
    let lower = raw.trim().to_ascii_lowercase();
    let without_scheme = lower.strip_prefix("https://").unwrap_or(&lower);
    let domain = if let Some(rest) = without_scheme.strip_prefix("admin.shopify.com/store/") {
        let slug = rest.split(['/', '?', '#']).next().unwrap_or_default();
        format!("{slug}.myshopify.com")
    } else if without_scheme.ends_with(".myshopify.com")
        || without_scheme.ends_with(".myshopify.com/")
    {
        without_scheme.trim_end_matches('/').to_owned()
    } else if lower == without_scheme && !lower.contains(['.', '/', ':']) {
        format!("{lower}.myshopify.com")
    } else {
        return Err(refuse());
    };
    ShopDomain::parse(&domain).map_err(|_| refuse())
}

#[async_trait]
impl OAuthApp for ShopifyInstall {
    fn is_configured(&self) -> bool {
        self.app.is_configured()
    }

    fn parse_shop(&self, raw: Option<&str>) -> Result<Option<String>, String> {
        let raw = raw.ok_or_else(|| format!("shop is required: {ACCEPTED_SHOP_FORMS}"))?;
        shop_from_input(raw).map(|s| Some(s.to_string()))
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
        match self
            .tokens
            .client
            .subscribe_ours(&shop, &token, &self.public_url)
            .await
        {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "could not subscribe to webhooks; the daily check retries");
                None
            }
        }
    }
}

#[cfg(test)]
mod shop_input_tests {
    use super::*;

    #[test]
    fn slug_domain_and_admin_url_all_name_the_same_store() {
        for raw in [
            "adam-testing-store",
            "  Adam-Testing-Store ",
            "adam-testing-store.myshopify.com",
            "https://adam-testing-store.myshopify.com/",
            "https://admin.shopify.com/store/adam-testing-store",
            "https://admin.shopify.com/store/adam-testing-store/",
            "admin.shopify.com/store/adam-testing-store/orders?x=1",
        ] {
            assert_eq!(
                shop_from_input(raw).map(|s| s.to_string()),
                Ok("adam-testing-store.myshopify.com".to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn anything_else_says_which_forms_are_accepted() {
        for raw in [
            "",
            "   ",
            "adam testing store",
            "shop.example.com",
            "http://evil.example/adam-testing-store.myshopify.com",
            "https://admin.shopify.com/store/",
            "https://admin.shopify.com/settings",
            "https://adam-testing-store.myshopify.com.evil.example",
            "-adam",
            "adam_store",
            "ftp://adam-testing-store.myshopify.com",
        ] {
            let err = shop_from_input(raw).unwrap_err();
            assert!(err.contains(ACCEPTED_SHOP_FORMS), "{raw}: {err}");
        }
    }
}
