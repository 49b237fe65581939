//! The channel plug-in boundary: what every channel folder exports (one [`ChannelAdapter`]
//! value) and what it declares it can do ([`Capabilities`]). The layers above (`inventory`,
//! `jobs`, `consumers`, `http`) never `match` on a channel: they ask the
//! [`super::registry::Registry`] for the connection's adapter and call these methods.

use super::inventory::{InventoryChannel, PushError};
use super::store::{Assigned, ConnectError, StoreApi};
use super::{InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, Order, TenantId};
use crate::ports::Secret;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// How a channel's webhooks reach us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhooks {
    /// None: orders arrive by the reconciliation poll only (Magento Open Source).
    None,
    /// Signed with the app's secret, routed by the shop the headers name:
    /// `POST /webhooks/{channel}`.
    AppSecret,
    /// Signed with a secret of the connection's own, routed by the URL:
    /// `POST /webhooks/{channel}/{connection_id}`.
    PerConnection,
}

/// What a channel calls a place stock lives in, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    /// Stock lives on the product (WooCommerce): setting a location is refused.
    None,
    /// Locations that fulfil and stock (Shopify).
    Locations,
    /// Inventory sources that stock only (Magento MSI): `fulfilment_location` is refused.
    Sources,
}

/// How long a connection's access token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLifetime {
    /// Keys that work until revoked (API keys, custom-app tokens, OAuth 1.0a integrations).
    Static,
    /// OAuth access tokens refreshed before expiry (one refresher per connection).
    Expiring,
}

/// What a channel can do, declared once by its adapter. A test enumerates the registry and
/// fails on a channel whose declaration does not match what it implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub webhooks: Webhooks,
    /// The reconciliation poll reads its orders.
    pub poll: bool,
    /// The orders poll walks oldest change first, so a run stopped by its page limit may
    /// advance the watermark. `false` (WooCommerce sorts by id): a partial run keeps it.
    pub sorted_by_change: bool,
    /// The channel subtracts its own reservations and deducts stock at shipment (Magento MSI):
    /// the quantity we set adds back the units of imported, unshipped orders.
    pub deducts_at_shipment: bool,
    pub locations: LocationKind,
    /// Inventory writes carry a compare-and-set (`change_from`); without it writes are
    /// absolute (a retried batch sets the same quantities again, never a relative change).
    pub compare_and_set: bool,
    /// The most quantities one inventory call may carry.
    pub inventory_batch: usize,
    /// Topics answered 200 even for a shop we do not know (we hold nothing about it).
    pub privacy_topics: &'static [&'static str],
    pub token_lifetime: TokenLifetime,
}

impl Capabilities {
    pub fn is_privacy_topic(&self, topic: &str) -> bool {
        self.privacy_topics.contains(&topic)
    }
}

/// A place stock can live in or orders be fulfilled from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The channel's id (Shopify: a GID; Magento: the source code).
    pub id: String,
    pub name: String,
    /// `false` for deactivated locations (listed so a configured one that was deactivated can
    /// be reported rather than silently missing).
    pub active: bool,
    pub fulfills_online_orders: bool,
}

/// The location to use when the merchant has chosen none: the store's only active one. With
/// several (or none), the reason lists them so the merchant can choose.
pub fn sole_active_location(locations: &[Location]) -> Result<&Location, String> {
    let active: Vec<&Location> = locations.iter().filter(|l| l.active).collect();
    match active.as_slice() {
        [only] => Ok(only),
        [] => Err("the store has no active location".into()),
        several => {
            const SHOWN: usize = 20;
            let mut list: Vec<String> = several
                .iter()
                .take(SHOWN)
                .map(|l| format!("{} ({})", l.name, l.id))
                .collect();
            if several.len() > SHOWN {
                list.push(format!("and {} more", several.len() - SHOWN));
            }
            Err(format!(
                "the store has {} active locations: choose one with PATCH /api/connections/{{id}} — {}",
                several.len(),
                list.join(", ")
            ))
        }
    }
}

/// What one connection's webhook check found and did (topics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub existing: Vec<String>,
    pub created: Vec<String>,
    /// Subscriptions the channel had disabled or paused, switched back on.
    pub reenabled: Vec<String>,
    /// Active subscriptions whose secret was (re)set to ours.
    pub updated: Vec<String>,
}

