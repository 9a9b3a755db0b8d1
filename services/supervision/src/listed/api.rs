//! Listed matters over HTTP:
//! - `GET /v1/sources` the configured case sources and which are listed.
//! - `POST /v1/listed` lists a case (a matter handed down after it was registered).
//! - `GET /v1/listed?source=&county=&closed=` the list per source, each item with its
//!   milestones, latest progress, open clocks and flags.
//! - `GET /v1/listed/kpis?source=&county=` the listed matters' own KPIs per source.
//! - `GET /v1/listed/{case_no}` one item with all its progress entries.
//! - `POST /v1/listed/{case_no}/milestones`, `…/milestones/{milestone_id}/done`, `…/progress`, `…/close`.
//!
//! Supervisors, clerks and operators of the matter's county list matters and keep milestones;
//! the handling department reads its own matters one by one and enters their weekly progress.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;
use xinfang_domain::access::{self, Principal, Role};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::CST;
use xinfang_domain::validation::{ValidationError, text};
use xinfang_platform::auth::Caller;
use xinfang_platform::http_json::{ApiQuery, JsonBody};
use xinfang_platform::outbox::Batch;
use xinfang_platform::route_table::{Access, RouteTable, Verb};

use super::store::{self, Filter, NewListing, NewMilestone};
use crate::api::{ApiState, required};
use crate::error::ApiError;

pub fn routes(t: RouteTable<ApiState>) -> RouteTable<ApiState> {
    t.route(Verb::Get, "/v1/sources", Access::Staff, sources)
        .route(Verb::Post, "/v1/listed", Access::Staff, list_case)
        .route(Verb::Get, "/v1/listed", Access::Staff, list_matters)
        .route(Verb::Get, "/v1/listed/kpis", Access::Staff, kpis)
        .route(Verb::Get, "/v1/listed/{case_no}", Access::Staff, show)
        .route(
            Verb::Post,
            "/v1/listed/{case_no}/milestones",
            Access::Staff,
            add_milestone,
        )
        .route(
            Verb::Post,
            "/v1/listed/{case_no}/milestones/{milestone_id}/done",
            Access::Staff,
            milestone_done,
        )
        .route(
            Verb::Post,
            "/v1/listed/{case_no}/progress",
            Access::Staff,
            add_progress,
        )
        .route(
            Verb::Post,
            "/v1/listed/{case_no}/close",
            Access::Staff,
            close,
        )
}

#[derive(OpenApi)]
#[openapi(paths(
    sources,
    list_case,
    list_matters,
    kpis,
    show,
    add_milestone,
    milestone_done,
    add_progress,
    close
))]
struct Doc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Doc::openapi()
}

fn forbid(d: access::Denied) -> ApiError {
    ApiError::Forbidden(d.to_string())
}

fn case_county(case_no: &str) -> Result<CountyCode, ValidationError> {
    if !xinfang_domain::case_no::is_case_no(case_no) {
        return Err(ValidationError::new(
            "case_no",
            "case_number",
            "must be a case number such as XF-411282-2026-000001",
        ));
    }
    xinfang_domain::case_no::county_of(case_no)
        .ok_or_else(|| ValidationError::new("case_no", "case_number", "names no valid county"))
}

