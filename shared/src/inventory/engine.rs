//! The inventory engine's moving parts: the `stock-events` consumer (WMS stock and products),
//! the Live trigger (coalescing), and the `inventory-push` consumer (one pusher per
//! connection: Live batches and chunked full pushes).
//!
//! **Coalescing.** A stock change marks the SKU dirty for every Live connection of the tenant
//! (`dirty#{connection}`, one record per SKU, so a burst of changes to one SKU is one record)
//! and sends a `push.live` message for the connection's current window (deduplicated per
//! connection and window). The pusher waits for the window's end, reads every dirty SKU, adds
//! every bundle containing one, and pushes the latest quantities in batches of the channel's
//! maximum. A dirty record is removed only if it was not re-marked meanwhile.
//!
//! **One pusher per connection.** `inventory-push` is a FIFO queue with the connection as
//! message group (AWS), and every push holds the lease `push-lock#{connection}`; a message that
//! finds it held is retried later.
//!
//! **Never re-sell sold stock.** See `docs/architecture.md` ("Oversell guard"): reservations for
//! imported orders the WMS has not applied, a per-connection model of the channel's quantity
//! that imported orders decrement, and a compare-and-set (`changeFromQuantity`) on every write
//! with a settle period after the channel moved unexpectedly.

use super::bundles::Component;
use super::channel::{ChannelInventory, ItemResult, PushError, PushItem};
use super::plan::{listed_quantity, ListingRules};
use super::runs::{self, PlannedQuantity, Run, RunKind, SkuFailure};
use super::skumap::{self, SkuMapEntry};
use super::stock;
use crate::domain::{Connection, ConnectionId, ConnectionStatus, Sku, SyncMode, TenantId};
use crate::failure::{dead_letter, Disposition};
use crate::messages::{WmsInbound, VERSION};
use crate::ports::{
    Claim, Connections, Idempotency, OutMessage, PortError, PortResult, Queue, Records,
    MAX_FETCH_MANY,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// SKUs per full-push message: a chunk is a handful of channel calls, far from Lambda's
/// 15-minute limit even when the channel throttles.
pub const FULL_CHUNK: usize = 1000;
/// Dirty SKUs per Live message; more are continued by another message.
pub const LIVE_CHUNK: usize = 5000;
/// How long one push holds a connection.
const PUSH_LEASE: Duration = Duration::from_secs(14 * 60);

/// Engine timings.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// The Live coalescing window.
    pub window: Duration,
    /// After the channel's quantity moved unexpectedly, how long to wait (for the order that
    /// probably moved it to be imported) before overwriting.
    pub settle: Duration,
    /// SKUs per full-push message ([`FULL_CHUNK`]).
    pub full_chunk: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(2),
            settle: Duration::from_secs(15 * 60),
            full_chunk: FULL_CHUNK,
        }
    }
}

/// `inventory-push` messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PushMessage {
    /// Push the connection's dirty SKUs once `window_end` has passed.
    #[serde(rename = "push.live")]
    Live {
        v: u32,
        tenant: TenantId,
        connection: ConnectionId,
        window_end: DateTime<Utc>,
    },
    /// One chunk of a full push: the mapped SKUs after `after`.
    #[serde(rename = "push.full")]
    Full {
        v: u32,
        tenant: TenantId,
        connection: ConnectionId,
        run: String,
        #[serde(default)]
        after: Option<String>,
    },
}

/// What we believe the channel holds for a SKU: what we last wrote, minus what its orders
/// took since. `stale_since`: when a write found the channel holding something else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelQuantity {
    pub quantity: i64,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<DateTime<Utc>>,
}

/// The per-connection listing rules from its settings.
pub fn rules(connection: &Connection) -> ListingRules {
    ListingRules {
        buffer: connection.settings.safety_buffer,
        cap: connection.settings.max_listed,
    }
}

fn corrupt(e: impl std::fmt::Display) -> PortError {
    PortError::Corrupt(e.to_string())
}

/// Sends the message for a connection (FIFO group: the connection).
async fn send(queue: &dyn Queue, message: &PushMessage, dedup: String) -> PortResult<()> {
    let (tenant, connection) = match message {
        PushMessage::Live {
            tenant, connection, ..
        }
        | PushMessage::Full {
            tenant, connection, ..
        } => (tenant, connection),
    };
    queue
        .send(OutMessage {
            body: serde_json::to_string(message).map_err(corrupt)?,
            dedup_id: Some(hex::encode(Sha256::digest(dedup.as_bytes()))),
            group_id: Some(connection.to_string()),
            tenant: Some(tenant.clone()),
        })
        .await
}

/// Marks SKUs changed for every Live connection of a tenant and wakes their pushers.
pub struct LiveTrigger {
    pub connections: Arc<dyn Connections>,
    pub records: Arc<dyn Records>,
    pub push_queue: Arc<dyn Queue>,
    pub settings: EngineSettings,
}

