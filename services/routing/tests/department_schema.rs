//! Issue #17, item 4: department messages say who they are for, what binds it and what it
//! may do; a JSON Schema of every department message and command is generated from the Rust
//! types, served, kept in docs/department-messages.schema.json, and real messages captured
//! from the stream validate against it.

mod common;

use common::Harness;
use serde_json::Value;
use xinfang_domain::events::{self, Reclassified};
use xinfang_domain::petition::PetitionType;
use xinfang_routing::openapi::{DEPARTMENT_COMMANDS, DEPARTMENT_MESSAGES, department_schema};

fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/department-messages.schema.json")
}

/// The file is the generated schema; `XF_UPDATE_SCHEMA=1` rewrites it (then the test still
/// fails, so a stale file never passes unnoticed).
#[test]
fn the_schema_file_is_the_generated_schema() {
    let generated = serde_json::to_string_pretty(department_schema()).unwrap() + "\n";
    let path = schema_path();
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != generated {
        if std::env::var_os("XF_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        panic!(
            "{} is stale: run `XF_UPDATE_SCHEMA=1 cargo test -p xinfang-routing --test department_schema` and commit it",
            path.display()
        );
    }
}

#[test]
fn every_department_message_and_command_has_a_schema() {
    let s = department_schema();
    for (event, name) in DEPARTMENT_MESSAGES {
        assert_eq!(
            s["messages"][event]["$ref"],
            format!("#/$defs/{name}"),
            "{event}"
        );
        assert!(s["$defs"][name].is_object(), "{name} is not defined");
    }
    for action in xinfang_routing::actions::ACTIONS {
        let name = DEPARTMENT_COMMANDS
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("action {action} has no schema"));
        assert!(s["$defs"][name].is_object(), "{name} is not defined");
    }
    // The new fields are in the schema, and are not required (older messages lack them).
    let assigned = &s["$defs"]["DeptAssignment"];
    for f in ["addressee", "deadlines", "actions"] {
        assert!(assigned["properties"][f].is_object(), "{f}: {assigned}");
        assert!(
            !required(assigned).contains(&f.to_owned()),
            "{f} must stay optional"
        );
    }
    let organ = &s["$defs"]["DeptOrgan"];
    assert_eq!(
        organ["properties"]["level"]["$ref"], "#/$defs/OrganLevel",
        "{organ}"
    );
    // Every reference resolves inside the document.
    let mut dangling = Vec::new();
    refs(s, &mut |r| {
        let name = r.strip_prefix("#/$defs/").unwrap_or(r);
        if s["$defs"].get(name).is_none() {
            dangling.push(r.to_owned());
        }
    });
    assert_eq!(dangling, Vec::<String>::new());
}

fn required(schema: &Value) -> Vec<String> {
    schema["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn refs(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => f(r),
                    _ => refs(v, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, f)),
        _ => {}
    }
}

/// A minimal validator for what the generated schema uses: `$ref`, `type` (one or a list),
/// `enum`, `required`, `properties`, `additionalProperties: false`, `items`, `allOf`,
/// `oneOf`/`anyOf`, `format: date-time`. Returns the violations, each with its path.
fn validate(root: &Value, schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/$defs/").unwrap_or(r);
        match root["$defs"].get(name) {
            Some(s) => validate(root, s, v, path, out),
            None => out.push(format!("{path}: unresolved {r}")),
        }
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            validate(root, s, v, path, out);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema[key].as_array() {
            let ok = any.iter().any(|s| {
                let mut e = Vec::new();
                validate(root, s, v, path, &mut e);
                e.is_empty()
            });
            if !ok {
                out.push(format!("{path}: matches no {key} alternative: {v}"));
            }
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = |t: &str| match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => true,
        };
        if !types.iter().any(|t| fits(t)) {
            out.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {schema}"));
    }
    if schema["format"] == "date-time"
        && let Some(s) = v.as_str()
        && chrono::DateTime::parse_from_rfc3339(s).is_err()
    {
        out.push(format!("{path}: {s} is not a date-time"));
    }
    if let Some(obj) = v.as_object() {
        for f in required(schema) {
            if !obj.contains_key(&f) {
                out.push(format!("{path}: `{f}` is required"));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, fv) in obj {
                match props.get(k) {
                    Some(ps) => validate(root, ps, fv, &format!("{path}.{k}"), out),
                    None if schema["additionalProperties"] == false => {
                        out.push(format!("{path}: `{k}` is not allowed"))
                    }
                    None => {}
                }
            }
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(root, items, x, &format!("{path}[{i}]"), out);
        }
    }
}

