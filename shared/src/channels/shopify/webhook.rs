//! `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body with the app's client secret.

use crate::channels::body_hmac::{self, single_header as header, HmacSha256};
use crate::channels::{Delivery, WebhookRejection, WebhookVerifier};
use crate::domain::{Channel, Connection, ShopDomain};
use crate::ports::Secret;
use hmac::KeyInit;
use http::HeaderMap;
use std::fmt;

const SIGNATURE: &str = "x-shopify-hmac-sha256";
const SHOP: &str = "x-shopify-shop-domain";
const TOPIC: &str = "x-shopify-topic";
const WEBHOOK_ID: &str = "x-shopify-webhook-id";
const EVENT_ID: &str = "x-shopify-event-id";
const TRIGGERED_AT: &str = "x-shopify-triggered-at";

/// Verifies Shopify webhooks against the current and, during a rotation, the previous
/// client secret. Keys are prepared once; `Debug` shows only how many there are.
#[derive(Clone)]
pub struct ShopifyVerifier {
    keys: Vec<HmacSha256>,
}

impl fmt::Debug for ShopifyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShopifyVerifier({} secret(s))", self.keys.len())
    }
}

impl ShopifyVerifier {
    /// A verifier accepting any of `secrets` (current first). Empty secrets are skipped.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let keys = secrets
            .into_iter()
            .filter(|s| !s.expose().is_empty())
            .filter_map(|s| HmacSha256::new_from_slice(s.expose().as_bytes()).ok())
            .collect();
        Self { keys }
    }

    /// Whether any secret is configured; without one every webhook is refused.
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Checks a base64 signature over `body` in constant time against every key.
    pub fn verify(&self, body: &[u8], signature_b64: &str) -> Result<(), WebhookRejection> {
        body_hmac::verify_any(&self.keys, body, signature_b64)
    }
}

/// Signs `body` as Shopify does: for tests, sample events and the local fake store.
pub fn sign(secret: &str, body: &[u8]) -> String {
    body_hmac::sign(secret, body)
}

#[async_trait::async_trait]
impl WebhookVerifier for ShopifyVerifier {
    fn channel(&self) -> Channel {
        Channel::Shopify
    }

    /// Shopify signs with the app's secret: the connection is found afterwards, by the shop
    /// the headers name, so an unsigned request cannot probe which shops are connected.
    async fn authenticate(
        &self,
        _connection: Option<&Connection>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        self.verify_delivery(headers, body)
    }
}

