//! Labelled example petitions (`config/classification/examples.jsonl`) that teach the
//! classifier's term models how people phrase each type and department.
//!
//! One JSON object a line: `{"id": "...", "text": "...", "type": "申诉求决", "dept": "rsj", ...}`,
//! the department by its code in the directory. Further keys (`diversion`, `county`,
//! `accused_official`, `repeat_of`, an opaque `petitioner` key, the `home` division code) are
//! labels the tests measure the classifier with (`dev_set.rs`); they are not learnt from here.
//! Examples are invented or anonymised: they are shipped with the product, so they must never
//! hold a real petitioner's personal data.

use std::collections::HashSet;

use serde::Deserialize;

use super::{Departments, RulesError};
use crate::petition::{Diversion, PetitionType};

/// Longest example text accepted, in characters (the registration limit).
const MAX_TEXT_CHARS: usize = 20_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub id: String,
    pub text: String,
    pub petition_type: PetitionType,
    /// Department code.
    pub department: String,
    /// The legal channel the matter belongs in (`None`: none, or the line does not say).
    pub diversion: Option<Diversion>,
}

#[derive(Deserialize)]
struct Line {
    id: String,
    text: String,
    #[serde(rename = "type")]
    petition_type: String,
    dept: String,
    /// `""` for none.
    #[serde(default)]
    diversion: String,
}

/// Parses and validates the examples against the shipped department directory.
pub fn parse(jsonl: &str) -> Result<Vec<Example>, RulesError> {
    parse_with(jsonl, &Departments::embedded())
}

/// Parses and validates the examples against a deployment's own department directory. Errors
/// name the line and the field, never the text.
pub fn parse_with(jsonl: &str, departments: &Departments) -> Result<Vec<Example>, RulesError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (n, raw) in jsonl.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let at = || format!("examples line {}", n + 1);
        let line: Line = serde_json::from_str(raw).map_err(|e| {
            RulesError::invalid(
                at(),
                format!("not an example object: {}", json_error_kind(&e)),
            )
        })?;
        if line.id.trim().is_empty() || !seen.insert(line.id.clone()) {
            return Err(RulesError::invalid(at(), "id: missing or duplicated"));
        }
        let chars = line.text.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            return Err(RulesError::invalid(
                at(),
                format!("text: must hold 1 to {MAX_TEXT_CHARS} characters"),
            ));
        }
        let petition_type = PetitionType::parse(&line.petition_type)
            .map_err(|_| RulesError::invalid(at(), "type: not 建议意见, 检举控告 or 申诉求决"))?;
        if !departments.contains(&line.dept) {
            return Err(RulesError::invalid(
                at(),
                format!("dept: `{}` is not a department code", line.dept),
            ));
        }
        let diversion = if line.diversion.is_empty() {
            None
        } else {
            Some(Diversion::parse(&line.diversion).map_err(|_| {
                RulesError::invalid(at(), "diversion: not empty or a diversion such as 诉讼")
            })?)
        };
        out.push(Example {
            id: line.id,
            text: line.text,
            petition_type,
            department: line.dept,
            diversion,
        });
    }
    Ok(out)
}

/// The error's category only: serde_json's full message can echo a fragment of the input.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "a field is missing, unknown or of the wrong kind",
        serde_json::error::Category::Eof => "the line ends early",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_lines() {
        let ex = parse(
            "{\"id\":\"a\",\"text\":\"拖欠工资\",\"type\":\"申诉求决\",\"dept\":\"rsj\"}\n\n\
             {\"id\":\"b\",\"text\":\"举报村支书\",\"type\":\"检举控告\",\"dept\":\"jwjw\"}\n",
        )
        .expect("valid");
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[1].petition_type, PetitionType::Accusation);
        assert_eq!(ex[0].department, "rsj");
    }

    #[test]
    fn errors_name_the_line_and_field_and_never_the_text() {
        let cases = [
            (
                "{\"id\":\"a\",\"text\":\"张三的工资\",\"type\":\"投诉\",\"dept\":\"rsj\"}",
                "type",
            ),
            (
                "{\"id\":\"a\",\"text\":\"张三的工资\",\"type\":\"申诉求决\",\"dept\":\"nope\"}",
                "dept",
            ),
            (
                "{\"id\":\"a\",\"text\":\"\",\"type\":\"申诉求决\",\"dept\":\"rsj\"}",
                "text",
            ),
            (
                "{\"id\":\"a\",\"text\":\"张三\",\"type\":\"申诉求决\",\"dept\":\"rsj\",\"diversion\":\"上访\"}",
                "diversion",
            ),
            (
                "{\"id\":\"a\",\"txt\":\"张三的工资\",\"type\":\"申诉求决\",\"dept\":\"rsj\"}",
                "field",
            ),
            ("{\"id\":\"a\",\"text\":\"张三的工资", "ends early"),
            ("{\"id\":\"a\" \"text\"}", "invalid JSON"),
        ];
        for (line, field) in cases {
            let e = parse(&format!("\n{line}")).expect_err(line).to_string();
            assert!(e.contains("line 2") && e.contains(field), "{e}");
            assert!(!e.contains("张三"), "{e}");
        }
        let dup =
            "{\"id\":\"a\",\"text\":\"x\",\"type\":\"申诉求决\",\"dept\":\"rsj\"}\n".repeat(2);
        assert!(parse(&dup).expect_err("dup").to_string().contains("id"));
    }
}
