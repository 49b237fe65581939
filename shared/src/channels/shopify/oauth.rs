//! Shopify OAuth (authorization-code grant): the query `hmac` check, the authorize URL, the
//! code exchange and the rotation of expiring offline tokens.

use super::ShopifyClient;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

/// The scopes channel-sync asks for. `write_X` implies `read_X` when Shopify reports grants.
pub const SCOPES: &[&str] = &[
    "read_orders",
    "read_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_merchant_managed_fulfillment_orders",
    "write_merchant_managed_fulfillment_orders",
];

/// Asked for as well, but an install without them still works: a fulfilment location that is
/// our fulfillment service's has "assigned" fulfillment orders, and answering their
/// cancellation requests needs the write scope (`moves.rs`). Without them such a request is
/// recorded for the WMS instead of answered.
pub const OPTIONAL_SCOPES: &[&str] = &[
    "read_assigned_fulfillment_orders",
    "write_assigned_fulfillment_orders",
];

/// Verifies the `hmac` of an install or callback query: hex HMAC-SHA256 with the app secret
/// over the other parameters, sorted by key, form-encoded and joined with `&`. Constant time;
/// any of `secrets` (current, previous) may match.
pub fn verify_query(secrets: &[Secret], pairs: &[(String, String)]) -> bool {
    let Some(given) = pairs.iter().find(|(k, _)| k == "hmac").map(|(_, v)| v) else {
        return false;
    };
    let Ok(given) = hex::decode(given.trim()) else {
        return false;
    };
    let mut rest: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "hmac" && k != "signature")
        .collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    // Shopify's libraries re-encode the pairs as URLSearchParams does; for the parameters
    // Shopify sends (code, host, shop, state, timestamp) that equals the plain join.
    let encoded = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &rest {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let plain = rest
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut ok = false;
    for secret in secrets.iter().filter(|s| !s.expose().is_empty()) {
        for message in [&encoded, &plain] {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                continue;
            };
            mac.update(message.as_bytes());
            ok |= mac.verify_slice(&given).is_ok();
        }
    }
    ok
}

/// Signs query pairs as Shopify does (tests and the local fake store).
pub fn sign_query(secret: &str, pairs: &[(&str, &str)]) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let message = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The browser URL that asks the merchant to grant our scopes (offline access).
pub fn authorize_url(
    shop: &ShopDomain,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("scope", &[SCOPES, OPTIONAL_SCOPES].concat().join(","))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    format!("https://{shop}/admin/oauth/authorize?{query}")
}

/// The scopes of [`SCOPES`] that `granted` (Shopify's comma-separated list) lacks.
pub fn missing_scopes(granted: &str) -> Vec<&'static str> {
    let granted: Vec<&str> = granted.split(',').map(str::trim).collect();
    SCOPES
        .iter()
        .copied()
        .filter(|want| {
            let write = want.replacen("read_", "write_", 1);
            !granted.contains(want) && !granted.contains(&write.as_str())
        })
        .collect()
}

/// What the token endpoint answers.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    scope: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    refresh_token_expires_in: Option<i64>,
}

/// A connection's Shopify credentials as kept in the vault (one JSON secret, written whole,
/// so a rotated pair is persisted atomically).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShopifyCredentials {
    pub access_token: String,
    #[serde(default)]
    pub scope: String,
    /// `None` for a non-expiring offline token (custom apps, older public apps).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Installed through our app's OAuth flow, so our app secret signs its webhooks and we
    /// manage its subscriptions. `false` for a merchant's custom-app token.
    #[serde(default)]
    pub via_oauth: bool,
    /// A custom app's API secret key: Shopify signs that app's webhooks with it (never shown,
    /// never logged). `None` for OAuth installs, whose webhooks our app's secret signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_secret_key: Option<String>,
    /// The custom app's previous secret key, still accepted during a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_api_secret_key: Option<String>,
}

impl std::fmt::Debug for ShopifyCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyCredentials")
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl ShopifyCredentials {
    /// Credentials for a non-expiring Admin API token (custom apps).
    pub fn static_token(token: &str, scope: &str) -> Self {
        Self {
            access_token: token.to_owned(),
            scope: scope.to_owned(),
            expires_at: None,
            ..Self::default()
        }
    }

    /// The secrets a custom app's webhooks may be signed with (current first).
    pub fn webhook_secrets(&self) -> Vec<String> {
        self.api_secret_key
            .iter()
            .chain(&self.previous_api_secret_key)
            .cloned()
            .collect()
    }

    /// As the vault secret.
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    /// From the vault secret.
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        serde_json::from_str(secret.expose()).ok()
    }

    /// Whether the access token must be refreshed before use (5 minutes of margin).
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        self.refresh_token.is_some()
            && self.expires_at.is_some_and(|at| {
                at.checked_sub_signed(ChronoDuration::minutes(5))
                    .is_none_or(|at| at <= now)
            })
    }

    fn from_response(r: TokenResponse, now: DateTime<Utc>) -> Self {
        Self {
            access_token: r.access_token,
            scope: r.scope,
            expires_at: r.expires_in.map(|s| expiry(now, s)),
            refresh_token: r.refresh_token,
            refresh_expires_at: r.refresh_token_expires_in.map(|s| expiry(now, s)),
            via_oauth: true,
            ..Self::default()
        }
    }
}

