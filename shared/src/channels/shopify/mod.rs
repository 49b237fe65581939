//! Shopify: webhook verification, order payloads, and the GraphQL Admin API client.
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §1.

mod adapter;
mod assignment;
mod client;
mod default_location;
mod fulfillment;
mod install;
mod inventory;
mod lifecycle;
mod locations;
mod moves;
pub mod oauth;
mod order;
mod orders_poll;
mod payment;
mod plans;
mod products;
mod revoke;
mod subscriptions;
pub mod tokens;
mod webhook;

pub use adapter::{adapter, ShopifyAdapter};
pub use client::{ShopInfo, ShopifyClient, DEFAULT_BACKOFF_BASE, MAX_ATTEMPTS, MAX_THROTTLE_WAIT};
pub use fulfillment::{
    order_gid, plan_fulfillment, FoLine, FoStatus, FulfillmentCreated, FulfillmentError,
    FulfillmentOrder, FulfillmentPlan, OrderFulfillment, OrderFulfillments, PlanError, PlanGroup,
    Tracking, UserError, MAX_FULFILLMENTS,
};
pub use inventory::{ItemOutcome, QuantitySet, CODE_NOT_APPLIED, MAX_QUANTITIES_PER_CALL};
pub use lifecycle::PRIVACY_TOPICS;
pub use locations::Location;
pub use moves::{FULFILLMENT_ORDER_SUBSCRIPTIONS, FULFILLMENT_ORDER_TOPICS};
pub use orders_poll::{updated_since_query, OrdersPage, ORDERS_PAGE_SIZE_WITHIN_COST};
pub use plans::ShipmentPlans;
pub use products::{ProductStatus, Variant};
pub use subscriptions::{EnsureReport, Subscription, ORDER_TOPICS};
pub use webhook::{sign, ShopifyVerifier};

/// The one Admin API version this build speaks (GraphQL Admin API).
pub const API_VERSION: &str = "2026-10";

/// Interprets a verified Shopify webhook payload: app lifecycle and privacy topics, then the
/// fulfillment-order topics, then the order topics.
pub fn interpret(
    topic: &str,
    payload: &[u8],
) -> Result<crate::channels::Interpreted, crate::channels::InterpretError> {
    if let Some(lifecycle) = lifecycle::interpret(topic, payload) {
        return lifecycle;
    }
    if let Some(moved) = moves::interpret(topic, payload) {
        return moved;
    }
    order::interpret(topic, payload)
}

#[cfg(all(test, feature = "embedded"))]
mod default_location_tests;
