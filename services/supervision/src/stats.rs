//! KPIs of domain.md §11, per county, department and period, for the bureau (信访部门) and the
//! handling units (责任单位) separately. Computed from supervision's own projection (`cases`,
//! fed by case facts) and its deadline record, never from another service's tables.
//!
//! The period is `from`..=`to` in China-time calendar days. Each rate takes a cohort by the fact
//! that starts what it measures (registration, assignment, acceptance, reply), so a matter
//! counts in the period its clock started. The regulation defines none of these formulas
//! ([U]); these are the practice definitions the domain reference cites (S10, S28a, S28b).

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use xinfang_domain::deadline::CST;
use xinfang_domain::deadline_plan::start_of_day;
use xinfang_domain::validation::ValidationError;

pub mod rollup;

/// A ratio; `rate` is `None` when nothing was due (0/0 is no score, not 0 %).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub numerator: i64,
    pub denominator: i64,
    pub rate: Option<f64>,
}

impl Rate {
    pub fn new(numerator: i64, denominator: i64) -> Self {
        Self {
            numerator,
            denominator,
            rate: (denominator > 0).then(|| numerator as f64 / denominator as f64),
        }
    }
}

/// 及时受理率 (timely acceptance rate) with its buckets 及时受理 / 超期受理 / 超期未受理.
///
/// - Bureau: matters **registered** in the period; on time = first disposal (assigned, diverted,
///   refused or accepted) by the D1 deadline (15 days from receipt, Art 22).
/// - Handling unit: matters **assigned** to the unit in the period; on time = its answer
///   (acceptance notice, or an objection) by the D3 deadline (15 days, Art 23 para 3).
///
/// rate = on_time ÷ (on_time + late + overdue_open); matters still within their limit and
/// unanswered are not yet due and count nowhere (S28a `jssl/zs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimelyAcceptance {
    pub on_time: i64,
    pub late: i64,
    pub overdue_open: i64,
    pub rate: Rate,
}

/// 按期办结率 / 按期答复率 (on-time completion rate), handling units only: matters **accepted**
/// in the period that have a handling deadline (D5, or D6 after an extension).
///
/// rate = 按期答复 ÷ (按期答复 + 超期答复 + 未答复 + 超期未答复), exactly the practice formula
/// `aqdf/(aqdf+cqdf+wdf+cqwdf)` (S28a): replies on time, replies late, not replied and still
/// within the limit, not replied and past it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OnTimeCompletion {
    pub on_time: i64,
    pub late: i64,
    pub open: i64,
    pub overdue_open: i64,
    pub rate: Rate,
}

/// What the bureau is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BureauKpis {
    pub timely_acceptance: TimelyAcceptance,
    /// 参评率: matters whose reply was served in the period and that the petitioner rated
    /// (the bureau's rating) ÷ those matters (S10, S28b).
    pub participation: Rate,
    /// 满意率: satisfied ratings of the bureau ÷ ratings of the bureau submitted, for matters
    /// replied in the period. 基本满意 counts as satisfied unless
    /// `supervision.basically_satisfied_counts = false`.
    pub satisfaction: Rate,
    /// Overdue now: the bureau's D1 deadlines that have passed and are still not met (a
    /// snapshot at `as_of`, independent of the period).
    pub overdue_now: i64,
}

/// What the handling units (or the one department asked for) are judged on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnitKpis {
    pub timely_acceptance: TimelyAcceptance,
    pub on_time_completion: OnTimeCompletion,
    /// 参评率 for the unit's rating (see [`BureauKpis::participation`]).
    pub participation: Rate,
    /// 满意率 for the unit's rating (see [`BureauKpis::satisfaction`]).
    pub satisfaction: Rate,
    /// 办理时长: mean days from acceptance to the served reply, for matters replied in the
    /// period (S28b, days per matter).
    pub average_handling_days: Option<f64>,
    /// Overdue now: passed and unmet duty deadlines of departments and review organs (D3,
    /// D5/D6, D8, D10 and 督办 responses), a snapshot at `as_of`.
    pub overdue_now: i64,
}