impl LiveTrigger {
    /// Marks `skus` dirty for the tenant's active Live connections.
    pub async fn changed(&self, tenant: &TenantId, skus: &[Sku]) -> PortResult<usize> {
        if skus.is_empty() {
            return Ok(0);
        }
        let live: Vec<Connection> = self
            .connections
            .list(tenant)
            .await?
            .into_iter()
            .filter(|c| {
                c.status == ConnectionStatus::Active && c.settings.inventory_sync == SyncMode::Live
            })
            .collect();
        let now = Utc::now().timestamp_millis();
        let window = self.settings.window.as_millis().max(1) as i64;
        let window_end = (now / window + 1) * window;
        for connection in &live {
            let partition = crate::keys::partition::dirty(&connection.id);
            for sku in skus {
                self.records
                    .put(&partition, sku.as_str(), now, &serde_json::Value::Null)
                    .await?;
            }
            // After the marks: a pusher that starts at the window's end sees them.
            let message = PushMessage::Live {
                v: VERSION,
                tenant: tenant.clone(),
                connection: connection.id.clone(),
                window_end: DateTime::from_timestamp_millis(window_end).unwrap_or_default(),
            };
            send(
                &*self.push_queue,
                &message,
                format!("live#{}#{window_end}", connection.id),
            )
            .await?;
        }
        Ok(live.len())
    }

    /// An order was imported: its units are reserved until the WMS applies it, the channel it
    /// came from holds that many fewer, and Live connections get the lower quantity.
    ///
    /// Once per order key, however often the import is retried (a failure between this and
    /// the order key's `complete` redelivers it): a marker `imported#{connection}` / order key
    /// is written conditionally (first writer only) *before* the model is lowered, and a
    /// retry that finds it neither reserves again (the WMS may have applied the order and
    /// released the reservation meanwhile) nor lowers again. A crash between the marker and
    /// the lowering leaves the model too high, never too low: at worst a push is sent that
    /// was not needed, or skipped while the channel shows fewer units than exist; never more.
    /// [`LiveTrigger::import_recorded`] removes the marker once the order key is complete.
    pub async fn order_imported(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        order_key: &str,
        lines: &[(Sku, u32)],
        channel_updated_at: DateTime<Utc>,
    ) -> PortResult<()> {
        let applied = crate::keys::partition::imported(connection);
        if self.records.fetch(&applied, order_key).await?.is_some() {
            tracing::info!("import already applied to the inventory records: not again");
            return Ok(());
        }
        // Reserving is an overwrite per (order, SKU): repeating it before the marker is safe.
        stock::reserve(&*self.records, tenant, order_key, lines, Utc::now()).await?;
        let marker = serde_json::json!({ "channel_updated_at": channel_updated_at });
        if !self
            .records
            .put_if_newer(&applied, order_key, 0, &marker)
            .await?
        {
            // Another attempt got there first; it lowers the model.
            return Ok(());
        }
        let partition = crate::keys::partition::pushed(connection);
        for (sku, quantity) in lines {
            if let Some(record) = self.records.fetch(&partition, sku.as_str()).await? {
                let mut model: ChannelQuantity =
                    serde_json::from_value(record.value).map_err(corrupt)?;
                model.quantity -= i64::from(*quantity);
                let value = serde_json::to_value(&model).map_err(corrupt)?;
                self.records
                    .put(&partition, sku.as_str(), record.version + 1, &value)
                    .await?;
            }
        }
        let skus: Vec<Sku> = lines.iter().map(|(s, _)| s.clone()).collect();
        self.changed(tenant, &skus).await.map(|_| ())
    }

    /// The order key's record is complete (the WMS has the order and no redelivery can import
    /// it again): the marker of [`LiveTrigger::order_imported`] is no longer needed.
    pub async fn import_recorded(
        &self,
        connection: &ConnectionId,
        order_key: &str,
    ) -> PortResult<()> {
        let applied = crate::keys::partition::imported(connection);
        self.records.remove(&applied, order_key).await
    }

    /// An order was cancelled on its channel: its reservation no longer holds.
    pub async fn order_cancelled(&self, tenant: &TenantId, order_key: &str) -> PortResult<()> {
        let released = stock::release(&*self.records, tenant, order_key).await?;
        self.changed(tenant, &released).await.map(|_| ())
    }
}

/// Starts a full push: records the run and queues its first chunk.
pub async fn start_full(
    records: &dyn Records,
    push_queue: &dyn Queue,
    connection: &Connection,
    kind: RunKind,
    dry_run: bool,
) -> PortResult<Run> {
    let run = Run::new(
        connection.tenant.clone(),
        connection.id.clone(),
        kind,
        dry_run,
    );
    runs::create(records, &run).await?;
    let message = PushMessage::Full {
        v: VERSION,
        tenant: connection.tenant.clone(),
        connection: connection.id.clone(),
        run: run.id.clone(),
        after: None,
    };
    send(push_queue, &message, format!("full#{}#", run.id)).await?;
    Ok(run)
}

/// The daily fan-out: a full push run for every active connection whose inventory sync is
/// Daily or Live (each run is chunked through `inventory-push`). A connection already running
/// a full push is skipped. Every connection's run history is pruned to [`runs::KEEP_RUNS`].
pub async fn start_daily(
    connections: &dyn Connections,
    records: &dyn Records,
    push_queue: &dyn Queue,
) -> PortResult<Vec<Run>> {
    let mut started = Vec::new();
    for connection in connections.list_all().await? {
        let pruned = runs::prune(records, &connection.id, runs::KEEP_RUNS).await?;
        if pruned > 0 {
            tracing::info!(connection = %connection.id, pruned, "old runs pruned");
        }
        if connection.status != ConnectionStatus::Active
            || connection.settings.inventory_sync == SyncMode::Disabled
        {
            continue;
        }
        let full = [RunKind::Daily, RunKind::SyncNow, RunKind::Enabled];
        if runs::active(records, &connection.id, &full)
            .await?
            .is_some()
        {
            continue;
        }
        started.push(start_full(records, push_queue, &connection, RunKind::Daily, false).await?);
    }
    Ok(started)
}

