//! The channel-neutral contract the jobs use: what a connected store offers whatever its
//! channel (orders changed since, product listings, tracking write-back). Each channel
//! implements [`StoreApi`]; the reconciliation poll, the product import and the tracking
//! export only know this trait. (Shopify's fulfillment-order planning stays inside its own
//! implementation: a second and third channel showed the plan is Shopify's, not everyone's.)

use crate::domain::Order;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use super::ClientError;

/// One page of orders changed since an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct OrdersPage {
    /// Mapped orders.
    pub orders: Vec<Order>,
    /// Pass back for the next page; `None` on the last page. Opaque: a GraphQL cursor for
    /// Shopify, a page number for page-numbered APIs.
    pub next_cursor: Option<String>,
    /// Orders that could not be mapped: (the channel's id, or `"?"`; why). They do not fail
    /// the page, but the caller must record them: a skipped order is not imported by this poll.
    pub skipped: Vec<(String, String)>,
}

/// One sellable thing of a store that can carry a SKU (a Shopify variant, a WooCommerce simple
/// product or variation, a Magento simple product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The channel's id of the variant/product that carries the SKU.
    pub variant_id: String,
    /// Trimmed; `None` when blank.
    pub sku: Option<String>,
    /// What the channel's inventory write takes for this listing (opaque to everyone but the
    /// channel's [`super::inventory::InventoryChannel`]). `None`: nothing to push to.
    pub inventory_item_id: Option<String>,
    /// Whether the channel counts this listing's stock (Shopify `tracked`, WooCommerce
    /// `manage_stock`, Magento `manage_stock`). Untracked listings are never pushed.
    pub tracked: bool,
    /// The parent product's id (the listing's own id for a simple product).
    pub product_id: String,
    pub product_title: String,
    /// The channel's status as it spells it, lowercased (`active`, `publish`, `draft`, `1`…).
    pub status: String,
    /// Whether buyers can order it (so its SKU matters). Unknown statuses count as sellable.
    pub sellable: bool,
}

/// One page of listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingsPage {
    pub listings: Vec<Listing>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Tracking details of one shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    /// The carrier as the WMS names it. Shopify wants its supported-carrier spelling
    /// (case-sensitive); other channels map it (see each channel). Blank → not sent.
    pub company: String,
    /// Parsed by the tracking export (trimmed, never blank): channels send it as it is.
    pub number: crate::domain::TrackingNumber,
    /// For carriers the channel does not know. Blank or `None` → not sent.
    pub url: Option<String>,
}

/// One shipped line, by SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedSku {
    pub sku: String,
    pub quantity: u32,
}

/// Why tracking was not written.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// Transport, credentials, rate limit: classified as for every call.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The channel refused it for good (order unknown, already shipped, cancelled…): the
    /// reason goes to the WMS as `tracking.failed`, never retried.
    #[error("{0}")]
    Permanent(String),
}

/// An order an event only names, as the channel shows it now.
#[derive(Debug)]
pub enum Reread {
    Order(Box<Order>),
    /// The channel has it, but it is not the connection's to fulfil (TikTok's own
    /// fulfilment…): nothing to import, and why.
    NotOurs(String),
}

/// What a connected store offers the jobs.
#[async_trait]
pub trait StoreApi: Send + Sync {
    /// Orders updated at or after `since`, one page, oldest changes first where the channel
    /// can sort so. `cursor` is what the previous page returned.
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError>;

    /// One order by the channel's id, for events that only name it
    /// ([`super::Interpreted::Fetch`]). `Ok(None)`: the channel does not show it (yet).
    async fn order(&self, channel_order_id: &str) -> Result<Option<Reread>, ClientError> {
        Err(ClientError::BadResponse(format!(
            "this channel cannot re-read order {channel_order_id}"
        )))
    }

    /// Every listing, one page at a time.
    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError>;

    /// Writes a shipment's tracking to the order and marks it shipped. `lines` is `None` for
    /// "everything". Must be safe to call again after a timeout for the same tracking number
    /// (the caller claims each (connection, order, tracking number) once, but a lost answer is
    /// retried): implementations check what the order already carries first. Returns the
    /// channel's ids of what it created (or found).
    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<Vec<String>, ShipError>;
}

