//! Queues as rows of `messages`: send, leased receive with a visibility timeout, ack,
//! redrive to a dead-letter queue after too many receives, and cursor reads of an outbox.

use super::timing::Kind;
use super::{now_ms, unavailable, Cached, EmbeddedStore};
use crate::domain::TenantId;
use crate::ports::{OutMessage, PortResult, Queue, Received};
use async_trait::async_trait;
use rusqlite::params;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// One queue of the embedded store.
#[derive(Clone)]
pub struct EmbeddedQueue {
    store: EmbeddedStore,
    name: String,
    dead_letter: Option<String>,
    max_receives: u32,
    /// This queue's wake (shared with every handle on the same queue).
    wake: Arc<tokio::sync::Notify>,
}

/// A message read from an outbox by cursor.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    /// The cursor value of this message; pass the last one as `after`.
    pub seq: i64,
    pub body: serde_json::Value,
}

impl OutboxEntry {
    /// A stored row: bodies were written by us as JSON; anything else is shown as a string.
    fn parse((seq, body): (i64, String)) -> Self {
        let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
        OutboxEntry { seq, body }
    }
}

/// A message read from an outbox by cursor, its body as stored: a reader that passes it on
/// (`GET /wms/outbox`) copies it instead of building and re-serialising a JSON tree.
#[derive(Debug, Clone, Serialize)]
pub struct RawOutboxEntry {
    /// The cursor value of this message; pass the last one as `after`.
    pub seq: i64,
    pub body: Box<serde_json::value::RawValue>,
}

impl RawOutboxEntry {
    /// A stored row: its JSON checked (not parsed into a tree); anything else, which we never
    /// write, is passed on as a JSON string, as [`OutboxEntry`] shows it.
    fn check((seq, body): (i64, String)) -> Self {
        use serde_json::value::{to_raw_value, RawValue};
        // One pass: checked and copied, or (never written by us) the text as a JSON string.
        let body = serde_json::from_str::<Box<RawValue>>(&body)
            .or_else(|_| to_raw_value(&body))
            .unwrap_or_else(|_| RawValue::NULL.to_owned());
        RawOutboxEntry { seq, body }
    }
}

/// Where a reader of a tenant's outbox is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxCursor {
    /// After the tenant's `n`th message (written `t{n}`; `t0` or `0` is the start).
    Tenant(i64),
    /// A cursor handed out before positions were per tenant: the global sequence number of
    /// the last message read (written as a bare number).
    Global(i64),
}

impl OutboxCursor {
    /// `None` for anything that is not a cursor we hand out.
    pub fn parse(raw: &str) -> Option<Self> {
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<i64>().ok())
                .flatten()
        };
        match raw.strip_prefix('t') {
            Some(n) => number(n).map(OutboxCursor::Tenant),
            None => number(raw).map(OutboxCursor::Global),
        }
    }
}

impl std::fmt::Display for OutboxCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboxCursor::Tenant(n) => write!(f, "t{n}"),
            OutboxCursor::Global(n) => write!(f, "{n}"),
        }
    }
}

