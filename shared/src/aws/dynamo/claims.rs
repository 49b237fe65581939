//! Claims (`Idempotency`) and small named values (`KeyValue`): the same `IDEM#` rows.

use super::*;

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
        let item = done_item(k, record, retain);
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
        let item = done_item(k, value, retain);
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
        let item = done_item(k, value, retain);
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
