//! Notify against real servers: NATS, Postgres and Redis on 127.0.0.1 (TestEnv), a real SMTP
//! server (Python aiosmtpd, installed by infra/test-tools.sh) started per test, and a local
//! HTTP SMS gateway (axum) that verifies the HMAC signature of every request.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use chrono::{DateTime, Utc};
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::Directory;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{
    self, Accepted, AssignMode, Contact, DeptAssignment, DeptRole, Registered, kind,
};
use xinfang_domain::petition::{Channel, PetitionType};
use xinfang_domain::seal::{self, DataKey};
use xinfang_domain::subject;
use xinfang_notify::clock::ShiftedClock;
use xinfang_notify::providers::http_sms::{GatewayRequest, verify_body};
use xinfang_notify::service::{self, Notify, Options};
use xinfang_platform::testing::TestEnv;

mod common;

use common::{ensure_aiosmtpd, free_port, wait_listening};

const SECRET: &str = "test-secret-0123456789";
const PETITIONER_MOBILE: &str = "13800138000";
const PETITIONER_EMAIL: &str = "zhangsan@example.com";

// ---- SMTP: aiosmtpd with its Maildir handler ------------------------------------------

struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

impl Smtp {
    async fn start() -> Smtp {
        ensure_aiosmtpd();
        let port = free_port();
        let maildir = std::env::temp_dir().join(format!("xf-maildir-{}", uuid::Uuid::now_v7()));
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd starts");
        let smtp = Smtp {
            child,
            port,
            maildir,
        };
        wait_listening(port, "aiosmtpd").await;
        smtp
    }

    /// Every stored message, decoded: (envelope recipient, subject, body).
    fn messages(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut out: Vec<Mail> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|raw| Mail::parse(&raw))
            .collect();
        out.sort_by(|a, b| a.subject.cmp(&b.subject));
        out
    }
}

#[derive(Debug, Clone)]
struct Mail {
    rcpt: String,
    subject: String,
    body: String,
    message_id: String,
}

fn b64(s: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.split_whitespace().collect::<String>())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `=?utf-8?b?...?=` words (what lettre writes) decoded and joined.
fn decode_words(v: &str) -> String {
    v.split_whitespace()
        .map(|w| {
            let lw = w.to_ascii_lowercase();
            if lw.starts_with("=?utf-8?b?") && w.ends_with("?=") {
                b64(&w[10..w.len() - 2])
            } else {
                w.to_owned()
            }
        })
        .collect()
}

fn decode_qp(s: &str) -> String {
    let mut bytes = Vec::new();
    let raw = s.replace("=\r\n", "").replace("=\n", "");
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&raw[i + 1..i + 3], 16)
        {
            bytes.push(x);
            i += 3;
            continue;
        }
        bytes.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Mail {
    fn parse(raw: &str) -> Mail {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        // Unfold continuation lines.
        let head = head.replace("\n ", " ").replace("\n\t", " ");
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let cte = header("Content-Transfer-Encoding").to_ascii_lowercase();
        let body = match cte.as_str() {
            "base64" => b64(body),
            "quoted-printable" => decode_qp(body),
            _ => body.to_owned(),
        };
        Mail {
            rcpt: header("X-RcptTo"),
            subject: decode_words(&header("Subject")),
            body,
            message_id: header("Message-ID"),
        }
    }
}

// ---- SMS gateway ------------------------------------------------------------------------

#[derive(Default)]
struct Gateway {
    received: Mutex<Vec<GatewayRequest>>,
    bad_signatures: AtomicUsize,
    /// Number → how many more requests get a 503.
    fail: Mutex<HashMap<String, usize>>,
    /// Numbers refused with a 400 (echoing the number, as real gateways do).
    reject: Mutex<HashSet<String>>,
}

impl Gateway {
    fn requests(&self) -> Vec<GatewayRequest> {
        self.received.lock().unwrap().clone()
    }

    fn to(&self, number: &str) -> Vec<GatewayRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.to == number)
            .collect()
    }
}

async fn gateway_sms(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let sig = headers
        .get("x-xf-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify_body(SECRET.as_bytes(), &body, sig) {
        gw.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    let Ok(req) = serde_json::from_slice::<GatewayRequest>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad body".into());
    };
    assert_eq!(
        headers.get("idempotency-key").and_then(|v| v.to_str().ok()),
        Some(req.id.to_string().as_str())
    );
    let to = req.to.clone();
    gw.received.lock().unwrap().push(req);
    if gw.reject.lock().unwrap().contains(&to) {
        return (
            StatusCode::BAD_REQUEST,
            format!("{{\"error\":\"number {to} is not a valid mobile\"}}"),
        );
    }
    {
        let mut fail = gw.fail.lock().unwrap();
        if let Some(n) = fail.get_mut(&to)
            && *n > 0
        {
            *n -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "try later".into());
        }
    }
    let n = gw.received.lock().unwrap().len();
    (StatusCode::OK, format!("{{\"id\":\"gw-{n}\"}}"))
}

