//! Runs: every push (daily, Sync now, a Live batch) and every reconciliation poll leaves a
//! record the dashboard reads — state, progress, per-SKU failures with reasons.
//!
//! | partition | key | value |
//! |---|---|---|
//! | `runs#{connection}` | `{inverted ms}#{run id}` (newest first) | [`Run`] |
//! | `run-index#{0-f}` (16 shards by a hash of the id; `run-index` before) | run id | [`RunPointer`] |
//! | `run-failures#{run id}` | SKU | [`SkuFailure`] |

use crate::domain::{ConnectionId, Sku, TenantId};
use crate::ports::{PortError, PortResult, Records};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Failures listed per run (the count is exact).
pub const MAX_LISTED_FAILURES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// The scheduled full push.
    Daily,
    /// An on-demand full push.
    SyncNow,
    /// A coalesced batch of stock changes.
    Live,
    /// The first full push after inventory sync was switched on.
    Enabled,
    /// The order reconciliation poll.
    Reconciliation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    /// Every SKU was pushed (or had nothing to change).
    Succeeded,
    /// Finished, but some SKUs failed (see the failures).
    CompletedWithFailures,
    /// Stopped: the reason is in `message`.
    Failed,
}

impl RunState {
    pub fn finished(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::CompletedWithFailures | RunState::Failed
        )
    }
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub kind: RunKind,
    pub state: RunState,
    /// A plan only: nothing is written to the channel.
    #[serde(default)]
    pub dry_run: bool,
    /// SKUs to go through (known once the run has counted them).
    pub total: Option<u64>,
    /// SKUs gone through.
    pub done: u64,
    /// Quantities written (or, in a dry run, that would be).
    pub pushed: u64,
    /// SKUs whose quantity was already right (Live: skipped).
    pub unchanged: u64,
    pub failed: u64,
    /// Channel calls made.
    pub calls: u64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, or a summary (reconciliation: counts).
    pub message: Option<String>,
    /// Up to 20 planned quantities, for dry runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<PlannedQuantity>,
    /// Where the run's record sits in `runs#{connection}`.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedQuantity {
    pub sku: Sku,
    pub quantity: i64,
}

/// Where a run is, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPointer {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub key: String,
}

/// One SKU that failed in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuFailure {
    pub sku: Sku,
    pub code: String,
    pub reason: String,
}

fn corrupt(e: serde_json::Error) -> PortError {
    PortError::Corrupt(format!("run: {e}"))
}

impl Run {
    /// A new, queued run.
    pub fn new(tenant: TenantId, connection: ConnectionId, kind: RunKind, dry_run: bool) -> Self {
        let now = Utc::now();
        let random: [u8; 6] = rand::random();
        let id = format!("r_{:x}{}", now.timestamp_millis(), hex::encode(random));
        // Newest first in key order: invert the timestamp.
        let key = format!("{:013}#{id}", 9_999_999_999_999 - now.timestamp_millis());
        Self {
            id,
            tenant,
            connection,
            kind,
            state: RunState::Queued,
            dry_run,
            total: None,
            done: 0,
            pushed: 0,
            unchanged: 0,
            failed: 0,
            calls: 0,
            created_at: now,
            started_at: None,
            finished_at: None,
            message: None,
            sample: Vec::new(),
            key,
        }
    }

    /// Marks the run finished, succeeded unless something failed.
    pub fn finish(&mut self, message: Option<String>) {
        self.state = if self.failed > 0 {
            RunState::CompletedWithFailures
        } else {
            RunState::Succeeded
        };
        self.finished_at = Some(Utc::now());
        if message.is_some() {
            self.message = message;
        }
    }

    /// Marks the run failed with a reason.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.state = RunState::Failed;
        self.finished_at = Some(Utc::now());
        self.message = Some(reason.into());
    }
}

