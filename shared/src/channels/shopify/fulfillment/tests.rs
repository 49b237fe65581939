//! The three steps against a fake Shopify, and the planner alone.

use super::*;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "shpat_fake_fulfillment_token";
const GRAPHQL_PATH: &str = "/admin/api/2026-10/graphql.json";
const LOC_A: &str = "gid://shopify/Location/1";
const LOC_B: &str = "gid://shopify/Location/2";

// ---- planner fixtures ----------------------------------------------------------------

fn fo(
    id: &str,
    status: FoStatus,
    location: Option<&str>,
    lines: &[(&str, u32, Option<&str>)],
) -> FulfillmentOrder {
    FulfillmentOrder {
        id: id.into(),
        status,
        location_id: location.map(Into::into),
        request_status: None,
        updated_at: None,
        lines: lines
            .iter()
            .map(|(id, remaining, sku)| FoLine {
                id: (*id).into(),
                remaining: *remaining,
                total: *remaining,
                sku: sku.map(Into::into),
                line_item_id: format!("li-{id}"),
            })
            .collect(),
    }
}

fn group(location: Option<&str>, entries: &[(&str, &[(&str, u32)])]) -> PlanGroup {
    PlanGroup {
        location_id: location.map(Into::into),
        by_fulfillment_order: entries
            .iter()
            .map(|(fo, lines)| {
                (
                    (*fo).to_owned(),
                    lines.iter().map(|(l, q)| ((*l).to_owned(), *q)).collect(),
                )
            })
            .collect(),
    }
}

fn shipped(lines: &[(&str, u32)]) -> Vec<(String, u32)> {
    lines.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect()
}

// ---- planner: whole shipment ---------------------------------------------------------

#[test]
fn whole_shipment_takes_everything_remaining_on_open_and_in_progress() {
    let orders = [
        fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[("l1", 2, Some("A")), ("l2", 0, Some("B"))],
        ),
        fo("fo2", FoStatus::InProgress, Some(LOC_A), &[("l3", 1, None)]),
        fo(
            "fo3",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l4", 0, Some("C"))],
        ),
        fo(
            "fo4",
            FoStatus::OnHold,
            Some(LOC_A),
            &[("l5", 3, Some("D"))],
        ),
        fo(
            "fo5",
            FoStatus::Scheduled,
            Some(LOC_A),
            &[("l6", 0, Some("E"))],
        ),
        fo(
            "fo6",
            FoStatus::Cancelled,
            Some(LOC_A),
            &[("l7", 4, Some("F"))],
        ),
    ];
    let plan = plan_fulfillment(&orders, None, None).unwrap();
    assert_eq!(
        plan.groups,
        vec![group(
            Some(LOC_A),
            &[("fo1", &[("l1", 2)]), ("fo2", &[("l3", 1)])]
        )]
    );
    // On hold with units left is reported; scheduled with nothing left and final ones are not.
    assert_eq!(plan.held_back, vec![("fo4".to_owned(), FoStatus::OnHold)]);
}

#[test]
fn location_narrows_to_its_fulfillment_orders_and_accepts_a_numeric_id() {
    let orders = [
        fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
        fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 1, Some("A"))]),
        fo("fo3", FoStatus::Open, None, &[("l3", 1, Some("A"))]),
    ];
    let want = vec![group(Some(LOC_B), &[("fo2", &[("l2", 1)])])];
    assert_eq!(
        plan_fulfillment(&orders, Some(LOC_B), None).unwrap().groups,
        want
    );
    assert_eq!(
        plan_fulfillment(&orders, Some(" 2 "), None).unwrap().groups,
        want
    );
}

#[test]
fn several_locations_give_one_group_each_and_unknown_locations_stay_apart() {
    let orders = [
        fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
        fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 2, Some("B"))]),
        fo("fo3", FoStatus::Open, Some(LOC_A), &[("l3", 3, Some("C"))]),
        fo("fo4", FoStatus::Open, None, &[("l4", 4, Some("D"))]),
        fo("fo5", FoStatus::Open, None, &[("l5", 5, Some("E"))]),
    ];
    let plan = plan_fulfillment(&orders, None, None).unwrap();
    assert_eq!(
        plan.groups,
        vec![
            group(Some(LOC_A), &[("fo1", &[("l1", 1)]), ("fo3", &[("l3", 3)])]),
            group(Some(LOC_B), &[("fo2", &[("l2", 2)])]),
            group(None, &[("fo4", &[("l4", 4)])]),
            group(None, &[("fo5", &[("l5", 5)])]),
        ]
    );
    // A partial shipment spanning locations is split the same way.
    let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("B", 1), ("A", 1)]))).unwrap();
    assert_eq!(
        plan.groups,
        vec![
            group(Some(LOC_A), &[("fo1", &[("l1", 1)])]),
            group(Some(LOC_B), &[("fo2", &[("l2", 1)])]),
        ]
    );
}

// ---- planner: nothing to fulfil ------------------------------------------------------

#[test]
fn no_fulfillment_orders() {
    assert_eq!(
        plan_fulfillment(&[], None, None),
        Err(PlanError::NoFulfillmentOrders)
    );
}

