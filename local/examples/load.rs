//! A bounded load run against a running `channel-sync serve`: posts N signed Shopify
//! `orders/create` deliveries (distinct orders) with C concurrent clients, then waits until the
//! outbox holds every order, and reports throughput, latency percentiles and losses.
//!
//! ```sh
//! CHANNEL_SYNC_DEV_TOKEN=… SHOPIFY_CLIENT_SECRET=… LOAD_SHOP=demo-shop.myshopify.com \
//!   cargo run --release -p local --example load -- 2000 32
//! ```
//! The shop must already be connected. Only loopback targets are allowed.
//!
//! `LOAD_CHANNEL=woocommerce` measures the WooCommerce route instead: the example starts a
//! fake WooCommerce store (wiremock), connects it through the API (start `serve` with
//! `CHANNEL_SYNC_ALLOW_PRIVATE_STORES=1`), and posts signed `order.created` deliveries to
//! `/webhooks/woocommerce/{connection}` with the secret channel-sync generated.
//! ```sh
//! CHANNEL_SYNC_DEV_TOKEN=… LOAD_CHANNEL=woocommerce LOAD_LINES=12 cargo run --release -p local --example load -- 3000 32
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let base = std::env::var("LOAD_BASE").unwrap_or_else(|_| "http://127.0.0.1:3000".into());
    assert!(
        base.starts_with("http://127.0.0.1") || base.starts_with("http://localhost"),
        "load runs target loopback only"
    );
    let token = std::env::var("CHANNEL_SYNC_DEV_TOKEN").expect("CHANNEL_SYNC_DEV_TOKEN");
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
            secret: std::env::var("SHOPIFY_CLIENT_SECRET").expect("SHOPIFY_CLIENT_SECRET"),
            shop: std::env::var("LOAD_SHOP").unwrap_or_else(|_| "demo-shop.myshopify.com".into()),
            template: std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../events/shopify-order-5kb.json"
            ))
            .expect("sample order"),
        }
    };
    let target = Arc::new(target);
    let before = outbox_len(&client, &base, &token).await;

    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, target, run, next) = (
            client.clone(),
            base.clone(),
            target.clone(),
            run.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let order_id =
                    9_000_000_000_000u64 + (u64::from_str_radix(&run[..8], 16).unwrap() << 20) + n;
                let request = target.request(&client, &base, &run, n, order_id);
                let t = Instant::now();
                let response = request.timeout(Duration::from_secs(10)).send().await;
                match response {
                    Ok(r) if r.status() == 200 => latencies.push(t.elapsed()),
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    let intake = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    println!(
        "intake: {total} webhooks, {concurrency} clients, {:.2}s, {:.0}/s, {failures} failed, p50 {:?} p99 {:?} max {:?}",
        intake.as_secs_f64(),
        total as f64 / intake.as_secs_f64(),
        pct(0.50).copied().unwrap_or_default(),
        pct(0.99).copied().unwrap_or_default(),
        latencies.last().copied().unwrap_or_default(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut imported = 0;
    while Instant::now() < deadline {
        imported = outbox_len(&client, &base, &token).await - before;
        if imported >= total - failures {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let end_to_end = started.elapsed();
    println!(
        "end to end: {imported} of {} accepted orders in the outbox after {:.2}s ({:.0}/s); lost: {}",
        total - failures,
        end_to_end.as_secs_f64(),
        imported as f64 / end_to_end.as_secs_f64(),
        (total - failures).saturating_sub(imported)
    );
}

async fn outbox_len(client: &reqwest::Client, base: &str, token: &str) -> u64 {
    let mut count = 0;
    let mut after = "0".to_owned();
    loop {
        let page: serde_json::Value = client
            .get(format!("{base}/wms/outbox?after={after}&limit=1000"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let n = page["messages"].as_array().map_or(0, Vec::len);
        count += n as u64;
        if n == 0 {
            return count;
        }
        after = page["next"].as_str().unwrap().to_owned();
    }
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
