//! Sales channels. One folder per channel; nothing outside `channels/` knows a channel's JSON
//! or branches on which channel a connection is.
//!
//! Each channel folder exports one [`adapter::ChannelAdapter`] (connect, webhook verifier,
//! order interpretation, [`store::StoreApi`], [`inventory::InventoryChannel`], locations,
//! webhook health, and its [`adapter::Capabilities`]); [`registry::Registry`] lists them once.
//! The traits and the pieces channels share live here: [`context`] (what adapters are built
//! from), [`body_hmac`], [`rest`] (JSON over HTTP for self-hosted stores), [`store_url`].

pub mod adapter;
pub mod body_hmac;
pub mod connection_secrets;
pub mod context;
#[cfg(all(test, feature = "embedded"))]
mod contract;
pub mod disconnect;
pub mod ebay;
pub mod etsy;
pub mod inventory;
pub mod magento;
pub mod registry;
pub mod rest;
pub mod shopify;
pub mod store;
pub mod store_url;
#[cfg(all(test, feature = "embedded"))]
pub(crate) mod testkit;
pub mod tiktok;
pub mod tls;
pub mod tokens;
pub mod veeqo;
pub mod woocommerce;

use crate::domain::{Channel, Connection, ConnectionStatus, Order, Topic};
use crate::ports::PortError;
use http::HeaderMap;

/// The routing facts of an authenticated webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The store's identity on the channel.
    pub shop: String,
    /// Parsed by the verifier from the header or signed body that names it.
    pub topic: Topic,
    /// The channel's id for this delivery (dedup key).
    pub delivery_id: String,
    pub triggered_at: Option<String>,
}

/// Why a webhook was refused before its body was looked at. Each maps to one status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error("missing signature header")]
    MissingSignature,
    #[error("signature does not match")]
    BadSignature,
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("invalid header {0}: {1}")]
    InvalidHeader(&'static str, String),
    /// The connection has no usable signing secret (credentials gone or unreadable).
    #[error("{0}")]
    NoSecret(String),
    /// The secret could not be read now: the channel should retry.
    #[error("{0}")]
    Unavailable(String),
}

impl crate::failure::Kinded for WebhookRejection {
    fn kind(&self) -> crate::failure::Kind {
        use crate::failure::Kind;
        match self {
            WebhookRejection::MissingSignature
            | WebhookRejection::BadSignature
            | WebhookRejection::NoSecret(_) => Kind::Unauthenticated,
            WebhookRejection::MissingHeader(_) | WebhookRejection::InvalidHeader(..) => {
                Kind::Malformed
            }
            WebhookRejection::Unavailable(_) => Kind::Unavailable,
        }
    }
}

