//! Department actions — accept (受理告知), object (异议), transfer, extend (延期), mediate
//! (调解/和解), reply — and the bureau's objection decision. One entry point,
//! [`execute`], serves NATS request/reply and HTTP alike.
//!
//! Each action is checked against the sender's department (only departments the case is
//! assigned to may act; assisting departments only accept and reply; only the petition bureau
//! decides objections) and against the domain state machine. A refusal names the rule. An
//! accepted action writes its `xf.<county>.case.<event>` through the outbox in the same
//! transaction as its effects. A client-supplied `request_id` makes actions idempotent: the
//! same request again has no further effect and gets the stored answer.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{Executor, PgConnection};
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{cst_date, end_of_day};
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::{
    Accepted, DeptRole, Extended, Mediated, Objected, ObjectionDecided, Replied, Transferred, kind,
};
use xinfang_domain::lifecycle::{
    self, CaseState, Command, LifecycleError, allowed_commands, apply_with,
};
use xinfang_domain::petition::{Art31Branch, OpinionOutcome, PetitionType};
use xinfang_domain::routing::{Decision, decide};
use xinfang_domain::subject;

use crate::apply::{ApplyError, Target, apply_decision, check_served, send_to_department};
use crate::context::{Ctx, cst};
use crate::emit::{EventRef, case_event};
use crate::store::{self, ActionLog, AssignmentRow, CaseRow, status};

/// Actions a department (or, for `objection_decision`, the petition bureau) may send.
pub const ACTIONS: &[&str] = &[
    "accept",
    "object",
    "transfer",
    "extend",
    "mediate",
    "reply",
    "objection_decision",
];

/// Longest free text accepted (reasons, replies, summaries).
const MAX_TEXT: usize = 20_000;

/// A department's request, from a NATS subject or an HTTP call.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    /// The sender's county (the NATS subject's); `None` over HTTP when only a code was given:
    /// then it is the county where the case is assigned to that department.
    pub county: Option<CountyCode>,
    pub department: String,
    pub action: String,
    /// From the HTTP path; otherwise the body's `case_no`.
    pub case_no: Option<String>,
    pub body: Value,
}

/// An answer: the HTTP status it maps to and the JSON body (also the NATS reply).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A refused or invalid request.
#[derive(Debug, Clone)]
struct Refusal {
    status: u16,
    code: &'static str,
    rule: String,
    message: String,
    field: Option<String>,
    /// Stored under the request id (a decision on the request) or not (invalid input, an
    /// unknown case: a retry may succeed).
    store: bool,
}

impl Refusal {
    fn new(
        status: u16,
        code: &'static str,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            rule: rule.into(),
            message: message.into(),
            field: None,
            store: true,
        }
    }

    fn invalid(field: &str, rule: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(422, "invalid", rule, message)
        }
    }

    fn body(&self) -> Value {
        let mut e = json!({"code": self.code, "rule": self.rule, "message": self.message});
        if let Some(f) = &self.field {
            e["field"] = json!(f);
        }
        json!({ "error": e })
    }

    fn answer(&self) -> Answer {
        Answer {
            status: self.status,
            body: self.body(),
        }
    }
}

fn lifecycle_refusal(e: &LifecycleError) -> Refusal {
    use LifecycleError::*;
    let (status, rule) = match e {
        NotAllowed { .. } => (409, "state_machine"),
        ReviewNeedsHandlingOpinion => (409, "review_needs_handling_opinion"),
        ReviewWindowClosed { .. } => (409, "review_window_closed"),
        RereviewWindowClosed { .. } => (409, "rereview_window_closed"),
        ExtensionAlreadyUsed => (409, "extension_once"),
        ExtensionOutOfRange { .. } => (422, "extension_days"),
        ExtensionIncomplete { .. } => (422, "extension_incomplete"),
        ObjectionWindowClosed { .. } => (409, "objection_window"),
        ObjectionWithoutReason => (422, "objection_reason"),
        CompletionReportRequired => (409, "completion_report_required"),
        NothingToCheck => (409, "nothing_to_check"),
        WrongType { .. } => (409, "wrong_type"),
        NotClassified { .. } => (409, "not_classified"),
        WrongBranch { .. } => (409, "wrong_branch"),
        BranchWithoutGrievance => (409, "branch_without_grievance"),
        HearingIsFirstInstance | HearingIsRereview => (409, "hearing_stage"),
        EarlierMatterOutOfTime { .. } => (409, "earlier_matter_out_of_time"),
        MissingRecord { .. } => (422, "missing_record"),
        OutOfOrder { .. } => (422, "out_of_order"),
        AppealWindowOpen { .. } => (409, "appeal_window_open"),
        AlreadyFinal => (409, "already_final"),
        NoAppealWindow => (409, "no_appeal_window"),
        Inconsistent(_) => (409, "inconsistent"),
        Deadline(_) => (409, "deadline"),
    };
    let code = if status == 422 { "invalid" } else { "refused" };
    Refusal::new(status, code, rule, e.to_string())
}

