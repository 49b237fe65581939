//! When each scheduled job is due for each connection (issue 22): the due index the
//! scheduler's ticks read instead of scanning every connection.
//!
//! - **Entries.** A connection's next run of a job is one record in partition
//!   `due#{job}#{shard}` (shard = a hash of the connection id, [`SHARDS`] of them), keyed
//!   `{due, Unix ms}#{tenant}#{connection}`: keys sort by due time, so a tick reads each shard
//!   from its front and stops at the first entry not due yet.
//! - **Kept by the job.** After a run the jobs worker writes the next entry, then
//!   `due-last#{job}#{connection}` (`next_ms`), then removes the entry it ran for
//!   ([`reschedule`]). An entry due before `next_ms` is obsolete ([`is_obsolete`]): a tick that
//!   enqueued an entry twice, or a crash between those writes, costs one skipped message,
//!   never a second run or a doubled schedule.
//! - **Cadence.** The next run keeps the connection's phase (`due + k × every`, the first such
//!   time after now), so a late run does not drift its schedule and missed slots are not
//!   replayed. Daily jobs start in a window, at an offset hashed from the connection id
//!   ([`Cadence::window`]): 10,000 daily runs spread over hours instead of one burst.
//! - **Enrolment.** A new connection is enrolled when it is created ([`enroll`]); a
//!   connection the index does not know (created before the index existed) is enrolled by the
//!   daily sweep ([`sweep`]), so a connection without a due entry is due.

use crate::domain::{Connection, ConnectionId, ConnectionStatus, TenantId};
use crate::keys::due as keys;
use crate::ports::{Claim, Connections, Idempotency, KeyValue, PortError, PortResult, Records};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// A scheduled job, as the schedule names it (`{"job": "reconcile"}`): parsed once at the
/// edge (the scheduler function), never compared as a string inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Job {
    /// The reconciliation poll (every 10 minutes; the default when no job is named).
    Reconcile,
    /// The daily webhook subscription check.
    WebhookHealth,
    /// The daily product import (SKU map and audit).
    Products,
    /// The daily full inventory push, fanned out through `inventory-push`.
    InventoryDaily,
}

impl Job {
    /// Every job, as the schedules name them.
    pub const ALL: [Job; 4] = [
        Job::Reconcile,
        Job::WebhookHealth,
        Job::Products,
        Job::InventoryDaily,
    ];

    /// The job a schedule's input names: `{"job": …}`; `{}` is the reconciliation poll.
    pub fn from_input(input: &serde_json::Value) -> Result<Self, String> {
        match input.get("job") {
            None | Some(serde_json::Value::Null) => Ok(Job::Reconcile),
            Some(name) => serde_json::from_value(name.clone()).map_err(|_| {
                format!(
                    "unknown job {name}: expected one of {}",
                    Job::ALL.map(Job::as_str).join(", ")
                )
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Job::Reconcile => "reconcile",
            Job::WebhookHealth => "webhook-health",
            Job::Products => "products",
            Job::InventoryDaily => "inventory-daily",
        }
    }

    /// How often the job runs per connection unless the deployment says otherwise.
    pub fn default_cadence(self) -> Cadence {
        const HOUR: u64 = 3600;
        let daily = |start_minute: u32, hours: u64| Cadence {
            every: Duration::from_secs(24 * HOUR),
            window: Some((start_minute, Duration::from_secs(hours * HOUR))),
        };
        match self {
            Job::Reconcile => Cadence {
                every: Duration::from_secs(600),
                window: None,
            },
            // 01:00–05:00 UTC: the night in Europe and the Americas' evening.
            Job::WebhookHealth | Job::Products => daily(60, 4),
            Job::InventoryDaily => daily(3 * 60, 2),
        }
    }
}

/// Shards of each job's due index (see `docs/architecture.md`, "DynamoDB at scale").
pub const SHARDS: u32 = 8;

/// How often a job runs per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Between two runs of one connection.
    pub every: Duration,
    /// Daily jobs: the window (start in minutes after midnight UTC, length) in which each
    /// connection's first run is placed, at an offset hashed from its id.
    pub window: Option<(u32, Duration)>,
}

/// A connection's place in a job's due index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueEntry {
    pub job: Job,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    /// When it is due (Unix ms).
    pub at_ms: i64,
}

