//! The case registry over HTTP: staff views, the petitioner's query, CSV export, and the
//! clerk's classification override.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use xinfang_domain::access::{self, Principal};
use xinfang_domain::appeal::{
    EXTERNAL_PREFIX, Organ, ReviewOutcome, level_str, level_zh, next_organ, original_handler,
};
use xinfang_domain::classify::Departments;
use xinfang_domain::confidential;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::ReviewLevel;
use xinfang_domain::events::{self, Contact};
use xinfang_domain::handling::{self, Change, Channelling};
use xinfang_domain::petition::{Art31Branch, CadreLevel, Diversion, OpinionOutcome, PetitionType};
use xinfang_domain::subject;
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::Caller;
use xinfang_platform::http_json::ApiQuery;
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
    params(("case_no" = String, Path, description = "XF-<county>-<yyyy>-<seq>"),
        ("x-access-reason" = Option<String>, Header, description = "Why the personal data is read (recorded in the audit log)")),
    responses((status = 200, description = "The full case, for staff", body = Object),
        (status = 404, description = "No such case"),
        (status = 422, description = "Not a case number")))]
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
    // Art 30 para 3: a department other than the lead 纪委监委 never learns who informed; it
    // reads the matter with every identifier masked.
    let confidential: bool = r.try_get("confidential")?;
    let discloses = match (&who.role, &who.department) {
        (access::Role::Department, Some(d)) => confidential::discloses_informant(
            confidential,
            d,
            r.try_get::<Option<String>, _>("current_department")?
                .as_deref(),
            &state.directory.current().roles.discipline,
        ),
        (access::Role::Department, None) => !confidential,
        _ => true,
    };
    let (contact, text) = if discloses {
        (contact, r.try_get::<String, _>("text")?)
    } else {
        let masked = match r.try_get::<Option<String>, _>("text_redacted")? {
            Some(t) => t,
            None => {
                let mut ids = confidential::Identifiers::from(contact);
                let id_number = r
                    .try_get::<Option<String>, _>("id_number_sealed")?
                    .and_then(|s| state.keys.open(&s).ok())
                    .and_then(|b| String::from_utf8(b).ok());
                ids.id_numbers.extend(id_number);
                confidential::redact_text(&r.try_get::<String, _>("text")?, &ids)
            }
        };
        (None, masked)
    };
    let tl = timeline(&state, &case_no, false).await?;
    Ok(Json(json!({
        "case_no": case_no,
        "query_code": r.try_get::<String, _>("query_code")?,
        "county": r.try_get::<String, _>("county")?,
        "matter_county": r.try_get::<Option<String>, _>("matter_county")?,
        "channel": r.try_get::<String, _>("channel")?,
        "source": r.try_get::<String, _>("source")?,
        "received_at": r.try_get::<DateTime<Utc>, _>("received_at")?,
        "registered_at": r.try_get::<DateTime<Utc>, _>("registered_at")?,
        "status": r.try_get::<String, _>("status")?,
        "petition_type": r.try_get::<String, _>("petition_type")?,
        "branch": r.try_get::<Option<String>, _>("branch")?,
        "diversion": r.try_get::<Option<String>, _>("diversion")?,
        "suggested_department": r.try_get::<String, _>("department")?,
        "current_department": r.try_get::<Option<String>, _>("current_department")?,
        "accuses_official": r.try_get::<bool, _>("accuses_official")?,
        "accused_level": r.try_get::<Option<String>, _>("accused_level")?,
        "confidential": r.try_get::<bool, _>("confidential")?,
        "urgent": r.try_get::<bool, _>("urgent")?,
        "confidence": r.try_get::<f32, _>("confidence")?,
        "needs_triage": r.try_get::<bool, _>("needs_triage")?,
        "reasons": r.try_get::<Value, _>("reasons")?,
        "repeat_of": r.try_get::<Option<String>, _>("repeat_of")?,
        "repeat_disposition": r.try_get::<Option<String>, _>("repeat_disposition")?,
        "repeat_count": r.try_get::<i32, _>("repeat_count")?,
        // Decisions 7: a refusal only proposed, awaiting a clerk's decision.
        "repeat_proposed": r.try_get::<bool, _>("repeat_proposed")?,
        "repeat_similarity": r.try_get::<Option<f32>, _>("repeat_similarity")?,
        "repeat_earlier_due": r.try_get::<Option<DateTime<Utc>>, _>("repeat_earlier_due")?,
        "group_size": r.try_get::<i32, _>("group_size")?,
        "overdue": r.try_get::<bool, _>("overdue")?,
        "final_without_appeal": r.try_get::<bool, _>("final_without_appeal")?,
        "deadlines": r.try_get::<Value, _>("deadlines")?,
        "decisions": decisions_view(
            &state.directory.current(),
            &matter_county(&r)?,
            &r.try_get::<Value, _>("decisions")?,
            &r.try_get::<Value, _>("deadlines")?,
        ),
        "milestones": r.try_get::<Value, _>("milestones")?,
        "petitioner": contact.map(|c| json!({"name": c.name, "mobile": c.mobile, "email": c.email})),
        "informant_withheld": !discloses,
        "contact_via": (!discloses).then_some(confidential::CONTACT_VIA_BUREAU),
        "text": text,
        "timeline": tl,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// A county the caller covers (403 otherwise).
    #[param(pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    /// The handling department; a department token may name only itself (403 otherwise).
    pub dept: Option<String>,
    pub state: Option<String>,
    pub overdue: Option<bool>,
    /// Registered at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Registered before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// At most `intake.max_page_size`.
    #[param(minimum = 1)]
    pub per_page: Option<i64>,
}

/// Highest page number: far beyond any registry, and documented as the parameter's maximum.
const MAX_PAGE: i64 = 1_000_000;

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
    // Asking by name for another county's or department's cases is refused outright, so a
    // caller learns the difference between "none" and "not yours".
    if let Some(c) = &p.county
        && let Ok(c) = CountyCode::parse(c)
        && !access::covers(&scope, &c)
    {
        return Err(
            super::forbidden(access::Denied("the county is outside the caller's scope"))
                .with_field("county"),
        );
    }
    if let (Some(own), Some(asked)) = (&forced_dept, &p.dept)
        && own != asked
    {
        return Err(super::forbidden(access::Denied(
            "a department sees only the cases assigned to it",
        ))
        .with_field("dept"));
    }
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
    responses((status = 200, description = "A page of cases: {items, page, per_page, total}", body = Object),
        (status = 422, description = "A parameter is malformed or out of range; `error.field` names it")))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiQuery(p): ApiQuery<ListParams>,
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
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ValidationError::new(
            "page",
            "range",
            format!("must be between 1 and {MAX_PAGE}"),
        )
        .into());
    }
    // Unchecked, a huge page overflowed the offset (a 500).
    let offset = (page - 1).checked_mul(per_page).ok_or_else(|| {
        ApiError::from(ValidationError::new(
            "page",
            "range",
            "is beyond the last page",
        ))
    })?;
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
    .bind(offset)
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
    responses((status = 200, description = "CSV with milestone timestamps", content_type = "text/csv", body = String)))]
