//! eBay against a wiremock eBay that asserts the exact requests: notifications (signed with
//! keys made here), the intake's challenge and refusals, OAuth, token refresh, orders,
//! shipping fulfillments and bulk quantities.

use super::adapter::EbayAdapter;
use super::notify::{self, signing, KEY_TTL};
use super::oauth::{EbayCredentials, EbayOAuth, EbayTokens};
use super::store::EbayStore;
use super::verifier::SIGNATURE_HEADER;
use super::{EbayClient, EbayConfig};
use crate::channels::adapter::{Callback, ChannelAdapter, OAuthApp};
use crate::channels::context::{AppCredentials, ChannelApps, ChannelContext};
use crate::channels::inventory::{ItemResult, PushError, PushItem};
use crate::channels::registry::Registry;
use crate::channels::store::{ShipError, ShippedSku, StoreApi, Tracking};
use crate::channels::store_url::UrlPolicy;
use crate::channels::tokens::TokenError;
use crate::channels::{Interpreted, WebhookRejection, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionStatus, Sku};
use crate::embedded::{EmbeddedStore, EmbeddedVault};
use crate::ports::{Connections, Secret, Vault};
use chrono::{Duration as ChronoDuration, Utc};
use http::HeaderMap;
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_json, body_string, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BASIC: &str = "Basic ZWJheS1jaWQtZmFrZTplYmF5LXNlY3JldC1mYWtl";
const USER: &str = "seller_uid_fake";
const FORM: &str = "application/x-www-form-urlencoded";

/// The fake eBay's application token answer (client credentials, base scope), once.
async fn mount_app_token(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/identity/v1/oauth2/token"))
        .and(header("authorization", BASIC))
        .and(header("content-type", FORM))
        .and(body_string(
            "grant_type=client_credentials&scope=https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "app-token-fake", "expires_in": 7200, "token_type": "Application Access Token"}),
        ))
        .expect(times)
        .named("application token")
        .mount(server)
        .await;
}

/// The public key of `kid`, fetched `times` times with the application token.
async fn mount_key(server: &MockServer, kid: &str, key: &SigningKey, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/commerce/notification/v1/public_key/{kid}")))
        .and(header("authorization", "Bearer app-token-fake"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"key": signing::public_pem(key), "algorithm": "ECDSA", "digest": "SHA1"}),
        ))
        .expect(times)
        .named("public key")
        .mount(server)
        .await;
}

fn verifier(server: &MockServer, ttl: Duration) -> super::verifier::EbayVerifier {
    let client = Arc::new(EbayClient::new(EbayConfig::for_tests(&server.uri())).unwrap());
    super::verifier::EbayVerifier::new(client, "https://sync.example", notify::KeyCache::new(ttl))
}

fn deletion(notification: &str, user: &str) -> Vec<u8> {
    json!({"metadata": {"topic": "MARKETPLACE_ACCOUNT_DELETION", "schemaVersion": "1.0", "deprecated": false},
        "notification": {"notificationId": notification, "eventDate": "2026-11-27T10:00:00.000Z",
            "publishDate": "2026-11-27T10:00:01.000Z", "publishAttemptCount": 1,
            "data": {"username": "gone_user", "userId": user, "eiasToken": "eias-fake"}}})
    .to_string()
    .into_bytes()
}

fn confirmation(notification: &str, order: &str) -> Vec<u8> {
    json!({"metadata": {"topic": "ORDER_CONFIRMATION", "schemaVersion": "1.0", "deprecated": false},
        "notification": {"notificationId": notification, "eventDate": "2026-11-27T10:00:00.000Z",
            "publishDate": "2026-11-27T10:00:01.000Z", "publishAttemptCount": 1,
            "data": {"orderId": order, "sellerId": USER}}})
    .to_string()
    .into_bytes()
}

fn signed(key: &SigningKey, kid: &str, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        SIGNATURE_HEADER,
        signing::header(key, kid, "ecdsa", "SHA1", body)
            .parse()
            .unwrap(),
    );
    headers
}

#[tokio::test]
async fn a_signed_deletion_is_routed_by_user_and_the_key_is_fetched_once() {
    let server = MockServer::start().await;
    let key = signing::key();
    mount_app_token(&server, 1).await;
    mount_key(&server, "kid-1", &key, 1).await;
    let verifier = verifier(&server, KEY_TTL);
    let body = deletion("n-1", "gone_uid");
    let delivery = verifier
        .authenticate(None, &signed(&key, "kid-1", &body), &body)
        .await
        .unwrap();
    assert_eq!(delivery.shop, "gone_uid");
    assert_eq!(delivery.topic, "MARKETPLACE_ACCOUNT_DELETION");
    assert_eq!(delivery.delivery_id, "n-1");
    // A second notification with the same kid: no key fetch (expect(1) above).
    let body = deletion("n-2", "gone_uid");
    let again = verifier
        .authenticate(None, &signed(&key, "kid-1", &body), &body)
        .await
        .unwrap();
    assert_eq!(again.delivery_id, "n-2");
}

