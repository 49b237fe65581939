//! Wiring of the `api` Lambda.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `SHOPIFY_APP_SECRET_ID` (client id and secret,
//! for token refresh), `INVENTORY_PUSH_QUEUE_URL` (Sync now), optionally `ADMIN_TOKEN_SECRET_ID` (a secret holding the operator's admin
//! token; without it `/api/admin/tenants` answers 404) and `SHOPIFY_API_BASE`.

use shared::api::ApiDeps;
use shared::aws::lambda_env::{
    env, env_opt, read_secret, shopify_client, shopify_tokens, stores, ConfigError,
    ShopifyAppSecret,
};
use shared::aws::{DynamoStore, SdkConfig, SecretsVault, SqsQueue};
use shared::http::admin::AdminDeps;
use shared::http::inventory_api::InventoryApiDeps;
use shared::http::token_sha256;
use std::sync::Arc;
use std::time::Duration;

/// The management and operator routes.
pub fn app(api: Arc<ApiDeps>, admin: Arc<AdminDeps>) -> axum::Router {
    shared::api::router(api).merge(shared::http::admin::router(admin))
}

/// Everything the routes need, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<(ApiDeps, AdminDeps), ConfigError> {
    let store = Arc::new(DynamoStore::from_config(config, env("TABLE_NAME")?));
    let vault = Arc::new(SecretsVault::from_config(config, env("SECRETS_PREFIX")?));
    let app = ShopifyAppSecret::load(&vault).await?;
    let admin_token_sha256 = match env_opt("ADMIN_TOKEN_SECRET_ID") {
        Some(id) => Some(token_sha256(
            read_secret(&vault, &id).await?.expose().trim(),
        )),
        None => None,
    };
    // A person waits for these answers: don't sit out a long throttle for them.
    let wait = Some(Duration::from_secs(5));
    let tokens = shopify_tokens(store.clone(), vault.clone(), &app, shopify_client(wait)?);
    Ok((
        ApiDeps {
            inventory: Arc::new(InventoryApiDeps {
                connections: store.clone(),
                tenants: store.clone(),
                records: store.clone(),
                idempotency: store.clone(),
                push_queue: Arc::new(SqsQueue::from_config(
                    config,
                    env("INVENTORY_PUSH_QUEUE_URL")?,
                )),
            }),
            connections: store.clone(),
            tenants: store.clone(),
            vault,
            shopify: shopify_client(wait)?,
            stores: stores(tokens),
            public_url: env("CHANNEL_SYNC_PUBLIC_URL")?
                .trim_end_matches('/')
                .to_owned(),
        },
        AdminDeps {
            tenants: store,
            admin_token_sha256,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::channels::shopify::tokens::ShopifyTokens;
    use shared::channels::shopify::ShopifyClient;
    use shared::channels::stores::Stores;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};
    use shared::ports::{Secret, Tenants};
    use tower::ServiceExt;

    /// The sample event through the Router the Lambda runs: the token resolves to `dev`.
    #[tokio::test]
    async fn sample_list_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let dev = shared::domain::TenantId::parse("dev").unwrap();
        store
            .put_token(&dev, &token_sha256("cs_fake_event_token"))
            .await
            .unwrap();
        let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
        let tokens = Arc::new(ShopifyTokens {
            client: ShopifyClient::new(None).unwrap(),
            client_id: String::new(),
            client_secret: Secret::new(""),
            vault: vault.clone(),
            connections: store.clone(),
            locks: store.clone(),
        });
        let api = ApiDeps {
            inventory: Arc::new(InventoryApiDeps {
                connections: store.clone(),
                tenants: store.clone(),
                records: store.clone(),
                idempotency: store.clone(),
                push_queue: Arc::new(store.queue("inventory-push", None, 5)),
            }),
            connections: store.clone(),
            tenants: store.clone(),
            vault,
            shopify: ShopifyClient::new(None).unwrap(),
            stores: Arc::new(Stores::new(tokens, Default::default())),
            public_url: "https://sync.example".into(),
        };
        let admin = AdminDeps {
            tenants: store,
            admin_token_sha256: None,
        };
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/api-connections-list.json"
        ))
        .unwrap();
        let request = lambda_http::request::from_str(&raw).unwrap();
        let response = app(Arc::new(api), Arc::new(admin))
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body, serde_json::json!({"connections": []}));
    }
}
