//! Webhook subscriptions: created at connect, checked daily, because channels drop them
//! without telling anyone. Each connection's channel adapter does its own check
//! ([`crate::channels::adapter::ChannelAdapter::ensure_webhooks`]: Shopify re-creates deleted
//! subscriptions of stores installed through our app, WooCommerce re-enables disabled ones);
//! a channel that refuses the credentials marks the connection `needs_reauth`.
//!
//! Each check is recorded in `webhook-health-last#{connection}`.

use crate::channels::adapter::HealthReport;
use crate::channels::registry::Registry;
use crate::domain::{Connection, ConnectionStatus};
pub use crate::keys;
use crate::ports::{Connections, KeyValue, PortError};
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;

/// What the check needs.
pub struct WebhookHealthDeps {
    pub connections: Arc<dyn Connections>,
    /// The last check's report.
    pub values: Arc<dyn KeyValue>,
    /// Each connection's channel checks its own subscriptions (they point at the registry's
    /// public URL).
    pub channels: Arc<Registry>,
}

/// Why a check did not complete.
pub type HealthError = super::JobError;

/// Ensures one connection's subscriptions; `None` when the store is not ours to manage.
pub async fn ensure_for(
    deps: &WebhookHealthDeps,
    connection: &Connection,
) -> Result<Option<HealthReport>, HealthError> {
    if connection.status != ConnectionStatus::Active {
        return Ok(None);
    }
    let Some(adapter) = deps.channels.adapter(connection.channel) else {
        return Ok(None);
    };
    let Some(report) = adapter.ensure_webhooks(connection).await? else {
        return Ok(None);
    };
    let record = json!({"at": Utc::now(), "existing": report.existing, "created": report.created, "reenabled": report.reenabled, "updated": report.updated});
    deps.values
        .put(&keys::webhook_health_last(&connection.id), &record, None)
        .await?;
    if !report.created.is_empty() || !report.reenabled.is_empty() {
        tracing::warn!(connection = %connection.id, created = ?report.created, reenabled = ?report.reenabled, "missing or disabled webhook subscriptions repaired");
    }
    Ok(Some(report))
}

