//! The fault suite (issue #18 items 1 and 2): the five service binaries as child processes
//! against servers of their own (PostgreSQL, Redis and NATS started by the project's
//! `infra/local/up.sh` on free ports), an SMS gateway sink and an SMTP sink that count what
//! they receive, and a steady stream of petitions. Each scenario injects one fault under that
//! load — a service killed with SIGKILL and restarted, a server restarted, a service stopped
//! with SIGSTOP for longer than `ack_wait`, one of two instances killed, notify killed between
//! the gateway taking a message and the delivery being recorded — then waits until the system
//! is quiet and counts, over everything registered so far:
//! - every petition answered 201 is registered, once (and nothing registered that no request
//!   could have made);
//! - each registration published once, each case assigned once (or held for a clerk when its
//!   classification needs triage), never both;
//! - every deadline that passed while it ran fired once (`deadline.overdue`), and a petition
//!   received 20 days ago and held for triage always passes its D1;
//! - every notice delivered exactly once to the sinks: one receipt SMS per case, no SMS twice
//!   (by delivery id and by recipient, notice and parameters), no e-mail twice (Message-ID),
//!   and every delivery notify recorded as sent is one the sinks have.
//!
//! Each scenario prints its counts; any loss or duplicate fails the test, naming it.
//! The suites run in parallel, each on its own servers; docs/faults.md lists the promises.

#[path = "common/private_infra.rs"]
mod private_infra;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use private_infra::{Infra, free_ports};
use serde_json::{Value, json};
use xinfang_notify::sinks::{SmsSink, SmtpSink};

const SERVICES: [&str; 5] = ["intake", "routing", "supervision", "review", "notify"];
/// Petitions per second offered during a scenario.
const RATE: f64 = 4.0;
/// JetStream redelivers a message not acknowledged within this long.
const ACK_WAIT_SECS: u64 = 3;
/// notify's lease on a delivery it is sending.
const LEASE_SECS: u64 = 3;
/// The counties petitions are registered in (two of the demo's).
const COUNTIES: [&str; 2] = ["411282", "411202"];
const SMS_SECRET: &str = "fault-suite-gateway-secret";
/// Every fourth petition was received 20 days ago and reads so vaguely that the classifier
/// asks for triage: routing holds it for a clerk, so its D1 (15 days) has passed — a deadline
/// that falls due, under every fault.
const HELD_EVERY: usize = 4;
/// How long a scenario waits for the system to become quiet.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);

/// Where cargo put the service binaries: this test's executable is in `target/<profile>/deps`.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

fn binary(service: &str) -> PathBuf {
    bin_dir().join(format!("xf-{service}"))
}

/// `cargo test --workspace` builds every package's binaries before running tests; a test run
/// of this file alone may not have, so build what is missing (with cargo's own progress).
fn ensure_binaries() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        if SERVICES.iter().all(|s| binary(s).exists()) {
            return;
        }
        eprintln!("faults: building the service binaries");
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.current_dir(env!("CARGO_MANIFEST_DIR")).arg("build");
        if bin_dir().file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        for s in SERVICES {
            cargo.args(["-p", &format!("xinfang-{s}")]);
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "building the service binaries failed");
    });
}

/// Texts from the project's labelled examples: ones routing sends straight to a department,
/// and ones whose classification needs triage (held). Chosen with the classifier intake loads.
struct Texts {
    routed: Vec<String>,
    held: Vec<String>,
}

fn texts() -> Texts {
    use xinfang_domain::petition::Art31Branch::*;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/classification");
    let classifier =
        xinfang_intake::service::load_classifier(&dir).expect("the bundled classifier loads");
    let raw = fs::read_to_string(dir.join("examples.jsonl")).expect("examples.jsonl");
    let (mut routed, mut held) = (Vec::new(), Vec::new());
    for line in raw.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("an example is JSON");
        let Some(text) = v["text"].as_str() else {
            continue;
        };
        let c = classifier.classify(text);
        // Not guided into another legal channel (Art 31(1)–(4)): routing assigns it.
        let to_department = c.accuses_official
            || c.diversion.is_none()
                && !matches!(
                    c.branch,
                    Some(LegalProcedure | Arbitration | PartyAppeal | AdministrativeProcedure)
                );
        if c.needs_triage {
            if held.len() < 8 {
                held.push(text.to_owned());
            }
        } else if to_department && routed.len() < 24 {
            routed.push(text.to_owned());
        }
    }
    assert!(
        routed.len() >= 4 && !held.is_empty(),
        "examples.jsonl has {} routed and {} held texts",
        routed.len(),
        held.len()
    );
    Texts { routed, held }
}

