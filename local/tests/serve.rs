//! Black-box tests of `channel-sync serve`: the real binary on a free port, a `wiremock`
//! Shopify behind `SHOPIFY_API_BASE`, driven over HTTP as a WMS or a script would.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::{
    connections, fake, get_json, outbox, patch_settings, post_connection, query_param, settled,
    shopify_form, spawn, spawn_shopify, stop, Runner,
};
use local::fakes::shopify as fakes;

const SHOP: &str = "demo-shop.myshopify.com";

struct Env {
    data: tempfile::TempDir,
    token: String,
    secret: String,
    shopify: MockServer,
}

async fn env() -> Env {
    let shopify = MockServer::start().await;
    common::mount_one_location(&shopify).await;
    fakes::shop_check(SHOP, "shpat_fake_admin_token", "Demo Shop")
        .mount(&shopify)
        .await;
    fakes::refuse_the_rest().mount(&shopify).await;
    Env {
        data: tempfile::tempdir().unwrap(),
        token: fake("cs_dev"),
        secret: fake("shpss"),
        shopify,
    }
}

fn start(env: &Env) -> Runner {
    start_with(env, &[])
}

fn start_with(env: &Env, extra: &[(&str, &str)]) -> Runner {
    let api_base = env.shopify.uri();
    spawn_shopify(env.data.path(), &env.token, &env.secret, &api_base, extra)
}

fn order_body() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/shopify-order-5kb.json"))
        .unwrap()
}

fn webhook(
    client: &reqwest::Client,
    runner: &Runner,
    secret: &str,
    shop: &str,
    delivery: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    signed(
        client,
        runner,
        secret,
        shop,
        "orders/create",
        delivery,
        body,
    )
}

fn signed(
    client: &reqwest::Client,
    runner: &Runner,
    secret: &str,
    shop: &str,
    topic: &str,
    delivery: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    let signature = shared::channels::shopify::sign(secret, &body);
    client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("content-type", "application/json")
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("X-Shopify-Shop-Domain", shop)
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Webhook-Id", delivery)
        .body(body)
}

async fn connect(client: &reqwest::Client, runner: &Runner, token: &str) -> reqwest::Response {
    let form = shopify_form(SHOP, "shpat_fake_admin_token");
    post_connection(client, runner, token, &form).await
}

/// GIVEN `serve` with a connected Shopify store WHEN one signed `orders/create` is posted five
/// times concurrently (those answered 503 "in progress" re-sent until 200, as the channel
/// does) THEN the outbox holds it exactly once, and still does after a restart
/// and a sixth delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_order_reaches_the_outbox_exactly_once_and_survives_a_restart() {
    let env = env().await;
    let client = reqwest::Client::new();
    let runner = start(&env);

    let created = connect(&client, &runner, &env.token).await;
    assert_eq!(created.status(), 201);
    let connection: Value = created.json().await.unwrap();
    assert_eq!(connection["shop"], SHOP);
    assert_eq!(connection["display_name"], "Demo Shop");
    assert_eq!(connection["status"], "active");
    assert!(
        !connection.to_string().contains("shpat_fake_admin_token"),
        "no secret in responses"
    );

    let mut posts = Vec::new();
    for _ in 0..5 {
        let request = webhook(
            &client,
            &runner,
            &env.secret,
            SHOP,
            "delivery-1",
            order_body(),
        );
        posts.push(tokio::spawn(request.send()));
    }
    // A post that finds another attempt recording the delivery is told to retry (503 with
    // Retry-After), never 200: the channel re-sends it, as Shopify does.
    for post in posts {
        let mut status = post.await.unwrap().unwrap().status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while status == 503 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let again = webhook(
                &client,
                &runner,
                &env.secret,
                SHOP,
                "delivery-1",
                order_body(),
            );
            status = again.send().await.unwrap().status();
        }
        assert_eq!(status, 200);
    }
    let messages = settled(&client, &runner, &env.token, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "order.imported");
    assert_eq!(messages[0]["order_number"], "#1042");
    assert_eq!(messages[0]["connection"], connection["id"]);

    stop(runner);
    let runner = start(&env);
    assert_eq!(
        outbox(&client, &runner, &env.token).await,
        messages,
        "the outbox survives a restart"
    );
    let again = webhook(
        &client,
        &runner,
        &env.secret,
        SHOP,
        "delivery-1",
        order_body(),
    );
    assert_eq!(again.send().await.unwrap().status(), 200);
    let resubscribed = webhook(
        &client,
        &runner,
        &env.secret,
        SHOP,
        "delivery-7",
        order_body(),
    );
    assert_eq!(resubscribed.send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(outbox(&client, &runner, &env.token).await.len(), 1);

    // The connection survived too, and reconnecting the same shop does not duplicate it.
    assert_eq!(connect(&client, &runner, &env.token).await.status(), 200);
    let list = connections(&client, &runner, &env.token).await;
    assert_eq!(list["connections"].as_array().unwrap().len(), 1);
    stop(runner);
}

