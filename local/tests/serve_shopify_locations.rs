//! Black-box tests of `channel-sync serve`: Shopify orders are imported by assignment. Only the
//! lines of fulfillment orders assigned to the connection's `fulfilment_location` reach the WMS
//! (and tracking fulfils only those); an order wholly at another location sends nothing and is
//! counted on the connection; a shop with two locations and none chosen gets its orders held
//! `no_fulfilment_location`; the reconciliation poll applies the same rule. The real binary on a
//! free port, a `wiremock` Shopify behind `SHOPIFY_API_BASE` that refuses anything unexpected.

mod common;

use common::{
    connected_id, fake, get_json, outbox, settled, shopify_form, spawn_shopify, stop, Runner,
};
use local::fakes::shopify::{self as fakes, rest_order};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SHOP: &str = "loc-shop.myshopify.com";
const TOKEN: &str = "shpat_fake_locations_token";
const GRAPHQL: &str = "/admin/api/2026-10/graphql.json";
const HERE: &str = "gid://shopify/Location/1";
const THERE: &str = "gid://shopify/Location/2";

struct Env {
    data: tempfile::TempDir,
    token: String,
    secret: String,
    shopify: MockServer,
}

/// A fake Shopify: the connect check, `locations` active locations, a 401 for anything else
/// (and the test fails on drop if it was asked anything else).
async fn env(locations: u32) -> Env {
    let shopify = MockServer::start().await;
    fakes::shop_check(SHOP, TOKEN, "Locations Shop")
        .named("shop check at connect")
        .mount(&shopify)
        .await;
    fakes::locations(locations)
        .named("the shop's locations")
        .mount(&shopify)
        .await;
    fakes::refuse_the_rest()
        .expect(0)
        .named("anything else")
        .mount(&shopify)
        .await;
    Env {
        data: tempfile::tempdir().unwrap(),
        token: fake("cs_dev"),
        secret: fake("shpss"),
        shopify,
    }
}

fn start(env: &Env, reconcile_secs: &str) -> Runner {
    let api_base = env.shopify.uri();
    let extra = [("CHANNEL_SYNC_RECONCILE_SECS", reconcile_secs)];
    spawn_shopify(env.data.path(), &env.token, &env.secret, &api_base, &extra)
}

/// Connects the store with `settings`; returns the connection id.
async fn connect(client: &reqwest::Client, runner: &Runner, env: &Env, settings: Value) -> String {
    let mut form = shopify_form(SHOP, TOKEN);
    form["settings"] = settings;
    connected_id(client, runner, &env.token, &form).await
}

/// Posts one signed `orders/create` webhook.
async fn deliver(client: &reqwest::Client, runner: &Runner, env: &Env, order: Value) {
    let body = serde_json::to_vec(&order).unwrap();
    let signature = shared::channels::shopify::sign(&env.secret, &body);
    let response = client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("content-type", "application/json")
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", uuid::Uuid::new_v4().to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn fo_line(item: u64, sku: &str, remaining: u32) -> Value {
    json!({"id": format!("gid://shopify/FulfillmentOrderLineItem/{item}"),
        "remainingQuantity": remaining, "totalQuantity": remaining,
        "lineItem": {"id": format!("gid://shopify/LineItem/{item}"), "sku": sku}})
}

fn fulfillment_order(id: u64, location: &str, lines: Vec<Value>) -> Value {
    json!({"id": format!("gid://shopify/FulfillmentOrder/{id}"), "status": "OPEN",
        "assignedLocation": {"location": {"id": location}},
        "lineItems": {"nodes": lines, "pageInfo": {"hasNextPage": false, "endCursor": null}}})
}

/// Answers the fulfillment-order read of `order` with `fos` (one page).
async fn mount_fulfillment_orders(env: &Env, order: u64, fos: Vec<Value>) {
    let gid = format!("gid://shopify/Order/{order}");
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncFulfillmentOrders"))
        .and(body_partial_json(json!({"variables": {"id": gid}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"order": {
            "id": gid,
            "fulfillmentOrders": {"nodes": fos, "pageInfo": {"hasNextPage": false, "endCursor": null}}
        }}})))
        .with_priority(1)
        .named("the order's fulfillment orders")
        .mount(&env.shopify)
        .await;
}

