//! Issue #20, item 2, end to end over the real NATS, Postgres and Redis (intake, routing,
//! supervision and review in one deployment): a 复查 that revokes the handling opinion sends
//! the matter back to the department that handled it. Routing takes the case back to handling
//! and tells the department (`dept.<d>.remanded`); supervision starts the new handling period
//! (30 days from the remand, `deadlines.remand_handling_days`) and opens no 复核 window (D9)
//! for the revoked opinion; the registry shows it; a 复核 is refused. The department replies
//! again — refused before (409 `state_machine`) — its new opinion opens a new D7, and a new
//! 复查 is accepted.

mod common;

use common::{get, post};
use serde_json::{Value, json};
use xinfang_domain::deadline::{CST, DeadlineRules, compute_remand, cst_date};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::DeptRemanded;
use xinfang_platform::testing::TestEnv;

const ID: &str = "11010519491231002X";
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

/// The case's clocks of `kind` in supervision, oldest first.
fn clocks<'a>(deadlines: &'a Value, kind: &str) -> Vec<&'a Value> {
    deadlines["deadlines"]
        .as_array()
        .map(|a| a.iter().filter(|d| d["kind"] == kind).collect())
        .unwrap_or_default()
}

fn open(d: &Value) -> bool {
    d["state"] == "pending" || d["state"] == "paused"
}

