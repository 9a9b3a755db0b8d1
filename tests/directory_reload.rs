//! `xinfang directory reload` from outside, against routing and notify running as two
//! processes would (each its own connections and its own directory): every service is asked,
//! routing first; a refusal stops the services after it from being asked, so the services keep
//! one directory; a service that is not reached is reported and the others are still asked.

use std::process::Command;
use std::time::Duration;

use xinfang_platform::config::Loaded;
use xinfang_platform::host::Infra;
use xinfang_platform::testing::TestEnv;

async fn xinfang(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_xinfang"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_service_is_asked_routing_first_and_a_refusal_stops_the_rest() {
    let toml = "[routing]\noperator = \"tester\"\n";
    let env = TestEnv::start(|_| {}, toml)
        .await
        .expect("local NATS, Postgres and Redis must be running");
    let routing = xinfang_routing::service::start(env.infra.clone())
        .await
        .expect("routing starts");
    // Notify in a process of its own: its own connections, its own directory.
    let notify_infra = Infra::connect(
        Loaded::from_parts(env.infra.settings.platform.clone(), toml).unwrap(),
        "notify-under-test",
        env.shutdown.clone(),
    )
    .await
    .unwrap();
    let notify = xinfang_notify::service::start(notify_infra.clone())
        .await
        .expect("notify starts");
    let routing_url = format!("http://{}", routing.http);
    let notify_url = format!("http://{}", notify.http);
    let routing_dir = env.infra.loaded_directory().expect("routing reads it");
    let notify_dir = notify_infra.loaded_directory().expect("notify reads it");
    assert!(!std::sync::Arc::ptr_eq(&routing_dir, &notify_dir));
    let c = env.county.clone();
    let file = env.infra.settings.platform.paths.directory.clone();
    let raw = std::fs::read_to_string(&file).unwrap();
    let args = |urls: &[&str]| {
        let mut a = vec!["directory".to_owned(), "reload".to_owned()];
        for u in urls {
            a.push("--url".into());
            a.push((*u).to_owned());
        }
        a
    };

    // A new department: both reload, routing creates its feed.
    std::fs::write(
        &file,
        format!("{raw}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n"),
    )
    .unwrap();
    let (code, out, err) = xinfang(args(&[&routing_url, &notify_url])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&routing_url)
            && lines[0].contains(&format!("department {c}:xdept 新设局 added"))
            && lines[0].contains(&format!("feeds created: {c}:dept_xdept")),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&notify_url) && lines[1].contains("xdept"),
        "{out}"
    );
    assert_eq!(routing_dir.generation(), 1);
    assert_eq!(notify_dir.generation(), 1);
    assert_eq!(routing_dir.hash(), notify_dir.hash());

    // A bad file: routing refuses, notify is not asked; both keep the directory they run.
    std::fs::write(&file, "[[county]]\ncode = \"bad\"\nname = \"坏\"\n").unwrap();
    let (code, out, err) = xinfang(args(&[&routing_url, &notify_url])).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!("{routing_url}: refused (422"))
            && err.contains("directory_invalid")
            && err.contains("county[bad].code"),
        "{err}"
    );
    assert!(
        err.contains("not asked") && err.contains(&notify_url),
        "{err}"
    );
    assert_eq!(routing_dir.generation(), 1);
    assert_eq!(notify_dir.generation(), 1);

    // A service that is not reached is reported; the others are still asked.
    std::fs::write(&file, &raw).unwrap();
    let (code, out, err) = xinfang(args(&["http://127.0.0.1:9", &notify_url])).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("http://127.0.0.1:9: not reached"), "{err}");
    assert!(
        out.contains(&notify_url) && out.contains(&format!("{c}:xdept")),
        "{out}"
    );
    assert_eq!(notify_dir.generation(), 2);

    // Routing takes the department away too; with --prune-feeds its idle feed is deleted.
    let mut prune = args(&[&routing_url]);
    prune.push("--prune-feeds".into());
    let (code, out, err) = xinfang(prune).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "feed {c}:dept_xdept: deleted (nothing was pending)"
        )),
        "{out}\n{err}"
    );
    let stream = env.infra.stream(&c).unwrap();
    assert!(
        stream.consumer_info("dept_xdept").await.is_err(),
        "the feed is gone"
    );
    assert!(
        stream.consumer_info("dept_zjj").await.is_ok(),
        "other departments' feeds stay"
    );

    env.shutdown.cancel();
    notify_infra.drain(Duration::from_secs(10)).await;
    env.stop().await;
}
