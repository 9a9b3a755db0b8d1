//! The consume loop. A fetched batch is handled in ONE Postgres transaction: the inbox rows,
//! the handlers' effects and any outbox rows; the batch commits, and only then are messages
//! acked. The batch is first tried whole (its inbox rows in one statement, no savepoints);
//! if any message fails, that attempt is undone and the batch is redone with each message
//! under its own savepoint, so one failing message does not undo the others. Failures are
//! nak'ed with exponential backoff, and a message that still fails after `max_deliveries` (or
//! is malformed) goes to `xf.<county>.dlq.<consumer>` with its error.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use sqlx::postgres::PgPool;
use sqlx::{Executor, PgConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;

use crate::case_order::{CaseOrder, Position};
use crate::config::Consumer as ConsumerSettings;
use crate::nats::{MSG_ID, ensure_consumer};
use crate::trace_context;

/// Headers on dead letters.
pub const DLQ_ERROR: &str = "Xf-Error";
pub const DLQ_SUBJECT: &str = "Xf-Original-Subject";
pub const DLQ_CONSUMER: &str = "Xf-Consumer";
pub const DLQ_DELIVERIES: &str = "Xf-Deliveries";

/// How a handler failed: decides between retrying and dead-lettering.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Might succeed later (a dependency is down, an earlier event has not arrived yet).
    #[error("retry: {0:#}")]
    Retry(anyhow::Error),
    /// Will never succeed (invalid payload, refused by a rule): dead-letter now.
    #[error("reject: {0:#}")]
    Reject(anyhow::Error),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::Retry(e.into())
    }
}

/// One received event as a handler sees it.
pub struct Incoming<'a> {
    pub subject: &'a str,
    pub envelope: &'a Envelope,
    pub delivered: i64,
}

/// Applies one event inside the batch transaction. It must only write through `conn`
/// (effects and outbox rows), so the effect, the inbox row and the ack stay consistent.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Applies a batch's fresh events, in order, when the batch is tried whole (no
    /// savepoints): any error undoes the batch, which is then redone one [`Handler::handle`]
    /// per message. Each message comes with its consume span. The default handles them one by
    /// one; a handler whose events are statements of one shape may apply them together.
    fn handle_all(
        &self,
        conn: &mut PgConnection,
        msgs: &[(Incoming<'_>, tracing::Span)],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for (msg, span) in msgs {
                self.handle(conn, msg).instrument(span.clone()).await?;
            }
            Ok(())
        }
    }
}

/// A durable consumer: `name` is a lowercase token unique per service and filter.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub county: CountyCode,
    pub name: String,
    pub filter: String,
}

/// What to do with a message once the batch transaction has committed (or failed).
#[derive(Debug)]
pub enum Settlement {
    Ack,
    Retry {
        delay: Duration,
        error: String,
    },
    DeadLetter {
        error: String,
    },
    /// Not handled: an earlier event of its case is waiting for its retry; comes back after it.
    Wait {
        delay: Duration,
    },
}

/// Exponential backoff with full jitter, from the delivery count.
pub fn backoff(settings: &ConsumerSettings, delivered: i64) -> Duration {
    let exp = (delivered.max(1) - 1).min(20) as u32;
    let cap = settings
        .backoff_initial_ms
        .saturating_mul(2u64.saturating_pow(exp))
        .min(settings.backoff_max_ms)
        .max(1);
    let jittered = rand::random_range(cap / 2..=cap);
    Duration::from_millis(jittered)
}

/// Handles a batch in one transaction and returns each message's settlement, in order.
/// Nothing is acked here: [`settle`] does that after this returns, i.e. after the commit.
/// The batch's messages are taken as one stream's; a case's events behind one that fails in
/// the batch wait for it (see [`case_order`](crate::case_order)).
pub async fn handle_batch<H: Handler>(
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    settings: &ConsumerSettings,
    messages: &[jetstream::Message],
) -> Vec<Settlement> {
    let positions: Vec<Position> = messages.iter().map(|m| position(0, m)).collect();
    let mut order = CaseOrder::new(Duration::from_secs(settings.ack_wait_secs));
    handle_batch_in_order(
        pool, spec, handler, settings, messages, &positions, &mut order,
    )
    .await
}

