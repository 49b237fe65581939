//! Magento orders (`GET /V1/orders` items, `GET /V1/orders/{id}`) into [`Order`].
//!
//! Lines: a configurable product gives a parent row (its `sku` is the chosen child's) and a
//! child row; the parent row is kept, the child skipped. A bundle gives a parent row and one
//! row per component; the components are kept (the warehouse picks them), the parent skipped.

use super::truthy;
use crate::domain::{order_holds, Address, ChannelOrderId, HoldReason, Order, OrderLine};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;

/// A Magento id (a JSON number or string) as a string.
pub(crate) fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Magento's `YYYY-MM-DD HH:MM:SS` (UTC), or RFC 3339.
pub(crate) fn timestamp(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let raw = v?.as_str()?.trim();
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(raw)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
}

/// `qty_ordered` (`2.0000`, `"2.0000"`, `2`) as a JSON integer when it is a whole
/// non-negative number; otherwise the value as received (so [`OrderLine::checked`] holds it).
fn whole_quantity(v: Option<&Value>) -> Value {
    let Some(v) = v else { return Value::Null };
    let number = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64 => {
            Value::from(f as u64)
        }
        _ => v.clone(),
    }
}

/// `awaiting` and `cancelled` of a Magento order `state`.
fn state_meaning(state: Option<&str>) -> (Option<String>, bool) {
    match state {
        Some("processing") => (None, false),
        Some("new") => (
            Some("the order is new on Magento (not yet paid or invoiced)".into()),
            false,
        ),
        Some("pending_payment") => (
            Some("the order is awaiting payment on Magento".into()),
            false,
        ),
        Some("payment_review") => (
            Some("the order's payment is under review on Magento".into()),
            false,
        ),
        Some("holded") => (Some("the order is on hold on Magento".into()), false),
        Some("complete") => (Some("already shipped on Magento".into()), false),
        Some("closed") => (Some("closed (refunded) on Magento".into()), true),
        Some("canceled") => (Some("cancelled on Magento".into()), true),
        Some(other) => (
            Some(format!("state {other} is not one channel-sync imports")),
            false,
        ),
        None => (
            Some("state (none) is not one channel-sync imports".into()),
            false,
        ),
    }
}

