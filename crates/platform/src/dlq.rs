//! Dead letters: listing and replaying what consumers gave up on. Dead letters live in the
//! county's stream under `xf.<county>.dlq.<consumer>` with the error in headers.

use async_nats::HeaderMap;
use async_nats::jetstream;
use serde::Serialize;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;

use crate::consumer::{DLQ_CONSUMER, DLQ_DELIVERIES, DLQ_ERROR, DLQ_SUBJECT};
use crate::nats::MSG_ID;

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub county: String,
    /// Stream sequence: what `replay` takes.
    pub seq: u64,
    pub consumer: String,
    pub original_subject: String,
    pub error: String,
    pub deliveries: String,
    pub event_type: Option<String>,
    pub case_id: Option<String>,
    pub at: String,
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// All dead letters of a county, oldest first.
pub async fn list(js: &jetstream::Context, county: &CountyCode) -> anyhow::Result<Vec<DeadLetter>> {
    let stream = js.get_stream(subject::stream_name(county)).await?;
    let filter = subject::family_filter(county, "dlq")?;
    let mut out = Vec::new();
    for m in crate::nats::read_all(&stream, &filter).await? {
        let info = m.info().map_err(|e| anyhow::anyhow!("{e}"))?;
        let seq = info.stream_sequence;
        let at = info.published.to_string();
        let h = m.headers.clone().unwrap_or_default();
        let env = Envelope::<serde_json::Value>::from_bytes(&m.payload).ok();
        out.push(DeadLetter {
            county: county.to_string(),
            seq,
            consumer: header(&h, DLQ_CONSUMER),
            original_subject: header(&h, DLQ_SUBJECT),
            error: header(&h, DLQ_ERROR),
            deliveries: header(&h, DLQ_DELIVERIES),
            event_type: env.as_ref().map(|e| e.kind.clone()),
            case_id: env.and_then(|e| e.case_id),
            at,
        });
    }
    Ok(out)
}

/// Publishes dead letter `seq` again on its original subject and removes it from the
/// dead-letter subject. The original event id is kept (the consumer's inbox never recorded
/// the failed attempt), under a new `Nats-Msg-Id` so JetStream does not drop it.
pub async fn replay(
    js: &jetstream::Context,
    county: &CountyCode,
    seq: u64,
) -> anyhow::Result<String> {
    let stream = js.get_stream(subject::stream_name(county)).await?;
    let msg = stream.get_raw_message(seq).await?;
    let dlq_prefix = format!("xf.{county}.dlq.");
    if !msg.subject.as_str().starts_with(&dlq_prefix) {
        anyhow::bail!("message {seq} of county {county} is not a dead letter");
    }
    let original = header(&msg.headers, DLQ_SUBJECT);
    let expected_prefix = format!("xf.{county}.");
    if !original.starts_with(&expected_prefix) || original.starts_with(&dlq_prefix) {
        anyhow::bail!("dead letter {seq} names no valid original subject");
    }
    let mut headers = HeaderMap::new();
    for (k, vs) in msg.headers.iter() {
        let name: &str = k.as_ref();
        if [DLQ_ERROR, DLQ_SUBJECT, DLQ_CONSUMER, DLQ_DELIVERIES, MSG_ID].contains(&name) {
            continue;
        }
        for v in vs {
            headers.insert(name, v.as_str());
        }
    }
    headers.insert(MSG_ID, format!("replay-{county}-{seq}").as_str());
    js.send_publish(
        original.clone(),
        jetstream::message::PublishMessage::build()
            .payload(msg.payload.clone())
            .headers(headers),
    )
    .await?
    .await?;
    stream.delete_message(seq).await?;
    Ok(original)
}
