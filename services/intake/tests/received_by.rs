//! Art 23 paras 1-2: an organ other than the 信访部门 that registers a petition handed to it
//! directly says so (`received_by`); `case.registered` carries it, so supervision starts that
//! organ's 15-day written notice (D2) instead of the bureau's D1.

use serde_json::{Value, json};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::testing::TestEnv;

#[tokio::test]
async fn the_receiving_organ_travels_on_the_registered_event() {
    let env = TestEnv::start(|_| {}, "")
        .await
        .expect("local infrastructure");
    let started = xinfang_intake::service::start(env.infra.clone())
        .await
        .expect("intake starts");
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/petitions", started.http);
    let petition = |mobile: &str, received_by: Option<&str>| {
        let mut p = json!({
            "channel": "visit",
            "petitioner": {"name": "测试人", "mobile": mobile},
            "text": "单位拖欠我三个月工资，多次讨要无果，请求责令支付。",
            "county": env.county.to_string(),
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-rsj",
        });
        if let Some(r) = received_by {
            p["received_by"] = json!(r);
        }
        p
    };
    let post = async |body: Value| {
        let r = http.post(&url).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    // Not a department code: refused naming the field.
    let (status, body) = post(petition("13800138001", Some("人社局"))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "received_by");
    let (status, direct) = post(petition("13800138002", Some("rsj"))).await;
    assert_eq!(status, 201, "{direct}");
    let (status, bureau) = post(petition("13800138003", None)).await;
    assert_eq!(status, 201, "{bureau}");
    let filter = subject::family_filter(&env.county, "case").unwrap();
    env.wait_for("two registered events", 20, async || {
        env.read(&env.county, &filter).await.len() >= 2
    })
    .await;
    let events: Vec<Envelope> = env
        .read(&env.county, &filter)
        .await
        .iter()
        .map(|m| Envelope::from_bytes(&m.payload).unwrap())
        .collect();
    let of = |case: &Value| {
        events
            .iter()
            .find(|e| e.case_id.as_deref() == case["case_no"].as_str())
            .unwrap()
            .data
            .clone()
    };
    assert_eq!(of(&direct)["received_by"], "rsj");
    // Received by the bureau: the field is absent, as on events of older releases.
    assert!(of(&bureau).get("received_by").is_none());
    env.stop().await;
}
