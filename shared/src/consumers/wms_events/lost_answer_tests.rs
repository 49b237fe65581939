//! A lost answer never writes twice: for each channel, a fake store that PERFORMS the write
//! and then drops the answer (a 5xx after recording it, or an answer so late that the worker
//! is gone), then the retry — the consumer's own (`Disposition::Retry`, the message comes
//! back) and a queue redelivery after a crashed worker's claim expired. Each ends with exactly
//! one write on the store and one `tracking.exported` to the WMS.

use super::*;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::{shopify_fixture, woo_connection, ShopifyFixture};
use crate::domain::{Channel, Connection, ConnectionStatus};
use crate::embedded::EmbeddedQueue;
use serde_json::Value;
use std::sync::Mutex;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// How the first write's answer is lost.
#[derive(Clone, Copy, Debug)]
enum Lost {
    /// The store writes, then answers 502.
    ServerError,
    /// The store writes, then answers only after the worker has died (the handler is dropped
    /// mid-call, its claim left to expire).
    WorkerGone,
}

/// The first write's answer: lost as `lost` says; later ones as `ok`.
fn answer(lost: Lost, first: bool, ok: ResponseTemplate) -> ResponseTemplate {
    match (first, lost) {
        (false, _) => ok,
        (true, Lost::ServerError) => ResponseTemplate::new(502).set_body_string("Bad Gateway"),
        (true, Lost::WorkerGone) => ok.set_delay(Duration::from_secs(3)),
    }
}

struct World {
    deps: Arc<WmsEventsDeps>,
    store: crate::embedded::EmbeddedStore,
    outbox: EmbeddedQueue,
    like: Connection,
    _dir: tempfile::TempDir,
}

async fn world(server: &MockServer) -> World {
    let dir = tempfile::tempdir().unwrap();
    let credentials = ShopifyCredentials::static_token("shpat_fake_ship", "");
    let ShopifyFixture {
        store,
        channels,
        connection,
        ..
    } = shopify_fixture(
        dir.path(),
        "c_ship",
        ConnectionStatus::Active,
        &credentials,
        server.uri(),
    )
    .await;
    super::tests::at_location_1(&store, connection.clone()).await;
    let outbox = store.queue("wms-orders", None, 5);
    let deps = Arc::new(WmsEventsDeps {
        connections: Arc::new(store.clone()),
        idempotency: Arc::new(store.clone()),
        channels,
        records: Arc::new(store.clone()),
        wms_orders: Arc::new(outbox.clone()),
        stock: crate::inventory::engine::embedded_stock(&store),
        dead_letter: Arc::new(store.queue("dlq", None, 5)),
    });
    World {
        deps,
        store,
        outbox,
        like: connection,
        _dir: dir,
    }
}

async fn outbox(w: &World) -> Vec<Value> {
    let tenant = TenantId::parse("dev").unwrap();
    w.outbox
        .read_after(&tenant, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.body)
        .collect()
}

/// The first delivery loses the write's answer; what follows is the retry (the message comes
/// back) or, after a dead worker, the redelivery once its claim expired. Then a duplicate
/// delivery. Returns the WMS messages.
async fn deliver(w: &World, lost: Lost, connection: &str, order: &str, body: &str) -> Vec<Value> {
    match lost {
        Lost::ServerError => {
            let first = handle(w.deps.clone(), body.to_owned()).await;
            assert!(matches!(first, Disposition::Retry(_)), "{first:?}");
            assert!(outbox(w).await.is_empty());
        }
        Lost::WorkerGone => {
            let died = tokio::time::timeout(
                Duration::from_millis(700),
                handle(w.deps.clone(), body.to_owned()),
            )
            .await;
            assert!(died.is_err(), "the worker should still be waiting");
            // Its claim is still held: a redelivery inside the lease waits.
            let early = handle(w.deps.clone(), body.to_owned()).await;
            assert!(matches!(early, Disposition::Retry(_)), "{early:?}");
            // The lease runs out.
            let key =
                crate::keys::shipment(&ConnectionId::parse(connection).unwrap(), order, "1Z999");
            w.store.expire_claim(&key).await;
        }
    }
    assert_eq!(
        handle(w.deps.clone(), body.to_owned()).await,
        Disposition::Done("tracking.exported".into())
    );
    assert_eq!(
        handle(w.deps.clone(), body.to_owned()).await,
        Disposition::Done("shipment already handled".into())
    );
    let messages = outbox(w).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "tracking.exported");
    assert_eq!(messages[0]["tracking_number"], "1Z999");
    messages
}

