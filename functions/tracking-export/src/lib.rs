//! Wiring of the `tracking-export` Lambda, the consumer of everything on `wms-events`: each
//! message is routed by its type — shipments to the channel's tracking write, stock levels and
//! products to the inventory engine (Live connections are woken through `inventory-push`).
//!
//! Environment: `TABLE_NAME`, `SECRETS_PREFIX`, `{CHANNEL}_APP_SECRET_ID` per channel app,
//! `WMS_ORDERS_QUEUE_URL` (results for the WMS), `INVENTORY_PUSH_QUEUE_URL` (the Live
//! trigger), `WMS_EVENTS_DLQ_URL`, optionally `{CHANNEL}_API_BASE`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::aws::lambda_env::{env, live_trigger, ports_and_channels, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::consumers::sqs_batch;
use shared::consumers::wms_events::{self, WmsEventsDeps};
use shared::inventory::engine::StockDeps;
use std::sync::Arc;

/// Everything the consumer needs, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<WmsEventsDeps, ConfigError> {
    let (ports, channels) = ports_and_channels(config).await?;
    Ok(WmsEventsDeps {
        connections: ports.connections.clone(),
        idempotency: ports.idempotency.clone(),
        records: ports.records.clone(),
        channels,
        wms_orders: Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
        stock: Arc::new(StockDeps {
            records: ports.records.clone(),
            live: live_trigger(config, &ports)?,
        }),
        dead_letter: Arc::new(SqsQueue::from_config(config, env("WMS_EVENTS_DLQ_URL")?)),
    })
}

/// The SQS handler: every record on its own, failures reported per item.
pub async fn handler(
    deps: Arc<WmsEventsDeps>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(sqs_batch(deps, event, wms_events::handle).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::channels::context::{AppCredentials, ChannelApps};
    use shared::channels::registry::Registry;
    use shared::domain::{Channel, Connection, ConnectionStatus, TenantId};
    use shared::embedded::{EmbeddedStore, EmbeddedVault};
    use shared::ports::{Connections, Queue};

    /// The sample batch through the Lambda handler: the shipment of a disconnected store is
    /// reported to the WMS (no Shopify call), the stock change is applied, the poison
    /// message is dead-lettered, and nothing is retried.
    #[tokio::test]
    async fn sample_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .create(&Connection {
                status: ConnectionStatus::Disconnected,
                ..Connection::fixture(
                    "c_demo0000000000000001",
                    Channel::Shopify,
                    "demo-shop.myshopify.com",
                )
            })
            .await
            .unwrap();
        let (outbox, dlq) = (
            store.queue("wms-orders", None, 5),
            store.queue("dlq", None, 5),
        );
        let deps = Arc::new(WmsEventsDeps {
            connections: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            records: Arc::new(store.clone()),
            channels: Registry::on(
                &shared::embedded::ports_of(
                    &store,
                    Arc::new(EmbeddedVault::open(dir.path()).unwrap()),
                ),
                Default::default(),
                "",
                ChannelApps::default().with(
                    Channel::Shopify,
                    AppCredentials {
                        // Nothing listens here: a call would fail the test.
                        api_base: Some("http://127.0.0.1:9".into()),
                        ..AppCredentials::default()
                    },
                ),
            )
            .unwrap(),
            wms_orders: Arc::new(outbox.clone()),
            stock: shared::inventory::engine::embedded_stock(&store),
            dead_letter: Arc::new(dlq.clone()),
        });
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/tracking-export-sqs-batch.json"
        ))
        .unwrap();
        let response = handler(deps, serde_json::from_str(&raw).unwrap())
            .await
            .unwrap();
        assert!(
            response.batch_item_failures.is_empty(),
            "{:?}",
            response.batch_item_failures
        );
        let results = outbox
            .read_after(&TenantId::parse("dev").unwrap(), 0, 10)
            .await
            .unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].body["type"], "tracking.failed");
        // The stock change was applied in this invocation, not re-sent anywhere.
        let sku = shared::domain::Sku::parse("TS-001").unwrap();
        let levels = shared::inventory::stock::stock_of(
            &store,
            &TenantId::parse("dev").unwrap(),
            std::slice::from_ref(&sku),
        )
        .await
        .unwrap();
        assert_eq!(levels.get(&sku), Some(&12));
        assert_eq!(
            dlq.receive(10, std::time::Duration::from_secs(5))
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
