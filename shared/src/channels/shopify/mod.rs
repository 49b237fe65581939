//! Shopify: webhook verification, order payloads, and the GraphQL Admin API client.
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §1.

mod client;
mod lifecycle;
pub mod oauth;
mod order;
pub mod tokens;
mod webhook;

pub use client::{ShopInfo, ShopifyClient};
pub use lifecycle::PRIVACY_TOPICS;
pub use order::interpret;
pub use webhook::{sign, ShopifyVerifier};

/// The one Admin API version this build speaks (GraphQL Admin API).
pub const API_VERSION: &str = "2026-10";