#[test]
fn none_at_the_location_lists_where_they_are() {
    let orders = [
        fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
        fo("fo2", FoStatus::Open, Some(LOC_A), &[("l2", 1, Some("B"))]),
        fo("fo3", FoStatus::Open, None, &[("l3", 1, Some("C"))]),
    ];
    assert_eq!(
        plan_fulfillment(&orders, Some("99"), None),
        Err(PlanError::NotAtLocation {
            location_id: "gid://shopify/Location/99".into(),
            found: vec![LOC_A.into()],
        })
    );
}

#[test]
fn all_closed_or_nothing_left_is_already_fulfilled() {
    let closed = [
        fo(
            "fo1",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l1", 0, Some("A"))],
        ),
        fo(
            "fo2",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l2", 0, Some("B"))],
        ),
    ];
    assert_eq!(
        plan_fulfillment(&closed, None, None),
        Err(PlanError::AlreadyFulfilled)
    );
    // The retry of a partial shipment already written: the order-level answer wins.
    assert_eq!(
        plan_fulfillment(&closed, None, Some(&shipped(&[("A", 1)]))),
        Err(PlanError::AlreadyFulfilled)
    );
    let open_but_done = [
        fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 0, Some("A"))]),
        fo(
            "fo2",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l2", 0, Some("B"))],
        ),
    ];
    assert_eq!(
        plan_fulfillment(&open_but_done, None, None),
        Err(PlanError::AlreadyFulfilled)
    );
    // Closed at the requested location; open elsewhere does not count.
    let mixed = [
        fo(
            "fo1",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l1", 0, Some("A"))],
        ),
        fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 1, Some("A"))]),
    ];
    assert_eq!(
        plan_fulfillment(&mixed, Some(LOC_A), None),
        Err(PlanError::AlreadyFulfilled)
    );
}

#[test]
fn all_cancelled_or_cancelled_with_the_rest_closed_is_cancelled() {
    let cancelled = [
        fo(
            "fo1",
            FoStatus::Cancelled,
            Some(LOC_A),
            &[("l1", 2, Some("A"))],
        ),
        fo(
            "fo2",
            FoStatus::Cancelled,
            Some(LOC_A),
            &[("l2", 0, Some("B"))],
        ),
    ];
    assert_eq!(
        plan_fulfillment(&cancelled, None, None),
        Err(PlanError::Cancelled)
    );
    assert_eq!(
        plan_fulfillment(&cancelled, None, Some(&shipped(&[("A", 1)]))),
        Err(PlanError::Cancelled)
    );
    let partly = [
        fo(
            "fo1",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l1", 0, Some("A"))],
        ),
        fo(
            "fo2",
            FoStatus::Cancelled,
            Some(LOC_A),
            &[("l2", 1, Some("B"))],
        ),
    ];
    assert_eq!(
        plan_fulfillment(&partly, None, None),
        Err(PlanError::Cancelled)
    );
}

#[test]
fn only_held_units_left_is_not_fulfillable_with_the_statuses() {
    let orders = [
        fo(
            "fo1",
            FoStatus::OnHold,
            Some(LOC_A),
            &[("l1", 1, Some("A"))],
        ),
        fo(
            "fo2",
            FoStatus::Scheduled,
            Some(LOC_A),
            &[("l2", 1, Some("B"))],
        ),
        fo(
            "fo3",
            FoStatus::Other("NEW_STATE".into()),
            Some(LOC_A),
            &[("l3", 1, Some("C"))],
        ),
        fo(
            "fo4",
            FoStatus::Incomplete,
            Some(LOC_A),
            &[("l4", 1, Some("D"))],
        ),
        fo(
            "fo5",
            FoStatus::OnHold,
            Some(LOC_A),
            &[("l5", 1, Some("E"))],
        ),
        fo(
            "fo6",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l6", 0, Some("F"))],
        ),
    ];
    assert_eq!(
        plan_fulfillment(&orders, None, None),
        Err(PlanError::NotFulfillable {
            statuses: vec![
                FoStatus::OnHold,
                FoStatus::Scheduled,
                FoStatus::Other("NEW_STATE".into()),
                FoStatus::Incomplete,
            ]
        })
    );
}

// ---- planner: partial shipments ------------------------------------------------------

#[test]
fn partial_shipment_allocates_across_lines_in_order() {
    let orders = [
        fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[("l1", 2, Some("A")), ("l2", 5, Some("B"))],
        ),
        fo(
            "fo2",
            FoStatus::InProgress,
            Some(LOC_A),
            &[("l3", 3, Some("A")), ("l4", 1, Some("C"))],
        ),
        fo("fo3", FoStatus::Open, Some(LOC_A), &[("l5", 4, Some("A"))]),
    ];
    // A: 2 from l1, 2 from l3; repeated SKUs add up; zero quantities are ignored.
    let plan = plan_fulfillment(
        &orders,
        None,
        Some(&shipped(&[("A", 3), ("C", 0), ("B", 1), ("A", 1)])),
    )
    .unwrap();
    assert_eq!(
        plan.groups,
        vec![group(
            Some(LOC_A),
            &[("fo1", &[("l1", 2), ("l2", 1)]), ("fo2", &[("l3", 2)])]
        )]
    );
    assert!(plan.held_back.is_empty());
}

