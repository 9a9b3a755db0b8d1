//! The delivery log needs a token whose scope covers the case's county.

use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_platform::testing::TestEnv;

#[tokio::test]
async fn the_delivery_log_refuses_missing_and_out_of_scope_tokens() {
    let env = TestEnv::start(|p| p.security.auth_required = true, "")
        .await
        .unwrap();
    let started = xinfang_notify::service::start(env.infra.clone())
        .await
        .unwrap();
    let store = started.host.auth.store().expect("auth on").clone();
    let neighbour = CountyCode::parse(&format!("{}02", &env.county.as_str()[..4])).unwrap();
    let own = store
        .create(Role::Supervisor, &env.county, None, "own")
        .await
        .unwrap()
        .token;
    let other = store
        .create(Role::Supervisor, &neighbour, None, "other")
        .await
        .unwrap()
        .token;
    let url = format!(
        "http://{}/v1/cases/XF-{}-2026-000001/deliveries",
        started.http, env.county
    );
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 401);
    assert_eq!(
        http.get(&url)
            .bearer_auth(&other)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&own)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    env.stop().await;
}
