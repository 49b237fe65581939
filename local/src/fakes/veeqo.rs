//! A simulated Veeqo (its REST API, key in `x-api-key`) that enforces a leaky bucket like
//! Veeqo's (answering 429 with `Retry-After` when it overflows). No webhooks: orders are found
//! by the poll. It lists its orders and products, answers an order with the shipment made of
//! its allocation, accepts one shipment per order and records every stock level written.
//! Anything else is answered 404 and recorded in [`State::unexpected`]; a wrong key is 401.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wiremock::matchers::header;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// How a simulated Veeqo account is set up.
#[derive(Clone, Debug)]
pub struct Account {
    /// The API key it accepts.
    pub key: String,
    /// Requests per second drained from the bucket, and the bucket's size.
    pub rate: f64,
    pub bucket: f64,
    /// `(id, name)` of its warehouses; stock is read and written for the first one only.
    pub warehouses: Vec<(u64, String)>,
    /// Its products (listed 100 a page).
    pub products: Vec<Value>,
    /// Units Veeqo has allocated of every sellable.
    pub allocated: i64,
}

/// What the account holds and saw.
#[derive(Default, Debug)]
pub struct State {
    level: f64,
    drained_at: Option<Instant>,
    /// Requests answered 429.
    pub throttled: u32,
    /// Times the orders were listed.
    pub orders_polls: u32,
    /// Its orders, in the order they were placed.
    pub orders: Vec<Value>,
    /// The shipment bodies received, in order.
    pub shipments: Vec<Value>,
    /// Sellable id → physical level last written.
    pub stock: BTreeMap<u64, i64>,
    /// `orders_polls` when the first stock write arrived.
    pub polls_at_first_write: Option<u32>,
    /// `VERB /path` of every request it has no answer for.
    pub unexpected: Vec<String>,
}

/// The simulated account: mount it with [`mount`], read its [`State`].
#[derive(Clone)]
pub struct FakeVeeqo {
    pub account: Arc<Account>,
    pub state: Arc<Mutex<State>>,
}

impl FakeVeeqo {
    pub fn new(account: Account) -> Self {
        Self {
            account: Arc::new(account),
            state: Arc::default(),
        }
    }

    /// Places an order (listed by every later poll).
    pub fn add_order(&self, order: Value) {
        if let Ok(mut s) = self.state.lock() {
            s.orders.push(order);
        }
    }
}

/// A line of `qty` × `sku` (sellable `id + 1000`).
pub fn line(id: u64, sku: &str, qty: u64) -> Value {
    json!({"id": id, "quantity": qty, "sellable": {"id": id + 1000, "sku_code": sku, "product_title": "Tee"}})
}

/// An Amazon UK order `id` awaiting fulfilment, 2 × `sku` allocated (allocation `id + 500`)
/// to `warehouse`, fulfilled by Amazon or not, Prime or not.
pub fn order(id: u64, sku: &str, fba: bool, warehouse: u64, prime: bool) -> Value {
    let lines = vec![line(id * 10, sku, 2)];
    json!({
        "id": id, "number": format!("206-{id}"), "status": "awaiting_fulfillment",
        "created_at": "2026-11-27T08:00:00Z", "updated_at": "2026-11-27T08:05:00Z",
        "fulfilled_by_amazon": fba, "is_amazon_prime": prime,
        "channel": {"id": 7, "name": "Amazon UK", "type_code": "amazon"},
        "deliver_to": {"first_name": "Ada", "last_name": "L", "address1": "1 High St",
            "city": "Swansea", "zip": "SA1 2BT", "country": "GB"},
        "line_items": lines.clone(),
        "allocations": [{"id": id + 500, "warehouse": {"id": warehouse, "name": "W"},
            "line_items": lines, "shipment": null}],
    })
}

/// A product `id` with one stock-tracked sellable (`100_000 + id`) of `sku` in `warehouse`.
pub fn product(id: u64, sku: &str, warehouse: u64) -> Value {
    json!({"id": id, "title": "Tee", "sellables": [{"id": 100_000 + id, "sku_code": sku,
        "stock_entries": [{"warehouse_id": warehouse, "infinite": false}]}]})
}

