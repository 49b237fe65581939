//! Wiring of the `tracking-export` Lambda (consumer of `wms-events`).
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `SHOPIFY_APP_SECRET_ID`,
//! `WMS_ORDERS_QUEUE_URL` (results for the WMS), `STOCK_EVENTS_QUEUE_URL` (stock and product
//! messages wait there for the inventory engine), `WMS_EVENTS_DLQ_URL`, optionally
//! `SHOPIFY_API_BASE`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::aws::{DynamoStore, SdkConfig, SecretsVault, SqsQueue};
use shared::channels::shopify::tokens::ShopifyTokens;
use shared::channels::shopify::ShopifyClient;
use shared::consumers::sqs_batch;
use shared::consumers::wms_events::{self, WmsEventsDeps};
use shared::ports::Secret;
use std::sync::Arc;

/// A configuration problem found at cold start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

fn env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

#[derive(serde::Deserialize)]
struct AppSecret {
    client_id: String,
    client_secret: String,
}

/// Everything the consumer needs, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<WmsEventsDeps, ConfigError> {
    let store = Arc::new(DynamoStore::from_config(config, env("TABLE_NAME")?));
    let vault = Arc::new(SecretsVault::from_config(config, env("SECRETS_PREFIX")?));
    let app = vault
        .get_by_id(&env("SHOPIFY_APP_SECRET_ID")?)
        .await
        .map_err(|e| {
            ConfigError::Invalid(format!("the Shopify app secret could not be read: {e}"))
        })?
        .and_then(|s| serde_json::from_str::<AppSecret>(s.expose()).ok())
        .ok_or_else(|| {
            ConfigError::Invalid(
                "the Shopify app secret is missing or not JSON with client_id and client_secret"
                    .into(),
            )
        })?;
    let client = ShopifyClient::new(
        std::env::var("SHOPIFY_API_BASE")
            .ok()
            .filter(|v| !v.is_empty()),
    )
    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    Ok(WmsEventsDeps {
        connections: store.clone(),
        idempotency: store.clone(),
        shopify: Arc::new(ShopifyTokens {
            client,
            client_id: app.client_id,
            client_secret: Secret::new(app.client_secret),
            vault,
            connections: store.clone(),
            locks: store,
        }),
        wms_orders: Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
        stock_events: Arc::new(SqsQueue::from_config(
            config,
            env("STOCK_EVENTS_QUEUE_URL")?,
        )),
        dead_letter: Arc::new(SqsQueue::from_config(config, env("WMS_EVENTS_DLQ_URL")?)),
    })
}

/// The SQS handler: every record on its own, failures reported per item.
pub async fn handler(
    deps: Arc<WmsEventsDeps>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(sqs_batch(deps, event, wms_events::handle).await)
}
