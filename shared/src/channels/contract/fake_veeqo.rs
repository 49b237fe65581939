//! Veeqo's fake API for the contract suite: every call checked for the connection's
//! `x-api-key`; orders and products paged by number with `X-Total-Pages-Count`; shipments per
//! allocation; stock entries per sellable in the Inventory Sync Warehouse. Wire shapes as in
//! `veeqo/tests.rs`.

use super::*;
use crate::channels::veeqo::VeeqoCredentials;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use wiremock::matchers::{body_json, header, method, path, path_regex, query_param};
use wiremock::Mock;

pub(super) struct VeeqoFake;

const API_KEY: &str = "veeqo-contract-key-fake";
/// The connection's Inventory Sync Warehouse.
const WAREHOUSE: &str = "22668";
const PAGE_SIZE: u64 = 100;
/// The id Veeqo gives the shipment, and the allocation of [`ORDER_ID`] it ships.
const SHIPMENT_ID: u64 = 9001;
const ALLOCATION_ID: u64 = 7001;
/// Veeqo's carrier id for [`CARRIER`] (UPS).
const CARRIER_ID: u64 = 5;
/// Units Veeqo has allocated of every sellable (added back to each physical level).
const ALLOCATED: i64 = 2;
const REFUSAL: &str = "Physical stock level must be a whole number";

/// An authenticated `verb` on `p`.
fn on(verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(header("x-api-key", API_KEY))
}

fn page(items: Vec<Value>, pages: u64) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("X-Total-Pages-Count", pages.to_string())
        .set_body_json(items)
}

/// An FBM order of Amazon UK, awaiting fulfilment, allocated to our warehouse.
fn order(id: u64, lines: &[(&str, u32)], shipment: Value) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, qty))| {
            json!({"id": id * 10 + i as u64, "quantity": qty,
                "sellable": {"id": 3000 + i, "sku_code": sku, "product_title": "Tee"}})
        })
        .collect();
    json!({
        "id": id, "number": format!("026-{id}"), "status": "awaiting_fulfillment",
        "created_at": "2026-11-20T08:45:00Z", "updated_at": "2026-11-20T09:00:00Z",
        "fulfilled_by_amazon": false, "is_amazon_prime": false,
        "channel": {"id": 7, "name": "Amazon UK", "type_code": "amazon"},
        "deliver_to": {"first_name": "Ada", "last_name": "L", "address1": "1 High St",
            "city": "Swansea", "zip": "SA1 2BT", "country": "GB"},
        "line_items": items.clone(),
        "allocations": [{"id": ALLOCATION_ID, "warehouse": {"id": 22668, "name": "Amazon location"},
            "line_items": items, "shipment": shipment}],
    })
}

fn product(id: u64) -> Value {
    json!({"id": id, "title": "Tee", "sellables": [{"id": id + 100_000, "sku_code": format!("SKU-{id}"),
        "stock_entries": [{"warehouse_id": 22668, "infinite": false}]}]})
}

fn entry_path(sellable: &str) -> String {
    format!("/sellables/{sellable}/warehouses/{WAREHOUSE}/stock_entry")
}

fn physical(quantity: i64) -> Value {
    json!({"stock_entry": {"physical_stock_level": quantity + ALLOCATED, "infinite": false}})
}

fn stock_entry() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "physical_stock_level": 10, "allocated_stock_level": ALLOCATED, "available_stock_level": 8}))
}

#[async_trait]
impl FakeStore for VeeqoFake {
    fn channel(&self) -> Channel {
        Channel::Veeqo
    }