/// Records a new run: its place in the history and its pointer by id.
pub async fn create(records: &dyn Records, run: &Run) -> PortResult<()> {
    let pointer = serde_json::to_value(RunPointer {
        tenant: run.tenant.clone(),
        connection: run.connection.clone(),
        key: run.key.clone(),
    })
    .map_err(corrupt)?;
    records
        .put(
            &crate::keys::partition::run_index(&run.id),
            &run.id,
            run.created_at.timestamp_millis(),
            &pointer,
        )
        .await?;
    save(records, run).await
}

/// Updates a created run.
pub async fn save(records: &dyn Records, run: &Run) -> PortResult<()> {
    let value = serde_json::to_value(run).map_err(corrupt)?;
    records
        .put(
            &crate::keys::partition::runs(&run.connection),
            &run.key,
            Utc::now().timestamp_millis(),
            &value,
        )
        .await
}

/// A run by id, if it belongs to `tenant`.
pub async fn get(records: &dyn Records, tenant: &TenantId, id: &str) -> PortResult<Option<Run>> {
    let sharded = records
        .fetch(&crate::keys::partition::run_index(id), id)
        .await?;
    let pointer = match sharded {
        Some(p) => Some(p),
        // Runs created before the index was sharded.
        None => records.fetch(crate::keys::partition::RUN_INDEX, id).await?,
    };
    let Some(pointer) = pointer else {
        return Ok(None);
    };
    let pointer: RunPointer = serde_json::from_value(pointer.value).map_err(corrupt)?;
    if &pointer.tenant != tenant {
        return Ok(None);
    }
    match records
        .fetch(
            &crate::keys::partition::runs(&pointer.connection),
            &pointer.key,
        )
        .await?
    {
        Some(r) => Ok(Some(serde_json::from_value(r.value).map_err(corrupt)?)),
        None => Ok(None),
    }
}

/// A connection's runs, newest first; `before` continues a listing.
pub async fn list(
    records: &dyn Records,
    connection: &ConnectionId,
    after: Option<&str>,
    limit: usize,
) -> PortResult<(Vec<Run>, Option<String>)> {
    let page = records
        .page(&crate::keys::partition::runs(connection), "", after, limit)
        .await?;
    let runs = page
        .records
        .into_iter()
        .map(|r| serde_json::from_value(r.value).map_err(corrupt))
        .collect::<PortResult<Vec<Run>>>()?;
    Ok((runs, page.next))
}

/// Runs kept per connection; older ones are pruned by the daily fan-out.
pub const KEEP_RUNS: usize = 1000;

/// Removes a connection's runs beyond the newest `keep` (history, pointer, failures).
/// Returns how many were removed.
pub async fn prune(
    records: &dyn Records,
    connection: &ConnectionId,
    keep: usize,
) -> PortResult<usize> {
    let partition = crate::keys::partition::runs(connection);
    let mut after: Option<String> = None;
    let mut seen = 0usize;
    let mut removed = 0usize;
    loop {
        let page = records.page(&partition, "", after.as_deref(), 500).await?;
        for record in &page.records {
            seen += 1;
            if seen <= keep {
                continue;
            }
            if let Ok(run) = serde_json::from_value::<Run>(record.value.clone()) {
                let listed = records
                    .page(
                        &crate::keys::partition::run_failures(&run.id),
                        "",
                        None,
                        MAX_LISTED_FAILURES,
                    )
                    .await?;
                for failure in listed.records {
                    records
                        .remove(&crate::keys::partition::run_failures(&run.id), &failure.key)
                        .await?;
                }
                records
                    .remove(&crate::keys::partition::run_index(&run.id), &run.id)
                    .await?;
                records
                    .remove(crate::keys::partition::RUN_INDEX, &run.id)
                    .await?;
            }
            records.remove(&partition, &record.key).await?;
            removed += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(removed),
        }
    }
}

/// Records a SKU's failure (the listing is capped; `run.failed` counts them all).
pub async fn record_failure(
    records: &dyn Records,
    run: &mut Run,
    failure: SkuFailure,
) -> PortResult<()> {
    run.failed += 1;
    if run.failed as usize <= MAX_LISTED_FAILURES {
        let value = serde_json::to_value(&failure).map_err(corrupt)?;
        records
            .put(
                &crate::keys::partition::run_failures(&run.id),
                failure.sku.as_str(),
                0,
                &value,
            )
            .await?;
    }
    Ok(())
}

