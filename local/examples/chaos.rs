//! Longer crash runs than the one round of `tests/crash.rs`: N rounds against one
//! `channel-sync serve` (release or debug binary) with a Shopify, a WooCommerce, a TikTok
//! Shop, an eBay and an Etsy store connected to local fakes; each round posts a burst of
//! signed order deliveries of all five, SIGKILLs `serve` after a seeded random number of
//! answers, restarts it on the same data, re-sends what was not answered 200 (as the
//! channels do) and checks every order of the round is in the outbox exactly once.
//!
//! ```sh
//! cargo build --release -p local --bin channel-sync
//! CHAOS_BIN=target/release/channel-sync CHAOS_SEED=7 \
//!   cargo run -p local --example chaos -- 10 20 8   # rounds, orders per channel, clients
//! ```
//! Prints one line per round and the totals; exits 1 if any order was lost or duplicated.

#[path = "../tests/chaos/crash.rs"]
mod crash;

use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("rounds, orders per channel, clients: whole numbers")
        })
        .collect();
    let rounds = args.first().copied().unwrap_or(5).clamp(1, 1000);
    let per_channel = args.get(1).copied().unwrap_or(20).clamp(1, 2000);
    let clients = args.get(2).copied().unwrap_or(8).clamp(1, 64);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let binary = std::env::var("CHAOS_BIN").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_owned());
        format!("{target}/release/channel-sync")
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    println!(
        "chaos: {rounds} round(s), {per_channel} orders per channel, {clients} clients, seed {seed}, {binary}"
    );

    let world = crash::World::new(binary.into()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client");
    let mut serve = world.spawn();
    world.connect_all(&client, &serve).await;
    let (mut delivered, mut resent, mut retried, mut bad) = (0, 0, 0, 0);
    let started = Instant::now();
    for round in 1..=rounds {
        let deliveries = world.deliveries(per_channel);
        let kill_after = rng.random_range(1..=deliveries.len());
        let began = Instant::now();
        let (next, report) = world
            .crash_round(&client, serve, deliveries, clients, kill_after)
            .await;
        serve = next;
        delivered += report.deliveries;
        resent += report.resent;
        retried += report.told_to_retry;
        bad += report.duplicated.len() + report.missing.len();
        println!(
            "round {round}: {} deliveries, killed after {} answers, {} re-sent ({} told to retry), \
             duplicated {:?}, missing {:?}, {:.1}s",
            report.deliveries,
            report.answered_before_kill,
            report.resent,
            report.told_to_retry,
            report.duplicated,
            report.missing,
            began.elapsed().as_secs_f64()
        );
    }
    let orders = crash::order_messages(&client, &serve, &world.token).await;
    println!(
        "total: {delivered} deliveries, {resent} re-sent after a kill, {retried} answered 503 first, \
         {} order messages in the outbox, {bad} lost or duplicated, {:.1}s",
        orders.len(),
        started.elapsed().as_secs_f64()
    );
    crash::stop(serve);
    if bad > 0 || orders.len() != delivered {
        std::process::exit(1);
    }
}
