//! Connecting a Shopify store with a custom app's token and API secret key.

use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::test_registry;
use crate::domain::{Channel, TenantId};
use crate::embedded::{EmbeddedStore, EmbeddedVault};
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{body_string_contains, header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The custom app's key given at connect is kept with the token; a new key keeps the one
/// before as the previous (deliveries already signed with it still verify); a reconnect
/// without the field keeps both; an empty value takes them away.
#[tokio::test]
async fn the_custom_app_key_is_stored_rotated_kept_and_removed() {
    let shopify = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", "shpat_fake_key"))
        .and(body_string_contains("ChannelSyncShop"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"shop": {"name": "Keys", "myshopifyDomain": "keys.myshopify.com"}}
        })))
        .mount(&shopify)
        .await;
    // Subscribing fails here (anything else is 401): the connect still goes through.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&shopify)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let channels = test_registry(&store, vault.clone(), Some(shopify.uri()));
    let adapter = channels.adapter(Channel::Shopify).unwrap();
    let tenant = TenantId::parse("dev").unwrap();
    let connect = |key: Option<&str>| {
        let mut form =
            json!({"shop_domain": "keys.myshopify.com", "access_token": "shpat_fake_key"});
        if let Some(key) = key {
            form["api_secret_key"] = json!(key);
        }
        let (adapter, tenant) = (adapter, tenant.clone());
        async move { adapter.connect(&tenant, form, None).await.unwrap() }
    };
    let stored = |connection: crate::domain::Connection| {
        let vault = vault.clone();
        async move {
            let secret = crate::ports::Vault::get(&*vault, &connection.credentials_name())
                .await
                .unwrap()
                .unwrap();
            let creds = ShopifyCredentials::from_secret(&secret).unwrap();
            (creds.api_secret_key, creds.previous_api_secret_key)
        }
    };
    let first = connect(Some(" key-one ")).await;
    assert!(first.created);
    assert!(first.extra["webhooks"]
        .as_str()
        .unwrap()
        .starts_with("not subscribed yet"));
    assert_eq!(
        stored(first.connection).await,
        (Some("key-one".into()), None)
    );
    let rotated = connect(Some("key-two")).await;
    assert!(!rotated.created);
    assert_eq!(
        stored(rotated.connection).await,
        (Some("key-two".into()), Some("key-one".into()))
    );
    let kept = connect(None).await;
    assert_eq!(
        stored(kept.connection).await,
        (Some("key-two".into()), Some("key-one".into()))
    );
    let removed = connect(Some("")).await;
    assert_eq!(
        removed.extra["webhooks"],
        "webhooks off: add the app's API secret key for instant orders"
    );
    assert_eq!(stored(removed.connection).await, (None, None));
    // A key with control characters is refused before anything is stored.
    let bad = adapter
        .connect(
            &tenant,
            json!({"shop_domain": "keys.myshopify.com", "access_token": "shpat_fake_key",
                "api_secret_key": "a\u{7}b"}),
            None,
        )
        .await;
    assert!(matches!(
        bad,
        Err(crate::channels::store::ConnectError::Invalid(_))
    ));
}