impl DueEntry {
    pub fn new(job: Job, connection: &Connection, at_ms: i64) -> Self {
        Self {
            job,
            tenant: connection.tenant.clone(),
            connection: connection.id.clone(),
            at_ms,
        }
    }

    /// The shard partition holding the entry.
    pub fn partition(&self) -> String {
        keys::partition(self.job.as_str(), shard(&self.connection))
    }

    /// The entry's key in its partition.
    pub fn key(&self) -> String {
        keys::entry(self.at_ms, &self.tenant, &self.connection)
    }

    async fn write(&self, records: &dyn Records) -> PortResult<()> {
        let value = serde_json::to_value(self).map_err(|e| PortError::Corrupt(e.to_string()))?;
        records
            .put(&self.partition(), &self.key(), self.at_ms, &value)
            .await
    }
}

fn hash(connection: &ConnectionId) -> u64 {
    let digest = Sha256::digest(connection.as_str().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The shard of a connection (stable: a hash of its id).
pub fn shard(connection: &ConnectionId) -> u32 {
    (hash(connection) % u64::from(SHARDS)) as u32
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// When a connection's job is first due after `now_ms`: now for interval jobs; for daily jobs
/// the next time of day `window start + offset`, the offset a hash of the connection id
/// within the window.
pub fn first_due(cadence: Cadence, connection: &ConnectionId, now_ms: i64) -> i64 {
    let Some((start_minute, length)) = cadence.window else {
        return now_ms;
    };
    const DAY: i64 = 24 * 3600 * 1000;
    let offset = (hash(connection) % (ms(length) as u64)) as i64;
    let time_of_day = (i64::from(start_minute) * 60_000 + offset).rem_euclid(DAY);
    let midnight = now_ms - now_ms.rem_euclid(DAY);
    let today = midnight + time_of_day;
    if today > now_ms {
        today
    } else {
        today + DAY
    }
}

/// The run after one due at `due_ms`, finishing at `now_ms`: `due + k × every`, the first
/// such time after now (the phase is kept; missed slots are skipped, not replayed).
pub fn next_due(cadence: Cadence, due_ms: i64, now_ms: i64) -> i64 {
    let every = ms(cadence.every);
    if now_ms < due_ms {
        return due_ms.saturating_add(every);
    }
    let k = (now_ms - due_ms) / every + 1;
    due_ms.saturating_add(k.saturating_mul(every))
}

/// What the index remembers of a connection's last run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// When the next run is due: entries due earlier are obsolete.
    pub next_ms: i64,
    /// When the last run finished (Unix ms).
    pub at_ms: i64,
    pub outcome: String,
    /// Parked because the connection was not active (disconnected, needs re-authorization):
    /// [`reactivate`] enrolls it again when it is reconnected, and the daily sweep does if
    /// that write was lost.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inactive: bool,
}

/// The last run of `job` for `connection`, if any was recorded.
pub async fn last_run(
    values: &dyn KeyValue,
    job: Job,
    connection: &ConnectionId,
) -> PortResult<Option<LastRun>> {
    Ok(values
        .get(&keys::last(job.as_str(), connection))
        .await?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// Whether `entry` was superseded: the connection's job already ran for it (or a later one).
pub async fn is_obsolete(values: &dyn KeyValue, entry: &DueEntry) -> PortResult<bool> {
    Ok(last_run(values, entry.job, &entry.connection)
        .await?
        .is_some_and(|last| last.next_ms > entry.at_ms))
}

/// After a run for `entry`: writes the next entry, then the last-run record, then removes
/// `entry` (in that order, so a crash leaves at worst an obsolete entry, never none).
/// Returns the next entry.
pub async fn reschedule(
    records: &dyn Records,
    values: &dyn KeyValue,
    entry: &DueEntry,
    cadence: Cadence,
    now_ms: i64,
    outcome: &str,
) -> PortResult<DueEntry> {
    let next = DueEntry {
        at_ms: next_due(cadence, entry.at_ms, now_ms),
        ..entry.clone()
    };
    next.write(records).await?;
    let last = LastRun {
        next_ms: next.at_ms,
        at_ms: now_ms,
        outcome: outcome.to_owned(),
        inactive: false,
    };
    let last = serde_json::to_value(&last).map_err(|e| PortError::Corrupt(e.to_string()))?;
    values
        .put(
            &keys::last(entry.job.as_str(), &entry.connection),
            &last,
            None,
        )
        .await?;
    records.remove(&entry.partition(), &entry.key()).await?;
    Ok(next)
}

/// Takes a connection out of a job's index: its entry goes, and `due-last` says why (and,
/// with no next run, keeps the sweep from enrolling it again).
pub async fn park(
    records: &dyn Records,
    values: &dyn KeyValue,
    entry: &DueEntry,
    now_ms: i64,
    why: &str,
) -> PortResult<()> {
    park_as(records, values, entry, now_ms, why, false).await
}

/// Takes a connection that is not active (disconnected, needs re-authorization) out of a
/// job's index, like [`park`], marked so that [`reactivate`] (on reconnect) and the daily
/// sweep (if that was lost) enroll it again. Until then no tick enqueues it: every entry
/// still in the index is obsolete and dropped unrun.
pub async fn park_inactive(
    records: &dyn Records,
    values: &dyn KeyValue,
    entry: &DueEntry,
    now_ms: i64,
    why: &str,
) -> PortResult<()> {
    park_as(records, values, entry, now_ms, why, true).await
}

async fn park_as(
    records: &dyn Records,
    values: &dyn KeyValue,
    entry: &DueEntry,
    now_ms: i64,
    why: &str,
    inactive: bool,
) -> PortResult<()> {
    let last = LastRun {
        next_ms: i64::MAX,
        at_ms: now_ms,
        outcome: why.to_owned(),
        inactive,
    };
    let last = serde_json::to_value(&last).map_err(|e| PortError::Corrupt(e.to_string()))?;
    values
        .put(
            &keys::last(entry.job.as_str(), &entry.connection),
            &last,
            None,
        )
        .await?;
    records.remove(&entry.partition(), &entry.key()).await
}

/// Drops an entry without running anything (obsolete, or its connection is gone).
pub async fn drop_entry(records: &dyn Records, entry: &DueEntry) -> PortResult<()> {
    records.remove(&entry.partition(), &entry.key()).await
}

/// Enrolls a connection in `job`'s index, first due per [`first_due`].
pub async fn enroll(
    records: &dyn Records,
    job: Job,
    cadence: Cadence,
    connection: &Connection,
    now_ms: i64,
) -> PortResult<DueEntry> {
    let entry = DueEntry::new(job, connection, first_due(cadence, &connection.id, now_ms));
    entry.write(records).await?;
    Ok(entry)
}

/// Enrolls a connection that became active again (reconnected) in every job it was parked
/// from for being inactive ([`park_inactive`]), first due per [`first_due`] at the default
/// cadences. The entry is written before the last-run record stops making it obsolete, so a
/// crash between leaves the connection marked inactive and the daily sweep enrolls it.
/// Returns the jobs it was enrolled in.
pub async fn reactivate(
    records: &dyn Records,
    values: &dyn KeyValue,
    connection: &Connection,
    now_ms: i64,
) -> PortResult<Vec<Job>> {
    let mut enrolled = Vec::new();
    for job in Job::ALL {
        if let Some(entry) = reenroll_if_parked_inactive(
            records,
            values,
            job,
            job.default_cadence(),
            connection,
            now_ms,
        )
        .await?
        {
            enrolled.push(entry.job);
        }
    }
    Ok(enrolled)
}

async fn reenroll_if_parked_inactive(
    records: &dyn Records,
    values: &dyn KeyValue,
    job: Job,
    cadence: Cadence,
    connection: &Connection,
    now_ms: i64,
) -> PortResult<Option<DueEntry>> {
    let Some(last) = last_run(values, job, &connection.id).await? else {
        return Ok(None);
    };
    if !last.inactive {
        return Ok(None);
    }
    let entry = enroll(records, job, cadence, connection, now_ms).await?;
    let last = LastRun {
        next_ms: entry.at_ms,
        at_ms: now_ms,
        outcome: "re-enrolled: the connection is active again".into(),
        inactive: false,
    };
    let last = serde_json::to_value(&last).map_err(|e| PortError::Corrupt(e.to_string()))?;
    values
        .put(&keys::last(job.as_str(), &connection.id), &last, None)
        .await?;
    Ok(Some(entry))
}

/// Enrolls a newly created connection in every job's index, at the default cadences.
pub async fn enroll_new(records: &dyn Records, connection: &Connection) -> PortResult<()> {
    let now = chrono::Utc::now().timestamp_millis();
    for job in Job::ALL {
        enroll(records, job, job.default_cadence(), connection, now).await?;
    }
    Ok(())
}

/// Up to `limit` entries of `job` due at or before `horizon_ms`, oldest first per shard.
/// An entry whose value cannot be read is logged and left (it names no connection to run).
pub async fn due(
    records: &dyn Records,
    job: Job,
    horizon_ms: i64,
    limit: usize,
) -> PortResult<Vec<DueEntry>> {
    const PAGE: usize = 500;
    let mut out = Vec::new();
    for shard in 0..SHARDS {
        let partition = keys::partition(job.as_str(), shard);
        let mut after: Option<String> = None;
        'shard: loop {
            let page = records.page(&partition, "", after.as_deref(), PAGE).await?;
            for record in &page.records {
                if record.version > horizon_ms || out.len() >= limit {
                    break 'shard;
                }
                match serde_json::from_value::<DueEntry>(record.value.clone()) {
                    Ok(entry) => out.push(entry),
                    Err(e) => tracing::warn!(
                        partition,
                        key = %record.key,
                        error = %e,
                        "unreadable due entry left in place"
                    ),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(out)
}

/// How long the sweep's claim lasts: it enrolls again once this has passed.
pub const SWEEP_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Once a day per job (a fenced claim on `due-sweep#{job}`, kept a day): enrolls every
/// connection `eligible` for the job that has never run it, so connections created before
/// the index existed are due, and every active one still parked as inactive (its
/// re-enrolment on reconnect was lost). Bookkeeping only (one read and at most one write per
/// connection, 32 at a time); returns how many were enrolled, or `None`
/// when the sweep is not due (done within the day, or running elsewhere).
/// What a [`sweep`] writes to: the due index, its daily claim, the connections' last runs.
pub struct SweepStores {
    pub records: Arc<dyn Records>,
    pub idempotency: Arc<dyn Idempotency>,
    pub values: Arc<dyn KeyValue>,
}

pub async fn sweep(
    connections: &dyn Connections,
    stores: SweepStores,
    job: Job,
    cadence: Cadence,
    now_ms: i64,
    eligible: impl Fn(&Connection) -> bool,
) -> PortResult<Option<usize>> {
    let SweepStores {
        records,
        idempotency,
        values,
    } = stores;
    let marker = keys::sweep(job.as_str());
    let Claim::Acquired(fence) = idempotency
        .claim(&marker, Duration::from_secs(15 * 60))
        .await?
    else {
        return Ok(None);
    };
    let swept = enroll_unknown(connections, records, values, job, cadence, now_ms, eligible).await;
    match swept {
        Ok(enrolled) => {
            let record = serde_json::json!({"at_ms": now_ms, "enrolled": enrolled});
            idempotency
                .finish(&marker, &fence, &record, Some(SWEEP_EVERY))
                .await?;
            Ok(Some(enrolled))
        }
        Err(e) => {
            if let Err(release) = idempotency.release(&marker, &fence).await {
                tracing::warn!(error = %release, "could not release the sweep's claim; it expires");
            }
            Err(e)
        }
    }
}

async fn enroll_unknown(
    connections: &dyn Connections,
    records: Arc<dyn Records>,
    values: Arc<dyn KeyValue>,
    job: Job,
    cadence: Cadence,
    now_ms: i64,
    eligible: impl Fn(&Connection) -> bool,
) -> PortResult<usize> {
    let candidates: Vec<Connection> = connections
        .list_all()
        .await?
        .into_iter()
        .filter(|c| eligible(c))
        .collect();
    let mut enrolled = 0;
    for chunk in candidates.chunks(32) {
        let mut tasks = tokio::task::JoinSet::new();
        for connection in chunk.iter().cloned() {
            let (records, values) = (records.clone(), values.clone());
            tasks.spawn(async move {
                if let Some(last) = last_run(&*values, job, &connection.id).await? {
                    if last.inactive && connection.status == ConnectionStatus::Active {
                        return reenroll_if_parked_inactive(
                            &*records,
                            &*values,
                            job,
                            cadence,
                            &connection,
                            now_ms,
                        )
                        .await
                        .map(|entry| entry.is_some());
                    }
                    return Ok(false);
                }
                // An entry written at creation and not run yet may exist: the same phase
                // gives the same key (daily), or an earlier one that the first run makes
                // obsolete, so enrolling again never doubles the schedule.
                let first = first_due(cadence, &connection.id, now_ms);
                DueEntry::new(job, &connection, first)
                    .write(&*records)
                    .await
                    .map(|_| true)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(true)) => enrolled += 1,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(PortError::Unavailable(format!("sweep task: {e}"))),
            }
        }
    }
    Ok(enrolled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn id(n: usize) -> ConnectionId {
        ConnectionId::parse(format!("c_{n}")).unwrap()
    }

    #[test]
    fn the_next_run_keeps_the_phase_and_skips_missed_slots() {
        let c = Job::Reconcile.default_cadence();
        // On time: one interval on.
        assert_eq!(next_due(c, 1_000 * MIN, 1_000 * MIN + 30_000), 1_010 * MIN);
        // Run a little before it was due (the tick's horizon): still one interval on.
        assert_eq!(next_due(c, 1_000 * MIN, 999 * MIN), 1_010 * MIN);
        // 35 minutes late: the missed slots are skipped, the phase kept.
        assert_eq!(next_due(c, 1_000 * MIN, 1_035 * MIN), 1_040 * MIN);
        // Exactly on a slot boundary: the next one.
        assert_eq!(next_due(c, 1_000 * MIN, 1_010 * MIN), 1_020 * MIN);
    }

    #[test]
    fn daily_jobs_spread_over_their_window() {
        let c = Job::Products.default_cadence();
        let (start, length) = c.window.unwrap();
        let day = 24 * 60 * MIN;
        let now = 20_000 * day + 12 * 60 * MIN; // a noon
        let mut hours = [0usize; 24];
        for n in 0..2_000 {
            let at = first_due(c, &id(n), now);
            assert!(at > now && at <= now + day);
            let minute = (at.rem_euclid(day)) / MIN;
            let start = i64::from(start);
            assert!(minute >= start && minute < start + (length.as_secs() as i64) / 60);
            hours[(minute / 60) as usize] += 1;
            // Stable: the same connection always gets the same place.
            assert_eq!(first_due(c, &id(n), now), at);
        }
        // 01:00–05:00: each hour holds roughly a quarter (no burst at the start).
        assert!(
            hours[1..5].iter().all(|n| (400..=600).contains(n)),
            "{hours:?}"
        );
        // An interval job is due at once.
        assert_eq!(
            first_due(Job::Reconcile.default_cadence(), &id(1), now),
            now
        );
    }

    #[test]
    fn entries_sort_by_due_time_and_shards_spread() {
        let t = TenantId::parse("dev").unwrap();
        let early = keys::entry(999, &t, &id(9));
        let late = keys::entry(1_000, &t, &id(1));
        assert!(early < late, "{early} < {late}");
        let mut per_shard = [0usize; SHARDS as usize];
        for n in 0..800 {
            per_shard[shard(&id(n)) as usize] += 1;
        }
        assert!(
            per_shard.iter().all(|n| (60..=140).contains(n)),
            "{per_shard:?}"
        );
    }

    #[test]
    fn jobs_are_parsed_from_the_schedule_input() {
        assert_eq!(Job::from_input(&serde_json::json!({})), Ok(Job::Reconcile));
        assert!(Job::from_input(&serde_json::json!({"job": "nope"})).is_err());
    }
}
