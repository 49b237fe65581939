//! What a wiremock TikTok Shop needs, shared by TikTok's tests and its contract fake: the
//! signature check every request must pass, TikTok's answer envelopes, the fake shop's cipher
//! and token.

use super::sign::sign_request;
use crate::channels::context::AppCredentials;
use crate::ports::Secret;
use serde_json::{json, Value};
use wiremock::{Match, Request, ResponseTemplate};

/// The fake app's key and secret (the fakes check signatures with them).
pub(crate) const APP_KEY: &str = "fake_app_key";
pub(crate) const SECRET: &str = "fake_app_secret";

/// The fake app, its API at `api_base` (the test registry's TikTok app).
pub(crate) fn test_app(api_base: Option<String>) -> AppCredentials {
    AppCredentials {
        client_id: APP_KEY.into(),
        secrets: vec![Secret::new(SECRET)],
        api_base,
    }
}

pub(crate) const CIPHER: &str = "ROW_fake_cipher";
pub(crate) const TOKEN: &str = "fake_access_token";

/// A request signed as TikTok checks it: `sign` is the HMAC of its own path, query and body
/// bytes with our app secret; `app_key`, a 10-digit `timestamp` and the access token header.
pub(crate) struct Signed {
    pub token: &'static str,
}

impl Match for Signed {
    fn matches(&self, r: &Request) -> bool {
        let pairs: Vec<(String, String)> = r
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let Some(sign) = get("sign") else {
            return false;
        };
        sign == sign_request(SECRET, r.url.path(), &pairs, &r.body)
            && get("app_key") == Some(APP_KEY)
            && get("timestamp")
                .is_some_and(|t| t.len() == 10 && t.bytes().all(|b| b.is_ascii_digit()))
            && get("access_token").is_none()
            && r.headers
                .get("x-tts-access-token")
                .is_some_and(|v| v.as_bytes() == self.token.as_bytes())
    }
}

pub(crate) fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"code": 0, "message": "Success", "request_id": "r1", "data": data}))
}

pub(crate) fn refused(code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"code": code, "message": message, "request_id": "r1"}))
}

/// A request without query parameter `.0`.
pub(crate) struct NotParam(pub &'static str);

impl Match for NotParam {
    fn matches(&self, r: &Request) -> bool {
        !r.url.query_pairs().any(|(k, _)| k == self.0)
    }
}