/// How the clocks of one kind that started in the period stand, from their record states
/// (`xinfang_domain::deadline_state`): met on time, met late, withdrawn (made moot), passed and
/// still unmet (or made moot after passing), still running.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeadlineOutcomes {
    pub met: i64,
    pub met_late: i64,
    pub withdrawn: i64,
    /// Passed without the act (`fired`), whether still open or made moot later.
    pub missed: i64,
    /// Still running (pending or paused).
    pub open: i64,
    /// met ÷ (met + met_late + missed): withdrawn and running clocks count nowhere.
    pub on_time: Rate,
}

impl DeadlineOutcomes {
    /// No clock at all (the rate is no score).
    pub fn none() -> Self {
        Self {
            met: 0,
            met_late: 0,
            withdrawn: 0,
            missed: 0,
            open: 0,
            on_time: Rate::new(0, 0),
        }
    }
}

/// The KPI report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub county: Option<String>,
    pub department: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: DateTime<Utc>,
    /// Matters registered in the period.
    pub registered: i64,
    /// 重复件: matters registered in the period that intake linked to an earlier matter of the
    /// same petitioner (merged, not accepted or no longer accepted) (S10, S28b).
    pub repeats: i64,
    pub bureau: BureauKpis,
    pub unit: UnitKpis,
    /// Per deadline kind (`D1`..`D10`, `eval`, `supervision`), the clocks started in the period
    /// by how they ended (issue #20). Empty from servers of older releases.
    #[serde(default)]
    pub deadlines: std::collections::BTreeMap<String, DeadlineOutcomes>,
    /// 导入法定途径: matters diverted into a legal channel in the period. Zero from servers of
    /// older releases.
    #[serde(default)]
    pub diversions: Diversions,
}

/// Matters diverted into a legal channel (诉讼, 仲裁, 行政复议, …) in the period: by the bureau
/// at intake, and by the handling department after accepting them; per channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diversions {
    pub at_intake: i64,
    pub after_acceptance: i64,
    pub by_channel: std::collections::BTreeMap<String, i64>,
}

/// What to compute: all served counties when `county` is None; all departments when `dept`
/// is None. With `dept`, case-based figures cover the matters whose lead unit is `dept`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatsQuery {
    pub county: Option<String>,
    pub dept: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only matters from this source (`central_inspection`, …).
    #[serde(default)]
    pub source: Option<String>,
    /// `true`: only listed matters (清单).
    #[serde(default)]
    pub listed: Option<String>,
    /// Only the cases this leader owns (包案).
    #[serde(default)]
    pub leader: Option<String>,
}

/// A validated [`StatsQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub county: Option<String>,
    pub dept: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub subset: Subset,
}

/// Which matters the KPIs cover within the county and department: all by default, or one
/// source's, the listed ones, or one leader's (包案).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Subset {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub listed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

/// A slug-shaped query value (source code, leader id).
fn slug(field: &'static str, v: &Option<String>) -> Result<Option<String>, ValidationError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s)
            if s.len() <= 40
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            Ok(Some(s.to_owned()))
        }
        Some(_) => Err(ValidationError::new(
            field,
            "slug",
            "must be a code: at most 40 lowercase ASCII letters, digits or '_'",
        )),
    }
}

impl StatsQuery {
    /// Checks the query. Without dates the period is the current month up to today (China time).
    pub fn validate(
        &self,
        served: &[String],
        now: DateTime<Utc>,
    ) -> Result<Period, ValidationError> {
        let county = match self
            .county
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(c) => {
                xinfang_domain::county::CountyCode::parse(c)?;
                if !served.iter().any(|s| s == c) {
                    return Err(ValidationError::new(
                        "county",
                        "not_served",
                        "is not a county this deployment serves",
                    ));
                }
                Some(c.to_owned())
            }
        };
        let dept = match self
            .dept
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(d) => {
                if d.len() > 64
                    || !d.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':'
                    })
                {
                    return Err(ValidationError::new(
                        "dept",
                        "department_code",
                        "must be a department code: lowercase ASCII letters, digits, '_' or ':'",
                    ));
                }
                Some(d.to_owned())
            }
        };
        let today = now.with_timezone(&CST).date_naive();
        let date = |field: &'static str,
                    v: &Option<String>|
         -> Result<Option<NaiveDate>, ValidationError> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| {
                        ValidationError::new(field, "date", "must be a date in the form YYYY-MM-DD")
                    }),
            }
        };
        let to = date("to", &self.to)?.unwrap_or(today);
        let from = match date("from", &self.from)? {
            Some(f) => f,
            None => to.with_day0(0).unwrap_or(to),
        };
        if from > to {
            return Err(ValidationError::new(
                "from",
                "order",
                "must not be after `to`",
            ));
        }
        if (to - from).num_days() > 3660 {
            return Err(ValidationError::new(
                "from",
                "range",
                "the period may span at most ten years",
            ));
        }
        let listed = match self.listed.as_deref().map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ValidationError::new(
                    "listed",
                    "boolean",
                    "must be true or false",
                ));
            }
        };
        Ok(Period {
            county,
            dept,
            from,
            to,
            subset: Subset {
                source: slug("source", &self.source)?,
                listed,
                leader: slug("leader", &self.leader)?,
            },
        })
    }
}

