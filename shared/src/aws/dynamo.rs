//! Connections, tenants and idempotency records in DynamoDB.

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

#[async_trait]
impl Connections for DynamoStore {
    async fn create(&self, c: &Connection) -> PortResult<CreateOutcome> {
        let mut index = shop_key(c.channel, &c.shop);
        index.insert("tenant".into(), s(c.tenant.as_str()));
        index.insert("connection".into(), s(c.id.as_str()));
        let put = |item: Item| -> PortResult<TransactWriteItem> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| PortError::Unavailable(e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(index)?)
            .transact_items(put(connection_item(c)?)?)
            .transact_items(put(id_index(c))?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(e) => {
                let cancelled = e
                    .as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception());
                if !cancelled {
                    return Err(sdk_error("dynamodb create connection", e));
                }
                match self.find_by_shop(c.channel, &c.shop).await? {
                    Some(existing) => Ok(CreateOutcome::ShopTaken(Box::new(existing))),
                    None => Err(PortError::Unavailable(
                        "connection create conflicted but no owner was found; retry".into(),
                    )),
                }
            }
        }
    }

    async fn update(&self, c: &Connection) -> PortResult<UpdateOutcome> {
        let expected = c.version;
        let mut next = c.clone();
        next.version = expected
            .checked_add(1)
            .ok_or_else(|| PortError::Corrupt(format!("connection {} version", c.id)))?;
        // Versions count from 0; an item written before versions were kept has none.
        let condition = if expected == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(#v) OR #v = :v)"
        } else {
            "attribute_exists(pk) AND #v = :v"
        };
        // The connection and its id index in one transaction (one round trip, and never one
        // without the other).
        let built = |e: aws_sdk_dynamodb::error::BuildError| PortError::Unavailable(e.to_string());
        let connection = Put::builder()
            .table_name(&self.table)
            .set_item(Some(connection_item(&next)?))
            .condition_expression(condition)
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(expected.to_string()))
            .build()
            .map_err(built)?;
        let index = Put::builder()
            .table_name(&self.table)
            .set_item(Some(id_index(&next)))
            .build()
            .map_err(built)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(connection).build())
            .transact_items(TransactWriteItem::builder().put(index).build())
            .send()
            .await;
        if let Err(e) = result {
            // Cancelled: the version condition failed, or another transaction held the item
            // at that moment; either way this copy was not written, and a re-read decides.
            let cancelled = e
                .as_service_error()
                .is_some_and(|se| se.is_transaction_canceled_exception());
            if !cancelled {
                return Err(sdk_error("dynamodb update connection", e));
            }
            return match self.get_item(connection_key(&c.tenant, &c.id)).await? {
                Some(_) => Ok(UpdateOutcome::Stale),
                None => Err(PortError::Corrupt(format!(
                    "connection {} does not exist",
                    c.id
                ))),
            };
        }
        Ok(UpdateOutcome::Updated(Box::new(next)))
    }

    async fn rebind(&self, released: &Connection, new: &Connection) -> PortResult<RebindOutcome> {
        crate::ports::check_rebind(released, new)?;
        let built = |e: aws_sdk_dynamodb::error::BuildError| PortError::Unavailable(e.to_string());
        // The released connection is still the copy read (so still disconnected)…
        let expected = released.version;
        let version_condition = if expected == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(#v) OR #v = :v)"
        } else {
            "attribute_exists(pk) AND #v = :v"
        };
        let unchanged = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(connection_key(&released.tenant, &released.id)))
            .condition_expression(version_condition)
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(expected.to_string()))
            .build()
            .map_err(built)?;
        // …and still owns the shop, which now names the new connection.
        let mut index = shop_key(new.channel, &new.shop);
        index.insert("tenant".into(), s(new.tenant.as_str()));
        index.insert("connection".into(), s(new.id.as_str()));
        let moved = Put::builder()
            .table_name(&self.table)
            .set_item(Some(index))
            .condition_expression("#c = :old")
            .expression_attribute_names("#c", "connection")
            .expression_attribute_values(":old", s(released.id.as_str()))
            .build()
            .map_err(built)?;
        let fresh = |item: Item| -> PortResult<TransactWriteItem> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(built)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(unchanged)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().put(moved).build())
            .transact_items(fresh(connection_item(new)?)?)
            .transact_items(fresh(id_index(new))?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RebindOutcome::Rebound),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Ok(RebindOutcome::Stale)
            }
            Err(e) => Err(sdk_error("dynamodb rebind connection", e)),
        }
    }

    async fn find_by_id(&self, id: &ConnectionId) -> PortResult<Option<Connection>> {
        let Some(index) = self.get_item(key(format!("CONNID#{id}"), "ID")).await? else {
            return Ok(None);
        };
        let tenant = get_s(&index, "tenant")
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or_else(|| PortError::Corrupt(format!("connection id index {id}")))?;
        self.get(&tenant, id).await
    }

    async fn get(&self, tenant: &TenantId, id: &ConnectionId) -> PortResult<Option<Connection>> {
        self.get_item(connection_key(tenant, id))
            .await?
            .map(|item| connection_from(&item))
            .transpose()
    }

    async fn find_by_shop(&self, channel: Channel, shop: &str) -> PortResult<Option<Connection>> {
        let Some(index) = self.get_item(shop_key(channel, shop)).await? else {
            return Ok(None);
        };
        let corrupt = || PortError::Corrupt(format!("shop index {channel}/{shop}"));
        let tenant = get_s(&index, "tenant")
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or_else(corrupt)?;
        let id = get_s(&index, "connection")
            .and_then(|t| ConnectionId::parse(t).ok())
            .ok_or_else(corrupt)?;
        self.get(&tenant, &id).await
    }

    async fn list(&self, tenant: &TenantId) -> PortResult<Vec<Connection>> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(format!("TENANT#{tenant}")))
            .expression_attribute_values(":prefix", s("CONN#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        pages
            .into_iter()
            .map(|item| {
                item.map_err(|e| sdk_error("dynamodb list connections", e))
                    .and_then(|item| connection_from(&item))
            })
            .collect()
    }

    async fn list_all(&self) -> PortResult<Vec<Connection>> {
        // A scan is fine for the scheduler's fan-out (a few thousand connections at most);
        // it reads connection items only.
        let pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :tenant) AND begins_with(sk, :conn)")
            .expression_attribute_values(":tenant", s("TENANT#"))
            .expression_attribute_values(":conn", s("CONN#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        pages
            .into_iter()
            .map(|item| {
                item.map_err(|e| sdk_error("dynamodb scan connections", e))
                    .and_then(|item| connection_from(&item))
            })
            .collect()
    }
}

#[async_trait]
impl Tenants for DynamoStore {
    async fn revoke_token(&self, token_sha256: &str) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("TOKEN#{token_sha256}"), "TOKEN")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("dynamodb revoke token", e))
    }

    async fn put_token(&self, tenant: &TenantId, token_sha256: &str) -> PortResult<()> {
        let mut item = key(format!("TOKEN#{token_sha256}"), "TOKEN");
        item.insert("tenant".into(), s(tenant.as_str()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("dynamodb put token", e))
    }

    async fn tenant_for_token(&self, token_sha256: &str) -> PortResult<Option<TenantId>> {
        let item = self
            .get_item(key(format!("TOKEN#{token_sha256}"), "TOKEN"))
            .await?;
        item.map(|item| {
            get_s(&item, "tenant")
                .and_then(|t| TenantId::parse(t).ok())
                .ok_or_else(|| PortError::Corrupt("token without tenant".into()))
        })
        .transpose()
    }
}