#[test]
fn partial_shipment_of_nothing_is_refused() {
    let orders = [fo(
        "fo1",
        FoStatus::Open,
        Some(LOC_A),
        &[("l1", 2, Some("A"))],
    )];
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&[])),
        Err(PlanError::EmptyShipment)
    );
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&shipped(&[("A", 0)]))),
        Err(PlanError::EmptyShipment)
    );
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&shipped(&[("  ", 1)]))),
        Err(PlanError::UnknownSku { sku: String::new() })
    );
}

#[test]
fn sku_matching_is_exact_case_sensitive_and_trimmed() {
    let orders = [fo(
        "fo1",
        FoStatus::Open,
        Some(LOC_A),
        &[
            ("l1", 2, Some("Tee-M")),
            ("l2", 1, None),
            ("l3", 1, Some(" Cap ")),
        ],
    )];
    let unknown =
        |sku: &str| plan_fulfillment(&orders, None, Some(&shipped(&[(sku, 1)]))).map(|p| p.groups);
    assert_eq!(
        unknown("tee-m"),
        Err(PlanError::UnknownSku {
            sku: "tee-m".into()
        })
    );
    assert_eq!(
        unknown("Tee"),
        Err(PlanError::UnknownSku { sku: "Tee".into() })
    );
    assert_eq!(
        unknown("  Tee-M\t"),
        Ok(vec![group(Some(LOC_A), &[("fo1", &[("l1", 1)])])])
    );
    // Surrounding spaces on Shopify's side are ignored as well.
    assert_eq!(
        unknown("Cap"),
        Ok(vec![group(Some(LOC_A), &[("fo1", &[("l3", 1)])])])
    );
}

#[test]
fn skus_with_slashes_match_whole() {
    let orders = [fo(
        "fo1",
        FoStatus::Open,
        Some(LOC_A),
        &[("l1", 1, Some("TS/RED/M")), ("l2", 2, Some("TS/RED"))],
    )];
    let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("TS/RED/M", 1)]))).unwrap();
    assert_eq!(
        plan.groups,
        vec![group(Some(LOC_A), &[("fo1", &[("l1", 1)])])]
    );
    let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("TS/RED", 2)]))).unwrap();
    assert_eq!(
        plan.groups,
        vec![group(Some(LOC_A), &[("fo1", &[("l2", 2)])])]
    );
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&shipped(&[("TS/", 1)]))),
        Err(PlanError::UnknownSku { sku: "TS/".into() })
    );
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&shipped(&[("TS%2FRED", 1)]))),
        Err(PlanError::UnknownSku {
            sku: "TS%2FRED".into()
        })
    );
}

#[test]
fn sku_at_another_location_is_unknown_there() {
    let orders = [
        fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
        fo("fo2", FoStatus::Open, Some(LOC_B), &[("l2", 1, Some("B"))]),
    ];
    assert_eq!(
        plan_fulfillment(&orders, Some(LOC_A), Some(&shipped(&[("B", 1)]))),
        Err(PlanError::UnknownSku { sku: "B".into() })
    );
}

#[test]
fn more_than_remaining_is_too_much_with_the_numbers() {
    let orders = [
        fo(
            "fo1",
            FoStatus::Open,
            Some(LOC_A),
            &[("l1", 2, Some("A")), ("l2", 1, Some("B"))],
        ),
        fo("fo2", FoStatus::Open, Some(LOC_A), &[("l3", 1, Some("A"))]),
        // Units on a closed fulfillment order are not left to fulfil.
        fo(
            "fo3",
            FoStatus::Closed,
            Some(LOC_A),
            &[("l4", 0, Some("A"))],
        ),
    ];
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&shipped(&[("A", 3), ("A", 1)]))),
        Err(PlanError::TooMuch {
            sku: "A".into(),
            shipped: 4,
            remaining: 3
        })
    );
    // A SKU fully fulfilled while others are open.
    let orders = [fo(
        "fo1",
        FoStatus::Open,
        Some(LOC_A),
        &[("l1", 0, Some("A")), ("l2", 1, Some("B"))],
    )];
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&shipped(&[("A", 1)]))),
        Err(PlanError::TooMuch {
            sku: "A".into(),
            shipped: 1,
            remaining: 0
        })
    );
}

#[test]
fn huge_quantities_do_not_overflow() {
    let orders = [fo(
        "fo1",
        FoStatus::Open,
        Some(LOC_A),
        &[("l1", u32::MAX, Some("A"))],
    )];
    assert_eq!(
        plan_fulfillment(
            &orders,
            None,
            Some(&shipped(&[("A", u32::MAX), ("A", u32::MAX)]))
        ),
        Err(PlanError::TooMuch {
            sku: "A".into(),
            shipped: 2 * u64::from(u32::MAX),
            remaining: u64::from(u32::MAX)
        })
    );
    let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("A", u32::MAX)]))).unwrap();
    assert_eq!(
        plan.groups,
        vec![group(Some(LOC_A), &[("fo1", &[("l1", u32::MAX)])])]
    );
}

#[test]
fn sku_only_on_held_fulfillment_orders_is_not_fulfillable() {
    let orders = [
        fo("fo1", FoStatus::Open, Some(LOC_A), &[("l1", 1, Some("A"))]),
        fo(
            "fo2",
            FoStatus::OnHold,
            Some(LOC_A),
            &[("l2", 2, Some("B"))],
        ),
    ];
    assert_eq!(
        plan_fulfillment(&orders, None, Some(&shipped(&[("A", 1), ("B", 1)]))),
        Err(PlanError::SkuNotFulfillable {
            sku: "B".into(),
            statuses: vec![FoStatus::OnHold]
        })
    );
    let plan = plan_fulfillment(&orders, None, Some(&shipped(&[("A", 1)]))).unwrap();
    assert_eq!(
        plan.groups,
        vec![group(Some(LOC_A), &[("fo1", &[("l1", 1)])])]
    );
    assert_eq!(plan.held_back, vec![("fo2".to_owned(), FoStatus::OnHold)]);
}

