//! Following Shopify's fulfillment-order moves: the `fulfillment_orders/*` topics that change
//! which location ships an order's lines (moved, split, merged, cancelled, placed on hold /
//! hold released, order routing complete, cancellation requests). Their payloads name
//! fulfillment orders (gids), not always the order: [`interpret`] turns each into
//! [`Interpreted::Fetch`] of those fulfillment orders, and the store's
//! [`crate::channels::store::StoreApi::order`] resolves them to their order
//! ([`ShopifyClient::order_of_fulfillment_orders`]), reads the order as it is now
//! ([`ShopifyClient::order`]) and hands it to the consumer's usual path (import by
//! assignment, then `order.imported` / `order.updated` / `order.cancelled`).
//!
//! **Version.** The consumer sends a state once per `updated_at`. Whether a move changes the
//! order's own `updatedAt` is not confirmed [U], so the order's version is the latest of its
//! `updatedAt` and its fulfillment orders' `updatedAt` ([`version`]): a move is a newer state
//! even if the order itself did not change, and a redelivered or late event re-reads the same
//! state (the same version) and sends nothing.
//!
//! **Cancellation requests** (only fulfillment-service locations get fulfillment and
//! cancellation requests [C] `FulfillmentOrderRequestStatus`): a fulfillment order of ours
//! whose request status is `CANCELLATION_REQUESTED` is answered as a fulfillment service must
//! — accepted when none of its units was fulfilled on Shopify (no tracking written), rejected
//! with the reason otherwise (the goods left; the merchant must handle a return). An accepted
//! one no longer counts as ours (the WMS gets the order without it, or `order.cancelled`).
//! When Shopify refuses our answer (the location is another app's fulfillment service, or the
//! app lacks `write_assigned_fulfillment_orders`), the request is recorded for the WMS as a
//! `not_ready` hold on the order naming the fulfillment order.

