//! The Shopify product import: every variant of a connected store, read page by page, becomes
//! a `product.imported` message for the WMS and, where unambiguous, an entry of the SKU map
//! the inventory engine pushes stock through (SKU → inventory item).
//!
//! Per active Shopify connection, under a per-connection lease (a scheduler can fire twice):
//!
//! - **Messages.** One `product.imported` per variant with a usable SKU, to `wms-orders`,
//!   duplicates included (the WMS's SKU audit needs to see every variant carrying a SKU). The
//!   deduplication id is SHA-256 of `product#{connection}#{variant_id}#{sku}#{status}`, so a
//!   re-import of an unchanged variant is dropped by the queue: always by the embedded outbox,
//!   but by SQS FIFO only within its 5-minute window, so on AWS the WMS must treat the message
//!   as an idempotent upsert. The FIFO group is SHA-256 of `product#{connection}#{variant_id}`.
//! - **SKU map.** One record per SKU in the partition `skumap#{connection}` (one big record
//!   would break DynamoDB's 400 KB item limit; a partition is read in SKU order by the inventory
//!   engine's full pushes, see [`mapped_page`]), written only after *every* page was read, since a duplicate
//!   can sit on the last page. A SKU carried by several variants of sellable products (see
//!   [`sku_report`]), or only by several draft/archived ones, gets no entry: channel-sync never
//!   guesses which variant takes the stock. A SKU carried by exactly one sellable variant maps
//!   to it even if draft/archived copies carry it too (merchants keep old copies; nobody can
//!   order them).
//! - **Stale entries.** Nothing is deleted. Each entry carries the generation (run start, Unix
//!   ms) that wrote it, and a completed map commits its generation in `products-map#{connection}`;
//!   [`sku_entry`] ignores entries older than the committed generation. So a SKU that became a
//!   duplicate, was renamed or whose variant was deleted stops resolving after the next complete
//!   run, while the entries of a run still writing (newer) keep resolving.
//! - **Long walks.** The jobs worker reads [`PAGES_PER_MESSAGE`] pages per message
//!   ([`import_products_pages`]); a catalogue with more keeps its walk in
//!   `products-walk#{connection}` (the cursor, written `put_if_newer` with the run's start as
//!   fence, like the reconciliation watermark, so a run that outlived its lease cannot move
//!   it back) and its listings staged in `products-stage#…` chunks (3 days), and continues in
//!   a new message. Only the run that reads the last page writes the map, over every staged
//!   listing plus its own: a half walk maps nothing and so hides no SKU it has not seen. A
//!   walk older than [`WALK_MAX_AGE`] starts over.
//! - **Run record.** `products-run#{connection}#{millis}` (30 days) and `products-last#{connection}`
//!   (forever), like the reconciliation poll. Blank and duplicate SKUs are logged as warnings
//!   and listed in the run (capped so the record stays far below 400 KB; totals are exact).

use crate::channels::registry::Registry;
use crate::channels::store::{sku_report, Listing};
use crate::domain::{Connection, ConnectionId, ConnectionStatus, Sku};
use crate::inventory::skumap::{self, SkuMapEntry};
use crate::keys;
use crate::messages::VERSION;
use crate::ports::{Idempotency, KeyValue, OutMessage, PortError, Queue, Records};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Pages per walk of the catalogue (250 variants each, so 100,000 variants), over all its
/// runs. A walk that hits it publishes what it read but leaves the SKU map alone: duplicates
/// on unread pages would go unseen.
pub const MAX_PAGES: u32 = 400;
/// Pages one job message reads before the walk continues in a new message: each page costs
/// ~752 points and Shopify restores 50–200 points/s depending on the plan, so up to ~15 s a
/// page and 40 pages in ≤ 10 minutes, inside the `jobs` function's 15-minute invocation.
pub const PAGES_PER_MESSAGE: u32 = 40;
/// The per-connection lease. Longer than the reconciliation poll's because a whole walk in
/// one call ([`import_products`], for a first push) can take up to ~1 h. A crashed run blocks
/// the next one this long.
const LOCK_LEASE: Duration = Duration::from_secs(60 * 60);
/// At most this many blank-SKU variants are listed in a run record (the total is exact).
pub const MAX_LISTED_BLANK: usize = 1000;
/// At most this many duplicate SKUs are listed in a run record (the total is exact) …
pub const MAX_LISTED_DUPLICATES: usize = 200;
/// … each with at most this many of its variants. Worst case with 255-byte SKUs and ~45-byte
/// GIDs: 1000 × 45 + 200 × (255 + 10 × 45) ≈ 190 KB, under DynamoDB's 400 KB item limit.
pub const MAX_LISTED_VARIANTS_PER_SKU: usize = 10;

/// What the import needs.
pub struct ProductsDeps {
    pub idempotency: Arc<dyn Idempotency>,
    /// Small named values: the SKU map's committed generation, last runs.
    pub values: Arc<dyn KeyValue>,
    /// The SKU map.
    pub records: Arc<dyn Records>,
    pub wms_orders: Arc<dyn Queue>,
    /// Opens the connection's store, whatever its channel.
    pub channels: Arc<Registry>,
}

/// The record of one import run for one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductsRun {
    pub connection: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub pages: u32,
    /// Variants read.
    pub variants: u32,
    /// `product.imported` messages sent (the queue drops those of unchanged variants).
    pub published: u32,
    /// SKU map entries written.
    pub mapped: u32,
    /// Variants of sellable products without a usable SKU (GIDs; the first
    /// [`MAX_LISTED_BLANK`]). A SKU the domain refuses (control characters, over 255 bytes)
    /// counts as blank, as it does for orders.
    pub blank_skus: Vec<String>,
    /// How many variants `blank_skus` would list without the cap.
    pub blank_total: u32,
    /// SKUs left out of the map because several variants carry them, with those variants
    /// (capped, see [`MAX_LISTED_DUPLICATES`]): [`sku_report`]'s duplicates among sellable
    /// products, plus SKUs carried only by several draft/archived variants.
    pub duplicate_skus: BTreeMap<String, Vec<String>>,
    /// How many SKUs `duplicate_skus` would list without the cap.
    pub duplicate_total: u32,
    /// `completed`, `partial: …` (page limit, or the walk continues; map not updated), or
    /// `skipped: …` (why nothing ran).
    pub outcome: String,
    /// Runs (job messages) of this walk so far, this one included. `pages`, `variants` and
    /// `published` count the whole walk so far.
    #[serde(default)]
    pub parts: u32,
    /// The run's page budget ran out before the catalogue's end: the cursor is kept and the
    /// walk continues in the next run ([`import_products_pages`]).
    #[serde(default)]
    pub more: bool,
}

/// Why a connection's import did not complete.
pub type ProductsError = super::JobError;

