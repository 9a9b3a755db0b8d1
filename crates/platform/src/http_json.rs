//! Request bodies and query strings whose rejections use the API error shape
//! `{"error": {"code", "message", "field"?}}`, name the offending field, and never echo the
//! offending value (it may be a phone or ID number, whatever its JSON type).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::http_error::error_response;

/// Why a body or query was refused.
#[derive(Debug)]
pub struct BodyError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message, self.field)
    }
}

/// `Json<T>` with [`BodyError`] rejections: 415 without a JSON content type, 413 over the
/// router's body limit, 400 for broken JSON, 422 naming the field for a wrong shape.
pub struct JsonBody<T>(pub T);

fn json_content_type(req: &Request) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = BodyError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(&req) {
            return Err(BodyError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "content_type",
                message: "the body must be JSON, sent with Content-Type: application/json".into(),
                field: None,
            });
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| BodyError {
                status: r.status(),
                code: if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "body"
                },
                message: if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "the request body is too large".into()
                } else {
                    "the request body could not be read".into()
                },
                field: None,
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserializes a JSON document with [`BodyError`] errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = field_path(e.path());
        let inner = e.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => syntax_error(&inner),
            Category::Data => {
                let (field, message) = describe_data_error(path, &inner.to_string());
                BodyError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: if message == "is required" {
                        "required"
                    } else {
                        "schema"
                    },
                    message,
                    field,
                }
            }
        }
    })?;
    // Characters after the document are a syntax error too.
    de.end().map_err(|e| syntax_error(&e))?;
    Ok(value)
}

/// Deserializes an already parsed JSON value: 422 naming the field, values never echoed.
pub fn from_value<T: DeserializeOwned>(v: &serde_json::Value) -> Result<T, BodyError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = field_path(e.path());
        let (field, message) = describe_data_error(path, &e.into_inner().to_string());
        BodyError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: if message == "is required" {
                "required"
            } else {
                "schema"
            },
            message,
            field,
        }
    })
}

fn syntax_error(e: &serde_json::Error) -> BodyError {
    BodyError {
        status: StatusCode::BAD_REQUEST,
        code: "syntax",
        message: format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ),
        field: None,
    }
}

/// `Query<T>` with [`BodyError`] rejections: 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = BodyError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = field_path(e.path());
                let (field, message) = describe_data_error(path, &e.into_inner().to_string());
                BodyError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: if message == "is required" {
                        "required"
                    } else {
                        "invalid"
                    },
                    message,
                    field,
                }
            })
    }
}

/// `a.b[0].c`, or nothing at the top level.
fn field_path(p: &serde_path_to_error::Path) -> Option<String> {
    let s = p.to_string();
    (s != "." && !s.is_empty()).then_some(s)
}

/// `path.name`, unless the path already ends at `name` (it does for unknown fields).
fn join(path: Option<&str>, name: &str) -> String {
    match path {
        Some(p) if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        Some(p) => format!("{p}.{name}"),
        None => name.to_owned(),
    }
}

/// The first backticked name in `s` (serde writes field names that way).
fn backticked(s: &str) -> Option<&str> {
    let rest = s.split_once('`')?.1;
    Some(rest.split_once('`')?.0)
}

