//! Carrying out a routing decision: the lifecycle step, the assignments, and the events
//! (`case.assigned` + `dept.<d>.assigned`, `case.diverted`, `case.not_accepted`,
//! `case.not_reaccepted`), all in the caller's transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use xinfang_domain::confidential::{CONTACT_VIA_BUREAU, Identifiers, redact_text};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{Adjustments, DeadlineKind, compute};
use xinfang_domain::deadline_plan::acceptance_notice_exempt;
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::{
    self, AssignMode, Assigned, Contact, DeptAssignment, DeptDeadlines, DeptRole, Diverted,
    Refused, RepeatDisposition, kind,
};
use xinfang_domain::lifecycle::{Command, LifecycleError, NotAcceptGround, apply_with};
use xinfang_domain::routing::{Decision, Route, discloses_petitioner};
use xinfang_domain::seal;

use crate::context::{Ctx, cst};
use crate::dept_message::{addressee, available_actions};
use crate::emit::{EventRef, case_event, dept_event};
use crate::store::{self, CaseRow, status};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(
        "county {0} is not served by this deployment (deployment.counties): its departments' events cannot be published"
    )]
    Unserved(CountyCode),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApplyError {
    fn from(e: sqlx::Error) -> Self {
        ApplyError::Other(e.into())
    }
}

/// Checks a decision can be carried out here (every department's county has a stream).
pub fn check_served(ctx: &Ctx, decision: &Decision) -> Result<(), ApplyError> {
    let route = match decision {
        Decision::Route(r) => r,
        Decision::PoliticalLegal { forward, .. } => forward,
        _ => return Ok(()),
    };
    for organ in std::iter::once(&route.lead).chain(&route.assisting) {
        if !ctx.served.contains(&organ.county) {
            return Err(ApplyError::Unserved(organ.county.clone()));
        }
    }
    Ok(())
}

