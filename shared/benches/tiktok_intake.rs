//! TikTok Shop webhook intake, in process, on a signed `ORDER_STATUS_CHANGE` (the envelope is
//! small: TikTok names the order, the consumer reads it):
//! - `verify_route`: HMAC over app key + raw bytes, envelope read (shop, topic, notification id)
//!   and the JSON check;
//! - `map_order_detail`: what the consumer does with the order detail it reads (a 3-line order
//!   into the domain `Order`, masked-address check included);
//! - `intake_embedded`: the whole intake of a new delivery on the embedded store: verify,
//!   route (connection lookup by shop id), claim, enqueue, complete.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::channels::context::{AppCredentials, ChannelApps, ChannelContext};
use shared::channels::registry::Registry;
use shared::channels::store_url::UrlPolicy;
use shared::channels::tiktok::{order::map_order, signed_headers, TikTokVerifier};
use shared::domain::{Channel, Connection};
use shared::embedded::EmbeddedStore;
use shared::ports::{Connections, Secret};
use shared::webhooks::{accept, authenticate, IntakeDeps};
use std::hint::black_box;
use std::sync::Arc;

const APP_KEY: &str = "fake_bench_app_key";
const SECRET: &str = "fake_bench_app_secret";
const SHOP: &str = "7495540735365777507";

fn body(n: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": 1, "tts_notification_id": format!("73800662840100{n}"), "shop_id": SHOP,
        "timestamp": 1764234000,
        "data": {"is_on_hold_order": false, "order_id": "576653688135258178",
            "order_status": "AWAITING_SHIPMENT", "update_time": 1764234000}
    }))
    .unwrap()
}

fn detail() -> serde_json::Value {
    serde_json::json!({
        "id": "576653688135258178", "status": "AWAITING_SHIPMENT", "create_time": 1764230400,
        "update_time": 1764234000, "shipping_type": "SELLER",
        "fulfillment_type": "FULFILLMENT_BY_SELLER", "delivery_option_id": "7091146663229654785",
        "recipient_address": {"name": "Jane Doe", "phone_number": "(+1)213-555-1234",
            "address_line1": "1 Main St", "postal_code": "90001", "region_code": "US",
            "district_info": [{"address_level": "L1", "address_name": "California"},
                {"address_level": "L3", "address_name": "Los Angeles"}]},
        "line_items": [
            {"id": "li1", "sku_id": "sku-a", "seller_sku": "TS-001", "sku_name": "Tee"},
            {"id": "li2", "sku_id": "sku-a", "seller_sku": "TS-001", "sku_name": "Tee"},
            {"id": "li3", "sku_id": "sku-b", "seller_sku": "MUG-1", "sku_name": "Mug"}]
    })
}

fn bench(c: &mut Criterion) {
    let verifier = TikTokVerifier::new(APP_KEY, vec![Secret::new(SECRET)]);
    let mut group = c.benchmark_group("tiktok_intake");
    group.throughput(Throughput::Elements(1));

    let b1 = body(1);
    let h = signed_headers(APP_KEY, SECRET, &b1);
    group.bench_function("verify_route", |b| {
        b.iter(|| {
            let delivery = verifier.check(black_box(&h), black_box(&b1)).unwrap();
            let _raw: Box<serde_json::value::RawValue> = serde_json::from_slice(&b1).unwrap();
            black_box(delivery)
        })
    });
    let order = detail();
    group.bench_function("map_order_detail", |b| {
        b.iter(|| black_box(map_order(black_box(&order)).unwrap()))
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    rt.block_on(store.create(&Connection::fixture("c_bench", Channel::Tiktok, SHOP)))
        .unwrap();
    let vault = Arc::new(shared::embedded::EmbeddedVault::open(dir.path()).unwrap());
    let apps = ChannelApps::default().with(
        Channel::Tiktok,
        AppCredentials {
            client_id: APP_KEY.into(),
            secrets: vec![Secret::new(SECRET)],
            api_base: None,
        },
    );
    let ports = shared::embedded::ports_of(&store, vault);
    let context = ChannelContext::new(&ports, UrlPolicy::default(), "", apps);
    let registry = Arc::new(Registry::new(context).unwrap());
    let registered = registry
        .adapter(Channel::Tiktok)
        .unwrap()
        .verifier()
        .unwrap();
    let deps = IntakeDeps::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(store.queue("channel-events", None, 5)),
        registry.clone(),
    );
    let mut n = 1u64;
    group.bench_function("intake_embedded", |b| {
        b.iter(|| {
            n += 1;
            let body = body(n);
            let h = signed_headers(APP_KEY, SECRET, &body);
            rt.block_on(async {
                let v = authenticate(&deps, registered.as_ref(), &h, &body)
                    .await
                    .unwrap();
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
