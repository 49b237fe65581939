//! The `webhooks` Lambda: API Gateway HTTP API → the webhook Router.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = shared::aws::lambda_env::or_exit("webhooks", webhooks::deps_from_env(&config).await);
    shared::aws::warm_up(&config, "webhooks").await;
    lambda_http::run(webhooks::app(Arc::new(deps))).await
}
