//! Shopify webhook intake, in process, on a realistic ~5 KB `orders/create`:
//! - `verify_parse`: HMAC over the raw bytes + routing headers + JSON check + normalization
//!   into an Order (the CPU part of intake and import);
//! - `dedup_duplicate`: the durable dedup decision for a delivery already seen (one SQLite
//!   read in a transaction);
//! - `intake_embedded`: the whole intake of a new delivery on the embedded store: verify,
//!   route (connection lookup), claim, enqueue, complete.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::HeaderMap;
use shared::channels::context::{AppCredentials, ChannelApps, ChannelContext};
use shared::channels::registry::Registry;
use shared::channels::shopify::{self, sign, ShopifyVerifier};
use shared::channels::store_url::UrlPolicy;
use shared::domain::{Channel, Connection};
use shared::embedded::EmbeddedStore;
use shared::ports::{Connections, Idempotency, Secret};
use shared::webhooks::{accept, authenticate, IntakeDeps};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "shpss_fake_bench_secret";
const SHOP: &str = "demo-shop.myshopify.com";

fn body() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/shopify-order-5kb.json"
    ))
    .unwrap()
}

fn headers(body: &[u8], delivery: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-shopify-hmac-sha256", sign(SECRET, body).parse().unwrap());
    h.insert("x-shopify-shop-domain", SHOP.parse().unwrap());
    h.insert("x-shopify-topic", "orders/create".parse().unwrap());
    h.insert("x-shopify-webhook-id", delivery.parse().unwrap());
    h
}

fn bench(c: &mut Criterion) {
    let body = body();
    let verifier = ShopifyVerifier::new(&[Secret::new(SECRET)]);
    let mut group = c.benchmark_group("shopify_intake");
    group.throughput(Throughput::Elements(1));

    let h = headers(&body, "d-1");
    group.bench_function("verify_parse", |b| {
        b.iter(|| {
            let delivery = verifier
                .verify_delivery(black_box(&h), black_box(&body))
                .unwrap();
            let _raw: Box<serde_json::value::RawValue> = serde_json::from_slice(&body).unwrap();
            black_box((
                delivery,
                shopify::interpret("orders/create", &body).unwrap(),
            ))
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    rt.block_on(store.create(&Connection::fixture("c_bench", Channel::Shopify, SHOP)))
        .unwrap();
    let shared::ports::Claim::Acquired(fence) = rt
        .block_on(store.claim("delivery#seen", Duration::from_secs(30)))
        .unwrap()
    else {
        panic!("a new delivery is claimed")
    };
    assert!(rt
        .block_on(store.finish("delivery#seen", &fence, &serde_json::json!({}), None))
        .unwrap());
    group.bench_function("dedup_duplicate", |b| {
        b.iter(|| {
            rt.block_on(store.claim(black_box("delivery#seen"), Duration::from_secs(30)))
                .unwrap()
        })
    });

    let vault = Arc::new(shared::embedded::EmbeddedVault::open(dir.path()).unwrap());
    let apps = ChannelApps::default().with(
        Channel::Shopify,
        AppCredentials {
            secrets: vec![Secret::new(SECRET)],
            ..AppCredentials::default()
        },
    );
    let ports = shared::embedded::ports_of(&store, vault);
    let context = ChannelContext::new(&ports, UrlPolicy::default(), "", apps);
    let deps = IntakeDeps::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(store.queue("channel-events", None, 5)),
        Arc::new(Registry::new(context).unwrap()),
    );
    let mut n = 0u64;
    group.bench_function("intake_embedded", |b| {
        b.iter(|| {
            n += 1;
            let h = headers(&body, &format!("d-{n}"));
            rt.block_on(async {
                let v = authenticate(&deps, &verifier, &h, &body).await.unwrap();
                let connection = v.connection.as_ref().unwrap();
                accept(&deps, connection, &v.delivery, v.payload)
                    .await
                    .unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
