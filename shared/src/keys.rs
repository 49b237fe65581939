//! Every storage key, in one place. Two families:
//!
//! - **Idempotency keys**: claims ([`crate::ports::Idempotency`]: claim → finish/release,
//!   leases, sent-once marks) and small values ([`crate::ports::KeyValue`]: order records,
//!   last runs, install states), in the same rows (docs/architecture.md, "Error kinds and the
//!   key-value port", says which port owns which family). DynamoDB: `pk = IDEM#{key}`,
//!   `sk = IDEM`; SQLite: the `idempotency` table.
//! - **Record partitions** ([`crate::ports::Records`]: versioned records, read by partition).
//!   DynamoDB: `pk = REC#{partition}`, `sk = key`; SQLite: the `records` table.
//!
//! | key | kept | what |
//! |---|---|---|
//! | `delivery#{channel}#{shop}#{delivery id}` | 7 days | a webhook delivery, claimed once |
//! | `order#{channel}#{shop}#{channel order id}` | forever | what the WMS has of an order ([`order`]) |
//! | `lock#{order key}` | 60 s lease | one worker per order |
//! | `disconnect#{delivery}`, `privacy#{delivery}` | forever | lifecycle and privacy events, once |
//! | `shipment#{connection}#{order}#{tracking number}` | forever | a tracking write, once (order and tracking number escaped: `%` → `%25`, `#` → `%23`) |
//! | `refresh#{connection}` | 30 s lease | one token refresher per connection |
//! | `reconcile-lock#`, `watermark#`, `reconcile-last#`, `reconcile-run#{connection}#{at}` | lease / forever / forever / 30 days | the reconciliation poll |
//! | `products-lock#`, `products-last#`, `products-map#`, `products-run#{connection}#{at}` | lease / forever / forever / 30 days | the product import and the committed SKU-map generation |
//! | `products-stage#{connection}#{generation}#{part}#{chunk}` | 3 days | listings an unfinished import walk read in an earlier job message |
//! | `product#…` | — | `product.imported` deduplication ids (hashed) |
//! | `webhook-health-last#{connection}` | forever | the last subscription check |
//! | `push-lock#{connection}` | 14 min lease | one inventory pusher per connection |
//! | `authorization-notice#{connection}#{expiry}` | forever | an authorization-expiry notice sent to the WMS once |
//! | `oauth-state#`, `oauth-state-used#`, `oauth-claim#`, `oauth-claim-used#` | 10 min / 1 day | install states and App Store claims |
//!
//! | partition | key | what |
//! |---|---|---|
//! | `stock#{tenant}`, `products#{tenant}`, `bundles#{tenant}` | SKU | WMS stock, products, bundle definitions |
//! | `reserved#{tenant}` | `{order key}␟{SKU}` | units of imported orders the WMS has not applied |
//! | `products-walk#{connection}` | `walk` | an unfinished product import walk's cursor (fenced by its part's start) |
//! | `skumap#{connection}` | SKU | channel item per SKU (generation-stamped) |
//! | `pushed#{connection}`, `dirty#{connection}` | SKU | our model of the channel's quantity; Live marks |
//! | `imported#{connection}` | order key | an import's inventory records applied (removed once the order key is complete) |
//! | `unshipped#{connection}` | channel order id | imported, unshipped units (channels that deduct at shipment) |
//! | `authorization#{connection}` | `expiry` | when the connection's authorization runs out |
//! | `held#{connection}` | `{hold code}#{channel order id}` | orders imported held (counted per reason) |
//! | `runs#{connection}`, `run-index`, `run-failures#{run}` | … | inventory runs and their failures |
//!
//! The connection id is deliberately absent from order keys: a reconnected store, a duplicate
//! subscription or a re-poll never imports an order twice.

use crate::domain::{Channel, ConnectionId, TenantId};
use std::fmt::Display;

/// A webhook delivery, claimed once by the intake.
pub fn delivery(channel: Channel, shop: &str, delivery_id: &str) -> String {
    format!("delivery#{channel}#{shop}#{delivery_id}")
}

