//! One store's authenticated REST session: HTTP Basic `consumer_key:consumer_secret` on every
//! call (§2.2), every call through [`rest::call`].

use super::WooCredentials;
use crate::channels::rest::{self, Reply};
use crate::channels::store_url::StoreUrl;
use crate::channels::ClientError;
use crate::ports::Secret;
use reqwest::Method;
use serde_json::Value;

#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    store: StoreUrl,
    key: Secret,
    secret: Secret,
}

impl Api {
    pub(crate) fn new(http: reqwest::Client, store: StoreUrl, key: &str, secret: &str) -> Self {
        Self {
            http,
            store,
            key: Secret::new(key),
            secret: Secret::new(secret),
        }
    }

    /// From stored credentials; `Err` when the stored URL is unusable.
    pub(crate) fn from_credentials(
        http: reqwest::Client,
        creds: &WooCredentials,
    ) -> Result<Self, String> {
        let store = StoreUrl::stored(&creds.store_url)
            .map_err(|e| format!("the stored WooCommerce store URL is unusable: {e}"))?;
        Ok(Self::new(
            http,
            store,
            &creds.consumer_key,
            &creds.consumer_secret,
        ))
    }

    /// `path` is below the store URL (`/wp-json/wc/v3/orders`); `query` is URL-encoded.
    pub(crate) fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = self.store.join(path);
        if !query.is_empty() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                q.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&q.finish());
        }
        url
    }

    fn request(&self, method: Method, url: String) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(self.key.expose(), Some(self.secret.expose()))
            .header(http::header::ACCEPT, "application/json")
    }

    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Reply, ClientError> {
        rest::call(self.request(Method::GET, self.url(path, query))).await
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Reply, ClientError> {
        rest::call(self.request(method, self.url(path, &[])).json(body)).await
    }
}

/// `X-WP-TotalPages` (§2.3), when present and readable.
pub(crate) fn total_pages(reply: &Reply) -> Option<u64> {
    reply
        .headers
        .get("x-wp-totalpages")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether a page-numbered listing has a page after `page`: by `X-WP-TotalPages`, else by
/// whether this page was full.
pub(crate) fn has_next(reply: &Reply, page: u64, items: usize) -> bool {
    match total_pages(reply) {
        Some(total) => page < total,
        None => items >= super::PAGE_SIZE,
    }
}

/// A page cursor: `None` → 1; otherwise a positive page number.
pub(crate) fn page_cursor(cursor: Option<&str>) -> Result<u64, ClientError> {
    match cursor {
        None => Ok(1),
        Some(c) => c
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| {
                ClientError::BadResponse(format!("invalid page cursor {:?}", rest::snippet(c)))
            }),
    }
}
