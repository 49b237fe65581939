//! A connected TikTok shop for the jobs ([`StoreApi`]): the orders poll (Search Orders by
//! `update_time_ge`, oldest change first, `page_token` cursor), order detail, product listings
//! for the SKU audit (Search Products), and tracking write-back (Mark Package As Shipped with
//! the shipping provider id TikTok lists for the order's delivery option).

use super::client::{ApiError, ShopAuth, TikTokClient};
use super::credentials::TikTokCredentials;
use super::order::{line_items, map_order, order_id, LineItem, Mapped};
use crate::channels::store::{
    Listing, ListingsPage, OrdersPage, Reread, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::ClientError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Orders per search page (TikTok allows 1..=100; orders are large, 50 keeps a page small).
pub const ORDERS_PAGE_SIZE: u32 = 50;
/// Products per search page (TikTok's maximum).
pub const PRODUCTS_PAGE_SIZE: u32 = 100;
/// Longest page token accepted back from TikTok.
const MAX_TOKEN: usize = 2048;
/// How long a delivery option's shipping providers are reused.
pub const PROVIDERS_TTL: Duration = Duration::from_secs(3600);

pub const ORDERS_SEARCH: &str = "/order/202309/orders/search";
pub const ORDER_DETAIL: &str = "/order/202507/orders";
pub const PRODUCTS_SEARCH: &str = "/product/202502/products/search";

/// A delivery option's shipping providers: `(id, name)`.
type Providers = Arc<Vec<(String, String)>>;

/// Delivery option id → its shipping providers, shared by a channel's stores.
#[derive(Default)]
pub struct ProviderCache {
    entries: Mutex<HashMap<String, (Instant, Providers)>>,
}

impl ProviderCache {
    fn get(&self, option: &str) -> Option<Providers> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(option)
            .filter(|(at, _)| at.elapsed() < PROVIDERS_TTL)
            .map(|(_, p)| p.clone())
    }

    fn put(&self, option: &str, providers: Providers) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert(option.to_owned(), (Instant::now(), providers));
    }
}

/// One connected shop.
pub struct TikTokStore {
    pub(super) client: TikTokClient,
    pub(super) credentials: TikTokCredentials,
    pub(super) providers: Arc<ProviderCache>,
}

