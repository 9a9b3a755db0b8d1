//! Departments as durable NATS tenants (issue #17), against a private nats-server (the Debian
//! 2.9 binary) running the configuration `nats_config::generate` makes, with routing logged in
//! as `svc_routing`: routing provisions every department's durable feed; a department that was
//! offline gets everything routed to it meanwhile, in order, acknowledges as it handles, gets
//! an unacknowledged message again, and can touch no other consumer nor the stream. The
//! Python example `docs/examples/dept_listen.py` (nats-py) does the same as an outside client.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use chrono::Utc;
use futures::StreamExt;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::events::{Contact, Registered};
use xinfang_domain::petition::{Art31Branch, Channel, PetitionType};
use xinfang_domain::seal::{self, DataKey};
use xinfang_domain::subject;
use xinfang_platform::config::{Loaded, Secret};
use xinfang_platform::host::{Infra, Started};
use xinfang_platform::testing::{TestEnv, repo_root};
use xinfang_routing::dept_feed::{self, FeedSettings};
use xinfang_routing::nats_config::{self, NatsConfig, NatsConfigOptions};

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// A nats-server of our own; killed and its files removed on drop.
struct Server {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a nats-server with the configuration generated for `dir_toml` (blocking: called
/// from `TestEnv::start`'s synchronous configure hook).
fn start_server_blocking(dir_toml: &str) -> (Server, NatsConfig) {
    let directory = Directory::from_toml_str(dir_toml).unwrap();
    let dir = std::env::temp_dir().join(format!("xf-nats-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("js")).unwrap();
    let port = free_port();
    let cfg = nats_config::generate(
        &directory,
        &NatsConfigOptions {
            port,
            store_dir: dir.join("js"),
            ..Default::default()
        },
    )
    .unwrap();
    let file = dir.join("nats.conf");
    std::fs::write(&file, &cfg.config).unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(NATS_SERVER)
        .arg("-c")
        .arg(&file)
        .arg("-p")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("nats-server runs");
    let server = Server {
        child,
        dir,
        url: format!("nats://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, cfg);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nats-server did not start: {}", server.log());
}

/// A test's world: its Postgres, Redis and streams (`env`, logged in as `ops`) on a private
/// nats-server with the generated permissions, and routing running as `svc_routing`.
struct World {
    env: TestEnv,
    server: Server,
    cfg: NatsConfig,
    routing: Infra,
    _started: Started,
    seq: std::sync::atomic::AtomicU32,
}

impl World {
    async fn start(routing_toml: &str) -> World {
        let toml = format!("[routing]\noperator = \"tester\"\n{routing_toml}");
        let mut slot: Option<(Server, NatsConfig)> = None;
        let env = TestEnv::start(
            |p| {
                let dir_toml = std::fs::read_to_string(&p.paths.directory).unwrap();
                let (server, cfg) = start_server_blocking(&dir_toml);
                p.nats.url = server.url.clone();
                p.nats.user = Some(cfg.operator.user.clone());
                p.nats.password = Some(Secret::new(cfg.operator.password.clone()));
                slot = Some((server, cfg));
            },
            &toml,
        )
        .await
        .expect("local Postgres and Redis must be running");
        let (server, cfg) = slot.expect("server started");
        let mut platform = env.infra.settings.platform.clone();
        let svc = &cfg.services["routing"];
        platform.nats.user = Some(svc.user.clone());
        platform.nats.password = Some(Secret::new(svc.password.clone()));
        let loaded = Loaded::from_parts(platform, &toml).unwrap();
        let routing = match Infra::connect(loaded, "routing-under-test", env.shutdown.clone()).await
        {
            Ok(i) => i,
            Err(e) => panic!(
                "routing connects with its own user: {e:#}\n{}",
                server.log()
            ),
        };
        let started = match xinfang_routing::service::start(routing.clone()).await {
            Ok(s) => s,
            Err(e) => panic!("routing starts as svc_routing: {e:#}\n{}", server.log()),
        };
        World {
            env,
            server,
            cfg,
            routing,
            _started: started,
            seq: std::sync::atomic::AtomicU32::new(0),
        }
    }

    async fn stop(self) {
        self.env.shutdown.cancel();
        self.routing.drain(Duration::from_secs(10)).await;
        self.env.stop().await;
        drop(self.server);
    }

    fn county(&self) -> CountyCode {
        self.env.county.clone()
    }

    fn organ(&self, dept: &str) -> OrganRef {
        OrganRef::new(self.county(), dept)
    }

    /// Registers `n` ordinary grievances for `dept` of the test county (as intake would) and
    /// returns their case numbers.
    async fn route(&self, dept: &str, n: usize) -> Vec<String> {
        let key = DataKey::from_base64(self.env.infra.settings.platform.security.data_key.expose())
            .unwrap();
        let mut cases = Vec::new();
        for _ in 0..n {
            let k = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let case_no = format!("XF-{}-2026-{k:06}", self.county());
            let contact = Contact {
                name: "王小明".into(),
                mobile: Some("13812345678".into()),
                email: None,
            };
            let r = Registered {
                case_no: case_no.clone(),
                query_code: "Q1234567".into(),
                channel: Channel::Online,
                received_at: Utc::now(),
                registered_at: Utc::now(),
                county: self.county(),
                petition_type: PetitionType::Grievance,
                branch: Some(Art31Branch::Residual),
                diversion: None,
                department: dept.into(),
                accuses_official: false,
                confidential: false,
                urgent: false,
                needs_triage: false,
                confidence: 0.9,
                group_size: 1,
                repeat: None,
                petitioner_key: "k".repeat(16),
                contact: Some(seal::seal_contact(&key, rand::random(), &contact).unwrap()),
                text: format!("小区楼道漏水，物业不处理（第{k}件）。"),
                redacted_text: None,
                received_by: None,
            };
            self.env
                .publish_case(&self.county(), "registered", &case_no, &r)
                .await;
            cases.push(case_no);
        }
        cases
    }

    /// Waits until `dept`'s subjects hold `n` messages in the county stream.
    async fn wait_published(&self, dept: &str, n: usize) {
        let stream = self.env.infra.stream(&self.county()).unwrap();
        let filter = subject::department_feed(&self.county(), dept);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let have = xinfang_platform::nats::count(&stream, &filter)
                .await
                .unwrap();
            if have >= n {
                assert_eq!(have, n, "more than expected on {filter}");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out: {have} of {n} messages on {filter}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The case numbers on `dept`'s subjects in stream order (what its feed must deliver).
    async fn published(&self, dept: &str) -> Vec<(u64, String)> {
        let stream = self.env.infra.stream(&self.county()).unwrap();
        let filter = subject::department_feed(&self.county(), dept);
        xinfang_platform::nats::read_all(&stream, &filter)
            .await
            .unwrap()
            .iter()
            .map(|m| (m.info().unwrap().stream_sequence, case_of(&m.payload)))
            .collect()
    }

    /// A consumer's state, read by the operator.
    async fn consumer(&self, dept: &str) -> consumer::Info {
        self.env
            .infra
            .stream(&self.county())
            .unwrap()
            .consumer_info(subject::department_consumer(dept))
            .await
            .unwrap_or_else(|e| panic!("consumer of {dept}: {e}"))
    }
}

fn case_of(payload: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    v["case_id"]
        .as_str()
        .or_else(|| v["data"]["case_no"].as_str())
        .unwrap_or_default()
        .to_owned()
}

type Events = Arc<Mutex<Vec<String>>>;

/// A department's connection that records the server's permission errors.
async fn connect_watched(url: &str, c: &nats_config::Credentials) -> (async_nats::Client, Events) {
    let events: Events = Arc::default();
    let sink = events.clone();
    let client =
        async_nats::ConnectOptions::with_user_and_password(c.user.clone(), c.password.clone())
            .custom_inbox_prefix(c.inbox_prefix.clone().unwrap())
            .event_callback(move |e| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(format!("{e:?}"));
                }
            })
            .connect(url)
            .await
            .expect("login with the generated credentials");
    (client, events)
}

/// Pulls one message from `feed`, waiting at most `wait`.
async fn pull(
    feed: &consumer::Consumer<consumer::pull::Config>,
    wait: Duration,
) -> Option<jetstream::Message> {
    let mut batch = feed
        .batch()
        .max_messages(1)
        .expires(wait)
        .messages()
        .await
        .expect("pull request allowed");
    match tokio::time::timeout(wait + Duration::from_secs(2), batch.next()).await {
        Ok(Some(Ok(m))) => Some(m),
        _ => None,
    }
}

/// Calls a JetStream API subject and says whether the server carried it out.
async fn js_api_succeeds(client: &async_nats::Client, api: &str, body: &str) -> bool {
    match tokio::time::timeout(
        Duration::from_millis(800),
        client.request(api.to_owned(), body.to_owned().into()),
    )
    .await
    {
        Ok(Ok(m)) => serde_json::from_slice::<serde_json::Value>(&m.payload)
            .map(|v| {
                v.get("error").is_none()
                    && v["type"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("io.nats.jetstream.api."))
            })
            .unwrap_or(false),
        _ => false,
    }
}

#[tokio::test]
async fn an_offline_department_gets_its_feed_in_order_once_and_nothing_else() {
    // A short ack wait, so redelivery is seen in seconds.
    let w = World::start("dept_feed_ack_wait_secs = 2\n").await;
    let county = w.county();
    let stream_name = subject::stream_name(&county);

    // Routing provisioned a feed for every department of both counties it serves.
    let dir = Directory::from_toml_str(
        &std::fs::read_to_string(&w.env.infra.settings.platform.paths.directory).unwrap(),
    )
    .unwrap();
    for (organ, _) in dir.organs() {
        let info = w
            .env
            .infra
            .stream(&organ.county)
            .unwrap()
            .consumer_info(subject::department_consumer(&organ.dept))
            .await
            .unwrap_or_else(|e| panic!("no feed for {organ}: {e}"));
        assert_eq!(
            info.config.filter_subject,
            format!("xf.{}.dept.{}.>", organ.county, organ.dept)
        );
        assert_eq!(info.config.ack_policy, consumer::AckPolicy::Explicit);
        assert_eq!(info.config.ack_wait, Duration::from_secs(2));
        assert_eq!(info.config.max_deliver, dept_feed::DEFAULT_MAX_DELIVER);
        assert_eq!(
            info.config.durable_name,
            Some(format!("dept_{}", organ.dept))
        );
    }

    // rsj is offline while three petitions are routed to it (and one to zjj).
    let rsj = w.organ("rsj");
    let cases = w.route("rsj", 3).await;
    let zjj_case = w.route("zjj", 1).await;
    w.wait_published("rsj", 3).await;
    w.wait_published("zjj", 1).await;
    let published = w.published("rsj").await;
    let mut expected: Vec<String> = published.iter().map(|(_, c)| c.clone()).collect();
    expected.sort();
    assert_eq!(expected, cases, "the stream holds rsj's three assignments");

    // Back online with its own credentials: everything, in stream order.
    let creds = &w.cfg.departments[&rsj];
    let client = dept_feed::connect(&w.server.url, creds, "rsj-test")
        .await
        .expect("rsj logs in");
    let feed = dept_feed::open(&client, creds.department.as_ref().unwrap())
        .await
        .expect("rsj reads its consumer's info");
    let first = pull(&feed, Duration::from_secs(5))
        .await
        .expect("first message");
    let info = first.info().unwrap();
    assert_eq!(
        (info.stream_sequence, case_of(&first.payload)),
        published[0]
    );
    assert!(first.subject.as_str().ends_with(".dept.rsj.assigned"));
    first.double_ack().await.expect("ack allowed");

    // The second is delivered and not acknowledged: nothing overtakes it, and after the
    // ack wait it comes again.
    let second = pull(&feed, Duration::from_secs(5))
        .await
        .expect("second message");
    assert_eq!(second.info().unwrap().stream_sequence, published[1].0);
    assert_eq!(second.info().unwrap().delivered, 1);
    let again = pull(&feed, Duration::from_secs(6))
        .await
        .expect("the unacknowledged message comes again");
    let again_info = again.info().unwrap();
    assert_eq!(again_info.stream_sequence, published[1].0, "order kept");
    assert_eq!(again_info.delivered, 2);
    again.double_ack().await.unwrap();

    // A nak: the same message again at once, then acknowledged.
    let third = pull(&feed, Duration::from_secs(5)).await.expect("third");
    assert_eq!(third.info().unwrap().stream_sequence, published[2].0);
    third.ack_with(jetstream::AckKind::Nak(None)).await.unwrap();
    let third = pull(&feed, Duration::from_secs(5))
        .await
        .expect("third again");
    assert_eq!(third.info().unwrap().stream_sequence, published[2].0);
    third.double_ack().await.unwrap();
    assert!(
        pull(&feed, Duration::from_secs(1)).await.is_none(),
        "nothing more for rsj: zjj's assignment is not in its feed"
    );
    let state = w.consumer("rsj").await;
    assert_eq!((state.num_pending, state.num_ack_pending), (0, 0));
    assert_eq!(state.ack_floor.stream_sequence, published[2].0);

    // What rsj may not do: pull, acknowledge on or look at zjj's feed, create or delete a
    // consumer, read or touch the stream.
    let (watched, events) = connect_watched(&w.server.url, creds).await;
    assert!(
        js_api_succeeds(
            &watched,
            &format!("$JS.API.CONSUMER.INFO.{stream_name}.dept_rsj"),
            ""
        )
        .await,
        "its own consumer's info"
    );
    let denied = [
        (
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream_name}.dept_zjj"),
            r#"{"batch":1,"expires":500000000}"#.to_owned(),
        ),
        (
            format!("$JS.API.CONSUMER.INFO.{stream_name}.dept_zjj"),
            String::new(),
        ),
        (
            format!("$JS.API.CONSUMER.CREATE.{stream_name}.mine.xf.{county}.dept.zjj.>"),
            format!(
                r#"{{"stream_name":"{stream_name}","config":{{"durable_name":"mine","filter_subject":"xf.{county}.dept.zjj.>","ack_policy":"explicit","deliver_policy":"all"}}}}"#
            ),
        ),
        (
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream_name}.mine"),
            format!(
                r#"{{"stream_name":"{stream_name}","config":{{"durable_name":"mine","ack_policy":"explicit"}}}}"#
            ),
        ),
        (
            format!("$JS.API.CONSUMER.DELETE.{stream_name}.dept_rsj"),
            String::new(),
        ),
        (format!("$JS.API.STREAM.INFO.{stream_name}"), String::new()),
        ("$JS.API.STREAM.NAMES".to_owned(), String::new()),
        (
            format!("$JS.API.CONSUMER.NAMES.{stream_name}"),
            String::new(),
        ),
        (format!("$JS.API.STREAM.PURGE.{stream_name}"), String::new()),
    ];
    for (api, body) in &denied {
        assert!(
            !js_api_succeeds(&watched, api, body).await,
            "rsj may call {api}"
        );
    }
    // An ack on zjj's feed (a guessed ack subject) is refused too.
    watched
        .publish(
            format!("$JS.ACK.{stream_name}.dept_zjj.1.1.1.1.0"),
            "".into(),
        )
        .await
        .unwrap();
    watched.flush().await.unwrap();
    // Through the client library as well: the other feed cannot be opened.
    let mut zjj_access = creds.department.clone().unwrap();
    zjj_access.consumer = "dept_zjj".into();
    assert!(dept_feed::open(&client, &zjj_access).await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = events.lock().unwrap().clone();
    let violations = seen
        .iter()
        .filter(|e| e.contains("Permissions Violation for Publish"))
        .count();
    assert!(violations > denied.len(), "{seen:?}");
    // zjj's message is still waiting for zjj, never delivered; nothing was created or deleted.
    let zjj = w.consumer("zjj").await;
    assert_eq!(
        (
            zjj.num_pending,
            zjj.num_ack_pending,
            zjj.delivered.consumer_sequence
        ),
        (1, 0, 0)
    );
    assert_eq!(w.published("zjj").await[0].1, zjj_case[0]);
    assert!(
        w.env
            .infra
            .stream(&county)
            .unwrap()
            .consumer_info("mine")
            .await
            .is_err()
    );
    assert_eq!(
        w.consumer("rsj").await.ack_floor.stream_sequence,
        published[2].0
    );

    drop(client);
    drop(watched);
    w.stop().await;
}

#[tokio::test]
async fn feeds_follow_the_directory_and_provisioning_is_idempotent() {
    let w = World::start("").await;
    let county = w.county();
    let raw = std::fs::read_to_string(&w.env.infra.settings.platform.paths.directory).unwrap();
    let dir = Directory::from_toml_str(&raw).unwrap();
    let departments = dir.department_count();
    let settings = FeedSettings::default();

    // Routing created them all at start: again, nothing changes.
    let again = dept_feed::provision(&w.routing.streams, &dir, &settings)
        .await
        .expect("svc_routing may provision");
    assert!(
        again.created.is_empty() && again.updated.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.unchanged, departments);

    // A department added to the directory gets its feed when routing starts.
    let added = format!(
        "{raw}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n\
         contacts = {{ email = \"xdept@example.gov.cn\", mobile = \"13900000999\" }}\n"
    );
    let bigger = Directory::from_toml_str(&added).expect("a valid directory");
    let last_county = bigger.counties.last().unwrap().code.clone();
    assert!(
        bigger
            .organ(&OrganRef::new(last_county.clone(), "xdept"))
            .is_some()
    );
    let done = dept_feed::provision(&w.routing.streams, &bigger, &settings)
        .await
        .unwrap();
    assert_eq!(done.created, vec![format!("{last_county}:dept_xdept")]);
    assert_eq!(done.unchanged, departments);
    let info = w
        .env
        .infra
        .stream(&last_county)
        .unwrap()
        .consumer_info("dept_xdept")
        .await
        .expect("the new department's feed");
    assert_eq!(
        info.config.filter_subject,
        format!("xf.{last_county}.dept.xdept.>")
    );

    // Changed limits are applied to the existing feeds (nats-server 2.9 updates in place).
    let longer = FeedSettings {
        ack_wait: Duration::from_secs(90),
        max_deliver: 50,
    };
    let done = dept_feed::provision(&w.routing.streams, &bigger, &longer)
        .await
        .unwrap();
    assert_eq!(done.updated.len(), departments + 1, "{done:?}");
    let rsj = w.consumer("rsj").await;
    assert_eq!(
        (rsj.config.ack_wait, rsj.config.max_deliver),
        (Duration::from_secs(90), 50)
    );
    assert_eq!(rsj.config.filter_subject, format!("xf.{county}.dept.rsj.>"));
    w.stop().await;
}

/// nats-py importable by `python3`, installed by infra/test-tools.sh when missing.
fn ensure_nats_py() {
    let ok = || {
        Command::new("python3")
            .args(["-c", "import nats.js"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok() {
        return;
    }
    let status = Command::new("bash")
        .arg(repo_root().join("infra/test-tools.sh"))
        .status();
    assert!(
        status.is_ok_and(|s| s.success()) && ok(),
        "nats-py is needed: run infra/test-tools.sh"
    );
}

/// Runs the Python example as the department's own client until it has `max` messages or
/// has been idle `idle` seconds; its stdout lines as JSON.
async fn run_python(
    url: &str,
    creds: &std::path::Path,
    max: usize,
    idle: u64,
) -> Vec<serde_json::Value> {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(repo_root().join("docs/examples/dept_listen.py"))
        .args(["--server", url, "--credentials"])
        .arg(creds)
        .args([
            "--max-messages",
            &max.to_string(),
            "--idle-exit",
            &idle.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let t0 = std::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("dept_listen.py finished in time")
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("TMPDEBUG python took {:?}: {stderr}", t0.elapsed());
    assert!(out.status.success(), "dept_listen.py failed: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
        .collect()
}

#[tokio::test]
async fn the_python_example_gets_everything_routed_while_it_was_offline_once() {
    ensure_nats_py();
    let w = World::start("").await;
    let rsj = w.organ("rsj");
    // The credential files as `xinfang nats-config` hands them over.
    let dir = std::env::temp_dir().join(format!("xf-creds-{}", uuid::Uuid::now_v7()));
    let written = nats_config::write_credential_files(&dir, &w.cfg).unwrap();
    assert_eq!(written, w.cfg.users().count());
    let file = nats_config::credential_path(&dir, &nats_config::department_user(&rsj));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Online with nothing routed yet: it waits and gets nothing.
    assert!(run_python(&w.server.url, &file, 10, 2).await.is_empty());

    // Offline while four petitions are routed to it.
    let cases = w.route("rsj", 4).await;
    w.wait_published("rsj", 4).await;
    let published = w.published("rsj").await;

    // Back online: the four, in stream order, each once.
    let got = run_python(&w.server.url, &file, 10, 3).await;
    let seqs: Vec<u64> = got
        .iter()
        .map(|l| l["stream_sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        published.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "{got:?}"
    );
    let mut got_cases: Vec<String> = got
        .iter()
        .map(|l| {
            l["event"]["case_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    got_cases.sort();
    assert_eq!(got_cases, cases);
    assert!(
        got.iter().all(|l| l["delivered"] == 1
            && l["subject"] == format!("xf.{}.dept.rsj.assigned", w.county()))
    );

    // It acknowledged them: nothing comes again, nothing is outstanding.
    assert!(run_python(&w.server.url, &file, 10, 2).await.is_empty());
    let state = w.consumer("rsj").await;
    assert_eq!((state.num_pending, state.num_ack_pending), (0, 0));
    assert_eq!(state.ack_floor.stream_sequence, published[3].0);

    let _ = std::fs::remove_dir_all(&dir);
    w.stop().await;
}
