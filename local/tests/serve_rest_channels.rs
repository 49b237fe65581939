//! Black-box tests of `channel-sync serve` with the API-key channels: a `wiremock` WooCommerce
//! store and a `wiremock` Magento 2 store on loopback, allowed by the one documented test
//! switch (`CHANNEL_SYNC_ALLOW_PRIVATE_STORES=1`), driven over HTTP as a WMS would.

mod common;

use common::{
    fake, get_json, outbox, patch_settings, spawn, stop, until_requested, wait_for_message, Runner,
};
use local::fakes::woocommerce::{order as woo_order, WC};
use local::fakes::{json_of, magento as magento_fake, requests_to, woocommerce};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn start(data: &std::path::Path, token: &str, extra: &[(&str, &str)]) -> Runner {
    let mut envs = vec![
        ("CHANNEL_SYNC_ALLOW_PRIVATE_STORES", "1"),
        ("CHANNEL_SYNC_LIVE_WINDOW_MS", "50"),
    ];
    envs.extend_from_slice(extra);
    spawn(data, token, &envs)
}

/// Waits (up to 20 s) until `server` received `verb path` at least `n` times.
/// The simulated WooCommerce store (TS-001, 3 in stock), whose keys were revoked before order 4
/// shipped.
async fn mount_woo(woo: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("{WC}/orders/4")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": "woocommerce_rest_authentication_error", "message": "Invalid signature", "data": {"status": 401}})))
        .with_priority(1)
        .mount(woo)
        .await;
    woocommerce::mount(
        woo,
        vec![woocommerce::product(10, "TS-001", 3)],
        woocommerce::Orders::default(),
    )
    .await;
}