#[tokio::test]
async fn tampered_bodies_wrong_algorithms_and_missing_headers_are_refused() {
    let server = MockServer::start().await;
    let key = signing::key();
    mount_app_token(&server, 1).await;
    mount_key(&server, "kid-1", &key, 1).await;
    let verifier = verifier(&server, KEY_TTL);
    let body = deletion("n-1", "gone_uid");
    let headers = signed(&key, "kid-1", &body);
    let tampered = deletion("n-1", "someone_else");
    assert_eq!(
        verifier.authenticate(None, &headers, &tampered).await,
        Err(WebhookRejection::BadSignature)
    );
    let mut rsa = HeaderMap::new();
    rsa.insert(
        SIGNATURE_HEADER,
        signing::header(&key, "kid-1", "rsa", "SHA1", &body)
            .parse()
            .unwrap(),
    );
    assert_eq!(
        verifier.authenticate(None, &rsa, &body).await,
        Err(WebhookRejection::BadSignature)
    );
    assert_eq!(
        verifier.authenticate(None, &HeaderMap::new(), &body).await,
        Err(WebhookRejection::MissingSignature)
    );
    // Signed by another key under the same kid.
    let forged = signed(&signing::key(), "kid-1", &body);
    assert_eq!(
        verifier.authenticate(None, &forged, &body).await,
        Err(WebhookRejection::BadSignature)
    );
}

#[tokio::test]
async fn an_unknown_kid_is_fetched_once_then_refused_from_the_cache() {
    let server = MockServer::start().await;
    mount_app_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/commerce/notification/v1/public_key/kid-forged"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"errors": [{"errorId": 195000}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let verifier = verifier(&server, KEY_TTL);
    let key = signing::key();
    for n in 0..3 {
        let body = deletion(&format!("n-{n}"), "u");
        assert_eq!(
            verifier
                .authenticate(None, &signed(&key, "kid-forged", &body), &body)
                .await,
            Err(WebhookRejection::BadSignature)
        );
    }
}

#[tokio::test]
async fn an_expired_cache_entry_fetches_the_key_again_and_an_outage_is_retryable() {
    let server = MockServer::start().await;
    let key = signing::key();
    mount_app_token(&server, 1).await;
    mount_key(&server, "kid-1", &key, 2).await;
    let verifier = verifier(&server, Duration::ZERO);
    for n in 0..2 {
        let body = deletion(&format!("n-{n}"), "u");
        verifier
            .authenticate(None, &signed(&key, "kid-1", &body), &body)
            .await
            .unwrap();
    }
    // A refusal other than "no such key" is not remembered: the next notification fetches again.
    let flaky = MockServer::start().await;
    mount_app_token(&flaky, 1).await;
    Mock::given(method("GET"))
        .and(path("/commerce/notification/v1/public_key/kid-1"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"errors": []})))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&flaky)
        .await;
    mount_key(&flaky, "kid-1", &key, 1).await;
    let verifier = self::verifier(&flaky, KEY_TTL);
    let body = deletion("n-5", "u");
    assert!(matches!(
        verifier
            .authenticate(None, &signed(&key, "kid-1", &body), &body)
            .await,
        Err(WebhookRejection::Unavailable(_))
    ));
    verifier
        .authenticate(None, &signed(&key, "kid-1", &body), &body)
        .await
        .unwrap();
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let verifier = self::verifier(&down, KEY_TTL);
    let body = deletion("n-9", "u");
    assert!(matches!(
        verifier
            .authenticate(None, &signed(&key, "kid-1", &body), &body)
            .await,
        Err(WebhookRejection::Unavailable(_))
    ));
}

// ---- the intake: challenge, statuses, coalescing ----

struct Fixture {
    store: EmbeddedStore,
    vault: Arc<EmbeddedVault>,
    registry: Arc<Registry>,
    connection: Connection,
    _dir: tempfile::TempDir,
}

/// An embedded store with one active eBay connection for [`USER`] (tokens valid for an
/// hour) and a registry whose eBay API is `server`.
async fn fixture(server: &MockServer) -> Fixture {
    // Read by the registry's eBay adapter (the same value in every test of this module).
    std::env::set_var(
        "EBAY_VERIFICATION_TOKEN",
        "fake-verification-token-0123456789abcdef",
    );
    std::env::set_var("EBAY_RUNAME", "Fake_Co-FakeApp-PRD-runame");
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let apps = ChannelApps::default().with(
        Channel::Ebay,
        AppCredentials {
            client_id: "ebay-cid-fake".into(),
            secrets: vec![Secret::new("ebay-secret-fake")],
            api_base: Some(server.uri()),
        },
    );
    let context = ChannelContext::new(
        &crate::embedded::ports_of(&store, vault.clone()),
        UrlPolicy {
            allow_private: true,
        },
        "https://sync.example",
        apps,
    );
    let registry = Arc::new(Registry::new(context).unwrap());
    let connection = crate::channels::testkit::connection(
        "c_ebay",
        Channel::Ebay,
        USER,
        ConnectionStatus::Active,
    );
    crate::channels::testkit::save_connection(&registry, &connection, &credentials(60).to_secret())
        .await;
    Fixture {
        store,
        vault,
        registry,
        connection,
        _dir: dir,
    }
}

