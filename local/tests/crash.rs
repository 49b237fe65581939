//! Crash test of `channel-sync serve` (the black-box half of the crash-and-chaos harness,
//! `tests/chaos/crash.rs`): a burst of signed order deliveries of every channel that takes
//! webhooks, SIGKILL mid-burst, a restart on the same data, the unanswered deliveries re-sent
//! as the channels do — and every order is in the outbox exactly once. Longer runs:
//! `make chaos` (`examples/chaos.rs`).

#[path = "chaos/crash.rs"]
mod crash;

use std::time::Duration;

/// GIVEN `serve` with a Shopify, a WooCommerce, a TikTok Shop, an eBay and an Etsy store
/// connected WHEN 8 orders of each (40 deliveries, 6 at a time) are posted and `serve` is
/// killed with SIGKILL after 12 were answered 200, restarted on the same data, and every
/// delivery not answered 200 is re-sent until it is THEN each of the 40 orders is in the
/// outbox exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_burst_loses_and_duplicates_no_order_of_any_channel() {
    let world = crash::World::new(env!("CARGO_BIN_EXE_channel-sync").into()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let serve = world.spawn();
    world.connect_all(&client, &serve).await;
    let deliveries = world.deliveries(8);
    let (serve, report) = world.crash_round(&client, serve, deliveries, 6, 12).await;
    eprintln!("crash round: {report:?}");
    assert!(report.duplicated.is_empty(), "duplicated: {report:?}");
    assert!(report.missing.is_empty(), "missing: {report:?}");
    assert!(report.resent > 0, "the kill cut nothing: {report:?}");
    for channel in ["shopify", "woocommerce", "tiktok", "ebay", "etsy"] {
        assert_eq!(report.per_channel.get(channel), Some(&8), "{report:?}");
    }
    crash::stop(serve);
}
