//! `xinfang bench stats`: a registry's history (ten years by default) loaded into a scratch
//! database with COPY, then every KPI query the API and the console's dashboards run, timed
//! (issue #16 item 4):
//! - `GET /v1/stats` ([`stats::compute`]) for each year, for the city, each county, the
//!   busiest departments and one county's department, and for each of the last 12 months
//!   per county (the console's `/kpi` page);
//! - `GET /v1/stats/comparison` ([`comparison::compare`], 12 months × every county, the
//!   console's `/compare` page) as one call;
//! - `GET /v1/deadlines` ([`store::open_in_counties`], the supervisor's board) for the city,
//!   each county and a department.
//!
//! The migrations' secondary indexes are dropped for the load and built again after it (each
//! timed), then both tables are vacuumed and analysed, as a long-running registry would be.

mod history;

pub use history::Shape;

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;
use xinfang_platform::config::{Database, Loaded, Secret};

use crate::stats::{self, Period};
use crate::{comparison, store};

/// The target: every query answers within this.
pub const TARGET: Duration = Duration::from_secs(1);
/// Rows per COPY message.
const CHUNK: usize = 5_000;

pub struct Options {
    pub cases: usize,
    pub years: u32,
    pub keep_database: bool,
}

/// What the caller shows on a terminal.
pub enum Progress {
    Phase { message: String, len: Option<u64> },
    Position(u64),
}

/// One timed query family.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    pub runs: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
    /// The slowest call's parameters.
    pub slowest: String,
}

impl Group {
    pub fn met(&self) -> bool {
        self.max_ms <= TARGET.as_secs_f64() * 1000.0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cases: usize,
    pub deadlines: usize,
    pub years: u32,
    pub load_secs: f64,
    pub rows_per_second: f64,
    pub index_secs: Vec<(String, f64)>,
    pub vacuum_secs: f64,
    pub database_bytes: i64,
    pub groups: Vec<Group>,
}

impl Report {
    pub fn all_met(&self) -> bool {
        self.groups.iter().all(Group::met)
    }

    pub fn human(&self) -> String {
        let mut s = format!(
            "history: {} cases, {} deadlines over {} years; COPY {:.1} s ({:.0} rows/s); indexes {:.1} s; vacuum+analyze {:.1} s; database {:.1} GiB\n",
            self.cases,
            self.deadlines,
            self.years,
            self.load_secs,
            self.rows_per_second,
            self.index_secs.iter().map(|(_, s)| s).sum::<f64>(),
            self.vacuum_secs,
            self.database_bytes as f64 / (1u64 << 30) as f64,
        );
        s += &format!(
            "{:<44} {:>5} {:>9} {:>9}  target ≤ {} ms\n",
            "query",
            "runs",
            "p50 ms",
            "max ms",
            TARGET.as_millis()
        );
        for g in &self.groups {
            s += &format!(
                "{:<44} {:>5} {:>9.1} {:>9.1}  {} (slowest: {})\n",
                g.name,
                g.runs,
                g.p50_ms,
                g.max_ms,
                if g.met() { "met" } else { "NOT MET" },
                g.slowest
            );
        }
        s += if self.all_met() {
            "every KPI query within the target"
        } else {
            "some KPI queries over the target"
        };
        s
    }

