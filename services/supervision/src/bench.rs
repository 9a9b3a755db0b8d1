//! `xinfang bench timers`: schedules N deadlines due across a short window and fires them with
//! the real timer loop, on a scratch database and a private Redis prefix (both removed after).
//!
//! Protocol (the BullMQ script in `infra/bench/bullmq/` follows the same one):
//! 1. `workers` timer loops start (each one is what a supervision instance runs).
//! 2. N deadlines are scheduled, due uniformly over `[T, T + window]` with `T = start + lead`:
//!    rows inserted with UNNEST (10,000 per statement) and indexed with pipelined ZADDs.
//!    schedule rate = N ÷ time to commit and index them all.
//! 3. Every deadline fires: claim (Lua), row lock and state check, mark fired and write its
//!    `deadline.overdue` event to the outbox, in one transaction per claimed batch.
//!    lag = commit time − due time; fire rate = N ÷ (last commit − T).
//! 4. fired_once: the loops counted N firings in total, N rows are fired and the outbox holds N
//!    distinct events — nothing fired twice, nothing was lost.
//!
//! The outbox relay does not run (no NATS is needed): publishing is asynchronous to firing and
//! measured by the platform's own relay figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use futures::StreamExt;
use serde::Serialize;
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::county::CountyCode;
use xinfang_platform::config::{Database, Loaded, Secret};

use crate::clock::Clock;
use crate::fire::{Engine, FireStats};
use crate::handlers::Rules;
use crate::settings::SupervisionSettings;
use crate::store::{self, NewDeadline};
use crate::timers::TimerIndex;
use xinfang_platform::directory::DirectoryHandle;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub n: usize,
    /// Spread of the due times; default N ÷ 50,000 s, at least 1 s.
    pub window_ms: Option<u64>,
    /// Time from start to the first due time; default 1 s + N ÷ 20,000 s (room for scheduling).
    pub lead_ms: Option<u64>,
    /// Timer loops (instances) firing side by side.
    pub workers: usize,
    /// Timers claimed and fired per transaction.
    pub claim_batch: usize,
}

impl BenchOptions {
    pub fn new(n: usize) -> Self {
        Self {
            n,
            window_ms: None,
            lead_ms: None,
            workers: 2,
            claim_batch: 2000,
        }
    }

    fn window(&self) -> u64 {
        self.window_ms
            .unwrap_or_else(|| (self.n as u64 / 50).max(1000))
    }

    fn lead(&self) -> u64 {
        self.lead_ms.unwrap_or(1000 + self.n as u64 / 20)
    }
}

/// The result; `--json` prints [`BenchReport::json_line`] as the last line.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub n: usize,
    pub schedule_per_second: f64,
    pub fire_per_second: f64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    pub fired_once: bool,
    pub window_ms: u64,
    pub lead_ms: u64,
    pub workers: usize,
    pub schedule_secs: f64,
    pub fire_secs: f64,
}

impl BenchReport {
    /// One JSON object with the keys `n, schedule_per_second, fire_per_second, lag_p50_ms,
    /// lag_p99_ms, lag_max_ms, fired_once` (and the run's parameters).
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn human(&self) -> String {
        format!(
            "timers: n={} workers={} window={}ms lead={}ms\n  schedule: {:.0}/s ({:.2}s)\n  fire:     {:.0}/s ({:.2}s after the first due time)\n  lag:      p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms\n  fired exactly once: {}",
            self.n,
            self.workers,
            self.window_ms,
            self.lead_ms,
            self.schedule_per_second,
            self.schedule_secs,
            self.fire_per_second,
            self.fire_secs,
            self.lag_p50_ms,
            self.lag_p99_ms,
            self.lag_max_ms,
            self.fired_once
        )
    }
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64
}

/// A scratch database on the configured server, dropped by [`Scratch::drop_db`].
struct Scratch {
    settings: Database,
    admin: PgConnectOptions,
    name: String,
}

impl Scratch {
    fn new(base: &Database, max_connections: u32) -> anyhow::Result<Self> {
        let opts: PgConnectOptions = base.url.expose().parse()?;
        let name = format!("xf_bench_{}", Uuid::now_v7().simple());
        let url = opts.clone().database(&name).to_url_lossy();
        Ok(Self {
            settings: Database {
                url: Secret::new(url.to_string()),
                max_connections,
                create_if_missing: true,
            },
            admin: opts.database("postgres"),
            name,
        })
    }

    async fn drop_db(&self) {
        match sqlx::PgPool::connect_with(self.admin.clone()).await {
            Ok(admin) => {
                let q = format!("drop database if exists \"{}\" with (force)", self.name);
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(q)).execute(&admin).await {
                    tracing::warn!(error = %e, db = %self.name, "bench: could not drop scratch database");
                }
                admin.close().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "bench: could not connect to drop the scratch database")
            }
        }
    }
}

/// Runs the benchmark against the deployment's Postgres server and Redis.
pub async fn run(loaded: &Loaded, opts: &BenchOptions) -> anyhow::Result<BenchReport> {
    if opts.n == 0 || opts.n > 10_000_000 {
        anyhow::bail!("n: must be between 1 and 10000000");
    }
    if !(1..=16).contains(&opts.workers) {
        anyhow::bail!("workers: must be between 1 and 16");
    }
    if !(1..=10_000).contains(&opts.claim_batch) {
        anyhow::bail!("claim_batch: must be between 1 and 10000");
    }
    let p = &loaded.platform;
    let scratch = Scratch::new(&p.database, opts.workers as u32 + 5)?;
    let prefix = format!("xfbench{}", Uuid::now_v7().simple());
    let county = CountyCode::parse("999901")?;
    // The benchmark's clocks bind no department, so no department message names an organ; the
    // deployment's directory is what the service would load.
    let directory = Arc::new(DirectoryHandle::load(&p.paths.directory)?);
    let redis = xinfang_platform::redis::connect(&p.redis).await?;
    let index = TimerIndex::new(redis, &prefix);
    let result = async {
        let pool = xinfang_platform::db::connect(&scratch.settings, crate::service::NAME).await?;
        xinfang_platform::db::migrate(&pool, crate::service::NAME, crate::service::migrator())
            .await?;
        let r = measure(&pool, &index, &county, directory, opts).await;
        pool.close().await;
        r
    }
    .await;
    if let Err(e) = index.drop_all(&county).await {
        tracing::warn!(error = %e, "bench: could not delete the Redis keys");
    }
    scratch.drop_db().await;
    result
}

