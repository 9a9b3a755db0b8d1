//! Issue #20, end to end over the real NATS, Postgres and Redis: intake, routing, supervision
//! and review run together; a petition is registered, accepted, answered with a 信访处理意见书,
//! reviewed (复查, county government) and re-reviewed (复核, city government) and terminated.
//! Then intake's registry shows every deadline supervision kept, with its due time and how it
//! ended (met, withdrawn — not `cancelled`), learnt from supervision's events only; the
//! petitioner's query view shows each decision with its outcome, the organ to appeal to and the
//! last day to do it; `xinfang case show` prints the deadlines; and a clerk finds the case in
//! the 终结库 by the petitioner's ID number.

mod common;

use common::{get, post};
use serde_json::{Value, json};
use xinfang_domain::deadline::{CST, cst_date};
use xinfang_platform::testing::TestEnv;

const ID: &str = "11010519491231002X";
const MOBILE: &str = "13800138000";
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

#[tokio::test]
async fn the_registry_shows_every_deadline_and_the_petitioner_every_decision() {
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
            "petitioner": {"name": "测试人", "id_number": ID, "mobile": MOBILE},
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
        c["diversion"].is_null() && (c["branch"].is_null() || c["branch"] == "31_6"),
        "the test needs an Art 31(6) matter: {receipt}"
    );
    let intake_view = format!("http://{}/v1/cases/{case_no}", intake.http);
    let deadline = async |code: &str| -> Value {
        let (_, v) = get(&http, &intake_view).await;
        v["deadlines"][code].clone()
    };

    // Before anything is assigned the registry already shows the bureau's D1 with its due time.
    env.wait_for("D1 in the registry", 30, async || {
        deadline("D1").await["due"].is_string()
    })
    .await;

    let routing_view = format!("http://{}/v1/cases/{case_no}", routing.http);
    let mut lead = String::new();
    env.wait_for("routing to assign the case", 30, async || {
        let (s, v) = get(&http, &routing_view).await;
        match (s, v["lead"].as_str()) {
            (200, Some(o)) => {
                lead = o.to_owned();
                true
            }
            _ => false,
        }
    })
    .await;
    let act = |action: &str| {
        format!(
            "http://{}/v1/cases/{case_no}/actions/{action}",
            routing.http
        )
    };
    for (action, body) in [
        ("accept", json!({"accepted_on": today})),
        (
            "reply",
            json!({"outcome": "not_supported", "text": "经调查核实，不予支持。", "served_on": today}),
        ),
    ] {
        let mut body = body;
        body["request_id"] = json!(uuid::Uuid::now_v7());
        let r = http
            .post(act(action))
            .header("x-xf-department", &lead)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let review_view = format!("http://{}/v1/reviews/{case_no}", review.http);
    env.wait_for("review to hold the served opinion", 30, async || {
        let (s, v) = get(&http, &review_view).await;
        s == 200 && v["is_handling_opinion"] == true
    })
    .await;

    // The petitioner sees the opinion, where to ask for 复查 and by when.
    let query = format!("http://{}/v1/query/{query_code}", intake.http);
    let mut seen = Value::Null;
    env.wait_for(
        "the opinion and its 复查 window in the query view",
        30,
        async || {
            let (_, v) = get(&http, &query).await;
            seen = v.clone();
            v["decisions"][0]["appeal"]["due"].is_string()
        },
    )
    .await;
    let reply = &seen["decisions"][0];
    assert_eq!(reply["level"], "reply", "{seen}");
    assert_eq!(reply["outcome"], "not_supported", "{seen}");
    assert_eq!(reply["outcome_zh"], "不予支持", "{seen}");
    assert_eq!(reply["appeal"]["organ"], format!("{county}:gov"), "{seen}");
    assert_eq!(reply["appeal"]["organ_name"], "测试县人民政府", "{seen}");
    assert_eq!(
        reply["appeal"]["due"],
        deadline("D7").await["due"],
        "{seen}"
    );
    let raw = seen.to_string();
    assert!(!raw.contains(ID) && !raw.contains(MOBILE) && !raw.contains("测试人"));

    // 复查 at the county government, 复核 at the city government.
    let reviews = format!("http://{}/v1/reviews", review.http);
    let ask = json!({"query_code": query_code, "id_number": ID});
    let decide = format!("http://{}/v1/reviews/{case_no}/decision", review.http);
    let decision = |level: &str| {
        json!({"level": level, "outcome": "uphold", "text": "维持原处理意见。",
               "served_on": today, "decided_by": "审核员"})
    };
    let (status, body) = post(&http, &reviews, ask.clone()).await;
    assert_eq!(status, 201, "{body}");
    // The registry shows the county government's D8 as the receipt states it.
    env.wait_for("D8 in the registry", 30, async || {
        deadline("D8").await["state"] == "pending"
    })
    .await;
    let d8 = deadline("D8").await;
    assert_eq!(d8["department"], format!("{county}:gov"));
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(d8["due"].as_str().unwrap()).unwrap(),
        chrono::DateTime::parse_from_rfc3339(body["decide_by"].as_str().unwrap()).unwrap(),
        "{d8} / {body}"
    );
    let (status, body) = post(&http, &decide, decision("review")).await;
    assert_eq!(status, 201, "{body}");
    env.wait_for(
        "the 复查 decision and its 复核 window",
        30,
        async || {
            let (_, v) = get(&http, &query).await;
            v["decisions"][1]["appeal"]["due"].is_string()
        },
    )
    .await;
    let (_, v) = get(&http, &query).await;
    let rev = &v["decisions"][1];
    assert_eq!(rev["level"], "review", "{v}");
    assert_eq!(rev["outcome_zh"], "维持", "{v}");
    assert_eq!(rev["by"], format!("{county}:gov"), "{v}");
    assert_eq!(rev["appeal"]["organ"], format!("{city}:gov"), "{v}");
    assert_eq!(rev["appeal"]["due"], deadline("D9").await["due"], "{v}");

    let (status, body) = post(&http, &reviews, ask.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organ"], format!("{city}:gov"));
    env.wait_for("the 复核 request recorded", 20, async || {
        let (_, v) = get(&http, &review_view).await;
        v["appeals"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let (status, body) = post(&http, &decide, decision("rereview")).await;
    assert_eq!(status, 201, "{body}");
    env.wait_for("intake to show the case terminated", 30, async || {
        get(&http, &intake_view).await.1["status"] == "terminated"
    })
    .await;

    // Every clock, with its due time and how it ended.
    env.wait_for("D10 met in the registry", 30, async || {
        deadline("D10").await["state"] == "met"
    })
    .await;
    let (_, view) = get(&http, &intake_view).await;
    let d = &view["deadlines"];
    for (code, state) in [
        ("D1", "met"),
        ("D3", "met"),
        ("D4", "withdrawn"),
        ("D5", "met"),
        ("D7", "met"),
        ("D8", "met"),
        ("D9", "met"),
        ("D10", "met"),
        ("eval", "withdrawn"),
    ] {
        assert_eq!(d[code]["state"], state, "{code}: {d}");
        assert!(d[code]["due"].is_string(), "{code}: {d}");
    }
    assert!(!d.to_string().contains("cancelled"), "{d}");
    // The same as supervision's own record.
    let (_, sup) = get(
        &http,
        &format!("http://{}/v1/deadlines?case_no={case_no}", supervision.http),
    )
    .await;
    for row in sup["deadlines"].as_array().unwrap() {
        let code = row["kind"].as_str().unwrap();
        if row["ref"].as_str().is_some_and(|r| r.is_empty()) && d[code]["state"] == row["state"] {
            assert_eq!(
                chrono::DateTime::parse_from_rfc3339(d[code]["due"].as_str().unwrap()).unwrap(),
                chrono::DateTime::parse_from_rfc3339(row["due_at"].as_str().unwrap()).unwrap(),
                "{code}"
            );
        }
    }
    let (_, v) = get(&http, &query).await;
    assert_eq!(v["decisions"][2]["level"], "rereview", "{v}");
    assert_eq!(v["decisions"][2]["final"], true, "{v}");
    assert!(v["decisions"][2]["appeal"].is_null(), "{v}");

    // `xinfang case show` prints them (a child process, awaited: intake serves it on this
    // test's runtime).
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xinfang"))
        .args(["case", "show", &case_no, "--api"])
        .arg(format!("http://{}", intake.http))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .expect("xinfang case show answers")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for code in ["D1", "D5", "D8", "D10"] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(code)
                && l.contains("due 20")
                && l.contains("met")),
            "{code} in\n{stdout}"
        );
    }

    // A clerk finds the terminated matter by the petitioner's ID number.
    let (status, body) = post(
        &http,
        &format!("http://{}/v1/terminations/search", review.http),
        json!({"id_number": ID, "county": county}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["terminations"][0]["case_no"], case_no, "{body}");

    env.stop().await;
}