/// An order's record: what the WMS already has (`channel_updated_at`, cancelled).
pub fn order(channel: Channel, shop: &str, channel_order_id: &str) -> String {
    format!("order#{channel}#{shop}#{channel_order_id}")
}

/// The per-order lock of the import consumer.
pub fn order_lock(order_key: &str) -> String {
    format!("lock#{order_key}")
}

/// A disconnect (uninstall) event, handled once.
pub fn disconnect(delivery_id: &str) -> String {
    format!("disconnect#{delivery_id}")
}

/// The WMS told once that a connection stopped being connected, per (re)activation
/// (`activated_ms`: [`crate::domain::Connection::activated`] in Unix milliseconds), whoever
/// disconnected it (an uninstall, or the merchant's `DELETE /api/connections/{id}`).
pub fn disconnected_notice(connection: &ConnectionId, activated_ms: i64) -> String {
    format!("disconnected-notice#{connection}#{activated_ms}")
}

/// A privacy request, forwarded once.
pub fn privacy(delivery_id: &str) -> String {
    format!("privacy#{delivery_id}")
}

/// One tracking write (connection, order, tracking number). The order id and the tracking
/// number are escaped (`%` → `%25`, then `#` → `%23`), so no id containing `#` can make two
/// shipments share a key; ids without `%` or `#` keep the spelling of the records written
/// before the escaping. (A connection id is a slug and never contains either.)
pub fn shipment(connection: &ConnectionId, channel_order_id: &str, tracking: &str) -> String {
    format!(
        "shipment#{connection}#{}#{}",
        escape_part(channel_order_id),
        escape_part(tracking)
    )
}

/// A key part that cannot contain the `#` separator: `%` → `%25`, `#` → `%23`.
fn escape_part(part: &str) -> std::borrow::Cow<'_, str> {
    if part.contains(['%', '#']) {
        std::borrow::Cow::Owned(part.replace('%', "%25").replace('#', "%23"))
    } else {
        std::borrow::Cow::Borrowed(part)
    }
}

/// One token refresher per connection.
pub fn refresh_lock(connection: &ConnectionId) -> String {
    format!("refresh#{connection}")
}

/// One reconciliation poll per connection at a time.
pub fn reconcile_lock(connection: &ConnectionId) -> String {
    format!("reconcile-lock#{connection}")
}

/// The newest `updated_at` whose orders are all enqueued.
pub fn watermark(connection: &ConnectionId) -> String {
    format!("watermark#{connection}")
}

/// The last reconciliation run.
pub fn reconcile_last(connection: &ConnectionId) -> String {
    format!("reconcile-last#{connection}")
}

/// A reconciliation run worth keeping (it found work or trouble).
pub fn reconcile_run(connection: &ConnectionId, at: impl Display) -> String {
    format!("reconcile-run#{connection}#{at}")
}

/// The connection's "orders for other locations" counter (orders not sent to the WMS because
/// nothing on them is assigned to the connection's fulfilment location).
pub fn other_locations(connection: &ConnectionId) -> String {
    format!("other-locations#{connection}")
}

/// An order counted in [`other_locations`] (so a redelivery is not counted twice).
pub fn other_location_order(connection: &ConnectionId, channel_order_id: &str) -> String {
    format!("other-location#{connection}#{channel_order_id}")
}

/// The WMS told once that a connection's authorization expires at `expires_at` (Unix seconds).
pub fn authorization_notice(connection: &ConnectionId, expires_at: i64) -> String {
    format!("authorization-notice#{connection}#{expires_at}")
}

/// One product import per connection at a time.
pub fn products_lock(connection: &ConnectionId) -> String {
    format!("products-lock#{connection}")
}

/// The last product import.
pub fn products_last(connection: &ConnectionId) -> String {
    format!("products-last#{connection}")
}

/// The committed SKU-map generation.
pub fn products_map(connection: &ConnectionId) -> String {
    format!("products-map#{connection}")
}

