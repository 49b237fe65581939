//! The Veeqo REST client: authentication ([`VeeqoCredentials`]), pacing through the shared
//! [`Limiter`], and bounded retries of 429s. Answers are read and classified by
//! [`crate::channels::rest::call`] (size and value caps, HTML pages, 5xx, timeouts).
//!
//! A 429 is retried after its `Retry-After` (or 1 s, doubling, when absent) at most
//! [`MAX_ATTEMPTS`] requests and [`MAX_THROTTLE_WAIT`] of waiting per call; past that the call
//! fails [`ClientError::Throttled`] for the caller's queue to retry later. A 401 is never
//! retried ([`ClientError::Unauthorized`]; see [`super::UNAUTHORIZED_HINT`]).

use super::limiter::Limiter;
use super::VeeqoCredentials;
use crate::channels::rest::{self, Reply};
use crate::channels::ClientError;
use http::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// At most this many requests per call (the first one included).
pub const MAX_ATTEMPTS: u32 = 4;
/// At most this much waiting (pacing and 429s) per call.
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(30);
/// The first wait after a 429 without `Retry-After`.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

/// A Veeqo API client. Clones share the limiter (one bucket per credential, as Veeqo counts).
#[derive(Debug, Clone)]
pub struct VeeqoClient {
    http: reqwest::Client,
    base: String,
    limiter: Arc<Limiter>,
    max_wait: Duration,
    backoff: Duration,
}

impl VeeqoClient {
    /// A client of `base` (`None`: [`super::DEFAULT_API_BASE`]).
    pub fn new(base: Option<String>, limiter: Arc<Limiter>) -> Result<Self, String> {
        let base = base.unwrap_or_else(|| super::DEFAULT_API_BASE.to_owned());
        let parsed = url::Url::parse(&base).map_err(|e| format!("VEEQO_API_BASE {base:?}: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(format!("VEEQO_API_BASE {base:?} is not an http(s) URL"));
        }
        let http = crate::channels::tls::client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("channel-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            limiter,
            max_wait: MAX_THROTTLE_WAIT,
            backoff: DEFAULT_BACKOFF,
        })
    }

    /// Sets the most waiting one call may do (shorter while a person waits for an answer).
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Sets the first wait after a 429 without `Retry-After` (tests use milliseconds).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// The API base, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET {base}{path}?{query}`.
    pub async fn get(
        &self,
        creds: &VeeqoCredentials,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Reply, ClientError> {
        self.call(creds, Method::GET, path, query, None).await
    }

    /// One call: paced, authenticated, 429s retried (see the module doc). Returns the reply
    /// (2xx or a JSON 4xx); use [`Reply::ok`] for the body of a 2xx.
    pub async fn call(
        &self,
        creds: &VeeqoCredentials,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let bucket = bucket_of(creds);
        let mut url = format!("{}{}", self.base, path);
        if !query.is_empty() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                q.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&q.finish());
        }
        let (name, value) = creds.header();
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let wait = self.limiter.reserve(&bucket, Instant::now());
            if waited + wait > self.max_wait {
                return Err(ClientError::Throttled {
                    retry_after_secs: Some(wait.as_secs().max(1)),
                });
            }
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                waited += wait;
            }
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(name, &value)
                .header(http::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let retry_after = match rest::call(request).await {
                Err(ClientError::Throttled { retry_after_secs }) => retry_after_secs,
                other => {
                    let refused = match &other {
                        Ok(reply) => reply.status == http::StatusCode::UNAUTHORIZED,
                        Err(e) => matches!(e, ClientError::Unauthorized),
                    };
                    if refused {
                        // The connection goes `needs_reauth`; say the likely causes once here.
                        tracing::warn!(path, "{}", super::UNAUTHORIZED_HINT);
                    }
                    return other;
                }
            };
            let wait = match retry_after {
                Some(secs) => Duration::from_secs(secs),
                None => self.backoff * 2u32.saturating_pow(attempt - 1),
            };
            self.limiter.full_until(&bucket, Instant::now() + wait);
            if attempt >= MAX_ATTEMPTS || waited + wait > self.max_wait {
                tracing::warn!(attempt, path, "throttled by Veeqo; giving up for now");
                return Err(ClientError::Throttled {
                    retry_after_secs: Some(wait.as_secs().max(1)),
                });
            }
            tracing::debug!(
                attempt,
                path,
                wait_ms = wait.as_millis() as u64,
                "throttled by Veeqo; retrying"
            );
            // The limiter now holds every request of this bucket until the wait is over.
            attempt += 1;
        }
    }

    /// `GET /current_company`: the account the credentials belong to (a real authenticated
    /// read, used to check a key before it is stored).
    pub async fn current_company(&self, creds: &VeeqoCredentials) -> Result<Company, ClientError> {
        let body = self.get(creds, "/current_company", &[]).await?.ok()?;
        Company::parse(&body)
    }

    /// `GET /warehouses` (every page).
    pub async fn warehouses(
        &self,
        creds: &VeeqoCredentials,
    ) -> Result<Vec<Warehouse>, ClientError> {
        let items = self.all_pages(creds, "/warehouses").await?;
        Ok(items.iter().filter_map(Warehouse::parse).collect())
    }

    /// `GET /channels` (every page): the marketplaces the account sells on.
    pub async fn marketplaces(
        &self,
        creds: &VeeqoCredentials,
    ) -> Result<Vec<Marketplace>, ClientError> {
        let items = self.all_pages(creds, "/channels").await?;
        Ok(items.iter().filter_map(Marketplace::parse).collect())
    }

    /// Every page of a small listing (warehouses, channels): at most [`MAX_LIST_PAGES`].
    async fn all_pages(
        &self,
        creds: &VeeqoCredentials,
        path: &str,
    ) -> Result<Vec<Value>, ClientError> {
        let mut out = Vec::new();
        for page in 1..=MAX_LIST_PAGES {
            let page_text = page.to_string();
            let reply = self
                .get(
                    creds,
                    path,
                    &[("page_size", LIST_PAGE_SIZE_TEXT), ("page", &page_text)],
                )
                .await?;
            let more = has_next_page(&reply.headers, page, LIST_PAGE_SIZE);
            let body = reply.ok()?;
            let items = body.as_array().ok_or_else(|| {
                ClientError::BadResponse(format!("{path} did not answer a JSON array"))
            })?;
            let count = items.len();
            out.extend(items.iter().cloned());
            if !more.unwrap_or(count >= LIST_PAGE_SIZE as usize) {
                break;
            }
        }
        Ok(out)
    }
}

