//! `xinfang dept` from outside, as a department runs it: logged in with its credential file on
//! a nats-server with the generated permissions, routing running as `svc_routing`. `listen`
//! forwards what was routed to the department while it was offline to a webhook, in order,
//! retries what the webhook refused, and acknowledges only what it took; without a webhook it
//! prints; `act` sends an action and prints routing's answer.

#[path = "../services/routing/tests/private_nats/mod.rs"]
mod private_nats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use private_nats::World;
use serde_json::Value;
use xinfang_routing::nats_config;

async fn xinfang(args: Vec<String>) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xinfang"));
    cmd.args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("xinfang finished in time")
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What the webhook received: (delivered header, stream sequence, event id, body).
type Calls = Arc<Mutex<Vec<(String, u64, String, Value)>>>;

/// A webhook that refuses its first call with 503 and takes every other.
async fn webhook() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut calls = seen.lock().unwrap();
                calls.push((
                    h("x-xf-delivered"),
                    h("x-xf-stream-sequence").parse().unwrap_or(0),
                    h("x-xf-event-id"),
                    serde_json::from_str(&body).unwrap_or(Value::Null),
                ));
                if calls.len() == 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), calls)
}

#[tokio::test]
async fn a_department_listens_with_a_webhook_and_acts_with_its_credential_file() {
    let w = World::start("").await;
    let county = w.county().to_string();
    let dir = std::env::temp_dir().join(format!("xf-dept-cli-{}", uuid::Uuid::now_v7()));
    nats_config::write_credential_files(&dir, &w.cfg).unwrap();
    let creds = nats_config::credential_path(&dir, &format!("{county}_rsj"))
        .display()
        .to_string();
    let conn = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        v.extend([
            "--credentials".into(),
            creds.clone(),
            "--url".into(),
            w.server.url.clone(),
        ]);
        v
    };

    // Offline while two petitions are routed to rsj.
    let cases = w.route("rsj", 2).await;
    w.wait_published("rsj", 2).await;
    let published = w.published("rsj").await;

    // Back online with a webhook that fails once: the first message comes again (after the
    // nak's 5 s), then the second; each acknowledged only once the webhook took it.
    let (url, calls) = webhook().await;
    let (code, _, err) = xinfang(conn(&[
        "dept",
        "listen",
        "--county",
        &county,
        "--dept",
        "rsj",
        "--webhook",
        &url,
        "--max-messages",
        "2",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not handed on: webhook answered 503"), "{err}");
    let calls = calls.lock().unwrap().clone();
    let got: Vec<(&str, u64)> = calls.iter().map(|(d, s, _, _)| (d.as_str(), *s)).collect();
    assert_eq!(
        got,
        [
            ("1", published[0].0),
            ("2", published[0].0),
            ("1", published[1].0)
        ],
        "{calls:?}"
    );
    assert_eq!(
        calls[0].2, calls[1].2,
        "the event id is the same on redelivery"
    );
    assert!(!calls[0].2.is_empty());
    assert_eq!(calls[1].3["case_id"], published[0].1.as_str());
    assert_eq!(calls[2].3["type"], "assigned");
    let state = w.consumer("rsj").await;
    assert_eq!((state.num_pending, state.num_ack_pending), (0, 0));

    // An action on its own case: routing's answer, exit 0; the same request id again gets
    // the stored answer.
    let (code, out, err) = xinfang(conn(&[
        "dept",
        "act",
        "accept",
        "--case-no",
        &cases[0],
        "--request-id",
        "0190f3c2-6a7e-7c41-9d2a-3f1b6c0d9e11",
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let answer: Value = serde_json::from_str(&out).expect("the answer as JSON");
    assert_eq!(answer["action"], "accept", "{answer}");
    assert!(answer.get("error").is_none(), "{answer}");
    let (code, again, _) = xinfang(conn(&[
        "dept",
        "act",
        "accept",
        "--case-no",
        &cases[0],
        "--request-id",
        "0190f3c2-6a7e-7c41-9d2a-3f1b6c0d9e11",
    ]))
    .await;
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), answer);
    // A refusal (an extension of 99 days): printed, exit 1.
    let (code, out, _) = xinfang(conn(&[
        "dept",
        "act",
        "extend",
        "--case-no",
        &cases[0],
        "--days",
        "99",
        "--approver",
        "局长",
        "--reason",
        "需要现场核查",
    ]))
    .await;
    assert_eq!(code, 1, "{out}");
    let refused: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(refused["error"]["field"], "days", "{refused}");

    // Without a webhook it prints each message as a JSON line.
    let more = w.route("rsj", 1).await;
    w.wait_published("rsj", 3).await;
    let (code, out, err) = xinfang(conn(&["dept", "listen", "--max-messages", "1"])).await;
    assert_eq!(code, 0, "{err}");
    let line: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(line["event"]["case_id"], more[0].as_str(), "{line}");
    assert_eq!(line["subject"], format!("xf.{county}.dept.rsj.assigned"));
    assert_eq!(line["delivered"], 1);
    let state = w.consumer("rsj").await;
    assert_eq!((state.num_pending, state.num_ack_pending), (0, 0));

    let _ = std::fs::remove_dir_all(&dir);
    w.stop().await;
}