/// `(channel_line_id, sku, quantity)` of an order message's lines.
fn lines(message: &Value) -> Vec<(String, String, u64)> {
    message["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["channel_line_id"].as_str().unwrap().to_owned(),
                l["sku"].as_str().unwrap_or_default().to_owned(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn line(id: &str, sku: &str, quantity: u64) -> (String, String, u64) {
    (id.to_owned(), sku.to_owned(), quantity)
}

/// GIVEN a connection fulfilling from location 1 WHEN an order arrives with one line assigned
/// there and one at location 2 THEN only our line is imported; WHEN the WMS dispatches it
/// THEN `fulfillmentCreate` fulfils only our location's fulfillment order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_order_imports_only_our_line_and_tracking_fulfils_only_ours() {
    let env = env(2).await;
    mount_fulfillment_orders(
        &env,
        7001,
        vec![
            fulfillment_order(71, HERE, vec![fo_line(11, "TS-001", 2)]),
            fulfillment_order(72, THERE, vec![fo_line(12, "TS-002", 1)]),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(body_string_contains("ChannelSyncOrderFulfillments"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"order": {
            "id": "gid://shopify/Order/7001", "fulfillments": []}}})),
        )
        .with_priority(1)
        .named("the order's fulfillments")
        .mount(&env.shopify)
        .await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(body_string_contains("ChannelSyncFulfillmentCreate"))
        .and(body_partial_json(json!({"variables": {"fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/71",
                "fulfillmentOrderLineItems": [{"id": "gid://shopify/FulfillmentOrderLineItem/11", "quantity": 2}]}]
        }}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"fulfillmentCreate": {
            "fulfillment": {"id": "gid://shopify/Fulfillment/701", "status": "SUCCESS"}, "userErrors": []}}})))
        .with_priority(1)
        .expect(1)
        .named("fulfillmentCreate for our location")
        .mount(&env.shopify)
        .await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    let connection = connect(&client, &runner, &env, json!({"fulfilment_location": HERE})).await;

    deliver(
        &client,
        &runner,
        &env,
        rest_order(7001, &[(11, "TS-001", 2), (12, "TS-002", 1)]),
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "order.imported");
    assert_eq!(lines(&messages[0]), [line("11", "TS-001", 2)]);
    assert_eq!(messages[0]["hold_reasons"], json!([]));
    // What import by assignment costs: one fulfillment-order read for the order (one page
    // here), and no read of the shop's locations (the location is the connection's).
    let bodies: Vec<String> = env
        .shopify
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let count = |operation: &str| bodies.iter().filter(|b| b.contains(operation)).count();
    assert_eq!(count("ChannelSyncFulfillmentOrders"), 1);
    assert_eq!(count("ChannelSyncLocations"), 0);

    let shipment = json!({"type": "shipment.dispatched", "tenant": "dev", "connection": connection,
        "channel_order_id": "7001", "carrier": "DHL Express", "tracking_number": "JD0000701",
        "tracking_url": "https://track.example/JD0000701"});
    let posted = client
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(&env.token)
        .json(&shipment)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let messages = settled(&client, &runner, &env.token, 2).await;
    assert_eq!(messages[1]["type"], "tracking.exported", "{messages:?}");
    assert_eq!(
        messages[1]["fulfillments"],
        json!(["gid://shopify/Fulfillment/701"])
    );
    // Nothing was ever sent for the other location's fulfillment order.
    let creates: Vec<String> = env
        .shopify
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .filter(|b| b.contains("ChannelSyncFulfillmentCreate"))
        .collect();
    assert_eq!(creates.len(), 1);
    assert!(
        !creates[0].contains("FulfillmentOrder/72"),
        "{}",
        creates[0]
    );
    stop(runner);
    env.shopify.verify().await;
}

/// GIVEN a connection fulfilling from location 1 WHEN an order assigned wholly to location 2
/// arrives (twice) THEN nothing reaches the WMS, and the connection counts it once under
/// `orders_for_other_locations`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_wholly_at_another_location_sends_nothing_and_is_counted() {
    let env = env(2).await;
    mount_fulfillment_orders(
        &env,
        7002,
        vec![fulfillment_order(73, THERE, vec![fo_line(21, "TS-001", 1)])],
    )
    .await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    let connection = connect(&client, &runner, &env, json!({"fulfilment_location": HERE})).await;
    let order = rest_order(7002, &[(21, "TS-001", 1)]);
    deliver(&client, &runner, &env, order.clone()).await;
    deliver(&client, &runner, &env, order).await;
    assert_eq!(
        settled(&client, &runner, &env.token, 0).await,
        Vec::<Value>::new()
    );
    let shown = get_json(
        &client,
        format!("{}/api/connections/{connection}", runner.base),
        &env.token,
    )
    .await;
    let others = &shown["orders_for_other_locations"];
    assert_eq!(others["count"], 1, "{shown}");
    assert_eq!(others["last_order"], "#7002");
    assert_eq!(others["last_locations"], json!([THERE]));
    stop(runner);
    env.shopify.verify().await;
}

