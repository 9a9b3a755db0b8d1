//! Synthetic history for `xinfang bench stats`: case `i` of `n` registered at a time spread
//! evenly over the years before `end`, with the facts supervision's projection keeps
//! (`cases`) and its clocks (`deadlines`: D1 for every case, D3 once assigned, D5 once
//! accepted), as PostgreSQL COPY text rows. Each case draws from its own seeded generator, so
//! the two tables are written by separate tasks and still agree.
//!
//! Shares (of all cases): 8% repeats, 10% diverted at intake, 2% diverted after acceptance,
//! 1% listed, 0.5% with a leader (包案); of the assigned, 85% accepted; of the replied, 70%
//! rated. About 5% of D1s and 8% of D3s and D5s are missed; clocks still running at `end` are
//! pending, those passed without the act are fired.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Column lists the rows below follow.
pub const CASE_COLUMNS: &str = "case_no, county, department, petition_type, channel, source, listed, leader, \
     received_at, registered_at, is_repeat, d1_due, disposed_at, assigned_at, d3_due, \
     unit_answered_at, accepted_at, accepted_on, handling_due, replied_at, served_on, \
     evaluated_at, bureau_rating, unit_rating, diverted_at, diversion, diverted_after_acceptance";
pub const DEADLINE_COLUMNS: &str = "id, case_no, county, department, kind, trigger_at, due_at, state, fired_at, \
     closed_at, close_reason, indexed";

const TYPES: [&str; 4] = ["complaint", "proposal", "accusation", "suggestion"];
const CHANNELS: [&str; 4] = ["letter", "visit", "online", "phone"];
const RATINGS: [&str; 3] = ["satisfied", "basically_satisfied", "unsatisfied"];
const DIVERSIONS: [&str; 4] = [
    "litigation",
    "arbitration",
    "administrative_review",
    "party_appeal",
];

