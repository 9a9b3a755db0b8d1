//! HTTP errors: JSON `{"error": {"code", "message", "field"?}}` with the right status.
//! Internal errors are logged and never returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use xinfang_domain::validation::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An access rule refused the caller.
    #[error("{0}")]
    Forbidden(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Invalid(v) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": {"code": v.rule, "message": v.message, "field": v.field}}),
            ),
            ApiError::Forbidden(m) => (
                StatusCode::FORBIDDEN,
                json!({"error": {"code": "forbidden", "message": m}}),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                json!({"error": {"code": "not_found", "message": format!("{what} not found")}}),
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": {"code": "internal", "message": "internal error"}}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
