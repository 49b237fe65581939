//! Wiring of the `oauth` Lambda (every OAuth channel's install routes): clients and the
//! channel apps' secrets are read once per cold start.
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `{CHANNEL}_APP_SECRET_ID` per channel app
//! (e.g. `SHOPIFY_APP_SECRET_ID`: JSON `{"client_id", "client_secret",
//! "previous_client_secret"?}`), `CHANNEL_SYNC_PUBLIC_URL`, `CHANNEL_SYNC_DASHBOARD_URL`, and
//! optionally `{CHANNEL}_API_BASE`.

use shared::aws::lambda_env::{env, ports_and_channels, ConfigError};
use shared::aws::SdkConfig;
use shared::http::oauth::OAuthDeps;

/// The Router the Lambda runs: the install routes, JSON for anything else.
pub fn app(deps: std::sync::Arc<shared::http::oauth::OAuthDeps>) -> axum::Router {
    shared::http::with_json_fallbacks(shared::http::oauth::router(deps))
}

/// Our URLs must be http(s): the channels redirect browsers to them.
pub fn check_urls(public_url: &str, dashboard_url: &str) -> Result<(), ConfigError> {
    for (name, url) in [
        ("CHANNEL_SYNC_PUBLIC_URL", public_url),
        ("CHANNEL_SYNC_DASHBOARD_URL", dashboard_url),
    ] {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(ConfigError::Invalid(format!(
                "{name} must be an http(s) URL"
            )));
        }
    }
    Ok(())
}

/// Everything the install routes need, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<OAuthDeps, ConfigError> {
    let dashboard_url = env("CHANNEL_SYNC_DASHBOARD_URL")?;
    check_urls(&env("CHANNEL_SYNC_PUBLIC_URL")?, &dashboard_url)?;
    let (ports, channels) = ports_and_channels(config).await?;
    Ok(OAuthDeps {
        connections: ports.connections.clone(),
        tenants: ports.tenants.clone(),
        vault: ports.vault.clone(),
        idempotency: ports.idempotency.clone(),
        channels,
        dashboard_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_at_cold_start() {
        assert!(check_urls("https://sync.example", "https://wms.example/integrations").is_ok());
        assert!(check_urls("https://sync.example", "ftp://x").is_err());
        assert!(check_urls("sync.example", "https://wms.example").is_err());
    }
}

#[cfg(test)]
mod event_tests {
    use super::*;
    use shared::channels::context::{AppCredentials, ChannelApps};
    use shared::domain::Channel;
    use shared::embedded::{EmbeddedStore, EmbeddedVault};
    use shared::ports::Secret;
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
        let apps = ChannelApps::default().with(
            Channel::Shopify,
            AppCredentials::parse(Channel::Shopify, &secret).unwrap(),
        );
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
                "https://sync.example",
                apps,
            )
            .unwrap(),
            dashboard_url: "https://wms.example/i".into(),
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
