//! The reconciliation poll: the safety net for webhooks that never arrive.
//!
//! Per active connection of a channel with a [`crate::channels::store::StoreApi`] (Shopify,
//! WooCommerce, Magento), under a per-connection lease (EventBridge can fire twice):
//! read the orders updated since the connection's watermark minus an overlap, page by page;
//! every order the WMS does not have yet, or has an older state of, is enqueued on
//! `channel-events` as a polled order, and the consumer decides exactly once as for webhooks.
//! The watermark advances only after every page was enqueued. Orders that no webhook
//! delivered are counted in the run record and logged as a warning.

use crate::channels::registry::Registry;
use crate::consumers::order_import::{elsewhere_updated_at, known_updated_at};
use crate::domain::{Connection, ConnectionStatus};
use crate::keys;
use crate::messages::{ChannelEvent, VERSION};
use crate::ports::{Connections, Idempotency, KeyValue, OutMessage, PortError, Queue};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How far before the watermark each poll starts again (clock skew, late commits).
pub const OVERLAP: ChronoDuration = ChronoDuration::minutes(10);
/// Pages per run; a run that hits it keeps its progress and the next run continues.
pub const MAX_PAGES: u32 = 500;
const LOCK_LEASE: Duration = Duration::from_secs(300);

/// What the poll needs.
pub struct ReconcileDeps {
    pub connections: Arc<dyn Connections>,
    pub idempotency: Arc<dyn Idempotency>,
    /// Small named values: the SKU map's committed generation, last runs.
    pub values: Arc<dyn KeyValue>,
    pub channel_events: Arc<dyn Queue>,
    /// Opens the connection's store, whatever its channel.
    pub channels: Arc<Registry>,
    /// The connection's run history (runs that found work or trouble are listed there).
    pub records: Arc<dyn crate::ports::Records>,
}

/// The record of one run for one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRun {
    pub connection: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The poll read orders updated at or after this instant.
    pub since: DateTime<Utc>,
    pub pages: u32,
    /// Orders the poll saw.
    pub found: u32,
    /// Orders enqueued because the WMS lacks them or has an older state.
    pub enqueued: u32,
    /// Orders the WMS does not have that are not ready to ship yet (unpaid, unless the
    /// connection imports unpaid orders; on hold…):
    /// left for a later poll, when their change brings them back.
    #[serde(default)]
    pub not_ready: u32,
    /// Of those, orders the WMS never had: no webhook delivered them.
    pub missed_by_webhooks: u32,
    /// Orders the WMS does not have because nothing on them is for the connection's
    /// location (already counted on the connection): not enqueued again for the same state.
    #[serde(default)]
    pub other_locations: u32,
    /// Orders Shopify returned that could not be read: (id, reason).
    pub skipped: Vec<(String, String)>,
    pub watermark_before: DateTime<Utc>,
    pub watermark_after: DateTime<Utc>,
    /// `completed`, `partial` (page limit), or why nothing ran.
    pub outcome: String,
}

/// Why a connection's poll did not complete.
pub type ReconcileError = super::JobError;

/// Polls every active connection; one connection's failure does not stop the others.
pub async fn reconcile_all(
    deps: &ReconcileDeps,
) -> Result<Vec<(String, Result<ReconcileRun, ReconcileError>)>, PortError> {
    let mut results = Vec::new();
    for connection in deps.connections.list_all().await? {
        let polled = deps
            .channels
            .capabilities(connection.channel)
            .is_some_and(|c| c.poll);
        if !polled || connection.status != ConnectionStatus::Active {
            continue;
        }
        let result = reconcile_connection(deps, &connection).await;
        if let Err(e) = &result {
            tracing::warn!(connection = %connection.id, error = %e, "reconciliation failed");
        }
        results.push((connection.id.to_string(), result));
    }
    Ok(results)
}

/// The poll's durable position: the watermark, and for a channel that lists orders by id
/// (not by change) the walk of a window larger than one run's page budget, resumed next run.
#[derive(Serialize, Deserialize)]
struct Watermark {
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backlog: Option<Backlog>,
}

/// A walk of the window `since` that one run's page budget could not finish: the next run
/// continues at `cursor` (so any backlog is eventually read whole, the trash pass included),
/// after first reading the recent window from `mark` minus [`OVERLAP`] (so orders placed
/// meanwhile, which sort last by id, are not starved by the backlog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    /// The window being walked.
    pub since: DateTime<Utc>,
    /// Where the next run resumes it.
    pub cursor: String,
    /// The newest change the walk's first run saw (store time, bounded by the clock): once
    /// the walk ends, every change before it was read, and the watermark moves here. A change
    /// made during the walk to an order it already passed is newer, so the recent window
    /// from `mark` minus the overlap reads it.
    pub mark: DateTime<Utc>,
}

/// Polls one connection (if no other run holds it).
pub async fn reconcile_connection(
    deps: &ReconcileDeps,
    connection: &Connection,
) -> Result<ReconcileRun, ReconcileError> {
    reconcile_with_limit(deps, connection, MAX_PAGES).await
}

/// Polls one connection reading at most `max_pages` pages: a run that stops there keeps its
/// position (the watermark, or the backlog cursor) and reports `partial`, so the jobs worker
/// continues it in a fresh message instead of outliving its invocation.
pub async fn reconcile_connection_pages(
    deps: &ReconcileDeps,
    connection: &Connection,
    max_pages: u32,
) -> Result<ReconcileRun, ReconcileError> {
    reconcile_with_limit(deps, connection, max_pages.max(1)).await
}

