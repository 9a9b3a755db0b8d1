//! Deadline settings. Every day-counting choice of domain.md "Decisions" is a setting, because
//! the regulation leaves it open ([U]) and a bureau may decide differently. `Default` is the Decisions.
//!
//! Configuration may name only what it changes: missing kinds and fields keep their defaults.
//! This is the deployment's one `[deadlines]` section (read by the platform configuration and used
//! by every service).
//!
//! ```toml
//! evaluation_window_days = 30
//! evaluation_roll_over = true  # the evaluation window rolls over like the statutory ones
//! remand_handling_days = 30    # new handling period after a 复查/复核 sends the matter back
//! [kinds.D7]
//! roll_over = false            # switch Art 203 roll-over off for one deadline kind
//! [handling_by_type]
//! suggestion = "none"      # no handling deadline for 建议意见类
//! [handling_by_branch]
//! "31_6" = 60
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{DeadlineError, DeadlineKind, MAX_EXTENSION_DAYS, MAX_RULE_DAYS};
use crate::petition::{Art31Branch, PetitionType};

/// How one deadline is counted. For D6, `days` is the longest extension allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindRule {
    pub days: u32,
    /// Count working days from the calendar instead of calendar days.
    pub working_days: bool,
    /// Move a due date that falls on a rest day to the next working day (民法典 Art 203).
    pub roll_over: bool,
}

impl KindRule {
    /// The Decisions: D4 is 5 working days; everything else calendar days; a last day that is a
    /// rest day rolls over to the next working day (Decisions 1, 民法典 Art 203) for every kind.
    /// `None` for D11, which has no time limit and therefore no settings.
    pub fn statutory(kind: DeadlineKind) -> Option<KindRule> {
        use DeadlineKind::*;
        let (days, working_days) = match kind {
            D1 | D2 | D3 => (15, false),
            D4 => (5, true),
            D5 => (60, false),
            D6 => (MAX_EXTENSION_DAYS, false),
            D7 | D8 | D9 | D10 => (30, false),
            D11 => return None,
        };
        Some(KindRule {
            days,
            working_days,
            roll_over: true,
        })
    }
}

/// A handling-deadline override for a petition type or Art 31 branch: a number of days, or
/// none at all (Reg-2022 sets no handling deadline for 建议意见类, 检举控告类 or Art 31(1)–(5)).
/// Written as an integer or the string `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlingLimit {
    Days(u32),
    NoDeadline,
}

