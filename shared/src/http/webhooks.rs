//! `POST /webhooks/{channel}` (app-wide secret, routed by the shop the headers name) and
//! `POST /webhooks/{channel}/{connection_id}` (a secret per connection, WooCommerce): verify
//! over the raw bytes, route to the connection, record the delivery durably, enqueue to
//! `channel-events`, answer 200. Heavy work happens in the `order-import` consumer.

use super::ApiError;
use crate::channels::adapter::Webhooks;
use crate::channels::registry::Registry;
use crate::channels::{Delivery, WebhookRejection, WebhookVerifier};
use crate::domain::{Channel, Connection};
use crate::keys;
use crate::messages::{ChannelEvent, VERSION};
use crate::ports::{Claim, Connections, Idempotency, OutMessage, Queue};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{json, value::RawValue, Value};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Largest webhook body accepted (413 above). Shopify orders are a few KB to a few hundred;
/// the limit keeps every accepted delivery within one queue message.
pub const MAX_WEBHOOK_BODY: usize = 512 * 1024;
/// How long a delivery id is remembered (Shopify retries for 4 hours; deliveries can be a
/// day late).
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long an intake holds a delivery claim while it enqueues.
const DELIVERY_LEASE: Duration = Duration::from_secs(30);

/// What the intake needs.
pub struct IntakeDeps {
    pub connections: Arc<dyn Connections>,
    pub idempotency: Arc<dyn Idempotency>,
    pub channel_events: Arc<dyn Queue>,
    /// Every channel's webhook verifier and declared capabilities (which route its
    /// deliveries take, which topics are privacy topics).
    pub channels: Arc<Registry>,
}

impl IntakeDeps {
    pub fn new(
        connections: Arc<dyn Connections>,
        idempotency: Arc<dyn Idempotency>,
        channel_events: Arc<dyn Queue>,
        channels: Arc<Registry>,
    ) -> Self {
        Self {
            connections,
            idempotency,
            channel_events,
            channels,
        }
    }

    /// The verifier of a channel whose deliveries take `route`.
    fn verifier(&self, channel: &str, route: Webhooks) -> Option<Arc<dyn WebhookVerifier>> {
        let adapter = self.channels.adapter(Channel::parse(channel)?)?;
        if adapter.capabilities().webhooks != route {
            return None;
        }
        adapter.verifier()
    }
}

/// The webhook routes.
pub fn router(deps: Arc<IntakeDeps>) -> Router {
    Router::new()
        .route("/webhooks/{channel}", post(receive).get(challenge))
        .route(
            "/webhooks/{channel}/{connection}",
            post(receive_for_connection),
        )
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .with_state(deps)
}

/// What happened to an accepted delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Recorded and enqueued.
    Enqueued,
    /// Recorded and enqueued before: nothing more to do.
    Duplicate,
    /// For a connection its tenant disconnected (or the channel uninstalled): answered so the
    /// channel stops retrying, never imported. Privacy requests still go through.
    Disconnected,
}

async fn receive(
    State(deps): State<Arc<IntakeDeps>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || ApiError::NotFound(format!("no webhook endpoint for channel '{channel}'"));
    let verifier = deps
        .verifier(&channel, Webhooks::AppSecret)
        .ok_or_else(unknown)?;
    let body = body?;
    let verified = match authenticate(&deps, verifier.as_ref(), &headers, &body).await {
        Ok(verified) => verified,
        Err(e @ ApiError::Unauthorized(_)) => {
            if disconnected_shop(&deps, verifier.as_ref(), &headers).await {
                return Ok(ignored_disconnected());
            }
            return Err(refused(verifier.as_ref(), e));
        }
        Err(e) => return Err(refused(verifier.as_ref(), e)),
    };
    let Verified {
        delivery,
        connection,
        payload,
    } = verified;
    let Some(connection) = connection else {
        tracing::info!(shop = %delivery.shop, topic = %delivery.topic, "privacy webhook for a shop we hold nothing about");
        return Ok(Json(json!({ "status": "nothing held" })));
    };
    accept_and_answer(&deps, &connection, &delivery, payload).await
}

