//! The NATS deployment examples of `infra/deploy/nats`, run for real with nats-server.
//!
//! * `county_stream_is_replicated_and_survives_a_node_failure`: three nodes from
//!   `cluster/node.conf` on free loopback ports form the cluster; the county stream made by
//!   `xinfang_platform::nats::ensure_stream` with the production settings (replicas 3) has a
//!   leader and two replicas; a petition event goes through it to a durable pull consumer;
//!   then the stream leader is killed and the stream still takes (and the consumer still
//!   delivers) the next event.
//! * `county_leaf_node_reaches_the_city_and_mirrors_its_stream`: the cluster plus a county
//!   leaf node from `leaf/leaf.conf`: a county client's publish is stored by the city's
//!   stream (domain `city`), the county's mirror in its own domain (`county_411282`) gets
//!   it, and the leaf user's permissions keep other counties' subjects out in both
//!   directions.
//! * `production_config_loads`: `config/production.toml` loads, asks for replicas 3 and JSON
//!   logs, and carries no key.
//!
//! Every server runs from a temporary directory owned by a guard whose Drop kills the
//! servers and removes the directory, so a failing assertion leaves nothing running.

use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use serde_json::json;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::config::{self, Secret};
use xinfang_platform::nats;

const COUNTY: &str = "411282";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nats_server_bin() -> PathBuf {
    std::env::var_os("XF_NATS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

/// `n` distinct ports that were free a moment ago (bound together, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// Letters and digits, starting with a letter: nats-server parses a value taken from the
/// environment like one written in the file, so `4f3a…` would be read as a number and fail.
fn password() -> String {
    format!("p{}", uuid::Uuid::new_v4().simple())
}

/// Polls `attempt` until it returns `Some`, at most `limit`; panics with `what` and the last
/// error otherwise.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(e) if start.elapsed() >= limit => panic!("{what}: not within {limit:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

struct Server {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

/// Servers started by a test, and their directory. Drop kills them and removes it.
struct Servers {
    dir: PathBuf,
    servers: Vec<Server>,
}

impl Servers {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xf-{label}-{}", uuid::Uuid::now_v7()));
        fs::create_dir_all(&dir).expect("temp dir");
        Self {
            dir,
            servers: Vec::new(),
        }
    }

    /// Starts `nats-server -c config` with `env` and waits until it accepts connections.
    fn start(&mut self, name: &str, config: &Path, port: u16, env: &BTreeMap<&str, String>) {
        let bin = nats_server_bin();
        assert!(
            bin.exists(),
            "{} not found (install the Debian package nats-server, or set XF_NATS_SERVER_BIN)",
            bin.display()
        );
        let log = self.dir.join(format!("{name}.log"));
        let out = fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(bin)
            .arg("-c")
            .arg(config)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn nats-server");
        self.servers.push(Server {
            name: name.to_owned(),
            child: Some(child),
            log,
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let server = self.servers.last_mut().expect("just pushed");
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("{name} exited with {status}:\n{}", self.log_of(name));
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{name} does not listen on {port}:\n{}",
                self.log_of(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_of(&self, name: &str) -> String {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| fs::read_to_string(&s.log).ok())
            .unwrap_or_default()
    }

    /// Kills one server as a crash would (SIGKILL).
    fn kill(&mut self, name: &str) {
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no server {name}"));
        if let Some(mut child) = server.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for s in &mut self.servers {
            if let Some(mut child) = s.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            // Keep the logs of a failed run next to the message.
            eprintln!("nats-server logs kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Passwords shared by the cluster's nodes (cluster/accounts.conf).
struct ClusterSecrets {
    services: String,
    leaf: String,
}

struct NodePorts {
    client: u16,
    cluster: u16,
    leaf: u16,
    monitor: u16,
}

/// Three nodes from `infra/deploy/nats/cluster/node.conf`, all on 127.0.0.1.
fn start_cluster(servers: &mut Servers) -> (ClusterSecrets, Vec<NodePorts>) {
    let config = repo().join("infra/deploy/nats/cluster/node.conf");
    let ports = free_ports(12);
    let nodes: Vec<NodePorts> = ports
        .chunks(4)
        .map(|p| NodePorts {
            client: p[0],
            cluster: p[1],
            leaf: p[2],
            monitor: p[3],
        })
        .collect();
    let route_password = password();
    let secrets = ClusterSecrets {
        services: password(),
        leaf: password(),
    };
    let routes = nodes
        .iter()
        .map(|n| {
            format!(
                "nats-route://route:{route_password}@127.0.0.1:{}",
                n.cluster
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    for (i, n) in nodes.iter().enumerate() {
        let name = format!("nats-{}", i + 1);
        let store = servers.dir.join(&name);
        let env = BTreeMap::from([
            ("XF_NATS_NAME", name.clone()),
            ("XF_NATS_HOST", "127.0.0.1".to_owned()),
            ("XF_NATS_PORT", n.client.to_string()),
            ("XF_NATS_MONITOR", format!("127.0.0.1:{}", n.monitor)),
            ("XF_NATS_STORE", store.display().to_string()),
            ("XF_NATS_CLUSTER", "xf_city".to_owned()),
            ("XF_NATS_CLUSTER_PORT", n.cluster.to_string()),
            ("XF_NATS_ROUTES", format!("[{routes}]")),
            ("XF_NATS_ROUTE_PASSWORD", route_password.clone()),
            ("XF_NATS_LEAF_PORT", n.leaf.to_string()),
            ("XF_NATS_PASSWORD", secrets.services.clone()),
            ("XF_NATS_LEAF_PASSWORD", secrets.leaf.clone()),
            ("XF_NATS_ADMIN_PASSWORD", password()),
        ]);
        servers.start(&name, &config, n.client, &env);
    }
    (secrets, nodes)
}

/// The production NATS settings (replicas 3) pointed at `port` with the services' user.
fn service_settings(port: u16, password: &str) -> config::Nats {
    let mut s = production().platform.nats;
    s.url = format!("nats://127.0.0.1:{port}");
    s.user = Some("xinfang".into());
    s.password = Some(Secret::new(password));
    s
}

fn production() -> config::Loaded {
    config::load_from(&repo().join("config"), Some("production"))
        .expect("config/production.toml loads")
}

fn county() -> CountyCode {
    CountyCode::parse(COUNTY).expect("county code")
}

fn registered(case_no: &str) -> Envelope {
    Envelope::new(
        "registered",
        Some(case_no.to_owned()),
        county(),
        chrono::Utc::now(),
        json!({ "channel": "online", "petition_type": "claim" }),
    )
    .expect("envelope")
}

/// `ensure_stream` until the cluster has a JetStream meta leader and creates the stream.
async fn ensure_county_stream(js: &jetstream::Context, s: &config::Nats) -> stream::Stream {
    eventually(
        "county stream created on the fresh cluster",
        Duration::from_secs(20),
        || async {
            nats::ensure_stream(js, &county(), s)
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await
}

/// Publishes until acked (retries are harmless: the envelope id is the `Nats-Msg-Id`).
async fn publish_acked(
    js: &jetstream::Context,
    env: &Envelope,
    limit: Duration,
) -> jetstream::publish::PublishAck {
    let subject = subject::case_event(&county(), "registered").expect("subject");
    eventually("publish acked", limit, || async {
        let ack = nats::publish(js, &subject, env)
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(Duration::from_secs(3), ack).await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no ack within 3 s".into()),
        }
    })
    .await
}

async fn fetch(
    consumer: &jetstream::consumer::Consumer<jetstream::consumer::pull::Config>,
) -> Vec<jetstream::Message> {
    let mut out = Vec::new();
    let Ok(mut batch) = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_millis(1500))
        .messages()
        .await
    else {
        return out;
    };
    while let Some(Ok(m)) = batch.next().await {
        out.push(m);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn county_stream_is_replicated_and_survives_a_node_failure() {
    let mut servers = Servers::new("nats-cluster");
    let (secrets, nodes) = start_cluster(&mut servers);
    let settings = service_settings(nodes[0].client, &secrets.services);
    assert_eq!(settings.replicas, 3, "production asks for 3 replicas");

    let client = nats::connect(&settings, "nats-cluster-test")
        .await
        .expect("connect as the services' user");
    let js = nats::jetstream(client.clone());
    let mut stream = ensure_county_stream(&js, &settings).await;

    // The stream is R3: a leader and two current replicas, on three different nodes.
    let info = eventually(
        "stream leader and 2 current replicas",
        Duration::from_secs(15),
        || {
            let stream = stream.clone();
            async move {
                let info = stream.get_info().await.map_err(|e| e.to_string())?;
                let c = info.cluster.clone().ok_or("no cluster info")?;
                let ready = c.leader.is_some()
                    && c.replicas.len() == 2
                    && c.replicas.iter().all(|r| r.current);
                if ready {
                    Ok(info)
                } else {
                    Err(format!("{c:?}"))
                }
            }
        },
    )
    .await;
    assert_eq!(info.config.name, format!("XF_{COUNTY}"));
    assert_eq!(info.config.num_replicas, 3);
    let cluster = info.cluster.clone().expect("cluster info");
    assert_eq!(cluster.name.as_deref(), Some("xf_city"));
    let leader = cluster.leader.clone().expect("leader");
    let mut members: Vec<String> = cluster.replicas.iter().map(|r| r.name.clone()).collect();
    members.push(leader.clone());
    members.sort();
    assert_eq!(members, ["nats-1", "nats-2", "nats-3"]);

    // A petition event through the replicated stream.
    let first = registered("XF-411282-2026-000001");
    let ack = publish_acked(&js, &first, Duration::from_secs(10)).await;
    assert_eq!(ack.stream, format!("XF_{COUNTY}"));
    assert_eq!(ack.domain, "city");
    assert_eq!(ack.sequence, 1);
    assert!(!ack.duplicate);
    // The same envelope again (an outbox relay retrying) is dropped by the cluster.
    let again = publish_acked(&js, &first, Duration::from_secs(10)).await;
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.sequence, 1);

    let consumer_settings = production().platform.consumer;
    let filter = subject::family_filter(&county(), "case").expect("filter");
    let consumer = nats::ensure_consumer(&stream, "routing_case", &filter, &consumer_settings)
        .await
        .expect("durable consumer");
    let got = fetch(&consumer).await;
    assert_eq!(got.len(), 1, "exactly the one event, duplicates dropped");
    let m = &got[0];
    assert_eq!(m.subject.as_str(), format!("xf.{COUNTY}.case.registered"));
    let id = first.id.to_string();
    assert_eq!(
        m.headers
            .as_ref()
            .and_then(|h| h.get(nats::MSG_ID))
            .map(|v| v.as_str()),
        Some(id.as_str())
    );
    let env = Envelope::from_bytes(&m.payload).expect("envelope");
    assert_eq!(env, first);
    m.double_ack()
        .await
        .expect("ack confirmed by the consumer leader");
    let cinfo = consumer.get_info().await.expect("consumer info");
    assert_eq!(cinfo.num_ack_pending, 0);
    assert_eq!(cinfo.num_pending, 0);
    let ccluster = cinfo.cluster.expect("consumer cluster info");
    assert_eq!(
        ccluster.replicas.len(),
        2,
        "the consumer is replicated too: {ccluster:?}"
    );

    // Crash the stream's leader: the other two elect a new one and go on.
    servers.kill(&leader);
    let second = registered("XF-411282-2026-000002");
    let ack = publish_acked(&js, &second, Duration::from_secs(20)).await;
    assert_eq!(ack.sequence, 2, "{ack:?}");
    assert!(!ack.duplicate);
    let info = eventually("a new stream leader", Duration::from_secs(15), || {
        let stream = stream.clone();
        let leader = leader.clone();
        async move {
            let info = stream.get_info().await.map_err(|e| e.to_string())?;
            match info.cluster.as_ref().and_then(|c| c.leader.clone()) {
                Some(l) if l != leader => Ok(info),
                other => Err(format!("leader {other:?}")),
            }
        }
    })
    .await;
    assert_eq!(info.state.messages, 2);
    let got = eventually(
        "the durable consumer delivers after the failover",
        Duration::from_secs(15),
        || async {
            let got = fetch(&consumer).await;
            if got.is_empty() {
                Err("nothing yet".to_owned())
            } else {
                Ok(got)
            }
        },
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        Envelope::from_bytes(&got[0].payload).expect("envelope"),
        second
    );
    got[0].double_ack().await.expect("ack after failover");
    assert_eq!(stream.info().await.expect("info").state.messages, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn county_leaf_node_reaches_the_city_and_mirrors_its_stream() {
    let mut servers = Servers::new("nats-leaf");
    let (secrets, nodes) = start_cluster(&mut servers);

    // The leaf node runs from a copy of leaf/: its accounts.conf gets one more local user,
    // `probe`, without permissions of its own, so that only the city's permissions for
    // leaf_411282 stand between the probe and other counties' subjects.
    let leaf_dir = servers.dir.join("leaf-conf");
    fs::create_dir_all(&leaf_dir).expect("leaf conf dir");
    let src = repo().join("infra/deploy/nats/leaf");
    fs::copy(src.join("leaf.conf"), leaf_dir.join("leaf.conf")).expect("copy leaf.conf");
    let accounts = fs::read_to_string(src.join("accounts.conf")).expect("leaf accounts.conf");
    let probe_password = password();
    let with_probe = accounts.replacen(
        "users: [",
        &format!("users: [\n      {{ user: probe, password: {probe_password} }}"),
        1,
    );
    assert_ne!(with_probe, accounts, "leaf accounts.conf has a users list");
    fs::write(leaf_dir.join("accounts.conf"), with_probe).expect("write accounts.conf");

    let leaf_ports = free_ports(2);
    let county_password = password();
    let hub_urls = nodes
        .iter()
        .map(|n| {
            format!(
                "nats-leaf://leaf_{COUNTY}:{}@127.0.0.1:{}",
                secrets.leaf, n.leaf
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let env = BTreeMap::from([
        ("XF_NATS_NAME", format!("leaf-{COUNTY}")),
        ("XF_NATS_HOST", "127.0.0.1".to_owned()),
        ("XF_NATS_PORT", leaf_ports[0].to_string()),
        ("XF_NATS_MONITOR", format!("127.0.0.1:{}", leaf_ports[1])),
        (
            "XF_NATS_STORE",
            servers.dir.join("leaf").display().to_string(),
        ),
        ("XF_NATS_DOMAIN", format!("county_{COUNTY}")),
        ("XF_NATS_HUB_URLS", format!("[{hub_urls}]")),
        ("XF_NATS_COUNTY_PASSWORD", county_password.clone()),
    ]);
    servers.start("leaf", &leaf_dir.join("leaf.conf"), leaf_ports[0], &env);

    // The city: services' client and the county stream (R3) in domain `city`.
    let city_settings = service_settings(nodes[0].client, &secrets.services);
    let city = nats::connect(&city_settings, "city")
        .await
        .expect("city client");
    let city_js = nats::jetstream(city.clone());
    let city_stream = ensure_county_stream(&city_js, &city_settings).await;

    // The county bureau's user on the leaf node; its JetStream is the county's domain.
    let mut county_settings = city_settings.clone();
    county_settings.url = format!("nats://127.0.0.1:{}", leaf_ports[0]);
    county_settings.user = Some("county".into());
    county_settings.password = Some(Secret::new(county_password));
    let county_client = nats::connect(&county_settings, "county")
        .await
        .expect("county client");
    let county_js = nats::jetstream(county_client.clone());

    // A county client's event crosses the leaf connection and is stored by the city.
    let event = registered("XF-411282-2026-000003");
    let ack = publish_acked(&county_js, &event, Duration::from_secs(20)).await;
    assert_eq!(ack.stream, format!("XF_{COUNTY}"));
    assert_eq!(ack.domain, "city", "stored in the city's domain: {ack:?}");
    assert_eq!(
        city_stream.get_info().await.expect("info").state.messages,
        1
    );

    // The county's own copy: the mirror from leaf/mirror-XF_411282.json, in its domain.
    let mirror_json =
        fs::read_to_string(src.join(format!("mirror-XF_{COUNTY}.json"))).expect("mirror config");
    let mirror_config: stream::Config = serde_json::from_str(&mirror_json).expect("mirror json");
    let mirror = county_js
        .create_stream(mirror_config)
        .await
        .expect("mirror created in the county domain");
    let copied = eventually("the mirror catches up", Duration::from_secs(15), || {
        let mirror = mirror.clone();
        async move {
            let m = mirror.get_raw_message(1).await.map_err(|e| e.to_string())?;
            Ok(m)
        }
    })
    .await;
    assert_eq!(
        copied.subject.as_str(),
        format!("xf.{COUNTY}.case.registered")
    );
    assert_eq!(
        Envelope::from_bytes(&copied.payload).expect("envelope"),
        event
    );
    let minfo = mirror.get_info().await.expect("mirror info");
    assert!(
        minfo.config.subjects.is_empty(),
        "a mirror binds no subjects"
    );
    assert_eq!(minfo.config.num_replicas, 1);

    // Isolation: the city's permissions for leaf_411282, probed from an unrestricted leaf user.
    let mut probe_settings = county_settings.clone();
    probe_settings.user = Some("probe".into());
    probe_settings.password = Some(Secret::new(probe_password));
    let probe = nats::connect(&probe_settings, "probe")
        .await
        .expect("probe client");
    // As departments of both counties would subscribe (the other county's is refused).
    let mut probe_sub = futures::stream::select(
        probe
            .subscribe(format!("xf.{COUNTY}.dept.rsj.>"))
            .await
            .expect("probe subscribes"),
        probe
            .subscribe("xf.411202.dept.rsj.>")
            .await
            .expect("probe subscribes"),
    );
    probe.flush().await.expect("flush");
    // As routing listens for department commands: a queue subscription per county it serves.
    let mut city_sub = futures::stream::select(
        city.queue_subscribe(format!("xf.{COUNTY}.cmd.*.*"), "routing".into())
            .await
            .expect("city subscribes"),
        city.queue_subscribe("xf.411202.cmd.*.*".to_owned(), "routing".into())
            .await
            .expect("city subscribes"),
    );
    city.flush().await.expect("flush");
    // Interest crosses the leaf connection asynchronously: repeat until the county's own
    // message arrives; the other county's, sent just before it each time, never does.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "city → county on xf.{COUNTY}.> never arrived"
        );
        for c in ["411202", COUNTY] {
            city.publish(format!("xf.{c}.dept.rsj.assigned"), c.into())
                .await
                .expect("city publishes");
        }
        city.flush().await.expect("flush");
        if let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(300), probe_sub.next()).await
        {
            assert_eq!(
                m.subject.as_str(),
                format!("xf.{COUNTY}.dept.rsj.assigned"),
                "leaked down"
            );
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "county → city on xf.{COUNTY}.> never arrived"
        );
        for c in ["411202", COUNTY] {
            probe
                .publish(format!("xf.{c}.cmd.rsj.accept"), c.into())
                .await
                .expect("probe publishes");
        }
        probe.flush().await.expect("flush");
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), city_sub.next()).await
        {
            assert_eq!(
                m.subject.as_str(),
                format!("xf.{COUNTY}.cmd.rsj.accept"),
                "leaked up"
            );
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), probe_sub.next()).await
    {
        assert!(
            m.subject.as_str().starts_with("xf.411282."),
            "leaked down: {}",
            m.subject
        );
    }
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), city_sub.next()).await
    {
        assert!(
            m.subject.as_str().starts_with("xf.411282."),
            "leaked up: {}",
            m.subject
        );
    }

    // Through the city's JetStream API the county may read its stream's info (monitoring
    // the mirror) but not delete or purge the city's record: the city does not even pass
    // it the interest in those API subjects, so the request finds no responder.
    let city_api = jetstream::with_domain(probe.clone(), "city");
    let seen = city_api
        .get_stream(format!("XF_{COUNTY}"))
        .await
        .expect("the county may look at its stream in the city");
    // (The city's core publishes on xf.411282.dept.* above were stored too.)
    let stored = city_stream.get_info().await.expect("info").state.messages;
    assert!(stored >= 2, "{stored}");
    assert_eq!(seen.cached_info().state.messages, stored);
    let delete = tokio::time::timeout(
        Duration::from_secs(2),
        city_api.delete_stream(format!("XF_{COUNTY}")),
    )
    .await;
    assert!(
        !matches!(delete, Ok(Ok(_))),
        "a county deleted the city's stream"
    );
    assert_eq!(
        city_stream
            .get_info()
            .await
            .expect("still there")
            .state
            .messages,
        stored
    );
}

#[test]
fn production_config_loads() {
    let loaded = production();
    let p = &loaded.platform;
    assert_eq!(p.nats.replicas, 3);
    assert_eq!(p.telemetry.format, config::LogFormat::Json);
    assert!(!p.database.create_if_missing);
    // No key in the file, and the demo keys of default.toml are overridden.
    assert!(p.security.data_key.is_empty());
    assert!(p.security.hash_key.is_empty());
    assert!(p.database.url.is_empty() && p.redis.url.is_empty());
    // Service sections parse; notify refuses to start until its secrets are given.
    loaded
        .section::<xinfang_intake::settings::IntakeSettings>("intake")
        .expect("intake");
    loaded
        .section::<xinfang_routing::settings::RoutingSettings>("routing")
        .expect("routing");
    loaded
        .section::<xinfang_supervision::settings::SupervisionSettings>("supervision")
        .expect("supervision")
        .validate()
        .expect("supervision valid");
    let notify = loaded
        .section::<xinfang_notify::settings::NotifySettings>("notify")
        .expect("notify");
    let problems = notify.validate().expect_err("secrets missing").join("\n");
    for key in ["notify.sms.http.secret", "notify.email.password"] {
        assert!(problems.contains(key), "{key} in {problems}");
    }
    assert_eq!(problems.lines().count(), 2, "only the secrets: {problems}");
}

/// Issue #18 item 4: the services themselves on the 3-node cluster, petitions flowing, a node
/// killed mid-load (one that leads neither the stream nor the meta group: the services'
/// clients on it fail over): every accepted petition is registered, routed and given its D1
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_lose_nothing_and_repeat_nothing_when_a_node_dies_under_load() {
    use xinfang_platform::testing::TestEnv;

    let mut servers = Servers::new("nats-cluster-services");
    let (secrets, nodes) = start_cluster(&mut servers);
    let mut settings = service_settings(nodes[0].client, &secrets.services);
    settings.url = nodes
        .iter()
        .map(|n| format!("nats://127.0.0.1:{}", n.client))
        .collect::<Vec<_>>()
        .join(",");
    let env = eventually(
        "the services' streams on the fresh cluster",
        Duration::from_secs(30),
        || {
            let settings = settings.clone();
            async move {
                TestEnv::start(
                    |p| p.nats = settings,
                    "[routing]\noperator = \"tester\"\nhold_for_triage = false\n",
                )
                .await
                .map_err(|e| e.to_string())
            }
        },
    )
    .await;
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .expect("intake");
    let _routing = xinfang_routing::service::start(env.infra.clone())
        .await
        .expect("routing");
    let supervision = xinfang_supervision::service::start(env.infra.clone())
        .await
        .expect("supervision");
    let stream = env.infra.stream(&env.county).expect("county stream");
    let leader = stream
        .get_info()
        .await
        .expect("stream info")
        .cluster
        .and_then(|c| c.leader)
        .expect("a stream leader");
    // The node to lose: a replica that leads neither the stream nor the JetStream meta group,
    // so the survivors go on without an election (the leader's loss is the test above); the
    // services' connections to it must move to the others.
    let jsz: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{}/jsz", nodes[0].monitor))
        .await
        .expect("monitoring answers")
        .json()
        .await
        .expect("jsz");
    let meta = jsz["meta_cluster"]["leader"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let victim = ["nats-1", "nats-2", "nats-3"]
        .into_iter()
        .find(|n| *n != leader && *n != meta)
        .expect("a node that leads nothing")
        .to_owned();
    // Make that node lead supervision's consumer of registrations: the pull request supervision
    // has outstanding dies with it and nobody answers it, the case a consumer must recover
    // from by pulling anew (a run once stalled there: 0 of 30 D1s).
    let stream_name = stream.cached_info().config.name.clone();
    let consumer_leader = || {
        let stream = stream.clone();
        async move {
            stream
                .consumer_info("supervision_case")
                .await
                .ok()
                .and_then(|i| i.cluster)
                .and_then(|c| c.leader)
        }
    };
    for _ in 0..30 {
        if consumer_leader().await.as_deref() == Some(victim.as_str()) {
            break;
        }
        let _: Result<serde_json::Value, _> = env
            .infra
            .js
            .request(
                format!("CONSUMER.LEADER.STEPDOWN.{stream_name}.supervision_case"),
                &json!({}),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "supervision_case led by {:?}; node to lose {victim}",
        consumer_leader().await
    );

    let county = env.county.to_string();
    let http = reqwest::Client::new();
    let texts = [
        "小区电梯坏了三个月，物业一直不修，请求住建部门督促维修。",
        "我们村的低保名额评定不公开，请求民政部门公开评定结果。",
        "学校门口的路口没有红绿灯，孩子上学很危险，请求交警部门设置信号灯。",
    ];
    let mut cases = Vec::new();
    for i in 0..30u32 {
        if i == 10 {
            servers.kill(&victim);
        }
        let body = json!({
            "channel": "online",
            "petitioner": {"name": "测试人", "mobile": format!("1380013{i:04}")},
            "text": texts[i as usize % texts.len()],
            "county": county,
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        });
        let r = http
            .post(format!("http://{}/v1/petitions", intake.http))
            .json(&body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("intake answers");
        assert_eq!(r.status(), 201, "petition {i}");
        let v: serde_json::Value = r.json().await.expect("receipt");
        cases.push(v["case_no"].as_str().expect("case number").to_owned());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every case registered once and routed (assigned or diverted) once, as the stream says,
    // and given one D1 by supervision.
    let count = |subject: String| {
        let env = &env;
        async move {
            let mut per_case: BTreeMap<String, usize> = BTreeMap::new();
            let msgs = match env.infra.stream(&env.county) {
                Ok(stream) => nats::read_all(&stream, &subject).await.unwrap_or_else(|e| {
                    println!("{subject}: read failed: {e:#}");
                    Vec::new()
                }),
                Err(e) => panic!("{e}"),
            };
            for m in &msgs {
                match Envelope::<serde_json::Value>::from_bytes(&m.payload) {
                    Ok(e) => {
                        if let Some(c) = e.case_id {
                            *per_case.entry(c).or_default() += 1;
                        }
                    }
                    Err(e) => println!("{subject}: unreadable envelope: {e}"),
                }
            }
            if msgs.is_empty() {
                println!("{subject}: nothing read");
            }
            per_case
        }
    };
    let routed = eventually(
        "every petition routed",
        Duration::from_secs(180),
        || async {
            let mut routed = count(format!("xf.{county}.case.assigned")).await;
            for (c, n) in count(format!("xf.{county}.case.diverted")).await {
                *routed.entry(c).or_default() += n;
            }
            let missing = cases.iter().filter(|c| !routed.contains_key(*c)).count();
            if missing == 0 {
                Ok(routed)
            } else {
                Err(format!("{missing} not routed yet"))
            }
        },
    )
    .await;
    // A read during the failover can come back empty: read until every case is there.
    let registered = eventually(
        "every registration readable",
        Duration::from_secs(120),
        || async {
            let registered = count(format!("xf.{county}.case.registered")).await;
            if cases.iter().all(|c| registered.contains_key(c)) {
                Ok(registered)
            } else {
                Err(format!("{} of {} read", registered.len(), cases.len()))
            }
        },
    )
    .await;
    for c in &cases {
        assert_eq!(registered.get(c), Some(&1), "{c} registered once");
        assert_eq!(routed.get(c), Some(&1), "{c} routed once");
    }
    // Supervision consumes the registrations on its own durable consumer, which may still be
    // catching up after the failover when routing's have all been read.
    let waited = Instant::now();
    let d1 = eventually("every D1 scheduled", Duration::from_secs(120), || async {
        let d1: Vec<(String, i64)> = sqlx::query_as(
            "select case_no, count(*) from deadlines where kind = 'D1' group by case_no",
        )
        .fetch_all(&supervision.host.pool)
        .await
        .map_err(|e| e.to_string())?;
        let d1: BTreeMap<String, i64> = d1.into_iter().collect();
        if cases.iter().all(|c| d1.contains_key(c)) {
            Ok(d1)
        } else {
            Err(format!("{} of {} have a D1", d1.len(), cases.len()))
        }
    })
    .await;
    for c in &cases {
        assert_eq!(d1.get(c), Some(&1), "{c}: one D1");
    }
    println!(
        "cluster under load: {} petitions, node {victim} killed after 10: registered {}, routed {}, \
         D1 {} ({:.1} s after every case was routed)",
        cases.len(),
        registered.len(),
        routed.len(),
        d1.len(),
        waited.elapsed().as_secs_f64()
    );
    env.stop().await;
}
