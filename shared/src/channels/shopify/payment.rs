//! Whether a Shopify order is paid enough to ship: the one rule of the webhook (REST) and the
//! poll (GraphQL) mappers, so that both sources of an order agree.
//!
//! Facts (`OrderDisplayFinancialStatus` [C]; REST `financial_status` is the same set,
//! lowercase): `pending` = the payment provider needs time, or a manual method (bank
//! transfer, cash on delivery…) is used; `authorized` = validated, to be captured;
//! `expired` = an authorization not captured in time (or failed processing); `voided` = an
//! authorization cancelled. The payment methods are `payment_gateway_names` (REST) /
//! `paymentGatewayNames` (GraphQL): free text for manual methods, which the merchant names.

/// Financial statuses that count as paid: the order is one to ship (a refunded order that is
/// also cancelled follows the cancellation rules).
const PAID: &[&str] = &[
    "authorized",
    "paid",
    "partially_paid",
    "partially_refunded",
    "refunded",
];

/// What the payment state makes of an order: the `awaiting` reason (`None`: ready) and
/// whether payment is the only thing missing (what `import_unpaid` lifts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PaymentWait {
    pub awaiting: Option<String>,
    pub payment_only: bool,
}

impl PaymentWait {
    const READY: PaymentWait = PaymentWait {
        awaiting: None,
        payment_only: false,
    };
}

/// The payment rule. `financial_status` as either API spells it (any case), `gateways` the
/// order's payment gateway names, `cancelled` whether Shopify cancelled the order.
///
/// - cancelled: no payment wait, the cancellation rules apply (first seen, imported with its
///   `cancelled` hold; known, sent on as `order.cancelled`);
/// - no financial status: ready (nothing says otherwise, as before this rule);
/// - `authorized`, `paid`, `partially_paid`, `partially_refunded`, `refunded`: ready;
/// - `pending` with a cash-on-delivery gateway: ready, it is paid when delivered;
/// - `pending`: awaits payment, and nothing else;
/// - `expired`, `voided`: the payment failed or was cancelled: awaits payment, but not only
///   that (the merchant has to collect it anew), so `import_unpaid` does not import it;
/// - anything else: unknown, so not shipped until Shopify says paid.
pub(super) fn payment_wait(
    financial_status: Option<&str>,
    gateways: &[String],
    cancelled: bool,
) -> PaymentWait {
    if cancelled {
        return PaymentWait::READY;
    }
    let Some(status) = financial_status.map(str::to_ascii_lowercase) else {
        return PaymentWait::READY;
    };
    if PAID.contains(&status.as_str()) {
        return PaymentWait::READY;
    }
    let (awaiting, payment_only) = match status.as_str() {
        "pending" if gateways.iter().any(|g| is_cash_on_delivery(g)) => {
            return PaymentWait::READY;
        }
        "pending" => (
            "awaiting payment on Shopify (financial status pending)".to_owned(),
            true,
        ),
        "expired" => (
            "the payment authorization expired on Shopify (financial status expired)".to_owned(),
            false,
        ),
        "voided" => (
            "the payment was voided on Shopify (financial status voided)".to_owned(),
            false,
        ),
        other => (
            format!("Shopify financial status {other} is not one channel-sync knows as paid"),
            false,
        ),
    };
    PaymentWait {
        awaiting: Some(awaiting),
        payment_only,
    }
}

/// A gateway meant to ship before payment: "cash on delivery" or "cod" as whole words, in any
/// case and with any separators (`Cash on Delivery (COD)`, Shopify's default manual method
/// name; `cash_on_delivery`; `COD`). Other languages' names (`Nachnahme`, `contre
/// remboursement`…) are not recognised.
pub(super) fn is_cash_on_delivery(gateway: &str) -> bool {
    let words: Vec<String> = gateway
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.iter().any(|w| w == "cod")
        || words
            .windows(3)
            .any(|w| w[0] == "cash" && w[1] == "on" && w[2] == "delivery")
}

/// The gateway names of a payload's `payment_gateway_names` / `paymentGatewayNames`: the
/// strings of an array; anything else (absent, `null`, wrong types) reads as none, so an odd
/// value can only make an order wait, never lose it.
pub(super) fn gateway_names(raw: Option<&serde_json::Value>) -> Vec<String> {
    match raw {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn paid_statuses_in_either_spelling_are_ready() {
        for status in PAID {
            assert_eq!(
                payment_wait(Some(status), &[], false),
                PaymentWait::READY,
                "{status}"
            );
            let upper = status.to_ascii_uppercase();
            assert_eq!(payment_wait(Some(&upper), &[], false), PaymentWait::READY);
        }
    }

    #[test]
    fn pending_waits_for_payment_only_unless_cash_on_delivery() {
        let w = payment_wait(Some("PENDING"), &names(&["Bank Deposit"]), false);
        assert!(w.payment_only);
        assert!(w.awaiting.unwrap().contains("pending"));
        let cod = payment_wait(Some("pending"), &names(&["Cash on Delivery (COD)"]), false);
        assert_eq!(cod, PaymentWait::READY);
    }

    #[test]
    fn expired_voided_and_unknown_wait_for_more_than_payment() {
        for status in ["expired", "voided", "something_new"] {
            let w = payment_wait(Some(status), &names(&["cod"]), false);
            assert!(!w.payment_only, "{status}");
            assert!(w.awaiting.unwrap().contains(status), "{status}");
        }
    }

    #[test]
    fn cancelled_or_statusless_orders_have_no_payment_wait() {
        assert_eq!(payment_wait(Some("pending"), &[], true), PaymentWait::READY);
        assert_eq!(payment_wait(None, &[], false), PaymentWait::READY);
    }

    #[test]
    fn cash_on_delivery_is_matched_on_whole_words() {
        for yes in [
            "Cash on Delivery (COD)",
            "cash on delivery",
            "Cash-On-Delivery",
            "cash_on_delivery",
            "COD",
            "cod",
            "Pay by COD",
            "COD/Nachnahme",
        ] {
            assert!(is_cash_on_delivery(yes), "{yes}");
        }
        for no in [
            "Bank Deposit",
            "manual",
            "Encoded",
            "codes",
            "Cash on pickup",
            "delivery cash on",
            "",
        ] {
            assert!(!is_cash_on_delivery(no), "{no}");
        }
    }

    #[test]
    fn gateway_names_keep_only_strings() {
        use serde_json::json;
        assert_eq!(
            gateway_names(Some(&json!(["a", null, 3, "b"]))),
            names(&["a", "b"])
        );
        assert!(gateway_names(Some(&json!("a"))).is_empty());
        assert!(gateway_names(Some(&json!(null))).is_empty());
        assert!(gateway_names(None).is_empty());
    }
}