fn position(stream: usize, m: &jetstream::Message) -> Position {
    Position {
        stream,
        sequence: m.info().map(|i| i.stream_sequence).unwrap_or(0),
    }
}

fn delivered(m: &jetstream::Message) -> i64 {
    m.info().map(|i| i.delivered).unwrap_or(1)
}

/// [`handle_batch`] for a consume loop: messages of a case whose earlier event is waiting for
/// its retry (in `order`, across batches) wait too, and what this batch settles is recorded
/// there.
pub async fn handle_batch_in_order<H: Handler>(
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    settings: &ConsumerSettings,
    messages: &[jetstream::Message],
    positions: &[Position],
    order: &mut CaseOrder,
) -> Vec<Settlement> {
    let now = std::time::Instant::now();
    let mut out: Vec<Option<Settlement>> = (0..messages.len()).map(|_| None).collect();
    let mut parsed: Vec<Option<Envelope>> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| match Envelope::from_bytes(&m.payload) {
            Ok(env) => Some(env),
            Err(e) => {
                out[i] = Some(Settlement::DeadLetter {
                    error: format!("malformed envelope: {e}"),
                });
                None
            }
        })
        .collect();
    // Set aside before anything is written: a waiting message is not handled at all.
    for (i, m) in messages.iter().enumerate() {
        let Some(env) = &parsed[i] else { continue };
        if let Some(delay) = order.wait(
            now,
            env.case_id.as_deref(),
            positions[i],
            delivered(m),
            settings.max_deliveries,
        ) {
            out[i] = Some(Settlement::Wait { delay });
            parsed[i] = None;
        }
    }
    let settlements = apply(
        pool, spec, handler, settings, messages, &parsed, positions, out,
    )
    .await;
    // What was handled (its envelope is still here) settles its case's hold.
    for ((s, env), at) in settlements.iter().zip(&parsed).zip(positions) {
        let case = env.as_ref().and_then(|e| e.case_id.as_deref());
        match s {
            Settlement::Ack | Settlement::DeadLetter { .. } => order.done(case, *at),
            Settlement::Retry { delay, .. } => order.failed(now, case, *at, *delay),
            Settlement::Wait { .. } => {}
        }
    }
    settlements
}