/// What the load generator's requests came to, over the whole deployment's life.
#[derive(Default)]
struct Outcomes {
    posted: usize,
    accepted: BTreeSet<String>,
    /// No answer (connection refused or cut, timeout): registered or not, the client cannot
    /// know.
    unanswered: usize,
    /// Answered with an error status (e.g. 503 while PostgreSQL is away): not registered.
    refused: BTreeMap<u16, usize>,
    /// Not sent: no intake instance was running.
    no_instance: usize,
}

/// One service process.
struct Proc {
    child: Child,
    port: u16,
}

/// The private servers, the sinks, the service processes and the load's results.
struct Deployment {
    name: &'static str,
    servers: Infra,
    sms: SmsSink,
    smtp: SmtpSink,
    procs: BTreeMap<(&'static str, usize), Proc>,
    /// Live intake ports the load generator posts to.
    intakes: Arc<Mutex<Vec<u16>>>,
    outcomes: Arc<Mutex<Outcomes>>,
    next_petition: Arc<AtomicUsize>,
    texts: Arc<Texts>,
    logs: PathBuf,
    pool: sqlx::PgPool,
}

impl Deployment {
    async fn start(name: &'static str, instances: usize) -> Deployment {
        ensure_binaries();
        let (pg, redis, nats) = free_ports();
        let servers = Infra::new(pg, redis, nats);
        let up = servers.run("up.sh");
        assert!(up.ok(), "{name}: up.sh failed:\n{up}");
        let logs = servers.dir.join("logs");
        fs::create_dir_all(&logs).expect("log directory");
        let sms = SmsSink::start(SMS_SECRET.into())
            .await
            .expect("the SMS sink");
        let smtp = SmtpSink::start().await.expect("the SMTP sink");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&format!("postgres://postgres@127.0.0.1:{pg}/xinfang"))
            .await
            .expect("the private PostgreSQL");
        let mut d = Deployment {
            name,
            servers,
            sms,
            smtp,
            procs: BTreeMap::new(),
            intakes: Arc::default(),
            outcomes: Arc::default(),
            next_petition: Arc::default(),
            texts: Arc::new(texts()),
            logs,
            pool,
        };
        // intake first: the first service creates the database's schemas' home.
        for service in SERVICES {
            for i in 0..instances {
                d.spawn(service, i, &[]).await;
            }
        }
        d
    }

