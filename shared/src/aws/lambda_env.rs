//! What every Lambda reads at cold start: environment variables, the channels' app secrets and
//! the channel registry built from them. A problem here stops the function before it takes
//! traffic.

use super::SecretsVault;
use crate::channels::context::{AppCredentials, ChannelApps};
use crate::channels::registry::Registry;
use crate::domain::Channel;
use crate::ports::{Ports, Secret};
use std::sync::Arc;

/// A configuration problem found at cold start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// What a function's wiring produced, or — when its configuration is unusable — one line on
/// stderr naming the function and what is missing, and exit code 1, before any runtime loop
/// (a local `cargo lambda invoke` then fails at once instead of waiting for a function that
/// is gone).
pub fn or_exit<T>(function: &str, wired: Result<T, ConfigError>) -> T {
    match wired {
        Ok(value) => value,
        Err(e) => {
            tracing::error!(function, error = %e, "cannot start");
            eprintln!("{function}: cannot start: {e}");
            if let Some(api) = env_opt("AWS_LAMBDA_RUNTIME_API") {
                report_init_error(&api, &format!("{function}: cannot start: {e}"));
            }
            std::process::exit(1)
        }
    }
}

/// Tells the Lambda Runtime API why the function cannot start (`POST
/// /2018-06-01/runtime/init/error`), so the pending invocation fails at once with that
/// sentence: on AWS a `Runtime.ConfigError`, and under `cargo lambda watch` the answer to
/// `cargo lambda invoke` (which would otherwise wait for a process that is gone). `api` is
/// `AWS_LAMBDA_RUNTIME_API` (`host:port`, possibly followed by a path prefix). Best effort: two
/// seconds at most, errors ignored (the line on stderr stays).
pub fn report_init_error(api: &str, message: &str) {
    use std::io::{Read, Write};
    let (host, prefix) = match api.split_once('/') {
        Some((host, prefix)) => (host, format!("/{}", prefix.trim_end_matches('/'))),
        None => (api, String::new()),
    };
    let body = serde_json::json!({"errorMessage": message, "errorType": "Runtime.ConfigError"})
        .to_string();
    let request = format!(
        "POST {prefix}/2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let timeout = std::time::Duration::from_secs(2);
    let Some(address) = std::net::ToSocketAddrs::to_socket_addrs(host)
        .ok()
        .and_then(|mut a| a.next())
    else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, timeout) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = [0u8; 64];
        let _ = stream.read(&mut answer);
    }
}

/// A required, non-empty environment variable.
pub fn env(name: &'static str) -> Result<String, ConfigError> {
    env_opt(name).ok_or(ConfigError::Missing(name))
}

/// An optional environment variable (empty counts as unset).
pub fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Every channel app's credentials: for each channel `NAME` whose `NAME_APP_SECRET_ID` is
/// set (e.g. `SHOPIFY_APP_SECRET_ID`), that Secrets Manager secret
/// (`{"client_id", "client_secret", "previous_client_secret"?}`); `NAME_API_BASE` overrides
/// the channel's API host. Read once per cold start; a secret that is named but unreadable
/// stops the function before it takes traffic.
pub async fn channel_apps(vault: &SecretsVault) -> Result<ChannelApps, ConfigError> {
    let mut apps = ChannelApps::default();
    for channel in Channel::ALL {
        let prefix = channel.as_str().to_ascii_uppercase();
        let mut app = match env_opt(&format!("{prefix}_APP_SECRET_ID")) {
            Some(id) => AppCredentials::parse(channel, &read_secret(vault, &id).await?)
                .map_err(ConfigError::Invalid)?,
            None => AppCredentials::default(),
        };
        app.api_base = env_opt(&format!("{prefix}_API_BASE"));
        apps = apps.with(channel, app);
    }
    Ok(apps)
}

/// Every channel on the table and the vault. Store URLs follow
/// [`crate::channels::store_url::UrlPolicy::from_env`]: strict unless the documented test
/// switch is set, which the SAM template never does. `CHANNEL_SYNC_PUBLIC_URL` (optional
/// here) is where channels deliver webhooks.
pub fn registry(ports: &Ports, apps: ChannelApps) -> Result<Arc<Registry>, ConfigError> {
    Registry::on(
        ports,
        crate::channels::store_url::UrlPolicy::from_env(),
        &env_opt("CHANNEL_SYNC_PUBLIC_URL").unwrap_or_default(),
        apps,
    )
    .map_err(ConfigError::Invalid)
}

/// A secret by id or ARN, which must exist.
pub async fn read_secret(vault: &SecretsVault, id: &str) -> Result<Secret, ConfigError> {
    vault
        .get_by_id(id)
        .await
        .map_err(|e| ConfigError::Invalid(format!("secret {id} could not be read: {e}")))?
        .ok_or_else(|| ConfigError::Invalid(format!("secret {id} does not exist")))
}

/// Every port, and every channel with its app credentials: what most functions start from.
pub async fn ports_and_channels(
    config: &super::SdkConfig,
) -> Result<(Ports, Arc<Registry>), ConfigError> {
    // App secrets are named by id or ARN, outside the connections' prefix.
    let apps = channel_apps(&SecretsVault::from_config(config, "")).await?;
    let ports = super::ports(config)?;
    let channels = registry(&ports, apps)?;
    Ok((ports, channels))
}

/// The Live-mode trigger on the ports and `INVENTORY_PUSH_QUEUE_URL` (order import and the
/// `wms-events` consumer's stock handler both mark SKUs dirty through it).
pub fn live_trigger(
    config: &super::SdkConfig,
    ports: &Ports,
) -> Result<Arc<crate::inventory::engine::LiveTrigger>, ConfigError> {
    Ok(Arc::new(crate::inventory::engine::LiveTrigger {
        connections: ports.connections.clone(),
        records: ports.records.clone(),
        push_queue: Arc::new(super::SqsQueue::from_config(
            config,
            env("INVENTORY_PUSH_QUEUE_URL")?,
        )),
        settings: crate::inventory::engine::EngineSettings::default(),
    }))
}

#[cfg(test)]
mod init_error_tests {
    use super::report_init_error;
    use std::io::{Read, Write};

    /// GIVEN a Runtime API (with cargo lambda's per-function path prefix) WHEN a function
    /// reports why it cannot start THEN it posts that sentence to `…/runtime/init/error` as
    /// the Runtime API expects it.
    #[test]
    fn a_function_that_cannot_start_tells_the_runtime_api_why() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let api = format!("{}/webhooks", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                let n = stream.read(&mut buf).unwrap();
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                if n == 0 || text.contains("}") {
                    break;
                }
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(seen).unwrap()
        });
        report_init_error(
            &api,
            "webhooks: cannot start: environment variable TABLE_NAME is not set",
        );
        let request = server.join().unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("POST /webhooks/2018-06-01/runtime/init/error HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.contains("Lambda-Runtime-Function-Error-Type: Runtime.ConfigError"),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errorType": "Runtime.ConfigError",
                "errorMessage": "webhooks: cannot start: environment variable TABLE_NAME is not set"})
        );
    }

    /// Nobody listening: it returns (no hang, no panic).
    #[test]
    fn no_runtime_api_listening_is_not_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        report_init_error(&format!("127.0.0.1:{port}"), "x");
        report_init_error("not a host", "x");
    }
}
