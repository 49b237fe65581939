//! A Live burst: 10,000 WMS stock changes over 500 SKUs (50 of them in bundles) for one Live
//! connection, then the pusher. Reports the channel calls the burst costs (target ≤ 500 ÷ 250
//! = 2) and times the pusher; the intake of the changes is the setup.

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use shared::consumers::drain_batch;
use shared::domain::{
    Channel, Connection, ConnectionId, ConnectionSettings, ConnectionStatus, SyncMode, TenantId,
};
use shared::embedded::EmbeddedStore;
use shared::inventory::channel::{
    ChannelInventory, InventoryChannel, ItemResult, PushError, PushItem,
};
use shared::inventory::engine::{
    embedded_live_trigger, handle_push, handle_stock, EngineSettings, PushDeps, StockDeps,
    INVENTORY_PUSH_QUEUE,
};
use shared::ports::{Connections, KeyValue, Records};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SKUS: usize = 500;
const CHANGES: usize = 10_000;

/// A channel that accepts everything and counts calls and items.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
    items: AtomicUsize,
}

struct Handle(Arc<Counting>);

#[async_trait]
impl InventoryChannel for Handle {
    fn max_batch(&self) -> usize {
        250
    }
    async fn push(
        &self,
        _: &str,
        _: &str,
        items: &[PushItem],
    ) -> Result<Vec<ItemResult>, PushError> {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        self.0.items.fetch_add(items.len(), Ordering::Relaxed);
        Ok(vec![ItemResult::Set; items.len()])
    }
}

#[async_trait]
impl ChannelInventory for Handle {
    async fn for_connection(&self, _: &Connection) -> Result<Box<dyn InventoryChannel>, PushError> {
        Ok(Box::new(Handle(self.0.clone())))
    }
}

struct Burst {
    _dir: tempfile::TempDir,
    store: EmbeddedStore,
    push: Arc<PushDeps>,
    counting: Arc<Counting>,
}

async fn burst() -> Burst {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let connection = Connection {
        id: ConnectionId::parse("c_bench").unwrap(),
        tenant: TenantId::parse("dev").unwrap(),
        channel: Channel::Shopify,
        shop: "bench.myshopify.com".into(),
        display_name: None,
        status: ConnectionStatus::Active,
        settings: ConnectionSettings {
            inventory_sync: SyncMode::Live,
            inventory_location: Some("1".into()),
            ..Default::default()
        },
        created_at: now,
        updated_at: now,
        activated_at: None,
        version: 0,
    };
    store.create(&connection).await.unwrap();
    for i in 0..SKUS {
        let entry = serde_json::json!({"inventory_item_id": format!("gid://shopify/InventoryItem/{i}"),
            "variant_id": "v", "product_id": "p", "tracked": true, "product_status": "active", "generation": 1});
        Records::put(&store, "skumap#c_bench", &format!("SKU-{i:03}"), 1, &entry)
            .await
            .unwrap();
    }
    KeyValue::put(
        &store,
        "products-map#c_bench",
        &serde_json::json!({"generation": 1}),
        None,
    )
    .await
    .unwrap();
    // A 1 ms window: every change gets its own push message, so what is measured is the
    // dirty set's coalescing, not the window's.
    let settings = EngineSettings {
        window: Duration::from_millis(1),
        ..Default::default()
    };
    let live = embedded_live_trigger(&store, settings);
    let stock = Arc::new(StockDeps {
        records: Arc::new(store.clone()),
        live: live.clone(),
    });
    // Bundles of SKU-000..SKU-049 (three of one each), then the burst.
    for i in 0..50 {
        let body = serde_json::json!({"type": "product.upserted", "tenant": "dev", "sku": format!("SKU-{:03}", 450 + i),
            "name": "pack", "components": [{"sku": format!("SKU-{i:03}"), "quantity": 3}]});
        handle_stock(&stock, serde_json::from_value(body).unwrap()).await;
    }
    let mut seed: u64 = 7;
    for n in 0..CHANGES {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let sku = (seed >> 33) as usize % 450;
        let at = now + chrono::Duration::milliseconds(n as i64);
        let body = serde_json::json!({"type": "stock.changed", "tenant": "dev", "sku": format!("SKU-{sku:03}"),
            "available": (seed >> 40) % 100, "at": at});
        handle_stock(&stock, serde_json::from_value(body).unwrap()).await;
    }
    let counting = Arc::new(Counting::default());
    let push = Arc::new(PushDeps {
        connections: Arc::new(store.clone()),
        records: Arc::new(store.clone()),
        idempotency: Arc::new(store.clone()),
        values: Arc::new(store.clone()),
        channels: Arc::new(Handle(counting.clone())),
        push_queue: live.push_queue.clone(),
        products: None,
        settings,
    });
    Burst {
        _dir: dir,
        store,
        push,
        counting,
    }
}

async fn drain(b: &Burst) -> usize {
    let queue = b.store.queue(INVENTORY_PUSH_QUEUE, None, 5);
    let mut messages = 0;
    loop {
        let n = drain_batch(
            &queue,
            b.push.clone(),
            handle_push,
            Duration::from_secs(60),
            1,
        )
        .await
        .unwrap();
        if n == 0 {
            return messages;
        }
        messages += n;
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = rt.block_on(burst());
    let messages = rt.block_on(drain(&b));
    println!(
        "live burst: {CHANGES} changes over {SKUS} SKUs → {messages} push messages, {} channel calls, {} items",
        b.counting.calls.load(Ordering::Relaxed),
        b.counting.items.load(Ordering::Relaxed)
    );
    let mut group = c.benchmark_group("live_burst");
    group.sample_size(10);
    group.bench_function("push after 10k changes over 500 SKUs", |bench| {
        bench.iter_batched(
            || rt.block_on(burst()),
            |b| rt.block_on(drain(&b)),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
