//! Etsy webhooks end to end: the intake route and the order consumer against a fake Etsy.

use super::*;
use crate::channels::etsy::webhook::{sign, WEBHOOK_SECRET_NAME};
use crate::channels::testkit::{connection, save_connection, test_registry};
use crate::consumers::order_import::{handle, ImportDeps};
use crate::consumers::Disposition;
use crate::domain::TenantId;
use crate::embedded::EmbeddedQueue;
use crate::http::webhooks::{router, IntakeDeps};
use crate::ports::Vault;
use axum::http::Request as HttpRequest;
use tower::ServiceExt;

const WHSEC: &str = "whsec_ZmFrZS1ldHN5LXdlYmhvb2stc2VjcmV0LWZvci10ZXN0cw==";

struct Flow {
    server: MockServer,
    intake: Arc<IntakeDeps>,
    import: Arc<ImportDeps>,
    events: EmbeddedQueue,
    outbox: EmbeddedQueue,
    _dir: tempfile::TempDir,
}

async fn flow() -> Flow {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    vault
        .put(WEBHOOK_SECRET_NAME, &Secret::new(WHSEC))
        .await
        .unwrap();
    let channels = test_registry(&store, vault.clone(), Some(server.uri()));
    let c = connection("c_etsy", Channel::Etsy, "42", ConnectionStatus::Active);
    save_connection(&channels, &c, &pair("at_fake", "rt_fake", 60).to_secret()).await;
    let events = store.queue("channel-events", None, 5);
    let outbox = store.queue("wms-orders", None, 5);
    let intake = Arc::new(IntakeDeps::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(events.clone()),
        channels.clone(),
    ));
    let import = Arc::new(ImportDeps {
        connections: Arc::new(store.clone()),
        vault,
        idempotency: Arc::new(store.clone()),
        values: Arc::new(store.clone()),
        wms_orders: Arc::new(outbox.clone()),
        dead_letter: Arc::new(store.queue("dlq", None, 5)),
        inventory: crate::inventory::engine::embedded_live_trigger(&store, Default::default()),
        channels,
    });
    Flow {
        server,
        intake,
        import,
        events,
        outbox,
        _dir: dir,
    }
}

