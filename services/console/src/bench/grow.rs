//! Grows the registry to the wanted size by copying the seeded cases in SQL, each service in
//! its own schema: intake's `cases` and `timeline`, supervision's `cases` (the KPI facts) and
//! `deadlines` ([`store`]); routing's and review's case rows and review's appeals, 终结库 and
//! evaluations ([`others`]). A benchmark fixture, nothing else writes this way.
//!
//! Each copy takes a seeded case as its template (round robin, so departments, types and
//! routing decisions keep the seeded spread), gets a fresh case number and query code, a
//! registration time spread over the past year, and a life since then: accepted a few days
//! later, answered within the handling period (a few late), some asking for 复查 and 复核,
//! the rest closed. Its status, milestones, clocks and KPI facts follow from that life, so
//! the registry holds what a bureau's would after a year: mostly finished cases, a few
//! thousand in handling, hundreds of clocks due soon or overdue. Copied clocks are marked
//! indexed and never enter the Redis timer index, so nothing fires for them.

mod others;
mod store;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use xinfang_domain::deadline::CST;

use super::seed::Seeded;
use super::{Pools, Progress};

pub use store::facts;

/// A timeline line: when, the event, its summary, shown to the petitioner or not.
type Line = (DateTime<Utc>, String, String, bool);

/// Copies written per statement group.
const BATCH: usize = 5_000;

/// Statuses a seeded case may have after routing from which a copy goes on to be handled.
const HANDLED: [&str; 2] = ["assigned", "forwarded"];

/// A seeded case as the copies need it.
struct Template {
    case_no: String,
    county: String,
    status: String,
    current_department: Option<String>,
    registered_at: DateTime<Utc>,
    milestones: Map<String, Value>,
    /// Supervision's KPI facts, as offsets from registration where they are instants.
    kpi: Kpi,
    clocks: Vec<Clock>,
    timeline: Vec<Line>,
}

#[derive(Default, Clone)]
struct Kpi {
    department: Option<String>,
    petition_type: Option<String>,
    branch: Option<String>,
    d1_due: Option<DateTime<Utc>>,
    disposed_at: Option<DateTime<Utc>>,
    assigned_at: Option<DateTime<Utc>>,
    d3_due: Option<DateTime<Utc>>,
}

#[derive(Clone)]
struct Clock {
    kind: String,
    reference: String,
    department: Option<String>,
    trigger_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    state: String,
    fired_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    close_reason: Option<String>,
    provisional: bool,
}

impl Clock {
    fn open(&self) -> bool {
        matches!(self.state.as_str(), "pending" | "paused")
            || (self.state == "fired" && self.closed_at.is_none())
    }

    fn shifted(&self, by: TimeDelta) -> Clock {
        Clock {
            trigger_at: self.trigger_at + by,
            due_at: self.due_at + by,
            fired_at: self.fired_at.map(|t| t + by),
            closed_at: self.closed_at.map(|t| t + by),
            ..self.clone()
        }
    }

    /// Ends the clock at `at` because `why` happened (the obligation met, late or not).
    fn close(&mut self, at: DateTime<Utc>, why: &str, moot: bool) {
        self.state = if moot {
            "withdrawn"
        } else if at > self.due_at {
            "met_late"
        } else {
            "met"
        }
        .into();
        if at > self.due_at && self.fired_at.is_none() {
            self.fired_at = Some(self.due_at);
        }
        self.closed_at = Some(at);
        self.close_reason = Some(why.into());
    }

    /// A clock started at `trigger` for `days`, as of `now`: ended by `done` if that came,
    /// otherwise running or (past due) fired and open.
    fn new(
        kind: &str,
        department: Option<String>,
        trigger: DateTime<Utc>,
        days: i64,
        done: Option<(DateTime<Utc>, &str)>,
        now: DateTime<Utc>,
    ) -> Clock {
        let mut c = Clock {
            kind: kind.into(),
            reference: String::new(),
            department,
            trigger_at: trigger,
            due_at: end_of_day(trigger + TimeDelta::days(days)),
            state: "pending".into(),
            fired_at: None,
            closed_at: None,
            close_reason: None,
            provisional: false,
        };
        match done {
            Some((at, why)) if at <= now => c.close(at, why, false),
            _ if c.due_at < now => {
                c.state = "fired".into();
                c.fired_at = Some(c.due_at);
            }
            _ => {}
        }
        c
    }

