//! The SKU map: which channel item takes each SKU's stock on a connection (partition
//! `skumap#{connection}`, key the SKU). It is inventory's data: the product import
//! (`jobs::products`) writes it, generation-stamped, and commits the generation only after
//! every page was read (a duplicate can be on the last page); lookups ignore entries older
//! than the committed generation, so a SKU that became a duplicate or vanished stops
//! resolving.

use crate::domain::{Connection, ConnectionId, Sku};
use crate::keys;
use crate::ports::{KeyValue, PortError, Records};
use serde::{Deserialize, Serialize};

/// Refreshes a connection's SKU map from its store (the product import), for a first push
/// that finds none.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync {
    async fn refresh(&self, connection: &Connection) -> Result<(), String>;
}

/// One SKU map entry (partition `skumap#{connection}`, key: the SKU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuMapEntry {
    /// The inventory item's GID, what `inventorySetQuantities` takes.
    pub inventory_item_id: String,
    pub variant_id: String,
    pub product_id: String,
    /// Whether Shopify counts the item's stock; untracked items must not be pushed.
    pub tracked: bool,
    /// As in the `product.imported` message (`active`, `draft`, …).
    pub product_status: String,
    /// The run that wrote the entry (its start, Unix ms); see the module doc.
    #[serde(default)]
    pub generation: i64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct MapGeneration {
    generation: i64,
}

/// The generation of the last complete map (0: none yet).
pub async fn committed_generation(
    values: &dyn KeyValue,
    connection: &ConnectionId,
) -> Result<i64, PortError> {
    Ok(match values.get(&keys::products_map(connection)).await? {
        Some(raw) => {
            serde_json::from_value::<MapGeneration>(raw)
                .map_err(|e| PortError::Corrupt(format!("SKU map generation: {e}")))?
                .generation
        }
        None => 0,
    })
}

fn current_entry(
    record: crate::ports::Record,
    committed: i64,
) -> Result<Option<SkuMapEntry>, PortError> {
    let entry: SkuMapEntry = serde_json::from_value(record.value)
        .map_err(|e| PortError::Corrupt(format!("SKU map entry {}: {e}", record.key)))?;
    Ok((entry.generation >= committed).then_some(entry))
}

/// The current map entry for `sku`: `None` when the SKU has no entry, or only one that the
/// last complete import no longer wrote (duplicate now, renamed, deleted).
pub async fn sku_entry(
    records: &dyn Records,
    values: &dyn KeyValue,
    connection: &ConnectionId,
    sku: &Sku,
) -> Result<Option<SkuMapEntry>, PortError> {
    let Some(record) = records
        .fetch(&keys::partition::skumap(connection), sku.as_str())
        .await?
    else {
        return Ok(None);
    };
    current_entry(record, committed_generation(values, connection).await?)
}

/// One page of the current map in SKU order, after `after`: the entries and the key to go on
/// after (`None` at the end). Outdated entries are skipped, so a page may hold fewer than
/// `limit`.
pub async fn mapped_page(
    records: &dyn Records,
    committed: i64,
    connection: &ConnectionId,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<(Sku, SkuMapEntry)>, Option<String>), PortError> {
    let page = records
        .page(&keys::partition::skumap(connection), "", after, limit)
        .await?;
    let mut out = Vec::with_capacity(page.records.len());
    for record in page.records {
        let Ok(sku) = Sku::parse(record.key.clone()) else {
            continue;
        };
        if let Some(entry) = current_entry(record, committed)? {
            out.push((sku, entry));
        }
    }
    Ok((out, page.next))
}

