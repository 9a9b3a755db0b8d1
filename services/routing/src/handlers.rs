//! The `case` consumer: `case.registered` and `case.reclassified` are routed, and so is a
//! clerk's decision on a repeat link (`case.refusal_confirmed`, `case.refusal_rejected`,
//! `case.repeat_unlinked`, Decisions 7), and a remand by a 复查/复核 decision (`case.remanded`,
//! [`crate::remand`]); every other case event (including routing's own) is acknowledged and
//! ignored.

use std::future::Future;
use std::sync::Arc;

use anyhow::anyhow;
use sqlx::PgConnection;
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::{
    DeptWithdrawn, Reclassified, Registered, RepeatDecided, RepeatDisposition, Rerouted,
    WithdrawnAccess, kind,
};
use xinfang_domain::lifecycle::{self, CaseState, Command, LifecycleError, apply_with};
use xinfang_domain::petition::PetitionType;
use xinfang_domain::routing::{
    RoutingFacts, decide, discloses_petitioner, reroute_after_reclassification,
};
use xinfang_platform::consumer::{Handler, HandlerError, Incoming};

use crate::apply::{ApplyError, apply_decision};
use crate::context::{Ctx, cst};
use crate::dept_message::addressee;
use crate::emit::{case_event, dept_event};
use crate::store::{self, ActionLog, CaseRow};

pub struct CaseEvents {
    pub ctx: Arc<Ctx>,
}

impl Handler for CaseEvents {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let ctx = self.ctx.clone();
        let env = msg.envelope.clone();
        async move {
            match env.kind.as_str() {
                kind::REGISTERED => {
                    let data: Registered = env
                        .data_as()
                        .map_err(|e| HandlerError::Reject(anyhow!("registered payload: {e}")))?;
                    on_registered(conn, &ctx, &env.county, data, env.at).await
                }
                kind::RECLASSIFIED => {
                    let data: Reclassified = env
                        .data_as()
                        .map_err(|e| HandlerError::Reject(anyhow!("reclassified payload: {e}")))?;
                    on_reclassified(conn, &ctx, data, env.at).await
                }
                // A 复查/复核 decision sent the matter back for a new opinion (issue #20).
                kind::REMANDED => {
                    let data: xinfang_domain::events::Remanded = env
                        .data_as()
                        .map_err(|e| HandlerError::Reject(anyhow!("remanded payload: {e}")))?;
                    crate::remand::on_remanded(conn, &ctx, data).await
                }
                kind::REFUSAL_CONFIRMED | kind::REFUSAL_REJECTED | kind::REPEAT_UNLINKED => {
                    let data: RepeatDecided = env.data_as().map_err(|e| {
                        HandlerError::Reject(anyhow!("repeat decision payload: {e}"))
                    })?;
                    on_repeat_decided(conn, &ctx, data, env.at).await
                }
                _ => Ok(()),
            }
        }
    }
}

fn apply_err(e: ApplyError) -> HandlerError {
    match e {
        ApplyError::Other(e) => HandlerError::Retry(e),
        other => HandlerError::Reject(anyhow!(other)),
    }
}

async fn on_registered(
    conn: &mut PgConnection,
    ctx: &Ctx,
    home: &xinfang_domain::county::CountyCode,
    r: Registered,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), HandlerError> {
    if store::case_exists(conn, &r.case_no).await? {
        // A second `registered` for a case already routed (a re-publish with a new id).
        return Ok(());
    }
    let mut case = apply_with(
        &lifecycle::Case::new(),
        &Command::Register {
            at: cst(r.registered_at),
        },
        &ctx.policy().get(),
    )
    .map_err(|e| HandlerError::Reject(anyhow!(e)))?
    .case;
    case = classify(&case, r.petition_type, r.branch, ctx)?;
    case.confidential |= r.confidential || r.accuses_official;
    case.urgent = r.urgent;
    let mut row = CaseRow {
        case_no: r.case_no.clone(),
        home_county: home.clone(),
        facts: RoutingFacts::from_registered(&r),
        lifecycle: case,
        text: r.text,
        text_redacted: r.redacted_text,
        contact: r.contact,
        lead: None,
        mode: None,
        held_reason: None,
    };
    store::insert_case(conn, &row)
        .await
        .map_err(HandlerError::Retry)?;
    route(conn, ctx, &mut row, at).await
}