    /// A petitioner's window (复查/复核 request, evaluation): used, or passed unused.
    fn window(
        kind: &str,
        trigger: DateTime<Utc>,
        used: Option<DateTime<Utc>>,
        why: &str,
        now: DateTime<Utc>,
    ) -> Clock {
        let mut c = Clock::new(kind, None, trigger, 30, None, now);
        match used {
            Some(at) if at <= now => c.close(at, why, false),
            _ if c.state == "fired" => {
                c.closed_at = Some(c.due_at);
                c.close_reason = Some("expired".into());
            }
            _ => {}
        }
        c
    }
}

/// 23:59:59 Beijing time of `t`'s day, as supervision sets due times.
fn end_of_day(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.with_timezone(&CST).date_naive();
    day.and_hms_opt(23, 59, 59)
        .and_then(|d| d.and_local_timezone(CST).single())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(t)
}

/// What happened to one copy since its registration, as of now.
#[derive(Default)]
struct Life {
    accepted: Option<DateTime<Utc>>,
    extended: Option<DateTime<Utc>>,
    replied: Option<DateTime<Utc>>,
    checked: Option<DateTime<Utc>>,
    evaluated: Option<(DateTime<Utc>, &'static str, &'static str)>,
    review_requested: Option<DateTime<Utc>>,
    review_decided: Option<DateTime<Utc>>,
    rereview_requested: Option<DateTime<Utc>>,
    rereview_decided: Option<DateTime<Utc>>,
    terminated: Option<DateTime<Utc>>,
}

/// Only what has happened by `now` is kept.
fn past(t: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (t <= now).then_some(t)
}

fn days(rng: &mut StdRng, from: f64, to: f64) -> TimeDelta {
    TimeDelta::seconds((rng.random_range(from..to) * 86_400.0) as i64)
}

impl Life {
    /// A handled case's course: accepted after 1–5 days, answered within 15–58 days (3% late,
    /// up to 80), checked by the bureau within a week when it was assigned; a tenth of the
    /// answers asked to be reviewed, a third of the reviews asked to be re-reviewed, and half
    /// of those ended in the 终结库; half the petitioners rate the handling.
    fn of(rng: &mut StdRng, registered: DateTime<Utc>, assigned: bool, now: DateTime<Utc>) -> Life {
        let mut l = Life::default();
        let Some(accepted) = past(registered + days(rng, 1.0, 5.0), now) else {
            return l;
        };
        l.accepted = Some(accepted);
        let handling = if rng.random_bool(0.03) {
            days(rng, 61.0, 80.0)
        } else {
            days(rng, 15.0, 58.0)
        };
        if rng.random_bool(0.08) {
            l.extended = past(accepted + handling / 2, now);
        }
        let Some(replied) = past(accepted + handling, now) else {
            return l;
        };
        l.replied = Some(replied);
        if assigned {
            l.checked = past(replied + days(rng, 1.0, 7.0), now);
        }
        if rng.random_bool(0.5) {
            let rating = |rng: &mut StdRng| match rng.random_range(0..10) {
                0 => "dissatisfied",
                1 | 2 => "basically_satisfied",
                _ => "satisfied",
            };
            let (b, u) = (rating(rng), rating(rng));
            l.evaluated = past(replied + days(rng, 1.0, 29.0), now).map(|t| (t, b, u));
        }
        if !rng.random_bool(0.1) {
            return l;
        }
        let Some(requested) = past(replied + days(rng, 3.0, 29.0), now) else {
            return l;
        };
        l.review_requested = Some(requested);
        let late = if rng.random_bool(0.05) { 40.0 } else { 29.0 };
        let Some(decided) = past(requested + days(rng, 10.0, late), now) else {
            return l;
        };
        l.review_decided = Some(decided);
        if !rng.random_bool(0.33) {
            return l;
        }
        let Some(requested) = past(decided + days(rng, 3.0, 29.0), now) else {
            return l;
        };
        l.rereview_requested = Some(requested);
        let Some(decided) = past(requested + days(rng, 10.0, late), now) else {
            return l;
        };
        l.rereview_decided = Some(decided);
        if rng.random_bool(0.5) {
            l.terminated = past(decided + days(rng, 1.0, 10.0), now);
        }
        l
    }

