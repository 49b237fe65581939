//! Wiring of the `scheduler` Lambda. EventBridge Scheduler invokes it with `{"job": …}`:
//! `reconcile` (every 10 minutes, the default), `webhook-health`, `products` or
//! `inventory-daily` (daily; the full push runs are chunked through `inventory-push`).
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `CHANNEL_EVENTS_QUEUE_URL`,
//! `SHOPIFY_APP_SECRET_ID` (the app's client id and secret, for token refresh),
//! `CHANNEL_SYNC_PUBLIC_URL` (webhook subscriptions point there), `WMS_ORDERS_QUEUE_URL`
//! (`product.imported`), `INVENTORY_PUSH_QUEUE_URL`, optionally `SHOPIFY_API_BASE`.

use shared::aws::lambda_env::{
    env, shopify_client, shopify_tokens, stores, ConfigError, ShopifyAppSecret,
};
use shared::aws::{DynamoStore, SdkConfig, SecretsVault, SqsQueue};
use shared::jobs::products::{import_all, ProductsDeps};
use shared::jobs::reconcile::{reconcile_all, ReconcileDeps};
use shared::jobs::webhook_health::{check_all, WebhookHealthDeps};
use std::sync::Arc;

/// Everything the jobs need.
pub struct SchedulerDeps {
    pub reconcile: ReconcileDeps,
    pub health: WebhookHealthDeps,
    pub products: ProductsDeps,
    /// `inventory-push`: the daily full pushes are fanned out there, chunk by chunk.
    pub push_queue: Arc<dyn shared::ports::Queue>,
}

/// Everything the jobs need, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<SchedulerDeps, ConfigError> {
    let store = Arc::new(DynamoStore::from_config(config, env("TABLE_NAME")?));
    let vault = Arc::new(SecretsVault::from_config(config, env("SECRETS_PREFIX")?));
    let app = ShopifyAppSecret::load(&vault).await?;
    let tokens = shopify_tokens(store.clone(), vault, &app, shopify_client(None)?);
    let stores = stores(tokens.clone());
    let public_url = env("CHANNEL_SYNC_PUBLIC_URL")?;
    Ok(SchedulerDeps {
        reconcile: ReconcileDeps {
            records: store.clone(),
            connections: store.clone(),
            idempotency: store.clone(),
            channel_events: Arc::new(SqsQueue::from_config(
                config,
                env("CHANNEL_EVENTS_QUEUE_URL")?,
            )),
            stores: stores.clone(),
        },
        health: WebhookHealthDeps {
            connections: store.clone(),
            idempotency: store.clone(),
            stores: stores.clone(),
            public_url: public_url.trim_end_matches('/').to_owned(),
        },
        push_queue: Arc::new(SqsQueue::from_config(
            config,
            env("INVENTORY_PUSH_QUEUE_URL")?,
        )),
        products: ProductsDeps {
            idempotency: store.clone(),
            records: store,
            wms_orders: Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
            stores,
        },
    })
}