/// What an accepted action did.
struct Done {
    events: Vec<EventRef>,
    assignment_status: Option<String>,
}

type Step<T> = Result<T, Refusal>;

/// Runs one action. Never fails: infrastructure errors become a 500 answer (logged).
pub async fn execute(ctx: &Ctx, req: ActionRequest, now: DateTime<Utc>) -> Answer {
    let action = req.action.clone();
    match execute_inner(ctx, req, now).await {
        Ok(a) => {
            metrics::counter!("xf_routing_actions_total", "action" => action, "status" => a.status.to_string())
                .increment(1);
            a
        }
        Err(e) => {
            tracing::error!(action = %action, error = %format!("{e:#}"), "department action failed");
            Answer {
                status: 500,
                body: json!({"error": {"code": "internal", "rule": "internal",
                    "message": "internal error; it has been logged"}}),
            }
        }
    }
}

struct Common {
    case_no: String,
    request_id: Uuid,
}

fn parse_common(req: &ActionRequest) -> Step<Common> {
    if !req.body.is_object() {
        return Err(Refusal::invalid(
            "body",
            "json_object",
            "the request body must be a JSON object",
        ));
    }
    let case_no = match (&req.case_no, req.body.get("case_no")) {
        (Some(c), _) => c.clone(),
        (None, Some(Value::String(c))) => c.clone(),
        _ => {
            return Err(Refusal::invalid(
                "case_no",
                "required",
                "the case number is required",
            ));
        }
    };
    let case_no = case_no.trim().to_owned();
    if case_no.is_empty() || case_no.len() > 64 {
        return Err(Refusal::invalid(
            "case_no",
            "case_no_format",
            "must be a case number such as XF-411282-2026-000001",
        ));
    }
    let request_id = match req.body.get("request_id") {
        Some(Value::String(s)) => Uuid::parse_str(s.trim()).map_err(|_| {
            Refusal::invalid(
                "request_id",
                "uuid",
                "must be a UUID chosen by the client for this request",
            )
        })?,
        _ => {
            return Err(Refusal::invalid(
                "request_id",
                "required",
                "a client-chosen UUID is required, so a repeated request has no double effect",
            ));
        }
    };
    if subject::token("dept", &req.department).is_err() {
        return Err(Refusal::invalid(
            "department",
            "department_code",
            "must be a lowercase department code",
        ));
    }
    Ok(Common {
        case_no,
        request_id,
    })
}

