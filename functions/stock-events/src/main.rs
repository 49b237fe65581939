//! The `stock-events` Lambda: SQS `stock-events` → the inventory engine's stock snapshot.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = Arc::new(stock_events::deps_from_env(&config)?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        stock_events::handler(deps.clone(), event.payload)
    }))
    .await
}
