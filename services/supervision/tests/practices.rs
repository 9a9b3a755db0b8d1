//! Issue #15 items 3–5 over HTTP: case conferences whose tasks are tracked, warned, escalated
//! and closed like statutory duties; the roster of lawyers and counsellors, their advice and
//! the counts the weekly report reads; leaders, reception days and 包案; who may do what.

mod common;

use chrono::TimeDelta;
use common::*;
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_domain::practice_events::{
    AdviceRecorded, ConferenceHeld, ConferenceScheduled, ConferenceTaskDone, LeaderAssigned,
    LeaderReceived,
};
use xinfang_domain::practices::{ConferenceKind, ParticipantRole};
use xinfang_platform::route_table::RouteTable;
use xinfang_supervision::practices::{AdviserCounts, adviser_counts};

/// An HTTP client for one service, with or without a token.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(h: &Harness) -> Api {
        Api {
            base: format!("http://{}", h.sup.started.http),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, post: bool, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut r = if post {
            self.http.post(url).json(&body)
        } else {
            self.http.get(url)
        };
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(true, path, token, body).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(false, path, token, Value::Null).await
    }

    /// Asserts a 422 naming `field` and `rule`.
    async fn invalid(&self, path: &str, token: Option<&str>, body: Value, field: &str, rule: &str) {
        let (status, e) = self.post(path, token, body).await;
        assert_eq!(status, 422, "{path} {field}: {e}");
        assert_eq!(e["error"]["field"], field, "{path}: {e}");
        assert_eq!(e["error"]["code"], rule, "{path}: {e}");
    }
}

fn with(body: &Value, key: &str, v: Value) -> Value {
    let mut b = body.clone();
    b[key] = v;
    b
}

/// Registers and assigns a case to `dept`, and waits until supervision knows it.
async fn known_case(h: &Harness, n: u32, dept: &str) -> String {
    let case = h.case_no(n);
    let c = h.county();
    let at = h.now() - TimeDelta::hours(1);
    h.case_event("registered", &case, registered(&case, &c, at, dept, false))
        .await;
    h.case_event("assigned", &case, assigned(&case, dept, at))
        .await;
    h.wait_state(&case, "D3", "pending").await;
    case
}

async fn tokens(h: &Harness, role: Role, scope: &CountyCode, dept: Option<&str>) -> String {
    h.sup
        .started
        .host
        .auth
        .store()
        .expect("auth on")
        .create(role, scope, dept, "practices test")
        .await
        .unwrap()
        .token
}

fn neighbour(h: &Harness) -> CountyCode {
    CountyCode::parse(&format!("{}02", &h.county().as_str()[..4])).unwrap()
}

async fn case_events(h: &Harness, kind: &str) -> Vec<xinfang_domain::envelope::Envelope> {
    let c = h.county();
    let mut out = Vec::new();
    h.env
        .wait_for(&format!("case.{kind}"), 15, async || {
            out = h
                .messages(&format!("xf.{c}.case.{kind}"))
                .await
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            !out.is_empty()
        })
        .await;
    out
}

async fn task_rows(h: &Harness, case: &str) -> Vec<xinfang_supervision::store::DeadlineRow> {
    h.deadlines(case)
        .await
        .into_iter()
        .filter(|r| r.kind == "task")
        .collect()
}

