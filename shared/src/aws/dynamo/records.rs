//! Partitioned records (`Records`): `REC#{partition}` items, versioned.

use super::*;

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

/// How many times unprocessed keys of a `BatchGetItem` are asked for again.
const BATCH_GET_ATTEMPTS: u32 = 5;

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
