//! Partitioned, versioned records in `store.sqlite` (`records` table, keyed by partition and
//! key, so a page is one index range scan).

use super::{unavailable, Cached, EmbeddedStore};
use crate::ports::{PortError, PortResult, Record, RecordPage, Records, MAX_FETCH_MANY};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

fn body(value: &serde_json::Value) -> String {
    value.to_string()
}

fn parse(key: String, version: i64, body: String) -> PortResult<Record> {
    let value = serde_json::from_str(&body)
        .map_err(|e| PortError::Corrupt(format!("record {key}: {e}")))?;
    Ok(Record {
        key,
        version,
        value,
    })
}

#[async_trait]
impl Records for EmbeddedStore {
    async fn put(
        &self,
        partition: &str,
        key: &str,
        version: i64,
        value: &serde_json::Value,
    ) -> PortResult<()> {
        let (partition, key, body) = (partition.to_owned(), key.to_owned(), body(value));
        self.db
            .run(move |db| {
                db.execute_cached(
                    "INSERT INTO records (partition, key, version, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (partition, key) DO UPDATE SET version = ?3, body = ?4",
                    params![partition, key, version, body],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn put_if_newer(
        &self,
        partition: &str,
        key: &str,
        version: i64,
        value: &serde_json::Value,
    ) -> PortResult<bool> {
        let (partition, key, body) = (partition.to_owned(), key.to_owned(), body(value));
        self.db
            .run(move |db| {
                db.execute_cached(
                    "INSERT INTO records (partition, key, version, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (partition, key) DO UPDATE SET version = ?3, body = ?4
                     WHERE records.version < ?3",
                    params![partition, key, version, body],
                )
                .map(|n| n == 1)
                .map_err(unavailable)
            })
            .await
    }

    async fn put_many(
        &self,
        partition: &str,
        items: &[(String, i64, serde_json::Value)],
    ) -> PortResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let partition = partition.to_owned();
        let rows: Vec<(String, i64, String)> = items
            .iter()
            .map(|(key, version, value)| (key.clone(), *version, body(value)))
            .collect();
        self.db
            .run(move |db| {
                let tx = db.savepoint().map_err(unavailable)?;
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "INSERT INTO records (partition, key, version, body) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (partition, key) DO UPDATE SET version = ?3, body = ?4",
                        )
                        .map_err(unavailable)?;
                    for (key, version, body) in &rows {
                        stmt.execute(params![partition, key, version, body])
                            .map_err(unavailable)?;
                    }
                }
                tx.commit().map_err(unavailable)
            })
            .await
    }

    async fn fetch(&self, partition: &str, key: &str) -> PortResult<Option<Record>> {
        let (partition, key) = (partition.to_owned(), key.to_owned());
        self.db
            .run(move |db| {
                let row: Option<(i64, String)> = db
                    .query_row_cached(
                        "SELECT version, body FROM records WHERE partition = ?1 AND key = ?2",
                        params![partition, key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                row.map(|(version, body)| parse(key, version, body))
                    .transpose()
            })
            .await
    }

    async fn fetch_many(&self, partition: &str, keys: &[String]) -> PortResult<Vec<Record>> {
        if keys.len() > MAX_FETCH_MANY {
            return Err(PortError::Unavailable(format!(
                "fetch_many takes at most {MAX_FETCH_MANY} keys, got {}",
                keys.len()
            )));
        }
        let (partition, keys) = (partition.to_owned(), keys.to_vec());
        self.db
            .run(move |db| {
                let mut stmt = db
                    .prepare_cached(
                        "SELECT version, body FROM records WHERE partition = ?1 AND key = ?2",
                    )
                    .map_err(unavailable)?;
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let row: Option<(i64, String)> = stmt
                        .query_row(params![partition, key], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                        .map_err(unavailable)?;
                    if let Some((version, body)) = row {
                        out.push(parse(key, version, body)?);
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn remove(&self, partition: &str, key: &str) -> PortResult<()> {
        let (partition, key) = (partition.to_owned(), key.to_owned());
        self.db
            .run(move |db| {
                db.execute_cached(
                    "DELETE FROM records WHERE partition = ?1 AND key = ?2",
                    params![partition, key],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn remove_if_version(
        &self,
        partition: &str,
        key: &str,
        version: i64,
    ) -> PortResult<bool> {
        let (partition, key) = (partition.to_owned(), key.to_owned());
        self.db
            .run(move |db| {
                db.execute_cached(
                    "DELETE FROM records WHERE partition = ?1 AND key = ?2 AND version = ?3",
                    params![partition, key, version],
                )
                .map(|n| n == 1)
                .map_err(unavailable)
            })
            .await
    }

    async fn page(
        &self,
        partition: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<RecordPage> {
        let (partition, prefix) = (partition.to_owned(), prefix.to_owned());
        let after = after.map(str::to_owned);
        let limit = limit.clamp(1, 10_000);
        self.db
            .run(move |db| {
                // Keys sort by bytes (SQLite's BINARY collation), like DynamoDB's sort keys.
                let from = match &after {
                    Some(a) if a.as_str() >= prefix.as_str() => a.clone(),
                    _ => prefix.clone(),
                };
                let inclusive = after.as_deref() != Some(from.as_str());
                let mut stmt = db
                    .prepare_cached(
                        "SELECT key, version, body FROM records
                         WHERE partition = ?1 AND (key > ?2 OR (?3 AND key = ?2))
                         ORDER BY key LIMIT ?4",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![partition, from, inclusive, limit as i64 + 1], |r| {
                        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(unavailable)?;
                let mut records = Vec::new();
                let mut more = false;
                for row in rows {
                    let (key, version, body) = row.map_err(unavailable)?;
                    if !key.starts_with(&prefix) {
                        break;
                    }
                    if records.len() == limit {
                        more = true;
                        break;
                    }
                    records.push(parse(key, version, body)?);
                }
                let next = if more {
                    records.last().map(|r: &Record| r.key.clone())
                } else {
                    None
                };
                Ok(RecordPage { records, next })
            })
            .await
    }
}
