//! A simulated TikTok Shop (Open API on one host, the auth host on the same server): every
//! request must carry the app key, the seller's `x-tts-access-token` and a valid `sign`
//! ([`Signed`]). Orders reach channel-sync by signed webhooks ([`webhook`]); the order detail,
//! the shipping providers of the order's delivery option, the package call, the product
//! search, a product's warehouse inventory and the inventory update are answered from
//! [`Shop`].

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, ResponseTemplate};

/// The app and the seller's token a simulated shop checks on every request.
#[derive(Clone, Debug)]
pub struct App {
    pub key: String,
    pub secret: String,
    pub token: String,
}

/// Signed as TikTok checks it, with the app's key and the seller's token.
pub struct Signed(pub App);

impl Match for Signed {
    fn matches(&self, r: &Request) -> bool {
        let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        get("sign").is_some_and(|sign| {
            sign == shared::channels::tiktok::sign_request(
                &self.0.secret,
                r.url.path(),
                &pairs,
                &r.body,
            )
        }) && get("app_key") == Some(self.0.key.as_str())
            && r.headers
                .get("x-tts-access-token")
                .is_some_and(|v| v.as_bytes() == self.0.token.as_bytes())
    }
}

/// TikTok's success envelope around `data`.
pub fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 0, "message": "Success", "data": data}))
}

/// A signed `verb` on exactly `p`.
pub fn on(app: &App, verb: &str, p: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(p.to_owned()))
        .and(Signed(app.clone()))
}

/// An `AWAITING_SHIPMENT` order shipped by the seller (delivery option
/// `7091146663229654785`), one line per entry of `skus` (`li1`, `li2`, …); a masked address
/// stars the name and street out as TikTok does.
pub fn order(id: &str, masked: bool, update_time: i64, skus: &[&str]) -> Value {
    let (name, line1) = if masked {
        ("J*** D**", "***")
    } else {
        ("Jane Doe", "1 Main St")
    };
    let lines: Vec<Value> = skus
        .iter()
        .enumerate()
        .map(|(i, sku)| json!({"id": format!("li{}", i + 1), "sku_id": format!("sku-{sku}"), "seller_sku": sku}))
        .collect();
    json!({
        "id": id, "status": "AWAITING_SHIPMENT", "create_time": 1764230400, "update_time": update_time,
        "shipping_type": "SELLER", "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "delivery_option_id": DELIVERY_OPTION,
        "recipient_address": {"name": name, "address_line1": line1, "postal_code": "90001",
            "region_code": "US", "phone_number": "(+1)213-555-1234"},
        "line_items": lines
    })
}

/// The delivery option of every simulated order.
pub const DELIVERY_OPTION: &str = "7091146663229654785";

/// Headers and body of a webhook of `kind` signed with the app's key and secret (the
/// `authorization` header), as TikTok posts it to `/webhooks/tiktok`.
pub fn webhook(
    app: &App,
    kind: u64,
    notification: &str,
    shop_id: &str,
    data: Value,
) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let body = serde_json::to_vec(&json!({"type": kind, "tts_notification_id": notification,
        "shop_id": shop_id, "timestamp": 1764234000, "data": data}))
    .unwrap_or_default();
    let sig = shared::channels::tiktok::sign_webhook(&app.key, &app.secret, &body);
    (
        vec![
            ("content-type", "application/json".to_owned()),
            ("authorization", sig),
        ],
        body,
    )
}

/// The code exchange on the auth host: `code` gives the app's seller token (valid a week).
pub fn token_exchange(app: &App, code: &str, now: i64) -> Mock {
    Mock::given(method("GET"))
        .and(path("/api/v2/token/get"))
        .and(query_param("app_key", app.key.as_str()))
        .and(query_param("app_secret", app.secret.as_str()))
        .and(query_param("auth_code", code))
        .respond_with(ok(json!({"access_token": app.token,
            "access_token_expire_in": now + 7 * 86400,
            "refresh_token": "fake_tts_refresh", "refresh_token_expire_in": now + 365 * 86400,
            "seller_name": "Demo Seller"})))
}

/// The one authorized shop `id` (with `cipher`).
pub fn authorized_shop(app: &App, id: &str, cipher: &str) -> Mock {
    on(app, "GET", "/authorization/202309/shops").respond_with(ok(
        json!({"shops": [{"id": id, "name": "Demo TikTok Shop", "region": "US",
            "seller_type": "LOCAL", "cipher": cipher, "code": "USDEMO"}]}),
    ))
}

/// The webhook subscriptions: none yet, and every update accepted.
pub fn subscriptions(app: &App) -> [Mock; 2] {
    [
        on(app, "GET", "/event/202309/webhooks").respond_with(ok(json!({"webhooks": []}))),
        on(app, "PUT", "/event/202309/webhooks").respond_with(ok(json!({}))),
    ]
}

/// The shipping providers of [`DELIVERY_OPTION`]: UPS and DHL.
pub fn shipping_providers(app: &App) -> Mock {
    on(
        app,
        "GET",
        &format!("/logistics/202309/delivery_options/{DELIVERY_OPTION}/shipping_providers"),
    )
    .respond_with(ok(json!({"shipping_providers": [
        {"id": "6617675021119438849", "name": "UPS"},
        {"id": "6617675021119438850", "name": "DHL"}]})))
}