impl ShopifyVerifier {
    /// Verifies the signature over the exact `body` bytes and reads the routing headers
    /// (synchronous: the app's secrets are in memory).
    pub fn verify_delivery(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        let signature = header(headers, SIGNATURE)?
            .filter(|s| !s.is_empty())
            .ok_or(WebhookRejection::MissingSignature)?;
        self.verify(body, signature)?;
        let shop = header(headers, SHOP)?.ok_or(WebhookRejection::MissingHeader(SHOP))?;
        let shop = ShopDomain::parse(shop)
            .map_err(|e| WebhookRejection::InvalidHeader(SHOP, e.to_string()))?;
        let topic = header(headers, TOPIC)?
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or(WebhookRejection::MissingHeader(TOPIC))?;
        // Newer docs dedupe on the webhook id, older ones on the event id: prefer the first.
        let delivery_id = match header(headers, WEBHOOK_ID)?.filter(|s| !s.is_empty()) {
            Some(id) => id,
            None => header(headers, EVENT_ID)?
                .filter(|s| !s.is_empty())
                .ok_or(WebhookRejection::MissingHeader(WEBHOOK_ID))?,
        };
        if delivery_id.len() > 256 {
            return Err(WebhookRejection::InvalidHeader(
                WEBHOOK_ID,
                "too long".into(),
            ));
        }
        Ok(Delivery {
            shop: shop.as_str().to_owned(),
            topic: topic.to_owned(),
            delivery_id: delivery_id.to_owned(),
            triggered_at: header(headers, TRIGGERED_AT)?.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_BODY: &[u8] = br##"{"id":820982911946154508,"name":"#9999"}"##;
    const VECTOR_SIG: &str = "YBwnJ9vsibq7srObgXybmGHWuwos+jDEL//7749XS78=";

    fn verifier(secrets: &[&str]) -> ShopifyVerifier {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        ShopifyVerifier::new(&secrets)
    }

    fn headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-Shopify-Hmac-Sha256", sig.parse().unwrap());
        h.insert(
            "X-Shopify-Shop-Domain",
            "demo.myshopify.com".parse().unwrap(),
        );
        h.insert("X-Shopify-Topic", "orders/create".parse().unwrap());
        h.insert("X-Shopify-Webhook-Id", "wh-1".parse().unwrap());
        h
    }

    #[test]
    fn reference_vector_verifies() {
        assert_eq!(sign("hush", VECTOR_BODY), VECTOR_SIG);
        assert!(verifier(&["hush"]).verify(VECTOR_BODY, VECTOR_SIG).is_ok());
    }

    #[test]
    fn trailing_newline_and_reserialised_json_fail() {
        let v = verifier(&["hush"]);
        let mut with_newline = VECTOR_BODY.to_vec();
        with_newline.push(b'\n');
        assert_eq!(
            v.verify(&with_newline, VECTOR_SIG),
            Err(WebhookRejection::BadSignature)
        );
        let value: serde_json::Value = serde_json::from_slice(VECTOR_BODY).unwrap();
        let reserialised = serde_json::to_vec_pretty(&value).unwrap();
        assert_eq!(
            v.verify(&reserialised, VECTOR_SIG),
            Err(WebhookRejection::BadSignature)
        );
    }

    #[test]
    fn escaped_unicode_is_verified_over_the_exact_bytes() {
        let body = br##"{"note":"a\/b \u0026 c \u2028","name":"#1"}"##;
        let sig = sign("hush", body);
        assert!(verifier(&["hush"]).verify(body, &sig).is_ok());
        let unescaped = "{\"note\":\"a/b & c \u{2028}\",\"name\":\"#1\"}";
        assert!(verifier(&["hush"])
            .verify(unescaped.as_bytes(), &sig)
            .is_err());
    }

    #[test]
    fn previous_secret_is_accepted_during_rotation() {
        let v = verifier(&["new-secret", "hush"]);
        assert!(v.verify(VECTOR_BODY, VECTOR_SIG).is_ok());
        assert!(verifier(&["new-secret"])
            .verify(VECTOR_BODY, VECTOR_SIG)
            .is_err());
    }

    #[test]
    fn no_secret_accepts_nothing() {
        let v = verifier(&[""]);
        assert!(!v.is_configured());
        assert!(v.verify(VECTOR_BODY, VECTOR_SIG).is_err());
    }

    #[test]
    fn debug_does_not_show_secrets() {
        assert!(!format!("{:?}", verifier(&["hush"])).contains("hush"));
    }

    #[test]
    fn authenticate_reads_routing_headers() {
        let d = verifier(&["hush"])
            .verify_delivery(&headers(VECTOR_SIG), VECTOR_BODY)
            .unwrap();
        assert_eq!(d.shop, "demo.myshopify.com");
        assert_eq!(d.topic, "orders/create");
        assert_eq!(d.delivery_id, "wh-1");
    }

    #[test]
    fn authenticate_falls_back_to_event_id() {
        let mut h = headers(VECTOR_SIG);
        h.remove("X-Shopify-Webhook-Id");
        h.insert("X-Shopify-Event-Id", "ev-9".parse().unwrap());
        let d = verifier(&["hush"])
            .verify_delivery(&h, VECTOR_BODY)
            .unwrap();
        assert_eq!(d.delivery_id, "ev-9");
    }

    #[test]
    fn authenticate_rejections() {
        let v = verifier(&["hush"]);
        let mut h = headers(VECTOR_SIG);
        h.remove("X-Shopify-Hmac-Sha256");
        assert_eq!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::MissingSignature)
        );
        assert_eq!(
            v.verify_delivery(&headers("not base64!"), VECTOR_BODY),
            Err(WebhookRejection::BadSignature)
        );
        let mut h = headers(VECTOR_SIG);
        h.insert("X-Shopify-Shop-Domain", "evil.example.com".parse().unwrap());
        assert!(matches!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::InvalidHeader(SHOP, _))
        ));
        let mut h = headers(VECTOR_SIG);
        h.append(
            "X-Shopify-Shop-Domain",
            "other.myshopify.com".parse().unwrap(),
        );
        assert!(matches!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::InvalidHeader(SHOP, _))
        ));
        let mut h = headers(VECTOR_SIG);
        h.remove("X-Shopify-Topic");
        assert_eq!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::MissingHeader(TOPIC))
        );
    }
}
