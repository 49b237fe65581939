//! eBay's signed notifications (Notification API and Marketplace Account Deletion).
//! Facts: `../shared/reference/channels-tiktok-ebay-etsy-veeqo.md` §2.1.
//!
//! - The endpoint challenge: eBay calls `GET <endpoint>?challenge_code=…` and expects
//!   `{"challengeResponse": hex(SHA-256(challenge_code ‖ verification_token ‖ endpoint))}`.
//! - `X-EBAY-SIGNATURE`: base64 of `{"alg":"ecdsa","kid":…,"signature":<base64 DER>,
//!   "digest":"SHA1"}`. The public key of `kid` comes from the Notification API (application
//!   token) and is cached by kid for an hour, unknown kids included, so a flood of forged
//!   kids costs one key fetch each per hour at most, never one per message (the daily quota
//!   is 10 000 calls). ECDSA P-256 over the digest the header names (SHA-1 in practice) of
//!   the raw body; eBay's own SDKs verify the compact re-serialisation, so a body with
//!   insignificant whitespace is also checked compacted (key order kept).

use base64::Engine;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The challenge answer for `challenge_code`, with our `verification_token` and exactly the
/// `endpoint` URL registered with eBay: lowercase hex SHA-256 of their concatenation.
pub fn challenge_response(
    challenge_code: &str,
    verification_token: &str,
    endpoint: &str,
) -> String {
    let mut hash = Sha256::new();
    hash.update(challenge_code.as_bytes());
    hash.update(verification_token.as_bytes());
    hash.update(endpoint.as_bytes());
    hex::encode(hash.finalize())
}

/// Whether a verification token is acceptable to eBay: 32 to 80 characters of
/// `[A-Za-z0-9_-]` (the length is eBay's; the character set is the common reading, [U]).
pub fn valid_verification_token(token: &str) -> bool {
    (32..=80).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The digest an `X-EBAY-SIGNATURE` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    Sha1,
    Sha256,
}

impl DigestKind {
    fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            _ => None,
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(message).to_vec(),
            Self::Sha256 => Sha256::digest(message).to_vec(),
        }
    }
}

/// A decoded `X-EBAY-SIGNATURE` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub kid: String,
    pub digest: DigestKind,
    /// The DER signature bytes.
    pub signature: Vec<u8>,
}

/// Why a signature header is refused (each a 412 for eBay).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-EBAY-SIGNATURE is not base64 JSON with alg, kid, signature and digest")]
    Malformed,
    #[error("X-EBAY-SIGNATURE names algorithm {0:?}; only ecdsa is accepted")]
    WrongAlgorithm(String),
    #[error("X-EBAY-SIGNATURE names digest {0:?}; only SHA1 and SHA256 are accepted")]
    WrongDigest(String),
}

/// Most bytes of an `X-EBAY-SIGNATURE` header looked at (real ones are ~250).
const MAX_HEADER: usize = 4096;

impl SignatureHeader {
    pub fn parse(raw: &str) -> Result<Self, SignatureError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            alg: String,
            kid: String,
            signature: String,
            digest: String,
        }
        let raw = raw.trim();
        if raw.len() > MAX_HEADER {
            return Err(SignatureError::Malformed);
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = b64.decode(raw).map_err(|_| SignatureError::Malformed)?;
        let parsed: Raw = serde_json::from_slice(&json).map_err(|_| SignatureError::Malformed)?;
        if !parsed.alg.eq_ignore_ascii_case("ecdsa") {
            return Err(SignatureError::WrongAlgorithm(short(&parsed.alg)));
        }
        let digest = DigestKind::parse(&parsed.digest)
            .ok_or_else(|| SignatureError::WrongDigest(short(&parsed.digest)))?;
        let kid = parsed.kid.trim();
        if kid.is_empty()
            || kid.len() > 128
            || !kid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SignatureError::Malformed);
        }
        let signature = b64
            .decode(parsed.signature.trim())
            .map_err(|_| SignatureError::Malformed)?;
        Ok(Self {
            kid: kid.to_owned(),
            digest,
            signature,
        })
    }
}

