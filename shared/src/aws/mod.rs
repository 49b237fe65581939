//! The AWS adapter set, on the official SDK: DynamoDB (one table, single-table design),
//! SQS and Secrets Manager. Endpoints come from the SDK's standard configuration
//! (`AWS_ENDPOINT_URL` and friends), which is how the tests point them at `moto_server`.
//!
//! Table layout (`pk`, `sk`, TTL attribute `ttl` in epoch seconds):
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | connection | `TENANT#{tenant}` | `CONN#{id}` | `body` (JSON), `channel`, `shop` |
//! | shop index | `SHOP#{channel}#{shop}` | `SHOP` | `tenant`, `connection` |
//! | tenant token | `TOKEN#{sha256}` | `TOKEN` | `tenant` |
//! | idempotency | `IDEM#{key}` | `IDEM` | `state`, `lease_until` (ms), `record`, `ttl` |
//!
//! Access patterns: webhook routing = get shop index → get connection; a tenant's
//! connections = query `pk = TENANT#t, begins_with(sk, CONN#)`; every exactly-once decision
//! is a conditional put (or a transaction, for connection + shop index).

mod dynamo;
pub mod lambda_env;
pub mod provision;
mod secrets;
mod sqs;

pub use aws_config::SdkConfig;
pub use dynamo::DynamoStore;
pub use secrets::SecretsVault;
pub use sqs::SqsQueue;

use crate::ports::PortError;

/// The SDK's error with its whole cause chain (the plain `Display` says only "service error").
pub(crate) fn sdk_error<E: std::error::Error>(context: &str, e: E) -> PortError {
    PortError::Unavailable(format!(
        "{context}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(e)
    ))
}

/// Every port on the table (`TABLE_NAME`) and the connection secrets (`SECRETS_PREFIX`).
pub fn ports(config: &SdkConfig) -> Result<crate::ports::Ports, lambda_env::ConfigError> {
    let store = std::sync::Arc::new(DynamoStore::from_config(
        config,
        lambda_env::env("TABLE_NAME")?,
    ));
    let vault = std::sync::Arc::new(SecretsVault::from_config(
        config,
        lambda_env::env("SECRETS_PREFIX")?,
    ));
    Ok(ports_of(store, vault))
}

/// Every port on a table and a vault.
pub fn ports_of(
    store: std::sync::Arc<DynamoStore>,
    vault: std::sync::Arc<SecretsVault>,
) -> crate::ports::Ports {
    crate::ports::Ports {
        connections: store.clone(),
        tenants: store.clone(),
        idempotency: store.clone(),
        records: store,
        vault,
    }
}

/// Loads the SDK configuration once (region, credentials, endpoint overrides).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
