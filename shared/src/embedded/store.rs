//! Connections, tenants and idempotency records in `store.sqlite`.

use super::{now_ms, unavailable, Cached, Db, EmbeddedQueue};
use crate::domain::{Channel, Connection, ConnectionId, TenantId};
use crate::ports::{
    Claim, Connections, CreateOutcome, Fence, Idempotency, PortError, PortResult, RebindOutcome,
    Tenants, UpdateOutcome,
};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    channel TEXT NOT NULL,
    shop TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (channel, shop)
);
CREATE INDEX IF NOT EXISTS connections_by_tenant ON connections (tenant, id);
CREATE TABLE IF NOT EXISTS tenant_tokens (
    token_sha256 TEXT PRIMARY KEY,
    tenant TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    lease_until INTEGER,
    record TEXT,
    expires_at INTEGER,
    holder TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    tenant TEXT,
    body TEXT NOT NULL,
    dedup_id TEXT,
    group_id TEXT,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_dedup ON messages (queue, dedup_id) WHERE dedup_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_by_tenant ON messages (queue, tenant, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages (receipt) WHERE receipt IS NOT NULL;
-- Bodies apart from their rows: a receive (lease) or a tenant position updates a small row
-- instead of rewriting a body of up to hundreds of KB. Rows stored before keep theirs inline.
CREATE TABLE IF NOT EXISTS message_bodies (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS message_bodies_follow AFTER DELETE ON messages
BEGIN
    DELETE FROM message_bodies WHERE seq = OLD.seq;
END;
CREATE TABLE IF NOT EXISTS tenant_cursors (
    queue TEXT NOT NULL,
    tenant TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (queue, tenant)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    partition TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (partition, key)
) WITHOUT ROWID;
";

/// A store created before claims were fenced has no `holder` column: add it (its claims in
/// progress then have no holder and are finished or released by nobody; their leases expire).
fn add_holder_column(conn: &rusqlite::Connection) -> PortResult<()> {
    let has_holder = conn
        .prepare("SELECT 1 FROM pragma_table_info('idempotency') WHERE name = 'holder'")
        .and_then(|mut q| q.exists([]))
        .map_err(unavailable)?;
    if !has_holder {
        conn.execute_batch("ALTER TABLE idempotency ADD COLUMN holder TEXT")
            .map_err(unavailable)?;
    }
    Ok(())
}

/// A store created before outbox cursors were per tenant has no `tenant_seq` column: add it
/// and number the messages already there per (queue, tenant) in their order, so readers'
/// old global cursors map onto the same messages.
fn add_tenant_positions(conn: &rusqlite::Connection) -> PortResult<()> {
    let has_column = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'tenant_seq'")
        .and_then(|mut q| q.exists([]))
        .map_err(unavailable)?;
    if !has_column {
        let tx = conn.unchecked_transaction().map_err(unavailable)?;
        tx.execute_batch(
            "ALTER TABLE messages ADD COLUMN tenant_seq INTEGER;
             UPDATE messages SET tenant_seq = (
                 SELECT COUNT(*) FROM messages m WHERE m.queue = messages.queue
                 AND m.tenant = messages.tenant AND m.seq <= messages.seq)
             WHERE tenant IS NOT NULL;
             INSERT OR REPLACE INTO tenant_cursors (queue, tenant, last)
                 SELECT queue, tenant, MAX(tenant_seq) FROM messages
                 WHERE tenant IS NOT NULL GROUP BY queue, tenant;",
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS messages_by_tenant_seq ON messages (queue, tenant, tenant_seq)",
    )
    .map_err(unavailable)?;
    Ok(())
}

/// The embedded store. Cheap to clone; clones share one SQLite connection.
#[derive(Clone)]
pub struct EmbeddedStore {
    pub(crate) db: Db,
    /// One wake per queue name, shared by every handle on that queue: a send wakes a loop
    /// of its own queue, never another queue's (one `Notify` for all of them woke whichever
    /// loop waited, and the right one slept until its poll).
    pub(crate) wakes: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Notify>>>>,
}

impl EmbeddedStore {
    /// Opens (or creates) `store.sqlite` in `dir`.
    pub fn open(dir: &Path) -> PortResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| PortError::Unavailable(format!("create {}: {e}", dir.display())))?;
        let db = Db::open_migrated(&dir.join("store.sqlite"), SCHEMA, |conn| {
            add_holder_column(conn)?;
            add_tenant_positions(conn)
        })?;
        Ok(Self {
            db,
            wakes: Arc::default(),
        })
    }

    /// A queue in this store. Messages received `max_receives` times without an ack move to
    /// `dead_letter` (when given) instead of being delivered again.
    pub fn queue(&self, name: &str, dead_letter: Option<&str>, max_receives: u32) -> EmbeddedQueue {
        EmbeddedQueue::new(self.clone(), name, dead_letter, max_receives)
    }

    /// Tests: ends the lease of `key`'s claim in progress now, as if its holder had outlived
    /// it (the holder keeps its fence; anyone may claim the key).
    #[cfg(test)]
    pub(crate) async fn expire_claim(&self, key: &str) {
        let key = key.to_owned();
        self.db
            .run(move |db| {
                db.execute_cached(
                    "UPDATE idempotency SET lease_until = 0 WHERE key = ?1 AND state = 'in_progress'",
                    params![key],
                )
                .map_err(unavailable)
            })
            .await
            .expect("expire a claim");
    }

    /// For `serve` at start, while it holds the data directory's lock (so no other process
    /// uses the store): what a previous process had in flight when it died (kill -9, a power
    /// cut) is free now instead of when its leases run out. The messages it had received are
    /// visible again and its claims in progress may be claimed again; their holders' fences
    /// stay, so nothing that process began could still land. Messages never received (a
    /// delayed send) keep their time. Returns (messages, claims) freed.
    pub async fn end_leases_of_a_previous_process(&self) -> PortResult<(usize, usize)> {
        self.db
            .run(|db| {
                let now = now_ms();
                let messages = db
                    .execute_cached(
                        "UPDATE messages SET visible_at = ?1
                         WHERE receipt IS NOT NULL AND visible_at > ?1",
                        params![now],
                    )
                    .map_err(unavailable)?;
                let claims = db
                    .execute_cached(
                        "UPDATE idempotency SET lease_until = ?1
                         WHERE state = 'in_progress' AND lease_until > ?1",
                        params![now],
                    )
                    .map_err(unavailable)?;
                Ok((messages, claims))
            })
            .await
    }

    /// The wake of queue `name`: notified when a message is sent to it, so its in-process
    /// consumers need not poll hard.
    pub fn notified_on(&self, name: &str) -> Arc<Notify> {
        let mut wakes = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        wakes.entry(name.to_owned()).or_default().clone()
    }

    /// Deletes idempotency records whose retention ran out. Returns how many.
    pub async fn purge_expired(&self) -> PortResult<usize> {
        self.db
            .run(|c| {
                c.execute_cached(
                    "DELETE FROM idempotency WHERE expires_at IS NOT NULL AND expires_at < ?1",
                    params![now_ms()],
                )
                .map_err(unavailable)
            })
            .await
    }
}

fn to_json(c: &Connection) -> PortResult<String> {
    serde_json::to_string(c).map_err(|e| PortError::Corrupt(e.to_string()))
}

/// The shop column of a connection whose shop went to another connection: unique per
/// connection, and never a shop a channel names (`#` is in no store identity we build).
fn released_shop(id: &ConnectionId, shop: &str) -> String {
    format!("released#{id}#{shop}")
}

fn from_json(body: String) -> PortResult<Connection> {
    serde_json::from_str(&body).map_err(|e| PortError::Corrupt(format!("connection: {e}")))
}

#[async_trait]
impl Connections for EmbeddedStore {
    async fn create(&self, connection: &Connection) -> PortResult<CreateOutcome> {
        let body = to_json(connection)?;
        let c = connection.clone();
        self.db
            .run(move |db| {
                let tx = db.savepoint().map_err(unavailable)?;
                let existing: Option<String> = tx
                    .query_row_cached(
                        "SELECT body FROM connections WHERE channel = ?1 AND shop = ?2",
                        params![c.channel.as_str(), c.shop],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                if let Some(body) = existing {
                    return Ok(CreateOutcome::ShopTaken(Box::new(from_json(body)?)));
                }
                tx.execute_cached(
                    "INSERT INTO connections (id, tenant, channel, shop, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![c.id.as_str(), c.tenant.as_str(), c.channel.as_str(), c.shop, body],
                )
                .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(CreateOutcome::Created)
            })
            .await
    }

    async fn update(&self, connection: &Connection) -> PortResult<UpdateOutcome> {
        let expected = connection.version;
        let mut next = connection.clone();
        next.version = expected
            .checked_add(1)
            .ok_or_else(|| PortError::Corrupt(format!("connection {} version", connection.id)))?;
        let body = to_json(&next)?;
        let (id, tenant) = (connection.id.clone(), connection.tenant.clone());
        let expected = i64::try_from(expected)
            .map_err(|_| PortError::Corrupt(format!("connection {id} version")))?;
        self.db
            .run(move |db| {
                // Versions count from 0; a record written before versions were kept has none.
                let n = db
                    .execute_cached(
                        "UPDATE connections SET body = ?1 WHERE id = ?2 AND tenant = ?3 \
                         AND COALESCE(json_extract(body, '$.version'), 0) = ?4",
                        params![body, id.as_str(), tenant.as_str(), expected],
                    )
                    .map_err(unavailable)?;
                if n == 1 {
                    return Ok(UpdateOutcome::Updated(Box::new(next)));
                }
                let exists: Option<i64> = db
                    .query_row_cached(
                        "SELECT 1 FROM connections WHERE id = ?1 AND tenant = ?2",
                        params![id.as_str(), tenant.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                match exists {
                    Some(_) => Ok(UpdateOutcome::Stale),
                    None => Err(PortError::Corrupt(format!(
                        "connection {id} does not exist"
                    ))),
                }
            })
            .await
    }

    async fn rebind(&self, released: &Connection, new: &Connection) -> PortResult<RebindOutcome> {
        crate::ports::check_rebind(released, new)?;
        let body = to_json(new)?;
        let (old, n) = (released.clone(), new.clone());
        let expected = i64::try_from(old.version)
            .map_err(|_| PortError::Corrupt(format!("connection {} version", old.id)))?;
        self.db
            .run(move |db| {
                let tx = db.savepoint().map_err(unavailable)?;
                // The released row keeps its body (history) under a shop column no lookup
                // names, so `UNIQUE (channel, shop)` lets the new connection take the shop.
                let moved = tx
                    .execute_cached(
                        "UPDATE connections SET shop = ?1 WHERE id = ?2 AND tenant = ?3 \
                         AND channel = ?4 AND shop = ?5 \
                         AND COALESCE(json_extract(body, '$.version'), 0) = ?6",
                        params![
                            released_shop(&old.id, &old.shop),
                            old.id.as_str(),
                            old.tenant.as_str(),
                            old.channel.as_str(),
                            old.shop,
                            expected
                        ],
                    )
                    .map_err(unavailable)?;
                if moved != 1 {
                    return Ok(RebindOutcome::Stale);
                }
                tx.execute_cached(
                    "INSERT INTO connections (id, tenant, channel, shop, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![n.id.as_str(), n.tenant.as_str(), n.channel.as_str(), n.shop, body],
                )
                .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(RebindOutcome::Rebound)
            })
            .await
    }

    async fn get(&self, tenant: &TenantId, id: &ConnectionId) -> PortResult<Option<Connection>> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.db
            .run(move |db| {
                db.query_row_cached(
                    "SELECT body FROM connections WHERE id = ?1 AND tenant = ?2",
                    params![id.as_str(), tenant.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(unavailable)?
                .map(from_json)
                .transpose()
            })
            .await
    }

    async fn find_by_id(&self, id: &ConnectionId) -> PortResult<Option<Connection>> {
        let id = id.clone();
        self.db
            .run(move |db| {
                db.query_row_cached(
                    "SELECT body FROM connections WHERE id = ?1",
                    params![id.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(unavailable)?
                .map(from_json)
                .transpose()
            })
            .await
    }

    async fn find_by_shop(&self, channel: Channel, shop: &str) -> PortResult<Option<Connection>> {
        let shop = shop.to_owned();
        self.db
            .run(move |db| {
                db.query_row_cached(
                    "SELECT body FROM connections WHERE channel = ?1 AND shop = ?2",
                    params![channel.as_str(), shop],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(unavailable)?
                .map(from_json)
                .transpose()
            })
            .await
    }

    async fn list(&self, tenant: &TenantId) -> PortResult<Vec<Connection>> {
        let tenant = tenant.clone();
        self.db
            .run(move |db| {
                let mut stmt = db
                    .prepare_cached("SELECT body FROM connections WHERE tenant = ?1 ORDER BY id")
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![tenant.as_str()], |r| r.get::<_, String>(0))
                    .map_err(unavailable)?;
                rows.map(|r| r.map_err(unavailable).and_then(from_json))
                    .collect()
            })
            .await
    }

    async fn list_all(&self) -> PortResult<Vec<Connection>> {
        self.db
            .run(move |db| {
                let mut stmt = db
                    .prepare_cached("SELECT body FROM connections ORDER BY tenant, id")
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .map_err(unavailable)?;
                rows.map(|r| r.map_err(unavailable).and_then(from_json))
                    .collect()
            })
            .await
    }
}

#[async_trait]
impl Tenants for EmbeddedStore {
    async fn revoke_token(&self, token_sha256: &str) -> PortResult<()> {
        let hash = token_sha256.to_owned();
        self.db
            .run(move |db| {
                db.execute_cached(
                    "DELETE FROM tenant_tokens WHERE token_sha256 = ?1",
                    params![hash],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn put_token(&self, tenant: &TenantId, token_sha256: &str) -> PortResult<()> {
        let (tenant, hash) = (tenant.clone(), token_sha256.to_owned());
        self.db
            .run(move |db| {
                db.execute_cached(
                    "INSERT INTO tenant_tokens (token_sha256, tenant) VALUES (?1, ?2)
                     ON CONFLICT (token_sha256) DO UPDATE SET tenant = excluded.tenant",
                    params![hash, tenant.as_str()],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn tenant_for_token(&self, token_sha256: &str) -> PortResult<Option<TenantId>> {
        let hash = token_sha256.to_owned();
        self.db
            .run(move |db| {
                let raw: Option<String> = db
                    .query_row_cached(
                        "SELECT tenant FROM tenant_tokens WHERE token_sha256 = ?1",
                        params![hash],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                raw.map(|t| TenantId::parse(t).map_err(|e| PortError::Corrupt(e.to_string())))
                    .transpose()
            })
            .await
    }
}

#[async_trait]
impl Idempotency for EmbeddedStore {
    async fn claim(&self, key: &str, lease: Duration) -> PortResult<Claim> {
        let key = key.to_owned();
        let lease_ms = lease.as_millis() as i64;
        self.db
            .run(move |db| {
                let now = now_ms();
                let tx = db.savepoint().map_err(unavailable)?;
                let row: Option<(String, Option<i64>, Option<String>, Option<i64>)> = tx
                    .query_row_cached(
                        "SELECT state, lease_until, record, expires_at FROM idempotency WHERE key = ?1",
                        params![key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                let live = |expires: Option<i64>| expires.is_none_or(|e| e >= now);
                match row {
                    Some((state, _, record, expires)) if state == "done" && live(expires) => {
                        let value = match record {
                            Some(r) => serde_json::from_str(&r)
                                .map_err(|e| PortError::Corrupt(format!("idempotency record: {e}")))?,
                            None => serde_json::Value::Null,
                        };
                        return Ok(Claim::Done(value));
                    }
                    Some((state, Some(until), _, _)) if state == "in_progress" && until > now => {
                        return Ok(Claim::InProgress);
                    }
                    _ => {}
                }
                let fence = Fence::generate();
                tx.execute_cached(
                    "INSERT INTO idempotency (key, state, lease_until, record, expires_at, holder)
                     VALUES (?1, 'in_progress', ?2, NULL, NULL, ?3)
                     ON CONFLICT (key) DO UPDATE SET state = 'in_progress', lease_until = ?2,
                        record = NULL, expires_at = NULL, holder = ?3",
                    params![key, now + lease_ms, fence.as_str()],
                )
                .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                Ok(Claim::Acquired(fence))
            })
            .await
    }

    async fn finish(
        &self,
        key: &str,
        fence: &Fence,
        record: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<bool> {
        let key = key.to_owned();
        let record = record.to_string();
        let holder = fence.as_str().to_owned();
        let expires = retain.map(|r| now_ms() + r.as_millis() as i64);
        self.db
            .run(move |db| {
                db.execute_cached(
                    "UPDATE idempotency SET state = 'done', lease_until = NULL, record = ?2,
                        expires_at = ?3, holder = NULL
                     WHERE key = ?1 AND state = 'in_progress' AND holder = ?4",
                    params![key, record, expires, holder],
                )
                .map(|n| n == 1)
                .map_err(unavailable)
            })
            .await
    }

    async fn release(&self, key: &str, fence: &Fence) -> PortResult<()> {
        let key = key.to_owned();
        let holder = fence.as_str().to_owned();
        self.db
            .run(move |db| {
                db.execute_cached(
                    "DELETE FROM idempotency WHERE key = ?1 AND state = 'in_progress'
                     AND holder = ?2",
                    params![key, holder],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }
}

/// The same rows as [`Idempotency`]'s done records (see [`crate::ports::KeyValue`]).
#[async_trait]
impl crate::ports::KeyValue for EmbeddedStore {
    async fn get(&self, key: &str) -> PortResult<Option<serde_json::Value>> {
        let key = key.to_owned();
        self.db
            .run(move |db| {
                let row: Option<Option<String>> = db
                    .query_row_cached(
                        "SELECT record FROM idempotency WHERE key = ?1 AND state = 'done'
                         AND (expires_at IS NULL OR expires_at >= ?2)",
                        params![key, now_ms()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                row.map(|record| match record {
                    Some(r) => serde_json::from_str(&r)
                        .map_err(|e| PortError::Corrupt(format!("idempotency record: {e}"))),
                    None => Ok(serde_json::Value::Null),
                })
                .transpose()
            })
            .await
    }

    async fn put(
        &self,
        key: &str,
        value: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<()> {
        let key = key.to_owned();
        let record = value.to_string();
        let expires = retain.map(|r| now_ms() + r.as_millis() as i64);
        self.db
            .run(move |db| {
                db.execute_cached(
                    "INSERT INTO idempotency (key, state, lease_until, record, expires_at)
                     VALUES (?1, 'done', NULL, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET state = 'done', lease_until = NULL,
                        record = ?2, expires_at = ?3, holder = NULL",
                    params![key, record, expires],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn put_if(
        &self,
        key: &str,
        expected: Option<&serde_json::Value>,
        value: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<bool> {
        let key = key.to_owned();
        let expected = expected.cloned();
        let value = value.to_string();
        let expires = retain.map(|r| now_ms() + r.as_millis() as i64);
        // One closure on the writer thread: nothing else writes between the read and the write.
        self.db
            .run(move |db| {
                let row: Option<(String, Option<String>, Option<i64>)> = db
                    .query_row_cached(
                        "SELECT state, record, expires_at FROM idempotency WHERE key = ?1",
                        params![key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                let now = now_ms();
                let current = match row {
                    Some((state, record, expires_at))
                        if state == "done" && expires_at.is_none_or(|e| e >= now) =>
                    {
                        Some(match record {
                            Some(r) => serde_json::from_str(&r).map_err(|e| {
                                PortError::Corrupt(format!("key-value record: {e}"))
                            })?,
                            None => serde_json::Value::Null,
                        })
                    }
                    _ => None,
                };
                if current != expected {
                    return Ok(false);
                }
                db.execute_cached(
                    "INSERT INTO idempotency (key, state, lease_until, record, expires_at)
                     VALUES (?1, 'done', NULL, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET state = 'done', lease_until = NULL,
                        record = ?2, expires_at = ?3, holder = NULL",
                    params![key, value, expires],
                )
                .map(|_| true)
                .map_err(unavailable)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17: after a kill -9, the restarted `serve` takes up at once what the dead process
    /// had in flight (before: only when its 30 s message leases and 60 s order locks ran out),
    /// and nothing the dead process began can still land.
    #[tokio::test]
    async fn a_restart_frees_what_the_previous_process_had_in_flight() {
        use crate::ports::{OutMessage, Queue};
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let q = store.queue("q", None, 5);
        q.send(OutMessage {
            body: "\"in flight\"".into(),
            ..OutMessage::default()
        })
        .await
        .unwrap();
        let lock = || store.claim("order-lock", Duration::from_secs(60));
        let taken = q.receive(1, Duration::from_secs(30)).await.unwrap();
        assert_eq!(taken.len(), 1);
        let Claim::Acquired(old_fence) = lock().await.unwrap() else {
            panic!("a free key is claimed");
        };
        // Leased: nobody else gets either until the leases run out.
        assert!(q
            .receive(1, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(lock().await.unwrap(), Claim::InProgress);

        assert_eq!(
            store.end_leases_of_a_previous_process().await.unwrap(),
            (1, 1)
        );
        let again = q.receive(1, Duration::from_secs(30)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);
        assert!(matches!(lock().await.unwrap(), Claim::Acquired(_)));
        // The dead holder's fence no longer finishes anything; its receipt acks nothing.
        store.release("order-lock", &old_fence).await.unwrap();
        assert_eq!(lock().await.unwrap(), Claim::InProgress);
        q.ack(&taken[0].receipt).await.unwrap();
        assert_eq!(q.depth().await.unwrap(), 1);
        // Nothing left in flight: a second call frees nothing it should not.
        q.ack(&again[0].receipt).await.unwrap();
        assert_eq!(
            store.end_leases_of_a_previous_process().await.unwrap(),
            (0, 1)
        );
    }

    /// A store written before claims were fenced (no `holder` column) opens, gains the column,
    /// and its claims are fenced from then on.
    #[tokio::test]
    async fn a_store_from_before_fenced_claims_opens_and_fences() {
        let dir = tempfile::tempdir().unwrap();
        {
            let old = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
            old.execute_batch(
                "CREATE TABLE idempotency (key TEXT PRIMARY KEY,
                    state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
                    lease_until INTEGER, record TEXT, expires_at INTEGER);
                 INSERT INTO idempotency (key, state, lease_until) VALUES ('old', 'in_progress', 0);",
            )
            .unwrap();
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        // Reopening finds the column and leaves it.
        let store = {
            drop(store);
            EmbeddedStore::open(dir.path()).unwrap()
        };
        // The old, expired claim is taken; a stale fence cannot release the new holder's.
        let Claim::Acquired(fence) = store.claim("old", Duration::from_secs(30)).await.unwrap()
        else {
            panic!("the expired claim is free");
        };
        store.release("old", &Fence::generate()).await.unwrap();
        assert_eq!(
            store.claim("old", Duration::from_secs(30)).await.unwrap(),
            Claim::InProgress
        );
        store.release("old", &fence).await.unwrap();
        assert!(matches!(
            store.claim("old", Duration::from_secs(30)).await.unwrap(),
            Claim::Acquired(_)
        ));
    }
}
