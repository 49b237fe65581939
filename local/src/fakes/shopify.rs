//! A simulated Shopify: the GraphQL Admin API (`SHOPIFY_API_BASE` points channel-sync at it),
//! answered by operation name — the shop check at connect, locations, the orders poll, product
//! variants, `inventorySetQuantities` and the three fulfillment steps — plus REST order
//! payloads as Shopify's `orders/create` webhook carries them.

use serde_json::{json, Value};
use shared::channels::shopify::API_VERSION;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockBuilder, Request, ResponseTemplate};

/// The one location every fake shop has (the connection's fulfilment and stock location).
pub const LOCATION: &str = "gid://shopify/Location/1";

/// The GraphQL endpoint's path.
pub fn graphql_path() -> String {
    format!("/admin/api/{API_VERSION}/graphql.json")
}

/// A GraphQL `POST` whose document names operation `name`.
pub fn operation(name: &str) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(graphql_path()))
        .and(body_string_contains(name))
}

/// The same, sent with the store's Admin API `token`.
pub fn operation_with(name: &str, token: &str) -> MockBuilder {
    operation(name).and(header("X-Shopify-Access-Token", token))
}

fn data(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
}

fn one_page(nodes: Vec<Value>) -> Value {
    json!({"nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}})
}

/// The connect check (`ChannelSyncShop`) of `shop`, named `name`, for `token`.
pub fn shop_check(shop: &str, token: &str, name: &str) -> Mock {
    operation_with("ChannelSyncShop", token).respond_with(data(
        json!({"shop": {"name": name, "myshopifyDomain": shop}}),
    ))
}

/// `count` active locations (`gid://shopify/Location/1…count`), for any token.
pub fn locations(count: u32) -> Mock {
    let nodes: Vec<Value> = (1..=count)
        .map(|n| {
            json!({"id": format!("gid://shopify/Location/{n}"), "name": format!("Location {n}"),
                "isActive": true, "fulfillsOnlineOrders": true})
        })
        .collect();
    operation("ChannelSyncLocations").respond_with(data(json!({ "locations": one_page(nodes) })))
}

/// One active location ([`LOCATION`]), at priority 2 (a test's own priority-1 answer wins):
/// with no fulfilment location set and one active location, every order is the connection's.
pub fn one_location() -> Mock {
    operation("ChannelSyncLocations")
        .respond_with(data(json!({"locations": one_page(vec![json!(
            {"id": LOCATION, "name": "3PL Warehouse", "isActive": true, "fulfillsOnlineOrders": true}
        )])})))
        .with_priority(2)
        .named("the shop's one location")
}

/// Anything not mounted: 401, as Shopify answers an unknown token (priority 10: last).
pub fn refuse_the_rest() -> Mock {
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("[API] Invalid API key or access token"),
        )
        .with_priority(10)
}

/// A tracked variant `n` with `sku` of product 1.
pub fn variant(n: u32, sku: &str) -> Value {
    json!({"id": format!("gid://shopify/ProductVariant/{n}"), "sku": sku,
        "inventoryItem": {"id": format!("gid://shopify/InventoryItem/{}", 1000 + n), "tracked": true},
        "product": {"id": "gid://shopify/Product/1", "status": "ACTIVE", "title": "Tee"}})
}

/// The shop's product variants (`ChannelSyncVariants`), one page.
pub fn variants(token: &str, variants: Vec<Value>) -> Mock {
    operation_with("ChannelSyncVariants", token)
        .respond_with(data(json!({ "productVariants": one_page(variants) })))
}

/// `inventorySetQuantities` (`ChannelSyncSetAvailable`) accepted without user errors.
pub fn set_available(token: &str) -> Mock {
    operation_with("ChannelSyncSetAvailable", token).respond_with(data(
        json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": null, "userErrors": []}}),
    ))
}

/// The reconciliation poll (`ChannelSyncOrdersUpdatedSince`) finding nothing new.
pub fn no_updated_orders(token: &str) -> Mock {
    operation_with("ChannelSyncOrdersUpdatedSince", token)
        .respond_with(data(json!({ "orders": one_page(vec![]) })))
}

/// A paid REST order payload (as `orders/create` carries it) with lines
/// `(line id, sku, quantity)`.
pub fn rest_order(id: u64, lines: &[(u64, &str, u32)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(line, sku, q)| {
            json!({"id": line, "sku": sku, "quantity": q, "name": sku, "requires_shipping": true})
        })
        .collect();
    json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{id}"), "order_number": id,
        "created_at": "2026-11-27T08:00:00Z", "updated_at": "2026-11-28T09:00:00Z",
        "cancelled_at": null, "financial_status": "paid",
        "payment_gateway_names": ["shopify_payments"], "currency": "EUR", "test": false,
        "email": "ada@example.com", "line_items": items,
        "shipping_address": {"name": "Ada Lovelace", "address1": "1 Main Street",
            "city": "Dublin", "zip": "D01", "country_code": "IE"}
    })
}

