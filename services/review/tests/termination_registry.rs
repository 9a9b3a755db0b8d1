//! The provincial terminated-matters registry (issue #15 item 6) over the real NATS, Postgres
//! and Redis: the export pages through the matters terminated here in a stable order with a
//! resumable cursor and gives the same record every time; the import checks every record
//! (a refusal names the line and the field), stores the province's matters once, skips this
//! deployment's own, and tells intake; both are an operator's, and audited.

use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::classify::similarity::fingerprint;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, cst_date};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{Accepted, AssignMode, Assigned, Contact, Registered, Replied, kind};
use xinfang_domain::petition::{Art31Branch, Channel, OpinionOutcome, PetitionType};
use xinfang_domain::seal::{DataKey, seal_contact};
use xinfang_domain::termination_registry::{FORMAT, Record, fingerprint_hex};
use xinfang_platform::testing::TestEnv;
use xinfang_review::clock::Clock;
use xinfang_review::identity::{HashKey, ID_LABEL, key_id};
use xinfang_review::service::{Review, start_with};

const IDS: [&str; 3] = [
    "11010519491231002X",
    "440304198001011239",
    "110101199003074514",
];
const TEXTS: [&str; 3] = [
    "我父亲的养老保险待遇被停发，多次到社保中心反映未果，请求恢复发放并补发。",
    "村里修路占用我家承包地两亩，补偿款至今没有发放，请求核实并足额补偿。",
    "小区物业擅自提高收费标准，业主多次反映无人处理，请求主管部门查处。",
];

struct Deployment {
    env: TestEnv,
    review: Review,
    http: reqwest::Client,
    /// Sent as the bearer token, when the API requires tokens.
    bearer: Option<String>,
}

impl Deployment {
    /// The city and its county in one deployment, so the 复查 (county government) and the
    /// 复核 (city government) are both decided here.
    async fn start(auth: bool) -> Deployment {
        let env = TestEnv::start(
            move |p| p.security.auth_required = auth,
            "[review]\nsweep_enabled = false\n",
        )
        .await
        .expect("local NATS, Postgres and Redis must be running");
        let review = start_with(env.infra.clone(), Clock::system())
            .await
            .expect("review starts");
        let mut d = Deployment {
            env,
            review,
            http: reqwest::Client::new(),
            bearer: None,
        };
        if auth {
            d.bearer = Some(d.token(Role::Operator, &d.env.city.clone()).await);
        }
        d
    }

    async fn token(&self, role: Role, scope: &CountyCode) -> String {
        let store = self.review.started.host.auth.store().expect("auth on");
        store.create(role, scope, None, "test").await.unwrap().token
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.review.started.http)
    }

    fn key(&self) -> HashKey {
        HashKey::from_settings(&self.env.infra.settings.platform.security).unwrap()
    }

    fn data_key(&self) -> DataKey {
        DataKey::from_base64(self.env.infra.settings.platform.security.data_key.expose()).unwrap()
    }

    fn data_key_id(&self) -> String {
        let raw = self.env.infra.settings.platform.security.data_key.expose();
        key_id(
            &base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap(),
        )
    }

    async fn send(&self, r: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
        let r = match token.or(self.bearer.as_deref()) {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        let resp = r.send().await.unwrap();
        let s = resp.status().as_u16();
        (s, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path)), None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).json(&body), None)
            .await
    }

    /// A case registered, answered with a handling opinion, reviewed by the county
    /// government and re-reviewed by the city government (both upholding): terminated.
    /// Returns the case number and the sealed contact sent with `case.registered`.
    async fn terminate(&self, n: u32, id: &str, text: &str) -> (String, String) {
        let county = self.env.county.clone();
        let case_no = format!("XF-{county}-2026-{n:06}");
        let today = cst_date(Utc::now().with_timezone(&CST));
        let contact = seal_contact(
            &self.data_key(),
            rand::random(),
            &Contact {
                name: "测试人".into(),
                mobile: Some("13800138000".into()),
                email: None,
            },
        )
        .unwrap();
        let registered = Registered {
            case_no: case_no.clone(),
            query_code: format!("Q{n:07}"),
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
            petitioner_key: self.key().hash(ID_LABEL, id),
            contact: Some(contact.clone()),
            text: text.into(),
            redacted_text: None,
            source: None,
            listed: false,
            town: None,
            matter_words: None,
            received_by: None,
        };
        let env = &self.env;
        env.publish_case(&county, kind::REGISTERED, &case_no, &registered)
            .await;
        env.publish_case(
            &county,
            kind::ASSIGNED,
            &case_no,
            &Assigned {
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
            },
        )
        .await;
        env.publish_case(
            &county,
            kind::ACCEPTED,
            &case_no,
            &Accepted {
                organ_county: None,
                case_no: case_no.clone(),
                department: "rsj".into(),
                accepted_on: today,
                at: Utc::now(),
            },
        )
        .await;
        env.publish_case(
            &county,
            kind::REPLIED,
            &case_no,
            &Replied {
                case_no: case_no.clone(),
                department: "rsj".into(),
                outcome: Some(OpinionOutcome::NotSupported),
                is_handling_opinion: true,
                text: "经调查，不予支持。".into(),
                served_on: today,
                at: Utc::now(),
            },
        )
        .await;
        let view = format!("/v1/reviews/{case_no}");
        self.env
            .wait_for("review to hold the served opinion", 30, async || {
                let (s, v) = self.get(&view).await;
                s == 200 && v["is_handling_opinion"] == true
            })
            .await;
        let decide = format!("/v1/reviews/{case_no}/decision");
        for level in ["review", "rereview"] {
            let (s, body) = self
                .post(
                    "/v1/reviews",
                    json!({"case_no": case_no, "clerk_id": "clerk-1", "level": level}),
                )
                .await;
            assert_eq!(s, 201, "{body}");
            let (s, body) = self
                .post(
                    &decide,
                    json!({"level": level, "outcome": "uphold", "text": "维持原处理意见。",
                           "served_on": today}),
                )
                .await;
            assert_eq!(s, 201, "{body}");
        }
        self.env
            .wait_for("the case to be terminated", 30, async || {
                let (_, v) = self.get(&view).await;
                !v["termination"].is_null()
            })
            .await;
        (case_no, contact.0)
    }

    async fn stop(self) {
        self.env.stop().await;
    }
}