#[test]
fn statuses_and_ids() {
    for (raw, status) in [
        ("OPEN", FoStatus::Open),
        ("IN_PROGRESS", FoStatus::InProgress),
        ("SCHEDULED", FoStatus::Scheduled),
        ("ON_HOLD", FoStatus::OnHold),
        ("INCOMPLETE", FoStatus::Incomplete),
        ("CLOSED", FoStatus::Closed),
        ("CANCELLED", FoStatus::Cancelled),
        ("open", FoStatus::Other("open".into())),
    ] {
        assert_eq!(FoStatus::from_api(raw), status);
    }
    assert_eq!(
        order_gid("5678901234").as_deref(),
        Some("gid://shopify/Order/5678901234")
    );
    assert_eq!(
        order_gid(" gid://shopify/Order/42 ").as_deref(),
        Some("gid://shopify/Order/42")
    );
    for bad in [
        "",
        "0",
        "-1",
        "+5",
        "12a",
        "gid://shopify/Order/",
        "gid://shopify/Product/1",
        "gid://shopify/Order/1/2",
        "99999999999999999999999",
    ] {
        assert_eq!(order_gid(bad), None, "{bad:?} accepted");
    }
}

// ---- client fixtures -----------------------------------------------------------------

fn shop() -> ShopDomain {
    ShopDomain::parse("demo.myshopify.com").unwrap()
}

fn token() -> Secret {
    Secret::new(TOKEN)
}

fn client(server: &MockServer) -> ShopifyClient {
    ShopifyClient::new(Some(server.uri())).unwrap()
}

/// A mock that matches only the exact request and must be called `times` times.
async fn expect_call(
    server: &MockServer,
    query: &str,
    variables: Value,
    response: ResponseTemplate,
    times: u64,
) {
    Mock::given(method("POST"))
        .and(path(GRAPHQL_PATH))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_json(json!({ "query": query, "variables": variables })))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

/// Fails the test on any request at all.
async fn expect_no_request(server: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn page_info(next: Option<&str>) -> Value {
    json!({ "hasNextPage": next.is_some(), "endCursor": next.unwrap_or("end") })
}

fn line_json(id: &str, remaining: i64, sku: Value) -> Value {
    json!({
        "id": format!("gid://shopify/FulfillmentOrderLineItem/{id}"),
        "remainingQuantity": remaining,
        "totalQuantity": remaining,
        "lineItem": { "id": format!("gid://shopify/LineItem/{id}"), "sku": sku }
    })
}

fn fo_json(
    id: &str,
    status: &str,
    location: Value,
    lines: Vec<Value>,
    next: Option<&str>,
) -> Value {
    json!({
        "id": format!("gid://shopify/FulfillmentOrder/{id}"),
        "status": status,
        "assignedLocation": { "location": location },
        "lineItems": { "nodes": lines, "pageInfo": page_info(next) }
    })
}

fn order_page(fos: Vec<Value>, next: Option<&str>) -> Value {
    json!({
        "data": { "order": {
            "id": "gid://shopify/Order/5678901234",
            "fulfillmentOrders": { "nodes": fos, "pageInfo": page_info(next) }
        }},
        "extensions": { "cost": { "requestedQueryCost": 864, "actualQueryCost": 12 } }
    })
}

fn gid_order() -> Value {
    json!("gid://shopify/Order/5678901234")
}

// ---- client: fulfillment orders ------------------------------------------------------

#[tokio::test]
async fn fulfillment_orders_sends_the_exact_query_and_reads_one_page() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": gid_order(), "after": null }),
        ok(order_page(
            vec![
                fo_json(
                    "9",
                    "OPEN",
                    json!({ "id": "gid://shopify/Location/87516708954" }),
                    vec![
                        line_json("77", 2, json!("ABC-1")),
                        line_json("78", 1, json!("  ")),
                        line_json("79", 0, json!(null)),
                    ],
                    None,
                ),
                fo_json("10", "SOMETHING_NEW", Value::Null, vec![], None),
            ],
            None,
        )),
        1,
    )
    .await;
    let orders = client(&server)
        .fulfillment_orders(&shop(), &token(), "5678901234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        orders,
        vec![
            FulfillmentOrder {
                id: "gid://shopify/FulfillmentOrder/9".into(),
                status: FoStatus::Open,
                location_id: Some("gid://shopify/Location/87516708954".into()),
                request_status: None,
                updated_at: None,
                lines: vec![
                    FoLine {
                        id: "gid://shopify/FulfillmentOrderLineItem/77".into(),
                        remaining: 2,
                        total: 2,
                        sku: Some("ABC-1".into()),
                        line_item_id: "gid://shopify/LineItem/77".into(),
                    },
                    FoLine {
                        id: "gid://shopify/FulfillmentOrderLineItem/78".into(),
                        remaining: 1,
                        total: 1,
                        sku: None,
                        line_item_id: "gid://shopify/LineItem/78".into(),
                    },
                    FoLine {
                        id: "gid://shopify/FulfillmentOrderLineItem/79".into(),
                        remaining: 0,
                        total: 0,
                        sku: None,
                        line_item_id: "gid://shopify/LineItem/79".into(),
                    },
                ],
            },
            FulfillmentOrder {
                id: "gid://shopify/FulfillmentOrder/10".into(),
                status: FoStatus::Other("SOMETHING_NEW".into()),
                location_id: None,
                request_status: None,
                updated_at: None,
                lines: vec![],
            },
        ]
    );
}