pub async fn csv_export(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiQuery(p): ApiQuery<ListParams>,
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
    responses((status = 200, description = "Status, public timeline and `decisions`: each decision served (`reply`, `review`, `rereview`) with its `outcome`, the organ that made it and `appeal` (`organ`, `organ_name`, `due`: the last day to ask for 复查/复核) or `final`; no personal data", body = Object),
        (status = 404, description = "No case has this query code"),
        (status = 422, description = "Not a query code"),
        (status = 429, description = "Rate limited (`intake.rate_limit`): too many unknown query codes from this address, or too many requests for this code; `Retry-After` gives the seconds to wait",
            headers(("Retry-After" = u64, description = "Seconds until the window ends")))))]
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
    let r = sqlx::query(
        "select case_no, status, registered_at, county, matter_county, decisions, deadlines
         from cases where query_code = $1",
    )
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
        // Each decision served: its outcome, and where and by when it can be appealed.
        "decisions": decisions_view(
            &state.directory.current(),
            &matter_county(&r)?,
            &r.try_get::<Value, _>("decisions")?,
            &r.try_get::<Value, _>("deadlines")?,
        ),
        "timeline": tl,
    })))
}

/// The county where the matter arose (the registering county when unclassified).
fn matter_county(r: &sqlx::postgres::PgRow) -> Result<CountyCode, ApiError> {
    let raw = r
        .try_get::<Option<String>, _>("matter_county")?
        .unwrap_or(r.try_get::<String, _>("county")?);
    CountyCode::parse(&raw).map_err(ApiError::internal)
}