/// Computes the KPIs at `now` (the service's clock).
pub async fn compute(
    pool: &PgPool,
    p: &Period,
    now: DateTime<Utc>,
    basically_satisfied_counts: bool,
) -> sqlx::Result<Kpis> {
    let mut cells =
        compute_grouped(pool, p, now, basically_satisfied_counts, Grouping::Whole).await?;
    let tally = cells.remove(&Cell::default()).unwrap_or_default();
    Ok(tally.kpis(p.county.clone(), p.dept.clone(), p.from, p.to, now))
}

/// How [`compute_grouped`] splits the period's matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One cell: the county (or all) of the period.
    Whole,
    /// One cell per county and China-time calendar month (each rate's cohort by the month of
    /// the fact that starts it), the county comparison's table in one pass over the period.
    CountyMonth,
}

/// A cell of [`compute_grouped`]: county and month (`YYYY-MM`), empty when not grouped by.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    pub county: String,
    pub month: String,
}

/// The raw counts of one cell; [`Tally::kpis`] makes the report.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    registered: i64,
    repeats: i64,
    b_on: i64,
    b_late: i64,
    b_open: i64,
    u_on: i64,
    u_late: i64,
    u_open: i64,
    c_on: i64,
    c_late: i64,
    c_open: i64,
    c_overdue: i64,
    replied: i64,
    b_rated: i64,
    b_sat: i64,
    u_rated: i64,
    u_sat: i64,
    /// Sum and count of the days from acceptance to the served reply (mean = sum ÷ count), so
    /// that months rolled up and days counted live add up.
    days_sum: f64,
    days_n: i64,
    b_overdue: i64,
    u_overdue: i64,
    deadlines: std::collections::BTreeMap<String, DeadlineOutcomes>,
    diversions: Diversions,
}

impl Tally {
    /// Adds one deadline kind's outcomes (the rate is recomputed from the sums).
    fn add_outcomes(&mut self, kind: String, o: DeadlineOutcomes) {
        let t = self
            .deadlines
            .entry(kind)
            .or_insert_with(DeadlineOutcomes::none);
        t.met += o.met;
        t.met_late += o.met_late;
        t.withdrawn += o.withdrawn;
        t.missed += o.missed;
        t.open += o.open;
        t.on_time = Rate::new(t.met, t.met + t.met_late + t.missed);
    }

    pub fn kpis(
        self,
        county: Option<String>,
        department: Option<String>,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Kpis {
        let t = self;
        Kpis {
            county,
            department,
            from,
            to,
            as_of: now,
            registered: t.registered,
            repeats: t.repeats,
            bureau: BureauKpis {
                timely_acceptance: TimelyAcceptance {
                    on_time: t.b_on,
                    late: t.b_late,
                    overdue_open: t.b_open,
                    rate: Rate::new(t.b_on, t.b_on + t.b_late + t.b_open),
                },
                participation: Rate::new(t.b_rated, t.replied),
                satisfaction: Rate::new(t.b_sat, t.b_rated),
                overdue_now: t.b_overdue,
            },
            unit: UnitKpis {
                timely_acceptance: TimelyAcceptance {
                    on_time: t.u_on,
                    late: t.u_late,
                    overdue_open: t.u_open,
                    rate: Rate::new(t.u_on, t.u_on + t.u_late + t.u_open),
                },
                on_time_completion: OnTimeCompletion {
                    on_time: t.c_on,
                    late: t.c_late,
                    open: t.c_open,
                    overdue_open: t.c_overdue,
                    rate: Rate::new(t.c_on, t.c_on + t.c_late + t.c_open + t.c_overdue),
                },
                participation: Rate::new(t.u_rated, t.replied),
                satisfaction: Rate::new(t.u_sat, t.u_rated),
                average_handling_days: (t.days_n > 0).then(|| t.days_sum / t.days_n as f64),
                overdue_now: t.u_overdue,
            },
            deadlines: t.deadlines,
            diversions: t.diversions,
        }
    }
}

/// The KPIs' raw counts per [`Cell`]: one pass of each query over the period, grouped by
/// county and month when asked. The overdue-now snapshot does not depend on the period; with
/// months it is the county's in every month's cell.
pub async fn compute_grouped(
    pool: &PgPool,
    p: &Period,
    now: DateTime<Utc>,
    basically_satisfied_counts: bool,
    grouping: Grouping,
) -> sqlx::Result<std::collections::BTreeMap<Cell, Tally>> {
    counted(
        pool,
        p,
        now,
        basically_satisfied_counts,
        grouping,
        Counting::Rollups,
    )
    .await
}

/// Where the KPIs' settled facts are counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Whole past months from the monthly rollups (what the API does).
    Rollups,
    /// Every figure from the rows (the reference the rollups are tested against).
    Rows,
}