#[tokio::test]
async fn fulfillment_orders_and_their_lines_are_paged_by_cursor() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": gid_order(), "after": null }),
        ok(order_page(
            vec![fo_json(
                "1",
                "OPEN",
                json!({ "id": LOC_A }),
                vec![
                    line_json("11", 1, json!("A")),
                    line_json("12", 1, json!("B")),
                ],
                Some("lines-cursor-1"),
            )],
            Some("fo-cursor-1"),
        )),
        1,
    )
    .await;
    expect_call(
        &server,
        FULFILLMENT_ORDER_LINES_QUERY,
        json!({ "id": "gid://shopify/FulfillmentOrder/1", "after": "lines-cursor-1" }),
        ok(json!({ "data": { "fulfillmentOrder": { "lineItems": {
            "nodes": [line_json("13", 3, json!("C"))],
            "pageInfo": page_info(Some("lines-cursor-2"))
        }}}})),
        1,
    )
    .await;
    expect_call(
        &server,
        FULFILLMENT_ORDER_LINES_QUERY,
        json!({ "id": "gid://shopify/FulfillmentOrder/1", "after": "lines-cursor-2" }),
        ok(json!({ "data": { "fulfillmentOrder": { "lineItems": {
            "nodes": [line_json("14", 4, json!("D"))],
            "pageInfo": page_info(None)
        }}}})),
        1,
    )
    .await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": gid_order(), "after": "fo-cursor-1" }),
        ok(order_page(
            vec![fo_json(
                "2",
                "CLOSED",
                json!({ "id": LOC_B }),
                vec![line_json("21", 0, json!("A"))],
                None,
            )],
            None,
        )),
        1,
    )
    .await;
    let orders = client(&server)
        .fulfillment_orders(&shop(), &token(), "gid://shopify/Order/5678901234")
        .await
        .unwrap()
        .unwrap();
    let summary: Vec<(String, Vec<String>)> = orders
        .iter()
        .map(|fo| {
            (
                fo.id.clone(),
                fo.lines.iter().map(|l| l.id.clone()).collect(),
            )
        })
        .collect();
    let line = |n: u32| format!("gid://shopify/FulfillmentOrderLineItem/{n}");
    assert_eq!(
        summary,
        vec![
            (
                "gid://shopify/FulfillmentOrder/1".to_owned(),
                vec![line(11), line(12), line(13), line(14)]
            ),
            (
                "gid://shopify/FulfillmentOrder/2".to_owned(),
                vec![line(21)]
            ),
        ]
    );
    assert_eq!(orders[1].status, FoStatus::Closed);
}

#[tokio::test]
async fn paging_is_bounded() {
    let server = MockServer::start().await;
    // Every page claims another one, with a fresh cursor each time.
    let endless = |req: &Request| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let n = body["variables"]["after"]
            .as_str()
            .and_then(|c| c.strip_prefix('c'))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        let next = format!("c{}", n + 1);
        ResponseTemplate::new(200).set_body_json(order_page(
            vec![fo_json(&n.to_string(), "OPEN", Value::Null, vec![], None)],
            Some(&next),
        ))
    };
    Mock::given(method("POST"))
        .and(path(GRAPHQL_PATH))
        .respond_with(endless)
        .expect(MAX_ORDER_PAGES as u64)
        .mount(&server)
        .await;
    let err = client(&server)
        .fulfillment_orders(&shop(), &token(), "5678901234")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::BadResponse(m) if m.contains("more than 100")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_stops_paging() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": gid_order(), "after": null }),
        ok(order_page(vec![], Some("same"))),
        1,
    )
    .await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": gid_order(), "after": "same" }),
        ok(order_page(vec![], Some("same"))),
        1,
    )
    .await;
    let err = client(&server)
        .fulfillment_orders(&shop(), &token(), "5678901234")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::BadResponse(m) if m.contains("did not advance")),
        "{err:?}"
    );
}

// ---- client: the order's fulfillments ------------------------------------------------

#[tokio::test]
async fn order_fulfillments_sends_the_exact_query_and_finds_a_tracking_number() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        ORDER_FULFILLMENTS_QUERY,
        json!({ "id": gid_order() }),
        ok(json!({ "data": { "order": { "id": gid_order(), "fulfillments": [
            { "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS",
              "trackingInfo": [{ "number": " 1Z999 " }, { "number": null }, { "number": "" }],
              "fulfillmentOrders": { "nodes": [{ "id": "gid://shopify/FulfillmentOrder/9" }] } },
            { "id": "gid://shopify/Fulfillment/2", "status": "CANCELLED",
              "trackingInfo": [{ "number": "JD0001" }] }
        ]}}})),
        1,
    )
    .await;
    let found = client(&server)
        .order_fulfillments(&shop(), &token(), "5678901234")
        .await
        .unwrap()
        .unwrap();
    assert!(found.complete);
    assert_eq!(
        found.fulfillments[0],
        OrderFulfillment {
            id: "gid://shopify/Fulfillment/1".into(),
            status: "SUCCESS".into(),
            tracking_numbers: vec!["1Z999".into()],
            fulfillment_orders: Some(vec!["gid://shopify/FulfillmentOrder/9".into()]),
        }
    );
    // Not listed: unknown, not "none".
    assert_eq!(found.fulfillments[1].fulfillment_orders, None);
    let ours: Vec<&str> = found
        .carrying("1Z999")
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(ours, ["gid://shopify/Fulfillment/1"]);
    assert!(found.carrying("1Z99").is_empty(), "exact numbers only");
}