/// GIVEN a shop with two active locations and no fulfilment location chosen WHEN an order
/// arrives THEN it is imported whole, held `no_fulfilment_location` with what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_location_on_a_two_location_shop_holds_the_order() {
    let env = env(2).await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    connect(&client, &runner, &env, json!({})).await;
    deliver(
        &client,
        &runner,
        &env,
        rest_order(7003, &[(31, "TS-001", 1), (32, "TS-002", 2)]),
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        lines(&messages[0]),
        [line("31", "TS-001", 1), line("32", "TS-002", 2)]
    );
    let holds = messages[0]["hold_reasons"].as_array().unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0]["code"], "no_fulfilment_location");
    assert!(
        holds[0]["detail"]
            .as_str()
            .unwrap()
            .contains("fulfilment_location"),
        "{holds:?}"
    );
    stop(runner);
    env.shopify.verify().await;
}

/// GIVEN a connection fulfilling from location 1 and a split order whose webhook was lost
/// WHEN the reconciliation poll finds it THEN only our line is imported, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_imports_only_our_part_of_a_missed_order() {
    let env = env(2).await;
    mount_fulfillment_orders(
        &env,
        7004,
        vec![
            fulfillment_order(74, THERE, vec![fo_line(41, "TS-001", 1)]),
            fulfillment_order(75, HERE, vec![fo_line(42, "TS-002", 3)]),
        ],
    )
    .await;
    let node = json!({
        "id": "gid://shopify/Order/7004", "legacyResourceId": "7004", "name": "#7004",
        "createdAt": "2026-11-27T08:00:00Z", "updatedAt": "2099-01-01T00:00:00Z",
        "cancelledAt": null, "displayFinancialStatus": "PAID",
        "paymentGatewayNames": ["shopify_payments"], "test": false, "currencyCode": "EUR",
        "email": null,
        "shippingAddress": {"name": "Ada", "firstName": null, "lastName": null, "company": null,
            "address1": "1 Main St", "address2": null, "city": "Dublin", "provinceCode": null,
            "zip": "D01", "countryCodeV2": "IE", "phone": null},
        "lineItems": {"nodes": [
            {"id": "gid://shopify/LineItem/41", "sku": "TS-001", "quantity": 1, "name": "Tee",
                "requiresShipping": true},
            {"id": "gid://shopify/LineItem/42", "sku": "TS-002", "quantity": 3, "name": "Mug",
                "requiresShipping": true}
        ], "pageInfo": {"hasNextPage": false}}
    });
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncOrdersUpdatedSince"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"orders": {
            "nodes": [node], "pageInfo": {"hasNextPage": false, "endCursor": null}}}})),
        )
        .with_priority(1)
        .named("the poll")
        .mount(&env.shopify)
        .await;
    let client = reqwest::Client::new();
    let runner = start(&env, "1");
    connect(&client, &runner, &env, json!({"fulfilment_location": HERE})).await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    // Later polls find it known and add nothing.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(outbox(&client, &runner, &env.token).await, messages);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "order.imported");
    assert_eq!(lines(&messages[0]), [line("42", "TS-002", 3)]);
    stop(runner);
    env.shopify.verify().await;
}

