//! TikTok Shop against wiremock: the exact signed requests of every call (recomputing the
//! signature each request carries over its own query and body bytes), error envelopes,
//! webhooks through the real `/webhooks/tiktok` intake into the order consumer, the orders
//! poll, the install, token refresh, tracking and inventory.

use super::client::{ApiError, ShopAuth, TikTokClient};
use super::credentials::TikTokCredentials;
use super::sign::{sign_request, sign_webhook};
use super::{TikTokAdapter, TikTokSettings};
use crate::channels::adapter::{Callback, ChannelAdapter};
use crate::channels::context::{AppCredentials, ChannelApps, ChannelContext};
use crate::channels::inventory::{ItemResult, PushItem};
use crate::channels::registry::Registry;
use crate::channels::store::{ShipError, ShippedSku, Tracking};
use crate::channels::store_url::UrlPolicy;
use crate::channels::ClientError;
use crate::domain::{Channel, Connection, ConnectionStatus, HoldCode, Sku, TenantId};
use crate::embedded::{EmbeddedQueue, EmbeddedStore, EmbeddedVault};
use crate::ports::{Connections, Queue, Secret, Vault};
use http::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_json, body_string, header, method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

pub(crate) use super::fake_api::{APP_KEY, SECRET};
const SHOP: &str = "7495540735365777507";
pub(crate) use super::fake_api::{ok, refused, NotParam, Signed, CIPHER, TOKEN};
const ORDER: &str = "576653688135258178";

fn signed() -> Signed {
    Signed { token: TOKEN }
}

/// No `shop_cipher` on the request.
struct NoCipher;

impl Match for NoCipher {
    fn matches(&self, r: &Request) -> bool {
        !r.url.query_pairs().any(|(k, _)| k == "shop_cipher")
    }
}

fn fixed_clock() -> i64 {
    1_764_234_000
}

fn client(server: &MockServer) -> TikTokClient {
    TikTokClient::new(&server.uri(), &server.uri(), APP_KEY, Secret::new(SECRET))
        .with_clock(fixed_clock)
}

fn auth() -> ShopAuth<'static> {
    ShopAuth {
        access_token: TOKEN,
        cipher: Some(CIPHER),
    }
}

// ---------------------------------------------------------------------------------------------
// Signing and errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_call_sends_the_exact_signed_request() {
    let server = MockServer::start().await;
    let body = r#"{"update_time_ge":1764230400}"#;
    let expected_sign = sign_request(
        SECRET,
        "/order/202309/orders/search",
        &[
            ("app_key".into(), APP_KEY.into()),
            ("timestamp".into(), "1764234000".into()),
            ("shop_cipher".into(), CIPHER.into()),
            ("page_size".into(), "50".into()),
        ],
        body.as_bytes(),
    );
    // The string TikTok's doc builds, spelled out: sorted keys, body bytes, wrapped.
    let wrapped = format!(
        "{SECRET}/order/202309/orders/searchapp_key{APP_KEY}page_size50shop_cipher{CIPHER}timestamp1764234000{body}{SECRET}"
    );
    assert_eq!(expected_sign, {
        use hmac::Mac;
        let mut mac = crate::channels::body_hmac::key(SECRET);
        mac.update(wrapped.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    });
    Mock::given(method("POST"))
        .and(path("/order/202309/orders/search"))
        .and(query_param("app_key", APP_KEY))
        .and(query_param("timestamp", "1764234000"))
        .and(query_param("shop_cipher", CIPHER))
        .and(query_param("page_size", "50"))
        .and(query_param("sign", expected_sign.as_str()))
        .and(header("x-tts-access-token", TOKEN))
        .and(header("content-type", "application/json"))
        .and(body_string(body))
        .respond_with(ok(json!({"orders": []})))
        .expect(1)
        .mount(&server)
        .await;
    let data = client(&server)
        .call(
            Method::POST,
            "/order/202309/orders/search",
            &[("page_size", "50".into())],
            Some(&json!({"update_time_ge": 1764230400})),
            auth(),
        )
        .await
        .unwrap();
    assert_eq!(data, json!({"orders": []}));
}

