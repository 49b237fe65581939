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

/// The order's fulfillment orders with their first lines. Page sizes are literals, chosen so the
/// requested cost stays under the 1,000-point single-query cap [S] (a connection costs 2 + first
/// × its node cost, nested connections multiply): ≈ 4 + 10 × (3 + 2 + 40 × 2 + 1) = 864. With
/// `first: 50` on both levels it would be ≈ 5,300 and Shopify would refuse the query.
/// Whether `Order.fulfillmentOrders` lists closed and cancelled ones by default is not confirmed
/// [U] (the shop-wide `fulfillmentOrders` query hides closed ones unless `includeClosed: true`
/// [C]); if they were hidden, a finished order would plan to [`PlanError::NoFulfillmentOrders`]
/// rather than `AlreadyFulfilled` — never to a wrong fulfillment. Only fulfillment orders this
/// app's scopes allow are returned [C].
const FULFILLMENT_ORDERS_QUERY: &str = "query ChannelSyncFulfillmentOrders($id: ID!, $after: String) { order(id: $id) { id fulfillmentOrders(first: 10, after: $after) { nodes { id status assignedLocation { location { id } } lineItems(first: 40) { nodes { id remainingQuantity totalQuantity lineItem { id sku } } pageInfo { hasNextPage endCursor } } } pageInfo { hasNextPage endCursor } } } }";

/// Further lines of one fulfillment order (cost ≈ 1 + 2 + 50 × 2 + 1 = 104).
const FULFILLMENT_ORDER_LINES_QUERY: &str = "query ChannelSyncFulfillmentOrderLines($id: ID!, $after: String) { fulfillmentOrder(id: $id) { lineItems(first: 50, after: $after) { nodes { id remainingQuantity totalQuantity lineItem { id sku } } pageInfo { hasNextPage endCursor } } } }";

/// At most 10 pages of 10 fulfillment orders: real orders have a handful.
const MAX_ORDER_PAGES: usize = 10;
/// At most 40 + 20 × 50 = 1,040 lines per fulfillment order.
const MAX_LINE_PAGES: usize = 20;

#[derive(Deserialize)]
struct RawConnection<T> {
    nodes: Option<Vec<T>>,
    #[serde(rename = "pageInfo")]
    page_info: Option<RawPageInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPageInfo {
    has_next_page: Option<bool>,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOrder {
    fulfillment_orders: Option<RawConnection<RawFo>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFo {
    id: Option<String>,
    status: Option<String>,
    assigned_location: Option<RawAssignedLocation>,
    line_items: Option<RawConnection<RawLine>>,
}

#[derive(Deserialize)]
struct RawAssignedLocation {
    location: Option<RawId>,
}

#[derive(Deserialize)]
struct RawId {
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLine {
    id: Option<String>,
    remaining_quantity: Option<i64>,
    /// Absent in answers recorded before it was asked for: then the remaining quantity.
    total_quantity: Option<i64>,
    line_item: Option<RawLineItem>,
}

#[derive(Deserialize)]
struct RawLineItem {
    id: Option<String>,
    sku: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFoLines {
    line_items: Option<RawConnection<RawLine>>,
}

fn bad(message: impl Into<String>) -> ClientError {
    ClientError::BadResponse(message.into())
}

/// `gid://shopify/Order/N` from a numeric REST id or an order gid; `None` for anything else.
pub fn order_gid(order_id: &str) -> Option<String> {
    let raw = order_id.trim();
    let digits = raw.strip_prefix("gid://shopify/Order/").unwrap_or(raw);
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(format!("gid://shopify/Order/{n}"))
        }
        _ => None,
    }
}

/// A location id as a gid, so `123` and `gid://shopify/Location/123` compare equal.
fn location_gid(location_id: &str) -> String {
    let raw = location_id.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        format!("gid://shopify/Location/{raw}")
    } else {
        raw.to_owned()
    }
}

/// The next cursor when `hasNextPage`, checked: a page that claims more without a cursor, or
/// hands back the cursor it was asked with, would loop.
fn next_cursor(
    page_info: Option<RawPageInfo>,
    previous: Option<&str>,
    what: &str,
) -> Result<Option<String>, ClientError> {
    let info = page_info.ok_or_else(|| bad(format!("{what}: pageInfo is missing")))?;
    match info.has_next_page {
        Some(false) => Ok(None),
        Some(true) => match info.end_cursor {
            Some(c) if !c.is_empty() && Some(c.as_str()) != previous => Ok(Some(c)),
            Some(c) if !c.is_empty() => Err(bad(format!("{what}: the cursor did not advance"))),
            _ => Err(bad(format!("{what}: hasNextPage without endCursor"))),
        },
        None => Err(bad(format!("{what}: pageInfo.hasNextPage is missing"))),
    }
}

fn convert_lines(raw: Vec<RawLine>, fo_id: &str) -> Result<Vec<FoLine>, ClientError> {
    raw.into_iter()
        .map(|line| {
            let id = line
                .id
                .filter(|id| !id.is_empty())
                .ok_or_else(|| bad(format!("a line of {fo_id} has no id")))?;
            let remaining = line
                .remaining_quantity
                .ok_or_else(|| bad(format!("line {id}: remainingQuantity is missing")))?;
            let remaining = u32::try_from(remaining).map_err(|_| {
                bad(format!(
                    "line {id}: remainingQuantity {remaining} is out of range"
                ))
            })?;
            let total = match line.total_quantity {
                None => remaining,
                Some(t) => u32::try_from(t)
                    .map_err(|_| bad(format!("line {id}: totalQuantity {t} is out of range")))?,
            };
            let item = line
                .line_item
                .ok_or_else(|| bad(format!("line {id}: lineItem is missing")))?;
            let line_item_id = item
                .id
                .filter(|i| !i.is_empty())
                .ok_or_else(|| bad(format!("line {id}: lineItem.id is missing")))?;
            // Same rule as the order import (`Sku::normalize`): trimmed, blank = no SKU.
            let sku = item
                .sku
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            Ok(FoLine {
                id,
                remaining,
                total,
                sku,
                line_item_id,
            })
        })
        .collect()
}

/// One fulfillment order and, when its lines continue on another page, the cursor.
fn convert_fo(raw: RawFo) -> Result<(FulfillmentOrder, Option<String>), ClientError> {
    let id = raw
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad("a fulfillment order has no id"))?;
    let status = raw
        .status
        .ok_or_else(|| bad(format!("{id}: status is missing")))?;
    let location_id = raw
        .assigned_location
        .and_then(|a| a.location)
        .and_then(|l| l.id)
        .filter(|l| !l.is_empty());
    let lines = raw
        .line_items
        .ok_or_else(|| bad(format!("{id}: lineItems is missing")))?;
    let nodes = lines
        .nodes
        .ok_or_else(|| bad(format!("{id}: lineItems.nodes is missing")))?;
    let cursor = next_cursor(lines.page_info, None, &format!("{id} lines"))?;
    let lines = convert_lines(nodes, &id)?;
    Ok((
        FulfillmentOrder {
            id,
            status: FoStatus::from_api(&status),
            location_id,
            lines,
        },
        cursor,
    ))
}

impl ShopifyClient {
    /// The fulfillment orders of `order_id` (a numeric REST id or `gid://shopify/Order/N`), all
    /// pages, in Shopify's order. `None` when the order does not exist or this app cannot see it
    /// (`order: null`, e.g. older than 60 days without `read_all_orders`).
    ///
    /// An `order_id` that is neither form is refused before any request, as
    /// `ClientError::BadResponse` (a stored id that is not an order id is a data bug, not a
    /// missing order). Pagination is bounded (100 fulfillment orders, ~1,000 lines each); more
    /// is also `BadResponse`.
    pub async fn fulfillment_orders(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        order_id: &str,
    ) -> Result<Option<Vec<FulfillmentOrder>>, ClientError> {
        let gid = order_gid(order_id).ok_or_else(|| {
            let shown: String = order_id.chars().take(40).collect();
            bad(format!(
                "not a Shopify order id: {shown:?} (nothing was sent)"
            ))
        })?;
        let mut orders: Vec<FulfillmentOrder> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut after: Option<String> = None;
        for page in 0..MAX_ORDER_PAGES {
            let data = self
                .graphql(
                    shop,
                    token,
                    FULFILLMENT_ORDERS_QUERY,
                    json!({ "id": gid, "after": after }),
                )
                .await?;
            let order = match data.get("order") {
                None => return Err(bad("order is missing from the response")),
                Some(Value::Null) if page == 0 => return Ok(None),
                Some(Value::Null) => return Err(bad("the order disappeared while paging")),
                Some(order) => order,
            };
            let order: RawOrder =
                serde_json::from_value(order.clone()).map_err(|e| bad(format!("order: {e}")))?;
            let connection = order
                .fulfillment_orders
                .ok_or_else(|| bad("order.fulfillmentOrders is missing"))?;
            let nodes = connection
                .nodes
                .ok_or_else(|| bad("order.fulfillmentOrders.nodes is missing"))?;
            for raw in nodes {
                let (mut fo, line_cursor) = convert_fo(raw)?;
                if !seen.insert(fo.id.clone()) {
                    return Err(bad(format!("{} appears twice", fo.id)));
                }
                if let Some(cursor) = line_cursor {
                    self.more_lines(shop, token, &mut fo, cursor).await?;
                }
                orders.push(fo);
            }
            after = next_cursor(connection.page_info, after.as_deref(), "fulfillmentOrders")?;
            if after.is_none() {
                return Ok(Some(orders));
            }
        }
        Err(bad(format!(
            "more than {} fulfillment orders",
            MAX_ORDER_PAGES * 10
        )))
    }

