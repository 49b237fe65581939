//! Etsy's fake for the contract suite: Open API v3 at the app's API base, every call checked
//! for `x-api-key: keystring:shared_secret` and the connection's bearer. Wire shapes as in
//! `etsy/tests.rs`. Stock items are listing ids (one listing per SKU here); Etsy refuses a
//! listing's write as a whole, so the refused item's listing answers 400.

use super::*;
use crate::channels::etsy::EtsyCredentials;
use crate::channels::tokens::TokenPair;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::Mock;

pub(super) struct EtsyFake;

const SHOP: &str = "4321";
const BEARER: &str = "Bearer 99.at_contract_fake";
/// The app of `testkit::test_registry`.
const API_KEY: &str = "ks_fake:ss_fake";
/// Etsy's id for the tracking the suite writes.
const SHIPMENT_ID: u64 = 777;
const LISTINGS: [&str; 3] = ["901", "902", "903"];
const REFUSAL: &str = "Invalid offering price";

fn on(verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(format!("/v3/application{p}")))
        .and(header("x-api-key", API_KEY))
        .and(header("authorization", BEARER))
}

fn reply(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn receipt(id: u64, lines: &[(&str, u32)], shipments: Value) -> Value {
    let transactions: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, q))| json!({"transaction_id": id * 10 + i as u64, "title": "Tee", "sku": sku, "quantity": q}))
        .collect();
    json!({
        "receipt_id": id, "status": "Paid", "is_paid": true, "is_shipped": !shipments.as_array().is_none_or(Vec::is_empty),
        "name": "Ada L", "first_line": "1 Main St", "city": "Dublin", "zip": "D01", "country_iso": "IE",
        "create_timestamp": 1_795_000_000, "update_timestamp": 1_795_000_000 + id as i64,
        "shipments": shipments, "transactions": transactions
    })
}

fn receipts_page(ids: &[u64], count: usize) -> ResponseTemplate {
    let results: Vec<Value> = ids
        .iter()
        .map(|id| receipt(*id, &[(SKU_A, 1)], json!([])))
        .collect();
    reply(json!({"count": count, "results": results}))
}

fn inventory(sku: &str) -> Value {
    json!({"products": [{"product_id": 1, "sku": sku, "is_deleted": false, "property_values": [],
        "offerings": [{"offering_id": 2, "quantity": 1, "is_enabled": true, "is_deleted": false, "readiness_state_id": 5,
            "price": {"amount": 1000, "divisor": 100, "currency_code": "EUR"}}]}],
        "price_on_property": [], "quantity_on_property": [], "sku_on_property": [], "readiness_state_on_property": []})
}

fn written(sku: &str, quantity: i64) -> Value {
    json!({"products": [{"sku": sku, "property_values": [],
        "offerings": [{"quantity": quantity, "is_enabled": true, "readiness_state_id": 5, "price": 10.0}]}],
        "price_on_property": [], "quantity_on_property": [], "sku_on_property": [], "readiness_state_on_property": []})
}

impl EtsyFake {
    async fn mount_listing(
        &self,
        server: &MockServer,
        listing: &str,
        sku: &str,
        quantity: i64,
        refuse: bool,
        expect_write: bool,
    ) {
        let p = format!("/listings/{listing}/inventory");
        on("GET", &p)
            .respond_with(reply(inventory(sku)))
            .mount(server)
            .await;
        let answer = match refuse {
            true => ResponseTemplate::new(400).set_body_json(json!({"error": REFUSAL})),
            false => reply(inventory(sku)),
        };
        // Accepting: some listings may not be pushed (the declaration check pushes one).
        on("PUT", &p)
            .and(body_json(written(sku, quantity)))
            .respond_with(answer)
            .expect(if expect_write { 1..=1 } else { 0..=1 })
            .mount(server)
            .await;
    }
}

#[async_trait]
impl FakeStore for EtsyFake {
    fn channel(&self) -> Channel {
        Channel::Etsy
    }

