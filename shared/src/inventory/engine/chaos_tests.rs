//! Chaos on Live push (the second half of the crash-and-chaos harness): a stateful fake
//! Shopify that answers `inventorySetQuantities` with 429, 500 or a timeout at random
//! (seeded), honours `@idempotent` keys and `changeFromQuantity` as Shopify does, while the
//! WMS keeps moving stock. The pusher runs as `serve` runs it (one message at a time, a
//! refused message redelivered, at most 5 receives). At the end the fake's quantities must be
//! the WMS's, no push may be lost, the calls must be bounded, and the failures must show on
//! the run records.
//!
//! `make test` runs one fixed seed with one timeout (a timeout costs the client's 20 s);
//! `CHAOS_SEEDS=n cargo test -p shared --features embedded --lib live_push_chaos -- --ignored`
//! runs n more seeds (`make chaos`).

use super::*;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
use crate::embedded::{EmbeddedQueue, EmbeddedStore};
use crate::inventory::channel::Channels;
use crate::runner::drain_batch;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SKUS: u32 = 6;

/// What the fake did, for the assertions.
#[derive(Debug, Default)]
struct Tally {
    ok: u32,
    throttled: u32,
    errors: u32,
    timeouts: u32,
    stale: u32,
    replays: u32,
}

/// Shopify's inventory as a state machine, with faults drawn from a seeded generator.
struct ChaosShopify {
    state: Mutex<ChaosState>,
}

struct ChaosState {
    rng: rand::rngs::StdRng,
    /// Quantity per inventory item number.
    quantities: BTreeMap<String, i64>,
    /// `@idempotent` key → the answer given (a replay gets it again, nothing re-applied).
    answered: HashMap<String, Value>,
    /// Timeouts still allowed (each costs the client's 20 s).
    timeouts_left: u32,
    /// While false, every call succeeds (the storm is over).
    storm: bool,
    /// While true, every call answers 500 (an outage longer than a message's receives).
    down: bool,
    /// An item the location does not stock: its rows are refused for good.
    unstocked: Option<String>,
    tally: Tally,
}

fn answer(user_errors: Vec<Value>) -> Value {
    json!({
        "data": {"inventorySetQuantities": {
            "inventoryAdjustmentGroup": if user_errors.is_empty() { json!({"id": "gid://shopify/InventoryAdjustmentGroup/1"}) } else { Value::Null },
            "userErrors": user_errors}},
        "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}}
    })
}

impl ChaosState {
    /// Applies one `inventorySetQuantities` call as Shopify does: a key seen before gets its
    /// first answer again; a row whose `changeFromQuantity` is not the current quantity
    /// refuses the whole call (`CHANGE_FROM_QUANTITY_STALE` on that row); else every row is set.
    fn apply(&mut self, variables: &Value) -> Value {
        let key = variables["key"].as_str().unwrap_or_default().to_owned();
        if let Some(previous) = self.answered.get(&key) {
            self.tally.replays += 1;
            return previous.clone();
        }
        let rows = variables["input"]["quantities"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let item = |r: &Value| {
            r["inventoryItemId"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let unstocked: Vec<Value> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| Some(item(r)) == self.unstocked)
            .map(|(i, _)| {
                json!({"code": "ITEM_NOT_STOCKED_AT_LOCATION",
                    "field": ["input", "quantities", i.to_string(), "inventoryItemId"],
                    "message": "The specified inventory item is not stocked at the location."})
            })
            .collect();
        if !unstocked.is_empty() {
            let body = answer(unstocked);
            self.answered.insert(key, body.clone());
            return body;
        }
        let errors: Vec<Value> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !r["changeFromQuantity"].is_null()
                    && r["changeFromQuantity"].as_i64()
                        != Some(*self.quantities.get(&item(r)).unwrap_or(&0))
            })
            .map(|(i, _)| {
                json!({"code": "CHANGE_FROM_QUANTITY_STALE",
                    "field": ["input", "quantities", i.to_string(), "changeFromQuantity"],
                    "message": "The changeFromQuantity value does not match persisted value."})
            })
            .collect();
        if errors.is_empty() {
            for r in &rows {
                self.quantities
                    .insert(item(r), r["quantity"].as_i64().unwrap_or(-1));
            }
        } else {
            self.tally.stale += 1;
        }
        let body = answer(errors);
        self.answered.insert(key, body.clone());
        body
    }
}