impl Serialize for HandlingLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HandlingLimit::Days(d) => s.serialize_u32(*d),
            HandlingLimit::NoDeadline => s.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for HandlingLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HandlingLimit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of days or \"none\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HandlingLimit, E> {
                u32::try_from(v)
                    .map(HandlingLimit::Days)
                    .map_err(|_| E::custom("handling days out of range"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HandlingLimit, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("handling days must not be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HandlingLimit, E> {
                if v.eq_ignore_ascii_case("none") {
                    Ok(HandlingLimit::NoDeadline)
                } else {
                    // Environment-variable overrides arrive as strings.
                    v.parse::<u32>()
                        .map(HandlingLimit::Days)
                        .map_err(|_| E::custom("expected a number of days or \"none\""))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// All deadline settings. Construct with `Default` (the Decisions), from configuration via serde,
/// or adjust with the `with_*` methods; every path validates the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDeadlineRules")]
pub struct DeadlineRules {
    /// D1..D10, always all present (D11 has no settings).
    kinds: BTreeMap<DeadlineKind, KindRule>,
    handling_by_type: BTreeMap<PetitionType, HandlingLimit>,
    handling_by_branch: BTreeMap<Art31Branch, HandlingLimit>,
    evaluation_window_days: u32,
    /// Whether the evaluation window's last day rolls over off a rest day, like D7 and D9.
    evaluation_roll_over: bool,
    /// Days the handling organ has for its new opinion when a 复查 or 复核 decision revokes or
    /// changes the old one and sends the matter back (the regulation is silent; counted like
    /// D5, from the remand).
    remand_handling_days: u32,
}

/// Default satisfaction-evaluation window (Decisions 5).
pub const DEFAULT_EVALUATION_WINDOW_DAYS: u32 = 30;

/// Default handling period after a 复查/复核 decision sends the matter back (the regulation
/// sets none; configurable as `remand_handling_days`).
pub const DEFAULT_REMAND_HANDLING_DAYS: u32 = 30;

impl Default for DeadlineRules {
    fn default() -> Self {
        DeadlineRules {
            kinds: DeadlineKind::ALL
                .into_iter()
                .filter_map(|k| KindRule::statutory(k).map(|r| (k, r)))
                .collect(),
            // Decisions 2: 60 days for every accepted matter, so no overrides by default.
            handling_by_type: BTreeMap::new(),
            handling_by_branch: BTreeMap::new(),
            evaluation_window_days: DEFAULT_EVALUATION_WINDOW_DAYS,
            evaluation_roll_over: true,
            remand_handling_days: DEFAULT_REMAND_HANDLING_DAYS,
        }
    }
}

impl DeadlineRules {
    /// The rule for `kind`; `None` for D11 (no time limit).
    pub fn rule(&self, kind: DeadlineKind) -> Option<KindRule> {
        self.kinds.get(&kind).copied()
    }

    /// Days the satisfaction evaluation stays open after the reply is served.
    pub fn evaluation_window_days(&self) -> u32 {
        self.evaluation_window_days
    }

    /// Whether the evaluation window's last day rolls over off a rest day (Decisions 1).
    pub fn evaluation_roll_over(&self) -> bool {
        self.evaluation_roll_over
    }

    /// Days of the new handling period after a 复查/复核 decision sends the matter back.
    pub fn remand_handling_days(&self) -> u32 {
        self.remand_handling_days
    }

    /// The longest extension (D6) these rules allow, never above Art 34's 30 days.
    pub fn max_extension_days(&self) -> u32 {
        self.rule(DeadlineKind::D6)
            .map_or(MAX_EXTENSION_DAYS, |r| r.days.min(MAX_EXTENSION_DAYS))
    }

    /// Handling deadline in days for an accepted matter, or `None` when configured as none.
    /// The branch override wins over the type override, which wins over D5's days.
    pub fn handling_days(
        &self,
        petition_type: Option<PetitionType>,
        branch: Option<Art31Branch>,
    ) -> Option<u32> {
        let limit = branch
            .and_then(|b| self.handling_by_branch.get(&b))
            .or_else(|| petition_type.and_then(|t| self.handling_by_type.get(&t)));
        match limit {
            Some(HandlingLimit::Days(d)) => Some(*d),
            Some(HandlingLimit::NoDeadline) => None,
            None => self.rule(DeadlineKind::D5).map(|r| r.days),
        }
    }

    pub fn handling_overrides_by_type(&self) -> &BTreeMap<PetitionType, HandlingLimit> {
        &self.handling_by_type
    }

    pub fn handling_overrides_by_branch(&self) -> &BTreeMap<Art31Branch, HandlingLimit> {
        &self.handling_by_branch
    }

    pub fn with_rule(mut self, kind: DeadlineKind, rule: KindRule) -> Result<Self, DeadlineError> {
        check_kind_rule(kind, &rule)?;
        self.kinds.insert(kind, rule);
        Ok(self)
    }

    pub fn with_roll_over(
        self,
        kind: DeadlineKind,
        roll_over: bool,
    ) -> Result<Self, DeadlineError> {
        let rule = self.rule(kind).ok_or_else(|| no_settings(kind))?;
        self.with_rule(kind, KindRule { roll_over, ..rule })
    }

    pub fn with_handling_for_type(
        mut self,
        petition_type: PetitionType,
        limit: HandlingLimit,
    ) -> Result<Self, DeadlineError> {
        check_limit(&format!("handling_by_type.{petition_type}"), limit)?;
        self.handling_by_type.insert(petition_type, limit);
        Ok(self)
    }

    pub fn with_handling_for_branch(
        mut self,
        branch: Art31Branch,
        limit: HandlingLimit,
    ) -> Result<Self, DeadlineError> {
        check_limit(&format!("handling_by_branch.{branch}"), limit)?;
        self.handling_by_branch.insert(branch, limit);
        Ok(self)
    }

    pub fn with_evaluation_window_days(mut self, days: u32) -> Result<Self, DeadlineError> {
        check_days("evaluation_window_days", days)?;
        self.evaluation_window_days = days;
        Ok(self)
    }

    pub fn with_evaluation_roll_over(mut self, roll_over: bool) -> Self {
        self.evaluation_roll_over = roll_over;
        self
    }

    pub fn with_remand_handling_days(mut self, days: u32) -> Result<Self, DeadlineError> {
        check_days("remand_handling_days", days)?;
        self.remand_handling_days = days;
        Ok(self)
    }
}

fn no_settings(kind: DeadlineKind) -> DeadlineError {
    DeadlineError::InvalidRule {
        rule: kind.to_string(),
        reason: format!(
            "has no time limit ({}) and takes no settings",
            kind.article()
        ),
    }
}

fn check_days(rule: &str, days: u32) -> Result<(), DeadlineError> {
    if (1..=MAX_RULE_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(DeadlineError::InvalidRule {
            rule: rule.to_owned(),
            reason: format!("days must be 1 to {MAX_RULE_DAYS}, not {days}"),
        })
    }
}

fn check_limit(rule: &str, limit: HandlingLimit) -> Result<(), DeadlineError> {
    match limit {
        HandlingLimit::Days(d) => check_days(rule, d),
        HandlingLimit::NoDeadline => Ok(()),
    }
}

fn check_kind_rule(kind: DeadlineKind, rule: &KindRule) -> Result<(), DeadlineError> {
    if kind == DeadlineKind::D11 {
        return Err(no_settings(kind));
    }
    check_days(&format!("kinds.{}.days", kind.code()), rule.days)?;
    if kind == DeadlineKind::D6 && rule.days > MAX_EXTENSION_DAYS {
        return Err(DeadlineError::InvalidRule {
            rule: format!("kinds.{}.days", kind.code()),
            reason: format!("an extension may not exceed {MAX_EXTENSION_DAYS} days (Art 34)"),
        });
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKindRule {
    days: Option<u32>,
    working_days: Option<bool>,
    roll_over: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadlineRules {
    /// Keyed by the written code: configuration files keep `D7`, environment variables arrive
    /// lowercased (`d7`). Sorted, `D7` comes before `d7`, so an environment override is applied
    /// last, field by field, over the file's value.
    #[serde(default)]
    kinds: BTreeMap<String, RawKindRule>,
    #[serde(default)]
    handling_by_type: BTreeMap<PetitionType, HandlingLimit>,
    #[serde(default)]
    handling_by_branch: BTreeMap<Art31Branch, HandlingLimit>,
    evaluation_window_days: Option<u32>,
    evaluation_roll_over: Option<bool>,
    remand_handling_days: Option<u32>,
}

impl TryFrom<RawDeadlineRules> for DeadlineRules {
    type Error = DeadlineError;

    fn try_from(raw: RawDeadlineRules) -> Result<Self, Self::Error> {
        let mut rules = DeadlineRules::default();
        for (code, patch) in raw.kinds {
            let kind: DeadlineKind = code.parse()?;
            let base = rules.rule(kind).ok_or_else(|| no_settings(kind))?;
            let rule = KindRule {
                days: patch.days.unwrap_or(base.days),
                working_days: patch.working_days.unwrap_or(base.working_days),
                roll_over: patch.roll_over.unwrap_or(base.roll_over),
            };
            rules = rules.with_rule(kind, rule)?;
        }
        for (t, limit) in raw.handling_by_type {
            rules = rules.with_handling_for_type(t, limit)?;
        }
        for (b, limit) in raw.handling_by_branch {
            rules = rules.with_handling_for_branch(b, limit)?;
        }
        if let Some(days) = raw.evaluation_window_days {
            rules = rules.with_evaluation_window_days(days)?;
        }
        if let Some(roll_over) = raw.evaluation_roll_over {
            rules = rules.with_evaluation_roll_over(roll_over);
        }
        if let Some(days) = raw.remand_handling_days {
            rules = rules.with_remand_handling_days(days)?;
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_decisions() {
        let r = DeadlineRules::default();
        use DeadlineKind::*;
        for (k, days, working) in [
            (D1, 15, false),
            (D2, 15, false),
            (D3, 15, false),
            (D4, 5, true),
            (D5, 60, false),
            (D6, 30, false),
            (D7, 30, false),
            (D8, 30, false),
            (D9, 30, false),
            (D10, 30, false),
        ] {
            // Decisions 1 (corrected): every day-counted deadline rolls over off a rest day.
            assert_eq!(
                r.rule(k),
                Some(KindRule {
                    days,
                    working_days: working,
                    roll_over: true
                }),
                "{k}"
            );
        }
        assert_eq!(r.rule(D11), None);
        assert_eq!(r.evaluation_window_days(), 30);
        assert!(r.evaluation_roll_over());
        assert_eq!(r.remand_handling_days(), 30);
        assert_eq!(r.max_extension_days(), 30);
        // Decisions 2: 60 days for every accepted matter, whatever its type or branch.
        for t in PetitionType::ALL {
            assert_eq!(r.handling_days(Some(*t), None), Some(60));
            for b in Art31Branch::ALL {
                assert_eq!(r.handling_days(Some(*t), Some(*b)), Some(60));
            }
        }
        assert_eq!(r.handling_days(None, None), Some(60));
    }

    #[test]
    fn partial_toml_keeps_the_other_defaults() {
        let raw = r#"
            evaluation_window_days = 15
            evaluation_roll_over = false
            [kinds.d1]
            roll_over = false
            [kinds.D5]
            days = 45
            [handling_by_type]
            suggestion = "none"
            accusation = 90
            [handling_by_branch]
            "31_1" = "none"
        "#;
        let r: DeadlineRules = toml::from_str(raw).unwrap();
        assert_eq!(
            r.rule(DeadlineKind::D1),
            Some(KindRule {
                days: 15,
                working_days: false,
                roll_over: false
            })
        );
        // Kinds not named keep the default switch (on).
        assert_eq!(r.rule(DeadlineKind::D7).map(|k| k.roll_over), Some(true));
        assert_eq!(r.rule(DeadlineKind::D4).map(|k| k.working_days), Some(true));
        assert_eq!(r.evaluation_window_days(), 15);
        assert!(!r.evaluation_roll_over());
        assert_eq!(r.handling_days(Some(PetitionType::Suggestion), None), None);
        assert_eq!(
            r.handling_days(Some(PetitionType::Accusation), None),
            Some(90)
        );
        assert_eq!(
            r.handling_days(Some(PetitionType::Grievance), None),
            Some(45)
        );
        // The branch override beats the type default.
        assert_eq!(
            r.handling_days(
                Some(PetitionType::Grievance),
                Some(Art31Branch::LegalProcedure)
            ),
            None
        );
        assert_eq!(
            r.handling_days(Some(PetitionType::Grievance), Some(Art31Branch::Residual)),
            Some(45)
        );
    }

    #[test]
    fn the_remand_period_is_configurable_and_checked() {
        let r: DeadlineRules = toml::from_str("remand_handling_days = 20").unwrap();
        assert_eq!(r.remand_handling_days(), 20);
        assert_eq!(r.handling_days(None, None), Some(60));
        let e = toml::from_str::<DeadlineRules>("remand_handling_days = 0").unwrap_err();
        assert!(e.to_string().contains("remand_handling_days"), "{e}");
    }

    #[test]
    fn empty_config_is_the_default_and_serialisation_round_trips() {
        let r: DeadlineRules = toml::from_str("").unwrap();
        assert_eq!(r, DeadlineRules::default());
        let custom = DeadlineRules::default()
            .with_roll_over(DeadlineKind::D7, false)
            .unwrap()
            .with_evaluation_roll_over(false)
            .with_handling_for_branch(Art31Branch::Arbitration, HandlingLimit::NoDeadline)
            .unwrap();
        let json = serde_json::to_string(&custom).unwrap();
        let back: DeadlineRules = serde_json::from_str(&json).unwrap();
        assert_eq!(back, custom);
        let toml_text = toml::to_string(&custom).unwrap();
        assert_eq!(toml::from_str::<DeadlineRules>(&toml_text).unwrap(), custom);
    }

    #[test]
    fn rejects_invalid_settings() {
        for raw in [
            "[kinds.D11]\ndays = 1\n",
            "[kinds.D6]\ndays = 31\n",
            "[kinds.D1]\ndays = 0\n",
            "[kinds.D2]\ndays = 400\n",
            "[kinds.D12]\ndays = 3\n",
            "[kinds.D1]\nday = 3\n",
            "evaluation_window_days = 0\n",
            "[handling_by_type]\nsuggestion = 0\n",
            "[handling_by_type]\nsuggestion = \"never\"\n",
            "[handling_by_branch]\n\"31_7\" = 60\n",
            "unknown = 1\n",
        ] {
            assert!(
                toml::from_str::<DeadlineRules>(raw).is_err(),
                "{raw:?} accepted"
            );
        }
        let err = DeadlineRules::default()
            .with_rule(
                DeadlineKind::D6,
                KindRule {
                    days: 45,
                    working_days: false,
                    roll_over: false,
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("Art 34"), "{err}");
        assert!(
            DeadlineRules::default()
                .with_roll_over(DeadlineKind::D11, true)
                .unwrap_err()
                .to_string()
                .contains("Art 36 para 3")
        );
    }

    #[test]
    fn a_lowercased_environment_override_is_applied_over_the_file_field_by_field() {
        // A file writes `[kinds.D7] days = 20`; the environment (lowercased by the config
        // loader) switches roll-over off for the same kind. Both apply, whatever the map order.
        let raw = "[kinds.d7]\nroll_over = false\n[kinds.D7]\ndays = 20\nroll_over = true\n";
        let r: DeadlineRules = toml::from_str(raw).unwrap();
        assert_eq!(
            r.rule(DeadlineKind::D7),
            Some(KindRule {
                days: 20,
                working_days: false,
                roll_over: false
            })
        );
    }

    #[test]
    fn errors_name_the_key_under_the_section() {
        let err = toml::from_str::<DeadlineRules>("[kinds.D6]\ndays = 45\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kinds.D6.days") && err.contains("Art 34"),
            "{err}"
        );
        let err = toml::from_str::<DeadlineRules>("[kinds.D2]\ndays = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kinds.D2.days"), "{err}");
        let err = toml::from_str::<DeadlineRules>("[kinds.D12]\nroll_over = false\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("D12"), "{err}");
    }

    #[test]
    fn a_lower_d6_limit_lowers_the_maximum_extension() {
        let r: DeadlineRules = toml::from_str("[kinds.D6]\ndays = 20\n").unwrap();
        assert_eq!(r.max_extension_days(), 20);
    }

    #[test]
    fn handling_limit_accepts_numeric_strings_from_env_overrides() {
        let v: HandlingLimit = serde_json::from_str("\"45\"").unwrap();
        assert_eq!(v, HandlingLimit::Days(45));
        assert_eq!(
            serde_json::from_str::<HandlingLimit>("\"NONE\"").unwrap(),
            HandlingLimit::NoDeadline
        );
        assert!(serde_json::from_str::<HandlingLimit>("-3").is_err());
        assert_eq!(
            serde_json::to_string(&HandlingLimit::NoDeadline).unwrap(),
            "\"none\""
        );
    }
}