/// Drops values serde quotes (`` `13800138000` ``, `"张三"`): what remains is the kind.
fn without_values(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => quote = Some(c),
            None => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Field and message for serde's data error `raw` at `path`. serde's own wording is kept only
/// where it names no value: field names and the expected type or variants. Messages of custom
/// deserializers may quote the value, so they become a fixed text.
pub fn describe_data_error(path: Option<String>, raw: &str) -> (Option<String>, String) {
    // serde_json appends the position; it says nothing the field does not.
    let msg = raw.split(" at line ").next().unwrap_or(raw);
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let name = backticked(rest).unwrap_or_default();
        return (Some(join(path.as_deref(), name)), "is required".into());
    }
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let name = backticked(rest).unwrap_or_default().to_owned();
        let expected = rest.split_once(", ").map(|(_, e)| e).unwrap_or_default();
        let message = if expected.is_empty() {
            "is not a field of this request".to_owned()
        } else {
            format!("is not a field of this request; {expected}")
        };
        return (Some(join(path.as_deref(), &name)), message);
    }
    if let Some(rest) = msg.strip_prefix("duplicate field ") {
        let name = backticked(rest).unwrap_or_default();
        return (Some(join(path.as_deref(), name)), "is given twice".into());
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((got, expected)) = rest.split_once(", expected ")
        {
            let what = prefix.trim_end_matches(": ");
            return (
                path,
                format!("{what}: {}, expected {expected}", without_values(got)),
            );
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ")
        && let Some((_, expected)) = rest.split_once(", ")
    {
        return (path, format!("is not an allowed value; {expected}"));
    }
    if msg.starts_with("invalid length ") {
        return (path, msg.to_owned());
    }
    (path, "has an invalid value".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Person {
        name: String,
        mobile: Option<String>,
        age: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        petitioner: Person,
        #[serde(default)]
        others: Vec<Person>,
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Letter,
        Visit,
    }

    fn err(json: &str) -> BodyError {
        match parse_json::<Input>(json.as_bytes()) {
            Ok(v) => panic!("accepted {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn values_are_never_echoed_whatever_their_json_type() {
        for (json, field) in [
            (
                r#"{"petitioner": {"name": "张三", "mobile": 13800138000}}"#,
                "petitioner.mobile",
            ),
            (
                r#"{"petitioner": {"name": 411203195202145284}}"#,
                "petitioner.name",
            ),
            (
                r#"{"petitioner": {"name": "x", "age": 13800138000}}"#,
                "petitioner.age",
            ),
            (
                r#"{"petitioner": {"name": "x", "mobile": ["13800138000"]}}"#,
                "petitioner.mobile",
            ),
            (
                r#"{"petitioner": {"name": "x"}, "kind": "13800138000"}"#,
                "kind",
            ),
            (
                r#"{"petitioner": {"name": "x"}, "others": [{"name": true}]}"#,
                "others[0].name",
            ),
        ] {
            let e = err(json);
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
            assert_eq!(e.field.as_deref(), Some(field), "{json}: {}", e.message);
            for secret in ["13800138000", "411203195202145284", "张三", "true"] {
                assert!(!e.message.contains(secret), "{json}: {}", e.message);
            }
        }
        assert_eq!(
            err(r#"{"petitioner": {"name": "x", "mobile": 138}}"#).message,
            "invalid type: integer, expected a string"
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named_in_field() {
        let e = err(r#"{"petitioner": {"mobile": "1"}}"#);
        assert_eq!(e.field.as_deref(), Some("petitioner.name"));
        assert_eq!((e.code, e.message.as_str()), ("required", "is required"));
        let e = err(r#"{"petitioner": {"name": "x", "colour": 1}}"#);
        assert_eq!(e.field.as_deref(), Some("petitioner.colour"));
        assert!(e.message.contains("expected one of"), "{}", e.message);
        let e = err(r#"{}"#);
        assert_eq!(e.field.as_deref(), Some("petitioner"));
    }

    #[test]
    fn broken_json_is_a_400_without_a_field() {
        for json in [
            r#"{"petitioner": "#,
            "",
            r#"{"petitioner": {"name": "x"}} trailing"#,
            r#"{"petitioner": {"name": "x",}}"#,
        ] {
            let e = err(json);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{json}");
            assert_eq!(e.code, "syntax");
        }
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Paging {
        page: Option<i64>,
        per_page: Option<i64>,
    }

    #[tokio::test]
    async fn a_bad_query_parameter_is_a_422_naming_it() {
        let (mut parts, ()) = axum::http::Request::builder()
            .uri("/v1/cases?page=abc")
            .body(())
            .expect("request")
            .into_parts();
        let e = match ApiQuery::<Paging>::from_request_parts(&mut parts, &()).await {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        };
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("page"));
        assert!(!e.message.contains("abc"), "{}", e.message);
    }
}
