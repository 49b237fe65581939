//! Wiring of the `oauth` Lambda: clients and the app secret are read once per cold start.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `SHOPIFY_APP_SECRET_ID` (JSON
//! `{"client_id", "client_secret", "previous_client_secret"?}`), `CHANNEL_SYNC_PUBLIC_URL`,
//! `CHANNEL_SYNC_DASHBOARD_URL`, and optionally `SHOPIFY_API_BASE`.

use shared::aws::lambda_env::{env, ports_and_channels, shopify_client, ConfigError};
use shared::aws::{SdkConfig, SecretsVault};
use shared::channels::context::AppCredentials;
use shared::domain::Channel;
use shared::http::oauth::{OAuthDeps, ShopifyApp};
use shared::ports::Secret;

pub use shared::http::oauth::router as app;

/// The Shopify app from its Secrets Manager JSON and our URLs.
pub fn shopify_app(
    secret: &Secret,
    public_url: String,
    dashboard_url: String,
) -> Result<ShopifyApp, ConfigError> {
    let parsed = AppCredentials::parse(Channel::Shopify, secret).map_err(ConfigError::Invalid)?;
    if parsed.client_id.is_empty() {
        return Err(ConfigError::Invalid(
            "the Shopify app secret has an empty client_id".into(),
        ));
    }
    for (name, url) in [
        ("CHANNEL_SYNC_PUBLIC_URL", &public_url),
        ("CHANNEL_SYNC_DASHBOARD_URL", &dashboard_url),
    ] {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(ConfigError::Invalid(format!(
                "{name} must be an http(s) URL"
            )));
        }
    }
    Ok(ShopifyApp {
        secrets: parsed.secrets,
        client_id: parsed.client_id,
        public_url,
        dashboard_url,
    })
}

/// Everything the install routes need, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<OAuthDeps, ConfigError> {
    let (ports, channels) = ports_and_channels(config).await?;
    let secret = shared::aws::lambda_env::read_secret(
        &SecretsVault::from_config(config, ""),
        &env("SHOPIFY_APP_SECRET_ID")?,
    )
    .await?;
    let app = shopify_app(
        &secret,
        env("CHANNEL_SYNC_PUBLIC_URL")?,
        env("CHANNEL_SYNC_DASHBOARD_URL")?,
    )?;
    Ok(OAuthDeps {
        connections: ports.connections.clone(),
        tenants: ports.tenants.clone(),
        vault: ports.vault.clone(),
        idempotency: ports.idempotency.clone(),
        shopify: shopify_client(None)?,
        app: Some(app),
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_secret_is_checked_at_cold_start() {
        let urls = || {
            (
                "https://sync.example".to_owned(),
                "https://wms.example/integrations".to_owned(),
            )
        };
        let (p, d) = urls();
        assert!(shopify_app(&Secret::new("nope"), p, d).is_err());
        let (p, d) = urls();
        assert!(shopify_app(
            &Secret::new(r#"{"client_id":"","client_secret":"x"}"#),
            p,
            d
        )
        .is_err());
        let (p, _) = urls();
        assert!(shopify_app(
            &Secret::new(r#"{"client_id":"c","client_secret":"x"}"#),
            p,
            "ftp://x".into()
        )
        .is_err());
        let (p, d) = urls();
        let app = shopify_app(
            &Secret::new(
                r#"{"client_id":"c","client_secret":"new","previous_client_secret":"old"}"#,
            ),
            p,
            d,
        )
        .unwrap();
        assert_eq!(app.secrets.len(), 2);
        assert_eq!(app.client_id, "c");
    }
}

#[cfg(test)]
mod event_tests {
    use super::*;
    use shared::channels::shopify::ShopifyClient;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};
    use shared::ports::Tenants;
    use std::sync::Arc;
    use tower::ServiceExt;

    /// The sample event, through the same Router the Lambda runs.
    #[tokio::test]
    async fn sample_start_event_returns_the_authorize_url() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let dev = shared::domain::TenantId::parse("dev").unwrap();
        store
            .put_token(&dev, &shared::http::token_sha256("cs_fake_event_token"))
            .await
            .unwrap();
        let secret = Secret::new(r#"{"client_id":"fake-client","client_secret":"shpss_fake"}"#);
        let ports =
            shared::embedded::ports_of(&store, Arc::new(EmbeddedVault::open(dir.path()).unwrap()));
        let deps = OAuthDeps {
            connections: ports.connections.clone(),
            tenants: ports.tenants.clone(),
            vault: ports.vault.clone(),
            idempotency: ports.idempotency.clone(),
            channels: shared::channels::registry::Registry::on(
                &ports,
                Default::default(),
                "",
                Default::default(),
            )
            .unwrap(),
            shopify: ShopifyClient::new(None).unwrap(),
            app: Some(
                shopify_app(
                    &secret,
                    "https://sync.example".into(),
                    "https://wms.example/i".into(),
                )
                .unwrap(),
            ),
        };
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/oauth-shopify-start.json"
        ))
        .unwrap();
        let request = lambda_http::request::from_str(&raw).unwrap();
        let response = app(Arc::new(deps)).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = axum_body(response).await;
        let url = body["authorize_url"].as_str().unwrap();
        assert!(url.starts_with("https://demo-shop.myshopify.com/admin/oauth/authorize?client_id=fake-client&scope=read_orders"));
        assert!(
            url.contains("redirect_uri=https%3A%2F%2Fsync.example%2Foauth%2Fshopify%2Fcallback")
        );
    }

    async fn axum_body(response: http::Response<axum::body::Body>) -> serde_json::Value {
        use http_body_util::BodyExt;
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }
}
