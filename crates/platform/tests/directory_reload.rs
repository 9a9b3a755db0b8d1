//! The department directory reloaded over HTTP (`POST /v1/directory/reload`, on every service
//! that reads it) and by signal: only operators of a served county may, every attempt is in the
//! audit log, and a bad file leaves the running directory.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_platform::auth::{Auth, AuthStore};
use xinfang_platform::calendar::signal_principal;
use xinfang_platform::directory;
use xinfang_platform::testing::TestEnv;

async fn post(app: &axum::Router, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::post("/v1/directory/reload");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn only_operators_of_the_deployment_reload_and_every_reload_is_audited() {
    let env = TestEnv::start(|p| p.security.auth_required = true, "")
        .await
        .expect("local NATS, Postgres and Redis must be running");
    let store = AuthStore::connect(&env.infra.settings.platform.database)
        .await
        .unwrap();
    let auth = Auth::required(store.clone(), env.city.clone());
    // Every service of the process gets the same handle.
    let handle = env.infra.directory().unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &handle,
        &env.infra.directory().unwrap()
    ));
    let served = env.infra.streams.keys().cloned().collect();
    let app = directory::router(handle.clone(), auth.clone(), served);
    let file = env.infra.settings.platform.paths.directory.clone();
    let raw = std::fs::read_to_string(&file).unwrap();
    let clerk = store
        .create(Role::Clerk, &env.city, None, "clerk")
        .await
        .unwrap();
    let elsewhere = CountyCode::parse("411282").unwrap();
    let foreign = store
        .create(Role::Operator, &elsewhere, None, "operator elsewhere")
        .await
        .unwrap();
    let operator = store
        .create(Role::Operator, &env.county, None, "operator")
        .await
        .unwrap();

    assert_eq!(post(&app, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = post(&app, Some(&clerk.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = post(&app, Some(&foreign.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The operator adds a department.
    std::fs::write(
        &file,
        format!("{raw}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n"),
    )
    .unwrap();
    let (status, body) = post(&app, Some(&operator.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], true);
    assert_eq!(body["generation"], 1);
    assert_eq!(body["hash"].as_str(), Some(handle.hash().as_str()));
    let has_xdept = || {
        handle
            .current()
            .county(&env.county)
            .and_then(|c| c.department("xdept"))
            .is_some()
    };
    assert!(has_xdept());

    // A broken file: refused loudly, every problem listed; the running directory stays.
    std::fs::write(&file, raw.replacen("code = \"gov\"", "code = \"GOV!\"", 1)).unwrap();
    let (status, body) = post(&app, Some(&operator.token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "directory_invalid");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("GOV!")),
        "{body}"
    );
    assert!(has_xdept());
    assert_eq!(handle.generation(), 1);

    // SIGHUP does the same, as `signal:SIGHUP` (here: back to the first file).
    std::fs::write(&file, &raw).unwrap();
    let r = handle
        .reload_audited(&signal_principal(env.city.clone()), &auth, "SIGHUP")
        .await
        .unwrap();
    assert!(r.changes.iter().any(|c| c.contains("xdept")), "{r:?}");
    assert!(!has_xdept());

    let audit: Vec<(String, String, String)> =
        sqlx::query_as("select actor, action, reason from audit_log order by id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let reloads: Vec<_> = audit
        .iter()
        .filter(|(_, action, _)| action.starts_with("directory_reload"))
        .collect();
    assert_eq!(reloads.len(), 3, "{audit:?}");
    assert_eq!(
        (reloads[0].0.as_str(), reloads[0].1.as_str()),
        (operator.id.as_str(), "directory_reload")
    );
    assert!(
        reloads[0].2.contains("via http") && reloads[0].2.contains("xdept"),
        "{}",
        reloads[0].2
    );
    assert_eq!(reloads[1].1, "directory_reload_failed");
    assert!(reloads[1].2.contains("GOV!"), "{}", reloads[1].2);
    assert_eq!(
        (reloads[2].0.as_str(), reloads[2].1.as_str()),
        ("signal:SIGHUP", "directory_reload")
    );
    env.stop().await;
}
