//! Black-box test of `channel-sync serve`: a Shopify that creates the fulfillment and then
//! fails to answer (502 after the write) must not get a second `fulfillmentCreate` when the
//! shipment is retried. The real binary on a free port, a `wiremock` Shopify behind
//! `SHOPIFY_API_BASE` that fails any call it does not expect.

mod common;

use common::{
    connected_id, outbox, shopify_form, spawn_shopify, stop, strict_shopify, Runner, ShopifyEnv,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

const SHOP: &str = "retry-shop.myshopify.com";
const TOKEN: &str = "shpat_fake_retry_token";
const GRAPHQL: &str = "/admin/api/2026-10/graphql.json";
const ORDER: &str = "gid://shopify/Order/5630201856307";

type Env = ShopifyEnv;

async fn env() -> Env {
    let env = strict_shopify(SHOP, TOKEN, "Retry Shop").await;
    common::mount_one_location(&env.shopify).await;
    env
}

fn start(env: &Env) -> Runner {
    let api_base = env.shopify.uri();
    let extra = [("CHANNEL_SYNC_RECONCILE_SECS", "0")];
    spawn_shopify(env.data.path(), &env.token, &env.secret, &api_base, &extra)
}

/// The order as Shopify shows it: one fulfillment order with two units of `TS-002` and, once
/// the first `fulfillmentCreate` was applied, one unit left and the fulfillment carrying the
/// tracking number.
fn order(created: bool) -> Value {
    let fulfillments = if created {
        json!([{"id": "gid://shopify/Fulfillment/555", "status": "SUCCESS",
            "fulfillmentOrders": {"nodes": [{"id": "gid://shopify/FulfillmentOrder/91"}]},
            "trackingInfo": [{"number": "JD014600003828", "company": "DHL Express",
                "url": "https://track.example/JD014600003828"}]}])
    } else {
        json!([])
    };
    json!({"data": {"order": {"id": ORDER, "fulfillments": fulfillments,
        "fulfillmentOrders": {"nodes": [{
            "id": "gid://shopify/FulfillmentOrder/91", "status": "OPEN",
            "assignedLocation": {"location": {"id": "gid://shopify/Location/1"}},
            "lineItems": {"nodes": [{"id": "gid://shopify/FulfillmentOrderLineItem/2",
                "remainingQuantity": if created { 1 } else { 2 },
                "lineItem": {"id": "gid://shopify/LineItem/2", "sku": "TS-002"}}],
                "pageInfo": {"hasNextPage": false, "endCursor": null}}
        }], "pageInfo": {"hasNextPage": false, "endCursor": null}}}}})
}

/// GIVEN a two-unit line WHEN the WMS ships one unit and Shopify applies the fulfillment but
/// answers 502, and the shipment comes again THEN `fulfillmentCreate` was sent once, for one
/// unit, and the WMS hears `tracking.exported` once, with the fulfillment found on the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_shipment_whose_answer_was_lost_is_fulfilled_once() {
    let env = env().await;
    let created = Arc::new(AtomicBool::new(false));
    let seen = created.clone();
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_partial_json(json!({"variables": {"id": ORDER}})))
        .respond_with(move |_: &Request| {
            ResponseTemplate::new(200).set_body_json(order(seen.load(Ordering::SeqCst)))
        })
        .named("order reads")
        .mount(&env.shopify)
        .await;
    let applied = created.clone();
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_partial_json(json!({"variables": {"fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/91",
                "fulfillmentOrderLineItems": [{"id": "gid://shopify/FulfillmentOrderLineItem/2", "quantity": 1}]}],
            "trackingInfo": {"company": "DHL Express", "number": "JD014600003828",
                "url": "https://track.example/JD014600003828"}
        }}})))
        .respond_with(move |_: &Request| {
            // Applied on Shopify, but the answer never makes it back.
            applied.store(true, Ordering::SeqCst);
            ResponseTemplate::new(502).set_body_string("Bad Gateway")
        })
        .expect(1)
        .named("fulfillmentCreate")
        .mount(&env.shopify)
        .await;

    let client = reqwest::Client::new();
    let runner = start(&env);
    let form = shopify_form(SHOP, TOKEN);
    let connection = connected_id(&client, &runner, &env.token, &form).await;

    let shipment = json!({"type": "shipment.dispatched", "tenant": "dev", "connection": connection,
        "channel_order_id": "5630201856307", "lines": [{"sku": "TS-002", "quantity": 1}],
        "carrier": "DHL Express", "tracking_number": "JD014600003828",
        "tracking_url": "https://track.example/JD014600003828"});
    let post = || {
        client
            .post(format!("{}/wms/events", runner.base))
            .bearer_auth(&env.token)
            .json(&shipment)
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 202);
    // Wait until Shopify applied the fulfillment (and lost the answer).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !created.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "fulfillmentCreate never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The WMS heard nothing and sends the shipment again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(post().await.unwrap().status(), 202);

    let deadline = Instant::now() + Duration::from_secs(15);
    let messages = loop {
        let messages = outbox(&client, &runner, &env.token).await;
        if !messages.is_empty() {
            // A little longer, so that a duplicate would show.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            break outbox(&client, &runner, &env.token).await;
        }
        assert!(
            Instant::now() < deadline,
            "no tracking result reached the WMS"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "tracking.exported", "{messages:?}");
    assert_eq!(
        messages[0]["fulfillments"],
        json!(["gid://shopify/Fulfillment/555"])
    );
    assert_eq!(messages[0]["tracking_number"], "JD014600003828");
    stop(runner);
    // Dropping the mock server checks fulfillmentCreate was called exactly once.
}
