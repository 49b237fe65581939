//! The carrier name sent with tracking (§3.4), read from Etsy's own list for the shop's origin
//! country: `GET /shops/{shop_id}` → `shipping_from_country_iso`, then
//! `GET /shipping-carriers?origin_country_iso=XX` → `results[]{shipping_carrier_id, name, …}`.
//! Both are kept in memory for an hour (per shop, per country), so a burst of shipments costs
//! one read of each. A failed read never blocks the tracking: the fixed map
//! ([`carrier_name`]) answers instead, the failure is logged once and remembered
//! for a few minutes so the burst does not ask again.

use crate::channels::ClientError;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a read shop country or carrier list is used.
pub const FRESH: Duration = Duration::from_secs(60 * 60);
/// How long a failed read is remembered (the fixed map answers meanwhile).
pub const FAILED_FOR: Duration = Duration::from_secs(5 * 60);
/// Bounds on what Etsy's answer may hold (a list is a few dozen carriers).
const MAX_CARRIERS: usize = 1_000;
const MAX_NAME: usize = 100;

/// A read value, or the memory of a failed read, with when it happened.
#[derive(Clone)]
struct Stamped<T> {
    at: Instant,
    value: Option<T>,
}

impl<T: Clone> Stamped<T> {
    /// The entry while it is still usable at `now`: `Some(Some(v))` read, `Some(None)` failed.
    fn usable(&self, now: Instant) -> Option<Option<T>> {
        let ttl = if self.value.is_some() {
            FRESH
        } else {
            FAILED_FOR
        };
        (now.saturating_duration_since(self.at) < ttl).then(|| self.value.clone())
    }
}

#[derive(Default)]
struct Book {
    countries: HashMap<u64, Stamped<String>>,
    lists: HashMap<String, Stamped<Arc<Vec<String>>>>,
}

/// One per adapter (shared by its connections): shop countries and carrier lists.
#[derive(Default)]
pub struct Carriers {
    // Held across the reads so concurrent shipments wait for one read instead of each asking.
    book: tokio::sync::Mutex<Book>,
}

/// Lower-case letters and digits only: "Royal Mail" ~ "royal-mail" ~ "ROYAL_MAIL".
fn key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The carrier of `list` the WMS's `wms` names: the same name (see [`key`]), else the name
/// the fixed map gives it (an alias such as "United Parcel Service" → `ups`), else `other`.
pub fn match_carrier(list: &[String], wms: &str) -> String {
    let wanted = key(wms);
    if wanted.is_empty() {
        return "other".into();
    }
    let find = |k: &str| list.iter().find(|name| key(name) == k).cloned();
    if let Some(name) = find(&wanted) {
        return name;
    }
    match carrier_name(wms) {
        "other" => "other".into(),
        alias => find(&key(alias)).unwrap_or_else(|| "other".into()),
    }
}

/// A shop's `shipping_from_country_iso`: two ASCII letters, upper-cased.
fn country_of(shop: &Value) -> Result<String, ClientError> {
    shop.get("shipping_from_country_iso")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| ClientError::BadResponse("the Etsy shop has no shipping country".into()))
}

/// The carriers' names of a `getShippingCarriers` answer.
fn names_of(body: &Value) -> Result<Vec<String>, ClientError> {
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| ClientError::BadResponse("an Etsy carrier list without results".into()))?;
    Ok(results
        .iter()
        .take(MAX_CARRIERS)
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= MAX_NAME)
        .map(str::to_owned)
        .collect())
}

/// How the carrier book reads Etsy (the connection's authorised client).
#[async_trait]
pub trait EtsyGet: Send + Sync {
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError>;
}

/// The fallback when Etsy's carrier list cannot be read ([`super::carriers`]): what the WMS
/// calls a carrier, as Etsy spells it (lower-case slugs as in the reference's
/// `"carrier_name": "usps"`); `other` for anything else, so the tracking code is still sent
/// (US orders over $10 need both). The slugs beyond `usps`/`ups`/`fedex`/`dhl` are
/// unconfirmed [U]. The carrier matcher also uses it for aliases ("United Parcel Service").
pub fn carrier_name(wms: &str) -> &'static str {
    let key: String = wms
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "usps" | "unitedstatespostalservice" => "usps",
        "ups" | "unitedparcelservice" => "ups",
        "fedex" | "federalexpress" => "fedex",
        "dhl" | "dhlexpress" => "dhl",
        "dhlecommerce" | "dhlglobalmail" => "dhl-global-mail",
        "royalmail" => "royal-mail",
        "parcelforce" | "parcelforceworldwide" => "parcelforce",
        "canadapost" => "canada-post",
        "australiapost" => "australia-post",
        "dpd" => "dpd",
        "dpduk" => "dpd-uk",
        "evri" | "hermes" | "hermesuk" => "hermes-uk",
        "gls" => "gls",
        "laposte" | "colissimo" => "colissimo",
        "deutschepost" => "deutsche-post",
        "postnl" => "postnl",
        "ontrac" => "ontrac",
        "purolator" => "purolator",
        "chronopost" => "chronopost",
        _ => "other",
    }
}