/// [`compute`], with the settled facts counted as `counting` says.
pub async fn compute_counted(
    pool: &PgPool,
    p: &Period,
    now: DateTime<Utc>,
    basically_satisfied_counts: bool,
    counting: Counting,
) -> sqlx::Result<Kpis> {
    let mut cells = counted(
        pool,
        p,
        now,
        basically_satisfied_counts,
        Grouping::Whole,
        counting,
    )
    .await?;
    let tally = cells.remove(&Cell::default()).unwrap_or_default();
    Ok(tally.kpis(p.county.clone(), p.dept.clone(), p.from, p.to, now))
}

async fn counted(
    pool: &PgPool,
    p: &Period,
    now: DateTime<Utc>,
    basically_satisfied_counts: bool,
    grouping: Grouping,
    counting: Counting,
) -> sqlx::Result<std::collections::BTreeMap<Cell, Tally>> {
    use std::collections::BTreeMap;
    let mut cells: BTreeMap<Cell, Tally> = BTreeMap::new();
    // One snapshot for every figure, and plans for the actual filters: a cached generic plan
    // of `($3 is null or county = $3)` cannot know whether a county is asked for, and after
    // a few calls PostgreSQL switched to one (a county's year: 2.1 → 3.0 s on 10M cases).
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(
        "set transaction isolation level repeatable read, read only;
         set local plan_cache_mode = force_custom_plan",
    )
    .execute(&mut *tx)
    .await?;
    // Whole past months of all the matters come from the monthly rollups; the days around
    // them, the current month and a subset's matters are counted from the rows.
    let split = if p.subset == Subset::default() && counting == Counting::Rollups {
        rollup::Split::of(p.from, p.to, now)
    } else {
        rollup::Split::live(p.from, p.to)
    };
    for (from, to) in &split.live {
        live_period(
            &mut tx,
            p,
            *from,
            *to,
            now,
            basically_satisfied_counts,
            grouping,
            &mut cells,
        )
        .await?;
    }
    if let Some((first, last)) = split.rolled {
        rollup::add(
            &mut tx,
            p,
            (first, last),
            now,
            basically_satisfied_counts,
            grouping,
            &mut cells,
        )
        .await?;
    }

    let county = p.county.as_deref();
    let dept = p.dept.as_deref();
    let source = p.subset.source.as_deref();
    let listed = p.subset.listed;
    let leader = p.subset.leader.as_deref();
    let whole = source.is_none() && !listed && leader.is_none();
    let county_key = match grouping {
        Grouping::Whole => "''",
        Grouping::CountyMonth => "county",
    };
    let overdue: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {county_key},
                count(*) filter (where kind = 'D1'),
                count(*) filter (where kind in ('D3', 'D5', 'D6', 'D8', 'D10', 'supervision'))
         from deadlines
         where state = 'fired' and closed_at is null
           and ($1::text is null or county = $1) and ($2::text is null or department = $2)
           and {}
         group by 1",
        of_subset(3)
    )))
    .bind(county)
    .bind(dept)
    .bind(whole)
    .bind(source)
    .bind(listed)
    .bind(leader)
    .fetch_all(&mut *tx)
    .await?;

    // The snapshot, into every cell of its county (and the whole cell even when nothing else
    // happened in the period).
    for (c, b, u) in overdue {
        if grouping == Grouping::Whole {
            let t = cells.entry(Cell::default()).or_default();
            (t.b_overdue, t.u_overdue) = (b, u);
            continue;
        }
        for (_, t) in cells.iter_mut().filter(|(k, _)| k.county == c) {
            (t.b_overdue, t.u_overdue) = (b, u);
        }
    }
    tx.commit().await?;
    Ok(cells)
}

