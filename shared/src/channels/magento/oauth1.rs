//! OAuth 1.0a request signing (RFC 5849), HMAC-SHA256, as Magento integrations expect on every
//! REST call (integration tokens as bearer tokens are off by default since 2.4.4).
//!
//! The signature base string is RFC 5849 §3.4.1: the method, the base URI (lowercase scheme and
//! host, no default port, no query) and the normalized parameters (the `oauth_*` parameters
//! plus the decoded query parameters, each name and value percent-encoded with only
//! `ALPHA DIGIT - . _ ~` left alone, sorted by name then value). JSON bodies are not part of it.
//! The key is `encode(consumer_secret)&encode(token_secret)`.
//!
//! Magento's side (`Magento\Framework\Oauth\Helper\Request`): it rebuilds the URL from the
//! request (`scheme://host` + the raw request URI), splits the query on `&`/`=` and decodes
//! each name and value — with `rawurldecode` in older releases (so a `+` stays a `+`,
//! magento/magento2 PR #34896), `urldecode` in newer ones. Hence every query name and value is
//! sent RFC 3986-encoded, spaces as `%20` and never `+`, and no name is repeated (Magento keys
//! the parameters by name). Known Magento-side failures this cannot fix: SKUs with `/` or `&`
//! in a path segment (magento/magento2#37830, #37913), and stores behind a TLS-terminating
//! proxy that see themselves as `http` (the base URI then differs).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;

/// The four secrets of a Magento integration. Never logged.
#[derive(Clone, Copy)]
pub struct OAuthKeys<'a> {
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    pub token: &'a str,
    pub token_secret: &'a str,
}

impl std::fmt::Debug for OAuthKeys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuthKeys(<redacted>)")
    }
}

pub const SIGNATURE_METHOD: &str = "HMAC-SHA256";

/// RFC 3986 percent-encoding as RFC 5849 §3.6 wants it: everything but `ALPHA DIGIT - . _ ~`
/// is encoded, as UTF-8 bytes, with uppercase hex.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A fresh nonce: 32 random alphanumerics.
pub fn nonce() -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Seconds since the Unix epoch (Magento accepts 600 s of clock skew).
pub fn timestamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `oauth_*` protocol parameters, without the signature.
fn protocol_params(keys: &OAuthKeys, nonce: &str, timestamp: u64) -> Vec<(String, String)> {
    vec![
        ("oauth_consumer_key".into(), keys.consumer_key.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), SIGNATURE_METHOD.into()),
        ("oauth_timestamp".into(), timestamp.to_string()),
        ("oauth_token".into(), keys.token.into()),
        ("oauth_version".into(), "1.0".into()),
    ]
}

/// RFC 5849 §3.4.1.2: lowercase scheme and host, no default port, the path as sent, no query.
/// Also returns the decoded query parameters. Unparseable URLs are signed as given (the request
/// will fail anyway).
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Ok(parsed) = url::Url::parse(url) else {
        return (url.to_owned(), Vec::new());
    };
    // `url` already lowercases scheme and host and drops the scheme's default port.
    let mut base = format!(
        "{}://{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default()
    );
    if let Some(port) = parsed.port() {
        base.push_str(&format!(":{port}"));
    }
    base.push_str(parsed.path());
    let query = parsed
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    (base, query)
}

/// The signature base string of `method url` with the given protocol parameters
/// (`params` are the `oauth_*` ones except `oauth_signature`; the query's are added here).
pub fn signature_base_string(method: &str, url: &str, params: &[(String, String)]) -> String {
    let (base_uri, query) = split_url(url);
    let mut normalized: Vec<(String, String)> = params
        .iter()
        .chain(query.iter())
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    normalized.sort();
    let joined = normalized
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_uri),
        encode(&joined)
    )
}

