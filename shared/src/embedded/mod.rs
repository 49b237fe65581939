//! The embedded adapter set: SQLite files on disk, for `channel-sync serve`.
//!
//! - `store.sqlite`: connections, tenant token hashes, idempotency records and the queues
//!   (one `messages` table; consumers lease rows with a visibility timeout, rows that keep
//!   failing move to the queue's DLQ, and `wms-orders` is kept as a readable outbox).
//! - `vault.sqlite`: credentials, in a separate file created with mode 0600, so that the
//!   store can be copied or inspected without exposing secrets.
//!
//! WAL mode; every "exactly once" decision is one SQLite transaction.

mod queue;
mod records;
mod store;
mod vault;

pub use queue::{EmbeddedQueue, OutboxCursor, OutboxEntry};
pub use store::EmbeddedStore;
pub use vault::EmbeddedVault;

use crate::ports::{PortError, PortResult, Ports};
use std::sync::{Arc, Mutex};

/// Every port on the data directory `dir` (`store.sqlite`, `vault.sqlite`), and the store
/// itself for its named queues.
pub fn ports(dir: &std::path::Path) -> PortResult<(Ports, EmbeddedStore)> {
    let store = EmbeddedStore::open(dir)?;
    let vault = Arc::new(EmbeddedVault::open(dir)?);
    Ok((ports_of(&store, vault), store))
}

/// Every port on an open store and vault.
pub fn ports_of(store: &EmbeddedStore, vault: Arc<EmbeddedVault>) -> Ports {
    Ports {
        connections: Arc::new(store.clone()),
        tenants: Arc::new(store.clone()),
        idempotency: Arc::new(store.clone()),
        records: Arc::new(store.clone()),
        vault,
    }
}

/// Shared handle to one SQLite connection; calls run on the blocking pool.
#[derive(Clone)]
pub(crate) struct Db(Arc<Mutex<rusqlite::Connection>>);

impl Db {
    pub(crate) fn open(path: &std::path::Path, schema: &str) -> PortResult<Self> {
        let conn = rusqlite::Connection::open(path).map_err(unavailable)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
        )
        .map_err(unavailable)?;
        conn.execute_batch(schema).map_err(unavailable)?;
        Ok(Self(Arc::new(Mutex::new(conn))))
    }

    pub(crate) async fn run<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, PortError> + Send + 'static,
    {
        let db = self.0.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves SQLite itself consistent (transactions
            // roll back on drop), so a poisoned lock is safe to take over.
            let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| PortError::Unavailable(format!("store task failed: {e}")))?
    }
}

pub(crate) fn unavailable(e: rusqlite::Error) -> PortError {
    PortError::Unavailable(format!("sqlite: {e}"))
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
