//! The WMS's stock snapshot, its product and bundle definitions, and the order reservations
//! that keep sold stock off sale until the WMS has applied the order — all per tenant, in
//! [`Records`] partitions:
//!
//! | partition | key | version | value |
//! |---|---|---|---|
//! | `stock#{tenant}` | SKU | `at` (Unix ms) | [`StockLevel`] |
//! | `products#{tenant}` | SKU | received (Unix ms) | [`Product`] |
//! | `bundles#{tenant}` | bundle SKU | received (Unix ms) | its components |
//! | `reserved#{tenant}` | `{order key}␟{SKU}` | imported (Unix ms) | [`Reservation`] |
//!
//! A stock level is written only when its `at` is newer than the stored one, so late and
//! replayed `stock.changed` events never overwrite newer stock.

use super::bundles::{compute, Availability, Component, MAX_DEPTH};
use crate::domain::{Sku, TenantId};
use crate::ports::{PortError, PortResult, Records, MAX_FETCH_MANY};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Separates the order key from the SKU in a reservation key (SKUs hold no control characters).
const SEP: char = '\u{1f}';
/// Reservations older than this no longer count: a WMS that never acknowledged an order must
/// not keep its stock off sale forever (the daily push then re-lists it). Documented.
pub const RESERVATION_MAX_AGE: chrono::Duration = chrono::Duration::hours(48);
/// Components per bundle accepted from the WMS.
pub const MAX_COMPONENTS: usize = 100;
/// Records read per page when a whole partition is loaded.
const PAGE: usize = 1000;

pub use crate::keys::partition::{
    bundles as bundles_partition, products as products_partition, reserved as reserved_partition,
    stock as stock_partition,
};

/// A SKU's sellable stock in the WMS at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub available: i64,
    pub at: DateTime<Utc>,
}

/// A WMS product as last upserted; `problem` says why a bundle definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<Component>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Units of a SKU sold on a channel and sent to the WMS, not yet applied by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub sku: Sku,
    pub quantity: u32,
    pub imported_at: DateTime<Utc>,
}

/// Applies a `stock.changed`: `Ok(true)` when it is the newest level of the SKU, `Ok(false)`
/// when a newer one is stored already (nothing changes).
pub async fn apply_stock(
    records: &dyn Records,
    tenant: &TenantId,
    sku: &Sku,
    level: &StockLevel,
) -> PortResult<bool> {
    let value = serde_json::to_value(level).map_err(|e| PortError::Corrupt(e.to_string()))?;
    records
        .put_if_newer(
            &stock_partition(tenant),
            sku.as_str(),
            level.at.timestamp_millis(),
            &value,
        )
        .await
}

/// Why a bundle definition is refused outright (graph problems — cycles, components the WMS
/// never sent — are found when quantities are computed).
fn definition_problem(sku: &Sku, components: &[Component]) -> Option<String> {
    if components.len() > MAX_COMPONENTS {
        return Some(format!(
            "a bundle may have at most {MAX_COMPONENTS} components, got {}",
            components.len()
        ));
    }
    let mut seen = HashSet::new();
    for c in components {
        if &c.sku == sku {
            return Some(format!("bundle {sku} lists itself as a component"));
        }
        if c.quantity == 0 {
            return Some(format!("component {} has quantity 0", c.sku));
        }
        if !seen.insert(&c.sku) {
            return Some(format!("component {} is listed twice", c.sku));
        }
    }
    None
}

/// What an upsert changed for the inventory engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// Why the bundle definition was refused (the product is stored with it).
    pub problem: Option<String>,
    /// Whether the SKU's bundle definition changed (its quantity must be re-pushed).
    pub bundle_changed: bool,
}

