//! The API-key channels' per-request costs: a WooCommerce webhook (verify the signature over
//! the raw bytes, then map the ~5 KB order), a Magento order mapping, and one OAuth 1.0a
//! HMAC-SHA256 header for an orders search (what every Magento request pays).

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use shared::channels::magento::oauth1::{authorization_header, OAuthKeys};
use shared::channels::{magento, woocommerce};
use std::hint::black_box;

fn woo_order() -> Vec<u8> {
    let lines: Vec<Value> = (0..12)
        .map(|i| {
            json!({"id": 300 + i, "product_id": 93, "variation_id": 94 + i, "quantity": 2,
                "sku": format!("TS-{i:03}-M"), "name": format!("T-shirt {i} - Medium"),
                "meta_data": [{"id": i, "key": "pa_size", "value": "m"}], "subtotal": "20.00", "total": "20.00"})
        })
        .collect();
    serde_json::to_vec(&json!({
        "id": 727, "number": "727", "status": "processing", "currency": "EUR",
        "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": "2026-11-27T08:00:08",
        "date_paid_gmt": "2026-11-27T08:00:05", "customer_note": "Leave at the door, please.",
        "billing": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
            "address_1": "1 Loop Rd", "city": "Dublin", "postcode": "D01", "country": "IE", "phone": "+353 1 000"},
        "shipping": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Loop Rd",
            "address_2": "Flat 2", "city": "Dublin", "state": "D", "postcode": "D01", "country": "IE"},
        "line_items": lines,
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate"}]
    }))
    .unwrap()
}

fn magento_order() -> Value {
    let mut items = Vec::new();
    for i in 0..6 {
        items.push(
            json!({"item_id": 100 + 2 * i, "sku": format!("TS-{i:03}-M"), "qty_ordered": 2.0,
            "product_type": "configurable", "name": "Tee"}),
        );
        items.push(json!({"item_id": 101 + 2 * i, "parent_item_id": 100 + 2 * i,
            "sku": format!("TS-{i:03}-M"), "qty_ordered": 2.0, "product_type": "simple", "name": "Tee M"}));
    }
    json!({"entity_id": 12, "increment_id": "000000012", "state": "processing", "status": "processing",
        "created_at": "2026-11-27 08:00:00", "updated_at": "2026-11-27 08:05:00",
        "order_currency_code": "EUR", "customer_email": "ada@example.com", "items": items,
        "extension_attributes": {"shipping_assignments": [{"shipping": {"address": {
            "firstname": "Ada", "lastname": "Lovelace", "street": ["1 Loop Rd"], "city": "Dublin",
            "postcode": "D01", "country_id": "IE"}}}]}})
}

fn benches(c: &mut Criterion) {
    let secret = "benchSecretAbcdefghijklmnopqrstuvwxyz0123";
    let body = woo_order();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-wc-webhook-signature",
        HeaderValue::from_str(&woocommerce::sign(secret, &body)).unwrap(),
    );
    headers.insert(
        "x-wc-webhook-topic",
        HeaderValue::from_static("order.created"),
    );
    headers.insert("x-wc-webhook-delivery-id", HeaderValue::from_static("d1"));
    c.bench_function("woocommerce webhook: verify + map order", |b| {
        b.iter(|| {
            let delivery = woocommerce::verify(&headers, black_box(&body), &[secret]).unwrap();
            let order = woocommerce::interpret(delivery.topic.as_str(), &body).unwrap();
            black_box(order)
        })
    });
    let order = magento_order();
    c.bench_function("magento: map order (6 configurable pairs)", |b| {
        b.iter(|| black_box(magento::map_order(black_box(&order)).unwrap()))
    });
    let keys = OAuthKeys {
        consumer_key: "ck0123456789abcdef0123456789abcd",
        consumer_secret: "cs0123456789abcdef0123456789abcd",
        token: "at0123456789abcdef0123456789abcd",
        token_secret: "ts0123456789abcdef0123456789abcd",
    };
    let url = "https://shop.example.com/rest/all/V1/orders?searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2026-11-27%2008%3A00%3A00&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bcondition_type%5D=gteq&searchCriteria%5BpageSize%5D=100&searchCriteria%5BcurrentPage%5D=1";
    c.bench_function(
        "magento: OAuth 1.0a HMAC-SHA256 header (orders search)",
        |b| {
            b.iter(|| {
                black_box(authorization_header(
                    "GET",
                    black_box(url),
                    &keys,
                    "abcdefghijklmnopqrstuvwxyz012345",
                    1_795_000_000,
                ))
            })
        },
    );
}

criterion_group!(channel_benches, benches);
criterion_main!(channel_benches);
