//! The `scheduler` Lambda: EventBridge schedules → one `jobs` message per due connection.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = Arc::new(shared::aws::lambda_env::or_exit(
        "scheduler",
        scheduler::deps_from_env(&config).await,
    ));
    shared::aws::warm_up(&config, "scheduler").await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        scheduler::handler(deps.clone(), event.payload)
    }))
    .await
}
