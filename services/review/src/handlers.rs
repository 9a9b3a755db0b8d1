//! Consumers.
//!
//! - `case` (`xf.<county>.case.>`): the review projection — each case's petitioner key, query
//!   code, type and branch, handling department, and the served reply (outcome, handling
//!   opinion or not, served date).
//! - `review` (`xf.<county>.review.>`): appeals addressed to this deployment's organs (the
//!   upper level records requests published on its subjects) and copies of appeals of its own
//!   cases decided elsewhere. A 复核 decision upholding the opinion on a case this deployment
//!   holds terminates it: the 终结库 entry and `case.terminated` on the case's county subjects,
//!   in one transaction. A 复查 or 复核 decision revoking or changing it sends the case back
//!   for a new opinion instead (`case.remanded`, issue #20).

use std::future::Future;
use std::sync::Arc;

use anyhow::anyhow;
use sqlx::PgConnection;
use xinfang_domain::appeal::{AfterDecision, ReviewOutcome, after_decision};
use xinfang_domain::classify::similarity::{FINGERPRINT_VERSION, fingerprint};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{
    Accepted, Assigned, Reclassified, Registered, Remanded, Replied, ReviewEvent, ReviewLevel,
    Terminated, Transferred, kind,
};
use xinfang_platform::consumer::{Handler, HandlerError, Incoming};

use crate::context::Ctx;
use crate::store;

fn payload<T: serde::de::DeserializeOwned>(env: &Envelope) -> Result<T, HandlerError> {
    env.data_as()
        .map_err(|e| HandlerError::Reject(anyhow!("{} payload: {e}", env.kind)))
}

fn retry(e: impl Into<anyhow::Error>) -> HandlerError {
    HandlerError::Retry(e.into())
}

/// Little-endian bytes of a fingerprint (the layout intake stores too).
pub fn fingerprint_bytes(text: &str) -> Vec<u8> {
    fingerprint(text)
        .as_slice()
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect()
}

/// The `case` family.
pub struct CaseFacts;

