//! The single-machine runner: the same Routers and consumers as the Lambda functions, wired
//! to the embedded store, plus the WMS's HTTP side (`/wms/events`, `/wms/outbox`).

pub mod cli;
mod config;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "demo")]
pub mod fakes;
pub mod jobs;
mod wms;

pub use config::{Config, ConfigError};

use axum::routing::get;
use axum::Router;
use shared::api::ApiDeps;
use shared::channels::adapter::Webhooks;
use shared::channels::registry::Registry;
use shared::consumers::wms_events::{self, WmsEventsDeps};
use shared::consumers::{order_import, run_loop, run_loop_with};
use shared::domain::TenantId;
use shared::embedded::{EmbeddedQueue, EmbeddedStore};
use shared::http::inventory_api::InventoryApiDeps;
use shared::http::token_sha256;
use shared::inventory::channel::Channels;
use shared::inventory::engine;
use shared::jobs::products::ProductsDeps;
use shared::jobs::reconcile::ReconcileDeps;
use shared::jobs::webhook_health::WebhookHealthDeps;
use shared::webhooks::IntakeDeps;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Queue names of the embedded store (the SAM template's queues).
pub mod queues {
    pub const CHANNEL_EVENTS: &str = "channel-events";
    pub const CHANNEL_EVENTS_DLQ: &str = "channel-events-dlq";
    pub const WMS_ORDERS: &str = "wms-orders";
    pub const WMS_EVENTS: &str = "wms-events";
    pub const WMS_EVENTS_DLQ: &str = "wms-events-dlq";
    /// Where stock messages waited before `wms-events` routed them itself: drained at start
    /// so nothing an older version accepted is lost.
    pub const LEGACY_STOCK_EVENTS: &str = "stock-events";
    pub const LEGACY_STOCK_EVENTS_DLQ: &str = "stock-events-dlq";
    pub const INVENTORY_PUSH: &str = shared::inventory::engine::INVENTORY_PUSH_QUEUE;
    pub const INVENTORY_PUSH_DLQ: &str = "inventory-push-dlq";
}

/// How long the pusher owns a message (a full-push chunk may wait out channel throttling).
const PUSH_VISIBILITY: Duration = Duration::from_secs(15 * 60);

/// How long a consumer owns a received message before it is delivered again.
const VISIBILITY: Duration = Duration::from_secs(30);
/// Orders the import consumer takes at a time and handles concurrently. Their storage calls
/// meet in the store's group commits, so a bigger batch means fewer commits per order (64:
/// past it the gain is small and a batch's slowest order holds up the next receive).
const IMPORT_BATCH: u32 = 64;
/// Receives before a message moves to its DLQ.
const MAX_RECEIVES: u32 = 5;

/// A running system: the Router plus what the background tasks need.
pub struct System {
    pub router: Router,
    pub products: Arc<ProductsDeps>,
    pub health: Arc<WebhookHealthDeps>,
    pub wms_events: EmbeddedQueue,
    pub wms_events_deps: Arc<WmsEventsDeps>,
    pub reconcile: Arc<ReconcileDeps>,
    pub store: EmbeddedStore,
    pub channel_events: EmbeddedQueue,
    pub import: Arc<order_import::ImportDeps>,
    pub push: Arc<engine::PushDeps>,
    /// The scheduled jobs' ticks and worker pool (`jobs.rs`).
    pub jobs: jobs::Jobs,
}

/// Makes `hash` the `dev` tenant's token and revokes the one an earlier start installed, so a
/// rotated `CHANNEL_SYNC_DEV_TOKEN` leaves no old token working. Only the token's SHA-256 is
/// remembered (partition `serve`, key `dev-token`).
async fn install_dev_token(
    ports: &shared::ports::Ports,
    hash: &str,
) -> shared::ports::PortResult<()> {
    const PARTITION: &str = "serve";
    const KEY: &str = "dev-token";
    let dev =
        TenantId::parse("dev").map_err(|e| shared::ports::PortError::Corrupt(e.to_string()))?;
    let before = ports.records.fetch(PARTITION, KEY).await?.and_then(|r| {
        r.value
            .get("sha256")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    });
    ports.tenants.put_token(&dev, hash).await?;
    if let Some(before) = before.filter(|b| b != hash) {
        ports.tenants.revoke_token(&before).await?;
        tracing::info!("the previous dev token was revoked");
    }
    ports
        .records
        .put(
            PARTITION,
            KEY,
            chrono::Utc::now().timestamp_millis(),
            &serde_json::json!({"sha256": hash}),
        )
        .await
}

/// Opens the store and wires every route.
pub async fn build(config: &Config) -> Result<System, ConfigError> {
    let (ports, store) = shared::embedded::ports(&config.data_dir).map_err(ConfigError::Store)?;
    if let Some(token) = &config.dev_token {
        install_dev_token(&ports, &token_sha256(token.expose()))
            .await
            .map_err(ConfigError::Store)?;
    }
    let channel_events = store.queue(
        queues::CHANNEL_EVENTS,
        Some(queues::CHANNEL_EVENTS_DLQ),
        MAX_RECEIVES,
    );
    let wms_orders = store.queue(queues::WMS_ORDERS, None, MAX_RECEIVES);
    let wms_events = store.queue(
        queues::WMS_EVENTS,
        Some(queues::WMS_EVENTS_DLQ),
        MAX_RECEIVES,
    );
    let channels = Registry::on(
        &ports,
        config.url_policy,
        &config.public_url,
        config.apps.clone(),
    )
    .map_err(ConfigError::Invalid)?;
    for adapter in channels.adapters() {
        let signed_by_app = adapter.capabilities().webhooks == Webhooks::AppSecret;
        if signed_by_app && config.apps.get(adapter.channel()).secrets.is_empty() {
            let name = adapter.channel().as_str().to_ascii_uppercase();
            tracing::warn!(
                "{name}_CLIENT_SECRET is not set: every {} webhook will be refused with 401",
                adapter.channel()
            );
        }
    }
    let intake = IntakeDeps::new(
        ports.connections.clone(),
        ports.idempotency.clone(),
        Arc::new(channel_events.clone()),
        channels.clone(),
    );
    let push_queue = Arc::new(store.queue(
        queues::INVENTORY_PUSH,
        Some(queues::INVENTORY_PUSH_DLQ),
        MAX_RECEIVES,
    ));
    let live = Arc::new(engine::LiveTrigger {
        connections: ports.connections.clone(),
        records: ports.records.clone(),
        push_queue: push_queue.clone(),
        settings: config.engine,
    });
    let api = ApiDeps {
        inventory: Arc::new(InventoryApiDeps {
            connections: ports.connections.clone(),
            tenants: ports.tenants.clone(),
            records: ports.records.clone(),
            idempotency: ports.idempotency.clone(),
            values: ports.values.clone(),
            push_queue: push_queue.clone(),
        }),
        connections: ports.connections.clone(),
        tenants: ports.tenants.clone(),
        channels: channels.clone(),
        wms_orders: Arc::new(wms_orders.clone()),
    };
    let wms = wms::WmsDeps {
        tenants: ports.tenants.clone(),
        connections: ports.connections.clone(),
        outbox: wms_orders.clone(),
        inbound: wms_events.clone(),
    };
    let wms_orders_out = wms_orders.clone();
    let import = Arc::new(order_import::ImportDeps {
        connections: ports.connections.clone(),
        vault: ports.vault.clone(),
        idempotency: ports.idempotency.clone(),
        values: ports.values.clone(),
        wms_orders: Arc::new(wms_orders),
        dead_letter: Arc::new(store.queue(queues::CHANNEL_EVENTS_DLQ, None, MAX_RECEIVES)),
        inventory: live.clone(),
        channels: channels.clone(),
    });
    let oauth = shared::http::oauth::OAuthDeps {
        connections: ports.connections.clone(),
        tenants: ports.tenants.clone(),
        vault: ports.vault.clone(),
        idempotency: ports.idempotency.clone(),
        channels: channels.clone(),
        dashboard_url: config.dashboard_url.clone(),
    };
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/oauth/done", get(oauth_done))
        .merge(shared::http::oauth::router(Arc::new(oauth)))
        // The Integrations page at `/` and `/integrations`, offering the dev token locally.
        .merge(shared::http::ui::router(
            Arc::new(shared::http::ui::UiDeps {
                channels: channels.clone(),
                tenants: ports.tenants.clone(),
                connections: ports.connections.clone(),
                dev_token: config.dev_token.clone(),
            }),
            true,
        ))
        .merge(shared::webhooks::router(Arc::new(intake)))
        .merge(shared::api::router(Arc::new(api)))
        .merge(wms::router(Arc::new(wms)))
        .merge(shared::http::admin::router(Arc::new(
            shared::http::admin::AdminDeps {
                tenants: ports.tenants.clone(),
                admin_token_sha256: config
                    .admin_token
                    .as_ref()
                    .map(|t| token_sha256(t.expose())),
            },
        )));
    let router = shared::http::with_json_fallbacks(router);
    let reconcile = Arc::new(ReconcileDeps {
        records: ports.records.clone(),
        connections: ports.connections.clone(),
        idempotency: ports.idempotency.clone(),
        values: ports.values.clone(),
        channel_events: Arc::new(channel_events.clone()),
        channels: channels.clone(),
    });
    let wms_events_deps = Arc::new(WmsEventsDeps {
        connections: ports.connections.clone(),
        idempotency: ports.idempotency.clone(),
        channels: channels.clone(),
        records: ports.records.clone(),
        wms_orders: Arc::new(wms_orders_out),
        stock: Arc::new(engine::StockDeps {
            records: ports.records.clone(),
            live,
        }),
        dead_letter: Arc::new(store.queue(queues::WMS_EVENTS_DLQ, None, MAX_RECEIVES)),
    });
    let health = Arc::new(WebhookHealthDeps {
        connections: ports.connections.clone(),
        values: ports.values.clone(),
        channels: channels.clone(),
    });
    let products = Arc::new(ProductsDeps {
        idempotency: ports.idempotency.clone(),
        values: ports.values.clone(),
        records: ports.records.clone(),
        wms_orders: wms_events_deps.wms_orders.clone(),
        channels: channels.clone(),
    });
    let jobs = jobs::build(
        config,
        &ports,
        &store,
        channels.clone(),
        Arc::new(channel_events.clone()),
        wms_events_deps.wms_orders.clone(),
        push_queue.clone(),
    );
    let push = Arc::new(engine::PushDeps {
        connections: ports.connections.clone(),
        records: ports.records.clone(),
        idempotency: ports.idempotency.clone(),
        values: ports.values.clone(),
        channels: Arc::new(Channels {
            registry: channels.clone(),
            records: ports.records.clone(),
        }),
        push_queue,
        products: Some(products.clone()),
        settings: config.engine,
    });
    Ok(System {
        jobs,
        push,
        router,
        products,
        health,
        wms_events,
        wms_events_deps,
        reconcile,
        store,
        channel_events,
        import,
    })
}

/// Where the browser lands after an install when no dashboard is configured: the outcome as
/// JSON (`shopify=connected&connection=…`, `shopify=claim&claim=…`, `shopify=error&reason=…`).
async fn oauth_done(
    axum::extract::Query(outcome): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> axum::Json<std::collections::BTreeMap<String, String>> {
    axum::Json(outcome)
}

/// The data directory's lock (`serve.lock`): one `serve` per store, so that what a previous
/// process had in flight can be freed at start (it is dead: nobody else holds the lock).
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, ConfigError> {
    let cannot = |e: std::io::Error| {
        ConfigError::Invalid(format!(
            "cannot lock the data directory {}: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("serve.lock"))
        .map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ConfigError::Invalid(format!(
            "another channel-sync serve is using the data directory {}",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(cannot(e)),
    }
}

/// Serves until `shutdown` resolves; consumers and timers stop with it.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConfigError> {
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|e| ConfigError::Invalid(format!("cannot listen on {}: {e}", config.addr)))?;
    serve_on(config, listener, shutdown).await
}

/// [`serve`] on a listener already bound (the demo and tests pick a free port this way).
pub async fn serve_on(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConfigError> {
    // Held until serve ends; the system releases it when the process dies, however it dies.
    let _lock = lock_data_dir(&config.data_dir)?;
    let system = build(&config).await?;
    let (messages, claims) = system
        .store
        .end_leases_of_a_previous_process()
        .await
        .map_err(ConfigError::Store)?;
    if messages + claims > 0 {
        tracing::info!(
            messages,
            claims,
            "what the previous run had in flight is free again"
        );
    }
    let local = listener
        .local_addr()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    tracing::info!(addr = %local, data = %config.data_dir.display(), "channel-sync serving");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(run_loop_with(
        Arc::new(system.channel_events.clone()),
        system.import.clone(),
        order_import::handle,
        system.channel_events.notified(),
        VISIBILITY,
        IMPORT_BATCH,
        stop_rx.clone(),
    ));
    let shipments = tokio::spawn(run_loop(
        Arc::new(system.wms_events.clone()),
        system.wms_events_deps.clone(),
        wms_events::handle,
        system.wms_events.notified(),
        VISIBILITY,
        stop_rx.clone(),
    ));
    let legacy = system.store.queue(
        queues::LEGACY_STOCK_EVENTS,
        Some(queues::LEGACY_STOCK_EVENTS_DLQ),
        MAX_RECEIVES,
    );
    let legacy_stock = tokio::spawn(run_loop(
        Arc::new(legacy.clone()),
        system.wms_events_deps.clone(),
        wms_events::handle,
        legacy.notified(),
        VISIBILITY,
        stop_rx.clone(),
    ));
    // One message at a time: one pusher per connection (and per machine).
    let push = system.store.queue(
        queues::INVENTORY_PUSH,
        Some(queues::INVENTORY_PUSH_DLQ),
        MAX_RECEIVES,
    );
    let pusher = tokio::spawn(run_loop_with(
        Arc::new(push.clone()),
        system.push.clone(),
        engine::handle_push,
        push.notified(),
        PUSH_VISIBILITY,
        1,
        stop_rx.clone(),
    ));
    let scheduled = jobs::spawn(&system.jobs, &system.store, stop_rx.clone());
    let janitor = tokio::spawn(janitor(
        system.store.clone(),
        system.reconcile.channels.clone(),
        stop_rx.clone(),
    ));

    let served = axum::serve(listener, system.router)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    let _ = consumer.await;
    let _ = shipments.await;
    let _ = legacy_stock.await;
    let _ = pusher.await;
    let _ = janitor.await;
    for task in scheduled {
        let _ = task.await;
    }
    served.map_err(|e| ConfigError::Invalid(format!("server error: {e}")))
}

/// Hourly: forget delivery records past their retention, and delete the credentials of
/// parked installs whose claim code expired unredeemed.
async fn janitor(
    store: EmbeddedStore,
    channels: Arc<shared::channels::registry::Registry>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match store.purge_expired().await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired idempotency records removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency records"),
        }
        let context = channels.context();
        match shared::http::oauth::purge_parked_installs(
            &*context.records,
            &*context.vault,
            chrono::Utc::now(),
        )
        .await
        {
            Ok(n) if n > 0 => tracing::info!(purged = n, "unclaimed parked installs deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not purge parked installs"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `serve` per data directory: a second is refused with the reason, and the lock is
    /// free again once the first lets go (a dead process lets go too: the system drops it).
    #[test]
    fn a_second_serve_on_the_same_data_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = lock_data_dir(&data).unwrap();
        match lock_data_dir(&data) {
            Err(ConfigError::Invalid(why)) => {
                assert!(why.contains("another channel-sync serve"), "{why}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(first);
        lock_data_dir(&data).unwrap();
    }
}