fn short(s: &str) -> String {
    s.chars().take(20).collect()
}

/// A public key as the Notification API returns it: `-----BEGIN PUBLIC KEY-----<base64 DER
/// on one line>-----END PUBLIC KEY-----` (not strict PEM), or bare base64 DER.
pub fn parse_public_key(raw: &str) -> Option<VerifyingKey> {
    let body: String = raw
        .replace("-----BEGIN PUBLIC KEY-----", "")
        .replace("-----END PUBLIC KEY-----", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    VerifyingKey::from_public_key_der(&der).ok()
}

/// Whether `signature` (DER) over `body` verifies with `key` and `digest`: first over the
/// exact bytes, then over the compacted JSON when the body has insignificant whitespace.
pub fn verify(key: &VerifyingKey, digest: DigestKind, signature: &[u8], body: &[u8]) -> bool {
    let Ok(signature) = Signature::from_der(signature) else {
        return false;
    };
    if key.verify_prehash(&digest.digest(body), &signature).is_ok() {
        return true;
    }
    match compact_json(body) {
        Some(compact) if compact != body => key
            .verify_prehash(&digest.digest(&compact), &signature)
            .is_ok(),
        _ => false,
    }
}

/// `body` without whitespace outside strings (what `JSON.stringify(JSON.parse(body))` gives
/// for bodies without escapes to normalise), key order kept. `None` when not UTF-8.
fn compact_json(body: &[u8]) -> Option<Vec<u8>> {
    std::str::from_utf8(body).ok()?;
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            out.push(b);
        }
    }
    Some(out)
}

/// How long a fetched public key (or a kid eBay does not know) is remembered.
pub const KEY_TTL: Duration = Duration::from_secs(3600);

/// Public keys by kid, each remembered for [`KEY_TTL`]; `None` remembers a kid eBay said it
/// does not know, so a forged kid is fetched once per TTL, not once per message.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<VerifyingKey>)>>,
}

/// Most kids remembered (eBay rotates a handful; forged kids beyond this evict the oldest).
const MAX_KIDS: usize = 256;

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The remembered answer for `kid`: `Some(Some(key))`, `Some(None)` (unknown to eBay),
    /// or `None` (never fetched or expired).
    pub fn get(&self, kid: &str) -> Option<Option<VerifyingKey>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(kid)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, key)| *key)
    }

    pub fn put(&self, kid: &str, key: Option<VerifyingKey>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_KIDS && !entries.contains_key(kid) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(kid.to_owned(), (Instant::now(), key));
    }
}

/// What a verified notification says, read from its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub topic: String,
    pub notification_id: String,
    pub event_date: Option<String>,
    pub data: serde_json::Value,
}

/// Reads `{"metadata":{"topic"…},"notification":{"notificationId","eventDate","data"}}`.
pub fn envelope(body: &[u8]) -> Result<Envelope, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 200)
            .map(str::to_owned)
    };
    let topic = text(value.pointer("/metadata/topic")).ok_or("metadata.topic is missing")?;
    let notification_id = text(value.pointer("/notification/notificationId"))
        .ok_or("notification.notificationId is missing")?;
    Ok(Envelope {
        topic,
        notification_id,
        event_date: text(value.pointer("/notification/eventDate")),
        data: value
            .pointer("/notification/data")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    })
}

/// Signing as eBay does, for tests and local fakes (with a key they make; eBay's private keys
/// are never ours).
pub mod signing {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePublicKey;

