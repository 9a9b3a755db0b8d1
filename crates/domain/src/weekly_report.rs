//! 周研判: the weekly analysis of a county's (or the whole city's) petitions, computed from plain
//! rows: volume by channel, type, department, town and source against the previous week and the
//! same week of last year; rising topics (clusters of similar petitions of different
//! petitioners, by the text similarity the repeat check uses); group petitions; repeat
//! petitioners; leapfrog (越级) petitions; overdue deadlines and 督办; listed matters' progress;
//! lawyers' and counsellors' participation. Rendered here as CSV; the service renders HTML.
//!
//! Weeks are ISO weeks in China time ([`crate::deadline::CST`]): Monday 00:00 to the next
//! Monday 00:00. "The same week last year" is the same ISO week number of the previous ISO year
//! (week 53 falls back to week 52 in a year without a 53rd week).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::classify::MatterWords;
use crate::deadline::CST;
use crate::validation::ValidationError;

// ---- weeks ------------------------------------------------------------------------------

/// An ISO week, written `2026-W49`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    year: i32,
    week: u32,
}

fn week_error(message: impl Into<String>) -> ValidationError {
    ValidationError::new("week", "iso_week", message)
}

/// Weeks of an ISO year: 52 or 53.
pub fn weeks_in(year: i32) -> u32 {
    if NaiveDate::from_isoywd_opt(year, 53, Weekday::Mon).is_some() {
        53
    } else {
        52
    }
}

impl IsoWeek {
    /// A week that exists (`week` in 1..=52 or 53); errors name the field `week`.
    pub fn new(year: i32, week: u32) -> Result<Self, ValidationError> {
        if !(2000..=2999).contains(&year) {
            return Err(week_error("the year must be between 2000 and 2999"));
        }
        if week == 0 || week > weeks_in(year) {
            return Err(week_error(format!(
                "ISO year {year} has weeks 1 to {}",
                weeks_in(year)
            )));
        }
        Ok(Self { year, week })
    }

    /// Parses `2026-W49` (also `2026W49`, `2026-w9`); errors name the field `week`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let bad = || week_error("must be an ISO week such as 2026-W49");
        let (y, w) = s
            .split_once(['W', 'w'])
            .ok_or_else(bad)
            .map(|(y, w)| (y.strip_suffix('-').unwrap_or(y), w))?;
        if y.len() != 4
            || !y.bytes().all(|b| b.is_ascii_digit())
            || w.is_empty()
            || w.len() > 2
            || !w.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let week: u32 = w.parse().map_err(|_| bad())?;
        Self::new(year, week)
    }

    /// The ISO week of a calendar day.
    pub fn of(date: NaiveDate) -> Self {
        let w = date.iso_week();
        Self {
            year: w.year(),
            week: w.week(),
        }
    }

    /// The week an instant falls in, in China time.
    pub fn containing(at: DateTime<Utc>) -> Self {
        Self::of(at.with_timezone(&CST).date_naive())
    }

    /// The last week that has ended at `now`: the week before the current one.
    pub fn last_complete(now: DateTime<Utc>) -> Self {
        Self::containing(now).previous()
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn week(&self) -> u32 {
        self.week
    }

    pub fn monday(&self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon)
            .expect("a validated ISO week has a Monday")
    }

    pub fn sunday(&self) -> NaiveDate {
        self.monday() + TimeDelta::days(6)
    }

    /// Monday 00:00 China time.
    pub fn start(&self) -> DateTime<Utc> {
        self.monday()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_local_timezone(CST)
            .single()
            .expect("China time has no gaps")
            .with_timezone(&Utc)
    }

    /// The next Monday 00:00 China time (exclusive end).
    pub fn end(&self) -> DateTime<Utc> {
        self.start() + TimeDelta::days(7)
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        at >= self.start() && at < self.end()
    }

    pub fn previous(&self) -> Self {
        Self::of(self.monday() - TimeDelta::days(7))
    }

    pub fn next(&self) -> Self {
        Self::of(self.monday() + TimeDelta::days(7))
    }

    /// The same ISO week number of the previous ISO year (week 52 for a week 53 the previous
    /// year lacks).
    pub fn same_week_last_year(&self) -> Self {
        let year = self.year - 1;
        Self {
            year,
            week: self.week.min(weeks_in(year)),
        }
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

impl FromStr for IsoWeek {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for IsoWeek {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoWeek {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

// ---- input rows -------------------------------------------------------------------------

/// One registered matter, as supervision's projection knows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CaseFacts {
    pub case_no: String,
    /// The registering county (the case number's).
    pub county: String,
    pub registered_at: DateTime<Utc>,
    pub channel: Option<String>,
    pub petition_type: Option<String>,
    /// Lead unit: a plain code of the case's county, or `<county>:<code>` of another organ.
    pub department: Option<String>,
    pub town: Option<String>,
    pub source: String,
    pub listed: bool,
    pub group_size: i32,
    pub petitioner_key: Option<String>,
    pub is_repeat: bool,
    pub leapfrog: bool,
    /// Content words and weights ([`MatterWords::from_weights`]).
    pub matter_words: Option<HashMap<String, f32>>,
}

/// A deadline that has passed and is still unmet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueFacts {
    pub case_no: String,
    pub county: String,
    pub department: Option<String>,
    /// `D1`..`D10`, `eval`, `supervision`, `task`.
    pub kind: String,
    pub due_at: DateTime<Utc>,
}

/// A 督办 issued in the week, or one still unanswered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionFacts {
    pub case_no: String,
    pub county: String,
    pub department: String,
    pub form: String,
    pub created_at: DateTime<Utc>,
    pub respond_by: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
}

/// A milestone of a listed matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MilestoneFacts {
    pub name: String,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

/// A listed matter's weekly progress entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressFacts {
    pub who: String,
    pub done: String,
    pub next_step: String,
    pub due: Option<NaiveDate>,
}

/// A listed matter open during the week (or closed in it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedFacts {
    pub case_no: String,
    pub county: String,
    pub source: String,
    pub title: String,
    pub listed_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub milestones: Vec<MilestoneFacts>,
    /// The entry for the report's week, if one was made.
    pub progress: Option<ProgressFacts>,
}

