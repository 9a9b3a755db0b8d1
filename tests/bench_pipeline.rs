//! `xinfang bench pipeline` from outside, small: the whole system in a scratch deployment of
//! its own (local Postgres, Redis and NATS), 30 petitions over three counties. Every accepted
//! petition must pass every hop once — registered, D1 scheduled, assigned, D4 scheduled,
//! its receipt SMS at the gateway sink — and the JSON last line must say so.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const N: u64 = 30;

/// The run's stdout and its last line as JSON, once it exited 0 (else everything it printed).
fn succeeded_with_json(out: &std::process::Output) -> (String, Value) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("last line is JSON ({e}):\n{stdout}"));
    (stdout, v)
}

#[test]
fn thirty_petitions_pass_every_hop_once_and_each_gets_one_receipt_sms() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xinfang"))
        .args(["bench", "pipeline", "--n", &N.to_string()])
        .args([
            "--counties",
            "3",
            "--concurrency",
            "8",
            "--timeout-secs",
            "40",
            "--idle-secs",
            "1",
            // Warm-up petitions are drained and forgotten: the counts below are the run's.
            "--warmup",
            "20",
        ])
        .arg("--json")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("XF_ENV")
        .output()
        .expect("xinfang runs");
    let (stdout, v) = succeeded_with_json(&out);
    let num = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("{k} is a count: {v}"))
    };
    assert_eq!(num("n"), N);
    assert_eq!(num("warmup"), 20, "{stdout}");
    assert!(
        stdout.contains("after a warm-up of 20 petitions"),
        "{stdout}"
    );
    assert_eq!(num("accepted"), N, "{stdout}");
    assert_eq!(num("lost"), 0, "{stdout}");
    assert_eq!(num("duplicated"), 0, "{stdout}");
    assert_eq!(num("completed"), N, "{stdout}");
    for hop in [
        "accept",
        "registered",
        "d1_scheduled",
        "assigned",
        "scheduled",
        "receipt",
        "e2e",
    ] {
        assert_eq!(
            v["hops"][hop]["n"].as_u64(),
            Some(N),
            "hop {hop} measured for every petition: {stdout}"
        );
    }
    // The sink got exactly one receipt per petition, and each petition's own.
    assert_eq!(num("sms_receipts"), N, "{stdout}");
    assert_eq!(num("sms_receipt_cases"), N, "{stdout}");
    assert_eq!(num("stray_receipts"), 0);
    assert_eq!(num("sms_bad_signatures"), 0);
    // Departments were told of their assignments on both channels.
    assert!(v["sms_by_notice"]["assigned"].as_u64().unwrap_or(0) >= N);
    assert!(num("emails") >= N, "{stdout}");
    let (p50, p99, max) = (
        v["e2e_p50_ms"].as_f64().unwrap_or(-1.0),
        v["e2e_p99_ms"].as_f64().unwrap_or(-1.0),
        v["e2e_max_ms"].as_f64().unwrap_or(-1.0),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{stdout}");
    assert!(v["per_second"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(
        v["baseline_per_second"].as_f64().unwrap_or(0.0) > 0.0,
        "{stdout}"
    );
    assert!(v["ratio"].as_f64().unwrap_or(0.0) > 0.0);
    let peak = v["peak_rss_kib"].as_u64().unwrap_or(0);
    let idle = v["idle_rss_kib"].as_u64().unwrap_or(0);
    assert!(peak > 0 && idle > 0 && idle <= peak, "{stdout}");
    assert!(stdout.contains("idle RSS:"), "{stdout}");
    assert!(stdout.contains("end to end"));
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
}

/// `--external` against a running `xinfang up` (the README's first command, on a test's own
/// codes, database and free ports), its SMS going to a gateway sink this test holds: every
/// petition passes every hop, the receipts are read from the deployment's delivery log, and
/// the resident set reported is that of the `up` process.
#[tokio::test]
async fn external_run_loads_a_running_up_and_reads_its_resident_set() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    use xinfang_platform::testing;

    const N: u64 = 20;
    let (p, city, county) = testing::settings().await.unwrap();
    let dir_file =
        std::env::temp_dir().join(format!("xf-bench-ext-dir-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&dir_file, testing::directory_toml(&city, &county)).unwrap();
    let secret = format!("bench-ext-{}", uuid::Uuid::new_v4().simple());
    let sms = xinfang_notify::sinks::SmsSink::start(secret.clone())
        .await
        .unwrap();
    // The same settings for the deployment and for the bench that loads it.
    let mut env: Vec<(String, String)> = vec![
        ("XF__DEPLOYMENT__CITY".into(), city.to_string()),
        (
            "XF__DEPLOYMENT__COUNTIES".into(),
            format!("{city},{county}"),
        ),
        ("XF__DATABASE__URL".into(), p.database.url.expose().into()),
        ("XF__REDIS__KEY_PREFIX".into(), p.redis.key_prefix.clone()),
        (
            "XF__PATHS__DIRECTORY".into(),
            dir_file.display().to_string(),
        ),
        (
            "XF__SECURITY__DATA_KEY".into(),
            p.security.data_key.expose().into(),
        ),
        (
            "XF__SECURITY__HASH_KEY".into(),
            p.security.hash_key.expose().into(),
        ),
        ("XF__ROUTING__HOLD_FOR_TRIAGE".into(), "false".into()),
        ("XF__NOTIFY__QUIET_HOURS__ENABLED".into(), "false".into()),
        ("XF__NOTIFY__SMS__PROVIDER".into(), "http".into()),
        ("XF__NOTIFY__SMS__HTTP__URL".into(), sms.url()),
        ("XF__NOTIFY__SMS__HTTP__SECRET".into(), secret),
        ("XF__CONSOLE__PORT".into(), "0".into()),
    ];
    for port in ["INTAKE", "ROUTING", "SUPERVISION", "REVIEW", "NOTIFY"] {
        env.push((format!("XF__HTTP__{port}_PORT"), "0".into()));
    }
    let mut up = tokio::process::Command::new(env!("CARGO_BIN_EXE_xinfang"));
    up.arg("up")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("XF_ENV")
        .envs(env.iter().cloned())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = up.spawn().expect("xinfang up starts");
    let pid = child.id().expect("a running child");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut api = None;
    let banner = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.trim().strip_prefix("API (intake):") {
                api = Some(rest.trim().to_owned());
            }
            if line.contains("Stop with Ctrl-C") {
                break;
            }
        }
    })
    .await;
    assert!(banner.is_ok(), "xinfang up printed its banner in time");
    let api = api.expect("the banner names the API");

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xinfang"))
        .args(["bench", "pipeline", "--external", "--api", &api])
        .args(["--pid", &pid.to_string(), "--n", &N.to_string()])
        .args(["--counties", "2", "--concurrency", "4"])
        .args(["--timeout-secs", "40", "--idle-secs", "1", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("XF_ENV")
        .envs(env.iter().cloned())
        .output()
        .await
        .expect("xinfang runs");
    let (stdout, v) = succeeded_with_json(&out);
    assert_eq!(v["mode"], "external", "{stdout}");
    assert_eq!(v["n"].as_u64(), Some(N));
    assert_eq!(v["accepted"].as_u64(), Some(N), "{stdout}");
    assert_eq!(v["lost"].as_u64(), Some(0), "{stdout}");
    assert_eq!(v["duplicated"].as_u64(), Some(0), "{stdout}");
    for hop in [
        "registered",
        "d1_scheduled",
        "assigned",
        "scheduled",
        "receipt",
        "e2e",
    ] {
        assert_eq!(v["hops"][hop]["n"].as_u64(), Some(N), "hop {hop}: {stdout}");
    }
    // No sinks of its own in this mode: the receipts came from the delivery log…
    assert!(v["sms_total"].is_null(), "{stdout}");
    assert_eq!(v["sms_receipt_cases"].as_u64(), Some(N), "{stdout}");
    // …and really went out, once each, to the gateway the deployment is configured with.
    let receipts = sms.with(|recs| {
        recs.iter()
            .filter(|r| r.notice == "receipt")
            .filter_map(|r| r.case_no.clone())
            .collect::<Vec<_>>()
    });
    let distinct: std::collections::BTreeSet<_> = receipts.iter().collect();
    assert_eq!((receipts.len(), distinct.len()), (N as usize, N as usize));
    // The resident set is the deployment's process, not the bench's.
    assert_eq!(v["rss_pid"].as_u64(), Some(u64::from(pid)), "{stdout}");
    let peak = v["peak_rss_kib"].as_u64().unwrap_or(0);
    let idle = v["idle_rss_kib"].as_u64().unwrap_or(0);
    assert!(peak > 0 && idle > 0 && idle <= peak, "{stdout}");
    assert!(
        stdout.contains(&format!("the deployment's process {pid}")),
        "{stdout}"
    );
    assert!(v["baseline_per_second"].as_f64().unwrap_or(0.0) > 0.0);

    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(60), child.wait()).await;
    sms.stop();
    let _ = std::fs::remove_file(&dir_file);
    let _ = xinfang_platform::db::drop_database(&p.database).await;
}
