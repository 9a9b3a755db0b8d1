//! Lawyers and psychological counsellors (律师、心理咨询师参与信访工作): the roster a bureau
//! keeps (a county's, or the city's, whose advisers also serve its counties), their assignment
//! to reception days and to cases, and their written advice on a case (`case.advice_recorded`,
//! shown to staff only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use xinfang_domain::access::recorded_as;
use xinfang_domain::county::CountyCode;
use xinfang_domain::practice_events::{AdviceRecorded, kind};
use xinfang_domain::practices::{
    self, ADVICE_MAX, AdviserKind, NAME_MAX, ORGANISATION_MAX, SPECIALITY_MAX,
};
use xinfang_domain::validation::{ValidationError, text};
use xinfang_platform::auth::Caller;
use xinfang_platform::http_json::{ApiQuery, JsonBody};
use xinfang_platform::outbox::Batch;

use super::conferences::CaseQuery;
use super::events::{push_case_event, record_event_id};
use super::guard::{bureau_staff, known_case, listing_counties, read_case};
use super::input::{self, county_of_case, required};
use crate::api::ApiState;
use crate::error::ApiError;

/// An adviser of the roster.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AdviserView {
    pub id: Uuid,
    /// lawyer | counsellor
    pub kind: String,
    pub name: String,
    pub organisation: String,
    pub speciality: String,
    /// The roster it is on (a county, or the city).
    pub county: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, kind, name, organisation, speciality, county, active, created_at, updated_at";

pub(super) async fn by_id(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<AdviserView>> {
    sqlx::query_as::<_, AdviserView>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from advisers where id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// `POST /v1/advisers`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NewAdviserRequest {
    /// lawyer | counsellor
    #[schema(value_type = String, required = true, example = "lawyer")]
    pub kind: Option<String>,
    #[schema(value_type = String, required = true, max_length = 50)]
    pub name: Option<String>,
    /// Law firm, hospital, counselling centre.
    #[schema(value_type = String, required = true, max_length = 100)]
    pub organisation: Option<String>,
    #[schema(value_type = Option<String>, max_length = 200)]
    pub speciality: Option<String>,
    /// The roster's county (a served county or the city); the caller's scope by default.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
}

#[utoipa::path(post, path = "/v1/advisers", tag = "practices",
    summary = "Put a lawyer or psychological counsellor on the bureau's roster",
    request_body = NewAdviserRequest,
    responses((status = 201, description = "The adviser", body = AdviserView)))]
pub async fn create(
    State(s): State<ApiState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<NewAdviserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let county = input::served_county("county", req.county.as_deref(), &who.scope, &s.served);
    if let Ok(c) = &county {
        bureau_staff(&who, c)?;
    }
    let county = county?;
    let adviser_kind = AdviserKind::parse("kind", required("kind", &req.kind)?)?;
    let name = practices::one_line("name", required("name", &req.name)?, NAME_MAX)?;
    let organisation = practices::one_line(
        "organisation",
        required("organisation", &req.organisation)?,
        ORGANISATION_MAX,
    )?;
    let speciality = match req
        .speciality
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        Some(sp) => practices::one_line("speciality", sp, SPECIALITY_MAX)?,
        None => String::new(),
    };
    let id = Uuid::now_v7();
    let now = s.clock.now();
    sqlx::query(
        "insert into advisers (id, kind, name, organisation, speciality, county, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(id)
    .bind(adviser_kind.code())
    .bind(&name)
    .bind(&organisation)
    .bind(&speciality)
    .bind(county.as_str())
    .bind(now)
    .execute(&s.pool)
    .await?;
    let a = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("adviser"))?;
    Ok((StatusCode::CREATED, Json(a)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdvisersQuery {
    /// One roster (a served county or the city); default every served county in scope.
    #[param(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    /// lawyer | counsellor
    #[param(value_type = Option<String>)]
    pub kind: Option<String>,
    /// Only active (`true`) or only inactive (`false`) advisers; both by default.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
}

/// `true`/`false` in a query string.
pub(super) fn flag(field: &str, raw: Option<&str>) -> Result<Option<bool>, ValidationError> {
    match raw.map(str::trim).filter(|x| !x.is_empty()) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ValidationError::new(
            field,
            "boolean",
            "must be true or false",
        )),
    }
}

#[utoipa::path(get, path = "/v1/advisers", tag = "practices",
    summary = "The roster of lawyers and counsellors",
    params(AdvisersQuery),
    responses((status = 200, description = "{advisers: [...]}", body = Object)))]
pub async fn list(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<AdvisersQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let counties = listing_counties(&s.served, &who, q.county.as_deref())?;
    let adviser_kind = match q.kind.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
        Some(k) => Some(AdviserKind::parse("kind", k)?),
        None => None,
    };
    let active = flag("active", q.active.as_deref())?;
    let rows: Vec<AdviserView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from advisers
         where county = any($1) and ($2::text is null or kind = $2)
           and ($3::bool is null or active = $3)
         order by county, kind, name, id"
    )))
    .bind(&counties)
    .bind(adviser_kind.map(AdviserKind::code))
    .bind(active)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(json!({"advisers": rows})))
}

