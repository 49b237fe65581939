//! Shopify's adapter: what the registry hands the layers above for a Shopify connection —
//! connect with a custom app's Admin API token, the app-secret webhook verifier, order
//! interpretation, the [`StoreApi`] on the GraphQL Admin API, the inventory writer
//! (`inventorySetQuantities` with compare-and-set), locations and webhook subscriptions.

use super::install::ShopifyInstall;
use super::oauth::ShopifyCredentials;
use super::tokens::{ShopifyTokens, TokenError};
use super::{
    plan_fulfillment, FulfillmentError, ItemOutcome, OrderFulfillment, PlanError, PlanGroup,
    QuantitySet, ShipmentPlans, ShopifyClient, ShopifyVerifier, MAX_FULFILLMENTS,
    MAX_QUANTITIES_PER_CALL, PRIVACY_TOPICS,
};
use crate::channels::adapter::{
    Capabilities, ChannelAdapter, Connected, HealthReport, Location, LocationKind, OAuthApp,
    TokenLifetime, Webhooks,
};
use crate::channels::context::{credential, form, ChannelContext};
use crate::channels::inventory::{InventoryChannel, ItemResult, PushError, PushItem};
use crate::channels::store::{
    Assigned, ConnectError, Listing, ListingsPage, OrdersPage, Reread, ShipError, ShippedSku,
    StoreApi, Tracking,
};
use crate::channels::{ClientError, InterpretError, Interpreted, OpenError, WebhookVerifier};
use crate::domain::{Channel, Connection, ConnectionSettings, Order, ShopDomain, TenantId};
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
        verifier: Arc::new(
            ShopifyVerifier::new(&app.secrets)
                .with_custom_apps(context.connections.clone(), context.vault.clone()),
        ),
        install: ShopifyInstall {
            app,
            tokens: tokens.clone(),
            public_url: context.public_url.clone(),
        },
        tokens,
        interactive,
    }))
}

/// What a custom-app connection without the app's secret key is told.
const WEBHOOKS_OFF: &str = "webhooks off: add the app's API secret key for instant orders";

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

/// `POST /api/connections` for Shopify: a custom app's Admin API access token and,
/// optionally, the app's API secret key (Shopify signs the custom app's webhooks with it:
/// without it the connection works on the reconciliation poll alone).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenForm {
    shop_domain: String,
    access_token: String,
    #[serde(default)]
    api_secret_key: Option<String>,
}

