//! The Integrations page in a real headless Chromium, against a real `channel-sync serve` and
//! the `wiremock` channel fakes the black-box tests use: sign in, connect WooCommerce through
//! its form, install Shopify by OAuth and land back connected, edit settings that survive a
//! reload, Sync now to 100 %, hostile store strings shown as text, and the README's screenshot.
//! (Disconnect is not driven here: its route is built elsewhere.)

mod browser;
mod common;

use browser::{until, Browser, ONE_AT_A_TIME};
use common::{fake, spawn, Runner};
use serde_json::{json, Value};
use wiremock::matchers::{basic_auth, body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const WC: &str = "/wp-json/wc/v3";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const SHOP: &str = "demo-ui.myshopify.com";
const CLAIM_SHOP: &str = "claim-ui.myshopify.com";

fn json_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

/// A fake WooCommerce store named `name` that accepts the key `ck_good_fake` / `cs_good_fake`
/// only, with one product `TS-001` (stock writes answered as sent).
async fn woo_store(name: &str) -> MockServer {
    let woo = MockServer::start().await;
    let ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
    let key = || basic_auth("ck_good_fake", "cs_good_fake");
    Mock::given(method("GET"))
        .and(path("/wp-json/"))
        .respond_with(ok(json!({"name": name, "namespaces": ["wp/v2", "wc/v3"]})))
        .mount(&woo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{WC}/orders")))
        .and(key())
        .respond_with(ok(json!([])).insert_header("X-WP-TotalPages", "1"))
        .mount(&woo)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WC}/webhooks/batch")))
        .and(key())
        .respond_with(ok(json!({})))
        .mount(&woo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{WC}/webhooks")))
        .and(key())
        .respond_with(ok(json!([])).insert_header("X-WP-TotalPages", "1"))
        .mount(&woo)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WC}/webhooks")))
        .and(key())
        .respond_with(|r: &Request| {
            let mut body = json_of(r);
            body["id"] = json!(11);
            ResponseTemplate::new(201).set_body_json(body)
        })
        .mount(&woo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{WC}/products")))
        .and(key())
        .respond_with(
            ok(
                json!([{"id": 10, "name": "Tee", "type": "simple", "sku": "TS-001",
                "status": "publish", "manage_stock": true, "stock_quantity": 3}]),
            )
            .insert_header("X-WP-TotalPages", "1"),
        )
        .mount(&woo)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WC}/products/batch")))
        .and(key())
        .respond_with(|r: &Request| {
            let mut update = json_of(r)["update"].clone();
            for item in update.as_array_mut().into_iter().flatten() {
                item["manage_stock"] = json!(true);
            }
            ResponseTemplate::new(200).set_body_json(json!({ "update": update }))
        })
        .mount(&woo)
        .await;
    // Any other key: WooCommerce's refusal.
    Mock::given(method("GET"))
        .and(path(format!("{WC}/orders")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": "woocommerce_rest_authentication_error", "message": "Invalid signature",
            "data": {"status": 401}})))
        .with_priority(10)
        .mount(&woo)
        .await;
    woo
}

/// `serve` with self-hosted stores allowed on loopback, plus `extra`.
fn serve(data: &std::path::Path, token: &str, extra: &[(&str, &str)]) -> Runner {
    let mut envs = vec![
        ("CHANNEL_SYNC_ALLOW_PRIVATE_STORES", "1"),
        ("CHANNEL_SYNC_RECONCILE_SECS", "0"),
    ];
    envs.extend_from_slice(extra);
    spawn(data, token, &envs)
}

