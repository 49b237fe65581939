//! The Live trigger: marks changed SKUs dirty for every Live connection and wakes its pusher
//! once per window; the starts of full pushes (Sync now, daily, enabled).

use super::*;

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
        // One batch of marks per connection, whatever the number of SKUs.
        let marks: Vec<(String, i64, serde_json::Value)> = skus
            .iter()
            .map(|sku| (sku.as_str().to_owned(), now, serde_json::Value::Null))
            .collect();
        let mut wakes = Vec::with_capacity(live.len());
        for connection in &live {
            let partition = crate::keys::partition::dirty(&connection.id);
            self.records.put_many(&partition, &marks).await?;
            let message = PushMessage::Live {
                v: VERSION,
                tenant: tenant.clone(),
                connection: connection.id.clone(),
                window_end: DateTime::from_timestamp_millis(window_end).unwrap_or_default(),
            };
            wakes.push(push_message(
                &message,
                format!("live#{}#{window_end}", connection.id),
            )?);
        }
        // After every mark: a pusher that starts at the window's end sees them. One batch
        // for all connections (`SendMessageBatch` on SQS).
        self.push_queue.send_many(wakes).await?;
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
        // The channel's model of each SKU, lowered by the order's units: read in batches and
        // written in one batch per order, whatever its number of lines. A SKU on two lines
        // is lowered by both.
        let partition = crate::keys::partition::pushed(connection);
        let mut units: std::collections::HashMap<&str, i64> = Default::default();
        for (sku, quantity) in lines {
            let n = units.entry(sku.as_str()).or_default();
            *n = n.saturating_add(i64::from(*quantity));
        }
        let keys: Vec<String> = units.keys().map(|k| (*k).to_owned()).collect();
        let mut lowered = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(crate::ports::MAX_FETCH_MANY) {
            for record in self.records.fetch_many(&partition, chunk).await? {
                let Some(quantity) = units.get(record.key.as_str()) else {
                    continue;
                };
                let mut model: ChannelQuantity =
                    serde_json::from_value(record.value).map_err(corrupt)?;
                model.quantity = model.quantity.saturating_sub(*quantity);
                let value = serde_json::to_value(&model).map_err(corrupt)?;
                let version = record.version.saturating_add(1);
                lowered.push((record.key, version, value));
            }
        }
        self.records.put_many(&partition, &lowered).await?;
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
    /// An order cancelled for the WMS is live again (a Shopify order moved back to the
    /// connection's location): its lines are reserved again (an overwrite per SKU, so a retry
    /// is harmless) and the Live connections re-offer what is left. The channel's model is not
    /// lowered: the cancellation's push already set it from the WMS's stock.
    pub async fn order_reinstated(
        &self,
        tenant: &TenantId,
        order_key: &str,
        lines: &[(Sku, u32)],
    ) -> PortResult<()> {
        stock::reserve(&*self.records, tenant, order_key, lines, Utc::now()).await?;
        let skus: Vec<Sku> = lines.iter().map(|(s, _)| s.clone()).collect();
        self.changed(tenant, &skus).await.map(|_| ())
    }

    pub async fn order_cancelled(&self, tenant: &TenantId, order_key: &str) -> PortResult<()> {
        let released = stock::release(&*self.records, tenant, order_key).await?;
        self.changed(tenant, &released).await.map(|_| ())
    }
}

/// How old a Live connection's dirty mark must be before [`wake_stale_live`] wakes its
/// pusher again: well past a coalescing window and a message's retries.
pub const STALE_MARK: Duration = Duration::from_secs(5 * 60);

/// Wakes the pusher of a Live connection that still has a dirty mark older than
/// [`STALE_MARK`]. Such a mark is left by a Live push that failed through every receive of its
/// message (the channel was down for longer), or by a SKU held for the settle period; without
/// a wake it would wait for the next stock change or the daily push while the channel shows
/// a stale quantity. The reconciliation poll calls it for every connection it polls. One
/// wake per connection and [`STALE_MARK`] slot; `Ok(true)` when a wake was sent.
pub async fn wake_stale_live(
    records: &dyn Records,
    push_queue: &dyn Queue,
    connection: &Connection,
    now: DateTime<Utc>,
) -> PortResult<bool> {
    if connection.status != ConnectionStatus::Active
        || connection.settings.inventory_sync != SyncMode::Live
    {
        return Ok(false);
    }
    let stale_ms = STALE_MARK.as_millis() as i64;
    let before = now.timestamp_millis().saturating_sub(stale_ms);
    let marks = records
        .page(
            &crate::keys::partition::dirty(&connection.id),
            "",
            None,
            LIVE_CHUNK,
        )
        .await?;
    if !marks.records.iter().any(|mark| mark.version <= before) {
        return Ok(false);
    }
    let message = PushMessage::Live {
        v: VERSION,
        tenant: connection.tenant.clone(),
        connection: connection.id.clone(),
        window_end: now,
    };
    let slot = now.timestamp_millis() / stale_ms;
    send(
        push_queue,
        &message,
        format!("live-stale#{}#{slot}", connection.id),
    )
    .await?;
    Ok(true)
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
// On the embedded store

/// The stock handler on the embedded store, with the default Live settings.
#[cfg(feature = "embedded")]
pub fn embedded_stock(store: &crate::embedded::EmbeddedStore) -> Arc<super::StockDeps> {
    Arc::new(super::StockDeps {
        records: Arc::new(store.clone()),
        live: embedded_live_trigger(store, EngineSettings::default()),
    })
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