/// A connect that went through.
#[derive(Debug)]
pub struct Connected {
    /// `true`: a new connection; `false`: an existing one re-activated.
    pub created: bool,
    pub connection: Connection,
    /// What else the connect did, merged into the answer (`webhooks`, `msi`, `sources`…).
    pub extra: Map<String, Value>,
}

/// What a disconnect could give up on the channel's side ([`ChannelAdapter::revoke`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Revocation {
    /// The channel revoked our access (or had already: our credentials were refused).
    Revoked,
    /// Nothing the channel lets us revoke; the sentence says what the merchant can do in the
    /// store's admin (remove an API key, uninstall a custom app).
    NotRevocable(String),
}

/// A store the merchant authorised through a channel's OAuth install.
pub struct Installed {
    /// The store's identity on the channel (as connections store it).
    pub shop: String,
    /// The connection's credentials, as the channel's store code reads them back.
    pub credentials: Secret,
    /// The store's name, when the channel said it.
    pub display_name: Option<String>,
}

/// Why an install did not end in a connection; each is a `reason` on the dashboard redirect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The code could not be exchanged (refused, expired, channel unreachable).
    #[error("exchange_failed")]
    ExchangeFailed(String),
    /// The merchant granted fewer scopes than we need.
    #[error("missing_scopes")]
    MissingScopes(Vec<String>),
}

/// Why a request the channel sent through the browser (install link, callback) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The channel's signature does not match (a 401).
    #[error("{0}")]
    BadSignature(String),
    /// Missing, stale or malformed parameters (a 400).
    #[error("{0}")]
    BadRequest(String),
}

/// What the callback carries besides `code` and `state`.
pub struct Callback<'a> {
    /// Every query parameter, as received (for channels that sign their redirects).
    pub query: &'a [(String, String)],
    /// The store the install state was issued for, if the channel names stores up front.
    pub shop: Option<&'a str>,
    pub redirect_uri: &'a str,
    /// The PKCE verifier of the state (channels that require PKCE).
    pub pkce_verifier: Option<&'a str>,
}

/// A channel whose stores install by OAuth (authorization-code grant). The routes
/// (`/api/oauth/{channel}/start`, `/oauth/{channel}/install`, `/oauth/{channel}/callback`,
/// `/api/oauth/{channel}/claim`) and the single-use state bound to tenant and channel are
/// channel-neutral (`http::oauth`); the channel supplies the URLs, signatures and exchange.
#[async_trait]
pub trait OAuthApp: Send + Sync {
    /// Whether the app's client id and secret are configured (otherwise every route is 503).
    fn is_configured(&self) -> bool;

    /// Whether the authorize request carries a PKCE S256 challenge (Etsy requires it).
    fn pkce(&self) -> bool {
        false
    }

    /// The store a merchant named at `start` (`{"shop": …}`), normalized; `Ok(None)` for a
    /// channel whose store is only known after the exchange. `Err`: a sentence saying which
    /// forms are accepted.
    fn parse_shop(&self, raw: Option<&str>) -> Result<Option<String>, String>;

    /// The browser URL of the channel's consent screen.
    fn authorize_url(
        &self,
        shop: Option<&str>,
        redirect_uri: &str,
        state: &str,
        pkce_challenge: Option<&str>,
    ) -> String;

    /// A channel-initiated install (Shopify's App Store link): the verified store it names.
    /// `None`: the channel has no such entry (404).
    fn install_link(&self, _query: &[(String, String)]) -> Option<Result<String, CallbackError>> {
        None
    }

    /// Checks what the channel signs on its redirect back (Shopify's query `hmac`) and
    /// returns the store it names, if any. The default, for channels that sign nothing there
    /// (TikTok Shop, Etsy, eBay, Veeqo): the single-use state bound to tenant and channel (and
    /// PKCE where the channel has it) is the check, and the redirect names no store.
    fn verify_callback(&self, query: &[(String, String)]) -> Result<Option<String>, CallbackError> {
        let _ = query;
        Ok(None)
    }

