//! The demo's seven simulated stores and the `serve` configuration that points at them.

use super::*;

/// The seven simulated stores.
pub(super) struct Stores {
    pub(super) shopify: MockServer,
    pub(super) shopify_orders: shopify::OrderBook,
    pub(super) woo: MockServer,
    pub(super) woo_orders: woocommerce::Orders,
    pub(super) magento: MockServer,
    pub(super) magento_orders: magento::Orders,
    pub(super) tiktok: MockServer,
    pub(super) tiktok_app: tiktok::App,
    pub(super) tiktok_orders: tiktok::Orders,
    pub(super) etsy: MockServer,
    pub(super) etsy_receipts: etsy::Receipts,
    pub(super) ebay: MockServer,
    pub(super) ebay_orders: ebay::Orders,
    pub(super) ebay_signer: ebay::Signer,
    pub(super) veeqo: MockServer,
    pub(super) veeqo_account: veeqo::FakeVeeqo,
}

pub(super) async fn start_stores() -> Stores {
    let shopify = MockServer::start().await;
    let shopify_orders = shopify::OrderBook::default();
    for mock in [
        shopify::shop_check(SHOP, SHOPIFY_TOKEN, "Demo Shopify"),
        shopify::one_location(),
        shopify::variants(
            SHOPIFY_TOKEN,
            vec![shopify::variant(1, SKU), shopify::variant(3, BUNDLE)],
        ),
        shopify::set_available(SHOPIFY_TOKEN),
        shopify::no_updated_orders(SHOPIFY_TOKEN),
        shopify::fulfillment_orders(shopify_orders.clone()),
        shopify::no_fulfillments(),
        shopify::fulfillment_create(),
        shopify::refuse_the_rest(),
    ] {
        mock.mount(&shopify).await;
    }
    let woo = MockServer::start().await;
    let woo_orders = woocommerce::Orders::default();
    woocommerce::mount(
        &woo,
        vec![
            woocommerce::product(10, SKU, 0),
            woocommerce::product(11, BUNDLE, 0),
        ],
        woo_orders.clone(),
    )
    .await;
    let magento = MockServer::start().await;
    let magento_orders = magento::Orders::default();
    magento::mount(
        &magento,
        vec![magento::product(5, SKU), magento::product(6, BUNDLE)],
        magento_orders.clone(),
    )
    .await;
    let tiktok = MockServer::start().await;
    let tiktok_app = tiktok::App {
        key: TIKTOK_KEY.into(),
        secret: TIKTOK_SECRET.into(),
        token: TIKTOK_TOKEN.into(),
    };
    let tiktok_orders = tiktok::Orders::default();
    tiktok::mount(
        &tiktok,
        &tiktok_app,
        "demo_fake_code",
        TIKTOK_SHOP,
        tiktok_orders.clone(),
        &[SKU, BUNDLE],
    )
    .await;
    let etsy = MockServer::start().await;
    let etsy_receipts = etsy::Receipts::default();
    etsy::mount(
        &etsy,
        &format!("{ETSY_KEYSTRING}:{ETSY_SHARED}"),
        ETSY_ACCESS,
        ETSY_SHOP,
        etsy_receipts.clone(),
        &[SKU, BUNDLE],
    )
    .await;
    let ebay = MockServer::start().await;
    let ebay_orders = ebay::Orders::default();
    let ebay_signer = ebay::Signer::new("demo-kid-1");
    ebay::mount(
        &ebay,
        EBAY_BASIC,
        EBAY_USER,
        EBAY_APP,
        EBAY_SELLER,
        EBAY_VERIFICATION,
        &ebay_signer,
        ebay_orders.clone(),
        &[SKU, BUNDLE],
    )
    .await;
    let veeqo = MockServer::start().await;
    let veeqo_account = veeqo::FakeVeeqo::new(veeqo::Account {
        key: VEEQO_KEY.into(),
        // Veeqo's own shape: 5 requests a second, a bucket of 100.
        rate: 5.0,
        bucket: 100.0,
        warehouses: vec![(VEEQO_WAREHOUSE, "Amazon location".into())],
        products: vec![
            veeqo::product(1, SKU, VEEQO_WAREHOUSE),
            veeqo::product(2, BUNDLE, VEEQO_WAREHOUSE),
        ],
        allocated: 0,
    });
    veeqo::mount(&veeqo, &veeqo_account).await;
    Stores {
        shopify,
        shopify_orders,
        woo,
        woo_orders,
        magento,
        magento_orders,
        tiktok,
        tiktok_app,
        tiktok_orders,
        etsy,
        etsy_receipts,
        ebay,
        ebay_orders,
        ebay_signer,
        veeqo,
        veeqo_account,
    }
}