impl Respond for ChaosShopify {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut s = self.state.lock().unwrap();
        if s.down {
            s.tally.errors += 1;
            return ResponseTemplate::new(500).set_body_string("Internal Server Error");
        }
        let roll: f64 = if s.storm { s.rng.random() } else { 1.0 };
        if roll < 0.2 {
            s.tally.throttled += 1;
            return ResponseTemplate::new(429).insert_header("Retry-After", "0");
        }
        if roll < 0.4 {
            s.tally.errors += 1;
            return ResponseTemplate::new(500).set_body_string("Internal Server Error");
        }
        if roll < 0.5 && s.timeouts_left > 0 {
            // The worst kind: Shopify applied the call, the answer never arrives (the
            // client gives up after its 20 s).
            s.timeouts_left -= 1;
            s.tally.timeouts += 1;
            let applied = s.apply(&body["variables"]);
            return ResponseTemplate::new(200)
                .set_body_json(applied)
                .set_delay(Duration::from_secs(25));
        }
        s.tally.ok += 1;
        let applied = s.apply(&body["variables"]);
        ResponseTemplate::new(200).set_body_json(applied)
    }
}

struct World {
    server: MockServer,
    fake: Arc<ChaosShopify>,
    store: EmbeddedStore,
    connection: Connection,
    stock: Arc<StockDeps>,
    push: Arc<PushDeps>,
    queue: EmbeddedQueue,
    dlq: EmbeddedQueue,
    _dir: tempfile::TempDir,
}

/// Shares the fake between wiremock (which takes ownership) and the test.
struct Shared(Arc<ChaosShopify>);

impl Respond for Shared {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

async fn world(seed: u64, timeouts: u32) -> World {
    let server = MockServer::start().await;
    let fake = Arc::new(ChaosShopify {
        state: Mutex::new(ChaosState {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            quantities: (1..=SKUS).map(|n| ((1000 + n).to_string(), 0)).collect(),
            answered: HashMap::new(),
            timeouts_left: timeouts,
            storm: true,
            down: false,
            unstocked: None,
            tally: Tally::default(),
        }),
    });
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .and(body_string_contains("inventorySetQuantities"))
        .respond_with(Shared(fake.clone()))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = ShopifyCredentials::static_token("shpat_fake_chaos", "write_inventory");
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
    connection.settings.inventory_sync = SyncMode::Live;
    connection.settings.inventory_location = Some("gid://shopify/Location/1".into());
    store.update(&connection).await.unwrap().stored().unwrap();
    let settings = EngineSettings {
        window: Duration::from_millis(20),
        settle: Duration::from_secs(900),
        full_chunk: 1000,
    };
    let live = embedded_live_trigger(&store, settings);
    // As `serve` has it: at most 5 receives, then the dead-letter queue.
    let queue = store.queue(INVENTORY_PUSH_QUEUE, Some("inventory-push-dlq"), 5);
    let dlq = store.queue("inventory-push-dlq", None, 5);
    for n in 1..=SKUS {
        let entry = SkuMapEntry {
            inventory_item_id: format!("gid://shopify/InventoryItem/{}", 1000 + n),
            variant_id: format!("gid://shopify/ProductVariant/{}", 1000 + n),
            product_id: "gid://shopify/Product/1".into(),
            tracked: true,
            product_status: "active".into(),
            generation: 1,
        };
        store
            .put(
                "skumap#c_inv",
                &format!("SKU-{n}"),
                1,
                &serde_json::to_value(entry).unwrap(),
            )
            .await
            .unwrap();
    }
    crate::ports::KeyValue::put(
        &store,
        "products-map#c_inv",
        &json!({"generation": 1}),
        None,
    )
    .await
    .unwrap();
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
        dlq,
        server,
        fake,
        store,
        connection,
        _dir: dir,
    }
}

