//! `serve`'s scheduled jobs in the Lambdas' shape (issue 22, issue 15 item 17): timers tick
//! (enqueue the connections whose job is due on the embedded `jobs` queue, never run them)
//! and a bounded pool of workers runs them, one message each, so one slow or hanging store
//! holds one worker and the others keep going.

use crate::Config;
use shared::channels::registry::Registry;
use shared::embedded::EmbeddedStore;
use shared::jobs::fanout::{self, handle, tick, Cadences, JobsDeps, TickDeps};
use shared::jobs::Job;
use shared::ports::{Ports, Queue};
use std::sync::Arc;
use std::time::Duration;

/// The embedded queues of the jobs.
pub const JOBS: &str = "jobs";
pub const JOBS_DLQ: &str = "jobs-dlq";

/// How often the daily jobs tick (each connection's run is due once a day in its window).
const DAILY_TICK: Duration = Duration::from_secs(15 * 60);

/// The ticks and the worker pool's dependencies.
pub struct Jobs {
    pub tick: Arc<TickDeps>,
    pub worker: Arc<JobsDeps>,
    /// `CHANNEL_SYNC_JOB_WORKERS`.
    pub workers: usize,
    /// Between two reconciliation ticks (`None`: the poll is off).
    pub reconcile_every: Option<Duration>,
}

/// The cadences of `config`: the poll every `CHANNEL_SYNC_RECONCILE_SECS`, the daily push's
/// window starting at `CHANNEL_SYNC_DAILY_PUSH_AT`.
pub fn cadences(config: &Config) -> Cadences {
    let mut cadences = Cadences::default();
    if let Some(every) = config.reconcile_every {
        cadences.reconcile.every = every;
    }
    let (h, m) = config.daily_push_at;
    if let Some((_, length)) = cadences.inventory_daily.window {
        cadences.inventory_daily.window = Some((h * 60 + m, length));
    }
    cadences
}

/// The jobs on the embedded store.
pub fn build(
    config: &Config,
    ports: &Ports,
    store: &EmbeddedStore,
    channels: Arc<Registry>,
    channel_events: Arc<dyn Queue>,
    wms_orders: Arc<dyn Queue>,
    push_queue: Arc<dyn Queue>,
) -> Jobs {
    let jobs: Arc<dyn Queue> = Arc::new(store.queue(JOBS, Some(JOBS_DLQ), 5));
    let cadences = cadences(config);
    let queues = fanout::JobQueues {
        channel_events,
        wms_orders,
        inventory_push: push_queue,
        jobs: jobs.clone(),
        jobs_dlq: Arc::new(store.queue(JOBS_DLQ, None, 5)),
    };
    let worker = Arc::new(JobsDeps::on(ports, channels.clone(), queues, cadences));
    let tick = Arc::new(TickDeps::on(ports, channels, jobs, cadences));
    Jobs {
        tick,
        worker,
        workers: config.job_workers,
        reconcile_every: config.reconcile_every,
    }
}

/// Starts the ticks and the worker pool; every task ends when `stop` fires.
pub fn spawn(
    jobs: &Jobs,
    store: &EmbeddedStore,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let queue = store.queue(JOBS, Some(JOBS_DLQ), 5);
    let mut tasks = vec![tokio::spawn(shared::jobs::pool::run_pool(
        Arc::new(queue.clone()) as Arc<dyn Queue>,
        jobs.worker.clone(),
        handle,
        queue.notified(),
        fanout::JOB_LEASE,
        jobs.workers,
        stop.clone(),
    ))];
    if let Some(every) = jobs.reconcile_every {
        tasks.push(tokio::spawn(ticker(
            jobs.tick.clone(),
            Job::Reconcile,
            every,
            stop.clone(),
        )));
    }
    for job in [Job::WebhookHealth, Job::Products, Job::InventoryDaily] {
        tasks.push(tokio::spawn(ticker(
            jobs.tick.clone(),
            job,
            DAILY_TICK,
            stop.clone(),
        )));
    }
    tasks
}

/// Ticks `job` every `every` (first after one period).
async fn ticker(
    deps: Arc<TickDeps>,
    job: Job,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match tick(&deps, job, chrono::Utc::now().timestamp_millis()).await {
            Ok(report) if report.enqueued > 0 || report.enrolled.is_some_and(|n| n > 0) => {
                tracing::info!(job = job.as_str(), enqueued = report.enqueued, enrolled = ?report.enrolled, "tick")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(job = job.as_str(), error = %e, "tick failed"),
        }
    }
}
