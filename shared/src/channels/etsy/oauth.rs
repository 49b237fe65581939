//! Etsy's OAuth 2 install with PKCE (§3.2), through the channel-neutral routes
//! (`crate::http::oauth`: single-use state bound to the tenant, the S256 verifier kept in the
//! vault and taken once by the callback). The consent URL asks for the scopes orders,
//! tracking and stock need and no more; the callback exchanges code + verifier, reads
//! `users/me` for the shop (one connection per shop) and stores the pair.

use super::client::EtsyClient;
use super::tokens::EtsyCredentials;
use crate::channels::adapter::{Callback, HealthReport, InstallError, Installed, OAuthApp};
use crate::channels::tokens::TokenPair;
use crate::domain::Connection;
use crate::ports::Secret;
use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;

/// Receipts (`transactions_r`), tracking (`transactions_w`), listings and their inventory
/// (`listings_r`, `listings_w`), the shop behind `users/me` (`shops_r`).
pub const SCOPES: &str = "transactions_r transactions_w listings_r listings_w shops_r";

pub struct EtsyOAuth {
    pub client: EtsyClient,
}

#[async_trait]
impl OAuthApp for EtsyOAuth {
    fn is_configured(&self) -> bool {
        self.client.config.is_configured()
    }

    fn pkce(&self) -> bool {
        true
    }

    /// The shop is known only after the exchange (`users/me`).
    fn parse_shop(&self, raw: Option<&str>) -> Result<Option<String>, String> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(_) => Err(
                "Etsy installs need no shop: the merchant's own shop is found after consent".into(),
            ),
        }
    }

    fn authorize_url(
        &self,
        _shop: Option<&str>,
        redirect_uri: &str,
        state: &str,
        pkce_challenge: Option<&str>,
    ) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client.config.keystring)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("code_challenge", pkce_challenge.unwrap_or_default())
            .append_pair("code_challenge_method", "S256");
        let base = &self.client.config.authorize_url;
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}{}", query.finish())
    }

    async fn exchange(
        &self,
        code: &str,
        callback: Callback<'_>,
    ) -> Result<Installed, InstallError> {
        let failed = |e: &dyn std::fmt::Display| InstallError::ExchangeFailed(e.to_string());
        let verifier = callback.pkce_verifier.ok_or_else(|| {
            InstallError::ExchangeFailed("no PKCE verifier for this state".into())
        })?;
        let keystring = self.client.config.keystring.clone();
        let answer = self
            .client
            .token(&[
                ("grant_type", "authorization_code"),
                ("client_id", &keystring),
                ("redirect_uri", callback.redirect_uri),
                ("code", code),
                ("code_verifier", verifier),
            ])
            .await
            .map_err(|e| failed(&e))?;
        let token = Secret::new(answer.access_token.as_str());
        let me = self
            .client
            .send(&token, reqwest::Method::GET, "/users/me", &[], None)
            .await
            .map_err(|e| failed(&e))?;
        let user_id = me.get("user_id").and_then(Value::as_u64).unwrap_or(0);
        let shop_id = me
            .get("shop_id")
            .and_then(Value::as_u64)
            .filter(|id| *id > 0)
            .ok_or_else(|| InstallError::ExchangeFailed("the Etsy account has no shop".into()))?;
        let display_name = match self
            .client
            .send(
                &token,
                reqwest::Method::GET,
                &format!("/shops/{shop_id}"),
                &[],
                None,
            )
            .await
        {
            Ok(shop) => shop
                .get("shop_name")
                .and_then(Value::as_str)
                .map(|n| n.chars().take(100).collect()),
            Err(e) => {
                tracing::warn!(error = %e, "the Etsy shop's name could not be read");
                None
            }
        };
        let pair = EtsyCredentials::from_answer(answer, shop_id, user_id, Utc::now())
            .map_err(|e| failed(&e))?;
        Ok(Installed {
            shop: shop_id.to_string(),
            credentials: pair.to_secret(),
            display_name,
        })
    }

    /// Webhooks are set up once for the app in Etsy's developer portal, not per shop.
    async fn after_connect(
        &self,
        _connection: &Connection,
        _credentials: &Secret,
    ) -> Option<HealthReport> {
        None
    }
}
