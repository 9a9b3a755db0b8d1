//! Private PostgreSQL, Redis and NATS servers on free ports, started by the project's own
//! `infra/local/up.sh` in a temporary XF_INFRA_DIR whose guard runs down.sh on drop. Used by
//! the script tests and by the outage tests (which stop and restart one of them).
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    fs,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

/// Upper bound for one script run; the scripts normally take 1-3 s.
pub const SCRIPT_TIMEOUT_SECS: &str = "120";
pub const NET_TIMEOUT: Duration = Duration::from_secs(20);

pub fn script_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("infra/local")
        .join(name)
}

/// Three distinct ports that were free a moment ago (bound together, then
/// released, so they cannot coincide).
pub fn free_ports() -> (u16, u16, u16) {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect();
    (ports[0], ports[1], ports[2])
}

pub fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// Output of a script run, kept printable for assertion messages.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// One XF_INFRA_DIR with its ports. Drop runs down.sh and deletes the dir.
pub struct Infra {
    pub dir: PathBuf,
    pub pg: u16,
    pub redis: u16,
    pub nats: u16,
}

impl Infra {
    pub fn new(pg: u16, redis: u16, nats: u16) -> Self {
        let dir =
            std::env::temp_dir().join(format!("xf-infra-test-{}", uuid::Uuid::new_v4().simple()));
        Infra {
            dir,
            pg,
            redis,
            nats,
        }
    }

    pub fn run(&self, script: &str) -> Run {
        // `timeout` keeps a hung script from hanging the test.
        let out: Output = Command::new("timeout")
            .arg(SCRIPT_TIMEOUT_SECS)
            .arg("bash")
            .arg(script_path(script))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("XF_INFRA_DIR", &self.dir)
            .env("XF_PG_PORT", self.pg.to_string())
            .env("XF_REDIS_PORT", self.redis.to_string())
            .env("XF_NATS_PORT", self.nats.to_string())
            .env("XF_DB_NAME", "xinfang")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn started_file(&self) -> PathBuf {
        self.dir.join("started")
    }

    /// The started file as server -> (pid, port); empty if there is none.
    pub fn started(&self) -> BTreeMap<String, (u32, u16)> {
        let text = match fs::read_to_string(self.started_file()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
            Err(e) => panic!("read {}: {e}", self.started_file().display()),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert!(f.len() >= 4, "malformed started line: {line:?}");
                let pid = f[1].parse().unwrap_or_else(|_| panic!("pid in {line:?}"));
                let port = f[2].parse().unwrap_or_else(|_| panic!("port in {line:?}"));
                (f[0].to_string(), (pid, port))
            })
            .collect()
    }

    /// Stops server `name` that up.sh started (SIGINT: its clean, fast shutdown) and waits
    /// until its port is closed.
    pub async fn stop(&self, name: &str) {
        let (pid, _) = self.started()[name];
        assert!(
            Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .expect("kill")
                .success()
        );
        let port = self.port_of(name);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while answers(port) {
            assert!(std::time::Instant::now() < deadline, "{name} did not stop");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn port_of(&self, server: &str) -> u16 {
        match server {
            "postgres" => self.pg,
            "redis" => self.redis,
            "nats" => self.nats,
            other => panic!("unknown server {other}"),
        }
    }
}

impl Drop for Infra {
    fn drop(&mut self) {
        if self.dir.exists() {
            let down = self.run("down.sh");
            if !down.ok() {
                eprintln!("cleanup: down.sh failed:\n{down}");
            }
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
