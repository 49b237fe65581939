//! Step 3: one `fulfillmentCreate` per location group, with the tracking.

use super::*;

/// The created fulfillment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentCreated {
    /// `gid://shopify/Fulfillment/N`.
    pub id: String,
    /// `FulfillmentStatus` as sent (`SUCCESS`, …), kept as text: the caller only logs it.
    pub status: String,
}

/// One `userErrors` entry (`UserError` has no `code` on this payload [C]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserError {
    #[serde(default)]
    pub field: Option<Vec<String>>,
    pub message: String,
}

/// Why a fulfillment was not created.
#[derive(Debug, thiserror::Error)]
pub enum FulfillmentError {
    /// Shopify refused the fulfillment (`userErrors`: e.g. already fulfilled, not fulfillable,
    /// quantity too high). **Permanent**: nothing was created and the same request gets the same
    /// answer; re-read the fulfillment orders and re-plan, or give up and alert.
    #[error("Shopify refused the fulfillment: {}", messages(.0))]
    Rejected(Vec<UserError>),
    /// Refused before sending, because Shopify would misread it (an empty line list means "the
    /// whole fulfillment order"). **Permanent**: a bug in the caller.
    #[error("invalid fulfillment request: {0}")]
    Invalid(String),
    /// The call itself failed; classified as for every API call (`Unavailable`/`Throttled` are
    /// worth retrying — after re-reading the fulfillment orders, as the request may have been
    /// applied).
    #[error(transparent)]
    Client(#[from] ClientError),
}

pub(super) fn messages(errors: &[UserError]) -> String {
    errors
        .iter()
        .map(|e| match &e.field {
            Some(field) if !field.is_empty() => format!("{} ({})", e.message, field.join(".")),
            _ => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `message: null`: no note on the fulfillment. `FulfillmentInput` keeps to `trackingInfo`
/// with `number`/`url` (never the plural `numbers`/`urls`: Shopify refuses a mix [C]).
pub(super) const FULFILLMENT_CREATE_MUTATION: &str = "mutation ChannelSyncFulfillmentCreate($fulfillment: FulfillmentInput!) { fulfillmentCreate(fulfillment: $fulfillment, message: null) { fulfillment { id status } userErrors { field message } } }";

/// Shopify's limit for any input array [C].
pub(super) const MAX_INPUT_ITEMS: usize = 250;

/// The `FulfillmentInput` for one plan group, or why it must not be sent.
pub(super) fn fulfillment_input(
    plan_group: &[(String, Vec<(String, u32)>)],
    tracking: &Tracking,
    notify_customer: bool,
) -> Result<Value, FulfillmentError> {
    let invalid = |m: String| Err(FulfillmentError::Invalid(m));
    if plan_group.is_empty() {
        return invalid("no fulfillment orders".into());
    }
    if plan_group.len() > MAX_INPUT_ITEMS {
        return invalid(format!("more than {MAX_INPUT_ITEMS} fulfillment orders"));
    }
    let mut by_fo = Vec::with_capacity(plan_group.len());
    for (fo_id, lines) in plan_group {
        if fo_id.trim().is_empty() {
            return invalid("a fulfillment order id is empty".into());
        }
        // Shopify reads an empty list as "fulfil all of it": never send one by accident.
        if lines.is_empty() {
            return invalid(format!("{fo_id} has no lines"));
        }
        if lines.len() > MAX_INPUT_ITEMS {
            return invalid(format!("{fo_id} has more than {MAX_INPUT_ITEMS} lines"));
        }
        let mut items = Vec::with_capacity(lines.len());
        for (line_id, quantity) in lines {
            if line_id.trim().is_empty() || *quantity == 0 {
                return invalid(format!("{fo_id} has an empty line id or a zero quantity"));
            }
            items.push(json!({ "id": line_id, "quantity": quantity }));
        }
        by_fo.push(json!({ "fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": items }));
    }
    let number = tracking.number.as_str();
    let mut info = Map::new();
    let company = tracking.company.trim();
    if !company.is_empty() {
        info.insert("company".into(), json!(company));
    }
    info.insert("number".into(), json!(number));
    if let Some(url) = tracking
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        info.insert("url".into(), json!(url));
    }
    Ok(json!({
        "lineItemsByFulfillmentOrder": by_fo,
        "notifyCustomer": notify_customer,
        "trackingInfo": info,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawCreatePayload {
    fulfillment: Option<RawFulfillment>,
    user_errors: Option<Vec<UserError>>,
}

#[derive(Deserialize)]
pub(super) struct RawFulfillment {
    id: Option<String>,
    status: Option<String>,
}

impl ShopifyClient {
    /// Creates one fulfillment with tracking for one [`PlanGroup`]'s `by_fulfillment_order`
    /// (all of one location). `notify_customer` sends Shopify's shipping confirmation.
    pub async fn create_fulfillment(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        plan_group: &[(String, Vec<(String, u32)>)],
        tracking: &Tracking,
        notify_customer: bool,
    ) -> Result<FulfillmentCreated, FulfillmentError> {
        let input = fulfillment_input(plan_group, tracking, notify_customer)?;
        let data = self
            .graphql(
                shop,
                token,
                FULFILLMENT_CREATE_MUTATION,
                json!({ "fulfillment": input }),
            )
            .await?;
        let payload = match data.get("fulfillmentCreate") {
            Some(Value::Null) | None => return Err(bad("fulfillmentCreate is missing").into()),
            Some(p) => p,
        };
        let payload: RawCreatePayload = serde_json::from_value(payload.clone())
            .map_err(|e| bad(format!("fulfillmentCreate: {e}")))?;
        let user_errors = payload
            .user_errors
            .ok_or_else(|| bad("fulfillmentCreate.userErrors is missing"))?;
        if !user_errors.is_empty() {
            return Err(FulfillmentError::Rejected(user_errors));
        }
        let fulfillment = payload
            .fulfillment
            .ok_or_else(|| bad("fulfillmentCreate returned no fulfillment and no userErrors"))?;
        match (fulfillment.id, fulfillment.status) {
            (Some(id), Some(status)) if !id.is_empty() => Ok(FulfillmentCreated { id, status }),
            _ => Err(bad("fulfillment.id or fulfillment.status is missing").into()),
        }
    }
}