fn page_token(data: &Value) -> Option<String> {
    data.get("next_page_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
        .map(str::to_owned)
}

/// Letters and digits, lowercased: "UPS", "ups " and "U.P.S." name the same carrier.
fn carrier_key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl TikTokStore {
    fn auth(&self) -> ShopAuth<'_> {
        ShopAuth {
            access_token: &self.credentials.access_token,
            cipher: Some(&self.credentials.shop_cipher),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        self.client
            .call(method, path, query, body, self.auth())
            .await
    }

    /// Get Order Detail of one order, as TikTok returns it (`None`: TikTok does not know it).
    pub async fn order_json(&self, id: &str) -> Result<Option<Value>, ApiError> {
        let data = self
            .call(Method::GET, ORDER_DETAIL, &[("ids", id.to_owned())], None)
            .await?;
        Ok(data
            .get("orders")
            .and_then(Value::as_array)
            .and_then(|orders| {
                orders
                    .iter()
                    .find(|o| order_id(o).as_deref() == Some(id))
                    .cloned()
            }))
    }

    /// The shipping providers of a delivery option, cached for [`PROVIDERS_TTL`].
    async fn providers(&self, option: &str) -> Result<Providers, ApiError> {
        if let Some(cached) = self.providers.get(option) {
            return Ok(cached);
        }
        let path = format!("/logistics/202309/delivery_options/{option}/shipping_providers");
        let data = self.call(Method::GET, &path, &[], None).await?;
        let list: Vec<(String, String)> = data
            .get("shipping_providers")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        let id = super::webhook::id_text(p.get("id")?)?;
                        let name = p.get("name")?.as_str()?.trim().to_owned();
                        Some((id, name))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let list = Arc::new(list);
        self.providers.put(option, list.clone());
        Ok(list)
    }

    /// The line items this shipment covers: every open one (`lines` `None`), or per SKU the
    /// quantity asked, preferring items with no tracking yet.
    fn choose(items: &[LineItem], lines: Option<&[ShippedSku]>) -> Result<Vec<String>, String> {
        let open: Vec<&LineItem> = items
            .iter()
            .filter(|i| !i.cancelled && i.tracking_number.is_none())
            .collect();
        let Some(lines) = lines else {
            return Ok(open.iter().map(|i| i.id.clone()).collect());
        };
        let mut chosen = Vec::new();
        for line in lines {
            let candidates: Vec<String> = open
                .iter()
                .filter(|i| i.seller_sku.as_deref().map(str::trim) == Some(line.sku.trim()))
                .filter(|i| !chosen.contains(&i.id))
                .map(|i| i.id.clone())
                .collect();
            let mut matching = candidates.into_iter();
            for _ in 0..line.quantity {
                match matching.next() {
                    Some(id) => chosen.push(id),
                    None => {
                        return Err(format!(
                            "the order has fewer than {} unshipped units of {} on TikTok Shop",
                            line.quantity, line.sku
                        ))
                    }
                }
            }
        }
        Ok(chosen)
    }

    /// Packages already carrying `number` for this shipment (a retry after a lost answer),
    /// when they cover it: every open unit for a whole-order shipment, the asked quantity of
    /// each SKU for a partial one.
    fn already_written(
        items: &[LineItem],
        lines: Option<&[ShippedSku]>,
        number: &str,
    ) -> Option<Vec<String>> {
        let ours: Vec<&LineItem> = items
            .iter()
            .filter(|i| i.tracking_number.as_deref().map(str::trim) == Some(number))
            .collect();
        if ours.is_empty() {
            return None;
        }
        let covered = match lines {
            None => items
                .iter()
                .all(|i| i.cancelled || i.tracking_number.is_some()),
            Some(lines) => lines.iter().all(|l| {
                let n = ours
                    .iter()
                    .filter(|i| i.seller_sku.as_deref().map(str::trim) == Some(l.sku.trim()))
                    .count();
                n >= l.quantity as usize
            }),
        };
        if !covered {
            return None;
        }
        let mut packages: Vec<String> = ours
            .iter()
            .map(|i| i.package_id.clone().unwrap_or_else(|| i.id.clone()))
            .collect();
        packages.sort();
        packages.dedup();
        Some(packages)
    }
}

/// An id that goes into a URL path: letters, digits, `-` and `_` only (TikTok's ids are digits).
pub fn path_id(id: &str) -> Option<&str> {
    let id = id.trim();
    (!id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(id)
}

fn ship_error(e: ApiError) -> ShipError {
    match e {
        ApiError::Refused { .. } => ShipError::Permanent(e.to_string()),
        ApiError::Client(c) => ShipError::Client(c),
    }
}

#[async_trait]
impl StoreApi for TikTokStore {
    /// Order detail, for TikTok's order events (they carry only the id). An order fulfilled
    /// by TikTok is not ours; one TikTok does not return is not readable (yet).
    async fn order(&self, channel_order_id: &str) -> Result<Option<Reread>, ClientError> {
        let Some(order) = self.order_json(channel_order_id).await? else {
            return Ok(None);
        };
        match map_order(&order) {
            Ok(Mapped::Order(order)) => Ok(Some(Reread::Order(order))),
            Ok(Mapped::NotOurs(reason)) => Ok(Some(Reread::NotOurs(reason))),
            Err(reason) => Err(ClientError::BadResponse(format!(
                "order {channel_order_id}: {reason}"
            ))),
        }
    }

    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        let mut query = vec![
            ("page_size", ORDERS_PAGE_SIZE.to_string()),
            ("sort_field", "update_time".to_owned()),
            ("sort_order", "ASC".to_owned()),
        ];
        if let Some(token) = cursor {
            query.push(("page_token", token.to_owned()));
        }
        let body = json!({ "update_time_ge": since.timestamp() });
        let data = self
            .call(Method::POST, ORDERS_SEARCH, &query, Some(&body))
            .await?;
        let mut page = OrdersPage {
            orders: Vec::new(),
            next_cursor: page_token(&data),
            skipped: Vec::new(),
        };
        for raw in data
            .get("orders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match map_order(raw) {
                Ok(Mapped::Order(order)) => page.orders.push(*order),
                Ok(Mapped::NotOurs(reason)) => tracing::info!(%reason, "order left out"),
                Err(reason) => page
                    .skipped
                    .push((order_id(raw).unwrap_or_else(|| "?".into()), reason)),
            }
        }
        Ok(page)
    }

    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let mut query = vec![("page_size", PRODUCTS_PAGE_SIZE.to_string())];
        if let Some(token) = cursor {
            query.push(("page_token", token.to_owned()));
        }
        let data = self
            .call(Method::POST, PRODUCTS_SEARCH, &query, Some(&json!({})))
            .await?;
        let mut listings = Vec::new();
        for product in data
            .get("products")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(product_id) = product.get("id").and_then(super::webhook::id_text) else {
                continue;
            };
            let title = product
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(300)
                .collect::<String>();
            let status = product
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            let sellable = !matches!(
                status.as_str(),
                "draft"
                    | "failed"
                    | "seller_deactivated"
                    | "platform_deactivated"
                    | "freeze"
                    | "deleted"
            );
            for sku in product
                .get("skus")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(sku_id) = sku.get("id").and_then(super::webhook::id_text) else {
                    continue;
                };
                listings.push(Listing {
                    inventory_item_id: Some(format!("{product_id}:{sku_id}")),
                    variant_id: sku_id,
                    sku: sku
                        .get("seller_sku")
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    tracked: true,
                    product_id: product_id.clone(),
                    product_title: title.clone(),
                    status: status.clone(),
                    sellable,
                });
            }
        }
        Ok(ListingsPage {
            listings,
            next_cursor: page_token(&data),
        })
    }

    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        _notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.as_str();
        let channel_order_id = path_id(channel_order_id).ok_or_else(|| {
            ShipError::Permanent(format!(
                "{:?} is not a TikTok Shop order id",
                channel_order_id.chars().take(80).collect::<String>()
            ))
        })?;
        let order = self
            .order_json(channel_order_id)
            .await
            .map_err(ship_error)?
            .ok_or_else(|| {
                ShipError::Permanent(format!(
                    "TikTok Shop does not know order {channel_order_id}"
                ))
            })?;
        let items = line_items(&order);
        // A retry after a lost answer: the package is already there.
        if let Some(packages) = Self::already_written(&items, lines, number) {
            tracing::info!(
                order = channel_order_id,
                "tracking already on TikTok: not sent again"
            );
            return Ok(packages);
        }
        let status = order.get("status").and_then(Value::as_str).unwrap_or("");
        if status == "CANCELLED" {
            return Err(ShipError::Permanent(format!(
                "order {channel_order_id} is cancelled on TikTok Shop"
            )));
        }
        let chosen = Self::choose(&items, lines).map_err(ShipError::Permanent)?;
        if chosen.is_empty() {
            return Err(ShipError::Permanent(format!(
                "order {channel_order_id} has nothing left to ship on TikTok Shop"
            )));
        }
        let option = order
            .get("delivery_option_id")
            .and_then(super::webhook::id_text)
            .filter(|o| path_id(o).is_some())
            .ok_or_else(|| {
                ShipError::Permanent(format!(
                    "order {channel_order_id} has no delivery option, so TikTok's carriers for it are unknown"
                ))
            })?;
        let providers = self.providers(&option).await.map_err(ship_error)?;
        let wanted = carrier_key(&tracking.company);
        let provider = providers
            .iter()
            .find(|(_, name)| !wanted.is_empty() && carrier_key(name) == wanted)
            .ok_or_else(|| {
                let listed: Vec<&str> =
                    providers.iter().map(|(_, n)| n.as_str()).take(50).collect();
                ShipError::Permanent(format!(
                    "TikTok Shop does not list the carrier {:?} for this order; it lists: {}",
                    tracking.company.chars().take(80).collect::<String>(),
                    listed.join(", ")
                ))
            })?;
        let path = format!("/fulfillment/202309/orders/{channel_order_id}/packages");
        let body = json!({
            "order_line_item_ids": chosen,
            "tracking_number": number,
            "shipping_provider_id": provider.0,
        });
        let data = self
            .call(Method::POST, &path, &[], Some(&body))
            .await
            .map_err(ship_error)?;
        let package = data
            .get("package_id")
            .and_then(super::webhook::id_text)
            .ok_or_else(|| {
                ShipError::Client(ClientError::BadResponse(
                    "TikTok's answer has no package_id".into(),
                ))
            })?;
        Ok(vec![package])
    }
}
