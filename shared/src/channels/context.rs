//! What every channel adapter is built from, whatever its channel: the ports it reads and
//! writes (connections, vault, leases), the guarded HTTP client for merchant-hosted stores,
//! our public URL (webhook deliveries, OAuth redirects) and the channels' app credentials.
//! Plus the few steps every channel shares: reading a connection's credentials, marking it
//! `needs_reauth`, and creating or re-activating a connection at connect.

use super::store::ConnectError;
use super::store_url::{StoreUrl, UrlPolicy};
use super::OpenError;
use crate::domain::{
    Channel, Connection, ConnectionId, ConnectionSettings, ConnectionStatus, TenantId,
};
use crate::ports::{
    Connections, CreateOutcome, Idempotency, Ports, Records, Secret, UpdateOutcome, Vault,
};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;

/// One channel app's credentials (OAuth client, webhook signing secret) and API base.
#[derive(Clone, Default)]
pub struct AppCredentials {
    /// The app's client id (empty when the app is not configured).
    pub client_id: String,
    /// Current secret first, then the previous one during a rotation. Empty ones are left out.
    pub secrets: Vec<Secret>,
    /// Replaces the channel's API host (tests, a local fake store). `None`: the real one.
    pub api_base: Option<String>,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AppCredentials({}, {} secret(s))",
            self.client_id,
            self.secrets.len()
        )
    }
}

impl AppCredentials {
    /// Whether both a client id and a secret are set (an OAuth install can run).
    pub fn is_configured(&self) -> bool {
        !self.client_id.is_empty() && !self.secrets.is_empty()
    }

    /// The current secret (empty when unset).
    pub fn current_secret(&self) -> Secret {
        self.secrets
            .first()
            .cloned()
            .unwrap_or_else(|| Secret::new(""))
    }

    /// The app as stored in one Secrets Manager secret per channel app:
    /// `{"client_id", "client_secret", "previous_client_secret"?}`.
    pub fn parse(channel: Channel, secret: &Secret) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Stored {
            #[serde(default)]
            client_id: String,
            client_secret: String,
            #[serde(default)]
            previous_client_secret: Option<String>,
        }
        let stored: Stored = serde_json::from_str(secret.expose())
            .map_err(|_| format!("the {channel} app secret is not JSON with a client_secret"))?;
        if stored.client_secret.is_empty() {
            return Err(format!(
                "the {channel} app secret has an empty client_secret"
            ));
        }
        Ok(Self {
            client_id: stored.client_id,
            secrets: std::iter::once(stored.client_secret)
                .chain(stored.previous_client_secret)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect(),
            api_base: None,
        })
    }
}

/// Every channel app's credentials, loaded once at start (`serve`: the environment; AWS: one
/// Secrets Manager secret per channel app). A channel without an entry has no app configured.
#[derive(Clone, Debug, Default)]
pub struct ChannelApps {
    apps: HashMap<Channel, AppCredentials>,
}

impl ChannelApps {
    pub fn with(mut self, channel: Channel, app: AppCredentials) -> Self {
        self.apps.insert(channel, app);
        self
    }

    /// The channel's app (an unconfigured one when absent).
    pub fn get(&self, channel: Channel) -> AppCredentials {
        self.apps.get(&channel).cloned().unwrap_or_default()
    }

    /// From the environment, for every channel `NAME`: `NAME_CLIENT_ID`, `NAME_CLIENT_SECRET`,
    /// `NAME_PREVIOUS_CLIENT_SECRET`, `NAME_API_BASE` (e.g. `SHOPIFY_CLIENT_SECRET`).
    pub fn from_env(channels: impl IntoIterator<Item = Channel>) -> Self {
        let var = |name: String| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut apps = Self::default();
        for channel in channels {
            let prefix = channel.as_str().to_ascii_uppercase();
            let app = AppCredentials {
                client_id: var(format!("{prefix}_CLIENT_ID")).unwrap_or_default(),
                secrets: [
                    var(format!("{prefix}_CLIENT_SECRET")),
                    var(format!("{prefix}_PREVIOUS_CLIENT_SECRET")),
                ]
                .into_iter()
                .flatten()
                .map(Secret::new)
                .collect(),
                api_base: var(format!("{prefix}_API_BASE")),
            };
            apps = apps.with(channel, app);
        }
        apps
    }
}

