//! `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body with the app's client secret —
//! our public app's, or, for a store connected with a custom app's token, that custom app's
//! API secret key (kept with the connection's credentials).

use super::oauth::ShopifyCredentials;
use crate::channels::body_hmac::{self, single_header as header, HmacSha256};
use crate::channels::connection_secrets::ConnectionSecrets;
use crate::channels::{Delivery, WebhookRejection, WebhookVerifier};
use crate::domain::{Channel, Connection, ShopDomain, Topic};
use crate::ports::{Connections, Secret, Vault};
use hmac::KeyInit;
use http::HeaderMap;
use std::fmt;
use std::sync::Arc;

const SIGNATURE: &str = "x-shopify-hmac-sha256";
const SHOP: &str = "x-shopify-shop-domain";
const TOPIC: &str = "x-shopify-topic";
const WEBHOOK_ID: &str = "x-shopify-webhook-id";
const EVENT_ID: &str = "x-shopify-event-id";
const TRIGGERED_AT: &str = "x-shopify-triggered-at";

/// Verifies Shopify webhooks against the current and, during a rotation, the previous
/// client secret of our app. Keys are prepared once; `Debug` shows only how many there are.
/// With [`ShopifyVerifier::with_custom_apps`], a delivery our app did not sign is tried
/// against the custom-app secret of the shop the headers name — that shop's only, never
/// another connection's.
#[derive(Clone)]
pub struct ShopifyVerifier {
    keys: Vec<HmacSha256>,
    custom: Option<Arc<CustomApps>>,
}

/// Where custom apps' secrets are found: the shop's connection, then its credentials.
struct CustomApps {
    connections: Arc<dyn Connections>,
    secrets: ConnectionSecrets,
}

fn custom_app_secrets(stored: &Secret) -> Result<Vec<String>, String> {
    ShopifyCredentials::from_secret(stored)
        .map(|c| c.webhook_secrets())
        .ok_or_else(|| "unreadable Shopify credentials".to_owned())
}

impl fmt::Debug for ShopifyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShopifyVerifier({} secret(s))", self.keys.len())
    }
}

impl ShopifyVerifier {
    /// A verifier accepting any of `secrets` (current first). Empty secrets are skipped.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let keys = secrets
            .into_iter()
            .filter(|s| !s.expose().is_empty())
            .filter_map(|s| HmacSha256::new_from_slice(s.expose().as_bytes()).ok())
            .collect();
        Self { keys, custom: None }
    }

    /// Also accepts deliveries signed with the custom-app secret stored for the shop.
    pub fn with_custom_apps(
        mut self,
        connections: Arc<dyn Connections>,
        vault: Arc<dyn Vault>,
    ) -> Self {
        self.custom = Some(Arc::new(CustomApps {
            connections,
            secrets: ConnectionSecrets::new(
                vault,
                custom_app_secrets,
                "webhooks off: add the custom app's API secret key to this connection",
            ),
        }));
        self
    }

    /// Whether any secret is configured; without one every webhook is refused.
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Checks a base64 signature over `body` in constant time against every key.
    pub fn verify(&self, body: &[u8], signature_b64: &str) -> Result<(), WebhookRejection> {
        body_hmac::verify_any(&self.keys, body, signature_b64)
    }
}

/// Signs `body` as Shopify does: for tests, sample events and the local fake store.
pub fn sign(secret: &str, body: &[u8]) -> String {
    body_hmac::sign(secret, body)
}

#[async_trait::async_trait]
impl WebhookVerifier for ShopifyVerifier {
    fn channel(&self) -> Channel {
        Channel::Shopify
    }

    /// Custom-app stores sign with their own secret, deleted with the credentials at a
    /// disconnect.
    fn unverified_shop(&self, headers: &HeaderMap) -> Option<String> {
        read_delivery(headers).ok().map(|d| d.shop)
    }

    /// Our app's secret first (the connection is found afterwards, by the shop the headers
    /// name). Failing that, the custom-app secret stored for that shop's connection.
    async fn authenticate(
        &self,
        _connection: Option<&Connection>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        match (self.verify_delivery(headers, body), &self.custom) {
            (Err(WebhookRejection::BadSignature), Some(custom)) => {
                custom.verify(headers, body).await
            }
            (outcome, _) => outcome,
        }
    }
}

