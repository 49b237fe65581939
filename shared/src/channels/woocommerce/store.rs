//! [`StoreApi`] for a connected WooCommerce store: the reconciliation poll, product listings
//! and tracking write-back.

use super::api::{has_next, page_cursor, Api};
use super::order::{id_string, map_order};
use super::{WooClient, WooCredentials, API_ROOT};
use crate::channels::rest::Reply;
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::ClientError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// A connected WooCommerce store.
#[derive(Clone)]
pub struct WooStore {
    api: Api,
}

impl WooStore {
    /// `Err` when the stored URL is unusable.
    pub fn new(client: WooClient, creds: WooCredentials) -> Result<Self, String> {
        Ok(Self {
            api: Api::from_credentials(client.http, &creds)?,
        })
    }
}

/// The path of the Shipment Tracking extension (WooCommerce.com, paid) for one order (§2.4).
fn trackings_path(order_id: &str) -> String {
    format!("/wp-json/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings")
}

/// Variation pages read per product: 100 pages of 100 = 10,000 variations, far beyond what
/// a WooCommerce product admin can manage (it creates variations 50 at a time), and a bound
/// on what one product can make a job keep in memory.
pub(crate) const MAX_VARIATION_PAGES: u64 = 100;

/// Listings one products page may produce (100 products and their variations): ~300 bytes
/// each, so at most a few MB per page whatever the store claims.
pub(crate) const MAX_LISTINGS_PER_PAGE: usize = 25_000;

/// What a listing needs of a variation, kept instead of its whole JSON (a variation's JSON is
/// a few KB; this is a few dozen bytes).
struct Variation {
    id: String,
    sku: Option<String>,
    status: String,
    tracked: bool,
}

/// Statuses tracking cannot be written to.
const CLOSED: &[&str] = &["cancelled", "refunded", "trash", "failed"];

