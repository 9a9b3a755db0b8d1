//! The delivery log needs a token that may read the case: its county, and for a department
//! only the cases assigned to it.

use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::route_probe::{self, Probe, ProbeRequest};
use xinfang_platform::route_table;
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

/// Issue #12: every staff route (the route table) refuses another county and another
/// department of the county; the department the case is assigned to reads its log. The known
/// gap: the log used to be shown to any department of the county.
#[tokio::test]
async fn every_route_refuses_other_counties_and_other_departments() {
    let env = TestEnv::start(|p| p.security.auth_required = true, "")
        .await
        .unwrap();
    let started = xinfang_notify::service::start(env.infra.clone())
        .await
        .unwrap();
    let store = started.host.auth.store().expect("auth on").clone();
    let county = env.county.clone();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let token = async |role: Role, scope: &CountyCode, dept: Option<&str>| {
        store
            .create(role, scope, dept, "probe")
            .await
            .unwrap()
            .token
    };
    let rsj = token(Role::Department, &county, Some("rsj")).await;
    let outsiders = [
        (
            "an operator of another county",
            token(Role::Operator, &neighbour, None).await,
        ),
        (
            "the same department of another county",
            token(Role::Department, &neighbour, Some("rsj")).await,
        ),
        (
            "another department of the county",
            token(Role::Department, &county, Some("zjj")).await,
        ),
    ];
    // The case is assigned to rsj, as routing announces it on rsj's subject.
    let case_no = format!("XF-{county}-2026-000007");
    let assigned = Envelope::new(
        "assigned",
        Some(case_no.clone()),
        county.clone(),
        chrono::Utc::now(),
        json!({"case_no": case_no, "department": "rsj", "role": "lead", "mode": "forward",
               "report_required": false, "petition_type": "grievance", "text": "",
               "petitioner": null, "accept_by": null}),
    )
    .unwrap();
    xinfang_platform::nats::publish(
        env.js(),
        &subject::dept_event(&county, "rsj", "assigned").unwrap(),
        &assigned,
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let pool = started.host.pool.clone();
    env.wait_for("notify to record the assignment", 20, async || {
        sqlx::query_scalar::<_, i64>("select count(*) from case_departments where case_no = $1")
            .bind(&case_no)
            .fetch_one(&pool)
            .await
            .unwrap_or(0)
            == 1
    })
    .await;

    let mut routes = xinfang_notify::api::routes().routes().to_vec();
    routes.extend(route_table::platform_routes());
    route_probe::assert_open_routes(
        &routes,
        &[
            "GET /healthz",
            "GET /readyz",
            "GET /metrics",
            "GET /openapi.json",
        ],
    );
    let probe = Probe::new(format!("http://{}", started.http)).param("case_no", &case_no);
    route_probe::assert_staff_routes_guarded(
        &probe,
        &routes,
        |_| ProbeRequest {
            insider: rsj.clone(),
            ..Default::default()
        },
        &outsiders,
    )
    .await;
    let doc: Value = reqwest::get(format!("http://{}/openapi.json", started.http))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        xinfang_platform::api_doc::mismatches(&doc, &routes),
        Vec::<String>::new()
    );
    env.stop().await;
}

/// Art 30 para 3 in the delivery log: a department reads its own notices, and the
/// petitioner's (a masked number is still a clue to who informed) only on an ordinary case;
/// the bureau's staff read everything.
#[tokio::test]
async fn a_department_never_reads_the_informants_deliveries() {
    let env = TestEnv::start(|p| p.security.auth_required = true, "")
        .await
        .unwrap();
    let started = xinfang_notify::service::start(env.infra.clone())
        .await
        .unwrap();
    let store = started.host.auth.store().expect("auth on").clone();
    let county = env.county.clone();
    let pool = started.host.pool.clone();
    let case_no = format!("XF-{county}-2026-000009");
    sqlx::query(
        "insert into cases (case_no, county, query_code, channel, petition_type, department,
                            confidential, urgent, registered_at, event_id)
         values ($1, $2, 'Q7654321', 'letter', 'accusation', 'sthjj', true, false, now(), $3)",
    )
    .bind(&case_no)
    .bind(county.as_str())
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    for dept in ["sthjj", "gaj"] {
        sqlx::query(
            "insert into case_departments (case_no, county, department) values ($1, $2, $3)",
        )
        .bind(&case_no)
        .bind(county.as_str())
        .bind(dept)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (recipient, audience, dept, masked) in [
        ("p", "petitioner", None, "139****2222"),
        ("d1", "department", Some("sthjj"), "sthjj@***"),
        ("d2", "department", Some("gaj"), "gaj@***"),
    ] {
        sqlx::query(
            "insert into deliveries (id, event_id, recipient, channel, notice, audience, department,
                 case_no, county, address_sealed, address_masked, body, status, next_attempt_at)
             values ($1, $2, $3, 'sms', 'receipt', $4, $5, $6, $7, 'x', $8, 'b', 'sent', now())",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(uuid::Uuid::now_v7())
        .bind(recipient)
        .bind(audience)
        .bind(dept)
        .bind(&case_no)
        .bind(county.as_str())
        .bind(masked)
        .execute(&pool)
        .await
        .unwrap();
    }
    let url = format!("http://{}/v1/cases/{case_no}/deliveries", started.http);
    let read = async |token: &str| -> Vec<String> {
        let v: Value = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["recipient"].as_str().unwrap().to_owned())
            .collect()
    };
    let sthjj = store
        .create(Role::Department, &county, Some("sthjj"), "t")
        .await
        .unwrap()
        .token;
    let supervisor = store
        .create(Role::Supervisor, &county, None, "t")
        .await
        .unwrap()
        .token;
    assert_eq!(read(&sthjj).await, ["sthjj@***"]);
    assert_eq!(read(&supervisor).await.len(), 3);
    // On an ordinary case the handling unit may see that the petitioner was told.
    sqlx::query("update cases set confidential = false where case_no = $1")
        .bind(&case_no)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(read(&sthjj).await, ["139****2222", "sthjj@***"]);
    env.stop().await;
}