    /// The configuration every process gets: the bundled demo configuration (cwd = the
    /// project) with the private servers, the sinks and short redelivery windows.
    fn env(&self) -> Vec<(String, String)> {
        let s = &self.servers;
        [
            (
                "XF__DATABASE__URL",
                format!("postgres://postgres@127.0.0.1:{}/xinfang", s.pg),
            ),
            ("XF__DATABASE__MAX_CONNECTIONS", "5".into()),
            ("XF__NATS__URL", format!("nats://127.0.0.1:{}", s.nats)),
            ("XF__REDIS__URL", format!("redis://127.0.0.1:{}", s.redis)),
            ("XF__TELEMETRY__FORMAT", "json".into()),
            ("XF__TELEMETRY__FILTER", "info,sqlx=warn".into()),
            ("XF__SECURITY__AUTH_REQUIRED", "false".into()),
            ("XF__CONSUMER__ACK_WAIT_SECS", ACK_WAIT_SECS.to_string()),
            ("XF__CONSUMER__BACKOFF_INITIAL_MS", "200".into()),
            ("XF__CONSUMER__BACKOFF_MAX_MS", "2000".into()),
            ("XF__ROUTING__HOLD_FOR_TRIAGE", "true".into()),
            ("XF__SUPERVISION__INDEX_CHECK_INTERVAL_SECS", "1".into()),
            ("XF__SUPERVISION__LEASE_SECS", LEASE_SECS.to_string()),
            ("XF__NOTIFY__QUIET_HOURS__ENABLED", "false".into()),
            ("XF__NOTIFY__SENDER__LEASE_SECS", LEASE_SECS.to_string()),
            ("XF__NOTIFY__SMS__PROVIDER", "http".into()),
            ("XF__NOTIFY__SMS__HTTP__URL", self.sms.url()),
            ("XF__NOTIFY__SMS__HTTP__SECRET", SMS_SECRET.into()),
            ("XF__NOTIFY__EMAIL__ENABLED", "true".into()),
            ("XF__NOTIFY__EMAIL__HOST", "127.0.0.1".into()),
            ("XF__NOTIFY__EMAIL__PORT", self.smtp.port().to_string()),
            ("XF__NOTIFY__EMAIL__SECURITY", "plain".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts instance `i` of `service` on a free port and waits until it is ready.
    async fn spawn(&mut self, service: &'static str, i: usize, extra: &[(&str, &str)]) {
        let port = free_ports().0;
        let log = self.logs.join(format!("{service}-{i}.log"));
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("a log file");
        let err = out.try_clone().expect("a log file handle");
        let mut cmd = Command::new(binary(service));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("XF_ENV")
            .env_remove("XF_CONFIG_DIR")
            .envs(self.env())
            .env(
                format!("XF__HTTP__{}_PORT", service.to_uppercase()),
                port.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: start xf-{service}: {e}", self.name));
        self.procs.insert((service, i), Proc { child, port });
        self.wait_ready(service, i, &log).await;
        if service == "intake" {
            self.intakes.lock().expect("intakes").push(port);
        }
    }

    async fn wait_ready(&mut self, service: &'static str, i: usize, log: &Path) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let p = self.procs.get_mut(&(service, i)).expect("started");
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!(
                    "{}: xf-{service} #{i} exited ({status}):\n{}",
                    self.name,
                    tail(log)
                );
            }
            let url = format!("http://127.0.0.1:{}/readyz", p.port);
            if let Ok(r) = http.get(&url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: xf-{service} #{i} not ready after 90 s:\n{}",
                self.name,
                tail(log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL: no drain, no goodbye.
    fn kill(&mut self, service: &'static str, i: usize) {
        let mut p = self
            .procs
            .remove(&(service, i))
            .expect("a running instance");
        if service == "intake" {
            self.intakes
                .lock()
                .expect("intakes")
                .retain(|&x| x != p.port);
        }
        p.child.kill().expect("SIGKILL");
        let _ = p.child.wait();
    }

    fn signal(&self, service: &'static str, i: usize, sig: &str) {
        let pid = self.procs[&(service, i)].child.id();
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    fn start_servers(&self) {
        let up = self.servers.run("up.sh");
        assert!(up.ok(), "{}: up.sh again:\n{up}", self.name);
    }

    /// Posts petitions at [`RATE`] until the returned flag is set; the handle ends when every
    /// request it sent has its outcome.
    fn load(&self) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, intakes, outcomes, next, texts) = (
            stop.clone(),
            self.intakes.clone(),
            self.outcomes.clone(),
            self.next_petition.clone(),
            self.texts.clone(),
        );
        let handle = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / RATE));
            let mut inflight = tokio::task::JoinSet::new();
            while !s.load(Ordering::Relaxed) {
                tick.tick().await;
                let i = next.fetch_add(1, Ordering::Relaxed);
                let port = {
                    let live = intakes.lock().expect("intakes");
                    live.get(i % live.len().max(1)).copied()
                };
                let body = petition(i, &texts);
                let (http, outcomes) = (http.clone(), outcomes.clone());
                inflight.spawn(async move {
                    let Some(port) = port else {
                        let mut o = outcomes.lock().expect("outcomes");
                        o.posted += 1;
                        o.no_instance += 1;
                        return;
                    };
                    let answer = http
                        .post(format!("http://127.0.0.1:{port}/v1/petitions"))
                        .json(&body)
                        .timeout(Duration::from_secs(15))
                        .send()
                        .await
                        .ok();
                    let result = match answer {
                        None => Err(None),
                        Some(r) if r.status().as_u16() == 201 => {
                            match r
                                .json::<Value>()
                                .await
                                .ok()
                                .and_then(|v| v["case_no"].as_str().map(str::to_owned))
                            {
                                Some(case_no) => Ok(case_no),
                                None => Err(None),
                            }
                        }
                        Some(r) => Err(Some(r.status().as_u16())),
                    };
                    let mut o = outcomes.lock().expect("outcomes");
                    o.posted += 1;
                    match result {
                        Ok(case_no) => {
                            o.accepted.insert(case_no);
                        }
                        Err(None) => o.unanswered += 1,
                        Err(Some(status)) => *o.refused.entry(status).or_default() += 1,
                    }
                });
                while inflight.try_join_next().is_some() {}
            }
            while inflight.join_next().await.is_some() {}
        });
        (stop, handle)
    }

    /// Runs the load for `before`, then `fault`, then the load for `after`; waits until the
    /// system is quiet, counts, prints and fails on any loss or duplicate.
    async fn scenario<F>(&mut self, label: &str, before: Duration, fault: F, after: Duration)
    where
        F: AsyncFnOnce(&mut Deployment),
    {
        let (stop, load) = self.load();
        tokio::time::sleep(before).await;
        fault(self).await;
        tokio::time::sleep(after).await;
        stop.store(true, Ordering::Relaxed);
        load.await.expect("the load generator");
        self.settle().await;
        let counts = self.count().await;
        println!("{} / {label}: {}", self.name, counts.line());
        assert!(
            counts.problems.is_empty(),
            "{} / {label}: {}\n{}\nlogs: {}",
            self.name,
            counts.line(),
            counts.problems.join("\n"),
            self.logs.display()
        );
    }

    /// Waits until nothing moves: no delivery waiting to be sent, every registered case known
    /// to routing and supervision, and the counts unchanged for three seconds.
    async fn settle(&self) {
        let start = Instant::now();
        let mut last = None;
        let mut still = 0;
        while start.elapsed() < SETTLE_LIMIT {
            let snap = self.snapshot().await;
            let caught_up = snap.is_some_and(|s| s.caught_up());
            if caught_up && last == snap {
                still += 1;
                if still >= 3 {
                    return;
                }
            } else {
                still = 0;
            }
            last = snap;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        eprintln!(
            "{}: not quiet after {SETTLE_LIMIT:?}; counting anyway",
            self.name
        );
    }

    async fn snapshot(&self) -> Option<Snapshot> {
        let q = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&self.pool)
                .await
                .ok()
        };
        Some(Snapshot {
            registered: q("select count(*) from intake.cases").await?,
            routed: q("select count(*) from routing.cases").await?,
            supervised: q(
                "select count(distinct case_no) from supervision.deadlines where kind = 'D1'",
            )
            .await?,
            fired: q("select count(*) from supervision.deadlines where state = 'fired'").await?,
            unsent: q(
                "select count(*) from notify.deliveries where status in ('pending', 'retrying')",
            )
            .await?,
            deliveries: q("select count(*) from notify.deliveries").await?,
            sms: self.sms.with(|r| r.len()),
            mail: self.smtp.with(|r| r.len()),
        })
    }

