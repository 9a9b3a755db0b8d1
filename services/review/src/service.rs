//! Start-up: schema, consumers, HTTP.

use xinfang_platform::host::{Infra, ServiceHost, Started};

pub const NAME: &str = "review";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Migrates the schema, starts consumers and serves HTTP; tasks run on `infra`'s tracker.
pub async fn start(infra: Infra) -> anyhow::Result<Started> {
    let host = ServiceHost::start(&infra, NAME, NAME, &MIGRATOR).await?;
    let port = infra.settings.platform.http.review_port;
    let http = host.serve_http(port, axum::Router::new()).await?;
    Ok(Started { host, http })
}
