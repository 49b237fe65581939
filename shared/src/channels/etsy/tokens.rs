//! Etsy's tokens (§3.2): access tokens live one hour and every refresh **rotates** the refresh
//! token. Jobs get a valid token through the channel-neutral refresher
//! ([`crate::channels::tokens`]: one refresher per connection under a lease, the new pair
//! written whole to the vault before it is used, `invalid_grant` → `needs_reauth`). Etsy adds:
//!
//! - a refresh `REFRESH_MARGIN` ahead of expiry;
//! - a lost rotation cannot lock the merchant out: when Etsy refuses the refresh token we sent,
//!   the stored pair is read again first — a refresher whose lease ran out may have stored a
//!   newer pair meanwhile, and that one is used (rotated once more if it must be) instead of
//!   marking the connection. A crash after Etsy rotated but before our write leaves the old
//!   pair stored; Etsy answered a reused refresh token with a fresh pair in etsy/open-api#353
//!   [S], so the next refresh recovers (if Etsy refused it, the merchant reconnects: nothing
//!   else could be done without the lost token);
//! - a 401 "access token is expired" on a call (clocks disagree, Etsy revoked early) refreshes
//!   once under the same lease ([`EtsyTokens::refresh_rejected`]) and sends the call again.

use super::client::{EtsyClient, EXPIRED};
use crate::channels::context::ChannelContext;
use crate::channels::tokens::{self, Refresher, TokenError, TokenPair};
use crate::channels::ClientError;
use crate::domain::Connection;
use crate::ports::{Claim, Secret};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Refresh this long before the access token expires.
pub const REFRESH_MARGIN: ChronoDuration = ChronoDuration::minutes(5);
/// How long a forced refresh holds the connection's refresh lease.
const LEASE: Duration = Duration::from_secs(30);

/// A connection's stored pair (one JSON secret per connection).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct EtsyCredentials {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    /// The shop the tokens are for (also the connection's `shop`).
    pub shop_id: u64,
    pub user_id: u64,
}

impl std::fmt::Debug for EtsyCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EtsyCredentials(shop {}, expires {})",
            self.shop_id, self.expires_at
        )
    }
}

impl EtsyCredentials {
    /// A pair from the token endpoint's answer, received at `now`.
    pub fn from_answer(
        answer: super::client::TokenAnswer,
        shop_id: u64,
        user_id: u64,
        now: DateTime<Utc>,
    ) -> Result<Self, ClientError> {
        if answer.access_token.is_empty() || answer.refresh_token.is_empty() {
            return Err(ClientError::BadResponse(
                "Etsy answered the token request without a token".into(),
            ));
        }
        // Bounded: a hostile or broken answer cannot overflow the clock.
        let secs = answer.expires_in.clamp(0, 90 * 24 * 3600);
        Ok(Self {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            expires_at: now + ChronoDuration::seconds(secs),
            shop_id,
            user_id,
        })
    }
}

impl TokenPair for EtsyCredentials {
    fn from_secret(secret: &Secret) -> Option<Self> {
        serde_json::from_str(secret.expose()).ok()
    }

    fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    fn access_token(&self) -> &str {
        &self.access_token
    }

    fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        self.expires_at - REFRESH_MARGIN <= now
    }

    fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.expires_at)
    }
}

/// Etsy's side of the channel-neutral refresher.
pub struct EtsyTokens {
    pub client: EtsyClient,
    pub context: Arc<ChannelContext>,
}

impl EtsyTokens {
    /// A token valid now for `connection` (see [`crate::channels::tokens::access_token`]).
    pub async fn access_token(&self, connection: &Connection) -> Result<Secret, TokenError> {
        tokens::access_token(self, connection).await
    }

    async fn stored(
        &self,
        connection: &Connection,
    ) -> Result<Option<EtsyCredentials>, ClientError> {
        tokens::stored(self, connection)
            .await
            .map_err(|e| ClientError::Unavailable(e.to_string()))
    }