/// One scheduled tick. A connection that fails is logged and retried by the next tick, so
/// the invocation itself fails only when the store cannot be read.
pub async fn handler(
    deps: Arc<SchedulerDeps>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let job = event
        .get("job")
        .and_then(|j| j.as_str())
        .unwrap_or("reconcile");
    match job {
        "reconcile" => {
            let results = reconcile_all(&deps.reconcile).await?;
            let failed = results.iter().filter(|(_, r)| r.is_err()).count();
            let enqueued: u32 = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .map(|r| r.enqueued)
                .sum();
            tracing::info!(
                connections = results.len(),
                failed,
                enqueued,
                "reconciliation tick"
            );
            Ok(
                serde_json::json!({"job": job, "connections": results.len(), "failed": failed, "enqueued": enqueued}),
            )
        }
        "webhook-health" => {
            let results = check_all(&deps.health).await?;
            let failed = results.iter().filter(|(_, r)| r.is_err()).count();
            let recreated: usize = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().and_then(|r| r.as_ref()))
                .map(|r| r.created.len() + r.reenabled.len())
                .sum();
            tracing::info!(
                connections = results.len(),
                failed,
                recreated,
                "webhook health check"
            );
            Ok(
                serde_json::json!({"job": job, "connections": results.len(), "failed": failed, "recreated": recreated}),
            )
        }
        "products" => {
            let results = import_all(&deps.products, &*deps.reconcile.connections).await?;
            let failed = results.iter().filter(|(_, r)| r.is_err()).count();
            let published: u32 = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .map(|r| r.published)
                .sum();
            tracing::info!(
                connections = results.len(),
                failed,
                published,
                "product import"
            );
            Ok(
                serde_json::json!({"job": job, "connections": results.len(), "failed": failed, "published": published}),
            )
        }
        "inventory-daily" => {
            let runs = shared::inventory::engine::start_daily(
                &*deps.reconcile.connections,
                &*deps.products.records,
                &*deps.push_queue,
            )
            .await?;
            tracing::info!(runs = runs.len(), "daily inventory push fanned out");
            Ok(serde_json::json!({"job": job, "runs": runs.len()}))
        }
        other => Err(format!("unknown job {other:?}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::channels::shopify::tokens::ShopifyTokens;
    use shared::channels::shopify::ShopifyClient;
    use shared::channels::stores::Stores;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};
    use shared::ports::Secret;

    fn deps(dir: &std::path::Path) -> Arc<SchedulerDeps> {
        let store = Arc::new(EmbeddedStore::open(dir).unwrap());
        let tokens = Arc::new(ShopifyTokens {
            client: ShopifyClient::new(Some("http://127.0.0.1:9".into())).unwrap(),
            client_id: "fake".into(),
            client_secret: Secret::new("shpss_fake"),
            vault: Arc::new(EmbeddedVault::open(dir).unwrap()),
            connections: store.clone(),
            locks: store.clone(),
        });
        Arc::new(SchedulerDeps {
            reconcile: ReconcileDeps {
                records: store.clone(),
                connections: store.clone(),
                idempotency: store.clone(),
                channel_events: Arc::new(store.queue("channel-events", None, 5)),
                stores: Arc::new(Stores::new(tokens.clone(), Default::default())),
            },
            health: WebhookHealthDeps {
                connections: store.clone(),
                idempotency: store.clone(),
                stores: Arc::new(Stores::new(tokens.clone(), Default::default())),
                public_url: "https://sync.example".into(),
            },
            products: ProductsDeps {
                idempotency: store.clone(),
                records: store.clone(),
                wms_orders: Arc::new(store.queue("wms-orders", None, 5)),
                stores: Arc::new(Stores::new(tokens, Default::default())),
            },
            push_queue: Arc::new(store.queue("inventory-push", None, 5)),
        })
    }

    #[tokio::test]
    async fn jobs_are_chosen_by_the_schedule_input() {
        let dir = tempfile::tempdir().unwrap();
        let deps = deps(dir.path());
        let r = handler(deps.clone(), serde_json::json!({})).await.unwrap();
        assert_eq!(r["job"], "reconcile");
        let r = handler(deps.clone(), serde_json::json!({"job": "webhook-health"}))
            .await
            .unwrap();
        assert_eq!(
            (r["job"].as_str(), r["connections"].as_u64()),
            (Some("webhook-health"), Some(0))
        );
        assert!(handler(deps, serde_json::json!({"job": "mine-bitcoin"}))
            .await
            .is_err());
    }
}

#[cfg(test)]
mod event_tests {
    /// The sample schedule inputs name jobs the handler knows.
    #[test]
    fn sample_inputs_parse() {
        for job in ["reconcile", "webhook-health", "products", "inventory-daily"] {
            let path = format!(
                "{}/../../events/scheduler-{job}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let input: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            assert_eq!(input["job"], job);
        }
    }
}
