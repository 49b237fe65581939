//! Black-box tests of `channel-sync serve` for Shopify stores connected with a custom app's
//! Admin API token: their webhooks are verified with that app's own API secret key (never
//! another connection's), they are subscribed with the store's token, and a shop with one
//! active location needs no location setting before its first Sync now.

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_string_contains, header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::{connected, fake, get_json, outbox, patch_settings, spawn_shopify, stop, Runner};
use local::fakes::shopify as fakes;

const SHOP_A: &str = "custom-a.myshopify.com";
const SHOP_B: &str = "custom-b.myshopify.com";
const TOKEN_A: &str = "shpat_fake_custom_a";
const TOKEN_B: &str = "shpat_fake_custom_b";

struct Env {
    data: tempfile::TempDir,
    token: String,
    shopify: MockServer,
}

/// A fake Shopify that knows two shops by their tokens and refuses anything else (401).
async fn env() -> Env {
    let shopify = MockServer::start().await;
    for (shop, token, name) in [(SHOP_A, TOKEN_A, "Shop A"), (SHOP_B, TOKEN_B, "Shop B")] {
        fakes::shop_check(shop, token, name).mount(&shopify).await;
    }
    common::mount_one_location(&shopify).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&shopify)
        .await;
    Env {
        data: tempfile::tempdir().unwrap(),
        token: fake("cs_dev"),
        shopify,
    }
}

fn start(env: &Env) -> Runner {
    let api_base = env.shopify.uri();
    // Our public app's secret is configured too: a custom app's delivery must not need it.
    let app_secret = fake("shpss");
    spawn_shopify(env.data.path(), &env.token, &app_secret, &api_base, &[])
}

/// The fulfillment-order topics subscribed after the order topics.
fn fo_topics() -> u64 {
    shared::channels::shopify::FULFILLMENT_ORDER_SUBSCRIPTIONS.len() as u64
}

/// Subscriptions listed and created with `token` only (a test fails on drop if the count of
/// creations differs).
async fn mount_subscriptions(env: &Env, token: &str, creations: u64) {
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", token))
        .and(body_string_contains("ChannelSyncWebhookSubscriptions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"webhookSubscriptions": {
                "nodes": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}}})),
        )
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", token))
        .and(body_string_contains("ChannelSyncCreateWebhook"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": {"webhookSubscriptionCreate": {
                "webhookSubscription": {"id": "gid://shopify/WebhookSubscription/9",
                    "topic": "ORDERS_CREATE", "uri": "x"},
                "userErrors": []}}}),
        ))
        .with_priority(1)
        .expect(creations)
        .named(format!("subscriptions created with {token}"))
        .mount(&env.shopify)
        .await;
}

async fn connect(client: &reqwest::Client, runner: &Runner, env: &Env, form: Value) -> Value {
    connected(client, runner, &env.token, &form).await
}

fn delivery(
    client: &reqwest::Client,
    runner: &Runner,
    secret: &str,
    shop: &str,
    id: &str,
    body: &[u8],
) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("content-type", "application/json")
        .header(
            "X-Shopify-Hmac-Sha256",
            shared::channels::shopify::sign(secret, body),
        )
        .header("X-Shopify-Shop-Domain", shop)
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", id)
        .body(body.to_vec())
}

