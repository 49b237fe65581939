//! A channel order, normalized: what the WMS needs to pick, pack and ship it.

use super::{ChannelOrderId, ConnectionSettings, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An order as the WMS sees it, whatever channel it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub channel_order_id: ChannelOrderId,
    /// The number the merchant and buyer see (`#1001`).
    pub order_number: String,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The channel's payment state as it spells it (`paid`, `pending`, …).
    pub financial_status: Option<String>,
    pub cancelled: bool,
    pub currency: Option<String>,
    pub lines: Vec<OrderLine>,
    pub ship_to: Option<Address>,
    /// Why the WMS should not ship this order as it is. Empty means ready.
    pub hold_reasons: Vec<HoldReason>,
    /// Why the order is not (yet) one to ship at all, for channels whose orders exist before
    /// they are paid or confirmed (WooCommerce `pending`/`on-hold`, Magento `new`…), or were
    /// cancelled or shipped elsewhere before channel-sync first saw them. `None`: ready.
    /// An order the WMS does not have yet is not imported while this is set; one it has
    /// flows on as an update or a cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
    /// `awaiting` is set only because the order is not paid yet (Shopify `pending`,
    /// WooCommerce `pending`, Magento `pending_payment`…): nothing else on the channel holds it
    /// back, so a connection with `import_unpaid` on imports it anyway. Meaningless without
    /// `awaiting`. Absent in messages queued before it existed, which then read as `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_payment: bool,
    /// The channel marks the order shipped or completed (by us or by someone else). With
    /// `awaiting` set this is not a reason to hold an imported order: it left already.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fulfilled: bool,
    /// The marketplace the order was placed on, for channels that sell on several (Veeqo:
    /// "Amazon UK", with Amazon's Prime flag). `None` for every other channel, and absent from
    /// their records and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace: Option<Marketplace>,
}

/// Where an order was sold, when the channel is itself a hub of marketplaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marketplace {
    /// The marketplace as the channel names it (`Amazon UK`).
    pub name: String,
    /// The buyer ordered with Amazon Prime (ship on the Prime promise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prime: bool,
}

