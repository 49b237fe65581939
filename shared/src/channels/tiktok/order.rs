//! A TikTok Shop order (Get Order Detail / Search Orders, reference §1.4) into the domain
//! [`Order`]. Only `AWAITING_SHIPMENT` (and `PARTIALLY_SHIPPING`) orders are ready to ship;
//! `UNPAID` and `ON_HOLD` wait (`Order.awaiting`); `CANCELLED` cancels; shipped states are
//! fulfilled. Orders fulfilled by TikTok (FBT) are not ours to ship and are never mapped.
//!
//! Line items carry no quantity: each is one unit [U: the reading the reference infers]; they
//! are grouped by SKU (one [`crate::domain::OrderLine`] per SKU, its `channel_line_id` the
//! TikTok `sku_id`). A combined listing expands into its `combined_listing_skus` (`sku_count`
//! units of each per unit sold). An address TikTok starred out, or an order on TikTok's own
//! shipping (its labels, not the warehouse's carrier), is held `masked_address` with what the
//! merchant must do.

use crate::domain::{order_holds, Address, ChannelOrderId, HoldCode, HoldReason, Order, OrderLine};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the merchant is told on every masked-address hold.
pub const MASKED_ADDRESS_ADVICE: &str = "TikTok Shop starred out the buyer's address, so the \
warehouse cannot ship this order: switch the products to a Shipped by Seller shipping template \
in TikTok Seller Center; the order is released automatically when TikTok shows the address";

/// The most units one order may expand to (a hostile or broken answer must not allocate
/// without bound).
const MAX_UNITS: u32 = 100_000;

/// A mapped order, or why it is not ours.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Order(Box<Order>),
    /// Fulfilled by TikTok (FBT): never imported.
    NotOurs(String),
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn owned(v: &Value, key: &str) -> Option<String> {
    text(v, key).map(|s| s.chars().take(500).collect())
}

fn unix(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    let n = match v.get(key)? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Utc.timestamp_opt(n, 0).single()
}

