//! Every service conforms to its own OpenAPI document, as schemathesis (PyPI; installed by
//! infra/test-tools.sh) checks it: the five services run in one process on a fresh county
//! and database over the real NATS, Postgres and Redis, with tokens required, and schemathesis
//! fuzzes each document with an operator's token. Any 5xx, any status the document does not
//! list for the operation, a response whose content type or body breaks its schema fails.
//!
//! The checks are named rather than `all`: `positive_data_acceptance` would demand 2xx for
//! every schema-valid body, which business rules (a future date, a window closed) rightly
//! refuse with 4xx, and the stateful checks (`use_after_free`, ...) need links the documents
//! do not declare.

use std::process::Stdio;
use std::time::Duration;

use xinfang_domain::access::Role;
use xinfang_platform::host::Started;
use xinfang_platform::testing::{TestEnv, repo_root};

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance,response_headers_conformance";

fn python() -> String {
    std::env::var("XF_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Examples per operation: 100, or `XF_SCHEMATHESIS_EXAMPLES` for a deeper run by hand.
fn examples() -> String {
    std::env::var("XF_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "100".into())
}

/// schemathesis 4 importable by the test interpreter, installed by infra/test-tools.sh when
/// missing.
fn ensure_schemathesis() {
    let ok = || {
        std::process::Command::new(python())
            .args([
                "-c",
                "import schemathesis; assert schemathesis.__version__.startswith('4.')",
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok() {
        return;
    }
    let status = std::process::Command::new("bash")
        .arg(repo_root().join("infra/test-tools.sh"))
        .status();
    assert!(
        status.is_ok_and(|s| s.success()) && ok(),
        "schemathesis 4 is needed: run infra/test-tools.sh"
    );
}

/// Runs schemathesis against `service`'s document; its report on failure.
async fn conformance(name: &str, service: &Started, token: &str) -> Result<(), String> {
    let schema = format!("http://{}/openapi.json", service.http);
    let report = std::env::temp_dir().join(format!(
        "xf-schemathesis-{name}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let out = tokio::process::Command::new(python())
        .args(["-m", "schemathesis.cli", "run", &schema])
        .args(["--checks", CHECKS])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Bounded by examples per operation (a few seconds a service), with a fixed seed so a
        // failure reproduces. One worker: CPython 3.11's parser is not safe for hypothesis's
        // concurrent lambda introspection ("AST constructor recursion depth mismatch").
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples(), "--seed", "20260101"])
        .args(["--request-timeout", "10", "--workers", "1", "--no-color"])
        .args(["--generation-database", "none"])
        .args(["--report-dir", &report.to_string_lossy()])
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), out)
        .await
        .map_err(|_| format!("{name}: schemathesis did not finish in 600 s"))?
        .map_err(|e| format!("{name}: schemathesis did not run: {e}"))?;
    let _ = std::fs::remove_dir_all(&report);
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{name} breaks its OpenAPI document ({schema}):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_conforms_to_its_openapi_document() {
    ensure_schemathesis();
    let env = TestEnv::start(|p| p.security.auth_required = true, "")
        .await
        .expect("local infrastructure");
    let services = [
        (
            "intake",
            xinfang_intake::service::start(env.infra.clone())
                .await
                .unwrap(),
        ),
        (
            "routing",
            xinfang_routing::service::start(env.infra.clone())
                .await
                .unwrap(),
        ),
        (
            "supervision",
            xinfang_supervision::service::start(env.infra.clone())
                .await
                .unwrap(),
        ),
        (
            "review",
            xinfang_review::service::start(env.infra.clone())
                .await
                .unwrap(),
        ),
        (
            "notify",
            xinfang_notify::service::start(env.infra.clone())
                .await
                .unwrap(),
        ),
    ];
    let store = services[0]
        .1
        .host
        .auth
        .store()
        .expect("tokens required")
        .clone();
    // The city's operator: every route lets it through, so the operations are exercised
    // beyond authentication.
    let token = store
        .create(Role::Operator, &env.city, None, "schemathesis")
        .await
        .unwrap()
        .token;
    let mut failures = Vec::new();
    for (name, started) in &services {
        if let Err(report) = conformance(name, started, &token).await {
            failures.push(report);
        }
    }
    env.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
