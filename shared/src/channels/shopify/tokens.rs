//! Access tokens for jobs: refreshed before they expire, one refresher per connection at a
//! time, each rotated pair persisted whole. A rejected refresh puts the connection in
//! `needs_reauth`, which stops its jobs until the merchant reconnects.

use super::oauth::ShopifyCredentials;
use super::ShopifyClient;
use crate::channels::context::ChannelContext;
use crate::channels::ClientError;
use crate::domain::{Connection, ConnectionStatus, ShopDomain};
use crate::ports::{Claim, Secret};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// Why no token can be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The connection is not active (disconnected, or already waiting for re-authorisation).
    #[error("the connection is {0:?}: no jobs run for it")]
    NotActive(ConnectionStatus),
    /// The merchant must reconnect; the connection was marked `needs_reauth`.
    #[error("Shopify rejected the stored credentials: the store must be reconnected")]
    NeedsReauth,
    /// Try again later.
    #[error("token unavailable: {0}")]
    Unavailable(String),
}

/// Hands out valid access tokens for Shopify connections.
pub struct ShopifyTokens {
    pub client: ShopifyClient,
    pub client_id: String,
    pub client_secret: Secret,
    /// The vault, the leases and `needs_reauth` marking every channel shares.
    pub context: Arc<ChannelContext>,
}

const LOCK_LEASE: Duration = Duration::from_secs(30);

impl ShopifyTokens {
    /// The stored credentials of `connection`, if readable.
    pub async fn stored(
        &self,
        connection: &Connection,
    ) -> Result<Option<ShopifyCredentials>, TokenError> {
        let secret = self
            .context
            .vault
            .get(&connection.credentials_name())
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        Ok(secret.as_ref().and_then(ShopifyCredentials::from_secret))
    }

    /// Marks `connection` as needing re-authorisation (Shopify refused its credentials), which
    /// stops its jobs until the merchant reconnects (as for every channel: the current record
    /// is re-read, so a settings change made meanwhile is kept).
    pub async fn mark_needs_reauth(&self, connection: &Connection) -> TokenError {
        self.context.mark_needs_reauth(connection).await;
        TokenError::NeedsReauth
    }

    /// A token that is valid now for `connection`.
    pub async fn access_token(&self, connection: &Connection) -> Result<Secret, TokenError> {
        if connection.status != ConnectionStatus::Active {
            return Err(TokenError::NotActive(connection.status));
        }
        let Some(creds) = self.stored(connection).await? else {
            return Err(self.mark_needs_reauth(connection).await);
        };
        if !creds.needs_refresh(Utc::now()) {
            return Ok(Secret::new(creds.access_token));
        }
        let lock = crate::keys::refresh_lock(&connection.id);
        match self.context.locks.claim(&lock, LOCK_LEASE).await {
            Ok(Claim::Acquired) => {
                let result = self.refresh(connection).await;
                if let Err(e) = self.context.locks.release(&lock).await {
                    tracing::warn!(error = %e, "could not release the refresh lock; it expires");
                }
                result
            }
            Ok(_) => self.wait_for_other_refresher(connection, &creds).await,
            Err(e) => Err(TokenError::Unavailable(e.to_string())),
        }
    }

    /// Under the lock: re-read (another refresher may have just finished), then rotate.
    async fn refresh(&self, connection: &Connection) -> Result<Secret, TokenError> {
        let Some(creds) = self.stored(connection).await? else {
            return Err(self.mark_needs_reauth(connection).await);
        };
        if !creds.needs_refresh(Utc::now()) {
            return Ok(Secret::new(creds.access_token));
        }
        let Some(refresh_token) = creds.refresh_token.as_deref() else {
            return Ok(Secret::new(creds.access_token));
        };
        let shop = ShopDomain::parse(&connection.shop)
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        match self
            .client
            .refresh_token(&shop, &self.client_id, &self.client_secret, refresh_token)
            .await
        {
            Ok(fresh) => {
                // One secret, written whole: the new access and refresh tokens land together.
                self.context
                    .vault
                    .put(&connection.credentials_name(), &fresh.to_secret())
                    .await
                    .map_err(|e| TokenError::Unavailable(e.to_string()))?;
                tracing::info!(connection = %connection.id, "access token rotated");
                Ok(Secret::new(fresh.access_token))
            }
            Err(ClientError::Unauthorized) => Err(self.mark_needs_reauth(connection).await),
            Err(other) => still_valid(&creds).ok_or(TokenError::Unavailable(other.to_string())),
        }
    }

    async fn wait_for_other_refresher(
        &self,
        connection: &Connection,
        before: &ShopifyCredentials,
    ) -> Result<Secret, TokenError> {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some(creds) = self.stored(connection).await? {
                if !creds.needs_refresh(Utc::now()) {
                    return Ok(Secret::new(creds.access_token));
                }
            }
        }
        still_valid(before).ok_or(TokenError::Unavailable(
            "another worker is refreshing the token".into(),
        ))
    }
}

/// The current token while it has not actually expired (the refresh margin is 5 minutes).
fn still_valid(creds: &ShopifyCredentials) -> Option<Secret> {
    match creds.expires_at {
        Some(at) if at > Utc::now() => Some(Secret::new(creds.access_token.clone())),
        None => Some(Secret::new(creds.access_token.clone())),
        _ => None,
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::domain::Channel;
    use crate::embedded::{EmbeddedStore, EmbeddedVault};
    use crate::ports::{Connections, Vault};
    use serde_json::json;
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
