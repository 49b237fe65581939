//! WooCommerce (self-hosted WordPress, REST `wp-json/wc/v3`).
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §2.
//!
//! - [`verify`] / [`is_ping`]: webhook signatures (`X-WC-Webhook-Signature`) and the unsigned
//!   `webhook_id=N` ping WooCommerce sends when a webhook is created or re-activated.
//! - [`interpret`] / [`map_order`]: the REST order representation into [`crate::domain::Order`]
//!   (webhook payloads and the reconciliation poll share it).
//! - [`WooClient`]: connection checks and webhook subscriptions; [`WooStore`] (the
//!   [`crate::channels::store::StoreApi`]) and [`WooInventory`] (stock batches) for a saved
//!   connection. Every call goes through [`crate::channels::rest::call`] with HTTP Basic auth
//!   `consumer_key:consumer_secret` (§2.2: accepted over HTTPS).

mod adapter;
mod api;
mod client;
mod credentials;
mod intake;
mod inventory;
mod order;
mod store;
mod webhook;

pub use adapter::{adapter, WooAdapter};
pub use client::{WebhookReport, WooClient, WooStoreInfo};
pub use credentials::{generate_webhook_secret, WooCredentials};
pub use intake::WooVerifier;
pub use inventory::{WooInventory, MAX_BATCH};
pub use order::{interpret, map_order};
pub use store::WooStore;
pub use webhook::{is_ping, sign, verify};

/// The webhook topics channel-sync subscribes to (§2.1: there is no "paid" or "cancelled"
/// topic; `order.updated` carries those changes in `status` / `date_paid_gmt`; trashing an
/// order fires `order.deleted`, whose payload is only the id).
pub const WEBHOOK_TOPICS: &[&str] = &["order.created", "order.updated", "order.deleted"];

/// The REST namespace root, below the store URL.
pub(crate) const API_ROOT: &str = "/wp-json/wc/v3";

/// Most objects per page (WordPress core caps `per_page` at 100, §2.3) and per batch request
/// (WooCommerce refuses more than 100 objects with a 413, §2.5).
pub(crate) const PAGE_SIZE: usize = 100;

#[cfg(test)]
mod tests;