/// A due date: `YYYY-MM-DD` (end of that day, China time) or RFC 3339; within five years.
fn due(field: &str, raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ValidationError> {
    let at = if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        d.and_hms_opt(23, 59, 59)
            .and_then(|t| CST.from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
    } else {
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let at = at.ok_or_else(|| {
        ValidationError::new(
            field,
            "date",
            "must be a date YYYY-MM-DD or an RFC 3339 time",
        )
    })?;
    if at < now - chrono::TimeDelta::days(366) || at > now + chrono::TimeDelta::days(5 * 366) {
        return Err(ValidationError::new(
            field,
            "range",
            "must be within a year before and five years after today",
        ));
    }
    Ok(at)
}

/// The lists, their KPIs and the sources are the bureau's: a department reads (and reports
/// progress on) the listed matters it handles one by one, `GET /v1/listed/{case_no}`.
fn bureau_only(who: &Principal) -> Result<(), ApiError> {
    if who.role == Role::Department {
        return Err(ApiError::Forbidden(
            "the lists of listed matters are the bureau's; a department reads its own matter by case number".into(),
        ));
    }
    Ok(())
}

/// Who may list matters and keep their milestones.
fn may_manage(who: &Principal, county: &CountyCode) -> Result<(), ApiError> {
    access::supervise(who, county)
        .or_else(|_| access::register(who, county))
        .map_err(forbid)
}

/// A listed matter of a served county, for reading: 404 when it is not listed.
async fn find(s: &ApiState, who: &Principal, case_no: &str) -> Result<store::ListedItem, ApiError> {
    let county = case_county(case_no).map_err(|_| ApiError::NotFound("listed matter"))?;
    if !access::covers(&who.scope, &county) {
        return Err(ApiError::Forbidden(
            "the case is outside the caller's county".into(),
        ));
    }
    let f = Filter {
        counties: vec![county.to_string()],
        include_closed: true,
        case_no: Some(case_no.to_owned()),
        ..Filter::default()
    };
    let item = store::read(&s.pool, &s.rules, &f, s.clock.now())
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("listed matter"))?;
    if who.role == Role::Department
        && (who.scope != county || item.matter.department != who.department)
    {
        return Err(ApiError::Forbidden(
            "a department sees only the matters it handles".into(),
        ));
    }
    Ok(item)
}

#[utoipa::path(get, path = "/v1/sources", tag = "listed",
    summary = "Case sources (信访事项来源) and which make a listed matter (清单)",
    responses((status = 200, description = "The configured sources", body = Object)))]
async fn sources(
    State(s): State<ApiState>,
    Caller(who): Caller,
) -> Result<impl IntoResponse, ApiError> {
    bureau_only(&who)?;
    counties_for(&s, &who, None)?;
    Ok(Json(json!({ "sources": s.rules.sources.all() })))
}

/// `POST /v1/listed`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    #[schema(value_type = String, required = true, example = "XF-411282-2026-000001")]
    pub case_no: Option<String>,
    /// A listed source code (`GET /v1/sources`).
    #[schema(value_type = String, required = true, example = "provincial_joint")]
    pub source: Option<String>,
    /// Short title (default: from the case); at most 100 characters.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub title: Option<String>,
    /// Milestones (default: the configured ones); at most 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub milestones: Vec<MilestoneRequest>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneRequest {
    #[schema(value_type = String, required = true, max_length = 100, example = "调查核实")]
    pub name: Option<String>,
    /// `YYYY-MM-DD` (the end of that day, China time) or an RFC 3339 time.
    #[schema(value_type = String, required = true, example = "2027-01-15")]
    pub due: Option<String>,
}

impl MilestoneRequest {
    fn validate(&self, at: &str, now: DateTime<Utc>) -> Result<NewMilestone, ValidationError> {
        let name = text(
            &format!("{at}.name"),
            required(&format!("{at}.name"), &self.name)?,
            100,
        )?;
        let due_at = due(
            &format!("{at}.due"),
            required(&format!("{at}.due"), &self.due)?,
            now,
        )?;
        Ok(NewMilestone { name, due_at })
    }
}

#[utoipa::path(post, path = "/v1/listed", tag = "listed",
    summary = "List a case as a listed matter (清单化管理) of a source",
    request_body = ListRequest,
    responses((status = 201, description = "The listed matter", body = Object),
              (status = 200, description = "Already listed from that source", body = Object),
              (status = 404, description = "Supervision has not heard of the case"),
              (status = 409, description = "Already listed from another source")))]