/// Tampered, unsigned, unknown-shop, non-JSON and oversized requests get 401/401/404/400/413,
/// and none of them reaches the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhooks_get_clear_4xx() {
    let env = env().await;
    let client = reqwest::Client::new();
    let runner = start(&env);
    assert_eq!(connect(&client, &runner, &env.token).await.status(), 201);

    let body = order_body();
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'1').unwrap();
    tampered[at] = b'2';
    let signature = shared::channels::shopify::sign(&env.secret, &body);
    let tampered = client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", "t1")
        .body(tampered);
    let unsigned = client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", "t2")
        .body(body.clone());
    let cases = [
        (tampered, 401),
        (unsigned, 401),
        (
            webhook(
                &client,
                &runner,
                &env.secret,
                "nobody.myshopify.com",
                "t3",
                body.clone(),
            ),
            404,
        ),
        (
            webhook(
                &client,
                &runner,
                &env.secret,
                SHOP,
                "t4",
                b"<html>not json</html>".to_vec(),
            ),
            400,
        ),
        (
            webhook(
                &client,
                &runner,
                &env.secret,
                SHOP,
                "t5",
                vec![b' '; 600 * 1024],
            ),
            413,
        ),
        (
            webhook(
                &client,
                &runner,
                &env.secret,
                "evil.example.com",
                "t6",
                body.clone(),
            ),
            400,
        ),
        (
            webhook(&client, &runner, &env.secret, SHOP, "t7", body.clone())
                .header("X-Shopify-Shop-Domain", "other.myshopify.com"),
            400,
        ),
    ];
    for (i, (request, status)) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "case {i}");
        let error: Value = response.json().await.unwrap();
        assert!(error["message"].is_string(), "case {i}: a JSON error body");
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(outbox(&client, &runner, &env.token).await.is_empty());
    stop(runner);
}

/// The management API and the WMS routes need the tenant's token; connecting checks the
/// Shopify token first and validates the shop domain before any network call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_and_wms_routes_check_tokens_and_input() {
    let env = env().await;
    let client = reqwest::Client::new();
    let runner = start(&env);
    let base = &runner.base;

    for url in ["/api/connections", "/wms/outbox"] {
        let none = client.get(format!("{base}{url}")).send().await.unwrap();
        assert_eq!(none.status(), 401, "{url}");
        let wrong = client
            .get(format!("{base}{url}"))
            .bearer_auth("cs_wrong_fake")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{url}");
    }
    let post = |body: Value| {
        client
            .post(format!("{base}/api/connections"))
            .bearer_auth(&env.token)
            .json(&body)
            .send()
    };
    let bad_token = post(
        json!({"channel": "shopify", "shop_domain": SHOP, "access_token": "shpat_revoked_fake"}),
    );
    assert_eq!(bad_token.await.unwrap().status(), 422);
    let bad_shop =
        post(json!({"channel": "shopify", "shop_domain": "127.0.0.1", "access_token": "x"}));
    assert_eq!(bad_shop.await.unwrap().status(), 422);
    let unknown = post(json!({"channel": "shopify", "shop": SHOP}));
    assert_eq!(unknown.await.unwrap().status(), 422);
    let syntax = client
        .post(format!("{base}/api/connections"))
        .bearer_auth(&env.token)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(syntax.status(), 400);
    let missing = client
        .get(format!("{base}/api/connections/c_nope"))
        .bearer_auth(&env.token)
        .send();
    assert_eq!(missing.await.unwrap().status(), 404);

    let event = |body: Value| {
        client
            .post(format!("{base}/wms/events"))
            .bearer_auth(&env.token)
            .json(&body)
            .send()
    };
    let stock = json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001", "available": 12, "at": "2026-11-27T10:00:00Z"});
    assert_eq!(event(stock.clone()).await.unwrap().status(), 202);
    let mut other_tenant = stock.clone();
    other_tenant["tenant"] = json!("someone-else");
    assert_eq!(event(other_tenant).await.unwrap().status(), 403);
    assert_eq!(
        event(json!({"type": "stock.changed", "tenant": "dev"}))
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        event(json!({"type": "teleport", "tenant": "dev"}))
            .await
            .unwrap()
            .status(),
        422
    );
    let cursor = client
        .get(format!("{base}/wms/outbox?after=abc"))
        .bearer_auth(&env.token)
        .send();
    assert_eq!(cursor.await.unwrap().status(), 400);
    stop(runner);
}

