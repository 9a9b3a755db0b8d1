//! The timer loop: claim due entries from the Redis index (atomically, with a lease), check
//! each against its Postgres row, and in ONE transaction per batch mark what fired and write
//! the events to the outbox. Then end the leases.
//!
//! Exactly once: the claim script hands an entry to one claimer; if a lease expires mid-fire
//! and a second claimer takes it, the row lock (`for update skip locked`) and the state check
//! (`pending`, not yet warned) stop it; and the event ids are derived from the deadline, the
//! phase and the due time, so even a repeated publish is dropped by JetStream and the inbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline_plan::Tracked;
use xinfang_domain::dept_notice::{addressee, organ_bound};
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{DeadlineFired, DeptDeadlineFired, kind};
use xinfang_domain::subject;

use crate::clock::Clock;
use crate::handlers::Rules;
use crate::ids::{deterministic_v7, firing_event_id};
use crate::store::{self, DeadlineRow};
use crate::supervise::{self, NewSupervision};
use crate::timers::TimerIndex;
use xinfang_platform::outbox::Batch;

/// What this instance's timer loop has done (tests and the benchmark count with it).
#[derive(Debug, Default)]
pub struct FireStats {
    pub warnings: AtomicU64,
    pub overdue: AtomicU64,
    pub escalations: AtomicU64,
    /// Claimed entries that needed nothing (moved, cancelled, already fired elsewhere).
    pub stale: AtomicU64,
    pub failed_batches: AtomicU64,
    /// Clock time (ms) of the latest commit that fired something overdue.
    pub last_fire_ms: std::sync::atomic::AtomicI64,
    /// When set (the benchmark), the lag of every overdue firing in ms: commit time − due time.
    pub lags: Option<std::sync::Mutex<Vec<i64>>>,
}

impl FireStats {
    pub fn overdue(&self) -> u64 {
        self.overdue.load(Ordering::Relaxed)
    }
    pub fn warnings(&self) -> u64 {
        self.warnings.load(Ordering::Relaxed)
    }

