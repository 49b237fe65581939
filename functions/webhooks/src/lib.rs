//! Wiring of the `webhooks` Lambda: clients and app secrets are built once per cold start.
//!
//! Environment: `TABLE_NAME`, `CHANNEL_EVENTS_QUEUE_URL`, `{CHANNEL}_APP_SECRET_ID` per channel
//! app (e.g. `SHOPIFY_APP_SECRET_ID`: a Secrets Manager secret, JSON `{"client_id",
//! "client_secret", "previous_client_secret"?}`), `SECRETS_PREFIX` (connection credentials:
//! WooCommerce webhooks are signed with a secret per connection, read on demand and cached
//! for a minute).

use shared::aws::lambda_env::{env, ports_and_channels, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::webhooks::IntakeDeps;
use std::sync::Arc;

/// The Router the Lambda runs: the webhook routes, JSON for anything else.
pub fn app(deps: std::sync::Arc<shared::webhooks::IntakeDeps>) -> axum::Router {
    shared::http::with_json_fallbacks(shared::webhooks::router(deps))
}

/// Everything the intake needs, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<IntakeDeps, ConfigError> {
    let queue_url = env("CHANNEL_EVENTS_QUEUE_URL")?;
    let (ports, channels) = ports_and_channels(config).await?;
    Ok(IntakeDeps::new(
        ports.connections.clone(),
        ports.idempotency.clone(),
        Arc::new(SqsQueue::from_config(config, queue_url)),
        channels,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::channels::context::{AppCredentials, ChannelApps, ChannelContext};
    use shared::domain::Channel;
    use shared::ports::Secret;

    /// The Shopify app from its secret's JSON (as `{CHANNEL}_APP_SECRET_ID` holds it).
    fn shopify_app(app_secret_json: &Secret) -> Result<AppCredentials, String> {
        AppCredentials::parse(Channel::Shopify, app_secret_json)
    }
    use shared::channels::registry::Registry;
    use shared::channels::store_url::UrlPolicy;
    use shared::domain::Connection;
    use shared::embedded::EmbeddedStore;
    use shared::ports::{Connections, Queue};
    use std::time::Duration;
    use tower::ServiceExt;

    /// The obviously fake secret `scripts/make-events.py` signed the sample events with.
    const EVENT_SECRET: &str = "shpss_fake_secret_for_tests_only";

    fn event(name: &str) -> lambda_http::Request {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read_to_string(&path).unwrap();
        lambda_http::request::from_str(&raw).unwrap()
    }

    async fn setup(dir: &std::path::Path) -> (Arc<IntakeDeps>, shared::embedded::EmbeddedQueue) {
        let store = EmbeddedStore::open(dir).unwrap();
        store
            .create(&Connection::fixture(
                "c_demo",
                Channel::Shopify,
                "demo-shop.myshopify.com",
            ))
            .await
            .unwrap();
        let queue = store.queue("channel-events", None, 5);
        let secret = Secret::new(format!(r#"{{"client_secret":"{EVENT_SECRET}"}}"#));
        (intake(dir, &store, &queue, &secret), queue)
    }

    /// The intake on the embedded store, Shopify's app secret from `app_secret_json`.
    fn intake(
        dir: &std::path::Path,
        store: &EmbeddedStore,
        queue: &shared::embedded::EmbeddedQueue,
        app_secret_json: &Secret,
    ) -> Arc<IntakeDeps> {
        let vault = Arc::new(shared::embedded::EmbeddedVault::open(dir).unwrap());
        let ports = shared::embedded::ports_of(store, vault);
        let apps =
            ChannelApps::default().with(Channel::Shopify, shopify_app(app_secret_json).unwrap());
        let context = ChannelContext::new(&ports, UrlPolicy::default(), "", apps);
        Arc::new(IntakeDeps::new(
            ports.connections.clone(),
            ports.idempotency.clone(),
            Arc::new(queue.clone()),
            Arc::new(Registry::new(context).unwrap()),
        ))
    }

    async fn status(deps: &Arc<IntakeDeps>, request: lambda_http::Request) -> u16 {
        app(deps.clone())
            .oneshot(request)
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn sample_event_is_accepted_once_with_its_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (deps, queue) = setup(dir.path()).await;
        assert_eq!(
            status(&deps, event("webhooks-shopify-orders-create.json")).await,
            200
        );
        assert_eq!(
            status(&deps, event("webhooks-shopify-orders-create.json")).await,
            200
        );
        let messages = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(messages.len(), 1, "a repeated delivery is enqueued once");
        let body: serde_json::Value = serde_json::from_str(&messages[0].body).unwrap();
        assert_eq!(body["topic"], "orders/create");
        assert_eq!(body["connection"], "c_demo");
        // The payload's bytes inside the message are the delivery's bytes, escapes and all.
        let original = std::fs::read_to_string(format!(
            "{}/../../events/shopify-order-5kb.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(messages[0].body.contains(&original));
    }

    /// The WooCommerce sample events through the Lambda's Router: the creation ping is
    /// answered 200 with nothing recorded; the signed order, delivered to the connection's own
    /// URL, is verified with that connection's secret from the vault and enqueued once.
    #[tokio::test]
    async fn woocommerce_events_reach_the_connection_route() {
        use shared::channels::woocommerce::WooCredentials;
        use shared::embedded::EmbeddedVault;
        use shared::ports::Vault;
        let dir = tempfile::tempdir().unwrap();
        let (deps, queue) = setup(dir.path()).await;
        let woo = Connection::fixture(
            "c_demo0000000000000woo",
            Channel::Woocommerce,
            "shop.example.com",
        );
        deps.connections.create(&woo).await.unwrap();
        let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
        let creds = WooCredentials {
            store_url: "https://shop.example.com".into(),
            consumer_key: "ck_fake".into(),
            consumer_secret: "cs_fake".into(),
            // What scripts/make-events.py signed the sample with (obviously fake).
            webhook_secret: "wooFakeSecretForTestsOnly0123456789abcd".into(),
        };
        vault
            .put(&woo.credentials_name(), &creds.to_secret())
            .await
            .unwrap();
        assert_eq!(
            status(&deps, event("webhooks-woocommerce-ping.json")).await,
            200
        );
        assert_eq!(queue.depth().await.unwrap(), 0);
        for _ in 0..2 {
            assert_eq!(
                status(&deps, event("webhooks-woocommerce-order-created.json")).await,
                200
            );
        }
        let messages = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(messages.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&messages[0].body).unwrap();
        assert_eq!(
            (
                body["channel"].as_str(),
                body["topic"].as_str(),
                body["shop"].as_str()
            ),
            (
                Some("woocommerce"),
                Some("order.created"),
                Some("shop.example.com")
            )
        );
        assert_eq!(body["payload"]["line_items"][0]["sku"], "TS-001-M");
    }

    #[tokio::test]
    async fn base64_encoded_body_verifies_over_the_decoded_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (deps, queue) = setup(dir.path()).await;
        assert_eq!(
            status(&deps, event("webhooks-shopify-orders-create-base64.json")).await,
            200
        );
        assert_eq!(
            queue
                .receive(10, Duration::from_secs(30))
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn wrong_app_secret_is_401_and_nothing_is_enqueued() {
        let dir = tempfile::tempdir().unwrap();
        let (_, queue) = setup(dir.path()).await;
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let other = Secret::new(r#"{"client_secret":"shpss_some_other_fake"}"#);
        let deps = intake(dir.path(), &store, &queue, &other);
        assert_eq!(
            status(&deps, event("webhooks-shopify-orders-create.json")).await,
            401
        );
        assert_eq!(queue.depth().await.unwrap(), 0);
    }

    #[test]
    fn app_secret_json_is_checked_at_cold_start() {
        assert!(shopify_app(&Secret::new("not json")).is_err());
        assert!(shopify_app(&Secret::new(r#"{"client_secret":""}"#)).is_err());
        let app = shopify_app(&Secret::new(
            r#"{"client_secret":"new","previous_client_secret":"old"}"#,
        ))
        .unwrap();
        let rotated = shared::channels::shopify::ShopifyVerifier::new(&app.secrets);
        let sig = shared::channels::shopify::sign("old", b"{}");
        assert!(rotated.verify(b"{}", &sig).is_ok());
    }

    /// The eBay sample events through the Lambda's Router: the deletion endpoint's challenge
    /// is answered with the hash of code, token and endpoint; the reference's signed deletion
    /// notification (eBay's own vector, its key served by a fake Notification API) is verified
    /// and, for a user we never knew, acknowledged with nothing recorded.
    #[tokio::test]
    async fn ebay_events_answer_the_challenge_and_verify_the_reference_notification() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let ebay = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/identity/v1/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"access_token": "app-token-fake", "expires_in": 7200}),
            ))
            .expect(1)
            .mount(&ebay)
            .await;
        Mock::given(method("GET"))
            .and(path("/commerce/notification/v1/public_key/9936261a-7d7b-4621-a0f1-96ccb428af49"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "key": "-----BEGIN PUBLIC KEY-----MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZhhxXKtR+TOvtDbgTPCkSof02qgBB7IsYOyf76ilExJ/upAa/vKIKheOoCyOpcLmi4t0b4uepb7LLjmMr90FUg==-----END PUBLIC KEY-----",
                "algorithm": "ECDSA", "digest": "SHA1"})))
            .expect(1)
            .mount(&ebay)
            .await;
        std::env::set_var(
            "EBAY_VERIFICATION_TOKEN",
            "fake-verification-token-0123456789abcdef",
        );
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let queue = store.queue("channel-events", None, 5);
        let vault = Arc::new(shared::embedded::EmbeddedVault::open(dir.path()).unwrap());
        let ports = shared::embedded::ports_of(&store, vault);
        let apps = ChannelApps::default().with(
            Channel::Ebay,
            AppCredentials {
                client_id: "ebay-cid-fake".into(),
                secrets: vec![Secret::new("ebay-secret-fake")],
                api_base: Some(ebay.uri()),
            },
        );
        let context =
            ChannelContext::new(&ports, UrlPolicy::default(), "https://sync.example", apps);
        let deps = Arc::new(IntakeDeps::new(
            ports.connections.clone(),
            ports.idempotency.clone(),
            Arc::new(queue.clone()),
            Arc::new(Registry::new(context).unwrap()),
        ));
        let answer = app(deps.clone())
            .oneshot(event("webhooks-ebay-challenge.json"))
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        let body = http_body_util::BodyExt::collect(answer.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["challengeResponse"],
            shared::channels::ebay::notify::challenge_response(
                "a8628072-3d33-45ee-9004-bee86830a22d",
                "fake-verification-token-0123456789abcdef",
                "https://sync.example/webhooks/ebay",
            )
        );
        assert_eq!(
            status(&deps, event("webhooks-ebay-account-deletion.json")).await,
            200
        );
        assert_eq!(
            queue.depth().await.unwrap(),
            0,
            "nothing held about that user"
        );
    }
}