use super::fulfillment::{FoStatus, FulfillmentOrder};
use super::ShopifyClient;
use crate::channels::store::Reread;
use crate::channels::{ClientError, InterpretError, Interpreted};
use crate::domain::{Channel, HoldCode, HoldReason, Order, ShopDomain};
use crate::ports::Secret;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The `fulfillment_orders/*` topics handled, by their REST names (the `X-Shopify-Topic`
/// header). Names per Shopify's `WebhookSubscriptionTopic` enum [C] (reference §1).
pub const FULFILLMENT_ORDER_TOPICS: &[&str] = &[
    "fulfillment_orders/moved",
    "fulfillment_orders/split",
    "fulfillment_orders/merged",
    "fulfillment_orders/cancelled",
    "fulfillment_orders/placed_on_hold",
    "fulfillment_orders/hold_released",
    "fulfillment_orders/order_routing_complete",
    "fulfillment_orders/cancellation_request_submitted",
    "fulfillment_orders/cancellation_request_accepted",
    "fulfillment_orders/cancellation_request_rejected",
];

/// The same topics as `WebhookSubscriptionTopic` values, for subscribing.
pub const FULFILLMENT_ORDER_SUBSCRIPTIONS: &[&str] = &[
    "FULFILLMENT_ORDERS_MOVED",
    "FULFILLMENT_ORDERS_SPLIT",
    "FULFILLMENT_ORDERS_MERGED",
    "FULFILLMENT_ORDERS_CANCELLED",
    "FULFILLMENT_ORDERS_PLACED_ON_HOLD",
    "FULFILLMENT_ORDERS_HOLD_RELEASED",
    "FULFILLMENT_ORDERS_ORDER_ROUTING_COMPLETE",
    "FULFILLMENT_ORDERS_CANCELLATION_REQUEST_SUBMITTED",
    "FULFILLMENT_ORDERS_CANCELLATION_REQUEST_ACCEPTED",
    "FULFILLMENT_ORDERS_CANCELLATION_REQUEST_REJECTED",
];

/// Payload members that are a fulfillment order (an object with `id`), across the topics:
/// moved (`original_`, `moved_`), split (`remaining_`, `replacement_`), and the rest.
const FULFILLMENT_ORDER_MEMBERS: &[&str] = &[
    "fulfillment_order",
    "original_fulfillment_order",
    "moved_fulfillment_order",
    "remaining_fulfillment_order",
    "replacement_fulfillment_order",
];

/// More ids than any real event carries: refused rather than read.
pub(super) const MAX_FULFILLMENT_ORDER_IDS: usize = 20;

const FO_GID: &str = "gid://shopify/FulfillmentOrder/";

/// `gid://shopify/FulfillmentOrder/N` from a gid or a positive number (JSON number or digits).
fn fulfillment_order_gid(v: &Value) -> Option<String> {
    let digits = match v {
        Value::Number(n) => n.as_u64().filter(|n| *n > 0)?.to_string(),
        Value::String(s) => {
            let s = s.trim();
            let d = s.strip_prefix(FO_GID).unwrap_or(s);
            if d.is_empty() || d.len() > 20 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            d.trim_start_matches('0').to_owned()
        }
        _ => return None,
    };
    (!digits.is_empty()).then(|| format!("{FO_GID}{digits}"))
}

/// The fulfillment orders a payload names, in payload order, without repeats.
fn named_fulfillment_orders(payload: &Value) -> Result<Vec<String>, String> {
    let object = payload
        .as_object()
        .ok_or("the payload is not a JSON object")?;
    let mut ids: Vec<String> = Vec::new();
    let mut push = |raw: &Value, what: &str| -> Result<(), String> {
        let id = fulfillment_order_gid(raw)
            .ok_or_else(|| format!("{what} is not a fulfillment order id"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
        Ok(())
    };
    for member in FULFILLMENT_ORDER_MEMBERS {
        match object.get(*member) {
            None | Some(Value::Null) => {}
            Some(Value::Object(fo)) => push(
                fo.get("id").unwrap_or(&Value::Null),
                &format!("{member}.id"),
            )?,
            Some(_) => return Err(format!("{member} is not an object")),
        }
    }
    // `fulfillment_orders/merged`: `merge_intents[].fulfillment_order_id`.
    match object.get("merge_intents") {
        None | Some(Value::Null) => {}
        Some(Value::Array(intents)) => {
            for intent in intents {
                push(
                    intent.get("fulfillment_order_id").unwrap_or(&Value::Null),
                    "merge_intents[].fulfillment_order_id",
                )?;
            }
        }
        Some(_) => return Err("merge_intents is not an array".into()),
    }
    if ids.is_empty() {
        return Err("the payload names no fulfillment order".into());
    }
    if ids.len() > MAX_FULFILLMENT_ORDER_IDS {
        return Err(format!(
            "the payload names {} fulfillment orders (at most {MAX_FULFILLMENT_ORDER_IDS} are read)",
            ids.len()
        ));
    }
    Ok(ids)
}

/// A `fulfillment_orders/*` delivery as "re-read the order of these fulfillment orders"
/// ([`Interpreted::Fetch`] of their gids, comma-separated). `None` for other topics. A payload
/// that names no fulfillment order (or names one wrongly) is an [`InterpretError`]: the
/// consumer dead-letters it with the reason.
pub fn interpret(topic: &str, payload: &[u8]) -> Option<Result<Interpreted, InterpretError>> {
    if !FULFILLMENT_ORDER_TOPICS.contains(&topic) {
        return None;
    }
    let fail = |reason: String| InterpretError {
        channel: Channel::Shopify,
        topic: topic.to_owned(),
        reason,
    };
    let result = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("not JSON: {e}"))
        .and_then(|v| named_fulfillment_orders(&v))
        .map(|ids| Interpreted::Fetch(ids.join(",")))
        .map_err(fail);
    Some(result)
}

/// What [`crate::channels::store::StoreApi::order`] was asked to re-read: an order id, or the
/// fulfillment orders a `fulfillment_orders/*` event named.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reference {
    Order(String),
    FulfillmentOrders(Vec<String>),
}

impl Reference {
    pub(super) fn parse(id: &str) -> Self {
        let parts: Vec<&str> = id.split(',').map(str::trim).collect();
        let fos: Vec<String> = parts
            .iter()
            .filter(|p| p.starts_with(FO_GID))
            .filter_map(|p| fulfillment_order_gid(&json!(p)))
            .collect();
        if !fos.is_empty() && fos.len() == parts.len() && fos.len() <= MAX_FULFILLMENT_ORDER_IDS {
            Reference::FulfillmentOrders(fos)
        } else {
            Reference::Order(id.trim().to_owned())
        }
    }
}

/// The order's version for the consumer: the latest of its own `updatedAt` and its
/// fulfillment orders' `updatedAt` (see the module notes).
pub(super) fn version(order_updated_at: DateTime<Utc>, fos: &[FulfillmentOrder]) -> DateTime<Utc> {
    fos.iter()
        .filter_map(|fo| fo.updated_at)
        .fold(order_updated_at, DateTime::max)
}

/// `FulfillmentOrderRequestStatus` of a cancellation request waiting for the fulfillment
/// service's answer.
pub(super) const CANCELLATION_REQUESTED: &str = "CANCELLATION_REQUESTED";

/// The fulfillment orders at `location` with a cancellation request waiting for our answer
/// (their indexes in `fos`). Cancelled and closed ones have nothing left to answer for.
pub(super) fn pending_cancellations(fos: &[FulfillmentOrder], location: &str) -> Vec<usize> {
    let ours = super::assignment::location_gid(location);
    fos.iter()
        .enumerate()
        .filter(|(_, fo)| {
            fo.request_status.as_deref() == Some(CANCELLATION_REQUESTED)
                && fo
                    .location_id
                    .as_deref()
                    .map(super::assignment::location_gid)
                    == Some(ours.clone())
                && !matches!(fo.status, FoStatus::Cancelled | FoStatus::Closed)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether to accept a cancellation request, and the message Shopify shows the merchant.
/// Accepted when none of the fulfillment order's units was fulfilled on Shopify (no tracking
/// was written for it); otherwise rejected: the goods left the warehouse.
pub(super) fn cancellation_answer(fo: &FulfillmentOrder) -> (bool, &'static str) {
    if fo.lines.iter().all(|l| l.remaining == l.total) {
        (
            true,
            "Nothing of this fulfillment order was shipped: the warehouse was told not to ship it.",
        )
    } else {
        (
            false,
            "Part of this fulfillment order was already shipped (its tracking is on the order): \
             it cannot be cancelled; arrange a return for what was shipped.",
        )
    }
}

/// The request status after our answer.
pub(super) fn answered_status(accepted: bool) -> &'static str {
    if accepted {
        super::assignment::CANCELLATION_ACCEPTED
    } else {
        "CANCELLATION_REJECTED"
    }
}

/// A cancellation request Shopify would not let us answer, recorded for the WMS.
pub(super) fn unanswered_hold(fo_id: &str, why: &str) -> HoldReason {
    let why: String = why.chars().take(300).collect();
    HoldReason::new(
        HoldCode::NotReady,
        format!(
            "the merchant asked on Shopify to cancel fulfillment order {fo_id} and this app could \
             not answer the request ({why}): do not ship it; the order's next update says \
             whether it stays"
        ),
    )
}

/// Resolves fulfillment orders to their order (one request for all of them; cost ≈ 1 per id).
pub(super) const FULFILLMENT_ORDERS_ORDER_QUERY: &str = "query ChannelSyncFulfillmentOrdersOrder($ids: [ID!]!) { nodes(ids: $ids) { ... on FulfillmentOrder { id order { id } } } }";

/// One order, the same fields as the poll's `orders` document (so it maps the same way).
pub(super) const ORDER_QUERY: &str = "query ChannelSyncOrder($id: ID!) { order(id: $id) { id legacyResourceId name createdAt updatedAt cancelledAt displayFinancialStatus paymentGatewayNames test currencyCode email shippingAddress { name firstName lastName company address1 address2 city provinceCode zip countryCodeV2 phone } lineItems(first: 250) { nodes { id sku quantity name requiresShipping } pageInfo { hasNextPage } } } }";

pub(super) const ACCEPT_CANCELLATION_MUTATION: &str = "mutation ChannelSyncAcceptCancellation($id: ID!, $message: String) { fulfillmentOrderAcceptCancellationRequest(id: $id, message: $message) { fulfillmentOrder { id status requestStatus } userErrors { field message } } }";

pub(super) const REJECT_CANCELLATION_MUTATION: &str = "mutation ChannelSyncRejectCancellation($id: ID!, $message: String) { fulfillmentOrderRejectCancellationRequest(id: $id, message: $message) { fulfillmentOrder { id status requestStatus } userErrors { field message } } }";

/// How Shopify took our answer to a cancellation request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    Answered,
    /// Shopify refused it (`userErrors`, or an access error): the messages.
    Refused(String),
}

fn bad(message: impl Into<String>) -> ClientError {
    ClientError::BadResponse(message.into())
}

impl ShopifyClient {
    /// What the store's `order(id)` answers: the order an event named (by id, or through its
    /// fulfillment orders) as it is now, versioned with its fulfillment orders (all pages).
    /// Fulfillment orders the app cannot see are not this connection's location's: nothing
    /// to do. `None`: the order is not readable (yet).
    pub async fn reread(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        id: &str,
    ) -> Result<Option<Reread>, ClientError> {
        let order_id = match Reference::parse(id) {
            Reference::Order(id) => id,
            Reference::FulfillmentOrders(fos) => {
                match self.order_of_fulfillment_orders(shop, token, &fos).await? {
                    Some(order) => order,
                    None => {
                        return Ok(Some(Reread::NotOurs(format!(
                            "Shopify shows the app none of the fulfillment orders {} (deleted, \
                             or at a location whose fulfillment orders it cannot see)",
                            fos.join(", ")
                        ))))
                    }
                }
            }
        };
        let Some(mut order) = self.order(shop, token, &order_id).await? else {
            return Ok(None);
        };
        if let Some(fos) = self.fulfillment_orders(shop, token, &order_id).await? {
            order.updated_at = version(order.updated_at, &fos);
        }
        Ok(Some(Reread::Order(Box::new(order))))
    }

    /// The order (`gid://shopify/Order/N`) the fulfillment orders `ids` belong to. `None` when
    /// none of them is visible to the app (deleted, or at a location whose fulfillment orders
    /// its scopes do not show). Fulfillment orders of two different orders are a
    /// [`ClientError::BadResponse`].
    pub async fn order_of_fulfillment_orders(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        ids: &[String],
    ) -> Result<Option<String>, ClientError> {
        let data = self
            .graphql(
                shop,
                token,
                FULFILLMENT_ORDERS_ORDER_QUERY,
                json!({ "ids": ids }),
            )
            .await?;
        let nodes = data
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("the response has no nodes"))?;
        let mut order: Option<String> = None;
        for node in nodes.iter().filter(|n| !n.is_null()) {
            let Some(found) = node
                .pointer("/order/id")
                .and_then(Value::as_str)
                .filter(|s| super::order_gid(s).is_some())
            else {
                // A node that is not a fulfillment order, or one without a readable order.
                continue;
            };
            match &order {
                None => order = Some(found.to_owned()),
                Some(o) if o == found => {}
                Some(o) => {
                    return Err(bad(format!(
                        "the fulfillment orders belong to two orders ({o}, {found})"
                    )))
                }
            }
        }
        Ok(order)
    }

    /// One order by id (numeric or gid), mapped as the poll maps it. `None` when Shopify does
    /// not show it to the app. A node that cannot be mapped is a [`ClientError::BadResponse`]
    /// with the reason.
    pub async fn order(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        order_id: &str,
    ) -> Result<Option<Order>, ClientError> {
        let gid = super::order_gid(order_id).ok_or_else(|| {
            let shown: String = order_id.chars().take(40).collect();
            bad(format!(
                "not a Shopify order id: {shown:?} (nothing was sent)"
            ))
        })?;
        let data = self
            .graphql(shop, token, ORDER_QUERY, json!({ "id": gid }))
            .await?;
        match data.get("order") {
            None => Err(bad("order is missing from the response")),
            Some(Value::Null) => Ok(None),
            Some(node) => super::orders_poll::map_order(node)
                .map(Some)
                .map_err(|e| bad(format!("order {gid}: {e}"))),
        }
    }

    /// Accepts (or rejects) the cancellation request of fulfillment order `id`, with `message`.
    pub(super) async fn answer_cancellation(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        id: &str,
        accept: bool,
        message: &str,
    ) -> Result<Answer, ClientError> {
        let (mutation, field) = if accept {
            (
                ACCEPT_CANCELLATION_MUTATION,
                "fulfillmentOrderAcceptCancellationRequest",
            )
        } else {
            (
                REJECT_CANCELLATION_MUTATION,
                "fulfillmentOrderRejectCancellationRequest",
            )
        };
        let data = match self
            .graphql(
                shop,
                token,
                mutation,
                json!({ "id": id, "message": message }),
            )
            .await
        {
            Ok(data) => data,
            // Top-level GraphQL errors (e.g. access denied: not our fulfillment service).
            Err(ClientError::BadResponse(e)) => return Ok(Answer::Refused(e)),
            Err(e) => return Err(e),
        };
        let payload = data
            .get(field)
            .filter(|p| p.is_object())
            .ok_or_else(|| bad(format!("the response has no {field}")))?;
        let errors: Vec<String> = payload
            .get("userErrors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("(no message)")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if errors.is_empty() {
            Ok(Answer::Answered)
        } else {
            Ok(Answer::Refused(errors.join("; ")))
        }
    }
}

#[cfg(test)]
#[path = "moves_tests.rs"]
mod tests;
