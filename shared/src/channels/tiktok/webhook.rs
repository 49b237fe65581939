//! TikTok Shop webhooks (reference §1.3) at `POST /webhooks/tiktok`: the `Authorization`
//! header is the bare lowercase hex HMAC-SHA256 of app key + raw body with the app secret,
//! checked in constant time against the current and the previous secret before the body is
//! read; the body's envelope `{type, tts_notification_id, shop_id, timestamp, data}` routes
//! the delivery (by `shop_id`) and deduplicates it (on `tts_notification_id`).
//!
//! Order events name the order and its status only: the consumer re-reads the order
//! (`Interpreted::Fetch`, then the store's `order`), never the intake.

use super::sign::verify_webhook;
use crate::channels::body_hmac::single_header;
use crate::channels::{Delivery, WebhookRejection, WebhookVerifier};
use crate::domain::{Channel, Connection, Topic};
use crate::ports::Secret;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

/// The event types we act on, by TikTok's number, and their topic names.
pub const TOPICS: [(u64, &str); 12] = [
    (1, "ORDER_STATUS_CHANGE"),
    (2, "REVERSE_ORDER_STATUS_UPDATE"),
    (3, "RECIPIENT_ADDRESS_UPDATE"),
    (4, "PACKAGE_UPDATE"),
    (5, "PRODUCT_STATUS_CHANGE"),
    (6, "SELLER_DEAUTHORIZATION"),
    (7, "UPCOMING_AUTHORIZATION_EXPIRATION"),
    (11, "CANCELLATION_STATUS_CHANGE"),
    (12, "RETURN_STATUS_CHANGE"),
    (15, "PRODUCT_INFORMATION_CHANGE"),
    (16, "PRODUCT_CREATION"),
    (27, "INVENTORY_STATUS_CHANGE"),
];

/// Topics whose event names an order to re-read.
pub const ORDER_TOPICS: [&str; 3] = [
    "ORDER_STATUS_CHANGE",
    "CANCELLATION_STATUS_CHANGE",
    "RECIPIENT_ADDRESS_UPDATE",
];

/// The topic of an event type (`TYPE_{n}` for one we do not name).
pub fn topic_of(kind: u64) -> String {
    TOPICS
        .iter()
        .find(|(n, _)| *n == kind)
        .map(|(_, t)| (*t).to_owned())
        .unwrap_or_else(|| format!("TYPE_{kind}"))
}

/// The envelope every TikTok webhook has.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: u64,
    pub tts_notification_id: Value,
    pub shop_id: Value,
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub data: Value,
}

/// A string or number id as text (TikTok sends ids as strings; numbers are accepted).
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty() && s.len() <= 128),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Verifies TikTok deliveries with the app's key and secrets, built once.
pub struct TikTokVerifier {
    app_key: String,
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for TikTokVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TikTokVerifier({}, {} secret(s))",
            self.app_key,
            self.secrets.len()
        )
    }
}

impl TikTokVerifier {
    pub fn new(app_key: &str, secrets: Vec<Secret>) -> Self {
        Self {
            app_key: app_key.to_owned(),
            secrets,
        }
    }

    /// Checks the signature, then reads the envelope's routing facts.
    pub fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, WebhookRejection> {
        let signature = single_header(headers, "authorization")?
            .filter(|s| !s.is_empty())
            .ok_or(WebhookRejection::MissingSignature)?;
        if self.app_key.is_empty() || self.secrets.is_empty() {
            return Err(WebhookRejection::NoSecret(
                "the TikTok Shop app is not configured".into(),
            ));
        }
        if !verify_webhook(
            &self.app_key,
            self.secrets.iter().map(Secret::expose),
            body,
            signature,
        ) {
            return Err(WebhookRejection::BadSignature);
        }
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
            WebhookRejection::InvalidHeader("body", format!("not a TikTok webhook envelope: {e}"))
        })?;
        let shop = id_text(&envelope.shop_id).ok_or(WebhookRejection::InvalidHeader(
            "body",
            "shop_id is missing".into(),
        ))?;
        let delivery_id = id_text(&envelope.tts_notification_id).ok_or(
            WebhookRejection::InvalidHeader("body", "tts_notification_id is missing".into()),
        )?;
        let topic = Topic::parse(topic_of(envelope.kind))
            .map_err(|e| WebhookRejection::InvalidHeader("body", e.to_string()))?;
        Ok(Delivery {
            shop,
            topic,
            delivery_id,
            triggered_at: envelope.timestamp.as_ref().and_then(id_text),
        })
    }
}

#[async_trait::async_trait]
impl WebhookVerifier for TikTokVerifier {
    fn channel(&self) -> Channel {
        Channel::Tiktok
    }

    async fn authenticate(
        &self,
        _connection: Option<&Connection>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        self.check(headers, body)
    }
}

/// Signs `body` as TikTok does, as the header map a delivery carries (tests, local fakes).
pub fn signed_headers(app_key: &str, secret: &str, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = super::sign::sign_webhook(app_key, secret, body).parse() {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;

    fn verifier() -> TikTokVerifier {
        TikTokVerifier::new("abcdef", vec![Secret::new("new-fake"), Secret::new("123")])
    }

    #[test]
    fn the_official_vector_routes_by_shop_and_dedups_on_the_notification_id() {
        let headers = signed_headers("abcdef", "123", BODY.as_bytes());
        let d = verifier().check(&headers, BODY.as_bytes()).unwrap();
        assert_eq!(d.shop, "7495540735365777507");
        assert_eq!(d.topic, "ORDER_STATUS_CHANGE");
        assert_eq!(d.delivery_id, "7380066284010030890");
        assert_eq!(d.triggered_at.as_deref(), Some("1718305585"));
    }

    #[test]
    fn unsigned_wrongly_signed_and_malformed_deliveries_are_refused() {
        let v = verifier();
        assert_eq!(
            v.check(&HeaderMap::new(), BODY.as_bytes()).unwrap_err(),
            WebhookRejection::MissingSignature
        );
        let wrong = signed_headers("abcdef", "not-it", BODY.as_bytes());
        assert_eq!(
            v.check(&wrong, BODY.as_bytes()).unwrap_err(),
            WebhookRejection::BadSignature
        );
        let mut bearer = HeaderMap::new();
        let sig = super::super::sign::sign_webhook("abcdef", "123", BODY.as_bytes());
        bearer.insert("authorization", format!("Bearer {sig}").parse().unwrap());
        assert_eq!(
            v.check(&bearer, BODY.as_bytes()).unwrap_err(),
            WebhookRejection::BadSignature
        );
        for body in [
            &b"not json"[..],
            br#"{"type":1}"#,
            br#"{"type":1,"tts_notification_id":"1","shop_id":""}"#,
        ] {
            let headers = signed_headers("abcdef", "123", body);
            assert!(matches!(
                v.check(&headers, body).unwrap_err(),
                WebhookRejection::InvalidHeader("body", _)
            ));
        }
        let unconfigured = TikTokVerifier::new("", vec![]);
        let headers = signed_headers("", "x", BODY.as_bytes());
        assert!(matches!(
            unconfigured.check(&headers, BODY.as_bytes()).unwrap_err(),
            WebhookRejection::NoSecret(_)
        ));
    }
}
