//! The Shopify GraphQL Admin API client. Built once per process; one pinned API version.
//!
//! Throttling: Shopify meters GraphQL Admin calls with a leaky bucket per app and shop
//! (reference §1.7, notes §7). Every response reports `extensions.cost.throttleStatus`; the
//! client keeps the last report per shop and the last `requestedQueryCost` per query document,
//! and before sending waits until the bucket should hold the estimated cost again (reserving it,
//! so concurrent calls through one client queue instead of all being refused). A throttled
//! answer (HTTP 200 with `THROTTLED`, or HTTP 429) is retried after a computed wait, bounded by
//! [`MAX_ATTEMPTS`] attempts and [`MAX_THROTTLE_WAIT`] of waiting per call.
//!
//! The state lives in this process only: other processes of the same app (other Lambda
//! instances) drain the same bucket unseen, which the retry on `THROTTLED` covers.

use super::API_VERSION;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// A shop's locations read in flight, by shop domain and a hash of the token: the shared
/// answer, or `Err(())` when the read failed (its caller has the error).
pub(super) type LocationFlights =
    Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Result<Vec<super::locations::Location>, ()>>>>>;

/// At most this many requests per [`ShopifyClient::graphql`] call (the first one included).
pub const MAX_ATTEMPTS: u32 = 5;
/// At most this much waiting (before sending and between retries) per `graphql` call. A longer
/// wait is returned to the caller as [`ClientError::Throttled`] so a queue can retry later.
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(60);
/// The first wait of the exponential backoff used when a throttled answer says nothing about
/// when to retry (no `Retry-After`, no usable `throttleStatus`).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Estimated cost of a query document not seen yet.
const DEFAULT_QUERY_COST: f64 = 50.0;
/// The shortest wait after a throttled answer computed from the bucket (notes §7: floor 1 s),
/// because the bucket figures are a snapshot and rounding would otherwise retry too early.
const MIN_COMPUTED_RETRY: Duration = Duration::from_secs(1);
/// Bounds on the remembered state: documents are constants, shops are many but each entry is
/// small; past these sizes entries are dropped (the state is only an optimisation).
const MAX_REMEMBERED_DOCUMENTS: usize = 256;
const MAX_REMEMBERED_SHOPS: usize = 4096;

/// What the credentials check learns about a shop.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopInfo {
    pub name: String,
    pub myshopify_domain: String,
}

/// A Shopify Admin API client. Clones share the throttle state (one app, one bucket per shop).
#[derive(Debug, Clone)]
pub struct ShopifyClient {
    http: reqwest::Client,
    /// Replaces `https://{shop}` (tests and the local fake store).
    api_base: Option<String>,
    throttle: Arc<Mutex<ThrottleState>>,
    /// Reads of a shop's locations in flight, shared by concurrent callers
    /// ([`ShopifyClient::locations_shared`]); shared by clones, like the throttle.
    pub(super) flights: Arc<LocationFlights>,
    backoff_base: Duration,
    max_wait: Duration,
}

const SHOP_QUERY: &str = "query ChannelSyncShop { shop { name myshopifyDomain } }";

