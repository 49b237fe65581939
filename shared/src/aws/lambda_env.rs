//! What every Lambda reads at cold start: environment variables, the Shopify app secret and
//! the clients built from it. A problem here stops the function before it takes traffic.

use super::{DynamoStore, SecretsVault};
use crate::channels::shopify::tokens::ShopifyTokens;
use crate::channels::shopify::ShopifyClient;
use crate::ports::Secret;
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

/// A required, non-empty environment variable.
pub fn env(name: &'static str) -> Result<String, ConfigError> {
    env_opt(name).ok_or(ConfigError::Missing(name))
}

/// An optional environment variable (empty counts as unset).
pub fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The Shopify app's credentials as stored in Secrets Manager (`SHOPIFY_APP_SECRET_ID`).
#[derive(serde::Deserialize)]
pub struct ShopifyAppSecret {
    #[serde(default)]
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub previous_client_secret: Option<String>,
}

impl std::fmt::Debug for ShopifyAppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShopifyAppSecret({})", self.client_id)
    }
}

impl ShopifyAppSecret {
    /// Parses the secret's JSON; the client secret must not be empty.
    pub fn parse(secret: &Secret) -> Result<Self, ConfigError> {
        let parsed: Self = serde_json::from_str(secret.expose()).map_err(|_| {
            ConfigError::Invalid("the Shopify app secret is not JSON with a client_secret".into())
        })?;
        if parsed.client_secret.is_empty() {
            return Err(ConfigError::Invalid(
                "the Shopify app secret has an empty client_secret".into(),
            ));
        }
        Ok(parsed)
    }

    /// The current secret, then the previous one during a rotation.
    pub fn secrets(&self) -> Vec<Secret> {
        std::iter::once(self.client_secret.clone())
            .chain(self.previous_client_secret.clone())
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .collect()
    }

    /// Reads and parses the secret named by `SHOPIFY_APP_SECRET_ID`.
    pub async fn load(vault: &SecretsVault) -> Result<Self, ConfigError> {
        Self::parse(&read_secret(vault, &env("SHOPIFY_APP_SECRET_ID")?).await?)
    }
}

/// A secret by id or ARN, which must exist.
pub async fn read_secret(vault: &SecretsVault, id: &str) -> Result<Secret, ConfigError> {
    vault
        .get_by_id(id)
        .await
        .map_err(|e| ConfigError::Invalid(format!("secret {id} could not be read: {e}")))?
        .ok_or_else(|| ConfigError::Invalid(format!("secret {id} does not exist")))
}

/// The Shopify client (`SHOPIFY_API_BASE` overrides the shop URL), optionally with a shorter
/// throttle wait for calls a person waits for.
pub fn shopify_client(max_wait: Option<Duration>) -> Result<ShopifyClient, ConfigError> {
    let client = ShopifyClient::new(env_opt("SHOPIFY_API_BASE"))
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    Ok(match max_wait {
        Some(wait) => client.with_max_throttle_wait(wait),
        None => client,
    })
}

/// Token handling for jobs, on the table and the vault.
pub fn shopify_tokens(
    store: Arc<DynamoStore>,
    vault: Arc<SecretsVault>,
    app: &ShopifyAppSecret,
    client: ShopifyClient,
) -> Arc<ShopifyTokens> {
    Arc::new(ShopifyTokens {
        client,
        client_id: app.client_id.clone(),
        client_secret: Secret::new(app.client_secret.clone()),
        vault,
        connections: store.clone(),
        locks: store,
    })
}

/// Every channel's store on the table and the vault (Shopify through `tokens`). Store URLs
/// follow [`crate::channels::store_url::UrlPolicy::from_env`]: strict unless the documented
/// test switch is set, which the SAM template never does.
pub fn stores(tokens: Arc<ShopifyTokens>) -> Arc<crate::channels::stores::Stores> {
    Arc::new(crate::channels::stores::Stores::new(
        tokens,
        crate::channels::store_url::UrlPolicy::from_env(),
    ))
}

/// The Live-mode trigger on the table and `INVENTORY_PUSH_QUEUE_URL` (order import and the
/// stock-events consumer both mark SKUs dirty through it).
pub fn live_trigger(
    config: &super::SdkConfig,
    store: Arc<DynamoStore>,
) -> Result<Arc<crate::inventory::engine::LiveTrigger>, ConfigError> {
    Ok(Arc::new(crate::inventory::engine::LiveTrigger {
        connections: store.clone(),
        records: store,
        push_queue: Arc::new(super::SqsQueue::from_config(
            config,
            env("INVENTORY_PUSH_QUEUE_URL")?,
        )),
        settings: crate::inventory::engine::EngineSettings::default(),
    }))
}