    fn shop(&self) -> &'static str {
        SHOP
    }

    fn credentials(&self, _server: &MockServer) -> Secret {
        EtsyCredentials {
            access_token: "99.at_contract_fake".into(),
            refresh_token: "99.rt_contract_fake".into(),
            expires_at: Utc::now() + chrono::Duration::minutes(60),
            shop_id: SHOP.parse().unwrap(),
            user_id: 99,
        }
        .to_secret()
    }

    fn throttling(&self) -> Throttling {
        Throttling::ReportsToCaller
    }

    /// A revoked token (an expired one would be refreshed once first).
    fn unauthorized(&self) -> ResponseTemplate {
        ResponseTemplate::new(401).set_body_json(
            json!({"error": "invalid_token", "error_description": "access token is revoked"}),
        )
    }

    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder {
        on("GET", &format!("/shops/{SHOP}/receipts"))
            .and(query_param(
                "min_last_modified",
                since().timestamp().to_string(),
            ))
            .and(query_param("limit", "100"))
            .and(query_param("offset", cursor.unwrap_or("0")))
            .and(query_param("sort_on", "updated"))
            .and(query_param("sort_order", "asc"))
    }

    fn one_order_page(&self) -> ResponseTemplate {
        receipts_page(&[4242], 1)
    }

    async fn mount_orders(&self, server: &MockServer) -> Vec<String> {
        // Page sizes come from `count`: a first page of 100 would be needed otherwise.
        self.orders_request(None)
            .respond_with(receipts_page(&[11, 12], 3))
            .expect(1)
            .mount(server)
            .await;
        self.orders_request(Some("2"))
            .respond_with(receipts_page(&[13], 3))
            .expect(1)
            .mount(server)
            .await;
        vec!["11".into(), "12".into(), "13".into()]
    }

    async fn mount_listings(&self, server: &MockServer) -> Vec<String> {
        let listing = |id: u64| json!({"listing_id": id, "title": "Tee", "state": "active", "skus": [format!("SKU-{id}")]});
        let request = |offset: &str| {
            on("GET", &format!("/shops/{SHOP}/listings"))
                .and(query_param("state", "active"))
                .and(query_param("limit", "100"))
                .and(query_param("offset", offset))
                .and(query_param("includes", "Inventory"))
        };
        request("0")
            .respond_with(reply(
                json!({"count": 3, "results": [listing(21), listing(22)]}),
            ))
            .expect(1)
            .mount(server)
            .await;
        request("2")
            .respond_with(reply(json!({"count": 3, "results": [listing(23)]})))
            .expect(1)
            .mount(server)
            .await;
        vec!["21".into(), "22".into(), "23".into()]
    }

    fn cursor_of(&self, request: &Request) -> Option<String> {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == "offset")
            .map(|(_, v)| v.into_owned())
            .filter(|v| v != "0")
    }

    /// The receipt without shipments until the write, whose answer is lost (503), then with it.
    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String {
        let id: u64 = ORDER_ID.parse().unwrap();
        let receipt_path = format!("/shops/{SHOP}/receipts/{ORDER_ID}");
        on("GET", &receipt_path)
            .respond_with(reply(receipt(id, &ORDERED, json!([]))))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(server)
            .await;
        // The carrier is sent as Etsy's list for the shop's country spells it.
        on("GET", &format!("/shops/{SHOP}"))
            .respond_with(reply(
                json!({"shop_name": "Fake", "shipping_from_country_iso": "US"}),
            ))
            .mount(server)
            .await;
        on("GET", "/shipping-carriers")
            .and(query_param("origin_country_iso", "US"))
            .respond_with(reply(json!({"count": 2, "results": [
                {"shipping_carrier_id": 1, "name": "USPS", "domestic_classes": [], "international_classes": []},
                {"shipping_carrier_id": 2, "name": "UPS", "domestic_classes": [], "international_classes": []}
            ]})))
            .mount(server)
            .await;
        let number = shipment.tracking.number.to_string();
        on("POST", &format!("{receipt_path}/tracking"))
            .and(body_json(
                json!({"tracking_code": number, "carrier_name": "UPS", "send_bcc": false}),
            ))
            .respond_with(ResponseTemplate::new(503))
            .mount(server)
            .await;
        let shipped = json!([{"receipt_shipping_id": SHIPMENT_ID, "carrier_name": "ups", "tracking_code": number}]);
        on("GET", &receipt_path)
            .respond_with(reply(receipt(id, &ORDERED, shipped)))
            .with_priority(2)
            .mount(server)
            .await;
        SHIPMENT_ID.to_string()
    }

    fn is_tracking_create(&self, request: &Request) -> bool {
        request.method.as_str() == "POST" && request.url.path().ends_with("/tracking")
    }

    fn inventory_items(&self) -> [&'static str; 3] {
        LISTINGS
    }

    /// The write starts by reading the listing (it replaces the whole inventory).
    fn inventory_request(&self) -> MockBuilder {
        on("GET", &format!("/listings/{}/inventory", LISTINGS[0]))
    }

    async fn mount_inventory_accepting(&self, server: &MockServer) {
        for (listing, (sku, quantity)) in LISTINGS.iter().zip(BATCH) {
            self.mount_listing(server, listing, sku, quantity, false, false)
                .await;
        }
    }

    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String) {
        for (i, item) in items.iter().enumerate() {
            self.mount_listing(
                server,
                &item.item,
                item.sku.as_str(),
                item.quantity,
                i == refused,
                true,
            )
            .await;
        }
        ("etsy_refused".into(), format!("400 Bad Request: {REFUSAL}"))
    }
}
