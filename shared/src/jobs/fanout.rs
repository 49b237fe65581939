//! The fan-out of the scheduled jobs (issue 22): a tick only enqueues, a worker runs one
//! connection's job.
//!
//! - **Tick** ([`tick`], the `scheduler` function and `serve`'s timers): reads the entries of
//!   the job's due index that are due ([`crate::schedule`]), and sends one [`JobMessage`] per
//!   entry to the `jobs` queue, ten per `SendMessageBatch`. Once a day it also sweeps for
//!   connections the index does not know. It never calls a channel.
//! - **Worker** ([`handle`], the `jobs` function and `serve`'s bounded pool): one message, one
//!   connection, one job, under the fenced lease `job-lock#{job}#{connection}`. An entry that
//!   was already run (a tick enqueued it twice) is dropped unrun; otherwise the job runs and
//!   the entry moves to its next due time ([`crate::schedule::reschedule`]) whatever the run's
//!   outcome (a failed run is retried at its next slot, as before). A connection that is not
//!   active (disconnected, needs re-authorization) is parked out of the index instead: the
//!   tick stops enqueuing it until a reconnect enrolls it again. A reconciliation that
//!   stops at its page budget keeps its cursor (the backlog walk in `watermark#`) and sends
//!   itself again as a continuation, so no run outlives its invocation; so does a product
//!   import walk of a large catalogue (its cursor and staged pages in `products-walk#`).
//! - Channel rate limits stay with each connection's client: runs of different connections
//!   share nothing but the queue.

use super::products::{import_products_pages, ProductsDeps};
use super::reconcile::{reconcile_connection_pages, ReconcileDeps};
use super::webhook_health::{ensure_for, WebhookHealthDeps};
use super::Job;
use crate::channels::registry::Registry;
use crate::domain::{Connection, ConnectionStatus, SyncMode};
use crate::failure::{dead_letter, Disposition};
use crate::inventory::engine::{start_full, wake_stale_live};
use crate::inventory::runs::{self, RunKind};
use crate::keys;
use crate::ports::{
    Claim, Connections, Idempotency, KeyValue, OutMessage, PortError, Queue, Records,
};
use crate::schedule::{self, Cadence, DueEntry};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Version of [`JobMessage`].
pub const JOB_MESSAGE_VERSION: u32 = 1;
/// A tick enqueues entries due up to this far ahead (a schedule fires a little early or late).
pub const HORIZON: Duration = Duration::from_secs(60);
/// The most entries one tick enqueues (the rest stay due for the next tick).
pub const MAX_PER_TICK: usize = 200_000;
/// Reconciliation pages one message reads before it continues in a new message: at 1–3 s a
/// page, well inside the worker's 15-minute invocation.
pub const RECONCILE_PAGES_PER_MESSAGE: u32 = 150;
/// Continuations of one due entry before the run waits for its next slot (the backlog cursor
/// is kept either way).
pub const MAX_PARTS: u32 = 20;
/// The worker's lease on `job-lock#{job}#{connection}`: longer than the `jobs` function's
/// 15-minute timeout, so a lease cannot run out while its invocation is alive.
pub const JOB_LEASE: Duration = Duration::from_secs(16 * 60);

/// One job for one connection, on the `jobs` queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub v: u32,
    /// The due entry the message runs (job, tenant, connection, due time).
    pub entry: DueEntry,
    /// 0 for a tick's message; n for the n-th continuation of a run that hit its page budget.
    #[serde(default)]
    pub part: u32,
}

impl JobMessage {
    fn out(&self) -> Result<OutMessage, PortError> {
        Ok(OutMessage {
            body: serde_json::to_string(self).map_err(|e| PortError::Corrupt(e.to_string()))?,
            tenant: Some(self.entry.tenant.clone()),
            ..OutMessage::default()
        })
    }
}

/// How often each job runs per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadences {
    pub reconcile: Cadence,
    pub webhook_health: Cadence,
    pub products: Cadence,
    pub inventory_daily: Cadence,
}

impl Default for Cadences {
    fn default() -> Self {
        Self {
            reconcile: Job::Reconcile.default_cadence(),
            webhook_health: Job::WebhookHealth.default_cadence(),
            products: Job::Products.default_cadence(),
            inventory_daily: Job::InventoryDaily.default_cadence(),
        }
    }
}

impl Cadences {
    pub fn of(&self, job: Job) -> Cadence {
        match job {
            Job::Reconcile => self.reconcile,
            Job::WebhookHealth => self.webhook_health,
            Job::Products => self.products,
            Job::InventoryDaily => self.inventory_daily,
        }
    }
}