fn paid(shop: u64, receipt: u64) -> Vec<u8> {
    format!(r#"{{"event_type":"order.paid","resource_url":"https://elsewhere.example/v3/application/shops/{shop}/receipts/{receipt}","shop_id":{shop}}}"#).into_bytes()
}

async fn deliver(
    f: &Flow,
    id: &str,
    at: i64,
    body: Vec<u8>,
    signature: Option<String>,
) -> (u16, String) {
    let signature = signature.unwrap_or_else(|| sign(WHSEC, id, at, &body));
    let request = HttpRequest::post("/webhooks/etsy")
        .header("webhook-id", id)
        .header("webhook-timestamp", at.to_string())
        .header("webhook-signature", signature)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let answer = router(f.intake.clone()).oneshot(request).await.unwrap();
    let status = answer.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(answer.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn queued(q: &EmbeddedQueue) -> Vec<Value> {
    let tenant = TenantId::parse("dev").unwrap();
    q.read_after(&tenant, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.body)
        .collect()
}

/// GIVEN a signed `order.paid` for a connected shop WHEN it is delivered twice (same
/// `webhook-id`) and the poll finds the same receipt THEN one event is queued, the consumer
/// re-reads the receipt by id from Etsy's API (not the URL's host) and the WMS gets one
/// `order.imported`.
#[tokio::test]
async fn a_paid_order_webhook_imports_the_receipt_once() {
    let f = flow().await;
    let now = Utc::now().timestamp();
    api("GET", &format!("/shops/{SHOP}/receipts/54321"), "at_fake")
        .respond_with(ResponseTemplate::new(200).set_body_json(receipt(54321, 1_795_000_100)))
        .expect(1)
        .mount(&f.server)
        .await;
    let (status, body) = deliver(&f, "msg_a", now, paid(SHOP, 54321), None).await;
    assert_eq!((status, body.contains("accepted")), (200, true), "{body}");
    let (status, body) = deliver(&f, "msg_a", now, paid(SHOP, 54321), None).await;
    assert_eq!((status, body.contains("duplicate")), (200, true), "{body}");
    let events = queued(&f.events).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        handle(f.import.clone(), events[0].to_string()).await,
        Disposition::Done("order.imported".into())
    );
    // The poll finds the same receipt: nothing more for the WMS.
    let order = super::super::order::receipt_to_order(&receipt(54321, 1_795_000_100)).unwrap();
    let mut polled = events[0].clone();
    polled["topic"] = json!(crate::channels::POLLED_ORDER_TOPIC);
    polled["delivery_id"] = json!("poll-1");
    polled["payload"] = serde_json::to_value(&order).unwrap();
    assert_eq!(
        handle(f.import.clone(), polled.to_string()).await,
        Disposition::Done("duplicate or stale".into())
    );
    let sent = queued(&f.outbox).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["type"], "order.imported");
    assert_eq!(sent[0]["lines"][0]["sku"], "MUG-BLUE");
    assert_eq!(sent[0]["channel_order_id"], "54321");
}

/// Wrong or stale signatures 401, unknown shop 404, non-JSON 400, oversized 413; nothing
/// queued.
#[tokio::test]
async fn bad_deliveries_get_a_clear_4xx_and_nothing_is_queued() {
    let f = flow().await;
    let now = Utc::now().timestamp();
    let wrong = Some(sign("whsec_b3RoZXI=", "msg_w", now, &paid(SHOP, 1)));
    assert_eq!(deliver(&f, "msg_w", now, paid(SHOP, 1), wrong).await.0, 401);
    assert_eq!(
        deliver(&f, "msg_s", now - 600, paid(SHOP, 1), None).await.0,
        401
    );
    assert_eq!(deliver(&f, "msg_u", now, paid(999, 1), None).await.0, 404);
    assert_eq!(
        deliver(&f, "msg_n", now, b"not json".to_vec(), None)
            .await
            .0,
        400
    );
    let huge = format!(
        r#"{{"event_type":"order.paid","shop_id":42,"pad":"{}"}}"#,
        "x".repeat(600 * 1024)
    )
    .into_bytes();
    assert_eq!(deliver(&f, "msg_h", now, huge, None).await.0, 413);
    assert!(queued(&f.events).await.is_empty());
}

/// GIVEN the receipt is unpaid when re-read THEN nothing is imported yet; an outage is
/// retried; a receipt Etsy no longer has is done with the reason; an unreadable one is
/// dead-lettered.
#[tokio::test]
async fn the_re_read_decides_not_the_event() {
    let f = flow().await;
    let now = Utc::now().timestamp();
    let mut unpaid = receipt(7, 1_795_000_100);
    unpaid["is_paid"] = json!(false);
    api("GET", &format!("/shops/{SHOP}/receipts/7"), "at_fake")
        .respond_with(ResponseTemplate::new(200).set_body_json(unpaid))
        .mount(&f.server)
        .await;
    api("GET", &format!("/shops/{SHOP}/receipts/8"), "at_fake")
        .respond_with(ResponseTemplate::new(503))
        .mount(&f.server)
        .await;
    api("GET", &format!("/shops/{SHOP}/receipts/9"), "at_fake")
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": "Receipt not found"})),
        )
        .mount(&f.server)
        .await;
    api("GET", &format!("/shops/{SHOP}/receipts/10"), "at_fake")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"receipt_id": 10})))
        .mount(&f.server)
        .await;
    for (id, receipt) in [("m7", 7), ("m8", 8), ("m9", 9), ("m10", 10)] {
        assert_eq!(deliver(&f, id, now, paid(SHOP, receipt), None).await.0, 200);
    }
    let events = queued(&f.events).await;
    let outcomes: Vec<Disposition> = futures_outcomes(&f, &events).await;
    assert!(
        matches!(&outcomes[0], Disposition::Done(m) if m.starts_with("not imported")),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1], Disposition::Retry(_)),
        "{outcomes:?}"
    );
    // Not readable (yet): retried, the queue's redrive bounds it.
    assert!(
        matches!(&outcomes[2], Disposition::Retry(m) if m.contains("not readable on etsy yet")),
        "{outcomes:?}"
    );
    // A receipt that cannot be read as an order is dead-lettered with the reason.
    assert!(
        matches!(&outcomes[3], Disposition::Done(m) if m.starts_with("dead-lettered") && m.contains("create_timestamp")),
        "{outcomes:?}"
    );
    assert!(queued(&f.outbox).await.is_empty());
}

async fn futures_outcomes(f: &Flow, events: &[Value]) -> Vec<Disposition> {
    let mut out = Vec::new();
    for e in events {
        out.push(handle(f.import.clone(), e.to_string()).await);
    }
    out
}