/// The order's id as TikTok spells it (strings; numbers accepted).
pub fn order_id(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One order of Get Order Detail or Search Orders.
pub fn map_order(v: &Value) -> Result<Mapped, String> {
    let id = order_id(v).ok_or("the order has no id")?;
    let channel_order_id =
        ChannelOrderId::parse(id.clone()).map_err(|e| format!("order id {id:?}: {e}"))?;
    if text(v, "fulfillment_type") == Some("FULFILLMENT_BY_TIKTOK") {
        return Ok(Mapped::NotOurs(format!(
            "order {id} is fulfilled by TikTok (FBT): not the warehouse's to ship"
        )));
    }
    let updated_at =
        unix(v, "update_time").ok_or_else(|| format!("order {id} has no update_time"))?;
    let placed_at = unix(v, "create_time").unwrap_or(updated_at);
    let status = text(v, "status").unwrap_or("").to_ascii_uppercase();
    let (awaiting, cancelled, fulfilled) = match status.as_str() {
        "AWAITING_SHIPMENT" | "PARTIALLY_SHIPPING" => (None, false, false),
        "UNPAID" => (Some("unpaid on TikTok Shop".to_owned()), false, false),
        "ON_HOLD" => (
            Some("on hold on TikTok Shop (the buyer may still cancel)".to_owned()),
            false,
            false,
        ),
        "CANCELLED" | "CANCEL" => (None, true, false),
        "AWAITING_COLLECTION" | "IN_TRANSIT" | "DELIVERED" | "COMPLETED" => (None, false, true),
        other => (
            Some(format!(
                "TikTok Shop status {:?} is not one to ship",
                snippet(other)
            )),
            false,
            false,
        ),
    };

    let mut holds = Vec::new();
    let lines = lines(v, &id, &mut holds)?;
    let address = v.get("recipient_address").filter(|a| a.is_object());
    let ship_to = address.map(|a| map_address(a, text(v, "buyer_email")));
    holds.extend(order_holds(
        &lines,
        ship_to.as_ref(),
        cancelled,
        false,
        "TikTok Shop",
    ));
    let platform_shipping = text(v, "shipping_type") == Some("TIKTOK");
    if !cancelled && (platform_shipping || address.is_some_and(is_masked)) {
        let why = if platform_shipping {
            "the order ships with TikTok Shipping (platform labels)"
        } else {
            "the address is starred out"
        };
        holds.push(HoldReason::new(
            HoldCode::MaskedAddress,
            format!("{why}. {MASKED_ADDRESS_ADVICE}"),
        ));
    }
    Ok(Mapped::Order(Box::new(Order {
        channel_order_id,
        order_number: id,
        placed_at,
        updated_at,
        financial_status: Some(status.to_ascii_lowercase()).filter(|s| !s.is_empty()),
        cancelled,
        currency: v.get("payment").and_then(|p| owned(p, "currency")),
        lines,
        ship_to,
        hold_reasons: holds,
        awaiting,
        awaiting_payment: false,
        fulfilled,
        marketplace: None,
    })))
}

fn snippet(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Units per SKU, in the order first seen: `(sku_id, seller_sku, title, units)`.
fn lines(v: &Value, id: &str, holds: &mut Vec<HoldReason>) -> Result<Vec<OrderLine>, String> {
    let items = v
        .get("line_items")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("order {id} has no line_items"))?;
    // Keyed by the TikTok SKU id; the value keeps the first-seen order.
    let mut grouped = Grouped::new();
    for item in items {
        let combined = item
            .get("combined_listing_skus")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty());
        match combined {
            Some(parts) => {
                for part in parts {
                    let count = part
                        .get("sku_count")
                        .and_then(Value::as_u64)
                        .and_then(|c| u32::try_from(c).ok())
                        .unwrap_or(0);
                    let key = owned(part, "sku_id")
                        .or_else(|| owned(part, "seller_sku").map(|s| format!("sku:{s}")))
                        .unwrap_or_else(|| "?".into());
                    if count == 0 {
                        holds.push(HoldReason::new(
                            HoldCode::InvalidQuantity,
                            format!("combined listing part {key} has no sku_count"),
                        ));
                    }
                    add(
                        &mut grouped,
                        key,
                        owned(part, "seller_sku"),
                        owned(item, "sku_name"),
                        count,
                    );
                }
            }
            None => {
                let key = owned(item, "sku_id")
                    .or_else(|| owned(item, "seller_sku").map(|s| format!("sku:{s}")))
                    .or_else(|| owned(item, "id").map(|s| format!("line:{s}")))
                    .unwrap_or_else(|| "?".into());
                let title = owned(item, "sku_name").or_else(|| owned(item, "product_name"));
                add(&mut grouped, key, owned(item, "seller_sku"), title, 1);
            }
        }
        let total = grouped.values().fold(0u32, |t, g| t.saturating_add(g.3));
        if total > MAX_UNITS {
            return Err(format!("order {id} has more than {MAX_UNITS} units"));
        }
    }
    let mut rows: Vec<_> = grouped.into_iter().collect();
    rows.sort_by_key(|(_, (seen, ..))| *seen);
    Ok(rows
        .into_iter()
        .map(|(sku_id, (_, seller_sku, title, units))| {
            OrderLine::checked(
                sku_id,
                seller_sku.as_deref(),
                &Value::from(units),
                title,
                true,
                holds,
            )
        })
        .collect())
}

type Grouped = BTreeMap<String, (usize, Option<String>, Option<String>, u32)>;

/// Adds `units` of a SKU, remembering when it was first seen.
fn add(
    grouped: &mut Grouped,
    sku_id: String,
    seller_sku: Option<String>,
    title: Option<String>,
    units: u32,
) {
    let next = grouped.len();
    let entry = grouped
        .entry(sku_id)
        .or_insert((next, seller_sku, title, 0));
    entry.3 = entry.3.saturating_add(units);
}

/// Whether TikTok starred out any field the warehouse ships with.
pub fn is_masked(address: &Value) -> bool {
    let starred = |k: &str| text(address, k).is_some_and(|s| s.contains('*'));
    [
        "name",
        "first_name",
        "last_name",
        "phone_number",
        "address_line1",
        "address_line2",
        "postal_code",
        "full_address",
        "address_detail",
    ]
    .iter()
    .any(|k| starred(k))
}

