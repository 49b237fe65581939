//! Wiring of the `inventory-push` Lambda: the one pusher per connection (SQS FIFO, message
//! group = connection, batch size 1) — Live batches and full-push chunks.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `SHOPIFY_APP_SECRET_ID`,
//! `INVENTORY_PUSH_QUEUE_URL` (continuations), `WMS_ORDERS_QUEUE_URL` (`product.imported`
//! when a first push reads the store's products), optionally `SHOPIFY_API_BASE`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::aws::lambda_env::{
    env, shopify_client, shopify_tokens, stores, ConfigError, ShopifyAppSecret,
};
use shared::aws::{DynamoStore, SdkConfig, SecretsVault, SqsQueue};
use shared::consumers::sqs_batch;
use shared::inventory::channel::Channels;
use shared::inventory::engine::{self, EngineSettings, PushDeps};
use shared::jobs::products::ProductsDeps;
use std::sync::Arc;

/// Everything the pusher needs, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<PushDeps, ConfigError> {
    let store = Arc::new(DynamoStore::from_config(config, env("TABLE_NAME")?));
    let vault = Arc::new(SecretsVault::from_config(config, env("SECRETS_PREFIX")?));
    let app = ShopifyAppSecret::load(&vault).await?;
    let stores = stores(shopify_tokens(
        store.clone(),
        vault,
        &app,
        shopify_client(None)?,
    ));
    Ok(PushDeps {
        connections: store.clone(),
        records: store.clone(),
        idempotency: store.clone(),
        channels: Arc::new(Channels {
            stores: stores.clone(),
            records: store.clone(),
        }),
        push_queue: Arc::new(SqsQueue::from_config(
            config,
            env("INVENTORY_PUSH_QUEUE_URL")?,
        )),
        products: Some(Arc::new(ProductsDeps {
            idempotency: store.clone(),
            records: store,
            wms_orders: Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
            stores,
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
