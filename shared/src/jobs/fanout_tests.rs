//! The fan-out on the embedded store against a fake Shopify: ticks enqueue only what is due,
//! a due entry runs once however often it was enqueued, a long poll continues itself, and a
//! store that hangs holds one worker of the pool, not the others.

use super::*;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::{self, save_connection, test_registry};
use crate::domain::{Channel, ConnectionStatus};
use crate::embedded::{EmbeddedQueue, EmbeddedStore, EmbeddedVault};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GRAPHQL: &str = "/admin/api/2026-10/graphql.json";

struct World {
    store: EmbeddedStore,
    jobs: EmbeddedQueue,
    dlq: EmbeddedQueue,
    tick: TickDeps,
    worker: Arc<JobsDeps>,
    _dir: tempfile::TempDir,
}

fn token(id: &str) -> String {
    format!("shpat_fake_{id}")
}

/// Shopify connections `ids` (tenant `dev`), each with its own token, on the fake `server`.
async fn world(server: &MockServer, ids: &[&str]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let channels = test_registry(&store, vault, Some(server.uri()));
    for id in ids {
        let c = testkit::connection(
            id,
            Channel::Shopify,
            &format!("{}.myshopify.com", id.replace('_', "-")),
            ConnectionStatus::Active,
        );
        let credentials = ShopifyCredentials::static_token(&token(id), "").to_secret();
        save_connection(&channels, &c, &credentials).await;
    }
    let jobs = store.queue("jobs", Some("jobs-dlq"), 5);
    let dlq = store.queue("jobs-dlq", None, 5);
    let wms_orders: Arc<dyn Queue> = Arc::new(store.queue("wms-orders", None, 5));
    let worker = Arc::new(JobsDeps {
        reconcile: ReconcileDeps {
            records: Arc::new(store.clone()),
            connections: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            values: Arc::new(store.clone()),
            channel_events: Arc::new(store.queue("channel-events", None, 5)),
            channels: channels.clone(),
        },
        health: WebhookHealthDeps {
            connections: Arc::new(store.clone()),
            values: Arc::new(store.clone()),
            channels: channels.clone(),
        },
        products: ProductsDeps {
            idempotency: Arc::new(store.clone()),
            values: Arc::new(store.clone()),
            records: Arc::new(store.clone()),
            wms_orders,
            channels: channels.clone(),
        },
        push_queue: Arc::new(store.queue("inventory-push", None, 5)),
        jobs: Arc::new(jobs.clone()),
        dead_letter: Arc::new(dlq.clone()),
        cadences: Cadences::default(),
        reconcile_pages: RECONCILE_PAGES_PER_MESSAGE,
        products_pages: crate::jobs::products::PAGES_PER_MESSAGE,
    });
    let tick = TickDeps {
        connections: Arc::new(store.clone()),
        records: Arc::new(store.clone()),
        idempotency: Arc::new(store.clone()),
        values: Arc::new(store.clone()),
        channels,
        jobs: Arc::new(jobs.clone()),
        cadences: Cadences::default(),
    };
    World {
        store,
        jobs,
        dlq,
        tick,
        worker,
        _dir: dir,
    }
}

fn empty_page() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"data": {"orders": {"nodes": [],
        "pageInfo": {"hasNextPage": false, "endCursor": null}}}}))
}