fn map_address(a: &Value, email: Option<&str>) -> Address {
    // district_info: L0 country, L1 state/region, L2 county, L3 city, L4 district.
    let level = |l: &str| {
        a.get("district_info")
            .and_then(Value::as_array)
            .and_then(|d| d.iter().find(|x| text(x, "address_level") == Some(l)))
            .and_then(|x| owned(x, "address_name"))
    };
    let name = owned(a, "name").or_else(|| {
        let full = [text(a, "first_name"), text(a, "last_name")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Some(full).filter(|s| !s.is_empty())
    });
    let address2 = [
        text(a, "address_line2"),
        text(a, "address_line3"),
        text(a, "address_line4"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    Address {
        name,
        company: None,
        address1: owned(a, "address_line1").or_else(|| owned(a, "address_detail")),
        address2: Some(address2).filter(|s| !s.is_empty()),
        city: level("L3").or_else(|| level("L2")),
        province_code: level("L1"),
        postal_code: owned(a, "postal_code"),
        country_code: owned(a, "region_code").map(|c| c.to_ascii_uppercase()),
        phone: owned(a, "phone_number"),
        email: email.map(str::to_owned),
    }
}

/// The line-item ids of `order` for each SKU (seller SKU as the WMS knows it), with the
/// package and tracking number TikTok already has on each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub id: String,
    pub seller_sku: Option<String>,
    pub package_id: Option<String>,
    pub tracking_number: Option<String>,
    pub cancelled: bool,
}

/// Every line item of an order (one per unit).
pub fn line_items(v: &Value) -> Vec<LineItem> {
    v.get("line_items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some(LineItem {
                        id: owned(i, "id")?,
                        seller_sku: owned(i, "seller_sku"),
                        package_id: owned(i, "package_id"),
                        tracking_number: owned(i, "tracking_number"),
                        cancelled: matches!(
                            text(i, "display_status"),
                            Some("CANCELLED") | Some("CANCEL")
                        ) || text(i, "cancel_user").is_some(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn order_json(status: &str, masked: bool) -> Value {
        let (name, line1, phone) = if masked {
            ("J*** D**", "***", "(+1)213-***-1234")
        } else {
            ("Jane Doe", "1 Main St", "(+1)213-555-1234")
        };
        json!({
            "id": "576653688135258178",
            "status": status,
            "create_time": 1764230400,
            "update_time": 1764234000,
            "shipping_type": "SELLER",
            "fulfillment_type": "FULFILLMENT_BY_SELLER",
            "payment": {"currency": "USD"},
            "buyer_email": "v7x@scs.tiktokw.us",
            "recipient_address": {
                "name": name, "phone_number": phone, "address_line1": line1,
                "address_line2": "Apt 4", "postal_code": "90001", "region_code": "us",
                "district_info": [
                    {"address_level": "L0", "address_name": "United States"},
                    {"address_level": "L1", "address_name": "California"},
                    {"address_level": "L3", "address_name": "Los Angeles"}
                ]
            },
            "line_items": [
                {"id": "li1", "sku_id": "sku-a", "seller_sku": "TS-001", "sku_name": "Tee"},
                {"id": "li2", "sku_id": "sku-a", "seller_sku": "TS-001", "sku_name": "Tee"},
                {"id": "li3", "sku_id": "sku-b", "seller_sku": "MUG-1", "sku_name": "Mug"}
            ]
        })
    }

    fn mapped(v: &Value) -> Order {
        match map_order(v).unwrap() {
            Mapped::Order(o) => *o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_awaiting_shipment_order_is_ready_with_units_grouped_by_sku() {
        let o = mapped(&order_json("AWAITING_SHIPMENT", false));
        assert_eq!(o.channel_order_id.as_str(), "576653688135258178");
        assert!(o.awaiting.is_none() && !o.cancelled && !o.fulfilled);
        assert!(o.hold_reasons.is_empty(), "{:?}", o.hold_reasons);
        let lines: Vec<_> = o
            .lines
            .iter()
            .map(|l| {
                (
                    l.channel_line_id.as_str(),
                    l.sku.as_ref().unwrap().as_str(),
                    l.quantity,
                )
            })
            .collect();
        assert_eq!(lines, [("sku-a", "TS-001", 2), ("sku-b", "MUG-1", 1)]);
        let a = o.ship_to.unwrap();
        assert_eq!(a.name.as_deref(), Some("Jane Doe"));
        assert_eq!(a.address1.as_deref(), Some("1 Main St"));
        assert_eq!(a.city.as_deref(), Some("Los Angeles"));
        assert_eq!(a.country_code.as_deref(), Some("US"));
        assert_eq!(o.updated_at.timestamp(), 1764234000);
    }

    #[test]
    fn unpaid_and_on_hold_wait_cancelled_cancels_shipped_is_fulfilled() {
        assert!(mapped(&order_json("UNPAID", true)).awaiting.is_some());
        assert!(mapped(&order_json("ON_HOLD", true)).awaiting.is_some());
        let c = mapped(&order_json("CANCELLED", true));
        assert!(c.cancelled && c.awaiting.is_none());
        assert!(mapped(&order_json("IN_TRANSIT", false)).fulfilled);
        assert!(mapped(&order_json("SOMETHING_NEW", false))
            .awaiting
            .is_some());
    }

    #[test]
    fn a_masked_address_is_held_with_the_shipped_by_seller_advice() {
        let o = mapped(&order_json("AWAITING_SHIPMENT", true));
        let hold = o
            .hold_reasons
            .iter()
            .find(|h| h.code == HoldCode::MaskedAddress)
            .expect("masked hold");
        assert!(hold.detail.contains("Shipped by Seller"), "{}", hold.detail);
        assert_eq!(
            serde_json::to_value(HoldCode::MaskedAddress).unwrap(),
            "masked_address"
        );
        // Platform shipping is held even when the fields are shown.
        let mut v = order_json("AWAITING_SHIPMENT", false);
        v["shipping_type"] = json!("TIKTOK");
        let o = mapped(&v);
        assert!(o
            .hold_reasons
            .iter()
            .any(|h| h.code == HoldCode::MaskedAddress));
    }

    #[test]
    fn fbt_orders_are_not_ours() {
        let mut v = order_json("AWAITING_SHIPMENT", false);
        v["fulfillment_type"] = json!("FULFILLMENT_BY_TIKTOK");
        assert!(matches!(map_order(&v).unwrap(), Mapped::NotOurs(_)));
    }

    #[test]
    fn combined_listings_expand_and_bad_parts_are_held() {
        let mut v = order_json("AWAITING_SHIPMENT", false);
        v["line_items"] = json!([
            {"id": "li1", "sku_id": "bundle", "seller_sku": "BUNDLE",
             "combined_listing_skus": [
                {"sku_id": "sku-a", "seller_sku": "TS-001", "sku_count": 2},
                {"sku_id": "sku-b", "seller_sku": "MUG-1", "sku_count": 1}]},
            {"id": "li2", "sku_id": "sku-a", "seller_sku": "TS-001"}
        ]);
        let o = mapped(&v);
        let q: Vec<_> = o
            .lines
            .iter()
            .map(|l| (l.channel_line_id.as_str(), l.quantity))
            .collect();
        assert_eq!(q, [("sku-a", 3), ("sku-b", 1)]);
        v["line_items"][0]["combined_listing_skus"][1]["sku_count"] = json!("x");
        let o = mapped(&v);
        assert!(o
            .hold_reasons
            .iter()
            .any(|h| h.code == HoldCode::InvalidQuantity));
    }

    #[test]
    fn bad_orders_are_refused_with_a_reason_never_a_panic() {
        for bad in [
            json!({}),
            json!({"id": "1"}),
            json!({"id": "1", "update_time": 5}),
            json!({"id": "1", "update_time": "x", "line_items": []}),
            json!({"id": "bad id", "update_time": 5, "line_items": []}),
        ] {
            assert!(map_order(&bad).is_err(), "{bad}");
        }
        let mut v = order_json("AWAITING_SHIPMENT", false);
        v["line_items"][0]["seller_sku"] = json!(null);
        let o = mapped(&v);
        assert!(o
            .hold_reasons
            .iter()
            .any(|h| h.code == HoldCode::MissingSku));
    }
}
