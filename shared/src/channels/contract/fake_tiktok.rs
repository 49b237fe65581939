//! TikTok Shop's fake store for the contract suite: the Open API at the registry's TikTok API
//! base, every call checked for TikTok's request signature (recomputed over the request's own
//! path, query and body bytes), the access token header and the shop's cipher. Wire shapes as
//! in `tiktok/tests.rs`. Errors come as HTTP 200 with `code != 0`.

use super::*;
use crate::channels::tiktok::fake_api::{ok, refused, NotParam, Signed, CIPHER, TOKEN};
use crate::channels::tiktok::TikTokCredentials;
use serde_json::json;
use std::sync::Mutex;
use wiremock::matchers::{body_json, method, path, path_regex, query_param};
use wiremock::Mock;

pub(super) struct TikTokFake;

/// Orders per search page (`tiktok/store.rs`).
const ORDERS_PAGE: &str = "50";
const PRODUCTS_PAGE: &str = "100";
const DELIVERY_OPTION: &str = "7091146663229654785";
const UPS_ID: &str = "6617675021119438849";
const PACKAGE_ID: &str = "1153132168123859123";
/// The warehouse the connection's stock goes to, and another the SKU is also stocked in.
const OURS: &str = "7000000000000000001";
const OTHER: &str = "7000000000000000002";
/// TikTok's per-SKU refusal.
const FROZEN: (i64, &str) = (
    17019025,
    "The product is frozen and its stock cannot be edited",
);

fn signed_on(verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(query_param("shop_cipher", CIPHER))
        .and(Signed { token: TOKEN })
}

fn order(id: &str, seconds: i64) -> Value {
    json!({
        "id": id, "status": "AWAITING_SHIPMENT", "create_time": since().timestamp(),
        "update_time": since().timestamp() + 1800 + seconds,
        "shipping_type": "SELLER", "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "delivery_option_id": DELIVERY_OPTION,
        "recipient_address": {"name": "Ada L", "address_line1": "1 Main St", "postal_code": "10001",
            "region_code": "US", "phone_number": "(+1)212-555-0100"},
        "line_items": [{"id": format!("{id}-1"), "sku_id": "s-a", "seller_sku": SKU_A}]
    })
}

/// [`ORDER_ID`] with one line item per unit of [`ORDERED`]; `tracked` ids carry the tracking.
fn shippable_order(tracked: &[String], number: &str) -> Value {
    let mut o = order(ORDER_ID, 0);
    let mut items = Vec::new();
    for (sku, quantity) in ORDERED {
        for unit in 0..quantity {
            let id = format!("li-{sku}-{unit}");
            let mut item = json!({"id": id, "sku_id": format!("id-{sku}"), "seller_sku": sku});
            if tracked.contains(&id) {
                item["tracking_number"] = json!(number);
                item["package_id"] = json!(PACKAGE_ID);
            }
            items.push(item);
        }
    }
    o["line_items"] = Value::Array(items);
    o
}

/// `product:sku` of each item, grouped per product (first seen first).
fn per_product(items: &[PushItem]) -> Vec<(String, Vec<(String, i64)>)> {
    let mut out: Vec<(String, Vec<(String, i64)>)> = Vec::new();
    for i in items {
        let (p, s) = i.item.split_once(':').unwrap();
        match out.iter_mut().find(|(q, _)| q == p) {
            Some((_, skus)) => skus.push((s.to_owned(), i.quantity)),
            None => out.push((p.to_owned(), vec![(s.to_owned(), i.quantity)])),
        }
    }
    out
}

/// The first SKU of a product is stocked in both warehouses (the other at 4), the rest in
/// ours only.
fn warehouses_of(index: usize) -> Vec<&'static str> {
    if index == 0 {
        vec![OURS, OTHER]
    } else {
        vec![OURS]
    }
}

async fn mount_product(server: &MockServer, product: &str, skus: &[(String, i64)]) {
    let listed: Vec<Value> = skus
        .iter()
        .enumerate()
        .map(|(n, (s, _))| {
            let inv: Vec<Value> = warehouses_of(n)
                .into_iter()
                .map(|w| json!({"warehouse_id": w, "quantity": if w == OTHER { 4 } else { 0 }}))
                .collect();
            json!({"id": s, "inventory": inv})
        })
        .collect();
    signed_on("GET", &format!("/product/202309/products/{product}"))
        .respond_with(ok(
            json!({"id": product, "status": "ACTIVATE", "skus": listed}),
        ))
        .mount(server)
        .await;
}

