//! Shopify's adapter: what the registry hands the layers above for a Shopify connection —
//! connect with a custom app's Admin API token, the app-secret webhook verifier, order
//! interpretation, the [`StoreApi`] on the GraphQL Admin API, the inventory writer
//! (`inventorySetQuantities` with compare-and-set), locations and webhook subscriptions.

use super::install::ShopifyInstall;
use super::oauth::ShopifyCredentials;
use super::tokens::{ShopifyTokens, TokenError};
use super::{
    plan_fulfillment, FulfillmentError, ItemOutcome, PlanError, QuantitySet, ShopifyClient,
    ShopifyVerifier, MAX_QUANTITIES_PER_CALL, ORDER_TOPICS, PRIVACY_TOPICS,
};
use crate::channels::adapter::{
    Capabilities, ChannelAdapter, Connected, HealthReport, Location, LocationKind, OAuthApp,
    TokenLifetime, Webhooks,
};
use crate::channels::context::{form, ChannelContext};
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::store::{
    ConnectError, Listing, ListingsPage, OrdersPage, ShipError, ShippedSku, StoreApi, Tracking,
};
use crate::channels::{ClientError, InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, ShopDomain, TenantId};
use crate::ports::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What Shopify can do.
const CAPABILITIES: Capabilities = Capabilities {
    webhooks: Webhooks::AppSecret,
    poll: true,
    sorted_by_change: true,
    deducts_at_shipment: false,
    locations: LocationKind::Locations,
    compare_and_set: true,
    inventory_batch: MAX_QUANTITIES_PER_CALL,
    privacy_topics: PRIVACY_TOPICS,
    token_lifetime: TokenLifetime::Expiring,
};

/// The registry's Shopify entry.
pub fn adapter(context: &Arc<ChannelContext>) -> Result<Arc<dyn ChannelAdapter>, String> {
    let app = context.apps.get(Channel::Shopify);
    let client = ShopifyClient::new(app.api_base.clone()).map_err(|e| e.to_string())?;
    // A person waits for the connect answer: don't sit out a long throttle for them.
    let interactive = client
        .clone()
        .with_max_throttle_wait(Duration::from_secs(5));
    let tokens = Arc::new(ShopifyTokens {
        client,
        client_id: app.client_id.clone(),
        client_secret: app.current_secret(),
        context: context.clone(),
    });
    Ok(Arc::new(ShopifyAdapter {
        context: context.clone(),
        verifier: Arc::new(ShopifyVerifier::new(&app.secrets)),
        install: ShopifyInstall {
            app,
            tokens: tokens.clone(),
            public_url: context.public_url.clone(),
        },
        tokens,
        interactive,
    }))
}

/// Shopify, for the registry.
pub struct ShopifyAdapter {
    context: Arc<ChannelContext>,
    verifier: Arc<ShopifyVerifier>,
    install: ShopifyInstall,
    /// Tokens for jobs (refreshed before expiry) and the job client.
    pub tokens: Arc<ShopifyTokens>,
    /// The same client with a short throttle wait, for calls a person waits for.
    interactive: ShopifyClient,
}

/// `POST /api/connections` for Shopify: a custom app's Admin API access token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenForm {
    shop_domain: String,
    access_token: String,
}

impl ShopifyAdapter {
    async fn token(&self, connection: &Connection) -> Result<(ShopDomain, Secret), OpenError> {
        let token = self
            .tokens
            .access_token(connection)
            .await
            .map_err(open_error)?;
        let shop =
            ShopDomain::parse(&connection.shop).map_err(|e| OpenError::Setup(e.to_string()))?;
        Ok((shop, token))
    }
}

fn open_error(e: TokenError) -> OpenError {
    match e {
        TokenError::NotActive(status) => OpenError::NotActive(status),
        TokenError::NeedsReauth => OpenError::NeedsReauth,
        TokenError::Unavailable(m) => OpenError::Unavailable(m),
    }
}

#[async_trait]
impl ChannelAdapter for ShopifyAdapter {
    fn channel(&self) -> Channel {
        Channel::Shopify
    }

    fn capabilities(&self) -> &Capabilities {
        &CAPABILITIES
    }

    fn interpret(&self, topic: &str, payload: &[u8]) -> Result<Interpreted, InterpretError> {
        super::interpret(topic, payload)
    }

    fn oauth(&self) -> Option<&dyn OAuthApp> {
        Some(&self.install)
    }

    fn verifier(&self) -> Option<Arc<dyn WebhookVerifier>> {
        Some(self.verifier.clone())
    }