/// Stored credentials whose access token expires in `minutes`.
fn credentials(minutes: i64) -> EbayCredentials {
    let now = Utc::now();
    EbayCredentials {
        access_token: "user-token-fake".into(),
        expires_at: now + ChronoDuration::minutes(minutes),
        refresh_token: "refresh-token-fake".into(),
        refresh_expires_at: now + ChronoDuration::days(500),
        scope: super::oauth::SCOPES.join(" "),
        user_id: USER.into(),
        username: Some("seller_fake".into()),
        marketplace: None,
    }
}

async fn send(
    fixture: &Fixture,
    queue: &crate::embedded::EmbeddedQueue,
    request: http::Request<axum::body::Body>,
) -> (http::StatusCode, Value, HeaderMap) {
    use tower::ServiceExt;
    let deps = Arc::new(crate::http::webhooks::IntakeDeps::new(
        Arc::new(fixture.store.clone()),
        Arc::new(fixture.store.clone()),
        Arc::new(queue.clone()),
        fixture.registry.clone(),
    ));
    let answer = crate::http::webhooks::router(deps)
        .oneshot(request)
        .await
        .unwrap();
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = http_body_util::BodyExt::collect(answer.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
    )
}

fn post(body: &[u8], signature: Option<String>) -> http::Request<axum::body::Body> {
    let mut request =
        http::Request::post("/webhooks/ebay").header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("X-EBAY-SIGNATURE", signature);
    }
    request.body(axum::body::Body::from(body.to_vec())).unwrap()
}