/// The batch's settlements: whole if it can, else message by message. `out` holds what is
/// settled already (malformed or waiting messages, whose `parsed` is None).
#[allow(clippy::too_many_arguments)]
async fn apply<H: Handler>(
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    settings: &ConsumerSettings,
    messages: &[jetstream::Message],
    parsed: &[Option<Envelope>],
    positions: &[Position],
    mut out: Vec<Option<Settlement>>,
) -> Vec<Settlement> {
    // Most batches succeed whole: three round trips per message (savepoint, inbox row,
    // release) were a third of every service's statements under load.
    match together(pool, spec, handler, messages, parsed).await {
        Ok(()) => {
            return out
                .into_iter()
                .map(|malformed| malformed.unwrap_or(Settlement::Ack))
                .collect();
        }
        Err(e) => {
            tracing::debug!(consumer = %spec.name, error = %e, "batch redone message by message");
        }
    }

    // A case's events behind one that fails here wait for it, as across batches.
    let mut failed: std::collections::HashMap<&str, (Position, Duration)> =
        std::collections::HashMap::new();
    let result: Result<(), sqlx::Error> = async {
        let mut tx = pool.begin().await?;
        for (i, (msg, env)) in messages.iter().zip(parsed).enumerate() {
            let Some(env) = env else { continue };
            let delivered = delivered(msg);
            let case = env.case_id.as_deref();
            if let Some((first, delay)) = case.and_then(|c| failed.get(c))
                && positions[i].after(*first)
                && delivered < settings.max_deliveries
            {
                out[i] = Some(Settlement::Wait {
                    delay: *delay + crate::case_order::BEHIND,
                });
                continue;
            }
            let span = consume_span(spec, env, delivered);
            trace_context::set_parent_from(&span, msg.headers.as_ref());
            tx.execute("savepoint xf_msg").await?;
            let fresh = sqlx::query(
                "insert into inbox (consumer, event_id, subject) values ($1, $2, $3)
                 on conflict do nothing",
            )
            .bind(&spec.name)
            .bind(env.id)
            .bind(msg.subject.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                tx.execute("release savepoint xf_msg").await?;
                metrics::counter!("xf_events_duplicate_total", "consumer" => spec.name.clone())
                    .increment(1);
                out[i] = Some(Settlement::Ack);
                continue;
            }
            let incoming = Incoming {
                subject: msg.subject.as_str(),
                envelope: env,
                delivered,
            };
            let r = handler
                .handle(&mut tx, &incoming)
                .instrument(span.clone())
                .await;
            match r {
                Ok(()) => {
                    tx.execute("release savepoint xf_msg").await?;
                    out[i] = Some(Settlement::Ack);
                }
                Err(e) => {
                    tx.execute("rollback to savepoint xf_msg").await?;
                    span.in_scope(|| tracing::warn!(error = %e, "event handling failed"));
                    out[i] = Some(match e {
                        HandlerError::Retry(e) if delivered < settings.max_deliveries => {
                            let delay = backoff(settings, delivered);
                            if let Some(case) = case {
                                failed.entry(case).or_insert((positions[i], delay));
                            }
                            Settlement::Retry {
                                delay,
                                error: format!("{e:#}"),
                            }
                        }
                        HandlerError::Retry(e) => Settlement::DeadLetter {
                            error: format!("after {delivered} deliveries: {e:#}"),
                        },
                        HandlerError::Reject(e) => Settlement::DeadLetter {
                            error: format!("{e:#}"),
                        },
                    });
                }
            }
        }
        tx.commit().await
    }
    .await;

    match result {
        Ok(()) => out
            .into_iter()
            .map(|s| s.unwrap_or(Settlement::Ack))
            .collect(),
        Err(e) => {
            // Nothing of the batch committed: every message is retried (malformed ones
            // still go to the dead-letter subject).
            tracing::warn!(consumer = %spec.name, error = %e, "batch transaction failed");
            messages
                .iter()
                .zip(out)
                .zip(parsed)
                .map(|((m, s), env)| match (env, s) {
                    (None, Some(settled)) => settled,
                    _ => Settlement::Retry {
                        delay: backoff(settings, m.info().map(|i| i.delivered).unwrap_or(1)),
                        error: format!("batch transaction: {e}"),
                    },
                })
                .collect()
        }
    }
}

/// The whole batch in one transaction without savepoints: one statement writes every inbox
/// row, and a message whose row was already there (a redelivery) is acked unhandled. Any
/// failure returns before commit, which undoes everything: the caller redoes the batch one
/// savepoint per message. Handlers already tolerate being run again (a batch whose commit
/// fails is retried whole).
async fn together<H: Handler>(
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    messages: &[jetstream::Message],
    parsed: &[Option<Envelope>],
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let mut ids = Vec::with_capacity(messages.len());
    let mut subjects = Vec::with_capacity(messages.len());
    let mut seen = std::collections::HashSet::with_capacity(messages.len());
    for (msg, env) in messages.iter().zip(parsed) {
        if let Some(env) = env
            && seen.insert(env.id)
        {
            ids.push(env.id);
            subjects.push(msg.subject.as_str());
        }
    }
    let mut fresh: std::collections::HashSet<uuid::Uuid> = sqlx::query_scalar(
        "insert into inbox (consumer, event_id, subject)
         select $1, e, s from unnest($2::uuid[], $3::text[]) as t(e, s)
         on conflict do nothing
         returning event_id",
    )
    .bind(&spec.name)
    .bind(&ids)
    .bind(&subjects)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut duplicates = 0u64;
    let mut incoming = Vec::with_capacity(fresh.len());
    for (msg, env) in messages.iter().zip(parsed) {
        let Some(env) = env else { continue };
        // A message is handled once per batch: a second copy in the same batch, like one
        // whose inbox row an earlier batch wrote, is a duplicate.
        if !fresh.remove(&env.id) {
            duplicates += 1;
            continue;
        }
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        let span = consume_span(spec, env, delivered);
        trace_context::set_parent_from(&span, msg.headers.as_ref());
        incoming.push((
            Incoming {
                subject: msg.subject.as_str(),
                envelope: env,
                delivered,
            },
            span,
        ));
    }
    handler
        .handle_all(&mut tx, &incoming)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    // Counted once committed: an attempt that fails is redone, and counts there.
    metrics::counter!("xf_events_duplicate_total", "consumer" => spec.name.clone())
        .increment(duplicates);
    Ok(())
}

