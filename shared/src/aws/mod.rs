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
        records: store.clone(),
        vault,
        values: store,
    }
}

/// Loads the SDK configuration once (region, credentials, endpoint overrides).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Issue 17: warms the function's connection to DynamoDB at init, while Lambda's init phase
/// runs (not billed against the first request's deadline): one `GetItem` of a key nobody
/// writes (`REC#warm-up`), through a client on the same `SdkConfig`, whose HTTP client (and
/// so its connection pool, TLS sessions included) every client built from it shares. The
/// first webhook then finds a TLS connection open instead of paying the handshake within
/// the channel's answer deadline (TikTok 3 s, Shopify 5 s). Never fails: a warm-up that
/// cannot reach the table only logs, and the first request pays as before.
pub async fn warm_up(config: &SdkConfig, function: &str) {
    use crate::ports::Records;
    let Ok(table) = std::env::var("TABLE_NAME") else {
        return;
    };
    let started = std::time::Instant::now();
    let store = DynamoStore::from_config(config, table);
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        store.fetch("warm-up", "-"),
    )
    .await;
    let ms = started.elapsed().as_millis() as u64;
    match read {
        Ok(Ok(_)) => tracing::info!(function, ms, "connection to the table warmed at init"),
        Ok(Err(e)) => tracing::warn!(function, ms, error = %e, "warm-up read failed"),
        Err(_) => tracing::warn!(function, ms, "warm-up read timed out"),
    }
}
