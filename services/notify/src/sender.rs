//! The sender: one lane per channel claims due deliveries (FOR UPDATE SKIP LOCKED, with a
//! lease) as send slots free up, sends them outside any transaction, and records each result
//! on its own row:
//! sent; transient failure → retrying with exponential backoff and full jitter (and quiet
//! hours); permanent failure or attempts exhausted → dead, with a `case.notice_failed`
//! alert written through the outbox in the same transaction.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{NoticeFailed, kind};
use xinfang_domain::subject;
use xinfang_platform::outbox;

use crate::core::Core;
use crate::mask;
use crate::notice::{Channel, Notice};
use crate::providers::email::{EmailExtras, EmailMessage};
use crate::providers::{SendError, SmsMessage};
use crate::settings::SenderSettings;
use crate::store::{self, Claimed};

/// What happened to one claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Deferred,
    Retrying,
    Failed,
    Dead,
    /// The row changed under us (lease expired and someone else took it).
    Lost,
}

/// Backoff before attempt `attempts + 1`: `initial · 2^(attempts-1)` capped at `max`, with
/// full jitter in `[cap/2, cap]`.
pub fn backoff(s: &SenderSettings, attempts: i32) -> Duration {
    let exp = (attempts.max(1) - 1).min(30) as u32;
    let cap = s
        .backoff_initial_ms
        .saturating_mul(2u64.saturating_pow(exp))
        .min(s.backoff_max_ms)
        .max(1);
    Duration::from_millis(rand::random_range(cap / 2..=cap))
}

/// Sends one claimed delivery through its provider.
async fn attempt(core: &Core, c: &Claimed, address: &str) -> Result<Option<String>, SendError> {
    let Some(channel) = Channel::parse(&c.channel) else {
        return Err(SendError::Permanent(format!(
            "unknown channel {}",
            c.channel
        )));
    };
    match channel {
        Channel::Email => {
            let Some(email) = &core.providers.email else {
                return Err(SendError::Permanent("email disabled".into()));
            };
            email
                .send_with(
                    EmailMessage {
                        id: c.id,
                        to: address,
                        subject: c.subject.as_deref().unwrap_or("通知"),
                        body: &c.body,
                    },
                    EmailExtras {
                        html: c.body_format == "html",
                        attachment: c.attachment.as_ref().map(|(n, a)| (n.as_str(), a.as_str())),
                    },
                )
                .await
        }
        Channel::Sms => {
            let Some(sms) = &core.providers.sms else {
                return Err(SendError::Permanent("sms disabled".into()));
            };
            let Some(notice) = Notice::parse(&c.notice) else {
                return Err(SendError::Permanent(format!("unknown notice {}", c.notice)));
            };
            let params = serde_json::from_value(c.params.clone()).unwrap_or_default();
            sms.send(SmsMessage {
                id: c.id,
                to: address,
                text: &c.body,
                notice,
                params: &params,
            })
            .await
        }
    }
}

fn channel_enabled(core: &Core, channel: &str) -> bool {
    match Channel::parse(channel) {
        Some(Channel::Email) => core.providers.email.is_some(),
        Some(Channel::Sms) => core.providers.sms.is_some(),
        None => false,
    }
}

