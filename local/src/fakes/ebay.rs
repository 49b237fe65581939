//! A simulated eBay (Identity, Commerce Identity, Notification, Fulfillment and Inventory APIs
//! on one host): the OAuth token endpoint with the app's Basic credentials, the seller read,
//! notification destinations and subscriptions, the public key of a [`Signer`], orders and
//! their shipping fulfillments, inventory items, offers and the bulk quantity update. Orders
//! reach channel-sync as `ORDER_CONFIRMATION` notifications signed with ECDSA
//! ([`Signer::header`]).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{body_string_contains, header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The token endpoint.
pub const TOKEN: &str = "/identity/v1/oauth2/token";

/// Signs a body into an `X-EBAY-SIGNATURE` header.
type SignFn = Box<dyn Fn(&[u8]) -> String + Send + Sync>;

/// Signs notifications as eBay does, with a P-256 key made here (never stored) published
/// under `kid`.
pub struct Signer {
    pub kid: String,
    /// The public key as the Notification API's `public_key` call answers it.
    pub public_pem: String,
    sign: SignFn,
}

impl Signer {
    pub fn new(kid: &str) -> Self {
        use shared::channels::ebay::notify::signing;
        let key = signing::key();
        let public_pem = signing::public_pem(&key);
        let id = kid.to_owned();
        Self {
            kid: kid.to_owned(),
            public_pem,
            sign: Box::new(move |body| signing::header(&key, &id, "ecdsa", "SHA1", body)),
        }
    }

