//! The earlier 督办 of listed matters (清单事项提前督办): a listed matter's duty clock is escalated
//! `supervision.listed.escalate_days_before_due` days before it falls due, not when it is
//! missed. A sweep rather than timers: listed matters are few, and the partial index on
//! `cases (county, source) where listed` keeps the query small.
//!
//! Exactly once: the 督办's id is derived from the clock and its due time, and records are
//! written `on conflict do nothing`; a moved due time gets a new 督办.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_platform::outbox::Batch;

use crate::clock::Clock;
use crate::handlers::Rules;
use crate::ids::deterministic_v7;
use crate::store::DeadlineRow;
use crate::supervise::{self, NewSupervision};

/// Runs [`sweep`] every `sweep_interval_secs` until shutdown.
pub async fn run(
    pool: PgPool,
    rules: std::sync::Arc<Rules>,
    clock: Clock,
    counties: Vec<CountyCode>,
    shutdown: CancellationToken,
) {
    let every = Duration::from_secs(rules.settings.listed.sweep_interval_secs);
    loop {
        if rules.settings.listed.escalate_days_before_due > 0 {
            match sweep(&pool, &rules, clock.now(), &counties).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(escalations = n, "listed matters escalated early"),
                Err(e) => tracing::warn!(error = %e, "listed matters' early 督办 failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Raises the earlier 督办 on every open duty clock of a listed matter due within the reach;
/// returns how many records were written.
pub async fn sweep(
    pool: &PgPool,
    rules: &Rules,
    now: DateTime<Utc>,
    counties: &[CountyCode],
) -> anyhow::Result<usize> {
    let reach = TimeDelta::days(i64::from(rules.settings.listed.escalate_days_before_due));
    let counties: Vec<&str> = counties.iter().map(CountyCode::as_str).collect();
    let mut tx = pool.begin().await?;
    let rows: Vec<DeadlineRow> = sqlx::query_as(
        "select d.id, d.case_no, d.county, d.department, d.kind, d.ref, d.trigger_at, d.due_at,
                d.warn_at, d.state, d.warned_at, d.fired_at, d.closed_at, d.close_reason,
                d.paused_at, d.pauses, d.extension_days, d.generation, d.provisional, d.trace
         from cases c join deadlines d on d.case_no = c.case_no
         where c.listed and c.county = any($1)
           and d.state = 'pending' and d.due_at <= $2 and d.due_at > $3
         order by d.due_at
         limit 500
         for update of d skip locked",
    )
    .bind(&counties)
    .bind(now + reach)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let items: Vec<NewSupervision> = rows
        .iter()
        .filter_map(|row| early(row, rules, now))
        .collect();
    let mut events = Batch::default();
    let written = supervise::record(&mut tx, &items, rules, &mut events).await?;
    events.write(&mut tx).await?;
    tx.commit().await?;
    metrics::counter!("xf_supervision_listed_escalations_total").increment(written as u64);
    Ok(written)
}

/// The earlier 督办 for one clock, if its kind escalates.
fn early(row: &DeadlineRow, rules: &Rules, now: DateTime<Utc>) -> Option<NewSupervision> {
    let s = &rules.settings;
    let due_ms = row.due_at.timestamp_millis();
    supervise::escalation_of(
        row,
        rules,
        // From the clock and its due time only: every sweep derives the same id.
        deterministic_v7(
            due_ms,
            &[row.id.as_bytes(), b"listed-early", &due_ms.to_be_bytes()],
        ),
        "清单事项提前督办",
        // Answer by the clock's own due time at the latest.
        row.due_at
            .min(now + TimeDelta::days(i64::from(s.escalation_response_days)))
            .max(now + TimeDelta::hours(1)),
        now,
        None,
    )
}
