//! Issue #17, item 5: the directory changes without a restart. An operator's
//! `POST /v1/directory/reload` re-reads the file: a new department gets its durable feed and
//! its cases, the load is audited as at start, a running case keeps its organ, and a bad file
//! changes nothing.

mod common;

use common::{Harness, body, today};
use serde_json::{Value, json};
use xinfang_domain::directory::Directory;
use xinfang_domain::events::DeptAssignment;
use xinfang_domain::subject;

async fn audit_rows(h: &Harness) -> Vec<(String, Value)> {
    sqlx::query_as("select hash, changes from directory_audit order by id")
        .fetch_all(h.pool())
        .await
        .unwrap()
}

async fn reload(h: &Harness) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(h.url("/v1/directory/reload"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn a_reload_adds_departments_audits_and_leaves_running_cases_with_their_organ() {
    let h = Harness::start().await;
    let c = h.county();
    let raw = std::fs::read_to_string(&h.dir_file).unwrap();
    let before = Directory::from_toml_str(&raw).unwrap();
    assert_eq!(
        before.counties.last().map(|x| x.code.clone()),
        Some(c.clone())
    );
    assert!(
        before
            .organ(&xinfang_domain::directory::OrganRef::new(
                c.clone(),
                "xdept"
            ))
            .is_none()
    );

    // A case running with zjj before the change.
    let running = h.registered("zjj");
    h.register(&running).await;
    h.wait_events(
        &c,
        &format!("xf.{c}.dept.zjj.assigned"),
        &running.case_no,
        1,
    )
    .await;
    let audits_before = audit_rows(&h).await;

    // Nothing changed on disk: a reload is audited with no changes, creates no feed.
    let (status, same) = reload(&h).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["changes"], json!([]), "{same}");
    assert_eq!(same["feeds_created"], json!([]), "{same}");

    // The operator adds a department to the county (the last one in the file) and reloads.
    let added = format!(
        "{raw}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n\
         contacts = {{ email = \"xdept@example.gov.cn\", mobile = \"13900000999\" }}\n"
    );
    std::fs::write(&h.dir_file, &added).unwrap();
    let (status, done) = reload(&h).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["feeds_created"],
        json!([format!("{c}:dept_xdept")]),
        "{done}"
    );
    assert!(done["changes"].to_string().contains("xdept"), "{done}");
    let audits = audit_rows(&h).await;
    assert_eq!(audits.len(), audits_before.len() + 2);
    let (hash, changes) = audits.last().unwrap();
    assert_eq!(Some(hash.as_str()), done["hash"].as_str());
    assert_eq!(changes, &done["changes"]);
    assert_eq!(done["previous_hash"], json!(audits[audits.len() - 2].0));
    // The new department's durable feed exists.
    let info = h
        .env
        .infra
        .stream(&c)
        .unwrap()
        .consumer_info(subject::department_consumer("xdept"))
        .await
        .expect("the new department's feed");
    assert_eq!(info.config.filter_subject, format!("xf.{c}.dept.xdept.>"));

    // Routing uses the new directory at once: a case for xdept goes to it.
    let fresh = h.registered("xdept");
    h.register(&fresh).await;
    let told: DeptAssignment = h
        .wait_events(
            &c,
            &format!("xf.{c}.dept.xdept.assigned"),
            &fresh.case_no,
            1,
        )
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(
        told.addressee
            .as_ref()
            .is_some_and(|a| a.name.ends_with("新设局")),
        "{told:?}"
    );
    // And a command from the new department is heard.
    let answer = h
        .command(
            &c,
            "xdept",
            "accept",
            body(&fresh.case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(answer["ok"], json!(true), "{answer}");

    // The running case kept its organ: still zjj's, which acts on it as before.
    let view: Value = reqwest::get(h.url(&format!("/v1/cases/{}", running.case_no)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["lead"], json!(format!("{c}:zjj")), "{view}");
    let answer = h
        .command(
            &c,
            "zjj",
            "accept",
            body(&running.case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(answer["ok"], json!(true), "{answer}");

    // A bad file changes nothing: 422 naming the problem, no audit row, the running directory
    // (with xdept) stays.
    std::fs::write(&h.dir_file, "[[county]]\ncode = \"bad\"\n").unwrap();
    let (status, refused) = reload(&h).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["code"],
        json!("directory_invalid"),
        "{refused}"
    );
    assert_eq!(audit_rows(&h).await.len(), audits.len());
    let again = h.registered("xdept");
    h.register(&again).await;
    h.wait_events(
        &c,
        &format!("xf.{c}.dept.xdept.assigned"),
        &again.case_no,
        1,
    )
    .await;
    h.stop().await;
}

/// `raw` (written by `directory_toml`) without department `dept` of `county`.
fn without(raw: &str, county: &xinfang_domain::county::CountyCode, dept: &str) -> String {
    let section = raw
        .find(&format!("[[county]]\ncode = \"{county}\""))
        .expect("the county is in the file");
    let block = format!("[[county.department]]\ncode = \"{dept}\"\n");
    let start = section
        + raw[section..]
            .find(&block)
            .expect("the department is in the county");
    let end = raw[start + block.len()..]
        .find("[[county")
        .map_or(raw.len(), |i| start + block.len() + i);
    format!("{}{}", &raw[..start], &raw[end..])
}

/// Issue #17 item 5, "a running case keeps its organ": a reload never moves a case, and it may
/// not strand one either: dropping a department that is still on a running case is refused
/// (transfer or finish first); renaming keeps the organ (the code); a department on no running
/// case may go, and its feed is named as kept.
#[tokio::test]
async fn a_department_on_running_cases_is_not_dropped_and_a_renamed_one_keeps_them() {
    let h = Harness::start().await;
    let c = h.county();
    let raw = std::fs::read_to_string(&h.dir_file).unwrap();
    let running = h.registered("zjj");
    h.register(&running).await;
    h.wait_events(
        &c,
        &format!("xf.{c}.dept.zjj.assigned"),
        &running.case_no,
        1,
    )
    .await;
    let audits_before = audit_rows(&h).await.len();

    // Dropping zjj while it is on a running case: refused, naming it and the case.
    std::fs::write(&h.dir_file, without(&raw, &c, "zjj")).unwrap();
    let (status, refused) = reload(&h).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["code"],
        json!("directory_drops_busy_department"),
        "{refused}"
    );
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("{c}:zjj")) && message.contains(&running.case_no),
        "{refused}"
    );
    assert_eq!(audit_rows(&h).await.len(), audits_before, "nothing audited");
    // zjj is still heard on its case.
    let answer = h
        .command(
            &c,
            "zjj",
            "accept",
            body(&running.case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(answer["ok"], json!(true), "{answer}");

    // Renamed (same code, so the same organ): taken; the case keeps its lead, and the next
    // message to zjj carries the new name.
    let renamed = format!(
        "{}\n[[county.department]]\ncode = \"zjj\"\nname = \"住房和城乡建设局\"\n",
        without(&raw, &c, "zjj")
    );
    std::fs::write(&h.dir_file, &renamed).unwrap();
    let (status, done) = reload(&h).await;
    assert_eq!(status, 200, "{done}");
    assert!(
        done["changes"]
            .to_string()
            .contains(&format!("department {c}:zjj changed: name")),
        "{done}"
    );
    let view: Value = reqwest::get(h.url(&format!("/v1/cases/{}", running.case_no)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["lead"], json!(format!("{c}:zjj")), "{view}");
    let fresh = h.registered("zjj");
    h.register(&fresh).await;
    let told: DeptAssignment = h
        .wait_events(&c, &format!("xf.{c}.dept.zjj.assigned"), &fresh.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(
        told.addressee
            .as_ref()
            .is_some_and(|a| a.name.ends_with("住房和城乡建设局")),
        "{told:?}"
    );

    // A department on no running case may go: taken, its feed kept and named.
    std::fs::write(&h.dir_file, without(&renamed, &c, "sthjj")).unwrap();
    let (status, done) = reload(&h).await;
    assert_eq!(status, 200, "{done}");
    assert!(
        done["changes"]
            .to_string()
            .contains(&format!("department {c}:sthjj")),
        "{done}"
    );
    assert_eq!(
        done["feeds_left"],
        json!([format!("{c}:dept_sthjj")]),
        "{done}"
    );
    assert_eq!(audit_rows(&h).await.len(), audits_before + 2);
    let view: Value = reqwest::get(h.url(&format!("/v1/cases/{}", running.case_no)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["lead"], json!(format!("{c}:zjj")), "{view}");
    h.stop().await;
}