fn check_message(event: &str, data: &Value) {
    let root = department_schema();
    let mut errors = Vec::new();
    validate(root, &root["messages"][event], data, event, &mut errors);
    assert_eq!(errors, Vec::<String>::new(), "{data}");
}

#[test]
fn the_validator_refuses_what_the_schema_does_not_allow() {
    let root = department_schema();
    let bad = serde_json::json!({
        "case_no": "XF-411282-2026-000001",
        "department": "rsj",
        "role": "boss",
        "mode": "forward",
        "report_required": "no",
        "petition_type": "grievance",
        "text": "x",
        "actions": [1],
    });
    let mut errors = Vec::new();
    validate(
        root,
        &root["messages"]["assigned"],
        &bad,
        "assigned",
        &mut errors,
    );
    let all = errors.join("\n");
    for expect in [
        "assigned.role",
        "assigned.report_required",
        "assigned.actions[0]",
    ] {
        assert!(all.contains(expect), "{expect} not flagged in:\n{all}");
    }
}

#[tokio::test]
async fn messages_captured_from_the_stream_name_the_organ_and_validate_against_the_schema() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.registered("zjj");
    h.register(&r).await;
    let (_, env) = h
        .wait_events(&c, &format!("xf.{c}.dept.zjj.assigned"), &r.case_no, 1)
        .await
        .remove(0);
    let data = env.data.clone();
    check_message("assigned", &data);
    let a: events::DeptAssignment = env.data_as().unwrap();
    let who = a.addressee.expect("the assignment names its organ");
    assert_eq!(
        (who.county.clone(), who.department.as_str()),
        (c.clone(), "zjj")
    );
    assert_eq!(who.level, events::OrganLevel::County);
    assert_ne!(h.city(), c);
    assert!(!who.name.is_empty());
    // A fresh matter: accept, object or ask for a transfer, within the objection window.
    assert_eq!(a.actions, ["accept", "object", "transfer"]);
    let object_by = a.deadlines.object_by.expect("the objection window end");
    assert!(object_by > chrono::Utc::now());
    assert_eq!(a.deadlines.accept_by, a.accept_by);
    assert_eq!(a.deadlines.handle_by, None);

    // Reclassified into an accusation: the unit hears `withdrawn`, with nothing left to do.
    let re = Reclassified {
        case_no: r.case_no.clone(),
        petition_type: PetitionType::Accusation,
        branch: None,
        diversion: None,
        department: "jwjw".into(),
        county: c.clone(),
        accuses_official: true,
        by: "clerk".into(),
        reason: "举报干部受贿".into(),
        assisting: vec![],
        accused_level: None,
    };
    h.publish(events::kind::RECLASSIFIED, &r.case_no, &re).await;
    let (_, env) = h
        .wait_events(&c, &format!("xf.{c}.dept.zjj.withdrawn"), &r.case_no, 1)
        .await
        .remove(0);
    check_message("withdrawn", &env.data);
    let w: events::DeptWithdrawn = env.data_as().unwrap();
    assert_eq!(w.addressee.map(|o| o.department), Some("zjj".to_owned()));
    assert!(w.actions.is_empty());
    let (_, env) = h
        .wait_events(&c, &format!("xf.{c}.dept.jwjw.assigned"), &r.case_no, 1)
        .await
        .remove(0);
    check_message("assigned", &env.data);

    // The same document is served.
    let served: Value = reqwest::Client::new()
        .get(h.url("/v1/schemas/department"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&served, department_schema());
    h.stop().await;
}

