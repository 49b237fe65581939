//! `wms-events` consumer, the edge of everything the WMS sends: each message is parsed once
//! and routed by its type — `shipment.dispatched` → tracking written back to the channel;
//! `stock.changed` and `product.upserted` → the inventory engine's stock handler
//! ([`crate::inventory::engine::handle_stock`]), in the same invocation (no second queue).
//!
//! Tracking export, any channel: the connection's store ([`crate::channels::store::StoreApi`])
//! writes the tracking (Shopify: fulfillment orders; WooCommerce: Shipment Tracking or a
//! customer note, then `completed`; Magento: `/order/{id}/ship` with `tracks[]`). Exactly once
//! per (connection, order, tracking number): a claim with a lease guards the work and is
//! completed with the channel's ids. Each channel's write checks what the order already
//! carries first, so a retry after a lost answer does not write twice. Permanent outcomes
//! (already fulfilled, cancelled, order unknown, refused by the channel, store disconnected or
//! its credentials revoked — the connection is then marked `needs_reauth`) are recorded and
//! reported to the WMS as `tracking.failed` with the reason, never retried forever.

use super::Disposition;
use crate::channels::registry::Registry;
use crate::channels::store::{ShipError, ShippedSku, Tracking};
use crate::channels::ClientError;
use crate::channels::OpenError;
use crate::domain::{ChannelOrderId, ConnectionId, Sku, TenantId, TrackingNumber};
use crate::inventory::unshipped;
use crate::messages::{ShippedLine, TrackingResult, WmsInbound, WmsOutbound, VERSION};
use crate::ports::{Claim, Connections, Idempotency, OutMessage, Queue};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

const SHIPMENT_LEASE: Duration = Duration::from_secs(120);

/// What the consumer needs.
pub struct WmsEventsDeps {
    pub connections: Arc<dyn Connections>,
    pub idempotency: Arc<dyn Idempotency>,
    /// Opens the connection's store, whatever its channel.
    pub channels: Arc<Registry>,
    /// Where the units of imported, unshipped orders are kept (Magento's source quantity).
    pub records: Arc<dyn crate::ports::Records>,
    /// Results for the WMS (`tracking.exported` / `tracking.failed`).
    pub wms_orders: Arc<dyn Queue>,
    /// The inventory engine's side: stock levels, products and the Live trigger.
    pub stock: Arc<crate::inventory::engine::StockDeps>,
    pub dead_letter: Arc<dyn Queue>,
}

/// Handles one `wms-events` message body.
pub async fn handle(deps: Arc<WmsEventsDeps>, body: String) -> Disposition {
    let message: WmsInbound = match serde_json::from_str(&body) {
        Ok(m) => m,
        Err(e) => return dead_letter(&deps, &body, format!("not a WMS message: {e}")).await,
    };
    match message {
        WmsInbound::ShipmentDispatched {
            tenant,
            connection,
            channel_order_id,
            lines,
            carrier,
            tracking_number,
            tracking_url,
            ..
        } => {
            let shipment = Shipment {
                tenant,
                connection,
                channel_order_id,
                lines,
                carrier,
                tracking_number,
                tracking_url,
            };
            export_tracking(&deps, shipment).await
        }
        stock => crate::inventory::engine::handle_stock(&deps.stock, stock).await,
    }
}

struct Shipment {
    tenant: TenantId,
    connection: ConnectionId,
    channel_order_id: ChannelOrderId,
    lines: Option<Vec<ShippedLine>>,
    carrier: String,
    /// As the WMS sent it: the shipment's key and the number echoed in the result. Parsed
    /// into a [`TrackingNumber`] under the claim ([`write_tracking`]), so a blank one ends
    /// as `tracking.failed` with its reason, recorded once.
    tracking_number: String,
    tracking_url: Option<String>,
}

impl Shipment {
    /// The tracking to write, once its number parses.
    fn tracking(&self) -> Result<Tracking, String> {
        let number = TrackingNumber::parse(&self.tracking_number)
            .map_err(|_| "the tracking number is blank".to_owned())?;
        Ok(Tracking {
            company: self.carrier.clone(),
            number,
            url: self.tracking_url.clone(),
        })
    }
}

/// Why a shipment ends without tracking on the channel, for good.
struct Permanent(String);

enum Failure {
    Permanent(Permanent),
    Retry(String),
}