async fn execute_inner(
    ctx: &Ctx,
    req: ActionRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<Answer> {
    if !ACTIONS.contains(&req.action.as_str()) {
        return Ok(Refusal::new(
            404,
            "unknown_action",
            "action",
            format!("unknown action; one of: {}", ACTIONS.join(", ")),
        )
        .answer());
    }
    let common = match parse_common(&req) {
        Ok(c) => c,
        Err(r) => return Ok(r.answer()),
    };
    let mut tx = ctx.pool.begin().await?;
    // Lock first, then look for the request: a concurrent twin waits here and then finds
    // the stored answer.
    let Some(mut row) = store::lock_case(&mut tx, &common.case_no).await? else {
        return Ok(Refusal {
            store: false,
            ..Refusal::new(404, "not_found", "case", "no such case is known to routing")
        }
        .answer());
    };
    let assignments = store::assignments(&mut tx, &row.case_no).await?;
    let sender = resolve_sender(ctx, &req, &row, &assignments);
    if let Some(prev) = store::find_request(&mut tx, common.request_id).await? {
        let same = prev.department == sender.dept
            && prev.county == sender.county.as_str()
            && prev.action == req.action
            && prev.case_no == row.case_no;
        return Ok(if same {
            Answer {
                status: prev.status,
                body: prev.response,
            }
        } else {
            Refusal::new(
                409,
                "conflict",
                "request_id_reused",
                "this request_id was already used for a different request",
            )
            .answer()
        });
    }

    tx.execute("savepoint xf_action").await?;
    let outcome = dispatch(&mut tx, ctx, &mut row, &assignments, &sender, &req, now).await?;
    let (status, body, log_event, rule, done) = match outcome {
        Ok(done) => {
            let primary = done.events.first().cloned();
            let body = json!({
                "ok": true,
                "case_no": row.case_no,
                "action": req.action,
                "state": row.lifecycle.state.as_str(),
                "assignment": done.assignment_status.as_ref().map(|s| json!({
                    "county": sender.county.as_str(), "department": sender.dept, "status": s})),
                "event": primary,
                "events": done.events,
            });
            (200u16, body, primary.map(|e| e.id), None, true)
        }
        Err(refusal) => {
            tx.execute("rollback to savepoint xf_action").await?;
            // Invalid input is not an answer to keep: the client corrects it and retries
            // with the same request id.
            if !refusal.store || refusal.status == 422 {
                return Ok(refusal.answer());
            }
            (
                refusal.status,
                refusal.body(),
                None,
                Some(refusal.rule.clone()),
                false,
            )
        }
    };
    store::log_action(
        &mut tx,
        &ActionLog {
            case_no: &row.case_no,
            organ: &sender,
            action: &req.action,
            request_id: Some(common.request_id),
            done,
            rule: rule.as_deref(),
            event_id: log_event,
            note: None,
        },
    )
    .await?;
    store::store_request(
        &mut tx,
        common.request_id,
        &sender,
        &req.action,
        &row.case_no,
        status,
        &body,
    )
    .await?;
    tx.commit().await?;
    if done {
        tracing::info!(case_no = %row.case_no, action = %req.action, county = %sender.county, department = %sender.dept, "department action applied");
    }
    Ok(Answer { status, body })
}

/// The sending organ: the given county, else the county where the case is assigned to that
/// department code, else (the bureau) the case's home county.
fn resolve_sender(
    ctx: &Ctx,
    req: &ActionRequest,
    row: &CaseRow,
    assignments: &[AssignmentRow],
) -> OrganRef {
    if let Some(c) = &req.county {
        return OrganRef::new(c.clone(), req.department.clone());
    }
    let mine: Vec<&AssignmentRow> = assignments
        .iter()
        .filter(|a| a.organ.dept == req.department && status::active(&a.status))
        .collect();
    if let [one] = mine.as_slice() {
        return one.organ.clone();
    }
    if req.department == ctx.directory.roles.petition_bureau {
        return OrganRef::new(row.home_county.clone(), req.department.clone());
    }
    OrganRef::new(
        ctx.directory
            .handling_county(&row.facts.county)
            .code
            .clone(),
        req.department.clone(),
    )
}

async fn dispatch(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    assignments: &[AssignmentRow],
    sender: &OrganRef,
    req: &ActionRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    if req.action == "objection_decision" {
        if let Err(r) = bureau_may_decide(ctx, row, sender) {
            return Ok(Err(r));
        }
        return objection_decision(conn, ctx, row, assignments, sender, &req.body, now).await;
    }
    let Some(mine) = assignments
        .iter()
        .find(|a| &a.organ == sender && status::active(&a.status))
    else {
        return Ok(Err(Refusal::new(
            403,
            "forbidden",
            "assigned_department",
            format!(
                "case {} is not assigned to {}; a department may act only on cases assigned to it",
                row.case_no, sender
            ),
        )));
    };
    if mine.role == DeptRole::Assisting {
        return assisting_action(conn, row, mine, &req.action, &req.body).await;
    }
    let body = &req.body;
    Ok(match req.action.as_str() {
        "accept" => accept(conn, ctx, row, sender, body, now).await?,
        "object" => object(conn, ctx, row, sender, body, now).await?,
        "transfer" => transfer(conn, ctx, row, assignments, sender, body, now).await?,
        "extend" => extend(conn, ctx, row, sender, body, now).await?,
        "mediate" => mediate(conn, ctx, row, sender, body, now).await?,
        "reply" => reply(conn, ctx, row, sender, body, now).await?,
        _ => Err(Refusal::new(
            404,
            "unknown_action",
            "action",
            "unknown action",
        )),
    })
}

// ---- input helpers ---------------------------------------------------------------------

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Value) -> Step<T> {
    serde_json::from_value(body.clone()).map_err(|e| {
        let m = e.to_string();
        // serde names the field for missing/unknown fields; other messages may echo values.
        let message = if m.starts_with("missing field") || m.starts_with("unknown field") {
            m.split(" at line").next().unwrap_or(&m).to_owned()
        } else {
            "a field has the wrong type or value".to_owned()
        };
        Refusal::invalid("body", "schema", message)
    })
}

