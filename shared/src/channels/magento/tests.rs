//! Magento against wiremock: every mock checks the method, the path, the exact query, and
//! that the request carries a valid OAuth 1.0a HMAC-SHA256 signature ([`Signed`] recomputes
//! it from what the server received).

use super::*;
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::store::{ShipError, ShippedSku, StoreApi, Tracking};
use crate::channels::store_url::{store_client, UrlPolicy};
use crate::domain::Sku;
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const CONSUMER_KEY: &str = "ck-1";
const CONSUMER_SECRET: &str = "cs&/+=\u{e9}";
const TOKEN: &str = "tk-1";
const TOKEN_SECRET: &str = "ts=+/&";

fn creds(server: &MockServer) -> MagentoCredentials {
    MagentoCredentials {
        store_url: server.uri(),
        store_code: "all".into(),
        consumer_key: CONSUMER_KEY.into(),
        consumer_secret: CONSUMER_SECRET.into(),
        access_token: TOKEN.into(),
        access_token_secret: TOKEN_SECRET.into(),
    }
}

fn client_with(timeout: Duration) -> MagentoClient {
    MagentoClient::new(store_client(
        UrlPolicy {
            allow_private: true,
        },
        timeout,
    ))
}

fn client() -> MagentoClient {
    client_with(Duration::from_secs(5))
}

fn store(server: &MockServer) -> MagentoStore {
    MagentoStore::new(client(), creds(server)).unwrap()
}

fn store_url(server: &MockServer) -> StoreUrl {
    StoreUrl::stored(&server.uri()).unwrap()
}

/// Matches only requests whose `Authorization: OAuth …` header is HMAC-SHA256 for these
/// consumer and token keys and whose signature, recomputed from the received method, URL (with
/// its query) and oauth parameters with [`oauth1::signature_base_string`], equals the header's
/// `oauth_signature`. Also used by the channel contract suite's fake Magento.
pub(crate) struct Signed {
    pub consumer_key: &'static str,
    pub consumer_secret: &'static str,
    pub token: &'static str,
    pub token_secret: &'static str,
}

const SIGNED: Signed = Signed {
    consumer_key: CONSUMER_KEY,
    consumer_secret: CONSUMER_SECRET,
    token: TOKEN,
    token_secret: TOKEN_SECRET,
};

impl wiremock::Match for Signed {
    fn matches(&self, request: &Request) -> bool {
        let Some(header) = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if !header.starts_with("OAuth ") || !header.contains("HMAC-SHA256") {
            return false;
        }
        let Some(fields) = oauth1::parse_header(header) else {
            return false;
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (Some(signature), Some(nonce)) = (get("oauth_signature"), get("oauth_nonce")) else {
            return false;
        };
        if nonce.len() < 32
            || !nonce.chars().all(|c| c.is_ascii_alphanumeric())
            || get("oauth_consumer_key").as_deref() != Some(self.consumer_key)
            || get("oauth_token").as_deref() != Some(self.token)
            || get("oauth_version").as_deref() != Some("1.0")
            || get("oauth_timestamp").is_none()
        {
            return false;
        }
        let params: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(k, _)| k != "oauth_signature")
            .collect();
        // wiremock rebuilds `request.url` on `http://localhost`: the client signed the URL
        // with the Host it sent.
        let Some(host) = request.headers.get("host").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let mut url = format!("http://{host}{}", request.url.path());
        if let Some(q) = request.url.query() {
            url.push('?');
            url.push_str(q);
        }
        let base = oauth1::signature_base_string(request.method.as_str(), &url, &params);
        oauth1::sign(&base, self.consumer_secret, self.token_secret) == signature
    }
}

/// Matches when the decoded query is exactly these pairs (in any order).
struct QueryIs(Vec<(String, String)>);

impl wiremock::Match for QueryIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = request
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        got.sort();
        let mut want = self.0.clone();
        want.sort();
        got == want
    }
}