/// The orders poll of connection `id` answers `response`, exactly `times` times.
async fn mount_poll(
    server: &MockServer,
    id: &str,
    response: ResponseTemplate,
    times: impl Into<wiremock::Times>,
) {
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", token(id).as_str()))
        .and(body_partial_json(json!({"variables": {"first": 3}})))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

async fn receive_all(queue: &EmbeddedQueue) -> Vec<crate::ports::Received> {
    queue.receive(1000, Duration::from_secs(60)).await.unwrap()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn last_reconcile(store: &EmbeddedStore, id: &str) -> Option<serde_json::Value> {
    crate::ports::KeyValue::get(store, &format!("reconcile-last#{id}"))
        .await
        .unwrap()
}

/// GIVEN three connections the index does not know yet WHEN the reconcile tick fires twice
/// before any worker ran THEN the first tick's sweep enrolled all three, each tick enqueued
/// one message per connection, and running all six messages polled each store exactly once
/// and moved each entry to the next slot, ten minutes on.
#[tokio::test]
async fn a_due_entry_runs_once_however_often_it_was_enqueued() {
    let server = MockServer::start().await;
    for id in ["c_a", "c_b", "c_c"] {
        mount_poll(&server, id, empty_page(), 1).await;
    }
    let w = world(&server, &["c_a", "c_b", "c_c"]).await;
    let now = now_ms();
    let first = tick(&w.tick, Job::Reconcile, now).await.unwrap();
    assert_eq!((first.enrolled, first.enqueued), (Some(3), 3));
    let second = tick(&w.tick, Job::Reconcile, now).await.unwrap();
    assert_eq!(
        (second.enrolled, second.enqueued),
        (None, 3),
        "the sweep runs once a day; the entries are still due"
    );
    let messages = receive_all(&w.jobs).await;
    assert_eq!(messages.len(), 6);
    let mut outcomes = Vec::new();
    for m in &messages {
        match handle(w.worker.clone(), m.body.clone()).await {
            Disposition::Done(outcome) => outcomes.push(outcome),
            other => panic!("{other:?}"),
        }
    }
    outcomes.sort();
    assert_eq!(outcomes.iter().filter(|o| *o == "completed").count(), 3);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.starts_with("skipped: already run"))
            .count(),
        3,
        "{outcomes:?}"
    );
    for id in ["c_a", "c_b", "c_c"] {
        assert_eq!(
            last_reconcile(&w.store, id).await.unwrap()["outcome"],
            "completed"
        );
    }
    // Nothing is due now; ten minutes on, all three are.
    let later = tick(&w.tick, Job::Reconcile, now).await.unwrap();
    assert_eq!(later.enqueued, 0);
    let next = tick(&w.tick, Job::Reconcile, now + 600_000).await.unwrap();
    assert_eq!(next.enqueued, 3);
}

/// GIVEN a connection enrolled when it was created WHEN the daily jobs' ticks fire now THEN
/// nothing is enqueued (their first runs are placed in the night window), and at the
/// connection's place in the window exactly one message for it is due.
#[tokio::test]
async fn daily_jobs_wait_for_their_place_in_the_window() {
    let server = MockServer::start().await;
    let w = world(&server, &["c_d"]).await;
    let connection = w
        .tick
        .connections
        .find_by_id(&crate::domain::ConnectionId::parse("c_d").unwrap())
        .await
        .unwrap()
        .unwrap();
    let now = now_ms();
    crate::schedule::enroll_new(&*w.tick.records, &connection)
        .await
        .unwrap();
    // The sweep does not know the connection ran nothing yet: it enrolls it again, at the
    // same place in the window (the same key), so the job is still due once.
    let products = tick(&w.tick, Job::Products, now).await.unwrap();
    assert_eq!(products.enrolled, Some(1));
    let at = crate::schedule::first_due(Job::Products.default_cadence(), &connection.id, now);
    if at > now + HORIZON.as_millis() as i64 {
        assert_eq!(products.enqueued, 0);
    }
    let then = tick(&w.tick, Job::Products, at).await.unwrap();
    assert_eq!(then.enqueued, 1);
    let reconcile = tick(&w.tick, Job::Reconcile, now).await.unwrap();
    assert_eq!(reconcile.enqueued, 1, "the poll is due at once");
}