/// The interval of an EventBridge `rate(…)` expression (`rate(5 minutes)`), if it is one.
pub fn every_from_rate(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    n.checked_mul(secs).map(Duration::from_secs)
}

/// Whether a connection of this channel takes part in `job` at all (a channel without an
/// orders poll is never reconciled). Status is not asked here: the worker parks an inactive
/// connection's entry ([`schedule::park_inactive`]) and a reconnect enrolls it again
/// ([`schedule::reactivate`]).
pub fn eligible(channels: &Registry, job: Job, connection: &Connection) -> bool {
    match job {
        Job::Reconcile => channels
            .capabilities(connection.channel)
            .is_some_and(|c| c.poll),
        _ => channels.adapter(connection.channel).is_some(),
    }
}

/// What a tick needs.
pub struct TickDeps {
    pub connections: Arc<dyn Connections>,
    pub records: Arc<dyn Records>,
    pub idempotency: Arc<dyn Idempotency>,
    /// Each connection's last run per job.
    pub values: Arc<dyn KeyValue>,
    pub channels: Arc<Registry>,
    /// The `jobs` queue.
    pub jobs: Arc<dyn Queue>,
    pub cadences: Cadences,
}

impl Cadences {
    /// The default cadences, with the poll's interval from the reconcile schedule when it is
    /// a `rate(…)` (`RECONCILE_SCHEDULE`, which the `scheduler` and `jobs` functions share).
    pub fn with_reconcile_schedule(schedule: Option<&str>) -> Self {
        let mut cadences = Self::default();
        if let Some(every) = schedule.and_then(every_from_rate) {
            cadences.reconcile.every = every;
        }
        cadences
    }
}

