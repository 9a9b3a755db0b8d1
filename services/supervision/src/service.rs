//! Start-up: schema, consumers, the timer indexer and loop, HTTP.

use std::sync::Arc;

use tokio::sync::Notify;
use xinfang_domain::deadline_plan::Family;
use xinfang_domain::subject;
use xinfang_platform::host::{Infra, ServiceHost, Started};

use crate::api::{self, ApiState};
use crate::clock::Clock;
use crate::fire::{Engine, FireStats};
use crate::handlers::{DeadlineHandler, Rules};
use crate::indexer::Indexer;
use crate::settings::SupervisionSettings;
use crate::timers::TimerIndex;

pub const NAME: &str = "supervision";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The service's migrations (the benchmark applies them to its scratch database).
pub fn migrator() -> &'static sqlx::migrate::Migrator {
    &MIGRATOR
}

/// A running supervision instance and the handles tests use.
#[derive(Clone)]
pub struct Supervision {
    pub started: Started,
    pub clock: Clock,
    pub rules: Arc<Rules>,
    pub stats: Arc<FireStats>,
    pub index: TimerIndex,
    pub indexer: Indexer,
    /// Wakes the timer loop (after moving a manual clock, for instance).
    pub engine_wake: Arc<Notify>,
}

/// Migrates the schema, starts consumers, timers and HTTP; tasks run on `infra`'s tracker.
pub async fn start(infra: Infra) -> anyhow::Result<Started> {
    Ok(start_with(infra, Clock::system()).await?.started)
}

/// [`start`] with a chosen clock (tests use [`Clock::manual`]).
pub async fn start_with(infra: Infra, clock: Clock) -> anyhow::Result<Supervision> {
    let settings: SupervisionSettings = infra.settings.section(NAME)?;
    settings.validate()?;
    let host = ServiceHost::start(&infra, NAME, NAME, &MIGRATOR).await?;
    // Department messages name their organ from the process's directory, as routing's do.
    let directory = host.directory()?;
    let rules = Arc::new(Rules {
        settings,
        deadlines: infra.settings.platform.deadlines.clone(),
        calendar: infra.calendar.clone(),
        directory,
        sources: infra.settings.platform.sources(),
    });
    // Deadlines computed past the calendar's end are recomputed whenever it grows.
    infra.tracker.spawn(crate::recalendar::run(
        host.pool.clone(),
        rules.clone(),
        infra.shutdown.clone(),
    ));
    // The KPI rollups' deltas are folded every couple of seconds (readers add the rest).
    infra.tracker.spawn(crate::stats::rollup::run(
        host.pool.clone(),
        std::time::Duration::from_secs(2),
        infra.shutdown.clone(),
    ));
    let counties = infra.counties();
    for (name, family) in [("case", Family::Case), ("review", Family::Review)] {
        host.spawn_consumers(
            &counties,
            name,
            |c| Ok(subject::family_filter(c, name)?),
            Arc::new(DeadlineHandler {
                family,
                rules: rules.clone(),
            }),
        )?;
    }
    let index = TimerIndex::new(
        infra.redis.clone(),
        &infra.settings.platform.redis.key_prefix,
    );
    let engine_wake = Arc::new(Notify::new());
    let stats = Arc::new(FireStats::default());
    let indexer = Indexer {
        pool: host.pool.clone(),
        index: index.clone(),
        counties: counties.clone(),
        settings: rules.settings.clone(),
        clock: clock.clone(),
        engine_wake: engine_wake.clone(),
    };
    infra
        .tracker
        .spawn(indexer.clone().run(NAME.to_owned(), infra.shutdown.clone()));
    if rules.settings.timers_enabled {
        let engine = Engine {
            pool: host.pool.clone(),
            index: index.clone(),
            rules: rules.clone(),
            clock: clock.clone(),
            counties: counties.clone(),
            stats: stats.clone(),
            wake: engine_wake.clone(),
        };
        infra.tracker.spawn(engine.run(infra.shutdown.clone()));
        // Listed matters' earlier 督办 (a sweep: they are few).
        infra.tracker.spawn(crate::listed::escalate::run(
            host.pool.clone(),
            rules.clone(),
            clock.clone(),
            counties.clone(),
            infra.shutdown.clone(),
        ));
        infra
            .tracker
            .spawn(sample_gauges(host.pool.clone(), infra.shutdown.clone()));
    }
    // 周研判: last week's reports every Monday (idempotent across instances).
    if rules.settings.weekly_report.enabled {
        let ctx = crate::weekly::generate::Context {
            pool: host.pool.clone(),
            clock: clock.clone(),
            rules: rules.clone(),
        };
        infra.tracker.spawn(crate::weekly::generate::run(
            ctx,
            counties.clone(),
            infra.shutdown.clone(),
        ));
    }
    let api = api::router(ApiState {
        pool: host.pool.clone(),
        clock: clock.clone(),
        rules: rules.clone(),
        served: counties.iter().map(|c| c.to_string()).collect(),
        auth: host.auth.clone(),
    });
    let port = infra.settings.platform.http.supervision_port;
    let http = host.serve_http(port, api).await?;
    Ok(Supervision {
        started: Started { host, http },
        clock,
        rules,
        stats,
        index,
        indexer,
        engine_wake,
    })
}

/// Publishes pending and overdue deadlines per county as gauges every 15 s.
async fn sample_gauges(pool: sqlx::PgPool, shutdown: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = shutdown.cancelled() => return,
        }
        let rows: Result<Vec<(String, i64, i64)>, _> = sqlx::query_as(
            "select county,
                    count(*) filter (where state in ('pending', 'paused')),
                    count(*) filter (where state = 'fired' and closed_at is null)
             from deadlines group by county",
        )
        .fetch_all(&pool)
        .await;
        match rows {
            Ok(rows) => {
                for (county, pending, overdue) in rows {
                    metrics::gauge!("xf_timers_pending", "county" => county.clone())
                        .set(pending as f64);
                    metrics::gauge!("xf_deadlines_overdue", "county" => county).set(overdue as f64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "deadline gauges not sampled"),
        }
    }
}
