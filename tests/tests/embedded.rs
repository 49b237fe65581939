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
