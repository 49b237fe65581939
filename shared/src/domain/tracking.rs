//! A shipment's tracking number, as channels write it: trimmed and not blank.
//!
//! The WMS's `shipment.dispatched` message carries the number as a plain string and is read
//! leniently (a blank number must still end as a `tracking.failed` message with a reason, not
//! as an unreadable message in the dead-letter queue). The tracking export parses it with
//! [`TrackingNumber::parse`] once, under the shipment's claim; every channel's tracking write
//! takes this type and never re-checks it.

use super::InvalidId;
use std::fmt;

/// A tracking number: surrounding whitespace removed, never blank.
/// Serialises as the plain string (never read back from the wire: see [`TrackingNumber::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct TrackingNumber(String);

impl TrackingNumber {
    /// Trims `raw`; a blank number is refused (the reason names it blank).
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidId {
                kind: "tracking number",
                reason: "blank",
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The trimmed number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_trimmed_and_kept_otherwise_as_sent() {
        assert_eq!(TrackingNumber::parse("1Z999").unwrap().as_str(), "1Z999");
        assert_eq!(
            TrackingNumber::parse("  JD0123 \t\n").unwrap().as_str(),
            "JD0123"
        );
        // Inner spaces and punctuation are the carrier's business.
        assert_eq!(
            TrackingNumber::parse(" LX 1234 5678 GB/2 ")
                .unwrap()
                .as_str(),
            "LX 1234 5678 GB/2"
        );
        assert_eq!(TrackingNumber::parse("x").unwrap().to_string(), "x");
    }

    #[test]
    fn a_blank_number_is_refused() {
        for blank in ["", " ", "\t\n ", "\u{3000}"] {
            let e = TrackingNumber::parse(blank).unwrap_err();
            assert_eq!(e.to_string(), "invalid tracking number: blank", "{blank:?}");
        }
    }
}