/// Longest lifetime believed from a token endpoint: a year (Shopify's are an hour for access
/// tokens, 90 days for refresh tokens). A longer one only means refreshing earlier.
const MAX_TOKEN_LIFETIME_SECS: i64 = 366 * 24 * 3600;

/// `now + seconds`, the seconds being the token endpoint's number: clamped to
/// `0..=MAX_TOKEN_LIFETIME_SECS`, so no answer can overflow the date arithmetic (a panic).
fn expiry(now: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    let seconds = seconds.clamp(0, MAX_TOKEN_LIFETIME_SECS);
    now.checked_add_signed(ChronoDuration::seconds(seconds))
        .unwrap_or(now)
}

impl ShopifyClient {
    async fn token_request(
        &self,
        shop: &ShopDomain,
        body: serde_json::Value,
    ) -> Result<ShopifyCredentials, ClientError> {
        let response = self
            .http()
            .post(self.shop_url(shop, "/admin/oauth/access_token"))
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                ClientError::Unavailable(
                    if e.is_timeout() {
                        "timed out"
                    } else {
                        "request failed"
                    }
                    .into(),
                )
            })?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            // invalid_grant, a revoked refresh token or a bad code all come back as 400/401.
            400 | 401 | 403 => return Err(ClientError::Unauthorized),
            404 => return Err(ClientError::NotFound),
            429 => {
                return Err(ClientError::Throttled {
                    retry_after_secs: None,
                })
            }
            500..=599 => return Err(ClientError::Unavailable(format!("HTTP {status}"))),
            _ => return Err(ClientError::BadResponse(format!("HTTP {status}"))),
        }
        let parsed: TokenResponse = response.json().await.map_err(|_| {
            ClientError::BadResponse("the token response is not the expected JSON".into())
        })?;
        if parsed.access_token.is_empty() {
            return Err(ClientError::BadResponse(
                "the token response has no access token".into(),
            ));
        }
        Ok(ShopifyCredentials::from_response(parsed, Utc::now()))
    }

    /// Exchanges an authorization code for an (expiring, when Shopify grants one) offline token.
    pub async fn exchange_code(
        &self,
        shop: &ShopDomain,
        client_id: &str,
        client_secret: &Secret,
        code: &str,
    ) -> Result<ShopifyCredentials, ClientError> {
        let body = json!({
            "client_id": client_id,
            "client_secret": client_secret.expose(),
            "code": code,
            "expiring": 1,
        });
        self.token_request(shop, body).await
    }

    /// Rotates an expiring offline token. Shopify answers with a new access token and a new
    /// refresh token; the caller persists both at once.
    pub async fn refresh_token(
        &self,
        shop: &ShopDomain,
        client_id: &str,
        client_secret: &Secret,
        refresh_token: &str,
    ) -> Result<ShopifyCredentials, ClientError> {
        let body = json!({
            "client_id": client_id,
            "client_secret": client_secret.expose(),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        });
        self.token_request(shop, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// Issue 15, item 11: `expires_in` is the token endpoint's number: a huge (or negative)
    /// one must not panic (`now + seconds` overflows past ~8.2e12 s), whatever the answer.
    #[test]
    fn huge_or_negative_token_lifetimes_do_not_panic() {
        let now = Utc::now();
        for secs in [
            8_300_000_000_000,
            i64::MAX,
            i64::MIN,
            -1,
            10_000_000_000_000_000,
        ] {
            let credentials = ShopifyCredentials::from_response(
                TokenResponse {
                    access_token: "shpat_fake".into(),
                    scope: String::new(),
                    expires_in: Some(secs),
                    refresh_token: Some("shprt_fake".into()),
                    refresh_token_expires_in: Some(secs),
                },
                now,
            );
            let at = credentials.expires_at.unwrap();
            assert!(
                at >= now && at <= now + ChronoDuration::days(400),
                "{secs}: {at}"
            );
            let _ = credentials.needs_refresh(now);
        }
    }

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn published_vector_with_secret_hush_passes() {
        let query = pairs(&[
            ("code", "0907a61c0c8d55e99db179b68161bc00"),
            (
                "hmac",
                "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20",
            ),
            ("shop", "some-shop.myshopify.com"),
            ("timestamp", "1337178173"),
        ]);
        assert!(verify_query(&[Secret::new("hush")], &query));
        assert!(
            verify_query(&[Secret::new("new"), Secret::new("hush")], &query),
            "previous secret"
        );
        assert!(!verify_query(&[Secret::new("other")], &query));
        let mut tampered = query.clone();
        tampered[2].1 = "evil-shop.myshopify.com".into();
        assert!(!verify_query(&[Secret::new("hush")], &tampered));
        let unsigned: Vec<_> = query.into_iter().filter(|(k, _)| k != "hmac").collect();
        assert!(!verify_query(&[Secret::new("hush")], &unsigned));
        assert_eq!(
            sign_query(
                "hush",
                &[
                    ("shop", "some-shop.myshopify.com"),
                    ("code", "0907a61c0c8d55e99db179b68161bc00"),
                    ("timestamp", "1337178173")
                ]
            ),
            "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"
        );
    }

    #[test]
    fn scopes_and_authorize_url() {
        assert!(missing_scopes(&SCOPES.join(",")).is_empty());
        let compressed = "write_orders,write_products,write_inventory,read_locations,write_merchant_managed_fulfillment_orders";
        assert!(missing_scopes(compressed).is_empty(), "write implies read");
        assert_eq!(
            missing_scopes("read_orders,read_products"),
            vec![
                "read_inventory",
                "write_inventory",
                "read_locations",
                "read_merchant_managed_fulfillment_orders",
                "write_merchant_managed_fulfillment_orders"
            ]
        );
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let url = authorize_url(
            &shop,
            "client-1",
            "https://sync.example/oauth/shopify/callback",
            "st&ate",
        );
        assert!(url.starts_with("https://demo.myshopify.com/admin/oauth/authorize?client_id=client-1&scope=read_orders%2Cread_products"));
        assert!(url.contains(
            "write_merchant_managed_fulfillment_orders%2Cread_assigned_fulfillment_orders%2Cwrite_assigned_fulfillment_orders&"
        ));
        assert!(url.ends_with(
            "&redirect_uri=https%3A%2F%2Fsync.example%2Foauth%2Fshopify%2Fcallback&state=st%26ate"
        ));
    }

    #[tokio::test]
    async fn code_exchange_and_refresh_rotation() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/admin/oauth/access_token"))
            .and(body_json(json!({"client_id": "cid", "client_secret": "shpss_fake", "code": "c0de", "expiring": 1})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "shpat_fake_1", "scope": "read_orders", "expires_in": 3600,
                "refresh_token": "shprt_fake_1", "refresh_token_expires_in": 7776000
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/admin/oauth/access_token"))
            .and(body_json(
                json!({"client_id": "cid", "client_secret": "shpss_fake",
                "grant_type": "refresh_token", "refresh_token": "shprt_fake_1"}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "shpat_fake_2", "scope": "read_orders", "expires_in": 3600,
                "refresh_token": "shprt_fake_2", "refresh_token_expires_in": 7776000
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/admin/oauth/access_token"))
            .respond_with(
                ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})),
            )
            .mount(&server)
            .await;
        let client = ShopifyClient::new(Some(server.uri())).unwrap();
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let secret = Secret::new("shpss_fake");
        let first = client
            .exchange_code(&shop, "cid", &secret, "c0de")
            .await
            .unwrap();
        assert_eq!(first.access_token, "shpat_fake_1");
        assert!(!first.needs_refresh(Utc::now()));
        assert!(first.needs_refresh(Utc::now() + ChronoDuration::minutes(56)));
        let second = client
            .refresh_token(&shop, "cid", &secret, "shprt_fake_1")
            .await
            .unwrap();
        assert_eq!(second.refresh_token.as_deref(), Some("shprt_fake_2"));
        assert!(matches!(
            client
                .refresh_token(&shop, "cid", &secret, "shprt_revoked")
                .await,
            Err(ClientError::Unauthorized)
        ));
        assert!(
            !format!("{second:?}").contains("shpat_fake_2"),
            "Debug hides tokens"
        );
        let round = ShopifyCredentials::from_secret(&second.to_secret()).unwrap();
        assert_eq!(round, second);
    }

    #[test]
    fn static_tokens_never_refresh() {
        let c = ShopifyCredentials::static_token("shpat_fake", "read_orders");
        assert!(!c.needs_refresh(Utc::now() + ChronoDuration::days(3650)));
    }
}
