//! When the holiday calendar grows (an operator adds next year's 国务院办公厅 arrangement and
//! reloads: SIGHUP, `POST /v1/calendar/reload`), the open deadlines that were computed past its
//! old end are provisional (Monday–Friday was assumed for the missing year). They are computed
//! again from their own facts (trigger, extension, hearings, type and branch) with the new
//! calendar: moved if the due time changed (the warning may come again), and no longer marked
//! provisional once the calendar covers what they depend on. Runs at start (the file may have
//! grown while the service was down) and after every reload.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::deadline::{
    Adjustments, CST, DeadlineKind, compute, compute_handling, compute_remand, evaluation_window,
};
use xinfang_domain::deadline_plan::{REMAND_REF, Tracked};

use crate::handlers::Rules;
use crate::projection;
use crate::store::{self, DeadlineRow};
use xinfang_platform::outbox::Batch;

/// Rows examined per transaction.
const BATCH: i64 = 500;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Settled {
    /// Provisional open deadlines looked at.
    pub examined: u64,
    /// Whose due time moved.
    pub moved: u64,
    /// No longer provisional.
    pub settled: u64,
}

/// The due time of an open row recomputed with `calendar`: kind code, due, provisional.
/// `None` when the row is not a calendar-computed clock (a 督办 response) or is paused (its
/// hearing's end recomputes it).
async fn recompute(
    conn: &mut sqlx::PgConnection,
    rules: &Rules,
    calendar: &Calendar,
    row: &DeadlineRow,
) -> anyhow::Result<Option<(String, DateTime<Utc>, bool)>> {
    if row.state != "pending" {
        return Ok(None);
    }
    let trigger = row.trigger_at.with_timezone(&CST);
    let deadlines = &rules.deadlines;
    let due = match row.kind.parse::<Tracked>() {
        // The period after a 复查/复核 sent the matter back (not extended).
        Ok(Tracked::Statutory(DeadlineKind::D5)) if row.reference == REMAND_REF => {
            let d = compute_remand(trigger, calendar, deadlines)?;
            d.due
                .map(|at| (d.kind.code().to_owned(), at, d.is_provisional()))
        }
        Ok(Tracked::Statutory(DeadlineKind::D5 | DeadlineKind::D6)) => {
            let (t, b) = projection::type_and_branch(conn, &row.case_no).await?;
            let adj = Adjustments {
                extension_days: row.extension_days.and_then(|d| u32::try_from(d).ok()),
                ..Adjustments::default()
            };
            let d = compute_handling(trigger, t, b, calendar, deadlines, &adj)?;
            d.due
                .map(|at| (d.kind.code().to_owned(), at, d.is_provisional()))
        }
        Ok(Tracked::Statutory(DeadlineKind::D10)) => {
            let pauses: Vec<(DateTime<Utc>, DateTime<Utc>)> =
                serde_json::from_value(row.pauses.clone())?;
            let adj = Adjustments {
                paused: pauses
                    .iter()
                    .map(|(a, b)| (a.with_timezone(&CST), b.with_timezone(&CST)))
                    .collect(),
                ..Adjustments::default()
            };
            let d = compute(DeadlineKind::D10, trigger, calendar, deadlines, &adj)?;
            d.due.map(|at| (row.kind.clone(), at, d.is_provisional()))
        }
        Ok(Tracked::Statutory(k)) => {
            let d = compute(k, trigger, calendar, deadlines, &Adjustments::default())?;
            d.due.map(|at| (row.kind.clone(), at, d.is_provisional()))
        }
        Ok(Tracked::Evaluation) => {
            let w = evaluation_window(trigger, calendar, deadlines)?;
            Some((row.kind.clone(), w.closes, !w.calendar_complete))
        }
        // Set by hand (a 督办's respond-by, a conference task's due time): no calendar.
        Ok(Tracked::SupervisionResponse | Tracked::ConferenceTask) | Err(_) => None,
    };
    Ok(due.map(|(kind, at, provisional)| (kind, at.with_timezone(&Utc), provisional)))
}

/// One pass over every provisional open deadline with the calendar as it stands now.
pub async fn settle(pool: &PgPool, rules: &Rules) -> anyhow::Result<Settled> {
    let calendar = rules.calendar.current();
    let mut out = Settled::default();
    let mut after: Option<Uuid> = None;
    loop {
        let mut tx = pool.begin().await?;
        let rows = store::provisional_open(&mut tx, BATCH, after).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = Some(last.id);
        let mut changed = false;
        let mut events = Batch::default();
        for row in &rows {
            out.examined += 1;
            let Some((kind, due_at, provisional)) =
                recompute(&mut tx, rules, &calendar, row).await?
            else {
                continue;
            };
            if due_at != row.due_at || kind != row.kind {
                let tracked = kind.parse::<Tracked>().ok();
                let warn = tracked.and_then(|t| rules.warn_at(t, row.trigger_at, due_at));
                store::reschedule(
                    &mut tx,
                    &mut events,
                    row.id,
                    &kind,
                    due_at,
                    warn,
                    row.extension_days,
                    provisional,
                )
                .await?;
                projection::set_due(&mut tx, &row.case_no, &kind, Some(due_at)).await?;
                out.moved += 1;
                changed = true;
            } else if provisional != row.provisional {
                store::set_provisional(&mut tx, &mut events, row.id, provisional).await?;
            }
            if !provisional {
                out.settled += 1;
            }
        }
        events.write(&mut tx).await?;
        if changed {
            store::wake_indexer(&mut tx).await?;
        }
        tx.commit().await?;
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    metrics::counter!("xf_deadlines_recomputed_total").increment(out.moved);
    metrics::counter!("xf_deadlines_settled_total").increment(out.settled);
    Ok(out)
}

/// Settles at start and after every calendar reload, until shutdown.
pub async fn run(pool: PgPool, rules: Arc<Rules>, shutdown: CancellationToken) {
    let mut changes = rules.calendar.subscribe();
    loop {
        match settle(&pool, &rules).await {
            Ok(s) if s.examined > 0 => tracing::info!(
                examined = s.examined,
                moved = s.moved,
                settled = s.settled,
                "provisional deadlines recomputed with the holiday calendar"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "provisional deadlines not recomputed; retrying at the next reload or restart")
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = shutdown.cancelled() => return,
        }
    }
}
