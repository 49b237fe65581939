//! The AWS adapters against `moto_server` (real AWS wire protocol on loopback): the port
//! contract suite, and the Shopify flow end to end through the Lambda handlers' wiring.
//! One moto serves the whole file; every test makes its own table and queues.

use shared::aws::{provision, DynamoStore, SecretsVault, SqsQueue};
use shared::domain::Channel;
use shared::ports::{Connections, Queue, Vault};
use std::sync::Arc;
use std::time::Duration;
use tests::contract::Backend;
use tests::{moto_config, unique};

async fn backend() -> Backend {
    let config = moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let table = unique("table");
    provision::create_table(&dynamo, &table).await.unwrap();
    let (queue, _) = provision::create_queue_with_dlq(&sqs, &unique("q"), 5, 30)
        .await
        .unwrap();
    let (fifo, _) = provision::create_queue_with_dlq(&sqs, &(unique("q") + ".fifo"), 5, 30)
        .await
        .unwrap();
    let store = Arc::new(DynamoStore::new(dynamo, table));
    Backend {
        connections: store.clone(),
        tenants: store.clone(),
        idempotency: store.clone(),
        records: store.clone(),
        values: store,
        vault: Arc::new(SecretsVault::from_config(
            &config,
            unique("channel-sync") + "/",
        )),
        queue: Arc::new(SqsQueue::new(sqs.clone(), queue)),
        dedup_queue: Arc::new(SqsQueue::new(sqs, fifo)),
    }
}

tests::contract_tests!(backend());

/// A provisioned deployment: the names the SAM template would create, on moto.
struct Deployment {
    config: shared::aws::SdkConfig,
    table: String,
    channel_events: String,
    channel_events_dlq: String,
    wms_orders: String,
    inventory_push: String,
    app_secret_id: String,
    app_secret: String,
}

async fn deploy() -> Deployment {
    let config = moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let table = unique("table");
    provision::create_table(&dynamo, &table).await.unwrap();
    let (channel_events, channel_events_dlq) =
        provision::create_queue_with_dlq(&sqs, &unique("channel-events"), 5, 180)
            .await
            .unwrap();
    let (wms_orders, _) =
        provision::create_queue_with_dlq(&sqs, &(unique("wms-orders") + ".fifo"), 5, 60)
            .await
            .unwrap();
    let (inventory_push, _) =
        provision::create_queue_with_dlq(&sqs, &(unique("inventory-push") + ".fifo"), 5, 60)
            .await
            .unwrap();
    let app_secret = tests::fake_secret("shpss");
    let app_secret_id = unique("shopify-app");
    let vault = SecretsVault::from_config(&config, "");
    vault
        .put(
            &app_secret_id,
            &shared::ports::Secret::new(
                serde_json::json!({"client_id": "fake-client", "client_secret": app_secret})
                    .to_string(),
            ),
        )
        .await
        .unwrap();
    Deployment {
        config,
        table,
        channel_events,
        channel_events_dlq,
        wms_orders,
        inventory_push,
        app_secret_id,
        app_secret,
    }
}

fn order_body() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/shopify-order-5kb.json"
    ))
    .unwrap()
}

fn webhook(
    secret: &str,
    shop: &str,
    delivery: &str,
    body: &[u8],
) -> http::Request<axum::body::Body> {
    http::Request::post("/webhooks/shopify")
        .header("content-type", "application/json")
        .header(
            "X-Shopify-Hmac-Sha256",
            shared::channels::shopify::sign(secret, body),
        )
        .header("X-Shopify-Shop-Domain", shop)
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", delivery)
        .body(axum::body::Body::from(body.to_vec()))
        .unwrap()
}

async fn drain(queue: &SqsQueue) -> Vec<shared::ports::Received> {
    let mut all = Vec::new();
    for _ in 0..5 {
        let batch = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        all.extend(batch);
    }
    all
}

