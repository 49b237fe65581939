//! Import by assignment: Shopify assigns each order's lines to locations through its
//! fulfillment orders, and the warehouse fulfils only those assigned to the connection's
//! `fulfilment_location`. [`assign`] — pure — narrows a mapped order to those lines, with the
//! fulfillment orders' quantities; the adapter's `assigned_to_us` reads what it needs.
//!
//! The rule (also in README and `docs/messages.md`):
//! - a location is set: only lines of fulfillment orders assigned to it (matched by the order
//!   line id, so tracking write-back, which plans against the same location's fulfillment
//!   orders, fulfils exactly what was imported). A new order takes what is left to fulfil on
//!   open (not closed, not cancelled) fulfillment orders; an update of an order the WMS has
//!   keeps what was fulfilled too (every fulfillment order but cancelled ones), so the
//!   warehouse's own fulfilment does not shrink the order it shipped. Nothing there → the
//!   WMS gets nothing (counted on the connection).
//! - no location set: with exactly one active location on the shop that one is ours (the
//!   whole order); otherwise the whole order is imported held `no_fulfilment_location`.
//!
//! Why closed fulfillment orders count for an update: `fulfillmentOrderMove` moves a wholly
//! unfulfilled fulfillment order itself (its `assignedLocation` changes), and fulfilled line
//! items "always remain assigned to the original location", which may then be closed [C]
//! shopify.dev admin-graphql `fulfillmentOrderMove` / `FulfillmentOrderMovePayload`. So a
//! closed fulfillment order still at our location holds what was fulfilled there.

use super::fulfillment::{FoStatus, FulfillmentOrder};
use crate::channels::store::Assigned;
use crate::domain::{HoldCode, HoldReason, Order};
use std::collections::BTreeMap;

/// A location id as a gid, so `123` and `gid://shopify/Location/123` compare equal.
pub(super) fn location_gid(id: &str) -> String {
    let raw = id.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        format!("gid://shopify/Location/{raw}")
    } else {
        raw.to_owned()
    }
}

/// The decimal id of an order line (`gid://shopify/LineItem/N` or `N`), as the order mapper
/// writes `channel_line_id`.
fn line_number(id: &str) -> &str {
    id.trim()
        .strip_prefix("gid://shopify/LineItem/")
        .unwrap_or(id.trim())
}

/// The whole order held because the connection does not say which of the shop's `active`
/// locations is the warehouse's.
pub(super) fn held_without_location(mut order: Order, active: usize) -> Order {
    order.hold_reasons.push(HoldReason::new(
        HoldCode::NoFulfilmentLocation,
        format!(
            "the Shopify store has {active} active locations and this connection has no \
             fulfilment location: set settings.fulfilment_location to the location the \
             warehouse fulfils (PATCH /api/connections/{{id}}; GET \
             /api/connections/{{id}}/locations lists them); the order's next update then \
             imports only that location's lines"
        ),
    ));
    order
}

/// The part of `order` assigned to `location` by `fulfillment_orders`. `known`: the WMS has an
/// earlier state of the order (see the module notes).
pub(super) fn assign(
    mut order: Order,
    fulfillment_orders: &[FulfillmentOrder],
    location: &str,
    known: bool,
) -> Assigned {
    if fulfillment_orders.is_empty() {
        // Never silently dropped: Shopify shows this app no fulfillment orders (scopes?).
        order.hold_reasons.push(HoldReason::new(
            HoldCode::NoFulfilmentLocation,
            "Shopify shows no fulfillment orders for this order to the app, so it cannot tell \
             which lines the fulfilment location ships: check the app's fulfillment-order \
             access on Shopify",
        ));
        return Assigned::Ours(Box::new(order));
    }
    let ours = location_gid(location);
    let counts = |fo: &FulfillmentOrder| {
        // A cancellation request the warehouse accepted: no longer its to ship (moves.rs).
        if fo.request_status.as_deref() == Some(CANCELLATION_ACCEPTED) {
            return false;
        }
        match fo.status {
            FoStatus::Cancelled => false,
            FoStatus::Closed => known,
            _ => true,
        }
    };
    let mut on_hold: Vec<&str> = Vec::new();
    let mut quantities: BTreeMap<String, u32> = BTreeMap::new();
    let mut elsewhere: Vec<String> = Vec::new();
    for fo in fulfillment_orders.iter().filter(|fo| counts(fo)) {
        let at = fo.location_id.as_deref().map(location_gid);
        if at.as_deref() != Some(ours.as_str()) {
            let at = at.unwrap_or_else(|| "a location this app cannot see".into());
            if !elsewhere.contains(&at) {
                elsewhere.push(at);
            }
            continue;
        }
        if fo.status == FoStatus::OnHold {
            on_hold.push(&fo.id);
        }
        for line in &fo.lines {
            let q = if known { line.total } else { line.remaining };
            if q > 0 {
                let entry = quantities
                    .entry(line_number(&line.line_item_id).to_owned())
                    .or_default();
                *entry = entry.saturating_add(q);
            }
        }
    }
    if quantities.is_empty() {
        return Assigned::Elsewhere {
            locations: elsewhere,
        };
    }
    let mut dropped: Vec<String> = Vec::new();
    order.lines.retain_mut(
        |line| match quantities.get(line_number(&line.channel_line_id)) {
            Some(q) => {
                line.quantity = *q;
                true
            }
            None => {
                dropped.push(line.channel_line_id.clone());
                false
            }
        },
    );
    if order.lines.is_empty() {
        // The fulfillment orders name lines the order does not have: do not guess.
        order.hold_reasons.push(HoldReason::new(
            HoldCode::NoFulfilmentLocation,
            "the fulfillment orders at the fulfilment location name no line of the order",
        ));
        return Assigned::Ours(Box::new(order));
    }
    // Line holds of lines another location ships are not the warehouse's concern; a quantity
    // hold is settled by the fulfillment order's quantity.
    order.hold_reasons.retain(|h| {
        let about_dropped = dropped.iter().any(|id| {
            h.detail.starts_with(&format!("line {id} "))
                || h.detail.starts_with(&format!("line {id}:"))
        });
        !(about_dropped && matches!(h.code, HoldCode::MissingSku | HoldCode::InvalidQuantity)
            || h.code == HoldCode::InvalidQuantity)
    });
    // The merchant (or an app) put our part on hold on Shopify: the WMS must not ship it
    // until the hold is released (`fulfillment_orders/hold_released` re-reads the order).
    for id in on_hold {
        order.hold_reasons.push(HoldReason::new(
            HoldCode::NotReady,
            format!("fulfillment order {id} is on hold on Shopify: do not ship it until the hold is released"),
        ));
    }
    Assigned::Ours(Box::new(order))
}

