//! The services' APIs on the console's origin.

mod common;

use common::Stack;
use serde_json::json;
use xinfang_domain::access::Role;

#[tokio::test]
async fn every_api_answers_on_the_console_origin_with_its_own_token_checks() {
    let s = Stack::start("").await;
    let clerk = s
        .state
        .auth
        .create(Role::Clerk, &s.env.city, None, "gateway test")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let petition = json!({
        "channel": "letter",
        "petitioner": {"name": "测试人", "id_number": "11010519491231002X", "mobile": "13800138000"},
        "text": "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。",
        "county": s.env.county.to_string(),
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    });
    // Without a token the intake API refuses, as it does on its own port.
    let r = http
        .post(s.url("/v1/petitions"))
        .json(&petition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = http
        .post(s.url("/v1/petitions"))
        .bearer_auth(&clerk.token)
        .json(&petition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let receipt: serde_json::Value = r.json().await.unwrap();
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    // Intake's view, routing's and supervision's all through the one origin.
    let r = http
        .get(s.url(&format!("/v1/cases/{case_no}")))
        .bearer_auth(&clerk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let view: serde_json::Value = r.json().await.unwrap();
    assert_eq!(view["case_no"], case_no.as_str(), "{view}");
    let r = http
        .get(s.url("/v1/deadlines"))
        .bearer_auth(&clerk.token)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status() == 403,
        "{}",
        r.status()
    );
    // A validation error keeps the service's JSON shape.
    let r = http
        .post(s.url("/v1/petitions"))
        .bearer_auth(&clerk.token)
        .json(&json!({"channel": "pigeon"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(e["error"]["message"].is_string(), "{e}");
    // The session cookie is not a credential for the API.
    s.user("clerk1", "clerk", &s.env.city.to_string(), None)
        .await;
    let b = s.sign_in("clerk1").await;
    let cookie = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let r = http
        .get(s.url("/v1/cases"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http.get(s.url("/v1/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    s.stop().await;
}