/// Two sales warehouses: `W1` (the 3PL's) and `W2` (the seller's own).
pub fn warehouses(app: &App) -> Mock {
    on(app, "GET", "/logistics/202309/warehouses").respond_with(ok(json!({"warehouses": [
        {"id": "W1", "name": "3PL", "effect_status": "ENABLED", "type": "SALES_WAREHOUSE"},
        {"id": "W2", "name": "Seller", "effect_status": "ENABLED", "type": "SALES_WAREHOUSE"}]})))
}

/// The product search answering product `id` with one SKU per `(sku id, seller sku)`.
pub fn product_search(app: &App, id: &str, skus: &[(&str, &str)]) -> Mock {
    let skus: Vec<Value> = skus
        .iter()
        .map(|(sku_id, seller_sku)| json!({"id": sku_id, "seller_sku": seller_sku}))
        .collect();
    on(app, "POST", "/product/202502/products/search").respond_with(ok(
        json!({"products": [{"id": id, "title": "Tee", "status": "ACTIVATE", "skus": skus}],
            "next_page_token": ""}),
    ))
}

/// Product `id`'s SKUs with their stock in `W1` and `W2`: `(sku id, W1, W2)`.
pub fn product_inventory(app: &App, id: &str, skus: &[(&str, i64, i64)]) -> Mock {
    let skus: Vec<Value> = skus
        .iter()
        .map(|(sku_id, w1, w2)| {
            json!({"id": sku_id, "inventory": [
                {"warehouse_id": "W1", "quantity": w1}, {"warehouse_id": "W2", "quantity": w2}]})
        })
        .collect();
    on(app, "GET", &format!("/product/202309/products/{id}"))
        .respond_with(ok(json!({"id": id, "skus": skus})))
}

/// The orders a simulated shop has taken: what its order detail answers.
#[derive(Clone, Default)]
pub struct Orders(Arc<Mutex<Vec<Value>>>);

impl Orders {
    pub fn add(&self, order: Value) {
        if let Ok(mut orders) = self.0.lock() {
            orders.push(order);
        }
    }

    fn with_ids(&self, ids: &str) -> Vec<Value> {
        let wanted: Vec<&str> = ids.split(',').map(str::trim).collect();
        self.0
            .lock()
            .map(|o| {
                o.iter()
                    .filter(|order| order["id"].as_str().is_some_and(|id| wanted.contains(&id)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The order detail (`/order/202507/orders?ids=…`) answered from `orders`.
pub fn order_detail(app: &App, orders: Orders) -> Mock {
    on(app, "GET", "/order/202507/orders").respond_with(move |r: &Request| {
        let ids = r
            .url
            .query_pairs()
            .find(|(k, _)| k == "ids")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        ok(json!({ "orders": orders.with_ids(&ids) }))
    })
}

/// A whole shop for the demo: installed by the code `code`, shop `shop_id`, orders from
/// `orders`, the order search (the poll) finding nothing new, packages accepted
/// (`pkg-{order}`), product `1729` with one SKU per entry of `skus` (`1729001`, …) and every
/// inventory update accepted.
pub async fn mount(
    server: &MockServer,
    app: &App,
    code: &str,
    shop_id: &str,
    orders: Orders,
    skus: &[&str],
) {
    let now = chrono::Utc::now().timestamp();
    let sku_ids: Vec<String> = (1..=skus.len()).map(|n| format!("1729{n:03}")).collect();
    let search: Vec<(&str, &str)> = sku_ids
        .iter()
        .map(String::as_str)
        .zip(skus.iter().copied())
        .collect();
    let stock: Vec<(&str, i64, i64)> = sku_ids.iter().map(|id| (id.as_str(), 0, 5)).collect();
    let [list, update] = subscriptions(app);
    for mock in [
        token_exchange(app, code, now),
        authorized_shop(app, shop_id, "ROW_demo_cipher"),
        list,
        update,
        order_detail(app, orders),
        on(app, "POST", "/order/202309/orders/search").respond_with(ok(
            json!({"orders": [], "next_page_token": "", "total_count": 0}),
        )),
        shipping_providers(app),
        Mock::given(method("POST"))
            .and(wiremock::matchers::path_regex(
                r"^/fulfillment/202309/orders/[0-9]+/packages$",
            ))
            .and(Signed(app.clone()))
            .respond_with(|r: &Request| {
                let order = r
                    .url
                    .path()
                    .split('/')
                    .nth(4)
                    .unwrap_or_default()
                    .to_owned();
                ok(json!({ "package_id": format!("pkg-{order}") }))
            }),
        warehouses(app),
        product_search(app, "1729", &search),
        product_inventory(app, "1729", &stock),
        on(
            app,
            "POST",
            "/product/202309/products/1729/inventory/update",
        )
        .respond_with(ok(json!({"errors": []}))),
    ] {
        mock.mount(server).await;
    }
}
