//! Diversion and handling (issue #13) in intake: a clerk corrects a matter diverted at intake
//! (the diversion set back to none, or its branch corrected) but not one a handling unit
//! diverted after accepting it; the accused cadre's management level is recorded and carried
//! to routing (Art 22 para 2); the registry tells diversions after acceptance, transfer
//! requests and the completion-report check apart on the timeline.

use serde_json::{Value, json};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::Reclassified;
use xinfang_domain::petition::{Art31Branch, CadreLevel, PetitionType};
use xinfang_domain::subject;
use xinfang_intake::registry::interpret;
use xinfang_platform::host::Started;
use xinfang_platform::testing::TestEnv;

const ID: &str = "411203195202145284";
const WAGES: &str =
    "我在工地干了半年，包工头拖欠我工资两万元一直不给，多次讨要无果，请求责令其支付。";

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

    /// A registered petition's case number.
    async fn register(&self) -> String {
        let body = json!({
            "channel": "letter",
            "petitioner": {"name": "测试人", "id_number": ID, "mobile": "13800138000"},
            "text": WAGES,
            "county": self.env.county.to_string(),
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        });
        let r = self
            .http
            .post(self.url("/v1/petitions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        v["case_no"].as_str().unwrap().to_owned()
    }

    async fn case(&self, case_no: &str) -> Value {
        self.http
            .get(self.url(&format!("/v1/cases/{case_no}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn patch(&self, case_no: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(&format!("/v1/cases/{case_no}/classification")))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Publishes a case event as routing would, and waits for the registry's status.
    async fn fact(&self, case_no: &str, kind: &str, data: Value, status: &str) {
        let env = Envelope::new(
            kind,
            Some(case_no.to_owned()),
            self.env.county.clone(),
            chrono::Utc::now(),
            data,
        )
        .unwrap();
        let subj = subject::case_event(&self.env.county, kind).unwrap();
        xinfang_platform::nats::publish(self.env.js(), &subj, &env)
            .await
            .unwrap()
            .await
            .unwrap();
        self.env
            .wait_for(&format!("{case_no} to be {status}"), 20, async || {
                self.case(case_no).await["status"] == status
            })
            .await;
    }

    /// The `case.reclassified` events published for the case, oldest first.
    async fn reclassified(&self, case_no: &str, n: usize) -> Vec<Reclassified> {
        let filter = subject::case_event(&self.env.county, "reclassified")
            .unwrap()
            .to_string();
        let mut out = Vec::new();
        self.env
            .wait_for("case.reclassified published", 20, async || {
                out = self
                    .env
                    .read(&self.env.county, &filter)
                    .await
                    .iter()
                    .filter_map(|m| Envelope::from_bytes(&m.payload).ok())
                    .filter(|e| e.case_id.as_deref() == Some(case_no))
                    .filter_map(|e| e.data_as::<Reclassified>().ok())
                    .collect();
                out.len() >= n
            })
            .await;
        out
    }
}

fn diverted(case_no: &str, after_acceptance: bool) -> Value {
    let mut d = json!({"case_no": case_no, "diversion": "arbitration", "organ": "411282:rsj",
        "guidance": "请向劳动人事争议仲裁委员会申请仲裁", "at": chrono::Utc::now()});
    if after_acceptance {
        d["after_acceptance"] = json!(true);
        d["department"] = json!("rsj");
        d["served_on"] = json!("2026-05-01");
    }
    d
}

/// A matter diverted at intake was never accepted: the clerk may set the diversion back to
/// none (routing then sends it to a handling unit) or correct its branch.
#[tokio::test]
async fn a_clerk_corrects_a_diversion_made_at_intake() {
    let app = App::start().await;
    let case_no = app.register().await;
    app.fact(&case_no, "diverted", diverted(&case_no, false), "diverted")
        .await;
    // The branch corrected: not a 409, although the status is `diverted`.
    let (s, v) = app
        .patch(
            &case_no,
            json!({"petition_type": "grievance", "branch": "31_4", "by": "clerk-7",
                   "reason": "属行政确认，非劳动仲裁"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["after"]["branch"], "31_4");
    assert_eq!(v["after"]["diversion"], Value::Null, "the old channel goes");
    // The diversion set back to none: accepted, and the branch of the channel goes with it.
    let (s, v) = app
        .patch(
            &case_no,
            json!({"diversion": "none", "by": "clerk-7", "reason": "非仲裁事项，应由人社局处理"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["after"]["diversion"], Value::Null);
    assert_eq!(v["after"]["branch"], Value::Null);
    let (s, v) = app
        .patch(
            &case_no,
            json!({"diversion": null, "branch": "31_6", "by": "clerk-7", "reason": "调查核实"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let events = app.reclassified(&case_no, 3).await;
    assert_eq!(events[0].branch, Some(Art31Branch::AdministrativeProcedure));
    assert_eq!(events[1].diversion, None);
    assert_eq!(events[1].branch, None);
    assert_eq!(events[2].branch, Some(Art31Branch::Residual));
    // Inconsistent corrections name the field.
    let (s, v) = app
        .patch(
            &case_no,
            json!({"branch": "31_6", "diversion": "litigation", "by": "clerk-7", "reason": "x"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["field"], "diversion");
    app.env.stop().await;
}

/// A diversion by the handling unit after acceptance is that unit's finding: no clerk's
/// correction; the registry records it apart from intake diversions.
#[tokio::test]
async fn a_diversion_after_acceptance_is_the_units_and_shown_apart() {
    let app = App::start().await;
    let case_no = app.register().await;
    app.fact(
        &case_no,
        "accepted",
        json!({"case_no": case_no, "department": "rsj", "accepted_on": "2026-04-20",
               "at": chrono::Utc::now()}),
        "accepted",
    )
    .await;
    app.fact(&case_no, "diverted", diverted(&case_no, true), "diverted")
        .await;
    let case = app.case(&case_no).await;
    assert!(case["milestones"]["diverted_after_acceptance_at"].is_string());
    assert!(case["milestones"].get("diverted_at").is_none());
    let line = case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["event"] == "diverted")
        .cloned()
        .unwrap();
    assert!(
        line["summary"]
            .as_str()
            .unwrap()
            .contains("人社局受理后导入法定途径"),
        "{line}"
    );
    let (s, v) = app
        .patch(
            &case_no,
            json!({"diversion": "none", "by": "clerk-7", "reason": "x"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before a handling unit accepts")
    );
    app.env.stop().await;
}

/// Art 22 para 2: the clerk records the accused cadre's management level on an accusation;
/// routing reads it from `case.reclassified`.
#[tokio::test]
async fn the_accused_cadres_level_is_recorded_for_accusations_only() {
    let app = App::start().await;
    let case_no = app.register().await;
    let (s, v) = app
        .patch(
            &case_no,
            json!({"accused_level": "county_leader", "by": "clerk-7", "reason": "x"}),
        )
        .await;
    assert_eq!(s, 422, "a grievance has no accused: {v}");
    assert_eq!(v["error"]["field"], "accused_level");
    let (s, v) = app
        .patch(
            &case_no,
            json!({"petition_type": "accusation", "department": "jwjw", "accused_level": "mayor",
                   "by": "clerk-7", "reason": "x"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["field"], "accused_level");
    let (s, v) = app
        .patch(
            &case_no,
            json!({"petition_type": "accusation", "department": "jwjw",
                   "accused_level": "县级领导干部", "by": "clerk-7", "reason": "举报副县长"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["after"]["accused_level"], "county_leader");
    assert_eq!(v["after"]["accuses_official"], true);
    let e = &app.reclassified(&case_no, 1).await[0];
    assert_eq!(e.petition_type, PetitionType::Accusation);
    assert_eq!(e.accused_level, Some(CadreLevel::CountyLeader));
    assert!(e.accuses_official);
    assert_eq!(app.case(&case_no).await["accused_level"], "county_leader");
    app.env.stop().await;
}

fn env(kind: &str, data: Value) -> Envelope {
    Envelope::new(
        kind,
        Some("XF-411282-2026-000001".into()),
        xinfang_domain::county::CountyCode::parse("411282").unwrap(),
        chrono::Utc::now(),
        data,
    )
    .unwrap()
}

#[test]
fn the_timeline_shows_transfers_and_the_bureaus_check() {
    let u = interpret(
        "xf.411282.case.transfer_requested",
        &env("transfer_requested", json!({"from": "sthjj", "to": "slj"})),
    )
    .unwrap();
    assert!(u.summary.contains("生态环境局 → 水利局") && u.summary.contains("待信访部门审核"));
    assert_eq!(u.status, None);
    assert_eq!(u.department, None, "nothing moves on a request");
    let u = interpret(
        "xf.411282.case.transfer_rejected",
        &env(
            "transfer_rejected",
            json!({"from": "sthjj", "to": "slj", "reason": "仍属本单位"}),
        ),
    )
    .unwrap();
    assert!(u.summary.contains("仍属本单位"));
    assert_eq!(u.department, None);
    let u = interpret(
        "xf.411282.case.transferred",
        &env(
            "transferred",
            json!({"from": "sthjj", "to": "slj", "approved_by": "411282:xfj"}),
        ),
    )
    .unwrap();
    assert_eq!(u.department.as_deref(), Some("slj"));
    assert!(u.summary.contains("转办至水利局") && u.summary.contains("经信访局同意"));
    let u = interpret(
        "xf.411282.case.submitted_for_check",
        &env("submitted_for_check", json!({"department": "zjj"})),
    )
    .unwrap();
    assert_eq!(u.status, Some("pending_superior_check"));
    let u = interpret(
        "xf.411282.case.returned_for_redo",
        &env(
            "returned_for_redo",
            json!({"department": "zjj", "reason": "事实不清"}),
        ),
    )
    .unwrap();
    assert_eq!(u.status, Some("returned_for_redo"));
    assert!(u.summary.contains("事实不清"));
    let u = interpret("xf.411282.case.closed", &env("closed", json!({}))).unwrap();
    assert_eq!(u.status, Some("closed"));
    assert_eq!(u.milestone.unwrap().0, "closed_at");
}