/// Applies a `product.upserted`. A bundle definition that is refused is stored on the product
/// with its reason and the SKU stops being a bundle (it gets no quantity, never a guess).
pub async fn upsert_product(
    records: &dyn Records,
    tenant: &TenantId,
    sku: &Sku,
    name: &str,
    components: Option<Vec<Component>>,
) -> PortResult<Upserted> {
    let now = Utc::now().timestamp_millis();
    let problem = components
        .as_deref()
        .and_then(|c| definition_problem(sku, c));
    let product = Product {
        name: name.to_owned(),
        components: components.clone(),
        problem: problem.clone(),
    };
    let value = serde_json::to_value(&product).map_err(|e| PortError::Corrupt(e.to_string()))?;
    records
        .put(&products_partition(tenant), sku.as_str(), now, &value)
        .await?;
    let bundles = bundles_partition(tenant);
    let before = records.fetch(&bundles, sku.as_str()).await?;
    let wanted = match (&components, &problem) {
        (Some(c), None) => Some(c.clone()),
        // A refused definition: the SKU has no quantity at all rather than a wrong one.
        (Some(_), Some(_)) => Some(Vec::new()),
        (None, _) => None,
    };
    let old: Option<Vec<Component>> = before
        .map(|r| serde_json::from_value(r.value))
        .transpose()
        .map_err(|e| PortError::Corrupt(format!("bundle {sku}: {e}")))?;
    let bundle_changed = old != wanted;
    match &wanted {
        Some(c) => {
            let value = serde_json::to_value(c).map_err(|e| PortError::Corrupt(e.to_string()))?;
            records.put(&bundles, sku.as_str(), now, &value).await?;
        }
        None => records.remove(&bundles, sku.as_str()).await?,
    }
    Ok(Upserted {
        problem,
        bundle_changed,
    })
}

/// Every record of a partition (with an optional key prefix), page by page.
pub async fn load_all(
    records: &dyn Records,
    partition: &str,
) -> PortResult<Vec<crate::ports::Record>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = records.page(partition, "", after.as_deref(), PAGE).await?;
        out.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// The tenant's bundle definitions.
pub async fn bundles(
    records: &dyn Records,
    tenant: &TenantId,
) -> PortResult<HashMap<Sku, Vec<Component>>> {
    let mut out = HashMap::new();
    for record in load_all(records, &bundles_partition(tenant)).await? {
        let Ok(sku) = Sku::parse(record.key.clone()) else {
            continue;
        };
        let components: Vec<Component> = serde_json::from_value(record.value)
            .map_err(|e| PortError::Corrupt(format!("bundle {}: {e}", record.key)))?;
        out.insert(sku, components);
    }
    Ok(out)
}

/// The WMS stock of `skus` (those it has sent a level for).
pub async fn stock_of(
    records: &dyn Records,
    tenant: &TenantId,
    skus: &[Sku],
) -> PortResult<HashMap<Sku, i64>> {
    let partition = stock_partition(tenant);
    let mut out = HashMap::with_capacity(skus.len());
    for chunk in skus.chunks(MAX_FETCH_MANY) {
        let keys: Vec<String> = chunk.iter().map(|s| s.as_str().to_owned()).collect();
        for record in records.fetch_many(&partition, &keys).await? {
            let level: StockLevel = serde_json::from_value(record.value)
                .map_err(|e| PortError::Corrupt(format!("stock {}: {e}", record.key)))?;
            if let Ok(sku) = Sku::parse(record.key) {
                out.insert(sku, level.available);
            }
        }
    }
    Ok(out)
}

/// The key of one reserved line.
fn reservation_key(order_key: &str, sku: &Sku) -> String {
    format!("{order_key}{SEP}{sku}")
}

/// Reserves an imported order's lines (`(SKU, quantity)`; a SKU twice is summed). Idempotent:
/// a retry writes the same records.
pub async fn reserve(
    records: &dyn Records,
    tenant: &TenantId,
    order_key: &str,
    lines: &[(Sku, u32)],
    imported_at: DateTime<Utc>,
) -> PortResult<()> {
    let mut summed: HashMap<&Sku, u32> = HashMap::new();
    for (sku, quantity) in lines {
        let n = summed.entry(sku).or_default();
        *n = n.saturating_add(*quantity);
    }
    let partition = reserved_partition(tenant);
    // One batch per order, whatever its number of lines (one transaction embedded,
    // `BatchWriteItem` on DynamoDB): the cost of an import stays flat in its lines.
    let mut items = Vec::with_capacity(summed.len());
    for (sku, quantity) in summed {
        if quantity == 0 {
            continue;
        }
        let value = serde_json::to_value(Reservation {
            sku: sku.clone(),
            quantity,
            imported_at,
        })
        .map_err(|e| PortError::Corrupt(e.to_string()))?;
        items.push((
            reservation_key(order_key, sku),
            imported_at.timestamp_millis(),
            value,
        ));
    }
    records.put_many(&partition, &items).await
}