fn delivery(
    client: &reqwest::Client,
    runner: &Runner,
    connection: &str,
    secret: &str,
    topic: &str,
    delivery_id: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    let (headers, bytes) = woocommerce::delivery(secret, topic, delivery_id, body);
    let mut request = client
        .post(format!("{}/webhooks/woocommerce/{connection}", runner.base))
        .body(bytes);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

/// GIVEN a WooCommerce store WHEN it is connected, its webhooks deliver orders, the WMS ships
/// one, stock changes and the keys are revoked THEN: the keys and webhooks are checked and
/// created with our own secret and URL; the unsigned ping gets 200; a signed processing order
/// is imported once, a pending one not at all, a cancellation flows as `order.cancelled`;
/// tracking becomes a customer note and `completed`; stock goes out through
/// `products/batch`; and the revoked keys put the connection in `needs_reauth`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woocommerce_store_end_to_end() {
    let woo = MockServer::start().await;
    mount_woo(&woo).await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let runner = start(data.path(), &token, &[]);
    let client = reqwest::Client::new();
    let api = |p: &str| format!("{}/api{p}", runner.base);

    let connected = client
        .post(api("/connections"))
        .bearer_auth(&token)
        .json(&json!({"channel": "woocommerce", "store_url": woo.uri(),
            "consumer_key": "ck_fake_1234", "consumer_secret": "cs_fake_5678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(connected.status(), 201);
    let connected: Value = connected.json().await.unwrap();
    let id = connected["id"].as_str().unwrap().to_owned();
    assert_eq!(connected["channel"], "woocommerce");
    assert_eq!(connected["display_name"], "Demo Woo");
    assert_eq!(
        connected["webhooks"]["created"],
        json!(["order.created", "order.updated", "order.deleted"])
    );
    // The key's write access was checked without side effects, then the webhooks created
    // with our URL and a secret of ours, authenticated with the key.
    assert_eq!(
        json_of(&requests_to(&woo, "POST", &format!("{WC}/webhooks/batch")).await[0]),
        json!({})
    );
    let created = requests_to(&woo, "POST", &format!("{WC}/webhooks")).await;
    assert_eq!(created.len(), 3);
    let secret = json_of(&created[0])["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32 && secret.chars().all(|c| c.is_ascii_alphanumeric()));
    for hook in &created {
        let body = json_of(hook);
        assert_eq!(
            body["delivery_url"],
            format!("{}/webhooks/woocommerce/{id}", runner.base)
        );
        assert_eq!(body["secret"], secret);
        assert_eq!(body["status"], "active");
        assert!(hook.headers.get("authorization").is_some());
    }
    // Reconnecting the same store (new keys) keeps the connection and its webhook secret.
    let again = client
        .post(api("/connections"))
        .bearer_auth(&token)
        .json(
            &json!({"channel": "woocommerce", "store_url": format!("{}/", woo.uri()),
            "consumer_key": "ck_fake_1234", "consumer_secret": "cs_fake_5678"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id.as_str());
    let created = requests_to(&woo, "POST", &format!("{WC}/webhooks")).await;
    assert!(created.len() >= 2);
    assert!(created.iter().all(|h| json_of(h)["secret"] == secret));
    // Credentials never come back from the API.
    let listed = client
        .get(api("/connections"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("cs_fake_5678") && !listed.contains(&secret));

    // WooCommerce's creation ping: unsigned, form-encoded, answered 200.
    let ping = client
        .post(format!("{}/webhooks/woocommerce/{id}", runner.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("webhook_id=11")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);

    let order_1 = woo_order(1, "processing", "2026-11-27T08:00:10", "TS-001");
    let accepted = delivery(
        &client,
        &runner,
        &id,
        &secret,
        "order.created",
        "d-1",
        &order_1,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(accepted.status(), 200);
    let again = delivery(
        &client,
        &runner,
        &id,
        &secret,
        "order.created",
        "d-1",
        &order_1,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    // Wrong secret → 401; unknown connection → 404; a Shopify-style URL for it → 404.
    let forged = delivery(
        &client,
        &runner,
        &id,
        "not-the-secret",
        "order.created",
        "d-x",
        &order_1,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let unknown = delivery(
        &client,
        &runner,
        "c_00000000000000000000",
        &secret,
        "order.created",
        "d-y",
        &order_1,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(unknown.status(), 404);
    let garbage = client
        .post(format!("{}/webhooks/woocommerce/{id}", runner.base))
        .header("X-WC-Webhook-Topic", "order.created")
        .header("X-WC-Webhook-Delivery-ID", "d-z")
        .header(
            "X-WC-Webhook-Signature",
            shared::channels::woocommerce::sign(&secret, b"{not json"),
        )
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);

    let imported = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "order.imported" && m["channel_order_id"] == "1"
    })
    .await;
    assert_eq!(imported["channel"], "woocommerce");
    assert_eq!(imported["lines"][0]["sku"], "TS-001");
    assert_eq!(imported["lines"][0]["quantity"], 2);
    assert_eq!(imported["ship_to"]["country_code"], "IE");
    assert_eq!(imported["hold_reasons"], json!([]));

    // The merchant allocates this store's orders to a WMS warehouse from now on.
    let allocated = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"order_allocation": "DUB-1"}),
    )
    .await;
    assert_eq!(allocated.status(), 200);
    let refused = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"order_allocation": ""}),
    )
    .await;
    assert_eq!(refused.status(), 422);

    // Pending (unpaid): accepted, never imported. Then order 3, ready.
    let pending = woo_order(2, "pending", "2026-11-27T08:00:20", "TS-001");
    delivery(
        &client,
        &runner,
        &id,
        &secret,
        "order.created",
        "d-2",
        &pending,
    )
    .send()
    .await
    .unwrap();
    let order_3 = woo_order(3, "processing", "2026-11-27T08:10:00", "TS-001");
    delivery(
        &client,
        &runner,
        &id,
        &secret,
        "order.created",
        "d-3",
        &order_3,
    )
    .send()
    .await
    .unwrap();
    let third = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "order.imported" && m["channel_order_id"] == "3"
    })
    .await;
    assert_eq!(third["allocation"], "DUB-1");
    assert!(imported.get("allocation").is_none());
    let cancelled = woo_order(1, "cancelled", "2026-11-27T09:00:00", "TS-001");
    delivery(
        &client,
        &runner,
        &id,
        &secret,
        "order.updated",
        "d-4",
        &cancelled,
    )
    .send()
    .await
    .unwrap();
    wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "order.cancelled" && m["channel_order_id"] == "1"
    })
    .await;
    let all = outbox(&client, &runner, &token).await;
    assert!(
        !all.iter().any(|m| m["channel_order_id"] == "2"),
        "a pending order was imported: {all:?}"
    );
    assert_eq!(
        all.iter()
            .filter(|m| m["type"] == "order.imported" && m["channel_order_id"] == "1")
            .count(),
        1
    );

    // Tracking for order 3: a customer note with carrier, number and URL, then `completed`.
    let ship = |order: &str, number: &str| {
        json!({"type": "shipment.dispatched", "tenant": "dev", "connection": id,
            "channel_order_id": order, "carrier": "DHL", "tracking_number": number,
            "tracking_url": format!("https://track.example/{number}")})
    };
    let posted = client
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(&token)
        .json(&ship("3", "JD0001"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let exported = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "tracking.exported" && m["channel_order_id"] == "3"
    })
    .await;
    assert_eq!(exported["tracking_number"], "JD0001");
    let note = json_of(&requests_to(&woo, "POST", &format!("{WC}/orders/3/notes")).await[0]);
    let text = note["note"].as_str().unwrap();
    assert!(
        text.contains("DHL")
            && text.contains("JD0001")
            && text.contains("https://track.example/JD0001"),
        "{text}"
    );
    let completed = requests_to(&woo, "PUT", &format!("{WC}/orders/3")).await;
    assert_eq!(json_of(&completed[0]), json!({"status": "completed"}));

    // Stock: Live sync reads the products, then sets the WMS quantity through the batch.
    let stock = json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001",
        "available": 7, "at": "2026-11-27T10:00:00Z"});
    let posted = client
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(&token)
        .json(&stock)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let patched = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"inventory_sync": "live"}),
    )
    .await;
    assert_eq!(patched.status(), 200);
    // A location makes no sense on WooCommerce: refused with the reason.
    let located = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"inventory_location": "1"}),
    )
    .await;
    assert_eq!(located.status(), 422);
    let batches = until_requested(&woo, "POST", &format!("{WC}/products/batch"), 1).await;
    // TS-001 is 7 in the WMS, and the two imported (not yet shipped) units of order 3 are
    // reserved until the WMS names the order: 7 - 2 = 5.
    let body = json_of(&batches[0]);
    assert_eq!(body["update"][0]["id"], 10);
    assert_eq!(body["update"][0]["stock_quantity"], 5, "{body}");
    assert!(body["update"][0].get("manage_stock").is_none());

    // Revoked keys: the shipment fails for good and the connection needs reauthorisation.
    client
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(&token)
        .json(&ship("4", "JD0002"))
        .send()
        .await
        .unwrap();
    let failed = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "tracking.failed" && m["channel_order_id"] == "4"
    })
    .await;
    assert!(failed["reason"].as_str().unwrap().contains("reconnected"));
    let now = get_json(&client, api(&format!("/connections/{id}")), &token).await;
    assert_eq!(now["status"], "needs_reauth");
    stop(runner);
}