#[tokio::test]
async fn conference_tasks_are_tracked_warned_escalated_and_closed() {
    let h = Harness::start_configured("", |p| p.security.auth_required = true).await;
    let api = Api::new(&h);
    let c = h.county();
    let op = tokens(&h, Role::Operator, &c, None).await;
    let clerk = tokens(&h, Role::Clerk, &c, None).await;
    let rsj = tokens(&h, Role::Department, &c, Some("rsj")).await;
    let zjj = tokens(&h, Role::Department, &c, Some("zjj")).await;
    let outsider = tokens(&h, Role::Operator, &neighbour(&h), None).await;
    let case = known_case(&h, 1, "rsj").await;
    let now = h.now();

    // A lawyer and a leader of the roster to take part.
    let (s, lawyer) = api
        .post(
            "/v1/advisers",
            Some(&clerk),
            json!({"kind": "lawyer", "name": "李律师", "organisation": "某律师事务所", "county": c.as_str()}),
        )
        .await;
    assert_eq!(s, 201, "{lawyer}");
    let lawyer = lawyer["id"].as_str().unwrap().to_owned();
    let (s, _) = api
        .post(
            "/v1/leaders",
            Some(&clerk),
            json!({"id": "wang", "name": "王五", "title": "副县长", "county": c.as_str()}),
        )
        .await;
    assert_eq!(s, 201);

    let good = json!({
        "case_no": case, "kind": "difficult_case",
        "scheduled_at": (now + TimeDelta::days(1)).to_rfc3339(), "place": "局三楼会议室",
        "participants": [
            {"role": "department", "id": "rsj"}, {"role": "leader", "id": "wang"},
            {"role": "lawyer", "id": lawyer},
        ],
    });
    let participants = |p: Value| with(&good, "participants", p);
    for (body, field, rule) in [
        (
            with(&good, "kind", json!("tea_party")),
            "kind",
            "unknown_value",
        ),
        (with(&good, "kind", Value::Null), "kind", "required"),
        (
            with(&good, "scheduled_at", json!("tomorrow")),
            "scheduled_at",
            "datetime",
        ),
        (
            with(
                &good,
                "scheduled_at",
                json!((now + TimeDelta::days(400)).to_rfc3339()),
            ),
            "scheduled_at",
            "range",
        ),
        (
            with(&good, "place", json!("长".repeat(201))),
            "place",
            "max_length",
        ),
        (
            with(&good, "place", json!("一楼\n二楼")),
            "place",
            "single_line",
        ),
        (
            with(&good, "case_no", json!("XF 1; drop")),
            "case_no",
            "case_number",
        ),
        (participants(json!([])), "participants", "required"),
        (
            participants(json!([{"role": "mayor", "id": "x"}])),
            "participants[0].role",
            "unknown_value",
        ),
        (
            participants(
                json!([{"role": "department", "id": "rsj"}, {"role": "department", "id": "nosuch"}]),
            ),
            "participants[1].id",
            "unknown_department",
        ),
        (
            participants(json!([{"role": "leader", "id": "nobody"}])),
            "participants[0].id",
            "unknown_leader",
        ),
        (
            participants(json!([{"role": "counsellor", "id": lawyer}])),
            "participants[0].id",
            "adviser_kind",
        ),
        (
            participants(
                json!([{"role": "department", "id": "rsj"}, {"role": "department", "id": "rsj"}]),
            ),
            "participants[1].id",
            "duplicate",
        ),
    ] {
        api.invalid("/v1/conferences", Some(&clerk), body, field, rule)
            .await;
    }
    // A case supervision does not know; a department and another county may not schedule.
    let (s, _) = api
        .post(
            "/v1/conferences",
            Some(&clerk),
            with(&good, "case_no", json!(h.case_no(99))),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        api.post("/v1/conferences", Some(&rsj), good.clone())
            .await
            .0,
        403
    );
    assert_eq!(
        api.post("/v1/conferences", Some(&outsider), good.clone())
            .await
            .0,
        403
    );

    let (s, conf) = api
        .post("/v1/conferences", Some(&clerk), good.clone())
        .await;
    assert_eq!(s, 201, "{conf}");
    assert_eq!(conf["state"], "scheduled");
    assert_eq!(conf["kind_name"], "疑难案件会审");
    assert_eq!(conf["participants"].as_array().unwrap().len(), 3);
    assert!(
        conf["participants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["role"] == "leader" && p["name"] == "王五"),
        "{conf}"
    );
    let id = conf["id"].as_str().unwrap().to_owned();
    let scheduled: ConferenceScheduled = case_events(&h, "conference_scheduled").await[0]
        .data_as()
        .unwrap();
    assert_eq!(scheduled.kind, ConferenceKind::DifficultCase);
    assert_eq!(scheduled.participants[1].role, ParticipantRole::Leader);
    // The county's calendar lists it for the bureau, not for a department.
    let (st, cal) = api
        .get(&format!("/v1/conferences?county={c}"), Some(&op))
        .await;
    assert_eq!(st, 200, "{cal}");
    assert!(
        cal["conferences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str()),
        "{cal}"
    );
    assert_eq!(
        api.get(&format!("/v1/conferences?county={c}"), Some(&rsj))
            .await
            .0,
        403
    );
    let (st, e) = api.get("/v1/conferences", Some(&op)).await;
    assert_eq!((st, e["error"]["field"].as_str()), (422, Some("case_no")));

    // The minutes: two tasks (rsj, zjj) and a decision that is no task.
    let due = now + TimeDelta::days(5);
    let minutes = json!({
        "minutes": "会审认为应核实欠薪数额并依法处理",
        "decisions": [
            {"text": "人社局核实欠薪数额", "department": "rsj", "due_at": due.to_rfc3339()},
            {"text": "住建局督促总包单位", "department": "zjj", "due_at": due.to_rfc3339()},
            {"text": "律师向信访人释法明理"},
        ],
    });
    let path = format!("/v1/conferences/{id}/minutes");
    let decisions = |d: Value| with(&minutes, "decisions", d);
    for (body, field, rule) in [
        (
            with(&minutes, "minutes", json!("  ")),
            "minutes",
            "required",
        ),
        (
            decisions(json!([{"text": "x", "department": "rsj"}])),
            "decisions[0].due_at",
            "required",
        ),
        (
            decisions(json!([{"text": "x", "due_at": due.to_rfc3339()}])),
            "decisions[0].department",
            "required",
        ),
        (
            decisions(
                json!([{"text": "x", "department": "rsj", "due_at": (now - TimeDelta::hours(1)).to_rfc3339()}]),
            ),
            "decisions[0].due_at",
            "in_past",
        ),
        (
            decisions(
                json!([{"text": "ok"}, {"text": "x", "department": "RSJ", "due_at": due.to_rfc3339()}]),
            ),
            "decisions[1].department",
            "department_code",
        ),
        (
            with(
                &minutes,
                "held_at",
                json!((now + TimeDelta::hours(2)).to_rfc3339()),
            ),
            "held_at",
            "in_future",
        ),
    ] {
        api.invalid(&path, Some(&clerk), body, field, rule).await;
    }
    assert_eq!(api.post(&path, Some(&rsj), minutes.clone()).await.0, 403);
    assert_eq!(
        api.post(
            "/v1/conferences/not-a-uuid/minutes",
            Some(&clerk),
            minutes.clone()
        )
        .await
        .0,
        422
    );
    assert_eq!(
        api.post(
            &format!("/v1/conferences/{}/minutes", uuid::Uuid::now_v7()),
            Some(&clerk),
            minutes.clone()
        )
        .await
        .0,
        404
    );
    let (s, held) = api.post(&path, Some(&clerk), minutes.clone()).await;
    assert_eq!(s, 200, "{held}");
    assert_eq!(held["state"], "held");
    let ds = held["decisions"].as_array().unwrap().clone();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds[0]["deadline_state"], "pending");
    assert!(ds[2]["deadline_state"].is_null());
    let (rsj_task, zjj_task) = (
        ds[0]["id"].as_str().unwrap().to_owned(),
        ds[1]["id"].as_str().unwrap().to_owned(),
    );
    // Recorded once only.
    api.invalid(
        &path,
        Some(&clerk),
        minutes.clone(),
        "conference_id",
        "already_held",
    )
    .await;

    // The clocks: one `task` per task, ref = the decision, bound to its department, warned.
    let tasks = task_rows(&h, &case).await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let rsj_clock = tasks
        .iter()
        .find(|r| r.reference == rsj_task)
        .unwrap()
        .clone();
    assert_eq!(rsj_clock.department.as_deref(), Some("rsj"));
    assert_eq!(rsj_clock.state, "pending");
    assert_eq!(rsj_clock.due_at.timestamp(), due.timestamp());
    let warn_at = rsj_clock.warn_at.expect("a task is warned");
    assert!(warn_at < due && warn_at > now, "{warn_at}");
    let held_fact: ConferenceHeld = case_events(&h, "conference_held").await[0]
        .data_as()
        .unwrap();
    assert_eq!(held_fact.conference.to_string(), id);
    assert_eq!(
        held_fact.decisions.iter().filter(|d| d.is_task()).count(),
        2
    );
    assert_eq!(held_fact.decisions[0].department.as_deref(), Some("rsj"));
    // The department hears of its task on its own subject.
    let told = h.messages(&format!("xf.{c}.dept.rsj.scheduled")).await;
    let message = told
        .iter()
        .find(|(_, e)| e.data["reference"] == rsj_task.as_str() && e.data["deadline"] == "task")
        .map(|(_, e)| e.data.clone())
        .unwrap_or_else(|| panic!("{told:?}"));
    // ...with how to report it done.
    assert!(
        message["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("task_done")),
        "{message}"
    );
    assert!(
        message["action_routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |r| r["path"] == format!("/v1/conference-tasks/{rsj_task}/done").as_str()
                    && r["service"] == "supervision"
            ),
        "{message}"
    );

    // Who may report a task done: its own department (or the bureau), nobody else.
    let done = |task: &str| format!("/v1/conferences/{id}/tasks/{task}/done");
    let note = json!({"note": "已完成核实"});
    assert_eq!(
        api.post(&done(&rsj_task), Some(&zjj), note.clone()).await.0,
        403
    );
    assert_eq!(
        api.post(&done(&rsj_task), Some(&outsider), note.clone())
            .await
            .0,
        403
    );
    let other_rsj = tokens(&h, Role::Department, &neighbour(&h), Some("rsj")).await;
    assert_eq!(
        api.post(&done(&rsj_task), Some(&other_rsj), note.clone())
            .await
            .0,
        403
    );
    api.invalid(&done(&zjj_task), Some(&zjj), json!({}), "note", "required")
        .await;
    let untasked = ds[2]["id"].as_str().unwrap();
    assert_eq!(
        api.post(&done(untasked), Some(&op), note.clone()).await.0,
        404
    );
    // zjj reports in time, on the route its message names: met.
    let (s, r) = api
        .post(
            &format!("/v1/conference-tasks/{zjj_task}/done"),
            Some(&zjj),
            note.clone(),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["late"].clone(), r["deadline_state"].clone()),
        (json!(false), json!("met"))
    );

    // rsj's warns, then passes: overdue to the deadline and department subjects, and a 督办.
    h.advance_to(warn_at + TimeDelta::minutes(1));
    let w = h.wait_fired(&case, "task", "warning", 2).await;
    assert_eq!(
        w,
        vec![
            format!("xf.{c}.deadline.warning"),
            format!("xf.{c}.dept.rsj.warning")
        ]
    );
    h.advance_to(due + TimeDelta::minutes(1));
    let o = h.wait_fired(&case, "task", "overdue", 2).await;
    assert_eq!(
        o,
        vec![
            format!("xf.{c}.deadline.overdue"),
            format!("xf.{c}.dept.rsj.overdue")
        ]
    );
    h.wait_state(&case, "task", "fired").await;
    let mut escalation: Option<(String, String, String)> = None;
    h.env
        .wait_for("the task's escalation 督办", 15, async || {
            escalation = sqlx::query_as(
                "select form, department, note from supervisions where cause_deadline = $1",
            )
            .bind(rsj_clock.id)
            .fetch_optional(h.pool())
            .await
            .unwrap();
            escalation.is_some()
        })
        .await;
    let (form, dept, note_text) = escalation.unwrap();
    assert_eq!((form.as_str(), dept.as_str()), ("escalation", "rsj"));
    assert!(note_text.contains("会审交办任务"), "{note_text}");
    // zjj's task, reported in time, did not go overdue: only rsj's two copies.
    assert_eq!(h.fired(&case, "task", "overdue").await.len(), 2);
    let escalations: i64 = sqlx::query_scalar(
        "select count(*) from supervisions where case_no = $1 and form = 'escalation'",
    )
    .bind(&case)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(escalations, 1);

    // rsj reports late: met late; once only.
    let (s, r) = api.post(&done(&rsj_task), Some(&rsj), note.clone()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["late"], true);
    assert_eq!(r["deadline_state"], "met_late");
    api.invalid(
        &done(&rsj_task),
        Some(&rsj),
        note.clone(),
        "decision_id",
        "already_done",
    )
    .await;
    let closed = task_rows(&h, &case).await;
    assert!(
        closed
            .iter()
            .all(|r| r.closed_at.is_some() && ["met", "met_late"].contains(&r.state.as_str())),
        "{closed:?}"
    );
    let facts = case_events(&h, "conference_task_done").await;
    h.env
        .wait_for("both task reports", 15, async || {
            h.messages(&format!("xf.{c}.case.conference_task_done"))
                .await
                .len()
                == 2
        })
        .await;
    let first: ConferenceTaskDone = facts[0].data_as().unwrap();
    assert_eq!((first.department.as_str(), first.late), ("zjj", false));

    // Reading: the conference with its tasks' clocks; the handling department reads the
    // case's conferences, another department of the county does not.
    let (s, shown) = api.get(&format!("/v1/conferences/{id}"), Some(&rsj)).await;
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["decisions"][0]["deadline_state"], "met_late");
    assert_eq!(shown["decisions"][0]["done_note"], "已完成核实");
    let (s, listed) = api
        .get(&format!("/v1/conferences?case_no={case}"), Some(&op))
        .await;
    assert_eq!(s, 200);
    assert_eq!(listed["conferences"].as_array().unwrap().len(), 1);
    let other = tokens(&h, Role::Department, &c, Some("gov")).await;
    assert_eq!(
        api.get(&format!("/v1/conferences/{id}"), Some(&other))
            .await
            .0,
        403
    );
    assert_eq!(
        api.get(&format!("/v1/conferences/{id}"), Some(&outsider))
            .await
            .0,
        403
    );
    h.stop().await;
}