fn records(page: &Value) -> Vec<(i64, Record)> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                Record::from_json(&e["record"]).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_export_pages_in_a_stable_order_and_resumes_after_its_cursor() {
    let d = Deployment::start(false).await;
    let (city, county) = (d.env.city.clone(), d.env.county.clone());
    let (a, sealed_a) = d.terminate(1, IDS[0], TEXTS[0]).await;
    let (b, _) = d.terminate(2, IDS[1], TEXTS[1]).await;
    let today = cst_date(Utc::now().with_timezone(&CST));

    let (s, page) = d
        .get(&format!("/v1/terminations/export?since={today}&limit=1"))
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["format"], FORMAT);
    assert_eq!(page["more"], true);
    assert_eq!(page["next"], 1);
    let first = records(&page);
    assert_eq!(first.len(), 1);
    let (seq, r) = &first[0];
    assert_eq!((*seq, r.case_no.as_str()), (1, a.as_str()));
    // Every field the registry needs.
    assert_eq!(r.home_county, county);
    assert_eq!(r.matter_county, county);
    assert_eq!(r.petition_type, PetitionType::Grievance);
    assert_eq!(r.branch, Some(Art31Branch::Residual));
    assert_eq!(r.petitioner.key, d.key().hash(ID_LABEL, IDS[0]));
    assert_eq!(r.petitioner.key_id, d.key().key_id());
    assert_eq!(
        r.petitioner.sealed_identity.as_deref(),
        Some(sealed_a.as_str())
    );
    assert_eq!(
        r.petitioner.sealed_identity_key_id.as_deref(),
        Some(d.data_key_id().as_str())
    );
    assert_eq!(r.fingerprint.version, 1);
    assert_eq!(r.fingerprint.slots, fingerprint_hex(&fingerprint(TEXTS[0])));
    let handling = r.handling.as_ref().expect("the handling opinion");
    assert_eq!(handling.organ, format!("{county}:rsj"));
    assert_eq!(handling.outcome.as_deref(), Some("not_supported"));
    assert_eq!(handling.served_on, Some(today));
    let review = r.review.as_ref().expect("the 复查");
    assert_eq!(review.organ, format!("{county}:gov"));
    assert_eq!(review.outcome.as_deref(), Some("uphold"));
    assert_eq!(review.served_on, Some(today));
    assert_eq!(r.rereview.organ, format!("{city}:gov"));
    assert_eq!(r.rereview.outcome.as_deref(), Some("uphold"));
    assert_eq!(r.rereview.served_on, Some(today));
    assert!(r.terminated_at >= r.registered_at);
    let line = page["entries"][0]["record"].to_string();
    assert!(
        !line.contains("13800138000") && !line.contains("测试人"),
        "{line}"
    );

    // Resumed after the cursor: the next one, then nothing.
    let (_, page) = d.get("/v1/terminations/export?after=1&limit=1").await;
    let second = records(&page);
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].0, second[0].1.case_no.as_str()), (2, b.as_str()));
    assert_eq!(page["more"], false);
    let (_, page) = d.get("/v1/terminations/export?after=2").await;
    assert!(records(&page).is_empty());
    assert_eq!(page["next"], 2);

    // The same records again, byte for byte, and a third one continues the numbering.
    let (_, again) = d.get("/v1/terminations/export").await;
    let again = records(&again);
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].1.to_json_line(), first[0].1.to_json_line());
    assert_eq!(again[1].1.to_json_line(), second[0].1.to_json_line());
    let (c, _) = d.terminate(3, IDS[2], TEXTS[2]).await;
    let (_, page) = d.get("/v1/terminations/export?after=2").await;
    let third = records(&page);
    assert_eq!(third.len(), 1);
    assert_eq!((third[0].0, third[0].1.case_no.as_str()), (3, c.as_str()));

    // `since` leaves out what was terminated before it; bad parameters name themselves.
    let tomorrow = today.succ_opt().unwrap();
    let (_, page) = d
        .get(&format!("/v1/terminations/export?since={tomorrow}"))
        .await;
    assert!(records(&page).is_empty());
    let (s, body) = d.get("/v1/terminations/export?limit=0").await;
    assert_eq!((s, body["error"]["field"].as_str()), (422, Some("limit")));
    let (s, body) = d.get("/v1/terminations/export?after=-1").await;
    assert_eq!((s, body["error"]["field"].as_str()), (422, Some("after")));
    d.stop().await;
}