impl CustomApps {
    async fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, WebhookRejection> {
        let delivery = read_delivery(headers)?;
        let connection = self
            .connections
            .find_by_shop(Channel::Shopify, &delivery.shop)
            .await
            .map_err(|e| WebhookRejection::Unavailable(e.to_string()))?
            .ok_or(WebhookRejection::BadSignature)?;
        let signature = signature(headers)?;
        self.secrets
            .verify(&connection, |secrets| {
                let keys: Vec<_> = secrets.iter().map(|s| body_hmac::key(s)).collect();
                body_hmac::verify_any(&keys, body, signature)
            })
            .await
            .map_err(|e| match e {
                // Without a key of its own, the shop's delivery simply is not ours to accept.
                WebhookRejection::NoSecret(_) => WebhookRejection::BadSignature,
                other => other,
            })?;
        Ok(delivery)
    }
}

fn signature(headers: &HeaderMap) -> Result<&str, WebhookRejection> {
    header(headers, SIGNATURE)?
        .filter(|s| !s.is_empty())
        .ok_or(WebhookRejection::MissingSignature)
}

impl ShopifyVerifier {
    /// Verifies the signature over the exact `body` bytes and reads the routing headers
    /// (synchronous: the app's secrets are in memory).
    pub fn verify_delivery(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        self.verify(body, signature(headers)?)?;
        read_delivery(headers)
    }
}