impl Respond for FakeVeeqo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let account = &self.account;
        let Ok(mut s) = self.state.lock() else {
            return ResponseTemplate::new(500);
        };
        let now = Instant::now();
        let elapsed = s.drained_at.map_or(0.0, |t| (now - t).as_secs_f64());
        s.level = (s.level - elapsed * account.rate).max(0.0);
        s.drained_at = Some(now);
        if s.level + 1.0 > account.bucket {
            s.throttled += 1;
            return ResponseTemplate::new(429).insert_header("Retry-After", "1");
        }
        s.level += 1.0;
        let ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        let verb = request.method.as_str();
        let path = request.url.path().to_owned();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let stock_warehouse = account
            .warehouses
            .first()
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        match (verb, parts.as_slice()) {
            ("GET", ["current_company"]) => ok(json!({"id": 555, "name": "Acme Ltd"})),
            ("GET", ["warehouses"]) => ok(Value::Array(
                account
                    .warehouses
                    .iter()
                    .map(|(id, name)| json!({"id": id, "name": name}))
                    .collect(),
            )),
            ("GET", ["channels"]) => ok(json!([
                {"id": 7, "name": "Amazon UK", "type_code": "amazon", "with_fba": false}])),
            ("GET", ["orders"]) => {
                s.orders_polls += 1;
                ok(Value::Array(s.orders.clone())).insert_header("X-Total-Pages-Count", "1")
            }
            ("GET", ["orders", id]) => {
                let wanted = id.parse::<u64>().ok();
                let Some(mut order) = s
                    .orders
                    .iter()
                    .find(|o| wanted.is_some() && o["id"].as_u64() == wanted)
                    .cloned()
                else {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"error_messages": "Not found"}));
                };
                let shipped = s
                    .shipments
                    .iter()
                    .position(|b| b["order_id"].as_u64() == wanted);
                if let Some(n) = shipped {
                    order["allocations"][0]["shipment"] = json!({"id": 4001 + n,
                        "tracking_number": {"tracking_number":
                            s.shipments[n]["shipment"]["tracking_number_attributes"]["tracking_number"]}});
                }
                ok(order)
            }
            ("POST", ["shipments"]) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                if s.shipments
                    .iter()
                    .any(|b| b["order_id"] == body["order_id"])
                {
                    return ResponseTemplate::new(422)
                        .set_body_json(json!({"error_messages": ["Order already shipped"]}));
                }
                s.shipments.push(body);
                ResponseTemplate::new(201).set_body_json(json!({"id": 4000 + s.shipments.len()}))
            }
            ("GET", ["products"]) => {
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let pages = account.products.len().div_ceil(100).max(1);
                let items: Vec<Value> = account
                    .products
                    .iter()
                    .skip(page.saturating_sub(1) * 100)
                    .take(100)
                    .cloned()
                    .collect();
                ok(Value::Array(items)).insert_header("X-Total-Pages-Count", pages.to_string())
            }
            ("GET", ["sellables", _, "warehouses", w, "stock_entry"]) if *w == stock_warehouse => {
                ok(json!({"physical_stock_level": 0, "allocated_stock_level": account.allocated}))
            }
            ("PUT", ["sellables", id, "warehouses", w, "stock_entry"]) if *w == stock_warehouse => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let level = body["stock_entry"]["physical_stock_level"]
                    .as_i64()
                    .unwrap_or(-1);
                if s.polls_at_first_write.is_none() {
                    s.polls_at_first_write = Some(s.orders_polls);
                }
                s.stock.insert(id.parse().unwrap_or(0), level);
                ok(json!({"physical_stock_level": level}))
            }
            _ => {
                s.unexpected.push(format!("{verb} {path}"));
                ResponseTemplate::new(404).set_body_json(json!({"error_messages": "Not found"}))
            }
        }
    }
}

/// Mounts `fake` on `server`: requests with its key are answered by it, any other 401.
pub async fn mount(server: &MockServer, fake: &FakeVeeqo) {
    Mock::given(header("x-api-key", fake.account.key.as_str()))
        .respond_with(fake.clone())
        .mount(server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error_messages": "Unauthorized"})),
        )
        .with_priority(10)
        .mount(server)
        .await;
}
