//! The channel contract suite: one set of behaviours every channel of the registry must show,
//! each exercised through the [`Registry`] (`open_store`, `open_inventory`) exactly as the jobs
//! use it, against that channel's fake store on wiremock. A fake (`contract/fake_*.rs`) knows
//! only its channel's wire shape: it mounts the exact requests (path, auth, body where it
//! matters, `.expect(n)`) and the store's answers. What must happen is said once, here.
//!
//! Adding a channel = its fake + one line in the table at the bottom;
//! `every_registered_channel_is_in_the_contract_suite` fails until that line is there, and
//! when a channel's declared [`Capabilities`] do not match what it does. A channel failing a
//! behaviour today keeps its case, ignored with the reason (`known_failure!`), never weakened.

mod fake_ebay;
mod fake_etsy;
mod fake_magento;
mod fake_shopify;
mod fake_tiktok;
mod fake_veeqo;
mod fake_woocommerce;
mod fuzz;

use super::adapter::{Capabilities, Webhooks};
use super::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use super::registry::Registry;
use super::store::{ShipError, ShippedSku, StoreApi, Tracking};
use super::{ClientError, OpenError};
use crate::channels::testkit::{connection, save_connection, test_registry};
use crate::domain::{Channel, Connection, ConnectionSettings, ConnectionStatus, Sku};
use crate::embedded::{EmbeddedStore, EmbeddedVault};
use crate::ports::Secret;
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use fake_ebay::EbayFake;
use fake_etsy::EtsyFake;
use fake_magento::MagentoFake;
use fake_shopify::ShopifyFake;
use fake_tiktok::TikTokFake;
use fake_veeqo::VeeqoFake;
use fake_woocommerce::WooFake;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::{MockBuilder, MockServer, Request, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// What every fake store is asked for
// ---------------------------------------------------------------------------------------------

/// The watermark every orders poll of the suite starts from.
fn since() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap()
}

const CONNECTION_ID: &str = "c_contract";
/// The order the tracking behaviours ship: [`ORDERED`] on it.
const ORDER_ID: &str = "4242";
const SKU_A: &str = "SKU-A";
const SKU_B: &str = "SKU-B";
const SKU_C: &str = "SKU-C";
/// The lines of [`ORDER_ID`] on every fake store: (SKU, quantity).
const ORDERED: [(&str, u32); 2] = [(SKU_A, 2), (SKU_B, 1)];
const TRACKING_NUMBER: &str = "1Z-CONTRACT-1";
/// A carrier every channel knows by this name.
const CARRIER: &str = "UPS";
/// Inventory pushes: the run reference and the batch's idempotency key.
const REFERENCE: &str = "gid://channel-sync/SyncRun/contract-1";
const KEY: &str = "contract-key-1";
/// SKUs and quantities of the suite's inventory batch (the items are each fake's).
const BATCH: [(&str, i64); 3] = [(SKU_A, 5), (SKU_B, 6), (SKU_C, 7)];
/// The item of [`BATCH`] the store refuses.
const REFUSED: usize = 1;
/// A `change_from` that appears nowhere else in any push, so finding it on the wire means the
/// writer sent it.
const CHANGE_FROM: i64 = 7331;
const RETRY_AFTER_SECS: u64 = 1;
/// A page walk longer than this is a loop.
const MAX_PAGES: usize = 10;

/// One shipment of [`ORDER_ID`] as the tracking export writes it.
struct Shipment {
    /// `None`: everything.
    lines: Option<Vec<ShippedSku>>,
    tracking: Tracking,
    notify_customer: bool,
}

impl Shipment {
    fn whole_order() -> Self {
        Self {
            lines: None,
            tracking: Tracking {
                company: CARRIER.into(),
                number: crate::domain::TrackingNumber::parse(TRACKING_NUMBER).unwrap(),
                url: None,
            },
            notify_customer: true,
        }
    }

