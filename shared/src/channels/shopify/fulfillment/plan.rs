//! Step 2, pure: which fulfillment-order lines a shipment covers, one group per location.

use super::*;

/// What to fulfil: one group per location, each sent as its own `fulfillmentCreate` (Shopify
/// refuses one fulfillment spanning locations). With `location_id` given there is at most one
/// group. Groups come in the order their first fulfillment order appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentPlan {
    pub groups: Vec<PlanGroup>,
    /// Fulfillment orders at the location with units left whose status does not allow a
    /// fulfillment now (on hold, scheduled, incomplete, unknown): not part of the plan, listed so
    /// the caller can log or alert that the shipment leaves them open.
    pub held_back: Vec<(String, FoStatus)>,
}

/// The lines of one location: `(fulfillment order id, [(fulfillment order line id, quantity)])`,
/// the argument of [`ShopifyClient::create_fulfillment`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct PlanGroup {
    /// `None` when Shopify did not show the location; such a fulfillment order gets a group of
    /// its own (it cannot be proven to share a location with anything).
    pub location_id: Option<String>,
    pub by_fulfillment_order: Vec<(String, Vec<(String, u32)>)>,
}

/// Why a shipment cannot be planned. All are answers about the data as read: retrying with the
/// same fulfillment orders gives the same answer; `NotFulfillable`/`SkuNotFulfillable` may change
/// once the merchant releases a hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The order has no fulfillment orders this app can see.
    #[error("the order has no fulfillment orders visible to this app")]
    NoFulfillmentOrders,
    /// No fulfillment order is assigned to the requested location.
    #[error("no fulfillment order is assigned to location {location_id} (found: {found:?})")]
    NotAtLocation {
        location_id: String,
        /// The locations the fulfillment orders are assigned to.
        found: Vec<String>,
    },
    /// Nothing is left to fulfil and nothing was cancelled: every fulfillment order (at the
    /// location) is closed or has no units left. A retry of a shipment already written lands here.
    #[error("the order is already fulfilled")]
    AlreadyFulfilled,
    /// Nothing is left to fulfil and at least part of the order (at the location) was
    /// cancelled: the shipment may contain cancelled goods.
    #[error("the order is cancelled")]
    Cancelled,
    /// Units are left, but only on fulfillment orders whose status does not allow a fulfillment.
    #[error("no fulfillment order can be fulfilled now (statuses: {statuses:?})")]
    NotFulfillable { statuses: Vec<FoStatus> },
    /// The partial shipment lists no units.
    #[error("the shipment lists no units")]
    EmptyShipment,
    /// A shipped SKU is on no fulfillment order line (at the location). Matching is exact:
    /// case-sensitive, surrounding whitespace ignored.
    #[error("SKU {sku:?} is not on the order")]
    UnknownSku { sku: String },
    /// A shipped SKU has units left only on fulfillment orders that cannot be fulfilled now.
    #[error(
        "SKU {sku:?} is only on fulfillment orders that cannot be fulfilled now ({statuses:?})"
    )]
    SkuNotFulfillable {
        sku: String,
        statuses: Vec<FoStatus>,
    },
    /// More units of a SKU were shipped than are left to fulfil.
    #[error("SKU {sku:?}: shipped {shipped}, only {remaining} left to fulfil")]
    TooMuch {
        sku: String,
        shipped: u64,
        remaining: u64,
    },
}

/// Plans a shipment against `orders` (from [`ShopifyClient::fulfillment_orders`]).
///
/// - Only fulfillment orders with status OPEN or IN_PROGRESS are fulfilled, and with
///   `location_id` (a gid or numeric id) only those assigned to it.
/// - `shipped: None`: everything remaining on them.
/// - `shipped: Some(lines)`: a partial shipment of `(sku, quantity)`. Repeated SKUs add up,
///   zero quantities are ignored. Each SKU's quantity is taken from the matching lines in
///   Shopify's order (fulfillment order, then line), each up to its remaining quantity.
///
/// The result has one group per location; see [`FulfillmentPlan`].
pub fn plan_fulfillment(
    orders: &[FulfillmentOrder],
    location_id: Option<&str>,
    shipped: Option<&[(String, u32)]>,
) -> Result<FulfillmentPlan, PlanError> {
    // Checked first: a malformed shipment is the caller's bug whatever Shopify says.
    let wanted = match shipped {
        Some(lines) => Some(aggregate(lines)?),
        None => None,
    };
    if orders.is_empty() {
        return Err(PlanError::NoFulfillmentOrders);
    }
    let location = location_id.map(location_gid);
    let here: Vec<&FulfillmentOrder> = orders
        .iter()
        .filter(|fo| match &location {
            None => true,
            Some(l) => fo.location_id.as_deref().map(location_gid).as_ref() == Some(l),
        })
        .collect();
    if here.is_empty() {
        let mut found: Vec<String> = Vec::new();
        for l in orders.iter().filter_map(|fo| fo.location_id.clone()) {
            if !found.contains(&l) {
                found.push(l);
            }
        }
        return Err(PlanError::NotAtLocation {
            location_id: location.unwrap_or_default(),
            found,
        });
    }
    let open_units: u64 = here
        .iter()
        .filter(|fo| fo.status.is_fulfillable())
        .flat_map(|fo| &fo.lines)
        .map(|l| u64::from(l.remaining))
        .sum();
    if open_units == 0 {
        return Err(nothing_open(&here));
    }

    // (fulfillment order index in `here`, line index) → quantity.
    let mut take: HashMap<(usize, usize), u32> = HashMap::new();
    match wanted {
        None => {
            for (f, fo) in here.iter().enumerate() {
                if fo.status.is_fulfillable() {
                    for (l, line) in fo.lines.iter().enumerate() {
                        if line.remaining > 0 {
                            take.insert((f, l), line.remaining);
                        }
                    }
                }
            }
        }
        Some(wanted) => {
            for (sku, quantity) in wanted {
                allocate(&here, &sku, quantity, &mut take)?;
            }
        }
    }

    let mut groups: Vec<PlanGroup> = Vec::new();
    for (f, fo) in here.iter().enumerate() {
        let lines: Vec<(String, u32)> = fo
            .lines
            .iter()
            .enumerate()
            .filter_map(|(l, line)| take.get(&(f, l)).map(|q| (line.id.clone(), *q)))
            .collect();
        if lines.is_empty() {
            continue;
        }
        let entry = (fo.id.clone(), lines);
        let same_place = fo.location_id.as_ref().and_then(|loc| {
            groups
                .iter_mut()
                .find(|g| g.location_id.as_ref() == Some(loc))
        });
        match same_place {
            Some(group) => group.by_fulfillment_order.push(entry),
            None => groups.push(PlanGroup {
                location_id: fo.location_id.clone(),
                by_fulfillment_order: vec![entry],
            }),
        }
    }
    let held_back = here
        .iter()
        .filter(|fo| !fo.status.is_fulfillable() && !fo.status.is_final())
        .filter(|fo| fo.lines.iter().any(|l| l.remaining > 0))
        .map(|fo| (fo.id.clone(), fo.status.clone()))
        .collect();
    Ok(FulfillmentPlan { groups, held_back })
}