fn shipment(connection: &str, order: &str, lines: Option<Value>) -> String {
    let mut m = json!({"type": "shipment.dispatched", "tenant": "dev", "connection": connection,
        "channel_order_id": order, "carrier": "UPS", "tracking_number": "1Z999", "tracking_url": null});
    if let Some(lines) = lines {
        m["lines"] = lines;
    }
    m.to_string()
}

// ---- Shopify ------------------------------------------------------------------------------

/// A Shopify order with one line of two units of `A` at one location; `fulfillmentCreate`
/// really fulfils (refusing more than remains) and records the fulfillment with its tracking.
#[derive(Default)]
struct ShopifyState {
    remaining: u32,
    /// (fulfillment id, tracking number, units).
    fulfillments: Vec<(String, String, u32)>,
}

fn fake_shopify(lost: Lost, state: Arc<Mutex<ShopifyState>>) -> impl wiremock::Respond {
    move |request: &Request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let query = body["query"].as_str().unwrap_or_default();
        let mut s = state.lock().unwrap();
        if query.contains("fulfillmentCreate") {
            let input = &body["variables"]["fulfillment"];
            let units: u32 = input["lineItemsByFulfillmentOrder"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|fo| fo["fulfillmentOrderLineItems"].as_array().unwrap().clone())
                .map(|l| l["quantity"].as_u64().unwrap() as u32)
                .sum();
            if units > s.remaining {
                return ResponseTemplate::new(200).set_body_json(
                    json!({"data": {"fulfillmentCreate": {
                    "fulfillment": null, "userErrors": [{"field": ["fulfillment"],
                    "message": "Invalid fulfillment order line item quantity requested."}]}}}),
                );
            }
            s.remaining -= units;
            let id = format!("gid://shopify/Fulfillment/{}", s.fulfillments.len() + 1);
            let number = input["trackingInfo"]["number"].as_str().unwrap().to_owned();
            s.fulfillments.push((id.clone(), number, units));
            let first = s.fulfillments.len() == 1;
            let ok = ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"fulfillmentCreate": {
                "fulfillment": {"id": id, "status": "SUCCESS"}, "userErrors": []}}}));
            return answer(lost, first, ok);
        }
        let fulfillments: Vec<Value> = s
            .fulfillments
            .iter()
            .map(|(id, number, _)| {
                json!({"id": id, "status": "SUCCESS",
                "fulfillmentOrders": {"nodes": [{"id": "gid://shopify/FulfillmentOrder/1"}]},
                "trackingInfo": [{"number": number, "company": "UPS", "url": null}]})
            })
            .collect();
        let status = if s.remaining == 0 { "CLOSED" } else { "OPEN" };
        ResponseTemplate::new(200).set_body_json(json!({"data": {"order": {"id": "gid://shopify/Order/42",
            "fulfillments": fulfillments,
            "fulfillmentOrders": {"nodes": [{"id": "gid://shopify/FulfillmentOrder/1", "status": status,
                "assignedLocation": {"location": {"id": "gid://shopify/Location/1"}},
                "lineItems": {"nodes": [{"id": "gid://shopify/FulfillmentOrderLineItem/1",
                    "remainingQuantity": s.remaining,
                    "lineItem": {"id": "gid://shopify/LineItem/1", "sku": "A"}}],
                    "pageInfo": {"hasNextPage": false, "endCursor": null}}}],
                "pageInfo": {"hasNextPage": false, "endCursor": null}}}}}))
    }
}

