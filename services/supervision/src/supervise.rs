//! 督办 records (Art 40): issued by hand (HTTP) or raised when a duty deadline passes. Each
//! record publishes `xf.<county>.case.supervised` (the bureau's record on the case) and
//! `xf.<county>.dept.<dept>.supervision` (the department's notice), and its response deadline
//! is itself a tracked clock (kind `supervision`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline_plan::Tracked;
use xinfang_domain::deadline_state::{final_state_of, state};
use xinfang_domain::dept_notice::{addressee, organ_bound};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{DeadlineStatus, DeptSupervised, Supervised, kind};
use xinfang_domain::subject;

use crate::handlers::Rules;
use crate::ids::{deterministic_v7, firing_event_id, millis_of};
use crate::store::{self, DeadlineRow, NewDeadline};
use xinfang_platform::outbox::Batch;

/// The forms of 督办 a supervisor may issue (domain.md §9, practice S25).
pub const FORMS: [&str; 4] = ["written_notice", "summons", "on_site", "joint"];
/// The form recorded for an automatic escalation of an overdue deadline.
pub const ESCALATION: &str = "escalation";

#[derive(Debug, Clone)]
pub struct NewSupervision {
    pub id: Uuid,
    pub case_no: String,
    pub county: CountyCode,
    pub department: String,
    pub form: String,
    pub issuer: String,
    pub note: String,
    pub respond_by: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// The overdue deadline an escalation answers; at most one escalation per deadline.
    pub cause_deadline: Option<Uuid>,
    /// Trace to continue (an escalation continues the case's); `None`: the current span's.
    pub trace: Option<serde_json::Value>,
}

impl NewSupervision {
    /// The id of the response deadline: derived, so a repeated write finds the same row.
    pub fn response_deadline(&self) -> Uuid {
        deterministic_v7(
            self.respond_by.timestamp_millis(),
            &[self.id.as_bytes(), b"response"],
        )
    }
}

