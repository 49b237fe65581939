//! The `tracking-export` Lambda: SQS `wms-events` → tracking written back to the channel.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = Arc::new(shared::aws::lambda_env::or_exit(
        "tracking-export",
        tracking_export::deps_from_env(&config).await,
    ));
    shared::aws::warm_up(&config, "tracking-export").await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        tracking_export::handler(deps.clone(), event.payload)
    }))
    .await
}
