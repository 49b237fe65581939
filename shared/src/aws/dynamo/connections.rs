//! Connections (with their shop claim and id index) and tenants' API tokens.

use super::*;

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
