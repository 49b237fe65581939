//! A webhook delivery's topic, parsed once where the delivery enters (a header or the signed
//! body, by the channel's verifier) and carried as this type through the `channel-events`
//! envelope to the consumer. What a topic *means* is each channel's business (its adapter
//! matches on [`Topic::as_str`]); this type only guarantees that the value is one a verifier
//! accepted: not blank, at most [`Topic::MAX_LEN`] bytes, no control characters.
//!
//! On the queue it is a plain JSON string (`"topic": "orders/create"`), exactly as before the
//! type existed, so messages already queued still read back.

use super::InvalidId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A webhook topic (`orders/create`, `order.updated`, `ORDER_CONFIRMATION`…), or the
/// internal topic of orders read by the reconciliation poll ([`Topic::polled_order`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Topic(String);

impl Topic {
    /// The longest topic accepted (the limit Shopify's and WooCommerce's intakes always had;
    /// every channel's real topics are far shorter).
    pub const MAX_LEN: usize = 128;

    /// The topic of channel events made by a reconciliation poll: the payload is an already
    /// normalized order. It never comes from outside: the intake refuses it from the wire.
    pub const POLLED_ORDER: &'static str = "channel-sync/polled-order";

    /// Checks a topic read from a delivery.
    pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidId> {
        let raw = raw.into();
        let err = |reason| InvalidId {
            kind: "webhook topic",
            reason,
        };
        if raw.is_empty() {
            return Err(err("empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(err("too long"));
        }
        if raw.chars().any(char::is_control) {
            return Err(err("contains control characters"));
        }
        Ok(Self(raw))
    }

    /// The internal topic of polled orders.
    pub fn polled_order() -> Self {
        Self(Self::POLLED_ORDER.to_owned())
    }

    /// Whether this is the internal topic of polled orders.
    pub fn is_polled_order(&self) -> bool {
        self.0 == Self::POLLED_ORDER
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channels_topics_parse() {
        for topic in [
            "orders/create",
            "app/uninstalled",
            "customers/data_request",
            "order.updated",
            "action.woocommerce_order_refunded",
            "ORDER_STATUS_CHANGE",
            "TYPE_42",
            "MARKETPLACE_ACCOUNT_DELETION",
            "order.paid",
            // A spaced or non-ASCII topic is still a topic (nothing refused it before).
            "order paid",
            "commande.payée",
        ] {
            assert_eq!(Topic::parse(topic).unwrap().as_str(), topic);
        }
    }

    #[test]
    fn blank_overlong_and_control_characters_are_refused() {
        assert_eq!(Topic::parse("").unwrap_err().reason, "empty");
        let longest = "t".repeat(Topic::MAX_LEN);
        assert!(Topic::parse(longest.clone()).is_ok());
        assert_eq!(
            Topic::parse(format!("{longest}t")).unwrap_err().reason,
            "too long"
        );
        for bad in ["orders/create\n", "a\u{0}b", "\t", "x\u{7f}"] {
            assert_eq!(
                Topic::parse(bad).unwrap_err().reason,
                "contains control characters",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_polled_order_topic_is_recognised_whichever_way_it_was_made() {
        assert!(Topic::polled_order().is_polled_order());
        // Read back from the queue, it is the same topic.
        let parsed = Topic::parse(Topic::POLLED_ORDER).unwrap();
        assert!(parsed.is_polled_order());
        assert!(!Topic::parse("orders/create").unwrap().is_polled_order());
        assert!(!Topic::parse("channel-sync/polled-order2")
            .unwrap()
            .is_polled_order());
    }

    #[test]
    fn the_wire_form_is_a_plain_string_both_ways() {
        let topic = Topic::parse("orders/create").unwrap();
        assert_eq!(
            serde_json::to_value(&topic).unwrap(),
            serde_json::json!("orders/create")
        );
        let back: Topic = serde_json::from_str(r#""orders/create""#).unwrap();
        assert_eq!(back, topic);
        assert!(serde_json::from_str::<Topic>(r#""""#).is_err());
        assert!(serde_json::from_str::<Topic>("42").is_err());
    }
}