    /// One unit of [`SKU_A`] (of two), nothing of [`SKU_B`].
    fn partial() -> Self {
        Self {
            lines: Some(vec![ShippedSku {
                sku: SKU_A.into(),
                quantity: 1,
            }]),
            ..Self::whole_order()
        }
    }

    /// What this shipment ships, by SKU.
    fn shipped(&self) -> Vec<(&str, u32)> {
        match &self.lines {
            None => ORDERED.to_vec(),
            Some(lines) => lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect(),
        }
    }
}

/// What a channel's client does with a 429 that carries `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Throttling {
    /// Waits that long itself and sends again (Shopify: `client.rs`, bounded attempts and wait).
    RetriesAfterWait,
    /// Fails the call at once with [`ClientError::Throttled`] carrying the wait, for the
    /// caller's queue to retry later (self-hosted stores: `rest::call`).
    ReportsToCaller,
}

/// One channel's fake store: its wire shape, nothing else.
#[async_trait]
trait FakeStore: Send + Sync {
    fn channel(&self) -> Channel;
    /// The connection's shop identity.
    fn shop(&self) -> &'static str;
    /// Obviously fake credentials for a store served at `server`, as the vault keeps them.
    fn credentials(&self, server: &MockServer) -> Secret;
    /// Settings the connection needs for these calls (e.g. an inventory location).
    fn settings(&self) -> ConnectionSettings {
        ConnectionSettings::default()
    }
    /// The channel's documented answer to a 429 with `Retry-After`.
    fn throttling(&self) -> Throttling;
    /// The store's answer when it rejects the credentials.
    fn unauthorized(&self) -> ResponseTemplate;

    /// The exact request for the page of orders changed since [`since`] that `cursor` names.
    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder;
    /// The answer to the first orders request when one order changed.
    fn one_order_page(&self) -> ResponseTemplate;
    /// Mounts the orders changed since [`since`], over at least two pages; returns the
    /// channel's order ids, each once, in the order the store lists them.
    async fn mount_orders(&self, server: &MockServer) -> Vec<String>;
    /// Mounts the store's listings over at least two pages; returns their variant ids, in
    /// the store's order.
    async fn mount_listings(&self, server: &MockServer) -> Vec<String>;
    /// The cursor an orders or listings request continues from, as the store API hands it
    /// out (`None`: the first page).
    fn cursor_of(&self, request: &Request) -> Option<String>;

    /// Mounts [`ORDER_ID`] (lines [`ORDERED`]) on a store that records `shipment`'s tracking
    /// when asked, but whose first answer to that write is lost (a 503 after the write is
    /// recorded), and that shows the recorded tracking afterwards. Returns the store's id of
    /// the write.
    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String;
    /// Whether `request` writes a tracking (what must happen once).
    fn is_tracking_create(&self, request: &Request) -> bool;
    /// Whether the channel can ship part of an order. One that cannot (Veeqo ships an
    /// allocation whole) must refuse a partial shipment for good, writing nothing.
    fn ships_parts(&self) -> bool {
        true
    }
    /// For a channel that cannot ship parts: mounts [`ORDER_ID`] (lines [`ORDERED`]), unshipped.
    async fn mount_unshipped_order(&self, server: &MockServer) {
        let _ = server;
    }

    /// The channel's ids for the items of [`BATCH`].
    fn inventory_items(&self) -> [&'static str; 3];
    /// The exact inventory write request, whatever its body.
    fn inventory_request(&self) -> MockBuilder;
    /// Mounts a store that sets every item it is sent.
    async fn mount_inventory_accepting(&self, server: &MockServer);
    /// Mounts a store that refuses `items[refused]` and sets the others; returns the
    /// channel's (code, message) for the refusal.
    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String);
}

// ---------------------------------------------------------------------------------------------
// One connection on one fake store, reached through the registry
// ---------------------------------------------------------------------------------------------

struct World {
    server: MockServer,
    registry: Arc<Registry>,
    connection: Connection,
    _dir: tempfile::TempDir,
}

