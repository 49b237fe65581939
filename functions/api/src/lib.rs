//! Wiring of the `api` Lambda.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `SHOPIFY_APP_SECRET_ID` (client id and secret,
//! for token refresh), optionally `ADMIN_TOKEN_SECRET_ID` (a secret holding the operator's admin
//! token; without it `/api/admin/tenants` answers 404) and `SHOPIFY_API_BASE`.

use shared::api::ApiDeps;
use shared::aws::{DynamoStore, SdkConfig, SecretsVault};
use shared::channels::shopify::tokens::ShopifyTokens;
use shared::channels::shopify::ShopifyClient;
use shared::http::admin::AdminDeps;
use shared::http::token_sha256;
use shared::ports::Secret;
use std::sync::Arc;
use std::time::Duration;

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

/// The management and operator routes.
pub fn app(api: Arc<ApiDeps>, admin: Arc<AdminDeps>) -> axum::Router {
    shared::api::router(api).merge(shared::http::admin::router(admin))
}

/// Everything the routes need, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<(ApiDeps, AdminDeps), ConfigError> {
    let store = Arc::new(DynamoStore::from_config(config, env("TABLE_NAME")?));
    let vault = Arc::new(SecretsVault::from_config(config, env("SECRETS_PREFIX")?));
    let read = |id: String| {
        let vault = vault.clone();
        async move {
            vault
                .get_by_id(&id)
                .await
                .map_err(|e| ConfigError::Invalid(format!("secret {id} could not be read: {e}")))?
                .ok_or_else(|| ConfigError::Invalid(format!("secret {id} does not exist")))
        }
    };
    let app: AppSecret = serde_json::from_str(read(env("SHOPIFY_APP_SECRET_ID")?).await?.expose())
        .map_err(|_| {
            ConfigError::Invalid(
                "the Shopify app secret is not JSON with client_id and client_secret".into(),
            )
        })?;
    let admin_token_sha256 = match std::env::var("ADMIN_TOKEN_SECRET_ID")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(id) => Some(token_sha256(read(id).await?.expose().trim())),
        None => None,
    };
    let base = std::env::var("SHOPIFY_API_BASE")
        .ok()
        .filter(|v| !v.is_empty());
    let client = |wait: Duration| {
        ShopifyClient::new(base.clone())
            .map(|c| c.with_max_throttle_wait(wait))
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    };
    let tokens = Arc::new(ShopifyTokens {
        client: client(Duration::from_secs(5))?,
        client_id: app.client_id,
        client_secret: Secret::new(app.client_secret),
        vault: vault.clone(),
        connections: store.clone(),
        locks: store.clone(),
    });
    Ok((
        ApiDeps {
            connections: store.clone(),
            tenants: store.clone(),
            vault,
            shopify: client(Duration::from_secs(5))?,
            tokens,
        },
        AdminDeps {
            tenants: store,
            admin_token_sha256,
        },
    ))
}
