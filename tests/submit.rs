//! `xinfang submit` from outside: the binary registers a petition over NATS with an intake
//! running on a fresh county, prints the case number, query code and classification, and
//! exits 2 on a refused petition.

use serde_json::json;
use xinfang_platform::testing::TestEnv;

async fn submit(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xinfang"))
            .arg("submit")
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn submit_prints_the_receipt_and_exits_2_on_refusal() {
    let env = TestEnv::start(|_| {}, "").await.unwrap();
    xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("xf-submit-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut petition = json!({
        "channel": "letter",
        "petitioner": {"name": "测试人", "mobile": "13800138000"},
        "text": "小区物业长期不维修电梯，多次反映无果，请求住建部门督促整改。",
        "county": env.county.to_string(),
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    });
    let good = dir.join("good.json");
    std::fs::write(&good, petition.to_string()).unwrap();
    let (code, out, err) = submit(vec!["--file".into(), good.display().to_string()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("XF-{}-", env.county)), "{out}");
    assert!(
        out.contains("query code:") && out.contains("classification:"),
        "{out}"
    );

    petition["petitioner"]["mobile"] = json!("12");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, petition.to_string()).unwrap();
    let (code, _, err) = submit(vec!["--file".into(), bad.display().to_string()]).await;
    assert_eq!(code, 2);
    assert!(err.contains("petitioner.mobile"), "{err}");
    assert!(!err.contains("12\""), "{err}");

    std::fs::write(&bad, "{not json").unwrap();
    let (code, _, _) = submit(vec!["--file".into(), bad.display().to_string()]).await;
    assert_eq!(code, 2);
    let _ = std::fs::remove_dir_all(&dir);
    env.stop().await;
}