    /// Stats that also record firing lags.
    pub fn recording_lags() -> Self {
        Self {
            lags: Some(std::sync::Mutex::new(Vec::new())),
            ..Self::default()
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    pub pool: PgPool,
    pub index: TimerIndex,
    pub rules: Arc<Rules>,
    pub clock: Clock,
    pub counties: Vec<CountyCode>,
    pub stats: Arc<FireStats>,
    /// Wakes the loop early (a reconcile refilled the index, a test moved the clock).
    pub wake: Arc<Notify>,
}

/// The result of one batch, applied to Redis after the commit.
#[derive(Debug, Default)]
struct Outcome {
    done: Vec<String>,
    rearm: Vec<(String, i64)>,
    warnings: u64,
    overdue: u64,
    escalations: u64,
    stale: u64,
    /// Due times (ms) of what fired overdue, for lag recording.
    fired_due_ms: Vec<i64>,
}

impl Engine {
    /// Runs until `shutdown`: each county in turn, straight on while batches come back full,
    /// otherwise a short sleep (or an early wake).
    pub async fn run(self, shutdown: CancellationToken) {
        let idle = Duration::from_millis(self.rules.settings.poll_interval_ms);
        let mut failures = 0u32;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let mut busy = false;
            let mut failed = false;
            for county in &self.counties {
                match self.tick(county).await {
                    Ok(n) => busy |= n >= self.rules.settings.claim_batch,
                    Err(e) => {
                        failed = true;
                        tracing::warn!(%county, error = %e, "timer batch failed");
                    }
                }
            }
            let pause = if failed {
                failures += 1;
                Duration::from_millis(100 * 2u64.pow(failures.min(6)))
            } else {
                failures = 0;
                if busy {
                    continue;
                }
                idle
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::info!("timer loop stopped");
    }

    /// Claims and handles one batch of due entries of `county`; returns how many were claimed.
    pub async fn tick(&self, county: &CountyCode) -> anyhow::Result<usize> {
        let s = &self.rules.settings;
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let lease_ms = i64::try_from(s.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4);
        let claimed = self
            .index
            .claim(county, now_ms, lease_ms, s.claim_batch)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        let mut ids = Vec::with_capacity(n);
        let mut bad = Vec::new();
        for (member, _) in &claimed {
            match Uuid::parse_str(member) {
                Ok(id) => ids.push(id),
                Err(_) => bad.push(member.clone()),
            }
        }
        match self.fire(county, &ids, now).await {
            Ok(mut out) => {
                // Committed: count first, then end the leases.
                let committed = self.clock.now_ms();
                if out.overdue > 0 {
                    self.stats
                        .last_fire_ms
                        .fetch_max(committed, Ordering::Relaxed);
                }
                if let Some(lags) = &self.stats.lags
                    && let Ok(mut l) = lags.lock()
                {
                    l.extend(out.fired_due_ms.iter().map(|d| committed - d));
                }
                out.done.extend(bad);
                self.stats
                    .warnings
                    .fetch_add(out.warnings, Ordering::Relaxed);
                self.stats.overdue.fetch_add(out.overdue, Ordering::Relaxed);
                self.stats
                    .escalations
                    .fetch_add(out.escalations, Ordering::Relaxed);
                self.stats.stale.fetch_add(out.stale, Ordering::Relaxed);
                metrics::counter!("xf_deadline_warnings_total").increment(out.warnings);
                metrics::counter!("xf_deadline_overdue_total").increment(out.overdue);
                metrics::counter!("xf_supervision_escalations_total").increment(out.escalations);
                self.index.settle(county, &out.done, &out.rearm).await?;
                Ok(n)
            }
            Err(e) => {
                // Nothing committed: put the batch back a little later (the leases would
                // return it anyway after they expire).
                self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                let retry: Vec<(String, i64)> = claimed
                    .into_iter()
                    .map(|(m, _)| (m, now_ms + 1000))
                    .collect();
                if let Err(re) = self.index.settle(county, &bad, &retry).await {
                    tracing::warn!(%county, error = %re, "could not return claimed timers; leases will");
                }
                Err(e)
            }
        }
    }

    async fn fire(
        &self,
        county: &CountyCode,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Outcome> {
        let mut out = Outcome::default();
        let now_ms = now.timestamp_millis();
        let mut tx = self.pool.begin().await?;
        let rows: Vec<DeadlineRow> = sqlx::query_as(
            "select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                    warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                    provisional, trace
             from deadlines where id = any($1) order by id for update skip locked",
        )
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        let found: HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
        let missing: Vec<Uuid> = ids.iter().filter(|i| !found.contains(i)).copied().collect();
        if !missing.is_empty() {
            // Present but locked (a handler or another claimer holds it): try again shortly.
            // Absent: a stale entry, dropped.
            let locked: HashSet<Uuid> =
                sqlx::query_scalar::<_, Uuid>("select id from deadlines where id = any($1)")
                    .bind(&missing)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
            for id in missing {
                if locked.contains(&id) {
                    out.rearm.push((id.to_string(), now_ms + 500));
                } else {
                    out.done.push(id.to_string());
                    out.stale += 1;
                }
            }
        }
        let mut events = Batch::default();
        let mut fired = Vec::new();
        let mut warned = Vec::new();
        let mut escalations = Vec::new();
        // What fires, and in which phase; the events are written once the rows are marked, so
        // that each department message lists the organ's clocks as they now stand.
        let mut firing: Vec<(&DeadlineRow, &str)> = Vec::new();
        for row in &rows {
            if row.state != "pending" {
                out.done.push(row.id.to_string());
                out.stale += 1;
                continue;
            }
            let due_ms = row.due_at.timestamp_millis();
            if now >= row.due_at {
                firing.push((row, kind::OVERDUE));
                if let Some(s) = self.escalation(row, now) {
                    escalations.push(s);
                }
                fired.push(row.id);
                out.fired_due_ms.push(due_ms);
                out.done.push(row.id.to_string());
                out.overdue += 1;
            } else if row
                .warn_at
                .is_some_and(|w| row.warned_at.is_none() && now >= w)
            {
                firing.push((row, kind::WARNING));
                warned.push(row.id);
                out.rearm.push((row.id.to_string(), due_ms));
                out.warnings += 1;
            } else {
                // Not due yet (moved since it was indexed): back at its time.
                let next = match row.warn_at {
                    Some(w) if row.warned_at.is_none() && w < row.due_at => w,
                    _ => row.due_at,
                };
                out.rearm
                    .push((row.id.to_string(), next.timestamp_millis()));
                out.stale += 1;
            }
        }
        if !fired.is_empty() {
            sqlx::query(
                "update deadlines set state = 'fired', fired_at = $2, indexed = true, updated_at = now()
                 where id = any($1)",
            )
            .bind(&fired)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if !warned.is_empty() {
            sqlx::query(
                "update deadlines set warned_at = $2, updated_at = now() where id = any($1)",
            )
            .bind(&warned)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // The owed clocks of the cases whose organs hear of a firing, in one query.
        let mut cases: Vec<String> = firing
            .iter()
            .filter(|(row, phase)| dept_copy(row, phase).is_some())
            .map(|(row, _)| row.case_no.clone())
            .collect();
        cases.sort();
        cases.dedup();
        let owed = store::owed_for_cases(&mut tx, &cases).await?;
        let directory = self.rules.directory.current();
        for (row, phase) in &firing {
            self.events(row, phase, now, &owed, &directory, &mut events)?;
        }
        out.escalations =
            supervise::record(&mut tx, &escalations, &self.rules, &mut events).await? as u64;
        events.write(&mut tx).await?;
        tx.commit().await?;
        if out.overdue + out.warnings > 0 {
            tracing::debug!(%county, overdue = out.overdue, warnings = out.warnings, "timers fired");
        }
        Ok(out)
    }

    /// `xf.<county>.deadline.<phase>` and, where the department is concerned,
    /// `xf.<county>.dept.<dept>.<phase>` naming the organ, its owed clocks on the case (from
    /// `owed`) and what it may do ([`DeptDeadlineFired`]).
    fn events(
        &self,
        row: &DeadlineRow,
        phase: &str,
        now: DateTime<Utc>,
        owed: &[DeadlineRow],
        directory: &Directory,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let Ok(county) = CountyCode::parse(&row.county) else {
            // Cannot happen for rows this service wrote; never let one row block the batch.
            tracing::warn!(deadline = %row.id, "deadline has an invalid county; no event");
            return Ok(());
        };
        let due_ms = row.due_at.timestamp_millis();
        let payload = DeadlineFired {
            case_no: row.case_no.clone(),
            deadline: row.kind.clone(),
            department: row.department.clone(),
            due: row.due_at,
            at: now,
            provisional: row.provisional,
            reference: row.reference.clone(),
        };
        let env = Envelope::with_id(
            firing_event_id(row.id, phase, due_ms, "deadline"),
            phase,
            Some(row.case_no.clone()),
            county.clone(),
            now,
            &payload,
        )?;
        batch.push_traced(
            &subject::deadline_event(&county, phase)?,
            &env,
            Some(&row.trace),
        )?;
        // A review organ (`411200:gov`) hears on its own department subjects (D8, D10).
        let Some(organ) = dept_copy(row, phase) else {
            return Ok(());
        };
        let n = store::organ_notice(
            owed,
            &row.case_no,
            &organ,
            Some((&row.kind, &row.reference)),
        );
        let data = DeptDeadlineFired {
            fired: payload,
            addressee: addressee(directory, &organ),
            deadlines: n.deadlines,
            actions: n.actions,
            action_routes: n.action_routes,
        };
        let env = Envelope::with_id(
            firing_event_id(row.id, phase, due_ms, "dept"),
            phase,
            Some(row.case_no.clone()),
            county.clone(),
            now,
            &data,
        )?;
        batch.push_traced(
            &subject::dept_event(&organ.county, &organ.dept, phase)?,
            &env,
            Some(&row.trace),
        )?;
        Ok(())
    }

    /// The 督办 raised when a duty deadline passes (not for windows, nor for a 督办's own
    /// response deadline).
    fn escalation(&self, row: &DeadlineRow, now: DateTime<Utc>) -> Option<NewSupervision> {
        let s = &self.rules.settings;
        let due_ms = row.due_at.timestamp_millis();
        supervise::escalation_of(
            row,
            &self.rules,
            deterministic_v7(
                due_ms,
                &[row.id.as_bytes(), b"escalation", &due_ms.to_be_bytes()],
            ),
            "逾期督办",
            now + TimeDelta::days(i64::from(s.escalation_response_days)),
            now,
            Some(row.id),
        )
    }
}

/// The organ that gets its own copy of a firing (`xf.<county>.dept.<dept>.<phase>`): the one
/// the clock binds, when its kind tells the department in this phase and the organ has a
/// subject of its own in the clock's county.
fn dept_copy(row: &DeadlineRow, phase: &str) -> Option<OrganRef> {
    let tracked = row.kind.parse::<Tracked>().ok()?;
    if !tracked.tells_department(phase == kind::OVERDUE) {
        return None;
    }
    let county = CountyCode::parse(&row.county).ok()?;
    organ_bound(&county, row.department.as_deref()?, &row.kind)
}