    pub fn json_line(&self) -> String {
        serde_json::json!({
            "cases": self.cases,
            "deadlines": self.deadlines,
            "years": self.years,
            "load_secs": self.load_secs,
            "rows_per_second": self.rows_per_second,
            "vacuum_secs": self.vacuum_secs,
            "database_bytes": self.database_bytes,
            "max_ms": self.groups.iter().map(|g| g.max_ms).fold(0.0, f64::max),
            "all_met": self.all_met(),
            "groups": self.groups,
        })
        .to_string()
    }
}

/// Runs the benchmark on a scratch database next to the configured one; removes it after
/// unless `keep_database`.
pub async fn run(
    settings: &Loaded,
    opts: &Options,
    progress: impl Fn(Progress),
) -> anyhow::Result<Report> {
    let p = &settings.platform;
    let mut db = p.database.clone();
    let name = format!("xf_bench_stats_{}", uuid::Uuid::now_v7().simple());
    db.url = Secret::new(xinfang_platform::db::with_database(db.url.expose(), &name)?);
    db.create_if_missing = true;
    db.max_connections = 4;
    let result = bench(settings, &db, opts, &progress).await;
    if opts.keep_database {
        eprintln!("kept the scratch database {name} (schema supervision)");
    } else if let Err(e) = xinfang_platform::db::drop_database(&db).await {
        eprintln!("warning: could not drop the scratch database {name}: {e:#}");
    }
    result
}

async fn bench(
    settings: &Loaded,
    db: &Database,
    opts: &Options,
    progress: &impl Fn(Progress),
) -> anyhow::Result<Report> {
    let p = &settings.platform;
    let phase = |m: &str, len: Option<u64>| {
        progress(Progress::Phase {
            message: m.to_owned(),
            len,
        })
    };
    phase("migrating the scratch database", None);
    let pool = xinfang_platform::db::connect(db, crate::service::NAME).await?;
    xinfang_platform::db::migrate(&pool, crate::service::NAME, &crate::service::MIGRATOR).await?;
    let indexes = drop_secondary_indexes(&pool).await?;
    // Rolled up once after the load, as the migration does, not row by row during COPY.
    sqlx::raw_sql(
        "alter table cases disable trigger kpi_cases; alter table deadlines disable trigger kpi_deadlines_insert",
    )
    .execute(&pool)
    .await?;

    let end = Utc::now();
    let shape = history::Shape {
        n: opts.cases,
        counties: p.deployment.counties.clone(),
        departments: departments()?,
        start: end - TimeDelta::days(i64::from(opts.years) * 365),
        end,
    };
    anyhow::ensure!(
        !shape.counties.is_empty(),
        "deployment.counties is empty: nothing to spread the cases over"
    );
    phase(
        &format!("COPY {} cases and their deadlines", opts.cases),
        Some(opts.cases as u64),
    );
    let loaded = Instant::now();
    let (cases, deadlines) = copy_history(&pool, &shape, progress).await?;
    let load_secs = loaded.elapsed().as_secs_f64();

    let mut index_secs = Vec::new();
    for (name, def) in &indexes {
        phase(&format!("building index {name}"), None);
        let t = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(def.clone()))
            .execute(&pool)
            .await
            .with_context(|| format!("building {name}"))?;
        index_secs.push((name.clone(), t.elapsed().as_secs_f64()));
    }
    phase("rolling up the months", None);
    let t = Instant::now();
    crate::stats::rollup::rebuild(&pool).await?;
    sqlx::raw_sql(
        "alter table cases enable trigger kpi_cases; alter table deadlines enable trigger kpi_deadlines_insert",
    )
    .execute(&pool)
    .await?;
    index_secs.push(("kpi_months (rollup)".to_owned(), t.elapsed().as_secs_f64()));
    phase("vacuum (analyze)", None);
    let t = Instant::now();
    for table in ["cases", "deadlines", "kpi_months"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("vacuum (analyze) {table}")))
            .execute(&pool)
            .await?;
    }
    let vacuum_secs = t.elapsed().as_secs_f64();
    let database_bytes: i64 = sqlx::query_scalar("select pg_database_size(current_database())")
        .fetch_one(&pool)
        .await?;

    phase("timing the KPI queries", None);
    let groups = time_queries(&pool, settings, &shape, opts.years).await?;
    pool.close().await;
    Ok(Report {
        cases,
        deadlines,
        years: opts.years,
        load_secs,
        rows_per_second: (cases + deadlines) as f64 / load_secs.max(1e-9),
        index_secs,
        vacuum_secs,
        database_bytes,
        groups,
    })
}

