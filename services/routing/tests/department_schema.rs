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
