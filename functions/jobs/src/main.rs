//! The `jobs` Lambda: SQS `jobs` → one connection's scheduled job per message.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = Arc::new(shared::aws::lambda_env::or_exit(
        "jobs",
        jobs::deps_from_env(&config).await,
    ));
    shared::aws::warm_up(&config, "jobs").await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        jobs::handler(deps.clone(), event.payload)
    }))
    .await
}
