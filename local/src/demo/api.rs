//! The demo's client of its own `serve` (as a merchant's dashboard and the WMS use it), and the connecting of the seven stores.

use super::*;

/// A small HTTP client of the demo's own `serve`, as a merchant's dashboard and the WMS use it.
pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) token: String,
}

impl Api {
    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!(
                "{method} {path}: {status}: {}",
                body["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(body)
    }

    pub(super) async fn get(&self, path: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {path}: {status}"));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {path}: {e}"))
    }

    pub(super) async fn wms(&self, message: Value) -> Result<(), String> {
        self.send(reqwest::Method::POST, "/wms/events", message)
            .await
            .map(|_| ())
    }

    /// Posts a store's webhook delivery (its own headers and signature).
    pub(super) async fn deliver(
        &self,
        path: &str,
        (headers, body): (Vec<(&'static str, String)>, Vec<u8>),
    ) -> Result<(), String> {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("POST {path}: {}", response.status()));
        }
        Ok(())
    }
}

/// The connection ids of the seven stores.
pub(super) struct Connections {
    pub(super) shopify: String,
    pub(super) woo: String,
    pub(super) magento: String,
    pub(super) tiktok: String,
    pub(super) etsy: String,
    pub(super) ebay: String,
    pub(super) veeqo: String,
}

/// The value of `name` in `url`'s query.
pub(super) fn query_value(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Api {
    /// Installs `channel` by its OAuth flow as a merchant does: the dashboard's start, then the
    /// channel's redirect back to our callback with `code` (the consent screen itself is the
    /// fake's part: it gives the code). Returns the new connection's id.
    pub(super) async fn install(
        &self,
        channel: &str,
        start: Value,
        code: &str,
    ) -> Result<String, String> {
        let started = self
            .send(
                reqwest::Method::POST,
                &format!("/api/oauth/{channel}/start"),
                start,
            )
            .await?;
        let url = started["authorize_url"].as_str().unwrap_or_default();
        let state = query_value(url, "state")
            .ok_or_else(|| format!("{channel}: the authorize URL has no state: {url}"))?;
        let callback = reqwest::Url::parse_with_params(
            &format!("{}/oauth/{channel}/callback", self.base),
            &[("code", code), ("state", state.as_str())],
        )
        .map_err(|e| format!("{channel} callback: {e}"))?;
        let back = self
            .http
            .get(callback)
            .send()
            .await
            .map_err(|e| format!("{channel} callback: {e}"))?;
        let landed = back
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        match query_value(&landed, channel).as_deref() {
            Some("connected") => query_value(&landed, "connection")
                .ok_or_else(|| format!("{channel}: no connection in {landed}")),
            _ => Err(format!(
                "{channel} install did not connect ({}): {landed}",
                back.status()
            )),
        }
    }
}

pub(super) async fn connect(api: &Api, stores: &Stores) -> Result<Connections, String> {
    let post = |body: Value| api.send(reqwest::Method::POST, "/api/connections", body);
    let id = |v: Value| {
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or("no connection id")
    };
    let shopify = id(post(json!({"channel": "shopify", "shop_domain": SHOP,
        "access_token": SHOPIFY_TOKEN}))
    .await?)?;
    let woo = id(post(
        json!({"channel": "woocommerce", "store_url": stores.woo.uri(),
        "consumer_key": "ck_demo_fake", "consumer_secret": "cs_demo_fake"}),
    )
    .await?)?;
    let magento = id(post(
        json!({"channel": "magento", "store_url": stores.magento.uri(),
        "consumer_key": "demo_fake_ck", "consumer_secret": "demo_fake_cs",
        "access_token": "demo_fake_at", "access_token_secret": "demo_fake_ats",
        "settings": {"inventory_location": "dublin"}}),
    )
    .await?)?;
    let tiktok = api
        .install("tiktok", json!({"market": "us"}), "demo_fake_code")
        .await?;
    let etsy = api.install("etsy", json!({}), "demo_fake_code").await?;
    let ebay = api
        .install("ebay", json!({"marketplace": "EBAY_GB"}), "demo_fake_code")
        .await?;
    let veeqo = id(post(json!({"channel": "veeqo", "api_key": VEEQO_KEY})).await?)?;
    for (connection, settings) in [
        (
            &shopify,
            json!({"fulfilment_location": shopify::LOCATION,
                "inventory_location": shopify::LOCATION, "inventory_sync": "live"}),
        ),
        (&woo, json!({"inventory_sync": "live"})),
        (&magento, json!({"inventory_sync": "live"})),
        (
            &tiktok,
            json!({"inventory_location": "W1", "inventory_sync": "live"}),
        ),
        (&etsy, json!({"inventory_sync": "live"})),
        (&ebay, json!({"inventory_sync": "live"})),
        (
            &veeqo,
            json!({"inventory_location": VEEQO_WAREHOUSE.to_string(), "inventory_sync": "live"}),
        ),
    ] {
        api.send(
            reqwest::Method::PATCH,
            &format!("/api/connections/{connection}"),
            json!({ "settings": settings }),
        )
        .await?;
    }
    Ok(Connections {
        shopify,
        woo,
        magento,
        tiktok,
        etsy,
        ebay,
        veeqo,
    })
}