#[tokio::test]
async fn order_fulfillments_unknown_order_full_list_and_odd_answers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(
            json!({"variables": {"id": "gid://shopify/Order/404"}}),
        ))
        .respond_with(ok(json!({ "data": { "order": null } })))
        .mount(&server)
        .await;
    let many: Vec<Value> = (0..MAX_FULFILLMENTS)
        .map(|n| json!({ "id": format!("gid://shopify/Fulfillment/{n}"), "trackingInfo": [] }))
        .collect();
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(
            json!({"variables": {"id": "gid://shopify/Order/50"}}),
        ))
        .respond_with(ok(json!({ "data": { "order": { "fulfillments": many } } })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(
            json!({"variables": {"id": "gid://shopify/Order/7"}}),
        ))
        .respond_with(ok(
            json!({ "data": { "order": { "id": "gid://shopify/Order/7" } } }),
        ))
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(
        c.order_fulfillments(&shop(), &token(), "404")
            .await
            .unwrap(),
        None
    );
    let full = c
        .order_fulfillments(&shop(), &token(), "50")
        .await
        .unwrap()
        .unwrap();
    assert!(!full.complete, "a full list may hide more");
    let err = c
        .order_fulfillments(&shop(), &token(), "7")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::BadResponse(m) if m.contains("fulfillments is missing")),
        "{err:?}"
    );
    let err = c
        .order_fulfillments(&shop(), &token(), "x/1")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::BadResponse(_)), "{err:?}");
}

#[tokio::test]
async fn unknown_order_is_none() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": "gid://shopify/Order/404", "after": null }),
        ok(json!({ "data": { "order": null } })),
        1,
    )
    .await;
    let found = client(&server)
        .fulfillment_orders(&shop(), &token(), "404")
        .await
        .unwrap();
    assert_eq!(found, None);
}

#[tokio::test]
async fn an_invalid_order_id_is_refused_without_a_request() {
    let server = MockServer::start().await;
    expect_no_request(&server).await;
    for bad in ["#1001", "gid://shopify/Product/1", ""] {
        let err = client(&server)
            .fulfillment_orders(&shop(), &token(), bad)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains("not a Shopify order id")),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn missing_or_impossible_fields_are_bad_responses() {
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "data": { "shop": {} } }), "order is missing"),
        (
            json!({ "data": { "order": { "id": "x" } } }),
            "fulfillmentOrders is missing",
        ),
        (
            order_page(
                vec![json!({ "id": "gid://shopify/FulfillmentOrder/1",
                    "assignedLocation": null,
                    "lineItems": { "nodes": [], "pageInfo": page_info(None) } })],
                None,
            ),
            "status is missing",
        ),
        (
            order_page(
                vec![fo_json(
                    "1",
                    "OPEN",
                    Value::Null,
                    vec![line_json("5", -1, json!("A"))],
                    None,
                )],
                None,
            ),
            "out of range",
        ),
        (
            order_page(
                vec![fo_json(
                    "1",
                    "OPEN",
                    Value::Null,
                    vec![json!({ "id": "gid://shopify/FulfillmentOrderLineItem/5",
                        "remainingQuantity": 1 })],
                    None,
                )],
                None,
            ),
            "lineItem is missing",
        ),
        (
            order_page(
                vec![fo_json(
                    "1",
                    "OPEN",
                    Value::Null,
                    vec![json!({ "id": "gid://shopify/FulfillmentOrderLineItem/5",
                        "remainingQuantity": "1", "lineItem": { "id": "x", "sku": "A" } })],
                    None,
                )],
                None,
            ),
            "invalid type",
        ),
        (
            json!({ "data": { "order": { "fulfillmentOrders": {
                "nodes": [], "pageInfo": { "hasNextPage": true, "endCursor": null } } } } }),
            "hasNextPage without endCursor",
        ),
        (
            json!({ "data": { "order": { "fulfillmentOrders": { "nodes": [] } } } }),
            "pageInfo is missing",
        ),
        (
            order_page(
                vec![
                    fo_json("1", "OPEN", Value::Null, vec![], None),
                    fo_json("1", "OPEN", Value::Null, vec![], None),
                ],
                None,
            ),
            "appears twice",
        ),
    ];
    for (body, expected) in cases {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_ORDERS_QUERY,
            json!({ "id": gid_order(), "after": null }),
            ok(body),
            1,
        )
        .await;
        let err = client(&server)
            .fulfillment_orders(&shop(), &token(), "5678901234")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse(m) if m.contains(expected)),
            "expected {expected:?}, got {err:?}"
        );
    }
}

