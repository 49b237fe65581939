//! Ports: the small capabilities the handlers need from the outside world. Each has two
//! adapters, `aws` (DynamoDB, SQS, Secrets Manager) and `embedded` (SQLite on disk), and one
//! contract test suite (`tests/`) that both must pass.

use crate::domain::{Channel, Connection, ConnectionId, TenantId};
use async_trait::async_trait;
use std::fmt;
use std::time::Duration;

/// Every storage port, built once by `aws::ports()` or `embedded::ports()`: the Lambdas and
/// `serve` select an adapter set, they never assemble adapters by hand. (Queues are named per
/// consumer and stay with the wiring.)
#[derive(Clone)]
pub struct Ports {
    pub connections: std::sync::Arc<dyn Connections>,
    pub tenants: std::sync::Arc<dyn Tenants>,
    pub idempotency: std::sync::Arc<dyn Idempotency>,
    pub records: std::sync::Arc<dyn Records>,
    pub vault: std::sync::Arc<dyn Vault>,
    pub values: std::sync::Arc<dyn KeyValue>,
}

/// A failure of a port. All of them are worth retrying except `Corrupt`.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The backing service failed or could not be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type PortResult<T> = Result<T, PortError>;

/// What [`Connections::create`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// A new connection was stored.
    Created,
    /// The shop is already connected; here is that connection (possibly another tenant's).
    ShopTaken(Box<Connection>),
}

/// What [`Connections::update`] did.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum UpdateOutcome {
    /// Written; here is the stored copy (its next version).
    Updated(Box<Connection>),
    /// Someone wrote the connection since this copy was read: nothing was written.
    Stale,
}

impl UpdateOutcome {
    /// The stored copy, or `PortError::Conflict`-like unavailability for callers that can
    /// only retry the whole operation.
    pub fn stored(self) -> PortResult<Connection> {
        match self {
            UpdateOutcome::Updated(c) => Ok(*c),
            UpdateOutcome::Stale => Err(PortError::Unavailable(
                "the connection changed meanwhile; retry".into(),
            )),
        }
    }
}

/// What [`Connections::rebind`] did.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum RebindOutcome {
    /// The new connection is stored and owns the shop; the released one is kept (history)
    /// but no longer found by shop.
    Rebound,
    /// The released connection was written since this copy was read, or no longer owns the
    /// shop: nothing was written. Read again and decide again.
    Stale,
}

/// What both adapters refuse before writing anything: only a disconnected connection's shop
/// changes hands, to a new connection of the same channel and shop.
pub fn check_rebind(released: &Connection, new: &Connection) -> PortResult<()> {
    if released.status != crate::domain::ConnectionStatus::Disconnected {
        return Err(PortError::Corrupt(format!(
            "connection {} is not disconnected: its shop cannot be rebound",
            released.id
        )));
    }
    if released.channel != new.channel || released.shop != new.shop || released.id == new.id {
        return Err(PortError::Corrupt(format!(
            "connection {} cannot take the shop of connection {}",
            new.id, released.id
        )));
    }
    Ok(())
}

/// Connected stores.
#[async_trait]
pub trait Connections: Send + Sync {
    /// Stores a new connection and claims its shop atomically: one shop, one connection.
    async fn create(&self, connection: &Connection) -> PortResult<CreateOutcome>;
    /// Replaces an existing connection (settings, status) if its stored version is still
    /// `connection.version` (the copy the caller read); the stored copy gets the next version.
    /// A copy read before someone else's write is refused ([`UpdateOutcome::Stale`]): read
    /// again and decide again. An unknown connection is an error.
    async fn update(&self, connection: &Connection) -> PortResult<UpdateOutcome>;
    /// Gives the shop of `released` (a disconnected connection, as read) to `new` (a new
    /// connection of the same channel and shop, normally another tenant's), atomically: `new`
    /// is created and owns the shop, `released` stays stored with its history but is no
    /// longer found by shop. Only while `released` is stored at its version and still owns the
    /// shop; otherwise nothing is written. A connection that is not disconnected is refused
    /// (an error): an active shop never changes hands.
    async fn rebind(&self, released: &Connection, new: &Connection) -> PortResult<RebindOutcome>;
    async fn get(&self, tenant: &TenantId, id: &ConnectionId) -> PortResult<Option<Connection>>;
    /// Routes a webhook: the connection that owns `shop` on `channel`.
    async fn find_by_shop(&self, channel: Channel, shop: &str) -> PortResult<Option<Connection>>;
    /// Routes a webhook whose URL names the connection (WooCommerce's per-connection
    /// secrets): the connection with this id, whatever its tenant.
    async fn find_by_id(&self, id: &ConnectionId) -> PortResult<Option<Connection>>;
    async fn list(&self, tenant: &TenantId) -> PortResult<Vec<Connection>>;
    /// Every connection of every tenant, for the scheduler's fan-out.
    async fn list_all(&self) -> PortResult<Vec<Connection>>;
}

