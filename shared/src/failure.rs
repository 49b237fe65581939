//! One vocabulary for failures, whatever raised them: a channel call, a port, a setting.
//! Every error type of the lower layers says which [`Failure`] it is ([`Classify`]); queue
//! dispositions and job outcomes are derived from that, never re-decided per call site.
//! Errors that reach an HTTP caller say which [`Kind`] they are ([`Kinded`]): `http::ApiError`
//! derives the status from the kind, in one place, and the kind derives the [`Failure`].

use crate::ports::{OutMessage, Queue};

/// What a failure means for whoever must react to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Try again later: network trouble, a 5xx, throttling, our own storage.
    Retry(String),
    /// The channel refused the stored credentials: the merchant must reconnect (the
    /// connection goes to `needs_reauth` and its jobs stop).
    NeedsReauth(String),
    /// Retrying cannot help until someone changes something; the reason says what.
    Permanent(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Retry(r) | Failure::NeedsReauth(r) | Failure::Permanent(r) => r,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Failure::Retry(_))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// An error that knows which [`Failure`] it is.
pub trait Classify {
    fn classify(&self) -> Failure;
}

/// The same classification, fine enough to answer a caller with: who must act, and how.
/// [`Kind::failure`] folds it into a [`Failure`]; `http::ApiError` maps it to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input is malformed (a missing or unreadable header): the sender must fix it.
    Malformed,
    /// The sender did not prove who it is (no signature, a wrong one, nothing to check it with).
    Unauthenticated,
    /// It clashes with what is stored (the store belongs to another account, or its stored
    /// credentials must be renewed first).
    Conflict,
    /// Well-formed but refused as it stands (wrong credentials, no API, an invalid setting).
    Refused,
    /// The channel refused our stored credentials: the merchant must reconnect.
    NeedsReauth,
    /// A channel we called failed or could not be reached: try again later.
    Upstream,
    /// Our own storage or queue failed: try again later.
    Unavailable,
    /// Something we stored cannot be read back: retrying does not help.
    Corrupt,
}

impl Kind {
    /// The failure this kind is, with its reason.
    pub fn failure(self, reason: String) -> Failure {
        match self {
            Kind::Upstream | Kind::Unavailable => Failure::Retry(reason),
            Kind::NeedsReauth => Failure::NeedsReauth(reason),
            Kind::Malformed
            | Kind::Unauthenticated
            | Kind::Conflict
            | Kind::Refused
            | Kind::Corrupt => Failure::Permanent(reason),
        }
    }
}

/// An error that knows which [`Kind`] it is; its message is the reason.
pub trait Kinded: std::fmt::Display {
    fn kind(&self) -> Kind;
}

impl Kinded for crate::ports::PortError {
    fn kind(&self) -> Kind {
        match self {
            crate::ports::PortError::Unavailable(_) => Kind::Unavailable,
            crate::ports::PortError::Corrupt(_) => Kind::Corrupt,
        }
    }
}

impl Classify for crate::ports::PortError {
    fn classify(&self) -> Failure {
        self.kind().failure(self.to_string())
    }
}

/// A message's fate. `Retry` leaves it on the queue (it comes back after the visibility
/// timeout and, after too many tries, lands in the DLQ); everything else is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Done(String),
    Retry(String),
}

/// Sends a message that can never succeed to `dead_letter`, wrapped with its reason and the
/// queue it came from; retried only if the DLQ itself cannot be reached.
pub async fn dead_letter(
    dead_letter: &dyn Queue,
    source: &str,
    body: &str,
    reason: String,
) -> Disposition {
    tracing::warn!(source, reason = %reason, "message dead-lettered");
    let wrapped = serde_json::json!({
        "v": 1,
        "type": "dead_letter",
        "source": source,
        "reason": reason,
        "at": chrono::Utc::now(),
        "body": body,
    });
    match dead_letter
        .send(OutMessage {
            body: wrapped.to_string(),
            ..OutMessage::default()
        })
        .await
    {
        Ok(()) => Disposition::Done(format!("dead-lettered: {reason}")),
        Err(e) => Disposition::Retry(format!("could not dead-letter: {e}")),
    }
}

impl From<Failure> for Disposition {
    /// A retryable failure leaves the message on its queue; the others are acknowledged with
    /// their reason (the caller reports them wherever they belong first).
    fn from(f: Failure) -> Self {
        match f {
            Failure::Retry(r) => Disposition::Retry(r),
            Failure::NeedsReauth(r) | Failure::Permanent(r) => Disposition::Done(r),
        }
    }
}
