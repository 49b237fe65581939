//! A shop's webhook subscriptions through TikTok's Event API (reference §1.3): list first
//! (`GET /event/202309/webhooks`), then `PUT` each missing or misdirected event type with our
//! address `{public_url}/webhooks/tiktok`. Used on connect and by the daily health check.

use super::client::{ApiError, ShopAuth, TikTokClient};
use super::credentials::TikTokCredentials;
use crate::channels::adapter::HealthReport;
use http::Method;
use serde_json::{json, Value};

pub const EVENTS_PATH: &str = "/event/202309/webhooks";

/// The event types we subscribe.
pub const SUBSCRIBED: [&str; 5] = [
    "ORDER_STATUS_CHANGE",
    "CANCELLATION_STATUS_CHANGE",
    "RECIPIENT_ADDRESS_UPDATE",
    "SELLER_DEAUTHORIZATION",
    "UPCOMING_AUTHORIZATION_EXPIRATION",
];

/// Where TikTok delivers our webhooks.
pub fn address(public_url: &str) -> String {
    format!("{}/webhooks/tiktok", public_url.trim_end_matches('/'))
}

/// Lists the shop's subscriptions and creates (or re-points) the missing ones.
pub async fn ensure_events(
    client: &TikTokClient,
    credentials: &TikTokCredentials,
    public_url: &str,
) -> Result<HealthReport, ApiError> {
    let auth = ShopAuth {
        access_token: &credentials.access_token,
        cipher: Some(&credentials.shop_cipher),
    };
    let ours = address(public_url);
    let data = client
        .call(Method::GET, EVENTS_PATH, &[], None, auth)
        .await?;
    let existing: Vec<(String, String)> = data
        .get("webhooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|w| {
            Some((
                w.get("event_type")?.as_str()?.to_owned(),
                w.get("address")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut report = HealthReport::default();
    for event in SUBSCRIBED {
        if existing.iter().any(|(e, a)| e == event && *a == ours) {
            report.existing.push(event.to_owned());
            continue;
        }
        let body = json!({"address": ours, "event_type": event});
        client
            .call(Method::PUT, EVENTS_PATH, &[], Some(&body), auth)
            .await?;
        if existing.iter().any(|(e, _)| e == event) {
            report.updated.push(event.to_owned());
        } else {
            report.created.push(event.to_owned());
        }
    }
    Ok(report)
}
