//! `POST /api/connections` for the API-key channels (WooCommerce, Magento 2): the store URL
//! is checked by the [`UrlPolicy`] (https, public addresses only), the credentials by real API
//! calls, before anything is stored. Reconnecting the same store re-activates its connection
//! (so nothing is imported twice) and keeps its webhook secret.

use super::api::{upsert_connection, ApiDeps};
use super::ApiError;
use crate::channels::magento::MagentoCredentials;
use crate::channels::store::ConnectError;
use crate::channels::store_url::StoreUrl;
use crate::channels::woocommerce::{self, WooCredentials};
use crate::domain::{Channel, Connection, ConnectionSettings, TenantId};
use http::StatusCode;
use serde_json::{json, Value};

/// Longest key, secret or token accepted (real ones are 43–64 characters).
const MAX_CREDENTIAL: usize = 256;

fn credential(name: &str, raw: &str) -> Result<String, ApiError> {
    let value = raw.trim();
    if value.is_empty() || value.len() > MAX_CREDENTIAL || value.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(format!(
            "{name} must be 1 to {MAX_CREDENTIAL} printable characters"
        )));
    }
    Ok(value.to_owned())
}

async fn store_url(deps: &ApiDeps, raw: &str) -> Result<StoreUrl, ApiError> {
    deps.stores
        .policy
        .check(raw)
        .await
        .map_err(|e| ApiError::Unprocessable(e.to_string()))
}

fn connect_error(channel: &str, e: ConnectError) -> ApiError {
    match e {
        ConnectError::Unreachable(m) => {
            ApiError::BadGateway(format!("could not check the {channel} store: {m}"))
        }
        other => ApiError::Unprocessable(other.to_string()),
    }
}

/// The connection as JSON, with what else the connect did.
fn answer(connection: &Connection, extra: Value) -> Result<Value, ApiError> {
    let mut body =
        serde_json::to_value(connection).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    Ok(body)
}

/// Connects a WooCommerce store: checks URL and keys (read and write), stores the credentials
/// with a webhook secret of our own, then subscribes `order.created` and `order.updated` to
/// `/webhooks/woocommerce/{connection_id}`. A webhook failure does not undo the connection
/// (the reconciliation poll imports orders anyway, and the daily health check retries); the
/// answer's `webhooks` says what happened.
pub async fn connect_woocommerce(
    deps: &ApiDeps,
    tenant: TenantId,
    raw_url: &str,
    consumer_key: &str,
    consumer_secret: &str,
    settings: Option<ConnectionSettings>,
) -> Result<(StatusCode, Value), ApiError> {
    let url = store_url(deps, raw_url).await?;
    let key = credential("consumer_key", consumer_key)?;
    let secret = credential("consumer_secret", consumer_secret)?;
    check_location_settings(Channel::Woocommerce, settings.as_ref())?;
    let client = deps.stores.woocommerce();
    let info = client
        .check_connection(&url, &key, &secret)
        .await
        .map_err(|e| connect_error("WooCommerce", e))?;
    let shop = url.identity();
    // A reconnect keeps the secret the store's webhooks already carry.
    let webhook_secret = match deps
        .connections
        .find_by_shop(Channel::Woocommerce, &shop)
        .await?
    {
        Some(existing) if existing.tenant == tenant => deps
            .vault
            .get(&existing.credentials_name())
            .await?
            .and_then(|s| WooCredentials::from_secret(&s).ok())
            .map(|c| c.webhook_secret),
        _ => None,
    }
    .unwrap_or_else(woocommerce::generate_webhook_secret);
    let creds = WooCredentials {
        store_url: url.as_str().to_owned(),
        consumer_key: key,
        consumer_secret: secret,
        webhook_secret,
    };
    let (status, connection) = upsert_connection(
        &*deps.connections,
        &*deps.vault,
        &tenant,
        Channel::Woocommerce,
        &shop,
        &creds.to_secret(),
        info.name
            .filter(|n| !n.trim().is_empty())
            .or(Some(shop.clone())),
        settings,
    )
    .await?;
    let delivery_url = woocommerce_delivery_url(&deps.public_url, &connection);
    let webhooks = match client.ensure_webhooks(&creds, &delivery_url).await {
        Ok(report) => json!(report),
        Err(e) => {
            tracing::warn!(connection = %connection.id, error = %e, "webhooks not created at connect; the daily health check retries");
            json!({ "error": format!("webhooks could not be created ({e}); orders are still imported by the reconciliation poll, and the daily check retries") })
        }
    };
    Ok((
        status,
        answer(&connection, json!({ "webhooks": webhooks }))?,
    ))
}