    fn shop(&self) -> &'static str {
        "company-contract"
    }

    /// Veeqo's API is the registry's `VEEQO_API_BASE` (the fake), not a stored URL.
    fn credentials(&self, _server: &MockServer) -> Secret {
        VeeqoCredentials::ApiKey {
            api_key: API_KEY.into(),
        }
        .to_secret()
    }

    fn settings(&self) -> ConnectionSettings {
        ConnectionSettings {
            inventory_location: Some(WAREHOUSE.into()),
            ..ConnectionSettings::default()
        }
    }

    /// The client waits for `Retry-After` itself (bounded), as Veeqo's bucket leaks fast.
    fn throttling(&self) -> Throttling {
        Throttling::RetriesAfterWait
    }

    fn unauthorized(&self) -> ResponseTemplate {
        ResponseTemplate::new(401).set_body_json(json!({"error_messages": "Unauthorized"}))
    }

    /// Cursors are page numbers; the watermark goes out 14 h early for Veeqo's unknown zone.
    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder {
        on("GET", "/orders")
            .and(query_param("updated_at_min", "2026-11-19 18:30:00"))
            .and(query_param("page_size", PAGE_SIZE.to_string()))
            .and(query_param("page", cursor.unwrap_or("1")))
    }

    fn one_order_page(&self) -> ResponseTemplate {
        page(vec![order(1001, &ORDERED, Value::Null)], 1)
    }

    async fn mount_orders(&self, server: &MockServer) -> Vec<String> {
        let first: Vec<Value> = (1001..=1100)
            .map(|id| order(id, &ORDERED, Value::Null))
            .collect();
        let rest = vec![
            order(1101, &ORDERED, Value::Null),
            order(1102, &ORDERED, Value::Null),
        ];
        for (cursor, items) in [(None, first), (Some("2"), rest)] {
            self.orders_request(cursor)
                .respond_with(page(items, 2))
                .expect(1)
                .mount(server)
                .await;
        }
        (1001..=1102).map(|id: u64| id.to_string()).collect()
    }

    async fn mount_listings(&self, server: &MockServer) -> Vec<String> {
        let ids: Vec<u64> = (2001..=2102).collect();
        for (n, chunk) in ids.chunks(PAGE_SIZE as usize).enumerate() {
            on("GET", "/products")
                .and(query_param("page_size", PAGE_SIZE.to_string()))
                .and(query_param("page", (n + 1).to_string()))
                .respond_with(page(chunk.iter().map(|&id| product(id)).collect(), 2))
                .expect(1)
                .mount(server)
                .await;
        }
        ids.iter().map(|id| (id + 100_000).to_string()).collect()
    }

    fn cursor_of(&self, request: &Request) -> Option<String> {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        query.get("page").filter(|p| *p != "1").cloned()
    }

    /// The order (read before and after), then `POST /shipments` for its allocation; the
    /// order shows the shipment once it is recorded.
    /// Veeqo ships an allocation whole (`POST /shipments` takes an allocation, no lines).
    fn ships_parts(&self) -> bool {
        false
    }

    async fn mount_unshipped_order(&self, server: &MockServer) {
        on("GET", &format!("/orders/{ORDER_ID}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(order(
                ORDER_ID.parse().unwrap(),
                &ORDERED,
                Value::Null,
            )))
            .mount(server)
            .await;
    }

    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String {
        let shipped = Arc::new(Mutex::new(None::<Value>));
        let read = shipped.clone();
        on("GET", &format!("/orders/{ORDER_ID}"))
            .respond_with(move |_: &Request| {
                let shipment = read.lock().unwrap().clone().unwrap_or(Value::Null);
                ResponseTemplate::new(200).set_body_json(order(
                    ORDER_ID.parse().unwrap(),
                    &ORDERED,
                    shipment,
                ))
            })
            .expect(2)
            .mount(server)
            .await;
        let number = shipment.tracking.number.to_string();
        on("POST", "/shipments")
            .and(body_json(json!({
                "shipment": {"tracking_number_attributes": {"tracking_number": number},
                    "carrier_id": CARRIER_ID, "notify_customer": shipment.notify_customer,
                    "update_remote_order": true},
                "allocation_id": ALLOCATION_ID,
                "order_id": ORDER_ID.parse::<u64>().unwrap(),
            })))
            .respond_with(move |_: &Request| {
                *shipped.lock().unwrap() = Some(json!({"id": SHIPMENT_ID,
                    "tracking_number": {"id": 1, "tracking_number": number}}));
                // Written, but the answer is lost.
                ResponseTemplate::new(503)
            })
            .expect(1)
            .mount(server)
            .await;
        SHIPMENT_ID.to_string()
    }

    fn is_tracking_create(&self, request: &Request) -> bool {
        request.method.as_str() == "POST" && request.url.path() == "/shipments"
    }

    /// Stock is written per sellable.
    fn inventory_items(&self) -> [&'static str; 3] {
        ["3001", "3002", "3003"]
    }

    /// The stock entry of any sellable in our warehouse (read, then written).
    fn inventory_request(&self) -> MockBuilder {
        Mock::given(path_regex(format!(
            "^/sellables/[0-9]+/warehouses/{WAREHOUSE}/stock_entry$"
        )))
        .and(header("x-api-key", API_KEY))
    }

    async fn mount_inventory_accepting(&self, server: &MockServer) {
        self.inventory_request()
            .respond_with(|r: &Request| {
                if r.method.as_str() == "GET" {
                    stock_entry()
                } else {
                    ResponseTemplate::new(200).set_body_json(json!({}))
                }
            })
            .expect(1..)
            .mount(server)
            .await;
    }

    /// Every entry is read; the refused item's write is answered 422.
    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String) {
        for (i, item) in items.iter().enumerate() {
            let p = entry_path(&item.item);
            on("GET", &p)
                .respond_with(stock_entry())
                .expect(1)
                .mount(server)
                .await;
            let answer = if i == refused {
                ResponseTemplate::new(422).set_body_json(json!({"error_messages": [REFUSAL]}))
            } else {
                ResponseTemplate::new(200).set_body_json(json!({}))
            };
            on("PUT", &p)
                .and(body_json(physical(item.quantity)))
                .respond_with(answer)
                .expect(1)
                .mount(server)
                .await;
        }
        ("422".into(), REFUSAL.into())
    }
}