async fn reconcile_with_limit(
    deps: &ReconcileDeps,
    connection: &Connection,
    max_pages: u32,
) -> Result<ReconcileRun, ReconcileError> {
    let started_at = Utc::now();
    let lock = keys::reconcile_lock(&connection.id);
    let watermark_key = keys::watermark(&connection.id);
    let stored = stored_watermark(&*deps.records, &*deps.values, &connection.id)
        .await?
        .and_then(|w| serde_json::from_value::<Watermark>(w).ok());
    let backlog_before = stored.as_ref().and_then(|w| w.backlog.clone());
    let stored = stored.map_or(connection.created_at, |w| w.at);
    // Never ahead of the clock: a watermark an earlier version stored from a future-dated
    // order is read as now, and replaced by this run's.
    let before = stored.min(started_at);
    let stored_in_future = stored > started_at;
    let mut run = ReconcileRun {
        connection: connection.id.to_string(),
        started_at,
        finished_at: started_at,
        since: before.checked_sub_signed(OVERLAP).unwrap_or(before),
        pages: 0,
        found: 0,
        enqueued: 0,
        not_ready: 0,
        missed_by_webhooks: 0,
        other_locations: 0,
        skipped: Vec::new(),
        watermark_before: before,
        watermark_after: before,
        outcome: String::new(),
    };
    let polled = super::under_lease(
        &*deps.idempotency,
        &deps.channels,
        connection,
        &lock,
        LOCK_LEASE,
        poll(
            deps,
            connection,
            &mut run,
            max_pages,
            backlog_before.clone(),
        ),
    )
    .await?;
    let Some(backlog_after) = polled else {
        run.outcome = "skipped: another run holds this connection".into();
        return Ok(run);
    };
    run.finished_at = Utc::now();
    if run.watermark_after > before || stored_in_future || backlog_after != backlog_before {
        let watermark = Watermark {
            at: run.watermark_after,
            backlog: backlog_after,
        };
        let watermark =
            serde_json::to_value(&watermark).map_err(|e| PortError::Corrupt(e.to_string()))?;
        // Fenced by the run's start: a run that outlived its lease while a later one polled
        // (and wrote) cannot put back the older position it computed.
        let written = deps
            .records
            .put_if_newer(
                &watermark_key,
                WATERMARK_RECORD,
                started_at.timestamp_millis(),
                &watermark,
            )
            .await?;
        if !written {
            tracing::warn!(connection = %connection.id, "a later run moved the watermark meanwhile: this run's is dropped");
            run.outcome = format!("{}; watermark left to a later run", run.outcome);
        }
    }
    super::record_run(
        &*deps.values,
        &keys::reconcile_run(&connection.id, started_at.timestamp_millis()),
        &keys::reconcile_last(&connection.id),
        &run,
    )
    .await?;
    if run.enqueued > 0 || !run.skipped.is_empty() || run.outcome != "completed" {
        record_in_history(deps, connection, &run).await?;
    }
    if run.missed_by_webhooks > 0 {
        tracing::warn!(
            connection = %connection.id,
            missed = run.missed_by_webhooks,
            "reconciliation found orders that no webhook delivered"
        );
    }
    if !run.skipped.is_empty() {
        tracing::warn!(connection = %connection.id, skipped = ?run.skipped, "orders Shopify returned could not be read");
    }
    tracing::info!(connection = %connection.id, found = run.found, enqueued = run.enqueued, outcome = %run.outcome, "reconciliation run");
    Ok(run)
}

/// The watermark's record in its partition (`watermark#{connection}`), versioned by the
/// start of the run that wrote it.
const WATERMARK_RECORD: &str = "poll";

/// The poll's stored position as stored (`at`, and `backlog` while a walk is unfinished): the
/// versioned record, or the unversioned value a version before fenced writes kept under the
/// same name (read until the first fenced write replaces it). The poll and the connection's
/// activity (`orders_up_to`) read it here.
pub async fn stored_watermark(
    records: &dyn crate::ports::Records,
    values: &dyn KeyValue,
    connection: &crate::domain::ConnectionId,
) -> Result<Option<serde_json::Value>, PortError> {
    let watermark_key = keys::watermark(connection);
    if let Some(record) = records.fetch(&watermark_key, WATERMARK_RECORD).await? {
        return Ok(Some(record.value));
    }
    values.get(&watermark_key).await
}

/// Lists a run in the connection's run history (`GET /api/connections/{id}/runs`). Quiet runs
/// (nothing enqueued, nothing skipped) are not listed, or a 10-minute poll would drown the
/// history; `reconcile-last#{connection}` always holds the latest.
async fn record_in_history(
    deps: &ReconcileDeps,
    connection: &Connection,
    run: &ReconcileRun,
) -> Result<(), PortError> {
    use crate::inventory::runs::{self, Run, RunKind};
    let mut history = Run::new(
        connection.tenant.clone(),
        connection.id.clone(),
        RunKind::Reconciliation,
        false,
    );
    history.started_at = Some(run.started_at);
    history.total = Some(u64::from(run.found));
    history.done = u64::from(run.found);
    history.failed = run.skipped.len() as u64;
    history.finish(Some(format!(
        "{}: {} order(s) found, {} enqueued ({} missed by webhooks), {} unreadable",
        run.outcome,
        run.found,
        run.enqueued,
        run.missed_by_webhooks,
        run.skipped.len()
    )));
    runs::create(&*deps.records, &history).await
}