    /// Everything the suite promises, checked over all that was registered so far.
    async fn count(&self) -> Counts {
        let mut c = Counts::default();
        let (accepted, unanswered) = {
            let o = self.outcomes.lock().expect("outcomes");
            c.posted = o.posted;
            c.accepted = o.accepted.len();
            c.unanswered = o.unanswered;
            c.refused = o.refused.values().sum::<usize>() + o.no_instance;
            (o.accepted.clone(), o.unanswered)
        };
        let registered: BTreeSet<String> =
            sqlx::query_scalar::<_, String>("select case_no from intake.cases")
                .fetch_all(&self.pool)
                .await
                .expect("intake.cases")
                .into_iter()
                .collect();
        c.registered = registered.len();
        for missing in accepted.difference(&registered) {
            c.problem(format!("accepted {missing} is not registered"));
        }
        if registered.len() > accepted.len() + unanswered {
            c.problem(format!(
                "{} cases registered from {} accepted and {} unanswered requests",
                registered.len(),
                accepted.len(),
                unanswered
            ));
        }

        // The events, from the streams.
        let reg = self.events("case.registered").await;
        let assigned = self.events("case.assigned").await;
        let overdue = self.events("deadline.overdue").await;
        for case in &registered {
            let n = reg.get(case).map_or(0, Vec::len);
            if n != 1 {
                c.problem(format!("{case}: case.registered published {n} times"));
                continue;
            }
            let triage = reg[case][0]["data"]["needs_triage"] == true;
            let a = assigned.get(case).map_or(0, Vec::len);
            if triage {
                c.held += 1;
                if a != 0 {
                    c.problem(format!("{case}: held for triage but assigned {a} times"));
                }
            } else {
                c.assigned += usize::from(a == 1);
                if a != 1 {
                    c.problem(format!("{case}: assigned {a} times"));
                }
            }
        }
        for case in reg.keys().filter(|k| !registered.contains(*k)) {
            c.problem(format!("{case}: published but not in intake's registry"));
        }
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select case_no, count(*)::text from routing.assignments where role = 'lead' group by case_no having count(*) > 1",
        )
        .fetch_all(&self.pool)
        .await
        .expect("routing.assignments");
        for (case, n) in rows {
            c.problem(format!("{case}: {n} lead assignments"));
        }