impl Order {
    /// Whether a connection with `settings` imports this order when the WMS does not have it
    /// yet, and sends it on without a `not_ready` hold when it does: `Ok` when the channel
    /// lists it as one to ship, or when only payment is missing and the merchant asked for
    /// unpaid orders (`import_unpaid`); otherwise `Err` with the channel's reason. The one
    /// readiness rule of the order consumer and the reconciliation poll.
    pub fn ready_for(&self, settings: &ConnectionSettings) -> Result<(), &str> {
        match &self.awaiting {
            None => Ok(()),
            Some(_) if self.awaiting_payment && settings.import_unpaid => Ok(()),
            Some(reason) => Err(reason),
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub channel_line_id: String,
    /// `None` when the channel line has no SKU: the order is then held, never dropped.
    pub sku: Option<Sku>,
    pub quantity: u32,
    pub title: Option<String>,
    /// `false` for gift cards and digital goods: nothing to pick.
    pub requires_shipping: bool,
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub company: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province_code: Option<String>,
    pub postal_code: Option<String>,
    pub country_code: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A reason to hold an order, machine-readable `code` plus a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldReason {
    pub code: HoldCode,
    pub detail: String,
}

/// The kinds of hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldCode {
    /// A line has no SKU, or one the WMS cannot accept.
    MissingSku,
    /// A line's quantity is zero or not a whole number the WMS can ship.
    InvalidQuantity,
    /// The order needs shipping but has no usable address.
    MissingAddress,
    /// The order has no shippable lines at all.
    NoLines,
    /// The channel marks it as a test order.
    TestOrder,
    /// The order was already cancelled when channel-sync first saw it.
    Cancelled,
    /// The channel no longer lists an imported order as ready to ship (back on hold, payment
    /// reversed, under review): do not ship until an update clears it.
    NotReady,
    /// The channel assigns orders to several places (Shopify locations) and the connection
    /// does not say which one is the warehouse's: the whole order is imported held until the
    /// merchant sets `fulfilment_location`; the detail says what to set.
    NoFulfilmentLocation,
    /// The channel starred out the buyer's address (TikTok Shop's platform shipping): the
    /// warehouse cannot ship it; the detail tells the merchant what to change.
    MaskedAddress,
}

impl OrderLine {
    /// A line from a channel's raw values. A missing or unusable SKU on a line that needs
    /// shipping, or a quantity that is not a positive whole number, becomes a hold on the order
    /// (the line is kept, never dropped).
    pub fn checked(
        channel_line_id: String,
        raw_sku: Option<&str>,
        raw_quantity: &serde_json::Value,
        title: Option<String>,
        requires_shipping: bool,
        holds: &mut Vec<HoldReason>,
    ) -> OrderLine {
        let line_id = &channel_line_id;
        let quantity = match raw_quantity.as_u64().and_then(|q| u32::try_from(q).ok()) {
            Some(q) if q > 0 => q,
            _ => {
                holds.push(HoldReason::new(
                    HoldCode::InvalidQuantity,
                    format!("line {line_id} has quantity {raw_quantity} (expected a positive whole number)"),
                ));
                0
            }
        };
        let sku = match raw_sku.and_then(Sku::normalize) {
            Some(Ok(sku)) => Some(sku),
            Some(Err(e)) => {
                holds.push(HoldReason::new(
                    HoldCode::MissingSku,
                    format!("line {line_id}: {e}"),
                ));
                None
            }
            None => {
                if requires_shipping {
                    holds.push(HoldReason::new(
                        HoldCode::MissingSku,
                        format!("line {line_id} has no SKU"),
                    ));
                }
                None
            }
        };
        OrderLine {
            channel_line_id,
            sku,
            quantity,
            title,
            requires_shipping,
        }
    }
}

/// The order-level holds every channel shares, in a fixed order: nothing to ship, no usable
/// address (street and country), cancelled, test order. `channel` names the channel in the
/// sentences (`Shopify`).
pub fn order_holds(
    lines: &[OrderLine],
    ship_to: Option<&Address>,
    cancelled: bool,
    test: bool,
    channel: &str,
) -> Vec<HoldReason> {
    let mut holds = Vec::new();
    let needs_shipping = lines.iter().any(|l| l.requires_shipping);
    if !needs_shipping {
        holds.push(HoldReason::new(
            HoldCode::NoLines,
            "the order has no lines to ship",
        ));
    }
    let usable = ship_to.is_some_and(|a| a.address1.is_some() && a.country_code.is_some());
    if needs_shipping && !usable {
        holds.push(HoldReason::new(
            HoldCode::MissingAddress,
            "the order needs shipping but has no shipping address with a street and country",
        ));
    }
    if cancelled {
        holds.push(HoldReason::new(
            HoldCode::Cancelled,
            format!("the order is cancelled on {channel}"),
        ));
    }
    if test {
        holds.push(HoldReason::new(
            HoldCode::TestOrder,
            format!("{channel} marks this as a test order"),
        ));
    }
    holds
}

impl HoldReason {
    pub fn new(code: HoldCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn order(awaiting: Option<&str>, awaiting_payment: bool) -> Order {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        Order {
            channel_order_id: ChannelOrderId::parse("1".to_owned()).unwrap(),
            order_number: "#1".into(),
            placed_at: at,
            updated_at: at,
            financial_status: Some("pending".into()),
            cancelled: false,
            currency: None,
            lines: Vec::new(),
            ship_to: None,
            hold_reasons: Vec::new(),
            awaiting: awaiting.map(str::to_owned),
            awaiting_payment,
            fulfilled: false,
            marketplace: None,
        }
    }

    fn settings(import_unpaid: bool) -> ConnectionSettings {
        ConnectionSettings {
            import_unpaid,
            ..ConnectionSettings::default()
        }
    }

    #[test]
    fn a_ready_order_is_ready_whatever_the_settings() {
        for import_unpaid in [false, true] {
            assert_eq!(
                order(None, false).ready_for(&settings(import_unpaid)),
                Ok(())
            );
        }
    }

    #[test]
    fn an_unpaid_order_waits_unless_the_connection_imports_unpaid_orders() {
        let unpaid = order(Some("awaiting payment"), true);
        assert_eq!(unpaid.ready_for(&settings(false)), Err("awaiting payment"));
        assert_eq!(unpaid.ready_for(&settings(true)), Ok(()));
    }

    #[test]
    fn other_reasons_to_wait_are_not_lifted_by_import_unpaid() {
        let on_hold = order(Some("on hold on WooCommerce"), false);
        assert_eq!(
            on_hold.ready_for(&settings(true)),
            Err("on hold on WooCommerce")
        );
    }

    #[test]
    fn awaiting_payment_is_optional_on_the_wire() {
        let unpaid = order(Some("awaiting payment"), true);
        let mut json = serde_json::to_value(&unpaid).unwrap();
        assert_eq!(json["awaiting_payment"], true);
        assert_eq!(
            serde_json::from_value::<Order>(json.clone()).unwrap(),
            unpaid
        );
        // `false` is not written, and a message queued before the field existed still
        // parses, as not payment-only.
        let other = serde_json::to_value(order(Some("on hold"), false)).unwrap();
        assert!(other.get("awaiting_payment").is_none(), "{other}");
        json.as_object_mut().unwrap().remove("awaiting_payment");
        let old: Order = serde_json::from_value(json).unwrap();
        assert!(!old.awaiting_payment);
    }

    #[test]
    fn import_unpaid_defaults_to_off() {
        let parsed: ConnectionSettings = serde_json::from_str("{}").unwrap();
        assert!(!parsed.import_unpaid);
        let on: ConnectionSettings = serde_json::from_str(r#"{"import_unpaid": true}"#).unwrap();
        assert!(on.import_unpaid);
    }
}