/// Reads the connection's orders and enqueues what the WMS lacks; returns the backlog walk to
/// resume next run, if any. The watermark moves only over changes every one of which was read.
async fn poll(
    deps: &ReconcileDeps,
    connection: &Connection,
    run: &mut ReconcileRun,
    max_pages: u32,
    backlog: Option<Backlog>,
) -> Result<Option<Backlog>, ReconcileError> {
    let store = deps.channels.open_store(connection).await?;
    let sorted = deps
        .channels
        .capabilities(connection.channel)
        .is_some_and(|c| c.sorted_by_change);
    let before = run.watermark_before;
    match backlog {
        Some(backlog) if !sorted => {
            // The recent window first, with half the budget: orders placed while a backlog
            // is walked sort last by id and would otherwise wait for the whole backlog.
            let recent_since = backlog
                .mark
                .checked_sub_signed(OVERLAP)
                .unwrap_or(backlog.mark);
            let recent = walk(
                deps,
                connection,
                &*store,
                run,
                recent_since,
                None,
                (max_pages / 2).max(1),
            )
            .await?;
            // Then the backlog, from where the last run stopped, with the rest.
            run.since = backlog.since;
            let budget = max_pages.saturating_sub(run.pages).max(1);
            let rest = walk(
                deps,
                connection,
                &*store,
                run,
                backlog.since,
                Some(backlog.cursor.clone()),
                budget,
            )
            .await?;
            match rest.next {
                None => {
                    run.outcome = "completed".into();
                    let mut after = before.max(backlog.mark);
                    if recent.next.is_none() {
                        // The recent window was read whole too.
                        after = after.max(recent.newest);
                    }
                    run.watermark_after = after;
                    Ok(None)
                }
                Some(cursor) => {
                    run.outcome = "partial: page limit reached, the next run continues".into();
                    Ok(Some(Backlog { cursor, ..backlog }))
                }
            }
        }
        _ => {
            let walked = walk(deps, connection, &*store, run, run.since, None, max_pages).await?;
            let newest = before.max(walked.newest);
            match walked.next {
                None => {
                    run.outcome = "completed".into();
                    run.watermark_after = newest;
                    Ok(None)
                }
                Some(cursor) => {
                    run.outcome = "partial: page limit reached, the next run continues".into();
                    if sorted {
                        // Read in order of change: everything up to `newest` is enqueued.
                        run.watermark_after = newest;
                        return Ok(None);
                    }
                    // Unread pages may hold older changes than `newest`: the watermark stays,
                    // and the next run resumes the walk where this one stopped.
                    Ok(Some(Backlog {
                        since: run.since,
                        cursor,
                        mark: newest,
                    }))
                }
            }
        }
    }
}

/// What one walk of a window read.
struct Walked {
    /// The newest change read (bounded by the clock), or the minimum time if none.
    newest: DateTime<Utc>,
    /// Where the window continues; `None` when it was read to its end.
    next: Option<String>,
}

/// Reads the window `since` from `cursor` for at most `budget` pages, enqueuing every order
/// the WMS lacks or has an older state of.
async fn walk(
    deps: &ReconcileDeps,
    connection: &Connection,
    store: &dyn crate::channels::store::StoreApi,
    run: &mut ReconcileRun,
    since: DateTime<Utc>,
    mut cursor: Option<String>,
    budget: u32,
) -> Result<Walked, ReconcileError> {
    let mut newest = DateTime::<Utc>::MIN_UTC;
    let mut pages = 0u32;
    loop {
        let page = store.orders_updated_since(since, cursor.as_deref()).await?;
        run.pages += 1;
        pages += 1;
        run.skipped.extend(page.skipped);
        for order in page.orders {
            run.found += 1;
            // Bounded by the clock: an order a plugin dated 2099 must not move the
            // watermark past every real change to come.
            newest = newest.max(order.updated_at.min(run.started_at));
            let key = keys::order(
                connection.channel,
                &connection.shop,
                order.channel_order_id.as_str(),
            );
            let known = known_updated_at(&*deps.values, &key).await?;
            if known.is_some_and(|at| at >= order.updated_at) {
                continue;
            }
            if known.is_none() && order.ready_for(&connection.settings).is_err() {
                // Not one to ship (yet), by the consumer's own rule: it would ignore it; its
                // next change brings it back to a later poll.
                run.not_ready += 1;
                continue;
            }
            if known.is_none() {
                let id = order.channel_order_id.as_str();
                let elsewhere = elsewhere_updated_at(&*deps.values, &connection.id, id).await?;
                if elsewhere.is_some_and(|at| at >= order.updated_at) {
                    // This state was read already: nothing on it is for our location.
                    run.other_locations += 1;
                    continue;
                }
                run.missed_by_webhooks += 1;
            }
            enqueue(deps, connection, &order).await?;
            run.enqueued += 1;
        }
        cursor = page.next_cursor;
        if cursor.is_none() || pages >= budget {
            return Ok(Walked {
                newest,
                next: cursor,
            });
        }
    }
}