        // Deadlines: fired ⇔ one overdue event; held cases' D1 fired.
        let deadlines: Vec<(String, String, String)> =
            sqlx::query_as("select case_no, kind, state from supervision.deadlines where ref = ''")
                .fetch_all(&self.pool)
                .await
                .expect("supervision.deadlines");
        let mut events_of: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (case, list) in &overdue {
            for e in list {
                let kind = e["data"]["deadline"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *events_of.entry((case.clone(), kind)).or_default() += 1;
            }
        }
        for (case, kind, state) in &deadlines {
            let n = events_of
                .get(&(case.clone(), kind.clone()))
                .copied()
                .unwrap_or(0);
            let fired = state == "fired";
            c.fired += usize::from(fired);
            if fired && n != 1 || !fired && n != 0 {
                c.problem(format!("{case} {kind} ({state}): {n} overdue events"));
            }
        }
        for case in reg
            .iter()
            .filter(|(_, e)| e[0]["data"]["needs_triage"] == true)
            .map(|(k, _)| k)
        {
            let d1 = deadlines
                .iter()
                .find(|(c2, k, _)| c2 == case && k == "D1")
                .map(|(_, _, s)| s.as_str());
            if d1 != Some("fired") {
                c.problem(format!("{case}: held 20 days after receipt, D1 is {d1:?}"));
            }
        }

        // Notices at the sinks against notify's record.
        let sent: Vec<(String, String, String)> =
            sqlx::query_as("select id::text, channel, status from notify.deliveries")
                .fetch_all(&self.pool)
                .await
                .expect("notify.deliveries");
        for (id, channel, status) in &sent {
            if status == "pending" || status == "retrying" {
                c.problem(format!("delivery {id} ({channel}) still {status}"));
            }
        }
        let sent_sms: BTreeSet<&str> = sent
            .iter()
            .filter(|(_, ch, st)| ch == "sms" && st == "sent")
            .map(|(id, _, _)| id.as_str())
            .collect();
        let sent_mail: BTreeSet<String> = sent
            .iter()
            .filter(|(_, ch, st)| ch == "email" && st == "sent")
            .map(|(id, _, _)| id.clone())
            .collect();
        c.sms_replays = self.sms.stats().replays as usize;
        c.mail_replays = self.smtp.stats().replays as usize;
        self.sms.with(|records| {
            c.sms = records.len();
            let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
            let mut by_content: BTreeMap<(&str, &str, String), usize> = BTreeMap::new();
            let mut receipts: BTreeMap<&str, usize> = BTreeMap::new();
            for r in records {
                *by_id.entry(r.id.as_str()).or_default() += 1;
                let params = serde_json::to_string(&r.params).unwrap_or_default();
                *by_content
                    .entry((r.to.as_str(), r.notice.as_str(), params))
                    .or_default() += 1;
                if r.notice == "receipt"
                    && let Some(case) = r.case_no.as_deref()
                {
                    *receipts.entry(case).or_default() += 1;
                }
            }
            for (id, n) in &by_id {
                if *n > 1 {
                    c.problem(format!("SMS delivery {id} delivered {n} times"));
                }
                if !sent_sms.contains(id) {
                    c.problem(format!(
                        "SMS delivery {id} at the gateway, not recorded as sent"
                    ));
                }
            }
            for id in &sent_sms {
                if !by_id.contains_key(id) {
                    c.problem(format!(
                        "SMS delivery {id} recorded as sent, not at the gateway"
                    ));
                }
            }
            for ((_, notice, _), n) in by_content.iter().filter(|(_, n)| **n > 1) {
                c.problem(format!("{n} identical {notice} SMS to one recipient"));
            }
            for case in &registered {
                let n = receipts.get(case.as_str()).copied().unwrap_or(0);
                c.receipts += usize::from(n == 1);
                if n != 1 {
                    c.problem(format!("{case}: {n} receipt SMS"));
                }
            }
        });
        self.smtp.with(|records| {
            c.mail = records.len();
            let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
            for r in records {
                // `<delivery id@domain>`
                let id = r
                    .message_id
                    .as_deref()
                    .and_then(|m| m.trim_start_matches('<').split('@').next())
                    .unwrap_or_default()
                    .to_owned();
                *by_id.entry(id).or_default() += 1;
            }
            for (id, n) in &by_id {
                if *n > 1 {
                    c.problem(format!("e-mail {id} delivered {n} times"));
                }
                if !sent_mail.contains(id) {
                    c.problem(format!("e-mail {id} at the relay, not recorded as sent"));
                }
            }
            for id in &sent_mail {
                if !by_id.contains_key(id) {
                    c.problem(format!("e-mail {id} recorded as sent, not at the relay"));
                }
            }
        });
        c
    }