impl ShopifyClient {
    /// A client with sane timeouts; `api_base` overrides `https://{shop}`.
    pub fn new(api_base: Option<String>) -> Result<Self, ClientError> {
        let http = crate::channels::tls::client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("channel-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unavailable(format!("http client: {e}")))?;
        Ok(Self {
            http,
            api_base: api_base.map(|b| b.trim_end_matches('/').to_owned()),
            throttle: Arc::default(),
            flights: Arc::default(),
            backoff_base: DEFAULT_BACKOFF_BASE,
            max_wait: MAX_THROTTLE_WAIT,
        })
    }

    /// Sets the first wait of the exponential backoff (default [`DEFAULT_BACKOFF_BASE`]); it
    /// doubles per retry. Tests use a few milliseconds.
    pub fn with_backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// Sets the most waiting one `graphql` call may do (default [`MAX_THROTTLE_WAIT`]), e.g.
    /// shorter for a call made while a person waits for an HTTP answer.
    pub fn with_max_throttle_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The GraphQL endpoint of `shop`.
    pub fn graphql_url(&self, shop: &ShopDomain) -> String {
        match &self.api_base {
            Some(base) => format!("{base}/admin/api/{API_VERSION}/graphql.json"),
            None => format!("https://{shop}/admin/api/{API_VERSION}/graphql.json"),
        }
    }

    /// `path` on the shop's admin host (or the configured API base).
    pub fn shop_url(&self, shop: &ShopDomain, path: &str) -> String {
        match &self.api_base {
            Some(base) => format!("{base}{path}"),
            None => format!("https://{shop}{path}"),
        }
    }

    /// The HTTP client, for calls outside GraphQL (OAuth).
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Runs one GraphQL document and returns its `data`.
    ///
    /// Waits for the shop's cost bucket before sending and retries throttled answers (see the
    /// module doc); gives up with [`ClientError::Throttled`] after [`MAX_ATTEMPTS`] requests or
    /// when the next wait would exceed the call's waiting budget. Every other failure is
    /// returned at once, unretried.
    pub async fn graphql(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 1;
        loop {
            let budget = self.max_wait.saturating_sub(waited);
            // Bound in its own statement: the guard must be dropped before any await.
            let reserved = self
                .throttle()
                .reserve(shop.as_str(), query, Instant::now(), budget);
            match reserved {
                Ok(wait) if wait.is_zero() => {}
                Ok(wait) => {
                    tracing::debug!(shop = %shop, wait_ms = wait.as_millis() as u64, "waiting for the Shopify cost bucket");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                Err(wait) => {
                    tracing::warn!(shop = %shop, wait_ms = wait.as_millis() as u64, "Shopify cost bucket too low to wait for");
                    return Err(ClientError::Throttled {
                        retry_after_secs: Some(ceil_secs(wait)),
                    });
                }
            }
            let retry_after = match self.send_once(shop, token, query, &variables).await? {
                Attempt::Done(data) => return Ok(data),
                Attempt::Throttled { retry_after } => retry_after,
            };
            // Retry-After first; else what the reported bucket says; else exponential backoff.
            let (wait, known) = match retry_after {
                Some(wait) => (wait, true),
                None => {
                    let computed = self
                        .throttle()
                        .retry_wait(shop.as_str(), query, Instant::now());
                    match computed {
                        Some(wait) => (wait, true),
                        None => (backoff(self.backoff_base, attempt), false),
                    }
                }
            };
            if attempt >= MAX_ATTEMPTS || waited + wait > self.max_wait {
                tracing::warn!(shop = %shop, attempt, waited_ms = waited.as_millis() as u64, "throttled by Shopify; giving up");
                return Err(ClientError::Throttled {
                    retry_after_secs: known.then(|| ceil_secs(wait)),
                });
            }
            tracing::debug!(shop = %shop, attempt, wait_ms = wait.as_millis() as u64, "throttled by Shopify; retrying");
            tokio::time::sleep(wait).await;
            waited += wait;
            attempt += 1;
        }
    }

    /// One request: classifies the answer and records its cost report.
    async fn send_once(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        query: &str,
        variables: &serde_json::Value,
    ) -> Result<Attempt, ClientError> {
        let response = self
            .http
            .post(self.graphql_url(shop))
            .header("X-Shopify-Access-Token", token.expose())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| ClientError::Unavailable(without_url(e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_SECS)));
        match status.as_u16() {
            200..=299 => {}
            401 | 403 => return Err(ClientError::Unauthorized),
            402 | 404 | 423 => return Err(ClientError::NotFound),
            429 => {
                // A 429 may carry the GraphQL throttle body [U]; use its cost report if so.
                if let Ok(bytes) = response.bytes().await {
                    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                        self.observe(shop, query, &body);
                    }
                }
                return Ok(Attempt::Throttled { retry_after });
            }
            500..=599 => return Err(ClientError::Unavailable(format!("HTTP {status}"))),
            _ => return Err(ClientError::BadResponse(format!("HTTP {status}"))),
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| ClientError::BadResponse("the response is not JSON".into()))?;
        self.observe(shop, query, &body);
        if let Some(errors) = body.get("errors").and_then(|e| e.as_array()) {
            let throttled = errors
                .iter()
                .any(|e| e["extensions"]["code"] == "THROTTLED");
            if throttled {
                return Ok(Attempt::Throttled { retry_after });
            }
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect();
            return Err(ClientError::BadResponse(format!(
                "GraphQL errors: {}",
                messages.join("; ")
            )));
        }
        match body.get("data") {
            Some(data) if !data.is_null() => Ok(Attempt::Done(data.clone())),
            _ => Err(ClientError::BadResponse("the response has no data".into())),
        }
    }

