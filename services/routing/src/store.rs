//! The `routing` schema: cases, assignments, the actions log and stored request answers.
//! Every function writes through the caller's connection, i.e. inside its transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Row};
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::{AssignMode, DeptRole, SealedContact};
use xinfang_domain::lifecycle;
use xinfang_domain::routing::{Decision, RoutingFacts};

/// Routing's view of one case.
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub case_no: String,
    /// County whose stream carries the case's events.
    pub home_county: CountyCode,
    pub facts: RoutingFacts,
    pub lifecycle: lifecycle::Case,
    pub text: String,
    /// The text with identifiers masked, from intake (older events carry none).
    pub text_redacted: Option<String>,
    pub contact: Option<SealedContact>,
    pub lead: Option<OrganRef>,
    pub mode: Option<AssignMode>,
    pub held_reason: Option<String>,
}

impl CaseRow {
    pub fn confidential(&self) -> bool {
        self.facts.is_confidential() || self.lifecycle.confidential
    }
}

/// Assignment statuses (each department's own).
pub mod status {
    pub const ASSIGNED: &str = "assigned";
    /// Political-legal organs get the letter, not a petition case to handle.
    pub const FORWARDED: &str = "forwarded";
    pub const ACCEPTED: &str = "accepted";
    pub const OBJECTED: &str = "objected";
    pub const EXTENDED: &str = "extended";
    pub const MEDIATED: &str = "mediated";
    pub const REPLIED: &str = "replied";
    pub const TRANSFERRED: &str = "transferred";
    /// The objection was upheld: the department is off the case.
    pub const WITHDRAWN: &str = "withdrawn";
    /// Diverted into a legal channel after acceptance (Art 31(2)–(4)).
    pub const DIVERTED: &str = "diverted";
    /// Completion report sent; the bureau checks it (Art 22 para 1(3)).
    pub const REPORTED: &str = "reported";
    /// The bureau's check failed: the department redoes the handling (退回重办).
    pub const RETURNED: &str = "returned";
    /// The bureau's check passed (办结).
    pub const CLOSED: &str = "closed";
    /// A 复查/复核 decision revoked or changed its opinion: it gives a new one (issue #20).
    pub const REMANDED: &str = "remanded";

    /// Statuses in which the department is still on the case.
    pub fn active(s: &str) -> bool {
        !matches!(s, TRANSFERRED | WITHDRAWN)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentRow {
    pub organ: OrganRef,
    pub role: DeptRole,
    pub status: String,
    pub mode: AssignMode,
    pub assigned_at: DateTime<Utc>,
}

fn mode_str(m: AssignMode) -> &'static str {
    match m {
        AssignMode::Forward => "forward",
        AssignMode::Assign => "assign",
    }
}

fn parse_mode(s: &str) -> AssignMode {
    if s == "assign" {
        AssignMode::Assign
    } else {
        AssignMode::Forward
    }
}

fn role_str(r: DeptRole) -> &'static str {
    match r {
        DeptRole::Lead => "lead",
        DeptRole::Assisting => "assisting",
    }
}

pub async fn case_exists(conn: &mut PgConnection, case_no: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from cases where case_no = $1)")
        .bind(case_no)
        .fetch_one(&mut *conn)
        .await
}

pub async fn insert_case(conn: &mut PgConnection, row: &CaseRow) -> anyhow::Result<()> {
    sqlx::query(
        "insert into cases (case_no, home_county, facts, lifecycle, state, petition_type,
                            confidential, text, contact, text_redacted)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&row.case_no)
    .bind(row.home_county.as_str())
    .bind(serde_json::to_value(&row.facts)?)
    .bind(serde_json::to_value(&row.lifecycle)?)
    .bind(row.lifecycle.state.as_str())
    .bind(row.facts.petition_type.as_str())
    .bind(row.confidential())
    .bind(&row.text)
    .bind(row.contact.as_ref().map(|c| c.0.as_str()))
    .bind(&row.text_redacted)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Saves facts, lifecycle, lead and hold reason (and the decision, when one was made).
