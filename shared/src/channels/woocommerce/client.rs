//! Connecting a WooCommerce store: the credentials check before a connection is saved, and
//! the webhook subscriptions.

use super::api::{has_next, Api};
use super::{WooCredentials, API_ROOT, WEBHOOK_TOPICS};
use crate::channels::rest;
use crate::channels::store::ConnectError;
use crate::channels::store_url::StoreUrl;
use crate::channels::ClientError;
use http::StatusCode;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The WooCommerce REST client. Cheap to clone; build the `reqwest::Client` with
/// [`crate::channels::store_url::store_client`] (no redirects, guarded resolver).
#[derive(Clone)]
pub struct WooClient {
    pub(crate) http: reqwest::Client,
}

/// What the connection check learnt about the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WooStoreInfo {
    /// The site name from the WordPress REST index.
    pub name: Option<String>,
    /// WooCommerce's version. Not read by [`WooClient::check_connection`] (see there): `None`.
    pub wc_version: Option<String>,
}

/// What [`WooClient::ensure_webhooks`] found and did, by topic. Each topic is in exactly
/// one list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookReport {
    /// Ours, already active and listed with our secret: nothing sent.
    #[serde(default)]
    pub existing: Vec<String>,
    #[serde(default)]
    pub created: Vec<String>,
    /// Ours, paused by an admin or disabled by WooCommerce after delivery failures, now active.
    #[serde(default)]
    pub reenabled: Vec<String>,
    /// Ours and active, but listed with another secret or with none: our secret was sent
    /// again (`PUT /webhooks/{id} {status:"active", secret}`). Absent in reports recorded
    /// before this field existed, hence `#[serde(default)]`.
    #[serde(default)]
    pub updated: Vec<String>,
}

/// One webhook of ours (same `delivery_url`) from the listing.
struct Listed {
    id: String,
    topic: String,
    /// Lowercased.
    status: String,
    /// The `secret` field, when the listing has one.
    secret: Option<String>,
}

const NOT_WORDPRESS: &str = "is not a WordPress site, or its REST API is disabled";
const NO_WC_API: &str =
    "WordPress answers but WooCommerce's REST API (wc/v3) is not available: is WooCommerce active?";
const WRONG_KEYS: &str = "WooCommerce rejected the consumer key and secret";
const READ_ONLY: &str = "the key is read-only: create a key with Read/Write permission";

fn unreachable(e: ClientError) -> ConnectError {
    ConnectError::Unreachable(match e {
        ClientError::Throttled { .. } => "the store is rate limiting us: try again later".into(),
        other => format!("the store could not be reached: {other}"),
    })
}

