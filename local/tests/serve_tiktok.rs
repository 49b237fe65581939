//! Black-box test of `channel-sync serve` with TikTok Shop: the real binary on a free port, a
//! `wiremock` TikTok (API and auth hosts) that checks every request's signature, driven over
//! HTTP as the dashboard, TikTok and the WMS would: install → signed webhook → masked order
//! held → unmasked update released → shipment → package shipped with TikTok's provider id →
//! stock pushed for our warehouse with the other warehouse unchanged → deauthorization. The
//! simulated TikTok is `local::fakes::tiktok` (the demo's), with this test's expectations.

use local::fakes::tiktok::{self as fake, ok, App};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_json, query_param};
use wiremock::{MockServer, Request};

mod common;
use common::{fake, get_json, outbox, patch_settings, query_value, spawn, stop, wait_for_message};

const APP_KEY: &str = "fake_app_key";
const SECRET: &str = "fake_app_secret";
const SHOP: &str = "7495540735365777507";
const CIPHER: &str = "ROW_fake_cipher";
const TOKEN: &str = "fake_tts_access";
const ORDER: &str = "576653688135258178";

fn app() -> App {
    App {
        key: APP_KEY.into(),
        secret: SECRET.into(),
        token: TOKEN.into(),
    }
}

fn on(verb: &str, p: &str) -> wiremock::MockBuilder {
    fake::on(&app(), verb, p)
}

fn order(masked: bool, update_time: i64) -> Value {
    fake::order(ORDER, masked, update_time, &["TS-001", "TS-001"])
}

