//! WooCommerce webhook intake: `POST /webhooks/woocommerce/{connection_id}`, signed with the
//! secret channel-sync generated for that connection (kept with its credentials in the vault).
//!
//! Secrets are read and cached by [`ConnectionSecrets`].
//!
//! The delivery id is `X-WC-Webhook-Delivery-ID` plus a hash of the body: WooCommerce builds
//! that header as `wp_hash(webhook_id . time())`, the same for every delivery one webhook makes
//! within a second, so on its own it would drop a second order sent in the same second as a
//! "duplicate". With the body hash, only a repeat of the same delivery is a duplicate.

use super::{is_ping, verify, WooCredentials};
use crate::channels::connection_secrets::ConnectionSecrets;
use crate::channels::WebhookVerifier;
use crate::domain::{Channel, Connection};
use crate::ports::{Secret, Vault};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::channels::{Delivery, WebhookRejection};

/// Verifies WooCommerce deliveries with each connection's own secret.
pub struct WooVerifier {
    secrets: ConnectionSecrets,
}

impl WooVerifier {
    pub fn new(vault: Arc<dyn Vault>) -> Self {
        Self {
            secrets: ConnectionSecrets::new(
                vault,
                webhook_secret,
                "the connection has no webhook secret: reconnect it",
            ),
        }
    }
}

fn webhook_secret(stored: &Secret) -> Result<Vec<String>, String> {
    WooCredentials::from_secret(stored)
        .map(|c| vec![c.webhook_secret])
        .map_err(|e| e.to_string())
}

#[async_trait::async_trait]
impl WebhookVerifier for WooVerifier {
    fn channel(&self) -> Channel {
        Channel::Woocommerce
    }

    fn is_handshake(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        is_ping(headers, body)
    }

    /// `connection`: the one the delivery URL names (WooCommerce signs with its own secret).
    async fn authenticate(
        &self,
        connection: Option<&Connection>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookRejection> {
        let connection = connection.ok_or_else(|| {
            WebhookRejection::NoSecret("WooCommerce deliveries name their connection".into())
        })?;
        let verified = self
            .secrets
            .verify(connection, |secrets| verify(headers, body, secrets))
            .await;
        let mut delivery = verified?;
        let digest = hex::encode(&Sha256::digest(body)[..16]);
        delivery.delivery_id = format!("{}:{digest}", delivery.delivery_id);
        Ok(delivery)
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;

    use crate::domain::ConnectionId;
    use crate::embedded::EmbeddedVault;
    use http::HeaderValue;

    fn connection() -> Connection {
        Connection::fixture("c_woo_intake", Channel::Woocommerce, "shop.example")
    }

    fn creds(secret: &str) -> WooCredentials {
        WooCredentials {
            store_url: "https://shop.example".into(),
            consumer_key: "ck_fake".into(),
            consumer_secret: "cs_fake".into(),
            webhook_secret: secret.into(),
        }
    }

    fn headers(body: &[u8], secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-wc-webhook-signature",
            HeaderValue::from_str(&super::super::sign(secret, body)).unwrap(),
        );
        h.insert(
            "x-wc-webhook-topic",
            HeaderValue::from_static("order.updated"),
        );
        h.insert("x-wc-webhook-delivery-id", HeaderValue::from_static("d1"));
        h.insert(
            "x-wc-webhook-source",
            HeaderValue::from_static("https://shop.example/"),
        );
        h
    }

    #[tokio::test]
    async fn the_connection_secret_verifies_and_a_replaced_secret_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Arc::new(EmbeddedVault::open(dir.path()).unwrap());
        let c = connection();
        vault
            .put(&c.credentials_name(), &creds("firstSecret1").to_secret())
            .await
            .unwrap();
        let verifier = WooVerifier::new(vault.clone());
        let body = br#"{"id":1}"#;
        let delivery = verifier
            .authenticate(Some(&c), &headers(body, "firstSecret1"), body)
            .await
            .unwrap();
        assert_eq!(delivery.topic, "order.updated");
        assert!(
            delivery.delivery_id.starts_with("d1:"),
            "{}",
            delivery.delivery_id
        );
        // Another secret is refused…
        assert!(matches!(
            verifier
                .authenticate(Some(&c), &headers(body, "someoneElse"), body)
                .await,
            Err(WebhookRejection::BadSignature)
        ));
        // …even once the vault holds it, for MIN_REFRESH (forged requests cannot force a
        // vault read each)…
        vault
            .put(&c.credentials_name(), &creds("secondSecret2").to_secret())
            .await
            .unwrap();
        assert!(verifier
            .authenticate(Some(&c), &headers(body, "secondSecret2"), body)
            .await
            .is_err());
        // …then the cached one fails and the fresh read passes.
        verifier
            .secrets
            .age_cache(crate::channels::connection_secrets::MIN_REFRESH);
        assert!(verifier
            .authenticate(Some(&c), &headers(body, "secondSecret2"), body)
            .await
            .is_ok());
        // Two different bodies with WooCommerce's same-second delivery id are two deliveries.
        let other = br#"{"id":2}"#;
        let first = verifier
            .authenticate(Some(&c), &headers(body, "secondSecret2"), body)
            .await
            .unwrap();
        let second = verifier
            .authenticate(Some(&c), &headers(other, "secondSecret2"), other)
            .await
            .unwrap();
        assert!(first.delivery_id.starts_with("d1:"));
        assert_ne!(first.delivery_id, second.delivery_id);
        // No credentials at all: 401, never a panic.
        vault.delete(&c.credentials_name()).await.unwrap();
        let mut other = c.clone();
        other.id = ConnectionId::parse("c_woo_other").unwrap();
        assert!(matches!(
            verifier
                .authenticate(Some(&other), &headers(body, "x"), body)
                .await,
            Err(WebhookRejection::NoSecret(_))
        ));
        assert!(verifier.is_handshake(&HeaderMap::new(), b"webhook_id=12"));
        assert!(!verifier.is_handshake(&headers(body, "x"), b"webhook_id=12"));
    }
}
