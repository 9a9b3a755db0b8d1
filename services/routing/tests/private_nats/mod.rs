//! A private nats-server (the Debian 2.9 binary) running the configuration
//! `nats_config::generate` makes, a test environment on it (logged in as `ops`) and routing
//! running as `svc_routing`: shared by services/routing/tests/dept_feed.rs and the CLI's
//! tests/dept_client.rs (included there by path).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream::consumer;
use chrono::Utc;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::events::{Contact, Registered};
use xinfang_domain::petition::{Art31Branch, Channel, PetitionType};
use xinfang_domain::seal::{self, DataKey};
use xinfang_domain::subject;
use xinfang_platform::config::{Loaded, Secret};
use xinfang_platform::host::{Infra, Started};
use xinfang_platform::testing::TestEnv;
use xinfang_routing::nats_config::{self, NatsConfig, NatsConfigOptions};

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// A nats-server of our own; killed and its files removed on drop.
pub struct Server {
    child: Child,
    pub dir: PathBuf,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The configuration file the server runs.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("nats.conf")
    }

    /// The options its configuration was generated with (to generate it again).
    pub fn options(&self) -> NatsConfigOptions {
        NatsConfigOptions {
            port: self
                .url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("a port in the url"),
            store_dir: self.dir.join("js"),
            ..Default::default()
        }
    }

    /// Replaces the configuration and has the running server reload it, as an operator does
    /// after `xinfang nats-config` (`nats-server --signal reload=<pid>`).
    pub fn reload_config(&self, config: &str) {
        std::fs::write(self.config_file(), config).unwrap();
        let status = Command::new(NATS_SERVER)
            .arg("--signal")
            .arg(format!("reload={}", self.child.id()))
            .status()
            .expect("nats-server --signal runs");
        assert!(status.success(), "reload signal: {status}\n{}", self.log());
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a nats-server with the configuration generated for `dir_toml` (blocking: called
/// from `TestEnv::start`'s synchronous configure hook).
pub fn start_server_blocking(dir_toml: &str) -> (Server, NatsConfig) {
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
pub struct World {
    pub env: TestEnv,
    pub server: Server,
    pub cfg: NatsConfig,
    pub routing: Infra,
    _started: Started,
    seq: std::sync::atomic::AtomicU32,
}

impl World {
    pub async fn start(routing_toml: &str) -> World {
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

    pub async fn stop(self) {
        self.env.shutdown.cancel();
        self.routing.drain(Duration::from_secs(10)).await;
        self.env.stop().await;
        drop(self.server);
    }

    pub fn county(&self) -> CountyCode {
        self.env.county.clone()
    }

    /// A URL of routing's HTTP API.
    pub fn routing_url(&self, path: &str) -> String {
        format!("http://{}{path}", self._started.http)
    }

    pub fn organ(&self, dept: &str) -> OrganRef {
        OrganRef::new(self.county(), dept)
    }

    /// Registers `n` ordinary grievances for `dept` of the test county (as intake would) and
    /// returns their case numbers.
    pub async fn route(&self, dept: &str, n: usize) -> Vec<String> {
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
                contact: Some(seal::seal_contact(&key, nonce(), &contact).unwrap()),
                text: format!("小区楼道漏水，物业不处理（第{k}件）。"),
                redacted_text: None,
                source: None,
                listed: false,
                town: None,
                matter_words: None,
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
    pub async fn wait_published(&self, dept: &str, n: usize) {
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
    pub async fn published(&self, dept: &str) -> Vec<(u64, String)> {
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
    pub async fn consumer(&self, dept: &str) -> consumer::Info {
        self.env
            .infra
            .stream(&self.county())
            .unwrap()
            .consumer_info(subject::department_consumer(dept))
            .await
            .unwrap_or_else(|e| panic!("consumer of {dept}: {e}"))
    }
}

pub fn case_of(payload: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    v["case_id"]
        .as_str()
        .or_else(|| v["data"]["case_no"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A fresh nonce for sealing a contact.
fn nonce() -> [u8; seal::NONCE_LEN] {
    let mut n = [0u8; seal::NONCE_LEN];
    let bytes = uuid::Uuid::new_v4();
    n.copy_from_slice(&bytes.as_bytes()[..seal::NONCE_LEN]);
    n
}