#[async_trait]
impl Idempotency for DynamoStore {
    async fn claim(&self, k: &str, lease: Duration) -> PortResult<Claim> {
        let now = now_ms();
        let mut item = idem_key(k);
        item.insert("state".into(), s("in_progress"));
        item.insert("lease_until".into(), n(now + lease.as_millis() as i64));
        let fence = Fence::generate();
        item.insert("holder".into(), s(fence.as_str()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // New, or a crashed holder's lease ran out, or a done record's retention ran out
            // (TTL deletion is lazy, so expiry is checked here too).
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :in_progress AND lease_until < :now) \
                 OR (attribute_exists(#ttl) AND #ttl < :now_s)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":now_s", n(now / 1000))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired(fence)),
            Err(e) => {
                let lost = e
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception());
                if !lost {
                    return Err(sdk_error("dynamodb claim", e));
                }
                let Some(existing) = self.get_item(idem_key(k)).await? else {
                    // Released between our write and our read: the holder will retry.
                    return Ok(Claim::InProgress);
                };
                match done_record(&existing)? {
                    Some(record) => Ok(Claim::Done(record)),
                    None => Ok(Claim::InProgress),
                }
            }
        }
    }

    async fn finish(
        &self,
        k: &str,
        fence: &Fence,
        record: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<bool> {
        let mut item = idem_key(k);
        item.insert("state".into(), s("done"));
        item.insert("record".into(), s(record.to_string()));
        if let Some(retain) = retain {
            item.insert("ttl".into(), n(now_ms() / 1000 + retain.as_secs() as i64));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#state = :in_progress AND holder = :holder")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":holder", s(fence.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("dynamodb finish", e)),
        }
    }

    async fn release(&self, k: &str, fence: &Fence) -> PortResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(idem_key(k)))
            .condition_expression("#state = :in_progress AND holder = :holder")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":holder", s(fence.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("dynamodb release", e)),
        }
    }
}