/// What every adapter is built from.
pub struct ChannelContext {
    pub connections: Arc<dyn Connections>,
    pub vault: Arc<dyn Vault>,
    /// Leases (token refresh: one refresher per connection).
    pub locks: Arc<dyn Idempotency>,
    /// Records a channel keeps for itself (Shopify: what each shipment planned, so a retry
    /// re-sends the same plan).
    pub records: Arc<dyn Records>,
    /// Small named values (the jobs' last runs: a reconnect enrolls the connection again).
    pub values: Arc<dyn crate::ports::KeyValue>,
    /// For merchant-hosted stores (WooCommerce, Magento): built by
    /// [`super::store_url::store_client`], so it never reaches private addresses (outside the
    /// documented test switch) and never follows redirects.
    pub http: reqwest::Client,
    /// Which store URLs merchants may connect: the policy `http` was built with.
    pub policy: UrlPolicy,
    /// Where channels reach us (`CHANNEL_SYNC_PUBLIC_URL`), without a trailing `/`.
    pub public_url: String,
    pub apps: ChannelApps,
}

impl ChannelContext {
    /// A context on `ports` whose guarded client follows `policy`.
    pub fn new(ports: &Ports, policy: UrlPolicy, public_url: &str, apps: ChannelApps) -> Self {
        Self {
            connections: ports.connections.clone(),
            vault: ports.vault.clone(),
            locks: ports.idempotency.clone(),
            records: ports.records.clone(),
            values: ports.values.clone(),
            http: super::store_url::store_client(policy, super::store_url::REQUEST_TIMEOUT),
            policy,
            public_url: public_url.trim_end_matches('/').to_owned(),
            apps,
        }
    }

    /// Where a channel delivers webhooks signed with the connection's own secret.
    pub fn delivery_url(&self, connection: &Connection) -> String {
        format!(
            "{}/webhooks/{}/{}",
            self.public_url, connection.channel, connection.id
        )
    }

    /// Checks a store URL a merchant typed against the policy (422 with the reason).
    pub async fn store_url(&self, raw: &str) -> Result<StoreUrl, ConnectError> {
        self.policy
            .check(raw)
            .await
            .map_err(|e| ConnectError::Invalid(e.to_string()))
    }

    /// The stored credentials; missing ones put the connection in `needs_reauth`.
    pub async fn secret(&self, connection: &Connection) -> Result<Secret, OpenError> {
        match self.vault.get(&connection.credentials_name()).await {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(self.mark_needs_reauth(connection).await),
            Err(e) => Err(OpenError::Unavailable(e.to_string())),
        }
    }

    /// The stored credentials parsed by `parse` (unreadable ones are a setup problem: the
    /// merchant reconnects).
    pub async fn credentials<T>(
        &self,
        connection: &Connection,
        parse: impl FnOnce(&Secret) -> Result<T, String>,
    ) -> Result<T, OpenError> {
        let secret = self.secret(connection).await?;
        parse(&secret).map_err(|e| {
            OpenError::Setup(format!(
                "the stored credentials are unreadable ({e}): reconnect the store"
            ))
        })
    }