async fn list_case(
    State(s): State<ApiState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<ListRequest>,
) -> Result<axum::response::Response, ApiError> {
    let case_no = required("case_no", &req.case_no)?.to_owned();
    let county = case_county(&case_no)?;
    if !s.served.iter().any(|c| c == county.as_str()) {
        return Err(ValidationError::new(
            "case_no",
            "not_served",
            "names a county this deployment does not serve",
        )
        .into());
    }
    may_manage(&who, &county)?;
    let source = s
        .rules
        .sources
        .parse("source", Some(required("source", &req.source)?))?
        .clone();
    if !source.listed {
        return Err(ValidationError::new(
            "source",
            "not_listed",
            format!("`{}` is not a listed source", source.code),
        )
        .into());
    }
    let now = s.clock.now();
    if req.milestones.len() > 20 {
        return Err(ValidationError::new("milestones", "too_many", "at most 20 milestones").into());
    }
    let mut milestones = Vec::with_capacity(req.milestones.len());
    for (i, m) in req.milestones.iter().enumerate() {
        milestones.push(m.validate(&format!("milestones[{i}]"), now)?);
    }
    let title = match req
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(t) => text("title", t, 100)?,
        None => String::new(),
    };
    // The case must be known here (its registration reached supervision).
    let known: Option<Option<String>> =
        sqlx::query_scalar("select source from cases where case_no = $1")
            .bind(&case_no)
            .fetch_optional(&s.pool)
            .await?;
    if known.is_none() {
        return Err(ApiError::NotFound("case"));
    }
    let existing: Option<String> =
        sqlx::query_scalar("select source from listed_matters where case_no = $1")
            .bind(&case_no)
            .fetch_optional(&s.pool)
            .await?;
    match existing {
        Some(src) if src == source.code => {
            let item = find(&s, &who, &case_no).await?;
            return Ok((StatusCode::OK, Json(item)).into_response());
        }
        Some(src) => {
            return Ok((
                StatusCode::CONFLICT,
                Json(
                    json!({"error": {"code": "already_listed", "field": "source",
                    "message": format!("the case is already listed from `{src}`")}}),
                ),
            )
                .into_response());
        }
        None => {}
    }
    let milestones = if milestones.is_empty() {
        store::default_milestones(&s.rules, now)
    } else {
        milestones
    };
    let title = if title.is_empty() {
        format!("{}：{}", source.name, case_no)
    } else {
        title
    };
    let listing = NewListing {
        case_no: case_no.clone(),
        county: county.to_string(),
        source: source.code.clone(),
        title,
        at: now,
        by: access::recorded_as(&who),
        milestones,
    };
    let mut tx = s.pool.begin().await?;
    let mut events = Batch::default();
    store::list(&mut tx, &listing, Some(&mut events)).await?;
    events.write(&mut tx).await?;
    tx.commit().await?;
    let item = find(&s, &who, &case_no).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

/// `GET /v1/listed` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListedQuery {
    /// A served county (default: every county in the caller's scope).
    #[param(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    /// One source's list.
    #[param(value_type = Option<String>)]
    pub source: Option<String>,
    /// `true`: closed matters too.
    #[param(value_type = Option<bool>)]
    pub closed: Option<String>,
}

fn counties_for(
    s: &ApiState,
    who: &Principal,
    county: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    match county.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => {
            let code = CountyCode::parse(c)?;
            if !s.served.iter().any(|x| x == c) {
                return Err(ValidationError::new(
                    "county",
                    "not_served",
                    "is not a county this deployment serves",
                )
                .into());
            }
            if !access::covers(&who.scope, &code) {
                return Err(ApiError::Forbidden(
                    "the county is outside the caller's scope".into(),
                ));
            }
            Ok(vec![c.to_owned()])
        }
        None => {
            let mine: Vec<String> = s
                .served
                .iter()
                .filter(|c| CountyCode::parse(c).is_ok_and(|c| access::covers(&who.scope, &c)))
                .cloned()
                .collect();
            if mine.is_empty() {
                return Err(ApiError::Forbidden(
                    "the caller's county is not served here".into(),
                ));
            }
            Ok(mine)
        }
    }
}

fn source_filter(s: &ApiState, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => Ok(Some(s.rules.sources.parse("source", Some(r))?.code.clone())),
    }
}

#[utoipa::path(get, path = "/v1/listed", tag = "listed",
    summary = "Listed matters per source, with milestones, latest weekly progress and open clocks",
    params(ListedQuery),
    responses((status = 200, description = "The lists, one per source", body = Object)))]
async fn list_matters(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<ListedQuery>,
) -> Result<impl IntoResponse, ApiError> {
    bureau_only(&who)?;
    let counties = counties_for(&s, &who, q.county.as_deref())?;
    let include_closed = match q.closed.as_deref().map(str::trim) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ValidationError::new("closed", "boolean", "must be true or false").into());
        }
    };
    let f = Filter {
        counties,
        source: source_filter(&s, q.source.as_deref())?,
        department: None,
        include_closed,
        case_no: None,
    };
    let items = store::read(&s.pool, &s.rules, &f, s.clock.now()).await?;
    // One list per listed source, in configured order.
    let lists: Vec<serde_json::Value> = s
        .rules
        .sources
        .listed()
        .filter(|src| f.source.as_deref().is_none_or(|x| x == src.code))
        .map(|src| {
            let mine: Vec<&store::ListedItem> = items
                .iter()
                .filter(|i| i.matter.source == src.code)
                .collect();
            json!({"source": src.code, "name": src.name, "count": mine.len(), "items": mine})
        })
        .collect();
    Ok(Json(json!({
        "week": store::iso_week(s.clock.now()),
        "lists": lists,
    })))
}

