//! `xinfang bench pipeline` from outside, small: the whole system in a scratch deployment of
//! its own (local Postgres, Redis and NATS), 30 petitions over three counties. Every accepted
//! petition must pass every hop once — registered, D1 scheduled, assigned, D4 scheduled,
//! its receipt SMS at the gateway sink — and the JSON last line must say so.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const N: u64 = 30;

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
        ])
        .arg("--json")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("XF_ENV")
        .output()
        .expect("xinfang runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("last line is JSON ({e}):\n{stdout}"));
    let num = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("{k} is a count: {v}"))
    };
    assert_eq!(num("n"), N);
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