    /// Appends the lines of `fo` after `cursor`, page by page.
    async fn more_lines(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        fo: &mut FulfillmentOrder,
        mut cursor: String,
    ) -> Result<(), ClientError> {
        // The first page came with the order.
        for _ in 1..MAX_LINE_PAGES {
            let data = self
                .graphql(
                    shop,
                    token,
                    FULFILLMENT_ORDER_LINES_QUERY,
                    json!({ "id": fo.id, "after": cursor }),
                )
                .await?;
            let raw = match data.get("fulfillmentOrder") {
                Some(Value::Null) | None => {
                    return Err(bad(format!("{} disappeared while paging its lines", fo.id)))
                }
                Some(v) => v,
            };
            let raw: RawFoLines =
                serde_json::from_value(raw.clone()).map_err(|e| bad(format!("{}: {e}", fo.id)))?;
            let lines = raw
                .line_items
                .ok_or_else(|| bad(format!("{}: lineItems is missing", fo.id)))?;
            let nodes = lines
                .nodes
                .ok_or_else(|| bad(format!("{}: lineItems.nodes is missing", fo.id)))?;
            fo.lines.extend(convert_lines(nodes, &fo.id)?);
            match next_cursor(lines.page_info, Some(&cursor), &format!("{} lines", fo.id))? {
                Some(next) => cursor = next,
                None => return Ok(()),
            }
        }
        Err(bad(format!("{}: too many lines", fo.id)))
    }
}

// ---------------------------------------------------------------------------------------------
// The order's fulfillments (what earlier writes left)
// ---------------------------------------------------------------------------------------------

/// One fulfillment already on the order, as far as finding an earlier write needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFulfillment {
    /// `gid://shopify/Fulfillment/N`.
    pub id: String,
    /// `FulfillmentStatus` as sent (`SUCCESS`, `CANCELLED`…), kept as text.
    pub status: String,
    /// Its tracking numbers, trimmed, blanks left out.
    pub tracking_numbers: Vec<String>,
    /// The fulfillment orders it fulfilled (first 5). `None` when Shopify did not list them.
    pub fulfillment_orders: Option<Vec<String>>,
}

/// An order's fulfillments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFulfillments {
    pub fulfillments: Vec<OrderFulfillment>,
    /// `false` when Shopify returned as many as were asked for ([`MAX_FULFILLMENTS`]): there
    /// may be more, so "not found" proves nothing.
    pub complete: bool,
}

impl OrderFulfillments {
    /// The fulfillments carrying tracking number `number` (compared trimmed, exactly).
    pub fn carrying(&self, number: &str) -> Vec<&OrderFulfillment> {
        let number = number.trim();
        self.fulfillments
            .iter()
            .filter(|f| f.tracking_numbers.iter().any(|n| n == number))
            .collect()
    }
}

/// How many fulfillments are read. `Order.fulfillments` is a plain list (no cursor); real
/// orders have a handful (one per parcel).
pub const MAX_FULFILLMENTS: usize = 50;

/// The order's fulfillments with their tracking numbers and fulfillment orders. Cost ≈ 1 + 50
/// × (1 + 1 + 2 + 5) = 451, under the 1,000-point cap [S]. `Order.fulfillments(first:)` and
/// `Fulfillment.trackingInfo(first:)` are lists, `Fulfillment.fulfillmentOrders` a connection
/// (Admin API `Fulfillment` object, checked in the 2024-10 and 2025-10 docs [C]; unchanged in
/// 2026-10 as far as known [U]). A cancelled fulfillment carrying the number still counts as
/// the earlier write: the merchant undid it, and writing it again would undo that.
const ORDER_FULFILLMENTS_QUERY: &str = "query ChannelSyncOrderFulfillments($id: ID!) { order(id: $id) { id fulfillments(first: 50) { id status trackingInfo(first: 10) { number } fulfillmentOrders(first: 5) { nodes { id } } } } }";

