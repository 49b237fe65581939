//! Opens a connected store as a [`StoreApi`], whatever its channel: reads the connection's
//! credentials from the vault (refreshing Shopify tokens), and builds that channel's client.
//! The jobs (reconciliation poll, product import, tracking export) only see [`StoreApi`].
//!
//! A channel that rejects the stored credentials (401/403) puts the connection in
//! `needs_reauth` through [`Stores::mark_needs_reauth`], which stops its jobs until the
//! merchant reconnects.

use super::shopify::tokens::{ShopifyTokens, TokenError};
use super::shopify::{plan_fulfillment, FulfillmentError, PlanError};
use super::store::Listing;
use super::store::{ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking};
use super::{magento, woocommerce, ClientError};
use crate::domain::{Channel, Connection, ConnectionStatus, ShopDomain};
use crate::ports::{Connections, Secret, Vault};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Everything needed to open any connection's store.
pub struct Stores {
    pub connections: Arc<dyn Connections>,
    pub vault: Arc<dyn Vault>,
    pub shopify: Arc<ShopifyTokens>,
    /// For merchant-hosted stores (WooCommerce, Magento): built by
    /// [`super::store_url::store_client`], so it never reaches private addresses (outside the
    /// documented test switch) and never follows redirects.
    pub http: reqwest::Client,
    /// Which store URLs merchants may connect: the policy `http` was built with.
    pub policy: super::store_url::UrlPolicy,
}

/// Why a connection's store cannot be used now.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Disconnected, or already waiting for re-authorisation: no jobs run for it.
    #[error("the connection is {0:?}: no jobs run for it")]
    NotActive(ConnectionStatus),
    /// The channel rejected the stored credentials (the connection is now `needs_reauth`).
    #[error("the channel rejected the stored credentials: the store must be reconnected")]
    NeedsReauth,
    /// A setting or stored value makes the call impossible until someone changes it.
    #[error("{0}")]
    Setup(String),
    /// Try again later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<TokenError> for OpenError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotActive(status) => OpenError::NotActive(status),
            TokenError::NeedsReauth => OpenError::NeedsReauth,
            TokenError::Unavailable(m) => OpenError::Unavailable(m),
        }
    }
}

impl Stores {
    /// Shopify through `tokens` (whose vault and connections are used for every channel);
    /// self-hosted stores through a [`super::store_url::store_client`] under `policy`.
    pub fn new(shopify: Arc<ShopifyTokens>, policy: super::store_url::UrlPolicy) -> Self {
        Self {
            connections: shopify.connections.clone(),
            vault: shopify.vault.clone(),
            http: super::store_url::store_client(policy, super::store_url::REQUEST_TIMEOUT),
            policy,
            shopify,
        }
    }

    /// The store of an active connection.
    pub async fn open(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        if connection.status != ConnectionStatus::Active {
            return Err(OpenError::NotActive(connection.status));
        }
        match connection.channel {
            Channel::Shopify => {
                let token = self.shopify.access_token(connection).await?;
                let shop = ShopDomain::parse(&connection.shop)
                    .map_err(|e| OpenError::Setup(e.to_string()))?;
                Ok(Box::new(ShopifyStore {
                    tokens: self.shopify.clone(),
                    shop,
                    token,
                    fulfilment_location: connection.settings.fulfilment_location.clone(),
                }))
            }
            Channel::Woocommerce => {
                let creds = self.woocommerce_credentials(connection).await?;
                let store = woocommerce::WooStore::new(self.woocommerce(), creds)
                    .map_err(OpenError::Setup)?;
                Ok(Box::new(store))
            }
            Channel::Magento => {
                let creds = self.magento_credentials(connection).await?;
                let store =
                    magento::MagentoStore::new(self.magento(), creds).map_err(OpenError::Setup)?;
                Ok(Box::new(store))
            }
            other => Err(OpenError::Setup(format!(
                "{other} stores are not supported by this build"
            ))),
        }
    }

    /// The WooCommerce client on the guarded HTTP client.
    pub fn woocommerce(&self) -> woocommerce::WooClient {
        woocommerce::WooClient::new(self.http.clone())
    }

    /// The Magento client on the guarded HTTP client.
    pub fn magento(&self) -> magento::MagentoClient {
        magento::MagentoClient::new(self.http.clone())
    }

    /// A WooCommerce connection's credentials (unreadable ones are a setup problem: the
    /// merchant reconnects).
    pub async fn woocommerce_credentials(
        &self,
        connection: &Connection,
    ) -> Result<woocommerce::WooCredentials, OpenError> {
        let secret = self.secret(connection).await?;
        woocommerce::WooCredentials::from_secret(&secret).map_err(|e| {
            OpenError::Setup(format!(
                "the stored credentials are unreadable ({e}): reconnect the store"
            ))
        })
    }