impl World {
    /// An active connection to `fake`'s channel with its credentials, in an embedded store,
    /// and every channel of the registry (Shopify's API, and the stored store URLs, at the
    /// fake).
    async fn new(fake: &dyn FakeStore) -> Self {
        let server = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
        let registry = test_registry(&store, vault, Some(server.uri()));
        let mut connection = connection(
            CONNECTION_ID,
            fake.channel(),
            fake.shop(),
            ConnectionStatus::Active,
        );
        connection.settings = fake.settings();
        save_connection(&registry, &connection, &fake.credentials(&server)).await;
        Self {
            server,
            registry,
            connection,
            _dir: dir,
        }
    }

    async fn store(&self) -> Box<dyn StoreApi> {
        self.registry.open_store(&self.connection).await.unwrap()
    }

    async fn inventory(&self) -> Box<dyn InventoryChannel> {
        self.registry
            .open_inventory(&self.connection)
            .await
            .unwrap()
    }

    /// The connection as the connections store holds it now.
    async fn stored_connection(&self) -> Connection {
        let c = &self.connection;
        self.registry
            .context()
            .connections
            .get(&c.tenant, &c.id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap()
    }
}

/// The suite's inventory batch, with the fake's items.
fn batch(fake: &dyn FakeStore) -> Vec<PushItem> {
    BATCH
        .iter()
        .zip(fake.inventory_items())
        .map(|(&(sku, quantity), item)| PushItem {
            sku: Sku::parse(sku).unwrap(),
            item: item.into(),
            quantity,
            change_from: None,
        })
        .collect()
}

/// Follows `next_page` (called with each page's cursor, `None` first) until a page has no
/// next cursor; returns every page's ids, in order, and the cursor each page was asked with.
async fn walk<F, Fut>(mut next_page: F) -> (Vec<String>, Vec<Option<String>>)
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = (Vec<String>, Option<String>)>,
{
    let mut seen = Vec::new();
    let mut cursors = vec![None];
    loop {
        let asked = cursors.last().cloned().flatten();
        let (ids, next) = next_page(asked).await;
        seen.extend(ids);
        match next {
            Some(cursor) => cursors.push(Some(cursor)),
            None => return (seen, cursors),
        }
        assert!(
            cursors.len() <= MAX_PAGES,
            "the walk does not end: {cursors:?}"
        );
    }
}

/// `seen` is `listed`: nothing twice, nothing missing, the store's order.
fn assert_once_in_order(seen: &[String], listed: &[String]) {
    let mut twice: Vec<&String> = seen
        .iter()
        .enumerate()
        .filter(|(i, id)| seen[..*i].contains(id))
        .map(|(_, id)| id)
        .collect();
    twice.dedup();
    assert!(twice.is_empty(), "seen more than once: {twice:?}");
    assert_eq!(seen, listed, "every one once, in the store's order");
}

/// Whether `body` (JSON) holds the number `n` anywhere.
fn carries_number(body: &[u8], n: i64) -> bool {
    fn holds(v: &Value, n: i64) -> bool {
        match v {
            Value::Number(x) => x.as_i64() == Some(n),
            Value::Array(items) => items.iter().any(|i| holds(i, n)),
            Value::Object(map) => map.values().any(|i| holds(i, n)),
            _ => false,
        }
    }
    serde_json::from_slice::<Value>(body).is_ok_and(|v| holds(&v, n))
}

// ---------------------------------------------------------------------------------------------
// The behaviours
// ---------------------------------------------------------------------------------------------

/// GIVEN orders changed since the watermark over two pages WHEN the poll walks them by the
/// cursor THEN every order arrives once, in the store's order, and each request after the
/// first carries the cursor the page before handed out.
async fn orders_page_walk(fake: &dyn FakeStore) {
    let w = World::new(fake).await;
    let listed = fake.mount_orders(&w.server).await;
    let store = w.store().await;
    let (seen, cursors) = walk(|cursor| {
        let store = &store;
        async move {
            let page = store
                .orders_updated_since(since(), cursor.as_deref())
                .await
                .unwrap();
            assert!(page.skipped.is_empty(), "{:?}", page.skipped);
            let ids = page
                .orders
                .iter()
                .map(|o| o.channel_order_id.as_str().to_owned())
                .collect();
            (ids, page.next_cursor)
        }
    })
    .await;
    assert!(cursors.len() >= 2, "one page only: {cursors:?}");
    assert_once_in_order(&seen, &listed);
    let carried: Vec<Option<String>> = w
        .requests()
        .await
        .iter()
        .map(|r| fake.cursor_of(r))
        .collect();
    assert_eq!(carried, cursors, "one request per page, with the cursor");
}

/// GIVEN listings over two pages WHEN they are walked by the cursor THEN every listing
/// arrives once, in the store's order, one request per page carrying the cursor.
async fn listings_page_walk(fake: &dyn FakeStore) {
    let w = World::new(fake).await;
    let listed = fake.mount_listings(&w.server).await;
    let store = w.store().await;
    let (seen, cursors) = walk(|cursor| {
        let store = &store;
        async move {
            let page = store.listings_page(cursor.as_deref()).await.unwrap();
            let ids = page.listings.iter().map(|l| l.variant_id.clone()).collect();
            (ids, page.next_cursor)
        }
    })
    .await;
    assert!(cursors.len() >= 2, "one page only: {cursors:?}");
    assert_once_in_order(&seen, &listed);
    let carried: Vec<Option<String>> = w
        .requests()
        .await
        .iter()
        .map(|r| fake.cursor_of(r))
        .collect();
    assert_eq!(carried, cursors, "one request per page, with the cursor");
}

/// GIVEN a store that wrote a shipment's tracking but whose answer was lost WHEN the export
/// writes the same tracking number again THEN the retry finds the earlier write, returns its
/// id, and the store was asked to write it exactly once.
async fn tracking_retry_after_lost_answer(fake: &dyn FakeStore, shipment: Shipment) {
    let w = World::new(fake).await;
    let written = fake.mount_tracking_lost_answer(&w.server, &shipment).await;
    let store = w.store().await;
    let write = || {
        store.write_tracking(
            ORDER_ID,
            shipment.lines.as_deref(),
            &shipment.tracking,
            shipment.notify_customer,
        )
    };
    let lost = write().await;
    assert!(
        matches!(lost, Err(ShipError::Client(ClientError::Unavailable(_)))),
        "a lost answer is worth a retry: {lost:?}"
    );
    let retried = write().await;
    let creates = w
        .requests()
        .await
        .iter()
        .filter(|r| fake.is_tracking_create(r))
        .count();
    assert_eq!(creates, 1, "the retry wrote the tracking again");
    let ids = retried.unwrap_or_else(|e| panic!("the retry must find its earlier write: {e:?}"));
    assert!(
        ids.contains(&written),
        "the retry must answer the earlier write's id {written:?}, got {ids:?}"
    );
}

async fn tracking_retry_after_lost_answer_whole_order(fake: &dyn FakeStore) {
    tracking_retry_after_lost_answer(fake, Shipment::whole_order()).await
}

/// A channel that ships parts: as for the whole order. One that cannot: the partial shipment
/// is refused for good and nothing is written.
async fn tracking_retry_after_lost_answer_partial(fake: &dyn FakeStore) {
    if fake.ships_parts() {
        return tracking_retry_after_lost_answer(fake, Shipment::partial()).await;
    }
    let w = World::new(fake).await;
    fake.mount_unshipped_order(&w.server).await;
    let shipment = Shipment::partial();
    let refused = w
        .store()
        .await
        .write_tracking(
            ORDER_ID,
            shipment.lines.as_deref(),
            &shipment.tracking,
            shipment.notify_customer,
        )
        .await;
    assert!(
        matches!(refused, Err(ShipError::Permanent(_))),
        "a partial shipment must be refused for good: {refused:?}"
    );
    let creates = w
        .requests()
        .await
        .iter()
        .filter(|r| fake.is_tracking_create(r))
        .count();
    assert_eq!(
        creates, 0,
        "nothing may be written for a refused partial shipment"
    );
}

/// GIVEN a batch of three where the store refuses one item WHEN it is pushed THEN that item
/// is rejected with the channel's code and message and the others are set.
async fn inventory_batch_with_one_refused_item(fake: &dyn FakeStore) {
    let w = World::new(fake).await;
    let items = batch(fake);
    let (code, message) = fake
        .mount_inventory_refusing(&w.server, &items, REFUSED)
        .await;
    let writer = w.inventory().await;
    assert!(items.len() <= writer.max_batch());
    let results = writer.push(REFERENCE, KEY, &items).await.unwrap();
    let mut expected = vec![ItemResult::Set; items.len()];
    expected[REFUSED] = ItemResult::Rejected { code, message };
    assert_eq!(results, expected);
    assert_eq!(
        w.stored_connection().await.status,
        ConnectionStatus::Active,
        "a refused item is not a refused connection"
    );
}

/// GIVEN a store that rejects the credentials WHEN the poll reads orders THEN the call fails
/// `Unauthorized` after one request, and marking the connection as the jobs do (reconcile,
/// products import, tracking export: `Registry::mark_needs_reauth`) stops its store.
async fn store_401_marks_needs_reauth(fake: &dyn FakeStore) {
    let w = World::new(fake).await;
    fake.orders_request(None)
        .respond_with(fake.unauthorized())
        .expect(1)
        .mount(&w.server)
        .await;
    let store = w.store().await;
    let err = store.orders_updated_since(since(), None).await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized), "{err:?}");
    assert!(matches!(
        w.registry.mark_needs_reauth(&w.connection).await,
        OpenError::NeedsReauth
    ));
    let now = w.stored_connection().await;
    assert_eq!(now.status, ConnectionStatus::NeedsReauth);
    assert!(matches!(
        w.registry.open_store(&now).await,
        Err(OpenError::NotActive(ConnectionStatus::NeedsReauth))
    ));
    assert_eq!(w.requests().await.len(), 1, "a 401 is not retried");
}

