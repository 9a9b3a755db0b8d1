//! Monthly rollups of the KPI facts (migration 0012, issue #16 item 4): what a period's whole
//! past months contribute, read from `kpi_months` plus the deltas not folded in yet, and the
//! compactor that folds `kpi_deltas` into `kpi_months`.
//!
//! A fact that depends on the clock (a matter still open, and whether it is past its due time)
//! is never rolled up: it is counted from the rows, through partial indexes of the open ones.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use xinfang_domain::deadline::CST;
use xinfang_domain::deadline_plan::start_of_day;

use super::{Cell, DeadlineOutcomes, Grouping, Period, Tally, cell_keys};

/// How a period is counted: whole past months from the rollups, the other days from the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Day ranges (inclusive) counted from the rows.
    pub live: Vec<(NaiveDate, NaiveDate)>,
    /// First days of the first and the last month read from the rollups.
    pub rolled: Option<(NaiveDate, NaiveDate)>,
}

impl Split {
    /// Everything from the rows (a subset of the matters: the rollups do not know it).
    pub fn live(from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            live: vec![(from, to)],
            rolled: None,
        }
    }

    /// The whole months within `from..=to` that ended before the current month (China time),
    /// and the days around them. The current month stays live: facts still arrive in it.
    pub fn of(from: NaiveDate, to: NaiveDate, now: DateTime<Utc>) -> Self {
        let this_month = first_of_month(now.with_timezone(&CST).date_naive());
        let first = if from.day() == 1 {
            from
        } else {
            first_of_month(from) + Months::new(1)
        };
        let after_to = to + TimeDelta::days(1);
        // First day after the last whole month.
        let end = if after_to.day() == 1 {
            after_to
        } else {
            first_of_month(to)
        }
        .min(this_month);
        if first >= end {
            return Self::live(from, to);
        }
        let mut live = Vec::new();
        if from < first {
            live.push((from, first - TimeDelta::days(1)));
        }
        if end <= to {
            live.push((end, to));
        }
        Self {
            live,
            rolled: Some((first, end - Months::new(1))),
        }
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// Adds the months `first..=last` (first days) of `p`'s county and department to `cells`:
/// the rolled-up facts, and what is still open counted from the rows.
pub(super) async fn add(
    tx: &mut PgConnection,
    p: &Period,
    (first, last): (NaiveDate, NaiveDate),
    now: DateTime<Utc>,
    basically_satisfied_counts: bool,
    grouping: Grouping,
    cells: &mut BTreeMap<Cell, Tally>,
) -> sqlx::Result<()> {
    let county = p.county.as_deref();
    let dept = p.dept.as_deref();
    let (keys, group) = match grouping {
        Grouping::Whole => ("'', ''", "1, 2, 3"),
        Grouping::CountyMonth => ("county, to_char(month, 'YYYY-MM')", "1, 2, 3"),
    };
    let scope = "month >= $1 and month <= $2 and ($3::text is null or county = $3)
        and ($4::text is null or department = $4)";
    let q = format!(
        "select {keys}, fact, sum(n)::int8, sum(days)::float8
         from (select month, county, department, fact, n, days from kpi_months where {scope}
               union all
               select month, county, department, fact, n, days from kpi_deltas where {scope}) r
         group by {group}"
    );
    let rows: Vec<(String, String, String, i64, f64)> = sqlx::query_as(sqlx::AssertSqlSafe(q))
        .bind(first)
        .bind(last)
        .bind(county)
        .bind(dept)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, fact, n, days) in rows {
        let t = cells
            .entry(Cell {
                county: c,
                month: m,
            })
            .or_default();
        add_fact(t, &fact, n, days, basically_satisfied_counts);
    }

    // The clock-dependent counts of the same months, from the open rows only.
    let from = start_of_day(first).with_timezone(&Utc);
    let to = start_of_day(last + Months::new(1)).with_timezone(&Utc);
    let filter = "($3::text is null or county = $3) and ($4::text is null or department = $4)";
    let cell = |c: String, m: String| Cell {
        county: c,
        month: m,
    };
    let (k, g) = cell_keys(grouping, "registered_at");
    let q = format!(
        "select {k}, count(*) from cases
         where registered_at >= $1 and registered_at < $2 and disposed_at is null
           and d1_due is not null and d1_due < $5 and {filter}
         group by {g}"
    );
    let rows: Vec<(String, String, i64)> = bind_open(&q, from, to, county, dept, now)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, n) in rows {
        cells.entry(cell(c, m)).or_default().b_open += n;
    }
    let (k, g) = cell_keys(grouping, "assigned_at");
    let q = format!(
        "select {k}, count(*) from cases
         where assigned_at >= $1 and assigned_at < $2 and unit_answered_at is null
           and d3_due is not null and d3_due < $5 and {filter}
         group by {g}"
    );
    let rows: Vec<(String, String, i64)> = bind_open(&q, from, to, county, dept, now)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, n) in rows {
        cells.entry(cell(c, m)).or_default().u_open += n;
    }
    let (k, g) = cell_keys(grouping, "accepted_at");
    let q = format!(
        "select {k}, count(*) filter (where handling_due >= $5),
                count(*) filter (where handling_due < $5)
         from cases
         where accepted_at >= $1 and accepted_at < $2 and replied_at is null
           and handling_due is not null and {filter}
         group by {g}"
    );
    let rows: Vec<(String, String, i64, i64)> = bind_open(&q, from, to, county, dept, now)
        .fetch_all(&mut *tx)
        .await?;
    for (c, m, open, overdue) in rows {
        let t = cells.entry(cell(c, m)).or_default();
        t.c_open += open;
        t.c_overdue += overdue;
    }
    Ok(())
}

