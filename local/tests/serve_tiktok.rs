//! Black-box test of `channel-sync serve` with TikTok Shop: the real binary on a free port, a
//! `wiremock` TikTok (API and auth hosts) that checks every request's signature, driven over
//! HTTP as the dashboard, TikTok and the WMS would: install → signed webhook → masked order
//! held → unmasked update released → shipment → package shipped with TikTok's provider id →
//! stock pushed for our warehouse with the other warehouse unchanged → deauthorization.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

mod common;
use common::{fake, outbox, spawn, stop, wait_for_message};

const APP_KEY: &str = "fake_app_key";
const SECRET: &str = "fake_app_secret";
const SHOP: &str = "7495540735365777507";
const CIPHER: &str = "ROW_fake_cipher";
const TOKEN: &str = "fake_tts_access";
const ORDER: &str = "576653688135258178";

/// Signed as TikTok checks it, with the app's key and the seller's token.
struct Signed;

impl Match for Signed {
    fn matches(&self, r: &Request) -> bool {
        let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        get("sign").is_some_and(|sign| {
            sign == shared::channels::tiktok::sign_request(SECRET, r.url.path(), &pairs, &r.body)
        }) && get("app_key") == Some(APP_KEY)
            && r.headers
                .get("x-tts-access-token")
                .is_some_and(|v| v.as_bytes() == TOKEN.as_bytes())
    }
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 0, "message": "Success", "data": data}))
}

fn on(verb: &str, p: &str) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(Signed)
}

fn order(masked: bool, update_time: i64) -> Value {
    let (name, line1) = if masked {
        ("J*** D**", "***")
    } else {
        ("Jane Doe", "1 Main St")
    };
    json!({
        "id": ORDER, "status": "AWAITING_SHIPMENT", "create_time": 1764230400, "update_time": update_time,
        "shipping_type": "SELLER", "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "delivery_option_id": "7091146663229654785",
        "recipient_address": {"name": name, "address_line1": line1, "postal_code": "90001",
            "region_code": "US", "phone_number": "(+1)213-555-1234"},
        "line_items": [
            {"id": "li1", "sku_id": "sku-a", "seller_sku": "TS-001"},
            {"id": "li2", "sku_id": "sku-a", "seller_sku": "TS-001"}
        ]
    })
}

fn signed_webhook(
    client: &reqwest::Client,
    base: &str,
    kind: u64,
    notification: &str,
    data: Value,
) -> reqwest::RequestBuilder {
    let body = serde_json::to_vec(&json!({"type": kind, "tts_notification_id": notification,
        "shop_id": SHOP, "timestamp": 1764234000, "data": data}))
    .unwrap();
    let sig = shared::channels::tiktok::sign_webhook(APP_KEY, SECRET, &body);
    client
        .post(format!("{base}/webhooks/tiktok"))
        .header("content-type", "application/json")
        .header("authorization", sig)
        .body(body)
}

fn query(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_masked_order_release_shipment_stock_and_deauthorization() {
    let tiktok = MockServer::start().await;
    // Install: the code exchange, the authorized shop, its subscriptions.
    Mock::given(method("GET"))
        .and(path("/api/v2/token/get"))
        .and(query_param("app_key", APP_KEY))
        .and(query_param("app_secret", SECRET))
        .and(query_param("auth_code", "fake_code"))
        .respond_with(ok(json!({"access_token": TOKEN,
            "access_token_expire_in": chrono_now() + 7 * 86400,
            "refresh_token": "fake_tts_refresh", "refresh_token_expire_in": chrono_now() + 365 * 86400,
            "seller_name": "Demo Seller"})))
        .expect(1)
        .mount(&tiktok)
        .await;
    on("GET", "/authorization/202309/shops")
        .respond_with(ok(
            json!({"shops": [{"id": SHOP, "name": "Demo TikTok Shop", "region": "US",
            "seller_type": "LOCAL", "cipher": CIPHER, "code": "USDEMO"}]}),
        ))
        .expect(1)
        .mount(&tiktok)
        .await;
    on("GET", "/event/202309/webhooks")
        .respond_with(ok(json!({"webhooks": []})))
        .mount(&tiktok)
        .await;
    on("PUT", "/event/202309/webhooks")
        .respond_with(ok(json!({})))
        .mount(&tiktok)
        .await;

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
    let state = query(url, "state").unwrap();
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
    let connection = query(&landed, "connection").expect("a connection");
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
    on(
        "GET",
        "/logistics/202309/delivery_options/7091146663229654785/shipping_providers",
    )
    .respond_with(ok(
        json!({"shipping_providers": [{"id": "6617675021119438849", "name": "UPS"}]}),
    ))
    .mount(&tiktok)
    .await;
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
    on("POST", "/product/202502/products/search")
        .respond_with(ok(
            json!({"products": [{"id": "1729", "title": "Cap", "status": "ACTIVATE",
            "skus": [{"id": "1729001", "seller_sku": "CAP-1"}]}], "next_page_token": ""}),
        ))
        .mount(&tiktok)
        .await;
    on("GET", "/product/202309/products/1729")
        .respond_with(ok(
            json!({"id": "1729", "skus": [{"id": "1729001", "inventory": [
            {"warehouse_id": "W1", "quantity": 3}, {"warehouse_id": "W2", "quantity": 8}]}]}),
        ))
        .mount(&tiktok)
        .await;
    on("GET", "/logistics/202309/warehouses")
        .respond_with(ok(json!({"warehouses": [
            {"id": "W1", "name": "3PL", "effect_status": "ENABLED", "type": "SALES_WAREHOUSE"},
            {"id": "W2", "name": "Seller", "effect_status": "ENABLED", "type": "SALES_WAREHOUSE"}]})))
        .mount(&tiktok)
        .await;
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
    let patched = client
        .patch(format!("{}/api/connections/{connection}", runner.base))
        .bearer_auth(&token)
        .json(&json!({"settings": {"inventory_location": "W1", "inventory_sync": "live"}}))
        .send()
        .await
        .unwrap();
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
    let stored: Value = client
        .get(format!("{}/api/connections/{connection}", runner.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