impl EmbeddedQueue {
    pub(super) fn new(
        store: EmbeddedStore,
        name: &str,
        dead_letter: Option<&str>,
        max_receives: u32,
    ) -> Self {
        Self {
            wake: store.notified_on(name),
            store,
            name: name.to_owned(),
            dead_letter: dead_letter.map(str::to_owned),
            max_receives: max_receives.max(1),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Notified when a message is sent to this queue (by any handle on it): what its
    /// in-process consumer loop waits on between empty receives.
    pub fn notified(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
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
            .run_as(Kind::Queue, move |db| {
                let mut stmt = db
                    .prepare_cached(
                        "SELECT m.seq, COALESCE(b.body, m.body) FROM messages m
                         LEFT JOIN message_bodies b ON b.seq = m.seq
                         WHERE m.queue = ?1 AND m.tenant = ?2 AND m.seq > ?3
                         ORDER BY m.seq LIMIT ?4",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![queue, tenant.as_str(), after, limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(unavailable)?;
                rows.map(|r| r.map_err(unavailable))
                    .collect::<PortResult<Vec<_>>>()
            })
            .await
            .map(|rows| rows.into_iter().map(OutboxEntry::parse).collect())
    }

    /// A page of `tenant`'s messages after `after`, oldest first, and the cursor to continue
    /// from. Positions count the tenant's own messages only, so a cursor tells a tenant
    /// nothing about anyone else's traffic. A cursor handed out before positions were per
    /// tenant (a global sequence number) is still read: it continues after the same message.
    pub async fn read_tenant_after(
        &self,
        tenant: &TenantId,
        after: OutboxCursor,
        limit: u32,
    ) -> PortResult<(Vec<RawOutboxEntry>, OutboxCursor)> {
        let (queue, tenant) = (self.name.clone(), tenant.clone());
        self.store
            .db
            .run_as(Kind::Queue, move |db| {
                // An old cursor: the tenant's position of its last message at or before it.
                let position = match after {
                    OutboxCursor::Tenant(n) => n,
                    OutboxCursor::Global(seq) => db
                        .query_row_cached(
                            "SELECT COALESCE(MAX(tenant_seq), 0) FROM messages
                             WHERE queue = ?1 AND tenant = ?2 AND seq <= ?3",
                            params![queue, tenant.as_str(), seq],
                            |r| r.get::<_, i64>(0),
                        )
                        .map_err(unavailable)?,
                };
                let mut stmt = db
                    .prepare_cached(
                        "SELECT m.tenant_seq, COALESCE(b.body, m.body) FROM messages m
                         LEFT JOIN message_bodies b ON b.seq = m.seq
                         WHERE m.queue = ?1 AND m.tenant = ?2 AND m.tenant_seq > ?3
                         ORDER BY m.tenant_seq LIMIT ?4",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![queue, tenant.as_str(), position, limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(unavailable)?;
                let rows = rows
                    .map(|r| r.map_err(unavailable))
                    .collect::<PortResult<Vec<_>>>()?;
                let next = rows.last().map_or(position, |(seq, _)| *seq);
                Ok((rows, OutboxCursor::Tenant(next)))
            })
            .await
            // Checked on the caller's thread: the store's writer thread only reads rows.
            .map(|(rows, next)| (rows.into_iter().map(RawOutboxEntry::check).collect(), next))
    }

    /// How many messages the queue holds (visible or not).
    pub async fn depth(&self) -> PortResult<u64> {
        let queue = self.name.clone();
        self.store
            .db
            .run_as(Kind::Queue, move |db| {
                db.query_row_cached(
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

/// The next visible messages of a queue, in the order of the `messages_ready` index (queue,
/// visible_at, seq): the longest visible first, and only `max` rows are read. `ORDER BY seq`
/// made SQLite sort every visible message of the queue, bodies included, at every receive,
/// so the larger the backlog, the slower each receive (issue 17).
const RECEIVE_SQL: &str = "SELECT m.seq, COALESCE(b.body, m.body), m.receive_count
     FROM messages m LEFT JOIN message_bodies b ON b.seq = m.seq
     WHERE m.queue = ?1 AND m.visible_at <= ?2 ORDER BY m.visible_at, m.seq LIMIT ?3";

/// Stores one message unless its dedup id is already there (dropped, like an SQS FIFO queue,
/// but without a window). The body goes to `message_bodies`, so the row's later updates (its
/// tenant position, each receive's lease) rewrite a small row, not the whole body; rows
/// stored before that keep their body inline (`messages.body`), and every read takes either.
/// A stored message of a tenant takes the tenant's next position (the outbox cursor): a
/// counter of its own, never a count of every tenant's messages, and a dropped duplicate
/// takes none.
fn insert_message(
    tx: &rusqlite::Connection,
    queue: &str,
    m: &OutMessage,
    now: i64,
) -> PortResult<()> {
    let tenant = m.tenant.as_ref().map(|t| t.as_str().to_owned());
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (queue, tenant, body, dedup_id, group_id, visible_at, created_at)
             VALUES (?1, ?2, '', ?3, ?4, ?5, ?5)",
        )
        .and_then(|mut stmt| stmt.execute(params![queue, tenant, m.dedup_id, m.group_id, now]))
        .map_err(unavailable)?;
    if inserted == 0 {
        return Ok(());
    }
    let row = tx.last_insert_rowid();
    tx.execute_cached(
        "INSERT INTO message_bodies (seq, body) VALUES (?1, ?2)",
        params![row, m.body],
    )
    .map_err(unavailable)?;
    if let Some(tenant) = &tenant {
        let position: i64 = tx
            .query_row_cached(
                "INSERT INTO tenant_cursors (queue, tenant, last) VALUES (?1, ?2, 1)
                 ON CONFLICT (queue, tenant) DO UPDATE SET last = last + 1
                 RETURNING last",
                params![queue, tenant],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        tx.execute_cached(
            "UPDATE messages SET tenant_seq = ?1 WHERE rowid = ?2",
            params![position, row],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, m: OutMessage) -> PortResult<()> {
        let queue = self.name.clone();
        self.store
            .db
            .run_as(Kind::Queue, move |db| {
                let now = now_ms();
                let tx = db.savepoint().map_err(unavailable)?;
                insert_message(&tx, &queue, &m, now)?;
                tx.commit().map_err(unavailable)?;
                Ok(())
            })
            .await?;
        // A stored permit: the queue's consumer wakes even if it was busy at this instant.
        self.wake.notify_one();
        Ok(())
    }

    async fn send_many(&self, messages: Vec<OutMessage>) -> PortResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let queue = self.name.clone();
        self.store
            .db
            .run_as(Kind::Queue, move |db| {
                let now = now_ms();
                let tx = db.savepoint().map_err(unavailable)?;
                for m in &messages {
                    insert_message(&tx, &queue, m, now)?;
                }
                tx.commit().map_err(unavailable)
            })
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn ack_many(&self, receipts: &[String]) -> PortResult<()> {
        if receipts.is_empty() {
            return Ok(());
        }
        let receipts = receipts.to_vec();
        self.store
            .db
            .run_as(Kind::Queue, move |db| {
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
            .run_as(Kind::Queue, move |db| {
                let now = now_ms();
                let tx = db.savepoint().map_err(unavailable)?;
                let candidates: Vec<(i64, String, u32)> = {
                    let mut stmt = tx
                        .prepare_cached(RECEIVE_SQL)
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
                            tx.execute_cached(
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
                    tx.execute_cached(
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
            .run_as(Kind::Queue, move |db| {
                db.execute_cached("DELETE FROM messages WHERE receipt = ?1", params![receipt])
                    .map(|_| ())
                    .map_err(unavailable)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    async fn send(q: &EmbeddedQueue, who: &str, body: &str, dedup: Option<&str>) {
        q.send(OutMessage {
            body: format!("\"{body}\""),
            dedup_id: dedup.map(str::to_owned),
            tenant: Some(tenant(who)),
            ..OutMessage::default()
        })
        .await
        .unwrap();
    }

    async fn page(q: &EmbeddedQueue, who: &str, after: &str) -> (Vec<String>, String) {
        let after = OutboxCursor::parse(after).unwrap();
        let (entries, next) = q.read_tenant_after(&tenant(who), after, 100).await.unwrap();
        let bodies = entries
            .into_iter()
            .map(|e| serde_json::from_str::<String>(e.body.get()).unwrap())
            .collect();
        (bodies, next.to_string())
    }

    /// A send wakes a loop waiting on its own queue, never one waiting on another queue.
    /// With one wake for every queue, a WMS stock message could wake the order consumer while
    /// the stock consumer slept until its next poll (half a second), and the other way round.
    #[tokio::test]
    async fn a_send_wakes_its_own_queues_consumer() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (a, b) = (store.queue("a", None, 5), store.queue("b", None, 5));
        // Each way round, so that whichever waiter a shared wake picks, one case fails.
        for (first, second) in [(&a, &b), (&b, &a)] {
            let waiting = |q: &EmbeddedQueue| {
                let wake = q.notified();
                tokio::spawn(async move { wake.notified().await })
            };
            let other = waiting(first);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let own = waiting(second);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            // Another handle on the same queue name shares its wake.
            let sender = store.queue(second.name(), None, 5);
            send(&sender, "t", "hello", None).await;
            tokio::time::timeout(std::time::Duration::from_secs(5), own)
                .await
                .expect("the queue's own consumer wakes")
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            assert!(!other.is_finished(), "another queue's consumer was woken");
            other.abort();
            // Drained, so the next round starts from empty queues with no stored wake.
            let got = sender
                .receive(10, std::time::Duration::from_secs(30))
                .await
                .unwrap();
            sender.ack(&got[0].receipt).await.unwrap();
        }
    }

    /// Issue 17: a receive reads its `max` rows off the index, never sorting the backlog.
    #[tokio::test]
    async fn a_receive_walks_its_index_without_sorting_the_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let plan = store
            .db
            .run(|db| {
                let mut stmt = db
                    .prepare(&format!("EXPLAIN QUERY PLAN {RECEIVE_SQL}"))
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params!["q", 0, 10], |r| r.get::<_, String>(3))
                    .map_err(unavailable)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
            })
            .await
            .unwrap()
            .join("\n");
        assert!(plan.contains("USING INDEX messages_ready"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        // Still the oldest first: three messages come back in the order they were sent.
        let q = store.queue("q", None, 5);
        for body in ["one", "two", "three"] {
            send(&q, "a", body, None).await;
        }
        let got: Vec<String> = q
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(got, ["\"one\"", "\"two\"", "\"three\""]);
    }

    /// Issue 17: the body is written once. A receive (the lease) and the tenant position
    /// update a small row; before, a receive rewrote the whole row, so a 100 KB order went to
    /// the WAL again at every receive. Measured by the WAL's growth (no checkpoint runs in
    /// between).
    #[tokio::test]
    async fn a_receive_does_not_write_the_body_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let q = store.queue("q", None, 5);
        let wal = || {
            std::fs::metadata(dir.path().join("store.sqlite-wal"))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let body = format!("\"{}\"", "x".repeat(100_000));
        let before = wal();
        q.send(OutMessage {
            body: body.clone(),
            tenant: Some(tenant("a")),
            ..OutMessage::default()
        })
        .await
        .unwrap();
        let sent = wal() - before;
        assert!(sent >= 100_000, "the body is in the WAL once: {sent} bytes");
        assert!(sent < 150_000, "and only once: {sent} bytes");
        let got = q
            .receive(1, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(got[0].body, body);
        let received = wal() - before - sent;
        assert!(received < 20_000, "a receive wrote {received} bytes");
        // The outbox read and an ack see and remove the same message.
        let (entries, _) = q
            .read_tenant_after(&tenant("a"), OutboxCursor::Tenant(0), 10)
            .await
            .unwrap();
        assert_eq!(entries[0].body.get(), body);
        q.ack(&got[0].receipt).await.unwrap();
        let left = store
            .db
            .run(|db| {
                db.query_row("SELECT COUNT(*) FROM message_bodies", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(unavailable)
            })
            .await
            .unwrap();
        assert_eq!(left, 0, "the ack removed the body with its row");
    }

    /// A store written before bodies moved apart: its rows keep their body inline, and are
    /// received, read from the outbox and acked as before.
    #[tokio::test]
    async fn a_message_stored_with_its_body_inline_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .db
            .run(|db| {
                db.execute(
                    "INSERT INTO messages (queue, tenant, body, visible_at, created_at, tenant_seq)
                     VALUES ('q', 'a', '\"old\"', 0, 0, 1)",
                    [],
                )
                .map_err(unavailable)?;
                db.execute(
                    "INSERT INTO tenant_cursors (queue, tenant, last) VALUES ('q', 'a', 1)",
                    [],
                )
                .map_err(unavailable)
            })
            .await
            .unwrap();
        let q = store.queue("q", None, 5);
        send(&q, "a", "new", None).await;
        assert_eq!(page(&q, "a", "t0").await.0, ["old", "new"]);
        // A body that is not JSON (never written by us) is passed on as a JSON string.
        store
            .db
            .run(|db| {
                db.execute(
                    "UPDATE messages SET body = 'old {' WHERE tenant_seq = 1",
                    [],
                )
                .map_err(unavailable)
            })
            .await
            .unwrap();
        assert_eq!(page(&q, "a", "t0").await.0, ["old {", "new"]);
        let got = q
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["old {", "\"new\""]);
        q.ack_many(&got.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(q.depth().await.unwrap(), 0);
    }

    /// Issue 15, item 15 (second half): the cursor counted every tenant's messages, so a
    /// tenant could watch everyone else's traffic. Now a tenant's cursor moves by its own
    /// messages only, however busy the others are; a repeated (dropped) message moves nothing.
    #[tokio::test]
    async fn outbox_cursors_count_the_tenants_own_messages_only() {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedStore::open(dir.path())
            .unwrap()
            .queue("wms-orders", None, 5);
        send(&q, "a", "a1", Some("a1")).await;
        for i in 0..50 {
            send(&q, "b", &format!("b{i}"), None).await;
        }
        send(&q, "a", "a1", Some("a1")).await; // a duplicate: dropped
        send(&q, "a", "a2", None).await;
        assert_eq!(
            page(&q, "a", "0").await,
            (vec!["a1".into(), "a2".into()], "t2".into())
        );
        assert_eq!(page(&q, "a", "t1").await, (vec!["a2".into()], "t2".into()));
        assert_eq!(page(&q, "a", "t2").await, (vec![], "t2".into()));
        let (b, next) = page(&q, "b", "t0").await;
        assert_eq!((b.len(), next.as_str()), (50, "t50"));
        // The rest of the queue (consumers, the dead-letter move) keeps its global order.
        assert_eq!(q.depth().await.unwrap(), 52);
    }

    /// A reader holding a cursor from before (a bare global sequence number) continues after
    /// the same message, and is handed a per-tenant cursor from then on.
    #[tokio::test]
    async fn an_old_global_cursor_still_continues_after_the_same_message() {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedStore::open(dir.path())
            .unwrap()
            .queue("wms-orders", None, 5);
        for (who, body) in [
            ("a", "a1"),
            ("b", "b1"),
            ("a", "a2"),
            ("b", "b2"),
            ("a", "a3"),
        ] {
            send(&q, who, body, None).await;
        }
        let global: Vec<i64> = q
            .read_after(&tenant("a"), 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        let after_a2 = global[1].to_string();
        assert_eq!(
            page(&q, "a", &after_a2).await,
            (vec!["a3".into()], "t3".into())
        );
        // A global cursor pointing at another tenant's message: after a2 still.
        let after_b2 = (global[1] + 1).to_string();
        assert_eq!(
            page(&q, "a", &after_b2).await,
            (vec!["a3".into()], "t3".into())
        );
        assert_eq!(page(&q, "a", "0").await.0.len(), 3);
        assert_eq!(OutboxCursor::parse("x1"), None);
        assert_eq!(OutboxCursor::parse("t"), None);
        assert_eq!(OutboxCursor::parse("-1"), None);
        assert_eq!(OutboxCursor::parse(&"9".repeat(30)), None);
    }

    /// A store written before positions existed: opening it numbers the messages already there
    /// per tenant, old cursors still read, and new messages continue the numbering.
    #[tokio::test]
    async fn a_store_from_before_per_tenant_positions_is_numbered_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = EmbeddedStore::open(dir.path())
                .unwrap()
                .queue("wms-orders", None, 5);
            for (who, body) in [("a", "a1"), ("b", "b1"), ("a", "a2")] {
                send(&q, who, body, None).await;
            }
        }
        // Back to the old layout: no position column, no counters.
        let raw = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
        raw.execute_batch(
            "DROP INDEX messages_by_tenant_seq; ALTER TABLE messages DROP COLUMN tenant_seq;
             DELETE FROM tenant_cursors;",
        )
        .unwrap();
        drop(raw);
        let q = EmbeddedStore::open(dir.path())
            .unwrap()
            .queue("wms-orders", None, 5);
        assert_eq!(
            page(&q, "a", "0").await,
            (vec!["a1".into(), "a2".into()], "t2".into())
        );
        assert_eq!(page(&q, "a", "1").await, (vec!["a2".into()], "t2".into()));
        send(&q, "a", "a3", None).await;
        assert_eq!(page(&q, "a", "t2").await, (vec!["a3".into()], "t3".into()));
        assert_eq!(page(&q, "b", "t0").await, (vec!["b1".into()], "t1".into()));
    }
}
