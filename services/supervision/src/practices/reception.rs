//! Leaders' reception days (领导接访日): a leader receives petitioners at a place on a day,
//! with lawyers (and counsellors) of the roster taking part. A case received there records the
//! leader (`cases.reception_leader`) and publishes `case.leader_received`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use xinfang_domain::access::recorded_as;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::CST;
use xinfang_domain::deadline_plan::start_of_day;
use xinfang_domain::practice_events::{LeaderReceived, kind};
use xinfang_domain::practices::{self, MAX_RECEPTION_ADVISERS, PLACE_MAX};
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::Caller;
use xinfang_platform::http_json::{ApiQuery, JsonBody};
use xinfang_platform::outbox::Batch;

use super::advisers;
use super::conferences::covers_code;
use super::events::{fact_event_id, push_case_event};
use super::guard::{bureau_staff, known_case, listing_counties};
use super::input::{self, county_of_case, required};
use super::leaders::{self, CaseRequest};
use crate::api::ApiState;
use crate::error::ApiError;

/// `POST /v1/reception-days`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReceptionDayRequest {
    /// The receiving leader's id; the day is on that leader's county's roster.
    #[schema(value_type = String, required = true, example = "wang_fxz")]
    pub leader: Option<String>,
    /// When it starts (RFC 3339), within a year of today.
    #[schema(value_type = String, format = DateTime, required = true)]
    pub at: Option<String>,
    #[schema(value_type = String, required = true, max_length = 200)]
    pub place: Option<String>,
    /// Participating lawyers and counsellors (adviser ids), at most 20.
    #[schema(value_type = Option<Vec<String>>)]
    pub advisers: Option<Vec<String>>,
}

/// A reception day with its leader, advisers and the cases received.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ReceptionDayView {
    pub id: Uuid,
    pub county: String,
    pub leader: String,
    pub leader_name: String,
    pub leader_title: String,
    pub at: DateTime<Utc>,
    pub place: String,
    pub created_by: String,
    /// `[{id, kind, name}]`
    #[schema(value_type = Vec<Object>)]
    pub advisers: sqlx::types::Json<serde_json::Value>,
    /// Case numbers received.
    pub cases: Vec<String>,
}

const SELECT: &str =
    "select r.id, r.county, r.leader, l.name as leader_name, l.title as leader_title,
        r.at, r.place, r.created_by,
        coalesce((select jsonb_agg(jsonb_build_object('id', a.id, 'kind', a.kind, 'name', a.name)
                                   order by a.kind, a.name, a.id)
                  from adviser_assignments x join advisers a on a.id = x.adviser
                  where x.reception_day = r.id), '[]'::jsonb) as advisers,
        array(select c.case_no from reception_day_cases c where c.reception_day = r.id
              order by c.at, c.case_no) as cases
    from reception_days r join leaders l on l.id = r.leader";

async fn by_id(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<ReceptionDayView>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where r.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

#[utoipa::path(post, path = "/v1/reception-days", tag = "practices",
    summary = "Schedule a leader's reception day (领导接访日) with participating lawyers",
    request_body = ReceptionDayRequest,
    responses((status = 201, description = "The reception day", body = ReceptionDayView)))]
