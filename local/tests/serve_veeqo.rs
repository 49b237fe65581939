//! Black-box test of `channel-sync serve` with Veeqo: a `wiremock` Veeqo API (set by
//! `VEEQO_API_BASE`) that enforces a leaky bucket like Veeqo's (answering 429 with
//! `Retry-After` when it overflows), driven over HTTP as a WMS and its dashboard would. The
//! simulated Veeqo is `local::fakes::veeqo` (the demo's), with this test's account.

mod common;

use common::{fake, get_json, outbox, patch_settings, query_value, spawn, stop, wait_for_message};
use local::fakes::veeqo::{self as fake, Account, FakeVeeqo};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::header;
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "veeqo_key_fake_serve";
const WAREHOUSE: u64 = 22668;
const ELSEWHERE: u64 = 99001;
/// Requests per second and bucket size of the fake (50/20), and of the client
/// (`VEEQO_RATE_LIMIT`): Veeqo's 5/100 shape, faster so the test takes seconds.
const RATE_LIMIT: &str = "50/20";
/// Sellables with a SKU (plus one without).
const SELLABLES: u64 = 300;
/// A sellable listed only as FBA (after the one without a SKU).
const FBA_ONLY: u64 = SELLABLES + 2;
/// Units Veeqo has allocated of every sellable.
const ALLOCATED: i64 = 1;