/// The current map entries of `skus` (those mapped), in SKU order.
pub async fn entries_for(
    records: &dyn Records,
    committed: i64,
    connection: &ConnectionId,
    skus: &[Sku],
) -> Result<Vec<(Sku, SkuMapEntry)>, PortError> {
    let partition = keys::partition::skumap(connection);
    let mut out = Vec::new();
    for chunk in skus.chunks(crate::ports::MAX_FETCH_MANY) {
        let keys: Vec<String> = chunk.iter().map(|s| s.as_str().to_owned()).collect();
        for record in records.fetch_many(&partition, &keys).await? {
            let Ok(sku) = Sku::parse(record.key.clone()) else {
                continue;
            };
            if let Some(entry) = current_entry(record, committed)? {
                out.push((sku, entry));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The inventory item to push `sku`'s stock to on this connection: `None` when the SKU is not
/// mapped (unknown, blank, duplicate — see [`sku_entry`]) or its item is untracked (Shopify
/// keeps no count for it, so there is nothing to push).
pub async fn inventory_item_for(
    records: &dyn Records,
    values: &dyn KeyValue,
    connection: &ConnectionId,
    sku: &Sku,
) -> Result<Option<String>, PortError> {
    Ok(sku_entry(records, values, connection, sku)
        .await?
        .filter(|e| e.tracked)
        .map(|e| e.inventory_item_id))
}

/// Writes one entry (stamped with its generation).
pub async fn put(
    records: &dyn Records,
    connection: &ConnectionId,
    sku: &str,
    entry: &SkuMapEntry,
) -> Result<(), PortError> {
    let record = serde_json::to_value(entry).map_err(|e| PortError::Corrupt(e.to_string()))?;
    records
        .put(
            &keys::partition::skumap(connection),
            sku,
            entry.generation,
            &record,
        )
        .await
}

/// Only after every entry is written. Never moves backwards: an overlapping older run (its
/// lease expired) finishing last must not revive entries the newer run dropped. The write is
/// conditional on the value read, so a run committing between the read and the write is seen;
/// each lost round means another run moved the generation, so a few rounds settle it.
pub async fn commit_generation(
    values: &dyn KeyValue,
    connection: &ConnectionId,
    generation: i64,
) -> Result<(), PortError> {
    const ROUNDS: usize = 4;
    let key = keys::products_map(connection);
    let record = serde_json::to_value(MapGeneration { generation })
        .map_err(|e| PortError::Corrupt(e.to_string()))?;
    for _ in 0..ROUNDS {
        let current = values.get(&key).await?;
        // An unreadable record is replaced (the map heals) rather than blocking every run.
        let committed = current
            .clone()
            .and_then(|raw| serde_json::from_value::<MapGeneration>(raw).ok())
            .map_or(0, |g| g.generation);
        if generation <= committed {
            return Ok(());
        }
        if values.put_if(&key, current.as_ref(), &record, None).await? {
            return Ok(());
        }
    }
    Err(PortError::Unavailable(format!(
        "the SKU map generation of {connection} kept moving during {ROUNDS} attempts"
    )))
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// The store, where another run commits `newer` right after the first read.
    struct RacedBy {
        store: EmbeddedStore,
        newer: i64,
        raced: AtomicBool,
    }

    #[async_trait::async_trait]
    impl KeyValue for RacedBy {
        async fn get(&self, key: &str) -> Result<Option<serde_json::Value>, PortError> {
            let read = KeyValue::get(&self.store, key).await?;
            if !self.raced.swap(true, Ordering::SeqCst) {
                let newer = serde_json::json!({ "generation": self.newer });
                KeyValue::put(&self.store, key, &newer, None).await?;
            }
            Ok(read)
        }
        async fn put(
            &self,
            key: &str,
            value: &serde_json::Value,
            retain: Option<Duration>,
        ) -> Result<(), PortError> {
            KeyValue::put(&self.store, key, value, retain).await
        }
        async fn put_if(
            &self,
            key: &str,
            expected: Option<&serde_json::Value>,
            value: &serde_json::Value,
            retain: Option<Duration>,
        ) -> Result<bool, PortError> {
            self.store.put_if(key, expected, value, retain).await
        }
    }

    fn raced(newer: i64) -> (tempfile::TempDir, RacedBy) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let raced = RacedBy {
            store,
            newer,
            raced: AtomicBool::new(false),
        };
        (dir, raced)
    }

    #[tokio::test]
    async fn an_older_run_committing_last_does_not_move_the_generation_back() {
        let id = ConnectionId::parse("c_map").unwrap();
        let (_dir, values) = raced(9);
        // This run read "none yet"; a newer run committed 9 before this one wrote.
        commit_generation(&values, &id, 5).await.unwrap();
        assert_eq!(committed_generation(&values.store, &id).await.unwrap(), 9);
    }

    #[tokio::test]
    async fn a_newer_run_racing_an_older_one_still_commits_its_generation() {
        let id = ConnectionId::parse("c_map").unwrap();
        let (_dir, values) = raced(3);
        commit_generation(&values, &id, 5).await.unwrap();
        assert_eq!(committed_generation(&values.store, &id).await.unwrap(), 5);
        // Never backwards, and an unreadable generation is healed.
        commit_generation(&values.store, &id, 4).await.unwrap();
        assert_eq!(committed_generation(&values.store, &id).await.unwrap(), 5);
        let key = keys::products_map(&id);
        KeyValue::put(&values.store, &key, &serde_json::json!("garbled"), None)
            .await
            .unwrap();
        commit_generation(&values.store, &id, 2).await.unwrap();
        assert_eq!(committed_generation(&values.store, &id).await.unwrap(), 2);
    }
}