    /// A Magento connection's credentials.
    pub async fn magento_credentials(
        &self,
        connection: &Connection,
    ) -> Result<magento::MagentoCredentials, OpenError> {
        let secret = self.secret(connection).await?;
        magento::MagentoCredentials::from_secret(&secret).map_err(|e| {
            OpenError::Setup(format!(
                "the stored credentials are unreadable ({e}): reconnect the store"
            ))
        })
    }

    /// The stored credentials; missing ones put the connection in `needs_reauth`.
    async fn secret(&self, connection: &Connection) -> Result<Secret, OpenError> {
        match self.vault.get(&connection.credentials_name()).await {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(self.mark_needs_reauth(connection).await),
            Err(e) => Err(OpenError::Unavailable(e.to_string())),
        }
    }

    /// Marks `connection` as needing re-authorisation (the channel refused its credentials),
    /// which stops its jobs until the merchant reconnects. Reads the current record first so
    /// a settings change made meanwhile is kept.
    pub async fn mark_needs_reauth(&self, connection: &Connection) -> OpenError {
        let mut updated = match self
            .connections
            .get(&connection.tenant, &connection.id)
            .await
        {
            Ok(Some(current)) => current,
            _ => connection.clone(),
        };
        if updated.status == ConnectionStatus::Active {
            updated.status = ConnectionStatus::NeedsReauth;
            updated.updated_at = Utc::now();
            if let Err(e) = self.connections.update(&updated).await {
                tracing::error!(error = %e, connection = %connection.id, "could not mark needs_reauth");
            }
            tracing::warn!(connection = %connection.id, channel = %connection.channel, "credentials rejected: connection needs re-authorisation");
        }
        OpenError::NeedsReauth
    }
}

/// A Shopify store through the GraphQL Admin API.
struct ShopifyStore {
    tokens: Arc<ShopifyTokens>,
    shop: ShopDomain,
    token: Secret,
    fulfilment_location: Option<String>,
}

#[async_trait]
impl StoreApi for ShopifyStore {
    async fn orders_updated_since(
        &self,
        since: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, ClientError> {
        self.tokens
            .client
            .orders_updated_since(
                &self.shop,
                &self.token,
                since,
                cursor,
                super::shopify::ORDERS_PAGE_SIZE_WITHIN_COST,
            )
            .await
    }

    async fn listings_page(&self, cursor: Option<&str>) -> Result<ListingsPage, ClientError> {
        let (variants, next_cursor) = self
            .tokens
            .client
            .variants_page(&self.shop, &self.token, cursor)
            .await?;
        Ok(ListingsPage {
            listings: variants.into_iter().map(Listing::from).collect(),
            next_cursor,
        })
    }

    /// Reads the order's fulfillment orders, plans the shipped lines (everything when `lines`
    /// is `None`) at the fulfilment location, then one `fulfillmentCreate` per location group.
    /// A retry after a timeout re-reads the fulfillment orders first, so a whole-order
    /// shipment that was in fact written ends as "already fulfilled".
    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let client = &self.tokens.client;
        let orders = client
            .fulfillment_orders(&self.shop, &self.token, channel_order_id)
            .await?
            .ok_or_else(|| ShipError::Permanent("the order does not exist on Shopify".into()))?;
        let shipped: Option<Vec<(String, u32)>> =
            lines.map(|lines| lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect());
        let plan = plan_fulfillment(
            &orders,
            self.fulfilment_location.as_deref(),
            shipped.as_deref(),
        )
        .map_err(|e| match e {
            PlanError::AlreadyFulfilled => {
                ShipError::Permanent("the order is already fulfilled on Shopify".into())
            }
            other => ShipError::Permanent(other.to_string()),
        })?;
        let mut ids = Vec::new();
        for group in &plan.groups {
            match client
                .create_fulfillment(
                    &self.shop,
                    &self.token,
                    &group.by_fulfillment_order,
                    tracking,
                    notify_customer,
                )
                .await
            {
                Ok(created) => ids.push(created.id),
                Err(FulfillmentError::Client(e)) if ids.is_empty() => return Err(e.into()),
                Err(FulfillmentError::Client(e)) => {
                    // Part of the shipment is on Shopify already: retrying re-plans the rest.
                    return Err(ShipError::Client(ClientError::Unavailable(format!(
                        "after {} fulfillment(s): {e}",
                        ids.len()
                    ))));
                }
                Err(other) => return Err(ShipError::Permanent(other.to_string())),
            }
        }
        Ok(ids)
    }
}
