//! channel-sync's library: the domain, the channels, the ports with their AWS and embedded
//! adapters, the HTTP routes and the queue consumers. The Lambda functions in `functions/`
//! and the single-machine runner in `local/` only wire these together.

pub mod channels;
pub mod connection_state;
pub mod consumers;
pub mod domain;
pub mod failure;
pub mod http;
pub mod inventory;
pub mod jobs;
pub mod keys;
pub mod messages;
pub mod ports;
pub mod runner;
pub mod schedule;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

pub use http::api;
pub use http::webhooks;
