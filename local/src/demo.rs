//! `channel-sync demo`: the whole product with no store and no configuration. `serve` runs on
//! the embedded store in a temporary data directory, next to one simulated store per channel
//! (the [`crate::fakes`]: Shopify, WooCommerce, Magento 2, TikTok Shop, Etsy, eBay and Veeqo),
//! all on loopback. The demo connects each store through the API as a merchant would (TikTok
//! Shop, Etsy and eBay by their real OAuth start and callback against the fake), then at a
//! steady pace: the stores take orders (Shopify, WooCommerce, TikTok Shop, Etsy and eBay send
//! signed webhooks, Magento and Veeqo are found by the poll), a tiny simulated WMS reads the
//! outbox, dispatches each imported order (tracking flows back to the store) and moves stock of
//! TS-001 up and down (the bundle TS-001-X3 = 3 × TS-001 follows), and Live inventory sync
//! pushes the new quantities to every store. It prints what happens and where to look. Nothing
//! leaves the machine; Ctrl-C stops it and deletes its data.
//!
//! The settings the TikTok Shop, Etsy and eBay adapters read from the environment (auth host,
//! service id, webhook secret, RuName, verification token) are set by [`run`] to the fakes'
//! values before `serve` starts.

use crate::fakes::{self, ebay, etsy, json_of, magento, shopify, tiktok, veeqo, woocommerce};
use serde_json::{json, Value};
use shared::channels::context::{AppCredentials, ChannelApps};
use shared::domain::Channel;
use shared::ports::Secret;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;
use wiremock::MockServer;

const SHOP: &str = "demo-shop.myshopify.com";
/// The simulated stores' credentials: fake by construction, they open nothing real.
const SHOPIFY_TOKEN: &str = "shpat_demo_fake_token";
const SHOPIFY_APP_SECRET: &str = "shpss_demo_fake_app_secret";
const SKU: &str = "TS-001";
/// TikTok Shop's app and the seller token its code exchange gives.
const TIKTOK_KEY: &str = "demo_fake_tts_app_key";
const TIKTOK_SECRET: &str = "demo_fake_tts_app_secret";
const TIKTOK_TOKEN: &str = "demo_fake_tts_access";
const TIKTOK_SHOP: &str = "7495540735365777507";
/// Etsy's app (key string and shared secret), the token its exchange gives, the webhook
/// secret (Standard Webhooks `whsec_` + base64) and the shop.
const ETSY_KEYSTRING: &str = "ks_demo_fake";
const ETSY_SHARED: &str = "ss_demo_fake";
const ETSY_ACCESS: &str = "7.at_demo_fake";
const ETSY_WHSEC: &str = "whsec_ZGVtby1ldHN5LXdlYmhvb2stc2VjcmV0LWZha2U=";
const ETSY_SHOP: u64 = 42;
/// eBay's app (Basic = base64 of `ebay-cid-fake:ebay-secret-fake`), its tokens, the seller
/// and the notification endpoint's verification token.
const EBAY_ID: &str = "ebay-cid-fake";
const EBAY_SECRET: &str = "ebay-secret-fake";
const EBAY_BASIC: &str = "Basic ZWJheS1jaWQtZmFrZTplYmF5LXNlY3JldC1mYWtl";
const EBAY_USER: &str = "demo-ebay-user-token-fake";
const EBAY_APP: &str = "demo-ebay-app-token-fake";
const EBAY_SELLER: &str = "demo_seller_uid_fake";
const EBAY_VERIFICATION: &str = "demo-fake-verification-token-0123456789";
/// Veeqo's API key and its Amazon location (the Inventory Sync Warehouse).
const VEEQO_KEY: &str = "veeqo_demo_fake_key";
const VEEQO_WAREHOUSE: u64 = 22668;
const BUNDLE: &str = "TS-001-X3";

/// How the demo runs.
#[derive(Debug)]
pub struct DemoOptions {
    /// Seconds between two rounds of orders (and stock moves).
    pub pace: Duration,
    /// Print what happens (the test runs it quietly).
    pub verbose: bool,
    /// Receives the summary after every round (the test stops the demo once it is complete).
    pub progress: Option<tokio::sync::watch::Sender<DemoSummary>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            pace: Duration::from_secs(4),
            verbose: true,
            progress: None,
        }
    }
}

/// Every channel the demo runs, as the summary names them.
pub const CHANNELS: [&str; 7] = [
    "shopify",
    "woocommerce",
    "magento",
    "tiktok",
    "etsy",
    "ebay",
    "veeqo",
];