/// A stored 督办 record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SupervisionRow {
    pub id: Uuid,
    pub case_no: String,
    pub county: String,
    pub department: String,
    pub form: String,
    pub issuer: String,
    pub note: String,
    pub respond_by: DateTime<Utc>,
    pub response_deadline: Option<Uuid>,
    pub cause_deadline: Option<Uuid>,
    pub responded_at: Option<DateTime<Utc>>,
    /// The department's written answer, once given.
    pub response: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An automatic 督办 (form `escalation`) on a duty clock: to its department (the bureau's for
/// D1), its note `{prefix}：<the duty> 应于 <due, China time> 前完成`. `None` for a clock whose
/// kind does not escalate (windows, a 督办's own response deadline).
pub fn escalation_of(
    row: &DeadlineRow,
    rules: &Rules,
    id: Uuid,
    prefix: &str,
    respond_by: DateTime<Utc>,
    at: DateTime<Utc>,
    cause_deadline: Option<Uuid>,
) -> Option<NewSupervision> {
    let tracked = row.kind.parse::<Tracked>().ok()?;
    if !tracked.escalates() {
        return None;
    }
    let county = CountyCode::parse(&row.county).ok()?;
    let s = &rules.settings;
    let what = match tracked {
        Tracked::Statutory(k) => format!("{} {}（{}）", k.code(), k.zh(), k.article()),
        Tracked::ConferenceTask => "会审交办任务 conference task".to_owned(),
        other => other.code().to_owned(),
    };
    let due_local = row
        .due_at
        .with_timezone(&xinfang_domain::deadline::CST)
        .format("%Y-%m-%d %H:%M");
    Some(NewSupervision {
        id,
        case_no: row.case_no.clone(),
        county,
        department: row
            .department
            .clone()
            .unwrap_or_else(|| s.bureau_department.clone()),
        form: ESCALATION.to_owned(),
        issuer: s.escalation_issuer.clone(),
        note: format!("{prefix}：{what} 应于 {due_local} 前完成"),
        respond_by,
        at,
        cause_deadline,
        trace: Some(row.trace.clone()),
    })
}

/// Writes records that are not there yet, their response deadlines and their events (into
/// `events`, written by the caller in the same transaction). Returns the records written.
pub async fn record(
    conn: &mut PgConnection,
    items: &[NewSupervision],
    rules: &Rules,
    events: &mut Batch,
) -> anyhow::Result<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = items.iter().map(|s| s.id).collect();
    let case_no: Vec<&str> = items.iter().map(|s| s.case_no.as_str()).collect();
    let county: Vec<&str> = items.iter().map(|s| s.county.as_str()).collect();
    let department: Vec<&str> = items.iter().map(|s| s.department.as_str()).collect();
    let form: Vec<&str> = items.iter().map(|s| s.form.as_str()).collect();
    let issuer: Vec<&str> = items.iter().map(|s| s.issuer.as_str()).collect();
    let note: Vec<&str> = items.iter().map(|s| s.note.as_str()).collect();
    let respond_by: Vec<DateTime<Utc>> = items.iter().map(|s| s.respond_by).collect();
    let response: Vec<Uuid> = items
        .iter()
        .map(NewSupervision::response_deadline)
        .collect();
    let cause: Vec<Option<Uuid>> = items.iter().map(|s| s.cause_deadline).collect();
    let created: Vec<DateTime<Utc>> = items.iter().map(|s| s.at).collect();
    let written: Vec<Uuid> = sqlx::query_scalar(
        "insert into supervisions (id, case_no, county, department, form, issuer, note, respond_by,
                                   response_deadline, cause_deadline, created_at)
         select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::timestamptz[], $9::uuid[], $10::uuid[], $11::timestamptz[])
         on conflict do nothing
         returning id",
    )
    .bind(&ids)
    .bind(&case_no)
    .bind(&county)
    .bind(&department)
    .bind(&form)
    .bind(&issuer)
    .bind(&note)
    .bind(&respond_by)
    .bind(&response)
    .bind(&cause)
    .bind(&created)
    .fetch_all(&mut *conn)
    .await?;
    let written: std::collections::HashSet<Uuid> = written.into_iter().collect();
    let items: Vec<&NewSupervision> = items.iter().filter(|s| written.contains(&s.id)).collect();
    // The response deadlines first: each department's message lists its own.
    let deadlines: Vec<NewDeadline> = items
        .iter()
        .map(|s| NewDeadline {
            id: s.response_deadline(),
            case_no: s.case_no.clone(),
            county: s.county.to_string(),
            department: Some(s.department.clone()),
            kind: Tracked::SUPERVISION.to_owned(),
            reference: s.id.to_string(),
            trigger_at: s.at,
            due_at: s.respond_by,
            warn_at: rules.warn_at(Tracked::SupervisionResponse, s.at, s.respond_by),
            // A 督办 sets its own time; no calendar is consulted.
            provisional: false,
            fact_at: None,
        })
        .collect();
    store::insert_batch(conn, &deadlines, false).await?;
    let cases: Vec<String> = items.iter().map(|s| s.case_no.clone()).collect();
    let owed = store::owed_for_cases(conn, &cases).await?;
    let directory = rules.directory.current();
    for s in &items {
        let payload = Supervised {
            case_no: s.case_no.clone(),
            department: s.department.clone(),
            form: s.form.clone(),
            issuer: s.issuer.clone(),
            note: s.note.clone(),
            respond_by: s.respond_by,
            at: s.at,
        };
        // Ids depend on the record only, so writing it again yields the same events.
        let at_ms = millis_of(s.id);
        let case_env = Envelope::with_id(
            firing_event_id(s.id, kind::SUPERVISED, at_ms, "case"),
            kind::SUPERVISED,
            Some(s.case_no.clone()),
            s.county.clone(),
            s.at,
            payload.clone(),
        )?;
        events.push_traced(
            &subject::case_event(&s.county, kind::SUPERVISED)?,
            &case_env,
            s.trace.as_ref(),
        )?;
        // The organ on whose subjects it hears: a department of the county, a review organ
        // (`411200:gov`), or another county's department handling this matter (`411200:rsj`).
        let Some(organ) = organ_bound(&s.county, &s.department, Tracked::SUPERVISION) else {
            tracing::debug!(case_no = %s.case_no, "督办 department has no subject of its own");
            continue;
        };
        let id = s.id.to_string();
        let n = store::organ_notice(
            &owed,
            &s.case_no,
            &organ,
            Some((Tracked::SUPERVISION, id.as_str())),
        );
        let data = DeptSupervised {
            supervised: payload,
            supervision_id: s.id,
            addressee: addressee(&directory, &organ),
            deadlines: n.deadlines,
            actions: n.actions,
            action_routes: n.action_routes,
        };
        let dept_env = Envelope::with_id(
            firing_event_id(s.id, kind::SUPERVISION, at_ms, "dept"),
            kind::SUPERVISION,
            Some(s.case_no.clone()),
            s.county.clone(),
            s.at,
            data,
        )?;
        events.push_traced(
            &subject::dept_event(&organ.county, &organ.dept, kind::SUPERVISION)?,
            &dept_env,
            s.trace.as_ref(),
        )?;
    }
    if !deadlines.is_empty() {
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
            store::publish_status(conn, kind::DEADLINE_SCHEDULED, &status, &d.county, None).await?;
        }
        store::wake_indexer(conn).await?;
    }
    Ok(written.len())
}

