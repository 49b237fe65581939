//! Plain domain types: no I/O, no channel JSON.

mod connection;
mod ids;
mod order;
mod topic;
mod tracking;

pub use connection::{Channel, Connection, ConnectionSettings, ConnectionStatus, SyncMode};
pub use ids::{ChannelOrderId, ConnectionId, InvalidId, ShopDomain, Sku, TenantId};
pub use order::{order_holds, Address, HoldCode, HoldReason, Marketplace, Order, OrderLine};
pub use topic::Topic;
pub use tracking::TrackingNumber;