impl Carriers {
    /// Etsy's name for the WMS's carrier `wms`, for the shop `shop_id`. Never fails and never
    /// blank: Etsy's list when it can be read, the fixed map when it cannot.
    pub async fn name_for(&self, api: &dyn EtsyGet, shop_id: u64, wms: &str) -> String {
        match self.list(api, shop_id, Instant::now()).await {
            Some(list) => match_carrier(&list, wms),
            None => carrier_name(wms).to_owned(),
        }
    }

    /// The carrier list of the shop's country, read at most once an hour (`None`: unreadable).
    async fn list(
        &self,
        api: &dyn EtsyGet,
        shop_id: u64,
        now: Instant,
    ) -> Option<Arc<Vec<String>>> {
        let mut book = self.book.lock().await;
        let country = match book.countries.get(&shop_id).and_then(|s| s.usable(now)) {
            Some(known) => known?,
            None => {
                let read = api
                    .get(&format!("/shops/{shop_id}"), &[])
                    .await
                    .and_then(|shop| country_of(&shop));
                let value = read
                    .map_err(|e| {
                        tracing::warn!(
                            shop = shop_id,
                            error = %e,
                            "the Etsy shop's country could not be read: carriers from the fixed map"
                        );
                    })
                    .ok();
                book.countries.insert(
                    shop_id,
                    Stamped {
                        at: now,
                        value: value.clone(),
                    },
                );
                value?
            }
        };
        if let Some(known) = book.lists.get(&country).and_then(|s| s.usable(now)) {
            return known;
        }
        let query = [("origin_country_iso", country.clone())];
        let value = api
            .get("/shipping-carriers", &query)
            .await
            .and_then(|body| names_of(&body))
            .map(Arc::new)
            .map_err(|e| {
                tracing::warn!(
                    country = %country,
                    error = %e,
                    "Etsy's carrier list could not be read: carriers from the fixed map"
                );
            })
            .ok();
        book.lists.insert(
            country,
            Stamped {
                at: now,
                value: value.clone(),
            },
        );
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<String> {
        ["USPS", "UPS", "FedEx", "Royal Mail", "DHL Express"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn names_match_ignoring_case_punctuation_and_spaces() {
        assert_eq!(match_carrier(&list(), "royal-mail"), "Royal Mail");
        assert_eq!(match_carrier(&list(), "FEDEX"), "FedEx");
        assert_eq!(match_carrier(&list(), "dhl_express"), "DHL Express");
        // An alias of the fixed map finds the list's spelling.
        assert_eq!(match_carrier(&list(), "United Parcel Service"), "UPS");
        assert_eq!(match_carrier(&list(), "Acme Couriers"), "other");
        assert_eq!(match_carrier(&list(), " - "), "other");
        // Known to the fixed map but not in this country's list.
        assert_eq!(match_carrier(&list(), "Canada Post"), "other");
    }

    #[test]
    fn entries_last_an_hour_and_failures_a_few_minutes() {
        let at = Instant::now();
        let read = Stamped { at, value: Some(1) };
        assert_eq!(
            read.usable(at + FRESH - Duration::from_secs(1)),
            Some(Some(1))
        );
        assert_eq!(read.usable(at + FRESH), None);
        let failed: Stamped<i32> = Stamped { at, value: None };
        assert_eq!(failed.usable(at + Duration::from_secs(1)), Some(None));
        assert_eq!(failed.usable(at + FAILED_FOR), None);
    }

    #[test]
    fn answers_are_checked() {
        assert_eq!(
            country_of(&serde_json::json!({"shipping_from_country_iso": "gb"})).unwrap(),
            "GB"
        );
        assert!(country_of(&serde_json::json!({"shipping_from_country_iso": "GBR"})).is_err());
        assert!(country_of(&serde_json::json!({})).is_err());
        assert!(names_of(&serde_json::json!({"error": "x"})).is_err());
        let body = serde_json::json!({"count": 2, "results": [
            {"shipping_carrier_id": 1, "name": "USPS", "domestic_classes": [], "international_classes": []},
            {"shipping_carrier_id": 2, "name": 7}
        ]});
        assert_eq!(names_of(&body).unwrap(), ["USPS"]);
    }
}
