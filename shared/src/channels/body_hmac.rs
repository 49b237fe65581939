//! The webhook signature Shopify and WooCommerce share: base64(HMAC-SHA256(secret, exact body
//! bytes)), compared in constant time against every accepted key, plus the strict header read
//! both use (a routing header sent twice is refused, never guessed).

use super::WebhookRejection;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;

pub type HmacSha256 = Hmac<Sha256>;

/// A key for `secret` (HMAC accepts keys of any length).
pub fn key(secret: &str) -> HmacSha256 {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// Signs `body`: for tests, sample events and local fake stores.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = key(secret);
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a base64 signature over `body` against every key; every key is tried so the time
/// taken does not tell which one matched.
pub fn verify_any<'k>(
    keys: impl IntoIterator<Item = &'k HmacSha256>,
    body: &[u8],
    signature_b64: &str,
) -> Result<(), WebhookRejection> {
    let tag = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| WebhookRejection::BadSignature)?;
    let mut ok = false;
    for key in keys {
        let mut mac = key.clone();
        mac.update(body);
        ok |= mac.verify_slice(&tag).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(WebhookRejection::BadSignature)
    }
}

/// A header's trimmed value; sent more than once or not visible ASCII → refused.
pub fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, WebhookRejection> {
    if headers.get_all(name).iter().nth(1).is_some() {
        return Err(WebhookRejection::InvalidHeader(
            name,
            "sent more than once".into(),
        ));
    }
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| WebhookRejection::InvalidHeader(name, "not visible ASCII".into())),
    }
}
