//! The `inventory-push` Lambda: SQS FIFO `inventory-push` → stock written to the channels.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = Arc::new(shared::aws::lambda_env::or_exit(
        "inventory-push",
        inventory_push::deps_from_env(&config).await,
    ));
    shared::aws::warm_up(&config, "inventory-push").await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        inventory_push::handler(deps.clone(), event.payload)
    }))
    .await
}
