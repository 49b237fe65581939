//! Shop-scoped webhook subscriptions: list them, create one, and make sure the order topics
//! point at our endpoint without ever creating a duplicate.
//!
//! Wire shape: `/work/shopify-graphql-notes.md` §1. At 2026-10 the URL is read from and
//! written to `uri` (`endpoint` and `callbackUrl` are deprecated) [C];
//! `WebhookSubscriptionCreatePayload.userErrors` is `{ field, message }` with no `code` [C].
//! `webhookSubscriptions` returns only shop-scoped subscriptions, not the app-scoped ones
//! declared in `shopify.app.toml` [C].

use super::locations::Paged;
use super::ShopifyClient;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use serde::Deserialize;
use serde_json::json;

/// The `WebhookSubscriptionTopic` values channel-sync needs: the order lifecycle (their REST
/// names `orders/create`, `orders/updated`, `orders/cancelled` are what
/// [`super::interpret`] handles) and `app/uninstalled`. Names per the reference §1 [C].
/// `ORDERS_PAID` (also handled by `interpret`) is not subscribed: `orders/updated` is expected
/// to fire for every change to an order, payment included [U: not confirmed in the notes], and
/// the poller catches anything missed.
pub const ORDER_TOPICS: &[&str] = &[
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_CANCELLED",
    "APP_UNINSTALLED",
];

/// One shop-scoped webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The subscription's GID.
    pub id: String,
    /// The `WebhookSubscriptionTopic` enum name, e.g. `ORDERS_CREATE`.
    pub topic: String,
    /// Where Shopify delivers: an HTTPS URL, `pubsub://…` or an EventBridge ARN.
    pub uri: String,
}

/// What [`ShopifyClient::ensure_subscriptions`] found and did, as topic names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnsureReport {
    /// Topics that already had a subscription to the URI.
    pub existing: Vec<String>,
    /// Topics subscribed by this call.
    pub created: Vec<String>,
}

pub(super) const SUBSCRIPTIONS_QUERY: &str = "query ChannelSyncWebhookSubscriptions($first: Int!, $after: String) { webhookSubscriptions(first: $first, after: $after) { nodes { id topic uri } pageInfo { hasNextPage endCursor } } }";

pub(super) const CREATE_SUBSCRIPTION_MUTATION: &str = "mutation ChannelSyncCreateWebhook($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) { webhookSubscription { id topic uri } userErrors { field message } } }";

const SUBSCRIPTIONS_PAGE_SIZE: u32 = 250;

/// A shop has a handful of subscriptions; the bound only stops a misbehaving server.
pub(super) const MAX_SUBSCRIPTION_PAGES: usize = 10;

#[derive(Deserialize)]
struct RawSubscription {
    id: Option<String>,
    topic: Option<String>,
    uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatePayload {
    webhook_subscription: Option<serde_json::Value>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct UserError {
    #[serde(default)]
    field: Option<Vec<String>>,
    message: Option<String>,
}

fn subscription(node: &serde_json::Value) -> Result<Subscription, ClientError> {
    let raw = RawSubscription::deserialize(node)
        .map_err(|e| ClientError::BadResponse(format!("webhook subscription: {e}")))?;
    let id = raw
        .id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ClientError::BadResponse("a webhook subscription has no id".into()))?;
    let missing =
        |field: &str| ClientError::BadResponse(format!("webhook subscription {id} has no {field}"));
    Ok(Subscription {
        topic: raw.topic.ok_or_else(|| missing("topic"))?,
        // `uri: String!` at 2026-10; a null one would be a subscription we cannot match, so it
        // is an error rather than an empty string that could never equal ours.
        uri: raw.uri.ok_or_else(|| missing("uri"))?,
        id,
    })
}

impl ShopifyClient {
    /// Every shop-scoped webhook subscription, following cursors (at most
    /// [`MAX_SUBSCRIPTION_PAGES`] pages).
    pub async fn subscriptions(
        &self,
        shop: &ShopDomain,
        token: &Secret,
    ) -> Result<Vec<Subscription>, ClientError> {
        let paged = Paged {
            query: SUBSCRIPTIONS_QUERY,
            field: "webhookSubscriptions",
            page_size: SUBSCRIPTIONS_PAGE_SIZE,
            max_pages: MAX_SUBSCRIPTION_PAGES,
        };
        self.all_nodes(shop, token, &paged, subscription).await
    }

