//! The embedded adapter set: SQLite files on disk, for `channel-sync serve`.
//!
//! - `store.sqlite`: connections, tenant token hashes, idempotency records and the queues
//!   (one `messages` table; consumers lease rows with a visibility timeout, rows that keep
//!   failing move to the queue's DLQ, and `wms-orders` is kept as a readable outbox).
//! - `vault.sqlite`: credentials, in a separate file created with mode 0600, so that the
//!   store can be copied or inspected without exposing secrets.
//!
//! WAL mode; every "exactly once" decision is one SQLite transaction (a savepoint within a
//! group commit, see [`Db`]).

mod queue;
mod records;
mod store;
mod vault;

pub mod timing;

pub use queue::{EmbeddedQueue, OutboxCursor, OutboxEntry};
pub use store::EmbeddedStore;
pub use vault::EmbeddedVault;

use crate::ports::{PortError, PortResult, Ports};
use std::sync::Arc;

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
        values: Arc::new(store.clone()),
    }
}

/// Shared handle to one SQLite connection, owned by one writer thread that commits in groups.
///
/// Every [`Db::run`] call is a job for that thread. The thread takes every job waiting (up to
/// [`MAX_GROUP`]), runs each inside its own savepoint within one transaction (a job that fails
/// rolls back only its own writes), commits once, and only then answers every caller of the
/// group. So a caller hears "done" only after its writes are in the WAL (as before: no weaker
/// guarantee), but under load one commit carries many callers' claims, records and messages
/// (group commit) instead of one each. With a single caller it is one transaction per call,
/// like before.
#[derive(Clone)]
pub(crate) struct Db {
    jobs: std::sync::mpsc::Sender<Box<dyn Job>>,
}

/// The most jobs one transaction carries (bounds how long the first caller waits).
const MAX_GROUP: usize = 256;

/// One caller's closure and the way back to it.
trait Job: Send {
    /// What the job is, for [`timing`].
    fn kind(&self) -> timing::Kind;
    /// Runs the closure; whether it succeeded (a failure rolls back its savepoint).
    fn run(&mut self, conn: &mut rusqlite::Connection) -> bool;
    /// Answers the caller once the group's commit is known (`Err`: nothing was written).
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

struct Typed<T, F> {
    kind: timing::Kind,
    work: Option<F>,
    outcome: Option<PortResult<T>>,
    reply: tokio::sync::oneshot::Sender<PortResult<T>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut rusqlite::Connection) -> Result<T, PortError> + Send + 'static,
{
    fn kind(&self) -> timing::Kind {
        self.kind
    }

    fn run(&mut self, conn: &mut rusqlite::Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panicking job fails alone; SQLite stays consistent (its savepoint is rolled back).
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(PortError::Unavailable("store task failed".into())));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let outcome = match committed {
            Ok(()) => self
                .outcome
                .unwrap_or_else(|| Err(PortError::Unavailable("store task did not run".into()))),
            Err(e) => Err(PortError::Unavailable(format!("sqlite commit: {e}"))),
        };
        // A caller that went away (a dropped request) needs no answer.
        let _ = self.reply.send(outcome);
    }
}

impl Db {
    pub(crate) fn open(path: &std::path::Path, schema: &str) -> PortResult<Self> {
        Self::open_migrated(path, schema, |_| Ok(()))
    }

