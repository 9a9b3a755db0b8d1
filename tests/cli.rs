//! The `xinfang` binary from outside: output, JSON last lines and exit codes.

use std::process::Command;

use serde_json::Value;

fn xinfang(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xinfang"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_json(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("last line is JSON")
}

#[test]
fn d4_skips_the_national_day_holiday_and_counts_the_make_up_saturday() {
    let (code, out, _) = xinfang(&["deadline", "D4", "2026-09-30T10:00:00+08:00", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v = last_json(&out);
    assert_eq!(v["kind"], "D4");
    assert_eq!(v["due"], "2026-10-13T23:59:59+08:00");
    assert_eq!(v["calendar_complete"], true);
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        skipped.contains(&"2026-10-01")
            && skipped.contains(&"2026-10-07")
            && skipped.contains(&"2026-10-11")
    );
    assert!(
        !skipped.contains(&"2026-10-10"),
        "make-up workday counted as working"
    );
    assert!(out.contains("skipped rest days"));
}

#[test]
fn calendar_days_extension_and_open_ended() {
    let (code, out, _) = xinfang(&["deadline", "D1", "2026-01-10T16:00:00+08:00", "--json"]);
    assert_eq!(code, 0);
    // 15 days end on Sunday 01-25: the next working day (Decisions 1).
    assert_eq!(last_json(&out)["due"], "2026-01-26T23:59:59+08:00");
    assert_eq!(last_json(&out)["rolled_over_from"], "2026-01-25");
    let (_, out, _) = xinfang(&[
        "deadline",
        "D5",
        "2026-03-01T09:00:00+08:00",
        "--extension-days",
        "30",
        "--json",
    ]);
    assert_eq!(last_json(&out)["kind"], "D6");
    // 90 days end on Saturday 05-30: Monday 06-01.
    assert_eq!(last_json(&out)["due"], "2026-06-01T23:59:59+08:00");
    let (_, out, _) = xinfang(&["deadline", "D11", "2026-03-01T09:00:00+08:00", "--json"]);
    assert!(last_json(&out)["due"].is_null());
}

#[test]
fn a_review_window_ending_on_national_day_rolls_over_to_the_next_working_day() {
    // Issue #13 acceptance: served 09-01, 30 days end on 10-01 (国庆): due the end of 10-08.
    let (code, out, _) = xinfang(&["deadline", "D7", "2026-09-01T15:00:00+08:00", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v = last_json(&out);
    assert_eq!(v["due"], "2026-10-08T23:59:59+08:00");
    assert_eq!(v["rolled_over_from"], "2026-10-01");
    assert_eq!(v["provisional"], false);
    assert!(out.contains("民法典 Art 203"), "{out}");
    // Across 春节 2026 (02-15..23 off): D9 served 01-16 ends on 02-24.
    let (_, out, _) = xinfang(&["deadline", "D9", "2026-01-16T10:00:00+08:00", "--json"]);
    assert_eq!(last_json(&out)["due"], "2026-02-24T23:59:59+08:00");
}

#[test]
fn the_calendar_check_shows_its_end_and_names_problems_in_a_broken_file() {
    let (code, out, _) = xinfang(&["calendar", "check", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v = last_json(&out);
    assert_eq!(v["years"], serde_json::json!([2025, 2026]));
    assert_eq!(v["covered_until"], "2026-12-31");
    assert!(v["days_left"].is_i64() || v["days_left"].is_null());
    let bad = std::env::temp_dir().join(format!("xf-cal-{}.toml", std::process::id()));
    std::fs::write(&bad, "[2027]\noff = [\"2027-02-30\"]\n").unwrap();
    let (code, _, err) = xinfang(&["calendar", "check", "--file", bad.to_str().unwrap()]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("2027-02-30") && err.contains("calendar file"),
        "{err}"
    );
}

#[test]
fn invalid_requests_exit_2_naming_the_rule() {
    let (code, _, err) = xinfang(&["deadline", "D12", "2026-03-01T09:00:00+08:00"]);
    assert_eq!(code, 2);
    assert!(err.contains("D12") || err.contains("D1"), "{err}");
    let (code, _, err) = xinfang(&[
        "deadline",
        "D5",
        "2026-03-01T09:00:00+08:00",
        "--extension-days",
        "31",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("30") && err.contains("34"), "{err}");
    let (code, _, err) = xinfang(&["deadline", "D1", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("RFC 3339"), "{err}");
}

#[test]
fn a_year_without_calendar_data_falls_back_and_warns() {
    let (code, out, err) = xinfang(&["deadline", "D4", "2031-10-01T10:00:00+08:00", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(last_json(&out)["calendar_complete"], false);
    assert_eq!(last_json(&out)["provisional"], true);
    assert!(err.contains("warning") && err.contains("holidays"), "{err}");
    // Monday–Friday assumed: 2031-10-01 is a Wednesday → Thu, Fri, Mon, Tue, Wed.
    assert_eq!(last_json(&out)["due"], "2031-10-08T23:59:59+08:00");
}

#[test]
fn help_is_everywhere() {
    for args in [
        vec!["--help"],
        vec!["deadline", "--help"],
        vec!["dlq", "--help"],
        vec!["bench", "classify", "--help"],
    ] {
        let (code, out, _) = xinfang(&args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage"), "{args:?}");
    }
}

#[test]
fn directory_check_accepts_the_demo_and_names_problems_in_a_broken_file() {
    let (code, out, _) = xinfang(&["directory", "check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("7 counties"), "{out}");
    let bad = std::env::temp_dir().join(format!("xf-dir-{}.toml", std::process::id()));
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/directory.toml"
    ))
    .unwrap();
    // Break one department code so it is no longer a lowercase slug.
    let broken = demo.replacen("code = \"rsj\"", "code = \"RSJ!\"", 1);
    assert_ne!(broken, demo, "the demo directory has an rsj department");
    std::fs::write(&bad, broken).unwrap();
    let (code, _, err) = xinfang(&["directory", "check", "--file", bad.to_str().unwrap()]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid directory"), "{err}");
}

#[test]
fn nats_config_needs_a_credentials_file_when_writing_one() {
    let out = std::env::temp_dir().join(format!("xf-nats-{}.conf", std::process::id()));
    let (code, _, err) = xinfang(&["nats-config", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let creds = std::env::temp_dir().join(format!("xf-nats-{}.creds", std::process::id()));
    let (code, _, _) = xinfang(&[
        "nats-config",
        "--out",
        out.to_str().unwrap(),
        "--credentials",
        creds.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let conf = std::fs::read_to_string(&out).unwrap();
    assert!(
        conf.contains("xf.411282.dept.rsj.>"),
        "department subscription scoped"
    );
    let listed = std::fs::read_to_string(&creds).unwrap();
    assert!(listed.lines().count() > 100);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&creds);
}
