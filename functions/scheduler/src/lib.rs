//! Wiring of the `scheduler` Lambda (EventBridge Scheduler, every 10 minutes).
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `CHANNEL_EVENTS_QUEUE_URL`,
//! `SHOPIFY_APP_SECRET_ID` (the app's client id and secret, for token refresh), optionally
//! `SHOPIFY_API_BASE`.

use shared::aws::{DynamoStore, SdkConfig, SecretsVault, SqsQueue};
use shared::channels::shopify::tokens::ShopifyTokens;
use shared::channels::shopify::ShopifyClient;
use shared::jobs::reconcile::{reconcile_all, ReconcileDeps};
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

/// Everything the jobs need, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<ReconcileDeps, ConfigError> {
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
    Ok(ReconcileDeps {
        connections: store.clone(),
        idempotency: store.clone(),
        channel_events: Arc::new(SqsQueue::from_config(
            config,
            env("CHANNEL_EVENTS_QUEUE_URL")?,
        )),
        tokens: Arc::new(ShopifyTokens {
            client,
            client_id: app.client_id,
            client_secret: Secret::new(app.client_secret),
            vault,
            connections: store.clone(),
            locks: store,
        }),
    })
}

/// One scheduled tick: reconcile every active connection; report how many failed. A failed
/// connection is retried by the next tick, so the invocation itself does not fail for it.
pub async fn handler(
    deps: Arc<ReconcileDeps>,
    _event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let results = reconcile_all(&deps).await?;
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let enqueued: u32 = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|r| r.enqueued)
        .sum();
    tracing::info!(
        connections = results.len(),
        failed,
        enqueued,
        "reconciliation tick"
    );
    Ok(serde_json::json!({"connections": results.len(), "failed": failed, "enqueued": enqueued}))
}