async fn export_tracking(deps: &WmsEventsDeps, shipment: Shipment) -> Disposition {
    let key = crate::keys::shipment(
        &shipment.connection,
        shipment.channel_order_id.as_str(),
        &shipment.tracking_number,
    );
    // Ownership first: a message naming a connection its tenant does not have is answered
    // without claiming, so it cannot burn the owner's (connection, order, tracking) key.
    let connection = match deps
        .connections
        .get(&shipment.tenant, &shipment.connection)
        .await
    {
        Ok(Some(connection)) => connection,
        Ok(None) => return refuse_foreign(deps, &shipment, &key).await,
        Err(e) => return Disposition::Retry(e.to_string()),
    };
    let fence = match deps.idempotency.claim(&key, SHIPMENT_LEASE).await {
        Ok(Claim::Acquired(fence)) => fence,
        Ok(Claim::Done(_)) => return Disposition::Done("shipment already handled".into()),
        Ok(Claim::InProgress) => {
            return Disposition::Retry("the shipment is being exported by another worker".into())
        }
        Err(e) => return Disposition::Retry(e.to_string()),
    };
    let outcome = write_tracking(deps, &shipment, connection).await;
    let (message, record) = match outcome {
        Ok(fulfillments) => (
            WmsOutbound::TrackingExported(result(&shipment, fulfillments.clone(), None)),
            json!({"exported": fulfillments}),
        ),
        Err(Failure::Permanent(Permanent(reason))) => (
            WmsOutbound::TrackingFailed(result(&shipment, Vec::new(), Some(reason.clone()))),
            json!({"failed": reason}),
        ),
        Err(Failure::Retry(reason)) => {
            if let Err(e) = deps.idempotency.release(&key, &fence).await {
                tracing::warn!(error = %e, "could not release the shipment claim; it expires");
            }
            return Disposition::Retry(reason);
        }
    };
    let kind = if matches!(message, WmsOutbound::TrackingExported(_)) {
        "tracking.exported"
    } else {
        "tracking.failed"
    };
    // Publish, then record. A crash in between lets the claim expire; the retry finds the
    // tracking already on the channel and publishes under the same dedup id.
    if let Err(retry) = tell_wms(deps, &shipment.tenant, &message, &key).await {
        // Tracking is on the channel already; the retry finds it there and reports again.
        // Release so it can.
        let _ = deps.idempotency.release(&key, &fence).await;
        return retry;
    }
    match deps.idempotency.finish(&key, &fence, &record, None).await {
        Ok(true) => {}
        // The lease ran out and another worker holds the shipment: it finds the tracking on
        // the channel and records it.
        Ok(false) => tracing::warn!("the shipment claim was taken over before it was recorded"),
        Err(e) => return Disposition::Retry(e.to_string()),
    }
    tracing::info!(order = %shipment.channel_order_id, outcome = kind, "shipment handled");
    Disposition::Done(kind.into())
}

fn result(s: &Shipment, fulfillments: Vec<String>, reason: Option<String>) -> TrackingResult {
    TrackingResult {
        v: VERSION,
        tenant: s.tenant.clone(),
        connection: s.connection.clone(),
        channel_order_id: s.channel_order_id.clone(),
        tracking_number: s.tracking_number.clone(),
        fulfillments,
        reason,
    }
}

/// Tells the sender (only) that its tenant has no such connection. No claim is taken; the
/// dedup id is the sender's own, so a redelivery is told once.
async fn refuse_foreign(deps: &WmsEventsDeps, shipment: &Shipment, key: &str) -> Disposition {
    let reason = format!("no connection {} for this tenant", shipment.connection);
    let message = WmsOutbound::TrackingFailed(result(shipment, Vec::new(), Some(reason)));
    let seed = format!("refused#{}#{key}", shipment.tenant);
    match tell_wms(deps, &shipment.tenant, &message, &seed).await {
        Ok(()) => {
            tracing::warn!(connection = %shipment.connection, "shipment for a connection its tenant does not have: refused");
            Disposition::Done("tracking.failed".into())
        }
        Err(retry) => retry,
    }
}

/// Sends a result to `tenant`'s WMS, deduplicated (and grouped) by a hash of `seed`. `Err` is
/// the disposition to return: retry later.
async fn tell_wms(
    deps: &WmsEventsDeps,
    tenant: &TenantId,
    message: &WmsOutbound,
    seed: &str,
) -> Result<(), Disposition> {
    let body = serde_json::to_string(message)
        .map_err(|e| Disposition::Retry(format!("serialise the result: {e}")))?;
    let dedup = hex::encode(Sha256::digest(seed.as_bytes()));
    deps.wms_orders
        .send(OutMessage {
            body,
            dedup_id: Some(dedup.clone()),
            group_id: Some(dedup),
            tenant: Some(tenant.clone()),
        })
        .await
        .map_err(|e| Disposition::Retry(e.to_string()))
}