/// What happened, per channel (see [`CHANNELS`]), as the stores and the outbox saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemoSummary {
    /// Orders the stores took.
    pub orders_placed: BTreeMap<String, u32>,
    /// `order.imported` messages in the outbox.
    pub orders_imported: BTreeMap<String, u32>,
    /// `tracking.exported` messages in the outbox.
    pub tracking_exported: BTreeMap<String, u32>,
    /// Tracking write calls the stores received (`fulfillmentCreate`, order note, `/ship`,
    /// TikTok's package, Etsy's receipt tracking, eBay's shipping fulfillment, Veeqo's
    /// shipment).
    pub tracking_calls: BTreeMap<String, u32>,
    /// Stock write calls the stores received (`inventorySetQuantities`, `products/batch`,
    /// `source-items`, TikTok's inventory update, Etsy's listing inventory, eBay's
    /// `bulk_update_price_quantity`, Veeqo's stock entry).
    pub stock_pushes: BTreeMap<String, u32>,
}

/// The seven simulated stores.
struct Stores {
    shopify: MockServer,
    shopify_orders: shopify::OrderBook,
    woo: MockServer,
    woo_orders: woocommerce::Orders,
    magento: MockServer,
    magento_orders: magento::Orders,
    tiktok: MockServer,
    tiktok_app: tiktok::App,
    tiktok_orders: tiktok::Orders,
    etsy: MockServer,
    etsy_receipts: etsy::Receipts,
    ebay: MockServer,
    ebay_orders: ebay::Orders,
    ebay_signer: ebay::Signer,
    veeqo: MockServer,
    veeqo_account: veeqo::FakeVeeqo,
}

async fn start_stores() -> Stores {
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
fn set_channel_env(stores: &Stores) {
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
fn config(
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

/// A small HTTP client of the demo's own `serve`, as a merchant's dashboard and the WMS use it.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!(
                "{method} {path}: {status}: {}",
                body["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {path}: {status}"));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {path}: {e}"))
    }

    async fn wms(&self, message: Value) -> Result<(), String> {
        self.send(reqwest::Method::POST, "/wms/events", message)
            .await
            .map(|_| ())
    }

    /// Posts a store's webhook delivery (its own headers and signature).
    async fn deliver(
        &self,
        path: &str,
        (headers, body): (Vec<(&'static str, String)>, Vec<u8>),
    ) -> Result<(), String> {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("POST {path}: {}", response.status()));
        }
        Ok(())
    }
}

/// The connection ids of the seven stores.
struct Connections {
    shopify: String,
    woo: String,
    magento: String,
    tiktok: String,
    etsy: String,
    ebay: String,
    veeqo: String,
}

