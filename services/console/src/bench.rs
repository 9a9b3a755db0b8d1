//! `xinfang bench console`: how long the console's pages take with a large registry.
//!
//! A scratch deployment that touches no real data (a fresh database, unused county codes, its
//! own Redis prefix and directory file) runs the five services and the console in this
//! process. A few hundred petitions are registered through intake's API and routed for real;
//! then the registry is grown to the wanted size by copying those rows in SQL inside each
//! service's own schema ([`grow`]): a benchmark fixture only, the console still reads
//! everything through the APIs. Each role signs in through the login form and asks for its
//! pages one after another; the client measures each answer on loopback ([`measure`]).
//!
//! The services are started by the caller (the `xinfang` binary links them; the console does
//! not), so the console crate stays free of the services' code.

mod grow;
mod measure;
mod seed;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_platform::config::{Loaded, PlatformSettings, Secret};
use xinfang_platform::host::Infra;
use xinfang_platform::testing::{self, TestEnv};

use crate::backend::ServiceUrls;

pub use measure::{PageTiming, ServiceCall};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows in intake's registry when the pages are measured.
    pub cases: usize,
    /// Timed requests per page (after one warm-up request).
    pub samples: usize,
    /// Petitions registered through the API before the registry is grown.
    pub seed: usize,
    /// Leave the scratch database in place (for EXPLAIN); its name is in the report.
    pub keep_database: bool,
}

impl Options {
    pub fn new(cases: usize, samples: usize) -> Self {
        Self {
            cases,
            samples,
            seed: 300,
            keep_database: false,
        }
    }
}

/// Progress for a bar or a spinner.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A new phase; `len` when it counts steps.
    Phase { message: String, len: Option<u64> },
    /// Steps done in the current phase.
    Position(u64),
}

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Rows in intake's case registry while measuring.
    pub cases: i64,
    /// Of which registered through the API (the rest are copies).
    pub registered_via_api: usize,
    /// Cases per status in the registry, most first.
    pub statuses: Vec<(String, i64)>,
    /// Supervision's clocks: all, and those still running (pending, paused, or fired and open).
    pub deadlines: i64,
    pub open_deadlines: i64,
    /// The department user's department and how many cases intake lists for it.
    pub department: String,
    pub department_cases: i64,
    pub samples: usize,
    pub seed_secs: f64,
    pub grow_secs: f64,
    pub pages: Vec<PageTiming>,
    /// Set when the scratch database was left in place.
    pub kept_database: Option<String>,
}

impl Report {
    /// The slowest p95 of all pages, in milliseconds.
    pub fn worst_p95_ms(&self) -> f64 {
        self.pages.iter().map(|p| p.p95_ms).fold(0.0, f64::max)
    }

