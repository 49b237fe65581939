//! The fulfillment-order topics: interpretation (every topic, malformed payloads), the order's
//! version, cancellation answers, and the exact GraphQL requests against a fake Shopify.

use super::*;
use crate::channels::shopify::fulfillment::{FoLine, FULFILLMENT_ORDERS_QUERY};
use chrono::TimeZone;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "shpat_fake_moves_token";
const GRAPHQL_PATH: &str = "/admin/api/2026-10/graphql.json";
const HERE: &str = "gid://shopify/Location/1";
const THERE: &str = "gid://shopify/Location/2";

fn fo_gid(n: u64) -> String {
    format!("gid://shopify/FulfillmentOrder/{n}")
}

fn fetch_of(topic: &str, payload: Value) -> Result<Interpreted, InterpretError> {
    interpret(topic, &serde_json::to_vec(&payload).unwrap()).expect("a fulfillment-order topic")
}

// ---- interpretation ------------------------------------------------------------------

#[test]
fn every_topic_names_its_fulfillment_orders_for_a_re_read() {
    let cases = [
        (
            "fulfillment_orders/moved",
            json!({
                "original_fulfillment_order": {"id": fo_gid(1), "status": "closed",
                    "assigned_location_id": THERE},
                "moved_fulfillment_order": {"id": fo_gid(2), "status": "open",
                    "assigned_location_id": HERE},
                "destination_location_id": HERE,
                "fulfillment_order_line_items_requested": null,
                "source_location": {"id": THERE}
            }),
            vec![fo_gid(1), fo_gid(2)],
        ),
        (
            "fulfillment_orders/split",
            json!({
                "split_line_items": [{"id": "gid://shopify/FulfillmentOrderLineItem/5", "quantity": 1}],
                "fulfillment_order": {"id": fo_gid(3), "status": "open"},
                "remaining_fulfillment_order": {"id": fo_gid(4), "status": "open"},
                "replacement_fulfillment_order": null
            }),
            vec![fo_gid(3), fo_gid(4)],
        ),
        (
            "fulfillment_orders/merged",
            json!({
                "merge_intents": [
                    {"fulfillment_order_id": 5, "fulfillment_order_line_items": []},
                    {"fulfillment_order_id": fo_gid(6), "fulfillment_order_line_items": []}
                ],
                "fulfillment_order": {"id": fo_gid(5), "status": "open"}
            }),
            vec![fo_gid(5), fo_gid(6)],
        ),
        (
            "fulfillment_orders/placed_on_hold",
            json!({"fulfillment_order": {"id": fo_gid(7), "status": "on_hold"},
                "remaining_fulfillment_order": null}),
            vec![fo_gid(7)],
        ),
        (
            "fulfillment_orders/cancellation_request_submitted",
            json!({"fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/0008",
                "status": "in_progress", "request_status": "cancellation_requested"},
                "fulfillment_order_merchant_request": {"id": "gid://shopify/FulfillmentOrderMerchantRequest/1",
                    "message": "customer changed their mind"}}),
            vec![fo_gid(8)],
        ),
    ];
    for (topic, payload, ids) in cases {
        assert_eq!(
            fetch_of(topic, payload),
            Ok(Interpreted::Fetch(ids.join(","))),
            "{topic}"
        );
    }
    for topic in [
        "fulfillment_orders/hold_released",
        "fulfillment_orders/order_routing_complete",
        "fulfillment_orders/cancelled",
        "fulfillment_orders/cancellation_request_accepted",
        "fulfillment_orders/cancellation_request_rejected",
    ] {
        assert_eq!(
            fetch_of(
                topic,
                json!({"fulfillment_order": {"id": fo_gid(9), "status": "open"}})
            ),
            Ok(Interpreted::Fetch(fo_gid(9))),
            "{topic}"
        );
    }
    // Through the channel's interpreter too (the topic routes here, not to the order mapper).
    let body = serde_json::to_vec(&json!({"fulfillment_order": {"id": fo_gid(9)}})).unwrap();
    assert_eq!(
        crate::channels::shopify::interpret("fulfillment_orders/hold_released", &body),
        Ok(Interpreted::Fetch(fo_gid(9)))
    );
    assert_eq!(interpret("orders/updated", &body), None);
}

