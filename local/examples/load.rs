//! A bounded load run against a running `channel-sync serve`: posts N signed Shopify
//! `orders/create` deliveries (distinct orders) with C concurrent clients, then waits until the
//! outbox holds every order, and reports throughput, latency percentiles and losses.
//!
//! ```sh
//! CHANNEL_SYNC_DEV_TOKEN=… SHOPIFY_CLIENT_SECRET=… LOAD_SHOP=demo-shop.myshopify.com \
//!   cargo run --release -p local --example load -- 2000 32
//! ```
//! The shop must already be connected. Only loopback targets are allowed.

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
    let secret = std::env::var("SHOPIFY_CLIENT_SECRET").expect("SHOPIFY_CLIENT_SECRET");
    let shop = std::env::var("LOAD_SHOP").unwrap_or_else(|_| "demo-shop.myshopify.com".into());
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/shopify-order-5kb.json"
    ))
    .expect("sample order");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let client = reqwest::Client::new();
    let before = outbox_len(&client, &base, &token).await;

    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, secret, shop, template, run, next) = (
            client.clone(),
            base.clone(),
            secret.clone(),
            shop.clone(),
            template.clone(),
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
                let body =
                    template.replacen("\"id\":5630201856307", &format!("\"id\":{order_id}"), 1);
                let signature = shared::channels::shopify::sign(&secret, body.as_bytes());
                let t = Instant::now();
                let response = client
                    .post(format!("{base}/webhooks/shopify"))
                    .header("X-Shopify-Hmac-Sha256", signature)
                    .header("X-Shopify-Shop-Domain", &shop)
                    .header("X-Shopify-Topic", "orders/create")
                    .header("X-Shopify-Webhook-Id", format!("{run}-{n}"))
                    .body(body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
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
