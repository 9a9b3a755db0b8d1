//! (temporary) the browser harness works.
mod browser;
mod common;

#[tokio::test]
async fn chromium_signs_in() {
    let s = common::Stack::start("").await;
    s.user("clerk1", "clerk", &s.env.city.to_string(), None)
        .await;
    let mut d = browser::Driver::start().await;
    let c = d.browser(false).await;
    browser::sign_in(&c, &s.url(""), "clerk1", common::PASSWORD).await;
    let url = c.current_url().await.unwrap();
    assert!(url.path().starts_with("/clerk"), "{url}");
    browser::screenshot(&c, "smoke").await;
    c.close().await.unwrap();
    s.stop().await;
}
