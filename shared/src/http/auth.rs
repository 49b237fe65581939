//! Bearer tokens per tenant. Tokens are looked up by their SHA-256: the store never holds one.

use super::ApiError;
use crate::domain::{Connection, ConnectionId, TenantId};
use crate::ports::{Connections, Tenants};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The hex SHA-256 of a token, as stored.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The tenant whose bearer token the request carries, or 401.
pub async fn bearer_tenant(
    tenants: &dyn Tenants,
    headers: &HeaderMap,
) -> Result<TenantId, ApiError> {
    let missing = || ApiError::Unauthorized("a bearer token is required".into());
    let value = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(missing)?;
    tenants
        .tenant_for_token(&token_sha256(token))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown bearer token".into()))
}

/// The connection `id` of the caller's tenant: 401 without a valid token, 404 when the id is
/// malformed, unknown, or another tenant's (never telling which).
pub async fn owned_connection(
    tenants: &dyn Tenants,
    connections: &dyn Connections,
    headers: &HeaderMap,
    id: &str,
) -> Result<Connection, ApiError> {
    let tenant = bearer_tenant(tenants, headers).await?;
    let not_found = || ApiError::NotFound(format!("no connection {id}"));
    let parsed = ConnectionId::parse(id.to_owned()).map_err(|_| not_found())?;
    connections
        .get(&tenant, &parsed)
        .await?
        .ok_or_else(not_found)
}