async fn shopify_case(lost: Lost, lines: Option<Value>, left: u32) {
    let server = MockServer::start().await;
    let state = Arc::new(Mutex::new(ShopifyState {
        remaining: 2,
        ..ShopifyState::default()
    }));
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(fake_shopify(lost, state.clone()))
        .mount(&server)
        .await;
    let w = world(&server).await;
    let messages = deliver(&w, lost, "c_ship", "42", &shipment("c_ship", "42", lines)).await;
    let s = state.lock().unwrap();
    assert_eq!(s.fulfillments.len(), 1, "one fulfillmentCreate applied");
    assert_eq!(
        s.remaining, left,
        "exactly the parcel's units are fulfilled"
    );
    assert_eq!(
        messages[0]["fulfillments"],
        json!(["gid://shopify/Fulfillment/1"])
    );
}

#[tokio::test]
async fn shopify_partial_shipment_after_a_5xx_fulfils_the_parcel_once() {
    shopify_case(
        Lost::ServerError,
        Some(json!([{"sku": "A", "quantity": 1}])),
        1,
    )
    .await;
}

#[tokio::test]
async fn shopify_partial_shipment_redelivered_after_a_dead_worker_fulfils_the_parcel_once() {
    shopify_case(
        Lost::WorkerGone,
        Some(json!([{"sku": "A", "quantity": 1}])),
        1,
    )
    .await;
}

#[tokio::test]
async fn shopify_whole_order_after_a_lost_answer_is_exported_not_failed() {
    shopify_case(Lost::ServerError, None, 0).await;
}

// ---- WooCommerce (Shipment Tracking extension) -----------------------------------------------

#[derive(Default)]
struct WooState {
    trackings: Vec<Value>,
    notes: Vec<Value>,
    meta: Vec<Value>,
    status: String,
    tracking_posts: u32,
    /// Whether the Shipment Tracking extension is installed (otherwise: an order note).
    extension: bool,
    note_posts: u32,
}

fn fake_woo(lost: Lost, state: Arc<Mutex<WooState>>) -> impl wiremock::Respond {
    move |request: &Request| {
        let mut s = state.lock().unwrap();
        let path = request.url.path().to_owned();
        let method = request.method.as_str().to_owned();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let json_ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
        match (method.as_str(), path.as_str()) {
            ("GET", "/wp-json/wc/v3/orders/727") => json_ok(json!({"id": 727, "status": s.status,
                "line_items": [{"id": 1, "sku": "A", "quantity": 2}], "meta_data": s.meta})),
            ("PUT", "/wp-json/wc/v3/orders/727") => {
                if let Some(status) = body["status"].as_str() {
                    s.status = status.to_owned();
                }
                if let Some(meta) = body["meta_data"].as_array() {
                    for m in meta {
                        s.meta.retain(|old| old["key"] != m["key"]);
                        s.meta
                            .push(json!({"id": 9, "key": m["key"], "value": m["value"]}));
                    }
                }
                json_ok(json!({"id": 727, "status": s.status}))
            }
            ("GET", "/wp-json/wc/v3/orders/727/notes") => json_ok(Value::Array(s.notes.clone())),
            ("POST", "/wp-json/wc/v3/orders/727/notes") => {
                s.note_posts += 1;
                let note = json!({"id": 100 + s.notes.len(), "note": body["note"]});
                s.notes.push(note.clone());
                if s.extension {
                    json_ok(note)
                } else {
                    // Without the extension the note is the write whose answer is lost.
                    answer(lost, s.note_posts == 1, json_ok(note))
                }
            }
            ("GET", TRACKINGS) if s.extension => json_ok(Value::Array(s.trackings.clone())),
            ("POST", TRACKINGS) if s.extension => {
                s.tracking_posts += 1;
                let item = json!({"tracking_id": format!("t{}", s.tracking_posts),
                    "tracking_number": body["tracking_number"], "tracking_provider": body["tracking_provider"]});
                s.trackings.push(item.clone());
                let first = s.tracking_posts == 1;
                answer(lost, first, ResponseTemplate::new(201).set_body_json(item))
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"code": "rest_no_route"})),
        }
    }
}

