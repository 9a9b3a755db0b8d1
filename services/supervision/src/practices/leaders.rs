//! Leaders kept by a bureau (a county's, or the city's) and the cases they own (领导包案):
//! `cases.leader`, published as `case.leader_assigned`; a leader's cases are listed with their
//! open clocks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use xinfang_domain::access::recorded_as;
use xinfang_domain::county::CountyCode;
use xinfang_domain::practice_events::{LeaderAssigned, kind};
use xinfang_domain::practices::{self, NAME_MAX, TITLE_MAX};
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::Caller;
use xinfang_platform::http_json::{ApiQuery, JsonBody};
use xinfang_platform::outbox::Batch;

use super::advisers::flag;
use super::events::{fact_event_id, push_case_event};
use super::guard::{bureau_staff, known_case, listing_counties, read_roster};
use super::input::{self, county_of_case, required};
use crate::api::ApiState;
use crate::error::ApiError;

/// A leader of the roster.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct LeaderView {
    pub id: String,
    pub name: String,
    pub title: String,
    pub county: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) async fn by_id(pool: &PgPool, id: &str) -> sqlx::Result<Option<LeaderView>> {
    sqlx::query_as(
        "select id, name, title, county, active, created_at, updated_at from leaders where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A leader id from the path: 404 for anything that cannot be one.
fn path_id(raw: &str) -> Result<&str, ApiError> {
    practices::leader_id("leader_id", raw)
        .map(|_| raw)
        .map_err(|_| ApiError::NotFound("leader"))
}

/// `POST /v1/leaders`: creates the leader, or updates the one with this id.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LeaderRequest {
    /// A slug: lowercase ASCII letters, digits, `_` or `-`, starting with a letter.
    #[schema(value_type = String, required = true, max_length = 32, pattern = "^[a-z][a-z0-9_-]*$", example = "wang_fxz")]
    pub id: Option<String>,
    #[schema(value_type = String, required = true, max_length = 50)]
    pub name: Option<String>,
    /// e.g. 副县长
    #[schema(value_type = String, required = true, max_length = 50)]
    pub title: Option<String>,
    /// The bureau's county (a served county or the city); the caller's scope by default.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    /// `false` takes the leader off the roster.
    pub active: Option<bool>,
}

#[utoipa::path(post, path = "/v1/leaders", tag = "practices",
    summary = "Put a leader on the bureau's roster, or update one",
    request_body = LeaderRequest,
    responses((status = 201, description = "Created", body = LeaderView),
        (status = 200, description = "Updated", body = LeaderView)))]
pub async fn upsert(
    State(s): State<ApiState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<LeaderRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let county = input::served_county("county", req.county.as_deref(), &who.scope, &s.served);
    if let Ok(c) = &county {
        bureau_staff(&who, c)?;
    }
    let county = county?;
    let id = required("id", &req.id)?;
    practices::leader_id("id", id)?;
    let name = practices::one_line("name", required("name", &req.name)?, NAME_MAX)?;
    let title = practices::one_line("title", required("title", &req.title)?, TITLE_MAX)?;
    if let Some(existing) = by_id(&s.pool, id).await? {
        let theirs =
            CountyCode::parse(&existing.county).map_err(|e| ApiError::Internal(e.into()))?;
        bureau_staff(&who, &theirs)?;
        if existing.county != county.as_str() {
            return Err(ValidationError::new(
                "county",
                "immutable",
                "a leader stays on the roster of the county that first kept them",
            )
            .into());
        }
    }
    let now = s.clock.now();
    let created: bool = sqlx::query_scalar(
        "insert into leaders (id, name, title, county, active, created_at, updated_at)
         values ($1, $2, $3, $4, coalesce($5, true), $6, $6)
         on conflict (id) do update set name = excluded.name, title = excluded.title,
            active = coalesce($5, leaders.active), updated_at = excluded.updated_at
         returning (xmax = 0)",
    )
    .bind(id)
    .bind(&name)
    .bind(&title)
    .bind(county.as_str())
    .bind(req.active)
    .bind(now)
    .fetch_one(&s.pool)
    .await?;
    let l = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("leader"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(l)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadersQuery {
    /// One roster (a served county or the city); default every served county in scope.
    #[param(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    /// Only active (`true`) or inactive (`false`) leaders.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
}

#[utoipa::path(get, path = "/v1/leaders", tag = "practices",
    summary = "The bureau's leaders",
    params(LeadersQuery),
    responses((status = 200, description = "{leaders: [...]}", body = Object)))]
pub async fn list(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<LeadersQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let counties = listing_counties(&s.served, &who, q.county.as_deref())?;
    let active = flag("active", q.active.as_deref())?;
    let rows: Vec<LeaderView> = sqlx::query_as(
        "select id, name, title, county, active, created_at, updated_at from leaders
         where county = any($1) and ($2::bool is null or active = $2)
         order by county, id",
    )
    .bind(&counties)
    .bind(active)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(json!({"leaders": rows})))
}