fn text(field: &str, value: &Option<String>) -> Step<String> {
    let v = value.as_deref().map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Err(Refusal::invalid(field, "required", "must not be empty"));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(Refusal::invalid(
            field,
            "max_length",
            format!("at most {MAX_TEXT} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn date(field: &str, raw: &Option<String>) -> Step<NaiveDate> {
    let raw = raw.as_deref().map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(Refusal::invalid(
            field,
            "required",
            "a date (YYYY-MM-DD) is required",
        ));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Refusal::invalid(field, "date_format", "must be a date written YYYY-MM-DD"))
}

/// A recorded date as a time: now when it is today (China time), else the end of that day.
/// Future dates are refused.
fn date_time(field: &str, d: NaiveDate, now: DateTime<Utc>) -> Step<DateTime<FixedOffset>> {
    let now_cst = cst(now);
    let today = cst_date(now_cst);
    if d > today {
        return Err(Refusal::invalid(
            field,
            "not_in_future",
            "the date may not be after today (China time)",
        ));
    }
    if d == today {
        return Ok(now_cst);
    }
    end_of_day(d).map_err(|_| Refusal::invalid(field, "date_range", "the date is out of range"))
}

fn step(case: &lifecycle::Case, cmd: &Command, ctx: &Ctx) -> Step<lifecycle::Case> {
    apply_with(case, cmd, &ctx.policy())
        .map(|t| t.case)
        .map_err(|e| lifecycle_refusal(&e))
}

/// Handling of an Art 31(6) matter (or an unbranched grievance) starts with acceptance.
fn starts_investigation(case: &lifecycle::Case) -> bool {
    case.petition_type == Some(PetitionType::Grievance)
        && matches!(case.branch, None | Some(Art31Branch::Residual))
}

fn accept_then_investigate(case: lifecycle::Case, ctx: &Ctx) -> Step<lifecycle::Case> {
    if case.state == CaseState::Accepted && starts_investigation(&case) {
        step(&case, &Command::StartInvestigation, ctx)
    } else {
        Ok(case)
    }
}

async fn finish(
    conn: &mut PgConnection,
    row: &CaseRow,
    sender: &OrganRef,
    new_status: &str,
    events: Vec<EventRef>,
) -> anyhow::Result<Step<Done>> {
    store::set_assignment_status(conn, &row.case_no, sender, new_status).await?;
    store::save_case(conn, row, None).await?;
    Ok(Ok(Done {
        events,
        assignment_status: Some(new_status.to_owned()),
    }))
}

macro_rules! tryr {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        }
    };
}

// ---- lead actions ------------------------------------------------------------------------

#[derive(Deserialize)]
struct AcceptBody {
    accepted_on: Option<String>,
}

