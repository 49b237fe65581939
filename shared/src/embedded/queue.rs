//! Queues as rows of `messages`: send, leased receive with a visibility timeout, ack,
//! redrive to a dead-letter queue after too many receives, and cursor reads of an outbox.

use super::{now_ms, unavailable, EmbeddedStore};
use crate::domain::TenantId;
use crate::ports::{OutMessage, PortResult, Queue, Received};
use async_trait::async_trait;
use rusqlite::params;
use serde::Serialize;
use std::time::Duration;

/// One queue of the embedded store.
#[derive(Clone)]
pub struct EmbeddedQueue {
    store: EmbeddedStore,
    name: String,
    dead_letter: Option<String>,
    max_receives: u32,
}

/// A message read from an outbox by cursor.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    /// The cursor value of this message; pass the last one as `after`.
    pub seq: i64,
    pub body: serde_json::Value,
}

impl EmbeddedQueue {
    pub(super) fn new(
        store: EmbeddedStore,
        name: &str,
        dead_letter: Option<&str>,
        max_receives: u32,
    ) -> Self {
        Self {
            store,
            name: name.to_owned(),
            dead_letter: dead_letter.map(str::to_owned),
            max_receives: max_receives.max(1),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages of `tenant` after cursor `after`, oldest first. The outbox is a log: reading
    /// does not remove anything, so a reader that crashes re-reads from its last cursor.
    pub async fn read_after(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: u32,
    ) -> PortResult<Vec<OutboxEntry>> {
        let (queue, tenant) = (self.name.clone(), tenant.clone());
        self.store
            .db
            .run(move |db| {
                let mut stmt = db
                    .prepare(
                        "SELECT seq, body FROM messages WHERE queue = ?1 AND tenant = ?2 AND seq > ?3
                         ORDER BY seq LIMIT ?4",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![queue, tenant.as_str(), after, limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(unavailable)?;
                rows.map(|r| {
                    let (seq, body) = r.map_err(unavailable)?;
                    // Bodies were written by us as JSON; anything else is shown as a string.
                    let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
                    Ok(OutboxEntry { seq, body })
                })
                .collect()
            })
            .await
    }

    /// How many messages the queue holds (visible or not).
    pub async fn depth(&self) -> PortResult<u64> {
        let queue = self.name.clone();
        self.store
            .db
            .run(move |db| {
                db.query_row(
                    "SELECT COUNT(*) FROM messages WHERE queue = ?1",
                    params![queue],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n as u64)
                .map_err(unavailable)
            })
            .await
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, m: OutMessage) -> PortResult<()> {
        let queue = self.name.clone();
        self.store
            .db
            .run(move |db| {
                let now = now_ms();
                // A repeated dedup id is dropped, like an SQS FIFO queue (but without a window).
                db.execute(
                    "INSERT OR IGNORE INTO messages (queue, tenant, body, dedup_id, group_id, visible_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![
                        queue,
                        m.tenant.as_ref().map(|t| t.as_str().to_owned()),
                        m.body,
                        m.dedup_id,
                        m.group_id,
                        now
                    ],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await?;
        // A stored permit: the consumer wakes even if it was busy at this instant.
        self.store.notify.notify_one();
        Ok(())
    }

    async fn send_many(&self, messages: Vec<OutMessage>) -> PortResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let queue = self.name.clone();
        self.store
            .db
            .run(move |db| {
                let now = now_ms();
                let tx = db.savepoint().map_err(unavailable)?;
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO messages (queue, tenant, body, dedup_id, group_id, visible_at, created_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        )
                        .map_err(unavailable)?;
                    for m in messages {
                        stmt.execute(params![
                            queue,
                            m.tenant.as_ref().map(|t| t.as_str().to_owned()),
                            m.body,
                            m.dedup_id,
                            m.group_id,
                            now
                        ])
                        .map_err(unavailable)?;
                    }
                }
                tx.commit().map_err(unavailable)
            })
            .await?;
        self.store.notify.notify_one();
        Ok(())
    }

    async fn ack_many(&self, receipts: &[String]) -> PortResult<()> {
        if receipts.is_empty() {
            return Ok(());
        }
        let receipts = receipts.to_vec();
        self.store
            .db
            .run(move |db| {
                let mut stmt = db
                    .prepare_cached("DELETE FROM messages WHERE receipt = ?1")
                    .map_err(unavailable)?;
                for receipt in receipts {
                    stmt.execute(params![receipt]).map_err(unavailable)?;
                }
                Ok(())
            })
            .await
    }

    async fn receive(&self, max: u32, visibility: Duration) -> PortResult<Vec<Received>> {
        let (queue, dlq, max_receives) = (
            self.name.clone(),
            self.dead_letter.clone(),
            self.max_receives,
        );
        let visibility_ms = visibility.as_millis() as i64;
        self.store
            .db
            .run(move |db| {
                let now = now_ms();
                let tx = db.savepoint().map_err(unavailable)?;
                let candidates: Vec<(i64, String, u32)> = {
                    let mut stmt = tx
                        .prepare(
                            "SELECT seq, body, receive_count FROM messages
                             WHERE queue = ?1 AND visible_at <= ?2 ORDER BY seq LIMIT ?3",
                        )
                        .map_err(unavailable)?;
                    let rows = stmt
                        .query_map(params![queue, now, max], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(unavailable)?;
                    rows.collect::<Result<_, _>>().map_err(unavailable)?
                };
                let mut out = Vec::with_capacity(candidates.len());
                for (seq, body, count) in candidates {
                    if count >= max_receives {
                        if let Some(dlq) = &dlq {
                            // Without its dedup id: the dead-letter queue keeps every failed
                            // copy, and an earlier one with the same id must not make this
                            // move (so every receive of the queue) fail on UNIQUE(queue, dedup_id).
                            tx.execute(
                                "UPDATE messages SET queue = ?1, visible_at = ?2, receive_count = 0, receipt = NULL,
                                    dedup_id = NULL
                                 WHERE seq = ?3",
                                params![dlq, now, seq],
                            )
                            .map_err(unavailable)?;
                            tracing::warn!(queue = %queue, seq, receives = count, "message moved to the dead-letter queue");
                            continue;
                        }
                    }
                    let receipt = uuid::Uuid::new_v4().to_string();
                    tx.execute(
                        "UPDATE messages SET visible_at = ?1, receive_count = receive_count + 1, receipt = ?2
                         WHERE seq = ?3",
                        params![now + visibility_ms, receipt, seq],
                    )
                    .map_err(unavailable)?;
                    out.push(Received {
                        id: seq.to_string(),
                        receipt,
                        body,
                        receive_count: count + 1,
                    });
                }
                tx.commit().map_err(unavailable)?;
                Ok(out)
            })
            .await
    }

    async fn ack(&self, receipt: &str) -> PortResult<()> {
        let receipt = receipt.to_owned();
        self.store
            .db
            .run(move |db| {
                db.execute("DELETE FROM messages WHERE receipt = ?1", params![receipt])
                    .map(|_| ())
                    .map_err(unavailable)
            })
            .await
    }
}
