//! Polling orders changed since a watermark (`orders` connection sorted by `UPDATED_AT`), the
//! safety net for lost or late webhooks. Each GraphQL order node becomes the same
//! [`Order`] the webhook path (`order.rs`, REST payload) makes of that order: same ids, same
//! holds with the same wording, so the consumer can merge both sources by `updated_at`.
//!
//! Wire shape: `/work/shopify-graphql-notes.md` §2 (`legacyResourceId` is a string of digits
//! [C]; `displayFinancialStatus` nullable enum [C]; `paymentGatewayNames: [String!]!` [C];
//! `countryCodeV2` replaces `countryCode` [C]; `email` and address fields are `null` without
//! protected-customer-data access [S]). Payment readiness: `payment.rs`, shared with the
//! webhook path.

use super::locations::connection;
use super::order::{assemble, AddressParts, LineParts, OrderParts};
use super::payment::gateway_names;
use super::ShopifyClient;
use crate::channels::ClientError;
use crate::domain::{ChannelOrderId, Order, ShopDomain};
use crate::ports::Secret;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;

pub use crate::channels::store::OrdersPage;

/// The orders document.
///
/// `lineItems(first: 250)` reads at most 250 lines, the connection maximum. An order with more
/// lines is not mapped (it goes to [`OrdersPage::skipped`], detected by the line connection's
/// `hasNextPage`): importing it truncated would ship it incomplete, and could replace the
/// complete copy a webhook delivered. Such orders are left to the webhook path (REST payloads
/// carry every line). Reading the rest of the lines with a second query is not implemented.
///
/// Cost: each order node costs about 1 (order) + 1 (shippingAddress) + 2 + 250 (lineItems) +
/// 1 (pageInfo) ≈ 255 points, so Shopify's 1000-point single-query cap allows only
/// [`ORDERS_PAGE_SIZE_WITHIN_COST`] orders per page; larger pages are refused by Shopify
/// (GraphQL error → [`ClientError::BadResponse`]). [S: cost rules from third-party guides; the
/// real `requestedQueryCost` of this document is U.]
pub(super) const ORDERS_QUERY: &str = "query ChannelSyncOrdersUpdatedSince($first: Int!, $after: String, $query: String!) { orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { nodes { id legacyResourceId name createdAt updatedAt cancelledAt displayFinancialStatus paymentGatewayNames test currencyCode email shippingAddress { name firstName lastName company address1 address2 city provinceCode zip countryCodeV2 phone } lineItems(first: 250) { nodes { id sku quantity name requiresShipping } pageInfo { hasNextPage } } } pageInfo { hasNextPage endCursor } } }";

/// The largest `page_size` whose estimated cost (2 + 255 per order) stays under Shopify's
/// 1000-point single-query cap with `lineItems(first: 250)` (estimate; see the notes on the
/// orders document in this module's source).
pub const ORDERS_PAGE_SIZE_WITHIN_COST: u32 = 3;