/// Privacy webhooks: 401 unsigned, 200 for a shop we hold nothing about, forwarded to the WMS
/// for a connected shop. `app/uninstalled` disconnects the store, keeps its history and tells
/// the WMS; later orders from it are still recorded (nothing accepted is lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_and_uninstall_webhooks() {
    let env = env().await;
    let client = reqwest::Client::new();
    let runner = start(&env);
    let created: Value = connect(&client, &runner, &env.token)
        .await
        .json()
        .await
        .unwrap();
    let redact = serde_json::to_vec(&json!({"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 42}, "orders_to_redact": [5630201856307u64]})).unwrap();

    let unsigned = client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", "customers/redact")
        .header("X-Shopify-Webhook-Id", "p0")
        .body(redact.clone());
    assert_eq!(unsigned.send().await.unwrap().status(), 401);
    let stranger = signed(
        &client,
        &runner,
        &env.secret,
        "stranger.myshopify.com",
        "shop/redact",
        "p1",
        b"{\"shop_id\":9}".to_vec(),
    );
    let response = stranger.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "nothing held"
    );
    let ours = signed(
        &client,
        &runner,
        &env.secret,
        SHOP,
        "customers/redact",
        "p2",
        redact,
    );
    assert_eq!(ours.send().await.unwrap().status(), 200);
    let uninstall = signed(
        &client,
        &runner,
        &env.secret,
        SHOP,
        "app/uninstalled",
        "u1",
        b"{\"id\":1}".to_vec(),
    );
    assert_eq!(uninstall.send().await.unwrap().status(), 200);

    let messages = settled(&client, &runner, &env.token, 2).await;
    // The consumer handles a batch concurrently: the two may come out in either order.
    let mut kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["connection.disconnected", "privacy.request"]);
    let privacy = messages
        .iter()
        .find(|m| m["type"] == "privacy.request")
        .unwrap();
    assert_eq!(privacy["request"]["orders"], json!(["5630201856307"]));
    let id = created["id"].as_str().unwrap();
    let connection = get_json(
        &client,
        format!("{}/api/connections/{id}", runner.base),
        &env.token,
    )
    .await;
    assert_eq!(connection["status"], "disconnected");
    // Reconnecting re-activates the same connection.
    assert_eq!(connect(&client, &runner, &env.token).await.status(), 200);
    stop(runner);
}

fn now_secs() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

/// The query Shopify sends to the callback, signed with the app secret.
fn callback_url(runner: &Runner, secret: &str, shop: &str, state: &str, code: &str) -> String {
    let ts = now_secs();
    let params = [
        ("code", code),
        ("shop", shop),
        ("state", state),
        ("timestamp", ts.as_str()),
    ];
    let hmac = shared::channels::shopify::oauth::sign_query(secret, &params);
    format!("{}/oauth/shopify/callback?code={code}&hmac={hmac}&shop={shop}&state={state}&timestamp={ts}", runner.base)
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn mount_token_endpoint(env: &Env, code: &str, scope: &str) {
    Mock::given(method("POST"))
        .and(path("/admin/oauth/access_token"))
        .and(wiremock::matchers::body_partial_json(json!({"client_id": "fake-client-id", "code": code})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "shpat_fake_oauth", "scope": scope,
            "expires_in": 3600, "refresh_token": "shprt_fake_oauth", "refresh_token_expires_in": 7776000
        })))
        .with_priority(1)
        .expect(1)
        .mount(&env.shopify)
        .await;
}

const ALL_SCOPES: &str = "write_orders,write_products,write_inventory,read_locations,write_merchant_managed_fulfillment_orders";

