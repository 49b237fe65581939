//! The fuzzing harness (issue 15): generated and mutated inputs fed to everything that reads
//! bytes from outside, asserting that nothing panics, nothing hangs, and memory stays bounded.
//!
//! Targets:
//! - every channel's webhook interpreter (`ChannelAdapter::interpret`), with its topics and
//!   random ones, and its verifier (`WebhookVerifier::authenticate`) with mutated headers and
//!   bodies (Shopify and WooCommerce deliveries also validly signed, so the routing headers and
//!   the body are read past the signature);
//! - every channel's response parsers, through the store exactly as the jobs use it (the
//!   contract fakes' connections): orders pages, an order re-read, listings pages, the
//!   tracking write (its reads and its write), inventory writes; and the token answers of the
//!   OAuth code exchanges (Shopify, Etsy, eBay, Veeqo; TikTok's token host is not the API
//!   base, so it is left out);
//! - the WMS message parser (`WmsInbound`).
//!
//! Seeds come from the fixtures (`events/`, the contract fakes' own answers, captured by
//! replaying the requests the stores make). Each input is a seed mutated one to four times:
//! structurally (a JSON node replaced by an extreme number, a long or odd string, null, a deep
//! or empty container; a key dropped), byte-wise (bit flips, insertions, cuts, splices), or
//! generated from scratch. Inputs are capped at 256 KiB.
//!
//! `make test` runs a small fixed-seed slice (about 3,500 inputs, seconds); `make fuzz` runs
//! `CHANNEL_SYNC_FUZZ_INPUTS` inputs for every target (a million by default),
//! `CHANNEL_SYNC_FUZZ_TARGETS` narrows it to some targets (comma-separated parts of their
//! names), `CHANNEL_SYNC_FUZZ_SEED` replays a run. Each target's line on stderr has its count,
//! its rate and the process's memory, threads and open files at its end (and every 10,000
//! inputs), so a leak shows while it grows; the summary is a table.

use super::*;
use crate::channels::adapter::Callback;
use crate::messages::WmsInbound;
use http::{HeaderMap, HeaderName, HeaderValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Mutex;
use wiremock::{Mock, Respond};

/// The largest input fed to a target.
const MAX_INPUT: usize = 256 * 1024;
/// Longest any one call may take: beyond it, a hang (a finding). A client may wait on
/// purpose (a throttle a store reported, up to Shopify's 60 s budget).
const CALL_BUDGET: Duration = Duration::from_secs(90);
/// A call slower than this starts a fresh connection (a throttle state an answer left).
const SLOW_CALL: Duration = Duration::from_secs(2);
/// Resident memory the whole run may add (the Lambdas have 256 MB).
const MAX_GROWTH_KB: u64 = 192 * 1024;
/// A fresh connection (registry, limiter, throttle state, the fake's record of requests) every
/// so many store inputs, so a client-side pacing from earlier inputs does not slow the next.
///
/// Veeqo's limiter (5 requests/s after a burst of 80, reference §4.8) is what stalled the
/// first long run: an inventory input costs six requests, so past the first dozen inputs of a
/// connection each one waited 1.2 s — no leak (open files, threads and memory stayed flat),
/// only pacing. `make fuzz` lifts it with `VEEQO_RATE_LIMIT` (the production setting for
/// other accounts' limits), and the connection then lives as long as the others'.
fn inputs_per_world(channel: Channel) -> u64 {
    match channel {
        Channel::Veeqo if std::env::var_os("VEEQO_RATE_LIMIT").is_none() => 80,
        _ => 1000,
    }
}

/// Inputs per target.
type Counts = BTreeMap<String, u64>;
/// A webhook delivery of the fixtures: its headers and raw body.
type WebhookFixture = (Vec<(String, String)>, Vec<u8>);

// ---------------------------------------------------------------------------------------------
// Mutation
// ---------------------------------------------------------------------------------------------

struct Mutator {
    rng: StdRng,
}

const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "-0",
    "0.5",
    "-0.0",
    "255",
    "65536",
    "2147483647",
    "-2147483649",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999",
    "1e308",
    "-1e308",
    "1e-320",
    "1e400",
    "8.2e12",
    "1.7976931348623157e308",
];