fn signed_webhook(
    client: &reqwest::Client,
    base: &str,
    kind: u64,
    notification: &str,
    data: Value,
) -> reqwest::RequestBuilder {
    let (headers, body) = fake::webhook(&app(), kind, notification, SHOP, data);
    let mut request = client.post(format!("{base}/webhooks/tiktok")).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_masked_order_release_shipment_stock_and_deauthorization() {
    let tiktok = MockServer::start().await;
    // Install: the code exchange, the authorized shop, its subscriptions.
    fake::token_exchange(&app(), "fake_code", chrono_now())
        .expect(1)
        .mount(&tiktok)
        .await;
    fake::authorized_shop(&app(), SHOP, CIPHER)
        .expect(1)
        .mount(&tiktok)
        .await;
    for mock in fake::subscriptions(&app()) {
        mock.mount(&tiktok).await;
    }

    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let base_uri = tiktok.uri();
    let runner = spawn(
        data.path(),
        &token,
        &[
            ("TIKTOK_CLIENT_ID", APP_KEY),
            ("TIKTOK_CLIENT_SECRET", SECRET),
            ("TIKTOK_SERVICE_ID", "7234567890"),
            ("TIKTOK_API_BASE", &base_uri),
            ("TIKTOK_AUTH_BASE", &base_uri),
            ("CHANNEL_SYNC_LIVE_WINDOW_MS", "100"),
        ],
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // 1. Install from the dashboard, US market.
    let started: Value = client
        .post(format!("{}/api/oauth/tiktok/start", runner.base))
        .bearer_auth(&token)
        .json(&json!({"market": "us"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = started["authorize_url"].as_str().unwrap();
    assert!(
        url.starts_with(
            "https://services.us.tiktokshop.com/open/authorize?service_id=7234567890&state="
        ),
        "{url}"
    );
    let state = query_value(url, "state").unwrap();
    let done = client
        .get(format!(
            "{}/oauth/tiktok/callback?code=fake_code&state={state}",
            runner.base
        ))
        .send()
        .await
        .unwrap();
    let landed = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(landed.contains("tiktok=connected"), "{landed}");
    let connection = query_value(&landed, "connection").expect("a connection");
    let replay = client
        .get(format!(
            "{}/oauth/tiktok/callback?code=fake_code&state={state}",
            runner.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400, "the state is single use");

    // 2. A signed webhook; TikTok starred the address out: held.
    let masked = on("GET", "/order/202507/orders")
        .and(query_param("ids", ORDER))
        .and(query_param("shop_cipher", CIPHER))
        .respond_with(ok(json!({"orders": [order(true, 1764234000)]})))
        .mount_as_scoped(&tiktok)
        .await;
    let unsigned = client
        .post(format!("{}/webhooks/tiktok", runner.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let posted = signed_webhook(
        &client,
        &runner.base,
        1,
        "n-1",
        json!({"order_id": ORDER, "order_status": "AWAITING_SHIPMENT"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(posted.status(), 200);
    let imported =
        wait_for_message(&client, &runner, &token, |m| m["type"] == "order.imported").await;
    let holds = imported["hold_reasons"].as_array().unwrap();
    assert!(
        holds.iter().any(|h| h["code"] == "masked_address"
            && h["detail"].as_str().unwrap().contains("Shipped by Seller")),
        "{imported}"
    );
    drop(masked);

    // 3. TikTok shows the address now: released.
    on("GET", "/order/202507/orders")
        .and(query_param("ids", ORDER))
        .respond_with(ok(json!({"orders": [order(false, 1764237600)]})))
        .mount(&tiktok)
        .await;
    signed_webhook(&client, &runner.base, 3, "n-2", json!({"order_id": ORDER}))
        .send()
        .await
        .unwrap();
    let updated =
        wait_for_message(&client, &runner, &token, |m| m["type"] == "order.updated").await;
    assert_eq!(updated["hold_reasons"], json!([]));
    assert_eq!(updated["ship_to"]["address1"], "1 Main St");

    // 4. The WMS ships both units: the package is marked shipped with UPS's provider id.
    fake::shipping_providers(&app()).mount(&tiktok).await;
    on(
        "POST",
        &format!("/fulfillment/202309/orders/{ORDER}/packages"),
    )
    .and(body_json(
        json!({"order_line_item_ids": ["li1", "li2"], "tracking_number": "1Z999AA10123456784",
            "shipping_provider_id": "6617675021119438849"}),
    ))
    .respond_with(ok(json!({"package_id": "pkg-77"})))
    .expect(1)
    .mount(&tiktok)
    .await;
    let shipment = json!({"type": "shipment.dispatched", "tenant": "dev", "connection": connection,
        "channel_order_id": ORDER, "carrier": "UPS", "tracking_number": "1Z999AA10123456784"});
    let wms = |body: Value| {
        client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    assert_eq!(wms(shipment).await.unwrap().status(), 202);
    let exported = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "tracking.exported"
    })
    .await;
    assert_eq!(exported["fulfillments"], json!(["pkg-77"]));

    // 5. Stock: listings read, then CAP-1 pushed to our warehouse W1, W2 resent unchanged.
    fake::product_search(&app(), "1729", &[("1729001", "CAP-1")])
        .mount(&tiktok)
        .await;
    fake::product_inventory(&app(), "1729", &[("1729001", 3, 8)])
        .mount(&tiktok)
        .await;
    fake::warehouses(&app()).mount(&tiktok).await;
    let pushed = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let seen = pushed.clone();
    on("POST", "/product/202309/products/1729/inventory/update")
        .respond_with(move |r: &Request| {
            seen.lock()
                .unwrap()
                .push(serde_json::from_slice(&r.body).unwrap());
            ok(json!({"errors": []}))
        })
        .mount(&tiktok)
        .await;
    let patched = patch_settings(
        &client,
        &runner,
        &token,
        &connection,
        json!({"inventory_location": "W1", "inventory_sync": "live"}),
    )
    .await;
    assert_eq!(patched.status(), 200, "{:?}", patched.text().await);
    let want = json!({"skus": [{"id": "1729001", "inventory": [
        {"warehouse_id": "W1", "quantity": 13}, {"warehouse_id": "W2", "quantity": 8}]}]});
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Sent again until the first (enabling) push has read the listings and the live
        // change lands; the stock message is idempotent.
        wms(
            json!({"type": "stock.changed", "tenant": "dev", "sku": "CAP-1", "available": 13,
            "at": "2026-11-27T10:00:00Z"}),
        )
        .await
        .unwrap();
        if pushed.lock().unwrap().contains(&want) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never pushed: {:?}",
            pushed.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // 6. The seller deauthorizes the app: disconnected, the WMS told once.
    signed_webhook(&client, &runner.base, 6, "n-3", json!({"shop_id": SHOP}))
        .send()
        .await
        .unwrap();
    let gone = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "connection.disconnected"
    })
    .await;
    assert_eq!(gone["connection"], connection);
    let stored = get_json(
        &client,
        format!("{}/api/connections/{connection}", runner.base),
        &token,
    )
    .await;
    assert_eq!(stored["status"], "disconnected", "{stored}");
    let kinds: Vec<String> = outbox(&client, &runner, &token)
        .await
        .iter()
        .map(|m| m["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("order.")).count(),
        2,
        "{kinds:?}"
    );
    stop(runner);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