    /// Connects a store with a custom app's Admin API access token: the token is checked with
    /// a real API call before anything is stored; reconnecting the same shop re-activates the
    /// existing connection (so nothing is imported twice).
    async fn connect(
        &self,
        tenant: &TenantId,
        body: Value,
        settings: Option<ConnectionSettings>,
    ) -> Result<Connected, ConnectError> {
        let input: TokenForm = form(body)?;
        let shop = ShopDomain::parse(&input.shop_domain)
            .map_err(|e| ConnectError::Invalid(e.to_string()))?;
        let token = Secret::new(input.access_token.trim());
        if token.expose().is_empty() {
            return Err(ConnectError::Invalid(
                "access_token must not be empty".into(),
            ));
        }
        let info = self
            .interactive
            .shop_info(&shop, &token)
            .await
            .map_err(|e| match e {
                ClientError::Unauthorized => ConnectError::WrongCredentials(
                    "Shopify rejected the access token for this shop".into(),
                ),
                ClientError::NotFound => {
                    ConnectError::NotTheChannel(format!("Shopify has no open shop at {shop}"))
                }
                other => ConnectError::Unreachable(format!(
                    "could not reach Shopify to check the token: {other}"
                )),
            })?;
        let credentials = ShopifyCredentials::static_token(token.expose(), "").to_secret();
        let (created, connection) = self
            .context
            .upsert_connection(
                tenant,
                Channel::Shopify,
                shop.as_str(),
                &credentials,
                Some(info.name),
                settings,
            )
            .await?;
        Ok(Connected {
            created,
            connection,
            extra: Default::default(),
        })
    }

    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        let (shop, token) = self.token(connection).await?;
        Ok(Box::new(ShopifyStore {
            tokens: self.tokens.clone(),
            shop,
            token,
            fulfilment_location: connection.settings.fulfilment_location.clone(),
        }))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        let location = connection
            .settings
            .inventory_location
            .clone()
            .ok_or_else(|| {
                PushError::Setup(
                    "no inventory location is set: choose one with PATCH /api/connections/{id}"
                        .into(),
                )
            })?;
        let (shop, token) = self.token(connection).await.map_err(|e| match e {
            OpenError::Unavailable(m) => PushError::Retry(m),
            other => other.into(),
        })?;
        Ok(Box::new(ShopifyInventory {
            tokens: self.tokens.clone(),
            shop,
            token,
            location: shopify_location_gid(&location),
        }))
    }

    async fn locations(&self, connection: &Connection) -> Result<Vec<Location>, ConnectError> {
        let (shop, token) = self.token(connection).await.map_err(|e| match e {
            OpenError::Unavailable(m) => {
                ConnectError::Unreachable(format!("could not get a token: {m}"))
            }
            other => ConnectError::Conflict(other.to_string()),
        })?;
        self.interactive
            .locations(&shop, &token)
            .await
            .map_err(|e| match e {
                ClientError::Unauthorized => ConnectError::Conflict(
                    "Shopify rejected the store's credentials: reconnect it".into(),
                ),
                other => ConnectError::Unreachable(format!(
                    "could not read locations from Shopify: {other}"
                )),
            })
    }

    /// Shopify deletes a shop's subscriptions after repeated failed deliveries: list them and
    /// re-create what is missing. Only stores installed through our app are managed (a custom
    /// app's webhooks are signed with that app's secret, which we do not hold).
    async fn ensure_webhooks(
        &self,
        connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        let managed = self
            .tokens
            .stored(connection)
            .await
            .map_err(open_error)?
            .is_some_and(|c| c.via_oauth);
        if !managed {
            return Ok(None);
        }
        let (shop, token) = self.token(connection).await?;
        let uri = format!("{}/webhooks/shopify", self.context.public_url);
        match self
            .tokens
            .client
            .ensure_subscriptions(&shop, &token, ORDER_TOPICS, &uri)
            .await
        {
            Ok(r) => Ok(Some(HealthReport {
                existing: r.existing,
                created: r.created,
                ..HealthReport::default()
            })),
            Err(ClientError::Unauthorized) => Err(self.context.mark_needs_reauth(connection).await),
            Err(e) => Err(OpenError::Unavailable(e.to_string())),
        }
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
                super::ORDERS_PAGE_SIZE_WITHIN_COST,
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

/// Location ids may be stored bare (`123`) or as a GID.
fn shopify_location_gid(id: &str) -> String {
    if id.starts_with("gid://") {
        id.to_owned()
    } else {
        format!("gid://shopify/Location/{id}")
    }
}

struct ShopifyInventory {
    tokens: Arc<ShopifyTokens>,
    shop: ShopDomain,
    token: Secret,
    location: String,
}

#[async_trait]
impl InventoryChannel for ShopifyInventory {
    fn max_batch(&self) -> usize {
        MAX_QUANTITIES_PER_CALL
    }

    async fn push(
        &self,
        reference: &str,
        key: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        let rows: Vec<QuantitySet> = items
            .iter()
            .map(|i| QuantitySet {
                inventory_item_id: i.item.clone(),
                location_id: self.location.clone(),
                quantity: i.quantity,
                change_from: i.change_from,
            })
            .collect();
        let outcomes = self
            .tokens
            .client
            .set_available(&self.shop, &self.token, reference, key, &rows)
            .await;
        match outcomes {
            Ok(outcomes) => Ok(outcomes
                .into_iter()
                .map(|o| match o {
                    ItemOutcome::Set => ItemResult::Set,
                    ItemOutcome::Failed { code, .. } if code == "CHANGE_FROM_QUANTITY_STALE" => {
                        ItemResult::Stale
                    }
                    ItemOutcome::Failed { code, message } => ItemResult::Rejected { code, message },
                })
                .collect()),
            // The registry's wrapper marks the connection `needs_reauth`.
            Err(ClientError::Unauthorized) => Err(PushError::NeedsReauth),
            Err(ClientError::NotFound) => Err(PushError::Setup(
                "Shopify says the store is unavailable (closed or uninstalled)".into(),
            )),
            Err(other) => Err(PushError::Retry(other.to_string())),
        }
    }
}