fn bind_open<'q, O>(
    q: &'q str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    county: Option<&'q str>,
    dept: Option<&'q str>,
    now: DateTime<Utc>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    sqlx::query_as(sqlx::AssertSqlSafe(q))
        .bind(from)
        .bind(to)
        .bind(county)
        .bind(dept)
        .bind(now)
}

/// One rolled-up fact (named as in `kpi_case_facts` and `kpi_deadlines_changed`) into a tally.
fn add_fact(t: &mut Tally, fact: &str, n: i64, days: f64, basically_satisfied_counts: bool) {
    match fact {
        "registered" => t.registered += n,
        "repeat" => t.repeats += n,
        "b_on" => t.b_on += n,
        "b_late" => t.b_late += n,
        "u_on" => t.u_on += n,
        "u_late" => t.u_late += n,
        "c_on" => t.c_on += n,
        "c_late" => t.c_late += n,
        "replied" => t.replied += n,
        "b_rated" => t.b_rated += n,
        "b_satisfied" => t.b_sat += n,
        "b_basically" if basically_satisfied_counts => t.b_sat += n,
        "u_rated" => t.u_rated += n,
        "u_satisfied" => t.u_sat += n,
        "u_basically" if basically_satisfied_counts => t.u_sat += n,
        "days" => {
            t.days_sum += days;
            t.days_n += n;
        }
        _ => {
            if let Some(rest) = fact.strip_prefix("diverted:") {
                let (when, channel) = rest.split_once(':').unwrap_or((rest, "unspecified"));
                let d = &mut t.diversions;
                if when == "after" {
                    d.after_acceptance += n;
                } else {
                    d.at_intake += n;
                }
                *d.by_channel.entry(channel.to_owned()).or_default() += n;
            } else if let Some(rest) = fact.strip_prefix("deadline:") {
                let Some((kind, state)) = rest.rsplit_once(':') else {
                    return;
                };
                let mut o = DeadlineOutcomes::none();
                match state {
                    "met" => o.met = n,
                    "met_late" => o.met_late = n,
                    "withdrawn" => o.withdrawn = n,
                    "fired" => o.missed = n,
                    "pending" | "paused" => o.open = n,
                    // Legacy `cancelled` rows count nowhere, as in the live query.
                    _ => return,
                }
                t.add_outcomes(kind.to_owned(), o);
            }
        }
    }
}

