//! eBay orders (Sell Fulfillment `getOrders` / `getOrder`, reference §2.3) into [`Order`].
//!
//! Ready to ship: `orderPaymentStatus` `PAID` (or `PARTIALLY_REFUNDED`: something is still
//! to send), `orderFulfillmentStatus` `NOT_STARTED` or `IN_PROGRESS`, and no cancellation
//! (`cancelStatus.cancelState` `NONE_REQUESTED`). `CANCELED` or `FULLY_REFUNDED` is a
//! cancellation; a requested cancellation holds the order back; `FULFILLED` left already;
//! `PENDING`/`FAILED` payment waits for payment.
//!
//! Ship-to: the first `fulfillmentStartInstructions[].shippingStep.shipTo`. With
//! `ebaySupportedFulfillment` (Global Shipping, eBay International Shipping, Authenticity
//! Guarantee) that is eBay's hub, where the seller must send the parcel: it is the address
//! used, and the buyer's `finalDestinationAddress` is named in the ship-to's `company` line
//! as "via eBay to …" so the warehouse sees where it ends up (the domain order has no notes).

use crate::domain::{order_holds, Address, ChannelOrderId, HoldReason, Order, OrderLine};
use chrono::{DateTime, Utc};
use serde_json::Value;

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(500).collect())
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v?.as_str()?.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// `(awaiting, awaiting_payment, cancelled, fulfilled)` of an order's statuses.
fn readiness(
    payment: Option<&str>,
    fulfillment: Option<&str>,
    cancel: Option<&str>,
) -> (Option<String>, bool, bool, bool) {
    match cancel {
        Some("CANCELED") => return (Some("cancelled on eBay".into()), false, true, false),
        Some("CANCEL_REQUESTED") | Some("IN_PROGRESS") => {
            return (
                Some("a cancellation is requested on eBay".into()),
                false,
                false,
                false,
            )
        }
        _ => {}
    }
    match payment {
        Some("PAID") | Some("PARTIALLY_REFUNDED") => {}
        Some("FULLY_REFUNDED") => return (Some("refunded on eBay".into()), false, true, false),
        Some("PENDING") | None => {
            return (
                Some("the order is awaiting payment on eBay".into()),
                true,
                false,
                false,
            )
        }
        Some(other) => {
            return (
                Some(format!("payment status {other} on eBay")),
                false,
                false,
                false,
            )
        }
    }
    match fulfillment {
        Some("NOT_STARTED") | Some("IN_PROGRESS") => (None, false, false, false),
        Some("FULFILLED") => (Some("already shipped on eBay".into()), false, false, true),
        other => (
            Some(format!(
                "fulfillment status {} is not one channel-sync imports",
                other.unwrap_or("(none)")
            )),
            false,
            false,
            false,
        ),
    }
}

fn address(ship_to: &Value) -> Address {
    let contact = ship_to.get("contactAddress").unwrap_or(&Value::Null);
    Address {
        name: text(ship_to.get("fullName")),
        company: text(ship_to.get("companyName")),
        address1: text(contact.get("addressLine1")),
        address2: text(contact.get("addressLine2")),
        city: text(contact.get("city")),
        province_code: text(contact.get("stateOrProvince")),
        postal_code: text(contact.get("postalCode")),
        country_code: text(contact.get("countryCode")),
        phone: text(ship_to.pointer("/primaryPhone/phoneNumber")),
        email: text(ship_to.get("email")),
    }
}

/// The ship-to of the first shipping instruction (see the module documentation).
fn ship_to(order: &Value) -> Option<Address> {
    let instructions = order.get("fulfillmentStartInstructions")?.as_array()?;
    let first = instructions
        .iter()
        .find(|i| i.pointer("/shippingStep/shipTo").is_some())?;
    let mut address = address(first.pointer("/shippingStep/shipTo")?);
    let via_ebay = first
        .get("ebaySupportedFulfillment")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if via_ebay {
        let destination = first.get("finalDestinationAddress");
        let place: Vec<String> = ["city", "countryCode"]
            .iter()
            .filter_map(|k| text(destination.and_then(|d| d.get(*k))))
            .collect();
        let note = if place.is_empty() {
            "via eBay's shipping programme".to_owned()
        } else {
            format!("via eBay to {}", place.join(", "))
        };
        address.company = Some(match address.company.take() {
            Some(company) => format!("{company} ({note})"),
            None => note,
        });
    }
    Some(address)
}

