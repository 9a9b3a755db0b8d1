//! Consumers of `xf.<county>.case.>` and `xf.<county>.review.>`: each fact becomes deadline
//! changes (see [`xinfang_domain::deadline_plan`]) and a projection update, in the consumer's
//! batch transaction. Redis is brought in line by the indexer after the commit.

use std::sync::Arc;

use tracing::Instrument;

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_domain::deadline::{
    Adjustments, CST, DeadlineKind, DeadlineRules, compute, compute_handling, compute_remand,
    evaluation_window, warning_time,
};
use xinfang_domain::deadline_plan::{
    Family, REMAND_REF, Responsible, Start, Step, Tracked, plan, review_steps_for, start_of_day,
};
use xinfang_domain::deadline_state::{announced_to_organ, state};
use xinfang_domain::events::{DeadlineStatus, ReviewEvent, kind};
use xinfang_platform::calendar::CalendarHandle;
use xinfang_platform::consumer::{Handler, HandlerError, Incoming};
use xinfang_platform::directory::DirectoryHandle;

use crate::marks::{self, EVERY_KIND, Mark};
use crate::projection;
use crate::settings::SupervisionSettings;
use crate::store::{self, NewDeadline};
use crate::writes::Writes;

/// What handlers and the fire loop share: settings, the deadline rules, the calendar and the
/// department directory.
pub struct Rules {
    pub settings: SupervisionSettings,
    /// The deployment's one `[deadlines]` section.
    pub deadlines: DeadlineRules,
    /// The process's holiday calendar; each computation takes the version current then.
    pub calendar: Arc<CalendarHandle>,
    /// The process's department directory (reloadable): names the organ each department
    /// message is for.
    pub directory: Arc<DirectoryHandle>,
    /// Where matters come from (`[[case_sources]]`): names listed matters' sources.
    pub sources: xinfang_domain::case_source::CaseSources,
}

impl Rules {
    /// When to warn for a clock due at `due` that started at `trigger`; `None` for no warning
    /// (warnings off for the kind, or no time left between trigger and due).
    pub fn warn_at(
        &self,
        tracked: Tracked,
        trigger: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let lead = self.settings.warning_lead(tracked)?;
        let at = warning_time(due.fixed_offset(), lead)
            .with_timezone(&Utc)
            .max(trigger);
        (at < due).then_some(at)
    }
}

pub struct DeadlineHandler {
    pub family: Family,
    pub rules: Arc<Rules>,
}

fn reject(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Reject(anyhow::anyhow!("{e}"))
}

fn utc(at: DateTime<FixedOffset>) -> DateTime<Utc> {
    at.with_timezone(&Utc)
}

/// The case a fact is about: the payload's case number, else the envelope's.
fn case_no_of(env: &xinfang_domain::envelope::Envelope) -> Option<String> {
    env.data
        .get("case_no")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| env.case_id.clone())
}

impl Handler for DeadlineHandler {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> Result<(), HandlerError> {
        let mut writes = Writes::default();
        self.apply(conn, msg, true, &mut writes).await?;
        writes.write(conn).await.map_err(HandlerError::Retry)
    }

