//! `xinfang directory check` and the audit of directory loads (who, when, what changed).

mod common;

use common::Harness;
use sqlx::Row;
use xinfang_platform::testing::repo_root;
use xinfang_routing::directory::{self, DirectoryLoadError};

#[test]
fn the_shipped_directory_checks_and_a_broken_one_lists_every_problem() {
    let report = directory::check(&repo_root().join("config/directory.toml")).unwrap();
    assert_eq!(report.counties, 7);
    assert_eq!(report.departments, 7 * 23);
    assert!(report.city.starts_with("411200"));
    assert_eq!(report.hash.len(), 64);
    assert!(report.to_string().contains("is valid"));

    let raw = std::fs::read_to_string(repo_root().join("config/directory.toml")).unwrap();
    let broken = raw
        .replacen("mobile = \"13900006101\"", "mobile = \"1390000\"", 1)
        .replacen("code = \"411224\"", "code = \"41122\"", 1)
        .replacen("code = \"zjj\"", "code = \"ZJJ\"", 1);
    let file = std::env::temp_dir().join(format!("xf-dir-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&file, broken).unwrap();
    let err = directory::check(&file).unwrap_err();
    std::fs::remove_file(&file).ok();
    let problems: Vec<(String, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.field.clone(), p.rule))
        .collect();
    assert!(
        problems.contains(&("county[41122].code".into(), "division_code")),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(
            "county[411200].department[ZJJ].code".into(),
            "department_code"
        )),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|(f, r)| f.ends_with("contacts.mobile") && *r == "mobile_format"),
        "{problems:?}"
    );
    assert!(
        !err.to_string().contains("1390000\""),
        "values are not echoed: {err}"
    );
    assert!(matches!(
        directory::check(std::path::Path::new("/nonexistent/directory.toml")),
        Err(DirectoryLoadError::Read { .. })
    ));
}

#[tokio::test]
async fn each_load_is_audited_with_its_changes() {
    let h = Harness::start().await;
    let rows = sqlx::query(
        "select operator, host, hash, previous_hash, changes from directory_audit order by id",
    )
    .fetch_all(h.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("operator"), "tester");
    assert!(rows[0].get::<Option<String>, _>("previous_hash").is_none());
    let changes: serde_json::Value = rows[0].get("changes");
    assert!(changes[0].as_str().unwrap().starts_with("first load"));
    let first_hash: String = rows[0].get("hash");

    // Someone edits the file: a department's mobile changes and one department goes.
    let raw = std::fs::read_to_string(&h.dir_file).unwrap();
    let county = h.county();
    let edited = raw
        .replacen(&format!("rsj-{county}@example.gov.cn"), &format!("rsj2-{county}@example.gov.cn"), 1)
        .replace("[[county.department]]\ncode = \"slj\"\nname = \"水利局\"\ncontacts = { email = \"slj-", "[[county.department]]\ncode = \"slj2\"\nname = \"水利局\"\ncontacts = { email = \"slj-");
    let loaded = directory::parse(&h.dir_file, edited).unwrap();
    let entry = directory::audit(h.pool(), &loaded, "alice", "host-1")
        .await
        .unwrap();
    assert_eq!(entry.previous_hash.as_deref(), Some(first_hash.as_str()));
    assert_ne!(entry.hash, first_hash);
    assert!(
        entry
            .changes
            .contains(&format!("department {county}:rsj changed: email")),
        "{:?}",
        entry.changes
    );
    assert!(
        entry
            .changes
            .iter()
            .any(|c| c.contains(":slj 水利局 removed")),
        "{:?}",
        entry.changes
    );
    assert!(
        entry
            .changes
            .iter()
            .any(|c| c.contains(":slj2 水利局 added")),
        "{:?}",
        entry.changes
    );
    assert!(
        !entry.changes.iter().any(|c| c.contains("example.gov.cn")),
        "contact values stay out of the summary"
    );

    // Loaded again unchanged: recorded, nothing changed.
    let again = directory::audit(h.pool(), &loaded, "alice", "host-1")
        .await
        .unwrap();
    assert!(again.changes.is_empty());
    assert_eq!(again.previous_hash.as_deref(), Some(entry.hash.as_str()));
    let n: i64 = sqlx::query_scalar(
        "select count(*) from directory_audit where operator = 'alice' and host = 'host-1'",
    )
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(n, 2);
    h.stop().await;
}
