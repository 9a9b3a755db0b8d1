//! Local sinks notify delivers to, counting what they receive, for `xinfang bench pipeline`
//! and the fault suite: an HTTP SMS gateway (the `http` provider's signed JSON POST,
//! [`crate::providers::http_sms`]) that honours `Idempotency-Key` as a real gateway does (a
//! repeated key is answered with the first id and not delivered again, but counted), and a
//! minimal plain SMTP server (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that keeps each
//! message's Message-ID, recipients and subject and, as a relay with duplicate suppression
//! does, delivers a Message-ID it already has no second time (counted). Both written on tokio alone, answering on
//! loopback as fast as they can.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::providers::http_sms::{GatewayRequest, verify_body};
use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Largest request body or message the sinks take.
const MAX_BODY: usize = 1 << 20;

/// One SMS the gateway sink accepted.
#[derive(Debug, Clone)]
pub struct SmsRecord {
    pub at: Instant,
    /// notify's delivery id (the request's `id`).
    pub id: String,
    pub notice: String,
    pub to: String,
    /// The `case_no` template parameter, when the notice has one.
    pub case_no: Option<String>,
    /// Every template parameter.
    pub params: BTreeMap<String, String>,
}

#[derive(Default)]
struct SmsLog {
    records: Mutex<Vec<SmsRecord>>,
    /// Idempotency-Key → the id it was first answered with.
    keys: Mutex<BTreeMap<String, String>>,
    replays: AtomicU64,
    bad_signatures: AtomicU64,
    bad_requests: AtomicU64,
}

/// What the SMS sink counted.
#[derive(Debug, Clone, Default)]
pub struct SmsStats {
    pub total: usize,
    /// Requests that repeated an Idempotency-Key already delivered (answered, not delivered).
    pub replays: u64,
    pub by_notice: BTreeMap<String, usize>,
    pub bad_signatures: u64,
    pub bad_requests: u64,
}

/// The HTTP SMS gateway sink: `POST /sms`, signature checked, 200 `{"id": …}`.
pub struct SmsSink {
    port: u16,
    log: Arc<SmsLog>,
    task: JoinHandle<()>,
}

impl SmsSink {
    pub async fn start(secret: String) -> anyhow::Result<SmsSink> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("SMS sink: binding a local port")?;
        let port = listener.local_addr()?.port();
        let log = Arc::new(SmsLog::default());
        let secret = Arc::new(secret);
        let l = log.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                // Replies are small writes: with Nagle's algorithm each waited for the
                // client's delayed ACK (~40 ms), which capped the bench at ~200 SMS a second.
                let _ = stream.set_nodelay(true);
                let (log, secret) = (l.clone(), secret.clone());
                conns.spawn(async move {
                    let _ = serve_http(stream, &log, &secret).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(SmsSink { port, log, task })
    }

    /// The gateway URL for `[notify.sms.http] url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sms", self.port)
    }