/// The answer to a delivery for a disconnected connection: 200, so the channel stops
/// retrying (and does not disable the webhook the merchant would have to repair on
/// reconnect), nothing recorded or imported.
fn ignored_disconnected() -> Json<Value> {
    tracing::info!("delivery for a disconnected connection: answered, not imported");
    Json(json!({ "status": DISCONNECTED_STATUS }))
}

const DISCONNECTED_STATUS: &str = "ignored: the connection is disconnected";

/// Whether a delivery that failed its signature names (in headers no one verified) a shop
/// whose connection is disconnected: its per-connection secret was deleted with the
/// credentials, so nothing can verify it, and nothing is imported for it either way. A live
/// connection's failed signature stays a refusal.
async fn disconnected_shop(
    deps: &IntakeDeps,
    verifier: &dyn WebhookVerifier,
    headers: &HeaderMap,
) -> bool {
    let Some(shop) = verifier.unverified_shop(headers) else {
        return false;
    };
    matches!(
        deps.connections.find_by_shop(verifier.channel(), &shop).await,
        Ok(Some(c)) if c.status == crate::domain::ConnectionStatus::Disconnected
    )
}

/// A refused signature with the status the channel expects (eBay: 412).
fn refused(verifier: &dyn WebhookVerifier, e: ApiError) -> ApiError {
    match e {
        ApiError::Unauthorized(m)
            if verifier.refusal_status() == http::StatusCode::PRECONDITION_FAILED =>
        {
            ApiError::PreconditionFailed(m)
        }
        other => other,
    }
}

/// `GET /webhooks/{channel}?…`: a channel's endpoint challenge (eBay's `challenge_code`),
/// answered with the JSON its verifier computes; 404 for channels without one.
async fn challenge(
    State(deps): State<Arc<IntakeDeps>>,
    Path(channel): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let unknown = || ApiError::NotFound(format!("no webhook challenge for channel '{channel}'"));
    let verifier = deps
        .verifier(&channel, Webhooks::AppSecret)
        .ok_or_else(unknown)?;
    let query: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let answer = verifier.challenge(&query).ok_or_else(unknown)??;
    tracing::info!(%channel, "webhook endpoint challenge answered");
    Ok(Json(answer))
}

/// Records and enqueues an authenticated delivery, and says how it went.
async fn accept_and_answer(
    deps: &IntakeDeps,
    connection: &Connection,
    delivery: &Delivery,
    payload: Box<RawValue>,
) -> Result<Json<Value>, ApiError> {
    let span = tracing::info_span!(
        "webhook",
        channel = %connection.channel,
        connection = %connection.id,
        topic = %delivery.topic,
        delivery = %delivery.delivery_id,
    );
    let outcome = accept(deps, connection, delivery, payload)
        .instrument(span)
        .await?;
    let status = match outcome {
        Accepted::Enqueued => "accepted",
        Accepted::Duplicate => "duplicate",
        Accepted::Disconnected => DISCONNECTED_STATUS,
    };
    Ok(Json(json!({ "status": status })))
}

