//! How a queue message is run, whatever consumes it: the Lambda SQS handler (partial batch
//! responses) and the in-process loops of `channel-sync serve`. Below the consumers and the
//! engine, which both hand it a per-message function returning a [`Disposition`].

pub use crate::failure::{dead_letter, Disposition};
use crate::ports::{PortResult, Queue};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs `handle` on every record of an SQS batch concurrently and reports the failures as
/// `batchItemFailures`, so one bad message never sends the whole batch back.
pub async fn sqs_batch<D, F, Fut>(deps: Arc<D>, event: SqsEvent, handle: F) -> SqsBatchResponse
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, String) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Disposition> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    let mut ids = std::collections::HashMap::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let deps = deps.clone();
        let body = record.body.unwrap_or_default();
        let task = tasks.spawn(async move { handle(deps, body).await });
        ids.insert(task.id(), id);
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (task, reason) = match joined {
            Ok((_, Disposition::Done(_))) => continue,
            Ok((task, Disposition::Retry(reason))) => (task, reason),
            // A handler bug, not bad input: the message is retried like any failure.
            Err(e) => (e.id(), format!("handler failed: {e}")),
        };
        let id = ids.remove(&task).unwrap_or_default();
        tracing::warn!(message_id = %id, reason = %reason, "message will be retried");
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        failures.push(failure);
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// The in-process consumer loop of `serve`: receive, handle, ack; stop when `stop` fires.
pub async fn run_loop<D, F, Fut>(
    queue: Arc<dyn Queue>,
    deps: Arc<D>,
    handle: F,
    wake: Arc<tokio::sync::Notify>,
    visibility: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, String) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Disposition> + Send + 'static,
{
    run_loop_with(queue, deps, handle, wake, visibility, 10, stop).await
}

/// [`run_loop`] receiving at most `batch` messages at a time (1: strictly one after another).
pub async fn run_loop_with<D, F, Fut>(
    queue: Arc<dyn Queue>,
    deps: Arc<D>,
    handle: F,
    wake: Arc<tokio::sync::Notify>,
    visibility: Duration,
    batch: u32,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, String) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Disposition> + Send + 'static,
{
    loop {
        if *stop.borrow() {
            return;
        }
        match drain_batch(&*queue, deps.clone(), handle, visibility, batch).await {
            Ok(0) => {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "consumer could not read its queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Receives one batch, handles it concurrently, acks what is done. Returns how many messages
/// were received.
pub async fn drain_once<D, F, Fut>(
    queue: &dyn Queue,
    deps: Arc<D>,
    handle: F,
    visibility: Duration,
) -> PortResult<usize>
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, String) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Disposition> + Send + 'static,
{
    drain_batch(queue, deps, handle, visibility, 10).await
}

/// [`drain_once`] with at most `max` messages.
pub async fn drain_batch<D, F, Fut>(
    queue: &dyn Queue,
    deps: Arc<D>,
    handle: F,
    visibility: Duration,
    max: u32,
) -> PortResult<usize>
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, String) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Disposition> + Send + 'static,
{
    let batch = queue.receive(max, visibility).await?;
    let received = batch.len();
    let mut tasks = tokio::task::JoinSet::new();
    for message in batch {
        let deps = deps.clone();
        tasks.spawn(async move { (message.receipt, handle(deps, message.body).await) });
    }
    // Acked together once the batch is handled (one statement embedded, one
    // `DeleteMessageBatch` per ten on SQS); a crash before it redelivers the batch, which
    // every handler tolerates.
    let mut done = Vec::with_capacity(received);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((receipt, Disposition::Done(_))) => done.push(receipt),
            Ok((_, Disposition::Retry(reason))) => {
                tracing::warn!(reason = %reason, "message will be retried")
            }
            Err(e) => tracing::error!(error = %e, "message task failed"),
        }
    }
    queue.ack_many(&done).await?;
    Ok(received)
}
