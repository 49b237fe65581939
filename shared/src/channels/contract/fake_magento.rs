//! Magento's fake store for the contract suite: the REST API (`/rest/all/V1`) at the stored
//! store URL, every call checked for a valid OAuth 1.0a HMAC-SHA256 signature made with the
//! connection's four keys. Wire shapes as in `magento/tests.rs`. The store has MSI (stock goes
//! to the `default` source).

use super::*;
use crate::channels::magento::tests::Signed;
use crate::channels::magento::MagentoCredentials;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::Mock;

pub(super) struct MagentoFake;

const SIGNED: Signed = Signed {
    consumer_key: "ck-contract-fake",
    consumer_secret: "cs-contract-fake",
    token: "at-contract-fake",
    token_secret: "ats-contract-fake",
};
/// Orders and products per page (`magento/store.rs`).
const PAGE_SIZE: u64 = 100;
/// Magento's time format (UTC).
const TIME: &str = "%Y-%m-%d %H:%M:%S";
/// The id the store gives the shipment.
const SHIPMENT_ID: u64 = 501;
/// Magento's refusal of an unknown SKU, `%1` filled in with the SKU.
const UNKNOWN_SKU: &str = "Product with SKU \"%1\" does not exist.";

/// A signed `verb` on `/rest/all/V1{p}`.
fn on(verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(format!("/rest/all/V1{p}")))
        .and(SIGNED)
}

fn reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn search_result(items: Vec<Value>, total: u64) -> ResponseTemplate {
    reply(200, json!({ "items": items, "total_count": total }))
}

fn since_text() -> String {
    since().format(TIME).to_string()
}

/// An order updated `seconds` after 09:00:00 that day.
fn order(id: u64, seconds: i64) -> Value {
    let updated =
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap() + chrono::Duration::seconds(seconds);
    json!({
        "entity_id": id, "increment_id": format!("00000{id}"), "state": "processing",
        "status": "processing", "created_at": "2026-11-20 08:45:00",
        "updated_at": updated.format(TIME).to_string(),
        "order_currency_code": "USD", "customer_email": "buyer@example.com",
        "items": [{"item_id": id * 10, "sku": SKU_A, "qty_ordered": 1, "product_type": "simple"}],
        "extension_attributes": {"shipping_assignments": [{"shipping": {"address": {
            "firstname": "Ada", "lastname": "L", "street": ["1 Main St"], "city": "NYC",
            "region_code": "NY", "postcode": "10001", "country_id": "US"}}}]}
    })
}

/// [`ORDER_ID`] with the lines of [`ORDERED`] (order item ids 1, 2…).
fn shippable_order() -> Value {
    let mut o = order(ORDER_ID.parse().unwrap(), 0);
    o["items"] = ORDERED
        .iter()
        .enumerate()
        .map(|(i, (sku, quantity))| {
            json!({"item_id": i + 1, "sku": sku, "qty_ordered": quantity, "product_type": "simple"})
        })
        .collect();
    o
}

fn product(id: u64) -> Value {
    json!({"id": id, "sku": format!("SKU-{id}"), "name": "Tee", "type_id": "simple", "status": 1,
        "extension_attributes": {"stock_item": {"manage_stock": true}}})
}

fn source_items(items: &[PushItem]) -> Value {
    let source_items: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"sku": i.item, "source_code": "default", "quantity": i.quantity,
                "status": i32::from(i.quantity > 0)})
        })
        .collect();
    json!({ "sourceItems": source_items })
}

fn unknown_sku(sku: &str) -> Value {
    json!({"message": UNKNOWN_SKU, "parameters": [sku]})
}

#[async_trait]
impl FakeStore for MagentoFake {
    fn channel(&self) -> Channel {
        Channel::Magento
    }

