//! Veeqo's client, store, stock writer and OAuth app against wiremock servers that assert the
//! exact requests (method, path, query, auth header, body).

use super::client::{VeeqoClient, MAX_ATTEMPTS};
use super::limiter::Limiter;
use super::order::map_order;
use super::store::{carrier_id, updated_at_min, VeeqoStore, OTHER_CARRIER};
use super::{VeeqoCredentials, UNAUTHORIZED_HINT};
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::store::{ShipError, ShippedSku, StoreApi, Tracking};
use crate::channels::ClientError;
use crate::domain::Sku;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_json, body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const API_KEY: &str = "veeqo-api-key-fake";
pub(crate) const TOKEN: &str = "veeqo-token-fake";
/// Our Inventory Sync Warehouse.
pub(crate) const WAREHOUSE: &str = "22668";
/// Another warehouse of the account.
pub(crate) const OTHER_WAREHOUSE: &str = "99001";

pub(crate) fn key() -> VeeqoCredentials {
    VeeqoCredentials::ApiKey {
        api_key: API_KEY.into(),
    }
}

pub(crate) fn client(server: &MockServer) -> VeeqoClient {
    VeeqoClient::new(Some(server.uri()), Arc::new(Limiter::default()))
        .unwrap()
        .with_backoff(Duration::from_millis(10))
}

fn store(server: &MockServer) -> VeeqoStore {
    VeeqoStore::new(client(server), key(), WAREHOUSE.into())
}

/// A Veeqo line (order or allocation) of `qty` × `sku`.
pub(crate) fn line(id: u64, sku: &str, qty: u64) -> Value {
    json!({"id": id, "quantity": qty, "sellable": {"id": id + 1000, "sku_code": sku, "product_title": "Tee"}})
}

/// An allocation of `lines` to `warehouse`, unshipped.
pub(crate) fn allocation(id: u64, warehouse: &str, lines: Vec<Value>) -> Value {
    json!({"id": id, "warehouse": {"id": warehouse.parse::<u64>().unwrap(), "name": "W"},
        "line_items": lines, "shipment": null})
}

/// A Veeqo order as `GET /orders` lists it: FBM on Amazon UK, awaiting fulfilment, allocated
/// whole to our warehouse.
pub(crate) fn veeqo_order(id: u64, updated_at: &str) -> Value {
    let lines = vec![line(1, "SKU-A", 2), line(2, "SKU-B", 1)];
    json!({
        "id": id, "number": format!("026-{id}"), "status": "awaiting_fulfillment",
        "created_at": "2026-11-20T08:45:00.000Z", "updated_at": updated_at,
        "fulfilled_by_amazon": false, "is_amazon_prime": true,
        "channel": {"id": 7, "name": "Amazon UK", "type_code": "amazon"},
        "deliver_to": {"first_name": "Ada", "last_name": "L", "address1": "1 High St",
            "city": "Swansea", "zip": "SA1 2BT", "country": "GB", "phone": "0123"},
        "customer": {"email": "buyer@example.com"},
        "line_items": lines.clone(),
        "allocations": [allocation(500 + id, WAREHOUSE, lines)],
    })
}

// ---------------------------------------------------------------------------------------------
// Client: authentication, 401, 429
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_api_key_goes_in_x_api_key_and_a_token_as_bearer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .and(header("x-api-key", API_KEY))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 21314, "name": "ACME"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 21314, "name": "ACME"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let by_key = c.current_company(&key()).await.unwrap();
    assert_eq!(by_key.identity().as_deref(), Some("company-21314"));
    let by_token = c
        .current_company(&VeeqoCredentials::Oauth {
            access_token: TOKEN.into(),
        })
        .await
        .unwrap();
    assert_eq!(by_token.name.as_deref(), Some("ACME"));
    for r in server.received_requests().await.unwrap() {
        let has_key = r.headers.contains_key("x-api-key");
        let has_bearer = r.headers.contains_key("authorization");
        assert!(has_key != has_bearer, "exactly one credential per request");
    }
}

