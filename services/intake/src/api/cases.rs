//! The case registry over HTTP: staff views, the petitioner's query, CSV export, and the
//! clerk's classification override.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use xinfang_domain::access::{self, Principal};
use xinfang_domain::classify::Departments;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{self, Contact};
use xinfang_domain::petition::{Art31Branch, Diversion, PetitionType};
use xinfang_domain::subject;
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::Caller;
use xinfang_platform::outbox;

use super::{ApiError, ApiJson, AppState};
use crate::case_number::is_query_code;

fn check_case_no(raw: &str) -> Result<(), ApiError> {
    let ok = raw.len() <= 32
        && raw.starts_with("XF-")
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'X' || b == b'F');
    if ok {
        Ok(())
    } else {
        Err(
            ValidationError::new("case_no", "format", "must look like XF-411282-2026-000001")
                .into(),
        )
    }
}

async fn timeline(
    state: &AppState,
    case_no: &str,
    public_only: bool,
) -> Result<Vec<Value>, ApiError> {
    let rows = sqlx::query(
        "select at, event, summary from timeline where case_no = $1 and (public or not $2)
         order by at, id",
    )
    .bind(case_no)
    .bind(public_only)
    .fetch_all(&state.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "at": r.try_get::<DateTime<Utc>, _>("at")?,
                "event": r.try_get::<String, _>("event")?,
                "summary": r.try_get::<String, _>("summary")?,
            }))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

#[utoipa::path(get, path = "/v1/cases/{case_no}", tag = "cases",
    params(("case_no" = String, Path, description = "XF-<county>-<yyyy>-<seq>")),
    responses((status = 200, description = "The full case, for staff"), (status = 404)))]
