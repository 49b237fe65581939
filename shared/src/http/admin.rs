//! Operator routes: `POST /api/admin/tenants {"tenant"}` issues a bearer token for a tenant
//! (new or existing: a tenant may hold several, e.g. during a rotation). The token is shown
//! once; only its SHA-256 is stored. Guarded by the operator's admin token (its SHA-256 is all
//! the process keeps); without one configured the route answers 404.

use super::{token_sha256, ApiError};
use crate::domain::TenantId;
use crate::ports::Tenants;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// What the operator routes need.
pub struct AdminDeps {
    pub tenants: Arc<dyn Tenants>,
    /// SHA-256 (hex) of the admin token; `None` turns the routes off.
    pub admin_token_sha256: Option<String>,
}

/// The operator routes.
pub fn router(deps: Arc<AdminDeps>) -> Router {
    Router::new()
        .route("/api/admin/tenants", post(create_tenant_token))
        .with_state(deps)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenantToken {
    tenant: TenantId,
}

/// Equality of two hex digests without an early exit.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn create_tenant_token(
    State(deps): State<Arc<AdminDeps>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Some(expected) = deps.admin_token_sha256.as_deref() else {
        return Err(ApiError::NotFound("no such route".into()));
    };
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("the admin token is required".into()))?;
    if !same_digest(&token_sha256(given), expected) {
        return Err(ApiError::Unauthorized("wrong admin token".into()));
    }
    let request: NewTenantToken = serde_json::from_slice(&body?).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        } else {
            ApiError::Unprocessable(e.to_string())
        }
    })?;
    let token = format!("cs_{}", hex::encode(rand::random::<[u8; 24]>()));
    deps.tenants
        .put_token(&request.tenant, &token_sha256(&token))
        .await?;
    tracing::info!(tenant = %request.tenant, "tenant token issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({"tenant": request.tenant, "token": token})),
    ))
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use tower::ServiceExt;

    async fn call(app: &Router, auth: Option<&str>, body: &str) -> (u16, Value) {
        let mut request =
            http::Request::post("/api/admin/tenants").header("content-type", "application/json");
        if let Some(auth) = auth {
            request = request.header("authorization", format!("Bearer {auth}"));
        }
        let response = app
            .clone()
            .oneshot(
                request
                    .body(axum::body::Body::from(body.to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn issues_tokens_only_to_the_operator() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let app = router(Arc::new(AdminDeps {
            tenants: Arc::new(store.clone()),
            admin_token_sha256: Some(token_sha256("cs_admin_fake")),
        }));
        assert_eq!(call(&app, None, r#"{"tenant":"acme"}"#).await.0, 401);
        assert_eq!(
            call(&app, Some("cs_admin_wrong"), r#"{"tenant":"acme"}"#)
                .await
                .0,
            401
        );
        assert_eq!(
            call(&app, Some("cs_admin_fake"), r#"{"tenant":"a b"}"#)
                .await
                .0,
            422
        );
        let (status, body) = call(&app, Some("cs_admin_fake"), r#"{"tenant":"acme"}"#).await;
        assert_eq!(status, 201);
        let token = body["token"].as_str().unwrap();
        let tenant = store.tenant_for_token(&token_sha256(token)).await.unwrap();
        assert_eq!(tenant.unwrap().as_str(), "acme");

        let off = router(Arc::new(AdminDeps {
            tenants: Arc::new(store),
            admin_token_sha256: None,
        }));
        assert_eq!(
            call(&off, Some("cs_admin_fake"), r#"{"tenant":"acme"}"#)
                .await
                .0,
            404
        );
    }
}