impl Handler for CaseFacts {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let env = msg.envelope.clone();
        async move {
            match env.kind.as_str() {
                kind::REGISTERED => {
                    let r: Registered = payload(&env)?;
                    // Segmenting is CPU work; keep it off the async threads.
                    let text = r.text.clone();
                    let fp = tokio::task::spawn_blocking(move || fingerprint_bytes(&text))
                        .await
                        .map_err(retry)?;
                    // The sealed contact goes with the matter to the provincial registry once
                    // terminated; a confidential case's never leaves intake (Art 30 para 3).
                    let contact = r
                        .contact
                        .as_ref()
                        .filter(|_| !r.confidential)
                        .map(|c| c.0.clone());
                    sqlx::query(
                        "insert into cases (case_no, home_county, matter_county, petitioner_key,
                            query_code, petition_type, branch, department, fingerprint,
                            fingerprint_version, registered_at, contact_sealed)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                         on conflict (case_no) do nothing",
                    )
                    .bind(&r.case_no)
                    .bind(env.county.as_str())
                    .bind(r.county.as_str())
                    .bind(&r.petitioner_key)
                    .bind(&r.query_code)
                    .bind(r.petition_type.as_str())
                    .bind(r.branch.map(|b| b.as_str()))
                    .bind(&r.department)
                    .bind(fp)
                    .bind(FINGERPRINT_VERSION as i32)
                    .bind(r.registered_at)
                    .bind(contact)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                }
                kind::RECLASSIFIED => {
                    let r: Reclassified = payload(&env)?;
                    update(
                        conn,
                        &r.case_no,
                        // Reclassified as an accusation: the informant's sealed contact goes.
                        "update cases set petition_type = $2, branch = $3, department = $4,
                            matter_county = $5,
                            contact_sealed = case when $2 = 'accusation' or $6 then null
                                                  else contact_sealed end,
                            updated_at = now() where case_no = $1",
                        |q| {
                            q.bind(r.petition_type.as_str())
                                .bind(r.branch.map(|b| b.as_str()))
                                .bind(r.department.clone())
                                .bind(r.county.as_str().to_owned())
                                .bind(r.accuses_official)
                        },
                    )
                    .await
                }
                kind::ASSIGNED => {
                    let a: Assigned = payload(&env)?;
                    update(
                        conn,
                        &a.case_no,
                        "update cases set petition_type = $2, branch = $3, department = $4,
                            updated_at = now() where case_no = $1",
                        |q| {
                            q.bind(a.petition_type.as_str())
                                .bind(a.branch.map(|b| b.as_str()))
                                .bind(a.department.clone())
                        },
                    )
                    .await
                }
                kind::ACCEPTED => {
                    let a: Accepted = payload(&env)?;
                    update(
                        conn,
                        &a.case_no,
                        "update cases set department = $2, updated_at = now() where case_no = $1",
                        |q| q.bind(a.department.clone()),
                    )
                    .await
                }
                kind::TRANSFERRED => {
                    let t: Transferred = payload(&env)?;
                    update(
                        conn,
                        &t.case_no,
                        "update cases set department = $2, updated_at = now() where case_no = $1",
                        |q| q.bind(t.to.clone()),
                    )
                    .await
                }
                kind::REPLIED => {
                    let r: Replied = payload(&env)?;
                    update(
                        conn,
                        &r.case_no,
                        "update cases set reply_department = $2, reply_outcome = $3,
                            is_handling_opinion = $4, served_on = $5, replied_at = $6,
                            updated_at = now() where case_no = $1",
                        |q| {
                            q.bind(r.department.clone())
                                .bind(r.outcome.map(|o| o.as_str()))
                                .bind(r.is_handling_opinion)
                                .bind(r.served_on)
                                .bind(r.at)
                        },
                    )
                    .await
                }
                // Our own facts (evaluated, terminated, final_without_appeal) and the facts
                // review needs nothing from.
                _ => Ok(()),
            }
        }
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Runs an update of one case; a case not registered yet is retried (its `registered` may
/// still be on its way after a retry of its own).
async fn update(
    conn: &mut PgConnection,
    case_no: &str,
    sql: &'static str,
    bind: impl FnOnce(PgQuery<'_>) -> PgQuery<'_>,
) -> Result<(), HandlerError> {
    let q = bind(sqlx::query(sql).bind(case_no.to_owned()));
    let n = q.execute(&mut *conn).await?.rows_affected();
    if n == 0 {
        return Err(HandlerError::Retry(anyhow!(
            "case {case_no} is not registered here yet"
        )));
    }
    Ok(())
}

/// The `review` family.
pub struct ReviewEvents {
    pub ctx: Arc<Ctx>,
}

impl Handler for ReviewEvents {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let env = msg.envelope.clone();
        async move {
            let known = [
                kind::REVIEW_REQUESTED,
                kind::REVIEW_DECIDED,
                kind::HEARING_STARTED,
                kind::HEARING_FINISHED,
            ];
            if !known.contains(&env.kind.as_str()) {
                return Ok(());
            }
            let r: ReviewEvent = payload(&env)?;
            let round = i32::try_from(r.round)
                .map_err(|_| HandlerError::Reject(anyhow!("round {} out of range", r.round)))?;
            // Learnt from an event: the requester is not known here.
            store::insert_appeal(
                conn,
                &r.case_no,
                round,
                r.level,
                &r.case_county,
                &r.organ,
                r.at,
                "event",
                None,
            )
            .await?;
            match env.kind.as_str() {
                kind::REVIEW_DECIDED => {
                    let outcome = r
                        .decision
                        .as_deref()
                        .and_then(|d| ReviewOutcome::parse(d).ok());
                    store::record_decision(
                        conn,
                        &r.case_no,
                        round,
                        r.level,
                        outcome.map(ReviewOutcome::as_str),
                        None,
                        r.served_on,
                        None,
                        r.at,
                    )
                    .await?;
                    match (after_decision(r.level, outcome), outcome) {
                        (AfterDecision::SendsBack, Some(outcome)) => {
                            remand(conn, &r, round, outcome).await?;
                        }
                        (AfterDecision::Terminates, _) => terminate(conn, &r, round).await?,
                        _ => {}
                    }
                }
                kind::HEARING_STARTED => {
                    store::start_hearing(conn, &r.case_no, round, r.level, r.at, None).await?;
                }
                kind::HEARING_FINISHED => {
                    store::finish_hearing(conn, &r.case_no, round, r.level, r.at, None).await?;
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// After the 复核 decision a case this deployment holds is TERMINATED (Art 36 para 3,
/// Decisions 4): it enters the 终结库 and `case.terminated` goes to its county's subjects.
async fn terminate(
    conn: &mut PgConnection,
    r: &ReviewEvent,
    round: i32,
) -> Result<(), HandlerError> {
    let Some(case) = store::case_by_no(conn, &r.case_no, true).await? else {
        // Another deployment's case: its home deployment terminates it on its copy.
        return Ok(());
    };
    if case.terminated_at.is_some() || case.round != round {
        // Done already, or a decision on an opinion that was sent back since.
        return Ok(());
    }
    let appeals = store::appeals(conn, &r.case_no, false).await?;
    let Some(rereview) = store::current_appeal(Some(&case), &appeals, ReviewLevel::Rereview) else {
        return Err(HandlerError::Retry(anyhow!(
            "复核 of {} decided but not recorded",
            r.case_no
        )));
    };
    let data = Terminated {
        case_no: case.case_no.clone(),
        petitioner_key: case.petitioner_key.clone(),
        at: r.at,
    };
    let subject = xinfang_domain::subject::case_event(&case.home_county, kind::TERMINATED)
        .map_err(|e| HandlerError::Reject(e.into()))?;
    let env = Envelope::new(
        kind::TERMINATED,
        Some(case.case_no.clone()),
        case.home_county.clone(),
        r.at,
        &data,
    )
    .map_err(|e| HandlerError::Reject(e.into()))?;
    if store::insert_termination(conn, &case, rereview, r.at, env.id).await? {
        xinfang_platform::outbox::enqueue(conn, &subject, &env)
            .await
            .map_err(HandlerError::Retry)?;
        metrics::counter!("xf_terminations_total").increment(1);
        tracing::info!(case_no = %case.case_no, "terminated after 复核 (终结库)");
    }
    Ok(())
}

/// A 复查 or 复核 decision that revoked or changed the opinion of a case this deployment holds
/// (issue #20): the case starts its next round, awaiting the handling organ's new opinion, and
/// `case.remanded` goes to its county's subjects — routing takes the matter back to that
/// organ and tells it, supervision starts its new handling period and closes the revoked
/// opinion's windows, the registry shows it. Once per round, whatever copies arrive.
async fn remand(
    conn: &mut PgConnection,
    r: &ReviewEvent,
    round: i32,
    outcome: ReviewOutcome,
) -> Result<(), HandlerError> {
    let Some(case) = store::case_by_no(conn, &r.case_no, true).await? else {
        // Another deployment's case: its home deployment sends it back on its copy.
        return Ok(());
    };
    let department = case
        .reply_department
        .clone()
        .unwrap_or_else(|| case.department.clone());
    if !store::remand(conn, &case.case_no, round, r.level, outcome, r.at).await? {
        // Sent back already (another copy), terminated, or a decision of an earlier round.
        return Ok(());
    }
    let next_round = u32::try_from(round + 1)
        .map_err(|_| HandlerError::Reject(anyhow!("round {round} out of range")))?;
    let data = Remanded {
        case_no: case.case_no.clone(),
        level: r.level,
        organ: r.organ.clone(),
        outcome: outcome.as_str().to_owned(),
        decision_served_on: r.served_on,
        department,
        round: next_round,
        at: r.at,
    };
    let subject = xinfang_domain::subject::case_event(&case.home_county, kind::REMANDED)
        .map_err(|e| HandlerError::Reject(e.into()))?;
    let env = Envelope::new(
        kind::REMANDED,
        Some(case.case_no.clone()),
        case.home_county.clone(),
        r.at,
        &data,
    )
    .map_err(|e| HandlerError::Reject(e.into()))?;
    xinfang_platform::outbox::enqueue(conn, &subject, &env)
        .await
        .map_err(HandlerError::Retry)?;
    metrics::counter!("xf_remands_total", "level" => xinfang_domain::appeal::level_str(r.level))
        .increment(1);
    tracing::info!(case_no = %case.case_no, level = xinfang_domain::appeal::level_str(r.level), outcome = outcome.as_str(), round = next_round, "opinion sent back to the handling organ");
    Ok(())
}
