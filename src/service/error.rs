//! The API's one error type: a stable code, an HTTP status and a message a
//! client may see. Internal failures (database, storage, bugs) are logged
//! with their detail here and reach the client only as `internal`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::api_types::{ErrorBody, ErrorDetail};
use crate::db::DbError;
use crate::store::StoreError;
use crate::video::VideoError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "auth.required",
            "sign in or send an API key",
        )
    }

    /// Missing, or owned by another account: the same answer, so ids
    /// cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Logs `detail` and answers a generic 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!(code = e.code(), error = %e, "database error");
        ApiError::internal(e.code())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::InvalidKey { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, e.code(), "no such object")
            }
            StoreError::BadSignature => {
                ApiError::new(StatusCode::FORBIDDEN, e.code(), e.to_string())
            }
            StoreError::Expired => ApiError::new(StatusCode::FORBIDDEN, e.code(), e.to_string()),
            other => {
                tracing::error!(code = other.code(), error = %other, "storage error");
                ApiError::internal(other.code())
            }
        }
    }
}

impl From<VideoError> for ApiError {
    fn from(e: VideoError) -> Self {
        crate::Error::from(e).into()
    }
}

impl From<crate::Error> for ApiError {
    /// The input's fault is 4xx with its code; anything else is logged and
    /// answered as `internal`.
    fn from(e: crate::Error) -> Self {
        use crate::ErrorKind;
        match e.kind() {
            ErrorKind::Input => {
                let status = match &e {
                    crate::Error::Video(VideoError::FileTooLarge { .. }) => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError::new(status, e.code(), e.public_message())
            }
            ErrorKind::Canceled => {
                ApiError::new(StatusCode::CONFLICT, e.code(), e.public_message())
            }
            ErrorKind::Internal => ApiError::internal(format!("[{}] {e}", e.code())),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
