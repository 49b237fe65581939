//! Wiring of the `order-import` Lambda.
//!
//! Environment: `TABLE_NAME`, `WMS_ORDERS_QUEUE_URL`, `CHANNEL_EVENTS_DLQ_URL`,
//! `SECRETS_PREFIX` (where connection credentials live in Secrets Manager),
//! `INVENTORY_PUSH_QUEUE_URL` (imported orders wake Live inventory pushes),
//! `{CHANNEL}_APP_SECRET_ID` per channel app and optionally `SHOPIFY_API_BASE` (Shopify orders
//! are imported by assignment: the consumer reads their fulfillment orders, with the
//! connection's token, refreshed with the app's credentials).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::aws::lambda_env::{env, live_trigger, ports_and_channels, ConfigError};
use shared::aws::{SdkConfig, SqsQueue};
use shared::consumers::{order_import, sqs_batch};
use std::sync::Arc;

pub use shared::consumers::order_import::ImportDeps;

/// Everything the consumer needs, from the environment.
pub async fn deps_from_env(config: &SdkConfig) -> Result<ImportDeps, ConfigError> {
    let (ports, channels) = ports_and_channels(config).await?;
    Ok(ImportDeps {
        connections: ports.connections.clone(),
        vault: ports.vault.clone(),
        idempotency: ports.idempotency.clone(),
        values: ports.values.clone(),
        inventory: live_trigger(config, &ports)?,
        // Reading Shopify's fulfillment orders needs the app (token refresh) and its API base.
        channels,
        wms_orders: Arc::new(SqsQueue::from_config(config, env("WMS_ORDERS_QUEUE_URL")?)),
        dead_letter: Arc::new(SqsQueue::from_config(
            config,
            env("CHANNEL_EVENTS_DLQ_URL")?,
        )),
    })
}

/// The SQS handler: every record handled on its own, failures reported per item.
pub async fn handler(
    deps: Arc<ImportDeps>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(sqs_batch(deps, event, order_import::handle).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::TenantId;
    use shared::embedded::EmbeddedStore;
    use shared::ports::Queue;
    use std::time::Duration;

    fn sample_batch() -> SqsEvent {
        let path = format!(
            "{}/../../events/order-import-sqs-batch.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn sample_batch_imports_each_order_once_and_dead_letters_the_poison() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let outbox = store.queue("wms-orders", None, 5);
        let dlq = store.queue("channel-events-dlq", None, 5);
        let vault = Arc::new(shared::embedded::EmbeddedVault::open(dir.path()).unwrap());
        let ports = shared::embedded::ports_of(&store, vault.clone());
        let deps = Arc::new(ImportDeps {
            connections: Arc::new(store.clone()),
            channels: shared::channels::registry::Registry::on(
                &ports,
                Default::default(),
                "",
                shared::channels::context::ChannelApps::default(),
            )
            .unwrap(),
            vault,
            idempotency: Arc::new(store.clone()),
            values: Arc::new(store.clone()),
            wms_orders: Arc::new(outbox.clone()),
            dead_letter: Arc::new(dlq.clone()),
            inventory: shared::inventory::engine::embedded_live_trigger(&store, Default::default()),
        });
        let response = handler(deps.clone(), sample_batch()).await.unwrap();
        // Records 1 and 2 carry the same order. Handled concurrently, one may find the other's
        // claim in progress: it is reported for retry, never imported a second time.
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert!(
            failed.is_empty()
                || failed == ["00000000-0000-4000-8000-000000000001"]
                || failed == ["00000000-0000-4000-8000-000000000002"],
            "{failed:?}"
        );

        let tenant = TenantId::parse("dev").unwrap();
        let out = outbox.read_after(&tenant, 0, 100).await.unwrap();
        let mut numbers: Vec<_> = out
            .iter()
            .map(|m| m.body["order_number"].as_str().unwrap().to_owned())
            .collect();
        numbers.sort();
        assert_eq!(
            numbers,
            vec!["#1042", "#1043"],
            "the repeated order is imported once"
        );
        let held = out
            .iter()
            .find(|m| m.body["order_number"] == "#1043")
            .unwrap();
        assert_eq!(held.body["type"], "order.imported");
        assert_eq!(held.body["v"], 1);
        assert_eq!(held.body["lines"].as_array().unwrap().len(), 2);
        assert_eq!(held.body["lines"][1]["sku"], serde_json::Value::Null);
        assert_eq!(held.body["hold_reasons"][0]["code"], "missing_sku");

        let dead = dlq.receive(10, Duration::from_secs(5)).await.unwrap();
        assert_eq!(dead.len(), 1);
        let dead: serde_json::Value = serde_json::from_str(&dead[0].body).unwrap();
        assert!(dead["reason"]
            .as_str()
            .unwrap()
            .contains("not a channel event"));

        // The whole batch again (SQS redelivery): nothing new.
        let again = handler(deps, sample_batch()).await.unwrap();
        assert!(again.batch_item_failures.is_empty());
        assert_eq!(outbox.read_after(&tenant, 0, 100).await.unwrap().len(), 2);
    }
}
