//! Wiring of the `api` Lambda.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `CHANNEL_SYNC_PUBLIC_URL`,
//! `{CHANNEL}_APP_SECRET_ID` per channel app (client id and secret, for token refresh),
//! `INVENTORY_PUSH_QUEUE_URL` (Sync now), `WMS_ORDERS_QUEUE_URL` (a disconnect tells the WMS),
//! optionally `ADMIN_TOKEN_SECRET_ID` (a secret holding
//! the operator's admin token; without it `/api/admin/tenants` answers 404) and
//! `{CHANNEL}_API_BASE`.

use shared::api::ApiDeps;
use shared::aws::lambda_env::{env, env_opt, ports_and_channels, read_secret, ConfigError};
use shared::aws::{SdkConfig, SecretsVault, SqsQueue};
use shared::channels::registry::Registry;
use shared::http::admin::AdminDeps;
use shared::http::inventory_api::InventoryApiDeps;
use shared::http::token_sha256;
use shared::ports::{Ports, Queue};
use std::sync::Arc;

/// The management and operator routes, and the Integrations page (`GET /integrations`).
pub fn app(api: Arc<ApiDeps>, admin: Arc<AdminDeps>) -> axum::Router {
    let page = shared::http::ui::router(
        Arc::new(shared::http::ui::UiDeps {
            channels: api.channels.clone(),
            tenants: api.tenants.clone(),
            connections: api.connections.clone(),
            dev_token: None,
        }),
        false,
    );
    shared::http::with_json_fallbacks(
        shared::api::router(api)
            .merge(shared::http::admin::router(admin))
            .merge(page),
    )
}

/// The routes on `ports` and `channels`; Sync now queues on `push_queue`, a disconnect tells
/// the WMS on `wms_orders`.
pub fn api_deps(
    ports: &Ports,
    channels: Arc<Registry>,
    push_queue: Arc<dyn Queue>,
    wms_orders: Arc<dyn Queue>,
    admin_token_sha256: Option<String>,
) -> (ApiDeps, AdminDeps) {
    (
        ApiDeps {
            inventory: Arc::new(InventoryApiDeps {
                connections: ports.connections.clone(),
                tenants: ports.tenants.clone(),
                records: ports.records.clone(),
                idempotency: ports.idempotency.clone(),
                values: ports.values.clone(),
                push_queue,
            }),
            connections: ports.connections.clone(),
            tenants: ports.tenants.clone(),
            channels,
            wms_orders,
        },
        AdminDeps {
            tenants: ports.tenants.clone(),
            admin_token_sha256,
        },
    )
}

/// Everything the routes need, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<(ApiDeps, AdminDeps), ConfigError> {
    // WooCommerce webhooks are subscribed to CHANNEL_SYNC_PUBLIC_URL at connect.
    env("CHANNEL_SYNC_PUBLIC_URL")?;
    let (ports, channels) = ports_and_channels(config).await?;
    let admin_token_sha256 = match env_opt("ADMIN_TOKEN_SECRET_ID") {
        Some(id) => Some(token_sha256(
            read_secret(&SecretsVault::from_config(config, ""), &id)
                .await?
                .expose()
                .trim(),
        )),
        None => None,
    };
    Ok(api_deps(
        &ports,
        channels,
        Arc::new(SqsQueue::from_config(
            config,
            env("INVENTORY_PUSH_QUEUE_URL")?,
        )),
        Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
        admin_token_sha256,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};
    use shared::ports::Tenants;
    use tower::ServiceExt;

    /// The sample event through the Router the Lambda runs: the token resolves to `dev`.
    #[tokio::test]
    async fn sample_list_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let dev = shared::domain::TenantId::parse("dev").unwrap();
        store
            .put_token(&dev, &token_sha256("cs_fake_event_token"))
            .await
            .unwrap();
        let ports =
            shared::embedded::ports_of(&store, Arc::new(EmbeddedVault::open(dir.path()).unwrap()));
        let channels = Registry::on(&ports, Default::default(), "", Default::default()).unwrap();
        let (api, admin) = api_deps(
            &ports,
            channels,
            Arc::new(store.queue("inventory-push", None, 5)),
            Arc::new(store.queue("wms-orders", None, 5)),
            None,
        );
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/api-connections-list.json"
        ))
        .unwrap();
        let request = lambda_http::request::from_str(&raw).unwrap();
        let response = app(Arc::new(api), Arc::new(admin))
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body, serde_json::json!({"connections": []}));

        // What no route takes gets JSON too: an unknown path 404, a known one 405.
        for (method, uri, status, error) in [
            ("GET", "/api/nothing-here", 404, "not_found"),
            ("PUT", "/api/connections", 405, "method_not_allowed"),
        ] {
            let request = lambda_http::http::Request::builder()
                .method(method)
                .uri(uri)
                .body(lambda_http::Body::Empty)
                .unwrap();
            let (api, admin) = api_deps(
                &ports,
                Registry::on(&ports, Default::default(), "", Default::default()).unwrap(),
                Arc::new(store.queue("inventory-push", None, 5)),
                Arc::new(store.queue("wms-orders", None, 5)),
                None,
            );
            let response = app(Arc::new(api), Arc::new(admin))
                .oneshot(request)
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{method} {uri}");
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["error"], error, "{body}");
            assert!(body["message"].as_str().unwrap().contains(uri), "{body}");
        }
    }
    /// The Integrations page through the Lambda's Router: the page and its assets with the
    /// strict policy, the channel list, and never the dev token (there is none on AWS), nor
    /// the page at `/`.
    #[tokio::test]
    async fn the_integrations_page_is_served_without_a_dev_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let ports =
            shared::embedded::ports_of(&store, Arc::new(EmbeddedVault::open(dir.path()).unwrap()));
        let get = |uri: &str| {
            let (api, admin) = api_deps(
                &ports,
                Registry::on(&ports, Default::default(), "", Default::default()).unwrap(),
                Arc::new(store.queue("inventory-push", None, 5)),
                Arc::new(store.queue("wms-orders", None, 5)),
                None,
            );
            let request = lambda_http::http::Request::builder()
                .uri(uri)
                .header("host", "127.0.0.1:3000")
                .header("sec-fetch-site", "same-origin")
                .body(lambda_http::Body::Empty)
                .unwrap();
            app(Arc::new(api), Arc::new(admin)).oneshot(request)
        };
        for (uri, kind) in [
            ("/integrations", "text/html"),
            ("/integrations/app.js", "text/javascript"),
            ("/integrations/app.css", "text/css"),
        ] {
            let response = get(uri).await.unwrap();
            assert_eq!(response.status(), 200, "{uri}");
            let headers = response.headers();
            assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
            assert_eq!(
                headers["content-security-policy"],
                shared::http::ui::CSP,
                "{uri}"
            );
        }
        let response = get("/integrations/channels").await.unwrap();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["channels"].as_array().unwrap().len(), 7);
        assert_eq!(body["channels"][0]["channel"], "shopify");
        assert_eq!(body["channels"][0]["oauth"]["needs_shop"], true);
        assert_eq!(body["channels"][1]["locations"], "none");
        assert_eq!(get("/integrations/dev-token").await.unwrap().status(), 404);
        assert_eq!(get("/").await.unwrap().status(), 404);
        assert_eq!(
            get("/api/connections/c_1/activity").await.unwrap().status(),
            401
        );
    }
}