#[utoipa::path(get, path = "/v1/listed/kpis", tag = "listed",
    summary = "Listed matters' own KPIs per source: milestones on time, weekly progress, 督办",
    params(ListedQuery),
    responses((status = 200, description = "Per source", body = Object)))]
async fn kpis(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<ListedQuery>,
) -> Result<impl IntoResponse, ApiError> {
    bureau_only(&who)?;
    let counties = counties_for(&s, &who, q.county.as_deref())?;
    let source = source_filter(&s, q.source.as_deref())?;
    let now = s.clock.now();
    let rows = store::kpis(&s.pool, &counties, source.as_deref(), now).await?;
    Ok(Json(json!({
        "week": store::iso_week(now),
        "as_of": now,
        "sources": rows,
    })))
}

#[utoipa::path(get, path = "/v1/listed/{case_no}", tag = "listed",
    summary = "One listed matter with its milestones and every weekly progress entry",
    params(("case_no" = String, Path, description = "The case number")),
    responses((status = 200, description = "The listed matter", body = Object),
              (status = 404, description = "The case is not a listed matter")))]
async fn show(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let item = find(&s, &who, &case_no).await?;
    let progress = store::progress_of(&s.pool, &case_no).await?;
    let mut v = serde_json::to_value(&item).map_err(anyhow::Error::from)?;
    v["progress"] = json!(progress);
    Ok(Json(v))
}

#[utoipa::path(post, path = "/v1/listed/{case_no}/milestones", tag = "listed",
    summary = "Add a milestone to a listed matter",
    params(("case_no" = String, Path, description = "The case number")),
    request_body = MilestoneRequest,
    responses((status = 201, description = "The listed matter", body = Object),
              (status = 404, description = "The case is not a listed matter")))]
async fn add_milestone(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    JsonBody(req): JsonBody<MilestoneRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let item = find(&s, &who, &case_no).await?;
    may_manage(&who, &CountyCode::parse(&item.matter.county)?)?;
    if item.milestones.len() >= 20 {
        return Err(ValidationError::new("name", "too_many", "at most 20 milestones").into());
    }
    let now = s.clock.now();
    let m = MilestoneRequest {
        name: req.name,
        due: req.due,
    };
    // Field names as the request spells them.
    let name = text("name", required("name", &m.name)?, 100)?;
    let due_at = due("due", required("due", &m.due)?, now)?;
    let position = item
        .milestones
        .iter()
        .map(|m| m.position)
        .max()
        .unwrap_or(-1)
        + 1;
    let mut conn = s.pool.acquire().await?;
    store::add_milestone(
        &mut conn,
        &case_no,
        position,
        &NewMilestone { name, due_at },
        now,
    )
    .await?;
    drop(conn);
    Ok((StatusCode::CREATED, Json(find(&s, &who, &case_no).await?)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoneRequest {
    /// What was done; at most 2000 characters.
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/v1/listed/{case_no}/milestones/{milestone_id}/done", tag = "listed",
    summary = "Mark a milestone reached",
    params(("case_no" = String, Path, description = "The case number"),
           ("milestone_id" = String, Path, description = "The milestone id")),
    request_body = DoneRequest,
    responses((status = 200, description = "The listed matter", body = Object),
              (status = 404, description = "No such listed matter or milestone"),
              (status = 409, description = "Already marked done")))]
async fn milestone_done(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path((case_no, id)): Path<(String, String)>,
    JsonBody(req): JsonBody<DoneRequest>,
) -> Result<axum::response::Response, ApiError> {
    let item = find(&s, &who, &case_no).await?;
    may_manage(&who, &CountyCode::parse(&item.matter.county)?)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("milestone"))?;
    let Some(m) = item.milestones.iter().find(|m| m.id == id) else {
        return Err(ApiError::NotFound("milestone"));
    };
    if m.done_at.is_some() {
        return Ok((
            StatusCode::CONFLICT,
            Json(json!({"error": {"code": "already_done",
                "message": "the milestone is already marked done"}})),
        )
            .into_response());
    }
    let note = match req.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => Some(text("note", n, 2000)?),
        None => None,
    };
    sqlx::query(
        "update listed_milestones set done_at = $2, done_by = $3, note = $4
         where id = $1 and done_at is null",
    )
    .bind(id)
    .bind(s.clock.now())
    .bind(access::recorded_as(&who))
    .bind(note)
    .execute(&s.pool)
    .await?;
    Ok(Json(find(&s, &who, &case_no).await?).into_response())
}