/// 受理告知 (Art 23 para 3): the date on the acceptance notice; D5 runs from it.
async fn accept(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: AcceptBody = tryr!(parse_body(body));
    let on = tryr!(date("accepted_on", &b.accepted_on));
    if let Some(r) = &row.lifecycle.routing
        && on < cst_date(r.at)
    {
        return Ok(Err(Refusal::invalid(
            "accepted_on",
            "not_before_assignment",
            "the acceptance date may not be before the case was forwarded or assigned",
        )));
    }
    let at = tryr!(date_time("accepted_on", on, now));
    let case = tryr!(step(&row.lifecycle, &Command::Accept { at }, ctx));
    row.lifecycle = tryr!(accept_then_investigate(case, ctx));
    let data = Accepted {
        case_no: row.case_no.clone(),
        department: sender.dept.clone(),
        accepted_on: on,
        at: now,
    };
    let ev = case_event(
        conn,
        &row.home_county,
        kind::ACCEPTED,
        &row.case_no,
        now,
        &data,
    )
    .await?;
    finish(conn, row, sender, status::ACCEPTED, vec![ev]).await
}

#[derive(Deserialize)]
struct ObjectBody {
    reason: Option<String>,
}

/// 异议 (Art 23 para 3): not ours, within 5 working days, with detailed reasons.
async fn object(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: ObjectBody = tryr!(parse_body(body));
    let reason = tryr!(text("reason", &b.reason));
    row.lifecycle = tryr!(step(
        &row.lifecycle,
        &Command::Object {
            at: cst(now),
            reason: reason.clone(),
        },
        ctx
    ));
    let data = Objected {
        case_no: row.case_no.clone(),
        department: sender.dept.clone(),
        reason,
        at: now,
    };
    let ev = case_event(
        conn,
        &row.home_county,
        kind::OBJECTED,
        &row.case_no,
        now,
        &data,
    )
    .await?;
    finish(conn, row, sender, status::OBJECTED, vec![ev]).await
}

#[derive(Deserialize)]
struct TransferBody {
    to: Option<String>,
    reason: Option<String>,
}

/// Hands a not-yet-accepted matter to another department (Art 23 para 1, Art 24 para 1:
/// the organs agree who accepts). The new department's acceptance clocks start now.
async fn transfer(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    assignments: &[AssignmentRow],
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: TransferBody = tryr!(parse_body(body));
    let reason = tryr!(text("reason", &b.reason));
    let to_raw = tryr!(text("to", &b.to));
    let state = row.lifecycle.state;
    if !allowed_commands(state).contains(&"object") {
        // Same window as an objection: before acceptance.
        return Ok(Err(lifecycle_refusal(&LifecycleError::NotAllowed {
            command: "transfer",
            state,
            allowed: allowed_commands(state),
        })));
    }
    let target = if to_raw.contains(':') {
        OrganRef::parse(&to_raw)
            .ok()
            .filter(|o| ctx.directory.organ(o).is_some())
    } else {
        ctx.directory.resolve(&sender.county, &to_raw)
    };
    let Some(target) = target else {
        return Ok(Err(Refusal::invalid(
            "to",
            "unknown_department",
            "not a department in the directory (write a code such as `zjj` or `411282:zjj`)",
        )));
    };
    if &target == sender {
        return Ok(Err(Refusal::invalid(
            "to",
            "transfer_to_self",
            "the case is already with this department",
        )));
    }
    if assignments
        .iter()
        .any(|a| a.organ == target && status::active(&a.status))
    {
        return Ok(Err(Refusal::new(
            409,
            "refused",
            "already_assigned",
            format!("{target} already works on this case"),
        )));
    }
    if !ctx.served.contains(&target.county) {
        return Ok(Err(Refusal::invalid(
            "to",
            "county_not_served",
            format!("county {} is not served by this deployment", target.county),
        )));
    }
    if let Some(r) = row.lifecycle.routing.as_mut() {
        r.at = cst(now);
    }
    row.lead = Some(target.clone());
    let data = Transferred {
        case_no: row.case_no.clone(),
        from: sender.dept.clone(),
        to: target.dept.clone(),
        reason,
        at: now,
    };
    let mut events = vec![
        case_event(
            conn,
            &row.home_county,
            kind::TRANSFERRED,
            &row.case_no,
            now,
            &data,
        )
        .await?,
    ];
    let mode = row
        .mode
        .unwrap_or(xinfang_domain::events::AssignMode::Forward);
    events.push(
        send_to_department(
            conn,
            ctx,
            row,
            Target {
                organ: &target,
                role: DeptRole::Lead,
                mode,
                report_required: row.lifecycle.report_required(),
                confidential: row.confidential(),
                status: status::ASSIGNED,
            },
            now,
        )
        .await?,
    );
    finish(conn, row, sender, status::TRANSFERRED, events).await
}