    /// The registry's status, from the latest event.
    fn status(&self) -> Option<&'static str> {
        let steps = [
            (self.terminated, "terminated"),
            (self.rereview_decided, "rereview_decided"),
            (self.rereview_requested, "rereview_requested"),
            (self.review_decided, "review_decided"),
            (self.review_requested, "review_requested"),
            (self.checked, "closed"),
            (self.replied, "replied"),
            (self.extended, "extended"),
            (self.accepted, "accepted"),
        ];
        steps.iter().find(|(t, _)| t.is_some()).map(|(_, s)| *s)
    }

    fn milestones(&self) -> Vec<(&'static str, DateTime<Utc>)> {
        [
            ("accepted_at", self.accepted),
            ("extended_at", self.extended),
            ("replied_at", self.replied),
            ("closed_at", self.checked),
            ("evaluated_at", self.evaluated.map(|e| e.0)),
            ("review_requested_at", self.review_requested),
            ("review_decided_at", self.review_decided),
            ("rereview_requested_at", self.rereview_requested),
            ("rereview_decided_at", self.rereview_decided),
            ("terminated_at", self.terminated),
        ]
        .into_iter()
        .filter_map(|(k, t)| Some((k, t?)))
        .collect()
    }
}

/// One copy, ready to insert.
struct Copy {
    case_no: String,
    template: String,
    query_code: String,
    county: String,
    /// Registered minutes ago and held by routing for a clerk's decision.
    waiting: bool,
    /// From the template's times to the copy's.
    shift: TimeDelta,
    /// The handling unit, as supervision names it.
    unit: Option<String>,
    registered_at: DateTime<Utc>,
    status: String,
    current_department: Option<String>,
    overdue: bool,
    terminated_at: Option<DateTime<Utc>>,
    milestones: Value,
    deadlines: Value,
    timeline: Vec<Line>,
    kpi: Kpi,
    life: Life,
    clocks: Vec<Clock>,
}

