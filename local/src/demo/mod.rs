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

mod api;
mod drive;
mod stores;
use api::{connect, Api};
use drive::drive;
use stores::{config, set_channel_env, start_stores, Stores};

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
