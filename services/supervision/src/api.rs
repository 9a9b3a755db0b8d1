//! HTTP API:
//! - `POST /v1/supervisions` issues a 督办 by hand; its response deadline is tracked.
//! - `GET /v1/supervisions?case_no=` lists a case's 督办 records.
//! - `GET /v1/supervisions/{id}` one 督办 record with the department's response.
//! - `POST /v1/supervisions/{id}/response` records the department's answer.
//! - `GET /v1/deadlines?case_no=` lists a case's clocks.
//! - `GET /v1/stats?county=&dept=&from=&to=` the KPIs ([`crate::stats`]).
//! - `GET /openapi.json` describes the above (also at `/v1/openapi.json`, its old place).
//!
//! Reading a case's clocks and 督办 records follows `access::view_case`: its county, and for a
//! department only the cases it handles.

use std::sync::Arc;

use std::sync::OnceLock;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;
use xinfang_domain::access::{self, Principal, Role};
use xinfang_domain::county::CountyCode;
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::{Auth, Caller};
use xinfang_platform::http_json::{ApiQuery, JsonBody};
use xinfang_platform::route_table::{Access, RouteTable, Verb};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::handlers::Rules;
use crate::stats::{self, StatsQuery};
use crate::store;
use crate::supervise::{self, FORMS, NewSupervision};
use xinfang_platform::outbox::Batch;

#[derive(Clone)]
pub struct ApiState {
    pub pool: PgPool,
    pub clock: Clock,
    pub rules: Arc<Rules>,
    /// Counties this deployment serves.
    pub served: Vec<String>,
    pub auth: Auth,
}

impl FromRef<ApiState> for Auth {
    fn from_ref(s: &ApiState) -> Auth {
        s.auth.clone()
    }
}

/// The county a case number names (`XF-<county>-<yyyy>-<seq>`), else the caller's scope.
fn county_of(case_no: Option<&str>, who: &Principal) -> CountyCode {
    case_no
        .and_then(|c| c.split('-').nth(1))
        .and_then(|c| CountyCode::parse(c).ok())
        .unwrap_or_else(|| who.scope.clone())
}

/// The served counties the caller's scope covers.
fn served_in_scope(served: &[String], who: &Principal) -> Vec<CountyCode> {
    served
        .iter()
        .filter_map(|c| CountyCode::parse(c).ok())
        .filter(|c| access::covers(&who.scope, c))
        .collect()
}

/// A department code as the subjects spell it.
fn department_code(raw: &str) -> Result<(), ValidationError> {
    xinfang_domain::subject::token("department", raw)
        .map(|_| ())
        .map_err(|_| {
            ValidationError::new(
                "department",
                "department_code",
                "must be a department code: lowercase ASCII letters, digits or '_'",
            )
        })
}

fn forbid(d: access::Denied) -> ApiError {
    ApiError::Forbidden(d.to_string())
}

/// Reading a case's deadlines and 督办 records: `access::view_case` with the case's county (from
/// its number) and the departments supervision knows handle it (its clocks, its 督办, its lead
/// unit once assigned).
async fn may_read(pool: &PgPool, who: &Principal, case: &str) -> Result<(), ApiError> {
    let county = case
        .split('-')
        .nth(1)
        .and_then(|c| CountyCode::parse(c).ok())
        .ok_or(ApiError::NotFound("case"))?;
    let departments: Vec<String> = sqlx::query_scalar(
        "select department from deadlines where case_no = $1 and department is not null
         union select department from supervisions where case_no = $1
         union select department from cases
               where case_no = $1 and department is not null and assigned_at is not null",
    )
    .bind(case)
    .fetch_all(pool)
    .await?;
    // A clock of another county's organ handling the matter (`411200:rsj`) is that organ's:
    // it counts for a caller of that county only, under its plain code.
    let departments: Vec<String> = departments
        .into_iter()
        .filter_map(|d| match d.split_once(':') {
            Some((c, code)) => (c == who.scope.as_str()).then(|| code.to_owned()),
            None => Some(d),
        })
        .collect();
    access::view_case(
        who,
        access::CaseScope {
            county: &county,
            departments: &departments,
        },
    )
    .map_err(forbid)
}