/// Maps one Magento order. Never panics on unexpected types: an order that cannot be read is
/// an `Err` with the reason.
pub fn map_order(value: &Value) -> Result<Order, String> {
    let obj = value.as_object().ok_or("the order is not a JSON object")?;
    let id = id_string(obj.get("entity_id")).ok_or("entity_id is missing or not an id")?;
    let channel_order_id = ChannelOrderId::parse(id.clone()).map_err(|e| e.to_string())?;
    let order_number = id_string(obj.get("increment_id")).unwrap_or_else(|| id.clone());
    let placed_at = timestamp(obj.get("created_at"))
        .ok_or("created_at is missing or not a YYYY-MM-DD HH:MM:SS time")?;
    let updated_at = match obj.get("updated_at") {
        None | Some(Value::Null) => placed_at,
        v => timestamp(v).ok_or("updated_at is not a YYYY-MM-DD HH:MM:SS time")?,
    };

    let items: &[Value] = match obj.get("items") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => return Err("items is not a list".into()),
    };
    // item_id → product_type, and which items have children.
    let mut types: HashMap<String, String> = HashMap::new();
    let mut has_children: HashMap<String, bool> = HashMap::new();
    for item in items {
        if !item.is_object() {
            return Err("an order item is not a JSON object".into());
        }
        if let Some(item_id) = id_string(item.get("item_id")) {
            types.insert(item_id, text(item.get("product_type")).unwrap_or_default());
        }
        if let Some(parent) = id_string(item.get("parent_item_id")) {
            has_children.insert(parent, true);
        }
    }

    let mut holds: Vec<HoldReason> = Vec::new();
    let mut lines = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_id = id_string(item.get("item_id"));
        let product_type = text(item.get("product_type")).unwrap_or_default();
        if let Some(parent) = id_string(item.get("parent_item_id")) {
            let parent_type = types
                .get(&parent)
                .cloned()
                .or_else(|| text(item.get("parent_item").and_then(|p| p.get("product_type"))));
            if parent_type.as_deref() == Some("configurable") {
                // The parent row carries the child's SKU and the quantity: ship that one.
                continue;
            }
        } else if product_type != "configurable"
            && item_id
                .as_ref()
                .is_some_and(|id| has_children.contains_key(id))
        {
            // A bundle (or any non-configurable parent): its components are the lines.
            continue;
        }
        let line_id = item_id.unwrap_or_else(|| format!("index-{index}"));
        let virtual_ = matches!(product_type.as_str(), "virtual" | "downloadable")
            || item.get("is_virtual").is_some_and(truthy);
        let sku = item.get("sku").and_then(Value::as_str);
        lines.push(OrderLine::checked(
            line_id,
            sku,
            &whole_quantity(item.get("qty_ordered")),
            text(item.get("name")),
            !virtual_,
            &mut holds,
        ));
    }

    let email = text(obj.get("customer_email"));
    let address = obj
        .get("extension_attributes")
        .and_then(|e| e.get("shipping_assignments"))
        .and_then(|a| a.get(0))
        .and_then(|a| a.get("shipping"))
        .and_then(|s| s.get("address"))
        .filter(|a| a.is_object());
    let ship_to = address.map(|a| {
        let street = a.get("street");
        let (street1, street2) = match street {
            Some(Value::Array(lines)) => (text(lines.first()), text(lines.get(1))),
            Some(Value::String(_)) => (text(street), None),
            _ => (None, None),
        };
        let name = [text(a.get("firstname")), text(a.get("lastname"))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Address {
            name: Some(name).filter(|n| !n.is_empty()),
            company: text(a.get("company")),
            address1: street1,
            address2: street2,
            city: text(a.get("city")),
            province_code: text(a.get("region_code")),
            postal_code: text(a.get("postcode")),
            country_code: text(a.get("country_id")),
            phone: text(a.get("telephone")),
            email: text(a.get("email")).or_else(|| email.clone()),
        }
    });

    let state = obj.get("state").and_then(Value::as_str).map(str::trim);
    let (awaiting, cancelled) = state_meaning(state);
    // Waiting for payment (or its review) and nothing else: `import_unpaid` connections
    // import these.
    let awaiting_payment = matches!(state, Some("pending_payment" | "payment_review"));
    holds.extend(order_holds(
        &lines,
        ship_to.as_ref(),
        cancelled,
        false,
        "Magento",
    ));

    Ok(Order {
        channel_order_id,
        order_number,
        placed_at,
        updated_at,
        financial_status: text(obj.get("status")),
        cancelled,
        currency: text(obj.get("order_currency_code")),
        lines,
        ship_to,
        hold_reasons: holds,
        awaiting,
        awaiting_payment,
        fulfilled: state == Some("complete"),
        marketplace: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HoldCode;
    use serde_json::json;

    pub(crate) fn order(items: Value) -> Value {
        json!({
            "entity_id": 42, "increment_id": "000000042", "state": "processing", "status": "processing",
            "created_at": "2026-11-20 10:00:00", "updated_at": "2026-11-21 11:30:00",
            "order_currency_code": "EUR", "customer_email": "buyer@example.com",
            "items": items,
            "extension_attributes": {"shipping_assignments": [{"shipping": {"address": {
                "firstname": "Ada", "lastname": "Lovelace", "company": "Engines Ltd",
                "street": ["1 Main St", "Flat 2"], "city": "Dublin", "region_code": "D",
                "postcode": "D01", "country_id": "IE", "telephone": "+353 1"
            }, "method": "flatrate_flatrate"}}]}
        })
    }

    #[test]
    fn maps_a_ready_order() {
        let o = map_order(&order(json!([
            {"item_id": 1, "sku": "TS-001", "qty_ordered": 2.0, "product_type": "simple", "name": "Tee"}
        ])))
        .unwrap();
        assert_eq!(o.channel_order_id.as_str(), "42");
        assert_eq!(o.order_number, "000000042");
        assert_eq!(o.placed_at.to_rfc3339(), "2026-11-20T10:00:00+00:00");
        assert_eq!(o.updated_at.to_rfc3339(), "2026-11-21T11:30:00+00:00");
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        assert_eq!(o.financial_status.as_deref(), Some("processing"));
        assert_eq!(o.lines.len(), 1);
        assert_eq!(o.lines[0].quantity, 2);
        assert_eq!(o.lines[0].title.as_deref(), Some("Tee"));
        let to = o.ship_to.unwrap();
        assert_eq!(to.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(to.company.as_deref(), Some("Engines Ltd"));
        assert_eq!(to.address1.as_deref(), Some("1 Main St"));
        assert_eq!(to.address2.as_deref(), Some("Flat 2"));
        assert_eq!(to.province_code.as_deref(), Some("D"));
        assert_eq!(to.country_code.as_deref(), Some("IE"));
        assert_eq!(to.email.as_deref(), Some("buyer@example.com"));
        assert!(o.hold_reasons.is_empty(), "{:?}", o.hold_reasons);
        assert_eq!(o.awaiting, None);
        assert!(!o.cancelled);
    }

    #[test]
    fn configurable_products_are_mapped_once_by_the_parent_row() {
        let o = map_order(&order(json!([
            {"item_id": 10, "sku": "SHIRT-RED-M", "qty_ordered": "3.0000", "product_type": "configurable", "name": "Shirt", "parent_item_id": null},
            {"item_id": 11, "sku": "SHIRT-RED-M", "qty_ordered": 1.0, "product_type": "simple", "name": "Shirt-Red-M", "parent_item_id": 10}
        ])))
        .unwrap();
        assert_eq!(o.lines.len(), 1, "{:?}", o.lines);
        assert_eq!(o.lines[0].channel_line_id, "10");
        assert_eq!(o.lines[0].sku.as_ref().unwrap().as_str(), "SHIRT-RED-M");
        assert_eq!(o.lines[0].quantity, 3);
        assert!(o.hold_reasons.is_empty());
    }

    #[test]
    fn bundles_ship_their_components() {
        let o = map_order(&order(json!([
            {"item_id": 20, "sku": "KIT", "qty_ordered": 2, "product_type": "bundle"},
            {"item_id": 21, "sku": "KIT-A", "qty_ordered": 2, "product_type": "simple", "parent_item_id": 20},
            {"item_id": 22, "sku": "KIT-B", "qty_ordered": 4, "product_type": "simple", "parent_item_id": 20}
        ])))
        .unwrap();
        let got: Vec<_> = o
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
        assert_eq!(got, vec![("21", "KIT-A", 2), ("22", "KIT-B", 4)]);
    }

    #[test]
    fn fractional_quantities_and_virtual_products() {
        let o = map_order(&order(json!([
            {"item_id": 1, "sku": "CLOTH", "qty_ordered": 1.5, "product_type": "simple"},
            {"item_id": 2, "sku": "", "qty_ordered": 1, "product_type": "virtual"},
            {"item_id": 3, "sku": "EBOOK", "qty_ordered": 1, "product_type": "downloadable"},
            {"item_id": 4, "sku": "GIFT", "qty_ordered": "1.0000", "product_type": "simple", "is_virtual": 1}
        ])))
        .unwrap();
        assert_eq!(o.lines.len(), 4);
        assert!(o.lines[0].requires_shipping);
        assert!(o.lines[1..].iter().all(|l| !l.requires_shipping));
        let codes: Vec<_> = o.hold_reasons.iter().map(|h| h.code).collect();
        assert_eq!(
            codes,
            vec![HoldCode::InvalidQuantity],
            "{:?}",
            o.hold_reasons
        );
        assert!(o.hold_reasons[0].detail.contains("1.5"));
    }

    #[test]
    fn states_map_to_awaiting_and_cancelled() {
        for (state, awaiting, cancelled) in [
            ("processing", None, false),
            ("new", Some("new"), false),
            ("pending_payment", Some("payment"), false),
            ("payment_review", Some("review"), false),
            ("holded", Some("on hold"), false),
            ("complete", Some("already shipped on Magento"), false),
            ("closed", Some("refunded"), true),
            ("canceled", Some("cancelled on Magento"), true),
            (
                "fraud",
                Some("state fraud is not one channel-sync imports"),
                false,
            ),
        ] {
            let mut v = order(json!([{"item_id": 1, "sku": "A", "qty_ordered": 1}]));
            v["state"] = json!(state);
            let o = map_order(&v).unwrap();
            match awaiting {
                None => assert_eq!(o.awaiting, None, "{state}"),
                Some(part) => assert!(
                    o.awaiting.as_deref().is_some_and(|a| a.contains(part)),
                    "{state}: {:?}",
                    o.awaiting
                ),
            }
            assert_eq!(o.cancelled, cancelled, "{state}");
            assert_eq!(
                o.hold_reasons.iter().any(|h| h.code == HoldCode::Cancelled),
                cancelled,
                "{state}"
            );
        }
    }

    /// `pending_payment` and `payment_review` wait for payment alone (what `import_unpaid`
    /// lifts); every other state that waits does so for another reason.
    #[test]
    fn only_payment_states_are_awaiting_payment() {
        for state in [
            "processing",
            "new",
            "pending_payment",
            "payment_review",
            "holded",
            "complete",
            "closed",
            "canceled",
            "fraud",
        ] {
            let mut v = order(json!([{"item_id": 1, "sku": "A", "qty_ordered": 1}]));
            v["state"] = json!(state);
            let o = map_order(&v).unwrap();
            let want = matches!(state, "pending_payment" | "payment_review");
            assert_eq!(o.awaiting_payment, want, "{state}");
            assert_eq!(o.awaiting.is_some(), state != "processing", "{state}");
        }
    }

    #[test]
    fn missing_address_falls_back_and_holds() {
        let mut v = order(json!([{"item_id": 1, "sku": "A", "qty_ordered": 1}]));
        v["extension_attributes"] = json!({});
        let o = map_order(&v).unwrap();
        assert_eq!(o.ship_to, None);
        assert_eq!(o.hold_reasons[0].code, HoldCode::MissingAddress);
    }

    #[test]
    fn wrong_types_are_errors_never_panics() {
        for bad in [
            json!([1]),
            json!({}),
            json!({"entity_id": -1, "created_at": "2026-01-01 00:00:00"}),
            json!({"entity_id": 1, "created_at": "yesterday"}),
            json!({"entity_id": 1, "created_at": "2026-01-01 00:00:00", "items": "x"}),
            json!({"entity_id": 1, "created_at": "2026-01-01 00:00:00", "items": [3]}),
            json!({"entity_id": 1, "created_at": "2026-01-01 00:00:00", "updated_at": 5}),
        ] {
            assert!(map_order(&bad).is_err(), "{bad}");
        }
        // Odd but readable shapes do not fail.
        let o = map_order(
            &json!({"entity_id": "7", "created_at": "2026-01-01T00:00:00Z",
            "items": [{"item_id": {}, "sku": 5, "qty_ordered": [1], "product_type": 3}],
            "extension_attributes": {"shipping_assignments": "x"}, "state": 9}),
        )
        .unwrap();
        assert_eq!(o.lines.len(), 1);
        assert!(!o.hold_reasons.is_empty());
    }
}
