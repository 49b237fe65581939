//! One vocabulary for failures, whatever raised them: a channel call, a port, a setting.
//! Every error type of the lower layers says which [`Failure`] it is ([`Classify`]); queue
//! dispositions and job outcomes are derived from that, never re-decided per call site.
//! HTTP statuses stay with `http::ApiError`, which maps the same errors once.

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

impl Classify for crate::ports::PortError {
    fn classify(&self) -> Failure {
        match self {
            crate::ports::PortError::Unavailable(_) => Failure::Retry(self.to_string()),
            crate::ports::PortError::Corrupt(_) => Failure::Permanent(self.to_string()),
        }
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