/// Every route, with who it lets in (the access tests walk this table).
pub fn routes() -> RouteTable<ApiState> {
    let t = RouteTable::new()
        .route(Verb::Post, "/v1/supervisions", Access::Staff, issue)
        .route(
            Verb::Get,
            "/v1/supervisions",
            Access::Staff,
            list_supervisions,
        )
        .route(
            Verb::Get,
            "/v1/supervisions/{id}",
            Access::Staff,
            show_supervision,
        )
        .route(
            Verb::Post,
            "/v1/supervisions/{id}/response",
            Access::Staff,
            respond,
        )
        .route(Verb::Get, "/v1/deadlines", Access::Staff, list_deadlines)
        .route(Verb::Get, "/v1/stats", Access::Staff, get_stats)
        .route(
            Verb::Get,
            "/v1/stats/comparison",
            Access::Staff,
            get_comparison,
        )
        .route(Verb::Get, "/openapi.json", Access::Open, openapi)
        // Where the document was first served; kept for existing clients.
        .route(Verb::Get, "/v1/openapi.json", Access::Open, openapi);
    // The bureau's practices (issue #15): listed matters, conferences, advisers, leaders'
    // reception days and 包案, the weekly analysis.
    let t = crate::listed::api::routes(t);
    let t = crate::practices::routes(t);
    crate::weekly::routes(t)
}

pub fn router(state: ApiState) -> Router {
    routes().with_state(state)
}

/// `POST /v1/supervisions` body. Every field is checked and errors name it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct IssueRequest {
    #[schema(value_type = String, required = true, max_length = 64, pattern = "^[A-Za-z0-9-]+$",
        example = "XF-411282-2026-000001")]
    pub case_no: Option<String>,
    /// Optional: taken from the case number (`XF-<county>-...`) when absent.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    #[schema(value_type = String, required = true, example = "rsj")]
    pub department: Option<String>,
    /// written_notice | summons | on_site | joint
    #[schema(value_type = String, required = true, example = "written_notice")]
    pub form: Option<String>,
    #[schema(value_type = String, required = true, max_length = 64)]
    pub issuer: Option<String>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub note: Option<String>,
    /// RFC 3339 time the department must answer by: in the future, within a year.
    #[schema(value_type = String, format = DateTime, required = true)]
    pub respond_by: Option<String>,
}

/// A required text field, trimmed; `required` when absent or blank.
pub(crate) fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, ValidationError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ValidationError::new(field, "required", "is required")),
    }
}

fn plain_text(field: &str, v: &str, max: usize) -> Result<(), ValidationError> {
    if v.chars().count() > max {
        return Err(ValidationError::new(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new(
            field,
            "control_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a case number: `XF-<county>-<year>-<serial>` or another short code of letters,
/// digits and hyphens.
fn case_no(v: &str) -> Result<(), ValidationError> {
    if v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ValidationError::new(
            "case_no",
            "case_number",
            "must be a case number such as XF-411282-2026-000001",
        ));
    }
    Ok(())
}

impl IssueRequest {
    pub fn validate(
        &self,
        served: &[String],
        now: DateTime<Utc>,
    ) -> Result<NewSupervision, ValidationError> {
        let case = required("case_no", &self.case_no)?;
        case_no(case)?;
        let county_raw = match self
            .county
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(c) => c.to_owned(),
            None => case.split('-').nth(1).map(str::to_owned).ok_or_else(|| {
                ValidationError::new(
                    "county",
                    "required",
                    "is required when the case number names no county",
                )
            })?,
        };
        let county = CountyCode::parse(&county_raw)?;
        if !served.iter().any(|s| s == county.as_str()) {
            return Err(ValidationError::new(
                "county",
                "not_served",
                "is not a county this deployment serves",
            ));
        }
        let department = required("department", &self.department)?;
        department_code(department)?;
        let form = required("form", &self.form)?;
        if !FORMS.contains(&form) {
            return Err(ValidationError::new(
                "form",
                "unknown_value",
                format!("must be one of: {}", FORMS.join(", ")),
            ));
        }
        let issuer = required("issuer", &self.issuer)?;
        plain_text("issuer", issuer, 64)?;
        let note = self.note.as_deref().map(str::trim).unwrap_or_default();
        plain_text("note", note, 2000)?;
        let respond_by = required("respond_by", &self.respond_by)?;
        let respond_by = DateTime::parse_from_rfc3339(respond_by)
            .map_err(|_| {
                ValidationError::new(
                    "respond_by",
                    "datetime",
                    "must be an RFC 3339 time such as 2026-05-01T17:00:00+08:00",
                )
            })?
            .with_timezone(&Utc);
        if respond_by <= now {
            return Err(ValidationError::new(
                "respond_by",
                "in_past",
                "must be in the future",
            ));
        }
        if respond_by > now + TimeDelta::days(366) {
            return Err(ValidationError::new(
                "respond_by",
                "too_far",
                "must be within a year",
            ));
        }
        Ok(NewSupervision {
            id: Uuid::now_v7(),
            case_no: case.to_owned(),
            county,
            department: department.to_owned(),
            form: form.to_owned(),
            issuer: issuer.to_owned(),
            note: note.to_owned(),
            respond_by,
            at: now,
            cause_deadline: None,
            trace: None,
        })
    }
}

#[utoipa::path(post, path = "/v1/supervisions", tag = "supervision",
    summary = "Issue a 督办 (written_notice, summons, on_site, joint); its response deadline is tracked",
    request_body = IssueRequest,
    responses((status = 201, description = "The 督办 record", body = Object)))]
