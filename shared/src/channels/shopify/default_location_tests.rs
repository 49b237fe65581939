//! The shop's only active location is read once and kept as the connection's
//! `inventory_location`; several active locations are never guessed.

use crate::channels::inventory::{ItemResult, PushError, PushItem};
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::{mount_locations, shopify_fixture, ShopifyFixture};
use crate::domain::{Channel, Connection, ConnectionStatus, Sku};
use crate::ports::Connections;
use serde_json::json;
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn reads(requests: &[Request], operation: &str) -> Vec<serde_json::Value> {
    requests
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains(operation))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn item() -> PushItem {
    PushItem {
        sku: Sku::parse("MUG").unwrap(),
        item: "gid://shopify/InventoryItem/9".into(),
        quantity: 4,
        change_from: None,
    }
}

async fn fixture(server: &MockServer, dir: &std::path::Path) -> ShopifyFixture {
    Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncSetAvailable"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "gid://shopify/InventoryAdjustmentGroup/1"},
                "userErrors": []}}})))
        .mount(server)
        .await;
    let credentials = ShopifyCredentials::static_token("shpat_fake_loc", "");
    shopify_fixture(
        dir,
        "c_loc",
        ConnectionStatus::Active,
        &credentials,
        server.uri(),
    )
    .await
}

async fn reread(f: &ShopifyFixture) -> Connection {
    f.store
        .get(&f.connection.tenant, &f.connection.id)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_push_without_an_inventory_location_reads_the_locations_once_and_keeps_the_only_one() {
    let server = MockServer::start().await;
    mount_locations(&server, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(&server, dir.path()).await;
    let adapter = f.channels.adapter(Channel::Shopify).unwrap();
    for _ in 0..3 {
        // As every push does: the connection as stored now.
        let connection = reread(&f).await;
        let inventory = adapter.open_inventory(&connection).await.unwrap();
        let results = inventory.push("ref", "key", &[item()]).await.unwrap();
        assert_eq!(results, [ItemResult::Set]);
    }
    let requests = server.received_requests().await.unwrap();
    assert_eq!(reads(&requests, "ChannelSyncLocations").len(), 1);
    let sets = reads(&requests, "ChannelSyncSetAvailable");
    assert_eq!(sets.len(), 3);
    for set in sets {
        assert_eq!(
            set["variables"]["input"]["quantities"][0]["locationId"],
            "gid://shopify/Location/1"
        );
    }
    let kept = reread(&f).await;
    assert_eq!(
        kept.settings.inventory_location.as_deref(),
        Some("gid://shopify/Location/1")
    );
    // Orders stay on the rule of the shop's locations (read again per order).
    assert_eq!(kept.settings.fulfilment_location, None);
}

#[tokio::test]
async fn a_merchants_choice_made_meanwhile_is_not_overwritten() {
    let server = MockServer::start().await;
    mount_locations(&server, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(&server, dir.path()).await;
    let opened_with = reread(&f).await;
    // The merchant chooses location 7 after the push read its copy.
    let mut chosen = opened_with.clone();
    chosen.settings.inventory_location = Some("gid://shopify/Location/7".into());
    f.store.update(&chosen).await.unwrap().stored().unwrap();
    let adapter = f.channels.adapter(Channel::Shopify).unwrap();
    adapter.open_inventory(&opened_with).await.unwrap();
    assert_eq!(
        reread(&f).await.settings.inventory_location.as_deref(),
        Some("gid://shopify/Location/7")
    );
}

#[tokio::test]
async fn several_active_locations_are_never_guessed_nor_kept() {
    let server = MockServer::start().await;
    mount_locations(&server, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(&server, dir.path()).await;
    let adapter = f.channels.adapter(Channel::Shopify).unwrap();
    for _ in 0..2 {
        let connection = reread(&f).await;
        match adapter.open_inventory(&connection).await {
            Err(PushError::Setup(why)) => {
                assert!(why.contains("no inventory location is set"), "{why}");
                assert!(why.contains("2 active locations"), "{why}");
            }
            Err(other) => panic!("expected a setup error, got {other:?}"),
            Ok(_) => panic!("expected a setup error, got an inventory writer"),
        }
    }
    let requests = server.received_requests().await.unwrap();
    // Not kept: each attempt asks again (the merchant may have removed one meanwhile).
    assert_eq!(reads(&requests, "ChannelSyncLocations").len(), 2);
    assert!(reads(&requests, "ChannelSyncSetAvailable").is_empty());
    assert_eq!(reread(&f).await.settings.inventory_location, None);
}
