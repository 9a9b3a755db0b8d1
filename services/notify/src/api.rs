//! HTTP: the delivery log of a case (addresses masked), for operators and the CLI.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;

use crate::store;

fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let mut e = json!({"code": code, "message": message});
    if let Some(f) = field {
        e["field"] = json!(f);
    }
    (status, Json(json!({ "error": e }))).into_response()
}

async fn case_deliveries(State(pool): State<PgPool>, Path(case_no): Path<String>) -> Response {
    let valid = !case_no.is_empty()
        && case_no.len() <= 64
        && case_no
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_case_no",
            "case_no must be 1-64 ASCII letters, digits, '-' or '_'",
            Some("case_no"),
        );
    }
    match store::deliveries_for_case(&pool, &case_no).await {
        Ok(rows) => Json(json!({ "case_no": case_no, "deliveries": rows })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "delivery log query failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the delivery log is unavailable",
                None,
            )
        }
    }
}

/// `GET /v1/cases/{case_no}/deliveries`.
pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/v1/cases/{case_no}/deliveries", get(case_deliveries))
        .with_state(pool)
}