    /// The `X-EBAY-SIGNATURE` header of `body` (ECDSA over SHA-1, as eBay sends it).
    pub fn header(&self, body: &[u8]) -> String {
        (self.sign)(body)
    }
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A notification of `topic` (id `id`) carrying `data`, dated now (a lifecycle event older
/// than the connection's activation is ignored).
pub fn notification(topic: &str, id: &str, data: Value) -> Vec<u8> {
    let now = chrono::Utc::now();
    json!({"metadata": {"topic": topic, "schemaVersion": "1.0", "deprecated": false},
        "notification": {"notificationId": id, "eventDate": now,
            "publishDate": now, "publishAttemptCount": 1, "data": data}})
    .to_string()
    .into_bytes()
}

/// A paid order `id` not yet fulfilled, shipping to Leeds, one line per
/// `(line item id, sku, quantity)`.
pub fn order(id: &str, lines: &[(&str, &str, u32)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(
            |(line, sku, q)| json!({"lineItemId": line, "sku": sku, "quantity": q, "title": "Tee"}),
        )
        .collect();
    json!({
        "orderId": id, "creationDate": "2026-11-27T09:00:00.000Z",
        "lastModifiedDate": "2026-11-27T09:01:00.000Z",
        "orderFulfillmentStatus": "NOT_STARTED", "orderPaymentStatus": "PAID",
        "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
        "fulfillmentStartInstructions": [{"shippingStep": {"shipTo": {"fullName": "Ada Buyer",
            "contactAddress": {"addressLine1": "1 High St", "city": "Leeds", "postalCode": "LS1 1AA",
                "countryCode": "GB"}}}}],
        "lineItems": items
    })
}

/// The code exchange with the app's `basic` credentials: `form` exactly, giving the user
/// token `user`.
pub fn code_exchange(basic: &str, form: &str, user: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .and(header("authorization", basic))
        .and(wiremock::matchers::body_string(form))
        .respond_with(ok(json!({"access_token": user, "expires_in": 7200,
            "refresh_token": "refresh-token-fake", "refresh_token_expires_in": 47304000})))
}

/// The application token (client credentials grant) `app`.
pub fn app_token(basic: &str, app: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(TOKEN))
        .and(header("authorization", basic))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ok(json!({"access_token": app, "expires_in": 7200})))
}

/// The seller behind user token `user`: `seller` (`userId`).
pub fn seller(user: &str, seller: &str) -> Mock {
    Mock::given(method("GET"))
        .and(path("/commerce/identity/v1/user/"))
        .and(header("authorization", format!("Bearer {user}")))
        .respond_with(ok(
            json!({"userId": seller, "username": format!("{seller}_name")}),
        ))
}

/// No destination yet (read with the app token), then destination `D-fake` created with the
/// `verification` token.
pub fn destination(app: &str, verification: &str) -> [Mock; 2] {
    [
        Mock::given(method("GET"))
            .and(path("/commerce/notification/v1/destination"))
            .and(header("authorization", format!("Bearer {app}")))
            .respond_with(ok(json!({"destinations": []}))),
        Mock::given(method("POST"))
            .and(path("/commerce/notification/v1/destination"))
            .and(body_string_contains(verification))
            .respond_with(ResponseTemplate::new(201).insert_header(
                "location",
                "https://api.ebay.com/commerce/notification/v1/destination/D-fake",
            )),
    ]
}

/// No subscription yet (read with the user token), then the `ORDER_CONFIRMATION` one to
/// `D-fake` created.
pub fn subscription(user: &str) -> [Mock; 2] {
    [
        Mock::given(method("GET"))
            .and(path("/commerce/notification/v1/subscription"))
            .and(header("authorization", format!("Bearer {user}")))
            .respond_with(ok(json!({"subscriptions": []}))),
        Mock::given(method("POST"))
            .and(path("/commerce/notification/v1/subscription"))
            .and(body_string_contains("\"destinationId\":\"D-fake\""))
            .and(body_string_contains("ORDER_CONFIRMATION"))
            .respond_with(ResponseTemplate::new(201)),
    ]
}

/// The signer's public key (read with the app token).
pub fn public_key(app: &str, signer: &Signer) -> Mock {
    Mock::given(method("GET"))
        .and(path(format!(
            "/commerce/notification/v1/public_key/{}",
            signer.kid
        )))
        .and(header("authorization", format!("Bearer {app}")))
        .respond_with(ok(
            json!({"key": signer.public_pem, "algorithm": "ECDSA", "digest": "SHA1"}),
        ))
}

/// The orders a simulated seller has, and the shipping fulfillments made of them.
#[derive(Clone, Default)]
pub struct Orders {
    orders: Arc<Mutex<BTreeMap<String, Value>>>,
    fulfillments: Arc<Mutex<BTreeMap<String, Vec<Value>>>>,
}

impl Orders {
    pub fn add(&self, order: Value) {
        if let (Some(id), Ok(mut orders)) = (order["orderId"].as_str(), self.orders.lock()) {
            orders.insert(id.to_owned(), order);
        }
    }

    fn get(&self, id: &str) -> Option<Value> {
        self.orders.lock().ok()?.get(id).cloned()
    }

    fn fulfillments(&self, id: &str) -> Vec<Value> {
        self.fulfillments
            .lock()
            .ok()
            .and_then(|f| f.get(id).cloned())
            .unwrap_or_default()
    }

