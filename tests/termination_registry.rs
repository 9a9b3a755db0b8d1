//! The provincial terminated-matters registry (省级终结库, issue #15 item 6) from outside, over
//! the real NATS, Postgres and Redis: `xinfang termination export` writes the matters
//! terminated here as JSON lines and CSV, a rerun writes nothing new and leaves the files
//! byte for byte as they were, a matter terminated later is written by the next run after the
//! last one; `xinfang termination import` refuses a file with a malformed line (naming the line
//! and the field) and stores a good one once; a new petition by the same person on the same
//! facts as a matter terminated in another deployment is then proposed for 不再受理
//! (Art 36 para 3), and the clerk confirms it like any repeat.

mod common;

use std::path::Path;

use chrono::Utc;
use common::{get, post};
use serde_json::{Value, json};
use xinfang_domain::classify::similarity::fingerprint;
use xinfang_domain::deadline::{CST, cst_date};
use xinfang_domain::events::{Accepted, AssignMode, Assigned, Registered, Replied, kind};
use xinfang_domain::petition::{Art31Branch, Channel, OpinionOutcome, PetitionType};
use xinfang_domain::termination_registry::{
    FORMAT, Record, csv_header, fingerprint_hex, parse_file,
};
use xinfang_platform::testing::TestEnv;
use xinfang_review::identity::{HashKey, ID_LABEL};

const TEXTS: [&str; 3] = [
    "我父亲的养老保险待遇被停发，多次到社保中心反映未果，请求恢复发放并补发。",
    "村里修路占用我家承包地两亩，补偿款至今没有发放，请求核实并足额补偿。",
    "小区物业擅自提高收费标准，业主多次反映无人处理，请求主管部门查处。",
];
/// The petitioner whose matter another deployment terminated, and its facts.
const ELSEWHERE_ID: &str = "11010519491231002X";
const ELSEWHERE_TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

