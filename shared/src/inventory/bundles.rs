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

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Visiting,
    Done,
}

struct Resolver<'a> {
    stock: &'a HashMap<Sku, i64>,
    bundles: &'a HashMap<Sku, Vec<Component>>,
    marks: HashMap<&'a Sku, Mark>,
    out: Availability,
}

impl<'a> Resolver<'a> {
    /// Resolves `sku` (a bundle); `path` is the chain of bundles being resolved.
    fn resolve(&mut self, sku: &'a Sku, path: &mut Vec<&'a Sku>) -> Result<i64, BundleProblem> {
        match self.marks.get(sku) {
            Some(Mark::Done) => {
                return match self.out.problems.get(sku) {
                    Some(p) => Err(p.clone()),
                    None => Ok(self.out.available.get(sku).copied().unwrap_or(0)),
                }
            }
            Some(Mark::Visiting) => {
                let start = path.iter().position(|s| *s == sku).unwrap_or(0);
                let mut cycle: Vec<Sku> = path[start..].iter().map(|s| (*s).clone()).collect();
                cycle.push(sku.clone());
                return Err(BundleProblem::Cycle { path: cycle });
            }
            None => {}
        }
        if path.len() >= MAX_DEPTH {
            return Err(BundleProblem::TooDeep);
        }
        let Some(components) = self.bundles.get(sku) else {
            return Ok(self.stock.get(sku).copied().unwrap_or(0));
        };
        self.marks.insert(sku, Mark::Visiting);
        path.push(sku);
        let mut result: Result<i64, BundleProblem> = Ok(i64::MAX);
        for c in components {
            let per_bundle = i64::from(c.quantity);
            if per_bundle == 0 {
                result = Err(BundleProblem::ZeroQuantity {
                    component: c.sku.clone(),
                });
                break;
            }
            let available = if self.bundles.contains_key(&c.sku) {
                match self.resolve(&c.sku, path) {
                    Ok(n) => n,
                    Err(BundleProblem::Cycle { path }) => {
                        result = Err(BundleProblem::Cycle { path });
                        break;
                    }
                    Err(other) => {
                        result = Err(BundleProblem::BrokenComponent {
                            component: c.sku.clone(),
                            reason: other.to_string(),
                        });
                        break;
                    }
                }
            } else {
                match self.stock.get(&c.sku) {
                    Some(n) => *n,
                    None => {
                        result = Err(BundleProblem::MissingComponent {
                            component: c.sku.clone(),
                        });
                        break;
                    }
                }
            };
            let sets = available.max(0) / per_bundle;
            if let Ok(min) = &mut result {
                *min = (*min).min(sets);
            }
        }
        path.pop();
        self.marks.insert(sku, Mark::Done);
        let result = result.map(|n| if n == i64::MAX { 0 } else { n });
        match &result {
            Ok(n) => {
                self.out.available.insert(sku.clone(), *n);
            }
            Err(p) => {
                self.out.problems.insert(sku.clone(), p.clone());
            }
        }
        result
    }
}

/// Sellable quantity of every SKU in `stock` and every bundle in `bundles`. A bundle with no
/// components is sellable 0 (nothing to build it from).
pub fn compute(stock: &HashMap<Sku, i64>, bundles: &HashMap<Sku, Vec<Component>>) -> Availability {
    let mut r = Resolver {
        stock,
        bundles,
        marks: HashMap::with_capacity(bundles.len()),
        out: Availability {
            available: HashMap::with_capacity(stock.len() + bundles.len()),
            problems: BTreeMap::new(),
        },
    };
    for (sku, n) in stock {
        if !bundles.contains_key(sku) {
            r.out.available.insert(sku.clone(), *n);
        }
    }
    for sku in bundles.keys() {
        let mut path = Vec::new();
        let _ = r.resolve(sku, &mut path);
    }
    r.out
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
        let a = compute(&stock, &bundles);
        assert!(a.available.contains_key(&sku("L3")));
        assert!(a.problems.contains_key(&sku("L40")));
    }
}