/// Applies `decision` to the case, writes assignments and events, and saves the case.
pub async fn apply_decision(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<Vec<EventRef>, ApplyError> {
    check_served(ctx, decision)?;
    let at = cst(now);
    let snapshot = ctx.policy();
    let policy = snapshot.get();
    let mut out = Vec::new();
    match decision {
        Decision::Route(r) => {
            let cmd = match r.mode {
                AssignMode::Forward => Command::Forward {
                    at,
                    report_required: r.report_required,
                },
                AssignMode::Assign => Command::Assign {
                    at,
                    report_required: r.report_required,
                },
            };
            let t = apply_with(&row.lifecycle, &cmd, &policy)?;
            row.lifecycle = t.case;
            row.lead = Some(r.lead.clone());
            row.mode = Some(r.mode);
            row.held_reason = None;
            let data = Assigned {
                organ_county: (r.lead.county != row.home_county).then(|| r.lead.county.to_string()),
                case_no: row.case_no.clone(),
                department: r.lead.dept.clone(),
                mode: r.mode,
                report_required: r.report_required,
                assisting: r.assisting.iter().map(|o| o.dept.clone()).collect(),
                petition_type: row.facts.petition_type,
                branch: row.lifecycle.branch.or(row.facts.branch),
                assigned_at: now,
                notice_exempt: notice_exempt(ctx, row, &r.lead),
            };
            out.push(
                case_event(
                    conn,
                    &row.home_county,
                    kind::ASSIGNED,
                    &row.case_no,
                    now,
                    &data,
                )
                .await?,
            );
            out.extend(notify_route(conn, ctx, row, r, status::ASSIGNED, now).await?);
        }
        Decision::PoliticalLegal { diverted, forward } => {
            let t = apply_with(&row.lifecycle, &Command::RoutePoliticalLegal, &policy)?;
            row.lifecycle = t.case;
            row.lead = Some(forward.lead.clone());
            row.mode = Some(AssignMode::Forward);
            row.held_reason = None;
            let data = Diverted {
                case_no: row.case_no.clone(),
                diversion: diverted.diversion,
                organ: diverted.organ.to_string(),
                guidance: diverted.guidance.clone(),
                at: now,
                after_acceptance: false,
                department: None,
                served_on: None,
            };
            out.push(
                case_event(
                    conn,
                    &row.home_county,
                    kind::DIVERTED,
                    &row.case_no,
                    now,
                    &data,
                )
                .await?,
            );
            out.extend(notify_route(conn, ctx, row, forward, status::FORWARDED, now).await?);
        }
        Decision::Divert(g) => {
            let t = apply_with(&row.lifecycle, &Command::GuideElsewhere, &policy)?;
            row.lifecycle = t.case;
            row.lead = None;
            row.mode = None;
            row.held_reason = None;
            let data = Diverted {
                case_no: row.case_no.clone(),
                diversion: g.diversion,
                organ: g.organ.to_string(),
                guidance: g.guidance.clone(),
                at: now,
                after_acceptance: false,
                department: None,
                served_on: None,
            };
            out.push(
                case_event(
                    conn,
                    &row.home_county,
                    kind::DIVERTED,
                    &row.case_no,
                    now,
                    &data,
                )
                .await?,
            );
        }
        Decision::Refuse(r) => {
            let (cmd, kind) = match r.disposition {
                RepeatDisposition::NotReaccepted => (
                    Command::NotReaccept {
                        repeat_of: r.repeat_of.clone(),
                    },
                    kind::NOT_REACCEPTED,
                ),
                // Art 19 para 3 applies only while the earlier matter is within its time
                // limit: with its due time known, the lifecycle guards it.
                _ => (
                    Command::NotAccept {
                        ground: match r.earlier_due {
                            Some(due) => NotAcceptGround::PendingElsewhere {
                                earlier_case: r.repeat_of.clone(),
                                earlier_due: cst(due),
                                at,
                            },
                            None => NotAcceptGround::Other {
                                reason: r.reason.clone(),
                            },
                        },
                    },
                    kind::NOT_ACCEPTED,
                ),
            };
            let t = apply_with(&row.lifecycle, &cmd, &policy)?;
            row.lifecycle = t.case;
            row.lifecycle.repeat_of = Some(r.repeat_of.clone());
            row.lead = None;
            row.mode = None;
            row.held_reason = None;
            let data = Refused {
                case_no: row.case_no.clone(),
                rule: r.rule.clone(),
                reason: r.reason.clone(),
                where_to_go: r.where_to_go.clone(),
                at: now,
            };
            out.push(case_event(conn, &row.home_county, kind, &row.case_no, now, &data).await?);
        }
        Decision::Hold { reason } => {
            row.held_reason = Some(reason.clone());
        }
    }
    store::save_case(conn, row, Some(decision)).await?;
    Ok(out)
}

/// Assignments and `dept.<d>.assigned` for the lead and every assisting department.
async fn notify_route(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &CaseRow,
    route: &Route,
    initial_status: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<EventRef>> {
    let mut out = Vec::new();
    let organs = std::iter::once((&route.lead, DeptRole::Lead))
        .chain(route.assisting.iter().map(|o| (o, DeptRole::Assisting)));
    for (organ, role) in organs {
        out.push(
            send_to_department(
                conn,
                ctx,
                row,
                Target {
                    organ,
                    role,
                    mode: route.mode,
                    report_required: route.report_required,
                    confidential: route.confidential,
                    status: initial_status,
                },
                now,
            )
            .await?,
        );
    }
    Ok(out)
}

/// Art 23 para 4: 纪委监委 handling an accusation owes no acceptance notice (D3).
fn notice_exempt(ctx: &Ctx, row: &CaseRow, lead: &OrganRef) -> bool {
    acceptance_notice_exempt(
        &ctx.directory.current(),
        &lead.dept,
        row.facts.petition_type,
        row.facts.accuses_official,
    )
}

/// One department's share of an assignment.
pub struct Target<'a> {
    pub organ: &'a OrganRef,
    pub role: DeptRole,
    pub mode: AssignMode,
    pub report_required: bool,
    pub confidential: bool,
    pub status: &'a str,
}

/// Records the assignment and tells the department (`dept.<d>.assigned`). On confidential
/// matters only 纪委监委 learns who the petitioner is (Art 30 para 3).
pub async fn send_to_department(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &CaseRow,
    t: Target<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<EventRef> {
    store::upsert_assignment(conn, &row.case_no, t.organ, t.role, t.status, t.mode, now).await?;
    // When the acceptance notice is due (D3); none from 纪委监委 on an accusation (Art 23 para 4).
    let accept_by = if t.status == status::ASSIGNED && !notice_exempt(ctx, row, t.organ) {
        compute(
            DeadlineKind::D3,
            cst(now),
            &ctx.calendar.current(),
            &ctx.rules,
            &Adjustments::default(),
        )
        .ok()
        .and_then(|d| d.due)
        .map(|d| d.with_timezone(&Utc))
    } else {
        None
    };
    let discloses = discloses_petitioner(t.confidential, t.organ, t.role, &ctx.directory.current());
    let petitioner = if discloses {
        open_contact(ctx, row)
    } else {
        None
    };
    // An accuser often names themself in the text: a department that may not learn who
    // informed reads the text with every identifier masked, and is told to go through the
    // bureau for contact.
    let text = if discloses {
        row.text.clone()
    } else {
        redacted_text(ctx, row)
    };
    let actions = available_actions(row.lifecycle.state, t.role, t.status, t.report_required);
    // The lead's objection window (D4), while the lifecycle admits an objection.
    let object_by = if t.role == DeptRole::Lead && actions.iter().any(|a| a == "object") {
        compute(
            DeadlineKind::D4,
            cst(now),
            &ctx.calendar.current(),
            &ctx.rules,
            &Adjustments::default(),
        )
        .ok()
        .and_then(|d| d.due)
        .map(|d| d.with_timezone(&Utc))
    } else {
        None
    };
    let data = DeptAssignment {
        case_no: row.case_no.clone(),
        department: t.organ.dept.clone(),
        role: t.role,
        mode: t.mode,
        report_required: t.report_required,
        petition_type: row.facts.petition_type,
        text,
        petitioner,
        accept_by,
        addressee: Some(addressee(&ctx.directory.current(), t.organ)),
        deadlines: DeptDeadlines {
            accept_by,
            object_by,
            ..DeptDeadlines::default()
        },
        actions,
    };
    dept_event(
        conn,
        t.organ,
        events::kind::ASSIGNED,
        &row.case_no,
        now,
        &data,
    )
    .await
}

/// The text a department that may not learn the informant reads: intake's masked text, or
/// (for events of an older intake) the text masked here with the contact routing holds;
/// prefixed with the notice that contact goes through the bureau.
pub fn redacted_text(ctx: &Ctx, row: &CaseRow) -> String {
    let masked = match &row.text_redacted {
        Some(t) => t.clone(),
        None => redact_text(&row.text, &Identifiers::from(open_contact(ctx, row))),
    };
    format!("（{CONTACT_VIA_BUREAU}）{masked}")
}

fn open_contact(ctx: &Ctx, row: &CaseRow) -> Option<Contact> {
    let sealed = row.contact.as_ref()?;
    let Some(key) = &ctx.data_key else {
        metrics::counter!("xf_routing_contact_unopened_total", "reason" => "no_key").increment(1);
        return None;
    };
    match seal::open_contact(key, sealed) {
        Ok(c) => Some(c),
        Err(e) => {
            metrics::counter!("xf_routing_contact_unopened_total", "reason" => "open_failed")
                .increment(1);
            tracing::warn!(case_no = %row.case_no, error = %e, "petitioner contact could not be opened; department gets none");
            None
        }
    }
}
