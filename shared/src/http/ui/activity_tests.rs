//! `GET /api/connections/{id}/activity` reads the jobs' last values and the poll's watermark
//! where they are kept.

use super::*;
use crate::channels::testkit::ShopifyFixture;
use crate::http::testkit::{signed_in_shopify, FAKE_API_TOKEN};
use crate::ports::{KeyValue, Records};
use http::Request;
use tower::ServiceExt;

async fn activity_of(deps: Arc<UiDeps>) -> (StatusCode, Value) {
    let request = Request::get("/api/connections/c_1/activity")
        .header("Authorization", format!("Bearer {FAKE_API_TOKEN}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = router(deps, false).oneshot(request).await.unwrap();
    let status = answer.status();
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

/// The watermark is the fenced `Records` record the poll writes (before, the page read the
/// unversioned value of before fenced writes, and showed nothing once a poll had run); an
/// unversioned one alone is still shown; the last runs are the values the jobs put.
#[tokio::test]
async fn the_activity_shows_the_fenced_watermark_and_the_last_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ShopifyFixture {
        store,
        channels,
        connection,
        ..
    } = signed_in_shopify(dir.path()).await;
    let deps = Arc::new(UiDeps {
        channels,
        tenants: Arc::new(store.clone()),
        connections: Arc::new(store.clone()),
        dev_token: None,
    });
    let (status, body) = activity_of(deps.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"last_poll": null, "orders_up_to": null, "webhooks": null, "products": null})
    );

    let watermark = keys::watermark(&connection.id);
    let old = json!({"at": "2026-11-27T08:00:00Z"});
    KeyValue::put(&store, &watermark, &old, None).await.unwrap();
    assert_eq!(activity_of(deps.clone()).await.1["orders_up_to"], old);

    let fenced = json!({"at": "2026-11-27T09:00:00Z"});
    Records::put(&store, &watermark, "poll", 1, &fenced)
        .await
        .unwrap();
    let last_poll = json!({"found": 3, "enqueued": 1});
    KeyValue::put(
        &store,
        &keys::reconcile_last(&connection.id),
        &last_poll,
        None,
    )
    .await
    .unwrap();
    let products = json!({"finished_at": "2026-11-27T09:05:00Z", "mapped": 12,
        "outcome": "completed", "unmapped": ["X"]});
    KeyValue::put(
        &store,
        &keys::products_last(&connection.id),
        &products,
        None,
    )
    .await
    .unwrap();
    let (_, body) = activity_of(deps).await;
    assert_eq!(body["orders_up_to"], fenced);
    assert_eq!(body["last_poll"], last_poll);
    assert_eq!(
        body["products"],
        json!({"finished_at": "2026-11-27T09:05:00Z", "mapped": 12, "outcome": "completed"})
    );
}