    /// The batch's cases are locked first, in one order: two instances' batches holding the
    /// same cases then never wait for each other in a circle. New clocks, their events, due
    /// columns and marks are written together at the end ([`Writes`]).
    async fn handle_all(
        &self,
        conn: &mut PgConnection,
        msgs: &[(Incoming<'_>, tracing::Span)],
    ) -> Result<(), HandlerError> {
        let mut cases: Vec<String> = msgs
            .iter()
            .filter_map(|(m, _)| case_no_of(m.envelope))
            .collect();
        cases.sort_unstable();
        cases.dedup();
        store::lock_cases(conn, &cases).await?;
        let mut writes = Writes::default();
        writes.learn_present(conn, &cases).await?;
        for (msg, span) in msgs {
            self.apply(conn, msg, false, &mut writes)
                .instrument(span.clone())
                .await?;
        }
        writes.write(conn).await.map_err(HandlerError::Retry)
    }
}

impl DeadlineHandler {
    /// `lock`: take the case's lock (a batch tried whole has taken all of them already).
    async fn apply(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
        lock: bool,
        w: &mut Writes,
    ) -> Result<(), HandlerError> {
        let env = msg.envelope;
        let mut steps = plan(self.family, &env.kind, &env.data).map_err(reject)?;
        if self.family == Family::Review
            && let Ok(review) = env.data_as::<ReviewEvent>()
        {
            steps = review_steps_for(&env.county, &review, steps);
        }
        let Some(case_no) = case_no_of(env) else {
            if steps.is_empty() {
                return Ok(());
            }
            return Err(reject(format!("{} event carries no case number", env.kind)));
        };
        if lock {
            store::lock_cases(conn, std::slice::from_ref(&case_no)).await?;
        }
        if projection::record(conn, self.family, env, &case_no).await? {
            w.has_row(&case_no);
        }
        if env.kind == xinfang_domain::events::kind::REGISTERED && self.family == Family::Case {
            crate::listed::store::on_registered(conn, env, &self.rules)
                .await
                .map_err(HandlerError::Retry)?;
        }
        // The fact's own time (`case.assigned` names it `assigned_at`, `case.registered`
        // `registered_at`): whether a clock was met in time is judged by it, and facts that
        // arrive out of their order are put back in it by it.
        let at = env
            .data
            .get("at")
            .or_else(|| env.data.get("assigned_at"))
            .or_else(|| env.data.get("registered_at"))
            .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
            .unwrap_or(env.at);
        let mut changed = false;
        for step in steps {
            changed |= self
                .step(conn, w, &case_no, env.county.as_str(), at, step)
                .await?;
        }
        if changed {
            w.wake();
        }
        Ok(())
    }

    async fn step(
        &self,
        conn: &mut PgConnection,
        w: &mut Writes,
        case_no: &str,
        county: &str,
        at: DateTime<Utc>,
        step: Step,
    ) -> Result<bool, HandlerError> {
        match step {
            Step::Start(s) => self.start(conn, w, case_no, county, at, s, false).await,
            Step::StartRemand(s) => self.start(conn, w, case_no, county, at, s, true).await,
            Step::Close { tracked, reason } => {
                let codes: Vec<String> = tracked.iter().map(|t| t.code().to_owned()).collect();
                let kinds: Vec<&str> = codes.iter().map(String::as_str).collect();
                w.before(conn, case_no, Some(&kinds)).await?;
                let closed =
                    store::close(conn, &mut w.outbox, case_no, Some(&codes), at, reason).await?;
                // Remembered for a clock an older fact may still start (see `start`).
                w.remember(case_no, &kinds, Mark::Closed, at, reason, None);
                Ok(!closed.is_empty())
            }
            Step::CloseAll { reason } => {
                w.before(conn, case_no, None).await?;
                let closed = store::close(conn, &mut w.outbox, case_no, None, at, reason).await?;
                w.remember(case_no, &[EVERY_KIND], Mark::Closed, at, reason, None);
                Ok(!closed.is_empty())
            }
            Step::Extend { days } => self.extend(conn, w, case_no, at, days).await,
            Step::Pause { at } => self.pause(conn, w, case_no, utc(at)).await,
            Step::Resume { at } => self.resume(conn, w, case_no, utc(at)).await,
            Step::RecomputeHandling => self.recompute_handling(conn, w, case_no, county, at).await,
            Step::Nothing => Ok(false),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn start(
        &self,
        conn: &mut PgConnection,
        w: &mut Writes,
        case_no: &str,
        county: &str,
        at: DateTime<Utc>,
        s: Start,
        remand: bool,
    ) -> Result<bool, HandlerError> {
        let r = &self.rules;
        let rules = &r.deadlines;
        let calendar = r.calendar.current();
        let none = Adjustments::default();
        let (code, due, provisional) = match s.tracked {
            // Sent back by a 复查/复核 decision: the remand period, from the remand.
            Tracked::Statutory(DeadlineKind::D5) if remand => {
                let d = compute_remand(s.trigger, &calendar, rules).map_err(reject)?;
                (d.kind.code(), d.due, d.is_provisional())
            }
            Tracked::Statutory(DeadlineKind::D5) => {
                let (t, b) = projection::type_and_branch(conn, case_no).await?;
                let d =
                    compute_handling(s.trigger, t, b, &calendar, rules, &none).map_err(reject)?;
                (d.kind.code(), d.due, d.is_provisional())
            }
            Tracked::Statutory(k) => {
                let d = compute(k, s.trigger, &calendar, rules, &none).map_err(reject)?;
                (d.kind.code(), d.due, d.is_provisional())
            }
            Tracked::Evaluation => {
                let w = evaluation_window(s.trigger, &calendar, rules).map_err(reject)?;
                (Tracked::EVALUATION, Some(w.closes), !w.calendar_complete)
            }
            // Response deadlines are started by 督办 records, conference tasks by the
            // conference's decisions (practices), never by a fact.
            Tracked::SupervisionResponse | Tracked::ConferenceTask => return Ok(false),
        };
        // Facts may arrive out of their order (another instance took the next one, or this one
        // was retried): a clock that a newer fact restarted stays as it is, and one that a
        // newer fact already settled is recorded as settled by it.
        let kinds: &[&str] = match code {
            "D5" | "D6" => &["D5", "D6"],
            _ => std::slice::from_ref(&code),
        };
        let since = if w.none_of(case_no, kinds) {
            // Nothing of the kind to read: nothing superseded, nothing open, nothing settled.
            marks::Since::default()
        } else {
            w.before(conn, case_no, Some(kinds)).await?;
            marks::since(conn, case_no, kinds, at).await?
        };
        if since.superseded {
            tracing::info!(
                case_no,
                deadline = code,
                "a start from a fact older than the clock's newest; nothing changes"
            );
            return Ok(false);
        }
        // A remand replaces whatever handling clock is still open (an earlier remand's too).
        let mut changed = remand
            && !store::close(
                conn,
                &mut w.outbox,
                case_no,
                Some(&["D5".to_owned(), "D6".to_owned()]),
                at,
                "remanded",
            )
            .await?
            .is_empty();
        // A clock started again (re-assignment, a repeated fact) replaces the open one. Most
        // starts find none (`since` looked), and skip the look.
        if since.open {
            changed |= !store::cancel_open(conn, &mut w.outbox, case_no, code, at, "restarted")
                .await?
                .is_empty();
            if code == "D5" {
                changed |= !store::cancel_open(conn, &mut w.outbox, case_no, "D6", at, "restarted")
                    .await?
                    .is_empty();
            }
        }
        let due = due.map(utc);
        w.set_due(case_no, code, due);
        let Some(due) = due else {
            // No time limit (handling configured as none for this type/branch).
            return Ok(changed);
        };
        let department = match s.responsible {
            Responsible::Bureau => Some(r.settings.bureau_department.clone()),
            Responsible::Department(d) => Some(d),
            Responsible::Petitioner { department } => department,
        };
        let trigger = utc(s.trigger);
        let row = NewDeadline {
            id: Uuid::now_v7(),
            case_no: case_no.to_owned(),
            county: county.to_owned(),
            department,
            kind: code.to_owned(),
            reference: if remand {
                REMAND_REF.to_owned()
            } else {
                String::new()
            },
            trigger_at: trigger,
            due_at: due,
            warn_at: r.warn_at(s.tracked, trigger, due),
            provisional,
            fact_at: Some(at),
        };
        let to_organ = announced_to_organ(s.tracked);
        let status = DeadlineStatus {
            case_no: row.case_no.clone(),
            deadline: row.kind.clone(),
            reference: row.reference.clone(),
            department: row.department.clone(),
            trigger: row.trigger_at,
            due: row.due_at,
            state: state::PENDING.to_owned(),
            provisional,
            reason: "started".to_owned(),
            at,
        };
        w.start(row);
        if to_organ {
            // The organ's message lists the case's clocks, this one included.
            w.before(conn, case_no, None).await?;
        }
        // The registry shows the clock; a review organ hears of the request addressed to it.
        let directory = r.directory.current();
        store::queue_status(
            conn,
            &mut w.outbox,
            kind::DEADLINE_SCHEDULED,
            &status,
            county,
            to_organ.then_some(&*directory),
        )
        .await?;
        if let Some(closed) = since.closed {
            w.before(conn, case_no, Some(&[code])).await?;
            store::close(
                conn,
                &mut w.outbox,
                case_no,
                Some(&[code.to_owned()]),
                closed.at,
                &closed.reason,
            )
            .await?;
        } else if let Some(paused) = since.paused.filter(|_| code == "D10") {
            self.pause(conn, w, case_no, paused.at).await?;
        } else if let Some(extended) = since.extended.filter(|_| code == "D5" && !remand) {
            let days = extended
                .days
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or(0);
            self.extend(conn, w, case_no, extended.at, days).await?;
        }
        Ok(true)
    }

    /// A hearing started: D10 stops (Art 36 para 2). Before its clock exists (the request came
    /// later), the start is remembered for it.
    async fn pause(
        &self,
        conn: &mut PgConnection,
        w: &mut Writes,
        case_no: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, HandlerError> {
        w.before(conn, case_no, Some(&["D10"])).await?;
        let row = store::latest_for_update(conn, case_no, &["D10"]).await?;
        let Some(row) = row.filter(|r| r.state == state::PENDING) else {
            w.remember(case_no, &["D10"], Mark::Paused, at, "", None);
            return Ok(false);
        };
        store::pause(conn, &mut w.outbox, row.id, at).await?;
        // The hearing's end may have come first.
        if let Some(end) = marks::first_since(conn, case_no, &["D10"], Mark::Resumed, at).await? {
            self.resume(conn, w, case_no, end.at).await?;
        }
        Ok(true)
    }

    /// D5 → D6: the one extension (Art 34), recomputed from the acceptance date.
    async fn extend(
        &self,
        conn: &mut PgConnection,
        w: &mut Writes,
        case_no: &str,
        at: DateTime<Utc>,
        days: u32,
    ) -> Result<bool, HandlerError> {
        w.before(conn, case_no, Some(&["D5", "D6"])).await?;
        let Some(row) = store::latest_for_update(conn, case_no, &["D5", "D6"]).await? else {
            // The acceptance that starts it may come after (out of order).
            tracing::info!(
                case_no,
                "extension before the handling deadline; remembered"
            );
            let d = i32::try_from(days).ok();
            w.remember(case_no, &["D5"], Mark::Extended, at, "", d);
            return Ok(false);
        };
        if row.state != "pending" && row.state != "paused" {
            tracing::info!(case_no, state = %row.state, "extension after the handling deadline closed; recorded nowhere");
            return Ok(false);
        }
        let (t, b) = projection::type_and_branch(conn, case_no).await?;
        let adj = Adjustments {
            extension_days: Some(days),
            ..Adjustments::default()
        };
        let trigger = row.trigger_at.with_timezone(&CST);
        let due = compute_handling(
            trigger,
            t,
            b,
            &self.rules.calendar.current(),
            &self.rules.deadlines,
            &adj,
        )
        .map_err(reject)?;
        let Some(due_at) = due.due.map(utc) else {
            return Ok(false);
        };
        let warn = self
            .rules
            .warn_at(Tracked::Statutory(due.kind), row.trigger_at, due_at);
        store::reschedule(
            conn,
            &mut w.outbox,
            row.id,
            due.kind.code(),
            due_at,
            warn,
            i32::try_from(days).ok(),
            due.is_provisional(),
        )
        .await?;
        w.touch(case_no, due.kind.code());
        w.set_due(case_no, "D6", Some(due_at));
        Ok(true)
    }

    /// The type or branch changed (a clerk's reclassification): the handling deadline follows.
    /// Before acceptance nothing runs yet (acceptance computes it with the new facts); after the
    /// handling deadline has closed or fired, the reclassification cannot undo that.
    async fn recompute_handling(
        &self,
        conn: &mut PgConnection,
        w: &mut Writes,
        case_no: &str,
        county: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, HandlerError> {
        let Some((accepted_on, department)) = projection::acceptance(conn, case_no).await? else {
            return Ok(false);
        };
        let (t, b) = projection::type_and_branch(conn, case_no).await?;
        let rules = &self.rules;
        w.before(conn, case_no, Some(&["D5", "D6"])).await?;
        match store::latest_for_update(conn, case_no, &["D5", "D6"]).await? {
            // No clock ran (none applied before, or an earlier reclassification stopped it):
            // start one if one applies now.
            None => {
                self.start_handling(conn, w, case_no, county, at, accepted_on, department)
                    .await
            }
            Some(row)
                if (row.state == state::WITHDRAWN || row.state == state::LEGACY_CANCELLED)
                    && row.close_reason.as_deref() == Some("reclassified") =>
            {
                self.start_handling(conn, w, case_no, county, at, accepted_on, department)
                    .await
            }
            Some(row) if row.state == "pending" || row.state == "paused" => {
                let adj = Adjustments {
                    extension_days: row.extension_days.and_then(|d| u32::try_from(d).ok()),
                    ..Adjustments::default()
                };
                let trigger = row.trigger_at.with_timezone(&CST);
                let due = compute_handling(
                    trigger,
                    t,
                    b,
                    &rules.calendar.current(),
                    &rules.deadlines,
                    &adj,
                );
                let due = match due {
                    Ok(d) => d.due.map(|at| (d.kind, utc(at), d.is_provisional())),
                    // Extended, and the new type or branch has no handling deadline to extend.
                    Err(_) => None,
                };
                let Some((kind, due_at, provisional)) = due else {
                    store::cancel_open(conn, &mut w.outbox, case_no, &row.kind, at, "reclassified")
                        .await?;
                    w.set_due(case_no, "D5", None);
                    return Ok(true);
                };
                if due_at == row.due_at && kind.code() == row.kind {
                    if provisional != row.provisional {
                        store::set_provisional(conn, &mut w.outbox, row.id, provisional).await?;
                    }
                    return Ok(false);
                }
                let warn = rules.warn_at(Tracked::Statutory(kind), row.trigger_at, due_at);
                store::reschedule(
                    conn,
                    &mut w.outbox,
                    row.id,
                    kind.code(),
                    due_at,
                    warn,
                    row.extension_days,
                    provisional,
                )
                .await?;
                w.touch(case_no, kind.code());
                w.set_due(case_no, kind.code(), Some(due_at));
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_handling(
        &self,
        conn: &mut PgConnection,
        w: &mut Writes,
        case_no: &str,
        county: &str,
        at: DateTime<Utc>,
        accepted_on: chrono::NaiveDate,
        department: String,
    ) -> Result<bool, HandlerError> {
        let start = Start {
            tracked: Tracked::Statutory(DeadlineKind::D5),
            trigger: start_of_day(accepted_on),
            responsible: Responsible::Department(department),
        };
        self.start(conn, w, case_no, county, at, start, false).await
    }

    /// A hearing finished: its days are not counted (Art 36 para 2), so D10 moves out.
    async fn resume(
        &self,
        conn: &mut PgConnection,
        w: &mut Writes,
        case_no: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, HandlerError> {
        w.before(conn, case_no, Some(&["D10"])).await?;
        let row = store::latest_for_update(conn, case_no, &["D10"]).await?;
        let Some((row, started)) =
            row.and_then(|r| r.paused_at.filter(|_| r.state == "paused").map(|p| (r, p)))
        else {
            // Its start (or the request) may come after (out of order).
            w.remember(case_no, &["D10"], Mark::Resumed, at, "", None);
            return Ok(false);
        };
        let end = at.max(started);
        let mut intervals: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            serde_json::from_value(row.pauses.clone()).map_err(reject)?;
        intervals.push((started, end));
        let adj = Adjustments {
            paused: intervals
                .iter()
                .map(|(a, b)| (a.with_timezone(&CST), b.with_timezone(&CST)))
                .collect(),
            ..Adjustments::default()
        };
        let d = compute(
            DeadlineKind::D10,
            row.trigger_at.with_timezone(&CST),
            &self.rules.calendar.current(),
            &self.rules.deadlines,
            &adj,
        )
        .map_err(reject)?;
        let Some(due_at) = d.due.map(utc) else {
            return Ok(false);
        };
        let warn = self.rules.warn_at(
            Tracked::Statutory(DeadlineKind::D10),
            row.trigger_at,
            due_at,
        );
        let secs = (end - started).num_milliseconds() as f64 / 1000.0;
        let pauses = serde_json::to_value(&intervals).map_err(reject)?;
        store::resume(
            conn,
            &mut w.outbox,
            row.id,
            &pauses,
            secs,
            due_at,
            warn,
            d.is_provisional(),
        )
        .await?;
        Ok(true)
    }
}