/// Every product of the account: 300 sellables with a SKU, one without, one listed only as
/// FBA on Amazon.
fn products() -> Vec<Value> {
    (1..=FBA_ONLY)
        .map(|n| {
            // Listed only as FBA on Amazon: never written.
            if n == FBA_ONLY {
                return json!({"id": n, "title": "Mug", "sellables": [{"id": 100_000 + n,
                    "sku_code": "SKU-FBA",
                    "stock_entries": [{"warehouse_id": WAREHOUSE, "infinite": false}],
                    "channel_sellables": [{"id": 9, "remote_sku": "SKU-FBA",
                        "fulfilled_by_amazon": true,
                        "channel": {"id": 7, "name": "Amazon UK", "type_code": "amazon"}}]}]});
            }
            // The last sellable has no SKU (the audit must flag it).
            let sku = if n == SELLABLES + 1 {
                String::new()
            } else {
                format!("SKU-{n}")
            };
            fake::product(n, &sku, WAREHOUSE)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veeqo_end_to_end_under_its_rate_limit() {
    let veeqo = MockServer::start().await;
    let account = FakeVeeqo::new(Account {
        key: KEY.into(),
        rate: 50.0,
        bucket: 20.0,
        warehouses: vec![
            (WAREHOUSE, "Amazon location".into()),
            (ELSEWHERE, "Other".into()),
        ],
        products: products(),
        allocated: ALLOCATED,
    });
    // FBM at our warehouse (Prime), FBA, and FBM allocated elsewhere.
    account.add_order(fake::order(31, "SKU-1", false, WAREHOUSE, true));
    account.add_order(fake::order(32, "SKU-1", true, WAREHOUSE, false));
    account.add_order(fake::order(33, "SKU-1", false, ELSEWHERE, false));
    fake::mount(&veeqo, &account).await;
    let state = account.state.clone();

    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let uri = veeqo.uri();
    let runner = spawn(
        data.path(),
        &token,
        &[
            ("VEEQO_API_BASE", uri.as_str()),
            ("VEEQO_RATE_LIMIT", RATE_LIMIT),
            ("CHANNEL_SYNC_RECONCILE_SECS", "1"),
            ("CHANNEL_SYNC_LIVE_WINDOW_MS", "50"),
        ],
    );
    let client = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", runner.base);

    // A wrong key: a clear 422 that names the unpaid-bill possibility; nothing stored.
    let refused = client
        .post(api("/api/connections"))
        .bearer_auth(&token)
        .json(&json!({"channel": "veeqo", "api_key": "veeqo_wrong_fake"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("unpaid Veeqo bill"));

    // Connect with a key: checked by a real read, warehouses and marketplaces listed.
    let connected = client
        .post(api("/api/connections"))
        .bearer_auth(&token)
        .json(&json!({"channel": "veeqo", "api_key": KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(connected.status(), 201);
    let connected: Value = connected.json().await.unwrap();
    let id = connected["id"].as_str().unwrap().to_owned();
    assert_eq!(connected["shop"], "company-555");
    assert_eq!(connected["marketplaces"][0]["name"], "Amazon UK");
    let locations = get_json(
        &client,
        api(&format!("/api/connections/{id}/locations")),
        &token,
    )
    .await;
    let ids: Vec<&str> = locations["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["22668", "99001"]);

    // No warehouse chosen: the connection says what is missing, the poll reads nothing,
    // nothing is imported.
    let shown = get_json(&client, api(&format!("/api/connections/{id}")), &token).await;
    assert!(
        shown["missing"][0]
            .as_str()
            .unwrap()
            .contains("Inventory Sync Warehouse"),
        "{shown}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(state.lock().unwrap().orders_polls, 0);
    assert!(!outbox(&client, &runner, &token)
        .await
        .iter()
        .any(|m| m["type"] == "order.imported"));

    // Choose the Amazon location: the FBM order allocated to it is imported, once.
    let chosen = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"inventory_location": "22668"}),
    )
    .await;
    assert_eq!(chosen.status(), 200);
    let shown = get_json(&client, api(&format!("/api/connections/{id}")), &token).await;
    assert!(shown.get("missing").is_none(), "{shown}");
    let imported = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "order.imported" && m["channel_order_id"] == "31"
    })
    .await;
    assert_eq!(imported["order_number"], "206-31");
    assert_eq!(imported["lines"][0]["sku"], "SKU-1");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = outbox(&client, &runner, &token).await;
    let imports: Vec<&Value> = all
        .iter()
        .filter(|m| m["type"] == "order.imported")
        .collect();
    assert_eq!(
        imports.len(),
        1,
        "FBA (32) and elsewhere (33) never: {imports:?}"
    );
    assert_eq!(
        imports[0]["marketplace"],
        json!({"name": "Amazon UK", "prime": true}),
        "the marketplace and Prime travel with the order"
    );
    assert!(state.lock().unwrap().orders_polls >= 2);

    // Tracking: one shipment for our allocation, pushed on to Amazon; a repeat is recognised.
    let wms_event = |body: Value| {
        client
            .post(api("/wms/events"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let dispatched = json!({"type": "shipment.dispatched", "tenant": "dev", "connection": id,
        "channel_order_id": "31", "carrier": "Royal Mail", "tracking_number": "RM123GB"});
    wms_event(dispatched.clone()).await.unwrap();
    let exported = wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "tracking.exported" && m["channel_order_id"] == "31"
    })
    .await;
    assert_eq!(exported["fulfillments"], json!(["4001"]));
    wms_event(dispatched).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    {
        let s = state.lock().unwrap();
        assert_eq!(s.shipments.len(), 1);
        assert_eq!(
            s.shipments[0],
            json!({"shipment": {"tracking_number_attributes": {"tracking_number": "RM123GB"},
                "carrier_id": 1, "notify_customer": false, "update_remote_order": true},
                "allocation_id": 531, "order_id": 31})
        );
    }
    assert!(!outbox(&client, &runner, &token)
        .await
        .iter()
        .any(|m| m["type"] == "tracking.failed"));

    // Stock for 300 sellables: physical = WMS available + Veeqo's allocation, paced.
    let fba_sent = wms_event(json!({"type": "stock.changed", "tenant": "dev",
        "sku": "SKU-FBA", "available": 5, "at": "2026-11-27T10:00:00Z"}))
    .await
    .unwrap();
    assert_eq!(fba_sent.status(), 202);
    for n in 1..=SELLABLES {
        let sent = wms_event(json!({"type": "stock.changed", "tenant": "dev",
            "sku": format!("SKU-{n}"), "available": n % 7, "at": "2026-11-27T10:00:00Z"}))
        .await
        .unwrap();
        assert_eq!(sent.status(), 202);
    }
    let daily = patch_settings(
        &client,
        &runner,
        &token,
        &id,
        json!({"inventory_sync": "daily"}),
    )
    .await;
    assert_eq!(daily.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let written = state.lock().unwrap().stock.len() as u64;
        if written >= SELLABLES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {written} sellables written"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    {
        let s = state.lock().unwrap();
        assert_eq!(
            s.stock.get(&(100_000 + FBA_ONLY)),
            None,
            "the FBA-only sellable is never written"
        );
        assert_eq!(s.stock.len() as u64, SELLABLES);
        for n in 1..=SELLABLES {
            // SKU-1: order 31 (2 units) is imported but not yet applied by the WMS, so the
            // listed quantity is 1 − 2 → 0; Veeqo's allocation is added back on top.
            let listed = if n == 1 { 0 } else { (n % 7) as i64 };
            let expected = listed + ALLOCATED;
            assert_eq!(s.stock.get(&(100_000 + n)), Some(&expected), "sellable {n}");
        }
        // ~600 requests in a bucket of 20: paced, so (almost) never throttled, and any 429 was
        // retried (every sellable is written).
        assert!(s.throttled <= 10, "{} requests were throttled", s.throttled);
        // The orders poll kept running during the push.
        assert!(
            s.orders_polls > s.polls_at_first_write.unwrap() + 2,
            "no poll during the push"
        );
        assert!(s.unexpected.is_empty(), "{:?}", s.unexpected);
    }

    // The SKU audit flags the sellable without a SKU.
    let audit = get_json(&client, api("/api/sku-audit"), &token).await;
    let veeqo_audit = audit["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "veeqo")
        .unwrap()
        .clone();
    assert_eq!(veeqo_audit["blank_skus"]["total"], 1, "{veeqo_audit}");
    stop(runner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veeqo_installs_by_oauth_once_per_account() {
    use wiremock::matchers::{body_string_contains, method, path};
    let veeqo = MockServer::start().await;
    for (code, token) in [
        ("code_one", "veeqo_token_fake_1"),
        ("code_two", "veeqo_token_fake_2"),
    ] {
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_string_contains(format!("code={code}").as_str()))
            .and(body_string_contains("grant_type=authorization_code"))
            .and(body_string_contains("client_id=veeqo_cid_fake"))
            .and(body_string_contains("client_secret=veeqo_secret_fake"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"access_token": token, "token_type": "bearer", "created_at": 1}),
            ))
            .expect(1)
            .mount(&veeqo)
            .await;
        Mock::given(method("GET"))
            .and(path("/current_company"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"id": 777, "name": "Acme Ltd"})),
            )
            .expect(1)
            .mount(&veeqo)
            .await;
    }
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let uri = veeqo.uri();
    let runner = spawn(
        data.path(),
        &token,
        &[
            ("VEEQO_API_BASE", uri.as_str()),
            ("VEEQO_CLIENT_ID", "veeqo_cid_fake"),
            ("VEEQO_CLIENT_SECRET", "veeqo_secret_fake"),
            (
                "VEEQO_AUTHORIZE_URL",
                "https://app.veeqo.example/oauth/authorize",
            ),
        ],
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut connections = Vec::new();
    for code in ["code_one", "code_two"] {
        let started: Value = client
            .post(format!("{}/api/oauth/veeqo/start", runner.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let authorize = started["authorize_url"].as_str().unwrap();
        assert!(authorize.starts_with("https://app.veeqo.example/oauth/authorize?"));
        assert_eq!(
            query_value(authorize, "client_id").as_deref(),
            Some("veeqo_cid_fake")
        );
        assert_eq!(
            query_value(authorize, "response_type").as_deref(),
            Some("code")
        );
        let redirect_uri = query_value(authorize, "redirect_uri").unwrap();
        assert!(
            redirect_uri.ends_with("/oauth/veeqo/callback"),
            "{redirect_uri}"
        );
        let state = query_value(authorize, "state").unwrap();
        let callback = format!(
            "{}/oauth/veeqo/callback?code={code}&state={state}",
            runner.base
        );
        let back = client.get(&callback).send().await.unwrap();
        assert!(back.status().is_redirection(), "{}", back.status());
        // The dashboard URL (default `{public}/integrations`) with the outcome.
        let location = back.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(
            query_value(&location, "veeqo").as_deref(),
            Some("connected"),
            "{location}"
        );
        connections.push(query_value(&location, "connection").unwrap());
        // The state is single use.
        let again = client.get(&callback).send().await.unwrap();
        assert_eq!(again.status(), 400);
    }
    assert_eq!(
        connections[0], connections[1],
        "one connection per Veeqo account"
    );
    let listed = get_json(&client, format!("{}/api/connections", runner.base), &token).await;
    let veeqo_connections: Vec<&Value> = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["channel"] == "veeqo")
        .collect();
    assert_eq!(veeqo_connections.len(), 1);
    assert_eq!(veeqo_connections[0]["shop"], "company-777");
    assert_eq!(veeqo_connections[0]["status"], "active");
    assert!(!listed.to_string().contains("veeqo_token_fake"));
    stop(runner);
}
