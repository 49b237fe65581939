//! The order records and the other-locations count are values written only over what was
//! read (`KeyValue::put_if`): a concurrent writer's value is never replaced by one computed
//! from an older read. And the uninstall claims the disconnect notice as the merchant's
//! disconnect does.

use super::*;
use std::sync::Mutex;

/// The store, where another worker writes `value` under the first key starting with `prefix`
/// right before this worker's conditional write of it.
struct WrittenMeanwhile {
    inner: Arc<dyn KeyValue>,
    race: Mutex<Option<(&'static str, Value)>>,
}

#[async_trait::async_trait]
impl KeyValue for WrittenMeanwhile {
    async fn get(&self, key: &str) -> crate::ports::PortResult<Option<Value>> {
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &str,
        value: &Value,
        retain: Option<Duration>,
    ) -> crate::ports::PortResult<()> {
        self.inner.put(key, value, retain).await
    }
    async fn put_if(
        &self,
        key: &str,
        expected: Option<&Value>,
        value: &Value,
        retain: Option<Duration>,
    ) -> crate::ports::PortResult<bool> {
        let meanwhile = {
            let mut race = self.race.lock().unwrap();
            match race.as_ref() {
                Some((prefix, _)) if key.starts_with(prefix) => race.take().map(|(_, v)| v),
                _ => None,
            }
        };
        if let Some(meanwhile) = meanwhile {
            self.inner.put(key, &meanwhile, None).await?;
        }
        self.inner.put_if(key, expected, value, retain).await
    }
}

/// The world's ports, with `values` raced by another worker's write of `value` under
/// `prefix`.
fn raced(w: &World, prefix: &'static str, value: Value) -> Arc<ImportDeps> {
    Arc::new(ImportDeps {
        connections: w.deps.connections.clone(),
        vault: w.deps.vault.clone(),
        idempotency: w.deps.idempotency.clone(),
        values: Arc::new(WrittenMeanwhile {
            inner: w.deps.values.clone(),
            race: Mutex::new(Some((prefix, value))),
        }),
        wms_orders: w.deps.wms_orders.clone(),
        dead_letter: w.deps.dead_letter.clone(),
        inventory: w.deps.inventory.clone(),
        channels: w.deps.channels.clone(),
    })
}

/// A worker that outlived its lock sends its state, but finds that another worker recorded a
/// newer one meanwhile: the newer record stays (before, the older state was written over it,
/// and the newer one would have been sent again as an update), and its retry decides again.
#[tokio::test]
async fn an_order_record_written_meanwhile_is_not_replaced_by_an_older_state() {
    let w = world().await;
    assert_eq!(
        handle(
            w.deps.clone(),
            event("orders/create", 8, "2026-11-27T09:00:00Z", false)
        )
        .await,
        Disposition::Done("order.imported".into())
    );
    let key = keys::order(crate::domain::Channel::Shopify, "demo.myshopify.com", "8");
    let mut newer = w.deps.values.get(&key).await.unwrap().unwrap();
    newer["channel_updated_at"] = json!("2026-11-27T10:00:00Z");
    newer["last"] = json!("order.updated");
    let deps = raced(&w, "order#", newer.clone());
    let update = event("orders/updated", 8, "2026-11-27T09:30:00Z", false);
    assert!(matches!(
        handle(deps.clone(), update.clone()).await,
        Disposition::Retry(_)
    ));
    assert_eq!(
        w.deps.values.get(&key).await.unwrap(),
        Some(newer),
        "the newer record stands"
    );
    // The retry reads the newer record: nothing more to send.
    assert_eq!(
        handle(deps, update).await,
        Disposition::Done("duplicate or stale".into())
    );
    assert_eq!(kinds(&sent(&w).await), ["order.imported", "order.updated"]);
}

/// Two orders for other locations counted at once: the one whose read went stale counts
/// again (before, both wrote `count + 1` and one order was lost from the count).
#[tokio::test]
async fn orders_for_other_locations_counted_at_once_are_both_counted() {
    let w = world().await;
    connect(&w, at_location("1")).await;
    // Read on the first attempt and on its retry.
    mount_fulfillment_orders(&w, 31, vec![vec![fo(5, 2, vec![fo_line(21, 1)], None)]], 2).await;
    let counted_meanwhile = json!({"count": 1, "last_order": "#32",
        "last_locations": ["gid://shopify/Location/3"], "last_at": "2026-11-27T09:00:00Z"});
    let deps = raced(&w, "other-locations#", counted_meanwhile);
    let order = shopify_lines(
        "orders/create",
        31,
        "2026-11-27T09:00:00Z",
        &[(21, "TS-001", 1)],
    );
    assert!(matches!(
        handle(deps.clone(), order.clone()).await,
        Disposition::Retry(_)
    ));
    assert_eq!(
        handle(deps, order).await,
        Disposition::Done("not imported: assigned to other locations".into())
    );
    let counted = other_locations(&*w.deps.values, &ConnectionId::parse("c_1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.count, 2, "both orders counted");
    assert_eq!(counted.last_order.as_deref(), Some("#31"));
    assert!(sent(&w).await.is_empty());
}

/// A later state of an order counted elsewhere is remembered over the record read only: a
/// newer one written meanwhile stays.
#[tokio::test]
async fn a_newer_state_elsewhere_written_meanwhile_stays() {
    let w = world().await;
    connect(&w, at_location("1")).await;
    mount_fulfillment_orders(&w, 33, vec![vec![fo(5, 2, vec![fo_line(21, 1)], None)]], 2).await;
    let at =
        |updated_at: &str| shopify_lines("orders/updated", 33, updated_at, &[(21, "TS-001", 1)]);
    let elsewhere = Disposition::Done("not imported: assigned to other locations".into());
    assert_eq!(
        handle(w.deps.clone(), at("2026-11-27T09:00:00Z")).await,
        elsewhere
    );
    let deps = raced(
        &w,
        "other-location#",
        json!({"channel_updated_at": "2026-11-27T11:00:00Z"}),
    );
    assert_eq!(handle(deps, at("2026-11-27T10:00:00Z")).await, elsewhere);
    let seen = elsewhere_updated_at(&*w.deps.values, &ConnectionId::parse("c_1").unwrap(), "33")
        .await
        .unwrap();
    assert_eq!(seen, Some("2026-11-27T11:00:00Z".parse().unwrap()));
    let counted = other_locations(&*w.deps.values, &ConnectionId::parse("c_1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.count, 1, "counted once");
}

/// An uninstall while the merchant's disconnect is telling the WMS (its claim of the notice
/// is live) waits for it (before, both sent `connection.disconnected`); once that claim is
/// given up unsent, the uninstall tells the WMS.
#[tokio::test]
async fn an_uninstall_while_the_merchants_disconnect_tells_the_wms_is_retried() {
    use crate::domain::{Channel, Connection};
    let w = world().await;
    let connection = Connection {
        created_at: "2026-11-27T08:00:00Z".parse().unwrap(),
        ..Connection::fixture("c_1", Channel::Shopify, "demo.myshopify.com")
    };
    w.deps.connections.create(&connection).await.unwrap();
    let notice =
        keys::disconnected_notice(&connection.id, connection.activated().timestamp_millis());
    let Claim::Acquired(fence) = w
        .deps
        .idempotency
        .claim(&notice, ORDER_LEASE)
        .await
        .unwrap()
    else {
        panic!("the notice is free")
    };
    let uninstall = lifecycle_event(
        "app/uninstalled",
        "u-during-delete",
        json!({"id": 1, "domain": "demo.myshopify.com"}),
    );
    assert!(matches!(
        handle(w.deps.clone(), uninstall.clone()).await,
        Disposition::Retry(_)
    ));
    assert!(sent(&w).await.is_empty(), "the WMS is told by one of them");
    w.deps.idempotency.release(&notice, &fence).await.unwrap();
    assert_eq!(
        handle(w.deps.clone(), uninstall.clone()).await,
        Disposition::Done("disconnected".into())
    );
    assert_eq!(kinds(&sent(&w).await), ["connection.disconnected"]);
    // Told: a redelivery does not tell it again.
    assert_eq!(
        handle(w.deps.clone(), uninstall).await,
        Disposition::Done("disconnected (the WMS was told before)".into())
    );
    assert_eq!(sent(&w).await.len(), 1);
}
