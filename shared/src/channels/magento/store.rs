//! [`StoreApi`] for Magento: orders changed since (`GET /V1/orders` with searchCriteria,
//! keyset-paged on `updated_at`), listings (`GET /V1/products`), tracking write-back
//! (`POST /V1/order/{id}/ship`).
//!
//! An ACL refusal (401 "The consumer isn't authorized to access %resources.") is never
//! [`ClientError::Unauthorized`]: reads give [`ClientError::BadResponse`] naming the resource
//! to grant, tracking gives [`ShipError::Permanent`] with the same sentence.
//!
//! ## The orders poll
//!
//! Page numbers over `updated_at ASC` skip orders: one updated during the walk moves to the
//! end and every later order shifts back a page. So the walk is keyset-paged: each request is
//! `currentPage=1`, sorted `updated_at ASC, entity_id ASC`, filtered `updated_at >= T` and,
//! after a full page, `(updated_at > T OR entity_id > id)` in a second filter group, where
//! (`T`, `id`) is the last order read — cursor `"{YYYY-MM-DD HH:MM:SS}|{entity_id}"`. Every
//! order is read once per walk, however many share a second. A page shorter than
//! [`PAGE_SIZE`] ends the walk.

use super::order::{id_string, map_order, timestamp};
use super::{
    acl_refusal_text, is_acl_refusal, is_dot_segment, query, segment, MagentoClient,
    MagentoCredentials, Target,
};
use crate::channels::rest::Reply;
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::ClientError;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};

/// Orders and products per page.
pub const PAGE_SIZE: u32 = 100;

/// A connected Magento store.
#[derive(Clone)]
pub struct MagentoStore {
    client: MagentoClient,
    target: Target,
}

impl MagentoStore {
    /// `Err` when the stored URL or store code is unusable.
    pub fn new(client: MagentoClient, creds: MagentoCredentials) -> Result<Self, String> {
        Ok(Self {
            target: Target::from_creds(&creds)?,
            client,
        })
    }

    async fn get(&self, path_and_query: &str) -> Result<Reply, ClientError> {
        self.client
            .send(&self.target, Method::GET, path_and_query, None)
            .await
    }
}

/// Largest page number a cursor may carry.
const MAX_PAGE: u32 = 1_000_000;

/// A page cursor: a page number from 1. `None` → 1.
fn page(cursor: Option<&str>) -> Result<u32, ClientError> {
    match cursor {
        None => Ok(1),
        Some(c) => c
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ClientError::BadResponse(format!("invalid page cursor {c:?}"))),
    }
}

/// Magento's timestamp format (UTC).
const TIME: &str = "%Y-%m-%d %H:%M:%S";

/// Where the orders poll stands: orders updated at or after `at` (whole seconds, UTC) and,
/// after a full page, only those after the last one read: (`updated_at`, `entity_id`) greater
/// than (`at`, `after_id`). Keyset paging, so every order is read once in a walk, however many
/// share a second, and an order updated during the walk moves to the end instead of shifting
/// others out of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OrdersCursor {
    at: NaiveDateTime,
    after_id: Option<u64>,
}

impl OrdersCursor {
    /// `None` → `since`; otherwise `"{YYYY-MM-DD HH:MM:SS}"` or `"…|{entity_id}"`.
    fn read(since: DateTime<Utc>, cursor: Option<&str>) -> Result<Self, ClientError> {
        let Some(raw) = cursor else {
            let at = since.naive_utc();
            return Ok(Self {
                at: at.with_nanosecond(0).unwrap_or(at),
                after_id: None,
            });
        };
        let invalid = || {
            ClientError::BadResponse(format!(
                "invalid orders cursor {:?}",
                raw.chars().take(64).collect::<String>()
            ))
        };
        let (at, after_id) = match raw.trim().split_once('|') {
            Some((at, id)) => (
                at,
                Some(
                    id.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|id| *id > 0)
                        .ok_or_else(invalid)?,
                ),
            ),
            None => (raw.trim(), None),
        };
        let at = NaiveDateTime::parse_from_str(at.trim(), TIME).map_err(|_| invalid())?;
        Ok(Self { at, after_id })
    }

    fn at_text(&self) -> String {
        self.at.format(TIME).to_string()
    }

    fn write(&self) -> String {
        match self.after_id {
            None => self.at_text(),
            Some(id) => format!("{}|{id}", self.at_text()),
        }
    }

    /// The cursor after a page of `items` (sorted by `updated_at`, then `entity_id`): the last
    /// readable one; `None` when the page was short (the walk is over) or nothing on a full
    /// page is readable (the next run reads on from the watermark).
    fn after(&self, items: &[Value]) -> Option<Self> {
        if items.len() < PAGE_SIZE as usize {
            return None;
        }
        items.iter().rev().find_map(|item| {
            let at = timestamp(item.get("updated_at"))?.naive_utc();
            let id = id_string(item.get("entity_id"))?.parse::<u64>().ok()?;
            Some(Self {
                at: at.with_nanosecond(0).unwrap_or(at),
                after_id: Some(id),
            })
        })
    }
}

