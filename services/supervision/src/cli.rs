//! Library entry points for the `xinfang` CLI (wired by the root binary):
//! - `xinfang stats [--county C] [--dept D] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--csv|--json]`
//!   → [`stats`] then [`render`];
//! - `xinfang bench timers --n N [--json]` → [`bench_timers`], then print
//!   [`BenchReport::human`] and, with `--json`, [`BenchReport::json_line`] as the last line.

use chrono::Utc;
use xinfang_platform::config::Loaded;

pub use crate::bench::{BenchOptions, BenchReport};
pub use crate::stats::{Kpis, StatsQuery};

use crate::settings::SupervisionSettings;

/// Output format of `xinfang stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsFormat {
    Table,
    Csv,
    Json,
}

/// Computes the KPIs from the supervision schema of the configured database. Query errors name
/// the field (`county`, `dept`, `from`, `to`).
pub async fn stats(loaded: &Loaded, query: &StatsQuery) -> anyhow::Result<Kpis> {
    let settings: SupervisionSettings = loaded.section(crate::service::NAME)?;
    let served: Vec<String> = loaded
        .platform
        .counties()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let now = Utc::now();
    let period = query.validate(&served, now)?;
    let pool =
        xinfang_platform::db::connect(&loaded.platform.database, crate::service::NAME).await?;
    let k = crate::stats::compute(&pool, &period, now, settings.basically_satisfied_counts)
        .await
        .map_err(|e| anyhow::anyhow!("stats: {e} (has `xinfang migrate` run?)"));
    pool.close().await;
    k
}

pub fn render(k: &Kpis, format: StatsFormat) -> String {
    match format {
        StatsFormat::Table => crate::stats::render_table(k),
        StatsFormat::Csv => crate::stats::render_csv(k),
        StatsFormat::Json => serde_json::to_string_pretty(k).unwrap_or_default(),
    }
}

/// Runs the timer benchmark (own scratch database and Redis prefix, cleaned up afterwards).
pub async fn bench_timers(loaded: &Loaded, opts: &BenchOptions) -> anyhow::Result<BenchReport> {
    crate::bench::run(loaded, opts).await
}
