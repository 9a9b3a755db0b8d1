//! API errors: JSON `{"error": {"code", "message", "field"?}}` with the right status. Internal
//! errors are logged and never returned in detail; messages never echo personal data.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use xinfang_domain::appeal::EvaluationError;
use xinfang_domain::validation::ValidationError;

use crate::error::ReviewError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// `Retry-After` seconds, for 429.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.rule, e.message).with_field(e.field)
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            ReviewError::Invalid(v) => v.into(),
            ReviewError::IdentityMismatch => ApiError::new(
                StatusCode::FORBIDDEN,
                "identity_mismatch",
                ReviewError::IdentityMismatch.to_string(),
            )
            .with_field("id_number"),
            ReviewError::Locked { retry_after_secs } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    ReviewError::Locked { retry_after_secs }.to_string(),
                )
                .with_field("id_number");
                e.retry_after_secs = Some(retry_after_secs);
                e
            }
            ReviewError::Refused(r) => ApiError::new(StatusCode::CONFLICT, r.code(), r.to_string()),
            ReviewError::Evaluation(EvaluationError::Invalid(v)) => v.into(),
            ReviewError::Evaluation(r) => {
                ApiError::new(StatusCode::CONFLICT, r.code(), r.to_string())
            }
            ReviewError::Forbidden(message) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            ReviewError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            ReviewError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; it has been logged",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            body["field"] = f.into();
        }
        let mut response = (self.status, Json(json!({ "error": body }))).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }
}

/// JSON bodies with the API's error shape (field named, values never echoed).
pub use xinfang_platform::http_json::JsonBody as ApiJson;
