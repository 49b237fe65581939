//! Wiring of the `inventory-push` Lambda: the one pusher per connection (SQS FIFO, message
//! group = connection, batch size 1) — Live batches and full-push chunks.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `{CHANNEL}_APP_SECRET_ID` per channel app,
//! `INVENTORY_PUSH_QUEUE_URL` (continuations), `WMS_ORDERS_QUEUE_URL` (`product.imported`
//! when a first push reads the store's products), optionally `SHOPIFY_API_BASE`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::aws::lambda_env::{env, ports_and_channels, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::consumers::sqs_batch;
use shared::inventory::channel::Channels;
use shared::inventory::engine::{self, EngineSettings, PushDeps};
use shared::jobs::products::ProductsDeps;
use std::sync::Arc;

/// Everything the pusher needs, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<PushDeps, ConfigError> {
    let (ports, channels) = ports_and_channels(config).await?;
    Ok(PushDeps {
        connections: ports.connections.clone(),
        records: ports.records.clone(),
        idempotency: ports.idempotency.clone(),
        values: ports.values.clone(),
        channels: Arc::new(Channels {
            registry: channels.clone(),
            records: ports.records.clone(),
        }),
        push_queue: Arc::new(SqsQueue::from_config(
            config,
            env("INVENTORY_PUSH_QUEUE_URL")?,
        )),
        products: Some(Arc::new(ProductsDeps {
            idempotency: ports.idempotency.clone(),
            values: ports.values.clone(),
            records: ports.records.clone(),
            wms_orders: Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
            channels,
        })),
        settings: EngineSettings::default(),
    })
}

/// The SQS handler (batch size 1 in the template: one pusher per connection).
pub async fn handler(
    deps: Arc<PushDeps>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(sqs_batch(deps, event, engine::handle_push).await)
}