/// `POST /v1/advisers/{adviser_id}`: only the fields given change.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateAdviserRequest {
    #[schema(value_type = Option<String>, max_length = 50)]
    pub name: Option<String>,
    #[schema(value_type = Option<String>, max_length = 100)]
    pub organisation: Option<String>,
    #[schema(value_type = Option<String>, max_length = 200)]
    pub speciality: Option<String>,
    /// `false` takes the adviser off the roster (kept for the record); `true` puts them back.
    pub active: Option<bool>,
}

fn adviser_id(raw: &str) -> Result<Uuid, ValidationError> {
    input::uuid("adviser_id", raw)
}

#[utoipa::path(post, path = "/v1/advisers/{adviser_id}", tag = "practices",
    summary = "Update an adviser, or take them off the roster (`active: false`)",
    params(("adviser_id" = String, Path, format = Uuid, description = "The adviser")),
    request_body = UpdateAdviserRequest,
    responses((status = 200, description = "The adviser", body = AdviserView),
        (status = 404, description = "No such adviser")))]
pub async fn update(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateAdviserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = adviser_id(&id)?;
    let a = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("adviser"))?;
    let county = CountyCode::parse(&a.county).map_err(|e| ApiError::Internal(e.into()))?;
    bureau_staff(&who, &county)?;
    let name = req
        .name
        .as_deref()
        .map(|n| practices::one_line("name", n, NAME_MAX))
        .transpose()?;
    let organisation = req
        .organisation
        .as_deref()
        .map(|n| practices::one_line("organisation", n, ORGANISATION_MAX))
        .transpose()?;
    let speciality = match req.speciality.as_deref().map(str::trim) {
        Some("") => Some(String::new()),
        Some(sp) => Some(practices::one_line("speciality", sp, SPECIALITY_MAX)?),
        None => None,
    };
    if name.is_none() && organisation.is_none() && speciality.is_none() && req.active.is_none() {
        return Err(ValidationError::new(
            "body",
            "empty",
            "give at least one of name, organisation, speciality, active",
        )
        .into());
    }
    sqlx::query(
        "update advisers set name = coalesce($2, name), organisation = coalesce($3, organisation),
                speciality = coalesce($4, speciality), active = coalesce($5, active),
                updated_at = $6
         where id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(organisation)
    .bind(speciality)
    .bind(req.active)
    .bind(s.clock.now())
    .execute(&s.pool)
    .await?;
    let a = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("adviser"))?;
    Ok(Json(a))
}

/// `POST /v1/advisers/{adviser_id}/assignments`: exactly one of `case_no`, `reception_day`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AssignRequest {
    #[schema(value_type = Option<String>, max_length = 64, example = "XF-411282-2026-000001")]
    pub case_no: Option<String>,
    /// A reception day's id.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub reception_day: Option<String>,
}

/// An adviser who may serve matters of `county`: on the roster and active, of that county's
/// roster or its city's. Errors name `field`.
pub(super) fn serving(
    a: &AdviserView,
    county: &CountyCode,
    field: &str,
) -> Result<(), ValidationError> {
    practices::may_serve(
        a.active,
        &a.county,
        county,
        field,
        "is an adviser no longer on the roster",
        "is on the roster of a county that does not cover this matter",
    )
}

#[utoipa::path(post, path = "/v1/advisers/{adviser_id}/assignments", tag = "practices",
    summary = "Assign an adviser to a case or to a reception day",
    params(("adviser_id" = String, Path, format = Uuid, description = "The adviser")),
    request_body = AssignRequest,
    responses((status = 201, description = "Assigned: {id, adviser, case_no | reception_day, at}", body = Object),
        (status = 200, description = "Already assigned: the existing assignment", body = Object),
        (status = 404, description = "No such adviser, case or reception day")))]