/// GIVEN a store that rejects the credentials WHEN a batch is pushed through the registry's
/// writer THEN the push fails `NeedsReauth` after one request and the writer itself marked
/// the connection, so its jobs stop.
async fn inventory_401_marks_needs_reauth(fake: &dyn FakeStore) {
    let w = World::new(fake).await;
    fake.inventory_request()
        .respond_with(fake.unauthorized())
        .expect(1)
        .mount(&w.server)
        .await;
    let writer = w.inventory().await;
    let err = writer.push(REFERENCE, KEY, &batch(fake)).await.unwrap_err();
    assert!(matches!(err, PushError::NeedsReauth), "{err:?}");
    let now = w.stored_connection().await;
    assert_eq!(now.status, ConnectionStatus::NeedsReauth);
    assert!(matches!(
        w.registry.open_inventory(&now).await,
        Err(PushError::Setup(_))
    ));
    assert_eq!(w.requests().await.len(), 1, "a 401 is not retried");
}

/// GIVEN a store answering 429 with `Retry-After` WHEN the poll reads orders THEN the wait is
/// honoured as the channel documents it ([`Throttling`]): sent again after the wait and
/// answered, or handed to the caller at once with the wait. Never a hot loop.
async fn throttled_429_honours_retry_after(fake: &dyn FakeStore) {
    let w = World::new(fake).await;
    fake.orders_request(None)
        .respond_with(
            ResponseTemplate::new(429).insert_header("Retry-After", RETRY_AFTER_SECS.to_string()),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&w.server)
        .await;
    let retries = fake.throttling() == Throttling::RetriesAfterWait;
    fake.orders_request(None)
        .respond_with(fake.one_order_page())
        .expect(u64::from(retries))
        .mount(&w.server)
        .await;
    let store = w.store().await;
    let started = Instant::now();
    let page = store.orders_updated_since(since(), None).await;
    let waited = started.elapsed();
    let wait = Duration::from_secs(RETRY_AFTER_SECS);
    match fake.throttling() {
        Throttling::RetriesAfterWait => {
            assert_eq!(page.unwrap().orders.len(), 1);
            assert!(waited >= wait, "retried after {waited:?}, before the wait");
            assert_eq!(w.requests().await.len(), 2);
        }
        Throttling::ReportsToCaller => {
            assert!(
                matches!(
                    page,
                    Err(ClientError::Throttled {
                        retry_after_secs: Some(RETRY_AFTER_SECS)
                    })
                ),
                "{page:?}"
            );
            assert!(
                waited < wait,
                "waited {waited:?} instead of reporting the wait"
            );
            assert_eq!(w.requests().await.len(), 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Declarations
// ---------------------------------------------------------------------------------------------

/// What a channel was seen to do, to hold against what it declares.
struct Observed {
    /// The channel of its webhook verifier, if it has one.
    verifier: Option<Channel>,
    /// Its inventory writer's batch limit.
    max_batch: usize,
    /// Whether a push with `change_from` set sent it to the store.
    sends_change_from: bool,
}

/// Where `declared` and `observed` disagree, one sentence each.
fn declaration_problems(
    channel: Channel,
    declared: &Capabilities,
    observed: &Observed,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(format!("{channel}: {p}"));
    if declared.inventory_batch == 0 {
        problem("inventory_batch is 0: no stock could ever be pushed".into());
    }
    if observed.max_batch != declared.inventory_batch {
        problem(format!(
            "inventory_batch is {}, but its writer takes {}",
            declared.inventory_batch, observed.max_batch
        ));
    }
    if !declared.poll {
        problem(
            "poll is false: every channel's orders are polled (the safety net for lost webhooks)"
                .into(),
        );
    }
    match (declared.webhooks, observed.verifier) {
        (Webhooks::None, Some(_)) => {
            problem("declares no webhooks but has a webhook verifier".into())
        }
        (Webhooks::AppSecret | Webhooks::PerConnection, None) => problem(format!(
            "declares webhooks {:?} but has no webhook verifier",
            declared.webhooks
        )),
        (_, Some(other)) if other != channel => {
            problem(format!("its webhook verifier is {other}'s"))
        }
        _ => {}
    }
    if declared.compare_and_set != observed.sends_change_from {
        problem(format!(
            "compare_and_set is {}, but a push with change_from {} it to the store",
            declared.compare_and_set,
            if observed.sends_change_from {
                "sent"
            } else {
                "did not send"
            }
        ));
    }
    problems
}

/// What `fake`'s channel does, seen through the registry and on its fake store.
async fn observe(fake: &dyn FakeStore) -> Observed {
    let w = World::new(fake).await;
    let adapter = w.registry.adapter(fake.channel()).unwrap();
    fake.mount_inventory_accepting(&w.server).await;
    let writer = w.inventory().await;
    let mut item = batch(fake).swap_remove(0);
    item.change_from = Some(CHANGE_FROM);
    assert_eq!(
        writer.push(REFERENCE, KEY, &[item]).await.unwrap(),
        vec![ItemResult::Set]
    );
    Observed {
        verifier: adapter.verifier().map(|v| v.channel()),
        max_batch: writer.max_batch(),
        sends_change_from: w
            .requests()
            .await
            .iter()
            .any(|r| carries_number(&r.body, CHANGE_FROM)),
    }
}

#[tokio::test]
async fn every_registered_channel_is_in_the_contract_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let registry = test_registry(
        &store,
        Arc::new(EmbeddedVault::open(dir.path()).unwrap()),
        None,
    );
    let mut problems = Vec::new();
    for adapter in registry.adapters() {
        let channel = adapter.channel();
        match FAKES.iter().find(|f| f.channel() == channel) {
            None => problems.push(format!(
                "{channel} is registered but has no fake store in the contract suite's table"
            )),
            Some(fake) => problems.extend(declaration_problems(
                channel,
                adapter.capabilities(),
                &observe(*fake).await,
            )),
        }
    }
    for fake in FAKES {
        if registry.adapter(fake.channel()).is_none() {
            problems.push(format!(
                "the contract suite has a fake for {}, which the registry does not list",
                fake.channel()
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn inconsistent_declarations_are_reported() {
    let declared = Capabilities {
        webhooks: Webhooks::None,
        poll: false,
        sorted_by_change: true,
        deducts_at_shipment: false,
        locations: super::adapter::LocationKind::None,
        compare_and_set: true,
        inventory_batch: 0,
        privacy_topics: &[],
        token_lifetime: super::adapter::TokenLifetime::Static,
    };
    let observed = Observed {
        verifier: Some(Channel::Shopify),
        max_batch: 100,
        sends_change_from: false,
    };
    let problems = declaration_problems(Channel::Woocommerce, &declared, &observed);
    for expected in [
        "inventory_batch is 0",
        "inventory_batch is 0, but its writer takes 100",
        "poll is false",
        "declares no webhooks but has a webhook verifier",
        "compare_and_set is true, but a push with change_from did not send it",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }
    let webhooks_without_verifier = Capabilities {
        webhooks: Webhooks::PerConnection,
        compare_and_set: false,
        inventory_batch: 100,
        poll: true,
        ..declared
    };
    let observed = Observed {
        verifier: None,
        max_batch: 100,
        sends_change_from: true,
    };
    assert_eq!(
        declaration_problems(Channel::Woocommerce, &webhooks_without_verifier, &observed),
        [
            "woocommerce: declares webhooks PerConnection but has no webhook verifier",
            "woocommerce: compare_and_set is false, but a push with change_from sent it to the store",
        ]
    );
    let observed = Observed {
        verifier: Some(Channel::Shopify),
        max_batch: 100,
        sends_change_from: false,
    };
    assert_eq!(
        declaration_problems(Channel::Woocommerce, &webhooks_without_verifier, &observed),
        ["woocommerce: its webhook verifier is shopify's"]
    );
}

// ---------------------------------------------------------------------------------------------
// The table: every behaviour against every channel
// ---------------------------------------------------------------------------------------------

/// Cases a channel fails today. The case stays, with its full assertions, ignored with the
/// reason; `cargo test -- --ignored` runs them. (None today.)
macro_rules! known_failure {
    ($channel:ident, $behaviour:ident, $($test:tt)*) => {
        $($test)*
    };
}

/// One `#[tokio::test]` per behaviour for one channel, in a module named after it.
macro_rules! channel_tests {
    ($channel:ident => $fake:expr, [$($behaviour:ident),+ $(,)?]) => {
        mod $channel {
            use super::*;
            $(known_failure! { $channel, $behaviour,
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(&$fake).await;
                }
            })+
        }
    };
}

/// The suite: each behaviour against each fake, and [`FAKES`] for the registry check.
macro_rules! contract_suite {
    (behaviours: $behaviours:tt, fakes: [$($channel:ident => $fake:expr),+ $(,)?] $(,)?) => {
        /// Every fake store of the table.
        const FAKES: &[&dyn FakeStore] = &[$(&$fake),+];
        $(channel_tests!($channel => $fake, $behaviours);)+
    };
}

contract_suite! {
    behaviours: [
        orders_page_walk,
        listings_page_walk,
        tracking_retry_after_lost_answer_whole_order,
        tracking_retry_after_lost_answer_partial,
        inventory_batch_with_one_refused_item,
        store_401_marks_needs_reauth,
        inventory_401_marks_needs_reauth,
        throttled_429_honours_retry_after,
    ],
    fakes: [
        shopify => ShopifyFake,
        woocommerce => WooFake,
        magento => MagentoFake,
        veeqo => VeeqoFake,
        etsy => EtsyFake,
        tiktok => TikTokFake,
        ebay => EbayFake,
    ],
}
