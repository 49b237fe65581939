//! Webhook secrets kept per connection (with its credentials in the vault): WooCommerce's
//! generated secret, a Shopify custom app's API secret key.
//!
//! Secrets are cached for [`SECRET_TTL`] per connection so a burst of deliveries costs one
//! vault read; a signature that fails against cached secrets is checked once more against a
//! fresh read (the secret may have just been replaced by a reconnect), at most once per
//! [`MIN_REFRESH`] per connection, so forged requests cannot turn into a vault read each.

use super::WebhookRejection;
use crate::domain::{Connection, ConnectionId};
use crate::ports::{Secret, Vault};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a connection's webhook secrets are reused without reading the vault again.
pub const SECRET_TTL: Duration = Duration::from_secs(60);
/// The vault is read again for a failing signature at most this often per connection.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// Cached connections at most (a cache full of stale entries is simply cleared).
const MAX_CACHED: usize = 10_000;

/// Reads a connection's webhook secrets (current first, then previous ones) out of its
/// stored credentials; `Err` when the credentials cannot be read.
pub type ReadSecrets = fn(&Secret) -> Result<Vec<String>, String>;

type Cached = (Instant, Arc<Vec<String>>);

/// The per-connection secrets of one channel, read from the vault and cached.
pub struct ConnectionSecrets {
    vault: Arc<dyn Vault>,
    read: ReadSecrets,
    /// Said when a connection has no secret at all (the delivery is refused with it).
    missing: &'static str,
    cache: Mutex<HashMap<ConnectionId, Cached>>,
}

impl ConnectionSecrets {
    pub fn new(vault: Arc<dyn Vault>, read: ReadSecrets, missing: &'static str) -> Self {
        Self {
            vault,
            read,
            missing,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `check` (a signature check over the delivery) with `connection`'s secrets:
    /// the cached ones, or a fresh read when none are cached or when the cached ones fail
    /// and were not read within [`MIN_REFRESH`].
    pub async fn verify<T>(
        &self,
        connection: &Connection,
        check: impl Fn(&[&str]) -> Result<T, WebhookRejection>,
    ) -> Result<T, WebhookRejection> {
        let run = |secrets: &[String]| {
            let secrets: Vec<&str> = secrets
                .iter()
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .collect();
            if secrets.is_empty() {
                return Err(WebhookRejection::NoSecret(self.missing.into()));
            }
            check(&secrets)
        };
        match self.cached(&connection.id) {
            Some((secrets, recent)) => match run(&secrets) {
                Err(WebhookRejection::BadSignature | WebhookRejection::NoSecret(_)) if !recent => {
                    run(&self.fresh(connection).await?)
                }
                other => other,
            },
            None => run(&self.fresh(connection).await?),
        }
    }

    /// The cached secrets and whether they were read recently (within [`MIN_REFRESH`]).
    fn cached(&self, id: &ConnectionId) -> Option<(Arc<Vec<String>>, bool)> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(id)
            .filter(|(at, _)| at.elapsed() < SECRET_TTL)
            .map(|(at, secrets)| (secrets.clone(), at.elapsed() < MIN_REFRESH))
    }

    async fn fresh(&self, connection: &Connection) -> Result<Arc<Vec<String>>, WebhookRejection> {
        let stored = self
            .vault
            .get(&connection.credentials_name())
            .await
            .map_err(|e| WebhookRejection::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                WebhookRejection::NoSecret("the connection has no credentials: reconnect it".into())
            })?;
        let secrets = Arc::new((self.read)(&stored).map_err(|_| {
            WebhookRejection::NoSecret("the connection's credentials are unreadable".into())
        })?);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(connection.id.clone(), (Instant::now(), secrets.clone()));
        Ok(secrets)
    }

    /// Makes every cached entry `by` older (tests of the refresh rules).
    #[cfg(all(test, feature = "embedded"))]
    pub(crate) fn age_cache(&self, by: Duration) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for (at, _) in cache.values_mut() {
            *at -= by;
        }
    }
}
