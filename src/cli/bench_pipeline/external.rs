//! `--external`: the load against a deployment that is already running (`xinfang up`, or the
//! services started one by one), configured by the same settings this command loads. Nothing
//! is started here: the load generator posts to the deployment's API with a city clerk token
//! made for the run (revoked after it), the probe listens on the deployment's counties, and
//! the receipt hop is read from notify's delivery log (a delivery marked `sent` is one the
//! SMS provider accepted), since the SMS goes wherever the deployment sends it.
//!
//! The cases registered are real cases of that deployment: run it against a staging copy.
//! Its routing should not hold petitions for triage and its quiet hours should be off (or
//! the run be outside them), otherwise those petitions never reach every hop.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_notify::sinks::SmsRecord;
use xinfang_platform::auth::AuthStore;
use xinfang_platform::config::Loaded;
use xinfang_platform::host::Infra;

/// The running deployment, as far as the bench needs it.
pub struct External {
    pub infra: Infra,
    /// The counties petitions are registered in (the first `--counties` of the deployment's).
    pub counties: Vec<CountyCode>,
    /// Intake's `POST /v1/petitions`.
    pub url: String,
    pub token: String,
    token_id: String,
    auth: AuthStore,
}

impl External {
    pub async fn connect(loaded: &Loaded, k: usize, api: Option<&str>) -> anyhow::Result<Self> {
        let p = &loaded.platform;
        let served = p.counties();
        anyhow::ensure!(
            k <= served.len(),
            "--counties {k}: the deployment serves {} counties (deployment.counties)",
            served.len()
        );
        let counties = served.into_iter().take(k).collect();
        let city = p.city().context("deployment.city is not a division code")?;
        let api = match api {
            Some(a) => a.trim_end_matches('/').to_owned(),
            None => format!("http://127.0.0.1:{}", p.http.intake_port),
        };
        // Ctrl-C cancels the run as it does the all-in-one one.
        let shutdown = xinfang_platform::shutdown::on_signals();
        let infra = Infra::connect(loaded.clone(), "bench-pipeline-external", shutdown)
            .await
            .context("connecting to the deployment's NATS, Redis and Postgres")?;
        let auth = AuthStore::connect(&p.database)
            .await
            .context("the deployment's token store")?;
        let t = auth
            .create(
                Role::Clerk,
                &city,
                None,
                "bench pipeline --external: load generator",
            )
            .await?;
        Ok(External {
            infra,
            counties,
            url: format!("{api}/v1/petitions"),
            token: t.token,
            token_id: t.id,
            auth,
        })
    }

    /// Revokes the run's token and lets go of the connections.
    pub async fn close(self) {
        if let Err(e) = self.auth.revoke(&self.token_id).await {
            eprintln!(
                "warning: could not revoke the bench's token {}: {e:#}",
                self.token_id
            );
        }
        self.infra.shutdown.cancel();
        self.infra.drain(std::time::Duration::from_secs(5)).await;
    }
}

/// Maps the database's clock onto this process's monotonic one (same machine, or clocks in
/// step): the instant at which `at` happened.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    instant: Instant,
    wall: DateTime<Utc>,
}

impl Clock {
    pub fn now() -> Self {
        Clock {
            instant: Instant::now(),
            wall: Utc::now(),
        }
    }

    pub fn instant_of(&self, at: DateTime<Utc>) -> Instant {
        let d = at - self.wall;
        match d.to_std() {
            Ok(after) => self.instant + after,
            Err(_) => {
                let before = (-d).to_std().unwrap_or_default();
                self.instant.checked_sub(before).unwrap_or(self.instant)
            }
        }
    }
}

/// The receipt SMS notify has handed to its provider for these cases, as the sink would have
/// recorded them (no address: the log keeps it sealed).
pub async fn sent_receipts(
    pool: &PgPool,
    case_nos: &[String],
    clock: Clock,
) -> anyhow::Result<Vec<SmsRecord>> {
    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "select id::text, case_no, updated_at from notify.deliveries
         where notice = 'receipt' and channel = 'sms' and audience = 'petitioner'
           and status = 'sent' and case_no = any($1)",
    )
    .bind(case_nos)
    .fetch_all(pool)
    .await
    .context("reading notify's delivery log")?;
    Ok(rows
        .into_iter()
        .map(|(id, case_no, at)| SmsRecord {
            at: clock.instant_of(at),
            id,
            notice: "receipt".into(),
            to: String::new(),
            case_no: Some(case_no),
            params: BTreeMap::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn database_times_map_onto_the_monotonic_clock_both_ways() {
        let c = Clock::now();
        let later = c.instant_of(c.wall + chrono::TimeDelta::milliseconds(250));
        assert_eq!(later.duration_since(c.instant), Duration::from_millis(250));
        let earlier = c.instant_of(c.wall - chrono::TimeDelta::milliseconds(40));
        assert_eq!(c.instant.duration_since(earlier), Duration::from_millis(40));
    }
}
