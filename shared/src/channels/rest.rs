//! JSON over HTTP for the self-hosted REST channels (WooCommerce, Magento): one place that
//! turns what a merchant's server can answer — JSON, an HTML error page, a WAF challenge, a
//! redirect, a timeout — into a [`Reply`] or a classified [`ClientError`].

use super::ClientError;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

/// Largest body read from a store, per answer. Every listing we read is a page of at most
/// 100 objects (WooCommerce `per_page=100`, its maximum; Magento `pageSize=100`): a
/// WooCommerce order is ~3–10 KB of JSON (up to ~30 KB with plugin `meta_data`), a product
/// with its HTML description a few KB to ~20 KB, a variation ~2–4 KB, and a Magento order
/// with its items repeated under `extension_attributes.shipping_assignments` ~10–30 KB. So a
/// page is well under 3 MB even for heavy stores; 4 MiB leaves headroom without letting one
/// store's answer take a Lambda's memory (256 MB, shared by every connection the scheduler
/// polls in one invocation).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Most JSON values (scalars, arrays and objects, at any depth) one answer may hold. Parsed
/// into a `serde_json::Value`, each costs ~32–100 bytes however few bytes it took on the
/// wire (`[0,0,…]`: 2 bytes each), so the byte cap alone does not bound memory. A page of
/// 100 Magento orders with 50 items each is ~300,000 values; 500,000 bounds one answer to
/// roughly 50 MB in the worst case.
pub const MAX_VALUES: usize = 500_000;

/// A JSON answer: 2xx, or a 4xx whose body is JSON (the channel explains what is wrong).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The body of a 2xx; the classified error otherwise: 401 and JSON 403 →
    /// [`ClientError::Unauthorized`], 404 → [`ClientError::NotFound`], other 4xx →
    /// [`ClientError::BadResponse`] with the channel's message.
    pub fn ok(self) -> Result<Value, ClientError> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        Err(match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ClientError::Unauthorized,
            StatusCode::NOT_FOUND => ClientError::NotFound,
            status => ClientError::BadResponse(format!("{status}: {}", self.message())),
        })
    }

    /// The channel's error text: WooCommerce/WordPress `{code, message}`, Magento
    /// `{message, parameters}` (with `%1`-style placeholders filled in).
    pub fn message(&self) -> String {
        // Bounded before anything is substituted: a hostile store must not make us build a
        // huge string (at most 300 characters of template, 10 parameters of 200).
        let mut message: String = self
            .body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        let text = |p: &Value| -> String {
            p.as_str()
                .map_or_else(|| p.to_string(), str::to_owned)
                .chars()
                .take(200)
                .collect()
        };
        match self.body.get("parameters") {
            Some(Value::Array(params)) => {
                for (i, p) in params.iter().take(10).enumerate() {
                    message = message.replacen(&format!("%{}", i + 1), &text(p), 3);
                }
            }
            Some(Value::Object(params)) => {
                for (k, p) in params.iter().take(10) {
                    let key: String = k.chars().take(50).collect();
                    message = message.replacen(&format!("%{key}"), &text(p), 3);
                }
            }
            _ => {}
        }
        let code = self.code();
        let message: String = message.chars().take(600).collect();
        match (code, message.is_empty()) {
            (Some(code), false) => format!("{code}: {message}"),
            (Some(code), true) => code.to_owned(),
            (None, false) => message,
            (None, true) => snippet(&self.body.to_string()),
        }
    }

    /// WooCommerce/WordPress error `code` (`woocommerce_rest_cannot_create`, `rest_no_route`).
    pub fn code(&self) -> Option<&str> {
        self.body
            .get("code")
            .and_then(Value::as_str)
            .map(|c| c.get(..c.len().min(100)).unwrap_or(""))
    }
}