/// Veeqo's explanation of a refusal: its `error_messages` (a string or a list), else the
/// generic reading of [`Reply::message`].
pub fn refusal_message(reply: &Reply) -> String {
    let text = match reply.body.get("error_messages") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .take(10)
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("; "),
        _ => return reply.message(),
    };
    rest::snippet(&text)
}

/// Pages of warehouses or channels read at most (1,000 of each).
const MAX_LIST_PAGES: u32 = 10;
const LIST_PAGE_SIZE: u32 = 100;
const LIST_PAGE_SIZE_TEXT: &str = "100";

/// Whether Veeqo's paging headers say a page follows page `page` (`X-Total-Pages-Count`,
/// else `X-Total-Count` / `X-Per-Page`); `None` when it sent neither.
pub fn has_next_page(headers: &http::HeaderMap, page: u32, page_size: u32) -> Option<bool> {
    let number = |name: &str| -> Option<u64> {
        headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok()
    };
    if let Some(pages) = number("x-total-pages-count") {
        return Some(u64::from(page) < pages);
    }
    let total = number("x-total-count")?;
    let per_page = number("x-per-page")
        .filter(|n| *n > 0)
        .unwrap_or(u64::from(page_size));
    Some(u64::from(page).saturating_mul(per_page) < total)
}

/// The limiter's key for a credential: Veeqo counts per key or token. A digest, so the
/// credential itself is never held outside the request.
fn bucket_of(creds: &VeeqoCredentials) -> String {
    let (_, value) = creds.header();
    let digest = Sha256::digest(value.as_bytes());
    hex::encode(&digest[..12])
}

/// The account behind the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    /// Veeqo's company id ([U]: the documented answer shows only `name`; the order
    /// resource's `company` object has an `id`, which we take as the account's identity).
    pub id: Option<String>,
    pub name: Option<String>,
}

impl Company {
    fn parse(body: &Value) -> Result<Self, ClientError> {
        if !body.is_object() {
            return Err(ClientError::BadResponse(
                "current_company did not answer a JSON object".into(),
            ));
        }
        Ok(Self {
            id: id_text(body.get("id")),
            name: body
                .get("name")
                .and_then(Value::as_str)
                .map(|s| s.trim().chars().take(200).collect::<String>())
                .filter(|s| !s.is_empty()),
        })
    }

    /// The account's identity as connections store it (`shop`): `company-{id}`, or, when
    /// Veeqo sends no id, `name-{name}` (lowercased).
    pub fn identity(&self) -> Option<String> {
        match (&self.id, &self.name) {
            (Some(id), _) => Some(format!("company-{id}")),
            (None, Some(name)) => Some(format!("name-{}", name.to_lowercase())),
            (None, None) => None,
        }
    }
}

/// A Veeqo warehouse.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warehouse {
    pub id: String,
    pub name: String,
    /// `false` once Veeqo lists it as deleted.
    pub active: bool,
}

impl Warehouse {
    fn parse(v: &Value) -> Option<Self> {
        Some(Self {
            id: id_text(v.get("id"))?,
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
            active: v.get("deleted_at").is_none_or(Value::is_null),
        })
    }
}

/// A Veeqo channel ("store"): a marketplace account such as Amazon UK.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Marketplace {
    pub id: String,
    pub name: String,
    /// Veeqo's `type_code` (`amazon`, `ebay`, `shopify`, `direct`…).
    pub type_code: String,
    /// Whether Amazon fulfils its orders ([U]: read from `with_fba` or
    /// `amazon_fulfillment_enabled`, whose semantics Veeqo does not document).
    pub fulfils_by_amazon: bool,
}

impl Marketplace {
    fn parse(v: &Value) -> Option<Self> {
        let flag = |name: &str| v.get(name).and_then(Value::as_bool).unwrap_or(false);
        Some(Self {
            id: id_text(v.get("id"))?,
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
            type_code: v
                .get("type_code")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(50)
                .collect(),
            fulfils_by_amazon: flag("with_fba") || flag("amazon_fulfillment_enabled"),
        })
    }
}

/// A Veeqo id (a JSON number, or a string of digits) as text; `None` otherwise.
pub fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}
