//! Disconnect and rebind (issue 15, item 7), on the embedded store with a fake Shopify.

use super::*;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::{access_token, connection, reread, save_connection, test_registry};
use crate::channels::OpenError;
use crate::domain::{Channel, TenantId};
use crate::embedded::{EmbeddedStore, EmbeddedVault};
use crate::ports::{Queue, Secret};
use std::sync::Arc;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SHOP: &str = "demo.myshopify.com";

struct World {
    channels: Arc<Registry>,
    server: MockServer,
    /// The WMS's `wms-orders` queue.
    wms: Arc<dyn Queue>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let server = MockServer::start().await;
    let wms = Arc::new(store.queue("wms-orders", None, 5));
    let channels = test_registry(&store, vault, Some(server.uri()));
    World {
        channels,
        server,
        wms,
        _dir: dir,
    }
}

impl World {
    /// Stores Shopify connection `id` of tenant `dev` for [`SHOP`], active, with `credentials`.
    async fn shopify(&self, id: &str, credentials: &Secret) -> Connection {
        let c = connection(id, Channel::Shopify, SHOP, ConnectionStatus::Active);
        save_connection(&self.channels, &c, credentials).await;
        c
    }

    /// Stores WooCommerce connection `id` of tenant `dev` for `shop` with `status` (its
    /// credentials do not matter here).
    async fn woo(&self, id: &str, shop: &str, status: ConnectionStatus) -> Connection {
        let c = connection(id, Channel::Woocommerce, shop, status);
        save_connection(&self.channels, &c, &Secret::new("{}")).await;
        c
    }
}

fn oauth_credentials(token: &str) -> Secret {
    let mut creds = ShopifyCredentials::static_token(token, "read_orders");
    creds.via_oauth = true;
    creds.to_secret()
}

async fn uninstall_answers(server: &MockServer, token: &str, status: u16, times: u64) {
    Mock::given(method("DELETE"))
        .and(path("/admin/api_permissions/current.json"))
        .and(header("X-Shopify-Access-Token", token))
        .respond_with(ResponseTemplate::new(status))
        .expect(times)
        .mount(server)
        .await;
}

/// GIVEN an active Shopify connection installed through our app, with an imported order
/// WHEN its tenant disconnects it THEN the app is uninstalled with its token (once), the
/// credentials are gone, the connection is kept `disconnected` with the order's record, and
/// no job can open its store; asking again answers the same without calling Shopify.
#[tokio::test]
async fn a_disconnect_revokes_deletes_the_credentials_keeps_the_history_and_stops_the_jobs() {
    let w = world().await;
    uninstall_answers(&w.server, "shpat_fake_gone", 200, 1).await;
    let c = w
        .shopify("c_gone", &oauth_credentials("shpat_fake_gone"))
        .await;
    let context = w.channels.context();
    let order_key = crate::keys::order(Channel::Shopify, SHOP, "1001");
    let history = serde_json::json!({"connection": "c_gone"});
    context
        .values
        .put(&order_key, &history, None)
        .await
        .unwrap();

    let done = disconnect(&w.channels, c.clone(), &*w.wms).await.unwrap();
    assert_eq!(done.revoked, Revoked::Revoked);
    assert!(!done.already);
    assert_eq!(done.connection.status, ConnectionStatus::Disconnected);
    assert_eq!(
        context.vault.get(&c.credentials_name()).await.unwrap(),
        None
    );
    let stored = reread(&w.channels, &c).await;
    assert_eq!(stored.status, ConnectionStatus::Disconnected);
    assert_eq!(context.values.get(&order_key).await.unwrap(), Some(history));
    assert!(matches!(
        w.channels.open_store(&stored).await,
        Err(OpenError::NotActive(ConnectionStatus::Disconnected))
    ));

    let again = disconnect(&w.channels, stored, &*w.wms).await.unwrap();
    assert!(again.already);
    assert_eq!(again.revoked, Revoked::NoCredentials);
}

/// GIVEN Shopify is down WHEN the tenant disconnects THEN the connection is still
/// disconnected and its credentials deleted, and the answer says the access could not be
/// revoked (the merchant removes it in the admin).
#[tokio::test]
async fn a_channel_outage_still_deletes_the_credentials_and_says_so() {
    let w = world().await;
    uninstall_answers(&w.server, "shpat_fake_down", 503, 1).await;
    let c = w
        .shopify("c_down", &oauth_credentials("shpat_fake_down"))
        .await;
    let done = disconnect(&w.channels, c.clone(), &*w.wms).await.unwrap();
    assert!(matches!(done.revoked, Revoked::Failed(ref m) if m.contains("store's admin")));
    assert_eq!(done.connection.status, ConnectionStatus::Disconnected);
    let vault = &w.channels.context().vault;
    assert_eq!(vault.get(&c.credentials_name()).await.unwrap(), None);
}

