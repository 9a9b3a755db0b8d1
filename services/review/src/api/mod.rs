//! Review's HTTP API.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /v1/reviews` | petitioner (query code + ID number) or clerk (`clerk_id` + `case_no`) | 复查 / 复核 request (Art 35, 36) |
//! | `POST /v1/reviews/external` | clerk | a request made to an organ above the directory |
//! | `GET /v1/reviews/{case_no}` | staff | appeals, hearings, termination, evaluation of a case |
//! | `POST /v1/reviews/{case_no}/decision` | the review organ | 复查 / 复核 opinion (D8, D10) |
//! | `POST /v1/reviews/{case_no}/hearing` | the 复核 organ | hearing start / finish (D10 paused) |
//! | `POST /v1/evaluations` | petitioner (query code) | satisfaction evaluation (Decisions 5) |
//! | `GET /v1/terminations?petitioner_key=` | audit | the 终结库 entries of a petitioner |
//! | `GET /openapi.json` | clients | this API as OpenAPI 3.1 |
//!
//! Refusals are `409` with the rule's code and a message naming the article; bad input is
//! `422` naming the field; an ID number that does not match is `403`, and after
//! `review.id_number_attempts` wrong ones for a query code, requests by it get `429` with
//! `Retry-After` until the lockout ends. Requests by query code (`POST /v1/reviews`,
//! `POST /v1/evaluations`) are also rate-limited per client address and per code
//! (`review.rate_limit`, `xinfang_platform::rate_limit`): `429` `rate_limited` with
//! `Retry-After`. Staff routes take a
//! bearer token of a reviewer, clerk or operator whose scope covers the case's county; the
//! petitioner's request (query code + ID number) and evaluation need none.

mod error;
mod openapi;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router};
use serde::Deserialize;
use xinfang_domain::access::{self, Principal};
use xinfang_domain::county::CountyCode;
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::{Auth, Caller};
use xinfang_platform::http_json::ApiQuery;
use xinfang_platform::rate_limit::{self, Guarded};
use xinfang_platform::route_table::{Access, RouteTable, Verb};

pub use error::{ApiError, ApiJson};

use crate::appeals::{
    self, DecisionInput, DecisionReceipt, ExternalRequestInput, HearingInput, HearingReceipt,
    RequestInput, RequestReceipt,
};
use crate::context::Ctx;
use crate::evaluations::{self, EvaluationInput, EvaluationReceipt};
use crate::store::{self, Termination};

const BODY_LIMIT: usize = 64 * 1024;

/// The router's state: the service context and the deployment's authentication.
#[derive(Clone)]
pub struct ApiState {
    pub ctx: Arc<Ctx>,
    pub auth: Auth,
}

impl FromRef<ApiState> for Arc<Ctx> {
    fn from_ref(s: &ApiState) -> Arc<Ctx> {
        s.ctx.clone()
    }
}

impl FromRef<ApiState> for Auth {
    fn from_ref(s: &ApiState) -> Auth {
        s.auth.clone()
    }
}

/// The county a case number names (`XF-<county>-<yyyy>-<seq>`).
fn case_county(case_no: &str) -> Option<CountyCode> {
    case_no
        .split('-')
        .nth(1)
        .and_then(|c| CountyCode::parse(c).ok())
}

/// Staff may record reviews only within their scope.
fn allow(who: &Principal, case_no: Option<&str>) -> Result<(), ApiError> {
    let county = case_no
        .and_then(case_county)
        .unwrap_or_else(|| who.scope.clone());
    allow_county(who, &county)
}

fn allow_county(who: &Principal, county: &CountyCode) -> Result<(), ApiError> {
    access::review(who, county)
        .map_err(|d| ApiError::new(StatusCode::FORBIDDEN, "forbidden", d.to_string()))
}

/// The routes rate-limited per client address and per query code: every
/// [`Access::Petitioner`] route, by the body's `query_code` (a clerk's request carries none
/// and is not limited). tests/petitioner_limits.rs holds the two lists equal.
pub fn rate_limited_routes() -> Vec<Guarded> {
    vec![
        Guarded::post("/v1/reviews", "query_code", BODY_LIMIT),
        Guarded::post("/v1/evaluations", "query_code", BODY_LIMIT),
    ]
}

pub fn router(ctx: Arc<Ctx>, auth: Auth) -> Router {
    let petitioner_limits = axum::middleware::from_fn_with_state(
        ctx.rate_limit.guard(&rate_limited_routes()),
        rate_limit::enforce,
    );
    routes()
        .map_router(|r| r.layer(petitioner_limits))
        .with_state(ApiState { ctx, auth })
}

/// The document, completed with the platform's statuses and error schema.
pub fn openapi_document() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| xinfang_platform::api_doc::complete(&openapi::document(), routes().routes()))
}