    /// Runs `f` on the messages received so far.
    pub fn with<R>(&self, f: impl FnOnce(&[SmsRecord]) -> R) -> R {
        let records = self
            .log
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&records)
    }

    pub fn stats(&self) -> SmsStats {
        let mut by_notice = BTreeMap::new();
        let total = self.with(|recs| {
            for r in recs {
                *by_notice.entry(r.notice.clone()).or_insert(0) += 1;
            }
            recs.len()
        });
        SmsStats {
            total,
            replays: self.log.replays.load(Ordering::Relaxed),
            by_notice,
            bad_signatures: self.log.bad_signatures.load(Ordering::Relaxed),
            bad_requests: self.log.bad_requests.load(Ordering::Relaxed),
        }
    }

    /// Forgets what was received so far (a bench's warm-up); idempotency keys are kept, so
    /// a late replay of a forgotten message still counts as a replay.
    pub fn forget(&self) {
        self.log
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.log.replays.store(0, Ordering::Relaxed);
        self.log.bad_signatures.store(0, Ordering::Relaxed);
        self.log.bad_requests.store(0, Ordering::Relaxed);
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

/// HTTP/1.1 with keep-alive, `Content-Length` bodies only (what reqwest sends).
async fn serve_http(stream: TcpStream, log: &SmsLog, secret: &str) -> anyhow::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    loop {
        let mut request_line = String::new();
        if r.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        let mut signature = String::new();
        let mut idempotency_key = None;
        let mut close = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "x-xf-signature" => signature = value.to_owned(),
                "idempotency-key" => idempotency_key = Some(value.to_owned()),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        anyhow::ensure!(length <= MAX_BODY, "request body over {MAX_BODY} bytes");
        let mut body = vec![0u8; length];
        r.read_exact(&mut body).await?;
        let (status, answer) = if !request_line.starts_with("POST /sms ") {
            log.bad_requests.fetch_add(1, Ordering::Relaxed);
            ("404 Not Found", "{\"error\":\"not found\"}".to_owned())
        } else if !verify_body(secret.as_bytes(), &body, &signature) {
            log.bad_signatures.fetch_add(1, Ordering::Relaxed);
            (
                "401 Unauthorized",
                "{\"error\":\"bad signature\"}".to_owned(),
            )
        } else {
            match serde_json::from_slice::<GatewayRequest>(&body) {
                Ok(req) => ("200 OK", accept(log, req, idempotency_key)),
                Err(_) => {
                    log.bad_requests.fetch_add(1, Ordering::Relaxed);
                    ("400 Bad Request", "{\"error\":\"bad body\"}".to_owned())
                }
            }
        };
        // Head and body in one write: one segment per answer.
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        w.write_all(reply.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

/// Records one SMS, or only counts a replay of an Idempotency-Key; the answer's body.
fn accept(log: &SmsLog, req: GatewayRequest, key: Option<String>) -> String {
    // The key lock is held until the record is in, so a concurrent replay waits for it.
    let mut keys = log.keys.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(first) = key.as_ref().and_then(|k| keys.get(k)) {
        log.replays.fetch_add(1, Ordering::Relaxed);
        return format!("{{\"id\":\"{first}\"}}");
    }
    let mut records = log.records.lock().unwrap_or_else(PoisonError::into_inner);
    records.push(SmsRecord {
        at: Instant::now(),
        id: req.id.to_string(),
        case_no: req.params.get("case_no").cloned(),
        notice: req.notice,
        to: req.to,
        params: req.params,
    });
    let id = format!("sink-{}", records.len());
    if let Some(k) = key {
        keys.insert(k, id.clone());
    }
    format!("{{\"id\":\"{id}\"}}")
}

/// One message the SMTP sink accepted.
#[derive(Debug, Clone, Default)]
pub struct MailRecord {
    /// The Message-ID header (notify makes it from the delivery id).
    pub message_id: Option<String>,
    pub recipients: Vec<String>,
    /// The Subject header as sent (possibly RFC 2047 encoded).
    pub subject: Option<String>,
}

#[derive(Default)]
struct MailLog {
    messages: AtomicU64,
    recipients: AtomicU64,
    replays: AtomicU64,
    records: Mutex<MailBook>,
}

/// The messages delivered, and their Message-IDs for the duplicate check.
#[derive(Default)]
struct MailBook {
    records: Vec<MailRecord>,
    ids: std::collections::HashSet<String>,
}

/// What the SMTP sink counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailStats {
    pub messages: u64,
    pub recipients: u64,
    /// Messages whose Message-ID had been delivered before (accepted, not delivered again).
    pub replays: u64,
}

/// The SMTP sink: plain SMTP on a local port, every message accepted and counted.
pub struct SmtpSink {
    port: u16,
    log: Arc<MailLog>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> anyhow::Result<SmtpSink> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("SMTP sink: binding a local port")?;
        let port = listener.local_addr()?.port();
        let log = Arc::new(MailLog::default());
        let l = log.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let log = l.clone();
                conns.spawn(async move {
                    let _ = serve_smtp(stream, &log).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(SmtpSink { port, log, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `f` on the messages delivered so far (one per Message-ID).
    pub fn with<R>(&self, f: impl FnOnce(&[MailRecord]) -> R) -> R {
        let book = self
            .log
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&book.records)
    }

    pub fn stats(&self) -> MailStats {
        MailStats {
            messages: self.log.messages.load(Ordering::Relaxed),
            recipients: self.log.recipients.load(Ordering::Relaxed),
            replays: self.log.replays.load(Ordering::Relaxed),
        }
    }

    /// Forgets what was delivered so far (a bench's warm-up); Message-IDs are kept, so a
    /// late replay of a forgotten message still counts as a replay.
    pub fn forget(&self) {
        self.log
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .records
            .clear();
        self.log.messages.store(0, Ordering::Relaxed);
        self.log.recipients.store(0, Ordering::Relaxed);
        self.log.replays.store(0, Ordering::Relaxed);
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn serve_smtp(stream: TcpStream, log: &MailLog) -> anyhow::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 bench-sink ESMTP\r\n").await?;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let raw = String::from_utf8_lossy(&line).trim_end().to_owned();
        let command = raw.to_ascii_uppercase();
        let verb = command.split(' ').next().unwrap_or_default();
        let reply: &[u8] = match verb {
            "EHLO" => b"250-bench-sink\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n",
            "HELO" => b"250 bench-sink\r\n",
            "MAIL" => {
                recipients.clear();
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" => {
                let to = raw.split_once(':').map(|(_, a)| a).unwrap_or_default();
                recipients.push(to.trim().trim_matches(['<', '>']).to_owned());
                b"250 2.1.5 OK\r\n"
            }
            "DATA" => {
                w.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut size = 0usize;
                let mut record = MailRecord::default();
                let mut in_headers = true;
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    size += line.len();
                    anyhow::ensure!(size <= MAX_BODY, "message over {MAX_BODY} bytes");
                    if in_headers {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end();
                        in_headers = !text.is_empty();
                        if let Some((name, value)) = text.split_once(':') {
                            match name.to_ascii_lowercase().as_str() {
                                "message-id" => record.message_id = Some(value.trim().to_owned()),
                                "subject" => record.subject = Some(value.trim().to_owned()),
                                _ => {}
                            }
                        }
                    }
                }
                record.recipients = std::mem::take(&mut recipients);
                let mut book = log.records.lock().unwrap_or_else(PoisonError::into_inner);
                let seen = match &record.message_id {
                    Some(id) => !book.ids.insert(id.clone()),
                    None => false,
                };
                if seen {
                    log.replays.fetch_add(1, Ordering::Relaxed);
                } else {
                    log.messages.fetch_add(1, Ordering::Relaxed);
                    log.recipients
                        .fetch_add(record.recipients.len() as u64, Ordering::Relaxed);
                    book.records.push(record);
                }
                drop(book);
                b"250 2.0.0 queued\r\n"
            }
            "RSET" => {
                recipients.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                w.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 not implemented\r\n",
        };
        w.write_all(reply).await?;
    }
}
