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
    tracing::info!(
        service = name,
        "running; send SIGTERM or press Ctrl-C to stop"
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