/// Folds up to `limit` deltas into the rollups; the number folded, or `None` when another
/// compactor is folding. One compactor at a time per schema (an advisory lock), so two never
/// upsert the same counters in another order.
pub async fn compact(pool: &PgPool, limit: i64) -> sqlx::Result<Option<u64>> {
    let mut tx = pool.begin().await?;
    let held: bool = sqlx::query_scalar(
        "select pg_try_advisory_xact_lock(hashtext(current_schema() || '.kpi'))",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !held {
        return Ok(None);
    }
    // The oldest `limit` deltas as a range up to a bound the sub-selects compute once. (As
    // `id in (select ... limit $1)` the statement kept a plan made while the table was empty,
    // a nested loop over both sides: 3 s to fold 3,000 deltas in `bench pipeline`.)
    let folded = sqlx::query(
        "with moved as (
            delete from kpi_deltas
            where id <= coalesce(
                (select id from kpi_deltas order by id offset $1 - 1 limit 1),
                (select max(id) from kpi_deltas))
            returning month, county, department, fact, n, days)
         insert into kpi_months (month, county, department, fact, n, days)
         select month, county, department, fact, sum(n), sum(days) from moved
         group by 1, 2, 3, 4
         on conflict (month, county, department, fact)
         do update set n = kpi_months.n + excluded.n, days = kpi_months.days + excluded.days",
    )
    .bind(limit.max(1))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(folded))
}

/// Rebuilds the rollups from `cases` and `deadlines` (after a bulk load with the triggers off).
pub async fn rebuild(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query("select kpi_rebuild()").execute(pool).await?;
    Ok(())
}

/// Deltas folded per round.
const BATCH: i64 = 50_000;

/// Folds deltas every `every` until `shutdown`.
pub async fn run(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = shutdown.cancelled() => break,
        }
        loop {
            match compact(&pool, BATCH).await {
                // A full round: more may be waiting.
                Ok(Some(n)) if n > 0 && !shutdown.is_cancelled() => continue,
                // Nothing left, or another compactor has it in hand.
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "folding KPI deltas failed; retrying next round");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn whole_past_months_are_rolled_up_and_the_rest_is_counted_live() {
        let now = at("2026-12-06T08:00:00+08:00");
        // A calendar year in the past: all rolled up.
        assert_eq!(
            Split::of(d("2025-01-01"), d("2025-12-31"), now),
            Split {
                live: vec![],
                rolled: Some((d("2025-01-01"), d("2025-12-01")))
            }
        );
        // Ragged ends: the partial months live.
        assert_eq!(
            Split::of(d("2025-01-15"), d("2025-06-10"), now),
            Split {
                live: vec![
                    (d("2025-01-15"), d("2025-01-31")),
                    (d("2025-06-01"), d("2025-06-10"))
                ],
                rolled: Some((d("2025-02-01"), d("2025-05-01")))
            }
        );
        // This year to date: the current month live.
        assert_eq!(
            Split::of(d("2026-01-01"), d("2026-12-06"), now),
            Split {
                live: vec![(d("2026-12-01"), d("2026-12-06"))],
                rolled: Some((d("2026-01-01"), d("2026-11-01")))
            }
        );
        // Within one month, or the current month: all live.
        assert_eq!(
            Split::of(d("2025-03-02"), d("2025-03-30"), now),
            Split::live(d("2025-03-02"), d("2025-03-30"))
        );
        assert_eq!(
            Split::of(d("2026-12-01"), d("2026-12-31"), now),
            Split::live(d("2026-12-01"), d("2026-12-31"))
        );
        // A month that ends on its last day is whole.
        assert_eq!(
            Split::of(d("2024-02-01"), d("2024-02-29"), now).rolled,
            Some((d("2024-02-01"), d("2024-02-01")))
        );
    }
}
