//! Access control on intake's HTTP API with bearer tokens, over the real servers: one test
//! per denial, and the audit log of personal-data reads.

use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::auth::AuthStore;
use xinfang_platform::host::Started;
use xinfang_platform::testing::TestEnv;

struct App {
    env: TestEnv,
    started: Started,
    store: AuthStore,
    http: reqwest::Client,
}

impl App {
    async fn start() -> App {
        let env = TestEnv::start(|p| p.security.auth_required = true, "")
            .await
            .unwrap();
        let started = xinfang_intake::service::start(env.infra.clone())
            .await
            .unwrap();
        let store = started.host.auth.store().expect("auth is required").clone();
        App {
            env,
            started,
            store,
            http: reqwest::Client::new(),
        }
    }

    async fn token(&self, role: Role, scope: &CountyCode, dept: Option<&str>) -> String {
        self.store
            .create(role, scope, dept, "test")
            .await
            .unwrap()
            .token
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.started.http)
    }

    async fn register(
        &self,
        token: Option<&str>,
        county: &CountyCode,
        mobile: &str,
    ) -> (u16, Value) {
        let mut req = self.http.post(self.url("/v1/petitions")).json(&json!({
            "channel": "phone",
            "petitioner": {"name": "测试人", "mobile": mobile},
            "text": format!("单位拖欠工资{mobile}，请求支付。"),
            "county": county.to_string(),
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut req = self
            .http
            .get(self.url(path))
            .header("x-access-reason", "核查办理情况");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn assign(&self, case_no: &str, dept: &str) {
        let env = Envelope::new(
            "assigned",
            Some(case_no.into()),
            self.env.county.clone(),
            chrono::Utc::now(),
            json!({"case_no": case_no, "department": dept, "mode": "forward"}),
        )
        .unwrap();
        xinfang_platform::nats::publish(
            self.env.js(),
            &subject::case_event(&self.env.county, "assigned").unwrap(),
            &env,
        )
        .await
        .unwrap()
        .await
        .unwrap();
        let clerk = self.token(Role::Operator, &self.env.city, None).await;
        let path = format!("/v1/cases/{case_no}");
        self.env
            .wait_for("the assignment in the registry", 20, async || {
                self.get(Some(&clerk), &path).await.1["current_department"] == json!(dept)
            })
            .await;
    }
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = App::start().await;
    let county = app.env.county.clone();
    assert_eq!(app.register(None, &county, "13800000001").await.0, 401);
    assert_eq!(
        app.register(Some("xf_bogus_token"), &county, "13800000001")
            .await
            .0,
        401
    );
    assert_eq!(app.get(None, "/v1/cases").await.0, 401);
    let clerk = app
        .store
        .create(Role::Clerk, &county, None, "clerk 1")
        .await
        .unwrap();
    assert_eq!(
        app.register(Some(&clerk.token), &county, "13800000001")
            .await
            .0,
        201
    );
    assert!(app.store.revoke(&clerk.id).await.unwrap());
    assert_eq!(
        app.register(Some(&clerk.token), &county, "13800000002")
            .await
            .0,
        401,
        "revoked"
    );
    // Health and the OpenAPI document stay open.
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    app.env.stop().await;
}

#[tokio::test]
async fn a_county_acts_only_on_its_own_cases_and_the_city_on_all() {
    let app = App::start().await;
    let county = app.env.county.clone();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let own_clerk = app.token(Role::Clerk, &county, None).await;
    let other_clerk = app.token(Role::Clerk, &neighbour, None).await;
    let city_clerk = app.token(Role::Clerk, &app.env.city, None).await;
    let dept = app.token(Role::Department, &county, Some("rsj")).await;

    assert_eq!(
        app.register(Some(&other_clerk), &county, "13800000003")
            .await
            .0,
        403,
        "other county registers"
    );
    assert_eq!(
        app.register(Some(&dept), &county, "13800000004").await.0,
        403,
        "a department registers"
    );
    let (s, r) = app.register(Some(&own_clerk), &county, "13800000005").await;
    assert_eq!(s, 201);
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let path = format!("/v1/cases/{case_no}");
    assert_eq!(
        app.get(Some(&other_clerk), &path).await.0,
        403,
        "other county reads"
    );
    assert_eq!(
        app.get(Some(&city_clerk), &path).await.0,
        200,
        "the city reads all"
    );
    assert_eq!(app.get(Some(&own_clerk), &path).await.0, 200);
    let (_, list) = app.get(Some(&other_clerk), "/v1/cases").await;
    assert_eq!(list["total"], json!(0), "other county lists none");
    let (_, list) = app.get(Some(&city_clerk), "/v1/cases").await;
    assert_eq!(list["total"], json!(1));
    let patch = app
        .http
        .patch(app.url(&format!("{path}/classification")))
        .bearer_auth(&other_clerk)
        .json(&json!({"department": "zjj", "by": "x", "reason": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status().as_u16(), 403, "other county reclassifies");
    app.env.stop().await;
}

#[tokio::test]
async fn a_department_sees_only_cases_assigned_to_it() {
    let app = App::start().await;
    let county = app.env.county.clone();
    let clerk = app.token(Role::Clerk, &county, None).await;
    let rsj = app.token(Role::Department, &county, Some("rsj")).await;
    let zjj = app.token(Role::Department, &county, Some("zjj")).await;
    let (_, r) = app.register(Some(&clerk), &county, "13800000006").await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let path = format!("/v1/cases/{case_no}");
    assert_eq!(
        app.get(Some(&rsj), &path).await.0,
        403,
        "not yet assigned to anyone"
    );
    app.assign(&case_no, "rsj").await;
    assert_eq!(app.get(Some(&rsj), &path).await.0, 200);
    assert_eq!(
        app.get(Some(&zjj), &path).await.0,
        403,
        "another department"
    );
    let (_, list) = app.get(Some(&zjj), "/v1/cases").await;
    assert_eq!(list["total"], json!(0));
    let (_, list) = app.get(Some(&rsj), "/v1/cases").await;
    assert_eq!(list["total"], json!(1));
    // The petitioner's query code needs no token and shows no personal data.
    let (s, q) = app
        .get(
            None,
            &format!("/v1/query/{}", r["query_code"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, 200);
    assert!(!q.to_string().contains("13800000006"));
    app.env.stop().await;
}

#[tokio::test]
async fn reads_of_personal_data_are_audited_in_an_append_only_log() {
    let app = App::start().await;
    let county = app.env.county.clone();
    let clerk = app
        .store
        .create(Role::Clerk, &county, None, "clerk 9")
        .await
        .unwrap();
    let (_, r) = app
        .register(Some(&clerk.token), &county, "13800000007")
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(Some(&clerk.token), &format!("/v1/cases/{case_no}"))
            .await
            .0,
        200
    );
    let entries = app.store.audit_of(&case_no).await.unwrap();
    assert_eq!(
        entries,
        vec![(
            clerk.id.clone(),
            "read_case".to_owned(),
            "核查办理情况".to_owned()
        )]
    );
    let tampered = sqlx::query("update audit_log set reason = 'x'")
        .execute(app.store.pool())
        .await;
    assert!(tampered.is_err(), "the audit log refuses updates");
    let deleted = sqlx::query("delete from audit_log")
        .execute(app.store.pool())
        .await;
    assert!(deleted.is_err(), "the audit log refuses deletes");
    // A refused read is not a read: nothing more is recorded.
    let other = app
        .token(
            Role::Clerk,
            &CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap(),
            None,
        )
        .await;
    assert_eq!(
        app.get(Some(&other), &format!("/v1/cases/{case_no}"))
            .await
            .0,
        403
    );
    assert_eq!(app.store.audit_of(&case_no).await.unwrap().len(), 1);
    app.env.stop().await;
}