/// The same items as [`Idempotency`]'s done records (`IDEM#{key}`, see [`KeyValue`]): values
/// written before the port existed read back unchanged.
#[async_trait]
impl crate::ports::KeyValue for DynamoStore {
    async fn get(&self, k: &str) -> PortResult<Option<serde_json::Value>> {
        match self.get_item(idem_key(k)).await? {
            Some(item) => done_record(&item),
            None => Ok(None),
        }
    }

    async fn put(
        &self,
        k: &str,
        value: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<()> {
        let mut item = idem_key(k);
        item.insert("state".into(), s("done"));
        item.insert("record".into(), s(value.to_string()));
        if let Some(retain) = retain {
            item.insert("ttl".into(), n(now_ms() / 1000 + retain.as_secs() as i64));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("dynamodb put", e))
    }

    async fn put_if(
        &self,
        k: &str,
        expected: Option<&serde_json::Value>,
        value: &serde_json::Value,
        retain: Option<Duration>,
    ) -> PortResult<bool> {
        let mut item = idem_key(k);
        item.insert("state".into(), s("done"));
        item.insert("record".into(), s(value.to_string()));
        if let Some(retain) = retain {
            item.insert("ttl".into(), n(now_ms() / 1000 + retain.as_secs() as i64));
        }
        // "Live" as `done_record` reads it: done, and its ttl (if any) not passed. The stored
        // text is compared: values are written by `to_string`, which is deterministic, so a
        // value read back and re-serialised gives the same text.
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":now", n(now_ms() / 1000));
        let request = match expected {
            None => request.condition_expression(
                "attribute_not_exists(#state) OR #state <> :done OR #ttl < :now",
            ),
            Some(expected) => request
                .condition_expression(
                    "#state = :done AND #record = :expected \
                     AND (attribute_not_exists(#ttl) OR #ttl >= :now)",
                )
                .expression_attribute_names("#record", "record")
                .expression_attribute_values(":expected", s(expected.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("dynamodb put_if", e)),
        }
    }
}

fn record_key(partition: &str, key: &str) -> Item {
    self::key(format!("REC#{partition}"), key)
}

fn record_item(partition: &str, key: &str, version: i64, value: &serde_json::Value) -> Item {
    let mut item = record_key(partition, key);
    item.insert("ver".into(), n(version));
    item.insert("body".into(), s(value.to_string()));
    item
}

fn record_from(item: &Item) -> PortResult<Record> {
    let key = get_s(item, "sk")
        .ok_or_else(|| PortError::Corrupt("record without sk".into()))?
        .to_owned();
    let version = item
        .get("ver")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| PortError::Corrupt(format!("record {key} without version")))?;
    let value = get_s(item, "body")
        .ok_or_else(|| PortError::Corrupt(format!("record {key} without body")))
        .and_then(|b| {
            serde_json::from_str(b).map_err(|e| PortError::Corrupt(format!("record {key}: {e}")))
        })?;
    Ok(Record {
        key,
        version,
        value,
    })
}

fn condition_failed<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// How many times unprocessed keys of a `BatchGetItem` are asked for again.
const BATCH_GET_ATTEMPTS: u32 = 5;
/// Items per `BatchWriteItem` request (DynamoDB's limit).
const BATCH_WRITE_MAX: usize = 25;
/// How many times unprocessed items of a `BatchWriteItem` are sent again.
const BATCH_WRITE_ATTEMPTS: u32 = 5;

