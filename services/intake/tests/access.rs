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

/// Art 30 para 3 at intake's exits: a department other than the lead 纪委监委 reads a
/// confidential case with the informant withheld and every identifier masked in the text,
/// and nothing of the informant in the case list or the CSV export; 纪委监委 leading the case
/// and the bureau's staff read it whole.
#[tokio::test]
async fn a_confidential_case_never_shows_the_informant_to_another_department() {
    let app = App::start().await;
    let county = app.env.county.clone();
    let clerk = app.token(Role::Clerk, &county, None).await;
    let (name, mobile, id_number) = ("李举报", "13911112222", "11010519491231002X");
    let r = app
        .http
        .post(app.url("/v1/petitions"))
        .bearer_auth(&clerk)
        .json(&json!({
            "channel": "letter",
            "petitioner": {"name": name, "mobile": mobile, "id_number": id_number,
                           "address": "测试县城关镇东关村五组"},
            "text": format!("我是{name}，身份证{id_number}，电话{mobile}，住城关镇东关村五组。\
                             举报某化工厂夜间从暗管偷排有毒废水，请为我保密。"),
            "county": county.to_string(),
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let case_no = r.json::<Value>().await.unwrap()["case_no"]
        .as_str()
        .unwrap()
        .to_owned();
    // A clerk makes it an accusation (whatever the classifier said): now confidential.
    let r = app
        .http
        .patch(app.url(&format!("/v1/cases/{case_no}/classification")))
        .bearer_auth(&clerk)
        .json(
            &json!({"petition_type": "accusation", "department": "sthjj",
                      "accuses_official": false, "by": "clerk-1", "reason": "举报他人违法排污"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    app.assign(&case_no, "sthjj").await;

    let leaks = |raw: &str| {
        [name, mobile, id_number, "13911112222", "东关村五组"]
            .iter()
            .filter(|x| raw.contains(*x))
            .map(|x| (*x).to_owned())
            .collect::<Vec<_>>()
    };
    let sthjj = app.token(Role::Department, &county, Some("sthjj")).await;
    let (status, view) = app.get(Some(&sthjj), &format!("/v1/cases/{case_no}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["confidential"], true);
    assert_eq!(view["informant_withheld"], true);
    assert!(view["petitioner"].is_null(), "{view}");
    assert!(view["contact_via"].as_str().unwrap().contains("信访局"));
    let text = view["text"].as_str().unwrap();
    assert!(text.contains("暗管偷排有毒废水"), "{text}");
    assert!(
        leaks(&view.to_string()).is_empty(),
        "{:?}",
        leaks(&view.to_string())
    );
    let (_, list) = app.get(Some(&sthjj), "/v1/cases").await;
    assert_eq!(list["total"], 1);
    assert!(leaks(&list.to_string()).is_empty());
    let csv = app
        .http
        .get(app.url("/v1/cases.csv"))
        .bearer_auth(&sthjj)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&case_no) && leaks(&csv).is_empty(), "{csv}");

    // The bureau's staff read it whole.
    let (_, whole) = app.get(Some(&clerk), &format!("/v1/cases/{case_no}")).await;
    assert_eq!(whole["petitioner"]["name"], name);
    assert_eq!(whole["informant_withheld"], false);

    // Once 纪委监委 leads it, it reads the informant (and sthjj no longer reads the case).
    app.assign(&case_no, "jwjw").await;
    let jwjw = app.token(Role::Department, &county, Some("jwjw")).await;
    let (status, view) = app.get(Some(&jwjw), &format!("/v1/cases/{case_no}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["petitioner"]["name"], name);
    assert!(view["text"].as_str().unwrap().contains(mobile));
    let (status, _) = app.get(Some(&sthjj), &format!("/v1/cases/{case_no}")).await;
    assert!(matches!(status, 403 | 404), "{status}");
    app.env.stop().await;
}

/// Issue #12: every staff route of the router (its route table, so a new route is walked too)
/// refuses a token of another county and a department token of another department, answers
/// 401 without a token, and lets the county's operator through; the routes open without a
/// token are exactly the expected ones; the OpenAPI document describes every route.
#[tokio::test]
async fn every_route_refuses_other_counties_and_other_departments() {
    use xinfang_platform::route_probe::{self, Probe, ProbeRequest};
    use xinfang_platform::route_table::{self, Verb};

    let app = App::start().await;
    let county = app.env.county.clone();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let operator = app.token(Role::Operator, &county, None).await;
    // The classifier is the deployment's: an operator of the city retrains it.
    let city_operator = app.token(Role::Operator, &app.env.city, None).await;
    let (s, r) = app.register(Some(&operator), &county, "13800000021").await;
    assert_eq!(s, 201, "{r}");
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let query_code = r["query_code"].as_str().unwrap().to_owned();
    app.assign(&case_no, "rsj").await;
    let outsiders = [
        (
            "an operator of another county",
            app.token(Role::Operator, &neighbour, None).await,
        ),
        (
            "the same department of another county",
            app.token(Role::Department, &neighbour, Some("rsj")).await,
        ),
        (
            "another department of the county",
            app.token(Role::Department, &county, Some("zjj")).await,
        ),
    ];
    let mut routes = xinfang_intake::api::routes().routes().to_vec();
    routes.extend(route_table::platform_routes());
    route_probe::assert_open_routes(
        &routes,
        &[
            "GET /healthz",
            "GET /readyz",
            "GET /metrics",
            "GET /openapi.json",
            "GET /v1/query/{query_code}",
        ],
    );
    let probe = Probe::new(format!("http://{}", app.started.http))
        .param("case_no", &case_no)
        .param("query_code", &query_code);
    let petition = json!({
        "channel": "phone",
        "petitioner": {"name": "测试人", "mobile": "13800000022"},
        "text": "单位拖欠工资三个月，请求支付。",
        "county": county.to_string(),
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    });
    route_probe::assert_staff_routes_guarded(
        &probe,
        &routes,
        |r| {
            let mut req = ProbeRequest {
                insider: operator.clone(),
                ..Default::default()
            };
            match (r.verb, r.path.as_str()) {
                (Verb::Post, "/v1/petitions") => req.body = Some(petition.clone()),
                // Lists name the case's county and department: asking for them is refused.
                (Verb::Get, "/v1/cases" | "/v1/cases.csv") => {
                    req.query = Some(format!("county={county}&dept=rsj"))
                }
                (Verb::Post, "/v1/cases/{case_no}/repeat") => {
                    req.body = Some(json!({"decision": "unlink", "reason": "事项不同"}))
                }
                (_, "/v1/classifier" | "/v1/classifier/retrain") => {
                    req.insider = city_operator.clone()
                }
                (Verb::Patch, "/v1/cases/{case_no}/classification") => {
                    req.body = Some(
                        json!({"department": "zjj", "by": "clerk-1", "reason": "改由住建局办理"}),
                    )
                }
                _ => {}
            }
            req
        },
        &outsiders,
    )
    .await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        xinfang_platform::api_doc::mismatches(&doc, &routes),
        Vec::<String>::new()
    );
    app.env.stop().await;
}