impl World {
    /// One receive of the pusher, as `serve` runs it; a refused message is visible again
    /// at once (the test's stand-in for the visibility timeout). Returns how many it took.
    async fn pusher_step(&self) -> usize {
        drain_batch(
            &self.queue,
            self.push.clone(),
            handle_push,
            Duration::from_millis(1),
            1,
        )
        .await
        .unwrap()
    }
}

/// What one chaos run saw.
#[derive(Debug)]
struct Outcome {
    want: BTreeMap<String, i64>,
    after_storm: BTreeMap<String, i64>,
    dirty_left: Vec<String>,
    got: BTreeMap<String, i64>,
    dead: usize,
    calls: usize,
    changes: usize,
    live_runs: usize,
    failed_runs: usize,
    tally: String,
}

async fn run_chaos(seed: u64, changes: usize, timeouts: u32) -> Outcome {
    let w = world(seed, timeouts).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    let base: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
    // Stock moves while the pusher works: a few changes, a pusher receive, and so on.
    for i in 0..changes {
        let sku = format!("SKU-{}", rng.random_range(1..=SKUS));
        let available: i64 = rng.random_range(0..40);
        let at = base + chrono::Duration::seconds(i as i64);
        let message = serde_json::from_value(json!({"type": "stock.changed", "tenant": "dev",
            "sku": sku, "available": available, "at": at}))
        .unwrap();
        handle_stock(&w.stock, message).await;
        want.insert(sku, available);
        if rng.random_bool(0.5) {
            tokio::time::sleep(Duration::from_millis(25)).await;
            w.pusher_step().await;
        }
    }
    // The storm passes; the pusher takes what is left, as `serve` would.
    w.fake.state.lock().unwrap().storm = false;
    tokio::time::sleep(Duration::from_millis(25)).await;
    let mut idle = 0;
    while idle < 3 {
        if w.pusher_step().await == 0 {
            idle += 1;
            tokio::time::sleep(Duration::from_millis(30)).await;
        } else {
            idle = 0;
        }
    }
    let quantities = |w: &World| -> BTreeMap<String, i64> {
        let s = w.fake.state.lock().unwrap();
        want.keys()
            .map(|sku| {
                let item = (1000 + sku[4..].parse::<u32>().unwrap_or(0)).to_string();
                (sku.clone(), *s.quantities.get(&item).unwrap_or(&-1))
            })
            .collect()
    };
    let after_storm = quantities(&w);
    // A SKU the channel does not show right yet must still be marked for a push: given up
    // (5 receives), never forgotten.
    let mut dirty_left = Vec::new();
    for (sku, q) in &after_storm {
        let dirty = w
            .store
            .fetch(&crate::keys::partition::dirty(&w.connection.id), sku)
            .await
            .unwrap()
            .is_some();
        if want.get(sku) != Some(q) && !dirty {
            panic!(
                "{sku} shows {q}, the WMS {:?}, and nothing will push it",
                want.get(sku)
            );
        }
        if dirty {
            dirty_left.push(sku.clone());
        }
    }
    // The daily full push (drift correction) then writes whatever was left.
    start_full(
        &w.store,
        &*w.push.push_queue,
        &w.connection,
        RunKind::Daily,
        false,
    )
    .await
    .unwrap();
    while w.pusher_step().await > 0 {}
    let got = quantities(&w);
    let mut dead = 0;
    while let Ok(batch) = w.dlq.receive(10, Duration::from_secs(60)).await {
        if batch.is_empty() {
            break;
        }
        dead += batch.len();
    }
    let (history, _) = runs::list(&w.store, &w.connection.id, None, 1000)
        .await
        .unwrap();
    let tally = format!("{:?}", w.fake.state.lock().unwrap().tally);
    Outcome {
        want,
        after_storm,
        dirty_left,
        got,
        dead,
        calls: w.server.received_requests().await.unwrap_or_default().len(),
        changes,
        live_runs: history.iter().filter(|r| r.kind == RunKind::Live).count(),
        failed_runs: history
            .iter()
            .filter(|r| r.state == runs::RunState::Failed || r.failed > 0)
            .count(),
        tally,
    }
}