const TRACKINGS: &str = "/wp-json/wc-shipment-tracking/v3/orders/727/shipment-trackings";

async fn woo_case(lost: Lost, extension: bool) {
    let server = MockServer::start().await;
    let state = Arc::new(Mutex::new(WooState {
        status: "processing".into(),
        extension,
        ..WooState::default()
    }));
    Mock::given(wiremock::matchers::any())
        .respond_with(fake_woo(lost, state.clone()))
        .mount(&server)
        .await;
    let w = world(&server).await;
    woo_connection(
        &w.deps.channels,
        &w.like,
        "c_woo",
        "shop.example",
        server.uri(),
        "whsec",
    )
    .await;
    let body = shipment("c_woo", "727", Some(json!([{"sku": "A", "quantity": 1}])));
    let messages = deliver(&w, lost, "c_woo", "727", &body).await;
    let s = state.lock().unwrap();
    let expected_items = u32::from(extension);
    assert_eq!(s.tracking_posts, expected_items, "tracking items written");
    assert_eq!(s.trackings.len() as u32, expected_items);
    let ours = s
        .notes
        .iter()
        .filter(|n| n["note"].as_str().unwrap_or_default().contains("1Z999"))
        .count();
    assert_eq!(ours, 1, "one partial-shipment note: {:?}", s.notes);
    assert_eq!(s.note_posts, 1);
    assert_eq!(
        s.status, "processing",
        "one of two units shipped: not completed"
    );
    let recorded = s
        .meta
        .iter()
        .find(|m| m["key"] == "_channel_sync_shipped")
        .unwrap();
    assert_eq!(recorded["value"], json!(r#"{"1Z999":{"A":1}}"#));
    let id = if extension { "t1" } else { "100" };
    assert_eq!(messages[0]["fulfillments"][0], id);
}

#[tokio::test]
async fn woocommerce_tracking_after_a_5xx_is_written_once() {
    woo_case(Lost::ServerError, true).await;
}

#[tokio::test]
async fn woocommerce_tracking_redelivered_after_a_dead_worker_is_written_once() {
    woo_case(Lost::WorkerGone, true).await;
}

#[tokio::test]
async fn woocommerce_note_after_a_5xx_is_written_once() {
    woo_case(Lost::ServerError, false).await;
}

#[tokio::test]
async fn woocommerce_note_redelivered_after_a_dead_worker_is_written_once() {
    woo_case(Lost::WorkerGone, false).await;
}

// ---- Magento (a shipment with the track) ----------------------------------------------------

#[derive(Default)]
struct MagentoState {
    shipments: Vec<Value>,
    shipped: u64,
}

fn fake_magento(lost: Lost, state: Arc<Mutex<MagentoState>>) -> impl wiremock::Respond {
    move |request: &Request| {
        let mut s = state.lock().unwrap();
        let path = request.url.path().to_owned();
        let method = request.method.as_str().to_owned();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let json_ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
        match (method.as_str(), path.as_str()) {
            ("GET", "/rest/all/V1/shipments") => {
                json_ok(json!({"items": s.shipments, "total_count": s.shipments.len()}))
            }
            ("GET", "/rest/all/V1/orders/42") => json_ok(json!({
                "entity_id": 42, "increment_id": "000000042", "state": "processing", "status": "processing",
                "items": [{"item_id": 102, "sku": "MUG", "qty_ordered": 3, "qty_shipped": s.shipped,
                    "product_type": "simple"}]})),
            ("POST", "/rest/all/V1/order/42/ship") => {
                let qty: u64 = body["items"]
                    .as_array()
                    .map(|items| items.iter().filter_map(|i| i["qty"].as_u64()).sum())
                    .unwrap_or(3);
                s.shipped += qty;
                let id = 77 + s.shipments.len();
                s.shipments.push(json!({"entity_id": id, "order_id": 42,
                    "items": body["items"], "tracks": body["tracks"]}));
                let first = s.shipments.len() == 1;
                answer(lost, first, json_ok(json!(id)))
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"message": "no route"})),
        }
    }
}

