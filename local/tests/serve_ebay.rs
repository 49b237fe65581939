//! Black-box test of `channel-sync serve` with eBay: the real binary on a free port against a
//! `wiremock` eBay behind `EBAY_API_BASE` that asserts every request it answers. Install by
//! OAuth (Basic client credentials, the seller read), notification subscriptions, the
//! deletion endpoint's challenge, two signed `ORDER_CONFIRMATION`s of a two-line order (one
//! import, the key fetched once), and an account deletion of the seller (disconnected). The
//! simulated eBay is `local::fakes::ebay` (the demo's), with this test's expectations.

mod common;

use common::{fake, outbox, patch_settings, spawn, stop, wait_for_message};
use local::fakes::ebay::{self as fake, notification, Signer};
use serde_json::{json, Value};
use shared::channels::ebay::notify::challenge_response;
use std::time::Duration;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const VERIFICATION: &str = "fake-verification-token-serve-0123456789";
const SELLER: &str = "serve_seller_uid_fake";
const ORDER: &str = "12-34567-00001";
const KID: &str = "kid-serve-1";
/// base64("ebay-cid-fake:ebay-secret-fake")
const BASIC: &str = "Basic ZWJheS1jaWQtZmFrZTplYmF5LXNlY3JldC1mYWtl";

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn fake_ebay(signer: &Signer) -> MockServer {
    let ebay = MockServer::start().await;
    let (user, app) = ("user-token-serve", "app-token-serve");
    let [destinations, create_destination] = fake::destination(app, VERIFICATION);
    let [subscriptions, subscribe] = fake::subscription(user);
    for mock in [
        fake::code_exchange(
            BASIC,
            "grant_type=authorization_code&code=v%5E1.1%23fake-code&redirect_uri=Fake_Co-FakeApp-PRD-runame",
            user,
        ),
        fake::app_token(BASIC, app),
        fake::seller(user, SELLER),
        destinations,
        create_destination,
        subscriptions,
        subscribe,
        fake::public_key(app, signer),
    ] {
        mock.expect(1).mount(&ebay).await;
    }
    Mock::given(method("GET"))
        .and(path(format!("/sell/fulfillment/v1/order/{ORDER}")))
        .and(header("authorization", "Bearer user-token-serve"))
        .respond_with(ok(fake::order(
            ORDER,
            &[("L-1", "TS-001", 2), ("L-2", "MUG-1", 1)],
        )))
        // The confirmation's re-read, then once per parcel.
        .expect(3)
        .mount(&ebay)
        .await;
    let fulfillments = format!("/sell/fulfillment/v1/order/{ORDER}/shipping_fulfillment");
    Mock::given(method("GET"))
        .and(path(fulfillments.clone()))
        .and(header("authorization", "Bearer user-token-serve"))
        .respond_with(ok(json!({"fulfillments": [], "total": 0})))
        .expect(2)
        .mount(&ebay)
        .await;
    for (line, quantity, carrier, number) in
        [("L-1", 2, "RoyalMail", "RM1"), ("L-2", 1, "Hermes", "EV2")]
    {
        Mock::given(method("POST"))
            .and(path(fulfillments.clone()))
            .and(header("authorization", "Bearer user-token-serve"))
            .and(body_string_contains(format!(
                "\"lineItems\":[{{\"lineItemId\":\"{line}\",\"quantity\":{quantity}}}]"
            )))
            .and(body_string_contains(format!(
                "\"shippingCarrierCode\":\"{carrier}\""
            )))
            .and(body_string_contains(format!(
                "\"trackingNumber\":\"{number}\""
            )))
            .respond_with(ResponseTemplate::new(201).insert_header(
                "location",
                format!("https://api.ebay.com{fulfillments}/F-{number}"),
            ))
            .expect(1)
            .mount(&ebay)
            .await;
    }
    ebay
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ebay_seller_installs_and_a_two_line_order_is_imported_once_then_deleted() {
    let signer = Signer::new(KID);
    let ebay = fake_ebay(&signer).await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("devtoken");
    let api_base = ebay.uri();
    let runner = spawn(
        data.path(),
        &token,
        &[
            ("EBAY_CLIENT_ID", "ebay-cid-fake"),
            ("EBAY_CLIENT_SECRET", "ebay-secret-fake"),
            ("EBAY_API_BASE", &api_base),
            ("EBAY_RUNAME", "Fake_Co-FakeApp-PRD-runame"),
            ("EBAY_VERIFICATION_TOKEN", VERIFICATION),
            (
                "CHANNEL_SYNC_DASHBOARD_URL",
                "https://wms.example/integrations",
            ),
            ("CHANNEL_SYNC_RECONCILE_SECS", "0"),
        ],
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    // Install: the consent URL, then eBay's redirect back with the code.
    let start: Value = client
        .post(format!("{}/api/oauth/ebay/start", runner.base))
        .bearer_auth(&token)
        .json(&json!({"marketplace": "EBAY_GB"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = reqwest::Url::parse(start["authorize_url"].as_str().unwrap()).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    assert_eq!(param("redirect_uri"), "Fake_Co-FakeApp-PRD-runame");
    assert_eq!(param("client_id"), "ebay-cid-fake");
    let state = param("state");
    let callback = client
        .get(format!(
            "{}/oauth/ebay/callback?code=v%5E1.1%23fake-code&state={state}",
            runner.base
        ))
        .send()
        .await
        .unwrap();
    assert!(callback.status().is_redirection(), "{}", callback.status());
    let location = callback.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("ebay=connected"), "{location}");
    let connection = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "connection")
        .map(|(_, v)| v.into_owned())
        .unwrap();

    // The deletion endpoint's challenge.
    let challenge: Value = client
        .get(format!(
            "{}/webhooks/ebay?challenge_code=serve-challenge-1",
            runner.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = format!("{}/webhooks/ebay", runner.base);
    assert_eq!(
        challenge["challengeResponse"],
        challenge_response("serve-challenge-1", VERIFICATION, &endpoint)
    );

    // Two confirmations (one per line item), signed with the same kid.
    for id in ["n-line-1", "n-line-2"] {
        let body = notification(
            "ORDER_CONFIRMATION",
            id,
            json!({"orderId": ORDER, "sellerId": SELLER}),
        );
        let answer = client
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("x-ebay-signature", signer.header(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let imported =
        wait_for_message(&client, &runner, &token, |m| m["type"] == "order.imported").await;
    assert_eq!(imported["channel"], "ebay");
    assert_eq!(imported["channel_order_id"], ORDER);
    assert_eq!(imported["lines"].as_array().unwrap().len(), 2);
    // A forged one is refused 412.
    let body = notification(
        "ORDER_CONFIRMATION",
        "n-forged",
        json!({"orderId": ORDER, "sellerId": SELLER}),
    );
    let forged = Signer::new(KID).header(&body);
    let answer = client
        .post(&endpoint)
        .header("x-ebay-signature", forged)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 412);

    // Shipped in two parcels: two shipping fulfillments, each with its lines and carrier.
    for (sku, quantity, carrier, number) in [
        ("TS-001", 2, "Royal Mail", "RM1"),
        ("MUG-1", 1, "Evri", "EV2"),
    ] {
        let shipment = json!({"type": "shipment.dispatched", "tenant": "dev", "connection": connection,
            "channel_order_id": ORDER, "lines": [{"sku": sku, "quantity": quantity}],
            "carrier": carrier, "tracking_number": number});
        let answer = client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(&token)
            .json(&shipment)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        wait_for_message(&client, &runner, &token, |m| {
            m["type"] == "tracking.exported" && m["tracking_number"] == number
        })
        .await;
    }

    // Stock: 30 Inventory API items; switching inventory sync on reads them, then pushes the
    // WMS quantities with their offers in bulk calls of at most 25 SKUs.
    let skus: Vec<String> = (0..30).map(|i| format!("EB-{i:02}")).collect();
    let items: Vec<Value> = skus
        .iter()
        .map(|sku| json!({"sku": sku, "product": {"title": format!("Item {sku}")}}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/inventory_item"))
        .and(wiremock::matchers::query_param("offset", "0"))
        .and(header("authorization", "Bearer user-token-serve"))
        .respond_with(ok(json!({"total": 30, "inventoryItems": items})))
        .mount(&ebay)
        .await;
    fake::offers("user-token-serve").mount(&ebay).await;
    fake::bulk_update("user-token-serve").mount(&ebay).await;
    for (i, sku) in skus.iter().enumerate() {
        let answer = client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(&token)
            .json(
                &json!({"type": "stock.changed", "tenant": "dev", "sku": sku,
                "available": i + 1, "at": "2026-11-28T10:00:00Z"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
    }
    let patched = patch_settings(
        &client,
        &runner,
        &token,
        &connection,
        json!({"inventory_sync": "daily"}),
    )
    .await;
    assert_eq!(patched.status(), 200, "{}", patched.text().await.unwrap());
    let bulk_calls = || async {
        ebay.received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/sell/inventory/v1/bulk_update_price_quantity")
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .collect::<Vec<Value>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let calls = loop {
        let calls = bulk_calls().await;
        let sent: usize = calls
            .iter()
            .map(|c| c["requests"].as_array().map_or(0, Vec::len))
            .sum();
        if sent >= 30 {
            break calls;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first push never sent every SKU: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sizes: Vec<usize> = calls
        .iter()
        .map(|c| c["requests"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [25, 5], "bulk calls of at most 25 SKUs");
    let request = calls
        .iter()
        .flat_map(|c| c["requests"].as_array().unwrap().iter())
        .find(|q| q["sku"] == "EB-07")
        .unwrap();
    assert_eq!(
        request,
        &json!({"sku": "EB-07", "shipToLocationAvailability": {"quantity": 8},
            "offers": [{"offerId": "O-EB-07", "availableQuantity": 8}]})
    );

    // The seller deletes their eBay account.
    let body = notification(
        "MARKETPLACE_ACCOUNT_DELETION",
        "n-delete",
        json!({"username": "serve_seller", "userId": SELLER, "eiasToken": "eias-fake"}),
    );
    let answer = client
        .post(&endpoint)
        .header("x-ebay-signature", signer.header(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    wait_for_message(&client, &runner, &token, |m| {
        m["type"] == "connection.disconnected"
    })
    .await;
    let imports = outbox(&client, &runner, &token)
        .await
        .into_iter()
        .filter(|m| m["type"] == "order.imported")
        .count();
    assert_eq!(imports, 1, "two notifications, one import");
    stop(runner);
}