/// The body of a read's reply; an ACL refusal names the resource (`fallback` when the reply
/// does not) instead of becoming [`ClientError::Unauthorized`].
fn read_ok(reply: Reply, fallback: &str) -> Result<Value, ClientError> {
    if is_acl_refusal(&reply) {
        return Err(ClientError::BadResponse(acl_refusal_text(&reply, fallback)));
    }
    reply.ok()
}

/// [`read_ok`] inside `write_tracking`: an ACL refusal is permanent.
fn ship_ok(reply: Reply, fallback: &str) -> Result<Value, ShipError> {
    if is_acl_refusal(&reply) {
        return Err(ShipError::Permanent(acl_refusal_text(&reply, fallback)));
    }
    Ok(reply.ok()?)
}

/// `items` and `total_count` of a search result.
fn search_result(body: &Value) -> Result<(&[Value], u64), ClientError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ClientError::BadResponse("the search result is not a JSON object".into()))?;
    let items = match obj.get("items") {
        Some(Value::Array(items)) => items.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            return Err(ClientError::BadResponse(
                "the search result's items is not a list".into(),
            ))
        }
    };
    let total = obj.get("total_count").and_then(Value::as_u64).unwrap_or(0);
    Ok((items, total))
}

fn next_page(page: u32, items: &[Value], total: u64) -> Option<String> {
    (!items.is_empty() && u64::from(page) * u64::from(PAGE_SIZE) < total)
        .then(|| (page + 1).to_string())
}

/// The Magento carrier code of a WMS carrier name.
pub fn carrier_code(company: &str) -> &'static str {
    match company.trim().to_ascii_lowercase().as_str() {
        "ups" => "ups",
        "usps" => "usps",
        "fedex" => "fedex",
        "dhl" => "dhl",
        _ => "custom",
    }
}