/// Releases every reserved line of an order (the WMS applied it, or it was cancelled).
/// Returns the SKUs released.
pub async fn release(
    records: &dyn Records,
    tenant: &TenantId,
    order_key: &str,
) -> PortResult<Vec<Sku>> {
    let partition = reserved_partition(tenant);
    let prefix = format!("{order_key}{SEP}");
    let mut released = Vec::new();
    loop {
        let page = records.page(&partition, &prefix, None, PAGE).await?;
        if page.records.is_empty() {
            return Ok(released);
        }
        for record in page.records {
            records.remove(&partition, &record.key).await?;
            if let Some(sku) = record.key.rsplit(SEP).next() {
                if let Ok(sku) = Sku::parse(sku.to_owned()) {
                    released.push(sku);
                }
            }
        }
    }
}

/// The units still reserved per SKU (as sold: a bundle's own SKU), ignoring reservations
/// older than [`RESERVATION_MAX_AGE`].
pub async fn reserved(records: &dyn Records, tenant: &TenantId) -> PortResult<HashMap<Sku, i64>> {
    let cutoff = Utc::now() - RESERVATION_MAX_AGE;
    let mut out: HashMap<Sku, i64> = HashMap::new();
    for record in load_all(records, &reserved_partition(tenant)).await? {
        let r: Reservation = serde_json::from_value(record.value)
            .map_err(|e| PortError::Corrupt(format!("reservation {}: {e}", record.key)))?;
        if r.imported_at >= cutoff {
            *out.entry(r.sku).or_default() += i64::from(r.quantity);
        }
    }
    Ok(out)
}

/// Reserved units expanded onto the SKUs that hold stock: a reserved bundle reserves its
/// components (nested bundles down to their leaves), so every unit is counted exactly once.
pub fn expand_reserved(
    reserved: &HashMap<Sku, i64>,
    bundles: &HashMap<Sku, Vec<Component>>,
) -> HashMap<Sku, i64> {
    let mut out: HashMap<Sku, i64> = HashMap::new();
    let mut stack: Vec<(&Sku, i64, usize)> = reserved.iter().map(|(s, n)| (s, *n, 0)).collect();
    while let Some((sku, n, depth)) = stack.pop() {
        match bundles.get(sku) {
            // Deeper than bundles may nest is a cycle or a broken chain: those bundles have
            // no quantity anyway, so stop rather than loop.
            Some(components) if depth <= MAX_DEPTH => {
                for c in components {
                    stack.push((&c.sku, n.saturating_mul(i64::from(c.quantity)), depth + 1));
                }
            }
            Some(_) => {}
            None => *out.entry(sku.clone()).or_default() += n,
        }
    }
    out
}

/// The SKUs whose quantity depends on `changed`: themselves and every bundle containing one
/// of them, at any depth.
pub fn affected(changed: &[Sku], bundles: &HashMap<Sku, Vec<Component>>) -> Vec<Sku> {
    let mut parents: HashMap<&Sku, Vec<&Sku>> = HashMap::new();
    for (bundle, components) in bundles {
        for c in components {
            parents.entry(&c.sku).or_default().push(bundle);
        }
    }
    let mut seen: HashSet<&Sku> = HashSet::new();
    let mut stack: Vec<&Sku> = changed.iter().collect();
    while let Some(sku) = stack.pop() {
        if seen.insert(sku) {
            stack.extend(parents.get(sku).into_iter().flatten().copied());
        }
    }
    let mut out: Vec<Sku> = seen.into_iter().cloned().collect();
    out.sort();
    out
}

