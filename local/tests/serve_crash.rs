//! Issue 17: group commit answers a delivery only once its claim and enqueue are committed.
//! Black box: `serve` is killed with SIGKILL in the middle of a burst and restarted on the
//! same data; every delivery answered 200 before the kill is imported, the channel's re-sends
//! of the others are imported too, and no order is imported twice.

use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::{connected, fake, shopify_form, spawn_shopify};

const SHOP: &str = "crash-shop.myshopify.com";
const ORDERS: u64 = 240;

fn order(id: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "name": format!("#{id}"), "created_at": "2026-11-27T09:00:00Z",
        "updated_at": "2026-11-27T09:00:00Z", "cancelled_at": null, "financial_status": "paid",
        "line_items": (0..12).map(|i| json!({"id": i, "sku": format!("CR-{i:02}"), "quantity": 1}))
            .collect::<Vec<_>>(),
        "shipping_address": {"address1": "1 Main St", "country_code": "IE"}
    }))
    .unwrap()
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
    id: u64,
) -> Option<reqwest::StatusCode> {
    let body = order(id);
    client
        .post(format!("{base}/webhooks/shopify"))
        .header(
            "X-Shopify-Hmac-Sha256",
            shared::channels::shopify::sign(secret, &body),
        )
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", format!("crash-{id}"))
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

/// Imported orders in the outbox: channel order id → copies.
async fn imported(client: &reqwest::Client, base: &str, token: &str) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    let mut after = "0".to_owned();
    loop {
        let page: serde_json::Value = client
            .get(format!("{base}/wms/outbox?after={after}&limit=1000"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            if m["type"] == "order.imported" {
                *out.entry(m["channel_order_id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        after = page["next"].as_str().unwrap().to_owned();
    }
}

/// GIVEN serve with a connected shop WHEN 240 twelve-line orders are posted by 16 clients
/// and serve is killed with SIGKILL after 80 were answered, then restarted on the same data,
/// and every delivery not answered 200 is re-sent until it is THEN each order is in the
/// outbox exactly once — in particular every one answered 200 before the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_mid_burst_loses_and_duplicates_nothing() {
    let shopify = MockServer::start().await;
    common::mount_one_location(&shopify).await;
    Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncShop"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"shop": {"name": "Crash Shop", "myshopifyDomain": SHOP}}})))
        .mount(&shopify)
        .await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let secret = fake("shpss");
    let api_base = shopify.uri();
    let runner = spawn_shopify(data.path(), &token, &secret, &api_base, &[]);
    let client = reqwest::Client::new();
    let form = shopify_form(SHOP, "shpat_fake_crash");
    connected(&client, &runner, &token, &form).await;

    // The burst: 16 clients; the ids answered 200 are remembered.
    let base = runner.base.clone();
    let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (client, base, secret, answered, next) = (
            client.clone(),
            base.clone(),
            secret.clone(),
            answered.clone(),
            next.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if id > ORDERS {
                    return;
                }
                if post(&client, &base, &secret, id).await == Some(reqwest::StatusCode::OK) {
                    answered.lock().unwrap().push(id);
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().unwrap().len() < 80 {
        assert!(Instant::now() < deadline, "the burst did not get going");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(runner); // SIGKILL, mid-burst
    let acked_before_kill: Vec<u64> = answered.lock().unwrap().clone();
    for c in clients {
        c.await.unwrap();
    }

    let runner = spawn_shopify(data.path(), &token, &secret, &api_base, &[]);
    // The channel re-sends every delivery it got no 200 for, until it does (those in flight at
    // the kill are answered 503 until their 30 s delivery lease runs out).
    let done: std::collections::HashSet<u64> = answered.lock().unwrap().iter().copied().collect();
    for id in (1..=ORDERS).filter(|id| !done.contains(id)) {
        let mut tries = 0;
        loop {
            match post(&client, &runner.base, &secret, id).await {
                Some(reqwest::StatusCode::OK) => break,
                _ if tries < 900 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("order {id} never accepted after the restart: {other:?}"),
            }
        }
    }
    // An import in flight at the kill waits out its message's visibility and order lock.
    let deadline = Instant::now() + Duration::from_secs(150);
    let outbox = loop {
        let outbox = imported(&client, &runner.base, &token).await;
        if outbox.len() as u64 >= ORDERS || Instant::now() > deadline {
            break outbox;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for id in &acked_before_kill {
        assert!(
            outbox.contains_key(&id.to_string()),
            "order {id} was answered 200 before the kill but never imported"
        );
    }
    assert_eq!(outbox.len() as u64, ORDERS, "every order imported");
    let twice: Vec<_> = outbox.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "imported more than once: {twice:?}");
    common::stop(runner);
}