/// A subset's clocks are those of its cases; `$n` is where its four parameters start.
fn of_subset(n: usize) -> String {
    format!(
        "(${n}::bool or exists (select 1 from cases c where c.case_no = deadlines.case_no
        and (${a}::text is null or c.source = ${a}) and (${b}::bool is not true or c.listed)
        and (${c}::text is null or c.leader = ${c})))",
        a = n + 1,
        b = n + 2,
        c = n + 3
    )
}

/// The raw counts of the days `from_day..=to_day` (China time), counted from the rows, added
/// to `cells`: every figure but the overdue-now snapshot.
#[allow(clippy::too_many_arguments)]
async fn live_period(
    tx: &mut sqlx::PgConnection,
    p: &Period,
    from_day: NaiveDate,
    to_day: NaiveDate,
    now: DateTime<Utc>,
    basically_satisfied_counts: bool,
    grouping: Grouping,
    cells: &mut std::collections::BTreeMap<Cell, Tally>,
) -> sqlx::Result<()> {
    let from = start_of_day(from_day).with_timezone(&Utc);
    let to = (start_of_day(to_day) + TimeDelta::days(1)).with_timezone(&Utc);
    let county = p.county.as_deref();
    let dept = p.dept.as_deref();
    // $6..$8: the subset (source, listed, leader); every query binds them.
    let filter = "($3::text is null or county = $3) and ($4::text is null or department = $4)
        and ($6::text is null or source = $6) and ($7::bool is not true or listed)
        and ($8::text is null or leader = $8)";
    let source = p.subset.source.as_deref();
    let listed = p.subset.listed;
    let leader = p.subset.leader.as_deref();
    let whole = source.is_none() && !listed && leader.is_none();
    let keys = |column: &str| cell_keys(grouping, column);
    let cell = |c: String, m: String| Cell {
        county: c,
        month: m,
    };

    let q = format!(
        "select {},
                count(*),
                count(*) filter (where is_repeat),
                count(*) filter (where d1_due is not null and disposed_at <= d1_due),
                count(*) filter (where d1_due is not null and disposed_at > d1_due),
                count(*) filter (where d1_due is not null and disposed_at is null and d1_due < $5)
         from cases where registered_at >= $1 and registered_at < $2 and {filter}
         group by {}",
        keys("registered_at").0,
        keys("registered_at").1
    );
    let rows: Vec<(String, String, i64, i64, i64, i64, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(q))
            .bind(from)
            .bind(to)
            .bind(county)
            .bind(dept)
            .bind(now)
            .bind(source)
            .bind(listed)
            .bind(leader)
            .fetch_all(&mut *tx)
            .await?;
    for (c, m, registered, repeats, on, late, open) in rows {
        let t = cells.entry(cell(c, m)).or_default();
        t.registered += registered;
        t.repeats += repeats;
        t.b_on += on;
        t.b_late += late;
        t.b_open += open;
    }

    let q = format!(
        "select {},
                count(*) filter (where unit_answered_at <= d3_due),
                count(*) filter (where unit_answered_at > d3_due),
                count(*) filter (where unit_answered_at is null and d3_due < $5)
         from cases where assigned_at >= $1 and assigned_at < $2 and d3_due is not null and {filter}
         group by {}",
        keys("assigned_at").0,
        keys("assigned_at").1
    );
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(q))
        .bind(from)
        .bind(to)
        .bind(county)
        .bind(dept)
        .bind(now)
        .bind(source)
        .bind(listed)
        .bind(leader)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, on, late, open) in rows {
        let t = cells.entry(cell(c, m)).or_default();
        t.u_on += on;
        t.u_late += late;
        t.u_open += open;
    }

    let q = format!(
        "select {},
                count(*) filter (where replied_at <= handling_due),
                count(*) filter (where replied_at > handling_due),
                count(*) filter (where replied_at is null and handling_due >= $5),
                count(*) filter (where replied_at is null and handling_due < $5)
         from cases where accepted_at >= $1 and accepted_at < $2 and handling_due is not null and {filter}
         group by {}",
        keys("accepted_at").0,
        keys("accepted_at").1
    );
    let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(q))
        .bind(from)
        .bind(to)
        .bind(county)
        .bind(dept)
        .bind(now)
        .bind(source)
        .bind(listed)
        .bind(leader)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, on, late, open, overdue) in rows {
        let t = cells.entry(cell(c, m)).or_default();
        t.c_on += on;
        t.c_late += late;
        t.c_open += open;
        t.c_overdue += overdue;
    }

    let satisfied = if basically_satisfied_counts {
        "('satisfied', 'basically_satisfied')"
    } else {
        "('satisfied')"
    };
    let q = format!(
        "select {},
                count(*),
                count(*) filter (where bureau_rating is not null),
                count(*) filter (where bureau_rating in {satisfied}),
                count(*) filter (where unit_rating is not null),
                count(*) filter (where unit_rating in {satisfied}),
                coalesce(sum((served_on - accepted_on)::float8) filter (where accepted_on is not null and served_on is not null), 0),
                count(*) filter (where accepted_on is not null and served_on is not null)
         from cases where replied_at >= $1 and replied_at < $2 and replied_at <= $5 and {filter}
         group by {}",
        keys("replied_at").0,
        keys("replied_at").1
    );
    type Replied = (String, String, i64, i64, i64, i64, i64, f64, i64);
    let rows: Vec<Replied> = sqlx::query_as(sqlx::AssertSqlSafe(q))
        .bind(from)
        .bind(to)
        .bind(county)
        .bind(dept)
        .bind(now)
        .bind(source)
        .bind(listed)
        .bind(leader)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, replied, b_rated, b_sat, u_rated, u_sat, days_sum, days_n) in rows {
        let t = cells.entry(cell(c, m)).or_default();
        t.replied += replied;
        t.b_rated += b_rated;
        t.b_sat += b_sat;
        t.u_rated += u_rated;
        t.u_sat += u_sat;
        t.days_sum += days_sum;
        t.days_n += days_n;
    }

    // Cell, kind, then met, met late, withdrawn, missed, open.
    type Outcomes = (String, String, String, i64, i64, i64, i64, i64);
    let rows: Vec<Outcomes> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {}, kind,
                count(*) filter (where state = 'met'),
                count(*) filter (where state = 'met_late'),
                count(*) filter (where state = 'withdrawn'),
                count(*) filter (where state = 'fired'),
                count(*) filter (where state in ('pending', 'paused'))
         from deadlines
         where trigger_at >= $1 and trigger_at < $2
           and ($3::text is null or county = $3) and ($4::text is null or department = $4)
           and {}
         group by {}, kind",
        keys("trigger_at").0,
        of_subset(5),
        keys("trigger_at").1
    )))
    .bind(from)
    .bind(to)
    .bind(county)
    .bind(dept)
    .bind(whole)
    .bind(source)
    .bind(listed)
    .bind(leader)
    .fetch_all(&mut *tx)
    .await?;
    for (c, m, kind, met, met_late, withdrawn, missed, open) in rows {
        cells.entry(cell(c, m)).or_default().add_outcomes(
            kind,
            DeadlineOutcomes {
                met,
                met_late,
                withdrawn,
                missed,
                open,
                ..DeadlineOutcomes::none()
            },
        );
    }

    let channels: Vec<(String, String, Option<String>, bool, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {}, diversion, diverted_after_acceptance, count(*)
         from cases where diverted_at >= $1 and diverted_at < $2 and diverted_at <= $5 and {filter}
         group by {}, diversion, diverted_after_acceptance",
            keys("diverted_at").0,
            keys("diverted_at").1
        )))
        .bind(from)
        .bind(to)
        .bind(county)
        .bind(dept)
        .bind(now)
        .bind(source)
        .bind(listed)
        .bind(leader)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, channel, after, n) in channels {
        let d = &mut cells.entry(cell(c, m)).or_default().diversions;
        if after {
            d.after_acceptance += n;
        } else {
            d.at_intake += n;
        }
        *d.by_channel
            .entry(channel.unwrap_or_else(|| "unspecified".to_owned()))
            .or_default() += n;
    }

    Ok(())
}