/// The daily check over every connection; one failure does not stop the others.
pub async fn check_all(
    deps: &WebhookHealthDeps,
) -> Result<Vec<(String, Result<Option<HealthReport>, HealthError>)>, PortError> {
    let mut results = Vec::new();
    for connection in deps.connections.list_all().await? {
        let result = ensure_for(deps, &connection).await;
        if let Err(e) = &result {
            tracing::warn!(connection = %connection.id, error = %e, "webhook health check failed");
        }
        results.push((connection.id.to_string(), result));
    }
    Ok(results)
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::channels::shopify::oauth::ShopifyCredentials;
    use crate::channels::OpenError;

    use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn deps(
        server: &MockServer,
        dir: &std::path::Path,
        via_oauth: bool,
    ) -> (WebhookHealthDeps, Connection) {
        let mut creds = ShopifyCredentials::static_token("shpat_fake_hook", "");
        creds.via_oauth = via_oauth;
        let ShopifyFixture {
            store,
            connection,
            channels,
            ..
        } = shopify_fixture(
            dir,
            "c_hook",
            ConnectionStatus::Active,
            &creds,
            server.uri(),
        )
        .await;
        let deps = WebhookHealthDeps {
            connections: Arc::new(store.clone()),
            values: Arc::new(store),
            channels,
        };
        (deps, connection)
    }

    #[tokio::test]
    async fn deleted_subscriptions_are_recreated_and_recorded() {
        let server = MockServer::start().await;
        let existing: Vec<serde_json::Value> = ["ORDERS_CREATE", "ORDERS_UPDATED", "APP_UNINSTALLED"]
            .iter()
            .chain(crate::channels::shopify::FULFILLMENT_ORDER_SUBSCRIPTIONS)
            .enumerate()
            .map(|(i, t)| json!({"id": format!("gid://shopify/WebhookSubscription/{i}"), "topic": t, "uri": "https://sync.example/webhooks/shopify"}))
            .collect();
        Mock::given(method("POST"))
            .and(body_string_contains("ChannelSyncWebhookSubscriptions"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"data": {"webhookSubscriptions": {
                "nodes": existing, "pageInfo": {"hasNextPage": false, "endCursor": null}}}})),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_string_contains("ChannelSyncCreateWebhook"))
            .and(body_string_contains("ORDERS_CANCELLED"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"webhookSubscriptionCreate": {
                "webhookSubscription": {"id": "gid://shopify/WebhookSubscription/9", "topic": "ORDERS_CANCELLED",
                    "uri": "https://sync.example/webhooks/shopify"}, "userErrors": []}}})))
            .expect(1)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let (deps, _) = deps(&server, dir.path(), true).await;
        let results = check_all(&deps).await.unwrap();
        let report = results[0].1.as_ref().unwrap().as_ref().unwrap();
        assert_eq!(report.created, vec!["ORDERS_CANCELLED"]);
        let record = deps
            .values
            .get("webhook-health-last#c_hook")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record["created"], json!(["ORDERS_CANCELLED"]));
        // A custom-app store is not ours to manage: no calls at all (the expectations above
        // count every request).
        let dir = tempfile::tempdir().unwrap();
        let (custom, connection) = deps_custom(&server, dir.path()).await;
        assert!(ensure_for(&custom, &connection).await.unwrap().is_none());
    }

    async fn deps_custom(
        server: &MockServer,
        dir: &std::path::Path,
    ) -> (WebhookHealthDeps, Connection) {
        deps(server, dir, false).await
    }

    /// WooCommerce disabled our `order.created` webhook after failed deliveries: the check
    /// switches it back on with our secret and records it; revoked keys mark the connection
    /// `needs_reauth`.
    #[tokio::test]
    async fn disabled_woocommerce_webhooks_are_reenabled_and_revoked_keys_need_reauth() {
        use wiremock::matchers::{body_json, path};
        let server = MockServer::start().await;
        let url = "https://sync.example/webhooks/woocommerce/c_woo_hook";
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/webhooks"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([
                        {"id": 5, "topic": "order.created", "status": "disabled", "delivery_url": url},
                        {"id": 6, "topic": "order.updated", "status": "active", "delivery_url": url, "secret": "wooSecret123"},
                        {"id": 7, "topic": "order.deleted", "status": "active", "delivery_url": url, "secret": "wooSecret123"}
                    ]))
                    .insert_header("X-WP-TotalPages", "1"),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path("/wp-json/wc/v3/webhooks/5"))
            .and(body_json(
                json!({"status": "active", "secret": "wooSecret123"}),
            ))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"id": 5, "status": "active"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let (deps, shopify) = deps(&server, dir.path(), false).await;
        let woo = crate::channels::testkit::woo_connection(
            &deps.channels,
            &shopify,
            "c_woo_hook",
            "shop.example",
            server.uri(),
            "wooSecret123",
        )
        .await;
        let report = ensure_for(&deps, &woo).await.unwrap().unwrap();
        assert_eq!(report.reenabled, vec!["order.created"]);
        assert_eq!(report.existing, vec!["order.updated", "order.deleted"]);
        assert!(report.created.is_empty());
        let record = deps
            .values
            .get("webhook-health-last#c_woo_hook")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record["reenabled"], json!(["order.created"]));

        // Keys revoked: 401 → the connection stops until the merchant reconnects.
        server.reset().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_json(
                json!({"code": "woocommerce_rest_authentication_error", "message": "Invalid signature"}),
            ))
            .mount(&server)
            .await;
        assert!(matches!(
            ensure_for(&deps, &woo).await,
            Err(HealthError::Open(OpenError::NeedsReauth))
        ));
        let now = deps
            .connections
            .get(&woo.tenant, &woo.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.status, ConnectionStatus::NeedsReauth);
    }
}