/// GIVEN the dashboard's install form WHEN the merchant types the store's slug, its
/// myshopify.com domain or its admin URL THEN the grant screen is the myshopify domain's;
/// anything else is a 422 saying which forms are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_starts_from_a_slug_a_domain_or_the_admin_url() {
    let env = env(1).await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    let start_with = |shop: &str| {
        client
            .post(format!("{}/api/oauth/shopify/start", runner.base))
            .bearer_auth(&env.token)
            .json(&json!({ "shop": shop }))
            .send()
    };
    for typed in [
        "adam-testing-store",
        "adam-testing-store.myshopify.com",
        "https://admin.shopify.com/store/adam-testing-store",
    ] {
        let answer = start_with(typed).await.unwrap();
        assert_eq!(answer.status(), 200, "{typed}");
        let body: Value = answer.json().await.unwrap();
        let url = body["authorize_url"].as_str().unwrap();
        assert!(
            url.starts_with("https://adam-testing-store.myshopify.com/admin/oauth/authorize?"),
            "{typed}: {url}"
        );
    }
    for typed in [
        "adam testing store",
        "shop.example.com",
        "https://admin.shopify.com/settings",
    ] {
        let answer = start_with(typed).await.unwrap();
        assert_eq!(answer.status(), 422, "{typed}");
        let body = answer.text().await.unwrap();
        for form in [
            "adam-testing-store",
            "adam-testing-store.myshopify.com",
            "https://admin.shopify.com/store/adam-testing-store",
        ] {
            assert!(body.contains(form), "{typed}: {body}");
        }
    }
    stop(runner);
}

// ---- Following Shopify's fulfillment-order moves (issue 20, part 2) ----------------------

/// A fulfillment order as the fulfillment-order read returns it, with its `requestStatus` and
/// `updatedAt` (part of the order's version). Lines `(item, sku, remaining, total)`.
fn fo_at(
    id: u64,
    location: &str,
    lines: &[(u64, &str, u32, u32)],
    request: &str,
    updated: &str,
) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(item, sku, remaining, total)| {
            json!({"id": format!("gid://shopify/FulfillmentOrderLineItem/{item}"),
                "remainingQuantity": remaining, "totalQuantity": total,
                "lineItem": {"id": format!("gid://shopify/LineItem/{item}"), "sku": sku}})
        })
        .collect();
    json!({"id": format!("gid://shopify/FulfillmentOrder/{id}"), "status": "OPEN",
        "requestStatus": request, "updatedAt": updated,
        "assignedLocation": {"location": {"id": location}},
        "lineItems": {"nodes": lines, "pageInfo": {"hasNextPage": false, "endCursor": null}}})
}

/// Shopify's fulfillment orders of one order as they are now: the test changes them with
/// [`FoState::set`] (a move), and every read answers the current ones.
#[derive(Clone)]
struct FoState {
    order: String,
    fos: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl FoState {
    fn set(&self, fos: Vec<Value>) {
        *self.fos.lock().unwrap() = fos;
    }
}

impl wiremock::Respond for FoState {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let fos = self.fos.lock().unwrap().clone();
        ResponseTemplate::new(200).set_body_json(json!({"data": {"order": {
            "id": self.order,
            "fulfillmentOrders": {"nodes": fos, "pageInfo": {"hasNextPage": false, "endCursor": null}}
        }}}))
    }
}

/// Answers the fulfillment-order read of `order` with `fos` until the test sets others.
async fn fo_state(env: &Env, order: u64, fos: Vec<Value>) -> FoState {
    let gid = format!("gid://shopify/Order/{order}");
    let state = FoState {
        order: gid.clone(),
        fos: std::sync::Arc::new(std::sync::Mutex::new(fos)),
    };
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncFulfillmentOrders("))
        .and(body_partial_json(json!({"variables": {"id": gid}})))
        .respond_with(state.clone())
        .with_priority(1)
        .named(format!("the fulfillment orders of {order}"))
        .mount(&env.shopify)
        .await;
    state
}

/// The re-read of an event's fulfillment orders: `fos` resolve to `order`, which reads as the
/// GraphQL order node with `lines` and the order's own `updatedAt` unchanged (09:00).
async fn mount_reread(env: &Env, fos: &[u64], order: u64, lines: &[(u64, &str, u32)]) {
    let ids: Vec<String> = fos
        .iter()
        .map(|n| format!("gid://shopify/FulfillmentOrder/{n}"))
        .collect();
    let gid = format!("gid://shopify/Order/{order}");
    let nodes: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "order": {"id": gid}}))
        .collect();
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncFulfillmentOrdersOrder"))
        .and(body_partial_json(json!({"variables": {"ids": ids}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"nodes": nodes}})))
        .with_priority(1)
        .named(format!("the order of fulfillment orders {fos:?}"))
        .mount(&env.shopify)
        .await;
    let items: Vec<Value> = lines
        .iter()
        .map(|(line, sku, q)| {
            json!({"id": format!("gid://shopify/LineItem/{line}"), "sku": sku, "quantity": q,
                "name": sku, "requiresShipping": true})
        })
        .collect();
    let node = json!({
        "id": gid, "legacyResourceId": order.to_string(), "name": format!("#{order}"),
        "createdAt": "2026-11-27T08:00:00Z", "updatedAt": "2026-11-28T09:00:00Z",
        "cancelledAt": null, "displayFinancialStatus": "PAID",
        "paymentGatewayNames": ["shopify_payments"], "test": false, "currencyCode": "EUR",
        "email": null,
        "shippingAddress": {"name": "Ada Lovelace", "firstName": null, "lastName": null,
            "company": null, "address1": "1 Main Street", "address2": null, "city": "Dublin",
            "provinceCode": null, "zip": "D01", "countryCodeV2": "IE", "phone": null},
        "lineItems": {"nodes": items, "pageInfo": {"hasNextPage": false}}
    });
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncOrder("))
        .and(body_partial_json(json!({"variables": {"id": gid}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"order": node}})))
        .with_priority(1)
        .named(format!("the order {order}"))
        .mount(&env.shopify)
        .await;
}

