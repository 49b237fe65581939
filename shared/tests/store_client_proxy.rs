//! Issue 15, item 14: a proxy named in the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`) must not carry the guarded store client past its resolver: through a proxy,
//! the proxy resolves the store's host, and the guard never sees the address. Its own test
//! binary, because it sets process-wide environment variables.

use shared::channels::store_url::{store_client, UrlPolicy};
use std::time::Duration;

#[tokio::test]
async fn a_proxy_from_the_environment_does_not_bypass_the_store_url_guard() {
    // A "proxy" on loopback that would forward anything (answers 200 to every request).
    let proxy = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&proxy)
        .await;
    for name in [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
    ] {
        // SAFETY: this test binary runs this one test; no other thread reads the environment.
        unsafe { std::env::set_var(name, proxy.uri()) };
    }
    let strict = store_client(
        UrlPolicy {
            allow_private: false,
        },
        Duration::from_secs(5),
    );
    // A name that resolves nowhere: only a proxy could answer for it.
    let answer = strict.get("http://internal.invalid/wp-json/").send().await;
    assert!(answer.is_err(), "the request went out: {answer:?}");
    assert!(
        proxy.received_requests().await.unwrap().is_empty(),
        "the guarded client used the proxy"
    );
}
