//! Shopify's fake store for the contract suite: the GraphQL Admin API at the registry's
//! Shopify API base, every call checked for our token, its operation and its exact variables.
//! Wire shapes as in `shopify/{orders_poll,products,inventory,fulfillment}.rs`.

use super::*;
use crate::channels::shopify::oauth::ShopifyCredentials;
use crate::channels::shopify::{updated_since_query, API_VERSION, ORDERS_PAGE_SIZE_WITHIN_COST};
use serde_json::json;
use std::sync::Mutex;
use wiremock::matchers::{header, method, path};
use wiremock::{Match, Mock};

pub(super) struct ShopifyFake;

const TOKEN: &str = "shpat_contract_fake";
const LOCATION: &str = "gid://shopify/Location/1";
const FULFILLMENT_ORDER: &str = "gid://shopify/FulfillmentOrder/1";
/// `productVariants(first:)`: the connection maximum, as `products.rs` asks.
const VARIANTS_PAGE: u32 = 250;

// The operations, by name (the documents themselves are pinned by each module's own tests).
const ORDERS: &str = "ChannelSyncOrdersUpdatedSince";
const VARIANTS: &str = "ChannelSyncVariants";
const SET_AVAILABLE: &str = "ChannelSyncSetAvailable";
const FULFILLMENT_ORDERS: &str = "ChannelSyncFulfillmentOrders";
const FULFILLMENT_CREATE: &str = "ChannelSyncFulfillmentCreate";
const ORDER_FULFILLMENTS: &str = "ChannelSyncOrderFulfillments";

/// The operation name of a GraphQL request body (`query Name(…) { … }`).
fn operation(body: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(body).ok()?;
    let mut words = body.get("query")?.as_str()?.split_whitespace();
    matches!(words.next(), Some("query" | "mutation")).then_some(())?;
    Some(words.next()?.split('(').next()?.to_owned())
}

fn variables(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body)
        .map(|b| b["variables"].clone())
        .unwrap_or_default()
}

/// Operation `name` with exactly `variables` (any, when `None`).
struct Operation {
    name: &'static str,
    variables: Option<Value>,
}

impl Match for Operation {
    fn matches(&self, request: &Request) -> bool {
        operation(&request.body).as_deref() == Some(self.name)
            && self
                .variables
                .as_ref()
                .is_none_or(|v| &variables(&request.body) == v)
    }
}

/// A GraphQL call with our token.
fn call(name: &'static str, variables: Option<Value>) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(format!("/admin/api/{API_VERSION}/graphql.json")))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(Operation { name, variables })
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
}

fn page_info(next: Option<&str>) -> Value {
    json!({ "hasNextPage": next.is_some(), "endCursor": next.unwrap_or("end") })
}

fn order_node(id: u64) -> Value {
    json!({
        "id": format!("gid://shopify/Order/{id}"), "legacyResourceId": id.to_string(),
        "name": format!("#{id}"), "createdAt": "2026-11-20T09:00:00Z",
        "updatedAt": "2026-11-20T09:05:00Z", "cancelledAt": null,
        "displayFinancialStatus": "PAID", "test": false, "currencyCode": "EUR",
        "email": "buyer@example.com",
        "shippingAddress": {"name": "Ada Lovelace", "firstName": "Ada", "lastName": "Lovelace",
            "company": null, "address1": "1 Main St", "address2": null, "city": "Dublin",
            "provinceCode": null, "zip": "D01", "countryCodeV2": "IE", "phone": null},
        "lineItems": {"nodes": [{"id": format!("gid://shopify/LineItem/{id}0"), "sku": SKU_A,
            "quantity": 1, "name": "Tee", "requiresShipping": true}],
            "pageInfo": {"hasNextPage": false}}
    })
}

fn orders_page(ids: &[u64], next: Option<&str>) -> ResponseTemplate {
    let nodes: Vec<Value> = ids.iter().map(|&id| order_node(id)).collect();
    ok(json!({ "orders": { "nodes": nodes, "pageInfo": page_info(next) } }))
}

fn variant_gid(id: u64) -> String {
    format!("gid://shopify/ProductVariant/{id}")
}

fn variants_page(ids: &[u64], next: Option<&str>) -> ResponseTemplate {
    let nodes: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"id": variant_gid(*id), "sku": format!("SKU-{id}"),
                "inventoryItem": {"id": format!("gid://shopify/InventoryItem/{id}"), "tracked": true},
                "product": {"id": format!("gid://shopify/Product/{id}"), "status": "ACTIVE", "title": "Tee"}})
        })
        .collect();
    ok(json!({ "productVariants": { "nodes": nodes, "pageInfo": page_info(next) } }))
}

/// `inventorySetQuantities`' variables for `items` under `key`.
fn set_variables(items: &[&PushItem], key: &str) -> Value {
    let quantities: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"inventoryItemId": i.item, "locationId": LOCATION, "quantity": i.quantity,
                "changeFromQuantity": i.change_from})
        })
        .collect();
    json!({
        "input": {"name": "available", "reason": "correction",
            "referenceDocumentUri": REFERENCE, "quantities": quantities},
        "key": key
    })
}