/// Posts one signed webhook of `topic` with delivery id `webhook_id`.
async fn deliver_topic(
    client: &reqwest::Client,
    runner: &Runner,
    env: &Env,
    topic: &str,
    body: &Value,
    webhook_id: &str,
) {
    let body = serde_json::to_vec(body).unwrap();
    let signature = shared::channels::shopify::sign(&env.secret, &body);
    let response = client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("content-type", "application/json")
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Webhook-Id", webhook_id)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{topic}");
}

/// The `fulfillment_orders/moved` payload of a whole fulfillment order `fo` moved `from` → `to`.
fn moved(fo: u64, from: &str, to: &str) -> Value {
    let gid = format!("gid://shopify/FulfillmentOrder/{fo}");
    json!({
        "original_fulfillment_order": {"id": gid, "status": "open", "assigned_location_id": to},
        "moved_fulfillment_order": {"id": gid, "status": "open", "assigned_location_id": to},
        "destination_location_id": to,
        "fulfillment_order_line_items_requested": null,
        "source_location": {"id": from}
    })
}

/// GIVEN an order split between our location and another, imported with our line WHEN the
/// other location's fulfillment order moves to ours (the order's own `updatedAt` unchanged)
/// THEN the WMS gets `order.updated` with both lines; WHEN the move is delivered again (the
/// same delivery, and a second delivery of the same state) THEN nothing new is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_to_our_location_sends_the_new_line_and_a_redelivery_nothing() {
    let env = env(2).await;
    let shopify = fo_state(
        &env,
        7010,
        vec![
            fo_at(
                101,
                HERE,
                &[(11, "TS-001", 1, 1)],
                "UNSUBMITTED",
                "2026-11-28T08:30:00Z",
            ),
            fo_at(
                102,
                THERE,
                &[(12, "TS-002", 2, 2)],
                "UNSUBMITTED",
                "2026-11-28T08:30:00Z",
            ),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    connect(&client, &runner, &env, json!({"fulfilment_location": HERE})).await;
    let order = rest_order(7010, &[(11, "TS-001", 1), (12, "TS-002", 2)]);
    deliver(&client, &runner, &env, order).await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(messages[0]["type"], "order.imported", "{messages:?}");
    assert_eq!(lines(&messages[0]), [line("11", "TS-001", 1)]);

    // The merchant moves the other location's fulfillment order to ours.
    shopify.set(vec![
        fo_at(
            101,
            HERE,
            &[(11, "TS-001", 1, 1)],
            "UNSUBMITTED",
            "2026-11-28T08:30:00Z",
        ),
        fo_at(
            102,
            HERE,
            &[(12, "TS-002", 2, 2)],
            "UNSUBMITTED",
            "2026-11-28T10:00:00Z",
        ),
    ]);
    mount_reread(&env, &[102], 7010, &[(11, "TS-001", 1), (12, "TS-002", 2)]).await;
    let event = moved(102, THERE, HERE);
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &event,
        "move-1",
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 2).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["type"], "order.updated");
    assert_eq!(
        lines(&messages[1]),
        [line("11", "TS-001", 1), line("12", "TS-002", 2)]
    );
    assert_eq!(messages[1]["channel_updated_at"], "2026-11-28T10:00:00Z");

    // Shopify retries the same delivery; a second event re-reads the same state.
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &event,
        "move-1",
    )
    .await;
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &event,
        "move-2",
    )
    .await;
    let after = settled(&client, &runner, &env.token, 0).await;
    assert_eq!(after, messages);
    stop(runner);
    env.shopify.verify().await;
}