/// `FulfillmentOrderRequestStatus` of a cancellation request the fulfillment service accepted.
pub(super) const CANCELLATION_ACCEPTED: &str = "CANCELLATION_ACCEPTED";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::shopify::FoLine;
    use crate::domain::{ChannelOrderId, OrderLine, Sku};
    use chrono::{TimeZone, Utc};

    const HERE: &str = "gid://shopify/Location/1";
    const THERE: &str = "gid://shopify/Location/2";

    fn line(id: &str, sku: Option<&str>, quantity: u32) -> OrderLine {
        OrderLine {
            channel_line_id: id.into(),
            sku: sku.map(|s| Sku::normalize(s).unwrap().unwrap()),
            quantity,
            title: None,
            requires_shipping: true,
        }
    }

    fn order(lines: Vec<OrderLine>, holds: Vec<HoldReason>) -> Order {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
        Order {
            channel_order_id: ChannelOrderId::parse("7".to_owned()).unwrap(),
            order_number: "#7".into(),
            placed_at: at,
            updated_at: at,
            financial_status: Some("paid".into()),
            cancelled: false,
            currency: None,
            lines,
            ship_to: None,
            hold_reasons: holds,
            awaiting: None,
            awaiting_payment: false,
            fulfilled: false,
            marketplace: None,
        }
    }

    fn fo(
        id: &str,
        status: FoStatus,
        at: Option<&str>,
        lines: &[(&str, u32, u32)],
    ) -> FulfillmentOrder {
        FulfillmentOrder {
            id: format!("gid://shopify/FulfillmentOrder/{id}"),
            status,
            location_id: at.map(str::to_owned),
            request_status: None,
            updated_at: None,
            lines: lines
                .iter()
                .map(|(item, remaining, total)| FoLine {
                    id: format!("gid://shopify/FulfillmentOrderLineItem/{item}"),
                    remaining: *remaining,
                    total: *total,
                    sku: None,
                    line_item_id: format!("gid://shopify/LineItem/{item}"),
                })
                .collect(),
        }
    }

    fn ours(a: Assigned) -> Order {
        match a {
            Assigned::Ours(o) => *o,
            other => panic!("expected ours, got {other:?}"),
        }
    }

    fn lines(o: &Order) -> Vec<(String, u32)> {
        o.lines
            .iter()
            .map(|l| (l.channel_line_id.clone(), l.quantity))
            .collect()
    }

    #[test]
    fn a_split_order_keeps_only_our_lines_with_their_quantities() {
        let o = order(
            vec![line("11", Some("A"), 3), line("12", Some("B"), 1)],
            vec![],
        );
        let fos = [
            fo("1", FoStatus::Open, Some(HERE), &[("11", 2, 2)]),
            fo(
                "2",
                FoStatus::Open,
                Some(THERE),
                &[("11", 1, 1), ("12", 1, 1)],
            ),
        ];
        let o = ours(assign(o, &fos, HERE, false));
        assert_eq!(lines(&o), [("11".to_owned(), 2)]);
        // A numeric location id is the same location.
        let o2 = order(
            vec![line("11", Some("A"), 3), line("12", Some("B"), 1)],
            vec![],
        );
        assert_eq!(
            lines(&ours(assign(o2, &fos, "1", false))),
            [("11".to_owned(), 2)]
        );
    }

    #[test]
    fn nothing_at_our_location_is_elsewhere_with_where() {
        let o = order(vec![line("11", Some("A"), 1)], vec![]);
        let fos = [
            fo("2", FoStatus::Open, Some(THERE), &[("11", 1, 1)]),
            fo("3", FoStatus::Open, None, &[("11", 0, 0)]),
            // A cancelled fulfillment order at our location gives us nothing.
            fo("4", FoStatus::Cancelled, Some(HERE), &[("11", 1, 1)]),
        ];
        assert_eq!(
            assign(o, &fos, HERE, false),
            Assigned::Elsewhere {
                locations: vec![THERE.into(), "a location this app cannot see".into()]
            }
        );
    }

    #[test]
    fn a_new_order_takes_what_is_left_an_update_keeps_what_was_fulfilled() {
        let fos = [
            fo("1", FoStatus::Closed, Some(HERE), &[("11", 0, 1)]),
            fo("2", FoStatus::InProgress, Some(HERE), &[("12", 1, 2)]),
        ];
        let new = order(
            vec![line("11", Some("A"), 1), line("12", Some("B"), 2)],
            vec![],
        );
        assert_eq!(
            lines(&ours(assign(new.clone(), &fos, HERE, false))),
            [("12".to_owned(), 1)]
        );
        assert_eq!(
            lines(&ours(assign(new, &fos, HERE, true))),
            [("11".to_owned(), 1), ("12".to_owned(), 2)]
        );
    }

    #[test]
    fn holds_about_lines_shipped_elsewhere_are_dropped_others_kept() {
        let holds = vec![
            HoldReason::new(HoldCode::MissingSku, "line 12 has no SKU"),
            HoldReason::new(HoldCode::MissingAddress, "no address"),
        ];
        let o = order(vec![line("11", Some("A"), 1), line("12", None, 1)], holds);
        let fos = [
            fo("1", FoStatus::Open, Some(HERE), &[("11", 1, 1)]),
            fo("2", FoStatus::Open, Some(THERE), &[("12", 1, 1)]),
        ];
        let o = ours(assign(o, &fos, HERE, false));
        let codes: Vec<HoldCode> = o.hold_reasons.iter().map(|h| h.code).collect();
        assert_eq!(codes, [HoldCode::MissingAddress]);
    }

    #[test]
    fn no_fulfillment_orders_is_held_never_dropped() {
        let o = order(vec![line("11", Some("A"), 1)], vec![]);
        let o = ours(assign(o, &[], HERE, false));
        assert_eq!(o.lines.len(), 1);
        assert_eq!(o.hold_reasons[0].code, HoldCode::NoFulfilmentLocation);
    }

    #[test]
    fn an_accepted_cancellation_request_is_no_longer_ours_a_hold_holds_the_order() {
        let mut accepted = fo("1", FoStatus::Open, Some(HERE), &[("11", 1, 1)]);
        accepted.request_status = Some(CANCELLATION_ACCEPTED.into());
        let mut rejected = fo("2", FoStatus::InProgress, Some(HERE), &[("12", 1, 1)]);
        rejected.request_status = Some("CANCELLATION_REJECTED".into());
        let o = order(
            vec![line("11", Some("A"), 1), line("12", Some("B"), 1)],
            vec![],
        );
        let kept = ours(assign(o.clone(), &[accepted.clone(), rejected], HERE, true));
        assert_eq!(lines(&kept), [("12".to_owned(), 1)]);
        assert!(kept.hold_reasons.is_empty());
        // Only the accepted one was ours: nothing left.
        assert_eq!(
            assign(o.clone(), &[accepted], HERE, true),
            Assigned::Elsewhere { locations: vec![] }
        );
        // Our part on hold on Shopify: imported or updated with a hold naming it.
        let held = fo("3", FoStatus::OnHold, Some(HERE), &[("11", 1, 1)]);
        let o = ours(assign(o, &[held], HERE, false));
        assert_eq!(lines(&o), [("11".to_owned(), 1)]);
        assert_eq!(o.hold_reasons.len(), 1);
        assert_eq!(o.hold_reasons[0].code, HoldCode::NotReady);
        assert!(o.hold_reasons[0].detail.contains("FulfillmentOrder/3"));
    }

    #[test]
    fn without_a_location_the_whole_order_is_held_with_what_to_set() {
        let o = held_without_location(order(vec![line("11", Some("A"), 1)], vec![]), 2);
        assert_eq!(o.lines.len(), 1);
        assert_eq!(o.hold_reasons[0].code, HoldCode::NoFulfilmentLocation);
        assert!(o.hold_reasons[0].detail.contains("fulfilment_location"));
        assert_eq!(
            serde_json::to_value(HoldCode::NoFulfilmentLocation).unwrap(),
            "no_fulfilment_location"
        );
    }
}