async fn enqueue(
    deps: &ReconcileDeps,
    connection: &Connection,
    order: &crate::domain::Order,
) -> Result<(), PortError> {
    let payload =
        serde_json::value::to_raw_value(order).map_err(|e| PortError::Corrupt(e.to_string()))?;
    let event = ChannelEvent {
        v: VERSION,
        channel: connection.channel,
        tenant: connection.tenant.clone(),
        connection: connection.id.clone(),
        shop: connection.shop.clone(),
        topic: crate::domain::Topic::polled_order(),
        delivery_id: format!(
            "poll:{}:{}",
            order.channel_order_id,
            order.updated_at.timestamp_millis()
        ),
        received_at: Utc::now(),
        triggered_at: None,
        payload,
    };
    let body = serde_json::to_string(&event).map_err(|e| PortError::Corrupt(e.to_string()))?;
    deps.channel_events
        .send(OutMessage {
            body,
            tenant: Some(connection.tenant.clone()),
            ..OutMessage::default()
        })
        .await
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::channels::shopify::oauth::ShopifyCredentials;
    use crate::channels::OpenError;
    use crate::ports::Claim;
    use serde_json::json;

    use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
    use crate::consumers::order_import::{self, ImportDeps};
    use crate::consumers::{drain_once, Disposition};
    use crate::domain::TenantId;
    use crate::embedded::EmbeddedQueue;
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn node(id: u64, updated_at: &str) -> serde_json::Value {
        json!({
            "id": format!("gid://shopify/Order/{id}"), "legacyResourceId": id.to_string(), "name": format!("#{id}"),
            "createdAt": "2026-11-27T08:00:00Z", "updatedAt": updated_at, "cancelledAt": null,
            "displayFinancialStatus": "PAID", "paymentGatewayNames": ["shopify_payments"], "test": false, "currencyCode": "EUR", "email": null,
            "shippingAddress": {"name": "Ada", "firstName": null, "lastName": null, "company": null,
                "address1": "1 Main St", "address2": null, "city": "Dublin", "provinceCode": null,
                "zip": "D01", "countryCodeV2": "IE", "phone": null},
            "lineItems": {"nodes": [{"id": "gid://shopify/LineItem/1", "sku": "TS-001", "quantity": 1,
                "name": "Tee", "requiresShipping": true}], "pageInfo": {"hasNextPage": false}}
        })
    }

    /// The connection's stored watermark as JSON, wherever it is kept.
    async fn stored(w: &World, id: &str) -> Option<serde_json::Value> {
        let id = crate::domain::ConnectionId::parse(id).unwrap();
        stored_watermark(&*w.deps.records, &*w.deps.values, &id)
            .await
            .unwrap()
            .and_then(|m| serde_json::from_value::<Watermark>(m).ok())
            .map(|m| serde_json::to_value(m).unwrap())
    }

    fn page(nodes: Vec<serde_json::Value>, next: Option<&str>) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"data": {"orders": {"nodes": nodes,
            "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next}}}}))
    }

    struct World {
        deps: ReconcileDeps,
        import: Arc<ImportDeps>,
        events: EmbeddedQueue,
        outbox: EmbeddedQueue,
        connection: Connection,
        store: crate::embedded::EmbeddedStore,
        _dir: tempfile::TempDir,
    }

    async fn world(server: &MockServer) -> World {
        let dir = tempfile::tempdir().unwrap();
        let credentials = ShopifyCredentials::static_token("shpat_fake_poll", "");
        let ShopifyFixture {
            store,
            vault,
            connection,
            channels,
            ..
        } = shopify_fixture(
            dir.path(),
            "c_rec",
            ConnectionStatus::Active,
            &credentials,
            server.uri(),
        )
        .await;
        let events = store.queue("channel-events", None, 5);
        let outbox = store.queue("wms-orders", None, 5);
        let import = Arc::new(ImportDeps {
            connections: Arc::new(store.clone()),
            vault,
            idempotency: Arc::new(store.clone()),
            values: Arc::new(store.clone()),
            wms_orders: Arc::new(outbox.clone()),
            dead_letter: Arc::new(store.queue("dlq", None, 5)),
            inventory: crate::inventory::engine::embedded_live_trigger(&store, Default::default()),
            channels: channels.clone(),
        });
        World {
            deps: ReconcileDeps {
                records: Arc::new(store.clone()),
                connections: Arc::new(store.clone()),
                idempotency: Arc::new(store.clone()),
                values: Arc::new(store.clone()),
                channel_events: Arc::new(events.clone()),
                channels,
            },
            import,
            events,
            outbox,
            connection,
            store,
            _dir: dir,
        }
    }

    async fn consume(w: &World) {
        while drain_once(
            &w.events,
            w.import.clone(),
            order_import::handle,
            Duration::from_secs(30),
        )
        .await
        .unwrap()
            > 0
        {}
    }

    #[tokio::test]
    async fn the_poll_imports_what_webhooks_missed_once_and_advances_the_watermark() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", "shpat_fake_poll"))
            .and(body_partial_json(json!({"variables": {"after": null, "query": "updated_at:>='2026-11-27T08:50:00Z'"}})))
            .respond_with(page(vec![node(1, "2026-11-27T09:10:00Z"), node(2, "2026-11-27T09:20:00Z")], Some("c1")))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"variables": {"after": "c1"}})))
            .respond_with(page(vec![node(3, "2026-11-27T09:30:00Z")], None))
            .expect(1)
            .mount(&server)
            .await;
        let w = world(&server).await;
        // Order 1 already came by webhook at this state.
        let webhook = json!({"v": 1, "channel": "shopify", "tenant": "dev", "connection": "c_rec",
            "shop": "demo.myshopify.com", "topic": "orders/create", "delivery_id": "w1",
            "received_at": "2026-11-27T09:10:01Z", "payload": {"id": 1, "name": "#1",
            "created_at": "2026-11-27T08:00:00Z", "updated_at": "2026-11-27T09:10:00Z",
            "line_items": [{"id": 1, "sku": "TS-001", "quantity": 1}],
            "shipping_address": {"address1": "1 Main St", "country_code": "IE"}}});
        assert_eq!(
            order_import::handle(w.import.clone(), webhook.to_string()).await,
            Disposition::Done("order.imported".into())
        );

        let run = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!(
            (run.pages, run.found, run.enqueued, run.missed_by_webhooks),
            (2, 3, 2, 2)
        );
        assert_eq!(run.outcome, "completed");
        assert_eq!(
            run.watermark_after.to_rfc3339(),
            "2026-11-27T09:30:00+00:00"
        );
        consume(&w).await;
        let tenant = TenantId::parse("dev").unwrap();
        let numbers: Vec<String> = w
            .outbox
            .read_after(&tenant, 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|m| m.body["order_number"].as_str().unwrap().to_owned())
            .collect();
        let mut numbers = numbers;
        numbers.sort();
        assert_eq!(numbers, ["#1", "#2", "#3"], "each order exactly once");
        let last = w
            .deps
            .values
            .get("reconcile-last#c_rec")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last["missed_by_webhooks"], 2);
    }

    #[tokio::test]
    async fn a_second_run_starts_at_the_new_watermark_and_enqueues_nothing_known() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        Mock::given(method("POST"))
            .and(body_partial_json(
                json!({"variables": {"query": "updated_at:>='2026-11-27T08:50:00Z'"}}),
            ))
            .respond_with(page(vec![node(5, "2026-11-27T09:40:00Z")], None))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_partial_json(
                json!({"variables": {"query": "updated_at:>='2026-11-27T09:30:00Z'"}}),
            ))
            .respond_with(page(vec![node(5, "2026-11-27T09:40:00Z")], None))
            .expect(1)
            .mount(&server)
            .await;
        let w = world(&server).await;
        let first = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!(first.enqueued, 1);
        consume(&w).await;
        let second = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!(
            (second.found, second.enqueued, second.missed_by_webhooks),
            (1, 0, 0)
        );
        // The history lists the run that found work, not the quiet one.
        let (history, _) =
            crate::inventory::runs::list(&*w.deps.records, &w.connection.id, None, 10)
                .await
                .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            history[0].kind,
            crate::inventory::runs::RunKind::Reconciliation
        );
        assert_eq!(
            history[0].message.as_deref(),
            Some("completed: 1 order(s) found, 1 enqueued (1 missed by webhooks), 0 unreadable")
        );
    }

    /// A missed order wholly at another location: the poll enqueues it once, the consumer
    /// reads its fulfillment orders and sends nothing; later runs do not enqueue the same state
    /// again nor report it as missed by webhooks.
    #[tokio::test]
    async fn an_order_for_another_location_is_read_once_and_not_reported_missed() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 2).await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::body_string_contains(
                "ChannelSyncOrdersUpdatedSince",
            ))
            .respond_with(page(vec![node(9, "2026-11-27T09:10:00Z")], None))
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::body_string_contains("ChannelSyncFulfillmentOrders"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"order": {
                "id": "gid://shopify/Order/9",
                "fulfillmentOrders": {"nodes": [{"id": "gid://shopify/FulfillmentOrder/90", "status": "OPEN",
                    "assignedLocation": {"location": {"id": "gid://shopify/Location/2"}},
                    "lineItems": {"nodes": [{"id": "gid://shopify/FulfillmentOrderLineItem/1",
                        "remainingQuantity": 1, "totalQuantity": 1,
                        "lineItem": {"id": "gid://shopify/LineItem/1", "sku": "TS-001"}}],
                        "pageInfo": {"hasNextPage": false, "endCursor": null}}}],
                    "pageInfo": {"hasNextPage": false, "endCursor": null}}}}})))
            .expect(1)
            .mount(&server)
            .await;
        let mut w = world(&server).await;
        w.connection.settings.fulfilment_location = Some("gid://shopify/Location/1".into());
        w.deps
            .connections
            .update(&w.connection)
            .await
            .unwrap()
            .stored()
            .unwrap();

        let first = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!((first.enqueued, first.missed_by_webhooks), (1, 1));
        consume(&w).await;
        let tenant = TenantId::parse("dev").unwrap();
        assert!(w
            .outbox
            .read_after(&tenant, 0, 10)
            .await
            .unwrap()
            .is_empty());

        // The overlap reads the same state again: nothing enqueued, nothing reported missed.
        let second = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!(
            (
                second.found,
                second.enqueued,
                second.other_locations,
                second.missed_by_webhooks
            ),
            (1, 0, 1, 0)
        );
    }

    #[tokio::test]
    async fn uninstalled_mid_run_keeps_what_was_enqueued_and_stops_the_connection() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"variables": {"after": null}})))
            .respond_with(page(vec![node(8, "2026-11-27T09:10:00Z")], Some("c1")))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"variables": {"after": "c1"}})))
            .respond_with(
                ResponseTemplate::new(401).set_body_string("[API] Invalid API key or access token"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let w = world(&server).await;
        let result = reconcile_connection(&w.deps, &w.connection).await;
        assert!(
            matches!(result, Err(ReconcileError::Open(OpenError::NeedsReauth))),
            "{result:?}"
        );
        assert_eq!(stored(&w, "c_rec").await, None, "the watermark stays");
        consume(&w).await;
        let tenant = TenantId::parse("dev").unwrap();
        // Page one is not lost: with the connection waiting for re-authorisation the consumer
        // cannot read which lines are the fulfilment location's, so the order stays on the
        // queue (retried, then the DLQ for a redrive after the reconnect) and nothing half
        // known reaches the WMS.
        assert_eq!(w.outbox.read_after(&tenant, 0, 10).await.unwrap().len(), 0);
        assert_eq!(w.events.depth().await.unwrap(), 1, "page one is not lost");
        let stored = w
            .deps
            .connections
            .get(&tenant, &w.connection.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, ConnectionStatus::NeedsReauth);
        // The next tick leaves it alone.
        assert!(reconcile_all(&w.deps).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn overlapping_runs_and_failures_do_not_move_the_watermark() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let w = world(&server).await;
        let Claim::Acquired(fence) = w
            .deps
            .idempotency
            .claim("reconcile-lock#c_rec", Duration::from_secs(60))
            .await
            .unwrap()
        else {
            panic!("the lock is free");
        };
        let skipped = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert!(
            skipped.outcome.starts_with("skipped"),
            "{}",
            skipped.outcome
        );
        w.deps
            .idempotency
            .release("reconcile-lock#c_rec", &fence)
            .await
            .unwrap();
        assert!(matches!(
            reconcile_connection(&w.deps, &w.connection).await,
            Err(ReconcileError::Channel(_))
        ));
        assert_eq!(stored(&w, "c_rec").await, None);
        assert_eq!(w.events.depth().await.unwrap(), 0);
    }

    /// Issue 15: the watermark write was unconditional. Run A outlives its lease (a slow
    /// store); run B takes the connection, reads a newer state and moves the watermark to
    /// 11:00; then A finishes and wrote back its older 10:00, so the next poll re-read an
    /// hour. The write is now fenced by the run's start: A's older position is dropped.
    #[tokio::test]
    async fn a_run_that_outlived_its_lease_cannot_move_the_watermark_back() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        let orders =
            || Mock::given(method("POST")).and(wiremock::matchers::body_string_contains("orders("));
        // The first request (A's) is slow; the second (B's) sees a later change.
        orders()
            .respond_with(
                page(vec![node(1, "2026-11-27T10:00:00Z")], None)
                    .set_delay(Duration::from_millis(1500)),
            )
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        orders()
            .respond_with(page(vec![node(1, "2026-11-27T11:00:00Z")], None))
            .expect(1)
            .mount(&server)
            .await;
        let w = Arc::new(world(&server).await);
        let slow = {
            let w = w.clone();
            tokio::spawn(async move { reconcile_connection(&w.deps, &w.connection).await })
        };
        // A's request has reached the store: its lease now runs out under it.
        for _ in 0..200 {
            let asked = server.received_requests().await.unwrap_or_default();
            if asked
                .iter()
                .any(|r| String::from_utf8_lossy(&r.body).contains("orders("))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        w.store.expire_claim("reconcile-lock#c_rec").await;
        let b = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!(b.outcome, "completed");
        assert_eq!(b.watermark_after.to_rfc3339(), "2026-11-27T11:00:00+00:00");
        let a = slow.await.unwrap().unwrap();
        assert_eq!(a.watermark_after.to_rfc3339(), "2026-11-27T10:00:00+00:00");
        assert!(
            a.outcome.contains("watermark left to a later run"),
            "{}",
            a.outcome
        );
        let kept = stored(&w, "c_rec").await.unwrap();
        assert_eq!(kept["at"], json!("2026-11-27T11:00:00Z"), "{kept}");
    }

    /// A WooCommerce connection through the same poll: `modified_after` in GMT, only the
    /// processing order is enqueued; the unpaid and the already-completed ones are counted as
    /// not ready and never reach the WMS.
    #[tokio::test]
    async fn a_woocommerce_poll_enqueues_only_orders_ready_to_ship() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        let woo_order = |id: u64, status: &str| {
            json!({"id": id, "number": id.to_string(), "status": status,
                "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": "2026-11-27T09:00:00",
                "shipping": {"first_name": "Ada", "address_1": "1 Main St", "country": "IE"},
                "line_items": [{"id": id * 10, "sku": "TS-001", "quantity": 1, "name": "Tee"}]})
        };
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/orders"))
            .and(wiremock::matchers::query_param(
                "modified_after",
                "2026-11-27T08:50:00",
            ))
            .and(wiremock::matchers::query_param("dates_are_gmt", "true"))
            .and(wiremock::matchers::query_param("status", "any"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([
                        woo_order(1, "processing"),
                        woo_order(2, "pending"),
                        woo_order(3, "completed")
                    ]))
                    .insert_header("X-WP-TotalPages", "1"),
            )
            .expect(1)
            .mount(&server)
            .await;
        // The second pass reads trashed orders (none here).
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/orders"))
            .and(wiremock::matchers::query_param("status", "trash"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([]))
                    .insert_header("X-WP-TotalPages", "1"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let w = world(&server).await;
        let woo = crate::channels::testkit::woo_connection(
            &w.deps.channels,
            &w.connection,
            "c_woo_rec",
            "shop.example",
            server.uri(),
            "whfake",
        )
        .await;
        let run = reconcile_connection(&w.deps, &woo).await.unwrap();
        assert_eq!(
            (
                run.pages,
                run.found,
                run.enqueued,
                run.not_ready,
                run.missed_by_webhooks
            ),
            (2, 3, 1, 2, 1)
        );
        assert_eq!(run.outcome, "completed");
        consume(&w).await;
        let tenant = TenantId::parse("dev").unwrap();
        let messages = w.outbox.read_after(&tenant, 0, 100).await.unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].body["type"], "order.imported");
        assert_eq!(messages[0].body["channel"], "woocommerce");
        assert_eq!(messages[0].body["channel_order_id"], "1");
    }

    fn payment_node(id: u64, updated_at: &str, status: &str) -> serde_json::Value {
        let mut n = node(id, updated_at);
        n["displayFinancialStatus"] = json!(status);
        n["paymentGatewayNames"] = json!(["Bank Deposit"]);
        n
    }

    async fn imported(w: &World) -> Vec<serde_json::Value> {
        let tenant = TenantId::parse("dev").unwrap();
        let messages = w.outbox.read_after(&tenant, 0, 100).await.unwrap();
        messages.into_iter().map(|m| m.body).collect()
    }

    /// A Shopify order first polled pending is counted not ready and left alone; polled
    /// again once paid, it is imported, once.
    #[tokio::test]
    async fn a_pending_shopify_order_is_polled_in_once_paid() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        Mock::given(method("POST"))
            .respond_with(page(
                vec![payment_node(8, "2026-11-27T09:10:00Z", "PENDING")],
                None,
            ))
            .up_to_n_times(1)
            .expect(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(page(
                vec![payment_node(8, "2026-11-27T09:20:00Z", "PAID")],
                None,
            ))
            .expect(2)
            .with_priority(2)
            .mount(&server)
            .await;
        let w = world(&server).await;
        let first = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!((first.found, first.enqueued, first.not_ready), (1, 0, 1));
        assert_eq!(w.events.depth().await.unwrap(), 0);
        let second = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!((second.found, second.enqueued, second.not_ready), (1, 1, 0));
        consume(&w).await;
        let third = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!((third.found, third.enqueued), (1, 0), "known now");
        consume(&w).await;
        let messages = imported(&w).await;
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0]["type"], "order.imported");
        assert_eq!(messages[0]["financial_status"], "paid");
    }

    /// With `import_unpaid` on, the poll enqueues the pending order and the consumer imports
    /// it: the same rule in both places.
    #[tokio::test]
    async fn with_import_unpaid_the_poll_imports_a_pending_order() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        Mock::given(method("POST"))
            .respond_with(page(
                vec![payment_node(9, "2026-11-27T09:10:00Z", "PENDING")],
                None,
            ))
            .expect(1)
            .mount(&server)
            .await;
        let w = world(&server).await;
        let mut connection = w.connection.clone();
        connection.settings.import_unpaid = true;
        w.deps
            .connections
            .update(&connection)
            .await
            .unwrap()
            .stored()
            .unwrap();
        let run = reconcile_connection(&w.deps, &connection).await.unwrap();
        assert_eq!((run.found, run.enqueued, run.not_ready), (1, 1, 0));
        consume(&w).await;
        let messages = imported(&w).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["type"], "order.imported");
        assert_eq!(messages[0]["financial_status"], "pending");
        assert_eq!(messages[0]["hold_reasons"], json!([]));
    }

    /// Issue 15, item 8: an order a plugin dated 2099 must not move the watermark into the
    /// future (every later poll would ask for orders changed after 2099: the poll would be
    /// off for good); a watermark already stored in the future is read as now.
    #[tokio::test]
    async fn a_future_dated_order_does_not_switch_the_poll_off() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(page(vec![node(1, "2099-01-01T00:00:00Z")], None))
            .mount(&server)
            .await;
        let w = world(&server).await;
        let run = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert_eq!((run.found, run.enqueued), (1, 1));
        assert!(
            run.watermark_after <= run.finished_at,
            "watermark {} is in the future",
            run.watermark_after
        );
        // A watermark an earlier version stored in the future.
        w.deps
            .values
            .put(
                "watermark#c_rec",
                &json!({"at": "2099-01-01T00:00:00Z"}),
                None,
            )
            .await
            .unwrap();
        let run = reconcile_connection(&w.deps, &w.connection).await.unwrap();
        assert!(
            run.since <= run.started_at,
            "the poll reads from {}",
            run.since
        );
        assert!(run.watermark_after <= run.finished_at);
        let stored = stored(&w, "c_rec").await;
        let stored: DateTime<Utc> = serde_json::from_value(stored.unwrap()["at"].clone()).unwrap();
        assert!(
            stored <= run.finished_at,
            "the stored watermark is replaced: {stored}"
        );
    }

    /// Issue 15, item 2: a hostile store answering an oversized orders page gets a clear error
    /// for its connection, read no further than the cap; the next connection is still polled.
    #[tokio::test]
    async fn an_oversized_answer_fails_its_connection_and_the_next_is_still_polled() {
        let shopify = MockServer::start().await;
        let hostile = MockServer::start().await;
        let huge = format!("[{}0]", "0,".repeat(5 * 1024 * 1024 / 2));
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(huge, "application/json")
                    .insert_header("X-WP-TotalPages", "1"),
            )
            .mount(&hostile)
            .await;
        let fine = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/orders"))
            .and(wiremock::matchers::query_param("status", "any"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([{"id": 5, "number": "5", "status": "processing",
                        "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": "2026-11-27T09:00:00",
                        "shipping": {"first_name": "Ada", "address_1": "1 Main St", "country": "IE"},
                        "line_items": [{"id": 50, "sku": "TS-001", "quantity": 1, "name": "Tee"}]}]))
                    .insert_header("X-WP-TotalPages", "1"),
            )
            .mount(&fine)
            .await;
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/orders"))
            .and(wiremock::matchers::query_param("status", "trash"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([]))
                    .insert_header("X-WP-TotalPages", "1"),
            )
            .mount(&fine)
            .await;
        let w = world(&shopify).await;
        // The Shopify connection of the world is not part of this test.
        let mut shop = w.connection.clone();
        shop.status = ConnectionStatus::Disconnected;
        w.deps
            .connections
            .update(&shop)
            .await
            .unwrap()
            .stored()
            .unwrap();
        // Ids in the order `list_all` returns them: the hostile store first.
        for (id, host, server) in [
            ("c_a_hostile", "hostile.example", &hostile),
            ("c_b_fine", "fine.example", &fine),
        ] {
            crate::channels::testkit::woo_connection(
                &w.deps.channels,
                &w.connection,
                id,
                host,
                server.uri(),
                "whfake",
            )
            .await;
        }
        let results = reconcile_all(&w.deps).await.unwrap();
        let result = |id: &str| {
            results
                .iter()
                .find(|(c, _)| c == id)
                .map(|(_, r)| r)
                .unwrap_or_else(|| panic!("{id} was not polled"))
        };
        match result("c_a_hostile") {
            Err(e) => assert!(e.to_string().contains("larger than"), "a clear error: {e}"),
            Ok(run) => panic!("the oversized answer was accepted: {}", run.outcome),
        }
        let run = result("c_b_fine").as_ref().unwrap();
        assert_eq!((run.found, run.enqueued), (1, 1));
    }

    /// WooCommerce lists orders by id, not by change: a run stopped by its page limit must not
    /// move the watermark past orders on pages it did not read.
    #[tokio::test]
    async fn a_page_limited_woocommerce_run_keeps_the_watermark() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/orders"))
            .and(wiremock::matchers::query_param("page", "1"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([{"id": 9, "number": "9", "status": "processing",
                        "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": "2026-11-27T09:59:00",
                        "shipping": {"first_name": "Ada", "address_1": "1 Main St", "country": "IE"},
                        "line_items": [{"id": 90, "sku": "TS-001", "quantity": 1, "name": "Tee"}]}]))
                    .insert_header("X-WP-TotalPages", "3"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let w = world(&server).await;
        let woo = crate::channels::testkit::woo_connection(
            &w.deps.channels,
            &w.connection,
            "c_woo_lim",
            "limited.example",
            server.uri(),
            "whfake",
        )
        .await;
        let run = reconcile_with_limit(&w.deps, &woo, 1).await.unwrap();
        assert!(run.outcome.starts_with("partial"), "{}", run.outcome);
        assert_eq!((run.found, run.enqueued), (1, 1));
        assert_eq!(run.watermark_after, run.watermark_before);
        let stored = stored(&w, "c_woo_lim").await.unwrap();
        assert_eq!(stored["at"], json!("2026-11-27T09:00:00Z"), "{stored}");
        assert_eq!(
            stored["backlog"]["cursor"], "2",
            "the next run resumes at page 2"
        );
    }

    fn woo_order(id: u64, status: &str, modified: &str) -> serde_json::Value {
        json!({"id": id, "number": id.to_string(), "status": status,
            "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": modified,
            "shipping": {"first_name": "Ada", "address_1": "1 Main St", "country": "IE"},
            "line_items": [{"id": id * 10, "sku": "TS-001", "quantity": 1, "name": "Tee"}]})
    }

    /// One page of a WooCommerce orders window (`modified_after`), pass (`status`) and page.
    async fn woo_page(
        server: &MockServer,
        since: &str,
        status: &str,
        page: u32,
        total: u32,
        orders: Vec<serde_json::Value>,
    ) {
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/orders"))
            .and(wiremock::matchers::query_param("modified_after", since))
            .and(wiremock::matchers::query_param("status", status))
            .and(wiremock::matchers::query_param("page", page.to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!(orders))
                    .insert_header("X-WP-TotalPages", total.to_string().as_str()),
            )
            .named(format!("{since} {status} page {page}"))
            .mount(server)
            .await;
    }

    /// Issue 15, item 1: a WooCommerce backlog larger than one run's page budget (a connection
    /// back from days in needs_reauth, a bulk edit) is walked whole across runs: the position
    /// within the window is kept and resumed, the trash pass is reached, and an order placed
    /// meanwhile (the newest, at the end of the id order) is enqueued by the next run, not
    /// after the whole backlog.
    #[tokio::test]
    async fn a_woocommerce_backlog_beyond_the_page_limit_is_walked_whole_across_runs() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        // The backlog window (watermark 09:00 minus the overlap): five pages, then the trash.
        for p in 1..=5u32 {
            let id = u64::from(p);
            let modified = if p == 5 {
                "2026-11-27T09:20:00"
            } else {
                "2026-11-27T09:10:00"
            };
            woo_page(
                &server,
                "2026-11-27T08:50:00",
                "any",
                p,
                5,
                vec![woo_order(id, "processing", modified)],
            )
            .await;
        }
        woo_page(
            &server,
            "2026-11-27T08:50:00",
            "trash",
            1,
            1,
            vec![woo_order(6, "trash", "2026-11-27T09:10:00")],
        )
        .await;
        // The recent window (the newest change the walk's first run saw, minus the overlap):
        // an order placed while the backlog is walked.
        woo_page(
            &server,
            "2026-11-27T09:00:00",
            "any",
            1,
            1,
            vec![woo_order(7, "processing", "2026-11-27T09:30:00")],
        )
        .await;
        woo_page(&server, "2026-11-27T09:00:00", "trash", 1, 1, vec![]).await;
        let w = world(&server).await;
        let woo = crate::channels::testkit::woo_connection(
            &w.deps.channels,
            &w.connection,
            "c_woo_backlog",
            "backlog.example",
            server.uri(),
            "whfake",
        )
        .await;
        let first = reconcile_with_limit(&w.deps, &woo, 4).await.unwrap();
        assert!(first.outcome.starts_with("partial"), "{}", first.outcome);
        assert_eq!(first.enqueued, 4);
        assert_eq!(first.watermark_after, first.watermark_before);
        let second = reconcile_with_limit(&w.deps, &woo, 4).await.unwrap();
        assert_eq!(second.outcome, "completed", "{second:?}");
        // Page 5 and the newest enqueued; the trashed order (never imported) read and left.
        assert_eq!(
            (second.found, second.enqueued, second.not_ready),
            (3, 2, 1),
            "{second:?}"
        );
        let expected: DateTime<Utc> = "2026-11-27T09:30:00Z".parse().unwrap();
        assert_eq!(second.watermark_after, expected);
        // Every order of the backlog and the newest, each enqueued once.
        let mut ids = Vec::new();
        while let Some(m) = w
            .events
            .receive(1, Duration::from_secs(30))
            .await
            .unwrap()
            .pop()
        {
            let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
            ids.push(
                body["payload"]["channel_order_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            w.events.ack(&m.receipt).await.unwrap();
        }
        ids.sort();
        assert_eq!(ids, ["1", "2", "3", "4", "5", "7"]);
        // The next run starts at the new watermark with no walk left over.
        let stored = stored(&w, "c_woo_backlog").await.unwrap();
        assert_eq!(stored["at"], json!("2026-11-27T09:30:00Z"));
        assert!(
            stored.get("backlog").is_none_or(|b| b.is_null()),
            "{stored}"
        );
    }

    /// The recent window itself larger than its half of the budget (a second bulk edit): the
    /// backlog still advances every run and ends; the watermark then moves only to what the
    /// backlog covered, and the recent window becomes the next walk.
    #[tokio::test]
    async fn a_backlog_advances_even_when_the_recent_window_does_not_fit() {
        let server = MockServer::start().await;
        crate::channels::testkit::mount_locations(&server, 1).await;
        let order = |id: u64| woo_order(id, "processing", "2026-11-27T09:10:00");
        for p in 1..=3u32 {
            woo_page(
                &server,
                "2026-11-27T08:50:00",
                "any",
                p,
                3,
                vec![order(u64::from(p))],
            )
            .await;
        }
        woo_page(&server, "2026-11-27T08:50:00", "trash", 1, 1, vec![]).await;
        for p in 1..=3u32 {
            let recent = woo_order(u64::from(p) + 10, "processing", "2026-11-27T09:40:00");
            woo_page(&server, "2026-11-27T09:00:00", "any", p, 3, vec![recent]).await;
        }
        let w = world(&server).await;
        let woo = crate::channels::testkit::woo_connection(
            &w.deps.channels,
            &w.connection,
            "c_woo_two",
            "two.example",
            server.uri(),
            "whfake",
        )
        .await;
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let run = reconcile_with_limit(&w.deps, &woo, 2).await.unwrap();
            outcomes.push(run.outcome.clone());
            if run.outcome == "completed" {
                let covered: DateTime<Utc> = "2026-11-27T09:10:00Z".parse().unwrap();
                assert_eq!(
                    run.watermark_after, covered,
                    "only what the backlog covered"
                );
                break;
            }
        }
        assert_eq!(
            outcomes.last().map(String::as_str),
            Some("completed"),
            "{outcomes:?}"
        );
        assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    }
}