/// Records a department's response to a 督办 and closes its response deadline.
/// Returns false when there is no such record.
pub async fn respond(
    conn: &mut PgConnection,
    id: Uuid,
    response: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "update supervisions set responded_at = coalesce(responded_at, $2), response = coalesce(response, $3)
         where id = $1 returning case_no",
    )
    .bind(id)
    .bind(at)
    .bind(response)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((case_no,)) = row else {
        return Ok(false);
    };
    // The response meets the deadline (late when it had passed); `deadline.closed` tells the
    // registry.
    let open: Vec<DeadlineRow> = sqlx::query_as(
        "select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                provisional
         from deadlines
         where case_no = $1 and kind = 'supervision' and ref = $2
           and (state in ('pending', 'paused') or (state = 'fired' and closed_at is null))
         for update",
    )
    .bind(&case_no)
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for mut d in open {
        let to = final_state_of(&d.kind, "responded", d.state == state::FIRED, at > d.due_at);
        sqlx::query(
            "update deadlines set state = $2, closed_at = $3, close_reason = 'responded',
                    indexed = indexed and state = 'fired', updated_at = now()
             where id = $1",
        )
        .bind(d.id)
        .bind(to)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        d.state = to.to_owned();
        let status = store::status_of(&d, "responded", at);
        store::publish_status(conn, kind::DEADLINE_CLOSED, &status, &d.county, None).await?;
    }
    store::wake_indexer(conn).await?;
    Ok(true)
}

/// The 督办 records of a case, newest first.
pub async fn for_case(pool: &sqlx::PgPool, case_no: &str) -> sqlx::Result<Vec<SupervisionRow>> {
    sqlx::query_as::<_, SupervisionRow>(
        "select id, case_no, county, department, form, issuer, note, respond_by, response_deadline,
                cause_deadline, responded_at, response, created_at
         from supervisions where case_no = $1 order by created_at desc, id desc",
    )
    .bind(case_no)
    .fetch_all(pool)
    .await
}

/// One 督办 record, with the department's response once given.
pub async fn by_id(pool: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Option<SupervisionRow>> {
    sqlx::query_as::<_, SupervisionRow>(
        "select id, case_no, county, department, form, issuer, note, respond_by, response_deadline,
                cause_deadline, responded_at, response, created_at
         from supervisions where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
