//! Identifier newtypes. Each is only constructible through `parse`, so a value that exists
//! has already been checked; raw strings from outside never flow through the system unnamed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub reason: &'static str,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps a raw value.
            pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidId> {
                let raw = raw.into();
                if raw.is_empty() {
                    return Err(InvalidId { kind: $kind, reason: "empty" });
                }
                if raw.len() > $max {
                    return Err(InvalidId { kind: $kind, reason: "too long" });
                }
                let allowed: fn(char) -> bool = $allowed;
                if !raw.chars().all(allowed) {
                    return Err(InvalidId { kind: $kind, reason: "contains characters that are not allowed" });
                }
                Ok(Self(raw))
            }

            /// The checked value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

id_type!(
    /// A WMS tenant (one 3PL customer account): lowercase-friendly slug.
    TenantId, "tenant id", 64, slug_char
);
id_type!(
    /// One connected store of one tenant.
    ConnectionId, "connection id", 64, slug_char
);
id_type!(
    /// An order's id on its channel (Shopify: the numeric REST id as a string).
    ChannelOrderId, "channel order id", 128, |c: char| c.is_ascii_graphic()
);
id_type!(
    /// A stock-keeping unit as the merchant spells it. SKUs may contain `/`, spaces and
    /// punctuation; only control characters are refused. Leading/trailing spaces are kept
    /// out by [`Sku::normalize`].
    Sku, "sku", 255, |c: char| !c.is_control()
);

impl Sku {
    /// Trims surrounding whitespace; a blank SKU is `None` (the caller decides how to hold it).
    pub fn normalize(raw: &str) -> Option<Result<Sku, InvalidId>> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(Sku::parse(trimmed))
        }
    }
}

impl ConnectionId {
    /// A fresh random id (`c_` + 20 hex chars).
    pub fn generate() -> Self {
        let bytes: [u8; 10] = rand::random();
        Self(format!("c_{}", hex::encode(bytes)))
    }
}

/// A Shopify shop's permanent domain, `{name}.myshopify.com`, lowercased. Validated with the
/// documented rule `^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$` before any network call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ShopDomain(String);

impl ShopDomain {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let lower = raw.trim().to_ascii_lowercase();
        let err = |reason| InvalidId {
            kind: "shop domain",
            reason,
        };
        let name = lower
            .strip_suffix(".myshopify.com")
            .ok_or(err("must end in .myshopify.com"))?;
        let mut chars = name.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphanumeric() => {}
            _ => return Err(err("must start with a letter or digit")),
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(err("may contain only letters, digits and '-'"));
        }
        if lower.len() > 255 {
            return Err(err("too long"));
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ShopDomain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_domain_rule() {
        assert_eq!(
            ShopDomain::parse("Cool-Shop.myshopify.com")
                .unwrap()
                .as_str(),
            "cool-shop.myshopify.com"
        );
        for bad in [
            "",
            "myshopify.com",
            ".myshopify.com",
            "-x.myshopify.com",
            "evil.com",
            "a.myshopify.com.evil.com",
            "a_b.myshopify.com",
            "a/b.myshopify.com",
            "127.0.0.1",
        ] {
            assert!(ShopDomain::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ids_refuse_empty_and_odd_characters() {
        assert!(TenantId::parse("dev").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("a b").is_err());
        assert!(ConnectionId::parse("c/../x").is_err());
        assert!(ConnectionId::generate().as_str().starts_with("c_"));
    }

    #[test]
    fn sku_keeps_slashes_and_refuses_control_chars() {
        assert_eq!(
            Sku::normalize("  TS/001 ").unwrap().unwrap().as_str(),
            "TS/001"
        );
        assert!(Sku::normalize("   ").is_none());
        assert!(Sku::normalize("A\u{0}B").unwrap().is_err());
    }
}