#[test]
fn malformed_payloads_are_refused_with_a_reason() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "names no fulfillment order"),
        (
            br#"{"fulfillment_order": null}"#,
            "names no fulfillment order",
        ),
        (
            br#"{"fulfillment_order": "gid://shopify/FulfillmentOrder/1"}"#,
            "fulfillment_order is not an object",
        ),
        (
            br#"{"fulfillment_order": {"status": "open"}}"#,
            "fulfillment_order.id is not",
        ),
        (
            br#"{"fulfillment_order": {"id": "gid://shopify/Order/1"}}"#,
            "fulfillment_order.id is not",
        ),
        (
            br#"{"fulfillment_order": {"id": -3}}"#,
            "fulfillment_order.id is not",
        ),
        (
            br#"{"fulfillment_order": {"id": 0}}"#,
            "fulfillment_order.id is not",
        ),
        (
            br#"{"fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/1,gid://x"}}"#,
            "fulfillment_order.id is not",
        ),
        (
            br#"{"moved_fulfillment_order": {"id": 1.5}}"#,
            "moved_fulfillment_order.id is not",
        ),
        (
            br#"{"merge_intents": {"fulfillment_order_id": 1}}"#,
            "merge_intents is not an array",
        ),
        (
            br#"{"merge_intents": [{"fulfillment_order_id": "x"}]}"#,
            "merge_intents[].fulfillment_order_id",
        ),
    ];
    for (payload, reason) in cases {
        let err = interpret("fulfillment_orders/moved", payload)
            .unwrap()
            .unwrap_err();
        assert_eq!(err.channel, Channel::Shopify);
        assert_eq!(err.topic, "fulfillment_orders/moved");
        assert!(
            err.reason.contains(reason),
            "{}: {}",
            String::from_utf8_lossy(payload),
            err.reason
        );
    }
    let many: Vec<Value> = (1..=21)
        .map(|n| json!({"fulfillment_order_id": n}))
        .collect();
    let err = fetch_of("fulfillment_orders/merged", json!({"merge_intents": many})).unwrap_err();
    assert!(err.reason.contains("at most 20"), "{}", err.reason);
}

#[test]
fn a_reference_is_fulfillment_orders_or_an_order() {
    assert_eq!(
        Reference::parse(&format!("{},{}", fo_gid(1), fo_gid(2))),
        Reference::FulfillmentOrders(vec![fo_gid(1), fo_gid(2)])
    );
    assert_eq!(
        Reference::parse("820982911946154508"),
        Reference::Order("820982911946154508".into())
    );
    assert_eq!(
        Reference::parse("gid://shopify/Order/7"),
        Reference::Order("gid://shopify/Order/7".into())
    );
    // Anything mixed is not a fulfillment-order reference (and fails as an order id later).
    assert_eq!(
        Reference::parse(&format!("{},7", fo_gid(1))),
        Reference::Order(format!("{},7", fo_gid(1)))
    );
}

// ---- version and cancellation answers ------------------------------------------------

fn fo(
    n: u64,
    status: FoStatus,
    at: &str,
    request: Option<&str>,
    updated: Option<DateTime<Utc>>,
    lines: &[(u32, u32)],
) -> FulfillmentOrder {
    FulfillmentOrder {
        id: fo_gid(n),
        status,
        location_id: Some(at.into()),
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (remaining, total))| FoLine {
                id: format!("gid://shopify/FulfillmentOrderLineItem/{n}{i}"),
                remaining: *remaining,
                total: *total,
                sku: None,
                line_item_id: format!("gid://shopify/LineItem/{n}{i}"),
            })
            .collect(),
        request_status: request.map(str::to_owned),
        updated_at: updated,
    }
}

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, hour, 0, 0).unwrap()
}