async fn issue(
    State(s): State<ApiState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<IssueRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let county = match req.county.as_deref().map(CountyCode::parse) {
        Some(Ok(c)) => c,
        _ => county_of(req.case_no.as_deref(), &who),
    };
    // A county this deployment does not serve is left to validation, which names the field.
    if s.served.iter().any(|c| c == county.as_str()) {
        access::supervise(&who, &county).map_err(forbid)?;
    }
    let new = req.validate(&s.served, s.clock.now())?;
    let mut tx = s.pool.begin().await?;
    let mut events = Batch::default();
    supervise::record(&mut tx, std::slice::from_ref(&new), &s.rules, &mut events).await?;
    events.write(&mut tx).await?;
    tx.commit().await?;
    let rows = supervise::for_case(&s.pool, &new.case_no).await?;
    let row = rows
        .into_iter()
        .find(|r| r.id == new.id)
        .ok_or(ApiError::NotFound("supervision"))?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CaseQuery {
    /// The case: `XF-<county>-<yyyy>-<seq>`.
    #[param(required = true, value_type = String, max_length = 64, pattern = "^[A-Za-z0-9-]+$")]
    case_no: Option<String>,
}

/// `GET /v1/deadlines`: one case's clocks (`case_no`), or the board — a county's open clocks
/// due within `within_days` (overdue ones included), soonest first.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeadlinesQuery {
    /// One case: `XF-<county>-<yyyy>-<seq>`. Without it, the board of `county`.
    #[param(value_type = Option<String>, max_length = 64, pattern = "^[A-Za-z0-9-]+$")]
    case_no: Option<String>,
    /// The board's county (default: every served county in the caller's scope).
    #[param(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    county: Option<String>,
    /// Only this department's clocks (a department sees only its own anyway).
    #[param(value_type = Option<String>, max_length = 32)]
    department: Option<String>,
    /// Due within this many days from now, 0–366 (default 3); overdue clocks always count.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 366)]
    within_days: Option<u32>,
    /// At most this many rows, 1–1000 (default 200).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/supervisions", tag = "supervision", summary = "督办 records of a case",
    params(CaseQuery),
    responses((status = 200, description = "{supervisions: [...]}, newest first", body = Object),
        (status = 404, description = "The case number names no county")))]
async fn list_supervisions(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let case = required("case_no", &q.case_no)?;
    case_no(case)?;
    may_read(&s.pool, &who, case).await?;
    Ok(Json(
        json!({"supervisions": supervise::for_case(&s.pool, case).await?}),
    ))
}

#[utoipa::path(get, path = "/v1/supervisions/{id}", tag = "supervision",
    summary = "One 督办 record, with the department's response (`response`, `responded_at`) once given",
    params(("id" = String, Path, format = Uuid, description = "The 督办's id")),
    responses((status = 200, description = "The 督办 record", body = Object),
        (status = 404, description = "No such 督办")))]
async fn show_supervision(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ValidationError::new("id", "uuid", "must be a supervision id (UUID)"))?;
    let row = supervise::by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("supervision"))?;
    // Who may read the case may read its 督办 records.
    may_read(&s.pool, &who, &row.case_no).await?;
    Ok(Json(row))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct RespondRequest {
    /// The department's answer.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 2000)]
    response: Option<String>,
}

#[utoipa::path(post, path = "/v1/supervisions/{id}/response", tag = "supervision",
    summary = "Record the department's response; closes the response deadline",
    params(("id" = String, Path, format = Uuid, description = "The 督办's id")),
    request_body = RespondRequest,
    responses((status = 200, description = "{id, responded: true}", body = Object),
        (status = 404, description = "No such 督办")))]
