//! The weekly analysis (周研判) by e-mail: a `xf.<county>.report.weekly` event becomes one
//! e-mail per configured leader at a real SMTP server (aiosmtpd, installed by
//! infra/test-tools.sh) — the HTML page with the CSV attached — and a redelivered event sends
//! nothing again.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_domain::weekly_report::{EVENT_KIND, IsoWeek, ReportEvent};
use xinfang_notify::service::{self, Options};
use xinfang_platform::testing::TestEnv;

mod common;

use common::{ensure_aiosmtpd, free_port, wait_listening};

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

    /// Every stored message, raw (CRLF turned into LF, headers unfolded).
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|raw| {
                raw.replace("\r\n", "\n")
                    .replace("\n ", " ")
                    .replace("\n\t", " ")
            })
            .collect()
    }
}

fn header(raw: &str, name: &str) -> String {
    let head = raw.split_once("\n\n").map_or(raw, |(h, _)| h);
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
        .unwrap_or_default()
}

/// `=?utf-8?b?...?=` words decoded and joined.
fn decode_words(v: &str) -> String {
    v.split_whitespace()
        .map(|w| {
            let lw = w.to_ascii_lowercase();
            if lw.starts_with("=?utf-8?b?") && w.ends_with("?=") {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&w[10..w.len() - 2])
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                w.to_owned()
            }
        })
        .collect()
}

fn report(county: &str, week: IsoWeek, title: &str) -> ReportEvent {
    ReportEvent {
        county: county.to_owned(),
        week,
        title: title.to_owned(),
        generated_at: Utc::now(),
        complete: true,
        html: format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><svg xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"10\" height=\"10\"/></svg>\
             <table><tr><th>登记信访事项</th><td>42</td></tr></table></body></html>"
        ),
        csv: "\u{feff}section,key,name,this_week,previous_week,same_week_last_year,detail\r\n\
              total,registered,登记总量,42,40,38,\r\n"
            .to_owned(),
        csv_name: format!("weekly-{county}-{week}.csv"),
    }
}

#[tokio::test]
async fn a_weekly_report_is_emailed_once_to_each_leader_with_the_csv_attached() {
    let smtp = Smtp::start().await;
    let toml = format!(
        r#"
[notify]
bureau_name = "测试市信访局"

[notify.sender]
poll_interval_ms = 100

[notify.email]
enabled = true
host = "127.0.0.1"
port = {port}
security = "plain"
from = "测试市信访局 <noreply@xf.example.cn>"
timeout_secs = 10

[notify.weekly_report]
recipients = ["leader-a@xf.example.cn", "leader-b@xf.example.cn", "LEADER-A@xf.example.cn"]
"#,
        port = smtp.port
    );
    let env = TestEnv::start(|_| {}, &toml)
        .await
        .expect("local NATS, Postgres and Redis must be running");
    let (county, city) = (env.county.clone(), env.city.clone());
    let notify = service::start_with(env.infra.clone(), Options::default())
        .await
        .unwrap_or_else(|e| panic!("notify starts: {e:#}"));
    let week = IsoWeek::parse("2026-W49").unwrap();
    let publish = async |county: &xinfang_domain::county::CountyCode,
                         env_: &Envelope<ReportEvent>,
                         again: bool| {
        let subject = subject::report_event(county, EVENT_KIND).unwrap();
        let mut msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(env_.to_bytes().unwrap().into());
        if again {
            msg = msg.message_id(format!("again-{}", uuid::Uuid::now_v7()));
        } else {
            msg = msg.message_id(env_.id.to_string());
        }
        env.js()
            .send_publish(subject.to_string(), msg)
            .await
            .unwrap()
            .await
            .unwrap();
    };
    let county_report = Envelope::new(
        EVENT_KIND,
        None,
        county.clone(),
        Utc::now(),
        report(county.as_str(), week, "测试县信访形势周研判（2026-W49）"),
    )
    .unwrap();
    publish(&county, &county_report, false).await;
    let wait = async |n: usize, what: &str| {
        for _ in 0..300 {
            if smtp.messages().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}: {} mails",
            smtp.messages().len()
        );
    };
    wait(2, "the county report to two leaders").await;
    let mails = smtp.messages();
    let mut rcpts: Vec<String> = mails.iter().map(|m| header(m, "X-RcptTo")).collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        vec!["leader-a@xf.example.cn", "leader-b@xf.example.cn"],
        "each leader once (the list repeats leader-a)"
    );
    for m in &mails {
        assert_eq!(
            decode_words(&header(m, "Subject")),
            "测试县信访形势周研判（2026-W49）"
        );
        assert!(m.contains("multipart/mixed"), "{m}");
        assert!(m.contains("text/html"), "{m}");
        assert!(m.contains("text/plain"), "a text alternative: {m}");
        assert!(m.contains("text/csv"), "{m}");
        assert!(m.contains(&format!("weekly-{county}-2026-W49.csv")), "{m}");
    }

    // Redelivered (stored again under another message id): nothing more is sent.
    publish(&county, &county_report, true).await;
    // The city's report goes to them too.
    let city_report = Envelope::new(
        EVENT_KIND,
        None,
        city.clone(),
        Utc::now(),
        report(city.as_str(), week, "测试市信访形势周研判（2026-W49）"),
    )
    .unwrap();
    publish(&city, &city_report, false).await;
    wait(4, "the city report to two leaders").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 4, "no e-mail twice");
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "select notice, audience, status, county from deliveries order by county, address_masked",
    )
    .fetch_all(&notify.started.host.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.0 == "weekly_report" && r.1 == "leader" && r.2 == "sent"),
        "{rows:?}"
    );
    env.stop().await;
    drop(smtp);
}
