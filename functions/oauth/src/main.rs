//! The `oauth` Lambda: Shopify install (start, App Store install, callback, claim).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let deps = shared::aws::lambda_env::or_exit("oauth", oauth::deps_from_env(&config).await);
    shared::aws::warm_up(&config, "oauth").await;
    lambda_http::run(oauth::app(Arc::new(deps))).await
}
