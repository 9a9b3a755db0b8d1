//! Start-up: settings, templates (checked), keys, directory, schema, consumers per served
//! county (`case.>`, `dept.>`, `review.>`, `report.>` — one consumer per family, as
//! nats-server 2.9 allows one filter per consumer), the sender loop and HTTP.

use std::path::Path;
use std::sync::Arc;

use xinfang_domain::seal::DataKey;
use xinfang_domain::subject;
use xinfang_platform::host::{Infra, ServiceHost, Started};

use crate::clock::{SharedClock, SystemClock};
use crate::contacts::DepartmentContacts;
use crate::core::{self, Core};
use crate::handlers::NotifyHandler;
use crate::providers::Providers;
use crate::settings::NotifySettings;
use crate::templates::{self, TemplateReport, Templates};
use crate::{api, sender};

pub const NAME: &str = "notify";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What tests (or an embedding program) may replace.
#[derive(Default, Clone)]
pub struct Options {
    pub clock: Option<SharedClock>,
    /// Department contacts instead of the directory file.
    pub contacts: Option<Arc<dyn DepartmentContacts>>,
    /// Providers instead of those `[notify]` configures.
    pub providers: Option<Providers>,
    /// Fault tests: how long the sender stalls after a provider accepted a message and before
    /// recording it — the window a crash or a stalled process falls into.
    pub pause_after_accept: Option<std::time::Duration>,
}

/// A started notify service.
#[derive(Clone)]
pub struct Notify {
    pub started: Started,
    pub core: Arc<Core>,
}

/// Migrates the schema, starts consumers, the sender and HTTP; tasks run on `infra`'s tracker.
pub async fn start(infra: Infra) -> anyhow::Result<Started> {
    Ok(start_with(infra, Options::default()).await?.started)
}

/// Reads and validates `[notify]`.
pub fn settings(infra: &Infra) -> anyhow::Result<NotifySettings> {
    let s: NotifySettings = infra.settings.section("notify")?;
    s.validate()
        .map_err(|p| anyhow::anyhow!("configuration [notify]: {}", p.join("; ")))?;
    Ok(s)
}

/// Loads and checks the templates of `dir` with `[notify.sms]` limits (for `xinfang check`).
pub fn check_templates(dir: &Path, settings: &NotifySettings) -> anyhow::Result<TemplateReport> {
    Ok(templates::check_dir(dir, settings.sms.limits())?)
}

pub async fn start_with(infra: Infra, opts: Options) -> anyhow::Result<Notify> {
    let p = &infra.settings.platform;
    let settings = settings(&infra)?;
    let templates = Templates::load(&p.paths.templates, settings.sms.limits())?;
    let data_key = DataKey::from_base64(p.security.data_key.expose())?;
    let hash_key = core::hash_key_from_base64(p.security.hash_key.expose())?;
    // The process's directory (checked here, before anything starts), reloadable without a
    // restart: notify then serves `POST /v1/directory/reload` too.
    let reads_directory = opts.contacts.is_none();
    let contacts: Arc<dyn DepartmentContacts> = match opts.contacts {
        Some(c) => c,
        None => infra.directory()?,
    };
    let providers = match opts.providers {
        Some(pr) => pr,
        None => Providers::from_settings(&settings)?,
    };
    if providers.email.is_none() {
        tracing::warn!("notify: e-mail disabled ([notify.email] enabled = false)");
    }
    if providers.sms.is_none() {
        tracing::warn!("notify: SMS disabled ([notify.sms] provider = \"none\")");
    }
    let bureau = if settings.bureau_name.trim().is_empty() {
        p.deployment.name.clone()
    } else {
        settings.bureau_name.clone()
    };
    let clock = opts.clock.unwrap_or_else(|| Arc::new(SystemClock));
    let mut core = Core::new(
        settings, bureau, templates, data_key, hash_key, contacts, clock, providers,
    )?;
    core.pause_after_accept = opts.pause_after_accept;
    let core = Arc::new(core);

    let host = ServiceHost::start(&infra, NAME, NAME, &MIGRATOR).await?;
    if reads_directory {
        host.directory()?;
    }
    let handler = Arc::new(NotifyHandler::new(core.clone()));
    let counties = infra.counties();
    for family in ["case", "dept"] {
        host.spawn_consumers(
            &counties,
            family,
            |c| Ok(subject::family_filter(c, family)?),
            handler.clone(),
        )?;
    }
    // Reports (the weekly analysis) of every served county and of the city, for the leaders.
    let reports = Arc::new(crate::report::ReportHandler::new(core.clone()));
    host.spawn_consumers(
        &counties,
        "report",
        |c| Ok(subject::family_filter(c, "report")?),
        reports,
    )?;
    // Review decisions are published on the city's subjects (escalation): listen there too.
    let with_city: Vec<_> = infra.streams.keys().cloned().collect();
    host.spawn_consumers(
        &with_city,
        "review",
        |c| Ok(subject::family_filter(c, "review")?),
        handler.clone(),
    )?;
    infra.tracker.spawn(sender::run(
        core.clone(),
        host.pool.clone(),
        NAME.to_owned(),
        infra.shutdown.clone(),
    ));
    let port = p.http.notify_port;
    let http = host
        .serve_http(port, api::router(host.pool.clone(), host.auth.clone()))
        .await?;
    Ok(Notify {
        started: Started { host, http },
        core,
    })
}
