//! The TikTok Shop Open API client: every call signed (reference §1.1: `app_key`, `timestamp`,
//! `shop_cipher` and `sign` in the query, the access token in `x-tts-access-token`, the body
//! bytes sent exactly as signed), its `{code, message, data}` envelope read once, and TikTok's
//! errors — which arrive as HTTP 200 with `code != 0` — classified: token errors → the
//! merchant must reconnect, rate limiting → retry later, anything else → refused with
//! TikTok's (bounded) message. Calls are paced to TikTok's 50 requests/s per API per shop.

use crate::channels::rest::{self, snippet};
use crate::channels::ClientError;
use crate::ports::Secret;
use http::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// TikTok Shop's API host (reference §1).
pub const DEFAULT_API_BASE: &str = "https://open-api.tiktokglobalshop.com";
/// TikTok Shop's authorization host (token exchange and refresh).
pub const DEFAULT_AUTH_BASE: &str = "https://auth.tiktok-shops.com";
/// TikTok's limit is 50 requests/s per API per (app, shop) [C]: one call per 20 ms each.
pub const MIN_INTERVAL: Duration = Duration::from_millis(20);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest message of TikTok's quoted in an error.
const MAX_MESSAGE: usize = 200;

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Transport, credentials, rate limit: classified as for every channel.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// TikTok refused the request itself (`code != 0`, not a token or rate-limit error):
    /// retrying the same request will not help.
    #[error("TikTok refused the request ({code}): {message}")]
    Refused { code: i64, message: String },
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Client(c) => c,
            refused @ ApiError::Refused { .. } => ClientError::BadResponse(refused.to_string()),
        }
    }
}

/// What a `code != 0` means. Token errors are the `105xxx` and `360xxx` groups [S, EcomPHP]
/// except `105005` (the app lacks the API's permission package: reconnecting cannot fix it).
/// TikTok's rate-limit code is not documented in the sources we have [U]: HTTP 429 is read as
/// rate limiting by [`rest::call`], and so is a message saying "too many requests", "rate
/// limit" or "QPS". A message saying "internal error" or "system busy" is retried.
pub fn classify(code: i64, message: &str) -> ApiError {
    let message = snippet(message)
        .chars()
        .take(MAX_MESSAGE)
        .collect::<String>();
    let lower = message.to_ascii_lowercase();
    let group = code / 1000;
    if (group == 105 && code != 105005) || group == 360 {
        return ApiError::Client(ClientError::Unauthorized);
    }
    if ["too many request", "rate limit", "qps", "frequency"]
        .iter()
        .any(|s| lower.contains(s))
    {
        return ApiError::Client(ClientError::Throttled {
            retry_after_secs: None,
        });
    }
    if [
        "internal error",
        "system busy",
        "timeout",
        "service unavailable",
    ]
    .iter()
    .any(|s| lower.contains(s))
    {
        return ApiError::Client(ClientError::Unavailable(format!(
            "TikTok answered {code}: {message}"
        )));
    }
    ApiError::Refused { code, message }
}

/// Reads TikTok's envelope: `data` when `code == 0`, the classified error otherwise.
pub fn envelope(body: Value) -> Result<Value, ApiError> {
    let code = match body.get("code") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(code) = code else {
        return Err(ApiError::Client(ClientError::BadResponse(
            "TikTok's answer has no numeric code".into(),
        )));
    };
    if code == 0 {
        return Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    Err(classify(code, message))
}

/// Whose call it is: the seller's access token and the shop's cipher (`None` for calls that
/// are not shop-scoped, e.g. listing the authorized shops).
#[derive(Clone, Copy)]
pub struct ShopAuth<'a> {
    pub access_token: &'a str,
    pub cipher: Option<&'a str>,
}

/// Seconds since the epoch (a function so tests can fix it).
pub type Clock = fn() -> i64;

fn system_clock() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The TikTok Shop client of one app. Cheap to clone.
#[derive(Clone)]
pub struct TikTokClient {
    http: reqwest::Client,
    api_base: String,
    auth_base: String,
    app_key: String,
    app_secret: Secret,
    clock: Clock,
    pace: Arc<Pace>,
}

impl std::fmt::Debug for TikTokClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TikTokClient({}, app {})", self.api_base, self.app_key)
    }
}

