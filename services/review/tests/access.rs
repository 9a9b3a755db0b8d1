//! Review's staff routes need a reviewer, clerk or operator token covering the case's county;
//! the petitioner's routes need none.

use serde_json::json;
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_platform::testing::TestEnv;

#[tokio::test]
async fn staff_routes_refuse_missing_wrong_and_out_of_scope_tokens() {
    let env = TestEnv::start(|p| p.security.auth_required = true, "")
        .await
        .unwrap();
    let started = xinfang_review::service::start(env.infra.clone())
        .await
        .unwrap();
    let store = started.host.auth.store().expect("auth on").clone();
    let county = env.county.clone();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let reviewer = store
        .create(Role::Reviewer, &county, None, "reviewer")
        .await
        .unwrap()
        .token;
    let city_reviewer = store
        .create(Role::Reviewer, &env.city, None, "city reviewer")
        .await
        .unwrap()
        .token;
    let outsider = store
        .create(Role::Reviewer, &neighbour, None, "other county")
        .await
        .unwrap()
        .token;
    let dept = store
        .create(Role::Department, &county, Some("rsj"), "rsj")
        .await
        .unwrap()
        .token;

    let http = reqwest::Client::new();
    let case_no = format!("XF-{county}-2026-000001");
    let url = format!("http://{}/v1/reviews/{case_no}/decision", started.http);
    let body = json!({"level": "review", "outcome": "uphold", "text": "维持原处理意见", "served_on": "2026-11-20", "decided_by": "reviewer-1"});
    let status = |t: Option<&str>| {
        let mut r = http.post(&url).json(&body);
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(
        status(Some(&dept)).await,
        403,
        "a department records no review decision"
    );
    assert_eq!(
        status(Some(&outsider)).await,
        403,
        "another county's reviewer"
    );
    for t in [&reviewer, &city_reviewer] {
        let s = status(Some(t)).await;
        assert!(
            s != 401 && s != 403,
            "an entitled reviewer passes access control (got {s})"
        );
    }
    let show = format!("http://{}/v1/reviews/{case_no}", started.http);
    assert_eq!(http.get(&show).send().await.unwrap().status().as_u16(), 401);
    let terms = format!(
        "http://{}/v1/terminations?petitioner_key={}",
        started.http,
        "a".repeat(64)
    );
    assert_eq!(
        http.get(&terms)
            .bearer_auth(&dept)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    // A clerk's request needs a token; the petitioner's (query code + ID number) does not.
    let req = format!("http://{}/v1/reviews", started.http);
    let by_clerk = http
        .post(&req)
        .json(&json!({"case_no": case_no, "clerk_id": "c1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_clerk.status().as_u16(), 401);
    let by_petitioner = http
        .post(&req)
        .json(&json!({"query_code": "ABCDEFGH", "id_number": "411203195202145284"}))
        .send()
        .await
        .unwrap();
    assert!(
        ![401, 403].contains(&by_petitioner.status().as_u16()),
        "{}",
        by_petitioner.status()
    );
    env.stop().await;
}
