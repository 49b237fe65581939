//! The Integrations page: one HTML file, one script and one stylesheet, compiled into the
//! binary (no build step, nothing loaded from another origin), served by `channel-sync serve`
//! at `/` and `/integrations` and by the `api` function at `/integrations`.
//!
//! The page only calls the management API with the tenant's bearer token, which it keeps in
//! `sessionStorage` (never in a URL, never in a cookie: no CSRF surface). Every answer is
//! served with a strict Content-Security-Policy: scripts and styles from this origin only, no
//! inline script or style, no frames, no other origin reachable from the page. Every string
//! that came from a store or the WMS is written with `textContent`, never as markup.

use super::{owned_connection, ApiError};
use crate::channels::adapter::LocationKind;
use crate::channels::registry::Registry;
use crate::domain::Channel;
use crate::keys;
use crate::ports::{Connections, Secret, Tenants};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// The page's policy: everything from this origin, nothing inline, no frames, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// What the page's routes need.
pub struct UiDeps {
    /// Which channels this build speaks and whether their OAuth apps are configured.
    pub channels: Arc<Registry>,
    /// The connection activity route: whose connection it is (the jobs' last records are
    /// read from the registry context's `values` and `records`).
    pub tenants: Arc<dyn Tenants>,
    pub connections: Arc<dyn Connections>,
    /// `serve` only: the `dev` tenant's token, offered to a browser on this machine (see
    /// [`dev_token`]). `None` on AWS.
    pub dev_token: Option<Secret>,
}

/// The page's routes; `at_root` also serves it at `/` (`serve`).
pub fn router(deps: Arc<UiDeps>, at_root: bool) -> Router {
    let mut router = Router::new()
        .route("/integrations", get(index))
        .route("/integrations/app.js", get(script))
        .route("/integrations/app.css", get(style))
        .route("/integrations/channels", get(channels))
        .route("/integrations/dev-token", get(dev_token))
        .route("/api/connections/{id}/activity", get(activity));
    if at_root {
        router = router.route("/", get(index));
    }
    router.with_state(deps)
}

/// An asset with the page's security headers.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(headers);
    response
}

/// The headers every answer of the page carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /integrations/channels`: every channel channel-sync knows, whether this build speaks
/// it, how it connects (OAuth app configured, key form) and whether it has locations. Nothing
/// tenant-specific, so no token.
async fn channels(State(deps): State<Arc<UiDeps>>) -> Response {
    let list: Vec<Value> = Channel::ALL
        .iter()
        .map(|&channel| match deps.channels.adapter(channel) {
            None => json!({"channel": channel, "available": false}),
            Some(adapter) => {
                let oauth = adapter.oauth().map(|app| {
                    json!({
                        "configured": app.is_configured(),
                        "needs_shop": app.parse_shop(None).is_err(),
                    })
                });
                let locations = match adapter.capabilities().locations {
                    LocationKind::None => "none",
                    LocationKind::Locations => "locations",
                    LocationKind::Sources => "sources",
                };
                json!({"channel": channel, "available": true, "oauth": oauth,
                    "locations": locations})
            }
        })
        .collect();
    let mut response = Json(json!({ "channels": list })).into_response();
    secure(response.headers_mut());
    response
}

/// `GET /api/connections/{id}/activity` (bearer): what the background jobs last recorded for
/// the connection, as they recorded it (`null` when a job has not run for it yet):
/// `last_poll` (the reconciliation poll: when, orders found, enqueued, missed by webhooks…),
/// `orders_up_to` (the poll's watermark: every order updated before `at` is with the WMS),
/// `webhooks` (the last subscription check: existing, created, re-enabled) and `products`
/// (the last product import: when, mapped, outcome).
async fn activity(
    State(deps): State<Arc<UiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let connection = owned_connection(&*deps.tenants, &*deps.connections, &headers, &id).await?;
    let context = deps.channels.context();
    let record = |key: String| {
        let values = context.values.clone();
        async move { values.get(&key).await }
    };
    let products = record(keys::products_last(&connection.id)).await?.map(|p| {
        json!({"finished_at": p.get("finished_at"), "mapped": p.get("mapped"),
            "outcome": p.get("outcome")})
    });
    let body = json!({
        "last_poll": record(keys::reconcile_last(&connection.id)).await?,
        "orders_up_to": crate::jobs::reconcile::stored_watermark(
            &*context.records,
            &*context.values,
            &connection.id,
        )
        .await?,
        "webhooks": record(keys::webhook_health_last(&connection.id)).await?,
        "products": products,
    });
    let mut response = Json(body).into_response();
    secure(response.headers_mut());
    Ok(response)
}

/// Whether `host` (a Host header) names this machine's loopback interface.
fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// `GET /integrations/dev-token` (`serve`): the `dev` tenant's token, so `make run` needs no
/// copying from a file. Only to a page opened on the loopback address (the Host header: a
/// page of another site rebinding its name to 127.0.0.1 sends its own name) and only when
/// fetched by the page itself (`Sec-Fetch-Site: same-origin`); other origins cannot read the
/// answer anyway (no CORS headers). 404 on AWS or otherwise.
async fn dev_token(State(deps): State<Arc<UiDeps>>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let same_origin = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "same-origin");
    let mut response = match &deps.dev_token {
        Some(token) if loopback_host(host) && same_origin => {
            Json(json!({"token": token.expose()})).into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_found", "message": "no dev token is offered here"})),
        )
            .into_response(),
    };
    secure(response.headers_mut());
    response
}

#[cfg(test)]
mod tests;

#[cfg(all(test, feature = "embedded"))]
mod activity_tests;
