//! What the black-box tests of `channel-sync serve` share: the real binary on a free port,
//! stopped like an operator would, and the WMS outbox read over HTTP.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

mod process;
#[allow(unused_imports)]
pub use process::{stop, Runner};

pub fn fake(prefix: &str) -> String {
    format!("{prefix}_fake_{}", uuid::Uuid::new_v4().simple())
}

/// Starts `channel-sync serve` on a free port with its data in `data`, the `dev` tenant's
/// `token`, and `envs` (logging at `warn`); returns once it answers that tenant's token.
pub fn spawn(data: &Path, token: &str, envs: &[(&str, &str)]) -> Runner {
    process::spawn_binary(
        Path::new(env!("CARGO_BIN_EXE_channel-sync")),
        data,
        token,
        envs.iter().copied(),
        &process::Logs {
            rust_log: "warn".into(),
            stdout: false,
        },
    )
}

pub async fn outbox(client: &reqwest::Client, runner: &Runner, token: &str) -> Vec<Value> {
    let response = client
        .get(format!("{}/wms/outbox?after=0", runner.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["messages"].as_array().unwrap().clone()
}

/// Waits (up to 15 s) until some outbox message satisfies `found`, and returns it.
pub async fn wait_for_message(
    client: &reqwest::Client,
    runner: &Runner,
    token: &str,
    found: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(m) = outbox(client, runner, token)
            .await
            .into_iter()
            .find(|m| found(m))
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no such outbox message; the outbox holds {:?}",
        outbox(client, runner, token).await
    );
}

/// A data directory, a dev token, a Shopify app secret and a fake Shopify.
pub struct ShopifyEnv {
    pub data: tempfile::TempDir,
    pub token: String,
    pub secret: String,
    pub shopify: wiremock::MockServer,
}

/// A strict fake Shopify: it answers the connect check of `shop` (named `name`) with
/// `access_token` exactly once and refuses anything else with 401 — and the test fails on
/// drop if it was asked anything its test did not mount.
pub async fn strict_shopify(shop: &str, access_token: &str, name: &str) -> ShopifyEnv {
    use local::fakes::shopify;
    let server = wiremock::MockServer::start().await;
    shopify::shop_check(shop, access_token, name)
        .expect(1)
        .named("shop check at connect")
        .mount(&server)
        .await;
    shopify::refuse_the_rest()
        .expect(0)
        .named("anything else")
        .mount(&server)
        .await;
    ShopifyEnv {
        data: tempfile::tempdir().unwrap(),
        token: fake("cs_dev"),
        secret: fake("shpss"),
        shopify: server,
    }
}

/// A fake Shopify's locations query answered with one active location
/// (`gid://shopify/Location/1`), at priority 2 (a test's own priority-1 answer wins): with no
/// fulfilment location set and one active location, every order is the connection's.
pub async fn mount_one_location(shopify: &wiremock::MockServer) {
    local::fakes::shopify::one_location().mount(shopify).await;
}

/// Starts `serve` with the Shopify app configured (`app_secret`, a fake client id, the fake
/// Shopify at `api_base`) and `extra` environment.
pub fn spawn_shopify(
    data: &Path,
    token: &str,
    app_secret: &str,
    api_base: &str,
    extra: &[(&str, &str)],
) -> Runner {
    let mut envs: Vec<(&str, &str)> = vec![
        ("SHOPIFY_CLIENT_SECRET", app_secret),
        ("SHOPIFY_CLIENT_ID", "fake-client-id"),
        ("SHOPIFY_API_BASE", api_base),
    ];
    envs.extend_from_slice(extra);
    spawn(data, token, &envs)
}

/// The connect form of Shopify store `shop` with its Admin API `access_token`.
pub fn shopify_form(shop: &str, access_token: &str) -> Value {
    serde_json::json!({"channel": "shopify", "shop_domain": shop, "access_token": access_token})
}

/// `POST /api/connections` with `form` as `token`; the answer, whatever it is.
pub async fn post_connection(
    client: &reqwest::Client,
    runner: &Runner,
    token: &str,
    form: &Value,
) -> reqwest::Response {
    client
        .post(format!("{}/api/connections", runner.base))
        .bearer_auth(token)
        .json(form)
        .send()
        .await
        .unwrap()
}

/// Connects with `form` as `token`, checks the answer is 201 and returns the connection.
pub async fn connected(
    client: &reqwest::Client,
    runner: &Runner,
    token: &str,
    form: &Value,
) -> Value {
    let response = post_connection(client, runner, token, form).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 201, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Connects with `form` as `token` (201 checked); the connection's id.
pub async fn connected_id(
    client: &reqwest::Client,
    runner: &Runner,
    token: &str,
    form: &Value,
) -> String {
    connected(client, runner, token, form).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /api/connections` as `token`: the listing's body.
pub async fn connections(client: &reqwest::Client, runner: &Runner, token: &str) -> Value {
    client
        .get(format!("{}/api/connections", runner.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `PATCH /api/connections/{id}` with `{"settings": settings}` as `token`; the answer.
pub async fn patch_settings(
    client: &reqwest::Client,
    runner: &Runner,
    token: &str,
    id: &str,
    settings: Value,
) -> reqwest::Response {
    client
        .patch(format!("{}/api/connections/{id}", runner.base))
        .bearer_auth(token)
        .json(&serde_json::json!({ "settings": settings }))
        .send()
        .await
        .unwrap()
}

/// `GET url` as `token`: the answer's JSON body (whatever the status).
pub async fn get_json(client: &reqwest::Client, url: impl reqwest::IntoUrl, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The raw (not percent-decoded) value of `name` in `url`'s query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// The percent-decoded value of `name` in `url`'s query.
pub fn query_value(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The outbox once it holds at least `wanted` messages, read again a little later so that a
/// duplicate would show (15 s at most); with `wanted` 0, the outbox after 3 s.
pub async fn settled(
    client: &reqwest::Client,
    runner: &Runner,
    token: &str,
    wanted: usize,
) -> Vec<Value> {
    if wanted == 0 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return outbox(client, runner, token).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if outbox(client, runner, token).await.len() >= wanted {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            return outbox(client, runner, token).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the outbox never reached {wanted} messages: {:?}",
        outbox(client, runner, token).await
    );
}

/// The requests `server` received with method `verb` on exactly `path`, once there are at
/// least `n` of them (20 s at most).
pub async fn until_requested(
    server: &wiremock::MockServer,
    verb: &str,
    path: &str,
    n: usize,
) -> Vec<wiremock::Request> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = local::fakes::requests_to(server, verb, path).await;
        if seen.len() >= n {
            return seen;
        }
        assert!(Instant::now() < deadline, "never saw {n} × {verb} {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
