//! Veeqo through the registry: connect with an API key, warehouses as locations, the
//! Inventory Sync Warehouse required before orders or stock.

use super::*;
use crate::channels::registry::Registry;
use crate::channels::store::ConnectError;
use crate::channels::testkit::{connection, save_connection, test_registry};
use crate::channels::OpenError;
use crate::domain::{Channel, ConnectionSettings, ConnectionStatus, TenantId};
use crate::embedded::{EmbeddedStore, EmbeddedVault};

struct World {
    server: MockServer,
    registry: Arc<Registry>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let registry = test_registry(&store, vault, Some(server.uri()));
    World {
        server,
        registry,
        _dir: dir,
    }
}

async fn mount_account(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .and(header("x-api-key", API_KEY))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 21314, "name": "ACME"})),
        )
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/warehouses"))
        .and(header("x-api-key", API_KEY))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 22668, "name": "Amazon location", "deleted_at": null},
            {"id": 99001, "name": "Old", "deleted_at": "2026-01-01T00:00:00Z"}
        ])))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/channels"))
        .and(header("x-api-key", API_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 7, "name": "Amazon UK", "type_code": "amazon", "with_fba": false},
            {"id": 8, "name": "Amazon DE FBA", "type_code": "amazon", "with_fba": true}
        ])))
        .mount(server)
        .await;
}

fn tenant() -> TenantId {
    TenantId::parse("dev".to_owned()).unwrap()
}

#[tokio::test]
async fn an_api_key_connects_after_a_real_read_and_lists_warehouses_and_marketplaces() {
    let w = world().await;
    mount_account(&w.server).await;
    let adapter = w.registry.adapter(Channel::Veeqo).unwrap();
    let connected = adapter
        .connect(&tenant(), json!({"api_key": API_KEY}), None)
        .await
        .unwrap();
    assert!(connected.created);
    assert_eq!(connected.connection.shop, "company-21314");
    assert_eq!(connected.connection.display_name.as_deref(), Some("ACME"));
    assert_eq!(connected.extra["warehouses"][0]["id"], "22668");
    assert_eq!(
        connected.extra["marketplaces"][1]["fulfils_by_amazon"],
        true
    );
    assert!(connected.extra["missing"][0]
        .as_str()
        .unwrap()
        .contains("Inventory Sync Warehouse"));
    let stored = w
        .registry
        .context()
        .vault
        .get(&connected.connection.credentials_name())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(VeeqoCredentials::from_secret(&stored).unwrap(), key());

    let locations = adapter.locations(&connected.connection).await.unwrap();
    let summary: Vec<(&str, bool)> = locations
        .iter()
        .map(|l| (l.id.as_str(), l.active))
        .collect();
    assert_eq!(summary, [("22668", true), ("99001", false)]);
}

#[tokio::test]
async fn a_refused_key_is_a_clear_422_that_mentions_an_unpaid_bill_and_stores_nothing() {
    let w = world().await;
    Mock::given(method("GET"))
        .and(path("/current_company"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error_messages": "Unauthorized"})),
        )
        .expect(1)
        .mount(&w.server)
        .await;
    let adapter = w.registry.adapter(Channel::Veeqo).unwrap();
    let err = adapter
        .connect(&tenant(), json!({"api_key": "revoked-fake"}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectError::WrongCredentials(m) if m.contains("unpaid Veeqo bill")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("revoked-fake"));
    assert!(w
        .registry
        .context()
        .connections
        .find_by_shop(Channel::Veeqo, "company-21314")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_connect_form_refuses_unknown_fields_and_blank_keys_without_a_call() {
    let w = world().await;
    let adapter = w.registry.adapter(Channel::Veeqo).unwrap();
    for form in [
        json!({"api_key": API_KEY, "store_url": "https://x"}),
        json!({"api_key": "  "}),
        json!({}),
    ] {
        let err = adapter
            .connect(&tenant(), form.clone(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Invalid(_)), "{form}: {err:?}");
    }
    assert!(w.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn settings_take_only_an_existing_warehouse_as_inventory_location() {
    let w = world().await;
    mount_account(&w.server).await;
    let adapter = w.registry.adapter(Channel::Veeqo).unwrap();
    let connected = adapter
        .connect(&tenant(), json!({"api_key": API_KEY}), None)
        .await
        .unwrap();
    let c = connected.connection;
    let with = |inventory: Option<&str>, fulfilment: Option<&str>| ConnectionSettings {
        inventory_location: inventory.map(str::to_owned),
        fulfilment_location: fulfilment.map(str::to_owned),
        ..ConnectionSettings::default()
    };
    adapter
        .check_settings(&c, &with(Some("22668"), None), &["22668".into()])
        .await
        .unwrap();
    for (settings, changed, expected) in [
        (with(Some("12345"), None), "12345", "no warehouse 12345"),
        (with(Some("99001"), None), "99001", "deleted"),
        (
            with(None, Some("22668")),
            "22668",
            "leave fulfilment_location unset",
        ),
    ] {
        let err = adapter
            .check_settings(&c, &settings, &[changed.into()])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnectError::Invalid(m) if m.contains(expected)),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn nothing_is_read_or_written_until_the_warehouse_is_chosen() {
    let w = world().await;
    let c = connection(
        "c_veeqo",
        Channel::Veeqo,
        "company-21314",
        ConnectionStatus::Active,
    );
    save_connection(&w.registry, &c, &key().to_secret()).await;
    let adapter = w.registry.adapter(Channel::Veeqo).unwrap();
    let missing = adapter.missing_settings(&c);
    assert_eq!(missing.len(), 1);
    assert!(missing[0].contains("Inventory Sync Warehouse"));
    let mut chosen = c.clone();
    chosen.settings.inventory_location = Some(WAREHOUSE.into());
    assert!(adapter.missing_settings(&chosen).is_empty());
    let store = w.registry.open_store(&c).await.err().unwrap();
    assert!(
        matches!(&store, OpenError::Setup(m) if m.contains("Inventory Sync Warehouse")),
        "{store:?}"
    );
    let inventory = w.registry.open_inventory(&c).await.err().unwrap();
    assert!(
        matches!(&inventory, PushError::Setup(m) if m.contains("Inventory Sync Warehouse")),
        "{inventory:?}"
    );
    assert!(w.server.received_requests().await.unwrap().is_empty());
}