const INTERESTING_STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "null",
    "NaN",
    "Infinity",
    "1e999",
    "99999999999999999999",
    "2099-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0000-00-00T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-11-27T09:00:00",
    "2026-13-45T25:61:61Z",
    "../../etc/passwd",
    "gid://shopify/Order/",
    "gid://shopify/Order/-1",
    "%00",
    "\u{0}",
    "\u{202e}",
    "é",
    "😀",
    "#",
    "a#b",
    "<html>",
    "https://127.0.0.1/",
];

impl Mutator {
    fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    /// One input from `seeds` (or from nothing).
    fn input(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        if seeds.is_empty() || self.rng.random_ratio(1, 20) {
            let value = self.value(0);
            return serde_json::to_vec(&value).unwrap_or_default();
        }
        let mut data = self.pick(seeds).clone();
        for _ in 0..self.rng.random_range(1..=4) {
            data = match self.rng.random_range(0..10) {
                0..=5 => self.structural(&data).unwrap_or_else(|| self.bytes(data)),
                6..=8 => self.bytes(data),
                _ => {
                    let other = self.pick(seeds).clone();
                    self.splice(data, &other)
                }
            };
        }
        data.truncate(MAX_INPUT);
        data
    }

    fn number(&mut self) -> serde_json::Value {
        let raw = *self.pick(INTERESTING_NUMBERS);
        serde_json::from_str(raw).unwrap_or(serde_json::Value::Null)
    }

    fn string(&mut self) -> String {
        match self.rng.random_range(0..6) {
            0 => "x".repeat(self.rng.random_range(1000..20_000)),
            1 => (0..self.rng.random_range(1..40))
                .map(|_| char::from_u32(self.rng.random_range(0..0x11_0000)).unwrap_or('?'))
                .collect(),
            _ => (*self.pick(INTERESTING_STRINGS)).to_owned(),
        }
    }

    /// A random JSON value, at most a few levels deep (and sometimes a very deep one).
    fn value(&mut self, depth: u32) -> serde_json::Value {
        use serde_json::{json, Value};
        let leaf = depth >= 4;
        match self.rng.random_range(0..if leaf { 5 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(self.rng.random()),
            2 => self.number(),
            3 => json!(self.rng.random::<i64>()),
            4 => Value::String(self.string()),
            5 => Value::Array(
                (0..self.rng.random_range(0..5))
                    .map(|_| self.value(depth + 1))
                    .collect(),
            ),
            6 => {
                let mut depth_bomb = Value::Null;
                for _ in 0..self.rng.random_range(10..200) {
                    depth_bomb = Value::Array(vec![depth_bomb]);
                }
                depth_bomb
            }
            _ => {
                let mut map = serde_json::Map::new();
                for _ in 0..self.rng.random_range(0..5) {
                    let key = match self.rng.random_range(0..3) {
                        0 => self.string(),
                        _ => (*self.pick(&[
                            "id",
                            "data",
                            "orders",
                            "nodes",
                            "errors",
                            "code",
                            "message",
                            "items",
                            "next",
                            "cursor",
                            "quantity",
                            "sku",
                            "updated_at",
                            "status",
                        ]))
                        .to_owned(),
                    };
                    map.insert(key, self.value(depth + 1));
                }
                Value::Object(map)
            }
        }
    }

    /// A JSON mutation: one node of the parsed seed replaced, removed or multiplied.
    fn structural(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        let mut value: serde_json::Value = serde_json::from_slice(data).ok()?;
        let mut count = 0usize;
        count_nodes(&value, &mut count);
        let target = self.rng.random_range(0..count.max(1));
        let mut seen = 0usize;
        let replacement = match self.rng.random_range(0..10) {
            0..=2 => self.number(),
            3..=4 => serde_json::Value::String(self.string()),
            5 => serde_json::Value::Null,
            6 => serde_json::json!([]),
            7 => serde_json::json!({}),
            _ => self.value(1),
        };
        let remove = self.rng.random_ratio(1, 6);
        let duplicate = self.rng.random_ratio(1, 10);
        mutate_node(
            &mut value,
            target,
            &mut seen,
            &mut Some(replacement),
            remove,
            duplicate,
        );
        serde_json::to_vec(&value).ok()
    }

    fn bytes(&mut self, mut data: Vec<u8>) -> Vec<u8> {
        if data.is_empty() {
            data.push(b'{');
        }
        let at = self.rng.random_range(0..data.len());
        match self.rng.random_range(0..7) {
            0 => data[at] ^= 1 << self.rng.random_range(0..8),
            1 => data[at] = self.rng.random(),
            2 => {
                let token = match self.rng.random_range(0..3) {
                    0 => (*self.pick(INTERESTING_NUMBERS)).to_owned(),
                    1 => format!("\"{}\"", self.pick(INTERESTING_STRINGS)),
                    _ => (*self.pick(&["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\u{ff}"]))
                        .to_owned(),
                };
                data.splice(at..at, token.into_bytes());
            }
            3 => {
                let end = (at + self.rng.random_range(1..64)).min(data.len());
                data.drain(at..end);
            }
            4 => data.truncate(at),
            5 => {
                let end = (at + self.rng.random_range(1..256)).min(data.len());
                let chunk = data[at..end].to_vec();
                data.splice(at..at, chunk);
            }
            _ => data.insert(at, self.rng.random()),
        }
        data
    }

    fn splice(&mut self, data: Vec<u8>, other: &[u8]) -> Vec<u8> {
        if data.is_empty() || other.is_empty() {
            return data;
        }
        let cut = self.rng.random_range(0..data.len());
        let from = self.rng.random_range(0..other.len());
        let mut out = data[..cut].to_vec();
        out.extend_from_slice(&other[from..]);
        out
    }

    /// A header value: the seed's, mutated, or an odd one.
    fn header(&mut self, seed: &str) -> String {
        match self.rng.random_range(0..4) {
            0 => String::new(),
            1 => self.string(),
            _ => {
                let bytes = self.bytes(seed.as_bytes().to_vec());
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }
    }
}

fn count_nodes(value: &serde_json::Value, count: &mut usize) {
    *count += 1;
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| count_nodes(v, count)),
        serde_json::Value::Object(map) => map.values().for_each(|v| count_nodes(v, count)),
        _ => {}
    }
}

