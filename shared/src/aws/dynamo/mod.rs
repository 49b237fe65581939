//! The DynamoDB store (one table): connections and tenants (`connections.rs`), claims and
//! small named values (`claims.rs`), partitioned records (`records.rs`); the shared item
//! helpers and batch writes here.

use super::sdk_error;
use crate::domain::{Channel, Connection, ConnectionId, TenantId};
use crate::ports::{
    Claim, Connections, CreateOutcome, Fence, Idempotency, PortError, PortResult, RebindOutcome,
    Record, RecordPage, Records, Tenants, UpdateOutcome, MAX_FETCH_MANY,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, PutRequest, TransactWriteItem,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;

/// The DynamoDB store: one table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

/// Items per `BatchWriteItem` request (DynamoDB's limit).
const BATCH_WRITE_MAX: usize = 25;
/// How many times unprocessed items of a `BatchWriteItem` are sent again.
const BATCH_WRITE_ATTEMPTS: u32 = 5;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn connection_key(tenant: &TenantId, id: &ConnectionId) -> Item {
    key(format!("TENANT#{tenant}"), &format!("CONN#{id}"))
}

fn shop_key(channel: Channel, shop: &str) -> Item {
    key(format!("SHOP#{channel}#{shop}"), "SHOP")
}

/// The id index of a connection (`find_by_id`): immutable (tenant, id), so it is written with
/// the connection and again on every update (which also covers connections created before
/// the index existed).
fn id_index(c: &Connection) -> Item {
    let mut item = key(format!("CONNID#{}", c.id), "ID");
    item.insert("tenant".into(), s(c.tenant.as_str()));
    item
}

fn idem_key(k: &str) -> Item {
    key(format!("IDEM#{k}"), "IDEM")
}

/// The `IDEM#` item of a done claim or a value: `record`, kept for `retain` (DynamoDB's TTL,
/// in seconds) or forever.
fn done_item(k: &str, record: &serde_json::Value, retain: Option<Duration>) -> Item {
    let mut item = idem_key(k);
    item.insert("state".into(), s("done"));
    item.insert("record".into(), s(record.to_string()));
    if let Some(retain) = retain {
        item.insert("ttl".into(), n(now_ms() / 1000 + retain.as_secs() as i64));
    }
    item
}

fn connection_item(c: &Connection) -> PortResult<Item> {
    let mut item = connection_key(&c.tenant, &c.id);
    let body = serde_json::to_string(c).map_err(|e| PortError::Corrupt(e.to_string()))?;
    item.insert("body".into(), s(body));
    item.insert("channel".into(), s(c.channel.as_str()));
    item.insert("shop".into(), s(c.shop.clone()));
    item.insert("version".into(), AttributeValue::N(c.version.to_string()));
    Ok(item)
}

fn connection_from(item: &Item) -> PortResult<Connection> {
    let body =
        get_s(item, "body").ok_or_else(|| PortError::Corrupt("connection without body".into()))?;
    serde_json::from_str(body).map_err(|e| PortError::Corrupt(format!("connection: {e}")))
}

/// The record of a done, unexpired idempotency item.
fn done_record(item: &Item) -> PortResult<Option<serde_json::Value>> {
    let expired = item
        .get("ttl")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|ttl| ttl < now_ms() / 1000);
    if get_s(item, "state") != Some("done") || expired {
        return Ok(None);
    }
    match get_s(item, "record") {
        Some(r) => serde_json::from_str(r)
            .map(Some)
            .map_err(|e| PortError::Corrupt(format!("idempotency record: {e}"))),
        None => Ok(Some(serde_json::Value::Null)),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl DynamoStore {
    /// `writes` by `BatchWriteItem`, 25 at a time, unprocessed items retried with backoff a
    /// few times; what is still unprocessed after that is an error (retry the whole step).
    async fn batch_write(&self, writes: Vec<WriteRequest>) -> PortResult<()> {
        for chunk in writes.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            for attempt in 0..BATCH_WRITE_ATTEMPTS {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let answer = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(|e| sdk_error("dynamodb batch write", e))?;
                if let Some(mut left) = answer.unprocessed_items {
                    pending = left.remove(&self.table).unwrap_or_default();
                }
            }
            if !pending.is_empty() {
                return Err(PortError::Unavailable(format!(
                    "dynamodb batch write: {} items still unprocessed",
                    pending.len()
                )));
            }
        }
        Ok(())
    }
    /// A client from the shared SDK configuration.
    pub fn from_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(config), table)
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get_item(&self, key: Item) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb get", e))?;
        Ok(out.item)
    }
}

fn condition_failed<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

mod claims;
mod connections;
mod records;

/// Bulk loading for simulations (issue 22's `make scale-sim`): moto copies every table on each
/// `TransactWriteItems`, so creating thousands of connections one transaction at a time grows
/// quadratically. Behind the `seed` feature, never in a Lambda binary.
#[cfg(feature = "seed")]
impl DynamoStore {
    /// Writes the same three items per connection as [`Connections::create`] (shop claim,
    /// connection, id index) by `BatchWriteItem`, **without** `create`'s condition that the
    /// shop is unclaimed: only for connections known not to collide with any stored one.
    pub async fn seed_connections(&self, connections: &[Connection]) -> PortResult<()> {
        let mut writes = Vec::with_capacity(connections.len() * 3);
        for c in connections {
            let mut index = shop_key(c.channel, &c.shop);
            index.insert("tenant".into(), s(c.tenant.as_str()));
            index.insert("connection".into(), s(c.id.as_str()));
            for item in [index, connection_item(c)?, id_index(c)] {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| PortError::Unavailable(format!("batch write request: {e}")))?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
        }
        self.batch_write(writes).await
    }
}
