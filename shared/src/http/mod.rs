//! HTTP routes as axum Routers: the same Router serves API Gateway (through `lambda_http`)
//! and `channel-sync serve`.

pub mod admin;
pub mod api;
mod auth;
mod error;
pub mod inventory_api;
pub mod oauth;
pub mod webhooks;

pub use auth::{bearer_tenant, owned_connection, token_sha256};
pub use error::ApiError;
