//! The holiday calendar reloaded over HTTP (`POST /v1/calendar/reload`) and by signal: only
//! operators may, every attempt is in the audit log, and a bad file leaves the running calendar.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Datelike;
use serde_json::Value;
use tower::ServiceExt;
use xinfang_domain::access::Role;
use xinfang_platform::auth::{Auth, AuthStore};
use xinfang_platform::calendar::{self, signal_principal, today};
use xinfang_platform::testing::TestEnv;

async fn post(app: &axum::Router, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::post("/v1/calendar/reload");
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
async fn only_operators_reload_and_every_reload_is_audited() {
    let y = today().year();
    let file = std::env::temp_dir().join(format!("xf-cal-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&file, format!("[{y}]\n")).unwrap();
    let path = file.clone();
    let env = TestEnv::start(
        move |p| {
            p.security.auth_required = true;
            p.paths.calendar = path;
        },
        "",
    )
    .await
    .expect("local NATS, Postgres and Redis must be running");
    let store = AuthStore::connect(&env.infra.settings.platform.database)
        .await
        .unwrap();
    let auth = Auth::required(store.clone(), env.city.clone());
    let handle = env.infra.calendar.clone();
    let app = calendar::router(handle.clone(), auth.clone());
    let clerk = store
        .create(Role::Clerk, &env.city, None, "clerk")
        .await
        .unwrap();
    let operator = store
        .create(Role::Operator, &env.city, None, "operator")
        .await
        .unwrap();

    assert_eq!(post(&app, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = post(&app, Some(&clerk.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The operator adds next year.
    std::fs::write(&file, format!("[{y}]\n[{}]\n", y + 1)).unwrap();
    let (status, body) = post(&app, Some(&operator.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["added_years"], serde_json::json!([y + 1]));
    assert_eq!(handle.current().years(), vec![y, y + 1]);

    // A broken file: refused loudly, the running calendar stays.
    std::fs::write(&file, format!("[{y}]\nworkdays = [\"{y}-99-01\"]\n")).unwrap();
    let (status, body) = post(&app, Some(&operator.token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "calendar_invalid");
    assert_eq!(handle.current().years(), vec![y, y + 1]);

    // SIGHUP does the same, as `signal:SIGHUP`.
    std::fs::write(&file, format!("[{y}]\n[{}]\n[{}]\n", y + 1, y + 2)).unwrap();
    let r = handle
        .reload_audited(&signal_principal(env.city.clone()), &auth, "SIGHUP")
        .await
        .unwrap();
    assert_eq!(r.added_years, vec![y + 2]);

    let audit: Vec<(String, String, String)> =
        sqlx::query_as("select actor, action, reason from audit_log order by id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let calendar: Vec<_> = audit
        .iter()
        .filter(|(_, action, _)| action.starts_with("calendar_reload"))
        .collect();
    assert_eq!(calendar.len(), 3, "{audit:?}");
    assert_eq!(
        (calendar[0].0.as_str(), calendar[0].1.as_str()),
        (operator.id.as_str(), "calendar_reload")
    );
    assert!(calendar[0].2.contains("via http") && calendar[0].2.contains("sha256"));
    assert_eq!(calendar[1].1, "calendar_reload_failed");
    assert!(calendar[1].2.contains("99-01"), "{}", calendar[1].2);
    assert_eq!(
        (calendar[2].0.as_str(), calendar[2].1.as_str()),
        ("signal:SIGHUP", "calendar_reload")
    );
    let _ = std::fs::remove_file(&file);
    env.stop().await;
}

#[tokio::test]
async fn no_service_starts_with_a_bad_calendar_file() {
    let (mut p, _, _) = xinfang_platform::testing::settings().await.unwrap();
    let file = std::env::temp_dir().join(format!("xf-cal-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&file, "[2026]\noff = [\"2026-02-30\"]\n").unwrap();
    p.paths.calendar = file.clone();
    let loaded = xinfang_platform::config::Loaded::from_parts(p, "").unwrap();
    let err = xinfang_platform::host::Infra::connect(
        loaded,
        "test",
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .err()
    .expect("refused")
    .to_string();
    let _ = std::fs::remove_file(&file);
    assert!(
        err.contains(file.to_str().unwrap()) && err.contains("2026-02-30"),
        "{err}"
    );
}