impl ShopifyAdapter {
    /// The credentials stored for `shop`'s connection, if any.
    async fn stored_credentials(
        &self,
        shop: &ShopDomain,
    ) -> Result<Option<ShopifyCredentials>, ConnectError> {
        let Some(existing) = self
            .context
            .connections
            .find_by_shop(Channel::Shopify, shop.as_str())
            .await?
        else {
            return Ok(None);
        };
        let stored = self.context.vault.get(&existing.credentials_name()).await?;
        Ok(stored.and_then(|s| ShopifyCredentials::from_secret(&s)))
    }

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
        let mut credentials = ShopifyCredentials::static_token(token.expose(), "");
        let stored = self.stored_credentials(&shop).await?;
        match input.api_secret_key.as_deref().map(str::trim) {
            // Not sent: a reconnect (a new token) keeps the secret given before.
            None => {
                if let Some(stored) = stored {
                    credentials.api_secret_key = stored.api_secret_key;
                    credentials.previous_api_secret_key = stored.previous_api_secret_key;
                }
            }
            // Sent empty: the merchant takes it away (webhooks off, the poll goes on).
            Some("") => {}
            Some(key) => {
                let key = credential("api_secret_key", key)?;
                // A rotated key: the one stored before stays valid for deliveries already
                // signed with it.
                credentials.previous_api_secret_key = stored
                    .and_then(|s| s.api_secret_key)
                    .filter(|before| *before != key);
                credentials.api_secret_key = Some(key);
            }
        }
        let webhooks_on = credentials.api_secret_key.is_some();
        let credentials = credentials.to_secret();
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
        // With the app's secret its webhooks can be verified: subscribe now (list first).
        // A failure here is not the connect's: the daily health check subscribes again.
        let webhooks = if webhooks_on {
            match self
                .interactive
                .subscribe_ours(&shop, &token, &self.context.public_url)
                .await
            {
                Ok(report) => serde_json::to_value(report).unwrap_or(Value::Null),
                Err(e) => {
                    tracing::warn!(connection = %connection.id, error = %e, "could not subscribe to webhooks; the daily check retries");
                    Value::String(format!(
                        "not subscribed yet ({e}); the daily check tries again"
                    ))
                }
            }
        } else {
            Value::String(WEBHOOKS_OFF.into())
        };
        let mut extra = serde_json::Map::new();
        extra.insert("webhooks".into(), webhooks);
        Ok(Connected {
            created,
            connection,
            extra,
        })
    }

    /// A custom-app connection without the app's secret (its webhooks cannot be verified),
    /// and the location in use when the merchant has chosen none.
    async fn notes(&self, connection: &Connection) -> Vec<String> {
        let mut notes = Vec::new();
        if let Ok(Some(creds)) = self.tokens.stored(connection).await {
            if !creds.via_oauth && creds.api_secret_key.is_none() {
                notes.push(WEBHOOKS_OFF.to_owned());
            }
        }
        let settings = &connection.settings;
        if settings.fulfilment_location.is_none() || settings.inventory_location.is_none() {
            // Read once: the shop's only active location is kept in the unset settings.
            if let Ok((shop, token)) = self.token(connection).await {
                let client = &self.interactive;
                match super::default_location::default_location(
                    &self.context,
                    client,
                    connection,
                    (&shop, &token),
                )
                .await
                {
                    Ok(Ok(only)) => notes.push(format!(
                        "using the shop's only active location, {} ({}), while \
                         fulfilment_location is not set (read again each time, so a second \
                         location holds orders until you choose); it is kept as \
                         inventory_location if that was not set; change them with PATCH \
                         /api/connections/{{id}}",
                        only.name, only.id
                    )),
                    Ok(Err(none)) => notes.push(none.why),
                    Err(_) => {}
                }
            }
        }
        notes
    }

    async fn open_store(&self, connection: &Connection) -> Result<Box<dyn StoreApi>, OpenError> {
        let (shop, token) = self.token(connection).await?;
        Ok(Box::new(ShopifyStore {
            context: self.context.clone(),
            connection: connection.clone(),
            tokens: self.tokens.clone(),
            shop,
            token,
            fulfilment_location: connection.settings.fulfilment_location.clone(),
            plans: ShipmentPlans::new(self.context.records.clone(), &connection.id),
        }))
    }

    async fn open_inventory(
        &self,
        connection: &Connection,
    ) -> Result<Box<dyn InventoryChannel>, PushError> {
        let (shop, token) = self.token(connection).await.map_err(|e| match e {
            OpenError::Unavailable(m) => PushError::Retry(m),
            other => other.into(),
        })?;
        let location = match &connection.settings.inventory_location {
            Some(location) => location.clone(),
            // None chosen: the shop's only active location, kept on the connection.
            None => {
                super::default_location::default_location(
                    &self.context,
                    &self.tokens.client,
                    connection,
                    (&shop, &token),
                )
                .await
                .map_err(|e| match e {
                    ClientError::Unauthorized => PushError::NeedsReauth,
                    other => {
                        PushError::Retry(format!("could not read the shop's locations: {other}"))
                    }
                })?
                .map_err(|none| {
                    PushError::Setup(format!("no inventory location is set: {}", none.why))
                })?
                .id
            }
        };
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

    /// Import by assignment (see `assignment.rs`): with a fulfilment location, the order's
    /// fulfillment orders (all pages) narrow it to that location's lines; without one, the
    /// shop's locations decide (one active location: the whole order; more: held
    /// `no_fulfilment_location`). A 401 marks the connection `needs_reauth`.
    async fn assigned_to_us(
        &self,
        connection: &Connection,
        order: Order,
        known: bool,
    ) -> Result<Assigned, OpenError> {
        let (shop, token) = self.token(connection).await?;
        let client = &self.tokens.client;
        let location = match &connection.settings.fulfilment_location {
            Some(location) => location.clone(),
            // None chosen: with one active location the whole order is ours (read each time:
            // a second location added later must hold the next order); with several, held.
            None => match super::default_location::default_location(
                &self.context,
                client,
                connection,
                (&shop, &token),
            )
            .await
            {
                Ok(Ok(_)) => return Ok(Assigned::Ours(Box::new(order))),
                Ok(Err(none)) => {
                    return Ok(Assigned::Ours(Box::new(
                        super::assignment::held_without_location(order, none.active),
                    )));
                }
                Err(e) => {
                    return Err(self
                        .context
                        .call_failed(connection, "could not read the shop's locations", e)
                        .await)
                }
            },
        };
        let id = order.channel_order_id.as_str().to_owned();
        match client.fulfillment_orders(&shop, &token, &id).await {
            Ok(Some(mut fos)) => {
                let holds = self
                    .answer_cancellations(connection, (&shop, &token), &location, &mut fos)
                    .await?;
                // A move is a newer state even when the order's own `updatedAt` is not.
                let mut order = order;
                order.updated_at = super::moves::version(order.updated_at, &fos);
                Ok(
                    match super::assignment::assign(order, &fos, &location, known) {
                        Assigned::Ours(mut ours) => {
                            ours.hold_reasons.extend(holds);
                            Assigned::Ours(ours)
                        }
                        elsewhere => elsewhere,
                    },
                )
            }
            Ok(None) => Err(OpenError::Setup(format!(
                "Shopify does not show order {id} to the app, so its fulfillment orders cannot \
                 be read"
            ))),
            Err(e) => Err(self
                .context
                .call_failed(
                    connection,
                    "could not read the order's fulfillment orders",
                    e,
                )
                .await),
        }
    }

    /// Stores installed through our app: the app is uninstalled from the shop, which revokes
    /// its tokens and deletes its webhooks. A merchant's custom app is theirs to remove.
    async fn revoke(
        &self,
        connection: &Connection,
        credentials: &Secret,
    ) -> Result<crate::channels::adapter::Revocation, ClientError> {
        super::revoke::revoke(&self.interactive, connection, credentials).await
    }

    /// Shopify deletes a shop's subscriptions after repeated failed deliveries: list them and
    /// re-create what is missing. Stores installed through our app, and custom-app stores
    /// whose API secret key we hold (without it their deliveries could not be verified).
    async fn ensure_webhooks(
        &self,
        connection: &Connection,
    ) -> Result<Option<HealthReport>, OpenError> {
        let managed = self
            .tokens
            .stored(connection)
            .await
            .map_err(open_error)?
            .is_some_and(|c| c.via_oauth || c.api_secret_key.is_some());
        if !managed {
            return Ok(None);
        }
        let (shop, token) = self.token(connection).await?;
        match self
            .tokens
            .client
            .subscribe_ours(&shop, &token, &self.context.public_url)
            .await
        {
            Ok(report) => Ok(Some(report)),
            Err(e) => Err(self
                .context
                .call_failed(connection, "could not check the webhook subscriptions", e)
                .await),
        }
    }
}

