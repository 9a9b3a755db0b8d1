//! Department actions over HTTP with bearer tokens: a department acts only as itself.

mod common;

use common::{Harness, body, today};
use serde_json::json;
use xinfang_domain::access::Role;

#[tokio::test]
async fn a_department_token_acts_only_for_its_own_department() {
    let h = Harness::start_authenticated().await;
    let store = h.started.host.auth.store().expect("auth on").clone();
    let county = h.county();
    let rsj = store
        .create(Role::Department, &county, Some("rsj"), "rsj desk")
        .await
        .unwrap()
        .token;
    let zjj = store
        .create(Role::Department, &county, Some("zjj"), "zjj desk")
        .await
        .unwrap()
        .token;
    let clerk = store
        .create(Role::Clerk, &county, None, "clerk")
        .await
        .unwrap()
        .token;

    let r = h.registered("rsj");
    let case_no = r.case_no.clone();
    h.register(&r).await;
    h.wait_state(&case_no, "forwarded").await;
    let http = reqwest::Client::new();
    let url = h.url(&format!("/v1/cases/{case_no}/actions/accept"));
    let accept = || body(&case_no, json!({"accepted_on": today()}));

    let none = http.post(&url).json(&accept()).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 401, "no token");
    let as_clerk = http
        .post(&url)
        .bearer_auth(&clerk)
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert_eq!(as_clerk.status().as_u16(), 403, "a clerk is no department");
    let forged = http
        .post(&url)
        .bearer_auth(&zjj)
        .header("x-xf-department", "rsj")
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403, "zjj's token naming rsj");
    let other = http
        .post(&url)
        .bearer_auth(&zjj)
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert!(
        other.status().is_client_error(),
        "zjj is not assigned: {}",
        other.status()
    );
    let own = http
        .post(&url)
        .bearer_auth(&rsj)
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200, "{}", own.text().await.unwrap());
    h.stop().await;
}