async fn xinfang(args: &[&str]) -> (i32, Value, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xinfang"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        last,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The files of a directory (names and bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Publishes a case through its handling opinion and has review decide the 复查 (county
/// government) and the 复核 (city government): the matter is terminated.
async fn terminate(env: &TestEnv, http: &reqwest::Client, review: &str, n: u32) -> String {
    let county = env.county.clone();
    let case_no = format!("XF-{county}-2026-{n:06}");
    let today = cst_date(Utc::now().with_timezone(&CST));
    let key = HashKey::from_settings(&env.infra.settings.platform.security).unwrap();
    let registered = Registered {
        case_no: case_no.clone(),
        query_code: format!("T{n:07}"),
        channel: Channel::Letter,
        received_at: Utc::now(),
        registered_at: Utc::now(),
        county: county.clone(),
        petition_type: PetitionType::Grievance,
        branch: Some(Art31Branch::Residual),
        diversion: None,
        department: "rsj".into(),
        accuses_official: false,
        confidential: false,
        urgent: false,
        needs_triage: false,
        confidence: 0.9,
        group_size: 1,
        repeat: None,
        petitioner_key: key.hash(ID_LABEL, &format!("petitioner-{n}")),
        contact: None,
        text: TEXTS[(n as usize - 1) % TEXTS.len()].into(),
        redacted_text: None,
        source: None,
        listed: false,
        town: None,
        matter_words: None,
        received_by: None,
    };
    env.publish_case(&county, kind::REGISTERED, &case_no, &registered)
        .await;
    let assigned = Assigned {
        organ_county: None,
        case_no: case_no.clone(),
        department: "rsj".into(),
        mode: AssignMode::Forward,
        report_required: false,
        assisting: vec![],
        petition_type: PetitionType::Grievance,
        branch: Some(Art31Branch::Residual),
        assigned_at: Utc::now(),
        notice_exempt: false,
    };
    env.publish_case(&county, kind::ASSIGNED, &case_no, &assigned)
        .await;
    let accepted = Accepted {
        organ_county: None,
        case_no: case_no.clone(),
        department: "rsj".into(),
        accepted_on: today,
        at: Utc::now(),
    };
    env.publish_case(&county, kind::ACCEPTED, &case_no, &accepted)
        .await;
    let replied = Replied {
        case_no: case_no.clone(),
        department: "rsj".into(),
        outcome: Some(OpinionOutcome::NotSupported),
        is_handling_opinion: true,
        text: "经调查，不予支持。".into(),
        served_on: today,
        at: Utc::now(),
    };
    env.publish_case(&county, kind::REPLIED, &case_no, &replied)
        .await;
    let view = format!("{review}/v1/reviews/{case_no}");
    env.wait_for("review to hold the served opinion", 30, async || {
        let (s, v) = get(http, &view).await;
        s == 200 && v["is_handling_opinion"] == true
    })
    .await;
    for level in ["review", "rereview"] {
        let (s, body) = post(
            http,
            &format!("{review}/v1/reviews"),
            json!({"case_no": case_no, "clerk_id": "clerk-1", "level": level}),
        )
        .await;
        assert_eq!(s, 201, "{body}");
        let (s, body) = post(
            http,
            &format!("{review}/v1/reviews/{case_no}/decision"),
            json!({"level": level, "outcome": "uphold", "text": "维持原处理意见。", "served_on": today}),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
    env.wait_for("the matter to be terminated", 30, async || {
        !get(http, &view).await.1["termination"].is_null()
    })
    .await;
    case_no
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_resumes_import_is_checked_and_a_matter_terminated_elsewhere_is_proposed_for_refusal()
 {
    let env = TestEnv::start(|_| {}, "[review]\nsweep_enabled = false\n")
        .await
        .expect("local NATS, Postgres and Redis must be running");
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .unwrap();
    let review = xinfang_review::service::start(env.infra.clone())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let api = format!("http://{}", review.http);
    let today = cst_date(Utc::now().with_timezone(&CST)).to_string();
    let work = std::env::temp_dir().join(format!("xf-registry-{}", uuid::Uuid::now_v7()));
    let out = work.join("export");
    let out_str = out.to_str().unwrap().to_owned();
    let export = [
        "termination",
        "export",
        "--since",
        &today,
        "--out",
        &out_str,
        "--api",
        &api,
    ];

    // Two terminated matters: one pair of files, a header line, a record per line.
    let a = terminate(&env, &http, &api, 1).await;
    let b = terminate(&env, &http, &api, 2).await;
    let (code, last, err) = xinfang(&export).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(last["exported"], 2, "{last}");
    assert!(err.contains("exported 2"), "progress on stderr: {err}");
    let jsonl = std::fs::read_to_string(out.join("terminations-000001-000002.jsonl")).unwrap();
    let csv = std::fs::read_to_string(out.join("terminations-000001-000002.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some(csv_header().as_str()));
    let from_jsonl: Vec<Record> = parse_file(&jsonl, false)
        .into_iter()
        .map(|r| r.unwrap().1)
        .collect();
    let from_csv: Vec<Record> = parse_file(&csv, true)
        .into_iter()
        .map(|r| r.unwrap().1)
        .collect();
    assert_eq!(from_jsonl, from_csv);
    let numbers: Vec<&str> = from_jsonl.iter().map(|r| r.case_no.as_str()).collect();
    assert_eq!(numbers, vec![a.as_str(), b.as_str()]);
    assert!(
        jsonl
            .lines()
            .all(|l| l.starts_with(&format!("{{\"format\":\"{FORMAT}\"")))
    );
    assert_eq!(
        from_jsonl[0].fingerprint.slots,
        fingerprint_hex(&fingerprint(TEXTS[0]))
    );

    // Again: nothing new, every file as it was.
    let before = files(&out);
    let (code, last, err) = xinfang(&export).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(last["exported"], 0, "{last}");
    assert_eq!(files(&out), before);

    // A third matter, and the files an interrupted run would leave: the next run removes
    // them and writes the new matter after the last one.
    let c = terminate(&env, &http, &api, 3).await;
    std::fs::write(out.join("terminations-000003-000009.jsonl"), "partial").unwrap();
    std::fs::write(out.join("terminations.csv.partial"), "partial").unwrap();
    let (code, last, err) = xinfang(&export).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (last["exported"].as_u64(), last["total"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(err.contains("interrupted"), "{err}");
    let third = std::fs::read_to_string(out.join("terminations-000003-000003.jsonl")).unwrap();
    assert!(third.contains(&c), "{third}");
    let now = files(&out);
    for (name, bytes) in &before {
        if !name.starts_with('.') {
            assert!(
                now.contains(&(name.clone(), bytes.clone())),
                "{name} changed"
            );
        }
    }
    let names: Vec<&str> = now.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            ".xf-termination-export.json",
            "terminations-000001-000002.csv",
            "terminations-000001-000002.jsonl",
            "terminations-000003-000003.csv",
            "terminations-000003-000003.jsonl",
        ]
    );
    // From scratch into another directory: the same matters, the same bytes.
    let fresh = work.join("fresh");
    let fresh_str = fresh.to_str().unwrap().to_owned();
    let (code, _, err) = xinfang(&[
        "termination",
        "export",
        "--since",
        &today,
        "--out",
        &fresh_str,
        "--api",
        &api,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(fresh.join("terminations-000001-000003.jsonl")).unwrap(),
        format!("{jsonl}{third}")
    );
    // A rerun with another --since is refused: it would not continue this directory.
    let (code, _, err) = xinfang(&[
        "termination",
        "export",
        "--since",
        "2020-01-01",
        "--out",
        &out_str,
        "--api",
        &api,
    ])
    .await;
    assert_eq!(code, 2, "{err}");

    // The province's list, as another deployment exported it (its county `889902`).
    let key = HashKey::from_settings(&env.infra.settings.platform.security).unwrap();
    let elsewhere = "XF-889902-2025-000042";
    let record = json!({
        "format": FORMAT, "case_no": elsewhere, "home_county": "889902", "matter_county": "889902",
        "petition_type": "grievance", "branch": "31_6",
        "registered_at": "2025-03-01T02:00:00.000000Z",
        "petitioner": {"key": key.hash(ID_LABEL, ELSEWHERE_ID), "key_id": key.key_id(),
                       "sealed_identity": null, "sealed_identity_key_id": null},
        "fingerprint": {"version": 1, "slots": fingerprint_hex(&fingerprint(ELSEWHERE_TEXT))},
        "handling": {"organ": "889902:zjj", "outcome": "not_supported", "served_on": "2025-04-01"},
        "review": {"organ": "889902:gov", "outcome": "uphold", "served_on": "2025-05-20"},
        "rereview": {"organ": "889900:gov", "outcome": "uphold", "served_on": "2025-07-10"},
        "terminated_at": "2025-07-10T03:00:00.000000Z"
    });
    let mut broken = record.clone();
    broken["case_no"] = json!("XF-889902-2025-000043");
    broken["fingerprint"]["slots"] = json!("0011");
    let bad_file = work.join("province-bad.jsonl");
    std::fs::write(&bad_file, format!("{record}\n{broken}\n")).unwrap();
    let (code, _, err) = xinfang(&[
        "termination",
        "import",
        "--file",
        bad_file.to_str().unwrap(),
        "--api",
        &api,
    ])
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("province-bad.jsonl:2: fingerprint.slots:"),
        "the line and the field: {err}"
    );
    assert!(err.contains("nothing imported"), "{err}");
    let good_file = work.join("province.jsonl");
    std::fs::write(&good_file, format!("{record}\n")).unwrap();
    let import = [
        "termination",
        "import",
        "--file",
        good_file.to_str().unwrap(),
        "--api",
        &api,
    ];
    let (code, last, err) = xinfang(&import).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(last["new"], 1, "nothing of the bad file was stored: {last}");
    let (code, last, err) = xinfang(&import).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (last["new"].as_u64(), last["unchanged"].as_u64()),
        (Some(0), Some(1))
    );
    // The CSV form reads the same (another matter of the list).
    let mut other = Record::from_json(&record).unwrap();
    other.case_no = "XF-889902-2025-000044".into();
    other.petitioner.key = key.hash(ID_LABEL, "110101199003074514");
    let csv_file = work.join("province.csv");
    std::fs::write(
        &csv_file,
        format!("{}\n{}\n", csv_header(), other.csv_row()),
    )
    .unwrap();
    let (code, last, err) = xinfang(&[
        "termination",
        "import",
        "--file",
        csv_file.to_str().unwrap(),
        "--api",
        &api,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(last["new"], 1, "{last}");

    // Intake learns the province's matters from review's events.
    let db = sqlx::PgPool::connect(&format!(
        "postgres://postgres@127.0.0.1:5432/{}",
        env.db_name
    ))
    .await
    .unwrap();
    env.wait_for("intake to hold the province's matters", 30, async || {
        sqlx::query_scalar::<_, i64>("select count(*) from intake.registry_terminations")
            .fetch_one(&db)
            .await
            .is_ok_and(|n| n == 2)
    })
    .await;
    db.close().await;

    // The same person, the same facts: registered, and 不再受理 proposed for the clerk.
    let petition = json!({
        "channel": "letter",
        "petitioner": {"name": "测试人", "id_number": ELSEWHERE_ID, "mobile": "13800138000"},
        "text": ELSEWHERE_TEXT,
        "county": env.county.to_string(),
        "received_at": Utc::now(),
        "clerk_id": "clerk-1",
    });
    let (s, receipt) = post(
        &http,
        &format!("http://{}/v1/petitions", intake.http),
        petition,
    )
    .await;
    assert_eq!(s, 201, "{receipt}");
    assert_eq!(receipt["status"], "registered", "{receipt}");
    assert_eq!(receipt["repeat"]["of"], elsewhere, "{receipt}");
    assert_eq!(
        receipt["repeat"]["disposition"], "not_reaccepted",
        "{receipt}"
    );
    assert_eq!(receipt["repeat"]["proposed"], true, "{receipt}");
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let view = format!("http://{}/v1/cases/{case_no}", intake.http);
    let (_, v) = get(&http, &view).await;
    let lines = v["timeline"].to_string();
    assert!(lines.contains("省级终结库"), "{lines}");
    let (s, body) = post(
        &http,
        &format!("http://{}/v1/cases/{case_no}/repeat", intake.http),
        json!({"decision": "confirm", "reason": "经核实，与省内已终结事项事实和理由相同"}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["disposition"], "not_reaccepted", "{body}");

    // Someone else with the same facts is not that matter.
    let stranger = json!({
        "channel": "letter",
        "petitioner": {"name": "路人", "id_number": "440304198001011239"},
        "text": ELSEWHERE_TEXT,
        "county": env.county.to_string(),
        "received_at": Utc::now(),
        "clerk_id": "clerk-1",
    });
    let (s, receipt) = post(
        &http,
        &format!("http://{}/v1/petitions", intake.http),
        stranger,
    )
    .await;
    assert_eq!(s, 201, "{receipt}");
    assert!(receipt["repeat"].is_null(), "{receipt}");

    let _ = std::fs::remove_dir_all(&work);
    env.stop().await;
}