fn set_answer(user_errors: Value) -> ResponseTemplate {
    ok(json!({ "inventorySetQuantities": {
        "inventoryAdjustmentGroup": {"id": "gid://shopify/InventoryAdjustmentGroup/1"},
        "userErrors": user_errors
    }}))
}

/// The fulfillment-order line of each ordered SKU.
fn fo_line(index: usize) -> String {
    format!("gid://shopify/FulfillmentOrderLineItem/{}", 11 + index)
}

/// [`ORDER_ID`]'s one fulfillment order as the store holds it, and the fulfillments written.
struct Fulfilments {
    /// Per line of [`ORDERED`]: units not fulfilled yet.
    remaining: Vec<u32>,
    /// The fulfillments written: (id, tracking number).
    created: Vec<(String, String)>,
}

impl Fulfilments {
    fn fulfillment_orders(&self) -> ResponseTemplate {
        let open = self.remaining.iter().any(|r| *r > 0);
        let lines: Vec<Value> = ORDERED
            .iter()
            .zip(&self.remaining)
            .enumerate()
            .map(|(i, ((sku, total), remaining))| {
                json!({"id": fo_line(i), "remainingQuantity": remaining, "totalQuantity": total,
                    "lineItem": {"id": format!("gid://shopify/LineItem/{}", 11 + i), "sku": sku}})
            })
            .collect();
        ok(json!({ "order": {
            "id": format!("gid://shopify/Order/{ORDER_ID}"),
            "fulfillmentOrders": {"nodes": [{
                "id": FULFILLMENT_ORDER,
                "status": if open { "OPEN" } else { "CLOSED" },
                "assignedLocation": {"location": {"id": LOCATION}},
                "lineItems": {"nodes": lines, "pageInfo": page_info(None)}
            }], "pageInfo": page_info(None)}
        }}))
    }

    /// The order's fulfillments with their tracking numbers (what a retry reads first).
    fn fulfillments(&self) -> ResponseTemplate {
        let fulfillments: Vec<Value> = self
            .created
            .iter()
            .map(|(id, number)| {
                json!({"id": id, "status": "SUCCESS", "trackingInfo": [{"number": number}],
                    "fulfillmentOrders": {"nodes": [{"id": FULFILLMENT_ORDER}]}})
            })
            .collect();
        ok(json!({ "order": {
            "id": format!("gid://shopify/Order/{ORDER_ID}"),
            "fulfillments": fulfillments,
        }}))
    }

