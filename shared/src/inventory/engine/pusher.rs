//! The `inventory-push` consumer: one pusher per connection under its lease, Live batches and
//! chunked full pushes, each planned, batched to the channel's maximum, written and recorded.

use super::*;
use serde_json::Value;

/// What the `inventory-push` consumer needs.
pub struct PushDeps {
    pub connections: Arc<dyn Connections>,
    pub records: Arc<dyn Records>,
    pub idempotency: Arc<dyn Idempotency>,
    /// Small named values: the SKU map's committed generation, last runs.
    pub values: Arc<dyn crate::ports::KeyValue>,
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
    let fence = match deps.idempotency.claim(&lock, PUSH_LEASE).await {
        Ok(Claim::Acquired(fence)) => fence,
        Ok(_) => return Err("another push holds the connection".into()),
        Err(e) => return Err(e.to_string()),
    };
    let result = f.await;
    if let Err(e) = deps.idempotency.release(&lock, &fence).await {
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
    let committed = skumap::committed_generation(&*deps.values, &connection.id)
        .await
        .map_err(|e| e.to_string())?;
    let mapped = skumap::entries_for(records, committed, &connection.id, &affected)
        .await
        .map_err(|e| e.to_string())?;
    run.total = Some(mapped.len() as u64);
    let outcome = push_skus(deps, connection, &mut run, &mapped, &bundles, false).await;
    let mut held = Vec::new();
    match outcome {
        Ok(settling) => {
            held = settling;
            run.finish(None)
        }
        Err(PushError::Retry(e)) => {
            // Visible on the run history, though the message is retried (bounded by the
            // queue's receives); the dirty marks stay for the retry.
            run.fail(format!("will be retried: {e}"));
            if let Err(record) = runs::create(records, &run).await {
                tracing::warn!(error = %record, "could not record the failed Live push");
            }
            return Err(e);
        }
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
    if !held.is_empty() {
        // Held for the settle period: marked dirty again (after the removals above), so that
        // once the period is over the SKU is pushed even if nothing else changes (the
        // reconciliation poll wakes the pusher of old marks: `wake_stale_live`).
        let now = Utc::now().timestamp_millis();
        let marks: Vec<(String, i64, serde_json::Value)> = held
            .iter()
            .map(|sku| (sku.as_str().to_owned(), now, serde_json::Value::Null))
            .collect();
        records
            .put_many(&crate::keys::partition::dirty(&connection.id), &marks)
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
    let mut committed = skumap::committed_generation(&*deps.values, id)
        .await
        .map_err(|e| e.to_string())?;
    if after.is_none() {
        if committed == 0 {
            // No SKU map yet (a new connection): read the store's products first.
            if let Some(products_deps) = &deps.products {
                if let Err(e) = products_deps.refresh(connection).await {
                    tracing::warn!(error = %e, connection = %id, "product import before the first push failed");
                }
                committed = skumap::committed_generation(&*deps.values, id)
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
    match push_skus(deps, connection, &mut run, &entries, &bundles, true)
        .await
        .map(|_held| ())
    {
        Ok(()) => {}
        // Nothing counted for this chunk: the retry redoes it under the same keys. The run
        // says why it is waiting.
        Err(PushError::Retry(e)) => {
            let mut retrying = before;
            retrying.message = Some(format!("a chunk will be retried: {e}"));
            if let Err(record) = runs::save(records, &retrying).await {
                tracing::warn!(error = %record, "could not record the retried chunk");
            }
            return Err(e);
        }
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
) -> Result<Vec<Sku>, PushError> {
    let records = &*deps.records;
    let retry = |e: PortError| PushError::Retry(e.to_string());
    if !run.dry_run {
        // Settle what an earlier attempt left unanswered before reading the models.
        replay_unanswered(deps, connection, run).await?;
    }
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
    let now = Utc::now();
    let settle = chrono::Duration::from_std(deps.settings.settle).unwrap_or_default();
    let planned = plan(
        entries,
        &availability,
        &models,
        Planning {
            rules: rules(connection),
            now,
            settle,
            full,
        },
    );
    run.done += planned.considered;
    run.unchanged += planned.unchanged;
    let (items, mut failures) = (planned.items, planned.failures);
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
        let unanswered = crate::keys::partition::push_unanswered(&connection.id);
        for batch in items.chunks(channel.max_batch().max(1)) {
            let key = batch_key(&run.id, batch);
            run.calls += 1;
            // Written before the call, removed once the answer is in: a timeout (the channel
            // may have applied the batch) leaves it for `replay_unanswered`.
            let pending = Unanswered::of(&reference, batch);
            records
                .put(&unanswered, &key, now.timestamp_millis(), &pending)
                .await
                .map_err(retry)?;
            let results = match channel.push(&reference, &key, batch).await {
                Ok(results) => results,
                Err(PushError::Retry(e)) => return Err(PushError::Retry(e)),
                Err(e) => {
                    // A definite refusal: nothing was applied.
                    records.remove(&unanswered, &key).await.map_err(retry)?;
                    return Err(e);
                }
            };
            for (item, result) in batch.iter().zip(results) {
                if matches!(result, ItemResult::Set) {
                    run.pushed += 1;
                }
                let (model, failure) = outcome(item, result, now);
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
            records.remove(&unanswered, &key).await.map_err(retry)?;
        }
    }
    let mut held = Vec::new();
    for failure in failures {
        if SETTLING.contains(&failure.code.as_str()) {
            held.push(failure.sku.clone());
        }
        runs::record_failure(records, run, failure)
            .await
            .map_err(retry)?;
    }
    Ok(held)
}

/// The failure codes of a SKU not written because the channel's quantity moved and is
/// settling: it is to be written once the settle period is over.
const SETTLING: [&str; 2] = ["held", "channel_changed"];

/// A batch sent without a definite answer yet (`push-unanswered#{connection}`, by its
/// idempotency key).
#[derive(Serialize, Deserialize)]
struct Unanswered {
    reference: String,
    items: Vec<UnansweredItem>,
}

#[derive(Serialize, Deserialize)]
struct UnansweredItem {
    sku: String,
    item: String,
    quantity: i64,
    change_from: Option<i64>,
}

impl Unanswered {
    fn of(reference: &str, batch: &[PushItem]) -> Value {
        serde_json::to_value(Unanswered {
            reference: reference.to_owned(),
            items: batch
                .iter()
                .map(|i| UnansweredItem {
                    sku: i.sku.as_str().to_owned(),
                    item: i.item.clone(),
                    quantity: i.quantity,
                    change_from: i.change_from,
                })
                .collect(),
        })
        .unwrap_or(Value::Null)
    }
}

/// Replays, verbatim and under the same idempotency key, every batch an earlier attempt sent
/// without a definite answer (a timeout after the channel applied it, a cut connection, a
/// 5xx), and records its outcome in the model. Without this, the next attempt plans from a
/// model that misses the applied write: its compare-and-set is refused as stale and the SKU
/// is held with the channel showing an old quantity (Shopify), or a later equal quantity is
/// skipped as unchanged while the channel shows the timed-out one (overwrite channels). A
/// channel that applied the batch answers the replay as it did then (`@idempotent`); one
/// that did not applies it now. Retryable failures leave it for the next attempt.
async fn replay_unanswered(
    deps: &PushDeps,
    connection: &Connection,
    run: &mut Run,
) -> Result<(), PushError> {
    let records = &*deps.records;
    let retry = |e: PortError| PushError::Retry(e.to_string());
    let unanswered = crate::keys::partition::push_unanswered(&connection.id);
    let pending = records
        .page(&unanswered, "", None, LIVE_CHUNK)
        .await
        .map_err(retry)?;
    if pending.records.is_empty() {
        return Ok(());
    }
    let channel = deps.channels.for_connection(connection).await?;
    let pushed_partition = crate::keys::partition::pushed(&connection.id);
    for record in pending.records {
        let batch: Vec<PushItem> = serde_json::from_value::<Unanswered>(record.value.clone())
            .map(|u| {
                u.items
                    .into_iter()
                    .filter_map(|i| {
                        Some(PushItem {
                            sku: Sku::parse(i.sku).ok()?,
                            item: i.item,
                            quantity: i.quantity,
                            change_from: i.change_from,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let reference = record.value["reference"].as_str().unwrap_or_default();
        if !batch.is_empty() {
            run.calls += 1;
            match channel.push(reference, &record.key, &batch).await {
                Ok(results) => {
                    let now = Utc::now();
                    for (item, result) in batch.iter().zip(results) {
                        let (model, failure) = outcome(item, result, now);
                        if let Some(model) = model {
                            let version = records
                                .fetch(&pushed_partition, item.sku.as_str())
                                .await
                                .map_err(retry)?
                                .map_or(0, |r| r.version)
                                .max(now.timestamp_millis());
                            let value = serde_json::to_value(&model)
                                .map_err(|e| PushError::Retry(e.to_string()))?;
                            records
                                .put(&pushed_partition, item.sku.as_str(), version, &value)
                                .await
                                .map_err(retry)?;
                        }
                        if let Some(failure) = failure {
                            runs::record_failure(records, run, failure)
                                .await
                                .map_err(retry)?;
                        }
                    }
                }
                Err(PushError::Retry(e)) => return Err(PushError::Retry(e)),
                // A definite refusal: nothing was applied, the plan decides afresh.
                Err(e) => tracing::warn!(error = %e, "an unanswered batch was refused on replay"),
            }
        }
        records
            .remove(&unanswered, &record.key)
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

/// How to plan a push.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planning {
    pub rules: ListingRules,
    pub now: DateTime<Utc>,
    /// How long a SKU whose channel quantity moved unexpectedly is held.
    pub settle: chrono::Duration,
    /// A full push writes every SKU (drift correction); a Live push only what changed.
    pub full: bool,
}

/// What a push will write, and what it will not and why.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Planned {
    pub items: Vec<PushItem>,
    pub failures: Vec<SkuFailure>,
    /// SKUs looked at.
    pub considered: u64,
    /// Untracked on the channel, or (Live) already at the channel's quantity.
    pub unchanged: u64,
}

/// The plan step, pure: each mapped SKU's listed quantity (availability after the listing
/// rules), compared with our model of the channel's quantity (`models`: version and model per
/// SKU). Untracked items and unchanged quantities (Live) are skipped; SKUs without a stock
/// level or with a broken bundle fail with the reason; a SKU held for the settle period
/// fails as `held`; otherwise the write carries the model as its compare-and-set.
pub(super) fn plan(
    entries: &[(Sku, SkuMapEntry)],
    availability: &super::super::bundles::Availability,
    models: &HashMap<String, (i64, ChannelQuantity)>,
    how: Planning,
) -> Planned {
    let mut planned = Planned::default();
    for (sku, entry) in entries {
        planned.considered += 1;
        if !entry.tracked {
            // The channel keeps no count for it: nothing to push.
            planned.unchanged += 1;
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
            planned.failures.push(SkuFailure {
                sku: sku.clone(),
                code: code.into(),
                reason,
            });
            continue;
        };
        let quantity = listed_quantity(*available, how.rules);
        let model = models.get(sku.as_str()).map(|(_, m)| m);
        let change_from = match model {
            Some(m) => match m.stale_since {
                Some(since) if how.now - since < how.settle => {
                    planned.failures.push(SkuFailure {
                        sku: sku.clone(),
                        code: "held".into(),
                        reason: format!(
                            "the channel's quantity changed since our last write (an order not imported yet?): held until {}",
                            (since + how.settle).to_rfc3339()
                        ),
                    });
                    continue;
                }
                // Settled: whatever moved it has had time to reach us; overwrite.
                Some(_) => None,
                None if !how.full && m.quantity == quantity => {
                    planned.unchanged += 1;
                    continue;
                }
                None => Some(m.quantity),
            },
            None => None,
        };
        planned.items.push(PushItem {
            sku: sku.clone(),
            item: entry.inventory_item_id.clone(),
            quantity,
            change_from,
        });
    }
    planned
}

/// The record step, pure: what one item's result means for our model of the channel's
/// quantity and for the run's failures. Set → the model is the written quantity; stale (the
/// channel moved) → the model keeps what we expected, marked stale, and the SKU is held;
/// refused → no model change, the channel's reason.
pub(super) fn outcome(
    item: &PushItem,
    result: ItemResult,
    now: DateTime<Utc>,
) -> (Option<ChannelQuantity>, Option<SkuFailure>) {
    match result {
        ItemResult::Set => (
            Some(ChannelQuantity {
                quantity: item.quantity,
                at: now,
                stale_since: None,
            }),
            None,
        ),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn entry(item: &str, tracked: bool) -> SkuMapEntry {
        SkuMapEntry {
            inventory_item_id: item.into(),
            variant_id: "v".into(),
            product_id: "p".into(),
            tracked,
            product_status: "active".into(),
            generation: 1,
        }
    }

    fn how(full: bool) -> Planning {
        Planning {
            rules: ListingRules::default(),
            now: "2026-11-28T12:00:00Z".parse().unwrap(),
            settle: chrono::Duration::minutes(15),
            full,
        }
    }

    fn model(quantity: i64, stale_minutes_ago: Option<i64>) -> (i64, ChannelQuantity) {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        (
            1,
            ChannelQuantity {
                quantity,
                at: now,
                stale_since: stale_minutes_ago.map(|m| now - chrono::Duration::minutes(m)),
            },
        )
    }

    #[test]
    fn the_plan_writes_what_changed_with_its_compare_and_set() {
        let entries = vec![
            (sku("NEW"), entry("i-new", true)),
            (sku("SAME"), entry("i-same", true)),
            (sku("MOVED"), entry("i-moved", true)),
            (sku("HELD"), entry("i-held", true)),
            (sku("SETTLED"), entry("i-settled", true)),
            (sku("UNTRACKED"), entry("i-untracked", false)),
            (sku("NOSTOCK"), entry("i-nostock", true)),
        ];
        let availability = super::super::super::bundles::Availability {
            available: [
                ("NEW", 5),
                ("SAME", 4),
                ("MOVED", 3),
                ("HELD", 2),
                ("SETTLED", 1),
                ("UNTRACKED", 9),
            ]
            .into_iter()
            .map(|(s, q)| (sku(s), q))
            .collect(),
            problems: Default::default(),
        };
        let models: HashMap<String, (i64, ChannelQuantity)> = [
            ("SAME", model(4, None)),
            ("MOVED", model(8, None)),
            ("HELD", model(2, Some(5))),
            ("SETTLED", model(7, Some(60))),
        ]
        .into_iter()
        .map(|(s, m)| (s.to_owned(), m))
        .collect();
        let live = plan(&entries, &availability, &models, how(false));
        let written: Vec<(&str, i64, Option<i64>)> = live
            .items
            .iter()
            .map(|i| (i.sku.as_str(), i.quantity, i.change_from))
            .collect();
        assert_eq!(
            written,
            vec![
                ("NEW", 5, None),
                ("MOVED", 3, Some(8)),
                ("SETTLED", 1, None)
            ]
        );
        let failed: Vec<(&str, &str)> = live
            .failures
            .iter()
            .map(|f| (f.sku.as_str(), f.code.as_str()))
            .collect();
        assert_eq!(
            failed,
            vec![("HELD", "held"), ("NOSTOCK", "no_stock_level")]
        );
        assert_eq!((live.considered, live.unchanged), (7, 2));
        // A full push writes the unchanged SKU too (drift correction).
        let full = plan(&entries, &availability, &models, how(true));
        assert!(full
            .items
            .iter()
            .any(|i| i.sku.as_str() == "SAME" && i.change_from == Some(4)));
        assert_eq!(full.unchanged, 1);
    }

    #[test]
    fn outcomes_update_the_model_or_say_why_not() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let item = PushItem {
            sku: sku("A"),
            item: "i".into(),
            quantity: 5,
            change_from: Some(8),
        };
        let (set, none) = outcome(&item, ItemResult::Set, now);
        assert_eq!(set.map(|m| (m.quantity, m.stale_since)), Some((5, None)));
        assert!(none.is_none());
        let (stale, held) = outcome(&item, ItemResult::Stale, now);
        assert_eq!(
            stale.map(|m| (m.quantity, m.stale_since)),
            Some((8, Some(now)))
        );
        assert_eq!(held.unwrap().code, "channel_changed");
        let refused = ItemResult::Rejected {
            code: "NON_MUTABLE_INVENTORY_ITEM".into(),
            message: "bundle parent".into(),
        };
        let (model, failure) = outcome(&item, refused, now);
        assert!(model.is_none());
        assert_eq!(
            failure.map(|f| (f.code, f.reason)),
            Some(("NON_MUTABLE_INVENTORY_ITEM".into(), "bundle parent".into()))
        );
    }
}
