//! The shop's locations (`locations` connection), for choosing where we fulfil and whose stock
//! we set. Also home of the small connection-paging helper the sibling read modules share.
//!
//! Wire shape: `/work/shopify-graphql-notes.md` §5 (`Location.isActive: Boolean!`,
//! `fulfillsOnlineOrders: Boolean!` [C]; `includeInactive` defaults to `false` [C]).

use super::ShopifyClient;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// One Shopify location: the channel-neutral [`crate::channels::adapter::Location`], its id
/// a GID such as `gid://shopify/Location/87516708954`.
pub use crate::channels::adapter::Location;

/// `includeInactive: true` because the default hides deactivated locations, and the caller
/// needs to see them to explain why a configured location no longer works.
pub(super) const LOCATIONS_QUERY: &str = "query ChannelSyncLocations($first: Int!, $after: String) { locations(first: $first, after: $after, includeInactive: true) { nodes { id name isActive fulfillsOnlineOrders } pageInfo { hasNextPage endCursor } } }";

/// Locations per request: the connection maximum; cost ≈ 2 + 250 × 1, well under the
/// 1000-point single-query cap.
const LOCATIONS_PAGE_SIZE: u32 = 250;

/// Upper bound on pages fetched by [`ShopifyClient::locations`]. Shops have at most a few
/// hundred locations; the bound only stops a misbehaving server from keeping us paging forever.
pub(super) const MAX_LOCATION_PAGES: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLocation {
    id: Option<String>,
    name: Option<String>,
    is_active: Option<bool>,
    fulfills_online_orders: Option<bool>,
}

/// A connection's `pageInfo`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageInfo {
    #[serde(default)]
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// The cursor of the next page, or `None` on the last one. A "next page" without a cursor
    /// cannot be followed, so it is an error rather than a silent stop.
    pub fn next_cursor(self, what: &str) -> Result<Option<String>, ClientError> {
        if !self.has_next_page {
            return Ok(None);
        }
        match self.end_cursor {
            Some(c) if !c.is_empty() => Ok(Some(c)),
            _ => Err(ClientError::BadResponse(format!(
                "{what}: hasNextPage without an endCursor"
            ))),
        }
    }
}

/// A connection as `{ nodes: [...], pageInfo: {...} }`, nodes left as JSON so each caller
/// decides how strictly to read them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Connection {
    pub nodes: Vec<serde_json::Value>,
    pub page_info: PageInfo,
}

/// Reads `data[field]` as a connection; anything else is a [`ClientError::BadResponse`].
pub(super) fn connection(data: &serde_json::Value, field: &str) -> Result<Connection, ClientError> {
    match data.get(field) {
        None | Some(serde_json::Value::Null) => Err(ClientError::BadResponse(format!(
            "the response has no {field}"
        ))),
        Some(v) => Connection::deserialize(v)
            .map_err(|e| ClientError::BadResponse(format!("{field}: {e}"))),
    }
}

/// Guards a paging loop: refuses a cursor seen before (a server looping on one page) and more
/// than `max_pages` pages.
/// A cursor-paged read of one top-level connection: the document (variables `$first`,
/// `$after`), the connection's field, the page size and the most pages to follow.
pub(super) struct Paged {
    pub query: &'static str,
    pub field: &'static str,
    pub page_size: u32,
    pub max_pages: usize,
}

pub(super) struct PageGuard {
    what: &'static str,
    max_pages: usize,
    pages: usize,
    seen: std::collections::HashSet<String>,
}

impl PageGuard {
    pub fn new(what: &'static str, max_pages: usize) -> Self {
        Self {
            what,
            max_pages,
            pages: 0,
            seen: std::collections::HashSet::new(),
        }
    }

    /// Call after each page with its next cursor; `Ok(Some(cursor))` means fetch another page.
    pub fn advance(&mut self, next: Option<String>) -> Result<Option<String>, ClientError> {
        self.pages += 1;
        let Some(cursor) = next else {
            return Ok(None);
        };
        if self.pages >= self.max_pages {
            return Err(ClientError::BadResponse(format!(
                "{}: still more pages after {} pages; giving up",
                self.what, self.max_pages
            )));
        }
        if !self.seen.insert(cursor.clone()) {
            return Err(ClientError::BadResponse(format!(
                "{}: the server returned the same cursor twice",
                self.what
            )));
        }
        Ok(Some(cursor))
    }
}

fn location(node: serde_json::Value) -> Result<Location, ClientError> {
    let raw = RawLocation::deserialize(&node)
        .map_err(|e| ClientError::BadResponse(format!("location: {e}")))?;
    let id = raw
        .id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ClientError::BadResponse("a location has no id".into()))?;
    let missing = |field: &str| ClientError::BadResponse(format!("location {id} has no {field}"));
    Ok(Location {
        name: raw.name.ok_or_else(|| missing("name"))?,
        active: raw.is_active.ok_or_else(|| missing("isActive"))?,
        fulfills_online_orders: raw
            .fulfills_online_orders
            .ok_or_else(|| missing("fulfillsOnlineOrders"))?,
        id,
    })
}

