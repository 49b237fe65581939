//! Magento 2 / Adobe Commerce (REST `/rest/{store}/V1`, OAuth 1.0a HMAC-SHA256).
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §3.
//!
//! Every request is signed with the integration's four secrets ([`oauth1`]); bearer use of
//! integration tokens is off by default on current Magento and is never asked for. Every call
//! goes through [`crate::channels::rest::call`], which classifies HTML pages, 5xx, 429,
//! redirects and timeouts.
//!
//! Magento answers 401 both for credentials it rejects (bad signature, unknown consumer,
//! revoked token) and for ACL refusals (`The consumer isn't authorized to access %resources.`).
//! Both the connection check and every [`StoreApi`](crate::channels::store::StoreApi) call tell
//! them apart by that message: an ACL refusal names the resource to grant and never turns into
//! [`ClientError::Unauthorized`] (which would stop the whole connection for re-authorisation).

mod adapter;
pub mod inventory;
pub mod oauth1;
pub mod order;
pub mod store;

#[cfg(test)]
pub(crate) mod tests;

pub use adapter::{adapter, MagentoAdapter};
pub use inventory::MagentoInventory;
pub use order::map_order;
pub use store::MagentoStore;

use crate::channels::rest::{self, Reply};
use crate::channels::store::ConnectError;
use crate::channels::store_url::StoreUrl;
use crate::channels::ClientError;
use crate::ports::Secret;
use http::StatusCode;
use oauth1::OAuthKeys;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Magento's answer when a REST route does not exist (e.g. `/V1/inventory/*` without MSI).
pub const NO_ROUTE: &str = "Request does not match any route.";

/// The ACL refusal text (Magento answers 401 with it when a resource is not granted).
const ACL_REFUSAL: &str = "isn't authorized to access";

/// What a Magento connection stores (as one JSON [`Secret`]).
#[derive(Clone, Serialize, Deserialize)]
pub struct MagentoCredentials {
    pub store_url: String,
    /// The store view code of the REST base (`all` = all store views).
    #[serde(default = "all")]
    pub store_code: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub access_token: String,
    pub access_token_secret: String,
}

fn all() -> String {
    "all".to_owned()
}

impl std::fmt::Debug for MagentoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MagentoCredentials")
            .field("store_url", &self.store_url)
            .field("store_code", &self.store_code)
            .field("consumer_key", &"<redacted>")
            .field("consumer_secret", &"<redacted>")
            .field("access_token", &"<redacted>")
            .field("access_token_secret", &"<redacted>")
            .finish()
    }
}

impl MagentoCredentials {
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).expect("strings always serialize"))
    }

    /// Reads stored credentials. The error never quotes the secret's content.
    pub fn from_secret(s: &Secret) -> Result<Self, String> {
        serde_json::from_str(s.expose()).map_err(|e| {
            format!(
                "the stored Magento credentials are unreadable ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })
    }

    fn keys(&self) -> OAuthKeys<'_> {
        OAuthKeys {
            consumer_key: &self.consumer_key,
            consumer_secret: &self.consumer_secret,
            token: &self.access_token,
            token_secret: &self.access_token_secret,
        }
    }

    /// The store code, checked: it goes into every path.
    fn checked_store_code(&self) -> Result<&str, String> {
        let code = self.store_code.trim();
        if code.is_empty()
            || code.len() > 64
            || !code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "the Magento store code {:?} is not valid (letters, digits, '_'; `all` for all store views)",
                code.chars().take(64).collect::<String>()
            ));
        }
        Ok(code)
    }
}

/// A Magento REST client: an HTTP client (a [`crate::channels::store_url::store_client`] in
/// production) that signs every request.
#[derive(Clone)]
pub struct MagentoClient {
    http: reqwest::Client,
}

/// What the connection check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagentoStoreInfo {
    /// Whether Multi-Source Inventory is installed (`/V1/inventory/sources` exists).
    pub msi: bool,
    /// The MSI sources (empty without MSI: stock then goes to the legacy stock items).
    pub sources: Vec<Source>,
}

/// One MSI source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub code: String,
    pub name: String,
    pub enabled: bool,
}

/// Where requests go: `{store}/rest/{code}/V1`.
#[derive(Clone)]
pub(crate) struct Target {
    base: String,
    creds: MagentoCredentials,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("base", &self.base).finish()
    }
}