fn check(o: &Outcome) {
    assert_eq!(
        o.got, o.want,
        "the channel's quantities are the WMS's: {o:?}"
    );
    if o.dead == 0 {
        assert_eq!(o.after_storm, o.want, "right without the daily push: {o:?}");
    }
    // Bounded: each change sends at most one Live message, each message is received at most
    // 5 times, each receive makes at most one call per batch (one batch: 6 SKUs) retried at
    // most 5 times by the client on 429, plus a resubmission of the rows a refusal spared.
    assert!(
        o.calls <= (o.changes + 1) * 5 * 5 * 2,
        "a retry loop: {o:?}"
    );
    assert!(o.failed_runs > 0, "failures show on the run records: {o:?}");
}

/// GIVEN a Live Shopify connection whose Shopify answers 429, 500 or (once) a timeout after
/// applying the write, at random from seed 15, WHEN 60 stock changes over 6 SKUs arrive while
/// the pusher works THEN the channel ends with the WMS's quantities, no message is given up,
/// the calls are bounded and the failures are on the run records. (Before the unanswered
/// batches were replayed, the timed-out write made the next compare-and-set stale and held
/// SKU-5 at 14 while the WMS said 17.)
///
/// With other seeds a message can fail all its 5 receives: its SKUs stay dirty (the next
/// Live message or the daily push writes them, which `check` runs), never forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_push_chaos_ends_with_the_wms_quantities() {
    let outcome = run_chaos(15, 60, 1).await;
    eprintln!("live push chaos, seed 15: {outcome:?}");
    check(&outcome);
    assert_eq!(outcome.dead, 0, "seed 15 gives no message up: {outcome:?}");
    // The timed-out call was applied; its replay under the same key settled it, and no
    // compare-and-set was refused for it.
    assert!(
        outcome.tally.contains("timeouts: 1") && outcome.tally.contains("replays: 1"),
        "{outcome:?}"
    );
    assert!(outcome.tally.contains("stale: 0"), "{outcome:?}");
}

