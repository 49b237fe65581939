//! The inventory part of the management API: Sync now, runs and the SKU audit.
//!
//! - `POST /api/connections/{id}/sync` (`{"dry_run": true}` optional) → 202 `{"run": …}`
//! - `GET /api/connections/{id}/runs?after=&limit=` → newest first
//! - `GET /api/runs/{id}` → the run with its per-SKU failures
//! - `GET /api/sku-audit` → per connection: blank SKUs, duplicate SKUs, channel SKUs unknown
//!   to the WMS, WMS SKUs missing on the channel, refused bundles

use super::{bearer_tenant, owned_connection, ApiError};
use crate::domain::{ConnectionStatus, Sku, SyncMode, TenantId};
use crate::inventory::bundles::compute;
use crate::inventory::engine::start_full;
use crate::inventory::runs::{self, RunKind};
use crate::inventory::skumap;
use crate::inventory::stock;
use crate::ports::{Connections, Idempotency, KeyValue, Queue, Records, Tenants};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// SKUs listed per category in the audit (totals are exact).
pub const MAX_AUDIT_LISTED: usize = 1000;

/// Hold codes a change of the merchant's catalogue or channel settings prevents: recent orders
/// imported held for one of them make a connection not ready in the audit (orders held
/// cancelled, test orders or a buyer's missing address are only listed in `held_orders`).
pub const HELD_SETUP_CODES: &[&str] = &[
    "missing_sku",
    "invalid_quantity",
    "no_fulfilment_location",
    "masked_address",
];

/// What the inventory routes need.
pub struct InventoryApiDeps {
    pub connections: Arc<dyn Connections>,
    pub tenants: Arc<dyn Tenants>,
    pub records: Arc<dyn Records>,
    pub idempotency: Arc<dyn Idempotency>,
    /// Small named values: the SKU map's committed generation, last runs.
    pub values: Arc<dyn KeyValue>,
    pub push_queue: Arc<dyn Queue>,
}

