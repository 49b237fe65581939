//! Planning a full push for 100,000 SKUs with 10,000 bundles (1,000 of them bundles of
//! bundles): bundle maths + listing rules + the push plan.

use criterion::{criterion_group, criterion_main, Criterion};
use shared::domain::Sku;
use shared::inventory::bundles::{compute, Component};
use shared::inventory::plan::{plan_push, ListingRules};
use std::collections::HashMap;
use std::hint::black_box;

fn sku(i: usize) -> Sku {
    Sku::parse(format!("SKU-{i:06}")).unwrap()
}

/// Stock, bundle definitions and the SKU → channel item map.
type Catalog = (
    HashMap<Sku, i64>,
    HashMap<Sku, Vec<Component>>,
    HashMap<Sku, String>,
);

fn catalog() -> Catalog {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let stock: HashMap<Sku, i64> = (0..100_000)
        .map(|i| (sku(i), (next(500) as i64) - 20))
        .collect();
    let mut bundles = HashMap::new();
    for b in 0..9_000 {
        let parts = (0..2 + next(2))
            .map(|_| Component {
                sku: sku(next(100_000)),
                quantity: 1 + next(4) as u32,
            })
            .collect();
        bundles.insert(sku(100_000 + b), parts);
    }
    for b in 9_000..10_000 {
        let parts = (0..2)
            .map(|_| Component {
                sku: sku(100_000 + next(9_000)),
                quantity: 1 + next(2) as u32,
            })
            .collect();
        bundles.insert(sku(100_000 + b), parts);
    }
    let map = (0..110_000)
        .map(|i| (sku(i), format!("gid://shopify/InventoryItem/{i}")))
        .collect();
    (stock, bundles, map)
}

fn bench(c: &mut Criterion) {
    let (stock, bundles, map) = catalog();
    let last = HashMap::new();
    let rules = ListingRules {
        buffer: 1,
        cap: Some(1_000),
    };
    let mut group = c.benchmark_group("inventory");
    group.sample_size(10);
    group.bench_function("full_push_plan_100k_skus_10k_bundles", |b| {
        b.iter(|| {
            let availability = compute(black_box(&stock), black_box(&bundles));
            let plan = plan_push(&availability, &map, &last, rules, true);
            assert_eq!(plan.pushes.len() + plan.unknown.len(), 110_000);
            plan
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
