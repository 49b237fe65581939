//! Queue messages: versioned JSON (`"v": 1`). These serde types are the contract; the
//! project's `docs/messages.md` documents them and tests round-trip them.

use crate::domain::{
    Address, Channel, ChannelOrderId, ConnectionId, HoldReason, Marketplace, Order, Sku, TenantId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The current version of every message this build writes.
pub const VERSION: u32 = 1;

/// `channel-events`: a verified webhook delivery, enqueued by the intake as it arrived.
/// The payload is kept byte-for-byte (a JSON value, not a string, so nothing is re-escaped).
#[derive(Debug, Serialize, Deserialize)]
pub struct ChannelEvent {
    pub v: u32,
    pub channel: Channel,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    /// The store's identity on the channel (Shopify: the myshopify.com domain).
    pub shop: String,
    /// A plain JSON string on the queue, checked again when read back.
    pub topic: crate::domain::Topic,
    /// The channel's delivery id, used for delivery-level dedup.
    pub delivery_id: String,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<String>,
    pub payload: Box<RawValue>,
}

/// Messages channel-sync publishes to the WMS (`wms-orders`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WmsOutbound {
    /// The first time channel-sync sees an order: exactly once per
    /// (channel, shop, channel order id).
    #[serde(rename = "order.imported")]
    OrderImported(OrderSnapshot),
    /// A newer state of an imported order (`channel_updated_at` only increases, except once
    /// after a state dated more than a day ahead of our clock, which a real change supersedes).
    #[serde(rename = "order.updated")]
    OrderUpdated(OrderSnapshot),
    /// An imported order was cancelled on the channel.
    #[serde(rename = "order.cancelled")]
    OrderCancelled(OrderCancelled),
    /// A privacy request the WMS must act on (it holds the order data).
    #[serde(rename = "privacy.request")]
    PrivacyRequest(PrivacyMessage),
    /// A store stopped being connected (app uninstalled, token revoked): no more orders or
    /// pushes from it until it reconnects.
    #[serde(rename = "connection.disconnected")]
    ConnectionDisconnected(ConnectionMessage),
    /// Tracking was written to the channel.
    #[serde(rename = "tracking.exported")]
    TrackingExported(TrackingResult),
    /// A channel product variant with a SKU (the daily product import).
    #[serde(rename = "product.imported")]
    ProductImported(ProductImported),
    /// Tracking could not be written and will not be retried; `reason` says why.
    #[serde(rename = "tracking.failed")]
    TrackingFailed(TrackingResult),
    /// The merchant's authorization of our app runs out soon (TikTok Shop): once per
    /// (connection, expiry); the merchant must re-authorize before `expires_at`.
    #[serde(rename = "connection.authorization_expiring")]
    ConnectionAuthorizationExpiring(AuthorizationExpiring),
}

/// `connection.authorization_expiring`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationExpiring {
    pub v: u32,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub channel: Channel,
    pub shop: String,
    pub expires_at: DateTime<Utc>,
}

/// `product.imported`: an upsert for the WMS (re-sent by every import on AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductImported {
    pub v: u32,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub channel: Channel,
    pub sku: Sku,
    pub variant_id: String,
    pub product_id: String,
    pub title: Option<String>,
    /// The channel's product status, lower case (`active`, `draft`, `archived`, `unlisted`).
    pub status: String,
    pub inventory_item_id: Option<String>,
    pub tracked: bool,
}

/// `tracking.exported` / `tracking.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingResult {
    pub v: u32,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub channel_order_id: ChannelOrderId,
    pub tracking_number: String,
    /// The channel's fulfillment ids (exported).
    #[serde(default)]
    pub fulfillments: Vec<String>,
    /// Why it failed (failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `privacy.request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyMessage {
    pub v: u32,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub channel: Channel,
    pub shop: String,
    /// The channel delivery that carried it (also the message's dedup key).
    pub delivery_id: String,
    pub request: PrivacyRequest,
}

/// `connection.disconnected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionMessage {
    pub v: u32,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub channel: Channel,
    pub shop: String,
    pub reason: String,
}

/// `order.cancelled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub v: u32,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub channel: Channel,
    pub shop: String,
    pub channel_order_id: ChannelOrderId,
    pub order_number: String,
    pub channel_updated_at: DateTime<Utc>,
}