/// Tenants and their API tokens. Only a SHA-256 hash of a token is ever stored.
#[async_trait]
pub trait Tenants: Send + Sync {
    async fn put_token(&self, tenant: &TenantId, token_sha256: &str) -> PortResult<()>;
    async fn tenant_for_token(&self, token_sha256: &str) -> PortResult<Option<TenantId>>;
    /// Makes a token stop working at once (nothing to do for an unknown one).
    async fn revoke_token(&self, token_sha256: &str) -> PortResult<()>;
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The caller owns the key until the lease runs out; it must `finish` or `release` it
    /// with this fence.
    Acquired(Fence),
    /// Someone completed this key already; here is what they recorded.
    Done(serde_json::Value),
    /// Someone else holds a live lease on it.
    InProgress,
}

/// The token of one claim. Finishing or releasing a key checks it, so a holder whose lease
/// ran out (work that outlived it) cannot complete or delete the claim of whoever took the
/// key since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence(String);

impl Fence {
    /// A new, unique token.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
    /// A token read back from storage.
    pub fn from_stored(token: impl Into<String>) -> Self {
        Self(token.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Durable exactly-once decisions by conditional write: claim → [`Idempotency::finish`] or
/// [`Idempotency::release`], and nothing else. Used for webhook deliveries (`delivery#…`, kept
/// a week), per-order and per-job locks (`lock#…`, `…-lock#…`, leases), and "sent once" marks
/// (`disconnected-notice#…`, `authorization-notice#…`, `shipment#…`, `oauth-*-used#…`).
/// Values nobody claims (order records, watermarks, run records, install states) are
/// [`KeyValue`]'s.
#[async_trait]
pub trait Idempotency: Send + Sync {
    /// Claims `key` for `lease`. Succeeds when the key is new or its previous holder's lease
    /// ran out without completing (a crashed worker). A done key answers
    /// [`Claim::Done`] with its record.
    async fn claim(&self, key: &str, lease: Duration) -> PortResult<Claim>;
    /// Marks a claimed `key` done with `record`, only if the claim is still `fence`'s (its
    /// lease may have run out, as long as nobody took the key since); `retain = None` keeps
    /// it forever. `false`: the claim was lost to another holder (or is done); nothing was
    /// written.
    async fn finish(
        &self,
        key: &str,
        fence: &Fence,
        record: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<bool>;
    /// Gives up `fence`'s claim so that the next attempt can take it at once. Another
    /// holder's claim, or a done record, is left alone.
    async fn release(&self, key: &str, fence: &Fence) -> PortResult<()>;
}

/// Small named values, read and replaced whole: order records, a connection's last runs and
/// run records, the SKU map's committed generation, install states and claims, counters. Not
/// for exactly-once decisions (that is [`Idempotency`]).
///
/// Both adapters keep them in the same rows as [`Idempotency`]'s done records (DynamoDB
/// `pk = IDEM#{key}`, SQLite's `idempotency` table), so values written before this port
/// existed read back unchanged (no migration), and [`KeyValue::get`] of a claimed key that is
/// done reads its record (the reconciliation poll reads the `other-location#…` marks that
/// way). Never [`KeyValue::put`] a key that is claimed: it would replace a live claim. To
/// advance a done claim's record, [`KeyValue::put_if`] with the record read (it only writes
/// over a done record).
#[async_trait]
pub trait KeyValue: Send + Sync {
    /// The value under `key`, if one was put (or a claim of it finished) and its retention
    /// has not run out.
    async fn get(&self, key: &str) -> PortResult<Option<serde_json::Value>>;
    /// Replaces the value under `key`; `retain = None` keeps it forever.
    async fn put(
        &self,
        key: &str,
        value: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<()>;
    /// Replaces the value under `key` only if it is still `expected` (`None`: there is none),
    /// as one atomic step. `false`: someone else wrote it since; nothing was written.
    async fn put_if(
        &self,
        key: &str,
        expected: Option<&serde_json::Value>,
        value: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<bool>;
}

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that needs it (a signature, a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Credentials, one named secret (JSON) per connection or channel app.
#[async_trait]
pub trait Vault: Send + Sync {
    async fn put(&self, name: &str, value: &Secret) -> PortResult<()>;
    async fn get(&self, name: &str) -> PortResult<Option<Secret>>;
    async fn delete(&self, name: &str) -> PortResult<()>;
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct OutMessage {
    pub body: String,
    /// Deduplication id: a second send with the same id is dropped (SQS FIFO: within five
    /// minutes; embedded: always).
    pub dedup_id: Option<String>,
    /// Ordering group (FIFO queues).
    pub group_id: Option<String>,
    /// The tenant it belongs to, for the embedded outbox's per-tenant reads.
    pub tenant: Option<TenantId>,
}

/// A received message; hand `receipt` back to `ack` when done.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
}

/// A queue (SQS, or the embedded store's table).
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: OutMessage) -> PortResult<()>;
    /// Up to `max` messages, hidden from other receivers for `visibility`.
    async fn receive(&self, max: u32, visibility: Duration) -> PortResult<Vec<Received>>;
    async fn ack(&self, receipt: &str) -> PortResult<()>;
    /// Sends every message, in order (SQS: `SendMessageBatch`, ten per request; embedded: one
    /// transaction). On an error some may have been sent: a retry sends them again, which the
    /// deduplication id absorbs on queues that deduplicate. One `send` each by default.
    async fn send_many(&self, messages: Vec<OutMessage>) -> PortResult<()> {
        for message in messages {
            self.send(message).await?;
        }
        Ok(())
    }
    /// Acks every receipt (SQS: `DeleteMessageBatch`; embedded: one statement). One `ack`
    /// each by default.
    async fn ack_many(&self, receipts: &[String]) -> PortResult<()> {
        for receipt in receipts {
            self.ack(receipt).await?;
        }
        Ok(())
    }
}

/// A versioned record of a partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    /// The writer's version (a timestamp, a generation): conditional writes compare it.
    pub version: i64,
    pub value: serde_json::Value,
}

/// One page of a partition, in key order. `next` is the key to continue after, when there
/// may be more.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordPage {
    pub records: Vec<Record>,
    pub next: Option<String>,
}

/// The most keys [`Records::fetch_many`] takes in one call (DynamoDB's `BatchGetItem` limit).
pub const MAX_FETCH_MANY: usize = 100;

/// Records grouped in partitions and read back in key order, a page at a time: a tenant's
/// stock snapshot and products, a connection's SKU map, what was last pushed, runs. Every
/// write that must not go backwards is conditional on the stored version.
#[async_trait]
pub trait Records: Send + Sync {
    /// Writes the record whatever is stored.
    async fn put(
        &self,
        partition: &str,
        key: &str,
        version: i64,
        value: &serde_json::Value,
    ) -> PortResult<()>;
    /// Writes only when nothing is stored or the stored version is lower; returns whether it
    /// wrote (an older or equal version is refused, so replays and late events change nothing).
    async fn put_if_newer(
        &self,
        partition: &str,
        key: &str,
        version: i64,
        value: &serde_json::Value,
    ) -> PortResult<bool>;
    /// Writes every `(key, version, value)` of one partition whatever is stored, like `put`
    /// each (DynamoDB: `BatchWriteItem`, 25 per request; embedded: one statement in one
    /// transaction). Not atomic on DynamoDB: on an error some may be written, and a retry
    /// writes them again (callers use it for overwrites that are safe to repeat). One `put`
    /// each by default.
    async fn put_many(
        &self,
        partition: &str,
        items: &[(String, i64, serde_json::Value)],
    ) -> PortResult<()> {
        for (key, version, value) in items {
            self.put(partition, key, *version, value).await?;
        }
        Ok(())
    }
    async fn fetch(&self, partition: &str, key: &str) -> PortResult<Option<Record>>;
    /// The records found among `keys` (at most [`MAX_FETCH_MANY`]).
    async fn fetch_many(&self, partition: &str, keys: &[String]) -> PortResult<Vec<Record>>;
    async fn remove(&self, partition: &str, key: &str) -> PortResult<()>;
    /// Deletes only when the stored version is still `version` (a newer write survives).
    async fn remove_if_version(&self, partition: &str, key: &str, version: i64)
        -> PortResult<bool>;
    /// Up to `limit` records whose key starts with `prefix`, after `after`, in key order.
    async fn page(
        &self,
        partition: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<RecordPage>;
}