    async fn rotate_once(
        &self,
        refresh_token: &str,
    ) -> Result<super::client::TokenAnswer, ClientError> {
        let keystring = self.client.config.keystring.clone();
        self.client
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", &keystring),
                ("refresh_token", refresh_token),
            ])
            .await
    }

    /// Etsy refused `rejected` as expired: under the refresh lease, rotate unless another
    /// worker already stored a different access token, write the pair, and hand out the new
    /// token. Waits briefly for a worker holding the lease.
    pub async fn refresh_rejected(
        &self,
        connection: &Connection,
        rejected: &Secret,
    ) -> Result<Secret, TokenError> {
        let lock = crate::keys::refresh_lock(&connection.id);
        let locks = &self.context.locks;
        for _ in 0..20 {
            match locks.claim(&lock, LEASE).await {
                Ok(Claim::Acquired(fence)) => {
                    let result = self.refresh_under_lock(connection, rejected).await;
                    if let Err(e) = locks.release(&lock, &fence).await {
                        tracing::warn!(error = %e, "could not release the refresh lock; it expires");
                    }
                    return result;
                }
                Ok(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if let Ok(Some(pair)) = self.stored(connection).await {
                        if pair.access_token != rejected.expose() {
                            return Ok(Secret::new(pair.access_token));
                        }
                    }
                }
                Err(e) => return Err(TokenError::Unavailable(e.to_string())),
            }
        }
        Err(TokenError::Unavailable(
            "another worker is refreshing the token".into(),
        ))
    }

    async fn refresh_under_lock(
        &self,
        connection: &Connection,
        rejected: &Secret,
    ) -> Result<Secret, TokenError> {
        let unavailable = |e: ClientError| TokenError::Unavailable(e.to_string());
        let Some(pair) = self.stored(connection).await.map_err(unavailable)? else {
            self.context.mark_needs_reauth(connection).await;
            return Err(TokenError::NeedsReauth);
        };
        if pair.access_token != rejected.expose() {
            return Ok(Secret::new(pair.access_token));
        }
        match self.rotate(connection, &pair).await {
            Ok(Some(fresh)) => {
                self.context
                    .vault
                    .put(&connection.credentials_name(), &fresh.to_secret())
                    .await
                    .map_err(|e| TokenError::Unavailable(e.to_string()))?;
                tracing::info!(connection = %connection.id, "access token rotated after Etsy refused it");
                Ok(Secret::new(fresh.access_token))
            }
            Ok(None) => Err(TokenError::Unavailable("no refresh token".into())),
            Err(ClientError::Unauthorized) => {
                self.context.mark_needs_reauth(connection).await;
                Err(TokenError::NeedsReauth)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait::async_trait]
impl Refresher for EtsyTokens {
    type Pair = EtsyCredentials;

    fn context(&self) -> &ChannelContext {
        &self.context
    }

    /// Rotates with the stored refresh token. Refused: if the vault meanwhile holds a pair
    /// with another refresh token (a refresher whose lease ran out stored it), that pair is
    /// the current one — used as is when still fresh, rotated once otherwise.
    async fn rotate(
        &self,
        connection: &Connection,
        current: &EtsyCredentials,
    ) -> Result<Option<EtsyCredentials>, ClientError> {
        let now = Utc::now();
        let answer = match self.rotate_once(&current.refresh_token).await {
            Ok(answer) => answer,
            Err(ClientError::Unauthorized) => {
                let Some(stored) = self.stored(connection).await? else {
                    return Err(ClientError::Unauthorized);
                };
                if stored.refresh_token == current.refresh_token {
                    return Err(ClientError::Unauthorized);
                }
                tracing::info!(connection = %connection.id, "the refresh token was rotated by another worker: using its pair");
                if !stored.needs_refresh(now) {
                    return Ok(Some(stored));
                }
                self.rotate_once(&stored.refresh_token).await?
            }
            Err(e) => return Err(e),
        };
        EtsyCredentials::from_answer(answer, current.shop_id, current.user_id, now).map(Some)
    }
}

/// Authenticated Etsy calls for one connection: a valid token on every call, and one refresh
/// when Etsy says it expired.
pub struct EtsyApi {
    pub client: EtsyClient,
    pub tokens: Arc<EtsyTokens>,
    pub connection: Connection,
}

fn token_error(e: TokenError) -> ClientError {
    match e {
        TokenError::NeedsReauth => ClientError::Unauthorized,
        TokenError::NotActive(s) => ClientError::Unavailable(format!("the connection is {s:?}")),
        TokenError::Unavailable(m) => ClientError::Unavailable(m),
    }
}

impl EtsyApi {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let token = self
            .tokens
            .access_token(&self.connection)
            .await
            .map_err(token_error)?;
        match self
            .client
            .send(&token, method.clone(), path, query, body)
            .await
        {
            Err(ClientError::Unavailable(m)) if m == EXPIRED => {
                let fresh = self
                    .tokens
                    .refresh_rejected(&self.connection, &token)
                    .await
                    .map_err(token_error)?;
                match self.client.send(&fresh, method, path, query, body).await {
                    // Refused twice: not a clock problem.
                    Err(ClientError::Unavailable(m)) if m == EXPIRED => {
                        Err(ClientError::Unauthorized)
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.call(reqwest::Method::GET, path, query, None).await
    }
}

#[async_trait::async_trait]
impl super::carriers::EtsyGet for EtsyApi {
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        EtsyApi::get(self, path, query).await
    }
}