#[tokio::test]
async fn a_revoked_opinion_goes_back_to_the_department_and_its_new_opinion_is_reviewed() {
    let env = TestEnv::start(
        |_| {},
        "[routing]\noperator = \"tester\"\nhold_for_triage = false\n[review]\nsweep_enabled = false\n",
    )
    .await
    .expect("local NATS, Postgres and Redis must be running");
    let county = env.county.clone();
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    let routing = xinfang_routing::service::start(env.infra.clone())
        .await
        .unwrap();
    let supervision = xinfang_supervision::service::start(env.infra.clone())
        .await
        .unwrap();
    let review = xinfang_review::service::start(env.infra.clone())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let today = cst_date(chrono::Utc::now().with_timezone(&CST));

    let (status, receipt) = post(
        &http,
        &format!("http://{}/v1/petitions", intake.http),
        json!({
            "channel": "letter",
            "petitioner": {"name": "测试人", "id_number": ID, "mobile": "13800138000"},
            "text": TEXT,
            "county": county.to_string(),
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        }),
    )
    .await;
    assert_eq!(status, 201, "{receipt}");
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let query_code = receipt["query_code"].as_str().unwrap().to_owned();
    let c = &receipt["classification"];
    assert!(
        c["petition_type"] == "grievance"
            && c["diversion"].is_null()
            && (c["branch"].is_null() || c["branch"] == "31_6"),
        "the test needs an Art 31(6) matter: {receipt}"
    );

    // Routed, accepted, answered with a 信访处理意见书.
    let routing_view = format!("http://{}/v1/cases/{case_no}", routing.http);
    let mut lead = String::new();
    env.wait_for("routing to assign the case", 30, async || {
        let (s, v) = get(&http, &routing_view).await;
        match v["lead"].as_str() {
            Some(o) if s == 200 => {
                lead = o.to_owned();
                true
            }
            _ => false,
        }
    })
    .await;
    let dept = lead.split(':').nth(1).unwrap().to_owned();
    let act = |action: &str| {
        format!(
            "http://{}/v1/cases/{case_no}/actions/{action}",
            routing.http
        )
    };
    let department_acts = async |action: &str, body: Value| {
        let r = http
            .post(act(action))
            .header("x-xf-department", &lead)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (s, body) = department_acts(
        "accept",
        json!({"request_id": uuid::Uuid::now_v7(), "accepted_on": today}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = department_acts(
        "reply",
        json!({"request_id": uuid::Uuid::now_v7(), "outcome": "not_supported",
               "text": "经调查核实，不予支持。", "served_on": today}),
    )
    .await;
    assert_eq!(s, 200, "{body}");

    // 复查 at the county government, which revokes the opinion.
    let review_view = format!("http://{}/v1/reviews/{case_no}", review.http);
    env.wait_for("review to hold the served opinion", 30, async || {
        let (s, v) = get(&http, &review_view).await;
        s == 200 && v["is_handling_opinion"] == true
    })
    .await;
    let reviews = format!("http://{}/v1/reviews", review.http);
    let ask = json!({"query_code": query_code, "id_number": ID});
    let (status, body) = post(&http, &reviews, ask.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organ"], format!("{county}:gov"));
    let (status, body) = post(
        &http,
        &format!("http://{}/v1/reviews/{case_no}/decision", review.http),
        json!({"level": "review", "outcome": "revoke",
               "text": "原处理意见认定事实不清，予以撤销，由原办理机关重新办理。", "served_on": today}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Routing: back to handling for the same department, which is told.
    env.wait_for(
        "routing to take the case back to handling",
        30,
        async || get(&http, &routing_view).await.1["state"] == "under_investigation",
    )
    .await;
    let (_, v) = get(&http, &routing_view).await;
    assert_eq!(v["lead"], lead, "{v}");
    assert!(
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "remanded" && a["rule"] == "Art 35"),
        "{v}"
    );
    let dept_filter = format!("xf.{county}.dept.{dept}.remanded");
    env.wait_for("the department to be told", 30, async || {
        !env.read(&county, &dept_filter).await.is_empty()
    })
    .await;
    let told = env.read(&county, &dept_filter).await;
    let told: DeptRemanded = Envelope::from_bytes(&told[0].payload)
        .unwrap()
        .data_as()
        .unwrap();
    assert_eq!(
        (told.case_no.as_str(), told.outcome.as_str()),
        (case_no.as_str(), "revoke")
    );
    assert_eq!(told.organ, format!("{county}:gov"));
    // #17 item 4: it names the organ it is for, its new due date and what it may do now.
    let to = told
        .addressee
        .as_ref()
        .expect("the remand names its addressee");
    assert_eq!(
        (&to.county, to.department.as_str()),
        (&county, dept.as_str())
    );
    assert!(told.reply_by.is_some());
    assert_eq!(told.deadlines.handle_by, told.reply_by);
    assert!(told.actions.iter().any(|a| a == "reply"), "{told:?}");
    assert!(
        told.actions
            .iter()
            .all(|a| xinfang_routing::actions::ACTIONS.contains(&a.as_str())),
        "{told:?}"
    );

    // Supervision: the new handling period (30 days from the remand), no D9 for the revoked
    // opinion, its D7 closed.
    let deadlines = format!("http://{}/v1/deadlines?case_no={case_no}", supervision.http);
    env.wait_for(
        "supervision to start the new handling period",
        30,
        async || {
            let (_, v) = get(&http, &deadlines).await;
            clocks(&v, "D5")
                .iter()
                .any(|d| d["ref"] == "remand" && open(d))
        },
    )
    .await;
    let (_, v) = get(&http, &deadlines).await;
    let remand = clocks(&v, "D5")
        .into_iter()
        .find(|d| d["ref"] == "remand")
        .unwrap()
        .clone();
    let trigger: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(remand["trigger_at"].clone()).unwrap();
    let want = compute_remand(
        trigger.with_timezone(&CST),
        &xinfang_domain::calendar::Calendar::embedded(),
        &DeadlineRules::default(),
    )
    .unwrap()
    .due
    .unwrap();
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(remand["due_at"].clone()).unwrap();
    assert_eq!(due, want, "{remand}");
    assert!(
        due - trigger >= chrono::TimeDelta::days(29)
            && due - trigger <= chrono::TimeDelta::days(40),
        "about 30 days: {remand}"
    );
    assert_eq!(remand["department"], dept);
    assert!(clocks(&v, "D9").is_empty(), "no 复核 window: {v}");
    assert!(clocks(&v, "D7").iter().all(|d| !open(d)), "{v}");

    // The registry shows it.
    let intake_view = format!("http://{}/v1/cases/{case_no}", intake.http);
    env.wait_for("the registry to show the remand", 30, async || {
        let (_, v) = get(&http, &intake_view).await;
        v["status"] == "remanded"
            && v["timeline"].as_array().is_some_and(|t| {
                t.iter().any(|l| {
                    l["summary"]
                        .as_str()
                        .is_some_and(|s| s.contains("发回重新办理"))
                })
            })
    })
    .await;

    // No 复核 against the revoked opinion.
    let (status, body) = post(
        &http,
        &reviews,
        json!({"query_code": query_code, "id_number": ID, "level": "rereview"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "opinion_sent_back", "{body}");

    // The department's new reply is accepted (before: 409 state_machine).
    let (s, body) = department_acts(
        "reply",
        json!({"request_id": uuid::Uuid::now_v7(), "outcome": "explained",
               "text": "重新调查核实后，作出解释说明。", "served_on": today}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["state"], "opinion_issued", "{body}");

    // A new D7 from its service; the remand period is met.
    env.wait_for("a new 复查 window", 30, async || {
        let (_, v) = get(&http, &deadlines).await;
        clocks(&v, "D7").iter().any(|d| open(d))
    })
    .await;
    let (_, v) = get(&http, &deadlines).await;
    assert!(
        clocks(&v, "D5")
            .iter()
            .any(|d| d["ref"] == "remand" && d["state"] == "met"),
        "{v}"
    );

    // And a new 复查 is accepted.
    env.wait_for("review to hold the new opinion", 30, async || {
        let (_, v) = get(&http, &review_view).await;
        v["is_handling_opinion"] == true && v["round"] == 2
    })
    .await;
    let (status, body) = post(&http, &reviews, ask).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["level"], "review");
    assert_eq!(body["organ"], format!("{county}:gov"));

    env.stop().await;
}