#[async_trait]
impl StoreApi for MagentoStore {
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let at = OrdersCursor::read(since, cursor)?;
        let from = at.at_text();
        let size = PAGE_SIZE.to_string();
        let after_id = at.after_id.map(|id| id.to_string());
        let mut params = vec![
            (
                "searchCriteria[filter_groups][0][filters][0][field]",
                "updated_at",
            ),
            ("searchCriteria[filter_groups][0][filters][0][value]", &from),
            (
                "searchCriteria[filter_groups][0][filters][0][condition_type]",
                "gteq",
            ),
        ];
        // Filters of one group are ORed, groups ANDed: updated_at >= T AND (updated_at > T OR
        // entity_id > id), i.e. after (T, id) in the sort order.
        if let Some(id) = &after_id {
            params.extend([
                (
                    "searchCriteria[filter_groups][1][filters][0][field]",
                    "updated_at",
                ),
                ("searchCriteria[filter_groups][1][filters][0][value]", &from),
                (
                    "searchCriteria[filter_groups][1][filters][0][condition_type]",
                    "gt",
                ),
                (
                    "searchCriteria[filter_groups][1][filters][1][field]",
                    "entity_id",
                ),
                ("searchCriteria[filter_groups][1][filters][1][value]", id),
                (
                    "searchCriteria[filter_groups][1][filters][1][condition_type]",
                    "gt",
                ),
            ]);
        }
        params.extend([
            ("searchCriteria[sortOrders][0][field]", "updated_at"),
            ("searchCriteria[sortOrders][0][direction]", "ASC"),
            ("searchCriteria[sortOrders][1][field]", "entity_id"),
            ("searchCriteria[sortOrders][1][direction]", "ASC"),
            ("searchCriteria[pageSize]", &size),
            ("searchCriteria[currentPage]", "1"),
        ]);
        let q = query(&params);
        let body = read_ok(
            self.get(&format!("/orders?{q}")).await?,
            "orders (Magento_Sales::actions_view)",
        )?;
        let (items, _) = search_result(&body)?;
        let mut orders = Vec::with_capacity(items.len());
        let mut skipped = Vec::new();
        for item in items {
            match map_order(item) {
                Ok(order) => orders.push(order),
                Err(reason) => skipped.push((
                    id_string(item.get("entity_id")).unwrap_or_else(|| "?".into()),
                    reason,
                )),
            }
        }
        Ok(OrdersPage {
            orders,
            next_cursor: at.after(items).map(|c| c.write()),
            skipped,
        })
    }

    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let n = page(cursor)?;
        let size = PAGE_SIZE.to_string();
        let current = n.to_string();
        let q = query(&[
            ("searchCriteria[pageSize]", &size),
            ("searchCriteria[currentPage]", &current),
            ("searchCriteria[sortOrders][0][field]", "entity_id"),
            ("searchCriteria[sortOrders][0][direction]", "ASC"),
        ]);
        let body = read_ok(
            self.get(&format!("/products?{q}")).await?,
            "products (Magento_Catalog::products)",
        )?;
        let (items, total) = search_result(&body)?;
        let listings = items.iter().filter_map(listing).collect();
        Ok(ListingsPage {
            listings,
            next_cursor: next_page(n, items, total),
        })
    }

    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.as_str();
        let id = channel_order_id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ShipError::Permanent(format!(
                "{:?} is not a Magento order id",
                id.chars().take(64).collect::<String>()
            )));
        }
        if let Some(bad) = lines
            .unwrap_or_default()
            .iter()
            .find(|l| is_dot_segment(&l.sku))
        {
            return Err(ShipError::Permanent(format!(
                "SKU {:?} is not a Magento SKU ('.' and '..' cannot be sent)",
                bad.sku.trim()
            )));
        }
        let order_path = segment(id).map_err(ShipError::Permanent)?;

        // 1. Idempotency: a shipment of this order may already carry our tracking number
        //    (a retry after a lost answer).
        let q = query(&[
            (
                "searchCriteria[filter_groups][0][filters][0][field]",
                "order_id",
            ),
            ("searchCriteria[filter_groups][0][filters][0][value]", id),
            (
                "searchCriteria[filter_groups][0][filters][0][condition_type]",
                "eq",
            ),
        ]);
        let shipments = ship_ok(
            self.get(&format!("/shipments?{q}")).await?,
            "shipments (Magento_Sales::shipment)",
        )?;
        let (items, _) = search_result(&shipments)?;
        for shipment in items {
            let tracks = shipment.get("tracks").and_then(Value::as_array);
            let ours = tracks.is_some_and(|tracks| {
                tracks.iter().any(|t| {
                    t.get("track_number")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.trim() == number)
                })
            });
            if ours {
                let shipment_id = id_string(shipment.get("entity_id")).ok_or_else(|| {
                    ClientError::BadResponse("a shipment without an entity_id".into())
                })?;
                return Ok(vec![shipment_id]);
            }
        }

        // 2. The order must exist and still be shippable.
        let reply = self.get(&format!("/orders/{order_path}")).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(ShipError::Permanent(
                "the order does not exist on Magento".into(),
            ));
        }
        let order = ship_ok(reply, "orders (Magento_Sales::actions_view)")?;
        let state = order.get("state").and_then(Value::as_str).unwrap_or("");
        let refusal = match state {
            "canceled" => Some("the order is cancelled on Magento (state canceled)"),
            "closed" => Some("the order is closed (refunded) on Magento (state closed)"),
            "complete" => {
                Some("the order is already complete (shipped) on Magento (state complete)")
            }
            _ => None,
        };
        if let Some(refusal) = refusal {
            return Err(ShipError::Permanent(refusal.into()));
        }

        // 3. Ship: the whole order (no `items`) when the lines cover every shippable line.
        let company = tracking.company.trim();
        let mut body = json!({
            "notify": notify_customer,
            "appendComment": false,
            "tracks": [{
                "track_number": number,
                "title": if company.is_empty() { "Tracking" } else { company },
                "carrier_code": carrier_code(company),
            }],
        });
        if let Some(lines) = lines {
            if !covers_whole_order(&order, lines) {
                body["items"] = Value::Array(shipment_items(&order, lines)?);
            }
        }
        let reply = self
            .client
            .send(
                &self.target,
                Method::POST,
                &format!("/order/{order_path}/ship"),
                Some(&body),
            )
            .await?;
        if is_acl_refusal(&reply) {
            return Err(ShipError::Permanent(acl_refusal_text(
                &reply,
                "shipping (Magento_Sales::ship)",
            )));
        }
        match reply.status {
            s if s.is_success() => match id_string(Some(&reply.body)) {
                Some(shipment_id) => Ok(vec![shipment_id]),
                None => Err(ShipError::Client(ClientError::BadResponse(format!(
                    "the ship answer is not a shipment id: {}",
                    crate::channels::rest::snippet(&reply.body.to_string())
                )))),
            },
            StatusCode::BAD_REQUEST => Err(ShipError::Permanent(format!(
                "Magento refused the shipment: {}",
                super::error_message(&reply)
            ))),
            StatusCode::NOT_FOUND => Err(ShipError::Permanent(format!(
                "the order does not exist on Magento ({})",
                super::message_of(reply.status, &reply.body)
            ))),
            _ => Err(ShipError::Client(reply.ok().err().unwrap_or_else(|| {
                ClientError::BadResponse("unexpected answer".into())
            }))),
        }
    }
}