impl ShopifyAdapter {
    /// Answers the cancellation requests pending on fulfillment orders at `location` (see
    /// `moves.rs`): each answered one gets its new request status in `fos`; the ones Shopify
    /// would not let us answer come back as holds for the WMS. A transport failure is the
    /// caller's (retried; a 401 marks the connection `needs_reauth`).
    async fn answer_cancellations(
        &self,
        connection: &Connection,
        (shop, token): (&ShopDomain, &Secret),
        location: &str,
        fos: &mut [super::FulfillmentOrder],
    ) -> Result<Vec<crate::domain::HoldReason>, OpenError> {
        let mut holds = Vec::new();
        for index in super::moves::pending_cancellations(fos, location) {
            let fo = &mut fos[index];
            let (accept, message) = super::moves::cancellation_answer(fo);
            match self
                .tokens
                .client
                .answer_cancellation(shop, token, &fo.id, accept, message)
                .await
            {
                Ok(super::moves::Answer::Answered) => {
                    tracing::info!(fulfillment_order = %fo.id, accept, "cancellation request answered");
                    fo.request_status = Some(super::moves::answered_status(accept).to_owned());
                }
                Ok(super::moves::Answer::Refused(why)) => {
                    tracing::warn!(fulfillment_order = %fo.id, %why, "could not answer the cancellation request: recorded for the WMS");
                    holds.push(super::moves::unanswered_hold(&fo.id, &why));
                }
                Err(e) => {
                    return Err(self
                        .context
                        .call_failed(connection, "could not answer a cancellation request", e)
                        .await)
                }
            }
        }
        Ok(holds)
    }
}