/// The URL rule without the test switch: http and loopback stores are refused with the reason
/// before any call; bad bodies get 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_urls_are_checked_before_anything_is_called() {
    let woo = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let runner = spawn(data.path(), &token, &[]);
    let client = reqwest::Client::new();
    let connect = |body: Value| {
        client
            .post(format!("{}/api/connections", runner.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    for (url, expected) in [
        (woo.uri(), "https://"),
        ("https://127.0.0.1:9/".to_owned(), "private"),
        ("https://169.254.169.254/".to_owned(), "private"),
        ("https://[::1]/".to_owned(), "private"),
        ("https://u:p@shop.example/".to_owned(), "user name"),
    ] {
        let answer = connect(json!({"channel": "woocommerce", "store_url": url,
            "consumer_key": "ck_fake", "consumer_secret": "cs_fake"}))
        .await
        .unwrap();
        assert_eq!(answer.status(), 422, "{url}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(expected), "{url}: {text}");
    }
    let magento = connect(json!({"channel": "magento", "store_url": "http://10.0.0.5",
        "consumer_key": "a", "consumer_secret": "b", "access_token": "c", "access_token_secret": "d"}))
    .await
    .unwrap();
    assert_eq!(magento.status(), 422);
    let missing = connect(json!({"channel": "woocommerce", "store_url": "https://shop.example"}))
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);
    assert!(woo.received_requests().await.unwrap().is_empty());
    stop(runner);
}

/// GIVEN a Magento 2 store (no webhooks in Open Source) WHEN it is connected with the four
/// integration credentials THEN every request is OAuth 1.0a HMAC-SHA256 signed, the poll
/// imports its processing order with the configurable parent/child pair as one line, and a
/// shipment becomes `/order/{id}/ship` with the track.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magento_store_end_to_end() {
    let magento = MockServer::start().await;
    let base = magento_fake::BASE;
    Mock::given(method("POST"))
        .and(path(format!("{base}/order/12/ship")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(555)))
        .with_priority(1)
        .mount(&magento)
        .await;
    let orders = magento_fake::Orders::default();
    orders.add(magento_fake::order(12, "TS-001-M", 2));
    magento_fake::mount(&magento, vec![magento_fake::product(5, "TS-001-M")], orders).await;

    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let runner = start(data.path(), &token, &[("CHANNEL_SYNC_RECONCILE_SECS", "1")]);
    let client = reqwest::Client::new();
    let connected = client
        .post(format!("{}/api/connections", runner.base))
        .bearer_auth(&token)
        .json(&json!({"channel": "magento", "store_url": magento.uri(),
            "consumer_key": "fake_ck", "consumer_secret": "fake_cs",
            "access_token": "fake_at", "access_token_secret": "fake_ats",
            "settings": {"inventory_location": "dublin"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(connected.status(), 201);
    let connected: Value = connected.json().await.unwrap();
    let id = connected["id"].as_str().unwrap().to_owned();
    assert_eq!(connected["msi"], true);
    assert_eq!(connected["settings"]["inventory_location"], "dublin");
    // An unknown source is refused against the store's list.
    let bad_source = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"inventory_location": "nowhere"}),
    )
    .await;
    assert_eq!(bad_source.status(), 422);
    assert!(bad_source.text().await.unwrap().contains("nowhere"));

    let imported = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "order.imported" && m["channel_order_id"] == "12"
    })
    .await;
    assert_eq!(imported["order_number"], "000000012");
    assert_eq!(imported["lines"].as_array().unwrap().len(), 1);
    assert_eq!(imported["lines"][0]["sku"], "TS-001-M");
    assert_eq!(imported["lines"][0]["quantity"], 2);

    // Stock: Magento subtracts its own reservation (order 12, 2 units) from the source
    // quantity, and deducts the source at shipment; so the source is the listed quantity plus
    // the units of imported, unshipped orders. WMS 5, order 12 reserved (not yet applied by the
    // WMS) → listed 3, source 3 + 2 = 5; Magento's salable = 5 − 2 = 3.
    let wms_event = |body: Value| {
        client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    wms_event(
        json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001-M",
        "available": 5, "at": "2026-11-27T10:00:00Z"}),
    )
    .await
    .unwrap();
    let live = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"inventory_sync": "live"}),
    )
    .await;
    assert_eq!(live.status(), 200);
    let source_items = format!("{base}/inventory/source-items");
    let pushed = until_requested(&magento, "POST", &source_items, 1).await;
    assert_eq!(
        json_of(&pushed[0]),
        json!({"sourceItems": [{"sku": "TS-001-M", "source_code": "dublin", "quantity": 5, "status": 1}]})
    );

    wms_event(
        json!({"type": "shipment.dispatched", "tenant": "dev", "connection": id,
        "channel_order_id": "12", "carrier": "UPS", "tracking_number": "1Z999"}),
    )
    .await
    .unwrap();
    let exported = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "tracking.exported" && m["channel_order_id"] == "12"
    })
    .await;
    assert_eq!(exported["fulfillments"], json!(["555"]));
    // Shipped: Magento deducted the source (5 − 2 = 3), the WMS has applied order 12, and our
    // listed quantity is still 3, so nothing needs pushing. Then one unit arrives at the
    // warehouse: WMS 4 → the source is 4, nothing unshipped is added back any more.
    let applied = wms_event(
        json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001-M",
        "available": 4, "at": "2026-11-27T11:00:00Z",
        "orders": [{"channel": "magento", "shop": connected["shop"], "channel_order_id": "12"}]}),
    )
    .await
    .unwrap();
    assert_eq!(applied.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let bodies: Vec<Value> = requests_to(&magento, "POST", &source_items)
            .await
            .iter()
            .map(json_of)
            .collect();
        if bodies.iter().any(|b| b["sourceItems"][0]["quantity"] == 4) {
            break;
        }
        assert!(Instant::now() < deadline, "never pushed 4: {bodies:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ship = requests_to(&magento, "POST", "/rest/all/V1/order/12/ship").await;
    assert_eq!(ship.len(), 1);
    assert_eq!(
        json_of(&ship[0])["tracks"],
        json!([{"track_number": "1Z999", "title": "UPS", "carrier_code": "ups"}])
    );
    // Every request carried an OAuth 1.0a HMAC-SHA256 signature, never a bearer token.
    for request in magento.received_requests().await.unwrap() {
        let auth = request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(auth.starts_with("OAuth "), "{auth}");
        assert!(
            auth.contains(r#"oauth_signature_method="HMAC-SHA256""#),
            "{auth}"
        );
        assert!(auth.contains(r#"oauth_token="fake_at""#), "{auth}");
    }
    // Polled again every second: still one import.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = outbox(&client, &runner, &token).await;
    assert_eq!(
        all.iter().filter(|m| m["type"] == "order.imported").count(),
        1
    );
    stop(runner);
}