#[test]
fn the_version_is_the_latest_of_the_order_and_its_fulfillment_orders() {
    let fos = [
        fo(1, FoStatus::Open, HERE, None, Some(at(11)), &[]),
        fo(2, FoStatus::Closed, THERE, None, Some(at(10)), &[]),
        fo(3, FoStatus::Open, THERE, None, None, &[]),
    ];
    assert_eq!(version(at(9), &fos), at(11));
    assert_eq!(version(at(12), &fos), at(12));
    assert_eq!(version(at(9), &[]), at(9));
}

#[test]
fn only_our_open_requested_fulfillment_orders_are_answered() {
    let fos = [
        fo(
            1,
            FoStatus::InProgress,
            HERE,
            Some("CANCELLATION_REQUESTED"),
            None,
            &[(1, 1)],
        ),
        fo(
            2,
            FoStatus::InProgress,
            THERE,
            Some("CANCELLATION_REQUESTED"),
            None,
            &[(1, 1)],
        ),
        fo(
            3,
            FoStatus::InProgress,
            HERE,
            Some("ACCEPTED"),
            None,
            &[(1, 1)],
        ),
        fo(
            4,
            FoStatus::Closed,
            HERE,
            Some("CANCELLATION_REQUESTED"),
            None,
            &[(0, 1)],
        ),
        fo(
            5,
            FoStatus::InProgress,
            "1",
            Some("CANCELLATION_REQUESTED"),
            None,
            &[(1, 1)],
        ),
    ];
    assert_eq!(pending_cancellations(&fos, HERE), [0, 4]);
    assert_eq!(pending_cancellations(&fos, "1"), [0, 4]);
    assert_eq!(pending_cancellations(&fos, THERE), [1]);
}

#[test]
fn accepted_when_nothing_was_fulfilled_rejected_otherwise() {
    let untouched = fo(1, FoStatus::InProgress, HERE, None, None, &[(2, 2), (1, 1)]);
    let (accept, message) = cancellation_answer(&untouched);
    assert!(accept);
    assert!(message.contains("not to ship"), "{message}");
    let part = fo(2, FoStatus::InProgress, HERE, None, None, &[(2, 2), (0, 1)]);
    let (accept, message) = cancellation_answer(&part);
    assert!(!accept);
    assert!(message.contains("already shipped"), "{message}");
    assert_eq!(answered_status(true), "CANCELLATION_ACCEPTED");
    assert_eq!(answered_status(false), "CANCELLATION_REJECTED");
    let hold = unanswered_hold(&fo_gid(1), "Access denied");
    assert_eq!(hold.code, HoldCode::NotReady);
    assert!(hold.detail.contains(&fo_gid(1)) && hold.detail.contains("Access denied"));
}

// ---- the client against a fake Shopify ------------------------------------------------

fn shop() -> ShopDomain {
    ShopDomain::parse("moves.myshopify.com").unwrap()
}

fn client(server: &MockServer) -> ShopifyClient {
    ShopifyClient::new(Some(server.uri())).unwrap()
}