#[derive(Deserialize)]
struct RawOrderWithFulfillments {
    fulfillments: Option<Vec<RawOrderFulfillment>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOrderFulfillment {
    id: Option<String>,
    status: Option<String>,
    tracking_info: Option<Vec<RawTrackingInfo>>,
    fulfillment_orders: Option<RawConnection<RawId>>,
}

#[derive(Deserialize)]
struct RawTrackingInfo {
    number: Option<String>,
}

impl ShopifyClient {
    /// The fulfillments of `order_id` (a numeric REST id or an order gid). `None` when the order
    /// does not exist or this app cannot see it. An `order_id` that is neither form is refused
    /// before any request (`BadResponse`), as for [`ShopifyClient::fulfillment_orders`].
    pub async fn order_fulfillments(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        order_id: &str,
    ) -> Result<Option<OrderFulfillments>, ClientError> {
        let gid = order_gid(order_id).ok_or_else(|| {
            let shown: String = order_id.chars().take(40).collect();
            bad(format!(
                "not a Shopify order id: {shown:?} (nothing was sent)"
            ))
        })?;
        let data = self
            .graphql(shop, token, ORDER_FULFILLMENTS_QUERY, json!({ "id": gid }))
            .await?;
        let order = match data.get("order") {
            None => return Err(bad("order is missing from the response")),
            Some(Value::Null) => return Ok(None),
            Some(order) => order,
        };
        let order: RawOrderWithFulfillments =
            serde_json::from_value(order.clone()).map_err(|e| bad(format!("order: {e}")))?;
        let raw = order
            .fulfillments
            .ok_or_else(|| bad("order.fulfillments is missing"))?;
        let complete = raw.len() < MAX_FULFILLMENTS;
        let mut fulfillments = Vec::with_capacity(raw.len());
        for f in raw {
            let id =
                f.id.filter(|id| !id.is_empty())
                    .ok_or_else(|| bad("a fulfillment has no id"))?;
            let tracking = f
                .tracking_info
                .ok_or_else(|| bad(format!("{id}: trackingInfo is missing")))?;
            let tracking_numbers = tracking
                .into_iter()
                .filter_map(|t| t.number)
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect();
            let fulfillment_orders = f.fulfillment_orders.and_then(|c| c.nodes).map(|nodes| {
                nodes
                    .into_iter()
                    .filter_map(|n| n.id)
                    .filter(|id| !id.is_empty())
                    .collect()
            });
            fulfillments.push(OrderFulfillment {
                id,
                status: f.status.unwrap_or_default(),
                tracking_numbers,
                fulfillment_orders,
            });
        }
        Ok(Some(OrderFulfillments {
            fulfillments,
            complete,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

/// What to fulfil: one group per location, each sent as its own `fulfillmentCreate` (Shopify
/// refuses one fulfillment spanning locations). With `location_id` given there is at most one
/// group. Groups come in the order their first fulfillment order appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentPlan {
    pub groups: Vec<PlanGroup>,
    /// Fulfillment orders at the location with units left whose status does not allow a
    /// fulfillment now (on hold, scheduled, incomplete, unknown): not part of the plan, listed so
    /// the caller can log or alert that the shipment leaves them open.
    pub held_back: Vec<(String, FoStatus)>,
}

/// The lines of one location: `(fulfillment order id, [(fulfillment order line id, quantity)])`,
/// the argument of [`ShopifyClient::create_fulfillment`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct PlanGroup {
    /// `None` when Shopify did not show the location; such a fulfillment order gets a group of
    /// its own (it cannot be proven to share a location with anything).
    pub location_id: Option<String>,
    pub by_fulfillment_order: Vec<(String, Vec<(String, u32)>)>,
}

/// Why a shipment cannot be planned. All are answers about the data as read: retrying with the
/// same fulfillment orders gives the same answer; `NotFulfillable`/`SkuNotFulfillable` may change
/// once the merchant releases a hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The order has no fulfillment orders this app can see.
    #[error("the order has no fulfillment orders visible to this app")]
    NoFulfillmentOrders,
    /// No fulfillment order is assigned to the requested location.
    #[error("no fulfillment order is assigned to location {location_id} (found: {found:?})")]
    NotAtLocation {
        location_id: String,
        /// The locations the fulfillment orders are assigned to.
        found: Vec<String>,
    },
    /// Nothing is left to fulfil and nothing was cancelled: every fulfillment order (at the
    /// location) is closed or has no units left. A retry of a shipment already written lands here.
    #[error("the order is already fulfilled")]
    AlreadyFulfilled,
    /// Nothing is left to fulfil and at least part of the order (at the location) was
    /// cancelled: the shipment may contain cancelled goods.
    #[error("the order is cancelled")]
    Cancelled,
    /// Units are left, but only on fulfillment orders whose status does not allow a fulfillment.
    #[error("no fulfillment order can be fulfilled now (statuses: {statuses:?})")]
    NotFulfillable { statuses: Vec<FoStatus> },
    /// The partial shipment lists no units.
    #[error("the shipment lists no units")]
    EmptyShipment,
    /// A shipped SKU is on no fulfillment order line (at the location). Matching is exact:
    /// case-sensitive, surrounding whitespace ignored.
    #[error("SKU {sku:?} is not on the order")]
    UnknownSku { sku: String },
    /// A shipped SKU has units left only on fulfillment orders that cannot be fulfilled now.
    #[error(
        "SKU {sku:?} is only on fulfillment orders that cannot be fulfilled now ({statuses:?})"
    )]
    SkuNotFulfillable {
        sku: String,
        statuses: Vec<FoStatus>,
    },
    /// More units of a SKU were shipped than are left to fulfil.
    #[error("SKU {sku:?}: shipped {shipped}, only {remaining} left to fulfil")]
    TooMuch {
        sku: String,
        shipped: u64,
        remaining: u64,
    },
}

/// Plans a shipment against `orders` (from [`ShopifyClient::fulfillment_orders`]).
///
/// - Only fulfillment orders with status OPEN or IN_PROGRESS are fulfilled, and with
///   `location_id` (a gid or numeric id) only those assigned to it.
/// - `shipped: None`: everything remaining on them.
/// - `shipped: Some(lines)`: a partial shipment of `(sku, quantity)`. Repeated SKUs add up,
///   zero quantities are ignored. Each SKU's quantity is taken from the matching lines in
///   Shopify's order (fulfillment order, then line), each up to its remaining quantity.
///
/// The result has one group per location; see [`FulfillmentPlan`].
pub fn plan_fulfillment(
    orders: &[FulfillmentOrder],
    location_id: Option<&str>,
    shipped: Option<&[(String, u32)]>,
) -> Result<FulfillmentPlan, PlanError> {
    // Checked first: a malformed shipment is the caller's bug whatever Shopify says.
    let wanted = match shipped {
        Some(lines) => Some(aggregate(lines)?),
        None => None,
    };
    if orders.is_empty() {
        return Err(PlanError::NoFulfillmentOrders);
    }
    let location = location_id.map(location_gid);
    let here: Vec<&FulfillmentOrder> = orders
        .iter()
        .filter(|fo| match &location {
            None => true,
            Some(l) => fo.location_id.as_deref().map(location_gid).as_ref() == Some(l),
        })
        .collect();
    if here.is_empty() {
        let mut found: Vec<String> = Vec::new();
        for l in orders.iter().filter_map(|fo| fo.location_id.clone()) {
            if !found.contains(&l) {
                found.push(l);
            }
        }
        return Err(PlanError::NotAtLocation {
            location_id: location.unwrap_or_default(),
            found,
        });
    }
    let open_units: u64 = here
        .iter()
        .filter(|fo| fo.status.is_fulfillable())
        .flat_map(|fo| &fo.lines)
        .map(|l| u64::from(l.remaining))
        .sum();
    if open_units == 0 {
        return Err(nothing_open(&here));
    }

    // (fulfillment order index in `here`, line index) → quantity.
    let mut take: HashMap<(usize, usize), u32> = HashMap::new();
    match wanted {
        None => {
            for (f, fo) in here.iter().enumerate() {
                if fo.status.is_fulfillable() {
                    for (l, line) in fo.lines.iter().enumerate() {
                        if line.remaining > 0 {
                            take.insert((f, l), line.remaining);
                        }
                    }
                }
            }
        }
        Some(wanted) => {
            for (sku, quantity) in wanted {
                allocate(&here, &sku, quantity, &mut take)?;
            }
        }
    }

    let mut groups: Vec<PlanGroup> = Vec::new();
    for (f, fo) in here.iter().enumerate() {
        let lines: Vec<(String, u32)> = fo
            .lines
            .iter()
            .enumerate()
            .filter_map(|(l, line)| take.get(&(f, l)).map(|q| (line.id.clone(), *q)))
            .collect();
        if lines.is_empty() {
            continue;
        }
        let entry = (fo.id.clone(), lines);
        let same_place = fo.location_id.as_ref().and_then(|loc| {
            groups
                .iter_mut()
                .find(|g| g.location_id.as_ref() == Some(loc))
        });
        match same_place {
            Some(group) => group.by_fulfillment_order.push(entry),
            None => groups.push(PlanGroup {
                location_id: fo.location_id.clone(),
                by_fulfillment_order: vec![entry],
            }),
        }
    }
    let held_back = here
        .iter()
        .filter(|fo| !fo.status.is_fulfillable() && !fo.status.is_final())
        .filter(|fo| fo.lines.iter().any(|l| l.remaining > 0))
        .map(|fo| (fo.id.clone(), fo.status.clone()))
        .collect();
    Ok(FulfillmentPlan { groups, held_back })
}

/// Trimmed SKUs with summed quantities, in first-seen order.
fn aggregate(lines: &[(String, u32)]) -> Result<Vec<(String, u64)>, PlanError> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for (sku, quantity) in lines {
        if *quantity == 0 {
            continue;
        }
        let sku = sku.trim();
        if sku.is_empty() {
            // A unit without a SKU cannot be matched to a line.
            return Err(PlanError::UnknownSku { sku: String::new() });
        }
        match out.iter_mut().find(|(s, _)| s == sku) {
            Some((_, total)) => *total += u64::from(*quantity),
            None => out.push((sku.to_owned(), u64::from(*quantity))),
        }
    }
    if out.is_empty() {
        return Err(PlanError::EmptyShipment);
    }
    Ok(out)
}

fn sku_matches(line: &FoLine, sku: &str) -> bool {
    line.sku.as_deref().map(str::trim) == Some(sku)
}

/// Takes `quantity` of `sku` from the fulfillable lines, in order.
fn allocate(
    here: &[&FulfillmentOrder],
    sku: &str,
    quantity: u64,
    take: &mut HashMap<(usize, usize), u32>,
) -> Result<(), PlanError> {
    let mut known = false;
    let mut available: u64 = 0;
    let mut blocked: Vec<FoStatus> = Vec::new();
    for fo in here {
        for line in fo.lines.iter().filter(|l| sku_matches(l, sku)) {
            known = true;
            if fo.status.is_fulfillable() {
                available += u64::from(line.remaining);
            } else if !fo.status.is_final() && line.remaining > 0 && !blocked.contains(&fo.status) {
                blocked.push(fo.status.clone());
            }
        }
    }
    if !known {
        return Err(PlanError::UnknownSku {
            sku: sku.to_owned(),
        });
    }
    if available == 0 && !blocked.is_empty() {
        return Err(PlanError::SkuNotFulfillable {
            sku: sku.to_owned(),
            statuses: blocked,
        });
    }
    if available < quantity {
        return Err(PlanError::TooMuch {
            sku: sku.to_owned(),
            shipped: quantity,
            remaining: available,
        });
    }
    let mut left = quantity;
    for (f, fo) in here.iter().enumerate() {
        if !fo.status.is_fulfillable() {
            continue;
        }
        for (l, line) in fo.lines.iter().enumerate() {
            if left == 0 {
                return Ok(());
            }
            if line.remaining == 0 || !sku_matches(line, sku) {
                continue;
            }
            // `take` has nothing for this line yet: each line has one SKU and SKUs are unique.
            let q = line.remaining.min(u32::try_from(left).unwrap_or(u32::MAX));
            left -= u64::from(q);
            take.insert((f, l), q);
        }
    }
    Ok(())
}

/// Why nothing at the location can be fulfilled now.
fn nothing_open(here: &[&FulfillmentOrder]) -> PlanError {
    let mut blocked: Vec<FoStatus> = Vec::new();
    for fo in here {
        let waiting = !fo.status.is_fulfillable() && !fo.status.is_final();
        if waiting && fo.lines.iter().any(|l| l.remaining > 0) && !blocked.contains(&fo.status) {
            blocked.push(fo.status.clone());
        }
    }
    if !blocked.is_empty() {
        PlanError::NotFulfillable { statuses: blocked }
    } else if here.iter().any(|fo| fo.status == FoStatus::Cancelled) {
        PlanError::Cancelled
    } else {
        PlanError::AlreadyFulfilled
    }
}

// ---------------------------------------------------------------------------------------------
// fulfillmentCreate
// ---------------------------------------------------------------------------------------------

pub use crate::channels::store::Tracking;

/// The created fulfillment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentCreated {
    /// `gid://shopify/Fulfillment/N`.
    pub id: String,
    /// `FulfillmentStatus` as sent (`SUCCESS`, …), kept as text: the caller only logs it.
    pub status: String,
}

/// One `userErrors` entry (`UserError` has no `code` on this payload [C]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserError {
    #[serde(default)]
    pub field: Option<Vec<String>>,
    pub message: String,
}