/// A shipped SKU as compared with the order's: trimmed, case-insensitive (Magento SKUs are
/// unique regardless of case).
fn sku_key(sku: &str) -> String {
    sku.trim().to_lowercase()
}

/// Adds `qty` to `key`'s entry (kept in first-seen order).
fn add_to(totals: &mut Vec<(String, u64)>, key: String, qty: u64) {
    match totals.iter_mut().find(|(k, _)| *k == key) {
        Some((_, total)) => *total += qty,
        None => totals.push((key, qty)),
    }
}

/// Whether `lines` ship every shippable line of the order as [`map_order`] gives them (bundle
/// components, configurables by their parent row), by SKU and quantity, and nothing else:
/// the shipment then names no `items` (the whole order).
fn covers_whole_order(order: &Value, lines: &[ShippedSku]) -> bool {
    let Ok(mapped) = map_order(order) else {
        return false;
    };
    let mut wanted: Vec<(String, u64)> = Vec::new();
    for line in mapped.lines.iter().filter(|l| l.requires_shipping) {
        let Some(sku) = &line.sku else { return false };
        if line.quantity == 0 {
            return false;
        }
        add_to(&mut wanted, sku_key(sku.as_str()), u64::from(line.quantity));
    }
    if wanted.is_empty() {
        return false;
    }
    let mut shipped: Vec<(String, u64)> = Vec::new();
    for line in lines.iter().filter(|l| l.quantity > 0) {
        add_to(&mut shipped, sku_key(&line.sku), u64::from(line.quantity));
    }
    shipped
        .iter()
        .all(|(k, _)| wanted.iter().any(|(w, _)| w == k))
        && wanted.iter().all(|(k, need)| {
            shipped
                .iter()
                .find(|(s, _)| s == k)
                .is_some_and(|(_, got)| got >= need)
        })
}

/// One row of a Magento order's `items`.
struct Row<'a> {
    id: String,
    sku: &'a str,
    parent: Option<String>,
    product_type: &'a str,
    qty_ordered: Option<u64>,
}

/// `qty_ordered` (`2`, `2.0000`, `"2.0000"`) when it is a whole non-negative number.
fn whole(v: Option<&Value>) -> Option<u64> {
    let f = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64).then_some(f as u64)
}