    /// Exchanges the code for the connection's credentials.
    async fn exchange(&self, code: &str, callback: Callback<'_>)
        -> Result<Installed, InstallError>;

    /// After the connection is stored: subscribe its webhooks (best effort: the daily health
    /// check repairs a failure).
    async fn after_connect(
        &self,
        connection: &Connection,
        credentials: &Secret,
    ) -> Option<HealthReport>;
}

/// One channel: everything the layers above need from it.
#[async_trait]
pub trait ChannelAdapter: Send + Sync {
    fn channel(&self) -> Channel;

    fn capabilities(&self) -> &Capabilities;

    /// The channel's OAuth install, when its stores install by OAuth.
    fn oauth(&self) -> Option<&dyn OAuthApp> {
        None
    }

    /// A verified webhook payload into the domain.
    fn interpret(&self, topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError>;

    /// The webhook verifier, built once from the app's secrets (or reading each connection's
    /// own). `None` for a channel without webhooks.
    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>>;

    /// `POST /api/connections` with `{"channel": …, …form}`: checks the form's credentials
    /// with real calls, then creates or re-activates the connection. `form` is the body
    /// without `channel` and `settings`.
    async fn connect(
        &self,
        tenant: &TenantId,
        form: Value,
        settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError>;

    /// The store of an active connection, for the jobs.
    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError>;

    /// The connection's inventory writer.
    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError>;

    /// The store's locations, live.
    async fn locations(&self, connection: &Connection) -> Result<Vec<Location>, ConnectError>;

    /// What the merchant should know about the connection as it stands (shown with it): a
    /// feature that is off and how to turn it on, a default in use. Best effort: a channel
    /// that cannot be reached just says less.
    async fn notes(&self, connection: &Connection) -> Vec<String> {
        let _ = connection;
        Vec::new()
    }

    /// Checks settings about to be saved. `changed` names the location ids that are new.
    /// The default accepts locations the store lists as active.
    async fn check_settings(
        &self,
        connection: &Connection,
        settings: &ConnectionSettings,
        changed: &[String],
    ) -> Result<(), ConnectError> {
        let _ = settings;
        if changed.is_empty() {
            return Ok(());
        }
        let known = self.locations(connection).await?;
        for wanted in changed {
            let found = known
                .iter()
                .find(|l| &l.id == wanted || l.id.rsplit('/').next() == Some(wanted.as_str()));
            match found {
                Some(l) if l.active => {}
                Some(_) => {
                    return Err(ConnectError::Invalid(format!(
                        "location {wanted} is not active"
                    )))
                }
                None => {
                    return Err(ConnectError::Invalid(format!(
                        "the store has no location {wanted}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// The part of `order` this connection fulfils, asked before the order consumer sends an
    /// order (new or updated, not cancelled) to the WMS. `known`: the WMS already has an
    /// earlier state of it. The default: the whole order (channels that do not assign orders
    /// to places). Must be safe to call again (the consumer retries on `Unavailable`);
    /// `NeedsReauth` means the connection was marked `needs_reauth`.
    async fn assigned_to_us(
        &self,
        connection: &Connection,
        order: Order,
        known: bool,
    ) -> Result<Assigned, OpenError> {
        let _ = (connection, known);
        Ok(Assigned::Ours(Box::new(order)))
    }

    /// Settings the connection still needs before its jobs can run, one sentence each (shown
    /// as `missing` on `GET /api/connections/{id}`). The default: none.
    fn missing_settings(&self, connection: &Connection) -> Vec<String> {
        let _ = connection;
        Vec::new()
    }

    /// A disconnect: gives up our access on the channel where its API lets us, with the
    /// connection's stored `credentials` (deleted right after, whatever this answers). The
    /// default: nothing to revoke.
    async fn revoke(
        &self,
        connection: &Connection,
        credentials: &crate::ports::Secret,
    ) -> Result<Revocation, super::ClientError> {
        let _ = credentials;
        Ok(Revocation::NotRevocable(format!(
            "{} offers no way for us to revoke the access: remove it in the store's admin",
            connection.channel
        )))
    }

    /// Makes sure the store's webhook subscriptions exist and point at us (list first, create
    /// the missing, re-enable the disabled). `None`: not ours to manage.
    async fn ensure_webhooks(
        &self,
        connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError>;
}