/// Lawyers' and counsellors' participation in the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AdviserFigures {
    pub lawyers_participations: i64,
    pub counsellors_participations: i64,
    pub advice_entries: i64,
    pub conferences_held: i64,
}

/// Everything one report is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct WeekData {
    /// The report's division: a county, or the city for the whole deployment.
    pub county: String,
    /// The city's report: every served county's matters.
    pub whole_deployment: bool,
    pub week: IsoWeek,
    pub generated_at: DateTime<Utc>,
    /// Matters registered in the week, the previous week and the same week last year.
    pub this_week: Vec<CaseFacts>,
    pub previous_week: Vec<CaseFacts>,
    pub last_year: Vec<CaseFacts>,
    /// Overdue now (at `generated_at`).
    pub overdue: Vec<OverdueFacts>,
    pub supervisions: Vec<SupervisionFacts>,
    pub listed: Vec<ListedFacts>,
    pub advisers: AdviserFigures,
}

/// The tunables.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportRules {
    /// Two petitions are similar at this weighted overlap or more
    /// (default: the repeat check's text-only threshold).
    pub similarity: f32,
    /// A topic has at least this many matters ...
    pub topic_min_cases: usize,
    /// ... from at least this many different petitioners.
    pub topic_min_petitioners: usize,
    /// Topics shown, largest first.
    pub max_topics: usize,
    /// A group petition has at least this many people.
    pub group_min: i32,
}

impl Default for ReportRules {
    fn default() -> Self {
        Self {
            similarity: crate::repeat::Thresholds::default().any,
            topic_min_cases: 3,
            topic_min_petitioners: 2,
            max_topics: 10,
            group_min: 5,
        }
    }
}

impl ReportRules {
    /// Errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), ValidationError> {
        if !(self.similarity > 0.0 && self.similarity <= 1.0) {
            return Err(ValidationError::new(
                format!("{prefix}.similarity"),
                "range",
                "must be in (0, 1]",
            ));
        }
        if self.topic_min_cases < 2 {
            return Err(ValidationError::new(
                format!("{prefix}.topic_min_cases"),
                "range",
                "must be at least 2",
            ));
        }
        if self.topic_min_petitioners < 1 {
            return Err(ValidationError::new(
                format!("{prefix}.topic_min_petitioners"),
                "range",
                "must be at least 1",
            ));
        }
        if self.group_min < 2 {
            return Err(ValidationError::new(
                format!("{prefix}.group_min"),
                "range",
                "must be at least 2",
            ));
        }
        Ok(())
    }
}

// ---- figures ----------------------------------------------------------------------------

/// A count this week, the previous week and the same week last year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Count3 {
    pub this_week: i64,
    pub previous_week: i64,
    pub same_week_last_year: i64,
}

impl Count3 {
    /// Change against the previous week, as a fraction; `None` from zero.
    pub fn vs_previous(&self) -> Option<f64> {
        change(self.this_week, self.previous_week)
    }

    pub fn vs_last_year(&self) -> Option<f64> {
        change(self.this_week, self.same_week_last_year)
    }
}

fn change(now: i64, before: i64) -> Option<f64> {
    (before > 0).then(|| (now - before) as f64 / before as f64)
}

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub key: String,
    #[serde(flatten)]
    pub count: Count3,
}

/// A cluster of similar petitions of the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub size: usize,
    /// Different petitioners among them.
    pub petitioners: usize,
    /// The heaviest words over the cluster, heaviest first.
    pub words: Vec<String>,
    pub cases: Vec<String>,
    /// Matters of the previous week similar to one of the cluster's.
    pub previous_week_similar: usize,
    /// More this week than similar ones the week before.
    pub rising: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRef {
    pub case_no: String,
    pub county: String,
    pub department: Option<String>,
    pub town: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// People in the petition (group petitions).
    pub group_size: i32,
}