    /// Marks `connection` as needing re-authorisation (the channel refused its credentials),
    /// which stops its jobs until the merchant reconnects. `connection` is the copy the caller
    /// worked with: if the connection was reconnected since (new credentials), the refusal was
    /// of the old ones and nothing is marked. The current record is re-read and written
    /// conditionally, so a settings change made meanwhile is kept and never overwritten.
    pub async fn mark_needs_reauth(&self, connection: &Connection) -> OpenError {
        for _ in 0..WRITE_ATTEMPTS {
            let current = match self
                .connections
                .get(&connection.tenant, &connection.id)
                .await
            {
                Ok(Some(current)) => current,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, connection = %connection.id, "could not mark needs_reauth");
                    break;
                }
            };
            if current.activated() != connection.activated() {
                tracing::info!(connection = %connection.id, "credentials refused, but the store was reconnected since: not marked");
                break;
            }
            if current.status != ConnectionStatus::Active {
                break;
            }
            let mut updated = current;
            updated.status = ConnectionStatus::NeedsReauth;
            updated.updated_at = Utc::now();
            match self.connections.update(&updated).await {
                Ok(UpdateOutcome::Updated(_)) => {
                    tracing::warn!(connection = %connection.id, channel = %connection.channel, "credentials rejected: connection needs re-authorisation");
                    break;
                }
                Ok(UpdateOutcome::Stale) => continue,
                Err(e) => {
                    tracing::error!(error = %e, connection = %connection.id, "could not mark needs_reauth");
                    break;
                }
            }
        }
        OpenError::NeedsReauth
    }

    /// A channel call on behalf of `connection` failed: refused credentials mark it
    /// `needs_reauth` (its jobs stop); anything else is worth retrying, with `what` failed.
    pub async fn call_failed(
        &self,
        connection: &Connection,
        what: &str,
        e: super::ClientError,
    ) -> OpenError {
        match e {
            super::ClientError::Unauthorized => self.mark_needs_reauth(connection).await,
            other => OpenError::Unavailable(format!("{what}: {other}")),
        }
    }

    /// Stores credentials and creates the connection for `shop`, or re-activates the existing
    /// one when the same tenant connects it again (so nothing is imported twice). Another
    /// tenant's shop → [`ConnectError::Conflict`], unless that tenant disconnected it: then
    /// this tenant gets a new connection of its own (a rebind; the old one keeps its history). Credentials are written first: a stored
    /// connection always has them.
    pub async fn upsert_connection(
        &self,
        tenant: &TenantId,
        channel: Channel,
        shop: &str,
        credentials: &Secret,
        display_name: Option<String>,
        settings: Option<ConnectionSettings>,
    ) -> Result<(bool, Connection), ConnectError> {
        let new = NewConnection {
            tenant,
            credentials,
            display_name,
            settings,
        };
        if let Some(existing) = self.connections.find_by_shop(channel, shop).await? {
            // Created: the shop went to a new connection of this tenant (a rebind).
            let id = existing.id.clone();
            return self.reconnect(existing, new).await.map(|c| (c.id != id, c));
        }
        let now = Utc::now();
        let connection = Connection {
            id: ConnectionId::generate(),
            tenant: tenant.clone(),
            channel,
            shop: shop.to_owned(),
            display_name: new.display_name.clone(),
            status: ConnectionStatus::Active,
            settings: new.settings.clone().unwrap_or_default(),
            created_at: now,
            updated_at: now,
            activated_at: Some(now),
            version: 0,
        };
        self.vault
            .put(&connection.credentials_name(), credentials)
            .await?;
        match self.connections.create(&connection).await? {
            CreateOutcome::Created => {
                tracing::info!(connection = %connection.id, %channel, shop, "store connected");
                // Due at once for the poll (issue 22). If this write fails the connection
                // still is: the scheduler's daily sweep enrolls it.
                if let Err(e) = crate::schedule::enroll_new(&*self.records, &connection).await {
                    tracing::warn!(connection = %connection.id, error = %e, "not enrolled in the job schedule yet; the daily sweep will");
                }
                Ok((true, connection))
            }
            CreateOutcome::ShopTaken(existing) => {
                // Lost a race with another connect of the same shop.
                self.vault.delete(&connection.credentials_name()).await?;
                let id = existing.id.clone();
                self.reconnect(*existing, new)
                    .await
                    .map(|c| (c.id != id, c))
            }
        }
    }

    async fn reconnect(
        &self,
        mut existing: Connection,
        new: NewConnection<'_>,
    ) -> Result<Connection, ConnectError> {
        if &existing.tenant != new.tenant {
            return self.rebind(existing, new).await;
        }
        self.vault
            .put(&existing.credentials_name(), new.credentials)
            .await?;
        for _ in 0..WRITE_ATTEMPTS {
            let now = Utc::now();
            let mut updated = existing.clone();
            updated.status = ConnectionStatus::Active;
            updated.display_name = new.display_name.clone().or(updated.display_name);
            if let Some(settings) = &new.settings {
                updated.settings = settings.clone();
            }
            updated.updated_at = now;
            updated.activated_at = Some(now);
            match self.connections.update(&updated).await? {
                UpdateOutcome::Updated(stored) => {
                    tracing::info!(connection = %stored.id, "store reconnected");
                    // Back in the job schedule it left while inactive (issue 22). If this
                    // write fails the daily sweep enrolls it.
                    let now = Utc::now().timestamp_millis();
                    if let Err(e) =
                        crate::schedule::reactivate(&*self.records, &*self.values, &stored, now)
                            .await
                    {
                        tracing::warn!(connection = %stored.id, error = %e, "not re-enrolled in the job schedule yet; the daily sweep will");
                    }
                    return Ok(*stored);
                }
                // Written meanwhile (a job, an uninstall): decide again on the current copy.
                UpdateOutcome::Stale => {
                    existing = self
                        .connections
                        .get(&existing.tenant, &existing.id)
                        .await?
                        .ok_or_else(|| {
                            ConnectError::Unreachable("the connection disappeared; retry".into())
                        })?;
                }
            }
        }
        Err(ConnectError::Unreachable(
            "the connection keeps changing; retry".into(),
        ))
    }
}

