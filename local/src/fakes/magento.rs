//! A simulated Magento 2 store (REST `V1`, store code `all`, MSI sources `default` and
//! `dublin`): no webhooks in Open Source, so its orders are found by the poll. Requests must
//! carry an `Authorization` header (channel-sync signs each with OAuth 1.0a).

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{header_exists, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The REST base for store code `all`.
pub const BASE: &str = "/rest/all/V1";

/// A processing order `entity_id` of `qty` × `sku` as a configurable parent with its simple
/// child (Magento's shape for a configurable product), shipping to Dublin.
pub fn order(entity_id: u64, sku: &str, qty: u32) -> Value {
    json!({
        "entity_id": entity_id, "increment_id": format!("{entity_id:09}"), "state": "processing",
        "status": "processing", "created_at": "2026-11-27 08:00:00", "updated_at": "2026-11-27 08:05:00",
        "order_currency_code": "EUR", "customer_email": "buyer@example.com",
        "items": [
            {"item_id": entity_id * 100, "sku": sku, "qty_ordered": f64::from(qty), "product_type": "configurable", "name": "Tee"},
            {"item_id": entity_id * 100 + 1, "parent_item_id": entity_id * 100, "sku": sku, "qty_ordered": f64::from(qty), "product_type": "simple", "name": "Tee M"}
        ],
        "extension_attributes": {"shipping_assignments": [{"shipping": {"address": {
            "firstname": "Ada", "lastname": "Lovelace", "street": ["1 Loop Rd"], "city": "Dublin",
            "postcode": "D01", "country_id": "IE"}}}]}
    })
}

/// A simple, stock-managed product.
pub fn product(id: u64, sku: &str) -> Value {
    json!({"id": id, "sku": sku, "name": sku, "type_id": "simple", "status": 1,
        "extension_attributes": {"stock_item": {"manage_stock": true}}})
}

/// The store's orders, in the order they were placed: every poll lists them all.
#[derive(Clone, Default)]
pub struct Orders(Arc<Mutex<Vec<Value>>>);

impl Orders {
    pub fn add(&self, order: Value) {
        if let Ok(mut orders) = self.0.lock() {
            orders.push(order);
        }
    }

    fn all(&self) -> Vec<Value> {
        self.0.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

/// Mounts the store on `magento`: `orders` (listed and read one by one), `products`, two MSI
/// sources, source items accepted, no shipments yet, and `/order/{id}/ship` answering the new
/// shipment's id (`1000 + id`).
pub async fn mount(magento: &MockServer, products: Vec<Value>, orders: Orders) {
    let listed = orders.clone();
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/orders")))
        .and(header_exists("authorization"))
        .respond_with(move |_: &Request| {
            let items = listed.all();
            ok(json!({"total_count": items.len(), "items": items}))
        })
        .mount(magento)
        .await;
    let count = products.len();
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/products")))
        .respond_with(ok(json!({"items": products, "total_count": count})))
        .mount(magento)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE}/inventory/source-items")))
        .respond_with(ok(json!([])))
        .mount(magento)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/inventory/sources")))
        .respond_with(ok(json!({"items": [
            {"source_code": "default", "name": "Default Source", "enabled": true},
            {"source_code": "dublin", "name": "Dublin", "enabled": true}], "total_count": 2})))
        .mount(magento)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/shipments")))
        .respond_with(ok(json!({"items": [], "total_count": 0})))
        .mount(magento)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/all/V1/orders/\d+$"))
        .respond_with(move |r: &Request| {
            let id = entity_id(r);
            match orders.all().into_iter().find(|o| o["entity_id"] == id) {
                Some(order) => ok(order),
                None => ResponseTemplate::new(404).set_body_json(
                    json!({"message": "The entity that was requested doesn't exist. Verify the entity and try again."}),
                ),
            }
        })
        .mount(magento)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/rest/all/V1/order/\d+/ship$"))
        .respond_with(|r: &Request| ok(json!(1000 + entity_id(r))))
        .mount(magento)
        .await;
}

/// The order id in `/rest/all/V1/order(s)/{id}[/…]`.
fn entity_id(request: &Request) -> u64 {
    request
        .url
        .path()
        .split('/')
        .filter_map(|s| s.parse::<u64>().ok())
        .next_back()
        .unwrap_or_default()
}
