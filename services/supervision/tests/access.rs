//! Supervision's HTTP API with bearer tokens: 督办 and KPIs are for supervisors in scope.

use serde_json::json;
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_platform::testing::TestEnv;

#[tokio::test]
async fn supervision_and_kpis_refuse_callers_without_the_role_or_scope() {
    let env = TestEnv::start(|p| p.security.auth_required = true, "")
        .await
        .unwrap();
    let started = xinfang_supervision::service::start(env.infra.clone())
        .await
        .unwrap();
    let store = started.host.auth.store().expect("auth on").clone();
    let county = env.county.clone();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let supervisor = store
        .create(Role::Supervisor, &env.city, None, "city supervisor")
        .await
        .unwrap()
        .token;
    let outsider = store
        .create(Role::Supervisor, &neighbour, None, "neighbour")
        .await
        .unwrap()
        .token;
    let clerk = store
        .create(Role::Clerk, &county, None, "clerk")
        .await
        .unwrap()
        .token;
    let http = reqwest::Client::new();
    let base = format!("http://{}", started.http);
    let respond_by = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let body = json!({
        "case_no": format!("XF-{county}-2026-000001"), "department": "rsj", "form": "written_notice",
        "issuer": "sup-1", "note": "请于七日内报告办理进展", "respond_by": respond_by,
    });
    let post = |t: Option<String>| {
        let mut r = http.post(format!("{base}/v1/supervisions")).json(&body);
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(None).await, 401);
    assert_eq!(
        post(Some(clerk.clone())).await,
        403,
        "a clerk issues no 督办"
    );
    assert_eq!(
        post(Some(outsider.clone())).await,
        403,
        "another county's supervisor"
    );
    assert_eq!(
        post(Some(supervisor.clone())).await,
        201,
        "the city's supervisor"
    );
    let stats = |t: &str| {
        http.get(format!("{base}/v1/stats?county={county}"))
            .bearer_auth(t.to_owned())
            .send()
    };
    assert_eq!(stats(&clerk).await.unwrap().status().as_u16(), 403);
    assert_eq!(stats(&outsider).await.unwrap().status().as_u16(), 403);
    assert_eq!(stats(&supervisor).await.unwrap().status().as_u16(), 200);
    env.stop().await;
}
