//! End-to-end smoke test: the five services in one process (as `xinfang up` runs them) on a
//! fresh county code and database over the real NATS, Postgres and Redis.

use serde_json::{Value, json};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::testing::TestEnv;

#[tokio::test]
async fn all_services_start_and_an_event_changes_the_registry() {
    let env = TestEnv::start(|_| {}, "")
        .await
        .expect("local infrastructure");
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    let others = [
        xinfang_routing::service::start(env.infra.clone())
            .await
            .unwrap(),
        xinfang_supervision::service::start(env.infra.clone())
            .await
            .unwrap(),
        xinfang_review::service::start(env.infra.clone())
            .await
            .unwrap(),
        xinfang_notify::service::start(env.infra.clone())
            .await
            .unwrap(),
    ];
    let http = reqwest::Client::new();
    for s in std::iter::once(&intake).chain(others.iter()) {
        let r = http
            .get(format!("http://{}/readyz", s.http))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{} not ready", s.host.name);
        let m = http
            .get(format!("http://{}/metrics", s.http))
            .send()
            .await
            .unwrap();
        assert_eq!(m.status().as_u16(), 200);
    }

    let petition = json!({
        "channel": "online",
        "petitioner": {"name": "测试人", "mobile": "13800138000"},
        "text": "公司拖欠我三个月工资共一万八千元，多次讨要未果，请求责令支付。",
        "county": env.county.to_string(),
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    });
    let r = http
        .post(format!("http://{}/v1/petitions", intake.http))
        .json(&petition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let receipt: Value = r.json().await.unwrap();
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();

    // The registration left through the outbox onto the county's stream.
    let filter = subject::case_event(&env.county, "registered")
        .unwrap()
        .to_string();
    env.wait_for("case.registered on the stream", 20, async || {
        !env.read(&env.county, &filter).await.is_empty()
    })
    .await;

    // A department's acceptance, published as an event, is consumed by intake's registry.
    let accepted = Envelope::new(
        "accepted",
        Some(case_no.clone()),
        env.county.clone(),
        chrono::Utc::now(),
        json!({"case_no": case_no, "department": "rsj", "accepted_on": "2026-11-26", "at": chrono::Utc::now()}),
    )
    .unwrap();
    xinfang_platform::nats::publish(
        env.js(),
        &subject::case_event(&env.county, "accepted").unwrap(),
        &accepted,
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let url = format!("http://{}/v1/cases/{case_no}", intake.http);
    env.wait_for("the registry to show the acceptance", 30, async || {
        let v: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        v["milestones"]["accepted_at"].is_string()
    })
    .await;

    // Prometheus metrics: events per consumer and subject, HTTP by route with latency,
    // outbox backlog and consumer backlog gauges.
    let text = http
        .get(format!("http://{}/metrics", intake.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "xf_events_handled_total{",
        "consumer=\"intake_registry_case\"",
        &format!("subject=\"xf.{}.case.accepted\"", env.county),
        "xf_http_requests_total{",
        "route=\"/v1/petitions\"",
        "xf_http_request_duration_seconds_bucket",
        "xf_outbox_backlog",
        "xf_consumer_pending",
        "xf_petitions_registered_total",
    ] {
        assert!(text.contains(series), "metrics lack {series}");
    }
    env.stop().await;
}