/// Replaces (or removes from its parent, or doubles) the `target`th node in pre-order.
fn mutate_node(
    value: &mut serde_json::Value,
    target: usize,
    seen: &mut usize,
    replacement: &mut Option<serde_json::Value>,
    remove: bool,
    duplicate: bool,
) -> bool {
    if *seen == target {
        if let Some(r) = replacement.take() {
            if duplicate {
                let copy = value.clone();
                *value = serde_json::Value::Array(vec![copy.clone(), copy]);
            } else {
                *value = r;
            }
        }
        return true;
    }
    *seen += 1;
    match value {
        serde_json::Value::Array(items) => {
            for i in 0..items.len() {
                let before = *seen;
                if mutate_node(&mut items[i], target, seen, replacement, remove, duplicate) {
                    if remove && before == target {
                        items.remove(i);
                    }
                    return true;
                }
            }
        }
        serde_json::Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let before = *seen;
                let Some(child) = map.get_mut(&key) else {
                    continue;
                };
                if mutate_node(child, target, seen, replacement, remove, duplicate) {
                    if remove && before == target {
                        map.remove(&key);
                    }
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// An API Gateway event of `events/`: its headers and raw body.
fn gateway_event(name: &str) -> Option<WebhookFixture> {
    let raw = std::fs::read(events_dir().join(name)).ok()?;
    let event: Value = serde_json::from_slice(&raw).ok()?;
    let headers = event["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let body = event["body"].as_str()?;
    let body = if event["isBase64Encoded"] == true {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()?
    } else {
        body.as_bytes().to_vec()
    };
    Some((headers, body))
}

/// Per channel: webhook (headers, body) seeds and the topics its interpreter knows.
fn webhook_seeds(channel: Channel) -> (Vec<WebhookFixture>, Vec<&'static str>) {
    let (files, topics): (&[&str], Vec<&str>) = match channel {
        Channel::Shopify => (
            &[
                "webhooks-shopify-orders-create.json",
                "webhooks-shopify-orders-create-base64.json",
            ],
            vec![
                "orders/create",
                "orders/updated",
                "orders/paid",
                "orders/cancelled",
                "orders/fulfilled",
                "app/uninstalled",
                "customers/data_request",
                "customers/redact",
                "shop/redact",
            ],
        ),
        Channel::Woocommerce => (
            &[
                "webhooks-woocommerce-order-created.json",
                "webhooks-woocommerce-ping.json",
            ],
            vec![
                "order.created",
                "order.updated",
                "order.deleted",
                "order.restored",
                "product.updated",
            ],
        ),
        Channel::Tiktok => (
            &["webhooks-tiktok-order-status-change.json"],
            vec![
                "ORDER_STATUS_CHANGE",
                "CANCELLATION_STATUS_CHANGE",
                "RECIPIENT_ADDRESS_UPDATE",
                "SELLER_DEAUTHORIZATION",
                "UPCOMING_AUTHORIZATION_EXPIRATION",
            ],
        ),
        Channel::Etsy => (&["webhooks-etsy-order-paid.json"], vec!["order.paid"]),
        Channel::Ebay => (
            &["webhooks-ebay-account-deletion.json"],
            vec!["MARKETPLACE_ACCOUNT_DELETION", "ORDER_CONFIRMATION"],
        ),
        Channel::Veeqo | Channel::Magento => (&[], vec![]),
    };
    let mut seeds: Vec<_> = files.iter().filter_map(|f| gateway_event(f)).collect();
    // Every channel's interpreter also gets the others' bodies (and the big Shopify order).
    if let Ok(order) = std::fs::read(events_dir().join("shopify-order-5kb.json")) {
        seeds.push((Vec::new(), order));
    }
    (seeds, topics)
}

/// WMS messages of the fixtures and the documented shapes.
fn wms_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        r#"{"type":"stock.changed","tenant":"dev","sku":"TS-001","available":12,"at":"2026-11-27T10:00:00Z"}"#,
        r#"{"type":"product.upserted","tenant":"dev","sku":"TS-001-X3","name":"Three pack","components":[{"sku":"TS-001","quantity":3}]}"#,
        r#"{"type":"shipment.dispatched","tenant":"dev","connection":"c_1","channel_order_id":"5630201856307","lines":[{"sku":"TS-001","quantity":1}],"carrier":"UPS","tracking_number":"1Z999","tracking_url":"https://ups.example/1Z999"}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    if let Ok(raw) = std::fs::read(events_dir().join("tracking-export-sqs-batch.json")) {
        if let Ok(batch) = serde_json::from_slice::<Value>(&raw) {
            for record in batch["Records"].as_array().into_iter().flatten() {
                if let Some(body) = record["body"].as_str() {
                    seeds.push(body.as_bytes().to_vec());
                }
            }
        }
    }
    seeds
}

/// Token answers in the shapes the OAuth channels document.
fn token_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"access_token":"shpat_fake","scope":"write_orders,read_locations","expires_in":3600,"refresh_token":"shprt_fake","refresh_token_expires_in":7776000}"#,
        r#"{"access_token":"123.fake","token_type":"Bearer","expires_in":3600,"refresh_token":"123.refresh_fake"}"#,
        r#"{"access_token":"v^1.1#fake","expires_in":7200,"refresh_token":"v^1.1#refresh","refresh_token_expires_in":47304000,"token_type":"User Access Token"}"#,
        r#"{"access_token":"veeqo_fake","token_type":"Bearer","expires_in":7200,"refresh_token":"veeqo_refresh","scope":"read write","created_at":1764230400}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

// ---------------------------------------------------------------------------------------------
// The fake that answers whatever the fuzzer gives it
// ---------------------------------------------------------------------------------------------

/// Answers every request with the current input.
#[derive(Clone, Default)]
struct Answer(Arc<Mutex<(u16, Vec<u8>)>>);

impl Answer {
    fn set(&self, status: u16, body: Vec<u8>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = (status, body);
    }
}

impl Respond for Answer {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let (status, body) = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/json")
            .set_body_bytes(body)
    }
}