#[async_trait]
impl Records for DynamoStore {
    async fn put(
        &self,
        partition: &str,
        key: &str,
        version: i64,
        value: &serde_json::Value,
    ) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(partition, key, version, value)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("dynamodb put record", e))
    }

    async fn put_if_newer(
        &self,
        partition: &str,
        key: &str,
        version: i64,
        value: &serde_json::Value,
    ) -> PortResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(partition, key, version, value)))
            .condition_expression("attribute_not_exists(pk) OR ver < :ver")
            .expression_attribute_values(":ver", n(version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("dynamodb put record if newer", e)),
        }
    }

    async fn put_many(
        &self,
        partition: &str,
        items: &[(String, i64, serde_json::Value)],
    ) -> PortResult<()> {
        // One request per 25 items (BatchWriteItem's limit); a key twice in one request is
        // refused by DynamoDB, so the last value of a key wins, as with `put` in order.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, (key, _, _)) in items.iter().enumerate() {
            last.insert(key.as_str(), i);
        }
        let mut writes = Vec::with_capacity(last.len());
        for (i, (key, version, value)) in items.iter().enumerate() {
            if last.get(key.as_str()) != Some(&i) {
                continue;
            }
            let put = PutRequest::builder()
                .set_item(Some(record_item(partition, key, *version, value)))
                .build()
                .map_err(|e| PortError::Unavailable(format!("batch write request: {e}")))?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        self.batch_write(writes).await
    }

    async fn fetch(&self, partition: &str, key: &str) -> PortResult<Option<Record>> {
        self.get_item(record_key(partition, key))
            .await?
            .map(|item| record_from(&item))
            .transpose()
    }

    async fn fetch_many(&self, partition: &str, keys: &[String]) -> PortResult<Vec<Record>> {
        if keys.len() > MAX_FETCH_MANY {
            return Err(PortError::Unavailable(format!(
                "fetch_many takes at most {MAX_FETCH_MANY} keys, got {}",
                keys.len()
            )));
        }
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut pending: Vec<Item> = unique.iter().map(|k| record_key(partition, k)).collect();
        let mut out = Vec::with_capacity(pending.len());
        for attempt in 0..BATCH_GET_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| PortError::Unavailable(format!("batch get request: {e}")))?;
            let answer = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb batch get", e))?;
            if let Some(items) = answer.responses.and_then(|mut r| r.remove(&self.table)) {
                for item in &items {
                    out.push(record_from(item)?);
                }
            }
            if let Some(mut left) = answer.unprocessed_keys {
                if let Some(left) = left.remove(&self.table) {
                    pending = left.keys;
                }
            }
        }
        if !pending.is_empty() {
            return Err(PortError::Unavailable(format!(
                "dynamodb batch get: {} keys still unprocessed",
                pending.len()
            )));
        }
        Ok(out)
    }

    async fn remove(&self, partition: &str, key: &str) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(record_key(partition, key)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("dynamodb delete record", e))
    }

    async fn remove_if_version(
        &self,
        partition: &str,
        key: &str,
        version: i64,
    ) -> PortResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(record_key(partition, key)))
            .condition_expression("ver = :ver")
            .expression_attribute_values(":ver", n(version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("dynamodb delete record if version", e)),
        }
    }

    async fn page(
        &self,
        partition: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<RecordPage> {
        let limit = limit.clamp(1, 10_000);
        let mut records = Vec::new();
        let mut start: Option<Item> = after.map(|a| record_key(partition, a));
        // DynamoDB stops a page at 1 MB: keep reading until `limit` or the end.
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(format!("REC#{partition}")))
                .limit((limit - records.len()) as i32)
                .set_exclusive_start_key(start.take());
            query = if prefix.is_empty() {
                query.key_condition_expression("pk = :pk")
            } else {
                query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let answer = query
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb query records", e))?;
            for item in answer.items() {
                records.push(record_from(item)?);
            }
            match answer.last_evaluated_key {
                Some(last) if records.len() < limit => start = Some(last),
                Some(_) => {
                    let next = records.last().map(|r| r.key.clone());
                    return Ok(RecordPage { records, next });
                }
                None => {
                    return Ok(RecordPage {
                        records,
                        next: None,
                    })
                }
            }
        }
    }
}

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
