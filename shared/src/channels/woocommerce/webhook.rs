//! WooCommerce webhook deliveries: the unsigned ping, and `X-WC-Webhook-Signature` =
//! base64(HMAC-SHA256(webhook secret, exact body bytes)) (§2.1, `WC_Webhook::generate_signature`).

use crate::channels::body_hmac::{self, single_header as header};
use crate::channels::{Delivery, WebhookRejection};
use crate::domain::Topic;
use http::HeaderMap;

const SIGNATURE: &str = "x-wc-webhook-signature";
const SOURCE: &str = "x-wc-webhook-source";
const TOPIC: &str = "x-wc-webhook-topic";
const DELIVERY_ID: &str = "x-wc-webhook-delivery-id";

/// Whether a delivery is WooCommerce's verification ping (`WC_Webhook::deliver_ping`): a
/// form-encoded `webhook_id=<id>` body without any signature. It must be answered 200 before
/// any signature check, or the admin cannot save the webhook (§2.1).
pub fn is_ping(headers: &HeaderMap, body: &[u8]) -> bool {
    if headers.contains_key(SIGNATURE) {
        return false;
    }
    match body.strip_prefix(b"webhook_id=") {
        Some(digits) => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        None => false,
    }
}

/// Signs `body` as WooCommerce does: for tests, sample events and the local fake store.
pub fn sign(secret: &str, body: &[u8]) -> String {
    body_hmac::sign(secret, body)
}

