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

/// The credential files of `dir`: user → (password, the whole file).
fn credential_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, (String, Value)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let user = v["user"].as_str().unwrap().to_owned();
            assert_eq!(p.file_stem().unwrap().to_str(), Some(user.as_str()));
            (user, (v["password"].as_str().unwrap().to_owned(), v))
        })
        .collect()
}

#[test]
fn nats_config_writes_hashes_and_credential_files_and_rotates_one_department() {
    let base = std::env::temp_dir().join(format!(
        "xf-nats-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&base).unwrap();
    let out = base.join("nats.conf");
    let creds = base.join("creds");
    let (out_s, creds_s) = (out.to_str().unwrap(), creds.to_str().unwrap());
    // Without a place for the passwords: refused (the configuration holds only hashes).
    let (code, _, err) = xinfang(&["nats-config", "--out", out_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--credentials"), "{err}");

    let (code, stdout, err) = xinfang(&["nats-config", "--out", out_s, "--credentials", creds_s]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("0 kept"), "{stdout}");
    let conf = std::fs::read_to_string(&out).unwrap();
    let rsj_line = conf.lines().find(|l| l.contains("\"411282_rsj\"")).unwrap();
    assert!(rsj_line.contains("\"xf.411282.dept.rsj.>\""), "{rsj_line}");
    assert!(
        rsj_line.contains("\"$JS.API.CONSUMER.MSG.NEXT.XF_411282.dept_rsj\""),
        "{rsj_line}"
    );
    assert!(rsj_line.contains("password: \"$2a$10$"), "{rsj_line}");
    let before = credential_files(&creds);
    assert!(before.len() > 100, "{}", before.len());
    for (user, (password, _)) in &before {
        assert_eq!(password.len(), 32);
        assert!(
            !conf.contains(password.as_str()),
            "{user}'s password in the config"
        );
    }
    let (_, rsj) = &before["411282_rsj"];
    assert_eq!(rsj["inbox_prefix"], "_INBOX.411282_rsj");
    assert_eq!(rsj["stream"], "XF_411282");
    assert_eq!(rsj["consumer"], "dept_rsj");
    assert_eq!(rsj["feed"], "xf.411282.dept.rsj.>");
    assert_eq!(rsj["commands"], "xf.411282.cmd.rsj");
    assert!(before["svc_routing"].1.get("consumer").is_none());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&creds.join("411282_rsj.json")), 0o600);
        assert_eq!(mode(&creds), 0o700);
    }

    // Rotation: one department's password changes, everybody else's stays.
    let (code, stdout, err) = xinfang(&[
        "nats-config",
        "--out",
        out_s,
        "--credentials",
        creds_s,
        "--rotate",
        "411282:rsj",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("rotated: 411282_rsj"), "{stdout}");
    assert!(
        stdout.contains(&format!("{} kept, 1 new", before.len() - 1)),
        "{stdout}"
    );
    let after = credential_files(&creds);
    assert_eq!(after.len(), before.len());
    for (user, (password, _)) in &after {
        if user == "411282_rsj" {
            assert_ne!(password, &before[user].0, "rsj was not rotated");
        } else {
            assert_eq!(password, &before[user].0, "{user} changed");
        }
    }
    let conf2 = std::fs::read_to_string(&out).unwrap();
    assert_ne!(
        conf2.lines().find(|l| l.contains("\"411282_rsj\"")),
        Some(rsj_line),
        "a new hash for rsj"
    );
    // Every other user's line is as it was: their hashes come from the file replaced, so a
    // regeneration (after a directory change, a rotation) changes only the users that changed.
    let changed: Vec<&str> = conf2
        .lines()
        .filter(|l| !conf.lines().any(|x| x == *l))
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].contains("\"411282_rsj\""), "{changed:?}");

    // Nothing to rotate: an unknown department, or no earlier credential files.
    let (code, _, err) = xinfang(&[
        "nats-config",
        "--out",
        out_s,
        "--credentials",
        creds_s,
        "--rotate",
        "411282:nosuch",
    ]);
    assert_eq!(code, 2, "{err}");
    let empty = base.join("empty");
    let (code, _, err) = xinfang(&[
        "nats-config",
        "--out",
        out_s,
        "--credentials",
        empty.to_str().unwrap(),
        "--rotate",
        "411282:rsj",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no credential file"), "{err}");

    // The department client refuses a credential file that is not a department's, or not
    // the department named.
    let svc = creds.join("svc_routing.json");
    let (code, _, err) = xinfang(&["dept", "listen", "--credentials", svc.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not of a department"), "{err}");
    let rsj_file = creds.join("411282_rsj.json");
    let (code, _, err) = xinfang(&[
        "dept",
        "act",
        "accept",
        "--case-no",
        "XF-411282-2026-000001",
        "--credentials",
        rsj_file.to_str().unwrap(),
        "--dept",
        "zjj",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--dept zjj"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}