pub async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(case_no): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_case_no(&case_no)?;
    let r = sqlx::query("select * from cases where case_no = $1")
        .bind(&case_no)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("case"))?;
    let county =
        CountyCode::parse(&r.try_get::<String, _>("county")?).map_err(ApiError::internal)?;
    let departments: Vec<String> = r
        .try_get::<Option<String>, _>("current_department")?
        .into_iter()
        .collect();
    access::view_case(
        &who,
        access::CaseScope {
            county: &county,
            departments: &departments,
        },
    )
    .map_err(super::forbidden)?;
    // Personal data is about to be returned: record who read it and why.
    let reason = headers
        .get("x-access-reason")
        // Reasons are written in Chinese: take the header's bytes as UTF-8.
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "case handling".into());
    state
        .auth
        .audit(&who, "read_case", Some(&case_no), &reason)
        .await
        .map_err(ApiError::internal)?;
    let sealed: String = r.try_get("petitioner_sealed")?;
    let contact: Option<Contact> = state
        .keys
        .open(&sealed)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let tl = timeline(&state, &case_no, false).await?;
    Ok(Json(json!({
        "case_no": case_no,
        "query_code": r.try_get::<String, _>("query_code")?,
        "county": r.try_get::<String, _>("county")?,
        "matter_county": r.try_get::<Option<String>, _>("matter_county")?,
        "channel": r.try_get::<String, _>("channel")?,
        "received_at": r.try_get::<DateTime<Utc>, _>("received_at")?,
        "registered_at": r.try_get::<DateTime<Utc>, _>("registered_at")?,
        "status": r.try_get::<String, _>("status")?,
        "petition_type": r.try_get::<String, _>("petition_type")?,
        "branch": r.try_get::<Option<String>, _>("branch")?,
        "diversion": r.try_get::<Option<String>, _>("diversion")?,
        "suggested_department": r.try_get::<String, _>("department")?,
        "current_department": r.try_get::<Option<String>, _>("current_department")?,
        "accuses_official": r.try_get::<bool, _>("accuses_official")?,
        "confidential": r.try_get::<bool, _>("confidential")?,
        "urgent": r.try_get::<bool, _>("urgent")?,
        "confidence": r.try_get::<f32, _>("confidence")?,
        "needs_triage": r.try_get::<bool, _>("needs_triage")?,
        "reasons": r.try_get::<Value, _>("reasons")?,
        "repeat_of": r.try_get::<Option<String>, _>("repeat_of")?,
        "repeat_disposition": r.try_get::<Option<String>, _>("repeat_disposition")?,
        "repeat_count": r.try_get::<i32, _>("repeat_count")?,
        "group_size": r.try_get::<i32, _>("group_size")?,
        "overdue": r.try_get::<bool, _>("overdue")?,
        "final_without_appeal": r.try_get::<bool, _>("final_without_appeal")?,
        "deadlines": r.try_get::<Value, _>("deadlines")?,
        "milestones": r.try_get::<Value, _>("milestones")?,
        "petitioner": contact.map(|c| json!({"name": c.name, "mobile": c.mobile, "email": c.email})),
        "text": r.try_get::<String, _>("text")?,
        "timeline": tl,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub county: Option<String>,
    pub dept: Option<String>,
    pub state: Option<String>,
    pub overdue: Option<bool>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

struct Filter {
    /// The caller's scope: a county, or a city covering its counties.
    scope: String,
    scope_is_city: bool,
    /// A department caller sees only its own cases.
    forced_dept: Option<String>,
    county: Option<String>,
    dept: Option<String>,
    state: Option<String>,
    overdue: Option<bool>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

fn filter(p: &ListParams, who: &Principal) -> Result<Filter, ApiError> {
    if let Some(c) = &p.county {
        CountyCode::parse(c)?;
    }
    for (field, v) in [("dept", &p.dept), ("state", &p.state)] {
        if let Some(v) = v {
            subject::token(field, v).map_err(|_| {
                ApiError::from(ValidationError::new(
                    field,
                    "format",
                    "must be a lowercase code such as rsj or accepted",
                ))
            })?;
        }
    }
    if let (Some(f), Some(t)) = (p.from, p.to)
        && f > t
    {
        return Err(ValidationError::new("from", "order", "must not be after `to`").into());
    }
    let (scope, forced_dept) = access::list_filter(who);
    Ok(Filter {
        scope_is_city: scope.is_city(),
        scope: scope.to_string(),
        forced_dept,
        county: p.county.clone(),
        dept: p.dept.clone(),
        state: p.state.clone(),
        overdue: p.overdue,
        from: p.from,
        to: p.to,
    })
}

const FILTER_SQL: &str = "($1::text is null or county = $1)
    and ($2::text is null or current_department = $2)
    and ($3::text is null or status = $3)
    and ($4::bool is null or overdue = $4)
    and ($5::timestamptz is null or registered_at >= $5)
    and ($6::timestamptz is null or registered_at < $6)
    and (county = $7 or ($8 and left(county, 4) = left($7, 4)))
    and ($9::text is null or current_department = $9)";

fn bind_filter<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    f: &'q Filter,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(&f.county)
        .bind(&f.dept)
        .bind(&f.state)
        .bind(f.overdue)
        .bind(f.from)
        .bind(f.to)
        .bind(&f.scope)
        .bind(f.scope_is_city)
        .bind(&f.forced_dept)
}

#[utoipa::path(get, path = "/v1/cases", tag = "cases", params(ListParams),
    responses((status = 200, description = "A page of cases"), (status = 422)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let f = filter(&p, &who)?;
    let max = state.registrar.settings.max_page_size;
    let per_page = p.per_page.unwrap_or(50);
    if !(1..=max).contains(&per_page) {
        return Err(ApiError::from(ValidationError::new(
            "per_page",
            "range",
            format!("must be between 1 and {max}"),
        )));
    }
    let page = p.page.unwrap_or(1);
    if page < 1 {
        return Err(ValidationError::new("page", "range", "must be at least 1").into());
    }
    let total: i64 = bind_filter(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select count(*) as n from cases where {FILTER_SQL}"
        ))),
        &f,
    )
    .fetch_one(&state.pool)
    .await?
    .try_get("n")?;
    let rows = bind_filter(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select case_no, county, status, petition_type, current_department, registered_at, overdue
             from cases where {FILTER_SQL} order by registered_at desc, case_no limit $10 offset $11"
        ))),
        &f,
    )
    .bind(per_page)
    .bind((page - 1) * per_page)
    .fetch_all(&state.pool)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "case_no": r.try_get::<String, _>("case_no")?,
                "county": r.try_get::<String, _>("county")?,
                "status": r.try_get::<String, _>("status")?,
                "petition_type": r.try_get::<String, _>("petition_type")?,
                "current_department": r.try_get::<Option<String>, _>("current_department")?,
                "registered_at": r.try_get::<DateTime<Utc>, _>("registered_at")?,
                "overdue": r.try_get::<bool, _>("overdue")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(
        json!({"items": items, "page": page, "per_page": per_page, "total": total}),
    ))
}

#[utoipa::path(get, path = "/v1/cases.csv", tag = "cases", params(ListParams),
    responses((status = 200, description = "CSV with milestone timestamps", content_type = "text/csv")))]