#[tokio::test]
async fn a_401_is_unauthorized_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/warehouses"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error_messages": "Unauthorized"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).warehouses(&key()).await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized), "{err:?}");
    assert!(UNAUTHORIZED_HINT.contains("unpaid Veeqo bill"));
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_and_then_answered() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "A"})))
        .expect(1)
        .mount(&server)
        .await;
    let started = tokio::time::Instant::now();
    let company = client(&server).current_company(&key()).await.unwrap();
    assert_eq!(company.id.as_deref(), Some("1"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After"
    );
}

#[tokio::test]
async fn repeated_429s_give_up_after_a_bounded_number_of_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .respond_with(ResponseTemplate::new(429))
        .expect(u64::from(MAX_ATTEMPTS))
        .mount(&server)
        .await;
    let err = client(&server).current_company(&key()).await.unwrap_err();
    assert!(matches!(err, ClientError::Throttled { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Orders: FBA vs FBM, allocation, status
// ---------------------------------------------------------------------------------------------

#[test]
fn an_fbm_order_allocated_to_our_warehouse_is_ready_with_its_lines() {
    let order = map_order(&veeqo_order(11, "2026-11-20T09:00:00.000Z"), WAREHOUSE).unwrap();
    assert_eq!(order.awaiting, None);
    assert!(order.hold_reasons.is_empty(), "{:?}", order.hold_reasons);
    assert_eq!(order.channel_order_id.as_str(), "11");
    assert_eq!(order.order_number, "026-11");
    let lines: Vec<(String, u32)> = order
        .lines
        .iter()
        .map(|l| (l.sku.as_ref().unwrap().as_str().to_owned(), l.quantity))
        .collect();
    assert_eq!(lines, [("SKU-A".to_owned(), 2), ("SKU-B".to_owned(), 1)]);
    let to = order.ship_to.unwrap();
    assert_eq!(to.name.as_deref(), Some("Ada L"));
    assert_eq!(to.country_code.as_deref(), Some("GB"));
    assert_eq!(to.email.as_deref(), Some("buyer@example.com"));
}

/// FBA and FBM are told apart by the order's `fulfilled_by_amazon`: `true` is Amazon's to
/// ship and is never ready, whatever the status and allocation.
#[test]
fn an_fba_order_is_never_ready_whatever_its_status() {
    for status in [
        "awaiting_fulfillment",
        "awaiting_payment",
        "shipped",
        "on_hold",
    ] {
        let mut raw = veeqo_order(12, "2026-11-20T09:00:00.000Z");
        raw["fulfilled_by_amazon"] = json!(true);
        raw["status"] = json!(status);
        let order = map_order(&raw, WAREHOUSE).unwrap();
        let reason = order.awaiting.expect("an FBA order must wait");
        assert!(reason.contains("FBA"), "{reason}");
        assert!(!order.awaiting_payment, "import_unpaid must not lift FBA");
    }
}

#[test]
fn an_amazon_order_without_the_fba_flag_waits_but_other_channels_do_not() {
    let mut raw = veeqo_order(13, "2026-11-20T09:00:00.000Z");
    raw.as_object_mut().unwrap().remove("fulfilled_by_amazon");
    let amazon = map_order(&raw, WAREHOUSE).unwrap();
    assert!(amazon.awaiting.unwrap().contains("fulfilled_by_amazon"));
    raw["channel"]["type_code"] = json!("shopify");
    assert_eq!(map_order(&raw, WAREHOUSE).unwrap().awaiting, None);
}

#[test]
fn an_order_allocated_elsewhere_waits_and_a_split_order_brings_only_our_lines() {
    let mut elsewhere = veeqo_order(14, "2026-11-20T09:00:00.000Z");
    elsewhere["allocations"] = json!([allocation(600, OTHER_WAREHOUSE, vec![line(1, "SKU-A", 2)])]);
    let order = map_order(&elsewhere, WAREHOUSE).unwrap();
    assert!(order.awaiting.unwrap().contains("another Veeqo warehouse"));

    let mut split = veeqo_order(15, "2026-11-20T09:00:00.000Z");
    split["allocations"] = json!([
        allocation(601, OTHER_WAREHOUSE, vec![line(1, "SKU-A", 2)]),
        allocation(602, WAREHOUSE, vec![line(2, "SKU-B", 1)]),
    ]);
    let order = map_order(&split, WAREHOUSE).unwrap();
    assert_eq!(order.awaiting, None);
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].sku.as_ref().unwrap().as_str(), "SKU-B");
    assert_eq!(order.lines[0].quantity, 1);
}

#[test]
fn statuses_other_than_awaiting_fulfillment_wait_and_cancellations_cancel() {
    for (status, cancelled, payment) in [
        ("cancelled", true, false),
        ("refunded", true, false),
        ("awaiting_payment", false, true),
        ("awaiting_stock", false, false),
        ("on_hold", false, false),
        ("shipped", false, false),
    ] {
        let mut raw = veeqo_order(16, "2026-11-20T09:00:00.000Z");
        raw["status"] = json!(status);
        let order = map_order(&raw, WAREHOUSE).unwrap();
        assert!(order.awaiting.is_some(), "{status} must wait");
        assert_eq!(order.cancelled, cancelled, "{status}");
        assert_eq!(order.awaiting_payment, payment, "{status}");
        assert_eq!(order.fulfilled, status == "shipped");
    }
}

#[test]
fn unreadable_orders_are_reported_not_dropped() {
    assert_eq!(
        map_order(&json!({"number": "x"}), WAREHOUSE).unwrap_err().0,
        "?"
    );
    let mut raw = veeqo_order(17, "not a time");
    raw["updated_at"] = json!(42);
    assert_eq!(map_order(&raw, WAREHOUSE).unwrap_err().0, "17");
    // A line without a SKU holds the order, never drops the line.
    let mut raw = veeqo_order(18, "2026-11-20T09:00:00.000Z");
    raw["allocations"][0]["line_items"][0]["sellable"]["sku_code"] = json!("");
    let order = map_order(&raw, WAREHOUSE).unwrap();
    assert_eq!(order.lines.len(), 2);
    assert!(!order.hold_reasons.is_empty());
}

#[tokio::test]
async fn the_orders_poll_asks_by_updated_at_min_and_walks_the_page_headers() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap();
    assert_eq!(updated_at_min(since), "2026-11-19 18:30:00");
    for (page, ids) in [("1", [1u64, 2]), ("2", [3, 4])] {
        let orders: Vec<Value> = ids
            .iter()
            .map(|id| veeqo_order(*id, "2026-11-20T09:00:00.000Z"))
            .collect();
        Mock::given(method("GET"))
            .and(path("/orders"))
            .and(query_param("updated_at_min", "2026-11-19 18:30:00"))
            .and(query_param("page_size", "100"))
            .and(query_param("page", page))
            .and(header("x-api-key", API_KEY))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("X-Total-Pages-Count", "2")
                    .insert_header("X-Page-Index", page)
                    .set_body_json(orders),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let store = store(&server);
    let first = store.orders_updated_since(since, None).await.unwrap();
    assert_eq!(first.next_cursor.as_deref(), Some("2"));
    let second = store.orders_updated_since(since, Some("2")).await.unwrap();
    assert_eq!(second.next_cursor, None);
    let ids: Vec<&str> = first
        .orders
        .iter()
        .chain(&second.orders)
        .map(|o| o.channel_order_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert!(matches!(
        store.orders_updated_since(since, Some("0")).await,
        Err(ClientError::BadResponse(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Tracking
// ---------------------------------------------------------------------------------------------

fn tracking(company: &str) -> Tracking {
    Tracking {
        company: company.into(),
        number: crate::domain::TrackingNumber::parse("1Z-FAKE-1").unwrap(),
        url: None,
    }
}

async fn mount_order(server: &MockServer, order: Value) {
    let id = order["id"].as_u64().unwrap();
    Mock::given(method("GET"))
        .and(path(format!("/orders/{id}")))
        .and(header("x-api-key", API_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(order))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_shipment_is_posted_for_our_allocation_with_update_remote_order() {
    let server = MockServer::start().await;
    let mut order = veeqo_order(21, "2026-11-20T09:00:00.000Z");
    order["allocations"] = json!([
        allocation(700, OTHER_WAREHOUSE, vec![line(1, "SKU-A", 2)]),
        allocation(701, WAREHOUSE, vec![line(2, "SKU-B", 1)]),
    ]);
    mount_order(&server, order).await;
    Mock::given(method("POST"))
        .and(path("/shipments"))
        .and(header("x-api-key", API_KEY))
        .and(body_json(json!({
            "shipment": {"tracking_number_attributes": {"tracking_number": "1Z-FAKE-1"},
                "carrier_id": 1, "notify_customer": false, "update_remote_order": true},
            "allocation_id": 701, "order_id": 21
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 3, "allocation_id": 701})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ids = store(&server)
        .write_tracking("21", None, &tracking("Royal Mail"), false)
        .await
        .unwrap();
    assert_eq!(ids, ["3"]);
}

#[tokio::test]
async fn a_retry_finds_its_own_shipment_and_another_tracking_is_refused() {
    let server = MockServer::start().await;
    let mut order = veeqo_order(22, "2026-11-20T09:00:00.000Z");
    order["allocations"][0]["shipment"] =
        json!({"id": 9, "tracking_number": {"id": 1, "tracking_number": "1Z-FAKE-1"}});
    mount_order(&server, order).await;
    Mock::given(method("POST"))
        .and(path("/shipments"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    let s = store(&server);
    assert_eq!(
        s.write_tracking("22", None, &tracking("UPS"), true)
            .await
            .unwrap(),
        ["9"]
    );
    let mut other = tracking("UPS");
    other.number = crate::domain::TrackingNumber::parse("1Z-OTHER").unwrap();
    let err = s
        .write_tracking("22", None, &other, true)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ShipError::Permanent(m) if m.contains("second shipment")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_partial_shipment_of_an_allocation_is_refused_for_good() {
    let server = MockServer::start().await;
    mount_order(&server, veeqo_order(23, "2026-11-20T09:00:00.000Z")).await;
    let partial = [ShippedSku {
        sku: "SKU-A".into(),
        quantity: 1,
    }];
    let err = store(&server)
        .write_tracking("23", Some(&partial), &tracking("UPS"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ShipError::Permanent(m) if m.contains("whole")),
        "{err:?}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "no POST"
    );
}

#[test]
fn carriers_map_to_veeqo_ids_and_unknown_ones_to_other() {
    assert_eq!(carrier_id("Royal Mail"), 1);
    assert_eq!(carrier_id("FEDEX"), 2);
    assert_eq!(carrier_id("ups"), 5);
    assert_eq!(carrier_id("DHL DE"), 24);
    assert_eq!(carrier_id("Parcelforce"), 12);
    assert_eq!(carrier_id("Bob's Vans"), OTHER_CARRIER);
    assert_eq!(carrier_id(""), OTHER_CARRIER);
}

// ---------------------------------------------------------------------------------------------
// Products and stock
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn products_become_listings_per_sellable_and_blank_skus_show() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/products"))
        .and(query_param("page_size", "100"))
        .and(query_param("page", "1"))
        .and(header("x-api-key", API_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "title": "Tee", "sellables": [
                {"id": 11, "sku_code": "TEE-S", "stock_entries": [{"warehouse_id": 22668, "infinite": false}]},
                {"id": 12, "sku_code": " ", "stock_entries": []},
                {"id": 13, "sku_code": "TEE-L", "stock_entries": [{"warehouse_id": 22668, "infinite": true}]}
            ]}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let page = store(&server).listings_page(None).await.unwrap();
    assert_eq!(page.next_cursor, None, "a short page is the last");
    let summary: Vec<(&str, Option<&str>, bool)> = page
        .listings
        .iter()
        .map(|l| (l.variant_id.as_str(), l.sku.as_deref(), l.tracked))
        .collect();
    assert_eq!(
        summary,
        [
            ("11", Some("TEE-S"), true),
            ("12", None, true),
            ("13", Some("TEE-L"), false)
        ]
    );
    let report = crate::channels::store::sku_report(&page.listings);
    assert_eq!(report.blank, ["12"]);
}

fn push_item(sellable: &str, quantity: i64) -> PushItem {
    PushItem {
        sku: Sku::parse("SKU-A").unwrap(),
        item: sellable.into(),
        quantity,
        change_from: None,
    }
}

#[tokio::test]
async fn stock_sets_physical_so_that_available_equals_the_wms_quantity() {
    let server = MockServer::start().await;
    let entry = format!("/sellables/11/warehouses/{WAREHOUSE}/stock_entry");
    Mock::given(method("GET"))
        .and(path(entry.as_str()))
        .and(header("x-api-key", API_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "physical_stock_level": 20, "allocated_stock_level": 3, "available_stock_level": 17})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(entry.as_str()))
        .and(header("x-api-key", API_KEY))
        .and(body_json(
            json!({"stock_entry": {"physical_stock_level": 8, "infinite": false}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"physical_stock_level": 8})))
        .expect(1)
        .mount(&server)
        .await;
    // Sellable 12 is unknown: no entry to read, and the write is refused. Sellable 13's
    // write is answered with an HTML page: that item is refused, the batch goes on.
    Mock::given(method("PUT"))
        .and(path(format!(
            "/sellables/12/warehouses/{WAREHOUSE}/stock_entry"
        )))
        .and(body_json(
            json!({"stock_entry": {"physical_stock_level": 1, "infinite": false}}),
        ))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error_messages": "Not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(format!(
        "/sellables/13/warehouses/{WAREHOUSE}/stock_entry"
    )))
    .respond_with(ResponseTemplate::new(400).set_body_string("<html>Bad request</html>"))
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/sellables/12/warehouses/{WAREHOUSE}/stock_entry"
        )))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error_messages": "Not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let writer = super::inventory::VeeqoInventory::new(client(&server), key(), WAREHOUSE.into());
    let results = writer
        .push(
            "run",
            "key",
            &[
                push_item("11", 5),
                push_item("12", 1),
                push_item("../x", 1),
                push_item("13", 1),
            ],
        )
        .await
        .unwrap();
    assert_eq!(results[0], ItemResult::Set);
    assert!(matches!(&results[1], ItemResult::Rejected { code, .. } if code == "not_found"));
    assert!(matches!(&results[2], ItemResult::Rejected { code, .. } if code == "invalid_sellable"));
    assert!(
        matches!(&results[3], ItemResult::Rejected { code, message } if code == "bad_response" && message.contains("HTML")),
        "{:?}",
        results[3]
    );
    // Only our warehouse's entries were touched.
    for r in server.received_requests().await.unwrap() {
        assert!(
            r.url.path().contains(&format!("/warehouses/{WAREHOUSE}/")),
            "{}",
            r.url
        );
    }
}

#[tokio::test]
async fn a_401_on_a_stock_write_stops_the_batch() {
    let server = MockServer::start().await;
    Mock::given(path(format!(
        "/sellables/11/warehouses/{WAREHOUSE}/stock_entry"
    )))
    .respond_with(ResponseTemplate::new(401))
    .expect(1)
    .mount(&server)
    .await;
    let writer = super::inventory::VeeqoInventory::new(client(&server), key(), WAREHOUSE.into());
    let err = writer
        .push("run", "key", &[push_item("11", 5), push_item("12", 5)])
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::NeedsReauth), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// OAuth
// ---------------------------------------------------------------------------------------------

fn oauth(server: &MockServer) -> super::adapter::VeeqoOAuth {
    super::adapter::VeeqoOAuth::new(
        crate::channels::context::AppCredentials {
            client_id: "veeqo-cid-fake".into(),
            secrets: vec![crate::ports::Secret::new("veeqo-secret-fake")],
            api_base: Some(server.uri()),
        },
        "https://app.veeqo.example/oauth/authorize".into(),
        client(server),
    )
}

#[tokio::test]
async fn oauth_authorize_url_and_code_exchange_are_exact() {
    use crate::channels::adapter::{Callback, OAuthApp};
    let server = MockServer::start().await;
    let app = oauth(&server);
    assert!(app.is_configured());
    assert_eq!(
        app.authorize_url(None, "https://sync.example/oauth/veeqo/callback", "st-1", None),
        "https://app.veeqo.example/oauth/authorize?client_id=veeqo-cid-fake&redirect_uri=https%3A%2F%2Fsync.example%2Foauth%2Fveeqo%2Fcallback&response_type=code&scope=&state=st-1"
    );
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "grant_type=authorization_code&code=code-1&redirect_uri=https%3A%2F%2Fsync.example%2Foauth%2Fveeqo%2Fcallback&client_id=veeqo-cid-fake&client_secret=veeqo-secret-fake",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": TOKEN, "token_type": "bearer", "created_at": 1}))
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 21314, "name": "ACME"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let installed = app
        .exchange(
            "code-1",
            Callback {
                query: &[],
                shop: None,
                redirect_uri: "https://sync.example/oauth/veeqo/callback",
                pkce_verifier: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(installed.shop, "company-21314");
    assert_eq!(installed.display_name.as_deref(), Some("ACME"));
    assert_eq!(
        VeeqoCredentials::from_secret(&installed.credentials).unwrap(),
        VeeqoCredentials::Oauth {
            access_token: TOKEN.into()
        }
    );
}

#[tokio::test]
async fn a_refused_code_is_an_exchange_failure() {
    use crate::channels::adapter::{Callback, InstallError, OAuthApp};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_grant"})))
        .expect(1)
        .mount(&server)
        .await;
    let err = oauth(&server)
        .exchange(
            "stale",
            Callback {
                query: &[],
                shop: None,
                redirect_uri: "https://sync.example/oauth/veeqo/callback",
                pkce_verifier: None,
            },
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, InstallError::ExchangeFailed(_)), "{err:?}");
}

#[test]
fn credentials_never_print() {
    let printed = format!("{:?}", key());
    assert!(!printed.contains(API_KEY), "{printed}");
    let round = VeeqoCredentials::from_secret(&key().to_secret()).unwrap();
    assert_eq!(round, key());
    let err = VeeqoCredentials::from_secret(&crate::ports::Secret::new(format!("{{{API_KEY}")))
        .unwrap_err();
    assert!(!err.contains(API_KEY));
}

#[cfg(feature = "embedded")]
mod connect;

// ---------------------------------------------------------------------------------------------
// Marketplace and Prime
// ---------------------------------------------------------------------------------------------

#[test]
fn a_veeqo_order_carries_its_marketplace_and_prime_flag() {
    use crate::domain::Marketplace;
    let order = map_order(&veeqo_order(11, "2026-11-20T09:00:00.000Z"), WAREHOUSE).unwrap();
    assert_eq!(order.order_number, "026-11", "the channel order number");
    assert_eq!(
        order.marketplace,
        Some(Marketplace {
            name: "Amazon UK".into(),
            prime: true
        })
    );
    // Not Prime (false, absent or not a boolean), on another channel.
    for prime in [json!(false), Value::Null, json!("yes")] {
        let mut raw = veeqo_order(12, "2026-11-20T09:00:00.000Z");
        raw["is_amazon_prime"] = prime;
        raw["channel"] = json!({"id": 8, "name": "eBay UK", "type_code": "ebay"});
        let order = map_order(&raw, WAREHOUSE).unwrap();
        assert_eq!(
            order.marketplace,
            Some(Marketplace {
                name: "eBay UK".into(),
                prime: false
            })
        );
    }
    // No channel name: the type code; no channel at all and not Prime: none.
    let mut raw = veeqo_order(13, "2026-11-20T09:00:00.000Z");
    raw["channel"] = json!({"id": 9, "type_code": "amazon"});
    assert_eq!(
        map_order(&raw, WAREHOUSE)
            .unwrap()
            .marketplace
            .unwrap()
            .name,
        "amazon"
    );
    raw.as_object_mut().unwrap().remove("channel");
    raw["is_amazon_prime"] = json!(false);
    assert_eq!(map_order(&raw, WAREHOUSE).unwrap().marketplace, None);
}

// ---------------------------------------------------------------------------------------------
// FBA-only listings
// ---------------------------------------------------------------------------------------------

/// A channel listing of a sellable on a channel of `type_code`, with extra fields.
fn channel_listing(type_code: &str, extra: Value) -> Value {
    let mut l = json!({"id": 70, "remote_sku": "X", "channel_product_status": "pulled",
        "channel": {"id": 13, "name": "Store", "type_code": type_code}});
    if let (Some(l), Some(extra)) = (l.as_object_mut(), extra.as_object()) {
        l.extend(extra.clone());
    }
    l
}

#[tokio::test]
async fn sellables_listed_only_as_fba_are_not_tracked_so_never_pushed() {
    let server = MockServer::start().await;
    let entry = json!([{"warehouse_id": 22668, "infinite": false}]);
    let fba = channel_listing("amazon", json!({"fulfilled_by_amazon": true}));
    let fba_uk = channel_listing("amazon_uk", json!({"fulfillment_channel": "AMAZON_EU"}));
    let fba_afn = channel_listing("amazon", json!({"fulfilment_channel": "AFN"}));
    let fbm = channel_listing("amazon", json!({"fulfilled_by_amazon": false}));
    let unknown = channel_listing("amazon", json!({}));
    let ebay = channel_listing("ebay", json!({"fulfilled_by_amazon": true}));
    Mock::given(method("GET"))
        .and(path("/products"))
        .and(query_param("page_size", "100"))
        .and(query_param("page", "1"))
        .and(header("x-api-key", API_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "title": "Mug", "sellables": [
                {"id": 21, "sku_code": "FBA-ONLY", "stock_entries": entry,
                    "channel_sellables": [fba, fba_uk, fba_afn]},
                {"id": 22, "sku_code": "FBA-AND-FBM", "stock_entries": entry,
                    "channel_sellables": [fba, fbm]},
                {"id": 23, "sku_code": "FBA-AND-EBAY", "stock_entries": entry,
                    "channel_sellables": [fba, ebay]},
                {"id": 24, "sku_code": "NO-FLAG", "stock_entries": entry,
                    "channel_sellables": [unknown]},
                {"id": 25, "sku_code": "UNLISTED", "stock_entries": entry,
                    "channel_sellables": []},
                {"id": 26, "sku_code": "BAD", "stock_entries": entry,
                    "channel_sellables": [{"fulfilled_by_amazon": true}, "x"]}
            ]}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let page = store(&server).listings_page(None).await.unwrap();
    let tracked: Vec<(&str, bool)> = page
        .listings
        .iter()
        .map(|l| (l.sku.as_deref().unwrap_or(""), l.tracked))
        .collect();
    assert_eq!(
        tracked,
        [
            ("FBA-ONLY", false),
            ("FBA-AND-FBM", true),
            ("FBA-AND-EBAY", true),
            ("NO-FLAG", true),
            ("UNLISTED", true),
            ("BAD", true)
        ]
    );
    // The FBA-only sellable still shows in the SKU audit (it is sellable), only not pushed.
    assert!(page.listings.iter().all(|l| l.sellable));
}