impl CaseRef {
    fn of(c: &CaseFacts, department: Option<String>) -> Self {
        Self {
            case_no: c.case_no.clone(),
            county: c.county.clone(),
            department,
            town: c.town.clone(),
            registered_at: c.registered_at,
            group_size: c.group_size,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFigures {
    /// Group petitions (at least `group_min` people).
    pub cases: Count3,
    /// People in this week's group petitions.
    pub people: i64,
    pub list: Vec<CaseRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatPetitioner {
    /// A short form of the keyed hash (never the identity).
    pub petitioner: String,
    /// This week's matters of the petitioner.
    pub cases: Vec<String>,
    /// How many of them intake linked to an earlier matter.
    pub linked: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatFigures {
    /// Matters intake linked to an earlier one (重复件).
    pub repeat_cases: Count3,
    /// Petitioners with two or more matters in the week, or a linked repeat.
    pub petitioners: Vec<RepeatPetitioner>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeapfrogFigures {
    pub cases: Count3,
    pub list: Vec<CaseRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueItem {
    pub case_no: String,
    pub department: Option<String>,
    pub kind: String,
    pub due_at: DateTime<Utc>,
    /// Whole days past due at generation.
    pub days_over: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionItem {
    pub case_no: String,
    pub department: String,
    pub form: String,
    pub created_at: DateTime<Utc>,
    pub respond_by: DateTime<Utc>,
    pub responded: bool,
    pub in_week: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionFigures {
    /// Issued in the week.
    pub issued: i64,
    /// Not answered at generation.
    pub open: i64,
    pub list: Vec<SupervisionItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedItem {
    pub case_no: String,
    pub source: String,
    pub title: String,
    pub closed: bool,
    pub milestones: usize,
    pub milestones_done: usize,
    /// Past due (at generation) and not done.
    pub milestones_overdue: usize,
    /// The next milestone not done: name and due time.
    pub next_milestone: Option<(String, DateTime<Utc>)>,
    pub progress: Option<ProgressFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedFigures {
    pub open: i64,
    pub closed_in_week: i64,
    pub with_overdue_milestones: i64,
    /// Matters with a progress entry for the week.
    pub reported: i64,
    pub list: Vec<ListedItem>,
}

/// The report's figures (stored as JSON, rendered as HTML and CSV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub county: String,
    pub whole_deployment: bool,
    pub week: IsoWeek,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub previous_week: IsoWeek,
    pub same_week_last_year: IsoWeek,
    pub generated_at: DateTime<Utc>,
    /// Generated after the week ended (a report of the running week is partial).
    pub complete: bool,
    pub total: Count3,
    pub by_channel: Vec<Line>,
    pub by_type: Vec<Line>,
    pub by_department: Vec<Line>,
    pub by_town: Vec<Line>,
    pub by_source: Vec<Line>,
    pub listed_registered: Count3,
    pub topics: Vec<Topic>,
    pub groups: GroupFigures,
    pub repeats: RepeatFigures,
    pub leapfrog: LeapfrogFigures,
    pub overdue: Vec<OverdueItem>,
    pub supervisions: SupervisionFigures,
    pub listed: ListedFigures,
    pub advisers: AdviserFigures,
}

/// The key of a matter without the field (no channel, no town, ...).
pub const UNKNOWN: &str = "unknown";

/// How a case's lead unit is keyed: in the city's report every organ is qualified with its
/// county (`411202:rsj`), in a county's report its own departments are plain codes.
pub fn department_key(whole_deployment: bool, c: &CaseFacts) -> Option<String> {
    let d = c.department.as_deref().filter(|d| !d.is_empty())?;
    Some(if whole_deployment && !d.contains(':') {
        format!("{}:{d}", c.county)
    } else {
        d.to_owned()
    })
}

fn breakdown(data: &WeekData, key: impl Fn(&CaseFacts) -> Option<String>) -> Vec<Line> {
    let mut map: BTreeMap<String, Count3> = BTreeMap::new();
    let k = |c: &CaseFacts| key(c).unwrap_or_else(|| UNKNOWN.to_owned());
    for c in &data.this_week {
        map.entry(k(c)).or_default().this_week += 1;
    }
    for c in &data.previous_week {
        map.entry(k(c)).or_default().previous_week += 1;
    }
    for c in &data.last_year {
        map.entry(k(c)).or_default().same_week_last_year += 1;
    }
    let mut lines: Vec<Line> = map
        .into_iter()
        .map(|(key, count)| Line { key, count })
        .collect();
    // Busiest first; `unknown` last among equals.
    lines.sort_by(|a, b| {
        b.count
            .this_week
            .cmp(&a.count.this_week)
            .then(b.count.previous_week.cmp(&a.count.previous_week))
            .then((a.key == UNKNOWN).cmp(&(b.key == UNKNOWN)))
            .then(a.key.cmp(&b.key))
    });
    lines
}

fn count3(data: &WeekData, f: impl Fn(&CaseFacts) -> bool) -> Count3 {
    Count3 {
        this_week: data.this_week.iter().filter(|c| f(c)).count() as i64,
        previous_week: data.previous_week.iter().filter(|c| f(c)).count() as i64,
        same_week_last_year: data.last_year.iter().filter(|c| f(c)).count() as i64,
    }
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The petitioner a matter counts for: its key, else the matter itself (unknown petitioners
/// are never taken for one another).
fn petitioner_of(c: &CaseFacts) -> String {
    nonempty(&c.petitioner_key).unwrap_or_else(|| format!("case:{}", c.case_no))
}

/// A short, stable form of a petitioner key for display.
pub fn short_key(key: &str) -> String {
    key.chars().take(12).collect()
}

/// Computes the report.
pub fn compute(data: &WeekData, rules: &ReportRules) -> Figures {
    let whole = data.whole_deployment;
    let total = count3(data, |_| true);
    let by_channel = breakdown(data, |c| nonempty(&c.channel));
    let by_type = breakdown(data, |c| nonempty(&c.petition_type));
    let by_department = breakdown(data, |c| department_key(whole, c));
    let by_town = breakdown(data, |c| nonempty(&c.town));
    let by_source = breakdown(data, |c| Some(c.source.clone()).filter(|s| !s.is_empty()));
    let listed_registered = count3(data, |c| c.listed);

    let mut this_week: Vec<&CaseFacts> = data.this_week.iter().collect();
    this_week.sort_by(|a, b| {
        a.registered_at
            .cmp(&b.registered_at)
            .then(a.case_no.cmp(&b.case_no))
    });

    let group_of = |c: &CaseFacts| c.group_size >= rules.group_min;
    let group_list: Vec<CaseRef> = this_week
        .iter()
        .filter(|c| group_of(c))
        .map(|c| CaseRef::of(c, department_key(whole, c)))
        .collect();
    let groups = GroupFigures {
        cases: count3(data, group_of),
        people: group_list.iter().map(|g| i64::from(g.group_size)).sum(),
        list: group_list,
    };

    let mut by_petitioner: BTreeMap<String, Vec<&CaseFacts>> = BTreeMap::new();
    for c in &this_week {
        by_petitioner.entry(petitioner_of(c)).or_default().push(c);
    }
    let mut petitioners: Vec<RepeatPetitioner> = by_petitioner
        .iter()
        .filter(|(_, cases)| cases.len() >= 2 || cases.iter().any(|c| c.is_repeat))
        .map(|(key, cases)| RepeatPetitioner {
            petitioner: key
                .strip_prefix("case:")
                .map(|_| "—".to_owned())
                .unwrap_or_else(|| short_key(key)),
            cases: cases.iter().map(|c| c.case_no.clone()).collect(),
            linked: cases.iter().filter(|c| c.is_repeat).count(),
        })
        .collect();
    petitioners.sort_by(|a, b| {
        b.cases
            .len()
            .cmp(&a.cases.len())
            .then(a.cases.cmp(&b.cases))
    });
    let repeats = RepeatFigures {
        repeat_cases: count3(data, |c| c.is_repeat),
        petitioners,
    };

    let leapfrog = LeapfrogFigures {
        cases: count3(data, |c| c.leapfrog),
        list: this_week
            .iter()
            .filter(|c| c.leapfrog)
            .map(|c| CaseRef::of(c, department_key(whole, c)))
            .collect(),
    };

    let topics = topics(&this_week, &data.previous_week, rules);

    let now = data.generated_at;
    let mut overdue: Vec<OverdueItem> = data
        .overdue
        .iter()
        .map(|o| OverdueItem {
            case_no: o.case_no.clone(),
            department: o.department.as_ref().map(|d| {
                if whole && !d.contains(':') {
                    format!("{}:{d}", o.county)
                } else {
                    d.clone()
                }
            }),
            kind: o.kind.clone(),
            due_at: o.due_at,
            days_over: (now - o.due_at).num_days().max(0),
        })
        .collect();
    overdue.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.case_no.cmp(&b.case_no)));

    let week = data.week;
    let mut sup_list: Vec<SupervisionItem> = data
        .supervisions
        .iter()
        .filter(|s| week.contains(s.created_at) || s.responded_at.is_none_or(|r| r > now))
        .map(|s| SupervisionItem {
            case_no: s.case_no.clone(),
            department: if whole && !s.department.contains(':') {
                format!("{}:{}", s.county, s.department)
            } else {
                s.department.clone()
            },
            form: s.form.clone(),
            created_at: s.created_at,
            respond_by: s.respond_by,
            responded: s.responded_at.is_some_and(|r| r <= now),
            in_week: week.contains(s.created_at),
        })
        .collect();
    sup_list.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.case_no.cmp(&b.case_no))
    });
    let supervisions = SupervisionFigures {
        issued: sup_list.iter().filter(|s| s.in_week).count() as i64,
        open: sup_list.iter().filter(|s| !s.responded).count() as i64,
        list: sup_list,
    };

    let mut listed_list: Vec<ListedItem> = data
        .listed
        .iter()
        .map(|l| {
            let mut ms: Vec<&MilestoneFacts> = l.milestones.iter().collect();
            ms.sort_by_key(|m| m.due_at);
            let done = |m: &MilestoneFacts| m.done_at.is_some_and(|d| d <= now);
            ListedItem {
                case_no: l.case_no.clone(),
                source: l.source.clone(),
                title: l.title.clone(),
                closed: l.closed_at.is_some_and(|c| c <= now),
                milestones: ms.len(),
                milestones_done: ms.iter().filter(|m| done(m)).count(),
                milestones_overdue: ms.iter().filter(|m| !done(m) && m.due_at < now).count(),
                next_milestone: ms
                    .iter()
                    .find(|m| !done(m))
                    .map(|m| (m.name.clone(), m.due_at)),
                progress: l.progress.clone(),
            }
        })
        .collect();
    listed_list.sort_by(|a, b| {
        a.closed
            .cmp(&b.closed)
            .then(b.milestones_overdue.cmp(&a.milestones_overdue))
            .then(a.case_no.cmp(&b.case_no))
    });
    let listed = ListedFigures {
        open: listed_list.iter().filter(|l| !l.closed).count() as i64,
        closed_in_week: data
            .listed
            .iter()
            .filter(|l| l.closed_at.is_some_and(|c| week.contains(c)))
            .count() as i64,
        with_overdue_milestones: listed_list
            .iter()
            .filter(|l| l.milestones_overdue > 0)
            .count() as i64,
        reported: listed_list.iter().filter(|l| l.progress.is_some()).count() as i64,
        list: listed_list,
    };

    Figures {
        county: data.county.clone(),
        whole_deployment: whole,
        week,
        from: week.monday(),
        to: week.sunday(),
        previous_week: week.previous(),
        same_week_last_year: week.same_week_last_year(),
        generated_at: now,
        complete: now >= week.end(),
        total,
        by_channel,
        by_type,
        by_department,
        by_town,
        by_source,
        listed_registered,
        topics,
        groups,
        repeats,
        leapfrog,
        overdue,
        supervisions,
        listed,
        advisers: data.advisers,
    }
}

// ---- topics -----------------------------------------------------------------------------

struct DisjointSets(Vec<usize>);

impl DisjointSets {
    fn find(&mut self, i: usize) -> usize {
        let mut root = i;
        while self.0[root] != root {
            root = self.0[root];
        }
        let mut cur = i;
        while self.0[cur] != root {
            let next = self.0[cur];
            self.0[cur] = root;
            cur = next;
        }
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index stays the root: clusters come out in registration order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0[hi] = lo;
        }
    }
}

fn words_of(c: &CaseFacts) -> Option<MatterWords> {
    let w = MatterWords::from_weights(c.matter_words.clone()?);
    (!w.is_empty()).then_some(w)
}

/// Pairs of items that share at least one word (only those can overlap), each once.
fn candidate_pairs(items: &[(usize, MatterWords)]) -> BTreeSet<(usize, usize)> {
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (pos, (_, w)) in items.iter().enumerate() {
        for word in w.weights().keys() {
            index.entry(word.as_str()).or_default().push(pos);
        }
    }
    let mut pairs = BTreeSet::new();
    for list in index.values() {
        for (n, a) in list.iter().enumerate() {
            for b in &list[n + 1..] {
                pairs.insert((*a.min(b), *a.max(b)));
            }
        }
    }
    pairs
}

/// Single-link clusters of the week's matters at `rules.similarity`, kept when they hold
/// `topic_min_cases` matters of `topic_min_petitioners` different petitioners; each with the
/// previous week's similar matters. `this_week` is in registration order.
pub fn topics(this_week: &[&CaseFacts], previous: &[CaseFacts], rules: &ReportRules) -> Vec<Topic> {
    let items: Vec<(usize, MatterWords)> = this_week
        .iter()
        .enumerate()
        .filter_map(|(i, c)| words_of(c).map(|w| (i, w)))
        .collect();
    let mut sets = DisjointSets((0..items.len()).collect());
    for (a, b) in candidate_pairs(&items) {
        if items[a].1.overlap(&items[b].1) >= rules.similarity {
            sets.union(a, b);
        }
    }
    let mut clusters: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for pos in 0..items.len() {
        let root = sets.find(pos);
        clusters.entry(root).or_default().push(pos);
    }
    let prev_words: Vec<MatterWords> = previous.iter().filter_map(words_of).collect();
    let mut out: Vec<Topic> = Vec::new();
    for members in clusters.into_values() {
        if members.len() < rules.topic_min_cases {
            continue;
        }
        let cases: Vec<&CaseFacts> = members.iter().map(|p| this_week[items[*p].0]).collect();
        let petitioners: BTreeSet<String> = cases.iter().map(|c| petitioner_of(c)).collect();
        if petitioners.len() < rules.topic_min_petitioners {
            continue;
        }
        let mut weight: HashMap<&str, f32> = HashMap::new();
        for p in &members {
            for (w, x) in items[*p].1.weights() {
                *weight.entry(w.as_str()).or_default() += x;
            }
        }
        let mut words: Vec<(&str, f32)> = weight.into_iter().collect();
        words.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let previous_week_similar = prev_words
            .iter()
            .filter(|pw| {
                members
                    .iter()
                    .any(|p| items[*p].1.overlap(pw) >= rules.similarity)
            })
            .count();
        out.push(Topic {
            size: members.len(),
            petitioners: petitioners.len(),
            words: words.iter().take(6).map(|(w, _)| (*w).to_owned()).collect(),
            cases: cases.iter().map(|c| c.case_no.clone()).collect(),
            previous_week_similar,
            rising: members.len() > previous_week_similar,
        });
    }
    out.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then(b.petitioners.cmp(&a.petitioners))
            .then(a.cases.cmp(&b.cases))
    });
    out.truncate(rules.max_topics);
    out
}

// ---- the event ---------------------------------------------------------------------------

/// The event type (and last subject token) of a generated weekly report:
/// `xf.<county>.report.weekly`.
pub const EVENT_KIND: &str = "weekly";

/// What `xf.<county>.report.weekly` carries: the rendered report, for notify to e-mail (the
/// HTML as the message, the CSV attached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportEvent {
    /// The report's division: a county, or the city (the whole deployment).
    pub county: String,
    pub week: IsoWeek,
    pub title: String,
    pub generated_at: DateTime<Utc>,
    pub complete: bool,
    pub html: String,
    pub csv: String,
    /// The attachment's file name, e.g. `weekly-411202-2026-W49.csv`.
    pub csv_name: String,
}

/// The attachment's file name.
pub fn csv_name(county: &str, week: IsoWeek) -> String {
    format!("weekly-{county}-{week}.csv")
}

// ---- labels and CSV ---------------------------------------------------------------------

/// Names for codes: counties, departments (plain codes of the report's county and
/// `<county>:<code>` of any), case sources. Channels and types are named by the domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels {
    pub counties: BTreeMap<String, String>,
    pub departments: BTreeMap<String, String>,
    pub sources: BTreeMap<String, String>,
}

/// The sections of a report, with what people call them.
pub const SECTIONS: &[(&str, &str)] = &[
    ("total", "登记总量"),
    ("channel", "按渠道"),
    ("type", "按类型"),
    ("department", "按责任单位"),
    ("town", "按乡镇（街道）"),
    ("source", "按来源"),
    ("topic", "上升苗头（相似信访事项）"),
    ("group", "集体访（5人以上）"),
    ("repeat", "重复信访人"),
    ("leapfrog", "越级访"),
    ("overdue", "超期未办"),
    ("supervision", "督办"),
    ("listed", "清单事项进展"),
    ("adviser", "律师、心理咨询师参与"),
];

impl Labels {
    pub fn county(&self, code: &str) -> String {
        self.counties
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }

    /// The name of a key of breakdown `section`.
    pub fn name(&self, section: &str, key: &str) -> String {
        if key == UNKNOWN {
            return "未记录".to_owned();
        }
        let found = match section {
            "channel" => crate::petition::Channel::parse(key)
                .ok()
                .map(|c| c.zh().to_owned()),
            "type" => crate::petition::PetitionType::parse(key)
                .ok()
                .map(|t| t.zh().to_owned()),
            "department" => self.departments.get(key).cloned(),
            "source" => self.sources.get(key).cloned(),
            _ => None,
        };
        found.unwrap_or_else(|| key.to_owned())
    }

    pub fn department(&self, key: Option<&str>) -> String {
        key.map(|k| self.name("department", k)).unwrap_or_default()
    }
}

/// The deadline kinds as people call them.
pub fn deadline_name(kind: &str) -> &str {
    match kind {
        "D1" => "登记受理（15日）",
        "D2" => "受理告知（15日）",
        "D3" => "责任单位受理（15日）",
        "D4" => "异议（5个工作日）",
        "D5" => "办理（60日）",
        "D6" => "延期办理（30日）",
        "D7" => "复查申请（30日）",
        "D8" => "复查决定（30日）",
        "D9" => "复核申请（30日）",
        "D10" => "复核决定（30日）",
        "eval" => "评价",
        "supervision" => "督办答复",
        "task" => "会审任务",
        other => other,
    }
}

/// The 督办 forms as people call them.
pub fn supervision_form_name(form: &str) -> &str {
    match form {
        "written_notice" => "书面督办",
        "summons" => "约谈督办",
        "on_site" => "现场督办",
        "joint" => "联合督办",
        "escalation" => "超期自动督办",
        other => other,
    }
}

/// The header of [`csv`].
pub const CSV_HEADER: &str = "section,key,name,this_week,previous_week,same_week_last_year,detail";

/// One CSV field: quoted when needed; text that a spreadsheet would take for a formula gets a
/// leading `'`.
fn field(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn cst_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&CST).format("%Y-%m-%d").to_string()
}

/// The report as CSV (UTF-8 with a byte-order mark, so spreadsheets read the Chinese; CRLF
/// line ends): one row per figure, `section` naming what it is (see [`SECTIONS`]); counts in
/// `this_week`, `previous_week`, `same_week_last_year`; lists in `detail`.
pub fn csv(f: &Figures, labels: &Labels) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    let mut row = |section: &str, key: &str, name: &str, c: [Option<i64>; 3], detail: &str| {
        let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        out.push_str(
            &[
                field(section),
                field(key),
                field(name),
                n(c[0]),
                n(c[1]),
                n(c[2]),
                field(detail),
            ]
            .join(","),
        );
        out.push_str("\r\n");
    };
    let three = |c: &Count3| {
        [
            Some(c.this_week),
            Some(c.previous_week),
            Some(c.same_week_last_year),
        ]
    };
    let one = |v: i64| [Some(v), None, None];
    row(
        "report",
        &f.county,
        &labels.county(&f.county),
        [None, None, None],
        &format!(
            "{} ({} – {}); compared with {} and {}{}",
            f.week,
            f.from,
            f.to,
            f.previous_week,
            f.same_week_last_year,
            if f.complete { "" } else { "; partial week" }
        ),
    );
    row("total", "registered", "登记总量", three(&f.total), "");
    for (section, lines) in [
        ("channel", &f.by_channel),
        ("type", &f.by_type),
        ("department", &f.by_department),
        ("town", &f.by_town),
        ("source", &f.by_source),
    ] {
        for l in lines {
            row(
                section,
                &l.key,
                &labels.name(section, &l.key),
                three(&l.count),
                "",
            );
        }
    }
    row(
        "total",
        "listed",
        "清单事项",
        three(&f.listed_registered),
        "",
    );
    for (i, t) in f.topics.iter().enumerate() {
        row(
            "topic",
            &format!("T{}", i + 1),
            &t.words.join("、"),
            [
                Some(t.size as i64),
                Some(t.previous_week_similar as i64),
                None,
            ],
            &format!(
                "petitioners={}; rising={}; cases={}",
                t.petitioners,
                if t.rising { "yes" } else { "no" },
                t.cases.join(" ")
            ),
        );
    }
    row("total", "group", "集体访", three(&f.groups.cases), "");
    row(
        "total",
        "group_people",
        "集体访人数",
        one(f.groups.people),
        "",
    );
    for g in &f.groups.list {
        row(
            "group",
            &g.case_no,
            &labels.department(g.department.as_deref()),
            one(i64::from(g.group_size)),
            g.town.as_deref().unwrap_or_default(),
        );
    }
    row(
        "total",
        "repeat",
        "重复件",
        three(&f.repeats.repeat_cases),
        "",
    );
    for p in &f.repeats.petitioners {
        row(
            "repeat",
            &p.petitioner,
            "",
            one(p.cases.len() as i64),
            &format!("linked={}; cases={}", p.linked, p.cases.join(" ")),
        );
    }
    row("total", "leapfrog", "越级访", three(&f.leapfrog.cases), "");
    for c in &f.leapfrog.list {
        row(
            "leapfrog",
            &c.case_no,
            &labels.department(c.department.as_deref()),
            [None, None, None],
            &cst_day(c.registered_at),
        );
    }
    row(
        "total",
        "overdue",
        "超期未办",
        one(f.overdue.len() as i64),
        "",
    );
    for o in &f.overdue {
        row(
            "overdue",
            &o.case_no,
            &labels.department(o.department.as_deref()),
            one(o.days_over),
            &format!("{}; due {}", deadline_name(&o.kind), cst_day(o.due_at)),
        );
    }
    row(
        "total",
        "supervision_issued",
        "本周督办",
        one(f.supervisions.issued),
        "",
    );
    row(
        "total",
        "supervision_open",
        "未答复督办",
        one(f.supervisions.open),
        "",
    );
    for s in &f.supervisions.list {
        row(
            "supervision",
            &s.case_no,
            &labels.department(Some(&s.department)),
            [None, None, None],
            &format!(
                "{}; issued {}; respond by {}; {}",
                supervision_form_name(&s.form),
                cst_day(s.created_at),
                cst_day(s.respond_by),
                if s.responded { "answered" } else { "open" }
            ),
        );
    }
    row(
        "total",
        "listed_open",
        "在办清单事项",
        one(f.listed.open),
        "",
    );
    row(
        "total",
        "listed_closed",
        "本周办结清单事项",
        one(f.listed.closed_in_week),
        "",
    );
    row(
        "total",
        "listed_overdue_milestones",
        "节点逾期清单事项",
        one(f.listed.with_overdue_milestones),
        "",
    );
    row(
        "total",
        "listed_reported",
        "本周报送进展",
        one(f.listed.reported),
        "",
    );
    for l in &f.listed.list {
        let progress = l
            .progress
            .as_ref()
            .map(|p| format!("; done: {}; next: {}", p.done, p.next_step))
            .unwrap_or_default();
        row(
            "listed",
            &l.case_no,
            &l.title,
            [
                Some(l.milestones_done as i64),
                Some(l.milestones as i64),
                Some(l.milestones_overdue as i64),
            ],
            &format!(
                "source={}; {}{progress}",
                labels.name("source", &l.source),
                if l.closed { "closed" } else { "open" }
            ),
        );
    }
    let a = &f.advisers;
    for (key, name, v) in [
        (
            "lawyers_participations",
            "律师参与",
            a.lawyers_participations,
        ),
        (
            "counsellors_participations",
            "心理咨询师参与",
            a.counsellors_participations,
        ),
        ("advice_entries", "书面意见", a.advice_entries),
        ("conferences_held", "会审", a.conferences_held),
    ] {
        row("adviser", key, name, one(v), "");
    }
    out
}