impl Target {
    pub(crate) fn new(url: &StoreUrl, creds: &MagentoCredentials) -> Result<Self, String> {
        let code = creds.checked_store_code()?;
        Ok(Self {
            base: url.join(&format!("/rest/{code}/V1")),
            creds: creds.clone(),
        })
    }

    pub(crate) fn from_creds(creds: &MagentoCredentials) -> Result<Self, String> {
        let url = StoreUrl::stored(&creds.store_url).map_err(|e| e.to_string())?;
        Self::new(&url, creds)
    }
}

/// A query string from (name, value) pairs, each RFC 3986-encoded (so brackets and spaces of
/// `searchCriteria` keys are sent exactly as they are signed).
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", oauth1::encode(k), oauth1::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One path segment (a SKU, an id), percent-encoded. Magento's router decodes `%2F` in a
/// SKU only when the web server lets encoded slashes through (Apache needs
/// `AllowEncodedSlashes NoDecode`); SKUs with `/` may fail on such stores.
///
/// `Err` for a value that is blank, `.` or `..` once trimmed: the URL parser resolves dot
/// segments (and their `%2E` spellings), so the request would go to another path.
pub(crate) fn segment(value: &str) -> Result<String, String> {
    if is_dot_segment(value) {
        return Err(format!(
            "{:?} cannot be sent as a Magento URL path segment ('.' and '..' are path navigation)",
            value.trim()
        ));
    }
    if value.trim().is_empty() {
        return Err("a blank value cannot be sent as a Magento URL path segment".into());
    }
    Ok(oauth1::encode(value))
}

/// Whether `value`, trimmed, is `.` or `..`.
pub(crate) fn is_dot_segment(value: &str) -> bool {
    matches!(value.trim(), "." | "..")
}

/// Whether a reply is Magento's "no such route" answer.
pub(crate) fn is_no_route(reply: &Reply) -> bool {
    reply.status == StatusCode::NOT_FOUND
        && reply
            .body
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| m.trim() == NO_ROUTE)
}

/// Longest Magento message template substituted here (characters, before substitution).
const MAX_TEMPLATE: usize = 300;
/// Most `parameters` substituted into one message.
const MAX_PARAMETERS: usize = 10;
/// Longest parameter substituted (characters).
const MAX_PARAMETER: usize = 200;

fn truncated(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A bounded copy of a Magento error `{message, parameters, code}`: the template cut to
/// [`MAX_TEMPLATE`] characters, at most [`MAX_PARAMETERS`] parameters of at most
/// [`MAX_PARAMETER`] characters (names too), so filling the placeholders stays cheap whatever
/// the store sends. A body without a string `message` is returned whole.
fn bounded_error(body: &Value) -> std::borrow::Cow<'_, Value> {
    let Some(message) = body.get("message").and_then(Value::as_str) else {
        return std::borrow::Cow::Borrowed(body);
    };
    let text = |p: &Value| {
        Value::String(truncated(
            &p.as_str().map_or_else(|| p.to_string(), str::to_owned),
            MAX_PARAMETER,
        ))
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "message".into(),
        Value::String(truncated(message, MAX_TEMPLATE)),
    );
    match body.get("parameters") {
        Some(Value::Array(params)) => {
            out.insert(
                "parameters".into(),
                Value::Array(params.iter().take(MAX_PARAMETERS).map(text).collect()),
            );
        }
        Some(Value::Object(params)) => {
            out.insert(
                "parameters".into(),
                Value::Object(
                    params
                        .iter()
                        .take(MAX_PARAMETERS)
                        .map(|(k, p)| (truncated(k, MAX_PARAMETER), text(p)))
                        .collect(),
                ),
            );
        }
        _ => {}
    }
    if let Some(code) = body.get("code").and_then(Value::as_str) {
        out.insert("code".into(), Value::String(truncated(code, MAX_PARAMETER)));
    }
    std::borrow::Cow::Owned(Value::Object(out))
}

/// Magento's `{message, parameters}` text with its placeholders filled, through
/// [`bounded_error`] (at most 300 characters of template, 10 parameters of 200).
pub(crate) fn message_of(status: StatusCode, body: &Value) -> String {
    Reply {
        status,
        headers: http::HeaderMap::new(),
        body: bounded_error(body).into_owned(),
    }
    .message()
}