/// The answers `server` gave to the requests it received (replayed), as seeds.
async fn replay_answers(server: &MockServer) -> Vec<Vec<u8>> {
    // A fake may hold an answer back on purpose (a lost answer): never wait on it for long.
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return Vec::new();
    };
    let mut seeds = Vec::new();
    for request in server.received_requests().await.unwrap_or_default() {
        let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut builder = client
            .request(method, request.url.as_str())
            .body(request.body.clone());
        for (name, value) in request.headers.iter() {
            if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
                builder = builder.header(name.as_str(), value.as_bytes());
            }
        }
        if let Ok(answer) = builder.send().await {
            if let Ok(bytes) = answer.bytes().await {
                if !bytes.is_empty() {
                    seeds.push(bytes.to_vec());
                }
            }
        }
    }
    seeds.sort();
    seeds.dedup();
    seeds
}

/// What a store target does with one answer.
#[derive(Debug, Clone, Copy)]
enum StoreOp {
    Orders,
    Reread,
    Listings,
    Tracking,
    Inventory,
    Token,
}

const STORE_OPS: [StoreOp; 6] = [
    StoreOp::Orders,
    StoreOp::Reread,
    StoreOp::Listings,
    StoreOp::Tracking,
    StoreOp::Inventory,
    StoreOp::Token,
];