/// GIVEN a copy read before a job wrote the connection WHEN the disconnect writes its status
/// THEN it reads again and disconnects the current copy (no `Stale` surfaces, nothing of the
/// job's write is lost).
#[tokio::test]
async fn a_disconnect_over_a_stale_copy_reads_again() {
    let w = world().await;
    let c = w
        .woo("c_stale", "shop.example", ConnectionStatus::Active)
        .await;
    let connections = &w.channels.context().connections;
    let mut job = c.clone();
    job.settings.safety_buffer = 3;
    connections.update(&job).await.unwrap().stored().unwrap();
    let done = disconnect(&w.channels, c.clone(), &*w.wms).await.unwrap();
    assert_eq!(done.connection.status, ConnectionStatus::Disconnected);
    assert_eq!(done.connection.settings.safety_buffer, 3);
    assert!(matches!(done.revoked, Revoked::NotRevocable(_)));
}

/// GIVEN tenant `dev`'s active shop WHEN tenant `acme` connects it THEN 409; once `dev`
/// disconnected it, `acme`'s connect creates a new connection of its own that the shop routes
/// to, `dev` keeps its disconnected connection (history) without credentials, and `dev` can
/// no longer take the shop back.
#[tokio::test]
async fn a_store_changes_hands_only_after_its_old_tenant_disconnected() {
    let w = world().await;
    let context = w.channels.context();
    let dev = w.shopify("c_dev", &access_token("shpat_fake_dev")).await;
    let acme = TenantId::parse("acme").unwrap();
    let theirs = access_token("shpat_fake_acme");
    let refused = context
        .upsert_connection(&acme, Channel::Shopify, SHOP, &theirs, None, None)
        .await;
    assert!(
        matches!(refused, Err(ConnectError::Conflict(_))),
        "{refused:?}"
    );

    disconnect(&w.channels, dev.clone(), &*w.wms).await.unwrap();
    let (created, new) = context
        .upsert_connection(&acme, Channel::Shopify, SHOP, &theirs, None, None)
        .await
        .unwrap();
    assert!(created);
    assert_ne!(new.id, dev.id);
    assert_eq!(new.tenant, acme);
    assert_eq!(new.status, ConnectionStatus::Active);
    assert_eq!(
        context
            .connections
            .find_by_shop(Channel::Shopify, SHOP)
            .await
            .unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        context.vault.get(&new.credentials_name()).await.unwrap(),
        Some(theirs)
    );
    let kept = reread(&w.channels, &dev).await;
    assert_eq!(kept.status, ConnectionStatus::Disconnected);
    assert_eq!(
        context.vault.get(&dev.credentials_name()).await.unwrap(),
        None
    );

    let back = context
        .upsert_connection(
            &dev.tenant,
            Channel::Shopify,
            SHOP,
            &access_token("shpat_fake_dev2"),
            None,
            None,
        )
        .await;
    assert!(matches!(back, Err(ConnectError::Conflict(_))), "{back:?}");
}

/// GIVEN a shop its tenant disconnected WHEN the same tenant connects it again THEN its own
/// connection is re-activated (same id, so nothing is imported twice), not a new one.
#[tokio::test]
async fn the_same_tenant_reconnecting_gets_its_connection_back() {
    let w = world().await;
    let context = w.channels.context();
    let dev = w.shopify("c_back", &access_token("shpat_fake_a")).await;
    disconnect(&w.channels, dev.clone(), &*w.wms).await.unwrap();
    let (created, again) = context
        .upsert_connection(
            &dev.tenant,
            Channel::Shopify,
            SHOP,
            &access_token("shpat_fake_b"),
            None,
            None,
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, dev.id);
    assert_eq!(again.status, ConnectionStatus::Active);
}

/// A `wms-orders` queue that is down until `up` is set, then sends to `inner`.
struct Flaky {
    inner: Arc<dyn Queue>,
    up: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Queue for Flaky {
    async fn send(&self, message: crate::ports::OutMessage) -> crate::ports::PortResult<()> {
        if !self.up.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::ports::PortError::Unavailable("queue down".into()));
        }
        self.inner.send(message).await
    }
    async fn receive(
        &self,
        max: u32,
        visibility: std::time::Duration,
    ) -> crate::ports::PortResult<Vec<crate::ports::Received>> {
        self.inner.receive(max, visibility).await
    }
    async fn ack(&self, receipt: &str) -> crate::ports::PortResult<()> {
        self.inner.ack(receipt).await
    }
}