/// The routing headers of a delivery (shop, topic, delivery id), checked.
fn read_delivery(headers: &HeaderMap) -> Result<Delivery, WebhookRejection> {
    let shop = header(headers, SHOP)?.ok_or(WebhookRejection::MissingHeader(SHOP))?;
    let shop = ShopDomain::parse(shop)
        .map_err(|e| WebhookRejection::InvalidHeader(SHOP, e.to_string()))?;
    let topic = header(headers, TOPIC)?
        .filter(|t| !t.is_empty())
        .ok_or(WebhookRejection::MissingHeader(TOPIC))?;
    let topic =
        Topic::parse(topic).map_err(|e| WebhookRejection::InvalidHeader(TOPIC, e.to_string()))?;
    // Newer docs dedupe on the webhook id, older ones on the event id: prefer the first.
    let delivery_id = match header(headers, WEBHOOK_ID)?.filter(|s| !s.is_empty()) {
        Some(id) => id,
        None => header(headers, EVENT_ID)?
            .filter(|s| !s.is_empty())
            .ok_or(WebhookRejection::MissingHeader(WEBHOOK_ID))?,
    };
    if delivery_id.len() > 256 {
        return Err(WebhookRejection::InvalidHeader(
            WEBHOOK_ID,
            "too long".into(),
        ));
    }
    Ok(Delivery {
        shop: shop.as_str().to_owned(),
        topic,
        delivery_id: delivery_id.to_owned(),
        triggered_at: header(headers, TRIGGERED_AT)?.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_BODY: &[u8] = br##"{"id":820982911946154508,"name":"#9999"}"##;
    const VECTOR_SIG: &str = "YBwnJ9vsibq7srObgXybmGHWuwos+jDEL//7749XS78=";

    fn verifier(secrets: &[&str]) -> ShopifyVerifier {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        ShopifyVerifier::new(&secrets)
    }

    fn headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-Shopify-Hmac-Sha256", sig.parse().unwrap());
        h.insert(
            "X-Shopify-Shop-Domain",
            "demo.myshopify.com".parse().unwrap(),
        );
        h.insert("X-Shopify-Topic", "orders/create".parse().unwrap());
        h.insert("X-Shopify-Webhook-Id", "wh-1".parse().unwrap());
        h
    }

    #[test]
    fn reference_vector_verifies() {
        assert_eq!(sign("hush", VECTOR_BODY), VECTOR_SIG);
        assert!(verifier(&["hush"]).verify(VECTOR_BODY, VECTOR_SIG).is_ok());
    }

    #[test]
    fn trailing_newline_and_reserialised_json_fail() {
        let v = verifier(&["hush"]);
        let mut with_newline = VECTOR_BODY.to_vec();
        with_newline.push(b'\n');
        assert_eq!(
            v.verify(&with_newline, VECTOR_SIG),
            Err(WebhookRejection::BadSignature)
        );
        let value: serde_json::Value = serde_json::from_slice(VECTOR_BODY).unwrap();
        let reserialised = serde_json::to_vec_pretty(&value).unwrap();
        assert_eq!(
            v.verify(&reserialised, VECTOR_SIG),
            Err(WebhookRejection::BadSignature)
        );
    }

    #[test]
    fn escaped_unicode_is_verified_over_the_exact_bytes() {
        let body = br##"{"note":"a\/b \u0026 c \u2028","name":"#1"}"##;
        let sig = sign("hush", body);
        assert!(verifier(&["hush"]).verify(body, &sig).is_ok());
        let unescaped = "{\"note\":\"a/b & c \u{2028}\",\"name\":\"#1\"}";
        assert!(verifier(&["hush"])
            .verify(unescaped.as_bytes(), &sig)
            .is_err());
    }

    #[test]
    fn previous_secret_is_accepted_during_rotation() {
        let v = verifier(&["new-secret", "hush"]);
        assert!(v.verify(VECTOR_BODY, VECTOR_SIG).is_ok());
        assert!(verifier(&["new-secret"])
            .verify(VECTOR_BODY, VECTOR_SIG)
            .is_err());
    }

    #[test]
    fn no_secret_accepts_nothing() {
        let v = verifier(&[""]);
        assert!(!v.is_configured());
        assert!(v.verify(VECTOR_BODY, VECTOR_SIG).is_err());
    }

    #[test]
    fn debug_does_not_show_secrets() {
        assert!(!format!("{:?}", verifier(&["hush"])).contains("hush"));
    }

    #[test]
    fn authenticate_reads_routing_headers() {
        let d = verifier(&["hush"])
            .verify_delivery(&headers(VECTOR_SIG), VECTOR_BODY)
            .unwrap();
        assert_eq!(d.shop, "demo.myshopify.com");
        assert_eq!(d.topic, "orders/create");
        assert_eq!(d.delivery_id, "wh-1");
    }

    #[test]
    fn authenticate_falls_back_to_event_id() {
        let mut h = headers(VECTOR_SIG);
        h.remove("X-Shopify-Webhook-Id");
        h.insert("X-Shopify-Event-Id", "ev-9".parse().unwrap());
        let d = verifier(&["hush"])
            .verify_delivery(&h, VECTOR_BODY)
            .unwrap();
        assert_eq!(d.delivery_id, "ev-9");
    }

    #[test]
    fn authenticate_rejections() {
        let v = verifier(&["hush"]);
        let mut h = headers(VECTOR_SIG);
        h.remove("X-Shopify-Hmac-Sha256");
        assert_eq!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::MissingSignature)
        );
        assert_eq!(
            v.verify_delivery(&headers("not base64!"), VECTOR_BODY),
            Err(WebhookRejection::BadSignature)
        );
        let mut h = headers(VECTOR_SIG);
        h.insert("X-Shopify-Shop-Domain", "evil.example.com".parse().unwrap());
        assert!(matches!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::InvalidHeader(SHOP, _))
        ));
        let mut h = headers(VECTOR_SIG);
        h.append(
            "X-Shopify-Shop-Domain",
            "other.myshopify.com".parse().unwrap(),
        );
        assert!(matches!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::InvalidHeader(SHOP, _))
        ));
        let mut h = headers(VECTOR_SIG);
        h.remove("X-Shopify-Topic");
        assert_eq!(
            v.verify_delivery(&h, VECTOR_BODY),
            Err(WebhookRejection::MissingHeader(TOPIC))
        );
        // The topic is parsed here, once: too long or with a control character → 400.
        for bad in ["t".repeat(129), "orders\tcreate".into()] {
            let mut h = headers(VECTOR_SIG);
            h.insert("X-Shopify-Topic", bad.parse().unwrap());
            assert!(matches!(
                v.verify_delivery(&h, VECTOR_BODY),
                Err(WebhookRejection::InvalidHeader(TOPIC, _))
            ));
        }
        let d = v
            .verify_delivery(&headers(VECTOR_SIG), VECTOR_BODY)
            .unwrap();
        assert_eq!(d.topic.as_str(), "orders/create");
    }
}

