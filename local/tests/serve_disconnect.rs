//! Black-box: a tenant disconnects a store (`channel-sync disconnect`), the store's webhooks
//! are answered without importing, a new owner installs it from the App Store and claims it,
//! and its orders go to the new owner only (issue 15, item 7).

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::{
    connected_id, connections, fake, get_json, outbox, post_connection, query_param, shopify_form,
    spawn_shopify, stop, wait_for_message, Runner,
};

const SHOP: &str = "handover-shop.myshopify.com";

async fn fake_shopify() -> MockServer {
    let shopify = MockServer::start().await;
    common::mount_one_location(&shopify).await;
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_first_owner"))
        .and(wiremock::matchers::body_string_contains("ChannelSyncShop"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"shop": {"name": "Handover", "myshopifyDomain": SHOP}}
        })))
        // dev's connect, and acme's refused one (the token is checked before the owner).
        .expect(2)
        .mount(&shopify)
        .await;
    // The new owner's App Store install: the code exchange, once.
    Mock::given(method("POST"))
        .and(path("/admin/oauth/access_token"))
        .and(body_partial_json(json!({"client_id": "fake-client-id", "code": "code-new-owner"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "shpat_fake_new_owner", "scope": "write_orders,write_products,write_inventory,read_locations,write_merchant_managed_fulfillment_orders",
            "expires_in": 3600, "refresh_token": "shprt_fake_new_owner", "refresh_token_expires_in": 7776000
        })))
        .with_priority(1)
        .expect(1)
        .mount(&shopify)
        .await;
    // A custom-app connection has nothing we may uninstall: never asked.
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&shopify)
        .await;
    shopify
}

fn order(id: u64) -> Vec<u8> {
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/shopify-order-5kb.json"),
    )
    .unwrap();
    let mut order: Value = serde_json::from_slice(&raw).unwrap();
    order["id"] = json!(id);
    order["admin_graphql_api_id"] = json!(format!("gid://shopify/Order/{id}"));
    order["name"] = json!(format!("#{id}"));
    serde_json::to_vec(&order).unwrap()
}

