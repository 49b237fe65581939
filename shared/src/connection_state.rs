//! What a connection's recent events leave for the merchant to see, read by the channels'
//! `notes` and the SKU audit, written by the order-import consumer: orders imported held, per
//! hold reason, and when the connection's authorization of our app runs out. Below the
//! channels and the consumers, so both reach it without importing each other.

use crate::domain::ConnectionId;
use crate::keys;
use crate::messages::OrderSnapshot;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How far back [`held_orders`] counts ("recent orders").
pub const HELD_RECENT: chrono::Duration = chrono::Duration::days(30);

/// The most held-order markers [`held_orders`] reads for one connection.
pub const HELD_MAX_SCAN: usize = 10_000;

/// What the per-order "imported held" marker holds.
#[derive(Serialize, Deserialize)]
struct HeldMarker {
    at: DateTime<Utc>,
    detail: String,
}

/// Orders imported held for one reason, recently.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeldCount {
    pub count: u64,
    /// The detail of the latest one (what the merchant must do).
    pub detail: String,
    #[serde(skip)]
    latest: Option<DateTime<Utc>>,
}

/// Marks an imported order under each hold reason it carries, once per (reason, order): a
/// marker already written is left as it is, so a redelivery or a retry is not counted again.
pub async fn record_held(
    records: &dyn crate::ports::Records,
    connection: &ConnectionId,
    order: &OrderSnapshot,
) -> crate::ports::PortResult<()> {
    let partition = keys::partition::held(connection);
    let mut seen = std::collections::BTreeSet::new();
    for hold in &order.hold_reasons {
        let code = serde_json::to_value(hold.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{:?}", hold.code));
        if !seen.insert(code.clone()) {
            continue;
        }
        let key = format!("{code}#{}", order.channel_order_id.as_str());
        let marker = serde_json::json!(HeldMarker {
            at: Utc::now(),
            detail: hold.detail.chars().take(1000).collect(),
        });
        // Version 1 always: an existing marker is never overwritten (its first time stays).
        records.put_if_newer(&partition, &key, 1, &marker).await?;
    }
    Ok(())
}

/// How many orders the connection imported held, per hold code (`missing_sku`,
/// `masked_address`, …), among those imported since `since`, with the latest one's detail.
/// Reads at most [`HELD_MAX_SCAN`] markers.
pub async fn held_orders(
    records: &dyn crate::ports::Records,
    connection: &ConnectionId,
    since: DateTime<Utc>,
) -> crate::ports::PortResult<std::collections::BTreeMap<String, HeldCount>> {
    let partition = keys::partition::held(connection);
    let mut out: std::collections::BTreeMap<String, HeldCount> = Default::default();
    let mut after: Option<String> = None;
    let mut read = 0usize;
    loop {
        let page = records.page(&partition, "", after.as_deref(), 1000).await?;
        read += page.records.len();
        for record in page.records {
            let Some((code, _order)) = record.key.split_once('#') else {
                continue;
            };
            let Ok(marker) = serde_json::from_value::<HeldMarker>(record.value) else {
                continue;
            };
            if marker.at < since {
                continue;
            }
            let entry = out.entry(code.to_owned()).or_default();
            entry.count += 1;
            if entry.latest.is_none_or(|l| l < marker.at) {
                entry.latest = Some(marker.at);
                entry.detail = marker.detail;
            }
        }
        match page.next {
            Some(next) if read < HELD_MAX_SCAN => after = Some(next),
            _ => break,
        }
    }
    Ok(out)
}

/// When the connection's authorization of our app runs out, as last recorded.
pub async fn authorization_expiry(
    records: &dyn crate::ports::Records,
    connection: &ConnectionId,
) -> crate::ports::PortResult<Option<DateTime<Utc>>> {
    let partition = keys::partition::authorization(connection);
    Ok(records
        .fetch(&partition, keys::partition::AUTHORIZATION_EXPIRY)
        .await?
        .and_then(|r| r.value.get("expires_at").cloned())
        .and_then(|v| serde_json::from_value(v).ok()))
}
