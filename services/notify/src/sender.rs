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

/// Deliveries claimed ahead of the free send slots, at most this many per slot: one claim
/// per delivery cost more than its send (the due index is read from its oldest entries,
/// which the rows already sent keep until vacuum: about 7,000 buffers per claim after
/// 10,000 sends in `bench pipeline`).
const CLAIM_AHEAD_PER_SLOT: usize = 4;

/// How long a claimed delivery may wait for a send slot: a quarter of its lease. The send
/// that follows is bounded by the rest ([`send_bound`]), so it ends before the lease does and
/// no other sender takes the row while this one still sends (an e-mail has no idempotency key).
pub fn wait_bound(lease: Duration) -> Duration {
    lease / 4
}

/// The longest a send may take once started: the lease less [`wait_bound`].
pub fn send_bound(lease: Duration) -> Duration {
    lease - wait_bound(lease)
}

/// Claimed deliveries waiting for a send slot. A row's lease runs from its claim, so one
/// that waited longer than [`wait_bound`] is given back (released, its attempt not counted)
/// rather than sent so late that its lease could end mid-send.
struct Claims {
    waiting: std::collections::VecDeque<(tokio::time::Instant, Claimed)>,
    stale_after: Duration,
    /// Let go, to be released.
    stale: Vec<Claimed>,
}

impl Claims {
    fn new(lease_secs: u64) -> Self {
        Self::stale_after(wait_bound(Duration::from_secs(lease_secs.max(1))))
    }

    fn stale_after(stale_after: Duration) -> Self {
        Self {
            waiting: std::collections::VecDeque::new(),
            stale_after,
            stale: Vec::new(),
        }
    }

    /// The claims let go since the last call, to be released.
    fn take_stale(&mut self) -> Vec<Claimed> {
        std::mem::take(&mut self.stale)
    }

    /// Everything not sent: the stale ones and those still waiting.
    fn drain_unsent(&mut self) -> Vec<Claimed> {
        let mut all = self.take_stale();
        all.extend(self.waiting.drain(..).map(|(_, c)| c));
        all
    }

    fn push(&mut self, claimed: Vec<Claimed>) {
        let at = tokio::time::Instant::now();
        self.waiting.extend(claimed.into_iter().map(|c| (at, c)));
    }

    /// The next claim that has not waited longer than its bound.
    fn next(&mut self) -> Option<Claimed> {
        while let Some((at, c)) = self.waiting.pop_front() {
            if at.elapsed() < self.stale_after {
                return Some(c);
            }
            tracing::debug!(delivery = %c.id, "claimed delivery waited too long for a send slot; let go");
            self.stale.push(c);
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// One channel's lane: keeps up to `concurrency` sends in flight, starting the next claimed
/// delivery as a slot frees up (no batch waits for its slowest send) and claiming a batch
/// ahead when none is waiting; sleeps until a wake-up (a committed new delivery), a send
/// finishing or the poll interval when nothing is due.
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
    let ahead = (concurrency * CLAIM_AHEAD_PER_SLOT) as i64;
    let mut claims = Claims::new(s.lease_secs);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut failures = 0u32;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Refill whenever a slot is free. (Waiting for half of them starved the lane: with
        // more than half the sends hanging at a relay, the free slots stayed idle.) The loop
        // only comes round on a send finishing, a wake-up or the poll interval.
        while in_flight.len() < concurrency
            && let Some(c) = claims.next()
        {
            in_flight.spawn(process_logged(core.clone(), pool.clone(), c));
        }
        let stale = claims.take_stale();
        if !stale.is_empty() {
            release_logged(&pool, stale).await;
        }
        if in_flight.len() < concurrency && claims.is_empty() {
            let limit = ahead.min(s.batch_size.max(1));
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
                    let got = claimed.len();
                    claims.push(claimed);
                    // Something was due: start it, and claim again if the slots outlast it.
                    if got > 0 {
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
    // Claims not started go back at once (not when their lease ends); sends already handed
    // to a provider finish and are recorded before the lane stops.
    release_logged(&pool, claims.drain_unsent()).await;
    while in_flight.join_next().await.is_some() {}
}

/// Releases claims never sent; on failure their lease simply runs out.
async fn release_logged(pool: &PgPool, unsent: Vec<Claimed>) {
    if let Err(e) = store::release(pool, &unsent).await {
        tracing::warn!(error = %e, claims = unsent.len(), "releasing unsent claims failed; they return when their lease ends");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(n: u128) -> Claimed {
        Claimed {
            id: uuid::Uuid::from_u128(n),
            event_id: uuid::Uuid::from_u128(n),
            channel: "sms".into(),
            notice: "receipt".into(),
            audience: "petitioner".into(),
            department: None,
            case_no: None,
            county: "411202".into(),
            address_sealed: String::new(),
            address_masked: String::new(),
            subject: None,
            body: String::new(),
            params: serde_json::Value::Null,
            quiet_exempt: false,
            attempts: 1,
            body_format: "text".into(),
            attachment: None,
        }
    }

    #[test]
    fn a_claim_waits_and_sends_within_its_lease() {
        for secs in [1, 7, 120, 3600] {
            let lease = Duration::from_secs(secs);
            assert!(wait_bound(lease) > Duration::ZERO, "{secs}");
            assert!(send_bound(lease) >= wait_bound(lease), "{secs}");
            assert_eq!(wait_bound(lease) + send_bound(lease), lease, "{secs}");
        }
    }

    #[tokio::test]
    async fn claims_are_started_in_order_and_let_go_after_their_wait_bound() {
        let mut q = Claims::stale_after(Duration::from_millis(40));
        q.push(vec![claimed(1), claimed(2)]);
        assert_eq!(q.next().map(|c| c.id), Some(uuid::Uuid::from_u128(1)));
        tokio::time::sleep(Duration::from_millis(60)).await;
        q.push(vec![claimed(3)]);
        // 2 waited too long: let go, to be released; 3 is fresh.
        assert_eq!(q.next().map(|c| c.id), Some(uuid::Uuid::from_u128(3)));
        assert_eq!(q.stale.len(), 1);
        assert_eq!(q.stale[0].id, uuid::Uuid::from_u128(2));
        assert!(q.is_empty());
        q.push(vec![claimed(4)]);
        let unsent: Vec<_> = q.drain_unsent().into_iter().map(|c| c.id).collect();
        assert_eq!(
            unsent,
            vec![uuid::Uuid::from_u128(2), uuid::Uuid::from_u128(4)]
        );
        assert!(q.is_empty() && q.stale.is_empty());
    }

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