    /// Records a response's `extensions.cost`, if it has a usable one.
    fn observe(&self, shop: &ShopDomain, query: &str, body: &serde_json::Value) {
        let report = CostReport::read(body);
        self.throttle()
            .observe(shop.as_str(), query, report, Instant::now());
    }

    fn throttle(&self) -> MutexGuard<'_, ThrottleState> {
        // Nothing panics while the lock is held; if something ever did, the state is still
        // only an estimate, so keep using it rather than propagate the poison.
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks an Admin API access token by reading the shop's name.
    pub async fn shop_info(
        &self,
        shop: &ShopDomain,
        token: &Secret,
    ) -> Result<ShopInfo, ClientError> {
        let data = self.graphql(shop, token, SHOP_QUERY, json!({})).await?;
        serde_json::from_value(data["shop"].clone())
            .map_err(|e| ClientError::BadResponse(format!("shop: {e}")))
    }
}

/// The outcome of one request that did not fail outright.
enum Attempt {
    Done(serde_json::Value),
    /// `retry_after` is the `Retry-After` header, when given.
    Throttled {
        retry_after: Option<Duration>,
    },
}

/// Longest wait we ever compute from untrusted numbers (a day); keeps `Duration` math finite.
const MAX_SECS: f64 = 86_400.0;

/// Seconds as a `Duration`; zero for negative or non-finite input.
fn secs(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::from_secs_f64(s.min(MAX_SECS))
    } else {
        Duration::ZERO
    }
}

/// Whole seconds, rounded up (what `Retry-After`-style callers expect).
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `base`, doubled for each retry after the first.
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
}

/// `extensions.cost` of one response, the usable parts only (all of it is untrusted).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CostReport {
    requested: Option<f64>,
    status: Option<ThrottleStatus>,
}

/// `extensions.cost.throttleStatus`. Shopify sends floats or integers (notes §7).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ThrottleStatus {
    maximum: f64,
    available: f64,
    restore_rate: f64,
}

impl CostReport {
    fn read(body: &serde_json::Value) -> Self {
        // `Value` indexing yields `Null` for anything missing or of the wrong shape.
        let cost = &body["extensions"]["cost"];
        let number = |v: &serde_json::Value| v.as_f64().filter(|n| n.is_finite() && *n >= 0.0);
        let requested = number(&cost["requestedQueryCost"]);
        let ts = &cost["throttleStatus"];
        let status = match (
            number(&ts["maximumAvailable"]),
            number(&ts["currentlyAvailable"]),
            number(&ts["restoreRate"]),
        ) {
            // A zero bucket or restore rate would make every wait infinite: ignore such a report.
            (Some(maximum), Some(available), Some(restore_rate))
                if maximum > 0.0 && restore_rate > 0.0 =>
            {
                Some(ThrottleStatus {
                    maximum,
                    available: available.min(maximum),
                    restore_rate,
                })
            }
            _ => None,
        };
        Self { requested, status }
    }
}

/// What the client last knew of one shop's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    maximum: f64,
    /// Points at `observed_at`; below zero when calls have reserved more than was there.
    available: f64,
    /// Points restored per second; always > 0.
    restore_rate: f64,
    observed_at: Instant,
}

