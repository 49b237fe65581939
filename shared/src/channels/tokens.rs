//! Expiring OAuth tokens, for every channel that has them: a token handed to a job is valid
//! now; 5 minutes (the channel's margin) before expiry one refresher per connection (the lease
//! `refresh#{connection}`) re-reads the pair, rotates it with the channel and writes the new
//! pair whole (access and refresh token land together); others wait for it. A refused refresh
//! marks the connection `needs_reauth`, which stops its jobs until the merchant reconnects. A
//! channel supplies its pair's shape ([`TokenPair`]) and the rotation call ([`Refresher`]).

use super::context::ChannelContext;
use super::ClientError;
use crate::domain::{Connection, ConnectionStatus};
use crate::ports::{Claim, Secret};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long the refresher holds the connection.
const LOCK_LEASE: Duration = Duration::from_secs(30);

/// Why no token can be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The connection is not active (disconnected, or already waiting for re-authorisation).
    #[error("the connection is {0:?}: no jobs run for it")]
    NotActive(ConnectionStatus),
    /// The merchant must reconnect; the connection was marked `needs_reauth`.
    #[error("the channel rejected the stored credentials: the store must be reconnected")]
    NeedsReauth,
    /// Try again later.
    #[error("token unavailable: {0}")]
    Unavailable(String),
}

/// A channel's stored token pair (one JSON secret per connection).
pub trait TokenPair: Sized + Send + Sync {
    fn from_secret(secret: &Secret) -> Option<Self>;
    fn to_secret(&self) -> Secret;
    fn access_token(&self) -> &str;
    /// Whether to rotate now (within the channel's margin before expiry, and rotatable).
    fn needs_refresh(&self, now: DateTime<Utc>) -> bool;
    /// When the access token stops working (`None`: never).
    fn expires_at(&self) -> Option<DateTime<Utc>>;
}

/// How a channel rotates its pair.
#[async_trait::async_trait]
pub trait Refresher: Send + Sync {
    type Pair: TokenPair;

    fn context(&self) -> &ChannelContext;

    /// The rotated pair; `Ok(None)` when the pair cannot be rotated (no refresh token).
    /// `Err(ClientError::Unauthorized)`: the channel refused (→ `needs_reauth`).
    async fn rotate(
        &self,
        connection: &Connection,
        current: &Self::Pair,
    ) -> Result<Option<Self::Pair>, ClientError>;
}

/// The stored pair of `connection`, if readable.
pub async fn stored<R: Refresher>(
    refresher: &R,
    connection: &Connection,
) -> Result<Option<R::Pair>, TokenError> {
    let secret = refresher
        .context()
        .vault
        .get(&connection.credentials_name())
        .await
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    Ok(secret.as_ref().and_then(R::Pair::from_secret))
}

async fn needs_reauth<R: Refresher>(refresher: &R, connection: &Connection) -> TokenError {
    refresher.context().mark_needs_reauth(connection).await;
    TokenError::NeedsReauth
}

/// A token that is valid now for `connection`.
pub async fn access_token<R: Refresher>(
    refresher: &R,
    connection: &Connection,
) -> Result<Secret, TokenError> {
    if connection.status != ConnectionStatus::Active {
        return Err(TokenError::NotActive(connection.status));
    }
    let Some(pair) = stored(refresher, connection).await? else {
        return Err(needs_reauth(refresher, connection).await);
    };
    if !pair.needs_refresh(Utc::now()) {
        return Ok(Secret::new(pair.access_token()));
    }
    let locks = &refresher.context().locks;
    let lock = crate::keys::refresh_lock(&connection.id);
    match locks.claim(&lock, LOCK_LEASE).await {
        Ok(Claim::Acquired(fence)) => {
            let result = refresh(refresher, connection).await;
            if let Err(e) = locks.release(&lock, &fence).await {
                tracing::warn!(error = %e, "could not release the refresh lock; it expires");
            }
            result
        }
        Ok(_) => wait_for_other_refresher(refresher, connection, &pair).await,
        Err(e) => Err(TokenError::Unavailable(e.to_string())),
    }
}

/// Under the lock: re-read (another refresher may have just finished), then rotate.
async fn refresh<R: Refresher>(
    refresher: &R,
    connection: &Connection,
) -> Result<Secret, TokenError> {
    let Some(pair) = stored(refresher, connection).await? else {
        return Err(needs_reauth(refresher, connection).await);
    };
    if !pair.needs_refresh(Utc::now()) {
        return Ok(Secret::new(pair.access_token()));
    }
    match refresher.rotate(connection, &pair).await {
        Ok(Some(fresh)) => {
            // One secret, written whole: the new access and refresh tokens land together.
            refresher
                .context()
                .vault
                .put(&connection.credentials_name(), &fresh.to_secret())
                .await
                .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            tracing::info!(connection = %connection.id, "access token rotated");
            Ok(Secret::new(fresh.access_token()))
        }
        Ok(None) => Ok(Secret::new(pair.access_token())),
        Err(ClientError::Unauthorized) => Err(needs_reauth(refresher, connection).await),
        Err(other) => still_valid(&pair).ok_or(TokenError::Unavailable(other.to_string())),
    }
}

async fn wait_for_other_refresher<R: Refresher>(
    refresher: &R,
    connection: &Connection,
    before: &R::Pair,
) -> Result<Secret, TokenError> {
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(pair) = stored(refresher, connection).await? {
            if !pair.needs_refresh(Utc::now()) {
                return Ok(Secret::new(pair.access_token()));
            }
        }
    }
    still_valid(before).ok_or(TokenError::Unavailable(
        "another worker is refreshing the token".into(),
    ))
}

/// The current token while it has not actually expired (the refresh margin is earlier).
fn still_valid<P: TokenPair>(pair: &P) -> Option<Secret> {
    match pair.expires_at() {
        Some(at) if at <= Utc::now() => None,
        _ => Some(Secret::new(pair.access_token())),
    }
}