async fn magento_case(lost: Lost) {
    let server = MockServer::start().await;
    let state = Arc::new(Mutex::new(MagentoState::default()));
    Mock::given(wiremock::matchers::any())
        .respond_with(fake_magento(lost, state.clone()))
        .mount(&server)
        .await;
    let w = world(&server).await;
    let mut magento = w.like.clone();
    magento.id = ConnectionId::parse("c_mag").unwrap();
    magento.channel = Channel::Magento;
    magento.shop = "magento.example".into();
    w.deps.connections.create(&magento).await.unwrap();
    let creds = crate::channels::magento::MagentoCredentials {
        store_url: server.uri(),
        store_code: "all".into(),
        consumer_key: "ck".into(),
        consumer_secret: "cs".into(),
        access_token: "at".into(),
        access_token_secret: "ats".into(),
    };
    w.deps
        .channels
        .context()
        .vault
        .put(&magento.credentials_name(), &creds.to_secret())
        .await
        .unwrap();
    let body = shipment("c_mag", "42", Some(json!([{"sku": "MUG", "quantity": 1}])));
    let messages = deliver(&w, lost, "c_mag", "42", &body).await;
    let s = state.lock().unwrap();
    assert_eq!(s.shipments.len(), 1, "one shipment created");
    assert_eq!(s.shipped, 1, "exactly the parcel's unit is shipped");
    assert_eq!(messages[0]["fulfillments"], json!(["77"]));
}

#[tokio::test]
async fn magento_shipment_after_a_5xx_is_created_once() {
    magento_case(Lost::ServerError).await;
}

#[tokio::test]
async fn magento_shipment_redelivered_after_a_dead_worker_is_created_once() {
    magento_case(Lost::WorkerGone).await;
}

// ---- Shopify, two locations: a shipment written in part ----------------------------------------

/// Fulfillment order `n` (1 or 2) at location `n` with one unit of `A`/`B`. The first
/// `fulfillmentCreate` (location 1) is applied and answered; the first one for location 2
/// fails with a 502 *before* Shopify applies it; later ones are applied.
#[derive(Default)]
struct TwoLocations {
    remaining: [u32; 2],
    fulfillments: Vec<(String, usize)>,
    creates: Vec<Value>,
    failed_once: bool,
}

