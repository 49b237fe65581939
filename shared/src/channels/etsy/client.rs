//! Etsy's HTTP client (Open API v3, reference §3): every call carries
//! `x-api-key: keystring:shared_secret` (mandatory since 2026-02-09) and, for shop data, the
//! connection's bearer token. Answers go through the hardened REST layer
//! ([`crate::channels::rest::call`]: body and value caps, timeouts, no redirects, classified
//! errors); this module adds Etsy's error body (`{"error", "error_description"}`), its rate
//! limit headers (§3.7) and the token endpoint.

use super::carriers::Carriers;
use crate::channels::context::AppCredentials;
use crate::channels::rest::{self, snippet, Reply};
use crate::channels::ClientError;
use crate::ports::Secret;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Etsy's API host (`ETSY_API_BASE` replaces it for tests and local fakes).
pub const DEFAULT_API_BASE: &str = "https://openapi.etsy.com";
/// Etsy's consent screen (`ETSY_AUTHORIZE_URL` replaces it).
pub const DEFAULT_AUTHORIZE_URL: &str = "https://www.etsy.com/oauth/connect";
/// Per request: Etsy answers well within this; a stuck call must not hold a Lambda.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The wait asked for on a 429 without `Retry-After` (Etsy's 429s may carry no headers):
/// one second for the per-second window, longer when the day's budget was seen exhausted.
const SECOND_WINDOW: u64 = 1;
const DAY_EXHAUSTED_WAIT: u64 = 15 * 60;

/// The Etsy app: its key string (OAuth `client_id`), shared secret, webhook signing secrets
/// and where its API and consent screen are.
#[derive(Clone)]
pub struct EtsyConfig {
    pub keystring: String,
    pub shared_secret: Secret,
    /// The `whsec_…` secrets of the webhook portal, current first (rotation).
    pub webhook_secrets: Vec<Secret>,
    /// Without a trailing `/`.
    pub api_base: String,
    pub authorize_url: String,
}

impl std::fmt::Debug for EtsyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EtsyConfig({}, {} webhook secret(s), {})",
            self.keystring,
            self.webhook_secrets.len(),
            self.api_base
        )
    }
}

impl EtsyConfig {
    /// From the channel app (`ETSY_CLIENT_ID`/`ETSY_CLIENT_SECRET`/`ETSY_API_BASE`, or the
    /// app's Secrets Manager secret) and the environment: `ETSY_KEYSTRING` and
    /// `ETSY_SHARED_SECRET` when the app leaves them blank, `ETSY_WEBHOOK_SECRET` (and
    /// `ETSY_PREVIOUS_WEBHOOK_SECRET` during a rotation), `ETSY_AUTHORIZE_URL`.
    pub fn from_app(app: &AppCredentials) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let keystring = match app.client_id.is_empty() {
            false => app.client_id.clone(),
            true => var("ETSY_KEYSTRING").unwrap_or_default(),
        };
        let shared_secret = match app.secrets.first() {
            Some(s) => s.clone(),
            None => Secret::new(var("ETSY_SHARED_SECRET").unwrap_or_default()),
        };
        let webhook_secrets = [
            var("ETSY_WEBHOOK_SECRET"),
            var("ETSY_PREVIOUS_WEBHOOK_SECRET"),
        ]
        .into_iter()
        .flatten()
        .map(Secret::new)
        .collect();
        let api_base = app
            .api_base
            .clone()
            .or_else(|| var("ETSY_API_BASE"))
            .unwrap_or_else(|| DEFAULT_API_BASE.into());
        Self {
            keystring,
            shared_secret,
            webhook_secrets,
            api_base: api_base.trim_end_matches('/').to_owned(),
            authorize_url: var("ETSY_AUTHORIZE_URL")
                .unwrap_or_else(|| DEFAULT_AUTHORIZE_URL.into()),
        }
    }

    /// Whether the key string and shared secret are set (every call needs both).
    pub fn is_configured(&self) -> bool {
        !self.keystring.is_empty() && !self.shared_secret.expose().is_empty()
    }

    /// The `x-api-key` value: `keystring:shared_secret`.
    fn api_key(&self) -> String {
        format!("{}:{}", self.keystring, self.shared_secret.expose())
    }
}

/// What the rate limit headers of the connection's last answer said (§3.7). Etsy counts per
/// access token, so a connection's jobs share one day's budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateState {
    pub limit_per_second: Option<u64>,
    pub remaining_this_second: Option<u64>,
    pub limit_per_day: Option<u64>,
    pub remaining_today: Option<u64>,
}

impl RateState {
    fn read(headers: &HeaderMap) -> Option<Self> {
        let n =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let state = Self {
            limit_per_second: n("x-limit-per-second"),
            remaining_this_second: n("x-remaining-this-second"),
            limit_per_day: n("x-limit-per-day"),
            remaining_today: n("x-remaining-today"),
        };
        (state != Self::default()).then_some(state)
    }

    /// Whether fewer than `reserve` of the day's calls are left (unknown: no). With a small
    /// daily limit the reserve is at most a fifth of it, so a push still gets most of the day.
    pub fn below(&self, reserve: u64) -> bool {
        let reserve = match self.limit_per_day {
            Some(limit) => reserve.min(limit / 5),
            None => reserve,
        };
        self.remaining_today.is_some_and(|left| left < reserve)
    }
}

