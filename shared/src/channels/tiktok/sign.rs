//! TikTok Shop's two signatures (reference §1.1 and §1.3), both lowercase hex HMAC-SHA256
//! with the app secret as key:
//! - every API request: `secret + path + sorted(key + value) + exact body bytes + secret`
//!   (the query without `sign` and `access_token`; the body unless multipart);
//! - every webhook: `app_key + raw body`, sent bare in the `Authorization` header.

use crate::channels::body_hmac::key;
use hmac::Mac;

/// Query parameters never signed.
const UNSIGNED: [&str; 2] = ["sign", "access_token"];

/// The string a request signature covers (before the HMAC), for `path` (no host, no query),
/// `query` (any order: sorted here) and the exact `body` bytes sent.
pub fn string_to_sign(
    secret: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut pairs: Vec<&(String, String)> = query
        .iter()
        .filter(|(k, _)| !UNSIGNED.contains(&k.as_str()))
        .collect();
    // Byte order of the keys, as TikTok's reference implementation sorts them.
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::with_capacity(secret.len() * 2 + path.len() + body.len() + 64);
    out.extend_from_slice(secret.as_bytes());
    out.extend_from_slice(path.as_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(body);
    out.extend_from_slice(secret.as_bytes());
    out
}

/// The `sign` query parameter of a request.
pub fn sign_request(secret: &str, path: &str, query: &[(String, String)], body: &[u8]) -> String {
    hex_hmac(secret, &string_to_sign(secret, path, query, body))
}

/// The `Authorization` header TikTok sends with a webhook: for tests and local fakes.
pub fn sign_webhook(app_key: &str, secret: &str, body: &[u8]) -> String {
    let mut mac = key(secret);
    mac.update(app_key.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a webhook's `Authorization` value against every accepted secret, in constant time
/// per secret; every secret is tried, so the time taken does not tell which one matched.
pub fn verify_webhook<'s>(
    app_key: &str,
    secrets: impl IntoIterator<Item = &'s str>,
    body: &[u8],
    signature_hex: &str,
) -> bool {
    let Ok(tag) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut ok = false;
    for secret in secrets {
        let mut mac = key(secret);
        mac.update(app_key.as_bytes());
        mac.update(body);
        ok |= mac.verify_slice(&tag).is_ok();
    }
    ok
}

fn hex_hmac(secret: &str, message: &[u8]) -> String {
    let mut mac = key(secret);
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// TikTok's published vector ("Sign your API request", reference §1.1 [V]).
    #[test]
    fn the_published_request_vector_signs() {
        let query = pairs(&[("timestamp", "1623812664"), ("app_key", "29a39d")]);
        let path = "/authorization/202309/shops";
        assert_eq!(
            String::from_utf8(string_to_sign("e59af819cc", path, &query, b"")).unwrap(),
            "e59af819cc/authorization/202309/shopsapp_key29a39dtimestamp1623812664e59af819cc"
        );
        assert_eq!(
            sign_request("e59af819cc", path, &query, b""),
            "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
        );
    }

    #[test]
    fn sign_and_access_token_are_left_out_and_the_body_is_appended_as_sent() {
        let query = pairs(&[
            ("timestamp", "1696909648"),
            ("shop_cipher", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK"),
            ("sign", "whatever"),
            ("access_token", "tok"),
            ("app_key", "68xu9ks5p4i8"),
        ]);
        let body = br#"{"address":"https://partner.tiktokshop.com","event_type":"PACKAGE_UPDATE"}"#;
        let s = string_to_sign("e59af819cc", "/event/202309/webhooks", &query, body);
        assert_eq!(
            String::from_utf8(s).unwrap(),
            format!(
                "e59af819cc/event/202309/webhooksapp_key68xu9ks5p4i8shop_cipherROW_xkMbgAAAeVAQra0eZWebFQq5aIKtimestamp1696909648{}e59af819cc",
                std::str::from_utf8(body).unwrap()
            )
        );
        // Computed by the reference with openssl (not published by TikTok).
        assert_eq!(
            sign_request("e59af819cc", "/event/202309/webhooks", &query, body),
            "cd0d6268252f4ba293bf7ea4c0a2873bf9beec600d22530638564ab301435f7a"
        );
    }

    /// TikTok's official webhook vector (reference §1.3 [V]).
    const VECTOR_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
    const VECTOR_SIG: &str = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

    #[test]
    fn the_official_webhook_vector_verifies() {
        assert_eq!(
            sign_webhook("abcdef", "123", VECTOR_BODY.as_bytes()),
            VECTOR_SIG
        );
        assert!(verify_webhook(
            "abcdef",
            ["123"],
            VECTOR_BODY.as_bytes(),
            VECTOR_SIG
        ));
        // The previous secret during a rotation.
        assert!(verify_webhook(
            "abcdef",
            ["new", "123"],
            VECTOR_BODY.as_bytes(),
            VECTOR_SIG
        ));
    }

    #[test]
    fn a_changed_byte_key_or_encoding_fails() {
        let body = VECTOR_BODY.as_bytes();
        assert!(!verify_webhook("abcdef", ["124"], body, VECTOR_SIG));
        assert!(!verify_webhook("abcdeg", ["123"], body, VECTOR_SIG));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(!verify_webhook("abcdef", ["123"], &tampered, VECTOR_SIG));
        assert!(!verify_webhook("abcdef", ["123"], body, "not hex"));
        assert!(!verify_webhook("abcdef", ["123"], body, ""));
        assert!(!verify_webhook(
            "abcdef",
            Vec::<&str>::new(),
            body,
            VECTOR_SIG
        ));
    }
}
