//! Etsy webhooks (§3.1, commercial apps only): Standard Webhooks signing. Headers
//! `webhook-id`, `webhook-timestamp` (Unix seconds), `webhook-signature` (space-separated
//! `v1,<base64>` entries); signed content `"{id}.{timestamp}.{raw body}"`; key = the base64
//! decoding of the portal's `whsec_…` secret; HMAC-SHA256. A timestamp more than five
//! minutes off our clock is refused (a replay). Whether Etsy's entries carry the `v1,` prefix
//! is [U]: both readings are accepted (a bare base64 entry is compared too). The body names
//! the shop (`shop_id`), which routes the delivery; `webhook-id` is the delivery id.

use crate::channels::body_hmac::{single_header as header, HmacSha256};
use crate::channels::{Delivery, WebhookRejection, WebhookVerifier};
use crate::domain::{Channel, Connection, Topic};
use crate::ports::{Secret, Vault};
use base64::Engine;
use hmac::{KeyInit, Mac};
use http::HeaderMap;
use std::sync::Arc;

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
/// How far a delivery's timestamp may be from our clock.
pub const TOLERANCE_SECS: i64 = 5 * 60;
/// At most this many signature entries are looked at (a rotation sends two or three).
const MAX_SIGNATURES: usize = 8;

/// The signing key of a `whsec_…` secret (base64 after the prefix); a secret without the
/// prefix is read the same way. `None`: not base64.
fn key(secret: &str) -> Option<HmacSha256> {
    let raw = secret.trim();
    let encoded = raw.strip_prefix("whsec_").unwrap_or(raw);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    HmacSha256::new_from_slice(&bytes).ok()
}

fn content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    signed
}

/// The `webhook-signature` value for a delivery: for tests, sample events and local fakes.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let Some(mut mac) = key(secret) else {
        return String::new();
    };
    mac.update(&content(id, &timestamp.to_string(), body));
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Where the webhook secret waits in the vault when the environment does not set it (AWS:
/// `channel-sync/{stack}/apps/etsy/webhook-secret`, which the webhooks function may read):
/// the `whsec_…` secret, or the current and previous ones separated by a space.
pub const WEBHOOK_SECRET_NAME: &str = "apps/etsy/webhook-secret";

/// Etsy's verifier, built once from the webhook secrets (current first), or reading them
/// once from the vault.
pub struct EtsyVerifier {
    keys: Vec<HmacSha256>,
    vault: Option<Arc<dyn Vault>>,
    from_vault: tokio::sync::OnceCell<Vec<HmacSha256>>,
}

impl std::fmt::Debug for EtsyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtsyVerifier({} key(s))", self.keys.len())
    }
}

impl EtsyVerifier {
    /// Unreadable secrets are left out (and logged without their value).
    pub fn new(secrets: &[Secret]) -> Self {
        Self {
            keys: keys(secrets.iter().map(Secret::expose)),
            vault: None,
            from_vault: tokio::sync::OnceCell::new(),
        }
    }

    /// With no secret in the environment, the vault's [`WEBHOOK_SECRET_NAME`] is read at the
    /// first delivery (and kept; a missing one is looked for again next time).
    pub fn with_vault(mut self, vault: Arc<dyn Vault>) -> Self {
        self.vault = Some(vault);
        self
    }

    async fn current_keys(&self) -> Result<&[HmacSha256], WebhookRejection> {
        if !self.keys.is_empty() {
            return Ok(&self.keys);
        }
        let Some(vault) = &self.vault else {
            return Err(no_secret());
        };
        self.from_vault
            .get_or_try_init(|| async {
                match vault.get(WEBHOOK_SECRET_NAME).await {
                    Ok(Some(secret)) => {
                        let found = keys(secret.expose().split_whitespace());
                        if found.is_empty() {
                            Err(no_secret())
                        } else {
                            Ok(found)
                        }
                    }
                    Ok(None) => Err(no_secret()),
                    Err(e) => Err(WebhookRejection::Unavailable(e.to_string())),
                }
            })
            .await
            .map(Vec::as_slice)
    }

    /// Verifies at `now` (Unix seconds) with the configured keys and reads the routing facts.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Delivery, WebhookRejection> {
        verify_with(&self.keys, headers, body, now)
    }
}

fn no_secret() -> WebhookRejection {
    WebhookRejection::NoSecret("the Etsy webhook secret is not configured".into())
}

fn keys<'a>(secrets: impl Iterator<Item = &'a str>) -> Vec<HmacSha256> {
    secrets
        .filter_map(|s| {
            let k = key(s);
            if k.is_none() {
                tracing::error!("an Etsy webhook secret is not whsec_ + base64: ignored");
            }
            k
        })
        .collect()
}