pub async fn create(
    State(s): State<ApiState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<ReceptionDayRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let leader = required("leader", &req.leader)?;
    practices::leader_id("leader", leader)?;
    let l = leaders::by_id(&s.pool, leader).await?.ok_or_else(|| {
        ValidationError::new("leader", "unknown_leader", "is not a leader of the roster")
    })?;
    let county = CountyCode::parse(&l.county).map_err(|e| ApiError::Internal(e.into()))?;
    bureau_staff(&who, &county)?;
    if !l.active {
        return Err(ValidationError::new(
            "leader",
            "inactive",
            "is a leader no longer on the roster",
        )
        .into());
    }
    let now = s.clock.now();
    let at = input::time_near("at", required("at", &req.at)?, now)?;
    let place = practices::one_line("place", required("place", &req.place)?, PLACE_MAX)?;
    let raw = req.advisers.as_deref().unwrap_or_default();
    if raw.len() > MAX_RECEPTION_ADVISERS {
        return Err(ValidationError::new(
            "advisers",
            "too_many",
            format!("at most {MAX_RECEPTION_ADVISERS} advisers"),
        )
        .into());
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let field = format!("advisers[{i}]");
        let id = input::uuid(&field, a)?;
        let adviser = advisers::by_id(&s.pool, id).await?.ok_or_else(|| {
            ValidationError::new(&field, "unknown_adviser", "is not an adviser of the roster")
        })?;
        advisers::serving(&adviser, &county, &field)?;
        if ids.contains(&id) {
            return Err(ValidationError::new(&field, "duplicate", "is named twice").into());
        }
        ids.push(id);
    }
    let id = Uuid::now_v7();
    let by = recorded_as(&who);
    let mut tx = s.pool.begin().await?;
    sqlx::query(
        "insert into reception_days (id, county, leader, at, place, created_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(county.as_str())
    .bind(leader)
    .bind(at)
    .bind(&place)
    .bind(&by)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let assignment_ids: Vec<Uuid> = ids.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "insert into adviser_assignments (id, adviser, county, reception_day, assigned_by, at)
         select x.id, x.adviser, $3, $4, $5, $6 from unnest($1::uuid[], $2::uuid[]) as x(id, adviser)",
    )
    .bind(&assignment_ids)
    .bind(&ids)
    .bind(county.as_str())
    .bind(id)
    .bind(&by)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let day = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("reception day"))?;
    Ok((StatusCode::CREATED, Json(day)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceptionDaysQuery {
    /// One county (or the city); default every served county in scope.
    #[param(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    /// First day (China time), `YYYY-MM-DD`; default 30 days ago.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`; default 60 days after `from`. At most 366 days after `from`.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/v1/reception-days", tag = "practices",
    summary = "Reception days in a period, soonest first",
    params(ReceptionDaysQuery),
    responses((status = 200, description = "{reception_days: [...]}", body = Object)))]
pub async fn list(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<ReceptionDaysQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let counties = listing_counties(&s.served, &who, q.county.as_deref())?;
    let today = s.clock.now().with_timezone(&CST).date_naive();
    let day = |field: &str, raw: &Option<String>| -> Result<Option<NaiveDate>, ValidationError> {
        raw.as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| input::date(field, x))
            .transpose()
    };
    let from = day("from", &q.from)?.unwrap_or(today - TimeDelta::days(30));
    let to = day("to", &q.to)?.unwrap_or(from + TimeDelta::days(60));
    if to < from {
        return Err(ValidationError::new("to", "order", "must not be before from").into());
    }
    if to - from > TimeDelta::days(366) {
        return Err(
            ValidationError::new("to", "range", "must be at most 366 days after from").into(),
        );
    }
    let (start, end) = (start_of_day(from), start_of_day(to + TimeDelta::days(1)));
    let rows: Vec<ReceptionDayView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where r.county = any($1) and r.at >= $2 and r.at < $3 order by r.at, r.id"
    )))
    .bind(&counties)
    .bind(start)
    .bind(end)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(
        json!({"from": from, "to": to, "reception_days": rows}),
    ))
}

#[utoipa::path(post, path = "/v1/reception-days/{reception_day_id}/cases", tag = "practices",
    summary = "A case received on the reception day: records the leader (publishes case.leader_received)",
    params(("reception_day_id" = String, Path, format = Uuid, description = "The reception day")),
    request_body = CaseRequest,
    responses((status = 201, description = "Recorded: {reception_day, case_no, leader}", body = Object),
        (status = 200, description = "Already recorded", body = Object),
        (status = 404, description = "No such reception day or case")))]
pub async fn receive_case(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CaseRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| ApiError::NotFound("reception day"))?;
    let day = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("reception day"))?;
    let day_county = CountyCode::parse(&day.county).map_err(|e| ApiError::Internal(e.into()))?;
    bureau_staff(&who, &day_county)?;
    if let Some(c) = county_of_case(req.case_no.as_deref()) {
        bureau_staff(&who, &c)?;
    }
    let case = required("case_no", &req.case_no)?;
    let county = input::case_no(case, &s.served)?;
    bureau_staff(&who, &county)?;
    if !covers_code(&day.county, &county) {
        return Err(ValidationError::new(
            "case_no",
            "other_county",
            "is a case of a county the reception day's bureau does not cover",
        )
        .into());
    }
    let now = s.clock.now();
    let by = recorded_as(&who);
    let mut tx = s.pool.begin().await?;
    known_case(&mut tx, case).await?;
    let inserted = sqlx::query(
        "insert into reception_day_cases (reception_day, case_no, recorded_by, at)
         values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(id)
    .bind(case)
    .bind(&by)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        sqlx::query(
            "update cases set reception_leader = $2, updated_at = now() where case_no = $1",
        )
        .bind(case)
        .bind(&day.leader)
        .execute(&mut *tx)
        .await?;
        let mut events = Batch::default();
        let fact = LeaderReceived {
            case_no: case.to_owned(),
            leader: day.leader.clone(),
            leader_name: day.leader_name.clone(),
            leader_title: day.leader_title.clone(),
            reception_day: id,
            received_on: day.at.with_timezone(&CST).date_naive(),
            by,
            at: now,
        };
        push_case_event(
            &mut events,
            fact_event_id(kind::LEADER_RECEIVED, case, &id.to_string(), now),
            &county,
            kind::LEADER_RECEIVED,
            case,
            now,
            &fact,
        )?;
        events.write(&mut tx).await?;
    }
    tx.commit().await?;
    let status = if inserted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"reception_day": id, "case_no": case, "leader": day.leader})),
    ))
}
