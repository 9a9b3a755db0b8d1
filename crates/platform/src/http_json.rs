//! JSON request bodies whose rejections use the API error shape
//! `{"error": {"code", "message", "field"?}}`, name the offending field, and never echo the
//! offending value (it may be a phone or ID number).

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a body was refused.
#[derive(Debug)]
pub struct BodyError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            body["field"] = f.into();
        }
        (self.status, Json(json!({ "error": body }))).into_response()
    }
}

/// `Json<T>` with [`BodyError`] rejections.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = BodyError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(body_error(&rejection)),
        }
    }
}

/// Turns axum's rejection into a [`BodyError`].
pub fn body_error(r: &JsonRejection) -> BodyError {
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
    BodyError {
        status,
        code,
        message: redact_quoted(msg),
        field: field.or_else(|| unknown_field(msg)),
    }
}

/// serde echoes offending values in quotes (`invalid type: string "1380…"`); drop them.
pub fn redact_quoted(msg: &str) -> String {
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
    fn quoted_values_are_redacted_and_unknown_fields_named() {
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
