//! The Shopify GraphQL Admin API client. Built once per process; one pinned API version.

use super::API_VERSION;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// What the credentials check learns about a shop.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopInfo {
    pub name: String,
    pub myshopify_domain: String,
}

/// A Shopify Admin API client.
#[derive(Debug, Clone)]
pub struct ShopifyClient {
    http: reqwest::Client,
    /// Replaces `https://{shop}` (tests and the local fake store).
    api_base: Option<String>,
}

const SHOP_QUERY: &str = "query ChannelSyncShop { shop { name myshopifyDomain } }";

impl ShopifyClient {
    /// A client with sane timeouts; `api_base` overrides `https://{shop}`.
    pub fn new(api_base: Option<String>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("channel-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unavailable(format!("http client: {e}")))?;
        Ok(Self {
            http,
            api_base: api_base.map(|b| b.trim_end_matches('/').to_owned()),
        })
    }

    /// The GraphQL endpoint of `shop`.
    pub fn graphql_url(&self, shop: &ShopDomain) -> String {
        match &self.api_base {
            Some(base) => format!("{base}/admin/api/{API_VERSION}/graphql.json"),
            None => format!("https://{shop}/admin/api/{API_VERSION}/graphql.json"),
        }
    }

    /// `path` on the shop's admin host (or the configured API base).
    pub fn shop_url(&self, shop: &ShopDomain, path: &str) -> String {
        match &self.api_base {
            Some(base) => format!("{base}{path}"),
            None => format!("https://{shop}{path}"),
        }
    }

    /// The HTTP client, for calls outside GraphQL (OAuth).
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Runs one GraphQL document and returns its `data`.
    pub async fn graphql(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let response = self
            .http
            .post(self.graphql_url(shop))
            .header("X-Shopify-Access-Token", token.expose())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| ClientError::Unavailable(without_url(e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|s| s.ceil() as u64);
        match status.as_u16() {
            200..=299 => {}
            401 | 403 => return Err(ClientError::Unauthorized),
            402 | 404 | 423 => return Err(ClientError::NotFound),
            429 => {
                return Err(ClientError::Throttled {
                    retry_after_secs: retry_after,
                })
            }
            500..=599 => return Err(ClientError::Unavailable(format!("HTTP {status}"))),
            _ => return Err(ClientError::BadResponse(format!("HTTP {status}"))),
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| ClientError::BadResponse("the response is not JSON".into()))?;
        if let Some(errors) = body.get("errors").and_then(|e| e.as_array()) {
            let throttled = errors
                .iter()
                .any(|e| e["extensions"]["code"] == "THROTTLED");
            if throttled {
                return Err(ClientError::Throttled {
                    retry_after_secs: retry_after,
                });
            }
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect();
            return Err(ClientError::BadResponse(format!(
                "GraphQL errors: {}",
                messages.join("; ")
            )));
        }
        match body.get("data") {
            Some(data) if !data.is_null() => Ok(data.clone()),
            _ => Err(ClientError::BadResponse("the response has no data".into())),
        }
    }

    /// Checks an Admin API access token by reading the shop's name.
    pub async fn shop_info(
        &self,
        shop: &ShopDomain,
        token: &Secret,
    ) -> Result<ShopInfo, ClientError> {
        let data = self.graphql(shop, token, SHOP_QUERY, json!({})).await?;
        serde_json::from_value(data["shop"].clone())
            .map_err(|e| ClientError::BadResponse(format!("shop: {e}")))
    }
}

/// reqwest errors print the URL; ours carry no secrets, but keep messages short and stable.
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    async fn client_for(server: &MockServer) -> ShopifyClient {
        ShopifyClient::new(Some(server.uri())).unwrap()
    }

    #[tokio::test]
    async fn shop_info_sends_the_exact_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", "shpat_fake_token"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({"query": SHOP_QUERY, "variables": {}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"shop": {"name": "Demo", "myshopifyDomain": "demo.myshopify.com"}},
                "extensions": {"cost": {"requestedQueryCost": 1}}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let info = client_for(&server)
            .await
            .shop_info(&shop(), &Secret::new("shpat_fake_token"))
            .await
            .unwrap();
        assert_eq!(info.name, "Demo");
        assert_eq!(info.myshopify_domain, "demo.myshopify.com");
    }

    #[tokio::test]
    async fn statuses_are_classified() {
        for (status, check) in [
            (
                401,
                (|e: &ClientError| matches!(e, ClientError::Unauthorized))
                    as fn(&ClientError) -> bool,
            ),
            (403, |e| matches!(e, ClientError::Unauthorized)),
            (404, |e| matches!(e, ClientError::NotFound)),
            (503, |e| matches!(e, ClientError::Unavailable(_))),
            (418, |e| matches!(e, ClientError::BadResponse(_))),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status))
                .expect(1)
                .mount(&server)
                .await;
            let err = client_for(&server)
                .await
                .shop_info(&shop(), &Secret::new("t"))
                .await
                .unwrap_err();
            assert!(check(&err), "{status} gave {err:?}");
        }
    }

    #[tokio::test]
    async fn throttling_html_and_graphql_errors() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2.0"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
            })))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "errors": [{"message": "Field 'x' doesn't exist"}]
            })))
            .mount(&server)
            .await;
        let c = client_for(&server).await;
        let t = Secret::new("t");
        assert!(matches!(
            c.shop_info(&shop(), &t).await,
            Err(ClientError::Throttled {
                retry_after_secs: Some(2)
            })
        ));
        assert!(matches!(
            c.shop_info(&shop(), &t).await,
            Err(ClientError::Throttled {
                retry_after_secs: None
            })
        ));
        assert!(
            matches!(c.shop_info(&shop(), &t).await, Err(ClientError::BadResponse(m)) if m.contains("not JSON"))
        );
        assert!(
            matches!(c.shop_info(&shop(), &t).await, Err(ClientError::BadResponse(m)) if m.contains("doesn't exist"))
        );
    }

    #[tokio::test]
    async fn timeouts_are_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
            .mount(&server)
            .await;
        let mut c = client_for(&server).await;
        c.http = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        assert!(matches!(
            c.shop_info(&shop(), &Secret::new("t")).await,
            Err(ClientError::Unavailable(m)) if m == "timed out"
        ));
    }

    #[test]
    fn default_url_is_the_shop() {
        let c = ShopifyClient::new(None).unwrap();
        assert_eq!(
            c.graphql_url(&shop()),
            "https://demo.myshopify.com/admin/api/2026-10/graphql.json"
        );
    }
}
