//! Shopify's lifecycle topics: `app/uninstalled` and the mandatory privacy webhooks
//! (`customers/data_request`, `customers/redact`, `shop/redact`).

use crate::channels::{InterpretError, Interpreted, PrivacyKind, PrivacyRequest};
use crate::domain::Channel;
use serde::Deserialize;

/// The mandatory compliance topics.
pub const PRIVACY_TOPICS: &[&str] = &["customers/data_request", "customers/redact", "shop/redact"];

#[derive(Deserialize)]
struct RawPrivacy {
    #[serde(default)]
    customer: Option<RawCustomer>,
    #[serde(default)]
    orders_requested: Vec<serde_json::Value>,
    #[serde(default)]
    orders_to_redact: Vec<serde_json::Value>,
    #[serde(default)]
    data_request: Option<RawDataRequest>,
}

#[derive(Deserialize)]
struct RawCustomer {
    id: Option<serde_json::Value>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
struct RawDataRequest {
    id: Option<serde_json::Value>,
}

fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `Some` when `topic` is a lifecycle topic.
pub(super) fn interpret(
    topic: &str,
    payload: &[u8],
) -> Option<Result<Interpreted, InterpretError>> {
    let kind = match topic {
        // The payload is the Shop resource; nothing in it is needed.
        "app/uninstalled" => return Some(Ok(Interpreted::Uninstalled)),
        "customers/data_request" => PrivacyKind::CustomerDataRequest,
        "customers/redact" => PrivacyKind::CustomerRedact,
        "shop/redact" => PrivacyKind::ShopRedact,
        _ => return None,
    };
    let raw: RawPrivacy = match serde_json::from_slice(payload) {
        Ok(raw) => raw,
        Err(e) => {
            return Some(Err(InterpretError {
                channel: Channel::Shopify,
                topic: topic.to_owned(),
                reason: format!("not a privacy request: {e}"),
            }))
        }
    };
    let customer = raw.customer;
    Some(Ok(Interpreted::Privacy(PrivacyRequest {
        kind,
        customer_id: customer
            .as_ref()
            .and_then(|c| c.id.as_ref())
            .and_then(id_text),
        customer_email: customer.as_ref().and_then(|c| c.email.clone()),
        customer_phone: customer.as_ref().and_then(|c| c.phone.clone()),
        orders: raw
            .orders_requested
            .iter()
            .chain(raw.orders_to_redact.iter())
            .filter_map(id_text)
            .collect(),
        request_id: raw
            .data_request
            .and_then(|d| d.id)
            .as_ref()
            .and_then(id_text),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uninstall_needs_no_payload_fields() {
        assert_eq!(
            interpret("app/uninstalled", b"{}").unwrap().unwrap(),
            Interpreted::Uninstalled
        );
    }

    #[test]
    fn privacy_payloads() {
        let body = json!({"shop_id": 954889, "shop_domain": "demo.myshopify.com",
            "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
            "orders_to_redact": [299938, 280263]});
        let Interpreted::Privacy(p) =
            interpret("customers/redact", &serde_json::to_vec(&body).unwrap())
                .unwrap()
                .unwrap()
        else {
            panic!("not a privacy request")
        };
        assert_eq!(p.kind, PrivacyKind::CustomerRedact);
        assert_eq!(p.customer_id.as_deref(), Some("191167"));
        assert_eq!(p.orders, vec!["299938", "280263"]);

        let body = json!({"shop_id": 1, "customer": {"id": 2}, "orders_requested": [3], "data_request": {"id": 9999}});
        let Interpreted::Privacy(p) = interpret(
            "customers/data_request",
            &serde_json::to_vec(&body).unwrap(),
        )
        .unwrap()
        .unwrap() else {
            panic!("not a privacy request")
        };
        assert_eq!(
            (p.kind, p.request_id.as_deref()),
            (PrivacyKind::CustomerDataRequest, Some("9999"))
        );

        let Interpreted::Privacy(p) = interpret("shop/redact", br#"{"shop_id":1}"#)
            .unwrap()
            .unwrap()
        else {
            panic!("not a privacy request")
        };
        assert_eq!(p.kind, PrivacyKind::ShopRedact);
        assert!(interpret("shop/redact", b"[1]").unwrap().is_err());
        assert!(interpret("orders/create", b"{}").is_none());
    }
}
