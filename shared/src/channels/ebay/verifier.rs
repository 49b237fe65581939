//! The eBay webhook verifier: the endpoint challenge, `X-EBAY-SIGNATURE` checked with the
//! kid's public key (fetched with the application token, cached by kid), and routing.
//!
//! Routing (the delivery's `shop` is the eBay user id a connection is stored under):
//! - `MARKETPLACE_ACCOUNT_DELETION`: `data.userId` (a privacy topic: acknowledged even for a
//!   user we never knew).
//! - `ORDER_CONFIRMATION`: the seller's user id. Which field carries it is not documented
//!   ([U], reference §6): the first of `data.sellerId`, `data.sellerUserId`,
//!   `data.seller.userId`, `data.userId` is used; a notification with none is refused 400
//!   (the reconciliation poll imports the order). One notification comes per line item, so
//!   the delivery id is the order's (`order-confirmation/{orderId}`): the intake records one
//!   and the consumer re-reads the order once. (A checkout that goes complete → incomplete →
//!   complete is confirmed again within the retention: the poll picks that state up.)
//! - other topics: refused 400 (we subscribe to none).

use super::client::EbayClient;
use super::notify::{self, KeyCache, SignatureHeader};
use crate::channels::{Delivery, WebhookRejection, WebhookVerifier};
use crate::domain::{Channel, Connection, Topic};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

pub const ACCOUNT_DELETION: &str = "MARKETPLACE_ACCOUNT_DELETION";
pub const ORDER_CONFIRMATION: &str = "ORDER_CONFIRMATION";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-ebay-signature";

/// Our notification endpoint as registered with eBay: `{public_url}/webhooks/ebay`.
pub fn endpoint(public_url: &str) -> String {
    format!("{}/webhooks/ebay", public_url.trim_end_matches('/'))
}

/// eBay's verifier, built once.
pub struct EbayVerifier {
    client: Arc<EbayClient>,
    keys: KeyCache,
    /// Exactly the endpoint registered with eBay: `{public_url}/webhooks/ebay`.
    endpoint: String,
}

impl EbayVerifier {
    pub fn new(client: Arc<EbayClient>, public_url: &str, keys: KeyCache) -> Self {
        Self {
            client,
            keys,
            endpoint: endpoint(public_url),
        }
    }

    /// The public key for `kid`: from the cache, else fetched once (an unknown kid is
    /// remembered as unknown too).
    async fn key(&self, kid: &str) -> Result<Option<p256::ecdsa::VerifyingKey>, WebhookRejection> {
        if let Some(known) = self.keys.get(kid) {
            return Ok(known);
        }
        match self.client.public_key(kid).await {
            Ok(key) => {
                if key.is_none() {
                    tracing::warn!(kid, "eBay does not know this notification key id");
                }
                self.keys.put(kid, key);
                Ok(key)
            }
            Err(e) => Err(WebhookRejection::Unavailable(format!(
                "could not read eBay's notification key: {e}"
            ))),
        }
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 100)
        .map(str::to_owned)
}

/// The seller an `ORDER_CONFIRMATION` is for ([U]: see the module documentation).
fn seller_of(data: &Value) -> Option<String> {
    ["/sellerId", "/sellerUserId", "/seller/userId", "/userId"]
        .iter()
        .find_map(|p| text(data.pointer(p)))
}

#[async_trait::async_trait]
impl WebhookVerifier for EbayVerifier {
    fn channel(&self) -> Channel {
        Channel::Ebay
    }

    fn challenge(&self, query: &[(String, String)]) -> Option<Result<Value, WebhookRejection>> {
        let code = query
            .iter()
            .find(|(k, _)| k == "challenge_code")
            .map(|(_, v)| v.as_str());
        let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= 512) else {
            return Some(Err(WebhookRejection::MissingHeader("challenge_code")));
        };
        let token = self
            .client
            .config()
            .verification_token
            .as_ref()
            .filter(|t| notify::valid_verification_token(t.expose()));
        let Some(token) = token else {
            return Some(Err(WebhookRejection::Unavailable(
                "EBAY_VERIFICATION_TOKEN is not set to 32-80 characters".into(),
            )));
        };
        let answer = notify::challenge_response(code, token.expose(), &self.endpoint);
        Some(Ok(json!({ "challengeResponse": answer })))
    }

    fn refusal_status(&self) -> StatusCode {
        StatusCode::PRECONDITION_FAILED
    }

    async fn authenticate(
        &self,
        _connection: Option<&Connection>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        let raw = headers
            .get(SIGNATURE_HEADER)
            .ok_or(WebhookRejection::MissingSignature)?
            .to_str()
            .map_err(|_| WebhookRejection::BadSignature)?;
        let header = SignatureHeader::parse(raw).map_err(|e| {
            tracing::info!(reason = %e, "eBay signature header refused");
            WebhookRejection::BadSignature
        })?;
        let Some(key) = self.key(&header.kid).await? else {
            return Err(WebhookRejection::BadSignature);
        };
        if !notify::verify(&key, header.digest, &header.signature, body) {
            return Err(WebhookRejection::BadSignature);
        }
        let envelope =
            notify::envelope(body).map_err(|e| WebhookRejection::InvalidHeader("body", e))?;
        let (shop, delivery_id) = match envelope.topic.as_str() {
            ACCOUNT_DELETION => {
                let user = text(envelope.data.get("userId")).ok_or_else(|| {
                    WebhookRejection::InvalidHeader("body", "data.userId is missing".into())
                })?;
                (user, envelope.notification_id.clone())
            }
            ORDER_CONFIRMATION => {
                let order = text(envelope.data.get("orderId")).ok_or_else(|| {
                    WebhookRejection::InvalidHeader("body", "data.orderId is missing".into())
                })?;
                let seller = seller_of(&envelope.data).ok_or_else(|| {
                    WebhookRejection::InvalidHeader(
                        "body",
                        "the notification names no seller to route it to".into(),
                    )
                })?;
                (seller, format!("order-confirmation/{order}"))
            }
            other => {
                return Err(WebhookRejection::InvalidHeader(
                    "body",
                    format!(
                        "topic {} is not one channel-sync subscribes to",
                        other.chars().take(60).collect::<String>()
                    ),
                ))
            }
        };
        let topic = Topic::parse(envelope.topic)
            .map_err(|e| WebhookRejection::InvalidHeader("body", e.to_string()))?;
        Ok(Delivery {
            shop,
            topic,
            delivery_id,
            triggered_at: envelope.event_date,
        })
    }
}
