//! Etsy (Open API v3, reference §3). Shops install by OAuth 2 with PKCE ([`oauth`]); every
//! call carries `x-api-key: keystring:shared_secret` and the connection's bearer token
//! ([`client`]), whose one-hour access tokens are refreshed ahead of expiry with rotating
//! refresh tokens ([`tokens`]). `order.paid` webhooks (commercial apps only) are verified as
//! Standard Webhooks ([`webhook`]) and re-read by receipt id; the receipts poll is the
//! backbone ([`store`], [`order`]). Stock is a read–modify–write of each listing's whole
//! inventory ([`inventory`]).

pub mod adapter;
pub mod carriers;
pub mod client;
pub mod inventory;
pub mod oauth;
pub mod order;
pub mod store;
#[cfg(all(test, feature = "embedded"))]
mod tests;
pub mod tokens;
pub mod webhook;

pub use adapter::{adapter, EtsyAdapter};
pub use client::{EtsyClient, EtsyConfig};
pub use tokens::EtsyCredentials;
