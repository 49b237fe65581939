//! Simulated stores on loopback speaking the channels' real wire protocols: `wiremock` servers
//! answering exactly the calls channel-sync makes. The black-box tests of `serve` mount them
//! (adding their own stricter expectations on top), and `channel-sync demo` runs one store per
//! channel with them. Only for tests and the demo (feature `demo`): nothing here is a real
//! channel.
//!
//! Each function returns a [`wiremock::Mock`] not yet mounted (so a test can add `expect`,
//! `named` or a priority) or mounts a group of them.

pub mod ebay;
pub mod etsy;
pub mod magento;
pub mod shopify;
pub mod tiktok;
pub mod veeqo;
pub mod woocommerce;

use serde_json::Value;
use wiremock::{MockServer, Request};

/// A request body as JSON (`Null` when it is not JSON).
pub fn json_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

/// The requests `server` received with method `verb` on exactly `path`.
pub async fn requests_to(server: &MockServer, verb: &str, path: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == path)
        .collect()
}
