//! Deadline rules routing applies itself: no acceptance notice (D3) from 纪委监委 on an
//! accusation (Art 23 para 4), and no extension (D6) once the handling deadline (D5) has
//! passed (Art 34).

mod common;

use common::{Harness, body, today};
use serde_json::{Value, json};
use xinfang_domain::events::{Assigned, DeptAssignment};

fn filter(c: &xinfang_domain::county::CountyCode, tail: &str) -> String {
    format!("xf.{c}.{tail}")
}

#[tokio::test]
async fn discipline_handling_an_accusation_is_marked_exempt_from_the_acceptance_notice() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.accusation("zjj", true);
    h.register(&r).await;
    let a: Assigned = h
        .wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(a.department, "jwjw");
    assert!(a.notice_exempt, "Art 23 para 4: no D3 for 纪委监委");
    let d: DeptAssignment = h
        .wait_events(&c, &filter(&c, "dept.jwjw.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(d.accept_by, None, "no acceptance-notice date for 纪委监委");

    // An ordinary matter: the notice is due (D3) and the event says nothing of an exemption.
    let r = h.registered("zjj");
    h.register(&r).await;
    let msgs = h
        .wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await;
    let a: Assigned = msgs[0].1.data_as().unwrap();
    assert!(!a.notice_exempt);
    let raw = serde_json::to_value(&msgs[0].1).unwrap();
    assert!(raw["data"].get("notice_exempt").is_none(), "{raw}");
    let d: DeptAssignment = h
        .wait_events(&c, &filter(&c, "dept.zjj.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(d.accept_by.is_some());
    h.stop().await;
}

#[tokio::test]
async fn an_extension_after_the_handling_deadline_is_refused_naming_art_34() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.registered("zjj");
    h.register(&r).await;
    h.wait_state(&r.case_no, "forwarded").await;
    let accepted: Value = h
        .command(
            &c,
            "zjj",
            "accept",
            body(&r.case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(accepted["ok"], json!(true), "{accepted}");
    // The matter was accepted 90 days ago (the record as it would stand then): D5 (60 days)
    // has passed.
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::days(90))
        .with_timezone(&xinfang_domain::deadline::CST)
        .to_rfc3339();
    sqlx::query(
        "update cases set lifecycle = jsonb_set(lifecycle, '{accepted_at}', to_jsonb($2::text))
         where case_no = $1",
    )
    .bind(&r.case_no)
    .bind(&long_ago)
    .execute(h.pool())
    .await
    .unwrap();
    let e = h
        .command(
            &c,
            "zjj",
            "extend",
            body(
                &r.case_no,
                json!({"days": 30, "approver": "张局长", "reason": "情况复杂"}),
            ),
        )
        .await;
    assert_eq!(e["error"]["rule"], "extension_after_deadline", "{e}");
    assert_eq!(e["error"]["code"], "refused", "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Art 34") && message.contains("D5"),
        "{message}"
    );
    // Nothing was extended, so the petitioner is told nothing and supervision hears nothing.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        h.events(&c, &filter(&c, "case.extended"), &r.case_no)
            .await
            .is_empty()
    );
    h.stop().await;
}
