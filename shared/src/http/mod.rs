//! HTTP routes as axum Routers: the same Router serves API Gateway (through `lambda_http`)
//! and `channel-sync serve`.

pub mod admin;
pub mod api;
mod auth;
mod error;
pub mod inventory_api;
pub mod oauth;
#[cfg(all(test, feature = "embedded"))]
pub(crate) mod testkit;
pub mod ui;
pub mod webhooks;

pub use auth::{bearer_tenant, owned_connection, token_sha256};
pub use error::ApiError;

/// `router` with JSON answers for what no route takes: an unknown path is a 404 and a known
/// path with another method a 405, each `{"error", "message"}` like every other refusal.
/// Applied once, to the whole Router a process serves (axum keeps one fallback per Router).
pub fn with_json_fallbacks(router: axum::Router) -> axum::Router {
    router
        .fallback(|method: http::Method, uri: http::Uri| async move {
            ApiError::NotFound(format!("no route for {method} {}", uri.path()))
        })
        .method_not_allowed_fallback(|method: http::Method, uri: http::Uri| async move {
            ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
        })
}
