//! A Veeqo order (`GET /orders`, `GET /orders/{id}`) into the domain [`Order`], for the
//! connection whose Inventory Sync Warehouse is `warehouse`.
//!
//! Which orders the WMS ships (`awaiting` is `None`), in this order of checks:
//! 1. **Not fulfilled by Amazon.** `fulfilled_by_amazon: true` is an FBA order: Amazon ships
//!    it from its own stock, so it is never imported whatever its status. When the flag is
//!    absent or not a boolean on an order from an Amazon channel (`channel.type_code` starting
//!    with `amazon`), we cannot tell, and the order waits with that reason (never imported as
//!    ready). Orders of other channels without the flag are merchant-fulfilled.
//! 2. **Status `awaiting_fulfillment`.** `cancelled` and `refunded` are cancellations;
//!    `shipped` is fulfilled elsewhere; `awaiting_payment` waits for payment (lifted by
//!    `import_unpaid`); `awaiting_stock`, `on_hold` and anything unknown wait with the status.
//! 3. **Allocated to our warehouse.** The lines are those of the order's allocation to
//!    `warehouse` only (an order split across warehouses brings only our part); an order with
//!    no allocation there waits ("allocated to another warehouse"). A cancelled order with
//!    no allocation of ours keeps all its lines, so a cancellation still reaches the WMS.

use crate::channels::veeqo::client::id_text;
use crate::domain::{
    order_holds, Address, ChannelOrderId, HoldReason, Marketplace, Order, OrderLine,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// Veeqo's statuses ([C] reference §4.3).
pub const READY_STATUS: &str = "awaiting_fulfillment";

/// Longest text kept from a field.
const MAX_TEXT: usize = 255;

/// One allocation of an order: which warehouse ships which lines, and its shipment, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub id: String,
    pub warehouse_id: Option<String>,
    /// (SKU as Veeqo spells it, quantity), per line.
    pub lines: Vec<(Option<String>, u64)>,
    /// The shipment's (id, tracking number) when the allocation was shipped.
    pub shipment: Option<(String, Option<String>)>,
}

