//! `xinfang dept`: a department's own client, logged in with its credential file from
//! `xinfang nats-config` (user, password, inbox prefix, its durable feed).
//!
//! - `listen` pulls the department's durable feed `dept_<dept>` and prints each message as one
//!   JSON line, or POSTs it to a webhook, and acknowledges it only once that succeeded; a
//!   failed webhook call is negatively acknowledged with a growing delay and comes again.
//! - `act accept|object|extend|reply` sends an action on `xf.<county>.cmd.<dept>.<action>`
//!   with a fresh request id and prints routing's answer (exit 1 on a refusal).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use serde_json::{Value, json};
use xinfang_routing::dept_feed;
use xinfang_routing::nats_config::{self, Credentials, DepartmentAccess};

#[derive(clap::Subcommand, Debug)]
pub enum Dept {
    /// Pull the department's durable feed: print each message (or POST it to --webhook) and
    /// acknowledge it once that succeeded. Runs until Ctrl-C (or --max-messages).
    Listen(ListenArgs),
    /// Send an action about a case and print routing's answer.
    #[command(subcommand)]
    Act(Act),
}

#[derive(clap::Args, Debug)]
pub struct Conn {
    /// The department's credential file (`<county>_<dept>.json` from `xinfang nats-config`).
    #[arg(long, value_name = "FILE")]
    credentials: PathBuf,
    /// The department's county; checked against the credential file.
    #[arg(long)]
    county: Option<String>,
    /// The department's code; checked against the credential file.
    #[arg(long)]
    dept: Option<String>,
    /// NATS server.
    #[arg(long, env = "XF__NATS__URL", default_value = "nats://127.0.0.1:4222")]
    url: String,
}

#[derive(clap::Args, Debug)]
pub struct ListenArgs {
    #[command(flatten)]
    conn: Conn,
    /// POST each message here (its JSON as the body) instead of printing it; a 2xx answer
    /// acknowledges it.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Seconds to wait for the webhook (keep it below the feed's ack wait, 60 s).
    #[arg(long, default_value_t = 30)]
    webhook_timeout: u64,
    /// Stop after handing on this many messages.
    #[arg(long)]
    max_messages: Option<u64>,
}

#[derive(clap::Args, Debug)]
pub struct ActCommon {
    #[command(flatten)]
    conn: Conn,
    /// The case, e.g. XF-411282-2026-000123.
    #[arg(long)]
    case_no: String,
    /// Repeat an earlier request (same id: no further effect, the stored answer); default a
    /// new UUID.
    #[arg(long)]
    request_id: Option<String>,
    /// Seconds to wait for routing's answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[derive(clap::Subcommand, Debug)]
pub enum Act {
    /// 受理告知 (Art 23 para 3).
    Accept {
        #[command(flatten)]
        common: ActCommon,
        /// The date on the acceptance notice, YYYY-MM-DD (default: today, China time).
        #[arg(long)]
        accepted_on: Option<String>,
    },
    /// 异议: the matter is not this department's (Art 23 para 3).
    Object {
        #[command(flatten)]
        common: ActCommon,
        #[arg(long)]
        reason: String,
    },
    /// 延期 once, at most 30 days (Art 34).
    Extend {
        #[command(flatten)]
        common: ActCommon,
        #[arg(long)]
        days: u32,
        /// Who approved (the organ's head).
        #[arg(long)]
        approver: String,
        /// Told to the petitioner.
        #[arg(long)]
        reason: String,
    },
    /// The result served on the petitioner.
    Reply {
        #[command(flatten)]
        common: ActCommon,
        /// The reply or opinion as served.
        #[arg(long)]
        text: String,
        /// The day it was served, YYYY-MM-DD (default: today, China time).
        #[arg(long)]
        served_on: Option<String>,
        /// For a 信访处理意见书: supported, explained or not_supported.
        #[arg(long)]
        outcome: Option<String>,
        /// The completion report, when one is due.
        #[arg(long)]
        report: Option<String>,
    },
}

pub async fn run(cmd: Dept) -> anyhow::Result<ExitCode> {
    match cmd {
        Dept::Listen(a) => listen(a).await,
        Dept::Act(a) => act(a).await,
    }
}

/// Reads the credential file and checks it is a department's (the one named, if named).
fn load(conn: &Conn) -> Result<(Credentials, DepartmentAccess), String> {
    let creds = nats_config::read_credentials(&conn.credentials).map_err(|e| format!("{e:#}"))?;
    let Some(access) = creds.department.clone() else {
        return Err(format!(
            "{}: the credentials of {}, not of a department",
            conn.credentials.display(),
            creds.user
        ));
    };
    for (flag, given, have) in [
        ("--county", &conn.county, &access.county),
        ("--dept", &conn.dept, &access.dept),
    ] {
        if let Some(g) = given
            && g != have
        {
            return Err(format!(
                "{flag} {g}: the credential file {} is {}'s",
                conn.credentials.display(),
                creds.user
            ));
        }
    }
    Ok((creds, access))
}

async fn listen(a: ListenArgs) -> anyhow::Result<ExitCode> {
    let (creds, access) = match load(&a.conn) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let client = dept_feed::connect(&a.conn.url, &creds, "xinfang-dept-listen").await?;
    let feed = dept_feed::open(&client, &access).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(a.webhook_timeout.max(1)))
        .build()?;
    let mut messages = feed.messages().await?;
    eprintln!(
        "listening to {} (consumer {} on {})",
        access.feed, access.consumer, access.stream
    );
    let mut handed_on = 0u64;
    if a.max_messages == Some(0) {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let next = tokio::select! {
            m = messages.next() => m,
            _ = tokio::signal::ctrl_c() => break,
        };
        let msg = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                // Missed heartbeats, a reconnect: the pull goes on.
                eprintln!("warning: feed: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            None => anyhow::bail!("the feed ended"),
        };
        let (seq, delivered) = match msg.info() {
            Ok(i) => (i.stream_sequence, i.delivered),
            Err(e) => {
                eprintln!("warning: a message without JetStream metadata: {e}");
                continue;
            }
        };
        let handed = match &a.webhook {
            None => print_line(&msg, seq, delivered),
            Some(url) => post(&http, url, &msg, seq, delivered).await,
        };
        match handed {
            Ok(()) => {
                // Acknowledged only now; confirmed by the server, else it comes again.
                if let Err(e) = msg.double_ack().await {
                    eprintln!(
                        "warning: message {seq} handed on but not acknowledged ({e}): it will come again"
                    );
                }
                handed_on += 1;
                if a.max_messages.is_some_and(|m| handed_on >= m) {
                    break;
                }
            }
            Err(Failure::Retry(why)) => {
                let delay = dept_feed::retry_delay(delivered);
                eprintln!(
                    "warning: message {seq} (delivery {delivered}) not handed on: {why}; again in {}s",
                    delay.as_secs()
                );
                if let Err(e) = msg.ack_with(AckKind::Nak(Some(delay))).await {
                    eprintln!("warning: nak of message {seq}: {e}");
                }
            }
            Err(Failure::Fatal(why)) => {
                let _ = msg.ack_with(AckKind::Nak(None)).await;
                anyhow::bail!("{why}");
            }
        }
    }
    client.flush().await.ok();
    eprintln!("handed on {handed_on} message(s)");
    Ok(ExitCode::SUCCESS)
}