fn sqs_event(messages: &[shared::ports::Received]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<_> = messages
        .iter()
        .map(|m| serde_json::json!({"messageId": m.id, "receiptHandle": m.receipt, "body": m.body}))
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

/// GIVEN the Lambda wiring on moto WHEN the same signed `orders/create` is delivered five
/// times concurrently (the ones told 503 "in progress" re-sent until 200), and once more as a different delivery (a duplicate subscription)
/// THEN `wms-orders` holds exactly one `order.imported`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_order_flows_once_through_the_aws_adapters() {
    use tower::ServiceExt;
    let d = deploy().await;
    // The functions read their configuration from the environment, as in Lambda.
    // SAFETY of set_var: only this test reads these variables.
    std::env::set_var("TABLE_NAME", &d.table);
    std::env::set_var("CHANNEL_EVENTS_QUEUE_URL", &d.channel_events);
    std::env::set_var("CHANNEL_EVENTS_DLQ_URL", &d.channel_events_dlq);
    std::env::set_var("WMS_ORDERS_QUEUE_URL", &d.wms_orders);
    std::env::set_var("INVENTORY_PUSH_QUEUE_URL", &d.inventory_push);
    std::env::set_var("SHOPIFY_APP_SECRET_ID", &d.app_secret_id);
    let prefix = unique("channel-sync") + "/";
    std::env::set_var("SECRETS_PREFIX", &prefix);
    // The import asks Shopify which location fulfils the order: a shop with one location
    // (that one is the connection's, so the whole order is imported).
    let shopify = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::body_string_contains("ChannelSyncLocations"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {"locations": {"nodes": [{"id": "gid://shopify/Location/1", "name": "Warehouse",
                "isActive": true, "fulfillsOnlineOrders": true}],
                "pageInfo": {"hasNextPage": false, "endCursor": null}}}
        })))
        .mount(&shopify)
        .await;
    std::env::set_var("SHOPIFY_API_BASE", shopify.uri());
    let intake = Arc::new(webhooks::deps_from_env(&d.config).await.unwrap());
    let import = Arc::new(order_import::deps_from_env(&d.config).await.unwrap());

    let shop = unique("flow") + ".myshopify.com";
    let store = DynamoStore::from_config(&d.config, &d.table);
    let connection = tests::contract::connection("dev", &shop);
    store.create(&connection).await.unwrap();
    let credentials = shared::channels::shopify::oauth::ShopifyCredentials::static_token(
        "shpat_fake_aws_flow",
        "read_orders",
    );
    SecretsVault::from_config(&d.config, prefix.clone())
        .put(&connection.credentials_name(), &credentials.to_secret())
        .await
        .unwrap();
    assert!(store
        .find_by_shop(Channel::Shopify, &shop)
        .await
        .unwrap()
        .is_some());

    let body = order_body();
    let app = webhooks::app(intake);
    let mut posts = Vec::new();
    for _ in 0..5 {
        let request = webhook(&d.app_secret, &shop, "delivery-1", &body);
        posts.push(tokio::spawn(app.clone().oneshot(request)));
    }
    // One attempt records the delivery; one that finds it in progress is answered 503 with
    // Retry-After (never 200, since that attempt could still die) and re-sent, as Shopify does.
    for post in posts {
        let mut status = post.await.unwrap().unwrap().status();
        for _ in 0..100 {
            if status != 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let again = webhook(&d.app_secret, &shop, "delivery-1", &body);
            status = app.clone().oneshot(again).await.unwrap().status();
        }
        assert_eq!(status, 200);
    }
    let other_subscription = webhook(&d.app_secret, &shop, "delivery-2", &body);
    assert_eq!(
        app.clone()
            .oneshot(other_subscription)
            .await
            .unwrap()
            .status(),
        200
    );

    let sqs = aws_sdk_sqs::Client::new(&d.config);
    let events = drain(&SqsQueue::new(sqs.clone(), d.channel_events.clone())).await;
    assert_eq!(events.len(), 2, "one message per distinct delivery");
    // Both deliveries in one batch, and the same batch again (an SQS redelivery).
    for _ in 0..2 {
        let response = order_import::handler(import.clone(), sqs_event(&events))
            .await
            .unwrap();
        assert!(
            response.batch_item_failures.len() <= 1,
            "{:?}",
            response.batch_item_failures
        );
    }
    let out = drain(&SqsQueue::new(sqs, d.wms_orders.clone())).await;
    assert_eq!(out.len(), 1, "exactly one order.imported");
    let message: serde_json::Value = serde_json::from_str(&out[0].body).unwrap();
    assert_eq!(message["type"], "order.imported");
    assert_eq!(message["v"], 1);
    assert_eq!(message["tenant"], "dev");
    assert_eq!(message["connection"], connection.id.as_str());
    assert_eq!(message["channel"], "shopify");
    assert_eq!(message["channel_order_id"], "5630201856307");
    assert_eq!(message["order_number"], "#1042");
    assert_eq!(message["placed_at"], "2026-11-26T09:15:00Z");
    assert_eq!(message["lines"].as_array().unwrap().len(), 5);
    assert_eq!(message["lines"][0]["sku"], "TS-001");
    assert_eq!(message["lines"][1]["quantity"], 2);
    assert_eq!(message["ship_to"]["country_code"], "IE");
    assert_eq!(message["hold_reasons"], serde_json::json!([]));
}

