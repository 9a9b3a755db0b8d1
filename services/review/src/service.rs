//! Start-up: settings, directory, keys, schema, consumers, the lapsed-window sweep, HTTP.

use std::sync::Arc;
use xinfang_platform::attempts::FailedAttempts;
use xinfang_platform::rate_limit::{RateLimiter, TrustedProxies};

use xinfang_domain::subject;
use xinfang_platform::host::{Infra, ServiceHost, Started};

use crate::clock::Clock;
use crate::context::Ctx;
use crate::handlers::{CaseFacts, ReviewEvents};
use crate::identity::HashKey;
use crate::settings::ReviewSettings;

pub const NAME: &str = "review";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A running review instance and the handles tests use.
#[derive(Clone)]
pub struct Review {
    pub started: Started,
    pub ctx: Arc<Ctx>,
}

/// Migrates the schema, starts consumers and serves HTTP; tasks run on `infra`'s tracker.
pub async fn start(infra: Infra) -> anyhow::Result<Started> {
    Ok(start_with(infra, Clock::system()).await?.started)
}

/// [`start`] with a chosen clock (tests use [`Clock::manual`]).
pub async fn start_with(infra: Infra, clock: Clock) -> anyhow::Result<Review> {
    let p = &infra.settings.platform;
    let settings = infra
        .settings
        .section::<ReviewSettings>(NAME)?
        .validated()?;
    // The process's directory, checked before anything starts; reloadable without a restart
    // (review then serves `POST /v1/directory/reload` too).
    infra.directory()?;
    let key = HashKey::from_settings(&p.security)?;
    let host = ServiceHost::start(&infra, NAME, NAME, &MIGRATOR).await?;
    let directory = host.directory()?;
    let served = infra.counties();
    let id_attempts = FailedAttempts::new(
        infra.redis.clone(),
        &p.redis.key_prefix,
        "id_number",
        settings.id_number_attempts,
        std::time::Duration::from_secs(settings.id_number_lockout_secs),
    );
    let rate_limit = RateLimiter::new(
        infra.redis.clone(),
        &p.redis.key_prefix,
        NAME,
        &settings.rate_limit,
        TrustedProxies::parse(&p.http.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("http.trusted_proxies: {e}"))?,
    );
    let ctx = Arc::new(Ctx {
        pool: host.pool.clone(),
        directory,
        // Loaded (and checked) when the process connected; reloadable on SIGHUP.
        calendar: infra.calendar.clone(),
        deadlines: p.deadlines.clone(),
        settings,
        served: served.clone(),
        key,
        clock,
        id_attempts,
        rate_limit,
    });
    let facts = Arc::new(CaseFacts);
    let reviews = Arc::new(ReviewEvents { ctx: ctx.clone() });
    host.spawn_consumers(
        &served,
        "case",
        |c| Ok(subject::family_filter(c, "case")?),
        facts.clone(),
    )?;
    // The upper level handles what is published on its own review subjects.
    host.spawn_consumers(
        &served,
        "review",
        |c| Ok(subject::family_filter(c, "review")?),
        reviews.clone(),
    )?;
    if ctx.settings.sweep_enabled {
        infra
            .tracker
            .spawn(crate::sweep::run(ctx.clone(), infra.shutdown.clone()));
    }
    let http = host
        .serve_http(
            p.http.review_port,
            crate::api::router(ctx.clone(), host.auth.clone()),
        )
        .await?;
    Ok(Review {
        started: Started { host, http },
        ctx,
    })
}