pub async fn csv_export(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(p): Query<ListParams>,
) -> Result<impl IntoResponse, ApiError> {
    let f = filter(&p, &who)?;
    let rows = bind_filter(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select case_no, county, channel, petition_type, current_department, status, overdue,
                    received_at, registered_at, milestones
             from cases where {FILTER_SQL} order by registered_at, case_no"
        ))),
        &f,
    )
    .fetch_all(&state.pool)
    .await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let milestones = [
        "assigned_at",
        "accepted_at",
        "extended_at",
        "replied_at",
        "review_requested_at",
        "rereview_decided_at",
        "terminated_at",
    ];
    let mut header = vec![
        "case_no",
        "county",
        "channel",
        "petition_type",
        "department",
        "status",
        "overdue",
        "received_at",
        "registered_at",
    ];
    header.extend(milestones);
    w.write_record(&header).map_err(ApiError::internal)?;
    for r in &rows {
        let m: Value = r.try_get("milestones")?;
        let mut rec = vec![
            r.try_get::<String, _>("case_no")?,
            r.try_get::<String, _>("county")?,
            r.try_get::<String, _>("channel")?,
            r.try_get::<String, _>("petition_type")?,
            r.try_get::<Option<String>, _>("current_department")?
                .unwrap_or_default(),
            r.try_get::<String, _>("status")?,
            r.try_get::<bool, _>("overdue")?.to_string(),
            r.try_get::<DateTime<Utc>, _>("received_at")?.to_rfc3339(),
            r.try_get::<DateTime<Utc>, _>("registered_at")?.to_rfc3339(),
        ];
        for k in milestones {
            rec.push(m.get(k).and_then(Value::as_str).unwrap_or("").to_owned());
        }
        w.write_record(&rec).map_err(ApiError::internal)?;
    }
    let body = w.into_inner().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body))
}

#[utoipa::path(get, path = "/v1/query/{query_code}", tag = "petitioner",
    params(("query_code" = String, Path, description = "The 8-character 查询码")),
    responses((status = 200, description = "Status and public timeline; no personal data"), (status = 404)))]
pub async fn query(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !is_query_code(&code) {
        return Err(ValidationError::new(
            "query_code",
            "format",
            "must be 8 letters and digits as printed on the receipt",
        )
        .into());
    }
    let r = sqlx::query("select case_no, status, registered_at from cases where query_code = $1")
        .bind(&code)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("query code"))?;
    let case_no: String = r.try_get("case_no")?;
    let tl = timeline(&state, &case_no, true).await?;
    Ok(Json(json!({
        "case_no": case_no,
        "status": r.try_get::<String, _>("status")?,
        "registered_at": r.try_get::<DateTime<Utc>, _>("registered_at")?,
        "timeline": tl,
    })))
}

/// A clerk's correction of the classification; every field optional but `by` and `reason`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub petition_type: Option<String>,
    pub branch: Option<String>,
    pub diversion: Option<String>,
    pub department: Option<String>,
    pub county: Option<String>,
    pub accuses_official: Option<bool>,
    /// Departments assisting the lead one (multi-department matters).
    #[serde(default)]
    pub assisting: Vec<String>,
    /// Clerk id.
    pub by: String,
    /// Why the classification was wrong (recorded).
    pub reason: String,
}

/// Statuses in which the case has not yet been accepted by a handling unit.
const OVERRIDABLE: &[&str] = &["registered", "forwarded", "assigned", "objected"];

#[utoipa::path(patch, path = "/v1/cases/{case_no}/classification", tag = "cases",
    request_body = Override,
    responses((status = 200, description = "Override recorded; case.reclassified emitted"), (status = 404), (status = 409), (status = 422)))]