/// A record of the matter `n` terminated in county `home` of another deployment.
fn foreign(d: &Deployment, home: &str, n: u32, id: &str, text: &str) -> Value {
    json!({
        "format": FORMAT,
        "case_no": format!("XF-{home}-2025-{n:06}"),
        "home_county": home,
        "matter_county": home,
        "petition_type": "grievance",
        "branch": "31_6",
        "registered_at": "2025-03-01T02:00:00.000000Z",
        "petitioner": {"key": d.key().hash(ID_LABEL, id), "key_id": d.key().key_id(),
                       "sealed_identity": null, "sealed_identity_key_id": null},
        "fingerprint": {"version": 1, "slots": fingerprint_hex(&fingerprint(text))},
        "handling": {"organ": format!("{home}:rsj"), "outcome": "not_supported", "served_on": "2025-04-01"},
        "review": {"organ": format!("{home}:gov"), "outcome": "uphold", "served_on": "2025-05-20"},
        "rereview": {"organ": format!("{}00:gov", &home[..4]), "outcome": "uphold", "served_on": "2025-07-10"},
        "terminated_at": "2025-07-10T03:00:00.000000Z"
    })
}

#[tokio::test]
async fn the_import_checks_every_record_stores_it_once_and_tells_intake() {
    let d = Deployment::start(false).await;
    let (city, county) = (d.env.city.clone(), d.env.county.clone());
    // Another deployment of the province: another city's county.
    let home = "889902".to_owned();
    let good = foreign(&d, &home, 7, IDS[0], TEXTS[0]);
    let import = |records: Vec<Value>, dry_run: bool| {
        let lines: Vec<Value> = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| json!({"line": i + 1, "record": r}))
            .collect();
        json!({"source": "province-2025.jsonl", "dry_run": dry_run, "records": lines})
    };
    let listed = async || {
        let (s, v) = d
            .get(&format!(
                "/v1/terminations?petitioner_key={}&county={county}",
                d.key().hash(ID_LABEL, IDS[0])
            ))
            .await;
        assert_eq!(s, 200, "{v}");
        v["terminations"].as_array().cloned().unwrap_or_default()
    };

    // A malformed line refuses the batch, naming the line and the field; nothing is stored.
    let mut bad = good.clone();
    bad["fingerprint"]["slots"] = json!("00ff");
    let (s, body) = d
        .post(
            "/v1/terminations/import",
            import(vec![good.clone(), bad], false),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["field"], "fingerprint.slots");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2: fingerprint.slots:"),
        "{body}"
    );
    assert!(listed().await.is_empty());
    // Keys made with another hash key cannot be compared here.
    let mut other_key = good.clone();
    other_key["petitioner"]["key_id"] = json!("0000000000000000");
    let (s, body) = d
        .post("/v1/terminations/import", import(vec![other_key], false))
        .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (422, Some("petitioner.key_id"))
    );
    // A dry run counts and stores nothing.
    let (s, body) = d
        .post("/v1/terminations/import", import(vec![good.clone()], true))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (body["new"].as_u64(), body["dry_run"].as_bool()),
        (Some(1), Some(true))
    );
    assert!(listed().await.is_empty());

    // Stored, marked as the province's; the same again changes nothing; a matter of a county
    // served here is this deployment's own.
    let mine = foreign(&d, county.as_str(), 9, IDS[1], TEXTS[1]);
    let (s, body) = d
        .post(
            "/v1/terminations/import",
            import(vec![good.clone(), mine], false),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (
            body["new"].as_u64(),
            body["own"].as_u64(),
            body["received"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{body}"
    );
    let entries = listed().await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["case_no"], format!("XF-{home}-2025-000007"));
    assert_eq!(entries[0]["source"], "province");
    let (_, body) = d
        .post("/v1/terminations/import", import(vec![good.clone()], false))
        .await;
    assert_eq!(
        (body["unchanged"].as_u64(), body["new"].as_u64()),
        (Some(1), Some(0)),
        "{body}"
    );
    let mut corrected = good.clone();
    corrected["rereview"]["served_on"] = json!("2025-07-11");
    let (_, body) = d
        .post("/v1/terminations/import", import(vec![corrected], false))
        .await;
    assert_eq!(body["updated"].as_u64(), Some(1), "{body}");

    // Intake hears of the new and the corrected record on the city's review subjects.
    let subject = format!("xf.{city}.review.registry_termination");
    d.env
        .wait_for("the registry events", 20, async || {
            d.env.read(&city, &subject).await.len() == 2
        })
        .await;
    let events: Vec<Envelope> = d
        .env
        .read(&city, &subject)
        .await
        .iter()
        .map(|m| Envelope::from_bytes(&m.payload).unwrap())
        .collect();
    assert!(events.iter().all(|e| e.case_id.is_none()));
    assert_eq!(
        events[0].data["matter_case_no"],
        format!("XF-{home}-2025-000007")
    );
    assert_eq!(
        events[0].data["petitioner_key"],
        d.key().hash(ID_LABEL, IDS[0])
    );
    // Imported matters are not this deployment's to export.
    let (_, page) = d.get("/v1/terminations/export").await;
    assert!(records(&page).is_empty(), "{page}");
    d.stop().await;
}

