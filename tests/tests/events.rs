//! Every file in `events/` is accepted by its function's handler, wired exactly as the
//! Lambda's `main` wires it (`deps_from_env` on the environment `make lambda-local` gives
//! `cargo lambda watch`), on a moto stack provisioned by the same code. So `cargo lambda
//! invoke FUNCTION --data-file events/FILE` answers for each of them. One test only: it sets
//! the process environment.

use std::sync::Arc;
use tower::ServiceExt;

/// Files in `events/` that are not Lambda events: request bodies other tests sign themselves.
const NOT_EVENTS: [&str; 1] = ["shopify-order-5kb.json"];

/// The function an event file is for, by its name's prefix.
fn function_of(file: &str) -> Option<&'static str> {
    [
        "api",
        "inventory-push",
        "jobs",
        "oauth",
        "order-import",
        "scheduler",
        "tracking-export",
        "webhooks",
    ]
    .into_iter()
    .find(|f| file.starts_with(&format!("{f}-")))
}

async fn http(app: axum::Router, raw: &str) -> (u16, serde_json::Value) {
    let request = lambda_http::request::from_str(raw).expect("an API Gateway event");
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, body)
}

fn sqs(raw: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_str(raw).expect("an SQS event")
}

/// GIVEN a moto stack provisioned as `make lambda-local` does and each function wired from
/// that environment WHEN every file of `events/` is handed to its function THEN each one is
/// answered (HTTP: the status the sample is meant to get, with a JSON body; SQS and scheduler:
/// no invocation error) — and a function missing a variable says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_is_accepted_by_its_function() {
    let endpoint = tests::moto_endpoint();
    let config = tests::moto_config().await;
    let stack = tests::unique("events");
    let env = tests::stack::provision_stack(&config, endpoint, &stack)
        .await
        .unwrap();
    for (name, value) in &env {
        std::env::set_var(name, value);
    }
    let config = shared::aws::load_config().await;

    let webhooks = Arc::new(webhooks::deps_from_env(&config).await.unwrap());
    let (api, admin) = api::deps_from_env(&config).await.unwrap();
    let (api, admin) = (Arc::new(api), Arc::new(admin));
    let oauth = Arc::new(oauth::deps_from_env(&config).await.unwrap());
    let import = Arc::new(order_import::deps_from_env(&config).await.unwrap());
    let scheduler = Arc::new(scheduler::deps_from_env(&config).await.unwrap());
    let tracking = Arc::new(tracking_export::deps_from_env(&config).await.unwrap());
    let push = Arc::new(inventory_push::deps_from_env(&config).await.unwrap());
    let jobs = Arc::new(jobs::deps_from_env(&config).await.unwrap());

    // What each HTTP sample gets on a fresh stack (no connection exists yet).
    let expected_status = |file: &str| -> u16 {
        match file {
            "api-connections-list.json" => 200,
            "oauth-shopify-start.json" => 200,
            // The local stack configures no eBay app (its deletion notices would need eBay's
            // key server): eBay's endpoint is not there, and says so.
            "webhooks-ebay-challenge.json" | "webhooks-ebay-account-deletion.json" => 404,
            "webhooks-woocommerce-ping.json" => 200,
            // Signed correctly, for a shop or connection this fresh stack does not have.
            "webhooks-shopify-orders-create.json"
            | "webhooks-shopify-orders-create-base64.json"
            | "webhooks-woocommerce-order-created.json" => 404,
            "webhooks-tiktok-order-status-change.json" => 404,
            // Its timestamp is old: a live intake refuses it (README, Etsy).
            "webhooks-etsy-order-paid.json" => 401,
            other => panic!("no expected status for {other}: add it here"),
        }
    };

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mut seen_functions = std::collections::BTreeSet::new();
    for file in &files {
        if NOT_EVENTS.contains(&file.as_str()) {
            continue;
        }
        let function = function_of(file)
            .unwrap_or_else(|| panic!("events/{file}: no function is named by its prefix"));
        seen_functions.insert(function);
        let raw = std::fs::read_to_string(dir.join(file)).unwrap();
        match function {
            "webhooks" | "api" | "oauth" => {
                let app = match function {
                    "webhooks" => webhooks::app(webhooks.clone()),
                    "api" => api::app(api.clone(), admin.clone()),
                    _ => oauth::app(oauth.clone()),
                };
                let (status, body) = http(app, &raw).await;
                assert_eq!(status, expected_status(file), "events/{file}: {body}");
                assert!(
                    body.is_object(),
                    "events/{file}: the answer is JSON: {body}"
                );
            }
            "order-import" => {
                order_import::handler(import.clone(), sqs(&raw))
                    .await
                    .unwrap_or_else(|e| panic!("events/{file}: {e}"));
            }
            "tracking-export" => {
                let answer = tracking_export::handler(tracking.clone(), sqs(&raw))
                    .await
                    .unwrap_or_else(|e| panic!("events/{file}: {e}"));
                // The poison message is reported failed (then dead-lettered), never retried
                // as a whole batch.
                assert!(answer.batch_item_failures.len() < 3, "events/{file}");
            }
            "inventory-push" => {
                let answer = inventory_push::handler(push.clone(), sqs(&raw))
                    .await
                    .unwrap_or_else(|e| panic!("events/{file}: {e}"));
                assert!(answer.batch_item_failures.is_empty(), "events/{file}");
            }
            "jobs" => {
                let answer = jobs::handler(jobs.clone(), sqs(&raw))
                    .await
                    .unwrap_or_else(|e| panic!("events/{file}: {e}"));
                assert!(answer.batch_item_failures.is_empty(), "events/{file}");
            }
            "scheduler" => {
                let input: serde_json::Value = serde_json::from_str(&raw).unwrap();
                scheduler::handler(scheduler.clone(), input)
                    .await
                    .unwrap_or_else(|e| panic!("events/{file}: {e}"));
            }
            other => unreachable!("{other}"),
        }
    }
    for function in [
        "api",
        "inventory-push",
        "jobs",
        "oauth",
        "order-import",
        "scheduler",
        "tracking-export",
        "webhooks",
    ] {
        assert!(
            seen_functions.contains(function),
            "events/ has no sample for {function}"
        );
    }

    // A function missing a variable names it (its `main` prints this line and exits).
    std::env::remove_var("CHANNEL_EVENTS_QUEUE_URL");
    let missing = webhooks::deps_from_env(&config).await.err().unwrap();
    assert_eq!(
        missing.to_string(),
        "environment variable CHANNEL_EVENTS_QUEUE_URL is not set"
    );
}