#[tokio::test]
async fn fulfillment_orders_401_and_html() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": gid_order(), "after": null }),
        ResponseTemplate::new(401).set_body_string("[API] Invalid API key or access token"),
        1,
    )
    .await;
    let err = client(&server)
        .fulfillment_orders(&shop(), &token(), "5678901234")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized), "{err:?}");
    assert!(!format!("{err:?} {err}").contains(TOKEN));

    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_ORDERS_QUERY,
        json!({ "id": gid_order(), "after": null }),
        ResponseTemplate::new(200).set_body_string("<html>Log in</html>"),
        1,
    )
    .await;
    let err = client(&server)
        .fulfillment_orders(&shop(), &token(), "5678901234")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::BadResponse(m) if m.contains("not JSON")),
        "{err:?}"
    );
}

// ---- client: fulfillmentCreate -------------------------------------------------------

/// What `create_fulfillment` takes.
type GroupInput = Vec<(String, Vec<(String, u32)>)>;

fn plan_group() -> GroupInput {
    vec![
        (
            "gid://shopify/FulfillmentOrder/9".into(),
            vec![
                ("gid://shopify/FulfillmentOrderLineItem/77".into(), 2),
                ("gid://shopify/FulfillmentOrderLineItem/78".into(), 1),
            ],
        ),
        (
            "gid://shopify/FulfillmentOrder/10".into(),
            vec![("gid://shopify/FulfillmentOrderLineItem/80".into(), 5)],
        ),
    ]
}

fn expected_line_items() -> Value {
    json!([
        { "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/9",
          "fulfillmentOrderLineItems": [
            { "id": "gid://shopify/FulfillmentOrderLineItem/77", "quantity": 2 },
            { "id": "gid://shopify/FulfillmentOrderLineItem/78", "quantity": 1 } ] },
        { "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/10",
          "fulfillmentOrderLineItems": [
            { "id": "gid://shopify/FulfillmentOrderLineItem/80", "quantity": 5 } ] }
    ])
}

fn created() -> ResponseTemplate {
    ok(json!({ "data": { "fulfillmentCreate": {
        "fulfillment": { "id": "gid://shopify/Fulfillment/555", "status": "SUCCESS" },
        "userErrors": []
    }}}))
}

#[tokio::test]
async fn create_fulfillment_sends_the_exact_mutation() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_CREATE_MUTATION,
        json!({ "fulfillment": {
            "lineItemsByFulfillmentOrder": expected_line_items(),
            "notifyCustomer": true,
            "trackingInfo": {
                "company": "DHL Express",
                "number": "1234567890",
                "url": "https://track.example/1234567890"
            }
        }}),
        created(),
        1,
    )
    .await;
    let tracking = Tracking {
        company: "DHL Express".into(),
        number: crate::domain::TrackingNumber::parse(" 1234567890 ").unwrap(),
        url: Some("https://track.example/1234567890".into()),
    };
    let done = client(&server)
        .create_fulfillment(&shop(), &token(), &plan_group(), &tracking, true)
        .await
        .unwrap();
    assert_eq!(
        done,
        FulfillmentCreated {
            id: "gid://shopify/Fulfillment/555".into(),
            status: "SUCCESS".into()
        }
    );
}

#[tokio::test]
async fn create_fulfillment_leaves_out_a_missing_url_and_a_blank_company() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_CREATE_MUTATION,
        json!({ "fulfillment": {
            "lineItemsByFulfillmentOrder": expected_line_items(),
            "notifyCustomer": false,
            "trackingInfo": { "company": "UPS", "number": "1Z999" }
        }}),
        created(),
        2,
    )
    .await;
    expect_call(
        &server,
        FULFILLMENT_CREATE_MUTATION,
        json!({ "fulfillment": {
            "lineItemsByFulfillmentOrder": expected_line_items(),
            "notifyCustomer": false,
            "trackingInfo": { "number": "LETTER-1" }
        }}),
        created(),
        1,
    )
    .await;
    let c = client(&server);
    for url in [None, Some("  ".to_owned())] {
        let tracking = Tracking {
            company: "UPS".into(),
            number: crate::domain::TrackingNumber::parse("1Z999").unwrap(),
            url,
        };
        c.create_fulfillment(&shop(), &token(), &plan_group(), &tracking, false)
            .await
            .unwrap();
    }
    let tracking = Tracking {
        company: " ".into(),
        number: crate::domain::TrackingNumber::parse("LETTER-1").unwrap(),
        url: None,
    };
    c.create_fulfillment(&shop(), &token(), &plan_group(), &tracking, false)
        .await
        .unwrap();
}

fn ups() -> Tracking {
    Tracking {
        company: "UPS".into(),
        number: crate::domain::TrackingNumber::parse("1Z999").unwrap(),
        url: None,
    }
}

fn ups_variables() -> Value {
    json!({ "fulfillment": {
        "lineItemsByFulfillmentOrder": expected_line_items(),
        "notifyCustomer": false,
        "trackingInfo": { "company": "UPS", "number": "1Z999" }
    }})
}