/// Dashboard install: start → Shopify's grant screen → callback (hmac, single-use state,
/// code exchange, scopes) → connection; the state cannot be replayed, a bad hmac is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_install_creates_the_connection() {
    let env = env().await;
    mount_token_endpoint(&env, "code-1", ALL_SCOPES).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let runner = start(&env);
    let hook_url = format!("{}/webhooks/shopify", runner.base);
    // After the install, the store is subscribed to the topics we use: listed first (one
    // exists already), only the missing ones created.
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_oauth"))
        .and(wiremock::matchers::body_string_contains("ChannelSyncWebhookSubscriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"webhookSubscriptions": {
            "nodes": [{"id": "gid://shopify/WebhookSubscription/1", "topic": "APP_UNINSTALLED", "uri": hook_url}],
            "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
        .with_priority(1)
        .expect(1)
        .mount(&env.shopify)
        .await;
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_oauth"))
        .and(wiremock::matchers::body_string_contains("ChannelSyncCreateWebhook"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"webhookSubscriptionCreate": {
            "webhookSubscription": {"id": "gid://shopify/WebhookSubscription/2", "topic": "ORDERS_CREATE", "uri": hook_url},
            "userErrors": []}}})))
        .with_priority(1)
        .expect(3 + shared::channels::shopify::FULFILLMENT_ORDER_SUBSCRIPTIONS.len() as u64)
        .mount(&env.shopify)
        .await;
    let started: Value = client
        .post(format!("{}/api/oauth/shopify/start", runner.base))
        .bearer_auth(&env.token)
        .json(&json!({"shop": SHOP}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authorize = started["authorize_url"].as_str().unwrap();
    assert!(authorize.starts_with(&format!(
        "https://{SHOP}/admin/oauth/authorize?client_id=fake-client-id&scope="
    )));
    assert!(authorize.contains(&format!(
        "redirect_uri=http%3A%2F%2F{}%2Foauth%2Fshopify%2Fcallback",
        runner
            .base
            .trim_start_matches("http://")
            .replace(':', "%3A")
    )));
    let state = query_param(authorize, "state").unwrap();

    let tampered = callback_url(&runner, "shpss_wrong_fake", SHOP, &state, "code-1");
    assert_eq!(client.get(tampered).send().await.unwrap().status(), 401);
    let done = client
        .get(callback_url(&runner, &env.secret, SHOP, &state, "code-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let landing = location(&done);
    assert!(
        landing.starts_with(&format!(
            "{}/integrations?shopify=connected&connection=c_",
            runner.base
        )),
        "{landing}"
    );
    let replay = client
        .get(callback_url(&runner, &env.secret, SHOP, &state, "code-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400, "a state is single-use");

    let list = connections(&client, &runner, &env.token).await;
    assert_eq!(list["connections"][0]["shop"], SHOP);
    assert_eq!(list["connections"][0]["status"], "active");
    stop(runner);
}

/// App Store install: no tenant is known, so the credentials wait under a one-time claim that
/// the dashboard redeems with the tenant's token. Too few scopes → nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_store_install_is_bound_by_a_claim_never_by_a_guess() {
    let env = env().await;
    mount_token_endpoint(&env, "code-2", ALL_SCOPES).await;
    mount_token_endpoint(&env, "code-3", "read_orders").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let runner = start(&env);

    let ts = now_secs();
    let hmac = shared::channels::shopify::oauth::sign_query(
        &env.secret,
        &[("shop", SHOP), ("timestamp", &ts)],
    );
    let install = client
        .get(format!(
            "{}/oauth/shopify/install?shop={SHOP}&timestamp={ts}&hmac={hmac}",
            runner.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(install.status(), 303);
    let state = query_param(&location(&install), "state").unwrap();
    let stale = shared::channels::shopify::oauth::sign_query(
        &env.secret,
        &[("shop", SHOP), ("timestamp", "1337178173")],
    );
    let old = client
        .get(format!(
            "{}/oauth/shopify/install?shop={SHOP}&timestamp=1337178173&hmac={stale}",
            runner.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 400);

    let done = client
        .get(callback_url(&runner, &env.secret, SHOP, &state, "code-2"))
        .send()
        .await
        .unwrap();
    let landing = location(&done);
    assert_eq!(
        query_param(&landing, "shopify").as_deref(),
        Some("claim"),
        "{landing}"
    );
    let code = query_param(&landing, "claim").unwrap();
    let list = |client: &reqwest::Client| {
        client
            .get(format!("{}/api/connections", runner.base))
            .bearer_auth(&env.token)
            .send()
    };
    let before: Value = list(&client).await.unwrap().json().await.unwrap();
    assert!(
        before["connections"].as_array().unwrap().is_empty(),
        "not bound to anyone yet"
    );
    let redeem = |code: String| {
        client
            .post(format!("{}/api/oauth/shopify/claim", runner.base))
            .bearer_auth(&env.token)
            .json(&json!({"claim": code}))
            .send()
    };
    assert_eq!(redeem(code.clone()).await.unwrap().status(), 201);
    assert_eq!(
        redeem(code).await.unwrap().status(),
        404,
        "a claim is single-use"
    );
    let after: Value = list(&client).await.unwrap().json().await.unwrap();
    assert_eq!(after["connections"][0]["shop"], SHOP);

    // A second install with too few scopes stores nothing and says why.
    let hmac = shared::channels::shopify::oauth::sign_query(
        &env.secret,
        &[("shop", SHOP), ("timestamp", &ts)],
    );
    let install = client
        .get(format!(
            "{}/oauth/shopify/install?shop={SHOP}&timestamp={ts}&hmac={hmac}",
            runner.base
        ))
        .send()
        .await
        .unwrap();
    let state = query_param(&location(&install), "state").unwrap();
    let done = client
        .get(callback_url(&runner, &env.secret, SHOP, &state, "code-3"))
        .send()
        .await
        .unwrap();
    let landing = location(&done);
    assert_eq!(
        query_param(&landing, "reason").as_deref(),
        Some("missing_scopes"),
        "{landing}"
    );
    stop(runner);
}

/// A webhook that never arrived: the reconciliation timer finds the order on Shopify and it
/// reaches the outbox exactly once, however many times the poll sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciliation_poll_imports_a_missed_order_once() {
    let env = env().await;
    let node = json!({
        "id": "gid://shopify/Order/777", "legacyResourceId": "777", "name": "#1777",
        "createdAt": "2026-11-27T08:00:00Z", "updatedAt": "2099-01-01T00:00:00Z", "cancelledAt": null,
        "displayFinancialStatus": "PAID", "paymentGatewayNames": ["shopify_payments"], "test": false, "currencyCode": "EUR", "email": null,
        "shippingAddress": {"name": "Ada", "firstName": null, "lastName": null, "company": null,
            "address1": "1 Main St", "address2": null, "city": "Dublin", "provinceCode": null,
            "zip": "D01", "countryCodeV2": "IE", "phone": null},
        "lineItems": {"nodes": [{"id": "gid://shopify/LineItem/1", "sku": "TS-001", "quantity": 1,
            "name": "Tee", "requiresShipping": true}], "pageInfo": {"hasNextPage": false}}
    });
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_admin_token"))
        .and(wiremock::matchers::body_string_contains(
            "ChannelSyncOrdersUpdatedSince",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"orders": {
            "nodes": [node], "pageInfo": {"hasNextPage": false, "endCursor": null}}}})),
        )
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    let client = reqwest::Client::new();
    let runner = start_with(&env, &[("CHANNEL_SYNC_RECONCILE_SECS", "1")]);
    assert_eq!(connect(&client, &runner, &env.token).await.status(), 201);
    let messages = settled(&client, &runner, &env.token, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages_later = outbox(&client, &runner, &env.token).await;
    assert_eq!(messages_later, messages, "later polls add nothing");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["type"], "order.imported");
    assert_eq!(messages[0]["order_number"], "#1777");
    assert_eq!(messages[0]["channel_order_id"], "777");
    stop(runner);
}

/// The scripted run: install (OAuth) → order webhook → shipment event from the WMS →
/// `fulfillmentCreate` with the right tracking, once, against a loopback fake Shopify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_order_shipment_fulfillment() {
    let env = env().await;
    mount_token_endpoint(&env, "code-9", ALL_SCOPES).await;
    let fo_line = |id: u32, sku: &str, remaining: u32| {
        json!({"id": format!("gid://shopify/FulfillmentOrderLineItem/{id}"), "remainingQuantity": remaining,
            "lineItem": {"id": format!("gid://shopify/LineItem/{id}"), "sku": sku}})
    };
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_oauth"))
        .and(wiremock::matchers::body_partial_json(
            json!({"variables": {"id": "gid://shopify/Order/5630201856307"}}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"order": {
                "id": "gid://shopify/Order/5630201856307",
                "fulfillments": [],
                "fulfillmentOrders": {"nodes": [{
                    "id": "gid://shopify/FulfillmentOrder/91", "status": "OPEN",
                    "assignedLocation": {"location": {"id": "gid://shopify/Location/1"}},
                    "lineItems": {"nodes": [fo_line(1, "TS-001", 1), fo_line(2, "TS-002", 2)],
                        "pageInfo": {"hasNextPage": false, "endCursor": null}}
                }], "pageInfo": {"hasNextPage": false, "endCursor": null}}
            }}})),
        )
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_oauth"))
        .and(wiremock::matchers::body_partial_json(json!({"variables": {"fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/91",
                "fulfillmentOrderLineItems": [{"id": "gid://shopify/FulfillmentOrderLineItem/2", "quantity": 2}]}],
            "notifyCustomer": false,
            "trackingInfo": {"company": "DHL Express", "number": "JD014600003828", "url": "https://track.example/JD014600003828"}
        }}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"fulfillmentCreate": {
            "fulfillment": {"id": "gid://shopify/Fulfillment/555", "status": "SUCCESS"}, "userErrors": []}}})))
        .with_priority(1)
        .expect(1)
        .mount(&env.shopify)
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let runner = start(&env);

    // 1. Install from the dashboard.
    let started: Value = client
        .post(format!("{}/api/oauth/shopify/start", runner.base))
        .bearer_auth(&env.token)
        .json(&json!({"shop": SHOP}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = query_param(started["authorize_url"].as_str().unwrap(), "state").unwrap();
    let done = client
        .get(callback_url(&runner, &env.secret, SHOP, &state, "code-9"))
        .send()
        .await
        .unwrap();
    let connection = query_param(&location(&done), "connection").expect("connected");

    // 2. The order arrives by webhook.
    let order = webhook(&client, &runner, &env.secret, SHOP, "d-9", order_body());
    assert_eq!(order.send().await.unwrap().status(), 200);
    settled(&client, &runner, &env.token, 1).await;

    // 3. The WMS dispatches part of it (twice: a retried message).
    let shipment = json!({"type": "shipment.dispatched", "tenant": "dev", "connection": connection,
        "channel_order_id": "5630201856307", "lines": [{"sku": "TS-002", "quantity": 2}],
        "carrier": "DHL Express", "tracking_number": "JD014600003828",
        "tracking_url": "https://track.example/JD014600003828"});
    for _ in 0..2 {
        let posted = client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(&env.token)
            .json(&shipment)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
    }
    let messages = settled(&client, &runner, &env.token, 2).await;
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["order.imported", "tracking.exported"]);
    assert_eq!(
        messages[1]["fulfillments"],
        json!(["gid://shopify/Fulfillment/555"])
    );
    assert_eq!(messages[1]["tracking_number"], "JD014600003828");
    stop(runner);
    // Dropping the mock server checks fulfillmentCreate was called exactly once.
}