    /// Subscribes `uri` to `topic` (a `WebhookSubscriptionTopic` name) with JSON payloads.
    ///
    /// Shopify's `userErrors` come back as [`ClientError::BadResponse`] carrying every message
    /// and its field path: `ClientError` has no variant for a refused input, and the caller can
    /// do nothing but show them. Creating blindly duplicates subscriptions (one delivery per
    /// subscription); use [`ShopifyClient::ensure_subscriptions`].
    pub async fn create_subscription(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        topic: &str,
        uri: &str,
    ) -> Result<Subscription, ClientError> {
        let data = self
            .graphql(
                shop,
                token,
                CREATE_SUBSCRIPTION_MUTATION,
                json!({ "topic": topic, "sub": { "uri": uri, "format": "JSON" } }),
            )
            .await?;
        let payload = match data.get("webhookSubscriptionCreate") {
            None | Some(serde_json::Value::Null) => {
                return Err(ClientError::BadResponse(
                    "the response has no webhookSubscriptionCreate".into(),
                ))
            }
            Some(v) => CreatePayload::deserialize(v)
                .map_err(|e| ClientError::BadResponse(format!("webhookSubscriptionCreate: {e}")))?,
        };
        if !payload.user_errors.is_empty() {
            let messages: Vec<String> = payload
                .user_errors
                .iter()
                .map(|e| {
                    let message = e.message.as_deref().unwrap_or("(no message)");
                    match e.field.as_deref() {
                        Some(path) if !path.is_empty() => format!("{}: {message}", path.join(".")),
                        _ => message.to_owned(),
                    }
                })
                .collect();
            return Err(ClientError::BadResponse(format!(
                "Shopify refused the {topic} subscription: {}",
                messages.join("; ")
            )));
        }
        match payload.webhook_subscription {
            Some(node) if !node.is_null() => subscription(&node),
            _ => Err(ClientError::BadResponse(
                "webhookSubscriptionCreate returned no subscription and no userErrors".into(),
            )),
        }
    }

    /// Makes sure each of `topics` has a subscription delivering to `uri`: lists the shop's
    /// subscriptions first and creates only the missing (topic, uri) pairs, so running it again
    /// changes nothing. A topic subscribed to some other URI is left alone (that subscription
    /// may belong to another environment) and gets one for `uri` as well.
    ///
    /// URIs are compared exactly as stored; Shopify echoes the URI it was given [U], so pass
    /// the same spelling every time. On an error part-way, subscriptions created so far stay;
    /// the next run lists them as existing. Two concurrent runs for one shop can both create
    /// the same pair: callers run this once per shop at a time (connect / reconnect).
    /// App-scoped subscriptions from `shopify.app.toml` are not listed by Shopify here, so a
    /// topic also declared there would be delivered twice.
    /// Subscribes `shop` to every topic we use, delivered to `{public_url}/webhooks/shopify`
    /// (list first, create only the missing).
    pub async fn subscribe_ours(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        public_url: &str,
    ) -> Result<crate::channels::adapter::HealthReport, ClientError> {
        let uri = format!("{public_url}/webhooks/shopify");
        // The order lifecycle, then the fulfillment-order topics that move orders between
        // locations (moves.rs).
        let topics: Vec<&str> = ORDER_TOPICS
            .iter()
            .chain(super::FULFILLMENT_ORDER_SUBSCRIPTIONS)
            .copied()
            .collect();
        let report = self
            .ensure_subscriptions(shop, token, &topics, &uri)
            .await?;
        Ok(crate::channels::adapter::HealthReport {
            existing: report.existing,
            created: report.created,
            ..Default::default()
        })
    }