/// Every route, with who it lets in (the access tests walk this table).
pub fn routes() -> RouteTable<ApiState> {
    RouteTable::new()
        // The petitioner's query code and ID number are the credential; a clerk's request
        // (clerk_id + case_no) is checked against its token in the handler.
        .route(Verb::Post, "/v1/reviews", Access::Petitioner, request)
        .route(
            Verb::Post,
            "/v1/reviews/external",
            Access::Staff,
            request_external,
        )
        .route(Verb::Get, "/v1/reviews/{case_no}", Access::Staff, show)
        .route(
            Verb::Post,
            "/v1/reviews/{case_no}/decision",
            Access::Staff,
            decide,
        )
        .route(
            Verb::Post,
            "/v1/reviews/{case_no}/hearing",
            Access::Staff,
            hearing,
        )
        .route(Verb::Post, "/v1/evaluations", Access::Petitioner, evaluate)
        .route(Verb::Get, "/v1/terminations", Access::Staff, terminations)
        .route(Verb::Get, "/openapi.json", Access::Open, || async {
            Json(openapi_document().clone())
        })
        .map_router(|r| r.layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

async fn request(
    State(ctx): State<Arc<Ctx>>,
    State(auth): State<Auth>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<RequestInput>,
) -> Result<(StatusCode, Json<RequestReceipt>), ApiError> {
    // A clerk's request needs a clerk; the petitioner's proves itself with the ID number.
    if input.clerk_id.is_some() {
        let who = auth
            .caller(&headers)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a valid bearer token is required",
                )
            })?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a clerk's request needs a bearer token",
                )
            })?;
        allow(&who, input.case_no.as_deref())?;
    }
    Ok((
        StatusCode::CREATED,
        Json(appeals::request(&ctx, &input).await?),
    ))
}

async fn request_external(
    State(ctx): State<Arc<Ctx>>,
    Caller(who): Caller,
    ApiJson(input): ApiJson<ExternalRequestInput>,
) -> Result<(StatusCode, Json<RequestReceipt>), ApiError> {
    // The case's county, not the caller's: another county records nothing on this case.
    allow(&who, Some(&input.case_no))?;
    Ok((
        StatusCode::CREATED,
        Json(appeals::request_external(&ctx, &input).await?),
    ))
}

async fn show(
    State(ctx): State<Arc<Ctx>>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    allow(&who, Some(&case_no))?;
    Ok(Json(appeals::show(&ctx, &case_no).await?))
}

async fn decide(
    State(ctx): State<Arc<Ctx>>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<(StatusCode, Json<DecisionReceipt>), ApiError> {
    allow(&who, Some(&case_no))?;
    Ok((
        StatusCode::CREATED,
        Json(appeals::decide(&ctx, &case_no, &input).await?),
    ))
}

async fn hearing(
    State(ctx): State<Arc<Ctx>>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    ApiJson(input): ApiJson<HearingInput>,
) -> Result<(StatusCode, Json<HearingReceipt>), ApiError> {
    allow(&who, Some(&case_no))?;
    Ok((
        StatusCode::CREATED,
        Json(appeals::hearing(&ctx, &case_no, &input).await?),
    ))
}

async fn evaluate(
    State(ctx): State<Arc<Ctx>>,
    ApiJson(input): ApiJson<EvaluationInput>,
) -> Result<(StatusCode, Json<EvaluationReceipt>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(evaluations::evaluate(&ctx, &input).await?),
    ))
}

#[derive(Debug, Deserialize)]
struct TerminationQuery {
    petitioner_key: Option<String>,
    /// The county whose entries to list; the caller's scope by default.
    county: Option<String>,
}

/// A petitioner key: the 64 lowercase hex digits of intake's HMAC.
fn petitioner_key(raw: Option<&str>) -> Result<String, ValidationError> {
    let v = raw.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Err(ValidationError::new(
            "petitioner_key",
            "required",
            "give the petitioner key (keyed hash) to look up",
        ));
    }
    if v.len() > 128 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ValidationError::new(
            "petitioner_key",
            "format",
            "must be the hex petitioner key of case.registered",
        ));
    }
    Ok(v.to_ascii_lowercase())
}

async fn terminations(
    State(ctx): State<Arc<Ctx>>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<TerminationQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let county = match q.county.as_deref() {
        Some(c) => CountyCode::parse(c).map_err(ApiError::from)?,
        None => who.scope.clone(),
    };
    allow_county(&who, &county)?;
    let key = petitioner_key(q.petitioner_key.as_deref())?;
    let mut conn = ctx
        .pool
        .acquire()
        .await
        .map_err(|e| ApiError::from(crate::error::ReviewError::from(e)))?;
    let rows: Vec<Termination> = store::terminations_of(&mut conn, &key)
        .await
        .map_err(|e| ApiError::from(crate::error::ReviewError::from(e)))?
        .into_iter()
        // Only entries of the county asked for (a city covers its counties).
        .filter(|t| CountyCode::parse(&t.home_county).is_ok_and(|c| access::covers(&county, &c)))
        .collect();
    Ok(Json(serde_json::json!({ "terminations": rows })))
}
