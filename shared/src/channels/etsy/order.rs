//! Etsy receipts (§3.3) as domain orders, and what a webhook event means.
//!
//! Ready to ship = paid, not shipped, not cancelled. Unpaid → awaiting payment (imported only
//! with `import_unpaid`); `canceled` or `fully refunded` → cancelled (an imported one becomes
//! `order.cancelled`); shipped before we saw it → not imported. Lines come from
//! `transactions` (SKU, quantity, title with its variations; digital items need no
//! shipping). The address is read from `first_line`/`second_line`/`city`/`state`/`zip`/
//! `country_iso`; Etsy withholds it from apps without address access in some regions, and
//! such a receipt is held with `missing_address`, never imported with a blank address.

use crate::channels::{InterpretError, Interpreted};
use crate::domain::{order_holds, Address, Channel, ChannelOrderId, Order, OrderLine};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// The event this channel acts on.
pub const ORDER_PAID: &str = "order.paid";

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(500).collect())
}

fn instant(v: &Value, keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_i64))
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// A receipt id from Etsy's JSON (a positive integer).
pub fn receipt_id(v: &Value) -> Option<u64> {
    v.get("receipt_id")
        .and_then(Value::as_u64)
        .filter(|id| *id > 0)
}

/// One receipt as an order; `Err` with the reason for one that cannot be read (the poll
/// records it as skipped).
pub fn receipt_to_order(receipt: &Value) -> Result<Order, String> {
    let id = receipt_id(receipt).ok_or("no receipt_id")?;
    let channel_order_id =
        ChannelOrderId::parse(id.to_string()).map_err(|e| format!("receipt {id}: {e}"))?;
    let placed_at = instant(receipt, &["create_timestamp", "created_timestamp"])
        .ok_or_else(|| format!("receipt {id} has no create_timestamp"))?;
    let updated_at =
        instant(receipt, &["update_timestamp", "updated_timestamp"]).unwrap_or(placed_at);
    let status = text(receipt, "status")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let paid = receipt
        .get("is_paid")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let shipped = receipt
        .get("is_shipped")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let cancelled = matches!(status.as_str(), "canceled" | "cancelled" | "fully refunded");

    let mut holds = Vec::new();
    let transactions = match receipt.get("transactions") {
        Some(Value::Array(t)) => t.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err(format!("receipt {id}: transactions is not a list")),
    };
    let lines: Vec<OrderLine> = transactions
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let line_id = t
                .get("transaction_id")
                .and_then(Value::as_u64)
                .map_or_else(|| format!("{id}-{i}"), |n| n.to_string());
            let digital = t
                .get("is_digital")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            OrderLine::checked(
                line_id,
                t.get("sku").and_then(Value::as_str),
                t.get("quantity").unwrap_or(&Value::Null),
                title(t),
                !digital,
                &mut holds,
            )
        })
        .collect();
    let ship_to = address(receipt);
    holds.extend(order_holds(
        &lines,
        ship_to.as_ref(),
        cancelled,
        false,
        "Etsy",
    ));
    let awaiting = if cancelled {
        Some(format!("{status} on Etsy"))
    } else if shipped {
        Some("already shipped on Etsy".to_owned())
    } else if !paid {
        Some("not paid yet".to_owned())
    } else {
        None
    };
    let currency = receipt
        .get("grandtotal")
        .and_then(|g| g.get("currency_code"))
        .and_then(Value::as_str)
        .map(|c| c.chars().take(8).collect());
    Ok(Order {
        channel_order_id,
        order_number: id.to_string(),
        placed_at,
        updated_at,
        financial_status: Some(if paid { "paid" } else { "unpaid" }.to_owned()),
        cancelled,
        currency,
        lines,
        ship_to,
        hold_reasons: holds,
        awaiting_payment: !paid && !cancelled && !shipped,
        awaiting,
        fulfilled: shipped,
        marketplace: None,
    })
}

/// The line's title with its variations (`Mug (Colour: Blue, Size: L)`).
fn title(t: &Value) -> Option<String> {
    let base = text(t, "title")?;
    let variations: Vec<String> = match t.get("variations") {
        Some(Value::Array(v)) => v
            .iter()
            .take(10)
            .filter_map(|v| {
                let name = text(v, "formatted_name")?;
                let value = text(v, "formatted_value")?;
                Some(format!("{name}: {value}"))
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(match variations.is_empty() {
        true => base,
        false => format!("{base} ({})", variations.join(", ")),
    })
}

/// The shipping address; `None` when Etsy withheld every part of it.
fn address(r: &Value) -> Option<Address> {
    let a = Address {
        name: text(r, "name"),
        company: None,
        address1: text(r, "first_line"),
        address2: text(r, "second_line"),
        city: text(r, "city"),
        province_code: text(r, "state"),
        postal_code: text(r, "zip"),
        country_code: text(r, "country_iso"),
        phone: None,
        email: text(r, "buyer_email"),
    };
    (a != Address::default()).then_some(a)
}

/// The receipt an `order.paid` event names: the last numeric segment after `/receipts/` of
/// its `resource_url`. Only the id is taken — the URL's host is never called.
pub fn event_receipt(payload: &Value) -> Option<u64> {
    let url = payload.get("resource_url")?.as_str()?;
    let path = url.split(['?', '#']).next()?;
    let mut segments = path.rsplit('/');
    let id = segments.next()?;
    (segments.next()? == "receipts")
        .then(|| id.parse::<u64>().ok())
        .flatten()
        .filter(|id| *id > 0)
}

/// A verified Etsy event: `order.paid` names a receipt to re-read; other events are ignored.
pub fn interpret(topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
    let refused = |reason: &str| InterpretError {
        channel: Channel::Etsy,
        topic: topic.to_owned(),
        reason: reason.to_owned(),
    };
    if topic != ORDER_PAID {
        return Ok(Interpreted::Ignored(format!(
            "Etsy event {topic} is not acted on"
        )));
    }
    let value: Value = serde_json::from_slice(payload).map_err(|_| refused("not JSON"))?;
    let id = event_receipt(&value).ok_or_else(|| refused("resource_url names no receipt"))?;
    Ok(Interpreted::Fetch(id.to_string()))
}
