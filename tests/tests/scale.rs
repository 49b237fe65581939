//! Issue 22's simulation on moto: the real `scheduler` and `jobs` handlers, DynamoDB and SQS
//! through the AWS adapters, and many Shopify connections against one loopback fake store
//! that answers with latency (one of them never answers in time).
//!
//! `SCALE_CONNECTIONS` sets how many (default 100, the slice `make test` runs; `make
//! scale-sim` runs 2,000). Lambda is simulated by `INSTANCES` concurrent pollers, each
//! receiving up to ten messages, calling the `jobs` handler and deleting what it did not
//! report failed, like the SQS event source mapping.

use aws_lambda_events::event::sqs::SqsEvent;
use shared::aws::{provision, DynamoStore, SecretsVault, SqsQueue};
use shared::channels::context::{AppCredentials, ChannelApps};
use shared::channels::registry::Registry;
use shared::channels::shopify::oauth::ShopifyCredentials;
use shared::channels::store_url::UrlPolicy;
use shared::domain::{Channel, Connection, ConnectionId, ConnectionStatus, TenantId};
use shared::jobs::fanout::Cadences;
use shared::jobs::Job;
use shared::ports::Queue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::{moto_config, unique};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Concurrent simulated `jobs` invocations (the template's MaximumConcurrency is 50).
const INSTANCES: usize = 25;
/// How long a received job message stays invisible: longer than a job takes here (the
/// hanging store's call times out first), short enough that a message handed back for a retry
/// is run again within the test.
const REDELIVERY: Duration = Duration::from_secs(60);
const GRAPHQL: &str = "/admin/api/2026-10/graphql.json";
const HANG: &str = "c-hang";

fn connections_wanted() -> usize {
    std::env::var("SCALE_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 2)
        .unwrap_or(100)
}

fn token(id: &str) -> String {
    format!("shpat_fake_{id}")
}

fn empty_page() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": {"orders": {
        "nodes": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}}}))
}