fn array(reply: Reply, what: &str) -> Result<(Reply, Vec<Value>), ClientError> {
    let headers = reply.clone();
    match reply.ok()? {
        Value::Array(items) => Ok((headers, items)),
        _ => Err(ClientError::BadResponse(format!(
            "{what} is not a JSON array"
        ))),
    }
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn clean_sku(v: &Value) -> Option<String> {
    Some(str_of(v, "sku").trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl WooStore {
    /// Every variation of a variable product, all pages (at most [`MAX_VARIATION_PAGES`]: a
    /// product claiming more is refused with a clear error rather than read without end).
    /// Each page's JSON is reduced to what a listing needs before the next page is read.
    async fn variations(&self, product_id: &str) -> Result<Vec<Variation>, ClientError> {
        let path = format!("{API_ROOT}/products/{product_id}/variations");
        let mut all = Vec::new();
        for page in 1u64.. {
            if page > MAX_VARIATION_PAGES {
                return Err(ClientError::BadResponse(format!(
                    "product {product_id} lists more than {} variations ({MAX_VARIATION_PAGES} pages of 100): refused",
                    MAX_VARIATION_PAGES * 100
                )));
            }
            let page_text = page.to_string();
            let reply = self
                .api
                .get(&path, &[("per_page", "100"), ("page", &page_text)])
                .await?;
            let (reply, items) = array(reply, "a variations page")?;
            let more = has_next(&reply, page, items.len()) && !items.is_empty();
            all.extend(items.iter().filter_map(|v| {
                Some(Variation {
                    id: id_string(v.get("id"))?,
                    sku: clean_sku(v),
                    status: str_of(v, "status").to_ascii_lowercase(),
                    tracked: v.get("manage_stock") == Some(&Value::Bool(true)),
                })
            }));
            if !more {
                break;
            }
        }
        Ok(all)
    }

    /// The id of a note channel-sync wrote for tracking `number` (see [`is_tracking_note`]),
    /// if the order has one.
    async fn find_note(&self, order_id: &str, number: &str) -> Result<Option<String>, ClientError> {
        let reply = self
            .api
            .get(&format!("{API_ROOT}/orders/{order_id}/notes"), &[])
            .await?;
        let (_, notes) = array(reply, "the order notes")?;
        Ok(notes
            .iter()
            .find(|n| is_tracking_note(str_of(n, "note"), number))
            .map(|n| id_string(n.get("id")).unwrap_or_else(|| "note".into())))
    }

    /// Adds `text` as an order note unless channel-sync already wrote one for `number`.
    async fn ensure_note(
        &self,
        order_id: &str,
        number: &str,
        text: &str,
        customer_note: bool,
    ) -> Result<String, ClientError> {
        if let Some(id) = self.find_note(order_id, number).await? {
            return Ok(id);
        }
        let created = self
            .api
            .send(
                Method::POST,
                &format!("{API_ROOT}/orders/{order_id}/notes"),
                &json!({"note": text, "customer_note": customer_note}),
            )
            .await?
            .ok()?;
        Ok(id_string(created.get("id")).unwrap_or_else(|| "note".into()))
    }
}

/// Whether `text` is a tracking note channel-sync wrote for tracking `number`: it starts
/// with `Shipped` or `Partially shipped` (the only two ways our notes start) and has
/// `: tracking number {number}` followed by the end of the note, a space (before the
/// tracking URL) or `". "` (before the partial-shipment sentence). Merely containing the
/// number is not enough: a short tracking number also appears inside unrelated notes
/// (payment ids, other carriers' numbers), and treating those as ours would silently drop
/// this shipment's note. The carrier and URL parts are not compared, so a note WooCommerce
/// stored with HTML-escaped characters still matches.
fn is_tracking_note(text: &str, number: &str) -> bool {
    let text = text.trim();
    if !(text.starts_with("Shipped") || text.starts_with("Partially shipped")) {
        return false;
    }
    let needle = format!(": tracking number {number}");
    text.match_indices(&needle).any(|(at, _)| {
        let rest = &text[at + needle.len()..];
        rest.is_empty() || rest.starts_with(' ') || rest.starts_with(". ") || rest == "."
    })
}

/// The order `meta_data` key where channel-sync records what each shipment shipped:
/// a JSON object `{tracking number: {sku: quantity}}`, stored as a JSON *string* (a PHP
/// array with numeric-looking keys could come back as a JSON list, a string comes back as
/// written). The leading underscore hides it from the order screen's custom fields box; the
/// REST API still returns it. Each shipment replaces its own entry (so a retry is
/// idempotent) and keeps the others.
pub(crate) const SHIPPED_META: &str = "_channel_sync_shipped";

/// Quantities per SKU, by tracking number.
type ShippedRecord = BTreeMap<String, BTreeMap<String, u64>>;

/// What earlier shipments recorded in [`SHIPPED_META`] (a JSON string, or an object if a
/// plugin stored it decoded). Unreadable entries count as nothing shipped: the order then
/// stays open rather than being completed by mistake.
fn shipped_record(order: &Value) -> ShippedRecord {
    let mut record = ShippedRecord::new();
    for meta in order
        .get("meta_data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if str_of(meta, "key") != SHIPPED_META {
            continue;
        }
        let value = match meta.get("value") {
            Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
            Some(v @ Value::Object(_)) => Some(v.clone()),
            _ => None,
        };
        let Some(Value::Object(by_tracking)) = value else {
            continue;
        };
        for (tracking, skus) in by_tracking {
            let Value::Object(skus) = skus else {
                continue;
            };
            let entry = record.entry(tracking.trim().to_owned()).or_default();
            entry.clear();
            for (sku, quantity) in skus {
                let sku = sku.trim();
                if let (false, Some(q)) = (sku.is_empty(), quantity.as_u64()) {
                    let n = entry.entry(sku.to_owned()).or_default();
                    *n = n.saturating_add(q);
                }
            }
        }
    }
    record
}

/// One shipment's quantities by SKU (blank SKUs and zero quantities left out).
fn by_sku(lines: &[ShippedSku]) -> BTreeMap<String, u64> {
    let mut shipped = BTreeMap::new();
    for l in lines {
        let sku = l.sku.trim();
        if !sku.is_empty() && l.quantity > 0 {
            *shipped.entry(sku.to_owned()).or_default() += u64::from(l.quantity);
        }
    }
    shipped
}

/// Whether the quantities shipped so far (every shipment of `record`) cover every line
/// item's quantity, by SKU.
///
/// Line items without a SKU are left out: the WMS ships by SKU, so no shipment can ever
/// name them, and counting them would keep such an order open forever. They do not ship
/// unnoticed: an order with a blank-SKU line is held at import ([`map_order`]), so it only
/// reaches the WMS once someone has dealt with it.
fn covers_every_line(order: &Value, record: &ShippedRecord) -> bool {
    let mut shipped: HashMap<&str, u64> = HashMap::new();
    for skus in record.values() {
        for (sku, q) in skus {
            let n = shipped.entry(sku.as_str()).or_default();
            *n = n.saturating_add(*q);
        }
    }
    let mut ordered: HashMap<String, u64> = HashMap::new();
    for item in order
        .get("line_items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let quantity = item.get("quantity").and_then(Value::as_u64).unwrap_or(0);
        if quantity == 0 {
            continue;
        }
        if let Some(sku) = clean_sku(item) {
            let n = ordered.entry(sku).or_default();
            *n = n.saturating_add(quantity);
        }
    }
    ordered
        .iter()
        .all(|(sku, q)| shipped.get(sku.as_str()).copied().unwrap_or(0) >= *q)
}

/// The two passes of the orders poll: `status=any` (every status but `trash`), then
/// `status=trash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Any,
    Trash,
}

const TRASH_CURSOR: &str = "trash:";

impl Pass {
    fn status(self) -> &'static str {
        match self {
            Pass::Any => "any",
            Pass::Trash => "trash",
        }
    }

    /// The cursor of `page` in this pass: a bare number for the `any` pass (the format of
    /// cursors saved before the trash pass existed), `trash:N` for the trash pass.
    fn cursor(self, page: u64) -> String {
        match self {
            Pass::Any => page.to_string(),
            Pass::Trash => format!("{TRASH_CURSOR}{page}"),
        }
    }
}

