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
//! | `POST /v1/terminations/search` | clerk, reviewer | the 终结库 entries of a petitioner found by ID number (in the body, hashed here as intake hashes it; never stored or logged) |
//! | `GET /v1/terminations/export?since=&after=&limit=&county=` | operator (audited) | this deployment's terminated matters in `xf-termination/1`, in export-number order after the cursor `after` (docs/termination-registry.md) |
//! | `POST /v1/terminations/import` | operator of the whole deployment (audited) | a batch of the province's list: every record checked (`422` names the line and the field), stored once, so registration proposes 不再受理 for a petition on a matter terminated elsewhere |
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
//!
//! Decisions and hearings are acts of the organ the appeal is addressed to: only a principal
//! of that organ makes them (`xinfang_domain::access::act_for_review_organ`: a reviewer whose
//! token's scope is the organ's county, or an operator in scope; never a clerk or a
//! department), and the caller is recorded as who decided (`<role>:<token id>`); a
//! `decided_by` or `clerk_id` in the body is ignored. Anyone else gets `403`.

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
        .route(
            Verb::Post,
            "/v1/terminations/search",
            Access::Staff,
            search_terminations,
        )
        .route(
            Verb::Get,
            "/v1/terminations/export",
            Access::Staff,
            export_terminations,
        )
        .route(
            Verb::Post,
            "/v1/terminations/import",
            Access::Staff,
            import_terminations,
        )
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
        Json(appeals::decide(&ctx, &who, &case_no, &input).await?),
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
        Json(appeals::hearing(&ctx, &who, &case_no, &input).await?),
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
    termination_entries(&ctx, &county, &key).await
}

/// `POST /v1/terminations/search`: a clerk looks a petitioner up by ID number. The number
/// travels in the body only (never a URL), is hashed as intake hashes it
/// ([`crate::identity::HashKey`]) and is neither stored nor logged nor echoed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminationSearch {
    id_number: Option<String>,
    /// The county whose entries to list; the caller's scope by default.
    county: Option<String>,
    /// Why the clerk looks (recorded in the audit log).
    reason: Option<String>,
}

async fn search_terminations(
    State(ctx): State<Arc<Ctx>>,
    State(auth): State<Auth>,
    Caller(who): Caller,
    ApiJson(q): ApiJson<TerminationSearch>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let county = match q.county.as_deref() {
        Some(c) => CountyCode::parse(c).map_err(ApiError::from)?,
        None => who.scope.clone(),
    };
    allow_county(&who, &county)?;
    let raw = q.id_number.as_deref().unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(ValidationError::new(
            "id_number",
            "required",
            "give the petitioner's ID number (公民身份号码)",
        )
        .into());
    }
    let today = xinfang_domain::deadline::cst_date(ctx.clock.now_cst());
    let id = crate::identity::parse_id_number(raw, today)?;
    let key = ctx.key.hash(crate::identity::ID_LABEL, id.as_str());
    // Looking a person up by identity is recorded: who, and why.
    let reason = q
        .reason
        .as_deref()
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "终结库查询 termination registry search".to_owned());
    auth.audit(&who, "search_terminations", None, &reason)
        .await
        .map_err(|e| ApiError::from(crate::error::ReviewError::Internal(e)))?;
    termination_entries(&ctx, &county, &key).await
}

/// The 终结库 entries of a petitioner key within `county` (a city covers its counties).
async fn termination_entries(
    ctx: &Ctx,
    county: &CountyCode,
    key: &str,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut conn = ctx
        .pool
        .acquire()
        .await
        .map_err(|e| ApiError::from(crate::error::ReviewError::from(e)))?;
    let rows: Vec<Termination> = store::terminations_of(&mut conn, key)
        .await
        .map_err(|e| ApiError::from(crate::error::ReviewError::from(e)))?
        .into_iter()
        // Only entries of the county asked for (a city covers its counties).
        // The province's entries (imported) concern every county here.
        .filter(|t| {
            t.source != "local"
                || CountyCode::parse(&t.home_county).is_ok_and(|c| access::covers(county, &c))
        })
        .collect();
    Ok(Json(serde_json::json!({ "terminations": rows })))
}

/// The registry is exported and imported by operators only.
fn operator_of(who: &Principal, county: &CountyCode) -> Result<(), ApiError> {
    if who.role != access::Role::Operator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the terminated-matters registry is exported and imported by an operator",
        ));
    }
    if !access::covers(&who.scope, county) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the county is outside the caller's scope",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// Matters terminated on or after this day (China time).
    since: Option<chrono::NaiveDate>,
    /// The cursor: the export number of the last entry already written (0: from the start).
    after: Option<i64>,
    limit: Option<i64>,
    /// The county whose matters to export; the caller's scope by default.
    county: Option<String>,
}

/// `GET /v1/terminations/export`: a page of this deployment's terminated matters in the
/// registry format, after the cursor. Audited.
async fn export_terminations(
    State(ctx): State<Arc<Ctx>>,
    State(auth): State<Auth>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let county = match q.county.as_deref() {
        Some(c) => CountyCode::parse(c).map_err(ApiError::from)?,
        None => who.scope.clone(),
    };
    operator_of(&who, &county)?;
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ValidationError::new("after", "range", "must be 0 or more").into());
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=crate::registry::MAX_PAGE).contains(&limit) {
        return Err(ValidationError::new(
            "limit",
            "range",
            format!("must be between 1 and {}", crate::registry::MAX_PAGE),
        )
        .into());
    }
    let since = q
        .since
        .map(|d| {
            use chrono::TimeZone;
            xinfang_domain::deadline::CST
                .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .single()
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok_or_else(|| ValidationError::new("since", "date", "not a valid day"))
        })
        .transpose()?;
    auth.audit(
        &who,
        "export_terminations",
        None,
        &format!("终结库导出 termination registry export of {county} after #{after}"),
    )
    .await
    .map_err(|e| ApiError::from(crate::error::ReviewError::Internal(e)))?;
    let page = crate::registry::export_page(&ctx, &county, since, after, limit).await?;
    let entries: Vec<serde_json::Value> = page
        .entries
        .iter()
        .map(|e| serde_json::json!({"seq": e.seq, "record": e.record.to_value()}))
        .collect();
    Ok(Json(serde_json::json!({
        "format": xinfang_domain::termination_registry::FORMAT,
        "entries": entries,
        "next": page.next,
        "more": page.more,
    })))
}

/// `POST /v1/terminations/import`: a batch of the province's list. It changes what
/// registration refuses in every county here, so only an operator covering them all imports.
async fn import_terminations(
    State(ctx): State<Arc<Ctx>>,
    State(auth): State<Auth>,
    Caller(who): Caller,
    ApiJson(input): ApiJson<crate::registry::ImportInput>,
) -> Result<Json<crate::registry::ImportReceipt>, ApiError> {
    for county in &ctx.served {
        operator_of(&who, county)?;
    }
    let receipt = crate::registry::import(&ctx, &input, ctx.clock.now()).await?;
    if !input.dry_run {
        let source: String = input
            .source
            .as_deref()
            .unwrap_or("province")
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        auth.audit(
            &who,
            "import_terminations",
            None,
            &format!(
                "终结库导入 termination registry import from {source}: {} records, {} new, {} updated",
                receipt.received, receipt.new, receipt.updated
            ),
        )
        .await
        .map_err(|e| ApiError::from(crate::error::ReviewError::Internal(e)))?;
    }
    Ok(Json(receipt))
}