    /// Opens `path`, applies `schema`, then `migrate`, before the writer thread starts.
    pub(crate) fn open_migrated(
        path: &std::path::Path,
        schema: &str,
        migrate: impl FnOnce(&rusqlite::Connection) -> PortResult<()>,
    ) -> PortResult<Self> {
        let conn = rusqlite::Connection::open(path).map_err(unavailable)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
        )
        .map_err(unavailable)?;
        conn.execute_batch(schema).map_err(unavailable)?;
        migrate(&conn)?;
        Tuning::from_env().apply(&conn).map_err(unavailable)?;
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name(format!(
                "sqlite-{}",
                path.file_stem().and_then(|s| s.to_str()).unwrap_or("db")
            ))
            .spawn(move || writer(conn, queue))
            .map_err(|e| PortError::Unavailable(format!("store thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// A storage job (records, claims, connections, credentials).
    pub(crate) async fn run<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, PortError> + Send + 'static,
    {
        self.run_as(timing::Kind::Storage, f).await
    }

    /// A job of a given kind (the queues say [`timing::Kind::Queue`]).
    pub(crate) async fn run_as<T, F>(&self, kind: timing::Kind, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, PortError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Typed {
            kind,
            work: Some(f),
            outcome: None,
            reply,
        };
        self.jobs
            .send(Box::new(job))
            .map_err(|_| PortError::Unavailable("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| PortError::Unavailable("store task failed".into()))?
    }
}

/// The writer thread: groups of jobs, one transaction each. Ends when every handle is gone.
fn writer(mut conn: rusqlite::Connection, queue: std::sync::mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        run_group(&mut conn, group);
    }
}

fn run_group(conn: &mut rusqlite::Connection, mut group: Vec<Box<dyn Job>>) {
    let clock = timing::Clock::start();
    if let Err(e) = conn.execute_cached("BEGIN IMMEDIATE", []) {
        // Could not open the group's transaction: every job is told so, none ran.
        let e = e.to_string();
        for job in group {
            job.answer(Err(e.clone()));
        }
        return;
    }
    let mut clock = clock.lap(timing::Kind::Commit);
    for job in &mut group {
        let kind = job.kind();
        let step = conn
            .execute_cached("SAVEPOINT job", [])
            .and_then(|_| {
                if job.run(conn) {
                    conn.execute_cached("RELEASE job", [])
                } else {
                    conn.execute_cached("ROLLBACK TO job", [])
                        .and_then(|_| conn.execute_cached("RELEASE job", []))
                }
            })
            .map_err(|e| e.to_string());
        clock = clock.lap(kind);
        if let Err(e) = step {
            // The savepoint machinery itself failed: nothing of the group is trusted.
            let _ = conn.execute_batch("ROLLBACK");
            for job in group {
                job.answer(Err(e.clone()));
            }
            return;
        }
    }
    let committed = conn
        .execute_cached("COMMIT", [])
        .map(|_| ())
        .map_err(|e| e.to_string());
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    clock.lap(timing::Kind::Commit).group(group.len());
    for job in group {
        job.answer(committed.clone());
    }
}

/// Statements through the connection's statement cache: each SQL text is compiled once per
/// connection, not once per call (`Connection::execute` and `query_row` compile every time).
pub(crate) trait Cached {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for rusqlite::Connection {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// How the store's connections are tuned (issue 17). None of it weakens durability: every
/// commit is in the WAL before its callers hear "done", whatever the values.
///
/// Each value can be overridden by an environment variable, only to measure the difference
/// (docs/performance.md gives the "before" values); nothing else depends on them.
struct Tuning {
    /// Distinct statements kept compiled (`CHANNEL_SYNC_STATEMENT_CACHE`; before: `0`, every
    /// statement compiled at every call).
    statements: usize,
    /// SQLite's page cache, in KiB (`CHANNEL_SYNC_SQLITE_CACHE_KIB`; before: SQLite's 2,000).
    cache_kib: u32,
    /// WAL pages between automatic checkpoints (`CHANNEL_SYNC_WAL_AUTOCHECKPOINT`; before:
    /// SQLite's 1,000). A checkpoint syncs the WAL and the database file; fewer of them
    /// means fewer syncs and each copies a page written many times only once.
    autocheckpoint: u32,
}

impl Tuning {
    fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        }
        Tuning {
            statements: var("CHANNEL_SYNC_STATEMENT_CACHE", 128),
            cache_kib: var("CHANNEL_SYNC_SQLITE_CACHE_KIB", 32 * 1024),
            autocheckpoint: var("CHANNEL_SYNC_WAL_AUTOCHECKPOINT", 10_000),
        }
    }

    fn apply(&self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        conn.set_prepared_statement_cache_capacity(self.statements);
        // Numbers we produced: no SQL text from outside.
        conn.execute_batch(&format!(
            "PRAGMA cache_size=-{}; PRAGMA wal_autocheckpoint={};",
            self.cache_kib, self.autocheckpoint
        ))
    }
}

pub(crate) fn unavailable(e: rusqlite::Error) -> PortError {
    PortError::Unavailable(format!("sqlite: {e}"))
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17: the store's connection keeps its statements compiled, a larger page cache
    /// and fewer checkpoints, with durability unchanged (WAL, `synchronous=NORMAL`).
    #[tokio::test]
    async fn the_store_connection_is_tuned_and_as_durable_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.sqlite"), "CREATE TABLE t (x INTEGER);").unwrap();
        let (journal, synchronous, cache, checkpoint) = db
            .run(|c| {
                let pragma = |name: &str| {
                    c.query_row(&format!("PRAGMA {name}"), [], |r| {
                        r.get::<_, rusqlite::types::Value>(0)
                    })
                    .map(|v| match v {
                        rusqlite::types::Value::Integer(n) => n.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        other => format!("{other:?}"),
                    })
                    .map_err(unavailable)
                };
                // The same cached statement twice, with different values.
                c.execute_cached("INSERT INTO t (x) VALUES (?1)", [1])
                    .map_err(unavailable)?;
                c.execute_cached("INSERT INTO t (x) VALUES (?1)", [2])
                    .map_err(unavailable)?;
                Ok((
                    pragma("journal_mode")?,
                    pragma("synchronous")?,
                    pragma("cache_size")?,
                    pragma("wal_autocheckpoint")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, "1", "NORMAL, as before");
        assert_eq!(cache, "-32768");
        assert_eq!(checkpoint, "10000");
        let rows = db
            .run(|c| {
                c.query_row_cached("SELECT SUM(x) FROM t", [], |r| r.get::<_, i64>(0))
                    .map_err(unavailable)
            })
            .await
            .unwrap();
        assert_eq!(rows, 3);
    }
}