async fn expect_call(server: &MockServer, query: &str, variables: Value, answer: Value, n: u64) {
    Mock::given(method("POST"))
        .and(path(GRAPHQL_PATH))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_json(json!({ "query": query, "variables": variables })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": answer })))
        .expect(n)
        .mount(server)
        .await;
}

fn order_node(id: u64, updated_at: &str) -> Value {
    json!({
        "id": format!("gid://shopify/Order/{id}"), "legacyResourceId": id.to_string(),
        "name": format!("#{id}"), "createdAt": "2026-11-27T08:00:00Z", "updatedAt": updated_at,
        "cancelledAt": null, "displayFinancialStatus": "PAID",
        "paymentGatewayNames": ["shopify_payments"], "test": false, "currencyCode": "EUR",
        "email": null,
        "shippingAddress": {"name": "Ada", "firstName": null, "lastName": null, "company": null,
            "address1": "1 Main St", "address2": null, "city": "Dublin", "provinceCode": null,
            "zip": "D01", "countryCodeV2": "IE", "phone": null},
        "lineItems": {"nodes": [
            {"id": "gid://shopify/LineItem/11", "sku": "TS-001", "quantity": 1, "name": "Tee",
                "requiresShipping": true}
        ], "pageInfo": {"hasNextPage": false}}
    })
}

fn fo_node(n: u64, updated_at: &str) -> Value {
    json!({"id": fo_gid(n), "status": "OPEN", "requestStatus": "UNSUBMITTED",
        "updatedAt": updated_at, "assignedLocation": {"location": {"id": HERE}},
        "lineItems": {"nodes": [{"id": format!("gid://shopify/FulfillmentOrderLineItem/{n}"),
            "remainingQuantity": 1, "totalQuantity": 1,
            "lineItem": {"id": "gid://shopify/LineItem/11", "sku": "TS-001"}}],
            "pageInfo": {"hasNextPage": false, "endCursor": null}}})
}

/// GIVEN a move event naming two fulfillment orders WHEN the order is re-read THEN one
/// request resolves them to their order, one reads the order, and the fulfillment orders are
/// read page by page; the order's version is the latest fulfillment order's `updatedAt`.
#[tokio::test]
async fn a_re_read_resolves_the_order_and_versions_it_across_pages() {
    let server = MockServer::start().await;
    let order = "gid://shopify/Order/7005";
    expect_call(
        &server,
        FULFILLMENT_ORDERS_ORDER_QUERY,
        json!({"ids": [fo_gid(1), fo_gid(2)]}),
        json!({"nodes": [null, {"id": fo_gid(2), "order": {"id": order}}]}),
        1,
    )
    .await;
    expect_call(
        &server,
        ORDER_QUERY,
        json!({"id": order}),
        json!({"order": order_node(7005, "2026-11-28T09:00:00Z")}),
        1,
    )
    .await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({"id": order, "after": null}),
        json!({"order": {"id": order, "fulfillmentOrders": {
            "nodes": [fo_node(1, "2026-11-28T09:30:00Z")],
            "pageInfo": {"hasNextPage": true, "endCursor": "fo-cursor-1"}}}}),
        1,
    )
    .await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({"id": order, "after": "fo-cursor-1"}),
        json!({"order": {"id": order, "fulfillmentOrders": {
            "nodes": [fo_node(2, "2026-11-28T10:15:00Z")],
            "pageInfo": {"hasNextPage": false, "endCursor": null}}}}),
        1,
    )
    .await;
    let reread = client(&server)
        .reread(
            &shop(),
            &Secret::new(TOKEN),
            &format!("{},{}", fo_gid(1), fo_gid(2)),
        )
        .await
        .unwrap();
    let Some(Reread::Order(order)) = reread else {
        panic!("expected an order, got {reread:?}");
    };
    assert_eq!(order.channel_order_id.as_str(), "7005");
    assert_eq!(
        order.updated_at,
        Utc.with_ymd_and_hms(2026, 11, 28, 10, 15, 0).unwrap()
    );
    assert_eq!(order.lines.len(), 1);
}

/// Fulfillment orders the app cannot see are not ours: nothing else is read.
#[tokio::test]
async fn invisible_fulfillment_orders_are_not_ours() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_ORDER_QUERY,
        json!({"ids": [fo_gid(3)]}),
        json!({"nodes": [null]}),
        1,
    )
    .await;
    let reread = client(&server)
        .reread(&shop(), &Secret::new(TOKEN), &fo_gid(3))
        .await
        .unwrap();
    assert!(
        matches!(&reread, Some(Reread::NotOurs(why)) if why.contains(&fo_gid(3))),
        "{reread:?}"
    );
}

