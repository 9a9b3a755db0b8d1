//! Completes a service's OpenAPI document from its [`RouteTable`]: every error response gets
//! the one error schema, and every operation lists the statuses the platform answers with
//! whatever the handler does (401/403/503 from authentication on staff routes, 400/413/415/422
//! from the JSON body extractor, 422 from parameters, 429 on the petitioner's rate-limited
//! routes). Handlers document only what is theirs (200, 404, 409, ...).
//!
//! [`RouteTable`]: crate::route_table::RouteTable

use serde_json::{Value, json};
use utoipa::{PartialSchema, ToSchema};

use crate::http_error::ErrorBody;
use crate::route_table::{Access, RouteInfo};

const ERROR_REF: &str = "#/components/schemas/ErrorBody";

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    })
}

fn add(responses: &mut serde_json::Map<String, Value>, status: &str, description: &str) {
    responses
        .entry(status.to_owned())
        .or_insert_with(|| error_response(description));
}

/// The error schemas, as `components.schemas` entries.
fn error_schemas() -> Vec<(String, Value)> {
    let mut schemas = Vec::new();
    ErrorBody::schemas(&mut schemas);
    let mut out: Vec<(String, Value)> = schemas
        .into_iter()
        .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or(Value::Null)))
        .collect();
    out.push((
        ErrorBody::name().into_owned(),
        serde_json::to_value(ErrorBody::schema()).unwrap_or(Value::Null),
    ));
    out
}

/// `doc` (utoipa's, or one written as JSON) with the error schema and the platform's statuses
/// on every route of `routes`.
pub fn complete<D: serde::Serialize>(doc: &D, routes: &[RouteInfo]) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    for (name, schema) in error_schemas() {
        doc["components"]["schemas"][name] = schema;
    }
    for route in routes {
        let method = route.method().as_str().to_ascii_lowercase();
        let Some(op) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(&route.path))
            .and_then(|p| p.get_mut(&method))
        else {
            continue;
        };
        let has_body = op.get("requestBody").is_some();
        let has_params = op
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
        let Some(responses) = op
            .as_object_mut()
            .map(|o| o.entry("responses").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        match route.access {
            Access::Staff => {
                add(
                    responses,
                    "401",
                    "No bearer token, or an unknown or revoked one",
                );
                add(
                    responses,
                    "403",
                    "The caller's role, county or department may not do this; `error.message` names the rule",
                );
                add(
                    responses,
                    "503",
                    "Authentication is unavailable (the token store does not answer)",
                );
            }
            Access::Petitioner => add(
                responses,
                "429",
                "Too many requests from this address or for this code; retry after `Retry-After` seconds",
            ),
            Access::Open => {}
        }
        if has_body {
            add(responses, "400", "The body is not valid JSON");
            add(responses, "413", "The body is larger than this route takes");
            add(
                responses,
                "415",
                "The body is not sent as Content-Type: application/json",
            );
            add(
                responses,
                "422",
                "A field is missing or breaks a rule; `error.field` names it",
            );
        }
        if has_params {
            add(
                responses,
                "422",
                "A parameter is malformed or out of range; `error.field` names it",
            );
        }
        // Error responses a handler documented without a body get the error schema.
        for (status, resp) in responses.iter_mut() {
            let is_error = status.starts_with('4') || status.starts_with('5');
            if is_error && resp.get("content").is_none() {
                resp["content"] = json!({"application/json": {"schema": {"$ref": ERROR_REF}}});
            }
        }
    }
    doc
}

/// Routes of the table (other than open ones) that `doc` does not describe, and operations
/// of `doc` that are not in the table: both must be empty.
pub fn mismatches(doc: &Value, routes: &[RouteInfo]) -> Vec<String> {
    let mut out = Vec::new();
    for r in routes.iter().filter(|r| r.access != Access::Open) {
        let method = r.method().as_str().to_ascii_lowercase();
        if doc["paths"][&r.path][&method].is_null() {
            out.push(format!("{r}: in the router, not in the document"));
        }
    }
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|o| o.keys()) {
                let known = routes
                    .iter()
                    .any(|r| &r.path == path && r.method().as_str().eq_ignore_ascii_case(method));
                if !known && method != "parameters" {
                    out.push(format!(
                        "{} {path}: in the document, not in the router",
                        method.to_uppercase()
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route_table::Verb;

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(show, create))]
    struct Doc;

    #[utoipa::path(get, path = "/v1/things/{id}", params(("id" = String, Path)),
        responses((status = 200, description = "the thing"), (status = 404, description = "none")))]
    #[allow(dead_code)]
    async fn show() {}

    #[utoipa::path(post, path = "/v1/things", request_body = String,
        responses((status = 201, description = "made")))]
    #[allow(dead_code)]
    async fn create() {}

    fn route(verb: Verb, path: &str, access: Access) -> RouteInfo {
        RouteInfo {
            verb,
            path: path.into(),
            access,
        }
    }

    #[test]
    fn statuses_and_error_schema_are_added_per_route() {
        use utoipa::OpenApi;
        let routes = [
            route(Verb::Get, "/v1/things/{id}", Access::Staff),
            route(Verb::Post, "/v1/things", Access::Petitioner),
        ];
        let doc = complete(&Doc::openapi(), &routes);
        let show = &doc["paths"]["/v1/things/{id}"]["get"]["responses"];
        for s in ["200", "401", "403", "404", "422", "503"] {
            assert!(show[s].is_object(), "GET {s}");
        }
        assert_eq!(
            show["404"]["content"]["application/json"]["schema"]["$ref"],
            json!(ERROR_REF)
        );
        assert!(show["415"].is_null(), "no body, no 415");
        let create = &doc["paths"]["/v1/things"]["post"]["responses"];
        for s in ["201", "400", "413", "415", "422", "429"] {
            assert!(create[s].is_object(), "POST {s}");
        }
        assert!(create["401"].is_null(), "the petitioner needs no token");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        assert!(mismatches(&doc, &routes).is_empty());
        let more = [
            routes[0].clone(),
            route(Verb::Delete, "/v1/things/{id}", Access::Staff),
        ];
        assert_eq!(
            mismatches(&doc, &more),
            vec![
                "DELETE /v1/things/{id}: in the router, not in the document".to_owned(),
                "POST /v1/things: in the document, not in the router".to_owned(),
            ]
        );
    }
}
