//! Department actions — accept (受理告知), object (异议), transfer (a request the bureau
//! decides), extend (延期), mediate (调解/和解), reply, divert (导入法定途径 after acceptance),
//! report (办结报告) — and the bureau's decisions: on objections, on transfers, and its check of
//! completion reports. One entry point, [`execute`], serves NATS request/reply and HTTP alike.
//!
//! Each action is checked against the sender's department (only departments the case is
//! assigned to may act; assisting departments only accept and reply; only the petition bureau
//! decides objections and transfers and checks reports) and against the domain state machine. A refusal names the rule. An
//! accepted action writes its `xf.<county>.case.<event>` through the outbox in the same
//! transaction as its effects. A client-supplied `request_id` makes actions idempotent: the
//! same request again has no further effect and gets the stored answer.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{Executor, PgConnection};
use uuid::Uuid;
use xinfang_domain::access::{self, Principal};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{cst_date, end_of_day};
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::{
    Accepted, Closed, DeptRole, Diverted, Extended, Mediated, Objected, ObjectionDecided, Replied,
    ReturnedForRedo, SubmittedForCheck, TransferRejected, TransferRequested, Transferred, kind,
};
use xinfang_domain::handling;
use xinfang_domain::lifecycle::{
    self, CaseState, Command, LifecycleError, allowed_commands, apply_with,
};
use xinfang_domain::petition::{Art31Branch, Diversion, OpinionOutcome, PetitionType};
use xinfang_domain::routing::{Decision, channel_organ, decide};
use xinfang_domain::subject;

use crate::apply::{ApplyError, Target, apply_decision, check_served, send_to_department};
use crate::context::{Ctx, cst};
use crate::emit::{EventRef, case_event};
use crate::store::{self, ActionLog, AssignmentRow, CaseRow, status};

/// Actions a department (or, for the bureau's decisions, the petition bureau) may send.
pub const ACTIONS: &[&str] = &[
    "accept",
    "object",
    "transfer",
    "extend",
    "mediate",
    "reply",
    "divert",
    "report",
    "objection_decision",
    "transfer_decision",
    "check",
];

/// The actions only the petition bureau sends.
const BUREAU_ACTIONS: &[&str] = &["objection_decision", "transfer_decision", "check"];

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
        ExtensionTooLate { .. } => (409, "extension_after_deadline"),
        ExtensionAfterRemand { .. } => (409, "extension_after_remand"),
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

/// Runs one action. Never fails: infrastructure errors become a 500 answer (logged). Over
/// NATS the server's subject permissions say who may send; HTTP uses [`execute_as`].
pub async fn execute(ctx: &Ctx, req: ActionRequest, now: DateTime<Utc>) -> Answer {
    run(ctx, req, None, now).await
}

/// [`execute`] for an authenticated caller, who must be allowed to act as the organ the request
/// resolves to (a department named without a county is looked up on the case, so the check
/// can only be made here).
pub async fn execute_as(
    ctx: &Ctx,
    req: ActionRequest,
    caller: &Principal,
    now: DateTime<Utc>,
) -> Answer {
    run(ctx, req, Some(caller), now).await
}