/// A channel's webhook verifier, constructed once. One trait for both kinds of secret:
/// an app-wide secret (deliveries routed by the shop the headers name, `connection` is
/// `None`) and a secret per connection (routed by the URL, `connection` is the one it names;
/// see [`adapter::Webhooks`]).
#[async_trait::async_trait]
pub trait WebhookVerifier: Send + Sync {
    fn channel(&self) -> Channel;
    /// An unsigned handshake the channel sends when a webhook is created (WooCommerce's
    /// `webhook_id=N` ping): answered 200 before anything else, and nothing is recorded.
    fn is_handshake(&self, _headers: &HeaderMap, _body: &[u8]) -> bool {
        false
    }
    /// The channel's endpoint challenge (eBay's `GET /webhooks/ebay?challenge_code=…`): the
    /// JSON to answer with the query. `None`: the channel has none (404).
    fn challenge(
        &self,
        _query: &[(String, String)],
    ) -> Option<Result<serde_json::Value, WebhookRejection>> {
        None
    }
    /// The status a missing or wrong signature gets (401; eBay's SDKs answer 412).
    fn refusal_status(&self) -> http::StatusCode {
        http::StatusCode::UNAUTHORIZED
    }
    /// The shop a delivery's headers name, read WITHOUT verifying anything: only to answer a
    /// delivery that failed its signature for a shop whose connection was disconnected (its
    /// per-connection secret went with the credentials) with 200 "ignored" instead of 401, so
    /// the channel stops retrying. Channels whose stores may sign with a secret of their own
    /// on the app-wide route (a Shopify custom app) name it; `None` elsewhere.
    fn unverified_shop(&self, _headers: &HeaderMap) -> Option<String> {
        None
    }
    /// Verifies the signature over the exact `body` bytes and reads the routing headers.
    async fn authenticate(
        &self,
        connection: Option<&Connection>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection>;
}

/// What a verified channel event means for the WMS.
#[derive(Debug, Clone, PartialEq)]
pub enum Interpreted {
    /// An order to import (once).
    Order(Box<Order>),
    /// The merchant removed our app: stop everything, delete credentials, keep history.
    Uninstalled,
    /// A privacy (GDPR) request to pass on to the WMS, which holds the order data.
    Privacy(PrivacyRequest),
    /// The channel deleted the order (WooCommerce `order.deleted`: trashed or erased; the
    /// payload carries only its id). An order the WMS has is cancelled; one it lacks is
    /// ignored.
    Deleted(String),
    /// Nothing to do, and why (recorded in logs and counted).
    Ignored(String),
    /// The event only names an order (Etsy's `order.paid` carries a receipt URL, eBay's
    /// `ORDER_CONFIRMATION` an order id): the consumer re-reads it by this channel id through
    /// the connection's store ([`store::StoreApi::order`]), never from a URL the event supplies.
    Fetch(String),
    /// The merchant's authorization of our app runs out at this time (TikTok Shop's
    /// upcoming-expiry notice, repeated daily): the connection shows it and the WMS hears of it
    /// once per (connection, expiry).
    AuthorizationExpiring(chrono::DateTime<chrono::Utc>),
}

pub use crate::messages::{PrivacyKind, PrivacyRequest};

/// A verified payload that cannot be understood. Permanent: retrying will not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{channel} {topic} payload rejected: {reason}")]
pub struct InterpretError {
    pub channel: Channel,
    pub topic: String,
    pub reason: String,
}

/// The topic of channel events made by a reconciliation poll: the payload is an already
/// normalized [`Order`], for any channel.
pub const POLLED_ORDER_TOPIC: &str = Topic::POLLED_ORDER;

/// A channel API client failure, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The channel rejected our credentials (401/403): the merchant must reconnect.
    #[error("the channel rejected the credentials")]
    Unauthorized,
    /// The store does not exist or is closed.
    #[error("the store was not found or is unavailable to this app")]
    NotFound,
    /// Rate limited; try again after the given seconds when known.
    #[error("rate limited by the channel")]
    Throttled { retry_after_secs: Option<u64> },
    /// Network trouble or a 5xx: retry later.
    #[error("channel unavailable: {0}")]
    Unavailable(String),
    /// The channel answered something we cannot use.
    #[error("unexpected channel response: {0}")]
    BadResponse(String),
}

impl crate::failure::Classify for ClientError {
    fn classify(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        match self {
            ClientError::Unauthorized => Failure::NeedsReauth(self.to_string()),
            ClientError::Throttled { .. } | ClientError::Unavailable(_) => {
                Failure::Retry(self.to_string())
            }
            ClientError::NotFound | ClientError::BadResponse(_) => {
                Failure::Permanent(self.to_string())
            }
        }
    }
}

/// Why a connection's store cannot be used now.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Disconnected, or already waiting for re-authorisation: no jobs run for it.
    #[error("the connection is {0:?}: no jobs run for it")]
    NotActive(ConnectionStatus),
    /// The channel rejected the stored credentials (the connection is now `needs_reauth`).
    #[error("the channel rejected the stored credentials: the store must be reconnected")]
    NeedsReauth,
    /// A setting or stored value makes the call impossible until someone changes it.
    #[error("{0}")]
    Setup(String),
    /// Try again later.
    #[error("{0}")]
    Unavailable(String),
}

impl crate::failure::Classify for OpenError {
    fn classify(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        match self {
            OpenError::NeedsReauth => Failure::NeedsReauth(self.to_string()),
            OpenError::Unavailable(_) => Failure::Retry(self.to_string()),
            OpenError::NotActive(_) | OpenError::Setup(_) => Failure::Permanent(self.to_string()),
        }
    }
}

impl From<PortError> for OpenError {
    fn from(e: PortError) -> Self {
        OpenError::Unavailable(e.to_string())
    }
}