/// Handles one claimed delivery end to end and records the result.
pub async fn process(core: &Core, pool: &PgPool, c: Claimed) -> anyhow::Result<Outcome> {
    let now = core.clock.now();
    let labels = [
        ("channel", c.channel.clone()),
        ("notice", c.notice.clone()),
        ("provider", core.providers.name_for(&c.channel).to_owned()),
    ];
    if !c.quiet_exempt && !core.quiet.allows(now) {
        let until = core.quiet.next_allowed(now);
        store::defer(pool, &c, until).await?;
        tracing::debug!(delivery = %c.id, %until, "quiet hours: deferred");
        return Ok(Outcome::Deferred);
    }
    if !channel_enabled(core, &c.channel) {
        let mut tx = pool.begin().await?;
        let changed =
            store::mark_final(&mut tx, &c, "failed", "channel has no provider configured").await?;
        tx.commit().await?;
        metrics::counter!("xf_notify_unsent_total", &labels).increment(1);
        return Ok(if changed {
            Outcome::Failed
        } else {
            Outcome::Lost
        });
    }
    let address = match core.open_address(&c.address_sealed) {
        Ok(a) => a,
        Err(e) => {
            return give_up(core, pool, &c, &format!("address does not open: {e}")).await;
        }
    };
    let result = attempt(core, &c, &address).await;
    if let (Ok(_), Some(pause)) = (&result, core.pause_after_accept) {
        // Fault tests: the sender stalls (or dies) after the provider took the message and
        // before recording it. Another sender takes the row when the lease ends and sends it
        // again under the same idempotency key, so the gateway keeps one message; this
        // sender's late record is then refused (`Outcome::Lost`).
        tokio::time::sleep(pause).await;
    }
    let now = core.clock.now();
    match result {
        Ok(provider_id) => {
            let changed = store::mark_sent(pool, &c, now, provider_id.as_deref()).await?;
            metrics::counter!("xf_notify_sent_total", &labels).increment(1);
            tracing::info!(
                delivery = %c.id,
                notice = %c.notice,
                channel = %c.channel,
                to = %mask::Masked(&address),
                attempts = c.attempts,
                "notice sent"
            );
            Ok(if changed {
                Outcome::Sent
            } else {
                Outcome::Lost
            })
        }
        Err(SendError::Transient(e)) if c.attempts < core.settings.sender.max_attempts => {
            let error = mask::scrub(&e);
            let wait = backoff(&core.settings.sender, c.attempts);
            let mut next: DateTime<Utc> =
                now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
            let mut deferred = false;
            if !c.quiet_exempt && !core.quiet.allows(next) {
                next = core.quiet.next_allowed(next);
                deferred = true;
            }
            let changed = store::mark_retry(pool, &c, next, deferred, &error).await?;
            metrics::counter!("xf_notify_retry_total", &labels).increment(1);
            tracing::warn!(
                delivery = %c.id,
                notice = %c.notice,
                channel = %c.channel,
                to = %mask::Masked(&address),
                attempts = c.attempts,
                %next,
                error = %error,
                "send failed; will retry"
            );
            Ok(if changed {
                Outcome::Retrying
            } else {
                Outcome::Lost
            })
        }
        Err(SendError::Transient(e)) => {
            let error = format!("after {} attempts: {}", c.attempts, mask::scrub(&e));
            give_up(core, pool, &c, &error).await
        }
        Err(SendError::Permanent(e)) => give_up(core, pool, &c, &mask::scrub(&e)).await,
    }
}

/// Dead state plus the bureau's alert, in one transaction.
async fn give_up(core: &Core, pool: &PgPool, c: &Claimed, error: &str) -> anyhow::Result<Outcome> {
    let now = core.clock.now();
    let mut tx = pool.begin().await?;
    let changed = store::mark_final(&mut tx, c, "dead", error).await?;
    if changed {
        let county = CountyCode::parse(&c.county).map_err(|e| anyhow::anyhow!("{e}"))?;
        let case_no = c.case_no.clone().unwrap_or_default();
        let alert = NoticeFailed {
            case_no: case_no.clone(),
            notice: c.notice.clone(),
            channel: c.channel.clone(),
            audience: c.audience.clone(),
            department: c.department.clone(),
            recipient_masked: c.address_masked.clone(),
            attempts: c.attempts.max(0) as u32,
            error: error.chars().take(500).collect(),
            cause_event: c.event_id,
            at: now,
        };
        let env = Envelope::new(
            kind::NOTICE_FAILED,
            (!case_no.is_empty()).then_some(case_no),
            county.clone(),
            now,
            alert,
        )?;
        outbox::enqueue(
            &mut tx,
            &subject::case_event(&county, kind::NOTICE_FAILED)?,
            &env,
        )
        .await?;
    }
    tx.commit().await?;
    let labels = [
        ("channel", c.channel.clone()),
        ("notice", c.notice.clone()),
        ("provider", core.providers.name_for(&c.channel).to_owned()),
    ];
    metrics::counter!("xf_notify_dead_total", &labels).increment(1);
    tracing::error!(
        delivery = %c.id,
        notice = %c.notice,
        channel = %c.channel,
        to = %c.address_masked,
        attempts = c.attempts,
        error,
        "notice undeliverable; bureau alerted"
    );
    Ok(if changed {
        Outcome::Dead
    } else {
        Outcome::Lost
    })
}