fn rows(order: &Value) -> Vec<Row<'_>> {
    order
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some(Row {
                        id: id_string(i.get("item_id"))?,
                        sku: i.get("sku").and_then(Value::as_str).unwrap_or("").trim(),
                        parent: id_string(i.get("parent_item_id")),
                        product_type: i.get("product_type").and_then(Value::as_str).unwrap_or(""),
                        qty_ordered: whole(i.get("qty_ordered")),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The rows whose SKU is `wanted`: exact matches, else case-insensitive ones.
fn matching<'r, 'a>(candidates: &[&'r Row<'a>], wanted: &str) -> Vec<&'r Row<'a>> {
    let exact: Vec<&Row> = candidates
        .iter()
        .copied()
        .filter(|r| r.sku == wanted)
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    candidates
        .iter()
        .copied()
        .filter(|r| r.sku.eq_ignore_ascii_case(wanted))
        .collect()
}

/// `items` of a partial shipment. A shipped SKU goes to the top-level order item whose SKU
/// matches (a configurable parent row carries the child's SKU). A bundle component (the lines
/// the WMS knows, see [`map_order`]) goes to its bundle's top-level item, Magento's unit of
/// shipment: qty = the whole bundles the components cover (shipped ÷ per-bundle quantity,
/// per-bundle = component `qty_ordered` ÷ bundle `qty_ordered`). A bundle covered only in
/// part is refused.
fn shipment_items(order: &Value, lines: &[ShippedSku]) -> Result<Vec<Value>, ShipError> {
    let rows = rows(order);
    let top_level: Vec<&Row> = rows.iter().filter(|r| r.parent.is_none()).collect();
    // Components: children of a parent that is not configurable.
    let components: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.parent.as_ref().is_some_and(|p| {
                rows.iter()
                    .any(|parent| parent.id == *p && parent.product_type != "configurable")
            })
        })
        .collect();
    let mut out: Vec<(String, u64)> = Vec::new();
    // bundle item id → (component item id → shipped qty)
    let mut bundles: Vec<(String, Vec<(String, u64)>)> = Vec::new();
    for line in lines {
        if line.quantity == 0 {
            continue;
        }
        let wanted = line.sku.trim();
        let qty = u64::from(line.quantity);
        if let Some(row) = matching(&top_level, wanted).first() {
            add_to(&mut out, row.id.clone(), qty);
            continue;
        }
        let found = matching(&components, wanted);
        let component = match found.as_slice() {
            [] => {
                return Err(ShipError::Permanent(format!(
                    "SKU {wanted} is not a line of this Magento order"
                )))
            }
            [one] => *one,
            _ => {
                return Err(ShipError::Permanent(format!(
                    "SKU {wanted} is a component of more than one bundle on this Magento order: \
                     Magento ships bundles by their top-level line, so ship the whole order"
                )))
            }
        };
        let parent = component.parent.clone().unwrap_or_default();
        // The bundle's place in `items` is where its first component was named.
        add_to(&mut out, parent.clone(), 0);
        match bundles.iter_mut().find(|(p, _)| *p == parent) {
            Some((_, shipped)) => add_to(shipped, component.id.clone(), qty),
            None => bundles.push((parent, vec![(component.id.clone(), qty)])),
        }
    }
    for (parent_id, shipped) in &bundles {
        let count = whole_bundles(&rows, parent_id, shipped)?;
        add_to(&mut out, parent_id.clone(), count);
    }
    Ok(out
        .into_iter()
        .map(|(id, qty)| {
            let order_item_id = id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n));
            json!({"order_item_id": order_item_id, "qty": qty})
        })
        .collect())
}

/// How many whole bundles `shipped` (component item id → qty) covers; `Permanent` when the
/// components do not make a whole number of bundles (some missing, some short).
fn whole_bundles(
    rows: &[Row],
    parent_id: &str,
    shipped: &[(String, u64)],
) -> Result<u64, ShipError> {
    let parent = rows.iter().find(|r| r.id == parent_id);
    let parent_sku = parent.map_or(parent_id, |p| p.sku);
    let unreadable = || {
        ShipError::Permanent(format!(
            "the quantities of bundle {parent_sku} on this Magento order are not whole numbers: \
             its per-bundle component quantities are unknown, so ship the whole order"
        ))
    };
    let bundles_ordered = parent
        .and_then(|p| p.qty_ordered)
        .filter(|q| *q > 0)
        .ok_or_else(unreadable)?;
    let mut count: Option<u64> = None;
    let mut whole = true;
    let mut parts = Vec::new();
    for child in rows
        .iter()
        .filter(|r| r.parent.as_deref() == Some(parent_id))
    {
        let ordered = child
            .qty_ordered
            .filter(|q| *q > 0)
            .ok_or_else(unreadable)?;
        if ordered % bundles_ordered != 0 {
            return Err(unreadable());
        }
        let per_bundle = ordered / bundles_ordered;
        let got = shipped
            .iter()
            .find(|(id, _)| *id == child.id)
            .map_or(0, |(_, q)| *q);
        parts.push(format!("{} {got} of {per_bundle} per bundle", child.sku));
        if got % per_bundle != 0 || count.is_some_and(|c| c != got / per_bundle) {
            whole = false;
        }
        count.get_or_insert(got / per_bundle);
    }
    match count {
        Some(n) if whole && n > 0 => Ok(n),
        _ => Err(ShipError::Permanent(format!(
            "the shipment covers only part of bundle {parent_sku} on this Magento order ({}): \
             Magento ships a bundle by its top-level line, so ship whole bundles (each \
             component in its per-bundle quantity) or the whole order",
            parts.join(", ")
        ))),
    }
}