impl ShopifyClient {
    /// Every location of the shop, active or not, following cursors (at most
    /// [`MAX_LOCATION_PAGES`] pages).
    pub async fn locations(
        &self,
        shop: &ShopDomain,
        token: &Secret,
    ) -> Result<Vec<Location>, ClientError> {
        let paged = Paged {
            query: LOCATIONS_QUERY,
            field: "locations",
            page_size: LOCATIONS_PAGE_SIZE,
            max_pages: MAX_LOCATION_PAGES,
        };
        self.all_nodes(shop, token, &paged, |node| location(node.clone()))
            .await
    }

    /// The shop's locations as [`ShopifyClient::locations`] reads them, with every caller that
    /// asks while a read of the same shop with the same token is in flight sharing that read (one request for a
    /// burst of imports instead of one each; the answer is at most one round trip older than
    /// the caller's question). A later caller reads again: nothing is kept once the answer is
    /// out. A failed shared read gives its own caller its error; the callers that joined it
    /// read again on their own, so each gets an error of its own call.
    pub async fn locations_shared(
        &self,
        shop: &ShopDomain,
        token: &Secret,
    ) -> Result<Vec<Location>, ClientError> {
        // Shared by callers with the same shop and the same token only (a hash of it: the key
        // is held in memory, never the token itself).
        let key = {
            use sha2::Digest;
            format!(
                "{shop}#{}",
                hex::encode(sha2::Sha256::digest(token.expose()))
            )
        };
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(key.clone()).or_default().clone()
        };
        let mut own_error = None;
        let shared = flight
            .get_or_init(|| async {
                self.locations(shop, token).await.map_err(|e| {
                    own_error = Some(e);
                })
            })
            .await
            .clone();
        {
            // Done: the next caller reads again (unless a newer flight already replaced it).
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&key);
            }
        }
        match (shared, own_error) {
            (Ok(locations), _) => Ok(locations),
            (Err(()), Some(e)) => Err(e),
            (Err(()), None) => self.locations(shop, token).await,
        }
    }

    /// Every node of a top-level connection, following cursors (a cursor that does not move
    /// or the page limit is a [`ClientError::BadResponse`], never an endless loop).
    pub(super) async fn all_nodes<T>(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        paged: &Paged,
        map: impl Fn(&serde_json::Value) -> Result<T, ClientError>,
    ) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        let field = paged.field;
        let mut guard = PageGuard::new(field, paged.max_pages);
        let mut after: Option<String> = None;
        loop {
            let data = self
                .graphql(
                    shop,
                    token,
                    paged.query,
                    json!({ "first": paged.page_size, "after": after }),
                )
                .await?;
            let page = connection(&data, field)?;
            for node in &page.nodes {
                out.push(map(node)?);
            }
            match guard.advance(page.page_info.next_cursor(field)?)? {
                Some(cursor) => after = Some(cursor),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "shpat_fake_locations";

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    fn request(after: Option<&str>) -> serde_json::Value {
        json!({"query": LOCATIONS_QUERY, "variables": {"first": 250, "after": after}})
    }

    async fn mount(server: &MockServer, after: Option<&str>, response: serde_json::Value) {
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", TOKEN))
            .and(body_json(request(after)))
            .respond_with(ResponseTemplate::new(200).set_body_json(response))
            .expect(1)
            .mount(server)
            .await;
    }

    async fn run(server: &MockServer) -> Result<Vec<Location>, ClientError> {
        ShopifyClient::new(Some(server.uri()))
            .unwrap()
            .locations(&shop(), &Secret::new(TOKEN))
            .await
    }

    #[tokio::test]
    async fn pages_through_two_pages_with_the_exact_requests() {
        let server = MockServer::start().await;
        mount(
            &server,
            None,
            json!({"data": {"locations": {
                "nodes": [{"id": "gid://shopify/Location/1", "name": "Warehouse", "isActive": true,
                           "fulfillsOnlineOrders": true}],
                "pageInfo": {"hasNextPage": true, "endCursor": "cur-1"}}}}),
        )
        .await;
        mount(
            &server,
            Some("cur-1"),
            json!({"data": {"locations": {
                "nodes": [{"id": "gid://shopify/Location/2", "name": "Old shop", "isActive": false,
                           "fulfillsOnlineOrders": false}],
                "pageInfo": {"hasNextPage": false, "endCursor": "cur-2"}}}}),
        )
        .await;
        let got = run(&server).await.unwrap();
        assert_eq!(
            got,
            vec![
                Location {
                    id: "gid://shopify/Location/1".into(),
                    name: "Warehouse".into(),
                    active: true,
                    fulfills_online_orders: true
                },
                Location {
                    id: "gid://shopify/Location/2".into(),
                    name: "Old shop".into(),
                    active: false,
                    fulfills_online_orders: false
                },
            ]
        );
    }

    #[tokio::test]
    async fn endless_paging_is_bounded() {
        let server = MockServer::start().await;
        // Every page claims another one with a fresh cursor.
        let counter = std::sync::atomic::AtomicU64::new(0);
        Mock::given(method("POST"))
            .respond_with(move |_: &wiremock::Request| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ResponseTemplate::new(200).set_body_json(json!({"data": {"locations": {
                    "nodes": [],
                    "pageInfo": {"hasNextPage": true, "endCursor": format!("c{n}")}}}}))
            })
            .expect(MAX_LOCATION_PAGES as u64)
            .mount(&server)
            .await;
        let err = run(&server).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("giving up")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_repeated_cursor_stops_paging() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"data": {"locations": {
                "nodes": [], "pageInfo": {"hasNextPage": true, "endCursor": "same"}}}})),
            )
            .expect(2)
            .mount(&server)
            .await;
        let err = run(&server).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("same cursor")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn malformed_answers_are_bad_responses() {
        for (body, needle) in [
            (
                json!({"data": {"locations": {"nodes": [{"id": "gid://shopify/Location/1", "name": "W",
                    "fulfillsOnlineOrders": true}], "pageInfo": {"hasNextPage": false}}}}),
                "isActive",
            ),
            (
                json!({"data": {"locations": {"nodes": [{"name": "W"}], "pageInfo": {"hasNextPage": false}}}}),
                "no id",
            ),
            (
                json!({"data": {"locations": {"nodes": [], "pageInfo": {"hasNextPage": true, "endCursor": null}}}}),
                "endCursor",
            ),
            (json!({"data": {"shop": {}}}), "no locations"),
            (
                json!({"data": {"locations": {"nodes": "x", "pageInfo": {}}}}),
                "locations:",
            ),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .expect(1)
                .mount(&server)
                .await;
            let err = run(&server).await.unwrap_err();
            assert!(
                matches!(&err, ClientError::BadResponse(m) if m.contains(needle)),
                "{needle}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn unauthorized_and_html_are_classified() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
            .expect(1)
            .mount(&server)
            .await;
        assert!(matches!(run(&server).await, Err(ClientError::Unauthorized)));
        assert!(
            matches!(run(&server).await, Err(ClientError::BadResponse(m)) if m.contains("not JSON"))
        );
    }

    /// `n` shared reads at once, each on its own task and its own clone of the client (clones
    /// share their reads in flight).
    async fn concurrently(
        client: &ShopifyClient,
        n: usize,
    ) -> Vec<Result<Vec<Location>, ClientError>> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let client = client.clone();
            tasks.spawn(async move { client.locations_shared(&shop(), &Secret::new(TOKEN)).await });
        }
        tasks.join_all().await
    }

    fn one_location() -> serde_json::Value {
        json!({"data": {"locations": {
            "nodes": [{"id": "gid://shopify/Location/1", "name": "Warehouse", "isActive": true,
                       "fulfillsOnlineOrders": true}],
            "pageInfo": {"hasNextPage": false, "endCursor": null}}}})
    }

    /// Issue 17: a burst of imports of one shop costs one locations read, not one each (every
    /// read requests ~250 points of the shop's GraphQL bucket).
    #[tokio::test]
    async fn concurrent_reads_of_a_shops_locations_share_one_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_json(request(None)))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(one_location())
                    .set_delay(std::time::Duration::from_millis(300)),
            )
            .mount(&server)
            .await;
        let client = ShopifyClient::new(Some(server.uri())).unwrap();
        for answer in concurrently(&client, 8).await {
            assert_eq!(answer.unwrap()[0].id, "gid://shopify/Location/1");
        }
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
        // Nothing is kept once the answer is out: the next caller asks Shopify again.
        let again = client.locations_shared(&shop(), &Secret::new(TOKEN)).await;
        assert_eq!(again.unwrap().len(), 1);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
        // Another token (another connection of the shop) never shares a read with this one.
        let (shop, token, other) = (
            shop(),
            Secret::new(TOKEN),
            Secret::new("shpat_fake_other_connection"),
        );
        let (mine, theirs) = tokio::join!(
            client.locations_shared(&shop, &token),
            client.locations_shared(&shop, &other)
        );
        assert!(mine.is_ok() && theirs.is_ok());
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 4);
        let tokens: std::collections::BTreeSet<_> = requests[2..]
            .iter()
            .map(|r| {
                r.headers["X-Shopify-Access-Token"]
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(tokens.len(), 2, "each token read for itself");
    }

    /// A failed shared read: every caller gets an error of its own call, none a made-up one.
    #[tokio::test]
    async fn a_failed_shared_read_gives_every_caller_its_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(401).set_delay(std::time::Duration::from_millis(200)),
            )
            .mount(&server)
            .await;
        let client = ShopifyClient::new(Some(server.uri())).unwrap();
        for answer in concurrently(&client, 4).await {
            assert!(
                matches!(answer, Err(ClientError::Unauthorized)),
                "{answer:?}"
            );
        }
        // The shared read, then one read of its own per caller that joined it.
        let requests = server.received_requests().await.unwrap().len();
        assert!((2..=4).contains(&requests), "{requests} requests");
    }
}
