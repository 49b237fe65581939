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
    let others =
        crate::consumers::order_import::other_locations(&*deps.inventory.values, &connection.id)
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
/// A background write meanwhile (a job marking the connection `needs_reauth`, an uninstall)
/// is not overwritten: the changes are applied again over the newer copy, a few times.
async fn patch_settings(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Connection>, ApiError> {
    const ATTEMPTS: usize = 4;
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
    let new_locations = changed_locations(changes)?;
    let mut checked = false;
    for _ in 0..ATTEMPTS {
        let previous_mode = connection.settings.inventory_sync;
        let mut changed = connection.clone();
        changed.settings = with_changes(&connection.settings, changes)?;
        if !checked {
            adapter(&deps, &changed)?
                .check_settings(&changed, &changed.settings, &new_locations)
                .await?;
            checked = true;
        }
        changed.updated_at = chrono::Utc::now();
        // Written only over the copy read: a PATCH racing an uninstall (or any other write)
        // cannot bring back the status it read.
        let stored = match deps.connections.update(&changed).await? {
            crate::ports::UpdateOutcome::Updated(stored) => *stored,
            crate::ports::UpdateOutcome::Stale => {
                connection = deps
                    .connections
                    .get(&connection.tenant, &connection.id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no connection {id}")))?;
                continue;
            }
        };
        // Switched on: the store gets every quantity now, not at the next daily push.
        if previous_mode == SyncMode::Disabled
            && stored.settings.inventory_sync != SyncMode::Disabled
            && stored.status == ConnectionStatus::Active
        {
            crate::inventory::engine::start_full(
                &*deps.inventory.records,
                &*deps.inventory.push_queue,
                &stored,
                crate::inventory::runs::RunKind::Enabled,
                false,
            )
            .await?;
        }
        return Ok(Json(stored));
    }
    Err(ApiError::Conflict(
        "the connection kept changing while this request was handled; read it and retry".into(),
    ))
}

/// The location ids a settings change names (to be checked against the store), or why a
/// location value is refused.
fn changed_locations(changes: &serde_json::Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let mut locations = Vec::new();
    for key in ["fulfilment_location", "inventory_location"] {
        match changes.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => {
                locations.push(s.trim().to_owned())
            }
            Some(_) => {
                return Err(ApiError::Unprocessable(format!(
                    "{key} must be a location id or null"
                )))
            }
        }
    }
    Ok(locations)
}

/// `current` with `changes` applied, or why they are refused (an unknown setting, a value of
/// the wrong shape).
fn with_changes(
    current: &ConnectionSettings,
    changes: &serde_json::Map<String, Value>,
) -> Result<ConnectionSettings, ApiError> {
    let mut settings =
        serde_json::to_value(current).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    for (key, value) in changes {
        match key.as_str() {
            "fulfilment_location"
            | "inventory_location"
            | "order_allocation"
            | "inventory_sync"
            | "notify_customer"
            | "safety_buffer"
            | "max_listed"
            | "import_unpaid" => {}
            other => return Err(ApiError::Unprocessable(format!("unknown setting {other}"))),
        }
        settings[key] = value.clone();
    }
    let settings: ConnectionSettings = serde_json::from_value(settings)
        .map_err(|e| ApiError::Unprocessable(format!("invalid settings: {e}")))?;
    check_allocation(settings.order_allocation.as_deref())?;
    Ok(settings)
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

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::channels::testkit::ShopifyFixture;
    use crate::domain::{ConnectionId, TenantId};
    use crate::http::testkit::{signed_in_shopify, FAKE_API_TOKEN};
    use crate::ports::{CreateOutcome, PortResult, RebindOutcome, UpdateOutcome};
    use http::Request;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    /// The store, except that just before the first update it lets a background job (here:
    /// credentials refused, `needs_reauth`) write the connection first.
    struct Racing {
        inner: crate::embedded::EmbeddedStore,
        raced: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Connections for Racing {
        async fn create(&self, c: &Connection) -> PortResult<CreateOutcome> {
            self.inner.create(c).await
        }
        async fn update(&self, c: &Connection) -> PortResult<UpdateOutcome> {
            if !self.raced.swap(true, Ordering::SeqCst) {
                let mut background = self.inner.get(&c.tenant, &c.id).await?.unwrap();
                background.status = ConnectionStatus::NeedsReauth;
                self.inner.update(&background).await?.stored()?;
            }
            self.inner.update(c).await
        }
        async fn rebind(&self, old: &Connection, new: &Connection) -> PortResult<RebindOutcome> {
            self.inner.rebind(old, new).await
        }
        async fn get(&self, t: &TenantId, id: &ConnectionId) -> PortResult<Option<Connection>> {
            self.inner.get(t, id).await
        }
        async fn find_by_shop(
            &self,
            channel: crate::domain::Channel,
            shop: &str,
        ) -> PortResult<Option<Connection>> {
            self.inner.find_by_shop(channel, shop).await
        }
        async fn find_by_id(&self, id: &ConnectionId) -> PortResult<Option<Connection>> {
            self.inner.find_by_id(id).await
        }
        async fn list(&self, t: &TenantId) -> PortResult<Vec<Connection>> {
            self.inner.list(t).await
        }
        async fn list_all(&self) -> PortResult<Vec<Connection>> {
            self.inner.list_all().await
        }
    }

    /// A settings change that meets a background write (a job marking the connection
    /// `needs_reauth`, an uninstall) is applied over the newer copy: the merchant's change is
    /// saved, the job's is kept, and nobody gets a 409 for a write they could not see.
    #[tokio::test]
    async fn a_settings_change_racing_a_background_write_keeps_both() {
        let dir = tempfile::tempdir().unwrap();
        let ShopifyFixture {
            store,
            channels,
            connection,
            ..
        } = signed_in_shopify(dir.path()).await;
        let racing = Arc::new(Racing {
            inner: store.clone(),
            raced: AtomicBool::new(false),
        });
        let deps = Arc::new(ApiDeps {
            connections: racing.clone(),
            tenants: Arc::new(store.clone()),
            channels,
            inventory: Arc::new(super::super::inventory_api::InventoryApiDeps {
                connections: racing,
                tenants: Arc::new(store.clone()),
                records: Arc::new(store.clone()),
                idempotency: Arc::new(store.clone()),
                values: Arc::new(store.clone()),
                push_queue: Arc::new(store.queue("push", None, 5)),
            }),
            wms_orders: Arc::new(store.queue("wms-orders", None, 5)),
        });
        let patch = Request::patch("/api/connections/c_1")
            .header("Authorization", format!("Bearer {FAKE_API_TOKEN}"))
            .header("Content-Type", "application/json")
            .body(axum::body::Body::from(
                r#"{"settings": {"notify_customer": true, "safety_buffer": 3}}"#,
            ))
            .unwrap();
        let answer = router(deps).oneshot(patch).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let stored = store
            .get(&connection.tenant, &connection.id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.settings.notify_customer);
        assert_eq!(stored.settings.safety_buffer, 3);
        assert_eq!(
            stored.status,
            ConnectionStatus::NeedsReauth,
            "the background write is not undone"
        );
    }
}
