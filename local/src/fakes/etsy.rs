//! A simulated Etsy (Open API v3 under `/v3/application`, the token endpoint under
//! `/v3/public/oauth/token`): every call must carry the app's `x-api-key`
//! (`keystring:shared_secret`) and, past the install, the seller's bearer token. Orders reach
//! channel-sync as signed `order.paid` webhooks ([`order_paid`]); receipts, tracking, carriers,
//! listings and listing inventory are answered from a [`Shop`].

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

/// `verb` on `/v3/application{p}` with the app key `api_key` and `bearer`
/// (`Bearer {token}`).
pub fn on(api_key: &str, bearer: &str, verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(format!("/v3/application{p}")))
        .and(header("x-api-key", api_key))
        .and(header("authorization", bearer))
}

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

/// A paid receipt `id` with one transaction per `(sku, quantity)`, shipped when `shipments`
/// is not empty.
pub fn receipt(id: u64, lines: &[(&str, u32)], shipments: Value) -> Value {
    let transactions: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, q))| json!({"transaction_id": i + 1, "title": "Mug", "sku": sku, "quantity": q}))
        .collect();
    json!({
        "receipt_id": id, "status": "Paid", "is_paid": true, "is_shipped": shipments.as_array().is_some_and(|s| !s.is_empty()),
        "name": "Ada Buyer", "first_line": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701",
        "country_iso": "US", "create_timestamp": 1_795_000_000, "update_timestamp": 1_795_000_100,
        "shipments": shipments,
        "transactions": transactions
    })
}

/// A listing product `product_id` of `sku` in colour `(value id, name)` with one offering
/// (`offering_id`, `quantity`, enabled or not, its readiness state, price in cents).
#[allow(clippy::too_many_arguments)]
pub fn product(
    product_id: u64,
    sku: &str,
    (value_id, colour): (u64, &str),
    offering_id: u64,
    quantity: i64,
    enabled: bool,
    readiness: u64,
    cents: u64,
) -> Value {
    json!({"product_id": product_id, "sku": sku, "is_deleted": false,
        "property_values": [{"property_id": 200, "property_name": "Colour", "scale_id": null,
            "scale_name": null, "value_ids": [value_id], "values": [colour]}],
        "offerings": [{"offering_id": offering_id, "quantity": quantity, "is_enabled": enabled,
            "is_deleted": false, "readiness_state_id": readiness,
            "price": {"amount": cents, "divisor": 100, "currency_code": "USD"}}]})
}

/// A listing's inventory: `products`, price, quantity, SKU and readiness varying by colour.
pub fn inventory(products: Vec<Value>) -> Value {
    json!({"products": products, "price_on_property": [200], "quantity_on_property": [200],
        "sku_on_property": [200], "readiness_state_on_property": [200]})
}

/// The token exchange (install and refresh) for the app key `api_key`, giving `access` (the
/// part after `Bearer `).
pub fn token_exchange(api_key: &str, access: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path("/v3/public/oauth/token"))
        .and(header("x-api-key", api_key))
        .respond_with(ok(json!({"access_token": access, "token_type": "Bearer",
            "expires_in": 3600, "refresh_token": "7.rt_demo_fake"})))
}

/// The seller (`/users/me`): user 7 owning `shop`.
pub fn me(api_key: &str, bearer: &str, shop: u64) -> Mock {
    on(api_key, bearer, "GET", "/users/me").respond_with(ok(json!({"user_id": 7, "shop_id": shop})))
}

/// Shop `shop`, shipping from the US.
pub fn shop(api_key: &str, bearer: &str, shop: u64) -> Mock {
    on(api_key, bearer, "GET", &format!("/shops/{shop}")).respond_with(ok(
        json!({"shop_name": "AdaMakes", "shipping_from_country_iso": "US"}),
    ))
}

/// Etsy's carriers from the US: USPS, UPS and DHL (`/shipping-carriers`).
pub fn carriers_page() -> Value {
    json!({"count": 3, "results": [
        {"shipping_carrier_id": 1, "name": "USPS", "domestic_classes": [], "international_classes": []},
        {"shipping_carrier_id": 2, "name": "UPS", "domestic_classes": [], "international_classes": []},
        {"shipping_carrier_id": 3, "name": "DHL", "domestic_classes": [], "international_classes": []}]})
}

/// The carriers from the shop's country, [`carriers_page`].
pub fn carriers(api_key: &str, bearer: &str) -> Mock {
    on(api_key, bearer, "GET", "/shipping-carriers")
        .and(wiremock::matchers::query_param("origin_country_iso", "US"))
        .respond_with(ok(carriers_page()))
}

