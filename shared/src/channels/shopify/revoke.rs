//! A disconnect's revocation on Shopify: `DELETE /admin/api_permissions/current.json` with
//! the shop's token uninstalls the app that token belongs to, which revokes its tokens and
//! deletes its webhooks (shopify.dev "Uninstall an app with an API call"). Only for stores
//! installed through our app: a merchant's custom-app token belongs to the merchant's app.

use super::oauth::ShopifyCredentials;
use super::ShopifyClient;
use crate::channels::adapter::Revocation;
use crate::channels::ClientError;
use crate::domain::{Connection, ShopDomain};
use crate::ports::Secret;

/// The path that uninstalls the calling app.
pub const UNINSTALL_PATH: &str = "/admin/api_permissions/current.json";

/// What a custom-app connection is told: we cannot (and should not) remove the merchant's app.
pub const CUSTOM_APP: &str = "a custom app's token is the merchant's: uninstall the custom app (or rotate its token) in the Shopify admin to revoke it";

/// Uninstalls our app from the connection's shop, when it was installed through our app.
pub(super) async fn revoke(
    client: &ShopifyClient,
    connection: &Connection,
    credentials: &Secret,
) -> Result<Revocation, ClientError> {
    let Some(creds) = ShopifyCredentials::from_secret(credentials) else {
        return Err(ClientError::BadResponse(
            "the stored credentials are not Shopify's".into(),
        ));
    };
    if !creds.via_oauth {
        return Ok(Revocation::NotRevocable(CUSTOM_APP.into()));
    }
    let shop = ShopDomain::parse(&connection.shop)
        .map_err(|e| ClientError::BadResponse(format!("the connection's shop: {e}")))?;
    let response = client
        .http()
        .delete(client.shop_url(&shop, UNINSTALL_PATH))
        .header("X-Shopify-Access-Token", creds.access_token.as_str())
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| ClientError::Unavailable(e.without_url().to_string()))?;
    match response.status().as_u16() {
        200..=299 => Ok(Revocation::Revoked),
        // The token is refused: the app is uninstalled already (or the token was revoked).
        401 | 403 => Ok(Revocation::Revoked),
        402 | 404 | 423 => Err(ClientError::NotFound),
        429 => Err(ClientError::Throttled {
            retry_after_secs: crate::channels::rest::retry_after(response.headers()),
        }),
        500..=599 => Err(ClientError::Unavailable(format!(
            "HTTP {}",
            response.status()
        ))),
        _ => Err(ClientError::BadResponse(format!(
            "HTTP {}",
            response.status()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn oauth_token() -> Secret {
        let mut creds = ShopifyCredentials::static_token("shpat_fake_revoke", "read_orders");
        creds.via_oauth = true;
        creds.to_secret()
    }

    fn demo() -> Connection {
        Connection::fixture("c_revoke", Channel::Shopify, "demo.myshopify.com")
    }

    #[tokio::test]
    async fn an_app_installed_through_us_is_uninstalled_with_its_own_token() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path(UNINSTALL_PATH))
            .and(header("X-Shopify-Access-Token", "shpat_fake_revoke"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
            .expect(1)
            .mount(&server)
            .await;
        let client = ShopifyClient::new(Some(server.uri())).unwrap();
        let answer = revoke(&client, &demo(), &oauth_token()).await.unwrap();
        assert_eq!(answer, Revocation::Revoked);
    }

    #[tokio::test]
    async fn a_refused_token_is_already_revoked_and_an_outage_is_an_error() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path(UNINSTALL_PATH))
            .respond_with(ResponseTemplate::new(401))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(UNINSTALL_PATH))
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let client = ShopifyClient::new(Some(server.uri())).unwrap();
        assert_eq!(
            revoke(&client, &demo(), &oauth_token()).await.unwrap(),
            Revocation::Revoked
        );
        assert!(matches!(
            revoke(&client, &demo(), &oauth_token()).await,
            Err(ClientError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn a_custom_app_token_is_never_used_to_uninstall_the_merchants_app() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let client = ShopifyClient::new(Some(server.uri())).unwrap();
        let custom = ShopifyCredentials::static_token("shpat_fake_custom", "").to_secret();
        let answer = revoke(&client, &demo(), &custom).await.unwrap();
        assert!(matches!(answer, Revocation::NotRevocable(ref m) if m == CUSTOM_APP));
    }
}