/// Imports one connection's products (if it is an active Shopify connection and no other run
/// holds it). Runs that did nothing (skipped) are returned but not recorded, so
/// `products-last` keeps the last real result.
pub async fn import_products(
    deps: &ProductsDeps,
    connection: &Connection,
) -> Result<ProductsRun, ProductsError> {
    import_with_limit(
        deps,
        connection,
        Budget {
            part_pages: MAX_PAGES,
            walk_pages: MAX_PAGES,
        },
    )
    .await
}

/// Like [`import_products`], reading at most `pages` pages in this run: a walk that needs
/// more keeps its cursor (`products-walk#{connection}`, fenced by the run's start) and its
/// listings staged, and reports `more`, so the jobs worker continues it in a new message.
/// The SKU map changes only when a walk reaches the catalogue's end.
pub async fn import_products_pages(
    deps: &ProductsDeps,
    connection: &Connection,
    pages: u32,
) -> Result<ProductsRun, ProductsError> {
    import_with_limit(
        deps,
        connection,
        Budget {
            part_pages: pages.max(1),
            walk_pages: MAX_PAGES,
        },
    )
    .await
}

async fn import_with_limit(
    deps: &ProductsDeps,
    connection: &Connection,
    budget: Budget,
) -> Result<ProductsRun, ProductsError> {
    let started_at = Utc::now();
    let mut run = ProductsRun {
        connection: connection.id.to_string(),
        started_at,
        finished_at: started_at,
        pages: 0,
        variants: 0,
        published: 0,
        mapped: 0,
        blank_skus: Vec::new(),
        blank_total: 0,
        duplicate_skus: BTreeMap::new(),
        duplicate_total: 0,
        outcome: String::new(),
        parts: 0,
        more: false,
    };
    if connection.status != ConnectionStatus::Active {
        let status = match connection.status {
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Disconnected => "disconnected",
        };
        run.outcome = format!("skipped: the connection is {status}");
        return Ok(run);
    }
    let imported = super::under_lease(
        &*deps.idempotency,
        &deps.channels,
        connection,
        &keys::products_lock(&connection.id),
        LOCK_LEASE,
        import_and_record(deps, connection, &mut run, budget),
    )
    .await?;
    if imported.is_none() {
        run.outcome = "skipped: another run holds this connection".into();
    }
    Ok(run)
}

async fn import_and_record(
    deps: &ProductsDeps,
    connection: &Connection,
    run: &mut ProductsRun,
    budget: Budget,
) -> Result<(), ProductsError> {
    import(deps, connection, run, budget).await?;
    run.finished_at = Utc::now();
    super::record_run(
        &*deps.values,
        &keys::products_run(&connection.id, run.started_at.timestamp_millis()),
        &keys::products_last(&connection.id),
        &*run,
    )
    .await?;
    if run.blank_total > 0 {
        tracing::warn!(
            connection = %connection.id,
            count = run.blank_total,
            variants = ?run.blank_skus.iter().take(20).collect::<Vec<_>>(),
            "variants of sellable products have no usable SKU: no stock sync, orders held"
        );
    }
    if run.duplicate_total > 0 {
        tracing::warn!(
            connection = %connection.id,
            count = run.duplicate_total,
            skus = ?run.duplicate_skus.keys().take(20).collect::<Vec<_>>(),
            "SKUs carried by several variants: left out of the SKU map"
        );
    }
    tracing::info!(
        connection = %connection.id,
        variants = run.variants,
        published = run.published,
        mapped = run.mapped,
        outcome = %run.outcome,
        "product import run"
    );
    Ok(())
}

async fn import(
    deps: &ProductsDeps,
    connection: &Connection,
    run: &mut ProductsRun,
    budget: Budget,
) -> Result<(), ProductsError> {
    let checkpoint = Checkpoint::load(&*deps.records, &connection.id).await?;
    let started_ms = run.started_at.timestamp_millis();
    // This part's fence: after every earlier part's, even one that started in the same ms.
    let fence = started_ms.max(checkpoint.version.saturating_add(1));
    let mut walk = match checkpoint.walk {
        Some(walk) if started_ms.saturating_sub(walk.generation) < ms(WALK_MAX_AGE) => walk,
        Some(old) => {
            tracing::warn!(connection = %connection.id, generation = old.generation, "an unfinished product import walk is too old: it starts over");
            Walk::new(started_ms)
        }
        None => Walk::new(started_ms),
    };
    walk.parts = walk.parts.saturating_add(1);
    let store = deps.channels.open_store(connection).await?;
    let mut variants = Vec::new();
    let mut cursor = walk.cursor.clone();
    let mut part_pages = 0u32;
    let complete = loop {
        let page = store.listings_page(cursor.as_deref()).await?;
        let next = page.next_cursor;
        part_pages += 1;
        walk.pages = walk.pages.saturating_add(1);
        for variant in page.listings {
            walk.variants = walk.variants.saturating_add(1);
            let variant = usable_sku(variant);
            if let Some(sku) = &variant.sku {
                publish(deps, connection, &variant, sku).await?;
                walk.published = walk.published.saturating_add(1);
            }
            variants.push(variant);
        }
        cursor = next;
        if cursor.is_none() {
            break true;
        }
        if walk.pages >= budget.walk_pages || part_pages >= budget.part_pages {
            break false;
        }
    };
    (run.pages, run.variants, run.published, run.parts) =
        (walk.pages, walk.variants, walk.published, walk.parts);

    let (Some(next), false) = (cursor, walk.pages >= budget.walk_pages) else {
        // The walk ends here (its last page, or the page limit): the checkpoint is cleared
        // first, fenced, so that a part that outlived its lease cannot also finish the walk.
        let cleared = Checkpoint::save(&*deps.records, &connection.id, fence, None).await?;
        if !cleared {
            run.outcome = "skipped: a later run moved this walk on; nothing mapped".into();
            return Ok(());
        }
        let Some(mut all) = walk.unstage(&*deps.values).await? else {
            run.outcome =
                "partial: pages staged by earlier parts expired; the next run walks again".into();
            return Ok(());
        };
        all.append(&mut variants);
        return finish_walk(deps, connection, run, &all, walk.generation, complete).await;
    };

    // The part's budget ran out before the catalogue's end: its listings are staged, the
    // cursor kept, and the job continues in a new message. Nothing of the map changes.
    walk.stage(&*deps.values, &connection.id, fence, &variants)
        .await?;
    walk.cursor = Some(next);
    let pages = walk.pages;
    if !Checkpoint::save(&*deps.records, &connection.id, fence, Some(&walk)).await? {
        run.outcome = "skipped: a later run moved this walk on".into();
        return Ok(());
    }
    run.more = true;
    run.outcome = format!("partial: {pages} page(s) read so far; the walk continues");
    Ok(())
}