#[tokio::test]
async fn the_intake_answers_the_challenge_with_the_hash_of_code_token_and_endpoint() {
    let server = MockServer::start().await;
    let f = fixture(&server).await;
    let queue = f.store.queue("channel-events", None, 5);
    let request = http::Request::get("/webhooks/ebay?challenge_code=a1b2-c3%2Bd")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body, headers) = send(&f, &queue, request).await;
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    // The code as eBay sent it (decoded), our token, exactly our registered endpoint.
    let expected = notify::challenge_response(
        "a1b2-c3+d",
        "fake-verification-token-0123456789abcdef",
        "https://sync.example/webhooks/ebay",
    );
    assert_eq!(body, json!({"challengeResponse": expected}));
    let missing = http::Request::get("/webhooks/ebay")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        send(&f, &queue, missing).await.0,
        http::StatusCode::BAD_REQUEST
    );
    let shopify = http::Request::get("/webhooks/shopify?challenge_code=x")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        send(&f, &queue, shopify).await.0,
        http::StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_intake_refuses_bad_signatures_412_bad_bodies_400_and_big_ones_413() {
    let server = MockServer::start().await;
    let key = signing::key();
    mount_app_token(&server, 1).await;
    mount_key(&server, "kid-1", &key, 1).await;
    let f = fixture(&server).await;
    let queue = f.store.queue("channel-events", None, 5);
    let body = confirmation("n-1", "12-00001-00001");
    let (status, _, _) = send(&f, &queue, post(&body, None)).await;
    assert_eq!(
        status,
        http::StatusCode::PRECONDITION_FAILED,
        "missing signature"
    );
    let other_body = confirmation("n-1", "12-00001-00002");
    let wrong = signing::header(&key, "kid-1", "ecdsa", "SHA1", &other_body);
    let (status, answer, _) = send(&f, &queue, post(&body, Some(wrong))).await;
    assert_eq!(status, http::StatusCode::PRECONDITION_FAILED, "{answer}");
    let not_json = b"not json at all";
    let header = signing::header(&key, "kid-1", "ecdsa", "SHA1", not_json);
    assert_eq!(
        send(&f, &queue, post(not_json, Some(header))).await.0,
        http::StatusCode::BAD_REQUEST
    );
    let huge = vec![b' '; crate::http::webhooks::MAX_WEBHOOK_BODY + 1];
    let header = signing::header(&key, "kid-1", "ecdsa", "SHA1", &huge);
    assert_eq!(
        send(&f, &queue, post(&huge, Some(header))).await.0,
        http::StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(queue.depth().await.unwrap(), 0, "nothing enqueued");
}

#[tokio::test]
async fn two_line_confirmations_of_one_order_are_recorded_once_and_deletions_of_strangers_acknowledged(
) {
    let server = MockServer::start().await;
    let key = signing::key();
    mount_app_token(&server, 1).await;
    mount_key(&server, "kid-1", &key, 1).await;
    let f = fixture(&server).await;
    let queue = f.store.queue("channel-events", None, 5);
    let mut statuses = Vec::new();
    for notification in ["n-line-1", "n-line-2"] {
        let body = confirmation(notification, "12-00001-00001");
        let header = signing::header(&key, "kid-1", "ecdsa", "SHA1", &body);
        let (status, answer, _) = send(&f, &queue, post(&body, Some(header))).await;
        assert_eq!(status, http::StatusCode::OK);
        statuses.push(answer["status"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(statuses, ["accepted", "duplicate"]);
    assert_eq!(queue.depth().await.unwrap(), 1, "one order re-read queued");
    // Deletion of a user we never knew: acknowledged, nothing queued.
    let body = deletion("n-del", "stranger_uid");
    let header = signing::header(&key, "kid-1", "ecdsa", "SHA1", &body);
    let (status, answer, _) = send(&f, &queue, post(&body, Some(header))).await;
    assert_eq!(status, http::StatusCode::OK, "{answer}");
    assert_eq!(queue.depth().await.unwrap(), 1);
    // Deletion of our seller: queued for the consumer, which disconnects and erases.
    let body = deletion("n-del-2", USER);
    let header = signing::header(&key, "kid-1", "ecdsa", "SHA1", &body);
    assert_eq!(
        send(&f, &queue, post(&body, Some(header))).await.0,
        http::StatusCode::OK
    );
    assert_eq!(queue.depth().await.unwrap(), 2);
    let adapter = f.registry.adapter(Channel::Ebay).unwrap();
    assert_eq!(
        adapter
            .interpret("MARKETPLACE_ACCOUNT_DELETION", &body)
            .unwrap(),
        Interpreted::Uninstalled
    );
    assert_eq!(
        adapter
            .interpret("ORDER_CONFIRMATION", &confirmation("n", "12-00001-00001"))
            .unwrap(),
        Interpreted::Fetch("12-00001-00001".into())
    );
}

// ---- OAuth and tokens ----

#[tokio::test]
async fn the_install_exchanges_the_code_with_basic_credentials_and_reads_the_seller() {
    let server = MockServer::start().await;
    let code = "v^1.1#i^1#r^1#f^0#p^3#I^3#t^Ul41XzM6RkFLRQ==";
    Mock::given(method("POST"))
        .and(path("/identity/v1/oauth2/token"))
        .and(header("authorization", BASIC))
        .and(header("content-type", FORM))
        .and(body_string(format!(
            "grant_type=authorization_code&code={}&redirect_uri=Fake_Co-FakeApp-PRD-runame",
            form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "user-token-fake", "expires_in": 7200,
            "refresh_token": "refresh-token-fake", "refresh_token_expires_in": 47304000,
            "token_type": "User Access Token"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/commerce/identity/v1/user/"))
        .and(header("authorization", "Bearer user-token-fake"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"userId": USER, "username": "seller_fake", "accountType": "BUSINESS"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let app = EbayOAuth {
        client: Arc::new(EbayClient::new(EbayConfig::for_tests(&server.uri())).unwrap()),
        endpoint: "https://sync.example/webhooks/ebay".into(),
    };
    let url = app.authorize_url(
        None,
        "https://sync.example/oauth/ebay/callback",
        "st-1",
        None,
    );
    assert!(url.starts_with("https://auth.ebay.com/oauth2/authorize?client_id=ebay-cid-fake&redirect_uri=Fake_Co-FakeApp-PRD-runame&response_type=code&scope=https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope+https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.fulfillment"), "{url}");
    assert!(url.ends_with("&state=st-1"), "{url}");
    assert!(app.parse_shop(Some("someone")).is_err());
    assert_eq!(
        app.parse_shop(Some("EBAY_GB")).unwrap().as_deref(),
        Some("EBAY_GB")
    );
    assert_eq!(app.parse_shop(None).unwrap(), None);
    let installed = app
        .exchange(
            code,
            Callback {
                query: &[],
                shop: Some("EBAY_GB"),
                redirect_uri: "https://sync.example/oauth/ebay/callback",
                pkce_verifier: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(installed.shop, USER);
    assert_eq!(installed.display_name.as_deref(), Some("seller_fake"));
    let stored = EbayCredentials::from_secret(&installed.credentials).unwrap();
    assert_eq!(stored.refresh_token, "refresh-token-fake");
    assert_eq!(stored.marketplace.as_deref(), Some("EBAY_GB"));
    let life = stored.expires_at - Utc::now();
    assert!(life > ChronoDuration::minutes(110) && life <= ChronoDuration::minutes(120));
    assert!(stored.refresh_expires_at - Utc::now() > ChronoDuration::days(540));
}

#[tokio::test]
async fn a_refused_code_is_an_exchange_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "the code is used"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let app = EbayOAuth {
        client: Arc::new(EbayClient::new(EbayConfig::for_tests(&server.uri())).unwrap()),
        endpoint: "https://sync.example/webhooks/ebay".into(),
    };
    let callback = Callback {
        query: &[],
        shop: None,
        redirect_uri: "",
        pkce_verifier: None,
    };
    assert!(matches!(
        app.exchange("used", callback).await,
        Err(crate::channels::adapter::InstallError::ExchangeFailed(_))
    ));
}

fn tokens(f: &Fixture, server: &MockServer) -> EbayTokens {
    EbayTokens {
        client: Arc::new(EbayClient::new(EbayConfig::for_tests(&server.uri())).unwrap()),
        context: Arc::new(ChannelContext::new(
            &crate::embedded::ports_of(&f.store, f.vault.clone()),
            UrlPolicy {
                allow_private: true,
            },
            "https://sync.example",
            ChannelApps::default(),
        )),
    }
}

#[tokio::test]
async fn an_expiring_user_token_is_refreshed_and_the_refresh_token_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/identity/v1/oauth2/token"))
        .and(header("authorization", BASIC))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token=refresh-token-fake&scope={}",
            form_urlencoded::byte_serialize(super::oauth::SCOPES.join(" ").as_bytes())
                .collect::<String>()
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "user-token-new", "expires_in": 7200})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    f.vault
        .put(
            &f.connection.credentials_name(),
            &credentials(2).to_secret(),
        )
        .await
        .unwrap();
    let tokens = tokens(&f, &server);
    assert_eq!(
        tokens.access_token(&f.connection).await.unwrap().expose(),
        "user-token-new"
    );
    let stored = EbayCredentials::from_secret(
        &f.vault
            .get(&f.connection.credentials_name())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored.access_token, "user-token-new");
    assert_eq!(stored.refresh_token, "refresh-token-fake");
    // Fresh now: no second call (expect(1)).
    assert_eq!(
        tokens.access_token(&f.connection).await.unwrap().expose(),
        "user-token-new"
    );
}

#[tokio::test]
async fn a_revoked_or_expired_refresh_token_puts_the_connection_in_needs_reauth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/identity/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    f.vault
        .put(
            &f.connection.credentials_name(),
            &credentials(-1).to_secret(),
        )
        .await
        .unwrap();
    let tokens = tokens(&f, &server);
    assert!(matches!(
        tokens.access_token(&f.connection).await,
        Err(TokenError::NeedsReauth)
    ));
    let stored = f
        .store
        .get(&f.connection.tenant, &f.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::NeedsReauth);

    // A refresh token past its 18 months is not even sent (the one call above was all).
    let g = fixture(&server).await;
    let mut old = credentials(-1);
    old.refresh_expires_at = Utc::now() - ChronoDuration::days(1);
    g.vault
        .put(&g.connection.credentials_name(), &old.to_secret())
        .await
        .unwrap();
    let tokens = self::tokens(&g, &server);
    assert!(matches!(
        tokens.access_token(&g.connection).await,
        Err(TokenError::NeedsReauth)
    ));
}

// ---- orders ----

fn store(f: &Fixture, server: &MockServer) -> EbayStore {
    let client = Arc::new(EbayClient::new(EbayConfig::for_tests(&server.uri())).unwrap());
    EbayStore {
        tokens: Arc::new(tokens(f, server)),
        client,
        connection: f.connection.clone(),
    }
}

/// Matches the raw query string exactly (wiremock's own matchers decode it).
fn raw_query(expected: &'static str) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| r.url.query() == Some(expected)
}

#[tokio::test]
async fn orders_are_polled_by_last_modified_date_with_encoded_brackets_and_offset_pages() {
    let server = MockServer::start().await;
    let page1: Vec<Value> = (0..200)
        .map(|n| super::order::tests::paid_order(&format!("12-0-{n}"), "2026-11-27T10:00:00.000Z"))
        .collect();
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order"))
        .and(header("authorization", "Bearer user-token-fake"))
        .and(raw_query(
            "filter=lastmodifieddate:%5B2026-11-27T09:00:00.000Z..%5D&limit=200&offset=0",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"orders": page1, "total": 201, "limit": 200, "offset": 0})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order"))
        .and(raw_query("filter=lastmodifieddate:%5B2026-11-27T09:00:00.000Z..%5D&limit=200&offset=200"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "orders": [super::order::tests::paid_order("12-0-200", "2026-11-27T10:00:00.000Z"), {"orderId": "broken"}],
            "total": 201, "limit": 200, "offset": 200})))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let store = store(&f, &server);
    let since = "2026-11-27T09:00:00Z".parse().unwrap();
    let first = store.orders_updated_since(since, None).await.unwrap();
    assert_eq!(first.orders.len(), 200);
    assert_eq!(first.next_cursor.as_deref(), Some("200"));
    let second = store
        .orders_updated_since(since, first.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(second.orders.len(), 1);
    assert_eq!(
        second.skipped.len(),
        1,
        "an unreadable order is reported, not dropped"
    );
    assert_eq!(second.skipped[0].0, "broken");
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn one_order_is_re_read_and_an_unknown_one_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order/12-00001-00001"))
        .and(header("authorization", "Bearer user-token-fake"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(super::order::tests::paid_order(
                "12-00001-00001",
                "2026-11-27T10:00:00.000Z",
            )),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order/12-404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": []})))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let store = store(&f, &server);
    let Some(crate::channels::store::Reread::Order(order)) =
        store.order("12-00001-00001").await.unwrap()
    else {
        panic!("the order must be read")
    };
    assert_eq!(order.lines.len(), 2);
    assert!(store.order("12-404").await.unwrap().is_none());
}

// ---- tracking ----

async fn mount_order(server: &MockServer, fulfillments: Value, reads: u64, times: u64) {
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order/12-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(super::order::tests::paid_order(
                "12-1",
                "2026-11-27T10:00:00.000Z",
            )),
        )
        .expect(reads)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order/12-1/shipping_fulfillment"))
        .and(header("authorization", "Bearer user-token-fake"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"fulfillments": fulfillments, "total": 1})),
        )
        .expect(times)
        .mount(server)
        .await;
}

/// The body of a shipping fulfillment request, without `shippedDate` (the time it is sent).
fn fulfillment_body(expected: Value) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| {
        let Ok(mut body) = serde_json::from_slice::<Value>(&r.body) else {
            return false;
        };
        let dated = body
            .as_object_mut()
            .and_then(|o| o.remove("shippedDate"))
            .and_then(|d| d.as_str().map(str::to_owned))
            .is_some_and(|d| chrono::DateTime::parse_from_rfc3339(&d).is_ok());
        dated && body == expected
    }
}

#[tokio::test]
async fn two_parcels_make_two_fulfillments_with_their_lines_and_carrier_codes() {
    let server = MockServer::start().await;
    mount_order(&server, json!([]), 2, 2).await;
    for (lines, carrier, number) in [
        (
            json!([{"lineItemId": "10001", "quantity": 2}]),
            "RoyalMail",
            "RM1",
        ),
        (
            json!([{"lineItemId": "10002", "quantity": 1}]),
            "Other",
            "ACME2",
        ),
    ] {
        Mock::given(method("POST"))
            .and(path("/sell/fulfillment/v1/order/12-1/shipping_fulfillment"))
            .and(header("authorization", "Bearer user-token-fake"))
            .and(fulfillment_body(json!({"lineItems": lines, "shippingCarrierCode": carrier, "trackingNumber": number})))
            .respond_with(ResponseTemplate::new(201).insert_header(
                "location",
                format!("https://api.ebay.com/sell/fulfillment/v1/order/12-1/shipping_fulfillment/F-{number}"),
            ))
            .expect(1)
            .mount(&server)
            .await;
    }
    let f = fixture(&server).await;
    let store = store(&f, &server);
    let first = store
        .write_tracking(
            "12-1",
            Some(&[ShippedSku {
                sku: "TS-001".into(),
                quantity: 2,
            }]),
            &Tracking {
                company: "Royal Mail".into(),
                number: crate::domain::TrackingNumber::parse("RM1").unwrap(),
                url: None,
            },
            true,
        )
        .await
        .unwrap();
    assert_eq!(first, ["F-RM1"]);
    let second = store
        .write_tracking(
            "12-1",
            Some(&[ShippedSku {
                sku: "MUG-1".into(),
                quantity: 1,
            }]),
            &Tracking {
                company: "Acme Couriers".into(),
                number: crate::domain::TrackingNumber::parse("ACME2").unwrap(),
                url: None,
            },
            true,
        )
        .await
        .unwrap();
    assert_eq!(second, ["F-ACME2"]);
}

#[tokio::test]
async fn a_retry_finds_its_fulfillment_and_creates_none_and_a_refusal_is_permanent() {
    let server = MockServer::start().await;
    mount_order(
        &server,
        json!([{"fulfillmentId": "F-RM1", "shipmentTrackingNumber": "RM1", "lineItems": []}]),
        1,
        2,
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/sell/fulfillment/v1/order/12-1/shipping_fulfillment"))
        .and(fulfillment_body(json!({"lineItems": [{"lineItemId": "10001", "quantity": 2}, {"lineItemId": "10002", "quantity": 1}], "shippingCarrierCode": "UPS", "trackingNumber": "1Z999"})))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"errors": [{"errorId": 32100, "message": "Invalid tracking number."}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let store = store(&f, &server);
    let tracking = Tracking {
        company: "Royal Mail".into(),
        number: crate::domain::TrackingNumber::parse(" rm1 ").unwrap(),
        url: None,
    };
    assert_eq!(
        store
            .write_tracking("12-1", None, &tracking, true)
            .await
            .unwrap(),
        ["F-RM1"]
    );
    let refused = Tracking {
        company: "UPS".into(),
        number: crate::domain::TrackingNumber::parse("1Z999").unwrap(),
        url: None,
    };
    match store.write_tracking("12-1", None, &refused, true).await {
        Err(ShipError::Permanent(reason)) => {
            assert!(reason.contains("Invalid tracking number"), "{reason}")
        }
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
}

// ---- inventory ----

fn item(sku: &str, quantity: i64) -> PushItem {
    PushItem {
        sku: Sku::parse(sku).unwrap(),
        item: sku.into(),
        quantity,
        change_from: None,
    }
}

#[tokio::test]
async fn quantities_go_in_one_bulk_call_with_offers_and_per_item_results() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/offer"))
        .and(raw_query("sku=TS-001"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"offers": [{"offerId": "O-1", "sku": "TS-001"}], "total": 1}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/offer"))
        .and(raw_query("sku=MUG-1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sell/inventory/v1/bulk_update_price_quantity"))
        .and(header("authorization", "Bearer user-token-fake"))
        .and(body_json(json!({"requests": [
            {"sku": "TS-001", "shipToLocationAvailability": {"quantity": 12},
             "offers": [{"offerId": "O-1", "availableQuantity": 12}]},
            {"sku": "MUG-1", "shipToLocationAvailability": {"quantity": 0}}
        ]})))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({"responses": [
            {"statusCode": 200, "sku": "TS-001", "offerId": "O-1"},
            {"statusCode": 400, "sku": "MUG-1", "errors": [{"errorId": 25001, "message": "No inventory item"}]}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let adapter = EbayAdapter::new(
        Arc::new(ChannelContext::new(
            &crate::embedded::ports_of(&f.store, f.vault.clone()),
            UrlPolicy {
                allow_private: true,
            },
            "https://sync.example",
            ChannelApps::default(),
        )),
        EbayConfig::for_tests(&server.uri()),
        KEY_TTL,
    )
    .unwrap();
    let writer = adapter.open_inventory(&f.connection).await.unwrap();
    assert_eq!(writer.max_batch(), 25);
    let results = writer
        .push("run-1", "key-1", &[item("TS-001", 12), item("MUG-1", -3)])
        .await
        .unwrap();
    assert_eq!(results[0], ItemResult::Set);
    assert!(matches!(&results[1], ItemResult::Rejected { code, .. } if code == "25001"));
    let too_many: Vec<PushItem> = (0..26).map(|n| item(&format!("S-{n}"), 1)).collect();
    assert!(matches!(
        writer.push("run-1", "key-2", &too_many).await,
        Err(PushError::Setup(_))
    ));
}

// ---- the order consumer ----

fn import_deps(
    f: &Fixture,
) -> (
    Arc<crate::consumers::order_import::ImportDeps>,
    crate::embedded::EmbeddedQueue,
) {
    let outbox = f.store.queue("wms-orders", None, 5);
    let deps = Arc::new(crate::consumers::order_import::ImportDeps {
        connections: Arc::new(f.store.clone()),
        vault: f.vault.clone(),
        idempotency: Arc::new(f.store.clone()),
        values: Arc::new(f.store.clone()),
        wms_orders: Arc::new(outbox.clone()),
        dead_letter: Arc::new(f.store.queue("dlq", None, 5)),
        inventory: crate::inventory::engine::embedded_live_trigger(&f.store, Default::default()),
        channels: f.registry.clone(),
    });
    (deps, outbox)
}

fn channel_event(topic: &str, delivery: &str, payload: &[u8]) -> String {
    json!({
        "v": 1, "channel": "ebay", "tenant": "dev", "connection": "c_ebay", "shop": USER,
        "topic": topic, "delivery_id": delivery, "received_at": "2026-11-27T10:00:02Z",
        "payload": serde_json::from_slice::<Value>(payload).unwrap()
    })
    .to_string()
}

async fn outbox_types(outbox: &crate::embedded::EmbeddedQueue) -> Vec<String> {
    let tenant = crate::domain::TenantId::parse("dev").unwrap();
    outbox
        .read_after(&tenant, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.body["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_order_confirmation_re_reads_the_order_and_imports_it_once() {
    use crate::consumers::order_import::handle;
    use crate::consumers::Disposition;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order/12-00001-00001"))
        .and(header("authorization", "Bearer user-token-fake"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(super::order::tests::paid_order(
                "12-00001-00001",
                "2026-11-27T10:00:00.000Z",
            )),
        )
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order/12-not-yet"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": []})))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let (deps, outbox) = import_deps(&f);
    let body = confirmation("n-1", "12-00001-00001");
    assert_eq!(
        handle(
            deps.clone(),
            channel_event(
                "ORDER_CONFIRMATION",
                "order-confirmation/12-00001-00001",
                &body
            )
        )
        .await,
        Disposition::Done("order.imported".into())
    );
    // The same order confirmed again (another line's notification after the retention).
    assert_eq!(
        handle(
            deps.clone(),
            channel_event("ORDER_CONFIRMATION", "again", &body)
        )
        .await,
        Disposition::Done("duplicate or stale".into())
    );
    assert_eq!(outbox_types(&outbox).await, ["order.imported"]);
    // eBay does not list it yet: retried, not dropped.
    let early = confirmation("n-2", "12-not-yet");
    assert!(matches!(
        handle(
            deps.clone(),
            channel_event("ORDER_CONFIRMATION", "early", &early)
        )
        .await,
        Disposition::Retry(_)
    ));
}

#[tokio::test]
async fn an_account_deletion_of_our_seller_disconnects_and_erases_the_credentials() {
    use crate::consumers::order_import::handle;
    use crate::consumers::Disposition;
    let server = MockServer::start().await;
    let f = fixture(&server).await;
    let (deps, outbox) = import_deps(&f);
    let body = deletion("n-del", USER);
    assert_eq!(
        handle(
            deps,
            channel_event("MARKETPLACE_ACCOUNT_DELETION", "n-del", &body)
        )
        .await,
        Disposition::Done("disconnected".into())
    );
    assert_eq!(
        f.vault.get(&f.connection.credentials_name()).await.unwrap(),
        None
    );
    let stored = f
        .store
        .get(&f.connection.tenant, &f.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::Disconnected);
    assert_eq!(outbox_types(&outbox).await, ["connection.disconnected"]);
}

// ---- notification subscriptions ----

const DESTINATIONS: &str = "/commerce/notification/v1/destination";
const SUBSCRIPTIONS: &str = "/commerce/notification/v1/subscription";

fn destination_body(status: &str) -> Value {
    json!({"name": "channel-sync", "status": status, "deliveryConfig": {
        "endpoint": "https://sync.example/webhooks/ebay",
        "verificationToken": "fake-verification-token-0123456789abcdef"}})
}

#[tokio::test]
async fn a_new_seller_gets_the_destination_and_an_order_confirmation_subscription() {
    let server = MockServer::start().await;
    mount_app_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(DESTINATIONS))
        .and(header("authorization", "Bearer app-token-fake"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"destinations": [
            {"destinationId": "D-other", "status": "ENABLED", "deliveryConfig": {"endpoint": "https://else.example/hook"}}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(DESTINATIONS))
        .and(header("authorization", "Bearer app-token-fake"))
        .and(body_json(destination_body("ENABLED")))
        .respond_with(ResponseTemplate::new(201).insert_header(
            "location",
            "https://api.ebay.com/commerce/notification/v1/destination/D-1",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SUBSCRIPTIONS))
        .and(header("authorization", "Bearer user-token-fake"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"subscriptions": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SUBSCRIPTIONS))
        .and(header("authorization", "Bearer user-token-fake"))
        .and(body_json(
            json!({"topicId": "ORDER_CONFIRMATION", "status": "ENABLED",
            "destinationId": "D-1",
            "payload": {"format": "JSON", "schemaVersion": "1.0", "deliveryProtocol": "HTTPS"}}),
        ))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let adapter = f.registry.adapter(Channel::Ebay).unwrap();
    let report = adapter
        .ensure_webhooks(&f.connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.created, ["destination", "ORDER_CONFIRMATION"]);
    assert!(report.existing.is_empty() && report.reenabled.is_empty());
}

#[tokio::test]
async fn a_destination_marked_down_and_a_disabled_subscription_are_enabled_not_duplicated() {
    let server = MockServer::start().await;
    mount_app_token(&server, 1).await;
    let ours = json!({"destinationId": "D-1", "status": "MARKED_DOWN",
        "deliveryConfig": {"endpoint": "https://sync.example/webhooks/ebay"}});
    Mock::given(method("GET"))
        .and(path(DESTINATIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"destinations": [ours]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{DESTINATIONS}/D-1")))
        .and(header("authorization", "Bearer app-token-fake"))
        .and(body_json(destination_body("ENABLED")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SUBSCRIPTIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"subscriptions": [
            {"subscriptionId": "S-1", "topicId": "ORDER_CONFIRMATION", "status": "DISABLED", "destinationId": "D-1"}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{SUBSCRIPTIONS}/S-1/enable")))
        .and(header("authorization", "Bearer user-token-fake"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(DESTINATIONS))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SUBSCRIPTIONS))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let adapter = f.registry.adapter(Channel::Ebay).unwrap();
    let report = adapter
        .ensure_webhooks(&f.connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.reenabled, ["destination", "ORDER_CONFIRMATION"]);
    assert!(report.created.is_empty());
}

#[tokio::test]
async fn a_sku_whose_daily_revision_budget_is_used_is_deferred_not_sent() {
    use super::inventory::{DAILY_REVISIONS, REVISION_BUDGET};
    use crate::ports::Records;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/offer"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"offers": []})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sell/inventory/v1/bulk_update_price_quantity"))
        .and(body_json(json!({"requests": [
            {"sku": "FRESH", "shipToLocationAvailability": {"quantity": 4}}
        ]})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"responses": [{"statusCode": 200, "sku": "FRESH"}]})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let f = fixture(&server).await;
    let partition = format!("ebay-revisions#{}", f.connection.id);
    let today = Utc::now().date_naive().to_string();
    f.store
        .put(
            &partition,
            "HOT",
            DAILY_REVISIONS,
            &json!({"day": today, "count": DAILY_REVISIONS}),
        )
        .await
        .unwrap();
    // Yesterday's count does not count today.
    f.store
        .put(
            &partition,
            "FRESH",
            500,
            &json!({"day": "2000-01-01", "count": 500}),
        )
        .await
        .unwrap();
    let writer = f.registry.open_inventory(&f.connection).await.unwrap();
    let results = writer
        .push("run-1", "key-1", &[item("HOT", 3), item("FRESH", 4)])
        .await
        .unwrap();
    assert!(matches!(&results[0], ItemResult::Rejected { code, .. } if code == REVISION_BUDGET));
    assert_eq!(results[1], ItemResult::Set);
    let counted = f.store.fetch(&partition, "FRESH").await.unwrap().unwrap();
    assert_eq!(counted.value["count"], 1);
    assert_eq!(counted.value["day"], today.as_str());
    // Only budget-spent SKUs: no call at all.
    let results = writer
        .push("run-1", "key-2", &[item("HOT", 2)])
        .await
        .unwrap();
    assert!(matches!(&results[0], ItemResult::Rejected { code, .. } if code == REVISION_BUDGET));
    writer
        .push("run-1", "key-3", &[item("FRESH", 4)])
        .await
        .unwrap();
    assert_eq!(
        f.store
            .fetch(&partition, "FRESH")
            .await
            .unwrap()
            .unwrap()
            .value["count"],
        2
    );
}