/// A run's listed failures, in SKU order.
pub async fn failures_of(records: &dyn Records, run: &str) -> PortResult<Vec<SkuFailure>> {
    let page = records
        .page(
            &crate::keys::partition::run_failures(run),
            "",
            None,
            MAX_LISTED_FAILURES,
        )
        .await?;
    page.records
        .into_iter()
        .map(|r| serde_json::from_value(r.value).map_err(corrupt))
        .collect()
}

/// The run in progress or queued of `kind` for a connection, if any (newest runs first, so
/// only the most recent few are read).
pub async fn active(
    records: &dyn Records,
    connection: &ConnectionId,
    kinds: &[RunKind],
) -> PortResult<Option<Run>> {
    let (runs, _) = list(records, connection, None, 20).await?;
    Ok(runs
        .into_iter()
        .find(|r| kinds.contains(&r.kind) && !r.state.finished()))
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn history_is_newest_first_tenant_scoped_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::embedded::EmbeddedStore::open(dir.path()).unwrap();
        let tenant = TenantId::parse("dev").unwrap();
        let connection = ConnectionId::parse("c_runs").unwrap();
        let mut ids = Vec::new();
        for _ in 0..5 {
            let mut run = Run::new(tenant.clone(), connection.clone(), RunKind::Live, false);
            create(&store, &run).await.unwrap();
            record_failure(
                &store,
                &mut run,
                SkuFailure {
                    sku: Sku::parse("A").unwrap(),
                    code: "x".into(),
                    reason: "y".into(),
                },
            )
            .await
            .unwrap();
            ids.push(run.id.clone());
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let (listed, _) = list(&store, &connection, None, 10).await.unwrap();
        let listed: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
        let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
        assert_eq!(listed, newest_first);
        let other = TenantId::parse("other").unwrap();
        assert_eq!(get(&store, &other, &ids[0]).await.unwrap(), None);
        assert_eq!(prune(&store, &connection, 2).await.unwrap(), 3);
        let (left, _) = list(&store, &connection, None, 10).await.unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(get(&store, &tenant, &ids[0]).await.unwrap(), None);
        assert!(failures_of(&store, &ids[0]).await.unwrap().is_empty());
        assert!(get(&store, &tenant, &ids[4]).await.unwrap().is_some());
    }

    /// Issue 22: the run index is sharded; a run whose pointer an earlier version wrote to
    /// the single `run-index` partition is still found, and pruned from there.
    #[tokio::test]
    async fn runs_indexed_before_the_sharding_are_still_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::embedded::EmbeddedStore::open(dir.path()).unwrap();
        let tenant = TenantId::parse("dev").unwrap();
        let connection = ConnectionId::parse("c_legacy").unwrap();
        let run = Run::new(tenant.clone(), connection.clone(), RunKind::Daily, false);
        create(&store, &run).await.unwrap();
        let sharded = crate::keys::partition::run_index(&run.id);
        assert!(sharded.starts_with("run-index#"));
        let pointer = store.fetch(&sharded, &run.id).await.unwrap().unwrap();
        // As an earlier version stored it.
        store.remove(&sharded, &run.id).await.unwrap();
        store
            .put(
                crate::keys::partition::RUN_INDEX,
                &run.id,
                pointer.version,
                &pointer.value,
            )
            .await
            .unwrap();
        assert_eq!(
            get(&store, &tenant, &run.id).await.unwrap().unwrap().id,
            run.id
        );
        let newer = Run::new(tenant.clone(), connection.clone(), RunKind::Daily, false);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        create(&store, &newer).await.unwrap();
        assert_eq!(prune(&store, &connection, 1).await.unwrap(), 1);
        assert_eq!(get(&store, &tenant, &run.id).await.unwrap(), None);
        assert!(store
            .fetch(crate::keys::partition::RUN_INDEX, &run.id)
            .await
            .unwrap()
            .is_none());
    }
}