pub async fn grow(
    pools: &Pools,
    seeded: &Seeded,
    cases: usize,
    progress: &impl Fn(Progress),
) -> anyhow::Result<()> {
    let templates = store::templates(pools, seeded).await?;
    let m = cases.saturating_sub(templates.len());
    progress(Progress::Phase {
        message: format!("copying {m} cases in SQL (each service's schema)"),
        len: Some(m as u64),
    });
    let now = Utc::now();
    let mut rng = StdRng::seed_from_u64(20_260_101);
    let mut done = 0usize;
    while done < m {
        let n = BATCH.min(m - done);
        let batch: Vec<Copy> = (done..done + n)
            .map(|j| plan(j, &templates[j % templates.len()], m, now, &mut rng))
            .collect();
        store::insert(pools, &batch).await?;
        others::insert(pools, &batch, now).await?;
        done += n;
        progress(Progress::Position(done as u64));
    }
    // The next registration of a county and year gets the number after the copies'.
    sqlx::query(
        "insert into case_sequences (county, year, last)
         select split_part(case_no, '-', 2), split_part(case_no, '-', 3)::int,
                max(split_part(case_no, '-', 4)::bigint)
         from cases group by 1, 2
         on conflict (county, year) do update set last = greatest(case_sequences.last, excluded.last)",
    )
    .execute(&pools.intake)
    .await?;
    progress(Progress::Phase {
        message: "analysing the grown tables".into(),
        len: None,
    });
    // As autovacuum would soon after such a load: the planner sees the real sizes.
    for (pool, tables) in [
        (&pools.intake, "cases, timeline"),
        (&pools.routing, "cases, assignments"),
        (&pools.supervision, "cases, deadlines"),
        (&pools.review, "cases, appeals, terminations, evaluations"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("vacuum analyze {tables}")))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Letters and digits of query codes (intake's alphabet).
const QUERY_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A query code per copy, distinct for distinct `j` (a multiplication by a number prime to
/// 31 permutes the 31^8 codes); random codes would collide now and then at this size.
fn query_code(j: usize) -> String {
    const SPACE: u64 = 31u64.pow(8);
    let mut n = (j as u64).wrapping_mul(1_000_003).wrapping_add(123_456_789) % SPACE;
    let mut out = [b'A'; 8];
    for c in out.iter_mut().rev() {
        *c = QUERY_ALPHABET[(n % 31) as usize];
        n /= 31;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `j`-th copy of `t`, registered at a time spread evenly over the past year.
fn plan(j: usize, t: &Template, m: usize, now: DateTime<Utc>, rng: &mut StdRng) -> Copy {
    // Evenly over 365 days, newest first, with jitter within the step.
    let step = 365.0 * 86_400.0 / m as f64;
    let age = step * (j as f64 + rng.random_range(0.0..1.0)) + 60.0;
    let registered_at = now - TimeDelta::seconds(age as i64);
    let shift = registered_at - t.registered_at;
    let year = registered_at.with_timezone(&CST).format("%Y");
    // Far above the seeded numbers, unique whatever the year.
    let case_no = format!("XF-{}-{year}-{:06}", t.county, 100_000 + j);
    let query_code = query_code(j);

    // A few of the newest wait for routing (what the clerk's triage queue lists).
    let waiting = j < 40;
    let handled = HANDLED.contains(&t.status.as_str()) && !waiting;
    let life = if handled {
        Life::of(rng, registered_at, t.status == "assigned", now)
    } else {
        Life::default()
    };

    // The template's clocks, moved to this copy's time; what the copy's life ended, closed.
    // A copy still waiting for routing has only the bureau's D1 running.
    let mut clocks: Vec<Clock> = Vec::new();
    for c in &t.clocks {
        let mut c = c.shifted(shift);
        if waiting {
            if c.kind != "D1" {
                continue;
            }
            c.state = "pending".into();
            c.fired_at = None;
            c.closed_at = None;
            c.close_reason = None;
        } else if c.open() {
            match life.accepted {
                Some(at) => c.close(at, "accepted", c.kind == "D4"),
                None if c.due_at < now => {
                    let at = c.due_at - TimeDelta::hours(6);
                    c.close(at.max(c.trigger_at), "disposed", false)
                }
                None => {}
            }
        }
        clocks.push(c);
    }
    // The handling unit's clocks: D5 (60 days), or D6 after an extension (Art 34).
    let unit = t
        .clocks
        .iter()
        .find(|c| c.kind == "D3" || c.kind == "D4")
        .and_then(|c| c.department.clone())
        .or_else(|| t.current_department.clone());
    if let Some(accepted) = life.accepted {
        let answered = life.replied.map(|t| (t, "replied"));
        match life.extended {
            Some(ext) => {
                let mut d5 = Clock::new("D5", unit.clone(), accepted, 60, None, now);
                d5.close(ext, "extended", true);
                let mut d6 = Clock::new("D6", unit.clone(), accepted, 90, answered, now);
                d6.trigger_at = ext;
                clocks.extend([d5, d6]);
            }
            None => clocks.push(Clock::new("D5", unit.clone(), accepted, 60, answered, now)),
        }
    }
    if let Some(replied) = life.replied {
        clocks.push(Clock::window(
            "D7",
            replied,
            life.review_requested,
            "requested",
            now,
        ));
        clocks.push(Clock::window(
            "eval",
            replied,
            life.evaluated.map(|e| e.0),
            "evaluated",
            now,
        ));
    }
    let organ = |level: &str| Some(format!("{}:{level}", t.county));
    if let Some(req) = life.review_requested {
        let done = life.review_decided.map(|t| (t, "decided"));
        clocks.push(Clock::new("D8", organ("gov"), req, 30, done, now));
    }
    if let Some(dec) = life.review_decided {
        clocks.push(Clock::window(
            "D9",
            dec,
            life.rereview_requested,
            "requested",
            now,
        ));
    }
    if let Some(req) = life.rereview_requested {
        let done = life.rereview_decided.map(|t| (t, "decided"));
        clocks.push(Clock::new("D10", organ("gov"), req, 30, done, now));
    }
    const DUTIES: [&str; 7] = ["D1", "D3", "D5", "D6", "D8", "D10", "supervision"];
    let overdue = clocks
        .iter()
        .any(|c| DUTIES.contains(&c.kind.as_str()) && c.state == "fired" && c.closed_at.is_none());

    // Intake's record of the same: status, milestones, every clock by code, the timeline.
    let status = if waiting {
        "registered".to_owned()
    } else {
        life.status().unwrap_or(&t.status).to_owned()
    };
    let mut milestones = Map::new();
    if !waiting {
        for (k, v) in &t.milestones {
            let moved = v
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|at| json!(at.with_timezone(&Utc) + shift));
            milestones.insert(k.clone(), moved.unwrap_or_else(|| v.clone()));
        }
    }
    for (k, at) in life.milestones() {
        milestones.insert(k.into(), json!(at));
    }
    let mut deadlines = Map::new();
    for c in &clocks {
        let key = if c.reference.is_empty() {
            c.kind.clone()
        } else {
            format!("{}:{}", c.kind, c.reference)
        };
        let shown = if c.state == "fired" {
            "overdue"
        } else {
            c.state.as_str()
        };
        deadlines.insert(
            key,
            json!({"due": c.due_at, "state": shown, "provisional": c.provisional,
                   "trigger": c.trigger_at, "department": c.department,
                   "reason": c.close_reason, "closed_at": c.closed_at}),
        );
    }
    let mut timeline: Vec<Line> = t
        .timeline
        .iter()
        .filter(|(_, event, _, _)| !waiting || event == "registered")
        .map(|(at, e, s, p)| (*at + shift, e.clone(), s.clone(), *p))
        .collect();
    for (k, at) in life.milestones() {
        let event = k.trim_end_matches("_at").to_owned();
        timeline.push((at, event.clone(), format!("{event} (bench copy)"), true));
    }

    let mut kpi = t.kpi.clone();
    let moved = |x: Option<DateTime<Utc>>| x.map(|x| x + shift);
    kpi.d1_due = moved(kpi.d1_due);
    kpi.d3_due = moved(kpi.d3_due);
    if waiting {
        kpi.disposed_at = None;
        kpi.assigned_at = None;
        kpi.d3_due = None;
    } else {
        kpi.disposed_at = moved(kpi.disposed_at);
        kpi.assigned_at = moved(kpi.assigned_at);
    }
    Copy {
        case_no,
        template: t.case_no.clone(),
        query_code,
        county: t.county.clone(),
        waiting,
        shift,
        unit,
        registered_at,
        status,
        current_department: if waiting {
            None
        } else {
            t.current_department.clone()
        },
        overdue,
        terminated_at: life.terminated,
        milestones: Value::Object(milestones),
        deadlines: Value::Object(deadlines),
        timeline,
        kpi,
        life,
        clocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(status: &str, now: DateTime<Utc>) -> Template {
        let registered_at = now - TimeDelta::minutes(10);
        let clock = |kind: &str, days: i64, state: &str| Clock {
            kind: kind.into(),
            reference: String::new(),
            department: Some("rsj".into()),
            trigger_at: registered_at,
            due_at: registered_at + TimeDelta::days(days),
            state: state.into(),
            fired_at: None,
            closed_at: (state == "met").then_some(registered_at),
            close_reason: None,
            provisional: false,
        };
        Template {
            case_no: "XF-901201-2026-000001".into(),
            county: "901201".into(),
            status: status.into(),
            current_department: Some("rsj".into()),
            registered_at,
            milestones: Map::new(),
            kpi: Kpi::default(),
            clocks: vec![
                clock("D1", 15, "met"),
                clock("D3", 7, "pending"),
                clock("D4", 7, "pending"),
            ],
            timeline: vec![(registered_at, "registered".into(), "已登记".into(), true)],
        }
    }

    #[test]
    fn copies_follow_a_life_and_keep_their_clocks_consistent() {
        let now = Utc::now();
        let mut rng = StdRng::seed_from_u64(1);
        let t = template("forwarded", now);
        let m = 10_000;
        let copies: Vec<Copy> = (0..m).map(|j| plan(j, &t, m, now, &mut rng)).collect();
        // The newest few wait for routing, with only D1 running and no department.
        assert!(copies[..40].iter().all(|c| c.status == "registered"
            && c.current_department.is_none()
            && c.clocks.iter().all(|k| k.kind == "D1" && k.open())));
        // Registration times cover the past year, newest first.
        let oldest = copies[m - 1].registered_at;
        assert!(now - oldest > TimeDelta::days(360) && now - oldest <= TimeDelta::days(366));
        for c in &copies[40..] {
            // Once accepted, the unit's D3 is met and its D4 moot; one handling clock runs or ended.
            if c.life.accepted.is_some() {
                assert!(
                    c.clocks
                        .iter()
                        .all(|k| k.kind != "D3" || k.state.starts_with("met"))
                );
                assert!(
                    c.clocks
                        .iter()
                        .all(|k| k.kind != "D4" || k.state == "withdrawn")
                );
                assert!(c.clocks.iter().any(|k| k.kind == "D5"));
            }
            // Overdue exactly when a duty clock fired and is still open.
            let late = c.clocks.iter().any(|k| {
                ["D5", "D6", "D8", "D10"].contains(&k.kind.as_str())
                    && k.state == "fired"
                    && k.closed_at.is_none()
            });
            assert_eq!(c.overdue, late, "{}", c.case_no);
            assert!(c.clocks.iter().all(|k| !k.open() || k.closed_at.is_none()));
        }
        let count = |s: &str| copies.iter().filter(|c| c.status == s).count();
        // Mostly answered, some in handling, a few overdue: a year's registry, not a backlog.
        assert!(count("replied") > m / 2, "replied {}", count("replied"));
        assert!(
            (m / 20..m / 5).contains(&count("accepted")),
            "accepted {}",
            count("accepted")
        );
        let overdue = copies.iter().filter(|c| c.overdue).count();
        assert!(overdue > 0 && overdue < m / 50, "overdue {overdue}");
        assert!(count("review_requested") > 0 && count("terminated") > 0);
        // Case numbers and query codes are unique, the codes in intake's alphabet.
        let nos: std::collections::HashSet<&str> =
            copies.iter().map(|c| c.case_no.as_str()).collect();
        assert_eq!(nos.len(), m);
        let codes: std::collections::HashSet<String> = (0..200_000).map(query_code).collect();
        assert_eq!(codes.len(), 200_000);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 8 && c.bytes().all(|b| QUERY_ALPHABET.contains(&b)))
        );
    }

    #[test]
    fn a_template_that_is_not_handled_keeps_its_status() {
        let now = Utc::now();
        let mut rng = StdRng::seed_from_u64(2);
        let t = template("diverted", now);
        let c = plan(5_000, &t, 10_000, now, &mut rng);
        assert_eq!(c.status, "diverted");
        assert!(c.life.accepted.is_none());
        // Its clocks passed long ago: ended, none left running.
        assert!(c.clocks.iter().all(|k| !k.open()));
    }
}