/// Verifies a delivery at `now` against `keys`.
fn verify_with(
    keys: &[HmacSha256],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Delivery, WebhookRejection> {
    let signatures = header(headers, SIGNATURE)?
        .filter(|s| !s.is_empty())
        .ok_or(WebhookRejection::MissingSignature)?;
    let id = header(headers, ID)?
        .filter(|s| !s.is_empty())
        .ok_or(WebhookRejection::MissingHeader(ID))?;
    if id.len() > 256 {
        return Err(WebhookRejection::InvalidHeader(ID, "too long".into()));
    }
    let timestamp = header(headers, TIMESTAMP)?
        .filter(|s| !s.is_empty())
        .ok_or(WebhookRejection::MissingHeader(TIMESTAMP))?;
    let at: i64 = timestamp
        .parse()
        .map_err(|_| WebhookRejection::InvalidHeader(TIMESTAMP, "not Unix seconds".into()))?;
    // A stale or future timestamp is a replay: refused like a wrong signature (401).
    if now.checked_sub(at).is_none_or(|d| d.abs() > TOLERANCE_SECS) {
        tracing::info!(
            delivery = id,
            timestamp = at,
            "Etsy webhook timestamp more than 5 minutes from our clock: refused"
        );
        return Err(WebhookRejection::BadSignature);
    }
    if keys.is_empty() {
        return Err(no_secret());
    }
    let signed = content(id, timestamp, body);
    let mut ok = false;
    for entry in signatures
        .split(' ')
        .filter(|e| !e.is_empty())
        .take(MAX_SIGNATURES)
    {
        let encoded = match entry.split_once(',') {
            Some(("v1", sig)) => sig,
            Some(_) => continue,
            None => entry,
        };
        let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            continue;
        };
        for key in keys {
            let mut mac = key.clone();
            mac.update(&signed);
            ok |= mac.verify_slice(&tag).is_ok();
        }
    }
    if !ok {
        return Err(WebhookRejection::BadSignature);
    }
    let (topic, shop) = routing(body)?;
    Ok(Delivery {
        shop,
        topic,
        delivery_id: id.to_owned(),
        triggered_at: Some(at.to_string()),
    })
}

/// `event_type` and `shop_id` of a signed body. Not JSON, or without them → refused as a
/// bad request (the intake answers 400 for a header problem).
fn routing(body: &[u8]) -> Result<(Topic, String), WebhookRejection> {
    #[derive(serde::Deserialize)]
    struct Head {
        event_type: String,
        shop_id: serde_json::Value,
    }
    let head: Head = serde_json::from_slice(body).map_err(|_| {
        WebhookRejection::InvalidHeader("body", "not an Etsy event (event_type, shop_id)".into())
    })?;
    let shop = match &head.shop_id {
        serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
        serde_json::Value::String(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.clone()
        }
        _ => {
            return Err(WebhookRejection::InvalidHeader(
                "body",
                "shop_id is not a shop id".into(),
            ))
        }
    };
    if head.event_type.len() > 64 {
        return Err(WebhookRejection::InvalidHeader("body", "event_type".into()));
    }
    let topic = Topic::parse(head.event_type)
        .map_err(|e| WebhookRejection::InvalidHeader("body", format!("event_type: {e}")))?;
    Ok((topic, shop))
}

#[async_trait::async_trait]
impl WebhookVerifier for EtsyVerifier {
    fn channel(&self) -> Channel {
        Channel::Etsy
    }

    async fn authenticate(
        &self,
        _connection: Option<&Connection>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        let keys = self.current_keys().await?;
        verify_with(keys, headers, body, chrono::Utc::now().timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1614265330;
    const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ID, id.parse().unwrap());
        h.insert(TIMESTAMP, ts.parse().unwrap());
        h.insert(SIGNATURE, sig.parse().unwrap());
        h
    }

    fn event(shop: u64) -> Vec<u8> {
        format!(r#"{{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/{shop}/receipts/54321","shop_id":{shop}}}"#).into_bytes()
    }

    #[test]
    fn the_standard_webhooks_vector_signs_and_verifies() {
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, body), VECTOR_SIG);
        // The vector body has no routing fields: the signature passes, the body is refused.
        let verifier = EtsyVerifier::new(&[Secret::new(VECTOR_SECRET)]);
        let h = headers(VECTOR_ID, &VECTOR_TS.to_string(), VECTOR_SIG);
        let err = verifier.verify_at(&h, body, VECTOR_TS).unwrap_err();
        assert!(
            matches!(err, WebhookRejection::InvalidHeader("body", _)),
            "{err:?}"
        );
        let bad = headers(
            VECTOR_ID,
            &VECTOR_TS.to_string(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
        );
        assert_eq!(
            verifier.verify_at(&bad, body, VECTOR_TS),
            Err(WebhookRejection::BadSignature)
        );
    }

