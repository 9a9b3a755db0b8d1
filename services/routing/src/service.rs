//! Start-up: directory (loaded and audited), schema, the `case` consumer of every served
//! county, department commands over NATS, HTTP.

use std::collections::BTreeSet;
use std::sync::Arc;

use xinfang_domain::routing::RoutingPolicy;
use xinfang_domain::seal::DataKey;
use xinfang_domain::subject;
use xinfang_platform::host::{Infra, ServiceHost, Started};

use crate::context::Ctx;
use crate::handlers::CaseEvents;
use crate::settings::{RoutingSettings, host_name};

pub const NAME: &str = "routing";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Migrates the schema, starts consumers and serves HTTP; tasks run on `infra`'s tracker.
pub async fn start(infra: Infra) -> anyhow::Result<Started> {
    let p = &infra.settings.platform;
    let settings: RoutingSettings = infra.settings.section(NAME)?;
    // The process's directory: loaded here or by a service started before in this process.
    let directory = infra.directory()?;
    let loaded = directory
        .loaded()
        .ok_or_else(|| anyhow::anyhow!("the directory was not loaded from a file"))?;
    let data_key = if p.security.data_key.is_empty() {
        tracing::warn!("security.data_key is not set: departments will get no petitioner contact");
        None
    } else {
        Some(DataKey::from_base64(p.security.data_key.expose())?)
    };
    // Every department's durable feed, before the outbox relay can publish to one.
    let feed_settings = crate::dept_feed::FeedSettings::from_routing(&settings)?;
    let feeds =
        crate::dept_feed::provision(&infra.streams, &loaded.directory, &feed_settings).await?;
    tracing::info!(
        created = feeds.created.len(),
        updated = feeds.updated.len(),
        unchanged = feeds.unchanged,
        "department feeds ready"
    );
    let host = ServiceHost::start(&infra, NAME, NAME, &MIGRATOR).await?;
    let audit =
        crate::directory::audit(&host.pool, &loaded, &settings.operator(), &host_name()).await?;
    tracing::info!(
        hash = %audit.hash,
        previous = audit.previous_hash.as_deref().unwrap_or("none"),
        changes = audit.changes.len(),
        counties = loaded.directory.counties.len(),
        departments = loaded.directory.department_count(),
        "directory loaded"
    );
    for change in &audit.changes {
        tracing::info!(change = %change, "directory change");
    }
    if let Err(e) = crate::directory::warn_of_missing_organs(&host.pool, &loaded.directory).await {
        tracing::warn!(error = %e, "departments on running cases not checked against the directory");
    }
    // Reloadable without a restart (SIGHUP, `POST /v1/directory/reload`): routing's part of a
    // reload (refusals, feeds, `directory_audit`) runs before the new directory takes effect.
    directory.add_step(Arc::new(crate::directory::RoutingReload {
        pool: host.pool.clone(),
        streams: infra.streams.clone(),
        feeds: feed_settings,
        host: host_name(),
    }));
    let served: BTreeSet<_> = infra.streams.keys().cloned().collect();
    let ctx = Arc::new(Ctx {
        pool: host.pool.clone(),
        directory,
        // Loaded (and checked) when the process connected; reloadable on SIGHUP.
        calendar: infra.calendar.clone(),
        rules: p.deadlines.clone(),
        routing: RoutingPolicy {
            hold_for_triage: settings.hold_for_triage,
        },
        data_key,
        served: served.clone(),
    });
    let handler = Arc::new(CaseEvents { ctx: ctx.clone() });
    host.spawn_consumers(
        &infra.counties(),
        "case",
        |c| Ok(subject::family_filter(c, "case")?),
        handler.clone(),
    )?;
    // Commands: every county with a stream, the city included (its organs act on cases that
    // fell back to the city).
    for county in served {
        let nats = infra.nats.clone();
        let ctx = ctx.clone();
        let shutdown = infra.shutdown.clone();
        let concurrency = settings.command_concurrency;
        let failing = infra.clone();
        infra.tracker.spawn(async move {
            if let Err(e) = crate::commands::serve(nats, county.clone(), ctx, concurrency, shutdown).await {
                tracing::error!(county = %county, error = %e, "department commands stopped; stopping the process");
                failing.fail(format!("department commands of {county}: {e:#}"));
            }
        });
    }
    let http = host
        .serve_http(
            p.http.routing_port,
            crate::api::router(ctx, host.auth.clone()),
        )
        .await?;
    Ok(Started { host, http })
}
