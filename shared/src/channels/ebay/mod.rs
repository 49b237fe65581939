//! eBay (Sell Fulfillment, Inventory, Notification API, Marketplace Account Deletion).
//! Facts: `../shared/reference/channels-tiktok-ebay-etsy-veeqo.md` §2.
//!
//! - A connection is one eBay user (the seller), identified by eBay's immutable `userId`
//!   (Commerce Identity `getUser`); installed by OAuth with the RuName as `redirect_uri`
//!   ([`oauth`]). User tokens live about 2 hours and are rotated by the channel-neutral
//!   refresher; a refused or 18-month-old refresh token puts the connection in
//!   `needs_reauth`. The application token (client credentials) that reads notification
//!   keys is kept apart, in memory ([`client::EbayClient::app_token`]).
//! - Notifications arrive at `POST /webhooks/ebay`, signed with ECDSA ([`notify`],
//!   [`verifier`]); the Marketplace Account Deletion challenge is `GET /webhooks/ebay`.
//! - Orders are re-read from Sell Fulfillment ([`order`], [`store`]); tracking is one
//!   shipping fulfillment per parcel; stock goes through `bulk_update_price_quantity`
//!   ([`inventory`]).
//!
//! Configuration: `EBAY_CLIENT_ID`, `EBAY_CLIENT_SECRET` (or the app secret
//! `EBAY_APP_SECRET_ID` on AWS), `EBAY_RUNAME`, `EBAY_VERIFICATION_TOKEN` (32–80
//! characters), `EBAY_API_BASE` (default `https://api.ebay.com`), `EBAY_AUTHORIZE_URL`
//! (default `https://auth.ebay.com/oauth2/authorize`).

mod adapter;
pub mod client;
pub mod inventory;
pub mod notify;
pub mod oauth;
pub mod order;
pub mod store;
pub mod subscriptions;
pub mod verifier;

#[cfg(all(test, feature = "embedded"))]
mod tests;

pub use adapter::{adapter, EbayAdapter};
pub use client::EbayClient;
pub use oauth::EbayCredentials;

use crate::channels::context::AppCredentials;
use crate::ports::Secret;

/// eBay's production API host.
pub const API_BASE: &str = "https://api.ebay.com";
/// The Commerce Identity API's production host (it is not `api.ebay.com`).
pub const IDENTITY_BASE: &str = "https://apiz.ebay.com";
/// The consent page.
pub const AUTHORIZE_URL: &str = "https://auth.ebay.com/oauth2/authorize";

/// The eBay app: OAuth client, RuName, the deletion endpoint's verification token, hosts.
#[derive(Clone)]
pub struct EbayConfig {
    pub client_id: String,
    pub client_secret: Secret,
    /// The RuName: eBay's name for our redirect URL, sent as `redirect_uri`.
    pub runame: String,
    /// Answers eBay's endpoint challenge; `None` (or not 32–80 characters): the challenge
    /// is refused with 503 and the app cannot be registered for account deletion.
    pub verification_token: Option<Secret>,
    pub api_base: String,
    /// Where Commerce Identity lives (`apiz.ebay.com`; the API base when that is replaced).
    pub identity_base: String,
    pub authorize_url: String,
}

impl std::fmt::Debug for EbayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EbayConfig")
            .field("client_id", &self.client_id)
            .field("runame", &self.runame)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl EbayConfig {
    /// From the registry's app credentials and `var` (the environment): `EBAY_RUNAME`,
    /// `EBAY_VERIFICATION_TOKEN`, `EBAY_AUTHORIZE_URL`.
    pub fn from_app(app: &AppCredentials, var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let api_base = app
            .api_base
            .clone()
            .unwrap_or_else(|| API_BASE.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let identity_base = if api_base == API_BASE {
            IDENTITY_BASE.to_owned()
        } else {
            api_base.clone()
        };
        Self {
            client_id: app.client_id.clone(),
            client_secret: app.current_secret(),
            runame: var("EBAY_RUNAME").unwrap_or_default(),
            verification_token: var("EBAY_VERIFICATION_TOKEN").map(Secret::new),
            api_base,
            identity_base,
            authorize_url: var("EBAY_AUTHORIZE_URL").unwrap_or_else(|| AUTHORIZE_URL.to_owned()),
        }
    }

    /// Whether an install can run (client id, secret and RuName set).
    pub fn is_configured(&self) -> bool {
        !self.client_id.is_empty()
            && !self.client_secret.expose().is_empty()
            && !self.runame.is_empty()
    }

    /// A test app whose APIs are at `api_base`.
    #[cfg(test)]
    pub fn for_tests(api_base: &str) -> Self {
        Self {
            client_id: "ebay-cid-fake".into(),
            client_secret: Secret::new("ebay-secret-fake"),
            runame: "Fake_Co-FakeApp-PRD-runame".into(),
            verification_token: Some(Secret::new("fake-verification-token-0123456789abcdef")),
            api_base: api_base.to_owned(),
            identity_base: api_base.to_owned(),
            authorize_url: AUTHORIZE_URL.to_owned(),
        }
    }
}