#[derive(Deserialize)]
struct ExtendBody {
    days: Option<i64>,
    approver: Option<String>,
    reason: Option<String>,
}

/// 延期 (Art 34): once, at most 30 days, approved by the organ's head, reason told.
async fn extend(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: ExtendBody = tryr!(parse_body(body));
    let Some(days) = b.days else {
        return Ok(Err(Refusal::invalid(
            "days",
            "required",
            "the number of days (1 to 30) is required",
        )));
    };
    let max = ctx.rules.max_extension_days();
    let days = match u32::try_from(days) {
        Ok(d) if (1..=max).contains(&d) => d,
        _ => {
            return Ok(Err(Refusal::invalid(
                "days",
                "extension_days",
                format!("an extension is 1 to {max} days (Art 34: at most 30)"),
            )));
        }
    };
    let approver = tryr!(text("approver", &b.approver));
    let reason = tryr!(text("reason", &b.reason));
    row.lifecycle = tryr!(step(
        &row.lifecycle,
        &Command::Extend {
            days,
            approver: approver.clone(),
            reason: reason.clone(),
        },
        ctx
    ));
    let data = Extended {
        case_no: row.case_no.clone(),
        department: sender.dept.clone(),
        days,
        approver,
        reason,
        at: now,
    };
    let ev = case_event(
        conn,
        &row.home_county,
        kind::EXTENDED,
        &row.case_no,
        now,
        &data,
    )
    .await?;
    finish(conn, row, sender, status::EXTENDED, vec![ev]).await
}

#[derive(Deserialize)]
struct MediateBody {
    agreement: Option<String>,
    signed_on: Option<String>,
    summary: Option<String>,
}

/// 调解/和解 (Art 33): an agreement was signed.
async fn mediate(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: MediateBody = tryr!(parse_body(body));
    let agreement = match b.agreement.as_deref().map(str::trim) {
        Some("mediation" | "调解") => "mediation",
        Some("settlement" | "和解") => "settlement",
        _ => {
            return Ok(Err(Refusal::invalid(
                "agreement",
                "unknown_value",
                "must be one of: mediation (调解协议书), settlement (和解协议书)",
            )));
        }
    };
    let on = tryr!(date("signed_on", &b.signed_on));
    tryr!(date_time("signed_on", on, now));
    let summary = tryr!(text("summary", &b.summary));
    row.lifecycle = tryr!(step(&row.lifecycle, &Command::Mediate, ctx));
    let data = Mediated {
        case_no: row.case_no.clone(),
        department: sender.dept.clone(),
        agreement: agreement.to_owned(),
        signed_on: on,
        summary,
        at: now,
    };
    let ev = case_event(
        conn,
        &row.home_county,
        kind::MEDIATED,
        &row.case_no,
        now,
        &data,
    )
    .await?;
    finish(conn, row, sender, status::MEDIATED, vec![ev]).await
}

#[derive(Deserialize)]
struct ReplyBody {
    outcome: Option<String>,
    text: Option<String>,
    served_on: Option<String>,
}