/// Which part of an order a connection fulfils, for channels that assign an order's lines to
/// places (Shopify assigns each fulfillment order to a location). See
/// [`super::adapter::ChannelAdapter::assigned_to_us`].
#[derive(Debug, Clone, PartialEq)]
pub enum Assigned {
    /// The order as the WMS should get it: only the lines (and quantities) assigned to the
    /// connection's fulfilment location, or the whole order held with a reason when the
    /// connection has not said which location is the warehouse's.
    Ours(Box<Order>),
    /// Nothing on the order is for this connection's location: the WMS gets nothing.
    /// `locations` names where the order is assigned instead (for the log and the counter).
    Elsewhere { locations: Vec<String> },
}

/// Why a store could not be connected, or a management call on it (locations, settings) could
/// not be answered. Each is a sentence for the merchant: a 422, except
/// [`ConnectError::Unreachable`] (502), [`ConnectError::Conflict`] (409) and
/// [`ConnectError::Unavailable`] (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The URL answers, but not as this channel (no WordPress, no Magento REST API…).
    #[error("{0}")]
    NotTheChannel(String),
    /// The platform is there but its REST API is not available (WooCommerce inactive,
    /// permalinks off, REST disabled…).
    #[error("{0}")]
    NoApi(String),
    /// The credentials are wrong or revoked.
    #[error("{0}")]
    WrongCredentials(String),
    /// The credentials work but cannot write (read-only key, missing ACL resources).
    #[error("{0}")]
    InsufficientPermissions(String),
    /// Network trouble, timeouts, 5xx: try again later.
    #[error("{0}")]
    Unreachable(String),
    /// The form or a setting is not acceptable as sent (a 422 with the reason).
    #[error("{0}")]
    Invalid(String),
    /// The store belongs to another account, or its stored credentials must be renewed first
    /// (a 409).
    #[error("{0}")]
    Conflict(String),
    /// Our own storage failed: try again later (a 503).
    #[error("{0}")]
    Unavailable(String),
}

impl crate::failure::Kinded for ConnectError {
    fn kind(&self) -> crate::failure::Kind {
        use crate::failure::Kind;
        match self {
            ConnectError::Unreachable(_) => Kind::Upstream,
            ConnectError::Conflict(_) => Kind::Conflict,
            ConnectError::Unavailable(_) => Kind::Unavailable,
            ConnectError::NotTheChannel(_)
            | ConnectError::NoApi(_)
            | ConnectError::WrongCredentials(_)
            | ConnectError::InsufficientPermissions(_)
            | ConnectError::Invalid(_) => Kind::Refused,
        }
    }
}

impl From<crate::ports::PortError> for ConnectError {
    fn from(e: crate::ports::PortError) -> Self {
        ConnectError::Unavailable(e.to_string())
    }
}

/// SKU problems across a store's listings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkuReport {
    /// Sellable listings without a SKU (their ids, in input order). Orders for them are held
    /// with `missing_sku`, and their stock cannot be synced.
    pub blank: Vec<String>,
    /// SKUs carried by more than one sellable listing, with those listings' ids (input
    /// order). Stock for such a SKU cannot be pushed unambiguously.
    pub duplicates: BTreeMap<String, Vec<String>>,
}

/// Blank and duplicate SKUs among sellable listings.
///
/// Unsellable ones (draft, archived, disabled) are left out of both lists on purpose:
/// merchants keep old copies of products with the same SKU, nobody can order them, and
/// reporting them would bury the real problems. SKUs are compared exactly after trimming
/// (case matters, as in [`crate::domain::Sku`]).
pub fn sku_report(listings: &[Listing]) -> SkuReport {
    let mut report = SkuReport::default();
    let mut by_sku: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in listings.iter().filter(|l| l.sellable) {
        match &l.sku {
            None => report.blank.push(l.variant_id.clone()),
            Some(sku) => by_sku
                .entry(sku.clone())
                .or_default()
                .push(l.variant_id.clone()),
        }
    }
    report.duplicates = by_sku
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .collect();
    report
}

impl crate::failure::Classify for ShipError {
    /// A refused write is permanent; a 4xx the channel explained or an answer we cannot use
    /// is too (retrying the same write cannot change it); the rest as the client error says.
    fn classify(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        match self {
            ShipError::Permanent(r) => Failure::Permanent(r.clone()),
            ShipError::Client(e) => e.classify(),
        }
    }
}