/// Magento's error text with its placeholders filled, plus the `errors[]` list of validation
/// failures (`Validation Failed` alone says little). Bounded: see [`message_of`].
pub(crate) fn error_message(reply: &Reply) -> String {
    let mut message = message_of(reply.status, &reply.body);
    if let Some(errors) = reply.body.get("errors").and_then(Value::as_array) {
        let details: Vec<String> = errors
            .iter()
            .take(20)
            .map(|e| message_of(reply.status, e))
            .filter(|m| !m.is_empty())
            .collect();
        if !details.is_empty() {
            message = format!("{message}: {}", details.join("; "));
        }
    }
    message
}

/// Whether a reply is an ACL refusal (a resource not granted to the integration). Magento
/// answers it with 401, like revoked credentials: it must not be read as one.
pub(crate) fn is_acl_refusal(reply: &Reply) -> bool {
    (reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN)
        && reply
            .body
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| truncated(m, MAX_TEMPLATE).contains(ACL_REFUSAL))
}

/// What an ACL refusal says the integration lacks: its `resources` parameter
/// (`Magento_Sales::sales`), else `fallback`.
pub(crate) fn acl_resource(reply: &Reply, fallback: &str) -> String {
    let named = match reply.body.get("parameters") {
        Some(Value::Object(params)) => params.get("resources"),
        Some(Value::Array(params)) => params.first(),
        _ => None,
    };
    named
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map_or_else(|| fallback.to_owned(), |r| truncated(r, MAX_PARAMETER))
}

/// The sentence for an ACL refusal met outside the connection check.
pub(crate) fn acl_refusal_text(reply: &Reply, fallback: &str) -> String {
    format!(
        "the integration lacks access to {}: grant it in System › Integrations",
        acl_resource(reply, fallback)
    )
}

impl MagentoClient {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// Sends one signed request to `{base}{path_and_query}` (`path_and_query` already encoded).
    pub(crate) async fn send(
        &self,
        target: &Target,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{path_and_query}", target.base);
        let header = oauth1::authorization_header(
            method.as_str(),
            &url,
            &target.creds.keys(),
            &oauth1::nonce(),
            oauth1::timestamp(),
        );
        let mut request = self
            .http
            .request(method, &url)
            .header(http::header::AUTHORIZATION, header)
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        rest::call(request).await
    }

    /// Checks a store before it is connected: orders (Sales), products (Catalog), shipments
    /// (Sales, `Magento_Sales::shipment`: tracking write-back reads them), then MSI sources (Inventory; their absence means a legacy-stock store, not an error).
    pub async fn check_connection(
        &self,
        url: &StoreUrl,
        creds: &MagentoCredentials,
    ) -> Result<MagentoStoreInfo, ConnectError> {
        let target = Target::new(url, creds).map_err(ConnectError::NoApi)?;
        let where_ = url.as_str();
        let orders = self
            .send(
                &target,
                reqwest::Method::GET,
                &format!("/orders?{}", query(&[("searchCriteria[pageSize]", "1")])),
                None,
            )
            .await;
        connect_step(orders, where_, "orders (Magento_Sales)")?;
        let products = self
            .send(
                &target,
                reqwest::Method::GET,
                &format!("/products?{}", query(&[("searchCriteria[pageSize]", "1")])),
                None,
            )
            .await;
        connect_step(products, where_, "products (Magento_Catalog)")?;
        let shipments = self
            .send(
                &target,
                reqwest::Method::GET,
                &format!("/shipments?{}", query(&[("searchCriteria[pageSize]", "1")])),
                None,
            )
            .await;
        connect_step(shipments, where_, "shipments (Magento_Sales::shipment)")?;
        let what = "inventory sources (Magento_InventoryApi)";
        let odd = || {
            ConnectError::NotTheChannel(format!(
                "{where_} answered the inventory sources request with something that is not a list"
            ))
        };
        match self.sources_of(&target).await {
            Ok(SourcesReply::Sources(sources)) => Ok(MagentoStoreInfo { msi: true, sources }),
            Ok(SourcesReply::NoMsi) => Ok(MagentoStoreInfo {
                msi: false,
                sources: Vec::new(),
            }),
            Ok(SourcesReply::NotAList) => Err(odd()),
            Ok(SourcesReply::Other(reply)) => {
                connect_step(Ok(reply), where_, what)?;
                Err(odd())
            }
            Err(e) => {
                connect_step(Err(e), where_, what)?;
                Err(odd())
            }
        }
    }

