//! The baseline: what JetStream alone does with N envelope-sized messages on this server, the
//! way the services use it. A scratch stream (file storage, like the county streams); a
//! publisher like the outbox relay (a batch of publishes with `Nats-Msg-Id`, their acks awaited
//! together, each payload copied into its message as the relay copies its rows); a durable
//! pull consumer like the services' (explicit ack, batches). Throughput is
//! N over the time from the first publish until the consumer acknowledged the last message.

use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use xinfang_platform::config::{Consumer, Nats};
use xinfang_platform::nats::MSG_ID;

/// How long the consumer may take in all before the baseline gives up.
const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Baseline {
    pub n: usize,
    pub message_bytes: usize,
    /// Published, stored, delivered and acknowledged per second.
    pub per_second: f64,
    /// Published with acks per second (the publisher alone).
    pub publish_per_second: f64,
}

/// A tag for the scratch stream's name and subjects, unique to this run.
pub fn tag() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn stream_name(tag: &str) -> String {
    format!("XFBENCH_{tag}")
}

/// Removes the scratch stream of `tag` (after an interrupted [`run`]).
pub async fn remove(nats: &Nats, tag: &str) -> anyhow::Result<()> {
    let client = xinfang_platform::nats::connect(nats, "bench-pipeline-baseline").await?;
    let js = xinfang_platform::nats::jetstream(client);
    js.delete_stream(stream_name(tag))
        .await
        .map_err(|e| anyhow::anyhow!("deleting the baseline stream: {e}"))?;
    Ok(())
}

pub async fn run(
    nats: &Nats,
    consumer: &Consumer,
    publish_batch: usize,
    n: usize,
    payload: Vec<u8>,
    tag: &str,
) -> anyhow::Result<Baseline> {
    let client = xinfang_platform::nats::connect(nats, "bench-pipeline-baseline")
        .await
        .context("connecting to NATS for the baseline")?;
    let js = xinfang_platform::nats::jetstream(client);
    let name = stream_name(tag);
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("xfbench.{tag}.>")],
            storage: stream::StorageType::File,
            num_replicas: nats.replicas,
            duplicate_window: Duration::from_secs(nats.duplicate_window_secs),
            description: Some("xinfang bench pipeline: baseline (scratch)".into()),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the baseline stream {name}: {e}"))?;
    let r = measure(
        &js,
        &stream,
        consumer,
        publish_batch.max(1),
        &format!("xfbench.{tag}.event"),
        n,
        &payload,
    )
    .await;
    let _ = js.delete_stream(&name).await;
    r
}

async fn measure(
    js: &jetstream::Context,
    stream: &stream::Stream,
    settings: &Consumer,
    publish_batch: usize,
    subject: &str,
    n: usize,
    payload: &[u8],
) -> anyhow::Result<Baseline> {
    let filter = format!("{}.>", subject.rsplit_once('.').map_or(subject, |(p, _)| p));
    let consumer =
        xinfang_platform::nats::ensure_consumer(stream, "bench_baseline", &filter, settings)
            .await?;
    let batch = settings.batch_size.max(1);
    let consuming = tokio::spawn(async move {
        let mut acked = 0usize;
        while acked < n {
            let messages = consumer
                .stream()
                .max_messages_per_batch(batch)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
                .map_err(|e| anyhow::anyhow!("baseline pull: {e}"))?;
            let mut chunks = messages.ready_chunks(batch);
            while acked < n {
                let Some(chunk) = chunks.next().await else {
                    break;
                };
                for m in chunk.into_iter().flatten() {
                    m.ack()
                        .await
                        .map_err(|e| anyhow::anyhow!("baseline ack: {e}"))?;
                    acked += 1;
                }
            }
        }
        anyhow::Ok(Instant::now())
    });
    let started = Instant::now();
    let mut i = 0usize;
    while i < n {
        let end = (i + publish_batch).min(n);
        let mut acks = Vec::with_capacity(end - i);
        for k in i..end {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(MSG_ID, format!("{subject}-{k}").as_str());
            let msg = jetstream::message::PublishMessage::build()
                .payload(payload.to_vec().into())
                .headers(headers);
            acks.push(
                js.send_publish(subject.to_owned(), msg)
                    .await
                    .map_err(|e| anyhow::anyhow!("baseline publish: {e}"))?,
            );
        }
        let results = futures::stream::iter(acks)
            .map(|ack| async move { ack.await })
            .buffer_unordered(4096)
            .collect::<Vec<_>>()
            .await;
        for r in results {
            r.map_err(|e| anyhow::anyhow!("baseline publish ack: {e}"))?;
        }
        i = end;
    }
    let published = started.elapsed().as_secs_f64();
    let done = tokio::time::timeout(TIMEOUT, consuming)
        .await
        .context("the baseline consumer did not get every message in time")?
        .context("the baseline consumer")??;
    let secs = done.duration_since(started).as_secs_f64().max(1e-9);
    Ok(Baseline {
        n,
        message_bytes: payload.len(),
        per_second: n as f64 / secs,
        publish_per_second: n as f64 / published.max(1e-9),
    })
}
