//! Repeats and refusals (issue #13, Decisions 7) over the real NATS, Postgres and Redis, with
//! bearer tokens: a refusal the similarity proposes waits for a clerk, who confirms, rejects or
//! unlinks over HTTP or NATS (who, when, why on the timeline and in the published event); Art 19
//! para 3 is proposed only while the earlier matter is within its time limit; a repeat of a
//! finished matter is handled on its own, never merged into it.

use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{RepeatDecided, RepeatDecision, RepeatDisposition};
use xinfang_domain::subject;
use xinfang_platform::auth::AuthStore;
use xinfang_platform::host::Started;
use xinfang_platform::testing::TestEnv;

// Invented people; the ID numbers carry valid GB 11643 check characters.
const ID_A: &str = "411203195202145284";
const ID_B: &str = "411202198707023263";
const WAGES: &str =
    "我在工地干了半年，包工头拖欠我工资两万元一直不给，多次讨要无果，请求责令其支付。";
const ROAD: &str = "我家门前的道路年久失修，坑洼不平，雨天积水严重，请求交通部门尽快修缮。";

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
            .expect("local infrastructure");
        let started = xinfang_intake::service::start(env.infra.clone())
            .await
            .expect("intake starts");
        let store = started.host.auth.store().expect("auth is required").clone();
        App {
            env,
            started,
            store,
            http: reqwest::Client::new(),
        }
    }

    /// (token id, token)
    async fn token(&self, role: Role, scope: &CountyCode, dept: Option<&str>) -> (String, String) {
        let t = self.store.create(role, scope, dept, "test").await.unwrap();
        (t.id, t.token)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.started.http)
    }

    async fn register(&self, token: &str, county: &CountyCode, id: &str, text: &str) -> Value {
        let r = self
            .http
            .post(self.url("/v1/petitions"))
            .bearer_auth(token)
            .json(&json!({
                "channel": "letter",
                "petitioner": {"name": "测试人", "id_number": id, "mobile": "13800138000"},
                "text": text,
                "county": county.to_string(),
                "received_at": chrono::Utc::now(),
                "clerk_id": "clerk-1",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        r.json().await.unwrap()
    }

    async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut req = self
            .http
            .get(self.url(path))
            .header("x-access-reason", "核查重复件");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn decide(&self, token: &str, case_no: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(&format!("/v1/cases/{case_no}/repeat")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn case(&self, token: &str, case_no: &str) -> Value {
        let (s, v) = self.get(Some(token), &format!("/v1/cases/{case_no}")).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// The case's timeline lines of `event`.
    async fn lines(&self, token: &str, case_no: &str, event: &str) -> Vec<String> {
        self.case(token, case_no).await["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["event"] == event)
            .filter_map(|l| l["summary"].as_str().map(str::to_owned))
            .collect()
    }

    /// Events published for the case on `county`'s stream under `xf.<county>.case.<kind>`.
    async fn events(&self, county: &CountyCode, kind: &str, case_no: &str) -> Vec<Envelope> {
        self.env
            .read(county, &format!("xf.{county}.case.{kind}"))
            .await
            .into_iter()
            .filter_map(|m| Envelope::from_bytes(&m.payload).ok())
            .filter(|e| e.case_id.as_deref() == Some(case_no))
            .collect()
    }

    async fn wait_event(&self, county: &CountyCode, kind: &str, case_no: &str) -> Envelope {
        let mut found = None;
        self.env
            .wait_for(&format!("case.{kind} of {case_no}"), 20, async || {
                found = self.events(county, kind, case_no).await.pop();
                found.is_some()
            })
            .await;
        found.unwrap()
    }

    /// Publishes a deadline event about `case_no` as supervision would, and waits for the
    /// registry to hold it.
    async fn deadline(
        &self,
        case_no: &str,
        phase: &str,
        code: &str,
        due: chrono::DateTime<chrono::Utc>,
    ) {
        let county = &self.env.county;
        let env = Envelope::new(
            phase,
            Some(case_no.to_owned()),
            county.clone(),
            chrono::Utc::now(),
            json!({"case_no": case_no, "deadline": code, "department": "rsj", "due": due,
                   "at": chrono::Utc::now()}),
        )
        .unwrap();
        xinfang_platform::nats::publish(
            self.env.js(),
            &subject::deadline_event(county, phase).unwrap(),
            &env,
        )
        .await
        .unwrap()
        .await
        .unwrap();
        let (_, op) = self.token(Role::Operator, &self.env.city, None).await;
        let want = if phase == "overdue" {
            "overdue"
        } else {
            "warning"
        };
        self.env
            .wait_for("the registry to hold the deadline", 20, async || {
                self.case(&op, case_no).await["deadlines"][code]["state"] == want
            })
            .await;
    }
}

/// Art 19 para 3 and Decisions 7 over HTTP: the city receives a matter pending at the county;
/// the refusal is only proposed (the case stays registered, the petitioner sees nothing of
/// it), and a clerk of the city confirms it — the token's clerk, the time and the reason on the
/// timeline and in `case.refusal_confirmed`.
#[tokio::test]
async fn a_proposed_refusal_waits_for_a_clerk_who_confirms_it() {
    let app = App::start().await;
    let (county, city) = (app.env.county.clone(), app.env.city.clone());
    let (_, county_clerk) = app.token(Role::Clerk, &county, None).await;
    let (city_clerk_id, city_clerk) = app.token(Role::Clerk, &city, None).await;
    let first = app.register(&county_clerk, &county, ID_A, WAGES).await;
    let first_no = first["case_no"].as_str().unwrap().to_owned();

    let higher = app.register(&city_clerk, &city, ID_A, WAGES).await;
    let case_no = higher["case_no"].as_str().unwrap().to_owned();
    assert_eq!(higher["status"], "registered", "{higher}");
    assert_eq!(higher["repeat"]["of"], json!(first_no));
    assert_eq!(higher["repeat"]["disposition"], "not_accepted");
    assert_eq!(higher["repeat"]["proposed"], true);
    // The event says it is a proposal too.
    let reg = app.wait_event(&city, "registered", &case_no).await;
    assert_eq!(reg.data["repeat"]["proposed"], true);
    // Staff see the proposal; the petitioner's query shows none of it.
    let staff = app.case(&city_clerk, &case_no).await;
    assert_eq!(staff["repeat_proposed"], true);
    assert_eq!(
        app.lines(&city_clerk, &case_no, "repeat_proposed")
            .await
            .len(),
        1
    );
    let code = higher["query_code"].as_str().unwrap();
    let (s, public) = app.get(None, &format!("/v1/query/{code}")).await;
    assert_eq!(s, 200);
    assert_eq!(public["status"], "registered");
    let public_events: Vec<&Value> = public["timeline"].as_array().unwrap().iter().collect();
    assert!(
        public_events.iter().all(|l| l["event"] == "registered"),
        "{public}"
    );

    // The reason is required; the county's clerk and a department may not decide for the city.
    let (s, e) = app
        .decide(
            &city_clerk,
            &case_no,
            json!({"decision": "confirm", "reason": " "}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].clone()),
        (422, json!("reason")),
        "{e}"
    );
    let (s, _) = app
        .decide(
            &city_clerk,
            &case_no,
            json!({"decision": "approve", "reason": "x"}),
        )
        .await;
    assert_eq!(s, 422);
    let (_, dept) = app.token(Role::Department, &city, Some("rsj")).await;
    let body = json!({"decision": "confirm", "reason": "经核实，与原案事实和理由相同"});
    assert_eq!(
        app.decide(&county_clerk, &case_no, body.clone()).await.0,
        403
    );
    assert_eq!(app.decide(&dept, &case_no, body.clone()).await.0, 403);
    assert!(
        app.events(&city, "refusal_confirmed", &case_no)
            .await
            .is_empty()
    );

    let (s, receipt) = app.decide(&city_clerk, &case_no, body.clone()).await;
    assert_eq!(s, 200, "{receipt}");
    assert_eq!(receipt["by"], json!(city_clerk_id));
    assert_eq!(receipt["disposition"], "not_accepted");
    assert_eq!(receipt["event"], "case.refusal_confirmed");
    let ev = app.wait_event(&city, "refusal_confirmed", &case_no).await;
    let d: RepeatDecided = ev.data_as().unwrap();
    assert_eq!(d.decision, RepeatDecision::Confirm);
    assert_eq!(d.disposition, Some(RepeatDisposition::NotAccepted));
    assert_eq!(d.by, city_clerk_id);
    assert_eq!(d.reason, "经核实，与原案事实和理由相同");
    assert_eq!(d.repeat_of, first_no);
    let lines = app.lines(&city_clerk, &case_no, "refusal_confirmed").await;
    assert_eq!(
        lines.len(),
        1,
        "once, though the event came back: {lines:?}"
    );
    assert!(lines[0].contains(&city_clerk_id) && lines[0].contains("事实和理由相同"));
    // Routing applies it; intake alone keeps the case registered until it hears the refusal.
    assert_eq!(
        app.case(&city_clerk, &case_no).await["status"],
        "registered"
    );
    // Decided once: neither confirmed again nor undone here.
    assert_eq!(app.decide(&city_clerk, &case_no, body).await.0, 409);
    let (s, e) = app
        .decide(
            &city_clerk,
            &case_no,
            json!({"decision": "unlink", "reason": "误判"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "state");
    app.env.stop().await;
}

/// A merge, a rejection and an unlinking: only a proposed refusal is confirmed or rejected; a
/// clerk removes any open link, and a merge given back no longer counts for the earlier case.
#[tokio::test]
async fn a_clerk_rejects_a_proposal_or_unlinks_a_repeat() {
    let app = App::start().await;
    let (county, city) = (app.env.county.clone(), app.env.city.clone());
    let (clerk_id, clerk) = app.token(Role::Clerk, &county, None).await;
    let (city_clerk_id, city_clerk) = app.token(Role::Clerk, &city, None).await;
    let first = app.register(&clerk, &county, ID_A, WAGES).await;
    let first_no = first["case_no"].as_str().unwrap().to_owned();
    let merged = app.register(&clerk, &county, ID_A, WAGES).await;
    let merged_no = merged["case_no"].as_str().unwrap().to_owned();
    assert_eq!(merged["repeat"]["disposition"], "merged");
    assert_eq!(app.case(&clerk, &first_no).await["repeat_count"], 2);
    let (s, e) = app
        .decide(
            &clerk,
            &merged_no,
            json!({"decision": "confirm", "reason": "同一事项"}),
        )
        .await;
    assert_eq!(s, 409, "a merge proposes no refusal: {e}");
    let (s, r) = app
        .decide(
            &clerk,
            &merged_no,
            json!({"decision": "unlink", "reason": "并非同一事项"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["disposition"], Value::Null);
    let c = app.case(&clerk, &merged_no).await;
    assert!(
        c["repeat_of"].is_null() && c["repeat_disposition"].is_null(),
        "{c}"
    );
    assert_eq!(app.case(&clerk, &first_no).await["repeat_count"], 1);
    let ev = app.wait_event(&county, "repeat_unlinked", &merged_no).await;
    assert_eq!(ev.data["by"], json!(clerk_id));
    assert_eq!(ev.data["was"], "merged");
    assert_eq!(
        app.lines(&clerk, &merged_no, "repeat_unlinked").await.len(),
        1
    );
    // Not a repeat any more.
    let (s, _) = app
        .decide(
            &clerk,
            &merged_no,
            json!({"decision": "unlink", "reason": "再次解除"}),
        )
        .await;
    assert_eq!(s, 409);

    // A proposal rejected: handled on its own, linked as related.
    let higher = app.register(&city_clerk, &city, ID_A, WAGES).await;
    let higher_no = higher["case_no"].as_str().unwrap().to_owned();
    assert_eq!(higher["repeat"]["proposed"], true, "{higher}");
    let (s, r) = app
        .decide(
            &city_clerk,
            &higher_no,
            json!({"decision": "reject", "reason": "诉求已变化"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["disposition"], "related");
    assert_eq!(r["by"], json!(city_clerk_id));
    let c = app.case(&city_clerk, &higher_no).await;
    assert_eq!(
        (
            c["repeat_disposition"].clone(),
            c["repeat_proposed"].clone()
        ),
        (json!("related"), json!(false))
    );
    let ev = app.wait_event(&city, "refusal_rejected", &higher_no).await;
    assert_eq!(ev.data["disposition"], "related");
    let (s, _) = app
        .decide(
            &city_clerk,
            &higher_no,
            json!({"decision": "confirm", "reason": "改为确认"}),
        )
        .await;
    assert_eq!(s, 409, "nothing is proposed any more");
    app.env.stop().await;
}

/// Art 19 para 3 "在规定期限内": a matter the county let pass a time limit is not refused by
/// the city; within the limit the proposal carries the earlier due time; and a limit passing
/// between the proposal and the clerk's decision stops the confirmation.
#[tokio::test]
async fn art19_is_proposed_only_while_the_earlier_matter_is_within_its_time_limit() {
    let app = App::start().await;
    let (county, city) = (app.env.county.clone(), app.env.city.clone());
    let (_, clerk) = app.token(Role::Clerk, &county, None).await;
    let (_, city_clerk) = app.token(Role::Clerk, &city, None).await;
    let now = chrono::Utc::now();

    // Overdue at the county (its acceptance notice D3 passed): the city handles the petition.
    let late = app.register(&clerk, &county, ID_A, WAGES).await;
    let late_no = late["case_no"].as_str().unwrap().to_owned();
    app.deadline(&late_no, "overdue", "D3", now - chrono::TimeDelta::days(1))
        .await;
    let up = app.register(&city_clerk, &city, ID_A, WAGES).await;
    assert_eq!(up["repeat"]["of"], json!(late_no), "{up}");
    assert_eq!(up["repeat"]["disposition"], "related", "{up}");
    assert!(up["repeat"]["proposed"].is_null(), "{up}");

    // Within its handling deadline (a warning heard): proposed, with the due time.
    let due = (now + chrono::TimeDelta::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let due: chrono::DateTime<chrono::Utc> = due.parse().unwrap();
    let open = app.register(&clerk, &county, ID_B, ROAD).await;
    let open_no = open["case_no"].as_str().unwrap().to_owned();
    app.deadline(&open_no, "warning", "D5", due).await;
    let up = app.register(&city_clerk, &city, ID_B, ROAD).await;
    let up_no = up["case_no"].as_str().unwrap().to_owned();
    assert_eq!(up["repeat"]["disposition"], "not_accepted", "{up}");
    assert_eq!(up["repeat"]["earlier_due"], json!(due), "{up}");

    // The county's handling passes its limit before the clerk decides: no confirmation.
    app.deadline(&open_no, "overdue", "D5", due).await;
    let (s, e) = app
        .decide(
            &city_clerk,
            &up_no,
            json!({"decision": "confirm", "reason": "同一事项"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("time limit"),
        "{e}"
    );
    let (s, _) = app
        .decide(
            &city_clerk,
            &up_no,
            json!({"decision": "reject", "reason": "原案已超期，本级受理"}),
        )
        .await;
    assert_eq!(s, 200);
    app.env.stop().await;
}

/// Decisions 7: a repeat of a finished matter (here diverted) is handled as a petition of its
/// own, the link kept for staff; it is not merged into the finished case.
#[tokio::test]
async fn a_repeat_of_a_finished_matter_is_related_not_merged() {
    let app = App::start().await;
    let county = app.env.county.clone();
    let (_, clerk) = app.token(Role::Clerk, &county, None).await;
    let first = app.register(&clerk, &county, ID_A, WAGES).await;
    let first_no = first["case_no"].as_str().unwrap().to_owned();
    app.env
        .publish_case(
            &county,
            "diverted",
            &first_no,
            &json!({"case_no": first_no, "diversion": "arbitration", "organ": format!("{county}:rsj"),
                    "guidance": "请申请劳动仲裁", "at": chrono::Utc::now()}),
        )
        .await;
    app.env
        .wait_for("the registry to show the diversion", 20, async || {
            app.case(&clerk, &first_no).await["status"] == "diverted"
        })
        .await;
    let again = app.register(&clerk, &county, ID_A, WAGES).await;
    let again_no = again["case_no"].as_str().unwrap().to_owned();
    assert_eq!(again["repeat"]["of"], json!(first_no));
    assert_eq!(again["repeat"]["disposition"], "related", "{again}");
    assert_eq!(again["status"], "registered");
    assert_eq!(
        app.case(&clerk, &first_no).await["repeat_count"],
        1,
        "not absorbed"
    );
    assert_eq!(app.lines(&clerk, &again_no, "repeat_linked").await.len(), 1);
    // A third petition while the related one is open is merged into that one, not the old.
    let third = app.register(&clerk, &county, ID_A, WAGES).await;
    assert_eq!(third["repeat"]["of"], json!(again_no), "{third}");
    assert_eq!(third["repeat"]["disposition"], "merged");
    app.env.stop().await;
}

/// The same decision over NATS (`xf.<county>.cmd.intake.repeat`): the clerk is who the bearer
/// token in the request's `Authorization` header says; no token, no decision; an answer only
/// into an `_INBOX.` subject.
#[tokio::test]
async fn a_clerk_decides_over_nats_with_the_token_in_a_header() {
    let app = App::start().await;
    let (county, city) = (app.env.county.clone(), app.env.city.clone());
    let (_, clerk) = app.token(Role::Clerk, &county, None).await;
    let (city_clerk_id, city_clerk) = app.token(Role::Clerk, &city, None).await;
    app.register(&clerk, &county, ID_A, WAGES).await;
    let up = app.register(&city_clerk, &city, ID_A, WAGES).await;
    let case_no = up["case_no"].as_str().unwrap().to_owned();
    let nats = &app.env.infra.nats;
    let subj = subject::command(&city, "intake", "repeat")
        .unwrap()
        .to_string();
    let body = serde_json::to_vec(&json!({"case_no": case_no, "decision": "confirm",
        "reason": "经核实，与原案事实和理由相同"}))
    .unwrap();
    let ask = async |headers: async_nats::HeaderMap| -> Value {
        let reply = nats
            .request_with_headers(subj.clone(), headers, body.clone().into())
            .await
            .unwrap();
        serde_json::from_slice(&reply.payload).unwrap()
    };
    let none = ask(async_nats::HeaderMap::new()).await;
    assert_eq!(none["error"]["code"], "unauthorized", "{none}");
    let mut bogus = async_nats::HeaderMap::new();
    bogus.insert("Authorization", "Bearer xf_bogus");
    assert_eq!(ask(bogus).await["error"]["code"], "unauthorized");
    let mut county_only = async_nats::HeaderMap::new();
    county_only.insert("Authorization", format!("Bearer {clerk}").as_str());
    assert_eq!(ask(county_only).await["error"]["code"], "forbidden");
    assert!(
        app.events(&city, "refusal_confirmed", &case_no)
            .await
            .is_empty()
    );

    // A request whose reply subject is not an inbox is dropped, and decides nothing.
    let mut auth = async_nats::HeaderMap::new();
    auth.insert("Authorization", format!("Bearer {city_clerk}").as_str());
    nats.publish_with_reply_and_headers(
        subj.clone(),
        format!("xf.{city}.case.refusal_confirmed"),
        auth.clone(),
        body.clone().into(),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        app.events(&city, "refusal_confirmed", &case_no)
            .await
            .is_empty()
    );
    assert_eq!(
        app.case(&city_clerk, &case_no).await["repeat_proposed"],
        true
    );

    let ok = ask(auth).await;
    assert_eq!(ok["by"], json!(city_clerk_id), "{ok}");
    assert_eq!(ok["event"], "case.refusal_confirmed");
    let ev = app.wait_event(&city, "refusal_confirmed", &case_no).await;
    assert_eq!(ev.data["by"], json!(city_clerk_id));
    assert_eq!(
        app.lines(&city_clerk, &case_no, "refusal_confirmed")
            .await
            .len(),
        1
    );
    app.env.stop().await;
}
