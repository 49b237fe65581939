//! Tests of the channel context, apart from it (they reach the registry through the testkit).

use super::*;
use crate::channels::testkit::{access_token, reread, saved_connection, test_registry};
use crate::embedded::{EmbeddedStore, EmbeddedVault};
use std::sync::Arc;

/// Issue 15, item 9: a job read the connection, then the channel refused the (old)
/// credentials; meanwhile the merchant reconnected. The job's refusal must not flip the
/// freshly reconnected connection to `needs_reauth`.
#[tokio::test]
async fn a_refusal_of_credentials_replaced_since_does_not_mark_the_reconnected_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let channels = test_registry(&store, vault, None);
    let c = saved_connection(
        &channels,
        "c_reauth",
        Channel::Shopify,
        "demo.myshopify.com",
        ConnectionStatus::Active,
        &access_token("shpat_fake_old"),
    )
    .await;
    let context = channels.context();
    let job_copy = reread(&channels, &c).await;
    let (created, _) = context
        .upsert_connection(
            &c.tenant,
            Channel::Shopify,
            &c.shop,
            &access_token("shpat_fake_new"),
            None,
            None,
        )
        .await
        .unwrap();
    assert!(!created);
    let answer = context.mark_needs_reauth(&job_copy).await;
    assert!(matches!(answer, OpenError::NeedsReauth));
    let stored = reread(&channels, &c).await;
    assert_eq!(stored.status, ConnectionStatus::Active, "{stored:?}");
    // A refusal of the current credentials still marks it.
    context.mark_needs_reauth(&stored).await;
    let stored = reread(&channels, &c).await;
    assert_eq!(stored.status, ConnectionStatus::NeedsReauth);
}