async fn receive_for_connection(
    State(deps): State<Arc<IntakeDeps>>,
    Path((channel, connection_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || ApiError::NotFound(format!("no webhook endpoint for channel '{channel}'"));
    let verifier = deps
        .verifier(&channel, Webhooks::PerConnection)
        .ok_or_else(unknown)?;
    let parsed = verifier.channel();
    let body = body?;
    if verifier.is_handshake(&headers, &body) {
        tracing::info!(channel = %parsed, "webhook creation ping answered");
        return Ok(Json(json!({ "status": "ping" })));
    }
    let no_connection = || ApiError::NotFound(format!("no {parsed} connection {connection_id}"));
    let id =
        crate::domain::ConnectionId::parse(connection_id.clone()).map_err(|_| no_connection())?;
    let connection = deps
        .connections
        .find_by_id(&id)
        .await?
        .filter(|c| c.channel == parsed)
        .ok_or_else(no_connection)?;
    let mut delivery = match verifier
        .authenticate(Some(&connection), &headers, &body)
        .await
    {
        Ok(delivery) => delivery,
        // Its secret went with the credentials at the disconnect: nothing can verify it, and
        // nothing would be imported anyway.
        Err(
            WebhookRejection::MissingSignature
            | WebhookRejection::BadSignature
            | WebhookRejection::NoSecret(_),
        ) if connection.status == crate::domain::ConnectionStatus::Disconnected => {
            return Ok(ignored_disconnected());
        }
        Err(e) => return Err(e.into()),
    };
    // The connection in the URL is the route; the channel's own idea of the store (a home
    // URL) is only informative.
    delivery.shop = connection.shop.clone();
    let payload: Box<RawValue> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    accept_and_answer(&deps, &connection, &delivery, payload).await
}

/// A delivery that passed every check.
pub struct Verified {
    pub delivery: Delivery,
    /// `None` only for a privacy topic about a shop with no connection (answered 200: we hold
    /// nothing about it).
    pub connection: Option<Connection>,
    /// The body as checked JSON whose bytes are the body's.
    pub payload: Box<RawValue>,
}

/// Everything that can refuse a delivery: signature (401), headers (400), body (400),
/// unknown shop (404). Split out so benchmarks can measure it without the router.
pub async fn authenticate(
    deps: &IntakeDeps,
    verifier: &dyn WebhookVerifier,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, ApiError> {
    let delivery = verifier.authenticate(None, headers, body).await?;
    // Valid JSON is required before anything is recorded; the bytes themselves are kept.
    let payload: Box<RawValue> = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let connection = deps
        .connections
        .find_by_shop(verifier.channel(), &delivery.shop)
        .await?;
    let privacy = deps
        .channels
        .capabilities(verifier.channel())
        .is_some_and(|c| c.is_privacy_topic(delivery.topic.as_str()));
    if connection.is_none() && !privacy {
        return Err(ApiError::NotFound(format!(
            "no connection for shop {}",
            delivery.shop
        )));
    }
    Ok(Verified {
        delivery,
        connection,
        payload,
    })
}

/// Records the delivery (once per delivery id) and enqueues it. A failure to enqueue
/// releases the claim and answers 503, so the channel's retry gets a clean second chance. A
/// delivery another attempt is recording right now (a live claim, not completed) is answered
/// 503 with `Retry-After` ([`ApiError::RetryLater`]), never 200: that attempt may die before
/// it enqueues, and a 200 would end the channel's retries. Only a completed claim is a
/// duplicate (200).
pub async fn accept(
    deps: &IntakeDeps,
    connection: &Connection,
    delivery: &Delivery,
    payload: Box<RawValue>,
) -> Result<Accepted, ApiError> {
    // The poll's own topic carries an already normalized order (holds decided) that the
    // consumer trusts: it never comes from outside, whoever signed it.
    if delivery.topic.is_polled_order() {
        return Err(ApiError::BadRequest(format!(
            "topic {} is internal to channel-sync",
            crate::channels::POLLED_ORDER_TOPIC
        )));
    }
    if connection.status == crate::domain::ConnectionStatus::Disconnected
        && !deps
            .channels
            .capabilities(connection.channel)
            .is_some_and(|c| c.is_privacy_topic(delivery.topic.as_str()))
    {
        tracing::info!("delivery for a disconnected connection: answered, not imported");
        return Ok(Accepted::Disconnected);
    }
    let key = keys::delivery(connection.channel, &delivery.shop, &delivery.delivery_id);
    let fence = match deps.idempotency.claim(&key, DELIVERY_LEASE).await? {
        Claim::Done(_) => {
            tracing::info!("duplicate delivery ignored");
            return Ok(Accepted::Duplicate);
        }
        // Another attempt holds the claim and may yet die before enqueueing: a 200 now would
        // end the channel's retries with nothing queued. Ask for a retry after the lease.
        Claim::InProgress => {
            tracing::info!("delivery in progress elsewhere: retry asked");
            return Err(ApiError::RetryLater {
                message: "this delivery is being recorded by another attempt; retry".into(),
                retry_after: DELIVERY_LEASE,
            });
        }
        Claim::Acquired(fence) => fence,
    };
    let enqueued = enqueue(deps, connection, delivery, payload).await;
    if let Err(e) = enqueued {
        if let Err(release) = deps.idempotency.release(&key, &fence).await {
            tracing::error!(error = %release, "could not release the delivery claim");
        }
        return Err(e);
    }
    let record = json!({ "connection": connection.id, "topic": delivery.topic });
    if !deps
        .idempotency
        .finish(&key, &fence, &record, Some(DELIVERY_RETENTION))
        .await?
    {
        // Our lease ran out and another attempt took the delivery: it records it.
        tracing::warn!("the delivery claim was taken over before it was recorded");
    }
    tracing::info!("delivery enqueued");
    Ok(Accepted::Enqueued)
}

async fn enqueue(
    deps: &IntakeDeps,
    connection: &Connection,
    delivery: &Delivery,
    payload: Box<RawValue>,
) -> Result<(), ApiError> {
    let event = ChannelEvent {
        v: VERSION,
        channel: connection.channel,
        tenant: connection.tenant.clone(),
        connection: connection.id.clone(),
        shop: delivery.shop.clone(),
        topic: delivery.topic.clone(),
        delivery_id: delivery.delivery_id.clone(),
        received_at: chrono::Utc::now(),
        triggered_at: delivery.triggered_at.clone(),
        payload,
    };
    let body = serde_json::to_string(&event)
        .map_err(|e| ApiError::Unavailable(format!("serialise channel event: {e}")))?;
    deps.channel_events
        .send(OutMessage {
            body,
            tenant: Some(connection.tenant.clone()),
            ..OutMessage::default()
        })
        .await?;
    Ok(())
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::channels::shopify::oauth::ShopifyCredentials;
    use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
    use crate::domain::ConnectionStatus;
    use http::Request;
    use tower::ServiceExt;

    /// Shopify's signature with the test app's secret.
    fn sign(body: &[u8]) -> String {
        sign_with("shpss_fake", body)
    }

    /// base64 HMAC-SHA256 of `body` (Shopify's and WooCommerce's signature).
    fn sign_with(secret: &str, body: &[u8]) -> String {
        crate::channels::shopify::sign(secret, body)
    }

    /// Issue 15, item 13: the internal topic of polled orders (whose payload is trusted as
    /// an already normalized order, holds and all) is refused from the wire, even signed with
    /// the connection's own webhook secret (which a WooCommerce store's admin can read).
    #[tokio::test]
    async fn the_internal_polled_order_topic_is_refused_from_the_wire() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = ShopifyCredentials::static_token("shpat_fake", "");
        let ShopifyFixture {
            store,
            channels,
            connection,
            ..
        } = shopify_fixture(
            dir.path(),
            "c_1",
            ConnectionStatus::Active,
            &credentials,
            "http://127.0.0.1:9".into(),
        )
        .await;
        crate::channels::testkit::woo_connection(
            &channels,
            &connection,
            "c_woo",
            "shop.example",
            "http://127.0.0.1:9".into(),
            "whsecret_fake",
        )
        .await;
        let queue = store.queue("channel-events", None, 5);
        let deps = Arc::new(IntakeDeps::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(queue.clone()),
            channels,
        ));
        let body = br#"{"order_number":"1","channel_order_id":"1","hold_reasons":[]}"#;
        let woo = Request::post("/webhooks/woocommerce/c_woo")
            .header("X-WC-Webhook-Signature", sign_with("whsecret_fake", body))
            .header("X-WC-Webhook-Source", "https://shop.example/")
            .header("X-WC-Webhook-Topic", crate::channels::POLLED_ORDER_TOPIC)
            .header("X-WC-Webhook-Delivery-ID", "d-forged")
            .body(axum::body::Body::from(&body[..]))
            .unwrap();
        let answer = router(deps.clone()).oneshot(woo).await.unwrap();
        assert_eq!(answer.status(), http::StatusCode::BAD_REQUEST);
        let shopify = Request::post("/webhooks/shopify")
            .header("X-Shopify-Hmac-Sha256", sign(body))
            .header("X-Shopify-Shop-Domain", "demo.myshopify.com")
            .header("X-Shopify-Topic", crate::channels::POLLED_ORDER_TOPIC)
            .header("X-Shopify-Webhook-Id", "wh-forged")
            .body(axum::body::Body::from(&body[..]))
            .unwrap();
        let answer = router(deps.clone()).oneshot(shopify).await.unwrap();
        assert_eq!(answer.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(queue.depth().await.unwrap(), 0, "nothing enqueued");
    }

    async fn post(deps: &Arc<IntakeDeps>, delivery_id: &str) -> http::Response<axum::body::Body> {
        let body = br#"{"id":5630201856307,"updated_at":"2026-11-27T10:00:00Z"}"#;
        let request = Request::post("/webhooks/shopify")
            .header("X-Shopify-Hmac-Sha256", sign(body))
            .header("X-Shopify-Shop-Domain", "demo.myshopify.com")
            .header("X-Shopify-Topic", "orders/create")
            .header("X-Shopify-Webhook-Id", delivery_id)
            .body(axum::body::Body::from(&body[..]))
            .unwrap();
        router(deps.clone()).oneshot(request).await.unwrap()
    }

    /// Issue 15, item 6: a delivery whose first attempt claimed it and then died (claim
    /// acquired, never completed) must not be answered 200 while that claim lives, or the
    /// channel stops retrying and nothing was queued. The retry gets a retryable status; once
    /// the lease is over it is accepted and enqueued exactly once; later repeats are 200.
    #[tokio::test]
    async fn a_retry_during_a_dead_attempts_claim_is_told_to_retry_then_enqueued_once() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = ShopifyCredentials::static_token("shpat_fake", "");
        let ShopifyFixture {
            store, channels, ..
        } = shopify_fixture(
            dir.path(),
            "c_1",
            ConnectionStatus::Active,
            &credentials,
            "http://127.0.0.1:9".into(),
        )
        .await;
        let queue = store.queue("channel-events", None, 5);
        let deps = Arc::new(IntakeDeps::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(queue.clone()),
            channels,
        ));
        // The first attempt: claimed, then the process died before enqueueing.
        let key = keys::delivery(Channel::Shopify, "demo.myshopify.com", "wh-crash");
        assert!(matches!(
            store.claim(&key, Duration::from_millis(400)).await.unwrap(),
            Claim::Acquired(_)
        ));
        let retry = post(&deps, "wh-crash").await;
        assert_eq!(retry.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        let after: u64 = retry.headers()[http::header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&after), "Retry-After {after}");
        assert_eq!(queue.depth().await.unwrap(), 0);

        tokio::time::sleep(Duration::from_millis(500)).await;
        let retry = post(&deps, "wh-crash").await;
        assert_eq!(retry.status(), http::StatusCode::OK);
        let again = post(&deps, "wh-crash").await;
        assert_eq!(again.status(), http::StatusCode::OK);
        let body = http_body_util::BodyExt::collect(again.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["status"],
            "duplicate"
        );
        assert_eq!(queue.depth().await.unwrap(), 1, "enqueued exactly once");
    }

    /// Marks `id` disconnected and deletes its credentials, as a disconnect does.
    async fn disconnect_it(channels: &Registry, id: &str) {
        let context = channels.context();
        let id = crate::domain::ConnectionId::parse(id).unwrap();
        let mut c = context.connections.find_by_id(&id).await.unwrap().unwrap();
        c.status = ConnectionStatus::Disconnected;
        context
            .connections
            .update(&c)
            .await
            .unwrap()
            .stored()
            .unwrap();
        context.vault.delete(&c.credentials_name()).await.unwrap();
    }

    async fn answer(
        deps: &Arc<IntakeDeps>,
        request: Request<axum::body::Body>,
    ) -> (http::StatusCode, Value) {
        let response = router(deps.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// Issue 15, item 7: a disconnect deletes a per-connection webhook secret (WooCommerce's,
    /// a Shopify custom app's) with the credentials. GIVEN such a disconnected connection WHEN
    /// its store keeps delivering THEN 200 "ignored", nothing enqueued (the channel stops
    /// retrying, and does not disable the webhook). GIVEN a live connection WHEN a delivery's
    /// signature fails THEN still 401.
    #[tokio::test]
    async fn a_disconnected_connections_unverifiable_deliveries_are_ignored_with_200() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = ShopifyCredentials {
            api_secret_key: Some("custom_key_fake".into()),
            ..ShopifyCredentials::static_token("shpat_fake", "")
        };
        let ShopifyFixture {
            store,
            channels,
            connection,
            ..
        } = shopify_fixture(
            dir.path(),
            "c_1",
            ConnectionStatus::Active,
            &credentials,
            "http://127.0.0.1:9".into(),
        )
        .await;
        for (id, shop, secret) in [
            ("c_woo_gone", "gone.example", "whsecret_gone_fake"),
            ("c_woo_live", "live.example", "whsecret_live_fake"),
        ] {
            crate::channels::testkit::woo_connection(
                &channels,
                &connection,
                id,
                shop,
                "http://127.0.0.1:9".into(),
                secret,
            )
            .await;
        }
        disconnect_it(&channels, "c_woo_gone").await;
        let queue = store.queue("channel-events", None, 5);
        let deps = Arc::new(IntakeDeps::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(queue.clone()),
            channels.clone(),
        ));
        let body = br#"{"id":77,"date_modified_gmt":"2026-11-27T10:00:00"}"#;
        let woo = |id: &str, shop: &str, signature: String| {
            Request::post(format!("/webhooks/woocommerce/{id}"))
                .header("X-WC-Webhook-Signature", signature)
                .header("X-WC-Webhook-Source", format!("https://{shop}/"))
                .header("X-WC-Webhook-Topic", "order.created")
                .header("X-WC-Webhook-Delivery-ID", "d-1")
                .body(axum::body::Body::from(&body[..]))
                .unwrap()
        };
        for signature in [sign_with("whsecret_gone_fake", body), "forged".into()] {
            let (status, said) = answer(&deps, woo("c_woo_gone", "gone.example", signature)).await;
            assert_eq!(status, http::StatusCode::OK, "{said}");
            assert_eq!(said["status"], DISCONNECTED_STATUS);
        }
        let forged = woo(
            "c_woo_live",
            "live.example",
            sign_with("whsecret_gone_fake", body),
        );
        let (status, said) = answer(&deps, forged).await;
        assert_eq!(status, http::StatusCode::UNAUTHORIZED, "{said}");

        let shopify = |secret: &str| {
            Request::post("/webhooks/shopify")
                .header("X-Shopify-Hmac-Sha256", sign_with(secret, body))
                .header("X-Shopify-Shop-Domain", "demo.myshopify.com")
                .header("X-Shopify-Topic", "orders/create")
                .header("X-Shopify-Webhook-Id", "wh-custom")
                .body(axum::body::Body::from(&body[..]))
                .unwrap()
        };
        let (status, said) = answer(&deps, shopify("not_the_custom_key")).await;
        assert_eq!(status, http::StatusCode::UNAUTHORIZED, "live: {said}");
        disconnect_it(&channels, "c_1").await;
        for secret in ["custom_key_fake", "not_the_custom_key"] {
            let (status, said) = answer(&deps, shopify(secret)).await;
            assert_eq!(status, http::StatusCode::OK, "{secret}: {said}");
            assert_eq!(said["status"], DISCONNECTED_STATUS);
        }
        // An unknown shop's failed signature stays a refusal.
        let unknown = Request::post("/webhooks/shopify")
            .header("X-Shopify-Hmac-Sha256", sign_with("whatever", body))
            .header("X-Shopify-Shop-Domain", "other.myshopify.com")
            .header("X-Shopify-Topic", "orders/create")
            .header("X-Shopify-Webhook-Id", "wh-other")
            .body(axum::body::Body::from(&body[..]))
            .unwrap();
        assert_eq!(
            answer(&deps, unknown).await.0,
            http::StatusCode::UNAUTHORIZED
        );
        assert_eq!(queue.depth().await.unwrap(), 0, "nothing enqueued");
    }
}
