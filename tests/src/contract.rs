//! The port contract suite. Each function states one behaviour every adapter set must show;
//! `tests/embedded.rs` and `tests/aws.rs` run all of them against their backend.

use chrono::Utc;
use shared::domain::{
    Channel, Connection, ConnectionId, ConnectionSettings, ConnectionStatus, SyncMode, TenantId,
};
use shared::ports::{
    Claim, Connections, CreateOutcome, Fence, Idempotency, KeyValue, OutMessage, Queue, Records,
    Secret, Tenants, UpdateOutcome, Vault,
};
use std::sync::Arc;
use std::time::Duration;

/// One adapter set.
pub struct Backend {
    pub connections: Arc<dyn Connections>,
    pub tenants: Arc<dyn Tenants>,
    pub idempotency: Arc<dyn Idempotency>,
    pub records: Arc<dyn Records>,
    pub vault: Arc<dyn Vault>,
    pub values: Arc<dyn KeyValue>,
    /// A standard queue.
    pub queue: Arc<dyn Queue>,
    /// A queue that deduplicates (SQS FIFO; the embedded queue always does).
    pub dedup_queue: Arc<dyn Queue>,
}

pub fn connection(tenant: &str, shop: &str) -> Connection {
    let now = Utc::now();
    Connection {
        id: ConnectionId::generate(),
        tenant: TenantId::parse(tenant).unwrap(),
        channel: Channel::Shopify,
        shop: shop.to_owned(),
        display_name: Some("Demo".into()),
        status: ConnectionStatus::Active,
        settings: ConnectionSettings::default(),
        created_at: now,
        updated_at: now,
        activated_at: None,
        version: 0,
    }
}

fn unique_shop() -> String {
    crate::unique("shop") + ".myshopify.com"
}

