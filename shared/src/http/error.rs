//! One error type for every HTTP route and its single mapping to a status and JSON body.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

use crate::failure::{Kind, Kinded};

/// An HTTP failure. The message is for the caller; internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    /// A channel's signature check failed where the channel expects 412 (eBay).
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    Unprocessable(String),
    /// A channel we called failed; the message says which and how, without internals.
    #[error("{0}")]
    BadGateway(String),
    /// Our own storage or queue failed: the caller should retry.
    #[error("temporarily unavailable, retry")]
    Unavailable(String),
    /// Someone else is doing this right now (a delivery another attempt holds): 503 with
    /// `Retry-After` (whole seconds), so the caller comes back rather than giving up.
    #[error("{message}")]
    RetryLater {
        message: String,
        retry_after: std::time::Duration,
    },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::RetryLater { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::PreconditionFailed(_) => "bad_signature",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::BadGateway(_) => "bad_gateway",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::RetryLater { .. } => "in_progress",
        }
    }
}

impl ApiError {
    /// The one place a classified failure becomes a status: the message is the error's own
    /// (for `Unavailable` and `Corrupt` it is only logged; the caller reads "retry").
    pub fn classified(kind: Kind, message: String) -> Self {
        match kind {
            Kind::Malformed => ApiError::BadRequest(message),
            Kind::Unauthenticated => ApiError::Unauthorized(message),
            Kind::Conflict | Kind::NeedsReauth => ApiError::Conflict(message),
            Kind::Refused => ApiError::Unprocessable(message),
            Kind::Upstream => ApiError::BadGateway(message),
            Kind::Unavailable | Kind::Corrupt => ApiError::Unavailable(message),
        }
    }

    fn from_kinded(e: &impl Kinded) -> Self {
        ApiError::classified(e.kind(), e.to_string())
    }
}

impl From<crate::ports::PortError> for ApiError {
    fn from(e: crate::ports::PortError) -> Self {
        ApiError::from_kinded(&e)
    }
}

impl From<crate::channels::store::ConnectError> for ApiError {
    fn from(e: crate::channels::store::ConnectError) -> Self {
        ApiError::from_kinded(&e)
    }
}

impl From<crate::channels::WebhookRejection> for ApiError {
    fn from(r: crate::channels::WebhookRejection) -> Self {
        ApiError::from_kinded(&r)
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(format!(
                "could not read the request body: {}",
                r.body_text()
            ))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unavailable(cause) = &self {
            tracing::error!(cause = %cause, "request failed on our side");
        } else {
            tracing::info!(status = self.status().as_u16(), reason = %self, "request refused");
        }
        let body = json!({"error": self.code(), "message": self.to_string()});
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::RetryLater { retry_after, .. } = &self {
            let seconds = retry_after.as_secs().max(1);
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::store::ConnectError as C;
    use crate::channels::WebhookRejection as R;
    use crate::failure::{Classify, Failure};
    use crate::ports::PortError as P;

    fn answer(e: ApiError) -> (u16, &'static str, String) {
        (e.status().as_u16(), e.code(), e.to_string())
    }

    fn text(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn connect_errors_keep_their_statuses_and_messages() {
        let cases = [
            (
                C::NotTheChannel(text("not woo")),
                422,
                "unprocessable",
                "not woo",
            ),
            (C::NoApi(text("no api")), 422, "unprocessable", "no api"),
            (
                C::WrongCredentials(text("bad key")),
                422,
                "unprocessable",
                "bad key",
            ),
            (
                C::InsufficientPermissions(text("read only")),
                422,
                "unprocessable",
                "read only",
            ),
            (C::Invalid(text("bad url")), 422, "unprocessable", "bad url"),
            (
                C::Unreachable(text("timed out")),
                502,
                "bad_gateway",
                "timed out",
            ),
            (C::Conflict(text("owned")), 409, "conflict", "owned"),
            (
                C::Unavailable(text("db down")),
                503,
                "unavailable",
                "temporarily unavailable, retry",
            ),
        ];
        for (error, status, code, message) in cases {
            assert_eq!(answer(error.into()), (status, code, text(message)));
        }
    }

    #[test]
    fn webhook_rejections_keep_their_statuses_and_messages() {
        let cases = [
            (
                R::MissingSignature,
                401,
                "unauthorized",
                "missing signature header",
            ),
            (
                R::BadSignature,
                401,
                "unauthorized",
                "signature does not match",
            ),
            (
                R::NoSecret(text("no secret")),
                401,
                "unauthorized",
                "no secret",
            ),
            (
                R::MissingHeader("X-Topic"),
                400,
                "bad_request",
                "missing header X-Topic",
            ),
            (
                R::InvalidHeader("X-Topic", text("empty")),
                400,
                "bad_request",
                "invalid header X-Topic: empty",
            ),
            (
                R::Unavailable(text("vault down")),
                503,
                "unavailable",
                "temporarily unavailable, retry",
            ),
        ];
        for (error, status, code, message) in cases {
            assert_eq!(answer(error.into()), (status, code, text(message)));
        }
    }

    #[test]
    fn port_errors_answer_retry_but_keep_their_cause_for_the_log() {
        for error in [P::Unavailable(text("down")), P::Corrupt(text("bad json"))] {
            let cause = error.to_string();
            let api = ApiError::from(error);
            assert!(
                matches!(&api, ApiError::Unavailable(c) if *c == cause),
                "{api:?}"
            );
            assert_eq!(
                answer(api),
                (503, "unavailable", text("temporarily unavailable, retry"))
            );
        }
    }

    #[test]
    fn the_status_and_the_failure_come_from_the_same_kind() {
        // Whatever the HTTP caller is told, a queue consumer meeting the same error reacts
        // the same way: a 502/503 is retried, a refusal (4xx) is not.
        let port_down = P::Unavailable(text("down"));
        assert_eq!(port_down.classify(), Failure::Retry(port_down.to_string()));
        let corrupt = P::Corrupt(text("bad json"));
        assert_eq!(corrupt.classify(), Failure::Permanent(corrupt.to_string()));
        let all = [
            Kind::Malformed,
            Kind::Unauthenticated,
            Kind::Conflict,
            Kind::Refused,
            Kind::NeedsReauth,
            Kind::Upstream,
            Kind::Unavailable,
        ];
        for kind in all {
            let status = ApiError::classified(kind, text("why")).status();
            let failure = kind.failure(text("why"));
            assert_eq!(failure.reason(), "why");
            assert_eq!(
                failure.is_retryable(),
                status.is_server_error(),
                "{kind:?} answers {status} but classifies as {failure:?}"
            );
        }
        assert_eq!(
            Kind::NeedsReauth.failure(text("revoked")),
            Failure::NeedsReauth(text("revoked"))
        );
    }
}