async fn respond(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<RespondRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // The supervised department answers; supervisors and operators may record it for them.
    if !matches!(
        who.role,
        Role::Department | Role::Supervisor | Role::Operator
    ) {
        return Err(ApiError::Forbidden(
            "only the supervised department or a supervisor answers a 督办".into(),
        ));
    }
    let id = Uuid::parse_str(&id)
        .map_err(|_| ValidationError::new("id", "uuid", "must be a supervision id (UUID)"))?;
    let response = required("response", &req.response)?;
    plain_text("response", response, 2000)?;
    // The supervised department itself, or a supervisor of its county.
    let target: Option<(String, String)> =
        sqlx::query_as("select county, department from supervisions where id = $1")
            .bind(id)
            .fetch_optional(&s.pool)
            .await?;
    let (county, department) = target.ok_or(ApiError::NotFound("supervision"))?;
    let county = CountyCode::parse(&county).map_err(|e| ApiError::Internal(e.into()))?;
    match who.role {
        Role::Department => access::act_as_department(&who, &county, &department),
        _ => access::supervise(&who, &county),
    }
    .map_err(forbid)?;
    let mut tx = s.pool.begin().await?;
    if !supervise::respond(&mut tx, id, response, s.clock.now()).await? {
        return Err(ApiError::NotFound("supervision"));
    }
    tx.commit().await?;
    Ok(Json(json!({"id": id, "responded": true})))
}

#[utoipa::path(get, path = "/v1/deadlines", tag = "deadlines",
    summary = "Deadlines of a case, or a county's open deadlines due soon (the board)",
    params(DeadlinesQuery),
    responses((status = 200, description = "{deadlines: [...]}", body = Object),
        (status = 404, description = "The case number names no county")))]
async fn list_deadlines(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<DeadlinesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(case) = q.case_no.as_deref().filter(|c| !c.trim().is_empty()) {
        case_no(case)?;
        may_read(&s.pool, &who, case).await?;
        return Ok(Json(
            json!({"deadlines": store::for_case(&s.pool, case).await?}),
        ));
    }
    // One county, or (for a caller whose scope is the city) every served county of it.
    let mut counties: Vec<CountyCode> =
        match q.county.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => {
                let c = CountyCode::parse(c)?;
                if !s.served.iter().any(|x| x == c.as_str()) {
                    return Err(ValidationError::new(
                        "county",
                        "not_served",
                        "is not a county this deployment serves",
                    )
                    .into());
                }
                vec![c]
            }
            None => served_in_scope(&s.served, &who),
        };
    if counties.is_empty() {
        return Err(forbid(access::Denied(
            "no county of this deployment is in the caller's scope",
        )));
    }
    // A department also owns the clocks it holds on other counties' matters (`<its county>:<code>`).
    let mut own_organ: Option<String> = None;
    let department = match (who.role, q.department.as_deref().map(str::trim)) {
        (Role::Department, asked) => {
            let own = who.department.clone().unwrap_or_default();
            if asked.is_some_and(|d| !d.is_empty() && d != own) {
                return Err(forbid(access::Denied(
                    "a department sees only its own deadlines",
                )));
            }
            // Its own county's clocks, and its own clocks on other counties' matters.
            counties.retain(|c| c == &who.scope);
            for county in &counties {
                access::act_as_department(&who, county, &own).map_err(forbid)?;
            }
            own_organ = Some(format!("{}:{own}", who.scope));
            Some(own)
        }
        (_, d) => {
            for county in &counties {
                access::supervise(&who, county).map_err(forbid)?;
            }
            match d.filter(|d| !d.is_empty()) {
                Some(d) => {
                    department_code(d)?;
                    Some(d.to_owned())
                }
                None => None,
            }
        }
    };
    let within = q.within_days.unwrap_or(3);
    if within > 366 {
        return Err(
            ValidationError::new("within_days", "range", "must be between 0 and 366").into(),
        );
    }
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ValidationError::new("limit", "range", "must be between 1 and 1000").into());
    }
    let before = s.clock.now() + chrono::Duration::days(i64::from(within));
    let counties: Vec<String> = counties.iter().map(|c| c.to_string()).collect();
    let rows = store::open_in_counties(
        &s.pool,
        &counties,
        department.as_deref(),
        own_organ.as_deref(),
        before,
        i64::from(limit),
    )
    .await?;
    Ok(Json(json!({"deadlines": rows})))
}

#[utoipa::path(get, path = "/v1/stats", tag = "stats",
    summary = "KPIs (domain.md §11) per county, department and period",
    params(
        ("county" = Option<String>, Query, pattern = "^[0-9]{6}$", description = "A served county; all by default"),
        ("dept" = Option<String>, Query, description = "A department code; all by default"),
        ("from" = Option<String>, Query, format = Date, description = "First day of the period"),
        ("to" = Option<String>, Query, format = Date, description = "Last day of the period"),
        ("source" = Option<String>, Query, description = "Only matters from this source (GET /v1/sources)"),
        ("listed" = Option<bool>, Query, description = "true: only listed matters (清单)"),
        ("leader" = Option<String>, Query, description = "Only the cases this leader owns (包案)"),
    ),
    responses((status = 200, description = "The KPI report", body = Object)))]