/// The handling result served on the petitioner: a 信访处理意见书 for Art 31(6) matters
/// (outcome required, Art 32), the duty performed for Art 31(5), a reply or feedback for
/// suggestions and accusations (Art 29, 30).
async fn reply(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: ReplyBody = tryr!(parse_body(body));
    let reply_text = tryr!(text("text", &b.text));
    let served_on = tryr!(date("served_on", &b.served_on));
    let served_at = tryr!(date_time("served_on", served_on, now));
    let outcome = match b
        .outcome
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => Some(tryr!(
            OpinionOutcome::parse(raw).map_err(|e| Refusal::invalid("outcome", e.rule, e.message))
        )),
    };
    let case = row.lifecycle.clone();
    let (next, is_opinion) = match (case.petition_type, case.branch) {
        (Some(PetitionType::Suggestion | PetitionType::Accusation), _) => {
            (tryr!(step(&case, &Command::Reply, ctx)), false)
        }
        (_, Some(Art31Branch::DutyPerformance)) => {
            (tryr!(step(&case, &Command::PerformDuty, ctx)), false)
        }
        _ => {
            let Some(outcome) = outcome else {
                return Ok(Err(Refusal::invalid(
                    "outcome",
                    "required",
                    "a 信访处理意见书 states its outcome: supported, explained or not_supported (Art 32)",
                )));
            };
            let case = tryr!(accept_then_investigate(case, ctx));
            (
                tryr!(step(
                    &case,
                    &Command::IssueOpinion { outcome, served_at },
                    ctx
                )),
                true,
            )
        }
    };
    let is_handling_opinion = is_opinion && next.branch == Some(Art31Branch::Residual);
    row.lifecycle = next;
    let data = Replied {
        case_no: row.case_no.clone(),
        department: sender.dept.clone(),
        outcome,
        is_handling_opinion,
        text: reply_text,
        served_on,
        at: now,
    };
    let ev = case_event(
        conn,
        &row.home_county,
        kind::REPLIED,
        &row.case_no,
        now,
        &data,
    )
    .await?;
    finish(conn, row, sender, status::REPLIED, vec![ev]).await
}

// ---- assisting departments ---------------------------------------------------------------

/// Assisting departments acknowledge (accept) and report their part (reply). Their status is
/// their own; the case's lifecycle and its events follow the lead.
async fn assisting_action(
    conn: &mut PgConnection,
    row: &CaseRow,
    mine: &AssignmentRow,
    action: &str,
    body: &Value,
) -> anyhow::Result<Step<Done>> {
    let new_status = match (action, mine.status.as_str()) {
        ("accept", status::ASSIGNED) => status::ACCEPTED,
        ("reply", status::ASSIGNED | status::ACCEPTED) => {
            #[derive(Deserialize)]
            struct B {
                text: Option<String>,
            }
            let b: B = tryr!(parse_body(body));
            tryr!(text("text", &b.text));
            status::REPLIED
        }
        ("accept" | "reply", s) => {
            return Ok(Err(Refusal::new(
                409,
                "refused",
                "assignment_state",
                format!("`{action}` is not possible while this department's assignment is {s}"),
            )));
        }
        _ => {
            return Ok(Err(Refusal::new(
                403,
                "forbidden",
                "lead_only",
                format!(
                    "`{action}` is for the lead department; an assisting department may accept and reply"
                ),
            )));
        }
    };
    store::set_assignment_status(conn, &row.case_no, &mine.organ, new_status).await?;
    Ok(Ok(Done {
        events: Vec::new(),
        assignment_status: Some(new_status.to_owned()),
    }))
}

// ---- the bureau's objection decision -----------------------------------------------------