/// A channel order, normalized (`order.imported`, `order.updated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    pub v: u32,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub channel: Channel,
    pub shop: String,
    pub channel_order_id: ChannelOrderId,
    pub order_number: String,
    pub placed_at: DateTime<Utc>,
    pub channel_updated_at: DateTime<Utc>,
    pub financial_status: Option<String>,
    pub cancelled: bool,
    pub currency: Option<String>,
    pub lines: Vec<OrderLineSnapshot>,
    pub ship_to: Option<Address>,
    pub hold_reasons: Vec<HoldReason>,
    /// The connection's `order_allocation` setting: the WMS warehouse to allocate the order to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<String>,
    /// The marketplace the order was sold on (`{"name": "Amazon UK", "prime": true}`), for
    /// channels that sell on several (Veeqo). Absent for every other channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace: Option<Marketplace>,
}

/// One line of an order message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLineSnapshot {
    /// `null` when the channel line has no SKU (the order then carries a `missing_sku` hold).
    pub sku: Option<Sku>,
    pub quantity: u32,
    pub channel_line_id: String,
    pub title: Option<String>,
    pub requires_shipping: bool,
}

impl OrderSnapshot {
    /// Builds the message for an order of a connection.
    pub fn new(
        tenant: TenantId,
        connection: ConnectionId,
        channel: Channel,
        shop: String,
        order: Order,
    ) -> Self {
        Self {
            v: VERSION,
            tenant,
            connection,
            channel,
            shop,
            channel_order_id: order.channel_order_id,
            order_number: order.order_number,
            placed_at: order.placed_at,
            channel_updated_at: order.updated_at,
            financial_status: order.financial_status,
            cancelled: order.cancelled,
            currency: order.currency,
            lines: order
                .lines
                .into_iter()
                .map(|l| OrderLineSnapshot {
                    sku: l.sku,
                    quantity: l.quantity,
                    channel_line_id: l.channel_line_id,
                    title: l.title,
                    requires_shipping: l.requires_shipping,
                })
                .collect(),
            ship_to: order.ship_to,
            hold_reasons: order.hold_reasons,
            allocation: None,
            marketplace: order.marketplace,
        }
    }
}

/// Messages the WMS sends to channel-sync (`wms-events`; `POST /wms/events` in `serve`).
/// Accepted and queued now; their consumers arrive with the inventory and tracking work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum WmsInbound {
    #[serde(rename = "stock.changed")]
    StockChanged {
        #[serde(default = "v1")]
        v: u32,
        tenant: TenantId,
        sku: Sku,
        available: i64,
        at: DateTime<Utc>,
        /// Orders whose units this level (and every later one) already accounts for: their
        /// reservations are released (see "Oversell guard" in docs/architecture.md).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        orders: Vec<OrderRef>,
    },
    #[serde(rename = "product.upserted")]
    ProductUpserted {
        #[serde(default = "v1")]
        v: u32,
        tenant: TenantId,
        sku: Sku,
        name: String,
        #[serde(default)]
        components: Option<Vec<BundleComponent>>,
    },
    #[serde(rename = "shipment.dispatched")]
    ShipmentDispatched {
        #[serde(default = "v1")]
        v: u32,
        tenant: TenantId,
        connection: ConnectionId,
        channel_order_id: ChannelOrderId,
        #[serde(default)]
        lines: Option<Vec<ShippedLine>>,
        carrier: String,
        tracking_number: String,
        #[serde(default)]
        tracking_url: Option<String>,
    },
}

fn v1() -> u32 {
    VERSION
}

/// A component of a bundle product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleComponent {
    pub sku: Sku,
    pub quantity: u32,
}

/// An order as the WMS names it back to channel-sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRef {
    pub channel: Channel,
    pub shop: String,
    pub channel_order_id: ChannelOrderId,
}

/// A shipped line of a shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedLine {
    pub sku: Sku,
    pub quantity: u32,
}

impl WmsInbound {
    /// The tenant the message belongs to.
    pub fn tenant(&self) -> &TenantId {
        match self {
            WmsInbound::StockChanged { tenant, .. }
            | WmsInbound::ProductUpserted { tenant, .. }
            | WmsInbound::ShipmentDispatched { tenant, .. } => tenant,
        }
    }
}

/// A privacy request from a channel (Shopify's mandatory compliance webhooks).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrivacyRequest {
    pub kind: PrivacyKind,
    /// The channel's customer id, when the request is about one customer.
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    /// Channel order ids concerned (requested or to redact).
    pub orders: Vec<String>,
    /// The channel's id for a data request, to quote when answering it.
    pub request_id: Option<String>,
}

/// The kinds of privacy request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyKind {
    /// The customer asked for their data.
    CustomerDataRequest,
    /// Erase one customer's data.
    CustomerRedact,
    /// Erase everything about the shop (48 h after uninstall).
    ShopRedact,
}

#[cfg(test)]
mod marketplace_tests {
    use super::*;
    use crate::domain::{Channel, Marketplace, OrderLine};
    use chrono::TimeZone;

