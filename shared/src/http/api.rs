//! The WMS's management API (`/api/...`), bearer token per tenant. A tenant only ever sees
//! its own connections.

use super::{bearer_tenant, owned_connection, ApiError};
use crate::channels::registry::Registry;
use crate::domain::{Connection, ConnectionSettings, ConnectionStatus, SyncMode};
use crate::ports::{Connections, Tenants};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// What the management API needs.
pub struct ApiDeps {
    pub connections: Arc<dyn Connections>,
    pub tenants: Arc<dyn Tenants>,
    /// Connects stores, reads their locations and checks their settings, whatever the channel.
    pub channels: Arc<Registry>,
    /// Sync now, runs, SKU audit (and the first push when inventory sync is switched on).
    pub inventory: Arc<super::inventory_api::InventoryApiDeps>,
    /// `wms-orders`: a disconnect tells the WMS (`connection.disconnected`).
    pub wms_orders: Arc<dyn crate::ports::Queue>,
}

/// The management routes.
pub fn router(deps: Arc<ApiDeps>) -> Router {
    let inventory = super::inventory_api::router(deps.inventory.clone());
    Router::new()
        .route("/api/connections", get(list).post(create))
        .route(
            "/api/connections/{id}",
            get(get_one).patch(patch_settings).delete(disconnect),
        )
        .route("/api/connections/{id}/locations", get(locations))
        .with_state(deps)
        .merge(inventory)
        .layer(DefaultBodyLimit::max(64 * 1024))
}

/// `order_allocation`: a WMS warehouse code, 1 to 100 printable characters.
fn check_allocation(allocation: Option<&str>) -> Result<(), ApiError> {
    match allocation {
        Some(a) if a.trim().is_empty() || a.len() > 100 || a.chars().any(char::is_control) => {
            Err(ApiError::Unprocessable(
                "order_allocation must be a WMS warehouse code (1 to 100 characters) or null"
                    .into(),
            ))
        }
        _ => Ok(()),
    }
}

async fn list(
    State(deps): State<Arc<ApiDeps>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let connections = deps.connections.list(&tenant).await?;
    Ok(Json(json!({ "connections": connections })))
}

/// The connection, plus `orders_for_other_locations`: how many orders were not sent to the
/// WMS because nothing on them is assigned to the connection's fulfilment location (Shopify),
/// and the last one; `missing`: settings the channel still needs before jobs run; and `notes`:
/// what the merchant should know (a feature off and how to turn it on, a default location in
/// use).
async fn get_one(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let connection = owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let others = crate::consumers::order_import::other_locations(
        &*deps.inventory.idempotency,
        &connection.id,
    )
    .await?
    .unwrap_or_default();
    let notes = match deps.channels.adapter(connection.channel) {
        Some(adapter) => adapter.notes(&connection).await,
        None => Vec::new(),
    };
    let mut body = serde_json::to_value(&connection)
        .map_err(|e| ApiError::Unavailable(format!("serialise the connection: {e}")))?;
    if let Value::Object(map) = &mut body {
        map.insert("orders_for_other_locations".into(), json!(others));
        map.insert("notes".into(), json!(notes));
        let missing = deps
            .channels
            .adapter(connection.channel)
            .map(|a| a.missing_settings(&connection))
            .unwrap_or_default();
        if !missing.is_empty() {
            map.insert("missing".into(), json!(missing));
        }
    }
    Ok(Json(body))
}

/// `POST /api/connections` with `{"channel": …, "settings"?: {…}, …the channel's form}`: the
/// channel's adapter checks the form with real calls before anything is stored.
async fn create(
    State(deps): State<Arc<ApiDeps>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let body = body?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(mut form) = request else {
        return Err(ApiError::Unprocessable(
            "invalid connection: expected a JSON object".into(),
        ));
    };
    let channel = match form.remove("channel") {
        Some(Value::String(name)) => name,
        _ => {
            return Err(ApiError::Unprocessable(
                "invalid connection: missing field `channel`".into(),
            ))
        }
    };
    let adapter = deps.channels.by_name(&channel).ok_or_else(|| {
        let known: Vec<String> = deps
            .channels
            .adapters()
            .map(|a| a.channel().to_string())
            .collect();
        ApiError::Unprocessable(format!(
            "invalid connection: unknown channel `{channel}`, expected one of {}",
            known.join(", ")
        ))
    })?;
    let settings: Option<ConnectionSettings> = match form.remove("settings") {
        None | Some(Value::Null) => None,
        Some(raw) => Some(
            serde_json::from_value(raw)
                .map_err(|e| ApiError::Unprocessable(format!("invalid connection: {e}")))?,
        ),
    };
    if let Some(settings) = &settings {
        check_allocation(settings.order_allocation.as_deref())?;
    }
    let connected = adapter
        .connect(&tenant, Value::Object(form), settings)
        .await?;
    let mut answer = serde_json::to_value(&connected.connection)
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if let Some(answer) = answer.as_object_mut() {
        answer.extend(connected.extra);
    }
    let status = if connected.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)))
}

