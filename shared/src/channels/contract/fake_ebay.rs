//! eBay's fake for the contract suite: Sell Fulfillment and Inventory APIs at the registry's
//! eBay API base, every call with the connection's bearer user token. Wire shapes as in
//! `ebay/tests.rs`.

use super::*;
use crate::channels::ebay::EbayCredentials;
use serde_json::json;
use std::sync::Mutex;
use wiremock::matchers::{body_json, header, method, path, path_regex};
use wiremock::Mock;

pub(super) struct EbayFake;

const TOKEN: &str = "Bearer ebay-user-token-contract-fake";
const ORDERS: &str = "/sell/fulfillment/v1/order";
const ITEMS: &str = "/sell/inventory/v1/inventory_item";
const BULK: &str = "/sell/inventory/v1/bulk_update_price_quantity";
/// Inventory items per page (`ebay/client.rs`).
const ITEMS_PAGE: usize = 100;
const FULFILLMENT_ID: &str = "F-CONTRACT-1";

fn reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn since_filter() -> String {
    format!(
        "filter=lastmodifieddate:%5B{}..%5D",
        since().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// A `verb` on `p` with the user token.
fn on(verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(header("authorization", TOKEN))
}

fn query_is(expected: String) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| r.url.query() == Some(expected.as_str())
}

/// A paid, unshipped order with `lines` (SKU, quantity), line item ids `L1`, `L2`…
fn order(id: &str, lines: &[(&str, u32)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(
            |(i, (sku, q))| json!({"lineItemId": format!("L{}", i + 1), "sku": sku, "quantity": q}),
        )
        .collect();
    json!({
        "orderId": id, "creationDate": "2026-11-20T08:45:00.000Z",
        "lastModifiedDate": "2026-11-20T09:00:00.000Z",
        "orderFulfillmentStatus": "NOT_STARTED", "orderPaymentStatus": "PAID",
        "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
        "fulfillmentStartInstructions": [{"shippingStep": {"shipTo": {"fullName": "Ada L",
            "contactAddress": {"addressLine1": "1 Main St", "city": "NYC", "stateOrProvince": "NY",
                "postalCode": "10001", "countryCode": "US"}}}}],
        "lineItems": items
    })
}

fn orders_page(orders: Vec<Value>, total: usize, offset: usize) -> ResponseTemplate {
    reply(
        200,
        json!({"orders": orders, "total": total, "offset": offset, "limit": 200}),
    )
}

#[async_trait]
impl FakeStore for EbayFake {
    fn channel(&self) -> Channel {
        Channel::Ebay
    }

    fn shop(&self) -> &'static str {
        "ebay-contract-seller-uid"
    }

    fn credentials(&self, _server: &MockServer) -> Secret {
        let later = Utc::now() + chrono::Duration::hours(2);
        EbayCredentials {
            access_token: TOKEN.trim_start_matches("Bearer ").into(),
            expires_at: later,
            refresh_token: "ebay-refresh-contract-fake".into(),
            refresh_expires_at: later + chrono::Duration::days(500),
            scope: "https://api.ebay.com/oauth/api_scope".into(),
            user_id: self.shop().into(),
            username: Some("contract_seller".into()),
            marketplace: None,
        }
        .to_secret()
    }

    fn throttling(&self) -> Throttling {
        Throttling::ReportsToCaller
    }

    fn unauthorized(&self) -> ResponseTemplate {
        reply(
            401,
            json!({"errors": [{"errorId": 1001, "message": "Invalid access token"}]}),
        )
    }

    /// Cursors are the zero-based offset of the page.
    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder {
        let offset = cursor.unwrap_or("0");
        on("GET", ORDERS).and(query_is(format!(
            "{}&limit=200&offset={offset}",
            since_filter()
        )))
    }

    fn one_order_page(&self) -> ResponseTemplate {
        orders_page(vec![order("11-0001", &[(SKU_A, 1)])], 1, 0)
    }

    /// eBay may answer fewer than `limit`: the next offset is the count so far.
    async fn mount_orders(&self, server: &MockServer) -> Vec<String> {
        let ids: Vec<String> = (1..=3).map(|n| format!("11-000{n}")).collect();
        let pages = [(None, &ids[..2], 0), (Some("2"), &ids[2..], 2)];
        for (cursor, chunk, offset) in pages {
            let orders = chunk.iter().map(|id| order(id, &[(SKU_A, 1)])).collect();
            self.orders_request(cursor)
                .respond_with(orders_page(orders, ids.len(), offset))
                .expect(1)
                .mount(server)
                .await;
        }
        ids
    }

    /// The Inventory API's `offset` is a page index.
    async fn mount_listings(&self, server: &MockServer) -> Vec<String> {
        let skus: Vec<String> = (1..=ITEMS_PAGE + 2)
            .map(|n| format!("SKU-{n:04}"))
            .collect();
        for (page, chunk) in skus.chunks(ITEMS_PAGE).enumerate() {
            let items: Vec<Value> = chunk
                .iter()
                .map(|sku| {
                    json!({"sku": sku, "product": {"title": "Tee"},
                    "availability": {"shipToLocationAvailability": {"quantity": 1}}})
                })
                .collect();
            on("GET", ITEMS)
                .and(query_is(format!("limit={ITEMS_PAGE}&offset={page}")))
                .respond_with(reply(
                    200,
                    json!({"inventoryItems": items, "total": skus.len(),
                    "size": chunk.len(), "limit": ITEMS_PAGE}),
                ))
                .expect(1)
                .mount(server)
                .await;
        }
        skus
    }

    fn cursor_of(&self, request: &Request) -> Option<String> {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == "offset")
            .map(|(_, v)| v.into_owned())
            .filter(|v| v != "0")
    }

    /// The order's fulfillments (listed first, twice), the order (once, for its line items),
    /// then `POST …/shipping_fulfillment`, whose first answer is lost after the write.
    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String {
        let written = Arc::new(Mutex::new(Vec::<Value>::new()));
        let read = written.clone();
        let fulfillments = format!("{ORDERS}/{ORDER_ID}/shipping_fulfillment");
        on("GET", &fulfillments)
            .respond_with(move |_: &Request| {
                let items = read.lock().unwrap().clone();
                let total = items.len();
                reply(200, json!({"fulfillments": items, "total": total}))
            })
            .expect(2)
            .mount(server)
            .await;
        on("GET", &format!("{ORDERS}/{ORDER_ID}"))
            .respond_with(reply(200, order(ORDER_ID, &ORDERED)))
            .expect(1)
            .mount(server)
            .await;
        let lines: Vec<Value> = shipment
            .shipped()
            .iter()
            .map(|(sku, q)| {
                let line = ORDERED.iter().position(|(s, _)| s == sku).unwrap() + 1;
                json!({"lineItemId": format!("L{line}"), "quantity": q})
            })
            .collect();
        let expected = json!({"lineItems": lines, "shippingCarrierCode": "UPS",
            "trackingNumber": shipment.tracking.number});
        let number = shipment.tracking.number.to_string();
        on("POST", &fulfillments)
            .and(move |r: &Request| {
                let Ok(mut body) = serde_json::from_slice::<Value>(&r.body) else {
                    return false;
                };
                let dated = body
                    .as_object_mut()
                    .and_then(|o| o.remove("shippedDate"))
                    .is_some();
                dated && body == expected
            })
            .respond_with(move |_: &Request| {
                let mut written = written.lock().unwrap();
                written.push(json!({"fulfillmentId": FULFILLMENT_ID,
                    "shipmentTrackingNumber": number, "shippingCarrierCode": "UPS"}));
                // Written, but the answer is lost.
                ResponseTemplate::new(503)
            })
            .expect(1)
            .mount(server)
            .await;
        FULFILLMENT_ID.into()
    }

    fn is_tracking_create(&self, request: &Request) -> bool {
        request.method.as_str() == "POST" && request.url.path().ends_with("/shipping_fulfillment")
    }

    /// eBay's inventory items are their SKUs.
    fn inventory_items(&self) -> [&'static str; 3] {
        [SKU_A, SKU_B, SKU_C]
    }

    /// Any Inventory API call of a push: the writer reads each SKU's offers before the bulk
    /// update, so a refused credential stops it at its first call.
    fn inventory_request(&self) -> MockBuilder {
        Mock::given(path_regex(
            r"^/sell/inventory/v1/(offer|bulk_update_price_quantity)$",
        ))
        .and(header("authorization", TOKEN))
    }

    async fn mount_inventory_accepting(&self, server: &MockServer) {
        on("GET", "/sell/inventory/v1/offer")
            .respond_with(reply(200, json!({"offers": [], "total": 0})))
            .mount(server)
            .await;
        on("POST", BULK)
            .respond_with(move |r: &Request| {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                let responses: Vec<Value> = body["requests"]
                    .as_array()
                    .map(|rs| {
                        rs.iter()
                            .map(|q| json!({"sku": q["sku"], "statusCode": 200}))
                            .collect()
                    })
                    .unwrap_or_default();
                reply(200, json!({"responses": responses}))
            })
            .expect(1..)
            .mount(server)
            .await;
    }

    /// Each SKU has one offer; eBay answers per item (207) and refuses one.
    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String) {
        let mut requests = Vec::new();
        let mut responses = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let offer = format!("O-{}", item.item);
            on("GET", "/sell/inventory/v1/offer")
                .and(query_is(format!("sku={}", item.item)))
                .respond_with(reply(
                    200,
                    json!({"offers": [{"offerId": offer, "sku": item.item}], "total": 1}),
                ))
                .expect(1)
                .mount(server)
                .await;
            requests.push(json!({"sku": item.item,
                "shipToLocationAvailability": {"quantity": item.quantity},
                "offers": [{"offerId": offer, "availableQuantity": item.quantity}]}));
            responses.push(if i == refused {
                json!({"sku": item.item, "offerId": offer, "statusCode": 400,
                    "errors": [{"errorId": 25002, "message": "The offer is not published."}]})
            } else {
                json!({"sku": item.item, "offerId": offer, "statusCode": 200})
            });
        }
        on("POST", BULK)
            .and(body_json(json!({ "requests": requests })))
            .respond_with(reply(207, json!({ "responses": responses })))
            .expect(1)
            .mount(server)
            .await;
        ("25002".into(), "The offer is not published.".into())
    }
}
