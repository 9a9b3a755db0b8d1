//! `case.remanded` (issue #20): a 复查 or 复核 decision revoked or changed the handling opinion,
//! so the matter goes back to the organ that handled it. Routing takes its copy of the case back
//! to handling (the lifecycle's `remand`), so the department's new reply is accepted; the
//! department hears `dept.<d>.remanded` with the end of its new handling period (its notice);
//! the actions log records it. Supervision starts that period from the same fact.

use anyhow::anyhow;
use sqlx::PgConnection;
use xinfang_domain::appeal::level_str;
use xinfang_domain::deadline::compute_remand;
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::{DeptDeadlines, DeptRemanded, DeptRole, Remanded, ReviewLevel, kind};
use xinfang_domain::lifecycle::{Command, LifecycleError, apply_with};
use xinfang_platform::consumer::HandlerError;

use crate::context::{Ctx, cst};
use crate::dept_message::{addressee, available_actions};
use crate::emit::dept_event;
use crate::store::{self, ActionLog, status};

/// The organ that gives the new opinion: the lead, when it is the department that replied;
/// else that department as the directory resolves it for the matter's county.
fn handling_organ(
    ctx: &Ctx,
    lead: Option<&OrganRef>,
    county: &xinfang_domain::county::CountyCode,
    department: &str,
) -> Option<OrganRef> {
    lead.filter(|l| l.dept == department)
        .cloned()
        .or_else(|| ctx.directory.current().resolve(county, department))
}

/// Applies `case.remanded` to the case: back to handling for the same organ, told to it.
pub async fn on_remanded(
    conn: &mut PgConnection,
    ctx: &Ctx,
    r: Remanded,
) -> Result<(), HandlerError> {
    let Some(mut row) = store::lock_case(conn, &r.case_no)
        .await
        .map_err(HandlerError::Retry)?
    else {
        return Err(HandlerError::Retry(anyhow!(
            "remanded before registered for {}",
            r.case_no
        )));
    };
    let at = cst(r.at);
    if row.lifecycle.remanded_at == Some(at) {
        // This remand is applied already (a copy of the fact).
        return Ok(());
    }
    let Some(organ) = handling_organ(ctx, row.lead.as_ref(), &row.facts.county, &r.department)
    else {
        return Err(HandlerError::Reject(anyhow!(
            "remanded to department {} which the directory does not know for the case's county",
            r.department
        )));
    };
    let next = match apply_with(&row.lifecycle, &Command::Remand { at }, &ctx.policy().get()) {
        Ok(t) => t.case,
        Err(e @ LifecycleError::NotAllowed { .. }) => {
            // Routing's copy is not where a served result leaves it: nothing to send back.
            tracing::warn!(case_no = %row.case_no, state = %row.lifecycle.state, "remand not applicable in this state");
            return Err(HandlerError::Reject(anyhow!(e)));
        }
        Err(e) => return Err(HandlerError::Reject(anyhow!(e))),
    };
    row.lifecycle = next;
    row.held_reason = None;
    let reply_by = compute_remand(at, &ctx.calendar.current(), &ctx.rules)
        .ok()
        .and_then(|d| d.due)
        .map(|d| d.with_timezone(&chrono::Utc));
    let data = DeptRemanded {
        case_no: row.case_no.clone(),
        department: organ.dept.clone(),
        level: r.level,
        organ: r.organ.clone(),
        outcome: r.outcome.clone(),
        reply_by,
        at: r.at,
        addressee: Some(addressee(&ctx.directory.current(), &organ)),
        deadlines: DeptDeadlines {
            handle_by: reply_by,
            ..Default::default()
        },
        actions: available_actions(row.lifecycle.state, DeptRole::Lead, status::REMANDED, false),
    };
    let ev = dept_event(conn, &organ, kind::REMANDED, &row.case_no, r.at, &data)
        .await
        .map_err(HandlerError::Retry)?;
    store::set_assignment_status(conn, &row.case_no, &organ, status::REMANDED)
        .await
        .map_err(|e| HandlerError::Retry(anyhow!(e)))?;
    let note = format!(
        "{} by {} ({}): back for a new opinion{}",
        level_str(r.level),
        r.organ,
        r.outcome,
        reply_by
            .map(|d| format!(", due {}", d.to_rfc3339()))
            .unwrap_or_default()
    );
    store::log_action(
        conn,
        &ActionLog {
            case_no: &row.case_no,
            organ: &organ,
            action: kind::REMANDED,
            request_id: None,
            done: true,
            rule: Some(match r.level {
                ReviewLevel::Review => "Art 35",
                ReviewLevel::Rereview => "Art 36",
            }),
            event_id: Some(ev.id),
            note: Some(&note),
        },
    )
    .await?;
    store::save_case(conn, &row, None)
        .await
        .map_err(HandlerError::Retry)?;
    metrics::counter!("xf_routing_remands_total").increment(1);
    tracing::info!(case_no = %row.case_no, county = %organ.county, department = %organ.dept, level = level_str(r.level), "matter sent back to the handling organ");
    Ok(())
}