/// The token endpoint's answer (no `Debug`: it holds the tokens).
#[derive(Clone, serde::Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

/// One HTTP client per adapter; the rate state is per client (one per opened connection).
#[derive(Clone)]
pub struct EtsyClient {
    http: reqwest::Client,
    pub config: Arc<EtsyConfig>,
    rate: Arc<Mutex<RateState>>,
    /// Shop countries and Etsy's carrier lists, shared by every connection of the adapter.
    pub carriers: Arc<Carriers>,
}

impl EtsyClient {
    pub fn new(config: Arc<EtsyConfig>) -> Result<Self, String> {
        let http = crate::channels::tls::client_builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the Etsy HTTP client could not be built: {e}"))?;
        Ok(Self {
            http,
            config,
            rate: Arc::default(),
            carriers: Arc::default(),
        })
    }

    /// The same client with a rate state of its own (one per opened connection).
    pub fn for_connection(&self) -> Self {
        Self {
            rate: Arc::default(),
            ..self.clone()
        }
    }

    /// What the last answer's rate limit headers said.
    pub fn rate(&self) -> RateState {
        self.rate.lock().map(|r| *r).unwrap_or_default()
    }

    fn note_rate(&self, headers: &HeaderMap) {
        if let Some(state) = RateState::read(headers) {
            if let Ok(mut rate) = self.rate.lock() {
                *rate = state;
            }
        }
    }

    /// A call to `/v3/application{path}` with the app key and `token`.
    pub async fn send(
        &self,
        token: &Secret,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let mut url = format!("{}/v3/application{path}", self.config.api_base);
        if !query.is_empty() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                q.append_pair(k, v);
            }
            url = format!("{url}?{}", q.finish());
        }
        let mut request = self
            .http
            .request(method, url)
            .header("x-api-key", self.config.api_key())
            .bearer_auth(token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        self.answer(rest::call(request).await)
    }

    /// Classifies an answer: Etsy's 401s by their `error` (see [`EtsyError`]), 403 (a scope
    /// or app-key problem, not the merchant's token) and other 4xx as the channel's message.
    fn answer(&self, reply: Result<Reply, ClientError>) -> Result<Value, ClientError> {
        let reply = match reply {
            Ok(reply) => reply,
            Err(ClientError::Throttled {
                retry_after_secs: None,
            }) => {
                let exhausted = self.rate().remaining_today == Some(0);
                return Err(ClientError::Throttled {
                    retry_after_secs: Some(if exhausted {
                        DAY_EXHAUSTED_WAIT
                    } else {
                        SECOND_WINDOW
                    }),
                });
            }
            Err(e) => return Err(e),
        };
        self.note_rate(&reply.headers);
        if reply.status.is_success() {
            return Ok(reply.body);
        }
        Err(classify(reply.status, &reply.body))
    }

    /// `POST {api_base}/v3/public/oauth/token` with `form` (code exchange or refresh).
    /// `invalid_grant` (revoked, expired or already-rotated refresh token, a used code) →
    /// [`ClientError::Unauthorized`].
    pub async fn token(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, ClientError> {
        let url = format!("{}/v3/public/oauth/token", self.config.api_base);
        let request = self
            .http
            .post(url)
            .header("x-api-key", self.config.api_key())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            );
        let reply = rest::call(request).await?;
        if !reply.status.is_success() {
            return Err(match error_code(&reply.body) {
                Some("invalid_grant") => ClientError::Unauthorized,
                _ => classify(reply.status, &reply.body),
            });
        }
        serde_json::from_value(reply.body).map_err(|e| {
            ClientError::BadResponse(format!("the token answer is not what Etsy sends: {e}"))
        })
    }
}

fn error_code(body: &Value) -> Option<&str> {
    body.get("error").and_then(Value::as_str)
}

/// Etsy's error sentence, bounded: `error` and `error_description` (first 200 characters each).
pub fn message(body: &Value) -> String {
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(snippet);
    match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) | (None, Some(e)) => e,
        (None, None) => snippet(&body.to_string()),
    }
}

/// Whether a 401's body says the access token expired
/// (`{"error": "invalid_token", "error_description": "access token is expired"}`): worth one
/// refresh. Anything else (revoked, malformed) is not.
fn says_expired(body: &Value) -> bool {
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    error_code(body) == Some("invalid_token") && description.contains("expired")
}

/// A non-2xx JSON answer as a [`ClientError`]. A 401 whose body says the token expired is
/// [`ClientError::Unavailable`] with [`EXPIRED`] so the caller can refresh once.
fn classify(status: StatusCode, body: &Value) -> ClientError {
    match status {
        StatusCode::UNAUTHORIZED if says_expired(body) => ClientError::Unavailable(EXPIRED.into()),
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
        StatusCode::NOT_FOUND => ClientError::NotFound,
        status => ClientError::BadResponse(format!("{status}: {}", message(body))),
    }
}

/// The marker of an expired access token (see [`classify`]).
pub const EXPIRED: &str = "Etsy says the access token expired";