/// Department codes of the bundled `departments.tsv`, the cases' handling units.
fn departments() -> anyhow::Result<Vec<String>> {
    let path = xinfang_platform::config::config_dir().join("departments.tsv");
    let tsv =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|c| !c.trim().is_empty())
        .map(str::to_owned)
        .collect())
}

/// Drops the secondary indexes of `cases` and `deadlines` (not the keys) and returns their
/// definitions, in order, to build again after the load.
async fn drop_secondary_indexes(pool: &PgPool) -> anyhow::Result<Vec<(String, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select i.indexname::text, i.indexdef::text from pg_indexes i
         where i.schemaname = current_schema() and i.tablename in ('cases', 'deadlines')
           and not exists (select 1 from pg_constraint c where c.conname = i.indexname)
         order by i.tablename, i.indexname",
    )
    .fetch_all(pool)
    .await?;
    for (name, _) in &rows {
        sqlx::query(sqlx::AssertSqlSafe(format!("drop index \"{name}\"")))
            .execute(pool)
            .await?;
    }
    Ok(rows)
}

/// Loads `shape`'s synthetic history into supervision's `cases` and `deadlines` on `pool`
/// (tests of the KPI queries use it too); the row counts.
pub async fn load_history(pool: &PgPool, shape: &Shape) -> anyhow::Result<(usize, usize)> {
    copy_history(pool, shape, &|_| {}).await
}

/// COPYs the cases and the deadlines on two connections at once; their row counts.
async fn copy_history(
    pool: &PgPool,
    shape: &history::Shape,
    progress: &impl Fn(Progress),
) -> anyhow::Result<(usize, usize)> {
    let cases = async {
        let mut copy = pool
            .copy_in_raw(&format!(
                "copy cases ({}) from stdin",
                history::CASE_COLUMNS
            ))
            .await?;
        let mut buf = String::with_capacity(CHUNK * 400);
        for start in (0..shape.n).step_by(CHUNK) {
            buf.clear();
            for i in start..(start + CHUNK).min(shape.n) {
                history::case_row(shape, i, &mut buf);
            }
            copy.send(buf.as_bytes()).await?;
            progress(Progress::Position((start + CHUNK).min(shape.n) as u64));
        }
        copy.finish().await?;
        anyhow::Ok(shape.n)
    };
    let deadlines = async {
        let mut copy = pool
            .copy_in_raw(&format!(
                "copy deadlines ({}) from stdin",
                history::DEADLINE_COLUMNS
            ))
            .await?;
        let mut buf = String::with_capacity(CHUNK * 3 * 250);
        let mut rows = 0;
        for start in (0..shape.n).step_by(CHUNK) {
            buf.clear();
            for i in start..(start + CHUNK).min(shape.n) {
                rows += history::deadline_rows(shape, i, &mut buf);
            }
            copy.send(buf.as_bytes()).await?;
        }
        copy.finish().await?;
        anyhow::Ok(rows)
    };
    let (c, d) = tokio::try_join!(cases, deadlines)?;
    Ok((c, d))
}

/// Timings of one family, with the label of each call.
struct Timings {
    name: String,
    runs: Vec<(f64, String)>,
}

impl Timings {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            runs: Vec::new(),
        }
    }

    async fn time<T, F>(&mut self, label: String, f: F) -> anyhow::Result<T>
    where
        F: Future<Output = sqlx::Result<T>>,
    {
        let t = Instant::now();
        let out = f.await?;
        self.runs.push((t.elapsed().as_secs_f64() * 1000.0, label));
        Ok(out)
    }

    fn group(mut self) -> Group {
        self.runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = self.runs.len();
        let (max_ms, slowest) = self.runs.last().cloned().unwrap_or_default();
        Group {
            name: self.name,
            runs: n,
            p50_ms: self.runs.get(n / 2).map_or(0.0, |r| r.0),
            max_ms,
            slowest,
        }
    }
}

