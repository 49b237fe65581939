//! A bounded load run against `channel-sync serve`: posts N signed order deliveries (distinct
//! orders) with C concurrent clients, waits until the outbox holds every accepted order, and
//! reports what an operator needs to know:
//!
//! - **accepted/s** and the **p50/p99/max latency** of the 200 answers (intake),
//! - **orders/s end to end** (first delivery sent → last order in the outbox),
//! - **lost** (accepted, never in the outbox) and **duplicated** (in the outbox more than once).
//!
//! Self-contained (what `make load` runs): `LOAD_SERVE=target/release/channel-sync` starts that
//! binary on a fresh data directory and a free port, with a fake Shopify (wiremock) that
//! answers the connect check, connects a custom-app shop through the API, and posts to it.
//! `LOAD_KILL=1` kills serve with SIGKILL when half of the deliveries were sent, restarts it
//! on the same data, and the clients re-send whatever was not answered 200 (as Shopify does):
//! the run then proves that nothing is lost or duplicated across a crash.
//! ```sh
//! LOAD_SERVE=target/release/channel-sync LOAD_LINES=12 \
//!   cargo run --release -p local --example load -- 3000 32
//! ```
//! `LOAD_LINES` (default 2): line items per order. The last line of the output is one JSON
//! object with every figure (for the notes).
//!
//! Against a serve you started yourself (only loopback targets): `LOAD_BASE`,
//! `CHANNEL_SYNC_DEV_TOKEN`, `SHOPIFY_CLIENT_SECRET`, `LOAD_SHOP` (the shop must be connected).
//!
//! `LOAD_CHANNEL=woocommerce` measures the WooCommerce route instead: the example starts a
//! fake WooCommerce store (wiremock), connects it through the API (start `serve` with
//! `CHANNEL_SYNC_ALLOW_PRIVATE_STORES=1`; `LOAD_SERVE` sets it), and posts signed
//! `order.created` deliveries to `/webhooks/woocommerce/{connection}` with the secret
//! channel-sync generated.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `serve` this run started (`LOAD_SERVE`): killed on drop.
struct Spawned {
    bin: String,
    data: tempfile::TempDir,
    child: std::process::Child,
    addr: String,
    token: String,
    secret: String,
    _shopify: wiremock::MockServer,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spawned {
    async fn start(bin: &str) -> Self {
        let shopify =
            local::fakes::shopify::accepting_store(SHOP, "shpat_load_fake", "Load Shop").await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut spawned = Self {
            bin: bin.to_owned(),
            data: tempfile::tempdir().expect("a data directory"),
            child: std::process::Command::new("true").spawn().expect("spawn"),
            addr: format!("127.0.0.1:{port}"),
            token: format!("cs_load_fake_{}", uuid::Uuid::new_v4().simple()),
            secret: format!("shpss_load_fake_{}", uuid::Uuid::new_v4().simple()),
            _shopify: shopify,
        };
        spawned.restart().await;
        let client = reqwest::Client::new();
        let connected = client
            .post(format!("http://{}/api/connections", spawned.addr))
            .bearer_auth(&spawned.token)
            .json(
                &serde_json::json!({"channel": "shopify", "shop_domain": SHOP,
                "access_token": "shpat_load_fake"}),
            )
            .send()
            .await
            .expect("connect the shop");
        assert!(
            connected.status().is_success(),
            "connect failed: {}",
            connected.text().await.unwrap_or_default()
        );
        spawned
    }

    /// (Re)starts the binary on the same data and port; returns once it answers.
    async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let uri = self._shopify.uri();
        let started = Instant::now();
        self.child = std::process::Command::new(&self.bin)
            .arg("serve")
            .env("CHANNEL_SYNC_ADDR", &self.addr)
            .env("CHANNEL_SYNC_DATA", self.data.path())
            .env("CHANNEL_SYNC_DEV_TOKEN", &self.token)
            .env("CHANNEL_SYNC_ALLOW_PRIVATE_STORES", "1")
            .env("SHOPIFY_CLIENT_SECRET", &self.secret)
            .env("SHOPIFY_CLIENT_ID", "load-fake-client")
            .env("SHOPIFY_API_BASE", uri)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start serve");
        let client = reqwest::Client::new();
        for _ in 0..600 {
            let up = client
                .get(format!("http://{}/healthz", self.addr))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if up {
                eprintln!("serve answers after {:?}", started.elapsed());
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("serve did not start");
    }

    fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

const SHOP: &str = "load-shop.myshopify.com";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let total: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000)
        .min(100_000);
    let concurrency: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(32)
        .clamp(1, 256);
    let lines: usize = std::env::var("LOAD_LINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2)
        .clamp(1, 100);
    let kill = std::env::var("LOAD_KILL").is_ok_and(|v| v == "1");
    let spawned = match std::env::var("LOAD_SERVE") {
        Ok(bin) => Some(Arc::new(tokio::sync::Mutex::new(
            Spawned::start(&bin).await,
        ))),
        Err(_) => None,
    };
    let (base, token, shopify_secret) = match &spawned {
        Some(s) => {
            let s = s.lock().await;
            (
                format!("http://{}", s.addr),
                s.token.clone(),
                Some(s.secret.clone()),
            )
        }
        None => (
            std::env::var("LOAD_BASE").unwrap_or_else(|_| "http://127.0.0.1:3000".into()),
            std::env::var("CHANNEL_SYNC_DEV_TOKEN").expect("CHANNEL_SYNC_DEV_TOKEN"),
            None,
        ),
    };
    assert!(
        base.starts_with("http://127.0.0.1") || base.starts_with("http://localhost"),
        "load runs target loopback only"
    );
    assert!(!kill || spawned.is_some(), "LOAD_KILL needs LOAD_SERVE");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let client = reqwest::Client::new();
    // Kept alive for the whole run (the fake store answers nothing after connect, but the
    // connection's URL must stay valid).
    let mut _store = None;
    let target = if std::env::var("LOAD_CHANNEL").as_deref() == Ok("woocommerce") {
        let (server, target) = woocommerce_target(&client, &base, &token).await;
        _store = Some(server);
        target
    } else {
        Target::Shopify {
            secret: shopify_secret.unwrap_or_else(|| {
                std::env::var("SHOPIFY_CLIENT_SECRET").expect("SHOPIFY_CLIENT_SECRET")
            }),
            shop: std::env::var("LOAD_SHOP").unwrap_or_else(|_| SHOP.into()),
            template: shopify_template(lines),
        }
    };
    let target = Arc::new(target);
    // The outbox before the run: only what comes after it is counted.
    let mut cursor = "0".to_owned();
    let (mut seen, mut per_order) = (0u64, std::collections::HashMap::new());
    read_outbox(
        &client,
        &base,
        &token,
        &mut cursor,
        &mut seen,
        &mut per_order,
    )
    .await;

    let first_id = 9_000_000_000_000u64 + (u64::from_str_radix(&run[..8], 16).unwrap() << 20);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let restarting = Arc::new(tokio::sync::RwLock::new(()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, target, run, next, restarting) = (
            client.clone(),
            base.clone(),
            target.clone(),
            run.clone(),
            next.clone(),
            restarting.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let mut resent = 0u64;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    break;
                }
                // Re-sent until answered 200 (as the channels do), for at most 90 s (a
                // delivery in flight at a kill is "in progress" until its 30 s lease ends).
                let mut accepted = false;
                let give_up = Instant::now() + Duration::from_secs(90);
                for attempt in 0.. {
                    if Instant::now() > give_up {
                        break;
                    }
                    let request = target.request(&client, &base, &run, n, first_id + n);
                    let t = Instant::now();
                    let response = {
                        let _up = restarting.read().await;
                        request.timeout(Duration::from_secs(10)).send().await
                    };
                    match response {
                        Ok(r) if r.status() == 200 => {
                            latencies.push(t.elapsed());
                            accepted = true;
                            break;
                        }
                        _ => {
                            resent += u64::from(attempt == 0);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                failures += u64::from(!accepted);
            }
            (latencies, failures, resent)
        }));
    }
    let mut killed_at = None;
    if let (true, Some(spawned)) = (kill, &spawned) {
        while next.load(std::sync::atomic::Ordering::Relaxed) < total / 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut s = spawned.lock().await;
        s.kill9();
        killed_at = Some(next.load(std::sync::atomic::Ordering::Relaxed));
        let _paused = restarting.write().await;
        s.restart().await;
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut resent = 0;
    for w in workers {
        let (l, f, r) = w.await.unwrap();
        latencies.extend(l);
        failures += f;
        resent += r;
    }
    let intake = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let accepted = total - failures;
    println!(
        "intake: {total} webhooks of {lines} lines, {concurrency} clients, {:.2}s, {:.0} accepted/s, {failures} failed, {resent} re-sent, p50 {:?} p99 {:?} max {:?}",
        intake.as_secs_f64(),
        accepted as f64 / intake.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    if let Some(at) = killed_at {
        println!("serve was killed (SIGKILL) after {at} deliveries had started, and restarted");
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let (mut imported, mut copies) = (0, 0);
    while Instant::now() < deadline {
        read_outbox(
            &client,
            &base,
            &token,
            &mut cursor,
            &mut seen,
            &mut per_order,
        )
        .await;
        let ours: Vec<u64> = per_order
            .iter()
            .filter(|(id, _)| (first_id..first_id + total).contains(*id))
            .map(|(_, n)| *n)
            .collect();
        imported = ours.len() as u64;
        copies = ours.iter().sum::<u64>();
        if imported >= accepted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let end_to_end = started.elapsed();
    let lost = accepted.saturating_sub(imported);
    let duplicated = copies.saturating_sub(imported);
    println!(
        "end to end: {imported} of {accepted} accepted orders in the outbox after {:.2}s ({:.0} orders/s); lost: {lost}; duplicated: {duplicated}",
        end_to_end.as_secs_f64(),
        imported as f64 / end_to_end.as_secs_f64(),
    );
    println!(
        "{}",
        serde_json::json!({
            "orders": total, "lines": lines, "clients": concurrency, "killed": killed_at.is_some(),
            "accepted_per_s": (accepted as f64 / intake.as_secs_f64()).round(),
            "p50_ms": pct(0.50).as_secs_f64() * 1000.0, "p99_ms": pct(0.99).as_secs_f64() * 1000.0,
            "end_to_end_per_s": (imported as f64 / end_to_end.as_secs_f64()).round(),
            "failed": failures, "lost": lost, "duplicated": duplicated,
        })
    );
    if lost > 0 || duplicated > 0 || failures > 0 {
        std::process::exit(1);
    }
}

/// The sample Shopify order with `lines` line items (distinct SKUs `LOAD-000`, …).
fn shopify_template(lines: usize) -> String {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/shopify-order-5kb.json"
    ))
    .expect("sample order");
    let mut order: serde_json::Value = serde_json::from_str(&raw).expect("sample order JSON");
    let line = order["line_items"][0].clone();
    let items: Vec<serde_json::Value> = (0..lines)
        .map(|i| {
            let mut l = line.clone();
            l["id"] = serde_json::json!(466_157_049u64 + i as u64);
            l["sku"] = serde_json::json!(format!("LOAD-{i:03}"));
            l["admin_graphql_api_id"] = serde_json::json!(format!(
                "gid://shopify/LineItem/{}",
                466_157_049u64 + i as u64
            ));
            l
        })
        .collect();
    order["line_items"] = serde_json::Value::Array(items);
    // The id first, so that each delivery replaces it with its own.
    let id = order["id"].clone();
    let body = serde_json::to_string(&order).expect("order JSON");
    assert!(body.contains(&format!("\"id\":{id}")));
    body
}

/// Reads the outbox after `cursor` (moved on), counting every message in `seen` and, per
/// channel order id, the `order.imported` messages in `per_order`.
async fn read_outbox(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    cursor: &mut String,
    seen: &mut u64,
    per_order: &mut std::collections::HashMap<u64, u64>,
) {
    loop {
        // Only the fields counted are read (the rest is skipped, not built): the tool shares
        // the cores with what it measures.
        let page: OutboxPage = client
            .get(format!("{base}/wms/outbox?after={cursor}&limit=1000"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page.messages.is_empty() {
            return;
        }
        *seen += page.messages.len() as u64;
        for message in &page.messages {
            if message.kind == "order.imported" {
                if let Some(id) = message
                    .channel_order_id
                    .as_deref()
                    .and_then(|i| i.parse().ok())
                {
                    *per_order.entry(id).or_default() += 1;
                }
            }
        }
        *cursor = page.next;
    }
}

/// What the tool reads of a `GET /wms/outbox` page.
#[derive(serde::Deserialize)]
struct OutboxPage {
    messages: Vec<OutboxMessage>,
    next: String,
}

#[derive(serde::Deserialize)]
struct OutboxMessage {
    #[serde(rename = "type")]
    kind: String,
    channel_order_id: Option<String>,
}

/// Where the deliveries go.
enum Target {
    Shopify {
        secret: String,
        shop: String,
        template: String,
    },
    Woocommerce {
        secret: String,
        connection: String,
        template: String,
    },
}

impl Target {
    fn request(
        &self,
        client: &reqwest::Client,
        base: &str,
        run: &str,
        n: u64,
        order_id: u64,
    ) -> reqwest::RequestBuilder {
        match self {
            Target::Shopify {
                secret,
                shop,
                template,
            } => {
                let body =
                    template.replacen("\"id\":5630201856307", &format!("\"id\":{order_id}"), 1);
                client
                    .post(format!("{base}/webhooks/shopify"))
                    .header(
                        "X-Shopify-Hmac-Sha256",
                        shared::channels::shopify::sign(secret, body.as_bytes()),
                    )
                    .header("X-Shopify-Shop-Domain", shop)
                    .header("X-Shopify-Topic", "orders/create")
                    .header("X-Shopify-Webhook-Id", format!("{run}-{n}"))
                    .body(body)
            }
            Target::Woocommerce {
                secret,
                connection,
                template,
            } => {
                let body = template.replacen("\"id\":727", &format!("\"id\":{order_id}"), 1);
                client
                    .post(format!("{base}/webhooks/woocommerce/{connection}"))
                    .header(
                        "X-WC-Webhook-Signature",
                        shared::channels::woocommerce::sign(secret, body.as_bytes()),
                    )
                    .header("X-WC-Webhook-Topic", "order.created")
                    .header("X-WC-Webhook-Delivery-ID", format!("{run}-{n}"))
                    .header("X-WC-Webhook-Source", "https://shop.example/")
                    .header("Content-Type", "application/json")
                    .body(body)
            }
        }
    }
}

/// A fake WooCommerce store, connected through the API; returns it and the delivery target.
async fn woocommerce_target(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> (wiremock::MockServer, Target) {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let store = MockServer::start().await;
    let ok = |v: serde_json::Value| {
        ResponseTemplate::new(200)
            .set_body_json(v)
            .insert_header("X-WP-TotalPages", "1")
    };
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(ok(json!({"name": "Load Woo", "namespaces": ["wc/v3"]})))
        .mount(&store)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok(json!([])))
        .mount(&store)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/webhooks/batch"))
        .respond_with(ok(json!({})))
        .mount(&store)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/webhooks"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .mount(&store)
        .await;
    let connected: serde_json::Value = client
        .post(format!("{base}/api/connections"))
        .bearer_auth(token)
        .json(&json!({"channel": "woocommerce", "store_url": store.uri(),
            "consumer_key": "ck_load_fake", "consumer_secret": "cs_load_fake"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connection = connected["id"]
        .as_str()
        .unwrap_or_else(|| {
            panic!("connect failed (is CHANNEL_SYNC_ALLOW_PRIVATE_STORES=1 set?): {connected}")
        })
        .to_owned();
    let created = store.received_requests().await.unwrap();
    let secret = created
        .iter()
        .filter(|r| r.url.path() == "/wp-json/wc/v3/webhooks" && r.method.as_str() == "POST")
        .find_map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|b| b["secret"].as_str().map(str::to_owned))
        })
        .expect("the webhook secret");
    let line_count: u64 = std::env::var("LOAD_LINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12)
        .clamp(1, 100);
    let lines: Vec<serde_json::Value> = (0..line_count)
        .map(|i| {
            json!({"id": 300 + i, "product_id": 93, "variation_id": 94 + i, "quantity": 2,
                "sku": format!("TS-{i:03}-M"), "name": format!("T-shirt {i} - Medium"),
                "meta_data": [{"id": i, "key": "pa_size", "value": "m"}], "subtotal": "20.00", "total": "20.00"})
        })
        .collect();
    let template = serde_json::to_string(&json!({
        "id": 727, "number": "727", "status": "processing", "currency": "EUR",
        "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": "2026-11-27T08:00:08",
        "date_paid_gmt": "2026-11-27T08:00:05",
        "billing": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        "shipping": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Loop Rd",
            "city": "Dublin", "postcode": "D01", "country": "IE"},
        "line_items": lines
    }))
    .unwrap();
    (
        store,
        Target::Woocommerce {
            secret,
            connection,
            template,
        },
    )
}