/// The end of a walk over `variants` (every page it read): problems listed and, when the
/// walk reached the catalogue's end, the SKU map written and its generation committed.
async fn finish_walk(
    deps: &ProductsDeps,
    connection: &Connection,
    run: &mut ProductsRun,
    variants: &[Listing],
    generation: i64,
    complete: bool,
) -> Result<(), ProductsError> {
    let report = sku_report(variants);
    let plan = plan_map(variants);
    let mut duplicates = report.duplicates;
    duplicates.extend(plan.ambiguous_unsellable);
    list_problems(run, report.blank, duplicates);

    if !complete {
        run.outcome = format!(
            "partial: page limit ({}) reached; messages sent, SKU map not updated",
            run.pages
        );
        tracing::warn!(connection = %connection.id, pages = run.pages, "product import hit the page limit");
        return Ok(());
    }
    for (sku, variant) in plan.mapped {
        let Some(inventory_item_id) = variant.inventory_item_id.clone() else {
            // The schema says every variant has an inventory item; without one there is
            // nothing to push stock to, so no entry.
            tracing::warn!(variant = %variant.variant_id, "variant without an inventory item: not mapped");
            continue;
        };
        let entry = SkuMapEntry {
            inventory_item_id,
            variant_id: variant.variant_id.clone(),
            product_id: variant.product_id.clone(),
            tracked: variant.tracked,
            product_status: variant.status.clone(),
            generation,
        };
        skumap::put(&*deps.records, &connection.id, sku, &entry).await?;
        run.mapped += 1;
    }
    skumap::commit_generation(&*deps.values, &connection.id, generation).await?;
    run.outcome = "completed".into();
    Ok(())
}

/// How many pages a run reads.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// In this run (one job message) …
    part_pages: u32,
    /// … and in the whole walk, over all its runs (the page limit).
    walk_pages: u32,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The record `walk` in partition `products-walk#{connection}`, versioned by the fence of the
/// part that wrote it: `None` when no walk is under way.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointRecord {
    walk: Option<Walk>,
}

struct Checkpoint {
    /// The stored record's version (0: none).
    version: i64,
    walk: Option<Walk>,
}

const CHECKPOINT_KEY: &str = "walk";

impl Checkpoint {
    /// The stored checkpoint. One that cannot be read is logged and read as none (the walk
    /// starts over: costs pages, loses nothing), keeping its version so the fence still
    /// moves forward.
    async fn load(records: &dyn Records, connection: &ConnectionId) -> Result<Self, PortError> {
        let partition = keys::partition::products_walk(connection);
        let Some(record) = records.fetch(&partition, CHECKPOINT_KEY).await? else {
            return Ok(Self {
                version: 0,
                walk: None,
            });
        };
        let walk = match serde_json::from_value::<CheckpointRecord>(record.value) {
            Ok(r) => r.walk,
            Err(e) => {
                tracing::warn!(%connection, error = %e, "unreadable product import checkpoint: the walk starts over");
                None
            }
        };
        Ok(Self {
            version: record.version,
            walk,
        })
    }

    /// Writes the checkpoint if no later part wrote one: `false` when one did (this part
    /// outlived its lease and must not move the walk).
    async fn save(
        records: &dyn Records,
        connection: &ConnectionId,
        fence: i64,
        walk: Option<&Walk>,
    ) -> Result<bool, PortError> {
        let value = serde_json::to_value(CheckpointRecord {
            walk: walk.cloned(),
        })
        .map_err(|e| PortError::Corrupt(e.to_string()))?;
        records
            .put_if_newer(
                &keys::partition::products_walk(connection),
                CHECKPOINT_KEY,
                fence,
                &value,
            )
            .await
    }
}

/// A walk of the catalogue that spans several runs (job messages).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Walk {
    /// When its first run started (Unix ms): the SKU map generation it writes.
    generation: i64,
    /// Where the next run resumes (`None` before the first page).
    cursor: Option<String>,
    pages: u32,
    variants: u32,
    published: u32,
    /// Runs so far.
    parts: u32,
    /// The idempotency keys of the staged listings of earlier runs, in page order.
    staged: Vec<String>,
}

/// Listings per staged chunk: 200 × (255-byte SKU + 3 × ~50-byte ids + status) ≈ 85 KB,
/// far below DynamoDB's 400 KB item limit.
const STAGE_CHUNK: usize = 200;
/// Staged chunks are kept this long (the idempotency store's expiry removes them; nothing
/// else deletes them) …
const STAGE_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);
/// … and a walk older than this starts over, so its chunks are always still there.
pub const WALK_MAX_AGE: Duration = Duration::from_secs(2 * 24 * 3600);

/// A listing as staged between runs (its title is only needed for the message, sent already).
#[derive(Debug, Serialize, Deserialize)]
struct StagedListing {
    variant_id: String,
    sku: Option<String>,
    inventory_item_id: Option<String>,
    tracked: bool,
    product_id: String,
    status: String,
    sellable: bool,
}

impl Walk {
    fn new(generation: i64) -> Self {
        Self {
            generation,
            cursor: None,
            pages: 0,
            variants: 0,
            published: 0,
            parts: 0,
            staged: Vec::new(),
        }
    }

    /// Stages `variants` under this part's fence (a part that outlived its lease writes
    /// other keys, never over this walk's).
    async fn stage(
        &mut self,
        values: &dyn KeyValue,
        connection: &ConnectionId,
        fence: i64,
        variants: &[Listing],
    ) -> Result<(), PortError> {
        for (n, chunk) in variants.chunks(STAGE_CHUNK).enumerate() {
            let staged: Vec<StagedListing> = chunk
                .iter()
                .map(|l| StagedListing {
                    variant_id: l.variant_id.clone(),
                    sku: l.sku.clone(),
                    inventory_item_id: l.inventory_item_id.clone(),
                    tracked: l.tracked,
                    product_id: l.product_id.clone(),
                    status: l.status.clone(),
                    sellable: l.sellable,
                })
                .collect();
            let key = keys::products_stage(connection, self.generation, fence, n);
            let value =
                serde_json::to_value(&staged).map_err(|e| PortError::Corrupt(e.to_string()))?;
            values.put(&key, &value, Some(STAGE_RETENTION)).await?;
            self.staged.push(key);
        }
        Ok(())
    }

