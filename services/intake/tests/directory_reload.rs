//! Issue #17, item 5, for intake: the department directory changes without a restart. Intake
//! serves `POST /v1/directory/reload`; a department added to the file may be named by a
//! clerk's reclassification at once, and a bad file is refused with the running directory
//! kept.

use serde_json::{Value, json};
use xinfang_platform::testing::TestEnv;

#[tokio::test]
async fn a_reloaded_directory_lets_a_clerk_route_to_a_new_department() {
    let env = TestEnv::start(|_| {}, "")
        .await
        .expect("local NATS, Postgres and Redis must be running");
    let started = xinfang_intake::service::start(env.infra.clone())
        .await
        .expect("intake starts");
    let base = format!("http://{}", started.http);
    let http = reqwest::Client::new();
    let file = env.infra.settings.platform.paths.directory.clone();
    let raw = std::fs::read_to_string(&file).unwrap();
    let (status, r) = {
        let r = http
            .post(format!("{base}/v1/petitions"))
            .json(&json!({
                "channel": "letter",
                "petitioner": {"name": "测试人", "id_number": "411203195202145284", "mobile": "13800138000"},
                "text": "某公司拖欠我三个月工资，多次讨要无果，请求帮助追讨。",
                "county": env.county.to_string(),
                "received_at": chrono::Utc::now(),
                "clerk_id": "clerk-1",
            }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 201, "{r}");
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let reclassify = async || {
        http.patch(format!("{base}/v1/cases/{case_no}/classification"))
            .json(&json!({"department": "xdept", "by": "clerk-7", "reason": "新设局主管"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let reload = async || {
        let r = http
            .post(format!("{base}/v1/directory/reload"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };

    // Not a department yet.
    assert_eq!(reclassify().await, 422);
    // The operator adds it and reloads intake.
    std::fs::write(
        &file,
        format!("{raw}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n"),
    )
    .unwrap();
    let (status, done) = reload().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["changed"], true, "{done}");
    assert_eq!(reclassify().await, 200);
    let case: Value = http
        .get(format!("{base}/v1/cases/{case_no}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(case["suggested_department"], json!("xdept"), "{case}");

    // A bad file: refused, and the department stays known.
    std::fs::write(&file, "[[county]]\ncode = \"bad\"\nname = \"坏\"\n").unwrap();
    let (status, refused) = reload().await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "directory_invalid", "{refused}");
    assert_eq!(reclassify().await, 200);
    env.stop().await;
}