    /// A fresh P-256 key (never stored anywhere).
    pub fn key() -> SigningKey {
        loop {
            if let Ok(key) = SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
                return key;
            }
        }
    }

    /// The public key as the Notification API spells it.
    pub fn public_pem(key: &SigningKey) -> String {
        let der = key
            .verifying_key()
            .to_public_key_der()
            .expect("a P-256 public key encodes");
        format!(
            "-----BEGIN PUBLIC KEY-----{}-----END PUBLIC KEY-----",
            base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
        )
    }

    /// An `X-EBAY-SIGNATURE` for `body` (`alg`, `digest` as given).
    pub fn header(key: &SigningKey, kid: &str, alg: &str, digest: &str, body: &[u8]) -> String {
        let kind = DigestKind::parse(digest).unwrap_or(DigestKind::Sha1);
        let signature: Signature = key
            .sign_prehash(&kind.digest(body))
            .expect("signing a digest works");
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = serde_json::json!({
            "alg": alg, "kid": kid,
            "signature": b64.encode(signature.to_der().as_bytes()),
            "digest": digest,
        });
        b64.encode(json.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's verified vector (eBay's Node SDK test "VALID").
    const VECTOR_HEADER: &str = "eyJhbGciOiJlY2RzYSIsImtpZCI6Ijk5MzYyNjFhLTdkN2ItNDYyMS1hMGYxLTk2Y2NiNDI4YWY0OSIsInNpZ25hdHVyZSI6Ik1FWUNJUUNmeGZJV3V4bVdjSUJRSjljNS9YN2lHREpxczJSQ0dzQkVhQWppbnlycmZBSWhBSVY2d0djVGlCdVY1S0pVaWYyaG9reXJMK1E5c3NIa2FkK214Mm5FRTI1dyIsImRpZ2VzdCI6IlNIQTEifQ==";
    const VECTOR_KEY: &str = "-----BEGIN PUBLIC KEY-----MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZhhxXKtR+TOvtDbgTPCkSof02qgBB7IsYOyf76ilExJ/upAa/vKIKheOoCyOpcLmi4t0b4uepb7LLjmMr90FUg==-----END PUBLIC KEY-----";
    pub(crate) const VECTOR_BODY: &str = r#"{"metadata":{"topic":"MARKETPLACE_ACCOUNT_DELETION","schemaVersion":"1.0","deprecated":false},"notification":{"notificationId":"49feeaeb-4982-42d9-a377-9645b8479411_33f7e043-fed8-442b-9d44-791923bd9a6d","eventDate":"2021-03-19T20:43:59.462Z","publishDate":"2021-03-19T20:43:59.679Z","publishAttemptCount":1,"data":{"username":"test_user","userId":"ma8vp1jySJC","eiasToken":"nY+sHZ2PrBmdj6wVnY+sEZ2PrA2dj6wJnY+gAZGEpwmdj6x9nY+seQ=="}}}"#;

    #[test]
    fn the_reference_vector_verifies_with_sha1_and_not_with_sha256() {
        let header = SignatureHeader::parse(VECTOR_HEADER).unwrap();
        assert_eq!(header.kid, "9936261a-7d7b-4621-a0f1-96ccb428af49");
        assert_eq!(header.digest, DigestKind::Sha1);
        let key = parse_public_key(VECTOR_KEY).unwrap();
        assert!(verify(
            &key,
            DigestKind::Sha1,
            &header.signature,
            VECTOR_BODY.as_bytes()
        ));
        assert!(!verify(
            &key,
            DigestKind::Sha256,
            &header.signature,
            VECTOR_BODY.as_bytes()
        ));
        let tampered = VECTOR_BODY.replace("test_user", "test_usex");
        assert!(!verify(
            &key,
            DigestKind::Sha1,
            &header.signature,
            tampered.as_bytes()
        ));
        // eBay's SDKs verify the compact form: a pretty-printed copy still verifies.
        let pretty = VECTOR_BODY.replace(",\"", ", \"").replace('{', "{\n  ");
        assert!(verify(
            &key,
            DigestKind::Sha1,
            &header.signature,
            pretty.as_bytes()
        ));
    }

    #[test]
    fn the_challenge_response_is_sha256_of_code_token_endpoint() {
        // Computed independently: printf '%s' 'a8628072-3d33-45ee-9004-bee86830a22d71f6b5f4-6c33-4b53-95c5-d0a57a4deb31https://sync.example/webhooks/ebay' | sha256sum
        let answer = challenge_response(
            "a8628072-3d33-45ee-9004-bee86830a22d",
            "71f6b5f4-6c33-4b53-95c5-d0a57a4deb31",
            "https://sync.example/webhooks/ebay",
        );
        assert_eq!(answer, EXPECTED_CHALLENGE);
        assert_ne!(
            answer,
            challenge_response(
                "a8628072-3d33-45ee-9004-bee86830a22d",
                "71f6b5f4-6c33-4b53-95c5-d0a57a4deb31",
                "https://sync.example/webhooks/ebay/",
            ),
            "the endpoint is taken exactly"
        );
    }

    const EXPECTED_CHALLENGE: &str =
        "8164f699c1b7607d325371dc5a3eac09dd37bd1abfc9ce22e6b85414f84eeb8d";

    #[test]
    fn headers_that_are_not_ecdsa_or_not_json_are_refused() {
        let key = signing::key();
        let body = br#"{"a":1}"#;
        let rsa = signing::header(&key, "k1", "rsa", "SHA1", body);
        assert_eq!(
            SignatureHeader::parse(&rsa),
            Err(SignatureError::WrongAlgorithm("rsa".into()))
        );
        let md5 = signing::header(&key, "k1", "ecdsa", "MD5", body);
        assert!(matches!(
            SignatureHeader::parse(&md5),
            Err(SignatureError::WrongDigest(_))
        ));
        assert_eq!(
            SignatureHeader::parse("not base64!"),
            Err(SignatureError::Malformed)
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            SignatureHeader::parse(&b64.encode("[1]")),
            Err(SignatureError::Malformed)
        );
        let bad_kid = signing::header(&key, "../x", "ecdsa", "SHA1", body);
        assert_eq!(
            SignatureHeader::parse(&bad_kid),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_signature_made_in_the_test_verifies_with_either_digest_it_names() {
        let key = signing::key();
        let public = parse_public_key(&signing::public_pem(&key)).unwrap();
        let body = br#"{"metadata":{"topic":"ORDER_CONFIRMATION"}}"#;
        for digest in ["SHA1", "SHA256"] {
            let header =
                SignatureHeader::parse(&signing::header(&key, "k", "ecdsa", digest, body)).unwrap();
            assert!(verify(&public, header.digest, &header.signature, body));
            assert!(!verify(
                &public,
                header.digest,
                &header.signature,
                b"{\"metadata\":{}}"
            ));
        }
        let other = parse_public_key(&signing::public_pem(&signing::key())).unwrap();
        let header =
            SignatureHeader::parse(&signing::header(&key, "k", "ecdsa", "SHA1", body)).unwrap();
        assert!(!verify(&other, header.digest, &header.signature, body));
    }

    #[test]
    fn the_key_cache_remembers_unknown_kids_and_forgets_after_its_ttl() {
        let cache = KeyCache::new(KEY_TTL);
        assert_eq!(cache.get("k"), None);
        cache.put("k", None);
        assert_eq!(cache.get("k"), Some(None));
        let expired = KeyCache::new(Duration::ZERO);
        expired.put("k", None);
        assert_eq!(expired.get("k"), None);
    }

    #[test]
    fn verification_tokens_follow_ebays_rule() {
        assert!(valid_verification_token(&"a".repeat(32)));
        assert!(valid_verification_token(&"a-_9".repeat(20)));
        assert!(!valid_verification_token(&"a".repeat(31)));
        assert!(!valid_verification_token(&"a".repeat(81)));
        assert!(!valid_verification_token(&format!("{}!", "a".repeat(40))));
    }

    #[test]
    fn the_envelope_gives_topic_and_notification_id() {
        let e = envelope(VECTOR_BODY.as_bytes()).unwrap();
        assert_eq!(e.topic, "MARKETPLACE_ACCOUNT_DELETION");
        assert!(e.notification_id.starts_with("49feeaeb"));
        assert_eq!(e.data["userId"], "ma8vp1jySJC");
        assert!(envelope(b"{}").is_err());
        assert!(envelope(b"nope").is_err());
    }
}
