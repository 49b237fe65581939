//! A simulated WooCommerce store: the WordPress REST index, `wc/v3` orders, webhooks, products
//! and the products batch, and tracking as an order note (no Shipment Tracking extension) then
//! `completed`. Its orders are kept in an [`Orders`] book; webhooks are signed with the secret
//! channel-sync chose when it created them ([`webhook_secret`]).

use super::{json_of, requests_to};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The REST namespace.
pub const WC: &str = "/wp-json/wc/v3";

/// An order as `wc/v3` returns it (and a webhook carries it), one line of 2 × `sku`.
pub fn order(id: u64, status: &str, modified: &str, sku: &str) -> Value {
    json!({
        "id": id, "number": id.to_string(), "status": status, "currency": "EUR",
        "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": modified,
        "date_paid_gmt": if status == "processing" { json!("2026-11-27T08:00:05") } else { Value::Null },
        "billing": {"email": "buyer@example.com"},
        "shipping": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Loop Rd",
            "city": "Dublin", "postcode": "D01", "country": "IE"},
        "line_items": [{"id": id * 10, "product_id": 93, "variation_id": 94, "quantity": 2,
            "sku": sku, "name": "Tee - M"}]
    })
}

/// A simple product with managed stock.
pub fn product(id: u64, sku: &str, stock: i64) -> Value {
    json!({"id": id, "name": sku, "type": "simple", "sku": sku, "status": "publish",
        "manage_stock": true, "stock_quantity": stock})
}

/// The store's orders by id; an order not in the book reads as a processing 2 × TS-001.
#[derive(Clone, Default)]
pub struct Orders(Arc<Mutex<HashMap<u64, Value>>>);

impl Orders {
    pub fn add(&self, order: Value) {
        if let (Some(id), Ok(mut orders)) = (order["id"].as_u64(), self.0.lock()) {
            orders.insert(id, order);
        }
    }

    fn get(&self, id: u64) -> Value {
        self.0
            .lock()
            .ok()
            .and_then(|o| o.get(&id).cloned())
            .unwrap_or_else(|| order(id, "processing", "2026-11-27T08:10:00", "TS-001"))
    }
}

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

fn one_page(v: Value) -> ResponseTemplate {
    ok(v).insert_header("X-WP-TotalPages", "1")
}

/// The order id in `/wp-json/wc/v3/orders/{id}[/…]`.
fn order_id(request: &Request) -> u64 {
    request
        .url
        .path()
        .trim_start_matches(&format!("{WC}/orders/"))
        .split('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_default()
}

/// Mounts the whole store on `woo`: named "Demo Woo", `products`, `orders` readable one by one
/// (the list poll finds nothing: orders come by webhook), webhooks created with the body echoed
/// back, stock batches accepted, tracking as a note then `completed`.
pub async fn mount(woo: &MockServer, products: Vec<Value>, orders: Orders) {
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(ok(
            json!({"name": "Demo Woo", "namespaces": ["wp/v2", "wc/v3"]}),
        ))
        .mount(woo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{WC}/orders")))
        .respond_with(one_page(json!([])))
        .mount(woo)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WC}/webhooks/batch")))
        .respond_with(ok(json!({})))
        .mount(woo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{WC}/webhooks")))
        .respond_with(one_page(json!([])))
        .mount(woo)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WC}/webhooks")))
        .respond_with(|r: &Request| {
            let mut body = json_of(r);
            body["id"] = json!(11);
            ResponseTemplate::new(201).set_body_json(body)
        })
        .mount(woo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{WC}/products")))
        .respond_with(one_page(Value::Array(products)))
        .mount(woo)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WC}/products/batch")))
        .respond_with(|r: &Request| {
            let update: Vec<Value> = json_of(r)["update"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut u| {
                    u["manage_stock"] = json!(true);
                    u
                })
                .collect();
            ok(json!({ "update": update }))
        })
        .mount(woo)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/wp-json/wc/v3/orders/\d+$"))
        .respond_with(move |r: &Request| ok(orders.get(order_id(r))))
        .mount(woo)
        .await;
    // No Shipment Tracking extension: tracking goes into a customer note.
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/wp-json/wc-shipment-tracking/v3/orders/\d+/shipment-trackings$",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"code": "rest_no_route", "message": "No route was found", "data": {"status": 404}}),
        ))
        .mount(woo)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/wp-json/wc/v3/orders/\d+/notes$"))
        .respond_with(ok(json!([])))
        .mount(woo)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/wp-json/wc/v3/orders/\d+/notes$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 77})))
        .mount(woo)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex(r"^/wp-json/wc/v3/orders/\d+$"))
        .respond_with(|r: &Request| ok(json!({"id": order_id(r), "status": "completed"})))
        .mount(woo)
        .await;
}

/// The webhook secret channel-sync gave the store when it created its webhooks.
pub async fn webhook_secret(woo: &MockServer) -> Option<String> {
    requests_to(woo, "POST", &format!("{WC}/webhooks"))
        .await
        .first()
        .and_then(|r| json_of(r)["secret"].as_str().map(str::to_owned))
}

/// Headers and body of a signed delivery of `topic` for `order`, as the store sends it to
/// `/webhooks/woocommerce/{connection}`.
pub fn delivery(
    secret: &str,
    topic: &str,
    delivery_id: &str,
    order: &Value,
) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let body = serde_json::to_vec(order).unwrap_or_default();
    let headers = vec![
        ("X-WC-Webhook-Topic", topic.to_owned()),
        ("X-WC-Webhook-Delivery-ID", delivery_id.to_owned()),
        ("X-WC-Webhook-Source", "https://shop.example/".to_owned()),
        (
            "X-WC-Webhook-Signature",
            shared::channels::woocommerce::sign(secret, &body),
        ),
        ("Content-Type", "application/json".to_owned()),
    ];
    (headers, body)
}
