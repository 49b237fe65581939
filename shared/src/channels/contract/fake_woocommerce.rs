//! WooCommerce's fake store for the contract suite: the REST API (`/wp-json/wc/v3`) at the
//! stored store URL, every call checked for HTTP Basic auth with the connection's key pair.
//! Wire shapes as in `woocommerce/tests.rs`. The store has no Shipment Tracking extension, so
//! tracking is an order note (most stores: the extension is paid).

use super::*;
use crate::channels::woocommerce::WooCredentials;
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::Mock;

pub(super) struct WooFake;

const CONSUMER_KEY: &str = "ck_contract_fake";
const CONSUMER_SECRET: &str = "cs_contract_fake";
const API: &str = "/wp-json/wc/v3";
/// Where channel-sync records what each shipment shipped (`woocommerce/store.rs`).
const SHIPPED_META: &str = "_channel_sync_shipped";
/// The id the store gives the tracking note.
const NOTE_ID: u64 = 901;

fn auth() -> String {
    let pair = format!("{CONSUMER_KEY}:{CONSUMER_SECRET}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `verb` on `{API}{p}` with our key pair.
fn on(verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(format!("{API}{p}")))
        .and(header("authorization", auth()))
}

fn reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// A page of a page-numbered listing.
fn page(items: Vec<Value>, total_pages: u32) -> ResponseTemplate {
    reply(200, Value::Array(items)).insert_header("X-WP-TotalPages", total_pages.to_string())
}

fn order(id: u64, status: &str) -> Value {
    json!({
        "id": id, "number": id.to_string(), "status": status, "currency": "EUR",
        "date_created_gmt": "2026-11-20T09:00:00", "date_modified_gmt": "2026-11-20T09:05:00",
        "date_paid_gmt": "2026-11-20T09:01:00",
        "billing": {"email": "buyer@example.com"},
        "shipping": {"first_name": "Ada", "last_name": "L", "address_1": "1 Main St",
            "city": "Dublin", "postcode": "D01", "country": "IE"},
        "line_items": [{"id": id * 10, "sku": SKU_A, "quantity": 1, "name": "Tee"}]
    })
}

fn product(id: u64) -> Value {
    json!({"id": id, "type": "simple", "name": "Tee", "sku": format!("SKU-{id}"),
        "status": "publish", "manage_stock": true})
}

/// [`ORDER_ID`] with the lines of [`ORDERED`].
fn shippable_order() -> Value {
    let lines: Vec<Value> = ORDERED
        .iter()
        .enumerate()
        .map(|(i, (sku, quantity))| json!({"id": i + 1, "sku": sku, "quantity": quantity}))
        .collect();
    json!({"id": ORDER_ID.parse::<u64>().unwrap(), "status": "processing", "line_items": lines})
}

fn notes_path() -> String {
    format!("/orders/{ORDER_ID}/notes")
}

/// The batch endpoint's id of a `product:{id}` item.
fn product_id(item: &str) -> u64 {
    item.strip_prefix("product:").unwrap().parse().unwrap()
}

fn stock_update(items: &[PushItem]) -> Value {
    let update: Vec<Value> = items
        .iter()
        .map(|i| json!({"id": product_id(&i.item), "stock_quantity": i.quantity}))
        .collect();
    json!({ "update": update })
}

/// WooCommerce's refusal of one product in a stock batch.
const REFUSAL: (&str, &str) = ("woocommerce_rest_product_invalid_id", "Invalid ID.");

/// WooCommerce's batch answer: each product as updated (managed), except `refused`, whose
/// entry carries [`REFUSAL`].
fn stock_answer(request: &Request, refused: Option<u64>) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let update: Vec<Value> = body["update"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|u| {
            if u["id"].as_u64() == refused {
                let (code, message) = REFUSAL;
                json!({"id": u["id"], "error": {"code": code, "message": message, "data": {"status": 400}}})
            } else {
                json!({"id": u["id"], "manage_stock": true, "stock_quantity": u["stock_quantity"]})
            }
        })
        .collect();
    reply(200, json!({ "update": update }))
}

#[async_trait]
impl FakeStore for WooFake {
    fn channel(&self) -> Channel {
        Channel::Woocommerce
    }