/// The value of `name` in `url`'s query.
fn query_value(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Api {
    /// Installs `channel` by its OAuth flow as a merchant does: the dashboard's start, then the
    /// channel's redirect back to our callback with `code` (the consent screen itself is the
    /// fake's part: it gives the code). Returns the new connection's id.
    async fn install(&self, channel: &str, start: Value, code: &str) -> Result<String, String> {
        let started = self
            .send(
                reqwest::Method::POST,
                &format!("/api/oauth/{channel}/start"),
                start,
            )
            .await?;
        let url = started["authorize_url"].as_str().unwrap_or_default();
        let state = query_value(url, "state")
            .ok_or_else(|| format!("{channel}: the authorize URL has no state: {url}"))?;
        let callback = reqwest::Url::parse_with_params(
            &format!("{}/oauth/{channel}/callback", self.base),
            &[("code", code), ("state", state.as_str())],
        )
        .map_err(|e| format!("{channel} callback: {e}"))?;
        let back = self
            .http
            .get(callback)
            .send()
            .await
            .map_err(|e| format!("{channel} callback: {e}"))?;
        let landed = back
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        match query_value(&landed, channel).as_deref() {
            Some("connected") => query_value(&landed, "connection")
                .ok_or_else(|| format!("{channel}: no connection in {landed}")),
            _ => Err(format!(
                "{channel} install did not connect ({}): {landed}",
                back.status()
            )),
        }
    }
}

async fn connect(api: &Api, stores: &Stores) -> Result<Connections, String> {
    let post = |body: Value| api.send(reqwest::Method::POST, "/api/connections", body);
    let id = |v: Value| {
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or("no connection id")
    };
    let shopify = id(post(json!({"channel": "shopify", "shop_domain": SHOP,
        "access_token": SHOPIFY_TOKEN}))
    .await?)?;
    let woo = id(post(
        json!({"channel": "woocommerce", "store_url": stores.woo.uri(),
        "consumer_key": "ck_demo_fake", "consumer_secret": "cs_demo_fake"}),
    )
    .await?)?;
    let magento = id(post(
        json!({"channel": "magento", "store_url": stores.magento.uri(),
        "consumer_key": "demo_fake_ck", "consumer_secret": "demo_fake_cs",
        "access_token": "demo_fake_at", "access_token_secret": "demo_fake_ats",
        "settings": {"inventory_location": "dublin"}}),
    )
    .await?)?;
    let tiktok = api
        .install("tiktok", json!({"market": "us"}), "demo_fake_code")
        .await?;
    let etsy = api.install("etsy", json!({}), "demo_fake_code").await?;
    let ebay = api
        .install("ebay", json!({"marketplace": "EBAY_GB"}), "demo_fake_code")
        .await?;
    let veeqo = id(post(json!({"channel": "veeqo", "api_key": VEEQO_KEY})).await?)?;
    for (connection, settings) in [
        (
            &shopify,
            json!({"fulfilment_location": shopify::LOCATION,
                "inventory_location": shopify::LOCATION, "inventory_sync": "live"}),
        ),
        (&woo, json!({"inventory_sync": "live"})),
        (&magento, json!({"inventory_sync": "live"})),
        (
            &tiktok,
            json!({"inventory_location": "W1", "inventory_sync": "live"}),
        ),
        (&etsy, json!({"inventory_sync": "live"})),
        (&ebay, json!({"inventory_sync": "live"})),
        (
            &veeqo,
            json!({"inventory_location": VEEQO_WAREHOUSE.to_string(), "inventory_sync": "live"}),
        ),
    ] {
        api.send(
            reqwest::Method::PATCH,
            &format!("/api/connections/{connection}"),
            json!({ "settings": settings }),
        )
        .await?;
    }
    Ok(Connections {
        shopify,
        woo,
        magento,
        tiktok,
        etsy,
        ebay,
        veeqo,
    })
}

/// The WMS's level of TS-001 in round `n`: up and down between 12 and 40.
fn stock_level(n: u64) -> i64 {
    const LEVELS: [i64; 8] = [30, 27, 24, 36, 33, 18, 12, 40];
    LEVELS[(n % 8) as usize]
}

/// Runs the demo on `listener` until `shutdown` resolves. `data` is the (empty) data directory.
pub async fn run(
    listener: tokio::net::TcpListener,
    data: &std::path::Path,
    options: DemoOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<DemoSummary, String> {
    let say = |line: String| {
        if options.verbose {
            println!("{line}");
        }
    };
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let token = format!("cs_dev_demo_{}", hex::encode(rand::random::<[u8; 12]>()));
    let stores = start_stores().await;
    set_channel_env(&stores);
    let config = config(addr, data, &token, &stores);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // Ctrl-C ends the current round; serve is stopped after it, by its own signal.
    let (serve_tx, mut serve_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(crate::serve_on(config, listener, async move {
        let _ = serve_rx.changed().await;
    }));
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // The OAuth callbacks answer with a redirect to the dashboard: read, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?,
        base: format!("http://{addr}"),
        token,
    };
    let mut summary = DemoSummary::default();
    let outcome = drive(&api, &stores, &options, &say, &mut stop_rx, &mut summary).await;
    // However the drive ended, serve stops cleanly (consumers and timers with it).
    let _ = serve_tx.send(true);
    let served = server.await;
    outcome?;
    match served {
        Ok(Ok(())) => Ok(summary),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("serve stopped: {e}")),
    }
}

/// Connects the stores, then runs rounds until the stop signal.
async fn drive(
    api: &Api,
    stores: &Stores,
    options: &DemoOptions,
    say: &impl Fn(String),
    stop: &mut tokio::sync::watch::Receiver<bool>,
    summary: &mut DemoSummary,
) -> Result<(), String> {
    // serve answers once its store is open.
    let mut up = false;
    for _ in 0..200 {
        if api.get("/wms/outbox?after=0").await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        return Err("serve did not start".into());
    }
    let connections = connect(api, stores).await?;
    let base = &api.base;
    let token = &api.token;
    say(format!(
        "\nchannel-sync demo: serving {base} with seven simulated stores on loopback \
         (Shopify {}, WooCommerce {}, Magento {}, TikTok Shop {}, Etsy {}, eBay {}, Veeqo {})",
        stores.shopify.uri(),
        stores.woo.uri(),
        stores.magento.uri(),
        stores.tiktok.uri(),
        stores.etsy.uri(),
        stores.ebay.uri(),
        stores.veeqo.uri()
    ));
    say(format!(
        "connections: shopify {}  woocommerce {}  magento {}\n             tiktok {}  etsy {}  ebay {}  veeqo {}",
        connections.shopify,
        connections.woo,
        connections.magento,
        connections.tiktok,
        connections.etsy,
        connections.ebay,
        connections.veeqo
    ));
    say("\nWhile it runs, in another terminal:".into());
    say(format!(
        "  export CHANNEL_SYNC_URL={base} CHANNEL_SYNC_TOKEN={token}"
    ));
    say("  curl -s \"$CHANNEL_SYNC_URL/wms/outbox?after=0\" -H \"Authorization: Bearer $CHANNEL_SYNC_TOKEN\"   # the WMS outbox".into());
    say(format!(
        "  curl -s \"$CHANNEL_SYNC_URL/api/connections/{}/runs\" -H \"Authorization: Bearer $CHANNEL_SYNC_TOKEN\"   # inventory runs",
        connections.shopify
    ));
    say("  cargo run -p local --bin channel-sync -- sku-audit   # the SKU audit".into());
    say(format!(
        "  open {base} in a browser                           # the Integrations page"
    ));
    say("Ctrl-C stops the demo and deletes its data.\n".into());

    // The WMS's catalogue: the tee and its 3-pack.
    api.wms(json!({"type": "product.upserted", "tenant": "dev", "sku": SKU, "name": "Tee"}))
        .await?;
    api.wms(
        json!({"type": "product.upserted", "tenant": "dev", "sku": BUNDLE,
        "name": "Tee 3-pack", "components": [{"sku": SKU, "quantity": 3}]}),
    )
    .await?;

    let channel_of: BTreeMap<&str, &str> = [
        (connections.shopify.as_str(), "shopify"),
        (connections.woo.as_str(), "woocommerce"),
        (connections.magento.as_str(), "magento"),
        (connections.tiktok.as_str(), "tiktok"),
        (connections.etsy.as_str(), "etsy"),
        (connections.ebay.as_str(), "ebay"),
        (connections.veeqo.as_str(), "veeqo"),
    ]
    .into_iter()
    .collect();
    let mut cursor = "0".to_owned();
    let mut shipped: BTreeSet<(String, String)> = BTreeSet::new();
    // Orders the WMS has shipped since its last stock level: the next level accounts for them
    // (their reservations are released), as a real WMS says.
    let mut applied: Vec<Value> = Vec::new();
    let mut round: u64 = 0;
    loop {
        round += 1;
        // The stores take one order each (odd rounds: the bundle).
        let sku = if round % 2 == 1 { SKU } else { BUNDLE };
        let id = 1000 + round;
        let line = id * 10 + 1;
        stores.shopify_orders.add(id, &[(line, sku, 1)]);
        let order = shopify::rest_order(id, &[(line, sku, 1)]);
        api.deliver(
            "/webhooks/shopify",
            shopify::order_delivery(SHOPIFY_APP_SECRET, SHOP, &format!("demo-{id}"), &order),
        )
        .await?;
        say(format!(
            "shopify      order #{id} (1 × {sku}) → signed orders/create webhook"
        ));

        let woo_id = 2000 + round;
        let order = woocommerce::order(woo_id, "processing", "2026-11-28T10:00:00", sku);
        stores.woo_orders.add(order.clone());
        let secret = woocommerce::webhook_secret(&stores.woo)
            .await
            .ok_or("the WooCommerce store has no webhook")?;
        api.deliver(
            &format!("/webhooks/woocommerce/{}", connections.woo),
            woocommerce::delivery(&secret, "order.created", &format!("demo-{woo_id}"), &order),
        )
        .await?;
        say(format!(
            "woocommerce  order {woo_id} (2 × {sku}) → signed order.created webhook"
        ));

        let magento_id = 3000 + round;
        stores
            .magento_orders
            .add(magento::order(magento_id, sku, 1));
        say(format!(
            "magento      order {magento_id} (1 × {sku}) → waits for the next poll (no webhooks)"
        ));
        let tiktok_id = format!("5766536881352{round:05}");
        stores
            .tiktok_orders
            .add(tiktok::order(&tiktok_id, false, 1764234000, &[sku]));
        api.deliver(
            "/webhooks/tiktok",
            tiktok::webhook(
                &stores.tiktok_app,
                1,
                &format!("demo-{tiktok_id}"),
                TIKTOK_SHOP,
                json!({"order_id": tiktok_id, "order_status": "AWAITING_SHIPMENT"}),
            ),
        )
        .await?;
        say(format!(
            "tiktok       order {tiktok_id} (1 × {sku}) → signed order status webhook"
        ));

        let receipt = 54000 + round;
        stores
            .etsy_receipts
            .add(etsy::receipt(receipt, &[(sku, 1)], json!([])));
        api.deliver(
            "/webhooks/etsy",
            etsy::order_paid(
                ETSY_WHSEC,
                ETSY_SHOP,
                receipt,
                &format!("msg_demo_{receipt}"),
                chrono::Utc::now().timestamp(),
            ),
        )
        .await?;
        say(format!(
            "etsy         receipt {receipt} (1 × {sku}) → signed order.paid webhook"
        ));

        let ebay_id = format!("12-34567-{round:05}");
        stores
            .ebay_orders
            .add(ebay::order(&ebay_id, &[("L-1", sku, 1)]));
        let body = ebay::notification(
            "ORDER_CONFIRMATION",
            &format!("demo-{ebay_id}"),
            json!({"orderId": ebay_id, "sellerId": EBAY_SELLER}),
        );
        let signature = stores.ebay_signer.header(&body);
        api.deliver(
            "/webhooks/ebay",
            (
                vec![
                    ("content-type", "application/json".to_owned()),
                    ("x-ebay-signature", signature),
                ],
                body,
            ),
        )
        .await?;
        say(format!(
            "ebay         order {ebay_id} (1 × {sku}) → signed ORDER_CONFIRMATION notification"
        ));

        let veeqo_id = 6000 + round;
        stores
            .veeqo_account
            .add_order(veeqo::order(veeqo_id, sku, false, VEEQO_WAREHOUSE, false));
        say(format!(
            "veeqo        order {veeqo_id} (2 × {sku}) → waits for the next poll (no webhooks)"
        ));
        for channel in CHANNELS {
            *summary.orders_placed.entry(channel.into()).or_default() += 1;
        }

        // The WMS's stock level moves; Live sync pushes it (and the bundle) to every store.
        let level = stock_level(round);
        let accounts_for = std::mem::take(&mut applied);
        let named = accounts_for.len();
        api.wms(json!({"type": "stock.changed", "tenant": "dev", "sku": SKU,
            "available": level, "at": chrono::Utc::now().to_rfc3339(),
            "orders": accounts_for}))
            .await?;
        say(format!(
            "wms          stock {SKU} = {level} (bundle {BUNDLE} = {}), accounting for {named} shipped order(s)",
            level / 3
        ));

        tokio::select! {
            _ = tokio::time::sleep(options.pace) => {}
            _ = stop.changed() => {}
        }

        // The WMS reads its outbox and dispatches what was imported.
        let page = api.get(&format!("/wms/outbox?after={cursor}")).await?;
        if let Some(next) = page["next"].as_str() {
            cursor = next.to_owned();
        }
        for message in page["messages"].as_array().into_iter().flatten() {
            let connection = message["connection"].as_str().unwrap_or_default();
            let channel = channel_of
                .get(connection)
                .copied()
                .unwrap_or("?")
                .to_owned();
            let order = message["channel_order_id"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            match message["type"].as_str().unwrap_or_default() {
                "order.imported" => {
                    *summary.orders_imported.entry(channel.clone()).or_default() += 1;
                    say(format!(
                        "outbox       order.imported {channel} {order} {}",
                        if message["hold_reasons"]
                            .as_array()
                            .is_some_and(|h| !h.is_empty())
                        {
                            format!("HELD {}", message["hold_reasons"])
                        } else {
                            String::new()
                        }
                    ));
                    if channel_of.contains_key(connection)
                        && shipped.insert((connection.to_owned(), order.clone()))
                    {
                        applied.push(json!({"channel": message["channel"],
                            "shop": message["shop"], "channel_order_id": order}));
                        let number = format!("DEMO{}", order.trim_start_matches('0'));
                        api.wms(json!({"type": "shipment.dispatched", "tenant": "dev",
                            "connection": connection, "channel_order_id": order,
                            "carrier": "DHL", "tracking_number": number,
                            "tracking_url": format!("https://track.example/{number}")}))
                            .await?;
                        say(format!(
                            "wms          shipped {channel} {order}: DHL {number}"
                        ));
                    }
                }
                "tracking.exported" => {
                    *summary
                        .tracking_exported
                        .entry(channel.clone())
                        .or_default() += 1;
                    say(format!(
                        "outbox       tracking.exported {channel} {order} → the store has the tracking"
                    ));
                }
                other => say(format!(
                    "outbox       {other} {channel} {}",
                    message["sku"].as_str().unwrap_or(&order)
                )),
            }
        }
        count_store_calls(stores, summary).await;
        say(format!(
            "stores       tracking writes {:?}  stock pushes {:?}",
            summary.tracking_calls, summary.stock_pushes
        ));
        if let Some(progress) = &options.progress {
            let _ = progress.send(summary.clone());
        }
        if *stop.borrow() {
            say("\nstopping…".into());
            return Ok(());
        }
    }
}

/// Counts the tracking and stock writes each store received.
async fn count_store_calls(stores: &Stores, summary: &mut DemoSummary) {
    let shopify = stores.shopify.received_requests().await.unwrap_or_default();
    let operation = |name: &str| {
        shopify
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(name))
            .count() as u32
    };
    let woo = stores.woo.received_requests().await.unwrap_or_default();
    let woo_notes = woo
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/notes"))
        .count() as u32;
    let woo_batches = fakes::requests_to(
        &stores.woo,
        "POST",
        &format!("{}/products/batch", woocommerce::WC),
    )
    .await
    .len() as u32;
    let magento = stores.magento.received_requests().await.unwrap_or_default();
    let ships = magento
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/ship"))
        .count() as u32;
    let source_items = magento
        .iter()
        .filter(|r| {
            r.method.as_str() == "POST"
                && r.url.path() == format!("{}/inventory/source-items", magento::BASE)
                && json_of(r)["sourceItems"].is_array()
        })
        .count() as u32;
    let calls = |requests: &[wiremock::Request], verb: &str, path: &dyn Fn(&str) -> bool| {
        requests
            .iter()
            .filter(|r| r.method.as_str() == verb && path(r.url.path()))
            .count() as u32
    };
    let tiktok = stores.tiktok.received_requests().await.unwrap_or_default();
    let etsy = stores.etsy.received_requests().await.unwrap_or_default();
    let ebay = stores.ebay.received_requests().await.unwrap_or_default();
    let veeqo = stores.veeqo.received_requests().await.unwrap_or_default();
    summary.tracking_calls = [
        ("shopify", operation("ChannelSyncFulfillmentCreate")),
        ("woocommerce", woo_notes),
        ("magento", ships),
        (
            "tiktok",
            calls(&tiktok, "POST", &|p| {
                p.starts_with("/fulfillment/202309/orders/") && p.ends_with("/packages")
            }),
        ),
        (
            "etsy",
            calls(&etsy, "POST", &|p| {
                p.starts_with(&format!("/v3/application/shops/{ETSY_SHOP}/receipts/"))
                    && p.ends_with("/tracking")
            }),
        ),
        (
            "ebay",
            calls(&ebay, "POST", &|p| p.ends_with("/shipping_fulfillment")),
        ),
        ("veeqo", calls(&veeqo, "POST", &|p| p == "/shipments")),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_owned(), n))
    .collect();
    summary.stock_pushes = [
        ("shopify", operation("ChannelSyncSetAvailable")),
        ("woocommerce", woo_batches),
        ("magento", source_items),
        (
            "tiktok",
            calls(&tiktok, "POST", &|p| {
                p.starts_with("/product/202309/products/") && p.ends_with("/inventory/update")
            }),
        ),
        (
            "etsy",
            calls(&etsy, "PUT", &|p| {
                p.starts_with("/v3/application/listings/") && p.ends_with("/inventory")
            }),
        ),
        (
            "ebay",
            calls(&ebay, "POST", &|p| {
                p == "/sell/inventory/v1/bulk_update_price_quantity"
            }),
        ),
        (
            "veeqo",
            calls(&veeqo, "PUT", &|p| {
                p.starts_with("/sellables/") && p.ends_with("/stock_entry")
            }),
        ),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_owned(), n))
    .collect();
}
