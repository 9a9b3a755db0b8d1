//! Each refusal rule over the real service, the satisfaction evaluation, the lapsed-window
//! sweep (Decisions 4) and appeals to an organ outside the system recorded by hand.

mod common;

use chrono::TimeDelta;
use common::{Harness, ID, OTHER_ID};
use serde_json::{Value, json};
use xinfang_domain::appeal::served_instant;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::deadline::{Adjustments, DeadlineKind, DeadlineRules, compute};
use xinfang_domain::events::{Evaluated, FinalWithoutAppeal, ReviewEvent, Terminated};
use xinfang_domain::petition::{Art31Branch, Rating};
use xinfang_review::sweep::sweep_once;

#[tokio::test]
async fn wrong_id_numbers_lock_the_query_code_for_a_while() {
    let h = Harness::start("id_number_attempts = 3\nid_number_lockout_secs = 2\n").await;
    let county = h.county();
    let r = h.registered("rsj", &county);
    h.case_through_reply(&r, true, h.days_ago(1)).await;
    let wrong = json!({"query_code": r.query_code, "id_number": OTHER_ID});
    for _ in 0..3 {
        let (status, body) = h.post(&h.url("/v1/reviews"), wrong.clone()).await;
        assert_eq!(status, 403, "{body}");
    }
    // Locked: even the right ID number is refused, and the answer says when to come back.
    let right = json!({"query_code": r.query_code, "id_number": ID});
    let resp = h
        .http
        .post(h.url("/v1/reviews"))
        .json(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert!(!body.to_string().contains(ID), "{body}");
    // Another case's code is not locked.
    let other = h.registered("rsj", &county);
    h.case_through_reply(&other, true, h.days_ago(1)).await;
    let (status, body) = h.petitioner_requests(&other).await;
    assert_eq!(status, 201, "{body}");
    // After the window the petitioner gets through.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = h.post(&h.url("/v1/reviews"), right).await;
    assert_eq!(status, 201, "{body}");
    h.stop().await;
}

#[tokio::test]
async fn requests_are_refused_by_rule() {
    // 31(5) replies are opened to review by configuration; 31(4) ones are not.
    let h = Harness::start("[review.open_to_review]\nbranches = [\"31_5\"]\n").await;
    let county = h.county();

    // No handling opinion (a 31(4) reply).
    let mut r = h.registered("rsj", &county);
    r.branch = Some(Art31Branch::AdministrativeProcedure);
    h.case_through_reply(&r, false, h.days_ago(1)).await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "review_needs_handling_opinion");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Art 35")
    );

    // ...unless the configuration opens the branch.
    let mut r = h.registered("rsj", &county);
    r.branch = Some(Art31Branch::DutyPerformance);
    h.case_through_reply(&r, false, h.days_ago(1)).await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");

    // Window passed: served 45 days ago (D7 ends the 30th day after service, or the next
    // working day when that is a rest day: never more than a holiday's length later).
    let r = h.registered("rsj", &county);
    h.case_through_reply(&r, true, h.days_ago(45)).await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "review_window_closed");
    assert!(body["error"]["message"].as_str().unwrap().contains("D7"));

    // On the 30th day it is still open; then a duplicate is refused.
    let r = h.registered("rsj", &county);
    h.case_through_reply(&r, true, h.days_ago(30)).await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"case_no": r.case_no, "clerk_id": "clerk-7"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_requested");

    // Identity and input checks.
    let r = h.registered("rsj", &county);
    h.case_through_reply(&r, true, h.days_ago(1)).await;
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"query_code": r.query_code, "id_number": OTHER_ID}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("identity_mismatch"))
    );
    let (status, body) = h
        .post(&h.url("/v1/reviews"), json!({"query_code": r.query_code}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "id_number");
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"query_code": r.query_code, "id_number": "123456"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("id_number"))
    );
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"query_code": "NOSUCHCODE", "id_number": ID}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"query_code": r.query_code, "id_number": ID, "level": "appeal"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("level"))
    );
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"case_no": r.case_no, "clerk": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("clerk"))
    );

    // Decisions: only for a requested appeal, not before it.
    let (status, body) = h
        .post(
            &h.url(&format!("/v1/reviews/{}/decision", r.case_no)),
            json!({"level": "review", "outcome": "uphold", "text": "维持", "served_on": h.today(), "decided_by": "甲"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_requested"))
    );
    let (status, _) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201);
    let (status, body) = h
        .post(
            &h.url(&format!("/v1/reviews/{}/decision", r.case_no)),
            json!({"level": "review", "outcome": "keep", "text": "维持", "served_on": h.today(), "decided_by": "甲"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("outcome"))
    );
    let (status, body) = h
        .post(
            &h.url(&format!("/v1/reviews/{}/decision", r.case_no)),
            json!({"level": "review", "outcome": "uphold", "text": "维持", "served_on": h.days_ago(3), "decided_by": "甲"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("out_of_order"))
    );
    // A hearing is a 复核 matter.
    let (status, body) = h
        .post(
            &h.url(&format!("/v1/reviews/{}/hearing", r.case_no)),
            json!({"action": "start", "clerk_id": "c"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_requested"))
    );
    h.stop().await;
}

#[tokio::test]
async fn a_mailed_request_is_in_time_when_posted_in_time() {
    // Decisions 1: the clerk keys in the postmark date; the window is checked against it.
    let h = Harness::start("").await;
    let county = h.county();
    let r = h.registered("rsj", &county);
    let served = h.days_ago(45);
    h.case_through_reply(&r, true, served).await;
    let clerk = |extra: Value| {
        let mut b = json!({"case_no": r.case_no, "clerk_id": "clerk-3", "grounds": "邮寄复查申请"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    // Keyed in today without a postmark: the window has passed.
    let (status, body) = h.post(&h.url("/v1/reviews"), clerk(json!({}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("review_window_closed")),
        "{body}"
    );
    // A postmark that cannot be: after today, or before the opinion was served.
    let tomorrow = h.today().succ_opt().unwrap();
    let (status, body) = h
        .post(&h.url("/v1/reviews"), clerk(json!({"posted_on": tomorrow})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "posted_on");
    assert_eq!(body["error"]["code"], "posted_in_future");
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            clerk(json!({"posted_on": h.days_ago(46)})),
        )
        .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (422, Some("posted_before_service"), Some("posted_on")),
        "{body}"
    );
    // Posted after the window: still refused.
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            clerk(json!({"posted_on": h.days_ago(1)})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("review_window_closed")),
        "{body}"
    );
    // Only the clerk records a postmark.
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"query_code": r.query_code, "id_number": ID, "posted_on": h.days_ago(35)}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("clerk_only")),
        "{body}"
    );
    // Posted on the 10th day, keyed in on the 45th: in time, recorded and shown.
    let posted = h.days_ago(35);
    let (status, body) = h
        .post(&h.url("/v1/reviews"), clerk(json!({"posted_on": posted})))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["posted_on"], posted.to_string());
    // The 复查 decision (D8) runs from receipt, not from the postmark; past the calendar's end
    // it is provisional.
    let d8 = compute(
        DeadlineKind::D8,
        h.clock.now().fixed_offset(),
        &Calendar::embedded(),
        &DeadlineRules::default(),
        &Adjustments::default(),
    )
    .unwrap();
    assert_eq!(
        body["decide_by"].as_str().map(|d| d[..10].to_owned()),
        Some(d8.due.unwrap().to_rfc3339()[..10].to_owned()),
        "{body}"
    );
    assert_eq!(body["provisional"], d8.is_provisional(), "{body}");
    let (status, shown) = h.get(&h.url(&format!("/v1/reviews/{}", r.case_no))).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["appeals"][0]["posted_on"], posted.to_string());
    assert_eq!(shown["appeals"][0]["provisional"], d8.is_provisional());
    h.stop().await;
}

#[tokio::test]
async fn evaluations_rate_bureau_and_unit_within_the_window() {
    let h = Harness::start("").await;
    let county = h.county();
    let r = h.registered("rsj", &county);
    h.case_through_reply(&r, true, h.days_ago(3)).await;
    let url = h.url("/v1/evaluations");

    let (status, body) = h
        .post(
            &url,
            json!({"query_code": r.query_code, "bureau": "满意", "unit": "不满意"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "reason_required");
    assert_eq!(body["error"]["field"], "reason");
    let (status, body) = h
        .post(
            &url,
            json!({"query_code": r.query_code, "bureau": "great", "unit": "满意"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("bureau"))
    );

    let (status, body) = h
        .post(
            &url,
            json!({"query_code": r.query_code, "bureau": "basically_satisfied", "unit": "不满意", "reason": "答复敷衍"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let evs = h
        .wait_events(
            &county,
            &format!("xf.{county}.case.evaluated"),
            &r.case_no,
            1,
        )
        .await;
    let e: Evaluated = evs[0].data_as().unwrap();
    assert_eq!(e.bureau, Rating::BasicallySatisfied);
    assert_eq!(e.unit, Rating::Dissatisfied);
    assert_eq!(e.department, "rsj");
    assert_eq!(e.reason.as_deref(), Some("答复敷衍"));

    let (status, body) = h
        .post(
            &url,
            json!({"query_code": r.query_code, "bureau": "满意", "unit": "满意"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_evaluated"))
    );

    // After the window (30 days from service by default, a rest day rolling over to the next
    // working day): served 45 days ago.
    let late = h.registered("rsj", &county);
    h.case_through_reply(&late, false, h.days_ago(45)).await;
    let (status, body) = h
        .post(
            &url,
            json!({"query_code": late.query_code, "bureau": "满意", "unit": "满意"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "evaluation_window_closed");

    // Before any reply there is nothing to evaluate.
    let open = h.registered("rsj", &county);
    h.publish("registered", &open.case_no, &open).await;
    h.env
        .wait_for("the registration in the projection", 20, async || {
            h.get(&h.url(&format!("/v1/reviews/{}", open.case_no)))
                .await
                .0
                == 200
        })
        .await;
    let (status, body) = h
        .post(
            &url,
            json!({"query_code": open.query_code, "bureau": "满意", "unit": "满意"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_served"))
    );
    h.stop().await;
}

#[tokio::test]
async fn lapsed_windows_mark_cases_final_without_appeal() {
    let h = Harness::start("").await;
    let county = h.county();
    let ctx = h.review.ctx.clone();
    // Served 45 days ago, never appealed: lapsed (whatever holidays the window met). Served
    // today: open.
    let old = h.registered("rsj", &county);
    h.case_through_reply(&old, true, h.days_ago(45)).await;
    let fresh = h.registered("rsj", &county);
    h.case_through_reply(&fresh, true, h.today()).await;
    // Not a handling opinion: no window to lapse.
    let mut plain = h.registered("rsj", &county);
    plain.branch = Some(Art31Branch::AdministrativeProcedure);
    h.case_through_reply(&plain, false, h.days_ago(40)).await;

    assert_eq!(sweep_once(&ctx, h.clock.now()).await.unwrap(), 1);
    assert_eq!(
        sweep_once(&ctx, h.clock.now()).await.unwrap(),
        0,
        "marked once"
    );
    let evs = h
        .wait_events(
            &county,
            &format!("xf.{county}.case.final_without_appeal"),
            &old.case_no,
            1,
        )
        .await;
    let f: FinalWithoutAppeal = evs[0].data_as().unwrap();
    assert_eq!(f.window, "D7");

    // The fresh case: its 复查 is decided; then D9 lapses 30 days after that service.
    let (status, body) = h.petitioner_requests(&fresh).await;
    assert_eq!(status, 201, "{body}");
    let decided_on = h.today();
    let (status, body) = h
        .post(
            &h.url(&format!("/v1/reviews/{}/decision", fresh.case_no)),
            json!({"level": "review", "outcome": "uphold", "text": "维持", "served_on": decided_on, "decided_by": "县政府"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    h.clock.advance(TimeDelta::days(30));
    assert_eq!(
        sweep_once(&ctx, h.clock.now()).await.unwrap(),
        0,
        "still the 30th day"
    );
    // The window ends on the 30th day, or the next working day when that is a rest day.
    let window_ends = compute(
        DeadlineKind::D9,
        served_instant(decided_on),
        &Calendar::embedded(),
        &DeadlineRules::default(),
        &Adjustments::default(),
    )
    .unwrap()
    .due
    .unwrap()
    .with_timezone(&chrono::Utc);
    h.clock
        .advance(window_ends - h.clock.now() + TimeDelta::minutes(1));
    assert_eq!(sweep_once(&ctx, h.clock.now()).await.unwrap(), 1);
    let evs = h
        .wait_events(
            &county,
            &format!("xf.{county}.case.final_without_appeal"),
            &fresh.case_no,
            1,
        )
        .await;
    let f: FinalWithoutAppeal = evs[0].data_as().unwrap();
    assert_eq!(f.window, "D9");
    // Final, not terminated: a late 复核 is refused by the window, no termination exists.
    let (status, body) = h.petitioner_requests(&fresh).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("rereview_window_closed"))
    );
    let (_, body) = h
        .get(&h.url(&format!(
            "/v1/terminations?petitioner_key={}",
            h.petitioner_key()
        )))
        .await;
    assert_eq!(body["terminations"].as_array().unwrap().len(), 0);
    let (status, body) = h.get(&h.url("/v1/terminations")).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("petitioner_key"))
    );
    h.stop().await;
}

/// A matter decided by the city government: its 复查 and 复核 organs are above the directory
/// (the province), so the bureau records request and decision by hand; the 复核 decision still
/// terminates the case.
#[tokio::test]
async fn appeals_outside_the_system_are_recorded_by_hand() {
    let h = Harness::start("").await;
    let (county, city) = (h.county(), h.city());
    // Registered in the county deployment, the matter is the city government's.
    let r = h.registered("gov", &city);
    let case = r.case_no.clone();
    h.case_through_reply(&r, true, h.days_ago(5)).await;

    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "review_organ_outside_system");

    let external = h.url("/v1/reviews/external");
    let (status, body) = h
        .post(
            &external,
            json!({"case_no": case, "organ_name": "", "requested_on": h.days_ago(1), "clerk_id": "c1"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("organ_name"))
    );
    let (status, body) = h
        .post(
            &external,
            json!({"case_no": case, "organ_name": "河南省人民政府", "requested_on": h.days_ago(1), "clerk_id": "c1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organ"], "external:河南省人民政府");
    // Only the home county's subjects carry it.
    let evs = h
        .wait_events(&county, &format!("xf.{county}.review.requested"), &case, 1)
        .await;
    let e: ReviewEvent = evs[0].data_as().unwrap();
    assert_eq!(e.organ, "external:河南省人民政府");

    let decide = h.url(&format!("/v1/reviews/{case}/decision"));
    let (status, body) = h
        .post(
            &decide,
            json!({"level": "review", "outcome": "uphold", "text": "维持原意见", "served_on": h.today(), "decided_by": "省政府"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // A 复核 to an internal organ would be refused here; this one is external too.
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("review_organ_outside_system"))
    );
    let (status, body) = h
        .post(
            &external,
            json!({"case_no": case, "organ_name": "河南省人民政府", "requested_on": h.today(), "clerk_id": "c1", "level": "rereview"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h
        .post(
            &decide,
            json!({"level": "rereview", "outcome": "uphold", "text": "维持", "served_on": h.today(), "decided_by": "省政府"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let evs = h
        .wait_events(&county, &format!("xf.{county}.case.terminated"), &case, 1)
        .await;
    let t: Terminated = evs[0].data_as().unwrap();
    assert_eq!(t.petitioner_key, h.petitioner_key());

    // A case whose organ is in the system cannot be recorded as external.
    let inner = h.registered("rsj", &county);
    h.case_through_reply(&inner, true, h.days_ago(1)).await;
    let (status, body) = h
        .post(
            &external,
            json!({"case_no": inner.case_no, "organ_name": "某机关", "requested_on": h.today(), "clerk_id": "c1"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("organ_in_system"))
    );
    h.stop().await;
}
