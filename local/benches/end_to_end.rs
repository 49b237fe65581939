//! Issue 17: the end-to-end cost of one Shopify order in process, for 1, 12 and 50 lines —
//! the signed delivery through `serve`'s Router (verify, route, claim, enqueue), then the
//! import consumer (interpret, lock, reserve, unshipped/held records, outbox) — on the embedded
//! store, with `serve`'s own wiring (`local::build`). The fake Shopify (wiremock) answers the
//! connect check and the locations query (one active location, so every order is the shop's).
//!
//! Orders go in groups of 64 deliveries at once and one consumer batch, as under load; the
//! figure is the time per order. `make bench` runs it; numbers go in docs/performance.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const SHOP: &str = "bench-shop.myshopify.com";
const SECRET: &str = "shpss_bench_fake_secret";
const TOKEN: &str = "cs_bench_fake_token";
const GROUP: u64 = 64;

fn order(lines: usize, id: u64) -> Vec<u8> {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/shopify-order-5kb.json"
    ))
    .unwrap();
    let mut order: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let line = order["line_items"][0].clone();
    order["line_items"] = (0..lines)
        .map(|i| {
            let mut l = line.clone();
            l["id"] = serde_json::json!(1000 + i);
            l["sku"] = serde_json::json!(format!("BENCH-{i:03}"));
            l
        })
        .collect();
    order["id"] = serde_json::json!(id);
    serde_json::to_vec(&order).unwrap()
}

struct Bench {
    router: axum::Router,
    system: local::System,
    _shopify: wiremock::MockServer,
    _dir: tempfile::TempDir,
}

async fn setup() -> Bench {
    let shopify =
        local::fakes::shopify::accepting_store(SHOP, "shpat_bench_fake", "Bench Shop").await;
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("CHANNEL_SYNC_DATA", dir.path());
    std::env::set_var("CHANNEL_SYNC_DEV_TOKEN", TOKEN);
    std::env::set_var("SHOPIFY_CLIENT_SECRET", SECRET);
    std::env::set_var("SHOPIFY_CLIENT_ID", "bench-fake-client");
    std::env::set_var("SHOPIFY_API_BASE", shopify.uri());
    let config = local::Config::from_env().unwrap();
    let system = local::build(&config).await.unwrap();
    let router = system.router.clone();
    let connect = http::Request::post("/api/connections")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::json!({"channel": "shopify", "shop_domain": SHOP,
                "access_token": "shpat_bench_fake"})
            .to_string(),
        ))
        .unwrap();
    let answer = router.clone().oneshot(connect).await.unwrap();
    assert!(answer.status().is_success(), "connect: {}", answer.status());
    Bench {
        router,
        system,
        _shopify: shopify,
        _dir: dir,
    }
}

/// Delivers `n` new orders of `lines` lines, 64 at a time, each group imported by one
/// consumer batch; returns the time taken.
async fn run(b: &Bench, lines: usize, n: u64, next_id: &mut u64) -> Duration {
    let bodies: Vec<(u64, Vec<u8>)> = (0..n)
        .map(|k| (*next_id + k, order(lines, *next_id + k)))
        .collect();
    *next_id += n;
    let started = Instant::now();
    for group in bodies.chunks(GROUP as usize) {
        let mut posts = tokio::task::JoinSet::new();
        for (id, body) in group {
            let request = http::Request::post("/webhooks/shopify")
                .header(
                    "x-shopify-hmac-sha256",
                    shared::channels::shopify::sign(SECRET, body),
                )
                .header("x-shopify-shop-domain", SHOP)
                .header("x-shopify-topic", "orders/create")
                .header("x-shopify-webhook-id", format!("bench-{id}"))
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            let router = b.router.clone();
            posts.spawn(async move { router.oneshot(request).await.unwrap().status() });
        }
        while let Some(status) = posts.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
        let mut left = group.len();
        while left > 0 {
            let got = shared::consumers::drain_batch(
                &b.system.channel_events,
                b.system.import.clone(),
                shared::consumers::order_import::handle,
                Duration::from_secs(30),
                GROUP as u32,
            )
            .await
            .unwrap();
            assert!(got > 0, "every accepted order is on the queue");
            left = left.saturating_sub(got);
        }
    }
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let b = rt.block_on(setup());
    let mut next_id = 7_000_000_000_000u64;
    let mut group = c.benchmark_group("end_to_end_order");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    for lines in [1usize, 12, 50] {
        group.bench_function(format!("{lines}_lines"), |bencher| {
            bencher.iter_custom(|iters| rt.block_on(run(&b, lines, iters, &mut next_id)))
        });
    }
    group.finish();
    // Nothing lost: every delivered order is in the outbox once.
    let outbox = rt
        .block_on(b.system.store.queue("wms-orders", None, 5).depth())
        .unwrap();
    assert_eq!(outbox, next_id - 7_000_000_000_000u64);
}

criterion_group!(benches, bench);
criterion_main!(benches);