/// Rejections happen before anything is recorded: bad signature 401, unknown shop 404,
/// non-JSON 400, oversized 413 — and the queue stays empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_webhooks_leave_nothing_behind_on_aws() {
    use tower::ServiceExt;
    let d = deploy().await;
    let config = &d.config;
    let store = Arc::new(DynamoStore::from_config(config, &d.table));
    let shop = unique("rej") + ".myshopify.com";
    store
        .create(&tests::contract::connection("dev", &shop))
        .await
        .unwrap();
    let queue = SqsQueue::from_config(config, &d.channel_events);
    let vault = Arc::new(SecretsVault::from_config(
        config,
        unique("channel-sync") + "/",
    ));
    let ports = shared::aws::ports_of(store, vault);
    let apps = shared::channels::context::ChannelApps::default().with(
        Channel::Shopify,
        shared::channels::context::AppCredentials::parse(
            Channel::Shopify,
            &shared::ports::Secret::new(format!(r#"{{"client_secret":"{}"}}"#, d.app_secret)),
        )
        .unwrap(),
    );
    let channels =
        shared::channels::registry::Registry::on(&ports, Default::default(), "", apps).unwrap();
    let app = webhooks::app(Arc::new(shared::webhooks::IntakeDeps::new(
        ports.connections.clone(),
        ports.idempotency.clone(),
        Arc::new(queue.clone()),
        channels,
    )));
    let body = order_body();
    let cases = [
        (webhook("shpss_wrong_fake", &shop, "d1", &body), 401),
        (
            webhook(&d.app_secret, "nobody.myshopify.com", "d2", &body),
            404,
        ),
        (webhook(&d.app_secret, &shop, "d3", b"not json"), 400),
        (
            webhook(&d.app_secret, &shop, "d4", &vec![b' '; 600 * 1024]),
            413,
        ),
    ];
    for (request, status) in cases {
        assert_eq!(app.clone().oneshot(request).await.unwrap().status(), status);
    }
    assert!(drain(&queue).await.is_empty());
}

/// GIVEN the inventory engine on DynamoDB, SQS FIFO (`inventory-push`) and Secrets Manager
/// (moto) and a Shopify that rate-limits its first call WHEN the WMS sends a bundle and a burst
/// of stock changes, then a Sync now runs in chunks THEN the burst costs one call with the
/// latest quantities (bundle included), and the run reports its progress to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_engine_runs_on_the_aws_adapters() {
    use shared::channels::shopify::oauth::ShopifyCredentials;
    use shared::inventory::channel::Channels;
    use shared::inventory::engine::{self, EngineSettings, LiveTrigger, PushDeps, StockDeps};
    use shared::inventory::runs::{self, RunKind, RunState};
    use shared::ports::Records;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let d = deploy().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "gid://shopify/InventoryAdjustmentGroup/1"}, "userErrors": []}},
            "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}}
        })))
        .mount(&server)
        .await;

    let store = Arc::new(DynamoStore::from_config(&d.config, &d.table));
    let vault = Arc::new(SecretsVault::from_config(
        &d.config,
        unique("channel-sync") + "/",
    ));
    let mut connection = tests::contract::connection("dev", &(unique("inv") + ".myshopify.com"));
    connection.settings.inventory_sync = shared::domain::SyncMode::Live;
    connection.settings.inventory_location = Some("gid://shopify/Location/1".into());
    store.create(&connection).await.unwrap();
    let credentials = ShopifyCredentials::static_token("shpat_fake_aws_engine", "write_inventory");
    vault
        .put(&connection.credentials_name(), &credentials.to_secret())
        .await
        .unwrap();
    let map = format!("skumap#{}", connection.id);
    for (sku, item) in [("TS-001", 1001), ("TS-001-X3", 1003)] {
        let entry = serde_json::json!({"inventory_item_id": format!("gid://shopify/InventoryItem/{item}"),
            "variant_id": "v", "product_id": "p", "tracked": true, "product_status": "active", "generation": 1});
        store.put(&map, sku, 1, &entry).await.unwrap();
    }
    shared::ports::KeyValue::put(
        &*store,
        &format!("products-map#{}", connection.id),
        &serde_json::json!({"generation": 1}),
        None,
    )
    .await
    .unwrap();

    let queue = Arc::new(SqsQueue::from_config(&d.config, &d.inventory_push));
    let settings = EngineSettings {
        window: Duration::from_millis(300),
        full_chunk: 1,
        ..Default::default()
    };
    let stock = Arc::new(StockDeps {
        records: store.clone(),
        live: Arc::new(LiveTrigger {
            connections: store.clone(),
            records: store.clone(),
            push_queue: queue.clone(),
            settings,
        }),
    });
    let apps = shared::channels::context::ChannelApps::default().with(
        Channel::Shopify,
        shared::channels::context::AppCredentials {
            client_id: "fake".into(),
            secrets: vec![shared::ports::Secret::new(tests::fake_secret("shpss"))],
            api_base: Some(server.uri()),
        },
    );
    let registry = shared::channels::registry::Registry::on(
        &shared::aws::ports_of(store.clone(), vault),
        Default::default(),
        "",
        apps,
    )
    .unwrap();
    let push = Arc::new(PushDeps {
        connections: store.clone(),
        records: store.clone(),
        idempotency: store.clone(),
        values: store.clone(),
        channels: Arc::new(Channels {
            registry,
            records: store.clone(),
        }),
        push_queue: queue.clone(),
        products: None,
        settings,
    });

    let wms = |body: serde_json::Value| {
        let stock = stock.clone();
        async move { engine::handle_stock(&stock, serde_json::from_value(body).unwrap()).await }
    };
    wms(
        serde_json::json!({"type": "product.upserted", "tenant": "dev", "sku": "TS-001-X3",
        "name": "Tee 3-pack", "components": [{"sku": "TS-001", "quantity": 3}]}),
    )
    .await;
    for i in 0..10 {
        wms(
            serde_json::json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001",
            "available": 30 - i, "at": format!("2026-11-27T10:00:{i:02}Z")}),
        )
        .await;
    }
    wms(
        serde_json::json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001",
        "available": 12, "at": "2026-11-27T10:00:30Z"}),
    )
    .await;
    // The pusher: one message at a time, as the Lambda's batch size of 1.
    let pusher = || async {
        loop {
            let batch = queue.receive(1, Duration::from_secs(60)).await.unwrap();
            let Some(message) = batch.into_iter().next() else {
                return;
            };
            let outcome = engine::handle_push(push.clone(), message.body).await;
            assert!(
                matches!(outcome, shared::consumers::Disposition::Done(_)),
                "{outcome:?}"
            );
            queue.ack(&message.receipt).await.unwrap();
        }
    };
    pusher().await;
    let bodies: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["variables"]["input"]
                ["quantities"]
                .clone()
        })
        .collect();
    let expected = serde_json::json!([
        {"inventoryItemId": "gid://shopify/InventoryItem/1001", "locationId": "gid://shopify/Location/1", "quantity": 12, "changeFromQuantity": null},
        {"inventoryItemId": "gid://shopify/InventoryItem/1003", "locationId": "gid://shopify/Location/1", "quantity": 4, "changeFromQuantity": null}
    ]);
    // The 429, then its retry: the same single call.
    assert_eq!(bodies, [expected.clone(), expected]);

    let run = engine::start_full(&*store, &*queue, &connection, RunKind::SyncNow, false)
        .await
        .unwrap();
    pusher().await;
    let run = runs::get(&*store, &connection.tenant, &run.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(
        (run.total, run.done, run.pushed, run.calls),
        (Some(2), 2, 2, 2)
    );
    // One chunk per SKU, each by compare-and-set against what the Live push wrote.
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}