/// An order's lines: `(line id, sku, quantity)`.
type Lines = Vec<(u64, String, u32)>;

/// The orders a simulated shop has taken, by order id: what its fulfillment orders hold.
#[derive(Clone, Default)]
pub struct OrderBook {
    orders: Arc<Mutex<HashMap<u64, Lines>>>,
}

impl OrderBook {
    /// Records order `id` with lines `(line id, sku, quantity)`.
    pub fn add(&self, id: u64, lines: &[(u64, &str, u32)]) {
        let lines = lines
            .iter()
            .map(|(l, s, q)| (*l, (*s).to_owned(), *q))
            .collect();
        if let Ok(mut orders) = self.orders.lock() {
            orders.insert(id, lines);
        }
    }

    fn lines(&self, id: u64) -> Option<Lines> {
        self.orders.lock().ok()?.get(&id).cloned()
    }
}

/// The numeric id at the end of a gid (`gid://shopify/Order/7` → 7).
fn gid_number(gid: &str) -> Option<u64> {
    gid.rsplit('/').next()?.parse().ok()
}

/// `ChannelSyncFulfillmentOrders`: every order of `book` has one open fulfillment order (the
/// order's id) at [`LOCATION`] holding all its lines; an unknown order is `null`.
pub fn fulfillment_orders(book: OrderBook) -> Mock {
    operation("ChannelSyncFulfillmentOrders").respond_with(move |request: &Request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let gid = body["variables"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some(lines) = gid_number(&gid).and_then(|id| book.lines(id)) else {
            return data(json!({"order": null}));
        };
        let id = gid_number(&gid).unwrap_or_default();
        let nodes: Vec<Value> = lines
            .iter()
            .map(|(line, sku, q)| {
                json!({"id": format!("gid://shopify/FulfillmentOrderLineItem/{line}"),
                    "remainingQuantity": q, "totalQuantity": q,
                    "lineItem": {"id": format!("gid://shopify/LineItem/{line}"), "sku": sku}})
            })
            .collect();
        data(
            json!({"order": {"id": gid, "fulfillmentOrders": one_page(vec![json!({
            "id": format!("gid://shopify/FulfillmentOrder/{id}"), "status": "OPEN",
            "assignedLocation": {"location": {"id": LOCATION}},
            "lineItems": one_page(nodes)})])}}),
        )
    })
}

/// `ChannelSyncOrderFulfillments`: the order has no fulfillment yet.
pub fn no_fulfillments() -> Mock {
    operation("ChannelSyncOrderFulfillments").respond_with(|request: &Request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        data(json!({"order": {"id": body["variables"]["id"], "fulfillments": []}}))
    })
}

/// `fulfillmentCreate` succeeds; the fulfillment's id is its first fulfillment order's number.
pub fn fulfillment_create() -> Mock {
    operation("ChannelSyncFulfillmentCreate").respond_with(|request: &Request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let fo = body["variables"]["fulfillment"]["lineItemsByFulfillmentOrder"][0]
            ["fulfillmentOrderId"]
            .as_str()
            .and_then(gid_number)
            .unwrap_or_default();
        data(json!({"fulfillmentCreate": {
            "fulfillment": {"id": format!("gid://shopify/Fulfillment/{fo}"), "status": "SUCCESS"},
            "userErrors": []}}))
    })
}

/// Headers and body of a signed `orders/create` delivery (HMAC-SHA256 of the body with
/// `secret`, as Shopify signs it).
pub fn order_delivery(
    secret: &str,
    shop: &str,
    delivery_id: &str,
    order: &Value,
) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let body = serde_json::to_vec(order).unwrap_or_default();
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        (
            "X-Shopify-Hmac-Sha256",
            shared::channels::shopify::sign(secret, &body),
        ),
        ("X-Shopify-Shop-Domain", shop.to_owned()),
        ("X-Shopify-Topic", "orders/create".to_owned()),
        ("X-Shopify-Webhook-Id", delivery_id.to_owned()),
    ];
    (headers, body)
}

/// A Shopify that accepts everything, for load runs and benchmarks: the connect check of
/// `shop` (named `name`) for `token`, one location, and `{"data": {}}` for any other call.
pub async fn accepting_store(shop: &str, token: &str, name: &str) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    shop_check(shop, token, name).mount(&server).await;
    one_location().mount(&server).await;
    Mock::given(method("POST"))
        .respond_with(data(json!({})))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}