/// Seeds for one (fake, op): the fake's answers to the op, captured by replay; and the
/// connection they were captured on, its fake emptied, for the fuzzing to go on with.
async fn store_seeds(fake: &dyn FakeStore, op: StoreOp) -> (Option<World>, Vec<Vec<u8>>) {
    if let StoreOp::Token = op {
        return (None, token_seeds());
    }
    let w = World::new(fake).await;
    match op {
        StoreOp::Orders | StoreOp::Reread => {
            fake.mount_orders(&w.server).await;
        }
        StoreOp::Listings => {
            fake.mount_listings(&w.server).await;
        }
        StoreOp::Tracking => {
            fake.mount_tracking_lost_answer(&w.server, &Shipment::whole_order())
                .await;
        }
        StoreOp::Inventory => fake.mount_inventory_accepting(&w.server).await,
        StoreOp::Token => {}
    }
    let _ = tokio::time::timeout(CALL_BUDGET, run_op(&w, fake, op)).await;
    let mut seeds = replay_answers(&w.server).await;
    // The fakes' `.expect(n)` are about their own tests, not this capture.
    w.server.reset().await;
    if let StoreOp::Orders | StoreOp::Reread = op {
        if let Ok(bytes) = answer_bytes(fake.one_order_page()).await {
            seeds.push(bytes);
        }
    }
    (Some(w), seeds)
}

/// The body of a fake's answer, read back through a throwaway server.
async fn answer_bytes(template: ResponseTemplate) -> Result<Vec<u8>, reqwest::Error> {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(template)
        .mount(&server)
        .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    Ok(client
        .get(server.uri())
        .send()
        .await?
        .bytes()
        .await?
        .to_vec())
}

/// One call of `op` on `w`'s connection; whatever it answers is fine, as long as it answers.
/// `false`: the connection could not be opened (an earlier answer marked it `needs_reauth`).
async fn run_op(w: &World, fake: &dyn FakeStore, op: StoreOp) -> bool {
    match op {
        StoreOp::Token => {
            let Some(app) = w.registry.adapter(fake.channel()).and_then(|a| a.oauth()) else {
                return true;
            };
            let _ = app
                .exchange(
                    "fuzz-code",
                    Callback {
                        query: &[],
                        shop: Some(fake.shop()),
                        redirect_uri: "https://sync.example/oauth/callback",
                        pkce_verifier: Some("fuzz-verifier-fuzz-verifier-fuzz-verifier-43"),
                    },
                )
                .await;
        }
        StoreOp::Inventory => {
            let Ok(writer) = w.registry.open_inventory(&w.connection).await else {
                return false;
            };
            let _ = writer.push(REFERENCE, KEY, &batch(fake)).await;
        }
        _ => {
            let Ok(store) = w.registry.open_store(&w.connection).await else {
                return false;
            };
            match op {
                StoreOp::Orders => {
                    let _ = store.orders_updated_since(since(), None).await;
                }
                StoreOp::Reread => {
                    let _ = store.order(ORDER_ID).await;
                }
                StoreOp::Listings => {
                    let _ = store.listings_page(None).await;
                }
                _ => {
                    let shipment = Shipment::partial();
                    let _ = store
                        .write_tracking(
                            ORDER_ID,
                            shipment.lines.as_deref(),
                            &shipment.tracking,
                            shipment.notify_customer,
                        )
                        .await;
                }
            }
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// What the process holds now (Linux `/proc/self`): resident memory, threads, open files.
#[derive(Debug, Clone, Copy, Default)]
struct Probe {
    rss_kb: u64,
    threads: u64,
    fds: u64,
}

impl Probe {
    fn now() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kb: field("VmRSS:"),
            threads: field("Threads:"),
            fds: std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as u64)
                .unwrap_or(0),
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rss {} KiB, {} threads, {} fds",
            self.rss_kb, self.threads, self.fds
        )
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The run's settings, from the environment (`make fuzz` sets them).
struct Settings {
    /// `CHANNEL_SYNC_FUZZ_INPUTS`: inputs for every target; unset, the small slice of `make
    /// test` (each target its own few hundred).
    per_target: Option<u64>,
    /// `CHANNEL_SYNC_FUZZ_TARGETS`: comma-separated parts of target names ("veeqo inventory",
    /// "etsy", "wms"), case-insensitive; only the targets that contain one run. Unset: all.
    only: Vec<String>,
    /// `CHANNEL_SYNC_FUZZ_SEED`: replays a run.
    seed: u64,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            per_target: std::env::var("CHANNEL_SYNC_FUZZ_INPUTS")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            only: std::env::var("CHANNEL_SYNC_FUZZ_TARGETS")
                .unwrap_or_default()
                .split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            seed: env_number("CHANNEL_SYNC_FUZZ_SEED", 15),
        }
    }

    /// Whether `target` runs.
    fn wants(&self, target: &str) -> bool {
        let target = target.to_lowercase();
        self.only.is_empty() || self.only.iter().any(|t| target.contains(t.as_str()))
    }

    /// Inputs for a target whose slice is `slice`, or none when it is filtered out.
    fn inputs(&self, target: &str, slice: u64) -> u64 {
        if self.wants(target) {
            self.per_target.unwrap_or(slice)
        } else {
            0
        }
    }
}

