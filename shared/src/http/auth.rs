//! Bearer tokens per tenant. Tokens are looked up by their SHA-256: the store never holds one.

use super::ApiError;
use crate::domain::TenantId;
use crate::ports::Tenants;
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