    #[test]
    fn an_order_paid_event_routes_by_shop_and_dedupes_on_the_webhook_id() {
        let verifier = EtsyVerifier::new(&[Secret::new(VECTOR_SECRET)]);
        let body = event(42);
        let now = 1_800_000_000;
        let sig = sign(VECTOR_SECRET, "msg_1", now, &body);
        let d = verifier
            .verify_at(&headers("msg_1", &now.to_string(), &sig), &body, now + 299)
            .unwrap();
        assert_eq!(
            (d.shop.as_str(), d.topic.as_str(), d.delivery_id.as_str()),
            ("42", "order.paid", "msg_1")
        );
    }

    #[test]
    fn several_signatures_rotation_and_the_bare_form_are_accepted() {
        let old = "whsec_b2xkLXNlY3JldC1mb3ItdGVzdHMtb25seQ==";
        let verifier = EtsyVerifier::new(&[Secret::new(VECTOR_SECRET), Secret::new(old)]);
        let body = event(7);
        let now = 1_800_000_000;
        let good = sign(old, "msg_2", now, &body);
        let other = sign("whsec_bm90LW91cnM=", "msg_2", now, &body);
        let both = format!("v2,abc {other} {good}");
        assert!(verifier
            .verify_at(&headers("msg_2", &now.to_string(), &both), &body, now)
            .is_ok());
        let bare = good.trim_start_matches("v1,").to_owned();
        assert!(verifier
            .verify_at(&headers("msg_2", &now.to_string(), &bare), &body, now)
            .is_ok());
        assert_eq!(
            verifier.verify_at(&headers("msg_2", &now.to_string(), &other), &body, now),
            Err(WebhookRejection::BadSignature)
        );
    }

    #[test]
    fn stale_future_or_unsigned_deliveries_are_refused() {
        let verifier = EtsyVerifier::new(&[Secret::new(VECTOR_SECRET)]);
        let body = event(7);
        let at = 1_800_000_000;
        let sig = sign(VECTOR_SECRET, "msg_3", at, &body);
        let h = headers("msg_3", &at.to_string(), &sig);
        assert_eq!(
            verifier.verify_at(&h, &body, at + 301),
            Err(WebhookRejection::BadSignature)
        );
        assert_eq!(
            verifier.verify_at(&h, &body, at - 301),
            Err(WebhookRejection::BadSignature)
        );
        assert!(verifier.verify_at(&h, &body, at + 300).is_ok());
        // The id and timestamp are signed: changing either breaks the signature.
        let moved = headers("msg_3", &(at + 1).to_string(), &sig);
        assert_eq!(
            verifier.verify_at(&moved, &body, at),
            Err(WebhookRejection::BadSignature)
        );
        let other_id = headers("msg_4", &at.to_string(), &sig);
        assert_eq!(
            verifier.verify_at(&other_id, &body, at),
            Err(WebhookRejection::BadSignature)
        );
        let mut unsigned = h.clone();
        unsigned.remove(SIGNATURE);
        assert_eq!(
            verifier.verify_at(&unsigned, &body, at),
            Err(WebhookRejection::MissingSignature)
        );
        let mut tampered = body.clone();
        tampered[30] ^= 1;
        assert_eq!(
            verifier.verify_at(&h, &tampered, at),
            Err(WebhookRejection::BadSignature)
        );
        let unconfigured = EtsyVerifier::new(&[]);
        assert!(matches!(
            unconfigured.verify_at(&h, &body, at),
            Err(WebhookRejection::NoSecret(_))
        ));
    }
}

#[cfg(test)]
mod sample {
    use super::*;

    /// `events/webhooks-etsy-order-paid.json` is a delivery signed with the fake secret
    /// `whsec_ZmFrZS1ldHN5LXdlYmhvb2stc2VjcmV0LWZvci10ZXN0cw==` at its own timestamp.
    #[test]
    fn the_sample_event_is_a_correctly_signed_order_paid() {
        let raw = include_str!("../../../../events/webhooks-etsy-order-paid.json");
        let event: serde_json::Value = serde_json::from_str(raw).unwrap();
        let mut headers = HeaderMap::new();
        for name in [ID, TIMESTAMP, SIGNATURE] {
            headers.insert(
                name,
                event["headers"][name].as_str().unwrap().parse().unwrap(),
            );
        }
        let at: i64 = event["headers"][TIMESTAMP]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let verifier = EtsyVerifier::new(&[Secret::new(
            "whsec_ZmFrZS1ldHN5LXdlYmhvb2stc2VjcmV0LWZvci10ZXN0cw==",
        )]);
        let body = event["body"].as_str().unwrap().as_bytes();
        let delivery = verifier.verify_at(&headers, body, at).unwrap();
        assert_eq!(
            (delivery.shop.as_str(), delivery.topic.as_str()),
            ("42", "order.paid")
        );
    }
}