    pub async fn ensure_subscriptions(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        topics: &[&str],
        uri: &str,
    ) -> Result<EnsureReport, ClientError> {
        let current = self.subscriptions(shop, token).await?;
        let mut report = EnsureReport::default();
        for &topic in topics {
            let done = |t: &String| t == topic;
            if report.existing.iter().any(done) || report.created.iter().any(done) {
                continue; // the same topic twice in `topics`
            }
            if current.iter().any(|s| s.topic == topic && s.uri == uri) {
                report.existing.push(topic.to_owned());
            } else {
                self.create_subscription(shop, token, topic, uri).await?;
                report.created.push(topic.to_owned());
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "shpat_fake_webhooks";
    const URI: &str = "https://wms.example.com/webhooks/shopify";

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    fn client(server: &MockServer) -> ShopifyClient {
        ShopifyClient::new(Some(server.uri())).unwrap()
    }

    fn exact(body: serde_json::Value) -> wiremock::MockBuilder {
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", TOKEN))
            .and(body_json(body))
    }

    fn list_request(after: Option<&str>) -> serde_json::Value {
        json!({"query": SUBSCRIPTIONS_QUERY, "variables": {"first": 250, "after": after}})
    }

    fn create_request(topic: &str) -> serde_json::Value {
        json!({"query": CREATE_SUBSCRIPTION_MUTATION,
               "variables": {"topic": topic, "sub": {"uri": URI, "format": "JSON"}}})
    }

    fn sub(n: u32, topic: &str, uri: &str) -> serde_json::Value {
        json!({"id": format!("gid://shopify/WebhookSubscription/{n}"), "topic": topic, "uri": uri})
    }

    fn created(n: u32, topic: &str) -> serde_json::Value {
        json!({"data": {"webhookSubscriptionCreate": {
            "webhookSubscription": sub(n, topic, URI), "userErrors": []}}})
    }

    async fn mount_list_two_pages(server: &MockServer) {
        exact(list_request(None))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "webhookSubscriptions": {
                    "nodes": [sub(1, "ORDERS_CREATE", URI),
                              sub(2, "ORDERS_UPDATED", "https://staging.example.com/webhooks/shopify")],
                    "pageInfo": {"hasNextPage": true, "endCursor": "w-cur-1"}}}})))
            .expect(1)
            .mount(server)
            .await;
        exact(list_request(Some("w-cur-1")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "webhookSubscriptions": {
                    "nodes": [sub(3, "PRODUCTS_UPDATE", URI)],
                    "pageInfo": {"hasNextPage": false, "endCursor": "w-cur-2"}}}})))
            .expect(1)
            .mount(server)
            .await;
    }

    #[test]
    fn order_topics_are_the_graphql_enum_names() {
        assert_eq!(
            ORDER_TOPICS,
            [
                "ORDERS_CREATE",
                "ORDERS_UPDATED",
                "ORDERS_CANCELLED",
                "APP_UNINSTALLED"
            ]
        );
    }

    #[tokio::test]
    async fn lists_two_pages_with_the_exact_requests() {
        let server = MockServer::start().await;
        mount_list_two_pages(&server).await;
        let subs = client(&server)
            .subscriptions(&shop(), &Secret::new(TOKEN))
            .await
            .unwrap();
        assert_eq!(
            subs,
            vec![
                Subscription {
                    id: "gid://shopify/WebhookSubscription/1".into(),
                    topic: "ORDERS_CREATE".into(),
                    uri: URI.into()
                },
                Subscription {
                    id: "gid://shopify/WebhookSubscription/2".into(),
                    topic: "ORDERS_UPDATED".into(),
                    uri: "https://staging.example.com/webhooks/shopify".into()
                },
                Subscription {
                    id: "gid://shopify/WebhookSubscription/3".into(),
                    topic: "PRODUCTS_UPDATE".into(),
                    uri: URI.into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn create_sends_the_exact_mutation() {
        let server = MockServer::start().await;
        exact(create_request("ORDERS_UPDATED"))
            .respond_with(ResponseTemplate::new(200).set_body_json(created(7, "ORDERS_UPDATED")))
            .expect(1)
            .mount(&server)
            .await;
        let s = client(&server)
            .create_subscription(&shop(), &Secret::new(TOKEN), "ORDERS_UPDATED", URI)
            .await
            .unwrap();
        assert_eq!(
            s,
            Subscription {
                id: "gid://shopify/WebhookSubscription/7".into(),
                topic: "ORDERS_UPDATED".into(),
                uri: URI.into()
            }
        );
    }

    #[tokio::test]
    async fn user_errors_carry_every_message() {
        let server = MockServer::start().await;
        exact(create_request("ORDERS_CREATE"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "webhookSubscriptionCreate": {"webhookSubscription": null, "userErrors": [
                {"field": ["webhookSubscription", "uri"],
                 "message": "Address for this topic has already been taken"},
                {"field": null, "message": "Something else"}
            ]}}})))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .create_subscription(&shop(), &Secret::new(TOKEN), "ORDERS_CREATE", URI)
            .await
            .unwrap_err();
        match err {
            ClientError::BadResponse(m) => {
                assert_eq!(
                    m,
                    "Shopify refused the ORDERS_CREATE subscription: webhookSubscription.uri: \
                     Address for this topic has already been taken; Something else"
                );
                assert!(!m.contains(TOKEN));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn create_without_subscription_or_errors_is_a_bad_response() {
        for (body, needle) in [
            (
                json!({"data": {"webhookSubscriptionCreate": {"webhookSubscription": null, "userErrors": []}}}),
                "no subscription and no userErrors",
            ),
            (json!({"data": {}}), "no webhookSubscriptionCreate"),
            (
                json!({"data": {"webhookSubscriptionCreate": {"webhookSubscription":
                    {"id": "gid://shopify/WebhookSubscription/7", "topic": "ORDERS_CREATE"}, "userErrors": []}}}),
                "has no uri",
            ),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .expect(1)
                .mount(&server)
                .await;
            let err = client(&server)
                .create_subscription(&shop(), &Secret::new(TOKEN), "ORDERS_CREATE", URI)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ClientError::BadResponse(m) if m.contains(needle)),
                "{needle}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn ensure_creates_only_the_missing_pairs() {
        let server = MockServer::start().await;
        mount_list_two_pages(&server).await;
        // ORDERS_CREATE already points at URI: must not be created again.
        exact(create_request("ORDERS_CREATE"))
            .respond_with(ResponseTemplate::new(200).set_body_json(created(9, "ORDERS_CREATE")))
            .expect(0)
            .mount(&server)
            .await;
        // ORDERS_UPDATED exists only for another URI: created once for ours.
        for (n, topic) in [
            (10, "ORDERS_UPDATED"),
            (11, "ORDERS_CANCELLED"),
            (12, "APP_UNINSTALLED"),
        ] {
            exact(create_request(topic))
                .respond_with(ResponseTemplate::new(200).set_body_json(created(n, topic)))
                .expect(1)
                .mount(&server)
                .await;
        }
        let mut topics = ORDER_TOPICS.to_vec();
        topics.push("ORDERS_CANCELLED"); // asked twice, created once
        let report = client(&server)
            .ensure_subscriptions(&shop(), &Secret::new(TOKEN), &topics, URI)
            .await
            .unwrap();
        assert_eq!(
            report,
            EnsureReport {
                existing: vec!["ORDERS_CREATE".into()],
                created: vec![
                    "ORDERS_UPDATED".into(),
                    "ORDERS_CANCELLED".into(),
                    "APP_UNINSTALLED".into()
                ],
            }
        );
    }

    #[tokio::test]
    async fn ensure_with_everything_present_creates_nothing() {
        let server = MockServer::start().await;
        exact(list_request(None))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "webhookSubscriptions": {
                    "nodes": [sub(1, "ORDERS_CREATE", URI), sub(2, "APP_UNINSTALLED", URI)],
                    "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_json(create_request("ORDERS_CREATE")))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
        let report = client(&server)
            .ensure_subscriptions(
                &shop(),
                &Secret::new(TOKEN),
                &["ORDERS_CREATE", "APP_UNINSTALLED"],
                URI,
            )
            .await
            .unwrap();
        assert_eq!(report.created, Vec::<String>::new());
        assert_eq!(report.existing, vec!["ORDERS_CREATE", "APP_UNINSTALLED"]);
    }

    #[tokio::test]
    async fn ensure_stops_at_the_first_refusal() {
        let server = MockServer::start().await;
        exact(list_request(None))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "webhookSubscriptions": {"nodes": [], "pageInfo": {"hasNextPage": false}}}})))
            .expect(1)
            .mount(&server)
            .await;
        exact(create_request("ORDERS_CREATE"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "webhookSubscriptionCreate": {"webhookSubscription": null, "userErrors": [
                    {"field": ["webhookSubscription", "uri"], "message": "Address is invalid"}]}}})))
            .expect(1)
            .mount(&server)
            .await;
        exact(create_request("ORDERS_UPDATED"))
            .respond_with(ResponseTemplate::new(200).set_body_json(created(2, "ORDERS_UPDATED")))
            .expect(0)
            .mount(&server)
            .await;
        let err = client(&server)
            .ensure_subscriptions(
                &shop(),
                &Secret::new(TOKEN),
                &["ORDERS_CREATE", "ORDERS_UPDATED"],
                URI,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("Address is invalid")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn unauthorized_listing_creates_nothing() {
        let server = MockServer::start().await;
        exact(list_request(None))
            .respond_with(ResponseTemplate::new(401))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_json(create_request("ORDERS_CREATE")))
            .respond_with(ResponseTemplate::new(200).set_body_json(created(1, "ORDERS_CREATE")))
            .expect(0)
            .mount(&server)
            .await;
        let err = client(&server)
            .ensure_subscriptions(&shop(), &Secret::new(TOKEN), ORDER_TOPICS, URI)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unauthorized), "{err:?}");
    }

    #[tokio::test]
    async fn malformed_subscription_nodes_are_bad_responses() {
        let server = MockServer::start().await;
        exact(list_request(None))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "webhookSubscriptions": {"nodes": [{"id": "gid://shopify/WebhookSubscription/1", "uri": URI}],
                    "pageInfo": {"hasNextPage": false}}}})))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .subscriptions(&shop(), &Secret::new(TOKEN))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("has no topic")),
            "{err:?}"
        );
    }
}
