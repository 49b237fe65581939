//! The crash harness shared by `tests/crash.rs` (one round in `make test`) and
//! `examples/chaos.rs` (many rounds, `make chaos`): one `channel-sync serve` with every channel
//! that takes webhooks (Shopify, WooCommerce, TikTok Shop, eBay, Etsy) connected to a
//! `wiremock` fake of each; a burst of signed order deliveries of all of them; SIGKILL
//! mid-burst; a restart on the same data; every delivery not answered 200 re-sent until it
//! is (as the channels do); then every order must be in the outbox exactly once.
//!
//! Magento and Veeqo declare no webhooks (`Webhooks::None`: the poll imports their orders),
//! so they have no delivery to crash on.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{body_string_contains, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SHOP: &str = "crash-shop.myshopify.com";
const SHOPIFY_TOKEN: &str = "shpat_fake_crash_token";
const TIKTOK_KEY: &str = "fake_crash_app_key";
const TIKTOK_SECRET: &str = "fake_crash_app_secret";
const TIKTOK_SHOP: &str = "7495540735365000001";
const TIKTOK_CIPHER: &str = "ROW_fake_crash_cipher";
const TIKTOK_TOKEN: &str = "fake_crash_tts_access";
const EBAY_VERIFICATION: &str = "fake-crash-verification-token-0123456789";
const EBAY_SELLER: &str = "crash_seller_uid_fake";
const EBAY_KID: &str = "kid-crash-1";
/// base64("ebay-cid-fake:ebay-secret-fake")
const EBAY_BASIC: &str = "Basic ZWJheS1jaWQtZmFrZTplYmF5LXNlY3JldC1mYWtl";
const ETSY_API_KEY: &str = "ks_fake:ss_fake";
const ETSY_BEARER: &str = "Bearer 7.at_crash_fake";
const ETSY_WHSEC: &str = "whsec_ZmFrZS1ldHN5LWNyYXNoLXNlY3JldC1mb3ItdGVzdHMtb25seQ==";
const ETSY_SHOP: u64 = 4242;
const WC: &str = "/wp-json/wc/v3";

#[path = "../common/process.rs"]
mod process;
/// A `serve` process; SIGKILLed when dropped.
pub use process::{stop, Runner as Serve};

/// One signed order delivery, re-buildable (the channels re-send the same delivery id).
#[derive(Clone)]
pub struct Delivery {
    pub channel: &'static str,
    pub order: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Shopify {
        id: String,
        body: Vec<u8>,
    },
    Woo {
        connection: String,
        secret: String,
        id: String,
        body: Vec<u8>,
    },
    TikTok {
        body: Vec<u8>,
    },
    Ebay {
        body: Vec<u8>,
    },
    Etsy {
        id: String,
        body: Vec<u8>,
    },
}

/// What one round saw.
#[derive(Debug, Default, Clone)]
pub struct RoundReport {
    pub deliveries: usize,
    /// Answered 200 before the kill.
    pub answered_before_kill: usize,
    /// Re-sent after the restart (not answered 200 before it).
    pub resent: usize,
    /// Re-sends answered 503 (another attempt's claim still held) and sent again.
    pub told_to_retry: usize,
    /// `order.*` messages per channel in the outbox after the round.
    pub per_channel: BTreeMap<String, usize>,
    /// Orders found more than once or not at all (both must be empty).
    pub duplicated: Vec<String>,
    pub missing: Vec<String>,
}

/// Signs a body (eBay's notification signature; the key's type stays in the helpers).
type Signer = Box<dyn Fn(&[u8]) -> String + Send + Sync>;

