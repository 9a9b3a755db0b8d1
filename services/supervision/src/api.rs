//! HTTP API:
//! - `POST /v1/supervisions` issues a 督办 by hand; its response deadline is tracked.
//! - `GET /v1/supervisions?case_no=` lists a case's 督办 records.
//! - `POST /v1/supervisions/{id}/response` records the department's answer.
//! - `GET /v1/deadlines?case_no=` lists a case's clocks.
//! - `GET /v1/stats?county=&dept=&from=&to=` the KPIs ([`crate::stats`]).
//! - `GET /v1/openapi.json` describes the above.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;
use xinfang_domain::access::{self, Principal, Role};
use xinfang_domain::county::CountyCode;
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::{Auth, Caller};

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

fn forbid(d: access::Denied) -> ApiError {
    ApiError::Forbidden(d.to_string())
}

/// Reading a case's deadlines and 督办 records: anyone whose scope covers its county.
fn may_read(who: &Principal, county: &CountyCode) -> Result<(), ApiError> {
    if access::covers(&who.scope, county) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the case is outside the caller's county".into(),
        ))
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/supervisions", post(issue).get(list_supervisions))
        .route("/v1/supervisions/{id}/response", post(respond))
        .route("/v1/deadlines", get(list_deadlines))
        .route("/v1/stats", get(get_stats))
        .route("/v1/openapi.json", get(openapi))
        .with_state(state)
}

/// `POST /v1/supervisions` body. Every field is checked and errors name it.
#[derive(Debug, Default, Deserialize)]
pub struct IssueRequest {
    pub case_no: Option<String>,
    /// Optional: taken from the case number (`XF-<county>-...`) when absent.
    pub county: Option<String>,
    pub department: Option<String>,
    /// written_notice | summons | on_site | joint
    pub form: Option<String>,
    pub issuer: Option<String>,
    pub note: Option<String>,
    /// RFC 3339 time the department must answer by.
    pub respond_by: Option<String>,
}

fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, ValidationError> {
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
        xinfang_domain::subject::token("department", department).map_err(|_| {
            ValidationError::new(
                "department",
                "department_code",
                "must be a department code: lowercase ASCII letters, digits or '_'",
            )
        })?;
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

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde's message names the position and expected type, never the value.
        ApiError::BadJson(e.to_string())
    })
}

async fn issue(
    State(s): State<ApiState>,
    Caller(who): Caller,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let req: IssueRequest = parse_body(&body)?;
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

#[derive(Debug, Deserialize)]
struct CaseQuery {
    case_no: Option<String>,
}

async fn list_supervisions(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Query(q): Query<CaseQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let case = required("case_no", &q.case_no)?;
    case_no(case)?;
    may_read(&who, &county_of(Some(case), &who))?;
    Ok(Json(
        json!({"supervisions": supervise::for_case(&s.pool, case).await?}),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct RespondRequest {
    response: Option<String>,
}

async fn respond(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    body: Bytes,
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
    let req: RespondRequest = parse_body(&body)?;
    let response = required("response", &req.response)?;
    plain_text("response", response, 2000)?;
    let mut tx = s.pool.begin().await?;
    if !supervise::respond(&mut tx, id, response, s.clock.now()).await? {
        return Err(ApiError::NotFound("supervision"));
    }
    tx.commit().await?;
    Ok(Json(json!({"id": id, "responded": true})))
}

async fn list_deadlines(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Query(q): Query<CaseQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let case = required("case_no", &q.case_no)?;
    case_no(case)?;
    may_read(&who, &county_of(Some(case), &who))?;
    Ok(Json(
        json!({"deadlines": store::for_case(&s.pool, case).await?}),
    ))
}

async fn get_stats(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Query(q): Query<StatsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let county = q
        .county
        .as_deref()
        .and_then(|c| CountyCode::parse(c).ok())
        .unwrap_or_else(|| who.scope.clone());
    if s.served.iter().any(|c| c == county.as_str()) || q.county.is_none() {
        access::supervise(&who, &county).map_err(forbid)?;
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
    Ok(Json(k))
}

async fn openapi() -> impl IntoResponse {
    let err = json!({"$ref": "#/components/schemas/Error"});
    Json(json!({
        "openapi": "3.0.3",
        "info": {"title": "xinfang supervision", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/v1/supervisions": {
                "post": {
                    "summary": "Issue a 督办 (written_notice, summons, on_site, joint); its response deadline is tracked",
                    "requestBody": {"content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["case_no", "department", "form", "issuer", "respond_by"],
                        "properties": {
                            "case_no": {"type": "string"}, "county": {"type": "string"},
                            "department": {"type": "string"},
                            "form": {"type": "string", "enum": FORMS},
                            "issuer": {"type": "string", "maxLength": 64},
                            "note": {"type": "string", "maxLength": 2000},
                            "respond_by": {"type": "string", "format": "date-time"}
                        }}}}},
                    "responses": {"201": {"description": "created"}, "400": {"content": {"application/json": {"schema": err}}},
                                  "422": {"content": {"application/json": {"schema": err}}}}
                },
                "get": {"summary": "督办 records of a case",
                        "parameters": [{"name": "case_no", "in": "query", "required": true, "schema": {"type": "string"}}],
                        "responses": {"200": {"description": "ok"}}}
            },
            "/v1/supervisions/{id}/response": {
                "post": {"summary": "Record the department's response; closes the response deadline",
                         "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                         "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["response"],
                             "properties": {"response": {"type": "string", "maxLength": 2000}}}}}},
                         "responses": {"200": {"description": "ok"}, "404": {"content": {"application/json": {"schema": err}}}}}
            },
            "/v1/deadlines": {
                "get": {"summary": "Deadlines of a case",
                        "parameters": [{"name": "case_no", "in": "query", "required": true, "schema": {"type": "string"}}],
                        "responses": {"200": {"description": "ok"}}}
            },
            "/v1/stats": {
                "get": {"summary": "KPIs (domain.md §11) per county, department and period",
                        "parameters": [
                            {"name": "county", "in": "query", "schema": {"type": "string"}},
                            {"name": "dept", "in": "query", "schema": {"type": "string"}},
                            {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                            {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}}],
                        "responses": {"200": {"description": "ok"}, "422": {"content": {"application/json": {"schema": err}}}}}
            }
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}}}}}
    }))
}