/// Verifies a delivery against any of `secrets` (current first, then previous ones during a
/// rotation; blank ones are skipped), over the exact `body` bytes, in constant time, trying
/// every secret so the time taken does not tell which matched. Then reads the routing headers:
/// `X-WC-Webhook-Source` (the store's `home_url`, trimmed, `""` when absent),
/// `X-WC-Webhook-Topic` and `X-WC-Webhook-Delivery-ID` (both required). The delivery id is
/// `wp_hash(webhook_id . time())`: unique per delivery, not per event (§2.1), so it dedupes
/// only a repeated delivery, never two deliveries of one change.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
) -> Result<Delivery, WebhookRejection> {
    let signature = header(headers, SIGNATURE)?
        .filter(|s| !s.is_empty())
        .ok_or(WebhookRejection::MissingSignature)?;
    let keys: Vec<_> = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| body_hmac::key(s))
        .collect();
    body_hmac::verify_any(&keys, body, signature)?;
    let topic = header(headers, TOPIC)?
        .filter(|t| !t.is_empty())
        .ok_or(WebhookRejection::MissingHeader(TOPIC))?;
    let topic =
        Topic::parse(topic).map_err(|e| WebhookRejection::InvalidHeader(TOPIC, e.to_string()))?;
    let delivery_id = header(headers, DELIVERY_ID)?
        .filter(|t| !t.is_empty())
        .ok_or(WebhookRejection::MissingHeader(DELIVERY_ID))?;
    if delivery_id.len() > 256 {
        return Err(WebhookRejection::InvalidHeader(
            DELIVERY_ID,
            "too long".into(),
        ));
    }
    let shop = header(headers, SOURCE)?.unwrap_or("");
    if shop.len() > 2048 {
        return Err(WebhookRejection::InvalidHeader(SOURCE, "too long".into()));
    }
    Ok(Delivery {
        shop: shop.to_owned(),
        topic,
        delivery_id: delivery_id.to_owned(),
        triggered_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // §4 test vector 2 (computed with openssl).
    const VECTOR_BODY: &[u8] = br##"{"id":820982911946154508,"name":"#9999"}"##;
    const VECTOR_SIG: &str = "YBwnJ9vsibq7srObgXybmGHWuwos+jDEL//7749XS78=";

    fn headers(sig: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(sig) = sig {
            h.insert("X-WC-Webhook-Signature", sig.parse().unwrap());
        }
        h.insert(
            "X-WC-Webhook-Source",
            " https://shop.example.com/ ".parse().unwrap(),
        );
        h.insert("X-WC-Webhook-Topic", "order.updated".parse().unwrap());
        h.insert("X-WC-Webhook-Delivery-ID", "d41d8cd9".parse().unwrap());
        h.insert("X-WC-Webhook-ID", "12".parse().unwrap());
        h
    }

    #[test]
    fn reference_vector_verifies_and_reads_headers() {
        assert_eq!(sign("hush", VECTOR_BODY), VECTOR_SIG);
        let d = verify(&headers(Some(VECTOR_SIG)), VECTOR_BODY, &["hush"]).unwrap();
        assert_eq!(
            d,
            Delivery {
                shop: "https://shop.example.com/".into(),
                topic: Topic::parse("order.updated").unwrap(),
                delivery_id: "d41d8cd9".into(),
                triggered_at: None,
            }
        );
    }

    #[test]
    fn trailing_newline_and_reserialised_json_fail() {
        let h = headers(Some(VECTOR_SIG));
        let mut with_newline = VECTOR_BODY.to_vec();
        with_newline.push(b'\n');
        assert_eq!(
            verify(&h, &with_newline, &["hush"]),
            Err(WebhookRejection::BadSignature)
        );
        let value: serde_json::Value = serde_json::from_slice(VECTOR_BODY).unwrap();
        let reserialised = serde_json::to_vec_pretty(&value).unwrap();
        assert_eq!(
            verify(&h, &reserialised, &["hush"]),
            Err(WebhookRejection::BadSignature)
        );
    }

    #[test]
    fn rotation_accepts_the_second_secret_and_blank_secrets_accept_nothing() {
        let h = headers(Some(VECTOR_SIG));
        assert!(verify(&h, VECTOR_BODY, &["new-secret", "hush"]).is_ok());
        assert_eq!(
            verify(&h, VECTOR_BODY, &["new-secret"]),
            Err(WebhookRejection::BadSignature)
        );
        assert_eq!(
            verify(&h, VECTOR_BODY, &[""]),
            Err(WebhookRejection::BadSignature)
        );
        assert_eq!(
            verify(&h, VECTOR_BODY, &[]),
            Err(WebhookRejection::BadSignature)
        );
    }

    #[test]
    fn rejections() {
        assert_eq!(
            verify(&headers(None), VECTOR_BODY, &["hush"]),
            Err(WebhookRejection::MissingSignature)
        );
        assert_eq!(
            verify(&headers(Some("not base64!")), VECTOR_BODY, &["hush"]),
            Err(WebhookRejection::BadSignature)
        );
        let mut h = headers(Some(VECTOR_SIG));
        h.remove("X-WC-Webhook-Topic");
        assert_eq!(
            verify(&h, VECTOR_BODY, &["hush"]),
            Err(WebhookRejection::MissingHeader(TOPIC))
        );
        let mut h = headers(Some(VECTOR_SIG));
        h.remove("X-WC-Webhook-Delivery-ID");
        assert_eq!(
            verify(&h, VECTOR_BODY, &["hush"]),
            Err(WebhookRejection::MissingHeader(DELIVERY_ID))
        );
        let mut h = headers(Some(VECTOR_SIG));
        h.remove("X-WC-Webhook-Source");
        assert_eq!(verify(&h, VECTOR_BODY, &["hush"]).unwrap().shop, "");
        let mut h = headers(Some(VECTOR_SIG));
        h.append("X-WC-Webhook-Topic", "order.deleted".parse().unwrap());
        assert!(matches!(
            verify(&h, VECTOR_BODY, &["hush"]),
            Err(WebhookRejection::InvalidHeader(TOPIC, _))
        ));
        // The topic is parsed here, once: the longest accepted, one more refused.
        for (topic, ok) in [("t".repeat(128), true), ("t".repeat(129), false)] {
            let mut h = headers(Some(VECTOR_SIG));
            h.insert("X-WC-Webhook-Topic", topic.parse().unwrap());
            let read = verify(&h, VECTOR_BODY, &["hush"]);
            match read {
                Ok(d) => assert!(ok && d.topic.as_str() == topic),
                Err(e) => assert!(!ok && matches!(e, WebhookRejection::InvalidHeader(TOPIC, _))),
            }
        }
    }

    #[test]
    fn ping_is_recognised_only_unsigned_and_exact() {
        let mut bare = HeaderMap::new();
        bare.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert!(is_ping(&bare, b"webhook_id=3"));
        assert!(!is_ping(&bare, b"webhook_id="));
        assert!(!is_ping(&bare, b"webhook_id=3&x=1"));
        assert!(!is_ping(&bare, b"webhook_id=3\n"));
        assert!(!is_ping(&bare, VECTOR_BODY));
        let body = b"webhook_id=3";
        let signed = headers(Some(&sign("hush", body)));
        assert!(!is_ping(&signed, body));
        assert!(!is_ping(&headers(Some(VECTOR_SIG)), VECTOR_BODY));
    }
}