fn bureau_may_decide(ctx: &Ctx, row: &CaseRow, sender: &OrganRef) -> Step<()> {
    let city = &ctx.directory.city().code;
    let county_ok = sender.county == row.home_county
        || row.lead.as_ref().is_some_and(|l| l.county == sender.county)
        || &sender.county == city;
    if sender.dept != ctx.directory.roles.petition_bureau || !county_ok {
        return Err(Refusal::new(
            403,
            "forbidden",
            "petition_bureau_only",
            "objections are decided by the forwarding petition bureau (信访部门, Art 23 para 3)",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct DecisionBody {
    decision: Option<String>,
    reason: Option<String>,
    reroute_to: Option<String>,
    by: Option<String>,
}

/// Upheld: the objecting department is off the case, which goes back to be re-routed (at
/// once when `reroute_to` names the department). Rejected: the objecting department must
/// handle it, and the case counts as accepted now.
async fn objection_decision(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    assignments: &[AssignmentRow],
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: DecisionBody = tryr!(parse_body(body));
    let upheld = match b.decision.as_deref().map(str::trim) {
        Some("upheld") => true,
        Some("rejected") => false,
        _ => {
            return Ok(Err(Refusal::invalid(
                "decision",
                "unknown_value",
                "must be one of: upheld, rejected",
            )));
        }
    };
    let reason = tryr!(text("reason", &b.reason));
    let by =
        b.by.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| sender.to_string());
    let reroute = b
        .reroute_to
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if reroute.is_some() && !upheld {
        return Ok(Err(Refusal::invalid(
            "reroute_to",
            "only_when_upheld",
            "a new department is named only when the objection is upheld",
        )));
    }
    let objector = assignments
        .iter()
        .find(|a| a.role == DeptRole::Lead && a.status == status::OBJECTED)
        .map(|a| a.organ.clone());
    let at = cst(now);
    let mut events = Vec::new();
    if upheld {
        let mut case = tryr!(step(&row.lifecycle, &Command::ObjectionUpheld, ctx));
        let Some(objector) = objector else {
            return Ok(Err(lifecycle_refusal(&LifecycleError::Inconsistent(
                "objected without an objecting department",
            ))));
        };
        // Plan the re-route before writing anything, so a refusal leaves no trace.
        let mut plan = None;
        if let Some(code) = &reroute {
            let mut facts = row.facts.clone();
            facts.department = code.clone();
            facts.needs_triage = false;
            facts.assisting.retain(|a| a != code);
            let decision = match decide(&facts, &ctx.directory, &ctx.routing) {
                Ok(d) => d,
                Err(e) => {
                    return Ok(Err(Refusal::invalid(
                        "reroute_to",
                        "unknown_department",
                        e.to_string(),
                    )));
                }
            };
            if let Decision::Route(r) = &decision
                && r.lead == objector
            {
                return Ok(Err(Refusal::invalid(
                    "reroute_to",
                    "reroute_to_objector",
                    "the objection was upheld; the case cannot go back to the department that objected",
                )));
            }
            if let Err(e) = check_served(ctx, &decision) {
                return Ok(Err(Refusal::invalid(
                    "reroute_to",
                    "county_not_served",
                    e.to_string(),
                )));
            }
            plan = Some((facts, decision));
        }
        case.routing = None;
        row.lifecycle = case;
        row.lead = None;
        row.mode = None;
        store::set_assignment_status(conn, &row.case_no, &objector, status::WITHDRAWN).await?;
        let data = ObjectionDecided {
            case_no: row.case_no.clone(),
            department: objector.dept.clone(),
            upheld: true,
            by,
            reason,
            reroute_to: reroute.clone(),
            at: now,
        };
        events.push(
            case_event(
                conn,
                &row.home_county,
                kind::OBJECTION_DECIDED,
                &row.case_no,
                now,
                &data,
            )
            .await?,
        );
        match plan {
            Some((facts, decision)) => {
                row.facts = facts;
                match apply_decision(conn, ctx, row, &decision, now).await {
                    Ok(more) => events.extend(more),
                    Err(ApplyError::Lifecycle(e)) => return Ok(Err(lifecycle_refusal(&e))),
                    Err(e) => return Err(anyhow::anyhow!(e)),
                }
            }
            None => {
                row.held_reason = Some("objection upheld: awaiting re-routing".into());
                store::save_case(conn, row, None).await?;
            }
        }
    } else {
        let case = tryr!(step(
            &row.lifecycle,
            &Command::ObjectionRejected { at },
            ctx
        ));
        row.lifecycle = tryr!(accept_then_investigate(case, ctx));
        let Some(objector) = objector else {
            return Ok(Err(lifecycle_refusal(&LifecycleError::Inconsistent(
                "objected without an objecting department",
            ))));
        };
        store::set_assignment_status(conn, &row.case_no, &objector, status::ACCEPTED).await?;
        let data = ObjectionDecided {
            case_no: row.case_no.clone(),
            department: objector.dept.clone(),
            upheld: false,
            by,
            reason,
            reroute_to: None,
            at: now,
        };
        events.push(
            case_event(
                conn,
                &row.home_county,
                kind::OBJECTION_DECIDED,
                &row.case_no,
                now,
                &data,
            )
            .await?,
        );
        let accepted = Accepted {
            case_no: row.case_no.clone(),
            department: objector.dept.clone(),
            accepted_on: cst_date(at),
            at: now,
        };
        events.push(
            case_event(
                conn,
                &row.home_county,
                kind::ACCEPTED,
                &row.case_no,
                now,
                &accepted,
            )
            .await?,
        );
        store::save_case(conn, row, None).await?;
    }
    Ok(Ok(Done {
        events,
        assignment_status: None,
    }))
}