/// The fakes, the data directory and the environment of one `serve`.
pub struct World {
    pub binary: PathBuf,
    pub data: tempfile::TempDir,
    pub token: String,
    shopify_secret: String,
    shopify: MockServer,
    woo: MockServer,
    tiktok: MockServer,
    ebay: MockServer,
    etsy: MockServer,
    /// Signs an eBay notification body (the key's type stays inside the signing helpers).
    ebay_sign: Signer,
    ebay_pem: String,
    /// The WooCommerce connection's id and webhook secret, once connected.
    woo_hook: Mutex<Option<(String, String)>>,
    next_order: AtomicUsize,
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn tiktok_ok(data: Value) -> ResponseTemplate {
    ok(json!({"code": 0, "message": "Success", "data": data}))
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn tiktok_order(id: &str) -> Value {
    json!({
        "id": id, "status": "AWAITING_SHIPMENT", "create_time": 1764230400, "update_time": 1764234000,
        "shipping_type": "SELLER", "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "delivery_option_id": "7091146663229654785",
        "recipient_address": {"name": "Jane Doe", "address_line1": "1 Main St", "postal_code": "90001",
            "region_code": "US", "phone_number": "(+1)213-555-1234"},
        "line_items": [{"id": format!("li-{id}"), "sku_id": "sku-a", "seller_sku": "TS-001"}]
    })
}

fn ebay_order(id: &str) -> Value {
    json!({
        "orderId": id, "creationDate": "2026-11-27T09:00:00.000Z",
        "lastModifiedDate": "2026-11-27T09:01:00.000Z",
        "orderFulfillmentStatus": "NOT_STARTED", "orderPaymentStatus": "PAID",
        "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
        "fulfillmentStartInstructions": [{"shippingStep": {"shipTo": {"fullName": "Ada Buyer",
            "contactAddress": {"addressLine1": "1 High St", "city": "Leeds", "postalCode": "LS1 1AA",
                "countryCode": "GB"}}}}],
        "lineItems": [{"lineItemId": format!("L-{id}"), "sku": "TS-001", "quantity": 1, "title": "Tee"}]
    })
}

fn etsy_receipt(id: u64) -> Value {
    json!({
        "receipt_id": id, "status": "Paid", "is_paid": true, "is_shipped": false,
        "name": "Ada Buyer", "first_line": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701",
        "country_iso": "US", "create_timestamp": 1_795_000_000, "update_timestamp": 1_795_000_100,
        "shipments": [],
        "transactions": [{"transaction_id": id, "title": "Mug", "sku": "MUG-BLUE", "quantity": 1}]
    })
}

fn woo_order(id: u64) -> Value {
    json!({
        "id": id, "number": id.to_string(), "status": "processing", "currency": "EUR",
        "date_created_gmt": "2026-11-27T08:00:00", "date_modified_gmt": "2026-11-27T08:00:10",
        "date_paid_gmt": "2026-11-27T08:00:05",
        "billing": {"email": "buyer@example.com"},
        "shipping": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Loop Rd",
            "city": "Dublin", "postcode": "D01", "country": "IE"},
        "line_items": [{"id": id * 10, "product_id": 93, "variation_id": 94, "quantity": 1,
            "sku": "TS-001", "name": "Tee - M"}]
    })
}

fn last_segment(request: &Request) -> String {
    request
        .url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl World {
    /// Starts and mounts every fake. `binary` is the `channel-sync` executable to run.
    pub async fn new(binary: PathBuf) -> World {
        use shared::channels::ebay::notify::signing;
        let key = signing::key();
        let ebay_pem = signing::public_pem(&key);
        let ebay_sign: Signer =
            Box::new(move |body| signing::header(&key, EBAY_KID, "ecdsa", "SHA1", body));
        let world = World {
            binary,
            data: tempfile::tempdir().expect("a data directory"),
            token: format!("cs_dev_fake_{}", uuid::Uuid::new_v4().simple()),
            shopify_secret: format!("shpss_fake_{}", uuid::Uuid::new_v4().simple()),
            shopify: MockServer::start().await,
            woo: MockServer::start().await,
            tiktok: MockServer::start().await,
            ebay: MockServer::start().await,
            etsy: MockServer::start().await,
            ebay_sign,
            ebay_pem,
            woo_hook: Mutex::new(None),
            next_order: AtomicUsize::new(1),
        };
        world.mount_shopify().await;
        world.mount_woo().await;
        world.mount_tiktok().await;
        world.mount_ebay().await;
        world.mount_etsy().await;
        world
    }

    async fn mount_shopify(&self) {
        let s = &self.shopify;
        Mock::given(method("POST"))
            .and(body_string_contains("ChannelSyncLocations"))
            .respond_with(ok(json!({"data": {"locations": {"nodes": [
                {"id": "gid://shopify/Location/1", "name": "3PL Warehouse", "isActive": true,
                 "fulfillsOnlineOrders": true}
            ], "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
            .with_priority(2)
            .mount(s)
            .await;
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", SHOPIFY_TOKEN))
            .and(body_string_contains("ChannelSyncShop"))
            .respond_with(ok(json!({
                "data": {"shop": {"name": "Crash Shop", "myshopifyDomain": SHOP}}
            })))
            .mount(s)
            .await;
        // The product import `serve` runs a minute after each start: no variants.
        Mock::given(method("POST"))
            .and(header("X-Shopify-Access-Token", SHOPIFY_TOKEN))
            .and(body_string_contains("ChannelSyncVariants"))
            .respond_with(ok(json!({"data": {"productVariants": {"nodes": [],
                "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
            .mount(s)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401))
            .with_priority(10)
            .mount(s)
            .await;
    }

    async fn mount_woo(&self) {
        let w = &self.woo;
        Mock::given(method("GET"))
            .and(path("/wp-json/"))
            .respond_with(ok(
                json!({"name": "Crash Woo", "namespaces": ["wp/v2", "wc/v3"]}),
            ))
            .mount(w)
            .await;
        for listed in ["orders", "webhooks", "products"] {
            Mock::given(method("GET"))
                .and(path(format!("{WC}/{listed}")))
                .respond_with(ok(json!([])).insert_header("X-WP-TotalPages", "1"))
                .mount(w)
                .await;
        }
        Mock::given(method("POST"))
            .and(path(format!("{WC}/webhooks/batch")))
            .respond_with(ok(json!({})))
            .mount(w)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{WC}/webhooks")))
            .respond_with(|r: &Request| {
                let mut body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                body["id"] = json!(11);
                ResponseTemplate::new(201).set_body_json(body)
            })
            .mount(w)
            .await;
    }

    async fn mount_tiktok(&self) {
        let t = &self.tiktok;
        Mock::given(method("GET"))
            .and(path("/api/v2/token/get"))
            .and(query_param("app_key", TIKTOK_KEY))
            .and(query_param("auth_code", "fake_crash_code"))
            .respond_with(tiktok_ok(json!({"access_token": TIKTOK_TOKEN,
                "access_token_expire_in": now_secs() + 7 * 86400,
                "refresh_token": "fake_crash_tts_refresh",
                "refresh_token_expire_in": now_secs() + 365 * 86400,
                "seller_name": "Crash Seller"})))
            .mount(t)
            .await;
        Mock::given(method("GET"))
            .and(path("/authorization/202309/shops"))
            .respond_with(tiktok_ok(json!({"shops": [{"id": TIKTOK_SHOP, "name": "Crash TikTok Shop",
                "region": "US", "seller_type": "LOCAL", "cipher": TIKTOK_CIPHER, "code": "USCRASH"}]})))
            .mount(t)
            .await;
        Mock::given(method("GET"))
            .and(path("/event/202309/webhooks"))
            .respond_with(tiktok_ok(json!({"webhooks": []})))
            .mount(t)
            .await;
        Mock::given(method("PUT"))
            .and(path("/event/202309/webhooks"))
            .respond_with(tiktok_ok(json!({})))
            .mount(t)
            .await;
        // The order re-read: whichever order the notification named.
        Mock::given(method("GET"))
            .and(path("/order/202507/orders"))
            .and(query_param("shop_cipher", TIKTOK_CIPHER))
            .and(header("x-tts-access-token", TIKTOK_TOKEN))
            .respond_with(|r: &Request| {
                let id = r
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "ids")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                tiktok_ok(json!({"orders": [tiktok_order(&id)]}))
            })
            .mount(t)
            .await;
    }

    async fn mount_ebay(&self) {
        let e = &self.ebay;
        let token = "/identity/v1/oauth2/token";
        Mock::given(method("POST"))
            .and(path(token))
            .and(header("authorization", EBAY_BASIC))
            .and(body_string_contains("grant_type=authorization_code"))
            .respond_with(ok(
                json!({"access_token": "user-token-crash", "expires_in": 7200,
                "refresh_token": "refresh-token-crash", "refresh_token_expires_in": 47304000}),
            ))
            .mount(e)
            .await;
        Mock::given(method("POST"))
            .and(path(token))
            .and(header("authorization", EBAY_BASIC))
            .and(body_string_contains("grant_type=client_credentials"))
            .respond_with(ok(
                json!({"access_token": "app-token-crash", "expires_in": 7200}),
            ))
            .mount(e)
            .await;
        Mock::given(method("GET"))
            .and(path("/commerce/identity/v1/user/"))
            .respond_with(ok(
                json!({"userId": EBAY_SELLER, "username": "crash_seller"}),
            ))
            .mount(e)
            .await;
        Mock::given(method("GET"))
            .and(path("/commerce/notification/v1/destination"))
            .respond_with(ok(json!({"destinations": []})))
            .mount(e)
            .await;
        Mock::given(method("POST"))
            .and(path("/commerce/notification/v1/destination"))
            .respond_with(ResponseTemplate::new(201).insert_header(
                "location",
                "https://api.ebay.com/commerce/notification/v1/destination/D-crash",
            ))
            .mount(e)
            .await;
        Mock::given(method("GET"))
            .and(path("/commerce/notification/v1/subscription"))
            .respond_with(ok(json!({"subscriptions": []})))
            .mount(e)
            .await;
        Mock::given(method("POST"))
            .and(path("/commerce/notification/v1/subscription"))
            .respond_with(ResponseTemplate::new(201))
            .mount(e)
            .await;
        let pem = self.ebay_pem.clone();
        Mock::given(method("GET"))
            .and(path(format!(
                "/commerce/notification/v1/public_key/{EBAY_KID}"
            )))
            .respond_with(ok(
                json!({"key": pem, "algorithm": "ECDSA", "digest": "SHA1"}),
            ))
            .mount(e)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/sell/fulfillment/v1/order/[^/]+$"))
            .and(header("authorization", "Bearer user-token-crash"))
            .respond_with(|r: &Request| ok(ebay_order(&last_segment(r))))
            .mount(e)
            .await;
    }

    async fn mount_etsy(&self) {
        let on = |verb: &str| {
            Mock::given(method(verb))
                .and(header("x-api-key", ETSY_API_KEY))
                .and(header("authorization", ETSY_BEARER))
        };
        let e = &self.etsy;
        Mock::given(method("POST"))
            .and(path("/v3/public/oauth/token"))
            .and(header("x-api-key", ETSY_API_KEY))
            .respond_with(ok(
                json!({"access_token": "7.at_crash_fake", "token_type": "Bearer",
                "expires_in": 3600, "refresh_token": "7.rt_crash_fake"}),
            ))
            .mount(e)
            .await;
        on("GET")
            .and(path("/v3/application/users/me"))
            .respond_with(ok(json!({"user_id": 7, "shop_id": ETSY_SHOP})))
            .mount(e)
            .await;
        on("GET")
            .and(path(format!("/v3/application/shops/{ETSY_SHOP}")))
            .respond_with(ok(
                json!({"shop_name": "CrashMakes", "shipping_from_country_iso": "US"}),
            ))
            .mount(e)
            .await;
        on("GET")
            .and(path_regex(format!(
                r"^/v3/application/shops/{ETSY_SHOP}/receipts/\d+$"
            )))
            .respond_with(|r: &Request| {
                ok(etsy_receipt(last_segment(r).parse().unwrap_or_default()))
            })
            .mount(e)
            .await;
    }

    /// The environment of `serve`: every channel's app, pointed at its fake. No poll timer:
    /// the webhooks and their re-sends alone must bring every order in.
    fn envs(&self) -> Vec<(String, String)> {
        let pairs = [
            ("SHOPIFY_CLIENT_SECRET", self.shopify_secret.clone()),
            ("SHOPIFY_CLIENT_ID", "fake-client-id".into()),
            ("SHOPIFY_API_BASE", self.shopify.uri()),
            ("TIKTOK_CLIENT_ID", TIKTOK_KEY.into()),
            ("TIKTOK_CLIENT_SECRET", TIKTOK_SECRET.into()),
            ("TIKTOK_SERVICE_ID", "7234567890".into()),
            ("TIKTOK_API_BASE", self.tiktok.uri()),
            ("TIKTOK_AUTH_BASE", self.tiktok.uri()),
            ("EBAY_CLIENT_ID", "ebay-cid-fake".into()),
            ("EBAY_CLIENT_SECRET", "ebay-secret-fake".into()),
            ("EBAY_API_BASE", self.ebay.uri()),
            ("EBAY_RUNAME", "Fake_Co-FakeApp-PRD-runame".into()),
            ("EBAY_VERIFICATION_TOKEN", EBAY_VERIFICATION.into()),
            ("ETSY_CLIENT_ID", "ks_fake".into()),
            ("ETSY_CLIENT_SECRET", "ss_fake".into()),
            ("ETSY_API_BASE", self.etsy.uri()),
            (
                "ETSY_AUTHORIZE_URL",
                "https://www.etsy.example/oauth/connect".into(),
            ),
            ("ETSY_WEBHOOK_SECRET", ETSY_WHSEC.into()),
            ("CHANNEL_SYNC_ALLOW_PRIVATE_STORES", "1".into()),
            ("CHANNEL_SYNC_RECONCILE_SECS", "0".into()),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Starts `serve` on a free port on this world's data; returns once it answers.
    pub fn spawn(&self) -> Serve {
        spawn(&self.binary, self.data.path(), &self.token, &self.envs())
    }

    /// Connects one store of every channel (API form or OAuth install).
    pub async fn connect_all(&self, client: &reqwest::Client, serve: &Serve) {
        let base = &serve.base;
        let api = format!("{base}/api/connections");
        let shopify = client
            .post(&api)
            .bearer_auth(&self.token)
            .json(
                &json!({"channel": "shopify", "shop_domain": SHOP, "access_token": SHOPIFY_TOKEN}),
            )
            .send()
            .await
            .expect("shopify connect");
        assert_eq!(shopify.status(), 201, "shopify connect");

        let woo = client
            .post(&api)
            .bearer_auth(&self.token)
            .json(
                &json!({"channel": "woocommerce", "store_url": self.woo.uri(),
                "consumer_key": "ck_fake_crash", "consumer_secret": "cs_fake_crash"}),
            )
            .send()
            .await
            .expect("woocommerce connect");
        assert_eq!(woo.status(), 201, "woocommerce connect");
        let woo: Value = woo.json().await.expect("a connection");
        let id = woo["id"].as_str().expect("an id").to_owned();
        let created: Vec<Request> = self
            .woo
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == format!("{WC}/webhooks"))
            .collect();
        let hook: Value = serde_json::from_slice(&created.first().expect("a webhook").body)
            .expect("a webhook body");
        let secret = hook["secret"].as_str().expect("a secret").to_owned();
        *self.woo_hook.lock().unwrap() = Some((id, secret));

        for (channel, start_body, code) in [
            ("tiktok", json!({"market": "us"}), "fake_crash_code"),
            (
                "ebay",
                json!({"marketplace": "EBAY_GB"}),
                "v%5E1.1%23fake-code",
            ),
            ("etsy", json!({}), "code_fake"),
        ] {
            let started: Value = client
                .post(format!("{base}/api/oauth/{channel}/start"))
                .bearer_auth(&self.token)
                .json(&start_body)
                .send()
                .await
                .expect("install start")
                .json()
                .await
                .expect("an authorize URL");
            let url = reqwest::Url::parse(started["authorize_url"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{channel}: {e} in {started}"));
            let state = url
                .query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
                .expect("a state");
            let back = client
                .get(format!(
                    "{base}/oauth/{channel}/callback?code={code}&state={state}"
                ))
                .send()
                .await
                .expect("callback");
            let location = back
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(
                location.contains(&format!("{channel}=connected")),
                "{channel} install: {} {location}",
                back.status()
            );
        }
    }

    /// `per_channel` fresh orders of every channel, each as one signed delivery.
    pub fn deliveries(&self, per_channel: usize) -> Vec<Delivery> {
        let (woo_connection, woo_secret) = self
            .woo_hook
            .lock()
            .unwrap()
            .clone()
            .expect("connect_all first");
        let mut out = Vec::new();
        for _ in 0..per_channel {
            let n = self.next_order.fetch_add(1, Ordering::Relaxed);
            // Shopify: the sample order with its own id and name.
            let mut order: Value = serde_json::from_slice(
                &std::fs::read(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/shopify-order-5kb.json"),
                )
                .expect("the sample order"),
            )
            .expect("sample order JSON");
            let shopify_id = 7_000_000 + n as u64;
            order["id"] = json!(shopify_id);
            order["admin_graphql_api_id"] = json!(format!("gid://shopify/Order/{shopify_id}"));
            order["name"] = json!(format!("#C{n}"));
            order["order_number"] = json!(10_000 + n);
            out.push(Delivery {
                channel: "shopify",
                order: shopify_id.to_string(),
                kind: Kind::Shopify {
                    id: format!("crash-shopify-{n}"),
                    body: serde_json::to_vec(&order).expect("JSON"),
                },
            });
            let woo_id = 5_000 + n as u64;
            out.push(Delivery {
                channel: "woocommerce",
                order: woo_id.to_string(),
                kind: Kind::Woo {
                    connection: woo_connection.clone(),
                    secret: woo_secret.clone(),
                    id: format!("crash-woo-{n}"),
                    body: serde_json::to_vec(&woo_order(woo_id)).expect("JSON"),
                },
            });
            let tiktok_id = format!("5766536881{n:08}");
            out.push(Delivery {
                channel: "tiktok",
                order: tiktok_id.clone(),
                kind: Kind::TikTok {
                    body: serde_json::to_vec(&json!({"type": 1,
                        "tts_notification_id": format!("crash-n-{n}"), "shop_id": TIKTOK_SHOP,
                        "timestamp": 1764234000,
                        "data": {"order_id": tiktok_id, "order_status": "AWAITING_SHIPMENT"}}))
                    .expect("JSON"),
                },
            });
            let ebay_id = format!("12-34567-{n:05}");
            let now = chrono::Utc::now();
            out.push(Delivery {
                channel: "ebay",
                order: ebay_id.clone(),
                kind: Kind::Ebay {
                    body:
                        json!({"metadata": {"topic": "ORDER_CONFIRMATION", "schemaVersion": "1.0",
                        "deprecated": false},
                        "notification": {"notificationId": format!("crash-ebay-{n}"),
                        "eventDate": now, "publishDate": now, "publishAttemptCount": 1,
                        "data": {"orderId": ebay_id, "sellerId": EBAY_SELLER}}})
                        .to_string()
                        .into_bytes(),
                },
            });
            let receipt = 900_000 + n as u64;
            out.push(Delivery {
                channel: "etsy",
                order: receipt.to_string(),
                kind: Kind::Etsy {
                    id: format!("msg_crash_{n}"),
                    body: format!(
                        r#"{{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/{ETSY_SHOP}/receipts/{receipt}","shop_id":{ETSY_SHOP}}}"#
                    )
                    .into_bytes(),
                },
            });
        }
        out
    }

    /// The request of `delivery` against `base`, signed now (Etsy's signature covers the time).
    pub fn request(
        &self,
        client: &reqwest::Client,
        base: &str,
        delivery: &Delivery,
    ) -> reqwest::RequestBuilder {
        match &delivery.kind {
            Kind::Shopify { id, body } => client
                .post(format!("{base}/webhooks/shopify"))
                .header("content-type", "application/json")
                .header(
                    "X-Shopify-Hmac-Sha256",
                    shared::channels::shopify::sign(&self.shopify_secret, body),
                )
                .header("X-Shopify-Shop-Domain", SHOP)
                .header("X-Shopify-Topic", "orders/create")
                .header("X-Shopify-Webhook-Id", id.as_str())
                .body(body.clone()),
            Kind::Woo {
                connection,
                secret,
                id,
                body,
            } => client
                .post(format!("{base}/webhooks/woocommerce/{connection}"))
                .header("X-WC-Webhook-Topic", "order.created")
                .header("X-WC-Webhook-Delivery-ID", id.as_str())
                .header("X-WC-Webhook-Source", "https://shop.example/")
                .header(
                    "X-WC-Webhook-Signature",
                    shared::channels::woocommerce::sign(secret, body),
                )
                .header("Content-Type", "application/json")
                .body(body.clone()),
            Kind::TikTok { body } => client
                .post(format!("{base}/webhooks/tiktok"))
                .header("content-type", "application/json")
                .header(
                    "authorization",
                    shared::channels::tiktok::sign_webhook(TIKTOK_KEY, TIKTOK_SECRET, body),
                )
                .body(body.clone()),
            Kind::Ebay { body } => client
                .post(format!("{base}/webhooks/ebay"))
                .header("content-type", "application/json")
                .header("x-ebay-signature", (self.ebay_sign)(body))
                .body(body.clone()),
            Kind::Etsy { id, body } => {
                let now = now_secs();
                client
                    .post(format!("{base}/webhooks/etsy"))
                    .header("webhook-id", id.as_str())
                    .header("webhook-timestamp", now.to_string())
                    .header(
                        "webhook-signature",
                        shared::channels::etsy::webhook::sign(ETSY_WHSEC, id, now, body),
                    )
                    .body(body.clone())
            }
        }
    }

    /// One round on a running `serve`: posts `deliveries` with `concurrency` clients,
    /// SIGKILLs `serve` once `kill_after` of them were answered 200, restarts it on the same
    /// data, re-sends every delivery not answered 200 until it is, and checks that each order
    /// is in the outbox exactly once. Returns the new `serve` and what it saw.
    pub async fn crash_round(
        &self,
        client: &reqwest::Client,
        serve: Serve,
        deliveries: Vec<Delivery>,
        concurrency: usize,
        kill_after: usize,
    ) -> (Serve, RoundReport) {
        let mut report = RoundReport {
            deliveries: deliveries.len(),
            ..Default::default()
        };
        let answered = Arc::new(Mutex::new(HashSet::<usize>::new()));
        let next = Arc::new(AtomicUsize::new(0));
        let deliveries = Arc::new(deliveries);
        let base = serve.base.clone();
        let pid = serve.child.id() as i32;
        let kill_after = kill_after.clamp(1, deliveries.len().max(1));
        let mut workers = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (answered, next, deliveries, client, base) = (
                answered.clone(),
                next.clone(),
                deliveries.clone(),
                client.clone(),
                base.clone(),
            );
            // The requests are built here (signatures need the world), sent by the workers.
            let requests: Vec<reqwest::Request> = deliveries
                .iter()
                .map(|d| self.request(&client, &base, d).build().expect("a request"))
                .collect();
            workers.push(tokio::spawn(async move {
                let mut requests: Vec<Option<reqwest::Request>> =
                    requests.into_iter().map(Some).collect();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(slot) = requests.get_mut(i) else {
                        return;
                    };
                    let Some(request) = slot.take() else {
                        continue;
                    };
                    match client.execute(request).await {
                        Ok(r) if r.status() == 200 => {
                            let mut answered = answered.lock().unwrap();
                            answered.insert(i);
                            if answered.len() == kill_after {
                                // SIGKILL mid-burst, right on the answer that reached the
                                // mark: the other workers' requests are in flight.
                                unsafe {
                                    libc::kill(pid, libc::SIGKILL);
                                }
                            }
                        }
                        // Anything else (503, a cut connection after the kill) is re-sent.
                        _ => {}
                    }
                }
            }));
        }
        for worker in workers {
            let _ = worker.await;
        }
        // Killed by the worker that saw the mark (or, had fewer been answered, now).
        serve.kill9();
        let answered = answered.lock().unwrap().clone();
        report.answered_before_kill = answered.len();

        let serve = self.spawn();
        for (i, delivery) in deliveries.iter().enumerate() {
            if answered.contains(&i) {
                continue;
            }
            report.resent += 1;
            // As the channels do: re-send until 200. A 503 means another attempt's claim
            // (the killed one's) still holds the delivery, for at most its 30 s lease.
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let status = self
                    .request(client, &serve.base, delivery)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                if status == 200 {
                    break;
                }
                assert!(
                    status == 503 && Instant::now() < deadline,
                    "{} delivery of order {} answered {status} after the restart",
                    delivery.channel,
                    delivery.order
                );
                report.told_to_retry += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }

        // Every order in the outbox, then a little longer so a duplicate would show up.
        let wanted: HashSet<(String, String)> = deliveries
            .iter()
            .map(|d| (d.channel.to_owned(), d.order.clone()))
            .collect();
        // Long enough for a message the killed consumer had received (30 s visibility) and
        // an order lock it held (60 s lease) to come round again.
        let deadline = Instant::now() + Duration::from_secs(150);
        loop {
            let found = order_messages(client, &serve, &self.token).await;
            let seen: HashSet<(String, String)> = found.iter().cloned().collect();
            if wanted.is_subset(&seen) || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let found = order_messages(client, &serve, &self.token).await;
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for key in found {
            *counts.entry(key).or_default() += 1;
        }
        for ((channel, order), n) in &counts {
            *report.per_channel.entry(channel.clone()).or_default() += n;
            if wanted.contains(&(channel.clone(), order.clone())) && *n > 1 {
                report.duplicated.push(format!("{channel} {order} × {n}"));
            }
        }
        for (channel, order) in &wanted {
            if !counts.contains_key(&(channel.clone(), order.clone())) {
                report.missing.push(format!("{channel} {order}"));
            }
        }
        report.duplicated.sort();
        report.missing.sort();
        (serve, report)
    }
}

/// `(channel, channel_order_id)` of every `order.*` message in the outbox, in order.
pub async fn order_messages(
    client: &reqwest::Client,
    serve: &Serve,
    token: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut after = "0".to_owned();
    loop {
        let page: Value = client
            .get(format!(
                "{}/wms/outbox?after={after}&limit=1000",
                serve.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("the outbox")
            .json()
            .await
            .expect("an outbox page");
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        for m in &messages {
            if m["type"].as_str().is_some_and(|t| t.starts_with("order.")) {
                out.push((
                    m["channel"].as_str().unwrap_or_default().to_owned(),
                    m["channel_order_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ));
            }
        }
        match page["next"].as_str() {
            Some(next) if !messages.is_empty() && next != after => after = next.to_owned(),
            _ => return out,
        }
    }
}

/// Starts `binary serve` on a free port with its data in `data` and the `dev` tenant's
/// `token`; returns once it answers that token. It logs at `CHAOS_LOG` (`error` unless set),
/// with its stdout shown only when `CHAOS_LOG` is set.
pub fn spawn(binary: &Path, data: &Path, token: &str, envs: &[(String, String)]) -> Serve {
    let chaos_log = std::env::var("CHAOS_LOG").ok();
    process::spawn_binary(
        binary,
        data,
        token,
        envs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &process::Logs {
            stdout: chaos_log.is_some(),
            rust_log: chaos_log.unwrap_or_else(|| "error".into()),
        },
    )
}