/// The decisions served on the petitioner, in order, each with its outcome and what can be
/// done against it (Art 35–36): the organ to ask for 复查 or 复核 and the last day of the
/// window (D7 / D9, as supervision keeps it), or that it is final. Pure; no personal data.
pub fn decisions_view(
    directory: &Directory,
    matter_county: &CountyCode,
    decisions: &Value,
    deadlines: &Value,
) -> Vec<Value> {
    let organ_name = |o: &OrganRef| directory.organ_name(o);
    let window = |code: &str| {
        let d = &deadlines[code];
        json!({"due": d.get("due"), "state": d.get("state")})
    };
    // What lies against a decision of `by`: the next-higher organ's review within `code`.
    let appeal = |by: Option<&OrganRef>, level: ReviewLevel, code: &str| {
        let (organ, name) = match by.map(|b| next_organ(directory, b)) {
            Some(Ok(Organ::Internal(o))) => (Some(o.to_string()), organ_name(&o)),
            _ => (
                None,
                "上一级机关（不在本系统目录内，请咨询信访部门）".to_owned(),
            ),
        };
        let w = window(code);
        json!({
            "level": level_str(level),
            "name": level_zh(level),
            "organ": organ,
            "organ_name": name,
            "due": w["due"],
            "window": w["state"],
        })
    };
    let mut out = Vec::new();
    if let Some(d) = decisions.get("reply") {
        let dept = d["department"].as_str().unwrap_or_default();
        let by = original_handler(directory, matter_county, dept).ok();
        let outcome = d["outcome"].as_str();
        let appealable = d["appealable"].as_bool() == Some(true);
        out.push(json!({
            "level": "reply",
            "name": if appealable { "信访处理意见书" } else { "答复" },
            "by": by.as_ref().map(ToString::to_string),
            "by_name": by.as_ref().map(organ_name).unwrap_or_else(|| dept.to_owned()),
            "outcome": outcome,
            "outcome_zh": outcome.and_then(|o| OpinionOutcome::parse(o).ok()).map(|o| o.zh()),
            "served_on": d["served_on"],
            "appeal": appealable.then(|| appeal(by.as_ref(), ReviewLevel::Review, "D7")),
            "final": false,
        }));
    }
    for (key, level) in [
        ("review", ReviewLevel::Review),
        ("rereview", ReviewLevel::Rereview),
    ] {
        let Some(d) = decisions.get(key) else {
            continue;
        };
        let raw_organ = d["organ"].as_str().unwrap_or_default();
        let by = OrganRef::parse(raw_organ).ok();
        let by_name = match &by {
            Some(o) => organ_name(o),
            None => raw_organ
                .strip_prefix(EXTERNAL_PREFIX)
                .unwrap_or(raw_organ)
                .to_owned(),
        };
        let outcome = d["outcome"].as_str();
        let parsed = outcome.and_then(|o| ReviewOutcome::parse(o).ok());
        // A 复查 that revoked or changed the opinion sends the matter back for new handling:
        // nothing lies against it. A 复核 is final (Art 36 para 3).
        let sent_back = matches!(parsed, Some(ReviewOutcome::Revoke | ReviewOutcome::Change));
        let final_ = level == ReviewLevel::Rereview;
        out.push(json!({
            "level": key,
            "name": if final_ { "复核意见" } else { "复查意见" },
            "by": by.as_ref().map(ToString::to_string).unwrap_or_else(|| raw_organ.to_owned()),
            "by_name": by_name,
            "outcome": outcome,
            "outcome_zh": parsed.map(|o| o.zh()),
            "served_on": d["served_on"],
            "appeal": (!final_ && !sent_back).then(|| appeal(by.as_ref(), ReviewLevel::Rereview, "D9")),
            "sent_back": sent_back,
            "final": final_,
        }));
    }
    out
}