fn fake_two_locations(state: Arc<Mutex<TwoLocations>>) -> impl wiremock::Respond {
    move |request: &Request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let mut s = state.lock().unwrap();
        if body["query"]
            .as_str()
            .unwrap()
            .contains("fulfillmentCreate")
        {
            let input = body["variables"]["fulfillment"].clone();
            s.creates.push(input.clone());
            let by_fo = input["lineItemsByFulfillmentOrder"].as_array().unwrap();
            assert_eq!(by_fo.len(), 1, "one fulfillment order per location");
            let fo = by_fo[0]["fulfillmentOrderId"].as_str().unwrap();
            let n: usize = fo.rsplit('/').next().unwrap().parse().unwrap();
            if n == 2 && !s.failed_once {
                s.failed_once = true;
                return ResponseTemplate::new(502);
            }
            assert_eq!(s.remaining[n - 1], 1, "{fo} fulfilled twice");
            s.remaining[n - 1] = 0;
            let id = format!("gid://shopify/Fulfillment/{}", 10 + n);
            s.fulfillments.push((id.clone(), n));
            return ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"fulfillmentCreate": {
                "fulfillment": {"id": id, "status": "SUCCESS"}, "userErrors": []}}}));
        }
        let fulfillments: Vec<Value> = s
            .fulfillments
            .iter()
            .map(|(id, n)| json!({"id": id, "status": "SUCCESS",
                "fulfillmentOrders": {"nodes": [{"id": format!("gid://shopify/FulfillmentOrder/{n}")}]},
                "trackingInfo": [{"number": "1Z999"}]}))
            .collect();
        let fo = |n: usize, sku: &str| {
            json!({"id": format!("gid://shopify/FulfillmentOrder/{n}"),
                "status": if s.remaining[n - 1] == 0 { "CLOSED" } else { "OPEN" },
                "assignedLocation": {"location": {"id": format!("gid://shopify/Location/{n}")}},
                "lineItems": {"nodes": [{"id": format!("gid://shopify/FulfillmentOrderLineItem/{n}"),
                    "remainingQuantity": s.remaining[n - 1],
                    "lineItem": {"id": format!("gid://shopify/LineItem/{n}"), "sku": sku}}],
                    "pageInfo": {"hasNextPage": false, "endCursor": null}}})
        };
        ResponseTemplate::new(200).set_body_json(
            json!({"data": {"order": {"id": "gid://shopify/Order/42",
            "fulfillments": fulfillments,
            "fulfillmentOrders": {"nodes": [fo(1, "A"), fo(2, "B")],
                "pageInfo": {"hasNextPage": false, "endCursor": null}}}}}),
        )
    }
}

/// A plan of two location groups, as an earlier release recorded it when no fulfilment
/// location was set (today a plan is made for one location only, or refused).
async fn recorded_two_location_plan(w: &World) {
    let group = |n: u32| crate::channels::shopify::PlanGroup {
        location_id: Some(format!("gid://shopify/Location/{n}")),
        by_fulfillment_order: vec![(
            format!("gid://shopify/FulfillmentOrder/{n}"),
            vec![(format!("gid://shopify/FulfillmentOrderLineItem/{n}"), 1)],
        )],
    };
    crate::channels::shopify::ShipmentPlans::new(
        w.deps.records.clone(),
        &ConnectionId::parse("c_ship").unwrap(),
    )
    .record("42", "1Z999", &[group(1), group(2)])
    .await
    .unwrap();
}

#[tokio::test]
async fn shopify_retry_sends_only_the_recorded_groups_not_yet_on_the_order() {
    let server = MockServer::start().await;
    let state = Arc::new(Mutex::new(TwoLocations {
        remaining: [1, 1],
        ..TwoLocations::default()
    }));
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(fake_two_locations(state.clone()))
        .mount(&server)
        .await;
    let w = world(&server).await;
    recorded_two_location_plan(&w).await;
    let body = shipment("c_ship", "42", None);
    let first = handle(w.deps.clone(), body.clone()).await;
    assert!(matches!(first, Disposition::Retry(_)), "{first:?}");
    // The recorded plan stays until every group is written.
    let plan = w
        .deps
        .records
        .fetch(
            "shipment-plan#c_ship",
            "gid://shopify/Order/42\u{241f}1Z999",
        )
        .await
        .unwrap()
        .expect("the plan is recorded");
    assert_eq!(plan.value["groups"].as_array().unwrap().len(), 2);

    assert_eq!(
        handle(w.deps.clone(), body.clone()).await,
        Disposition::Done("tracking.exported".into())
    );
    {
        let s = state.lock().unwrap();
        // Location 1 once; location 2 failed unapplied, then re-sent exactly as planned.
        assert_eq!(s.creates.len(), 3);
        assert_eq!(s.creates[1], s.creates[2]);
        assert_eq!(s.remaining, [0, 0]);
        assert_eq!(s.fulfillments.len(), 2);
    }
    let messages = outbox(&w).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["fulfillments"],
        json!([
            "gid://shopify/Fulfillment/11",
            "gid://shopify/Fulfillment/12"
        ])
    );
    assert!(w
        .deps
        .records
        .fetch(
            "shipment-plan#c_ship",
            "gid://shopify/Order/42\u{241f}1Z999"
        )
        .await
        .unwrap()
        .is_none());
}

