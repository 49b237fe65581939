//! What each shipment planned, kept through the `Records` port: the fulfillment order lines
//! and quantities of every location group, recorded **before** the first `fulfillmentCreate`.
//! A retry after a lost answer then re-sends the same plan (only the groups no fulfillment
//! with the tracking number covers yet) instead of re-planning against what remains, which
//! for a partial shipment would fulfil further units.
//!
//! Partition `shipment-plan#{connection}`, key `{order gid}␟{tracking number}`, value
//! `{"groups": [PlanGroup…]}`. Removed once every group is written: from then on the order's
//! fulfillments carry the tracking number, which is what a later retry finds.

use super::{order_gid, PlanGroup};
use crate::channels::ClientError;
use crate::domain::ConnectionId;
use crate::ports::{PortError, Records};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One connection's recorded shipment plans.
#[derive(Clone)]
pub struct ShipmentPlans {
    records: Arc<dyn Records>,
    partition: String,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    groups: Vec<PlanGroup>,
}

fn port_error(e: PortError) -> ClientError {
    match e {
        PortError::Unavailable(m) => {
            ClientError::Unavailable(format!("shipment plans unavailable: {m}"))
        }
        PortError::Corrupt(m) => ClientError::BadResponse(format!("shipment plan unreadable: {m}")),
    }
}

impl ShipmentPlans {
    pub fn new(records: Arc<dyn Records>, connection: &ConnectionId) -> Self {
        Self {
            records,
            partition: crate::keys::partition::shipment_plans(connection),
        }
    }

    /// `{order gid}␟{tracking number}`: `42` and `gid://shopify/Order/42` are one order.
    fn key(order_id: &str, number: &str) -> String {
        let order = order_gid(order_id).unwrap_or_else(|| order_id.trim().to_owned());
        format!("{order}\u{241f}{}", number.trim())
    }

    /// The plan recorded for this shipment, if any.
    pub async fn get(
        &self,
        order_id: &str,
        number: &str,
    ) -> Result<Option<Vec<PlanGroup>>, ClientError> {
        let Some(record) = self
            .records
            .fetch(&self.partition, &Self::key(order_id, number))
            .await
            .map_err(port_error)?
        else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_value(record.value)
            .map_err(|e| ClientError::BadResponse(format!("shipment plan unreadable: {e}")))?;
        Ok(Some(stored.groups))
    }

    /// Records the plan before anything is sent.
    pub async fn record(
        &self,
        order_id: &str,
        number: &str,
        groups: &[PlanGroup],
    ) -> Result<(), ClientError> {
        let value = serde_json::to_value(Stored {
            groups: groups.to_vec(),
        })
        .map_err(|e| ClientError::BadResponse(e.to_string()))?;
        self.records
            .put(&self.partition, &Self::key(order_id, number), 0, &value)
            .await
            .map_err(port_error)
    }

    /// Forgets the plan once every group is written (best effort: a plan left behind is only
    /// read again by a retry of the same shipment, which then finds every group written).
    pub async fn forget(&self, order_id: &str, number: &str) {
        if let Err(e) = self
            .records
            .remove(&self.partition, &Self::key(order_id, number))
            .await
        {
            tracing::warn!(error = %e, "could not remove a written shipment plan");
        }
    }
}
