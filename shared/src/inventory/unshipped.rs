//! Units of imported, not yet shipped orders, for channels that keep their own reservations
//! and deduct shipped units from the quantity we set (Magento MSI: salable = source quantity −
//! reservations of placed, unshipped orders; the shipment deducts the source).
//!
//! The WMS's `available` already excludes the units of orders it holds. Pushed as the source
//! quantity, Magento would subtract its reservations again (an under-listing), and at shipment
//! the source could be below the shipped quantity, which Magento refuses ("Not all of your
//! products are available in the requested quantity", reference §3.5). So for such channels
//! the push adds back the units of this connection's imported orders that channel-sync has not
//! shipped yet: source = listed + unshipped, and Magento's salable = listed again.
//!
//! Records: partition `unshipped#{connection}`, key the channel order id, value the order's
//! remaining lines and the tracking numbers already deducted (so a retried export deducts
//! once). Written when an order is imported (before the WMS hears of it), reduced when
//! tracking is written (the shipment's lines, or everything), removed on cancellation.

use crate::domain::{ConnectionId, Sku};
use crate::ports::{PortError, PortResult, Records};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Serialize, Deserialize)]
struct Open {
    lines: Vec<(Sku, u32)>,
    /// Tracking numbers whose lines were deducted.
    #[serde(default)]
    shipped: Vec<String>,
}

/// Open orders read per page when summing.
const PAGE: usize = 500;
/// At most this many open orders are summed per push (far above a store's normal backlog);
/// beyond it the remainder is left out, which under-lists (the safe side), and is logged.
const MAX_OPEN_ORDERS: usize = 50_000;

fn corrupt(e: serde_json::Error) -> PortError {
    PortError::Corrupt(format!("unshipped order lines: {e}"))
}

/// An order was imported: its units are unshipped until tracking is written.
pub async fn imported(
    records: &dyn Records,
    connection: &ConnectionId,
    order: &str,
    lines: &[(Sku, u32)],
) -> PortResult<()> {
    let partition = crate::keys::partition::unshipped(connection);
    if records.fetch(&partition, order).await?.is_some() {
        // Imported already (a retry): a shipment may have been deducted since.
        return Ok(());
    }
    let value = serde_json::to_value(Open {
        lines: lines.to_vec(),
        shipped: Vec::new(),
    })
    .map_err(corrupt)?;
    records.put(&partition, order, 0, &value).await
}

/// The order was cancelled: the channel released its reservation.
pub async fn cancelled(
    records: &dyn Records,
    connection: &ConnectionId,
    order: &str,
) -> PortResult<()> {
    records
        .remove(&crate::keys::partition::unshipped(connection), order)
        .await
}

/// Tracking `number` was written for `shipped` (`None`: the whole order); a number already
/// deducted changes nothing.
pub async fn shipped(
    records: &dyn Records,
    connection: &ConnectionId,
    order: &str,
    number: &str,
    shipped: Option<&[(Sku, u32)]>,
) -> PortResult<()> {
    let partition = crate::keys::partition::unshipped(connection);
    let Some(shipped) = shipped else {
        return records.remove(&partition, order).await;
    };
    let Some(record) = records.fetch(&partition, order).await? else {
        return Ok(());
    };
    let mut open: Open = serde_json::from_value(record.value).map_err(corrupt)?;
    if open.shipped.iter().any(|n| n == number) {
        return Ok(());
    }
    open.shipped.push(number.to_owned());
    let lines = &mut open.lines;
    for (sku, units) in shipped {
        let mut left = *units;
        for line in lines.iter_mut().filter(|(s, _)| s == sku) {
            let take = left.min(line.1);
            line.1 -= take;
            left -= take;
        }
    }
    lines.retain(|(_, units)| *units > 0);
    if lines.is_empty() {
        records.remove(&partition, order).await
    } else {
        let value = serde_json::to_value(&open).map_err(corrupt)?;
        records
            .put(&partition, order, record.version + 1, &value)
            .await
    }
}

/// Unshipped units per SKU over the connection's open orders.
pub async fn units(
    records: &dyn Records,
    connection: &ConnectionId,
) -> PortResult<HashMap<Sku, i64>> {
    let partition = crate::keys::partition::unshipped(connection);
    let mut totals: HashMap<Sku, i64> = HashMap::new();
    let mut after: Option<String> = None;
    let mut read = 0usize;
    loop {
        let page = records.page(&partition, "", after.as_deref(), PAGE).await?;
        for record in &page.records {
            // One unreadable record must not stop the push: it is skipped (under-lists).
            let Ok(Open { lines, .. }) = serde_json::from_value::<Open>(record.value.clone())
            else {
                tracing::warn!(connection = %connection, order = %record.key, "unreadable unshipped record skipped");
                continue;
            };
            for (sku, n) in lines {
                *totals.entry(sku).or_default() += i64::from(n);
            }
        }
        read += page.records.len();
        after = page.next;
        if after.is_none() {
            break;
        }
        if read >= MAX_OPEN_ORDERS {
            tracing::warn!(connection = %connection, read, "too many unshipped orders: the rest are left out");
            break;
        }
    }
    Ok(totals)
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    #[tokio::test]
    async fn imported_units_count_until_shipped_or_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let c = ConnectionId::parse("c_mag").unwrap();
        imported(&store, &c, "12", &[(sku("A"), 2), (sku("B"), 1)])
            .await
            .unwrap();
        imported(&store, &c, "13", &[(sku("A"), 3)]).await.unwrap();
        // Re-imported (a retry) counts once.
        imported(&store, &c, "13", &[(sku("A"), 3)]).await.unwrap();
        let all = units(&store, &c).await.unwrap();
        assert_eq!((all[&sku("A")], all[&sku("B")]), (5, 1));
        // Part of order 12 ships, then the rest; order 13 is cancelled.
        shipped(&store, &c, "12", "T1", Some(&[(sku("A"), 1)]))
            .await
            .unwrap();
        assert_eq!(units(&store, &c).await.unwrap()[&sku("A")], 4);
        // The same tracking exported again (a retry) deducts once.
        shipped(&store, &c, "12", "T1", Some(&[(sku("A"), 1)]))
            .await
            .unwrap();
        assert_eq!(units(&store, &c).await.unwrap()[&sku("A")], 4);
        shipped(
            &store,
            &c,
            "12",
            "T2",
            Some(&[(sku("A"), 5), (sku("B"), 1)]),
        )
        .await
        .unwrap();
        assert_eq!(store.fetch("unshipped#c_mag", "12").await.unwrap(), None);
        cancelled(&store, &c, "13").await.unwrap();
        assert!(units(&store, &c).await.unwrap().is_empty());
        // Shipping an order we never recorded changes nothing.
        shipped(&store, &c, "99", "T9", None).await.unwrap();
    }
}
