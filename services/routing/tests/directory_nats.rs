//! Issue #17 item 5 end to end, over a private nats-server running the generated permissions
//! with routing logged in as `svc_routing`: a department added to the directory gets its durable
//! feed from routing's reload and its NATS user from the configuration generated again (every
//! other user's password and hash kept) and reloaded into the running server, with no restart
//! of either. Connections of existing users survive the server's reload; the new department
//! logs in and pulls what was routed to it.

mod private_nats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use private_nats::{World, case_of};
use xinfang_domain::directory::Directory;
use xinfang_routing::dept_feed;
use xinfang_routing::nats_config::{self, KeptPasswords};

type Events = Arc<Mutex<Vec<String>>>;

/// A department's connection that records what happens to it (disconnections included).
async fn connect_watched(
    url: &str,
    c: &nats_config::Credentials,
) -> Result<(async_nats::Client, Events), async_nats::ConnectError> {
    let events: Events = Arc::default();
    let sink = events.clone();
    let client =
        async_nats::ConnectOptions::with_user_and_password(c.user.clone(), c.password.clone())
            .custom_inbox_prefix(c.inbox_prefix.clone().unwrap_or_default())
            .connection_timeout(Duration::from_secs(2))
            .event_callback(move |e| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(format!("{e:?}"));
                }
            })
            .connect(url)
            .await?;
    Ok((client, events))
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

#[tokio::test]
async fn a_new_department_gets_its_feed_and_its_login_without_a_restart() {
    let w = World::start("").await;
    let c = w.county();
    let dir_file = w.env.infra.settings.platform.paths.directory.clone();
    let raw = std::fs::read_to_string(&dir_file).unwrap();

    // zjj, a department from the start, is connected and stays so.
    let zjj_creds = w.cfg.departments[&w.organ("zjj")].clone();
    let (zjj, zjj_events) = connect_watched(&w.server.url, &zjj_creds)
        .await
        .expect("zjj logs in");
    let zjj_feed = dept_feed::open(&zjj, zjj_creds.department.as_ref().unwrap())
        .await
        .expect("zjj's feed");

    // The operator adds xdept and reloads routing: its feed is created.
    let changed = format!("{raw}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n");
    std::fs::write(&dir_file, &changed).unwrap();
    let r = reqwest::Client::new()
        .post(w.routing_url("/v1/directory/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        done["feeds_created"],
        serde_json::json!([format!("{c}:dept_xdept")]),
        "{done}"
    );

    // `xinfang nats-config` again: passwords from the credential files, hashes from the
    // configuration it replaces. Only xdept's lines are new; no line of another user changed.
    let mut kept = KeptPasswords::default();
    for u in w.cfg.users() {
        kept.insert(u.user.clone(), u.password.clone());
    }
    let old_config = std::fs::read_to_string(w.server.config_file()).unwrap();
    assert!(kept.keep_hashes_from_config(&old_config) > 0);
    let regenerated = nats_config::generate_keeping(
        &Directory::from_toml_str(&changed).unwrap(),
        &w.server.options(),
        &kept,
    )
    .unwrap();
    let old_lines: std::collections::BTreeSet<&str> = old_config.lines().collect();
    let new_lines: Vec<&str> = regenerated
        .config
        .lines()
        .filter(|l| !old_lines.contains(l))
        .collect();
    assert_eq!(new_lines.len(), 2, "{new_lines:?}");
    assert!(
        new_lines
            .iter()
            .all(|l| l.contains("xdept") || l.contains("新设局")),
        "{new_lines:?}"
    );
    let xdept_creds = regenerated.departments[&w.organ("xdept")].clone();
    // Before the server reloads its configuration, xdept is nobody.
    assert!(connect_watched(&w.server.url, &xdept_creds).await.is_err());

    // `nats-server --signal reload`: xdept logs in.
    w.server.reload_config(&regenerated.config);
    let mut xdept = None;
    for _ in 0..50 {
        if let Ok((client, _)) = connect_watched(&w.server.url, &xdept_creds).await {
            xdept = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let xdept =
        xdept.unwrap_or_else(|| panic!("xdept logs in after the reload\n{}", w.server.log()));
    // While the server re-reads its accounts, JetStream answers "resource does not exist" for a
    // moment (services retry); wait until the county's stream answers again.
    let stream_name = xinfang_domain::subject::stream_name(&c);
    w.env
        .wait_for("JetStream back after the reload", 10, async || {
            w.env.js().get_stream(&stream_name).await.is_ok()
        })
        .await;

    // A petition routed to xdept (routing publishes over its connection from before the
    // server's reload) reaches xdept's own feed; xdept pulls and acknowledges it.
    let cases = w.route("xdept", 1).await;
    w.wait_published("xdept", 1).await;
    let feed = dept_feed::open(&xdept, xdept_creds.department.as_ref().unwrap())
        .await
        .expect("xdept may use its feed");
    let m = pull(&feed, Duration::from_secs(5))
        .await
        .expect("xdept's assignment");
    assert_eq!(case_of(&m.payload), cases[0]);
    m.ack().await.unwrap();

    // zjj's connection lived through the reload and still gets what is routed to it.
    let zjj_cases = w.route("zjj", 1).await;
    w.wait_published("zjj", 1).await;
    let m = pull(&zjj_feed, Duration::from_secs(5))
        .await
        .expect("zjj's assignment after the server's reload");
    assert_eq!(case_of(&m.payload), zjj_cases[0]);
    m.ack().await.unwrap();
    assert_eq!(
        zjj.connection_state(),
        async_nats::connection::State::Connected
    );
    let events = zjj_events.lock().unwrap().clone();
    assert!(
        !events.iter().any(|e| e.contains("Disconnected")),
        "{events:?}"
    );
    w.stop().await;
}