#[tokio::test]
async fn errors_in_http_200_are_classified() {
    let server = MockServer::start().await;
    for (p, answer) in [
        ("/a", refused(105002, "Access token is expired")),
        ("/b", refused(36009004, "Too many requests")),
        (
            "/c",
            refused(12052700, "The order is not in a status that can be shipped"),
        ),
        (
            "/d",
            ResponseTemplate::new(429).insert_header("retry-after", "3"),
        ),
        (
            "/e",
            ResponseTemplate::new(502).set_body_string("bad gateway"),
        ),
    ] {
        Mock::given(path(p))
            .and(signed())
            .respond_with(answer)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    let call = |p: &'static str| {
        let c = c.clone();
        async move { c.call(Method::GET, p, &[], None, auth()).await.unwrap_err() }
    };
    assert!(matches!(
        call("/a").await,
        ApiError::Client(ClientError::Unauthorized)
    ));
    assert!(matches!(
        call("/b").await,
        ApiError::Client(ClientError::Throttled { .. })
    ));
    match call("/c").await {
        ApiError::Refused { code, message } => {
            assert_eq!(code, 12052700);
            assert!(message.contains("cannot") || message.contains("can be shipped"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        call("/d").await,
        ApiError::Client(ClientError::Throttled {
            retry_after_secs: Some(3)
        })
    ));
    assert!(matches!(
        call("/e").await,
        ApiError::Client(ClientError::Unavailable(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// A world: a registry whose TikTok app points at the fake, one stored shop
// ---------------------------------------------------------------------------------------------

struct World {
    server: MockServer,
    store: EmbeddedStore,
    vault: Arc<EmbeddedVault>,
    registry: Arc<Registry>,
    connection: Connection,
    _dir: tempfile::TempDir,
}

fn credentials(expires_in: chrono::Duration) -> TikTokCredentials {
    TikTokCredentials {
        access_token: TOKEN.into(),
        access_token_expires_at: (chrono::Utc::now() + expires_in).timestamp(),
        refresh_token: "fake_refresh_token".into(),
        refresh_token_expires_at: None,
        shop_cipher: CIPHER.into(),
        region: Some("US".into()),
        seller_type: Some("LOCAL".into()),
    }
}

async fn world_with(expires_in: chrono::Duration) -> World {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let apps = ChannelApps::default().with(
        Channel::Tiktok,
        AppCredentials {
            client_id: APP_KEY.into(),
            secrets: vec![Secret::new(SECRET)],
            api_base: Some(server.uri()),
        },
    );
    let context = ChannelContext::new(
        &crate::embedded::ports_of(&store, vault.clone()),
        UrlPolicy {
            allow_private: true,
        },
        "https://sync.example",
        apps,
    );
    let registry = Arc::new(Registry::new(context).unwrap());
    let mut connection = Connection::fixture("c_tiktok", Channel::Tiktok, SHOP);
    connection.settings.inventory_location = Some("W1".into());
    store.create(&connection).await.unwrap();
    vault
        .put(
            &connection.credentials_name(),
            &credentials(expires_in).to_secret(),
        )
        .await
        .unwrap();
    World {
        server,
        store,
        vault,
        registry,
        connection,
        _dir: dir,
    }
}

async fn world() -> World {
    world_with(chrono::Duration::days(6)).await
}

/// An adapter on the world's context whose auth host is the fake too.
fn adapter(w: &World, service_id: &str) -> TikTokAdapter {
    let settings = TikTokSettings {
        service_id: service_id.into(),
        auth_base: w.server.uri(),
        authorize_url: super::DEFAULT_AUTHORIZE_URL.into(),
        us_authorize_url: super::US_AUTHORIZE_URL.into(),
    };
    let context = Arc::new(ChannelContext::new(
        &crate::embedded::ports_of(&w.store, w.vault.clone()),
        UrlPolicy {
            allow_private: true,
        },
        "https://sync.example",
        ChannelApps::default(),
    ));
    TikTokAdapter::with_client(
        &context,
        settings,
        client(&w.server),
        true,
        vec![Secret::new(SECRET)],
    )
}

fn order(status: &str, masked: bool, update_time: i64) -> Value {
    let (name, line1, phone) = if masked {
        ("J*** D**", "***", "(+1)213-***-1234")
    } else {
        ("Jane Doe", "1 Main St", "(+1)213-555-1234")
    };
    json!({
        "id": ORDER, "status": status, "create_time": 1764230400, "update_time": update_time,
        "shipping_type": "SELLER", "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "delivery_option_id": "7091146663229654785",
        "recipient_address": {
            "name": name, "phone_number": phone, "address_line1": line1, "postal_code": "90001",
            "region_code": "US",
            "district_info": [{"address_level": "L3", "address_name": "Los Angeles"}]
        },
        "line_items": [
            {"id": "li1", "sku_id": "sku-a", "seller_sku": "TS-001", "sku_name": "Tee"},
            {"id": "li2", "sku_id": "sku-a", "seller_sku": "TS-001", "sku_name": "Tee"},
            {"id": "li3", "sku_id": "sku-b", "seller_sku": "MUG-1", "sku_name": "Mug"}
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// Webhooks: the intake, then the consumer re-reads the order
// ---------------------------------------------------------------------------------------------

fn envelope(kind: u64, notification: &str, shop: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": kind, "tts_notification_id": notification, "shop_id": shop,
        "timestamp": 1764234000, "data": data
    }))
    .unwrap()
}

async fn post_webhook(
    w: &World,
    events: &EmbeddedQueue,
    body: Vec<u8>,
    signature: Option<String>,
) -> u16 {
    use tower::ServiceExt;
    let deps = Arc::new(crate::http::webhooks::IntakeDeps::new(
        Arc::new(w.store.clone()),
        Arc::new(w.store.clone()),
        Arc::new(events.clone()),
        w.registry.clone(),
    ));
    let mut request =
        http::Request::post("/webhooks/tiktok").header("content-type", "application/json");
    if let Some(sig) = signature {
        request = request.header("authorization", sig);
    }
    let response = crate::http::webhooks::router(deps)
        .oneshot(request.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    response.status().as_u16()
}

fn import_deps(
    w: &World,
    outbox: &EmbeddedQueue,
) -> Arc<crate::consumers::order_import::ImportDeps> {
    Arc::new(crate::consumers::order_import::ImportDeps {
        connections: Arc::new(w.store.clone()),
        vault: w.vault.clone(),
        idempotency: Arc::new(w.store.clone()),
        values: Arc::new(w.store.clone()),
        wms_orders: Arc::new(outbox.clone()),
        dead_letter: Arc::new(w.store.queue("dlq", None, 5)),
        inventory: crate::inventory::engine::embedded_live_trigger(&w.store, Default::default()),
        channels: w.registry.clone(),
    })
}

/// Hands every queued channel event to the order consumer.
async fn consume(w: &World, events: &EmbeddedQueue, outbox: &EmbeddedQueue) -> Vec<String> {
    let deps = import_deps(w, outbox);
    let mut outcomes = Vec::new();
    for m in events.receive(10, Duration::from_secs(30)).await.unwrap() {
        let d = crate::consumers::order_import::handle(deps.clone(), m.body).await;
        outcomes.push(format!("{d:?}"));
        events.ack(&m.receipt).await.unwrap();
    }
    outcomes
}

async fn sent(outbox: &EmbeddedQueue) -> Vec<Value> {
    outbox
        .read_after(&TenantId::parse("dev").unwrap(), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.body)
        .collect()
}

#[tokio::test]
async fn webhooks_are_verified_routed_by_shop_and_bad_ones_refused() {
    let w = world().await;
    let events = w.store.queue("channel-events", None, 5);
    let body = envelope(
        1,
        "n-1",
        SHOP,
        json!({"order_id": ORDER, "order_status": "AWAITING_SHIPMENT"}),
    );
    let sig = sign_webhook(APP_KEY, SECRET, &body);
    assert_eq!(post_webhook(&w, &events, body.clone(), None).await, 401);
    assert_eq!(
        post_webhook(
            &w,
            &events,
            body.clone(),
            Some(sign_webhook(APP_KEY, "wrong", &body))
        )
        .await,
        401
    );
    assert_eq!(
        post_webhook(&w, &events, body.clone(), Some(format!("Bearer {sig}"))).await,
        401
    );
    let unknown = envelope(1, "n-2", "1111", json!({"order_id": ORDER}));
    assert_eq!(
        post_webhook(
            &w,
            &events,
            unknown.clone(),
            Some(sign_webhook(APP_KEY, SECRET, &unknown))
        )
        .await,
        404
    );
    let not_json = b"{not json".to_vec();
    assert_eq!(
        post_webhook(
            &w,
            &events,
            not_json.clone(),
            Some(sign_webhook(APP_KEY, SECRET, &not_json))
        )
        .await,
        400
    );
    let huge = vec![b' '; crate::http::webhooks::MAX_WEBHOOK_BODY + 1];
    assert_eq!(
        post_webhook(
            &w,
            &events,
            huge.clone(),
            Some(sign_webhook(APP_KEY, SECRET, &huge))
        )
        .await,
        413
    );
    assert!(events
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
    // Accepted once; the same notification again is a duplicate.
    assert_eq!(
        post_webhook(&w, &events, body.clone(), Some(sig.clone())).await,
        200
    );
    assert_eq!(post_webhook(&w, &events, body, Some(sig)).await, 200);
    let queued = events.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(queued.len(), 1);
    let event: Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(event["topic"], "ORDER_STATUS_CHANGE");
    assert_eq!(event["shop"], SHOP);
    assert_eq!(event["delivery_id"], "n-1");
}

#[tokio::test]
async fn a_masked_order_is_held_then_released_when_tiktok_unmasks_it() {
    let w = world().await;
    let events = w.store.queue("channel-events", None, 5);
    let outbox = w.store.queue("wms-orders", None, 5);
    // 1. Platform masked the address: imported held with the advice.
    let detail = Mock::given(method("GET"))
        .and(path("/order/202507/orders"))
        .and(query_param("ids", ORDER))
        .and(query_param("shop_cipher", CIPHER))
        .and(signed())
        .respond_with(ok(
            json!({"orders": [order("AWAITING_SHIPMENT", true, 1764234000)]}),
        ))
        .expect(1)
        .mount_as_scoped(&w.server)
        .await;
    let body = envelope(
        1,
        "n-1",
        SHOP,
        json!({"order_id": ORDER, "order_status": "AWAITING_SHIPMENT"}),
    );
    assert_eq!(
        post_webhook(
            &w,
            &events,
            body.clone(),
            Some(sign_webhook(APP_KEY, SECRET, &body))
        )
        .await,
        200
    );
    consume(&w, &events, &outbox).await;
    drop(detail);
    let messages = sent(&outbox).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "order.imported");
    let holds = messages[0]["hold_reasons"].as_array().unwrap();
    let masked = holds
        .iter()
        .find(|h| h["code"] == "masked_address")
        .expect("masked hold");
    assert!(masked["detail"]
        .as_str()
        .unwrap()
        .contains("Shipped by Seller"));

    // 2. TikTok shows the address now: an update without the hold, with the address.
    Mock::given(method("GET"))
        .and(path("/order/202507/orders"))
        .and(query_param("ids", ORDER))
        .and(signed())
        .respond_with(ok(
            json!({"orders": [order("AWAITING_SHIPMENT", false, 1764237600)]}),
        ))
        .expect(1)
        .mount(&w.server)
        .await;
    let body = envelope(3, "n-2", SHOP, json!({"order_id": ORDER}));
    assert_eq!(
        post_webhook(
            &w,
            &events,
            body.clone(),
            Some(sign_webhook(APP_KEY, SECRET, &body))
        )
        .await,
        200
    );
    consume(&w, &events, &outbox).await;
    let messages = sent(&outbox).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["type"], "order.updated");
    let order = &messages[1];
    assert!(
        order["hold_reasons"].as_array().unwrap().is_empty(),
        "{order}"
    );
    assert_eq!(order["ship_to"]["address1"], "1 Main St");
    let lines: Vec<(String, u64)> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [("TS-001".to_owned(), 2), ("MUG-1".to_owned(), 1)]);
}

#[tokio::test]
async fn unpaid_waits_cancellation_cancels_and_deauthorization_disconnects() {
    let w = world().await;
    let events = w.store.queue("channel-events", None, 5);
    let outbox = w.store.queue("wms-orders", None, 5);
    let send = |kind: u64, n: &str, data: Value| {
        let body = envelope(kind, n, SHOP, data);
        let sig = sign_webhook(APP_KEY, SECRET, &body);
        (body, sig)
    };
    let unpaid = Mock::given(path("/order/202507/orders"))
        .and(signed())
        .respond_with(ok(json!({"orders": [order("UNPAID", true, 1764230400)]})))
        .expect(1)
        .mount_as_scoped(&w.server)
        .await;
    let (b, s) = send(
        1,
        "n-1",
        json!({"order_id": ORDER, "order_status": "UNPAID"}),
    );
    post_webhook(&w, &events, b, Some(s)).await;
    consume(&w, &events, &outbox).await;
    drop(unpaid);
    assert!(sent(&outbox).await.is_empty());

    let ready = Mock::given(path("/order/202507/orders"))
        .and(signed())
        .respond_with(ok(
            json!({"orders": [order("AWAITING_SHIPMENT", false, 1764234000)]}),
        ))
        .expect(1)
        .mount_as_scoped(&w.server)
        .await;
    let (b, s) = send(
        1,
        "n-2",
        json!({"order_id": ORDER, "order_status": "AWAITING_SHIPMENT"}),
    );
    post_webhook(&w, &events, b, Some(s)).await;
    consume(&w, &events, &outbox).await;
    drop(ready);

    Mock::given(path("/order/202507/orders"))
        .and(signed())
        .respond_with(ok(
            json!({"orders": [order("CANCELLED", true, 1764237600)]}),
        ))
        .expect(1)
        .mount(&w.server)
        .await;
    let (b, s) = send(
        11,
        "n-3",
        json!({"order_id": ORDER, "cancellations_status": "CANCELLATION_REQUEST_COMPLETE"}),
    );
    post_webhook(&w, &events, b, Some(s)).await;
    consume(&w, &events, &outbox).await;

    let (b, s) = send(6, "n-4", json!({"seller_id": "x"}));
    post_webhook(&w, &events, b, Some(s)).await;
    consume(&w, &events, &outbox).await;

    let kinds: Vec<String> = sent(&outbox)
        .await
        .iter()
        .map(|m| m["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "order.imported",
            "order.cancelled",
            "connection.disconnected"
        ]
    );
    let stored = w
        .store
        .get(&w.connection.tenant, &w.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::Disconnected);
    assert!(w
        .vault
        .get(&w.connection.credentials_name())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_refused_token_while_reading_the_order_needs_reauth_and_retries() {
    let w = world().await;
    let events = w.store.queue("channel-events", None, 5);
    let outbox = w.store.queue("wms-orders", None, 5);
    Mock::given(path("/order/202507/orders"))
        .and(signed())
        .respond_with(refused(105001, "Access token is invalid"))
        .expect(1)
        .mount(&w.server)
        .await;
    let body = envelope(1, "n-1", SHOP, json!({"order_id": ORDER}));
    post_webhook(
        &w,
        &events,
        body.clone(),
        Some(sign_webhook(APP_KEY, SECRET, &body)),
    )
    .await;
    let outcomes = consume(&w, &events, &outbox).await;
    assert!(outcomes[0].starts_with("Retry"), "{outcomes:?}");
    assert!(sent(&outbox).await.is_empty());
    let stored = w
        .store
        .get(&w.connection.tenant, &w.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::NeedsReauth);
}

// ---------------------------------------------------------------------------------------------
// Orders poll
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_poll_walks_pages_oldest_change_first_and_leaves_fbt_out() {
    let w = world().await;
    let since = chrono::DateTime::from_timestamp(1764230400, 0).unwrap();
    let mut fbt = order("AWAITING_SHIPMENT", false, 1764234001);
    fbt["id"] = json!("900");
    fbt["fulfillment_type"] = json!("FULFILLMENT_BY_TIKTOK");
    Mock::given(method("POST"))
        .and(path("/order/202309/orders/search"))
        .and(query_param("sort_field", "update_time"))
        .and(query_param("sort_order", "ASC"))
        .and(query_param("page_size", "50"))
        .and(query_param("shop_cipher", CIPHER))
        .and(NotParam("page_token"))
        .and(body_json(json!({"update_time_ge": 1764230400})))
        .and(signed())
        .respond_with(ok(json!({
            "orders": [order("AWAITING_SHIPMENT", false, 1764234000), fbt, {"id": "901"}],
            "next_page_token": "tok-2", "total_count": 4
        })))
        .expect(1)
        .mount(&w.server)
        .await;
    let mut second = order("UNPAID", true, 1764234002);
    second["id"] = json!("902");
    Mock::given(method("POST"))
        .and(path("/order/202309/orders/search"))
        .and(query_param("page_token", "tok-2"))
        .and(body_json(json!({"update_time_ge": 1764230400})))
        .and(signed())
        .respond_with(ok(json!({"orders": [second], "next_page_token": ""})))
        .expect(1)
        .mount(&w.server)
        .await;
    let store = w.registry.open_store(&w.connection).await.unwrap();
    let page = store.orders_updated_since(since, None).await.unwrap();
    let ids: Vec<&str> = page
        .orders
        .iter()
        .map(|o| o.channel_order_id.as_str())
        .collect();
    assert_eq!(ids, [ORDER]);
    assert_eq!(page.skipped.len(), 1);
    assert_eq!(page.skipped[0].0, "901");
    assert_eq!(page.next_cursor.as_deref(), Some("tok-2"));
    let page = store
        .orders_updated_since(since, Some("tok-2"))
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert!(page.orders[0].awaiting.is_some());
    assert_eq!(page.next_cursor, None);
}

// ---------------------------------------------------------------------------------------------
// Install and tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_authorize_link_carries_the_service_id_and_state_with_a_us_variant() {
    let w = world().await;
    let a = adapter(&w, "7234567890");
    let app = a.oauth().unwrap();
    assert!(app.is_configured());
    assert_eq!(app.parse_shop(None).unwrap(), None);
    assert_eq!(app.parse_shop(Some(" US ")).unwrap().as_deref(), Some("us"));
    assert!(app.parse_shop(Some("mars")).is_err());
    assert_eq!(
        app.authorize_url(
            None,
            "https://sync.example/oauth/tiktok/callback",
            "st/1",
            None
        ),
        "https://services.tiktokshop.com/open/authorize?service_id=7234567890&state=st%2F1"
    );
    assert_eq!(
        app.authorize_url(
            Some("us"),
            "https://sync.example/oauth/tiktok/callback",
            "st",
            None
        ),
        "https://services.us.tiktokshop.com/open/authorize?service_id=7234567890&state=st"
    );
    assert!(!adapter(&w, "").oauth().unwrap().is_configured());
}

#[tokio::test]
async fn the_install_exchanges_the_code_and_connects_every_authorized_shop() {
    let w = world().await;
    let a = adapter(&w, "7234567890");
    Mock::given(method("GET"))
        .and(path("/api/v2/token/get"))
        .and(query_param("app_key", APP_KEY))
        .and(query_param("app_secret", SECRET))
        .and(query_param("auth_code", "fake_code"))
        .and(query_param("grant_type", "authorized_code"))
        .respond_with(ok(json!({
            "access_token": "fake_new_access", "access_token_expire_in": 1764838800,
            "refresh_token": "fake_new_refresh", "refresh_token_expire_in": 1796374800,
            "seller_name": "Demo Seller"
        })))
        .expect(1)
        .mount(&w.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/authorization/202309/shops"))
        .and(NoCipher)
        .and(Signed { token: "fake_new_access" })
        .respond_with(ok(json!({"shops": [
            {"id": "1001", "name": "Shop US", "region": "US", "seller_type": "LOCAL", "cipher": "ROW_c1", "code": "USX"},
            {"id": "1002", "name": "Shop UK", "region": "GB", "seller_type": "CROSS_BORDER", "cipher": "ROW_c2", "code": "GBX"}
        ]})))
        .expect(1)
        .mount(&w.server)
        .await;
    // Each shop's subscriptions: listed, then the five created (the list is empty).
    for cipher in ["ROW_c1", "ROW_c2"] {
        Mock::given(method("GET"))
            .and(path("/event/202309/webhooks"))
            .and(query_param("shop_cipher", cipher))
            .and(Signed {
                token: "fake_new_access",
            })
            .respond_with(ok(json!({"webhooks": []})))
            .expect(1)
            .mount(&w.server)
            .await;
        for event in super::SUBSCRIBED {
            Mock::given(method("PUT"))
                .and(path("/event/202309/webhooks"))
                .and(query_param("shop_cipher", cipher))
                .and(body_json(
                    json!({"address": "https://sync.example/webhooks/tiktok", "event_type": event}),
                ))
                .and(Signed {
                    token: "fake_new_access",
                })
                .respond_with(ok(json!({})))
                .expect(1)
                .mount(&w.server)
                .await;
        }
    }
    let app = a.oauth().unwrap();
    let installed = app
        .exchange(
            "fake_code",
            Callback {
                query: &[],
                shop: None,
                redirect_uri: "https://sync.example/oauth/tiktok/callback",
                pkce_verifier: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(installed.shop, "1001");
    assert_eq!(installed.display_name.as_deref(), Some("Shop US"));
    // What the channel-neutral callback does with it.
    let tenant = TenantId::parse("dev").unwrap();
    let (_, first) = w
        .registry
        .context()
        .upsert_connection(
            &tenant,
            Channel::Tiktok,
            &installed.shop,
            &installed.credentials,
            None,
            None,
        )
        .await
        .unwrap();
    let report = app
        .after_connect(&first, &installed.credentials)
        .await
        .unwrap();
    assert_eq!(report.created.len(), 10);
    let second = w
        .store
        .find_by_shop(Channel::Tiktok, "1002")
        .await
        .unwrap()
        .expect("second shop");
    assert_eq!(second.tenant, tenant);
    let creds = |c: &Connection| {
        let w = &w;
        let name = c.credentials_name();
        async move {
            let s = w.vault.get(&name).await.unwrap().unwrap();
            (
                TikTokCredentials::from_secret(&s).unwrap(),
                s.expose().contains("other_shops"),
            )
        }
    };
    let (c1, lists_others) = creds(&first).await;
    assert_eq!(c1.shop_cipher, "ROW_c1");
    assert_eq!(c1.access_token_expires_at, 1764838800);
    assert!(
        !lists_others,
        "the first shop's stored credentials no longer list the others"
    );
    let (c2, _) = creds(&second).await;
    assert_eq!(c2.shop_cipher, "ROW_c2");
    assert_eq!(c2.region.as_deref(), Some("GB"));
    assert_eq!(c2.seller_type.as_deref(), Some("CROSS_BORDER"));
}

#[tokio::test]
async fn a_refused_code_is_an_exchange_failure() {
    let w = world().await;
    let a = adapter(&w, "7234567890");
    Mock::given(path("/api/v2/token/get"))
        .respond_with(refused(36004004, "auth code is expired"))
        .expect(1)
        .mount(&w.server)
        .await;
    let err = a
        .oauth()
        .unwrap()
        .exchange(
            "old",
            Callback {
                query: &[],
                shop: None,
                redirect_uri: "x",
                pkce_verifier: None,
            },
        )
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("exchange_failed"));
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_once_and_a_refused_refresh_needs_reauth() {
    let w = world_with(chrono::Duration::hours(2)).await;
    let a = adapter(&w, "s");
    Mock::given(method("GET"))
        .and(path("/api/v2/token/refresh"))
        .and(query_param("app_key", APP_KEY))
        .and(query_param("app_secret", SECRET))
        .and(query_param("refresh_token", "fake_refresh_token"))
        .and(query_param("grant_type", "refresh_token"))
        .respond_with(ok(json!({
            "access_token": "fake_rotated_access",
            "access_token_expire_in": (chrono::Utc::now() + chrono::Duration::days(7)).timestamp(),
            "refresh_token": "fake_rotated_refresh", "refresh_token_expire_in": 1796374800
        })))
        .expect(1)
        .mount(&w.server)
        .await;
    Mock::given(path("/logistics/202309/warehouses"))
        .and(Signed {
            token: "fake_rotated_access",
        })
        .respond_with(ok(json!({"warehouses": [
            {"id": "W1", "name": "Main", "effect_status": "ENABLED", "type": "SALES_WAREHOUSE"},
            {"id": "W9", "name": "Old", "effect_status": "DISABLED", "type": "SALES_WAREHOUSE"}
        ]})))
        .expect(2)
        .mount(&w.server)
        .await;
    let first = a.locations(&w.connection).await.unwrap();
    let again = a.locations(&w.connection).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(
        first
            .iter()
            .map(|l| (l.id.as_str(), l.active))
            .collect::<Vec<_>>(),
        [("W1", true), ("W9", false)]
    );
    let stored = TikTokCredentials::from_secret(
        &w.vault
            .get(&w.connection.credentials_name())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored.refresh_token, "fake_rotated_refresh");
    assert_eq!(stored.shop_cipher, CIPHER);

    // Refused refresh: needs_reauth, jobs stop.
    let w = world_with(chrono::Duration::hours(2)).await;
    let a = adapter(&w, "s");
    Mock::given(path("/api/v2/token/refresh"))
        .respond_with(refused(36004005, "refresh token is invalid"))
        .expect(1)
        .mount(&w.server)
        .await;
    assert!(a.open_store(&w.connection).await.is_err());
    let stored = w
        .store
        .get(&w.connection.tenant, &w.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::NeedsReauth);
}

// ---------------------------------------------------------------------------------------------
// Tracking
// ---------------------------------------------------------------------------------------------

fn ups(number: &str) -> Tracking {
    Tracking {
        company: "ups".into(),
        number: crate::domain::TrackingNumber::parse(number).unwrap(),
        url: None,
    }
}

async fn mount_providers(w: &World) {
    Mock::given(method("GET"))
        .and(path(
            "/logistics/202309/delivery_options/7091146663229654785/shipping_providers",
        ))
        .and(signed())
        .respond_with(ok(json!({"shipping_providers": [
            {"id": "6617675021119438849", "name": "UPS"},
            {"id": "6617675021119438850", "name": "USPS"}
        ]})))
        .expect(1)
        .mount(&w.server)
        .await;
}

#[tokio::test]
async fn a_shipment_marks_the_package_shipped_with_the_provider_id_once() {
    let w = world().await;
    mount_providers(&w).await;
    let before = Mock::given(path("/order/202507/orders"))
        .and(signed())
        .respond_with(ok(
            json!({"orders": [order("AWAITING_SHIPMENT", false, 1764234000)]}),
        ))
        .expect(1)
        .mount_as_scoped(&w.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/fulfillment/202309/orders/{ORDER}/packages")))
        .and(query_param("shop_cipher", CIPHER))
        .and(body_json(json!({
            "order_line_item_ids": ["li1"],
            "tracking_number": "1Z999",
            "shipping_provider_id": "6617675021119438849"
        })))
        .and(signed())
        .respond_with(ok(
            json!({"package_id": "pkg-1", "order_line_item_ids": ["li1"]}),
        ))
        .expect(1)
        .mount(&w.server)
        .await;
    let store = w.registry.open_store(&w.connection).await.unwrap();
    let one_tee = [ShippedSku {
        sku: "TS-001".into(),
        quantity: 1,
    }];
    let ids = store
        .write_tracking(ORDER, Some(&one_tee), &ups("1Z999"), true)
        .await
        .unwrap();
    assert_eq!(ids, ["pkg-1"]);
    drop(before);
    // The answer was lost; the retry finds the package TikTok already has.
    let mut after = order("AWAITING_SHIPMENT", false, 1764234100);
    after["line_items"][0]["tracking_number"] = json!("1Z999");
    after["line_items"][0]["package_id"] = json!("pkg-1");
    Mock::given(path("/order/202507/orders"))
        .and(signed())
        .respond_with(ok(json!({"orders": [after]})))
        .expect(1)
        .mount(&w.server)
        .await;
    let ids = store
        .write_tracking(ORDER, Some(&one_tee), &ups("1Z999"), true)
        .await
        .unwrap();
    assert_eq!(ids, ["pkg-1"]);
}

#[tokio::test]
async fn a_carrier_tiktok_does_not_list_fails_naming_the_ones_it_does() {
    let w = world().await;
    mount_providers(&w).await;
    Mock::given(path("/order/202507/orders"))
        .and(signed())
        .respond_with(ok(
            json!({"orders": [order("AWAITING_SHIPMENT", false, 1764234000)]}),
        ))
        .mount(&w.server)
        .await;
    let store = w.registry.open_store(&w.connection).await.unwrap();
    let err = store
        .write_tracking(
            ORDER,
            None,
            &Tracking {
                company: "DHL".into(),
                number: crate::domain::TrackingNumber::parse("D1").unwrap(),
                url: None,
            },
            true,
        )
        .await
        .unwrap_err();
    match err {
        ShipError::Permanent(reason) => assert!(reason.contains("UPS, USPS"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let err = store
        .write_tracking("../x", None, &ups("1"), true)
        .await
        .unwrap_err();
    assert!(matches!(err, ShipError::Permanent(_)));
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stock_is_written_per_product_with_every_warehouse_and_failures_per_sku() {
    let w = world().await;
    Mock::given(method("GET"))
        .and(path("/product/202309/products/1729"))
        .and(signed())
        .respond_with(ok(json!({"id": "1729", "skus": [
            {"id": "sku-a", "seller_sku": "TS-001", "inventory": [
                {"warehouse_id": "W1", "quantity": 3}, {"warehouse_id": "W2", "quantity": 8}]},
            {"id": "sku-b", "seller_sku": "MUG-1", "inventory": [{"warehouse_id": "W1", "quantity": 1}]}
        ]})))
        .expect(1)
        .mount(&w.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/product/202309/products/1729/inventory/update"))
        .and(query_param("shop_cipher", CIPHER))
        .and(body_json(json!({"skus": [
            {"id": "sku-a", "inventory": [{"warehouse_id": "W1", "quantity": 5}, {"warehouse_id": "W2", "quantity": 8}]},
            {"id": "sku-b", "inventory": [{"warehouse_id": "W1", "quantity": 99999}]}
        ]})))
        .and(signed())
        .respond_with(ok(json!({"errors": [
            {"code": 17019025, "message": "product is frozen", "detail": {"sku_id": "sku-b"}}
        ]})))
        .expect(1)
        .mount(&w.server)
        .await;
    let inventory = w.registry.open_inventory(&w.connection).await.unwrap();
    let item = |sku: &str, item: &str, q: i64| PushItem {
        sku: Sku::parse(sku).unwrap(),
        item: item.into(),
        quantity: q,
        change_from: None,
    };
    let results = inventory
        .push(
            "run-1",
            "key-1",
            &[
                item("TS-001", "1729:sku-a", 5),
                item("MUG-1", "1729:sku-b", 250_000),
                item("BAD", "not-an-item", 1),
            ],
        )
        .await
        .unwrap();
    assert_eq!(results[0], ItemResult::Set);
    assert!(
        matches!(&results[1], ItemResult::Rejected { message, .. } if message.contains("frozen"))
    );
    assert!(matches!(&results[2], ItemResult::Rejected { code, .. } if code == "bad_item"));
}

#[tokio::test]
async fn a_sku_without_our_warehouse_is_refused_alone() {
    let w = world().await;
    Mock::given(path("/product/202309/products/1729"))
        .and(signed())
        .respond_with(ok(json!({"id": "1729", "skus": [
            {"id": "sku-a", "inventory": [{"warehouse_id": "W2", "quantity": 8}]}
        ]})))
        .mount(&w.server)
        .await;
    let inventory = w.registry.open_inventory(&w.connection).await.unwrap();
    let results = inventory
        .push(
            "r",
            "k",
            &[PushItem {
                sku: Sku::parse("TS-001").unwrap(),
                item: "1729:sku-a".into(),
                quantity: 0,
                change_from: None,
            }],
        )
        .await
        .unwrap();
    assert!(
        matches!(&results[0], ItemResult::Rejected { code, .. } if code == "warehouse_not_assigned")
    );
}

#[tokio::test]
async fn listings_carry_product_and_sku_ids_for_the_audit() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path("/product/202502/products/search"))
        .and(query_param("page_size", "100"))
        .and(body_json(json!({})))
        .and(signed())
        .respond_with(ok(json!({"products": [
            {"id": "1729", "title": "Tee", "status": "ACTIVATE", "skus": [
                {"id": "sku-a", "seller_sku": " TS-001 "}, {"id": "sku-b", "seller_sku": ""}]},
            {"id": "1730", "title": "Old", "status": "SELLER_DEACTIVATED", "skus": [{"id": "sku-c", "seller_sku": "TS-001"}]}
        ], "next_page_token": "p2"})))
        .expect(1)
        .mount(&w.server)
        .await;
    let store = w.registry.open_store(&w.connection).await.unwrap();
    let page = store.listings_page(None).await.unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("p2"));
    let l: Vec<_> = page
        .listings
        .iter()
        .map(|l| {
            (
                l.variant_id.as_str(),
                l.sku.as_deref(),
                l.inventory_item_id.as_deref(),
                l.sellable,
            )
        })
        .collect();
    assert_eq!(
        l,
        [
            ("sku-a", Some("TS-001"), Some("1729:sku-a"), true),
            ("sku-b", None, Some("1729:sku-b"), true),
            ("sku-c", Some("TS-001"), Some("1730:sku-c"), false)
        ]
    );
    let report = crate::channels::store::sku_report(&page.listings);
    assert_eq!(report.blank, ["sku-b"]);
    assert!(report.duplicates.is_empty());
}

#[test]
fn masked_hold_code_is_the_issue_s() {
    assert_eq!(
        serde_json::to_value(HoldCode::MaskedAddress).unwrap(),
        "masked_address"
    );
}

/// `events/webhooks-tiktok-order-status-change.json` (for `cargo lambda invoke`) is signed as
/// TikTok signs, with the fake app key and secret the docs give for it.
#[test]
fn the_sample_event_is_signed_as_tiktok_signs() {
    let raw = include_str!("../../../../events/webhooks-tiktok-order-status-change.json");
    let event: Value = serde_json::from_str(raw).unwrap();
    let body = event["body"].as_str().unwrap();
    let headers = super::signed_headers(APP_KEY, SECRET, body.as_bytes());
    assert_eq!(
        event["headers"]["authorization"].as_str().unwrap(),
        headers["authorization"].to_str().unwrap()
    );
    let d = super::TikTokVerifier::new(APP_KEY, vec![Secret::new(SECRET)])
        .check(&headers, body.as_bytes())
        .unwrap();
    assert_eq!(
        (d.shop.as_str(), d.topic.as_str()),
        ("7495540735365777507", "ORDER_STATUS_CHANGE")
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization expiry notices and masked-address counts
// ---------------------------------------------------------------------------------------------

/// Posts a signed envelope of `kind` and hands it to the consumer; the consumer's outcomes.
async fn deliver(
    w: &World,
    events: &EmbeddedQueue,
    outbox: &EmbeddedQueue,
    kind: u64,
    notification: &str,
    data: Value,
) -> Vec<String> {
    let body = envelope(kind, notification, SHOP, data);
    let sig = sign_webhook(APP_KEY, SECRET, &body);
    assert_eq!(post_webhook(w, events, body, Some(sig)).await, 200);
    consume(w, events, outbox).await
}

#[tokio::test]
async fn an_expiry_notice_is_shown_with_the_connection_and_sent_to_the_wms_once() {
    let w = world().await;
    let events = w.store.queue("channel-events", None, 5);
    let outbox = w.store.queue("wms-orders", None, 5);
    let expires = chrono::DateTime::from_timestamp(
        (chrono::Utc::now() + chrono::Duration::days(20)).timestamp(),
        0,
    )
    .unwrap();
    // The first notice, then TikTok's daily repeat of the same expiry (a new notification id,
    // the time as a numeric string this time).
    let first = deliver(
        &w,
        &events,
        &outbox,
        7,
        "n-exp-1",
        json!({"expiration_time": expires.timestamp(), "message": "expires soon"}),
    )
    .await;
    assert_eq!(first, [r#"Done("authorization expiry sent to the WMS")"#]);
    let again = deliver(
        &w,
        &events,
        &outbox,
        7,
        "n-exp-2",
        json!({"expiration_time": expires.timestamp().to_string()}),
    )
    .await;
    assert_eq!(
        again,
        [r#"Done("authorization expiry already sent to the WMS")"#]
    );
    let messages = sent(&outbox).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0],
        json!({
            "type": "connection.authorization_expiring", "v": 1, "tenant": "dev",
            "connection": "c_tiktok", "channel": "tiktok", "shop": SHOP,
            "expires_at": expires,
        })
    );
    // The connection's status says when and what to do.
    let notes = adapter(&w, "svc").notes(&w.connection).await;
    assert_eq!(
        notes,
        [format!(
            "TikTok authorization expires at {}: re-authorize in the dashboard",
            expires.to_rfc3339()
        )]
    );
    // Once the expiry has passed, it is no longer announced as ahead.
    let after = super::adapter::tiktok_notes(
        &w.store,
        &w.connection,
        expires + chrono::Duration::seconds(1),
    )
    .await;
    assert!(after.is_empty(), "{after:?}");

    // A re-authorization's later expiry is a new notice; an old one arriving late changes
    // nothing (neither the recorded expiry nor a second message).
    let later = expires + chrono::Duration::days(365);
    deliver(
        &w,
        &events,
        &outbox,
        7,
        "n-exp-3",
        json!({"expiration_time": later.timestamp()}),
    )
    .await;
    deliver(
        &w,
        &events,
        &outbox,
        7,
        "n-exp-4",
        json!({"expiration_time": expires.timestamp()}),
    )
    .await;
    let messages = sent(&outbox).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["expires_at"], json!(later));
    let notes = adapter(&w, "svc").notes(&w.connection).await;
    assert_eq!(
        notes,
        [format!(
            "TikTok authorization expires at {}: re-authorize in the dashboard",
            later.to_rfc3339()
        )]
    );
}

#[tokio::test]
async fn an_expiry_notice_without_a_usable_time_is_dead_lettered_not_sent() {
    let w = world().await;
    let events = w.store.queue("channel-events", None, 5);
    let outbox = w.store.queue("wms-orders", None, 5);
    for (n, data) in [
        ("n-bad-1", json!({})),
        ("n-bad-2", json!({"expiration_time": "soon"})),
        ("n-bad-3", json!({"expiration_time": -5})),
    ] {
        deliver(&w, &events, &outbox, 7, n, data).await;
    }
    assert!(sent(&outbox).await.is_empty());
    let dlq = w.store.queue("dlq", None, 5);
    let dead = dlq.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(dead.len(), 3);
    assert!(dead
        .iter()
        .all(|m| m.body.contains("no usable expiration_time")));
    assert!(adapter(&w, "svc").notes(&w.connection).await.is_empty());
}

#[test]
fn expiration_times_read_as_unix_seconds_or_rfc3339() {
    use super::adapter::expiration_time;
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    assert_eq!(expiration_time(&json!(1_767_225_600)), Some(at));
    assert_eq!(expiration_time(&json!(" 1767225600 ")), Some(at));
    assert_eq!(expiration_time(&json!("2026-01-01T00:00:00Z")), Some(at));
    assert_eq!(expiration_time(&json!(0)), None);
    assert_eq!(expiration_time(&json!(1.5)), None);
    assert_eq!(expiration_time(&json!(i64::MAX)), None);
    assert_eq!(expiration_time(&json!(null)), None);
}

#[tokio::test]
async fn masked_orders_are_counted_once_each_in_the_notes_and_the_sku_audit() {
    let w = world().await;
    let events = w.store.queue("channel-events", None, 5);
    let outbox = w.store.queue("wms-orders", None, 5);
    let other = "576653688135258999";
    let mut second = order("AWAITING_SHIPMENT", true, 1764234000);
    second["id"] = json!(other);
    Mock::given(method("GET"))
        .and(path("/order/202507/orders"))
        .and(query_param("ids", ORDER))
        .and(signed())
        .respond_with(ok(
            json!({"orders": [order("AWAITING_SHIPMENT", true, 1764234000)]}),
        ))
        .expect(2)
        .mount(&w.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/order/202507/orders"))
        .and(query_param("ids", other))
        .and(signed())
        .respond_with(ok(json!({"orders": [second]})))
        .expect(1)
        .mount(&w.server)
        .await;
    // The first masked order, a second event about the same state, a second masked order.
    for (n, id) in [("n-m-1", ORDER), ("n-m-2", ORDER), ("n-m-3", other)] {
        deliver(
            &w,
            &events,
            &outbox,
            1,
            n,
            json!({"order_id": id, "order_status": "AWAITING_SHIPMENT"}),
        )
        .await;
    }
    let kinds: Vec<Value> = sent(&outbox)
        .await
        .iter()
        .map(|m| m["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("order.imported"), json!("order.imported")]);

    let notes = adapter(&w, "svc").notes(&w.connection).await;
    assert_eq!(
        notes,
        [
            "2 recent orders had a masked address: switch the products to a Shipped by Seller \
          shipping template"
        ]
    );
    // Older than "recent": not counted.
    let later = super::adapter::tiktok_notes(
        &w.store,
        &w.connection,
        chrono::Utc::now() + crate::connection_state::HELD_RECENT + chrono::Duration::days(1),
    )
    .await;
    assert!(later.is_empty(), "{later:?}");

    let deps = crate::http::inventory_api::InventoryApiDeps {
        connections: Arc::new(w.store.clone()),
        tenants: Arc::new(w.store.clone()),
        records: Arc::new(w.store.clone()),
        idempotency: Arc::new(w.store.clone()),
        values: Arc::new(w.store.clone()),
        push_queue: Arc::new(w.store.queue("push", None, 5)),
    };
    let audit = crate::http::inventory_api::audit(&deps, &TenantId::parse("dev").unwrap())
        .await
        .unwrap();
    let ours = &audit["connections"][0];
    assert_eq!(ours["connection"], "c_tiktok");
    assert_eq!(ours["held_orders"]["masked_address"]["count"], 2);
    let because: Vec<&str> = ours["not_ready_because"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|r| r.contains("masked_address"))
        .collect();
    assert_eq!(because.len(), 1, "{ours}");
    assert!(because[0].starts_with("2 recent order(s) were imported held (masked_address): "));
    assert!(because[0].contains("Shipped by Seller shipping template"));
    assert_eq!(ours["ready"], false);

    // An order held only because it was cancelled before we saw it is listed, not a reason.
    use crate::ports::Records;
    let marker = json!({"at": chrono::Utc::now(), "detail": "cancelled before import"});
    w.store
        .put_if_newer(
            &crate::keys::partition::held(&w.connection.id),
            "cancelled#1",
            1,
            &marker,
        )
        .await
        .unwrap();
    let audit = crate::http::inventory_api::audit(&deps, &TenantId::parse("dev").unwrap())
        .await
        .unwrap();
    let ours = &audit["connections"][0];
    assert_eq!(ours["held_orders"]["cancelled"]["count"], 1);
    assert!(
        !ours.to_string().contains("imported held (cancelled)"),
        "{ours}"
    );
}
