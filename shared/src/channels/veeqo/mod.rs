//! Veeqo (`https://api.veeqo.com`), the multichannel hub merchants connect Amazon (and other
//! marketplaces) to. Facts: `../shared/reference/channels-tiktok-ebay-etsy-veeqo.md` §4.
//!
//! - **Auth** ([`VeeqoCredentials`]): a per-user API key sent as `x-api-key`, or an OAuth
//!   access token sent as `Authorization: Bearer` (Veeqo's tokens carry no expiry: a 401 marks
//!   the connection `needs_reauth`). Veeqo also answers 401 when the account has an unpaid
//!   Veeqo bill, so every sentence about a refused credential says so ([`UNAUTHORIZED_HINT`]).
//! - **Rate limit**: a leaky bucket of 5 requests/s with room for 100 per account. Every call
//!   of every job of a connection in this process goes through one [`limiter::Limiter`] (shared
//!   by all clients of the adapter, keyed by the account), and a 429 is retried after its
//!   `Retry-After` a bounded number of times ([`client`]).
//! - **No webhooks**: orders arrive by the reconciliation poll only ([`store`]).
//! - **The Inventory Sync Warehouse** (`inventory_location`, a Veeqo warehouse id) must be
//!   chosen before orders are read or stock is written: only orders allocated to it are ours,
//!   and its stock entries are the ones we set.
//! - **FBA vs FBM**: an order with `fulfilled_by_amazon: true` is Amazon's to ship and is never
//!   imported ([`order`]).

pub mod adapter;
pub mod client;
pub mod inventory;
pub mod limiter;
pub mod order;
pub mod store;

#[cfg(test)]
pub(crate) mod tests;

pub use adapter::{adapter, VeeqoAdapter};
pub use client::VeeqoClient;

use crate::ports::Secret;
use serde::{Deserialize, Serialize};

/// Veeqo's API host.
pub const DEFAULT_API_BASE: &str = "https://api.veeqo.com";
/// Veeqo's OAuth consent screen.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://app.veeqo.com/oauth/authorize";

/// Said wherever Veeqo refused a connection's credentials: Veeqo answers the same 401 for a
/// revoked key or token and for an account with an unpaid Veeqo bill (reference §4.1).
pub const UNAUTHORIZED_HINT: &str = "Veeqo refused the credentials (401): the API key or authorisation was revoked, or the Veeqo account has an unpaid Veeqo bill (Veeqo answers 401 then too); settle the bill or reconnect Veeqo";

/// What a Veeqo connection stores (one JSON [`Secret`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VeeqoCredentials {
    /// A user's API key (`x-api-key`).
    ApiKey { api_key: String },
    /// An OAuth access token (`Authorization: Bearer`).
    Oauth { access_token: String },
}

impl std::fmt::Debug for VeeqoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VeeqoCredentials::ApiKey { .. } => f.write_str("VeeqoCredentials::ApiKey(<redacted>)"),
            VeeqoCredentials::Oauth { .. } => f.write_str("VeeqoCredentials::Oauth(<redacted>)"),
        }
    }
}

impl VeeqoCredentials {
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads stored credentials. The error never quotes the secret.
    pub fn from_secret(secret: &Secret) -> Result<Self, String> {
        serde_json::from_str(secret.expose()).map_err(|e| {
            format!(
                "the stored Veeqo credentials are unreadable ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })
    }

    /// The authentication header (name, value).
    pub(crate) fn header(&self) -> (&'static str, String) {
        match self {
            VeeqoCredentials::ApiKey { api_key } => ("x-api-key", api_key.clone()),
            VeeqoCredentials::Oauth { access_token } => {
                ("authorization", format!("Bearer {access_token}"))
            }
        }
    }
}