pub async fn save_case(
    conn: &mut PgConnection,
    row: &CaseRow,
    decision: Option<&Decision>,
) -> anyhow::Result<()> {
    let decision = decision.map(serde_json::to_value).transpose()?;
    sqlx::query(
        "update cases set facts = $2, lifecycle = $3, state = $4, petition_type = $5,
                confidential = $6, lead_county = $7, lead_department = $8, mode = $9,
                held_reason = $10, decision = coalesce($11, decision), updated_at = now()
         where case_no = $1",
    )
    .bind(&row.case_no)
    .bind(serde_json::to_value(&row.facts)?)
    .bind(serde_json::to_value(&row.lifecycle)?)
    .bind(row.lifecycle.state.as_str())
    .bind(row.facts.petition_type.as_str())
    .bind(row.confidential())
    .bind(row.lead.as_ref().map(|o| o.county.as_str().to_owned()))
    .bind(row.lead.as_ref().map(|o| o.dept.clone()))
    .bind(row.mode.map(mode_str))
    .bind(&row.held_reason)
    .bind(decision)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Loads a case and locks it for the rest of the transaction, so actions on one case are
/// serialised.
pub async fn lock_case(conn: &mut PgConnection, case_no: &str) -> anyhow::Result<Option<CaseRow>> {
    let row = sqlx::query(
        "select case_no, home_county, facts, lifecycle, text, text_redacted, contact,
                lead_county, lead_department, mode, held_reason
         from cases where case_no = $1 for update",
    )
    .bind(case_no)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let lead = match (
        row.try_get::<Option<String>, _>("lead_county")?,
        row.try_get::<Option<String>, _>("lead_department")?,
    ) {
        (Some(c), Some(d)) => Some(OrganRef::new(CountyCode::parse(&c)?, d)),
        _ => None,
    };
    Ok(Some(CaseRow {
        case_no: row.try_get("case_no")?,
        home_county: CountyCode::parse(&row.try_get::<String, _>("home_county")?)?,
        facts: serde_json::from_value(row.try_get("facts")?)?,
        lifecycle: serde_json::from_value(row.try_get("lifecycle")?)?,
        text: row.try_get("text")?,
        text_redacted: row.try_get("text_redacted")?,
        contact: row
            .try_get::<Option<String>, _>("contact")?
            .map(SealedContact),
        lead,
        mode: row
            .try_get::<Option<String>, _>("mode")?
            .as_deref()
            .map(parse_mode),
        held_reason: row.try_get("held_reason")?,
    }))
}

pub async fn assignments(
    conn: &mut PgConnection,
    case_no: &str,
) -> anyhow::Result<Vec<AssignmentRow>> {
    let rows = sqlx::query(
        "select county, department, role, status, mode, assigned_at from assignments
         where case_no = $1 order by assigned_at, role desc, department",
    )
    .bind(case_no)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(AssignmentRow {
                organ: OrganRef::new(
                    CountyCode::parse(&r.try_get::<String, _>("county")?)?,
                    r.try_get::<String, _>("department")?,
                ),
                role: if r.try_get::<String, _>("role")? == "lead" {
                    DeptRole::Lead
                } else {
                    DeptRole::Assisting
                },
                status: r.try_get("status")?,
                mode: parse_mode(&r.try_get::<String, _>("mode")?),
                assigned_at: r.try_get("assigned_at")?,
            })
        })
        .collect()
}

pub async fn upsert_assignment(
    conn: &mut PgConnection,
    case_no: &str,
    organ: &OrganRef,
    role: DeptRole,
    status: &str,
    mode: AssignMode,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into assignments (case_no, county, department, role, status, mode, assigned_at)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (case_no, county, department) do update
            set role = excluded.role, status = excluded.status, mode = excluded.mode,
                assigned_at = excluded.assigned_at, updated_at = now()",
    )
    .bind(case_no)
    .bind(organ.county.as_str())
    .bind(&organ.dept)
    .bind(role_str(role))
    .bind(status)
    .bind(mode_str(mode))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_assignment_status(
    conn: &mut PgConnection,
    case_no: &str,
    organ: &OrganRef,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update assignments set status = $4, updated_at = now()
         where case_no = $1 and county = $2 and department = $3",
    )
    .bind(case_no)
    .bind(organ.county.as_str())
    .bind(&organ.dept)
    .bind(status)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One line of the actions log.
