//! `serve`'s job workers (issue 22, issue 15 item 17): a bounded pool on the embedded `jobs`
//! queue, each worker receiving one message at a time, so a store that hangs holds one
//! worker, never the others (a batch loop would wait for its slowest message).

use crate::failure::Disposition;
use crate::ports::Queue;
use crate::runner::run_loop_with;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How many job workers `serve` runs unless configured otherwise.
pub const DEFAULT_WORKERS: usize = 4;

/// Runs `workers` (at least one) loops on `queue`, each handling one message at a time,
/// until `stop` fires; returns when every worker has stopped.
pub async fn run_pool<D, F, Fut>(
    queue: Arc<dyn Queue>,
    deps: Arc<D>,
    handle: F,
    wake: Arc<tokio::sync::Notify>,
    visibility: Duration,
    workers: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, String) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Disposition> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        tasks.spawn(run_loop_with(
            queue.clone(),
            deps.clone(),
            handle,
            wake.clone(),
            visibility,
            1,
            stop.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}