/// Locations come live from Shopify; settings change one field at a time, and a location must
/// be one of the store's active locations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_and_settings() {
    let env = env().await;
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_admin_token"))
        .and(wiremock::matchers::body_string_contains("ChannelSyncLocations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"locations": {"nodes": [
            {"id": "gid://shopify/Location/1", "name": "3PL Warehouse", "isActive": true, "fulfillsOnlineOrders": true},
            {"id": "gid://shopify/Location/2", "name": "Old shop", "isActive": false, "fulfillsOnlineOrders": false}
        ], "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    let client = reqwest::Client::new();
    let runner = start(&env);
    let created: Value = connect(&client, &runner, &env.token)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let url = format!("{}/api/connections/{id}", runner.base);

    let locations = get_json(&client, format!("{url}/locations"), &env.token).await;
    assert_eq!(locations["locations"][0]["name"], "3PL Warehouse");
    assert_eq!(locations["locations"][1]["active"], false);

    let patch = |body: Value| {
        client
            .patch(&url)
            .bearer_auth(&env.token)
            .json(&body)
            .send()
    };
    let ok = patch(json!({"settings": {"fulfilment_location": "gid://shopify/Location/1", "notify_customer": true}})).await.unwrap();
    assert_eq!(ok.status(), 200);
    let updated: Value = ok.json().await.unwrap();
    assert_eq!(
        updated["settings"]["fulfilment_location"],
        "gid://shopify/Location/1"
    );
    assert_eq!(updated["settings"]["notify_customer"], true);
    assert_eq!(
        updated["settings"]["inventory_sync"], "disabled",
        "untouched settings stay"
    );
    for bad in [
        json!({"settings": {"fulfilment_location": "gid://shopify/Location/2"}}),
        json!({"settings": {"fulfilment_location": "gid://shopify/Location/99"}}),
        json!({"settings": {"inventory_sync": "hourly"}}),
        json!({"settings": {"colour": "blue"}}),
        json!({"status": "active"}),
    ] {
        let refused = patch(bad.clone()).await.unwrap();
        let status = refused.status();
        let why = refused.text().await.unwrap();
        assert_eq!(status, 422, "{bad}: {why}");
    }
    // Last: switching inventory sync on starts a push in the background, and this fake store
    // refuses everything it was not told about, which would mark the connection needs_reauth
    // (and then a location could not be checked: 409) before the refusals above were asked.
    let live = patch(json!({"settings": {"inventory_sync": "live"}}))
        .await
        .unwrap();
    assert_eq!(
        live.json::<Value>().await.unwrap()["settings"]["fulfilment_location"],
        "gid://shopify/Location/1"
    );
    let stored = get_json(&client, &url, &env.token).await;
    assert_eq!(stored["settings"]["inventory_sync"], "live");
    assert_eq!(
        stored["settings"]["fulfilment_location"],
        "gid://shopify/Location/1"
    );
    let other = patch_settings(&client, &runner, "cs_wrong_fake", id, json!({})).await;
    assert_eq!(other.status(), 401);
    stop(runner);
}