/// `None` → page 1 of the `any` pass; `"N"` → page N of the `any` pass; `"trash:N"` → page
/// N of the trash pass. Anything else is refused.
fn poll_cursor(cursor: Option<&str>) -> Result<(Pass, u64), ClientError> {
    let Some(c) = cursor else {
        return Ok((Pass::Any, 1));
    };
    let trimmed = c.trim();
    match trimmed.strip_prefix(TRASH_CURSOR) {
        Some(page) => page_cursor(Some(page))
            .map(|p| (Pass::Trash, p))
            .map_err(|_| {
                ClientError::BadResponse(format!(
                    "invalid page cursor {:?}",
                    crate::channels::rest::snippet(c)
                ))
            }),
        None => page_cursor(Some(trimmed)).map(|p| (Pass::Any, p)),
    }
}

fn client_error(e: ClientError) -> ShipError {
    ShipError::Client(e)
}

#[async_trait]
impl StoreApi for WooStore {
    /// `GET /orders?modified_after=…&dates_are_gmt=true&status=…&orderby=id&order=asc
    /// &per_page=100&page=N`, in two passes: `status=any` first, then `status=trash`, because
    /// `any` leaves trashed orders out and a trashed order must reach the WMS (it maps to
    /// cancelled). WooCommerce cannot sort by modification date (§2.3), so pages go by id.
    /// The cursor is `"N"` for page N of the `any` pass (as before the trash pass existed)
    /// and `"trash:N"` for page N of the trash pass; after the last `any` page it is
    /// `"trash:1"`, after the last trash page `None`. `dates_are_gmt=true` because
    /// `modified_after` was read in the site timezone otherwise (issue #12594). An order
    /// that changes during the walk can move pages; the next poll (from the same `since`)
    /// catches it.
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let (pass, page) = poll_cursor(cursor)?;
        let since_text = since.format("%Y-%m-%dT%H:%M:%S").to_string();
        let page_text = page.to_string();
        let reply = self
            .api
            .get(
                &format!("{API_ROOT}/orders"),
                &[
                    ("modified_after", &since_text),
                    ("dates_are_gmt", "true"),
                    ("status", pass.status()),
                    ("orderby", "id"),
                    ("order", "asc"),
                    ("per_page", "100"),
                    ("page", &page_text),
                ],
            )
            .await?;
        let (reply, items) = array(reply, "the orders page")?;
        let mut orders = Vec::with_capacity(items.len());
        let mut skipped = Vec::new();
        for item in &items {
            match map_order(item) {
                Ok(order) => orders.push(order),
                Err(reason) => skipped.push((
                    id_string(item.get("id")).unwrap_or_else(|| "?".into()),
                    reason,
                )),
            }
        }
        let next_cursor = if !items.is_empty() && has_next(&reply, page, items.len()) {
            Some(pass.cursor(page + 1))
        } else {
            match pass {
                Pass::Any => Some(Pass::Trash.cursor(1)),
                Pass::Trash => None,
            }
        };
        Ok(OrdersPage {
            orders,
            next_cursor,
            skipped,
        })
    }

    /// `GET /products?per_page=100&page=N&orderby=id&order=asc` (every status). Simple
    /// products, and other non-variable types that carry a SKU, are one listing
    /// (`product:{id}`); a variable product's variations (all pages of
    /// `/products/{id}/variations`) are one listing each (`variation:{pid}:{vid}`), and the
    /// parent itself only when it manages its own stock and has a SKU. Grouped and external
    /// products hold no stock: not listings. A variation's `manage_stock` is `"parent"`
    /// when the parent counts the stock: not tracked itself.
    ///
    /// Note: in the REST `view` context a variation without its own SKU shows its parent's
    /// SKU (WooCommerce's inheritance), so several variations can carry the same SKU.
    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let page = page_cursor(cursor)?;
        let page_text = page.to_string();
        let reply = self
            .api
            .get(
                &format!("{API_ROOT}/products"),
                &[
                    ("per_page", "100"),
                    ("page", &page_text),
                    ("orderby", "id"),
                    ("order", "asc"),
                ],
            )
            .await?;
        let (reply, products) = array(reply, "the products page")?;
        let mut listings = Vec::new();
        for product in &products {
            let Some(pid) = id_string(product.get("id")) else {
                continue;
            };
            let status = str_of(product, "status").to_ascii_lowercase();
            let title = str_of(product, "name").trim().to_owned();
            let tracked = product.get("manage_stock") == Some(&Value::Bool(true));
            let sku = clean_sku(product);
            let own = |sku: Option<String>| Listing {
                variant_id: pid.clone(),
                sku,
                inventory_item_id: Some(format!("product:{pid}")),
                tracked,
                product_id: pid.clone(),
                product_title: title.clone(),
                status: status.clone(),
                sellable: status == "publish",
            };
            match str_of(product, "type") {
                "grouped" | "external" => {}
                "variable" => {
                    if tracked && sku.is_some() {
                        listings.push(own(sku));
                    }
                    for variation in self.variations(&pid).await? {
                        let Variation {
                            id: vid,
                            sku,
                            status: vstatus,
                            tracked,
                        } = variation;
                        listings.push(Listing {
                            inventory_item_id: Some(format!("variation:{pid}:{vid}")),
                            variant_id: vid,
                            sku,
                            tracked,
                            product_id: pid.clone(),
                            product_title: title.clone(),
                            sellable: status == "publish"
                                && vstatus != "private"
                                && vstatus != "draft",
                            status: vstatus,
                        });
                    }
                }
                "simple" => listings.push(own(sku)),
                _ => {
                    if sku.is_some() {
                        listings.push(own(sku));
                    }
                }
            }
            if listings.len() > MAX_LISTINGS_PER_PAGE {
                return Err(ClientError::BadResponse(format!(
                    "products page {page} holds more than {MAX_LISTINGS_PER_PAGE} products and variations: refused"
                )));
            }
        }
        let next_cursor = (!products.is_empty() && has_next(&reply, page, products.len()))
            .then(|| (page + 1).to_string());
        Ok(ListingsPage {
            listings,
            next_cursor,
        })
    }

    /// 1. `GET /orders/{id}`: unknown (404) or closed (`cancelled`, `refunded`, `trash`,
    ///    `failed`) → [`ShipError::Permanent`].
    /// 2. The Shipment Tracking extension, when installed (its `GET …/shipment-trackings`
    ///    answers an array; 404 `rest_no_route` otherwise): a tracking with the same number
    ///    is reused, else one is added (`tracking_provider`, or `custom_tracking_provider` +
    ///    `custom_tracking_link` when a tracking URL is given, since a WMS carrier name may
    ///    not be one of the extension's providers). Without the extension: an order note
    ///    (`customer_note` = `notify_customer`, which emails the buyer) unless one already
    ///    carries the tracking number.
    /// 3. `PUT /orders/{id}`, after the tracking (the Completed email shows the extension's
    ///    tracking, §2.4), with `"status":"completed"` unless already completed, when the
    ///    order is fully shipped: `lines` is `None` ("everything"), or the quantities shipped
    ///    so far (this shipment plus the earlier ones recorded in [`SHIPPED_META`]) cover
    ///    every line item's quantity by SKU (lines without a SKU are left out, see
    ///    [`covers_every_line`]). With `lines`, the same request records this shipment in
    ///    `meta_data` [`SHIPPED_META`], so the last parcel of a multi-parcel order completes
    ///    it. A partial shipment leaves the status and says so in a note. WooCommerce sends
    ///    its Completed email whatever `notify_customer` says (its email settings decide).
    ///
    /// A retry finds the tracking (or our note, [`is_tracking_note`]) and its shipment
    /// record already there and adds nothing. Two shipments of one order written at the same
    /// moment could each miss the other's record (WooCommerce has no compare-and-set); the
    /// order then stays open until a later shipment or the merchant completes it.
    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.as_str();
        let order_id = channel_order_id.trim();
        if order_id.is_empty()
            || order_id.len() > 20
            || !order_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ShipError::Permanent(format!(
                "{:?} is not a WooCommerce order id",
                crate::channels::rest::snippet(channel_order_id)
            )));
        }
        let order_path = format!("{API_ROOT}/orders/{order_id}");
        let order = match self.api.get(&order_path, &[]).await.and_then(Reply::ok) {
            Ok(order) => order,
            Err(ClientError::NotFound) => {
                return Err(ShipError::Permanent(
                    "the order does not exist on WooCommerce".into(),
                ))
            }
            Err(e) => return Err(client_error(e)),
        };
        let status = str_of(&order, "status").to_ascii_lowercase();
        if CLOSED.contains(&status.as_str()) {
            return Err(ShipError::Permanent(format!(
                "the order is {status} on WooCommerce: tracking is not written"
            )));
        }
        let carrier = tracking.company.trim();
        let url = tracking
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        // Whether the order is now fully shipped, and the updated shipment record to save
        // (only when this shipment's entry is new or different: a retry writes nothing).
        let (complete, record) = match lines {
            None => (true, None),
            Some(lines) => {
                let mut record = shipped_record(&order);
                let this = by_sku(lines);
                let changed = record.get(number) != Some(&this);
                record.insert(number.to_owned(), this);
                (
                    covers_every_line(&order, &record),
                    changed.then_some(record),
                )
            }
        };
        let mut ids = Vec::new();

        // The Shipment Tracking extension, if installed.
        let extension = match self.api.get(&trackings_path(order_id), &[]).await {
            Ok(reply) if reply.status.is_success() => match reply.body {
                Value::Array(items) => Some(items),
                _ => None,
            },
            Ok(reply) if reply.status == http::StatusCode::NOT_FOUND => None,
            Ok(reply) => {
                return Err(client_error(reply.ok().err().unwrap_or_else(|| {
                    ClientError::BadResponse("unexpected Shipment Tracking answer".into())
                })))
            }
            Err(ClientError::NotFound) => None,
            Err(e) => return Err(client_error(e)),
        };
        let with_url = match url {
            Some(u) => format!(" {u}"),
            None => String::new(),
        };
        let shipped_with = if carrier.is_empty() {
            String::new()
        } else {
            format!(" with {carrier}")
        };
        match extension {
            Some(existing) => {
                if let Some(found) = existing
                    .iter()
                    .find(|t| str_of(t, "tracking_number").trim() == number)
                {
                    ids.push(
                        found
                            .get("tracking_id")
                            .and_then(|v| {
                                v.as_str().map(str::to_owned).or_else(|| id_string(Some(v)))
                            })
                            .unwrap_or_else(|| number.to_owned()),
                    );
                } else {
                    let mut body = json!({
                        "tracking_number": number,
                        "date_shipped": Utc::now().format("%Y-%m-%d").to_string(),
                    });
                    match url {
                        Some(u) => {
                            body["custom_tracking_provider"] = json!(carrier);
                            body["custom_tracking_link"] = json!(u);
                        }
                        None => body["tracking_provider"] = json!(carrier),
                    }
                    let created = self
                        .api
                        .send(Method::POST, &trackings_path(order_id), &body)
                        .await
                        .and_then(Reply::ok)
                        .map_err(client_error)?;
                    ids.push(
                        created
                            .get("tracking_id")
                            .and_then(|v| {
                                v.as_str().map(str::to_owned).or_else(|| id_string(Some(v)))
                            })
                            .unwrap_or_else(|| number.to_owned()),
                    );
                }
                if !complete {
                    let text = format!(
                        "Partially shipped{shipped_with}: tracking number {number}{with_url}. The order stays {status} until everything has shipped."
                    );
                    ids.push(
                        self.ensure_note(order_id, number, &text, false)
                            .await
                            .map_err(client_error)?,
                    );
                }
            }
            None => {
                let text = if complete {
                    format!("Shipped{shipped_with}: tracking number {number}{with_url}")
                } else {
                    format!("Partially shipped{shipped_with}: tracking number {number}{with_url}")
                };
                ids.push(
                    self.ensure_note(order_id, number, &text, notify_customer)
                        .await
                        .map_err(client_error)?,
                );
            }
        }

        // One update, after the tracking: the shipment record and, when everything has
        // shipped, the status.
        let mut update = serde_json::Map::new();
        if complete && status != "completed" {
            update.insert("status".into(), json!("completed"));
        }
        if let Some(record) = record {
            let value = serde_json::to_string(&record)
                .map_err(|e| client_error(ClientError::BadResponse(e.to_string())))?;
            update.insert(
                "meta_data".into(),
                json!([{"key": SHIPPED_META, "value": value}]),
            );
        }
        if !update.is_empty() {
            self.api
                .send(Method::PUT, &order_path, &Value::Object(update))
                .await
                .and_then(Reply::ok)
                .map_err(client_error)?;
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_tracking_notes_match() {
        for ours in [
            "Shipped with DHL: tracking number JD0123",
            "Shipped: tracking number JD0123",
            "Shipped with DHL: tracking number JD0123 https://track.example.com/JD0123",
            "Partially shipped with DHL: tracking number JD0123",
            "Partially shipped with DHL: tracking number JD0123. The order stays processing until everything has shipped.",
            "  Shipped with P&amp;O: tracking number JD0123 ",
        ] {
            assert!(is_tracking_note(ours, "JD0123"), "{ours}");
        }
        for other in [
            "Payment captured (transaction JD0123).",
            "Shipped with UPS: tracking number JD01234",
            "Shipped with UPS: tracking number XJD0123",
            "Order status changed: tracking number JD0123",
            "Customer note: Shipped with DHL: tracking number JD0123? no",
            "",
        ] {
            assert!(!is_tracking_note(other, "JD0123"), "{other}");
        }
    }

    #[test]
    fn the_shipment_record_reads_strings_objects_and_ignores_garbage() {
        let order = json!({"meta_data": [
            {"key": "other", "value": "{\"X\":{\"A\":9}}"},
            {"key": SHIPPED_META, "value": "{\"T1\":{\"A\":2,\" B \":1,\"\":4,\"C\":-1},\"T2\":[1]}"},
            {"key": SHIPPED_META, "value": {"T3": {"A": 1}}},
            {"key": SHIPPED_META, "value": "not json"},
            {"key": SHIPPED_META, "value": 5}
        ]});
        let record = shipped_record(&order);
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({"T1": {"A": 2, "B": 1}, "T3": {"A": 1}})
        );
        assert!(shipped_record(&json!({})).is_empty());
    }

    #[test]
    fn completion_sums_every_recorded_shipment_and_skips_skuless_lines() {
        let order = json!({"line_items": [
            {"sku": "A", "quantity": 2},
            {"sku": "A", "quantity": 1},
            {"sku": "B", "quantity": 1},
            {"sku": "", "quantity": 5},
            {"quantity": 1},
            {"sku": "Z", "quantity": 0}
        ]});
        let mut record = ShippedRecord::new();
        record.insert("T1".into(), BTreeMap::from([("A".into(), 2)]));
        assert!(!covers_every_line(&order, &record));
        record.insert("T2".into(), BTreeMap::from([("B".into(), 1)]));
        assert!(!covers_every_line(&order, &record));
        record.insert("T3".into(), BTreeMap::from([("A".into(), 1)]));
        assert!(covers_every_line(&order, &record));
    }

    /// Issue 15, item 11: quantities are the store's numbers; sums of huge ones saturate
    /// instead of overflowing (a panic, which aborts the process in release).
    #[test]
    fn huge_store_quantities_do_not_overflow() {
        let order = json!({"line_items": [
            {"sku": "A", "quantity": u64::MAX},
            {"sku": "A", "quantity": u64::MAX}
        ], "meta_data": [{"key": SHIPPED_META, "value": {"T1": {"A": u64::MAX, " A": u64::MAX}}}]});
        let mut record = ShippedRecord::new();
        record.insert("T1".into(), BTreeMap::from([("A".into(), u64::MAX)]));
        record.insert("T2".into(), BTreeMap::from([("A".into(), u64::MAX)]));
        assert!(covers_every_line(&order, &record));
        let _ = shipped_record(&order);
    }
}