/// Trimmed SKUs with summed quantities, in first-seen order.
pub(super) fn aggregate(lines: &[(String, u32)]) -> Result<Vec<(String, u64)>, PlanError> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for (sku, quantity) in lines {
        if *quantity == 0 {
            continue;
        }
        let sku = sku.trim();
        if sku.is_empty() {
            // A unit without a SKU cannot be matched to a line.
            return Err(PlanError::UnknownSku { sku: String::new() });
        }
        match out.iter_mut().find(|(s, _)| s == sku) {
            Some((_, total)) => *total += u64::from(*quantity),
            None => out.push((sku.to_owned(), u64::from(*quantity))),
        }
    }
    if out.is_empty() {
        return Err(PlanError::EmptyShipment);
    }
    Ok(out)
}

pub(super) fn sku_matches(line: &FoLine, sku: &str) -> bool {
    line.sku.as_deref().map(str::trim) == Some(sku)
}

/// Takes `quantity` of `sku` from the fulfillable lines, in order.
pub(super) fn allocate(
    here: &[&FulfillmentOrder],
    sku: &str,
    quantity: u64,
    take: &mut HashMap<(usize, usize), u32>,
) -> Result<(), PlanError> {
    let mut known = false;
    let mut available: u64 = 0;
    let mut blocked: Vec<FoStatus> = Vec::new();
    for fo in here {
        for line in fo.lines.iter().filter(|l| sku_matches(l, sku)) {
            known = true;
            if fo.status.is_fulfillable() {
                available += u64::from(line.remaining);
            } else if !fo.status.is_final() && line.remaining > 0 && !blocked.contains(&fo.status) {
                blocked.push(fo.status.clone());
            }
        }
    }
    if !known {
        return Err(PlanError::UnknownSku {
            sku: sku.to_owned(),
        });
    }
    if available == 0 && !blocked.is_empty() {
        return Err(PlanError::SkuNotFulfillable {
            sku: sku.to_owned(),
            statuses: blocked,
        });
    }
    if available < quantity {
        return Err(PlanError::TooMuch {
            sku: sku.to_owned(),
            shipped: quantity,
            remaining: available,
        });
    }
    let mut left = quantity;
    for (f, fo) in here.iter().enumerate() {
        if !fo.status.is_fulfillable() {
            continue;
        }
        for (l, line) in fo.lines.iter().enumerate() {
            if left == 0 {
                return Ok(());
            }
            if line.remaining == 0 || !sku_matches(line, sku) {
                continue;
            }
            // `take` has nothing for this line yet: each line has one SKU and SKUs are unique.
            let q = line.remaining.min(u32::try_from(left).unwrap_or(u32::MAX));
            left -= u64::from(q);
            take.insert((f, l), q);
        }
    }
    Ok(())
}

/// Why nothing at the location can be fulfilled now.
pub(super) fn nothing_open(here: &[&FulfillmentOrder]) -> PlanError {
    let mut blocked: Vec<FoStatus> = Vec::new();
    for fo in here {
        let waiting = !fo.status.is_fulfillable() && !fo.status.is_final();
        if waiting && fo.lines.iter().any(|l| l.remaining > 0) && !blocked.contains(&fo.status) {
            blocked.push(fo.status.clone());
        }
    }
    if !blocked.is_empty() {
        PlanError::NotFulfillable { statuses: blocked }
    } else if here.iter().any(|fo| fo.status == FoStatus::Cancelled) {
        PlanError::Cancelled
    } else {
        PlanError::AlreadyFulfilled
    }
}

// ---------------------------------------------------------------------------------------------
// fulfillmentCreate
// ---------------------------------------------------------------------------------------------

pub use crate::channels::store::Tracking;