#[tokio::test]
async fn user_errors_are_a_permanent_rejection() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_CREATE_MUTATION,
        ups_variables(),
        ok(json!({ "data": { "fulfillmentCreate": {
            "fulfillment": null,
            "userErrors": [
                { "field": ["fulfillment", "lineItemsByFulfillmentOrder", "0"],
                  "message": "Fulfillment order is already fulfilled" },
                { "field": null, "message": "Invalid quantity" }
            ]
        }}})),
        1,
    )
    .await;
    let err = client(&server)
        .create_fulfillment(&shop(), &token(), &plan_group(), &ups(), false)
        .await
        .unwrap_err();
    match &err {
        FulfillmentError::Rejected(errors) => assert_eq!(
            errors,
            &vec![
                UserError {
                    field: Some(vec![
                        "fulfillment".into(),
                        "lineItemsByFulfillmentOrder".into(),
                        "0".into()
                    ]),
                    message: "Fulfillment order is already fulfilled".into(),
                },
                UserError {
                    field: None,
                    message: "Invalid quantity".into()
                },
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Shopify refused the fulfillment: Fulfillment order is already fulfilled \
         (fulfillment.lineItemsByFulfillmentOrder.0); Invalid quantity"
    );
}

#[tokio::test]
async fn create_fulfillment_401_is_unauthorized() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_CREATE_MUTATION,
        ups_variables(),
        ResponseTemplate::new(401),
        1,
    )
    .await;
    let err = client(&server)
        .create_fulfillment(&shop(), &token(), &plan_group(), &ups(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FulfillmentError::Client(ClientError::Unauthorized)),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains(TOKEN));
}

#[tokio::test]
async fn create_fulfillment_odd_answers_are_bad_responses() {
    for (body, expected) in [
        (
            json!({ "data": { "fulfillmentCreate": null } }),
            "fulfillmentCreate is missing",
        ),
        (
            json!({ "data": { "fulfillmentCreate": { "fulfillment": null, "userErrors": [] } } }),
            "no fulfillment and no userErrors",
        ),
        (
            json!({ "data": { "fulfillmentCreate": {
                "fulfillment": { "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS" } } } }),
            "userErrors is missing",
        ),
        (
            json!({ "data": { "fulfillmentCreate": {
                "fulfillment": { "id": "gid://shopify/Fulfillment/1" }, "userErrors": [] } } }),
            "status is missing",
        ),
    ] {
        let server = MockServer::start().await;
        expect_call(
            &server,
            FULFILLMENT_CREATE_MUTATION,
            ups_variables(),
            ok(body),
            1,
        )
        .await;
        let err = client(&server)
            .create_fulfillment(&shop(), &token(), &plan_group(), &ups(), false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FulfillmentError::Client(ClientError::BadResponse(m)) if m.contains(expected)),
            "expected {expected:?}, got {err:?}"
        );
    }
}

#[tokio::test]
async fn a_request_shopify_would_misread_is_never_sent() {
    let server = MockServer::start().await;
    expect_no_request(&server).await;
    let c = client(&server);
    let fo =
        |lines: Vec<(String, u32)>| vec![("gid://shopify/FulfillmentOrder/9".to_owned(), lines)];
    let line = |q: u32| ("gid://shopify/FulfillmentOrderLineItem/77".to_owned(), q);
    let too_many: GroupInput = (0..251)
        .map(|i| (format!("gid://shopify/FulfillmentOrder/{i}"), vec![line(1)]))
        .collect();
    let cases: Vec<(GroupInput, Tracking, &str)> = vec![
        (vec![], ups(), "no fulfillment orders"),
        (fo(vec![]), ups(), "has no lines"),
        (fo(vec![line(0)]), ups(), "zero quantity"),
        (fo(vec![(" ".into(), 1)]), ups(), "empty line id"),
        (vec![(String::new(), vec![line(1)])], ups(), "id is empty"),
        (too_many, ups(), "more than 250"),
        // A blank tracking number cannot reach here: `TrackingNumber` refuses it.
    ];
    for (group, tracking, expected) in cases {
        let err = c
            .create_fulfillment(&shop(), &token(), &group, &tracking, true)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FulfillmentError::Invalid(m) if m.contains(expected)),
            "expected {expected:?}, got {err:?}"
        );
    }
}

#[tokio::test]
async fn plan_then_create_sends_one_group() {
    // The planner's output feeds create_fulfillment unchanged.
    let orders = [fo(
        "gid://shopify/FulfillmentOrder/9",
        FoStatus::Open,
        Some(LOC_A),
        &[(
            "gid://shopify/FulfillmentOrderLineItem/77",
            3,
            Some("ABC-1"),
        )],
    )];
    let plan = plan_fulfillment(&orders, Some(LOC_A), Some(&shipped(&[("ABC-1", 2)]))).unwrap();
    assert_eq!(plan.groups.len(), 1);
    let server = MockServer::start().await;
    expect_call(
        &server,
        FULFILLMENT_CREATE_MUTATION,
        json!({ "fulfillment": {
            "lineItemsByFulfillmentOrder": [{
                "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/9",
                "fulfillmentOrderLineItems": [
                    { "id": "gid://shopify/FulfillmentOrderLineItem/77", "quantity": 2 }]
            }],
            "notifyCustomer": false,
            "trackingInfo": { "company": "UPS", "number": "1Z999" }
        }}),
        created(),
        1,
    )
    .await;
    client(&server)
        .create_fulfillment(
            &shop(),
            &token(),
            &plan.groups[0].by_fulfillment_order,
            &ups(),
            false,
        )
        .await
        .unwrap();
}