/// The adapters' settings that come from the environment, pointed at the fakes. Set before
/// `serve` builds its registry (which reads them once).
pub(super) fn set_channel_env(stores: &Stores) {
    for (name, value) in [
        ("TIKTOK_SERVICE_ID", "7234567890".to_owned()),
        ("TIKTOK_AUTH_BASE", stores.tiktok.uri()),
        ("ETSY_WEBHOOK_SECRET", ETSY_WHSEC.to_owned()),
        (
            "ETSY_AUTHORIZE_URL",
            format!("{}/oauth/connect", stores.etsy.uri()),
        ),
        ("EBAY_RUNAME", "Demo_Co-DemoApp-PRD-runame".to_owned()),
        ("EBAY_VERIFICATION_TOKEN", EBAY_VERIFICATION.to_owned()),
        ("VEEQO_RATE_LIMIT", "5/100".to_owned()),
    ] {
        std::env::set_var(name, value);
    }
    for name in [
        "ETSY_PREVIOUS_WEBHOOK_SECRET",
        "TIKTOK_AUTHORIZE_URL",
        "TIKTOK_US_AUTHORIZE_URL",
    ] {
        std::env::remove_var(name);
    }
}

/// The `serve` configuration of the demo: everything on loopback, data in `data`.
pub(super) fn config(
    addr: std::net::SocketAddr,
    data: &std::path::Path,
    token: &str,
    stores: &Stores,
) -> crate::Config {
    let public_url = format!("http://{addr}");
    let app = |id: &str, secret: &str, server: &MockServer| AppCredentials {
        client_id: id.into(),
        secrets: if secret.is_empty() {
            vec![]
        } else {
            vec![Secret::new(secret)]
        },
        api_base: Some(server.uri()),
    };
    let apps = ChannelApps::default()
        .with(
            Channel::Shopify,
            app("demo-client-id", SHOPIFY_APP_SECRET, &stores.shopify),
        )
        .with(
            Channel::Tiktok,
            app(TIKTOK_KEY, TIKTOK_SECRET, &stores.tiktok),
        )
        .with(
            Channel::Etsy,
            app(ETSY_KEYSTRING, ETSY_SHARED, &stores.etsy),
        )
        .with(Channel::Ebay, app(EBAY_ID, EBAY_SECRET, &stores.ebay))
        // Veeqo connects with an API key: no app, only its host.
        .with(Channel::Veeqo, app("", "", &stores.veeqo));
    crate::Config {
        addr: addr.to_string(),
        data_dir: data.to_path_buf(),
        dev_token: Some(Secret::new(token)),
        admin_token: None,
        apps,
        dashboard_url: format!("{public_url}/integrations"),
        public_url,
        // The poll is Magento's and Veeqo's only order intake: every few seconds here.
        reconcile_every: Some(Duration::from_secs(3)),
        daily_push_at: (3, 0),
        job_workers: shared::jobs::pool::DEFAULT_WORKERS,
        engine: shared::inventory::engine::EngineSettings {
            window: Duration::from_millis(300),
            ..Default::default()
        },
        // The one documented switch for loopback stores (tests and local demos).
        url_policy: shared::channels::store_url::UrlPolicy {
            allow_private: true,
        },
    }
}