fn query_is(pairs: &[(&str, &str)]) -> QueryIs {
    QueryIs(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn no_query() -> QueryIs {
    QueryIs(Vec::new())
}

/// A signed request to `/rest/all/V1{p}`.
fn on(m: &str, p: &str) -> MockBuilder {
    Mock::given(method(m))
        .and(path(format!("/rest/all/V1{p}")))
        .and(SIGNED)
}

fn json_reply(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn no_route() -> ResponseTemplate {
    json_reply(404, json!({"message": NO_ROUTE}))
}

fn page_size_1() -> QueryIs {
    query_is(&[("searchCriteria[pageSize]", "1")])
}

fn sources_query() -> QueryIs {
    query_is(&[("searchCriteria[pageSize]", "100")])
}

async fn mount_orders_and_products_ok(server: &MockServer) {
    for p in ["/orders", "/products", "/shipments"] {
        on("GET", p)
            .and(page_size_1())
            .respond_with(json_reply(200, json!({"items": [], "total_count": 0})))
            .expect(1)
            .mount(server)
            .await;
    }
}

fn acl_refusal(resource: &str) -> ResponseTemplate {
    json_reply(
        401,
        json!({"message": "The consumer isn't authorized to access %resources.",
               "parameters": {"resources": resource}}),
    )
}

// ---------------------------------------------------------------- credentials

#[test]
fn credentials_round_trip_default_the_store_code_and_never_show_secrets() {
    let secret = Secret::new(
        json!({"store_url": "https://shop.example.com", "consumer_key": "CK", "consumer_secret": "CS-SECRET",
            "access_token": "AT", "access_token_secret": "ATS-SECRET"})
        .to_string(),
    );
    let c = MagentoCredentials::from_secret(&secret).unwrap();
    assert_eq!(c.store_code, "all");
    let debug = format!("{c:?}");
    assert!(debug.contains("shop.example.com"));
    for s in ["CK\"", "CS-SECRET", "AT\"", "ATS-SECRET"] {
        assert!(!debug.contains(s), "{debug}");
    }
    let again = MagentoCredentials::from_secret(&c.to_secret()).unwrap();
    assert_eq!(again.access_token_secret, "ATS-SECRET");
    let err = MagentoCredentials::from_secret(&Secret::new(
        r#"{"store_url": 5, "consumer_secret": "LEAKED"}"#,
    ))
    .unwrap_err();
    assert!(!err.contains("LEAKED"), "{err}");
    let err =
        MagentoCredentials::from_secret(&Secret::new(r#"{"store_url": "LEAKED"}"#)).unwrap_err();
    assert!(!err.contains("LEAKED"), "{err}");
}

#[test]
fn unusable_stored_urls_and_store_codes_are_refused() {
    let mut c = MagentoCredentials {
        store_url: "not a url".into(),
        store_code: "all".into(),
        consumer_key: "a".into(),
        consumer_secret: "b".into(),
        access_token: "c".into(),
        access_token_secret: "d".into(),
    };
    assert!(MagentoStore::new(client(), c.clone()).is_err());
    c.store_url = "https://shop.example.com".into();
    assert!(MagentoStore::new(client(), c.clone()).is_ok());
    c.store_code = "../admin".into();
    assert!(MagentoStore::new(client(), c.clone()).is_err());
    assert!(MagentoInventory::new(client(), c, "default".into()).is_err());
}

// ---------------------------------------------------------------- connection check

#[tokio::test]
async fn connect_finds_msi_sources() {
    let server = MockServer::start().await;
    mount_orders_and_products_ok(&server).await;
    on("GET", "/inventory/sources")
        .and(sources_query())
        .respond_with(json_reply(
            200,
            json!({"items": [
                {"source_code": "default", "name": "Default Source", "enabled": true},
                {"source_code": "wh-east", "name": "East", "enabled": false}
            ], "total_count": 2}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let info = client()
        .check_connection(&store_url(&server), &creds(&server))
        .await
        .unwrap();
    assert!(info.msi);
    assert_eq!(
        info.sources,
        vec![
            Source {
                code: "default".into(),
                name: "Default Source".into(),
                enabled: true
            },
            Source {
                code: "wh-east".into(),
                name: "East".into(),
                enabled: false
            }
        ]
    );
}

#[tokio::test]
async fn connect_without_msi_is_legacy_stock() {
    let server = MockServer::start().await;
    mount_orders_and_products_ok(&server).await;
    on("GET", "/inventory/sources")
        .and(sources_query())
        .respond_with(no_route())
        .expect(2)
        .mount(&server)
        .await;
    let info = client()
        .check_connection(&store_url(&server), &creds(&server))
        .await
        .unwrap();
    assert_eq!(
        info,
        MagentoStoreInfo {
            msi: false,
            sources: vec![]
        }
    );
    assert_eq!(client().sources(&creds(&server)).await.unwrap(), None);
}

#[tokio::test]
async fn connect_acl_refusals_ask_for_resources() {
    let server = MockServer::start().await;
    on("GET", "/orders")
        .and(page_size_1())
        .respond_with(json_reply(200, json!({"items": [], "total_count": 0})))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/products")
        .and(page_size_1())
        .respond_with(json_reply(
            401,
            json!({"message": "The consumer isn't authorized to access %resources.",
                   "parameters": {"resources": "Magento_Catalog::products"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = client()
        .check_connection(&store_url(&server), &creds(&server))
        .await
        .unwrap_err();
    match err {
        ConnectError::InsufficientPermissions(m) => {
            assert!(
                m.contains("grant Sales, Catalog and Inventory resources"),
                "{m}"
            );
            assert!(m.contains("Magento_Catalog::products"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connect_checks_the_shipment_permission() {
    let server = MockServer::start().await;
    for p in ["/orders", "/products"] {
        on("GET", p)
            .and(page_size_1())
            .respond_with(json_reply(200, json!({"items": [], "total_count": 0})))
            .expect(1)
            .mount(&server)
            .await;
    }
    on("GET", "/shipments")
        .and(page_size_1())
        .respond_with(acl_refusal("Magento_Sales::shipment"))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/inventory/sources")
        .respond_with(no_route())
        .expect(0)
        .mount(&server)
        .await;
    let err = client()
        .check_connection(&store_url(&server), &creds(&server))
        .await
        .unwrap_err();
    match err {
        ConnectError::InsufficientPermissions(m) => {
            assert!(m.contains("shipments"), "{m}");
            assert!(m.contains("Magento_Sales::shipment"), "{m}");
        }
        other => panic!("{other:?}"),
    }

    // A revoked token on the shipments step is still wrong credentials.
    let server = MockServer::start().await;
    for p in ["/orders", "/products"] {
        on("GET", p)
            .and(page_size_1())
            .respond_with(json_reply(200, json!({"items": [], "total_count": 0})))
            .mount(&server)
            .await;
    }
    on("GET", "/shipments")
        .and(page_size_1())
        .respond_with(json_reply(401, json!({"message": "The token is revoked"})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        client()
            .check_connection(&store_url(&server), &creds(&server))
            .await,
        Err(ConnectError::WrongCredentials(_))
    ));
}

#[tokio::test]
async fn connect_rejected_or_revoked_credentials() {
    for body in [
        json!({"message": "The signature is invalid. Verify and try again."}),
        json!({"message": "A consumer having the specified key does not exist"}),
        json!({"message": "The token is revoked"}),
    ] {
        let server = MockServer::start().await;
        on("GET", "/orders")
            .and(page_size_1())
            .respond_with(json_reply(401, body))
            .expect(1)
            .mount(&server)
            .await;
        let err = client()
            .check_connection(&store_url(&server), &creds(&server))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ConnectError::WrongCredentials(
                "Magento rejected the integration credentials (consumer key/secret, access token/secret)".into()
            )
        );
    }
    // A 401 that is not even JSON is the same.
    let server = MockServer::start().await;
    on("GET", "/orders")
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        client()
            .check_connection(&store_url(&server), &creds(&server))
            .await,
        Err(ConnectError::WrongCredentials(_))
    ));
}

#[tokio::test]
async fn connect_to_something_that_is_not_magento() {
    for template in [
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/html")
            .set_body_string("<!DOCTYPE html><html><body>WordPress</body></html>"),
        ResponseTemplate::new(404)
            .insert_header("content-type", "text/html")
            .set_body_string("<html>Not Found</html>"),
        json_reply(404, json!({"error": "nope"})),
        json_reply(404, json!("nope")),
        json_reply(200, json!([1, 2])),
    ] {
        let server = MockServer::start().await;
        on("GET", "/orders")
            .and(page_size_1())
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        let err = client()
            .check_connection(&store_url(&server), &creds(&server))
            .await
            .unwrap_err();
        match err {
            ConnectError::NotTheChannel(m) => {
                assert!(
                    m.contains("does not answer like a Magento 2 REST API")
                        && m.contains("/rest/V1"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn connect_with_a_store_code_magento_does_not_route_is_no_api() {
    let server = MockServer::start().await;
    on("GET", "/orders")
        .and(page_size_1())
        .respond_with(no_route())
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        client().check_connection(&store_url(&server), &creds(&server)).await,
        Err(ConnectError::NoApi(m)) if m.contains(NO_ROUTE) && m.contains("store code")
    ));
}

#[tokio::test]
async fn connect_server_errors_and_timeouts_are_unreachable() {
    let server = MockServer::start().await;
    on("GET", "/orders")
        .respond_with(
            ResponseTemplate::new(500)
                .insert_header("content-type", "text/html")
                .set_body_string("<html>There has been an error processing your request</html>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        client().check_connection(&store_url(&server), &creds(&server)).await,
        Err(ConnectError::Unreachable(m)) if m.contains("500")
    ));

    let slow = MockServer::start().await;
    on("GET", "/orders")
        .respond_with(json_reply(200, json!({"items": []})).set_delay(Duration::from_secs(3)))
        .mount(&slow)
        .await;
    assert!(matches!(
        client_with(Duration::from_millis(300))
            .check_connection(&store_url(&slow), &creds(&slow))
            .await,
        Err(ConnectError::Unreachable(m)) if m.contains("in time")
    ));
}

#[tokio::test]
async fn the_signature_matcher_refuses_a_wrong_secret() {
    // Proves `Signed` really recomputes: a server expecting other secrets matches nothing.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(Signed {
            consumer_secret: "other",
            ..SIGNED
        })
        .respond_with(json_reply(200, json!({"items": []})))
        .expect(0)
        .mount(&server)
        .await;
    let result = client()
        .check_connection(&store_url(&server), &creds(&server))
        .await;
    assert!(result.is_err());
}

// ---------------------------------------------------------------- orders

/// The orders search from `from` (and, after a full page, after the order `after`).
fn orders_query(from: &str, after: Option<&str>) -> QueryIs {
    let mut pairs = vec![
        (
            "searchCriteria[filter_groups][0][filters][0][field]",
            "updated_at",
        ),
        ("searchCriteria[filter_groups][0][filters][0][value]", from),
        (
            "searchCriteria[filter_groups][0][filters][0][condition_type]",
            "gteq",
        ),
    ];
    if let Some(id) = after {
        pairs.extend([
            (
                "searchCriteria[filter_groups][1][filters][0][field]",
                "updated_at",
            ),
            ("searchCriteria[filter_groups][1][filters][0][value]", from),
            (
                "searchCriteria[filter_groups][1][filters][0][condition_type]",
                "gt",
            ),
            (
                "searchCriteria[filter_groups][1][filters][1][field]",
                "entity_id",
            ),
            ("searchCriteria[filter_groups][1][filters][1][value]", id),
            (
                "searchCriteria[filter_groups][1][filters][1][condition_type]",
                "gt",
            ),
        ]);
    }
    pairs.extend([
        ("searchCriteria[sortOrders][0][field]", "updated_at"),
        ("searchCriteria[sortOrders][0][direction]", "ASC"),
        ("searchCriteria[sortOrders][1][field]", "entity_id"),
        ("searchCriteria[sortOrders][1][direction]", "ASC"),
        ("searchCriteria[pageSize]", "100"),
        ("searchCriteria[currentPage]", "1"),
    ]);
    query_is(&pairs)
}

fn raw_order(id: u64, items: serde_json::Value) -> serde_json::Value {
    json!({
        "entity_id": id, "increment_id": format!("00000{id}"), "state": "processing", "status": "processing",
        "created_at": "2026-11-20 10:00:00", "updated_at": "2026-11-21 11:30:00",
        "order_currency_code": "USD", "customer_email": "b@example.com",
        "items": items,
        "extension_attributes": {"shipping_assignments": [{"shipping": {"address": {
            "firstname": "Ada", "lastname": "L", "street": ["1 Main St"], "city": "NYC",
            "region_code": "NY", "postcode": "10001", "country_id": "US"}}}]}
    })
}

/// An order updated at `updated_at`, with one line.
fn order_at(id: u64, updated_at: &str) -> serde_json::Value {
    let mut o = raw_order(
        id,
        json!([{"item_id": id * 10, "sku": "MUG", "qty_ordered": 1, "product_type": "simple"}]),
    );
    o["updated_at"] = json!(updated_at);
    o
}

#[tokio::test]
async fn orders_are_keyset_paged_on_updated_at() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 5, 9).unwrap();
    // 1. From `since`: a full page, the configurable mapped once, one unreadable order; the
    //    last order was updated at 09:00:00.
    let mut first: Vec<serde_json::Value> = vec![
        raw_order(
            1,
            json!([
                {"item_id": 10, "sku": "SHIRT-M", "qty_ordered": 2.0, "product_type": "configurable", "parent_item_id": null},
                {"item_id": 11, "sku": "SHIRT-M", "qty_ordered": 1.0, "product_type": "simple", "parent_item_id": 10}
            ]),
        ),
        json!({"entity_id": 2, "created_at": "garbage"}),
    ];
    first[0]["updated_at"] = json!("2026-11-20 08:05:09");
    first.extend((3..=100).map(|id| order_at(id, "2026-11-20 09:00:00")));
    on("GET", "/orders")
        .and(orders_query("2026-11-20 08:05:09", None))
        .respond_with(json_reply(
            200,
            json!({"items": first, "total_count": 5000}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // 2. After order 100 (09:00:00): a full page of orders all of that second → after the
    //    last of them.
    let second: Vec<_> = (200..300)
        .map(|id| order_at(id, "2026-11-20 09:00:00"))
        .collect();
    on("GET", "/orders")
        .and(orders_query("2026-11-20 09:00:00", Some("100")))
        .respond_with(json_reply(
            200,
            json!({"items": second, "total_count": 5000}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // 3. After order 299: short → the walk ends (whatever total_count says).
    let third: Vec<_> = (300..310)
        .map(|id| order_at(id, "2026-11-20 09:00:00"))
        .chain([order_at(310, "2026-11-20 09:30:00")])
        .collect();
    on("GET", "/orders")
        .and(orders_query("2026-11-20 09:00:00", Some("299")))
        .respond_with(json_reply(
            200,
            json!({"items": third, "total_count": 5000}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let store = store(&server);
    let page = store.orders_updated_since(since, None).await.unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("2026-11-20 09:00:00|100"));
    assert_eq!(page.orders.len(), 99);
    let o = &page.orders[0];
    assert_eq!(o.lines.len(), 1);
    assert_eq!(o.lines[0].sku.as_ref().unwrap().as_str(), "SHIRT-M");
    assert_eq!(o.lines[0].quantity, 2);
    assert!(o.hold_reasons.is_empty(), "{:?}", o.hold_reasons);
    assert_eq!(page.skipped.len(), 1);
    assert_eq!(page.skipped[0].0, "2");

    let page = store
        .orders_updated_since(since, page.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 100);
    assert_eq!(page.next_cursor.as_deref(), Some("2026-11-20 09:00:00|299"));

    let page = store
        .orders_updated_since(since, page.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 11);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn orders_map_bundles_to_their_components() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 5, 9).unwrap();
    on("GET", "/orders")
        .and(orders_query("2026-11-20 08:05:09", None))
        .respond_with(json_reply(
            200,
            json!({"items": [raw_order(3, json!([
                {"item_id": 30, "sku": "KIT", "qty_ordered": 1, "product_type": "bundle"},
                {"item_id": 31, "sku": "KIT-A", "qty_ordered": 1, "product_type": "simple", "parent_item_id": 30},
                {"item_id": 32, "sku": "KIT-B", "qty_ordered": 2, "product_type": "simple", "parent_item_id": 30}
            ]))], "total_count": 1}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let page = store(&server)
        .orders_updated_since(since, None)
        .await
        .unwrap();
    assert_eq!(page.next_cursor, None);
    let skus: Vec<_> = page.orders[0]
        .lines
        .iter()
        .map(|l| (l.sku.as_ref().unwrap().as_str().to_owned(), l.quantity))
        .collect();
    assert_eq!(skus, vec![("KIT-A".to_owned(), 1), ("KIT-B".to_owned(), 2)]);
}

#[tokio::test]
async fn orders_errors_are_classified() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 11, 20, 8, 5, 9).unwrap();
    on("GET", "/orders")
        .and(orders_query("2026-11-20 08:05:09", None))
        .respond_with(json_reply(200, json!("not an object")))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/orders")
        .and(orders_query("2026-11-21 00:00:00", None))
        .respond_with(json_reply(401, json!({"message": "The token is revoked"})))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/orders")
        .and(orders_query("2026-11-22 00:00:00", Some("2")))
        .respond_with(acl_refusal("Magento_Sales::actions_view"))
        .expect(1)
        .mount(&server)
        .await;
    let store = store(&server);
    assert!(matches!(
        store.orders_updated_since(since, None).await,
        Err(ClientError::BadResponse(_))
    ));
    assert!(matches!(
        store
            .orders_updated_since(since, Some("2026-11-21 00:00:00"))
            .await,
        Err(ClientError::Unauthorized)
    ));
    // A missing permission is not revoked credentials.
    let acl = store
        .orders_updated_since(since, Some("2026-11-22 00:00:00|2"))
        .await;
    assert!(
        matches!(&acl, Err(ClientError::BadResponse(m)) if m == "the integration lacks access to Magento_Sales::actions_view: grant it in System › Integrations"),
        "{acl:?}"
    );
    for bad in ["abc", "2", "2026-11-21 00:00:00|0"] {
        assert!(matches!(
            store.orders_updated_since(since, Some(bad)).await,
            Err(ClientError::BadResponse(_))
        ));
    }
}

// ---------------------------------------------------------------- listings

#[tokio::test]
async fn listings_are_simple_products_paged() {
    let server = MockServer::start().await;
    let products_query = |page: &str| {
        query_is(&[
            ("searchCriteria[pageSize]", "100"),
            ("searchCriteria[currentPage]", page),
            ("searchCriteria[sortOrders][0][field]", "entity_id"),
            ("searchCriteria[sortOrders][0][direction]", "ASC"),
        ])
    };
    on("GET", "/products")
        .and(products_query("1"))
        .respond_with(json_reply(
            200,
            json!({"items": [
                {"id": 1, "sku": " TEE-1 ", "name": "Tee", "type_id": "simple", "status": 1,
                 "extension_attributes": {"stock_item": {"manage_stock": true}}},
                {"id": 2, "sku": "SHIRT", "name": "Shirt", "type_id": "configurable", "status": 1},
                {"id": 3, "sku": "EBOOK", "name": "Ebook", "type_id": "downloadable", "status": 2,
                 "extension_attributes": {"stock_item": {"manage_stock": false}}},
                {"id": 4, "sku": "KIT", "type_id": "bundle", "status": 1},
                {"id": 5, "sku": "", "name": "No sku", "type_id": "virtual", "status": 1}
            ], "total_count": 101}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/products")
        .and(products_query("2"))
        .respond_with(json_reply(200, json!({"items": [], "total_count": 101})))
        .expect(1)
        .mount(&server)
        .await;
    let store = store(&server);
    let page = store.listings_page(None).await.unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
    assert_eq!(page.listings.len(), 3);
    let tee = &page.listings[0];
    assert_eq!(tee.variant_id, "1");
    assert_eq!(tee.product_id, "1");
    assert_eq!(tee.sku.as_deref(), Some("TEE-1"));
    assert_eq!(tee.inventory_item_id.as_deref(), Some(" TEE-1 "));
    assert!(tee.tracked && tee.sellable);
    assert_eq!(tee.status, "enabled");
    let ebook = &page.listings[1];
    assert!(!ebook.tracked && !ebook.sellable);
    assert_eq!(ebook.status, "disabled");
    let blank = &page.listings[2];
    assert_eq!(blank.sku, None);
    assert_eq!(blank.inventory_item_id, None);
    assert!(blank.tracked);
    let last = store.listings_page(Some("2")).await.unwrap();
    assert_eq!(last.next_cursor, None);
}

#[tokio::test]
async fn listings_acl_refusal_is_not_unauthorized() {
    let server = MockServer::start().await;
    on("GET", "/products")
        .respond_with(acl_refusal("Magento_Catalog::products"))
        .expect(1)
        .mount(&server)
        .await;
    let got = store(&server).listings_page(None).await;
    assert!(
        matches!(&got, Err(ClientError::BadResponse(m)) if m == "the integration lacks access to Magento_Catalog::products: grant it in System › Integrations"),
        "{got:?}"
    );
}

// ---------------------------------------------------------------- tracking

fn shipments_query() -> QueryIs {
    query_is(&[
        (
            "searchCriteria[filter_groups][0][filters][0][field]",
            "order_id",
        ),
        ("searchCriteria[filter_groups][0][filters][0][value]", "42"),
        (
            "searchCriteria[filter_groups][0][filters][0][condition_type]",
            "eq",
        ),
    ])
}

fn ups(number: &str) -> Tracking {
    Tracking {
        company: "UPS".into(),
        number: crate::domain::TrackingNumber::parse(number).unwrap(),
        url: None,
    }
}

fn shippable_order() -> serde_json::Value {
    let mut o = raw_order(
        42,
        json!([
            {"item_id": 100, "sku": "SHIRT-M", "qty_ordered": 2, "product_type": "configurable", "parent_item_id": null},
            {"item_id": 101, "sku": "SHIRT-M", "qty_ordered": 2, "product_type": "simple", "parent_item_id": 100},
            {"item_id": 102, "sku": "MUG", "qty_ordered": 3, "product_type": "simple"}
        ]),
    );
    o["state"] = json!("processing");
    o
}

#[tokio::test]
async fn a_full_shipment_is_created_with_its_tracking() {
    let server = MockServer::start().await;
    on("GET", "/shipments")
        .and(shipments_query())
        .respond_with(json_reply(200, json!({"items": [], "total_count": 0})))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/orders/42")
        .and(no_query())
        .respond_with(json_reply(200, shippable_order()))
        .expect(1)
        .mount(&server)
        .await;
    on("POST", "/order/42/ship")
        .and(no_query())
        .and(body_json(json!({"notify": true, "appendComment": false,
            "tracks": [{"track_number": "1Z999", "title": "UPS", "carrier_code": "ups"}]})))
        .respond_with(json_reply(200, json!(77)))
        .expect(1)
        .mount(&server)
        .await;
    let ids = store(&server)
        .write_tracking("42", None, &ups(" 1Z999 "), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["77".to_owned()]);
}

#[tokio::test]
async fn a_partial_shipment_names_top_level_items_and_other_carriers_are_custom() {
    let server = MockServer::start().await;
    on("GET", "/shipments")
        .and(shipments_query())
        .respond_with(json_reply(
            200,
            json!({"items": [{"entity_id": 5, "tracks": [{"track_number": "OTHER"}]}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/orders/42")
        .respond_with(json_reply(200, shippable_order()))
        .expect(1)
        .mount(&server)
        .await;
    on("POST", "/order/42/ship")
        .and(body_json(json!({"notify": false, "appendComment": false,
            "items": [{"order_item_id": 100, "qty": 1}, {"order_item_id": 102, "qty": 3}],
            "tracks": [{"track_number": "JD0001", "title": "Royal Mail", "carrier_code": "custom"}]})))
        .respond_with(json_reply(200, json!("78")))
        .expect(1)
        .mount(&server)
        .await;
    let lines = [
        ShippedSku {
            sku: "SHIRT-M".into(),
            quantity: 1,
        },
        ShippedSku {
            sku: "MUG".into(),
            quantity: 3,
        },
    ];
    let tracking = Tracking {
        company: "Royal Mail".into(),
        number: crate::domain::TrackingNumber::parse("JD0001").unwrap(),
        url: Some("https://track.example/JD0001".into()),
    };
    let ids = store(&server)
        .write_tracking("42", Some(&lines), &tracking, false)
        .await
        .unwrap();
    assert_eq!(ids, vec!["78".to_owned()]);
    assert_eq!(store::carrier_code("fedex"), "fedex");
    assert_eq!(store::carrier_code("Dhl"), "dhl");
    assert_eq!(store::carrier_code("usps"), "usps");
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_finds_the_first_shipment() {
    let server = MockServer::start().await;
    on("GET", "/shipments")
        .and(shipments_query())
        .respond_with(json_reply(200, json!({"items": [], "total_count": 0})))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/shipments")
        .and(shipments_query())
        .respond_with(json_reply(
            200,
            json!({"items": [{"entity_id": 77, "order_id": 42,
                "tracks": [{"track_number": "1Z999", "carrier_code": "ups"}]}], "total_count": 1}),
        ))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/orders/42")
        .respond_with(json_reply(200, shippable_order()))
        .expect(1)
        .mount(&server)
        .await;
    // The shipment is created, but the answer arrives after the client gave up.
    on("POST", "/order/42/ship")
        .respond_with(json_reply(200, json!(77)).set_delay(Duration::from_secs(2)))
        .expect(1)
        .mount(&server)
        .await;
    let store = MagentoStore::new(client_with(Duration::from_millis(500)), creds(&server)).unwrap();
    let lost = store.write_tracking("42", None, &ups("1Z999"), true).await;
    assert!(
        matches!(lost, Err(ShipError::Client(ClientError::Unavailable(_)))),
        "{lost:?}"
    );
    let ids = store
        .write_tracking("42", None, &ups("1Z999"), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["77".to_owned()]);
}

#[tokio::test]
async fn tracking_refusals_are_permanent() {
    // (A blank number cannot reach the store: `TrackingNumber` refuses it.)
    let server = MockServer::start().await;
    let store = store(&server);

    on("GET", "/shipments")
        .respond_with(json_reply(200, json!({"items": []})))
        .mount(&server)
        .await;
    on("GET", "/orders/404")
        .respond_with(json_reply(404, json!({"message": "The entity that was requested doesn't exist. Verify the entity and try again."})))
        .mount(&server)
        .await;
    let mut cancelled = shippable_order();
    cancelled["state"] = json!("canceled");
    on("GET", "/orders/43")
        .respond_with(json_reply(200, cancelled))
        .mount(&server)
        .await;
    on("GET", "/orders/42")
        .respond_with(json_reply(200, shippable_order()))
        .mount(&server)
        .await;
    on("GET", "/orders/44")
        .respond_with(json_reply(401, json!({"message": "The token is revoked"})))
        .mount(&server)
        .await;
    on("POST", "/order/42/ship")
        .respond_with(json_reply(
            400,
            json!({"message": "Shipment Document Validation Error(s):\n%1", "parameters": ["The order does not allow a shipment to be created."]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        store.write_tracking("404", None, &ups("1Z"), true).await,
        Err(ShipError::Permanent(m)) if m == "the order does not exist on Magento"
    ));
    assert!(matches!(
        store.write_tracking("43", None, &ups("1Z"), true).await,
        Err(ShipError::Permanent(m)) if m.contains("canceled")
    ));
    assert!(matches!(
        store.write_tracking("44", None, &ups("1Z"), true).await,
        Err(ShipError::Client(ClientError::Unauthorized))
    ));
    let unknown = [ShippedSku {
        sku: "NOT-ON-ORDER".into(),
        quantity: 1,
    }];
    assert!(matches!(
        store.write_tracking("42", Some(&unknown), &ups("1Z"), true).await,
        Err(ShipError::Permanent(m)) if m.contains("NOT-ON-ORDER")
    ));
    let refused = store.write_tracking("42", None, &ups("1Z"), true).await;
    assert!(
        matches!(&refused, Err(ShipError::Permanent(m)) if m.contains("does not allow a shipment")),
        "{refused:?}"
    );
    assert!(matches!(
        store.write_tracking("4/2", None, &ups("1Z"), true).await,
        Err(ShipError::Permanent(_))
    ));
}

// ---------------------------------------------------------------- inventory

fn item(sku: &str, quantity: i64) -> PushItem {
    PushItem {
        sku: Sku::parse(sku).unwrap(),
        item: sku.into(),
        quantity,
        change_from: Some(99),
    }
}

fn source_items(items: &[PushItem]) -> serde_json::Value {
    json!({"sourceItems": items.iter().map(|i| {
        let q = i.quantity.max(0);
        json!({"sku": i.item, "source_code": "wh-east", "quantity": q, "status": i32::from(q > 0)})
    }).collect::<Vec<_>>()})
}

fn inventory(server: &MockServer) -> MagentoInventory {
    MagentoInventory::new(client(), creds(server), "wh-east".into()).unwrap()
}

#[tokio::test]
async fn msi_pushes_in_requests_of_twenty() {
    let server = MockServer::start().await;
    let items: Vec<PushItem> = (0..45)
        .map(|i| item(&format!("SKU-{i}"), i64::from(i) - 1))
        .collect();
    for chunk in items.chunks(20) {
        on("POST", "/inventory/source-items")
            .and(no_query())
            .and(body_json(source_items(chunk)))
            .respond_with(json_reply(200, json!([])))
            .expect(1)
            .mount(&server)
            .await;
    }
    let inv = inventory(&server);
    assert_eq!(inv.max_batch(), 20);
    let results = inv.push("run-1", "key-1", &items).await.unwrap();
    assert_eq!(results, vec![ItemResult::Set; 45]);
    // SKU-0 had -1: sent as 0, out of stock.
    let first = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(
        body["sourceItems"][0],
        json!({"sku": "SKU-0", "source_code": "wh-east", "quantity": 0, "status": 0})
    );
}

#[tokio::test]
async fn msi_validation_refusals_reject_the_request_items() {
    let server = MockServer::start().await;
    on("POST", "/inventory/source-items")
        .respond_with(json_reply(
            400,
            json!({"message": "Validation Failed", "errors": [{"message": "Product with SKU \"%1\" does not exist.", "parameters": ["NOPE"]}]}),
        ))
        .expect(3)
        .mount(&server)
        .await;
    let mut blank = item("B", 1);
    blank.item = " ".into();
    let results = inventory(&server)
        .push("r", "k", &[item("A", 1), blank, item("NOPE", 2)])
        .await
        .unwrap();
    assert!(matches!(&results[1], ItemResult::Rejected { code, .. } if code == "no_item"));
    let results = vec![results[0].clone(), results[2].clone()];
    assert_eq!(
        results,
        vec![
            ItemResult::Rejected {
                code: "rejected".into(),
                message: "Validation Failed: Product with SKU \"NOPE\" does not exist.".into()
            };
            2
        ]
    );
}

#[tokio::test]
async fn without_msi_the_legacy_stock_items_are_written() {
    let server = MockServer::start().await;
    on("POST", "/inventory/source-items")
        .respond_with(no_route())
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/stockItems/A%2FB%20C")
        .and(no_query())
        .respond_with(json_reply(
            200,
            json!({"item_id": 7, "product_id": 3, "qty": 1}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    on("PUT", "/products/A%2FB%20C/stockItems/7")
        .and(body_json(
            json!({"stockItem": {"qty": 5, "is_in_stock": true}}),
        ))
        .respond_with(json_reply(200, json!(7)))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/stockItems/GONE")
        .respond_with(json_reply(
            404,
            json!({"message": "The Product with the \"%1\" SKU doesn't exist.", "parameters": ["GONE"]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/stockItems/ZERO")
        .respond_with(json_reply(200, json!({"item_id": "8"})))
        .expect(1)
        .mount(&server)
        .await;
    on("PUT", "/products/ZERO/stockItems/8")
        .and(body_json(
            json!({"stockItem": {"qty": 0, "is_in_stock": false}}),
        ))
        .respond_with(json_reply(200, json!(8)))
        .expect(1)
        .mount(&server)
        .await;
    let results = inventory(&server)
        .push(
            "r",
            "k",
            &[item("A/B C", 5), item("GONE", 1), item("ZERO", -3)],
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], ItemResult::Set);
    assert!(
        matches!(&results[1], ItemResult::Rejected { message, .. } if message.contains("no such product") && message.contains("GONE")),
        "{results:?}"
    );
    assert_eq!(results[2], ItemResult::Set);
}

#[tokio::test]
async fn push_failures_are_classified() {
    let server = MockServer::start().await;
    on("POST", "/inventory/source-items")
        .respond_with(json_reply(401, json!({"message": "The token is revoked"})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    on("POST", "/inventory/source-items")
        .respond_with(json_reply(
            401,
            json!({"message": "The consumer isn't authorized to access %resources.", "parameters": {"resources": "Magento_InventoryApi::source_item"}}),
        ))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    on("POST", "/inventory/source-items")
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>down</html>"))
        .with_priority(3)
        .mount(&server)
        .await;
    let inv = inventory(&server);
    let items = [item("A", 1)];
    assert!(matches!(
        inv.push("r", "k", &items).await,
        Err(PushError::NeedsReauth)
    ));
    assert!(matches!(
        inv.push("r", "k", &items).await,
        Err(PushError::Setup(m)) if m.contains("Magento_InventoryApi::source_item")
    ));
    assert!(matches!(
        inv.push("r", "k", &items).await,
        Err(PushError::Retry(_))
    ));
}

// ---------------------------------------------------------------- ACL refusals in tracking

#[tokio::test]
async fn tracking_acl_refusals_are_permanent_not_unauthorized() {
    let lacks =
        |r: &str| format!("the integration lacks access to {r}: grant it in System › Integrations");
    // The shipments search.
    let server = MockServer::start().await;
    on("GET", "/shipments")
        .and(shipments_query())
        .respond_with(acl_refusal("Magento_Sales::shipment"))
        .expect(1)
        .mount(&server)
        .await;
    let got = store(&server)
        .write_tracking("42", None, &ups("1Z"), true)
        .await;
    assert!(
        matches!(&got, Err(ShipError::Permanent(m)) if *m == lacks("Magento_Sales::shipment")),
        "{got:?}"
    );

    // The order read.
    let server = MockServer::start().await;
    on("GET", "/shipments")
        .respond_with(json_reply(200, json!({"items": []})))
        .mount(&server)
        .await;
    on("GET", "/orders/42")
        .respond_with(acl_refusal("Magento_Sales::actions_view"))
        .expect(1)
        .mount(&server)
        .await;
    let got = store(&server)
        .write_tracking("42", None, &ups("1Z"), true)
        .await;
    assert!(
        matches!(&got, Err(ShipError::Permanent(m)) if *m == lacks("Magento_Sales::actions_view")),
        "{got:?}"
    );

    // The ship request (a 403 and no parameters: the resource is named by us).
    let server = MockServer::start().await;
    on("GET", "/shipments")
        .respond_with(json_reply(200, json!({"items": []})))
        .mount(&server)
        .await;
    on("GET", "/orders/42")
        .respond_with(json_reply(200, shippable_order()))
        .mount(&server)
        .await;
    on("POST", "/order/42/ship")
        .respond_with(json_reply(
            401,
            json!({"message": "The consumer isn't authorized to access %resources."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let got = store(&server)
        .write_tracking("42", None, &ups("1Z"), true)
        .await;
    assert!(
        matches!(&got, Err(ShipError::Permanent(m)) if *m == lacks("shipping (Magento_Sales::ship)")),
        "{got:?}"
    );
}

// ---------------------------------------------------------------- bundles in tracking

fn bundle_order() -> serde_json::Value {
    let mut o = raw_order(
        42,
        json!([
            {"item_id": 200, "sku": "KIT", "qty_ordered": "2.0000", "product_type": "bundle"},
            {"item_id": 201, "sku": "KIT-A", "qty_ordered": "2.0000", "product_type": "simple", "parent_item_id": 200},
            {"item_id": 202, "sku": "KIT-B", "qty_ordered": "4.0000", "product_type": "simple", "parent_item_id": 200},
            {"item_id": 203, "sku": "MUG", "qty_ordered": 1, "product_type": "simple"},
            {"item_id": 204, "sku": "EBOOK", "qty_ordered": 1, "product_type": "downloadable"}
        ]),
    );
    o["state"] = json!("processing");
    o
}

async fn bundle_server() -> MockServer {
    let server = MockServer::start().await;
    on("GET", "/shipments")
        .and(shipments_query())
        .respond_with(json_reply(200, json!({"items": []})))
        .mount(&server)
        .await;
    on("GET", "/orders/42")
        .respond_with(json_reply(200, bundle_order()))
        .mount(&server)
        .await;
    server
}

fn skus(lines: &[(&str, u32)]) -> Vec<ShippedSku> {
    lines
        .iter()
        .map(|(sku, quantity)| ShippedSku {
            sku: (*sku).into(),
            quantity: *quantity,
        })
        .collect()
}

#[tokio::test]
async fn lines_covering_every_shippable_line_ship_the_whole_order() {
    let server = bundle_server().await;
    // No `items`: the whole order, bundle included.
    on("POST", "/order/42/ship")
        .and(body_json(json!({"notify": true, "appendComment": false,
            "tracks": [{"track_number": "1Z1", "title": "UPS", "carrier_code": "ups"}]})))
        .respond_with(json_reply(200, json!(90)))
        .expect(1)
        .mount(&server)
        .await;
    let lines = skus(&[("KIT-A", 2), ("MUG", 1), ("KIT-B", 4)]);
    let ids = store(&server)
        .write_tracking("42", Some(&lines), &ups("1Z1"), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["90".to_owned()]);
}

#[tokio::test]
async fn bundle_components_ship_their_bundle_line_by_whole_bundles() {
    let server = bundle_server().await;
    on("POST", "/order/42/ship")
        .and(body_json(json!({"notify": true, "appendComment": false,
            "items": [{"order_item_id": 200, "qty": 1}],
            "tracks": [{"track_number": "1Z2", "title": "UPS", "carrier_code": "ups"}]})))
        .respond_with(json_reply(200, json!(91)))
        .expect(1)
        .mount(&server)
        .await;
    let store = store(&server);
    let lines = skus(&[("KIT-A", 1), ("KIT-B", 2)]);
    let ids = store
        .write_tracking("42", Some(&lines), &ups("1Z2"), true)
        .await
        .unwrap();
    assert_eq!(ids, vec!["91".to_owned()]);

    // Half a bundle: refused, nothing sent.
    let partial = skus(&[("KIT-A", 1), ("KIT-B", 1), ("MUG", 1)]);
    let got = store
        .write_tracking("42", Some(&partial), &ups("1Z3"), true)
        .await;
    assert!(
        matches!(&got, Err(ShipError::Permanent(m))
            if m.contains("only part of bundle KIT") && m.contains("KIT-B 1 of 2 per bundle")),
        "{got:?}"
    );
}

// ---------------------------------------------------------------- dot segments

#[tokio::test]
async fn dot_skus_are_never_sent() {
    let server = MockServer::start().await;
    let store = store(&server);
    for sku in [".", " .. "] {
        let lines = skus(&[(sku, 1)]);
        let got = store
            .write_tracking("42", Some(&lines), &ups("1Z"), true)
            .await;
        assert!(
            matches!(&got, Err(ShipError::Permanent(m)) if m.contains("cannot be sent")),
            "{got:?}"
        );
    }
    let results = inventory(&server)
        .push("r", "k", &[item(".", 1), item("..", 2)])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    for r in &results {
        assert!(
            matches!(r, ItemResult::Rejected { code, .. } if code == "invalid_sku"),
            "{r:?}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());

    // A legacy store with a dot SKU among good ones: only the good one is sent.
    on("POST", "/inventory/source-items")
        .respond_with(no_route())
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/stockItems/OK")
        .respond_with(json_reply(200, json!({"item_id": 3})))
        .expect(1)
        .mount(&server)
        .await;
    on("PUT", "/products/OK/stockItems/3")
        .respond_with(json_reply(200, json!(3)))
        .expect(1)
        .mount(&server)
        .await;
    let results = inventory(&server)
        .push("r", "k", &[item("..", 1), item("OK", 2)])
        .await
        .unwrap();
    assert!(matches!(&results[0], ItemResult::Rejected { code, .. } if code == "invalid_sku"));
    assert_eq!(results[1], ItemResult::Set);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let sent: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent, source_items(&[item("OK", 2)]));

    assert!(segment(".").is_err());
    assert!(segment("..").is_err());
    assert!(segment(" ").is_err());
    assert_eq!(segment("...").unwrap(), "...");
    assert_eq!(segment(".a").unwrap(), ".a");
}

// ---------------------------------------------------------------- MSI refusals per item

#[tokio::test]
async fn a_refused_msi_request_is_retried_one_item_per_request() {
    let server = MockServer::start().await;
    let items = [item("A", 1), item("BAD", 2), item("C", 3)];
    on("POST", "/inventory/source-items")
        .and(body_json(source_items(&items)))
        .respond_with(json_reply(
            400,
            json!({"message": "Validation Failed", "errors": [{"message": "Product with SKU \"%1\" does not exist.", "parameters": ["BAD"]}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    for ok in [&items[0], &items[2]] {
        on("POST", "/inventory/source-items")
            .and(body_json(source_items(std::slice::from_ref(ok))))
            .respond_with(json_reply(200, json!([])))
            .expect(1)
            .mount(&server)
            .await;
    }
    on("POST", "/inventory/source-items")
        .and(body_json(source_items(&items[1..2])))
        .respond_with(json_reply(
            400,
            json!({"message": "Product with SKU \"%1\" does not exist.", "parameters": ["BAD"]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let results = inventory(&server).push("r", "k", &items).await.unwrap();
    assert_eq!(
        results,
        vec![
            ItemResult::Set,
            ItemResult::Rejected {
                code: "rejected".into(),
                message: "Product with SKU \"BAD\" does not exist.".into()
            },
            ItemResult::Set
        ]
    );
}

// ---------------------------------------------------------------- bounded messages

#[test]
fn error_messages_are_bounded_before_substitution() {
    let huge = "%1".repeat(50_000);
    let param = "p".repeat(10_000);
    let body = json!({
        "message": huge,
        "parameters": vec![param.clone(); 100],
        "errors": vec![json!({"message": "%a %b", "parameters": {"a": param, "b": "x"}}); 100],
    });
    let reply = rest::Reply {
        status: StatusCode::BAD_REQUEST,
        headers: http::HeaderMap::new(),
        body,
    };
    let started = std::time::Instant::now();
    let message = error_message(&reply);
    assert!(started.elapsed() < Duration::from_secs(2));
    // 21 messages (the reply and 20 errors) of at most 300 characters, with separators.
    assert!(message.chars().count() <= 21 * 302, "{}", message.len());
    assert!(message.starts_with("ppp"));

    let bounded = bounded_error(&reply.body);
    assert_eq!(bounded["message"].as_str().unwrap().chars().count(), 300);
    let params = bounded["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 10);
    assert!(params
        .iter()
        .all(|p| p.as_str().unwrap().chars().count() == 200));

    let mut named = serde_json::Map::new();
    for i in 0..50 {
        named.insert(format!("{i}{}", "k".repeat(300)), json!(i));
    }
    let body = json!({"message": "m", "parameters": named, "code": "c"});
    let bounded = bounded_error(&body);
    let named = bounded["parameters"].as_object().unwrap();
    assert_eq!(named.len(), 10);
    assert!(named.keys().all(|k| k.chars().count() <= 200));
    assert_eq!(bounded["code"], "c");
    // A body without a message is left alone.
    let plain = json!({"error": "x"});
    assert_eq!(*bounded_error(&plain), plain);
}

/// Magento has no compare-and-set: a push sets the source's absolute quantity. A batch
/// Magento applied but whose answer was lost (502 after the write) is retried as the same
/// absolute quantities, so applying it twice leaves the source where one write would.
#[tokio::test]
async fn a_retried_source_items_batch_after_a_lost_answer_sets_the_same_absolute_quantities() {
    use std::sync::{Arc, Mutex};
    let server = MockServer::start().await;
    let stock = Arc::new(Mutex::new(std::collections::BTreeMap::from([
        ("A".to_owned(), 10i64),
        ("B".to_owned(), 10),
    ])));
    let bodies = Arc::new(Mutex::new(Vec::<serde_json::Value>::new()));
    let (store, seen) = (stock.clone(), bodies.clone());
    on("POST", "/inventory/source-items")
        .respond_with(move |request: &Request| {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let mut stock = store.lock().unwrap();
            for i in body["sourceItems"].as_array().unwrap() {
                stock.insert(
                    i["sku"].as_str().unwrap().to_owned(),
                    i["quantity"].as_i64().unwrap(),
                );
            }
            let mut seen = seen.lock().unwrap();
            seen.push(body.clone());
            if seen.len() == 1 {
                ResponseTemplate::new(502).set_body_string("Bad Gateway")
            } else {
                json_reply(200, json!([]))
            }
        })
        .expect(2)
        .mount(&server)
        .await;
    let inv = inventory(&server);
    let items = [item("A", 7), item("B", 3)];
    let lost = inv.push("run-1", "key-1", &items).await;
    assert!(matches!(lost, Err(PushError::Retry(_))), "{lost:?}");
    let results = inv.push("run-1", "key-1", &items).await.unwrap();
    assert_eq!(results, vec![ItemResult::Set; 2]);
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies[0], bodies[1], "the retry sends the same batch");
    assert_eq!(bodies[1], source_items(&items));
    assert_eq!(
        *stock.lock().unwrap(),
        std::collections::BTreeMap::from([("A".to_owned(), 7), ("B".to_owned(), 3)])
    );
}
