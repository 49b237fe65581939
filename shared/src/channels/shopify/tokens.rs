//! Shopify's access tokens for jobs, through the channel-neutral refresher
//! ([`crate::channels::tokens`]): Shopify supplies the pair's shape and the rotation call.

use super::oauth::ShopifyCredentials;
use super::ShopifyClient;
use crate::channels::context::ChannelContext;
use crate::channels::tokens;
use crate::channels::ClientError;
use crate::domain::{Connection, ShopDomain};
use crate::ports::Secret;
use chrono::Utc;
use std::sync::Arc;

pub use crate::channels::tokens::TokenError;

/// Hands out valid access tokens for Shopify connections.
pub struct ShopifyTokens {
    pub client: ShopifyClient,
    pub client_id: String,
    pub client_secret: Secret,
    /// The vault, the leases and `needs_reauth` marking every channel shares.
    pub context: Arc<ChannelContext>,
}

impl ShopifyTokens {
    /// The stored credentials of `connection`, if readable.
    pub async fn stored(
        &self,
        connection: &Connection,
    ) -> Result<Option<ShopifyCredentials>, TokenError> {
        tokens::stored(self, connection).await
    }

    /// Marks `connection` as needing re-authorisation (Shopify refused its credentials), which
    /// stops its jobs until the merchant reconnects (as for every channel: the current record
    /// is re-read, so a settings change made meanwhile is kept).
    pub async fn mark_needs_reauth(&self, connection: &Connection) -> TokenError {
        self.context.mark_needs_reauth(connection).await;
        TokenError::NeedsReauth
    }

    /// A token that is valid now for `connection` (refreshed first when it is about to
    /// expire; see [`crate::channels::tokens`]).
    pub async fn access_token(&self, connection: &Connection) -> Result<Secret, TokenError> {
        tokens::access_token(self, connection).await
    }
}

impl tokens::TokenPair for ShopifyCredentials {
    fn from_secret(secret: &Secret) -> Option<Self> {
        ShopifyCredentials::from_secret(secret)
    }

    fn to_secret(&self) -> Secret {
        ShopifyCredentials::to_secret(self)
    }

    fn access_token(&self) -> &str {
        &self.access_token
    }

    fn needs_refresh(&self, now: chrono::DateTime<Utc>) -> bool {
        ShopifyCredentials::needs_refresh(self, now)
    }

    fn expires_at(&self) -> Option<chrono::DateTime<Utc>> {
        self.expires_at
    }
}

#[async_trait::async_trait]
impl tokens::Refresher for ShopifyTokens {
    type Pair = ShopifyCredentials;

    fn context(&self) -> &ChannelContext {
        &self.context
    }

    /// Shopify rotates an expiring offline token with its refresh token; a custom-app token
    /// has none and is never refreshed.
    async fn rotate(
        &self,
        connection: &Connection,
        current: &ShopifyCredentials,
    ) -> Result<Option<ShopifyCredentials>, ClientError> {
        let Some(refresh_token) = current.refresh_token.as_deref() else {
            return Ok(None);
        };
        let shop = ShopDomain::parse(&connection.shop)
            .map_err(|e| ClientError::Unavailable(e.to_string()))?;
        self.client
            .refresh_token(&shop, &self.client_id, &self.client_secret, refresh_token)
            .await
            .map(Some)
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::domain::Channel;
    use crate::domain::ConnectionStatus;
    use crate::embedded::{EmbeddedStore, EmbeddedVault};
    use crate::ports::{Connections, Vault};
    use serde_json::json;
    use std::time::Duration;
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn setup(
        server: &MockServer,
        dir: &std::path::Path,
        expires_in_mins: i64,
    ) -> (Arc<ShopifyTokens>, Connection) {
        let store = EmbeddedStore::open(dir).unwrap();
        let vault = Arc::new(EmbeddedVault::open(dir).unwrap());
        let now = Utc::now();
        let connection = Connection::fixture("c_tok", Channel::Shopify, "demo.myshopify.com");
        store.create(&connection).await.unwrap();
        let creds = ShopifyCredentials {
            access_token: "shpat_fake_old".into(),
            scope: "read_orders".into(),
            expires_at: Some(now + chrono::Duration::minutes(expires_in_mins)),
            refresh_token: Some("shprt_fake_old".into()),
            refresh_expires_at: None,
            via_oauth: true,
            ..ShopifyCredentials::default()
        };
        vault
            .put(&connection.credentials_name(), &creds.to_secret())
            .await
            .unwrap();
        let context = crate::channels::context::ChannelContext::new(
            &crate::embedded::ports_of(&store, vault),
            Default::default(),
            "",
            Default::default(),
        );
        let tokens = ShopifyTokens {
            client: ShopifyClient::new(Some(server.uri())).unwrap(),
            client_id: "cid".into(),
            client_secret: Secret::new("shpss_fake"),
            context: Arc::new(context),
        };
        (Arc::new(tokens), connection)
    }

    #[tokio::test]
    async fn a_fresh_token_is_used_as_is() {
        let server = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let (tokens, c) = setup(&server, dir.path(), 60).await;
        assert_eq!(
            tokens.access_token(&c).await.unwrap().expose(),
            "shpat_fake_old"
        );
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_rotation() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/admin/oauth/access_token"))
            .and(body_partial_json(
                json!({"grant_type": "refresh_token", "refresh_token": "shprt_fake_old"}),
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(
                        json!({"access_token": "shpat_fake_new", "scope": "read_orders",
                        "expires_in": 3600, "refresh_token": "shprt_fake_new"}),
                    )
                    .set_delay(Duration::from_millis(300)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let (tokens, c) = setup(&server, dir.path(), 2).await;
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (tokens, c) = (tokens.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                tokens.access_token(&c).await.unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().expose(), "shpat_fake_new");
        }
        let stored = ShopifyCredentials::from_secret(
            &tokens
                .context
                .vault
                .get(&c.credentials_name())
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            stored.refresh_token.as_deref(),
            Some("shprt_fake_new"),
            "the rotated pair is persisted"
        );
    }

    #[tokio::test]
    async fn a_rejected_refresh_marks_needs_reauth_and_stops_jobs() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let (tokens, c) = setup(&server, dir.path(), -1).await;
        assert!(matches!(
            tokens.access_token(&c).await,
            Err(TokenError::NeedsReauth)
        ));
        let stored = tokens
            .context
            .connections
            .get(&c.tenant, &c.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, ConnectionStatus::NeedsReauth);
        assert!(matches!(
            tokens.access_token(&stored).await,
            Err(TokenError::NotActive(ConnectionStatus::NeedsReauth))
        ));
    }

    #[tokio::test]
    async fn an_outage_keeps_a_token_that_has_not_expired_yet() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let (tokens, c) = setup(&server, dir.path(), 3).await;
        assert_eq!(
            tokens.access_token(&c).await.unwrap().expose(),
            "shpat_fake_old"
        );
        let dir = tempfile::tempdir().unwrap();
        let (tokens, c) = setup(&server, dir.path(), -1).await;
        assert!(matches!(
            tokens.access_token(&c).await,
            Err(TokenError::Unavailable(_))
        ));
    }
}
