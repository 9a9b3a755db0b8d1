//! Intake and routing together over the real NATS, Postgres and Redis (issue #13, Decisions 7):
//! `docs/examples/petition.json` submitted twice — the second petition repeats a matter that is
//! finished (diverted into arbitration), so it gets a disposition of its own instead of being
//! merged silently and left to run out its D1; and an Art 19 para 3 refusal reaches the case
//! only after a clerk confirms it.

mod common;

use common::{get, post};
use serde_json::{Value, json};
use xinfang_platform::testing::{TestEnv, repo_root};

/// The README's example petitioner with a matter that belongs in labour arbitration (a
/// dismissal without compensation), so that it is finished — diverted — at registration.
fn example(county: &str) -> Value {
    let raw = std::fs::read_to_string(repo_root().join("docs/examples/petition.json")).unwrap();
    let mut p: Value = serde_json::from_str(&raw).unwrap();
    p["text"] = json!(
        "我在灵宝市一家商贸公司干了三年，上个月公司以业务调整为由把我辞退，没有签劳动合同，也不给经济补偿金。请求有关部门责令公司支付经济补偿。"
    );
    p["county"] = json!(county);
    p["received_at"] = json!(chrono::Utc::now());
    p
}

#[tokio::test]
async fn a_repeat_of_a_finished_matter_gets_its_own_disposition_and_a_refusal_waits_for_a_clerk() {
    let env = TestEnv::start(
        |_| {},
        "[routing]\noperator = \"tester\"\nhold_for_triage = false\n",
    )
    .await
    .expect("local NATS, Postgres and Redis must be running");
    let (city, county) = (env.city.to_string(), env.county.to_string());
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    let routing = xinfang_routing::service::start(env.infra.clone())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let petitions = format!("http://{}/v1/petitions", intake.http);
    let view = |case_no: &str| format!("http://{}/v1/cases/{case_no}", intake.http);

    let (s, first) = post(&http, &petitions, example(&county)).await;
    assert_eq!(s, 201, "{first}");
    let first_no = first["case_no"].as_str().unwrap().to_owned();
    let finished = first["classification"]["diversion"].clone();
    assert!(!finished.is_null(), "the example is diverted: {first}");
    env.wait_for("the first petition to be diverted", 30, async || {
        get(&http, &view(&first_no)).await.1["status"] == "diverted"
    })
    .await;

    // The same petition again: related to the finished case, and disposed of on its own.
    let (s, again) = post(&http, &petitions, example(&county)).await;
    assert_eq!(s, 201, "{again}");
    let again_no = again["case_no"].as_str().unwrap().to_owned();
    assert_eq!(again["repeat"]["of"], json!(first_no), "{again}");
    assert_eq!(again["repeat"]["disposition"], "related", "{again}");
    env.wait_for("the repeat to get its own disposition", 30, async || {
        get(&http, &view(&again_no)).await.1["status"] == "diverted"
    })
    .await;
    let (_, earlier) = get(&http, &view(&first_no)).await;
    assert_eq!(earlier["repeat_count"], 1, "not absorbed: {earlier}");

    // A matter still open at the county (a different one), raised with the city: the
    // 不予受理 is only proposed; routing holds it until a clerk confirms.
    let mut road = example(&county);
    road["text"] =
        json!("我村通往镇上的道路年久失修，坑洼不平，雨天积水严重，请求交通部门尽快修缮。");
    let (s, open) = post(&http, &petitions, road.clone()).await;
    assert_eq!(s, 201, "{open}");
    let open_no = open["case_no"].as_str().unwrap().to_owned();
    env.wait_for("the county case to be routed", 30, async || {
        let status = get(&http, &view(&open_no)).await.1["status"].clone();
        status == "forwarded" || status == "assigned"
    })
    .await;
    road["county"] = json!(city);
    road["received_at"] = json!(chrono::Utc::now());
    let (s, up) = post(&http, &petitions, road).await;
    assert_eq!(s, 201, "{up}");
    let up_no = up["case_no"].as_str().unwrap().to_owned();
    assert_eq!(up["repeat"]["of"], json!(open_no), "{up}");
    assert_eq!(up["repeat"]["disposition"], "not_accepted", "{up}");
    assert_eq!(up["repeat"]["proposed"], true, "{up}");
    let routing_view = format!("http://{}/v1/cases/{up_no}", routing.http);
    env.wait_for("routing to hold the proposal", 30, async || {
        let (s, v) = get(&http, &routing_view).await;
        s == 200
            && v["held_reason"]
                .as_str()
                .is_some_and(|r| r.contains("awaiting a clerk's confirmation"))
    })
    .await;
    assert_eq!(get(&http, &view(&up_no)).await.1["status"], "registered");
    let (s, r) = post(
        &http,
        &format!("http://{}/v1/cases/{up_no}/repeat", intake.http),
        json!({"decision": "confirm", "reason": "经核实，县级正在规定期限内办理同一事项"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    env.wait_for("the confirmed refusal applied", 30, async || {
        get(&http, &view(&up_no)).await.1["status"] == "not_accepted"
    })
    .await;
    let (_, v) = get(&http, &view(&up_no)).await;
    let events: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["event"].as_str())
        .collect();
    let confirmed = events.iter().position(|e| *e == "refusal_confirmed");
    let refused = events.iter().position(|e| *e == "not_accepted");
    assert!(
        matches!((confirmed, refused), (Some(c), Some(r)) if c < r),
        "the confirmation, then the refusal: {events:?}"
    );
    env.stop().await;
}
