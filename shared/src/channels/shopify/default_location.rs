//! The location a connection uses where the merchant chose none: the shop's only active
//! location.
//!
//! - **Stock** (`inventory_location`): read from Shopify once and then **written into the
//!   connection's settings** when unset, so the next push (and `GET /api/connections/{id}`)
//!   takes it from the connection instead of reading the shop's locations again. Keeping it is
//!   also the safer reading: a shop that later gets a second location keeps pushing to the
//!   location it always pushed to, instead of every push being refused until somebody
//!   chooses. The merchant sees it in the settings and may change it.
//! - **Orders** (`fulfilment_location`): never written here. With none chosen the import
//!   reads the shop's locations for each order (one active: the whole order; more: held
//!   `no_fulfilment_location`), so a second location added later holds the next order
//!   instead of importing it whole as ours. A shipment with none chosen fulfils only the
//!   only active location's fulfillment orders, or is refused (`tracking.failed`).
//!
//! A shop with no or several active locations has no default: the caller holds, refuses or
//! reports with the reason [`sole_active_location`] gives (which lists them).

use super::ShopifyClient;
use crate::channels::adapter::{sole_active_location, Location};
use crate::channels::context::ChannelContext;
use crate::channels::ClientError;
use crate::domain::{Connection, ShopDomain};
use crate::ports::{Secret, UpdateOutcome};

/// How often a stale copy is read again before the cache write is given up (it is only a
/// cache: the next use reads the locations again).
const WRITE_ATTEMPTS: usize = 3;

/// Why a shop has no default location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NoDefault {
    /// How many active locations the shop has (0 or more than one).
    pub active: usize,
    /// For the merchant: what to set, and the shop's locations.
    pub why: String,
}

/// The shop's only active location (`Ok(Ok)`), kept as the connection's `inventory_location`
/// when that is unset; `Ok(Err)` when the shop has none or several; `Err` when Shopify could not be
/// asked.
pub(super) async fn default_location(
    context: &ChannelContext,
    client: &ShopifyClient,
    connection: &Connection,
    (shop, token): (&ShopDomain, &Secret),
) -> Result<Result<Location, NoDefault>, ClientError> {
    let locations = client.locations_shared(shop, token).await?;
    let only = match sole_active_location(&locations) {
        Ok(only) => only.clone(),
        Err(why) => {
            let active = locations.iter().filter(|l| l.active).count();
            return Ok(Err(NoDefault { active, why }));
        }
    };
    remember(context, connection, &only).await;
    Ok(Ok(only))
}

/// Writes `location` as the stored connection's `inventory_location` if unset (read again,
/// so a merchant's choice made meanwhile is never overwritten). A failure is logged: the
/// location was still the right one for this call.
async fn remember(context: &ChannelContext, connection: &Connection, location: &Location) {
    if connection.settings.inventory_location.is_some() {
        // Kept already in the copy the caller read (every import has one): nothing to write,
        // and no read of the connection per order.
        return;
    }
    for _ in 0..WRITE_ATTEMPTS {
        let current = match context
            .connections
            .get(&connection.tenant, &connection.id)
            .await
        {
            Ok(Some(current)) => current,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "could not read the connection to keep its default location");
                return;
            }
        };
        let mut updated = current.clone();
        let settings = &mut updated.settings;
        settings
            .inventory_location
            .get_or_insert_with(|| location.id.clone());
        if updated.settings == current.settings {
            return;
        }
        match context.connections.update(&updated).await {
            Ok(UpdateOutcome::Updated(_)) => {
                tracing::info!(connection = %connection.id, location = %location.id, "the shop's only active location is kept as the connection's inventory location");
                return;
            }
            Ok(UpdateOutcome::Stale) => continue,
            Err(e) => {
                tracing::warn!(connection = %connection.id, error = %e, "could not keep the default location on the connection");
                return;
            }
        }
    }
}
