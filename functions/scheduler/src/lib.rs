//! Wiring of the `scheduler` Lambda. EventBridge Scheduler invokes it with `{"job": …}`:
//! `reconcile` (every 10 minutes, the default), `webhook-health`, `products` or
//! `inventory-daily` (every 15 minutes; each connection's daily run is due once a day at its
//! place in the job's window). A tick only enqueues: one `jobs` message per connection whose
//! job is due, read from the due index (never a scan of every connection, except the daily
//! sweep that enrolls connections the index does not know yet); the `jobs` function runs them.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `JOBS_QUEUE_URL`, optionally
//! `RECONCILE_SCHEDULE` (the poll's `rate(…)`, default 10 minutes).

use shared::aws::lambda_env::{env, env_opt, registry, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::jobs::fanout::{tick, Cadences, TickDeps};
use shared::jobs::Job;
use std::sync::Arc;

/// Everything a tick needs, from the environment. No channel app secrets: a tick never calls
/// a channel (the registry only tells which channels take part in which job).
pub async fn deps_from_env(config: &SdkConfig) -> Result<TickDeps, ConfigError> {
    let ports = shared::aws::ports(config)?;
    let channels = registry(&ports, Default::default())?;
    Ok(TickDeps::on(
        &ports,
        channels,
        Arc::new(SqsQueue::from_config(config, env("JOBS_QUEUE_URL")?)),
        Cadences::with_reconcile_schedule(env_opt("RECONCILE_SCHEDULE").as_deref()),
    ))
}

/// One scheduled tick: the job's due connections enqueued on `jobs`. Fails only when the
/// index cannot be read or the queue cannot be written (EventBridge retries as configured).
pub async fn handler(
    deps: Arc<TickDeps>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let job = Job::from_input(&event)?;
    let report = tick(&deps, job, chrono_now_ms()).await?;
    tracing::info!(
        job = job.as_str(),
        enqueued = report.enqueued,
        enrolled = ?report.enrolled,
        "tick"
    );
    Ok(serde_json::json!({
        "job": job.as_str(),
        "enqueued": report.enqueued,
        "enrolled": report.enrolled,
    }))
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::channels::registry::Registry;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};
    use shared::ports::Queue;

    /// GIVEN a connection the index does not know WHEN each schedule input ticks THEN the
    /// job is chosen by the input, the reconcile tick enrolls and enqueues the connection
    /// (and only enqueues), and an unknown job is refused.
    #[tokio::test]
    async fn ticks_enqueue_due_connections_by_the_schedule_input() {
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
        let c = shared::domain::Connection::fixture(
            "c_tick",
            shared::domain::Channel::Shopify,
            "tick.myshopify.com",
        );
        ports.connections.create(&c).await.unwrap();
        let jobs = store.queue("jobs", None, 5);
        let deps = Arc::new(TickDeps::on(
            &ports,
            channels,
            Arc::new(jobs.clone()),
            Cadences::default(),
        ));
        let r = handler(deps.clone(), serde_json::json!({})).await.unwrap();
        assert_eq!(
            (
                r["job"].as_str(),
                r["enqueued"].as_u64(),
                r["enrolled"].as_u64()
            ),
            (Some("reconcile"), Some(1), Some(1))
        );
        let sent = jobs
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(sent.len(), 1);
        let message: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
        assert_eq!(message["entry"]["connection"], "c_tick");
        assert_eq!(message["entry"]["job"], "reconcile");
        let r = handler(deps.clone(), serde_json::json!({"job": "webhook-health"}))
            .await
            .unwrap();
        assert_eq!(r["job"], "webhook-health");
        assert!(handler(deps, serde_json::json!({"job": "mine-bitcoin"}))
            .await
            .is_err());
    }

    #[test]
    fn the_poll_interval_follows_a_rate_schedule() {
        // Only this test touches the variable.
        std::env::set_var("RECONCILE_SCHEDULE", "rate(5 minutes)");
        let every = Cadences::with_reconcile_schedule(env_opt("RECONCILE_SCHEDULE").as_deref())
            .reconcile
            .every;
        std::env::set_var("RECONCILE_SCHEDULE", "cron(0 3 * * ? *)");
        let fallback = Cadences::with_reconcile_schedule(env_opt("RECONCILE_SCHEDULE").as_deref())
            .reconcile
            .every;
        std::env::remove_var("RECONCILE_SCHEDULE");
        assert_eq!(every, std::time::Duration::from_secs(300));
        assert_eq!(fallback, std::time::Duration::from_secs(600));
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
