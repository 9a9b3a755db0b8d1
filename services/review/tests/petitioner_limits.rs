//! Guessing is slowed (issue #12, item 4): the routes a petitioner reaches with a query code,
//! `POST /v1/evaluations` and `POST /v1/reviews`, are rate-limited per client address and per
//! code (`review.rate_limit`). Clients bind distinct loopback addresses (127.0.0.x).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{Harness, ID, OTHER_ID};
use serde_json::{Value, json};

/// `POST path` with `body` from `127.0.0.<from>`.
async fn post_from(h: &Harness, from: u8, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::from([127, 0, 0, from]))
        .build()
        .unwrap()
        .post(h.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A 429 `rate_limited` with a `Retry-After` of 1..=`window` seconds.
async fn assert_limited(r: reqwest::Response, window: u64) {
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(!body.to_string().contains(ID), "{body}");
}

fn rating(code: &str) -> Value {
    json!({"query_code": code, "bureau": "满意", "unit": "满意"})
}

#[tokio::test]
async fn requests_by_query_code_are_limited_per_address_and_per_code() {
    let h = Harness::start("[review.rate_limit]\nwindow_secs = 5\nper_address = 2\nper_code = 3\n")
        .await;
    let county = h.county();
    let r = h.registered("rsj", &county);
    h.case_through_reply(&r, true, h.days_ago(1)).await;

    // Unknown codes from one address: two answers, then 429 on either route.
    for code in ["NOSUCH01", "NOSUCH02"] {
        let resp = post_from(&h, 1, "/v1/evaluations", rating(code)).await;
        assert_eq!(resp.status(), 404);
    }
    assert_limited(
        post_from(&h, 1, "/v1/evaluations", rating("NOSUCH03")).await,
        5,
    )
    .await;
    let right = json!({"query_code": r.query_code, "id_number": ID, "grounds": "事实不清"});
    assert_limited(post_from(&h, 1, "/v1/reviews", right.clone()).await, 5).await;

    // Another address is not affected: the petitioner's request goes through.
    let resp = post_from(&h, 2, "/v1/reviews", right).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);

    // One code from ever new addresses (guessing the ID number behind it): the per-code
    // limit (3, the request above included) trips before the ID-number lockout (5).
    let wrong = json!({"query_code": r.query_code, "id_number": OTHER_ID});
    for from in [3, 4] {
        let resp = post_from(&h, from, "/v1/reviews", wrong.clone()).await;
        assert_eq!(resp.status(), 403, "from 127.0.0.{from}");
    }
    assert_limited(post_from(&h, 5, "/v1/reviews", wrong.clone()).await, 5).await;
    assert_limited(
        post_from(&h, 6, "/v1/evaluations", rating(&r.query_code)).await,
        5,
    )
    .await;

    // The window ends: the address and the code are taken again.
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let resp = post_from(&h, 1, "/v1/evaluations", rating("NOSUCH04")).await;
    assert_eq!(resp.status(), 404);
    let resp = post_from(&h, 6, "/v1/evaluations", rating(&r.query_code)).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);

    // The OpenAPI document lists the 429 with its Retry-After.
    let (_, doc) = h.get(&h.url("/openapi.json")).await;
    for path in ["/v1/reviews", "/v1/evaluations"] {
        let r429 = &doc["paths"][path]["post"]["responses"]["429"];
        assert!(r429["headers"]["Retry-After"].is_object(), "{path}: {r429}");
    }
    h.stop().await;
}

#[test]
fn every_petitioner_route_is_rate_limited() {
    use xinfang_platform::route_table::Access;
    let mut petitioner: Vec<(String, String)> = xinfang_review::api::routes()
        .routes()
        .iter()
        .filter(|r| r.access == Access::Petitioner)
        .map(|r| (r.method().to_string(), r.path.clone()))
        .collect();
    let mut limited: Vec<(String, String)> = xinfang_review::api::rate_limited_routes()
        .iter()
        .map(|g| (g.method.to_string(), g.path.to_owned()))
        .collect();
    petitioner.sort();
    limited.sort();
    assert_eq!(petitioner.len(), 2, "{petitioner:?}");
    assert_eq!(petitioner, limited);
}