    pub fn human(&self) -> String {
        let mut s = format!(
            "registry:   {} cases ({} registered through intake's API, the rest copied in SQL)\n",
            self.cases, self.registered_via_api
        );
        let states: Vec<String> = self
            .statuses
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        s += &format!("statuses:   {}\n", states.join(", "));
        s += &format!(
            "deadlines:  {} clocks, {} running\n",
            self.deadlines, self.open_deadlines
        );
        s += &format!(
            "department: {} with {} cases\n",
            self.department, self.department_cases
        );
        s += &format!(
            "fixture:    seeded in {:.1} s, grown in {:.1} s\n",
            self.seed_secs, self.grow_secs
        );
        s += &format!(
            "pages:      {} sequential requests each after one warm-up; client time on loopback\n",
            self.samples
        );
        s += &format!(
            "  {:<11} {:<18} {:>6} {:>8} {:>8} {:>8} {:>7} {:>6}\n",
            "role", "page", "status", "p50 ms", "p95 ms", "max ms", "KiB", "calls"
        );
        for p in &self.pages {
            s += &format!(
                "  {:<11} {:<18} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>7.1} {:>6.0}\n",
                p.role,
                p.page,
                p.status,
                p.p50_ms,
                p.p95_ms,
                p.max_ms,
                p.bytes as f64 / 1024.0,
                p.calls_per_load()
            );
        }
        s += "service calls per page load (mean service time per call):\n";
        for p in &self.pages {
            let calls: Vec<String> = p
                .calls
                .iter()
                .map(|c| format!("{} ×{:.0} ({:.1} ms)", c.call, c.per_load, c.mean_ms))
                .collect();
            s += &format!("  {} {}: {}\n", p.role, p.page, calls.join(", "));
        }
        s += &format!("slowest p95: {:.1} ms", self.worst_p95_ms());
        if let Some(db) = &self.kept_database {
            s += &format!("\nscratch database kept: {db}");
        }
        s
    }

    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Runs the benchmark in a scratch deployment made from `loaded` (its database server, NATS,
/// Redis, paths and deadline rules). `start_services` starts intake, routing, supervision,
/// review and notify on the infra it is given (HTTP ports 0) and returns their URLs.
pub async fn run<S, F>(
    loaded: &Loaded,
    opts: &Options,
    start_services: S,
    progress: impl Fn(Progress),
) -> anyhow::Result<Report>
where
    S: FnOnce(Infra) -> F,
    F: Future<Output = anyhow::Result<ServiceUrls>>,
{
    anyhow::ensure!(opts.samples >= 1, "--samples must be at least 1");
    anyhow::ensure!(
        opts.seed >= 10 && opts.cases >= opts.seed,
        "--cases must be at least {} (the petitions registered through the API)",
        opts.seed
    );
    progress(Progress::Phase {
        message: "starting a scratch deployment".into(),
        len: None,
    });
    let (env, dir_file) = scratch(loaded).await?;
    let database = env.infra.settings.platform.database.clone();
    let outcome = tokio::select! {
        r = bench(&env, opts, start_services, &progress) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    progress(Progress::Phase {
        message: "removing the scratch deployment".into(),
        len: None,
    });
    let db_name = env.db_name.clone();
    if opts.keep_database {
        // TestEnv::stop drops the database: stop the rest by hand.
        env.shutdown.cancel();
        env.infra.drain(Duration::from_secs(15)).await;
        for county in env.infra.streams.keys() {
            let _ = env
                .infra
                .js
                .delete_stream(xinfang_domain::subject::stream_name(county))
                .await;
        }
        let mut redis = env.infra.redis.clone();
        let pattern = format!("{}:*", env.infra.settings.platform.redis.key_prefix);
        if let Ok(keys) = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async::<Vec<String>>(&mut redis)
            .await
            && !keys.is_empty()
        {
            let _ = redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut redis)
                .await;
        }
    } else {
        env.stop().await;
        // TestEnv drops the database on the local server; this one is wherever settings say.
        if let Err(e) = xinfang_platform::db::drop_database(&database).await {
            tracing::warn!(error = %e, "could not drop the scratch database {db_name}");
        }
    }
    let _ = std::fs::remove_file(&dir_file);
    let mut report = outcome?;
    if opts.keep_database {
        report.kept_database = Some(db_name);
    }
    Ok(report)
}

/// The scratch deployment: `loaded`'s servers, a fresh database, a city `9NNN00` with one
/// county `9NNN01` no other run holds, its own Redis prefix and keys, a directory file with
/// every department in both, bearer tokens required, any free ports.
async fn scratch(loaded: &Loaded) -> anyhow::Result<(TestEnv, PathBuf)> {
    let base = testing::unique_base()
        .await
        .context("a unique county code from the local Redis (xftest:city_seq)")?;
    let city = CountyCode::parse(&format!("{base}00"))?;
    let county = CountyCode::parse(&format!("{base}01"))?;
    let db_name = format!("xf_bench_console_{}", uuid::Uuid::now_v7().simple());
    let mut p: PlatformSettings = loaded.platform.clone();
    p.deployment.name = "bench console".into();
    p.deployment.city = city.to_string();
    p.deployment.counties = vec![city.to_string(), county.to_string()];
    p.database.url = Secret::new(xinfang_platform::db::with_database(
        p.database.url.expose(),
        &db_name,
    )?);
    p.database.create_if_missing = true;
    // Six pools of the configured size (10 by default) plus the token stores' would take most
    // of a local server's 100 connections, which other work on the machine shares: a refused
    // connection makes a service wait 10 s for its pool, which is then what gets measured.
    p.database.max_connections = p.database.max_connections.min(POOL_SIZE);
    p.redis.key_prefix = format!("xfbench{}", uuid::Uuid::now_v7().as_u128() % 100_000_000);
    p.http.intake_port = 0;
    p.http.routing_port = 0;
    p.http.supervision_port = 0;
    p.http.review_port = 0;
    p.http.notify_port = 0;
    let key = || {
        let bytes: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        Secret::new(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    p.security.data_key = key();
    p.security.hash_key = key();
    p.security.auth_required = true;
    p.security.demo_token = false;
    let dir_file = std::env::temp_dir().join(format!("xf-bench-dir-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&dir_file, testing::directory_toml(&city, &county))
        .with_context(|| format!("writing {}", dir_file.display()))?;
    p.paths.directory = dir_file.clone();
    // Routing sends every petition on (no clerk triage); the review sweep and the full
    // re-index of the timers stay off, so the copied clocks are never fired (they are not in
    // the Redis index and must stay out of it).
    let services = "[routing]\noperator = \"bench\"\nhold_for_triage = false\n\
                    [review]\nsweep_enabled = false\n\
                    [supervision]\nreconcile_interval_secs = 864000\n\
                    [console]\nport = 0\n";
    let shutdown = CancellationToken::new();
    let settings = Loaded::from_parts(p, services)?;
    let infra = Infra::connect(settings, "bench-console", shutdown.clone())
        .await
        .context("connecting to NATS, Redis and Postgres as configured")?;
    for s in infra.streams.values() {
        // Codes are reused after a thousand runs: start from empty streams.
        s.purge().await?;
    }
    Ok((
        TestEnv {
            city,
            county,
            db_name,
            infra,
            shutdown,
        },
        dir_file,
    ))
}

/// Connections per service pool in the scratch deployment (at most).
pub const POOL_SIZE: u32 = 4;

/// One pool per schema the fixture reads or writes.
pub(crate) struct Pools {
    pub intake: PgPool,
    pub routing: PgPool,
    pub supervision: PgPool,
    pub review: PgPool,
}

async fn bench<S, F>(
    env: &TestEnv,
    opts: &Options,
    start_services: S,
    progress: &impl Fn(Progress),
) -> anyhow::Result<Report>
where
    S: FnOnce(Infra) -> F,
    F: Future<Output = anyhow::Result<ServiceUrls>>,
{
    let urls = start_services(env.infra.clone())
        .await
        .context("starting the services")?;
    let console = crate::service::start(env.infra.clone(), urls.clone())
        .await
        .context("starting the console")?;
    let mut db = env.infra.settings.platform.database.clone();
    db.max_connections = 2;
    let db = &db;
    let connect = |schema| xinfang_platform::db::connect(db, schema);
    let pools = Pools {
        intake: connect("intake").await?,
        routing: connect("routing").await?,
        supervision: connect("supervision").await?,
        review: connect("review").await?,
    };

    let started = Instant::now();
    let seeded = seed::seed(env, &console.state, &urls, &pools, opts.seed, progress).await?;
    let seed_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    grow::grow(&pools, &seeded, opts.cases, progress).await?;
    let grow_secs = started.elapsed().as_secs_f64();

    let facts = grow::facts(&pools, &seeded, env.county.as_str()).await?;
    let (city, county) = (env.city.to_string(), env.county.to_string());
    let targets = measure::Targets {
        city: &city,
        county: &county,
        department: &facts.department.code,
        department_case: &facts.department.case_no,
        clerk_case: &seeded.cases[0].case_no,
        petitioners: &seeded.cases,
    };
    let pages = measure::measure(
        &console.state,
        console.http,
        &targets,
        opts.samples,
        progress,
    )
    .await?;
    for pool in [
        &pools.intake,
        &pools.routing,
        &pools.supervision,
        &pools.review,
    ] {
        pool.close().await;
    }
    Ok(Report {
        cases: facts.cases,
        registered_via_api: seeded.cases.len(),
        statuses: facts.statuses,
        deadlines: facts.deadlines,
        open_deadlines: facts.open_deadlines,
        department: facts.department.label(),
        department_cases: facts.department.cases,
        samples: opts.samples,
        seed_secs,
        grow_secs,
        pages,
        kept_database: None,
    })
}