/// Why a fulfillment was not created.
#[derive(Debug, thiserror::Error)]
pub enum FulfillmentError {
    /// Shopify refused the fulfillment (`userErrors`: e.g. already fulfilled, not fulfillable,
    /// quantity too high). **Permanent**: nothing was created and the same request gets the same
    /// answer; re-read the fulfillment orders and re-plan, or give up and alert.
    #[error("Shopify refused the fulfillment: {}", messages(.0))]
    Rejected(Vec<UserError>),
    /// Refused before sending, because Shopify would misread it (an empty line list means "the
    /// whole fulfillment order"). **Permanent**: a bug in the caller.
    #[error("invalid fulfillment request: {0}")]
    Invalid(String),
    /// The call itself failed; classified as for every API call (`Unavailable`/`Throttled` are
    /// worth retrying — after re-reading the fulfillment orders, as the request may have been
    /// applied).
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn messages(errors: &[UserError]) -> String {
    errors
        .iter()
        .map(|e| match &e.field {
            Some(field) if !field.is_empty() => format!("{} ({})", e.message, field.join(".")),
            _ => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `message: null`: no note on the fulfillment. `FulfillmentInput` keeps to `trackingInfo`
/// with `number`/`url` (never the plural `numbers`/`urls`: Shopify refuses a mix [C]).
const FULFILLMENT_CREATE_MUTATION: &str = "mutation ChannelSyncFulfillmentCreate($fulfillment: FulfillmentInput!) { fulfillmentCreate(fulfillment: $fulfillment, message: null) { fulfillment { id status } userErrors { field message } } }";

/// Shopify's limit for any input array [C].
const MAX_INPUT_ITEMS: usize = 250;

/// The `FulfillmentInput` for one plan group, or why it must not be sent.
fn fulfillment_input(
    plan_group: &[(String, Vec<(String, u32)>)],
    tracking: &Tracking,
    notify_customer: bool,
) -> Result<Value, FulfillmentError> {
    let invalid = |m: String| Err(FulfillmentError::Invalid(m));
    if plan_group.is_empty() {
        return invalid("no fulfillment orders".into());
    }
    if plan_group.len() > MAX_INPUT_ITEMS {
        return invalid(format!("more than {MAX_INPUT_ITEMS} fulfillment orders"));
    }
    let mut by_fo = Vec::with_capacity(plan_group.len());
    for (fo_id, lines) in plan_group {
        if fo_id.trim().is_empty() {
            return invalid("a fulfillment order id is empty".into());
        }
        // Shopify reads an empty list as "fulfil all of it": never send one by accident.
        if lines.is_empty() {
            return invalid(format!("{fo_id} has no lines"));
        }
        if lines.len() > MAX_INPUT_ITEMS {
            return invalid(format!("{fo_id} has more than {MAX_INPUT_ITEMS} lines"));
        }
        let mut items = Vec::with_capacity(lines.len());
        for (line_id, quantity) in lines {
            if line_id.trim().is_empty() || *quantity == 0 {
                return invalid(format!("{fo_id} has an empty line id or a zero quantity"));
            }
            items.push(json!({ "id": line_id, "quantity": quantity }));
        }
        by_fo.push(json!({ "fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": items }));
    }
    let number = tracking.number.trim();
    if number.is_empty() {
        return invalid("the tracking number is empty".into());
    }
    let mut info = Map::new();
    let company = tracking.company.trim();
    if !company.is_empty() {
        info.insert("company".into(), json!(company));
    }
    info.insert("number".into(), json!(number));
    if let Some(url) = tracking
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        info.insert("url".into(), json!(url));
    }
    Ok(json!({
        "lineItemsByFulfillmentOrder": by_fo,
        "notifyCustomer": notify_customer,
        "trackingInfo": info,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCreatePayload {
    fulfillment: Option<RawFulfillment>,
    user_errors: Option<Vec<UserError>>,
}

#[derive(Deserialize)]
struct RawFulfillment {
    id: Option<String>,
    status: Option<String>,
}

impl ShopifyClient {
    /// Creates one fulfillment with tracking for one [`PlanGroup`]'s `by_fulfillment_order`
    /// (all of one location). `notify_customer` sends Shopify's shipping confirmation.
    pub async fn create_fulfillment(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        plan_group: &[(String, Vec<(String, u32)>)],
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<FulfillmentCreated, FulfillmentError> {
        let input = fulfillment_input(plan_group, tracking, notify_customer)?;
        let data = self
            .graphql(
                shop,
                token,
                FULFILLMENT_CREATE_MUTATION,
                json!({ "fulfillment": input }),
            )
            .await?;
        let payload = match data.get("fulfillmentCreate") {
            Some(Value::Null) | None => return Err(bad("fulfillmentCreate is missing").into()),
            Some(p) => p,
        };
        let payload: RawCreatePayload = serde_json::from_value(payload.clone())
            .map_err(|e| bad(format!("fulfillmentCreate: {e}")))?;
        let user_errors = payload
            .user_errors
            .ok_or_else(|| bad("fulfillmentCreate.userErrors is missing"))?;
        if !user_errors.is_empty() {
            return Err(FulfillmentError::Rejected(user_errors));
        }
        let fulfillment = payload
            .fulfillment
            .ok_or_else(|| bad("fulfillmentCreate returned no fulfillment and no userErrors"))?;
        match (fulfillment.id, fulfillment.status) {
            (Some(id), Some(status)) if !id.is_empty() => Ok(FulfillmentCreated { id, status }),
            _ => Err(bad("fulfillment.id or fulfillment.status is missing").into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    const TOKEN: &str = "shpat_fake_fulfillment_token";
    const GRAPHQL_PATH: &str = "/admin/api/2026-10/graphql.json";
    const LOC_A: &str = "gid://shopify/Location/1";
    const LOC_B: &str = "gid://shopify/Location/2";

    // ---- planner fixtures ----------------------------------------------------------------

    fn fo(
        id: &str,
        status: FoStatus,
        location: Option<&str>,
        lines: &[(&str, u32, Option<&str>)],
    ) -> FulfillmentOrder {
        FulfillmentOrder {
            id: id.into(),
            status,
            location_id: location.map(Into::into),
            lines: lines
                .iter()
                .map(|(id, remaining, sku)| FoLine {
                    id: (*id).into(),
                    remaining: *remaining,
                    total: *remaining,
                    sku: sku.map(Into::into),
                    line_item_id: format!("li-{id}"),
                })
                .collect(),
        }
    }

    fn group(location: Option<&str>, entries: &[(&str, &[(&str, u32)])]) -> PlanGroup {
        PlanGroup {
            location_id: location.map(Into::into),
            by_fulfillment_order: entries
                .iter()
                .map(|(fo, lines)| {
                    (
                        (*fo).to_owned(),
                        lines.iter().map(|(l, q)| ((*l).to_owned(), *q)).collect(),
                    )
                })
                .collect(),
        }
    }

    fn shipped(lines: &[(&str, u32)]) -> Vec<(String, u32)> {
        lines.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect()
    }

    // ---- planner: whole shipment ---------------------------------------------------------

    #[test]
    fn whole_shipment_takes_everything_remaining_on_open_and_in_progress() {
        let orders = [
            fo(
                "fo1",
                FoStatus::Open,
                Some(LOC_A),
                &[("l1", 2, Some("A")), ("l2", 0, Some("B"))],
            ),
            fo("fo2", FoStatus::InProgress, Some(LOC_A), &[("l3", 1, None)]),
            fo(
                "fo3",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l4", 0, Some("C"))],
            ),
            fo(
                "fo4",
                FoStatus::OnHold,
                Some(LOC_A),
                &[("l5", 3, Some("D"))],
            ),
            fo(
                "fo5",
                FoStatus::Scheduled,
                Some(LOC_A),
                &[("l6", 0, Some("E"))],
            ),
            fo(
                "fo6",
                FoStatus::Cancelled,
                Some(LOC_A),
                &[("l7", 4, Some("F"))],
            ),
        ];
        let plan = plan_fulfillment(&orders, None, None).unwrap();
        assert_eq!(
            plan.groups,
            vec![group(
                Some(LOC_A),
                &[("fo1", &[("l1", 2)]), ("fo2", &[("l3", 1)])]
            )]
        );
        // On hold with units left is reported; scheduled with nothing left and final ones are not.
        assert_eq!(plan.held_back, vec![("fo4".to_owned(), FoStatus::OnHold)]);
    }

    #[test]
    fn location_narrows_to_its_fulfillment_orders_and_accepts_a_numeric_id() {
        let orders = [
            fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
            fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 1, Some("A"))]),
            fo("fo3", FoStatus::Open, None, &[("l3", 1, Some("A"))]),
        ];
        let want = vec![group(Some(LOC_B), &[("fo2", &[("l2", 1)])])];
        assert_eq!(
            plan_fulfillment(&orders, Some(LOC_B), None).unwrap().groups,
            want
        );
        assert_eq!(
            plan_fulfillment(&orders, Some(" 2 "), None).unwrap().groups,
            want
        );
    }

    #[test]
    fn several_locations_give_one_group_each_and_unknown_locations_stay_apart() {
        let orders = [
            fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
            fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 2, Some("B"))]),
            fo("fo3", FoStatus::Open, Some(LOC_A), &[("l3", 3, Some("C"))]),
            fo("fo4", FoStatus::Open, None, &[("l4", 4, Some("D"))]),
            fo("fo5", FoStatus::Open, None, &[("l5", 5, Some("E"))]),
        ];
        let plan = plan_fulfillment(&orders, None, None).unwrap();
        assert_eq!(
            plan.groups,
            vec![
                group(Some(LOC_A), &[("fo1", &[("l1", 1)]), ("fo3", &[("l3", 3)])]),
                group(Some(LOC_B), &[("fo2", &[("l2", 2)])]),
                group(None, &[("fo4", &[("l4", 4)])]),
                group(None, &[("fo5", &[("l5", 5)])]),
            ]
        );
        // A partial shipment spanning locations is split the same way.
        let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("B", 1), ("A", 1)]))).unwrap();
        assert_eq!(
            plan.groups,
            vec![
                group(Some(LOC_A), &[("fo1", &[("l1", 1)])]),
                group(Some(LOC_B), &[("fo2", &[("l2", 1)])]),
            ]
        );
    }

    // ---- planner: nothing to fulfil ------------------------------------------------------

    #[test]
    fn no_fulfillment_orders() {
        assert_eq!(
            plan_fulfillment(&[], None, None),
            Err(PlanError::NoFulfillmentOrders)
        );
    }

    #[test]
    fn none_at_the_location_lists_where_they_are() {
        let orders = [
            fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
            fo("fo2", FoStatus::Open, Some(LOC_A), &[("l2", 1, Some("B"))]),
            fo("fo3", FoStatus::Open, None, &[("l3", 1, Some("C"))]),
        ];
        assert_eq!(
            plan_fulfillment(&orders, Some("99"), None),
            Err(PlanError::NotAtLocation {
                location_id: "gid://shopify/Location/99".into(),
                found: vec![LOC_A.into()],
            })
        );
    }

    #[test]
    fn all_closed_or_nothing_left_is_already_fulfilled() {
        let closed = [
            fo(
                "fo1",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l1", 0, Some("A"))],
            ),
            fo(
                "fo2",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l2", 0, Some("B"))],
            ),
        ];
        assert_eq!(
            plan_fulfillment(&closed, None, None),
            Err(PlanError::AlreadyFulfilled)
        );
        // The retry of a partial shipment already written: the order-level answer wins.
        assert_eq!(
            plan_fulfillment(&closed, None, Some(&shipped(&[("A", 1)]))),
            Err(PlanError::AlreadyFulfilled)
        );
        let open_but_done = [
            fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 0, Some("A"))]),
            fo(
                "fo2",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l2", 0, Some("B"))],
            ),
        ];
        assert_eq!(
            plan_fulfillment(&open_but_done, None, None),
            Err(PlanError::AlreadyFulfilled)
        );
        // Closed at the requested location; open elsewhere does not count.
        let mixed = [
            fo(
                "fo1",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l1", 0, Some("A"))],
            ),
            fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 1, Some("A"))]),
        ];
        assert_eq!(
            plan_fulfillment(&mixed, Some(LOC_A), None),
            Err(PlanError::AlreadyFulfilled)
        );
    }

    #[test]
    fn all_cancelled_or_cancelled_with_the_rest_closed_is_cancelled() {
        let cancelled = [
            fo(
                "fo1",
                FoStatus::Cancelled,
                Some(LOC_A),
                &[("l1", 2, Some("A"))],
            ),
            fo(
                "fo2",
                FoStatus::Cancelled,
                Some(LOC_A),
                &[("l2", 0, Some("B"))],
            ),
        ];
        assert_eq!(
            plan_fulfillment(&cancelled, None, None),
            Err(PlanError::Cancelled)
        );
        assert_eq!(
            plan_fulfillment(&cancelled, None, Some(&shipped(&[("A", 1)]))),
            Err(PlanError::Cancelled)
        );
        let partly = [
            fo(
                "fo1",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l1", 0, Some("A"))],
            ),
            fo(
                "fo2",
                FoStatus::Cancelled,
                Some(LOC_A),
                &[("l2", 1, Some("B"))],
            ),
        ];
        assert_eq!(
            plan_fulfillment(&partly, None, None),
            Err(PlanError::Cancelled)
        );
    }

    #[test]
    fn only_held_units_left_is_not_fulfillable_with_the_statuses() {
        let orders = [
            fo(
                "fo1",
                FoStatus::OnHold,
                Some(LOC_A),
                &[("l1", 1, Some("A"))],
            ),
            fo(
                "fo2",
                FoStatus::Scheduled,
                Some(LOC_A),
                &[("l2", 1, Some("B"))],
            ),
            fo(
                "fo3",
                FoStatus::Other("NEW_STATE".into()),
                Some(LOC_A),
                &[("l3", 1, Some("C"))],
            ),
            fo(
                "fo4",
                FoStatus::Incomplete,
                Some(LOC_A),
                &[("l4", 1, Some("D"))],
            ),
            fo(
                "fo5",
                FoStatus::OnHold,
                Some(LOC_A),
                &[("l5", 1, Some("E"))],
            ),
            fo(
                "fo6",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l6", 0, Some("F"))],
            ),
        ];
        assert_eq!(
            plan_fulfillment(&orders, None, None),
            Err(PlanError::NotFulfillable {
                statuses: vec![
                    FoStatus::OnHold,
                    FoStatus::Scheduled,
                    FoStatus::Other("NEW_STATE".into()),
                    FoStatus::Incomplete,
                ]
            })
        );
    }

    // ---- planner: partial shipments ------------------------------------------------------

    #[test]
    fn partial_shipment_allocates_across_lines_in_order() {
        let orders = [
            fo(
                "fo1",
                FoStatus::Open,
                Some(LOC_A),
                &[("l1", 2, Some("A")), ("l2", 5, Some("B"))],
            ),
            fo(
                "fo2",
                FoStatus::InProgress,
                Some(LOC_A),
                &[("l3", 3, Some("A")), ("l4", 1, Some("C"))],
            ),
            fo("fo3", FoStatus::Open, Some(LOC_A), &[("l5", 4, Some("A"))]),
        ];
        // A: 2 from l1, 2 from l3; repeated SKUs add up; zero quantities are ignored.
        let plan = plan_fulfillment(
            &orders,
            None,
            Some(&shipped(&[("A", 3), ("C", 0), ("B", 1), ("A", 1)])),
        )
        .unwrap();
        assert_eq!(
            plan.groups,
            vec![group(
                Some(LOC_A),
                &[("fo1", &[("l1", 2), ("l2", 1)]), ("fo2", &[("l3", 2)])]
            )]
        );
        assert!(plan.held_back.is_empty());
    }

    #[test]
    fn partial_shipment_of_nothing_is_refused() {
        let orders = [fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[("l1", 2, Some("A"))],
        )];
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&[])),
            Err(PlanError::EmptyShipment)
        );
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&shipped(&[("A", 0)]))),
            Err(PlanError::EmptyShipment)
        );
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&shipped(&[("  ", 1)]))),
            Err(PlanError::UnknownSku { sku: String::new() })
        );
    }

    #[test]
    fn sku_matching_is_exact_case_sensitive_and_trimmed() {
        let orders = [fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[
                ("l1", 2, Some("Tee-M")),
                ("l2", 1, None),
                ("l3", 1, Some(" Cap ")),
            ],
        )];
        let unknown = |sku: &str| {
            plan_fulfillment(&orders, None, Some(&shipped(&[(sku, 1)]))).map(|p| p.groups)
        };
        assert_eq!(
            unknown("tee-m"),
            Err(PlanError::UnknownSku {
                sku: "tee-m".into()
            })
        );
        assert_eq!(
            unknown("Tee"),
            Err(PlanError::UnknownSku { sku: "Tee".into() })
        );
        assert_eq!(
            unknown("  Tee-M\t"),
            Ok(vec![group(Some(LOC_A), &[("fo1", &[("l1", 1)])])])
        );
        // Surrounding spaces on Shopify's side are ignored as well.
        assert_eq!(
            unknown("Cap"),
            Ok(vec![group(Some(LOC_A), &[("fo1", &[("l3", 1)])])])
        );
    }

    #[test]
    fn skus_with_slashes_match_whole() {
        let orders = [fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[("l1", 1, Some("TS/RED/M")), ("l2", 2, Some("TS/RED"))],
        )];
        let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("TS/RED/M", 1)]))).unwrap();
        assert_eq!(
            plan.groups,
            vec![group(Some(LOC_A), &[("fo1", &[("l1", 1)])])]
        );
        let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("TS/RED", 2)]))).unwrap();
        assert_eq!(
            plan.groups,
            vec![group(Some(LOC_A), &[("fo1", &[("l2", 2)])])]
        );
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&shipped(&[("TS/", 1)]))),
            Err(PlanError::UnknownSku { sku: "TS/".into() })
        );
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&shipped(&[("TS%2FRED", 1)]))),
            Err(PlanError::UnknownSku {
                sku: "TS%2FRED".into()
            })
        );
    }

    #[test]
    fn sku_at_another_location_is_unknown_there() {
        let orders = [
            fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
            fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 1, Some("B"))]),
        ];
        assert_eq!(
            plan_fulfillment(&orders, Some(LOC_A), Some(&shipped(&[("B", 1)]))),
            Err(PlanError::UnknownSku { sku: "B".into() })
        );
    }

    #[test]
    fn more_than_remaining_is_too_much_with_the_numbers() {
        let orders = [
            fo(
                "fo1",
                FoStatus::Open,
                Some(LOC_A),
                &[("l1", 2, Some("A")), ("l2", 1, Some("B"))],
            ),
            fo("fo2", FoStatus::Open, Some(LOC_A), &[("l3", 1, Some("A"))]),
            // Units on a closed fulfillment order are not left to fulfil.
            fo(
                "fo3",
                FoStatus::Closed,
                Some(LOC_A),
                &[("l4", 0, Some("A"))],
            ),
        ];
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&shipped(&[("A", 3), ("A", 1)]))),
            Err(PlanError::TooMuch {
                sku: "A".into(),
                shipped: 4,
                remaining: 3
            })
        );
        // A SKU fully fulfilled while others are open.
        let orders = [fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[("l1", 0, Some("A")), ("l2", 1, Some("B"))],
        )];
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&shipped(&[("A", 1)]))),
            Err(PlanError::TooMuch {
                sku: "A".into(),
                shipped: 1,
                remaining: 0
            })
        );
    }

    #[test]
    fn huge_quantities_do_not_overflow() {
        let orders = [fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[("l1", u32::MAX, Some("A"))],
        )];
        assert_eq!(
            plan_fulfillment(
                &orders,
                None,
                Some(&shipped(&[("A", u32::MAX), ("A", u32::MAX)]))
            ),
            Err(PlanError::TooMuch {
                sku: "A".into(),
                shipped: 2 * u64::from(u32::MAX),
                remaining: u64::from(u32::MAX)
            })
        );
        let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("A", u32::MAX)]))).unwrap();
        assert_eq!(
            plan.groups,
            vec![group(Some(LOC_A), &[("fo1", &[("l1", u32::MAX)])])]
        );
    }

    #[test]
    fn sku_only_on_held_fulfillment_orders_is_not_fulfillable() {
        let orders = [
            fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
            fo(
                "fo2",
                FoStatus::OnHold,
                Some(LOC_A),
                &[("l2", 2, Some("B"))],
            ),
        ];
        assert_eq!(
            plan_fulfillment(&orders, None, Some(&shipped(&[("A", 1), ("B", 1)]))),
            Err(PlanError::SkuNotFulfillable {
                sku: "B".into(),
                statuses: vec![FoStatus::OnHold]
            })
        );
        let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("A", 1)]))).unwrap();
        assert_eq!(
            plan.groups,
            vec![group(Some(LOC_A), &[("fo1", &[("l1", 1)])])]
        );
        assert_eq!(plan.held_back, vec![("fo2".to_owned(), FoStatus::OnHold)]);
    }

    #[test]
    fn statuses_and_ids() {
        for (raw, status) in [
            ("OPEN", FoStatus::Open),
            ("IN_PROGRESS", FoStatus::InProgress),
            ("SCHEDULED", FoStatus::Scheduled),
            ("ON_HOLD", FoStatus::OnHold),
            ("INCOMPLETE", FoStatus::Incomplete),
            ("CLOSED", FoStatus::Closed),
            ("CANCELLED", FoStatus::Cancelled),
            ("open", FoStatus::Other("open".into())),
        ] {
            assert_eq!(FoStatus::from_api(raw), status);
        }
        assert_eq!(
            order_gid("5678901234").as_deref(),
            Some("gid://shopify/Order/5678901234")
        );
        assert_eq!(
            order_gid(" gid://shopify/Order/42 ").as_deref(),
            Some("gid://shopify/Order/42")
        );
        for bad in [
            "",
            "0",
            "-1",
            "+5",
            "12a",
            "gid://shopify/Order/",
            "gid://shopify/Product/1",
            "gid://shopify/Order/1/2",
            "99999999999999999999999",
        ] {
            assert_eq!(order_gid(bad), None, "{bad:?} accepted");
        }
    }

    // ---- client fixtures -----------------------------------------------------------------

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    fn token() -> Secret {
        Secret::new(TOKEN)
    }

    fn client(server: &MockServer) -> ShopifyClient {
        ShopifyClient::new(Some(server.uri())).unwrap()
    }

    /// A mock that matches only the exact request and must be called `times` times.
    async fn expect_call(
        server: &MockServer,
        query: &str,
        variables: Value,
        response: ResponseTemplate,
        times: u64,
    ) {
        Mock::given(method("POST"))
            .and(path(GRAPHQL_PATH))
            .and(header("X-Shopify-Access-Token", TOKEN))
            .and(body_json(json!({ "query": query, "variables": variables })))
            .respond_with(response)
            .expect(times)
            .mount(server)
            .await;
    }

    /// Fails the test on any request at all.
    async fn expect_no_request(server: &MockServer) {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(server)
            .await;
    }

    fn ok(body: Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(body)
    }

    fn page_info(next: Option<&str>) -> Value {
        json!({ "hasNextPage": next.is_some(), "endCursor": next.unwrap_or("end") })
    }

    fn line_json(id: &str, remaining: i64, sku: Value) -> Value {
        json!({
            "id": format!("gid://shopify/FulfillmentOrderLineItem/{id}"),
            "remainingQuantity": remaining,
            "totalQuantity": remaining,
            "lineItem": { "id": format!("gid://shopify/LineItem/{id}"), "sku": sku }
        })
    }

    fn fo_json(
        id: &str,
        status: &str,
        location: Value,
        lines: Vec<Value>,
        next: Option<&str>,
    ) -> Value {
        json!({
            "id": format!("gid://shopify/FulfillmentOrder/{id}"),
            "status": status,
            "assignedLocation": { "location": location },
            "lineItems": { "nodes": lines, "pageInfo": page_info(next) }
        })
    }

    fn order_page(fos: Vec<Value>, next: Option<&str>) -> Value {
        json!({
            "data": { "order": {
                "id": "gid://shopify/Order/5678901234",
                "fulfillmentOrders": { "nodes": fos, "pageInfo": page_info(next) }
            }},
            "extensions": { "cost": { "requestedQueryCost": 864, "actualQueryCost": 12 } }
        })
    }

    fn gid_order() -> Value {
        json!("gid://shopify/Order/5678901234")
    }

    // ---- client: fulfillment orders ------------------------------------------------------

    #[tokio::test]
    async fn fulfillment_orders_sends_the_exact_query_and_reads_one_page() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": null }),
            ok(order_page(
                vec![
                    fo_json(
                        "9",
                        "OPEN",
                        json!({ "id": "gid://shopify/Location/87516708954" }),
                        vec![
                            line_json("77", 2, json!("ABC-1")),
                            line_json("78", 1, json!("  ")),
                            line_json("79", 0, json!(null)),
                        ],
                        None,
                    ),
                    fo_json("10", "SOMETHING_NEW", Value::Null, vec![], None),
                ],
                None,
            )),
            1,
        )
        .await;
        let orders = client(&server)
            .fulfillment_orders(&shop(), &token(), "5678901234")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            orders,
            vec![
                FulfillmentOrder {
                    id: "gid://shopify/FulfillmentOrder/9".into(),
                    status: FoStatus::Open,
                    location_id: Some("gid://shopify/Location/87516708954".into()),
                    lines: vec![
                        FoLine {
                            id: "gid://shopify/FulfillmentOrderLineItem/77".into(),
                            remaining: 2,
                            total: 2,
                            sku: Some("ABC-1".into()),
                            line_item_id: "gid://shopify/LineItem/77".into(),
                        },
                        FoLine {
                            id: "gid://shopify/FulfillmentOrderLineItem/78".into(),
                            remaining: 1,
                            total: 1,
                            sku: None,
                            line_item_id: "gid://shopify/LineItem/78".into(),
                        },
                        FoLine {
                            id: "gid://shopify/FulfillmentOrderLineItem/79".into(),
                            remaining: 0,
                            total: 0,
                            sku: None,
                            line_item_id: "gid://shopify/LineItem/79".into(),
                        },
                    ],
                },
                FulfillmentOrder {
                    id: "gid://shopify/FulfillmentOrder/10".into(),
                    status: FoStatus::Other("SOMETHING_NEW".into()),
                    location_id: None,
                    lines: vec![],
                },
            ]
        );
    }

    #[tokio::test]
    async fn fulfillment_orders_and_their_lines_are_paged_by_cursor() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": null }),
            ok(order_page(
                vec![fo_json(
                    "1",
                    "OPEN",
                    json!({ "id": LOC_A }),
                    vec![
                        line_json("11", 1, json!("A")),
                        line_json("12", 1, json!("B")),
                    ],
                    Some("lines-cursor-1"),
                )],
                Some("fo-cursor-1"),
            )),
            1,
        )
        .await;
        expect_call(
            &server,
            FULFILLMENT_ORDER_LINES_QUERY,
            json!({ "id": "gid://shopify/FulfillmentOrder/1", "after": "lines-cursor-1" }),
            ok(json!({ "data": { "fulfillmentOrder": { "lineItems": {
                "nodes": [line_json("13", 3, json!("C"))],
                "pageInfo": page_info(Some("lines-cursor-2"))
            }}}})),
            1,
        )
        .await;
        expect_call(
            &server,
            FULFILLMENT_ORDER_LINES_QUERY,
            json!({ "id": "gid://shopify/FulfillmentOrder/1", "after": "lines-cursor-2" }),
            ok(json!({ "data": { "fulfillmentOrder": { "lineItems": {
                "nodes": [line_json("14", 4, json!("D"))],
                "pageInfo": page_info(None)
            }}}})),
            1,
        )
        .await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": "fo-cursor-1" }),
            ok(order_page(
                vec![fo_json(
                    "2",
                    "CLOSED",
                    json!({ "id": LOC_B }),
                    vec![line_json("21", 0, json!("A"))],
                    None,
                )],
                None,
            )),
            1,
        )
        .await;
        let orders = client(&server)
            .fulfillment_orders(&shop(), &token(), "gid://shopify/Order/5678901234")
            .await
            .unwrap()
            .unwrap();
        let summary: Vec<(String, Vec<String>)> = orders
            .iter()
            .map(|fo| {
                (
                    fo.id.clone(),
                    fo.lines.iter().map(|l| l.id.clone()).collect(),
                )
            })
            .collect();
        let line = |n: u32| format!("gid://shopify/FulfillmentOrderLineItem/{n}");
        assert_eq!(
            summary,
            vec![
                (
                    "gid://shopify/FulfillmentOrder/1".to_owned(),
                    vec![line(11), line(12), line(13), line(14)]
                ),
                (
                    "gid://shopify/FulfillmentOrder/2".to_owned(),
                    vec![line(21)]
                ),
            ]
        );
        assert_eq!(orders[1].status, FoStatus::Closed);
    }

    #[tokio::test]
    async fn paging_is_bounded() {
        let server = MockServer::start().await;
        // Every page claims another one, with a fresh cursor each time.
        let endless = |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let n = body["variables"]["after"]
                .as_str()
                .and_then(|c| c.strip_prefix('c'))
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0);
            let next = format!("c{}", n + 1);
            ResponseTemplate::new(200).set_body_json(order_page(
                vec![fo_json(&n.to_string(), "OPEN", Value::Null, vec![], None)],
                Some(&next),
            ))
        };
        Mock::given(method("POST"))
            .and(path(GRAPHQL_PATH))
            .respond_with(endless)
            .expect(MAX_ORDER_PAGES as u64)
            .mount(&server)
            .await;
        let err = client(&server)
            .fulfillment_orders(&shop(), &token(), "5678901234")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("more than 100")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_cursor_that_does_not_advance_stops_paging() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": null }),
            ok(order_page(vec![], Some("same"))),
            1,
        )
        .await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": "same" }),
            ok(order_page(vec![], Some("same"))),
            1,
        )
        .await;
        let err = client(&server)
            .fulfillment_orders(&shop(), &token(), "5678901234")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("did not advance")),
            "{err:?}"
        );
    }

    // ---- client: the order's fulfillments ------------------------------------------------

    #[tokio::test]
    async fn order_fulfillments_sends_the_exact_query_and_finds_a_tracking_number() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            ORDER_FULFILLMENTS_QUERY,
            json!({ "id": gid_order() }),
            ok(json!({ "data": { "order": { "id": gid_order(), "fulfillments": [
                { "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS",
                  "trackingInfo": [{ "number": " 1Z999 " }, { "number": null }, { "number": "" }],
                  "fulfillmentOrders": { "nodes": [{ "id": "gid://shopify/FulfillmentOrder/9" }] } },
                { "id": "gid://shopify/Fulfillment/2", "status": "CANCELLED",
                  "trackingInfo": [{ "number": "JD0001" }] }
            ]}}})),
            1,
        )
        .await;
        let found = client(&server)
            .order_fulfillments(&shop(), &token(), "5678901234")
            .await
            .unwrap()
            .unwrap();
        assert!(found.complete);
        assert_eq!(
            found.fulfillments[0],
            OrderFulfillment {
                id: "gid://shopify/Fulfillment/1".into(),
                status: "SUCCESS".into(),
                tracking_numbers: vec!["1Z999".into()],
                fulfillment_orders: Some(vec!["gid://shopify/FulfillmentOrder/9".into()]),
            }
        );
        // Not listed: unknown, not "none".
        assert_eq!(found.fulfillments[1].fulfillment_orders, None);
        let ours: Vec<&str> = found
            .carrying("1Z999")
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(ours, ["gid://shopify/Fulfillment/1"]);
        assert!(found.carrying("1Z99").is_empty(), "exact numbers only");
    }

    #[tokio::test]
    async fn order_fulfillments_unknown_order_full_list_and_odd_answers() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::body_partial_json(
                json!({"variables": {"id": "gid://shopify/Order/404"}}),
            ))
            .respond_with(ok(json!({ "data": { "order": null } })))
            .mount(&server)
            .await;
        let many: Vec<Value> = (0..MAX_FULFILLMENTS)
            .map(|n| json!({ "id": format!("gid://shopify/Fulfillment/{n}"), "trackingInfo": [] }))
            .collect();
        Mock::given(method("POST"))
            .and(wiremock::matchers::body_partial_json(
                json!({"variables": {"id": "gid://shopify/Order/50"}}),
            ))
            .respond_with(ok(json!({ "data": { "order": { "fulfillments": many } } })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::body_partial_json(
                json!({"variables": {"id": "gid://shopify/Order/7"}}),
            ))
            .respond_with(ok(
                json!({ "data": { "order": { "id": "gid://shopify/Order/7" } } }),
            ))
            .mount(&server)
            .await;
        let c = client(&server);
        assert_eq!(
            c.order_fulfillments(&shop(), &token(), "404")
                .await
                .unwrap(),
            None
        );
        let full = c
            .order_fulfillments(&shop(), &token(), "50")
            .await
            .unwrap()
            .unwrap();
        assert!(!full.complete, "a full list may hide more");
        let err = c
            .order_fulfillments(&shop(), &token(), "7")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("fulfillments is missing")),
            "{err:?}"
        );
        let err = c
            .order_fulfillments(&shop(), &token(), "x/1")
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::BadResponse(_)), "{err:?}");
    }

    #[tokio::test]
    async fn unknown_order_is_none() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": "gid://shopify/Order/404", "after": null }),
            ok(json!({ "data": { "order": null } })),
            1,
        )
        .await;
        let found = client(&server)
            .fulfillment_orders(&shop(), &token(), "404")
            .await
            .unwrap();
        assert_eq!(found, None);
    }

    #[tokio::test]
    async fn an_invalid_order_id_is_refused_without_a_request() {
        let server = MockServer::start().await;
        expect_no_request(&server).await;
        for bad in ["#1001", "gid://shopify/Product/1", ""] {
            let err = client(&server)
                .fulfillment_orders(&shop(), &token(), bad)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ClientError::BadResponse(m) if m.contains("not a Shopify order id")),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn missing_or_impossible_fields_are_bad_responses() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({ "data": { "shop": {} } }), "order is missing"),
            (
                json!({ "data": { "order": { "id": "x" } } }),
                "fulfillmentOrders is missing",
            ),
            (
                order_page(
                    vec![json!({ "id": "gid://shopify/FulfillmentOrder/1",
                        "assignedLocation": null,
                        "lineItems": { "nodes": [], "pageInfo": page_info(None) } })],
                    None,
                ),
                "status is missing",
            ),
            (
                order_page(
                    vec![fo_json(
                        "1",
                        "OPEN",
                        Value::Null,
                        vec![line_json("5", -1, json!("A"))],
                        None,
                    )],
                    None,
                ),
                "out of range",
            ),
            (
                order_page(
                    vec![fo_json(
                        "1",
                        "OPEN",
                        Value::Null,
                        vec![json!({ "id": "gid://shopify/FulfillmentOrderLineItem/5",
                            "remainingQuantity": 1 })],
                        None,
                    )],
                    None,
                ),
                "lineItem is missing",
            ),
            (
                order_page(
                    vec![fo_json(
                        "1",
                        "OPEN",
                        Value::Null,
                        vec![json!({ "id": "gid://shopify/FulfillmentOrderLineItem/5",
                            "remainingQuantity": "1", "lineItem": { "id": "x", "sku": "A" } })],
                        None,
                    )],
                    None,
                ),
                "invalid type",
            ),
            (
                json!({ "data": { "order": { "fulfillmentOrders": {
                    "nodes": [], "pageInfo": { "hasNextPage": true, "endCursor": null } } } } }),
                "hasNextPage without endCursor",
            ),
            (
                json!({ "data": { "order": { "fulfillmentOrders": { "nodes": [] } } } }),
                "pageInfo is missing",
            ),
            (
                order_page(
                    vec![
                        fo_json("1", "OPEN", Value::Null, vec![], None),
                        fo_json("1", "OPEN", Value::Null, vec![], None),
                    ],
                    None,
                ),
                "appears twice",
            ),
        ];
        for (body, expected) in cases {
            let server = MockServer::start().await;
            expect_call(
                &server,
                FULFILLMENT_ORDERS_QUERY,
                json!({ "id": gid_order(), "after": null }),
                ok(body),
                1,
            )
            .await;
            let err = client(&server)
                .fulfillment_orders(&shop(), &token(), "5678901234")
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ClientError::BadResponse(m) if m.contains(expected)),
                "expected {expected:?}, got {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn fulfillment_orders_401_and_html() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": null }),
            ResponseTemplate::new(401).set_body_string("[API] Invalid API key or access token"),
            1,
        )
        .await;
        let err = client(&server)
            .fulfillment_orders(&shop(), &token(), "5678901234")
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unauthorized), "{err:?}");
        assert!(!format!("{err:?} {err}").contains(TOKEN));

        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": null }),
            ResponseTemplate::new(200).set_body_string("<html>Log in</html>"),
            1,
        )
        .await;
        let err = client(&server)
            .fulfillment_orders(&shop(), &token(), "5678901234")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("not JSON")),
            "{err:?}"
        );
    }

    // ---- client: fulfillmentCreate -------------------------------------------------------

    /// What `create_fulfillment` takes.
    type GroupInput = Vec<(String, Vec<(String, u32)>)>;

    fn plan_group() -> GroupInput {
        vec![
            (
                "gid://shopify/FulfillmentOrder/9".into(),
                vec![
                    ("gid://shopify/FulfillmentOrderLineItem/77".into(), 2),
                    ("gid://shopify/FulfillmentOrderLineItem/78".into(), 1),
                ],
            ),
            (
                "gid://shopify/FulfillmentOrder/10".into(),
                vec![("gid://shopify/FulfillmentOrderLineItem/80".into(), 5)],
            ),
        ]
    }

    fn expected_line_items() -> Value {
        json!([
            { "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/9",
              "fulfillmentOrderLineItems": [
                { "id": "gid://shopify/FulfillmentOrderLineItem/77", "quantity": 2 },
                { "id": "gid://shopify/FulfillmentOrderLineItem/78", "quantity": 1 } ] },
            { "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/10",
              "fulfillmentOrderLineItems": [
                { "id": "gid://shopify/FulfillmentOrderLineItem/80", "quantity": 5 } ] }
        ])
    }

    fn created() -> ResponseTemplate {
        ok(json!({ "data": { "fulfillmentCreate": {
            "fulfillment": { "id": "gid://shopify/Fulfillment/555", "status": "SUCCESS" },
            "userErrors": []
        }}}))
    }

    #[tokio::test]
    async fn create_fulfillment_sends_the_exact_mutation() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_CREATE_MUTATION,
            json!({ "fulfillment": {
                "lineItemsByFulfillmentOrder": expected_line_items(),
                "notifyCustomer": true,
                "trackingInfo": {
                    "company": "DHL Express",
                    "number": "1234567890",
                    "url": "https://track.example/1234567890"
                }
            }}),
            created(),
            1,
        )
        .await;
        let tracking = Tracking {
            company: "DHL Express".into(),
            number: " 1234567890 ".into(),
            url: Some("https://track.example/1234567890".into()),
        };
        let done = client(&server)
            .create_fulfillment(&shop(), &token(), &plan_group(), &tracking, true)
            .await
            .unwrap();
        assert_eq!(
            done,
            FulfillmentCreated {
                id: "gid://shopify/Fulfillment/555".into(),
                status: "SUCCESS".into()
            }
        );
    }

    #[tokio::test]
    async fn create_fulfillment_leaves_out_a_missing_url_and_a_blank_company() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_CREATE_MUTATION,
            json!({ "fulfillment": {
                "lineItemsByFulfillmentOrder": expected_line_items(),
                "notifyCustomer": false,
                "trackingInfo": { "company": "UPS", "number": "1Z999" }
            }}),
            created(),
            2,
        )
        .await;
        expect_call(
            &server,
            FULFILLMENT_CREATE_MUTATION,
            json!({ "fulfillment": {
                "lineItemsByFulfillmentOrder": expected_line_items(),
                "notifyCustomer": false,
                "trackingInfo": { "number": "LETTER-1" }
            }}),
            created(),
            1,
        )
        .await;
        let c = client(&server);
        for url in [None, Some("  ".to_owned())] {
            let tracking = Tracking {
                company: "UPS".into(),
                number: "1Z999".into(),
                url,
            };
            c.create_fulfillment(&shop(), &token(), &plan_group(), &tracking, false)
                .await
                .unwrap();
        }
        let tracking = Tracking {
            company: " ".into(),
            number: "LETTER-1".into(),
            url: None,
        };
        c.create_fulfillment(&shop(), &token(), &plan_group(), &tracking, false)
            .await
            .unwrap();
    }

    fn ups() -> Tracking {
        Tracking {
            company: "UPS".into(),
            number: "1Z999".into(),
            url: None,
        }
    }

    fn ups_variables() -> Value {
        json!({ "fulfillment": {
            "lineItemsByFulfillmentOrder": expected_line_items(),
            "notifyCustomer": false,
            "trackingInfo": { "company": "UPS", "number": "1Z999" }
        }})
    }

    #[tokio::test]
    async fn user_errors_are_a_permanent_rejection() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_CREATE_MUTATION,
            ups_variables(),
            ok(json!({ "data": { "fulfillmentCreate": {
                "fulfillment": null,
                "userErrors": [
                    { "field": ["fulfillment", "lineItemsByFulfillmentOrder", "0"],
                      "message": "Fulfillment order is already fulfilled" },
                    { "field": null, "message": "Invalid quantity" }
                ]
            }}})),
            1,
        )
        .await;
        let err = client(&server)
            .create_fulfillment(&shop(), &token(), &plan_group(), &ups(), false)
            .await
            .unwrap_err();
        match &err {
            FulfillmentError::Rejected(errors) => assert_eq!(
                errors,
                &vec![
                    UserError {
                        field: Some(vec![
                            "fulfillment".into(),
                            "lineItemsByFulfillmentOrder".into(),
                            "0".into()
                        ]),
                        message: "Fulfillment order is already fulfilled".into(),
                    },
                    UserError {
                        field: None,
                        message: "Invalid quantity".into()
                    },
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "Shopify refused the fulfillment: Fulfillment order is already fulfilled \
             (fulfillment.lineItemsByFulfillmentOrder.0); Invalid quantity"
        );
    }

    #[tokio::test]
    async fn create_fulfillment_401_is_unauthorized() {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_CREATE_MUTATION,
            ups_variables(),
            ResponseTemplate::new(401),
            1,
        )
        .await;
        let err = client(&server)
            .create_fulfillment(&shop(), &token(), &plan_group(), &ups(), false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FulfillmentError::Client(ClientError::Unauthorized)),
            "{err:?}"
        );
        assert!(!format!("{err:?} {err}").contains(TOKEN));
    }

    #[tokio::test]
    async fn create_fulfillment_odd_answers_are_bad_responses() {
        for (body, expected) in [
            (
                json!({ "data": { "fulfillmentCreate": null } }),
                "fulfillmentCreate is missing",
            ),
            (
                json!({ "data": { "fulfillmentCreate": { "fulfillment": null, "userErrors": [] } } }),
                "no fulfillment and no userErrors",
            ),
            (
                json!({ "data": { "fulfillmentCreate": {
                    "fulfillment": { "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS" } } } }),
                "userErrors is missing",
            ),
            (
                json!({ "data": { "fulfillmentCreate": {
                    "fulfillment": { "id": "gid://shopify/Fulfillment/1" }, "userErrors": [] } } }),
                "status is missing",
            ),
        ] {
            let server = MockServer::start().await;
            expect_call(
                &server,
                FULFILLMENT_CREATE_MUTATION,
                ups_variables(),
                ok(body),
                1,
            )
            .await;
            let err = client(&server)
                .create_fulfillment(&shop(), &token(), &plan_group(), &ups(), false)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, FulfillmentError::Client(ClientError::BadResponse(m)) if m.contains(expected)),
                "expected {expected:?}, got {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_request_shopify_would_misread_is_never_sent() {
        let server = MockServer::start().await;
        expect_no_request(&server).await;
        let c = client(&server);
        let fo = |lines: Vec<(String, u32)>| {
            vec![("gid://shopify/FulfillmentOrder/9".to_owned(), lines)]
        };
        let line = |q: u32| ("gid://shopify/FulfillmentOrderLineItem/77".to_owned(), q);
        let too_many: GroupInput = (0..251)
            .map(|i| (format!("gid://shopify/FulfillmentOrder/{i}"), vec![line(1)]))
            .collect();
        let cases: Vec<(GroupInput, Tracking, &str)> = vec![
            (vec![], ups(), "no fulfillment orders"),
            (fo(vec![]), ups(), "has no lines"),
            (fo(vec![line(0)]), ups(), "zero quantity"),
            (fo(vec![(" ".into(), 1)]), ups(), "empty line id"),
            (vec![(String::new(), vec![line(1)])], ups(), "id is empty"),
            (too_many, ups(), "more than 250"),
            (
                fo(vec![line(1)]),
                Tracking {
                    company: "UPS".into(),
                    number: "  ".into(),
                    url: None,
                },
                "tracking number is empty",
            ),
        ];
        for (group, tracking, expected) in cases {
            let err = c
                .create_fulfillment(&shop(), &token(), &group, &tracking, true)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, FulfillmentError::Invalid(m) if m.contains(expected)),
                "expected {expected:?}, got {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn plan_then_create_sends_one_group() {
        // The planner's output feeds create_fulfillment unchanged.
        let orders = [fo(
            "gid://shopify/FulfillmentOrder/9",
            FoStatus::Open,
            Some(LOC_A),
            &[(
                "gid://shopify/FulfillmentOrderLineItem/77",
                3,
                Some("ABC-1"),
            )],
        )];
        let plan = plan_fulfillment(&orders, Some(LOC_A), Some(&shipped(&[("ABC-1", 2)]))).unwrap();
        assert_eq!(plan.groups.len(), 1);
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_CREATE_MUTATION,
            json!({ "fulfillment": {
                "lineItemsByFulfillmentOrder": [{
                    "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/9",
                    "fulfillmentOrderLineItems": [
                        { "id": "gid://shopify/FulfillmentOrderLineItem/77", "quantity": 2 }]
                }],
                "notifyCustomer": false,
                "trackingInfo": { "company": "UPS", "number": "1Z999" }
            }}),
            created(),
            1,
        )
        .await;
        client(&server)
            .create_fulfillment(
                &shop(),
                &token(),
                &plan.groups[0].by_fulfillment_order,
                &ups(),
                false,
            )
            .await
            .unwrap();
    }
}
