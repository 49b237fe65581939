//! The engine end to end on the embedded store and a fake Shopify.

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
    let credentials = ShopifyCredentials::static_token("shpat_fake_engine", "write_inventory");
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
    store.update(&connection).await.unwrap().stored().unwrap();
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
        }),
        push: Arc::new(PushDeps {
            connections: Arc::new(store.clone()),
            records: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            values: Arc::new(store.clone()),
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
        crate::ports::KeyValue::put(
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
        let message = serde_json::from_value(message).expect("a WMS message");
        handle_stock(&self.stock, message).await
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
    let mut disabled = w
        .store
        .get(&w.connection.tenant, &w.connection.id)
        .await
        .unwrap()
        .unwrap();
    disabled.settings.inventory_sync = SyncMode::Disabled;
    let disabled = w.store.update(&disabled).await.unwrap().stored().unwrap();
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
    w.store.update(&gone).await.unwrap().stored().unwrap();
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

/// Counts every call on the records port (reads and writes), passing each to the store.
struct CountingRecords {
    inner: EmbeddedStore,
    calls: std::sync::atomic::AtomicUsize,
}

impl CountingRecords {
    fn tick(&self) {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[async_trait::async_trait]
impl Records for CountingRecords {
    async fn put(&self, p: &str, k: &str, v: i64, value: &Value) -> PortResult<()> {
        self.tick();
        self.inner.put(p, k, v, value).await
    }
    async fn put_if_newer(&self, p: &str, k: &str, v: i64, value: &Value) -> PortResult<bool> {
        self.tick();
        self.inner.put_if_newer(p, k, v, value).await
    }
    async fn put_many(&self, p: &str, items: &[(String, i64, Value)]) -> PortResult<()> {
        self.tick();
        self.inner.put_many(p, items).await
    }
    async fn fetch(&self, p: &str, k: &str) -> PortResult<Option<crate::ports::Record>> {
        self.tick();
        self.inner.fetch(p, k).await
    }
    async fn fetch_many(&self, p: &str, keys: &[String]) -> PortResult<Vec<crate::ports::Record>> {
        self.tick();
        self.inner.fetch_many(p, keys).await
    }
    async fn remove(&self, p: &str, k: &str) -> PortResult<()> {
        self.tick();
        self.inner.remove(p, k).await
    }
    async fn remove_if_version(&self, p: &str, k: &str, v: i64) -> PortResult<bool> {
        self.tick();
        self.inner.remove_if_version(p, k, v).await
    }
    async fn page(
        &self,
        p: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<crate::ports::RecordPage> {
        self.tick();
        self.inner.page(p, prefix, after, limit).await
    }
}

/// Issue 17: an imported order's inventory work is flat in its lines. GIVEN a Live
/// connection whose channel model holds 20 of each SKU WHEN orders of 1, 12 and 50 lines
/// (one SKU twice) are imported THEN each takes the same number of storage calls, every line
/// is reserved (a SKU twice summed), every model is lowered by its units once, every SKU is
/// marked dirty, and the pusher is woken once per window.
#[tokio::test]
async fn an_orders_inventory_work_is_flat_in_its_lines() {
    let w = world(SyncMode::Live).await;
    let counting = Arc::new(CountingRecords {
        inner: w.store.clone(),
        calls: Default::default(),
    });
    let live = LiveTrigger {
        connections: Arc::new(w.store.clone()),
        records: counting.clone(),
        push_queue: w.push.push_queue.clone(),
        settings: EngineSettings {
            window: Duration::from_secs(3600),
            ..EngineSettings::default()
        },
    };
    let pushed = crate::keys::partition::pushed(&w.connection.id);
    let model = |q: i64| json!({"quantity": q, "at": "2026-11-27T09:00:00Z"});
    let mut calls = Vec::new();
    for (n, size) in [1usize, 12, 50].into_iter().enumerate() {
        let skus: Vec<Sku> = (0..size)
            .map(|i| Sku::parse(format!("O{n}-{i:03}")).unwrap())
            .collect();
        let models: Vec<(String, i64, Value)> = skus
            .iter()
            .map(|s| (s.as_str().to_owned(), 5, model(20)))
            .collect();
        w.store.put_many(&pushed, &models).await.unwrap();
        let mut lines: Vec<(Sku, u32)> = skus.iter().map(|s| (s.clone(), 1)).collect();
        lines.push((skus[0].clone(), 2));
        let before = counting.calls.load(std::sync::atomic::Ordering::Relaxed);
        live.order_imported(
            &w.connection.tenant,
            &w.connection.id,
            &format!("order#shopify#demo.myshopify.com#{n}"),
            &lines,
            "2026-11-27T10:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
        calls.push(counting.calls.load(std::sync::atomic::Ordering::Relaxed) - before);
        // One wake of the pusher per window, however many lines and orders.
        assert_eq!(w.queue.depth().await.unwrap(), 1, "one wake per window");
        let reserved = stock::reserved(&w.store, &w.connection.tenant)
            .await
            .unwrap();
        for (i, sku) in skus.iter().enumerate() {
            let units = if i == 0 { 3 } else { 1 };
            assert_eq!(reserved.get(sku), Some(&units), "{sku} reserved");
            let stored = w.store.fetch(&pushed, sku.as_str()).await.unwrap().unwrap();
            assert_eq!(stored.version, 6, "{sku} written once");
            assert_eq!(stored.value["quantity"], json!(20 - units), "{sku} lowered");
            let dirty = crate::keys::partition::dirty(&w.connection.id);
            assert!(w.store.fetch(&dirty, sku.as_str()).await.unwrap().is_some());
        }
    }
    assert_eq!(
        calls[0], calls[1],
        "12 lines cost the calls of 1: {calls:?}"
    );
    assert_eq!(
        calls[0], calls[2],
        "50 lines cost the calls of 1: {calls:?}"
    );
}
