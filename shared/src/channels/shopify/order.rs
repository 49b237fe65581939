//! Shopify order webhook payloads (REST Order shape) into [`Order`].

use super::payment::{gateway_names, payment_wait};
use crate::channels::{InterpretError, Interpreted};
use crate::domain::{order_holds, Address, Channel, ChannelOrderId, Order, OrderLine};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The topics whose payload is a whole order. Any of them imports an order seen for the first
/// time (its `orders/create` may be lost or late); later ones update it. The consumer orders
/// them by `updated_at`, never by arrival.
const ORDER_TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
];

#[derive(Deserialize)]
struct RawOrder {
    id: serde_json::Value,
    name: Option<String>,
    order_number: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    financial_status: Option<String>,
    /// `["shopify_payments"]`, `["Cash on Delivery (COD)"]`…: read leniently (see
    /// [`super::payment::gateway_names`]).
    #[serde(default)]
    payment_gateway_names: Option<serde_json::Value>,
    currency: Option<String>,
    #[serde(default)]
    test: bool,
    email: Option<String>,
    #[serde(default)]
    line_items: Vec<RawLine>,
    shipping_address: Option<RawAddress>,
}

#[derive(Deserialize)]
struct RawLine {
    id: serde_json::Value,
    sku: Option<String>,
    quantity: serde_json::Value,
    name: Option<String>,
    title: Option<String>,
    #[serde(default = "yes")]
    requires_shipping: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct RawAddress {
    name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    province_code: Option<String>,
    zip: Option<String>,
    country_code: Option<String>,
    phone: Option<String>,
}

/// Interprets a verified Shopify order webhook payload (`orders/*`); other topics are
/// ignored here ([`super::interpret`] routes lifecycle and fulfillment-order topics first).
pub fn interpret(topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
    if !ORDER_TOPICS.contains(&topic) {
        return Ok(Interpreted::Ignored(format!(
            "shopify topic {topic} is not handled"
        )));
    }
    let fail = |reason: String| InterpretError {
        channel: Channel::Shopify,
        topic: topic.to_owned(),
        reason,
    };
    let raw: RawOrder =
        serde_json::from_slice(payload).map_err(|e| fail(format!("not an order: {e}")))?;
    normalize(raw)
        .map(|o| Interpreted::Order(Box::new(o)))
        .map_err(fail)
}

/// A Shopify id arrives as a JSON number (REST) or string; both become the decimal string.
fn id_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) if n.is_u64() => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn normalize(raw: RawOrder) -> Result<Order, String> {
    let id = id_string(&raw.id).ok_or("order id is missing or not a positive integer")?;
    let channel_order_id = ChannelOrderId::parse(id).map_err(|e| e.to_string())?;
    let order_number = clean(raw.name)
        .or_else(|| raw.order_number.as_ref().and_then(id_string))
        .unwrap_or_else(|| channel_order_id.to_string());
    let lines = raw
        .line_items
        .into_iter()
        .enumerate()
        .map(|(index, line)| LineParts {
            id: id_string(&line.id).unwrap_or_else(|| format!("index-{index}")),
            sku: line.sku,
            quantity: line.quantity,
            name: clean(line.name).or(clean(line.title)),
            requires_shipping: line.requires_shipping,
        })
        .collect();
    Ok(assemble(OrderParts {
        channel_order_id,
        order_number,
        placed_at: raw.created_at,
        updated_at: raw.updated_at.unwrap_or(raw.created_at),
        cancelled: raw.cancelled_at.is_some(),
        test: raw.test,
        email: raw.email,
        currency: raw.currency,
        financial_status: clean(raw.financial_status),
        gateways: gateway_names(raw.payment_gateway_names.as_ref()),
        lines,
        ship_to: raw.shipping_address.map(|a| AddressParts {
            name: a.name,
            first_name: a.first_name,
            last_name: a.last_name,
            company: a.company,
            address1: a.address1,
            address2: a.address2,
            city: a.city,
            province_code: a.province_code,
            zip: a.zip,
            country_code: a.country_code,
            phone: a.phone,
        }),
    }))
}