async fn measure(
    pool: &sqlx::PgPool,
    index: &TimerIndex,
    county: &CountyCode,
    directory: Arc<DirectoryHandle>,
    opts: &BenchOptions,
) -> anyhow::Result<BenchReport> {
    let n = opts.n;
    let settings = SupervisionSettings {
        claim_batch: opts.claim_batch,
        poll_interval_ms: 10,
        lease_secs: 60,
        ..SupervisionSettings::default()
    };
    let rules = Arc::new(Rules {
        settings,
        deadlines: Default::default(),
        calendar: Arc::new(xinfang_platform::calendar::CalendarHandle::fixed(
            Calendar::embedded(),
        )),
        directory,
        sources: Default::default(),
    });
    let clock = Clock::system();
    let shutdown = CancellationToken::new();
    let mut stats = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..opts.workers {
        let s = Arc::new(FireStats::recording_lags());
        stats.push(s.clone());
        let engine = Engine {
            pool: pool.clone(),
            index: index.clone(),
            rules: rules.clone(),
            clock: clock.clone(),
            counties: vec![county.clone()],
            stats: s,
            wake: Default::default(),
        };
        tasks.push(tokio::spawn(engine.run(shutdown.clone())));
    }

    let (window, lead) = (opts.window(), opts.lead());
    let start = clock.now();
    let first_due = start + TimeDelta::milliseconds(lead as i64);
    let step = window as f64 / n.max(1) as f64;
    let t = Instant::now();
    // Chunks of 10,000: each one UNNEST insert plus pipelined ZADDs, four chunks in flight.
    const CHUNK: usize = 10_000;
    let chunks: Vec<(usize, usize)> = (0..n)
        .step_by(CHUNK)
        .map(|i| (i, (i + CHUNK).min(n)))
        .collect();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(chunks)
        .map(|(from, to)| async move {
            let rows: Vec<NewDeadline> = (from..to)
                .map(|k| {
                    let due =
                        first_due + TimeDelta::microseconds((k as f64 * step * 1000.0) as i64);
                    NewDeadline {
                        id: Uuid::now_v7(),
                        case_no: format!("XF-999901-2026-{k:07}"),
                        county: county.to_string(),
                        department: None,
                        kind: "D7".into(),
                        reference: String::new(),
                        trigger_at: start,
                        due_at: due,
                        warn_at: None,
                        provisional: false,
                        fact_at: None,
                    }
                })
                .collect();
            let mut conn = pool.acquire().await?;
            store::insert_batch(&mut conn, &rows, true).await?;
            drop(conn);
            let items: Vec<(Uuid, i64)> = rows
                .iter()
                .map(|r| (r.id, r.due_at.timestamp_millis()))
                .collect();
            index.index(county, &items).await?;
            Ok(())
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let schedule_secs = t.elapsed().as_secs_f64();

    let total = |stats: &[Arc<FireStats>]| stats.iter().map(|s| s.overdue()).sum::<u64>();
    let budget = Duration::from_millis(lead + window) + Duration::from_secs(60 + n as u64 / 2000);
    let waited = Instant::now();
    while total(&stats) < n as u64 && waited.elapsed() < budget {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_fired_at = clock.now();
    // Give a double fire time to show.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }

    let mut lags: Vec<i64> = stats
        .iter()
        .filter_map(|s| s.lags.as_ref()?.lock().ok().map(|l| l.clone()))
        .flatten()
        .collect();
    lags.sort_unstable();
    let fired_rows: i64 =
        sqlx::query_scalar("select count(*) from deadlines where state = 'fired'")
            .fetch_one(pool)
            .await?;
    let events: i64 = sqlx::query_scalar("select count(distinct event_id) from outbox")
        .fetch_one(pool)
        .await?;
    let counted = total(&stats);
    let fired_once =
        counted == n as u64 && fired_rows == n as i64 && events == n as i64 && lags.len() == n;
    let last_fire_ms = stats
        .iter()
        .map(|s| s.last_fire_ms.load(std::sync::atomic::Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let last_fire_ms = if last_fire_ms > 0 {
        last_fire_ms
    } else {
        all_fired_at.timestamp_millis()
    };
    let fire_secs = ((last_fire_ms - first_due.timestamp_millis()).max(1)) as f64 / 1000.0;
    Ok(BenchReport {
        n,
        schedule_per_second: n as f64 / schedule_secs.max(1e-9),
        fire_per_second: n as f64 / fire_secs,
        lag_p50_ms: percentile(&lags, 0.50),
        lag_p99_ms: percentile(&lags, 0.99),
        lag_max_ms: lags.last().copied().unwrap_or(0) as f64,
        fired_once,
        window_ms: window,
        lead_ms: lead,
        workers: opts.workers,
        schedule_secs,
        fire_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_defaults() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
        let o = BenchOptions::new(1_000_000);
        assert_eq!(o.window(), 20_000);
        assert_eq!(o.lead(), 51_000);
        assert_eq!(BenchOptions::new(10).window(), 1000);
    }
}