// ---- Shopify, two locations: only the warehouse's fulfillment orders are fulfilled ------------

/// Mounts the two-location order (no plan recorded) and the shop's `locations` active ones.
async fn two_location_order(server: &MockServer, locations: u32) -> Arc<Mutex<TwoLocations>> {
    let state = Arc::new(Mutex::new(TwoLocations {
        remaining: [1, 1],
        // Location 2's first create would fail: it must never be sent at all.
        ..TwoLocations::default()
    }));
    crate::channels::testkit::mount_locations(server, locations).await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(fake_two_locations(state.clone()))
        .mount(server)
        .await;
    state
}

fn location_reads(requests: &[Request]) -> usize {
    requests
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("ChannelSyncLocations"))
        .count()
}

/// An order held `no_fulfilment_location` (or any order) that the WMS ships anyway, on a
/// connection whose location is set: only that location's fulfillment order is fulfilled.
#[tokio::test]
async fn shopify_a_shipment_fulfils_only_the_fulfilment_locations_fulfillment_orders() {
    let server = MockServer::start().await;
    let state = two_location_order(&server, 2).await;
    let w = world(&server).await;
    assert_eq!(
        handle(w.deps.clone(), shipment("c_ship", "42", None)).await,
        Disposition::Done("tracking.exported".into())
    );
    {
        let s = state.lock().unwrap();
        assert_eq!(s.creates.len(), 1, "{:?}", s.creates);
        assert_eq!(
            s.creates[0]["lineItemsByFulfillmentOrder"][0]["fulfillmentOrderId"],
            "gid://shopify/FulfillmentOrder/1"
        );
        assert_eq!(
            s.remaining,
            [0, 1],
            "location 2's order is left to location 2"
        );
    }
    assert_eq!(
        outbox(&w).await[0]["fulfillments"],
        json!(["gid://shopify/Fulfillment/11"])
    );
    // The location is the connection's: the shop's locations are not read.
    assert_eq!(
        location_reads(&server.received_requests().await.unwrap()),
        0
    );
}

/// No fulfilment location on a shop with two active locations: nothing is fulfilled, and the
/// WMS hears `tracking.failed` saying what to set — never every location's fulfillment orders.
#[tokio::test]
async fn shopify_without_a_fulfilment_location_on_a_two_location_shop_fulfils_nothing() {
    use crate::ports::Connections;
    let server = MockServer::start().await;
    let state = two_location_order(&server, 2).await;
    let w = world(&server).await;
    let tenant = TenantId::parse("dev").unwrap();
    let id = ConnectionId::parse("c_ship").unwrap();
    let mut connection = w.store.get(&tenant, &id).await.unwrap().unwrap();
    connection.settings.fulfilment_location = None;
    w.store.update(&connection).await.unwrap().stored().unwrap();

    let body = shipment("c_ship", "42", None);
    assert_eq!(
        handle(w.deps.clone(), body.clone()).await,
        Disposition::Done("tracking.failed".into())
    );
    assert!(
        state.lock().unwrap().creates.is_empty(),
        "nothing fulfilled"
    );
    let messages = outbox(&w).await;
    assert_eq!(messages.len(), 1);
    let reason = messages[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no fulfilment location")
            && reason.contains("settings.fulfilment_location"),
        "{reason}"
    );
    assert!(reason.contains("2 active locations"), "{reason}");
    // The claim is settled: a redelivery does not try again.
    assert_eq!(
        handle(w.deps.clone(), body).await,
        Disposition::Done("shipment already handled".into())
    );
    assert!(state.lock().unwrap().creates.is_empty());
    assert_eq!(
        location_reads(&server.received_requests().await.unwrap()),
        1
    );
}
