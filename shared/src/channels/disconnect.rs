//! A disconnect the merchant asks for (`DELETE /api/connections/{id}`), whatever the channel:
//! the connection is marked `disconnected` first (its jobs stop, its webhooks are answered
//! without importing), the channel revokes what it lets us revoke, and the credentials are
//! deleted from the vault. History stays: the connection itself, its orders, runs and
//! outbox. Every step can be repeated, so a disconnect that failed midway is finished by
//! asking again. Last, the WMS is told (`connection.disconnected`, reason
//! [`MERCHANT_DISCONNECTED`]) once per (connection, activation): a repeated request, or one
//! finishing a disconnect that failed midway, does not tell it twice, and neither does a
//! disconnect of a store whose uninstall already told it.

use super::adapter::Revocation;
use super::registry::Registry;
use super::store::ConnectError;
use crate::domain::{Connection, ConnectionStatus};
use crate::messages::{ConnectionMessage, WmsOutbound, VERSION};
use crate::ports::{Claim, OutMessage, Queue, UpdateOutcome};
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How often the status write is tried again on a fresh copy.
const WRITE_ATTEMPTS: u32 = 5;
/// The `reason` of the `connection.disconnected` message a merchant's disconnect sends.
pub const MERCHANT_DISCONNECTED: &str = "merchant_disconnected";
/// How long one request holds the claim to tell the WMS.
const NOTICE_LEASE: Duration = Duration::from_secs(60);

/// What a disconnect did on the channel's side.
#[derive(Debug, Clone, PartialEq)]
pub enum Revoked {
    /// The channel revoked our access.
    Revoked,
    /// Nothing the channel lets us revoke: what the merchant can do instead.
    NotRevocable(String),
    /// The channel could not be asked (an outage): the credentials are deleted anyway, and the
    /// merchant is told to remove our access in the store's admin.
    Failed(String),
    /// No credentials were stored any more (an earlier disconnect, an uninstall).
    NoCredentials,
}

/// The outcome of [`disconnect`].
#[derive(Debug, Clone, PartialEq)]
pub struct Disconnected {
    pub connection: Connection,
    pub revoked: Revoked,
    /// `true`: it was disconnected before this request.
    pub already: bool,
}

/// Disconnects `connection` (a copy its tenant owns). See the module doc for the order of the
/// steps and why.
pub async fn disconnect(
    registry: &Registry,
    connection: Connection,
    wms_orders: &dyn Queue,
) -> Result<Disconnected, ConnectError> {
    let context = registry.context();
    let already = connection.status == ConnectionStatus::Disconnected;
    let name = connection.credentials_name();
    let credentials = context.vault.get(&name).await?;
    let stored = mark_disconnected(registry, connection).await?;
    let revoked = match (&credentials, registry.adapter(stored.channel)) {
        (None, _) => Revoked::NoCredentials,
        (Some(_), None) => Revoked::NotRevocable(format!(
            "{} is not supported by this build: remove our access in the store's admin",
            stored.channel
        )),
        (Some(credentials), Some(adapter)) => match adapter.revoke(&stored, credentials).await {
            Ok(Revocation::Revoked) => Revoked::Revoked,
            Ok(Revocation::NotRevocable(note)) => Revoked::NotRevocable(note),
            Err(e) => {
                tracing::warn!(connection = %stored.id, error = %e, "the channel could not revoke our access");
                Revoked::Failed(format!(
                    "{} could not be asked to revoke our access ({e}): remove it in the store's admin",
                    stored.channel
                ))
            }
        },
    };
    // Reconnected while we revoked: those credentials are the new connection's, not ours to
    // delete.
    let current = context
        .connections
        .get(&stored.tenant, &stored.id)
        .await?
        .ok_or_else(|| ConnectError::Unavailable("the connection disappeared".into()))?;
    if current.status != ConnectionStatus::Disconnected {
        return Err(ConnectError::Conflict(
            "the connection was reconnected while it was being disconnected".into(),
        ));
    }
    context.vault.delete(&name).await?;
    tell_wms(registry, &current, wms_orders).await?;
    tracing::info!(connection = %stored.id, revoked = ?revoked, "connection disconnected by its tenant; credentials deleted, history kept");
    Ok(Disconnected {
        connection: current,
        revoked,
        already,
    })
}

/// Sends `connection.disconnected` to the WMS once per (connection, activation): claimed
/// under [`crate::keys::disconnected_notice`], which the uninstall consumer completes too. A
/// failed send releases the claim and fails the request (503), so asking again sends it.
async fn tell_wms(
    registry: &Registry,
    connection: &Connection,
    wms_orders: &dyn Queue,
) -> Result<(), ConnectError> {
    let locks = &*registry.context().locks;
    let key =
        crate::keys::disconnected_notice(&connection.id, connection.activated().timestamp_millis());
    let fence = match locks.claim(&key, NOTICE_LEASE).await? {
        Claim::Acquired(fence) => fence,
        Claim::Done(_) => return Ok(()),
        Claim::InProgress => {
            return Err(ConnectError::Unavailable(
                "the WMS is being told by another request; retry".into(),
            ))
        }
    };
    let message = WmsOutbound::ConnectionDisconnected(ConnectionMessage {
        v: VERSION,
        tenant: connection.tenant.clone(),
        connection: connection.id.clone(),
        channel: connection.channel,
        shop: connection.shop.clone(),
        reason: MERCHANT_DISCONNECTED.to_owned(),
    });
    let sent = match serde_json::to_string(&message) {
        Ok(body) => {
            let dedup = hex::encode(Sha256::digest(key.as_bytes()));
            wms_orders
                .send(OutMessage {
                    body,
                    dedup_id: Some(dedup.clone()),
                    group_id: Some(dedup),
                    tenant: Some(connection.tenant.clone()),
                })
                .await
                .map_err(|e| ConnectError::Unavailable(format!("tell the WMS: {e}")))
        }
        Err(e) => Err(ConnectError::Unavailable(format!("serialise: {e}"))),
    };
    if let Err(e) = sent {
        let _ = locks.release(&key, &fence).await;
        return Err(e);
    }
    let record = serde_json::json!({"sent_at": Utc::now(), "reason": MERCHANT_DISCONNECTED});
    match locks.finish(&key, &fence, &record, None).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("the disconnect notice claim was taken over before it was recorded")
        }
        Err(e) => tracing::warn!(error = %e, "could not record the disconnect notice as sent"),
    }
    Ok(())
}

/// Writes the `disconnected` status over the current copy (a job or a settings change may
/// write meanwhile: read again and write again).
async fn mark_disconnected(
    registry: &Registry,
    mut connection: Connection,
) -> Result<Connection, ConnectError> {
    let connections = &registry.context().connections;
    for _ in 0..WRITE_ATTEMPTS {
        if connection.status == ConnectionStatus::Disconnected {
            return Ok(connection);
        }
        let mut updated = connection.clone();
        updated.status = ConnectionStatus::Disconnected;
        updated.updated_at = Utc::now();
        match connections.update(&updated).await? {
            UpdateOutcome::Updated(stored) => return Ok(*stored),
            UpdateOutcome::Stale => {
                connection = connections
                    .get(&connection.tenant, &connection.id)
                    .await?
                    .ok_or_else(|| {
                        ConnectError::Unavailable("the connection disappeared".into())
                    })?;
            }
        }
    }
    Err(ConnectError::Unavailable(
        "the connection keeps changing; retry".into(),
    ))
}

#[cfg(all(test, feature = "embedded"))]
mod tests;
