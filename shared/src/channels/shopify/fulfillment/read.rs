//! Step 1: reading an order's fulfillment orders (paged, lines paged within them) and, for
//! a retry, the fulfillments already on the order with their tracking numbers.

use super::*;

/// The order's fulfillment orders with their first lines. Page sizes are literals, chosen so the
/// requested cost stays under the 1,000-point single-query cap [S] (a connection costs 2 + first
/// × its node cost, nested connections multiply): ≈ 4 + 10 × (3 + 2 + 40 × 2 + 1) = 864. With
/// `first: 50` on both levels it would be ≈ 5,300 and Shopify would refuse the query.
/// Whether `Order.fulfillmentOrders` lists closed and cancelled ones by default is not confirmed
/// [U] (the shop-wide `fulfillmentOrders` query hides closed ones unless `includeClosed: true`
/// [C]); if they were hidden, a finished order would plan to [`PlanError::NoFulfillmentOrders`]
/// rather than `AlreadyFulfilled` — never to a wrong fulfillment. Only fulfillment orders this
/// app's scopes allow are returned [C].
pub(in crate::channels::shopify) const FULFILLMENT_ORDERS_QUERY: &str = "query ChannelSyncFulfillmentOrders($id: ID!, $after: String) { order(id: $id) { id fulfillmentOrders(first: 10, after: $after) { nodes { id status requestStatus updatedAt assignedLocation { location { id } } lineItems(first: 40) { nodes { id remainingQuantity totalQuantity lineItem { id sku } } pageInfo { hasNextPage endCursor } } } pageInfo { hasNextPage endCursor } } } }";

/// Further lines of one fulfillment order (cost ≈ 1 + 2 + 50 × 2 + 1 = 104).
pub(super) const FULFILLMENT_ORDER_LINES_QUERY: &str = "query ChannelSyncFulfillmentOrderLines($id: ID!, $after: String) { fulfillmentOrder(id: $id) { lineItems(first: 50, after: $after) { nodes { id remainingQuantity totalQuantity lineItem { id sku } } pageInfo { hasNextPage endCursor } } } }";

/// At most 10 pages of 10 fulfillment orders: real orders have a handful.
pub(super) const MAX_ORDER_PAGES: usize = 10;
/// At most 40 + 20 × 50 = 1,040 lines per fulfillment order.
pub(super) const MAX_LINE_PAGES: usize = 20;

#[derive(Deserialize)]
pub(super) struct RawConnection<T> {
    nodes: Option<Vec<T>>,
    #[serde(rename = "pageInfo")]
    page_info: Option<RawPageInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawPageInfo {
    has_next_page: Option<bool>,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawOrder {
    fulfillment_orders: Option<RawConnection<RawFo>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawFo {
    id: Option<String>,
    status: Option<String>,
    /// Absent in answers recorded before it was asked for.
    request_status: Option<String>,
    updated_at: Option<String>,
    assigned_location: Option<RawAssignedLocation>,
    line_items: Option<RawConnection<RawLine>>,
}

#[derive(Deserialize)]
pub(super) struct RawAssignedLocation {
    location: Option<RawId>,
}

#[derive(Deserialize)]
pub(super) struct RawId {
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawLine {
    id: Option<String>,
    remaining_quantity: Option<i64>,
    /// Absent in answers recorded before it was asked for: then the remaining quantity.
    total_quantity: Option<i64>,
    line_item: Option<RawLineItem>,
}

#[derive(Deserialize)]
pub(super) struct RawLineItem {
    id: Option<String>,
    sku: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawFoLines {
    line_items: Option<RawConnection<RawLine>>,
}

pub(super) fn bad(message: impl Into<String>) -> ClientError {
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
pub(super) fn location_gid(location_id: &str) -> String {
    let raw = location_id.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        format!("gid://shopify/Location/{raw}")
    } else {
        raw.to_owned()
    }
}

/// The next cursor when `hasNextPage`, checked: a page that claims more without a cursor, or
/// hands back the cursor it was asked with, would loop.
pub(super) fn next_cursor(
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

pub(super) fn convert_lines(raw: Vec<RawLine>, fo_id: &str) -> Result<Vec<FoLine>, ClientError> {
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
pub(super) fn convert_fo(raw: RawFo) -> Result<(FulfillmentOrder, Option<String>), ClientError> {
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
    let updated_at = match raw.updated_at.filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(&t)
                .map_err(|e| bad(format!("{id}: updatedAt {t:?}: {e}")))?
                .with_timezone(&chrono::Utc),
        ),
    };
    Ok((
        FulfillmentOrder {
            id,
            status: FoStatus::from_api(&status),
            location_id,
            lines,
            request_status: raw.request_status.filter(|r| !r.is_empty()),
            updated_at,
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
pub(super) const ORDER_FULFILLMENTS_QUERY: &str = "query ChannelSyncOrderFulfillments($id: ID!) { order(id: $id) { id fulfillments(first: 50) { id status trackingInfo(first: 10) { number } fulfillmentOrders(first: 5) { nodes { id } } } } }";

#[derive(Deserialize)]
pub(super) struct RawOrderWithFulfillments {
    fulfillments: Option<Vec<RawOrderFulfillment>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawOrderFulfillment {
    id: Option<String>,
    status: Option<String>,
    tracking_info: Option<Vec<RawTrackingInfo>>,
    fulfillment_orders: Option<RawConnection<RawId>>,
}

#[derive(Deserialize)]
pub(super) struct RawTrackingInfo {
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