// ---------------------------------------------------------------------------------------------
// stock-events

/// What the `stock-events` consumer needs.
pub struct StockDeps {
    pub records: Arc<dyn Records>,
    pub live: Arc<LiveTrigger>,
    pub dead_letter: Arc<dyn Queue>,
}

/// Handles one `stock-events` message (a WMS `stock.changed` or `product.upserted`).
pub async fn handle_stock(deps: Arc<StockDeps>, body: String) -> Disposition {
    let message: WmsInbound = match serde_json::from_str(&body) {
        Ok(m) => m,
        Err(e) => {
            let reason = format!("not a WMS message: {e}");
            return dead_letter(&*deps.dead_letter, "stock-events", &body, reason).await;
        }
    };
    match stock_message(&deps, message).await {
        Ok(outcome) => Disposition::Done(outcome),
        Err(e) => Disposition::Retry(e.to_string()),
    }
}

async fn stock_message(deps: &StockDeps, message: WmsInbound) -> PortResult<String> {
    match message {
        WmsInbound::StockChanged {
            tenant,
            sku,
            available,
            at,
            orders,
            ..
        } => {
            let level = stock::StockLevel { available, at };
            let newest = stock::apply_stock(&*deps.records, &tenant, &sku, &level).await?;
            let mut changed = Vec::new();
            if newest {
                changed.push(sku.clone());
            }
            // The WMS applied these orders: their units are in its stock now.
            for order in &orders {
                let key =
                    crate::keys::order(order.channel, &order.shop, order.channel_order_id.as_str());
                changed.extend(stock::release(&*deps.records, &tenant, &key).await?);
            }
            changed.sort();
            changed.dedup();
            let live = deps.live.changed(&tenant, &changed).await?;
            Ok(if newest {
                format!("stock of {sku} is {available}; {live} Live connection(s) notified")
            } else {
                format!("stale stock level for {sku} ignored")
            })
        }
        WmsInbound::ProductUpserted {
            tenant,
            sku,
            name,
            components,
            ..
        } => {
            let components = components.map(|list| {
                list.into_iter()
                    .map(|c| Component {
                        sku: c.sku,
                        quantity: c.quantity,
                    })
                    .collect()
            });
            let up =
                stock::upsert_product(&*deps.records, &tenant, &sku, &name, components).await?;
            if let Some(problem) = &up.problem {
                tracing::warn!(tenant = %tenant, sku = %sku, problem = %problem, "bundle definition refused");
            }
            if up.bundle_changed {
                deps.live
                    .changed(&tenant, std::slice::from_ref(&sku))
                    .await?;
            }
            Ok(match up.problem {
                Some(p) => format!("product {sku} stored; bundle refused: {p}"),
                None => format!("product {sku} stored"),
            })
        }
        WmsInbound::ShipmentDispatched { .. } => Ok("not a stock message".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// inventory-push

/// What the `inventory-push` consumer needs.
pub struct PushDeps {
    pub connections: Arc<dyn Connections>,
    pub records: Arc<dyn Records>,
    pub idempotency: Arc<dyn Idempotency>,
    pub channels: Arc<dyn ChannelInventory>,
    pub push_queue: Arc<dyn Queue>,
    /// Refreshes a connection's SKU map before its first full push (none yet).
    pub products: Option<Arc<dyn skumap::Catalog>>,
    pub settings: EngineSettings,
}

/// Handles one `inventory-push` message.
pub async fn handle_push(deps: Arc<PushDeps>, body: String) -> Disposition {
    let message: PushMessage = match serde_json::from_str(&body) {
        Ok(m) => m,
        // Only we write this queue: an unreadable message is a bug, not worth retrying.
        Err(e) => {
            tracing::error!(error = %e, "unreadable inventory-push message dropped");
            return Disposition::Done(format!("unreadable: {e}"));
        }
    };
    let result = match message {
        PushMessage::Live {
            tenant,
            connection,
            window_end,
            ..
        } => live(&deps, &tenant, &connection, window_end).await,
        PushMessage::Full {
            tenant,
            connection,
            run,
            after,
            ..
        } => full(&deps, &tenant, &connection, &run, after).await,
    };
    match result {
        Ok(outcome) => Disposition::Done(outcome),
        Err(e) => Disposition::Retry(e),
    }
}

/// Holds `push-lock#{connection}` around `f`.
async fn locked<T>(
    deps: &PushDeps,
    connection: &ConnectionId,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let lock = crate::keys::push_lock(connection);
    match deps.idempotency.claim(&lock, PUSH_LEASE).await {
        Ok(Claim::Acquired) => {}
        Ok(_) => return Err("another push holds the connection".into()),
        Err(e) => return Err(e.to_string()),
    }
    let result = f.await;
    if let Err(e) = deps.idempotency.release(&lock).await {
        tracing::warn!(error = %e, "could not release the push lock; it expires by itself");
    }
    result
}

async fn live(
    deps: &PushDeps,
    tenant: &TenantId,
    id: &ConnectionId,
    window_end: DateTime<Utc>,
) -> Result<String, String> {
    let connection = match deps.connections.get(tenant, id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok("the connection no longer exists".into()),
        Err(e) => return Err(e.to_string()),
    };
    if connection.status != ConnectionStatus::Active
        || connection.settings.inventory_sync != SyncMode::Live
    {
        return Ok(format!(
            "no Live push: the connection is {:?} with inventory sync {:?}",
            connection.status, connection.settings.inventory_sync
        ));
    }
    // Coalescing: every change of the window is in the dirty set by its end (plus a margin
    // for clock skew between writers). A message whose window is long past does not wait.
    let margin = chrono::Duration::milliseconds(50);
    let wait = (window_end + margin - Utc::now())
        .to_std()
        .unwrap_or_default()
        .min(deps.settings.window + Duration::from_millis(50));
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    locked(deps, id, live_locked(deps, &connection)).await
}

async fn live_locked(deps: &PushDeps, connection: &Connection) -> Result<String, String> {
    let records = &*deps.records;
    let dirty = records
        .page(
            &crate::keys::partition::dirty(&connection.id),
            "",
            None,
            LIVE_CHUNK,
        )
        .await
        .map_err(|e| e.to_string())?;
    if dirty.records.is_empty() {
        return Ok("nothing to push".into());
    }
    let changed: Vec<Sku> = dirty
        .records
        .iter()
        .filter_map(|r| Sku::parse(r.key.clone()).ok())
        .collect();
    let mut run = Run::new(
        connection.tenant.clone(),
        connection.id.clone(),
        RunKind::Live,
        false,
    );
    run.state = runs::RunState::Running;
    run.started_at = Some(Utc::now());
    let bundles = stock::bundles(records, &connection.tenant)
        .await
        .map_err(|e| e.to_string())?;
    let affected = stock::affected(&changed, &bundles);
    let committed = skumap::committed_generation(&*deps.idempotency, &connection.id)
        .await
        .map_err(|e| e.to_string())?;
    let mapped = skumap::entries_for(records, committed, &connection.id, &affected)
        .await
        .map_err(|e| e.to_string())?;
    run.total = Some(mapped.len() as u64);
    let outcome = push_skus(deps, connection, &mut run, &mapped, &bundles, false).await;
    match outcome {
        Ok(()) => run.finish(None),
        Err(PushError::Retry(e)) => return Err(e),
        Err(e) => run.fail(e.to_string()),
    }
    for record in &dirty.records {
        records
            .remove_if_version(
                &crate::keys::partition::dirty(&connection.id),
                &record.key,
                record.version,
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    if let Some(next) = dirty.next {
        // More dirty SKUs than one message takes: go on at once.
        let message = PushMessage::Live {
            v: VERSION,
            tenant: connection.tenant.clone(),
            connection: connection.id.clone(),
            window_end: Utc::now(),
        };
        send(
            &*deps.push_queue,
            &message,
            format!("live#{}#after#{next}#{}", connection.id, run.id),
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    if run.pushed > 0 || run.failed > 0 {
        runs::create(records, &run)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "live: {} changed, {} pushed, {} unchanged, {} failed, {} call(s)",
        changed.len(),
        run.pushed,
        run.unchanged,
        run.failed,
        run.calls
    ))
}

async fn full(
    deps: &PushDeps,
    tenant: &TenantId,
    id: &ConnectionId,
    run_id: &str,
    after: Option<String>,
) -> Result<String, String> {
    let records = &*deps.records;
    let Some(mut run) = runs::get(records, tenant, run_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(format!("run {run_id} not found"));
    };
    if run.state.finished() {
        return Ok(format!("run {run_id} already finished"));
    }
    let connection = match deps.connections.get(tenant, id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            run.fail("the connection no longer exists");
            runs::save(records, &run).await.map_err(|e| e.to_string())?;
            return Ok("connection gone".into());
        }
        Err(e) => return Err(e.to_string()),
    };
    let refusal = if connection.status != ConnectionStatus::Active {
        Some(format!(
            "the connection is {:?}: nothing is pushed until it is reconnected",
            connection.status
        ))
    } else if connection.settings.inventory_sync == SyncMode::Disabled && !run.dry_run {
        Some("inventory sync is disabled for this connection".to_owned())
    } else {
        None
    };
    if let Some(reason) = refusal {
        run.fail(reason.clone());
        runs::save(records, &run).await.map_err(|e| e.to_string())?;
        return Ok(reason);
    }
    locked(deps, id, full_locked(deps, &connection, run, after)).await
}

async fn full_locked(
    deps: &PushDeps,
    connection: &Connection,
    mut run: Run,
    after: Option<String>,
) -> Result<String, String> {
    let records = &*deps.records;
    let id = &connection.id;
    let mut committed = skumap::committed_generation(&*deps.idempotency, id)
        .await
        .map_err(|e| e.to_string())?;
    if after.is_none() {
        if committed == 0 {
            // No SKU map yet (a new connection): read the store's products first.
            if let Some(products_deps) = &deps.products {
                if let Err(e) = products_deps.refresh(connection).await {
                    tracing::warn!(error = %e, connection = %id, "product import before the first push failed");
                }
                committed = skumap::committed_generation(&*deps.idempotency, id)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        run.state = runs::RunState::Running;
        run.started_at = Some(Utc::now());
        run.total = Some(
            count_mapped(records, id, committed)
                .await
                .map_err(|e| e.to_string())?,
        );
        runs::save(records, &run).await.map_err(|e| e.to_string())?;
    }
    let (entries, next) = skumap::mapped_page(
        records,
        committed,
        id,
        after.as_deref(),
        deps.settings.full_chunk,
    )
    .await
    .map_err(|e| e.to_string())?;
    let bundles = stock::bundles(records, &connection.tenant)
        .await
        .map_err(|e| e.to_string())?;
    let before = run.clone();
    match push_skus(deps, connection, &mut run, &entries, &bundles, true).await {
        Ok(()) => {}
        // Nothing recorded for this chunk: the retry redoes it under the same keys.
        Err(PushError::Retry(e)) => return Err(e),
        Err(e) => {
            let mut failed = before;
            failed.fail(e.to_string());
            runs::save(records, &failed)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(format!("run {} failed: {e}", failed.id));
        }
    }
    match next {
        Some(next) => {
            runs::save(records, &run).await.map_err(|e| e.to_string())?;
            let message = PushMessage::Full {
                v: VERSION,
                tenant: connection.tenant.clone(),
                connection: id.clone(),
                run: run.id.clone(),
                after: Some(next.clone()),
            };
            send(
                &*deps.push_queue,
                &message,
                format!("full#{}#{next}", run.id),
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(format!("run {}: {} done, continued", run.id, run.done))
        }
        None => {
            run.finish(None);
            runs::save(records, &run).await.map_err(|e| e.to_string())?;
            tracing::info!(run = %run.id, connection = %id, pushed = run.pushed, failed = run.failed, calls = run.calls, "full push finished");
            Ok(format!(
                "run {} finished: {} pushed, {} failed",
                run.id, run.pushed, run.failed
            ))
        }
    }
}

/// How many SKUs the current map holds.
async fn count_mapped(records: &dyn Records, id: &ConnectionId, committed: i64) -> PortResult<u64> {
    let mut total = 0u64;
    let mut after: Option<String> = None;
    loop {
        let (entries, next) =
            skumap::mapped_page(records, committed, id, after.as_deref(), 1000).await?;
        total += entries.len() as u64;
        match next {
            Some(n) => after = Some(n),
            None => return Ok(total),
        }
    }
}

/// Plans and pushes `entries` (mapped SKUs) for a connection, updating `run` and the
/// channel model. `full` pushes every SKU (drift correction); otherwise only changes.
async fn push_skus(
    deps: &PushDeps,
    connection: &Connection,
    run: &mut Run,
    entries: &[(Sku, SkuMapEntry)],
    bundles: &HashMap<Sku, Vec<Component>>,
    full: bool,
) -> Result<(), PushError> {
    let records = &*deps.records;
    let retry = |e: PortError| PushError::Retry(e.to_string());
    let skus: Vec<Sku> = entries.iter().map(|(s, _)| s.clone()).collect();
    let reserved = stock::reserved(records, &connection.tenant)
        .await
        .map_err(retry)?;
    let availability = stock::sellable(records, &connection.tenant, &skus, bundles, &reserved)
        .await
        .map_err(retry)?;
    let pushed_partition = crate::keys::partition::pushed(&connection.id);
    let mut models: HashMap<String, (i64, ChannelQuantity)> = HashMap::new();
    for chunk in skus.chunks(MAX_FETCH_MANY) {
        let keys: Vec<String> = chunk.iter().map(|s| s.as_str().to_owned()).collect();
        for record in records
            .fetch_many(&pushed_partition, &keys)
            .await
            .map_err(retry)?
        {
            let model: ChannelQuantity = serde_json::from_value(record.value)
                .map_err(|e| PushError::Retry(e.to_string()))?;
            models.insert(record.key, (record.version, model));
        }
    }
    let rules = rules(connection);
    let now = Utc::now();
    let settle = chrono::Duration::from_std(deps.settings.settle).unwrap_or_default();
    let mut items = Vec::new();
    let mut failures = Vec::new();
    for (sku, entry) in entries {
        run.done += 1;
        if !entry.tracked {
            // The channel keeps no count for it: nothing to push.
            run.unchanged += 1;
            continue;
        }
        let Some(available) = availability.available.get(sku) else {
            let (code, reason) = match availability.problems.get(sku) {
                Some(problem) => ("bundle_problem", problem.to_string()),
                None => (
                    "no_stock_level",
                    "the WMS has sent no stock level for this SKU".to_owned(),
                ),
            };
            failures.push(SkuFailure {
                sku: sku.clone(),
                code: code.into(),
                reason,
            });
            continue;
        };
        let quantity = listed_quantity(*available, rules);
        let model = models.get(sku.as_str()).map(|(_, m)| m);
        let change_from = match model {
            Some(m) => match m.stale_since {
                Some(since) if now - since < settle => {
                    failures.push(SkuFailure {
                        sku: sku.clone(),
                        code: "held".into(),
                        reason: format!(
                            "the channel's quantity changed since our last write (an order not imported yet?): held until {}",
                            (since + settle).to_rfc3339()
                        ),
                    });
                    continue;
                }
                // Settled: whatever moved it has had time to reach us; overwrite.
                Some(_) => None,
                None if !full && m.quantity == quantity => {
                    run.unchanged += 1;
                    continue;
                }
                None => Some(m.quantity),
            },
            None => None,
        };
        items.push(PushItem {
            sku: sku.clone(),
            item: entry.inventory_item_id.clone(),
            quantity,
            change_from,
        });
    }
    if run.dry_run {
        run.pushed += items.len() as u64;
        for item in items.iter().take(20 - run.sample.len().min(20)) {
            run.sample.push(PlannedQuantity {
                sku: item.sku.clone(),
                quantity: item.quantity,
            });
        }
    } else if !items.is_empty() {
        let channel = deps.channels.for_connection(connection).await?;
        let reference = format!("gid://channel-sync/SyncRun/{}", run.id);
        for batch in items.chunks(channel.max_batch().max(1)) {
            let key = batch_key(&run.id, batch);
            run.calls += 1;
            let results = channel.push(&reference, &key, batch).await?;
            for (item, result) in batch.iter().zip(results) {
                let (model, failure) = match result {
                    ItemResult::Set => {
                        run.pushed += 1;
                        (
                            Some(ChannelQuantity {
                                quantity: item.quantity,
                                at: now,
                                stale_since: None,
                            }),
                            None,
                        )
                    }
                    ItemResult::Stale => (
                        Some(ChannelQuantity {
                            quantity: item.change_from.unwrap_or(item.quantity),
                            at: now,
                            stale_since: Some(now),
                        }),
                        Some(SkuFailure {
                            sku: item.sku.clone(),
                            code: "channel_changed".into(),
                            reason: "the channel's quantity changed since our last write (an order not imported yet?): not overwritten; held for the settle period".into(),
                        }),
                    ),
                    ItemResult::Rejected { code, message } => (
                        None,
                        Some(SkuFailure {
                            sku: item.sku.clone(),
                            code,
                            reason: message,
                        }),
                    ),
                };
                if let Some(model) = model {
                    let version = models
                        .get(item.sku.as_str())
                        .map_or(0, |(v, _)| *v)
                        .max(now.timestamp_millis());
                    let value = serde_json::to_value(&model)
                        .map_err(|e| PushError::Retry(e.to_string()))?;
                    records
                        .put(&pushed_partition, item.sku.as_str(), version, &value)
                        .await
                        .map_err(retry)?;
                }
                if let Some(failure) = failure {
                    failures.push(failure);
                }
            }
        }
    }
    for failure in failures {
        runs::record_failure(records, run, failure)
            .await
            .map_err(retry)?;
    }
    Ok(())
}

/// The idempotency key of one batch: the same batch of the same run gets the same key (a
/// retried message replays safely); any other content gets another.
fn batch_key(run: &str, batch: &[PushItem]) -> String {
    let mut hash = Sha256::new();
    hash.update(run.as_bytes());
    for item in batch {
        hash.update(format!("|{}:{}:{:?}", item.item, item.quantity, item.change_from).as_bytes());
    }
    format!("cs-{}", &hex::encode(hash.finalize())[..40])
}

/// A [`LiveTrigger`] on the embedded store, pushing to its `inventory-push` queue.
#[cfg(feature = "embedded")]
pub fn embedded_live_trigger(
    store: &crate::embedded::EmbeddedStore,
    settings: EngineSettings,
) -> Arc<LiveTrigger> {
    Arc::new(LiveTrigger {
        connections: Arc::new(store.clone()),
        records: Arc::new(store.clone()),
        push_queue: Arc::new(store.queue(INVENTORY_PUSH_QUEUE, None, 5)),
        settings,
    })
}

/// The push queue's name in the embedded store.
pub const INVENTORY_PUSH_QUEUE: &str = "inventory-push";

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::channels::shopify::oauth::ShopifyCredentials;
    use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
    use crate::embedded::{EmbeddedQueue, EmbeddedStore};
    use crate::inventory::channel::Channels;
    use crate::runner::drain_batch;
    use serde_json::{json, Value};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    /// A fake Shopify inventory endpoint: refuses the item `…/InventoryItem/666` (a native
    /// bundle parent) and accepts everything else.
    struct FakeInventory;

    impl Respond for FakeInventory {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let rows = body["variables"]["input"]["quantities"].as_array().unwrap();
            let errors: Vec<Value> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r["inventoryItemId"] == "gid://shopify/InventoryItem/666")
                .map(|(i, _)| {
                    json!({"code": "NON_MUTABLE_INVENTORY_ITEM",
                    "field": ["input", "quantities", i.to_string(), "inventoryItemId"],
                    "message": "bundle parents cannot be adjusted"})
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": null, "userErrors": errors}},
                "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
                    "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}}
            }))
        }
    }

    struct World {
        server: MockServer,
        store: EmbeddedStore,
        connection: Connection,
        stock: Arc<StockDeps>,
        push: Arc<PushDeps>,
        queue: EmbeddedQueue,
        _dir: tempfile::TempDir,
    }

    async fn world(mode: SyncMode) -> World {
        let server = MockServer::start().await;
        // The rate limit: the first call is refused with a Retry-After.
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .respond_with(FakeInventory)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let credentials = ShopifyCredentials {
            access_token: "shpat_fake_engine".into(),
            scope: "write_inventory".into(),
            expires_at: None,
            refresh_token: None,
            refresh_expires_at: None,
            via_oauth: false,
        };
        let ShopifyFixture {
            store,
            mut connection,
            channels,
            ..
        } = shopify_fixture(
            dir.path(),
            "c_inv",
            ConnectionStatus::Active,
            &credentials,
            server.uri(),
        )
        .await;
        connection.settings.inventory_sync = mode;
        connection.settings.inventory_location = Some("gid://shopify/Location/1".into());
        store.update(&connection).await.unwrap();
        let settings = EngineSettings {
            window: Duration::from_millis(50),
            settle: Duration::from_secs(900),
            full_chunk: 2,
        };
        let live = embedded_live_trigger(&store, settings);
        let queue = store.queue(INVENTORY_PUSH_QUEUE, None, 5);
        World {
            stock: Arc::new(StockDeps {
                records: Arc::new(store.clone()),
                live: live.clone(),
                dead_letter: Arc::new(store.queue("stock-dlq", None, 5)),
            }),
            push: Arc::new(PushDeps {
                connections: Arc::new(store.clone()),
                records: Arc::new(store.clone()),
                idempotency: Arc::new(store.clone()),
                channels: Arc::new(Channels {
                    registry: channels,
                    records: Arc::new(store.clone()),
                }),
                push_queue: live.push_queue.clone(),
                products: None,
                settings,
            }),
            queue,
            server,
            store,
            connection,
            _dir: dir,
        }
    }

    impl World {
        /// Maps SKU → inventory item number, as a complete product import would.
        async fn map(&self, skus: &[(&str, u32)]) {
            for (sku, item) in skus {
                let entry = SkuMapEntry {
                    inventory_item_id: format!("gid://shopify/InventoryItem/{item}"),
                    variant_id: format!("gid://shopify/ProductVariant/{item}"),
                    product_id: "gid://shopify/Product/1".into(),
                    tracked: true,
                    product_status: "active".into(),
                    generation: 1,
                };
                self.store
                    .put(
                        "skumap#c_inv",
                        sku,
                        1,
                        &serde_json::to_value(entry).unwrap(),
                    )
                    .await
                    .unwrap();
            }
            crate::ports::Idempotency::complete(
                &self.store,
                "products-map#c_inv",
                &json!({"generation": 1}),
                None,
            )
            .await
            .unwrap();
        }

        async fn run(&self, id: &str) -> Run {
            runs::get(&self.store, &self.connection.tenant, id)
                .await
                .unwrap()
                .unwrap()
        }

        async fn wms(&self, message: Value) -> Disposition {
            handle_stock(self.stock.clone(), message.to_string()).await
        }

        async fn stock(&self, sku: &str, available: i64, second: u32) -> Disposition {
            self.wms(json!({"type": "stock.changed", "tenant": "dev", "sku": sku,
                "available": available, "at": format!("2026-11-27T10:00:{second:02}Z")}))
                .await
        }

        /// Runs the pusher until its queue is empty; returns how many messages it handled.
        async fn drain(&self) -> usize {
            let mut handled = 0;
            loop {
                let n = drain_batch(
                    &self.queue,
                    self.push.clone(),
                    handle_push,
                    Duration::from_secs(60),
                    1,
                )
                .await
                .unwrap();
                if n == 0 {
                    return handled;
                }
                handled += n;
            }
        }

        /// The quantities of every inventory call Shopify accepted (not the 429), in order:
        /// `(item number, quantity, changeFrom)`.
        async fn calls(&self) -> Vec<Vec<(String, i64, Value)>> {
            let mut out = Vec::new();
            let mut seen_429 = false;
            for request in self.server.received_requests().await.unwrap() {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let rows: Vec<(String, i64, Value)> = body["variables"]["input"]["quantities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["inventoryItemId"]
                                .as_str()
                                .unwrap()
                                .rsplit('/')
                                .next()
                                .unwrap()
                                .to_owned(),
                            r["quantity"].as_i64().unwrap(),
                            r["changeFromQuantity"].clone(),
                        )
                    })
                    .collect();
                if !seen_429 {
                    // The first request was answered 429 and is retried with the same body.
                    seen_429 = true;
                    continue;
                }
                out.push(rows);
            }
            out
        }
    }

    fn row(item: &str, quantity: i64, change_from: Value) -> (String, i64, Value) {
        (item.to_owned(), quantity, change_from)
    }

    #[tokio::test]
    async fn a_live_burst_is_one_call_bundles_follow_and_sold_stock_is_never_relisted() {
        let w = world(SyncMode::Live).await;
        w.map(&[("TS-001", 1001), ("TS-001-X3", 1003)]).await;
        w.wms(
            json!({"type": "product.upserted", "tenant": "dev", "sku": "TS-001-X3",
            "name": "Tee 3-pack", "components": [{"sku": "TS-001", "quantity": 3}]}),
        )
        .await;
        // A burst: 40 changes of one SKU, then a late, older event that must not win.
        for i in 1..=40 {
            w.stock("TS-001", 100 - i, 10 + i as u32).await;
        }
        w.stock("TS-001", 12, 51).await;
        assert_eq!(
            w.stock("TS-001", 99, 5).await,
            Disposition::Done("stale stock level for TS-001 ignored".into())
        );
        w.drain().await;
        // One call (after the rate limit's retry) with the latest value and the bundle's.
        assert_eq!(
            w.calls().await,
            [vec![
                row("1001", 12, Value::Null),
                row("1003", 4, Value::Null)
            ]]
        );
        let (history, _) = runs::list(&w.store, &w.connection.id, None, 10)
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].kind, history[0].pushed, history[0].calls),
            (RunKind::Live, 2, 1)
        );

        // An order for 2 × TS-001 is imported from this store: the WMS has not applied it.
        w.stock
            .live
            .order_imported(
                &w.connection.tenant,
                &w.connection.id,
                "order#shopify#demo.myshopify.com#1",
                &[(Sku::parse("TS-001").unwrap(), 2)],
                "2026-11-27T10:00:00Z".parse().unwrap(),
            )
            .await
            .unwrap();
        w.drain().await;
        // The store already took the 2 units off TS-001 itself: only the bundle moves, by
        // compare-and-set against what we wrote.
        assert_eq!(w.calls().await[1..], [vec![row("1003", 3, json!(4))]]);
        // A full push while the order is still unapplied offers 10, not the WMS's 12.
        let run = start_full(
            &w.store,
            &*w.push.push_queue,
            &w.connection,
            RunKind::SyncNow,
            false,
        )
        .await
        .unwrap();
        w.drain().await;
        assert_eq!(
            w.calls().await[2..],
            [vec![row("1001", 10, json!(10)), row("1003", 3, json!(3))]]
        );
        let run = w.run(&run.id).await;
        assert_eq!(run.state, runs::RunState::Succeeded);
        assert_eq!((run.total, run.done, run.pushed), (Some(2), 2, 2));
        // The WMS applies the order (and says so): 10 left, nothing to push.
        w.wms(
            json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001", "available": 10,
            "at": "2026-11-27T10:01:00Z", "orders": [{"channel": "shopify",
            "shop": "demo.myshopify.com", "channel_order_id": "1"}]}),
        )
        .await;
        w.drain().await;
        assert_eq!(w.calls().await.len(), 3);
        assert!(stock::reserved(&w.store, &w.connection.tenant)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn the_daily_fan_out_starts_one_run_per_pushing_connection() {
        let w = world(SyncMode::Daily).await;
        let mut others = Vec::new();
        for (id, mode, status) in [
            ("c_live", SyncMode::Live, ConnectionStatus::Active),
            ("c_off", SyncMode::Disabled, ConnectionStatus::Active),
            ("c_reauth", SyncMode::Daily, ConnectionStatus::NeedsReauth),
        ] {
            let mut c = w.connection.clone();
            c.id = ConnectionId::parse(id).unwrap();
            c.shop = format!("{id}.myshopify.com").replace('_', "-");
            c.settings.inventory_sync = mode;
            c.status = status;
            w.store.create(&c).await.unwrap();
            others.push(c);
        }
        let started = start_daily(&w.store, &w.store, &*w.push.push_queue)
            .await
            .unwrap();
        let mut got: Vec<(String, RunKind)> = started
            .iter()
            .map(|r| (r.connection.to_string(), r.kind))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                ("c_inv".to_owned(), RunKind::Daily),
                ("c_live".to_owned(), RunKind::Daily)
            ]
        );
        // Still queued: a second fan-out does not start them twice.
        let again = start_daily(&w.store, &w.store, &*w.push.push_queue)
            .await
            .unwrap();
        assert!(again.is_empty());
    }

    #[tokio::test]
    async fn sync_now_runs_in_chunks_reports_failures_and_respects_modes() {
        let w = world(SyncMode::Daily).await;
        w.map(&[("A", 1), ("B", 2), ("C", 666), ("D", 4), ("E", 5)])
            .await;
        for (i, sku) in ["A", "B", "C", "D"].iter().enumerate() {
            w.stock(sku, 5 + i as i64, 1).await;
        }
        // Daily: a stock change pushes nothing by itself.
        assert_eq!(w.drain().await, 0);
        let run = start_full(
            &w.store,
            &*w.push.push_queue,
            &w.connection,
            RunKind::SyncNow,
            false,
        )
        .await
        .unwrap();
        assert_eq!(run.state, runs::RunState::Queued);
        // Three chunks of two SKUs.
        assert_eq!(w.drain().await, 3);
        let run = w.run(&run.id).await;
        assert_eq!(run.state, runs::RunState::CompletedWithFailures);
        assert_eq!(
            (run.total, run.done, run.pushed, run.failed, run.calls),
            (Some(5), 5, 3, 2, 2)
        );
        let failures: Vec<(String, String)> = runs::failures_of(&w.store, &run.id)
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.sku.to_string(), f.code))
            .collect();
        assert_eq!(
            failures,
            [
                ("C".to_owned(), "NON_MUTABLE_INVENTORY_ITEM".to_owned()),
                ("E".to_owned(), "no_stock_level".to_owned())
            ]
        );
        // The refused bundle parent did not block D: resubmitted alone.
        let calls = w.calls().await;
        assert_eq!(
            calls[0],
            [row("1", 5, Value::Null), row("2", 6, Value::Null)]
        );
        assert_eq!(
            calls[1],
            [row("666", 7, Value::Null), row("4", 8, Value::Null)]
        );
        assert_eq!(calls[2], [row("4", 8, Value::Null)]);
        assert_eq!(calls.len(), 3);

        // Disabled: a full push is refused with a reason, nothing reaches Shopify.
        let mut disabled = w.connection.clone();
        disabled.settings.inventory_sync = SyncMode::Disabled;
        w.store.update(&disabled).await.unwrap();
        let run = start_full(
            &w.store,
            &*w.push.push_queue,
            &disabled,
            RunKind::SyncNow,
            false,
        )
        .await
        .unwrap();
        w.drain().await;
        let run = w.run(&run.id).await;
        assert_eq!(run.state, runs::RunState::Failed);
        assert_eq!(
            run.message.as_deref(),
            Some("inventory sync is disabled for this connection")
        );
        // A dry run still plans.
        let dry = start_full(
            &w.store,
            &*w.push.push_queue,
            &disabled,
            RunKind::SyncNow,
            true,
        )
        .await
        .unwrap();
        w.drain().await;
        let dry = w.run(&dry.id).await;
        assert_eq!(
            (dry.state, dry.pushed, dry.calls),
            (runs::RunState::CompletedWithFailures, 4, 0)
        );
        // Disconnected: refused too.
        let mut gone = disabled.clone();
        gone.settings.inventory_sync = SyncMode::Live;
        gone.status = ConnectionStatus::Disconnected;
        w.store.update(&gone).await.unwrap();
        w.stock("A", 50, 30).await;
        let run = start_full(
            &w.store,
            &*w.push.push_queue,
            &gone,
            RunKind::SyncNow,
            false,
        )
        .await
        .unwrap();
        w.drain().await;
        let run = w.run(&run.id).await;
        assert_eq!(run.state, runs::RunState::Failed);
        assert_eq!(
            w.calls().await.len(),
            3,
            "no call after Disabled / disconnected"
        );
    }
}