    fn shop(&self) -> &'static str {
        "contract-magento.example"
    }

    fn credentials(&self, server: &MockServer) -> Secret {
        MagentoCredentials {
            store_url: server.uri(),
            store_code: "all".into(),
            consumer_key: SIGNED.consumer_key.into(),
            consumer_secret: SIGNED.consumer_secret.into(),
            access_token: SIGNED.token.into(),
            access_token_secret: SIGNED.token_secret.into(),
        }
        .to_secret()
    }

    fn throttling(&self) -> Throttling {
        Throttling::ReportsToCaller
    }

    fn unauthorized(&self) -> ResponseTemplate {
        reply(401, json!({"message": "The access token is revoked."}))
    }

    /// Cursors: `None` → from [`since`]; `"{time}"` → from that time; `"{time}|{id}"` → after
    /// the order `id` of that time (keyset: a second filter group, ORed inside).
    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder {
        let (from, after) = match cursor {
            None => (since_text(), None),
            Some(c) => match c.split_once('|') {
                Some((at, id)) => (at.to_owned(), Some(id.to_owned())),
                None => (c.to_owned(), None),
            },
        };
        let filter = "searchCriteria[filter_groups][0][filters][0]";
        let mut request = on("GET", "/orders")
            .and(query_param(format!("{filter}[field]"), "updated_at"))
            .and(query_param(format!("{filter}[value]"), from.clone()))
            .and(query_param(format!("{filter}[condition_type]"), "gteq"));
        if let Some(id) = after {
            let later = "searchCriteria[filter_groups][1][filters][0]";
            let next = "searchCriteria[filter_groups][1][filters][1]";
            request = request
                .and(query_param(format!("{later}[field]"), "updated_at"))
                .and(query_param(format!("{later}[value]"), from))
                .and(query_param(format!("{later}[condition_type]"), "gt"))
                .and(query_param(format!("{next}[field]"), "entity_id"))
                .and(query_param(format!("{next}[value]"), id))
                .and(query_param(format!("{next}[condition_type]"), "gt"));
        }
        request
            .and(query_param(
                "searchCriteria[sortOrders][0][field]",
                "updated_at",
            ))
            .and(query_param(
                "searchCriteria[sortOrders][0][direction]",
                "ASC",
            ))
            .and(query_param(
                "searchCriteria[sortOrders][1][field]",
                "entity_id",
            ))
            .and(query_param(
                "searchCriteria[sortOrders][1][direction]",
                "ASC",
            ))
            .and(query_param(
                "searchCriteria[pageSize]",
                PAGE_SIZE.to_string(),
            ))
            .and(query_param("searchCriteria[currentPage]", "1"))
    }

    fn one_order_page(&self) -> ResponseTemplate {
        search_result(vec![order(1001, 0)], 1)
    }

    /// A full first page (a shorter one ends the walk), updated one second apart; then, after
    /// the last one (its time and id), what a real store answers: the orders after it.
    async fn mount_orders(&self, server: &MockServer) -> Vec<String> {
        let first: Vec<Value> = (0..PAGE_SIZE).map(|i| order(1001 + i, i as i64)).collect();
        let last = first.last().unwrap();
        let boundary = format!(
            "{}|{}",
            last["updated_at"].as_str().unwrap(),
            last["entity_id"]
        );
        let rest = vec![order(1101, 200), order(1102, 201)];
        let total = PAGE_SIZE + 2;
        for (cursor, items) in [(None, first), (Some(boundary.as_str()), rest)] {
            self.orders_request(cursor)
                .respond_with(search_result(items, total))
                .expect(1)
                .mount(server)
                .await;
        }
        (1001..=1102).map(|id: u64| id.to_string()).collect()
    }

    async fn mount_listings(&self, server: &MockServer) -> Vec<String> {
        let ids: Vec<u64> = (2001..=2102).collect();
        let total = ids.len() as u64;
        for (n, chunk) in ids.chunks(PAGE_SIZE as usize).enumerate() {
            on("GET", "/products")
                .and(query_param(
                    "searchCriteria[pageSize]",
                    PAGE_SIZE.to_string(),
                ))
                .and(query_param(
                    "searchCriteria[currentPage]",
                    (n + 1).to_string(),
                ))
                .and(query_param(
                    "searchCriteria[sortOrders][0][field]",
                    "entity_id",
                ))
                .and(query_param(
                    "searchCriteria[sortOrders][0][direction]",
                    "ASC",
                ))
                .respond_with(search_result(
                    chunk.iter().map(|&id| product(id)).collect(),
                    total,
                ))
                .expect(1)
                .mount(server)
                .await;
        }
        ids.iter().map(u64::to_string).collect()
    }

    fn cursor_of(&self, request: &Request) -> Option<String> {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let page = query.get("searchCriteria[currentPage]")?.clone();
        // Orders are keyset-paged (always page 1); listings go by page number.
        let Some(from) = query.get("searchCriteria[filter_groups][0][filters][0][value]") else {
            return (page != "1").then_some(page);
        };
        match query.get("searchCriteria[filter_groups][1][filters][1][value]") {
            Some(id) => Some(format!("{from}|{id}")),
            None if *from == since_text() => None,
            None => Some(from.clone()),
        }
    }

    /// The shipments search (the idempotency check), the order, then `POST /order/{id}/ship`.
    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String {
        let shipments = Arc::new(Mutex::new(Vec::<Value>::new()));
        let read = shipments.clone();
        let filter = "searchCriteria[filter_groups][0][filters][0]";
        on("GET", "/shipments")
            .and(query_param(format!("{filter}[field]"), "order_id"))
            .and(query_param(format!("{filter}[value]"), ORDER_ID))
            .and(query_param(format!("{filter}[condition_type]"), "eq"))
            .respond_with(move |_: &Request| {
                let items = read.lock().unwrap().clone();
                let total = items.len() as u64;
                search_result(items, total)
            })
            .expect(2)
            .mount(server)
            .await;
        on("GET", &format!("/orders/{ORDER_ID}"))
            .respond_with(reply(200, shippable_order()))
            .expect(1)
            .mount(server)
            .await;
        let mut body = json!({
            "notify": shipment.notify_customer,
            "appendComment": false,
            "tracks": [{"track_number": shipment.tracking.number,
                "title": shipment.tracking.company, "carrier_code": "ups"}],
        });
        // A shipment of part of the order names the order items it ships.
        if shipment.lines.is_some() {
            body["items"] = shipment
                .shipped()
                .iter()
                .map(|(sku, qty)| {
                    let item = ORDERED.iter().position(|(s, _)| s == sku).unwrap() + 1;
                    json!({"order_item_id": item, "qty": qty})
                })
                .collect();
        }
        let number = shipment.tracking.number.to_string();
        on("POST", &format!("/order/{ORDER_ID}/ship"))
            .and(body_json(body))
            .respond_with(move |_: &Request| {
                let mut shipments = shipments.lock().unwrap();
                let id = SHIPMENT_ID + shipments.len() as u64;
                shipments.push(json!({"entity_id": id, "order_id": ORDER_ID,
                    "tracks": [{"track_number": number, "carrier_code": "ups"}]}));
                // Written, but the answer is lost.
                if shipments.len() == 1 {
                    ResponseTemplate::new(503)
                } else {
                    reply(200, json!(id))
                }
            })
            .expect(1)
            .mount(server)
            .await;
        SHIPMENT_ID.to_string()
    }

    fn is_tracking_create(&self, request: &Request) -> bool {
        request.method.as_str() == "POST"
            && request.url.path() == format!("/rest/all/V1/order/{ORDER_ID}/ship")
    }

    /// Magento's stock items are its SKUs.
    fn inventory_items(&self) -> [&'static str; 3] {
        [SKU_A, SKU_B, SKU_C]
    }

    fn inventory_request(&self) -> MockBuilder {
        on("POST", "/inventory/source-items")
    }

    async fn mount_inventory_accepting(&self, server: &MockServer) {
        self.inventory_request()
            .respond_with(reply(200, json!([])))
            .expect(1..)
            .mount(server)
            .await;
    }

    /// One unknown SKU fails the whole request (400); the writer then sends each item alone.
    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String) {
        let sku = items[refused].item.as_str();
        self.inventory_request()
            .and(body_json(source_items(items)))
            .respond_with(reply(
                400,
                json!({"message": "Validation Failed", "errors": [unknown_sku(sku)]}),
            ))
            .expect(1)
            .mount(server)
            .await;
        for (i, item) in items.iter().enumerate() {
            let answer = if i == refused {
                reply(400, unknown_sku(sku))
            } else {
                reply(200, json!([]))
            };
            self.inventory_request()
                .and(body_json(source_items(std::slice::from_ref(item))))
                .respond_with(answer)
                .expect(1)
                .mount(server)
                .await;
        }
        ("rejected".into(), UNKNOWN_SKU.replace("%1", sku))
    }
}