fn consume_span(spec: &ConsumerSpec, env: &Envelope, delivered: i64) -> tracing::Span {
    tracing::info_span!(
        "consume",
        otel.name = %format!("{} process", spec.name),
        consumer = %spec.name,
        event_type = %env.kind,
        case_id = env.case_id.as_deref().unwrap_or(""),
        county = %env.county,
        department = env.data.get("department").and_then(|d| d.as_str()).unwrap_or(""),
        delivered,
    )
}

/// Acks, naks or dead-letters a message according to its settlement, on its county's
/// consumer (`spec`).
pub async fn settle(
    js: &jetstream::Context,
    spec: &ConsumerSpec,
    msg: jetstream::Message,
    s: Settlement,
) {
    // Per consumer and subject; subjects are bounded (counties × departments × types).
    let labels = [
        ("consumer", spec.name.clone()),
        ("subject", msg.subject.to_string()),
    ];
    let r = match s {
        Settlement::Ack => {
            metrics::counter!("xf_events_handled_total", &labels).increment(1);
            msg.ack().await
        }
        Settlement::Retry { delay, .. } => {
            metrics::counter!("xf_events_failed_total", &labels).increment(1);
            msg.ack_with(AckKind::Nak(Some(delay))).await
        }
        Settlement::Wait { delay } => {
            metrics::counter!("xf_events_waiting_total", &labels).increment(1);
            msg.ack_with(AckKind::Nak(Some(delay))).await
        }
        Settlement::DeadLetter { error } => match dead_letter(js, spec, &msg, &error).await {
            Ok(()) => {
                metrics::counter!("xf_events_dead_lettered_total", &labels).increment(1);
                msg.ack_with(AckKind::Term).await
            }
            Err(e) => {
                tracing::error!(consumer = %spec.name, error = %e, "dead-letter publish failed; will retry");
                msg.ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                    .await
            }
        },
    };
    if let Err(e) = r {
        // The server redelivers after ack_wait; the inbox makes that harmless.
        tracing::warn!(consumer = %spec.name, error = %e, "ack failed");
    }
}

async fn dead_letter(
    js: &jetstream::Context,
    spec: &ConsumerSpec,
    msg: &jetstream::Message,
    error: &str,
) -> anyhow::Result<()> {
    let subject = subject::dead_letter(&spec.county, &spec.name)?;
    let info = msg.info().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut headers = msg.headers.clone().unwrap_or_default();
    let error: String = error.chars().take(2000).collect();
    headers.insert(DLQ_ERROR, error.replace(['\r', '\n'], " ").as_str());
    headers.insert(DLQ_SUBJECT, msg.subject.as_str());
    headers.insert(DLQ_CONSUMER, spec.name.as_str());
    headers.insert(DLQ_DELIVERIES, info.delivered.to_string().as_str());
    headers.insert(
        MSG_ID,
        format!("dlq-{}-{}", spec.name, info.stream_sequence).as_str(),
    );
    js.send_publish(
        subject.to_string(),
        jetstream::message::PublishMessage::build()
            .payload(msg.payload.clone())
            .headers(headers),
    )
    .await?
    .await?;
    tracing::error!(consumer = %spec.name, %error, "event dead-lettered");
    Ok(())
}

/// Runs one durable consumer until `shutdown`: fetches what is ready (up to the batch size),
/// handles it, settles it, repeats. An in-flight batch always completes before returning.
pub async fn run<H: Handler>(
    pool: PgPool,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    spec: ConsumerSpec,
    handler: Arc<H>,
    settings: ConsumerSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_merged(pool, js, vec![(stream, spec)], handler, settings, shutdown).await
}

