//! Wiring of the `jobs` Lambda (issue 22): the worker of the scheduled jobs. Each message of
//! the `jobs` queue names one connection and one job (reconciliation poll, webhook health
//! check, product import, daily inventory push); the function runs it under the job's fenced
//! lease and moves the connection's due entry on (`shared::jobs::fanout`). Partial batch
//! responses: a message whose bookkeeping failed comes back alone.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `{CHANNEL}_APP_SECRET_ID` per channel app,
//! `CHANNEL_SYNC_PUBLIC_URL` (webhook subscriptions point there), `CHANNEL_EVENTS_QUEUE_URL`
//! (polled orders), `WMS_ORDERS_QUEUE_URL` (`product.imported`), `INVENTORY_PUSH_QUEUE_URL`
//! (daily full pushes), `JOBS_QUEUE_URL` (continuations), `JOBS_DLQ_URL`, optionally
//! `RECONCILE_SCHEDULE` (the poll's `rate(…)`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::aws::lambda_env::{env, env_opt, ports_and_channels, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::consumers::sqs_batch;
use shared::jobs::fanout::{handle, Cadences, JobQueues, JobsDeps};
use shared::ports::Queue;
use std::sync::Arc;

/// Everything the worker needs, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<JobsDeps, ConfigError> {
    // Webhook subscriptions point at CHANNEL_SYNC_PUBLIC_URL: it must be set here.
    env("CHANNEL_SYNC_PUBLIC_URL")?;
    let (ports, channels) = ports_and_channels(config).await?;
    let queue = |name: &'static str| -> Result<Arc<dyn Queue>, ConfigError> {
        Ok(Arc::new(SqsQueue::from_config(config, env(name)?)))
    };
    let queues = JobQueues {
        channel_events: queue("CHANNEL_EVENTS_QUEUE_URL")?,
        wms_orders: queue("WMS_ORDERS_QUEUE_URL")?,
        inventory_push: queue("INVENTORY_PUSH_QUEUE_URL")?,
        jobs: queue("JOBS_QUEUE_URL")?,
        jobs_dlq: queue("JOBS_DLQ_URL")?,
    };
    Ok(JobsDeps::on(
        &ports,
        channels,
        queues,
        Cadences::with_reconcile_schedule(env_opt("RECONCILE_SCHEDULE").as_deref()),
    ))
}

/// The SQS handler: every record concurrently, failures reported as `batchItemFailures`.
pub async fn handler(
    deps: Arc<JobsDeps>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(sqs_batch(deps, event, handle).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::channels::registry::Registry;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};

    /// GIVEN a batch with one unreadable message and one for a connection that no longer
    /// exists WHEN the handler runs THEN both are done (the first dead-lettered, the second's
    /// entry dropped) and no item is reported failed.
    #[tokio::test]
    async fn a_batch_is_answered_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let ports =
            shared::embedded::ports_of(&store, Arc::new(EmbeddedVault::open(dir.path()).unwrap()));
        let channels = Registry::on(
            &ports,
            Default::default(),
            "https://sync.example",
            Default::default(),
        )
        .unwrap();
        let dlq = store.queue("jobs-dlq", None, 5);
        let queues = JobQueues {
            channel_events: Arc::new(store.queue("channel-events", None, 5)),
            wms_orders: Arc::new(store.queue("wms-orders", None, 5)),
            inventory_push: Arc::new(store.queue("inventory-push", None, 5)),
            jobs: Arc::new(store.queue("jobs", None, 5)),
            jobs_dlq: Arc::new(dlq.clone()),
        };
        let deps = Arc::new(JobsDeps::on(&ports, channels, queues, Default::default()));
        let gone = serde_json::json!({"v": 1, "entry": {"job": "reconcile", "tenant": "dev",
            "connection": "c_gone", "at_ms": 0}});
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m1", "body": "not json"},
            {"messageId": "m2", "body": gone.to_string()},
        ]}))
        .unwrap();
        let response = handler(deps, event).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let dead = dlq
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert!(dead[0].body.contains("not json"));
    }
}