/// The cell's key columns (select list, group by), by the column whose month places a row.
/// Rows are grouped by the truncated timestamp and only each group's key is formatted:
/// `to_char` on every row cost seconds over a city's year.
fn cell_keys(grouping: Grouping, column: &str) -> (String, String) {
    match grouping {
        Grouping::Whole => (
            "'' as county_key, '' as month_key".to_owned(),
            "1, 2".to_owned(),
        ),
        Grouping::CountyMonth => {
            let month = format!("date_trunc('month', {column} at time zone 'Asia/Shanghai')");
            (
                format!("county as county_key, to_char({month}, 'YYYY-MM') as month_key"),
                format!("county, {month}"),
            )
        }
    }
}

fn pct(r: &Rate) -> String {
    r.rate
        .map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// One line per figure: (scope, KPI, numerator, denominator, value).
fn lines(k: &Kpis) -> Vec<[String; 5]> {
    let rate = |scope: &str, name: &str, r: &Rate| {
        [
            scope.to_owned(),
            name.to_owned(),
            r.numerator.to_string(),
            r.denominator.to_string(),
            pct(r),
        ]
    };
    let count = |scope: &str, name: &str, n: i64| {
        [
            scope.to_owned(),
            name.to_owned(),
            n.to_string(),
            String::new(),
            n.to_string(),
        ]
    };
    vec![
        count("all", "registered 登记件数", k.registered),
        count("all", "repeats 重复件", k.repeats),
        rate(
            "bureau",
            "timely_acceptance 及时受理率",
            &k.bureau.timely_acceptance.rate,
        ),
        rate("bureau", "participation 参评率", &k.bureau.participation),
        rate("bureau", "satisfaction 满意率", &k.bureau.satisfaction),
        count("bureau", "overdue_now 当前超期", k.bureau.overdue_now),
        count(
            "bureau",
            "diverted 导入法定途径（登记时）",
            k.diversions.at_intake,
        ),
        count(
            "unit",
            "diverted 导入法定途径（受理后）",
            k.diversions.after_acceptance,
        ),
        rate(
            "unit",
            "timely_acceptance 及时受理率",
            &k.unit.timely_acceptance.rate,
        ),
        rate(
            "unit",
            "on_time_completion 按期办结率",
            &k.unit.on_time_completion.rate,
        ),
        rate("unit", "participation 参评率", &k.unit.participation),
        rate("unit", "satisfaction 满意率", &k.unit.satisfaction),
        [
            "unit".into(),
            "average_handling_days 平均办理天数".into(),
            String::new(),
            String::new(),
            k.unit
                .average_handling_days
                .map_or_else(|| "-".to_owned(), |d| format!("{d:.1}")),
        ],
        count("unit", "overdue_now 当前超期", k.unit.overdue_now),
    ]
}

/// A plain-text table for `xinfang stats`.
pub fn render_table(k: &Kpis) -> String {
    let mut out = format!(
        "KPIs {}..={} county={} dept={} (as of {})\n",
        k.from,
        k.to,
        k.county.as_deref().unwrap_or("all"),
        k.department.as_deref().unwrap_or("all"),
        k.as_of.with_timezone(&CST).format("%Y-%m-%d %H:%M"),
    );
    out.push_str(&format!(
        "{:<8} {:<36} {:>10} {:>12} {:>8}\n",
        "scope", "kpi", "numerator", "denominator", "value"
    ));
    for [scope, name, num, den, val] in lines(k) {
        out.push_str(&format!(
            "{scope:<8} {name:<36} {num:>10} {den:>12} {val:>8}\n"
        ));
    }
    if !k.deadlines.is_empty() {
        out.push_str(&format!(
            "\n{:<12} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8}\n",
            "deadline", "met", "met_late", "withdrawn", "missed", "open", "on_time"
        ));
        for (kind, d) in &k.deadlines {
            out.push_str(&format!(
                "{kind:<12} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8}\n",
                d.met,
                d.met_late,
                d.withdrawn,
                d.missed,
                d.open,
                pct(&d.on_time)
            ));
        }
    }
    out
}

/// CSV (header + one row per figure) for `xinfang stats --csv`.
pub fn render_csv(k: &Kpis) -> String {
    let mut out = String::from("county,dept,from,to,scope,kpi,numerator,denominator,value\n");
    let county = k.county.as_deref().unwrap_or("all");
    let dept = k.department.as_deref().unwrap_or("all");
    for [scope, name, num, den, val] in lines(k) {
        let kpi = name.split(' ').next().unwrap_or(&name).to_owned();
        let val = val.trim_end_matches('%');
        out.push_str(&format!(
            "{county},{dept},{},{},{scope},{kpi},{num},{den},{val}\n",
            k.from, k.to
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-15T04:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn rates_of_nothing_are_no_score() {
        assert_eq!(Rate::new(0, 0).rate, None);
        assert_eq!(Rate::new(1, 4).rate, Some(0.25));
    }

    #[test]
    fn queries_are_validated_field_by_field() {
        let served = vec!["411282".to_owned()];
        let p = StatsQuery::default().validate(&served, now()).unwrap();
        assert_eq!(p.from, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(p.to, NaiveDate::from_ymd_opt(2026, 3, 15).unwrap());
        let bad = |q: StatsQuery, field: &str| {
            let e = q.validate(&served, now()).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        };
        bad(
            StatsQuery {
                county: Some("411224".into()),
                ..Default::default()
            },
            "county",
        );
        bad(
            StatsQuery {
                county: Some("4112".into()),
                ..Default::default()
            },
            "county",
        );
        bad(
            StatsQuery {
                dept: Some("RSJ.*".into()),
                ..Default::default()
            },
            "dept",
        );
        bad(
            StatsQuery {
                from: Some("2026-13-01".into()),
                ..Default::default()
            },
            "from",
        );
        bad(
            StatsQuery {
                from: Some("2026-03-10".into()),
                to: Some("2026-03-01".into()),
                ..Default::default()
            },
            "from",
        );
        let p = StatsQuery {
            county: Some("411282".into()),
            dept: Some("rsj".into()),
            from: Some("2026-01-01".into()),
            to: Some("2026-01-31".into()),
            ..Default::default()
        }
        .validate(&served, now())
        .unwrap();
        assert_eq!(p.dept.as_deref(), Some("rsj"));
    }

    #[test]
    fn table_and_csv_carry_every_kpi() {
        let r = Rate::new(3, 4);
        let ta = TimelyAcceptance {
            on_time: 3,
            late: 1,
            overdue_open: 0,
            rate: r,
        };
        let k = Kpis {
            county: Some("411282".into()),
            department: None,
            from: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
            as_of: now(),
            registered: 5,
            repeats: 1,
            bureau: BureauKpis {
                timely_acceptance: ta,
                participation: r,
                satisfaction: r,
                overdue_now: 2,
            },
            unit: UnitKpis {
                timely_acceptance: ta,
                on_time_completion: OnTimeCompletion {
                    on_time: 3,
                    late: 0,
                    open: 1,
                    overdue_open: 0,
                    rate: r,
                },
                participation: r,
                satisfaction: Rate::new(0, 0),
                average_handling_days: Some(12.5),
                overdue_now: 0,
            },
            deadlines: [(
                "D5".to_owned(),
                DeadlineOutcomes {
                    met: 3,
                    met_late: 1,
                    withdrawn: 2,
                    missed: 0,
                    open: 1,
                    on_time: r,
                },
            )]
            .into_iter()
            .collect(),
            diversions: Diversions::default(),
        };
        let t = render_table(&k);
        assert!(
            t.lines()
                .any(|l| l.starts_with("D5") && l.ends_with("75.0%")),
            "{t}"
        );
        for needle in [
            "及时受理率",
            "按期办结率",
            "参评率",
            "满意率",
            "重复件",
            "导入法定途径",
            "75.0%",
            "12.5",
        ] {
            assert!(t.contains(needle), "{needle} missing from\n{t}");
        }
        let csv = render_csv(&k);
        // Header, eleven figures, two diversion counts, one deadline kind.
        assert_eq!(csv.lines().count(), 15);
        assert!(
            csv.contains(",unit,diverted,0,,0") && csv.contains(",bureau,diverted,0,,0"),
            "{csv}"
        );
        assert!(csv.contains("411282,all,2026-03-01,2026-03-31,unit,on_time_completion,3,4,75.0"));
        assert!(csv.contains("unit,satisfaction,0,0,-"));
    }
}