    /// Records a shipping fulfillment of order `id`; its id is `F-{tracking number}`.
    fn fulfil(&self, id: &str, body: &Value) -> String {
        let number = body["trackingNumber"].as_str().unwrap_or("none").to_owned();
        let fulfillment = json!({"fulfillmentId": format!("F-{number}"),
            "shipmentTrackingNumber": number, "shippingCarrierCode": body["shippingCarrierCode"],
            "lineItems": body["lineItems"]});
        if let Ok(mut f) = self.fulfillments.lock() {
            f.entry(id.to_owned()).or_default().push(fulfillment);
        }
        format!("F-{number}")
    }
}

/// The order id in `/sell/fulfillment/v1/order/{id}[/…]`.
fn order_id(request: &Request) -> String {
    request
        .url
        .path()
        .split('/')
        .nth(5)
        .unwrap_or_default()
        .to_owned()
}

/// A whole seller for the demo: the app's `basic` credentials, user token `user`, app token
/// `app`, seller `seller_id`, the destination's `verification` token, the `signer`'s key,
/// orders and fulfillments from `orders` (the poll lists none: they come by notification),
/// one inventory item and offer per entry of `skus`, bulk updates accepted.
#[allow(clippy::too_many_arguments)]
pub async fn mount(
    server: &MockServer,
    basic: &str,
    user: &str,
    app: &str,
    seller_id: &str,
    verification: &str,
    signer: &Signer,
    orders: Orders,
    skus: &[&str],
) {
    let bearer = format!("Bearer {user}");
    let [destinations, create_destination] = destination(app, verification);
    let [subscriptions, subscribe] = subscription(user);
    let read = orders.clone();
    let listed = orders.clone();
    let shipped = orders;
    let items: Vec<Value> = skus
        .iter()
        .map(|sku| json!({"sku": sku, "product": {"title": format!("Item {sku}")}}))
        .collect();
    let total = items.len();
    for mock in [
        Mock::given(method("POST"))
            .and(path(TOKEN))
            .and(header("authorization", basic))
            .and(body_string_contains("grant_type=authorization_code"))
            .respond_with(ok(json!({"access_token": user, "expires_in": 7200,
                "refresh_token": "refresh-token-fake", "refresh_token_expires_in": 47304000}))),
        app_token(basic, app),
        seller(user, seller_id),
        destinations,
        create_destination,
        subscriptions,
        subscribe,
        public_key(app, signer),
        Mock::given(method("GET"))
            .and(path("/sell/fulfillment/v1/order"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(ok(
                json!({"orders": [], "total": 0, "limit": 200, "offset": 0}),
            )),
        Mock::given(method("GET"))
            .and(path_regex(r"^/sell/fulfillment/v1/order/[^/]+$"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(move |r: &Request| match read.get(&order_id(r)) {
                Some(order) => ok(order),
                None => ResponseTemplate::new(404).set_body_json(
                    json!({"errors": [{"errorId": 32100, "message": "Invalid order ID"}]}),
                ),
            }),
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/sell/fulfillment/v1/order/[^/]+/shipping_fulfillment$",
            ))
            .and(header("authorization", bearer.as_str()))
            .respond_with(move |r: &Request| {
                let list = listed.fulfillments(&order_id(r));
                let total = list.len();
                ok(json!({"fulfillments": list, "total": total}))
            }),
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/sell/fulfillment/v1/order/[^/]+/shipping_fulfillment$",
            ))
            .and(header("authorization", bearer.as_str()))
            .respond_with(move |r: &Request| {
                let id = shipped.fulfil(&order_id(r), &super::json_of(r));
                ResponseTemplate::new(201).insert_header(
                    "location",
                    format!("https://api.ebay.com{}/{id}", r.url.path()),
                )
            }),
        Mock::given(method("GET"))
            .and(path("/sell/inventory/v1/inventory_item"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(move |r: &Request| {
                let first = r.url.query_pairs().all(|(k, v)| k != "offset" || v == "0");
                match first {
                    true => ok(json!({"total": total, "inventoryItems": items})),
                    false => ok(json!({"total": total, "inventoryItems": []})),
                }
            }),
        offers(user),
        bulk_update(user),
    ] {
        mock.mount(server).await;
    }
}

/// Each SKU's one offer, `O-{sku}`.
pub fn offers(user: &str) -> Mock {
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/offer"))
        .and(header("authorization", format!("Bearer {user}")))
        .respond_with(|r: &Request| {
            let sku = r
                .url
                .query_pairs()
                .find(|(k, _)| k == "sku")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            ok(json!({"offers": [{"offerId": format!("O-{sku}"), "sku": sku}]}))
        })
}

/// `bulkUpdatePriceQuantity`: every SKU of the call accepted.
pub fn bulk_update(user: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path("/sell/inventory/v1/bulk_update_price_quantity"))
        .and(header("authorization", format!("Bearer {user}")))
        .respond_with(|r: &Request| {
            let body = super::json_of(r);
            let responses: Vec<Value> = body["requests"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|q| json!({"sku": q["sku"], "statusCode": 200}))
                .collect();
            ok(json!({ "responses": responses }))
        })
}
