//! Wiremock tests of every call: exact method, path, query, Basic auth header and JSON body;
//! `.expect(n)` makes unexpected or duplicate calls fail when the server is dropped.

use super::*;
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::store::{ConnectError, ShipError, ShippedSku, StoreApi, Tracking};
use crate::channels::store_url::{store_client, StoreUrl, UrlPolicy};
use crate::channels::ClientError;
use crate::domain::Sku;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// base64("ck_test:cs_test")
const AUTH: &str = "Basic Y2tfdGVzdDpjc190ZXN0";
const DELIVERY: &str = "https://hooks.example.com/webhooks/woocommerce/c_1";

fn client() -> WooClient {
    WooClient::new(store_client(
        UrlPolicy {
            allow_private: true,
        },
        Duration::from_secs(5),
    ))
}

fn creds(server: &MockServer) -> WooCredentials {
    WooCredentials {
        store_url: server.uri(),
        consumer_key: "ck_test".into(),
        consumer_secret: "cs_test".into(),
        webhook_secret: "whsec123".into(),
    }
}

fn store(server: &MockServer) -> WooStore {
    WooStore::new(client(), creds(server)).unwrap()
}

fn url(server: &MockServer) -> StoreUrl {
    StoreUrl::stored(&server.uri()).unwrap()
}

fn json_reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

// ---------- check_connection ----------

