//! One error type for every HTTP route and its single mapping to a status and JSON body.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

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

impl From<crate::ports::PortError> for ApiError {
    fn from(e: crate::ports::PortError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<crate::channels::store::ConnectError> for ApiError {
    fn from(e: crate::channels::store::ConnectError) -> Self {
        use crate::channels::store::ConnectError as E;
        match e {
            E::Unreachable(m) => ApiError::BadGateway(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Unprocessable(other.to_string()),
        }
    }
}

impl From<crate::channels::WebhookRejection> for ApiError {
    fn from(r: crate::channels::WebhookRejection) -> Self {
        use crate::channels::WebhookRejection as R;
        match r {
            R::MissingSignature | R::BadSignature | R::NoSecret(_) => {
                ApiError::Unauthorized(r.to_string())
            }
            R::MissingHeader(_) | R::InvalidHeader(..) => ApiError::BadRequest(r.to_string()),
            R::Unavailable(m) => ApiError::Unavailable(m),
        }
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
