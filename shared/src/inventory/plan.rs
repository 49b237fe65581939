//! What to push: the listed quantity per mapped SKU, `min(max(0, available − buffer), cap)`,
//! only where it differs from what was last pushed (a full push sends everything), chunked to
//! the channel's batch limit.

use super::bundles::Availability;
use crate::domain::Sku;
use std::collections::HashMap;

/// Per-connection listing rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingRules {
    /// Held back from every SKU (a safety buffer).
    pub buffer: u32,
    /// Never list more than this.
    pub cap: Option<u32>,
}

/// The quantity to list for `available` under `rules`.
pub fn listed_quantity(available: i64, rules: ListingRules) -> i64 {
    let after_buffer = available.saturating_sub(i64::from(rules.buffer)).max(0);
    match rules.cap {
        Some(cap) => after_buffer.min(i64::from(cap)),
        None => after_buffer,
    }
}

/// One quantity to set on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub sku: Sku,
    /// The channel's id for the SKU's stock (Shopify: the inventory item gid).
    pub item: String,
    pub quantity: i64,
}

/// A push plan and what it could not cover.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub pushes: Vec<Push>,
    /// Mapped SKUs with no sellable quantity (unknown to the WMS, or a broken bundle): not pushed.
    pub unknown: Vec<Sku>,
}

/// Plans a push for the mapped SKUs (`map`: SKU → channel item). `last` holds what was last
/// pushed; `full` ignores it (a daily push also corrects drift made on the channel).
pub fn plan_push(
    availability: &Availability,
    map: &HashMap<Sku, String>,
    last: &HashMap<Sku, i64>,
    rules: ListingRules,
    full: bool,
) -> Plan {
    let mut plan = Plan {
        pushes: Vec::with_capacity(map.len()),
        unknown: Vec::new(),
    };
    for (sku, item) in map {
        let Some(available) = availability.available.get(sku) else {
            plan.unknown.push(sku.clone());
            continue;
        };
        let quantity = listed_quantity(*available, rules);
        if full || last.get(sku) != Some(&quantity) {
            plan.pushes.push(Push {
                sku: sku.clone(),
                item: item.clone(),
                quantity,
            });
        }
    }
    // Deterministic order: stable batches, stable idempotency keys.
    plan.pushes.sort_by(|a, b| a.sku.cmp(&b.sku));
    plan.unknown.sort();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::bundles::{compute, Component};

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    #[test]
    fn buffer_and_cap() {
        let rules = ListingRules {
            buffer: 2,
            cap: Some(10),
        };
        assert_eq!(listed_quantity(1, rules), 0);
        assert_eq!(listed_quantity(5, rules), 3);
        assert_eq!(listed_quantity(50, rules), 10);
        assert_eq!(listed_quantity(-4, ListingRules::default()), 0);
        // Hostile WMS numbers never overflow.
        assert_eq!(listed_quantity(i64::MIN, rules), 0);
        assert_eq!(listed_quantity(i64::MAX, ListingRules::default()), i64::MAX);
    }

    #[test]
    fn only_changes_unless_full_and_unknown_skus_reported() {
        let stock = HashMap::from([(sku("A"), 5), (sku("B"), 9)]);
        let bundles = HashMap::from([(
            sku("AB"),
            vec![
                Component {
                    sku: sku("A"),
                    quantity: 1,
                },
                Component {
                    sku: sku("B"),
                    quantity: 1,
                },
            ],
        )]);
        let availability = compute(&stock, &bundles);
        let map: HashMap<Sku, String> = ["A", "B", "AB", "GONE"]
            .iter()
            .map(|s| (sku(s), format!("item-{s}")))
            .collect();
        let last = HashMap::from([(sku("A"), 5), (sku("B"), 1)]);
        let plan = plan_push(&availability, &map, &last, ListingRules::default(), false);
        let got: Vec<(&str, i64)> = plan
            .pushes
            .iter()
            .map(|p| (p.sku.as_str(), p.quantity))
            .collect();
        assert_eq!(got, [("AB", 5), ("B", 9)]);
        assert_eq!(plan.unknown, vec![sku("GONE")]);
        let full = plan_push(&availability, &map, &last, ListingRules::default(), true);
        assert_eq!(full.pushes.len(), 3);
    }
}
