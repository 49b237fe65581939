//! Wiring of the `scheduler` Lambda. EventBridge Scheduler invokes it with `{"job": …}`:
//! `reconcile` (every 10 minutes, the default), `webhook-health`, `products` or
//! `inventory-daily` (daily; the full push runs are chunked through `inventory-push`).
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `CHANNEL_EVENTS_QUEUE_URL`,
//! `{CHANNEL}_APP_SECRET_ID` per channel app (client id and secret, for token refresh),
//! `CHANNEL_SYNC_PUBLIC_URL` (webhook subscriptions point there), `WMS_ORDERS_QUEUE_URL`
//! (`product.imported`), `INVENTORY_PUSH_QUEUE_URL`, optionally `SHOPIFY_API_BASE`.

use shared::aws::lambda_env::{env, ports_and_channels, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::jobs::products::{import_all, ProductsDeps};
use shared::jobs::reconcile::{reconcile_all, ReconcileDeps};
use shared::jobs::webhook_health::{check_all, WebhookHealthDeps};
use shared::jobs::Job;
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
    // Webhook subscriptions point at CHANNEL_SYNC_PUBLIC_URL: it must be set here.
    env("CHANNEL_SYNC_PUBLIC_URL")?;
    let (ports, channels) = ports_and_channels(config).await?;
    Ok(scheduler_deps(
        &ports,
        channels,
        Arc::new(SqsQueue::from_config(
            config,
            env("CHANNEL_EVENTS_QUEUE_URL")?,
        )),
        Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
        Arc::new(SqsQueue::from_config(
            config,
            env("INVENTORY_PUSH_QUEUE_URL")?,
        )),
    ))
}

/// The jobs on `ports` and `channels`, with their queues.
pub fn scheduler_deps(
    ports: &shared::ports::Ports,
    channels: Arc<shared::channels::registry::Registry>,
    channel_events: Arc<dyn shared::ports::Queue>,
    wms_orders: Arc<dyn shared::ports::Queue>,
    push_queue: Arc<dyn shared::ports::Queue>,
) -> SchedulerDeps {
    SchedulerDeps {
        reconcile: ReconcileDeps {
            records: ports.records.clone(),
            connections: ports.connections.clone(),
            idempotency: ports.idempotency.clone(),
            channel_events,
            channels: channels.clone(),
        },
        health: WebhookHealthDeps {
            connections: ports.connections.clone(),
            idempotency: ports.idempotency.clone(),
            channels: channels.clone(),
        },
        products: ProductsDeps {
            idempotency: ports.idempotency.clone(),
            records: ports.records.clone(),
            wms_orders,
            channels,
        },
        push_queue,
    }
}

/// One scheduled tick. A connection that fails is logged and retried by the next tick, so
/// the invocation itself fails only when the store cannot be read.
pub async fn handler(
    deps: Arc<SchedulerDeps>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let job = Job::from_input(&event)?;
    let name = job.as_str();
    match job {
        Job::Reconcile => {
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
                serde_json::json!({"job": name, "connections": results.len(), "failed": failed, "enqueued": enqueued}),
            )
        }
        Job::WebhookHealth => {
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
                serde_json::json!({"job": name, "connections": results.len(), "failed": failed, "recreated": recreated}),
            )
        }
        Job::Products => {
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
                serde_json::json!({"job": name, "connections": results.len(), "failed": failed, "published": published}),
            )
        }
        Job::InventoryDaily => {
            let runs = shared::inventory::engine::start_daily(
                &*deps.reconcile.connections,
                &*deps.products.records,
                &*deps.push_queue,
            )
            .await?;
            tracing::info!(runs = runs.len(), "daily inventory push fanned out");
            Ok(serde_json::json!({"job": name, "runs": runs.len()}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::channels::registry::Registry;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};

    fn deps(dir: &std::path::Path) -> Arc<SchedulerDeps> {
        let store = EmbeddedStore::open(dir).unwrap();
        let ports = shared::embedded::ports_of(&store, Arc::new(EmbeddedVault::open(dir).unwrap()));
        let channels = Registry::on(
            &ports,
            Default::default(),
            "https://sync.example",
            Default::default(),
        )
        .unwrap();
        Arc::new(scheduler_deps(
            &ports,
            channels,
            Arc::new(store.queue("channel-events", None, 5)),
            Arc::new(store.queue("wms-orders", None, 5)),
            Arc::new(store.queue("inventory-push", None, 5)),
        ))
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
        for job in shared::jobs::Job::ALL {
            let path = format!(
                "{}/../../events/scheduler-{}.json",
                env!("CARGO_MANIFEST_DIR"),
                job.as_str()
            );
            let input: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            assert_eq!(shared::jobs::Job::from_input(&input), Ok(job));
        }
    }
}
