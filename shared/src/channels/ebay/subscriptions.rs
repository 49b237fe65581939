//! eBay's Notification API set-up for one seller (reference §2.1): the app's destination (our
//! endpoint `{public_url}/webhooks/ebay` with the verification token; eBay challenges it
//! before accepting it) and the seller's `ORDER_CONFIRMATION` subscription to it. Listed
//! first, created only when missing, switched back on when eBay disabled it (a destination
//! eBay marked `MARKED_DOWN` after failed deliveries is set `ENABLED` again). Run after the
//! install and by the daily webhook health check.
//!
//! Tokens ([U], reference §6): destinations belong to the app and are managed with the
//! application token; `ORDER_CONFIRMATION` is a user-context topic, so its subscription is
//! made with the seller's user token.

use super::client::EbayClient;
use super::verifier::ORDER_CONFIRMATION;
use crate::channels::adapter::HealthReport;
use crate::channels::rest::Reply;
use crate::channels::ClientError;
use crate::ports::Secret;
use serde_json::{json, Value};

/// Our destination's name at eBay.
pub const DESTINATION_NAME: &str = "channel-sync";

fn id_of(reply: &Reply, field: &str) -> Option<String> {
    reply
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            reply
                .body
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

fn succeeded(reply: Reply, what: &str) -> Result<Reply, ClientError> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    match reply.status.as_u16() {
        401 | 403 => Err(ClientError::Unauthorized),
        status => Err(ClientError::BadResponse(format!(
            "eBay refused to {what} ({status}): {}",
            reply
                .body
                .pointer("/errors/0/message")
                .and_then(Value::as_str)
                .map(crate::channels::rest::snippet)
                .unwrap_or_else(|| "no reason given".into())
        ))),
    }
}

/// Makes sure our destination exists and is enabled, and that the seller's
/// `ORDER_CONFIRMATION` subscription points at it and is enabled.
pub async fn ensure(
    client: &EbayClient,
    app_token: &Secret,
    user_token: &Secret,
    endpoint: &str,
    verification_token: &Secret,
) -> Result<HealthReport, ClientError> {
    let mut report = HealthReport::default();
    let destinations = client
        .notification_list(app_token, "destination", "destinations")
        .await?;
    let ours = destinations.iter().find(|d| {
        d.pointer("/deliveryConfig/endpoint")
            .and_then(Value::as_str)
            == Some(endpoint)
    });
    let config = json!({"endpoint": endpoint, "verificationToken": verification_token.expose()});
    let destination_id = match ours {
        Some(d) => {
            let id = d
                .get("destinationId")
                .and_then(Value::as_str)
                .ok_or_else(|| ClientError::BadResponse("a destination has no id".into()))?
                .to_owned();
            if d.get("status").and_then(Value::as_str) == Some("ENABLED") {
                report.existing.push("destination".into());
            } else {
                let body = json!({"name": DESTINATION_NAME, "status": "ENABLED", "deliveryConfig": config});
                let reply = client
                    .notification_put(app_token, &format!("destination/{id}"), &body)
                    .await?;
                succeeded(reply, "re-enable the destination")?;
                tracing::warn!(destination = %id, "eBay had disabled our destination: enabled again");
                report.reenabled.push("destination".into());
            }
            id
        }
        None => {
            let body =
                json!({"name": DESTINATION_NAME, "status": "ENABLED", "deliveryConfig": config});
            let reply = client
                .notification_post(app_token, "destination", &body)
                .await?;
            let reply = succeeded(reply, "create the destination")?;
            report.created.push("destination".into());
            id_of(&reply, "destinationId")
                .ok_or_else(|| ClientError::BadResponse("the new destination has no id".into()))?
        }
    };
    let subscriptions = client
        .notification_list(user_token, "subscription", "subscriptions")
        .await?;
    let existing = subscriptions.iter().find(|s| {
        s.get("topicId").and_then(Value::as_str) == Some(ORDER_CONFIRMATION)
            && s.get("destinationId").and_then(Value::as_str) == Some(destination_id.as_str())
    });
    match existing {
        Some(s) if s.get("status").and_then(Value::as_str) == Some("ENABLED") => {
            report.existing.push(ORDER_CONFIRMATION.into());
        }
        Some(s) => {
            let id = s
                .get("subscriptionId")
                .and_then(Value::as_str)
                .ok_or_else(|| ClientError::BadResponse("a subscription has no id".into()))?;
            let reply = client
                .notification_post(user_token, &format!("subscription/{id}/enable"), &json!({}))
                .await?;
            succeeded(reply, "enable the ORDER_CONFIRMATION subscription")?;
            report.reenabled.push(ORDER_CONFIRMATION.into());
        }
        None => {
            let body = json!({
                "topicId": ORDER_CONFIRMATION,
                "status": "ENABLED",
                "destinationId": destination_id,
                "payload": {"format": "JSON", "schemaVersion": "1.0", "deliveryProtocol": "HTTPS"},
            });
            let reply = client
                .notification_post(user_token, "subscription", &body)
                .await?;
            succeeded(reply, "subscribe to ORDER_CONFIRMATION")?;
            report.created.push(ORDER_CONFIRMATION.into());
        }
    }
    Ok(report)
}