    /// The events `xf.<county>.<what>` of the counties' streams by case, as JSON envelopes.
    async fn events(&self, what: &str) -> BTreeMap<String, Vec<Value>> {
        let client = async_nats::connect(format!("nats://127.0.0.1:{}", self.servers.nats))
            .await
            .expect("the private NATS");
        let js = async_nats::jetstream::new(client);
        let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for county in COUNTIES {
            let stream = js
                .get_stream(format!("XF_{county}"))
                .await
                .expect("the county's stream");
            let msgs = xinfang_platform::nats::read_all(&stream, &format!("xf.{county}.{what}"))
                .await
                .expect("the stream reads");
            for e in msgs
                .iter()
                .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
            {
                if let Some(case) = e["case_id"].as_str() {
                    out.entry(case.to_owned()).or_default().push(e.clone());
                }
            }
        }
        out
    }

    /// Stops every process (SIGTERM, so they drain).
    fn stop(mut self) {
        for p in self.procs.values_mut() {
            let _ = Command::new("kill")
                .args(["-TERM", &p.child.id().to_string()])
                .status();
        }
        for p in self.procs.values_mut() {
            let _ = p.child.wait();
        }
        self.procs.clear();
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for p in self.procs.values_mut() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    registered: i64,
    routed: i64,
    supervised: i64,
    fired: i64,
    unsent: i64,
    deliveries: i64,
    sms: usize,
    mail: usize,
}

impl Snapshot {
    fn caught_up(&self) -> bool {
        self.unsent == 0 && self.routed == self.registered && self.supervised == self.registered
    }
}

#[derive(Default)]
struct Counts {
    posted: usize,
    accepted: usize,
    unanswered: usize,
    refused: usize,
    registered: usize,
    assigned: usize,
    held: usize,
    fired: usize,
    sms: usize,
    sms_replays: usize,
    receipts: usize,
    mail: usize,
    mail_replays: usize,
    problems: Vec<String>,
}

impl Counts {
    fn problem(&mut self, p: String) {
        // The first few name the failure; hundreds would bury it.
        if self.problems.len() < 40 {
            self.problems.push(p);
        }
    }