/// Requests per access token the fake store received.
async fn requests_per_token(server: &MockServer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in server.received_requests().await.unwrap_or_default() {
        if let Some(t) = r.headers.get("X-Shopify-Access-Token") {
            *out.entry(t.to_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    out
}

/// One simulated Lambda instance: polls the jobs queue until it stays empty.
/// Whether the queue holds no message, visible or in flight.
async fn queue_is_drained(sqs: &aws_sdk_sqs::Client, url: &str) -> bool {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let answer = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = answer.attributes.unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .all(|name| attributes.get(name).is_none_or(|n| n == "0"))
}

/// One simulated `jobs` instance: receives (a message handed back by a partial batch
/// response comes back after `REDELIVERY`, as SQS would after its visibility timeout) and
/// stops only once the queue holds nothing, visible or in flight, three polls in a row.
async fn instance(
    queue: SqsQueue,
    sqs: aws_sdk_sqs::Client,
    url: String,
    deps: Arc<shared::jobs::fanout::JobsDeps>,
) -> usize {
    let mut handled = 0;
    let mut empty = 0;
    while empty < 3 {
        let batch = queue.receive(10, REDELIVERY).await.unwrap();
        if batch.is_empty() {
            if queue_is_drained(&sqs, &url).await {
                empty += 1;
            } else {
                empty = 0;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        empty = 0;
        let records: Vec<_> = batch
            .iter()
            .map(|m| serde_json::json!({"messageId": m.id, "receiptHandle": m.receipt, "body": m.body}))
            .collect();
        let event: SqsEvent =
            serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
        let response = jobs::handler(deps.clone(), event).await.unwrap();
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for m in &batch {
            if !failed.contains(&m.id) {
                queue.ack(&m.receipt).await.unwrap();
                handled += 1;
            }
        }
    }
    handled
}

/// GIVEN `SCALE_CONNECTIONS` Shopify connections on moto that the due index does not know
/// yet, a fake store answering each poll after 20 ms and one store that never answers
/// WHEN the reconcile schedule ticks, the simulated `jobs` instances drain the queue, and
/// the next tick ten minutes on does the same again
/// THEN each tick enqueued every connection once without calling any store, every store was
/// polled exactly once per tick (a message SQS delivered twice is skipped), and the hanging
/// store's job failed alone (timed out) and was rescheduled like the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_connection_is_reconciled_once_per_tick_at_scale() {
    let n = connections_wanted();
    let config = moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let table = unique("table");
    provision::create_table(&dynamo, &table).await.unwrap();
    let queue = |name: String| {
        let sqs = sqs.clone();
        async move {
            provision::create_queue_with_dlq(&sqs, &name, 5, 900)
                .await
                .unwrap()
        }
    };
    let (jobs_url, jobs_dlq_url) = queue(unique("jobs")).await;
    let (events_url, _) = queue(unique("channel-events")).await;
    let (wms_url, _) = queue(unique("wms-orders") + ".fifo").await;
    let (push_url, _) = queue(unique("inventory-push") + ".fifo").await;
    let store = Arc::new(DynamoStore::new(dynamo, table));
    let vault = Arc::new(SecretsVault::from_config(&config, unique("cs") + "/"));
    let ports = shared::aws::ports_of(store.clone(), vault);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .and(header("X-Shopify-Access-Token", token(HANG).as_str()))
        .respond_with(empty_page().set_delay(Duration::from_secs(600)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL))
        .respond_with(empty_page().set_delay(Duration::from_millis(20)))
        .mount(&server)
        .await;
    let apps = ChannelApps::default().with(
        Channel::Shopify,
        AppCredentials {
            client_id: "fake-client".into(),
            secrets: vec![shared::ports::Secret::new(tests::fake_secret("shpss"))],
            api_base: Some(server.uri()),
        },
    );
    let channels = Registry::on(
        &ports,
        UrlPolicy {
            allow_private: true,
        },
        "https://sync.example",
        apps,
    )
    .unwrap();

    // The connections, created as before the index existed (no due entries).
    let ids: Vec<String> = (0..n)
        .map(|i| {
            if i == n / 2 {
                HANG.to_owned()
            } else {
                format!("c-{i:05}")
            }
        })
        .collect();
    let created = "2026-11-27T09:00:00Z".parse().unwrap();
    // Seeded in batches: `create`'s TransactWriteItems costs moto a copy of the whole table
    // each, so 2,000 creates one after another took longer than the whole run (the creates
    // themselves are tested elsewhere). Credentials 16 at a time.
    let mut all = Vec::with_capacity(n);
    for id in &ids {
        let c = Connection {
            id: ConnectionId::parse(id.as_str()).unwrap(),
            tenant: TenantId::parse(format!("t-{}", &id[2..])).unwrap(),
            channel: Channel::Shopify,
            shop: format!("{id}.myshopify.com"),
            display_name: None,
            status: ConnectionStatus::Active,
            settings: Default::default(),
            created_at: created,
            updated_at: created,
            activated_at: Some(created),
            version: 0,
        };
        all.push(c);
    }
    let seeding = Instant::now();
    store.seed_connections(&all).await.unwrap();
    for chunk in all.chunks(16) {
        let mut puts = tokio::task::JoinSet::new();
        for c in chunk {
            let vault = ports.vault.clone();
            let (name, credentials) = (
                c.credentials_name(),
                ShopifyCredentials::static_token(&token(c.id.as_str()), "").to_secret(),
            );
            puts.spawn(async move { vault.put(&name, &credentials).await });
        }
        while let Some(put) = puts.join_next().await {
            put.unwrap().unwrap();
        }
    }
    eprintln!(
        "scale setup: {n} connections seeded in {:?}",
        seeding.elapsed()
    );

    let tick_deps = Arc::new(shared::jobs::fanout::TickDeps::on(
        &ports,
        channels.clone(),
        Arc::new(SqsQueue::new(sqs.clone(), jobs_url.clone())),
        Cadences::default(),
    ));
    let worker = Arc::new(shared::jobs::fanout::JobsDeps::on(
        &ports,
        channels,
        shared::jobs::fanout::JobQueues {
            channel_events: Arc::new(SqsQueue::new(sqs.clone(), events_url)),
            wms_orders: Arc::new(SqsQueue::new(sqs.clone(), wms_url)),
            inventory_push: Arc::new(SqsQueue::new(sqs.clone(), push_url)),
            jobs: Arc::new(SqsQueue::new(sqs.clone(), jobs_url.clone())),
            jobs_dlq: Arc::new(SqsQueue::new(sqs.clone(), jobs_dlq_url)),
        },
        Cadences::default(),
    ));

    for round in [1usize, 2] {
        // Round 2 ticks ten minutes after round 1 ended: a run moves its entry to the first
        // slot after it finished (missed slots are skipped), and on a loaded machine round 1
        // of 2,000 connections outlasts ten minutes, so a tick at a fixed `start + 10 min`
        // would rightly find the late runs not due yet.
        let at = chrono::Utc::now().timestamp_millis() + if round == 1 { 0 } else { 600_000 };
        let started = Instant::now();
        let report = shared::jobs::fanout::tick(&tick_deps, Job::Reconcile, at)
            .await
            .unwrap();
        let tick_took = started.elapsed();
        assert_eq!(report.enqueued, n, "round {round}: every connection once");
        if round == 1 {
            assert_eq!(
                report.enrolled,
                Some(n),
                "the sweep enrolled every connection"
            );
        } else {
            assert_eq!(report.enrolled, None, "the sweep runs once a day");
        }
        let polled_before: usize = requests_per_token(&server).await.values().sum();
        assert_eq!(
            polled_before,
            (round - 1) * n,
            "the tick itself never calls a store"
        );

        let started = Instant::now();
        let mut instances = tokio::task::JoinSet::new();
        for _ in 0..INSTANCES {
            instances.spawn(instance(
                SqsQueue::new(sqs.clone(), jobs_url.clone()),
                sqs.clone(),
                jobs_url.clone(),
                worker.clone(),
            ));
        }
        let mut handled = 0;
        while let Some(done) = instances.join_next().await {
            handled += done.unwrap();
        }
        let drain_took = started.elapsed();
        // SQS standard queues deliver at least once (moto under load does too): a duplicate
        // is handled, and skipped by the worker, never run twice (checked below).
        assert!(handled >= n, "round {round}: every message handled");

        let polls = requests_per_token(&server).await;
        assert_eq!(polls.len(), n);
        assert!(
            polls.values().all(|count| *count == round),
            "round {round}: every store polled exactly once per tick"
        );
        for id in [&ids[0], &ids[n - 1]] {
            let last = shared::schedule::last_run(
                &*ports.values,
                Job::Reconcile,
                &ConnectionId::parse(id.as_str()).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(last.outcome, "completed");
        }
        let hang = shared::schedule::last_run(
            &*ports.values,
            Job::Reconcile,
            &ConnectionId::parse(HANG).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(hang.outcome.starts_with("failed"), "{}", hang.outcome);
        assert!(hang.next_ms > at, "the hanging store keeps its schedule");
        // Figures for the notes (never asserted: no wall-clock assertions).
        eprintln!(
            "scale round {round}: {n} connections, tick {tick_took:?}, drain with {INSTANCES} instances {drain_took:?}"
        );
    }
}
