//! Black-box tests of `channel-sync serve`: Shopify orders wait for payment, as on every other
//! channel (cash on delivery excepted), by webhook and by the reconciliation poll, unless the
//! merchant turns `import_unpaid` on. The real binary on a free port, a `wiremock` Shopify
//! behind `SHOPIFY_API_BASE` that fails any call it does not expect.

mod common;

use common::{
    connected_id, get_json, outbox, patch_settings, settled, shopify_form, spawn_shopify, stop,
    strict_shopify, wait_for_message, Runner, ShopifyEnv,
};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

const SHOP: &str = "pay-shop.myshopify.com";
const TOKEN: &str = "shpat_fake_payment_token";
const GRAPHQL: &str = "/admin/api/2026-10/graphql.json";

type Env = ShopifyEnv;

async fn env() -> Env {
    let env = strict_shopify(SHOP, TOKEN, "Pay Shop").await;
    common::mount_one_location(&env.shopify).await;
    env
}

fn start(env: &Env, reconcile_secs: &str) -> Runner {
    let api_base = env.shopify.uri();
    let extra = [("CHANNEL_SYNC_RECONCILE_SECS", reconcile_secs)];
    spawn_shopify(env.data.path(), &env.token, &env.secret, &api_base, &extra)
}

/// Connects the store; returns the connection id.
async fn connect(client: &reqwest::Client, runner: &Runner, env: &Env) -> String {
    connected_id(client, runner, &env.token, &shopify_form(SHOP, TOKEN)).await
}

/// A REST order payload as Shopify's order webhooks send it.
fn rest_order(id: u64, updated_at: &str, financial_status: &str, gateways: &[&str]) -> Value {
    json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{id}"), "order_number": id,
        "created_at": "2026-11-27T08:00:00Z", "updated_at": updated_at, "cancelled_at": null,
        "financial_status": financial_status, "payment_gateway_names": gateways,
        "currency": "EUR", "test": false, "email": "ada@example.com",
        "line_items": [{"id": 1, "sku": "TS-001", "quantity": 1, "name": "Tee",
            "requires_shipping": true}],
        "shipping_address": {"name": "Ada Lovelace", "address1": "1 Main Street",
            "city": "Dublin", "zip": "D01", "country_code": "IE"}
    })
}

/// The same order as a GraphQL node of the poll.
fn gql_order(id: u64, updated_at: &str, financial_status: &str, gateways: &[&str]) -> Value {
    json!({
        "id": format!("gid://shopify/Order/{id}"), "legacyResourceId": id.to_string(),
        "name": format!("#{id}"), "createdAt": "2026-11-27T08:00:00Z", "updatedAt": updated_at,
        "cancelledAt": null, "displayFinancialStatus": financial_status,
        "paymentGatewayNames": gateways, "test": false, "currencyCode": "EUR",
        "email": "ada@example.com",
        "shippingAddress": {"name": "Ada Lovelace", "firstName": null, "lastName": null,
            "company": null, "address1": "1 Main Street", "address2": null, "city": "Dublin",
            "provinceCode": null, "zip": "D01", "countryCodeV2": "IE", "phone": null},
        "lineItems": {"nodes": [{"id": "gid://shopify/LineItem/1", "sku": "TS-001",
            "quantity": 1, "name": "Tee", "requiresShipping": true}],
            "pageInfo": {"hasNextPage": false}}
    })
}

/// Posts one signed order webhook; asserts Shopify would see it accepted.
async fn deliver(client: &reqwest::Client, runner: &Runner, env: &Env, topic: &str, order: Value) {
    let body = serde_json::to_vec(&order).unwrap();
    let signature = shared::channels::shopify::sign(&env.secret, &body);
    let response = client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("content-type", "application/json")
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Webhook-Id", uuid::Uuid::new_v4().to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{topic}");
}

/// `(type, channel_order_id, financial_status)` of each message.
fn summary(messages: &[Value]) -> Vec<(String, String, String)> {
    messages
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            (s("type"), s("channel_order_id"), s("financial_status"))
        })
        .collect()
}

fn row(kind: &str, id: &str, status: &str) -> (String, String, String) {
    (kind.to_owned(), id.to_owned(), status.to_owned())
}

/// (a) GIVEN a connected store WHEN a pending bank-transfer order's `orders/create` arrives
/// THEN nothing reaches the WMS; WHEN its `orders/paid` and `orders/updated` (the same paid
/// state) arrive THEN it is imported exactly once, paid, with no hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_bank_transfer_order_waits_and_is_imported_once_when_paid() {
    let env = env().await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    connect(&client, &runner, &env).await;

    let created = rest_order(5001, "2026-11-27T08:00:01Z", "pending", &["Bank Deposit"]);
    deliver(&client, &runner, &env, "orders/create", created).await;
    assert_eq!(
        settled(&client, &runner, &env.token, 0).await,
        Vec::<Value>::new()
    );

    let paid = rest_order(5001, "2026-11-28T10:00:00Z", "paid", &["Bank Deposit"]);
    deliver(&client, &runner, &env, "orders/paid", paid.clone()).await;
    deliver(&client, &runner, &env, "orders/updated", paid).await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(
        summary(&messages),
        [row("order.imported", "5001", "paid")],
        "{messages:?}"
    );
    assert_eq!(messages[0]["hold_reasons"], json!([]));
    assert_eq!(messages[0]["channel_updated_at"], "2026-11-28T10:00:00Z");
    stop(runner);
    env.shopify.verify().await;
}

