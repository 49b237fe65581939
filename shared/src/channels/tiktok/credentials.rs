//! What the vault keeps per TikTok connection (one shop): the seller's token pair, with the
//! expiries TikTok gives as Unix timestamps, and the shop's cipher, region and seller type.
//! Tokens are refreshed ahead of expiry by the channel-neutral refresher
//! ([`crate::channels::tokens`]); a refused refresh marks the connection `needs_reauth`.

use super::client::{AuthorizedShop, TikTokClient, TokenGrant};
use crate::channels::context::ChannelContext;
use crate::channels::tokens::{self, Refresher, TokenError, TokenPair};
use crate::channels::ClientError;
use crate::domain::Connection;
use crate::ports::Secret;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Rotate this long before the access token expires (it lives 7 days; the refresher runs
/// whenever a job needs a token, so a day's margin keeps quiet shops rotated too).
pub const REFRESH_MARGIN: chrono::Duration = chrono::Duration::hours(24);

/// One connection's credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TikTokCredentials {
    pub access_token: String,
    /// Unix seconds.
    pub access_token_expires_at: i64,
    pub refresh_token: String,
    /// Unix seconds: the end of the seller's authorization.
    #[serde(default)]
    pub refresh_token_expires_at: Option<i64>,
    pub shop_cipher: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub seller_type: Option<String>,
}

impl std::fmt::Debug for TikTokCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TikTokCredentials(expires {}, region {:?})",
            self.access_token_expires_at, self.region
        )
    }
}

impl TikTokCredentials {
    /// The credentials of `shop` from a fresh grant.
    pub fn of(grant: &TokenGrant, shop: &AuthorizedShop) -> Self {
        Self {
            access_token: grant.access_token.clone(),
            access_token_expires_at: grant.access_token_expires_at,
            refresh_token: grant.refresh_token.clone(),
            refresh_token_expires_at: grant.refresh_token_expires_at,
            shop_cipher: shop.cipher.clone(),
            region: shop.region.clone(),
            seller_type: shop.seller_type.clone(),
        }
    }

    pub fn from_secret(secret: &Secret) -> Option<Self> {
        serde_json::from_str(secret.expose()).ok()
    }

    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    fn expiry(&self) -> Option<DateTime<Utc>> {
        Utc.timestamp_opt(self.access_token_expires_at, 0).single()
    }
}

impl TokenPair for TikTokCredentials {
    fn from_secret(secret: &Secret) -> Option<Self> {
        TikTokCredentials::from_secret(secret)
    }

    fn to_secret(&self) -> Secret {
        TikTokCredentials::to_secret(self)
    }

    fn access_token(&self) -> &str {
        &self.access_token
    }

    fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        match self.expiry() {
            Some(at) => at - REFRESH_MARGIN <= now,
            None => true,
        }
    }

    fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expiry()
    }
}

/// Hands out valid access tokens (and the shop's cipher) for TikTok connections.
pub struct TikTokTokens {
    pub client: TikTokClient,
    pub context: Arc<ChannelContext>,
}

impl TikTokTokens {
    /// Valid credentials for `connection`: the access token refreshed first when it is within
    /// [`REFRESH_MARGIN`] of expiry.
    pub async fn credentials(
        &self,
        connection: &Connection,
    ) -> Result<TikTokCredentials, TokenError> {
        let token = tokens::access_token(self, connection).await?;
        let Some(mut stored) = tokens::stored(self, connection).await? else {
            self.context.mark_needs_reauth(connection).await;
            return Err(TokenError::NeedsReauth);
        };
        // The token handed out is the valid one even when the stored pair could not be
        // rotated just now (still before its real expiry).
        stored.access_token = token.expose().to_owned();
        Ok(stored)
    }
}

#[async_trait::async_trait]
impl Refresher for TikTokTokens {
    type Pair = TikTokCredentials;

    fn context(&self) -> &ChannelContext {
        &self.context
    }

    async fn rotate(
        &self,
        _connection: &Connection,
        current: &TikTokCredentials,
    ) -> Result<Option<TikTokCredentials>, ClientError> {
        let grant = self
            .client
            .refresh(&current.refresh_token)
            .await
            .map_err(ClientError::from)?;
        Ok(Some(TikTokCredentials {
            access_token: grant.access_token,
            access_token_expires_at: grant.access_token_expires_at,
            refresh_token: grant.refresh_token,
            refresh_token_expires_at: grant
                .refresh_token_expires_at
                .or(current.refresh_token_expires_at),
            ..current.clone()
        }))
    }
}