/// Headers and body of a signed `order.paid` for receipt `receipt_id` of `shop`, sent at
/// `timestamp` with message id `id` (Standard Webhooks, signed with `whsec`).
pub fn order_paid(
    whsec: &str,
    shop: u64,
    receipt_id: u64,
    id: &str,
    timestamp: i64,
) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let body = format!(
        r#"{{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/{shop}/receipts/{receipt_id}","shop_id":{shop}}}"#
    )
    .into_bytes();
    let headers = vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            shared::channels::etsy::webhook::sign(whsec, id, timestamp, &body),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    (headers, body)
}

/// The receipts a simulated shop has: read one by one, shipped by the tracking call.
#[derive(Clone, Default)]
pub struct Receipts(Arc<Mutex<BTreeMap<u64, Value>>>);

impl Receipts {
    pub fn add(&self, receipt: Value) {
        if let (Some(id), Ok(mut r)) = (receipt["receipt_id"].as_u64(), self.0.lock()) {
            r.insert(id, receipt);
        }
    }

    fn get(&self, id: u64) -> Option<Value> {
        self.0.lock().ok()?.get(&id).cloned()
    }

    /// Adds a shipment (id `700 + receipt`) with the tracking call's carrier and code.
    fn ship(&self, id: u64, body: &Value) -> Option<Value> {
        let mut receipts = self.0.lock().ok()?;
        let receipt = receipts.get_mut(&id)?;
        let shipment = json!({"receipt_shipping_id": 700 + id,
            "carrier_name": body["carrier_name"], "tracking_code": body["tracking_code"]});
        if let Some(list) = receipt["shipments"].as_array_mut() {
            list.push(shipment);
        } else {
            receipt["shipments"] = json!([shipment]);
        }
        receipt["is_shipped"] = json!(true);
        Some(receipt.clone())
    }
}

/// The receipt id in `/v3/application/shops/{shop}/receipts/{id}[/tracking]`.
fn receipt_id(request: &Request) -> u64 {
    request
        .url
        .path()
        .split('/')
        .nth(6)
        .and_then(|id| id.parse().ok())
        .unwrap_or_default()
}

/// A whole shop for the demo: shop `shop` installed with the app key `api_key` (the token
/// exchange gives `access`), receipts from `receipts` (the poll lists none: they come by
/// webhook), tracking recorded on the receipt, listing 900 with one product per entry of
/// `skus`, its inventory read and written.
pub async fn mount(
    server: &MockServer,
    api_key: &str,
    access: &str,
    shop_id: u64,
    receipts: Receipts,
    skus: &[&str],
) {
    let bearer = format!("Bearer {access}");
    let bearer = bearer.as_str();
    let products: Vec<Value> = skus
        .iter()
        .enumerate()
        .map(|(i, sku)| {
            let n = i as u64 + 1;
            product(n, sku, (n, sku), 10 + n, 0, true, 55, 1250)
        })
        .collect();
    let stock = inventory(products);
    let read = receipts.clone();
    let shipped = receipts;
    for mock in [
        token_exchange(api_key, access),
        me(api_key, bearer, shop_id),
        shop(api_key, bearer, shop_id),
        carriers(api_key, bearer),
        Mock::given(method("GET"))
            .and(path_regex(format!(
                r"^/v3/application/shops/{shop_id}/receipts/\d+$"
            )))
            .and(header("authorization", bearer))
            .respond_with(move |r: &Request| match read.get(receipt_id(r)) {
                Some(receipt) => ok(receipt),
                None => {
                    ResponseTemplate::new(404).set_body_json(json!({"error": "Receipt not found"}))
                }
            }),
        Mock::given(method("POST"))
            .and(path_regex(format!(
                r"^/v3/application/shops/{shop_id}/receipts/\d+/tracking$"
            )))
            .and(header("authorization", bearer))
            .respond_with(move |r: &Request| {
                let body = super::json_of(r);
                match shipped.ship(receipt_id(r), &body) {
                    Some(receipt) => ok(receipt),
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({"error": "Receipt not found"})),
                }
            }),
        on(
            api_key,
            bearer,
            "GET",
            &format!("/shops/{shop_id}/receipts"),
        )
        .respond_with(ok(json!({"count": 0, "results": []}))),
        on(
            api_key,
            bearer,
            "GET",
            &format!("/shops/{shop_id}/listings"),
        )
        .respond_with(ok(
            json!({"count": 1, "results": [{"listing_id": 900, "title": "Tee", "state": "active",
                "inventory": stock.clone()}]}),
        )),
        on(api_key, bearer, "GET", "/listings/900/inventory").respond_with(ok(stock.clone())),
        on(api_key, bearer, "PUT", "/listings/900/inventory").respond_with(ok(stock)),
    ] {
        mock.mount(server).await;
    }
}