/// GIVEN a new connection WHEN it is created THEN it can be read by id, by shop and in its
/// tenant's list, and only there.
pub async fn connections_create_get_list(b: &Backend) {
    let tenant = crate::unique("t");
    let c = connection(&tenant, &unique_shop());
    assert_eq!(
        b.connections.create(&c).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        b.connections.get(&c.tenant, &c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        b.connections
            .find_by_shop(Channel::Shopify, &c.shop)
            .await
            .unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        b.connections
            .find_by_shop(Channel::Woocommerce, &c.shop)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.connections.find_by_id(&c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        b.connections
            .find_by_id(&ConnectionId::generate())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.connections.list(&c.tenant).await.unwrap(),
        vec![c.clone()]
    );
    let other = TenantId::parse(crate::unique("other")).unwrap();
    assert_eq!(
        b.connections.get(&other, &c.id).await.unwrap(),
        None,
        "another tenant cannot read it"
    );
    assert!(b.connections.list(&other).await.unwrap().is_empty());
}

/// GIVEN a connected shop WHEN anyone creates a second connection for it THEN the first is
/// returned and nothing new is stored.
pub async fn connections_one_per_shop(b: &Backend) {
    let shop = unique_shop();
    let first = connection(&crate::unique("t"), &shop);
    b.connections.create(&first).await.unwrap();
    let second = connection(&crate::unique("t"), &shop);
    assert_eq!(
        b.connections.create(&second).await.unwrap(),
        CreateOutcome::ShopTaken(Box::new(first.clone()))
    );
    assert_eq!(
        b.connections.get(&second.tenant, &second.id).await.unwrap(),
        None
    );
}

/// GIVEN many concurrent creates for one shop THEN exactly one wins.
pub async fn connections_concurrent_create(b: &Backend) {
    let shop = unique_shop();
    let tenant = crate::unique("t");
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let connections = b.connections.clone();
        let c = connection(&tenant, &shop);
        tasks.push(tokio::spawn(async move {
            connections.create(&c).await.unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == CreateOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        b.connections
            .list(&TenantId::parse(tenant).unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
}

/// GIVEN a connection WHEN it is updated THEN reads see the update; updating an unknown
/// connection fails.
pub async fn connections_update(b: &Backend) {
    let mut c = connection(&crate::unique("t"), &unique_shop());
    b.connections.create(&c).await.unwrap();
    c.status = ConnectionStatus::Disconnected;
    c.settings.inventory_sync = SyncMode::Live;
    let stored = b.connections.update(&c).await.unwrap().stored().unwrap();
    c.version += 1;
    assert_eq!(stored, c, "the stored copy has the next version");
    assert_eq!(
        b.connections.get(&c.tenant, &c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        b.connections
            .find_by_shop(Channel::Shopify, &c.shop)
            .await
            .unwrap(),
        Some(c)
    );
    let ghost = connection(&crate::unique("t"), &unique_shop());
    assert!(b.connections.update(&ghost).await.is_err());
}

/// GIVEN two copies of a connection read at the same version WHEN one is written (an
/// uninstall marks it disconnected) THEN the other, stale copy (a settings PATCH read
/// before) is refused and cannot bring back the status it read: no connection re-activated
/// without credentials.
pub async fn connections_stale_copy_is_not_written_back(b: &Backend) {
    let c = connection(&crate::unique("t"), &unique_shop());
    b.connections.create(&c).await.unwrap();
    let read = b.connections.get(&c.tenant, &c.id).await.unwrap().unwrap();
    let mut uninstall = read.clone();
    let mut patch = read;
    uninstall.status = ConnectionStatus::Disconnected;
    let written = b.connections.update(&uninstall).await.unwrap();
    assert!(matches!(written, UpdateOutcome::Updated(_)));
    patch.settings.import_unpaid = true;
    assert_eq!(
        b.connections.update(&patch).await.unwrap(),
        UpdateOutcome::Stale
    );
    let stored = b.connections.get(&c.tenant, &c.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ConnectionStatus::Disconnected, "{stored:?}");
    assert!(!stored.settings.import_unpaid);
}

/// GIVEN many concurrent writers of one copy of a connection THEN exactly one write lands.
pub async fn connections_concurrent_updates(b: &Backend) {
    let c = connection(&crate::unique("t"), &unique_shop());
    b.connections.create(&c).await.unwrap();
    let read = b.connections.get(&c.tenant, &c.id).await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for i in 0..5u32 {
        let connections = b.connections.clone();
        let mut copy = read.clone();
        copy.settings.safety_buffer = i + 1;
        tasks.push(tokio::spawn(async move {
            matches!(
                connections.update(&copy).await.unwrap(),
                UpdateOutcome::Updated(_)
            )
        }));
    }
    let mut landed = 0;
    for t in tasks {
        if t.await.unwrap() {
            landed += 1;
        }
    }
    assert_eq!(landed, 1);
    let stored = b.connections.get(&c.tenant, &c.id).await.unwrap().unwrap();
    assert_eq!(stored.version, read.version + 1);
    // The stored copy can be written again.
    let mut next = stored.clone();
    next.settings.safety_buffer = 99;
    let again = b.connections.update(&next).await.unwrap().stored().unwrap();
    assert_eq!(
        (again.version, again.settings.safety_buffer),
        (stored.version + 1, 99)
    );
}

/// Token hashes map to tenants; unknown hashes to nothing.
pub async fn tenants_tokens(b: &Backend) {
    let tenant = TenantId::parse(crate::unique("t")).unwrap();
    let hash = shared::http::token_sha256(&crate::fake_secret("tok"));
    assert_eq!(b.tenants.tenant_for_token(&hash).await.unwrap(), None);
    b.tenants.put_token(&tenant, &hash).await.unwrap();
    assert_eq!(
        b.tenants.tenant_for_token(&hash).await.unwrap(),
        Some(tenant.clone())
    );
    // A revoked token stops working at once; another token of the tenant keeps working, and
    // revoking an unknown token is not an error.
    let other = shared::http::token_sha256(&crate::fake_secret("tok"));
    b.tenants.put_token(&tenant, &other).await.unwrap();
    b.tenants.revoke_token(&hash).await.unwrap();
    assert_eq!(b.tenants.tenant_for_token(&hash).await.unwrap(), None);
    assert_eq!(
        b.tenants.tenant_for_token(&other).await.unwrap(),
        Some(tenant)
    );
    b.tenants.revoke_token(&hash).await.unwrap();
}

/// The fence of an acquired claim; anything else fails the test.
fn acquired(claim: Claim) -> Fence {
    match claim {
        Claim::Acquired(fence) => fence,
        other => panic!("expected the claim to be acquired, got {other:?}"),
    }
}

/// Claim → in progress for others → done for everyone, with the record (which
/// `KeyValue::get` reads too, and `KeyValue::put_if` over the record read advances).
pub async fn idempotency_claim_complete(b: &Backend) {
    let key = crate::unique("order#shopify#demo");
    let lease = Duration::from_secs(30);
    let fence = acquired(b.idempotency.claim(&key, lease).await.unwrap());
    assert_eq!(
        b.idempotency.claim(&key, lease).await.unwrap(),
        Claim::InProgress
    );
    let record = serde_json::json!({"order_number": "#1001", "note": "a & b / ü"});
    assert!(b
        .idempotency
        .finish(&key, &fence, &record, None)
        .await
        .unwrap());
    assert_eq!(
        b.idempotency.claim(&key, lease).await.unwrap(),
        Claim::Done(record.clone())
    );
    // Finished once: the same fence cannot finish it again.
    assert!(!b
        .idempotency
        .finish(&key, &fence, &serde_json::json!(0), None)
        .await
        .unwrap());
    assert_eq!(b.values.get(&key).await.unwrap(), Some(record.clone()));
    // A done claim's record advanced over the record read (the other-location marks): still
    // done for every claimer, with the newer record; a stale expectation writes nothing.
    let newer = serde_json::json!({"order_number": "#1001", "note": "newer"});
    assert!(b
        .values
        .put_if(&key, Some(&record), &newer, None)
        .await
        .unwrap());
    assert!(!b
        .values
        .put_if(&key, Some(&record), &serde_json::json!("stale"), None)
        .await
        .unwrap());
    assert_eq!(
        b.idempotency.claim(&key, lease).await.unwrap(),
        Claim::Done(newer)
    );
}

/// A released claim can be taken again at once; release never removes a done record.
pub async fn idempotency_release(b: &Backend) {
    let key = crate::unique("delivery");
    let lease = Duration::from_secs(30);
    let fence = acquired(b.idempotency.claim(&key, lease).await.unwrap());
    b.idempotency.release(&key, &fence).await.unwrap();
    let fence = acquired(b.idempotency.claim(&key, lease).await.unwrap());
    assert!(b
        .idempotency
        .finish(&key, &fence, &serde_json::json!(1), None)
        .await
        .unwrap());
    b.idempotency.release(&key, &fence).await.unwrap();
    assert!(matches!(
        b.idempotency.claim(&key, lease).await.unwrap(),
        Claim::Done(_)
    ));
    b.idempotency
        .release(&crate::unique("never-claimed"), &fence)
        .await
        .unwrap();
}

/// A crashed holder's lease runs out and the key can be claimed again.
pub async fn idempotency_lease_expiry(b: &Backend) {
    let key = crate::unique("lease");
    acquired(
        b.idempotency
            .claim(&key, Duration::from_millis(300))
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    acquired(
        b.idempotency
            .claim(&key, Duration::from_secs(30))
            .await
            .unwrap(),
    );
}

/// GIVEN a holder whose lease ran out while it still worked, and a second holder since WHEN
/// the first releases or finishes THEN the second's claim stands: leases are fenced.
pub async fn idempotency_lease_is_fenced(b: &Backend) {
    let key = crate::unique("fenced");
    let first = acquired(
        b.idempotency
            .claim(&key, Duration::from_millis(300))
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = acquired(
        b.idempotency
            .claim(&key, Duration::from_secs(30))
            .await
            .unwrap(),
    );
    assert_ne!(first, second);
    // The first holder, late, gives up its (expired) claim.
    b.idempotency.release(&key, &first).await.unwrap();
    assert_eq!(
        b.idempotency
            .claim(&key, Duration::from_secs(30))
            .await
            .unwrap(),
        Claim::InProgress,
        "the second holder's claim stands"
    );
    // Nor can the first finish it.
    assert!(!b
        .idempotency
        .finish(&key, &first, &serde_json::json!("first"), None)
        .await
        .unwrap());
    assert_eq!(b.values.get(&key).await.unwrap(), None);
    assert!(b
        .idempotency
        .finish(&key, &second, &serde_json::json!("second"), None)
        .await
        .unwrap());
    assert_eq!(
        b.values.get(&key).await.unwrap(),
        Some(serde_json::json!("second"))
    );
}

/// A done record whose retention ran out is claimable again.
pub async fn idempotency_retention(b: &Backend) {
    let key = crate::unique("retain");
    let fence = acquired(
        b.idempotency
            .claim(&key, Duration::from_secs(30))
            .await
            .unwrap(),
    );
    assert!(b
        .idempotency
        .finish(
            &key,
            &fence,
            &serde_json::json!({}),
            Some(Duration::from_secs(1))
        )
        .await
        .unwrap());
    assert!(matches!(
        b.idempotency
            .claim(&key, Duration::from_secs(30))
            .await
            .unwrap(),
        Claim::Done(_)
    ));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    acquired(
        b.idempotency
            .claim(&key, Duration::from_secs(30))
            .await
            .unwrap(),
    );
}

/// Many concurrent claims of one key: exactly one acquires.
pub async fn idempotency_concurrent_claims(b: &Backend) {
    let key = crate::unique("race");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let idempotency = b.idempotency.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            idempotency
                .claim(&key, Duration::from_secs(30))
                .await
                .unwrap()
        }));
    }
    let mut acquired = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Claim::Acquired(_)) {
            acquired += 1;
        }
    }
    assert_eq!(acquired, 1);
}

/// Secrets round-trip byte for byte (WooCommerce secrets with `&`, `;` and quotes broke
/// peers), can be replaced, and are gone after delete.
pub async fn vault_round_trip(b: &Backend) {
    let name = format!("connections/{}", crate::unique("c"));
    assert_eq!(b.vault.get(&name).await.unwrap(), None);
    let value = Secret::new(r#"{"consumer_secret":"cs_a&b;c\"d'e<f>g%20 ü ✓"}"#);
    b.vault.put(&name, &value).await.unwrap();
    assert_eq!(b.vault.get(&name).await.unwrap(), Some(value));
    let rotated = Secret::new(r#"{"access_token":"shpat_fake_rotated"}"#);
    b.vault.put(&name, &rotated).await.unwrap();
    assert_eq!(b.vault.get(&name).await.unwrap(), Some(rotated));
    b.vault.delete(&name).await.unwrap();
    assert_eq!(b.vault.get(&name).await.unwrap(), None);
    b.vault.delete(&name).await.unwrap();
}

/// Send, receive (hidden while leased), redelivery after the visibility timeout with a
/// higher receive count, ack removes.
pub async fn queue_lease_and_ack(b: &Backend) {
    b.queue
        .send(OutMessage {
            body: r#"{"n":1}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let first = b.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body, r#"{"n":1}"#);
    assert_eq!(first[0].receive_count, 1);
    assert!(
        b.queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = b.queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    b.queue.ack(&again[0].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b
        .queue
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap()
        .is_empty());
}

/// A repeated deduplication id is delivered once.
pub async fn queue_dedup(b: &Backend) {
    for _ in 0..3 {
        b.dedup_queue
            .send(OutMessage {
                body: r#"{"type":"order.imported"}"#.into(),
                dedup_id: Some("order-key-hash".into()),
                group_id: Some("order-key-hash".into()),
                tenant: Some(TenantId::parse("dev").unwrap()),
            })
            .await
            .unwrap();
    }
    let got = b
        .dedup_queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

/// GIVEN 23 messages WHEN sent as one batch (SQS: three `SendMessageBatch` requests) THEN
/// each is delivered once; on a deduplicating queue, a batch repeating an id delivers it once.
pub async fn queue_send_many_in_requests_of_ten(b: &Backend) {
    let messages = (0..23)
        .map(|n| OutMessage {
            body: format!(r#"{{"n":{n}}}"#),
            ..Default::default()
        })
        .collect();
    b.queue.send_many(messages).await.unwrap();
    let mut bodies = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let got = b.queue.receive(10, Duration::from_secs(30)).await.unwrap();
        for m in &got {
            assert!(bodies.insert(m.body.clone()), "delivered twice: {}", m.body);
            b.queue.ack(&m.receipt).await.unwrap();
        }
        if bodies.len() == 23 {
            break;
        }
    }
    assert_eq!(bodies.len(), 23);
    let repeated = ["a", "b", "a"]
        .iter()
        .map(|id| OutMessage {
            body: format!(r#"{{"id":"{id}"}}"#),
            dedup_id: Some(format!("batch-{id}")),
            group_id: Some(format!("batch-{id}")),
            tenant: Some(TenantId::parse("dev").unwrap()),
        })
        .collect();
    b.dedup_queue.send_many(repeated).await.unwrap();
    let got = b
        .dedup_queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
}

/// GIVEN versioned records WHEN written conditionally THEN an older or equal version never
/// replaces a newer one, and a removal conditional on an old version leaves a newer write.
pub async fn records_versions(b: &Backend) {
    let p = crate::unique("stock");
    let r = &b.records;
    assert!(r
        .put_if_newer(&p, "A", 10, &serde_json::json!({"n": 1}))
        .await
        .unwrap());
    assert!(!r
        .put_if_newer(&p, "A", 9, &serde_json::json!({"n": 0}))
        .await
        .unwrap());
    assert!(!r
        .put_if_newer(&p, "A", 10, &serde_json::json!({"n": 9}))
        .await
        .unwrap());
    assert!(r
        .put_if_newer(&p, "A", 11, &serde_json::json!({"n": 2}))
        .await
        .unwrap());
    let got = r.fetch(&p, "A").await.unwrap().unwrap();
    assert_eq!((got.version, got.value), (11, serde_json::json!({"n": 2})));
    assert!(!r.remove_if_version(&p, "A", 10).await.unwrap());
    assert!(r.fetch(&p, "A").await.unwrap().is_some());
    assert!(r.remove_if_version(&p, "A", 11).await.unwrap());
    assert_eq!(r.fetch(&p, "A").await.unwrap(), None);
    r.put(&p, "B", 5, &serde_json::json!("x")).await.unwrap();
    r.put(&p, "B", 1, &serde_json::json!("y")).await.unwrap();
    assert_eq!(r.fetch(&p, "B").await.unwrap().unwrap().version, 1);
    r.remove(&p, "B").await.unwrap();
    r.remove(&p, "B").await.unwrap();
    assert_eq!(r.fetch(&p, "B").await.unwrap(), None);
    // Another partition is another namespace.
    assert_eq!(r.fetch(&crate::unique("stock"), "A").await.unwrap(), None);
}

/// GIVEN a partition of records WHEN it is paged, filtered by prefix, or read by keys THEN
/// every matching record comes back once, in key order, and nothing from elsewhere.
pub async fn records_pages_and_batches(b: &Backend) {
    let p = crate::unique("map");
    let r = &b.records;
    let keys: Vec<String> = (0..25).map(|i| format!("sku#{i:03}")).collect();
    for (i, k) in keys.iter().enumerate() {
        r.put(&p, k, i as i64, &serde_json::json!({"i": i}))
            .await
            .unwrap();
    }
    r.put(&p, "other#1", 0, &serde_json::json!(null))
        .await
        .unwrap();
    r.put(
        &crate::unique("map"),
        "sku#000",
        0,
        &serde_json::json!(null),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = r.page(&p, "sku#", after.as_deref(), 10).await.unwrap();
        pages += 1;
        assert!(page.records.len() <= 10);
        seen.extend(page.records.iter().map(|rec| rec.key.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, keys);
    let all = r.page(&p, "", None, 100).await.unwrap();
    assert_eq!(all.records.len(), 26);
    assert_eq!(all.next, None);
    let wanted = vec![
        "sku#003".to_owned(),
        "sku#999".to_owned(),
        "sku#024".to_owned(),
    ];
    let mut got: Vec<(String, i64)> = r
        .fetch_many(&p, &wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|rec| (rec.key, rec.version))
        .collect();
    got.sort();
    assert_eq!(got, [("sku#003".to_owned(), 3), ("sku#024".to_owned(), 24)]);
    assert!(r.fetch_many(&p, &[]).await.unwrap().is_empty());
}

/// GIVEN 30 records of one partition (more than one DynamoDB batch, one key twice) WHEN they
/// are written with `put_many` THEN each reads back with its last version and value, records
/// already stored are overwritten, and nothing lands in another partition.
pub async fn records_put_many(b: &Backend) {
    let p = crate::unique("reserved");
    let r = &b.records;
    r.put(&p, "k#000", 99, &serde_json::json!("old"))
        .await
        .unwrap();
    let mut items: Vec<(String, i64, serde_json::Value)> = (0..30)
        .map(|i| (format!("k#{i:03}"), i, serde_json::json!({"i": i})))
        .collect();
    items.push(("k#007".into(), 70, serde_json::json!({"i": "last"})));
    r.put_many(&p, &items).await.unwrap();
    let all = r.page(&p, "k#", None, 100).await.unwrap();
    assert_eq!(all.records.len(), 30);
    for (i, rec) in all.records.iter().enumerate() {
        assert_eq!(rec.key, format!("k#{i:03}"));
        if i == 7 {
            assert_eq!(
                (rec.version, &rec.value),
                (70, &serde_json::json!({"i": "last"}))
            );
        } else {
            assert_eq!(
                (rec.version, &rec.value),
                (i as i64, &serde_json::json!({"i": i}))
            );
        }
    }
    r.put_many(&p, &[]).await.unwrap();
    assert!(r
        .page(&crate::unique("reserved"), "", None, 10)
        .await
        .unwrap()
        .records
        .is_empty());
}

/// GIVEN 13 messages (more than one SQS batch) WHEN sent with `send_many` THEN every one is
/// received once, and `ack_many` removes every received one; on a deduplicating queue a
/// repeated id in the batch is delivered once.
pub async fn queue_send_many_and_ack_many(b: &Backend) {
    let messages: Vec<OutMessage> = (0..13)
        .map(|i| OutMessage {
            body: format!(r#"{{"n":{i}}}"#),
            ..Default::default()
        })
        .collect();
    b.queue.send_many(messages).await.unwrap();
    let mut bodies = Vec::new();
    let mut receipts = Vec::new();
    for _ in 0..10 {
        for m in b.queue.receive(10, Duration::from_secs(30)).await.unwrap() {
            bodies.push(m.body);
            receipts.push(m.receipt);
        }
        if bodies.len() >= 13 {
            break;
        }
    }
    bodies.sort();
    let mut expected: Vec<String> = (0..13).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    b.queue.ack_many(&receipts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b
        .queue
        .receive(10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let tenant = TenantId::parse("dev").unwrap();
    let dup = |id: &str| OutMessage {
        body: format!(r#"{{"id":"{id}"}}"#),
        dedup_id: Some(id.to_owned()),
        group_id: Some("g".into()),
        tenant: Some(tenant.clone()),
    };
    b.dedup_queue
        .send_many(vec![dup("a"), dup("b"), dup("a")])
        .await
        .unwrap();
    let got = b
        .dedup_queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    let mut got: Vec<String> = got.into_iter().map(|m| m.body).collect();
    got.sort();
    assert_eq!(got, [r#"{"id":"a"}"#, r#"{"id":"b"}"#]);
}

/// GIVEN a shop connected to tenant A WHEN tenant B's new connection takes it (`rebind`)
/// THEN only a disconnected copy read at its stored version gives it up; afterwards the shop
/// routes to B's connection, and A's connection is kept, disconnected, with its history,
/// under its tenant and id, but found by shop no more.
pub async fn connections_rebind_only_a_disconnected_shop(b: &Backend) {
    let shop = unique_shop();
    let old = connection(&crate::unique("a"), &shop);
    b.connections.create(&old).await.unwrap();
    let new = connection(&crate::unique("b"), &shop);
    // An active shop never changes hands.
    assert!(b.connections.rebind(&old, &new).await.is_err());
    let mut disconnected = old.clone();
    disconnected.status = ConnectionStatus::Disconnected;
    let stored = b
        .connections
        .update(&disconnected)
        .await
        .unwrap()
        .stored()
        .unwrap();
    // A copy read before the disconnect (its version) is stale, even if it says disconnected.
    assert_eq!(
        b.connections.rebind(&disconnected, &new).await.unwrap(),
        shared::ports::RebindOutcome::Stale
    );
    assert_eq!(b.connections.get(&new.tenant, &new.id).await.unwrap(), None);
    assert_eq!(
        b.connections.rebind(&stored, &new).await.unwrap(),
        shared::ports::RebindOutcome::Rebound
    );
    assert_eq!(
        b.connections
            .find_by_shop(Channel::Shopify, &shop)
            .await
            .unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        b.connections.find_by_id(&new.id).await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        b.connections.list(&new.tenant).await.unwrap(),
        vec![new.clone()]
    );
    // The old tenant keeps its connection, disconnected, by id and in its list.
    assert_eq!(
        b.connections.get(&old.tenant, &old.id).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        b.connections.list(&old.tenant).await.unwrap(),
        vec![stored.clone()]
    );
    assert_eq!(
        b.connections.find_by_id(&old.id).await.unwrap(),
        Some(stored.clone())
    );
    // The released copy owns nothing any more: a second rebind from it is refused.
    let third = connection(&crate::unique("c"), &shop);
    assert_eq!(
        b.connections.rebind(&stored, &third).await.unwrap(),
        shared::ports::RebindOutcome::Stale
    );
    assert_eq!(
        b.connections.get(&third.tenant, &third.id).await.unwrap(),
        None
    );
    // And the shop is still one connection's.
    assert_eq!(
        b.connections.create(&third).await.unwrap(),
        CreateOutcome::ShopTaken(Box::new(new.clone()))
    );
}

/// GIVEN a disconnected shop WHEN several tenants take it at once THEN exactly one gets it.
pub async fn connections_concurrent_rebinds(b: &Backend) {
    let shop = unique_shop();
    let mut old = connection(&crate::unique("a"), &shop);
    b.connections.create(&old).await.unwrap();
    old.status = ConnectionStatus::Disconnected;
    let old = b.connections.update(&old).await.unwrap().stored().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let connections = b.connections.clone();
        let (old, new) = (old.clone(), connection(&crate::unique("n"), &shop));
        tasks.push(tokio::spawn(async move {
            let outcome = connections.rebind(&old, &new).await.unwrap();
            (outcome, new)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (outcome, new) = t.await.unwrap();
        if outcome == shared::ports::RebindOutcome::Rebound {
            winners.push(new);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(
        b.connections
            .find_by_shop(Channel::Shopify, &shop)
            .await
            .unwrap(),
        Some(winners[0].clone())
    );
}

/// A value is read back as put; a conditional put writes only over the value it expects
/// (`None`: none yet); a done claim's record reads back as a value (the same rows), and a
/// value is not taken by a claim (it is done for claimers).
pub async fn key_value_put_get_and_put_if(b: &Backend) {
    let key = crate::unique("last");
    let first = serde_json::json!({"generation": 1, "note": "a & b / ü", "list": [1, 2.5]});
    let second = serde_json::json!({"generation": 2});
    assert_eq!(b.values.get(&key).await.unwrap(), None);
    assert!(b.values.put_if(&key, None, &first, None).await.unwrap());
    // There is one now: "none yet" no longer holds.
    assert!(!b.values.put_if(&key, None, &second, None).await.unwrap());
    assert_eq!(b.values.get(&key).await.unwrap(), Some(first.clone()));
    // Another value than the stored one: nothing written.
    assert!(!b
        .values
        .put_if(&key, Some(&second), &serde_json::json!(3), None)
        .await
        .unwrap());
    // The value as read back is what it expects.
    let read = b.values.get(&key).await.unwrap().unwrap();
    assert!(b
        .values
        .put_if(&key, Some(&read), &second, None)
        .await
        .unwrap());
    assert_eq!(b.values.get(&key).await.unwrap(), Some(second));
    b.values
        .put(&key, &serde_json::json!("plain"), None)
        .await
        .unwrap();
    assert_eq!(
        b.values.get(&key).await.unwrap(),
        Some(serde_json::json!("plain"))
    );
    let claimed = crate::unique("last");
    let lease = Duration::from_secs(30);
    let fence = acquired(b.idempotency.claim(&claimed, lease).await.unwrap());
    assert_eq!(b.values.get(&claimed).await.unwrap(), None, "in progress");
    assert!(b
        .idempotency
        .finish(&claimed, &fence, &serde_json::json!({"run": 7}), None)
        .await
        .unwrap());
    assert_eq!(
        b.values.get(&claimed).await.unwrap(),
        Some(serde_json::json!({"run": 7}))
    );
    assert_eq!(
        b.idempotency.claim(&key, lease).await.unwrap(),
        Claim::Done(serde_json::json!("plain"))
    );
}

/// Many conditional puts over the same value at once: exactly one writes.
pub async fn key_value_concurrent_put_if(b: &Backend) {
    let key = crate::unique("generation");
    let start = serde_json::json!({"generation": 0});
    b.values.put(&key, &start, None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 1..=8 {
        let values = b.values.clone();
        let (key, start) = (key.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let next = serde_json::json!({ "generation": i });
            values
                .put_if(&key, Some(&start), &next, None)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_ne!(b.values.get(&key).await.unwrap(), Some(start));
}

/// A value whose retention ran out is gone: read as none, and "none yet" holds again.
pub async fn key_value_retention(b: &Backend) {
    let key = crate::unique("state");
    let value = serde_json::json!({"tenant": "t_1"});
    b.values
        .put(&key, &value, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(b.values.get(&key).await.unwrap(), Some(value.clone()));
    assert!(!b.values.put_if(&key, None, &value, None).await.unwrap());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(b.values.get(&key).await.unwrap(), None);
    assert!(b.values.put_if(&key, None, &value, None).await.unwrap());
    assert_eq!(b.values.get(&key).await.unwrap(), Some(value));
}

/// Runs one contract test per `#[tokio::test]`, for a backend constructor.
#[macro_export]
macro_rules! contract_tests {
    ($backend:expr) => {
        $crate::contract_tests!(@each $backend;
            connections_create_get_list, connections_one_per_shop, connections_concurrent_create,
            connections_update, connections_stale_copy_is_not_written_back,
            connections_concurrent_updates, tenants_tokens, idempotency_claim_complete, idempotency_release,
            idempotency_lease_expiry, idempotency_lease_is_fenced, idempotency_retention, idempotency_concurrent_claims,
            vault_round_trip, queue_lease_and_ack, queue_dedup, queue_send_many_in_requests_of_ten, records_versions,
            records_pages_and_batches, records_put_many, queue_send_many_and_ack_many,
            connections_rebind_only_a_disconnected_shop, connections_concurrent_rebinds,
            key_value_put_get_and_put_if, key_value_concurrent_put_if, key_value_retention);
    };
    (@each $backend:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $backend.await;
                $crate::contract::$name(&backend).await;
            }
        )*
    };
}
