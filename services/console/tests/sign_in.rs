//! Sign-in, lockout, CSRF and the per-session service token, against the real stack.

mod common;

use std::time::Duration;

use common::{Browser, PASSWORD, Stack};
use xinfang_console::session::SESSION_COOKIE;

#[tokio::test]
async fn sign_in_lockout_csrf_and_the_session_token() {
    let s = Stack::start("sign_in_attempts = 3\nsign_in_lockout_secs = 60\n").await;
    let city = s.env.city.to_string();
    let county = s.env.county.to_string();
    s.user("clerk1", "clerk", &city, None).await;
    s.user("rsj1", "department", &county, Some("rsj")).await;

    // Not signed in: pages send you to the sign-in form.
    let mut anon = Browser::new(s.console);
    let p = anon.get("/clerk").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location.as_deref(), Some("/login"));

    // A right password lands on the role's page.
    let mut clerk = Browser::new(s.console);
    assert_eq!(
        clerk.sign_in("clerk1", PASSWORD).await,
        (303, "/clerk".to_owned())
    );
    let session_id = clerk
        .cookies
        .iter()
        .find(|(k, _)| k == SESSION_COOKIE)
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    let session = s
        .state
        .load_session(&session_id)
        .await
        .expect("stored in Redis");
    assert_eq!(session.role.as_str(), "clerk");

    // The session's token is a clerk's for the services, and the browser never sees it.
    let http = reqwest::Client::new();
    let cases = format!("{}/v1/cases", s.urls.intake);
    let r = http
        .get(&cases)
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = clerk.get("/clerk").await;
    assert!(!page.body.contains(&session.token));

    // A form without the page's CSRF token is refused, even with the session cookie.
    clerk.csrf = "forged".into();
    let p = clerk.post("/logout", &[]).await;
    assert_eq!(p.status, 403);
    assert!(
        s.state.load_session(&session_id).await.is_some(),
        "still signed in"
    );

    // Sign-out ends the session and revokes the token.
    clerk.get("/clerk").await;
    let p = clerk.post("/logout", &[]).await;
    assert_eq!(p.location.as_deref(), Some("/login"));
    assert!(s.state.load_session(&session_id).await.is_none());
    let r = http
        .get(&cases)
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a signed-out session's token is revoked");

    // Wrong passwords: the same answer as an unknown name, then a lock that holds even for the
    // right password.
    let mut guesser = Browser::new(s.console);
    for _ in 0..3 {
        let (status, _) = guesser.sign_in("rsj1", "wrong-password").await;
        assert_eq!(status, 200);
    }
    let mut unknown = Browser::new(s.console);
    unknown.get("/login").await;
    let p = unknown
        .post(
            "/login",
            &[("username", "nobody"), ("password", "wrong-password")],
        )
        .await;
    assert!(p.body.contains("用户名或密码错误"));
    let mut owner = Browser::new(s.console);
    let (status, _) = owner.sign_in("rsj1", PASSWORD).await;
    assert_eq!(status, 200, "locked");
    let p = owner.get("/login").await;
    assert!(p.body.contains("登录"));

    // A department user cannot open a supervisor's page.
    s.user("rsj2", "department", &county, Some("rsj")).await;
    let mut dept = s.sign_in("rsj2").await;
    let p = dept.get("/board").await;
    assert_eq!(p.status, 403, "{}", p.body);
    s.stop().await;
}

#[tokio::test]
async fn session_tokens_expire_on_their_own() {
    let s = Stack::start("").await;
    let t = s
        .state
        .auth
        .create_expiring(
            xinfang_domain::access::Role::Clerk,
            &s.env.city,
            None,
            "expiry test",
            Some(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(s.state.auth.authenticate(&t.token).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(s.state.auth.authenticate(&t.token).await.unwrap().is_none());
    s.stop().await;
}