/// A clerk's correction of the classification; every field optional but `by` and `reason`.
/// `branch`, `diversion` and `accused_level` are kept when absent and cleared with `null` or
/// `"none"`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub petition_type: Option<String>,
    /// Art 31 branch (`31_1` … `31_6`); `null` or `"none"` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub branch: Option<Option<String>>,
    /// Legal channel (`arbitration`, `administrative_reconsideration`, …); `null` or `"none"`
    /// takes a wrongly diverted matter back to a handling unit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub diversion: Option<Option<String>>,
    pub department: Option<String>,
    pub county: Option<String>,
    pub accuses_official: Option<bool>,
    /// Management level of the accused cadre (检举控告 only): `village`, `town`,
    /// `county_department`, `county_leader`, `city_department`, `city_leader`. Routing sends
    /// the accusation to the 纪委监委 that manages that level (Art 22 para 2).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub accused_level: Option<Option<String>>,
    /// Departments assisting the lead one (multi-department matters).
    #[serde(default)]
    pub assisting: Vec<String>,
    /// Clerk id.
    pub by: String,
    /// Why the classification was wrong (recorded).
    pub reason: String,
}

/// A field that was sent, possibly as `null` (`Some(None)`), apart from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Keep (absent), clear (`null`, `""`, `"none"`) or set a classification field.
fn change<T>(
    raw: &Option<Option<String>>,
    parse: fn(&str) -> Result<T, ValidationError>,
) -> Result<Change<T>, ValidationError> {
    match raw.as_ref().map(|v| v.as_deref().map(str::trim)) {
        None => Ok(Change::Keep),
        Some(None | Some("" | "none")) => Ok(Change::Clear),
        Some(Some(v)) => parse(v).map(Change::Set),
    }
}

