//! Intake over the real NATS, Postgres and Redis: each test has its own database, counties
//! and streams (TestEnv) and removes them at the end.

use std::time::Duration;

use chrono::Datelike;
use serde_json::{Value, json};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::host::Started;
use xinfang_platform::testing::TestEnv;

// Invented people; the ID numbers carry valid GB 11643 check characters.
const ID_A: &str = "411203195202145284";
const ID_B: &str = "411202198707023263";

struct App {
    env: TestEnv,
    started: Started,
    http: reqwest::Client,
}

impl App {
    async fn start() -> App {
        let env = TestEnv::start(|_| {}, "")
            .await
            .expect("local infrastructure");
        let started = xinfang_intake::service::start(env.infra.clone())
            .await
            .expect("intake starts");
        App {
            env,
            started,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.started.http)
    }

    fn petition(&self, county: &str, id: &str, mobile: &str, text: &str) -> Value {
        json!({
            "channel": "letter",
            "petitioner": {"name": "测试人", "id_number": id, "mobile": mobile},
            "text": text,
            "county": county,
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        })
    }

    async fn post(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/v1/petitions"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A clerk's decision on the case's repeat link (Decisions 7).
    async fn decide(&self, case_no: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(&format!("/v1/cases/{case_no}/repeat")))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn publish(
        &self,
        county: &xinfang_domain::county::CountyCode,
        family: &str,
        kind: &str,
        case_no: &str,
        data: Value,
    ) {
        self.publish_at(county, family, kind, case_no, data, chrono::Utc::now())
            .await
    }

    /// As [`Self::publish`], with the envelope's time `at` (an event delivered late).
    async fn publish_at(
        &self,
        county: &xinfang_domain::county::CountyCode,
        family: &str,
        kind: &str,
        case_no: &str,
        data: Value,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let env = Envelope::new(kind, Some(case_no.to_owned()), county.clone(), at, data).unwrap();
        let subj = match family {
            "case" => subject::case_event(county, kind).unwrap(),
            "review" => subject::review_event(county, kind).unwrap(),
            _ => subject::deadline_event(county, kind).unwrap(),
        };
        xinfang_platform::nats::publish(self.env.js(), &subj, &env)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    async fn status_of(&self, case_no: &str) -> String {
        self.get(&format!("/v1/cases/{case_no}")).await.1["status"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Waits until the case's timeline shows an entry of `event` (the registry consumed it).
    async fn wait_for_timeline_event(&self, case_no: &str, event: &str) {
        self.env
            .wait_for(&format!("`{event}` on the timeline"), 20, async || {
                self.get(&format!("/v1/cases/{case_no}")).await.1["timeline"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|e| e["event"] == event))
            })
            .await;
    }

    /// Publishes `case.terminated` (entered the 终结库) and waits for the registry to show it.
    async fn terminate(&self, case_no: &str) {
        self.publish(
            &self.env.county,
            "case",
            "terminated",
            case_no,
            json!({"case_no": case_no, "petitioner_key": "k", "at": chrono::Utc::now()}),
        )
        .await;
        self.env
            .wait_for("the registry to record the termination", 20, async || {
                self.status_of(case_no).await == "terminated"
            })
            .await;
    }

    async fn stop(self) {
        self.env.stop().await;
    }
}

const WAGES: &str =
    "我在工地干了半年，包工头拖欠我工资两万元一直不给，多次讨要无果，请求责令其支付。";

#[tokio::test]
async fn registers_every_channel_with_a_case_number_and_query_code() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let channels = [
        "letter",
        "visit",
        "phone",
        "online",
        "fax",
        "leader_mailbox",
    ];
    let mut numbers = Vec::new();
    for (i, ch) in channels.iter().enumerate() {
        let mut p = app.petition(
            &county,
            ID_A,
            "13800138000",
            &format!(
                "{WAGES} 第{i}次，事项{i}：另有道路维修问题{}",
                "路".repeat(i * 7)
            ),
        );
        p["channel"] = json!(ch);
        // Distinct matters so none is linked as a repeat.
        p["petitioner"]["id_number"] = json!(null);
        p["petitioner"]["mobile"] = json!(format!("1380013800{i}"));
        let (status, body) = app.post(&p).await;
        assert_eq!(status, 201, "{ch}: {body}");
        let case_no = body["case_no"].as_str().unwrap().to_owned();
        assert!(case_no.starts_with(&format!("XF-{county}-")), "{case_no}");
        let code = body["query_code"].as_str().unwrap();
        assert_eq!(code.len(), 8);
        let (s, case) = app.get(&format!("/v1/cases/{case_no}")).await;
        assert_eq!(s, 200);
        assert_eq!(case["channel"], json!(ch));
        numbers.push(case_no);
    }
    let seqs: Vec<u32> = numbers
        .iter()
        .map(|n| n.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    // The events go out through the outbox relay: wait for all six.
    let filter = subject::family_filter(&app.env.county, "case").unwrap();
    app.env
        .wait_for("six registered events on the stream", 20, async || {
            app.env.read(&app.env.county, &filter).await.len() >= 6
        })
        .await;
    let msgs = app.env.read(&app.env.county, &filter).await;
    let first: Envelope = Envelope::from_bytes(&msgs[0].payload).unwrap();
    assert_eq!(first.kind, "registered");
    assert_eq!(first.data["department"], json!("rsj"));
    assert!(
        first.data.get("contact").is_some(),
        "contact travels sealed"
    );
    assert!(!String::from_utf8_lossy(&msgs[0].payload).contains("13800138000"));
    app.stop().await;
}

#[tokio::test]
async fn every_validation_error_names_its_field_and_writes_nothing() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let good = app.petition(&county, ID_A, "13800138000", WAGES);
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, u16)> = vec![
        ("channel", Box::new(|p| p["channel"] = json!("pigeon")), 422),
        (
            "source",
            Box::new(|p| p["source"] = json!("mayor_hotline")),
            422,
        ),
        (
            "petitioner.id_number",
            Box::new(|p| p["petitioner"]["id_number"] = json!("411203195202145285")),
            422,
        ),
        (
            "petitioner.id_number",
            Box::new(|p| p["petitioner"]["id_number"] = json!("991203195202145284")),
            422,
        ),
        (
            "petitioner.mobile",
            Box::new(|p| p["petitioner"]["mobile"] = json!("1234")),
            422,
        ),
        (
            "petitioner.name",
            Box::new(|p| p["petitioner"]["name"] = json!("")),
            422,
        ),
        (
            "petitioner.email",
            Box::new(|p| p["petitioner"]["email"] = json!("not-an-email")),
            422,
        ),
        (
            "text",
            Box::new(|p| p["text"] = json!("字".repeat(20_001))),
            422,
        ),
        ("text", Box::new(|p| p["text"] = json!("   ")), 422),
        ("county", Box::new(|p| p["county"] = json!("411299")), 422),
        ("county", Box::new(|p| p["county"] = json!("41A")), 422),
        (
            "received_at",
            Box::new(|p| p["received_at"] = json!("2099-01-01T00:00:00Z")),
            422,
        ),
        ("clerk_id", Box::new(|p| p["clerk_id"] = json!("")), 422),
        (
            "representatives",
            Box::new(|p| p["representatives"] = json!(vec![json!({"name": "代表"}); 6])),
            422,
        ),
        ("colour", Box::new(|p| p["colour"] = json!("red")), 422),
        (
            "group_size",
            Box::new(|p| p["group_size"] = json!("13800138000")),
            422,
        ),
    ];
    for (field, mutate, status) in cases {
        let mut p = good.clone();
        mutate(&mut p);
        let (s, body) = app.post(&p).await;
        assert_eq!(s, status, "{field}: {body}");
        assert_eq!(body["error"]["field"], json!(field), "{body}");
        assert!(
            !body.to_string().contains("13800138000"),
            "error echoes personal data: {body}"
        );
        assert!(
            !body.to_string().contains("4112031952"),
            "error echoes personal data: {body}"
        );
    }
    let r = app
        .http
        .post(app.url("/v1/petitions"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (_, list) = app.get("/v1/cases").await;
    assert_eq!(list["total"], json!(0), "nothing half-written");
    app.stop().await;
}

#[tokio::test]
async fn classifies_representative_petitions() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let samples = [
        (WAGES, "grievance", "rsj"),
        (
            "举报我村党支部书记贪污扶贫款、收受好处费，请纪委调查处理。",
            "accusation",
            "jwjw",
        ),
        (
            "建议在城区主干道增设公交线路和公共自行车站点，方便市民出行。",
            "suggestion",
            "",
        ),
        (
            "小区旁边的工厂每天晚上排放刺鼻废气，污染严重，噪音扰民，请环保部门查处。",
            "grievance",
            "sthjj",
        ),
    ];
    for (i, (text, ty, dept)) in samples.iter().enumerate() {
        let (s, body) = app
            .post(&app.petition(&county, ID_B, &format!("1390000000{i}"), text))
            .await;
        assert_eq!(s, 201, "{body}");
        assert_eq!(
            body["classification"]["petition_type"],
            json!(ty),
            "{text}: {body}"
        );
        if !dept.is_empty() {
            assert_eq!(
                body["classification"]["department"],
                json!(dept),
                "{text}: {body}"
            );
        }
        if *ty == "accusation" {
            let (_, case) = app
                .get(&format!("/v1/cases/{}", body["case_no"].as_str().unwrap()))
                .await;
            assert_eq!(case["confidential"], json!(true));
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn repeats_are_merged_refused_or_not_linked_by_rule() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let city = app.env.city.to_string();
    let (_, first) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let first_no = first["case_no"].as_str().unwrap().to_owned();
    assert!(first["repeat"].is_null());

    // Same person, same matter, same level: merged, count kept.
    let (_, again) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    assert_eq!(again["repeat"]["of"], json!(first_no));
    assert_eq!(again["repeat"]["disposition"], json!("merged"));
    assert_eq!(again["repeat"]["count"], json!(2));
    let (_, earlier) = app.get(&format!("/v1/cases/{first_no}")).await;
    assert_eq!(earlier["repeat_count"], json!(2));

    // Same person, a different matter: not a repeat.
    let (_, other) = app
        .post(&app.petition(
            &county,
            ID_A,
            "13800138000",
            "我家门前的道路年久失修，坑洼不平，雨天积水严重，请求交通部门尽快修缮。",
        ))
        .await;
    assert!(other["repeat"].is_null(), "{other}");

    // Another person, same text: not a repeat (the petitioner differs).
    let (_, stranger) = app
        .post(&app.petition(&county, ID_B, "13900001111", WAGES))
        .await;
    assert!(stranger["repeat"].is_null(), "{stranger}");

    // No ID number this time, the same mobile: the same person, so the same matter is linked.
    let mut by_phone = app.petition(&county, ID_A, "13800138000", WAGES);
    by_phone["petitioner"]
        .as_object_mut()
        .unwrap()
        .remove("id_number");
    let (_, by_phone) = app.post(&by_phone).await;
    assert_eq!(by_phone["repeat"]["of"], json!(first_no), "{by_phone}");
    // Someone else (another ID number) using that family phone is not that person.
    let (_, relative) = app
        .post(&app.petition(&county, ID_B, "13800138000", WAGES))
        .await;
    assert_ne!(relative["repeat"]["of"], json!(first_no), "{relative}");

    // Pending at the county, raised with the city: 不予受理 (Art 19 para 3) — proposed, and
    // applied only once a clerk confirms it (Decisions 7).
    let (_, higher) = app
        .post(&app.petition(&city, ID_A, "13800138000", WAGES))
        .await;
    assert_eq!(
        higher["repeat"]["disposition"],
        json!("not_accepted"),
        "{higher}"
    );
    assert_eq!(higher["repeat"]["proposed"], json!(true));
    assert_eq!(higher["status"], json!("registered"));
    let confirm = json!({"decision": "confirm", "reason": "与原案事实和理由相同"});
    let higher_no = higher["case_no"].as_str().unwrap();
    assert_eq!(app.decide(higher_no, &confirm).await.0, 200);

    // Terminated after 复核, same facts again: 不再受理 (Art 36 para 3).
    app.terminate(&first_no).await;
    let (_, after) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    assert_eq!(
        after["repeat"]["disposition"],
        json!("not_reaccepted"),
        "{after}"
    );
    assert_eq!(after["repeat"]["proposed"], json!(true));
    assert_eq!(after["status"], json!("registered"));
    let after_no = after["case_no"].as_str().unwrap();
    let (s, r) = app.decide(after_no, &confirm).await;
    assert_eq!(
        (s, r["disposition"].clone()),
        (200, json!("not_reaccepted")),
        "{r}"
    );
    app.stop().await;
}

/// A follow-up that says too little to read as an accusation is still the informant's: linked to
/// a confidential matter, it is as confidential (Art 30), and the reasons say why.
#[tokio::test]
async fn a_follow_up_of_an_accusation_stays_confidential() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let (_, first) = app
        .post(&app.petition(
            &county,
            ID_A,
            "13800138000",
            "举报我村会计许某某把村集体苹果园每年四万八的承包费装进自己腰包，村里账目三年不公开，请纪委调查处理。",
        ))
        .await;
    let first_no = first["case_no"].as_str().unwrap().to_owned();
    assert_eq!(
        first["classification"]["petition_type"],
        json!("accusation"),
        "{first}"
    );
    let follow_up = "上回反映我们村苹果园承包费的事，到现在也没人给个答复，请求尽快给个说法。";
    let (_, again) = app
        .post(&app.petition(&county, ID_A, "13800138000", follow_up))
        .await;
    // What the test is about: on its own the text is not read as an accusation.
    assert_ne!(
        again["classification"]["petition_type"],
        json!("accusation"),
        "{again}"
    );
    assert_eq!(again["repeat"]["of"], json!(first_no), "{again}");
    let again_no = again["case_no"].as_str().unwrap();
    let (_, case) = app.get(&format!("/v1/cases/{again_no}")).await;
    assert_eq!(case["confidential"], json!(true), "{case}");
    assert_eq!(case["needs_triage"], json!(true), "{case}");
    assert!(
        again["classification"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(&first_no)),
        "{again}"
    );
    // Another matter of the same petitioner is not.
    let (_, other) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let (_, case) = app
        .get(&format!("/v1/cases/{}", other["case_no"].as_str().unwrap()))
        .await;
    assert_eq!(case["confidential"], json!(false), "{case}");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_registrations_get_gap_free_unique_numbers() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let n = 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let http = app.http.clone();
        let url = app.url("/v1/petitions");
        let body = app.petition(
            &county,
            ID_B,
            &format!("1370000{i:04}"),
            &format!("第{i}号事项：{}", "反映情况".repeat(i % 5 + 1)),
        );
        tasks.push(tokio::spawn(async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 201);
            r.json::<Value>().await.unwrap()["case_no"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut seqs = Vec::new();
    let year = (chrono::Utc::now() + chrono::Duration::hours(8)).year();
    for t in tasks {
        let no = t.await.unwrap();
        let seq = no.rsplit('-').next().unwrap().parse::<u32>().unwrap();
        // The number the database composes reads as the one the code documents.
        assert_eq!(
            no,
            xinfang_intake::case_number::format(&app.env.county, year, seq.into())
        );
        seqs.push(seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=n as u32).collect::<Vec<_>>());
    // Past six digits the number grows a digit; it is never cut.
    sqlx::query("update case_sequences set last = 999999 where county = $1")
        .bind(&county)
        .execute(&app.started.host.pool)
        .await
        .unwrap();
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    assert_eq!(
        r["case_no"],
        json!(format!("XF-{county}-{year}-1000000")),
        "{r}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_petitioner_query_shows_status_and_timeline_without_personal_data() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let code = r["query_code"].as_str().unwrap().to_owned();
    app.publish(&app.env.county, "case", "accepted", &case_no, json!({"case_no": case_no, "department": "rsj", "accepted_on": "2026-11-26", "at": chrono::Utc::now()})).await;
    app.env
        .wait_for("acceptance in the registry", 20, async || {
            app.status_of(&case_no).await == "accepted"
        })
        .await;
    let (s, q) = app.get(&format!("/v1/query/{code}")).await;
    assert_eq!(s, 200);
    assert_eq!(q["status"], json!("accepted"));
    assert!(q["timeline"].as_array().unwrap().len() >= 2);
    let text = q.to_string();
    for secret in ["测试人", "13800138000", ID_A, "拖欠"] {
        assert!(!text.contains(secret), "petitioner view leaks {secret}");
    }
    assert_eq!(app.get("/v1/query/AAAAAAA0").await.0, 422);
    assert_eq!(app.get("/v1/query/AAAAAAAA").await.0, 404);
    // Staff view has the contact, decrypted.
    let (_, staff) = app.get(&format!("/v1/cases/{case_no}")).await;
    assert_eq!(staff["petitioner"]["mobile"], json!("13800138000"));
    // The CSV export carries milestones and no personal data.
    let csv = app
        .http
        .get(app.url("/v1/cases.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().next().unwrap().contains("accepted_at"));
    assert!(csv.contains(&case_no) && !csv.contains("13800138000"));
    let _ = Duration::from_secs(0);
    app.stop().await;
}

#[tokio::test]
async fn a_clerk_override_is_recorded_and_emitted() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let res = app
        .http
        .patch(app.url(&format!("/v1/cases/{case_no}/classification")))
        .json(&json!({"department": "zjj", "by": "clerk-7", "reason": "工地属住建局监管"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (_, case) = app.get(&format!("/v1/cases/{case_no}")).await;
    assert_eq!(case["suggested_department"], json!("zjj"));
    let bad = app
        .http
        .patch(app.url(&format!("/v1/cases/{case_no}/classification")))
        .json(&json!({"department": "nope", "by": "clerk-7", "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    let no_reason = app
        .http
        .patch(app.url(&format!("/v1/cases/{case_no}/classification")))
        .json(&json!({"department": "zjj", "by": "clerk-7", "reason": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_reason.status().as_u16(), 422);
    app.env
        .wait_for("case.reclassified published", 10, async || {
            app.env
                .read(
                    &app.env.county,
                    &subject::case_event(&app.env.county, "reclassified")
                        .unwrap()
                        .to_string(),
                )
                .await
                .len()
                == 1
        })
        .await;
    // The OpenAPI document is served.
    let (s, doc) = app.get("/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["paths"]["/v1/petitions"]["post"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn registration_over_nats_request_reply() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let subj = subject::command(&app.env.county, "intake", "register").unwrap();
    let body = app.petition(&county, ID_A, "13800138000", WAGES);
    let reply = app
        .env
        .infra
        .nats
        .request(subj.to_string(), serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert!(v["case_no"].as_str().unwrap().starts_with("XF-"), "{v}");
    let mut bad = body.clone();
    bad["petitioner"]["mobile"] = json!("1");
    let reply = app
        .env
        .infra
        .nats
        .request(subj.to_string(), serde_json::to_vec(&bad).unwrap().into())
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(v["error"]["field"], json!("petitioner.mobile"));
    app.stop().await;
}

#[tokio::test]
async fn personal_data_is_stored_sealed_beside_keyed_hashes() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let row: (String, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "select petitioner_sealed, id_number_sealed, id_number_hash, mobile_hash from cases where case_no = $1",
    )
    .bind(&case_no)
    .fetch_one(&app.started.host.pool)
    .await
    .unwrap();
    let stored = format!("{row:?}");
    for plain in [ID_A, "13800138000", "测试人"] {
        assert!(!stored.contains(plain), "{plain} stored in clear");
    }
    let keys =
        xinfang_intake::crypto::Keys::from_settings(&app.env.infra.settings.platform.security)
            .unwrap();
    assert_eq!(
        keys.open(row.1.as_deref().unwrap()).unwrap(),
        ID_A.as_bytes()
    );
    assert_eq!(row.2.as_deref(), Some(keys.hash("id", ID_A).as_str()));
    assert_eq!(
        row.3.as_deref(),
        Some(keys.hash("mobile", "13800138000").as_str())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_review_event_arriving_after_termination_does_not_reopen_the_case() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    // The two families are consumed separately: here the termination wins the race.
    app.terminate(&case_no).await;
    app.publish(
        &app.env.county,
        "review",
        "decided",
        &case_no,
        json!({"case_no": case_no, "level": "rereview"}),
    )
    .await;
    app.wait_for_timeline_event(&case_no, "decided").await;
    assert_eq!(app.status_of(&case_no).await, "terminated");
    app.stop().await;
}

/// An event about a case this registry does not hold (a county case reviewed at the city) is
/// passed over: acked at once, not retried into the dead-letter subject.
#[tokio::test]
async fn an_event_for_a_case_held_elsewhere_is_passed_over() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let elsewhere = format!("XF-{county}-2026-999999");
    app.publish(
        &app.env.county,
        "case",
        "replied",
        &elsewhere,
        json!({"case_no": elsewhere, "department": "rsj", "served_on": "2026-12-01"}),
    )
    .await;
    // An event of a case it holds, after it on the same consumer.
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    app.publish(
        &app.env.county,
        "case",
        "accepted",
        &case_no,
        json!({"case_no": case_no, "department": "rsj", "accepted_on": "2026-11-26", "at": chrono::Utc::now()}),
    )
    .await;
    app.wait_for_timeline_event(&case_no, "accepted").await;
    let stream = app.env.infra.stream(&app.env.county).unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("intake_registry_case").await.unwrap();
    // The timeline row commits before the handler acks, so the last ack may still be in flight.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let info = loop {
        let info = consumer.info().await.unwrap().clone();
        if info.num_ack_pending == 0 || std::time::Instant::now() > deadline {
            break info;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    assert_eq!(info.num_redelivered, 0, "handled the first time: {info:?}");
    assert_eq!(app.get(&format!("/v1/cases/{elsewhere}")).await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn an_event_delivered_after_a_later_one_does_not_set_the_status_back() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let replied_at = chrono::Utc::now();
    app.publish_at(
        &app.env.county,
        "case",
        "replied",
        &case_no,
        json!({"case_no": case_no, "department": "rsj", "served_on": "2026-12-01"}),
        replied_at,
    )
    .await;
    app.env
        .wait_for("the reply to set the status", 20, async || {
            app.status_of(&case_no).await == "replied"
        })
        .await;
    // The extension happened before the reply; its message comes again after it (a redelivery).
    app.publish_at(
        &app.env.county,
        "case",
        "extended",
        &case_no,
        json!({"case_no": case_no, "days": 30, "reason": "需要现场核查"}),
        replied_at - chrono::Duration::days(3),
    )
    .await;
    app.wait_for_timeline_event(&case_no, "extended").await;
    assert_eq!(app.status_of(&case_no).await, "replied");
    app.stop().await;
}

/// A late assignment (a redelivery after the case was transferred) does not hand the case back to
/// the unit it left: access follows the current department.
#[tokio::test]
async fn an_assignment_delivered_after_a_transfer_does_not_move_the_case_back() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let (_, r) = app
        .post(&app.petition(&county, ID_A, "13800138000", WAGES))
        .await;
    let case_no = r["case_no"].as_str().unwrap().to_owned();
    let department_of =
        async || app.get(&format!("/v1/cases/{case_no}")).await.1["current_department"].clone();
    let transferred_at = chrono::Utc::now();
    app.publish_at(
        &app.env.county,
        "case",
        "transferred",
        &case_no,
        json!({"case_no": case_no, "from": "rsj", "to": "zjj", "approved_by": "xfj"}),
        transferred_at,
    )
    .await;
    app.env
        .wait_for("the transfer to move the case", 20, async || {
            department_of().await == json!("zjj")
        })
        .await;
    // The assignment to the first unit happened before the transfer; it comes again after it.
    app.publish_at(
        &app.env.county,
        "case",
        "assigned",
        &case_no,
        json!({"case_no": case_no, "department": "rsj", "mode": "assign"}),
        transferred_at - chrono::Duration::days(3),
    )
    .await;
    app.wait_for_timeline_event(&case_no, "assigned").await;
    assert_eq!(department_of().await, json!("zjj"));
    // A newer move still moves it.
    app.publish_at(
        &app.env.county,
        "case",
        "transferred",
        &case_no,
        json!({"case_no": case_no, "from": "zjj", "to": "zrzyj", "approved_by": "xfj"}),
        transferred_at + chrono::Duration::minutes(1),
    )
    .await;
    app.env
        .wait_for("the newer transfer to move the case", 20, async || {
            department_of().await == json!("zrzyj")
        })
        .await;
    app.stop().await;
}

/// Issue #15: the source (信访事项来源) is recorded and travels on `case.registered` with
/// what the weekly analysis needs — the town and the redacted text's topic words, never names.
#[tokio::test]
async fn the_source_town_and_topic_words_travel_with_the_registration() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    let mut p = app.petition(
        &county,
        ID_A,
        "13800138000",
        "我是陕州区原店镇某村村民测试人，村里修物流园占了我家的地，补偿款一直没给。",
    );
    p["source"] = json!("provincial_joint");
    let (status, receipt) = app.post(&p).await;
    assert_eq!(status, 201, "{receipt}");
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let (_, case) = app.get(&format!("/v1/cases/{case_no}")).await;
    assert_eq!(case["source"], "provincial_joint");
    let mut msgs = Vec::new();
    app.env
        .wait_for("case.registered published", 10, async || {
            msgs = app
                .env
                .read(&app.env.county, &format!("xf.{county}.case.registered"))
                .await;
            !msgs.is_empty()
        })
        .await;
    let env: Envelope = serde_json::from_slice(&msgs.last().unwrap().payload).unwrap();
    assert_eq!(env.data["source"], "provincial_joint");
    assert_eq!(env.data["listed"], true);
    assert_eq!(env.data["town"], "原店镇");
    let words = env.data["matter_words"].as_object().expect("topic words");
    assert!(words.contains_key("物流园"), "{words:?}");
    assert!(
        !words.keys().any(|w| w.contains("测试")),
        "words come from the redacted text: {words:?}"
    );
    // Without a source a petition is ordinary and not listed.
    let (status, receipt) = app
        .post(&app.petition(
            &county,
            ID_B,
            "13900139000",
            "小区电梯坏了三个月，物业不修。",
        ))
        .await;
    assert_eq!(status, 201);
    let (_, case) = app
        .get(&format!(
            "/v1/cases/{}",
            receipt["case_no"].as_str().unwrap()
        ))
        .await;
    assert_eq!(case["source"], "ordinary");
    app.stop().await;
}

/// Issue #19 item 5: a clerk's correction becomes a labelled example (the redacted text, never
/// the names), and retraining without a restart makes the classifier learn it.
#[tokio::test]
async fn a_clerks_correction_teaches_the_classifier_without_a_restart() {
    let app = App::start().await;
    let county = app.env.county.to_string();
    // A matter in words the shipped examples never use.
    let odd = "关于嘤嘤鸟叽叽喳喳咕咕咕事项的情况反映，望研究。";
    let (status, first) = app
        .post(&app.petition(&county, ID_A, "13800138000", &format!("测试人反映：{odd}")))
        .await;
    assert_eq!(status, 201, "{first}");
    let before = first["classification"]["department"]
        .as_str()
        .unwrap()
        .to_owned();
    let corrected = if before == "wjw" { "lyj" } else { "wjw" };
    let case_no = first["case_no"].as_str().unwrap();
    let (_, state) = app.get("/v1/classifier").await;
    assert_eq!(state["learned"], 0, "{state}");
    assert!(state["shipped"].as_u64().unwrap() > 1000, "{state}");

    let r = app
        .http
        .patch(app.url(&format!("/v1/cases/{case_no}/classification")))
        .json(&json!({"department": corrected, "by": "clerk-7", "reason": "应由该部门办理"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pool = &app.started.host.pool;
    let (text, dept, source): (String, String, String) =
        sqlx::query_as("select text, department, source from learned_examples where case_no = $1")
            .bind(case_no)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(dept, corrected);
    assert_eq!(source, "clerk:clerk-7");
    assert!(text.contains("嘤嘤鸟"), "the matter is kept");
    assert!(
        !text.contains("测试人"),
        "the petitioner's name is not: {text}"
    );

    let r = app
        .http
        .post(app.url("/v1/classifier/retrain"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state: Value = r.json().await.unwrap();
    assert_eq!(state["learned"], 1, "{state}");
    // The same matter raised by someone else is now classified as the clerk corrected it.
    let (status, second) = app
        .post(&app.petition(&county, ID_B, "13900139000", odd))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        second["classification"]["department"], corrected,
        "{}",
        second["classification"]
    );
    app.stop().await;
}