/// Parses CSV as [`csv`] writes it (quoted fields, CRLF or LF, an optional byte-order mark):
/// for tools and tests.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                '"' => quoted = false,
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    cur.push(c)
                }
            }
            continue;
        }
        match ch {
            '"' if cur.is_empty() => quoted = true,
            '"' => return Err(format!("line {line}: quote inside an unquoted field")),
            ',' => row.push(std::mem::take(&mut cur)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut cur));
                rows.push(std::mem::take(&mut row));
                line += 1;
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(format!("line {line}: unterminated quote"));
    }
    if !cur.is_empty() || !row.is_empty() {
        row.push(cur);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weeks_parse_and_name_the_field() {
        let w = IsoWeek::parse("2026-W49").unwrap();
        assert_eq!((w.year(), w.week()), (2026, 49));
        assert_eq!(w.to_string(), "2026-W49");
        assert_eq!(IsoWeek::parse("2026w9").unwrap().to_string(), "2026-W09");
        assert_eq!(w.monday(), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(w.sunday(), NaiveDate::from_ymd_opt(2026, 12, 6).unwrap());
        for bad in [
            "",
            "2026",
            "2026-49",
            "2026-W",
            "2026-W0",
            "2026-W54",
            "26-W10",
            "2026-W1a",
            "2026-W123",
            "x2026-W10",
            "2025-W53",
        ] {
            let e = IsoWeek::parse(bad).unwrap_err();
            assert_eq!(e.field, "week", "{bad:?}");
        }
        // 2026 starts on a Thursday: it has 53 ISO weeks, 2025 has 52.
        assert_eq!((weeks_in(2026), weeks_in(2025)), (53, 52));
        assert!(IsoWeek::parse("2026-W53").is_ok());
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, "\"2026-W49\"");
        assert_eq!(serde_json::from_str::<IsoWeek>(&json).unwrap(), w);
    }

    #[test]
    fn weeks_run_monday_to_monday_in_china_time() {
        let w = IsoWeek::parse("2026-W10").unwrap();
        assert_eq!(w.start(), at("2026-03-02T00:00:00+08:00"));
        assert_eq!(w.end(), at("2026-03-09T00:00:00+08:00"));
        // Sunday 23:59 China time is still the week; Sunday 16:30 UTC is Monday in China.
        assert!(w.contains(at("2026-03-08T23:59:59+08:00")));
        assert!(!w.contains(at("2026-03-08T16:30:00Z")));
        assert_eq!(
            IsoWeek::containing(at("2026-03-08T16:30:00Z")).to_string(),
            "2026-W11"
        );
        assert_eq!(w.previous().to_string(), "2026-W09");
        assert_eq!(w.next().to_string(), "2026-W11");
        assert_eq!(
            IsoWeek::parse("2026-W01").unwrap().previous().to_string(),
            "2025-W52"
        );
        assert_eq!(w.same_week_last_year().to_string(), "2025-W10");
        // 2026-W53 exists; 2025 has 52 weeks.
        assert_eq!(
            IsoWeek::parse("2026-W53")
                .unwrap()
                .same_week_last_year()
                .to_string(),
            "2025-W52"
        );
        assert_eq!(
            IsoWeek::last_complete(at("2026-03-09T08:00:00+08:00")).to_string(),
            "2026-W10"
        );
    }

    fn words(list: &[(&str, f32)]) -> Option<HashMap<String, f32>> {
        Some(list.iter().map(|(w, x)| ((*w).to_owned(), *x)).collect())
    }

    fn case(n: u32, at_: &str, key: &str) -> CaseFacts {
        CaseFacts {
            case_no: format!("XF-411202-2026-{n:06}"),
            county: "411202".into(),
            registered_at: at(at_),
            channel: Some("visit".into()),
            petition_type: Some("grievance".into()),
            department: Some("rsj".into()),
            town: Some("湖滨街道".into()),
            source: "ordinary".into(),
            group_size: 1,
            petitioner_key: Some(key.into()),
            ..Default::default()
        }
    }

    fn wages() -> Option<HashMap<String, f32>> {
        words(&[("包工头", 2.0), ("拖欠", 1.5), ("工资", 1.2), ("请求", 0.1)])
    }

    fn data() -> WeekData {
        let week = IsoWeek::parse("2026-W10").unwrap();
        let mut this_week = Vec::new();
        // A topic: three petitioners about unpaid wages (one of them twice).
        for (n, key) in [(1, "pa"), (2, "pb"), (3, "pc"), (4, "pa")] {
            let mut c = case(n, "2026-03-03T10:00:00+08:00", key);
            c.matter_words = wages();
            this_week.push(c);
        }
        // Similar to one member only (single link joins it).
        let mut c = case(5, "2026-03-04T10:00:00+08:00", "pd");
        c.matter_words = words(&[("工资", 1.2), ("社保", 2.0), ("拖欠", 1.5)]);
        this_week.push(c);
        // Two about a lift, same petitioner: no topic (one petitioner).
        for n in [6, 7] {
            let mut c = case(n, "2026-03-05T10:00:00+08:00", "pe");
            c.matter_words = words(&[("电梯", 2.0), ("物业", 1.0)]);
            c.channel = Some("letter".into());
            c.department = Some("zjj".into());
            c.town = None;
            this_week.push(c);
        }
        // A group petition, leapfrog, a repeat.
        let mut g = case(8, "2026-03-06T10:00:00+08:00", "pf");
        g.group_size = 12;
        g.leapfrog = true;
        g.is_repeat = true;
        g.source = "superior".into();
        g.listed = true;
        this_week.push(g);
        let mut previous_week = vec![case(20, "2026-02-24T10:00:00+08:00", "px")];
        previous_week[0].matter_words = wages();
        previous_week.push(case(21, "2026-02-25T10:00:00+08:00", "py"));
        let last_year = vec![case(30, "2025-03-04T10:00:00+08:00", "pz")];
        WeekData {
            county: "411202".into(),
            whole_deployment: false,
            week,
            generated_at: at("2026-03-09T08:00:00+08:00"),
            this_week,
            previous_week,
            last_year,
            overdue: vec![OverdueFacts {
                case_no: "XF-411202-2026-000001".into(),
                county: "411202".into(),
                department: Some("rsj".into()),
                kind: "D3".into(),
                due_at: at("2026-03-06T23:59:59+08:00"),
            }],
            supervisions: vec![
                SupervisionFacts {
                    case_no: "XF-411202-2026-000002".into(),
                    county: "411202".into(),
                    department: "rsj".into(),
                    form: "written_notice".into(),
                    created_at: at("2026-03-04T09:00:00+08:00"),
                    respond_by: at("2026-03-10T17:00:00+08:00"),
                    responded_at: None,
                },
                SupervisionFacts {
                    case_no: "XF-411202-2026-000009".into(),
                    county: "411202".into(),
                    department: "zjj".into(),
                    form: "summons".into(),
                    created_at: at("2026-02-10T09:00:00+08:00"),
                    respond_by: at("2026-02-20T17:00:00+08:00"),
                    responded_at: None,
                },
            ],
            listed: vec![ListedFacts {
                case_no: "XF-411202-2026-000008".into(),
                county: "411202".into(),
                source: "superior".into(),
                title: "某小区, \"=SUM\" 欠薪".into(),
                listed_at: at("2026-03-06T10:00:00+08:00"),
                closed_at: None,
                milestones: vec![
                    MilestoneFacts {
                        name: "核查".into(),
                        due_at: at("2026-03-07T17:00:00+08:00"),
                        done_at: None,
                    },
                    MilestoneFacts {
                        name: "约谈".into(),
                        due_at: at("2026-03-20T17:00:00+08:00"),
                        done_at: None,
                    },
                ],
                progress: Some(ProgressFacts {
                    who: "张科长".into(),
                    done: "已核查".into(),
                    next_step: "约谈".into(),
                    due: None,
                }),
            }],
            advisers: AdviserFigures {
                lawyers_participations: 3,
                counsellors_participations: 1,
                advice_entries: 2,
                conferences_held: 1,
            },
        }
    }

    #[test]
    fn volumes_compare_with_the_previous_week_and_last_year() {
        let f = compute(&data(), &ReportRules::default());
        assert!(f.complete);
        assert_eq!(
            f.total,
            Count3 {
                this_week: 8,
                previous_week: 2,
                same_week_last_year: 1
            }
        );
        assert_eq!(f.total.vs_previous(), Some(3.0));
        let ch: Vec<(&str, i64)> = f
            .by_channel
            .iter()
            .map(|l| (l.key.as_str(), l.count.this_week))
            .collect();
        assert_eq!(ch, vec![("visit", 6), ("letter", 2)]);
        let town = f.by_town.iter().find(|l| l.key == UNKNOWN).unwrap();
        assert_eq!(town.count.this_week, 2);
        assert_eq!(f.by_town.last().unwrap().key, UNKNOWN);
        let rsj = f.by_department.iter().find(|l| l.key == "rsj").unwrap();
        assert_eq!(
            (
                rsj.count.this_week,
                rsj.count.previous_week,
                rsj.count.same_week_last_year
            ),
            (6, 2, 1)
        );
        assert_eq!(f.listed_registered.this_week, 1);
    }

    #[test]
    fn similar_petitions_of_several_petitioners_make_a_rising_topic() {
        let f = compute(&data(), &ReportRules::default());
        assert_eq!(f.topics.len(), 1, "{:?}", f.topics);
        let t = &f.topics[0];
        assert_eq!(t.size, 5);
        assert_eq!(t.petitioners, 4);
        assert_eq!(t.words[0], "包工头");
        assert_eq!(t.previous_week_similar, 1);
        assert!(t.rising);
        // Raising the bar on petitioners drops it; the lift pair never qualifies.
        let strict = ReportRules {
            topic_min_petitioners: 5,
            ..Default::default()
        };
        assert!(compute(&data(), &strict).topics.is_empty());
        let loose = ReportRules {
            topic_min_cases: 2,
            topic_min_petitioners: 1,
            ..Default::default()
        };
        assert_eq!(compute(&data(), &loose).topics.len(), 2);
    }

    #[test]
    fn groups_repeats_and_leapfrogs_are_listed() {
        let f = compute(&data(), &ReportRules::default());
        assert_eq!(f.groups.cases.this_week, 1);
        assert_eq!(f.groups.people, 12);
        assert_eq!(f.leapfrog.list.len(), 1);
        // pa twice, pe twice, pf a linked repeat.
        let keys: Vec<&str> = f
            .repeats
            .petitioners
            .iter()
            .map(|p| p.petitioner.as_str())
            .collect();
        assert_eq!(keys, vec!["pa", "pe", "pf"]);
        assert_eq!(f.repeats.repeat_cases.this_week, 1);
    }

    #[test]
    fn overdue_supervision_and_listed_progress() {
        let f = compute(&data(), &ReportRules::default());
        assert_eq!(f.overdue.len(), 1);
        assert_eq!(f.overdue[0].days_over, 2);
        assert_eq!(f.supervisions.issued, 1);
        assert_eq!(f.supervisions.open, 2);
        assert_eq!(f.listed.open, 1);
        assert_eq!(f.listed.with_overdue_milestones, 1);
        assert_eq!(f.listed.reported, 1);
        let l = &f.listed.list[0];
        assert_eq!(
            (l.milestones, l.milestones_done, l.milestones_overdue),
            (2, 0, 1)
        );
        assert_eq!(l.next_milestone.as_ref().unwrap().0, "核查");
    }

    #[test]
    fn the_city_report_qualifies_departments_with_their_county() {
        let mut d = data();
        d.whole_deployment = true;
        d.county = "411200".into();
        let f = compute(&d, &ReportRules::default());
        assert!(f.by_department.iter().any(|l| l.key == "411202:rsj"));
        assert_eq!(f.overdue[0].department.as_deref(), Some("411202:rsj"));
    }

    #[test]
    fn csv_round_trips_and_guards_formulas() {
        let f = compute(&data(), &ReportRules::default());
        let mut labels = Labels::default();
        labels.departments.insert("rsj".into(), "人社局".into());
        let text = csv(&f, &labels);
        assert!(text.starts_with('\u{feff}'));
        let rows = parse_csv(&text).unwrap();
        assert_eq!(rows[0].join(","), CSV_HEADER);
        assert!(rows.iter().all(|r| r.len() == 7), "{rows:?}");
        let get = |s: &str, k: &str| {
            rows.iter()
                .find(|r| r[0] == s && r[1] == k)
                .unwrap_or_else(|| panic!("{s} {k}"))
                .clone()
        };
        assert_eq!(get("total", "registered")[3..6], ["8", "2", "1"]);
        assert_eq!(get("department", "rsj")[2], "人社局");
        assert_eq!(get("channel", "visit")[2], "走访");
        assert_eq!(get("adviser", "lawyers_participations")[3], "3");
        let listed = get("listed", "XF-411202-2026-000008");
        assert_eq!(listed[2], "某小区, \"=SUM\" 欠薪");
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("a,b"), "\"a,b\"");
    }

    #[test]
    fn clusters_link_transitively_and_need_shared_words() {
        let mk = |n: u32, key: &str, w: &[(&str, f32)]| {
            let mut c = case(n, "2026-03-03T10:00:00+08:00", key);
            c.matter_words = words(w);
            c
        };
        // a~b and b~c but not a~c: one cluster (single link).
        let a = mk(1, "p1", &[("甲", 1.0), ("乙", 1.0)]);
        let b = mk(2, "p2", &[("乙", 1.0), ("丙", 1.0)]);
        let c = mk(3, "p3", &[("丙", 1.0), ("丁", 1.0)]);
        let e = mk(4, "p4", &[]);
        let all = [&a, &b, &c, &e];
        let rules = ReportRules {
            similarity: 0.5,
            ..Default::default()
        };
        let t = topics(&all, &[], &rules);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].size, 3);
        assert!(a.matter_words.is_some() && e.matter_words.is_some());
    }
}
