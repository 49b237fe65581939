//! Shopify: webhook verification, order payloads, and the GraphQL Admin API client.
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §1.

mod client;
mod fulfillment;
mod order;
mod webhook;

pub use client::{ShopInfo, ShopifyClient};
pub use fulfillment::{
    order_gid, plan_fulfillment, FoLine, FoStatus, FulfillmentCreated, FulfillmentError,
    FulfillmentOrder, FulfillmentPlan, PlanError, PlanGroup, Tracking, UserError,
};
pub use order::interpret;
pub use webhook::{sign, ShopifyVerifier};

/// The one Admin API version this build speaks (GraphQL Admin API).
pub const API_VERSION: &str = "2026-10";
