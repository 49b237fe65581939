//! `DELETE /api/connections/{id}` on the AWS adapters (moto), through the `api` Lambda wired
//! from its environment: the WMS hears of the merchant's disconnect on the `wms-orders` FIFO
//! queue, once, however often the DELETE is repeated (issue 15, item 7). One test only: it
//! sets the process environment.

use shared::domain::{Channel, Connection};
use shared::ports::{Queue, Secret};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

async fn delete(app: axum::Router, id: &str) -> (u16, serde_json::Value) {
    let request = http::Request::builder()
        .method("DELETE")
        .uri(format!("/api/connections/{id}"))
        .header(
            "authorization",
            format!("Bearer {}", tests::stack::EVENTS_TENANT_TOKEN),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// GIVEN tenant `dev`'s active WooCommerce connection on a moto stack WHEN `dev` deletes it
/// three times THEN each answer is 200 `disconnected`, the credentials are gone, and the WMS
/// queue holds one `connection.disconnected` with reason `merchant_disconnected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_on_aws_tells_the_wms_once() {
    let endpoint = tests::moto_endpoint();
    let config = tests::moto_config().await;
    let stack = tests::unique("disconnect");
    let env = tests::stack::provision_stack(&config, endpoint, &stack)
        .await
        .unwrap();
    for (name, value) in &env {
        std::env::set_var(name, value);
    }
    let config = shared::aws::load_config().await;
    let (api, admin) = api::deps_from_env(&config).await.unwrap();
    let (api, admin) = (Arc::new(api), Arc::new(admin));
    let connection = Connection::fixture("c_aws_gone", Channel::Woocommerce, "gone.example");
    api.connections.create(&connection).await.unwrap();
    let vault = &api.channels.context().vault;
    let name = connection.credentials_name();
    vault
        .put(&name, &Secret::new(r#"{"fake":"credentials"}"#))
        .await
        .unwrap();

    for attempt in 0..3 {
        let (status, body) = delete(api::app(api.clone(), admin.clone()), "c_aws_gone").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "disconnected", "{body}");
        assert_eq!(body["already_disconnected"], attempt > 0, "{body}");
    }
    assert_eq!(vault.get(&name).await.unwrap(), None);

    let url = env
        .iter()
        .find(|(k, _)| k == "WMS_ORDERS_QUEUE_URL")
        .map(|(_, v)| v.clone())
        .unwrap();
    let wms = shared::aws::SqsQueue::from_config(&config, url);
    let mut sent = Vec::new();
    loop {
        let batch = wms.receive(10, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            sent.push(serde_json::from_str::<serde_json::Value>(&m.body).unwrap());
        }
    }
    assert_eq!(
        sent,
        [serde_json::json!({
            "type": "connection.disconnected", "v": 1, "tenant": "dev", "connection": "c_aws_gone",
            "channel": "woocommerce", "shop": "gone.example", "reason": "merchant_disconnected",
        })]
    );
}
