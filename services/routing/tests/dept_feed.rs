//! Departments as durable NATS tenants (issue #17), against a private nats-server (the Debian
//! 2.9 binary) running the configuration `nats_config::generate` makes, with routing logged in
//! as `svc_routing`: routing provisions every department's durable feed; a department that was
//! offline gets everything routed to it meanwhile, in order, acknowledges as it handles, gets
//! an unacknowledged message again, and can touch no other consumer nor the stream. The
//! Python example `docs/examples/dept_listen.py` (nats-py) does the same as an outside client.

mod private_nats;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use private_nats::{World, case_of};
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::subject;
use xinfang_platform::testing::repo_root;
use xinfang_routing::dept_feed::{self, FeedSettings};
use xinfang_routing::nats_config;

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
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("dept_listen.py finished in time")
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
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