/// Sends `request` and reads a JSON answer. Errors: timeouts and connection failures →
/// [`ClientError::Unavailable`]; 429 and 503 with `Retry-After` → [`ClientError::Throttled`];
/// other 5xx → `Unavailable`; 401 → `Unauthorized`; a 403 that is not JSON (a firewall's
/// page) → `BadResponse`; a redirect → `BadResponse` naming where (store clients never
/// follow redirects); a body that is not JSON (an HTML page, a maintenance page, a PHP
/// warning before the JSON) → `BadResponse` saying so.
pub async fn call(request: reqwest::RequestBuilder) -> Result<Reply, ClientError> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE && headers.contains_key("retry-after"))
    {
        return Err(ClientError::Throttled {
            retry_after_secs: retry_after(&headers),
        });
    }
    if status.is_redirection() {
        let to = headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Err(ClientError::BadResponse(format!(
            "the store redirected ({status}) to {}: check the store URL (https, www, path)",
            snippet(to)
        )));
    }
    let bytes = read_limited(response).await?;
    if status.is_server_error() {
        return Err(ClientError::Unavailable(format!(
            "the store answered {status}: {}",
            snippet(&String::from_utf8_lossy(&bytes))
        )));
    }
    // A 2xx with an empty body (some void endpoints) is an empty answer, not an error.
    if status.is_success() && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Reply {
            status,
            headers,
            body: Value::Null,
        });
    }
    let parsed = parse_bounded(&bytes, MAX_VALUES);
    match parsed {
        Ok(body) => Ok(Reply {
            status,
            headers,
            body,
        }),
        Err(_) if status == StatusCode::UNAUTHORIZED => Err(ClientError::Unauthorized),
        Err(Parse::TooMany) => Err(ClientError::BadResponse(format!(
            "the store's answer holds too many JSON values (more than {MAX_VALUES}): refused"
        ))),
        Err(_) => {
            let text = String::from_utf8_lossy(&bytes);
            let looks_html = text.trim_start().starts_with('<')
                || headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("html"));
            Err(ClientError::BadResponse(if looks_html {
                format!(
                    "the store answered {status} with an HTML page instead of JSON (is this the right store URL, and is its REST API reachable?): {}",
                    snippet(&text)
                )
            } else {
                format!(
                    "the store answered {status} with something that is not JSON: {}",
                    snippet(&text)
                )
            }))
        }
    }
}

/// Why [`parse_bounded`] refused a body.
#[derive(Debug, PartialEq)]
enum Parse {
    /// Not JSON.
    Invalid,
    /// More values than allowed.
    TooMany,
}

/// Parses `bytes` into a [`Value`], refusing — as soon as it is seen, before the rest is
/// built — a document of more than `max_values` values.
fn parse_bounded(bytes: &[u8], max_values: usize) -> Result<Value, Parse> {
    use serde::de::DeserializeSeed;
    let budget = std::cell::Cell::new(max_values);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Bounded { budget: &budget }.deserialize(&mut de);
    match value {
        Ok(value) => de.end().map(|()| value).map_err(|_| Parse::Invalid),
        Err(_) if budget.get() == 0 => Err(Parse::TooMany),
        Err(_) => Err(Parse::Invalid),
    }
}

/// A [`Value`] deserializer that spends one unit of `budget` per value.
#[derive(Clone, Copy)]
struct Bounded<'b> {
    budget: &'b std::cell::Cell<usize>,
}