async fn run(
    ctx: &Ctx,
    req: ActionRequest,
    caller: Option<&Principal>,
    now: DateTime<Utc>,
) -> Answer {
    let action = req.action.clone();
    match execute_inner(ctx, req, caller, now).await {
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
    caller: Option<&Principal>,
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
    if let Some(p) = caller
        && let Err(denied) = access::act_as_department(p, &sender.county, &sender.dept)
    {
        return Ok(Refusal {
            store: false,
            field: Some("department".into()),
            ..Refusal::new(403, "forbidden", "department_scope", denied.to_string())
        }
        .answer());
    }
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
    if req.department == ctx.directory.current().roles.petition_bureau {
        return OrganRef::new(row.home_county.clone(), req.department.clone());
    }
    OrganRef::new(
        ctx.directory
            .current()
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
    if BUREAU_ACTIONS.contains(&req.action.as_str()) {
        if let Err(r) = bureau_may_decide(ctx, row, sender, &req.action) {
            return Ok(Err(r));
        }
        let body = &req.body;
        return match req.action.as_str() {
            "transfer_decision" => {
                transfer_decision(conn, ctx, row, assignments, sender, body, now).await
            }
            "check" => check(conn, ctx, row, sender, body, now).await,
            _ => objection_decision(conn, ctx, row, assignments, sender, body, now).await,
        };
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
    // A transfer waiting for the bureau holds the matter where it is (Art 23 para 3): the
    // department neither accepts, objects nor asks again until the bureau has decided.
    if matches!(req.action.as_str(), "accept" | "object" | "transfer")
        && let Some(pending) = store::pending_transfer(conn, &row.case_no).await?
        && &pending.from == sender
    {
        return Ok(Err(Refusal::new(
            409,
            "refused",
            "transfer_pending",
            format!(
                "a transfer to {} is waiting for the petition bureau's decision (Art 23 para 3); `{}` is possible once it has decided",
                pending.to, req.action
            ),
        )));
    }
    Ok(match req.action.as_str() {
        "accept" => accept(conn, ctx, row, sender, body, now).await?,
        "object" => object(conn, ctx, row, sender, body, now).await?,
        "transfer" => transfer(conn, ctx, row, assignments, sender, body, now).await?,
        "extend" => extend(conn, ctx, row, sender, body, now).await?,
        "mediate" => mediate(conn, ctx, row, sender, body, now).await?,
        "reply" => reply(conn, ctx, row, sender, body, now).await?,
        "divert" => divert(conn, ctx, row, sender, body, now).await?,
        "report" => report(conn, ctx, row, sender, body, now).await?,
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
    // Names the field; never echoes the value (it may be personal data).
    xinfang_platform::http_json::from_value(body).map_err(|e| {
        let field = e.field.unwrap_or_else(|| "body".to_owned());
        Refusal::invalid(&field, e.code, e.message)
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
    apply_with(case, cmd, &ctx.policy().get())
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

/// `accept` (受理告知).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AcceptBody {
    /// The date on the acceptance notice (China time); not before the assignment, not after
    /// today. An assisting department's acceptance needs none.
    #[schema(value_type = String, format = Date, required = true)]
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
        organ_county: (sender.county != row.home_county).then(|| sender.county.to_string()),
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

/// `object` (异议): the matter is not this department's.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ObjectBody {
    /// Detailed reasons (Art 23 para 3).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
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

/// `transfer`: ask the bureau to let a not-yet-accepted matter go to another department.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TransferBody {
    /// The receiving department: a code of the sender's county (`zjj`) or `county:code`.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000, example = "zjj")]
    to: Option<String>,
    /// Why the matter belongs to the receiving department (the bureau verifies it).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    reason: Option<String>,
}

/// Asks the forwarding bureau to let the matter go to another department (Art 23 para 3: the
/// bureau verifies and agrees before materials leave the unit; Art 24 para 1). Nothing moves
/// yet: `case.transfer_requested` is written, and the matter stays with the requester, its
/// acceptance clocks running, until the bureau decides (`transfer_decision`).
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
    if !handling::transfer_window_open(state) {
        // Same window as an objection: before acceptance.
        return Ok(Err(lifecycle_refusal(&LifecycleError::NotAllowed {
            command: "transfer",
            state,
            allowed: allowed_commands(state),
        })));
    }
    let target = tryr!(transfer_target(ctx, assignments, sender, &to_raw));
    store::insert_transfer_request(conn, &row.case_no, sender, &target, &reason, now).await?;
    let data = TransferRequested {
        case_no: row.case_no.clone(),
        from: sender.dept.clone(),
        to: target.dept.clone(),
        to_organ: target.to_string(),
        reason,
        at: now,
    };
    let ev = case_event(
        conn,
        &row.home_county,
        kind::TRANSFER_REQUESTED,
        &row.case_no,
        now,
        &data,
    )
    .await?;
    Ok(Ok(Done {
        events: vec![ev],
        assignment_status: None,
    }))
}

/// The receiving organ of a transfer: in the directory, not the sender, not already on the
/// case, in a county this deployment serves.
fn transfer_target(
    ctx: &Ctx,
    assignments: &[AssignmentRow],
    sender: &OrganRef,
    to_raw: &str,
) -> Step<OrganRef> {
    let target = if to_raw.contains(':') {
        OrganRef::parse(to_raw)
            .ok()
            .filter(|o| ctx.directory.current().organ(o).is_some())
    } else {
        ctx.directory.current().resolve(&sender.county, to_raw)
    };
    let Some(target) = target else {
        return Err(Refusal::invalid(
            "to",
            "unknown_department",
            "not a department in the directory (write a code such as `zjj` or `411282:zjj`)",
        ));
    };
    if &target == sender {
        return Err(Refusal::invalid(
            "to",
            "transfer_to_self",
            "the case is already with this department",
        ));
    }
    if assignments
        .iter()
        .any(|a| a.organ == target && status::active(&a.status))
    {
        return Err(Refusal::new(
            409,
            "refused",
            "already_assigned",
            format!("{target} already works on this case"),
        ));
    }
    if !ctx.served.contains(&target.county) {
        return Err(Refusal::invalid(
            "to",
            "county_not_served",
            format!("county {} is not served by this deployment", target.county),
        ));
    }
    Ok(target)
}

/// `extend` (延期, Art 34): once, approved by the organ's head.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ExtendBody {
    /// Days added to the handling deadline.
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 30)]
    days: Option<i64>,
    /// Who approved (the organ's head).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    approver: Option<String>,
    /// Told to the petitioner.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
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
            at: cst(now),
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

/// `mediate` (调解/和解, Art 33): an agreement was signed.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct MediateBody {
    /// `mediation` (调解协议书) or `settlement` (和解协议书); the Chinese names are taken too.
    #[schema(value_type = String, required = true, example = "mediation")]
    agreement: Option<String>,
    /// The day it was signed; not after today.
    #[schema(value_type = String, format = Date, required = true)]
    signed_on: Option<String>,
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
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

/// `reply`: the handling result served on the petitioner.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReplyBody {
    /// For a 信访处理意见书 (Art 31(6) matters, Art 32): `supported` (予以支持),
    /// `explained` (解释说明) or `not_supported` (不予支持); omitted for replies to
    /// suggestions and accusations.
    #[schema(value_type = Option<String>, example = "supported")]
    outcome: Option<String>,
    /// The reply or opinion as served.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    text: Option<String>,
    /// The day it was served on the petitioner; not after today.
    #[schema(value_type = String, format = Date, required = true)]
    served_on: Option<String>,
    /// The completion report (办结报告), when the matter was sent with one due (交办, Art 22
    /// para 1(3)): sent to the bureau's check with the reply (see `report`).
    #[schema(value_type = Option<String>, max_length = 20000)]
    report: Option<String>,
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
    let report_text = tryr!(optional_text("report", &b.report));
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
    let mut events = vec![ev];
    let mut new_status = status::REPLIED;
    if let Some(report_text) = report_text {
        events.push(tryr!(
            submit_report(conn, ctx, row, sender, report_text, now).await?
        ));
        new_status = status::REPORTED;
    }
    finish(conn, row, sender, new_status, events).await
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

fn bureau_may_decide(ctx: &Ctx, row: &CaseRow, sender: &OrganRef, action: &str) -> Step<()> {
    let directory = ctx.directory.current();
    let city = &directory.city().code;
    let county_ok = sender.county == row.home_county
        || row.lead.as_ref().is_some_and(|l| l.county == sender.county)
        || &sender.county == city;
    if sender.dept != ctx.directory.current().roles.petition_bureau || !county_ok {
        let what = match action {
            "transfer_decision" => {
                "transfers between departments are approved or rejected by the forwarding petition bureau (信访部门, Art 23 para 3)"
            }
            "check" => {
                "completion reports are checked by the assigning petition bureau (信访部门, Art 22 para 1(3))"
            }
            _ => {
                "objections are decided by the forwarding petition bureau (信访部门, Art 23 para 3)"
            }
        };
        return Err(Refusal::new(403, "forbidden", "petition_bureau_only", what));
    }
    Ok(())
}

/// `objection_decision`: the forwarding petition bureau decides a department's objection.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DecisionBody {
    /// `upheld` (the department is off the case) or `rejected` (it must handle it).
    #[schema(value_type = String, required = true, example = "upheld")]
    decision: Option<String>,
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    reason: Option<String>,
    /// When upheld: the department to route the case to at once.
    #[schema(value_type = Option<String>)]
    reroute_to: Option<String>,
    /// Who decided; the sending organ by default.
    #[schema(value_type = Option<String>)]
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
            let decision = match decide(&facts, &ctx.directory.current(), &ctx.routing) {
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
            organ_county: (objector.county != row.home_county).then(|| objector.county.to_string()),
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

fn validation_refusal(e: xinfang_domain::validation::ValidationError) -> Refusal {
    Refusal::invalid(&e.field, e.rule, e.message)
}

/// Who decided: the body's `by`, else the sending organ.
fn decided_by(by: &Option<String>, sender: &OrganRef) -> Step<String> {
    match by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(b) if b.chars().count() > 200 => Err(Refusal::invalid(
            "by",
            "max_length",
            "at most 200 characters",
        )),
        Some(b) => Ok(b.to_owned()),
        None => Ok(sender.to_string()),
    }
}

/// An optional free text: absent or blank is none; otherwise the limits of [`text`].
fn optional_text(field: &str, value: &Option<String>) -> Step<Option<String>> {
    match value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(_) => text(field, value).map(Some),
    }
}

// ---- transfers: the bureau decides (Art 23 para 3) ---------------------------------------

/// `transfer_decision`: the forwarding petition bureau decides a department's transfer request.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TransferDecisionBody {
    /// `approved` (the matter moves to the requested department) or `rejected` (it stays with
    /// the requesting department).
    #[schema(value_type = String, required = true, example = "approved")]
    decision: Option<String>,
    /// Why; recorded and shown on the case's timeline.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    reason: Option<String>,
    /// Who decided; the sending organ by default.
    #[schema(value_type = Option<String>)]
    by: Option<String>,
}

/// Approved: the matter moves, and the receiving department's acceptance clocks start now.
/// Rejected: it stays with the requesting department, whose clocks kept running.
async fn transfer_decision(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    assignments: &[AssignmentRow],
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: TransferDecisionBody = tryr!(parse_body(body));
    let answer = tryr!(
        handling::transfer_decision(b.decision.as_deref(), b.reason.as_deref())
            .map_err(validation_refusal)
    );
    let reason = tryr!(text("reason", &answer.reason));
    let by = tryr!(decided_by(&b.by, sender));
    let Some(pending) = store::pending_transfer(conn, &row.case_no).await? else {
        return Ok(Err(Refusal::new(
            409,
            "refused",
            "no_transfer_request",
            "no transfer request of this case is waiting for a decision",
        )));
    };
    if !answer.yes {
        store::decide_transfer_request(conn, pending.id, false, &by, &reason, now).await?;
        let data = TransferRejected {
            case_no: row.case_no.clone(),
            from: pending.from.dept.clone(),
            to: pending.to.dept.clone(),
            by,
            reason,
            at: now,
        };
        let ev = case_event(
            conn,
            &row.home_county,
            kind::TRANSFER_REJECTED,
            &row.case_no,
            now,
            &data,
        )
        .await?;
        return Ok(Ok(Done {
            events: vec![ev],
            assignment_status: None,
        }));
    }
    // The matter must still be where the request left it: with the requester, not accepted.
    let state = row.lifecycle.state;
    if !handling::transfer_window_open(state) || row.lead.as_ref() != Some(&pending.from) {
        return Ok(Err(Refusal::new(
            409,
            "refused",
            "transfer_moot",
            format!(
                "the matter is no longer with {} before acceptance (state {state}); the request can only be rejected",
                pending.from
            ),
        )));
    }
    let target = tryr!(transfer_target(
        ctx,
        assignments,
        &pending.from,
        &pending.to.to_string()
    ));
    if let Some(r) = row.lifecycle.routing.as_mut() {
        r.at = cst(now);
    }
    row.lead = Some(target.clone());
    let exempt = xinfang_domain::deadline_plan::acceptance_notice_exempt(
        &ctx.directory.current(),
        &target.dept,
        row.facts.petition_type,
        row.facts.accuses_official,
    );
    let data = Transferred {
        case_no: row.case_no.clone(),
        from: pending.from.dept.clone(),
        to: target.dept.clone(),
        reason: pending.reason.clone(),
        at: now,
        approved_by: Some(by.clone()),
        approval_reason: Some(reason.clone()),
        to_county: (target.county != pending.from.county).then(|| target.county.clone()),
        notice_exempt: exempt,
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
    store::set_assignment_status(conn, &row.case_no, &pending.from, status::TRANSFERRED).await?;
    store::decide_transfer_request(conn, pending.id, true, &by, &reason, now).await?;
    store::save_case(conn, row, None).await?;
    Ok(Ok(Done {
        events,
        assignment_status: None,
    }))
}

// ---- diversion after acceptance (Art 31(2)–(4)) --------------------------------------------

/// `divert`: the handling department found, after accepting the matter, that it belongs in a
/// statutory procedure.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DivertBody {
    /// The legal channel: `litigation`, `arbitration`, `administrative_reconsideration`,
    /// `party_appeal`, `police_filing` or `court_enforcement` (or its Chinese name, e.g.
    /// `行政复议`).
    #[schema(value_type = String, required = true, example = "administrative_reconsideration")]
    diversion: Option<String>,
    /// The written guidance served on the petitioner: which procedure, before which organ, how
    /// and by when to apply. The petitioner receives it as written.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    guidance: Option<String>,
    /// The day the guidance was served; not before acceptance, not after today.
    #[schema(value_type = String, format = Date, required = true)]
    served_on: Option<String>,
    /// The completion report (办结报告), when the matter was sent with one due: sent to the
    /// bureau's check at once (see `report`).
    #[schema(value_type = Option<String>, max_length = 20000)]
    report: Option<String>,
}

/// 导入法定途径 after acceptance (Art 31(2)–(4)): the matter leaves the petition track as a
/// diversion at intake does (`case.diverted`, here with `after_acceptance`); the petitioner is
/// served the department's written guidance, and the handling deadline ends.
async fn divert(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: DivertBody = tryr!(parse_body(body));
    let raw = tryr!(text("diversion", &b.diversion));
    let diversion = tryr!(Diversion::parse(&raw).map_err(validation_refusal));
    let guidance = tryr!(text("guidance", &b.guidance));
    let served_on = tryr!(date("served_on", &b.served_on));
    if let Some(accepted) = row.lifecycle.accepted_at
        && served_on < cst_date(accepted)
    {
        return Ok(Err(Refusal::invalid(
            "served_on",
            "not_before_acceptance",
            "the guidance cannot have been served before the matter was accepted",
        )));
    }
    let served_at = tryr!(date_time("served_on", served_on, now));
    let report_text = tryr!(optional_text("report", &b.report));
    row.lifecycle = tryr!(step(
        &row.lifecycle,
        &Command::Divert {
            diversion,
            served_at
        },
        ctx
    ));
    let organ = match channel_organ(&row.facts, diversion, &ctx.directory.current()) {
        Ok(g) => g.organ.to_string(),
        Err(e) => {
            return Ok(Err(Refusal::new(
                409,
                "refused",
                "channel_organ_missing",
                format!("the directory names no organ for this channel: {e}"),
            )));
        }
    };
    let data = Diverted {
        case_no: row.case_no.clone(),
        diversion: Some(diversion),
        organ,
        guidance,
        at: now,
        after_acceptance: true,
        department: Some(sender.dept.clone()),
        served_on: Some(served_on),
    };
    let mut events = vec![
        case_event(
            conn,
            &row.home_county,
            kind::DIVERTED,
            &row.case_no,
            now,
            &data,
        )
        .await?,
    ];
    let mut new_status = status::DIVERTED;
    if let Some(report_text) = report_text {
        events.push(tryr!(
            submit_report(conn, ctx, row, sender, report_text, now).await?
        ));
        new_status = status::REPORTED;
    }
    finish(conn, row, sender, new_status, events).await
}

// ---- completion report and the bureau's check (Art 22 para 1(3)) ---------------------------

/// `report`: the completion report (办结报告) on the handling result.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReportBody {
    /// What was done and the result, for the bureau's check.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 20000)]
    report: Option<String>,
}

/// Sends the handling result (reply, opinion, mediation, duty performed, diversion) to the
/// assigning bureau's check. A matter sent with a report due cannot close without it.
async fn report(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: ReportBody = tryr!(parse_body(body));
    let report_text = tryr!(text("report", &b.report));
    let ev = tryr!(submit_report(conn, ctx, row, sender, report_text, now).await?);
    finish(conn, row, sender, status::REPORTED, vec![ev]).await
}

/// `submit_for_check` and its `case.submitted_for_check`.
async fn submit_report(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    report_text: String,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<EventRef>> {
    row.lifecycle = tryr!(step(&row.lifecycle, &Command::SubmitForCheck, ctx));
    let data = SubmittedForCheck {
        case_no: row.case_no.clone(),
        department: sender.dept.clone(),
        report: report_text,
        at: now,
    };
    Ok(Ok(case_event(
        conn,
        &row.home_county,
        kind::SUBMITTED_FOR_CHECK,
        &row.case_no,
        now,
        &data,
    )
    .await?))
}

/// `check`: the assigning petition bureau checks a completion report.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CheckBody {
    /// `passed` (办结: the case closes) or `failed` (退回重办: the department handles it again).
    #[schema(value_type = String, required = true, example = "failed")]
    result: Option<String>,
    /// Required when failed: what the department must redo. Recorded when passed.
    #[schema(value_type = Option<String>, max_length = 20000)]
    reason: Option<String>,
    /// Who checked; the sending organ by default.
    #[schema(value_type = Option<String>)]
    by: Option<String>,
}

/// Passed: closed (办结). Failed: returned for redo (退回重办) — the department is back at its
/// handling, the handling deadline running again from the acceptance date (it does not
/// restart), and its next result is reported again.
async fn check(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    sender: &OrganRef,
    body: &Value,
    now: DateTime<Utc>,
) -> anyhow::Result<Step<Done>> {
    let b: CheckBody = tryr!(parse_body(body));
    tryr!(optional_text("reason", &b.reason));
    let answer = tryr!(
        handling::check_result(b.result.as_deref(), b.reason.as_deref())
            .map_err(validation_refusal)
    );
    let by = tryr!(decided_by(&b.by, sender));
    let Some(lead) = row.lead.clone() else {
        return Ok(Err(lifecycle_refusal(&LifecycleError::NothingToCheck)));
    };
    let ev = if answer.yes {
        row.lifecycle = tryr!(step(&row.lifecycle, &Command::CheckPassed, ctx));
        let data = Closed {
            case_no: row.case_no.clone(),
            department: lead.dept.clone(),
            by,
            note: answer.reason,
            at: now,
        };
        store::set_assignment_status(conn, &row.case_no, &lead, status::CLOSED).await?;
        case_event(
            conn,
            &row.home_county,
            kind::CLOSED,
            &row.case_no,
            now,
            &data,
        )
        .await?
    } else {
        let returned = tryr!(step(&row.lifecycle, &Command::CheckFailed, ctx));
        let reworked = tryr!(step(&returned, &Command::Rework, ctx));
        // The redo may take another route: the route's results are gone, but the
        // registration's classification (a non-diversion branch) stays.
        let petition_type = reworked.petition_type.unwrap_or(row.facts.petition_type);
        let branch = row.facts.branch.filter(|b| {
            petition_type == PetitionType::Grievance && !handling::is_diversion_branch(*b)
        });
        let classified = tryr!(step(
            &reworked,
            &Command::Classify {
                petition_type,
                branch
            },
            ctx
        ));
        row.lifecycle = tryr!(accept_then_investigate(classified, ctx));
        let data = ReturnedForRedo {
            case_no: row.case_no.clone(),
            department: lead.dept.clone(),
            by,
            reason: answer.reason.unwrap_or_default(),
            accepted_on: row.lifecycle.accepted_at.map(cst_date),
            extension_days: row.lifecycle.extension.as_ref().map(|e| e.days),
            at: now,
        };
        store::set_assignment_status(conn, &row.case_no, &lead, status::RETURNED).await?;
        case_event(
            conn,
            &row.home_county,
            kind::RETURNED_FOR_REDO,
            &row.case_no,
            now,
            &data,
        )
        .await?
    };
    store::save_case(conn, row, None).await?;
    Ok(Ok(Done {
        events: vec![ev],
        assignment_status: None,
    }))
}