fn update_body(skus: &[(String, i64)]) -> Value {
    let skus: Vec<Value> = skus
        .iter()
        .enumerate()
        .map(|(n, (s, q))| {
            let inv: Vec<Value> = warehouses_of(n)
                .into_iter()
                .map(|w| json!({"warehouse_id": w, "quantity": if w == OTHER { 4 } else { *q }}))
                .collect();
            json!({"id": s, "inventory": inv})
        })
        .collect();
    json!({ "skus": skus })
}

fn search_request(p: &str, page_size: &str, cursor: Option<&str>) -> MockBuilder {
    let request = signed_on("POST", p).and(query_param("page_size", page_size));
    match cursor {
        None => request.and(NotParam("page_token")),
        Some(c) => request.and(query_param("page_token", c)),
    }
}

#[async_trait]
impl FakeStore for TikTokFake {
    fn channel(&self) -> Channel {
        Channel::Tiktok
    }

    fn shop(&self) -> &'static str {
        "7495540735365777507"
    }

    fn credentials(&self, _server: &MockServer) -> Secret {
        TikTokCredentials {
            access_token: TOKEN.into(),
            access_token_expires_at: (Utc::now() + chrono::Duration::days(6)).timestamp(),
            refresh_token: "fake_refresh_token".into(),
            refresh_token_expires_at: None,
            shop_cipher: CIPHER.into(),
            region: Some("US".into()),
            seller_type: Some("LOCAL".into()),
        }
        .to_secret()
    }

    fn settings(&self) -> ConnectionSettings {
        ConnectionSettings {
            inventory_location: Some(OURS.into()),
            ..ConnectionSettings::default()
        }
    }

    fn throttling(&self) -> Throttling {
        Throttling::ReportsToCaller
    }

    fn unauthorized(&self) -> ResponseTemplate {
        refused(105001, "Access token is invalid")
    }

    fn orders_request(&self, cursor: Option<&str>) -> MockBuilder {
        search_request("/order/202309/orders/search", ORDERS_PAGE, cursor)
            .and(query_param("sort_field", "update_time"))
            .and(query_param("sort_order", "ASC"))
            .and(body_json(json!({"update_time_ge": since().timestamp()})))
    }

    fn one_order_page(&self) -> ResponseTemplate {
        ok(json!({"orders": [order("5001", 0)], "next_page_token": ""}))
    }

    async fn mount_orders(&self, server: &MockServer) -> Vec<String> {
        let ids: Vec<String> = (5001..=5053).map(|n: u32| n.to_string()).collect();
        let (first, rest) = ids.split_at(50);
        let page = |ids: &[String], next: &str| {
            let orders: Vec<Value> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| order(id, i as i64))
                .collect();
            ok(json!({"orders": orders, "next_page_token": next, "total_count": 53}))
        };
        self.orders_request(None)
            .respond_with(page(first, "tok-orders-2"))
            .expect(1)
            .mount(server)
            .await;
        self.orders_request(Some("tok-orders-2"))
            .respond_with(page(rest, ""))
            .expect(1)
            .mount(server)
            .await;
        ids
    }

    async fn mount_listings(&self, server: &MockServer) -> Vec<String> {
        let product = |id: u32| {
            json!({"id": id.to_string(), "title": "Tee", "status": "ACTIVATE",
                "skus": [{"id": format!("{id}1"), "seller_sku": format!("SKU-{id}")}]})
        };
        let p = "/product/202502/products/search";
        search_request(p, PRODUCTS_PAGE, None)
            .and(body_json(json!({})))
            .respond_with(ok(json!({"products": (1..=100).map(product).collect::<Vec<_>>(), "next_page_token": "tok-p2"})))
            .expect(1)
            .mount(server)
            .await;
        search_request(p, PRODUCTS_PAGE, Some("tok-p2"))
            .and(body_json(json!({})))
            .respond_with(ok(
                json!({"products": [product(101), product(102)], "next_page_token": ""}),
            ))
            .expect(1)
            .mount(server)
            .await;
        (1..=102).map(|id| format!("{id}1")).collect()
    }

    fn cursor_of(&self, request: &Request) -> Option<String> {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == "page_token")
            .map(|(_, v)| v.into_owned())
    }

    /// Order detail (re-read by each write: the idempotency check), the delivery option's
    /// shipping providers, then Mark Package As Shipped with the line items in the parcel.
    async fn mount_tracking_lost_answer(&self, server: &MockServer, shipment: &Shipment) -> String {
        let tracked = Arc::new(Mutex::new(Vec::<String>::new()));
        let number = shipment.tracking.number.to_string();
        let read = tracked.clone();
        let shown = number.clone();
        signed_on("GET", "/order/202507/orders")
            .and(query_param("ids", ORDER_ID))
            .respond_with(move |_: &Request| {
                let tracked = read.lock().unwrap().clone();
                ok(json!({"orders": [shippable_order(&tracked, &shown)]}))
            })
            .expect(2)
            .mount(server)
            .await;
        signed_on(
            "GET",
            &format!("/logistics/202309/delivery_options/{DELIVERY_OPTION}/shipping_providers"),
        )
        .respond_with(ok(json!({"shipping_providers": [
            {"id": UPS_ID, "name": CARRIER}, {"id": "6617675021119438850", "name": "USPS"}]})))
        .expect(1)
        .mount(server)
        .await;
        // The units in the parcel: the first `quantity` items of each shipped SKU.
        let items: Vec<String> = shipment
            .shipped()
            .iter()
            .flat_map(|(sku, qty)| (0..*qty).map(move |u| format!("li-{sku}-{u}")))
            .collect();
        let body = json!({
            "order_line_item_ids": items,
            "tracking_number": number,
            "shipping_provider_id": UPS_ID,
        });
        signed_on(
            "POST",
            &format!("/fulfillment/202309/orders/{ORDER_ID}/packages"),
        )
        .and(body_json(body))
        .respond_with(move |_: &Request| {
            let mut tracked = tracked.lock().unwrap();
            let first = tracked.is_empty();
            tracked.extend(items.iter().cloned());
            // Written, but the answer is lost.
            if first {
                ResponseTemplate::new(503)
            } else {
                ok(json!({"package_id": PACKAGE_ID}))
            }
        })
        .expect(1)
        .mount(server)
        .await;
        PACKAGE_ID.to_owned()
    }

    fn is_tracking_create(&self, request: &Request) -> bool {
        request.method.as_str() == "POST"
            && request.url.path() == format!("/fulfillment/202309/orders/{ORDER_ID}/packages")
    }

    /// `product:sku`: SKU-A and SKU-B of one product, SKU-C of another.
    fn inventory_items(&self) -> [&'static str; 3] {
        ["1729:1729001", "1729:1729002", "1730:1730001"]
    }

    /// A write reads the product first (its SKUs' warehouses), then updates it: both are the
    /// write's requests.
    fn inventory_request(&self) -> MockBuilder {
        Mock::given(path_regex(
            r"^/product/202309/products/[0-9]+(/inventory/update)?$",
        ))
        .and(query_param("shop_cipher", CIPHER))
        .and(Signed { token: TOKEN })
    }

    async fn mount_inventory_accepting(&self, server: &MockServer) {
        for (product, skus) in per_product(&batch(self)) {
            mount_product(server, &product, &skus).await;
        }
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/product/202309/products/[0-9]+/inventory/update$",
            ))
            .and(Signed { token: TOKEN })
            .respond_with(ok(json!({})))
            .expect(1..)
            .mount(server)
            .await;
    }

    /// One call per product, every warehouse of each SKU; the refused SKU comes back in
    /// `data.errors` (the call itself succeeds).
    async fn mount_inventory_refusing(
        &self,
        server: &MockServer,
        items: &[PushItem],
        refused: usize,
    ) -> (String, String) {
        let refused_sku = items[refused].item.split_once(':').unwrap().1.to_owned();
        for (product, skus) in per_product(items) {
            mount_product(server, &product, &skus).await;
            let errors: Vec<Value> = skus
                .iter()
                .filter(|(s, _)| *s == refused_sku)
                .map(|(s, _)| json!({"code": FROZEN.0, "message": FROZEN.1, "detail": {"sku_id": s}}))
                .collect();
            signed_on(
                "POST",
                &format!("/product/202309/products/{product}/inventory/update"),
            )
            .and(body_json(update_body(&skus)))
            .respond_with(ok(json!({"errors": errors})))
            .expect(1)
            .mount(server)
            .await;
        }
        (FROZEN.0.to_string(), FROZEN.1.to_owned())
    }
}
