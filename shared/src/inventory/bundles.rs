//! Sellable quantities from WMS stock, bundles computed from their components:
//! `min over components of floor(available / quantity per bundle)`; nested bundles resolve.
//! A bundle whose definition is broken (a cycle, a component that does not exist, a zero
//! quantity, nesting deeper than [`MAX_DEPTH`]) gets no quantity and a reason instead — it is
//! never guessed and never crashes the computation.

use crate::domain::Sku;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// How deep bundles may nest (a bundle of bundles of …).
pub const MAX_DEPTH: usize = 16;

/// One component of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub sku: Sku,
    pub quantity: u32,
}

/// Why a bundle has no quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BundleProblem {
    #[error("bundle cycle: {}", path.iter().map(Sku::as_str).collect::<Vec<_>>().join(" → "))]
    Cycle { path: Vec<Sku> },
    #[error("component {component} does not exist")]
    MissingComponent { component: Sku },
    #[error("component {component} has quantity 0")]
    ZeroQuantity { component: Sku },
    #[error("bundles nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("component {component} is itself unusable: {reason}")]
    BrokenComponent { component: Sku, reason: String },
}

/// Sellable quantity per SKU, and the bundles that have none with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Availability {
    pub available: HashMap<Sku, i64>,
    pub problems: BTreeMap<Sku, BundleProblem>,
}

/// Sellable quantity of every SKU in `stock` and every bundle in `bundles`. A bundle with no
/// components is sellable 0 (nothing to build it from).
///
/// Bundles are resolved bottom-up without recursion (a bundle once all of its component
/// bundles are), so the result does not depend on iteration order and a hostile chain cannot
/// exhaust the stack. Bundles left unresolved are on a cycle, or depend on one.
pub fn compute(stock: &HashMap<Sku, i64>, bundles: &HashMap<Sku, Vec<Component>>) -> Availability {
    let mut out = Availability {
        available: HashMap::with_capacity(stock.len() + bundles.len()),
        problems: BTreeMap::new(),
    };
    for (sku, n) in stock {
        if !bundles.contains_key(sku) {
            out.available.insert(sku.clone(), *n);
        }
    }
    // For each bundle: how many of its component bundles are still unresolved, and who uses it.
    let mut waiting: HashMap<&Sku, usize> = HashMap::with_capacity(bundles.len());
    let mut parents: HashMap<&Sku, Vec<&Sku>> = HashMap::new();
    for (sku, components) in bundles {
        let mut n = 0;
        for c in components {
            if bundles.contains_key(&c.sku) {
                n += 1;
                parents.entry(&c.sku).or_default().push(sku);
            }
        }
        waiting.insert(sku, n);
    }
    let mut ready: Vec<&Sku> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(s, _)| *s)
        .collect();
    let mut level: HashMap<&Sku, usize> = HashMap::with_capacity(bundles.len());
    while let Some(sku) = ready.pop() {
        let components = &bundles[sku];
        let depth = 1 + components
            .iter()
            .filter_map(|c| level.get(&c.sku))
            .max()
            .copied()
            .unwrap_or(0);
        level.insert(sku, depth);
        match quantity(components, &out, bundles, depth) {
            Ok(n) => {
                out.available.insert(sku.clone(), n);
            }
            Err(problem) => {
                out.problems.insert(sku.clone(), problem);
            }
        }
        for parent in parents.get(sku).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(parent) {
                *n -= 1;
                if *n == 0 {
                    ready.push(parent);
                }
            }
        }
    }
    let unresolved: Vec<&Sku> = bundles.keys().filter(|s| !level.contains_key(s)).collect();
    for sku in unresolved {
        let problem = cycle_problem(sku, bundles, &level);
        out.problems.insert(sku.clone(), problem);
    }
    out
}

/// A resolved bundle's quantity from its components (all component bundles are resolved).
fn quantity(
    components: &[Component],
    out: &Availability,
    bundles: &HashMap<Sku, Vec<Component>>,
    depth: usize,
) -> Result<i64, BundleProblem> {
    if depth > MAX_DEPTH {
        return Err(BundleProblem::TooDeep);
    }
    let mut min = i64::MAX;
    for c in components {
        if c.quantity == 0 {
            return Err(BundleProblem::ZeroQuantity {
                component: c.sku.clone(),
            });
        }
        let available = match out.available.get(&c.sku) {
            Some(n) => *n,
            None if bundles.contains_key(&c.sku) => {
                let reason = out
                    .problems
                    .get(&c.sku)
                    .map_or_else(|| "unresolved".to_owned(), |p| p.to_string());
                return Err(BundleProblem::BrokenComponent {
                    component: c.sku.clone(),
                    reason,
                });
            }
            None => {
                return Err(BundleProblem::MissingComponent {
                    component: c.sku.clone(),
                })
            }
        };
        min = min.min(available.max(0) / i64::from(c.quantity));
    }
    Ok(if min == i64::MAX { 0 } else { min })
}

