//! The sender loop: claims due deliveries (FOR UPDATE SKIP LOCKED, with a lease), sends them
//! concurrently outside any transaction, and records each result on its own row:
//! sent; transient failure → retrying with exponential backoff and full jitter (and quiet
//! hours); permanent failure or attempts exhausted → dead, with a `case.notice_failed`
//! alert written through the outbox in the same transaction.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
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

/// One round: claim a batch and send it with `concurrency` in flight. Returns the outcomes.
pub async fn run_once(core: &Arc<Core>, pool: &PgPool) -> anyhow::Result<Vec<Outcome>> {
    let s = &core.settings.sender;
    let claimed = store::claim(pool, core.clock.now(), s.batch_size, s.lease_secs).await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let outcomes = futures::stream::iter(claimed)
        .map(|c| {
            let core = core.clone();
            async move {
                let id = c.id;
                match process(&core, pool, c).await {
                    Ok(o) => o,
                    Err(e) => {
                        // The lease expires and the row is claimed again.
                        tracing::warn!(delivery = %id, error = %mask::scrub(&format!("{e:#}")), "recording the result failed");
                        Outcome::Lost
                    }
                }
            }
        })
        .buffer_unordered(s.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    Ok(outcomes)
}

/// Runs until `shutdown`: drains due deliveries, then sleeps until a wake-up (a committed
/// new delivery) or the poll interval.
pub async fn run(core: Arc<Core>, pool: PgPool, schema: String, shutdown: CancellationToken) {
    let channel = format!("{schema}{}", store::WAKE_SUFFIX);
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen(&channel).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "notify sender: LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "notify sender: no listener; polling only");
            None
        }
    };
    let poll = Duration::from_millis(core.settings.sender.poll_interval_ms.max(10));
    let mut failures = 0u32;
    tracing::info!("notify sender started");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match run_once(&core, &pool).await {
            Ok(outcomes) if !outcomes.is_empty() => {
                failures = 0;
                // More may be due right away (a full batch, or retries due now).
                if outcomes.iter().any(|o| *o != Outcome::Deferred) {
                    continue;
                }
            }
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "notify sender round failed");
                let wait = Duration::from_millis(100 * 2u64.pow(failures.min(7)));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {},
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
        }
        match listener.as_mut() {
            Some(l) => {
                tokio::select! {
                    r = l.recv() => if let Err(e) = r {
                        tracing::warn!(error = %e, "notify sender: listener error");
                        tokio::time::sleep(poll).await;
                    },
                    _ = tokio::time::sleep(poll) => {},
                    _ = shutdown.cancelled() => break,
                }
            }
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {},
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    tracing::info!("notify sender stopped");
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