async fn on_reclassified(
    conn: &mut PgConnection,
    ctx: &Ctx,
    r: Reclassified,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), HandlerError> {
    let Some(mut row) = store::lock_case(conn, &r.case_no)
        .await
        .map_err(HandlerError::Retry)?
    else {
        // Its `registered` has not been handled yet: try again later.
        return Err(HandlerError::Retry(anyhow!(
            "reclassified before registered for {}",
            r.case_no
        )));
    };
    let bureau = OrganRef::new(
        row.home_county.clone(),
        ctx.directory.current().roles.petition_bureau.clone(),
    );
    if row.facts.classified_at.is_some_and(|newest| newest > at) {
        // Another instance handled the clerk's newer reclassification first: it stands.
        store::log_action(
            conn,
            &ActionLog {
                case_no: &row.case_no,
                organ: &bureau,
                action: "reclassified",
                request_id: None,
                done: true,
                rule: None,
                event_id: None,
                note: Some("older than the classification the case has; not applied"),
            },
        )
        .await?;
        return Ok(());
    }
    let was_confidential = row.confidential();
    let level_before = row.facts.accused_level;
    row.facts = row.facts.reclassified(&r, at);
    // A diversion at intake that a clerk corrected (no unit ever accepted the matter): the
    // bureau takes its disposition back and routes the matter again by the new classification
    // — to a handling unit, or into the corrected legal channel.
    if matches!(
        row.lifecycle.state,
        CaseState::GuidedElsewhere | CaseState::RoutedPoliticalLegal
    ) {
        let back = apply_with(&row.lifecycle, &Command::Reroute, &ctx.policy().get())
            .map_err(|e| HandlerError::Reject(anyhow!(e)))?
            .case;
        let mut case = classify(&back, r.petition_type, r.branch, ctx)?;
        case.confidential |= row.facts.is_confidential();
        let reason = format!("diversion corrected by a clerk: {}", r.reason);
        return reroute(conn, ctx, &mut row, case, was_confidential, &reason, at).await;
    }
    row.lifecycle = classify(&row.lifecycle, r.petition_type, r.branch, ctx)?;
    row.lifecycle.confidential |= row.facts.is_confidential();
    if row.lifecycle.state == CaseState::Registered {
        return route(conn, ctx, &mut row, at).await;
    }
    // Now an accusation (Art 30 para 3): the units that have it may be the ones it accuses,
    // and they were given the informant. Take it back and route it to the competent organ.
    // Likewise when the accused's management level is recorded and another 纪委监委 has
    // authority over it (Art 22 para 2): a county commission does not keep an accusation
    // against the county's leaders.
    let level_changed =
        row.facts.accused_level.is_some() && row.facts.accused_level != level_before;
    if reroute_after_reclassification(
        was_confidential,
        row.confidential(),
        level_before,
        &row.facts,
        row.lead.as_ref(),
        &ctx.directory.current(),
        &ctx.routing,
    )
    .is_some()
        && let Ok(t) = apply_with(&row.lifecycle, &Command::Reroute, &ctx.policy().get())
    {
        let reason = match row.facts.accused_level.filter(|_| level_changed) {
            Some(level) => format!(
                "accused cadre's level recorded as {}: the 纪委监委 with authority handles it (Art 22 para 2): {}",
                level.as_str(),
                r.reason
            ),
            None => format!("reclassified as {}: {}", r.petition_type.as_str(), r.reason),
        };
        return reroute(conn, ctx, &mut row, t.case, was_confidential, &reason, at).await;
    }
    // Already routed: the classification is recorded; re-routing goes through an objection.
    store::save_case(conn, &row, None)
        .await
        .map_err(HandlerError::Retry)?;
    store::log_action(
        conn,
        &ActionLog {
            case_no: &row.case_no,
            organ: &bureau,
            action: "reclassified",
            request_id: None,
            done: true,
            rule: None,
            event_id: None,
            note: Some("recorded; not re-routed because the case is already routed"),
        },
    )
    .await?;
    Ok(())
}