    fn line(&self) -> String {
        format!(
            "posted {} accepted {} unanswered {} refused or unsent {} | registered {} assigned {} held {} | deadlines fired {} | SMS {} (receipts {}, replays answered {}) e-mail {} (Message-IDs resent {}) | problems {}",
            self.posted,
            self.accepted,
            self.unanswered,
            self.refused,
            self.registered,
            self.assigned,
            self.held,
            self.fired,
            self.sms,
            self.receipts,
            self.sms_replays,
            self.mail,
            self.mail_replays,
            self.problems.len()
        )
    }
}

const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"];
const GIVEN: [&str; 8] = ["伟", "芳", "娜", "秀英", "敏", "静", "建国", "桂英"];

/// Petition `i`: its own petitioner (name and mobile), a routed text received a minute ago,
/// or every [`HELD_EVERY`]th a held text received 20 days ago.
fn petition(i: usize, texts: &Texts) -> Value {
    let held = i % HELD_EVERY == HELD_EVERY - 1;
    let (text, received_at) = if held {
        (
            &texts.held[i % texts.held.len()],
            Utc::now() - TimeDelta::days(20),
        )
    } else {
        (
            &texts.routed[i % texts.routed.len()],
            Utc::now() - TimeDelta::minutes(1),
        )
    };
    json!({
        "channel": "letter",
        "petitioner": {
            "name": format!("{}{}", SURNAMES[i % 8], GIVEN[(i / 8) % 8]),
            "mobile": format!("139{:08}", 10_000 + i),
        },
        "text": text,
        "county": COUNTIES[i % COUNTIES.len()],
        "received_at": received_at,
        "clerk_id": "fault-suite",
    })
}

fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

const BEFORE: Duration = Duration::from_secs(2);
const AFTER: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_killed_mid_load_and_restarted_loses_and_repeats_nothing() {
    let mut d = Deployment::start("kill -9", 1).await;
    d.scenario(
        "steady load, no fault",
        BEFORE,
        async |_: &mut Deployment| {},
        AFTER,
    )
    .await;
    for service in SERVICES {
        d.scenario(
            &format!("kill -9 {service}, restart"),
            BEFORE,
            async |d: &mut Deployment| {
                d.kill(service, 0);
                tokio::time::sleep(Duration::from_secs(1)).await;
                d.spawn(service, 0, &[]).await;
            },
            AFTER,
        )
        .await;
    }
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_server_restarted_mid_load_loses_and_repeats_nothing() {
    let mut d = Deployment::start("servers", 1).await;
    for server in ["nats", "redis", "postgres"] {
        let label = match server {
            "redis" => "Redis restarted empty".to_owned(),
            other => format!("{other} restarted"),
        };
        d.scenario(
            &label,
            BEFORE,
            async |d: &mut Deployment| {
                d.servers.stop(server).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                d.start_servers();
            },
            AFTER,
        )
        .await;
    }
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_each_service_survive_a_kill_and_a_stall() {
    let mut d = Deployment::start("two instances", 2).await;
    d.scenario(
        "one instance of every service killed",
        BEFORE,
        async |d: &mut Deployment| {
            for service in SERVICES {
                d.kill(service, 0);
            }
        },
        AFTER,
    )
    .await;
    for service in SERVICES {
        d.spawn(service, 0, &[]).await;
    }
    for service in ["routing", "supervision", "notify"] {
        d.scenario(
            &format!("{service} #1 stopped (SIGSTOP) past ack_wait, then continued"),
            BEFORE,
            async |d: &mut Deployment| {
                d.signal(service, 1, "-STOP");
                tokio::time::sleep(Duration::from_secs(2 * ACK_WAIT_SECS + 1)).await;
                d.signal(service, 1, "-CONT");
            },
            AFTER,
        )
        .await;
    }
    d.stop();
}

/// Issue #18 item 2: notify stalls after the gateway took a message (the fault hook), is
/// killed there and restarted; the restarted sender sends the delivery again under the same
/// Idempotency-Key, the gateway answers it as the message it has, and the petitioner gets one
/// SMS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_killed_after_the_gateway_took_a_message_sends_it_once() {
    let mut d = Deployment::start("notify crash window", 1).await;
    d.kill("notify", 0);
    d.spawn("notify", 0, &[("XF_FAULT_PAUSE_AFTER_ACCEPT_MS", "600000")])
        .await;
    let mut killed_in_window = false;
    d.scenario(
        "notify killed after the gateway accepted, before recording",
        Duration::from_millis(500),
        async |d: &mut Deployment| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while d.sms.with(|r| r.is_empty()) {
                assert!(Instant::now() < deadline, "no SMS reached the gateway");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let unrecorded: i64 = sqlx::query_scalar(
                "select count(*) from notify.deliveries where channel = 'sms' and status <> 'sent'",
            )
            .fetch_one(&d.pool)
            .await
            .expect("notify.deliveries");
            killed_in_window = unrecorded > 0;
            d.kill("notify", 0);
            d.spawn("notify", 0, &[]).await;
        },
        AFTER,
    )
    .await;
    assert!(
        killed_in_window,
        "the gateway's SMS was recorded before the kill"
    );
    let replays = d.sms.stats().replays;
    assert!(
        replays >= 1,
        "the restarted sender never sent an accepted message again ({replays} replays)"
    );
    d.stop();
}