/// Every message on the WMS queue, parsed.
async fn wms_messages(wms: &dyn Queue) -> Vec<serde_json::Value> {
    wms.receive(100, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

/// GIVEN an active connection WHEN its tenant disconnects it, twice THEN the WMS gets one
/// `connection.disconnected` (reason `merchant_disconnected`) naming it. WHEN it is
/// reconnected and disconnected again THEN the WMS hears of that second disconnect too (once).
#[tokio::test]
async fn a_disconnect_tells_the_wms_once_per_activation() {
    let w = world().await;
    let c = w
        .woo("c_tell", "shop.example", ConnectionStatus::Active)
        .await;
    let done = disconnect(&w.channels, c.clone(), &*w.wms).await.unwrap();
    disconnect(&w.channels, done.connection, &*w.wms)
        .await
        .unwrap();
    let sent = wms_messages(&*w.wms).await;
    assert_eq!(
        sent,
        [serde_json::json!({
            "type": "connection.disconnected", "v": 1, "tenant": "dev", "connection": "c_tell",
            "channel": "woocommerce", "shop": "shop.example", "reason": MERCHANT_DISCONNECTED,
        })]
    );

    let context = w.channels.context();
    let (created, again) = context
        .upsert_connection(
            &c.tenant,
            Channel::Woocommerce,
            "shop.example",
            &Secret::new("{}"),
            None,
            None,
        )
        .await
        .unwrap();
    assert!(!created);
    assert!(again.activated() > c.activated(), "re-activated");
    disconnect(&w.channels, again.clone(), &*w.wms)
        .await
        .unwrap();
    disconnect(&w.channels, again, &*w.wms).await.unwrap();
    let sent = wms_messages(&*w.wms).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["reason"], MERCHANT_DISCONNECTED);
}

/// GIVEN the WMS queue is down WHEN the tenant disconnects THEN the connection is
/// disconnected and its credentials deleted but the request fails (retry); WHEN it asks again
/// with the queue back THEN the WMS is told, once.
#[tokio::test]
async fn a_disconnect_whose_notice_failed_is_finished_by_asking_again() {
    let w = world().await;
    let flaky = Flaky {
        inner: w.wms.clone(),
        up: std::sync::atomic::AtomicBool::new(false),
    };
    let c = w
        .woo("c_flaky", "flaky.example", ConnectionStatus::Active)
        .await;
    let failed = disconnect(&w.channels, c.clone(), &flaky).await;
    assert!(
        matches!(failed, Err(ConnectError::Unavailable(ref m)) if m.contains("tell the WMS")),
        "{failed:?}"
    );
    let context = w.channels.context();
    let stored = reread(&w.channels, &c).await;
    assert_eq!(stored.status, ConnectionStatus::Disconnected);
    assert_eq!(
        context.vault.get(&c.credentials_name()).await.unwrap(),
        None
    );
    assert!(wms_messages(&*w.wms).await.is_empty());

    flaky.up.store(true, std::sync::atomic::Ordering::SeqCst);
    let done = disconnect(&w.channels, stored.clone(), &flaky)
        .await
        .unwrap();
    assert!(done.already);
    disconnect(&w.channels, stored, &flaky).await.unwrap();
    let sent = wms_messages(&*w.wms).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["connection"], "c_flaky");
}

/// GIVEN a store whose uninstall already told the WMS (the uninstall consumer completes the
/// same notice key) WHEN its tenant then disconnects it THEN the WMS is not told again.
#[tokio::test]
async fn a_disconnect_after_an_uninstall_does_not_tell_the_wms_twice() {
    let w = world().await;
    let c = w
        .woo(
            "c_gone_before",
            "gone.example",
            ConnectionStatus::Disconnected,
        )
        .await;
    let key = crate::keys::disconnected_notice(&c.id, c.activated().timestamp_millis());
    // As the uninstall consumer leaves it: claimed and finished.
    let locks = &w.channels.context().locks;
    let lease = std::time::Duration::from_secs(60);
    let crate::ports::Claim::Acquired(fence) = locks.claim(&key, lease).await.unwrap() else {
        panic!("the notice is free")
    };
    assert!(locks
        .finish(
            &key,
            &fence,
            &serde_json::json!({"reason": "app_uninstalled"}),
            None,
        )
        .await
        .unwrap());
    let done = disconnect(&w.channels, c, &*w.wms).await.unwrap();
    assert!(done.already);
    assert!(wms_messages(&*w.wms).await.is_empty());
}
