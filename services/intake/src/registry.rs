//! The case registry: every lifecycle, review and deadline event updates the case's status,
//! current department, deadlines, milestones and timeline. Idempotent by event id.

use std::future::Future;

use serde_json::{Value, json};
use sqlx::PgConnection;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{self, kind};
use xinfang_domain::practice_events;
use xinfang_platform::consumer::{Handler, HandlerError, Incoming};

/// Timeline line of a registration.
pub const REGISTERED_SUMMARY: &str = "已登记";

/// Handles `case.*`, `review.*` and `deadline.*` families.
pub struct RegistryHandler;

/// The registry's reading of one event.
#[derive(Debug, Default, PartialEq)]
pub struct Update {
    pub status: Option<&'static str>,
    pub department: Option<String>,
    /// The case left its units (`case.rerouted`): no department may see it until the next
    /// assignment names one.
    pub clear_department: bool,
    pub milestone: Option<(&'static str, Value)>,
    /// A deadline's entry in `deadlines` (merged into what the registry knew of it).
    pub deadline: Option<(String, Value)>,
    /// A decision served on the petitioner (`reply`, `review`, `rereview`) for `decisions`.
    pub decision: Option<(&'static str, Value)>,
    pub overdue: bool,
    pub final_without_appeal: bool,
    pub terminated: bool,
    /// Timeline line shown to staff; `public` ones also to the petitioner.
    pub summary: String,
    pub public: bool,
    /// A second line, for staff only, with what a public line leaves out (a conference's
    /// minutes and decisions).
    pub staff_detail: Option<String>,
}

fn family(subject: &str) -> &str {
    subject.split('.').nth(2).unwrap_or("")
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// A department as staff and petitioners read it: its name (`zjj` → 住建局), also for an organ
/// of another county (`411282:xfj`); the code itself when the directory does not know it.
fn dept_name(code: &str) -> String {
    static DEPARTMENTS: std::sync::OnceLock<xinfang_domain::classify::Departments> =
        std::sync::OnceLock::new();
    let departments = DEPARTMENTS.get_or_init(xinfang_domain::classify::Departments::embedded);
    let bare = code.rsplit(':').next().unwrap_or(code);
    departments
        .name_of(bare)
        .map_or_else(|| code.to_owned(), str::to_owned)
}

/// The department a field of the event names, by name; empty when absent.
fn dept_field(v: &Value, k: &str) -> String {
    s(v, k).map(|c| dept_name(&c)).unwrap_or_default()
}

/// A time as a China-time date (`2026-03-02`), for lines that name a due day.
fn cst_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&xinfang_domain::deadline::CST)
        .format("%Y-%m-%d")
        .to_string()
}

/// The key of a deadline in `deadlines`: its code, and a 督办's id for its response deadline.
fn deadline_key(code: &str, reference: &str) -> String {
    if reference.is_empty() {
        code.to_owned()
    } else {
        format!("{code}:{reference}")
    }
}

/// A deadline state as staff read it: supervision's `fired` is `overdue` here.
fn shown_state(state: &str) -> &str {
    match state {
        "fired" => "overdue",
        other => other,
    }
}

/// Pure mapping from an event to the registry change (unit-tested).
pub fn interpret(subject: &str, env: &Envelope) -> Option<Update> {
    let d = &env.data;
    // A review at another county's organ is published there and copied to the case's own
    // county; the registry keeps the copy, so a deployment serving both shows it once.
    if family(subject) == "review"
        && s(d, "case_county").is_some_and(|home| subject.split('.').nth(1) != Some(&home))
    {
        return None;
    }
    let at = json!(env.at);
    let dept = s(d, "department");
    let u = match (family(subject), env.kind.as_str()) {
        ("case", kind::REGISTERED) => Update {
            summary: REGISTERED_SUMMARY.into(),
            public: true,
            ..Default::default()
        },
        ("case", kind::RECLASSIFIED) => Update {
            summary: "分类已由登记人员调整".into(),
            ..Default::default()
        },
        ("case", kind::ASSIGNED) => {
            let mode = s(d, "mode").unwrap_or_default();
            Update {
                status: Some(if mode == "assign" {
                    "assigned"
                } else {
                    "forwarded"
                }),
                milestone: Some(("assigned_at", at)),
                summary: format!(
                    "{}至{}",
                    if mode == "assign" {
                        "已交办"
                    } else {
                        "已转送"
                    },
                    dept.as_deref().map(dept_name).unwrap_or_default()
                ),
                department: dept,
                public: true,
                ..Default::default()
            }
        }
        // A diversion by the handling unit after acceptance (Art 31(2)–(4)) has its own
        // milestone, so the registry and KPIs tell it from a diversion at intake.
        ("case", kind::DIVERTED) if d.get("after_acceptance") == Some(&Value::Bool(true)) => {
            Update {
                status: Some("diverted"),
                milestone: Some(("diverted_after_acceptance_at", at)),
                summary: format!(
                    "{}受理后导入法定途径：{}",
                    dept.as_deref().map(dept_name).unwrap_or_default(),
                    s(d, "guidance").unwrap_or_default()
                ),
                department: dept,
                public: true,
                ..Default::default()
            }
        }
        ("case", kind::DIVERTED) => Update {
            status: Some("diverted"),
            milestone: Some(("diverted_at", at)),
            summary: format!("已导入法定途径：{}", s(d, "guidance").unwrap_or_default()),
            public: true,
            ..Default::default()
        },
        ("case", kind::ACCEPTED) => Update {
            status: Some("accepted"),
            milestone: Some(("accepted_at", at)),
            summary: "已受理（已出具受理告知）".into(),
            department: dept,
            public: true,
            ..Default::default()
        },
        ("case", kind::NOT_ACCEPTED) => Update {
            status: Some("not_accepted"),
            milestone: Some(("closed_at", at)),
            summary: format!("不予受理：{}", s(d, "reason").unwrap_or_default()),
            public: true,
            ..Default::default()
        },
        ("case", kind::NOT_REACCEPTED) => Update {
            status: Some("not_reaccepted"),
            milestone: Some(("closed_at", at)),
            summary: format!("不再受理：{}", s(d, "reason").unwrap_or_default()),
            public: true,
            ..Default::default()
        },
        ("case", kind::OBJECTED) => Update {
            status: Some("objected"),
            summary: "承办单位提出异议".into(),
            ..Default::default()
        },
        ("case", kind::REROUTED) => Update {
            status: Some("registered"),
            clear_department: true,
            summary: "改由有权机关办理，原承办单位不再处理".into(),
            ..Default::default()
        },
        ("case", kind::OBJECTION_DECIDED) => Update {
            summary: "异议已处理".into(),
            ..Default::default()
        },
        // Art 23 para 3: a transfer between units waits for the bureau's approval.
        ("case", kind::TRANSFER_REQUESTED) => Update {
            summary: format!(
                "承办单位申请转办：{} → {}，待信访部门审核",
                dept_field(d, "from"),
                dept_field(d, "to")
            ),
            ..Default::default()
        },
        ("case", kind::TRANSFER_REJECTED) => Update {
            summary: format!(
                "信访部门不同意转办（{} → {}）：{}",
                dept_field(d, "from"),
                dept_field(d, "to"),
                s(d, "reason").unwrap_or_default()
            ),
            ..Default::default()
        },
        ("case", kind::TRANSFERRED) => {
            let to = s(d, "to");
            Update {
                summary: match s(d, "approved_by") {
                    Some(by) => format!(
                        "经{}同意，转办至{}",
                        dept_name(&by),
                        to.as_deref().map(dept_name).unwrap_or_default()
                    ),
                    None => format!(
                        "已转办至{}",
                        to.as_deref().map(dept_name).unwrap_or_default()
                    ),
                },
                department: to,
                public: true,
                ..Default::default()
            }
        }
        // Art 22 para 1(3): the completion report and the bureau's check.
        ("case", kind::SUBMITTED_FOR_CHECK) => Update {
            status: Some("pending_superior_check"),
            milestone: Some(("reported_at", at)),
            summary: format!(
                "{}已报送办结报告，待审核",
                dept.as_deref().map(dept_name).unwrap_or_default()
            ),
            ..Default::default()
        },
        ("case", kind::RETURNED_FOR_REDO) => Update {
            status: Some("returned_for_redo"),
            summary: format!(
                "审核未通过，退回重办：{}",
                s(d, "reason").unwrap_or_default()
            ),
            ..Default::default()
        },
        ("case", kind::CLOSED) => Update {
            status: Some("closed"),
            milestone: Some(("closed_at", at)),
            summary: "审核通过，已办结".into(),
            public: true,
            ..Default::default()
        },
        ("case", kind::EXTENDED) => Update {
            status: Some("extended"),
            milestone: Some(("extended_at", at)),
            summary: format!(
                "办理期限延长{}日：{}",
                d.get("days").and_then(Value::as_u64).unwrap_or(0),
                s(d, "reason").unwrap_or_default()
            ),
            public: true,
            ..Default::default()
        },
        ("case", kind::MEDIATED) => Update {
            status: Some("mediated"),
            summary: "已调解/和解".into(),
            public: true,
            ..Default::default()
        },
        ("case", kind::REPLIED) => Update {
            status: Some("replied"),
            milestone: Some(("replied_at", at)),
            // The petitioner's query view shows the outcome, the appeal window and the organ.
            decision: Some((
                "reply",
                json!({
                    "department": dept,
                    "outcome": d.get("outcome"),
                    "appealable": d.get("is_handling_opinion").and_then(Value::as_bool).unwrap_or(false),
                    "served_on": d.get("served_on"),
                    "at": env.at,
                }),
            )),
            summary: {
                let outcome = s(d, "outcome")
                    .and_then(|o| xinfang_domain::petition::OpinionOutcome::parse(&o).ok())
                    .map(|o| format!("（{}）", o.zh()))
                    .unwrap_or_default();
                match s(d, "served_on") {
                    Some(on) => format!("已答复{outcome}，{on}送达"),
                    None => format!("已答复{outcome}"),
                }
            },
            public: true,
            ..Default::default()
        },
        ("case", kind::EVALUATED) => Update {
            milestone: Some(("evaluated_at", at)),
            summary: "信访人已评价".into(),
            public: true,
            ..Default::default()
        },
        ("case", kind::FINAL_WITHOUT_APPEAL) => Update {
            final_without_appeal: true,
            summary: "申请复查/复核的期限届满，未申请".into(),
            public: true,
            ..Default::default()
        },
        // A 复查/复核 decision revoked or changed the opinion: back to the handling organ for a
        // new one (issue #20).
        ("case", kind::REMANDED) => {
            let r: events::Remanded = env.data_as().ok()?;
            let level = if r.level == events::ReviewLevel::Review {
                "复查"
            } else {
                "复核"
            };
            let outcome = xinfang_domain::appeal::ReviewOutcome::parse(&r.outcome)
                .map(|o| o.zh())
                .unwrap_or("撤销/变更");
            Update {
                status: Some("remanded"),
                department: Some(r.department.clone()),
                milestone: Some(("remanded_at", at)),
                summary: format!(
                    "{level}{outcome}原处理意见，发回重新办理（{}）",
                    dept_name(&r.department)
                ),
                public: true,
                ..Default::default()
            }
        }
        ("case", kind::TERMINATED) => Update {
            status: Some("terminated"),
            terminated: true,
            milestone: Some(("terminated_at", at)),
            summary: "已终结（录入终结库）".into(),
            public: true,
            ..Default::default()
        },
        // A clerk's decision on a repeat link (Decisions 7): staff only; a confirmed refusal
        // changes the status when routing applies it (`case.not_accepted` / `not_reaccepted`).
        ("case", kind::REFUSAL_CONFIRMED | kind::REFUSAL_REJECTED | kind::REPEAT_UNLINKED) => {
            let decided: events::RepeatDecided = env.data_as().ok()?;
            Update {
                summary: crate::repeats::decision_summary(&decided),
                ..Default::default()
            }
        }
        ("case", kind::SUPERVISED) => Update {
            summary: {
                let form = match s(d, "form").as_deref() {
                    Some("written_notice") => "书面督办".to_owned(),
                    Some("summons") => "约谈督办".to_owned(),
                    Some("on_site") => "现场督办".to_owned(),
                    Some("joint") => "联合督办".to_owned(),
                    Some("escalation") => "超期升级督办".to_owned(),
                    Some(other) => format!("督办（{other}）"),
                    None => "督办".to_owned(),
                };
                format!("{form}：{}", dept_field(d, "department"))
            },
            ..Default::default()
        },
        // Listed after registration (清单): staff only.
        ("case", kind::LISTED) => Update {
            summary: {
                let source = s(d, "source").unwrap_or_default();
                let name = xinfang_domain::case_source::default_sources()
                    .into_iter()
                    .find(|c| c.code == source)
                    .map_or(source, |c| c.name);
                format!("列入清单管理：{name}")
            },
            ..Default::default()
        },
        // The bureau's practices (issue #15): the petitioner sees only that a conference was
        // held; who took part, the minutes and decisions, advice and leaders are for staff.
        ("case", k) if practice_events::kind::ALL.contains(&k) => practice_line(env)?,
        ("review", kind::REVIEW_REQUESTED) | ("review", kind::REVIEW_DECIDED) => {
            let rereview = s(d, "level").as_deref() == Some("rereview");
            let requested = env.kind == kind::REVIEW_REQUESTED;
            let (status, label, ms) = match (rereview, requested) {
                (false, true) => ("review_requested", "已申请复查", "review_requested_at"),
                (false, false) => ("review_decided", "复查意见已出", "review_decided_at"),
                (true, true) => ("rereview_requested", "已申请复核", "rereview_requested_at"),
                (true, false) => ("rereview_decided", "复核意见已出", "rereview_decided_at"),
            };
            // Revoked or changed: the case goes back to handling (`case.remanded` sets the
            // status, whichever of the two consumers comes first).
            let outcome = s(d, "decision")
                .filter(|_| !requested)
                .and_then(|o| xinfang_domain::appeal::ReviewOutcome::parse(&o).ok());
            let sends_back = outcome.is_some_and(|o| o.sends_back());
            let label = match outcome {
                Some(o) => format!("{label}（{}）", o.zh()),
                None => label.to_owned(),
            };
            let decision = (!requested).then(|| {
                (
                    if rereview { "rereview" } else { "review" },
                    json!({
                        "organ": d.get("organ"),
                        "outcome": d.get("decision"),
                        "served_on": d.get("served_on"),
                        "at": env.at,
                    }),
                )
            });
            Update {
                status: (!sends_back).then_some(status),
                milestone: Some((ms, at)),
                decision,
                summary: label,
                public: true,
                ..Default::default()
            }
        }
        ("review", _) => Update {
            summary: format!("复查复核：{}", env.kind),
            ..Default::default()
        },
        // Supervision's record of each clock as it starts, moves and ends: every deadline
        // with its due time and state (issue #20; before, only warnings reached the registry).
        ("deadline", kind::DEADLINE_SCHEDULED | kind::DEADLINE_CLOSED) => {
            let f: events::DeadlineStatus = env.data_as().ok()?;
            let closed = env.kind == kind::DEADLINE_CLOSED;
            Update {
                deadline: Some((
                    deadline_key(&f.deadline, &f.reference),
                    json!({
                        "due": f.due,
                        "state": shown_state(&f.state),
                        "provisional": f.provisional,
                        "trigger": f.trigger,
                        "department": f.department,
                        "reason": f.reason,
                        "closed_at": closed.then_some(f.at),
                    }),
                )),
                // Not a line of the timeline: the entry itself is the record.
                summary: String::new(),
                ..Default::default()
            }
        }
        ("deadline", kind::WARNING) | ("deadline", kind::OVERDUE) => {
            let f: events::DeadlineFired = env.data_as().ok()?;
            let overdue = env.kind == kind::OVERDUE;
            Update {
                deadline: Some((
                    deadline_key(&f.deadline, &f.reference),
                    // `provisional`: the due time depends on a year the holiday calendar does
                    // not cover yet (supervision recomputes it when the calendar grows).
                    json!({"due": f.due, "state": if overdue { "overdue" } else { "warning" }, "provisional": f.provisional}),
                )),
                overdue,
                summary: {
                    let name = f
                        .deadline
                        .parse::<xinfang_domain::deadline::DeadlineKind>()
                        .map_or_else(
                            |_| match f.deadline.as_str() {
                                "eval" => "评价期限".to_owned(),
                                "supervision" => "督办答复期限".to_owned(),
                                other => other.to_owned(),
                            },
                            |k| format!("{}（{}）", k.zh(), k.code()),
                        );
                    format!(
                        "{}：{name}，应于{}前",
                        if overdue { "已超期" } else { "即将到期" },
                        cst_date(f.due)
                    )
                },
                ..Default::default()
            }
        }
        _ => return None,
    };
    Some(u)
}

/// Timeline lines of the bureau's practices on a case ([`practice_events`]).
fn practice_line(env: &Envelope) -> Option<Update> {
    use practice_events::{
        AdviceRecorded, ConferenceHeld, ConferenceScheduled, ConferenceTaskDone, LeaderAssigned,
        LeaderReceived, kind as k,
    };
    use xinfang_domain::practices::excerpt;
    let minute = |at: chrono::DateTime<chrono::Utc>| {
        at.with_timezone(&xinfang_domain::deadline::CST)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let staff = |summary: String| Update {
        summary,
        ..Default::default()
    };
    Some(match env.kind.as_str() {
        k::CONFERENCE_SCHEDULED => {
            let c: ConferenceScheduled = env.data_as().ok()?;
            staff(format!(
                "已安排{}：{}，{}，{}人参加",
                c.kind.zh(),
                minute(c.scheduled_at),
                excerpt(&c.place, 40),
                c.participants.len()
            ))
        }
        k::CONFERENCE_HELD => {
            let c: ConferenceHeld = env.data_as().ok()?;
            let tasks: Vec<String> = c
                .decisions
                .iter()
                .filter_map(|d| {
                    Some(format!(
                        "{}（{}前）",
                        dept_name(d.department.as_ref()?),
                        minute(d.due_at?)
                    ))
                })
                .collect();
            let mut detail = format!(
                "{}纪要：{}；决定{}项",
                c.kind.zh(),
                excerpt(&c.minutes, 80),
                c.decisions.len()
            );
            if !tasks.is_empty() {
                detail.push_str(&format!("；交办：{}", tasks.join("，")));
            }
            Update {
                summary: CONFERENCE_HELD_SUMMARY.into(),
                public: true,
                staff_detail: Some(detail),
                ..Default::default()
            }
        }
        k::CONFERENCE_TASK_DONE => {
            let t: ConferenceTaskDone = env.data_as().ok()?;
            staff(format!(
                "{}已完成会审交办任务{}：{}",
                dept_name(&t.department),
                if t.late { "（逾期）" } else { "" },
                excerpt(&t.note, 60)
            ))
        }
        k::ADVICE_RECORDED => {
            let a: AdviceRecorded = env.data_as().ok()?;
            staff(format!(
                "{}意见（{}）：{}",
                a.adviser_kind.zh(),
                a.adviser_name,
                excerpt(&a.text, 60)
            ))
        }
        k::LEADER_RECEIVED => {
            let r: LeaderReceived = env.data_as().ok()?;
            staff(format!(
                "领导接访：{}{}，{}",
                r.leader_title, r.leader_name, r.received_on
            ))
        }
        k::LEADER_ASSIGNED => {
            let a: LeaderAssigned = env.data_as().ok()?;
            staff(format!("领导包案：{}{}", a.leader_title, a.leader_name))
        }
        _ => return None,
    })
}

/// The petitioner's line of a case conference: that it took place, nothing more.
pub const CONFERENCE_HELD_SUMMARY: &str = "已召开会审";

/// Keeps a matter of the province's terminated-matters list (`review.registry_termination`)
/// for the registration check; a later import of the same matter replaces it.
async fn registry_termination(conn: &mut PgConnection, env: &Envelope) -> Result<(), HandlerError> {
    use xinfang_domain::termination_registry::{
        FINGERPRINT_BYTES, RegistryTermination, hex_decode,
    };
    let reject = |what: &str| HandlerError::Reject(anyhow::anyhow!("{} event: {what}", env.kind));
    let t: RegistryTermination = env
        .data_as()
        .map_err(|e| reject(&format!("payload: {e}")))?;
    let fingerprint = hex_decode(&t.fingerprint)
        .filter(|b| b.len() == FINGERPRINT_BYTES)
        .ok_or_else(|| reject("fingerprint is not the hex of a fingerprint"))?;
    let version = i32::try_from(t.fingerprint_version)
        .map_err(|_| reject("fingerprint version out of range"))?;
    sqlx::query(
        "insert into registry_terminations (case_no, home_county, petitioner_key, fingerprint,
            fingerprint_version, rereview_organ, terminated_at, source, imported_at, event_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (case_no) do update set home_county = excluded.home_county,
            petitioner_key = excluded.petitioner_key, fingerprint = excluded.fingerprint,
            fingerprint_version = excluded.fingerprint_version,
            rereview_organ = excluded.rereview_organ, terminated_at = excluded.terminated_at,
            source = excluded.source, imported_at = excluded.imported_at,
            event_id = excluded.event_id
         where registry_terminations.imported_at <= excluded.imported_at",
    )
    .bind(&t.matter_case_no)
    .bind(t.home_county.as_str())
    .bind(&t.petitioner_key)
    .bind(fingerprint)
    .bind(version)
    .bind(&t.rereview_organ)
    .bind(t.terminated_at)
    .bind(&t.source)
    .bind(t.imported_at)
    .bind(env.id)
    .execute(&mut *conn)
    .await?;
    tracing::debug!(matter = %t.matter_case_no, "matter of the provincial terminated-matters list kept");
    Ok(())
}

/// One event's change to one case, as [`apply`] takes it.
struct Change {
    case_no: String,
    update: Update,
    event_id: uuid::Uuid,
    at: chrono::DateTime<chrono::Utc>,
    kind: String,
}

/// What one event asks of the registry.
enum Work {
    /// A matter of the province's terminated-matters list (no case of this registry).
    Imported(Envelope),
    Case(Change),
}

fn work_of(msg: &Incoming<'_>) -> Option<Work> {
    let env = msg.envelope;
    if family(msg.subject) == "review"
        && env.kind == xinfang_domain::termination_registry::REGISTRY_TERMINATION
    {
        return Some(Work::Imported(env.clone()));
    }
    Some(Work::Case(Change {
        update: interpret(msg.subject, env)?,
        case_no: env.case_id.clone()?,
        event_id: env.id,
        at: env.at,
        kind: env.kind.clone(),
    }))
}

async fn perform(conn: &mut PgConnection, work: Vec<Work>) -> Result<(), HandlerError> {
    let mut changes = Vec::with_capacity(work.len());
    for w in work {
        match w {
            Work::Imported(env) => registry_termination(conn, &env).await?,
            Work::Case(c) => changes.push(c),
        }
    }
    apply(conn, &changes).await
}

impl Handler for RegistryHandler {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let work: Vec<Work> = work_of(msg).into_iter().collect();
        perform(conn, work)
    }

    /// A batch's changes in a few statements instead of one update per event: under load the
    /// registry's per-event update was the most frequent statement of the whole system.
    fn handle_all(
        &self,
        conn: &mut PgConnection,
        msgs: &[(Incoming<'_>, tracing::Span)],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let work: Vec<Work> = msgs
            .iter()
            .filter_map(|(msg, span)| span.in_scope(|| work_of(msg)))
            .collect();
        perform(conn, work)
    }
}

/// Applies changes in order: round k updates each case named in `changes` with its k-th change,
/// all cases of a round in one statement (a statement updates a row once). Then the timeline
/// lines of the cases held here.
async fn apply(conn: &mut PgConnection, changes: &[Change]) -> Result<(), HandlerError> {
    let mut rounds: Vec<Vec<&Change>> = Vec::new();
    let mut nth: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for c in changes {
        let k = nth.entry(c.case_no.as_str()).or_insert(0);
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push(c);
        *k += 1;
    }
    let mut known: std::collections::HashSet<String> = std::collections::HashSet::new();
    for round in &rounds {
        known.extend(update_round(conn, round).await?);
    }
    let mut lines: Vec<&Change> = Vec::new();
    for c in changes {
        if !known.contains(&c.case_no) {
            // A case of another deployment (e.g. a county case reviewed at the city).
            tracing::debug!(case_no = %c.case_no, event = %c.kind, "event for a case this registry does not hold");
        } else if !c.update.summary.is_empty() {
            lines.push(c);
        }
    }
    timeline(conn, &lines).await
}

/// One round: each case at most once. Returns the cases this registry holds.
async fn update_round(conn: &mut PgConnection, round: &[&Change]) -> sqlx::Result<Vec<String>> {
    let n = round.len();
    let mut case_no = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut department = Vec::with_capacity(n);
    let mut clear = Vec::with_capacity(n);
    let mut milestone = Vec::with_capacity(n);
    let mut milestone_value = Vec::with_capacity(n);
    let mut deadline = Vec::with_capacity(n);
    let mut deadline_value = Vec::with_capacity(n);
    let mut decision = Vec::with_capacity(n);
    let mut decision_value = Vec::with_capacity(n);
    let mut overdue = Vec::with_capacity(n);
    let mut final_without_appeal = Vec::with_capacity(n);
    let mut terminated = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    for c in round {
        let u = &c.update;
        case_no.push(c.case_no.as_str());
        status.push(u.status);
        department.push(u.department.as_deref());
        clear.push(u.clear_department);
        milestone.push(u.milestone.as_ref().map(|m| m.0));
        milestone_value.push(u.milestone.as_ref().map(|m| m.1.clone()));
        deadline.push(u.deadline.as_ref().map(|d| d.0.as_str()));
        deadline_value.push(u.deadline.as_ref().map(|d| d.1.clone()));
        decision.push(u.decision.as_ref().map(|d| d.0));
        decision_value.push(u.decision.as_ref().map(|d| d.1.clone()));
        overdue.push(u.overdue);
        final_without_appeal.push(u.final_without_appeal);
        terminated.push(u.terminated);
        at.push(c.at);
    }
    // Whether a case is held here is what the update finds (no lookup first: this runs for
    // every event of every case).
    sqlx::query_scalar(
        "update cases c set
           -- case.* and review.* arrive on separate consumers, in either order, and a
           -- redelivery can come after later events: once terminated (the end of the road) a
           -- late event never reopens it, and an event older than the one that set the status
           -- never sets it back.
           status = case when c.terminated_at is not null or u.status is null
                              or u.at < coalesce(c.status_at, '-infinity') then c.status
                         else u.status end,
           status_at = case when c.terminated_at is not null or u.status is null
                                 or u.at < coalesce(c.status_at, '-infinity') then c.status_at
                            else u.at end,
           -- The same for the handling unit: only an event at least as new as the one that
           -- set it moves the case (access follows this column).
           current_department = case when (u.clear or u.department is not null)
                                          and u.at >= coalesce(c.department_at, '-infinity')
                                     then case when u.clear then null else u.department end
                                     else c.current_department end,
           department_at = case when (u.clear or u.department is not null)
                                     and u.at >= coalesce(c.department_at, '-infinity') then u.at
                                else c.department_at end,
           milestones = case when u.milestone is null then c.milestones
                        else jsonb_set(c.milestones, array[u.milestone], u.milestone_value, true) end,
           -- A clock's entry keeps when supervision last spoke of it (`as_of`): an older word
           -- on it delivered late (another instance's relay) does not overwrite a newer one.
           deadlines = case when u.deadline is null
                                 or u.at < coalesce((c.deadlines->u.deadline->>'as_of')::timestamptz,
                                                    '-infinity')
                            then c.deadlines
                       else jsonb_set(c.deadlines, array[u.deadline],
                                      coalesce(c.deadlines->u.deadline, '{}'::jsonb) || u.deadline_value
                                          || jsonb_build_object('as_of', u.at),
                                      true) end,
           decisions = case when u.decision is null then c.decisions
                       else jsonb_set(c.decisions, array[u.decision], u.decision_value, true) end,
           overdue = c.overdue or u.overdue,
           final_without_appeal = c.final_without_appeal or u.final_without_appeal,
           terminated_at = case when u.terminated then coalesce(c.terminated_at, u.at)
                           else c.terminated_at end,
           updated_at = now()
         from unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::jsonb[],
                     $7::text[], $8::jsonb[], $9::text[], $10::jsonb[], $11::bool[], $12::bool[],
                     $13::bool[], $14::timestamptz[])
           as u(case_no, status, department, clear, milestone, milestone_value, deadline,
                deadline_value, decision, decision_value, overdue, final_without_appeal,
                terminated, at)
         where c.case_no = u.case_no
         returning c.case_no",
    )
    .bind(&case_no)
    .bind(&status)
    .bind(&department)
    .bind(&clear)
    .bind(&milestone)
    .bind(&milestone_value)
    .bind(&deadline)
    .bind(&deadline_value)
    .bind(&decision)
    .bind(&decision_value)
    .bind(&overdue)
    .bind(&final_without_appeal)
    .bind(&terminated)
    .bind(&at)
    .fetch_all(&mut *conn)
    .await
}

/// The timeline lines of `changes`, and the staff-only detail lines under ids derived from
/// their events' (all idempotent by event id).
async fn timeline(conn: &mut PgConnection, changes: &[&Change]) -> Result<(), HandlerError> {
    if changes.is_empty() {
        return Ok(());
    }
    let case_no: Vec<&str> = changes.iter().map(|c| c.case_no.as_str()).collect();
    let at: Vec<_> = changes.iter().map(|c| c.at).collect();
    let kind: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
    let event_id: Vec<_> = changes.iter().map(|c| c.event_id).collect();
    let summary: Vec<&str> = changes.iter().map(|c| c.update.summary.as_str()).collect();
    let public: Vec<bool> = changes.iter().map(|c| c.update.public).collect();
    let detail: Vec<Option<&str>> = changes
        .iter()
        .map(|c| c.update.staff_detail.as_deref())
        .collect();
    // Each event's line, then its staff-only detail (if any), in the batch's order.
    sqlx::query(
        "insert into timeline (case_no, at, event, event_id, summary, public)
         select t.case_no, t.at, t.event, l.event_id, l.summary, l.public
         from unnest($1::text[], $2::timestamptz[], $3::text[], $4::uuid[], $5::text[], $6::bool[],
                     $7::text[])
           with ordinality as t(case_no, at, event, event_id, summary, public, detail, ordinality)
         cross join lateral (values
             (t.event_id, t.summary, t.public, 0),
             (md5(t.event_id::text || ':staff')::uuid, t.detail, false, 1)
           ) as l(event_id, summary, public, line)
         where l.summary is not null
         order by t.ordinality, l.line
         on conflict (event_id) do nothing",
    )
    .bind(&case_no)
    .bind(&at)
    .bind(&kind)
    .bind(&event_id)
    .bind(&summary)
    .bind(&public)
    .bind(&detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xinfang_domain::county::CountyCode;

    fn env(kind: &str, data: Value) -> Envelope {
        Envelope::new(
            kind,
            Some("XF-411282-2026-000001".into()),
            CountyCode::parse("411282").unwrap(),
            chrono::Utc::now(),
            data,
        )
        .unwrap()
    }

    /// Staff and petitioners read the timeline: Chinese words and department names, no event
    /// names or codes.
    #[test]
    fn timeline_lines_read_in_chinese() {
        let cases = [
            (
                "assigned",
                json!({"department": "zjj", "mode": "forward"}),
                "已转送至住建局",
            ),
            (
                "replied",
                json!({"department": "zjj", "outcome": "not_supported", "served_on": "2026-12-05"}),
                "已答复（不予支持），2026-12-05送达",
            ),
            (
                "transferred",
                json!({"from": "sthjj", "to": "slj", "approved_by": "411282:xfj"}),
                "经信访局同意，转办至水利局",
            ),
            (
                "accepted",
                json!({"department": "zjj"}),
                "已受理（已出具受理告知）",
            ),
            (
                "supervised",
                json!({"department": "zjj", "form": "written_notice"}),
                "书面督办：住建局",
            ),
        ];
        for (kind, data, want) in cases {
            let u = interpret(&format!("xf.411282.case.{kind}"), &env(kind, data)).unwrap();
            assert_eq!(u.summary, want);
        }
        let u = interpret(
            "xf.411282.deadline.overdue",
            &env(
                "overdue",
                json!({"case_no": "XF-411282-2026-000001", "deadline": "D5", "reference": "",
                       "department": "zjj", "due": "2026-03-02T15:59:59Z", "at": "2026-03-02T16:00:00Z"}),
            ),
        )
        .expect("an overdue deadline is a timeline line");
        assert_eq!(
            u.summary,
            "已超期：信访事项办理期限（D5），应于2026-03-02前"
        );
    }

    #[test]
    fn maps_lifecycle_events_to_statuses() {
        let u = interpret(
            "xf.411282.case.assigned",
            &env("assigned", json!({"department": "rsj", "mode": "assign"})),
        )
        .unwrap();
        assert_eq!(u.status, Some("assigned"));
        assert_eq!(u.department.as_deref(), Some("rsj"));
        let u = interpret(
            "xf.411282.case.accepted",
            &env("accepted", json!({"department": "rsj"})),
        )
        .unwrap();
        assert_eq!(u.status, Some("accepted"));
        assert_eq!(u.milestone.unwrap().0, "accepted_at");
        let u = interpret(
            "xf.411282.review.requested",
            &env("requested", json!({"level": "rereview"})),
        )
        .unwrap();
        assert_eq!(u.status, Some("rereview_requested"));
        // The city's copy of a county case's review is left to the county's copy.
        let review = env(
            "requested",
            json!({"level": "review", "case_county": "411282", "organ": "411200:gov"}),
        );
        assert!(interpret("xf.411200.review.requested", &review).is_none());
        assert!(interpret("xf.411282.review.requested", &review).is_some());
        let u = interpret("xf.411282.case.terminated", &env("terminated", json!({}))).unwrap();
        assert!(u.terminated);
        assert!(interpret("xf.411282.case.unheard_of", &env("unheard_of", json!({}))).is_none());
    }

    /// Issue #20: a revoking decision does not set a status of its own (the remand does, in
    /// whichever order the two consumers see them); the timeline shows both.
    #[test]
    fn a_revoking_decision_and_the_remand_show_on_the_timeline() {
        let decided = env(
            "decided",
            json!({"level": "review", "case_county": "411282", "organ": "411282:gov",
                   "decision": "revoke", "served_on": "2026-06-01"}),
        );
        let u = interpret("xf.411282.review.decided", &decided).unwrap();
        assert_eq!(u.status, None);
        assert!(
            u.summary.contains("复查意见已出") && u.summary.contains("撤销"),
            "{}",
            u.summary
        );
        let upheld = env(
            "decided",
            json!({"level": "review", "case_county": "411282", "organ": "411282:gov",
                   "decision": "uphold", "served_on": "2026-06-01"}),
        );
        let u = interpret("xf.411282.review.decided", &upheld).unwrap();
        assert_eq!(u.status, Some("review_decided"));
        let remanded = env(
            "remanded",
            json!({"case_no": "x", "level": "review", "organ": "411282:gov",
                   "outcome": "revoke", "decision_served_on": "2026-06-01",
                   "department": "rsj", "round": 2, "at": "2026-06-01T02:00:00Z"}),
        );
        let u = interpret("xf.411282.case.remanded", &remanded).unwrap();
        assert_eq!(u.status, Some("remanded"));
        assert_eq!(u.department.as_deref(), Some("rsj"));
        assert_eq!(u.milestone.as_ref().map(|m| m.0), Some("remanded_at"));
        assert!(u.summary.contains("发回重新办理"), "{}", u.summary);
        assert!(u.public);
    }

    #[test]
    fn a_matter_listed_later_is_a_staff_line() {
        let u = interpret(
            "xf.411282.case.listed",
            &env(
                "listed",
                json!({"source": "provincial_joint", "title": "征地补偿"}),
            ),
        )
        .unwrap();
        assert!(u.summary.contains("省联席办交办"), "{}", u.summary);
        assert!(!u.public, "the petitioner is not told a matter is listed");
        assert_eq!(u.status, None);
    }

    #[test]
    fn overdue_marks_the_deadline() {
        let u = interpret(
            "xf.411282.deadline.overdue",
            &env("overdue", json!({"case_no": "x", "deadline": "D5", "department": "rsj", "due": "2026-01-01T00:00:00Z", "at": "2026-01-01T00:00:00Z"})),
        )
        .unwrap();
        assert!(u.overdue);
        let (kind, shown) = u.deadline.unwrap();
        assert_eq!(kind, "D5");
        assert_eq!(shown["provisional"], false);
        // A due time past the holiday calendar's end is shown as provisional.
        let u = interpret(
            "xf.411282.deadline.warning",
            &env("warning", json!({"case_no": "x", "deadline": "D3", "department": "rsj", "due": "2027-01-01T15:59:59Z", "at": "2026-12-29T00:00:00Z", "provisional": true})),
        )
        .unwrap();
        assert_eq!(u.deadline.unwrap().1["provisional"], true);
    }
}

#[cfg(test)]
mod practice_tests {
    use super::*;
    use xinfang_domain::county::CountyCode;

    fn env(kind: &str, data: Value) -> Envelope {
        Envelope::new(
            kind,
            Some("XF-411282-2026-000001".into()),
            CountyCode::parse("411282").unwrap(),
            chrono::Utc::now(),
            data,
        )
        .unwrap()
    }

    /// Issue #15: the petitioner's view shows only that a conference took place; who took
    /// part, the minutes and the decisions are on a staff-only line. Advice and leaders are
    /// staff-only.
    #[test]
    fn the_petitioner_sees_only_that_a_conference_was_held() {
        let held = json!({
            "case_no": "XF-411282-2026-000001", "conference": uuid::Uuid::now_v7(),
            "kind": "major_issue", "held_at": "2026-05-01T02:00:00Z",
            "minutes": "申请人张三反映拖欠工资，住建局、人社局参会",
            "decisions": [
                {"id": uuid::Uuid::now_v7(), "position": 1, "text": "人社局核实欠薪数额",
                 "department": "rsj", "due_at": "2026-05-10T09:00:00Z"},
                {"id": uuid::Uuid::now_v7(), "position": 2, "text": "律师释法"}
            ],
            "by": "supervisor:t1", "at": "2026-05-01T03:00:00Z"
        });
        let u = interpret(
            "xf.411282.case.conference_held",
            &env("conference_held", held),
        )
        .unwrap();
        assert!(u.public);
        assert_eq!(u.summary, CONFERENCE_HELD_SUMMARY);
        for secret in ["张三", "住建局", "rsj", "欠薪", "major_issue", "重大"] {
            assert!(
                !u.summary.contains(secret),
                "public line leaks {secret}: {}",
                u.summary
            );
        }
        let detail = u.staff_detail.expect("staff line");
        assert!(detail.contains("张三反映拖欠工资"), "{detail}");
        assert!(detail.contains("决定2项"), "{detail}");
        assert!(detail.contains("人社局（2026-05-10 17:00前）"), "{detail}");
        // No status, department or milestone changes from a practice fact.
        assert_eq!(
            (u.status, u.department.clone(), u.milestone.is_some()),
            (None, None, false)
        );

        let scheduled = json!({
            "case_no": "x", "conference": uuid::Uuid::now_v7(), "kind": "difficult_case",
            "scheduled_at": "2026-04-30T01:30:00Z", "place": "三楼会议室",
            "participants": [{"role": "department", "id": "rsj"}, {"role": "lawyer", "id": "a"}],
            "by": "clerk:t", "at": "2026-04-20T01:00:00Z"
        });
        let u = interpret(
            "xf.411282.case.conference_scheduled",
            &env("conference_scheduled", scheduled),
        )
        .unwrap();
        assert!(!u.public && u.staff_detail.is_none());
        assert!(
            u.summary.contains("疑难案件会审") && u.summary.contains("2026-04-30 09:30"),
            "{}",
            u.summary
        );
        assert!(u.summary.contains("2人参加"), "{}", u.summary);

        for (k, data) in [
            (
                "advice_recorded",
                json!({"case_no": "x", "advice": uuid::Uuid::now_v7(),
                "adviser": uuid::Uuid::now_v7(), "adviser_kind": "lawyer", "adviser_name": "李律师",
                "text": "建议通过劳动仲裁解决", "by": "clerk:t", "at": "2026-04-20T01:00:00Z"}),
            ),
            (
                "conference_task_done",
                json!({"case_no": "x", "conference": uuid::Uuid::now_v7(),
                "decision": uuid::Uuid::now_v7(), "department": "rsj", "due_at": "2026-05-10T09:00:00Z",
                "late": true, "note": "已核实", "by": "department:t", "at": "2026-05-11T01:00:00Z"}),
            ),
            (
                "leader_received",
                json!({"case_no": "x", "leader": "wang", "leader_name": "王五",
                "leader_title": "副县长", "reception_day": uuid::Uuid::now_v7(),
                "received_on": "2026-04-20", "by": "clerk:t", "at": "2026-04-20T01:00:00Z"}),
            ),
            (
                "leader_assigned",
                json!({"case_no": "x", "leader": "wang", "leader_name": "王五",
                "leader_title": "副县长", "by": "clerk:t", "at": "2026-04-20T01:00:00Z"}),
            ),
        ] {
            let u = interpret(&format!("xf.411282.case.{k}"), &env(k, data)).unwrap();
            assert!(!u.public, "{k} is for staff only");
            assert!(!u.summary.is_empty(), "{k}");
        }
        let done = interpret(
            "xf.411282.case.conference_task_done",
            &env("conference_task_done", json!({"case_no": "x", "conference": uuid::Uuid::now_v7(),
                "decision": uuid::Uuid::now_v7(), "department": "rsj", "due_at": "2026-05-10T09:00:00Z",
                "late": true, "note": "已核实", "by": "department:t", "at": "2026-05-11T01:00:00Z"})),
        )
        .unwrap();
        assert!(done.summary.contains("逾期"), "{}", done.summary);
        // A payload that breaks the contract makes no line.
        assert!(
            interpret(
                "xf.411282.case.conference_held",
                &env("conference_held", json!({"case_no": "x"}))
            )
            .is_none()
        );
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;
    use xinfang_domain::county::CountyCode;

    fn env(kind: &str, data: Value) -> Envelope {
        Envelope::new(
            kind,
            Some("XF-411282-2026-000001".into()),
            CountyCode::parse("411282").unwrap(),
            chrono::Utc::now(),
            data,
        )
        .unwrap()
    }

    /// Issue #20: the registry learns every clock from supervision, with its due time and how
    /// it ended, not only from warnings; the timeline is not flooded with them.
    #[test]
    fn scheduled_and_closed_deadlines_fill_the_deadlines() {
        let started = json!({"case_no": "XF-411282-2026-000001", "deadline": "D5",
            "department": "rsj", "trigger": "2026-03-05T16:00:00Z",
            "due": "2026-05-04T15:59:59Z", "state": "pending", "reason": "started",
            "at": "2026-03-06T02:00:00Z"});
        let u = interpret("xf.411282.deadline.scheduled", &env("scheduled", started)).unwrap();
        let (key, shown) = u.deadline.unwrap();
        assert_eq!(key, "D5");
        assert_eq!(shown["due"], "2026-05-04T15:59:59Z");
        assert_eq!(shown["state"], "pending");
        assert!(shown["closed_at"].is_null());
        assert!(u.summary.is_empty() && !u.overdue);

        let closed = json!({"case_no": "XF-411282-2026-000001", "deadline": "D5",
            "department": "rsj", "trigger": "2026-03-05T16:00:00Z",
            "due": "2026-05-04T15:59:59Z", "state": "met_late", "reason": "replied",
            "at": "2026-05-06T02:00:00Z"});
        let u = interpret("xf.411282.deadline.closed", &env("closed", closed)).unwrap();
        let (_, shown) = u.deadline.unwrap();
        assert_eq!(shown["state"], "met_late");
        assert_eq!(shown["reason"], "replied");
        assert_eq!(shown["closed_at"], "2026-05-06T02:00:00Z");

        // A missed clock made moot reads overdue; a 督办 response is keyed by its 督办.
        let missed = json!({"case_no": "x", "deadline": "supervision", "reference": "abc",
            "department": "rsj", "trigger": "2026-03-05T16:00:00Z",
            "due": "2026-03-10T15:59:59Z", "state": "fired", "reason": "terminated",
            "at": "2026-03-12T02:00:00Z"});
        let u = interpret("xf.411282.deadline.closed", &env("closed", missed)).unwrap();
        let (key, shown) = u.deadline.unwrap();
        assert_eq!(key, "supervision:abc");
        assert_eq!(shown["state"], "overdue");
    }

    #[test]
    fn replies_and_review_decisions_are_recorded_for_the_query_view() {
        let u = interpret(
            "xf.411282.case.replied",
            &env(
                "replied",
                json!({"case_no": "x", "department": "rsj", "outcome": "not_supported",
                       "is_handling_opinion": true, "text": "…", "served_on": "2026-04-20",
                       "at": "2026-04-20T02:00:00Z"}),
            ),
        )
        .unwrap();
        let (level, d) = u.decision.unwrap();
        assert_eq!(level, "reply");
        assert_eq!(d["outcome"], "not_supported");
        assert_eq!(d["appealable"], true);
        assert_eq!(d["department"], "rsj");
        let u = interpret(
            "xf.411282.review.decided",
            &env(
                "decided",
                json!({"case_no": "x", "case_county": "411282", "level": "review",
                       "organ": "411282:gov", "decision": "uphold", "served_on": "2026-05-20",
                       "at": "2026-05-20T02:00:00Z"}),
            ),
        )
        .unwrap();
        let (level, d) = u.decision.unwrap();
        assert_eq!(level, "review");
        assert_eq!(
            (d["organ"].as_str(), d["outcome"].as_str()),
            (Some("411282:gov"), Some("uphold"))
        );
        // A request is no decision.
        let u = interpret(
            "xf.411282.review.requested",
            &env(
                "requested",
                json!({"case_no": "x", "case_county": "411282", "level": "rereview",
                       "organ": "411200:gov", "at": "2026-05-21T02:00:00Z"}),
            ),
        )
        .unwrap();
        assert!(u.decision.is_none());
    }
}
