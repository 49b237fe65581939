//! TikTok Shop's OAuth install (reference §1.2): the authorization link (the global
//! services page, or the US one for `{"market": "us"}`) with our `service_id` and the
//! single-use state; the callback's auth code (30 minutes, single use) exchanged through the
//! GET token endpoint; the authorized shops listed; one connection per shop (its cipher,
//! region and seller type kept with its credentials). The first shop is the connection the
//! channel-neutral callback creates; the others are created right after, in `after_connect`,
//! for the same tenant. Then each shop's webhooks are subscribed through the Event API.

use super::client::{ApiError, AuthorizedShop, TikTokClient};
use super::credentials::TikTokCredentials;
use super::events::ensure_events;
use crate::channels::adapter::{Callback, HealthReport, InstallError, Installed, OAuthApp};
use crate::channels::context::ChannelContext;
use crate::domain::{Channel, Connection};
use crate::ports::Secret;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// TikTok's global authorization page.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://services.tiktokshop.com/open/authorize";
/// The US Partner Center's authorization page.
pub const US_AUTHORIZE_URL: &str = "https://services.us.tiktokshop.com/open/authorize";
/// What `start` accepts as the market (`{"market": "us"}`), stored as the state's shop.
pub const US_MARKET: &str = "us";

/// The credentials an install hands the callback: the first shop's, plus the other shops
/// the seller authorized (created by `after_connect`, then dropped from the stored secret).
#[derive(Serialize, Deserialize)]
struct Pending {
    #[serde(flatten)]
    credentials: TikTokCredentials,
    #[serde(default)]
    other_shops: Vec<AuthorizedShop>,
}

/// The TikTok install.
pub struct TikTokInstall {
    pub(super) client: TikTokClient,
    pub(super) configured: bool,
    pub(super) service_id: String,
    pub(super) authorize_url: String,
    pub(super) us_authorize_url: String,
    pub(super) context: Arc<ChannelContext>,
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[async_trait]
impl OAuthApp for TikTokInstall {
    fn is_configured(&self) -> bool {
        self.configured && !self.service_id.is_empty()
    }

    /// No store is named up front (the seller picks shops on TikTok's page); the only thing
    /// `start` may name is the market: `us` for the US authorization host.
    fn parse_shop(&self, raw: Option<&str>) -> Result<Option<String>, String> {
        match raw.map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(m) if m.is_empty() || m == "global" => Ok(None),
            Some(m) if m == US_MARKET => Ok(Some(US_MARKET.to_owned())),
            Some(_) => {
                Err("market must be \"us\" (US sellers) or left out (every other market)".into())
            }
        }
    }

    fn authorize_url(
        &self,
        shop: Option<&str>,
        _redirect_uri: &str,
        state: &str,
        _pkce_challenge: Option<&str>,
    ) -> String {
        // The redirect URL is the one registered with the app in Partner Center.
        let base = match shop {
            Some(US_MARKET) => &self.us_authorize_url,
            _ => &self.authorize_url,
        };
        format!(
            "{base}?service_id={}&state={}",
            encode(&self.service_id),
            encode(state)
        )
    }

    async fn exchange(
        &self,
        code: &str,
        _callback: Callback<'_>,
    ) -> Result<Installed, InstallError> {
        let failed = |e: ApiError| InstallError::ExchangeFailed(e.to_string());
        let grant = self.client.exchange_code(code).await.map_err(failed)?;
        let shops = self
            .client
            .shops(&grant.access_token)
            .await
            .map_err(failed)?;
        let mut shops = shops.into_iter();
        let Some(first) = shops.next() else {
            return Err(InstallError::ExchangeFailed(
                "the seller authorized no shop".into(),
            ));
        };
        let pending = Pending {
            credentials: TikTokCredentials::of(&grant, &first),
            other_shops: shops.collect(),
        };
        let credentials = Secret::new(serde_json::to_string(&pending).unwrap_or_default());
        Ok(Installed {
            shop: first.id.clone(),
            credentials,
            display_name: first.name.clone().or(grant.seller_name),
        })
    }

    async fn after_connect(
        &self,
        connection: &Connection,
        credentials: &Secret,
    ) -> Option<HealthReport> {
        let pending: Pending = serde_json::from_str(credentials.expose()).ok()?;
        let mut connections = vec![(connection.clone(), pending.credentials.clone())];
        if !pending.other_shops.is_empty() {
            // Stored without the list: the other shops get connections of their own.
            let own = pending.credentials.to_secret();
            if let Err(e) = self
                .context
                .vault
                .put(&connection.credentials_name(), &own)
                .await
            {
                tracing::warn!(error = %e, "could not rewrite the first shop's credentials");
            }
        }
        for shop in &pending.other_shops {
            let creds = TikTokCredentials {
                shop_cipher: shop.cipher.clone(),
                region: shop.region.clone(),
                seller_type: shop.seller_type.clone(),
                ..pending.credentials.clone()
            };
            match self
                .context
                .upsert_connection(
                    &connection.tenant,
                    Channel::Tiktok,
                    &shop.id,
                    &creds.to_secret(),
                    shop.name.clone(),
                    None,
                )
                .await
            {
                Ok((_, c)) => connections.push((c, creds)),
                Err(e) => {
                    tracing::warn!(shop = %shop.id, error = %e, "could not connect an authorized shop")
                }
            }
        }
        let mut report = HealthReport::default();
        for (c, creds) in &connections {
            match ensure_events(&self.client, creds, &self.context.public_url).await {
                Ok(r) => {
                    report.existing.extend(r.existing);
                    report.created.extend(r.created);
                }
                Err(e) => {
                    tracing::warn!(connection = %c.id, error = %e, "could not subscribe TikTok webhooks; the daily check retries")
                }
            }
        }
        Some(report)
    }
}