    /// Every listing earlier runs staged, in page order; `None` when a chunk is gone.
    async fn unstage(&self, values: &dyn KeyValue) -> Result<Option<Vec<Listing>>, PortError> {
        let mut out = Vec::new();
        for key in &self.staged {
            let Some(value) = values.get(key).await? else {
                tracing::warn!(key, "a staged product import chunk is gone");
                return Ok(None);
            };
            let chunk: Vec<StagedListing> = serde_json::from_value(value)
                .map_err(|e| PortError::Corrupt(format!("staged listings {key}: {e}")))?;
            out.extend(chunk.into_iter().map(|l| Listing {
                variant_id: l.variant_id,
                sku: l.sku,
                inventory_item_id: l.inventory_item_id,
                tracked: l.tracked,
                product_id: l.product_id,
                product_title: String::new(),
                status: l.status,
                sellable: l.sellable,
            }));
        }
        Ok(Some(out))
    }
}

/// A SKU the domain refuses (control characters, too long) is no SKU, as for order lines.
fn usable_sku(mut variant: Listing) -> Listing {
    if let Some(raw) = &variant.sku {
        if let Err(e) = Sku::parse(raw.as_str()) {
            tracing::warn!(variant = %variant.variant_id, error = %e, "unusable SKU: treated as blank");
            variant.sku = None;
        }
    }
    variant
}

struct MapPlan<'a> {
    /// SKU → the one variant that takes its stock.
    mapped: BTreeMap<&'a str, &'a Listing>,
    /// SKUs with no sellable variant and several unsellable ones.
    ambiguous_unsellable: BTreeMap<String, Vec<String>>,
}

/// Which variant each SKU maps to (see the module doc for the rules).
fn plan_map(variants: &[Listing]) -> MapPlan<'_> {
    let mut by_sku: BTreeMap<&str, (Vec<&Listing>, Vec<&Listing>)> = BTreeMap::new();
    for v in variants {
        if let Some(sku) = v.sku.as_deref() {
            let (sellable, other) = by_sku.entry(sku).or_default();
            if v.sellable {
                sellable.push(v);
            } else {
                other.push(v);
            }
        }
    }
    let mut plan = MapPlan {
        mapped: BTreeMap::new(),
        ambiguous_unsellable: BTreeMap::new(),
    };
    for (sku, (sellable, other)) in by_sku {
        match (sellable.as_slice(), other.as_slice()) {
            ([one], _) | ([], [one]) => {
                plan.mapped.insert(sku, one);
            }
            ([], several) => {
                plan.ambiguous_unsellable.insert(
                    sku.to_owned(),
                    several.iter().map(|v| v.variant_id.clone()).collect(),
                );
            }
            // Several sellable variants: `sku_report`'s duplicates.
            _ => {}
        }
    }
    plan
}

/// Puts blank and duplicate SKUs into the run, capped (see [`MAX_LISTED_BLANK`]).
fn list_problems(
    run: &mut ProductsRun,
    blank: Vec<String>,
    duplicates: BTreeMap<String, Vec<String>>,
) {
    run.blank_total = u32::try_from(blank.len()).unwrap_or(u32::MAX);
    run.blank_skus = blank.into_iter().take(MAX_LISTED_BLANK).collect();
    run.duplicate_total = u32::try_from(duplicates.len()).unwrap_or(u32::MAX);
    run.duplicate_skus = duplicates
        .into_iter()
        .take(MAX_LISTED_DUPLICATES)
        .map(|(sku, mut ids)| {
            ids.truncate(MAX_LISTED_VARIANTS_PER_SKU);
            (sku, ids)
        })
        .collect();
}

fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// Sends one `product.imported` message for a variant with a usable SKU.
async fn publish(
    deps: &ProductsDeps,
    connection: &Connection,
    variant: &Listing,
    sku: &str,
) -> Result<(), PortError> {
    let status = variant.status.as_str();
    let body = json!({
        "type": "product.imported",
        "v": VERSION,
        "tenant": connection.tenant,
        "connection": connection.id,
        "channel": connection.channel,
        "sku": sku,
        "variant_id": variant.variant_id,
        "product_id": variant.product_id,
        // The product's title (the query reads no variant title); missing reads as null.
        "title": Some(variant.product_title.as_str()).filter(|t| !t.is_empty()),
        "status": status,
        "inventory_item_id": variant.inventory_item_id,
        "tracked": variant.tracked,
    });
    deps.wms_orders
        .send(OutMessage {
            body: body.to_string(),
            dedup_id: Some(sha256_hex(&format!(
                "product#{}#{}#{sku}#{status}",
                connection.id, variant.variant_id
            ))),
            group_id: Some(sha256_hex(&format!(
                "product#{}#{}",
                connection.id, variant.variant_id
            ))),
            tenant: Some(connection.tenant.clone()),
        })
        .await
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::channels::shopify::oauth::ShopifyCredentials;
    use crate::channels::testkit::{shopify_fixture, ShopifyFixture};
    use crate::channels::{ClientError, OpenError};
    use crate::domain::{Channel, TenantId};
    use crate::embedded::{EmbeddedQueue, EmbeddedStore};
    use crate::ports::Claim;
    use crate::ports::Received;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

    const TOKEN: &str = "shpat_fake_products";
    /// The document `variants_page` sends, spelled out so a change to the wire shape fails here.
    const VARIANTS_QUERY: &str = "query ChannelSyncVariants($first: Int!, $after: String) { productVariants(first: $first, after: $after) { nodes { id sku inventoryItem { id tracked } product { id status title } } pageInfo { hasNextPage endCursor } } }";

    fn request(after: Option<&str>) -> MockBuilder {
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", TOKEN))
            .and(body_json(json!({
                "query": VARIANTS_QUERY,
                "variables": {"first": 250, "after": after}
            })))
    }

    fn page(nodes: Vec<serde_json::Value>, next: Option<&str>) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"data": {"productVariants": {
            "nodes": nodes, "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next}}}}))
    }

    /// A variant node; `n` numbers the variant, its inventory item (1000 + n) and product (500 + n).
    fn node(n: u32, sku: Option<&str>, status: &str, tracked: bool) -> serde_json::Value {
        json!({
            "id": format!("gid://shopify/ProductVariant/{n}"),
            "sku": sku,
            "inventoryItem": {"id": format!("gid://shopify/InventoryItem/{}", 1000 + n), "tracked": tracked},
            "product": {"id": format!("gid://shopify/Product/{}", 500 + n), "status": status, "title": format!("Product {n}")}
        })
    }

    /// An active, tracked variant `n` with SKU `sku` (see [`node`]).
    fn active(n: u32, sku: &str) -> serde_json::Value {
        node(n, Some(sku), "ACTIVE", true)
    }

    /// The variants page after `after` answered with `answer`, asked exactly `times` times.
    async fn answers(
        server: &MockServer,
        after: Option<&str>,
        answer: ResponseTemplate,
        times: u64,
    ) {
        request(after)
            .respond_with(answer)
            .expect(times)
            .mount(server)
            .await;
    }

    /// Any call to the fake fails the test (on drop).
    async fn no_api_call(server: &MockServer) {
        Mock::given(method("POST"))
            .respond_with(page(vec![], None))
            .expect(0)
            .mount(server)
            .await;
    }

    fn gid(n: u32) -> String {
        format!("gid://shopify/ProductVariant/{n}")
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    struct World {
        deps: ProductsDeps,
        store: EmbeddedStore,
        outbox: EmbeddedQueue,
        connection: Connection,
        _dir: tempfile::TempDir,
    }

    async fn world(server: &MockServer) -> World {
        let dir = tempfile::tempdir().unwrap();
        let credentials = ShopifyCredentials::static_token(TOKEN, "");
        let ShopifyFixture {
            store,
            connection,
            channels,
            ..
        } = shopify_fixture(
            dir.path(),
            "c_prod",
            ConnectionStatus::Active,
            &credentials,
            server.uri(),
        )
        .await;
        let outbox = store.queue("wms-orders", None, 5);
        World {
            deps: ProductsDeps {
                idempotency: Arc::new(store.clone()),
                values: Arc::new(store.clone()),
                records: Arc::new(store.clone()),
                wms_orders: Arc::new(outbox.clone()),
                channels,
            },
            store,
            outbox,
            connection,
            _dir: dir,
        }
    }

    impl World {
        async fn bodies(&self) -> Vec<serde_json::Value> {
            self.outbox
                .read_after(&self.connection.tenant, 0, 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.body)
                .collect()
        }

        /// Whether the products lease of `c_prod` is free (taking it for a second).
        async fn lease_is_free(&self) -> bool {
            matches!(
                self.store
                    .claim("products-lock#c_prod", Duration::from_secs(1))
                    .await
                    .unwrap(),
                Claim::Acquired(_)
            )
        }

        async fn item(&self, s: &str) -> Option<String> {
            skumap::inventory_item_for(
                &*self.deps.records,
                &*self.deps.values,
                &self.connection.id,
                &sku(s),
            )
            .await
            .unwrap()
        }
    }

    #[tokio::test]
    async fn two_pages_publish_map_and_report_blank_and_duplicate_skus() {
        let server = MockServer::start().await;
        answers(
            &server,
            None,
            page(
                vec![
                    active(1, " TS-001 "),
                    node(2, None, "ACTIVE", true),
                    active(3, "DUP"),
                    active(4, "BAD\u{7}SKU"),
                ],
                Some("vc-1"),
            ),
            1,
        )
        .await;
        answers(
            &server,
            Some("vc-1"),
            page(
                vec![
                    node(5, Some("DUP"), "UNLISTED", true),
                    node(6, Some("TS-002"), "DRAFT", false),
                    node(7, Some("TS-001"), "ARCHIVED", true),
                    node(8, Some("OLD"), "ARCHIVED", true),
                    node(9, Some("OLD"), "DRAFT", true),
                    active(10, ""),
                ],
                None,
            ),
            1,
        )
        .await;
        let w = world(&server).await;

        let run = import_products(&w.deps, &w.connection).await.unwrap();
        assert_eq!(run.outcome, "completed");
        assert_eq!(
            (run.pages, run.variants, run.published, run.mapped),
            (2, 10, 7, 2)
        );
        assert_eq!(run.blank_skus, [gid(2), gid(4), gid(10)]);
        assert_eq!(run.blank_total, 3);
        assert_eq!(
            run.duplicate_skus,
            BTreeMap::from([
                ("DUP".to_owned(), vec![gid(3), gid(5)]),
                ("OLD".to_owned(), vec![gid(8), gid(9)]),
            ])
        );
        assert_eq!(run.duplicate_total, 2);

        // Every variant with a usable SKU is published, duplicates included, in page order.
        let bodies = w.bodies().await;
        let skus: Vec<&str> = bodies.iter().map(|b| b["sku"].as_str().unwrap()).collect();
        assert_eq!(
            skus,
            ["TS-001", "DUP", "DUP", "TS-002", "TS-001", "OLD", "OLD"]
        );
        assert_eq!(
            bodies[0],
            json!({"type": "product.imported", "v": 1, "tenant": "dev", "connection": "c_prod",
                "channel": "shopify", "sku": "TS-001", "variant_id": gid(1),
                "product_id": "gid://shopify/Product/501", "title": "Product 1", "status": "active",
                "inventory_item_id": "gid://shopify/InventoryItem/1001", "tracked": true})
        );
        assert_eq!(bodies[3]["status"], "draft");
        // Every body is a valid `product.imported` of the message contract.
        for body in &bodies {
            let typed: crate::messages::WmsOutbound = serde_json::from_value(body.clone()).unwrap();
            assert!(matches!(
                typed,
                crate::messages::WmsOutbound::ProductImported(_)
            ));
        }
        assert_eq!(bodies[3]["tracked"], false);

        // The map: the one sellable variant wins over an archived copy; a lone draft variant
        // is mapped (but untracked, so nothing to push); duplicates are not mapped.
        assert_eq!(
            w.item("TS-001").await.as_deref(),
            Some("gid://shopify/InventoryItem/1001")
        );
        assert_eq!(w.item("TS-002").await, None);
        let ts2 = skumap::sku_entry(
            &*w.deps.records,
            &*w.deps.values,
            &w.connection.id,
            &sku("TS-002"),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                ts2.inventory_item_id.as_str(),
                ts2.variant_id.as_str(),
                ts2.product_id.as_str(),
                ts2.tracked,
                ts2.product_status.as_str()
            ),
            (
                "gid://shopify/InventoryItem/1006",
                gid(6).as_str(),
                "gid://shopify/Product/506",
                false,
                "draft"
            )
        );
        for missing in ["DUP", "OLD", "BAD", "NOPE"] {
            assert_eq!(w.item(missing).await, None, "{missing}");
            assert_eq!(w.store.fetch("skumap#c_prod", missing).await.unwrap(), None);
        }

        // Run records: the dated one and the last one hold the same run.
        let dated = KeyValue::get(
            &w.store,
            &format!("products-run#c_prod#{}", run.started_at.timestamp_millis()),
        )
        .await
        .unwrap()
        .unwrap();
        let last = KeyValue::get(&w.store, "products-last#c_prod")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(dated, last);
        assert_eq!(serde_json::from_value::<ProductsRun>(last).unwrap(), run);
        // The lease was given back.
        assert!(w.lease_is_free().await);
    }

    #[tokio::test]
    async fn re_imports_publish_only_changed_variants() {
        let server = MockServer::start().await;
        let first = vec![active(1, "A"), active(2, "B")];
        request(None)
            .respond_with(page(first, None))
            .up_to_n_times(2)
            .expect(2)
            .mount(&server)
            .await;
        answers(
            &server,
            None,
            page(
                vec![active(1, "A"), node(2, Some("B"), "DRAFT", true)],
                None,
            ),
            1,
        )
        .await;
        let w = world(&server).await;

        let one = import_products(&w.deps, &w.connection).await.unwrap();
        assert_eq!(one.published, 2);
        assert_eq!(w.outbox.depth().await.unwrap(), 2);
        let two = import_products(&w.deps, &w.connection).await.unwrap();
        assert_eq!((two.outcome.as_str(), two.published), ("completed", 2));
        assert_eq!(
            w.outbox.depth().await.unwrap(),
            2,
            "unchanged variants are dropped"
        );
        import_products(&w.deps, &w.connection).await.unwrap();
        let bodies = w.bodies().await;
        assert_eq!(bodies.len(), 3, "only the status change is new");
        assert_eq!(
            (bodies[2]["sku"].as_str(), bodies[2]["status"].as_str()),
            (Some("B"), Some("draft"))
        );
    }

    #[tokio::test]
    async fn a_sku_that_becomes_a_duplicate_or_disappears_stops_resolving() {
        let server = MockServer::start().await;
        request(None)
            .respond_with(page(vec![active(1, "A"), active(2, "B")], None))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        answers(
            &server,
            None,
            page(vec![active(1, "A"), active(3, "A")], None),
            1,
        )
        .await;
        let w = world(&server).await;
        import_products(&w.deps, &w.connection).await.unwrap();
        assert_eq!(
            w.item("A").await.as_deref(),
            Some("gid://shopify/InventoryItem/1001")
        );
        assert_eq!(
            w.item("B").await.as_deref(),
            Some("gid://shopify/InventoryItem/1002")
        );

        // A run must start in a later millisecond to get a newer generation.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let run = import_products(&w.deps, &w.connection).await.unwrap();
        assert_eq!(
            run.duplicate_skus,
            BTreeMap::from([("A".to_owned(), vec![gid(1), gid(3)])])
        );
        assert_eq!(run.mapped, 0);
        assert_eq!(w.item("A").await, None, "now ambiguous: never guess");
        assert_eq!(w.item("B").await, None, "its variant is gone");
        // The entries are still there (nothing is deleted), just outdated.
        assert!(w.store.fetch("skumap#c_prod", "A").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_page_limit_sends_messages_but_leaves_the_map_alone() {
        let server = MockServer::start().await;
        answers(&server, None, page(vec![active(1, "A")], Some("vc-1")), 1).await;
        let w = world(&server).await;
        let run = import_with_limit(
            &w.deps,
            &w.connection,
            Budget {
                part_pages: 1,
                walk_pages: 1,
            },
        )
        .await
        .unwrap();
        assert!(run.outcome.starts_with("partial"), "{}", run.outcome);
        assert_eq!((run.pages, run.published, run.mapped), (1, 1, 0));
        assert_eq!(w.outbox.depth().await.unwrap(), 1);
        assert_eq!(w.item("A").await, None);
        assert_eq!(
            KeyValue::get(&w.store, "products-map#c_prod")
                .await
                .unwrap(),
            None
        );
        assert!(KeyValue::get(&w.store, "products-last#c_prod")
            .await
            .unwrap()
            .is_some());
    }

    /// The SKU map as the inventory engine sees it for `skus`.
    async fn mapped(w: &World, skus: &[&str]) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for s in skus {
            out.push((s.to_string(), w.item(s).await));
        }
        out
    }

    /// Issue 22, item 1: a catalogue larger than one job message's budget. GIVEN a committed
    /// map holding `GONE` and a five-page store read two pages per run WHEN the walk runs
    /// THEN each page is read exactly once over three runs, the first two keep the old map
    /// whole (a half walk hides no SKU it has not seen yet, and maps none) and report
    /// `more`, and the third maps every page: a duplicate split between the first and the
    /// last page is left out, and `GONE`, on no page, stops resolving.
    #[tokio::test]
    async fn a_large_catalogue_is_walked_over_several_runs_and_mapped_once_whole() {
        let server = MockServer::start().await;
        let pages = [
            (None, vec![active(1, "A"), active(2, "DUP")], Some("vc-1")),
            (Some("vc-1"), vec![active(3, "B")], Some("vc-2")),
            (
                Some("vc-2"),
                vec![node(4, None, "ACTIVE", true)],
                Some("vc-3"),
            ),
            (
                Some("vc-3"),
                vec![node(5, Some("C"), "DRAFT", false)],
                Some("vc-4"),
            ),
            (Some("vc-4"), vec![active(6, "DUP"), active(7, "Z")], None),
        ];
        for (after, nodes, next) in pages {
            answers(&server, after, page(nodes, next), 1).await;
        }
        let w = world(&server).await;
        // An earlier complete import mapped GONE and Z.
        for (s, n) in [("GONE", 90), ("Z", 7)] {
            let entry = SkuMapEntry {
                inventory_item_id: format!("gid://shopify/InventoryItem/{}", 1000 + n),
                variant_id: gid(n),
                product_id: format!("gid://shopify/Product/{}", 500 + n),
                tracked: true,
                product_status: "active".into(),
                generation: 1,
            };
            skumap::put(&*w.deps.records, &w.connection.id, s, &entry)
                .await
                .unwrap();
        }
        skumap::commit_generation(&*w.deps.values, &w.connection.id, 1)
            .await
            .unwrap();
        let before = mapped(&w, &["A", "B", "DUP", "GONE", "Z"]).await;

        let one = import_products_pages(&w.deps, &w.connection, 2)
            .await
            .unwrap();
        assert!(one.more, "{}", one.outcome);
        assert!(one.outcome.starts_with("partial"), "{}", one.outcome);
        assert_eq!(
            (
                one.pages,
                one.variants,
                one.published,
                one.mapped,
                one.parts
            ),
            (2, 3, 3, 0, 1)
        );
        assert_eq!(mapped(&w, &["A", "B", "DUP", "GONE", "Z"]).await, before);
        assert_eq!(
            skumap::committed_generation(&*w.deps.values, &w.connection.id)
                .await
                .unwrap(),
            1
        );

        let two = import_products_pages(&w.deps, &w.connection, 2)
            .await
            .unwrap();
        assert!(two.more);
        assert_eq!(
            (
                two.pages,
                two.variants,
                two.published,
                two.mapped,
                two.parts
            ),
            (4, 5, 4, 0, 2)
        );
        assert_eq!(mapped(&w, &["A", "B", "DUP", "GONE", "Z"]).await, before);

        let three = import_products_pages(&w.deps, &w.connection, 2)
            .await
            .unwrap();
        assert!(!three.more);
        assert_eq!(three.outcome, "completed");
        assert_eq!(
            (three.pages, three.variants, three.published, three.parts),
            (5, 7, 6, 3)
        );
        // A, B, C (the lone draft), Z: the split duplicate is seen across runs.
        assert_eq!(three.mapped, 4);
        assert_eq!(
            three.duplicate_skus,
            BTreeMap::from([("DUP".to_owned(), vec![gid(2), gid(6)])])
        );
        assert_eq!(
            (three.blank_total, three.blank_skus.clone()),
            (1, vec![gid(4)])
        );
        assert_eq!(
            mapped(&w, &["A", "B", "DUP", "GONE", "Z"]).await,
            vec![
                (
                    "A".to_owned(),
                    Some("gid://shopify/InventoryItem/1001".to_owned())
                ),
                (
                    "B".to_owned(),
                    Some("gid://shopify/InventoryItem/1003".to_owned())
                ),
                ("DUP".to_owned(), None),
                ("GONE".to_owned(), None),
                (
                    "Z".to_owned(),
                    Some("gid://shopify/InventoryItem/1007".to_owned())
                ),
            ]
        );
        let c = skumap::sku_entry(
            &*w.deps.records,
            &*w.deps.values,
            &w.connection.id,
            &sku("C"),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!((c.variant_id, c.tracked), (gid(5), false));
        // The map's generation is the walk's start (its first run), not its last run's.
        assert_eq!(
            skumap::committed_generation(&*w.deps.values, &w.connection.id)
                .await
                .unwrap(),
            one.started_at.timestamp_millis()
        );
        assert_eq!(
            w.bodies().await.len(),
            6,
            "every variant with a SKU published once"
        );
        // The walk is over: the next run starts at page one (which answers no more here).
        let record = w
            .store
            .fetch("products-walk#c_prod", "walk")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.value, json!({"walk": null}));
    }

    /// One run of the walk without the lease (as a run that outlived it would be).
    async fn one_run(w: &World, budget: Budget) -> ProductsRun {
        let mut run = ProductsRun {
            connection: "c_prod".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            pages: 0,
            variants: 0,
            published: 0,
            mapped: 0,
            blank_skus: vec![],
            blank_total: 0,
            duplicate_skus: BTreeMap::new(),
            duplicate_total: 0,
            outcome: String::new(),
            parts: 0,
            more: false,
        };
        import(&w.deps, &w.connection, &mut run, budget)
            .await
            .unwrap();
        run
    }

    /// GIVEN two runs of one walk at once (the first outlived its lease: its page answer
    /// hangs) WHEN the later one checkpoints first THEN the earlier one cannot move the walk:
    /// it reports so and stages nothing the walk reads, and the next run continues from the
    /// later run's cursor.
    #[tokio::test]
    async fn a_run_that_outlived_its_lease_cannot_move_the_walk() {
        let server = MockServer::start().await;
        request(None)
            .respond_with(
                page(vec![active(1, "A")], Some("vc-1")).set_delay(Duration::from_millis(400)),
            )
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        answers(&server, None, page(vec![active(1, "A")], Some("vc-1")), 1).await;
        answers(&server, Some("vc-1"), page(vec![active(2, "B")], None), 1).await;
        let w = world(&server).await;
        let budget = Budget {
            part_pages: 1,
            walk_pages: MAX_PAGES,
        };
        // The stale run starts first and gets the hanging answer; the later one starts a
        // few milliseconds on (a later fence) and checkpoints first.
        let stale = one_run(&w, budget);
        let later = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            one_run(&w, budget).await
        };
        let (stale, later) = tokio::join!(stale, later);
        assert!(later.more, "{}", later.outcome);
        assert!(!stale.more);
        assert_eq!(stale.outcome, "skipped: a later run moved this walk on");
        let last = import_products_pages(&w.deps, &w.connection, 1)
            .await
            .unwrap();
        assert_eq!(
            (last.outcome.as_str(), last.pages, last.parts),
            ("completed", 2, 2)
        );
        assert_eq!(last.mapped, 2);
        assert_eq!(
            w.item("A").await.as_deref(),
            Some("gid://shopify/InventoryItem/1001")
        );
        assert_eq!(
            w.item("B").await.as_deref(),
            Some("gid://shopify/InventoryItem/1002")
        );
    }

    /// GIVEN a walk whose staged pages are gone (expired) WHEN its last page is read THEN
    /// nothing is mapped (a map of the last pages alone would hide the first pages' SKUs) and
    /// the next run walks from page one.
    #[tokio::test]
    async fn a_walk_whose_staged_pages_are_gone_maps_nothing_and_starts_over() {
        let server = MockServer::start().await;
        answers(&server, None, page(vec![active(1, "A")], Some("vc-1")), 2).await;
        answers(&server, Some("vc-1"), page(vec![active(2, "B")], None), 2).await;
        let w = world(&server).await;
        let one = import_products_pages(&w.deps, &w.connection, 1)
            .await
            .unwrap();
        assert!(one.more);
        // The staged chunk disappears (its retention ran out).
        let record = w
            .store
            .fetch("products-walk#c_prod", "walk")
            .await
            .unwrap()
            .unwrap();
        let key = record.value["walk"]["staged"][0]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(key.starts_with("products-stage#c_prod#"), "{key}");
        assert!(KeyValue::get(&w.store, &key).await.unwrap().is_some());
        let mut broken = record.value.clone();
        broken["walk"]["staged"][0] = json!("products-stage#c_prod#0#0#0");
        crate::ports::Records::put(
            &w.store,
            "products-walk#c_prod",
            "walk",
            record.version,
            &broken,
        )
        .await
        .unwrap();
        let two = import_products_pages(&w.deps, &w.connection, 1)
            .await
            .unwrap();
        assert!(!two.more);
        assert!(two.outcome.contains("expired"), "{}", two.outcome);
        assert_eq!(
            (two.mapped, w.item("A").await, w.item("B").await),
            (0, None, None)
        );
        assert_eq!(
            skumap::committed_generation(&*w.deps.values, &w.connection.id)
                .await
                .unwrap(),
            0
        );
        // Walked again from the start, in two runs.
        assert!(
            import_products_pages(&w.deps, &w.connection, 1)
                .await
                .unwrap()
                .more
        );
        let four = import_products_pages(&w.deps, &w.connection, 1)
            .await
            .unwrap();
        assert_eq!((four.outcome.as_str(), four.mapped), ("completed", 2));
    }

    #[tokio::test]
    async fn the_lease_blocks_a_concurrent_run() {
        let server = MockServer::start().await;
        no_api_call(&server).await;
        let w = world(&server).await;
        assert!(matches!(
            w.store
                .claim("products-lock#c_prod", Duration::from_secs(60))
                .await
                .unwrap(),
            Claim::Acquired(_)
        ));
        let run = import_products(&w.deps, &w.connection).await.unwrap();
        assert_eq!(run.outcome, "skipped: another run holds this connection");
        assert_eq!(
            KeyValue::get(&w.store, "products-last#c_prod")
                .await
                .unwrap(),
            None
        );
        assert_eq!(w.outbox.depth().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn inactive_or_other_connections_make_no_api_call() {
        let server = MockServer::start().await;
        no_api_call(&server).await;
        let w = world(&server).await;
        for (status, channel, outcome) in [
            (
                ConnectionStatus::NeedsReauth,
                Channel::Shopify,
                "skipped: the connection is needs_reauth",
            ),
            (
                ConnectionStatus::Disconnected,
                Channel::Shopify,
                "skipped: the connection is disconnected",
            ),
        ] {
            let mut c = w.connection.clone();
            c.status = status;
            c.channel = channel;
            let run = import_products(&w.deps, &c).await.unwrap();
            assert_eq!(run.outcome, outcome);
            assert_eq!(run.pages, 0);
        }
        assert_eq!(
            KeyValue::get(&w.store, "products-last#c_prod")
                .await
                .unwrap(),
            None
        );
        // Not even the lease was taken.
        assert!(w.lease_is_free().await);
    }

    #[tokio::test]
    async fn a_failed_page_is_an_error_that_keeps_the_map_and_frees_the_lease() {
        let server = MockServer::start().await;
        answers(&server, None, page(vec![active(1, "A")], Some("vc-1")), 1).await;
        answers(
            &server,
            Some("vc-1"),
            ResponseTemplate::new(200).set_body_string("<html>oops</html>"),
            1,
        )
        .await;
        let w = world(&server).await;
        let err = import_products(&w.deps, &w.connection).await.unwrap_err();
        assert!(
            matches!(err, ProductsError::Channel(ClientError::BadResponse(_))),
            "{err:?}"
        );
        assert_eq!(w.item("A").await, None);
        assert_eq!(
            KeyValue::get(&w.store, "products-last#c_prod")
                .await
                .unwrap(),
            None
        );
        assert!(w.lease_is_free().await);
    }

    #[tokio::test]
    async fn missing_credentials_are_a_token_error_without_an_api_call() {
        let server = MockServer::start().await;
        no_api_call(&server).await;
        let w = world(&server).await;
        w.deps
            .channels
            .context()
            .vault
            .delete(&w.connection.credentials_name())
            .await
            .unwrap();
        assert!(matches!(
            import_products(&w.deps, &w.connection).await,
            Err(ProductsError::Open(OpenError::NeedsReauth))
        ));
    }

    /// Keeps every message as sent, to check the ids the queue deduplicates and orders by.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<OutMessage>>);

    #[async_trait]
    impl Queue for Recorder {
        async fn send(&self, message: OutMessage) -> Result<(), PortError> {
            self.0.lock().unwrap().push(message);
            Ok(())
        }
        async fn receive(&self, _: u32, _: Duration) -> Result<Vec<Received>, PortError> {
            Ok(vec![])
        }
        async fn ack(&self, _: &str) -> Result<(), PortError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn messages_carry_the_documented_dedup_and_group_ids() {
        let server = MockServer::start().await;
        answers(
            &server,
            None,
            page(vec![node(7, Some("A/1 x"), "SOMETHING_NEW", true)], None),
            1,
        )
        .await;
        let mut w = world(&server).await;
        let recorder = Arc::new(Recorder::default());
        w.deps.wms_orders = recorder.clone();
        import_products(&w.deps, &w.connection).await.unwrap();
        let sent = recorder.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        let m = &sent[0];
        let sha = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
        assert_eq!(
            m.dedup_id.as_deref(),
            Some(sha("product#c_prod#gid://shopify/ProductVariant/7#A/1 x#something_new").as_str())
        );
        assert_eq!(
            m.group_id.as_deref(),
            Some(sha("product#c_prod#gid://shopify/ProductVariant/7").as_str())
        );
        assert_eq!(m.tenant.as_ref().map(TenantId::as_str), Some("dev"));
        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(body["status"], "something_new");
    }

    #[test]
    fn run_records_list_problems_within_the_caps() {
        let now = Utc::now();
        let mut run = ProductsRun {
            connection: "c".into(),
            started_at: now,
            finished_at: now,
            pages: 0,
            variants: 0,
            published: 0,
            mapped: 0,
            blank_skus: vec![],
            blank_total: 0,
            duplicate_skus: BTreeMap::new(),
            duplicate_total: 0,
            outcome: String::new(),
            parts: 0,
            more: false,
        };
        let blank: Vec<String> = (0..MAX_LISTED_BLANK as u32 + 5).map(gid).collect();
        let duplicates: BTreeMap<String, Vec<String>> = (0..MAX_LISTED_DUPLICATES + 3)
            .map(|i| (format!("S{i:04}"), (0..15).map(gid).collect()))
            .collect();
        list_problems(&mut run, blank, duplicates);
        assert_eq!(run.blank_total as usize, MAX_LISTED_BLANK + 5);
        assert_eq!(run.blank_skus.len(), MAX_LISTED_BLANK);
        assert_eq!(run.blank_skus[0], gid(0));
        assert_eq!(run.duplicate_total as usize, MAX_LISTED_DUPLICATES + 3);
        assert_eq!(run.duplicate_skus.len(), MAX_LISTED_DUPLICATES);
        assert!(run
            .duplicate_skus
            .values()
            .all(|ids| ids.len() == MAX_LISTED_VARIANTS_PER_SKU));
        assert!(run.duplicate_skus.contains_key("S0000"));
        assert!(!run
            .duplicate_skus
            .contains_key(&format!("S{:04}", MAX_LISTED_DUPLICATES)));
    }
}

/// Imports products for every connection; one failure does not stop the others.
pub async fn import_all(
    deps: &ProductsDeps,
    connections: &dyn crate::ports::Connections,
) -> Result<Vec<(String, Result<ProductsRun, ProductsError>)>, PortError> {
    let mut results = Vec::new();
    for connection in connections.list_all().await? {
        if connection.status != crate::domain::ConnectionStatus::Active {
            continue;
        }
        let result = import_products(deps, &connection).await;
        if let Err(e) = &result {
            tracing::warn!(connection = %connection.id, error = %e, "product import failed");
        }
        results.push((connection.id.to_string(), result));
    }
    Ok(results)
}

/// The engine asks for a product import before a connection's first full push (it has no SKU
/// map yet): the arrow runs from the jobs down to the engine's port, never back up.
#[async_trait::async_trait]
impl skumap::Catalog for ProductsDeps {
    async fn refresh(&self, connection: &Connection) -> Result<(), String> {
        import_products(self, connection)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
