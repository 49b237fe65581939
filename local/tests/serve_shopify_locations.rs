//! Black-box tests of `channel-sync serve`: Shopify orders are imported by assignment. Only the
//! lines of fulfillment orders assigned to the connection's `fulfilment_location` reach the WMS
//! (and tracking fulfils only those); an order wholly at another location sends nothing and is
//! counted on the connection; a shop with two locations and none chosen gets its orders held
//! `no_fulfilment_location`; the reconciliation poll applies the same rule. The real binary on a
//! free port, a `wiremock` Shopify behind `SHOPIFY_API_BASE` that refuses anything unexpected.

mod common;

use common::{fake, outbox, spawn, stop, Runner};
use local::fakes::shopify::{self as fakes, rest_order};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
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
    spawn(
        env.data.path(),
        &env.token,
        &[
            ("SHOPIFY_CLIENT_SECRET", &env.secret),
            ("SHOPIFY_CLIENT_ID", "fake-client-id"),
            ("SHOPIFY_API_BASE", &api_base),
            ("CHANNEL_SYNC_RECONCILE_SECS", reconcile_secs),
        ],
    )
}

/// Connects the store with `settings`; returns the connection id.
async fn connect(client: &reqwest::Client, runner: &Runner, env: &Env, settings: Value) -> String {
    let created = client
        .post(format!("{}/api/connections", runner.base))
        .bearer_auth(&env.token)
        .json(
            &json!({"channel": "shopify", "shop_domain": SHOP, "access_token": TOKEN,
            "settings": settings}),
        )
        .send()
        .await
        .unwrap();
    let status = created.status();
    let connection: Value = created.json().await.unwrap();
    assert_eq!(status, 201, "{connection}");
    connection["id"].as_str().unwrap().to_owned()
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

/// The outbox once `wanted` messages are there (a little longer, so a duplicate would show),
/// or after 3 s when none are expected.
async fn settled(
    client: &reqwest::Client,
    runner: &Runner,
    env: &Env,
    wanted: usize,
) -> Vec<Value> {
    if wanted == 0 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return outbox(client, runner, &env.token).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if outbox(client, runner, &env.token).await.len() >= wanted {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            return outbox(client, runner, &env.token).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the outbox never reached {wanted} messages: {:?}",
        outbox(client, runner, &env.token).await
    );
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
    let messages = settled(&client, &runner, &env, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "order.imported");
    assert_eq!(lines(&messages[0]), [line("11", "TS-001", 2)]);
    assert_eq!(messages[0]["hold_reasons"], json!([]));

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
    let messages = settled(&client, &runner, &env, 2).await;
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
        settled(&client, &runner, &env, 0).await,
        Vec::<Value>::new()
    );
    let shown: Value = client
        .get(format!("{}/api/connections/{connection}", runner.base))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let messages = settled(&client, &runner, &env, 1).await;
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
    let messages = settled(&client, &runner, &env, 1).await;
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
