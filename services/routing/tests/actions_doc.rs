//! Issue #20, item 5: docs/department-actions.md documents every department action routing
//! takes — a section of its own (or shared, naming it), its fields, and one HTTP and one NATS
//! example each, the NATS one with the department's own reply inbox (routing drops others).

use xinfang_routing::actions::ACTIONS;

fn doc() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/department-actions.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `## ` sections of the document: (heading, body).
fn sections(doc: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            out.push((h.to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn every_action_has_a_section_with_fields_and_an_http_and_a_nats_example() {
    let doc = doc();
    let sections = sections(&doc);
    let mut missing = Vec::new();
    for action in ACTIONS {
        let tag = format!("`{action}`");
        let Some((_, body)) = sections.iter().find(|(h, _)| h.contains(&tag)) else {
            missing.push(format!("{action}: no `## ` section naming {tag}"));
            continue;
        };
        if !body.contains("| field |") {
            missing.push(format!("{action}: no field table"));
        }
        if !body.contains("\"request_id\"") {
            missing.push(format!("{action}: no example body"));
        }
        let http = format!("/actions/{action} ");
        if !body.contains(&http) || !body.contains("curl") {
            missing.push(format!("{action}: no HTTP example (POST …{http})"));
        }
        // `nats … --inbox-prefix _INBOX.<county>_<dept> req xf.<county>.cmd.<dept>.<action>`
        let nats = body.lines().collect::<Vec<_>>().windows(2).any(|w| {
            let (a, b) = (w[0], w[1]);
            let Some(prefix) = a
                .split_whitespace()
                .skip_while(|t| *t != "--inbox-prefix")
                .nth(1)
            else {
                return false;
            };
            let Some(user) = prefix.strip_prefix("_INBOX.") else {
                return false;
            };
            let Some((county, dept)) = user.split_once('_') else {
                return false;
            };
            b.contains(&format!(" req xf.{county}.cmd.{dept}.{action} "))
        });
        if !nats {
            missing.push(format!(
                "{action}: no NATS example (`nats --inbox-prefix _INBOX.<county>_<dept> req xf.<county>.cmd.<dept>.{action}`)"
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/department-actions.md:\n{}",
        missing.join("\n")
    );
    // The reply inbox rule is stated.
    assert!(doc.contains("_INBOX.<county>_<dept>"));
}