/// What both Shopify order shapes (the REST webhook payload, the GraphQL poll node) carry,
/// already read. [`assemble`] turns it into an [`Order`] for both, so holds, addresses and
/// payment readiness cannot drift between the webhook and the poll.
pub(super) struct OrderParts {
    pub channel_order_id: ChannelOrderId,
    pub order_number: String,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled: bool,
    pub test: bool,
    pub email: Option<String>,
    pub currency: Option<String>,
    /// Lowercase, as the REST `financial_status` spells it.
    pub financial_status: Option<String>,
    pub gateways: Vec<String>,
    pub lines: Vec<LineParts>,
    pub ship_to: Option<AddressParts>,
}

/// One line item, read.
pub(super) struct LineParts {
    /// The decimal line id (or `index-N` when the channel sent none).
    pub id: String,
    pub sku: Option<String>,
    pub quantity: serde_json::Value,
    pub name: Option<String>,
    pub requires_shipping: bool,
}

/// A shipping address, read.
pub(super) struct AddressParts {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province_code: Option<String>,
    pub zip: Option<String>,
    pub country_code: Option<String>,
    pub phone: Option<String>,
}

/// The one Shopify order mapping: lines (a missing SKU holds the order), the address, the
/// holds in their fixed order and wording, and payment readiness.
pub(super) fn assemble(parts: OrderParts) -> Order {
    let mut holds = Vec::new();
    let mut lines = Vec::with_capacity(parts.lines.len());
    for line in parts.lines {
        lines.push(OrderLine::checked(
            line.id,
            line.sku.as_deref(),
            &line.quantity,
            clean(line.name),
            line.requires_shipping,
            &mut holds,
        ));
    }
    let email = clean(parts.email);
    let ship_to = parts.ship_to.map(|a| Address {
        name: clean(a.name).or_else(|| {
            clean(Some(format!(
                "{} {}",
                a.first_name.unwrap_or_default(),
                a.last_name.unwrap_or_default()
            )))
        }),
        company: clean(a.company),
        address1: clean(a.address1),
        address2: clean(a.address2),
        city: clean(a.city),
        province_code: clean(a.province_code),
        postal_code: clean(a.zip),
        country_code: clean(a.country_code),
        phone: clean(a.phone),
        email: email.clone(),
    });
    holds.extend(order_holds(
        &lines,
        ship_to.as_ref(),
        parts.cancelled,
        parts.test,
        "Shopify",
    ));
    let wait = payment_wait(
        parts.financial_status.as_deref(),
        &parts.gateways,
        parts.cancelled,
    );
    Order {
        channel_order_id: parts.channel_order_id,
        order_number: parts.order_number,
        placed_at: parts.placed_at,
        updated_at: parts.updated_at,
        financial_status: parts.financial_status,
        cancelled: parts.cancelled,
        currency: clean(parts.currency),
        lines,
        ship_to,
        hold_reasons: holds,
        awaiting: wait.awaiting,
        awaiting_payment: wait.payment_only,
        fulfilled: false,
        marketplace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HoldCode;
    use serde_json::json;

    fn order(lines: serde_json::Value) -> serde_json::Value {
        json!({
            "id": 820982911946154508u64, "name": "#9999", "order_number": 9999,
            "created_at": "2026-11-20T21:18:40+02:00", "updated_at": "2026-11-20T21:19:00+02:00",
            "cancelled_at": null, "financial_status": "paid", "currency": "EUR", "test": false,
            "email": "buyer@example.com",
            "line_items": lines,
            "shipping_address": {"first_name": "Ada", "last_name": "Lovelace", "address1": "1 Main St",
                "city": "Dublin", "zip": "D01", "country_code": "IE", "province_code": null}
        })
    }

    fn parse(v: serde_json::Value) -> Order {
        match interpret("orders/create", &serde_json::to_vec(&v).unwrap()).unwrap() {
            Interpreted::Order(o) => *o,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    #[test]
    fn normalizes_a_ready_order() {
        let o = parse(order(
            json!([{"id": 1, "sku": "TS-001", "quantity": 2, "name": "Tee"}]),
        ));
        assert_eq!(o.channel_order_id.as_str(), "820982911946154508");
        assert_eq!(o.order_number, "#9999");
        assert_eq!(o.placed_at.to_rfc3339(), "2026-11-20T19:18:40+00:00");
        assert_eq!(o.lines[0].sku.as_ref().unwrap().as_str(), "TS-001");
        assert_eq!(o.lines[0].quantity, 2);
        let to = o.ship_to.unwrap();
        assert_eq!(to.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(to.postal_code.as_deref(), Some("D01"));
        assert!(o.hold_reasons.is_empty(), "{:?}", o.hold_reasons);
    }

    #[test]
    fn line_without_sku_is_kept_and_held() {
        let o = parse(order(json!([
            {"id": 1, "sku": "TS-001", "quantity": 1},
            {"id": 2, "sku": "  ", "quantity": 1},
            {"id": 3, "sku": null, "quantity": 1}
        ])));
        assert_eq!(o.lines.len(), 3);
        assert_eq!(o.lines[1].sku, None);
        let codes: Vec<_> = o
            .hold_reasons
            .iter()
            .map(|h| (h.code, h.detail.clone()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (HoldCode::MissingSku, "line 2 has no SKU".to_owned()),
                (HoldCode::MissingSku, "line 3 has no SKU".to_owned())
            ]
        );
    }

    #[test]
    fn digital_line_without_sku_is_not_held() {
        let o = parse(order(json!([
            {"id": 1, "sku": "TS-001", "quantity": 1},
            {"id": 2, "sku": "", "quantity": 1, "requires_shipping": false}
        ])));
        assert!(o.hold_reasons.is_empty());
    }

    #[test]
    fn missing_address_zero_quantity_and_test_orders_are_held() {
        let mut v = order(json!([{"id": 1, "sku": "A", "quantity": 0}]));
        v["shipping_address"] = json!(null);
        v["test"] = json!(true);
        let codes: Vec<_> = parse(v).hold_reasons.iter().map(|h| h.code).collect();
        assert_eq!(
            codes,
            vec![
                HoldCode::InvalidQuantity,
                HoldCode::MissingAddress,
                HoldCode::TestOrder
            ]
        );
    }

    #[test]
    fn other_topics_are_ignored_with_a_reason() {
        match interpret("products/update", b"{}").unwrap() {
            Interpreted::Ignored(r) => assert!(r.contains("products/update")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_orders_are_permanent_errors() {
        for bad in [
            json!({}),
            json!({"id": -5, "created_at": "2026-01-01T00:00:00Z"}),
            json!({"id": 1, "created_at": "yesterday"}),
            json!({"id": 1, "created_at": "2026-01-01T00:00:00Z", "line_items": "x"}),
            json!([1, 2]),
        ] {
            let err = interpret("orders/create", &serde_json::to_vec(&bad).unwrap()).unwrap_err();
            assert_eq!(err.channel, Channel::Shopify);
        }
    }

    fn with_payment(status: &str, gateways: &[&str]) -> Order {
        let mut v = order(json!([{"id": 1, "sku": "TS-001", "quantity": 1}]));
        v["financial_status"] = json!(status);
        v["payment_gateway_names"] = json!(gateways);
        parse(v)
    }

    #[test]
    fn a_pending_bank_transfer_order_awaits_payment() {
        let o = with_payment("pending", &["Bank Deposit"]);
        assert!(
            o.awaiting.as_deref().is_some_and(|a| a.contains("payment")),
            "{:?}",
            o.awaiting
        );
        assert!(o.awaiting_payment, "payment is its only reason to wait");
        assert_eq!(o.financial_status.as_deref(), Some("pending"));
        assert!(o.hold_reasons.is_empty(), "{:?}", o.hold_reasons);
    }

    #[test]
    fn authorized_and_paid_orders_are_ready() {
        for status in [
            "authorized",
            "paid",
            "partially_paid",
            "partially_refunded",
            "refunded",
        ] {
            let o = with_payment(status, &["shopify_payments"]);
            assert_eq!(o.awaiting, None, "{status}");
            assert!(!o.awaiting_payment, "{status}");
        }
    }

    #[test]
    fn a_pending_cash_on_delivery_order_is_ready() {
        for gateway in [
            "Cash on Delivery (COD)",
            "cash on delivery",
            "CASH ON DELIVERY",
            "cash_on_delivery",
            "COD",
            "Paiement COD",
        ] {
            let o = with_payment("pending", &["gift_card", gateway]);
            assert_eq!(o.awaiting, None, "{gateway}");
        }
        // "cod" only as a whole word.
        for gateway in ["Encoded Pay", "Codelco transfer", "Bank Deposit"] {
            let o = with_payment("pending", &[gateway]);
            assert!(o.awaiting_payment, "{gateway}");
        }
        // Without any gateway name the order is a plain pending one.
        let mut v = order(json!([{"id": 1, "sku": "TS-001", "quantity": 1}]));
        v["financial_status"] = json!("pending");
        assert!(parse(v).awaiting_payment);
    }

    #[test]
    fn expired_and_voided_orders_await_payment_but_not_only_payment() {
        for status in ["expired", "voided"] {
            let o = with_payment(status, &["shopify_payments"]);
            assert!(
                o.awaiting.as_deref().is_some_and(|a| a.contains(status)),
                "{status}: {:?}",
                o.awaiting
            );
            assert!(
                !o.awaiting_payment,
                "{status}: import_unpaid does not lift it"
            );
            // Cash on delivery does not make a failed or voided payment ready either.
            let cod = with_payment(status, &["Cash on Delivery (COD)"]);
            assert!(cod.awaiting.is_some(), "{status} COD");
        }
    }

    #[test]
    fn unknown_financial_statuses_wait_and_a_missing_one_does_not() {
        let o = with_payment("brand_new_state", &["shopify_payments"]);
        assert!(o.awaiting.is_some());
        assert!(!o.awaiting_payment);
        let mut v = order(json!([{"id": 1, "sku": "TS-001", "quantity": 1}]));
        v.as_object_mut().unwrap().remove("financial_status");
        assert_eq!(parse(v).awaiting, None);
    }

    #[test]
    fn a_cancelled_unpaid_order_follows_the_cancellation_rules() {
        let mut v = order(json!([{"id": 1, "sku": "TS-001", "quantity": 1}]));
        v["financial_status"] = json!("voided");
        v["cancelled_at"] = json!("2026-11-20T21:30:00+02:00");
        let o = parse(v);
        assert!(o.cancelled);
        assert_eq!(o.awaiting, None);
        assert_eq!(o.hold_reasons[0].code, HoldCode::Cancelled);
    }

    #[test]
    fn unreadable_gateway_names_are_ignored_not_fatal() {
        let mut v = order(json!([{"id": 1, "sku": "TS-001", "quantity": 1}]));
        v["financial_status"] = json!("pending");
        v["payment_gateway_names"] = json!([null, 5, "Cash on Delivery (COD)"]);
        assert_eq!(parse(v.clone()).awaiting, None);
        v["payment_gateway_names"] = json!("Cash on Delivery (COD)");
        assert!(parse(v).awaiting_payment);
    }

    #[test]
    fn string_ids_and_big_numbers_survive() {
        let mut v = order(json!([{"id": "gid-less", "sku": "A", "quantity": 1}]));
        v["id"] = json!("5555555555555555555");
        let o = parse(v);
        assert_eq!(o.channel_order_id.as_str(), "5555555555555555555");
        assert_eq!(o.lines[0].channel_line_id, "gid-less");
    }
}