#[tokio::test]
async fn only_operators_export_and_import_and_it_is_audited() {
    let d = Deployment::start(true).await;
    let (city, county) = (d.env.city.clone(), d.env.county.clone());
    let export = d.http.get(d.url("/v1/terminations/export"));
    let (s, _) = d.send(export, Some("not-a-token")).await;
    assert_eq!(s, 401);
    for role in [Role::Reviewer, Role::Clerk, Role::Supervisor] {
        let t = d.token(role, &city).await;
        let (s, body) = d
            .send(d.http.get(d.url("/v1/terminations/export")), Some(&t))
            .await;
        assert_eq!(s, 403, "{role:?}: {body}");
    }
    // A county operator exports its county, and may not import for the whole deployment.
    let county_operator = d.token(Role::Operator, &county).await;
    let (s, body) = d
        .send(
            d.http.get(d.url("/v1/terminations/export")),
            Some(&county_operator),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = d
        .send(
            d.http
                .get(d.url(&format!("/v1/terminations/export?county={city}"))),
            Some(&county_operator),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let batch = json!({"source": "p", "records": []});
    let (s, _) = d
        .send(
            d.http.post(d.url("/v1/terminations/import")).json(&batch),
            Some(&county_operator),
        )
        .await;
    assert_eq!(s, 403);
    let (s, body) = d.post("/v1/terminations/import", batch).await;
    assert_eq!(s, 200, "{body}");
    let store = d.review.started.host.auth.store().expect("auth on");
    let audit: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where action like '%terminations' order by id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(audit, vec!["export_terminations", "import_terminations"]);
    d.stop().await;
}
