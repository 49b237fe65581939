//! WooCommerce REST orders (`GET /wc/v3/orders/{id}`, also the `order.*` webhook payload,
//! §2.1/§2.3) into [`Order`].

use crate::channels::{InterpretError, Interpreted};
use crate::domain::{order_holds, Address, Channel, ChannelOrderId, Order, OrderLine};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// The topics whose payload is a whole order. The payload is built at delivery time, so it
/// carries the order's current state, not a snapshot of the event (§2.1): either topic
/// imports an order seen for the first time and updates one already known.
const ORDER_TOPICS: &[&str] = &["order.created", "order.updated"];

/// The topic of a trashed or erased order; its payload is only `{"id": …}` (§2.1).
const DELETED_TOPIC: &str = "order.deleted";

/// Interprets a verified WooCommerce webhook payload.
///
/// - `order.created` / `order.updated`: the whole order → [`Interpreted::Order`].
/// - `order.deleted`: `{"id": …}` (a number or a string of digits) →
///   [`Interpreted::Deleted`] with that id; a payload without a usable id is an
///   [`InterpretError`].
/// - `order.restored` and every other topic are ignored.
pub fn interpret(topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
    if !ORDER_TOPICS.contains(&topic) && topic != DELETED_TOPIC {
        return Ok(Interpreted::Ignored(format!(
            "woocommerce topic {topic} is not handled"
        )));
    }
    let fail = |reason: String| InterpretError {
        channel: Channel::Woocommerce,
        topic: topic.to_owned(),
        reason,
    };
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| fail(format!("not JSON: {e}")))?;
    if topic == DELETED_TOPIC {
        return id_string(value.get("id"))
            .map(Interpreted::Deleted)
            .ok_or_else(|| fail("order id is missing or not a positive integer".into()));
    }
    map_order(&value)
        .map(|o| Interpreted::Order(Box::new(o)))
        .map_err(fail)
}