enum Failure {
    /// Try the message again later (the webhook failed).
    Retry(String),
    /// Stop (stdout is gone).
    Fatal(String),
}

/// The message as one JSON object: subject, stream sequence, delivery count and the event
/// (its JSON, or the payload as text).
fn message_json(msg: &jetstream::Message, seq: u64, delivered: i64) -> Value {
    let mut v = json!({
        "subject": msg.subject.as_str(),
        "stream_sequence": seq,
        "delivered": delivered,
    });
    match serde_json::from_slice::<Value>(&msg.payload) {
        Ok(event) => v["event"] = event,
        Err(_) => v["payload"] = json!(String::from_utf8_lossy(&msg.payload)),
    }
    v
}

fn print_line(msg: &jetstream::Message, seq: u64, delivered: i64) -> Result<(), Failure> {
    let line = message_json(msg, seq, delivered).to_string();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(|e| Failure::Fatal(format!("stdout: {e}")))
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    msg: &jetstream::Message,
    seq: u64,
    delivered: i64,
) -> Result<(), Failure> {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-xf-subject", msg.subject.as_str())
        .header("x-xf-stream-sequence", seq.to_string())
        .header("x-xf-delivered", delivered.to_string());
    // The event id: the same on every delivery, so the receiver can drop a repeat.
    if let Some(id) = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(xinfang_platform::nats::MSG_ID))
    {
        req = req.header("x-xf-event-id", id.as_str());
    }
    match req.body(msg.payload.to_vec()).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(Failure::Retry(format!("webhook answered {}", r.status()))),
        Err(e) => Err(Failure::Retry(format!(
            "webhook: {}",
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "request failed".to_owned()
            }
        ))),
    }
}

fn today() -> String {
    use xinfang_domain::deadline::{CST, cst_date};
    cst_date(chrono::Utc::now().with_timezone(&CST))
        .format("%Y-%m-%d")
        .to_string()
}

async fn act(a: Act) -> anyhow::Result<ExitCode> {
    let (action, common, fields) = match a {
        Act::Accept {
            common,
            accepted_on,
        } => (
            "accept",
            common,
            json!({"accepted_on": accepted_on.unwrap_or_else(today)}),
        ),
        Act::Object { common, reason } => ("object", common, json!({"reason": reason})),
        Act::Extend {
            common,
            days,
            approver,
            reason,
        } => (
            "extend",
            common,
            json!({"days": days, "approver": approver, "reason": reason}),
        ),
        Act::Reply {
            common,
            text,
            served_on,
            outcome,
            report,
        } => {
            let mut f = json!({"text": text, "served_on": served_on.unwrap_or_else(today)});
            if let Some(o) = outcome {
                f["outcome"] = json!(o);
            }
            if let Some(r) = report {
                f["report"] = json!(r);
            }
            ("reply", common, f)
        }
    };
    let (creds, access) = match load(&common.conn) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let request_id = common
        .request_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut body = json!({"case_no": common.case_no, "request_id": request_id});
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            b.insert(k.clone(), v.clone());
        }
    }
    let client = dept_feed::connect(&common.conn.url, &creds, "xinfang-dept-act").await?;
    let subject = format!("{}.{action}", access.commands);
    let answer = xinfang_routing::client::request(
        &client,
        &subject,
        &body,
        Duration::from_secs(common.timeout.max(1)),
    )
    .await;
    match answer {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(if v.get("error").is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(e) => {
            eprintln!("error: {e} (request id {request_id}: send it again with --request-id)");
            Ok(ExitCode::FAILURE)
        }
    }
}