/// More seeds (`CHAOS_SEEDS`, default 20), no timeouts (each costs 20 s) unless
/// `CHAOS_TIMEOUTS` says how many per seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: make chaos"]
async fn live_push_chaos_many_seeds() {
    let seeds: u64 = std::env::var("CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let timeouts: u32 = std::env::var("CHAOS_TIMEOUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in 1..=seeds {
        let outcome = run_chaos(1000 + seed, 120, timeouts).await;
        println!(
            "seed {}: {} changes, {} calls, {} dead (dirty after the storm: {:?}), {} live runs ({} with failures), {}",
            1000 + seed,
            outcome.changes,
            outcome.calls,
            outcome.dead,
            outcome.dirty_left,
            outcome.live_runs,
            outcome.failed_runs,
            outcome.tally
        );
        check(&outcome);
    }
}

/// Known failure 17 (multi-location: an item not stocked at the connection's location, and
/// the endless correction loop it caused elsewhere): GIVEN Shopify refuses SKU-3's row with
/// `ITEM_NOT_STOCKED_AT_LOCATION` [U: the code name; any row-level refusal other than a stale
/// compare-and-set is handled the same] WHEN a Live push writes SKU-1..3 THEN SKU-1 and SKU-2
/// are set, SKU-3 fails alone with the reason on the run, the message is done (no retry), and
/// a later change of SKU-3 costs one more call, not a loop.
#[tokio::test]
async fn an_unstocked_item_fails_alone_on_the_run_and_is_not_retried_in_a_loop() {
    let w = world(17, 0).await;
    {
        let mut s = w.fake.state.lock().unwrap();
        s.storm = false;
        s.unstocked = Some("1003".into());
    }
    for (n, available) in [(1, 5), (2, 6), (3, 7)] {
        let message = serde_json::from_value(json!({"type": "stock.changed", "tenant": "dev",
            "sku": format!("SKU-{n}"), "available": available, "at": format!("2026-11-28T10:00:0{n}Z")}))
        .unwrap();
        handle_stock(&w.stock, message).await;
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    while w.pusher_step().await > 0 {}
    let calls = w.server.received_requests().await.unwrap().len();
    // The refused call, then the other two rows under a derived key.
    assert_eq!(calls, 2);
    {
        let s = w.fake.state.lock().unwrap();
        assert_eq!(
            (
                s.quantities["1001"],
                s.quantities["1002"],
                s.quantities["1003"]
            ),
            (5, 6, 0)
        );
    }
    let (history, _) = runs::list(&w.store, &w.connection.id, None, 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].pushed, history[0].failed), (2, 1));
    let failures = runs::failures_of(&w.store, &history[0].id).await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].sku.as_str(), "SKU-3");
    assert_eq!(failures[0].code, "ITEM_NOT_STOCKED_AT_LOCATION");
    assert_eq!(
        w.dlq
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .len(),
        0
    );

    // SKU-3 moves again: one more attempt, refused again, and that is all.
    let message = serde_json::from_value(json!({"type": "stock.changed", "tenant": "dev",
        "sku": "SKU-3", "available": 9, "at": "2026-11-28T10:01:00Z"}))
    .unwrap();
    handle_stock(&w.stock, message).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    while w.pusher_step().await > 0 {}
    assert_eq!(w.server.received_requests().await.unwrap().len(), calls + 1);
}

/// Issue 15 (a Live push that exhausts its receives): GIVEN Shopify down for longer than a
/// Live message's 5 receives WHEN SKU-1 changes THEN its message ends on the dead-letter queue
/// with SKU-1 still marked dirty (nothing forgotten); WHEN Shopify is back and any other SKU
/// of the tenant changes THEN that Live push writes SKU-1 too, without the daily push, and
/// nothing is left dirty.
#[tokio::test]
async fn a_live_message_that_exhausted_its_receives_is_pushed_by_the_next_live_trigger() {
    let w = world(7, 0).await;
    {
        let mut s = w.fake.state.lock().unwrap();
        s.storm = false;
        s.down = true;
    }
    let change = |sku: &str, available: i64, at: &str| {
        serde_json::from_value::<crate::messages::WmsInbound>(json!({"type": "stock.changed",
            "tenant": "dev", "sku": sku, "available": available, "at": at}))
        .unwrap()
    };
    handle_stock(&w.stock, change("SKU-1", 5, "2026-11-28T10:00:00Z")).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut receives = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if w.pusher_step().await == 0 {
            break;
        }
        receives += 1;
        assert!(receives <= 5, "at most 5 receives");
    }
    assert_eq!(receives, 5);
    let dead = w.dlq.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(dead.len(), 1, "the message is dead-lettered");
    let dirty = crate::keys::partition::dirty(&w.connection.id);
    assert!(w.store.fetch(&dirty, "SKU-1").await.unwrap().is_some());
    assert_eq!(w.fake.state.lock().unwrap().quantities["1001"], 0);

    w.fake.state.lock().unwrap().down = false;
    handle_stock(&w.stock, change("SKU-2", 6, "2026-11-28T10:05:00Z")).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    while w.pusher_step().await > 0 {}
    {
        let s = w.fake.state.lock().unwrap();
        assert_eq!((s.quantities["1001"], s.quantities["1002"]), (5, 6));
    }
    let left = w.store.page(&dirty, "", None, 10).await.unwrap();
    assert!(left.records.is_empty(), "{left:?}");
}