/// Runs one durable consumer per county stream as ONE loop: what is ready on any of them is
/// handled in the same batch transaction. With the load spread over seven counties, a
/// consumer per county saw a seventh of it and committed seven times as often; merged, a
/// service commits as often as it would for one county. Each county keeps its own durable
/// consumer (position, acks, dead-letter subject); the specs differ only in county and filter.
/// An in-flight batch always completes before returning.
pub async fn run_merged<H: Handler>(
    pool: PgPool,
    js: jetstream::Context,
    sources: Vec<(jetstream::stream::Stream, ConsumerSpec)>,
    handler: Arc<H>,
    settings: ConsumerSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(name) = sources.first().map(|(_, spec)| spec.name.clone()) else {
        return Ok(());
    };
    let batch = settings.batch_size.max(1);
    let mut consumers = Vec::with_capacity(sources.len());
    let mut specs = Vec::with_capacity(sources.len());
    for (stream, spec) in sources {
        let consumer = ensure_consumer(&stream, &spec.name, &spec.filter, &settings).await?;
        tracing::info!(consumer = %spec.name, filter = %spec.filter, "consumer started");
        consumers.push(consumer);
        specs.push(spec);
    }
    // Each county's pull runs on its own task and hands messages over in order; the loop
    // below takes whatever has arrived, from any county, as one batch.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, jetstream::Message)>(batch);
    // Each county pulls its share of a batch: what the process holds prefetched stays about
    // one batch, as with one county. (Seven counties pulling a whole batch each raised the
    // all-in-one's peak and its resident set at rest after a load run.)
    let share = batch.div_ceil(consumers.len()).max(1);
    let pulls: Vec<_> = consumers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(pull(
                i,
                c.clone(),
                name.clone(),
                share,
                tx.clone(),
                shutdown.clone(),
            ))
        })
        .collect();
    drop(tx);
    let mut sample = tokio::time::interval(Duration::from_secs(15));
    let mut order = CaseOrder::new(Duration::from_secs(settings.ack_wait_secs));
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = sample.tick() => {
                sample_consumers(&consumers, &name).await;
                continue;
            }
            _ = shutdown.cancelled() => break,
        };
        // Every pull ended: only at shutdown.
        let Some(first) = first else { break };
        let mut taken = vec![first];
        while taken.len() < batch {
            match rx.try_recv() {
                Ok(m) => taken.push(m),
                Err(_) => break,
            }
        }
        let (from, msgs): (Vec<usize>, Vec<jetstream::Message>) = taken.into_iter().unzip();
        let positions: Vec<Position> = from
            .iter()
            .zip(&msgs)
            .map(|(i, m)| position(*i, m))
            .collect();
        let settlements = handle_batch_in_order(
            &pool,
            &specs[0],
            handler.as_ref(),
            &settings,
            &msgs,
            &positions,
            &mut order,
        )
        .await;
        for ((i, msg), s) in from.into_iter().zip(msgs).zip(settlements) {
            settle(&js, &specs[i], msg, s).await;
        }
    }
    // Handed over but not taken: released for another instance now, not after ack_wait.
    rx.close();
    let mut handed_over = Vec::new();
    while let Ok((_, m)) = rx.try_recv() {
        handed_over.push(m);
    }
    release(handed_over, &name).await;
    for p in pulls {
        let _ = p.await;
    }
    tracing::info!(consumer = %name, "consumer stopped");
    Ok(())
}