/// The operator issues a second tenant's token; that tenant sees none of `dev`'s connections
/// or messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated() {
    let env = env().await;
    let admin = fake("cs_admin");
    let client = reqwest::Client::new();
    let runner = start_with(&env, &[("CHANNEL_SYNC_ADMIN_TOKEN", admin.as_str())]);
    let created: Value = connect(&client, &runner, &env.token)
        .await
        .json()
        .await
        .unwrap();
    let order = webhook(&client, &runner, &env.secret, SHOP, "iso-1", order_body());
    assert_eq!(order.send().await.unwrap().status(), 200);
    settled(&client, &runner, &env.token, 1).await;

    let issue = |auth: &str| {
        client
            .post(format!("{}/api/admin/tenants", runner.base))
            .bearer_auth(auth)
            .json(&json!({"tenant": "acme"}))
            .send()
    };
    assert_eq!(
        issue(&env.token).await.unwrap().status(),
        401,
        "a tenant token is not an admin token"
    );
    let issued: Value = issue(&admin).await.unwrap().json().await.unwrap();
    let acme = issued["token"].as_str().unwrap();

    let list = connections(&client, &runner, acme).await;
    assert_eq!(list["connections"], json!([]));
    let id = created["id"].as_str().unwrap();
    let theirs = client
        .get(format!("{}/api/connections/{id}", runner.base))
        .bearer_auth(acme)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
    let patch = patch_settings(
        &client,
        &runner,
        acme,
        id,
        json!({"inventory_sync": "live"}),
    )
    .await;
    assert_eq!(patch.status(), 404);
    assert!(outbox(&client, &runner, acme).await.is_empty());
    let stock = json!({"type": "stock.changed", "tenant": "dev", "sku": "A", "available": 1, "at": "2026-11-27T10:00:00Z"});
    let forged = client
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(acme)
        .json(&stock)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // Issue 15, item 5: a shipment naming dev's connection is refused whichever tenant it
    // claims to be, so it can never burn dev's (connection, order, tracking number) claim.
    for tenant in ["dev", "acme"] {
        let shipment = json!({"type": "shipment.dispatched", "tenant": tenant, "connection": id,
            "channel_order_id": "5630201856307", "carrier": "UPS", "tracking_number": "1Z999"});
        let forged = client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(acme)
            .json(&shipment)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "shipment as {tenant}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(outbox(&client, &runner, acme).await.is_empty());
    stop(runner);
}