    /// Applies a `fulfillmentCreate`; the first answer is lost.
    fn create(&mut self, request: &Request) -> ResponseTemplate {
        let vars = variables(&request.body);
        let by_fo = vars["fulfillment"]["lineItemsByFulfillmentOrder"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for line in by_fo.iter().flat_map(|fo| {
            fo["fulfillmentOrderLineItems"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }) {
            if let Some(i) = (0..ORDERED.len()).find(|&i| line["id"] == fo_line(i)) {
                let quantity = line["quantity"].as_u64().unwrap_or(0) as u32;
                self.remaining[i] = self.remaining[i].saturating_sub(quantity);
            }
        }
        let id = format!("gid://shopify/Fulfillment/{}", 501 + self.created.len());
        let number = vars["fulfillment"]["trackingInfo"]["number"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.created.push((id.clone(), number));
        if self.created.len() == 1 {
            return ResponseTemplate::new(503);
        }
        ok(json!({ "fulfillmentCreate": {
            "fulfillment": {"id": id, "status": "SUCCESS"}, "userErrors": []
        }}))
    }
}

#[async_trait]
impl FakeStore for ShopifyFake {
    fn channel(&self) -> Channel {
        Channel::Shopify
    }

    fn shop(&self) -> &'static str {
        "contract.myshopify.com"
    }

    fn credentials(&self, _server: &MockServer) -> Secret {
        ShopifyCredentials::static_token(TOKEN, "").to_secret()
    }

    fn settings(&self) -> ConnectionSettings {
        ConnectionSettings {
            inventory_location: Some(LOCATION.into()),
            // Tracking fulfils only this location's fulfillment orders.
            fulfilment_location: Some(LOCATION.into()),
            ..ConnectionSettings::default()
        }
    }

    fn throttling(&self) -> Throttling {
        Throttling::RetriesAfterWait
    }

    fn unauthorized(&self) -> ResponseTemplate {
        ResponseTemplate::new(401).set_body_string(
            "[API] Invalid API key or access token (unrecognized login or wrong password)",
        )
    }

    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder {
        call(
            ORDERS,
            Some(json!({
                "first": ORDERS_PAGE_SIZE_WITHIN_COST,
                "after": cursor,
                "query": updated_since_query(since()),
            })),
        )
    }

    fn one_order_page(&self) -> ResponseTemplate {
        orders_page(&[1001], None)
    }

    async fn mount_orders(&self, server: &MockServer) -> Vec<String> {
        let cursor = "orders-cursor-1";
        let pages: [(Option<&str>, &[u64], Option<&str>); 2] = [
            (None, &[1001, 1002, 1003], Some(cursor)),
            (Some(cursor), &[1004, 1005], None),
        ];
        for (asked, ids, next) in pages {
            self.orders_request(asked)
                .respond_with(orders_page(ids, next))
                .expect(1)
                .mount(server)
                .await;
        }
        (1001..=1005).map(|id: u64| id.to_string()).collect()
    }

    async fn mount_listings(&self, server: &MockServer) -> Vec<String> {
        let cursor = "variants-cursor-1";
        let pages: [(Option<&str>, &[u64], Option<&str>); 2] = [
            (None, &[2001, 2002], Some(cursor)),
            (Some(cursor), &[2003], None),
        ];
        for (asked, ids, next) in pages {
            call(
                VARIANTS,
                Some(json!({ "first": VARIANTS_PAGE, "after": asked })),
            )
            .respond_with(variants_page(ids, next))
            .expect(1)
            .mount(server)
            .await;
        }
        (2001..=2003).map(variant_gid).collect()
    }

    fn cursor_of(&self, request: &Request) -> Option<String> {
        variables(&request.body)["after"]
            .as_str()
            .map(str::to_owned)
    }

    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String {
        let state = Arc::new(Mutex::new(Fulfilments {
            remaining: ORDERED.iter().map(|(_, q)| *q).collect(),
            created: Vec::new(),
        }));
        let read = state.clone();
        call(
            FULFILLMENT_ORDERS,
            Some(json!({ "id": format!("gid://shopify/Order/{ORDER_ID}"), "after": null })),
        )
        .respond_with(move |_: &Request| read.lock().unwrap().fulfillment_orders())
        .expect(1..=2)
        .mount(server)
        .await;
        // Every attempt first looks for a fulfillment already carrying its tracking number.
        let written = state.clone();
        call(
            ORDER_FULFILLMENTS,
            Some(json!({ "id": format!("gid://shopify/Order/{ORDER_ID}") })),
        )
        .respond_with(move |_: &Request| written.lock().unwrap().fulfillments())
        .expect(2)
        .mount(server)
        .await;
        let lines: Vec<Value> = shipment
            .shipped()
            .iter()
            .map(|(sku, quantity)| {
                let i = ORDERED.iter().position(|(s, _)| s == sku).unwrap();
                json!({ "id": fo_line(i), "quantity": quantity })
            })
            .collect();
        let fulfillment = json!({ "fulfillment": {
            "lineItemsByFulfillmentOrder": [
                { "fulfillmentOrderId": FULFILLMENT_ORDER, "fulfillmentOrderLineItems": lines }
            ],
            "notifyCustomer": shipment.notify_customer,
            "trackingInfo": { "company": shipment.tracking.company, "number": shipment.tracking.number },
        }});
        call(FULFILLMENT_CREATE, Some(fulfillment))
            .respond_with(move |r: &Request| state.lock().unwrap().create(r))
            .expect(1)
            .mount(server)
            .await;
        "gid://shopify/Fulfillment/501".into()
    }

    fn is_tracking_create(&self, request: &Request) -> bool {
        operation(&request.body).as_deref() == Some(FULFILLMENT_CREATE)
    }

    fn inventory_items(&self) -> [&'static str; 3] {
        [
            "gid://shopify/InventoryItem/301",
            "gid://shopify/InventoryItem/302",
            "gid://shopify/InventoryItem/303",
        ]
    }

    fn inventory_request(&self) -> MockBuilder {
        call(SET_AVAILABLE, None)
    }

    async fn mount_inventory_accepting(&self, server: &MockServer) {
        self.inventory_request()
            .respond_with(set_answer(json!([])))
            .expect(1..)
            .mount(server)
            .await;
    }

    /// Shopify applies a call all or nothing: the refused row's error, then the other rows
    /// again under `{key}-r1` (`inventory.rs`).
    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String) {
        let code = "NON_MUTABLE_INVENTORY_ITEM";
        let message = "The quantity can't be adjusted because the item is a bundle parent.";
        let all: Vec<&PushItem> = items.iter().collect();
        call(SET_AVAILABLE, Some(set_variables(&all, KEY)))
            .respond_with(set_answer(json!([{
                "code": code,
                "field": ["input", "quantities", refused.to_string(), "inventoryItemId"],
                "message": message
            }])))
            .expect(1)
            .mount(server)
            .await;
        let others: Vec<&PushItem> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != refused)
            .map(|(_, item)| item)
            .collect();
        call(
            SET_AVAILABLE,
            Some(set_variables(&others, &format!("{KEY}-r1"))),
        )
        .respond_with(set_answer(json!([])))
        .expect(1)
        .mount(server)
        .await;
        (code.into(), message.into())
    }
}