async fn mount_index(server: &MockServer, namespaces: Value) {
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(json_reply(
            200,
            json!({"name": "Demo Shop", "namespaces": namespaces}),
        ))
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_orders_read(server: &MockServer, template: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders"))
        .and(query_param("per_page", "1"))
        .and(query_param("_fields", "id"))
        .and(header("authorization", AUTH))
        .respond_with(template)
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_write_check(server: &MockServer, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/webhooks/batch"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({})))
        .respond_with(template)
        .expect(1)
        .mount(server)
        .await;
}

async fn check(server: &MockServer) -> Result<WooStoreInfo, ConnectError> {
    client()
        .check_connection(&url(server), "ck_test", "cs_test")
        .await
}

#[tokio::test]
async fn connect_succeeds_with_read_write_keys() {
    let server = MockServer::start().await;
    mount_index(
        &server,
        json!(["oembed/1.0", "wp/v2", "wc/v3", "wc/store/v1"]),
    )
    .await;
    mount_orders_read(&server, json_reply(200, json!([{"id": 1}]))).await;
    mount_write_check(&server, json_reply(200, json!({}))).await;
    let info = check(&server).await.unwrap();
    assert_eq!(
        info,
        WooStoreInfo {
            name: Some("Demo Shop".into()),
            wc_version: None
        }
    );
    // The index is read anonymously.
    let requests = server.received_requests().await.unwrap();
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn connect_refuses_sites_that_are_not_wordpress() {
    // An HTML page instead of JSON.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string("<!DOCTYPE html><html><body>Welcome</body></html>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = check(&server).await.unwrap_err();
    assert!(
        matches!(&err, ConnectError::NotTheChannel(m) if m.contains("is not a WordPress site, or its REST API is disabled") && m.contains("HTML")),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // A 404.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(ResponseTemplate::new(404).set_body_string("<html>Not found</html>"))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        check(&server).await,
        Err(ConnectError::NotTheChannel(m)) if m.contains("is not a WordPress site")
    ));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn connect_without_woocommerce_is_no_api() {
    let server = MockServer::start().await;
    mount_index(&server, json!(["oembed/1.0", "wp/v2"])).await;
    assert_eq!(
        check(&server).await,
        Err(ConnectError::NoApi(
            "WordPress answers but WooCommerce's REST API (wc/v3) is not available: is WooCommerce active?".into()
        ))
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn connect_with_wrong_or_revoked_keys() {
    let server = MockServer::start().await;
    mount_index(&server, json!(["wc/v3"])).await;
    mount_orders_read(
        &server,
        json_reply(
            401,
            json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}),
        ),
    )
    .await;
    assert_eq!(
        check(&server).await,
        Err(ConnectError::WrongCredentials(
            "WooCommerce rejected the consumer key and secret".into()
        ))
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn connect_with_a_read_only_key() {
    let server = MockServer::start().await;
    mount_index(&server, json!(["wc/v3"])).await;
    mount_orders_read(&server, json_reply(200, json!([]))).await;
    mount_write_check(
        &server,
        json_reply(
            401,
            json!({"code": "woocommerce_rest_authentication_error", "message": "The API key provided does not have write permissions.", "data": {"status": 401}}),
        ),
    )
    .await;
    assert_eq!(
        check(&server).await,
        Err(ConnectError::InsufficientPermissions(
            "the key is read-only: create a key with Read/Write permission".into()
        ))
    );
}

#[tokio::test]
async fn connect_to_a_failing_or_slow_store_is_unreachable() {
    // A 500 error page.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string("<html>There has been a critical error on this website.</html>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        check(&server).await,
        Err(ConnectError::Unreachable(m)) if m.contains("500")
    ));

    // A 500 on the authenticated read.
    let server = MockServer::start().await;
    mount_index(&server, json!(["wc/v3"])).await;
    mount_orders_read(&server, ResponseTemplate::new(500).set_body_string("oops")).await;
    assert!(matches!(
        check(&server).await,
        Err(ConnectError::Unreachable(_))
    ));

    // A timeout.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(
            json_reply(200, json!({"namespaces": ["wc/v3"]})).set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let slow = WooClient::new(store_client(
        UrlPolicy {
            allow_private: true,
        },
        Duration::from_millis(300),
    ));
    let err = slow
        .check_connection(&url(&server), "ck_test", "cs_test")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectError::Unreachable(m) if m.contains("in time")),
        "{err:?}"
    );
}

// ---------- webhooks ----------

async fn mount_webhook_list(server: &MockServer, hooks: Value) {
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/webhooks"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .and(header("authorization", AUTH))
        .respond_with(json_reply(200, hooks).insert_header("X-WP-TotalPages", "1"))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn ensure_webhooks_creates_only_the_missing_topic() {
    let server = MockServer::start().await;
    mount_webhook_list(
        &server,
        json!([
            {"id": 4, "topic": "order.created", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            {"id": 54, "topic": "order.deleted", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            // Someone else's webhook on our other topic is not ours.
            {"id": 5, "topic": "order.updated", "status": "active", "delivery_url": "https://erp.example.com/hook"}
        ]),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/webhooks"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({
            "name": "channel-sync order.updated",
            "topic": "order.updated",
            "delivery_url": DELIVERY,
            "secret": "whsec123",
            "status": "active"
        })))
        .respond_with(json_reply(201, json!({"id": 6, "status": "active"})))
        .expect(1)
        .mount(&server)
        .await;
    let report = client()
        .ensure_webhooks(&creds(&server), DELIVERY)
        .await
        .unwrap();
    assert_eq!(
        report,
        WebhookReport {
            existing: vec!["order.created".into(), "order.deleted".into()],
            created: vec!["order.updated".into()],
            reenabled: vec![],
            updated: vec![],
        }
    );
}

#[tokio::test]
async fn ensure_webhooks_reenables_a_disabled_one() {
    let server = MockServer::start().await;
    mount_webhook_list(
        &server,
        json!([
            {"id": 4, "topic": "order.created", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            {"id": 54, "topic": "order.deleted", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            {"id": 9, "topic": "order.updated", "status": "disabled", "delivery_url": DELIVERY}
        ]),
    )
    .await;
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/webhooks/9"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({"status": "active", "secret": "whsec123"})))
        .respond_with(json_reply(200, json!({"id": 9, "status": "active"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(json_reply(201, json!({})))
        .expect(0)
        .mount(&server)
        .await;
    let report = client()
        .ensure_webhooks(&creds(&server), DELIVERY)
        .await
        .unwrap();
    assert_eq!(report.reenabled, vec!["order.updated".to_owned()]);
    assert_eq!(
        report.existing,
        vec!["order.created".to_owned(), "order.deleted".to_owned()]
    );
    assert!(report.created.is_empty());
}

#[tokio::test]
async fn ensure_webhooks_changes_nothing_when_both_are_active() {
    let server = MockServer::start().await;
    mount_webhook_list(
        &server,
        json!([
            {"id": 4, "topic": "order.created", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            {"id": 54, "topic": "order.deleted", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            {"id": 7, "topic": "order.updated", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"}
        ]),
    )
    .await;
    let report = client()
        .ensure_webhooks(&creds(&server), DELIVERY)
        .await
        .unwrap();
    assert_eq!(report.existing.len(), 3);
    assert!(report.created.is_empty() && report.reenabled.is_empty() && report.updated.is_empty());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn ensure_webhooks_pages_through_the_list() {
    let server = MockServer::start().await;
    let others: Vec<Value> = (1..=100)
        .map(|i| json!({"id": i, "topic": "product.updated", "status": "active", "delivery_url": "https://x.example.com"}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/webhooks"))
        .and(query_param("page", "1"))
        .and(header("authorization", AUTH))
        .respond_with(json_reply(200, Value::Array(others)).insert_header("X-WP-TotalPages", "2"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/webhooks"))
        .and(query_param("page", "2"))
        .and(header("authorization", AUTH))
        .respond_with(
            json_reply(
                200,
                json!([
                    {"id": 104, "topic": "order.created", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
                    {"id": 154, "topic": "order.deleted", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
                    {"id": 107, "topic": "order.updated", "status": "paused", "delivery_url": DELIVERY}
                ]),
            )
            .insert_header("X-WP-TotalPages", "2"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/webhooks/107"))
        .and(body_json(json!({"status": "active", "secret": "whsec123"})))
        .respond_with(json_reply(200, json!({"id": 107})))
        .expect(1)
        .mount(&server)
        .await;
    let report = client()
        .ensure_webhooks(&creds(&server), DELIVERY)
        .await
        .unwrap();
    assert_eq!(report.reenabled, vec!["order.updated".to_owned()]);
    assert_eq!(
        report.existing,
        vec!["order.created".to_owned(), "order.deleted".to_owned()]
    );
}

/// Secret drift: an active webhook of ours listed with another secret, or with none, is sent
/// ours again; one listed with ours is left alone.
#[tokio::test]
async fn ensure_webhooks_resends_our_secret_when_the_listing_shows_another_or_none() {
    let server = MockServer::start().await;
    mount_webhook_list(
        &server,
        json!([
            // Re-created connection: the store still signs with the old secret.
            {"id": 4, "topic": "order.created", "status": "active", "delivery_url": DELIVERY, "secret": "oldsecret"},
            {"id": 54, "topic": "order.deleted", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            // No secret field at all (WooCommerce's own listing leaves it out).
            {"id": 7, "topic": "order.updated", "status": "active", "delivery_url": DELIVERY}
        ]),
    )
    .await;
    for id in ["4", "7"] {
        Mock::given(method("PUT"))
            .and(path(format!("/wp-json/wc/v3/webhooks/{id}")))
            .and(header("authorization", AUTH))
            .and(body_json(json!({"status": "active", "secret": "whsec123"})))
            .respond_with(json_reply(200, json!({"id": id, "status": "active"})))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(json_reply(201, json!({})))
        .expect(0)
        .mount(&server)
        .await;
    let report = client()
        .ensure_webhooks(&creds(&server), DELIVERY)
        .await
        .unwrap();
    assert_eq!(
        report,
        WebhookReport {
            existing: vec!["order.deleted".into()],
            created: vec![],
            reenabled: vec![],
            updated: vec!["order.created".into(), "order.updated".into()],
        }
    );
}

#[tokio::test]
async fn ensure_webhooks_leaves_a_webhook_with_our_secret_alone() {
    let server = MockServer::start().await;
    mount_webhook_list(
        &server,
        json!([
            {"id": 4, "topic": "order.created", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            {"id": 54, "topic": "order.deleted", "status": "active", "delivery_url": DELIVERY, "secret": "whsec123"},
            {"id": 7, "topic": "order.updated", "status": "active", "delivery_url": DELIVERY, "secret": "oldsecret"}
        ]),
    )
    .await;
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/webhooks/7"))
        .and(body_json(json!({"status": "active", "secret": "whsec123"})))
        .respond_with(json_reply(200, json!({"id": 7})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/webhooks/4"))
        .respond_with(json_reply(200, json!({"id": 4})))
        .expect(0)
        .mount(&server)
        .await;
    let report = client()
        .ensure_webhooks(&creds(&server), DELIVERY)
        .await
        .unwrap();
    assert_eq!(
        report.existing,
        vec!["order.created".to_owned(), "order.deleted".to_owned()]
    );
    assert_eq!(report.updated, vec!["order.updated".to_owned()]);
    assert!(report.created.is_empty() && report.reenabled.is_empty());
}

#[test]
fn webhook_reports_recorded_without_updated_still_read() {
    let report: WebhookReport = serde_json::from_value(
        json!({"existing": ["order.created"], "created": [], "reenabled": ["order.updated"]}),
    )
    .unwrap();
    assert!(report.updated.is_empty());
    assert_eq!(serde_json::to_value(&report).unwrap()["updated"], json!([]));
}

#[tokio::test]
async fn ensure_webhooks_with_revoked_keys_is_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/webhooks"))
        .respond_with(json_reply(
            401,
            json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        client().ensure_webhooks(&creds(&server), DELIVERY).await,
        Err(ClientError::Unauthorized)
    ));
}

// ---------- orders poll ----------

fn wc_order(id: u64, status: &str) -> Value {
    json!({
        "id": id, "number": id.to_string(), "status": status, "currency": "EUR",
        "date_created_gmt": "2026-11-20T10:00:00", "date_modified_gmt": "2026-11-21T10:00:00",
        "date_paid_gmt": "2026-11-20T10:05:00",
        "billing": {"email": "buyer@example.com"},
        "shipping": {"first_name": "Ada", "last_name": "L", "address_1": "1 Main St", "city": "Dublin", "postcode": "D01", "country": "IE"},
        "line_items": [{"id": id * 10, "sku": "TS-1", "quantity": 1, "name": "Tee"}]
    })
}

async fn mount_orders_page(server: &MockServer, page: &str, template: ResponseTemplate) {
    mount_orders_pass(server, "any", page, template).await
}

async fn mount_orders_pass(
    server: &MockServer,
    status: &str,
    page: &str,
    template: ResponseTemplate,
) {
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders"))
        .and(query_param("modified_after", "2026-11-20T08:30:00"))
        .and(query_param("dates_are_gmt", "true"))
        .and(query_param("status", status))
        .and(query_param("orderby", "id"))
        .and(query_param("order", "asc"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", page))
        .and(header("authorization", AUTH))
        .respond_with(template)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn poll_pages_by_number_and_skips_unmappable_orders() {
    let server = MockServer::start().await;
    mount_orders_page(
        &server,
        "1",
        json_reply(
            200,
            json!([wc_order(11, "processing"), {"id": 12, "status": "processing"}, wc_order(13, "on-hold")]),
        )
        .insert_header("X-WP-TotalPages", "2")
        .insert_header("X-WP-Total", "4"),
    )
    .await;
    mount_orders_page(
        &server,
        "2",
        json_reply(200, json!([wc_order(14, "cancelled")])).insert_header("X-WP-TotalPages", "2"),
    )
    .await;
    let store = store(&server);
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap();
    let first = store.orders_updated_since(since, None).await.unwrap();
    assert_eq!(first.next_cursor.as_deref(), Some("2"));
    let ids: Vec<&str> = first
        .orders
        .iter()
        .map(|o| o.channel_order_id.as_str())
        .collect();
    assert_eq!(ids, ["11", "13"]);
    assert_eq!(
        first.orders[1].awaiting.as_deref(),
        Some("on hold on WooCommerce")
    );
    assert_eq!(first.skipped.len(), 1);
    assert_eq!(first.skipped[0].0, "12");
    assert!(first.skipped[0].1.contains("date_created_gmt"));
    let second = store
        .orders_updated_since(since, first.next_cursor.as_deref())
        .await
        .unwrap();
    // The last page of the `any` pass leads to the trash pass.
    assert_eq!(second.next_cursor.as_deref(), Some("trash:1"));
    assert!(second.orders[0].cancelled);
}

/// `status=any` leaves trashed orders out: after the last `any` page the poll walks
/// `status=trash` with the same parameters, and a trashed order arrives cancelled.
#[tokio::test]
async fn poll_walks_trashed_orders_after_the_any_pass() {
    let server = MockServer::start().await;
    mount_orders_pass(
        &server,
        "any",
        "1",
        json_reply(200, json!([wc_order(11, "processing")])).insert_header("X-WP-TotalPages", "1"),
    )
    .await;
    // A full trash page without X-WP-TotalPages: there may be more.
    let trashed: Vec<Value> = (101..=200).map(|i| wc_order(i, "trash")).collect();
    mount_orders_pass(
        &server,
        "trash",
        "1",
        json_reply(200, Value::Array(trashed)),
    )
    .await;
    mount_orders_pass(
        &server,
        "trash",
        "2",
        json_reply(200, json!([wc_order(201, "trash")])).insert_header("X-WP-TotalPages", "2"),
    )
    .await;
    let store = store(&server);
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap();
    let mut cursor: Option<String> = None;
    let mut cursors = Vec::new();
    let mut cancelled = Vec::new();
    loop {
        let page = store
            .orders_updated_since(since, cursor.as_deref())
            .await
            .unwrap();
        cancelled.extend(
            page.orders
                .iter()
                .filter(|o| o.cancelled)
                .map(|o| o.channel_order_id.as_str().to_owned()),
        );
        cursor = page.next_cursor;
        cursors.push(cursor.clone());
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        cursors,
        [Some("trash:1".to_owned()), Some("trash:2".to_owned()), None]
    );
    assert_eq!(cancelled.len(), 101);
    assert_eq!(cancelled.last().map(String::as_str), Some("201"));
    let statuses: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let q: std::collections::HashMap<_, _> = r.url.query_pairs().into_owned().collect();
            format!("{}:{}", q["status"], q["page"])
        })
        .collect();
    assert_eq!(statuses, ["any:1", "trash:1", "trash:2"]);
}

#[tokio::test]
async fn poll_cursors_keep_bare_numbers_and_refuse_garbage() {
    let server = MockServer::start().await;
    // An empty `any` page: on to the trash pass.
    mount_orders_pass(&server, "any", "3", json_reply(200, json!([]))).await;
    mount_orders_pass(
        &server,
        "trash",
        "4",
        json_reply(200, json!([])).insert_header("X-WP-TotalPages", "4"),
    )
    .await;
    let store = store(&server);
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap();
    let page = store.orders_updated_since(since, Some("3")).await.unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("trash:1"));
    let page = store
        .orders_updated_since(since, Some("trash:4"))
        .await
        .unwrap();
    assert_eq!(page.next_cursor, None);
    for bad in [
        "trash:",
        "trash:0",
        "trash:x",
        "any:1",
        "trash:1:2",
        "-1",
        "",
    ] {
        assert!(
            matches!(
                store.orders_updated_since(since, Some(bad)).await,
                Err(ClientError::BadResponse(m)) if m.contains("invalid page cursor")
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn poll_without_total_pages_goes_on_while_pages_are_full() {
    let server = MockServer::start().await;
    let full: Vec<Value> = (1..=100).map(|i| wc_order(i, "processing")).collect();
    mount_orders_page(&server, "1", json_reply(200, Value::Array(full))).await;
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap();
    let page = store(&server)
        .orders_updated_since(since, None)
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 100);
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
}

#[tokio::test]
async fn poll_errors_are_classified() {
    let server = MockServer::start().await;
    mount_orders_page(&server, "1", json_reply(200, json!({"orders": []}))).await;
    mount_orders_page(
        &server,
        "2",
        json_reply(401, json!({"code": "woocommerce_rest_authentication_error", "message": "Invalid signature"})),
    )
    .await;
    let store = store(&server);
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap();
    assert!(matches!(
        store.orders_updated_since(since, None).await,
        Err(ClientError::BadResponse(_))
    ));
    assert!(matches!(
        store.orders_updated_since(since, Some("2")).await,
        Err(ClientError::Unauthorized)
    ));
    assert!(matches!(
        store.orders_updated_since(since, Some("abc")).await,
        Err(ClientError::BadResponse(_))
    ));
}

// ---------- listings ----------

#[tokio::test]
async fn listings_cover_simple_and_variable_products() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .and(query_param("orderby", "id"))
        .and(query_param("order", "asc"))
        .and(header("authorization", AUTH))
        .respond_with(
            json_reply(
                200,
                json!([
                    {"id": 10, "type": "simple", "name": "Tee", "sku": " TS-1 ", "status": "publish", "manage_stock": true},
                    {"id": 20, "type": "variable", "name": "Hoodie", "sku": "HOOD", "status": "publish", "manage_stock": false},
                    {"id": 30, "type": "grouped", "name": "Set", "sku": "SET", "status": "publish"},
                    {"id": 40, "type": "external", "name": "Ext", "sku": "EXT", "status": "publish"},
                    {"id": 50, "type": "simple", "name": "Draft", "sku": "", "status": "draft", "manage_stock": false}
                ]),
            )
            .insert_header("X-WP-TotalPages", "3"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products/20/variations"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .and(header("authorization", AUTH))
        .respond_with(
            json_reply(
                200,
                json!([{"id": 21, "sku": "HOOD-S", "status": "publish", "manage_stock": true}]),
            )
            .insert_header("X-WP-TotalPages", "2"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products/20/variations"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "2"))
        .and(header("authorization", AUTH))
        .respond_with(
            json_reply(
                200,
                json!([
                    {"id": 22, "sku": "HOOD-M", "status": "publish", "manage_stock": "parent"},
                    {"id": 23, "sku": "HOOD-L", "status": "private", "manage_stock": true}
                ]),
            )
            .insert_header("X-WP-TotalPages", "2"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let page = store(&server).listings_page(None).await.unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
    type Row<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        bool,
        bool,
    );
    let summary: Vec<Row> = page
        .listings
        .iter()
        .map(|l| {
            (
                l.variant_id.as_str(),
                l.product_id.as_str(),
                l.sku.as_deref(),
                l.inventory_item_id.as_deref(),
                l.tracked,
                l.sellable,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("10", "10", Some("TS-1"), Some("product:10"), true, true),
            (
                "21",
                "20",
                Some("HOOD-S"),
                Some("variation:20:21"),
                true,
                true
            ),
            (
                "22",
                "20",
                Some("HOOD-M"),
                Some("variation:20:22"),
                false,
                true
            ),
            (
                "23",
                "20",
                Some("HOOD-L"),
                Some("variation:20:23"),
                true,
                false
            ),
            ("50", "50", None, Some("product:50"), false, false),
        ]
    );
    assert_eq!(page.listings[1].product_title, "Hoodie");
    assert_eq!(page.listings[0].status, "publish");
    assert_eq!(page.listings[3].status, "private");
}

// ---------- tracking ----------

fn order_json(status: &str) -> Value {
    json!({
        "id": 727, "status": status,
        "line_items": [
            {"id": 1, "sku": "TS-1", "quantity": 2},
            {"id": 2, "sku": "HOOD-M", "quantity": 1}
        ]
    })
}

async fn mount_order(server: &MockServer, status: &str) {
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders/727"))
        .and(header("authorization", AUTH))
        .respond_with(json_reply(200, order_json(status)))
        .expect(1)
        .mount(server)
        .await;
}

const TRACKINGS: &str = "/wp-json/wc-shipment-tracking/v3/orders/727/shipment-trackings";

async fn mount_trackings(server: &MockServer, template: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(TRACKINGS))
        .and(header("authorization", AUTH))
        .respond_with(template)
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_complete(server: &MockServer, times: u64) {
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/orders/727"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({"status": "completed"})))
        .respond_with(json_reply(200, order_json("completed")))
        .expect(times)
        .mount(server)
        .await;
}

/// `PUT /orders/727` with exactly `body`, `times` times.
async fn mount_order_update(server: &MockServer, body: Value, times: u64) {
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/orders/727"))
        .and(header("authorization", AUTH))
        .and(body_json(body))
        .respond_with(json_reply(200, order_json("processing")))
        .expect(times)
        .mount(server)
        .await;
}

/// The `meta_data` update recording `record` ({tracking: {sku: qty}}) as channel-sync's
/// shipment record (a JSON string).
fn shipped_meta(record: Value) -> Value {
    json!([{"key": "_channel_sync_shipped", "value": record.to_string()}])
}

async fn no_route(server: &MockServer) {
    mount_trackings(
        server,
        json_reply(
            404,
            json!({"code": "rest_no_route", "message": "No route was found matching the URL and request method.", "data": {"status": 404}}),
        ),
    )
    .await;
}

fn dhl(url: Option<&str>) -> Tracking {
    Tracking {
        company: "DHL".into(),
        number: crate::domain::TrackingNumber::parse("JD0123").unwrap(),
        url: url.map(str::to_owned),
    }
}

#[tokio::test]
async fn tracking_with_the_extension_then_completed() {
    let server = MockServer::start().await;
    mount_order(&server, "processing").await;
    mount_trackings(&server, json_reply(200, json!([]))).await;
    let today = Utc::now().format("%Y-%m-%d").to_string();
    Mock::given(method("POST"))
        .and(path(TRACKINGS))
        .and(header("authorization", AUTH))
        .and(body_json(json!({
            "tracking_number": "JD0123",
            "date_shipped": today,
            "custom_tracking_provider": "DHL",
            "custom_tracking_link": "https://track.example.com/JD0123"
        })))
        .respond_with(json_reply(
            201,
            json!({"tracking_id": "a1b2c3", "tracking_number": "JD0123"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    mount_complete(&server, 1).await;
    let ids = store(&server)
        .write_tracking(
            "727",
            None,
            &dhl(Some("https://track.example.com/JD0123")),
            true,
        )
        .await
        .unwrap();
    assert_eq!(ids, vec!["a1b2c3".to_owned()]);
    // Tracking first, then completion.
    let methods: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        methods,
        [
            "GET /wp-json/wc/v3/orders/727",
            &format!("GET {TRACKINGS}"),
            &format!("POST {TRACKINGS}"),
            "PUT /wp-json/wc/v3/orders/727"
        ]
    );
}

#[tokio::test]
async fn tracking_retry_with_the_extension_adds_nothing() {
    let server = MockServer::start().await;
    mount_order(&server, "completed").await;
    mount_trackings(
        &server,
        json_reply(
            200,
            json!([{"tracking_id": "a1b2c3", "tracking_provider": "", "tracking_number": "JD0123"}]),
        ),
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(json_reply(201, json!({})))
        .expect(0)
        .mount(&server)
        .await;
    mount_complete(&server, 0).await;
    let ids = store(&server)
        .write_tracking("727", None, &dhl(None), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["a1b2c3".to_owned()]);
}

#[tokio::test]
async fn tracking_with_the_extension_and_a_known_provider() {
    let server = MockServer::start().await;
    mount_order(&server, "processing").await;
    mount_trackings(&server, json_reply(200, json!([]))).await;
    let today = Utc::now().format("%Y-%m-%d").to_string();
    Mock::given(method("POST"))
        .and(path(TRACKINGS))
        .and(body_json(json!({
            "tracking_number": "JD0123",
            "date_shipped": today,
            "tracking_provider": "DHL"
        })))
        .respond_with(json_reply(201, json!({"tracking_id": "x9"})))
        .expect(1)
        .mount(&server)
        .await;
    mount_complete(&server, 1).await;
    let ids = store(&server)
        .write_tracking("727", None, &dhl(None), false)
        .await
        .unwrap();
    assert_eq!(ids, vec!["x9".to_owned()]);
}

#[tokio::test]
async fn tracking_without_the_extension_is_a_customer_note() {
    let server = MockServer::start().await;
    mount_order(&server, "processing").await;
    no_route(&server).await;
    mount_notes(
        &server,
        json!([{"id": 3, "note": "Order status changed from Pending payment to Processing."}]),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/orders/727/notes"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({
            "note": "Shipped with DHL: tracking number JD0123 https://track.example.com/JD0123",
            "customer_note": true
        })))
        .respond_with(json_reply(201, json!({"id": 44, "note": "…"})))
        .expect(1)
        .mount(&server)
        .await;
    // Completed, with this shipment recorded, in one update.
    mount_order_update(
        &server,
        json!({
            "status": "completed",
            "meta_data": shipped_meta(json!({"JD0123": {"HOOD-M": 1, "TS-1": 2}}))
        }),
        1,
    )
    .await;
    let lines = [
        ShippedSku {
            sku: "TS-1".into(),
            quantity: 2,
        },
        ShippedSku {
            sku: "HOOD-M".into(),
            quantity: 1,
        },
    ];
    let ids = store(&server)
        .write_tracking(
            "727",
            Some(&lines),
            &dhl(Some("https://track.example.com/JD0123")),
            true,
        )
        .await
        .unwrap();
    assert_eq!(ids, vec!["44".to_owned()]);
}

#[tokio::test]
async fn tracking_retry_without_the_extension_adds_nothing() {
    let server = MockServer::start().await;
    mount_order(&server, "completed").await;
    no_route(&server).await;
    mount_notes(
        &server,
        json!([{"id": 44, "note": "Shipped with DHL: tracking number JD0123"}]),
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(json_reply(201, json!({})))
        .expect(0)
        .mount(&server)
        .await;
    mount_complete(&server, 0).await;
    let ids = store(&server)
        .write_tracking("727", None, &dhl(None), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["44".to_owned()]);
}

#[tokio::test]
async fn partial_shipment_is_noted_but_not_completed() {
    let server = MockServer::start().await;
    mount_order(&server, "processing").await;
    no_route(&server).await;
    mount_notes(&server, json!([])).await;
    mount_note_post(
        &server,
        "Partially shipped with DHL: tracking number JD0123",
        true,
        45,
    )
    .await;
    mount_complete(&server, 0).await;
    // The status stays; what this parcel shipped is recorded for the next one.
    mount_order_update(
        &server,
        json!({"meta_data": shipped_meta(json!({"JD0123": {"TS-1": 2}}))}),
        1,
    )
    .await;
    let lines = [ShippedSku {
        sku: "TS-1".into(),
        quantity: 2,
    }];
    let ids = store(&server)
        .write_tracking("727", Some(&lines), &dhl(None), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["45".to_owned()]);
}

#[tokio::test]
async fn tracking_refusals() {
    // (A blank number cannot reach the store: `TrackingNumber` refuses it.)
    let server = MockServer::start().await;

    // Unknown order.
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders/999"))
        .and(header("authorization", AUTH))
        .respond_with(json_reply(
            404,
            json!({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        store(&server).write_tracking("999", None, &dhl(None), true).await,
        Err(ShipError::Permanent(m)) if m == "the order does not exist on WooCommerce"
    ));

    // Cancelled order: nothing written.
    let server = MockServer::start().await;
    mount_order(&server, "cancelled").await;
    assert!(matches!(
        store(&server).write_tracking("727", None, &dhl(None), true).await,
        Err(ShipError::Permanent(m)) if m.contains("cancelled")
    ));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // Revoked keys.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders/727"))
        .respond_with(json_reply(
            401,
            json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        store(&server)
            .write_tracking("727", None, &dhl(None), true)
            .await,
        Err(ShipError::Client(ClientError::Unauthorized))
    ));

    // Not an order id: nothing is called.
    let server = MockServer::start().await;
    assert!(matches!(
        store(&server)
            .write_tracking("../x", None, &dhl(None), true)
            .await,
        Err(ShipError::Permanent(_))
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---------- inventory ----------

fn push_item(item: &str, quantity: i64) -> PushItem {
    PushItem {
        sku: Sku::parse("SKU").unwrap(),
        item: item.into(),
        quantity,
        change_from: Some(99),
    }
}

/// Answers a batch as WooCommerce does: each updated object, with special cases by id.
fn batch_echo(request: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let update: Vec<Value> = body["update"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["id"] != 3) // 3 goes missing
        .map(|u| match u["id"].as_u64().unwrap() {
            2 => json!({"id": 2, "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}}),
            4 => json!({"id": 4, "manage_stock": false, "stock_quantity": null}),
            id => json!({"id": id, "manage_stock": true, "stock_quantity": u["stock_quantity"]}),
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({"update": update}))
}

#[tokio::test]
async fn stock_batches_split_at_100_and_report_per_item() {
    let server = MockServer::start().await;
    let inventory = WooInventory::new(client(), creds(&server)).unwrap();
    assert_eq!(inventory.max_batch(), 100);
    let mut items: Vec<PushItem> = (1..=150)
        .map(|i| push_item(&format!("product:{i}"), if i == 1 { -5 } else { 7 }))
        .collect();
    items.insert(5, push_item("variation:70:71", 3));
    items.insert(6, push_item("bogus", 1));
    items.push(push_item("variation:70:72", 0));

    let first: Vec<Value> = (1..=100)
        .map(|i| json!({"id": i, "stock_quantity": if i == 1 { 0 } else { 7 }}))
        .collect();
    let second: Vec<Value> = (101..=150)
        .map(|i| json!({"id": i, "stock_quantity": 7}))
        .collect();
    for update in [first, second] {
        Mock::given(method("POST"))
            .and(path("/wp-json/wc/v3/products/batch"))
            .and(header("authorization", AUTH))
            .and(body_json(json!({"update": update})))
            .respond_with(batch_echo)
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/products/70/variations/batch"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({"update": [
            {"id": 71, "stock_quantity": 3},
            {"id": 72, "stock_quantity": 0}
        ]})))
        .respond_with(batch_echo)
        .expect(1)
        .mount(&server)
        .await;

    let results = inventory.push("run-1", "key-1", &items).await.unwrap();
    assert_eq!(results.len(), items.len());
    let by_item = |item: &str| {
        let i = items.iter().position(|p| p.item == item).unwrap();
        results[i].clone()
    };
    assert_eq!(by_item("product:1"), ItemResult::Set);
    assert_eq!(
        by_item("product:2"),
        ItemResult::Rejected {
            code: "woocommerce_rest_product_invalid_id".into(),
            message: "Invalid ID.".into()
        }
    );
    assert!(
        matches!(by_item("product:3"), ItemResult::Rejected { code, .. } if code == "missing_from_response")
    );
    assert_eq!(
        by_item("product:4"),
        ItemResult::Rejected {
            code: "manage_stock_off".into(),
            message: "WooCommerce does not manage this item's stock".into()
        }
    );
    assert_eq!(by_item("product:150"), ItemResult::Set);
    assert_eq!(by_item("variation:70:71"), ItemResult::Set);
    assert_eq!(by_item("variation:70:72"), ItemResult::Set);
    assert!(
        matches!(by_item("bogus"), ItemResult::Rejected { code, .. } if code == "invalid_item")
    );
    // No request ever carries manage_stock.
    for request in server.received_requests().await.unwrap() {
        assert!(!String::from_utf8_lossy(&request.body).contains("manage_stock"));
    }
}

#[tokio::test]
async fn stock_whole_request_refusals() {
    // 413: that request's items are rejected with WooCommerce's message; others go on.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/products/batch"))
        .respond_with(json_reply(
            413,
            json!({"code": "woocommerce_rest_request_entity_too_large", "message": "Unable to accept more than 100 items for this request."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/products/8/variations/batch"))
        .respond_with(batch_echo)
        .expect(1)
        .mount(&server)
        .await;
    let inventory = WooInventory::new(client(), creds(&server)).unwrap();
    let results = inventory
        .push(
            "r",
            "k",
            &[push_item("product:10", 1), push_item("variation:8:9", 1)],
        )
        .await
        .unwrap();
    assert!(matches!(&results[0], ItemResult::Rejected { code, message }
        if code == "woocommerce_rest_request_entity_too_large" && message.contains("100 items")));
    assert_eq!(results[1], ItemResult::Set);

    // Revoked keys.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(json_reply(401, json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid."})))
        .expect(1)
        .mount(&server)
        .await;
    let inventory = WooInventory::new(client(), creds(&server)).unwrap();
    assert!(matches!(
        inventory
            .push("r", "k", &[push_item("product:10", 1)])
            .await,
        Err(PushError::NeedsReauth)
    ));

    // 503 and 429: retry later.
    for template in [
        ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        ResponseTemplate::new(429).insert_header("retry-after", "5"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        let inventory = WooInventory::new(client(), creds(&server)).unwrap();
        assert!(matches!(
            inventory
                .push("r", "k", &[push_item("product:10", 1)])
                .await,
            Err(PushError::Retry(_))
        ));
    }
}

#[test]
fn unusable_stored_urls_are_refused() {
    let mut c = WooCredentials {
        store_url: "not a url".into(),
        consumer_key: "ck".into(),
        consumer_secret: "cs".into(),
        webhook_secret: "w".into(),
    };
    assert!(WooStore::new(client(), c.clone()).is_err());
    c.store_url = "ftp://shop.example.com".into();
    assert!(WooInventory::new(client(), c).is_err());
}

#[tokio::test]
async fn partial_shipment_with_the_extension_adds_tracking_and_a_private_note() {
    let server = MockServer::start().await;
    mount_order(&server, "processing").await;
    mount_trackings(&server, json_reply(200, json!([]))).await;
    Mock::given(method("POST"))
        .and(path(TRACKINGS))
        .and(header("authorization", AUTH))
        .respond_with(json_reply(201, json!({"tracking_id": "t7"})))
        .expect(1)
        .mount(&server)
        .await;
    mount_notes(&server, json!([])).await;
    mount_note_post(&server, "Partially shipped with DHL: tracking number JD0123. The order stays processing until everything has shipped.", false, 46).await;
    mount_complete(&server, 0).await;
    mount_order_update(
        &server,
        json!({"meta_data": shipped_meta(json!({"JD0123": {"HOOD-M": 1}}))}),
        1,
    )
    .await;
    let lines = [ShippedSku {
        sku: "HOOD-M".into(),
        quantity: 1,
    }];
    let ids = store(&server)
        .write_tracking("727", Some(&lines), &dhl(None), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["t7".to_owned(), "46".to_owned()]);
}

// ---------- multi-parcel orders and our notes ----------

/// `GET /orders/727` answering `order`.
async fn mount_order_value(server: &MockServer, order: Value) {
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders/727"))
        .and(header("authorization", AUTH))
        .respond_with(json_reply(200, order))
        .expect(1)
        .mount(server)
        .await;
}

/// `GET /orders/727/notes` answering `notes`.
async fn mount_notes(server: &MockServer, notes: Value) {
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders/727/notes"))
        .and(header("authorization", AUTH))
        .respond_with(json_reply(200, notes))
        .expect(1)
        .mount(server)
        .await;
}

/// `POST /orders/727/notes` with exactly `note`, answering id `id`.
async fn mount_note_post(server: &MockServer, note: &str, customer_note: bool, id: u64) {
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/orders/727/notes"))
        .and(header("authorization", AUTH))
        .and(body_json(
            json!({"note": note, "customer_note": customer_note}),
        ))
        .respond_with(json_reply(201, json!({"id": id})))
        .expect(1)
        .mount(server)
        .await;
}

fn parcel(number: &str) -> Tracking {
    Tracking {
        company: "DHL".into(),
        number: crate::domain::TrackingNumber::parse(number).unwrap(),
        url: None,
    }
}

/// The second parcel of a two-parcel order completes it: the first parcel's quantities were
/// recorded on the order, and with this one they cover every line.
#[tokio::test]
async fn the_last_parcel_of_a_multi_parcel_order_completes_it() {
    let server = MockServer::start().await;
    let mut order = order_json("processing");
    order["meta_data"] = json!([
        {"id": 90, "key": "_billing_vat", "value": "IE123"},
        {"id": 91, "key": "_channel_sync_shipped", "value": json!({"JD0001": {"TS-1": 2}}).to_string()}
    ]);
    mount_order_value(&server, order).await;
    no_route(&server).await;
    mount_notes(
        &server,
        json!([{"id": 45, "note": "Partially shipped with DHL: tracking number JD0001"}]),
    )
    .await;
    mount_note_post(
        &server,
        "Shipped with DHL: tracking number JD0123",
        true,
        47,
    )
    .await;
    mount_order_update(
        &server,
        json!({
            "status": "completed",
            "meta_data": shipped_meta(json!({"JD0001": {"TS-1": 2}, "JD0123": {"HOOD-M": 1}}))
        }),
        1,
    )
    .await;
    let lines = [ShippedSku {
        sku: "HOOD-M".into(),
        quantity: 1,
    }];
    let ids = store(&server)
        .write_tracking("727", Some(&lines), &parcel("JD0123"), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["47".to_owned()]);
}

/// Three parcels: the second one still leaves a line short, so the order stays open.
#[tokio::test]
async fn a_middle_parcel_leaves_the_order_open() {
    let server = MockServer::start().await;
    let mut order = order_json("processing");
    // Recorded as an object by some plugin: read as well.
    order["meta_data"] = json!([
        {"id": 91, "key": "_channel_sync_shipped", "value": {"JD0001": {"TS-1": 1}}}
    ]);
    mount_order_value(&server, order).await;
    no_route(&server).await;
    mount_notes(&server, json!([])).await;
    mount_note_post(
        &server,
        "Partially shipped with DHL: tracking number JD0002",
        true,
        48,
    )
    .await;
    mount_complete(&server, 0).await;
    mount_order_update(
        &server,
        json!({"meta_data": shipped_meta(json!({"JD0001": {"TS-1": 1}, "JD0002": {"HOOD-M": 1}}))}),
        1,
    )
    .await;
    let lines = [ShippedSku {
        sku: "HOOD-M".into(),
        quantity: 1,
    }];
    let ids = store(&server)
        .write_tracking("727", Some(&lines), &parcel("JD0002"), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["48".to_owned()]);
}

/// A retry of a partial parcel whose note and record are already on the order writes
/// nothing.
#[tokio::test]
async fn a_partial_parcel_retry_writes_nothing() {
    let server = MockServer::start().await;
    let mut order = order_json("processing");
    order["meta_data"] = json!([
        {"id": 91, "key": "_channel_sync_shipped", "value": json!({"JD0123": {"TS-1": 2}}).to_string()}
    ]);
    mount_order_value(&server, order).await;
    no_route(&server).await;
    mount_notes(
        &server,
        json!([{"id": 45, "note": "Partially shipped with DHL: tracking number JD0123"}]),
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(json_reply(201, json!({})))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(json_reply(200, json!({})))
        .expect(0)
        .mount(&server)
        .await;
    let lines = [ShippedSku {
        sku: "TS-1".into(),
        quantity: 2,
    }];
    let ids = store(&server)
        .write_tracking("727", Some(&lines), &parcel("JD0123"), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["45".to_owned()]);
}

/// A line item without a SKU cannot be shipped by SKU: it does not keep the order open.
#[tokio::test]
async fn lines_without_a_sku_do_not_block_completion() {
    let server = MockServer::start().await;
    let mut order = order_json("processing");
    order["line_items"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 3, "sku": "  ", "quantity": 1, "name": "Gift wrap"}));
    mount_order_value(&server, order).await;
    no_route(&server).await;
    mount_notes(&server, json!([])).await;
    mount_note_post(
        &server,
        "Shipped with DHL: tracking number JD0123",
        false,
        49,
    )
    .await;
    mount_order_update(
        &server,
        json!({
            "status": "completed",
            "meta_data": shipped_meta(json!({"JD0123": {"HOOD-M": 1, "TS-1": 2}}))
        }),
        1,
    )
    .await;
    let lines = [
        ShippedSku {
            sku: "TS-1".into(),
            quantity: 2,
        },
        ShippedSku {
            sku: "HOOD-M".into(),
            quantity: 1,
        },
    ];
    let ids = store(&server)
        .write_tracking("727", Some(&lines), &parcel("JD0123"), false)
        .await
        .unwrap();
    assert_eq!(ids, vec!["49".to_owned()]);
}

/// A note that merely contains the tracking number (a payment id, another carrier's longer
/// number) is not ours: our note is still written.
#[tokio::test]
async fn unrelated_notes_with_the_number_do_not_count_as_ours() {
    let server = MockServer::start().await;
    mount_order(&server, "processing").await;
    no_route(&server).await;
    mount_notes(
        &server,
        json!([
            {"id": 3, "note": "Payment captured via Stripe (charge ch_JD0123)."},
            {"id": 4, "note": "Shipped with UPS: tracking number JD01234"},
            {"id": 5, "note": "Customer asked about JD0123 on the phone"}
        ]),
    )
    .await;
    mount_note_post(
        &server,
        "Shipped with DHL: tracking number JD0123",
        true,
        50,
    )
    .await;
    mount_complete(&server, 1).await;
    let ids = store(&server)
        .write_tracking("727", None, &dhl(None), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["50".to_owned()]);
}

/// WooCommerce has no compare-and-set: a push sets absolute quantities. A batch WooCommerce
/// applied but whose answer was lost (502 after the write) is retried as the same absolute
/// quantities, so applying it twice leaves the stock where one write would (a relative change
/// would move it twice).
#[tokio::test]
async fn a_retried_stock_batch_after_a_lost_answer_sets_the_same_absolute_quantities() {
    use std::sync::{Arc, Mutex};
    let server = MockServer::start().await;
    let stock = Arc::new(Mutex::new(std::collections::BTreeMap::from([
        (5u64, 10i64),
        (6, 10),
    ])));
    let bodies = Arc::new(Mutex::new(Vec::<Value>::new()));
    let (store, seen) = (stock.clone(), bodies.clone());
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/products/batch"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let mut stock = store.lock().unwrap();
            for u in body["update"].as_array().unwrap() {
                stock.insert(
                    u["id"].as_u64().unwrap(),
                    u["stock_quantity"].as_i64().unwrap(),
                );
            }
            let mut seen = seen.lock().unwrap();
            seen.push(body.clone());
            if seen.len() == 1 {
                ResponseTemplate::new(502).set_body_string("Bad Gateway")
            } else {
                batch_echo(request)
            }
        })
        .expect(2)
        .mount(&server)
        .await;
    let inventory = WooInventory::new(client(), creds(&server)).unwrap();
    let items = [push_item("product:5", 7), push_item("product:6", 3)];
    let lost = inventory.push("run-1", "key-1", &items).await;
    assert!(matches!(lost, Err(PushError::Retry(_))), "{lost:?}");
    let results = inventory.push("run-1", "key-1", &items).await.unwrap();
    assert_eq!(results, vec![ItemResult::Set; 2]);
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies[0], bodies[1], "the retry sends the same batch");
    assert_eq!(
        bodies[1],
        json!({"update": [{"id": 5, "stock_quantity": 7}, {"id": 6, "stock_quantity": 3}]})
    );
    assert_eq!(
        *stock.lock().unwrap(),
        std::collections::BTreeMap::from([(5, 7), (6, 3)])
    );
}

/// Issue 15, item 2: a product that claims endless variation pages (1,000 full pages of 100)
/// is not accumulated whole: the walk stops at the bound with a clear error naming the
/// product, after at most `MAX_VARIATION_PAGES` requests.
#[tokio::test]
async fn endless_variation_pages_are_bounded_per_product() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products"))
        .respond_with(
            json_reply(
                200,
                json!([{"id": 20, "type": "variable", "name": "Hoodie", "sku": "", "status": "publish"}]),
            )
            .insert_header("X-WP-TotalPages", "1"),
        )
        .mount(&server)
        .await;
    let full_page: Vec<Value> = (0..100)
        .map(|i| json!({"id": 1000 + i, "sku": format!("V-{i}"), "status": "publish", "manage_stock": true}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products/20/variations"))
        .respond_with(json_reply(200, json!(full_page)).insert_header("X-WP-TotalPages", "1000"))
        .mount(&server)
        .await;
    let page = store(&server).listings_page(None).await;
    match page {
        Err(ClientError::BadResponse(m)) => {
            assert!(m.contains("product 20") && m.contains("variations"), "{m}")
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(page) => panic!("accumulated {} variations", page.listings.len()),
    }
    let requests = server.received_requests().await.unwrap().len();
    assert!(
        requests <= 1 + super::store::MAX_VARIATION_PAGES as usize,
        "{requests} requests"
    );
}