/// The inventory calls the fake Shopify received: each call's `(item number, quantity)` rows.
async fn inventory_calls(shopify: &MockServer) -> Vec<Vec<(String, i64)>> {
    shopify
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            let rows = body["variables"]["input"]["quantities"].as_array()?;
            Some(
                rows.iter()
                    .map(|q| {
                        (
                            q["inventoryItemId"]
                                .as_str()
                                .unwrap()
                                .rsplit('/')
                                .next()
                                .unwrap()
                                .to_owned(),
                            q["quantity"].as_i64().unwrap(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// GIVEN `serve` with a connected store WHEN inventory sync is switched to Live with a location
/// and a safety buffer, the WMS sends a bundle and stock, then `channel-sync sync` and
/// `channel-sync sku-audit` run THEN the first push reads the store's products, Live pushes the
/// buffered quantities (bundle included), Sync now finishes with progress, the history lists
/// every run, and the audit names the SKU the WMS does not know as a product.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_live_sync_now_and_audit_through_serve_and_the_cli() {
    let env = env().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_string_contains("ChannelSyncLocations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"locations": {"nodes": [
            {"id": "gid://shopify/Location/1", "name": "3PL Warehouse", "isActive": true, "fulfillsOnlineOrders": true}
        ], "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    fakes::variants(
        "shpat_fake_admin_token",
        vec![fakes::variant(1, "TS-001"), fakes::variant(3, "TS-001-X3")],
    )
    .with_priority(1)
    .mount(&env.shopify)
    .await;
    fakes::set_available("shpat_fake_admin_token")
        .with_priority(1)
        .mount(&env.shopify)
        .await;
    let client = reqwest::Client::new();
    let runner = start_with(&env, &[("CHANNEL_SYNC_LIVE_WINDOW_MS", "100")]);
    let created: Value = connect(&client, &runner, &env.token)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let url = format!("{}/api/connections/{id}", runner.base);
    // Still Disabled: Sync now is refused with a reason; bad input and unknown runs are 4xx.
    let sync = |body: &'static str| {
        client
            .post(format!("{url}/sync"))
            .bearer_auth(&env.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(sync("").await.unwrap().status(), 409);
    assert_eq!(sync("{\"dry_run\": 1}").await.unwrap().status(), 422);
    let unknown = client
        .get(format!("{}/api/runs/r_nope", runner.base))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let settings = json!({"inventory_location": "gid://shopify/Location/1",
        "inventory_sync": "live", "safety_buffer": 1});
    let patched = patch_settings(&client, &runner, &env.token, &id, settings).await;
    assert_eq!(patched.status(), 200);
    let wms = |body: Value| {
        client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(&env.token)
            .json(&body)
            .send()
    };
    // Wait for the first push (it reads the store's products, so the SKU map exists).
    let runs_url = format!("{url}/runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = get_json(&client, &runs_url, &env.token).await;
        let enabled = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "enabled");
        if enabled.is_some_and(|r| r["state"] != "queued" && r["state"] != "running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first push never finished: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let until_pushed = |want: Vec<(String, i64)>| {
        let shopify = &env.shopify;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !inventory_calls(shopify).await.contains(&want) {
                assert!(Instant::now() < deadline, "never pushed: {want:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Live: 13 − 1 (the buffer).
    assert_eq!(
        wms(
            json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001", "available": 13,
            "at": "2026-11-27T10:00:00Z"})
        )
        .await
        .unwrap()
        .status(),
        202
    );
    until_pushed(vec![("1001".to_owned(), 12)]).await;
    // The 3-pack becomes a bundle: floor(13 / 3) − 1.
    assert_eq!(
        wms(
            json!({"type": "product.upserted", "tenant": "dev", "sku": "TS-001-X3",
            "name": "Tee 3-pack", "components": [{"sku": "TS-001", "quantity": 3}]})
        )
        .await
        .unwrap()
        .status(),
        202
    );
    until_pushed(vec![("1003".to_owned(), 3)]).await;
    assert_eq!(inventory_calls(&env.shopify).await.len(), 2);
    let want = vec![("1001".to_owned(), 12), ("1003".to_owned(), 3)];

    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_channel-sync"))
            .args(args)
            .env("CHANNEL_SYNC_URL", &runner.base)
            .env("CHANNEL_SYNC_TOKEN", &env.token)
            .env("CHANNEL_SYNC_DATA", env.data.path())
            .output()
            .unwrap()
    };
    let synced = cli(&["sync", &id]);
    let stdout = String::from_utf8_lossy(&synced.stdout);
    assert!(synced.status.success(), "{stdout}");
    assert!(
        stdout.starts_with(
            "succeeded: 2 of 2 SKUs, 2 pushed, 0 unchanged, 0 failed, 1 channel call(s)"
        ),
        "{stdout}"
    );
    assert_eq!(inventory_calls(&env.shopify).await.last(), Some(&want));

    let runs = get_json(&client, &runs_url, &env.token).await;
    let kinds: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sync_now", "live", "live", "enabled"]);
    for (query, status) in [
        ("?after=", 200),
        (&*format!("?after={}", "x".repeat(300)), 422),
    ] {
        let answer = client
            .get(format!("{runs_url}{query}"))
            .bearer_auth(&env.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{query}");
    }

    let audit = cli(&["sku-audit", "--json"]);
    assert_eq!(
        audit.status.code(),
        Some(1),
        "not ready: TS-001 is no WMS product"
    );
    let audit: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let connection = &audit["connections"][0];
    assert_eq!(connection["mapped"], 2);
    assert_eq!(connection["unknown_to_wms"]["skus"], json!(["TS-001"]));
    assert_eq!(connection["missing_on_channel"]["total"], 0);
    assert_eq!(connection["ready"], false);
    assert_eq!(
        connection["not_ready_because"],
        json!(["1 channel SKU(s) are unknown to the WMS"])
    );
    // Without --json the reason is printed too; a refused command prints the server's
    // sentence, not its code, and exits non-zero.
    let audit = cli(&["sku-audit"]);
    let stdout = String::from_utf8_lossy(&audit.stdout);
    assert!(
        stdout.contains("NOT ready: 1 channel SKU(s) are unknown to the WMS"),
        "{stdout}"
    );
    let refused = cli(&["sync", "c_does_not_exist"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("(404)") && !stderr.contains("not_found"),
        "{stderr}"
    );
    stop(runner);
}

/// GIVEN `serve` started with one dev token WHEN it is restarted on the same data with another
/// (the operator rotated `CHANNEL_SYNC_DEV_TOKEN`) THEN the new token works and the old one is
/// refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_dev_token_revokes_the_old_one() {
    let data = tempfile::tempdir().unwrap();
    let (old, new) = (fake("cs_dev_old"), fake("cs_dev_new"));
    let runner = spawn(data.path(), &old, &[]);
    stop(runner);
    let runner = spawn(data.path(), &new, &[]);
    let client = reqwest::Client::new();
    let status = |token: String| {
        let url = format!("{}/wms/outbox?after=0", runner.base);
        let client = client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(new.clone()).await, 200);
    assert_eq!(status(old.clone()).await, 401);
    stop(runner);
}
