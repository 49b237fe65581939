//! Etsy's install through the channel-neutral OAuth routes, PKCE checked on the wire.

use super::*;
use crate::channels::testkit::test_registry;
use crate::http::oauth::{router, OAuthDeps};
use crate::ports::{Connections, Tenants};
use axum::http::Request as HttpRequest;
use base64::Engine;
use sha2::Digest;
use tower::ServiceExt;

/// GIVEN a merchant who starts the install WHEN Etsy redirects back with a code THEN the
/// code is exchanged with the verifier whose S256 is the challenge sent (taken once), the
/// shop comes from `users/me`, one connection per shop is created, a second install of the
/// same shop re-activates it, and a replayed callback is refused.
#[tokio::test]
async fn install_start_to_callback_with_pkce_creates_one_connection_per_shop() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
    let tenant = crate::domain::TenantId::parse("dev").unwrap();
    store
        .put_token(&tenant, &crate::http::token_sha256("tok_fake"))
        .await
        .unwrap();
    let channels = test_registry(&store, vault.clone(), Some(server.uri()));
    let deps = Arc::new(OAuthDeps {
        connections: Arc::new(store.clone()),
        tenants: Arc::new(store.clone()),
        vault,
        idempotency: Arc::new(store.clone()),
        channels,
        dashboard_url: "https://wms.example/integrations".into(),
    });
    // Etsy: the token endpoint answers any code whose verifier matches (checked below).
    Mock::given(method("POST"))
        .and(path("/v3/public/oauth/token"))
        .and(header("x-api-key", API_KEY))
        .respond_with(tokens_answer("7.at_inst", "7.rt_inst"))
        .expect(2)
        .mount(&server)
        .await;
    api("GET", "/users/me", "7.at_inst")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"user_id": 7, "shop_id": 4242})),
        )
        .expect(2)
        .mount(&server)
        .await;
    api("GET", "/shops/4242", "7.at_inst")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"shop_name": "AdaMakes"})))
        .expect(2)
        .mount(&server)
        .await;

    let mut connections = Vec::new();
    for round in 0..2 {
        let start = HttpRequest::post("/api/oauth/etsy/start")
            .header("authorization", "Bearer tok_fake")
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = router(deps.clone()).oneshot(start).await.unwrap();
        assert_eq!(answer.status(), 200);
        let bytes = http_body_util::BodyExt::collect(answer.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        let url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
        let q = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        let (state, challenge) = (q("state"), q("code_challenge"));
        assert_eq!(q("code_challenge_method"), "S256");
        let callback = format!("/oauth/etsy/callback?code=code_{round}&state={state}");
        let answer = router(deps.clone())
            .oneshot(
                HttpRequest::get(&callback)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.contains("etsy=connected"), "{location}");
        connections.push(location.split("connection=").nth(1).unwrap().to_owned());
        // The exchange carried this round's code and the verifier of this challenge.
        let requests = server.received_requests().await.unwrap();
        let exchange = requests
            .iter()
            .rev()
            .find(|r| r.url.path() == "/v3/public/oauth/token")
            .unwrap();
        let form: Vec<(String, String)> = form_urlencoded::parse(&exchange.body)
            .into_owned()
            .collect();
        let field = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(field("grant_type"), "authorization_code");
        assert_eq!(field("code"), format!("code_{round}"));
        assert_eq!(
            field("redirect_uri"),
            "https://sync.example/oauth/etsy/callback"
        );
        let verifier = field("code_verifier");
        let s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        assert_eq!(s256, challenge);
        // A replayed callback is refused: the state (and its verifier) were single use.
        let replay = router(deps.clone())
            .oneshot(
                HttpRequest::get(&callback)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(replay.status(), 400);
    }
    assert_eq!(connections[0], connections[1], "one connection per shop");
    let found = store
        .find_by_shop(Channel::Etsy, "4242")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.display_name.as_deref(), Some("AdaMakes"));
}