async fn post_order(
    client: &reqwest::Client,
    runner: &Runner,
    secret: &str,
    delivery: &str,
    body: Vec<u8>,
) -> Value {
    let response = client
        .post(format!("{}/webhooks/shopify", runner.base))
        .header("content-type", "application/json")
        .header(
            "X-Shopify-Hmac-Sha256",
            shared::channels::shopify::sign(secret, &body),
        )
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", delivery)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn imported(outbox: &[Value]) -> Vec<String> {
    outbox
        .iter()
        .filter(|m| m["type"] == "order.imported")
        .map(|m| m["channel_order_id"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// GIVEN tenant `dev`'s connected store with an imported order WHEN `acme` tries to take it
/// THEN 409 (and acme cannot disconnect dev's connection: 404). WHEN dev runs `channel-sync
/// disconnect` THEN the connection is disconnected with its history, a new order's webhook is
/// answered 200 and not imported, and an App Store install of the store is parked for a claim
/// instead of silently re-activating dev's connection. WHEN acme claims it THEN acme gets a
/// new connection and the next order goes to acme's outbox only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_changes_hands_only_through_a_disconnect_and_an_explicit_claim() {
    let shopify = fake_shopify().await;
    let data = tempfile::tempdir().unwrap();
    let (token, secret, admin) = (fake("cs_dev"), fake("shpss"), fake("cs_admin"));
    let api_base = shopify.uri();
    let extra = [("CHANNEL_SYNC_ADMIN_TOKEN", admin.as_str())];
    let runner = spawn_shopify(data.path(), &token, &secret, &api_base, &extra);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first_owner = shopify_form(SHOP, "shpat_fake_first_owner");
    let dev_id = connected_id(&client, &runner, &token, &first_owner).await;
    post_order(&client, &runner, &secret, "handover-1", order(8001)).await;
    wait_for_message(&client, &runner, &token, |m| m["type"] == "order.imported").await;

    let issued: Value = client
        .post(format!("{}/api/admin/tenants", runner.base))
        .bearer_auth(&admin)
        .json(&json!({"tenant": "acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let acme = issued["token"].as_str().unwrap().to_owned();
    let taken = post_connection(&client, &runner, &acme, &first_owner).await;
    assert_eq!(taken.status(), 409, "an active store stays its tenant's");
    let foreign = client
        .delete(format!("{}/api/connections/{dev_id}", runner.base))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404, "another tenant cannot disconnect it");

    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_channel-sync"))
            .args(args)
            .env("CHANNEL_SYNC_URL", &runner.base)
            .env("CHANNEL_SYNC_TOKEN", &token)
            .env("CHANNEL_SYNC_DATA", data.path())
            .output()
            .unwrap()
    };
    let done = cli(&["disconnect", &dev_id]);
    let said = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(said.contains("disconnected"), "{said}");
    assert!(said.contains("not_revocable"), "{said}");
    assert!(said.contains("custom app"), "{said}");
    let again = cli(&["disconnect", &dev_id]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("(already)"));
    // The WMS hears of the merchant's disconnect (once, however often it is asked).
    let told = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "connection.disconnected"
    })
    .await;
    assert_eq!(told["reason"], "merchant_disconnected", "{told}");
    assert_eq!(told["connection"], json!(dev_id));

    // Disconnected: the webhook is answered (so Shopify stops retrying) and not imported.
    let answer = post_order(&client, &runner, &secret, "handover-2", order(8002)).await;
    assert!(
        answer["status"].as_str().unwrap().contains("disconnected"),
        "{answer}"
    );

    // The new owner installs from the App Store: no tenant is known, the store's old tenant
    // disconnected it, so the install waits for a claim.
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let hmac = shared::channels::shopify::oauth::sign_query(
        &secret,
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
    let authorize = install.headers()["location"].to_str().unwrap().to_owned();
    let state = query_param(&authorize, "state").unwrap();
    let params = [
        ("code", "code-new-owner"),
        ("shop", SHOP),
        ("state", state.as_str()),
        ("timestamp", ts.as_str()),
    ];
    let hmac = shared::channels::shopify::oauth::sign_query(&secret, &params);
    let callback = client
        .get(format!(
            "{}/oauth/shopify/callback?code=code-new-owner&hmac={hmac}&shop={SHOP}&state={state}&timestamp={ts}",
            runner.base
        ))
        .send()
        .await
        .unwrap();
    let landing = callback.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&landing, "shopify").as_deref(),
        Some("claim"),
        "{landing}"
    );
    let dev_view = get_json(
        &client,
        format!("{}/api/connections/{dev_id}", runner.base),
        &token,
    )
    .await;
    assert_eq!(
        dev_view["status"], "disconnected",
        "not re-activated by the install"
    );

    let claimed = client
        .post(format!("{}/api/oauth/shopify/claim", runner.base))
        .bearer_auth(&acme)
        .json(&json!({"claim": query_param(&landing, "claim").unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), 201);
    let theirs = connections(&client, &runner, &acme).await;
    let acme_id = theirs["connections"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(acme_id, dev_id);
    assert_eq!(theirs["connections"][0]["status"], "active");
    let ours = connections(&client, &runner, &token).await;
    assert_eq!(ours["connections"].as_array().unwrap().len(), 1);
    assert_eq!(
        ours["connections"][0]["status"], "disconnected",
        "history kept"
    );

    post_order(&client, &runner, &secret, "handover-3", order(8003)).await;
    let m = wait_for_message(&client, &runner, &acme, |m| m["type"] == "order.imported").await;
    assert_eq!(m["connection"], json!(acme_id));
    // dev's old order, changed after the handover: it is dev's history, not acme's order.
    let mut changed: Value = serde_json::from_slice(&order(8001)).unwrap();
    changed["updated_at"] = json!("2026-11-28T12:00:00Z");
    changed["note"] = json!("changed after the handover");
    post_order(
        &client,
        &runner,
        &secret,
        "handover-4",
        serde_json::to_vec(&changed).unwrap(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acme_outbox = outbox(&client, &runner, &acme).await;
    assert_eq!(acme_outbox.len(), 1, "{acme_outbox:?}");
    assert_eq!(imported(&acme_outbox), ["8003"]);
    let dev_outbox = outbox(&client, &runner, &token).await;
    assert_eq!(imported(&dev_outbox), ["8001"]);
    let told = dev_outbox
        .iter()
        .filter(|m| m["type"] == "connection.disconnected")
        .count();
    assert_eq!(told, 1, "{dev_outbox:?}");
    // Issue 15, item 15: acme's cursor counts acme's one message, not dev's before it.
    let page = get_json(
        &client,
        format!("{}/wms/outbox?after=0", runner.base),
        &acme,
    )
    .await;
    assert_eq!(page["next"], "t1");
    stop(runner);
}