impl ChannelContext {
    /// Another tenant connects a shop (with credentials that work, or an OAuth install: both
    /// prove they hold the store). Only a shop its old tenant disconnected changes hands: the
    /// new tenant gets a new connection, the old one stays disconnected with its history.
    /// A connected (or `needs_reauth`) shop stays its tenant's: [`ConnectError::Conflict`].
    async fn rebind(
        &self,
        mut existing: Connection,
        new: NewConnection<'_>,
    ) -> Result<Connection, ConnectError> {
        let now = Utc::now();
        let connection = Connection {
            id: ConnectionId::generate(),
            tenant: new.tenant.clone(),
            channel: existing.channel,
            shop: existing.shop.clone(),
            display_name: new.display_name.clone(),
            status: ConnectionStatus::Active,
            settings: new.settings.clone().unwrap_or_default(),
            created_at: now,
            updated_at: now,
            activated_at: Some(now),
            version: 0,
        };
        let taken = || {
            ConnectError::Conflict(format!(
                "{} is connected to another account",
                connection.shop
            ))
        };
        self.vault
            .put(&connection.credentials_name(), new.credentials)
            .await?;
        for _ in 0..WRITE_ATTEMPTS {
            if existing.status != ConnectionStatus::Disconnected {
                self.vault.delete(&connection.credentials_name()).await?;
                return Err(taken());
            }
            match self.connections.rebind(&existing, &connection).await? {
                crate::ports::RebindOutcome::Rebound => {
                    tracing::info!(connection = %connection.id, released = %existing.id, "store connected by a new account; the old connection keeps its history");
                    return Ok(connection);
                }
                // Written meanwhile (the old tenant reconnected, someone else took it): decide
                // again on whoever owns the shop now.
                crate::ports::RebindOutcome::Stale => {
                    match self
                        .connections
                        .find_by_shop(existing.channel, &existing.shop)
                        .await?
                    {
                        Some(owner) if &owner.tenant == new.tenant => {
                            self.vault.delete(&connection.credentials_name()).await?;
                            return Box::pin(self.reconnect(owner, new)).await;
                        }
                        Some(owner) => existing = owner,
                        None => {
                            self.vault.delete(&connection.credentials_name()).await?;
                            return Err(ConnectError::Unreachable(
                                "the store's connection disappeared; retry".into(),
                            ));
                        }
                    }
                }
            }
        }
        self.vault.delete(&connection.credentials_name()).await?;
        Err(ConnectError::Unreachable(
            "the store's connection keeps changing; retry".into(),
        ))
    }
}

/// How often a conditional connection write is tried again on a fresh copy.
const WRITE_ATTEMPTS: u32 = 5;

struct NewConnection<'a> {
    tenant: &'a TenantId,
    credentials: &'a Secret,
    display_name: Option<String>,
    settings: Option<ConnectionSettings>,
}

/// Longest key, secret or token accepted in a connect form (real ones are 43–64 characters).
pub const MAX_CREDENTIAL: usize = 256;

/// A credential from a connect form: trimmed, 1 to [`MAX_CREDENTIAL`] printable characters.
pub fn credential(name: &str, raw: &str) -> Result<String, ConnectError> {
    let value = raw.trim();
    if value.is_empty() || value.len() > MAX_CREDENTIAL || value.chars().any(char::is_control) {
        return Err(ConnectError::Invalid(format!(
            "{name} must be 1 to {MAX_CREDENTIAL} printable characters"
        )));
    }
    Ok(value.to_owned())
}

/// A channel's connect form from the request body (its fields only: unknown ones are a 422).
pub fn form<T: serde::de::DeserializeOwned>(form: serde_json::Value) -> Result<T, ConnectError> {
    serde_json::from_value(form)
        .map_err(|e| ConnectError::Invalid(format!("invalid connection: {e}")))
}

#[cfg(all(test, feature = "embedded"))]
mod tests;