/// Two orders for one event, an unmappable order, a missing order.
#[tokio::test]
async fn unusable_answers_are_bad_responses_and_a_missing_order_is_none() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_ORDER_QUERY,
        json!({"ids": [fo_gid(1), fo_gid(2)]}),
        json!({"nodes": [{"id": fo_gid(1), "order": {"id": "gid://shopify/Order/1"}},
            {"id": fo_gid(2), "order": {"id": "gid://shopify/Order/2"}}]}),
        1,
    )
    .await;
    let two = client(&server)
        .reread(
            &shop(),
            &Secret::new(TOKEN),
            &format!("{},{}", fo_gid(1), fo_gid(2)),
        )
        .await;
    assert!(
        matches!(&two, Err(ClientError::BadResponse(m)) if m.contains("two orders")),
        "{two:?}"
    );
    expect_call(
        &server,
        ORDER_QUERY,
        json!({"id": "gid://shopify/Order/8"}),
        json!({"order": {"id": "gid://shopify/Order/8"}}),
        1,
    )
    .await;
    let unmappable = client(&server)
        .reread(&shop(), &Secret::new(TOKEN), "8")
        .await;
    assert!(
        matches!(&unmappable, Err(ClientError::BadResponse(m)) if m.contains("gid://shopify/Order/8")),
        "{unmappable:?}"
    );
    expect_call(
        &server,
        ORDER_QUERY,
        json!({"id": "gid://shopify/Order/9"}),
        json!({"order": null}),
        1,
    )
    .await;
    let missing = client(&server)
        .reread(&shop(), &Secret::new(TOKEN), "9")
        .await
        .unwrap();
    assert!(missing.is_none(), "{missing:?}");
    // Not an order id: refused before anything is sent (the expectations count requests).
    let junk = client(&server)
        .reread(&shop(), &Secret::new(TOKEN), "fo:1")
        .await;
    assert!(matches!(junk, Err(ClientError::BadResponse(_))), "{junk:?}");
}

/// The exact accept and reject mutations; `userErrors` and access errors are a refusal.
#[tokio::test]
async fn cancellation_answers_send_the_exact_mutations() {
    let server = MockServer::start().await;
    let accept_message = "Nothing shipped.";
    expect_call(
        &server,
        ACCEPT_CANCELLATION_MUTATION,
        json!({"id": fo_gid(1), "message": accept_message}),
        json!({"fulfillmentOrderAcceptCancellationRequest": {
            "fulfillmentOrder": {"id": fo_gid(1), "status": "OPEN", "requestStatus": "CANCELLATION_ACCEPTED"},
            "userErrors": []}}),
        1,
    )
    .await;
    expect_call(
        &server,
        REJECT_CANCELLATION_MUTATION,
        json!({"id": fo_gid(2), "message": "Shipped."}),
        json!({"fulfillmentOrderRejectCancellationRequest": {
            "fulfillmentOrder": null,
            "userErrors": [{"field": ["id"], "message": "Fulfillment order is not assigned to your service"}]}}),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path(GRAPHQL_PATH))
        .and(body_json(json!({"query": ACCEPT_CANCELLATION_MUTATION,
            "variables": {"id": fo_gid(3), "message": accept_message}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errors": [{"message": "Access denied for fulfillmentOrderAcceptCancellationRequest field."}]})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let token = Secret::new(TOKEN);
    assert_eq!(
        c.answer_cancellation(&shop(), &token, &fo_gid(1), true, accept_message)
            .await
            .unwrap(),
        Answer::Answered
    );
    assert_eq!(
        c.answer_cancellation(&shop(), &token, &fo_gid(2), false, "Shipped.")
            .await
            .unwrap(),
        Answer::Refused("Fulfillment order is not assigned to your service".into())
    );
    let denied = c
        .answer_cancellation(&shop(), &token, &fo_gid(3), true, accept_message)
        .await
        .unwrap();
    assert!(
        matches!(&denied, Answer::Refused(m) if m.contains("Access denied")),
        "{denied:?}"
    );
}

#[test]
fn subscriptions_are_the_enum_names_of_the_handled_topics() {
    let from_topics: Vec<String> = FULFILLMENT_ORDER_TOPICS
        .iter()
        .map(|t| t.to_ascii_uppercase().replace('/', "_"))
        .collect();
    assert_eq!(from_topics, FULFILLMENT_ORDER_SUBSCRIPTIONS);
}