/// Connects a fake WooCommerce store over the API (the page's own form is tested once).
async fn connect_woo(runner: &Runner, token: &str, woo: &MockServer) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{}/api/connections", runner.base))
        .bearer_auth(token)
        .json(&json!({"channel": "woocommerce", "store_url": woo.uri(),
            "consumer_key": "ck_good_fake", "consumer_secret": "cs_good_fake"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    answer.json().await.unwrap()
}

/// Opens the page and signs in by typing `token`.
async fn sign_in(browser: &Browser, runner: &Runner, token: &str) {
    browser.goto(&format!("{}/", runner.base)).await;
    browser.type_into("#token", token).await;
    browser.click("#signin-form button[type=submit]").await;
    browser.element("#app").await;
}

/// The card of the connection whose store is shown as `display`.
fn card(id: &str) -> String {
    format!("#connections [data-connection=\"{id}\"]")
}

/// GIVEN the page on the loopback address WHEN a wrong token is typed THEN a clear sentence
/// says it was not accepted and nothing else shows; WHEN the offered dev token is taken THEN
/// the seven channel cards show, the token is kept in sessionStorage only (not in the URL,
/// localStorage or a cookie) and survives a reload of the tab. The page is served with the
/// strict policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refuses_a_wrong_token_and_takes_the_offered_dev_token() {
    let _one = ONE_AT_A_TIME.lock().await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let runner = serve(data.path(), &token, &[]);
    let page = reqwest::get(format!("{}/", runner.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    // The dev token is not handed to a request that is not the page's own.
    let bare = reqwest::get(format!("{}/integrations/dev-token", runner.base))
        .await
        .unwrap();
    assert_eq!(bare.status(), 404);

    let browser = Browser::start().await;
    browser.goto(&format!("{}/", runner.base)).await;
    browser.type_into("#token", "cs_dev_wrong_token_fake").await;
    browser.click("#signin-form button[type=submit]").await;
    let refused = browser
        .text_until("#signin-error", "says the token was refused", |t| {
            t.contains("not accepted")
        })
        .await;
    assert!(refused.contains("unknown bearer token"), "{refused}");
    assert!(!browser.shown("#app").await);

    browser.click("#use-dev-token").await;
    browser.element("#app").await;
    let cards = browser
        .js(
            "return [...document.querySelectorAll('#channels .channel .name')].map(e => e.textContent);",
            Value::Null,
        )
        .await;
    assert_eq!(
        cards,
        json!([
            "Shopify",
            "WooCommerce",
            "TikTok Shop",
            "eBay",
            "Veeqo / Amazon",
            "Etsy",
            "Magento 2"
        ])
    );
    let kept = browser
        .js(
            "return [sessionStorage.getItem('channel-sync.token'), localStorage.length, document.cookie];",
            Value::Null,
        )
        .await;
    assert_eq!(kept, json!([token, 0, ""]));
    assert!(!browser.url().await.contains(&token));
    browser.client.refresh().await.unwrap();
    browser.element("#app").await;
    assert!(
        !browser.shown("#signin").await,
        "still signed in after a reload"
    );
    // Readable on a phone: nothing wider than 360 px.
    browser.client.set_window_size(360, 800).await.unwrap();
    let widths = until("the narrow layout", || async {
        let w = browser
            .js(
                "return [window.innerWidth, document.documentElement.clientWidth, document.documentElement.scrollWidth];",
                Value::Null,
            )
            .await;
        (w[0].as_u64().unwrap_or(0) <= 360).then_some(w)
    })
    .await;
    assert_eq!(widths[1], widths[2], "the page scrolls sideways at 360 px");
    // Usable by keyboard: signing out, the token field has the focus and Enter signs in.
    browser.click("#sign-out").await;
    let focused = browser
        .js("return document.activeElement.id;", Value::Null)
        .await;
    assert_eq!(focused, json!("token"));
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&format!("{token}\u{e007}"))
        .await
        .unwrap();
    browser.element("#app").await;
    // An install that went wrong lands here too: the reason in words, then a clean address.
    browser
        .goto(&format!(
            "{}/integrations?shopify=error&reason=missing_scopes&missing=read_orders",
            runner.base
        ))
        .await;
    let said = browser
        .text_until("#notice", "explains the failed install", |t| !t.is_empty())
        .await;
    assert_eq!(
        said,
        "Shopify was not connected: the app was granted too few permissions (missing: read_orders)."
    );
    assert_eq!(browser.url().await, format!("{}/integrations", runner.base));
    browser.client.clone().close().await.unwrap();
}

/// GIVEN a fake WooCommerce store WHEN the form is sent with a wrong key THEN the store's
/// refusal (422) is shown next to the key field and nothing is connected; WHEN sent with the
/// right key THEN the store's card shows it active. WHEN inventory sync is set to Daily and
/// Sync now is pressed THEN the bar reaches 100 % and the store received the WMS quantity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woocommerce_store_connects_through_its_form_and_syncs_to_100_percent() {
    let _one = ONE_AT_A_TIME.lock().await;
    let woo = woo_store("Demo Woo").await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let runner = serve(data.path(), &token, &[]);
    let browser = Browser::start().await;
    sign_in(&browser, &runner, &token).await;

    browser
        .click("#channels [data-channel=woocommerce] .connect-form")
        .await;
    browser.type_into("#f-store_url", &woo.uri()).await;
    browser.type_into("#f-consumer_key", "ck_wrong_fake").await;
    browser
        .type_into("#f-consumer_secret", "cs_good_fake")
        .await;
    browser.click("#connect-form button[type=submit]").await;
    let refusal = browser
        .text_until(
            "[data-field=consumer_key] .error",
            "shows the refusal",
            |t| !t.is_empty(),
        )
        .await;
    assert_eq!(refusal, "WooCommerce rejected the consumer key and secret");
    assert_eq!(browser.text("#connect-error").await.as_deref(), Some(""));
    assert_eq!(
        browser
            .text("[data-field=store_url] .error")
            .await
            .as_deref(),
        Some("")
    );
    assert_eq!(
        browser
            .js(
                "return document.querySelectorAll('#connections .connection').length;",
                Value::Null
            )
            .await,
        json!(0)
    );

    browser.type_into("#f-consumer_key", "ck_good_fake").await;
    browser.click("#connect-form button[type=submit]").await;
    let id = until("the WooCommerce card", || async {
        browser
            .js(
                "const c = document.querySelector('#connections [data-channel=woocommerce]'); return c && c.dataset.connection;",
                Value::Null,
            )
            .await
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let card = card(&id);
    assert_eq!(
        browser
            .text(&format!("{card} .display-name"))
            .await
            .as_deref(),
        Some("Demo Woo")
    );
    assert_eq!(
        browser.text(&format!("{card} .status")).await.as_deref(),
        Some("Active")
    );
    assert!(browser
        .text("#notice")
        .await
        .unwrap()
        .contains("WooCommerce store connected"));

    // The WMS knows TS-001 with 7 available.
    let posted = reqwest::Client::new()
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(&token)
        .json(
            &json!({"type": "stock.changed", "tenant": "dev", "sku": "TS-001",
            "available": 7, "at": "2026-11-27T10:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    // Sync now is refused while inventory sync is disabled: the sentence shows on the card.
    browser.click(&format!("{card} .sync")).await;
    browser
        .text_until(
            &format!("{card} .conn-message"),
            "says sync is disabled",
            |t| t.contains("inventory sync is disabled"),
        )
        .await;
    browser.click(&format!("{card} .settings summary")).await;
    browser
        .element(&format!("{card} [name=inventory_sync]"))
        .await
        .select_by_value("daily")
        .await
        .unwrap();
    browser
        .click(&format!("{card} .settings-form button[type=submit]"))
        .await;
    browser
        .text_until(&format!("{card} .saved"), "says saved", |t| t == "Saved.")
        .await;
    // Switching inventory sync on starts a first full push: Sync now waits for it to end.
    until("the first push to end", || async {
        let runs: Value = reqwest::Client::new()
            .get(format!("{}/api/connections/{id}/runs", runner.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (runs["runs"][0]["kind"] == "enabled" && runs["runs"][0]["finished_at"].is_string())
            .then_some(())
    })
    .await;
    browser.click(&format!("{card} .sync")).await;
    browser
        .text_until(&format!("{card} .percent"), "reaches 100 %", |t| {
            t == "100 %"
        })
        .await;
    let bar = browser
        .js(
            "return document.querySelector(arguments[0]).value;",
            json!(format!("{card} .bar")),
        )
        .await;
    assert_eq!(bar, json!(100));
    let label = browser.text(&format!("{card} .run-label")).await.unwrap();
    let failures = browser
        .text(&format!("{card} .run-failures"))
        .await
        .unwrap();
    let result = browser.text(&format!("{card} .run-result")).await.unwrap();
    assert_eq!(label, "Sync now: succeeded", "{result} {failures}");
    assert!(result.ends_with(", failed 0"), "{result}");
    let writes: Vec<Value> = woo
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == format!("{WC}/products/batch"))
        .map(json_of)
        .collect();
    assert!(
        writes.iter().any(|w| w["update"][0]["stock_quantity"] == 7),
        "{writes:?}"
    );
    // The run history lists it.
    browser.click(&format!("{card} .history summary")).await;
    browser
        .text_until(&format!("{card} .history tbody"), "lists the run", |t| {
            t.contains("Sync nowsucceeded") && t.contains("First sync after switching onsucceeded")
        })
        .await;
    // A dry run shows what it would write, and writes nothing.
    let batches_before = writes.len();
    browser.click(&format!("{card} .dry-run")).await;
    browser
        .text_until(&format!("{card} .run-label"), "ends the dry run", |t| {
            t == "Dry run: succeeded"
        })
        .await;
    assert_eq!(
        browser
            .text(&format!("{card} .run-failures"))
            .await
            .as_deref(),
        Some("TS-001 → 7")
    );
    let batches_after = woo
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == format!("{WC}/products/batch"))
        .count();
    assert_eq!(
        batches_after, batches_before,
        "a dry run wrote to the store"
    );
    // A setting the page can tell is wrong is refused next to its field, and nothing is sent.
    browser
        .type_into(&format!("{card} [name=safety_buffer]"), "-2")
        .await;
    browser
        .click(&format!("{card} .settings-form button[type=submit]"))
        .await;
    let said = browser
        .text_until(
            &format!("{card} [data-setting=safety_buffer] .error"),
            "refuses the buffer",
            |t| !t.is_empty(),
        )
        .await;
    assert_eq!(said, "Enter a whole number of units (0 or more).");
    browser.client.clone().close().await.unwrap();
}

/// GIVEN a store named `<img src=x onerror=alert(1)>` and a WMS product titled and SKU'd so
/// WHEN the page shows the store and its SKU audit (the SKU, missing on the channel) THEN both
/// show as those characters: no element is made of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_store_strings_show_as_text() {
    let _one = ONE_AT_A_TIME.lock().await;
    let woo = woo_store(HOSTILE).await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let runner = serve(data.path(), &token, &[]);
    let connected = connect_woo(&runner, &token, &woo).await;
    let id = connected["id"].as_str().unwrap().to_owned();
    let posted = reqwest::Client::new()
        .post(format!("{}/wms/events", runner.base))
        .bearer_auth(&token)
        .json(
            &json!({"type": "product.upserted", "tenant": "dev", "sku": HOSTILE,
            "name": HOSTILE}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);

    let browser = Browser::start().await;
    sign_in(&browser, &runner, &token).await;
    let card = card(&id);
    let shown = browser
        .text_until(&format!("{card} .display-name"), "shows the store", |t| {
            !t.is_empty()
        })
        .await;
    assert_eq!(shown, HOSTILE);
    // The WMS SKU reaches the audit once the stock event is handled.
    let item = until("the hostile SKU in the audit", || async {
        browser.click(&format!("{card} .show-audit")).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        browser
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent).find(t => t.includes('img')) || null;",
                json!(format!("{card} .audit-lists li")),
            )
            .await
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert_eq!(item, HOSTILE);
    let images = browser
        .js(
            "return document.querySelectorAll('img').length;",
            Value::Null,
        )
        .await;
    assert_eq!(images, json!(0), "a store string became markup");
    browser.client.clone().close().await.unwrap();
}

/// A fake Shopify for an OAuth install: the code exchange, the shop, two active locations,
/// webhook subscriptions; anything else is a 503 (background jobs stay out of the way).
async fn shopify_fake() -> MockServer {
    let shopify = MockServer::start().await;
    let ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
    Mock::given(method("POST"))
        .and(path("/admin/oauth/access_token"))
        .and(wiremock::matchers::body_partial_json(
            json!({"client_id": "fake-client-id", "code": "code-ui"}),
        ))
        .respond_with(ok(json!({
            "access_token": "shpat_fake_ui", "scope": "write_orders,write_products,write_inventory,read_locations,write_merchant_managed_fulfillment_orders",
            "expires_in": 3600, "refresh_token": "shprt_fake_ui", "refresh_token_expires_in": 7776000
        })))
        .expect(1)
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .and(path("/admin/oauth/access_token"))
        .and(wiremock::matchers::body_partial_json(
            json!({"client_id": "fake-client-id", "code": "code-claim"}),
        ))
        .respond_with(ok(json!({
            "access_token": "shpat_fake_claim", "scope": "write_orders,write_products,write_inventory,read_locations,write_merchant_managed_fulfillment_orders",
            "expires_in": 3600, "refresh_token": "shprt_fake_claim", "refresh_token_expires_in": 7776000
        })))
        .expect(1)
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncShop"))
        .and(wiremock::matchers::header(
            "X-Shopify-Access-Token",
            "shpat_fake_claim",
        ))
        .respond_with(ok(json!({"data": {"shop": {"name": "Claimed Shop",
            "myshopifyDomain": CLAIM_SHOP}}})))
        .with_priority(1)
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncShop"))
        .respond_with(ok(
            json!({"data": {"shop": {"name": "Demo UI Shop", "myshopifyDomain": SHOP}}}),
        ))
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncLocations"))
        .respond_with(ok(json!({"data": {"locations": {"nodes": [
            {"id": "gid://shopify/Location/1", "name": "Shop floor", "isActive": true, "fulfillsOnlineOrders": true},
            {"id": "gid://shopify/Location/2", "name": "3PL Warehouse", "isActive": true, "fulfillsOnlineOrders": true}
        ], "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncWebhookSubscriptions"))
        .respond_with(ok(json!({"data": {"webhookSubscriptions": {"nodes": [],
            "pageInfo": {"hasNextPage": false, "endCursor": null}}}})))
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("ChannelSyncCreateWebhook"))
        .respond_with(ok(json!({"data": {"webhookSubscriptionCreate": {
            "webhookSubscription": {"id": "gid://shopify/WebhookSubscription/2", "topic": "ORDERS_CREATE", "uri": "x"},
            "userErrors": []}}})))
        .mount(&shopify)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(10)
        .mount(&shopify)
        .await;
    shopify
}

fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_pairs(query)
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// GIVEN a fake Shopify WHEN the merchant connects Shopify from its card THEN the browser goes
/// to the shop's consent screen (Shopify's part, played by the test: it signs the callback as
/// Shopify does) and lands back on the page with the store connected. WHEN the inventory mode
/// and the inventory location are changed and saved THEN they are still there after a
/// reload. Then, with two WooCommerce stores beside it, the page's screenshot is taken (the
/// README's `docs/integrations.png` is a copy of it). Last, an App Store install (no tenant)
/// lands with a claim code that the signed-in page redeems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_install_lands_back_connected_and_its_settings_persist() {
    let _one = ONE_AT_A_TIME.lock().await;
    let shopify = shopify_fake().await;
    let data = tempfile::tempdir().unwrap();
    let token = fake("cs_dev");
    let secret = fake("shpss");
    let api_base = shopify.uri();
    let runner = serve(
        data.path(),
        &token,
        &[
            ("SHOPIFY_CLIENT_ID", "fake-client-id"),
            ("SHOPIFY_CLIENT_SECRET", &secret),
            ("SHOPIFY_API_BASE", &api_base),
        ],
    );
    let browser = Browser::start().await;
    sign_in(&browser, &runner, &token).await;
    browser
        .click("#channels [data-channel=shopify] .connect-oauth")
        .await;
    browser.type_into("#f-shop", SHOP).await;
    browser.click("#connect-form button[type=submit]").await;
    // The consent screen is on the shop's own domain (unreachable from this browser).
    let authorize = until("the consent screen", || async {
        let url = browser.url().await;
        url.starts_with(&format!("https://{SHOP}/admin/oauth/authorize?"))
            .then_some(url)
    })
    .await;
    assert_eq!(
        query_value(&authorize, "client_id").as_deref(),
        Some("fake-client-id")
    );
    let redirect = query_value(&authorize, "redirect_uri").unwrap();
    assert_eq!(redirect, format!("{}/oauth/shopify/callback", runner.base));
    let state = query_value(&authorize, "state").unwrap();
    // Shopify sends the merchant back, signed with the app secret.
    let ts = chrono::Utc::now().timestamp().to_string();
    let params = [
        ("code", "code-ui"),
        ("shop", SHOP),
        ("state", state.as_str()),
        ("timestamp", ts.as_str()),
    ];
    let hmac = shared::channels::shopify::oauth::sign_query(&secret, &params);
    browser
        .goto(&format!(
            "{redirect}?code=code-ui&hmac={hmac}&shop={SHOP}&state={state}&timestamp={ts}"
        ))
        .await;
    browser
        .text_until("#notice", "says connected", |t| {
            t == "Shopify store connected."
        })
        .await;
    let landed = browser.url().await;
    assert_eq!(
        landed,
        format!("{}/integrations", runner.base),
        "the outcome is read, then left out of the address"
    );
    let id = until("the Shopify card", || async {
        browser
            .js(
                "const c = document.querySelector('#connections [data-channel=shopify]'); return c && c.dataset.connection;",
                Value::Null,
            )
            .await
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let card = card(&id);
    assert_eq!(
        browser.text(&format!("{card} .status")).await.as_deref(),
        Some("Active")
    );

    // The subscriptions made at install, from the connection's activity.
    browser
        .text_until(&format!("{card} .facts"), "shows the webhook check", |t| {
            t.contains("Webhooks checked")
                && t.contains("0 in place, ")
                && !t.contains(" 0 created")
        })
        .await;
    assert!(browser
        .text(&format!("{card} .facts"))
        .await
        .unwrap()
        .contains("Not polled yet"));

    // Settings: Live, stock from the 3PL Warehouse, saved in place.
    browser.click(&format!("{card} .settings summary")).await;
    until("the store's locations", || async {
        let n = browser
            .js(
                "return document.querySelectorAll(arguments[0]).length;",
                json!(format!("{card} [name=inventory_location] option")),
            )
            .await;
        (n == json!(3)).then_some(())
    })
    .await;
    let form = format!("{card} .settings-form");
    browser
        .element(&format!("{form} [name=inventory_sync]"))
        .await
        .select_by_value("live")
        .await
        .unwrap();
    browser
        .element(&format!("{form} [name=inventory_location]"))
        .await
        .select_by_value("gid://shopify/Location/2")
        .await
        .unwrap();
    browser.click(&format!("{form} button[type=submit]")).await;
    browser
        .text_until(&format!("{card} .saved"), "says saved", |t| t == "Saved.")
        .await;
    browser.client.refresh().await.unwrap();
    browser.click(&format!("{card} .settings summary")).await;
    let kept = until("the saved settings after a reload", || async {
        let v = browser
            .js(
                "const f = document.querySelector(arguments[0]); return f.elements.inventory_location.options.length === 3 ? [f.elements.inventory_sync.value, f.elements.inventory_location.value] : null;",
                json!(form),
            )
            .await;
        (!v.is_null()).then_some(v)
    })
    .await;
    assert_eq!(kept, json!(["live", "gid://shopify/Location/2"]));
    let stored: Value = reqwest::Client::new()
        .get(format!("{}/api/connections/{id}", runner.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["settings"]["inventory_sync"], "live");
    assert_eq!(
        stored["settings"]["inventory_location"],
        "gid://shopify/Location/2"
    );

    // Three connections for the screenshot.
    let (woo1, woo2) = (
        woo_store("Corner Tees").await,
        woo_store("Hat Factory").await,
    );
    connect_woo(&runner, &token, &woo1).await;
    connect_woo(&runner, &token, &woo2).await;
    browser.client.refresh().await.unwrap();
    until("three connection cards", || async {
        let n = browser
            .js(
                "return document.querySelectorAll('#connections .connection').length;",
                Value::Null,
            )
            .await;
        (n == json!(3)).then_some(())
    })
    .await;
    browser.client.set_window_size(1280, 1400).await.unwrap();
    browser
        .js("window.scrollTo(0, 0); return null;", Value::Null)
        .await;
    let png = browser.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("integrations.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {}", out.display());

    // An App Store install names no tenant: it lands here with a claim code, which the
    // signed-in page redeems for its tenant.
    let ts = chrono::Utc::now().timestamp().to_string();
    let hmac = shared::channels::shopify::oauth::sign_query(
        &secret,
        &[("shop", CLAIM_SHOP), ("timestamp", ts.as_str())],
    );
    browser
        .follow(&format!(
            "{}/oauth/shopify/install?shop={CLAIM_SHOP}&timestamp={ts}&hmac={hmac}",
            runner.base
        ))
        .await;
    let authorize = until("the App Store consent screen", || async {
        let url = browser.url().await;
        url.starts_with(&format!("https://{CLAIM_SHOP}/admin/oauth/authorize?"))
            .then_some(url)
    })
    .await;
    let state = query_value(&authorize, "state").unwrap();
    let params = [
        ("code", "code-claim"),
        ("shop", CLAIM_SHOP),
        ("state", state.as_str()),
        ("timestamp", ts.as_str()),
    ];
    let hmac = shared::channels::shopify::oauth::sign_query(&secret, &params);
    browser
        .goto(&format!(
            "{redirect}?code=code-claim&hmac={hmac}&shop={CLAIM_SHOP}&state={state}&timestamp={ts}"
        ))
        .await;
    browser
        .text_until("#notice", "says the claimed store is connected", |t| {
            t == "Shopify store connected."
        })
        .await;
    until("the claimed store's card", || async {
        let shops = browser
            .js(
                "return [...document.querySelectorAll('#connections .shop')].map(e => e.textContent).join(' ');",
                Value::Null,
            )
            .await;
        shops.as_str().unwrap_or("").contains(CLAIM_SHOP).then_some(())
    })
    .await;
    browser.client.clone().close().await.unwrap();
}
