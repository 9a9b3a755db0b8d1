//! HTTP: the delivery log of a case (addresses masked), for staff whose token's scope covers
//! the case's county, and the CLI.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use xinfang_domain::access;
use xinfang_domain::county::CountyCode;
use xinfang_platform::auth::{Auth, Caller};

use crate::store;

fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let mut e = json!({"code": code, "message": message});
    if let Some(f) = field {
        e["field"] = json!(f);
    }
    (status, Json(json!({ "error": e }))).into_response()
}

/// The router's state: the pool and the deployment's authentication.
#[derive(Clone)]
pub struct ApiState {
    pub pool: PgPool,
    pub auth: Auth,
}

impl FromRef<ApiState> for Auth {
    fn from_ref(s: &ApiState) -> Auth {
        s.auth.clone()
    }
}

async fn case_deliveries(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
) -> Response {
    let pool = s.pool;
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
    let county = case_no
        .split('-')
        .nth(1)
        .and_then(|c| CountyCode::parse(c).ok());
    if !county.is_some_and(|c| access::covers(&who.scope, &c)) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the case is outside the caller's county",
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
pub fn router(pool: PgPool, auth: Auth) -> Router {
    Router::new()
        .route("/v1/cases/{case_no}/deliveries", get(case_deliveries))
        .with_state(ApiState { pool, auth })
}
