//! One case is one trace: a petition registered over HTTP with OTLP export pointed at a
//! receiver (an OTLP/HTTP JSON endpoint in this test), and the spans of intake, routing,
//! supervision and notify for that case share one trace id. Spans carry case number, county
//! and event type, and no personal data.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use xinfang_platform::config::{LogFormat, OtlpProtocol, Telemetry};
use xinfang_platform::testing::TestEnv;

#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    name: String,
    attributes: Vec<(String, String)>,
}

type Received = Arc<Mutex<Vec<Span>>>;

async fn receive(State(spans): State<Received>, body: Bytes) -> &'static str {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return "{}";
    };
    let mut out = Vec::new();
    for rs in v["resourceSpans"].as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let attributes = s["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let val = &a["value"];
                        let text = val["stringValue"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| val["intValue"].as_str().map(str::to_owned))
                            .or_else(|| val["intValue"].as_i64().map(|i| i.to_string()))
                            .unwrap_or_else(|| val.to_string());
                        (a["key"].as_str().unwrap_or("").to_owned(), text)
                    })
                    .collect();
                out.push(Span {
                    trace_id: s["traceId"].as_str().unwrap_or("").to_owned(),
                    name: s["name"].as_str().unwrap_or("").to_owned(),
                    attributes,
                });
            }
        }
    }
    spans.lock().unwrap().extend(out);
    "{}"
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    s.attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spans_of_every_service_for_a_case_share_one_trace() {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let _guard = xinfang_platform::telemetry::init(
        "xinfang-test",
        &Telemetry {
            format: LogFormat::Pretty,
            filter: "info,sqlx=warn,async_nats=warn".into(),
            otlp_endpoint: format!("http://{addr}/v1/traces"),
            otlp_protocol: OtlpProtocol::Json,
            otlp_queue_size: 65_536,
        },
    )
    .unwrap();

    let env = TestEnv::start(|_| {}, "").await.unwrap();
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    xinfang_routing::service::start(env.infra.clone())
        .await
        .unwrap();
    xinfang_supervision::service::start(env.infra.clone())
        .await
        .unwrap();
    xinfang_review::service::start(env.infra.clone())
        .await
        .unwrap();
    xinfang_notify::service::start(env.infra.clone())
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let name = "王测试";
    let mobile = "13912345678";
    let r: Value = http
        .post(format!("http://{}/v1/petitions", intake.http))
        .json(&json!({
            "channel": "online",
            "petitioner": {"name": name, "mobile": mobile},
            "text": "工地包工头欠我三个月工钱一万八千元，电话不接，请求人社部门帮忙追讨。",
            "county": env.county.to_string(),
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case_no = r["case_no"].as_str().expect("registered").to_owned();

    // notify_dept handles routing's dept.<dept>.assigned, one hop further down the trace.
    let wanted = [
        "intake_registry_case",
        "routing_case",
        "supervision_case",
        "notify_case",
        "notify_dept",
    ];
    env.wait_for("spans of every service for the case", 60, async || {
        xinfang_platform::telemetry::flush();
        let spans = received.lock().unwrap().clone();
        let Some(root) = spans.iter().find(|s| s.name == "POST /v1/petitions") else {
            return false;
        };
        wanted.iter().all(|consumer| {
            spans.iter().any(|s| {
                attr(s, "consumer") == Some(*consumer)
                    && attr(s, "case_id") == Some(case_no.as_str())
                    && s.trace_id == root.trace_id
            })
        })
    })
    .await;

    let spans = received.lock().unwrap().clone();
    let root = spans
        .iter()
        .find(|s| s.name == "POST /v1/petitions")
        .unwrap();
    let case_spans: Vec<&Span> = spans
        .iter()
        .filter(|s| attr(s, "case_id") == Some(case_no.as_str()))
        .collect();
    assert!(case_spans.len() >= wanted.len());
    for s in &case_spans {
        assert_eq!(
            s.trace_id, root.trace_id,
            "span {} left the case's trace",
            s.name
        );
        assert_eq!(attr(s, "county"), Some(env.county.as_str()), "{}", s.name);
        assert!(attr(s, "event_type").is_some(), "{}", s.name);
    }
    // No personal data in any span.
    for s in &spans {
        for (k, v) in &s.attributes {
            assert!(
                !v.contains(mobile) && !v.contains(name),
                "span {} attribute {k} carries personal data",
                s.name
            );
        }
    }
    env.stop().await;
}