pub fn router(deps: Arc<InventoryApiDeps>) -> Router {
    Router::new()
        .route("/api/connections/{id}/sync", post(sync_now))
        .route("/api/connections/{id}/runs", get(list_runs))
        .route("/api/runs/{id}", get(get_run))
        .route("/api/sku-audit", get(sku_audit))
        .with_state(deps)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncRequest {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/connections/{id}/sync`: a full push in the background. A run already queued or
/// running for the connection is returned instead of starting a second one.
async fn sync_now(
    State(deps): State<Arc<InventoryApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let connection = owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let body = body?;
    let request: SyncRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SyncRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Unprocessable(format!("expected {{\"dry_run\": bool}}: {e}")))?
    };
    if connection.status != ConnectionStatus::Active {
        return Err(ApiError::Conflict(format!(
            "the connection is {:?}: reconnect it before syncing",
            connection.status
        )));
    }
    if connection.settings.inventory_sync == SyncMode::Disabled && !request.dry_run {
        return Err(ApiError::Conflict(
            "inventory sync is disabled for this connection: set inventory_sync to daily or live first (a dry run is allowed)".into(),
        ));
    }
    let kinds = [RunKind::SyncNow, RunKind::Daily, RunKind::Enabled];
    if let Some(run) = runs::active(&*deps.records, &connection.id, &kinds).await? {
        if run.dry_run == request.dry_run {
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "run": run, "existing": true })),
            ));
        }
    }
    let run = start_full(
        &*deps.records,
        &*deps.push_queue,
        &connection,
        RunKind::SyncNow,
        request.dry_run,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run": run }))))
}

#[derive(Deserialize)]
struct RunsQuery {
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_runs(
    State(deps): State<Arc<InventoryApiDeps>>,
    Path(id): Path<String>,
    Query(q): Query<RunsQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let connection = owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let after = q.after.filter(|a| !a.is_empty());
    if after.as_ref().is_some_and(|a| a.len() > 200) {
        return Err(ApiError::Unprocessable(
            "after must be a `next` value from a previous page".into(),
        ));
    }
    let (list, next) = runs::list(&*deps.records, &connection.id, after.as_deref(), limit).await?;
    Ok(Json(json!({ "runs": list, "next": next })))
}

async fn get_run(
    State(deps): State<Arc<InventoryApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    if id.len() > 100 {
        return Err(ApiError::NotFound(format!("no run {id}")));
    }
    let run = runs::get(&*deps.records, &tenant, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run {id}")))?;
    let failures = runs::failures_of(&*deps.records, &run.id).await?;
    let mut body = serde_json::to_value(&run).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    body["failures"] = serde_json::to_value(failures).unwrap_or_default();
    Ok(Json(body))
}

/// `GET /api/sku-audit`.
async fn sku_audit(
    State(deps): State<Arc<InventoryApiDeps>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = bearer_tenant(&*deps.tenants, &headers).await?;
    let audit = audit(&deps, &tenant).await?;
    Ok(Json(audit))
}

fn capped(set: &BTreeSet<&Sku>) -> Value {
    json!({
        "total": set.len(),
        "skus": set.iter().take(MAX_AUDIT_LISTED).map(|s| s.as_str()).collect::<Vec<_>>(),
    })
}

/// The audit of every connection of a tenant, against the WMS's products.
pub async fn audit(deps: &InventoryApiDeps, tenant: &TenantId) -> Result<Value, ApiError> {
    let records = &*deps.records;
    let products_records = stock::load_all(records, &stock::products_partition(tenant)).await?;
    let mut wms: HashMap<Sku, Option<String>> = HashMap::new();
    for record in products_records {
        if let Ok(sku) = Sku::parse(record.key.clone()) {
            let problem = record
                .value
                .get("problem")
                .and_then(Value::as_str)
                .map(str::to_owned);
            wms.insert(sku, problem);
        }
    }
    // Bundles: refused definitions, and graph problems (cycles, components the WMS lacks).
    let bundles = stock::bundles(records, tenant).await?;
    let leaves: HashMap<Sku, i64> = wms
        .keys()
        .filter(|s| !bundles.contains_key(*s))
        .map(|s| (s.clone(), 0))
        .collect();
    let mut bundle_problems: Vec<Value> = Vec::new();
    for (sku, problem) in &wms {
        if let Some(problem) = problem {
            bundle_problems.push(json!({"sku": sku, "reason": problem}));
        }
    }
    for (sku, problem) in compute(&leaves, &bundles).problems {
        bundle_problems.push(json!({"sku": sku, "reason": problem.to_string()}));
    }
    bundle_problems.sort_by(|a, b| a["sku"].as_str().cmp(&b["sku"].as_str()));

    let mut out = Vec::new();
    for connection in deps.connections.list(tenant).await? {
        let committed = skumap::committed_generation(&*deps.values, &connection.id).await?;
        let mut channel: BTreeSet<Sku> = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let (entries, next) =
                skumap::mapped_page(records, committed, &connection.id, after.as_deref(), 1000)
                    .await?;
            channel.extend(entries.into_iter().map(|(s, _)| s));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let last = deps
            .values
            .get(&crate::keys::products_last(&connection.id))
            .await?;
        let duplicates: BTreeSet<String> = last
            .as_ref()
            .and_then(|r| r.get("duplicate_skus"))
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let unknown_to_wms: BTreeSet<&Sku> =
            channel.iter().filter(|s| !wms.contains_key(*s)).collect();
        let missing_on_channel: BTreeSet<&Sku> = wms
            .keys()
            .filter(|s| !channel.contains(*s) && !duplicates.contains(s.as_str()))
            .collect();
        let field = |name: &str| last.as_ref().and_then(|r| r.get(name)).cloned();
        let count = |name: &str| field(name).and_then(|v| v.as_u64()).unwrap_or(0);
        let mut not_ready = Vec::new();
        if last.is_none() {
            not_ready.push("products were never imported from the channel (they are read daily and before the first push)".to_owned());
        }
        if count("blank_total") > 0 {
            not_ready.push(format!(
                "{} sellable variant(s) have no SKU",
                count("blank_total")
            ));
        }
        if count("duplicate_total") > 0 {
            not_ready.push(format!(
                "{} SKU(s) are used by more than one variant",
                count("duplicate_total")
            ));
        }
        if !unknown_to_wms.is_empty() {
            not_ready.push(format!(
                "{} channel SKU(s) are unknown to the WMS",
                unknown_to_wms.len()
            ));
        }
        // Orders imported held, per reason, recently (any channel): the detail says what to
        // change on the channel so the next ones import clean.
        let since = chrono::Utc::now() - crate::connection_state::HELD_RECENT;
        let held = crate::connection_state::held_orders(records, &connection.id, since).await?;
        let setup = |code: &str| HELD_SETUP_CODES.contains(&code);
        for (code, h) in held.iter().filter(|(c, h)| h.count > 0 && setup(c)) {
            not_ready.push(format!(
                "{} recent order(s) were imported held ({code}): {}",
                h.count, h.detail
            ));
        }
        out.push(json!({
            "held_orders": held,
            "connection": connection.id,
            "channel": connection.channel,
            "shop": connection.shop,
            "products_imported_at": field("finished_at"),
            "blank_skus": {
                "total": field("blank_total").unwrap_or(json!(0)),
                "variants": field("blank_skus").unwrap_or(json!([])),
            },
            "duplicate_skus": {
                "total": field("duplicate_total").unwrap_or(json!(0)),
                "skus": field("duplicate_skus").unwrap_or(json!({})),
            },
            "mapped": channel.len(),
            "unknown_to_wms": capped(&unknown_to_wms),
            "missing_on_channel": capped(&missing_on_channel),
            "ready": not_ready.is_empty(),
            "not_ready_because": not_ready,
        }));
    }
    Ok(json!({
        "tenant": tenant,
        "wms_products": wms.len(),
        "bundle_problems": bundle_problems,
        "connections": out,
    }))
}