/// GIVEN two shops connected with custom-app tokens, each with its app's API secret key WHEN
/// shop A's order is delivered signed with A's key (twice), and again signed with B's key
/// THEN the first is imported exactly once, the one signed with the other connection's key is
/// 401, and both shops were subscribed to our topics with their own tokens at connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_app_store_gets_its_webhooks_verified_with_its_own_secret() {
    let env = env().await;
    mount_subscriptions(&env, TOKEN_A, 4 + fo_topics()).await;
    mount_subscriptions(&env, TOKEN_B, 4 + fo_topics()).await;
    let runner = start(&env);
    let client = reqwest::Client::new();
    let secret_a = fake("custom_app_secret_a");
    let secret_b = fake("custom_app_secret_b");
    let a = connect(
        &client,
        &runner,
        &env,
        json!({"channel": "shopify", "shop_domain": SHOP_A, "access_token": TOKEN_A,
            "api_secret_key": secret_a}),
    )
    .await;
    assert_eq!(
        a["webhooks"]["created"].as_array().unwrap().len() as u64,
        4 + fo_topics(),
        "{a}"
    );
    let b = connect(
        &client,
        &runner,
        &env,
        json!({"channel": "shopify", "shop_domain": SHOP_B, "access_token": TOKEN_B,
            "api_secret_key": secret_b}),
    )
    .await;
    assert_eq!(
        b["webhooks"]["created"].as_array().unwrap().len() as u64,
        4 + fo_topics(),
        "{b}"
    );
    // The key is never shown back.
    assert!(!a.to_string().contains(&secret_a));

    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/shopify-order-5kb.json"),
    )
    .unwrap();
    for _ in 0..2 {
        let answer = delivery(&client, &runner, &secret_a, SHOP_A, "wh-custom-1", &body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let foreign = delivery(&client, &runner, &secret_b, SHOP_A, "wh-custom-2", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 401);
    let unsigned = delivery(
        &client,
        &runner,
        "not-a-secret",
        SHOP_A,
        "wh-custom-3",
        &body,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(unsigned.status(), 401);

    let deadline = Instant::now() + Duration::from_secs(15);
    let imported = loop {
        let imported: Vec<Value> = outbox(&client, &runner, &env.token)
            .await
            .into_iter()
            .filter(|m| m["type"] == "order.imported")
            .collect();
        if !imported.is_empty() {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            break outbox(&client, &runner, &env.token)
                .await
                .into_iter()
                .filter(|m| m["type"] == "order.imported")
                .collect::<Vec<_>>();
        }
        assert!(
            Instant::now() < deadline,
            "the order never reached the outbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert_eq!(imported[0]["connection"], a["id"]);
    stop(runner);
}

/// GIVEN a token connection without the app's secret on a shop with one active location WHEN
/// inventory sync is switched to daily with no location and Sync now runs THEN the connection
/// says its webhooks are off and which location it uses, and the first Sync now pushes the
/// WMS stock to that location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_location_shop_pushes_stock_on_its_first_sync_now_with_no_settings() {
    let env = env().await;
    fakes::variants(TOKEN_A, vec![fakes::variant(1, "TS-001")])
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", TOKEN_A))
        .and(body_string_contains("ChannelSyncSetAvailable"))
        .and(body_string_contains("gid://shopify/Location/1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"inventorySetQuantities": {
                "inventoryAdjustmentGroup": null, "userErrors": []}}})),
        )
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    let runner = start(&env);
    let client = reqwest::Client::new();
    let created = connect(
        &client,
        &runner,
        &env,
        json!({"channel": "shopify", "shop_domain": SHOP_A, "access_token": TOKEN_A}),
    )
    .await;
    assert_eq!(
        created["webhooks"],
        "webhooks off: add the app's API secret key for instant orders"
    );
    let id = created["id"].as_str().unwrap();
    let url = format!("{}/api/connections/{id}", runner.base);
    let shown = get_json(&client, &url, &env.token).await;
    let notes = shown["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n == "webhooks off: add the app's API secret key for instant orders"),
        "{shown}"
    );
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("only active location, 3PL Warehouse (gid://shopify/Location/1)")),
        "{shown}"
    );
    assert!(shown["settings"]["inventory_location"].is_null());

    let accepted = client
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(&env.token)
        .json(
            &json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001",
            "available": 7, "at": "2026-11-27T10:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let patched = patch_settings(
        &client,
        &runner,
        &env.token,
        id,
        json!({"inventory_sync": "daily"}),
    )
    .await;
    assert_eq!(patched.status(), 200);

    // Sync now until the push went out (the stock message may still be on its way).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pushed = env
            .shopify
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|r| {
                let body = String::from_utf8_lossy(&r.body);
                body.contains("ChannelSyncSetAvailable")
                    && body.contains("gid://shopify/InventoryItem/1001")
                    && body.contains("\"quantity\":7")
            });
        if pushed {
            break;
        }
        assert!(Instant::now() < deadline, "the stock was never pushed");
        let sync = client
            .post(format!("{url}/sync"))
            .bearer_auth(&env.token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(
            sync.status().is_success() || sync.status() == 409,
            "Sync now answered {}",
            sync.status()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop(runner);
}