/// Per target: inputs, time taken, and the process at its end.
#[derive(Default)]
struct Report {
    counts: Counts,
    rows: Vec<(String, u64, Duration, Probe)>,
}

impl Report {
    /// One more input of `target`; every [`PROGRESS_EVERY`] a line on stderr.
    fn count(&mut self, target: &str) {
        let n = self.counts.entry(target.to_owned()).or_default();
        *n += 1;
        if n.is_multiple_of(PROGRESS_EVERY) && !target.contains('(') {
            eprintln!("fuzz: {target}: {n} inputs so far, {}", Probe::now());
        }
    }

    /// Closes a target: its line on stderr, so a long run shows where it is.
    fn done(&mut self, target: &str, started: Instant) {
        let n = self.counts.get(target).copied().unwrap_or(0);
        if n == 0 {
            return;
        }
        let took = started.elapsed();
        let probe = Probe::now();
        eprintln!(
            "fuzz: {target}: {n} inputs in {took:.1?} ({:.0}/s), {probe}",
            n as f64 / took.as_secs_f64().max(1e-9)
        );
        self.rows.push((target.to_owned(), n, took, probe));
    }
}

/// Runs `call`, failing the harness with the input when it hangs.
async fn within_budget<F: Future>(target: &str, input: &[u8], call: F) -> F::Output {
    match tokio::time::timeout(CALL_BUDGET, call).await {
        Ok(out) => out,
        Err(_) => panic!(
            "{target} did not answer within {CALL_BUDGET:?} on input {:?}",
            String::from_utf8_lossy(&input[..input.len().min(2000)])
        ),
    }
}

