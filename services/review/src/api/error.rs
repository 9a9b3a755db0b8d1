//! API errors: JSON `{"error": {"code", "message", "field"?}}` with the right status. Internal
//! errors are logged and never returned in detail; messages never echo personal data.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
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
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
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
            ReviewError::Refused(r) => ApiError::new(StatusCode::CONFLICT, r.code(), r.to_string()),
            ReviewError::Evaluation(EvaluationError::Invalid(v)) => v.into(),
            ReviewError::Evaluation(r) => {
                ApiError::new(StatusCode::CONFLICT, r.code(), r.to_string())
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
        (self.status, Json(json!({ "error": body }))).into_response()
    }
}

/// `Json<T>` whose rejections use our error shape, name the field, and never echo values.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_error(&rejection)),
        }
    }
}

fn json_error(r: &JsonRejection) -> ApiError {
    let status = r.status();
    let text = r.body_text();
    // axum reports "<prefix>: <path>: <serde message>"; keep the path as the field.
    let detail = text.split_once(": ").map(|(_, d)| d).unwrap_or(&text);
    let (field, msg) = match detail.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') => (Some(path.to_owned()), msg),
        _ => (None, detail),
    };
    let code = match r {
        JsonRejection::MissingJsonContentType(_) => "content_type",
        JsonRejection::JsonSyntaxError(_) => "syntax",
        JsonRejection::JsonDataError(_) => "schema",
        _ => "body",
    };
    let mut e = ApiError::new(status, code, redact_quoted(msg));
    e.field = field.or_else(|| {
        msg.strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    });
    e
}

/// serde echoes offending values in quotes (`invalid type: string "1101…"`); drop them.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    for c in msg.chars() {
        if c == '"' {
            if !in_quote {
                out.push_str("\"…\"");
            }
            in_quote = !in_quote;
        } else if !in_quote {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            redact_quoted("invalid type: string \"11010519491231002X\", expected u32"),
            "invalid type: string \"…\", expected u32"
        );
    }
}
