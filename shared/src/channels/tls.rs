//! One TLS client configuration per process, shared by every channel HTTP client (issue 17,
//! item 3).
//!
//! Building a `reqwest::Client` with reqwest's own rustls setup creates a new platform
//! verifier, and with it parses every root certificate of the system store again: measured on
//! a debug build, ~70 % of a Lambda function's init time went there, once per channel client.
//! [`client_builder`] hands reqwest one `rustls::ClientConfig` built on first use (platform
//! verifier: the system roots, hostname and expiry checked — nothing is relaxed), so the roots
//! are parsed once per process however many clients are built. Every per-client setting
//! (timeouts, redirect policy, user agent, proxy, resolver) stays on the caller's builder.
//!
//! What reqwest set on its own configuration and this one keeps: the crypto provider (a
//! process default if one is installed, else aws-lc-rs), TLS 1.2 and 1.3, SNI on, no client
//! certificate, ALPN `http/1.1` (reqwest is built without HTTP/2 here; add `h2` if that
//! feature is ever enabled).

use rustls_platform_verifier::BuilderVerifierExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();

/// How many times the configuration (and with it the root store) was built in this process:
/// once, whatever the number of clients. Read by the tests.
static BUILDS: AtomicUsize = AtomicUsize::new(0);

fn build_config() -> Result<rustls::ClientConfig, String> {
    BUILDS.fetch_add(1, Ordering::Relaxed);
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("TLS root certificates: {e}"))?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The process's TLS client configuration, built on first use.
pub fn client_config() -> Result<&'static rustls::ClientConfig, &'static str> {
    CONFIG
        .get_or_init(build_config)
        .as_ref()
        .map_err(String::as_str)
}

/// A `reqwest` client builder that uses the shared TLS configuration. Every channel client
/// starts here instead of `reqwest::Client::builder()`. Should the configuration not build
/// (no readable root store), the plain builder is returned: its `build()` then reports
/// reqwest's own error to the caller, as before.
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match client_config() {
        // A clone shares the verifier (and its parsed roots) and the session cache.
        Ok(config) => builder.tls_backend_preconfigured(config.clone()),
        Err(e) => {
            tracing::warn!(error = e, "shared TLS configuration unavailable");
            builder
        }
    }
}

#[cfg(test)]
mod tests;