/// Messages of older releases (without the new fields) still read.
#[test]
fn older_messages_still_deserialize() {
    let old = serde_json::json!({
        "case_no": "XF-411282-2026-000001",
        "department": "rsj",
        "role": "lead",
        "mode": "forward",
        "report_required": false,
        "petition_type": "grievance",
        "text": "x",
        "petitioner": null,
        "accept_by": null,
    });
    let a: events::DeptAssignment = serde_json::from_value(old).unwrap();
    assert!(a.addressee.is_none() && a.actions.is_empty());
    let w: events::DeptWithdrawn = serde_json::from_value(serde_json::json!({
        "case_no": "XF-411282-2026-000001", "reason": "r", "at": "2026-01-05T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(w.deadlines, events::DeptDeadlines::default());
}

/// The example body of every action in docs/department-actions.md is a valid command by the
/// schema (the doc and the types cannot drift apart unnoticed).
#[test]
fn the_documented_command_examples_validate_against_the_schema() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/department-actions.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let root = department_schema();
    let mut checked = 0;
    for (action, _) in DEPARTMENT_COMMANDS {
        // The example body is the JSON block the NATS example of the action sends.
        let sent = format!(".{action} \"$(cat {action}.json)\"");
        let Some(example) = doc
            .split("```json\n")
            .skip(1)
            .find(|chunk| chunk.contains(&sent))
            .and_then(|chunk| chunk.split("```").next())
        else {
            panic!("{action}: no example body followed by its NATS example");
        };
        let body: Value = serde_json::from_str(example)
            .unwrap_or_else(|e| panic!("{action}: example is not JSON: {e}\n{example}"));
        let mut errors = Vec::new();
        validate(root, &root["commands"][action], &body, action, &mut errors);
        assert_eq!(errors, Vec::<String>::new(), "{action}: {body}");
        checked += 1;
    }
    assert_eq!(checked, xinfang_routing::actions::ACTIONS.len());
    // And a body missing what the action requires is caught.
    let mut errors = Vec::new();
    let bad = serde_json::json!({"case_no": "XF-411282-2026-000123"});
    validate(
        root,
        &root["commands"]["accept"],
        &bad,
        "accept",
        &mut errors,
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`request_id` is required")),
        "{errors:?}"
    );
}

/// The one message of `event` for the case on `subject` whose `deadline` is `deadline` (all of
/// them when `None`), once supervision wrote it.
async fn wait_dept_message(
    h: &Harness,
    subject: &str,
    case_no: &str,
    deadline: Option<&str>,
) -> Value {
    let deadline_matches = |env: &xinfang_domain::envelope::Envelope| {
        deadline.is_none_or(|d| env.data["deadline"] == d)
    };
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let found = h
            .events(&h.county(), subject, case_no)
            .await
            .into_iter()
            .map(|(_, env)| env)
            .filter(deadline_matches)
            .collect::<Vec<_>>();
        if let Some(env) = found.into_iter().last() {
            return env.data;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no {subject} ({deadline:?}) for {case_no}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until supervision keeps the clocks `kinds` of the case in `state`; returns the rows.
async fn wait_clocks(
    pool: &sqlx::PgPool,
    case_no: &str,
    kinds: &[&str],
    state: &str,
) -> Vec<xinfang_supervision::store::DeadlineRow> {
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let rows = xinfang_supervision::store::for_case(pool, case_no)
            .await
            .unwrap();
        let hits: Vec<_> = kinds
            .iter()
            .filter_map(|k| {
                rows.iter()
                    .rev()
                    .find(|r| r.kind == *k && r.state == state)
                    .cloned()
            })
            .collect();
        if hits.len() == kinds.len() {
            return hits;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{case_no}: {kinds:?} not {state}: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Checks `data` against the schema of `event`, and that the schema refuses it without its
/// `addressee`.
fn check_message_and_its_organ(event: &str, data: &Value) {
    check_message(event, data);
    let root = department_schema();
    let mut anonymous = data.clone();
    anonymous
        .as_object_mut()
        .expect("an object")
        .remove("addressee");
    let mut errors = Vec::new();
    validate(
        root,
        &root["messages"][event],
        &anonymous,
        event,
        &mut errors,
    );
    assert!(
        errors.iter().any(|e| e.contains("`addressee` is required")),
        "{event}: a message naming no organ passed: {errors:?}"
    );
}

/// Supervision's department messages — `warning`, `overdue`, `supervision` (an escalation and
/// one issued over HTTP) and `scheduled` (a 复查 request to the review organ) — as the real
/// services write them over NATS, supervision on a clock the test moves: each names its organ,
/// lists the clocks that bind it and the actions it may take, and validates against the
/// schema served here, which refuses such a message without its `addressee`.
#[tokio::test]
async fn supervision_messages_name_the_organ_and_validate_against_the_schema() {
    use chrono::TimeDelta;
    use xinfang_supervision::clock::Clock;

    let h = Harness::start().await;
    let sup = xinfang_supervision::service::start_with(h.env.infra.clone(), Clock::manual())
        .await
        .expect("supervision starts");
    let pool = sup.started.host.pool.clone();
    let advance_to = |to: chrono::DateTime<chrono::Utc>| {
        let by = to - sup.clock.now();
        if by > TimeDelta::zero() {
            sup.clock.advance(by);
        }
        sup.engine_wake.notify_one();
    };
    let c = h.county();
    let r = h.registered("zjj");
    h.register(&r).await;
    let case = r.case_no.as_str();
    // Routing assigns the matter to zjj; supervision starts its acceptance notice (D3) and
    // objection window (D4).
    let rows = wait_clocks(&pool, case, &["D3", "D4"], "pending").await;
    let (d3, d4) = (&rows[0], &rows[1]);

    // The objection window is about to close: a warning naming the organ and both clocks.
    advance_to(d4.warn_at.expect("D4 warns"));
    let data = wait_dept_message(&h, &format!("xf.{c}.dept.zjj.warning"), case, Some("D4")).await;
    check_message_and_its_organ("warning", &data);
    let w: events::DeptDeadlineFired = serde_json::from_value(data.clone()).unwrap();
    assert_eq!(
        (&w.addressee.county, w.addressee.department.as_str()),
        (&c, "zjj")
    );
    assert_eq!(w.addressee.level, events::OrganLevel::County);
    assert!(
        w.addressee.name.starts_with("测试县"),
        "{}",
        w.addressee.name
    );
    assert_eq!(w.actions, ["accept", "object", "transfer"]);
    assert_eq!(w.deadlines.object_by, Some(d4.due_at));
    assert_eq!(w.deadlines.accept_by, Some(d3.due_at));
    let kinds: Vec<(&str, &str)> = w
        .deadlines
        .clocks
        .iter()
        .map(|k| (k.deadline.as_str(), k.state.as_str()))
        .collect();
    assert_eq!(kinds, [("D4", "pending"), ("D3", "pending")]);
    // What consumers of the older payload read is still there.
    let old: events::DeadlineFired = serde_json::from_value(data).unwrap();
    assert_eq!((old.deadline.as_str(), old.due), ("D4", d4.due_at));

    // The window lapses (no message to the unit: the right is its own), then D3 passes: the
    // unit is told it is overdue, and the bureau's escalation 督办 reaches it.
    advance_to(d4.due_at + TimeDelta::minutes(1));
    wait_clocks(&pool, case, &["D4"], "fired").await;
    advance_to(d3.due_at + TimeDelta::minutes(1));
    let data = wait_dept_message(&h, &format!("xf.{c}.dept.zjj.overdue"), case, Some("D3")).await;
    check_message_and_its_organ("overdue", &data);
    let o: events::DeptDeadlineFired = serde_json::from_value(data).unwrap();
    // The objection window has lapsed: accepting is what is left.
    assert_eq!(o.actions, ["accept"]);
    assert_eq!(o.deadlines.object_by, None);
    assert_eq!(o.deadlines.clocks.len(), 1);
    assert_eq!(o.deadlines.clocks[0].state, "fired");

    let data = wait_dept_message(&h, &format!("xf.{c}.dept.zjj.supervision"), case, None).await;
    check_message_and_its_organ("supervision", &data);
    let s: events::DeptSupervised = serde_json::from_value(data).unwrap();
    assert_eq!(s.supervised.form, "escalation");
    assert_eq!(s.actions, ["respond", "accept"]);
    // (Postgres keeps microseconds.)
    assert_eq!(
        s.deadlines.respond_by.map(|t| t.timestamp_micros()),
        Some(s.supervised.respond_by.timestamp_micros())
    );
    assert_eq!(s.deadlines.accept_by, Some(d3.due_at));
    assert_eq!(s.action_routes.len(), 1);
    let route = &s.action_routes[0];
    assert_eq!(
        (
            route.service.as_str(),
            route.method.as_str(),
            route.path.clone()
        ),
        (
            "supervision",
            "POST",
            format!("/v1/supervisions/{}/response", s.supervision_id)
        )
    );
    // The route answers the 督办.
    let base = format!("http://{}", sup.started.http);
    let answered = reqwest::Client::new()
        .post(format!("{base}{}", route.path))
        .json(&serde_json::json!({"response": "已补发受理告知书"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    wait_clocks(&pool, case, &["supervision"], "met").await;

    // A 督办 issued by hand: answered on its own id; the answered one is no longer listed.
    let issued = reqwest::Client::new()
        .post(format!("{base}/v1/supervisions"))
        .json(&serde_json::json!({
            "case_no": case, "department": "zjj", "form": "written_notice", "issuer": "督查科",
            "note": "请说明未按期告知受理的原因",
            "respond_by": (sup.clock.now() + TimeDelta::days(3)).to_rfc3339(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.unwrap();
    let id = issued["id"].as_str().unwrap().to_owned();
    let by_hand = {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let found = h
                .events(&c, &format!("xf.{c}.dept.zjj.supervision"), case)
                .await
                .into_iter()
                .find(|(_, env)| env.data["supervision_id"] == id.as_str());
            if let Some((_, env)) = found {
                break env.data;
            }
            assert!(tokio::time::Instant::now() < until, "no 督办 {id}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    check_message_and_its_organ("supervision", &by_hand);
    let m: events::DeptSupervised = serde_json::from_value(by_hand).unwrap();
    assert_eq!(m.supervised.form, "written_notice");
    assert_eq!(m.actions, ["respond", "accept"]);
    let paths: Vec<&str> = m.action_routes.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [format!("/v1/supervisions/{id}/response")]);

    // A 复查 request addressed to the county government: it hears of it, and of its decision
    // deadline D8, on its own subject.
    let request = events::ReviewEvent {
        case_no: case.to_owned(),
        case_county: c.clone(),
        level: events::ReviewLevel::Review,
        organ: format!("{c}:gov"),
        decision: None,
        served_on: None,
        at: sup.clock.now(),
        round: 1,
    };
    let env = xinfang_domain::envelope::Envelope::new(
        events::kind::REVIEW_REQUESTED,
        Some(case.to_owned()),
        c.clone(),
        chrono::Utc::now(),
        &request,
    )
    .unwrap();
    let subject =
        xinfang_domain::subject::review_event(&c, events::kind::REVIEW_REQUESTED).unwrap();
    xinfang_platform::nats::publish(h.env.js(), &subject, &env)
        .await
        .unwrap()
        .await
        .unwrap();
    let data = wait_dept_message(&h, &format!("xf.{c}.dept.gov.scheduled"), case, Some("D8")).await;
    check_message_and_its_organ("scheduled", &data);
    let d: events::DeptDeadlineStatus = serde_json::from_value(data).unwrap();
    assert_eq!(
        (d.addressee.department.as_str(), d.addressee.level),
        ("gov", events::OrganLevel::County)
    );
    assert_eq!(d.actions, ["decide"]);
    assert_eq!(d.deadlines.decide_by, Some(d.status.due));
    assert_eq!(
        d.action_routes[0].path,
        format!("/v1/reviews/{case}/decision")
    );
    // Only the organ's own clocks: zjj's are not the government's.
    assert!(d.deadlines.clocks.iter().all(|k| k.deadline == "D8"));
    h.stop().await;
}
