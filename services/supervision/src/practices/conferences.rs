//! Case conferences (会审): `difficult_case` 疑难案件会审 and `major_issue`
//! 重大信访问题会审督办协调. The bureau schedules one on a case (time, place, participants:
//! departments, leaders, lawyers, counsellors), then records its minutes and decisions. A
//! decision that gives a department a task with a due time is tracked like a statutory duty: a
//! `task` clock in `deadlines` (ref = the decision's id) that warns, goes overdue and is
//! escalated as a 督办; the department's report that it is done closes it (met or met late).
//!
//! Facts: `case.conference_scheduled`, `case.conference_held`, `case.conference_task_done`.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use xinfang_domain::access::{self, Principal, Role, recorded_as};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline_plan::Tracked;
use xinfang_domain::deadline_state::{final_state_of, state};
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::events::{DeadlineStatus, kind as deadline_kind};
use xinfang_domain::practice_events::{
    ConferenceDecision, ConferenceHeld, ConferenceScheduled, ConferenceTaskDone, kind,
};
use xinfang_domain::practices::{
    self, ConferenceKind, DECISION_MAX, MAX_DECISIONS, MAX_PARTICIPANTS, MINUTES_MAX, NOTE_MAX,
    PLACE_MAX, Participant, ParticipantRole,
};
use xinfang_domain::validation::{ValidationError, text};
use xinfang_platform::auth::Caller;
use xinfang_platform::http_json::{ApiQuery, JsonBody};
use xinfang_platform::outbox::Batch;

use super::events::{push_case_event, record_event_id};
use super::guard::{bureau_staff, forbid, known_case, read_case};
use super::input::{self, county_of_case, required};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::ids::deterministic_v7;
use crate::store::{self, DeadlineRow, NewDeadline};

/// One participant as sent: `role` department | leader | lawyer | counsellor, `id` the
/// department code, leader id or adviser id.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ParticipantInput {
    #[schema(value_type = String, required = true, example = "department")]
    pub role: Option<String>,
    #[schema(value_type = String, required = true, max_length = 64, example = "rsj")]
    pub id: Option<String>,
}

/// `POST /v1/conferences`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ScheduleRequest {
    #[schema(value_type = String, required = true, max_length = 64, example = "XF-411282-2026-000001")]
    pub case_no: Option<String>,
    /// difficult_case (疑难案件会审) | major_issue (重大信访问题会审督办协调)
    #[schema(value_type = String, required = true, example = "difficult_case")]
    pub kind: Option<String>,
    /// RFC 3339, within a year of today.
    #[schema(value_type = String, format = DateTime, required = true)]
    pub scheduled_at: Option<String>,
    #[schema(value_type = String, required = true, max_length = 200, example = "局三楼会议室")]
    pub place: Option<String>,
    /// 1 to 100 participants.
    #[schema(required = true)]
    pub participants: Option<Vec<ParticipantInput>>,
}

/// One decision as sent; with `department` and `due_at` it is a task.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DecisionInput {
    #[schema(value_type = String, required = true, max_length = 2000)]
    pub text: Option<String>,
    /// A department of the directory; requires `due_at`.
    #[schema(value_type = Option<String>, example = "rsj")]
    pub department: Option<String>,
    /// RFC 3339, in the future, within a year; requires `department`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<String>,
}

/// `POST /v1/conferences/{conference_id}/minutes`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MinutesRequest {
    /// When it was held (RFC 3339, not in the future); now by default.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub held_at: Option<String>,
    #[schema(value_type = String, required = true, max_length = 20000)]
    pub minutes: Option<String>,
    /// Up to 50 decisions.
    pub decisions: Option<Vec<DecisionInput>>,
}

/// `POST /v1/conferences/{conference_id}/tasks/{decision_id}/done`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DoneRequest {
    /// What was done.
    #[schema(value_type = String, required = true, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// The case: `XF-<county>-<yyyy>-<seq>`.
    #[param(required = true, value_type = String, max_length = 64, pattern = "^[A-Za-z0-9-]+$")]
    pub case_no: Option<String>,
}

