//! What the black-box tests of `channel-sync serve` share: the real binary on a free port,
//! stopped like an operator would, and the WMS outbox read over HTTP.
#![allow(dead_code)]

use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Runner {
    pub child: Child,
    pub base: String,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fake(prefix: &str) -> String {
    format!("{prefix}_fake_{}", uuid::Uuid::new_v4().simple())
}

/// Starts `channel-sync serve` on a free port with its data in `data`, the `dev` tenant's
/// `token`, and `envs`; returns once it answers that tenant's token.
///
/// A successful TCP connect alone does not prove the runner is up: between choosing the port
/// and the runner binding it, another test's listener can hold the port for a moment (and the
/// runner then fails to bind it). So the runner must answer `GET /wms/outbox` with `token`
/// (unique per test), and a runner that exits is started again on another port.
pub fn spawn(data: &Path, token: &str, envs: &[(&str, &str)]) -> Runner {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_channel-sync"))
            .arg("serve")
            .envs(envs.iter().copied())
            .env("CHANNEL_SYNC_ADDR", format!("127.0.0.1:{port}"))
            .env("CHANNEL_SYNC_DATA", data)
            .env("CHANNEL_SYNC_DEV_TOKEN", token)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut runner = Runner {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if answers_token(port, token) {
                return runner;
            }
            if let Ok(Some(_)) = runner.child.try_wait() {
                break; // e.g. the port was taken meanwhile: try another one
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if Instant::now() >= deadline {
            panic!("channel-sync serve did not start");
        }
    }
    panic!("channel-sync serve kept exiting at start");
}

/// Whether the server on `port` answers `GET /wms/outbox?after=0` with `token` with a 200.
fn answers_token(port: u16, token: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /wms/outbox?after=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Stops the runner the way an operator would (SIGTERM) and waits for it to exit.
pub fn stop(mut runner: Runner) {
    unsafe {
        libc::kill(runner.child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = runner.child.try_wait() {
            assert!(status.success(), "serve exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("serve did not stop on SIGTERM");
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