impl TikTokClient {
    /// A client for the app `app_key`/`app_secret` at `api_base` and `auth_base` (no trailing
    /// `/` needed).
    pub fn new(api_base: &str, auth_base: &str, app_key: &str, app_secret: Secret) -> Self {
        let http = crate::channels::tls::client_builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            auth_base: auth_base.trim_end_matches('/').to_owned(),
            app_key: app_key.to_owned(),
            app_secret,
            clock: system_clock,
            pace: Arc::new(Pace::default()),
        }
    }

    /// The same client with a fixed clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    /// One signed API call: `path` is e.g. `/order/202309/orders/search`; `query` the call's
    /// own parameters; `body` sent (and signed) as these exact bytes. Returns `data`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        shop: ShopAuth<'_>,
    ) -> Result<Value, ApiError> {
        let mut pairs: Vec<(String, String)> = vec![
            ("app_key".into(), self.app_key.clone()),
            ("timestamp".into(), (self.clock)().to_string()),
        ];
        // The shop's cipher on every shop-scoped call (always sent: most 202309 pages list it
        // as required); never on the authorization calls, which are not shop-scoped.
        if let Some(cipher) = shop.cipher.filter(|_| !path.starts_with("/authorization/")) {
            pairs.push(("shop_cipher".into(), cipher.to_owned()));
        }
        pairs.extend(query.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let bytes = match body {
            Some(v) => serde_json::to_vec(v)
                .map_err(|e| ClientError::BadResponse(format!("unserialisable body: {e}")))?,
            None => Vec::new(),
        };
        let sign = super::sign::sign_request(self.app_secret.expose(), path, &pairs, &bytes);
        pairs.push(("sign".into(), sign));
        self.pace
            .wait(format!("{}|{}", shop.cipher.unwrap_or("-"), api_of(path)))
            .await;
        let url = with_query(&format!("{}{path}", self.api_base), &pairs)?;
        let mut request = self
            .http
            .request(method, url)
            .header("x-tts-access-token", shop.access_token)
            .header(http::header::CONTENT_TYPE, "application/json");
        if body.is_some() {
            request = request.body(bytes);
        }
        let reply = rest::call(request).await?;
        if reply.status.is_client_error() && reply.body.get("code").is_none() {
            return Err(ApiError::Client(reply.ok().err().unwrap_or_else(|| {
                ClientError::BadResponse("unexpected answer".into())
            })));
        }
        envelope(reply.body)
    }

    /// `GET {auth}/api/v2/token/get`: the auth code (30 minutes, single use) for the token
    /// pair (reference §1.2; the app secret travels in the query, as TikTok documents).
    pub async fn exchange_code(&self, auth_code: &str) -> Result<TokenGrant, ApiError> {
        self.token_call(
            "/api/v2/token/get",
            &[("auth_code", auth_code), ("grant_type", "authorized_code")],
        )
        .await
    }

    /// `GET {auth}/api/v2/token/refresh`. A refusal of the refresh token is
    /// [`ClientError::Unauthorized`] (the merchant must reconnect).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenGrant, ApiError> {
        match self
            .token_call(
                "/api/v2/token/refresh",
                &[
                    ("refresh_token", refresh_token),
                    ("grant_type", "refresh_token"),
                ],
            )
            .await
        {
            Err(ApiError::Refused { .. }) => Err(ApiError::Client(ClientError::Unauthorized)),
            other => other,
        }
    }

    async fn token_call(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<TokenGrant, ApiError> {
        let mut query = vec![
            ("app_key", self.app_key.as_str()),
            ("app_secret", self.app_secret.expose()),
        ];
        query.extend_from_slice(params);
        let url = with_query(&format!("{}{path}", self.auth_base), &query)?;
        let request = self.http.get(url);
        let reply = rest::call(request).await?;
        let data = envelope(reply.body)?;
        TokenGrant::parse(&data).ok_or_else(|| {
            ApiError::Client(ClientError::BadResponse(
                "TikTok's token answer lacks the tokens or their expiry".into(),
            ))
        })
    }

    /// `GET /authorization/202309/shops`: the shops the seller authorized.
    pub async fn shops(&self, access_token: &str) -> Result<Vec<AuthorizedShop>, ApiError> {
        let data = self
            .call(
                Method::GET,
                "/authorization/202309/shops",
                &[],
                None,
                ShopAuth {
                    access_token,
                    cipher: None,
                },
            )
            .await?;
        let shops = data.get("shops").and_then(Value::as_array);
        Ok(shops
            .map(|list| list.iter().filter_map(AuthorizedShop::parse).collect())
            .unwrap_or_default())
    }
}