/// A header map from (name, value) pairs, skipping what `http` refuses.
fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// The webhook targets of one channel: interpreter and verifier.
async fn fuzz_webhooks(
    registry: &Registry,
    connection: Option<&Connection>,
    channel: Channel,
    m: &mut Mutator,
    settings: &Settings,
    report: &mut Report,
) {
    let Some(adapter) = registry.adapter(channel) else {
        return;
    };
    let (seeds, mut topics) = webhook_seeds(channel);
    topics.push("fuzz/unknown");
    let bodies: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    let target = format!("{channel} interpret");
    let started = Instant::now();
    for _ in 0..settings.inputs(&target, 300) {
        let topic = if m.rng.random_ratio(1, 10) {
            m.string()
        } else {
            (*m.pick(&topics)).to_owned()
        };
        let body = m.input(&bodies);
        let _ = adapter.interpret(&topic, &body);
        report.count(&target);
    }
    report.done(&target, started);
    let Some(verifier) = adapter.verifier() else {
        return;
    };
    let target = format!("{channel} verify");
    let started = Instant::now();
    for _ in 0..settings.inputs(&target, 75) {
        let (seed_headers, _) = m.pick(&seeds).clone();
        let body = m.input(&bodies);
        let mut pairs: Vec<(String, String)> = seed_headers
            .iter()
            .map(|(k, v)| {
                let value = if m.rng.random_ratio(1, 3) {
                    m.header(v)
                } else {
                    v.clone()
                };
                (k.clone(), value)
            })
            .collect();
        let topic = (*m.pick(&topics)).to_owned();
        // Validly signed, so the rest of the delivery is read past the signature.
        match channel {
            Channel::Shopify if m.rng.random_bool(0.5) => {
                pairs.retain(|(k, _)| !k.eq_ignore_ascii_case("x-shopify-hmac-sha256"));
                pairs.push((
                    "x-shopify-hmac-sha256".into(),
                    crate::channels::shopify::sign("shpss_fake", &body),
                ));
                if m.rng.random_bool(0.5) {
                    pairs.push(("x-shopify-topic".into(), topic.clone()));
                }
            }
            Channel::Woocommerce if m.rng.random_bool(0.5) => {
                pairs.retain(|(k, _)| !k.eq_ignore_ascii_case("x-wc-webhook-signature"));
                pairs.push((
                    "x-wc-webhook-signature".into(),
                    crate::channels::woocommerce::sign("whsec_contract_fake", &body),
                ));
            }
            _ => {}
        }
        let headers = header_map(&pairs);
        let per_connection = connection.filter(|c| c.channel == channel);
        let _ = within_budget(
            "webhook verifier",
            &body,
            verifier.authenticate(per_connection, &headers, &body),
        )
        .await;
        report.count(&target);
    }
    report.done(&target, started);
}

/// Progress of a long target every so many inputs (with the process's fds, threads and
/// memory, so a leak shows while it grows).
const PROGRESS_EVERY: u64 = 10_000;

/// The store targets of one fake: each op answered with mutated seeds of its own answers.
async fn fuzz_store(
    fake: &dyn FakeStore,
    m: &mut Mutator,
    settings: &Settings,
    report: &mut Report,
) {
    for op in STORE_OPS {
        let channel = fake.channel();
        if let StoreOp::Token = op {
            // TikTok's token host is not its API base (it would leave the machine).
            if channel == Channel::Tiktok
                || channel == Channel::Woocommerce
                || channel == Channel::Magento
            {
                continue;
            }
        }
        let target = format!("{channel} {op:?}");
        // TikTok paces each API of a shop 20 ms apart: a smaller slice keeps `make test` short.
        let slice = if channel == Channel::Tiktok { 3 } else { 12 };
        let inputs = settings.inputs(&target, slice);
        if inputs == 0 {
            continue;
        }
        let started = Instant::now();
        let (mut world, seeds) = store_seeds(fake, op).await;
        let mut done = 0u64;
        while done < inputs {
            let w = match world.take() {
                Some(w) => w,
                None => World::new(fake).await,
            };
            let answer = Answer::default();
            Mock::given(wiremock::matchers::any())
                .respond_with(answer.clone())
                .mount(&w.server)
                .await;
            for _ in 0..inputs_per_world(channel).min(inputs - done) {
                let body = m.input(&seeds);
                let status = match m.rng.random_range(0..40) {
                    0 => 500,
                    1 => 404,
                    2 => 400,
                    3 => 201,
                    _ => 200,
                };
                answer.set(status, body.clone());
                let call = Instant::now();
                let opened = within_budget(&target, &body, run_op(&w, fake, op)).await;
                done += 1;
                report.count(&target);
                if call.elapsed() > SLOW_CALL {
                    report.count(&format!("{target} (slow, >2 s)"));
                    break;
                }
                if !opened {
                    report.count(&format!("{target} (marked needs_reauth)"));
                    break;
                }
            }
        }
        report.done(&target, started);
    }
}

