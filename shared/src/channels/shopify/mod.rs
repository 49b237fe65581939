//! Shopify: webhook verification, order payloads, and the GraphQL Admin API client.
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §1.

mod client;
mod inventory;
mod order;
mod webhook;

pub use client::{ShopInfo, ShopifyClient, DEFAULT_BACKOFF_BASE, MAX_ATTEMPTS, MAX_THROTTLE_WAIT};
pub use inventory::{ItemOutcome, QuantitySet, CODE_NOT_APPLIED, MAX_QUANTITIES_PER_CALL};
pub use order::interpret;
pub use webhook::{sign, ShopifyVerifier};

/// The one Admin API version this build speaks (GraphQL Admin API).
pub const API_VERSION: &str = "2026-10";
