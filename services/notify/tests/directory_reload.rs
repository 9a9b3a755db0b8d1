//! Issue #17, item 5, for notify: the department directory changes without a restart. Notify
//! reads the process's directory file (no test double for contacts here) and sends department
//! notices by SMS through a local HTTP gateway; after `POST /v1/directory/reload` a department
//! added to the file is notified at its number, and a changed number is used for the next
//! notice. A bad file is refused and the directory running before stays in use.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use serde_json::Value;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{AssignMode, DeptAssignment, DeptRole, kind};
use xinfang_domain::petition::PetitionType;
use xinfang_domain::subject;
use xinfang_notify::providers::http_sms::GatewayRequest;
use xinfang_notify::service::{self, Options};
use xinfang_platform::testing::TestEnv;

const NEW_DEPT_MOBILE: &str = "13911112222";
const ZJJ_NEW_MOBILE: &str = "13933334444";

type Received = Arc<Mutex<Vec<GatewayRequest>>>;

async fn gateway(State(got): State<Received>, body: Bytes) -> (StatusCode, String) {
    match serde_json::from_slice::<GatewayRequest>(&body) {
        Ok(r) => {
            let mut got = got.lock().unwrap();
            got.push(r);
            (StatusCode::OK, format!("{{\"id\":\"gw-{}\"}}", got.len()))
        }
        Err(_) => (StatusCode::BAD_REQUEST, "bad body".into()),
    }
}

async fn start_gateway() -> (Received, u16) {
    let got = Received::default();
    let app = axum::Router::new()
        .route("/sms", post(gateway))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (got, port)
}

fn to(got: &Received, number: &str) -> Vec<GatewayRequest> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|r| r.to == number)
        .cloned()
        .collect()
}

/// The mobile `directory_toml` gave `dept` in the test county.
fn mobile_in(raw: &str, county: &str, dept: &str) -> String {
    let section = raw
        .split("[[county]]")
        .find(|s| s.contains(&format!("code = \"{county}\"")))
        .unwrap();
    let block = section
        .split("[[county.department]]")
        .find(|b| b.contains(&format!("code = \"{dept}\"\n")))
        .unwrap();
    block
        .split("mobile = \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_reload_gives_notices_to_new_departments_and_new_numbers_and_a_bad_file_changes_nothing()
{
    let (got, gw_port) = start_gateway().await;
    let toml = format!(
        r#"
[notify]
bureau_name = "测试市信访局"
query_url = "https://xf.example.cn/q"

[notify.sender]
concurrency = 2
poll_interval_ms = 100
backoff_initial_ms = 100
backoff_max_ms = 300
max_attempts = 3
lease_secs = 30

[notify.sms]
provider = "http"

[notify.sms.http]
url = "http://127.0.0.1:{gw_port}/sms"
secret = "test-secret-0123456789"
timeout_secs = 5
"#
    );
    let env = TestEnv::start(|_| {}, &toml)
        .await
        .expect("local NATS, Postgres and Redis must be running (infra/local/up.sh)");
    let notify = service::start_with(env.infra.clone(), Options::default())
        .await
        .unwrap_or_else(|e| panic!("notify starts: {e:#}"));
    let county = env.county.clone();
    let dir_file = env.infra.settings.platform.paths.directory.clone();
    let raw = std::fs::read_to_string(&dir_file).unwrap();
    let zjj_old = mobile_in(&raw, &county.to_string(), "zjj");
    let base = format!("http://{}", notify.started.http);
    let http = reqwest::Client::new();
    let reload = async || {
        let r = http
            .post(format!("{base}/v1/directory/reload"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    let assign = async |dept: &str, case_no: &str| {
        let a = DeptAssignment {
            case_no: case_no.into(),
            department: dept.into(),
            role: DeptRole::Lead,
            mode: AssignMode::Assign,
            report_required: true,
            petition_type: PetitionType::Grievance,
            text: "拖欠工资".into(),
            petitioner: None,
            accept_by: Some(Utc::now()),
            addressee: None,
            deadlines: Default::default(),
            actions: Vec::new(),
        };
        let e = Envelope::new(
            kind::ASSIGNED,
            Some(case_no.to_owned()),
            county.clone(),
            Utc::now(),
            a,
        )
        .unwrap();
        xinfang_platform::nats::publish(
            env.js(),
            &subject::dept_event(&county, dept, kind::ASSIGNED).unwrap(),
            &e,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    };
    let deliveries = async |case_no: &str| -> i64 {
        sqlx::query_scalar("select count(*) from deliveries where case_no = $1")
            .bind(case_no)
            .fetch_one(&notify.started.host.pool)
            .await
            .unwrap()
    };
    let case = |n: u32| format!("XF-{county}-2026-{n:06}");

    // Before: xdept is nobody (no notice), zjj is told at its old number.
    assign("xdept", &case(1)).await;
    assign("zjj", &case(2)).await;
    env.wait_for("zjj told at its old number", 20, async || {
        !to(&got, &zjj_old).is_empty()
    })
    .await;
    assert_eq!(
        deliveries(&case(1)).await,
        0,
        "xdept is not in the directory yet"
    );

    // The operator adds xdept and gives zjj a new number, then reloads.
    let changed = format!(
        "{}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n\
         contacts = {{ mobile = \"{NEW_DEPT_MOBILE}\" }}\n",
        raw.replace(&zjj_old, ZJJ_NEW_MOBILE)
    );
    std::fs::write(&dir_file, &changed).unwrap();
    let (status, done) = reload().await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["changed"], true, "{done}");
    let changes = done["changes"].to_string();
    assert!(
        changes.contains(&format!("department {county}:xdept 新设局 added")),
        "{done}"
    );
    assert!(
        changes.contains(&format!("department {county}:zjj changed: mobile")),
        "{done}"
    );
    // Contact values never appear in what a reload reports.
    assert!(!done.to_string().contains(NEW_DEPT_MOBILE), "{done}");

    // Without a restart: the new department and the new number are used.
    assign("xdept", &case(3)).await;
    assign("zjj", &case(4)).await;
    env.wait_for(
        "the new department and the new number told",
        20,
        async || !to(&got, NEW_DEPT_MOBILE).is_empty() && !to(&got, ZJJ_NEW_MOBILE).is_empty(),
    )
    .await;
    assert_eq!(
        to(&got, &zjj_old).len(),
        1,
        "the old number is no longer used"
    );
    assert!(deliveries(&case(3)).await >= 1);

    // A bad file: refused, naming the problem; the running directory stays in use.
    std::fs::write(&dir_file, "[[county]]\ncode = \"bad\"\nname = \"坏\"\n").unwrap();
    let (status, refused) = reload().await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "directory_invalid", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("county[bad].code")),
        "{refused}"
    );
    assign("xdept", &case(5)).await;
    env.wait_for(
        "xdept still told after the refused reload",
        20,
        async || to(&got, NEW_DEPT_MOBILE).len() >= 2,
    )
    .await;
    env.stop().await;
}