/// (b) GIVEN a connected store and no webhook at all WHEN the poll first finds the order
/// pending THEN nothing reaches the WMS; WHEN a later poll finds it paid THEN it is imported
/// exactly once, however many polls follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_leaves_a_pending_order_and_imports_it_once_paid() {
    let env = env().await;
    let orders = |node: Value| {
        ResponseTemplate::new(200).set_body_json(json!({"data": {"orders": {
            "nodes": [node], "pageInfo": {"hasNextPage": false, "endCursor": null}}}}))
    };
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncOrdersUpdatedSince"))
        .respond_with(orders(gql_order(
            6001,
            "2099-01-01T00:00:00Z",
            "PENDING",
            &["Bank Deposit"],
        )))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .named("first poll: pending")
        .mount(&env.shopify)
        .await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("ChannelSyncOrdersUpdatedSince"))
        .respond_with(orders(gql_order(
            6001,
            "2099-01-01T00:10:00Z",
            "PAID",
            &["Bank Deposit"],
        )))
        .expect(1..)
        .with_priority(2)
        .named("later polls: paid")
        .mount(&env.shopify)
        .await;
    let client = reqwest::Client::new();
    let runner = start(&env, "1");
    connect(&client, &runner, &env).await;

    let messages = settled(&client, &runner, &env.token, 1).await;
    // Two more polls: they find the order known and add nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(outbox(&client, &runner, &env.token).await, messages);
    // Imported from the paid state: the pending one (served first) imported nothing.
    assert_eq!(
        summary(&messages),
        [row("order.imported", "6001", "paid")],
        "{messages:?}"
    );
    assert_eq!(messages[0]["channel_updated_at"], "2099-01-01T00:10:00Z");
    stop(runner);
    env.shopify.verify().await;
}

/// (c) A pending cash-on-delivery order is paid at the door: imported at once, as pending,
/// with no hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_cash_on_delivery_order_imports_at_once() {
    imported_at_once(5002, "pending", &["Cash on Delivery (COD)"]).await;
}

/// (d) An authorized order (payment validated, to be captured) imports at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorized_order_imports_at_once() {
    imported_at_once(5003, "authorized", &["shopify_payments"]).await;
}

/// GIVEN a connected store WHEN order `id` (`financial_status`, paid through `gateways`) is
/// delivered THEN it is imported at once, with that financial status and no hold.
async fn imported_at_once(id: u64, financial_status: &str, gateways: &[&str]) {
    let env = env().await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    connect(&client, &runner, &env).await;

    let order = rest_order(id, "2026-11-27T08:00:01Z", financial_status, gateways);
    deliver(&client, &runner, &env, "orders/create", order).await;
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(
        summary(&messages),
        [row("order.imported", &id.to_string(), financial_status)]
    );
    assert_eq!(messages[0]["hold_reasons"], json!([]));
    stop(runner);
    env.shopify.verify().await;
}

/// (e) GIVEN a pending order that waits WHEN the merchant turns `import_unpaid` on (PATCH)
/// THEN a new pending order imports at once, and the waiting one with its next update, both
/// with `financial_status: "pending"` and no hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_import_unpaid_on_pending_orders_import_as_pending() {
    let env = env().await;
    let client = reqwest::Client::new();
    let runner = start(&env, "0");
    let id = connect(&client, &runner, &env).await;
    let url = format!("{}/api/connections/{id}", runner.base);

    let waiting = rest_order(5004, "2026-11-27T08:00:01Z", "pending", &["Bank Deposit"]);
    deliver(&client, &runner, &env, "orders/create", waiting).await;
    assert_eq!(
        settled(&client, &runner, &env.token, 0).await,
        Vec::<Value>::new()
    );

    let patch = |settings: Value| patch_settings(&client, &runner, &env.token, &id, settings);
    let bad = patch(json!({"import_unpaid": "yes"})).await;
    assert_eq!(bad.status(), 422);
    let ok = patch(json!({"import_unpaid": true})).await;
    assert_eq!(ok.status(), 200);
    let updated: Value = ok.json().await.unwrap();
    assert_eq!(updated["settings"]["import_unpaid"], true);
    assert_eq!(
        updated["settings"]["inventory_sync"], "disabled",
        "others untouched"
    );

    let fresh = rest_order(5005, "2026-11-27T09:00:00Z", "pending", &["Bank Deposit"]);
    deliver(&client, &runner, &env, "orders/create", fresh).await;
    wait_for_message(&client, &runner, &env.token, |m| {
        m["channel_order_id"] == "5005"
    })
    .await;
    let again = rest_order(5004, "2026-11-27T09:05:00Z", "pending", &["Bank Deposit"]);
    deliver(&client, &runner, &env, "orders/updated", again).await;
    let messages = settled(&client, &runner, &env.token, 2).await;
    assert_eq!(
        summary(&messages),
        [
            row("order.imported", "5005", "pending"),
            row("order.imported", "5004", "pending")
        ],
        "{messages:?}"
    );
    for m in &messages {
        assert_eq!(m["hold_reasons"], json!([]), "{m}");
    }
    let stored = get_json(&client, &url, &env.token).await;
    assert_eq!(
        stored["settings"]["import_unpaid"], true,
        "the setting is kept"
    );
    stop(runner);
    env.shopify.verify().await;
}