async fn get_stats(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let county = q
        .county
        .as_deref()
        .and_then(|c| CountyCode::parse(c).ok())
        .unwrap_or_else(|| who.scope.clone());
    if s.served.iter().any(|c| c == county.as_str()) || q.county.is_none() {
        access::supervise(&who, &county).map_err(forbid)?;
    }
    // Without a county the report covers every served county: only for a caller whose scope
    // is the city. A county's supervisor gets their own county.
    let mut q = q;
    if q.county.as_deref().is_none_or(|c| c.trim().is_empty()) && !who.scope.is_city() {
        q.county = Some(who.scope.to_string());
    }
    let now = s.clock.now();
    let period = q.validate(&s.served, now)?;
    let k = stats::compute(
        &s.pool,
        &period,
        now,
        s.rules.settings.basically_satisfied_counts,
    )
    .await?;
    let mut body = serde_json::to_value(&k).map_err(anyhow::Error::from)?;
    if period.subset != stats::Subset::default() {
        body["subset"] = json!(period.subset);
    }
    Ok(Json(body))
}

/// `GET /v1/stats/comparison`: which months.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ComparisonQuery {
    /// The last month compared, `YYYY-MM` (default: this month, up to today).
    #[param(value_type = Option<String>, pattern = "^[0-9]{4}-[0-9]{2}$")]
    to: Option<String>,
    /// How many months, 1–12 (default 6).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 12)]
    months: Option<u32>,
}

#[utoipa::path(get, path = "/v1/stats/comparison", tag = "stats",
    summary = "县区对比: the served counties in the caller's scope on the KPIs and on 导入法定途径, month by month, ranked",
    params(ComparisonQuery),
    responses((status = 200, description = "{months, metrics, rows: [{county, month, figures…, ranks}]}", body = Object)))]
async fn get_comparison(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<ComparisonQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let counties = served_in_scope(&s.served, &who);
    if counties.is_empty() {
        return Err(forbid(access::Denied(
            "no county of this deployment is in the caller's scope",
        )));
    }
    for c in &counties {
        access::supervise(&who, c).map_err(forbid)?;
    }
    let n = q.months.unwrap_or(6);
    if !(1..=12).contains(&n) {
        return Err(ValidationError::new("months", "range", "must be between 1 and 12").into());
    }
    let now = s.clock.now();
    let today =
        xinfang_domain::deadline::cst_date(now.with_timezone(&xinfang_domain::deadline::CST));
    let last = match q.to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => today,
        Some(t) => {
            let first = chrono::NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d")
                .map_err(|_| ValidationError::new("to", "month", "must be a month as YYYY-MM"))?;
            if first > today {
                return Err(
                    ValidationError::new("to", "future", "must not be after this month").into(),
                );
            }
            // The month's last day, or today within the current month.
            first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(first)
                .min(today)
        }
    };
    let periods = crate::comparison::months(last, n);
    let codes: Vec<String> = counties.iter().map(|c| c.to_string()).collect();
    let rows = crate::comparison::compare(
        &s.pool,
        &codes,
        &periods,
        now,
        s.rules.settings.basically_satisfied_counts,
    )
    .await?;
    let metrics: Vec<Value> = crate::comparison::METRICS
        .iter()
        .map(|(key, zh, higher)| json!({"key": key, "name": zh, "higher_is_better": higher}))
        .collect();
    Ok(Json(json!({
        "months": periods.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        "counties": codes,
        "metrics": metrics,
        "rows": rows,
    })))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "xinfang supervision API",
        description = "督办 (supervision) of departments, the deadlines of a case and the KPIs."
    ),
    paths(
        issue,
        list_supervisions,
        show_supervision,
        respond,
        list_deadlines,
        get_stats,
        get_comparison
    )
)]
struct ApiDoc;

/// The document, completed with the platform's statuses and error schema.
pub fn openapi_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.merge(crate::listed::api::openapi());
        doc.merge(crate::practices::openapi());
        doc.merge(crate::weekly::openapi());
        xinfang_platform::api_doc::complete(&doc, routes().routes())
    })
}

async fn openapi() -> Json<Value> {
    Json(openapi_document().clone())
}
