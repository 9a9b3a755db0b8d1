//! The bureau's practices (issue #15 items 3–5): case conferences (会审), the roster of lawyers
//! and psychological counsellors (律师、心理咨询师参与信访工作), leaders' reception days
//! (领导接访日) and leaders owning cases (领导包案). Vocabulary and input rules; the supervision
//! service stores them and publishes their facts ([`crate::practice_events`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::validation::{ValidationError, text};

/// Longest person name, leader title or place.
pub const NAME_MAX: usize = 50;
pub const TITLE_MAX: usize = 50;
pub const ORGANISATION_MAX: usize = 100;
pub const SPECIALITY_MAX: usize = 200;
pub const PLACE_MAX: usize = 200;
/// A conference's minutes (纪要).
pub const MINUTES_MAX: usize = 20_000;
/// One decision of a conference.
pub const DECISION_MAX: usize = 2_000;
/// A department's note on a finished task.
pub const NOTE_MAX: usize = 2_000;
/// An adviser's written advice on a case.
pub const ADVICE_MAX: usize = 10_000;
/// Participants of one conference.
pub const MAX_PARTICIPANTS: usize = 100;
/// Decisions of one conference.
pub const MAX_DECISIONS: usize = 50;
/// Lawyers and counsellors named for one reception day.
pub const MAX_RECEPTION_ADVISERS: usize = 20;
/// Longest leader id.
pub const LEADER_ID_MAX: usize = 32;

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $code:literal, $zh:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vm])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Stable code (the JSON value).
            pub fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The Chinese name.
            pub fn zh(self) -> &'static str {
                match self {
                    $($name::$variant => $zh,)+
                }
            }

            /// Parses a code; an unknown one is an error naming `field` and the known codes.
            pub fn parse(field: &str, raw: &str) -> Result<$name, ValidationError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == raw.trim())
                    .ok_or_else(|| {
                        let known: Vec<&str> = Self::ALL.iter().map(|v| v.code()).collect();
                        ValidationError::new(
                            field,
                            "unknown_value",
                            format!("must be one of: {}", known.join(", ")),
                        )
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

vocabulary! {
    /// What a case conference is for.
    ConferenceKind {
        /// 疑难案件会审: a difficult case, examined together by the departments concerned.
        DifficultCase = "difficult_case", "疑难案件会审";
        /// 重大信访问题会审督办协调: a major petition issue, examined, supervised and coordinated.
        MajorIssue = "major_issue", "重大信访问题会审督办协调";
    }
}

vocabulary! {
    /// How someone takes part in a conference; `id` is read by the role.
    ParticipantRole {
        /// A department, by its directory code.
        Department = "department", "部门";
        /// A leader of the bureau's roster, by leader id.
        Leader = "leader", "领导";
        /// A lawyer of the roster, by adviser id.
        Lawyer = "lawyer", "律师";
        /// A psychological counsellor of the roster, by adviser id.
        Counsellor = "counsellor", "心理咨询师";
    }
}

vocabulary! {
    /// Who is on the roster of advisers.
    AdviserKind {
        Lawyer = "lawyer", "律师";
        Counsellor = "counsellor", "心理咨询师";
    }
}

impl ParticipantRole {
    /// The adviser kind a lawyer or counsellor participant must have.
    pub fn adviser_kind(self) -> Option<AdviserKind> {
        match self {
            ParticipantRole::Lawyer => Some(AdviserKind::Lawyer),
            ParticipantRole::Counsellor => Some(AdviserKind::Counsellor),
            ParticipantRole::Department | ParticipantRole::Leader => None,
        }
    }
}

/// One participant of a conference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Participant {
    pub role: ParticipantRole,
    /// Department code, leader id or adviser id (UUID), by `role`.
    pub id: String,
}

/// Whether a roster (a county's, or the city's) covers a matter of `county`: its own, or its
/// city's for every county below.
pub fn roster_covers(roster: &str, county: &CountyCode) -> bool {
    CountyCode::parse(roster).is_ok_and(|r| crate::access::covers(&r, county))
}

/// A roster member (an adviser, a leader) may serve a matter of `county` while on the roster
/// and on a roster that covers it. `no_longer` and `elsewhere` are the messages, naming the
/// member ("is a leader no longer on the roster"); errors name `field`.
pub fn may_serve(
    active: bool,
    roster: &str,
    county: &CountyCode,
    field: &str,
    no_longer: &str,
    elsewhere: &str,
) -> Result<(), ValidationError> {
    if !active {
        return Err(ValidationError::new(field, "inactive", no_longer));
    }
    if !roster_covers(roster, county) {
        return Err(ValidationError::new(field, "other_county", elsewhere));
    }
    Ok(())
}

/// Checks a leader id: a slug of 1 to 32 lowercase ASCII letters, digits, `_` or `-`,
/// starting with a letter (`zhang_fuxianzhang`).
pub fn leader_id(field: &str, raw: &str) -> Result<(), ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= LEADER_ID_MAX
        && raw.as_bytes()[0].is_ascii_lowercase()
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "leader_id",
            format!(
                "must be a leader id: 1 to {LEADER_ID_MAX} lowercase ASCII letters, digits, '_' or '-', starting with a letter"
            ),
        ))
    }
}

