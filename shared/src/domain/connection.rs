//! A connected store and its settings.

use super::{ConnectionId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The sales channels channel-sync knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Shopify,
    Woocommerce,
    Tiktok,
    Ebay,
    Veeqo,
    Etsy,
    Magento,
}

impl Channel {
    /// Every channel channel-sync knows (whether or not this build speaks it yet).
    pub const ALL: [Channel; 7] = [
        Channel::Shopify,
        Channel::Woocommerce,
        Channel::Tiktok,
        Channel::Ebay,
        Channel::Veeqo,
        Channel::Etsy,
        Channel::Magento,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Shopify => "shopify",
            Channel::Woocommerce => "woocommerce",
            Channel::Tiktok => "tiktok",
            Channel::Ebay => "ebay",
            Channel::Veeqo => "veeqo",
            Channel::Etsy => "etsy",
            Channel::Magento => "magento",
        }
    }

    /// Parses the path segment used in `/webhooks/{channel}`.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "shopify" => Channel::Shopify,
            "woocommerce" => Channel::Woocommerce,
            "tiktok" => Channel::Tiktok,
            "ebay" => Channel::Ebay,
            "veeqo" => Channel::Veeqo,
            "etsy" => Channel::Etsy,
            "magento" => Channel::Magento,
            _ => return None,
        })
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a connection is working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// The channel rejected our credentials: no jobs until the merchant reconnects.
    NeedsReauth,
    /// Uninstalled or disconnected by the user: no jobs, history kept.
    Disconnected,
}

/// Inventory sync mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// A full push once a day.
    Daily,
    /// Push on every stock change, plus the daily push.
    Live,
    /// Never push. The safe default until the merchant has audited SKUs.
    #[default]
    Disabled,
}

/// Per-connection settings the merchant controls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettings {
    #[serde(default)]
    pub inventory_sync: SyncMode,
    /// The channel location whose fulfillment orders we fulfil.
    #[serde(default)]
    pub fulfilment_location: Option<String>,
    /// The channel location whose stock we set.
    #[serde(default)]
    pub inventory_location: Option<String>,
    /// Whether the channel emails the buyer when we write tracking back.
    #[serde(default)]
    pub notify_customer: bool,
    /// Units held back from every SKU's listed quantity.
    #[serde(default)]
    pub safety_buffer: u32,
    /// Never list more than this many units of a SKU (`None`: no cap).
    #[serde(default)]
    pub max_listed: Option<u32>,
    /// The WMS warehouse this connection's orders are allocated to, passed on as `allocation`
    /// in `order.imported` / `order.updated` (`None`: the WMS decides).
    #[serde(default)]
    pub order_allocation: Option<String>,
    /// Import orders whose only reason to wait is payment (Shopify `pending`, WooCommerce
    /// `pending`, Magento `pending_payment`/`payment_review`) at once, as if paid. Off by
    /// default: with it on, the WMS may ship goods that are never paid for.
    #[serde(default)]
    pub import_unpaid: bool,
}

/// One connected store of one tenant. Credentials are not here: they live in the vault
/// under [`Connection::credentials_name`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant: TenantId,
    pub channel: Channel,
    /// The store's identity on its channel (Shopify: the myshopify.com domain).
    pub shop: String,
    pub display_name: Option<String>,
    pub status: ConnectionStatus,
    pub settings: ConnectionSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the connection was last (re)connected: credentials stored, status active. `None`
    /// on records written before it was kept: read as `created_at` ([`Connection::activated`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<DateTime<Utc>>,
    /// The stored version of this copy: [`crate::ports::Connections::update`] writes a copy
    /// only while the stored version is still this one, so a stale copy is never written back.
    #[serde(default)]
    pub version: u64,
}

impl Connection {
    /// When the connection was last (re)connected.
    pub fn activated(&self) -> DateTime<Utc> {
        self.activated_at.unwrap_or(self.created_at)
    }

    /// An active connection of tenant `dev` with default settings, created now: the one
    /// builder tests, sample events and benchmarks share. Panics on an id or tenant that does
    /// not parse, so it is for fixed fixture values only.
    pub fn fixture(id: &str, channel: Channel, shop: &str) -> Self {
        let now = Utc::now();
        Connection {
            id: ConnectionId::parse(id).expect("a fixture connection id"),
            tenant: TenantId::parse("dev").expect("the dev tenant"),
            channel,
            shop: shop.to_owned(),
            display_name: None,
            status: ConnectionStatus::Active,
            settings: ConnectionSettings::default(),
            created_at: now,
            updated_at: now,
            activated_at: None,
            version: 0,
        }
    }

    /// The vault name of this connection's credentials.
    pub fn credentials_name(&self) -> String {
        format!("connections/{}", self.id)
    }
}