/// A product import run worth keeping.
pub fn products_run(connection: &ConnectionId, at: impl Display) -> String {
    format!("products-run#{connection}#{at}")
}

/// The pages a product import walk read in an earlier job message, staged until the walk
/// ends: one chunk of listings, written by the part that started at `part` (Unix ms).
pub fn products_stage(
    connection: &ConnectionId,
    generation: i64,
    part: i64,
    chunk: usize,
) -> String {
    format!("products-stage#{connection}#{generation}#{part}#{chunk}")
}

/// The last webhook subscription check.
pub fn webhook_health_last(connection: &ConnectionId) -> String {
    format!("webhook-health-last#{connection}")
}

/// One inventory pusher per connection.
pub fn push_lock(connection: &ConnectionId) -> String {
    format!("push-lock#{connection}")
}

/// An OAuth install state (single use).
pub fn oauth_state(state: &str) -> String {
    format!("oauth-state#{state}")
}

/// Marks an OAuth state used.
pub fn oauth_state_used(state: &str) -> String {
    format!("oauth-state-used#{state}")
}

/// An App Store install parked until the dashboard claims it.
pub fn oauth_claim(code: &str) -> String {
    format!("oauth-claim#{code}")
}

/// Marks a claim used.
pub fn oauth_claim_used(code: &str) -> String {
    format!("oauth-claim-used#{code}")
}

/// Record partitions.
pub mod partition {
    use super::*;

    /// A connection's product import walk checkpoint (one record, key `walk`).
    pub fn products_walk(connection: &ConnectionId) -> String {
        format!("products-walk#{connection}")
    }

    /// WMS stock levels of a tenant, by SKU.
    pub fn stock(tenant: &TenantId) -> String {
        format!("stock#{tenant}")
    }

    /// WMS products of a tenant, by SKU.
    pub fn products(tenant: &TenantId) -> String {
        format!("products#{tenant}")
    }

    /// Bundle definitions of a tenant, by SKU.
    pub fn bundles(tenant: &TenantId) -> String {
        format!("bundles#{tenant}")
    }

    /// Reservations of imported orders, by `{order key}␟{SKU}`.
    pub fn reserved(tenant: &TenantId) -> String {
        format!("reserved#{tenant}")
    }

    /// The channel item of each SKU.
    pub fn skumap(connection: &ConnectionId) -> String {
        format!("skumap#{connection}")
    }

    /// SKUs changed since the last Live push.
    pub fn dirty(connection: &ConnectionId) -> String {
        format!("dirty#{connection}")
    }

    /// Imports whose inventory records (reservation, lowered model) are applied, by order
    /// key, until the order key's record is complete: a retried import applies them once.
    pub fn imported(connection: &ConnectionId) -> String {
        format!("imported#{connection}")
    }

    /// Our model of the channel's quantity per SKU.
    pub fn pushed(connection: &ConnectionId) -> String {
        format!("pushed#{connection}")
    }

    /// Inventory batches sent without a definite answer (timeout, cut connection, 5xx), by
    /// idempotency key: replayed verbatim before the next push of the connection.
    pub fn push_unanswered(connection: &ConnectionId) -> String {
        format!("push-unanswered#{connection}")
    }

    /// Imported, unshipped orders' units.
    pub fn unshipped(connection: &ConnectionId) -> String {
        format!("unshipped#{connection}")
    }

    /// What each Shopify shipment planned (fulfillment order lines and quantities), by
    /// `{order gid}␟{tracking number}`, recorded before its first `fulfillmentCreate` and
    /// removed once every part is written.
    pub fn shipment_plans(connection: &ConnectionId) -> String {
        format!("shipment-plan#{connection}")
    }

    /// A connection's inventory runs, newest first.
    pub fn runs(connection: &ConnectionId) -> String {
        format!("runs#{connection}")
    }

    /// One run's per-SKU failures.
    pub fn run_failures(run: &str) -> String {
        format!("run-failures#{run}")
    }