#[tokio::test]
async fn advisers_leaders_reception_days_and_their_counts() {
    let h = Harness::start("").await;
    let api = Api::new(&h);
    let c = h.county();
    let case = known_case(&h, 2, "rsj").await;
    let now = h.now();

    // The roster.
    let good = json!({"kind": "lawyer", "name": "李律师", "organisation": "某律师事务所",
                      "speciality": "劳动争议", "county": c.as_str()});
    for (body, field, rule) in [
        (with(&good, "kind", json!("judge")), "kind", "unknown_value"),
        (with(&good, "name", Value::Null), "name", "required"),
        (
            with(&good, "organisation", json!("所".repeat(101))),
            "organisation",
            "max_length",
        ),
        (
            with(&good, "county", json!("411")),
            "county",
            "division_code",
        ),
        (
            with(&good, "county", json!("419999")),
            "county",
            "not_served",
        ),
    ] {
        let (s, e) = api.post("/v1/advisers", None, body).await;
        assert_eq!(s, 422, "{field}: {e}");
        assert_eq!(e["error"]["field"], field, "{e}");
        assert_eq!(e["error"]["code"], rule, "{e}");
    }
    let (s, lawyer) = api.post("/v1/advisers", None, good.clone()).await;
    assert_eq!(s, 201, "{lawyer}");
    let lawyer = lawyer["id"].as_str().unwrap().to_owned();
    let (s, counsellor) = api
        .post(
            "/v1/advisers",
            None,
            json!({"kind": "counsellor", "name": "赵老师", "organisation": "心理咨询中心", "county": c.as_str()}),
        )
        .await;
    assert_eq!(s, 201);
    let counsellor = counsellor["id"].as_str().unwrap().to_owned();
    let (_, all) = api.get(&format!("/v1/advisers?county={c}"), None).await;
    assert_eq!(all["advisers"].as_array().unwrap().len(), 2, "{all}");
    let (_, lawyers) = api
        .get(&format!("/v1/advisers?county={c}&kind=lawyer"), None)
        .await;
    assert_eq!(lawyers["advisers"].as_array().unwrap().len(), 1);
    assert_eq!(lawyers["advisers"][0]["speciality"], "劳动争议");
    let (s, e) = api.get("/v1/advisers?kind=judge", None).await;
    assert_eq!((s, e["error"]["field"].clone()), (422, json!("kind")));

    // Update and take off the roster.
    let (s, e) = api
        .post(&format!("/v1/advisers/{counsellor}"), None, json!({}))
        .await;
    assert_eq!(
        (s, e["error"]["field"].clone(), e["error"]["code"].clone()),
        (422, json!("body"), json!("empty"))
    );
    let (s, u) = api
        .post(
            &format!("/v1/advisers/{counsellor}"),
            None,
            json!({"active": false, "speciality": "危机干预"}),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(
        (u["active"].clone(), u["speciality"].clone()),
        (json!(false), json!("危机干预"))
    );
    assert_eq!(
        api.post(
            &format!("/v1/advisers/{}", uuid::Uuid::now_v7()),
            None,
            json!({"active": true})
        )
        .await
        .0,
        404
    );
    let (s, e) = api
        .post("/v1/advisers/nope", None, json!({"active": true}))
        .await;
    assert_eq!((s, e["error"]["field"].clone()), (422, json!("adviser_id")));
    let (_, active) = api
        .get(&format!("/v1/advisers?county={c}&active=true"), None)
        .await;
    assert_eq!(active["advisers"].as_array().unwrap().len(), 1);

    // Leaders.
    let leader = json!({"id": "wang_fxz", "name": "王五", "title": "副县长", "county": c.as_str()});
    let (s, e) = api
        .post("/v1/leaders", None, with(&leader, "id", json!("Wang Wu")))
        .await;
    assert_eq!(
        (s, e["error"]["field"].clone(), e["error"]["code"].clone()),
        (422, json!("id"), json!("leader_id"))
    );
    let (s, e) = api
        .post("/v1/leaders", None, with(&leader, "title", json!("")))
        .await;
    assert_eq!((s, e["error"]["field"].clone()), (422, json!("title")));
    assert_eq!(api.post("/v1/leaders", None, leader.clone()).await.0, 201);
    let (s, l) = api
        .post(
            "/v1/leaders",
            None,
            with(&leader, "title", json!("常务副县长")),
        )
        .await;
    assert_eq!((s, l["title"].clone()), (200, json!("常务副县长")));
    let (_, ls) = api.get(&format!("/v1/leaders?county={c}"), None).await;
    assert_eq!(ls["leaders"].as_array().unwrap().len(), 1);

    // A reception day with the lawyer; the inactive counsellor cannot take part.
    let day = json!({"leader": "wang_fxz", "at": (now + TimeDelta::days(1)).to_rfc3339(),
                     "place": "县信访局接待大厅", "advisers": [lawyer]});
    for (body, field, rule) in [
        (
            with(&day, "leader", json!("nobody")),
            "leader",
            "unknown_leader",
        ),
        (
            with(&day, "advisers", json!([counsellor])),
            "advisers[0]",
            "inactive",
        ),
        (with(&day, "advisers", json!(["x"])), "advisers[0]", "uuid"),
        (with(&day, "at", json!("2026-13-01")), "at", "datetime"),
    ] {
        let (s, e) = api.post("/v1/reception-days", None, body).await;
        assert_eq!(s, 422, "{e}");
        assert_eq!(
            (e["error"]["field"].as_str(), e["error"]["code"].as_str()),
            (Some(field), Some(rule)),
            "{e}"
        );
    }
    let (s, d) = api.post("/v1/reception-days", None, day.clone()).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["leader_name"], "王五");
    assert_eq!(d["advisers"][0]["id"], lawyer.as_str());
    let day_id = d["id"].as_str().unwrap().to_owned();
    let today = cst_date(now);
    let (s, days) = api
        .get(
            &format!(
                "/v1/reception-days?county={c}&from={today}&to={}",
                today + TimeDelta::days(3)
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{days}");
    assert_eq!(days["reception_days"].as_array().unwrap().len(), 1);
    let (_, none) = api
        .get(
            &format!(
                "/v1/reception-days?county={c}&from={}&to={}",
                today + TimeDelta::days(5),
                today + TimeDelta::days(9)
            ),
            None,
        )
        .await;
    assert_eq!(none["reception_days"].as_array().unwrap().len(), 0);
    let (s, e) = api.get("/v1/reception-days?from=yesterday", None).await;
    assert_eq!((s, e["error"]["field"].clone()), (422, json!("from")));
    let (s, e) = api
        .get(
            &format!(
                "/v1/reception-days?from={today}&to={}",
                today - TimeDelta::days(1)
            ),
            None,
        )
        .await;
    assert_eq!((s, e["error"]["code"].clone()), (422, json!("order")));

    // A case received there records the leader, once.
    let recv = format!("/v1/reception-days/{day_id}/cases");
    assert_eq!(
        api.post(&recv, None, json!({"case_no": h.case_no(77)}))
            .await
            .0,
        404
    );
    assert_eq!(
        api.post(
            &format!("/v1/reception-days/{}/cases", uuid::Uuid::now_v7()),
            None,
            json!({"case_no": case})
        )
        .await
        .0,
        404
    );
    assert_eq!(api.post(&recv, None, json!({"case_no": case})).await.0, 201);
    assert_eq!(api.post(&recv, None, json!({"case_no": case})).await.0, 200);
    let (received_by,): (Option<String>,) =
        sqlx::query_as("select reception_leader from cases where case_no = $1")
            .bind(&case)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(received_by.as_deref(), Some("wang_fxz"));
    let received = case_events(&h, "leader_received").await;
    assert_eq!(received.len(), 1, "received once");
    let r: LeaderReceived = received[0].data_as().unwrap();
    assert_eq!(
        (r.leader.as_str(), r.reception_day.to_string()),
        ("wang_fxz", day_id.clone())
    );

    // The lawyer on the case, and their advice.
    let assign = format!("/v1/advisers/{lawyer}/assignments");
    let (s, e) = api
        .post(
            &assign,
            None,
            json!({"case_no": case, "reception_day": day_id}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].clone()), (422, json!("one_of")));
    assert_eq!(
        api.post(&assign, None, json!({"case_no": case})).await.0,
        201
    );
    assert_eq!(
        api.post(&assign, None, json!({"case_no": case})).await.0,
        200
    );
    let (s, e) = api
        .post(
            &format!("/v1/advisers/{counsellor}/assignments"),
            None,
            json!({"case_no": case}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].clone()), (422, json!("inactive")));
    let advice =
        json!({"case_no": case, "adviser": lawyer, "text": "建议通过劳动仲裁途径解决，已释法"});
    for (body, field, rule) in [
        (
            with(&advice, "adviser", json!(counsellor)),
            "adviser",
            "inactive",
        ),
        (
            with(&advice, "adviser", json!(uuid::Uuid::now_v7())),
            "adviser",
            "unknown_adviser",
        ),
        (
            with(&advice, "text", json!("字".repeat(10_001))),
            "text",
            "max_length",
        ),
        (
            with(&advice, "text", json!("a\u{0}b")),
            "text",
            "control_characters",
        ),
    ] {
        let (s, e) = api.post("/v1/advice", None, body).await;
        assert_eq!(s, 422, "{e}");
        assert_eq!(
            (e["error"]["field"].as_str(), e["error"]["code"].as_str()),
            (Some(field), Some(rule)),
            "{e}"
        );
    }
    let (s, a) = api.post("/v1/advice", None, advice.clone()).await;
    assert_eq!(s, 201, "{a}");
    let (_, listed) = api.get(&format!("/v1/advice?case_no={case}"), None).await;
    assert_eq!(listed["advice"].as_array().unwrap().len(), 1);
    assert_eq!(listed["advice"][0]["adviser_name"], "李律师");
    let recorded: AdviceRecorded = case_events(&h, "advice_recorded").await[0]
        .data_as()
        .unwrap();
    assert_eq!(recorded.adviser.to_string(), lawyer);

    // 包案, and the leader's cases with their open clocks.
    let own = "/v1/leaders/wang_fxz/cases";
    assert_eq!(
        api.post("/v1/leaders/nobody/cases", None, json!({"case_no": case}))
            .await
            .0,
        404
    );
    let (s, e) = api.post(own, None, json!({"case_no": "XF-1"})).await;
    assert_eq!((s, e["error"]["field"].clone()), (422, json!("case_no")));
    let (s, r) = api.post(own, None, json!({"case_no": case})).await;
    assert_eq!((s, r["changed"].clone()), (200, json!(true)), "{r}");
    let (_, r) = api.post(own, None, json!({"case_no": case})).await;
    assert_eq!(r["changed"], false);
    let assigned_facts = case_events(&h, "leader_assigned").await;
    assert_eq!(assigned_facts.len(), 1);
    let a: LeaderAssigned = assigned_facts[0].data_as().unwrap();
    assert_eq!(
        (a.leader.as_str(), a.leader_title.as_str()),
        ("wang_fxz", "常务副县长")
    );
    let (s, mine) = api.get(own, None).await;
    assert_eq!(s, 200, "{mine}");
    let cases = mine["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["case_no"], case.as_str());
    let kinds: Vec<&str> = cases[0]["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    let open: Vec<String> = h
        .deadlines(&case)
        .await
        .into_iter()
        .filter(|d| d.state == "pending")
        .map(|d| d.kind)
        .collect();
    assert!(
        !open.is_empty() && kinds.len() == open.len(),
        "{kinds:?} vs {open:?}"
    );
    assert!(kinds.contains(&"D3") && !kinds.contains(&"D1"), "{kinds:?}");
    assert_eq!(api.get("/v1/leaders/nobody/cases", None).await.0, 404);

    // A conference with the lawyer, held: the counts the weekly report reads.
    let (s, conf) = api
        .post(
            "/v1/conferences",
            None,
            json!({"case_no": case, "kind": "major_issue", "scheduled_at": now.to_rfc3339(),
                   "place": "会议室", "participants": [{"role": "lawyer", "id": lawyer}, {"role": "department", "id": "rsj"}]}),
        )
        .await;
    assert_eq!(s, 201, "{conf}");
    let (s, _) = api
        .post(
            &format!("/v1/conferences/{}/minutes", conf["id"].as_str().unwrap()),
            None,
            json!({"minutes": "纪要"}),
        )
        .await;
    assert_eq!(s, 200);
    let (from, to) = (now - TimeDelta::days(1), now + TimeDelta::days(2));
    let county = adviser_counts(h.pool(), Some(c.as_str()), from, to)
        .await
        .unwrap();
    assert_eq!(
        county,
        AdviserCounts {
            // the reception day, the case, the conference
            lawyers_participations: 3,
            counsellors_participations: 0,
            advice_entries: 1,
            conferences_held: 1,
        }
    );
    assert_eq!(
        adviser_counts(h.pool(), None, from, to).await.unwrap(),
        county
    );
    assert_eq!(
        adviser_counts(h.pool(), Some(neighbour(&h).as_str()), from, to)
            .await
            .unwrap(),
        AdviserCounts::default()
    );
    // Before the reception day: the case, the conference and the advice only.
    let before = adviser_counts(h.pool(), Some(c.as_str()), from, now + TimeDelta::hours(12))
        .await
        .unwrap();
    assert_eq!(before.lawyers_participations, 2);
    assert_eq!(
        adviser_counts(
            h.pool(),
            Some(c.as_str()),
            now + TimeDelta::days(3),
            now + TimeDelta::days(4)
        )
        .await
        .unwrap(),
        AdviserCounts::default()
    );
    h.stop().await;
}

/// Every practices route: 401 without a token, 403/404 for an operator of another county, the
/// same department of another county and another department of the county; the county's
/// operator gets through. The OpenAPI document describes exactly these routes.
#[tokio::test]
async fn practices_routes_refuse_other_counties_and_departments() {
    use xinfang_platform::route_probe::{self, Probe, ProbeRequest};
    use xinfang_platform::route_table::Verb;

    let h = Harness::start_configured("", |p| p.security.auth_required = true).await;
    let api = Api::new(&h);
    let c = h.county();
    let op = tokens(&h, Role::Operator, &c, None).await;
    let outsiders = [
        (
            "an operator of another county",
            tokens(&h, Role::Operator, &neighbour(&h), None).await,
        ),
        (
            "the same department of another county",
            tokens(&h, Role::Department, &neighbour(&h), Some("rsj")).await,
        ),
        (
            "another department of the county",
            tokens(&h, Role::Department, &c, Some("zjj")).await,
        ),
    ];
    let case = known_case(&h, 3, "rsj").await;
    let now = h.now();
    let (_, adviser) = api
        .post(
            "/v1/advisers",
            Some(&op),
            json!({"kind": "lawyer", "name": "李律师", "organisation": "所", "county": c.as_str()}),
        )
        .await;
    let adviser = adviser["id"].as_str().unwrap().to_owned();
    let leader = json!({"id": "wang", "name": "王五", "title": "副县长", "county": c.as_str()});
    assert_eq!(
        api.post("/v1/leaders", Some(&op), leader.clone()).await.0,
        201
    );
    let day = json!({"leader": "wang", "at": (now + TimeDelta::days(1)).to_rfc3339(), "place": "大厅", "advisers": [adviser]});
    let (_, d) = api.post("/v1/reception-days", Some(&op), day.clone()).await;
    let day_id = d["id"].as_str().unwrap().to_owned();
    let schedule = json!({"case_no": case, "kind": "difficult_case", "scheduled_at": now.to_rfc3339(),
                          "place": "会议室", "participants": [{"role": "department", "id": "rsj"}]});
    let (_, conf) = api
        .post("/v1/conferences", Some(&op), schedule.clone())
        .await;
    let conf_id = conf["id"].as_str().unwrap().to_owned();
    let minutes = json!({"minutes": "纪要", "decisions": [
        {"text": "核实", "department": "rsj", "due_at": (now + TimeDelta::days(3)).to_rfc3339()}]});
    let (_, held) = api
        .post(
            &format!("/v1/conferences/{conf_id}/minutes"),
            Some(&op),
            minutes.clone(),
        )
        .await;
    let decision = held["decisions"][0]["id"].as_str().unwrap().to_owned();

    let table = xinfang_supervision::practices::routes(RouteTable::new());
    let routes = table.routes().to_vec();
    assert_eq!(routes.len(), 19);
    let probe = Probe::new(&api.base)
        .param("conference_id", &conf_id)
        .param("decision_id", &decision)
        .param("adviser_id", &adviser)
        .param("leader_id", "wang")
        .param("reception_day_id", &day_id);
    route_probe::assert_staff_routes_guarded(
        &probe,
        &routes,
        |r| {
            let mut req = ProbeRequest {
                insider: op.clone(),
                ..Default::default()
            };
            let case_query = Some(format!("case_no={case}"));
            match (r.verb, r.path.as_str()) {
                (Verb::Post, "/v1/conferences") => req.body = Some(schedule.clone()),
                (Verb::Get, "/v1/conferences" | "/v1/advice") => req.query = case_query,
                (Verb::Post, "/v1/conferences/{conference_id}/minutes") => req.body = Some(minutes.clone()),
                (
                    Verb::Post,
                    "/v1/conferences/{conference_id}/tasks/{decision_id}/done"
                    | "/v1/conference-tasks/{decision_id}/done",
                ) => req.body = Some(json!({"note": "已办"})),
                (Verb::Post, "/v1/advisers") => {
                    req.body = Some(json!({"kind": "counsellor", "name": "赵", "organisation": "中心", "county": c.as_str()}))
                }
                (Verb::Post, "/v1/advisers/{adviser_id}") => req.body = Some(json!({"speciality": "劳动"})),
                (Verb::Post, "/v1/advisers/{adviser_id}/assignments") => {
                    req.body = Some(json!({"case_no": case}))
                }
                (Verb::Post, "/v1/advice") => {
                    req.body = Some(json!({"case_no": case, "adviser": adviser, "text": "意见"}))
                }
                (Verb::Post, "/v1/leaders") => req.body = Some(leader.clone()),
                (Verb::Post, "/v1/leaders/{leader_id}/cases" | "/v1/reception-days/{reception_day_id}/cases") => {
                    req.body = Some(json!({"case_no": case}))
                }
                (Verb::Post, "/v1/reception-days") => req.body = Some(day.clone()),
                _ => {}
            }
            req
        },
        &outsiders,
    )
    .await;
    let doc = xinfang_supervision::api::openapi_document();
    let all = xinfang_supervision::api::routes().routes().to_vec();
    for r in &routes {
        assert!(all.contains(r), "{r} is in the service's table");
    }
    let ours: Vec<String> = xinfang_platform::api_doc::mismatches(doc, &all)
        .into_iter()
        .filter(|m| routes.iter().any(|r| m.contains(&r.path)))
        .collect();
    assert_eq!(ours, Vec::<String>::new());
    // Every operation of ours documents its path parameters.
    for r in &routes {
        let op = &doc["paths"][&r.path][r.method().as_str().to_ascii_lowercase()];
        for p in r.params() {
            assert!(
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|x| x["name"] == p)),
                "{r}: parameter {p} undocumented"
            );
        }
    }
    h.stop().await;
}
