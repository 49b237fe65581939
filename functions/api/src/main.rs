//! The `api` Lambda: the WMS's management API and the operator's tenant route.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = shared::aws::load_config().await;
    let (api, admin) = shared::aws::lambda_env::or_exit("api", api::deps_from_env(&config).await);
    shared::aws::warm_up(&config, "api").await;
    lambda_http::run(api::app(Arc::new(api), Arc::new(admin))).await
}