/// A participant as stored, with the leader's or adviser's name.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ParticipantView {
    pub role: String,
    #[sqlx(rename = "ref")]
    pub id: String,
    pub name: Option<String>,
}

/// A decision as stored, with its task clock's state.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct DecisionView {
    pub id: Uuid,
    pub position: i32,
    pub text: String,
    pub department: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_note: Option<String>,
    pub done_by: Option<String>,
    /// The task clock: pending, fired (overdue), met, met_late, withdrawn.
    pub deadline_state: Option<String>,
}

/// A conference.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ConferenceView {
    pub id: Uuid,
    pub case_no: String,
    pub county: String,
    pub kind: String,
    pub scheduled_at: DateTime<Utc>,
    pub place: String,
    /// scheduled | held
    pub state: String,
    pub minutes: Option<String>,
    pub held_at: Option<DateTime<Utc>>,
    pub scheduled_by: String,
    pub recorded_by: Option<String>,
    #[sqlx(skip)]
    pub kind_name: String,
    #[sqlx(skip)]
    pub participants: Vec<ParticipantView>,
    #[sqlx(skip)]
    pub decisions: Vec<DecisionView>,
}

/// One conference with its participants and decisions.
pub async fn load(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<ConferenceView>> {
    let Some(mut c) = sqlx::query_as::<_, ConferenceView>(
        "select id, case_no, county, kind, scheduled_at, place, state, minutes, held_at,
                scheduled_by, recorded_by
         from conferences where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    c.kind_name = ConferenceKind::parse("kind", &c.kind)
        .map(|k| k.zh().to_owned())
        .unwrap_or_default();
    c.participants = sqlx::query_as(
        "select p.role, p.ref, coalesce(l.name, a.name) as name
         from conference_participants p
         left join leaders l on p.role = 'leader' and l.id = p.ref
         left join advisers a on p.role in ('lawyer', 'counsellor') and a.id::text = p.ref
         where p.conference = $1 order by p.role, p.ref",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    c.decisions = sqlx::query_as(
        "select d.id, d.position, d.text, d.department, d.due_at, d.done_at, d.done_note,
                d.done_by, dl.state as deadline_state
         from conference_decisions d left join deadlines dl on dl.id = d.deadline
         where d.conference = $1 order by d.position",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(c))
}

/// Checks the participants: known roles, known and active leaders and advisers of the
/// county's roster (or the city's), departments of the directory; no one twice.
async fn participants(
    conn: &mut PgConnection,
    raw: &Option<Vec<ParticipantInput>>,
    county: &CountyCode,
    directory: &Directory,
) -> Result<Vec<Participant>, ApiError> {
    let list = raw.as_deref().unwrap_or_default();
    if list.is_empty() {
        return Err(ValidationError::new(
            "participants",
            "required",
            "name at least one participant",
        )
        .into());
    }
    if list.len() > MAX_PARTICIPANTS {
        return Err(ValidationError::new(
            "participants",
            "too_many",
            format!("at most {MAX_PARTICIPANTS} participants"),
        )
        .into());
    }
    let mut out: Vec<Participant> = Vec::with_capacity(list.len());
    let mut seen = HashSet::new();
    for (i, p) in list.iter().enumerate() {
        let field = |f: &str| format!("participants[{i}].{f}");
        let role = ParticipantRole::parse(&field("role"), required(&field("role"), &p.role)?)?;
        let id_field = field("id");
        let raw_id = required(&id_field, &p.id)?;
        let id = match role {
            ParticipantRole::Department => input::department(&id_field, raw_id, county, directory)?,
            ParticipantRole::Leader => {
                practices::leader_id(&id_field, raw_id)?;
                let row: Option<(String, bool)> =
                    sqlx::query_as("select county, active from leaders where id = $1")
                        .bind(raw_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                match row {
                    Some((c, true)) if covers_code(&c, county) => raw_id.to_owned(),
                    Some((c, false)) if covers_code(&c, county) => {
                        return Err(ValidationError::new(
                            &id_field,
                            "inactive",
                            "is a leader no longer on the roster",
                        )
                        .into());
                    }
                    _ => {
                        return Err(ValidationError::new(
                            &id_field,
                            "unknown_leader",
                            "is not a leader of the roster of the case's county or its city",
                        )
                        .into());
                    }
                }
            }
            ParticipantRole::Lawyer | ParticipantRole::Counsellor => {
                let id = input::uuid(&id_field, raw_id)?;
                let row: Option<(String, String, bool)> =
                    sqlx::query_as("select kind, county, active from advisers where id = $1")
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                let want = role.adviser_kind().map(|k| k.code()).unwrap_or_default();
                match row {
                    Some((_, c, _)) if !covers_code(&c, county) => {
                        return Err(ValidationError::new(
                            &id_field,
                            "unknown_adviser",
                            "is not an adviser of the roster of the case's county or its city",
                        )
                        .into());
                    }
                    Some((k, _, _)) if k != want => {
                        return Err(ValidationError::new(
                            &id_field,
                            "adviser_kind",
                            format!("is not a {want} of the roster"),
                        )
                        .into());
                    }
                    Some((_, _, false)) => {
                        return Err(ValidationError::new(
                            &id_field,
                            "inactive",
                            "is an adviser no longer on the roster",
                        )
                        .into());
                    }
                    Some(_) => id.to_string(),
                    None => {
                        return Err(ValidationError::new(
                            &id_field,
                            "unknown_adviser",
                            "is not an adviser of the roster",
                        )
                        .into());
                    }
                }
            }
        };
        if !seen.insert((role, id.clone())) {
            return Err(ValidationError::new(&id_field, "duplicate", "is named twice").into());
        }
        out.push(Participant { role, id });
    }
    Ok(out)
}

pub(super) use xinfang_domain::practices::roster_covers as covers_code;

#[utoipa::path(post, path = "/v1/conferences", tag = "practices",
    summary = "Schedule a case conference (会审): kind, time, place, participants",
    request_body = ScheduleRequest,
    responses((status = 201, description = "The conference", body = ConferenceView),
        (status = 404, description = "Supervision knows no such case")))]
pub async fn schedule(
    State(s): State<ApiState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<ScheduleRequest>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(county) = county_of_case(req.case_no.as_deref()) {
        bureau_staff(&who, &county)?;
    }
    let now = s.clock.now();
    let case = required("case_no", &req.case_no)?;
    let county = input::case_no(case, &s.served)?;
    bureau_staff(&who, &county)?;
    let conference_kind = ConferenceKind::parse("kind", required("kind", &req.kind)?)?;
    let scheduled_at = input::time_near(
        "scheduled_at",
        required("scheduled_at", &req.scheduled_at)?,
        now,
    )?;
    let place = practices::one_line("place", required("place", &req.place)?, PLACE_MAX)?;
    let directory = s.rules.directory.current();
    let mut tx = s.pool.begin().await?;
    let people = participants(&mut tx, &req.participants, &county, &directory).await?;
    known_case(&mut tx, case).await?;
    let id = Uuid::now_v7();
    let by = recorded_as(&who);
    sqlx::query(
        "insert into conferences (id, case_no, county, kind, scheduled_at, place, scheduled_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(case)
    .bind(county.as_str())
    .bind(conference_kind.code())
    .bind(scheduled_at)
    .bind(&place)
    .bind(&by)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let roles: Vec<&str> = people.iter().map(|p| p.role.code()).collect();
    let refs: Vec<&str> = people.iter().map(|p| p.id.as_str()).collect();
    sqlx::query(
        "insert into conference_participants (conference, role, ref)
         select $1, * from unnest($2::text[], $3::text[])",
    )
    .bind(id)
    .bind(&roles)
    .bind(&refs)
    .execute(&mut *tx)
    .await?;
    let mut events = Batch::default();
    let fact = ConferenceScheduled {
        case_no: case.to_owned(),
        conference: id,
        kind: conference_kind,
        scheduled_at,
        place,
        participants: people,
        by,
        at: now,
    };
    push_case_event(
        &mut events,
        record_event_id(id, kind::CONFERENCE_SCHEDULED),
        &county,
        kind::CONFERENCE_SCHEDULED,
        case,
        now,
        &fact,
    )?;
    events.write(&mut tx).await?;
    tx.commit().await?;
    let view = load(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("conference"))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/conferences`: one case's conferences, or a county's (the bureau's calendar).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConferencesQuery {
    /// One case: `XF-<county>-<yyyy>-<seq>`.
    #[param(value_type = Option<String>, max_length = 64, pattern = "^[A-Za-z0-9-]+$")]
    pub case_no: Option<String>,
    /// Without a case: the conferences on this county's cases (bureau staff), the latest 200.
    #[param(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
}

#[utoipa::path(get, path = "/v1/conferences", tag = "practices",
    summary = "A case's conferences, or a county's (case_no or county), newest first",
    params(ConferencesQuery),
    responses((status = 200, description = "{conferences: [...]}", body = Object)))]
pub async fn list(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<ConferencesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let ids: Vec<Uuid> = match (q.case_no.as_deref(), q.county.as_deref()) {
        (Some(case), _) if !case.trim().is_empty() => {
            let county = input::case_no(case, &s.served)?;
            read_case(&s.pool, &who, case, &county).await?;
            sqlx::query_scalar(
                "select id from conferences where case_no = $1 order by scheduled_at desc, id desc",
            )
            .bind(case)
            .fetch_all(&s.pool)
            .await?
        }
        (_, Some(county)) if !county.trim().is_empty() => {
            let code = CountyCode::parse(county.trim())?;
            if !s.served.iter().any(|c| c == code.as_str()) {
                return Err(ValidationError::new(
                    "county",
                    "not_served",
                    "is not a county this deployment serves",
                )
                .into());
            }
            bureau_staff(&who, &code)?;
            sqlx::query_scalar(
                "select id from conferences where county = $1
                 order by scheduled_at desc, id desc limit 200",
            )
            .bind(code.as_str())
            .fetch_all(&s.pool)
            .await?
        }
        _ => {
            return Err(ValidationError::new(
                "case_no",
                "required",
                "name a case (case_no) or a county (county)",
            )
            .into());
        }
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(c) = load(&s.pool, id).await? {
            out.push(c);
        }
    }
    Ok(Json(json!({"conferences": out})))
}

fn conference_id(raw: &str) -> Result<Uuid, ValidationError> {
    input::uuid("conference_id", raw)
}

#[utoipa::path(get, path = "/v1/conferences/{conference_id}", tag = "practices",
    summary = "One conference: participants, minutes, decisions and their tasks' clocks",
    params(("conference_id" = String, Path, format = Uuid, description = "The conference")),
    responses((status = 200, description = "The conference", body = ConferenceView),
        (status = 404, description = "No such conference")))]
pub async fn show(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = conference_id(&id)?;
    let c = load(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("conference"))?;
    let county = CountyCode::parse(&c.county).map_err(|e| ApiError::Internal(e.into()))?;
    read_case(&s.pool, &who, &c.case_no, &county).await?;
    Ok(Json(c))
}

/// A decision as checked, before it is stored.
struct NewDecision {
    id: Uuid,
    text: String,
    task: Option<(String, DateTime<Utc>)>,
}

fn decisions(
    raw: &Option<Vec<DecisionInput>>,
    county: &CountyCode,
    directory: &Directory,
    now: DateTime<Utc>,
) -> Result<Vec<NewDecision>, ValidationError> {
    let list = raw.as_deref().unwrap_or_default();
    if list.len() > MAX_DECISIONS {
        return Err(ValidationError::new(
            "decisions",
            "too_many",
            format!("at most {MAX_DECISIONS} decisions"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            let field = |f: &str| format!("decisions[{i}].{f}");
            let t = text(
                &field("text"),
                required(&field("text"), &d.text)?,
                DECISION_MAX,
            )?;
            let dept = d
                .department
                .as_deref()
                .map(str::trim)
                .filter(|x| !x.is_empty());
            let due = d.due_at.as_deref().map(str::trim).filter(|x| !x.is_empty());
            let task = match (dept, due) {
                (None, None) => None,
                (Some(_), None) => {
                    return Err(ValidationError::new(
                        field("due_at"),
                        "required",
                        "is required for a task given to a department",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ValidationError::new(
                        field("department"),
                        "required",
                        "is required for a decision with a due time",
                    ));
                }
                (Some(dept), Some(due)) => Some((
                    input::department(&field("department"), dept, county, directory)?,
                    input::due_time(&field("due_at"), due, now)?,
                )),
            };
            Ok(NewDecision {
                id: Uuid::now_v7(),
                text: t,
                task,
            })
        })
        .collect()
}

/// The task clock of a decision: derived from the decision, so a repeated write finds it.
fn task_deadline_id(decision: Uuid, due: DateTime<Utc>) -> Uuid {
    deterministic_v7(due.timestamp_millis(), &[decision.as_bytes(), b"task"])
}

#[utoipa::path(post, path = "/v1/conferences/{conference_id}/minutes", tag = "practices",
    summary = "Record that the conference was held: minutes and decisions; tasks get tracked clocks",
    params(("conference_id" = String, Path, format = Uuid, description = "The conference")),
    request_body = MinutesRequest,
    responses((status = 200, description = "The conference", body = ConferenceView),
        (status = 404, description = "No such conference")))]
pub async fn minutes(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<MinutesRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = conference_id(&id)?;
    let row: Option<(String, String, String)> =
        sqlx::query_as("select case_no, county, kind from conferences where id = $1")
            .bind(id)
            .fetch_optional(&s.pool)
            .await?;
    let (case, county, conference_kind) = row.ok_or(ApiError::NotFound("conference"))?;
    let county = CountyCode::parse(&county).map_err(|e| ApiError::Internal(e.into()))?;
    bureau_staff(&who, &county)?;
    let now = s.clock.now();
    let held_at = match req
        .held_at
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        Some(raw) => {
            let t = input::time_near("held_at", raw, now)?;
            if t > now {
                return Err(ValidationError::new(
                    "held_at",
                    "in_future",
                    "must not be in the future",
                )
                .into());
            }
            t
        }
        None => now,
    };
    let minutes = text("minutes", required("minutes", &req.minutes)?, MINUTES_MAX)?;
    let directory = s.rules.directory.current();
    let new = decisions(&req.decisions, &county, &directory, now)?;
    let conference_kind = ConferenceKind::parse("kind", &conference_kind)?;
    let by = recorded_as(&who);

    let mut tx = s.pool.begin().await?;
    let held: Option<String> =
        sqlx::query_scalar("select state from conferences where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if held.as_deref() != Some("scheduled") {
        return Err(ValidationError::new(
            "conference_id",
            "already_held",
            "the conference's minutes are already recorded",
        )
        .into());
    }
    let mut deadlines = Vec::new();
    let mut facts = Vec::with_capacity(new.len());
    for (i, d) in new.iter().enumerate() {
        let position = i32::try_from(i + 1).unwrap_or(i32::MAX);
        let deadline = d.task.as_ref().map(|(dept, due)| {
            let row = NewDeadline {
                id: task_deadline_id(d.id, *due),
                case_no: case.clone(),
                county: county.to_string(),
                department: Some(dept.clone()),
                kind: Tracked::TASK.to_owned(),
                reference: d.id.to_string(),
                trigger_at: now,
                due_at: *due,
                warn_at: s.rules.warn_at(Tracked::ConferenceTask, now, *due),
                // The conference sets the time; no calendar is consulted.
                provisional: false,
                fact_at: None,
            };
            let id = row.id;
            deadlines.push(row);
            id
        });
        sqlx::query(
            "insert into conference_decisions (id, conference, position, text, department, due_at, deadline)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(d.id)
        .bind(id)
        .bind(position)
        .bind(&d.text)
        .bind(d.task.as_ref().map(|t| t.0.as_str()))
        .bind(d.task.as_ref().map(|t| t.1))
        .bind(deadline)
        .execute(&mut *tx)
        .await?;
        facts.push(ConferenceDecision {
            id: d.id,
            position: u32::try_from(position).unwrap_or(0),
            text: d.text.clone(),
            department: d.task.as_ref().map(|t| t.0.clone()),
            due_at: d.task.as_ref().map(|t| t.1),
        });
    }
    sqlx::query(
        "update conferences set state = 'held', minutes = $2, held_at = $3, recorded_by = $4
         where id = $1",
    )
    .bind(id)
    .bind(&minutes)
    .bind(held_at)
    .bind(&by)
    .execute(&mut *tx)
    .await?;
    store::insert_batch(&mut tx, &deadlines, false).await?;
    for d in &deadlines {
        let status = DeadlineStatus {
            case_no: d.case_no.clone(),
            deadline: d.kind.clone(),
            reference: d.reference.clone(),
            department: d.department.clone(),
            trigger: d.trigger_at,
            due: d.due_at,
            state: state::PENDING.to_owned(),
            provisional: false,
            reason: "started".to_owned(),
            at: d.trigger_at,
        };
        // The department hears of its task on its own subject (`dept.<d>.scheduled`).
        store::publish_status(
            &mut tx,
            deadline_kind::DEADLINE_SCHEDULED,
            &status,
            &d.county,
            Some(&directory),
        )
        .await?;
    }
    let mut events = Batch::default();
    let fact = ConferenceHeld {
        case_no: case.clone(),
        conference: id,
        kind: conference_kind,
        held_at,
        minutes,
        decisions: facts,
        by,
        at: now,
    };
    push_case_event(
        &mut events,
        record_event_id(id, kind::CONFERENCE_HELD),
        &county,
        kind::CONFERENCE_HELD,
        &case,
        now,
        &fact,
    )?;
    events.write(&mut tx).await?;
    if !deadlines.is_empty() {
        store::wake_indexer(&mut tx).await?;
    }
    tx.commit().await?;
    let view = load(&s.pool, id)
        .await?
        .ok_or(ApiError::NotFound("conference"))?;
    Ok(Json(view))
}

/// The organ a task binds: `<county>:<code>` names another county's organ, a plain code the
/// case county's department.
fn task_organ(county: &CountyCode, department: &str) -> Option<OrganRef> {
    match department.split_once(':') {
        Some(_) => OrganRef::parse(department).ok(),
        None => Some(OrganRef::new(county.clone(), department)),
    }
}

#[utoipa::path(post, path = "/v1/conferences/{conference_id}/tasks/{decision_id}/done", tag = "practices",
    summary = "The department reports a conference task done; closes its clock (met, or met late)",
    params(("conference_id" = String, Path, format = Uuid, description = "The conference"),
        ("decision_id" = String, Path, format = Uuid, description = "The decision that gave the task")),
    request_body = DoneRequest,
    responses((status = 200, description = "{conference, decision, department, due_at, done_at, late, deadline_state}", body = Object),
        (status = 404, description = "No such conference, or no task of it with this id")))]
pub async fn task_done(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path((conference, decision)): Path<(String, String)>,
    JsonBody(req): JsonBody<DoneRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let conference = conference_id(&conference)?;
    let decision = input::uuid("decision_id", &decision)?;
    finish_task(&s, &who, conference, decision, req).await
}

#[utoipa::path(post, path = "/v1/conference-tasks/{decision_id}/done", tag = "practices",
    summary = "The same by the decision alone: the route a department's task message names",
    params(("decision_id" = String, Path, format = Uuid, description = "The decision that gave the task")),
    request_body = DoneRequest,
    responses((status = 200, description = "{conference, decision, department, due_at, done_at, late, deadline_state}", body = Object),
        (status = 404, description = "No task with this id")))]
pub async fn task_done_by_decision(
    State(s): State<ApiState>,
    Caller(who): Caller,
    Path(decision): Path<String>,
    JsonBody(req): JsonBody<DoneRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let decision = input::uuid("decision_id", &decision)?;
    let conference: Option<Uuid> =
        sqlx::query_scalar("select conference from conference_decisions where id = $1")
            .bind(decision)
            .fetch_optional(&s.pool)
            .await?;
    let conference = conference.ok_or(ApiError::NotFound("task"))?;
    finish_task(&s, &who, conference, decision, req).await
}

async fn finish_task(
    s: &ApiState,
    who: &Principal,
    conference: Uuid,
    decision: Uuid,
    req: DoneRequest,
) -> Result<Json<serde_json::Value>, ApiError> {
    let row: Option<TaskRow> = sqlx::query_as(
        "select c.case_no, c.county, d.department, d.due_at
         from conference_decisions d join conferences c on c.id = d.conference
         where d.id = $2 and c.id = $1",
    )
    .bind(conference)
    .bind(decision)
    .fetch_optional(&s.pool)
    .await?;
    let Some((case, county, Some(department), Some(due_at))) = row else {
        return Err(ApiError::NotFound("task"));
    };
    let county = CountyCode::parse(&county).map_err(|e| ApiError::Internal(e.into()))?;
    may_report(who, &county, &department)?;
    let note = text("note", required("note", &req.note)?, NOTE_MAX)?;
    let now = s.clock.now();
    let by = recorded_as(who);
    let mut tx = s.pool.begin().await?;
    let done = sqlx::query(
        "update conference_decisions set done_at = $2, done_note = $3, done_by = $4
         where id = $1 and done_at is null",
    )
    .bind(decision)
    .bind(now)
    .bind(&note)
    .bind(&by)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(ValidationError::new(
            "decision_id",
            "already_done",
            "the task is already reported done",
        )
        .into());
    }
    let closed = close_task(&mut tx, &case, decision, now).await?;
    let late = now > due_at;
    let mut events = Batch::default();
    let fact = ConferenceTaskDone {
        case_no: case.clone(),
        conference,
        decision,
        department: department.clone(),
        due_at,
        late,
        note,
        by,
        at: now,
    };
    push_case_event(
        &mut events,
        record_event_id(decision, kind::CONFERENCE_TASK_DONE),
        &county,
        kind::CONFERENCE_TASK_DONE,
        &case,
        now,
        &fact,
    )?;
    events.write(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(json!({
        "conference": conference,
        "decision": decision,
        "department": department,
        "due_at": due_at,
        "done_at": now,
        "late": late,
        "deadline_state": closed,
    })))
}

/// A task's case, county, department and due time (`None`: a decision that is no task).
type TaskRow = (String, String, Option<String>, Option<DateTime<Utc>>);

/// The department given the task reports it; the bureau's staff may record it for them.
fn may_report(who: &Principal, county: &CountyCode, department: &str) -> Result<(), ApiError> {
    match who.role {
        Role::Department => {
            let organ = task_organ(county, department).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("stored task department is no organ"))
            })?;
            access::act_as_department(who, &organ.county, &organ.dept).map_err(forbid)
        }
        _ => bureau_staff(who, county),
    }
}

/// Closes the task's clock as its department's report means: met, or met late after its due
/// time (also when it had fired). Returns the state it closed in.
async fn close_task(
    conn: &mut PgConnection,
    case_no: &str,
    decision: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<String>> {
    let open: Vec<DeadlineRow> = sqlx::query_as(
        "select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                provisional
         from deadlines
         where case_no = $1 and kind = $2 and ref = $3
           and (state in ('pending', 'paused') or (state = 'fired' and closed_at is null))
         for update",
    )
    .bind(case_no)
    .bind(Tracked::TASK)
    .bind(decision.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut last = None;
    for mut d in open {
        let to = final_state_of(&d.kind, "done", d.state == state::FIRED, at > d.due_at);
        sqlx::query(
            "update deadlines set state = $2, closed_at = $3, close_reason = 'done',
                    indexed = indexed and state = 'fired', updated_at = now()
             where id = $1",
        )
        .bind(d.id)
        .bind(to)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        d.state = to.to_owned();
        let status = store::status_of(&d, "done", at);
        store::publish_status(
            conn,
            deadline_kind::DEADLINE_CLOSED,
            &status,
            &d.county,
            None,
        )
        .await?;
        last = Some(to.to_owned());
    }
    store::wake_indexer(conn).await?;
    Ok(last)
}