    /// MSI sources; `Ok(None)` when the store has no MSI (route not found).
    pub async fn sources(
        &self,
        creds: &MagentoCredentials,
    ) -> Result<Option<Vec<Source>>, ClientError> {
        let target = Target::from_creds(creds).map_err(ClientError::BadResponse)?;
        match self.sources_of(&target).await? {
            SourcesReply::Sources(s) => Ok(Some(s)),
            SourcesReply::NoMsi => Ok(None),
            SourcesReply::NotAList => Err(ClientError::BadResponse(
                "the inventory sources answer is not a list".into(),
            )),
            SourcesReply::Other(reply) => Err(reply.ok().err().unwrap_or_else(|| {
                ClientError::BadResponse("unexpected inventory sources answer".into())
            })),
        }
    }

    async fn sources_of(&self, target: &Target) -> Result<SourcesReply, ClientError> {
        let reply = self
            .send(
                target,
                reqwest::Method::GET,
                &format!(
                    "/inventory/sources?{}",
                    query(&[("searchCriteria[pageSize]", "100")])
                ),
                None,
            )
            .await?;
        if is_no_route(&reply) {
            return Ok(SourcesReply::NoMsi);
        }
        if !reply.status.is_success() {
            return Ok(SourcesReply::Other(reply));
        }
        let Some(items) = reply.body.get("items").and_then(Value::as_array) else {
            return Ok(SourcesReply::NotAList);
        };
        Ok(SourcesReply::Sources(
            items
                .iter()
                .filter_map(|s| {
                    let code = s.get("source_code")?.as_str()?.to_owned();
                    Some(Source {
                        name: s
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or(&code)
                            .to_owned(),
                        enabled: s.get("enabled").is_none_or(truthy),
                        code,
                    })
                })
                .collect(),
        ))
    }
}

enum SourcesReply {
    Sources(Vec<Source>),
    NoMsi,
    /// A 2xx without `items`.
    NotAList,
    /// Any other JSON answer (an error status).
    Other(Reply),
}

/// Magento booleans arrive as `true`, `1`, `"1"`.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim(), "1" | "true"),
        _ => false,
    }
}

/// Classifies one step of the connection check.
fn connect_step(
    result: Result<Reply, ClientError>,
    where_: &str,
    what: &str,
) -> Result<(), ConnectError> {
    let not_magento = |detail: &str| {
        ConnectError::NotTheChannel(format!(
            "{where_} does not answer like a Magento 2 REST API ({where_}/rest/V1): {detail}"
        ))
    };
    let wrong = || {
        ConnectError::WrongCredentials(
            "Magento rejected the integration credentials (consumer key/secret, access token/secret)"
                .into(),
        )
    };
    match result {
        Ok(reply) if reply.status.is_success() => {
            if reply.body.is_object() {
                Ok(())
            } else {
                Err(not_magento("the answer is JSON but not a Magento search result"))
            }
        }
        Ok(reply) if is_acl_refusal(&reply) => Err(ConnectError::InsufficientPermissions(format!(
            "the integration lacks access to {what}: grant Sales, Catalog and Inventory resources ({})",
            message_of(reply.status, &reply.body)
        ))),
        Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => Err(wrong()),
        Ok(reply) if reply.status == StatusCode::FORBIDDEN => {
            Err(ConnectError::InsufficientPermissions(format!(
                "the integration lacks access to {what}: grant Sales, Catalog and Inventory resources ({})",
                message_of(reply.status, &reply.body)
            )))
        }
        Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
            if reply.body.get("message").and_then(Value::as_str).is_some() {
                Err(ConnectError::NoApi(format!(
                    "Magento at {where_} has no REST route for {what} ({}): check the store code",
                    message_of(reply.status, &reply.body)
                )))
            } else {
                Err(not_magento(&format!("404 {}", message_of(reply.status, &reply.body))))
            }
        }
        Ok(reply) => {
            if reply.body.get("message").and_then(Value::as_str).is_some() {
                Err(ConnectError::NoApi(format!(
                    "Magento at {where_} refused the {what} request ({}: {}): check the store code",
                    reply.status,
                    message_of(reply.status, &reply.body)
                )))
            } else {
                Err(not_magento(&format!("{} {}", reply.status, message_of(reply.status, &reply.body))))
            }
        }
        Err(ClientError::Unauthorized) => Err(wrong()),
        Err(ClientError::BadResponse(detail)) => Err(not_magento(&detail)),
        Err(ClientError::NotFound) => Err(not_magento("not found")),
        Err(e @ (ClientError::Unavailable(_) | ClientError::Throttled { .. })) => {
            Err(ConnectError::Unreachable(format!("{where_} could not be reached: {e}")))
        }
    }
}