async fn write_tracking(
    deps: &WmsEventsDeps,
    shipment: &Shipment,
    connection: crate::domain::Connection,
) -> Result<Vec<String>, Failure> {
    let permanent = |r: String| Failure::Permanent(Permanent(r));
    let tracking = shipment.tracking().map_err(permanent)?;
    let store = deps
        .channels
        .open_store(&connection)
        .await
        .map_err(|e| match e {
            OpenError::Unavailable(reason) => Failure::Retry(reason),
            other => permanent(other.to_string()),
        })?;
    let lines: Option<Vec<ShippedSku>> = shipment.lines.as_ref().map(|lines| {
        lines
            .iter()
            .map(|l| ShippedSku {
                sku: l.sku.to_string(),
                quantity: l.quantity,
            })
            .collect()
    });
    let written = store
        .write_tracking(
            shipment.channel_order_id.as_str(),
            lines.as_deref(),
            &tracking,
            connection.settings.notify_customer,
        )
        .await;
    match written {
        Ok(ids) => {
            if deps.channels.deducts_at_shipment(connection.channel) {
                // Magento deducted the shipped units from the source: stop adding them back.
                let shipped: Option<Vec<(Sku, u32)>> = shipment
                    .lines
                    .as_ref()
                    .map(|lines| lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect());
                if let Err(e) = unshipped::shipped(
                    &*deps.records,
                    &connection.id,
                    shipment.channel_order_id.as_str(),
                    &shipment.tracking_number,
                    shipped.as_deref(),
                )
                .await
                {
                    // The tracking is written; the retry finds it and records this again.
                    return Err(Failure::Retry(format!(
                        "tracking written, but the unshipped units could not be updated: {e}"
                    )));
                }
            }
            Ok(ids)
        }
        Err(ShipError::Permanent(reason)) => Err(permanent(reason)),
        Err(ShipError::Client(ClientError::Unauthorized)) => {
            deps.channels.mark_needs_reauth(&connection).await;
            Err(permanent(format!(
                "{} rejected the store's credentials: the store must be reconnected",
                connection.channel
            )))
        }
        Err(ShipError::Client(ClientError::NotFound)) => Err(permanent(format!(
            "the {} store is closed or unavailable",
            connection.channel
        ))),
        // A 4xx the channel explained, or an answer we cannot use: retrying the same write
        // cannot change it, so the WMS hears why instead of the message ending in the DLQ.
        Err(ShipError::Client(ClientError::BadResponse(reason))) => Err(permanent(format!(
            "{} refused the tracking: {reason}",
            connection.channel
        ))),
        Err(ShipError::Client(other)) => Err(Failure::Retry(other.to_string())),
    }
}

