//! NATS and JetStream: connection, per-county streams, durable pull consumers, publishing
//! with `Nats-Msg-Id` and trace context. Works on nats-server 2.9 (one filter per consumer).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::{HeaderMap, jetstream::context::PublishAckFuture};
use serde::Serialize;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject::{self, Subject};

use crate::config::{Consumer as ConsumerSettings, Nats as NatsSettings};
use crate::trace_context;

pub const MSG_ID: &str = "Nats-Msg-Id";

pub async fn connect(settings: &NatsSettings, name: &str) -> anyhow::Result<async_nats::Client> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .retry_on_initial_connect();
    if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
        // A server with generated permissions lets each user subscribe only to its own inbox
        // (`xinfang nats-config`), so replies and JetStream API answers must arrive there.
        opts = opts
            .user_and_password(user.clone(), password.expose().to_owned())
            .custom_inbox_prefix(xinfang_domain::subject::inbox_prefix(user));
    }
    // A cluster is a comma-separated list of its nodes: the client fails over among them.
    let servers = settings
        .url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| anyhow::anyhow!("nats.url: `{u}` is not a server address: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if servers.is_empty() {
        anyhow::bail!("nats.url: no server address given");
    }
    let client = opts.connect(servers.as_slice()).await?;
    // retry_on_initial_connect returns at once; wait (bounded) for the first connection so
    // a wrong URL fails start-up instead of hanging every publish.
    for _ in 0..100 {
        if client.connection_state() == async_nats::connection::State::Connected {
            return Ok(client);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("nats: cannot connect to {}", settings.url)
}

pub fn jetstream(client: async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .max_ack_inflight(8192)
        .build(client)
}

/// Creates the county's stream `XF_<county>` binding its event families if it is missing,
/// and brings an existing one's subjects up to date. Idempotent; several instances may race.
pub async fn ensure_stream(
    js: &jetstream::Context,
    county: &CountyCode,
    settings: &NatsSettings,
) -> anyhow::Result<stream::Stream> {
    let config = stream::Config {
        name: subject::stream_name(county),
        subjects: subject::stream_subjects(county),
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        duplicate_window: Duration::from_secs(settings.duplicate_window_secs),
        max_age: Duration::from_secs(settings.max_age_days * 86_400),
        description: Some(format!("xinfang events of county {county}")),
        ..Default::default()
    };
    match js.get_or_create_stream(config.clone()).await {
        Ok(mut s) => {
            // An older release bound other subjects: bring the stream up to date.
            let current = s.info().await?.config.subjects.clone();
            if current != config.subjects {
                js.update_stream(config.clone()).await?;
                s = js.get_stream(&config.name).await?;
            }
            Ok(s)
        }
        Err(first) => {
            // Lost a creation race, or the config changed: try once more, then update.
            if let Ok(s) = js.get_stream(&config.name).await {
                return Ok(s);
            }
            Err(anyhow::anyhow!("nats: stream {}: {first}", config.name))
        }
    }
}

/// Durable pull consumer `name` on the county stream with one filter subject.
pub async fn ensure_consumer(
    stream: &stream::Stream,
    name: &str,
    filter: &str,
    settings: &ConsumerSettings,
) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
    let config = consumer::pull::Config {
        durable_name: Some(name.to_owned()),
        filter_subject: filter.to_owned(),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(settings.ack_wait_secs),
        // The loop dead-letters at max_deliveries itself; the server limit is a backstop
        // for a message that crashes the process before it can be dead-lettered.
        max_deliver: settings.max_deliveries + 3,
        max_ack_pending: 20_000,
        deliver_policy: consumer::DeliverPolicy::All,
        ..Default::default()
    };
    stream
        .get_or_create_consumer(name, config)
        .await
        .map_err(|e| anyhow::anyhow!("nats: consumer {name} on {filter}: {e}"))
}

/// Headers for an event: its id for de-duplication plus the current trace context.
pub fn event_headers<T>(env: &Envelope<T>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(MSG_ID, env.id.to_string().as_str());
    trace_context::inject_current(&mut h);
    h
}

/// Publishes an envelope directly (not through an outbox) and returns the ack future.
/// Use this for events that are not the consequence of a database change.
pub async fn publish<T: Serialize>(
    js: &jetstream::Context,
    subject: &Subject,
    env: &Envelope<T>,
) -> anyhow::Result<PublishAckFuture> {
    let payload = env.to_bytes()?;
    let msg = jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .headers(event_headers(env));
    Ok(js.send_publish(subject.to_string(), msg).await?)
}

/// How many stored messages of `stream` match `filter`.
pub async fn count(stream: &stream::Stream, filter: &str) -> anyhow::Result<usize> {
    use futures::StreamExt;
    let subjects = stream.clone().info_with_subjects(filter).await?;
    Ok(subjects
        .filter_map(|r| async { r.ok() })
        .fold(0usize, |a, (_, n)| async move { a + n })
        .await)
}

/// Every message of `stream` stored under `filter` when called, oldest first, read with an
/// ordered (ephemeral) consumer. For tools and tests: a stream's full history is unbounded.
pub async fn read_all(
    stream: &stream::Stream,
    filter: &str,
) -> anyhow::Result<Vec<jetstream::Message>> {
    use futures::StreamExt;
    let expected = count(stream, filter).await?;
    let mut out = Vec::with_capacity(expected);
    if expected == 0 {
        return Ok(out);
    }
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await?;
    let mut msgs = consumer.messages().await?;
    while out.len() < expected {
        match tokio::time::timeout(Duration::from_secs(5), msgs.next()).await {
            Ok(Some(m)) => out.push(m?),
            // Fewer than counted (a purge or deletion meanwhile): return what there is.
            _ => break,
        }
    }
    Ok(out)
}