pub struct ActionLog<'a> {
    pub case_no: &'a str,
    pub organ: &'a OrganRef,
    pub action: &'a str,
    pub request_id: Option<Uuid>,
    pub done: bool,
    pub rule: Option<&'a str>,
    pub event_id: Option<Uuid>,
    pub note: Option<&'a str>,
}

pub async fn log_action(conn: &mut PgConnection, a: &ActionLog<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "insert into actions (case_no, county, department, action, request_id, outcome, rule,
                              event_id, note)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.case_no)
    .bind(a.organ.county.as_str())
    .bind(&a.organ.dept)
    .bind(a.action)
    .bind(a.request_id)
    .bind(if a.done { "done" } else { "refused" })
    .bind(a.rule)
    .bind(a.event_id)
    .bind(a.note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stored answer to a client request.
pub struct StoredRequest {
    pub county: String,
    pub department: String,
    pub action: String,
    pub case_no: String,
    pub status: u16,
    pub response: serde_json::Value,
}

pub async fn find_request(
    conn: &mut PgConnection,
    request_id: Uuid,
) -> anyhow::Result<Option<StoredRequest>> {
    let row = sqlx::query(
        "select county, department, action, case_no, status, response from requests
         where request_id = $1",
    )
    .bind(request_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(StoredRequest {
        county: r.try_get("county")?,
        department: r.try_get("department")?,
        action: r.try_get("action")?,
        case_no: r.try_get("case_no")?,
        status: u16::try_from(r.try_get::<i16, _>("status")?).unwrap_or(500),
        response: r.try_get("response")?,
    }))
}

pub async fn store_request(
    conn: &mut PgConnection,
    request_id: Uuid,
    organ: &OrganRef,
    action: &str,
    case_no: &str,
    status: u16,
    response: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into requests (request_id, county, department, action, case_no, status, response)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(request_id)
    .bind(organ.county.as_str())
    .bind(&organ.dept)
    .bind(action)
    .bind(case_no)
    .bind(status as i16)
    .bind(response)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A department's transfer request waiting for the bureau (Art 23 para 3).
#[derive(Debug, Clone)]
pub struct TransferRequestRow {
    pub id: i64,
    pub from: OrganRef,
    pub to: OrganRef,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
}

/// The case's pending transfer request, if any (locked with the case by the caller).
pub async fn pending_transfer(
    conn: &mut PgConnection,
    case_no: &str,
) -> anyhow::Result<Option<TransferRequestRow>> {
    let row = sqlx::query(
        "select id, from_county, from_department, to_county, to_department, reason, requested_at
         from transfer_requests where case_no = $1 and decision is null",
    )
    .bind(case_no)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(TransferRequestRow {
        id: r.try_get("id")?,
        from: OrganRef::new(
            CountyCode::parse(&r.try_get::<String, _>("from_county")?)?,
            r.try_get::<String, _>("from_department")?,
        ),
        to: OrganRef::new(
            CountyCode::parse(&r.try_get::<String, _>("to_county")?)?,
            r.try_get::<String, _>("to_department")?,
        ),
        reason: r.try_get("reason")?,
        requested_at: r.try_get("requested_at")?,
    }))
}

pub async fn insert_transfer_request(
    conn: &mut PgConnection,
    case_no: &str,
    from: &OrganRef,
    to: &OrganRef,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into transfer_requests (case_no, from_county, from_department, to_county,
                                        to_department, reason, requested_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(case_no)
    .bind(from.county.as_str())
    .bind(&from.dept)
    .bind(to.county.as_str())
    .bind(&to.dept)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn decide_transfer_request(
    conn: &mut PgConnection,
    id: i64,
    approved: bool,
    by: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update transfer_requests set decision = $2, decided_by = $3, decision_reason = $4,
                decided_at = $5
         where id = $1",
    )
    .bind(id)
    .bind(if approved { "approved" } else { "rejected" })
    .bind(by)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Closes a waiting transfer request whose matter left the requesting unit before the bureau
/// decided (a re-route): it is moot, and the next unit must be free to act.
pub async fn withdraw_pending_transfer(
    conn: &mut PgConnection,
    case_no: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "update transfer_requests set decision = 'withdrawn', decided_by = 'routing',
                decision_reason = $2, decided_at = $3
         where case_no = $1 and decision is null",
    )
    .bind(case_no)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
