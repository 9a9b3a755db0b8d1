//! Intake, routing and review together over the real NATS, Postgres and Redis: a petition is
//! registered, routed, accepted and answered with a 信访处理意见书; the petitioner asks for
//! 复查 (county government) and 复核 (city government); after the 复核 decision the case is
//! TERMINATED, and the same facts submitted again are no longer accepted (不再受理,
//! Art 36 para 3) once a clerk has confirmed the refusal the similarity proposes (Decisions 7).

mod common;

use common::{get, post};
use serde_json::json;
use xinfang_domain::deadline::{CST, cst_date};
use xinfang_platform::testing::TestEnv;

const ID: &str = "11010519491231002X";
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

#[tokio::test]
async fn same_facts_after_termination_are_no_longer_accepted() {
    let env = TestEnv::start(
        |_| {},
        "[routing]\noperator = \"tester\"\nhold_for_triage = false\n[review]\nsweep_enabled = false\n",
    )
    .await
    .expect("local NATS, Postgres and Redis must be running");
    let (city, county) = (env.city.clone(), env.county.clone());
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    let routing = xinfang_routing::service::start(env.infra.clone())
        .await
        .unwrap();
    let review = xinfang_review::service::start(env.infra.clone())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let today = cst_date(chrono::Utc::now().with_timezone(&CST));

    let petition = json!({
        "channel": "letter",
        "petitioner": {"name": "测试人", "id_number": ID, "mobile": "13800138000"},
        "text": TEXT,
        "county": county.to_string(),
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    });
    let (status, receipt) = post(
        &http,
        &format!("http://{}/v1/petitions", intake.http),
        petition.clone(),
    )
    .await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["status"], "registered", "{receipt}");
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let query_code = receipt["query_code"].as_str().unwrap().to_owned();
    let c = &receipt["classification"];
    assert_eq!(c["petition_type"], "grievance", "{receipt}");
    assert!(
        c["diversion"].is_null() && (c["branch"].is_null() || c["branch"] == "31_6"),
        "the test needs an Art 31(6) matter: {receipt}"
    );

    // Routing assigns it; the lead department accepts and serves a handling opinion.
    let routing_view = format!("http://{}/v1/cases/{case_no}", routing.http);
    let mut lead = String::new();
    env.wait_for("routing to assign the case", 30, async || {
        let (s, v) = get(&http, &routing_view).await;
        if s != 200 {
            return false;
        }
        match v["lead"].as_str() {
            Some(o) => {
                lead = o.to_owned();
                true
            }
            None => false,
        }
    })
    .await;
    let act = |action: &str| {
        format!(
            "http://{}/v1/cases/{case_no}/actions/{action}",
            routing.http
        )
    };
    let r = http
        .post(act("accept"))
        .header("x-xf-department", &lead)
        .json(&json!({"request_id": uuid::Uuid::now_v7(), "accepted_on": today}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = http
        .post(act("reply"))
        .header("x-xf-department", &lead)
        .json(&json!({"request_id": uuid::Uuid::now_v7(), "outcome": "not_supported", "text": "经调查核实，不予支持。", "served_on": today}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    // Review learns the served opinion from the case events.
    let review_view = format!("http://{}/v1/reviews/{case_no}", review.http);
    env.wait_for("review to hold the served opinion", 30, async || {
        let (s, v) = get(&http, &review_view).await;
        s == 200 && v["is_handling_opinion"] == true
    })
    .await;

    // 复查 at the county government, 复核 at the city government.
    let reviews = format!("http://{}/v1/reviews", review.http);
    let ask = json!({"query_code": query_code, "id_number": ID});
    let (status, body) = post(&http, &reviews, ask.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organ"], format!("{county}:gov"));
    let decide = format!("http://{}/v1/reviews/{case_no}/decision", review.http);
    let decision = |level: &str| {
        json!({"level": level, "outcome": "uphold", "text": "维持原处理意见。",
               "served_on": today, "decided_by": "审核员"})
    };
    let (status, body) = post(&http, &decide, decision("review")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(&http, &reviews, ask.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organ"], format!("{city}:gov"));
    env.wait_for("the 复核 request to be recorded", 20, async || {
        let (_, v) = get(&http, &review_view).await;
        v["appeals"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let (status, body) = post(&http, &decide, decision("rereview")).await;
    assert_eq!(status, 201, "{body}");

    // Intake's registry learns the termination from case.terminated.
    let intake_view = format!("http://{}/v1/cases/{case_no}", intake.http);
    env.wait_for("intake to show the case terminated", 30, async || {
        let (_, v) = get(&http, &intake_view).await;
        v["status"] == "terminated"
    })
    .await;
    // The 复核 at the city is published there and copied to the county; this deployment serves
    // both, and the timeline shows each step once.
    let lines = async |label: &str| -> usize {
        let (_, v) = get(&http, &intake_view).await;
        v["timeline"].as_array().map_or(0, |t| {
            t.iter()
                .filter(|l| l["summary"].as_str().is_some_and(|s| s.contains(label)))
                .count()
        })
    };
    env.wait_for("the 复核 decision on the timeline", 30, async || {
        lines("复核意见已出").await > 0
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(lines("已申请复核").await, 1);
    assert_eq!(lines("复核意见已出").await, 1);

    // Same facts again: 不再受理.
    let mut again = petition.clone();
    again["received_at"] = json!(chrono::Utc::now());
    let (status, receipt) = post(
        &http,
        &format!("http://{}/v1/petitions", intake.http),
        again,
    )
    .await;
    assert_eq!(status, 201, "{receipt}");
    // Only proposed: routing holds it and nothing is refused before a clerk confirms.
    assert_eq!(receipt["status"], "registered", "{receipt}");
    assert_eq!(receipt["repeat"]["of"], case_no);
    assert_eq!(
        receipt["repeat"]["disposition"], "not_reaccepted",
        "{receipt}"
    );
    assert_eq!(receipt["repeat"]["proposed"], true, "{receipt}");
    let again_no = receipt["case_no"].as_str().unwrap().to_owned();
    env.wait_for("routing to hold the proposal for a clerk", 30, async || {
        let (s, v) = get(
            &http,
            &format!("http://{}/v1/cases/{again_no}", routing.http),
        )
        .await;
        s == 200
            && v["held_reason"]
                .as_str()
                .is_some_and(|r| r.contains("awaiting a clerk's confirmation"))
    })
    .await;
    let again_view = format!("http://{}/v1/cases/{again_no}", intake.http);
    assert_eq!(get(&http, &again_view).await.1["status"], "registered");
    let (status, body) = post(
        &http,
        &format!("http://{}/v1/cases/{again_no}/repeat", intake.http),
        json!({"decision": "confirm", "reason": "经核实，与已终结事项事实和理由相同"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    env.wait_for("the confirmed refusal applied", 30, async || {
        get(&http, &again_view).await.1["status"] == "not_reaccepted"
    })
    .await;

    env.stop().await;
}
