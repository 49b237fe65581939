//! Wiring of the `stock-events` Lambda: WMS `stock.changed` / `product.upserted` → the stock
//! snapshot, bundle definitions and reservations; Live connections are woken through
//! `inventory-push`.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `INVENTORY_PUSH_QUEUE_URL`,
//! `STOCK_EVENTS_DLQ_URL`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::aws::lambda_env::{env, live_trigger, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::consumers::sqs_batch;
use shared::inventory::engine::{self, StockDeps};
use std::sync::Arc;

/// Everything the consumer needs, from the environment.
pub fn deps_from_env(config: &SdkConfig) -> Result<StockDeps, ConfigError> {
    let ports = shared::aws::ports(config)?;
    Ok(StockDeps {
        records: ports.records.clone(),
        live: live_trigger(config, &ports)?,
        dead_letter: Arc::new(SqsQueue::from_config(config, env("STOCK_EVENTS_DLQ_URL")?)),
    })
}

/// The SQS handler: every record on its own, failures reported per item.
pub async fn handler(
    deps: Arc<StockDeps>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(sqs_batch(deps, event, engine::handle_stock).await)
}