/// A clerk's decision on the repeat link: a confirmed refusal is applied (and the petitioner
/// told through `case.not_accepted` / `case.not_reaccepted`), a rejected or unlinked petition is
/// routed as a petition of its own. A case routed already only records it.
async fn on_repeat_decided(
    conn: &mut PgConnection,
    ctx: &Ctx,
    d: RepeatDecided,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), HandlerError> {
    let Some(mut row) = store::lock_case(conn, &d.case_no)
        .await
        .map_err(HandlerError::Retry)?
    else {
        return Err(HandlerError::Retry(anyhow!(
            "repeat decision before registered for {}",
            d.case_no
        )));
    };
    row.facts = row.facts.repeat_decided(&d);
    let routable = row.lifecycle.state == CaseState::Registered;
    let bureau = OrganRef::new(
        row.home_county.clone(),
        ctx.directory.current().roles.petition_bureau.clone(),
    );
    store::log_action(
        conn,
        &ActionLog {
            case_no: &row.case_no,
            organ: &bureau,
            action: d.decision.event_kind(),
            request_id: None,
            done: true,
            rule: Some("Decisions 7"),
            event_id: None,
            note: Some(if routable {
                "a clerk's decision on the repeat link; the case is routed by it"
            } else {
                "a clerk's decision on the repeat link; recorded, the case is routed already"
            }),
        },
    )
    .await?;
    if routable {
        return route(conn, ctx, &mut row, at).await;
    }
    store::save_case(conn, &row, None)
        .await
        .map_err(HandlerError::Retry)
}

/// Art 19 para 3 refuses only while the earlier matter is within its time limit: when the
/// lifecycle says that time has passed, the link becomes `related` and the higher organ handles
/// the petition. True when it did (so the caller decides again).
async fn lapse_refusal(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    earlier_due: chrono::DateTime<chrono::FixedOffset>,
) -> Result<bool, HandlerError> {
    let Some(link) = row
        .facts
        .repeat
        .as_mut()
        .filter(|l| l.disposition == RepeatDisposition::NotAccepted)
    else {
        return Ok(false);
    };
    link.disposition = RepeatDisposition::Related;
    link.proposed = false;
    let note = format!(
        "不予受理 not applied: the earlier matter {} passed its time limit ({}); handled here",
        link.of,
        earlier_due.to_rfc3339()
    );
    tracing::info!(case_no = %row.case_no, "Art 19 para 3 refusal lapsed: the earlier matter is out of time");
    let bureau = OrganRef::new(
        row.home_county.clone(),
        ctx.directory.current().roles.petition_bureau.clone(),
    );
    store::log_action(
        conn,
        &ActionLog {
            case_no: &row.case_no,
            organ: &bureau,
            action: "refusal_lapsed",
            request_id: None,
            done: true,
            rule: Some("Art 19 para 3"),
            event_id: None,
            note: Some(&note),
        },
    )
    .await?;
    Ok(true)
}

/// Withdraws every unit's access (`dept.<d>.withdrawn`, assignment `withdrawn`, and on record
/// what each had been given), publishes `case.rerouted`, and routes the case afresh.
async fn reroute(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    case: lifecycle::Case,
    was_confidential: bool,
    reason: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), HandlerError> {
    let now = chrono::Utc::now().max(at);
    let assignments = store::assignments(conn, &row.case_no)
        .await
        .map_err(HandlerError::Retry)?;
    let mut withdrawn = Vec::new();
    for a in assignments
        .iter()
        .filter(|a| store::status::active(&a.status))
    {
        let had_identity =
            discloses_petitioner(was_confidential, &a.organ, a.role, &ctx.directory.current());
        store::set_assignment_status(conn, &row.case_no, &a.organ, store::status::WITHDRAWN)
            .await
            .map_err(|e| HandlerError::Retry(anyhow!(e)))?;
        let ev = dept_event(
            conn,
            &a.organ,
            kind::WITHDRAWN,
            &row.case_no,
            now,
            &DeptWithdrawn {
                case_no: row.case_no.clone(),
                reason: "该信访事项已改由有权机关办理，请勿再处理并妥善处置已收材料。".into(),
                at: now,
                addressee: Some(addressee(&ctx.directory.current(), &a.organ)),
                // No longer the unit's: nothing binds it, nothing is left for it to do.
                deadlines: Default::default(),
                actions: Vec::new(),
            },
        )
        .await
        .map_err(HandlerError::Retry)?;
        let note = format!(
            "access withdrawn; since {} it had {} and {}",
            a.assigned_at.to_rfc3339(),
            if had_identity {
                "the petitioner's identity"
            } else {
                "no identity"
            },
            if had_identity {
                "the full text"
            } else {
                "the masked text"
            },
        );
        store::log_action(
            conn,
            &ActionLog {
                case_no: &row.case_no,
                organ: &a.organ,
                action: "access_withdrawn",
                request_id: None,
                done: true,
                rule: Some("Art 30 para 3"),
                event_id: Some(ev.id),
                note: Some(&note),
            },
        )
        .await
        .map_err(|e| HandlerError::Retry(anyhow!(e)))?;
        withdrawn.push(WithdrawnAccess {
            county: a.organ.county.clone(),
            department: a.organ.dept.clone(),
            since: a.assigned_at,
            had_identity,
            had_full_text: had_identity,
        });
    }
    row.lifecycle = case;
    row.lead = None;
    row.mode = None;
    // A transfer the first unit asked for is moot once the case is taken back.
    store::withdraw_pending_transfer(conn, &row.case_no, "the case was re-routed", now)
        .await
        .map_err(|e| HandlerError::Retry(anyhow!(e)))?;
    tracing::info!(case_no = %row.case_no, units = withdrawn.len(), "case taken back for re-routing");
    case_event(
        conn,
        &row.home_county,
        kind::REROUTED,
        &row.case_no,
        now,
        &Rerouted {
            case_no: row.case_no.clone(),
            withdrawn,
            reason: reason.to_owned(),
            at: now,
        },
    )
    .await
    .map_err(HandlerError::Retry)?;
    route(conn, ctx, row, at).await
}