/// Handles one claimed delivery; a failure to record the result is logged and the row's
/// lease lets another round take it again.
async fn process_logged(core: Arc<Core>, pool: PgPool, c: Claimed) -> Outcome {
    let id = c.id;
    match process(&core, &pool, c).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(delivery = %id, error = %mask::scrub(&format!("{e:#}")), "recording the result failed");
            Outcome::Lost
        }
    }
}

/// Runs until `shutdown`: one sender lane per channel, so a mail relay that hangs until its
/// timeout never holds a petitioner's SMS receipt (or the other way round).
pub async fn run(core: Arc<Core>, pool: PgPool, schema: String, shutdown: CancellationToken) {
    tracing::info!("notify sender started");
    let lanes = Channel::ALL.map(|channel| {
        lane(
            core.clone(),
            pool.clone(),
            schema.clone(),
            channel,
            shutdown.clone(),
        )
    });
    futures::future::join_all(lanes).await;
    tracing::info!("notify sender stopped");
}

/// One channel's lane: keeps up to `concurrency` sends in flight, claiming due rows as slots
/// free up (no batch waits for its slowest send), and sleeps until a wake-up (a committed new
/// delivery), a send finishing or the poll interval when nothing is due.
async fn lane(
    core: Arc<Core>,
    pool: PgPool,
    schema: String,
    channel: Channel,
    shutdown: CancellationToken,
) {
    let wake = format!("{schema}{}", store::WAKE_SUFFIX);
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen(&wake).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(%channel, error = %e, "notify sender: LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(%channel, error = %e, "notify sender: no listener; polling only");
            None
        }
    };
    let s = &core.settings.sender;
    let poll = Duration::from_millis(s.poll_interval_ms.max(10));
    let concurrency = s.concurrency.max(1);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut failures = 0u32;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Refill whenever a slot is free. (Waiting for half of them starved the lane: with
        // more than half the sends hanging at a relay, the free slots stayed idle.) The loop
        // only comes round on a send finishing, a wake-up or the poll interval.
        let free = concurrency - in_flight.len();
        if free > 0 {
            let limit = (free as i64).min(s.batch_size.max(1));
            match store::claim(
                &pool,
                channel.as_str(),
                core.clock.now(),
                limit,
                s.lease_secs,
            )
            .await
            {
                Ok(claimed) => {
                    failures = 0;
                    let full = claimed.len() as i64 == limit;
                    for c in claimed {
                        in_flight.spawn(process_logged(core.clone(), pool.clone(), c));
                    }
                    // More may be due right away.
                    if full && in_flight.len() < concurrency {
                        continue;
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(%channel, error = %e, "notify sender round failed");
                    let wait = Duration::from_millis(100 * 2u64.pow(failures.min(7)));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {},
                        _ = shutdown.cancelled() => break,
                    }
                    continue;
                }
            }
        }
        let woken = async {
            match listener.as_mut() {
                Some(l) => {
                    if let Err(e) = l.recv().await {
                        tracing::warn!(%channel, error = %e, "notify sender: listener error");
                        tokio::time::sleep(poll).await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(%channel, error = %e, "notify send task failed");
                }
            }
            _ = woken => {},
            _ = tokio::time::sleep(poll) => {},
            _ = shutdown.cancelled() => break,
        }
    }
    // Sends already handed to a provider finish and are recorded before the lane stops.
    while in_flight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let s = SenderSettings {
            backoff_initial_ms: 1000,
            backoff_max_ms: 10_000,
            ..Default::default()
        };
        for _ in 0..50 {
            let b1 = backoff(&s, 1).as_millis();
            assert!((500..=1000).contains(&b1), "{b1}");
            let b3 = backoff(&s, 3).as_millis();
            assert!((2000..=4000).contains(&b3), "{b3}");
            let b9 = backoff(&s, 9).as_millis();
            assert!((5000..=10_000).contains(&b9), "{b9}");
        }
        let spread: std::collections::BTreeSet<_> =
            (0..50).map(|_| backoff(&s, 4).as_millis()).collect();
        assert!(spread.len() > 1, "jitter varies the delay");
    }
}