#[cfg(all(test, feature = "embedded"))]
mod custom_app_tests {
    use super::*;
    use crate::embedded::{EmbeddedStore, EmbeddedVault};

    const BODY: &[u8] = br#"{"id":1}"#;

    fn headers(shop: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-Shopify-Hmac-Sha256", sign(secret, BODY).parse().unwrap());
        h.insert("X-Shopify-Shop-Domain", shop.parse().unwrap());
        h.insert("X-Shopify-Topic", "orders/create".parse().unwrap());
        h.insert("X-Shopify-Webhook-Id", "wh-1".parse().unwrap());
        h
    }

    async fn connected(
        store: &EmbeddedStore,
        vault: &EmbeddedVault,
        id: &str,
        shop: &str,
        creds: ShopifyCredentials,
    ) {
        let c = Connection::fixture(id, Channel::Shopify, shop);
        store.create(&c).await.unwrap();
        vault
            .put(&c.credentials_name(), &creds.to_secret())
            .await
            .unwrap();
    }

    fn custom(current: &str, previous: Option<&str>) -> ShopifyCredentials {
        ShopifyCredentials {
            api_secret_key: Some(current.into()),
            previous_api_secret_key: previous.map(str::to_owned),
            ..ShopifyCredentials::static_token("shpat_fake", "")
        }
    }

    /// Each shop's deliveries are checked against our app's secret and that shop's own
    /// custom-app keys (current and previous) only: another shop's key, an unknown shop, or a
    /// shop connected without a key is a bad signature.
    #[tokio::test]
    async fn a_shop_is_verified_with_its_own_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let vault = EmbeddedVault::open(dir.path()).unwrap();
        connected(
            &store,
            &vault,
            "c_a",
            "a.myshopify.com",
            custom("key-a-new", Some("key-a-old")),
        )
        .await;
        connected(
            &store,
            &vault,
            "c_b",
            "b.myshopify.com",
            custom("key-b", None),
        )
        .await;
        connected(
            &store,
            &vault,
            "c_c",
            "c.myshopify.com",
            ShopifyCredentials::static_token("shpat_fake", ""),
        )
        .await;
        let verifier = ShopifyVerifier::new(&[Secret::new("our-app-secret")])
            .with_custom_apps(Arc::new(store.clone()), Arc::new(vault.clone()));
        let check = |shop: &'static str, secret: &'static str| {
            let verifier = verifier.clone();
            async move {
                verifier
                    .authenticate(None, &headers(shop, secret), BODY)
                    .await
            }
        };
        assert_eq!(
            check("a.myshopify.com", "key-a-new").await.unwrap().shop,
            "a.myshopify.com"
        );
        assert!(check("a.myshopify.com", "key-a-old").await.is_ok());
        assert!(check("a.myshopify.com", "our-app-secret").await.is_ok());
        assert!(check("c.myshopify.com", "our-app-secret").await.is_ok());
        for (shop, secret) in [
            ("a.myshopify.com", "key-b"),
            ("b.myshopify.com", "key-a-new"),
            ("c.myshopify.com", "key-b"),
            ("nobody.myshopify.com", "key-a-new"),
        ] {
            assert_eq!(
                check(shop, secret).await,
                Err(WebhookRejection::BadSignature),
                "{shop} signed with {secret}"
            );
        }
        // Without a custom-app lookup, only our app's secret verifies.
        let app_only = ShopifyVerifier::new(&[Secret::new("our-app-secret")]);
        assert_eq!(
            app_only
                .authenticate(None, &headers("b.myshopify.com", "key-b"), BODY)
                .await,
            Err(WebhookRejection::BadSignature)
        );
    }
}
