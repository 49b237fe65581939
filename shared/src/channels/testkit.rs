//! Test fixtures shared by the job, consumer and channel contract tests: stored connections
//! of any channel with their credentials, an embedded store holding one Shopify connection,
//! and the channel registry pointed at a fake Shopify.

use crate::channels::context::{AppCredentials, ChannelApps, ChannelContext};
use crate::channels::registry::Registry;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::store_url::UrlPolicy;
use crate::domain::{Channel, Connection, ConnectionId, ConnectionStatus};
use crate::embedded::{EmbeddedStore, EmbeddedVault};
use crate::ports::Secret;
use std::path::Path;
use std::sync::Arc;

/// One stored Shopify connection and what reaches it.
pub(crate) struct ShopifyFixture {
    pub store: EmbeddedStore,
    pub vault: Arc<EmbeddedVault>,
    pub connection: Connection,
    /// Every channel, Shopify's API at the fake (self-hosted stores on loopback allowed).
    pub channels: Arc<Registry>,
}

/// The registry for tests: Shopify's, Veeqo's, Etsy's, TikTok Shop's and eBay's APIs at `shopify_api_base` with fake apps, self-hosted
/// stores on loopback allowed, public URL `https://sync.example`.
pub(crate) fn test_registry(
    store: &EmbeddedStore,
    vault: Arc<EmbeddedVault>,
    shopify_api_base: Option<String>,
) -> Arc<Registry> {
    let apps = ChannelApps::default()
        .with(
            Channel::Shopify,
            AppCredentials {
                client_id: "cid".into(),
                secrets: vec![Secret::new("shpss_fake")],
                api_base: shopify_api_base.clone(),
            },
        )
        // Veeqo's API at the same fake (its paths do not overlap Shopify's).
        .with(
            Channel::Veeqo,
            AppCredentials {
                client_id: "veeqo-cid-fake".into(),
                secrets: vec![Secret::new("veeqo-secret-fake")],
                api_base: shopify_api_base.clone(),
            },
        )
        .with(
            Channel::Etsy,
            AppCredentials {
                client_id: "ks_fake".into(),
                secrets: vec![Secret::new("ss_fake")],
                api_base: shopify_api_base.clone(),
            },
        )
        // TikTok Shop's API at the same fake (its contract fake answers there).
        .with(
            Channel::Tiktok,
            crate::channels::tiktok::fake_api::test_app(shopify_api_base.clone()),
        )
        .with(
            Channel::Ebay,
            AppCredentials {
                client_id: "ebay-cid-fake".into(),
                secrets: vec![Secret::new("ebay-secret-fake")],
                api_base: shopify_api_base,
            },
        );
    let context = ChannelContext::new(
        &crate::embedded::ports_of(store, vault),
        UrlPolicy {
            allow_private: true,
        },
        "https://sync.example",
        apps,
    );
    Arc::new(Registry::new(context).unwrap())
}

/// Connection `id` of tenant `dev` for `shop` on `channel`, created 2026-11-27T09:00:00Z,
/// default settings. Not stored: see [`save_connection`].
pub(crate) fn connection(
    id: &str,
    channel: Channel,
    shop: &str,
    status: ConnectionStatus,
) -> Connection {
    let created = "2026-11-27T09:00:00Z".parse().unwrap();
    Connection {
        status,
        created_at: created,
        updated_at: created,
        ..Connection::fixture(id, channel, shop)
    }
}

/// Stores `connection` and its `credentials` where `channels` reads them.
pub(crate) async fn save_connection(
    channels: &Registry,
    connection: &Connection,
    credentials: &Secret,
) {
    channels
        .context()
        .connections
        .create(connection)
        .await
        .unwrap();
    channels
        .context()
        .vault
        .put(&connection.credentials_name(), credentials)
        .await
        .unwrap();
}

/// Stores connection `id` of tenant `dev` for `demo.myshopify.com` (see [`connection`]) with
/// `credentials`, and token handling calling `api_base`.
pub(crate) async fn shopify_fixture(
    dir: &Path,
    id: &str,
    status: ConnectionStatus,
    credentials: &ShopifyCredentials,
    api_base: String,
) -> ShopifyFixture {
    let store = EmbeddedStore::open(dir).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir).unwrap());
    let connection = connection(id, Channel::Shopify, "demo.myshopify.com", status);
    let channels = test_registry(&store, vault.clone(), Some(api_base));
    save_connection(&channels, &connection, &credentials.to_secret()).await;
    ShopifyFixture {
        store,
        vault,
        connection,
        channels,
    }
}

/// Stores a WooCommerce connection like `like` (tenant, status, dates) with id `id` for
/// `shop`, and its credentials: the store at `store_url`, webhook secret `webhook_secret`.
pub(crate) async fn woo_connection(
    channels: &Registry,
    like: &Connection,
    id: &str,
    shop: &str,
    store_url: String,
    webhook_secret: &str,
) -> Connection {
    let mut woo = like.clone();
    woo.id = ConnectionId::parse(id).unwrap();
    woo.channel = Channel::Woocommerce;
    woo.shop = shop.into();
    let creds = crate::channels::woocommerce::WooCredentials {
        store_url,
        consumer_key: "ck_fake".into(),
        consumer_secret: "cs_fake".into(),
        webhook_secret: webhook_secret.into(),
    };
    save_connection(channels, &woo, &creds.to_secret()).await;
    woo
}

/// Answers Shopify's locations query on `server` with `count` active locations
/// (`gid://shopify/Location/1`…), ahead of any catch-all: with one, every order is the
/// connection's (import by assignment without a fulfilment location set).
pub(crate) async fn mount_locations(server: &wiremock::MockServer, count: u32) {
    use wiremock::matchers::{body_string_contains, method};
    let nodes: Vec<serde_json::Value> = (1..=count)
        .map(|n| {
            serde_json::json!({"id": format!("gid://shopify/Location/{n}"), "name": format!("Location {n}"),
                "isActive": true, "fulfillsOnlineOrders": true})
        })
        .collect();
    wiremock::Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncLocations"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {"locations": {"nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}}}
        })))
        .with_priority(1)
        .named("the shop's locations")
        .mount(server)
        .await;
}

/// Credentials holding just an access token, `{"access_token": token}` (a Shopify custom
/// app's or a static token's shape).
pub(crate) fn access_token(token: &str) -> Secret {
    Secret::new(serde_json::json!({ "access_token": token }).to_string())
}

/// Stores connection `id` of tenant `dev` (see [`connection`]) with `credentials`; returns it.
pub(crate) async fn saved_connection(
    channels: &Registry,
    id: &str,
    channel: Channel,
    shop: &str,
    status: ConnectionStatus,
    credentials: &Secret,
) -> Connection {
    let connection = connection(id, channel, shop, status);
    save_connection(channels, &connection, credentials).await;
    connection
}

/// `connection` as it is stored now (it must be stored).
pub(crate) async fn reread(channels: &Registry, connection: &Connection) -> Connection {
    channels
        .context()
        .connections
        .get(&connection.tenant, &connection.id)
        .await
        .unwrap()
        .expect("the connection is stored")
}
