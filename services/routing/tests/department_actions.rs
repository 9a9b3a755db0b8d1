//! Department actions over NATS request/reply and HTTP: accept, object (and the bureau's
//! decision), transfer (and the bureau's approval), extend, mediate, reply — each checked
//! against the sender's department and the state machine, each accepted one emitting its case
//! event, and idempotent by `request_id`.

mod common;

use common::{Harness, body, rid, today};
use serde_json::{Value, json};
use xinfang_domain::events::{
    Accepted, Assigned, DeptAssignment, Extended, Mediated, ObjectionDecided, Replied,
    TransferRejected, TransferRequested, Transferred,
};
use xinfang_domain::petition::OpinionOutcome;

async fn routed(h: &Harness, dept: &str) -> String {
    let r = h.registered(dept);
    h.register(&r).await;
    h.wait_state(&r.case_no, "forwarded").await;
    r.case_no
}

fn ok(v: &Value) -> &Value {
    assert_eq!(v["ok"], json!(true), "expected success, got {v}");
    v
}

fn rule(v: &Value) -> &str {
    v["error"]["rule"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a refusal, got {v}"))
}

#[tokio::test]
async fn accept_emits_accepted_and_the_same_reply_twice_has_no_double_effect() {
    let h = Harness::start().await;
    let c = h.county();
    let case_no = routed(&h, "zjj").await;
    let b = body(&case_no, json!({"accepted_on": today()}));
    let first = h.command(&c, "zjj", "accept", b.clone()).await;
    ok(&first);
    assert_eq!(first["state"], "under_investigation");
    assert_eq!(first["event"]["type"], "accepted");
    assert_eq!(first["assignment"]["status"], "accepted");
    // The department's message arrives again (a retry): same answer, nothing new.
    let second = h.command(&c, "zjj", "accept", b.clone()).await;
    assert_eq!(first, second);
    let events = h
        .wait_events(&c, &format!("xf.{c}.case.accepted"), &case_no, 1)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        h.events(&c, &format!("xf.{c}.case.accepted"), &case_no)
            .await
            .len(),
        1
    );
    let a: Accepted = events[0].1.data_as().unwrap();
    assert_eq!(a.department, "zjj");
    assert_eq!(a.accepted_on.format("%Y-%m-%d").to_string(), today());
    let done: i64 =
        sqlx::query_scalar("select count(*) from actions where case_no = $1 and action = 'accept'")
            .bind(&case_no)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(done, 1);
    // A fresh request for the same action now meets the state machine.
    let again = h
        .command(
            &c,
            "zjj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(rule(&again), "state_machine");
    // Reusing the request id for something else is a conflict.
    let mut reuse = b.clone();
    reuse["reason"] = json!("x");
    let r = h.command(&c, "zjj", "object", reuse).await;
    assert_eq!(rule(&r), "request_id_reused");
    h.stop().await;
}

#[tokio::test]
async fn a_department_acting_on_another_departments_case_is_refused() {
    let h = Harness::start().await;
    let c = h.county();
    let case_no = routed(&h, "zjj").await;
    let r = h
        .command(
            &c,
            "rsj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(rule(&r), "assigned_department");
    assert_eq!(r["error"]["code"], "forbidden");
    // Same department code, other county: also someone else.
    let city = h.city();
    let r = h
        .command(
            &city,
            "zjj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(rule(&r), "assigned_department");
    // A department may not decide objections either.
    let r = h
        .command(
            &c,
            "zjj",
            "objection_decision",
            body(&case_no, json!({"decision": "rejected", "reason": "x"})),
        )
        .await;
    assert_eq!(rule(&r), "petition_bureau_only");
    h.wait_state(&case_no, "forwarded").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        h.events(&c, &format!("xf.{c}.case.accepted"), &case_no)
            .await
            .is_empty()
    );
    let refused: i64 = sqlx::query_scalar(
        "select count(*) from actions where case_no = $1 and outcome = 'refused'",
    )
    .bind(&case_no)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(refused, 3);
    // Unknown case, missing request id.
    let r = h
        .command(
            &c,
            "zjj",
            "accept",
            body("XF-000000-2026-000000", json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(r["error"]["code"], "not_found");
    let r = h
        .command(
            &c,
            "zjj",
            "accept",
            json!({"case_no": case_no, "accepted_on": today()}),
        )
        .await;
    assert_eq!(r["error"]["field"], "request_id");
    h.stop().await;
}

#[tokio::test]
async fn objection_upheld_reroutes_and_the_objector_can_no_longer_act() {
    let h = Harness::start().await;
    let c = h.county();
    let case_no = routed(&h, "zjj").await;
    let r = h
        .command(&c, "zjj", "object", body(&case_no, json!({"reason": ""})))
        .await;
    assert_eq!(r["error"]["field"], "reason");
    let r = h
        .command(
            &c,
            "zjj",
            "object",
            body(&case_no, json!({"reason": "土地征收补偿属自然资源局职责"})),
        )
        .await;
    ok(&r);
    assert_eq!(r["state"], "objected");
    let d = h
        .command(
            &c,
            "xfj",
            "objection_decision",
            body(
                &case_no,
                json!({"decision": "upheld", "reason": "异议成立", "reroute_to": "zjj"}),
            ),
        )
        .await;
    assert_eq!(rule(&d), "reroute_to_objector");
    let d = h
        .command(
            &c,
            "xfj",
            "objection_decision",
            body(
                &case_no,
                json!({"decision": "upheld", "reason": "异议成立", "reroute_to": "zrzyj"}),
            ),
        )
        .await;
    ok(&d);
    assert_eq!(d["state"], "forwarded");
    let od: ObjectionDecided = h
        .wait_events(&c, &format!("xf.{c}.case.objection_decided"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(od.upheld);
    assert_eq!(od.department, "zjj");
    let assigned = h
        .wait_events(&c, &format!("xf.{c}.case.assigned"), &case_no, 2)
        .await;
    let a: Assigned = assigned[1].1.data_as().unwrap();
    assert_eq!(a.department, "zrzyj");
    h.wait_events(&c, &format!("xf.{c}.dept.zrzyj.assigned"), &case_no, 1)
        .await;
    assert_eq!(h.assignment(&case_no, "zjj").await.unwrap().1, "withdrawn");
    let r = h
        .command(
            &c,
            "zjj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(rule(&r), "assigned_department");
    ok(&h
        .command(
            &c,
            "zrzyj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await);
    h.stop().await;
}

#[tokio::test]
async fn objection_rejected_means_accepted_and_late_objections_are_refused() {
    let h = Harness::start().await;
    let c = h.county();
    let case_no = routed(&h, "zjj").await;
    ok(&h
        .command(
            &c,
            "zjj",
            "object",
            body(&case_no, json!({"reason": "不属于本单位"})),
        )
        .await);
    let d = h
        .command(
            &c,
            "xfj",
            "objection_decision",
            body(
                &case_no,
                json!({"decision": "rejected", "reason": "属于住建局职责"}),
            ),
        )
        .await;
    ok(&d);
    assert_eq!(d["state"], "under_investigation");
    h.wait_events(&c, &format!("xf.{c}.case.accepted"), &case_no, 1)
        .await;
    assert_eq!(h.assignment(&case_no, "zjj").await.unwrap().1, "accepted");

    // The 5-working-day window (D4): forwarded three weeks ago, an objection now is late.
    let late = routed(&h, "zjj").await;
    sqlx::query(
        "update cases set lifecycle = jsonb_set(lifecycle, '{routing,at}', to_jsonb($2::text))
         where case_no = $1",
    )
    .bind(&late)
    .bind(
        (chrono::Utc::now() - chrono::Duration::days(21))
            .with_timezone(&xinfang_domain::deadline::CST)
            .to_rfc3339(),
    )
    .execute(h.pool())
    .await
    .unwrap();
    let r = h
        .command(
            &c,
            "zjj",
            "object",
            body(&late, json!({"reason": "不属于本单位"})),
        )
        .await;
    assert_eq!(rule(&r), "objection_window");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Art 23 para 3")
    );
    h.stop().await;
}

/// Art 23 para 3: a transfer between departments is a request; only the bureau's approval
/// moves the matter, and a rejection leaves it with the requester.
#[tokio::test]
async fn transfer_waits_for_the_bureaus_approval_before_acceptance() {
    let h = Harness::start().await;
    let c = h.county();
    let mut r = h.accusation("sthjj", false);
    r.text = "举报企业偷排污水".into();
    h.register(&r).await;
    h.wait_state(&r.case_no, "forwarded").await;
    let case_no = r.case_no;
    let t = h
        .command(
            &c,
            "sthjj",
            "transfer",
            body(&case_no, json!({"to": "nope", "reason": "x"})),
        )
        .await;
    assert_eq!(rule(&t), "unknown_department");
    let request = |reason: &str| body(&case_no, json!({"to": "slj", "reason": reason}));
    let t = h
        .command(&c, "sthjj", "transfer", request("涉及河道，属水利局"))
        .await;
    ok(&t);
    assert_eq!(
        t["state"], "forwarded",
        "nothing moves before the bureau decides"
    );
    assert_eq!(t["event"]["type"], "transfer_requested");
    let req: TransferRequested = h
        .wait_events(&c, &format!("xf.{c}.case.transfer_requested"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!((req.from.as_str(), req.to.as_str()), ("sthjj", "slj"));
    assert_eq!(req.to_organ, format!("{c}:slj"));
    // While the bureau decides, the requester neither accepts nor asks again.
    let a = h
        .command(
            &c,
            "sthjj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(rule(&a), "transfer_pending");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Art 23 para 3")
    );
    assert_eq!(
        rule(
            &h.command(&c, "sthjj", "transfer", request("再次申请"))
                .await
        ),
        "transfer_pending"
    );
    // Only the bureau decides, with a reason either way.
    let d = h
        .command(
            &c,
            "sthjj",
            "transfer_decision",
            body(&case_no, json!({"decision": "approved", "reason": "x"})),
        )
        .await;
    assert_eq!(rule(&d), "petition_bureau_only");
    let d = h
        .command(
            &c,
            "xfj",
            "transfer_decision",
            body(&case_no, json!({"decision": "rejected"})),
        )
        .await;
    assert_eq!(d["error"]["field"], "reason");
    // Rejected: the matter stays with the requester, who may act again.
    let d = h
        .command(
            &c,
            "xfj",
            "transfer_decision",
            body(
                &case_no,
                json!({"decision": "rejected", "reason": "排污属生态环境局监管"}),
            ),
        )
        .await;
    ok(&d);
    let rej: TransferRejected = h
        .wait_events(&c, &format!("xf.{c}.case.transfer_rejected"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(rej.reason, "排污属生态环境局监管");
    assert_eq!(h.assignment(&case_no, "sthjj").await.unwrap().1, "assigned");
    assert!(h.assignment(&case_no, "slj").await.is_none());
    assert!(
        h.events(&c, &format!("xf.{c}.case.transferred"), &case_no)
            .await
            .is_empty()
    );
    let no_request = h
        .command(
            &c,
            "xfj",
            "transfer_decision",
            body(&case_no, json!({"decision": "approved", "reason": "x"})),
        )
        .await;
    assert_eq!(rule(&no_request), "no_transfer_request");
    // Asked again and approved: now it moves.
    ok(&h
        .command(&c, "sthjj", "transfer", request("补充材料：河道管理范围内"))
        .await);
    let d = h
        .command(
            &c,
            "xfj",
            "transfer_decision",
            body(
                &case_no,
                json!({"decision": "approved", "reason": "核实属水利局职责", "by": "信访局王科长"}),
            ),
        )
        .await;
    ok(&d);
    let tr: Transferred = h
        .wait_events(&c, &format!("xf.{c}.case.transferred"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!((tr.from.as_str(), tr.to.as_str()), ("sthjj", "slj"));
    assert_eq!(tr.approved_by.as_deref(), Some("信访局王科长"));
    assert_eq!(tr.approval_reason.as_deref(), Some("核实属水利局职责"));
    assert_eq!(tr.reason, "补充材料：河道管理范围内");
    // The new department gets the matter, still without the accuser's identity.
    let d: DeptAssignment = h
        .wait_events(&c, &format!("xf.{c}.dept.slj.assigned"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(d.petitioner, None);
    assert!(
        d.accept_by.is_some(),
        "its acceptance clock starts at the approval"
    );
    assert_eq!(
        h.assignment(&case_no, "sthjj").await.unwrap().1,
        "transferred"
    );
    let r = h
        .command(
            &c,
            "sthjj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await;
    assert_eq!(rule(&r), "assigned_department");
    ok(&h
        .command(
            &c,
            "slj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await);
    // After acceptance a transfer is no longer possible.
    let t = h
        .command(
            &c,
            "slj",
            "transfer",
            body(&case_no, json!({"to": "sthjj", "reason": "x"})),
        )
        .await;
    assert_eq!(rule(&t), "state_machine");
    // Feedback on an accusation is a reply (Art 30).
    let rep = h
        .command(
            &c,
            "slj",
            "reply",
            body(&case_no, json!({"text": "已查处", "served_on": today()})),
        )
        .await;
    ok(&rep);
    assert_eq!(rep["state"], "replied");
    let requests: i64 = sqlx::query_scalar(
        "select count(*) from transfer_requests where case_no = $1 and decision is not null",
    )
    .bind(&case_no)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(requests, 2);
    h.stop().await;
}

#[tokio::test]
async fn extension_is_once_and_at_most_30_days_then_mediation_or_an_opinion() {
    let h = Harness::start().await;
    let c = h.county();
    let case_no = routed(&h, "zjj").await;
    // Not before acceptance.
    let e = h
        .command(
            &c,
            "zjj",
            "extend",
            body(
                &case_no,
                json!({"days": 10, "approver": "张局长", "reason": "情况复杂"}),
            ),
        )
        .await;
    assert_eq!(rule(&e), "state_machine");
    ok(&h
        .command(
            &c,
            "zjj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await);
    let e = h
        .command(
            &c,
            "zjj",
            "extend",
            body(
                &case_no,
                json!({"days": 31, "approver": "张局长", "reason": "情况复杂"}),
            ),
        )
        .await;
    assert_eq!(rule(&e), "extension_days");
    let e = h
        .command(
            &c,
            "zjj",
            "extend",
            body(&case_no, json!({"days": 20, "reason": "情况复杂"})),
        )
        .await;
    assert_eq!(e["error"]["field"], "approver");
    ok(&h
        .command(
            &c,
            "zjj",
            "extend",
            body(
                &case_no,
                json!({"days": 20, "approver": "张局长", "reason": "情况复杂"}),
            ),
        )
        .await);
    let ext: Extended = h
        .wait_events(&c, &format!("xf.{c}.case.extended"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!((ext.days, ext.approver.as_str()), (20, "张局长"));
    let e = h
        .command(
            &c,
            "zjj",
            "extend",
            body(
                &case_no,
                json!({"days": 5, "approver": "张局长", "reason": "再延"}),
            ),
        )
        .await;
    assert_eq!(rule(&e), "extension_once");

    // An opinion needs its outcome (Art 32) and may not be served in the future.
    let rep = h
        .command(
            &c,
            "zjj",
            "reply",
            body(&case_no, json!({"text": "答复", "served_on": today()})),
        )
        .await;
    assert_eq!(rep["error"]["field"], "outcome");
    let rep = h
        .command(
            &c,
            "zjj",
            "reply",
            body(
                &case_no,
                json!({"text": "答复", "served_on": "2999-01-01", "outcome": "supported"}),
            ),
        )
        .await;
    assert_eq!(rule(&rep), "not_in_future");
    let reply_body = body(
        &case_no,
        json!({"text": "经调查，诉求合理，予以支持。", "served_on": today(), "outcome": "予以支持"}),
    );
    let rep = h.command(&c, "zjj", "reply", reply_body.clone()).await;
    ok(&rep);
    assert_eq!(rep["state"], "opinion_issued");
    // The department's reply arrives twice: the same answer, one `case.replied`.
    let twice = h.command(&c, "zjj", "reply", reply_body).await;
    assert_eq!(rep, twice);
    let replied = h
        .wait_events(&c, &format!("xf.{c}.case.replied"), &case_no, 1)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        h.events(&c, &format!("xf.{c}.case.replied"), &case_no)
            .await
            .len(),
        1
    );
    let replied: Replied = replied[0].1.data_as().unwrap();
    assert!(replied.is_handling_opinion);
    assert_eq!(replied.outcome, Some(OpinionOutcome::Supported));

    // Another case ends in mediation.
    let case2 = routed(&h, "zjj").await;
    ok(&h
        .command(
            &c,
            "zjj",
            "accept",
            body(&case2, json!({"accepted_on": today()})),
        )
        .await);
    let m = h
        .command(
            &c,
            "zjj",
            "mediate",
            body(
                &case2,
                json!({"agreement": "调解", "signed_on": today(), "summary": "双方达成调解协议"}),
            ),
        )
        .await;
    ok(&m);
    assert_eq!(m["state"], "mediated");
    let med: Mediated = h
        .wait_events(&c, &format!("xf.{c}.case.mediated"), &case2, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(med.agreement, "mediation");
    h.stop().await;
}

#[tokio::test]
async fn assisting_departments_keep_their_own_status_and_may_not_lead() {
    let h = Harness::start().await;
    let c = h.county();
    let mut r = h.registered("zjj");
    r.needs_triage = true;
    h.register(&r).await;
    h.wait_state(&r.case_no, "registered").await;
    let re = xinfang_domain::events::Reclassified {
        case_no: r.case_no.clone(),
        petition_type: xinfang_domain::petition::PetitionType::Grievance,
        branch: None,
        diversion: None,
        department: "zjj".into(),
        county: c.clone(),
        accuses_official: false,
        by: "clerk".into(),
        reason: "two departments".into(),
        assisting: vec!["mzj".into()],
        accused_level: None,
    };
    h.publish(xinfang_domain::events::kind::RECLASSIFIED, &r.case_no, &re)
        .await;
    h.wait_state(&r.case_no, "forwarded").await;
    let case_no = r.case_no;
    let x = h
        .command(
            &c,
            "mzj",
            "extend",
            body(&case_no, json!({"days": 5, "approver": "a", "reason": "b"})),
        )
        .await;
    assert_eq!(rule(&x), "lead_only");
    let a = h
        .command(&c, "mzj", "accept", body(&case_no, json!({})))
        .await;
    ok(&a);
    assert_eq!(a["assignment"]["status"], "accepted");
    assert_eq!(
        a["state"], "forwarded",
        "an assisting department does not move the case"
    );
    assert_eq!(h.assignment(&case_no, "zjj").await.unwrap().1, "assigned");
    ok(&h
        .command(
            &c,
            "mzj",
            "reply",
            body(&case_no, json!({"text": "低保情况已核实"})),
        )
        .await);
    assert_eq!(h.assignment(&case_no, "mzj").await.unwrap().1, "replied");
    h.stop().await;
}

#[tokio::test]
async fn http_actions_name_the_department_in_a_header() {
    let h = Harness::start().await;
    let c = h.county();
    let case_no = routed(&h, "zjj").await;
    let http = reqwest::Client::new();
    let url = h.url(&format!("/v1/cases/{case_no}/actions/accept"));
    let req_id = rid();
    let send = |dept: Option<&str>, body: Value| {
        let mut rb = http.post(&url).json(&body);
        if let Some(d) = dept {
            rb = rb.header("x-xf-department", d);
        }
        rb.send()
    };
    // Without auth (this harness) the caller acts as an operator: it must name a department.
    let r = send(None, json!({"request_id": req_id, "accepted_on": today()}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["field"], "department");
    let r = send(
        Some("rsj"),
        json!({"request_id": rid(), "accepted_on": today()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["rule"], "assigned_department");
    let r = send(Some("zjj"), json!({"accepted_on": today()}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = send(
        Some("zjj"),
        json!({"request_id": req_id, "accepted_on": "yesterday"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["field"], "accepted_on");
    let r = send(
        Some(&format!("{c}:zjj")),
        json!({"request_id": req_id, "accepted_on": today()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    // The same request over NATS (same department, same id) gets the same answer.
    let again = h
        .command(
            &c,
            "zjj",
            "accept",
            json!({"case_no": case_no, "request_id": req_id, "accepted_on": today()}),
        )
        .await;
    assert_eq!(first, again);
    let r = send(
        Some("zjj"),
        json!({"request_id": rid(), "accepted_on": today()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409);
    let r = http
        .post(h.url(&format!("/v1/cases/{case_no}/actions/fly")))
        .header("x-xf-department", "zjj")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let view: Value = http
        .get(h.url(&format!("/v1/cases/{case_no}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"], "under_investigation");
    assert_eq!(view["lead"], format!("{c}:zjj"));
    assert_eq!(view["assignments"][0]["status"], "accepted");
    let text = view.to_string();
    assert!(
        !text.contains(common::NAME) && !text.contains("漏水"),
        "the view shows no text or petitioner"
    );
    h.stop().await;
}