/// Free text on one line (names, titles, places): [`text`] without line breaks or tabs.
pub fn one_line(field: &str, raw: &str, max_chars: usize) -> Result<String, ValidationError> {
    let value = text(field, raw, max_chars)?;
    if value.contains(['\n', '\t']) {
        return Err(ValidationError::new(
            field,
            "single_line",
            "must be a single line without tabs",
        ));
    }
    Ok(value)
}

/// The start of `text` for a timeline line: at most `max` characters, `…` when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_back_and_unknown_values_name_the_field() {
        for k in ConferenceKind::ALL {
            assert_eq!(ConferenceKind::parse("kind", k.code()).unwrap(), *k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.code());
        }
        assert_eq!(ConferenceKind::MajorIssue.zh(), "重大信访问题会审督办协调");
        let e = ConferenceKind::parse("kind", "tea_party").unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("kind", "unknown_value"));
        assert!(e.message.contains("difficult_case"));
        let e = ParticipantRole::parse("participants[2].role", "mayor").unwrap_err();
        assert_eq!(e.field, "participants[2].role");
        assert_eq!(
            ParticipantRole::Counsellor.adviser_kind(),
            Some(AdviserKind::Counsellor)
        );
        assert_eq!(ParticipantRole::Leader.adviser_kind(), None);
        assert_eq!(
            AdviserKind::parse("kind", " lawyer ").unwrap(),
            AdviserKind::Lawyer
        );
        assert!(AdviserKind::parse("kind", "Lawyer").is_err());
    }

    #[test]
    fn leader_ids_are_slugs() {
        for ok in ["zhang", "li_2", "wang-fxz", &"a".repeat(32)] {
            assert!(leader_id("id", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Zhang",
            "2li",
            "zhang san",
            "张三",
            "a.b",
            &"a".repeat(33),
        ] {
            let e = leader_id("id", bad).unwrap_err();
            assert_eq!((e.field.as_str(), e.rule), ("id", "leader_id"), "{bad}");
        }
    }

    #[test]
    fn one_line_texts_and_excerpts() {
        assert_eq!(one_line("place", " 三楼会议室 ", 10).unwrap(), "三楼会议室");
        assert_eq!(
            one_line("place", "a\nb", 10).unwrap_err().rule,
            "single_line"
        );
        assert_eq!(one_line("place", "", 10).unwrap_err().rule, "required");
        assert_eq!(
            one_line("place", "长长长", 2).unwrap_err().rule,
            "max_length"
        );
        assert_eq!(excerpt("一二三\n四五", 10), "一二三 四五");
        assert_eq!(excerpt("一二三四五", 3), "一二三…");
    }
}
