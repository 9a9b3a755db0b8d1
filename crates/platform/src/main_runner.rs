//! The body of every service binary: config, telemetry, connections, run until a signal,
//! drain in-flight work.

use std::future::Future;
use std::time::Duration;

use crate::host::Infra;

/// How long in-flight batches and requests get after a signal.
pub const GRACE: Duration = Duration::from_secs(20);

/// Runs one or more services until SIGINT/SIGTERM. `start` spawns their tasks on `infra`.
pub async fn run<F, Fut>(name: &'static str, start: F) -> anyhow::Result<()>
where
    F: FnOnce(Infra) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let settings = crate::config::load()?;
    let _telemetry = crate::telemetry::init(name, &settings.platform.telemetry)?;
    let shutdown = crate::shutdown::on_signals();
    let infra = Infra::connect(settings, name, shutdown.clone()).await?;
    if let Err(e) = start(infra.clone()).await {
        shutdown.cancel();
        infra.drain(GRACE).await;
        return Err(e);
    }
    infra.tracker.spawn(reload_on_sighup(infra.clone()));
    tracing::info!(
        service = name,
        "running; send SIGTERM or press Ctrl-C to stop, SIGHUP to reload the holiday calendar and the department directory"
    );
    shutdown.cancelled().await;
    if !infra.drain(GRACE).await {
        tracing::warn!("some tasks did not finish within {GRACE:?}");
    }
    if let Some(reason) = infra.failure() {
        anyhow::bail!("stopped after a failure: {reason}");
    }
    tracing::info!(service = name, "stopped");
    Ok(())
}

/// SIGHUP reloads the holiday calendar and the department directory of every service in the
/// process (`systemctl reload`), each audited as done by `signal:SIGHUP`; a bad file is refused
/// and the running one stays (the directory only if a service of the process reads it). [`run`]
/// starts it for every service binary and `xinfang up`; it ends at shutdown.
pub async fn reload_on_sighup(infra: Infra) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload the calendar and the directory over HTTP");
                return;
            }
        };
        let p = &infra.settings.platform;
        let Some(city) = p.city() else { return };
        let mut auth: Option<crate::auth::Auth> = None;
        loop {
            tokio::select! {
                got = hup.recv() => if got.is_none() { return },
                _ = infra.shutdown.cancelled() => return,
            }
            if auth.is_none() {
                auth = Some(if p.security.auth_required {
                    match crate::auth::AuthStore::connect(&p.database).await {
                        Ok(store) => crate::auth::Auth::required(store, city.clone()),
                        Err(e) => {
                            tracing::error!(error = %e, "audit log unavailable; the reload is only logged");
                            crate::auth::Auth::disabled(city.clone())
                        }
                    }
                } else {
                    crate::auth::Auth::disabled(city.clone())
                });
            }
            if let Some(auth) = &auth {
                let who = crate::calendar::signal_principal(city.clone());
                // Each is refused or taken on its own: a bad calendar does not hold up the
                // directory, nor the other way round.
                let _ = infra.calendar.reload_audited(&who, auth, "SIGHUP").await;
                if let Some(directory) = infra.loaded_directory() {
                    let _ = directory.reload_audited(&who, auth, "SIGHUP").await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = infra;
    }
}