/// Where WooCommerce delivers a connection's webhooks.
pub fn woocommerce_delivery_url(public_url: &str, connection: &Connection) -> String {
    format!(
        "{}/webhooks/woocommerce/{}",
        public_url.trim_end_matches('/'),
        connection.id
    )
}

/// The `POST /api/connections` fields of a Magento store.
pub struct MagentoConnect<'a> {
    pub store_url: &'a str,
    pub store_code: Option<&'a str>,
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    pub access_token: &'a str,
    pub access_token_secret: &'a str,
}

/// Connects a Magento 2 store with an integration's four credentials (every request is signed
/// with OAuth 1.0a HMAC-SHA256; bearer use of the token is never needed). Checks orders,
/// products and inventory access; the answer's `msi` and `sources` say where stock goes.
pub async fn connect_magento(
    deps: &ApiDeps,
    tenant: TenantId,
    input: MagentoConnect<'_>,
    settings: Option<ConnectionSettings>,
) -> Result<(StatusCode, Value), ApiError> {
    let url = store_url(deps, input.store_url).await?;
    let store_code = match input.store_code.map(str::trim) {
        None | Some("") => "all".to_owned(),
        Some(code)
            if code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            code.to_owned()
        }
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "store_code must be a Magento store code (letters, digits, underscore)".into(),
            ))
        }
    };
    let creds = MagentoCredentials {
        store_url: url.as_str().to_owned(),
        store_code,
        consumer_key: credential("consumer_key", input.consumer_key)?,
        consumer_secret: credential("consumer_secret", input.consumer_secret)?,
        access_token: credential("access_token", input.access_token)?,
        access_token_secret: credential("access_token_secret", input.access_token_secret)?,
    };
    let info = deps
        .stores
        .magento()
        .check_connection(&url, &creds)
        .await
        .map_err(|e| connect_error("Magento", e))?;
    if let Some(settings) = &settings {
        check_magento_locations(settings, info.msi.then_some(info.sources.as_slice()))?;
    }
    let shop = url.identity();
    let (status, connection) = upsert_connection(
        &*deps.connections,
        &*deps.vault,
        &tenant,
        Channel::Magento,
        &shop,
        &creds.to_secret(),
        Some(shop.clone()),
        settings,
    )
    .await?;
    Ok((
        status,
        answer(
            &connection,
            json!({ "msi": info.msi, "sources": info.sources }),
        )?,
    ))
}

/// WooCommerce has no locations: its stock lives on the product.
pub fn check_location_settings(
    channel: Channel,
    settings: Option<&ConnectionSettings>,
) -> Result<(), ApiError> {
    let Some(settings) = settings else {
        return Ok(());
    };
    if channel == Channel::Woocommerce
        && (settings.inventory_location.is_some() || settings.fulfilment_location.is_some())
    {
        return Err(ApiError::Unprocessable(
            "WooCommerce has no locations: stock is set on each product, so leave inventory_location and fulfilment_location unset".into(),
        ));
    }
    Ok(())
}

/// Magento: `inventory_location` is an enabled MSI source code among `sources` (`None`: the
/// store has no MSI, so no sources); `fulfilment_location` is not used, because choosing a
/// shipment's source through `/order/{id}/ship` is unconfirmed.
pub fn check_magento_locations(
    settings: &ConnectionSettings,
    sources: Option<&[crate::channels::magento::Source]>,
) -> Result<(), ApiError> {
    if settings.fulfilment_location.is_some() {
        return Err(ApiError::Unprocessable(
            "Magento shipments are created without a source; leave fulfilment_location unset"
                .into(),
        ));
    }
    let Some(wanted) = &settings.inventory_location else {
        return Ok(());
    };
    let Some(sources) = sources else {
        return Err(ApiError::Unprocessable(
            "this Magento store has no Multi-Source Inventory: stock goes to the legacy stock item, so leave inventory_location unset".into(),
        ));
    };
    match sources.iter().find(|s| &s.code == wanted) {
        Some(s) if s.enabled => Ok(()),
        Some(_) => Err(ApiError::Unprocessable(format!(
            "the source {wanted} is disabled"
        ))),
        None => Err(ApiError::Unprocessable(format!(
            "the store has no source {wanted}"
        ))),
    }
}
