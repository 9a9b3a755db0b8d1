//! The `case` consumer: `case.registered` and `case.reclassified` are routed; every other
//! case event (including routing's own) is acknowledged and ignored.

use std::future::Future;
use std::sync::Arc;

use anyhow::anyhow;
use sqlx::PgConnection;
use xinfang_domain::events::{Reclassified, Registered, kind};
use xinfang_domain::lifecycle::{self, CaseState, Command, apply_with};
use xinfang_domain::petition::PetitionType;
use xinfang_domain::routing::{RoutingFacts, decide};
use xinfang_platform::consumer::{Handler, HandlerError, Incoming};

use crate::apply::{ApplyError, apply_decision};
use crate::context::{Ctx, cst};
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
        &ctx.policy(),
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
    row.facts = row.facts.reclassified(&r);
    row.lifecycle = classify(&row.lifecycle, r.petition_type, r.branch, ctx)?;
    row.lifecycle.confidential |= row.facts.is_confidential();
    if row.lifecycle.state == CaseState::Registered {
        return route(conn, ctx, &mut row, at).await;
    }
    // Already routed: the classification is recorded; re-routing goes through an objection.
    store::save_case(conn, &row, None)
        .await
        .map_err(HandlerError::Retry)?;
    let bureau = xinfang_domain::directory::OrganRef::new(
        row.home_county.clone(),
        ctx.directory.roles.petition_bureau.clone(),
    );
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
        &ctx.policy(),
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
    let decision = match decide(&row.facts, &ctx.directory, &ctx.routing) {
        Ok(d) => d,
        Err(e) => return hold(conn, row, e.to_string()).await,
    };
    match apply_decision(conn, ctx, row, &decision, now).await {
        Ok(events) => {
            metrics::counter!("xf_routing_decisions_total", "decision" => decision_name(&decision))
                .increment(1);
            tracing::info!(case_no = %row.case_no, decision = decision_name(&decision), events = events.len(), "case routed");
            Ok(())
        }
        Err(ApplyError::Unserved(county)) => {
            hold(conn, row, ApplyError::Unserved(county).to_string()).await
        }
        Err(e) => Err(apply_err(e)),
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