impl Bounded<'_> {
    fn spend<E: serde::de::Error>(&self) -> Result<(), E> {
        match self.budget.get() {
            0 => Err(E::custom("too many values")),
            n => {
                self.budget.set(n - 1);
                Ok(())
            }
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.spend()?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    let too_large = || {
        ClientError::BadResponse(format!(
            "the store's answer is larger than {} MiB (a page of 100 objects is normally under 3 MB): refused",
            MAX_BODY / (1024 * 1024)
        ))
    };
    // A declared length over the cap is refused before reading anything.
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn transport(e: reqwest::Error) -> ClientError {
    if e.is_timeout() {
        ClientError::Unavailable("the store did not answer in time".into())
    } else if e.is_connect() {
        ClientError::Unavailable(format!("could not connect to the store: {}", root(&e)))
    } else {
        ClientError::Unavailable(format!("request to the store failed: {}", root(&e)))
    }
}

/// The innermost cause (DNS refusals of the guarded resolver read better than reqwest's
/// wrapper text). The URL is not included: it may carry query credentials.
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// `Retry-After` in seconds (the HTTP-date form is rare on stores and read as unknown).
pub fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The first 200 characters, on one line.
pub fn snippet(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn reply(template: ResponseTemplate) -> Result<Reply, ClientError> {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(template)
            .mount(&server)
            .await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        call(client.get(server.uri())).await
    }

    fn summary(answer: &Result<Reply, ClientError>) -> String {
        match answer {
            Ok(reply) => format!("accepted: {}", snippet(&reply.body.to_string())),
            Err(e) => e.to_string(),
        }
    }

    /// Issue 15, item 2: a body within the size cap that would expand enormously as a
    /// `serde_json::Value` (2 bytes per element, 32+ bytes per parsed value) is refused with
    /// a clear error, as is one over the cap.
    #[tokio::test]
    async fn a_value_bomb_within_the_size_cap_is_refused() {
        let bomb = format!("[{}0]", "0,".repeat(1_500_000));
        assert!(bomb.len() < 4 * 1024 * 1024);
        let answer = reply(ResponseTemplate::new(200).set_body_raw(bomb, "application/json")).await;
        assert!(
            matches!(&answer, Err(ClientError::BadResponse(m)) if m.contains("too many")),
            "{}",
            summary(&answer)
        );
        let nested = format!("[{{\"a\": [{}0]}}]", "0,".repeat(1_500_000));
        let answer =
            reply(ResponseTemplate::new(200).set_body_raw(nested, "application/json")).await;
        assert!(
            matches!(&answer, Err(ClientError::BadResponse(m)) if m.contains("too many")),
            "{}",
            summary(&answer)
        );
        let over = "x".repeat(MAX_BODY + 1);
        let answer = reply(ResponseTemplate::new(200).set_body_raw(over, "application/json")).await;
        assert!(
            matches!(&answer, Err(ClientError::BadResponse(m)) if m.contains("larger than")),
            "{}",
            summary(&answer)
        );
    }

    #[tokio::test]
    async fn every_kind_of_answer_is_classified() {
        let ok = reply(ResponseTemplate::new(200).set_body_json(serde_json::json!({"a": 1})))
            .await
            .unwrap();
        assert_eq!(ok.ok().unwrap()["a"], 1);

        let html = reply(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string("<!DOCTYPE html><html>Maintenance</html>"),
        )
        .await;
        assert!(
            matches!(&html, Err(ClientError::BadResponse(m)) if m.contains("HTML page instead of JSON") && m.contains("Maintenance")),
            "{html:?}"
        );
        let empty = reply(ResponseTemplate::new(204)).await.unwrap();
        assert_eq!(empty.body, serde_json::Value::Null);
        let php = reply(ResponseTemplate::new(200).set_body_string("Warning: x {\"a\":1}")).await;
        assert!(matches!(php, Err(ClientError::BadResponse(m)) if m.contains("not JSON")));

        assert!(matches!(
            reply(ResponseTemplate::new(401).set_body_string("<html>no</html>")).await,
            Err(ClientError::Unauthorized)
        ));
        let json_403 = reply(
            ResponseTemplate::new(403)
                .set_body_json(serde_json::json!({"code": "x", "message": "revoked"})),
        )
        .await
        .unwrap();
        assert!(matches!(json_403.ok(), Err(ClientError::Unauthorized)));
        assert!(matches!(
            reply(ResponseTemplate::new(403).set_body_string("<html>Cloudflare</html>")).await,
            Err(ClientError::BadResponse(m)) if m.contains("HTML")
        ));
        assert!(matches!(
            reply(ResponseTemplate::new(429).insert_header("retry-after", "7")).await,
            Err(ClientError::Throttled {
                retry_after_secs: Some(7)
            })
        ));
        assert!(matches!(
            reply(ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>")).await,
            Err(ClientError::Unavailable(m)) if m.contains("502")
        ));
        assert!(matches!(
            reply(ResponseTemplate::new(301).insert_header("location", "https://www.shop.example/")).await,
            Err(ClientError::BadResponse(m)) if m.contains("https://www.shop.example/")
        ));
        assert!(matches!(
            reply(ResponseTemplate::new(200).set_delay(Duration::from_secs(3))).await,
            Err(ClientError::Unavailable(m)) if m.contains("in time")
        ));
        let magento = reply(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"message": "The \"%1\" value is invalid.", "parameters": ["qty"]}),
        ))
        .await
        .unwrap();
        assert_eq!(magento.message(), "The \"qty\" value is invalid.");
        // A hostile message stays small whatever its parameters.
        let hostile = Reply {
            status: StatusCode::BAD_REQUEST,
            headers: HeaderMap::new(),
            body: serde_json::json!({"message": "%1".repeat(100_000), "parameters": ["x".repeat(1_000_000)]}),
        };
        assert!(hostile.message().len() <= 1000);
        assert!(
            matches!(magento.ok(), Err(ClientError::BadResponse(m)) if m.contains("400") && m.contains("qty"))
        );
    }
}
