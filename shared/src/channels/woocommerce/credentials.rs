//! A WooCommerce connection's credentials, stored as one JSON [`Secret`].

use crate::ports::Secret;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of a generated webhook secret.
const WEBHOOK_SECRET_LEN: usize = 40;

/// What a WooCommerce connection needs: the store URL (as checked by
/// [`crate::channels::store_url::UrlPolicy::check`]), a REST API key pair (Read/Write), and
/// the secret our webhooks are signed with. `Debug` shows only the store URL.
#[derive(Clone, Serialize, Deserialize)]
pub struct WooCredentials {
    pub store_url: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub webhook_secret: String,
}

impl fmt::Debug for WooCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooCredentials")
            .field("store_url", &self.store_url)
            .field("consumer_key", &"<redacted>")
            .field("consumer_secret", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .finish()
    }
}

impl WooCredentials {
    /// The JSON form kept in the vault.
    pub fn to_secret(&self) -> Secret {
        match serde_json::to_string(self) {
            Ok(json) => Secret::new(json),
            Err(_) => unreachable!("four strings always serialize"),
        }
    }

    /// Reads the vault's JSON form. The error never quotes the secret.
    pub fn from_secret(s: &Secret) -> Result<Self, String> {
        serde_json::from_str(s.expose()).map_err(|e| {
            format!(
                "stored WooCommerce credentials are not readable (line {}, column {})",
                e.line(),
                e.column()
            )
        })
    }
}

/// A fresh webhook secret: 40 random ASCII letters and digits. WooCommerce historically
/// HTML-escaped `& < > " '` in stored secrets, so signatures made with special characters did
/// not match (§2.1, woocommerce#21693, #22500, fixed by PR #22722): alphanumerics avoid it on
/// every version.
pub fn generate_webhook_secret() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(WEBHOOK_SECRET_LEN)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> WooCredentials {
        WooCredentials {
            store_url: "https://shop.example.com".into(),
            consumer_key: "ck_abc".into(),
            consumer_secret: "cs_def".into(),
            webhook_secret: "whsecret".into(),
        }
    }

    #[test]
    fn secret_round_trip_and_redacted_debug() {
        let c = creds();
        let back = WooCredentials::from_secret(&c.to_secret()).unwrap();
        assert_eq!(back.store_url, c.store_url);
        assert_eq!(back.consumer_key, "ck_abc");
        assert_eq!(back.consumer_secret, "cs_def");
        assert_eq!(back.webhook_secret, "whsecret");
        let debug = format!("{c:?}");
        assert!(debug.contains("shop.example.com"));
        for secret in ["ck_abc", "cs_def", "whsecret"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let err =
            WooCredentials::from_secret(&Secret::new("{\"consumer_secret\":\"cs_x\"")).unwrap_err();
        assert!(!err.contains("cs_x"), "{err}");
    }

    #[test]
    fn webhook_secrets_are_40_alphanumerics_and_differ() {
        let a = generate_webhook_secret();
        let b = generate_webhook_secret();
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }
}
