//! `order-import`: a verified channel event becomes exactly one `order.imported` per
//! (channel, shop, channel order id), whatever arrives twice, late or out of order.
//!
//! Exactly once, in three steps: claim the order key with a conditional write (a lease, so a
//! crashed worker's claim expires), publish with a deduplication id derived from the key
//! (SQS FIFO drops a re-publish within five minutes; the embedded outbox always), then mark
//! the key done, forever. A worker that dies after publishing and before marking is covered
//! by the deduplication id.

use super::Disposition;
use crate::channels::{self, Interpreted};
use crate::messages::{ChannelEvent, OrderImported, WmsOutbound};
use crate::ports::{Claim, Idempotency, OutMessage, Queue};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long one worker owns an order key while it publishes.
pub const ORDER_LEASE: Duration = Duration::from_secs(60);

/// What the consumer needs.
pub struct ImportDeps {
    pub idempotency: Arc<dyn Idempotency>,
    pub wms_orders: Arc<dyn Queue>,
    /// Where messages that can never succeed go, with the reason.
    pub dead_letter: Arc<dyn Queue>,
}

/// The order key: the connection id is deliberately absent, so a reconnected store never
/// imports an order twice.
pub fn order_key(channel: &str, shop: &str, channel_order_id: &str) -> String {
    format!("order#{channel}#{shop}#{channel_order_id}")
}

/// Handles one `channel-events` message body.
pub async fn handle(deps: Arc<ImportDeps>, body: String) -> Disposition {
    let event: ChannelEvent = match serde_json::from_str(&body) {
        Ok(event) => event,
        Err(e) => return dead_letter(&deps, &body, format!("not a channel event: {e}")).await,
    };
    let span = tracing::info_span!(
        "order_import",
        channel = %event.channel,
        connection = %event.connection,
        topic = %event.topic,
        delivery = %event.delivery_id,
    );
    import(&deps, event, &body).instrument(span).await
}

async fn import(deps: &ImportDeps, event: ChannelEvent, body: &str) -> Disposition {
    let interpreted =
        channels::interpret(event.channel, &event.topic, event.payload.get().as_bytes());
    let order = match interpreted {
        Ok(Interpreted::Order(order)) => order,
        Ok(Interpreted::Ignored(reason)) => {
            tracing::info!(reason = %reason, "event ignored");
            return Disposition::Done(format!("ignored: {reason}"));
        }
        Err(e) => return dead_letter(deps, body, e.to_string()).await,
    };

    let key = order_key(
        event.channel.as_str(),
        &event.shop,
        order.channel_order_id.as_str(),
    );
    match deps.idempotency.claim(&key, ORDER_LEASE).await {
        Ok(Claim::Acquired) => {}
        Ok(Claim::Done(_)) => return Disposition::Done("duplicate order".into()),
        Ok(Claim::InProgress) => {
            return Disposition::Retry("order is being imported by another worker".into())
        }
        Err(e) => return Disposition::Retry(e.to_string()),
    }
    let order_number = order.order_number.clone();
    let message = WmsOutbound::OrderImported(OrderImported::new(
        event.tenant.clone(),
        event.connection.clone(),
        event.channel,
        event.shop.clone(),
        *order,
    ));
    let out = match serde_json::to_string(&message) {
        Ok(out) => out,
        Err(e) => return Disposition::Retry(format!("serialise order.imported: {e}")),
    };
    let dedup = hex::encode(Sha256::digest(key.as_bytes()));
    let sent = deps
        .wms_orders
        .send(OutMessage {
            body: out,
            dedup_id: Some(dedup.clone()),
            group_id: Some(dedup),
            tenant: Some(event.tenant.clone()),
        })
        .await;
    if let Err(e) = sent {
        if let Err(release) = deps.idempotency.release(&key).await {
            tracing::error!(error = %release, "could not release the order claim");
        }
        return Disposition::Retry(e.to_string());
    }
    let record = json!({
        "tenant": event.tenant,
        "connection": event.connection,
        "order_number": order_number,
        "delivery_id": event.delivery_id,
        "imported_at": chrono::Utc::now(),
    });
    if let Err(e) = deps.idempotency.complete(&key, &record, None).await {
        // Published already: the retry re-publishes with the same dedup id.
        return Disposition::Retry(e.to_string());
    }
    tracing::info!(order = %order_number, "order imported");
    Disposition::Done("imported".into())
}

/// Sends a message that can never succeed to the DLQ with its reason, then acks it.
async fn dead_letter(deps: &ImportDeps, body: &str, reason: String) -> Disposition {
    tracing::warn!(reason = %reason, "message dead-lettered");
    let wrapped = json!({
        "v": 1,
        "type": "dead_letter",
        "source": "channel-events",
        "reason": reason,
        "at": chrono::Utc::now(),
        "body": body,
    });
    match deps
        .dead_letter
        .send(OutMessage {
            body: wrapped.to_string(),
            ..OutMessage::default()
        })
        .await
    {
        Ok(()) => Disposition::Done(format!("dead-lettered: {reason}")),
        Err(e) => Disposition::Retry(format!("could not dead-letter: {e}")),
    }
}
