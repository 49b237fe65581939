//! The inventory engine's moving parts: the stock handler (WMS stock and products, routed here
//! by the `wms-events` consumer),
//! the Live trigger (coalescing), and the `inventory-push` consumer (one pusher per
//! connection: Live batches and chunked full pushes).
//!
//! **Coalescing.** A stock change marks the SKU dirty for every Live connection of the tenant
//! (`dirty#{connection}`, one record per SKU, so a burst of changes to one SKU is one record)
//! and sends a `push.live` message for the connection's current window (deduplicated per
//! connection and window). The pusher waits for the window's end, reads every dirty SKU, adds
//! every bundle containing one, and pushes the latest quantities in batches of the channel's
//! maximum. A dirty record is removed only if it was not re-marked meanwhile.
//!
//! **One pusher per connection.** `inventory-push` is a FIFO queue with the connection as
//! message group (AWS), and every push holds the lease `push-lock#{connection}`; a message that
//! finds it held is retried later.
//!
//! **Never re-sell sold stock.** See `docs/architecture.md` ("Oversell guard"): reservations for
//! imported orders the WMS has not applied, a per-connection model of the channel's quantity
//! that imported orders decrement, and a compare-and-set (`changeFromQuantity`) on every write
//! with a settle period after the channel moved unexpectedly.

use super::bundles::Component;
use super::channel::{ChannelInventory, ItemResult, PushError, PushItem};
use super::plan::{listed_quantity, ListingRules};
use super::runs::{self, PlannedQuantity, Run, RunKind, SkuFailure};
use super::skumap::{self, SkuMapEntry};
use super::stock;
use crate::domain::{Connection, ConnectionId, ConnectionStatus, Sku, SyncMode, TenantId};
use crate::failure::Disposition;
use crate::messages::{WmsInbound, VERSION};
use crate::ports::{
    Claim, Connections, Idempotency, OutMessage, PortError, PortResult, Queue, Records,
    MAX_FETCH_MANY,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// SKUs per full-push message: a chunk is a handful of channel calls, far from Lambda's
/// 15-minute limit even when the channel throttles.
pub const FULL_CHUNK: usize = 1000;
/// Dirty SKUs per Live message; more are continued by another message.
pub const LIVE_CHUNK: usize = 5000;
/// How long one push holds a connection.
const PUSH_LEASE: Duration = Duration::from_secs(14 * 60);

/// Engine timings.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// The Live coalescing window.
    pub window: Duration,
    /// After the channel's quantity moved unexpectedly, how long to wait (for the order that
    /// probably moved it to be imported) before overwriting.
    pub settle: Duration,
    /// SKUs per full-push message ([`FULL_CHUNK`]).
    pub full_chunk: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(2),
            settle: Duration::from_secs(15 * 60),
            full_chunk: FULL_CHUNK,
        }
    }
}

/// `inventory-push` messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PushMessage {
    /// Push the connection's dirty SKUs once `window_end` has passed.
    #[serde(rename = "push.live")]
    Live {
        v: u32,
        tenant: TenantId,
        connection: ConnectionId,
        window_end: DateTime<Utc>,
    },
    /// One chunk of a full push: the mapped SKUs after `after`.
    #[serde(rename = "push.full")]
    Full {
        v: u32,
        tenant: TenantId,
        connection: ConnectionId,
        run: String,
        #[serde(default)]
        after: Option<String>,
    },
}

/// What we believe the channel holds for a SKU: what we last wrote, minus what its orders
/// took since. `stale_since`: when a write found the channel holding something else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelQuantity {
    pub quantity: i64,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<DateTime<Utc>>,
}

/// The per-connection listing rules from its settings.
pub fn rules(connection: &Connection) -> ListingRules {
    ListingRules {
        buffer: connection.settings.safety_buffer,
        cap: connection.settings.max_listed,
    }
}

fn corrupt(e: impl std::fmt::Display) -> PortError {
    PortError::Corrupt(e.to_string())
}

/// Sends the message for a connection (FIFO group: the connection).
async fn send(queue: &dyn Queue, message: &PushMessage, dedup: String) -> PortResult<()> {
    queue.send(push_message(message, dedup)?).await
}

/// The queue message of `message`, deduplicated by `dedup`, grouped by its connection.
fn push_message(message: &PushMessage, dedup: String) -> PortResult<OutMessage> {
    let (tenant, connection) = match message {
        PushMessage::Live {
            tenant, connection, ..
        }
        | PushMessage::Full {
            tenant, connection, ..
        } => (tenant, connection),
    };
    Ok(OutMessage {
        body: serde_json::to_string(message).map_err(corrupt)?,
        dedup_id: Some(hex::encode(Sha256::digest(dedup.as_bytes()))),
        group_id: Some(connection.to_string()),
        tenant: Some(tenant.clone()),
    })
}

#[cfg(all(test, feature = "embedded"))]
mod chaos_tests;
mod live;
mod pusher;
mod stock_events;
#[cfg(all(test, feature = "embedded"))]
mod test_world;
#[cfg(all(test, feature = "embedded"))]
mod tests;

#[cfg(feature = "embedded")]
pub use live::{embedded_live_trigger, embedded_stock};
pub use live::{start_daily, start_full, wake_stale_live, LiveTrigger, STALE_MARK};
pub use pusher::{handle_push, PushDeps};
pub use stock_events::{handle_stock, StockDeps};

/// The push queue's name in the embedded store.
pub const INVENTORY_PUSH_QUEUE: &str = "inventory-push";