/// A product of the catalog as a listing: simple, virtual and downloadable products carry
/// stock; configurable, bundle and grouped products do not.
fn listing(product: &Value) -> Option<Listing> {
    let type_id = product.get("type_id").and_then(Value::as_str)?;
    if !matches!(type_id, "simple" | "virtual" | "downloadable") {
        return None;
    }
    let id = id_string(product.get("id"))?;
    let raw_sku = product.get("sku").and_then(Value::as_str).unwrap_or("");
    let sku = Some(raw_sku.trim().to_owned()).filter(|s| !s.is_empty());
    let tracked = product
        .get("extension_attributes")
        .and_then(|e| e.get("stock_item"))
        .and_then(|s| s.get("manage_stock"))
        .is_none_or(super::truthy);
    let (status, sellable) = match product.get("status") {
        Some(v) if v.as_u64() == Some(1) || v.as_str() == Some("1") => ("enabled".to_owned(), true),
        Some(v) if v.as_u64() == Some(2) || v.as_str() == Some("2") => {
            ("disabled".to_owned(), false)
        }
        Some(Value::String(s)) => (s.trim().to_lowercase(), true),
        Some(Value::Null) | None => (String::new(), true),
        Some(other) => (other.to_string(), true),
    };
    Some(Listing {
        variant_id: id.clone(),
        inventory_item_id: sku.as_ref().map(|_| raw_sku.to_owned()),
        sku,
        tracked,
        product_id: id,
        product_title: product
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned(),
        status,
        sellable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipment_items_map_skus_to_top_level_lines() {
        let order = json!({"items": [
            {"item_id": 1, "sku": "SHIRT-M", "product_type": "configurable", "parent_item_id": null},
            {"item_id": 2, "sku": "SHIRT-M", "product_type": "simple", "parent_item_id": 1},
            {"item_id": 3, "sku": "KIT", "product_type": "bundle"},
            {"item_id": 4, "sku": "KIT-A", "product_type": "simple", "parent_item_id": 3}
        ]});
        let shipped = |sku: &str, quantity| ShippedSku {
            sku: sku.into(),
            quantity,
        };
        let items = shipment_items(
            &order,
            &[
                shipped("SHIRT-M", 1),
                shipped("shirt-m", 1),
                shipped("KIT", 2),
            ],
        )
        .unwrap();
        assert_eq!(
            items,
            vec![
                json!({"order_item_id": 1, "qty": 2}),
                json!({"order_item_id": 3, "qty": 2})
            ]
        );
        // Without quantities, a component cannot be turned into whole bundles.
        assert!(matches!(
            shipment_items(&order, &[shipped("KIT-A", 1)]),
            Err(ShipError::Permanent(m)) if m.contains("KIT") && m.contains("whole order")
        ));
        assert!(matches!(
            shipment_items(&order, &[shipped("NOPE", 1)]),
            Err(ShipError::Permanent(m)) if m.contains("NOPE") && m.contains("not a line")
        ));
    }

    fn bundle_order() -> Value {
        json!({"items": [
            {"item_id": 3, "sku": "KIT", "qty_ordered": "2.0000", "product_type": "bundle"},
            {"item_id": 4, "sku": "KIT-A", "qty_ordered": 2, "product_type": "simple", "parent_item_id": 3},
            {"item_id": 5, "sku": "KIT-B", "qty_ordered": 4, "product_type": "simple", "parent_item_id": 3},
            {"item_id": 6, "sku": "MUG", "qty_ordered": 1, "product_type": "simple"}
        ]})
    }

    fn shipped(sku: &str, quantity: u32) -> ShippedSku {
        ShippedSku {
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn bundle_components_ship_their_bundle_by_whole_bundles() {
        let order = bundle_order();
        // One bundle: KIT-A 1 (1 per bundle) and KIT-B 2 (2 per bundle).
        assert_eq!(
            shipment_items(
                &order,
                &[shipped("MUG", 1), shipped("KIT-A", 1), shipped("kit-b", 2)]
            )
            .unwrap(),
            vec![
                json!({"order_item_id": 6, "qty": 1}),
                json!({"order_item_id": 3, "qty": 1})
            ]
        );
        // Split over two lines of the same component.
        assert_eq!(
            shipment_items(
                &order,
                &[
                    shipped("KIT-A", 1),
                    shipped("KIT-B", 4),
                    shipped("KIT-A", 1)
                ]
            )
            .unwrap(),
            vec![json!({"order_item_id": 3, "qty": 2})]
        );
        for partial in [
            vec![shipped("KIT-A", 1)],                      // KIT-B missing
            vec![shipped("KIT-A", 1), shipped("KIT-B", 1)], // half a KIT-B set
            vec![shipped("KIT-A", 2), shipped("KIT-B", 2)], // 2 of A, 1 of B
        ] {
            let got = shipment_items(&order, &partial);
            assert!(
                matches!(&got, Err(ShipError::Permanent(m))
                    if m.contains("only part of bundle KIT") && m.contains("KIT-B")),
                "{partial:?}: {got:?}"
            );
        }
    }

    #[test]
    fn a_shipment_covering_the_mapped_lines_is_the_whole_order() {
        let mut order = bundle_order();
        order["entity_id"] = json!(42);
        order["created_at"] = json!("2026-11-20 10:00:00");
        let all = [shipped("KIT-A", 2), shipped("MUG", 1), shipped("KIT-B", 4)];
        assert!(covers_whole_order(&order, &all));
        assert!(covers_whole_order(
            &order,
            &[
                shipped("kit-a", 1),
                shipped("KIT-A", 1),
                shipped("MUG", 1),
                shipped("KIT-B", 4)
            ]
        ));
        assert!(!covers_whole_order(&order, &all[..2]));
        assert!(!covers_whole_order(
            &order,
            &[shipped("KIT-A", 2), shipped("MUG", 1), shipped("KIT-B", 3)]
        ));
        // An SKU that is not on the order is never "the whole order".
        let mut extra = all.to_vec();
        extra.push(shipped("OTHER", 1));
        assert!(!covers_whole_order(&order, &extra));
        // The bundle parent's SKU is not a mapped line.
        assert!(!covers_whole_order(
            &order,
            &[shipped("KIT", 2), shipped("MUG", 1)]
        ));
    }

    #[test]
    fn orders_cursor_round_trips_and_advances() {
        let since = DateTime::parse_from_rfc3339("2026-11-20T08:05:09.750Z")
            .unwrap()
            .with_timezone(&Utc);
        let first = OrdersCursor::read(since, None).unwrap();
        assert_eq!(first.write(), "2026-11-20 08:05:09");
        assert_eq!(first.after_id, None);
        let after = OrdersCursor::read(since, Some("2026-11-20 08:05:09|37")).unwrap();
        assert_eq!(after.after_id, Some(37));
        assert_eq!(after.write(), "2026-11-20 08:05:09|37");
        assert_eq!(
            OrdersCursor::read(since, Some("2026-11-20 08:05:09")).unwrap(),
            first
        );
        for bad in [
            "2",
            "abc",
            "2026-11-20 08:05:09|0",
            "2026-11-20 08:05:09|x",
            "|2",
        ] {
            assert!(OrdersCursor::read(since, Some(bad)).is_err(), "{bad}");
        }
        let at = |id: u64, t: &str| json!({"entity_id": id, "updated_at": t});
        let short: Vec<_> = (1..100).map(|id| at(id, "2026-11-21 00:00:00")).collect();
        assert_eq!(first.after(&short), None);
        // A full page: the next cursor is its last order, whatever second it shares.
        let mut full: Vec<_> = (1..100).map(|id| at(id, "2026-11-20 08:05:09")).collect();
        full.push(at(100, "2026-11-21 00:00:00"));
        assert_eq!(
            first.after(&full).unwrap().write(),
            "2026-11-21 00:00:00|100"
        );
        let same_second: Vec<_> = (1..=100).map(|id| at(id, "2026-11-20 08:05:09")).collect();
        assert_eq!(
            first.after(&same_second).unwrap().write(),
            "2026-11-20 08:05:09|100"
        );
        // An unreadable last order: the last readable one.
        let mut tail = same_second.clone();
        tail[99] = json!({"entity_id": "x"});
        assert_eq!(
            first.after(&tail).unwrap().write(),
            "2026-11-20 08:05:09|99"
        );
    }
}
