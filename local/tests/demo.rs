//! `channel-sync demo` in-process: serve plus the seven simulated stores (Shopify, WooCommerce,
//! Magento, TikTok Shop, Etsy, eBay, Veeqo), run until every channel has had orders imported, tracking written back to its store
//! and stock pushed to it (or a generous deadline passes, and the test fails saying what is
//! missing).

use local::demo::{run, DemoOptions, DemoSummary, CHANNELS};
use std::time::Duration;

fn complete(s: &DemoSummary) -> bool {
    CHANNELS.iter().all(|c| {
        [
            &s.orders_imported,
            &s.tracking_exported,
            &s.tracking_calls,
            &s.stock_pushes,
        ]
        .iter()
        .all(|m| m.get(*c).copied().unwrap_or(0) > 0)
    })
}

/// GIVEN the demo with a one-second pace WHEN it runs THEN for every channel orders are
/// imported (never more than were placed), tracking reaches the store and the outbox says so,
/// and Live sync pushes stock to the store; Ctrl-C (here: the stop future) ends it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_moves_orders_tracking_and_stock_on_every_channel() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let (progress, mut watch) = tokio::sync::watch::channel(DemoSummary::default());
    let stop = async move {
        let _ = tokio::time::timeout(Duration::from_secs(120), async {
            while !complete(&watch.borrow_and_update()) {
                if watch.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    };
    let options = DemoOptions {
        pace: Duration::from_secs(1),
        verbose: false,
        progress: Some(progress),
    };
    let summary = run(listener, data.path(), options, stop).await.unwrap();
    assert!(complete(&summary), "{summary:#?}");
    for channel in CHANNELS {
        let placed = summary.orders_placed[channel];
        let imported = summary.orders_imported[channel];
        assert!(imported <= placed, "{channel}: {summary:#?}");
        assert!(
            summary.tracking_exported[channel] <= summary.tracking_calls[channel],
            "{channel}: every tracking.exported is a write the store received: {summary:#?}"
        );
    }
}