pub async fn assign(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AssignRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = adviser_id(&id)?;
    let a = by_id(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("adviser"))?;
    let case = req
        .case_no
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty());
    let day = req
        .reception_day
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty());
    let now = s.clock.now();
    let (county, case, day) = match (case, day) {
        (Some(case), None) => {
            if let Some(c) = county_of_case(Some(case)) {
                bureau_staff(&who, &c)?;
            }
            let county = input::case_no(case, &s.served)?;
            bureau_staff(&who, &county)?;
            let mut conn = s.pool.acquire().await?;
            known_case(&mut conn, case).await?;
            (county, Some(case.to_owned()), None)
        }
        (None, Some(day)) => {
            let day = input::uuid("reception_day", day)?;
            let county: Option<String> =
                sqlx::query_scalar("select county from reception_days where id = $1")
                    .bind(day)
                    .fetch_optional(&s.pool)
                    .await?;
            let county = county.ok_or(ApiError::NotFound("reception day"))?;
            let county = CountyCode::parse(&county).map_err(|e| ApiError::Internal(e.into()))?;
            bureau_staff(&who, &county)?;
            (county, None, Some(day))
        }
        (Some(_), Some(_)) => {
            return Err(ValidationError::new(
                "reception_day",
                "one_of",
                "give either case_no or reception_day, not both",
            )
            .into());
        }
        (None, None) => {
            return Err(ValidationError::new(
                "case_no",
                "required",
                "give case_no or reception_day",
            )
            .into());
        }
    };
    serving(&a, &county, "adviser_id")?;
    let created: Option<Uuid> = sqlx::query_scalar(
        "insert into adviser_assignments (id, adviser, county, case_no, reception_day, assigned_by, at)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict do nothing returning id",
    )
    .bind(Uuid::now_v7())
    .bind(id)
    .bind(county.as_str())
    .bind(&case)
    .bind(day)
    .bind(recorded_as(&who))
    .bind(now)
    .fetch_optional(&s.pool)
    .await?;
    let row: (Uuid, DateTime<Utc>) = sqlx::query_as(
        "select id, at from adviser_assignments
         where adviser = $1 and (case_no = $2 or reception_day = $3)",
    )
    .bind(id)
    .bind(&case)
    .bind(day)
    .fetch_one(&s.pool)
    .await?;
    let status = if created.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "id": row.0, "adviser": id, "county": county.as_str(), "case_no": case,
            "reception_day": day, "at": row.1,
        })),
    ))
}

/// `POST /v1/advice`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AdviceRequest {
    #[schema(value_type = String, required = true, max_length = 64, example = "XF-411282-2026-000001")]
    pub case_no: Option<String>,
    /// The adviser's id.
    #[schema(value_type = String, format = Uuid, required = true)]
    pub adviser: Option<String>,
    /// The written advice.
    #[schema(value_type = String, required = true, max_length = 10000)]
    pub text: Option<String>,
}

/// An advice entry.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AdviceView {
    pub id: Uuid,
    pub case_no: String,
    pub adviser: Uuid,
    pub adviser_kind: String,
    pub adviser_name: String,
    pub text: String,
    pub recorded_by: String,
    pub at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/v1/advice", tag = "practices",
    summary = "Record an adviser's written advice on a case (staff only on the timeline)",
    request_body = AdviceRequest,
    responses((status = 201, description = "The advice entry", body = AdviceView),
        (status = 404, description = "Supervision knows no such case")))]
pub async fn record_advice(
    State(s): State<ApiState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<AdviceRequest>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(c) = county_of_case(req.case_no.as_deref()) {
        bureau_staff(&who, &c)?;
    }
    let case = required("case_no", &req.case_no)?;
    let county = input::case_no(case, &s.served)?;
    bureau_staff(&who, &county)?;
    let adviser = input::uuid("adviser", required("adviser", &req.adviser)?)?;
    let body = text("text", required("text", &req.text)?, ADVICE_MAX)?;
    let a = by_id(&s.pool, adviser).await?.ok_or_else(|| {
        ValidationError::new(
            "adviser",
            "unknown_adviser",
            "is not an adviser of the roster",
        )
    })?;
    serving(&a, &county, "adviser")?;
    let adviser_kind = AdviserKind::parse("kind", &a.kind)?;
    let now = s.clock.now();
    let id = Uuid::now_v7();
    let by = recorded_as(&who);
    let mut tx = s.pool.begin().await?;
    known_case(&mut tx, case).await?;
    sqlx::query(
        "insert into advice (id, case_no, county, adviser, text, recorded_by, at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(case)
    .bind(county.as_str())
    .bind(adviser)
    .bind(&body)
    .bind(&by)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mut events = Batch::default();
    let fact = AdviceRecorded {
        case_no: case.to_owned(),
        advice: id,
        adviser,
        adviser_kind,
        adviser_name: a.name.clone(),
        text: body.clone(),
        by: by.clone(),
        at: now,
    };
    push_case_event(
        &mut events,
        record_event_id(id, kind::ADVICE_RECORDED),
        &county,
        kind::ADVICE_RECORDED,
        case,
        now,
        &fact,
    )?;
    events.write(&mut tx).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(AdviceView {
            id,
            case_no: case.to_owned(),
            adviser,
            adviser_kind: a.kind,
            adviser_name: a.name,
            text: body,
            recorded_by: by,
            at: now,
        }),
    ))
}

#[utoipa::path(get, path = "/v1/advice", tag = "practices",
    summary = "A case's advice entries, oldest first",
    params(CaseQuery),
    responses((status = 200, description = "{advice: [...]}", body = Object)))]
pub async fn list_advice(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let case = required("case_no", &q.case_no)?;
    let county = input::case_no(case, &s.served)?;
    read_case(&s.pool, &who, case, &county).await?;
    let rows: Vec<AdviceView> = sqlx::query_as(
        "select v.id, v.case_no, v.adviser, a.kind as adviser_kind, a.name as adviser_name,
                v.text, v.recorded_by, v.at
         from advice v join advisers a on a.id = v.adviser
         where v.case_no = $1 order by v.at, v.id",
    )
    .bind(case)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(json!({"advice": rows})))
}