/// What the generator needs to know about the deployment.
pub struct Shape {
    pub n: usize,
    pub counties: Vec<String>,
    pub departments: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Shape {
    /// When case `i` was registered: evenly spread, so a year holds `n / years` cases.
    fn registered_at(&self, i: usize) -> DateTime<Utc> {
        let span = (self.end - self.start).num_seconds().max(1) as f64;
        self.start + TimeDelta::seconds((span * i as f64 / self.n.max(1) as f64) as i64)
    }
}

/// One case's facts, drawn from its own generator.
struct Case {
    no: String,
    county: usize,
    department: usize,
    received: DateTime<Utc>,
    registered: DateTime<Utc>,
    d1_due: DateTime<Utc>,
    disposed: DateTime<Utc>,
    diverted: bool,
    /// Assignment: D3 due, the unit's answer, acceptance (accepted, D5 due), reply.
    d3_due: DateTime<Utc>,
    answered: DateTime<Utc>,
    accepted: bool,
    handling_due: DateTime<Utc>,
    replied: DateTime<Utc>,
}

fn case(shape: &Shape, i: usize) -> (Case, SmallRng) {
    let mut r = SmallRng::seed_from_u64(0x5eed_0000 ^ i as u64);
    let registered = shape.registered_at(i);
    let received = registered - TimeDelta::minutes(r.random_range(0..3 * 24 * 60));
    let d1_due = received + TimeDelta::days(15);
    let late_d1 = r.random_bool(0.05);
    let disposed = if late_d1 {
        d1_due + TimeDelta::hours(r.random_range(1..10 * 24))
    } else {
        registered + TimeDelta::minutes(r.random_range(5..12 * 24 * 60))
    };
    let diverted = r.random_bool(0.10);
    let d3_due = disposed + TimeDelta::days(15);
    let answered = if r.random_bool(0.08) {
        d3_due + TimeDelta::hours(r.random_range(1..20 * 24))
    } else {
        disposed + TimeDelta::hours(r.random_range(1..14 * 24))
    };
    let accepted = r.random_bool(0.85);
    let handling_due = answered + TimeDelta::days(60);
    let replied = if r.random_bool(0.08) {
        handling_due + TimeDelta::hours(r.random_range(1..30 * 24))
    } else {
        answered + TimeDelta::hours(r.random_range(5 * 24..59 * 24))
    };
    let county = pick_county(&mut r, shape.counties.len());
    let department = r.random_range(0..shape.departments.len().max(1));
    let no = format!(
        "{}-{}-{:08}",
        shape.counties.get(county).map_or("000000", String::as_str),
        registered.format("%Y"),
        i
    );
    (
        Case {
            no,
            county,
            department,
            received,
            registered,
            d1_due,
            disposed,
            diverted,
            d3_due,
            answered,
            accepted,
            handling_due,
            replied,
        },
        r,
    )
}

/// The city's own office (the first county) takes a third; the others share the rest.
fn pick_county(r: &mut SmallRng, k: usize) -> usize {
    if k <= 1 || r.random_bool(1.0 / 3.0) {
        0
    } else {
        r.random_range(1..k)
    }
}

/// `Some(t)` when `t` is before `end` (the act happened), else `None` (still to come).
fn by(t: DateTime<Utc>, end: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (t <= end).then_some(t)
}

fn ts(out: &mut String, t: Option<DateTime<Utc>>) {
    match t {
        Some(t) => {
            let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S+00"));
        }
        None => out.push_str("\\N"),
    }
}

fn date(out: &mut String, d: Option<NaiveDate>) {
    match d {
        Some(d) => {
            let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        }
        None => out.push_str("\\N"),
    }
}

fn text(out: &mut String, s: Option<&str>) {
    out.push_str(s.unwrap_or("\\N"));
}

fn cst_day(t: DateTime<Utc>) -> NaiveDate {
    (t + TimeDelta::hours(8)).date_naive()
}

/// Appends case `i`'s `cases` row.
pub fn case_row(shape: &Shape, i: usize, out: &mut String) {
    let (c, mut r) = case(shape, i);
    let end = shape.end;
    let disposed = by(c.disposed, end);
    let assigned = if c.diverted { None } else { disposed };
    let answered = assigned.and(by(c.answered, end));
    let accepted = answered.filter(|_| c.accepted);
    let replied = accepted.and(by(c.replied, end));
    let rated = replied.filter(|_| r.random_bool(0.7));
    let after_acceptance = accepted.is_some() && replied.is_none() && r.random_bool(0.02);
    let diverted_at = if c.diverted {
        disposed
    } else if after_acceptance {
        accepted
            .map(|a| a + TimeDelta::days(3))
            .and_then(|t| by(t, end))
    } else {
        None
    };
    let listed = r.random_bool(0.01);
    let leader = r.random_bool(0.005);
    let county = &shape.counties[c.county];
    let department = shape.departments.get(c.department).map(String::as_str);
    out.push_str(&c.no);
    out.push('\t');
    out.push_str(county);
    out.push('\t');
    text(out, department);
    out.push('\t');
    out.push_str(TYPES[r.random_range(0..TYPES.len())]);
    out.push('\t');
    out.push_str(CHANNELS[r.random_range(0..CHANNELS.len())]);
    out.push('\t');
    out.push_str(if listed {
        "provincial_joint"
    } else {
        "ordinary"
    });
    out.push('\t');
    out.push_str(if listed { "t" } else { "f" });
    out.push('\t');
    text(out, leader.then_some("leader-1"));
    out.push('\t');
    ts(out, Some(c.received));
    out.push('\t');
    ts(out, Some(c.registered));
    out.push('\t');
    out.push_str(if r.random_bool(0.08) { "t" } else { "f" });
    out.push('\t');
    ts(out, Some(c.d1_due));
    out.push('\t');
    ts(out, disposed);
    out.push('\t');
    ts(out, assigned);
    out.push('\t');
    ts(out, assigned.map(|_| c.d3_due));
    out.push('\t');
    ts(out, answered);
    out.push('\t');
    ts(out, accepted);
    out.push('\t');
    date(out, accepted.map(cst_day));
    out.push('\t');
    ts(out, accepted.map(|_| c.handling_due));
    out.push('\t');
    ts(out, replied);
    out.push('\t');
    date(out, replied.map(cst_day));
    out.push('\t');
    ts(out, rated.map(|t| t + TimeDelta::days(5)));
    out.push('\t');
    text(
        out,
        rated.map(|_| RATINGS[r.random_range(0..RATINGS.len())]),
    );
    out.push('\t');
    text(
        out,
        rated.map(|_| RATINGS[r.random_range(0..RATINGS.len())]),
    );
    out.push('\t');
    ts(out, diverted_at);
    out.push('\t');
    text(
        out,
        diverted_at.map(|_| DIVERSIONS[r.random_range(0..DIVERSIONS.len())]),
    );
    out.push('\t');
    out.push_str(if after_acceptance { "t" } else { "f" });
    out.push('\n');
}

/// Appends case `i`'s `deadlines` rows; returns how many.
pub fn deadline_rows(shape: &Shape, i: usize, out: &mut String) -> usize {
    let (c, _) = case(shape, i);
    let end = shape.end;
    let county = &shape.counties[c.county];
    let department = shape.departments.get(c.department).map(String::as_str);
    let mut clock = |kind: &str,
                     dept: Option<&str>,
                     trigger: DateTime<Utc>,
                     due: DateTime<Utc>,
                     act: DateTime<Utc>,
                     reason: &str| {
        // As supervision records them: met / met_late by the act's time against the due time;
        // a clock whose due time passed before the act (or before `end`) fired.
        let (state, fired, closed) = match (by(act, end), due <= end) {
            (Some(a), _) if a <= due => ("met", None, Some(a)),
            (Some(a), _) => ("fired", Some(due), Some(a)),
            (None, true) => ("fired", Some(due), None),
            (None, false) => ("pending", None, None),
        };
        let id = uuid::Uuid::from_u128(
            ((i as u128) << 8) | u128::from(kind.as_bytes()[1]) | 0x7000_0000_0000_0000_0000_0000,
        );
        let _ = write!(out, "{id}\t{}\t{county}\t", c.no);
        text(out, dept);
        out.push('\t');
        out.push_str(kind);
        out.push('\t');
        ts(out, Some(trigger));
        out.push('\t');
        ts(out, Some(due));
        out.push('\t');
        out.push_str(state);
        out.push('\t');
        ts(out, fired);
        out.push('\t');
        ts(out, closed);
        out.push('\t');
        text(out, closed.map(|_| reason));
        out.push_str("\tt\n");
    };
    clock("D1", None, c.received, c.d1_due, c.disposed, "assigned");
    let mut rows = 1;
    if c.diverted || c.disposed > end {
        return rows;
    }
    clock(
        "D3", department, c.disposed, c.d3_due, c.answered, "accepted",
    );
    rows += 1;
    if c.accepted && c.answered <= end {
        clock(
            "D5",
            department,
            c.answered,
            c.handling_due,
            c.replied,
            "replied",
        );
        rows += 1;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: usize) -> Shape {
        let end = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Shape {
            n,
            counties: vec!["411200".into(), "411202".into()],
            departments: vec!["rsj".into(), "zjj".into()],
            start: end - TimeDelta::days(3650),
            end,
        }
    }

    #[test]
    fn rows_have_one_field_per_column() {
        let s = shape(1000);
        let (mut cases, mut deadlines) = (String::new(), String::new());
        let mut n = 0;
        for i in 0..1000 {
            case_row(&s, i, &mut cases);
            n += deadline_rows(&s, i, &mut deadlines);
        }
        let fields = |cols: &str| cols.split(',').count();
        assert_eq!(cases.lines().count(), 1000);
        assert_eq!(deadlines.lines().count(), n);
        assert!(n > 2000, "D1 for all, D3/D5 for most: {n}");
        assert!(
            cases
                .lines()
                .all(|l| l.split('\t').count() == fields(CASE_COLUMNS))
        );
        assert!(
            deadlines
                .lines()
                .all(|l| l.split('\t').count() == fields(DEADLINE_COLUMNS))
        );
    }

    #[test]
    fn a_case_and_its_clocks_agree_and_ids_are_unique() {
        let s = shape(5000);
        let mut ids = std::collections::HashSet::new();
        for i in 0..5000 {
            let mut d = String::new();
            deadline_rows(&s, i, &mut d);
            let mut c = String::new();
            case_row(&s, i, &mut c);
            let case_no = c.split('\t').next().unwrap().to_owned();
            for line in d.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                assert!(ids.insert(f[0].to_owned()), "duplicate id {}", f[0]);
                assert_eq!(f[1], case_no);
            }
        }
    }

    #[test]
    fn cases_spread_evenly_over_the_years() {
        let s = shape(10_000);
        let first = s.registered_at(0);
        let mid = s.registered_at(5000);
        assert_eq!(first, s.start);
        assert!(((mid - s.start).num_days() - 1825).abs() <= 1);
    }
}