/// The sellable quantity of `skus` (and their problems): WMS stock of every component they
/// need, minus the units reserved by orders the WMS has not applied yet, bundles computed.
pub async fn sellable(
    records: &dyn Records,
    tenant: &TenantId,
    skus: &[Sku],
    bundles: &HashMap<Sku, Vec<Component>>,
    reserved: &HashMap<Sku, i64>,
) -> PortResult<Availability> {
    // Every SKU the quantities depend on: the SKUs and their components, at any depth.
    let mut needed: HashSet<&Sku> = HashSet::new();
    let mut stack: Vec<(&Sku, usize)> = skus.iter().map(|s| (s, 0)).collect();
    let mut wanted_bundles: HashMap<Sku, Vec<Component>> = HashMap::new();
    while let Some((sku, depth)) = stack.pop() {
        if !needed.insert(sku) {
            continue;
        }
        if let Some(components) = bundles.get(sku) {
            wanted_bundles.insert(sku.clone(), components.clone());
            if depth <= MAX_DEPTH + 1 {
                stack.extend(components.iter().map(|c| (&c.sku, depth + 1)));
            }
        }
    }
    let leaves: Vec<Sku> = needed
        .iter()
        .filter(|s| !bundles.contains_key(*s))
        .map(|s| (*s).clone())
        .collect();
    let mut stock = stock_of(records, tenant, &leaves).await?;
    for (sku, n) in expand_reserved(reserved, bundles) {
        if let Some(level) = stock.get_mut(&sku) {
            *level = level.saturating_sub(n);
        }
    }
    for level in stock.values_mut() {
        *level = (*level).max(0);
    }
    Ok(compute(&stock, &wanted_bundles))
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }
    fn tenant() -> TenantId {
        TenantId::parse("dev").unwrap()
    }
    fn at(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + i64::from(s), 0).unwrap()
    }
    fn comp(s: &str, quantity: u32) -> Component {
        Component {
            sku: sku(s),
            quantity,
        }
    }

    #[tokio::test]
    async fn late_stock_never_overwrites_newer_and_the_seed_bundle_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let t = tenant();
        let level = |available, s| StockLevel {
            available,
            at: at(s),
        };
        assert!(apply_stock(&store, &t, &sku("TS-001"), &level(12, 10))
            .await
            .unwrap());
        assert!(!apply_stock(&store, &t, &sku("TS-001"), &level(50, 5))
            .await
            .unwrap());
        assert!(!apply_stock(&store, &t, &sku("TS-001"), &level(50, 10))
            .await
            .unwrap());
        let up = upsert_product(
            &store,
            &t,
            &sku("TS-001-X3"),
            "Tee 3-pack",
            Some(vec![comp("TS-001", 3)]),
        )
        .await
        .unwrap();
        assert_eq!(
            up,
            Upserted {
                problem: None,
                bundle_changed: true
            }
        );
        let b = bundles(&store, &t).await.unwrap();
        let skus = [sku("TS-001"), sku("TS-001-X3")];
        let got = sellable(&store, &t, &skus, &b, &HashMap::new())
            .await
            .unwrap();
        assert_eq!(got.available[&sku("TS-001")], 12);
        assert_eq!(got.available[&sku("TS-001-X3")], 4);
        // The same definition again changes nothing.
        let again = upsert_product(
            &store,
            &t,
            &sku("TS-001-X3"),
            "Tee 3-pack",
            Some(vec![comp("TS-001", 3)]),
        )
        .await
        .unwrap();
        assert!(!again.bundle_changed);
    }

    #[tokio::test]
    async fn refused_definitions_carry_a_reason_and_give_no_quantity() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let t = tenant();
        apply_stock(
            &store,
            &t,
            &sku("A"),
            &StockLevel {
                available: 9,
                at: at(1),
            },
        )
        .await
        .unwrap();
        let selfish = upsert_product(&store, &t, &sku("S"), "S", Some(vec![comp("S", 1)]))
            .await
            .unwrap();
        assert_eq!(
            selfish.problem.as_deref(),
            Some("bundle S lists itself as a component")
        );
        let twice = upsert_product(
            &store,
            &t,
            &sku("T"),
            "T",
            Some(vec![comp("A", 1), comp("A", 2)]),
        )
        .await
        .unwrap();
        assert_eq!(
            twice.problem.as_deref(),
            Some("component A is listed twice")
        );
        // A cycle through two valid-looking definitions and a missing component.
        upsert_product(&store, &t, &sku("P"), "P", Some(vec![comp("Q", 1)]))
            .await
            .unwrap();
        upsert_product(&store, &t, &sku("Q"), "Q", Some(vec![comp("P", 1)]))
            .await
            .unwrap();
        upsert_product(&store, &t, &sku("M"), "M", Some(vec![comp("NOPE", 1)]))
            .await
            .unwrap();
        let stored = store.fetch("products#dev", "S").await.unwrap().unwrap();
        assert_eq!(
            stored.value["problem"],
            "bundle S lists itself as a component"
        );
        let b = bundles(&store, &t).await.unwrap();
        let skus: Vec<Sku> = ["S", "T", "P", "Q", "M", "A"]
            .iter()
            .map(|s| sku(s))
            .collect();
        let got = sellable(&store, &t, &skus, &b, &HashMap::new())
            .await
            .unwrap();
        assert_eq!(got.available.get(&sku("A")), Some(&9));
        // Refused definitions are empty bundles: sellable 0, never the component's stock.
        assert_eq!(got.available.get(&sku("S")).copied().unwrap_or(0), 0);
        assert_eq!(got.available.get(&sku("T")).copied().unwrap_or(0), 0);
        for broken in ["P", "Q", "M"] {
            assert!(!got.available.contains_key(&sku(broken)), "{broken}");
            assert!(got.problems.contains_key(&sku(broken)), "{broken}");
        }
        assert!(got.problems[&sku("M")].to_string().contains("NOPE"));
        // Removing the components makes it a plain product again.
        let plain = upsert_product(&store, &t, &sku("M"), "M", None)
            .await
            .unwrap();
        assert!(plain.bundle_changed);
        assert!(!bundles(&store, &t).await.unwrap().contains_key(&sku("M")));
    }

    #[tokio::test]
    async fn reservations_count_once_through_bundles_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let t = tenant();
        apply_stock(
            &store,
            &t,
            &sku("TS-001"),
            &StockLevel {
                available: 12,
                at: at(1),
            },
        )
        .await
        .unwrap();
        upsert_product(
            &store,
            &t,
            &sku("X3"),
            "3-pack",
            Some(vec![comp("TS-001", 3)]),
        )
        .await
        .unwrap();
        // One 3-pack and two singles sold on a channel, not yet applied by the WMS.
        reserve(
            &store,
            &t,
            "order#shopify#demo#1",
            &[(sku("X3"), 1), (sku("TS-001"), 1), (sku("TS-001"), 1)],
            Utc::now(),
        )
        .await
        .unwrap();
        let b = bundles(&store, &t).await.unwrap();
        let r = reserved(&store, &t).await.unwrap();
        assert_eq!(r[&sku("TS-001")], 2);
        let skus = [sku("TS-001"), sku("X3")];
        let got = sellable(&store, &t, &skus, &b, &r).await.unwrap();
        assert_eq!(got.available[&sku("TS-001")], 7, "12 − 3 − 2");
        assert_eq!(got.available[&sku("X3")], 2);
        let mut released = release(&store, &t, "order#shopify#demo#1").await.unwrap();
        released.sort();
        assert_eq!(released, [sku("TS-001"), sku("X3")]);
        assert!(reserved(&store, &t).await.unwrap().is_empty());
        // An old reservation no longer counts.
        reserve(
            &store,
            &t,
            "order#shopify#demo#2",
            &[(sku("TS-001"), 5)],
            Utc::now() - RESERVATION_MAX_AGE - chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
        assert!(reserved(&store, &t).await.unwrap().is_empty());
    }

    #[test]
    fn affected_skus_climb_nested_bundles() {
        let b = HashMap::from([
            (sku("X3"), vec![comp("A", 3)]),
            (sku("GIFT"), vec![comp("X3", 1), comp("B", 1)]),
            (sku("OTHER"), vec![comp("B", 1)]),
        ]);
        assert_eq!(
            affected(&[sku("A")], &b),
            [sku("A"), sku("GIFT"), sku("X3")]
        );
    }
}