    fn order(marketplace: Option<Marketplace>) -> Order {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        Order {
            channel_order_id: ChannelOrderId::parse("1001").unwrap(),
            order_number: "#1001".into(),
            placed_at: at,
            updated_at: at,
            financial_status: Some("paid".into()),
            cancelled: false,
            currency: Some("GBP".into()),
            lines: vec![OrderLine {
                channel_line_id: "1".into(),
                sku: Some(Sku::parse("SKU-A").unwrap()),
                quantity: 2,
                title: None,
                requires_shipping: true,
            }],
            ship_to: None,
            hold_reasons: vec![],
            awaiting: None,
            awaiting_payment: false,
            fulfilled: false,
            marketplace,
        }
    }

    fn message(channel: Channel, order: Order) -> serde_json::Value {
        let snapshot = OrderSnapshot::new(
            TenantId::parse("dev").unwrap(),
            ConnectionId::parse("c_0123456789abcdef0123").unwrap(),
            channel,
            "shop".into(),
            order,
        );
        serde_json::to_value(WmsOutbound::OrderImported(snapshot)).unwrap()
    }

    #[test]
    fn an_order_of_another_channel_serialises_exactly_as_before() {
        assert_eq!(
            message(Channel::Shopify, order(None)),
            serde_json::json!({
                "type": "order.imported", "v": 1, "tenant": "dev",
                "connection": "c_0123456789abcdef0123", "channel": "shopify", "shop": "shop",
                "channel_order_id": "1001", "order_number": "#1001",
                "placed_at": "2026-11-20T09:00:00Z", "channel_updated_at": "2026-11-20T09:00:00Z",
                "financial_status": "paid", "cancelled": false, "currency": "GBP",
                "lines": [{"sku": "SKU-A", "quantity": 2, "channel_line_id": "1", "title": null,
                    "requires_shipping": true}],
                "ship_to": null, "hold_reasons": []
            })
        );
        // And a stored order without the field reads back as before.
        let stored = serde_json::to_value(order(None)).unwrap();
        assert!(stored.get("marketplace").is_none());
        assert_eq!(
            serde_json::from_value::<Order>(stored).unwrap(),
            order(None)
        );
    }

    #[test]
    fn the_marketplace_and_prime_travel_in_the_message() {
        let sold = Marketplace {
            name: "Amazon UK".into(),
            prime: true,
        };
        let msg = message(Channel::Veeqo, order(Some(sold.clone())));
        assert_eq!(
            msg["marketplace"],
            serde_json::json!({"name": "Amazon UK", "prime": true})
        );
        let back: WmsOutbound = serde_json::from_value(msg).unwrap();
        let WmsOutbound::OrderImported(snapshot) = back else {
            panic!("not order.imported");
        };
        assert_eq!(snapshot.marketplace, Some(sold));
        let not_prime = message(
            Channel::Veeqo,
            order(Some(Marketplace {
                name: "eBay UK".into(),
                prime: false,
            })),
        );
        assert_eq!(
            not_prime["marketplace"],
            serde_json::json!({"name": "eBay UK"})
        );
    }
}

#[cfg(test)]
mod topic_wire_tests {
    use super::*;

    /// A `channel-events` message as queued before the topic had a type.
    const QUEUED: &str = r#"{"v":1,"channel":"shopify","tenant":"dev","connection":"c_1","shop":"demo.myshopify.com","topic":"orders/create","delivery_id":"wh-1","received_at":"2026-11-27T10:00:00Z","payload":{"id":5630201856307}}"#;

    #[test]
    fn a_queued_channel_event_reads_and_writes_back_unchanged() {
        let event: ChannelEvent = serde_json::from_str(QUEUED).unwrap();
        assert_eq!(event.topic.as_str(), "orders/create");
        assert!(!event.topic.is_polled_order());
        assert_eq!(serde_json::to_string(&event).unwrap(), QUEUED);
        let polled = QUEUED.replace("orders/create", crate::domain::Topic::POLLED_ORDER);
        let event: ChannelEvent = serde_json::from_str(&polled).unwrap();
        assert!(event.topic.is_polled_order());
        assert_eq!(serde_json::to_string(&event).unwrap(), polled);
    }

    #[test]
    fn a_channel_event_with_a_topic_no_intake_accepts_is_unreadable() {
        for topic in [r#""""#, r#""a\u0000b""#, "null", "7"] {
            let bad = QUEUED.replace(r#""orders/create""#, topic);
            assert!(
                serde_json::from_str::<ChannelEvent>(&bad).is_err(),
                "{topic}"
            );
        }
    }
}