impl Bucket {
    /// The points available at `now`, restored since the observation, capped at the maximum.
    fn projected(&self, now: Instant) -> f64 {
        let elapsed = now
            .saturating_duration_since(self.observed_at)
            .as_secs_f64();
        (self.available + self.restore_rate * elapsed).min(self.maximum)
    }

    /// How long until `cost` points are available. A cost above the bucket's size is waited
    /// for as if it were the whole bucket: waiting longer could never help.
    fn time_until(&self, cost: f64, now: Instant) -> Duration {
        secs((cost.min(self.maximum) - self.projected(now)) / self.restore_rate)
    }
}

/// Per-shop buckets and per-document cost estimates, shared by clones of one client.
#[derive(Debug, Default)]
struct ThrottleState {
    buckets: HashMap<String, Bucket>,
    /// Last `requestedQueryCost` per query document (Shopify admits a query only when the
    /// bucket holds its requested cost, then refunds the difference to the actual cost).
    costs: HashMap<String, f64>,
}

impl ThrottleState {
    fn estimated_cost(&self, query: &str) -> f64 {
        self.costs.get(query).copied().unwrap_or(DEFAULT_QUERY_COST)
    }

    /// Reserves the estimated cost of `query` on `shop`'s bucket and returns how long to wait
    /// before sending. Reserving makes concurrent callers queue behind each other. When the
    /// wait would exceed `budget`, nothing is reserved and the wait is the error.
    fn reserve(
        &mut self,
        shop: &str,
        query: &str,
        now: Instant,
        budget: Duration,
    ) -> Result<Duration, Duration> {
        let cost = self.estimated_cost(query);
        let Some(bucket) = self.buckets.get_mut(shop) else {
            // Nothing known yet: send, and learn from the answer.
            return Ok(Duration::ZERO);
        };
        let wait = bucket.time_until(cost, now);
        if wait > budget {
            return Err(wait);
        }
        bucket.available = bucket.projected(now) - cost.min(bucket.maximum);
        bucket.observed_at = now;
        Ok(wait)
    }

    /// After a throttled answer: how long until the bucket holds the query's cost again
    /// (at least [`MIN_COMPUTED_RETRY`]), or `None` when the shop's bucket is unknown.
    fn retry_wait(&self, shop: &str, query: &str, now: Instant) -> Option<Duration> {
        let bucket = self.buckets.get(shop)?;
        Some(
            bucket
                .time_until(self.estimated_cost(query), now)
                .max(MIN_COMPUTED_RETRY),
        )
    }

    /// Records a response's cost report; the report replaces any reservation made before.
    fn observe(&mut self, shop: &str, query: &str, report: CostReport, now: Instant) {
        if let Some(requested) = report.requested {
            if self.costs.len() >= MAX_REMEMBERED_DOCUMENTS && !self.costs.contains_key(query) {
                self.costs.clear();
            }
            self.costs.insert(query.to_owned(), requested);
        }
        if let Some(status) = report.status {
            if self.buckets.len() >= MAX_REMEMBERED_SHOPS && !self.buckets.contains_key(shop) {
                // Full buckets carry no information: forgetting them changes nothing.
                self.buckets.retain(|_, b| b.projected(now) < b.maximum);
                if self.buckets.len() >= MAX_REMEMBERED_SHOPS {
                    self.buckets.clear();
                }
            }
            self.buckets.insert(
                shop.to_owned(),
                Bucket {
                    maximum: status.maximum,
                    available: status.available,
                    restore_rate: status.restore_rate,
                    observed_at: now,
                },
            );
        }
    }
}

