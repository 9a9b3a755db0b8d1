//! Department actions over HTTP with bearer tokens: a department acts only as itself.

mod common;

use common::{Harness, body, today};
use serde_json::json;
use xinfang_domain::access::Role;

#[tokio::test]
async fn a_department_token_acts_only_for_its_own_department() {
    let h = Harness::start_authenticated().await;
    let store = h.started.host.auth.store().expect("auth on").clone();
    let county = h.county();
    let rsj = store
        .create(Role::Department, &county, Some("rsj"), "rsj desk")
        .await
        .unwrap()
        .token;
    let zjj = store
        .create(Role::Department, &county, Some("zjj"), "zjj desk")
        .await
        .unwrap()
        .token;
    let clerk = store
        .create(Role::Clerk, &county, None, "clerk")
        .await
        .unwrap()
        .token;

    let r = h.registered("rsj");
    let case_no = r.case_no.clone();
    h.register(&r).await;
    h.wait_state(&case_no, "forwarded").await;
    let http = reqwest::Client::new();
    let url = h.url(&format!("/v1/cases/{case_no}/actions/accept"));
    let accept = || body(&case_no, json!({"accepted_on": today()}));

    let none = http.post(&url).json(&accept()).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 401, "no token");
    let as_clerk = http
        .post(&url)
        .bearer_auth(&clerk)
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert_eq!(as_clerk.status().as_u16(), 403, "a clerk is no department");
    let forged = http
        .post(&url)
        .bearer_auth(&zjj)
        .header("x-xf-department", "rsj")
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403, "zjj's token naming rsj");
    let other = http
        .post(&url)
        .bearer_auth(&zjj)
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert!(
        other.status().is_client_error(),
        "zjj is not assigned: {}",
        other.status()
    );
    let own = http
        .post(&url)
        .bearer_auth(&rsj)
        .json(&accept())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200, "{}", own.text().await.unwrap());
    h.stop().await;
}

/// Issue #12: every staff route of the router (its route table, so a new action is walked
/// too) refuses a token of another county (an operator, and the same department code there)
/// and another department of the county, answers 401 without a token, and lets the county's
/// operator acting for the department through. Also the known gaps: the case view used to
/// answer any token, and a department named without a county used to be resolved to the case's
/// county whoever asked.
#[tokio::test]
async fn every_route_refuses_other_counties_and_other_departments() {
    use xinfang_domain::county::CountyCode;
    use xinfang_platform::route_probe::{self, Probe, ProbeRequest};
    use xinfang_platform::route_table::{self, Verb};

    let h = Harness::start_authenticated().await;
    let store = h.started.host.auth.store().expect("auth on").clone();
    let county = h.county();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let token = |role: Role, scope: CountyCode, dept: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .create(role, &scope, dept, "probe")
                .await
                .unwrap()
                .token
        }
    };
    let operator = token(Role::Operator, county.clone(), None).await;
    let outsiders = [
        (
            "an operator of another county",
            token(Role::Operator, neighbour.clone(), None).await,
        ),
        (
            "the same department of another county",
            token(Role::Department, neighbour.clone(), Some("rsj")).await,
        ),
        (
            "another department of the county",
            token(Role::Department, county.clone(), Some("zjj")).await,
        ),
    ];
    let r = h.registered("rsj");
    let case_no = r.case_no.clone();
    h.register(&r).await;
    h.wait_state(&case_no, "forwarded").await;

    let mut routes = xinfang_routing::api::routes().routes().to_vec();
    routes.extend(route_table::platform_routes());
    route_probe::assert_open_routes(
        &routes,
        &[
            "GET /healthz",
            "GET /readyz",
            "GET /metrics",
            "GET /openapi.json",
            "GET /v1/schemas/department",
        ],
    );
    let probe = Probe::new(format!("http://{}", h.started.http)).param("case_no", &case_no);
    let text = "经调查核实，已依法处理。";
    route_probe::assert_staff_routes_guarded(
        &probe,
        &routes,
        |r| {
            let mut req = ProbeRequest {
                insider: operator.clone(),
                ..Default::default()
            };
            let Some(action) = r.path.strip_prefix("/v1/cases/{case_no}/actions/") else {
                return req;
            };
            assert_eq!(r.verb, Verb::Post);
            // Every caller names the department it acts as, without a county.
            let (dept, fields) = match action {
                "accept" => ("rsj", json!({"accepted_on": today()})),
                "object" => ("rsj", json!({"reason": "不属于本单位职责"})),
                "transfer" => ("rsj", json!({"to": "zjj", "reason": "属住建局职责"})),
                "extend" => (
                    "rsj",
                    json!({"days": 10, "approver": "局长", "reason": "情况复杂"}),
                ),
                "mediate" => (
                    "rsj",
                    json!({"agreement": "mediation", "signed_on": today(), "summary": text}),
                ),
                "reply" => (
                    "rsj",
                    json!({"outcome": "supported", "text": text, "served_on": today()}),
                ),
                "objection_decision" => ("xfj", json!({"decision": "rejected", "reason": text})),
                "divert" => (
                    "rsj",
                    json!({"diversion": "arbitration", "guidance": text, "served_on": today()}),
                ),
                "report" => ("rsj", json!({"report": text})),
                "transfer_decision" => ("xfj", json!({"decision": "rejected", "reason": text})),
                "check" => ("xfj", json!({"result": "passed"})),
                other => panic!("no probe for action `{other}`: add one"),
            };
            req.headers = vec![("x-xf-department".into(), dept.into())];
            req.body = Some(body(&case_no, fields));
            req
        },
        &outsiders,
    )
    .await;
    let http = reqwest::Client::new();
    let doc: serde_json::Value = http
        .get(h.url("/openapi.json"))
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
    // The action bodies are documented field by field.
    let accept = &doc["paths"]["/v1/cases/{case_no}/actions/accept"]["post"];
    let schema = accept["requestBody"]["content"]["application/json"]["schema"].to_string();
    assert!(schema.contains("AcceptRequest"), "{schema}");
    let fields = doc["components"]["schemas"].to_string();
    for f in [
        "request_id",
        "accepted_on",
        "days",
        "approver",
        "reroute_to",
        "served_on",
    ] {
        assert!(fields.contains(f), "{f} is not documented");
    }
    h.stop().await;
}
