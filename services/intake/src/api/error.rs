//! API errors: JSON `{"error": {"code", "message", "field"?}}` with the right status. Internal
//! errors are logged and never returned in detail.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use xinfang_domain::validation::ValidationError;

use crate::register::RegisterError;

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

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
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

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Invalid(v) => v.into(),
            RegisterError::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
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
        JsonRejection::BytesRejection(_) => "body",
        _ => "body",
    };
    let mut e = ApiError::new(status, code, redact_quoted(msg));
    e.field = field.or_else(|| unknown_field(msg));
    e
}

/// serde echoes offending values in quotes (`invalid type: string "1380…"`); drop them.
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

fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            redact_quoted("invalid type: string \"13800138000\", expected u32"),
            "invalid type: string \"…\", expected u32"
        );
        assert_eq!(
            unknown_field("unknown field `colour`, expected one of"),
            Some("colour".into())
        );
    }
}
