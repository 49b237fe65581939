//! Fixtures of the management API's tests (the channel fixtures are in `channels::testkit`).

use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
use crate::domain::ConnectionStatus;

/// The API's bearer token of [`signed_in_shopify`]'s tenant (fake).
pub(crate) const FAKE_API_TOKEN: &str = "cs_fake_token";

/// [`shopify_fixture`] for the management API's tests: active connection `c_1` with a static
/// token, Shopify unreachable (no test here calls it), and the tenant signed in with
/// [`FAKE_API_TOKEN`].
pub(crate) async fn signed_in_shopify(dir: &std::path::Path) -> ShopifyFixture {
    use crate::ports::Tenants;
    let fixture = shopify_fixture(
        dir,
        "c_1",
        ConnectionStatus::Active,
        &ShopifyCredentials::static_token("shpat_fake", ""),
        "http://127.0.0.1:9".into(),
    )
    .await;
    fixture
        .store
        .put_token(
            &fixture.connection.tenant,
            &super::token_sha256(FAKE_API_TOKEN),
        )
        .await
        .unwrap();
    fixture
}