/// GIVEN an order imported whole from our location WHEN its fulfillment order moves to another
/// location THEN the WMS gets `order.cancelled`; WHEN the order then changes while still
/// elsewhere THEN nothing more is sent; WHEN it moves back THEN `order.updated` brings it back
/// (`cancelled: false`, its line); WHEN it moves away again THEN `order.cancelled` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_away_sends_order_cancelled() {
    let env = env(2).await;
    let state = |at: &str, updated: &str| {
        vec![fo_at(
            111,
            at,
            &[(21, "TS-001", 1, 1)],
            "UNSUBMITTED",
            updated,
        )]
    };
    let shopify = fo_state(&env, 7011, state(HERE, "2026-11-28T08:30:00Z")).await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    connect(&client, &runner, &env, json!({"fulfilment_location": HERE})).await;
    deliver(
        &client,
        &runner,
        &env,
        rest_order(7011, &[(21, "TS-001", 1)]),
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(messages[0]["type"], "order.imported", "{messages:?}");

    shopify.set(state(THERE, "2026-11-28T10:00:00Z"));
    mount_reread(&env, &[111], 7011, &[(21, "TS-001", 1)]).await;
    let event = moved(111, HERE, THERE);
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &event,
        "away-1",
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 2).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["type"], "order.cancelled");
    assert_eq!(messages[1]["channel_order_id"], "7011");
    assert_eq!(messages[1]["channel_updated_at"], "2026-11-28T10:00:00Z");

    // A later change of the order, still wholly elsewhere: nothing for the WMS.
    let mut edited = rest_order(7011, &[(21, "TS-001", 1)]);
    edited["updated_at"] = json!("2026-11-28T11:00:00Z");
    deliver_topic(&client, &runner, &env, "orders/updated", &edited, "edit-1").await;
    let after = settled(&client, &runner, &env.token, 0).await;
    assert_eq!(after, messages);

    // Moved back: the WMS gets the order again, live.
    shopify.set(state(HERE, "2026-11-28T12:00:00Z"));
    let back = moved(111, THERE, HERE);
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &back,
        "back-1",
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 3).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[2]["type"], "order.updated");
    assert_eq!(messages[2]["cancelled"], false);
    assert_eq!(lines(&messages[2]), [line("21", "TS-001", 1)]);

    // And away again: cancelled again (never left live at the warehouse).
    shopify.set(state(THERE, "2026-11-28T13:00:00Z"));
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &event,
        "away-2",
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 4).await;
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert_eq!(messages[3]["type"], "order.cancelled");
    assert_eq!(messages[3]["channel_updated_at"], "2026-11-28T13:00:00Z");
    stop(runner);
    env.shopify.verify().await;
}

/// GIVEN an order wholly at another location (not imported) WHEN its fulfillment order moves
/// to ours THEN it is imported, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_imported_order_moved_to_us_is_imported() {
    let env = env(2).await;
    let shopify = fo_state(
        &env,
        7012,
        vec![fo_at(
            121,
            THERE,
            &[(31, "TS-003", 1, 1)],
            "UNSUBMITTED",
            "2026-11-28T08:30:00Z",
        )],
    )
    .await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    connect(&client, &runner, &env, json!({"fulfilment_location": HERE})).await;
    deliver(
        &client,
        &runner,
        &env,
        rest_order(7012, &[(31, "TS-003", 1)]),
    )
    .await;
    assert!(settled(&client, &runner, &env.token, 0).await.is_empty());

    shopify.set(vec![fo_at(
        121,
        HERE,
        &[(31, "TS-003", 1, 1)],
        "UNSUBMITTED",
        "2026-11-28T10:00:00Z",
    )]);
    mount_reread(&env, &[121], 7012, &[(31, "TS-003", 1)]).await;
    let event = moved(121, THERE, HERE);
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &event,
        "here-1",
    )
    .await;
    deliver_topic(
        &client,
        &runner,
        &env,
        "fulfillment_orders/moved",
        &event,
        "here-2",
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "order.imported");
    assert_eq!(lines(&messages[0]), [line("31", "TS-003", 1)]);
    stop(runner);
    env.shopify.verify().await;
}

