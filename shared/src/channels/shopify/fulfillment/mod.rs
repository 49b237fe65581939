//! Tracking write-back to Shopify, in three steps:
//!
//! 1. [`ShopifyClient::fulfillment_orders`] reads an order's fulfillment orders (Shopify creates
//!    them; an app can only fulfil their lines).
//! 2. [`plan_fulfillment`] — pure — decides which fulfillment-order lines a shipment covers and
//!    splits them into one [`PlanGroup`] per location, because one fulfillment may only cover
//!    fulfillment orders of the same order **and location** (reference §1.4 [C]).
//! 3. [`ShopifyClient::create_fulfillment`] sends one `fulfillmentCreate` per group, with the
//!    tracking number.
//!
//! Retrying: `fulfillmentCreate` carries no idempotency key here, so a request that failed in
//! transit may still have been applied. Re-planning cannot tell "my earlier attempt" from "more
//! of the same SKU still open", so a retry never re-plans: [`ShopifyClient::order_fulfillments`]
//! finds fulfillments already carrying the tracking number, and the caller re-sends only the
//! part of its *recorded* plan they do not cover (see `plans.rs` and the adapter's
//! `write_tracking`).
//!
//! Facts: `/work/shopify-graphql-notes.md` §3 and reference §1.4 (API 2026-10).

use super::ShopifyClient;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

// ---------------------------------------------------------------------------------------------
// Fulfillment orders
// ---------------------------------------------------------------------------------------------

/// An order's fulfillment order as far as tracking write-back needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentOrder {
    /// `gid://shopify/FulfillmentOrder/N`.
    pub id: String,
    pub status: FoStatus,
    /// The assigned location's gid; `None` when Shopify does not show the location to this app
    /// (the live `location` link is nullable).
    pub location_id: Option<String>,
    pub lines: Vec<FoLine>,
    /// `FulfillmentOrderRequestStatus` as sent (`UNSUBMITTED`, `CANCELLATION_REQUESTED`…):
    /// what a fulfillment service was asked; `None` when not read.
    pub request_status: Option<String>,
    /// When Shopify last changed it (a move, split, merge, hold or request changes it [U]):
    /// part of the order's version (see `moves.rs`). `None` when not read.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One line of a fulfillment order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoLine {
    /// `gid://shopify/FulfillmentOrderLineItem/N`: what `fulfillmentCreate` takes.
    pub id: String,
    /// Units not fulfilled yet.
    pub remaining: u32,
    /// Units on this fulfillment order line, fulfilled or not.
    pub total: u32,
    /// The order line's SKU, trimmed; `None` when blank (never matched by a partial shipment).
    pub sku: Option<String>,
    /// `gid://shopify/LineItem/N`: the order line this fulfils.
    pub line_item_id: String,
}

/// `FulfillmentOrderStatus` (2026-10). Shopify may add values: unknown ones land in `Other` and
/// are never fulfilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoStatus {
    Open,
    InProgress,
    Scheduled,
    OnHold,
    Incomplete,
    Closed,
    Cancelled,
    Other(String),
}

impl FoStatus {
    /// Reads the API's enum value.
    pub fn from_api(value: &str) -> Self {
        match value {
            "OPEN" => Self::Open,
            "IN_PROGRESS" => Self::InProgress,
            "SCHEDULED" => Self::Scheduled,
            "ON_HOLD" => Self::OnHold,
            "INCOMPLETE" => Self::Incomplete,
            "CLOSED" => Self::Closed,
            "CANCELLED" => Self::Cancelled,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether `fulfillmentCreate` may be sent for it. Which statuses Shopify accepts is not
    /// documented [U]; OPEN and IN_PROGRESS are the ones that mean "ready / being worked on".
    pub fn is_fulfillable(&self) -> bool {
        matches!(self, Self::Open | Self::InProgress)
    }

    /// Closed or cancelled: nothing will ever be fulfilled on it again.
    fn is_final(&self) -> bool {
        matches!(self, Self::Closed | Self::Cancelled)
    }
}

mod create;
mod plan;
mod read;
#[cfg(test)]
mod tests;

pub use create::*;
pub use plan::*;
pub use read::*;
