//! The port contract suite on the embedded (SQLite) adapters.

use shared::embedded::{EmbeddedStore, EmbeddedVault};
use std::sync::Arc;
use tests::contract::Backend;

async fn backend() -> Backend {
    // Leaked on purpose: the directory must outlive the test's store handles.
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let store = EmbeddedStore::open(dir.path()).unwrap();
    Backend {
        connections: Arc::new(store.clone()),
        tenants: Arc::new(store.clone()),
        idempotency: Arc::new(store.clone()),
        records: Arc::new(store.clone()),
        vault: Arc::new(EmbeddedVault::open(dir.path()).unwrap()),
        values: Arc::new(store.clone()),
        queue: Arc::new(store.queue("q", Some("q-dlq"), 5)),
        dedup_queue: Arc::new(store.queue("wms-orders", None, 5)),
    }
}

tests::contract_tests!(backend());

#[tokio::test]
async fn messages_received_too_often_move_to_the_dead_letter_queue() {
    use shared::ports::{OutMessage, Queue};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let queue = store.queue("q", Some("q-dlq"), 2);
    queue
        .send(OutMessage {
            body: "poison".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(queue.receive(10, Duration::ZERO).await.unwrap().len(), 1);
    }
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let dlq = store
        .queue("q-dlq", None, 5)
        .receive(10, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].body, "poison");
}

/// Issue 15, item 16 (proven): a message moved to the dead-letter queue kept its dedup id, so
/// the next poisoned message with the same id (sent again once the first had left the queue)
/// could not move — `UNIQUE(queue, dedup_id)` failed the whole receive, every time, and the
/// queue was wedged behind it.
#[tokio::test]
async fn a_second_poisoned_message_with_the_same_dedup_id_does_not_wedge_the_queue() {
    use shared::ports::{OutMessage, Queue};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let queue = store.queue("q", Some("q-dlq"), 1);
    let send = |body: &str, dedup: Option<&str>| OutMessage {
        body: body.into(),
        dedup_id: dedup.map(str::to_owned),
        ..Default::default()
    };
    queue.send(send("first", Some("same"))).await.unwrap();
    assert_eq!(queue.receive(10, Duration::ZERO).await.unwrap().len(), 1);
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    // The id is free in the queue again: the same message is sent again, and fails again.
    queue.send(send("second", Some("same"))).await.unwrap();
    assert_eq!(queue.receive(10, Duration::ZERO).await.unwrap().len(), 1);
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    // The queue still delivers.
    queue.send(send("third", None)).await.unwrap();
    let got = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "third");
    // Both poisoned messages are kept for inspection.
    let mut dead: Vec<String> = store
        .queue("q-dlq", None, 5)
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    dead.sort();
    assert_eq!(dead, ["first", "second"]);
}

#[cfg(unix)]
#[test]
fn the_vault_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let _vault = EmbeddedVault::open(dir.path()).unwrap();
    let mode = std::fs::metadata(dir.path().join("vault.sqlite"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
