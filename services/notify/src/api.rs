//! HTTP: the delivery log of a case (addresses masked), for staff whose token may read the case
//! (`access::view_case`: its county, and for a department only cases assigned to it, and of
//! those only its own notices and, on an ordinary case, the petitioner's), and the CLI; and the
//! OpenAPI document.

use std::sync::OnceLock;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::{OpenApi, ToSchema};
use xinfang_domain::access::{self, Principal};
use xinfang_domain::county::CountyCode;
use xinfang_platform::auth::{Auth, Caller};
use xinfang_platform::http_error::error_response;
use xinfang_platform::route_table::{Access, RouteTable, Verb};

use crate::store::{self, DeliveryView};

fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    error_response(status, code, message, field.map(str::to_owned))
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

/// A case's delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDeliveries {
    pub case_no: String,
    pub deliveries: Vec<DeliveryView>,
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "delivery log query failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the delivery log is unavailable",
        None,
    )
}

/// `view_case` for the case's county (from its number) and, for departments, the departments
/// notify saw it assigned to.
async fn may_read(
    pool: &PgPool,
    who: &Principal,
    case_no: &str,
) -> Result<Result<(), access::Denied>, sqlx::Error> {
    let Some(county) = case_no
        .split('-')
        .nth(1)
        .and_then(|c| CountyCode::parse(c).ok())
    else {
        return Ok(Err(access::Denied(
            "the case number names no county the caller covers",
        )));
    };
    let assigned = store::departments_of(pool, case_no).await?;
    // A department token counts only where its own county assigned the case.
    let departments: Vec<String> = assigned
        .into_iter()
        .filter(|(c, _)| c == who.scope.as_str() || c == county.as_str())
        .map(|(_, d)| d)
        .collect();
    Ok(access::view_case(
        who,
        access::CaseScope {
            county: &county,
            departments: &departments,
        },
    ))
}

/// What a caller may see of a case's delivery log. Staff of the bureau: all of it. A
/// department: its own notices, and the petitioner's only on an ordinary case; on a
/// confidential one even a masked number or address could say who informed (Art 30 para 3).
fn visible_to(who: &Principal, confidential: bool, all: Vec<DeliveryView>) -> Vec<DeliveryView> {
    if who.role != access::Role::Department {
        return all;
    }
    all.into_iter()
        .filter(|d| match d.audience.as_str() {
            "department" => d.department.is_some() && d.department == who.department,
            _ => !confidential,
        })
        .collect()
}

#[utoipa::path(get, path = "/v1/cases/{case_no}/deliveries", tag = "deliveries",
    params(("case_no" = String, Path, description = "XF-<county>-<yyyy>-<seq>",
        pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The case's notices and their delivery, addresses masked", body = CaseDeliveries),
        (status = 422, description = "Not a case number"),
    ))]
pub async fn case_deliveries(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
) -> Response {
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
    match may_read(&s.pool, &who, &case_no).await {
        Ok(Ok(())) => {}
        Ok(Err(d)) => {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &d.to_string(),
                Some("case_no"),
            );
        }
        Err(e) => return internal(e),
    }
    let confidential = match s.pool.acquire().await {
        Ok(mut conn) => match store::find_case(&mut conn, &case_no).await {
            Ok(c) => c.is_some_and(|c| c.confidential),
            Err(e) => return internal(e),
        },
        Err(e) => return internal(e),
    };
    match store::deliveries_for_case(&s.pool, &case_no).await {
        Ok(deliveries) => Json(CaseDeliveries {
            case_no,
            deliveries: visible_to(&who, confidential, deliveries),
        })
        .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "xinfang notify API",
        description = "The delivery log of a case's SMS and e-mail notices (addresses masked)."
    ),
    paths(case_deliveries)
)]
pub struct ApiDoc;

/// The document, completed with the platform's statuses and error schema.
pub fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| xinfang_platform::api_doc::complete(&ApiDoc::openapi(), routes().routes()))
}

/// Every route, with who it lets in (the access tests walk this table).
pub fn routes() -> RouteTable<ApiState> {
    RouteTable::new()
        .route(
            Verb::Get,
            "/v1/cases/{case_no}/deliveries",
            Access::Staff,
            case_deliveries,
        )
        .route(Verb::Get, "/openapi.json", Access::Open, || async {
            Json(openapi().clone())
        })
}

/// `GET /v1/cases/{case_no}/deliveries` and `GET /openapi.json`.
pub fn router(pool: PgPool, auth: Auth) -> Router {
    routes().with_state(ApiState { pool, auth })
}
