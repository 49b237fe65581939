//! Scheduled jobs: run by the `scheduler` function on an EventBridge schedule and by timers
//! in `channel-sync serve`. Every job runs per connection on the same skeleton: a lease so one
//! run at a time holds the connection ([`under_lease`]), the work through the channel
//! registry, a channel that refuses the credentials marking the connection `needs_reauth`, and
//! the run recorded as the connection's last and, for a while, in its history
//! ([`record_run`]).

pub mod fanout;
pub mod pool;
pub mod products;
pub mod reconcile;
pub mod webhook_health;

use crate::channels::registry::Registry;
use crate::channels::{ClientError, OpenError};
use crate::domain::Connection;
use crate::failure::{Classify, Failure};
use crate::ports::{Claim, Idempotency, KeyValue, PortError};
use std::future::Future;
use std::time::Duration;

pub use crate::schedule::Job;

/// How long a run's record is kept in the history.
pub const RUN_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a job's run for one connection did not complete (every job).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("store: {0}")]
    Store(#[from] PortError),
    #[error("channel: {0}")]
    Channel(#[from] ClientError),
    #[error("{0}")]
    Open(#[from] OpenError),
}

impl Classify for JobError {
    fn classify(&self) -> Failure {
        match self {
            JobError::Store(e) => e.classify(),
            JobError::Channel(e) => e.classify(),
            JobError::Open(e) => e.classify(),
        }
    }
}

/// Runs `work` while holding the connection's lease `lock`: `Ok(None)` when another run holds
/// it. A channel that refuses the credentials mid-run marks the connection `needs_reauth`
/// (its jobs stop until the merchant reconnects). The lease is released whatever happens.
pub(crate) async fn under_lease<T, Fut>(
    locks: &dyn Idempotency,
    channels: &Registry,
    connection: &Connection,
    lock: &str,
    lease: Duration,
    work: Fut,
) -> Result<Option<T>, JobError>
where
    Fut: Future<Output = Result<T, JobError>>,
{
    let Claim::Acquired(fence) = locks.claim(lock, lease).await? else {
        return Ok(None);
    };
    let mut result = work.await;
    if let Err(JobError::Channel(ClientError::Unauthorized)) = &result {
        result = Err(channels.mark_needs_reauth(connection).await.into());
    }
    if let Err(e) = locks.release(lock, &fence).await {
        tracing::warn!(error = %e, lock, "could not release the job's lease; it expires");
    }
    result.map(Some)
}

/// Records a finished run as the connection's last (`last_key`, kept) and under `run_key`
/// (kept [`RUN_RETENTION`]).
pub(crate) async fn record_run(
    values: &dyn KeyValue,
    run_key: &str,
    last_key: &str,
    run: &impl serde::Serialize,
) -> Result<(), PortError> {
    let record = serde_json::to_value(run).map_err(|e| PortError::Corrupt(e.to_string()))?;
    values.put(run_key, &record, Some(RUN_RETENTION)).await?;
    values.put(last_key, &record, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_parsed_from_the_schedule_input() {
        assert_eq!(Job::from_input(&serde_json::json!({})), Ok(Job::Reconcile));
        for job in Job::ALL {
            let input = serde_json::json!({ "job": job.as_str() });
            assert_eq!(Job::from_input(&input), Ok(job));
        }
        let err = Job::from_input(&serde_json::json!({"job": "mine-bitcoin"})).unwrap_err();
        assert!(err.contains("inventory-daily"), "{err}");
        assert!(Job::from_input(&serde_json::json!({"job": 7})).is_err());
    }
}
