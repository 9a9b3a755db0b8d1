//! A department-side request helper for `xf.<county>.cmd.<dept>.<action>`.
//!
//! The county streams bind `xf.<county>.>`, so JetStream also stores a command and answers
//! the requester with a publish ack (`{"stream":..,"seq":..}`) that can beat routing's
//! answer. This helper waits for routing's answer and skips such acks; plain
//! `request()` would return whichever came first. Replies come only to the department's own
//! inbox `_INBOX.<county>_<dept>.…`: routing drops a command asking for an answer elsewhere.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("nats: {0}")]
    Nats(String),
    #[error("no answer from routing within {0:?}")]
    Timeout(Duration),
    #[error("no service listens on {0}")]
    NoResponders(String),
}

fn is_stream_ack(v: &Value) -> bool {
    v.get("stream").is_some() && v.get("ok").is_none() && v.get("error").is_none()
}

/// The reply inbox for a command on `subject` (`xf.<county>.cmd.<dept>.<action>`): under the
/// department's own prefix `_INBOX.<county>_<dept>`, the only place routing answers.
fn reply_inbox(subject: &str) -> Option<String> {
    let parts: Vec<&str> = subject.split('.').collect();
    let ["xf", county, "cmd", dept, _action] = parts.as_slice() else {
        return None;
    };
    let prefix = xinfang_domain::subject::inbox_prefix(&format!("{county}_{dept}"));
    Some(format!("{prefix}.{}", uuid::Uuid::new_v4().simple()))
}

/// Sends `body` on `subject` (`xf.<county>.cmd.<dept>.<action>`) and returns routing's JSON
/// answer, received on the department's own inbox.
pub async fn request(
    nats: &async_nats::Client,
    subject: &str,
    body: &Value,
    timeout: Duration,
) -> Result<Value, RequestError> {
    let inbox = reply_inbox(subject).ok_or_else(|| {
        RequestError::Nats(format!("not a department command subject: {subject}"))
    })?;
    let mut sub = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| RequestError::Nats(e.to_string()))?;
    let payload = serde_json::to_vec(body).unwrap_or_default();
    nats.publish_with_reply(subject.to_owned(), inbox, payload.into())
        .await
        .map_err(|e| RequestError::Nats(e.to_string()))?;
    nats.flush()
        .await
        .map_err(|e| RequestError::Nats(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, sub.next()).await;
        let msg = match next {
            Err(_) => return Err(RequestError::Timeout(timeout)),
            Ok(None) => return Err(RequestError::Nats("subscription closed".into())),
            Ok(Some(m)) => m,
        };
        if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Err(RequestError::NoResponders(subject.to_owned()));
        }
        match serde_json::from_slice::<Value>(&msg.payload) {
            Ok(v) if is_stream_ack(&v) => continue,
            Ok(v) => {
                sub.unsubscribe().await.ok();
                return Ok(v);
            }
            Err(_) => continue,
        }
    }
}
