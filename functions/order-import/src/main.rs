//! The `order-import` Lambda: SQS `channel-events` → `order.imported` on `wms-orders`.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = Arc::new(shared::aws::lambda_env::or_exit(
        "order-import",
        order_import::deps_from_env(&config).await,
    ));
    shared::aws::warm_up(&config, "order-import").await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        order_import::handler(deps.clone(), event.payload)
    }))
    .await
}