/// The base64 HMAC-SHA256 of `base_string` under the integration's secrets.
pub fn sign(base_string: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(base_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The signature of one request.
pub fn signature(method: &str, url: &str, keys: &OAuthKeys, nonce: &str, timestamp: u64) -> String {
    let params = protocol_params(keys, nonce, timestamp);
    let base = signature_base_string(method, url, &params);
    sign(&base, keys.consumer_secret, keys.token_secret)
}

/// The `Authorization` header value of one request: `OAuth oauth_consumer_key="…", …` (no
/// realm), HMAC-SHA256, values percent-encoded. `url` is the full URL including the query,
/// exactly as it is sent.
pub fn authorization_header(
    method: &str,
    url: &str,
    keys: &OAuthKeys,
    nonce: &str,
    timestamp: u64,
) -> String {
    let mut params = protocol_params(keys, nonce, timestamp);
    let signature = signature(method, url, keys, nonce, timestamp);
    params.push(("oauth_signature".into(), signature));
    params.sort();
    let fields = params
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("OAuth {fields}")
}

/// Reads an `Authorization: OAuth …` header back into decoded (name, value) pairs; `None` when
/// it is not one. (For tests and diagnostics.)
pub fn parse_header(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim().strip_prefix("OAuth ")?;
    let mut out = Vec::new();
    for field in rest.split(',') {
        let (name, value) = field.trim().split_once('=')?;
        let value = value.strip_prefix('"')?.strip_suffix('"')?;
        out.push((percent_decode(name)?, percent_decode(value)?));
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_leaves_only_unreserved_characters() {
        assert_eq!(encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(encode("a b+c/d=e&f[0]:"), "a%20b%2Bc%2Fd%3De%26f%5B0%5D%3A");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("*"), "%2A");
    }

    #[test]
    fn nonces_are_long_random_alphanumerics() {
        let a = nonce();
        let b = nonce();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn base_uri_is_normalized_and_query_params_are_included() {
        let base = signature_base_string(
            "get",
            "HTTPS://Shop.Example.COM:443/rest/all/V1/orders?b=2&a=1&a=0",
            &[("oauth_nonce".into(), "n".into())],
        );
        assert_eq!(
            base,
            "GET&https%3A%2F%2Fshop.example.com%2Frest%2Fall%2FV1%2Forders&a%3D0%26a%3D1%26b%3D2%26oauth_nonce%3Dn"
        );
    }

    /// Signatures produced independently by Python oauthlib 4.0.1 (`python3 -m venv
    /// /tmp/venv-oauthlib && /tmp/venv-oauthlib/bin/pip install oauthlib`), with the script
    /// below; the five printed signatures are the expected values, in order. The POST vectors
    /// pass `body=None`: given a non-form body, oauthlib adds the `oauth_body_hash` extension
    /// parameter, which Magento does not use (JSON bodies are not signed).
    ///
    /// ```python
    /// import oauthlib.oauth1
    /// from urllib.parse import unquote
    /// def sig(url, method, ck, cs, tk, ts, nonce, timestamp, body=None, headers=None):
    ///     c = oauthlib.oauth1.Client(ck, client_secret=cs, resource_owner_key=tk, resource_owner_secret=ts,
    ///         signature_method=oauthlib.oauth1.SIGNATURE_HMAC_SHA256, nonce=nonce, timestamp=timestamp)
    ///     _, h, _ = c.sign(url, http_method=method, body=body, headers=headers)
    ///     a = h['Authorization']
    ///     return unquote(a.split('oauth_signature="')[1].split('"')[0])
    /// Q = ("searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at"
    ///      "&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2026-01-01%2000%3A00%3A00"
    ///      "&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bcondition_type%5D=gteq"
    ///      "&searchCriteria%5BsortOrders%5D%5B0%5D%5Bfield%5D=updated_at"
    ///      "&searchCriteria%5BsortOrders%5D%5B0%5D%5Bdirection%5D=ASC"
    ///      "&searchCriteria%5BpageSize%5D=100&searchCriteria%5BcurrentPage%5D=1")
    /// print("1", sig("https://shop.example.com/rest/all/V1/orders?" + Q, "GET", "ck123", "cs456", "tk789", "ts012", "abcdefghijklmnopqrstuvwxyz012345", "1767225600"))
    /// print("2", sig("https://shop.example.com/rest/default/V1/order/42/ship", "POST", "ck123", "cs456", "tk789", "ts012", "NONCE0000000000000000000000000001", "1767225601",
    ///       body=None, headers={"Content-Type": "application/json"}))  # JSON body: not signed
    /// print("3", sig("https://shop.example.com/rest/all/V1/inventory/source-items", "POST", "k&e+y", "c&s+/=\u00e9", "t/k=n", "t/s=+&\u00fc\u4e2d", "Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz", "1767225602",
    ///       body=None, headers={"Content-Type": "application/json"}))  # JSON body: not signed
    /// print("4", sig("https://Shop.EXAMPLE.com:8443/rest/all/V1/products?searchCriteria%5BpageSize%5D=1", "GET", "ck123", "cs456", "tk789", "ts012", "portportportportportportportport", "1767225603"))
    /// print("5", sig("http://Shop.Example.com:80/rest/all/V1/stockItems/A%2FB%20C?x=%E2%82%AC+y", "GET", "ck123", "cs456", "tk789", "ts012", "defaultportdefaultportdefaultpor", "1767225604"))
    /// ```
    #[test]
    fn signatures_match_oauthlib_vectors() {
        let plain = OAuthKeys {
            consumer_key: "ck123",
            consumer_secret: "cs456",
            token: "tk789",
            token_secret: "ts012",
        };
        let q =
            "searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at\
&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2026-01-01%2000%3A00%3A00\
&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bcondition_type%5D=gteq\
&searchCriteria%5BsortOrders%5D%5B0%5D%5Bfield%5D=updated_at\
&searchCriteria%5BsortOrders%5D%5B0%5D%5Bdirection%5D=ASC\
&searchCriteria%5BpageSize%5D=100&searchCriteria%5BcurrentPage%5D=1";
        let orders = format!("https://shop.example.com/rest/all/V1/orders?{q}");
        let odd = OAuthKeys {
            consumer_key: "k&e+y",
            consumer_secret: "c&s+/=\u{e9}",
            token: "t/k=n",
            token_secret: "t/s=+&\u{fc}\u{4e2d}",
        };
        let vectors: [(&str, &str, OAuthKeys, &str, u64, &str); 5] = [
            (
                "GET",
                orders.as_str(),
                plain,
                "abcdefghijklmnopqrstuvwxyz012345",
                1767225600,
                "NszKqbm3NgP3FqaJQHCCzY3Czhz4f6wRiYxxn1sqy1I=",
            ),
            (
                "POST",
                "https://shop.example.com/rest/default/V1/order/42/ship",
                plain,
                "NONCE0000000000000000000000000001",
                1767225601,
                "hYDXtfplo3z7PU8wViJetrhCh/aBlvv55Tr44bwSF3w=",
            ),
            (
                "POST",
                "https://shop.example.com/rest/all/V1/inventory/source-items",
                odd,
                "Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz9Zz",
                1767225602,
                "PX8FUHGYGJXt38girjxQjD9R5L1undxcoaLCLqQdp04=",
            ),
            (
                "GET",
                "https://Shop.EXAMPLE.com:8443/rest/all/V1/products?searchCriteria%5BpageSize%5D=1",
                plain,
                "portportportportportportportport",
                1767225603,
                "IS4EWmxPG97dCWm4WQ2H1LQzwTcQoteY8uuaSG2hrAw=",
            ),
            (
                "GET",
                "http://Shop.Example.com:80/rest/all/V1/stockItems/A%2FB%20C?x=%E2%82%AC+y",
                plain,
                "defaultportdefaultportdefaultpor",
                1767225604,
                "L0d+ztLWhmfVKT/pImshE2MeESPV1YultpUAXd6Q5xY=",
            ),
        ];
        for (method, url, keys, nonce, ts, expected) in vectors {
            assert_eq!(
                signature(method, url, &keys, nonce, ts),
                expected,
                "{method} {url}"
            );
            let header = authorization_header(method, url, &keys, nonce, ts);
            assert!(
                header.starts_with("OAuth oauth_consumer_key=\""),
                "{header}"
            );
            let fields = parse_header(&header).expect("the header parses back");
            let get = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_else(|| panic!("{name} missing from {header}"))
            };
            assert_eq!(fields.len(), 7, "{header}");
            assert_eq!(get("oauth_signature"), expected);
            assert_eq!(get("oauth_consumer_key"), keys.consumer_key);
            assert_eq!(get("oauth_token"), keys.token);
            assert_eq!(get("oauth_nonce"), nonce);
            assert_eq!(get("oauth_timestamp"), ts.to_string());
            assert_eq!(get("oauth_signature_method"), "HMAC-SHA256");
            assert_eq!(get("oauth_version"), "1.0");
        }
    }
}
