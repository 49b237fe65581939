//! TikTok Shop (Partner/Open API 202309+): signed API calls, app-secret webhooks whose order
//! events are re-read from TikTok, the orders poll, masked-address holds, OAuth install with
//! one connection per authorized shop, tracking write-back with TikTok's shipping provider
//! ids, product listings and per-product inventory writes.
//! Facts: `../shared/reference/channels-tiktok-ebay-etsy-veeqo.md` §1.

mod adapter;
pub mod client;
pub mod credentials;
mod events;
#[cfg(all(test, feature = "embedded"))]
pub(crate) mod fake_api;
mod install;
mod inventory;
pub mod order;
pub mod sign;
mod store;
#[cfg(all(test, feature = "embedded"))]
pub(crate) mod tests;
pub mod webhook;

pub use adapter::{adapter, TikTokAdapter, TikTokSettings};
pub use client::{TikTokClient, DEFAULT_API_BASE, DEFAULT_AUTH_BASE};
pub use credentials::TikTokCredentials;
pub use events::SUBSCRIBED;
pub use install::{DEFAULT_AUTHORIZE_URL, US_AUTHORIZE_URL};
pub use inventory::{TikTokInventory, MAX_QUANTITY};
pub use order::MASKED_ADDRESS_ADVICE;
pub use sign::{sign_request, sign_webhook};
pub use store::TikTokStore;
pub use webhook::{signed_headers, TikTokVerifier};