/// Maps one eBay order. Never panics on unexpected types: an order that cannot be read is
/// an `Err` with the reason.
pub fn map_order(value: &Value) -> Result<Order, String> {
    let obj = value.as_object().ok_or("the order is not a JSON object")?;
    let id = text(obj.get("orderId")).ok_or("orderId is missing")?;
    let channel_order_id = ChannelOrderId::parse(id.clone()).map_err(|e| e.to_string())?;
    let placed_at = time(obj.get("creationDate")).ok_or("creationDate is missing or not a time")?;
    let updated_at = match obj.get("lastModifiedDate") {
        None | Some(Value::Null) => placed_at,
        v => time(v).ok_or("lastModifiedDate is not a time")?,
    };
    let items: &[Value] = match obj.get("lineItems") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => return Err("lineItems is not a list".into()),
    };
    let mut holds: Vec<HoldReason> = Vec::new();
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let line_id = text(item.get("lineItemId")).ok_or("a line item has no lineItemId")?;
        let sku = text(item.get("sku"));
        let quantity = item.get("quantity").cloned().unwrap_or(Value::Null);
        lines.push(OrderLine::checked(
            line_id,
            sku.as_deref(),
            &quantity,
            text(item.get("title")),
            true,
            &mut holds,
        ));
    }
    let payment = text(obj.get("orderPaymentStatus"));
    let fulfillment = text(obj.get("orderFulfillmentStatus"));
    let cancel = text(value.pointer("/cancelStatus/cancelState"));
    let (awaiting, awaiting_payment, cancelled, fulfilled) = readiness(
        payment.as_deref(),
        fulfillment.as_deref(),
        cancel.as_deref(),
    );
    let ship_to = ship_to(value);
    let mut order_level = order_holds(&lines, ship_to.as_ref(), cancelled, false, "eBay");
    holds.append(&mut order_level);
    Ok(Order {
        channel_order_id,
        order_number: id,
        placed_at,
        updated_at,
        financial_status: payment.map(|p| p.to_ascii_lowercase()),
        cancelled,
        currency: text(value.pointer("/pricingSummary/total/currency")),
        lines,
        ship_to,
        hold_reasons: holds,
        awaiting,
        awaiting_payment,
        fulfilled,
        marketplace: None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::HoldCode;
    use serde_json::json;

    /// A paid, not yet shipped two-line order as getOrders returns it.
    pub(crate) fn paid_order(id: &str, modified: &str) -> Value {
        json!({
            "orderId": id,
            "creationDate": "2026-11-27T09:00:00.000Z",
            "lastModifiedDate": modified,
            "orderFulfillmentStatus": "NOT_STARTED",
            "orderPaymentStatus": "PAID",
            "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
            "pricingSummary": {"total": {"value": "30.00", "currency": "GBP"}},
            "buyer": {"username": "buyer_fake"},
            "fulfillmentStartInstructions": [{
                "fulfillmentInstructionsType": "SHIP_TO",
                "ebaySupportedFulfillment": false,
                "shippingStep": {"shippingCarrierCode": "Royal Mail", "shipTo": {
                    "fullName": "Ada Buyer",
                    "contactAddress": {"addressLine1": "1 High St", "city": "Leeds",
                        "postalCode": "LS1 1AA", "countryCode": "GB"},
                    "primaryPhone": {"phoneNumber": "0113 000000"},
                    "email": "ada@example.invalid"
                }}
            }],
            "lineItems": [
                {"lineItemId": "10001", "sku": "TS-001", "quantity": 2, "title": "T-shirt"},
                {"lineItemId": "10002", "sku": "MUG-1", "quantity": 1, "title": "Mug"}
            ]
        })
    }

    #[test]
    fn a_paid_unshipped_order_is_ready_with_its_lines_and_address() {
        let order = map_order(&paid_order("12-34567-89012", "2026-11-27T10:00:00.000Z")).unwrap();
        assert_eq!(order.channel_order_id.as_str(), "12-34567-89012");
        assert_eq!(order.awaiting, None);
        assert!(order.hold_reasons.is_empty(), "{:?}", order.hold_reasons);
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.lines[0].channel_line_id, "10001");
        assert_eq!(order.lines[0].sku.as_ref().unwrap().as_str(), "TS-001");
        assert_eq!(order.lines[0].quantity, 2);
        let ship_to = order.ship_to.unwrap();
        assert_eq!(ship_to.address1.as_deref(), Some("1 High St"));
        assert_eq!(ship_to.country_code.as_deref(), Some("GB"));
        assert_eq!(ship_to.phone.as_deref(), Some("0113 000000"));
        assert_eq!(order.currency.as_deref(), Some("GBP"));
        assert_eq!(order.updated_at.to_rfc3339(), "2026-11-27T10:00:00+00:00");
    }

    #[test]
    fn statuses_decide_readiness_cancellation_and_shipment() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = paid_order("1", "2026-11-27T10:00:00.000Z");
            f(&mut v);
            map_order(&v).unwrap()
        };
        let pending = with(&|v| v["orderPaymentStatus"] = json!("PENDING"));
        assert!(pending.awaiting.is_some() && pending.awaiting_payment);
        let in_progress = with(&|v| v["orderFulfillmentStatus"] = json!("IN_PROGRESS"));
        assert_eq!(in_progress.awaiting, None);
        let shipped = with(&|v| v["orderFulfillmentStatus"] = json!("FULFILLED"));
        assert!(shipped.fulfilled && shipped.awaiting.is_some());
        let cancelled = with(&|v| v["cancelStatus"]["cancelState"] = json!("CANCELED"));
        assert!(cancelled.cancelled);
        assert!(cancelled
            .hold_reasons
            .iter()
            .any(|h| h.code == HoldCode::Cancelled));
        let refunded = with(&|v| v["orderPaymentStatus"] = json!("FULLY_REFUNDED"));
        assert!(refunded.cancelled);
        let requested = with(&|v| v["cancelStatus"]["cancelState"] = json!("CANCEL_REQUESTED"));
        assert!(
            !requested.cancelled && requested.awaiting.is_some() && !requested.awaiting_payment
        );
    }

    #[test]
    fn ebay_managed_shipping_ships_to_the_hub_and_names_the_destination() {
        let mut v = paid_order("1", "2026-11-27T10:00:00.000Z");
        v["fulfillmentStartInstructions"][0]["ebaySupportedFulfillment"] = json!(true);
        v["fulfillmentStartInstructions"][0]["finalDestinationAddress"] =
            json!({"city": "Lyon", "countryCode": "FR"});
        let order = map_order(&v).unwrap();
        let ship_to = order.ship_to.unwrap();
        assert_eq!(ship_to.address1.as_deref(), Some("1 High St"), "the hub");
        assert_eq!(ship_to.company.as_deref(), Some("via eBay to Lyon, FR"));
    }

    #[test]
    fn bad_lines_hold_the_order_and_bad_orders_are_refused_with_a_reason() {
        let mut v = paid_order("1", "2026-11-27T10:00:00.000Z");
        v["lineItems"][0]["sku"] = Value::Null;
        v["lineItems"][1]["quantity"] = json!(-1);
        let order = map_order(&v).unwrap();
        let codes: Vec<HoldCode> = order.hold_reasons.iter().map(|h| h.code).collect();
        assert!(
            codes.contains(&HoldCode::MissingSku) && codes.contains(&HoldCode::InvalidQuantity)
        );
        let mut no_address = paid_order("1", "2026-11-27T10:00:00.000Z");
        no_address["fulfillmentStartInstructions"] = json!([]);
        assert!(map_order(&no_address)
            .unwrap()
            .hold_reasons
            .iter()
            .any(|h| h.code == HoldCode::MissingAddress));
        assert!(map_order(&json!([])).is_err());
        assert!(map_order(&json!({"orderId": "1"})).is_err());
        assert!(map_order(
            &json!({"orderId": "1", "creationDate": "2026-11-27T09:00:00Z", "lineItems": {}})
        )
        .is_err());
    }
}