async fn dead_letter(deps: &WmsEventsDeps, body: &str, reason: String) -> Disposition {
    super::dead_letter(&*deps.dead_letter, "wms-events", body, reason).await
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::channels::shopify::oauth::ShopifyCredentials;

    use crate::domain::ConnectionStatus;
    use crate::embedded::EmbeddedQueue;

    use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
    use serde_json::Value;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    struct World {
        deps: Arc<WmsEventsDeps>,
        outbox: EmbeddedQueue,
        pushes: EmbeddedQueue,
        dlq: EmbeddedQueue,
        _dir: tempfile::TempDir,
    }

    async fn world(server: &MockServer, status: ConnectionStatus) -> World {
        let dir = tempfile::tempdir().unwrap();
        let credentials = ShopifyCredentials::static_token("shpat_fake_ship", "");
        let ShopifyFixture {
            store,
            channels,
            connection,
            ..
        } = shopify_fixture(dir.path(), "c_ship", status, &credentials, server.uri()).await;
        at_location_1(&store, connection).await;
        let (outbox, pushes, dlq) = (
            store.queue("wms-orders", None, 5),
            store.queue(crate::inventory::engine::INVENTORY_PUSH_QUEUE, None, 5),
            store.queue("dlq", None, 5),
        );
        let deps = Arc::new(WmsEventsDeps {
            connections: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            channels,
            records: Arc::new(store.clone()),
            wms_orders: Arc::new(outbox.clone()),
            stock: crate::inventory::engine::embedded_stock(&store),
            dead_letter: Arc::new(dlq.clone()),
        });
        World {
            deps,
            outbox,
            pushes,
            dlq,
            _dir: dir,
        }
    }

    /// The warehouse's location is `gid://shopify/Location/1`: a shipment fulfils only its
    /// fulfillment orders (with none chosen the shop's locations would be read first).
    pub(super) async fn at_location_1(
        store: &crate::embedded::EmbeddedStore,
        mut connection: crate::domain::Connection,
    ) {
        use crate::ports::Connections;
        connection.settings.fulfilment_location = Some("gid://shopify/Location/1".into());
        store.update(&connection).await.unwrap().stored().unwrap();
    }

    fn shipment() -> String {
        json!({"type": "shipment.dispatched", "tenant": "dev", "connection": "c_ship", "channel_order_id": "42",
            "carrier": "UPS", "tracking_number": "1Z999", "tracking_url": null})
        .to_string()
    }

    async fn outbox(w: &World) -> Vec<Value> {
        let tenant = TenantId::parse("dev").unwrap();
        w.outbox
            .read_after(&tenant, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.body)
            .collect()
    }

    fn fulfillment_orders(status: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"data": {"order": {"id": "gid://shopify/Order/42",
            "fulfillments": [],
            "fulfillmentOrders": {"nodes": [{"id": "gid://shopify/FulfillmentOrder/1", "status": status,
                "assignedLocation": {"location": {"id": "gid://shopify/Location/1"}},
                "lineItems": {"nodes": [{"id": "gid://shopify/FulfillmentOrderLineItem/1", "remainingQuantity": 0,
                    "lineItem": {"id": "gid://shopify/LineItem/1", "sku": "A"}}],
                    "pageInfo": {"hasNextPage": false, "endCursor": null}}}],
                "pageInfo": {"hasNextPage": false, "endCursor": null}}}}}))
    }

    #[tokio::test]
    async fn poison_goes_to_the_dlq_and_stock_messages_reach_the_engine_in_place() {
        let server = MockServer::start().await;
        let w = world(&server, ConnectionStatus::Active).await;
        assert!(matches!(
            handle(w.deps.clone(), "{\"type\":".into()).await,
            Disposition::Done(_)
        ));
        assert_eq!(w.dlq.depth().await.unwrap(), 1);
        let stock = json!({"type": "stock.changed", "tenant": "dev", "sku": "A", "available": 3, "at": "2026-11-27T10:00:00Z"});
        assert_eq!(
            handle(w.deps.clone(), stock.to_string()).await,
            Disposition::Done("stock of A is 3; 0 Live connection(s) notified".into())
        );
        // Applied here, not re-sent: the snapshot holds the level, no queue holds the message.
        let tenant = TenantId::parse("dev").unwrap();
        let sku = Sku::parse("A").unwrap();
        let levels = crate::inventory::stock::stock_of(
            &*w.deps.records,
            &tenant,
            std::slice::from_ref(&sku),
        )
        .await
        .unwrap();
        assert_eq!(levels.get(&sku), Some(&3));
        assert_eq!(w.pushes.depth().await.unwrap(), 0);
        assert_eq!(w.dlq.depth().await.unwrap(), 1);
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_already_fulfilled_order_is_reported_once_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(fulfillment_orders("CLOSED"))
            // The order's fulfillments (none carries the number), then its fulfillment orders.
            .expect(2)
            .mount(&server)
            .await;
        let w = world(&server, ConnectionStatus::Active).await;
        assert_eq!(
            handle(w.deps.clone(), shipment()).await,
            Disposition::Done("tracking.failed".into())
        );
        assert_eq!(
            handle(w.deps.clone(), shipment()).await,
            Disposition::Done("shipment already handled".into())
        );
        let messages = outbox(&w).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["type"], "tracking.failed");
        assert_eq!(
            messages[0]["reason"],
            "the order is already fulfilled on Shopify"
        );
    }

    #[tokio::test]
    async fn a_disconnected_store_gets_no_call_and_the_wms_is_told() {
        let server = MockServer::start().await;
        let w = world(&server, ConnectionStatus::Disconnected).await;
        assert_eq!(
            handle(w.deps.clone(), shipment()).await,
            Disposition::Done("tracking.failed".into())
        );
        assert!(server.received_requests().await.unwrap().is_empty());
        assert!(outbox(&w).await[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Disconnected"));
    }

    /// Issue 15, item 5: a message of tenant `acme` naming `dev`'s connection must not burn
    /// `dev`'s (connection, order, tracking number) claim, nor reach `dev`'s store.
    #[tokio::test]
    async fn another_tenants_shipment_cannot_burn_the_owners_claim() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(fulfillment_orders("CANCELLED"))
            .mount(&server)
            .await;
        let w = world(&server, ConnectionStatus::Active).await;
        let mut forged: Value = serde_json::from_str(&shipment()).unwrap();
        forged["tenant"] = json!("acme");
        assert_eq!(
            handle(w.deps.clone(), forged.to_string()).await,
            Disposition::Done("tracking.failed".into())
        );
        assert!(server.received_requests().await.unwrap().is_empty());
        assert!(outbox(&w).await.is_empty(), "dev hears nothing of it");
        let acme = TenantId::parse("acme").unwrap();
        let told = w.outbox.read_after(&acme, 0, 10).await.unwrap();
        assert_eq!(told.len(), 1);
        assert!(told[0].body["reason"]
            .as_str()
            .unwrap()
            .contains("no connection c_ship for this tenant"));
        // The owner's shipment is still written.
        assert_eq!(
            handle(w.deps.clone(), shipment()).await,
            Disposition::Done("tracking.failed".into())
        );
        assert_eq!(outbox(&w).await[0]["reason"], "the order is cancelled");
        // Its order's fulfillments (an earlier write?), then its fulfillment orders.
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    /// Issue 15, item 5: order `1#2` with tracking `3` and order `1` with tracking `2#3` are
    /// two shipments; the second is not "already handled".
    #[tokio::test]
    async fn a_hash_inside_an_id_does_not_collide_with_another_shipment() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(fulfillment_orders("CANCELLED"))
            .mount(&server)
            .await;
        let w = world(&server, ConnectionStatus::Active).await;
        let ship = |order: &str, tracking: &str| {
            let mut m: Value = serde_json::from_str(&shipment()).unwrap();
            m["channel_order_id"] = json!(order);
            m["tracking_number"] = json!(tracking);
            m.to_string()
        };
        assert_eq!(
            handle(w.deps.clone(), ship("1#2", "3")).await,
            Disposition::Done("tracking.failed".into())
        );
        assert_eq!(
            handle(w.deps.clone(), ship("1", "2#3")).await,
            Disposition::Done("tracking.failed".into())
        );
        assert_eq!(outbox(&w).await.len(), 2);
    }

    #[tokio::test]
    async fn an_outage_is_retried_and_the_retry_can_claim_again() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(fulfillment_orders("CANCELLED"))
            .mount(&server)
            .await;
        let w = world(&server, ConnectionStatus::Active).await;
        assert!(matches!(
            handle(w.deps.clone(), shipment()).await,
            Disposition::Retry(_)
        ));
        assert!(outbox(&w).await.is_empty());
        assert_eq!(
            handle(w.deps.clone(), shipment()).await,
            Disposition::Done("tracking.failed".into())
        );
        assert_eq!(outbox(&w).await[0]["reason"], "the order is cancelled");
    }

    /// Issue 10, item 5: the message is read leniently and the number parsed under the
    /// shipment's claim, so a blank one still ends as `tracking.failed` with its reason (the
    /// number echoed as the WMS sent it), once: never the dead-letter queue, never a call to
    /// the channel.
    #[tokio::test]
    async fn a_blank_tracking_number_is_reported_as_tracking_failed_once() {
        let server = MockServer::start().await;
        let w = world(&server, ConnectionStatus::Active).await;
        for (i, blank) in ["", "   ", "\t\n"].into_iter().enumerate() {
            let mut m: Value = serde_json::from_str(&shipment()).unwrap();
            m["tracking_number"] = json!(blank);
            for _ in 0..2 {
                let first = outbox(&w).await.len() == i;
                assert_eq!(
                    handle(w.deps.clone(), m.to_string()).await,
                    if first {
                        Disposition::Done("tracking.failed".into())
                    } else {
                        Disposition::Done("shipment already handled".into())
                    },
                    "{blank:?}"
                );
            }
            let messages = outbox(&w).await;
            assert_eq!(messages.len(), i + 1, "told once: {blank:?}");
            assert_eq!(messages[i]["type"], "tracking.failed");
            assert_eq!(messages[i]["reason"], "the tracking number is blank");
            assert_eq!(messages[i]["tracking_number"], blank);
        }
        assert_eq!(w.dlq.depth().await.unwrap(), 0);
        assert!(server.received_requests().await.unwrap().is_empty());
    }
}

#[cfg(all(test, feature = "embedded"))]
mod lost_answer_tests;
