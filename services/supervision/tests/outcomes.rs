//! Issue #20: how each clock ends (met on time, met late, withdrawn — all three read
//! `cancelled` before), the facts supervision publishes so other services show every
//! deadline (`deadline.scheduled` / `deadline.closed`), the review organ hearing of its
//! decision deadline (D8, D10 ran silently), and a 督办 response that can be read back.

mod common;

use chrono::TimeDelta;
use common::*;
use serde_json::{Value, json};
use xinfang_domain::events::{DeadlineStatus, ReviewLevel};

/// `(deadline, state, reason)` of every `deadline.scheduled|closed` of a case, in stream order.
async fn statuses(h: &Harness, case: &str, event: &str) -> Vec<(String, String, String)> {
    let c = h.county();
    h.messages(&format!("xf.{c}.deadline.{event}"))
        .await
        .into_iter()
        .filter_map(|(_, env)| env.data_as::<DeadlineStatus>().ok())
        .filter(|s| s.case_no == case)
        .map(|s| (s.deadline, s.state, s.reason))
        .collect()
}

fn triple(d: &str, state: &str, reason: &str) -> (String, String, String) {
    (d.to_owned(), state.to_owned(), reason.to_owned())
}

#[tokio::test]
async fn each_clock_ends_met_met_late_or_withdrawn_and_says_so() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(1);
    let t0 = h.now();

    h.case_event("registered", &case, registered(&case, &c, t0, "rsj", false))
        .await;
    h.wait_state(&case, "D1", "pending").await;
    h.case_event("assigned", &case, assigned(&case, "rsj", h.now()))
        .await;
    let d1 = h.wait_state(&case, "D1", "met").await;
    assert_eq!(d1.close_reason.as_deref(), Some("assigned"));
    h.case_event("accepted", &case, accepted(&case, "rsj", h.now()))
        .await;
    // The acceptance notice came in time; the objection window became moot.
    h.wait_state(&case, "D3", "met").await;
    h.wait_state(&case, "D4", "withdrawn").await;
    let d5 = h.wait_state(&case, "D5", "pending").await;

    // The reply comes after the handling deadline passed: met late, and no longer overdue.
    h.advance_to(d5.due_at + TimeDelta::minutes(1));
    h.wait_state(&case, "D5", "fired").await;
    h.case_event("replied", &case, replied(&case, "rsj", h.now(), true))
        .await;
    let late = h.wait_state(&case, "D5", "met_late").await;
    assert_eq!(late.id, d5.id);
    assert!(late.closed_at.is_some());

    h.env
        .wait_for("D5's closing published", 15, async || {
            statuses(&h, &case, "closed")
                .await
                .contains(&triple("D5", "met_late", "replied"))
        })
        .await;
    let closed = statuses(&h, &case, "closed").await;
    for expected in [
        triple("D1", "met", "assigned"),
        triple("D3", "met", "accepted"),
        triple("D4", "withdrawn", "accepted"),
    ] {
        assert!(closed.contains(&expected), "{expected:?} in {closed:?}");
    }
    assert!(
        closed.iter().all(|(_, s, _)| s != "cancelled"),
        "{closed:?}"
    );
    let scheduled = statuses(&h, &case, "scheduled").await;
    for d in ["D1", "D3", "D4", "D5", "D7", "eval"] {
        assert!(
            scheduled.contains(&triple(d, "pending", "started")),
            "{d} in {scheduled:?}"
        );
    }
    // The published due time is the record's.
    let c2 = h.county();
    let d5_start: DeadlineStatus = h
        .messages(&format!("xf.{c2}.deadline.scheduled"))
        .await
        .into_iter()
        .filter_map(|(_, e)| e.data_as::<DeadlineStatus>().ok())
        .find(|s| s.case_no == case && s.deadline == "D5")
        .unwrap();
    assert_eq!(d5_start.due, d5.due_at);
    assert_eq!(d5_start.department.as_deref(), Some("rsj"));
    h.stop().await;
}

#[tokio::test]
async fn the_review_organ_hears_of_the_request_its_deadline_and_its_overdue() {
    let h = Harness::start("").await;
    let c = h.county();
    let base = format!("http://{}", h.sup.started.http);
    let case = h.case_no(2);
    let t0 = h.now();
    let organ = format!("{c}:gov");

    let mut req = review(&case, &c, ReviewLevel::Review, t0, None);
    req.organ = organ.clone();
    h.review_event("requested", req).await;
    let d8 = h.wait_state(&case, "D8", "pending").await;
    assert_eq!(d8.department.as_deref(), Some(organ.as_str()));

    // The organ's own subject carries the request's decision deadline (its notice).
    let mut told = Vec::new();
    h.env
        .wait_for("dept.gov.scheduled", 15, async || {
            told = h.messages(&format!("xf.{c}.dept.gov.scheduled")).await;
            !told.is_empty()
        })
        .await;
    assert_eq!(told.len(), 1);
    let s: DeadlineStatus = told[0].1.data_as().unwrap();
    assert_eq!((s.deadline.as_str(), s.due), ("D8", d8.due_at));
    assert_eq!(s.reason, "started");

    // Past it, the organ is told it is overdue (before: only the deadline subject), and the
    // escalation's 督办 reaches it too.
    h.advance_to(d8.due_at + TimeDelta::minutes(1));
    let o = h.wait_fired(&case, "D8", "overdue", 2).await;
    assert_eq!(
        o,
        vec![
            format!("xf.{c}.deadline.overdue"),
            format!("xf.{c}.dept.gov.overdue")
        ]
    );
    h.env
        .wait_for("dept.gov.supervision", 15, async || {
            !h.messages(&format!("xf.{c}.dept.gov.supervision"))
                .await
                .is_empty()
        })
        .await;

    // The 督办's response is written, then read back.
    let sup = h.wait_state(&case, "supervision", "pending").await;
    let id = sup.reference.clone();
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/supervisions/{id}/response"))
        .json(&json!({"response": "已组织复查，正在作出复查意见"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/supervisions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["response"], "已组织复查，正在作出复查意见", "{body}");
    assert!(body["responded_at"].is_string(), "{body}");
    assert_eq!(body["department"], organ);
    // The list shows it as well; an unknown id is 404, a malformed one 422.
    let list: Value = reqwest::Client::new()
        .get(format!("{base}/v1/supervisions?case_no={case}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["supervisions"][0]["response"],
        "已组织复查，正在作出复查意见"
    );
    for (path, status) in [
        (format!("/v1/supervisions/{}", uuid::Uuid::now_v7()), 404),
        ("/v1/supervisions/not-a-uuid".to_owned(), 422),
    ] {
        let r = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
    }
    h.wait_state(&case, "supervision", "met").await;

    // The decision comes after the deadline passed: met late.
    let mut decided = review(
        &case,
        &c,
        ReviewLevel::Review,
        h.now(),
        Some(cst_date(h.now())),
    );
    decided.organ = organ.clone();
    decided.decision = Some("uphold".into());
    h.review_event("decided", decided).await;
    h.wait_state(&case, "D8", "met_late").await;
    h.stop().await;
}
