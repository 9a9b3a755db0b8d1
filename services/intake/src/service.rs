//! Start-up: classifier, keys, schema, registry consumers, register commands, HTTP.

use std::sync::Arc;

use xinfang_domain::classify::Classifier;
use xinfang_domain::subject;
use xinfang_platform::host::{Infra, ServiceHost, Started};
use xinfang_platform::rate_limit::{RateLimiter, TrustedProxies};

use crate::api::{self, AppState};
use crate::crypto::Keys;
use crate::register::Registrar;
use crate::registry::RegistryHandler;
use crate::settings::IntakeSettings;

pub const NAME: &str = "intake";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Loads the classification rules, gazetteer and labelled examples from `dir` (the
/// deployment's data).
pub fn load_classifier(dir: &std::path::Path) -> anyhow::Result<Classifier> {
    Ok(crate::learning::build(dir, Vec::new())?.0)
}

pub async fn start(infra: Infra) -> anyhow::Result<Started> {
    let p = &infra.settings.platform;
    let settings: IntakeSettings = infra.settings.section("intake")?;
    settings.rate_limit.validate("intake.rate_limit")?;
    let rate_limit = RateLimiter::new(
        infra.redis.clone(),
        &p.redis.key_prefix,
        NAME,
        &settings.rate_limit,
        TrustedProxies::parse(&p.http.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("http.trusted_proxies: {e}"))?,
    );
    let keys = Keys::from_settings(&p.security)?;
    let host = ServiceHost::start(&infra, NAME, NAME, &MIGRATOR).await?;
    let city = p
        .city()
        .ok_or_else(|| anyhow::anyhow!("deployment.city is not a division code"))?;
    // Clerks' corrections learnt so far, then on the schedule (and on command). Without
    // them (the database or a learned example failing), the shipped examples alone.
    let dir = p.paths.classification.clone();
    let classifier = match crate::learning::ClassifierHandle::trained(dir.clone(), &host.pool).await
    {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "classifier not trained on corrections at start");
            crate::learning::ClassifierHandle::shipped(dir)?
        }
    };
    let classifier = Arc::new(classifier);
    if settings.retrain_interval_secs > 0 {
        infra.tracker.spawn(crate::learning::run_schedule(
            classifier.clone(),
            host.pool.clone(),
            std::time::Duration::from_secs(settings.retrain_interval_secs),
            infra.shutdown.clone(),
        ));
    }
    let registrar = Registrar {
        pool: host.pool.clone(),
        classifier,
        keys: keys.clone(),
        settings,
        city,
        served: infra.counties(),
        sources: p.sources(),
    };
    let registry = Arc::new(RegistryHandler);
    for family in ["case", "review", "deadline"] {
        host.spawn_consumers(
            &infra.counties(),
            &format!("registry_{family}"),
            |c| Ok(subject::family_filter(c, family)?),
            registry.clone(),
        )?;
    }
    for county in infra.counties() {
        let sub = crate::commands::subscribe(&infra.nats, &county).await?;
        infra.tracker.spawn(crate::commands::serve(
            infra.nats.clone(),
            sub,
            county.clone(),
            registrar.clone(),
            infra.shutdown.clone(),
        ));
        // A clerk's decision on a repeat link (Decisions 7), authenticated by the token.
        let sub = crate::repeats::subscribe(&infra.nats, &county).await?;
        infra.tracker.spawn(crate::repeats::serve(
            infra.nats.clone(),
            sub,
            county.clone(),
            host.pool.clone(),
            host.auth.clone(),
            infra.shutdown.clone(),
        ));
    }
    // Who may read an informant's identity depends on which department is 纪委监委, and where a
    // decision is appealed to on the organs above: the directory says (the process's, the same
    // file routing routes by; reloadable without a restart, and intake then serves
    // `POST /v1/directory/reload` too).
    let directory = host.directory()?;
    let state = AppState {
        registrar,
        pool: host.pool.clone(),
        keys,
        auth: host.auth.clone(),
        rate_limit,
        directory,
    };
    let http = host
        .serve_http(p.http.intake_port, api::router(state))
        .await?;
    Ok(Started { host, http })
}