/// The Shopify search query selecting orders updated at or after `since`.
///
/// `>=` (inclusive) and `since` truncated down to whole seconds: both can only widen the
/// window, never narrow it. The poller overlaps its
/// watermark anyway and the consumer ignores stale copies by `updated_at`, so re-reading the
/// boundary orders is harmless, while `>` could miss an order updated in the watermark's own
/// second.
pub fn updated_since_query(since: DateTime<Utc>) -> String {
    format!(
        "updated_at:>='{}'",
        since.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

impl ShopifyClient {
    /// One page of orders updated at or after `since` (see [`updated_since_query`]), oldest
    /// update first. `page_size` is clamped to 1..=250; mind [`ORDERS_PAGE_SIZE_WITHIN_COST`].
    /// Nodes that cannot be mapped land in [`OrdersPage::skipped`] instead of failing the page.
    pub async fn orders_updated_since(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        since: DateTime<Utc>,
        after: Option<&str>,
        page_size: u32,
    ) -> Result<OrdersPage, ClientError> {
        let variables = json!({
            "first": page_size.clamp(1, 250),
            "after": after,
            "query": updated_since_query(since),
        });
        let data = self.graphql(shop, token, ORDERS_QUERY, variables).await?;
        let page = connection(&data, "orders")?;
        let mut orders = Vec::with_capacity(page.nodes.len());
        let mut skipped = Vec::new();
        for node in &page.nodes {
            match map_order(node) {
                Ok(order) => orders.push(order),
                Err(reason) => {
                    let id = node
                        .get("id")
                        .and_then(|v| v.as_str())
                        .filter(|s| !s.is_empty())
                        .unwrap_or("?");
                    skipped.push((id.to_owned(), reason));
                }
            }
        }
        Ok(OrdersPage {
            orders,
            next_cursor: page.page_info.next_cursor("orders")?,
            skipped,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOrder {
    id: Option<String>,
    legacy_resource_id: Option<serde_json::Value>,
    name: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    cancelled_at: Option<String>,
    display_financial_status: Option<String>,
    /// `[String!]!`; read leniently, as the webhook path reads `payment_gateway_names`.
    payment_gateway_names: Option<serde_json::Value>,
    test: Option<bool>,
    currency_code: Option<String>,
    email: Option<String>,
    shipping_address: Option<RawAddress>,
    line_items: Option<RawLines>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAddress {
    name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    province_code: Option<String>,
    zip: Option<String>,
    country_code_v2: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLines {
    #[serde(default)]
    nodes: Vec<RawLine>,
    page_info: Option<LinePageInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinePageInfo {
    #[serde(default)]
    has_next_page: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLine {
    id: Option<String>,
    sku: Option<String>,
    #[serde(default)]
    quantity: serde_json::Value,
    name: Option<String>,
    requires_shipping: Option<bool>,
}

/// The decimal id at the end of `gid://shopify/{kind}/{id}` (a `?…` suffix allowed), in the
/// canonical form a REST JSON number prints as, or `None` when `gid` is not of that form.
fn gid_number(gid: &str, kind: &str) -> Option<String> {
    let rest = gid.strip_prefix("gid://shopify/")?.strip_prefix(kind)?;
    let rest = rest.strip_prefix('/')?;
    let digits = rest.split('?').next().unwrap_or_default();
    canonical_u64(digits)
}

/// `"0042"` → `"42"`; anything but a u64 → `None`. REST ids are JSON numbers, printed without
/// leading zeros, so GraphQL ids must go through the same form to match them.
fn canonical_u64(digits: &str) -> Option<String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().map(|n| n.to_string())
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn date(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    match raw {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| format!("{field} is not an RFC 3339 date-time: {s:?}")),
    }
}

/// `PARTIALLY_REFUNDED` → `partially_refunded`: the REST webhook's `financial_status`
/// spelling for every value listed at 2026-10. Unknown values are kept, lowercased alike.
fn financial_status(raw: Option<String>) -> Option<String> {
    clean(raw).map(|s| s.to_ascii_lowercase())
}

/// The order's channel id: `legacyResourceId` (the numeric REST id, so webhook and poll agree),
/// else the number in the `gid://shopify/Order/N` id. Both present and different is refused.
fn order_id(gid: &str, legacy: Option<&serde_json::Value>) -> Result<ChannelOrderId, String> {
    let from_gid = gid_number(gid, "Order");
    let legacy = match legacy {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(
            canonical_u64(s).ok_or_else(|| format!("legacyResourceId {s:?} is not a number"))?,
        ),
        Some(serde_json::Value::Number(n)) => Some(
            n.as_u64()
                .map(|n| n.to_string())
                .ok_or_else(|| format!("legacyResourceId {n} is not a positive integer"))?,
        ),
        Some(other) => return Err(format!("legacyResourceId {other} is not a number")),
    };
    let id = match (legacy, from_gid) {
        (Some(l), Some(g)) if l != g => {
            return Err(format!("legacyResourceId {l} does not match id {gid}"))
        }
        (Some(l), _) => l,
        (None, Some(g)) => g,
        (None, None) => return Err("no numeric order id (legacyResourceId or id)".into()),
    };
    ChannelOrderId::parse(id).map_err(|e| e.to_string())
}

/// Maps one order node, or says why it cannot be.
pub(super) fn map_order(node: &serde_json::Value) -> Result<Order, String> {
    if !node.is_object() {
        return Err(format!("the order node is not an object: {node}"));
    }
    let raw = RawOrder::deserialize(node).map_err(|e| format!("unreadable order node: {e}"))?;
    let gid = raw
        .id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("missing id")?;
    let channel_order_id = order_id(gid, raw.legacy_resource_id.as_ref())?;
    let placed_at = date("createdAt", raw.created_at.as_deref())?.ok_or("missing createdAt")?;
    let updated_at = date("updatedAt", raw.updated_at.as_deref())?.unwrap_or(placed_at);
    let cancelled_at = date("cancelledAt", raw.cancelled_at.as_deref())?;
    let raw_lines = raw.line_items.unwrap_or(RawLines {
        nodes: Vec::new(),
        page_info: None,
    });
    if raw_lines.page_info.is_some_and(|p| p.has_next_page) {
        return Err(
            "the order has more than 250 line items; only the webhook path reads it".into(),
        );
    }
    let order_number = clean(raw.name).unwrap_or_else(|| channel_order_id.to_string());
    let lines = raw_lines
        .nodes
        .into_iter()
        .enumerate()
        .map(|(index, line)| LineParts {
            id: match line.id.filter(|s| !s.is_empty()) {
                Some(gid) => gid_number(&gid, "LineItem").unwrap_or(gid),
                None => format!("index-{index}"),
            },
            sku: line.sku,
            quantity: line.quantity,
            name: line.name,
            // `requiresShipping: Boolean!`; if it were missing, assume shipping (as the
            // webhook path does), so a missing SKU holds the order rather than letting it
            // through.
            requires_shipping: line.requires_shipping.unwrap_or(true),
        })
        .collect();
    Ok(assemble(OrderParts {
        channel_order_id,
        order_number,
        placed_at,
        updated_at,
        cancelled: cancelled_at.is_some(),
        test: raw.test.unwrap_or(false),
        email: raw.email,
        currency: raw.currency_code,
        financial_status: financial_status(raw.display_financial_status),
        gateways: gateway_names(raw.payment_gateway_names.as_ref()),
        lines,
        ship_to: raw.shipping_address.map(|a| AddressParts {
            name: a.name,
            first_name: a.first_name,
            last_name: a.last_name,
            company: a.company,
            address1: a.address1,
            address2: a.address2,
            city: a.city,
            province_code: a.province_code,
            zip: a.zip,
            country_code: a.country_code_v2,
            phone: a.phone,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::Interpreted;
    use crate::domain::{HoldCode, HoldReason};
    use chrono::TimeZone;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "shpat_fake_orders";

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    fn client(server: &MockServer) -> ShopifyClient {
        ShopifyClient::new(Some(server.uri())).unwrap()
    }

    fn since() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + chrono::Duration::milliseconds(750)
    }

    /// A GraphQL order node: the same order as [`rest_order`].
    fn gql_order() -> serde_json::Value {
        json!({
            "id": "gid://shopify/Order/820982911946154508",
            "legacyResourceId": "820982911946154508",
            "name": "#9999",
            "createdAt": "2026-11-20T19:18:40Z",
            "updatedAt": "2026-11-20T19:19:00Z",
            "cancelledAt": null,
            "displayFinancialStatus": "PAID",
            "paymentGatewayNames": ["shopify_payments"],
            "test": false,
            "currencyCode": "EUR",
            "email": "buyer@example.com",
            "shippingAddress": {"name": null, "firstName": "Ada", "lastName": "Lovelace", "company": null,
                "address1": "1 Main St", "address2": null, "city": "Dublin", "provinceCode": null,
                "zip": "D01", "countryCodeV2": "IE", "phone": null},
            "lineItems": {"nodes": [
                {"id": "gid://shopify/LineItem/466157049", "sku": "TS-001", "quantity": 2,
                 "name": "Tee - M", "requiresShipping": true},
                {"id": "gid://shopify/LineItem/518995019", "sku": "GIFT", "quantity": 1,
                 "name": "Gift card", "requiresShipping": false}
            ], "pageInfo": {"hasNextPage": false}}
        })
    }

    /// The same order as a REST webhook payload (what `shopify::interpret` reads).
    fn rest_order() -> serde_json::Value {
        json!({
            "id": 820982911946154508u64, "name": "#9999", "order_number": 9999,
            "created_at": "2026-11-20T21:18:40+02:00", "updated_at": "2026-11-20T21:19:00+02:00",
            "cancelled_at": null, "financial_status": "paid", "currency": "EUR", "test": false,
            "email": "buyer@example.com", "payment_gateway_names": ["shopify_payments"],
            "line_items": [
                {"id": 466157049u64, "sku": "TS-001", "quantity": 2, "name": "Tee - M",
                 "requires_shipping": true},
                {"id": 518995019u64, "sku": "GIFT", "quantity": 1, "name": "Gift card",
                 "requires_shipping": false}
            ],
            "shipping_address": {"first_name": "Ada", "last_name": "Lovelace", "address1": "1 Main St",
                "city": "Dublin", "zip": "D01", "country_code": "IE", "province_code": null}
        })
    }

    fn via_webhook(v: &serde_json::Value) -> Order {
        match super::super::interpret("orders/updated", &serde_json::to_vec(v).unwrap()).unwrap() {
            Interpreted::Order(o) => *o,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    fn via_poll(v: &serde_json::Value) -> Order {
        map_order(v).unwrap()
    }

    fn page(nodes: Vec<serde_json::Value>, next: Option<&str>) -> serde_json::Value {
        json!({"data": {"orders": {"nodes": nodes,
            "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next.unwrap_or("last")}}},
            "extensions": {"cost": {"requestedQueryCost": 767, "actualQueryCost": 20}}})
    }

    async fn mount(
        server: &MockServer,
        first: u32,
        after: Option<&str>,
        response: serde_json::Value,
    ) {
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", TOKEN))
            .and(body_json(json!({
                "query": ORDERS_QUERY,
                "variables": {
                    "first": first,
                    "after": after,
                    "query": "updated_at:>='2026-10-01T00:00:00Z'"
                }
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(response))
            .expect(1)
            .mount(server)
            .await;
    }

    #[test]
    fn since_query_is_inclusive_whole_utc_seconds() {
        assert_eq!(
            updated_since_query(since()),
            "updated_at:>='2026-10-01T00:00:00Z'"
        );
    }

    #[tokio::test]
    async fn two_pages_with_the_exact_requests() {
        let server = MockServer::start().await;
        let mut second = gql_order();
        second["id"] = json!("gid://shopify/Order/5678901234");
        second["legacyResourceId"] = json!("5678901234");
        second["name"] = json!("#1042");
        mount(&server, 250, None, page(vec![gql_order()], Some("o-cur-1"))).await;
        mount(&server, 1, Some("o-cur-1"), page(vec![second], None)).await;
        let c = client(&server);
        let t = Secret::new(TOKEN);
        // Out-of-range page sizes are clamped: 1000 → 250, 0 → 1.
        let p1 = c
            .orders_updated_since(&shop(), &t, since(), None, 1000)
            .await
            .unwrap();
        assert_eq!(p1.next_cursor.as_deref(), Some("o-cur-1"));
        assert_eq!(p1.skipped, vec![]);
        assert_eq!(p1.orders.len(), 1);
        assert_eq!(p1.orders[0].channel_order_id.as_str(), "820982911946154508");
        let p2 = c
            .orders_updated_since(&shop(), &t, since(), p1.next_cursor.as_deref(), 0)
            .await
            .unwrap();
        assert_eq!(p2.next_cursor, None);
        assert_eq!(p2.orders[0].channel_order_id.as_str(), "5678901234");
        assert_eq!(p2.orders[0].order_number, "#1042");
    }

    #[test]
    fn a_ready_order_maps_exactly_as_the_webhook_path() {
        let polled = via_poll(&gql_order());
        let hooked = via_webhook(&rest_order());
        assert_eq!(polled.channel_order_id, hooked.channel_order_id);
        let ids = |o: &Order| -> Vec<String> {
            o.lines.iter().map(|l| l.channel_line_id.clone()).collect()
        };
        assert_eq!(ids(&polled), vec!["466157049", "518995019"]);
        assert_eq!(ids(&polled), ids(&hooked));
        assert_eq!(polled.financial_status.as_deref(), Some("paid"));
        assert!(polled.hold_reasons.is_empty(), "{:?}", polled.hold_reasons);
        // Not just the ids: the whole normalized order is the same.
        assert_eq!(polled, hooked);
    }

    #[test]
    fn holds_match_the_webhook_path_code_and_wording() {
        let mut g = gql_order();
        g["lineItems"]["nodes"] = json!([
            {"id": "gid://shopify/LineItem/1", "sku": "A", "quantity": 0, "name": "Zero", "requiresShipping": true},
            {"id": "gid://shopify/LineItem/2", "sku": "  ", "quantity": 1, "name": "Blank", "requiresShipping": true},
            {"id": "gid://shopify/LineItem/3", "sku": null, "quantity": 1, "name": "Null", "requiresShipping": true},
            {"id": "gid://shopify/LineItem/4", "sku": "A\u{1}B", "quantity": 1, "name": "Ctl", "requiresShipping": true}
        ]);
        g["shippingAddress"] = json!(null);
        g["test"] = json!(true);
        g["cancelledAt"] = json!("2026-11-20T20:00:00Z");
        g["displayFinancialStatus"] = json!("PARTIALLY_REFUNDED");
        let mut r = rest_order();
        r["line_items"] = json!([
            {"id": 1, "sku": "A", "quantity": 0, "name": "Zero", "requires_shipping": true},
            {"id": 2, "sku": "  ", "quantity": 1, "name": "Blank", "requires_shipping": true},
            {"id": 3, "sku": null, "quantity": 1, "name": "Null", "requires_shipping": true},
            {"id": 4, "sku": "A\u{1}B", "quantity": 1, "name": "Ctl", "requires_shipping": true}
        ]);
        r["shipping_address"] = json!(null);
        r["test"] = json!(true);
        r["cancelled_at"] = json!("2026-11-20T22:00:00+02:00");
        r["financial_status"] = json!("partially_refunded");
        let polled = via_poll(&g);
        let codes: Vec<HoldCode> = polled.hold_reasons.iter().map(|h| h.code).collect();
        assert_eq!(
            codes,
            vec![
                HoldCode::InvalidQuantity,
                HoldCode::MissingSku,
                HoldCode::MissingSku,
                HoldCode::MissingSku,
                HoldCode::MissingAddress,
                HoldCode::Cancelled,
                HoldCode::TestOrder
            ]
        );
        assert_eq!(
            polled.hold_reasons[0].detail,
            "line 1 has quantity 0 (expected a positive whole number)"
        );
        assert_eq!(polled.hold_reasons[1].detail, "line 2 has no SKU");
        assert!(polled.cancelled);
        assert_eq!(
            polled.financial_status.as_deref(),
            Some("partially_refunded")
        );
        assert_eq!(polled, via_webhook(&r));
    }

    #[test]
    fn digital_only_orders_get_the_no_lines_hold_like_the_webhook_path() {
        let mut g = gql_order();
        g["lineItems"]["nodes"] = json!([
            {"id": "gid://shopify/LineItem/9", "sku": "", "quantity": 1, "name": "E-book", "requiresShipping": false}
        ]);
        let mut r = rest_order();
        r["line_items"] = json!([
            {"id": 9, "sku": "", "quantity": 1, "name": "E-book", "requires_shipping": false}
        ]);
        let polled = via_poll(&g);
        assert_eq!(
            polled.hold_reasons,
            vec![HoldReason::new(
                HoldCode::NoLines,
                "the order has no lines to ship"
            )]
        );
        assert_eq!(polled, via_webhook(&r));
    }

    #[test]
    fn the_query_reads_the_payment_gateways() {
        assert!(ORDERS_QUERY.contains(" displayFinancialStatus paymentGatewayNames "));
    }

    /// Pending, expired and voided orders wait for payment, paid and authorized ones do not,
    /// a pending cash-on-delivery order does not: exactly as the webhook path decides.
    #[test]
    fn payment_readiness_matches_the_webhook_path() {
        let cases: &[(&str, &[&str], Option<bool>)] = &[
            // (financial status, gateways, Some(payment only) when awaiting / None when ready)
            ("PENDING", &["Bank Deposit"], Some(true)),
            ("PENDING", &["manual"], Some(true)),
            ("PENDING", &[], Some(true)),
            ("PENDING", &["Cash on Delivery (COD)"], None),
            ("PENDING", &["gift_card", "cash_on_delivery"], None),
            ("EXPIRED", &["shopify_payments"], Some(false)),
            ("VOIDED", &["shopify_payments"], Some(false)),
            ("AUTHORIZED", &["shopify_payments"], None),
            ("PAID", &["shopify_payments"], None),
            ("PARTIALLY_PAID", &["manual"], None),
            ("PARTIALLY_REFUNDED", &["shopify_payments"], None),
            ("REFUNDED", &["shopify_payments"], None),
        ];
        for (status, gateways, want) in cases {
            let mut g = gql_order();
            g["displayFinancialStatus"] = json!(status);
            g["paymentGatewayNames"] = json!(gateways);
            let mut r = rest_order();
            r["financial_status"] = json!(status.to_ascii_lowercase());
            r["payment_gateway_names"] = json!(gateways);
            let polled = via_poll(&g);
            assert_eq!(
                polled.awaiting.is_some().then_some(polled.awaiting_payment),
                *want,
                "{status} {gateways:?}: {:?}",
                polled.awaiting
            );
            assert_eq!(polled, via_webhook(&r), "{status} {gateways:?}");
        }
    }

    #[test]
    fn financial_statuses_are_lowercased_and_unknown_ones_kept() {
        for (raw, want) in [
            (Some("PAID"), Some("paid")),
            (Some("PARTIALLY_REFUNDED"), Some("partially_refunded")),
            (Some("PARTIALLY_PAID"), Some("partially_paid")),
            (Some("BRAND_NEW_STATE"), Some("brand_new_state")),
            (Some(" "), None),
            (None, None),
        ] {
            assert_eq!(
                financial_status(raw.map(str::to_owned)).as_deref(),
                want,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn gids_map_to_the_rest_numbers() {
        assert_eq!(
            gid_number("gid://shopify/LineItem/466157049", "LineItem").as_deref(),
            Some("466157049")
        );
        assert_eq!(
            gid_number("gid://shopify/LineItem/0042?x=1", "LineItem").as_deref(),
            Some("42")
        );
        for bad in [
            "gid://shopify/Order/1",
            "gid://shopify/LineItemX/1",
            "gid://shopify/LineItem/",
            "gid://shopify/LineItem/-1",
            "gid://shopify/LineItem/99999999999999999999",
            "466157049",
        ] {
            assert_eq!(gid_number(bad, "LineItem"), None, "{bad}");
        }
        // A line id that is not a LineItem gid is kept as it is, like the webhook path does
        // with string ids; a missing one becomes its index.
        let mut g = gql_order();
        g["lineItems"]["nodes"] = json!([
            {"id": "weird", "sku": "A", "quantity": 1, "name": "x", "requiresShipping": true},
            {"sku": "B", "quantity": 1, "name": "y", "requiresShipping": true}
        ]);
        let ids: Vec<String> = via_poll(&g)
            .lines
            .into_iter()
            .map(|l| l.channel_line_id)
            .collect();
        assert_eq!(ids, vec!["weird", "index-1"]);
    }

    #[test]
    fn order_ids_fall_back_to_the_gid_and_refuse_mismatches() {
        let mut g = gql_order();
        g["legacyResourceId"] = json!(null);
        assert_eq!(via_poll(&g).channel_order_id.as_str(), "820982911946154508");
        g["legacyResourceId"] = json!(820982911946154508u64);
        assert_eq!(via_poll(&g).channel_order_id.as_str(), "820982911946154508");
        g["legacyResourceId"] = json!("1");
        assert!(map_order(&g).unwrap_err().contains("does not match"));
    }

    #[tokio::test]
    async fn malformed_nodes_are_skipped_and_the_page_survives() {
        let server = MockServer::start().await;
        let mut no_id = gql_order();
        no_id.as_object_mut().unwrap().remove("id");
        let mut no_created = gql_order();
        no_created["id"] = json!("gid://shopify/Order/2");
        no_created["legacyResourceId"] = json!("2");
        no_created["createdAt"] = json!(null);
        let mut bad_created = gql_order();
        bad_created["id"] = json!("gid://shopify/Order/3");
        bad_created["legacyResourceId"] = json!("3");
        bad_created["createdAt"] = json!("yesterday");
        let mut bad_legacy = gql_order();
        bad_legacy["id"] = json!("gid://shopify/Order/4");
        bad_legacy["legacyResourceId"] = json!("abc");
        let mut too_many_lines = gql_order();
        too_many_lines["id"] = json!("gid://shopify/Order/5");
        too_many_lines["legacyResourceId"] = json!("5");
        too_many_lines["lineItems"]["pageInfo"]["hasNextPage"] = json!(true);
        let mut wrong_type = gql_order();
        wrong_type["id"] = json!("gid://shopify/Order/6");
        wrong_type["legacyResourceId"] = json!("6");
        wrong_type["lineItems"] = json!("many");
        mount(
            &server,
            3,
            None,
            page(
                vec![
                    no_id,
                    no_created,
                    gql_order(),
                    bad_created,
                    bad_legacy,
                    json!(null),
                    too_many_lines,
                    wrong_type,
                ],
                None,
            ),
        )
        .await;
        let p = client(&server)
            .orders_updated_since(&shop(), &Secret::new(TOKEN), since(), None, 3)
            .await
            .unwrap();
        assert_eq!(p.orders.len(), 1);
        assert_eq!(p.orders[0].channel_order_id.as_str(), "820982911946154508");
        let skipped: Vec<(&str, &str)> = p
            .skipped
            .iter()
            .map(|(id, why)| (id.as_str(), why.as_str()))
            .collect();
        assert_eq!(skipped.len(), 7, "{skipped:?}");
        assert_eq!(skipped[0], ("?", "missing id"));
        assert_eq!(skipped[1], ("gid://shopify/Order/2", "missing createdAt"));
        assert_eq!(skipped[2].0, "gid://shopify/Order/3");
        assert!(skipped[2].1.contains("createdAt is not an RFC 3339"));
        assert!(skipped[3].1.contains("legacyResourceId \"abc\""));
        assert_eq!(skipped[4].0, "?");
        assert!(skipped[4].1.contains("not an object"));
        assert!(skipped[5].1.contains("more than 250 line items"));
        assert_eq!(skipped[6].0, "gid://shopify/Order/6");
        assert!(skipped[6].1.contains("unreadable order node"));
    }

    #[tokio::test]
    async fn failures_are_classified() {
        type Check = fn(&ClientError) -> bool;
        let cases: Vec<(ResponseTemplate, Check)> = vec![
            (ResponseTemplate::new(401), |e| {
                matches!(e, ClientError::Unauthorized)
            }),
            (
                ResponseTemplate::new(200).set_body_string("<html>Log in</html>"),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("not JSON")),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"data": {"shop": {}}})),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("no orders")),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"data": {"orders": {
                    "nodes": [], "pageInfo": {"hasNextPage": true, "endCursor": null}}}})),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("endCursor")),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({"errors": [{
                    "message": "Query cost is 1022, which exceeds the single query max cost limit (1000).",
                    "extensions": {"code": "MAX_COST_EXCEEDED"}}]})),
                |e| matches!(e, ClientError::BadResponse(m) if m.contains("max cost")),
            ),
        ];
        for (response, check) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(response)
                .expect(1)
                .mount(&server)
                .await;
            let err = client(&server)
                .orders_updated_since(&shop(), &Secret::new(TOKEN), since(), None, 3)
                .await
                .unwrap_err();
            assert!(check(&err), "{err:?}");
            assert!(!err.to_string().contains(TOKEN));
        }
    }
}
