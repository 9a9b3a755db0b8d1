//! Production logs are JSON, and the logs of a whole case — registration, routing,
//! deadlines, acceptance, reply, notices, a review request — contain no ID number, phone
//! number or name of the petitioner.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use xinfang_platform::config::{LogFormat, OtlpProtocol, Telemetry};
use xinfang_platform::testing::TestEnv;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const NAME: &str = "欧阳测试";
const MOBILE: &str = "13987654321";
const ID: &str = "411203195202145284";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_case_logs_no_personal_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _guard = xinfang_platform::telemetry::init_with_writer(
        "xinfang-test",
        &Telemetry {
            format: LogFormat::Json,
            filter: "info,xinfang_intake=debug,xinfang_routing=debug,xinfang_supervision=debug,\
                     xinfang_review=debug,xinfang_notify=debug,xinfang_platform=debug"
                .into(),
            otlp_endpoint: String::new(),
            otlp_protocol: OtlpProtocol::Protobuf,
            otlp_queue_size: 2048,
        },
        BoxMakeWriter::new(move || writer.clone()),
    )
    .unwrap();

    let env = TestEnv::start(|_| {}, "").await.unwrap();
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    let routing = xinfang_routing::service::start(env.infra.clone())
        .await
        .unwrap();
    xinfang_supervision::service::start(env.infra.clone())
        .await
        .unwrap();
    let review = xinfang_review::service::start(env.infra.clone())
        .await
        .unwrap();
    xinfang_notify::service::start(env.infra.clone())
        .await
        .unwrap();
    let http = reqwest::Client::new();

    // A bad registration too: its error must not echo the data either.
    let bad = http
        .post(format!("http://{}/v1/petitions", intake.http))
        .json(&json!({"channel": "letter", "petitioner": {"name": NAME, "mobile": "1398765432", "id_number": ID},
            "text": "x", "county": env.county.to_string(), "received_at": chrono::Utc::now(), "clerk_id": "c1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);

    let r: Value = http
        .post(format!("http://{}/v1/petitions", intake.http))
        .json(&json!({
            "channel": "visit",
            "petitioner": {"name": NAME, "mobile": MOBILE, "id_number": ID, "email": "ouyang@example.cn",
                           "address": "测试县某街道1号"},
            "text": "工地包工头欠我半年工钱共三万元，电话不接，请求人社部门帮忙追讨。",
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
    let case_url = format!("http://{}/v1/cases/{case_no}", intake.http);
    env.wait_for("routing to assign the case", 30, async || {
        let v: Value = http
            .get(&case_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["current_department"].is_string()
    })
    .await;
    let v: Value = http
        .get(&case_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dept = v["current_department"].as_str().unwrap().to_owned();
    let act = |action: &str, extra: Value| {
        let mut body = json!({"case_no": case_no, "request_id": uuid::Uuid::new_v4().to_string()});
        for (k, val) in extra.as_object().unwrap() {
            body[k] = val.clone();
        }
        http.post(format!(
            "http://{}/v1/cases/{case_no}/actions/{action}",
            routing.http
        ))
        .header("x-xf-department", dept.clone())
        .json(&body)
        .send()
    };
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    let a = act("accept", json!({"accepted_on": today})).await.unwrap();
    assert!(a.status().is_success(), "{}", a.text().await.unwrap());
    let rep = act("reply", json!({"outcome": "supported", "text": "经核查，责令公司支付拖欠工资。", "served_on": today}))
        .await
        .unwrap();
    assert!(rep.status().is_success(), "{}", rep.text().await.unwrap());
    env.wait_for("the reply in the registry", 30, async || {
        let v: Value = http
            .get(&case_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["status"] == "replied"
    })
    .await;
    // The petitioner asks for 复查 with the query code and ID number.
    let _ = http
        .post(format!("http://{}/v1/reviews", review.http))
        .json(&json!({"query_code": r["query_code"], "id_number": ID, "grounds": "不服"}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    env.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(
        lines.len() > 20,
        "the case was logged ({} lines)",
        lines.len()
    );
    for l in &lines {
        assert!(
            serde_json::from_str::<Value>(l).is_ok(),
            "not a JSON log line: {l}"
        );
    }
    assert!(logs.contains(&case_no), "logs name the case");
    for secret in [
        NAME,
        MOBILE,
        ID,
        "1398765432",
        "ouyang@example.cn",
        "测试县某街道1号",
        &ID[..14],
    ] {
        assert!(
            !logs.contains(secret),
            "personal data {secret:?} in the logs"
        );
    }
}
