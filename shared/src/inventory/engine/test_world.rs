//! The engine's test world, shared by `tests.rs` and `chaos_tests.rs`: one Active Shopify
//! connection `c_inv` (location 1, the given sync mode) on an embedded store, wired to a fake
//! Shopify at `api_base`, with the stock consumer's and the pusher's dependencies built as
//! `serve` builds them, and the SKU map a complete product import would leave.

use super::*;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
use crate::embedded::EmbeddedStore;
use crate::inventory::channel::Channels;
use serde_json::json;

/// The connection `c_inv`, stored; the consumers' dependencies; the data directory.
pub(super) struct EngineWorld {
    pub store: EmbeddedStore,
    pub connection: Connection,
    pub stock: Arc<StockDeps>,
    pub push: Arc<PushDeps>,
    pub dir: tempfile::TempDir,
}

/// `c_inv` connected with `access_token` to the fake Shopify at `api_base`, pushing to
/// `gid://shopify/Location/1` in `mode`, with the engine run by `settings`.
pub(super) async fn engine_world(
    api_base: String,
    access_token: &str,
    mode: SyncMode,
    settings: EngineSettings,
) -> EngineWorld {
    let dir = tempfile::tempdir().unwrap();
    let credentials = ShopifyCredentials::static_token(access_token, "write_inventory");
    let ShopifyFixture {
        store,
        mut connection,
        channels,
        ..
    } = shopify_fixture(
        dir.path(),
        "c_inv",
        ConnectionStatus::Active,
        &credentials,
        api_base,
    )
    .await;
    connection.settings.inventory_sync = mode;
    connection.settings.inventory_location = Some("gid://shopify/Location/1".into());
    store.update(&connection).await.unwrap().stored().unwrap();
    let live = embedded_live_trigger(&store, settings);
    EngineWorld {
        stock: Arc::new(StockDeps {
            records: Arc::new(store.clone()),
            live: live.clone(),
        }),
        push: Arc::new(PushDeps {
            connections: Arc::new(store.clone()),
            records: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            values: Arc::new(store.clone()),
            channels: Arc::new(Channels {
                registry: channels,
                records: Arc::new(store.clone()),
            }),
            push_queue: live.push_queue.clone(),
            products: None,
            settings,
        }),
        store,
        connection,
        dir,
    }
}

/// Maps each SKU to its inventory item number (variant of the same number, product 1,
/// tracked, active) for `c_inv`, and marks the map complete, as a product import would.
pub(super) async fn map_skus(store: &EmbeddedStore, skus: &[(String, u32)]) {
    for (sku, item) in skus {
        let entry = SkuMapEntry {
            inventory_item_id: format!("gid://shopify/InventoryItem/{item}"),
            variant_id: format!("gid://shopify/ProductVariant/{item}"),
            product_id: "gid://shopify/Product/1".into(),
            tracked: true,
            product_status: "active".into(),
            generation: 1,
        };
        store
            .put(
                "skumap#c_inv",
                sku,
                1,
                &serde_json::to_value(entry).unwrap(),
            )
            .await
            .unwrap();
    }
    crate::ports::KeyValue::put(store, "products-map#c_inv", &json!({"generation": 1}), None)
        .await
        .unwrap();
}