pub async fn reclassify(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    ApiJson(o): ApiJson<Override>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_case_no(&case_no)?;
    let by = o.by.trim();
    if by.is_empty() || by.len() > 64 {
        return Err(ValidationError::new("by", "required", "the clerk id is required").into());
    }
    let reason = o.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ValidationError::new(
            "reason",
            "required",
            "a reason of at most 500 characters is required",
        )
        .into());
    }
    let petition_type = o
        .petition_type
        .as_deref()
        .map(PetitionType::parse)
        .transpose()?;
    let branch = o.branch.as_deref().map(Art31Branch::parse).transpose()?;
    let diversion = o.diversion.as_deref().map(Diversion::parse).transpose()?;
    let county = o.county.as_deref().map(CountyCode::parse).transpose()?;
    if let Some(d) = &o.department
        && !Departments::embedded().contains(d)
    {
        return Err(ValidationError::new(
            "department",
            "unknown_value",
            "is not a department code of the directory",
        )
        .into());
    }
    if o.assisting.len() > 10 {
        return Err(ValidationError::new(
            "assisting",
            "max_items",
            "at most 10 assisting departments",
        )
        .into());
    }
    for (i, d) in o.assisting.iter().enumerate() {
        if !Departments::embedded().contains(d) || o.department.as_deref() == Some(d.as_str()) {
            return Err(ValidationError::new(
                format!("assisting[{i}]"),
                "unknown_value",
                "must be a directory department code other than the lead",
            )
            .into());
        }
    }
    let mut tx = state.pool.begin().await?;
    let r = sqlx::query(
        "select county, status, petition_type, branch, diversion, department, matter_county, accuses_official
         from cases where case_no = $1 for update",
    )
    .bind(&case_no)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("case"))?;
    let status: String = r.try_get("status")?;
    if !OVERRIDABLE.contains(&status.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            format!(
                "classification can only be corrected before a handling unit accepts the case (status is {status})"
            ),
        ));
    }
    let reg_county =
        CountyCode::parse(&r.try_get::<String, _>("county")?).map_err(ApiError::internal)?;
    access::reclassify(&who, &reg_county).map_err(super::forbidden)?;
    let before = json!({
        "petition_type": r.try_get::<String, _>("petition_type")?,
        "branch": r.try_get::<Option<String>, _>("branch")?,
        "diversion": r.try_get::<Option<String>, _>("diversion")?,
        "department": r.try_get::<String, _>("department")?,
        "county": r.try_get::<Option<String>, _>("matter_county")?,
        "accuses_official": r.try_get::<bool, _>("accuses_official")?,
    });
    let pick =
        |new: Option<String>, key: &str| new.or_else(|| before[key].as_str().map(str::to_owned));
    let new_type = petition_type.unwrap_or_else(|| {
        before["petition_type"]
            .as_str()
            .and_then(|s| PetitionType::parse(s).ok())
            .unwrap_or(PetitionType::Grievance)
    });
    // Branch and diversion only exist for 申诉求决 matters.
    let grievance = new_type == PetitionType::Grievance;
    let new_branch = if grievance {
        pick(branch.map(|b| b.as_str().to_owned()), "branch")
    } else {
        None
    };
    let new_diversion = if grievance {
        pick(diversion.map(|d| d.as_str().to_owned()), "diversion")
    } else {
        None
    };
    let new_department = pick(o.department.clone(), "department").unwrap_or_default();
    let new_county = pick(county.map(|c| c.to_string()), "county");
    let new_accuses = o
        .accuses_official
        .unwrap_or(before["accuses_official"].as_bool().unwrap_or(false));
    let after = json!({
        "petition_type": new_type.as_str(), "branch": new_branch, "diversion": new_diversion,
        "department": new_department, "county": new_county, "accuses_official": new_accuses,
        "assisting": o.assisting,
    });
    sqlx::query(
        "update cases set petition_type = $2, branch = $3, diversion = $4, department = $5,
            matter_county = $6, accuses_official = $7,
            confidential = confidential or $7 or $2 = 'accusation',
            needs_triage = false, updated_at = now() where case_no = $1",
    )
    .bind(&case_no)
    .bind(new_type.as_str())
    .bind(&new_branch)
    .bind(&new_diversion)
    .bind(&new_department)
    .bind(&new_county)
    .bind(new_accuses)
    .execute(&mut *tx)
    .await?;
    sqlx::query("insert into classification_overrides (case_no, by_clerk, reason, before, after) values ($1,$2,$3,$4,$5)")
        .bind(&case_no)
        .bind(by)
        .bind(reason)
        .bind(&before)
        .bind(&after)
        .execute(&mut *tx)
        .await?;
    let data = events::Reclassified {
        case_no: case_no.clone(),
        petition_type: new_type,
        branch: new_branch
            .as_deref()
            .and_then(|b| Art31Branch::parse(b).ok()),
        diversion: new_diversion
            .as_deref()
            .and_then(|d| Diversion::parse(d).ok()),
        department: new_department,
        county: new_county
            .as_deref()
            .and_then(|c| CountyCode::parse(c).ok())
            .unwrap_or_else(|| reg_county.clone()),
        accuses_official: new_accuses,
        assisting: o.assisting.clone(),
        by: by.to_owned(),
        reason: reason.to_owned(),
    };
    let env = Envelope::new(
        events::kind::RECLASSIFIED,
        Some(case_no.clone()),
        reg_county.clone(),
        Utc::now(),
        data,
    )
    .map_err(ApiError::internal)?;
    let subj =
        subject::case_event(&reg_county, events::kind::RECLASSIFIED).map_err(ApiError::internal)?;
    outbox::enqueue(&mut tx, &subj, &env)
        .await
        .map_err(ApiError::internal)?;
    tx.commit().await?;
    Ok((
        StatusCode::OK,
        Json(json!({"case_no": case_no, "before": before, "after": after})),
    ))
}