/// GIVEN a store whose backlog is longer than one message's page budget WHEN its job runs
/// THEN it stops at the budget, keeps its cursor and sends itself again; the continuation
/// finishes the poll and only then does the entry move on.
#[tokio::test]
async fn a_long_poll_continues_in_a_new_message() {
    let server = MockServer::start().await;
    testkit::mount_locations(&server, 1).await;
    let node = |id: u64| {
        json!({"id": format!("gid://shopify/Order/{id}"), "legacyResourceId": id.to_string(),
        "name": format!("#{id}"), "createdAt": "2026-11-27T09:00:00Z",
        "updatedAt": "2026-11-27T09:10:00Z", "cancelledAt": null,
        "displayFinancialStatus": "PAID", "paymentGatewayNames": ["shopify_payments"],
        "test": false, "currencyCode": "EUR", "email": null,
        "shippingAddress": {"name": "Ada", "firstName": null, "lastName": null, "company": null,
            "address1": "1 Main St", "address2": null, "city": "Dublin", "provinceCode": null,
            "zip": "D01", "countryCodeV2": "IE", "phone": null},
        "lineItems": {"nodes": [{"id": "gid://shopify/LineItem/1", "sku": "TS-001", "quantity": 1,
            "name": "Tee", "requiresShipping": true}], "pageInfo": {"hasNextPage": false}}})
    };
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(body_partial_json(
            json!({"variables": {"first": 3, "after": null}}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"orders": {
            "nodes": [node(1)], "pageInfo": {"hasNextPage": true, "endCursor": "p2"}}}})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    // Shopify sorts by change: the continuation reads again from the advanced watermark.
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(body_partial_json(
            json!({"variables": {"first": 3, "after": null,
            "query": "updated_at:>='2026-11-27T09:00:00Z'"}}),
        ))
        .respond_with(empty_page())
        .expect(1)
        .mount(&server)
        .await;
    let mut w = world(&server, &["c_l"]).await;
    Arc::get_mut(&mut w.worker).unwrap().reconcile_pages = 1;
    tick(&w.tick, Job::Reconcile, now_ms()).await.unwrap();
    let first = receive_all(&w.jobs).await;
    assert_eq!(first.len(), 1);
    let outcome = handle(w.worker.clone(), first[0].body.clone()).await;
    assert_eq!(
        outcome,
        Disposition::Done("partial after 1 page(s): continued in part 1".into())
    );
    w.jobs.ack(&first[0].receipt).await.unwrap();
    let continuation = receive_all(&w.jobs).await;
    assert_eq!(continuation.len(), 1);
    let message: JobMessage = serde_json::from_str(&continuation[0].body).unwrap();
    assert_eq!(message.part, 1);
    assert_eq!(
        handle(w.worker.clone(), continuation[0].body.clone()).await,
        Disposition::Done("completed".into())
    );
    let last =
        crate::schedule::last_run(&*w.tick.values, Job::Reconcile, &message.entry.connection)
            .await
            .unwrap()
            .unwrap();
    assert!(last.next_ms > message.entry.at_ms);
}

/// GIVEN a job message that is not JSON WHEN the worker gets it THEN it goes to the jobs DLQ
/// with its reason, at once (no retry loop).
#[tokio::test]
async fn an_unreadable_job_message_is_dead_lettered() {
    let server = MockServer::start().await;
    let w = world(&server, &[]).await;
    let outcome = handle(w.worker.clone(), "{not json".into()).await;
    assert!(matches!(outcome, Disposition::Done(ref r) if r.starts_with("dead-lettered")));
    let dead = receive_all(&w.dlq).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body.contains("unreadable job message"));
}

/// GIVEN an entry whose connection was deleted, and one of a channel without an orders poll
/// WHEN their jobs run THEN the first entry is dropped and the second parked, and neither
/// is enqueued again.
#[tokio::test]
async fn gone_and_unpolled_connections_leave_the_index() {
    let server = MockServer::start().await;
    let w = world(&server, &[]).await;
    let gone = crate::domain::Connection::fixture("c_gone", Channel::Shopify, "g.myshopify.com");
    let unpolled = testkit::connection("c_etsy", Channel::Etsy, "12345", ConnectionStatus::Active);
    save_connection(
        &w.worker.reconcile.channels,
        &unpolled,
        &crate::ports::Secret::new("{}"),
    )
    .await;
    let now = now_ms();
    for c in [&gone, &unpolled] {
        crate::schedule::enroll(
            &*w.tick.records,
            Job::Reconcile,
            Job::Reconcile.default_cadence(),
            c,
            now,
        )
        .await
        .unwrap();
    }
    let polled_by_etsy = eligible(&w.worker.reconcile.channels, Job::Reconcile, &unpolled);
    let report = tick(&w.tick, Job::Reconcile, now).await.unwrap();
    assert_eq!(report.enqueued, 2);
    for m in receive_all(&w.jobs).await {
        let outcome = handle(w.worker.clone(), m.body).await;
        assert!(matches!(outcome, Disposition::Done(_)), "{outcome:?}");
        w.jobs.ack(&m.receipt).await.unwrap();
    }
    let again = tick(&w.tick, Job::Reconcile, now + 3_600_000)
        .await
        .unwrap();
    if polled_by_etsy {
        assert_eq!(again.enqueued, 1, "only the polled connection stays");
    } else {
        assert_eq!(again.enqueued, 0);
    }
}

