//! The WMS's side in `serve`: messages enter by `POST /wms/events` (queued on `wms-events`)
//! and leave by `GET /wms/outbox?after=CURSOR` (the `wms-orders` queue, read as a log).
//! Both take the tenant's bearer token and see only that tenant's messages: a message naming
//! another tenant, or a shipment naming a connection the tenant does not have, is refused
//! (403).

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::embedded::{EmbeddedQueue, OutboxCursor};
use shared::http::{bearer_tenant, ApiError};
use shared::messages::WmsInbound;
use shared::ports::{Connections, OutMessage, Queue, Tenants};
use std::sync::Arc;

pub(crate) struct WmsDeps {
    pub tenants: Arc<dyn Tenants>,
    /// A shipment must name one of the token's tenant's connections.
    pub connections: Arc<dyn Connections>,
    pub outbox: EmbeddedQueue,
    pub inbound: EmbeddedQueue,
}

pub(crate) fn router(deps: Arc<WmsDeps>) -> Router {
    Router::new()
        .route("/wms/events", post(post_event))
        .route("/wms/outbox", get(outbox))
        .layer(DefaultBodyLimit::max(256 * 1024))
        .with_state(deps)
}

#[derive(Deserialize)]
struct OutboxQuery {
    after: Option<String>,
    limit: Option<u32>,
}

async fn outbox(
    State(deps): State<Arc<WmsDeps>>,
    headers: HeaderMap,
    Query(query): Query<OutboxQuery>,
) -> Result<Json<OutboxPage>, ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    // Cursors count the tenant's own messages (`t…`); a bare number is a cursor handed out
    // before, when it was the global sequence, and is still read.
    let after = match query.after.as_deref() {
        None | Some("") => OutboxCursor::Tenant(0),
        Some(raw) => OutboxCursor::parse(raw).ok_or_else(|| {
            ApiError::BadRequest("after must be a cursor returned as next".into())
        })?,
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let (entries, next) = deps.outbox.read_tenant_after(&tenant, after, limit).await?;
    // The stored JSON is passed on as it is (checked, never rebuilt as a tree).
    Ok(Json(OutboxPage {
        messages: entries.into_iter().map(|e| e.body).collect(),
        next: next.to_string(),
    }))
}

/// One page of `GET /wms/outbox`.
#[derive(Serialize)]
struct OutboxPage {
    messages: Vec<Box<serde_json::value::RawValue>>,
    next: String,
}

async fn post_event(
    State(deps): State<Arc<WmsDeps>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let body = body?;
    let message: WmsInbound = serde_json::from_slice(&body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        } else {
            ApiError::Unprocessable(format!("not a WMS message: {e}"))
        }
    })?;
    if message.tenant() != &tenant {
        return Err(ApiError::Forbidden(
            "the message names another tenant".into(),
        ));
    }
    if let WmsInbound::ShipmentDispatched { connection, .. } = &message {
        // The same answer whether the connection is another tenant's or nobody's.
        if deps.connections.get(&tenant, connection).await?.is_none() {
            return Err(ApiError::Forbidden(
                "the message names a connection this tenant does not have".into(),
            ));
        }
    }
    let body = serde_json::to_string(&message)
        .map_err(|e| ApiError::Unavailable(format!("serialise: {e}")))?;
    deps.inbound
        .send(OutMessage {
            body,
            tenant: Some(tenant),
            ..OutMessage::default()
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "queued" }))))
}
