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

/// Loads the SDK configuration once (region, credentials, endpoint overrides), with one HTTP
/// client for every SDK client built from it (see [`shared_http_client`]).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared_http_client())
        .load()
        .await
}

/// The SDK's default HTTPS client (hyper 1 + rustls on aws-lc, proxy from the environment),
/// built once and put in the `SdkConfig`. Without it each SDK client (DynamoDB, SQS, Secrets
/// Manager, and every throwaway client) makes its own default client: its own connection pool
/// and its own root-certificate load, so a connection opened by one (the init warm-up, say) is
/// never reused by another. With one client, connections are pooled per host across them all.
pub fn shared_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Issue 17: warms the function's connections at init, while Lambda's init phase runs (not
/// billed against the first request's deadline): one `GetItem` of a key nobody writes
/// (`REC#warm-up`) on `TABLE_NAME`, and one `GetQueueAttributes` on the first (by name)
/// `*_QUEUE_URL` of the environment, both at once, through clients on the same `SdkConfig`
/// — whose HTTP client (and so its connection pool, TLS sessions included) every client built
/// from it shares when it comes from [`load_config`]. The first webhook then finds its
/// connections to DynamoDB and SQS open instead of paying two handshakes within the channel's
/// answer deadline (TikTok 3 s, Shopify 5 s). Never fails: a warm-up that cannot reach the
/// table or the queue only logs, and the first request pays as before. Returns what was
/// warmed (`"dynamodb"`, `"sqs"`).
pub async fn warm_up(config: &SdkConfig, function: &str) -> Vec<&'static str> {
    let table = std::env::var("TABLE_NAME").ok().filter(|t| !t.is_empty());
    let queue = warm_up_queue(std::env::vars());
    let limit = std::time::Duration::from_secs(2);
    let dynamo = async {
        let table = table?;
        let store = DynamoStore::from_config(config, table);
        let started = std::time::Instant::now();
        let read =
            tokio::time::timeout(limit, crate::ports::Records::fetch(&store, "warm-up", "-")).await;
        Some(warm_up_outcome(
            function,
            "dynamodb",
            started,
            read.map(|r| r.map(|_| ())),
        ))
    };
    let sqs = async {
        let url = queue?;
        let client = aws_sdk_sqs::Client::new(config);
        let started = std::time::Instant::now();
        let asked = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::CreatedTimestamp)
            .send();
        let read = tokio::time::timeout(limit, asked).await;
        Some(warm_up_outcome(
            function,
            "sqs",
            started,
            read.map(|r| r.map(|_| ()).map_err(|e| sdk_error("sqs", e))),
        ))
    };
    let (dynamo, sqs) = tokio::join!(dynamo, sqs);
    [dynamo, sqs].into_iter().flatten().flatten().collect()
}

/// The queue the warm-up asks: the first `*_QUEUE_URL` variable by name (every function that
/// sends names its queues so; they all live on the same SQS endpoint).
fn warm_up_queue(vars: impl Iterator<Item = (String, String)>) -> Option<String> {
    vars.filter(|(name, value)| name.ends_with("_QUEUE_URL") && !value.is_empty())
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, value)| value)
}

fn warm_up_outcome(
    function: &str,
    service: &'static str,
    started: std::time::Instant,
    read: Result<Result<(), PortError>, tokio::time::error::Elapsed>,
) -> Option<&'static str> {
    let ms = started.elapsed().as_millis() as u64;
    match read {
        Ok(Ok(())) => {
            tracing::info!(function, service, ms, "connection warmed at init");
            Some(service)
        }
        Ok(Err(e)) => {
            tracing::warn!(function, service, ms, error = %e, "warm-up call failed");
            None
        }
        Err(_) => {
            tracing::warn!(function, service, ms, "warm-up call timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::warm_up_queue;

    #[test]
    fn the_warm_up_asks_the_first_queue_url_by_name() {
        let vars = [
            ("TABLE_NAME", "t"),
            ("WMS_ORDERS_QUEUE_URL", "http://q/wms"),
            ("CHANNEL_EVENTS_QUEUE_URL", "http://q/events"),
            ("EMPTY_QUEUE_URL", ""),
            ("WMS_EVENTS_DLQ_URL", "http://q/dlq"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(
            warm_up_queue(vars.clone().into_iter()).as_deref(),
            Some("http://q/events")
        );
        assert_eq!(warm_up_queue(vars[..1].iter().cloned()), None);
    }
}