/// reqwest errors print the URL; ours carry no secrets, but keep messages short and stable.
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    async fn client_for(server: &MockServer) -> ShopifyClient {
        ShopifyClient::new(Some(server.uri())).unwrap()
    }

    #[tokio::test]
    async fn shop_info_sends_the_exact_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", "shpat_fake_token"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({"query": SHOP_QUERY, "variables": {}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"shop": {"name": "Demo", "myshopifyDomain": "demo.myshopify.com"}},
                "extensions": {"cost": {"requestedQueryCost": 1}}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let info = client_for(&server)
            .await
            .shop_info(&shop(), &Secret::new("shpat_fake_token"))
            .await
            .unwrap();
        assert_eq!(info.name, "Demo");
        assert_eq!(info.myshopify_domain, "demo.myshopify.com");
    }

    #[tokio::test]
    async fn statuses_are_classified() {
        for (status, check) in [
            (
                401,
                (|e: &ClientError| matches!(e, ClientError::Unauthorized))
                    as fn(&ClientError) -> bool,
            ),
            (403, |e| matches!(e, ClientError::Unauthorized)),
            (404, |e| matches!(e, ClientError::NotFound)),
            (503, |e| matches!(e, ClientError::Unavailable(_))),
            (418, |e| matches!(e, ClientError::BadResponse(_))),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status))
                .expect(1)
                .mount(&server)
                .await;
            let err = client_for(&server)
                .await
                .shop_info(&shop(), &Secret::new("t"))
                .await
                .unwrap_err();
            assert!(check(&err), "{status} gave {err:?}");
        }
    }

    #[tokio::test]
    async fn html_and_graphql_errors() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "errors": [{"message": "Field 'x' doesn't exist"}]
            })))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": null,
                "extensions": {"cost": {"requestedQueryCost": 1}}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let c = client_for(&server).await;
        let t = Secret::new("shpat_fake_token");
        assert!(
            matches!(c.shop_info(&shop(), &t).await, Err(ClientError::BadResponse(m)) if m.contains("not JSON"))
        );
        assert!(
            matches!(c.shop_info(&shop(), &t).await, Err(ClientError::BadResponse(m)) if m.contains("doesn't exist"))
        );
        assert!(
            matches!(c.shop_info(&shop(), &t).await, Err(ClientError::BadResponse(m)) if m.contains("no data"))
        );
    }

    /// A client whose HTTP stack arms no tokio timers, for tests on paused time: with paused
    /// time the runtime jumps to the next timer whenever it idles, which would fire request
    /// timeouts while the mock server (on its own thread) is answering.
    async fn paused_client_for(server: &MockServer) -> ShopifyClient {
        let mut c = client_for(server).await;
        c.http = reqwest::Client::builder()
            .pool_idle_timeout(None)
            .build()
            .unwrap();
        c
    }

    fn exact_shop_request() -> wiremock::MockBuilder {
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", "shpat_fake_token"))
            .and(body_json(json!({"query": SHOP_QUERY, "variables": {}})))
    }

    fn shop_ok(requested: f64, available: f64, restore_rate: f64) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "data": {"shop": {"name": "Demo", "myshopifyDomain": "demo.myshopify.com"}},
            "extensions": {"cost": {
                "requestedQueryCost": requested, "actualQueryCost": requested,
                "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": restore_rate}
            }}
        }))
    }

    fn throttled_body(cost: serde_json::Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": cost}
        }))
    }

    fn secs_since(start: Instant) -> f64 {
        Instant::now().duration_since(start).as_secs_f64()
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_with_retry_after_is_retried_after_that_wait() {
        let server = MockServer::start().await;
        exact_shop_request()
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2.0"))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        exact_shop_request()
            .respond_with(shop_ok(1.0, 999.0, 50.0))
            .expect(1)
            .mount(&server)
            .await;
        let c = paused_client_for(&server).await;
        let start = Instant::now();
        let info = c
            .shop_info(&shop(), &Secret::new("shpat_fake_token"))
            .await
            .unwrap();
        assert_eq!(info.name, "Demo");
        let waited = secs_since(start);
        assert!((2.0..2.1).contains(&waited), "waited {waited} s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_body_is_retried_when_the_bucket_holds_the_cost() {
        let server = MockServer::start().await;
        exact_shop_request()
            .respond_with(throttled_body(json!({
                "requestedQueryCost": 752, "actualQueryCost": null,
                "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 666, "restoreRate": 50.0}
            })))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        exact_shop_request()
            .respond_with(shop_ok(752.0, 300.0, 50.0))
            .expect(1)
            .mount(&server)
            .await;
        let c = paused_client_for(&server).await;
        let start = Instant::now();
        c.shop_info(&shop(), &Secret::new("shpat_fake_token"))
            .await
            .unwrap();
        // (752 - 666) / 50 = 1.72 s, and no second wait before the retry.
        let waited = secs_since(start);
        assert!((1.719..1.8).contains(&waited), "waited {waited} s");
    }

    #[tokio::test]
    async fn always_throttled_gives_up_after_five_attempts() {
        let server = MockServer::start().await;
        exact_shop_request()
            .respond_with(ResponseTemplate::new(429))
            .expect(5)
            .mount(&server)
            .await;
        let c = client_for(&server)
            .await
            .with_backoff_base(Duration::from_millis(1));
        let err = c
            .shop_info(&shop(), &Secret::new("shpat_fake_token"))
            .await
            .unwrap_err();
        // Nothing said when to retry, so the caller is not told a time either.
        assert!(
            matches!(
                err,
                ClientError::Throttled {
                    retry_after_secs: None
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_hints_the_backoff_doubles_from_one_second() {
        let server = MockServer::start().await;
        exact_shop_request()
            .respond_with(throttled_body(json!(null)))
            .expect(5)
            .mount(&server)
            .await;
        let c = paused_client_for(&server).await;
        let start = Instant::now();
        let err = c
            .shop_info(&shop(), &Secret::new("shpat_fake_token"))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Throttled { .. }), "{err:?}");
        let waited = secs_since(start);
        assert!(
            (15.0..15.1).contains(&waited),
            "1+2+4+8 s expected, waited {waited} s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_budget_is_returned_at_once() {
        let server = MockServer::start().await;
        exact_shop_request()
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
            .expect(1)
            .mount(&server)
            .await;
        let c = paused_client_for(&server).await;
        let start = Instant::now();
        let err = c
            .shop_info(&shop(), &Secret::new("shpat_fake_token"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Throttled {
                    retry_after_secs: Some(120)
                }
            ),
            "{err:?}"
        );
        assert!(secs_since(start) < 0.1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_low_bucket_makes_the_next_call_to_that_shop_wait() {
        let server = MockServer::start().await;
        exact_shop_request()
            .respond_with(shop_ok(100.0, 20.0, 50.0))
            .expect(3)
            .mount(&server)
            .await;
        let c = paused_client_for(&server).await;
        let t = Secret::new("shpat_fake_token");
        let other = ShopDomain::parse("other.myshopify.com").unwrap();

        let start = Instant::now();
        c.shop_info(&shop(), &t).await.unwrap();
        assert!(secs_since(start) < 0.05, "nothing known yet: no wait");

        // Another shop has its own bucket.
        let start = Instant::now();
        c.shop_info(&other, &t).await.unwrap();
        assert!(secs_since(start) < 0.05, "other shop waited");

        // The first shop had 20 points of the 100 this query requests, restoring 50/s.
        let start = Instant::now();
        c.shop_info(&shop(), &t).await.unwrap();
        let waited = secs_since(start);
        assert!(
            (1.55..1.65).contains(&waited),
            "(100-20)/50 = 1.6 s expected, waited {waited} s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_beyond_the_budget_is_not_sent() {
        let server = MockServer::start().await;
        exact_shop_request()
            .respond_with(shop_ok(100.0, 20.0, 50.0))
            .expect(1)
            .mount(&server)
            .await;
        let c = paused_client_for(&server)
            .await
            .with_max_throttle_wait(Duration::from_secs(1));
        let t = Secret::new("shpat_fake_token");
        c.shop_info(&shop(), &t).await.unwrap();
        let err = c.shop_info(&shop(), &t).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Throttled {
                    retry_after_secs: Some(2)
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn cost_reports_are_read_defensively() {
        let read = |v| CostReport::read(&v);
        assert_eq!(
            read(
                json!({"extensions": {"cost": {"requestedQueryCost": 12, "actualQueryCost": 3,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1997, "restoreRate": 100.0}}}})
            ),
            CostReport {
                requested: Some(12.0),
                status: Some(ThrottleStatus {
                    maximum: 2000.0,
                    available: 1997.0,
                    restore_rate: 100.0
                })
            }
        );
        for unusable in [
            json!(null),
            json!([1, 2]),
            json!({"extensions": "cost"}),
            json!({"extensions": {"cost": {"requestedQueryCost": "12",
                "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": 5, "restoreRate": 0}}}}),
            json!({"extensions": {"cost": {"requestedQueryCost": -1,
                "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": -5, "restoreRate": 50}}}}),
        ] {
            assert_eq!(
                read(unusable.clone()),
                CostReport {
                    requested: None,
                    status: None
                },
                "{unusable}"
            );
        }
    }

    #[test]
    fn reservations_queue_concurrent_calls() {
        let now = Instant::now();
        let mut state = ThrottleState::default();
        let report = CostReport {
            requested: Some(100.0),
            status: Some(ThrottleStatus {
                maximum: 1000.0,
                available: 150.0,
                restore_rate: 50.0,
            }),
        };
        state.observe("a", "q", report, now);
        let budget = Duration::from_secs(60);
        assert_eq!(state.reserve("a", "q", now, budget), Ok(Duration::ZERO));
        // 50 left: the second caller waits for 50 more points, the third for 150.
        assert_eq!(
            state.reserve("a", "q", now, budget),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            state.reserve("a", "q", now, budget),
            Ok(Duration::from_secs(3))
        );
        // Too long for the budget: refused, and nothing reserved.
        assert_eq!(
            state.reserve("a", "q", now, Duration::from_secs(4)),
            Err(Duration::from_secs(5))
        );
        assert_eq!(
            state.reserve("a", "q", now, budget),
            Ok(Duration::from_secs(5))
        );
        // Another document is estimated at the default cost; another shop is unknown.
        assert_eq!(state.estimated_cost("other"), DEFAULT_QUERY_COST);
        assert_eq!(state.reserve("b", "q", now, budget), Ok(Duration::ZERO));
    }

    #[test]
    fn the_bucket_restores_up_to_its_size_and_caps_oversized_costs() {
        let now = Instant::now();
        let bucket = Bucket {
            maximum: 1000.0,
            available: 0.0,
            restore_rate: 100.0,
            observed_at: now,
        };
        assert_eq!(bucket.projected(now + Duration::from_secs(5)), 500.0);
        assert_eq!(bucket.projected(now + Duration::from_secs(60)), 1000.0);
        // A 5000-point query can never fit; wait for a full bucket, not 50 s.
        assert_eq!(bucket.time_until(5000.0, now), Duration::from_secs(10));
        assert_eq!(
            bucket.time_until(200.0, now + Duration::from_secs(3)),
            Duration::ZERO
        );
    }

    #[test]
    fn backoff_doubles_and_seconds_round_up() {
        let base = Duration::from_secs(1);
        let waits: Vec<u64> = (1..=5).map(|a| backoff(base, a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16]);
        assert_eq!(ceil_secs(Duration::from_millis(1600)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(secs(f64::NAN), Duration::ZERO);
        assert_eq!(secs(-1.0), Duration::ZERO);
    }

    #[tokio::test]
    async fn timeouts_are_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
            .mount(&server)
            .await;
        let mut c = client_for(&server).await;
        c.http = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        assert!(matches!(
            c.shop_info(&shop(), &Secret::new("t")).await,
            Err(ClientError::Unavailable(m)) if m == "timed out"
        ));
    }

    #[test]
    fn default_url_is_the_shop() {
        let c = ShopifyClient::new(None).unwrap();
        assert_eq!(
            c.graphql_url(&shop()),
            "https://demo.myshopify.com/admin/api/2026-10/graphql.json"
        );
    }
}