/// `POST /v1/leaders/{leader_id}/cases` and `POST /v1/reception-days/{id}/cases`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CaseRequest {
    #[schema(value_type = String, required = true, max_length = 64, example = "XF-411282-2026-000001")]
    pub case_no: Option<String>,
}

/// A leader who may take on a matter of `county`: active, of its roster or its city's.
pub(super) fn serving(
    l: &LeaderView,
    county: &CountyCode,
    field: &str,
) -> Result<(), ValidationError> {
    practices::may_serve(
        l.active,
        &l.county,
        county,
        field,
        "is a leader no longer on the roster",
        "is a leader of a county that does not cover this matter",
    )
}

#[utoipa::path(post, path = "/v1/leaders/{leader_id}/cases", tag = "practices",
    summary = "领导包案: the leader owns the case (publishes case.leader_assigned)",
    params(("leader_id" = String, Path, description = "The leader")),
    request_body = CaseRequest,
    responses((status = 200, description = "{case_no, leader, previous, changed}", body = Object),
        (status = 404, description = "No such leader or case")))]
pub async fn assign_case(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CaseRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let l = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("leader"))?;
    if let Some(c) = county_of_case(req.case_no.as_deref()) {
        bureau_staff(&who, &c)?;
    }
    let case = required("case_no", &req.case_no)?;
    let county = input::case_no(case, &s.served)?;
    bureau_staff(&who, &county)?;
    serving(&l, &county, "leader_id")?;
    let now = s.clock.now();
    let mut tx = s.pool.begin().await?;
    known_case(&mut tx, case).await?;
    let previous: Option<String> =
        sqlx::query_scalar("select leader from cases where case_no = $1 for update")
            .bind(case)
            .fetch_one(&mut *tx)
            .await?;
    let changed = previous.as_deref() != Some(id);
    if changed {
        sqlx::query("update cases set leader = $2, updated_at = now() where case_no = $1")
            .bind(case)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut events = Batch::default();
        let fact = LeaderAssigned {
            case_no: case.to_owned(),
            leader: id.to_owned(),
            leader_name: l.name.clone(),
            leader_title: l.title.clone(),
            previous: previous.clone(),
            by: recorded_as(&who),
            at: now,
        };
        push_case_event(
            &mut events,
            fact_event_id(kind::LEADER_ASSIGNED, case, id, now),
            &county,
            kind::LEADER_ASSIGNED,
            case,
            now,
            &fact,
        )?;
        events.write(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(Json(json!({
        "case_no": case, "leader": id, "previous": previous, "changed": changed,
    })))
}

/// One of a leader's cases with its open clocks.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct LeaderCase {
    pub case_no: String,
    pub county: String,
    /// The lead handling unit.
    pub department: Option<String>,
    pub registered_at: Option<DateTime<Utc>>,
    /// Open clocks: `[{kind, ref, department, due_at, state}]`, soonest first; `fired` is overdue.
    #[schema(value_type = Vec<Object>)]
    pub deadlines: sqlx::types::Json<serde_json::Value>,
}

#[utoipa::path(get, path = "/v1/leaders/{leader_id}/cases", tag = "practices",
    summary = "The cases a leader owns (包案), each with its open clocks",
    params(("leader_id" = String, Path, description = "The leader")),
    responses((status = 200, description = "{leader, cases: [...]}", body = Object),
        (status = 404, description = "No such leader")))]
pub async fn cases(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let l = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("leader"))?;
    let county = CountyCode::parse(&l.county).map_err(|e| ApiError::Internal(e.into()))?;
    read_roster(&who, &county)?;
    let rows: Vec<LeaderCase> = sqlx::query_as(
        "select c.case_no, c.county, c.department, c.registered_at,
                coalesce((select jsonb_agg(jsonb_build_object(
                            'kind', d.kind, 'ref', d.ref, 'department', d.department,
                            'due_at', d.due_at, 'state', d.state) order by d.due_at, d.id)
                          from deadlines d
                          where d.case_no = c.case_no
                            and (d.state in ('pending', 'paused')
                                 or (d.state = 'fired' and d.closed_at is null))),
                         '[]'::jsonb) as deadlines
         from cases c where c.leader = $1
         order by c.registered_at desc nulls last, c.case_no",
    )
    .bind(id)
    .fetch_all(&s.pool)
    .await?;
    // A city leader's cases may be in several counties: only those in the caller's scope.
    let rows: Vec<LeaderCase> = rows
        .into_iter()
        .filter(|r| {
            CountyCode::parse(&r.county)
                .is_ok_and(|c| xinfang_domain::access::covers(&who.scope, &c))
        })
        .collect();
    Ok(Json(json!({"leader": l, "cases": rows})))
}
