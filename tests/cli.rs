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
    assert_eq!(last_json(&out)["due"], "2026-01-25T23:59:59+08:00");
    let (_, out, _) = xinfang(&[
        "deadline",
        "D5",
        "2026-03-01T09:00:00+08:00",
        "--extension-days",
        "30",
        "--json",
    ]);
    assert_eq!(last_json(&out)["kind"], "D6");
    assert_eq!(last_json(&out)["due"], "2026-05-30T23:59:59+08:00");
    let (_, out, _) = xinfang(&["deadline", "D11", "2026-03-01T09:00:00+08:00", "--json"]);
    assert!(last_json(&out)["due"].is_null());
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
