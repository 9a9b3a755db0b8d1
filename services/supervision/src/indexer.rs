//! Keeps the Redis index in line with Postgres:
//! - after commits: rows marked `indexed = false` (new, moved, paused, closed) are added to or
//!   removed from the index, then marked indexed (woken by NOTIFY, with a polling fallback);
//! - on start and every `reconcile_interval_secs`: every pending row is (re)added;
//! - every `index_check_interval_secs`: if a county's index marker is gone (Redis restarted
//!   empty, keys flushed), that county is rebuilt at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use xinfang_domain::county::CountyCode;

use crate::clock::Clock;
use crate::settings::SupervisionSettings;
use crate::store::NEXT_FIRE;
use crate::timers::TimerIndex;

const DIRTY_BATCH: i64 = 1000;
const RECONCILE_PAGE: i64 = 10_000;

#[derive(Clone)]
pub struct Indexer {
    pub pool: PgPool,
    pub index: TimerIndex,
    pub counties: Vec<CountyCode>,
    pub settings: SupervisionSettings,
    pub clock: Clock,
    /// The timer loop, woken when the index was refilled.
    pub engine_wake: Arc<Notify>,
}

impl Indexer {
    /// Indexes one batch of changed rows; returns how many.
    pub async fn flush_dirty(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let q = format!(
            "select id, county, state, {NEXT_FIRE} as next_fire from deadlines
             where not indexed order by id limit $1 for update skip locked"
        );
        let rows: Vec<(Uuid, String, String, DateTime<Utc>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(q))
                .bind(DIRTY_BATCH)
                .fetch_all(&mut *tx)
                .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let mut add: BTreeMap<String, Vec<(Uuid, i64)>> = BTreeMap::new();
        let mut remove: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for (id, county, state, next) in &rows {
            if state == "pending" {
                add.entry(county.clone())
                    .or_default()
                    .push((*id, next.timestamp_millis()));
            } else {
                remove.entry(county.clone()).or_default().push(*id);
            }
        }
        for (county, items) in &add {
            if let Ok(c) = CountyCode::parse(county) {
                self.index.index(&c, items).await?;
            }
        }
        for (county, ids) in &remove {
            if let Ok(c) = CountyCode::parse(county) {
                self.index.remove(&c, ids).await?;
            }
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        sqlx::query("update deadlines set indexed = true where id = any($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if !add.is_empty() {
            self.engine_wake.notify_one();
        }
        Ok(rows.len())
    }

    /// Adds every pending row of `county` to the index; returns how many.
    pub async fn reconcile(&self, county: &CountyCode) -> anyhow::Result<u64> {
        // Marker first: if the index is lost while we rebuild, the next check sees it gone.
        self.index.set_marker(county, self.clock.now_ms()).await?;
        let q = format!(
            "select id, {NEXT_FIRE} as next_fire from deadlines
             where county = $1 and state = 'pending' and id > $2 order by id limit $3"
        );
        let mut last = Uuid::nil();
        let mut total = 0u64;
        loop {
            let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
                .bind(county.as_str())
                .bind(last)
                .bind(RECONCILE_PAGE)
                .fetch_all(&self.pool)
                .await?;
            let Some(&(tail, _)) = rows.last() else { break };
            last = tail;
            let items: Vec<(Uuid, i64)> = rows
                .iter()
                .map(|(id, at)| (*id, at.timestamp_millis()))
                .collect();
            self.index.index(county, &items).await?;
            total += items.len() as u64;
            if (rows.len() as i64) < RECONCILE_PAGE {
                break;
            }
        }
        metrics::counter!("xf_timer_reconciled_total").increment(total);
        self.engine_wake.notify_one();
        Ok(total)
    }

    pub async fn reconcile_all(&self) {
        for county in &self.counties {
            match self.reconcile(county).await {
                Ok(n) => tracing::info!(%county, pending = n, "timer index reconciled"),
                Err(e) => tracing::warn!(%county, error = %e, "timer index reconcile failed"),
            }
        }
    }

    /// Rebuilds the counties whose index marker is gone; returns how many were rebuilt.
    pub async fn check_markers(&self) -> usize {
        let mut rebuilt = 0;
        for county in &self.counties {
            match self.index.marker_exists(county).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(%county, "timer index missing in Redis; rebuilding from Postgres");
                    match self.reconcile(county).await {
                        Ok(n) => {
                            rebuilt += 1;
                            tracing::info!(%county, pending = n, "timer index rebuilt");
                        }
                        Err(e) => tracing::warn!(%county, error = %e, "timer index rebuild failed"),
                    }
                }
                Err(e) => tracing::warn!(%county, error = %e, "timer index check failed"),
            }
        }
        rebuilt
    }

    /// Runs until `shutdown`.
    pub async fn run(self, schema: String, shutdown: CancellationToken) {
        let channel = format!("{schema}_timers_wake");
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(mut l) => match l.listen(&channel).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "timer indexer: LISTEN failed; polling only");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "timer indexer: no listener; polling only");
                None
            }
        };
        self.reconcile_all().await;
        let check_every = Duration::from_secs(self.settings.index_check_interval_secs.max(1));
        let full_every = Duration::from_secs(self.settings.reconcile_interval_secs.max(1));
        let poll = Duration::from_millis(500);
        let mut last_check = Instant::now();
        let mut last_full = Instant::now();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            loop {
                match self.flush_dirty().await {
                    Ok(n) if n as i64 >= DIRTY_BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "timer indexer batch failed");
                        break;
                    }
                }
            }
            if last_full.elapsed() >= full_every {
                last_full = Instant::now();
                last_check = Instant::now();
                self.reconcile_all().await;
            } else if last_check.elapsed() >= check_every {
                last_check = Instant::now();
                self.check_markers().await;
            }
            let wait = poll.min(check_every);
            match listener.as_mut() {
                Some(l) => {
                    tokio::select! {
                        r = l.recv() => if let Err(e) = r {
                            tracing::warn!(error = %e, "timer indexer: listener error");
                            tokio::time::sleep(wait).await;
                        },
                        _ = tokio::time::sleep(wait) => {},
                        _ = shutdown.cancelled() => break,
                    }
                }
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {},
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        tracing::info!("timer indexer stopped");
    }
}