/// The connection's channel adapter (every stored connection's channel is in the registry,
/// except one written by a build that spoke more channels).
fn adapter<'a>(
    deps: &'a ApiDeps,
    connection: &Connection,
) -> Result<&'a dyn crate::channels::adapter::ChannelAdapter, ApiError> {
    deps.channels.adapter(connection.channel).ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "{} stores are not supported by this build",
            connection.channel
        ))
    })
}

/// `GET /api/connections/{id}/locations`: where the merchant can fulfil and stock from.
async fn locations(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let connection = owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let locations = adapter(&deps, &connection)?.locations(&connection).await?;
    let body: Vec<Value> = locations
        .iter()
        .map(|l| json!({"id": l.id, "name": l.name, "active": l.active, "fulfills_online_orders": l.fulfills_online_orders}))
        .collect();
    Ok(Json(json!({ "locations": body })))
}

/// `PATCH /api/connections/{id}` with `{"settings": {...}}`: only the given settings change;
/// `null` clears a location. Location ids are checked against the store's active locations.
async fn patch_settings(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Connection>, ApiError> {
    let mut connection =
        owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let body: Value = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let Some(changes) = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("settings"))
        .and_then(Value::as_object)
    else {
        return Err(ApiError::Unprocessable(
            "expected {\"settings\": {...}}".into(),
        ));
    };
    let previous_mode = connection.settings.inventory_sync;
    let mut settings = serde_json::to_value(&connection.settings)
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let mut new_locations = Vec::new();
    for (key, value) in changes {
        match key.as_str() {
            "fulfilment_location" | "inventory_location" => match value {
                Value::Null => {}
                Value::String(s) if !s.trim().is_empty() && s.len() <= 200 => {
                    new_locations.push(s.trim().to_owned())
                }
                _ => {
                    return Err(ApiError::Unprocessable(format!(
                        "{key} must be a location id or null"
                    )))
                }
            },
            "order_allocation" => {} // checked once the settings are parsed
            "inventory_sync" | "notify_customer" | "safety_buffer" | "max_listed"
            | "import_unpaid" => {}
            other => return Err(ApiError::Unprocessable(format!("unknown setting {other}"))),
        }
        settings[key] = value.clone();
    }
    connection.settings = serde_json::from_value(settings)
        .map_err(|e| ApiError::Unprocessable(format!("invalid settings: {e}")))?;
    check_allocation(connection.settings.order_allocation.as_deref())?;
    adapter(&deps, &connection)?
        .check_settings(&connection, &connection.settings, &new_locations)
        .await?;
    connection.updated_at = chrono::Utc::now();
    // Written only over the copy read above: a PATCH racing an uninstall (or any other write)
    // cannot bring back the status it read.
    let connection = match deps.connections.update(&connection).await? {
        crate::ports::UpdateOutcome::Updated(stored) => *stored,
        crate::ports::UpdateOutcome::Stale => {
            return Err(ApiError::Conflict(
                "the connection changed while this request was handled; read it and retry".into(),
            ))
        }
    };
    // Switched on: the store gets every quantity now, not at the next daily push.
    if previous_mode == SyncMode::Disabled
        && connection.settings.inventory_sync != SyncMode::Disabled
        && connection.status == ConnectionStatus::Active
    {
        crate::inventory::engine::start_full(
            &*deps.inventory.records,
            &*deps.inventory.push_queue,
            &connection,
            crate::inventory::runs::RunKind::Enabled,
            false,
        )
        .await?;
    }
    Ok(Json(connection))
}

/// `DELETE /api/connections/{id}`: disconnects the tenant's connection (see
/// [`crate::channels::disconnect`]): 200 with the connection, now `disconnected`, and what
/// the channel revoked. Asking again finishes a disconnect that failed midway, and answers
/// the same.
async fn disconnect(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    use crate::channels::disconnect::Revoked;
    let connection = owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let done =
        crate::channels::disconnect::disconnect(&deps.channels, connection, &*deps.wms_orders)
            .await?;
    let (revocation, note) = match &done.revoked {
        Revoked::Revoked => ("revoked", None),
        Revoked::NotRevocable(note) => ("not_revocable", Some(note.as_str())),
        Revoked::Failed(note) => ("failed", Some(note.as_str())),
        Revoked::NoCredentials => ("no_credentials", None),
    };
    let mut body = serde_json::to_value(&done.connection)
        .map_err(|e| ApiError::Unavailable(format!("serialise the connection: {e}")))?;
    if let Value::Object(map) = &mut body {
        map.insert("revocation".into(), json!(revocation));
        if let Some(note) = note {
            map.insert("revocation_note".into(), json!(note));
        }
        map.insert("already_disconnected".into(), json!(done.already));
    }
    Ok(Json(body))
}