/// A Shopify store through the GraphQL Admin API.
struct ShopifyStore {
    context: Arc<ChannelContext>,
    /// The connection as opened (its location settings may be kept on first use).
    connection: Connection,
    tokens: Arc<ShopifyTokens>,
    shop: ShopDomain,
    token: Secret,
    fulfilment_location: Option<String>,
    /// What each shipment planned, recorded before its first `fulfillmentCreate`.
    plans: ShipmentPlans,
}

/// Which of a recorded plan's groups are already on the order: a group is written when a
/// fulfillment carrying the tracking number covers one of its fulfillment orders. A
/// fulfillment carrying the number whose fulfillment orders Shopify did not list could be any
/// group's: then every group counts as written (never fulfil twice; at worst a multi-location
/// shipment reports fewer fulfillments than it planned).
fn written<'a>(
    groups: &[PlanGroup],
    ours: &[&'a OrderFulfillment],
) -> Vec<Option<&'a OrderFulfillment>> {
    let unknown = ours.iter().find(|f| f.fulfillment_orders.is_none());
    groups
        .iter()
        .map(|group| {
            unknown.copied().or_else(|| {
                ours.iter().copied().find(|f| {
                    f.fulfillment_orders.as_ref().is_some_and(|fos| {
                        group
                            .by_fulfillment_order
                            .iter()
                            .any(|(fo, _)| fos.contains(fo))
                    })
                })
            })
        })
        .collect()
}

fn push_unique(ids: &mut Vec<String>, id: &str) {
    if !ids.iter().any(|i| i == id) {
        ids.push(id.to_owned());
    }
}

impl ShopifyStore {
    /// The location whose fulfillment orders a shipment fulfils: the connection's
    /// `fulfilment_location`, else the shop's only active location. A shop with several and
    /// none chosen is refused for good (`tracking.failed` with what to set): the warehouse
    /// must never fulfil fulfillment orders assigned to another location — an order held
    /// `no_fulfilment_location` that the WMS ships anyway included.
    async fn shipping_location(&self) -> Result<String, ShipError> {
        if let Some(location) = &self.fulfilment_location {
            return Ok(location.clone());
        }
        match super::default_location::default_location(
            &self.context,
            &self.tokens.client,
            &self.connection,
            (&self.shop, &self.token),
        )
        .await?
        {
            Ok(only) => Ok(only.id),
            Err(none) => Err(ShipError::Permanent(format!(
                "not fulfilled on Shopify: this connection has no fulfilment location, so the \
                 fulfillment orders the warehouse ships cannot be told from other locations' — \
                 set settings.fulfilment_location (PATCH /api/connections/{{id}}) and send the \
                 shipment again ({})",
                none.why
            ))),
        }
    }
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