impl TickDeps {
    /// A tick on `ports` and `channels`, enqueueing on `jobs`: the one place the scheduler's
    /// dependencies are assembled (the `scheduler` Lambda, `serve`, the tests).
    pub fn on(
        ports: &crate::ports::Ports,
        channels: Arc<Registry>,
        jobs: Arc<dyn Queue>,
        cadences: Cadences,
    ) -> Self {
        Self {
            connections: ports.connections.clone(),
            records: ports.records.clone(),
            idempotency: ports.idempotency.clone(),
            values: ports.values.clone(),
            channels,
            jobs,
            cadences,
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickReport {
    pub job: Job,
    /// Connections the daily sweep enrolled (`None`: the sweep was not due).
    pub enrolled: Option<usize>,
    /// Messages sent, one per due connection.
    pub enqueued: usize,
}

/// One tick of `job` at `now_ms`: the sweep when due, then one message per due entry.
pub async fn tick(deps: &TickDeps, job: Job, now_ms: i64) -> Result<TickReport, PortError> {
    let channels = deps.channels.clone();
    let enrolled = schedule::sweep(
        &*deps.connections,
        schedule::SweepStores {
            records: deps.records.clone(),
            idempotency: deps.idempotency.clone(),
            values: deps.values.clone(),
        },
        job,
        deps.cadences.of(job),
        now_ms,
        move |c| eligible(&channels, job, c),
    )
    .await?;
    let horizon = now_ms.saturating_add(HORIZON.as_millis() as i64);
    let due = schedule::due(&*deps.records, job, horizon, MAX_PER_TICK).await?;
    let messages = due
        .into_iter()
        .map(|entry| {
            JobMessage {
                v: JOB_MESSAGE_VERSION,
                entry,
                part: 0,
            }
            .out()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let enqueued = messages.len();
    deps.jobs.send_many(messages).await?;
    Ok(TickReport {
        job,
        enrolled,
        enqueued,
    })
}

/// What the worker needs.
pub struct JobsDeps {
    pub reconcile: ReconcileDeps,
    pub health: WebhookHealthDeps,
    pub products: ProductsDeps,
    /// `inventory-push`: a connection's daily full push is started there.
    pub push_queue: Arc<dyn Queue>,
    /// The `jobs` queue (continuations).
    pub jobs: Arc<dyn Queue>,
    /// The `jobs` DLQ: unreadable messages go there at once.
    pub dead_letter: Arc<dyn Queue>,
    pub cadences: Cadences,
    /// Reconciliation pages per message.
    pub reconcile_pages: u32,
    /// Product import pages per message.
    pub products_pages: u32,
}

/// The queues the jobs worker writes to.
pub struct JobQueues {
    pub channel_events: Arc<dyn Queue>,
    pub wms_orders: Arc<dyn Queue>,
    pub inventory_push: Arc<dyn Queue>,
    pub jobs: Arc<dyn Queue>,
    pub jobs_dlq: Arc<dyn Queue>,
}

impl JobsDeps {
    /// The worker on `ports` and `channels`, with its queues: the one place its dependencies
    /// are assembled (the `jobs` Lambda, `serve`, the tests).
    pub fn on(
        ports: &crate::ports::Ports,
        channels: Arc<Registry>,
        queues: JobQueues,
        cadences: Cadences,
    ) -> Self {
        Self {
            reconcile: ReconcileDeps {
                records: ports.records.clone(),
                connections: ports.connections.clone(),
                idempotency: ports.idempotency.clone(),
                values: ports.values.clone(),
                channel_events: queues.channel_events,
                channels: channels.clone(),
            },
            health: WebhookHealthDeps {
                connections: ports.connections.clone(),
                values: ports.values.clone(),
                channels: channels.clone(),
            },
            products: ProductsDeps {
                idempotency: ports.idempotency.clone(),
                values: ports.values.clone(),
                records: ports.records.clone(),
                wms_orders: queues.wms_orders,
                channels,
            },
            push_queue: queues.inventory_push,
            jobs: queues.jobs,
            dead_letter: queues.jobs_dlq,
            cadences,
            reconcile_pages: RECONCILE_PAGES_PER_MESSAGE,
            products_pages: super::products::PAGES_PER_MESSAGE,
        }
    }
}

/// Runs one job message. Unreadable messages are dead-lettered; a message whose bookkeeping
/// could not be read or written is retried (SQS redelivers it); everything else is done.
pub async fn handle(deps: Arc<JobsDeps>, body: String) -> Disposition {
    let message: JobMessage = match serde_json::from_str(&body) {
        Ok(m) => m,
        Err(e) => {
            return dead_letter(
                &*deps.dead_letter,
                "jobs",
                &body,
                format!("unreadable job message: {e}"),
            )
            .await
        }
    };
    let entry = &message.entry;
    match run(&deps, &message).await {
        Ok(outcome) => {
            tracing::info!(job = entry.job.as_str(), connection = %entry.connection, part = message.part, outcome = %outcome, "job run");
            Disposition::Done(outcome)
        }
        Err(e) => Disposition::Retry(format!("job bookkeeping: {e}")),
    }
}

/// Runs the message under the connection's job lease; the lease is released whatever happens.
async fn run(deps: &JobsDeps, message: &JobMessage) -> Result<String, PortError> {
    let entry = &message.entry;
    let idempotency = &*deps.reconcile.idempotency;
    let lock = keys::due::lock(entry.job.as_str(), &entry.connection);
    let Claim::Acquired(fence) = idempotency.claim(&lock, JOB_LEASE).await? else {
        // The holder moves the entry when it is done; this copy has nothing left to do.
        return Ok("skipped: another run of this job holds the connection".into());
    };
    let result = run_held(deps, message).await;
    if let Err(e) = idempotency.release(&lock, &fence).await {
        tracing::warn!(error = %e, lock, "could not release the job's lease; it expires");
    }
    result
}

async fn run_held(deps: &JobsDeps, message: &JobMessage) -> Result<String, PortError> {
    let entry = &message.entry;
    let (records, values) = (&*deps.reconcile.records, &*deps.reconcile.values);
    if schedule::is_obsolete(values, entry).await? {
        schedule::drop_entry(records, entry).await?;
        return Ok("skipped: already run for this due time".into());
    }
    let Some(connection) = deps
        .reconcile
        .connections
        .get(&entry.tenant, &entry.connection)
        .await?
    else {
        schedule::drop_entry(records, entry).await?;
        return Ok("dropped: the connection no longer exists".into());
    };
    let now = || chrono::Utc::now().timestamp_millis();
    if connection.status != ConnectionStatus::Active {
        // Disconnected or needing re-authorization: no job can run, so the entry leaves the
        // index instead of being enqueued every tick; a reconnect enrolls it again.
        let why = format!(
            "parked: the connection is {}",
            status_name(connection.status)
        );
        schedule::park_inactive(records, values, entry, now(), &why).await?;
        return Ok(why);
    }
    if !eligible(&deps.reconcile.channels, entry.job, &connection) {
        let why = format!(
            "parked: {} does not take part in this job",
            connection.channel
        );
        schedule::park(records, values, entry, now(), &why).await?;
        return Ok(why);
    }
    let outcome = match entry.job {
        Job::Reconcile => {
            let pages = deps.reconcile_pages.max(1);
            match reconcile_connection_pages(&deps.reconcile, &connection, pages).await {
                Ok(run) if run.outcome.starts_with("partial") && message.part < MAX_PARTS => {
                    return continue_in_next_message(deps, message, run.pages).await;
                }
                Ok(run) => {
                    wake_stale_pushes(deps, &connection).await;
                    run.outcome
                }
                Err(e) => failed(entry, &e),
            }
        }
        Job::WebhookHealth => match ensure_for(&deps.health, &connection).await {
            Ok(Some(report)) => format!(
                "completed: {} created, {} re-enabled",
                report.created.len(),
                report.reenabled.len()
            ),
            Ok(None) => "skipped: subscriptions not managed here".into(),
            Err(e) => failed(entry, &e),
        },
        Job::Products => {
            let pages = deps.products_pages.max(1);
            match import_products_pages(&deps.products, &connection, pages).await {
                Ok(run) if run.more && message.part < MAX_PARTS => {
                    return continue_in_next_message(deps, message, run.pages).await;
                }
                Ok(run) => run.outcome,
                Err(e) => failed(entry, &e),
            }
        }
        Job::InventoryDaily => daily_push(deps, &connection).await?,
    };
    schedule::reschedule(
        records,
        values,
        entry,
        deps.cadences.of(entry.job),
        now(),
        &outcome,
    )
    .await?;
    Ok(outcome)
}

/// Sends the next part of a run that stopped at its page budget (its cursor is kept). The
/// entry stays: the continuation (or, if it is lost, the next tick) runs it.
async fn continue_in_next_message(
    deps: &JobsDeps,
    message: &JobMessage,
    pages: u32,
) -> Result<String, PortError> {
    let next = JobMessage {
        part: message.part + 1,
        ..message.clone()
    };
    deps.jobs.send(next.out()?).await?;
    Ok(format!(
        "partial after {pages} page(s): continued in part {}",
        next.part
    ))
}

fn status_name(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Active => "active",
        ConnectionStatus::NeedsReauth => "needs_reauth",
        ConnectionStatus::Disconnected => "disconnected",
    }
}

fn failed(entry: &DueEntry, e: &super::JobError) -> String {
    tracing::warn!(job = entry.job.as_str(), connection = %entry.connection, error = %e, "job failed; retried at its next slot");
    format!("failed: {e}")
}

/// With the poll, a Live connection's old dirty marks (a push that failed through all its
/// retries, a SKU held for the settle period) get their pusher woken: a quantity the channel
/// still shows wrongly waits at most a poll interval, not until the daily push. Never fails
/// the poll; a failure is logged and the next poll tries again.
async fn wake_stale_pushes(deps: &JobsDeps, connection: &Connection) {
    let records = &*deps.reconcile.records;
    match wake_stale_live(records, &*deps.push_queue, connection, chrono::Utc::now()).await {
        Ok(true) => tracing::info!(connection = %connection.id, "old dirty marks: Live push woken"),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(connection = %connection.id, error = %e, "could not check the dirty marks")
        }
    }
}

/// One connection's share of the daily push (what `engine::start_daily` does per connection):
/// its run history pruned, and a full push started when its inventory sync is on and no full
/// push is running.
async fn daily_push(deps: &JobsDeps, connection: &Connection) -> Result<String, PortError> {
    let records = &*deps.reconcile.records;
    let pruned = runs::prune(records, &connection.id, runs::KEEP_RUNS).await?;
    if pruned > 0 {
        tracing::info!(connection = %connection.id, pruned, "old runs pruned");
    }
    if connection.status != ConnectionStatus::Active
        || connection.settings.inventory_sync == SyncMode::Disabled
    {
        return Ok("skipped: inventory sync is off for this connection".into());
    }
    let full = [RunKind::Daily, RunKind::SyncNow, RunKind::Enabled];
    if runs::active(records, &connection.id, &full)
        .await?
        .is_some()
    {
        return Ok("skipped: a full push is already running".into());
    }
    let run = start_full(
        records,
        &*deps.push_queue,
        connection,
        RunKind::Daily,
        false,
    )
    .await?;
    Ok(format!("completed: full push {} started", run.id))
}

#[cfg(all(test, feature = "embedded"))]
#[path = "fanout_tests.rs"]
mod tests;

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn rate_expressions_give_the_interval() {
        assert_eq!(
            every_from_rate("rate(10 minutes)"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            every_from_rate("rate(1 hour)"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(every_from_rate("rate(0 minutes)"), None);
        assert_eq!(every_from_rate("cron(0 3 * * ? *)"), None);
        assert_eq!(every_from_rate("rate(5 fortnights)"), None);
    }
}
