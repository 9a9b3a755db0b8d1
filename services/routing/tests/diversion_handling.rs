//! Diversion and handling (issue #13) over the real NATS and PostgreSQL: a department diverts
//! an accepted matter into a legal channel (Art 31(2)–(4)); a completion report on a 交办
//! matter goes through the bureau's check to close (Art 22 para 1(3)); a clerk's correction of
//! a wrong diversion at intake routes the matter again; an accusation naming a county leader
//! reaches the city's 纪委监委 (Art 22 para 2, 按照管理权限).

mod common;

use common::{Harness, body, today};
use serde_json::{Value, json};
use xinfang_domain::events::{
    self, Assigned, Closed, DeptAssignment, Diverted, Reclassified, Registered, Rerouted,
    ReturnedForRedo, SubmittedForCheck,
};
use xinfang_domain::petition::{Art31Branch, CadreLevel, Diversion, PetitionType};

fn ok(v: &Value) -> &Value {
    assert_eq!(v["ok"], json!(true), "expected success, got {v}");
    v
}

fn rule(v: &Value) -> &str {
    v["error"]["rule"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a refusal, got {v}"))
}

/// What intake publishes after a clerk's correction.
fn reclassified(r: &Registered, c: &Reclassification) -> Reclassified {
    Reclassified {
        case_no: r.case_no.clone(),
        petition_type: c.petition_type,
        branch: c.branch,
        diversion: c.diversion,
        department: c.department.into(),
        county: r.county.clone(),
        accuses_official: c.accuses_official,
        by: "clerk-7".into(),
        reason: "分类有误，予以更正".into(),
        assisting: Vec::new(),
        accused_level: c.accused_level,
    }
}

struct Reclassification {
    petition_type: PetitionType,
    branch: Option<Art31Branch>,
    diversion: Option<Diversion>,
    department: &'static str,
    accuses_official: bool,
    accused_level: Option<CadreLevel>,
}

fn grievance(department: &'static str, branch: Option<Art31Branch>) -> Reclassification {
    Reclassification {
        petition_type: PetitionType::Grievance,
        branch,
        diversion: None,
        department,
        accuses_official: false,
        accused_level: None,
    }
}

async fn accepted(h: &Harness, r: &Registered, dept: &str) {
    h.register(r).await;
    h.wait_state(&r.case_no, "forwarded").await;
    ok(&h
        .command(
            &h.county(),
            dept,
            "accept",
            body(&r.case_no, json!({"accepted_on": today()})),
        )
        .await);
}

/// Art 31(2)–(4): after acceptance a department finds the matter belongs to 行政复议; it
/// diverts it with the written guidance, and the matter leaves the petition track.
#[tokio::test]
async fn a_department_diverts_an_accepted_matter_into_a_legal_channel() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.registered("zjj");
    accepted(&h, &r, "zjj").await;
    let case_no = r.case_no.clone();
    let guidance =
        "您反映的拆迁补偿决定属于行政行为，请自收到决定之日起六十日内向县人民政府申请行政复议。";
    // Each field is named when missing or wrong.
    let x = h
        .command(
            &c,
            "zjj",
            "divert",
            body(
                &case_no,
                json!({"diversion": "none", "guidance": guidance, "served_on": today()}),
            ),
        )
        .await;
    assert_eq!(x["error"]["field"], "diversion");
    let x = h
        .command(
            &c,
            "zjj",
            "divert",
            body(
                &case_no,
                json!({"diversion": "行政复议", "served_on": today()}),
            ),
        )
        .await;
    assert_eq!(x["error"]["field"], "guidance");
    let x = h
        .command(
            &c,
            "zjj",
            "divert",
            body(
                &case_no,
                json!({"diversion": "行政复议", "guidance": guidance, "served_on": "2999-01-01"}),
            ),
        )
        .await;
    assert_eq!(x["error"]["field"], "served_on");
    // Another department may not divert it.
    let x = h
        .command(
            &c,
            "rsj",
            "divert",
            body(
                &case_no,
                json!({"diversion": "行政复议", "guidance": guidance, "served_on": today()}),
            ),
        )
        .await;
    assert_eq!(rule(&x), "assigned_department");

    let d = h
        .command(
            &c,
            "zjj",
            "divert",
            body(
                &case_no,
                json!({"diversion": "行政复议", "guidance": guidance, "served_on": today()}),
            ),
        )
        .await;
    ok(&d);
    assert_eq!(d["state"], "channelled");
    assert_eq!(d["event"]["type"], "diverted");
    assert_eq!(d["assignment"]["status"], "diverted");
    let dv: Diverted = h
        .wait_events(&c, &format!("xf.{c}.case.diverted"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(dv.after_acceptance, "counted apart from intake diversions");
    assert_eq!(dv.department.as_deref(), Some("zjj"));
    assert_eq!(dv.diversion, Some(Diversion::AdministrativeReconsideration));
    assert_eq!(
        dv.guidance, guidance,
        "the petitioner gets the department's guidance"
    );
    assert_eq!(dv.organ, format!("{c}:sfj"));
    assert_eq!(
        dv.served_on.map(|d| d.format("%Y-%m-%d").to_string()),
        Some(today())
    );
    // Off the petition track: no opinion, no extension any more.
    let x = h
        .command(
            &c,
            "zjj",
            "reply",
            body(
                &case_no,
                json!({"text": "答复", "served_on": today(), "outcome": "supported"}),
            ),
        )
        .await;
    assert_eq!(rule(&x), "state_machine");
    let x = h
        .command(
            &c,
            "zjj",
            "extend",
            body(
                &case_no,
                json!({"days": 10, "approver": "局长", "reason": "复杂"}),
            ),
        )
        .await;
    assert_eq!(rule(&x), "state_machine");

    // A suggestion has no Art 31 branch: it is answered, not diverted.
    let mut s = h.registered("jyj");
    s.petition_type = PetitionType::Suggestion;
    s.branch = None;
    accepted(&h, &s, "jyj").await;
    let x = h
        .command(
            &c,
            "jyj",
            "divert",
            body(
                &s.case_no,
                json!({"diversion": "arbitration", "guidance": "请申请仲裁", "served_on": today()}),
            ),
        )
        .await;
    assert_eq!(rule(&x), "wrong_type");
    assert!(x["error"]["message"].as_str().unwrap().contains("Art 31"));
    h.stop().await;
}

/// Art 22 para 1(3): a 交办 matter's result goes to the bureau's check; a failed check sends it
/// back for redo with the reason, a passed one closes it.
#[tokio::test]
async fn a_completion_report_is_checked_returned_for_redo_and_closed() {
    let h = Harness::start().await;
    let c = h.county();
    let mut r = h.registered("zjj");
    // Urgent matters are 交办 with a completion report due (Art 22 para 1(3), Art 25).
    r.urgent = true;
    h.register(&r).await;
    h.wait_state(&r.case_no, "assigned").await;
    let case_no = r.case_no.clone();
    let a: Assigned = h
        .wait_events(&c, &format!("xf.{c}.case.assigned"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(a.report_required);
    ok(&h
        .command(
            &c,
            "zjj",
            "accept",
            body(&case_no, json!({"accepted_on": today()})),
        )
        .await);
    let rep = h
        .command(
            &c,
            "zjj",
            "reply",
            body(&case_no, json!({"text": "经调查，诉求部分合理。", "served_on": today(), "outcome": "explained"})),
        )
        .await;
    ok(&rep);
    assert_eq!(rep["state"], "opinion_issued");
    // Nothing to check before the report; only the bureau checks.
    let x = h
        .command(
            &c,
            "xfj",
            "check",
            body(&case_no, json!({"result": "passed"})),
        )
        .await;
    assert_eq!(rule(&x), "state_machine");
    let x = h
        .command(&c, "zjj", "report", body(&case_no, json!({"report": " "})))
        .await;
    assert_eq!(x["error"]["field"], "report");
    let x = h
        .command(
            &c,
            "zjj",
            "report",
            body(
                &case_no,
                json!({"report": "已调查核实并出具处理意见书，已送达信访人。"}),
            ),
        )
        .await;
    ok(&x);
    assert_eq!(x["state"], "pending_superior_check");
    assert_eq!(x["assignment"]["status"], "reported");
    let sub: SubmittedForCheck = h
        .wait_events(&c, &format!("xf.{c}.case.submitted_for_check"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(sub.department, "zjj");
    assert!(sub.report.contains("处理意见书"));
    let x = h
        .command(
            &c,
            "zjj",
            "check",
            body(&case_no, json!({"result": "passed"})),
        )
        .await;
    assert_eq!(rule(&x), "petition_bureau_only");
    let x = h
        .command(
            &c,
            "xfj",
            "check",
            body(&case_no, json!({"result": "failed"})),
        )
        .await;
    assert_eq!(x["error"]["field"], "reason");

    // Failed: back to the department, the handling clock not restarted.
    let x = h
        .command(
            &c,
            "xfj",
            "check",
            body(
                &case_no,
                json!({"result": "failed", "reason": "未核实补偿标准，请重新调查"}),
            ),
        )
        .await;
    ok(&x);
    assert_eq!(x["state"], "under_investigation");
    let back: ReturnedForRedo = h
        .wait_events(&c, &format!("xf.{c}.case.returned_for_redo"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(back.department, "zjj");
    assert_eq!(back.reason, "未核实补偿标准，请重新调查");
    assert_eq!(
        back.accepted_on.map(|d| d.format("%Y-%m-%d").to_string()),
        Some(today())
    );
    assert_eq!(h.assignment(&case_no, "zjj").await.unwrap().1, "returned");

    // The department reworks: a new opinion with its report in one step.
    let x = h
        .command(
            &c,
            "zjj",
            "reply",
            body(
                &case_no,
                json!({"text": "经重新调查，予以支持。", "served_on": today(), "outcome": "supported",
                       "report": "已重新核实补偿标准并出具新的处理意见书。"}),
            ),
        )
        .await;
    ok(&x);
    assert_eq!(x["state"], "pending_superior_check");
    assert_eq!(x["events"].as_array().unwrap().len(), 2);
    h.wait_events(&c, &format!("xf.{c}.case.submitted_for_check"), &case_no, 2)
        .await;

    // Passed: closed.
    let x = h
        .command(
            &c,
            "xfj",
            "check",
            body(
                &case_no,
                json!({"result": "passed", "reason": "处理意见依据充分"}),
            ),
        )
        .await;
    ok(&x);
    assert_eq!(x["state"], "closed");
    let closed: Closed = h
        .wait_events(&c, &format!("xf.{c}.case.closed"), &case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(closed.department, "zjj");
    assert_eq!(closed.note.as_deref(), Some("处理意见依据充分"));
    assert_eq!(h.assignment(&case_no, "zjj").await.unwrap().1, "closed");
    let x = h
        .command(
            &c,
            "xfj",
            "check",
            body(&case_no, json!({"result": "passed"})),
        )
        .await;
    assert_eq!(rule(&x), "state_machine");
    h.stop().await;
}

/// A clerk's correction of a wrong diversion at intake (no unit ever accepted the matter)
/// routes it again: to a handling unit when the diversion is cleared, into the corrected
/// channel when the branch is corrected.
#[tokio::test]
async fn a_corrected_diversion_routes_the_matter_again() {
    let h = Harness::start().await;
    let c = h.county();
    // Diverted into arbitration at intake; the clerk sets the diversion back to none.
    let r = h.diverted(
        Art31Branch::Arbitration,
        Some(Diversion::Arbitration),
        "rsj",
    );
    h.register(&r).await;
    h.wait_state(&r.case_no, "guided_elsewhere").await;
    h.publish(
        events::kind::RECLASSIFIED,
        &r.case_no,
        &reclassified(&r, &grievance("rsj", None)),
    )
    .await;
    h.wait_state(&r.case_no, "forwarded").await;
    let rr: Rerouted = h
        .wait_events(&c, &format!("xf.{c}.case.rerouted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(rr.withdrawn.is_empty(), "no unit had it");
    assert!(rr.reason.contains("diversion corrected"));
    let a: Assigned = h
        .wait_events(&c, &format!("xf.{c}.case.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(a.department, "rsj");
    h.wait_events(&c, &format!("xf.{c}.dept.rsj.assigned"), &r.case_no, 1)
        .await;

    // Diverted into arbitration, the branch corrected to 31(4): diverted again, elsewhere.
    let r = h.diverted(
        Art31Branch::Arbitration,
        Some(Diversion::Arbitration),
        "rsj",
    );
    h.register(&r).await;
    h.wait_state(&r.case_no, "guided_elsewhere").await;
    h.publish(
        events::kind::RECLASSIFIED,
        &r.case_no,
        &reclassified(
            &r,
            &grievance("rsj", Some(Art31Branch::AdministrativeProcedure)),
        ),
    )
    .await;
    let diverted = h
        .wait_events(&c, &format!("xf.{c}.case.diverted"), &r.case_no, 2)
        .await;
    let second: Diverted = diverted[1].1.data_as().unwrap();
    assert_eq!(second.organ, format!("{c}:sfj"));
    assert!(!second.after_acceptance);
    h.wait_state(&r.case_no, "guided_elsewhere").await;

    // Sent to the court as litigation at intake; corrected to an ordinary 31(6) matter: the
    // court's copy is withdrawn and the matter goes to its department.
    let r = h.diverted(
        Art31Branch::LegalProcedure,
        Some(Diversion::Litigation),
        "zjj",
    );
    h.register(&r).await;
    h.wait_state(&r.case_no, "routed_political_legal").await;
    h.publish(
        events::kind::RECLASSIFIED,
        &r.case_no,
        &reclassified(&r, &grievance("zjj", Some(Art31Branch::Residual))),
    )
    .await;
    h.wait_state(&r.case_no, "forwarded").await;
    h.wait_events(&c, &format!("xf.{c}.dept.fy.withdrawn"), &r.case_no, 1)
        .await;
    assert_eq!(h.assignment(&r.case_no, "fy").await.unwrap().1, "withdrawn");
    assert_eq!(h.assignment(&r.case_no, "zjj").await.unwrap().1, "assigned");
    // Nothing was dead-lettered along the way.
    assert!(h.env.read(&c, &format!("xf.{c}.dlq.>")).await.is_empty());
    h.stop().await;
}

/// Art 22 para 2: an accusation goes to the 纪委监委 with authority over the accused by
/// management level — one against a county leader reaches the city's.
#[tokio::test]
async fn an_accusation_against_a_county_leader_reaches_the_citys_commission() {
    let h = Harness::start().await;
    let c = h.county();
    let city = h.city();
    let level = |department, level| Reclassification {
        petition_type: PetitionType::Accusation,
        branch: None,
        diversion: None,
        department,
        accuses_official: true,
        accused_level: Some(level),
    };

    // Held for triage, the clerk records the level: routed straight to the city's commission.
    let mut r = h.accusation("jwjw", true);
    r.needs_triage = true;
    h.register(&r).await;
    h.wait_state(&r.case_no, "registered").await;
    h.publish(
        events::kind::RECLASSIFIED,
        &r.case_no,
        &reclassified(&r, &level("jwjw", CadreLevel::CountyLeader)),
    )
    .await;
    h.wait_state(&r.case_no, "forwarded").await;
    let d: DeptAssignment = h
        .wait_events(
            &city,
            &format!("xf.{city}.dept.jwjw.assigned"),
            &r.case_no,
            1,
        )
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(
        d.petitioner.is_some(),
        "the commission with authority learns the informant"
    );
    assert!(
        h.events(&c, &format!("xf.{c}.dept.jwjw.>"), &r.case_no)
            .await
            .is_empty(),
        "the county's commission never had it"
    );
    let view: Value = reqwest::get(h.url(&format!("/v1/cases/{}", r.case_no)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["lead"], format!("{city}:jwjw"));

    // Already with the county's commission when the level is recorded: taken back and sent to
    // the city's; a village cadre stays with the county.
    let r = h.accusation("jwjw", true);
    h.register(&r).await;
    h.wait_state(&r.case_no, "forwarded").await;
    h.wait_events(&c, &format!("xf.{c}.dept.jwjw.assigned"), &r.case_no, 1)
        .await;
    h.publish(
        events::kind::RECLASSIFIED,
        &r.case_no,
        &reclassified(&r, &level("jwjw", CadreLevel::CountyLeader)),
    )
    .await;
    h.wait_events(
        &city,
        &format!("xf.{city}.dept.jwjw.assigned"),
        &r.case_no,
        1,
    )
    .await;
    h.wait_events(&c, &format!("xf.{c}.dept.jwjw.withdrawn"), &r.case_no, 1)
        .await;
    let rr: Rerouted = h
        .wait_events(&c, &format!("xf.{c}.case.rerouted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(rr.reason.contains("Art 22 para 2"));
    assert_eq!(rr.withdrawn.len(), 1);
    assert!(rr.withdrawn[0].had_identity);

    let r = h.accusation("jwjw", true);
    h.register(&r).await;
    h.wait_state(&r.case_no, "forwarded").await;
    h.publish(
        events::kind::RECLASSIFIED,
        &r.case_no,
        &reclassified(&r, &level("jwjw", CadreLevel::Village)),
    )
    .await;
    // Recorded, not moved: the county's commission has authority over village cadres.
    h.env
        .wait_for("the reclassification recorded", 10, async || {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from actions where case_no = $1 and action = 'reclassified'",
            )
            .bind(&r.case_no)
            .fetch_one(h.pool())
            .await
            .unwrap();
            n == 1
        })
        .await;
    assert!(
        h.events(&c, &format!("xf.{c}.case.rerouted"), &r.case_no)
            .await
            .is_empty()
    );
    assert_eq!(
        h.assignment(&r.case_no, "jwjw").await.unwrap().1,
        "assigned"
    );
    h.stop().await;
}

/// A transfer asked for by a unit that then loses the case (a re-route) is moot: it is
/// withdrawn, and the unit with authority acts freely.
#[tokio::test]
async fn a_pending_transfer_is_withdrawn_when_the_case_is_rerouted() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.registered("zjj");
    h.register(&r).await;
    h.wait_state(&r.case_no, "forwarded").await;
    ok(&h
        .command(
            &c,
            "zjj",
            "transfer",
            body(&r.case_no, json!({"to": "rsj", "reason": "属人社局职责"})),
        )
        .await);
    // Reclassified as an accusation against an official: taken back, sent to 纪委监委.
    let accusation = Reclassification {
        petition_type: PetitionType::Accusation,
        branch: None,
        diversion: None,
        department: "jwjw",
        accuses_official: true,
        accused_level: None,
    };
    h.publish(
        events::kind::RECLASSIFIED,
        &r.case_no,
        &reclassified(&r, &accusation),
    )
    .await;
    h.wait_events(&c, &format!("xf.{c}.dept.jwjw.assigned"), &r.case_no, 1)
        .await;
    let decision: Option<String> =
        sqlx::query_scalar("select decision from transfer_requests where case_no = $1")
            .bind(&r.case_no)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(decision.as_deref(), Some("withdrawn"));
    ok(&h
        .command(
            &c,
            "jwjw",
            "accept",
            body(&r.case_no, json!({"accepted_on": today()})),
        )
        .await);
    let x = h
        .command(
            &c,
            "xfj",
            "transfer_decision",
            body(&r.case_no, json!({"decision": "approved", "reason": "x"})),
        )
        .await;
    assert_eq!(rule(&x), "no_transfer_request");
    h.stop().await;
}