/// GIVEN a pool of two workers and two stores, one that hangs WHEN both are due THEN the
/// other store is reconciled while the hanging one still holds its worker (issue 15, item 17).
#[tokio::test]
async fn a_hanging_store_holds_one_worker_not_the_others() {
    let server = MockServer::start().await;
    mount_poll(
        &server,
        "c_hang",
        empty_page().set_delay(Duration::from_secs(600)),
        0..=1,
    )
    .await;
    mount_poll(&server, "c_fast", empty_page(), 1).await;
    let w = world(&server, &["c_hang", "c_fast"]).await;
    // The hanging store's message first, so a one-at-a-time loop would be stuck on it.
    let now = now_ms();
    for id in ["c_hang", "c_fast"] {
        let c = w
            .tick
            .connections
            .find_by_id(&crate::domain::ConnectionId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let entry = crate::schedule::enroll(
            &*w.tick.records,
            Job::Reconcile,
            Job::Reconcile.default_cadence(),
            &c,
            now,
        )
        .await
        .unwrap();
        let message = JobMessage {
            v: JOB_MESSAGE_VERSION,
            entry,
            part: 0,
        };
        w.jobs.send(message.out().unwrap()).await.unwrap();
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pool = tokio::spawn(super::super::pool::run_pool(
        Arc::new(w.jobs.clone()) as Arc<dyn Queue>,
        w.worker.clone(),
        handle,
        w.jobs.notified(),
        Duration::from_secs(900),
        2,
        stop_rx,
    ));
    let mut fast = None;
    for _ in 0..600 {
        fast = last_reconcile(&w.store, "c_fast").await;
        if fast.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        fast.expect("the fast store was reconciled")["outcome"],
        "completed"
    );
    assert_eq!(
        last_reconcile(&w.store, "c_hang").await,
        None,
        "still hanging"
    );
    let _ = stop_tx.send(true);
    pool.abort();
}

/// Issue 22: disconnected and needs_reauth connections stayed enrolled and every tick
/// enqueued them again. GIVEN one of each, enrolled WHEN their entries run THEN both are
/// parked and later ticks enqueue nothing, without a call to either store; WHEN the
/// needs_reauth one is reconnected THEN it is due again and its next run polls its store.
#[tokio::test]
async fn inactive_connections_leave_the_index_until_they_are_reconnected() {
    let server = MockServer::start().await;
    // Only after the reconnect, and only the reconnected store.
    mount_poll(&server, "c_back", empty_page(), 1).await;
    mount_poll(&server, "c_off", empty_page(), 0).await;
    let w = world(&server, &["c_back", "c_off"]).await;
    let channels = &w.worker.reconcile.channels;
    let now = now_ms();
    for (id, status) in [
        ("c_back", ConnectionStatus::NeedsReauth),
        ("c_off", ConnectionStatus::Disconnected),
    ] {
        let mut c = crate::ports::Connections::get(
            &w.store,
            &crate::domain::TenantId::parse("dev").unwrap(),
            &crate::domain::ConnectionId::parse(id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        c.status = status;
        let crate::ports::UpdateOutcome::Updated(_) = w.store.update(&c).await.unwrap() else {
            panic!("the status change was not written");
        };
    }
    let first = tick(&w.tick, Job::Reconcile, now).await.unwrap();
    assert_eq!((first.enrolled, first.enqueued), (Some(2), 2));
    let mut outcomes = Vec::new();
    for m in receive_all(&w.jobs).await {
        match handle(w.worker.clone(), m.body).await {
            Disposition::Done(outcome) => outcomes.push(outcome),
            other => panic!("{other:?}"),
        }
        w.jobs.ack(&m.receipt).await.unwrap();
    }
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            "parked: the connection is disconnected",
            "parked: the connection is needs_reauth"
        ]
    );
    for later in [now + 3_600_000, now + 2 * 24 * 3_600_000] {
        let report = tick(&w.tick, Job::Reconcile, later).await.unwrap();
        assert_eq!(report.enqueued, 0, "an inactive connection is not enqueued");
    }
    assert!(receive_all(&w.jobs).await.is_empty());

    // The merchant reconnects c_back (same tenant, same shop): due again at once.
    let credentials = ShopifyCredentials::static_token(&token("c_back"), "").to_secret();
    let (created, back) = channels
        .context()
        .upsert_connection(
            &crate::domain::TenantId::parse("dev").unwrap(),
            Channel::Shopify,
            "c-back.myshopify.com",
            &credentials,
            None,
            None,
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(
        (back.id.as_str(), back.status),
        ("c_back", ConnectionStatus::Active)
    );
    let report = tick(&w.tick, Job::Reconcile, now_ms()).await.unwrap();
    assert_eq!(report.enqueued, 1, "only the reconnected connection");
    let messages = receive_all(&w.jobs).await;
    assert_eq!(messages.len(), 1);
    let Disposition::Done(outcome) = handle(w.worker.clone(), messages[0].body.clone()).await
    else {
        panic!("not done");
    };
    assert_eq!(outcome, "completed");
    assert!(last_reconcile(&w.store, "c_back").await.is_some());
    assert_eq!(last_reconcile(&w.store, "c_off").await, None);
}

/// GIVEN a connection parked as inactive whose re-enrolment on reconnect was lost (it is
/// active again but has no entry) WHEN the daily sweep runs THEN it is enrolled again.
#[tokio::test]
async fn the_sweep_enrolls_an_active_connection_still_parked_as_inactive() {
    let server = MockServer::start().await;
    let w = world(&server, &["c_lost"]).await;
    let c = crate::ports::Connections::get(
        &w.store,
        &crate::domain::TenantId::parse("dev").unwrap(),
        &crate::domain::ConnectionId::parse("c_lost").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let now = now_ms();
    let entry = crate::schedule::DueEntry::new(Job::Reconcile, &c, now);
    crate::schedule::park_inactive(
        &*w.tick.records,
        &*w.tick.values,
        &entry,
        now,
        "parked: the connection is needs_reauth",
    )
    .await
    .unwrap();
    let report = tick(&w.tick, Job::Reconcile, now).await.unwrap();
    assert_eq!((report.enrolled, report.enqueued), (Some(1), 1));
}

/// Issue 22, item 1: GIVEN a store whose catalogue is three pages and a budget of one page
/// per message WHEN its product import is due THEN the job continues itself twice, reads
/// each page once, maps the SKUs only in the last part, and only then moves the entry on.
#[tokio::test]
async fn a_large_product_import_continues_in_new_messages() {
    let server = MockServer::start().await;
    let variant = |n: u32| {
        json!({"id": format!("gid://shopify/ProductVariant/{n}"), "sku": format!("S-{n}"),
        "inventoryItem": {"id": format!("gid://shopify/InventoryItem/{n}"), "tracked": true},
        "product": {"id": format!("gid://shopify/Product/{n}"), "status": "ACTIVE", "title": "T"}})
    };
    for (after, n, next) in [
        (None, 1, Some("v2")),
        (Some("v2"), 2, Some("v3")),
        (Some("v3"), 3, None),
    ] {
        Mock::given(method("POST"))
            .and(path(GRAPHQL))
            .and(header("X-Shopify-Access-Token", token("c_big").as_str()))
            .and(body_partial_json(
                json!({"variables": {"first": 250, "after": after}}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "productVariants": {"nodes": [variant(n)],
                "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next}}}})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut w = world(&server, &["c_big"]).await;
    Arc::get_mut(&mut w.worker).unwrap().products_pages = 1;
    let connection = crate::ports::Connections::get(
        &w.store,
        &crate::domain::TenantId::parse("dev").unwrap(),
        &crate::domain::ConnectionId::parse("c_big").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let now = now_ms();
    let due_now = crate::schedule::Cadence {
        every: Duration::from_secs(24 * 3600),
        window: None,
    };
    let entry = crate::schedule::enroll(&*w.tick.records, Job::Products, due_now, &connection, now)
        .await
        .unwrap();
    let report = tick(&w.tick, Job::Products, now).await.unwrap();
    assert_eq!(report.enqueued, 1);
    let item = |sku: &'static str| {
        let (records, values) = (w.tick.records.clone(), w.tick.values.clone());
        let id = connection.id.clone();
        async move {
            crate::inventory::skumap::inventory_item_for(
                &*records,
                &*values,
                &id,
                &crate::domain::Sku::parse(sku).unwrap(),
            )
            .await
            .unwrap()
        }
    };
    let mut outcomes = Vec::new();
    loop {
        let messages = receive_all(&w.jobs).await;
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let Disposition::Done(outcome) = handle(w.worker.clone(), m.body.clone()).await else {
                panic!("not done");
            };
            if outcome != "completed" {
                assert_eq!(
                    item("S-1").await,
                    None,
                    "no SKU is mapped before the walk ends"
                );
                let last =
                    crate::schedule::last_run(&*w.tick.values, Job::Products, &entry.connection)
                        .await
                        .unwrap();
                assert_eq!(last, None, "the entry stays until the walk ends");
            }
            outcomes.push(outcome);
            w.jobs.ack(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(
        outcomes,
        [
            "partial after 1 page(s): continued in part 1",
            "partial after 2 page(s): continued in part 2",
            "completed"
        ]
    );
    for (sku, gid) in [("S-1", 1), ("S-2", 2), ("S-3", 3)] {
        assert_eq!(
            item(sku).await,
            Some(format!("gid://shopify/InventoryItem/{gid}"))
        );
    }
    let last = crate::schedule::last_run(&*w.tick.values, Job::Products, &entry.connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.outcome, "completed");
    assert!(last.next_ms > entry.at_ms);
}

/// GIVEN two connections with a dirty mark older than `STALE_MARK` (a Live push that failed
/// through all its retries), one Live and one Daily WHEN their reconcile jobs run THEN the
/// Live connection's pusher is woken once, the Daily one's is not.
#[tokio::test]
async fn the_poll_wakes_the_pusher_of_a_live_connections_old_dirty_marks() {
    use crate::domain::SyncMode;
    use crate::inventory::engine::{PushMessage, STALE_MARK};
    let server = MockServer::start().await;
    for id in ["c_live", "c_daily"] {
        mount_poll(&server, id, empty_page(), 1).await;
    }
    let w = world(&server, &["c_live", "c_daily"]).await;
    let old = now_ms() - STALE_MARK.as_millis() as i64 - 60_000;
    for (id, mode) in [("c_live", SyncMode::Live), ("c_daily", SyncMode::Daily)] {
        let mut c = crate::ports::Connections::find_by_id(
            &w.store,
            &crate::domain::ConnectionId::parse(id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        c.settings.inventory_sync = mode;
        crate::ports::Connections::update(&w.store, &c)
            .await
            .unwrap()
            .stored()
            .unwrap();
        let dirty = crate::keys::partition::dirty(&c.id);
        crate::ports::Records::put(&w.store, &dirty, "TS-001", old, &serde_json::Value::Null)
            .await
            .unwrap();
    }
    tick(&w.tick, Job::Reconcile, now_ms()).await.unwrap();
    for m in receive_all(&w.jobs).await {
        assert_eq!(
            handle(w.worker.clone(), m.body.clone()).await,
            Disposition::Done("completed".into())
        );
    }
    let pushes = receive_all(&w.store.queue("inventory-push", None, 5)).await;
    let woken: Vec<String> = pushes
        .iter()
        .map(|m| match serde_json::from_str(&m.body).unwrap() {
            PushMessage::Live { connection, .. } => connection.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(woken, ["c_live"]);
}