/// Maps one REST order, from a webhook or the poll.
///
/// - `id` may be a number or a string of digits; `number` (a string in REST, numeric in some
///   plugins) is the order number, else the id.
/// - Dates: `*_gmt` fields are naive UTC (`2017-03-22T19:28:02`); the non-GMT fields are in
///   the site's timezone (issue #12594) and are read as UTC only when the GMT one is absent.
/// - Lines: `line_items[].sku` is the variation's SKU for a variation; a blank SKU holds the
///   order (the line is kept).
/// - Address: `shipping`, or `billing` when `shipping` has no `address_1` (stores that do not
///   ask for a separate shipping address); the email is always `billing.email`.
/// - Status: only `processing` is ready to ship; others set [`Order::awaiting`] (and
///   `cancelled`, `refunded`, `trash` cancel it); `pending` alone is
///   [`Order::awaiting_payment`]. `financial_status` is `paid` when
///   `date_paid_gmt` is set, else the order status.
pub fn map_order(value: &Value) -> Result<Order, String> {
    let obj = value.as_object().ok_or("the order is not a JSON object")?;
    let id = id_string(obj.get("id")).ok_or("order id is missing or not a positive integer")?;
    let channel_order_id = ChannelOrderId::parse(id).map_err(|e| e.to_string())?;
    let order_number = match obj.get("number") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => clean(Some(s)),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(format!("number is not a string: {other}")),
    }
    .unwrap_or_else(|| channel_order_id.to_string());

    let placed_at = date(obj, "date_created")?.ok_or("date_created_gmt is missing")?;
    let updated_at = date(obj, "date_modified")?.unwrap_or(placed_at);

    let status = text(obj, "status")?
        .ok_or("status is missing")?
        .to_lowercase();
    let (cancelled, awaiting) = match status.as_str() {
        "processing" => (false, None),
        "pending" => (false, Some("awaiting payment".to_owned())),
        "on-hold" => (false, Some("on hold on WooCommerce".to_owned())),
        "failed" => (false, Some("payment failed".to_owned())),
        "checkout-draft" => (
            false,
            Some("checkout not finished (draft order)".to_owned()),
        ),
        "completed" => (false, Some("already completed on WooCommerce".to_owned())),
        "cancelled" | "refunded" | "trash" => (true, Some("cancelled on WooCommerce".to_owned())),
        other => (
            false,
            Some(format!("status {other} is not one channel-sync imports")),
        ),
    };
    // `pending` waits for payment and nothing else: `import_unpaid` connections import it.
    let awaiting_payment = status == "pending";
    let paid = match obj.get("date_paid_gmt") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(other) => return Err(format!("date_paid_gmt is not a string: {other}")),
    };
    let financial_status = Some(if paid {
        "paid".to_owned()
    } else {
        status.clone()
    });

    let mut holds = Vec::new();
    let items = match obj.get("line_items") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err("line_items is not an array".into()),
    };
    let mut lines = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item = item
            .as_object()
            .ok_or_else(|| format!("line_items[{index}] is not an object"))?;
        let line_id = id_string(item.get("id")).unwrap_or_else(|| format!("index-{index}"));
        let sku = text(item, "sku").map_err(|e| format!("line {line_id}: {e}"))?;
        let name = text(item, "name").map_err(|e| format!("line {line_id}: {e}"))?;
        lines.push(OrderLine::checked(
            line_id,
            sku.as_deref(),
            item.get("quantity").unwrap_or(&Value::Null),
            clean(name.as_deref()),
            true,
            &mut holds,
        ));
    }

    let billing = section(obj, "billing")?;
    let shipping = section(obj, "shipping")?;
    let email = match billing {
        Some(b) => clean(text(b, "email")?.as_deref()),
        None => None,
    };
    let has_street = |a: Option<&Map<String, Value>>| -> Result<bool, String> {
        Ok(match a {
            Some(a) => clean(text(a, "address_1")?.as_deref()).is_some(),
            None => false,
        })
    };
    let source = if has_street(shipping)? {
        shipping
    } else if has_street(billing)? {
        billing
    } else {
        None
    };
    let ship_to = match source {
        None => None,
        Some(a) => {
            let part =
                |k: &str| -> Result<Option<String>, String> { Ok(clean(text(a, k)?.as_deref())) };
            let name = [part("first_name")?, part("last_name")?]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            // `shipping.phone` exists since WooCommerce 5.6; older stores only have billing's.
            let phone = match part("phone")? {
                Some(p) => Some(p),
                None => match billing {
                    Some(b) => clean(text(b, "phone")?.as_deref()),
                    None => None,
                },
            };
            Some(Address {
                name: clean(Some(&name)),
                company: part("company")?,
                address1: part("address_1")?,
                address2: part("address_2")?,
                city: part("city")?,
                province_code: part("state")?,
                postal_code: part("postcode")?,
                country_code: part("country")?,
                phone,
                email: email.clone(),
            })
        }
    };
    holds.extend(order_holds(
        &lines,
        ship_to.as_ref(),
        cancelled,
        false,
        "WooCommerce",
    ));

    Ok(Order {
        channel_order_id,
        order_number,
        placed_at,
        updated_at,
        financial_status,
        cancelled,
        currency: clean(text(obj, "currency")?.as_deref()),
        lines,
        ship_to,
        hold_reasons: holds,
        awaiting,
        awaiting_payment,
        fulfilled: status == "completed",
        marketplace: None,
    })
}

/// An id as a JSON number or a string of digits, as the decimal string.
pub(crate) fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => n.as_u64().filter(|n| *n > 0).map(|n| n.to_string()),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.to_owned())
        }
        _ => None,
    }
}

fn clean(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A string field: absent or null → `None`; another type → an error naming the field.
fn text(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} is not a string: {}", snippet(other))),
    }
}

fn section<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        // PHP encodes an empty associative array as `[]`.
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        Some(other) => Err(format!("{key} is not an object: {}", snippet(other))),
    }
}

fn snippet(v: &Value) -> String {
    v.to_string().chars().take(60).collect()
}

/// `{base}_gmt`, else `{base}` (site time, read as UTC). Naive (`2017-03-22T19:28:02`, maybe
/// with fractions) or with an offset.
fn date(obj: &Map<String, Value>, base: &str) -> Result<Option<DateTime<Utc>>, String> {
    let gmt = format!("{base}_gmt");
    let (key, raw) = match text(obj, &gmt)?.filter(|s| !s.trim().is_empty()) {
        Some(raw) => (gmt, raw),
        None => match text(obj, base)?.filter(|s| !s.trim().is_empty()) {
            Some(raw) => (base.to_owned(), raw),
            None => return Ok(None),
        },
    };
    parse_date(raw.trim()).map(Some).ok_or_else(|| {
        format!(
            "{key} is not a date: {}",
            raw.chars().take(40).collect::<String>()
        )
    })
}