/// Sets type and branch (the branch only for 申诉求决类, Art 31).
fn classify(
    case: &lifecycle::Case,
    petition_type: PetitionType,
    branch: Option<xinfang_domain::petition::Art31Branch>,
    ctx: &Ctx,
) -> Result<lifecycle::Case, HandlerError> {
    let branch = branch.filter(|_| petition_type == PetitionType::Grievance);
    apply_with(
        case,
        &Command::Classify {
            petition_type,
            branch,
        },
        &ctx.policy().get(),
    )
    .map(|t| t.case)
    .map_err(|e| HandlerError::Reject(anyhow!(e)))
}

/// Decides and applies. A case that cannot be routed (unknown department, county not served)
/// is kept, held with the reason, for a clerk to reclassify; it is not dead-lettered.
async fn route(
    conn: &mut PgConnection,
    ctx: &Ctx,
    row: &mut CaseRow,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), HandlerError> {
    let now = chrono::Utc::now().max(at);
    loop {
        let decision = match decide(&row.facts, &ctx.directory.current(), &ctx.routing) {
            Ok(d) => d,
            Err(e) => return hold(conn, row, e.to_string()).await,
        };
        match apply_decision(conn, ctx, row, &decision, now).await {
            Ok(events) => {
                metrics::counter!("xf_routing_decisions_total", "decision" => decision_name(&decision))
                    .increment(1);
                tracing::info!(case_no = %row.case_no, decision = decision_name(&decision), events = events.len(), "case routed");
                return Ok(());
            }
            Err(ApplyError::Unserved(county)) => {
                return hold(conn, row, ApplyError::Unserved(county).to_string()).await;
            }
            // The lifecycle refused nothing yet (it checks before any change): decide again
            // with the link `related`, which cannot be refused a second time.
            Err(ApplyError::Lifecycle(LifecycleError::EarlierMatterOutOfTime { earlier_due })) => {
                if !lapse_refusal(conn, ctx, row, earlier_due).await? {
                    return Err(apply_err(ApplyError::Lifecycle(
                        LifecycleError::EarlierMatterOutOfTime { earlier_due },
                    )));
                }
            }
            Err(e) => return Err(apply_err(e)),
        }
    }
}

async fn hold(
    conn: &mut PgConnection,
    row: &mut CaseRow,
    reason: String,
) -> Result<(), HandlerError> {
    tracing::warn!(case_no = %row.case_no, reason = %reason, "case held: cannot be routed");
    metrics::counter!("xf_routing_decisions_total", "decision" => "unroutable").increment(1);
    row.held_reason = Some(reason);
    store::save_case(conn, row, None)
        .await
        .map_err(HandlerError::Retry)
}

pub fn decision_name(d: &xinfang_domain::routing::Decision) -> &'static str {
    use xinfang_domain::routing::Decision::*;
    match d {
        Route(_) => "route",
        PoliticalLegal { .. } => "political_legal",
        Divert(_) => "divert",
        Refuse(_) => "refuse",
        Hold { .. } => "hold",
    }
}