    /// When the connection's authorization of our app runs out, key [`AUTHORIZATION_EXPIRY`]
    /// (versioned by the expiry: a later one replaces it).
    pub fn authorization(connection: &ConnectionId) -> String {
        format!("authorization#{connection}")
    }

    /// The key of the expiry record in [`authorization`].
    pub const AUTHORIZATION_EXPIRY: &str = "expiry";

    /// Orders imported held, by `{hold code}#{channel order id}` (written once per order, so a
    /// redelivery counts once), with when and the hold's detail.
    pub fn held(connection: &ConnectionId) -> String {
        format!("held#{connection}")
    }

    /// Run id → connection, as written before the index was sharded (still read).
    pub const RUN_INDEX: &str = "run-index";

    /// Run id → connection: one of 16 shards of the run index (a hash of the id), so every
    /// push's and poll's run does not write one DynamoDB partition (issue 22).
    pub fn run_index(run_id: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(run_id.as_bytes());
        format!("run-index#{:x}", digest[0] & 0x0f)
    }

    /// Installs parked under a claim code (key: the code, version: when it expires, in ms):
    /// what the purge walks to delete the credentials of codes nobody redeemed.
    pub const PARKED_INSTALLS: &str = "parked-installs";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, item 5: an id containing `#` cannot make two shipments share a key.
    #[test]
    fn shipment_keys_cannot_collide_through_a_hash_in_an_id() {
        let c = ConnectionId::parse("c_1").unwrap();
        assert_ne!(shipment(&c, "1#2", "3"), shipment(&c, "1", "2#3"));
        assert_ne!(shipment(&c, "1%232", "3"), shipment(&c, "1#2", "3"));
        assert_ne!(shipment(&c, "1", "2%233"), shipment(&c, "1", "2#3"));
    }

    #[test]
    fn keys_keep_their_stored_spelling() {
        let c = ConnectionId::parse("c_1").unwrap();
        let t = TenantId::parse("dev").unwrap();
        assert_eq!(
            order(Channel::Shopify, "a.myshopify.com", "42"),
            "order#shopify#a.myshopify.com#42"
        );
        assert_eq!(order_lock("order#x"), "lock#order#x");
        assert_eq!(
            delivery(Channel::Woocommerce, "s", "d"),
            "delivery#woocommerce#s#d"
        );
        assert_eq!(watermark(&c), "watermark#c_1");
        assert_eq!(shipment(&c, "9", "T"), "shipment#c_1#9#T");
        assert_eq!(partition::stock(&t), "stock#dev");
        assert_eq!(shipment(&c, "9", "1Z#4"), "shipment#c_1#9#1Z%234");
        assert_eq!(partition::skumap(&c), "skumap#c_1");
        assert_eq!(partition::run_failures("r"), "run-failures#r");
    }
}

/// The due index of the scheduled jobs (`schedule.rs`, issue 22): which connection's job is
/// due when, read by the scheduler's ticks instead of a scan.
pub mod due {
    use super::*;

    /// One shard of a job's due index: record partition `due#{job}#{shard}`, keys sorted by
    /// due time, so a tick reads only the front of each shard.
    pub fn partition(job: &str, shard: u32) -> String {
        format!("due#{job}#{shard}")
    }

    /// An entry of the due index: `{due, Unix ms, 13 digits}#{tenant}#{connection}`.
    pub fn entry(at_ms: i64, tenant: &TenantId, connection: &ConnectionId) -> String {
        format!("{:013}#{tenant}#{connection}", at_ms.max(0))
    }

    /// When a connection's job is next due (kept by the job itself): an entry due before it
    /// is obsolete.
    pub fn last(job: &str, connection: &ConnectionId) -> String {
        format!("due-last#{job}#{connection}")
    }

    /// One run of one job per connection at a time (the jobs worker's fenced lease).
    pub fn lock(job: &str, connection: &ConnectionId) -> String {
        format!("job-lock#{job}#{connection}")
    }

    /// The daily sweep that enrolls connections the index does not know yet.
    pub fn sweep(job: &str) -> String {
        format!("due-sweep#{job}")
    }
}