    /// An order a `fulfillment_orders/*` event named through its fulfillment orders (or by
    /// id), as it is now, versioned with its fulfillment orders (`moves.rs`). Fulfillment
    /// orders the app cannot see are not this connection's location's: nothing to do.
    async fn order(&self, id: &str) -> Result<Option<Reread>, ClientError> {
        self.tokens.client.reread(&self.shop, &self.token, id).await
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

    /// Finds an earlier write first, then plans and writes only what is missing:
    ///
    /// 1. Reads the order's fulfillments. Fulfillments carrying this tracking number are an
    ///    earlier write of this shipment (a retry after a lost answer).
    /// 2. Reads the plan recorded for (order, tracking number). None, and fulfillments with the
    ///    number exist: they are the whole earlier write — reported (their ids), nothing sent.
    ///    None and nothing found: reads the fulfillment orders, plans the shipped lines
    ///    (everything when `lines` is `None`) at the fulfilment location, and **records the
    ///    plan before sending**.
    /// 3. One `fulfillmentCreate` per location group of the plan, except groups a fulfillment
    ///    with the number already covers. A retry therefore re-sends the same plan, never a
    ///    new one against what remains (which, for a partial shipment, would fulfil more
    ///    units). Once every group is written the recorded plan is removed.
    async fn write_tracking(
        &self,
        channel_order_id: &str,
        lines: Option<&[ShippedSku]>,
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<Vec<String>, ShipError> {
        let number = tracking.number.as_str();
        let client = &self.tokens.client;
        let missing = || ShipError::Permanent("the order does not exist on Shopify".into());
        let existing = client
            .order_fulfillments(&self.shop, &self.token, channel_order_id)
            .await?
            .ok_or_else(missing)?;
        let ours = existing.carrying(number);
        let recorded = self.plans.get(channel_order_id, number).await?;
        let groups = match recorded {
            Some(groups) => groups,
            None if !ours.is_empty() => {
                // Written by an earlier attempt whose answer was lost (its plan was removed
                // once complete, or it predates recorded plans).
                tracing::info!(
                    order = channel_order_id,
                    "tracking already on Shopify; reported"
                );
                return Ok(ours.iter().map(|f| f.id.clone()).collect());
            }
            None => {
                let orders = client
                    .fulfillment_orders(&self.shop, &self.token, channel_order_id)
                    .await?
                    .ok_or_else(missing)?;
                let shipped: Option<Vec<(String, u32)>> =
                    lines.map(|lines| lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect());
                let location = self.shipping_location().await?;
                let plan = plan_fulfillment(&orders, Some(&location), shipped.as_deref()).map_err(
                    |e| match e {
                        PlanError::AlreadyFulfilled => {
                            ShipError::Permanent("the order is already fulfilled on Shopify".into())
                        }
                        other => ShipError::Permanent(other.to_string()),
                    },
                )?;
                self.plans
                    .record(channel_order_id, number, &plan.groups)
                    .await?;
                plan.groups
            }
        };
        let done = written(&groups, &ours);
        if !existing.complete && done.iter().any(Option::is_none) {
            // The number may be on a fulfillment we were not shown: sending could fulfil twice.
            return Err(ShipError::Permanent(format!(
                "the order has {MAX_FULFILLMENTS} or more fulfillments: cannot tell whether this \
                 shipment was already written; check the order on Shopify"
            )));
        }
        let mut ids = Vec::new();
        let mut sent = 0usize;
        for (group, found) in groups.iter().zip(done) {
            if let Some(f) = found {
                push_unique(&mut ids, &f.id);
                continue;
            }
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
                Ok(created) => {
                    sent += 1;
                    push_unique(&mut ids, &created.id);
                }
                Err(FulfillmentError::Client(e)) if ids.is_empty() => return Err(e.into()),
                Err(FulfillmentError::Client(e)) => {
                    // Part of the shipment is on Shopify already: the retry finds it and
                    // sends the rest of the recorded plan.
                    return Err(ShipError::Client(ClientError::Unavailable(format!(
                        "after {} fulfillment(s): {e}",
                        ids.len()
                    ))));
                }
                Err(other) => {
                    // Refused for good: the claim ends with the reason, nothing retries this.
                    self.plans.forget(channel_order_id, number).await;
                    return Err(ShipError::Permanent(other.to_string()));
                }
            }
        }
        if sent < groups.len() {
            tracing::info!(
                order = channel_order_id,
                found = groups.len() - sent,
                "part of the shipment was already on Shopify; not sent again"
            );
        }
        self.plans.forget(channel_order_id, number).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group(fos: &[&str]) -> PlanGroup {
        PlanGroup {
            location_id: None,
            by_fulfillment_order: fos
                .iter()
                .map(|fo| ((*fo).to_owned(), vec![(format!("{fo}-line"), 1)]))
                .collect(),
        }
    }

    fn fulfillment(id: &str, fos: Option<&[&str]>) -> OrderFulfillment {
        OrderFulfillment {
            id: id.into(),
            status: "SUCCESS".into(),
            tracking_numbers: vec!["1Z999".into()],
            fulfillment_orders: fos.map(|f| f.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn a_group_is_written_when_a_fulfillment_with_the_number_covers_one_of_its_orders() {
        let groups = [group(&["fo1", "fo2"]), group(&["fo3"])];
        let a = fulfillment("f1", Some(&["fo2"]));
        let ids = |found: Vec<Option<&OrderFulfillment>>| -> Vec<Option<String>> {
            found.into_iter().map(|f| f.map(|f| f.id.clone())).collect()
        };
        assert_eq!(ids(written(&groups, &[])), [None, None]);
        assert_eq!(ids(written(&groups, &[&a])), [Some("f1".into()), None]);
        let b = fulfillment("f2", Some(&["fo3"]));
        assert_eq!(
            ids(written(&groups, &[&a, &b])),
            [Some("f1".into()), Some("f2".into())]
        );
        // Shopify did not say which fulfillment orders: it could be any group's, so none is
        // sent again.
        let unknown = fulfillment("f3", None);
        assert_eq!(
            ids(written(&groups, &[&unknown])),
            [Some("f3".into()), Some("f3".into())]
        );
    }
}

#[cfg(all(test, feature = "embedded"))]
mod connect_tests;