    fn shop(&self) -> &'static str {
        "contract-woo.example"
    }

    fn credentials(&self, server: &MockServer) -> Secret {
        WooCredentials {
            store_url: server.uri(),
            consumer_key: CONSUMER_KEY.into(),
            consumer_secret: CONSUMER_SECRET.into(),
            webhook_secret: "whsec_contract_fake".into(),
        }
        .to_secret()
    }

    fn throttling(&self) -> Throttling {
        Throttling::ReportsToCaller
    }

    fn unauthorized(&self) -> ResponseTemplate {
        reply(
            401,
            json!({"code": "woocommerce_rest_authentication_error",
                "message": "Consumer key is invalid.", "data": {"status": 401}}),
        )
    }

    /// Cursors: `None`/`"N"` → page N of `status=any`, `"trash:N"` → of `status=trash`.
    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder {
        let (status, page) = match cursor {
            None => ("any", "1"),
            Some(c) => match c.strip_prefix("trash:") {
                Some(page) => ("trash", page),
                None => ("any", c),
            },
        };
        on("GET", "/orders")
            .and(query_param("modified_after", "2026-11-20T08:30:00"))
            .and(query_param("dates_are_gmt", "true"))
            .and(query_param("status", status))
            .and(query_param("orderby", "id"))
            .and(query_param("order", "asc"))
            .and(query_param("per_page", "100"))
            .and(query_param("page", page))
    }

    fn one_order_page(&self) -> ResponseTemplate {
        page(vec![order(1001, "processing")], 1)
    }

    /// Two pages of `status=any`, then the trash pass (trashed orders arrive cancelled).
    async fn mount_orders(&self, server: &MockServer) -> Vec<String> {
        let pages = [
            (
                None,
                page(
                    vec![order(1001, "processing"), order(1002, "processing")],
                    2,
                ),
            ),
            (Some("2"), page(vec![order(1003, "on-hold")], 2)),
            (Some("trash:1"), page(vec![order(1004, "trash")], 1)),
        ];
        for (cursor, answer) in pages {
            self.orders_request(cursor)
                .respond_with(answer)
                .expect(1)
                .mount(server)
                .await;
        }
        (1001..=1004).map(|id: u64| id.to_string()).collect()
    }

    async fn mount_listings(&self, server: &MockServer) -> Vec<String> {
        for (n, products) in [
            ("1", vec![product(2001), product(2002)]),
            ("2", vec![product(2003)]),
        ] {
            on("GET", "/products")
                .and(query_param("per_page", "100"))
                .and(query_param("page", n))
                .and(query_param("orderby", "id"))
                .and(query_param("order", "asc"))
                .respond_with(page(products, 2))
                .expect(1)
                .mount(server)
                .await;
        }
        (2001..=2003).map(|id: u64| id.to_string()).collect()
    }

    fn cursor_of(&self, request: &Request) -> Option<String> {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let page = query.get("page")?.clone();
        match query.get("status").map(String::as_str) {
            Some("trash") => Some(format!("trash:{page}")),
            _ => (page != "1").then_some(page),
        }
    }

    /// Order note (no extension: its route answers `rest_no_route`), then the order update:
    /// completed for the whole order, the shipment record for a partial one.
    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String {
        on("GET", &format!("/orders/{ORDER_ID}"))
            .respond_with(reply(200, shippable_order()))
            .expect(2)
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!(
                "/wp-json/wc-shipment-tracking/v3/orders/{ORDER_ID}/shipment-trackings"
            )))
            .and(header("authorization", auth()))
            .respond_with(reply(
                404,
                json!({"code": "rest_no_route", "message": "No route was found matching the URL and request method.", "data": {"status": 404}}),
            ))
            .expect(2)
            .mount(server)
            .await;
        let notes = Arc::new(Mutex::new(Vec::<Value>::new()));
        let read = notes.clone();
        on("GET", &notes_path())
            .respond_with(move |_: &Request| reply(200, Value::Array(read.lock().unwrap().clone())))
            .expect(2)
            .mount(server)
            .await;
        let whole = shipment.lines.is_none();
        let text = format!(
            "{} with {}: tracking number {}",
            if whole {
                "Shipped"
            } else {
                "Partially shipped"
            },
            shipment.tracking.company,
            shipment.tracking.number
        );
        on("POST", &notes_path())
            .and(body_json(
                json!({"note": text, "customer_note": shipment.notify_customer}),
            ))
            .respond_with(move |r: &Request| {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                let mut notes = notes.lock().unwrap();
                notes.push(json!({"id": NOTE_ID, "note": body["note"]}));
                // Written, but the answer is lost.
                if notes.len() == 1 {
                    ResponseTemplate::new(503)
                } else {
                    reply(201, json!({"id": NOTE_ID + notes.len() as u64 - 1}))
                }
            })
            .expect(1)
            .mount(server)
            .await;
        let update = if whole {
            json!({"status": "completed"})
        } else {
            let shipped: serde_json::Map<String, Value> = shipment
                .shipped()
                .iter()
                .map(|(sku, q)| ((*sku).to_owned(), json!(q)))
                .collect();
            let mut record = serde_json::Map::new();
            record.insert(shipment.tracking.number.to_string(), Value::Object(shipped));
            let record = Value::Object(record).to_string();
            json!({"meta_data": [{"key": SHIPPED_META, "value": record}]})
        };
        on("PUT", &format!("/orders/{ORDER_ID}"))
            .and(body_json(update))
            .respond_with(reply(200, shippable_order()))
            .expect(1)
            .mount(server)
            .await;
        NOTE_ID.to_string()
    }

    fn is_tracking_create(&self, request: &Request) -> bool {
        request.method.as_str() == "POST" && request.url.path() == format!("{API}{}", notes_path())
    }

    fn inventory_items(&self) -> [&'static str; 3] {
        ["product:201", "product:202", "product:203"]
    }

    fn inventory_request(&self) -> MockBuilder {
        on("POST", "/products/batch")
    }

    async fn mount_inventory_accepting(&self, server: &MockServer) {
        self.inventory_request()
            .respond_with(|r: &Request| stock_answer(r, None))
            .expect(1..)
            .mount(server)
            .await;
    }

    /// One batch request; the refused product's entry carries WooCommerce's error.
    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String) {
        let refused = product_id(&items[refused].item);
        self.inventory_request()
            .and(body_json(stock_update(items)))
            .respond_with(move |r: &Request| stock_answer(r, Some(refused)))
            .expect(1)
            .mount(server)
            .await;
        (REFUSAL.0.into(), REFUSAL.1.into())
    }
}