/// GIVEN two imported orders whose fulfillment orders sit at our (fulfillment-service)
/// location WHEN the merchant requests cancellation of each THEN the one Shopify lets us answer
/// is accepted (nothing was shipped) and the WMS gets `order.cancelled`; the one Shopify does
/// not let us answer reaches the WMS as `order.updated` with a `not_ready` hold naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_request_is_answered_or_recorded_for_the_wms() {
    let env = env(2).await;
    let mut states = Vec::new();
    for (order, fo, item) in [(7013, 131, 41), (7014, 141, 51)] {
        states.push(
            fo_state(
                &env,
                order,
                vec![fo_at(
                    fo,
                    HERE,
                    &[(item, "TS-004", 1, 1)],
                    "ACCEPTED",
                    "2026-11-28T08:30:00Z",
                )],
            )
            .await,
        );
    }
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    connect(&client, &runner, &env, json!({"fulfilment_location": HERE})).await;
    deliver(
        &client,
        &runner,
        &env,
        rest_order(7013, &[(41, "TS-004", 1)]),
    )
    .await;
    deliver(
        &client,
        &runner,
        &env,
        rest_order(7014, &[(51, "TS-004", 1)]),
    )
    .await;
    let messages = settled(&client, &runner, &env.token, 2).await;
    assert_eq!(messages.len(), 2, "{messages:?}");

    for ((order, fo, item), state) in [(7013, 131, 41), (7014, 141, 51)].into_iter().zip(&states) {
        state.set(vec![fo_at(
            fo,
            HERE,
            &[(item, "TS-004", 1, 1)],
            "CANCELLATION_REQUESTED",
            "2026-11-28T10:00:00Z",
        )]);
        mount_reread(&env, &[fo], order, &[(item, "TS-004", 1)]).await;
    }
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncAcceptCancellation"))
        .and(body_partial_json(
            json!({"variables": {"id": "gid://shopify/FulfillmentOrder/131"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "fulfillmentOrderAcceptCancellationRequest": {
                "fulfillmentOrder": {"id": "gid://shopify/FulfillmentOrder/131", "status": "OPEN",
                    "requestStatus": "CANCELLATION_ACCEPTED"},
                "userErrors": []}}})))
        .with_priority(1)
        .expect(1)
        .named("accept the cancellation of 131")
        .mount(&env.shopify)
        .await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncAcceptCancellation"))
        .and(body_partial_json(json!({"variables": {"id": "gid://shopify/FulfillmentOrder/141"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "fulfillmentOrderAcceptCancellationRequest": {"fulfillmentOrder": null,
                "userErrors": [{"field": ["id"],
                    "message": "The fulfillment order is not assigned to your fulfillment service"}]}}})))
        .with_priority(1)
        .expect(1)
        .named("the cancellation of 141 is not ours to answer")
        .mount(&env.shopify)
        .await;
    for (fo, id) in [(131, "cancel-131"), (141, "cancel-141")] {
        let event = json!({
            "fulfillment_order": {"id": format!("gid://shopify/FulfillmentOrder/{fo}"),
                "status": "in_progress", "request_status": "cancellation_requested"},
            "fulfillment_order_merchant_request": {"id": "gid://shopify/FulfillmentOrderMerchantRequest/1",
                "message": "The customer changed their mind"}
        });
        deliver_topic(
            &client,
            &runner,
            &env,
            "fulfillment_orders/cancellation_request_submitted",
            &event,
            id,
        )
        .await;
    }
    let messages = settled(&client, &runner, &env.token, 4).await;
    assert_eq!(messages.len(), 4, "{messages:?}");
    let of = |id: &str| -> Vec<&Value> {
        messages[2..]
            .iter()
            .filter(|m| m["channel_order_id"] == id)
            .collect()
    };
    assert_eq!(of("7013").len(), 1);
    assert_eq!(of("7013")[0]["type"], "order.cancelled");
    assert_eq!(of("7014").len(), 1);
    let updated = of("7014")[0];
    assert_eq!(updated["type"], "order.updated");
    assert_eq!(lines(updated), [line("51", "TS-004", 1)]);
    let holds = updated["hold_reasons"].as_array().unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0]["code"], "not_ready");
    let detail = holds[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("FulfillmentOrder/141") && detail.contains("not assigned to your"),
        "{detail}"
    );
    stop(runner);
    env.shopify.verify().await;
}