/// `POST /v1/listed/{case_no}/progress`: this week's entry (项目化推进).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressRequest {
    /// Who reports (a person or office); at most 64 characters.
    #[schema(value_type = String, required = true, max_length = 64, example = "县人社局监察大队")]
    pub who: Option<String>,
    /// What was done this week; at most 2000 characters.
    #[schema(value_type = String, required = true, max_length = 2000)]
    pub done: Option<String>,
    /// The next step; at most 2000 characters.
    #[schema(value_type = String, required = true, max_length = 2000)]
    pub next_step: Option<String>,
    /// When the next step is due, `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date)]
    pub due: Option<String>,
}

#[utoipa::path(post, path = "/v1/listed/{case_no}/progress", tag = "listed",
    summary = "Record this week's progress on a listed matter (one entry per week; a second replaces it)",
    params(("case_no" = String, Path, description = "The case number")),
    request_body = ProgressRequest,
    responses((status = 201, description = "The listed matter with its progress", body = Object),
              (status = 404, description = "The case is not a listed matter")))]
async fn add_progress(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    JsonBody(req): JsonBody<ProgressRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // `find` lets a department through only for its own matters.
    let item = find(&s, &who, &case_no).await?;
    if who.role != Role::Department {
        may_manage(&who, &CountyCode::parse(&item.matter.county)?)?;
    }
    if item.matter.closed_at.is_some() {
        return Err(
            ValidationError::new("case_no", "closed", "the listed matter is closed").into(),
        );
    }
    let reporter = text("who", required("who", &req.who)?, 64)?;
    let done = text("done", required("done", &req.done)?, 2000)?;
    let next_step = text("next_step", required("next_step", &req.next_step)?, 2000)?;
    let due_on = match req.due.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            ValidationError::new("due", "date", "must be a date in the form YYYY-MM-DD")
        })?),
    };
    let now = s.clock.now();
    let week = store::iso_week(now);
    sqlx::query(
        "insert into listed_progress (id, case_no, week, who, done, next_step, due, at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (case_no, week) do update set who = $4, done = $5, next_step = $6,
             due = $7, at = $8",
    )
    .bind(Uuid::now_v7())
    .bind(&case_no)
    .bind(&week)
    .bind(&reporter)
    .bind(&done)
    .bind(&next_step)
    .bind(due_on)
    .bind(now)
    .execute(&s.pool)
    .await?;
    let item = find(&s, &who, &case_no).await?;
    let mut v = serde_json::to_value(&item).map_err(anyhow::Error::from)?;
    v["progress"] = json!(store::progress_of(&s.pool, &case_no).await?);
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(post, path = "/v1/listed/{case_no}/close", tag = "listed",
    summary = "Close a listed matter (its handling is finished and reported back)",
    params(("case_no" = String, Path, description = "The case number")),
    request_body = DoneRequest,
    responses((status = 200, description = "The listed matter", body = Object),
              (status = 404, description = "The case is not a listed matter")))]
async fn close(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    JsonBody(req): JsonBody<DoneRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let item = find(&s, &who, &case_no).await?;
    may_manage(&who, &CountyCode::parse(&item.matter.county)?)?;
    if let Some(n) = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        text("note", n, 2000)?;
    }
    sqlx::query(
        "update listed_matters set closed_at = $2 where case_no = $1 and closed_at is null",
    )
    .bind(&case_no)
    .bind(s.clock.now())
    .execute(&s.pool)
    .await?;
    Ok(Json(find(&s, &who, &case_no).await?))
}
