//! Sales channels. One folder per channel; nothing outside `channels/` knows a channel's JSON.
//!
//! Every channel offers the same three things:
//! - a webhook verifier (`authenticate`: signature over the raw body bytes, plus the routing
//!   facts from the headers), constructed once from its secrets;
//! - [`interpret`]: a verified payload into the domain (an order, or a reason to ignore it);
//! - an API client (credentials check now; orders, fulfilment, inventory as they arrive).

pub mod body_hmac;
pub mod magento;
pub mod rest;
pub mod shopify;
pub mod store;
pub mod store_url;
pub mod stores;
pub mod woocommerce;

use crate::domain::{Channel, Order};
use http::HeaderMap;

/// The routing facts of an authenticated webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The store's identity on the channel.
    pub shop: String,
    pub topic: String,
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
}

/// A channel's webhook verifier.
pub trait WebhookVerifier: Send + Sync {
    fn channel(&self) -> Channel;
    /// Verifies the signature over the exact `body` bytes and reads the routing headers.
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, WebhookRejection>;
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
}

/// A privacy request from a channel (Shopify's mandatory compliance webhooks).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrivacyRequest {
    pub kind: PrivacyKind,
    /// The channel's customer id, when the request is about one customer.
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    /// Channel order ids concerned (requested or to redact).
    pub orders: Vec<String>,
    /// The channel's id for a data request, to quote when answering it.
    pub request_id: Option<String>,
}

/// The kinds of privacy request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyKind {
    /// The customer asked for their data.
    CustomerDataRequest,
    /// Erase one customer's data.
    CustomerRedact,
    /// Erase everything about the shop (48 h after uninstall).
    ShopRedact,
}

/// Whether `topic` is a privacy topic of `channel`: these are answered 200 even for a shop
/// we do not know (we hold nothing about it), as app review expects.
pub fn is_privacy_topic(channel: Channel, topic: &str) -> bool {
    channel == Channel::Shopify && shopify::PRIVACY_TOPICS.contains(&topic)
}

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
pub const POLLED_ORDER_TOPIC: &str = "channel-sync/polled-order";

/// Interprets a verified webhook payload of `channel`.
pub fn interpret(
    channel: Channel,
    topic: &str,
    payload: &[u8],
) -> Result<Interpreted, InterpretError> {
    if topic == POLLED_ORDER_TOPIC {
        return serde_json::from_slice::<Order>(payload)
            .map(|o| Interpreted::Order(Box::new(o)))
            .map_err(|e| InterpretError {
                channel,
                topic: topic.to_owned(),
                reason: format!("not a polled order: {e}"),
            });
    }
    match channel {
        Channel::Shopify => shopify::interpret(topic, payload),
        Channel::Woocommerce => woocommerce::interpret(topic, payload),
        other => Ok(Interpreted::Ignored(format!(
            "{other} events are not handled yet"
        ))),
    }
}

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