fn year_period(year: i32, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let from = NaiveDate::from_ymd_opt(year, 1, 1)?;
    let to = NaiveDate::from_ymd_opt(year, 12, 31)?.min(today);
    Some((from, to))
}

async fn time_queries(
    pool: &PgPool,
    settings: &Loaded,
    shape: &history::Shape,
    years: u32,
) -> anyhow::Result<Vec<Group>> {
    let now = shape.end;
    let today = (now + TimeDelta::hours(8)).date_naive();
    let basically = settings
        .section::<crate::settings::SupervisionSettings>("supervision")
        .map(|s| s.basically_satisfied_counts)
        .unwrap_or(true);
    let counties = &shape.counties;
    let busiest: Vec<String> = sqlx::query_scalar(
        "select department from cases where department is not null
         group by 1 order by count(*) desc limit 3",
    )
    .fetch_all(pool)
    .await?;
    let period = |county: Option<&String>, dept: Option<&String>, from, to| Period {
        county: county.cloned(),
        dept: dept.cloned(),
        from,
        to,
        subset: Default::default(),
    };
    let first_year = today.year() - years as i32 + 1;
    let mut yearly = [
        Timings::new("/v1/stats per year: city"),
        Timings::new("/v1/stats per year: county"),
        Timings::new("/v1/stats per year: department (city)"),
        Timings::new("/v1/stats per year: county × department"),
    ];
    for year in first_year..=today.year() {
        let Some((from, to)) = year_period(year, today) else {
            continue;
        };
        let k = |p: Period| async move { stats::compute(pool, &p, now, basically).await };
        yearly[0]
            .time(format!("{year}"), k(period(None, None, from, to)))
            .await?;
        for c in counties {
            yearly[1]
                .time(format!("{year} {c}"), k(period(Some(c), None, from, to)))
                .await?;
        }
        for d in &busiest {
            yearly[2]
                .time(format!("{year} {d}"), k(period(None, Some(d), from, to)))
                .await?;
        }
        if let (Some(c), Some(d)) = (counties.get(1).or(counties.first()), busiest.first()) {
            yearly[3]
                .time(
                    format!("{year} {c} {d}"),
                    k(period(Some(c), Some(d), from, to)),
                )
                .await?;
        }
    }
    let mut monthly = Timings::new("/v1/stats per month × county (/kpi)");
    let months = comparison::months(today, 12);
    for (label, from, to) in &months {
        for c in counties {
            let p = period(Some(c), None, *from, *to);
            monthly
                .time(
                    format!("{label} {c}"),
                    stats::compute(pool, &p, now, basically),
                )
                .await?;
        }
    }
    let mut compare = Timings::new("/v1/stats/comparison, 12 months (/compare)");
    compare
        .time(
            format!("12 months × {} counties", counties.len()),
            comparison::compare(pool, counties, &months, now, basically),
        )
        .await?;
    let mut board = Timings::new("/v1/deadlines open board (limit 200)");
    let before = now + TimeDelta::days(3);
    board
        .time(
            "city".into(),
            store::open_in_counties(pool, counties, None, None, before, 200),
        )
        .await?;
    for c in counties {
        board
            .time(
                c.clone(),
                store::open_in_counties(pool, std::slice::from_ref(c), None, None, before, 200),
            )
            .await?;
    }
    if let (Some(c), Some(d)) = (counties.first(), busiest.first()) {
        let organ = format!("{c}:{d}");
        board
            .time(
                format!("{c} {d}"),
                store::open_in_counties(
                    pool,
                    std::slice::from_ref(c),
                    Some(d),
                    Some(&organ),
                    before,
                    200,
                ),
            )
            .await?;
    }
    let mut out: Vec<Group> = yearly.into_iter().map(Timings::group).collect();
    out.push(monthly.group());
    out.push(compare.group());
    out.push(board.group());
    Ok(out)
}