async fn start_gateway() -> (Arc<Gateway>, u16) {
    let gw = Arc::new(Gateway::default());
    let app = axum::Router::new()
        .route("/sms", post(gateway_sms))
        .with_state(gw.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (gw, port)
}

// ---- harness ----------------------------------------------------------------------------

struct Harness {
    env: TestEnv,
    notify: Notify,
    smtp: Smtp,
    gw: Arc<Gateway>,
    clock: ShiftedClock,
    key: DataKey,
}

fn directory(city: &CountyCode, county: &CountyCode) -> Directory {
    let mut s = format!(
        "[directory]\nname = \"test\"\n\n[[county]]\ncode = \"{city}\"\nname = \"测试市\"\n"
    );
    type Dept<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
    let depts: &[Dept<'_>] = &[
        // The review organs have contacts: they are told of the requests addressed to them.
        (
            "gov",
            "人民政府",
            Some(("gov@xf.example.cn", "13900000011")),
        ),
        ("xfj", "信访局", None),
        (
            "jwjw",
            "纪委监委",
            Some(("jwjw@xf.example.cn", "13900000021")),
        ),
        ("zfw", "政法委", None),
        ("fy", "法院", None),
        ("jcy", "检察院", None),
        ("gaj", "公安局", None),
        ("rsj", "人社局", Some(("rsj@xf.example.cn", "13900000081"))),
        ("zjj", "住建局", Some(("zjj@xf.example.cn", "13900000091"))),
        ("nyncj", "农业农村局", None),
        ("zzb", "组织部", None),
        ("sfj", "司法局", None),
    ];
    for (code, name, contacts) in depts {
        s.push_str(&format!(
            "\n[[county.department]]\ncode = \"{code}\"\nname = \"{name}\"\n"
        ));
        if let Some((email, mobile)) = contacts {
            s.push_str(&format!(
                "contacts = {{ email = \"{email}\", mobile = \"{mobile}\" }}\n"
            ));
        }
    }
    s.push_str(&format!(
        "\n[[county]]\ncode = \"{county}\"\nname = \"测试县\"\nparent = \"{city}\"\n\n\
         [[county.department]]\ncode = \"gov\"\nname = \"人民政府\"\n\
         contacts = {{ email = \"gov-county@xf.example.cn\", mobile = \"13900000012\" }}\n"
    ));
    Directory::from_toml_str(&s).unwrap_or_else(|e| panic!("{e}"))
}

fn cst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

impl Harness {
    async fn start(now: DateTime<Utc>) -> Harness {
        Self::start_with(now, 30, None).await
    }

    /// [`Harness::start`] with the sender's lease and a stall after the provider accepts.
    async fn start_with(
        now: DateTime<Utc>,
        lease_secs: u64,
        pause_after_accept: Option<Duration>,
    ) -> Harness {
        Self::start_relay(now, lease_secs, pause_after_accept, None).await
    }

    /// [`Harness::start_with`], sending e-mail to `relay` instead of the test's SMTP server.
    async fn start_relay(
        now: DateTime<Utc>,
        lease_secs: u64,
        pause_after_accept: Option<Duration>,
        relay: Option<u16>,
    ) -> Harness {
        let smtp = Smtp::start().await;
        let mail_port = relay.unwrap_or(smtp.port);
        let (gw, gw_port) = start_gateway().await;
        let toml = format!(
            r#"
[notify]
bureau_name = "测试市信访局"
query_url = "https://xf.example.cn/q"

[notify.sender]
concurrency = 4
poll_interval_ms = 100
backoff_initial_ms = 100
backoff_max_ms = 300
max_attempts = 4
lease_secs = {lease_secs}

[notify.email]
enabled = true
host = "127.0.0.1"
port = {mail_port}
security = "plain"
from = "测试市信访局 <noreply@xf.example.cn>"
pool_max = 4
timeout_secs = 10

[notify.sms]
provider = "http"

[notify.sms.http]
url = "http://127.0.0.1:{gw_port}/sms"
secret = "{SECRET}"
timeout_secs = 5
"#
        );
        let env = TestEnv::start(|_| {}, &toml)
            .await
            .expect("local NATS, Postgres and Redis must be running (infra/local/up.sh)");
        let clock = ShiftedClock::starting_at(now);
        let contacts = Arc::new(directory(&env.city, &env.county));
        let notify = service::start_with(
            env.infra.clone(),
            Options {
                clock: Some(Arc::new(clock.clone())),
                contacts: Some(contacts),
                providers: None,
                pause_after_accept,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("notify starts: {e:#}"));
        let key =
            DataKey::from_base64(env.infra.settings.platform.security.data_key.expose()).unwrap();
        Harness {
            env,
            notify,
            smtp,
            gw,
            clock,
            key,
        }
    }

    fn pool(&self) -> &sqlx::PgPool {
        &self.notify.started.host.pool
    }

    fn county(&self) -> CountyCode {
        self.env.county.clone()
    }

    fn registered(&self, case_no: &str, with_email: bool) -> Envelope<Registered> {
        let contact = Contact {
            name: "张三".into(),
            mobile: Some(PETITIONER_MOBILE.into()),
            email: with_email.then(|| PETITIONER_EMAIL.to_owned()),
        };
        let sealed = seal::seal_contact(&self.key, rand::random(), &contact).unwrap();
        let now = Utc::now();
        let data = Registered {
            case_no: case_no.into(),
            query_code: "Q7K9M2XA".into(),
            channel: Channel::Online,
            received_at: now,
            registered_at: now,
            county: self.county(),
            petition_type: PetitionType::Grievance,
            branch: None,
            diversion: None,
            department: "rsj".into(),
            accuses_official: false,
            confidential: false,
            urgent: false,
            needs_triage: false,
            confidence: 0.9,
            group_size: 1,
            repeat: None,
            petitioner_key: "k".into(),
            contact: Some(sealed),
            text: "拖欠工资三个月".into(),
            redacted_text: None,
            source: None,
            listed: false,
            town: None,
            matter_words: None,
            received_by: None,
        };
        Envelope::new(
            kind::REGISTERED,
            Some(case_no.into()),
            self.county(),
            now,
            data,
        )
        .unwrap()
    }

    async fn publish<T: serde::Serialize>(&self, subject: &subject::Subject, env: &Envelope<T>) {
        xinfang_platform::nats::publish(self.env.js(), subject, env)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Publishes the same envelope again under another `Nats-Msg-Id`, so JetStream stores
    /// it twice and the consumer receives it again (a redelivery the stream cannot absorb).
    async fn republish<T: serde::Serialize>(&self, subject: &subject::Subject, env: &Envelope<T>) {
        let msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(env.to_bytes().unwrap().into())
            .message_id(format!("again-{}", uuid::Uuid::now_v7()));
        self.env
            .js()
            .send_publish(subject.to_string(), msg)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    async fn statuses(&self, case_no: &str) -> Vec<(String, String, String, String, i32)> {
        sqlx::query_as(
            "select notice, channel, coalesce(department, 'petitioner'), status, attempts
             from deliveries where case_no = $1 order by notice, channel, department",
        )
        .bind(case_no)
        .fetch_all(self.pool())
        .await
        .unwrap()
    }

    async fn wait(&self, what: &str, mut f: impl AsyncFnMut(&Harness) -> bool) {
        for _ in 0..200 {
            if f(self).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn stop(self) {
        let Harness { env, smtp, .. } = self;
        env.stop().await;
        drop(smtp);
    }
}

fn case_subject(county: &CountyCode, k: &str) -> subject::Subject {
    subject::case_event(county, k).unwrap()
}

// ---- tests ------------------------------------------------------------------------------

#[tokio::test]
async fn petitioner_notices_go_out_once_by_sms_and_email() {
    let h = Harness::start(cst("2026-03-02T10:00:00+08:00")).await;
    let county = h.county();
    let case_no = format!("XF-{county}-2026-000001");
    let reg = h.registered(&case_no, true);
    h.publish(&case_subject(&county, kind::REGISTERED), &reg)
        .await;

    h.wait("receipt by SMS and e-mail", async |h| {
        h.gw.to(PETITIONER_MOBILE).len() == 1 && h.smtp.messages().len() == 1
    })
    .await;
    let sms = &h.gw.to(PETITIONER_MOBILE)[0];
    assert_eq!(sms.notice, "receipt");
    assert!(
        sms.text.contains("Q7K9M2XA"),
        "query code in the SMS: {}",
        sms.text
    );
    assert!(sms.text.contains(&case_no));
    let mail = &h.smtp.messages()[0];
    assert!(mail.rcpt.contains(PETITIONER_EMAIL), "{mail:?}");
    assert!(
        mail.subject.contains("登记回执") && mail.subject.contains(&case_no),
        "{mail:?}"
    );
    assert!(mail.body.contains("Q7K9M2XA"), "{}", mail.body);
    h.wait("both rows sent", async |h| {
        h.statuses(&case_no)
            .await
            .iter()
            .filter(|r| r.3 == "sent")
            .count()
            == 2
    })
    .await;

    // The same event again (redelivered past the stream's de-duplication): nothing new.
    h.republish(&case_subject(&county, kind::REGISTERED), &reg)
        .await;
    // And straight through the handler, past the consumer's inbox: the delivery log's key
    // (event, recipient, channel) still adds nothing.
    {
        let mut tx = h.pool().begin().await.unwrap();
        xinfang_notify::handlers::handle_event(
            &h.notify.core,
            &mut tx,
            case_subject(&county, kind::REGISTERED).as_str(),
            &reg.erase().unwrap(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    // A later event still goes out, which also proves the redelivery was processed first.
    let acc = Envelope::new(
        kind::ACCEPTED,
        Some(case_no.clone()),
        county.clone(),
        Utc::now(),
        Accepted {
            organ_county: None,
            case_no: case_no.clone(),
            department: "rsj".into(),
            accepted_on: chrono::NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
            at: Utc::now(),
        },
    )
    .unwrap();
    h.publish(&case_subject(&county, kind::ACCEPTED), &acc)
        .await;
    h.wait("acceptance notice", async |h| {
        h.gw.to(PETITIONER_MOBILE).len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts: Vec<String> =
        h.gw.to(PETITIONER_MOBILE)
            .iter()
            .map(|r| r.notice.clone())
            .collect();
    assert_eq!(
        texts,
        ["receipt", "accepted"],
        "the receipt went out exactly once"
    );
    assert!(h.gw.to(PETITIONER_MOBILE)[1].text.contains("测试市人社局"));
    h.wait("acceptance e-mail", async |h| h.smtp.messages().len() == 2)
        .await;
    let rows = h.statuses(&case_no).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(h.gw.bad_signatures.load(Ordering::SeqCst), 0);
    let ids: HashSet<String> = h
        .smtp
        .messages()
        .iter()
        .map(|m| m.message_id.clone())
        .collect();
    assert_eq!(ids.len(), 2);

    // The delivery log over HTTP shows masked addresses only.
    let url = format!(
        "http://{}/v1/cases/{case_no}/deliveries",
        h.notify.started.http
    );
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        body.contains("138****8000") && body.contains("z***@example.com"),
        "{body}"
    );
    assert!(
        !body.contains(PETITIONER_MOBILE) && !body.contains("zhangsan"),
        "{body}"
    );
    let bad = reqwest::get(format!(
        "http://{}/v1/cases/a%20b/deliveries",
        h.notify.started.http
    ))
    .await
    .unwrap();
    assert_eq!(bad.status(), 422);
    // Nothing in the database holds an address in the clear, in any column. (The whole
    // address, not a fragment: a recipient key is hex and may hold "138" by chance.)
    let leaked: i64 = sqlx::query_scalar(
        "select count(*) from deliveries d where d::text like '%' || $1 || '%'
            or d::text like '%' || $2 || '%'",
    )
    .bind(PETITIONER_MOBILE)
    .bind(
        PETITIONER_EMAIL
            .split('@')
            .next()
            .unwrap_or(PETITIONER_EMAIL),
    )
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    h.stop().await;
}

#[tokio::test]
async fn a_5xx_is_retried_with_backoff_until_sent() {
    let h = Harness::start(cst("2026-03-02T10:00:00+08:00")).await;
    h.gw.fail
        .lock()
        .unwrap()
        .insert(PETITIONER_MOBILE.into(), 2);
    let county = h.county();
    let case_no = format!("XF-{county}-2026-000002");
    h.publish(
        &case_subject(&county, kind::REGISTERED),
        &h.registered(&case_no, false),
    )
    .await;
    h.wait("SMS sent after two 503s", async |h| {
        h.statuses(&case_no)
            .await
            .first()
            .is_some_and(|r| r.3 == "sent")
    })
    .await;
    let rows = h.statuses(&case_no).await;
    assert_eq!(
        rows,
        [(
            "receipt".into(),
            "sms".into(),
            "petitioner".into(),
            "sent".into(),
            3
        )]
    );
    let reqs = h.gw.to(PETITIONER_MOBILE);
    assert_eq!(reqs.len(), 3, "two failures and the success");
    assert!(
        reqs.iter().all(|r| r.id == reqs[0].id),
        "one delivery id across attempts"
    );
    // The retry waited (backoff ≥ 50 ms per step with the test settings).
    let spread = reqs[2].sent_at - reqs[0].sent_at;
    assert!(spread >= chrono::Duration::milliseconds(100), "{spread:?}");
    h.stop().await;
}

#[tokio::test]
async fn one_departments_failure_is_its_own_and_alerts_the_bureau() {
    let h = Harness::start(cst("2026-03-02T10:00:00+08:00")).await;
    let county = h.county();
    let case_no = format!("XF-{county}-2026-000003");
    // rsj's mobile is refused for good; zjj and every e-mail work.
    h.gw.reject.lock().unwrap().insert("13900000081".into());
    for dept in ["rsj", "zjj"] {
        let a = DeptAssignment {
            case_no: case_no.clone(),
            department: dept.into(),
            role: if dept == "rsj" {
                DeptRole::Lead
            } else {
                DeptRole::Assisting
            },
            mode: AssignMode::Assign,
            report_required: true,
            petition_type: PetitionType::Grievance,
            text: "拖欠工资".into(),
            petitioner: None,
            accept_by: Some(Utc::now()),
            addressee: None,
            deadlines: Default::default(),
            actions: Vec::new(),
        };
        let env = Envelope::new(
            kind::ASSIGNED,
            Some(case_no.clone()),
            county.clone(),
            Utc::now(),
            a,
        )
        .unwrap();
        h.publish(
            &subject::dept_event(&county, dept, kind::ASSIGNED).unwrap(),
            &env,
        )
        .await;
    }
    h.wait("four deliveries settled", async |h| {
        let rows = h.statuses(&case_no).await;
        rows.len() == 4 && rows.iter().all(|r| r.3 == "sent" || r.3 == "dead")
    })
    .await;
    let rows = h.statuses(&case_no).await;
    let state = |dept: &str, ch: &str| {
        rows.iter()
            .find(|r| r.2 == dept && r.1 == ch)
            .map(|r| r.3.clone())
            .unwrap_or_default()
    };
    assert_eq!(state("rsj", "sms"), "dead");
    assert_eq!(state("rsj", "email"), "sent");
    assert_eq!(state("zjj", "sms"), "sent");
    assert_eq!(state("zjj", "email"), "sent");
    assert_eq!(
        h.gw.to("13900000081").len(),
        1,
        "a permanent failure is not retried"
    );

    // The bureau's alert, through the outbox, with the number masked.
    let filter = format!("xf.{county}.case.{}", kind::NOTICE_FAILED);
    h.wait("notice_failed alert", async |h| {
        !h.env.read(&county, &filter).await.is_empty()
    })
    .await;
    let msgs = h.env.read(&county, &filter).await;
    assert_eq!(msgs.len(), 1);
    let alert: Envelope<events::NoticeFailed> = Envelope::from_bytes(&msgs[0].payload).unwrap();
    assert_eq!(alert.data.department.as_deref(), Some("rsj"));
    assert_eq!(alert.data.channel, "sms");
    assert_eq!(alert.data.recipient_masked, "139****0081");
    let raw = String::from_utf8_lossy(&msgs[0].payload).to_string();
    assert!(
        !raw.contains("13900000081"),
        "the gateway echoed the number; it must be masked: {raw}"
    );
    let last_error: String = sqlx::query_scalar(
        "select last_error from deliveries where case_no = $1 and status = 'dead'",
    )
    .bind(&case_no)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert!(
        last_error.contains("400") && !last_error.contains("13900000081"),
        "{last_error}"
    );
    h.stop().await;
}

#[tokio::test]
async fn quiet_hours_defer_petitioner_sms_but_not_email_or_departments() {
    // 23:00 in Shanghai.
    let h = Harness::start(cst("2026-03-02T23:00:00+08:00")).await;
    let county = h.county();
    let case_no = format!("XF-{county}-2026-000004");
    h.publish(
        &case_subject(&county, kind::REGISTERED),
        &h.registered(&case_no, true),
    )
    .await;
    // A confidential accusation assigned to 纪委监委, whose event (wrongly) carries the
    // petitioner: none of it may reach the department.
    let a = DeptAssignment {
        case_no: case_no.clone(),
        department: "jwjw".into(),
        role: DeptRole::Lead,
        mode: AssignMode::Assign,
        report_required: true,
        petition_type: PetitionType::Accusation,
        text: "举报人王五（13700001111）举报某局长受贿".into(),
        petitioner: Some(Contact {
            name: "王五".into(),
            mobile: Some("13700001111".into()),
            email: Some("wangwu@example.com".into()),
        }),
        accept_by: None,
        addressee: None,
        deadlines: Default::default(),
        actions: Vec::new(),
    };
    let env = Envelope::new(
        kind::ASSIGNED,
        Some(case_no.clone()),
        county.clone(),
        Utc::now(),
        a,
    )
    .unwrap();
    h.publish(
        &subject::dept_event(&county, "jwjw", kind::ASSIGNED).unwrap(),
        &env,
    )
    .await;

    h.wait(
        "petitioner e-mail and department notices at night",
        async |h| h.smtp.messages().len() == 2 && h.gw.to("13900000021").len() == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        h.gw.to(PETITIONER_MOBILE).is_empty(),
        "no SMS to the petitioner at 23:00"
    );
    let (deferred, next): (bool, DateTime<Utc>) = sqlx::query_as(
        "select deferred, next_attempt_at from deliveries
         where case_no = $1 and channel = 'sms' and audience = 'petitioner'",
    )
    .bind(&case_no)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert!(deferred);
    assert_eq!(next, cst("2026-03-03T08:00:00+08:00"));

    // Nothing about the whistle-blower in what the department got.
    let dept_sms = &h.gw.to("13900000021")[0];
    let dept_mail = h
        .smtp
        .messages()
        .into_iter()
        .find(|m| m.rcpt.contains("jwjw@"))
        .expect("department e-mail");
    for leaked in [
        "王五",
        "13700001111",
        "wangwu",
        "受贿",
        "张三",
        PETITIONER_MOBILE,
    ] {
        assert!(
            !dept_sms.text.contains(leaked),
            "{leaked} in {}",
            dept_sms.text
        );
        assert!(
            !dept_mail.body.contains(leaked),
            "{leaked} in {}",
            dept_mail.body
        );
        assert!(!dept_mail.subject.contains(leaked));
    }
    assert!(dept_mail.body.contains(&case_no));

    // Morning: the deferred SMS goes out.
    h.clock.set(cst("2026-03-03T08:00:01+08:00"));
    h.wait("deferred SMS at 08:00", async |h| {
        h.gw.to(PETITIONER_MOBILE).len() == 1
    })
    .await;
    assert_eq!(h.gw.to(PETITIONER_MOBILE)[0].notice, "receipt");
    h.stop().await;
}

/// Issue #18 item 2: the window between the gateway taking a message and the delivery being
/// recorded. The sender stalls there (as a process stopped or killed at that moment would);
/// when its lease ends another sender takes the row and sends it again under the same
/// `Idempotency-Key`, which the gateway honours: one message. The stalled sender's late
/// record is refused, so the delivery is recorded sent once.
#[tokio::test]
async fn a_sender_stalled_after_the_gateway_took_a_message_leaves_one_message() {
    let h = Harness::start_with(
        cst("2026-03-02T10:00:00+08:00"),
        1,
        Some(Duration::from_secs(6)),
    )
    .await;
    let county = h.county();
    let case_no = format!("XF-{county}-2026-000031");
    h.publish(
        &case_subject(&county, kind::REGISTERED),
        &h.registered(&case_no, false),
    )
    .await;
    // The stalled sender has handed the receipt to the gateway.
    h.wait("the first send", async |h| {
        !h.gw.to(PETITIONER_MOBILE).is_empty()
    })
    .await;
    // Another sender (a second instance, or the restarted process) with the same settings.
    let second = service::start_with(
        h.env.infra.clone(),
        Options {
            clock: Some(Arc::new(h.clock.clone())),
            contacts: Some(Arc::new(directory(&h.env.city, &h.env.county))),
            providers: None,
            pause_after_accept: None,
        },
    )
    .await
    .expect("a second notify starts");
    h.wait("the receipt recorded sent", async |h| {
        h.statuses(&case_no)
            .await
            .iter()
            .any(|(n, _, _, s, _)| n == "receipt" && s == "sent")
    })
    .await;
    // The stalled sender wakes up (6 s) and tries to record its old attempt.
    tokio::time::sleep(Duration::from_secs(7)).await;
    // Each sender whose lease ran out while it was stalled sent it once more (the stalled
    // one's own lane may take the row back too): at least twice, as the window allows.
    let sent = h.gw.to(PETITIONER_MOBILE);
    assert!(sent.len() >= 2, "sent again after the lease: {sent:?}");
    let keys: HashSet<String> = sent.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(
        keys.len(),
        1,
        "under one idempotency key: one message at the gateway"
    );
    let receipts: Vec<_> = h
        .statuses(&case_no)
        .await
        .into_iter()
        .filter(|(n, _, _, _, _)| n == "receipt")
        .collect();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0].3, "sent");
    assert!(
        receipts[0].4 >= 2,
        "a later attempt is the one recorded: {receipts:?}"
    );
    drop(second);
    h.stop().await;
}

/// A mail relay that accepts connections and never answers holds each e-mail until the SMTP
/// timeout (10 s here); the petitioner's SMS receipts go out meanwhile, on their own lane.
#[tokio::test]
async fn a_hanging_mail_relay_does_not_hold_sms_receipts() {
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let accept = tokio::spawn(async move {
        while let Ok((socket, _)) = relay.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let h =
        Harness::start_relay(cst("2026-03-02T10:00:00+08:00"), 30, None, Some(relay_port)).await;
    let county = h.county();
    // Four cases with e-mail fill every send slot (concurrency 4) with hanging e-mails.
    for n in 41..45 {
        let case_no = format!("XF-{county}-2026-0000{n}");
        h.publish(
            &case_subject(&county, kind::REGISTERED),
            &h.registered(&case_no, true),
        )
        .await;
    }
    h.wait("four e-mails stuck at the relay", async |_| {
        held.lock().unwrap().len() >= 4
    })
    .await;
    let case_no = format!("XF-{county}-2026-000045");
    h.publish(
        &case_subject(&county, kind::REGISTERED),
        &h.registered(&case_no, false),
    )
    .await;
    let published = std::time::Instant::now();
    loop {
        let rows = h.statuses(&case_no).await;
        if rows.iter().any(|r| r.1 == "sms" && r.3 == "sent") {
            break;
        }
        assert!(
            published.elapsed() < Duration::from_secs(4),
            "the receipt waited behind the hanging e-mails: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stuck: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where channel = 'email' and status <> 'sent'",
    )
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert!(stuck >= 4, "the e-mails were still at the relay: {stuck}");
    accept.abort();
    h.stop().await;
}

/// Issue #20: every notice the plan produces is delivered once. A served handling opinion
/// plans the reply notice and the evaluation invitation to the same number on the same
/// channel (the second used to be dropped by the delivery log's key); a 复核 decision at the
/// city's government travels in the city's and the case county's streams and is texted once.
#[tokio::test]
async fn each_planned_notice_goes_out_once() {
    let h = Harness::start(cst("2026-03-02T10:00:00+08:00")).await;
    let county = h.county();
    let city = h.env.city.clone();
    let case_no = format!("XF-{county}-2026-000002");
    h.publish(
        &case_subject(&county, kind::REGISTERED),
        &h.registered(&case_no, false),
    )
    .await;
    // Review facts of a case not yet registered here are skipped (a city's streams carry every
    // county's): let the registration land first.
    h.wait("the receipt", async |h| {
        !h.statuses(&case_no).await.is_empty()
    })
    .await;
    let replied = Envelope::new(
        kind::REPLIED,
        Some(case_no.clone()),
        county.clone(),
        Utc::now(),
        events::Replied {
            case_no: case_no.clone(),
            department: "rsj".into(),
            outcome: None,
            is_handling_opinion: true,
            text: "经调查核实，不予支持。".into(),
            served_on: chrono::NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
            at: Utc::now(),
        },
    )
    .unwrap();
    h.publish(&case_subject(&county, kind::REPLIED), &replied)
        .await;
    let decided = events::ReviewEvent {
        case_no: case_no.clone(),
        case_county: county.clone(),
        level: events::ReviewLevel::Rereview,
        organ: format!("{city}:gov"),
        decision: Some("维持".into()),
        served_on: chrono::NaiveDate::from_ymd_opt(2026, 6, 1),
        at: Utc::now(),
        round: 1,
    };
    for c in [&city, &county] {
        let env = Envelope::new(
            kind::REVIEW_DECIDED,
            Some(case_no.clone()),
            c.clone(),
            Utc::now(),
            decided.clone(),
        )
        .unwrap();
        h.publish(
            &subject::review_event(c, kind::REVIEW_DECIDED).unwrap(),
            &env,
        )
        .await;
    }
    // Generous: four notices through the sender on a machine that may be busy.
    for _ in 0..600 {
        if h.gw.to(PETITIONER_MOBILE).len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut notices: Vec<String> =
        h.gw.to(PETITIONER_MOBILE)
            .iter()
            .map(|r| r.notice.clone())
            .collect();
    notices.sort();
    assert_eq!(
        notices,
        ["evaluation", "receipt", "replied", "rereview_decided"],
        "each planned notice once"
    );
    h.stop().await;
}

/// Issue #20, item 3: a whole case's events through notify — registered, assigned, accepted,
/// extended, replied (an opinion), evaluated, 复查 requested (and its organ told of it),
/// decided, 复核 requested at the city (and the city's government told), decided (published at
/// the city and copied to the county), terminated — give exactly the deliveries the plan says,
/// notice by notice, no more and no fewer.
#[tokio::test]
async fn a_full_case_delivers_exactly_what_the_plan_says() {
    use xinfang_notify::contacts::DepartmentContacts;
    use xinfang_notify::plan::{self, PlanContext, Target};

    let h = Harness::start(cst("2026-03-02T10:00:00+08:00")).await;
    let county = h.county();
    let city = h.env.city.clone();
    let dir = directory(&city, &county);
    let case_no = format!("XF-{county}-2026-000005");
    let now = Utc::now();
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    let env = |kind: &str, c: &CountyCode, data: serde_json::Value| {
        Envelope::new(kind, Some(case_no.clone()), c.clone(), now, data)
            .unwrap()
            .erase()
            .unwrap()
    };
    let review = |level: &str, organ: String, decision: Option<&str>| {
        serde_json::json!({"case_no": case_no, "case_county": county, "level": level,
            "organ": organ, "decision": decision,
            "served_on": decision.map(|_| "2026-04-20"), "at": now})
    };
    let organ_deadline = |code: &str, organ: String| {
        serde_json::to_value(events::DeadlineStatus {
            case_no: case_no.clone(),
            deadline: code.into(),
            reference: String::new(),
            department: Some(organ),
            trigger: now,
            due: now + chrono::TimeDelta::days(30),
            state: "pending".into(),
            provisional: false,
            reason: "started".into(),
            at: now,
        })
        .unwrap()
    };
    let assignment = DeptAssignment {
        case_no: case_no.clone(),
        department: "rsj".into(),
        role: DeptRole::Lead,
        mode: AssignMode::Assign,
        report_required: false,
        petition_type: PetitionType::Grievance,
        text: "拖欠工资三个月".into(),
        petitioner: None,
        accept_by: Some(now + chrono::TimeDelta::days(15)),
        addressee: None,
        deadlines: Default::default(),
        actions: Vec::new(),
    };
    let county_gov = format!("{county}:gov");
    let city_gov = format!("{city}:gov");
    let registered = h.registered(&case_no, true).erase().unwrap();
    let steps: Vec<(String, Envelope)> = vec![
        (
            case_subject(&county, kind::REGISTERED).to_string(),
            registered,
        ),
        (
            case_subject(&county, kind::ASSIGNED).to_string(),
            env(
                kind::ASSIGNED,
                &county,
                serde_json::json!({"case_no": case_no, "department": "rsj", "mode": "assign",
                    "report_required": false, "assisting": [], "petition_type": "grievance",
                    "branch": "31_6", "assigned_at": now}),
            ),
        ),
        (
            subject::dept_event(&county, "rsj", kind::ASSIGNED)
                .unwrap()
                .to_string(),
            env(
                kind::ASSIGNED,
                &county,
                serde_json::to_value(&assignment).unwrap(),
            ),
        ),
        (
            case_subject(&county, kind::ACCEPTED).to_string(),
            env(
                kind::ACCEPTED,
                &county,
                serde_json::to_value(Accepted {
                    organ_county: None,
                    case_no: case_no.clone(),
                    department: "rsj".into(),
                    accepted_on: day(5),
                    at: now,
                })
                .unwrap(),
            ),
        ),
        (
            case_subject(&county, kind::EXTENDED).to_string(),
            env(
                kind::EXTENDED,
                &county,
                serde_json::json!({"case_no": case_no, "department": "rsj", "days": 30,
                    "approver": "局长", "reason": "情况复杂，需要进一步调查", "at": now}),
            ),
        ),
        (
            case_subject(&county, kind::REPLIED).to_string(),
            env(
                kind::REPLIED,
                &county,
                serde_json::json!({"case_no": case_no, "department": "rsj",
                    "outcome": "not_supported", "is_handling_opinion": true,
                    "text": "经调查核实，不予支持。", "served_on": "2026-03-20", "at": now}),
            ),
        ),
        (
            case_subject(&county, kind::EVALUATED).to_string(),
            env(
                kind::EVALUATED,
                &county,
                serde_json::json!({"case_no": case_no, "bureau": "satisfied",
                    "unit": "dissatisfied", "department": "rsj", "reason": "答复不清楚",
                    "at": now}),
            ),
        ),
        (
            subject::review_event(&county, kind::REVIEW_REQUESTED)
                .unwrap()
                .to_string(),
            env(
                kind::REVIEW_REQUESTED,
                &county,
                review("review", county_gov.clone(), None),
            ),
        ),
        (
            subject::dept_event(&county, "gov", kind::DEADLINE_SCHEDULED)
                .unwrap()
                .to_string(),
            env(
                kind::DEADLINE_SCHEDULED,
                &county,
                organ_deadline("D8", county_gov.clone()),
            ),
        ),
        (
            subject::dept_event(&county, "gov", kind::WARNING)
                .unwrap()
                .to_string(),
            env(
                kind::WARNING,
                &county,
                serde_json::json!({"case_no": case_no, "deadline": "D8",
                    "department": county_gov, "due": now + chrono::TimeDelta::days(3),
                    "at": now}),
            ),
        ),
        (
            subject::review_event(&county, kind::REVIEW_DECIDED)
                .unwrap()
                .to_string(),
            env(
                kind::REVIEW_DECIDED,
                &county,
                review("review", county_gov.clone(), Some("uphold")),
            ),
        ),
        (
            subject::review_event(&city, kind::REVIEW_REQUESTED)
                .unwrap()
                .to_string(),
            env(
                kind::REVIEW_REQUESTED,
                &city,
                review("rereview", city_gov.clone(), None),
            ),
        ),
        (
            subject::review_event(&county, kind::REVIEW_REQUESTED)
                .unwrap()
                .to_string(),
            env(
                kind::REVIEW_REQUESTED,
                &county,
                review("rereview", city_gov.clone(), None),
            ),
        ),
        (
            subject::dept_event(&city, "gov", kind::DEADLINE_SCHEDULED)
                .unwrap()
                .to_string(),
            env(
                kind::DEADLINE_SCHEDULED,
                &city,
                organ_deadline("D10", city_gov.clone()),
            ),
        ),
        (
            subject::review_event(&city, kind::REVIEW_DECIDED)
                .unwrap()
                .to_string(),
            env(
                kind::REVIEW_DECIDED,
                &city,
                review("rereview", city_gov.clone(), Some("uphold")),
            ),
        ),
        (
            subject::review_event(&county, kind::REVIEW_DECIDED)
                .unwrap()
                .to_string(),
            env(
                kind::REVIEW_DECIDED,
                &county,
                review("rereview", city_gov.clone(), Some("uphold")),
            ),
        ),
        (
            case_subject(&county, kind::TERMINATED).to_string(),
            env(
                kind::TERMINATED,
                &county,
                serde_json::json!({"case_no": case_no, "petitioner_key": "k", "at": now}),
            ),
        ),
    ];

    // What the plan says: per notice, one delivery per address of its target and channel.
    let dept_name = |c: &CountyCode, d: &str| {
        dir.department(c, d)
            .map(|x| x.name)
            .unwrap_or_else(|| d.to_owned())
    };
    let organ_name =
        |o: &str| DepartmentContacts::organ_name(&dir, o).unwrap_or_else(|| o.to_owned());
    let ctx = PlanContext {
        offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        dept_name: &dept_name,
        organ_name: &organ_name,
    };
    let mut want_sms: std::collections::BTreeMap<String, usize> = Default::default();
    let mut want_email: std::collections::BTreeMap<String, usize> = Default::default();
    for (subj, e) in &steps {
        for p in plan::plan(subj, e, &ctx).unwrap() {
            let (sms, email) = match &p.target {
                // The petitioner registered a mobile and an e-mail address.
                Target::Petitioner { .. } => (1, 1),
                Target::Department { county, dept } => {
                    let c = dir.department(county, dept).unwrap();
                    (c.mobiles.len(), c.emails.len())
                }
            };
            *want_sms.entry(p.notice.name().to_owned()).or_default() += sms;
            *want_email.entry(p.notice.name().to_owned()).or_default() += email;
        }
    }
    // The plan covers every step of the case, the review organs included.
    for n in [
        "receipt",
        "assigned",
        "accepted",
        "extended",
        "replied",
        "evaluation",
        "review_requested",
        "warning",
        "review_decided",
        "rereview_decided",
        "terminated",
    ] {
        assert!(want_sms.get(n).is_some_and(|&c| c > 0), "{n}: {want_sms:?}");
    }
    assert_eq!(
        want_sms["review_requested"], 2,
        "county and city government"
    );
    assert_eq!(want_sms["rereview_decided"], 1, "one of the two copies");

    for (i, (subj, e)) in steps.iter().enumerate() {
        if i == 1 {
            // Review facts of a case not yet registered here are skipped (a city's streams
            // carry every county's): let the registration land first.
            h.wait("the receipt", async |h| {
                !h.statuses(&case_no).await.is_empty()
            })
            .await;
        }
        let msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(e.to_bytes().unwrap().into())
            .message_id(e.id.to_string());
        h.env
            .js()
            .send_publish(subj.clone(), msg)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let total: usize = want_sms.values().sum::<usize>() + want_email.values().sum::<usize>();
    let counts = async |h: &Harness| -> (
        std::collections::BTreeMap<String, usize>,
        std::collections::BTreeMap<String, usize>,
        usize,
    ) {
        let mut sms = std::collections::BTreeMap::new();
        let mut email = std::collections::BTreeMap::new();
        let mut sent = 0;
        for (notice, channel, _, status, _) in h.statuses(&case_no).await {
            let m = if channel == "sms" {
                &mut sms
            } else {
                &mut email
            };
            *m.entry(notice).or_default() += 1;
            sent += usize::from(status == "sent");
        }
        (sms, email, sent)
    };
    for _ in 0..600 {
        if counts(&h).await.2 >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything extra would show up now.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (sms, email, sent) = counts(&h).await;
    assert_eq!(sms, want_sms, "SMS per notice");
    assert_eq!(email, want_email, "e-mail per notice");
    assert_eq!(sent, total, "every delivery sent");
    // What reached the gateway and the mail server: the same, once each.
    let mut gateway: std::collections::BTreeMap<String, usize> = Default::default();
    for r in h.gw.requests() {
        *gateway.entry(r.notice).or_default() += 1;
    }
    assert_eq!(gateway, want_sms, "SMS gateway requests per notice");
    assert_eq!(
        h.smtp.messages().len(),
        want_email.values().sum::<usize>(),
        "e-mails received"
    );
    h.stop().await;
}

/// A result's update finds its row by the primary key whatever the statistics say. With
/// statistics taken while nothing was pending (a quiet hour) and a backlog since, a guard
/// written as the due index's own predicate made the generic plan read that whole index for
/// every message sent.
#[tokio::test]
async fn a_result_is_recorded_by_its_key_after_a_quiet_hour() {
    let h = Harness::start(Utc::now()).await;
    let mut conn = h.pool().acquire().await.unwrap();
    let row = |status: &'static str| {
        format!(
            "insert into deliveries (id, event_id, recipient, channel, notice, audience, county,
                 address_sealed, address_masked, body, status, attempts, next_attempt_at)
             select gen_random_uuid(), gen_random_uuid(), 'r' || g, 'sms', 'receipt', 'petitioner',
                 '411202', 'sealed', '138****0000', 'body', '{status}', 1, now() + interval '1 day'
             from generate_series(1, 3000) g"
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(row("sent")))
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("analyze deliveries")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(row("pending")))
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("set plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "prepare mark_sent_plan as {}",
        xinfang_notify::store::MARK_SENT
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "explain execute mark_sent_plan(gen_random_uuid(), 1, now(), 'provider-id')",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("deliveries_pkey"), "{plan}");
    assert!(!plan.contains("deliveries_due"), "{plan}");
    drop(conn.detach());
    h.stop().await;
}

/// A claim never sent goes back at once: its lease ends and the attempt is not counted; a
/// second release (or one after a newer claim) changes nothing.
#[tokio::test]
async fn a_claim_not_sent_is_released_uncounted() {
    let h = Harness::start(Utc::now()).await;
    let later = Utc::now() + chrono::Duration::days(2);
    // Due only "later", so the running sender leaves it alone.
    sqlx::query(
        "insert into deliveries (id, event_id, recipient, channel, notice, audience, county,
             address_sealed, address_masked, body, next_attempt_at)
         values (gen_random_uuid(), gen_random_uuid(), 'release-test', 'email', 'receipt',
             'petitioner', '411202', 'sealed', 'z***@example.com', 'body', now() + interval '1 day')",
    )
    .execute(h.pool())
    .await
    .unwrap();
    let claimed = xinfang_notify::store::claim(h.pool(), "email", later, 10, 600)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    let state = || async {
        sqlx::query_as::<_, (i32, Option<DateTime<Utc>>)>(
            "select attempts, lease_until from deliveries where recipient = 'release-test'",
        )
        .fetch_one(h.pool())
        .await
        .unwrap()
    };
    assert!(state().await.1.is_some(), "claimed with a lease");
    assert_eq!(
        xinfang_notify::store::release(h.pool(), &claimed)
            .await
            .unwrap(),
        1
    );
    assert_eq!(state().await, (0, None));
    assert_eq!(
        xinfang_notify::store::release(h.pool(), &claimed)
            .await
            .unwrap(),
        0,
        "the guard refuses a stale release"
    );
    // Claimable again at once.
    let again = xinfang_notify::store::claim(h.pool(), "email", later, 10, 600)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    h.stop().await;
}
