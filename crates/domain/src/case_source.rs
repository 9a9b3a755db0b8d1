//! Where a matter came from (信访事项来源): an ordinary petition, or a matter handed down from
//! above — 中央巡视移交, 省联席办交办, 上级交办, 领导批示 — which the bureau manages as a listed
//! matter (清单化管理、项目化推进): item by item, with milestones, weekly progress and an earlier
//! 督办. The list is the deployment's configuration (`[[case_sources]]`), like the directory.

use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

/// One configured source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSource {
    /// Lowercase ASCII slug, the wire spelling (`central_inspection`).
    pub code: String,
    /// What people read (`中央巡视移交`).
    pub name: String,
    /// Matters from this source are listed matters (清单).
    #[serde(default)]
    pub listed: bool,
}

/// The code of an ordinary petition; always present.
pub const ORDINARY: &str = "ordinary";

/// The sources a deployment knows: validated once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSources(Vec<CaseSource>);

fn source(code: &str, name: &str, listed: bool) -> CaseSource {
    CaseSource {
        code: code.into(),
        name: name.into(),
        listed,
    }
}

/// The sources the 2025 report names.
pub fn default_sources() -> Vec<CaseSource> {
    vec![
        source(ORDINARY, "一般信访", false),
        source("central_inspection", "中央巡视移交", true),
        source("provincial_joint", "省联席办交办", true),
        source("superior", "上级交办", true),
        source("leader_instruction", "领导批示", true),
    ]
}

impl Default for CaseSources {
    fn default() -> Self {
        Self(default_sources())
    }
}

impl CaseSources {
    /// Checks a configured list: slugs, names, no duplicates, `ordinary` present and not listed.
    /// Errors name the entry.
    pub fn new(list: Vec<CaseSource>) -> Result<Self, ValidationError> {
        let field = "case_sources";
        let mut seen = std::collections::HashSet::new();
        for s in &list {
            crate::subject::token(field, &s.code).map_err(|_| {
                ValidationError::new(
                    field,
                    "source_code",
                    format!(
                        "`{}`: a code is lowercase ASCII letters, digits or '_'",
                        s.code.escape_default()
                    ),
                )
            })?;
            if s.code.len() > 40 {
                return Err(ValidationError::new(
                    field,
                    "source_code",
                    format!("`{}`: at most 40 characters", s.code),
                ));
            }
            let name = s.name.trim();
            if name.is_empty() || name.chars().count() > 40 {
                return Err(ValidationError::new(
                    field,
                    "source_name",
                    format!("`{}`: the name must have 1 to 40 characters", s.code),
                ));
            }
            if !seen.insert(s.code.as_str()) {
                return Err(ValidationError::new(
                    field,
                    "duplicate",
                    format!("`{}` is listed twice", s.code),
                ));
            }
        }
        match list.iter().find(|s| s.code == ORDINARY) {
            None => Err(ValidationError::new(
                field,
                "ordinary_missing",
                "must include the `ordinary` source (a petition that names none)",
            )),
            Some(o) if o.listed => Err(ValidationError::new(
                field,
                "ordinary_listed",
                "`ordinary` cannot be a listed source",
            )),
            Some(_) => Ok(Self(list)),
        }
    }

    pub fn all(&self) -> &[CaseSource] {
        &self.0
    }

    pub fn get(&self, code: &str) -> Option<&CaseSource> {
        self.0.iter().find(|s| s.code == code)
    }

    /// A petition's `source` field: absent means ordinary; an unknown code is refused, naming
    /// the codes there are.
    pub fn parse(&self, field: &str, raw: Option<&str>) -> Result<&CaseSource, ValidationError> {
        let code = raw
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(ORDINARY);
        self.get(code).ok_or_else(|| {
            ValidationError::new(
                field,
                "unknown_value",
                format!(
                    "must be one of: {}",
                    self.0
                        .iter()
                        .map(|s| s.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    /// The listed sources (清单), in configured order.
    pub fn listed(&self) -> impl Iterator<Item = &CaseSource> {
        self.0.iter().filter(|s| s.listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_ordinary_is_not_listed() {
        let s = CaseSources::new(default_sources()).expect("valid");
        assert!(!s.parse("source", None).expect("ordinary").listed);
        assert!(
            s.parse("source", Some("central_inspection"))
                .expect("known")
                .listed
        );
        assert_eq!(s.listed().count(), 4);
    }

    #[test]
    fn unknown_codes_name_the_field_and_the_choices() {
        let s = CaseSources::default();
        let e = s
            .parse("source", Some("mayor_hotline"))
            .expect_err("unknown");
        assert_eq!((e.field.as_str(), e.rule), ("source", "unknown_value"));
        assert!(e.message.contains("provincial_joint"), "{}", e.message);
    }

    #[test]
    fn a_bad_list_is_refused() {
        let mut l = default_sources();
        l.push(source("superior", "again", true));
        assert_eq!(CaseSources::new(l).expect_err("dup").rule, "duplicate");
        let l = vec![source("superior", "上级交办", true)];
        assert_eq!(
            CaseSources::new(l).expect_err("no ordinary").rule,
            "ordinary_missing"
        );
        let l = vec![source("Ordinary X", "x", false)];
        assert_eq!(CaseSources::new(l).expect_err("slug").rule, "source_code");
    }
}
