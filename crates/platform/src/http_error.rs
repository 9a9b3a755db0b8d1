//! The one error shape of every service's HTTP API, `{"error": {"code", "message", "field"?}}`,
//! and the layers that hold every response to it: axum's own answers (unknown route, wrong
//! method, rejections written as plain text) are rewritten, and a panicking handler becomes a
//! logged 500 instead of a dropped connection.

use std::any::Any;

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use serde::{Deserialize, Serialize};

/// What went wrong, for clients and people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable reason, e.g. `not_found`, `required`, `forbidden`.
    pub code: String,
    /// For people; never carries personal data or echoes submitted values.
    pub message: String,
    /// The offending field or parameter (dotted path), when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The regulation or lifecycle rule that refused (department actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An error response in the API's shape.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    field: Option<String>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
            field,
            rule: None,
        },
    };
    (status, Json(body)).into_response()
}

/// The fallback of every router: an unknown path.
pub async fn no_route() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /openapi.json",
        None,
    )
}

/// Code and message for an error that reached us without the API's shape. Fixed texts: the
/// original body may quote the request (a path, a value), so it is never passed on.
fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request is malformed"),
        StatusCode::NOT_FOUND => ("not_found", "no such route; see /openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method; the Allow header lists those it takes",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "content_type",
            "the body must be JSON, sent with Content-Type: application/json",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid", "the request breaks a rule"),
        StatusCode::TOO_MANY_REQUESTS => ("too_many_requests", "too many requests; slow down"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "the service is unavailable"),
        s if s.is_server_error() => ("internal", "internal error; it has been logged"),
        _ => ("error", "the request was refused"),
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Rewrites error responses that are not JSON (axum's 404, 405 and extractor rejections, a
/// body over the size limit) into the API's shape, keeping status and headers such as `Allow`
/// and `Retry-After`.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let (code, message) = describe(status);
    let (mut parts, _) = resp.into_parts();
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
            field: None,
            rule: None,
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}

fn panic_text(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-text panic")
}

/// A handler that panics answers 500 in the API's shape (and is logged) instead of dropping
/// the connection without an answer.
pub async fn catch_panic(req: Request, next: Next) -> Response {
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(p) => {
            tracing::error!(panic = panic_text(p.as_ref()), "request handler panicked");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; it has been logged",
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn call(app: Router, method: &str, uri: &str) -> (StatusCode, Option<String>, ErrorBody) {
        let resp = app
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = resp.status();
        let allow = resp
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            allow,
            serde_json::from_slice(&bytes).expect("error shape"),
        )
    }

    fn app() -> Router {
        Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("boom");
                    }
                    "never"
                }),
            )
            .fallback(no_route)
            .layer(axum::middleware::from_fn(catch_panic))
            .layer(axum::middleware::from_fn(json_errors))
    }

    #[tokio::test]
    async fn every_service_router_answers_errors_in_the_error_shape() {
        use crate::http_json::JsonBody;
        use axum::routing::post;
        let api = Router::new()
            .route(
                "/echo",
                post(|JsonBody(v): JsonBody<serde_json::Value>| async move { axum::Json(v) }),
            )
            .layer(axum::extract::DefaultBodyLimit::max(16));
        let app = crate::http::router("test", Vec::new(), api);
        let send = |body: &'static str, content_type: &'static str| {
            let app = app.clone();
            async move {
                let resp = app
                    .oneshot(
                        Request::builder()
                            .method("POST")
                            .uri("/echo")
                            .header(header::CONTENT_TYPE, content_type)
                            .body(Body::from(body))
                            .expect("request"),
                    )
                    .await
                    .expect("infallible");
                let status = resp.status();
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .expect("body");
                let body: ErrorBody = serde_json::from_slice(&bytes).expect("error shape");
                (status, body.error)
            }
        };
        let (s, e) = send("{}", "text/plain").await;
        assert_eq!(
            (s, e.code.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "content_type")
        );
        assert!(!e.message.contains('`'), "not garbled: {}", e.message);
        let (s, e) = send(r#"{"a": "0123456789abcdef"}"#, "application/json").await;
        assert_eq!(
            (s, e.code.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
        );
        let (s, e) = send("{", "application/json").await;
        assert_eq!((s, e.code.as_str()), (StatusCode::BAD_REQUEST, "syntax"));
        let (s, _, b) = call(app.clone(), "GET", "/nowhere").await;
        assert_eq!(
            (s, b.error.code.as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let (s, _, b) = call(app, "GET", "/echo").await;
        assert_eq!(
            (s, b.error.code.as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        );
    }

    #[tokio::test]
    async fn axum_answers_and_panics_take_the_error_shape() {
        let (s, _, b) = call(app(), "GET", "/nowhere").await;
        assert_eq!(
            (s, b.error.code.as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let (s, allow, b) = call(app(), "DELETE", "/ok").await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(b.error.code, "method_not_allowed");
        assert!(allow.is_some_and(|a| a.contains("GET")), "Allow is kept");
        let (s, _, b) = call(app(), "GET", "/boom").await;
        assert_eq!(
            (s, b.error.code.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        assert!(
            !b.error.message.contains("boom"),
            "panic text stays in the log"
        );
    }
}
