//! Test fixtures shared by the job and consumer tests: an embedded store holding one
//! Shopify connection with credentials, and token handling pointed at a fake Shopify.

use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::shopify::tokens::ShopifyTokens;
use crate::channels::shopify::ShopifyClient;
use crate::channels::store_url::UrlPolicy;
use crate::channels::stores::Stores;
use crate::domain::{Channel, Connection, ConnectionId, ConnectionStatus, TenantId};
use crate::embedded::{EmbeddedStore, EmbeddedVault};
use crate::ports::{Connections, Secret, Vault};
use std::path::Path;
use std::sync::Arc;

/// One stored Shopify connection and what reaches it.
pub(crate) struct ShopifyFixture {
    pub store: EmbeddedStore,
    pub vault: Arc<EmbeddedVault>,
    pub connection: Connection,
    pub tokens: Arc<ShopifyTokens>,
    /// Opens stores through `tokens` (and a loopback-allowed client for self-hosted stores).
    pub stores: Arc<Stores>,
}

/// [`Stores`] for tests: Shopify through `tokens`, self-hosted stores on loopback allowed.
pub(crate) fn test_stores(tokens: Arc<ShopifyTokens>) -> Arc<Stores> {
    Arc::new(Stores::new(
        tokens,
        UrlPolicy {
            allow_private: true,
        },
    ))
}

/// Stores connection `id` of tenant `dev` for `demo.myshopify.com` (created
/// 2026-11-27T09:00:00Z) with `credentials`, and token handling calling `api_base`.
pub(crate) async fn shopify_fixture(
    dir: &Path,
    id: &str,
    status: ConnectionStatus,
    credentials: &ShopifyCredentials,
    api_base: String,
) -> ShopifyFixture {
    let store = EmbeddedStore::open(dir).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir).unwrap());
    let created = "2026-11-27T09:00:00Z".parse().unwrap();
    let connection = Connection {
        id: ConnectionId::parse(id).unwrap(),
        tenant: TenantId::parse("dev").unwrap(),
        channel: Channel::Shopify,
        shop: "demo.myshopify.com".into(),
        display_name: None,
        status,
        settings: Default::default(),
        created_at: created,
        updated_at: created,
    };
    store.create(&connection).await.unwrap();
    vault
        .put(&connection.credentials_name(), &credentials.to_secret())
        .await
        .unwrap();
    let tokens = Arc::new(ShopifyTokens {
        client: ShopifyClient::new(Some(api_base)).unwrap(),
        client_id: "cid".into(),
        client_secret: Secret::new("shpss_fake"),
        vault: vault.clone(),
        connections: Arc::new(store.clone()),
        locks: Arc::new(store.clone()),
    });
    let stores = test_stores(tokens.clone());
    ShopifyFixture {
        store,
        vault,
        connection,
        tokens,
        stores,
    }
}

/// Stores a WooCommerce connection like `like` (tenant, status, dates) with id `id` for
/// `shop`, and its credentials: the store at `store_url`, webhook secret `webhook_secret`.
pub(crate) async fn woo_connection(
    stores: &Stores,
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
    stores.connections.create(&woo).await.unwrap();
    let creds = crate::channels::woocommerce::WooCredentials {
        store_url,
        consumer_key: "ck_fake".into(),
        consumer_secret: "cs_fake".into(),
        webhook_secret: webhook_secret.into(),
    };
    stores
        .vault
        .put(&woo.credentials_name(), &creds.to_secret())
        .await
        .unwrap();
    woo
}
