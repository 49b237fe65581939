//! Inventory writes: absolute `available` quantities through `inventorySetQuantities`
//! (notes §4, reference §1.5), with per-row outcomes.
//!
//! Shopify applies a call all or nothing: one refused row leaves every row of the call
//! unapplied [S, not in Shopify's docs]. So when some rows are refused, the others are sent once
//! more on their own, under an idempotency key derived from the caller's (`{key}-r1`): new
//! variables need a new key, and a derived one keeps a replay of the whole call idempotent.

use super::client::ShopifyClient;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The most rows one call may carry (Shopify's input array limit); callers chunk.
pub const MAX_QUANTITIES_PER_CALL: usize = 250;

/// The [`ItemOutcome::Failed`] code of a row that Shopify did not refuse but did not apply
/// either, because another row of the same call was refused after the one resubmission.
pub const CODE_NOT_APPLIED: &str = "NOT_APPLIED";

/// The code given when Shopify's user error carries none (`code` is nullable in the schema).
const CODE_UNKNOWN: &str = "UNKNOWN";

/// `@idempotent` goes after the field's arguments (notes §4). Only the adjustment group's id is
/// selected: success is read from `userErrors` alone.
const SET_AVAILABLE_MUTATION: &str = "mutation ChannelSyncSetAvailable($input: InventorySetQuantitiesInput!, $key: String!) { inventorySetQuantities(input: $input) @idempotent(key: $key) { inventoryAdjustmentGroup { id } userErrors { code field message } } }";

/// One absolute `available` quantity to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantitySet {
    /// `gid://shopify/InventoryItem/…`
    pub inventory_item_id: String,
    /// `gid://shopify/Location/…`
    pub location_id: String,
    pub quantity: i64,
    /// Compare-and-swap: set only if Shopify still holds this quantity. `None` skips the check.
    pub change_from: Option<i64>,
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Applied (or already at that quantity: Shopify answers a no-op with no errors).
    Set,
    /// Not applied. `code` is Shopify's `InventorySetQuantitiesUserErrorCode` as sent (an open
    /// set: e.g. `CHANGE_FROM_QUANTITY_STALE`, `NON_MUTABLE_INVENTORY_ITEM` for a bundle parent,
    /// `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`, which needs a new key), [`CODE_NOT_APPLIED`], or
    /// `UNKNOWN`. The message is Shopify's, for people; branch on `code`.
    Failed { code: String, message: String },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SetInput<'a> {
    name: &'static str,
    reason: &'static str,
    reference_document_uri: &'a str,
    quantities: Vec<QuantityInput<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QuantityInput<'a> {
    inventory_item_id: &'a str,
    location_id: &'a str,
    quantity: i64,
    /// Must be present, `null` included (omitting it is an error since 2026-04): so no
    /// `skip_serializing_if` here.
    change_from_quantity: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPayload {
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct UserError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    field: Option<Vec<String>>,
    #[serde(default)]
    message: Option<String>,
}

impl UserError {
    /// The refused row, when the field path names one: the segment after `quantities`,
    /// a 0-based index as a string (`["input","quantities","3","changeFromQuantity"]`) [S].
    /// An index outside the call is treated as naming no row [U].
    fn row(&self, rows: usize) -> Option<usize> {
        let field = self.field.as_deref()?;
        let at = field.iter().position(|s| s == "quantities")?;
        field
            .get(at + 1)?
            .parse::<usize>()
            .ok()
            .filter(|&i| i < rows)
    }

    fn outcome(&self) -> ItemOutcome {
        ItemOutcome::Failed {
            code: self.code.clone().unwrap_or_else(|| CODE_UNKNOWN.into()),
            message: self.message.clone().unwrap_or_default(),
        }
    }
}

/// The user errors of one call, sorted out by row.
struct Refusal {
    /// The row's own error (the first one; later messages appended).
    rows: Vec<Option<ItemOutcome>>,
    /// An error naming no row: it concerns every row.
    batch: Option<ItemOutcome>,
}

impl Refusal {
    fn read(errors: &[UserError], rows: usize) -> Self {
        let mut refusal = Self {
            rows: vec![None; rows],
            batch: None,
        };
        for error in errors {
            let slot = match error.row(rows) {
                Some(i) => &mut refusal.rows[i],
                None => &mut refusal.batch,
            };
            match slot {
                None => *slot = Some(error.outcome()),
                Some(ItemOutcome::Failed { message, .. }) => {
                    if let Some(more) = &error.message {
                        message.push_str("; ");
                        message.push_str(more);
                    }
                }
                Some(ItemOutcome::Set) => {}
            }
        }
        refusal
    }
}

fn not_applied() -> ItemOutcome {
    ItemOutcome::Failed {
        code: CODE_NOT_APPLIED.into(),
        message: "not applied: Shopify refused another row of the same call".into(),
    }
}

impl ShopifyClient {
    /// Sets the `available` quantity of each item at its location (reason `correction`,
    /// `reference` as the reference document URI, e.g. `gid://channel-sync/SyncRun/123`).
    ///
    /// Returns one outcome per item, in input order. `idempotency_key` must be new for each
    /// distinct `items` list and reused for a retry of the same list; a resubmission of the
    /// unrefused rows uses `{idempotency_key}-r1`.
    ///
    /// Errors: more than [`MAX_QUANTITIES_PER_CALL`] items → `ClientError::BadResponse` without
    /// any request (a caller bug: chunk first); an empty list → `Ok(vec![])` without a request;
    /// otherwise the errors of [`ShopifyClient::graphql`] (throttling already retried), also
    /// when the resubmission fails, since the state of its rows is then unknown.
    pub async fn set_available(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        reference: &str,
        idempotency_key: &str,
        items: &[QuantitySet],
    ) -> Result<Vec<ItemOutcome>, ClientError> {
        if items.len() > MAX_QUANTITIES_PER_CALL {
            return Err(ClientError::BadResponse(format!(
                "inventorySetQuantities takes at most {MAX_QUANTITIES_PER_CALL} rows, got {}",
                items.len()
            )));
        }
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let all: Vec<&QuantitySet> = items.iter().collect();
        let errors = self
            .submit_available(shop, token, reference, idempotency_key, &all)
            .await?;
        if errors.is_empty() {
            return Ok(vec![ItemOutcome::Set; items.len()]);
        }
        let first = Refusal::read(&errors, items.len());
        let mut outcomes = first.rows;
        if let Some(batch) = first.batch {
            // Every row is concerned: resubmitting would be refused the same way.
            tracing::warn!(shop = %shop, rows = items.len(), "inventorySetQuantities refused the whole call");
            return Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or_else(|| batch.clone()))
                .collect());
        }
        let rest: Vec<usize> = (0..items.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        tracing::info!(shop = %shop, refused = items.len() - rest.len(), resubmitted = rest.len(), "inventorySetQuantities refused some rows");
        if !rest.is_empty() {
            let rows: Vec<&QuantitySet> = rest.iter().map(|&i| &items[i]).collect();
            let retry_key = format!("{idempotency_key}-r1");
            let errors = self
                .submit_available(shop, token, reference, &retry_key, &rows)
                .await?;
            let second = Refusal::read(&errors, rows.len());
            for (j, &i) in rest.iter().enumerate() {
                outcomes[i] = Some(if errors.is_empty() {
                    ItemOutcome::Set
                } else {
                    // Refused again, or carried down by the call's other rows.
                    second.rows[j]
                        .clone()
                        .or_else(|| second.batch.clone())
                        .unwrap_or_else(not_applied)
                });
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(not_applied))
            .collect())
    }

    /// One `inventorySetQuantities` call; returns its user errors.
    async fn submit_available(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        reference: &str,
        key: &str,
        rows: &[&QuantitySet],
    ) -> Result<Vec<UserError>, ClientError> {
        let input = SetInput {
            name: "available",
            reason: "correction",
            reference_document_uri: reference,
            quantities: rows
                .iter()
                .map(|r| QuantityInput {
                    inventory_item_id: &r.inventory_item_id,
                    location_id: &r.location_id,
                    quantity: r.quantity,
                    change_from_quantity: r.change_from,
                })
                .collect(),
        };
        let data = self
            .graphql(
                shop,
                token,
                SET_AVAILABLE_MUTATION,
                json!({ "input": input, "key": key }),
            )
            .await?;
        let payload = data
            .get("inventorySetQuantities")
            .filter(|p| !p.is_null())
            .ok_or_else(|| ClientError::BadResponse("inventorySetQuantities: no payload".into()))?;
        // `inventoryAdjustmentGroup` is null on a no-op as well as on refusal: not read.
        let payload: SetPayload = serde_json::from_value(payload.clone())
            .map_err(|e| ClientError::BadResponse(format!("inventorySetQuantities: {e}")))?;
        Ok(payload.user_errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "shpat_fake_inventory";
    const REFERENCE: &str = "gid://channel-sync/SyncRun/123";

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    fn item(n: u32, quantity: i64, change_from: Option<i64>) -> QuantitySet {
        QuantitySet {
            inventory_item_id: format!("gid://shopify/InventoryItem/100{n}"),
            location_id: "gid://shopify/Location/1".into(),
            quantity,
            change_from,
        }
    }

    /// The exact request for `rows` (item number, quantity, change from) under `key`.
    fn exact_request(key: &str, rows: &[(u32, i64, Option<i64>)]) -> wiremock::MockBuilder {
        let quantities: Vec<serde_json::Value> = rows
            .iter()
            .map(|&(n, quantity, change_from)| {
                json!({
                    "inventoryItemId": format!("gid://shopify/InventoryItem/100{n}"),
                    "locationId": "gid://shopify/Location/1",
                    "quantity": quantity,
                    "changeFromQuantity": change_from,
                })
            })
            .collect();
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", TOKEN))
            .and(body_json(json!({
                "query": SET_AVAILABLE_MUTATION,
                "variables": {
                    "key": key,
                    "input": {
                        "name": "available",
                        "reason": "correction",
                        "referenceDocumentUri": REFERENCE,
                        "quantities": quantities,
                    }
                }
            })))
    }

    fn answer(group: serde_json::Value, user_errors: serde_json::Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "data": {"inventorySetQuantities": {
                "inventoryAdjustmentGroup": group, "userErrors": user_errors}},
            "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}}
        }))
    }

    fn applied() -> ResponseTemplate {
        answer(
            json!({"id": "gid://shopify/InventoryAdjustmentGroup/9"}),
            json!([]),
        )
    }

    fn failed(code: &str, message: &str) -> ItemOutcome {
        ItemOutcome::Failed {
            code: code.into(),
            message: message.into(),
        }
    }

    async fn client_for(server: &MockServer) -> ShopifyClient {
        ShopifyClient::new(Some(server.uri()))
            .unwrap()
            .with_backoff_base(Duration::from_millis(1))
    }

    async fn set(
        server: &MockServer,
        key: &str,
        items: &[QuantitySet],
    ) -> Result<Vec<ItemOutcome>, ClientError> {
        client_for(server)
            .await
            .set_available(&shop(), &Secret::new(TOKEN), REFERENCE, key, items)
            .await
    }

    #[tokio::test]
    async fn all_rows_set_in_one_call() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 7, Some(5)), (2, 0, None)])
            .respond_with(applied())
            .expect(1)
            .mount(&server)
            .await;
        let outcomes = set(&server, "k1", &[item(1, 7, Some(5)), item(2, 0, None)])
            .await
            .unwrap();
        assert_eq!(outcomes, [ItemOutcome::Set, ItemOutcome::Set]);
    }

    #[tokio::test]
    async fn a_no_op_without_errors_is_success() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 7, None)])
            .respond_with(answer(json!(null), json!([])))
            .expect(1)
            .mount(&server)
            .await;
        let outcomes = set(&server, "k1", &[item(1, 7, None)]).await.unwrap();
        assert_eq!(outcomes, [ItemOutcome::Set]);
    }

    #[tokio::test]
    async fn a_refused_row_fails_alone_and_the_rest_is_resubmitted_under_a_derived_key() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 7, Some(5)), (2, 3, Some(9)), (3, 0, None)])
            .respond_with(answer(
                json!(null),
                json!([{"code": "CHANGE_FROM_QUANTITY_STALE",
                        "field": ["input", "quantities", "1", "changeFromQuantity"],
                        "message": "The changeFromQuantity value does not match persisted value."}]),
            ))
            .expect(1)
            .mount(&server)
            .await;
        exact_request("k1-r1", &[(1, 7, Some(5)), (3, 0, None)])
            .respond_with(applied())
            .expect(1)
            .mount(&server)
            .await;
        let outcomes = set(
            &server,
            "k1",
            &[item(1, 7, Some(5)), item(2, 3, Some(9)), item(3, 0, None)],
        )
        .await
        .unwrap();
        assert_eq!(
            outcomes,
            [
                ItemOutcome::Set,
                failed(
                    "CHANGE_FROM_QUANTITY_STALE",
                    "The changeFromQuantity value does not match persisted value."
                ),
                ItemOutcome::Set,
            ]
        );
    }

    #[tokio::test]
    async fn a_row_refused_in_the_resubmission_carries_its_call_down_with_it() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 1, None), (2, 2, None), (3, 3, None)])
            .respond_with(answer(
                json!(null),
                // Only the row index, no field below it [S].
                json!([{"code": "INVALID_INVENTORY_ITEM", "field": ["input", "quantities", "0"],
                        "message": "bad item"}]),
            ))
            .expect(1)
            .mount(&server)
            .await;
        exact_request("k1-r1", &[(2, 2, None), (3, 3, None)])
            .respond_with(answer(
                json!(null),
                // Index 1 of the resubmission is the third row: a bundle parent.
                json!([{"code": "NON_MUTABLE_INVENTORY_ITEM",
                        "field": ["input", "quantities", "1", "inventoryItemId"],
                        "message": "bundle"}]),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let outcomes = set(
            &server,
            "k1",
            &[item(1, 1, None), item(2, 2, None), item(3, 3, None)],
        )
        .await
        .unwrap();
        assert_eq!(
            outcomes,
            [
                failed("INVALID_INVENTORY_ITEM", "bad item"),
                not_applied(),
                failed("NON_MUTABLE_INVENTORY_ITEM", "bundle"),
            ]
        );
    }

    #[tokio::test]
    async fn an_error_naming_no_row_fails_every_row_without_resubmitting() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 1, None), (2, 2, Some(4))])
            .respond_with(answer(
                json!(null),
                json!([
                    {"code": "INVALID_REASON", "field": ["input", "reason"], "message": "bad reason"},
                    {"code": null, "field": null, "message": "and more"},
                    // An index outside the call names no row either [U].
                    {"code": "INVALID_LOCATION", "field": ["input", "quantities", "7", "locationId"],
                     "message": "where"},
                ]),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let outcomes = set(&server, "k1", &[item(1, 1, None), item(2, 2, Some(4))])
            .await
            .unwrap();
        let batch = failed("INVALID_REASON", "bad reason; and more; where");
        assert_eq!(outcomes, [batch.clone(), batch]);
    }

    #[tokio::test]
    async fn every_row_refused_means_no_resubmission() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 1, Some(0)), (2, 2, Some(0))])
            .respond_with(answer(
                json!(null),
                json!([
                    {"code": "CHANGE_FROM_QUANTITY_STALE", "field": ["input", "quantities", "0", "changeFromQuantity"], "message": "a"},
                    {"code": "CHANGE_FROM_QUANTITY_STALE", "field": ["input", "quantities", "1", "changeFromQuantity"], "message": "b"},
                    {"code": "SOMETHING_NEW", "field": ["input", "quantities", "1", "quantity"], "message": "c"},
                ]),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let outcomes = set(&server, "k1", &[item(1, 1, Some(0)), item(2, 2, Some(0))])
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [
                failed("CHANGE_FROM_QUANTITY_STALE", "a"),
                failed("CHANGE_FROM_QUANTITY_STALE", "b; c"),
            ]
        );
    }

    #[tokio::test]
    async fn more_than_250_rows_are_refused_without_a_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(applied())
            .expect(0)
            .mount(&server)
            .await;
        let items: Vec<QuantitySet> = (0..251).map(|n| item(n, 1, None)).collect();
        let err = set(&server, "k1", &items).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("at most 250")),
            "{err:?}"
        );
        assert_eq!(set(&server, "k1", &[]).await.unwrap(), []);
    }

    #[tokio::test]
    async fn exactly_250_rows_go_in_one_call() {
        let server = MockServer::start().await;
        let rows: Vec<(u32, i64, Option<i64>)> = (0..250).map(|n| (n, 1, None)).collect();
        exact_request("k1", &rows)
            .respond_with(applied())
            .expect(1)
            .mount(&server)
            .await;
        let items: Vec<QuantitySet> = (0..250).map(|n| item(n, 1, None)).collect();
        let outcomes = set(&server, "k1", &items).await.unwrap();
        assert_eq!(outcomes.len(), 250);
        assert!(outcomes.iter().all(|o| *o == ItemOutcome::Set));
    }

    #[tokio::test]
    async fn a_throttled_call_is_retried_with_the_same_key() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 7, None)])
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
            })))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        exact_request("k1", &[(1, 7, None)])
            .respond_with(applied())
            .expect(1)
            .mount(&server)
            .await;
        let outcomes = set(&server, "k1", &[item(1, 7, None)]).await.unwrap();
        assert_eq!(outcomes, [ItemOutcome::Set]);
    }

    #[tokio::test]
    async fn bad_answers_are_errors() {
        for (response, check) in [
            (
                ResponseTemplate::new(401),
                (|e: &ClientError| matches!(e, ClientError::Unauthorized))
                    as fn(&ClientError) -> bool,
            ),
            (
                ResponseTemplate::new(200).set_body_string("<html>login</html>"),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("not JSON")),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"data": {}})),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("no payload")),
            ),
            (
                ResponseTemplate::new(200)
                    .set_body_json(json!({"data": {"inventorySetQuantities": null}})),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("no payload")),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"data": {"inventorySetQuantities":
                    {"inventoryAdjustmentGroup": null}}})),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("userErrors")),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({
                    "errors": [{"message": "The @idempotent directive is required for this mutation but was not provided.",
                                "extensions": {"code": "BAD_REQUEST"}}]})),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("@idempotent")),
            ),
        ] {
            let server = MockServer::start().await;
            exact_request("k1", &[(1, 7, None)])
                .respond_with(response)
                .expect(1)
                .mount(&server)
                .await;
            let err = set(&server, "k1", &[item(1, 7, None)]).await.unwrap_err();
            assert!(check(&err), "{err:?}");
            assert!(!format!("{err:?}").contains(TOKEN));
        }
    }

    #[tokio::test]
    async fn a_failed_resubmission_is_an_error() {
        let server = MockServer::start().await;
        exact_request("k1", &[(1, 1, None), (2, 2, None)])
            .respond_with(answer(
                json!(null),
                json!([{"code": "INVALID_QUANTITY_NEGATIVE", "field": ["input", "quantities", "0", "quantity"],
                        "message": "negative"}]),
            ))
            .expect(1)
            .mount(&server)
            .await;
        exact_request("k1-r1", &[(2, 2, None)])
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let err = set(&server, "k1", &[item(1, 1, None), item(2, 2, None)])
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unavailable(_)), "{err:?}");
    }
}