/// Why an unresolved bundle is unresolved: the cycle it is on, or the cycle it depends on.
fn cycle_problem(
    start: &Sku,
    bundles: &HashMap<Sku, Vec<Component>>,
    resolved: &HashMap<&Sku, usize>,
) -> BundleProblem {
    let unresolved_component = |sku: &Sku| -> Option<Sku> {
        let mut next: Vec<&Sku> = bundles[sku]
            .iter()
            .map(|c| &c.sku)
            .filter(|c| bundles.contains_key(*c) && !resolved.contains_key(c))
            .collect();
        next.sort();
        next.first().map(|s| (*s).clone())
    };
    let mut path: Vec<Sku> = vec![start.clone()];
    loop {
        let Some(next) = unresolved_component(path.last().unwrap_or(start)) else {
            return BundleProblem::BrokenComponent {
                component: start.clone(),
                reason: "unresolved".into(),
            };
        };
        if let Some(at) = path.iter().position(|s| *s == next) {
            if at == 0 {
                path.push(next);
                return BundleProblem::Cycle { path };
            }
            return BundleProblem::BrokenComponent {
                component: path[1].clone(),
                reason: "it depends on a bundle cycle".into(),
            };
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn bundle(parts: &[(&str, u32)]) -> Vec<Component> {
        parts
            .iter()
            .map(|(s, q)| Component {
                sku: sku(s),
                quantity: *q,
            })
            .collect()
    }

    #[test]
    fn the_seed_example_holds() {
        let stock = HashMap::from([(sku("TS-001"), 12)]);
        let bundles = HashMap::from([(sku("TS-001-X3"), bundle(&[("TS-001", 3)]))]);
        let a = compute(&stock, &bundles);
        assert_eq!(a.available[&sku("TS-001")], 12);
        assert_eq!(a.available[&sku("TS-001-X3")], 4);
        assert!(a.problems.is_empty());
    }

    #[test]
    fn multi_component_bundles_take_the_minimum_and_nested_bundles_resolve() {
        let stock = HashMap::from([(sku("A"), 10), (sku("B"), 7), (sku("C"), -3)]);
        let bundles = HashMap::from([
            (sku("AB"), bundle(&[("A", 2), ("B", 1)])),
            (sku("AB-X2"), bundle(&[("AB", 2)])),
            (sku("AC"), bundle(&[("A", 1), ("C", 1)])),
        ]);
        let a = compute(&stock, &bundles);
        assert_eq!(a.available[&sku("AB")], 5);
        assert_eq!(a.available[&sku("AB-X2")], 2);
        assert_eq!(a.available[&sku("AC")], 0, "negative stock counts as none");
        assert_eq!(
            a.available[&sku("C")],
            -3,
            "simple SKUs pass through; the planner clamps"
        );
    }

    #[test]
    fn broken_bundles_get_a_reason_not_a_quantity() {
        let stock = HashMap::from([(sku("A"), 10)]);
        let bundles = HashMap::from([
            (sku("X"), bundle(&[("Y", 1)])),
            (sku("Y"), bundle(&[("X", 1)])),
            (sku("GHOST"), bundle(&[("A", 1), ("NOPE", 1)])),
            (sku("ZERO"), bundle(&[("A", 0)])),
            (sku("ON-GHOST"), bundle(&[("GHOST", 1)])),
        ]);
        let a = compute(&stock, &bundles);
        assert!(matches!(a.problems[&sku("X")], BundleProblem::Cycle { .. }));
        assert!(matches!(a.problems[&sku("Y")], BundleProblem::Cycle { .. }));
        assert_eq!(
            a.problems[&sku("GHOST")],
            BundleProblem::MissingComponent {
                component: sku("NOPE")
            }
        );
        assert_eq!(
            a.problems[&sku("ZERO")],
            BundleProblem::ZeroQuantity {
                component: sku("A")
            }
        );
        assert!(matches!(
            a.problems[&sku("ON-GHOST")],
            BundleProblem::BrokenComponent { .. }
        ));
        for broken in ["X", "Y", "GHOST", "ZERO", "ON-GHOST"] {
            assert!(
                !a.available.contains_key(&sku(broken)),
                "{broken} must not get a quantity"
            );
        }
        assert_eq!(a.available[&sku("A")], 10);
        assert!(a.problems[&sku("X")].to_string().contains("→"));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let stock = HashMap::from([(sku("L0"), 100)]);
        let bundles: HashMap<Sku, Vec<Component>> = (1..=40)
            .map(|i| {
                (
                    sku(&format!("L{i}")),
                    bundle(&[(&format!("L{}", i - 1), 1)]),
                )
            })
            .collect();
        for _ in 0..20 {
            // The same answer whatever order the maps iterate in.
            let a = compute(&stock, &bundles);
            assert_eq!(a.available[&sku("L16")], 100);
            assert_eq!(a.problems[&sku("L17")], BundleProblem::TooDeep);
            assert_eq!(a.problems[&sku("L40")], BundleProblem::TooDeep);
            assert_eq!(a.problems.len(), 24);
        }
    }
}