/// One county's pull: forwards its messages, in order, to the merged loop until `shutdown`,
/// pulling anew when the server stops answering the request.
async fn pull(
    index: usize,
    consumer: jetstream::consumer::PullConsumer,
    name: String,
    batch: usize,
    tx: tokio::sync::mpsc::Sender<(usize, jetstream::Message)>,
    shutdown: CancellationToken,
) {
    'outer: loop {
        let messages = match consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %name, error = %e, "pull failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.cancelled() => return,
                }
            }
        };
        let mut messages = messages.ready_chunks(batch);
        loop {
            let chunk = tokio::select! {
                c = messages.next() => c,
                _ = shutdown.cancelled() => {
                    release_buffered(&mut messages, &name).await;
                    return;
                }
            };
            let Some(chunk) = chunk else { continue 'outer };
            let mut stalled = false;
            let mut chunk = chunk.into_iter();
            while let Some(m) = chunk.next() {
                match m {
                    Ok(m) => {
                        let permit = tokio::select! {
                            p = tx.reserve() => p,
                            _ = shutdown.cancelled() => {
                                release_held(m, chunk, &mut messages, &name).await;
                                return;
                            }
                        };
                        // The loop is gone only when the process stops: release what is
                        // here for another instance.
                        let Ok(permit) = permit else {
                            release_held(m, chunk, &mut messages, &name).await;
                            return;
                        };
                        permit.send((index, m));
                    }
                    // A pull request answered by nobody (its consumer leader died, the request
                    // was lost) is never re-sent by the stream, which still counts its messages
                    // as pending: pull anew, and the new request reaches the new leader.
                    Err(e) if pull_stalled(e.kind()) => {
                        tracing::warn!(consumer = %name, error = %e, "pull stalled; pulling anew");
                        stalled = true;
                    }
                    Err(e) => tracing::debug!(consumer = %name, error = %e, "pull status"),
                }
            }
            if stalled {
                continue 'outer;
            }
        }
    }
}

/// Errors after which the pull stream gets no more messages: its outstanding request went
/// unanswered (missed heartbeats), reached no server, or failed.
fn pull_stalled(kind: jetstream::consumer::pull::MessagesErrorKind) -> bool {
    use jetstream::consumer::pull::MessagesErrorKind as K;
    matches!(kind, K::MissingHeartbeat | K::NoResponders | K::Pull)
}

/// Releases a message in hand, the rest of its chunk and what the pull stream still holds.
async fn release_held<S>(
    held: jetstream::Message,
    chunk: impl Iterator<Item = Result<jetstream::Message, jetstream::consumer::pull::MessagesError>>,
    buffered: &mut S,
    name: &str,
) where
    S: futures::Stream<
            Item = Vec<Result<jetstream::Message, jetstream::consumer::pull::MessagesError>>,
        > + Unpin,
{
    let mut held = vec![held];
    held.extend(chunk.flatten());
    while let Some(Some(more)) = futures::FutureExt::now_or_never(buffered.next()) {
        held.extend(more.into_iter().flatten());
    }
    release(held, name).await;
}

/// Hands back what the pull stream had already received but no batch had taken: a nak makes
/// the server redeliver it now (to another instance) instead of after `ack_wait`. Messages
/// still in transit at that moment come back after `ack_wait` as usual.
async fn release_buffered<S>(chunks: &mut S, name: &str)
where
    S: futures::Stream<
            Item = Vec<Result<jetstream::Message, jetstream::consumer::pull::MessagesError>>,
        > + Unpin,
{
    let mut buffered = Vec::new();
    while let Some(Some(chunk)) = futures::FutureExt::now_or_never(chunks.next()) {
        buffered.extend(chunk.into_iter().flatten());
    }
    release(buffered, name).await;
}

/// Naks `messages` so the server redelivers them now, to this or another instance.
async fn release(messages: Vec<jetstream::Message>, name: &str) {
    let mut released = 0usize;
    for m in messages {
        if m.ack_with(AckKind::Nak(None)).await.is_ok() {
            released += 1;
        }
    }
    if released > 0 {
        tracing::info!(consumer = %name, released, "released prefetched messages at shutdown");
    }
}

/// Publishes the consumer's backlog as gauges, summed over its counties: pending (not yet
/// delivered), waiting for ack, and redelivered.
async fn sample_consumers(consumers: &[jetstream::consumer::PullConsumer], name: &str) {
    let (mut pending, mut ack_pending, mut redelivered) = (0u64, 0u64, 0u64);
    for consumer in consumers {
        let mut c = consumer.clone();
        if let Ok(info) = c.info().await {
            pending += info.num_pending;
            ack_pending += info.num_ack_pending as u64;
            redelivered += info.num_redelivered as u64;
        }
    }
    let labels = [("consumer", name.to_owned())];
    metrics::gauge!("xf_consumer_pending", &labels).set(pending as f64);
    metrics::gauge!("xf_consumer_ack_pending", &labels).set(ack_pending as f64);
    metrics::gauge!("xf_consumer_redelivered", &labels).set(redelivered as f64);
}