/// A token pair as TikTok grants it (expiries are Unix timestamps, not durations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    pub access_token_expires_at: i64,
    pub refresh_token: String,
    pub refresh_token_expires_at: Option<i64>,
    pub seller_name: Option<String>,
}

impl TokenGrant {
    fn parse(data: &Value) -> Option<Self> {
        let text = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(Self {
            access_token: text("access_token")?,
            access_token_expires_at: data.get("access_token_expire_in")?.as_i64()?,
            refresh_token: text("refresh_token")?,
            refresh_token_expires_at: data.get("refresh_token_expire_in").and_then(Value::as_i64),
            seller_name: text("seller_name"),
        })
    }
}

/// One shop of `GET /authorization/202309/shops`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorizedShop {
    pub id: String,
    pub name: Option<String>,
    pub region: Option<String>,
    pub seller_type: Option<String>,
    pub cipher: String,
}

impl AuthorizedShop {
    fn parse(v: &Value) -> Option<Self> {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 256)
                .map(str::to_owned)
        };
        Some(Self {
            id: text("id")?,
            name: text("name"),
            region: text("region"),
            seller_type: text("seller_type"),
            cipher: text("cipher")?,
        })
    }
}

/// `base` with the query pairs appended (URL-encoded; TikTok signs the decoded values).
fn with_query<K: AsRef<str>, V: AsRef<str>>(
    base: &str,
    pairs: &[(K, V)],
) -> Result<url::Url, ApiError> {
    let mut url = url::Url::parse(base)
        .map_err(|e| ClientError::BadResponse(format!("bad TikTok URL: {e}")))?;
    url.query_pairs_mut()
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    Ok(url)
}

/// The API a path calls, for pacing: ids (all-digit segments) do not make a new API.
fn api_of(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() > 6 {
                "{}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Spaces calls to one API of one shop [`MIN_INTERVAL`] apart.
#[derive(Default)]
struct Pace {
    next: Mutex<HashMap<String, Instant>>,
}

impl Pace {
    async fn wait(&self, key: String) {
        let delay = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if next.len() > 10_000 {
                next.retain(|_, at| *at > now);
            }
            let slot = next
                .get(&key)
                .copied()
                .filter(|at| *at > now)
                .unwrap_or(now);
            next.insert(key, slot + MIN_INTERVAL);
            slot - now
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_errors_need_reauth_rate_limits_retry_and_the_rest_is_refused_with_the_message() {
        for code in [105001, 105002, 360001] {
            assert!(
                matches!(
                    classify(code, "x"),
                    ApiError::Client(ClientError::Unauthorized)
                ),
                "{code}"
            );
        }
        assert!(matches!(
            classify(105005, "you should apply auth pkg for this api"),
            ApiError::Refused { code: 105005, .. }
        ));
        assert!(matches!(
            classify(36009004, "Too many requests, please retry later"),
            ApiError::Client(ClientError::Throttled { .. })
        ));
        assert!(matches!(
            classify(36009003, "Internal error"),
            ApiError::Client(ClientError::Unavailable(_))
        ));
        let long = "x".repeat(5000);
        match classify(12052700, &format!("Invalid order id\n{long}")) {
            ApiError::Refused { code, message } => {
                assert_eq!(code, 12052700);
                assert!(message.starts_with("Invalid order id x"));
                assert_eq!(message.chars().count(), MAX_MESSAGE);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_envelope_gives_data_or_the_error() {
        assert_eq!(
            envelope(json!({"code": 0, "data": {"a": 1}})).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(envelope(json!({"code": "0"})).unwrap(), Value::Null);
        assert!(matches!(
            envelope(json!({"code": 106001, "message": "Invalid sign"})),
            Err(ApiError::Refused { code: 106001, .. })
        ));
        assert!(matches!(
            envelope(json!({"message": "?"})),
            Err(ApiError::Client(ClientError::BadResponse(_)))
        ));
    }

    #[test]
    fn ids_in_paths_do_not_make_a_new_api() {
        assert_eq!(
            api_of("/fulfillment/202309/orders/576653688135258178/packages"),
            "/fulfillment/202309/orders/{}/packages"
        );
        assert_eq!(
            api_of("/order/202309/orders/search"),
            "/order/202309/orders/search"
        );
    }
}