pub(crate) fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(naive) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(naive.and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HoldCode;
    use serde_json::json;

    fn order() -> Value {
        json!({
            "id": 727, "number": "727", "status": "processing", "currency": "EUR",
            "date_created": "2017-03-22T16:28:02", "date_created_gmt": "2017-03-22T19:28:02",
            "date_modified": "2017-03-22T16:28:08", "date_modified_gmt": "2017-03-22T19:28:08",
            "date_paid_gmt": "2017-03-22T19:28:08",
            "billing": {"first_name": "John", "last_name": "Doe", "address_1": "1 Bill St",
                "city": "SF", "postcode": "94103", "country": "US", "email": "john@example.com",
                "phone": "(555) 555-5555"},
            "shipping": {"first_name": "John", "last_name": "Doe", "company": "", "address_1": "969 Market",
                "address_2": "", "city": "San Francisco", "state": "CA", "postcode": "94103",
                "country": "US"},
            "line_items": [
                {"id": 315, "product_id": 93, "variation_id": 0, "quantity": 2, "sku": "TS-1", "name": "Tee"},
                {"id": 316, "product_id": 22, "variation_id": 23, "quantity": 1, "sku": "HOOD-M", "name": "Hoodie - M"}
            ]
        })
    }

    #[test]
    fn maps_a_processing_order() {
        let o = map_order(&order()).unwrap();
        assert_eq!(o.channel_order_id.as_str(), "727");
        assert_eq!(o.order_number, "727");
        assert_eq!(o.placed_at.to_rfc3339(), "2017-03-22T19:28:02+00:00");
        assert_eq!(o.updated_at.to_rfc3339(), "2017-03-22T19:28:08+00:00");
        assert_eq!(o.financial_status.as_deref(), Some("paid"));
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        assert!(!o.cancelled);
        assert_eq!(o.awaiting, None);
        assert!(o.hold_reasons.is_empty(), "{:?}", o.hold_reasons);
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[1].sku.as_ref().unwrap().as_str(), "HOOD-M");
        assert_eq!(o.lines[1].channel_line_id, "316");
        assert_eq!(o.lines[0].quantity, 2);
        let to = o.ship_to.unwrap();
        assert_eq!(to.name.as_deref(), Some("John Doe"));
        assert_eq!(to.address1.as_deref(), Some("969 Market"));
        assert_eq!(to.company, None);
        assert_eq!(to.province_code.as_deref(), Some("CA"));
        assert_eq!(to.postal_code.as_deref(), Some("94103"));
        assert_eq!(to.country_code.as_deref(), Some("US"));
        assert_eq!(to.email.as_deref(), Some("john@example.com"));
        assert_eq!(to.phone.as_deref(), Some("(555) 555-5555"));
    }

    #[test]
    fn blank_sku_holds_and_billing_is_the_fallback_address() {
        let mut v = order();
        v["line_items"][0]["sku"] = json!("");
        v["shipping"] = json!({"first_name": "", "address_1": "", "country": ""});
        let o = map_order(&v).unwrap();
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[0].sku, None);
        assert_eq!(o.hold_reasons[0].code, HoldCode::MissingSku);
        assert_eq!(o.ship_to.unwrap().address1.as_deref(), Some("1 Bill St"));
    }

    #[test]
    fn statuses_map_to_awaiting_and_cancelled() {
        for (status, cancelled, awaiting) in [
            ("processing", false, None),
            ("pending", false, Some("awaiting payment")),
            ("on-hold", false, Some("on hold on WooCommerce")),
            ("failed", false, Some("payment failed")),
            ("completed", false, Some("already completed on WooCommerce")),
            ("cancelled", true, Some("cancelled on WooCommerce")),
            ("refunded", true, Some("cancelled on WooCommerce")),
            ("trash", true, Some("cancelled on WooCommerce")),
            (
                "wc-shipped-custom",
                false,
                Some("status wc-shipped-custom is not one channel-sync imports"),
            ),
        ] {
            let mut v = order();
            v["status"] = json!(status);
            v["date_paid_gmt"] = Value::Null;
            let o = map_order(&v).unwrap();
            assert_eq!(o.cancelled, cancelled, "{status}");
            assert_eq!(o.awaiting.as_deref(), awaiting, "{status}");
            assert_eq!(o.financial_status.as_deref(), Some(status));
            assert_eq!(
                o.hold_reasons.iter().any(|h| h.code == HoldCode::Cancelled),
                cancelled
            );
        }
        let mut v = order();
        v["status"] = json!("checkout-draft");
        assert!(map_order(&v).unwrap().awaiting.is_some());
    }

    /// Only `pending` waits for payment alone (what `import_unpaid` lifts); on hold, failed,
    /// completed or cancelled orders wait for other reasons.
    #[test]
    fn only_pending_is_awaiting_payment() {
        for status in [
            "processing",
            "pending",
            "on-hold",
            "failed",
            "checkout-draft",
            "completed",
            "cancelled",
            "refunded",
            "trash",
            "wc-custom",
        ] {
            let mut v = order();
            v["status"] = json!(status);
            v["date_paid_gmt"] = Value::Null;
            let o = map_order(&v).unwrap();
            assert_eq!(o.awaiting_payment, status == "pending", "{status}");
        }
    }

    #[test]
    fn string_ids_and_local_date_fallback() {
        let mut v = order();
        v["id"] = json!("728");
        v["number"] = json!(1728);
        v.as_object_mut().unwrap().remove("date_created_gmt");
        v["date_modified_gmt"] = Value::Null;
        let o = map_order(&v).unwrap();
        assert_eq!(o.channel_order_id.as_str(), "728");
        assert_eq!(o.order_number, "1728");
        assert_eq!(o.placed_at.to_rfc3339(), "2017-03-22T16:28:02+00:00");
        assert_eq!(o.updated_at.to_rfc3339(), "2017-03-22T16:28:08+00:00");
    }

    #[test]
    fn malformed_orders_are_errors_not_panics() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "not a JSON object"),
            (json!({"status": "processing"}), "order id"),
            (json!({"id": -1, "status": "processing"}), "order id"),
            (
                json!({"id": 1, "status": "processing"}),
                "date_created_gmt is missing",
            ),
            (
                json!({"id": 1, "status": "processing", "date_created_gmt": "yesterday"}),
                "not a date",
            ),
            (
                json!({"id": 1, "date_created_gmt": "2017-03-22T19:28:02"}),
                "status",
            ),
            (
                json!({"id": 1, "status": 5, "date_created_gmt": "2017-03-22T19:28:02"}),
                "status is not a string",
            ),
            (
                json!({"id": 1, "status": "processing", "date_created_gmt": "2017-03-22T19:28:02", "line_items": {}}),
                "line_items",
            ),
            (
                json!({"id": 1, "status": "processing", "date_created_gmt": "2017-03-22T19:28:02", "line_items": [{"id": 2, "sku": 5}]}),
                "sku is not a string",
            ),
            (
                json!({"id": 1, "status": "processing", "date_created_gmt": "2017-03-22T19:28:02", "shipping": "x"}),
                "shipping is not an object",
            ),
        ];
        for (v, expected) in cases {
            let err = map_order(&v).unwrap_err();
            assert!(err.contains(expected), "{v}: {err}");
        }
        // A wrong quantity is a hold, not an error.
        let mut v = order();
        v["line_items"][0]["quantity"] = json!("two");
        let o = map_order(&v).unwrap();
        assert_eq!(o.hold_reasons[0].code, HoldCode::InvalidQuantity);
    }

    #[test]
    fn interpret_order_deleted_is_deleted_with_the_id() {
        assert_eq!(
            interpret("order.deleted", br#"{"id":727}"#),
            Ok(Interpreted::Deleted("727".into()))
        );
        assert_eq!(
            interpret("order.deleted", br#"{"id":" 728 "}"#),
            Ok(Interpreted::Deleted("728".into()))
        );
        for bad in [
            &br#"{}"#[..],
            br#"{"id":null}"#,
            br#"{"id":0}"#,
            br#"{"id":-3}"#,
            br#"{"id":"abc"}"#,
            br#"{"id":""}"#,
            br#"{"id":1.5}"#,
            br#"[727]"#,
        ] {
            let err = interpret("order.deleted", bad).unwrap_err();
            assert_eq!(err.channel, Channel::Woocommerce);
            assert_eq!(err.topic, "order.deleted");
            assert!(err.reason.contains("order id"), "{}", err.reason);
        }
        let err = interpret("order.deleted", b"{nope").unwrap_err();
        assert!(err.reason.contains("not JSON"));
    }

    #[test]
    fn interpret_routes_topics() {
        let body = serde_json::to_vec(&order()).unwrap();
        for topic in ["order.created", "order.updated"] {
            assert!(matches!(interpret(topic, &body), Ok(Interpreted::Order(_))));
        }
        assert!(matches!(
            interpret("order.restored", br#"{"id":727}"#),
            Ok(Interpreted::Ignored(_))
        ));
        assert!(matches!(
            interpret("product.updated", &body),
            Ok(Interpreted::Ignored(_))
        ));
        let err = interpret("order.created", b"{nope").unwrap_err();
        assert_eq!(err.channel, Channel::Woocommerce);
        assert!(err.reason.contains("not JSON"));
        let err = interpret("order.updated", br#"{"id":727}"#).unwrap_err();
        assert!(err.reason.contains("date_created_gmt"), "{}", err.reason);
    }
}