impl WooClient {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// Checks URL + keys before a connection is saved, in three steps, none with side effects:
    ///
    /// 1. `GET {url}/wp-json/` (no auth): the WordPress REST index. Not JSON (an HTML page, a
    ///    redirect) or 404 → [`ConnectError::NotTheChannel`]; JSON whose `namespaces` lacks
    ///    `wc/v3` → [`ConnectError::NoApi`]. The store name is the index's `name`.
    /// 2. `GET /wc/v3/orders?per_page=1&_fields=id` with the keys: 401/403 →
    ///    [`ConnectError::WrongCredentials`]. Reading orders is the permission the
    ///    connection needs, and it is cheap; `system_status` (which would give the WooCommerce
    ///    version) builds a whole environment report, with outbound HTTP tests and database
    ///    size queries, slow on large or struggling stores, so it is not used and
    ///    `wc_version` stays `None`.
    /// 3. `POST /wc/v3/webhooks/batch {}`: an empty batch changes nothing, but WooCommerce's
    ///    authentication refuses any write with a read-only key first (401
    ///    `woocommerce_rest_authentication_error` "The API key provided does not have write
    ///    permissions.", `class-wc-rest-authentication.php`) →
    ///    [`ConnectError::InsufficientPermissions`]; a 403 (the key's user may not manage
    ///    webhooks) likewise.
    ///
    /// Timeouts, connection failures, 5xx and rate limits → [`ConnectError::Unreachable`].
    pub async fn check_connection(
        &self,
        url: &StoreUrl,
        consumer_key: &str,
        consumer_secret: &str,
    ) -> Result<WooStoreInfo, ConnectError> {
        let not_wordpress = |why: String| {
            ConnectError::NotTheChannel(format!("{} {NOT_WORDPRESS} ({why})", url.as_str()))
        };
        // 1. The WordPress REST index, anonymously.
        let index = rest::call(
            self.http
                .get(url.join("/wp-json/"))
                .header(http::header::ACCEPT, "application/json"),
        )
        .await;
        let index = match index {
            Ok(reply) if reply.status.is_success() => reply.body,
            Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
                return Err(not_wordpress("/wp-json/ answers 404".into()))
            }
            Ok(reply)
                if reply.status == StatusCode::UNAUTHORIZED
                    || reply.status == StatusCode::FORBIDDEN =>
            {
                return Err(ConnectError::NoApi(format!(
                    "WordPress refuses anonymous access to its REST API index (a security plugin?), so WooCommerce's REST API cannot be checked: {}",
                    reply.message()
                )))
            }
            Ok(reply) => {
                return Err(not_wordpress(format!(
                    "/wp-json/ answers {}: {}",
                    reply.status,
                    reply.message()
                )))
            }
            Err(ClientError::BadResponse(m)) => return Err(not_wordpress(m)),
            Err(ClientError::NotFound) | Err(ClientError::Unauthorized) => {
                return Err(not_wordpress("/wp-json/ is not available".into()))
            }
            Err(e) => return Err(unreachable(e)),
        };
        let Some(namespaces) = index.get("namespaces").and_then(Value::as_array) else {
            return Err(not_wordpress(
                "/wp-json/ does not list REST namespaces".into(),
            ));
        };
        if !namespaces.iter().any(|n| n.as_str() == Some("wc/v3")) {
            return Err(ConnectError::NoApi(NO_WC_API.into()));
        }
        let name = index
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);

        let api = Api::new(
            self.http.clone(),
            url.clone(),
            consumer_key,
            consumer_secret,
        );
        // 2. An authenticated read.
        match api
            .get(
                &format!("{API_ROOT}/orders"),
                &[("per_page", "1"), ("_fields", "id")],
            )
            .await
        {
            Ok(reply) if reply.status.is_success() => {}
            Ok(reply)
                if reply.status == StatusCode::UNAUTHORIZED
                    || reply.status == StatusCode::FORBIDDEN =>
            {
                return Err(ConnectError::WrongCredentials(WRONG_KEYS.into()))
            }
            Ok(reply) => {
                return Err(ConnectError::NoApi(format!(
                    "WooCommerce's REST API answered {} to a read of orders: {}",
                    reply.status,
                    reply.message()
                )))
            }
            Err(ClientError::Unauthorized) => {
                return Err(ConnectError::WrongCredentials(WRONG_KEYS.into()))
            }
            Err(ClientError::BadResponse(m)) => {
                return Err(ConnectError::NoApi(format!(
                    "WooCommerce's REST API did not answer a read of orders as expected: {m}"
                )))
            }
            Err(e) => return Err(unreachable(e)),
        }
        // 3. Write access, without writing anything.
        match api
            .send(Method::POST, &format!("{API_ROOT}/webhooks/batch"), &json!({}))
            .await
        {
            Ok(reply) if reply.status.is_success() => {}
            Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
                let message = reply.message();
                return Err(if message.to_ascii_lowercase().contains("write permission") {
                    ConnectError::InsufficientPermissions(READ_ONLY.into())
                } else {
                    ConnectError::WrongCredentials(WRONG_KEYS.into())
                });
            }
            Ok(reply) if reply.status == StatusCode::FORBIDDEN => {
                return Err(ConnectError::InsufficientPermissions(format!(
                    "the key's WordPress user may not manage webhooks (it needs the Shop manager or Administrator role): {}",
                    reply.message()
                )))
            }
            Ok(reply) => {
                return Err(ConnectError::NoApi(format!(
                    "WooCommerce's webhooks API answered {}: {}",
                    reply.status,
                    reply.message()
                )))
            }
            Err(ClientError::Unauthorized) => {
                return Err(ConnectError::WrongCredentials(WRONG_KEYS.into()))
            }
            Err(ClientError::BadResponse(m)) => {
                return Err(ConnectError::NoApi(format!(
                    "WooCommerce's webhooks API did not answer as expected: {m}"
                )))
            }
            Err(e) => return Err(unreachable(e)),
        }
        Ok(WooStoreInfo {
            name,
            wc_version: None,
        })
    }

    /// Makes sure each of [`WEBHOOK_TOPICS`] has an active webhook of ours (same
    /// `delivery_url`). Lists first (`GET /webhooks?per_page=100`, every page), then: a topic
    /// with an active webhook of ours is left alone; one whose webhook is `paused` (by an
    /// admin) or `disabled` (by WooCommerce after more than 5 failed deliveries, §2.1) is
    /// re-enabled with `PUT /webhooks/{id} {status:"active", secret}`; a missing topic is
    /// created with `POST /webhooks {name, topic, delivery_url, secret, status:"active"}`.
    /// The secret is always sent (without it WooCommerce signs with a hash of the user, §2.1).
    /// Never creates a duplicate of an existing webhook of ours.
    ///
    /// Secret drift: an active webhook of ours is left alone only when the listing shows
    /// our secret. One listed with another secret (the connection was re-created with a new
    /// one) or with no `secret` field gets `PUT /webhooks/{id} {status:"active", secret}`
    /// (reported in [`WebhookReport::updated`]): a webhook signing with a secret we do not
    /// hold would have every delivery refused. Note: WooCommerce's own `wc/v3` webhook
    /// responses do not include `secret` (the v2/v3 controller leaves it out of the
    /// response, though its schema lists it for the `edit` context), so against a stock
    /// store every active webhook of ours is re-sent our secret on each call; the PUT is
    /// idempotent and does not ping (the webhook is already active).
    pub async fn ensure_webhooks(
        &self,
        creds: &WooCredentials,
        delivery_url: &str,
    ) -> Result<WebhookReport, ClientError> {
        let api =
            Api::from_credentials(self.http.clone(), creds).map_err(ClientError::BadResponse)?;
        let path = format!("{API_ROOT}/webhooks");
        let mut ours: Vec<Listed> = Vec::new();
        let mut page = 1u64;
        loop {
            let page_text = page.to_string();
            let reply = api
                .get(&path, &[("per_page", "100"), ("page", &page_text)])
                .await?;
            let more_reply = reply.clone();
            let body = reply.ok()?;
            let hooks = body.as_array().ok_or_else(|| {
                ClientError::BadResponse("the webhooks list is not an array".into())
            })?;
            for hook in hooks {
                if hook.get("delivery_url").and_then(Value::as_str) != Some(delivery_url) {
                    continue;
                }
                let Some(id) = super::order::id_string(hook.get("id")) else {
                    continue;
                };
                let topic = hook.get("topic").and_then(Value::as_str).unwrap_or("");
                let status = hook.get("status").and_then(Value::as_str).unwrap_or("");
                ours.push(Listed {
                    id,
                    topic: topic.to_owned(),
                    status: status.to_ascii_lowercase(),
                    secret: hook
                        .get("secret")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
            if !has_next(&more_reply, page, hooks.len()) || hooks.is_empty() || page >= 100 {
                break;
            }
            page += 1;
        }

        let activate = json!({"status": "active", "secret": creds.webhook_secret});
        let mut report = WebhookReport::default();
        for topic in WEBHOOK_TOPICS {
            let mine: Vec<&Listed> = ours.iter().filter(|h| h.topic == *topic).collect();
            let active: Vec<&Listed> = mine
                .iter()
                .copied()
                .filter(|h| h.status == "active")
                .collect();
            if !active.is_empty() {
                // Every active one of ours that does not show our secret is given it: one
                // signing with another secret would have its deliveries refused.
                let mut updated = false;
                for hook in active {
                    if hook.secret.as_deref() == Some(creds.webhook_secret.as_str()) {
                        continue;
                    }
                    api.send(Method::PUT, &format!("{path}/{}", hook.id), &activate)
                        .await?
                        .ok()?;
                    updated = true;
                }
                if updated {
                    report.updated.push((*topic).to_owned());
                } else {
                    report.existing.push((*topic).to_owned());
                }
            } else if let Some(hook) = mine.first() {
                api.send(Method::PUT, &format!("{path}/{}", hook.id), &activate)
                    .await?
                    .ok()?;
                report.reenabled.push((*topic).to_owned());
            } else {
                api.send(
                    Method::POST,
                    &path,
                    &json!({
                        "name": format!("channel-sync {topic}"),
                        "topic": topic,
                        "delivery_url": delivery_url,
                        "secret": creds.webhook_secret,
                        "status": "active",
                    }),
                )
                .await?
                .ok()?;
                report.created.push((*topic).to_owned());
            }
        }
        Ok(report)
    }
}