/// The order's allocations.
pub fn allocations(raw: &Value) -> Vec<Allocation> {
    raw.get("allocations")
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .filter_map(|a| {
                    Some(Allocation {
                        id: id_text(a.get("id"))?,
                        warehouse_id: id_text(a.pointer("/warehouse/id"))
                            .or_else(|| id_text(a.get("warehouse_id"))),
                        lines: a
                            .get("line_items")
                            .and_then(Value::as_array)
                            .map(|ls| {
                                ls.iter()
                                    .map(|l| {
                                        (
                                            text(l.pointer("/sellable/sku_code")),
                                            l.get("quantity").and_then(Value::as_u64).unwrap_or(0),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        shipment: a.get("shipment").filter(|s| s.is_object()).and_then(|s| {
                            let id = id_text(s.get("id"))?;
                            let number = text(s.pointer("/tracking_number/tracking_number"))
                                .or_else(|| text(s.get("tracking_number")));
                            Some((id, number))
                        }),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether Veeqo says Amazon fulfils the order: `Some(true)` FBA, `Some(false)` merchant
/// fulfilled, `None` unknown (an Amazon order without the flag).
pub fn fulfilled_by_amazon(raw: &Value) -> Option<bool> {
    match raw.get("fulfilled_by_amazon") {
        Some(Value::Bool(b)) => Some(*b),
        _ => {
            let amazon = raw
                .pointer("/channel/type_code")
                .and_then(Value::as_str)
                .is_some_and(|t| t.to_ascii_lowercase().starts_with("amazon"));
            if amazon {
                None
            } else {
                Some(false)
            }
        }
    }
}

/// Maps one Veeqo order for the connection whose warehouse is `warehouse`.
/// `Err((id or "?", reason))` for an order that cannot be read.
pub fn map_order(raw: &Value, warehouse: &str) -> Result<Order, (String, String)> {
    let id_raw = id_text(raw.get("id"))
        .ok_or_else(|| ("?".to_owned(), "the order has no numeric id".to_owned()))?;
    let fail = |reason: String| (id_raw.clone(), reason);
    let channel_order_id =
        ChannelOrderId::parse(id_raw.clone()).map_err(|e| fail(e.to_string()))?;
    let updated_at =
        time(raw.get("updated_at")).ok_or_else(|| fail("no readable updated_at".into()))?;
    let placed_at = time(raw.get("created_at")).unwrap_or(updated_at);
    let status = raw
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let cancelled = matches!(status.as_str(), "cancelled" | "refunded");

    let ours = allocations(raw)
        .into_iter()
        .find(|a| a.warehouse_id.as_deref() == Some(warehouse));
    let mut holds: Vec<HoldReason> = Vec::new();
    let lines: Vec<OrderLine> = match &ours {
        Some(_) => allocation_lines(raw, warehouse, &mut holds),
        None => order_lines(raw, &mut holds),
    };
    let ship_to = address(raw);

    let fba = fulfilled_by_amazon(raw);
    let mut awaiting_payment = false;
    let awaiting = if fba == Some(true) {
        Some("fulfilled by Amazon (FBA): Amazon ships it, never the warehouse".to_owned())
    } else if fba.is_none() {
        Some(
            "Veeqo did not say whether Amazon fulfils this Amazon order (no fulfilled_by_amazon): not imported until it does"
                .to_owned(),
        )
    } else if cancelled {
        Some(format!("{status} on Veeqo"))
    } else if status == "shipped" {
        Some("shipped on Veeqo".to_owned())
    } else if status == "awaiting_payment" {
        awaiting_payment = true;
        Some("awaiting payment on Veeqo".to_owned())
    } else if status != READY_STATUS {
        Some(format!(
            "Veeqo status {:?} (only awaiting_fulfillment orders are shipped)",
            status.chars().take(50).collect::<String>()
        ))
    } else if ours.is_none() {
        Some(format!(
            "allocated to another Veeqo warehouse than the Inventory Sync Warehouse {warehouse}"
        ))
    } else {
        None
    };
    if ours.is_none() && awaiting_payment {
        // Payment is not the only thing missing: it is not allocated to us either.
        awaiting_payment = false;
    }
    let mut all_holds = holds;
    all_holds.extend(order_holds(
        &lines,
        ship_to.as_ref(),
        cancelled,
        false,
        "Veeqo",
    ));
    let number = text(raw.get("number")).unwrap_or_else(|| id_raw.clone());
    Ok(Order {
        channel_order_id,
        order_number: number,
        placed_at,
        updated_at,
        financial_status: Some(status.chars().take(50).collect()),
        cancelled,
        currency: text(raw.get("currency_code"))
            .or_else(|| text(raw.pointer("/channel/currency_code"))),
        lines,
        ship_to,
        hold_reasons: all_holds,
        awaiting,
        awaiting_payment,
        fulfilled: status == "shipped",
        marketplace: marketplace(raw),
    })
}

/// The Veeqo channel (store) the order was sold on and Amazon's Prime flag. Reading assumed
/// ([C] field names, reference §4.3; their semantics [U]): the marketplace is `channel.name`
/// ("Amazon UK"), else `channel.type_code`; Prime is `is_amazon_prime: true` (anything else,
/// or absent, is not Prime). An order naming no channel but flagged Prime still says so, as
/// "Amazon".
pub fn marketplace(raw: &Value) -> Option<Marketplace> {
    let prime = raw.get("is_amazon_prime").and_then(Value::as_bool) == Some(true);
    let name = text(raw.pointer("/channel/name"))
        .or_else(|| text(raw.pointer("/channel/type_code")))
        .or_else(|| prime.then(|| "Amazon".to_owned()))?;
    Some(Marketplace { name, prime })
}

/// The lines of our allocation.
fn allocation_lines(raw: &Value, warehouse: &str, holds: &mut Vec<HoldReason>) -> Vec<OrderLine> {
    let allocation = raw
        .get("allocations")
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter().find(|a| {
                id_text(a.pointer("/warehouse/id"))
                    .or_else(|| id_text(a.get("warehouse_id")))
                    .as_deref()
                    == Some(warehouse)
            })
        });
    let empty = Vec::new();
    let items = allocation
        .and_then(|a| a.get("line_items"))
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    lines_of(items, holds)
}

fn order_lines(raw: &Value, holds: &mut Vec<HoldReason>) -> Vec<OrderLine> {
    let empty = Vec::new();
    let items = raw
        .get("line_items")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    lines_of(items, holds)
}

fn lines_of(items: &[Value], holds: &mut Vec<HoldReason>) -> Vec<OrderLine> {
    items
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let line_id = id_text(l.get("id"))
                .or_else(|| id_text(l.pointer("/sellable/id")))
                .unwrap_or_else(|| format!("line-{}", i + 1));
            let sku = l.pointer("/sellable/sku_code").and_then(Value::as_str);
            let title = text(l.pointer("/sellable/product_title"))
                .or_else(|| text(l.pointer("/sellable/full_title")))
                .or_else(|| text(l.pointer("/sellable/title")));
            let quantity = l.get("quantity").cloned().unwrap_or(Value::Null);
            OrderLine::checked(line_id, sku, &quantity, title, true, holds)
        })
        .collect()
}

fn address(raw: &Value) -> Option<Address> {
    let d = raw.get("deliver_to").filter(|d| d.is_object())?;
    let name = [text(d.get("first_name")), text(d.get("last_name"))]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Some(Address {
        name: Some(name).filter(|n| !n.is_empty()),
        company: text(d.get("company")),
        address1: text(d.get("address1")),
        address2: text(d.get("address2")),
        city: text(d.get("city")),
        province_code: text(d.get("state")),
        postal_code: text(d.get("zip")),
        country_code: text(d.get("country")),
        phone: text(d.get("phone")),
        email: text(d.get("email")).or_else(|| text(raw.pointer("/customer/email"))),
    })
}

/// A trimmed, bounded, non-empty string.
fn text(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?.trim();
    (!s.is_empty()).then(|| s.chars().take(MAX_TEXT).collect())
}

/// Veeqo's timestamps: RFC 3339 (`2017-09-25T16:04:52.266Z`), or `YYYY-MM-DD HH:MM:SS` read
/// as UTC.
pub fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}