/// The harness. See the module doc.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_every_parser_of_outside_input() {
    let settings = Settings::from_env();
    if settings.per_target.is_some() && std::env::var_os("VEEQO_RATE_LIMIT").is_none() {
        eprintln!(
            "fuzz: VEEQO_RATE_LIMIT is not set: Veeqo's store targets run at Veeqo's pace \
             (about one input a second); `make fuzz` sets it"
        );
    }
    let mut m = Mutator::new(settings.seed);
    let mut report = Report::default();
    let start = Probe::now();
    let mut peak_kb = start.rss_kb;

    // Webhooks, per channel, on a registry whose WooCommerce connection has the fake's secret.
    let woo = World::new(
        FAKES
            .iter()
            .copied()
            .find(|f| f.channel() == Channel::Woocommerce)
            .unwrap_or(FAKES[0]),
    )
    .await;
    for channel in Channel::ALL {
        fuzz_webhooks(
            &woo.registry,
            Some(&woo.connection),
            channel,
            &mut m,
            &settings,
            &mut report,
        )
        .await;
        peak_kb = peak_kb.max(Probe::now().rss_kb);
    }
    drop(woo);

    // The WMS message parser.
    let seeds = wms_seeds();
    let target = "wms message";
    let started = Instant::now();
    for _ in 0..settings.inputs(target, 600) {
        let input = m.input(&seeds);
        let _ = serde_json::from_slice::<WmsInbound>(&input);
        report.count(target);
    }
    report.done(target, started);

    // Every channel's response parsers through its store.
    for fake in FAKES {
        fuzz_store(*fake, &mut m, &settings, &mut report).await;
        peak_kb = peak_kb.max(Probe::now().rss_kb);
    }

    // Notes like "(slow)" are about inputs already counted.
    let total: u64 = report
        .counts
        .iter()
        .filter(|(k, _)| !k.contains('('))
        .map(|(_, n)| n)
        .sum();
    let end = Probe::now();
    println!(
        "fuzz: seed {}, {total} inputs, no panic, no hang",
        settings.seed
    );
    println!("  | target | inputs | seconds | inputs/s |");
    println!("  |---|---:|---:|---:|");
    for (target, n, took, _) in &report.rows {
        println!(
            "  | {target} | {n} | {:.1} | {:.0} |",
            took.as_secs_f64(),
            *n as f64 / took.as_secs_f64().max(1e-9)
        );
    }
    for (target, n) in report.counts.iter().filter(|(k, _)| k.contains('(')) {
        println!("  {target:<40} {n:>9}");
    }
    println!("  at start: {start}; at end: {end}; peak rss {peak_kb} KiB");
    if start.rss_kb > 0 {
        assert!(
            peak_kb.saturating_sub(start.rss_kb) < MAX_GROWTH_KB,
            "memory grew by {} KiB",
            peak_kb.saturating_sub(start.rss_kb)
        );
    }
    // Every target asked for was reached.
    for channel in Channel::ALL {
        for target in [format!("{channel} interpret"), format!("{channel} Orders")] {
            if settings.wants(&target) {
                assert!(report.counts.contains_key(&target), "{target}");
            }
        }
    }
    if let Some(n) = settings.per_target {
        for (target, got, _, _) in &report.rows {
            assert!(*got >= n, "{target}: {got} of {n}");
        }
    }
}

/// The target filter picks targets by parts of their names, case-insensitively, and a count
/// applies to every chosen target; unset, each target keeps its own slice.
#[test]
fn the_settings_pick_targets_by_name_and_count_each() {
    let all = Settings {
        per_target: None,
        only: Vec::new(),
        seed: 15,
    };
    assert_eq!(all.inputs("veeqo Inventory", 12), 12);
    assert_eq!(all.inputs("wms message", 600), 600);
    let some = Settings {
        per_target: Some(1_000_000),
        only: vec!["veeqo inventory".into(), "etsy".into()],
        seed: 15,
    };
    assert_eq!(some.inputs("veeqo Inventory", 12), 1_000_000);
    assert_eq!(some.inputs("etsy verify", 75), 1_000_000);
    assert_eq!(some.inputs("veeqo Orders", 12), 0);
    assert_eq!(some.inputs("wms message", 600), 0);
}

/// The mutator is deterministic for a seed (so a finding can be replayed) and its inputs stay
/// under the cap.
#[test]
fn the_mutator_replays_a_seed_and_caps_its_inputs() {
    let seeds = vec![br#"{"a":[1,2,{"b":"c"}],"d":null}"#.to_vec()];
    let run = |seed| {
        let mut m = Mutator::new(seed);
        (0..200).map(|_| m.input(&seeds)).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    assert!(run(9).iter().all(|i| i.len() <= MAX_INPUT));
    assert!(run(9)
        .iter()
        .any(|i| serde_json::from_slice::<Value>(i).is_ok()));
    assert!(run(9)
        .iter()
        .any(|i| serde_json::from_slice::<Value>(i).is_err()));
}
