//! Transactional outbox: events are written in the transaction of the change that caused
//! them; the relay publishes them with publish-acks in flight and marks them published.
//! A relay restart republishes unmarked rows with the same `Nats-Msg-Id`, which JetStream's
//! duplicate window and the consumers' inbox absorb.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use futures::StreamExt;
use serde::Serialize;
use sqlx::postgres::{PgListener, PgPool};
use sqlx::{PgConnection, Row};
use tokio_util::sync::CancellationToken;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject::Subject;

pub use crate::outbox_batch::Batch;

use crate::config::Outbox as OutboxSettings;
use crate::nats::MSG_ID;
use crate::trace_context;

/// Adds an event to the outbox inside the caller's transaction. The current span's trace
/// context is stored with it so the published message continues this trace.
pub async fn enqueue<T: Serialize>(
    conn: &mut PgConnection,
    subject: &Subject,
    env: &Envelope<T>,
) -> anyhow::Result<()> {
    let payload = env.to_bytes()?;
    let headers = serde_json::to_value(trace_context::current_as_pairs())?;
    // The notification is delivered on commit only and wakes the relay without polling;
    // sent in the same statement as the row (one round trip per event, not two).
    sqlx::query(
        "with row as (
            insert into outbox (event_id, subject, payload, headers) values ($1, $2, $3, $4)
            on conflict (event_id) do nothing)
         select pg_notify(current_schema() || '_outbox_wake', '')",
    )
    .bind(env.id)
    .bind(subject.as_str())
    .bind(payload)
    .bind(headers)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An event written to the outbox, as reported back to a caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRef {
    pub id: uuid::Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
}

/// Wraps `data` in a new envelope about `case_no` and adds it to the outbox on `subject`.
pub async fn emit<T: Serialize>(
    conn: &mut PgConnection,
    subject: &Subject,
    county: &xinfang_domain::county::CountyCode,
    kind: &str,
    case_no: &str,
    at: chrono::DateTime<chrono::Utc>,
    data: &T,
) -> anyhow::Result<EventRef> {
    let env = Envelope::new(kind, Some(case_no.to_owned()), county.clone(), at, data)?;
    enqueue(conn, subject, &env).await?;
    Ok(EventRef {
        id: env.id,
        kind: kind.to_owned(),
        subject: subject.to_string(),
    })
}

/// Number of committed events not yet published.
pub async fn backlog(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("select count(*) from outbox where published_at is null")
            .fetch_one(pool)
            .await?,
    )
}

/// Publishes one batch of unpublished rows; returns how many were published. Rows are
/// locked with SKIP LOCKED so several relays can run side by side.
pub async fn relay_once(
    pool: &PgPool,
    js: &jetstream::Context,
    batch: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "select seq, event_id, subject, payload, headers from outbox
         where published_at is null order by seq limit $1 for update skip locked",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut pending = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        let id: uuid::Uuid = row.try_get("event_id")?;
        let subject: String = row.try_get("subject")?;
        let payload: Vec<u8> = row.try_get("payload")?;
        let pairs: Vec<(String, String)> =
            serde_json::from_value(row.try_get("headers")?).unwrap_or_default();
        let mut headers = HeaderMap::new();
        for (k, v) in &pairs {
            headers.insert(k.as_str(), v.as_str());
        }
        headers.insert(MSG_ID, id.to_string().as_str());
        let msg = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .headers(headers);
        let ack = js.send_publish(subject, msg).await?;
        pending.push((seq, ack));
    }
    // Await the acks with all of them in flight.
    let results = futures::stream::iter(pending)
        .map(|(seq, ack)| async move { (seq, ack.await) })
        .buffer_unordered(4096)
        .collect::<Vec<_>>()
        .await;
    let mut done = Vec::with_capacity(results.len());
    let mut failed = 0usize;
    for (seq, r) in results {
        match r {
            Ok(_) => done.push(seq),
            Err(e) => {
                failed += 1;
                tracing::warn!(seq, error = %e, "outbox publish not acknowledged; will retry");
            }
        }
    }
    sqlx::query("update outbox set published_at = now() where seq = any($1)")
        .bind(&done)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::counter!("xf_outbox_published_total").increment(done.len() as u64);
    if failed > 0 {
        metrics::counter!("xf_outbox_publish_failed_total").increment(failed as u64);
    }
    Ok(done.len())
}

/// Deletes published rows older than the retention.
pub async fn prune(pool: &PgPool, retention_hours: u64) -> anyhow::Result<u64> {
    let r = sqlx::query(
        "delete from outbox where published_at is not null
         and published_at < now() - make_interval(hours => $1)",
    )
    .bind(retention_hours as i32)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// Runs the relay until `shutdown`: drains the backlog, then waits for a NOTIFY from a commit
/// or the poll interval.
pub async fn run_relay(
    pool: PgPool,
    schema: String,
    js: jetstream::Context,
    settings: OutboxSettings,
    shutdown: CancellationToken,
) {
    let wake = format!("{schema}_outbox_wake");
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen(&wake).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay: LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "outbox relay: no listener; polling only");
            None
        }
    };
    let poll = Duration::from_millis(settings.poll_interval_ms.max(10));
    let mut last_prune = tokio::time::Instant::now();
    // Sample at the first pass (checked: an Instant cannot go before boot).
    let mut last_gauge = tokio::time::Instant::now()
        .checked_sub(Duration::from_secs(60))
        .unwrap_or_else(tokio::time::Instant::now);
    let mut failures = 0u32;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match relay_once(&pool, &js, settings.batch_size).await {
            Ok(n) if n as i64 >= settings.batch_size => {
                failures = 0;
                continue;
            }
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, schema, "outbox relay batch failed");
                let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(7)));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {},
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
        }
        if last_gauge.elapsed() > Duration::from_secs(5) {
            last_gauge = tokio::time::Instant::now();
            if let Ok(n) = backlog(&pool).await {
                metrics::gauge!("xf_outbox_backlog", "schema" => schema.clone()).set(n as f64);
            }
        }
        if last_prune.elapsed() > Duration::from_secs(600) {
            last_prune = tokio::time::Instant::now();
            if let Err(e) = prune(&pool, settings.retention_hours).await {
                tracing::warn!(error = %e, "outbox prune failed");
            }
        }
        match listener.as_mut() {
            Some(l) => {
                tokio::select! {
                    r = l.recv() => if let Err(e) = r {
                        tracing::warn!(error = %e, "outbox relay: listener error");
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
    tracing::info!(schema, "outbox relay stopped");
}