#[utoipa::path(patch, path = "/v1/cases/{case_no}/classification", tag = "cases",
    request_body = Override,
    params(("case_no" = String, Path, description = "XF-<county>-<yyyy>-<seq>")),
    responses((status = 200, description = "Override recorded; case.reclassified emitted: {case_no, before, after}", body = Object),
        (status = 404, description = "No such case"),
        (status = 409, description = "A handling unit has already accepted the case (a matter diverted at intake, never accepted, can be corrected)"),
        (status = 422, description = "A field breaks a rule; `error.field` names it")))]
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
    let branch = change(&o.branch, Art31Branch::parse)?;
    let diversion = change(&o.diversion, Diversion::parse)?;
    let accused_level = change(&o.accused_level, CadreLevel::parse)?;
    let county = o.county.as_deref().map(CountyCode::parse).transpose()?;
    // A department of the classification list, or one the running directory has (added
    // without a restart: the classifier does not know it yet, a clerk may route to it).
    let directory = state.directory.current();
    let known = |d: &str| {
        Departments::embedded().contains(d)
            || directory.counties.iter().any(|c| c.department(d).is_some())
    };
    if let Some(d) = &o.department
        && !known(d)
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
        if !known(d) || o.department.as_deref() == Some(d.as_str()) {
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
        "select county, status, petition_type, branch, diversion, department, matter_county,
                accuses_official, accused_level, milestones ? 'accepted_at' as accepted,
                text_redacted
         from cases where case_no = $1 for update",
    )
    .bind(&case_no)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("case"))?;
    let reg_county =
        CountyCode::parse(&r.try_get::<String, _>("county")?).map_err(ApiError::internal)?;
    // Access first: another county learns nothing of the case's state.
    access::reclassify(&who, &reg_county).map_err(super::forbidden)?;
    let status: String = r.try_get("status")?;
    if !handling::clerk_may_reclassify(
        &status,
        r.try_get::<Option<bool>, _>("accepted")?.unwrap_or(false),
    ) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            format!(
                "classification can only be corrected before a handling unit accepts the case (status is {status})"
            ),
        ));
    }
    let before = json!({
        "petition_type": r.try_get::<String, _>("petition_type")?,
        "branch": r.try_get::<Option<String>, _>("branch")?,
        "diversion": r.try_get::<Option<String>, _>("diversion")?,
        "department": r.try_get::<String, _>("department")?,
        "county": r.try_get::<Option<String>, _>("matter_county")?,
        "accuses_official": r.try_get::<bool, _>("accuses_official")?,
        "accused_level": r.try_get::<Option<String>, _>("accused_level")?,
    });
    let pick =
        |new: Option<String>, key: &str| new.or_else(|| before[key].as_str().map(str::to_owned));
    let new_type = petition_type.unwrap_or_else(|| {
        before["petition_type"]
            .as_str()
            .and_then(|s| PetitionType::parse(s).ok())
            .unwrap_or(PetitionType::Grievance)
    });
    // Branch and diversion only exist for 申诉求决 matters, and are kept consistent: clearing
    // a wrong diversion sends the matter to a handling unit.
    let was = Channelling {
        branch: before["branch"]
            .as_str()
            .and_then(|b| Art31Branch::parse(b).ok()),
        diversion: before["diversion"]
            .as_str()
            .and_then(|d| Diversion::parse(d).ok()),
    };
    let channel = handling::correct_channel(new_type, was, branch, diversion)?;
    let new_branch = channel.branch.map(|b| b.as_str().to_owned());
    let new_diversion = channel.diversion.map(|d| d.as_str().to_owned());
    // The accused's management level belongs to accusations (Art 22 para 2, Art 30).
    let level_before = before["accused_level"]
        .as_str()
        .and_then(|l| CadreLevel::parse(l).ok());
    let new_level = match (accused_level, new_type) {
        (Change::Set(_), t) if t != PetitionType::Accusation => {
            return Err(ValidationError::new(
                "accused_level",
                "accusation_only",
                "the accused's management level is recorded for 检举控告 (accusation) matters only (Art 22 para 2, Art 30)",
            )
            .into());
        }
        (_, t) if t != PetitionType::Accusation => None,
        (Change::Keep, _) => level_before,
        (Change::Clear, _) => None,
        (Change::Set(l), _) => Some(l),
    };
    let new_department = pick(o.department.clone(), "department").unwrap_or_default();
    let new_county = pick(county.map(|c| c.to_string()), "county");
    // A recorded level means a cadre is accused.
    let new_accuses = o
        .accuses_official
        .unwrap_or(before["accuses_official"].as_bool().unwrap_or(false))
        || new_level.is_some();
    let after = json!({
        "petition_type": new_type.as_str(), "branch": new_branch, "diversion": new_diversion,
        "department": new_department, "county": new_county, "accuses_official": new_accuses,
        "accused_level": new_level.map(|l| l.as_str()), "assisting": o.assisting,
    });
    sqlx::query(
        "update cases set petition_type = $2, branch = $3, diversion = $4, department = $5,
            matter_county = $6, accuses_official = $7, accused_level = $8,
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
    .bind(new_level.map(|l| l.as_str()))
    .execute(&mut *tx)
    .await?;
    // The correction teaches the classifier (issue #19): the redacted text, never the names.
    if let Some(text) = r.try_get::<Option<String>, _>("text_redacted")? {
        crate::learning::record_correction(
            &mut tx,
            &case_no,
            &text,
            new_type,
            &new_department,
            channel.diversion,
            by,
        )
        .await?;
    }
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
        branch: channel.branch,
        diversion: channel.diversion,
        department: new_department,
        county: new_county
            .as_deref()
            .and_then(|c| CountyCode::parse(c).ok())
            .unwrap_or_else(|| reg_county.clone()),
        accuses_official: new_accuses,
        assisting: o.assisting.clone(),
        by: by.to_owned(),
        reason: reason.to_owned(),
        accused_level: new_level,
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

#[cfg(test)]
mod decision_tests {
    use super::*;

    fn directory() -> Directory {
        Directory::from_toml_str(include_str!("../../../../config/directory.toml")).unwrap()
    }

    /// Issue #20: the petitioner sees each decision's outcome, the organ to appeal to and the
    /// last day to do it; a 复核 is final and a revoking 复查 sends the matter back.
    #[test]
    fn each_decision_shows_its_outcome_appeal_organ_and_deadline() {
        let dir = directory();
        let county = CountyCode::parse("411282").unwrap();
        let decisions = json!({
            "reply": {"department": "rsj", "outcome": "not_supported", "appealable": true,
                      "served_on": "2026-04-20"},
            "review": {"organ": "411282:gov", "outcome": "uphold", "served_on": "2026-05-20"},
            "rereview": {"organ": "411200:gov", "outcome": "uphold", "served_on": "2026-06-20"},
        });
        let deadlines = json!({
            "D7": {"due": "2026-05-20T15:59:59Z", "state": "met"},
            "D9": {"due": "2026-06-19T15:59:59Z", "state": "met"},
        });
        let v = decisions_view(&dir, &county, &decisions, &deadlines);
        assert_eq!(v.len(), 3, "{v:?}");
        let reply = &v[0];
        assert_eq!(reply["by"], "411282:rsj");
        assert_eq!(reply["outcome_zh"], "不予支持");
        assert_eq!(reply["appeal"]["level"], "review");
        assert_eq!(reply["appeal"]["organ"], "411282:gov");
        assert_eq!(reply["appeal"]["due"], "2026-05-20T15:59:59Z");
        assert!(
            reply["appeal"]["organ_name"]
                .as_str()
                .is_some_and(|n| n.contains("人民政府")),
            "{reply}"
        );
        let review = &v[1];
        assert_eq!(review["outcome_zh"], "维持");
        assert_eq!(review["appeal"]["organ"], "411200:gov");
        assert_eq!(review["appeal"]["due"], "2026-06-19T15:59:59Z");
        let rereview = &v[2];
        assert_eq!(rereview["final"], true);
        assert!(rereview["appeal"].is_null());

        // A reply that is no 信访处理意见书 cannot be appealed; a revoking 复查 sends it back.
        let decisions = json!({
            "reply": {"department": "rsj", "outcome": null, "appealable": false},
            "review": {"organ": "411282:gov", "outcome": "revoke"},
        });
        let v = decisions_view(&dir, &county, &decisions, &json!({}));
        assert!(v[0]["appeal"].is_null());
        assert_eq!(v[1]["sent_back"], true);
        assert!(v[1]["appeal"].is_null());
        // Before supervision reports the window, the organ is known and the date not yet.
        let decisions = json!({"reply": {"department": "rsj", "appealable": true}});
        let v = decisions_view(&dir, &county, &decisions, &json!({}));
        assert_eq!(v[0]["appeal"]["organ"], "411282:gov");
        assert!(v[0]["appeal"]["due"].is_null());
        assert!(decisions_view(&dir, &county, &json!({}), &json!({})).is_empty());
    }
}
