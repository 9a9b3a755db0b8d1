//! Which deadlines each lifecycle fact starts, closes, moves or pauses (domain.md §2 and §10).
//! Pure: the supervision service applies the steps to its deadline records and computes the
//! due times with [`crate::deadline`].
//!
//! | fact | steps |
//! |---|---|
//! | `case.registered` | start D1 (15 days from receipt, the bureau's duty); when another organ received it directly (`received_by`), start D2 for that organ instead (Art 23 para 2); nothing for a petition merged into an open matter (that case's clocks apply) |
//! | `case.assigned` | close D1; start D3 (acceptance notice) — not for 纪委监委 handling an accusation (`notice_exempt`, Art 23 para 4) — and D4 (objection window) for the lead unit |
//! | `case.diverted`, `case.not_accepted`, `case.not_reaccepted` | close D1, D2, D3, D4; a diversion by the handling unit after acceptance (`after_acceptance`) also closes D5/D6 and the 督办 response deadlines |
//! | `case.transferred` (approved by the bureau, Art 23 para 3) | start D3 (unless `notice_exempt`) and D4 for the receiving unit, replacing the first unit's |
//! | `case.returned_for_redo` | D5 runs again from the acceptance date (with the extension, if used); close D7 and the evaluation window of the reply that failed the check |
//! | `case.accepted` | close D1, D2, D3, D4; start D5 (handling, from the acceptance date) |
//! | `case.objected` | close D3, D4 |
//! | `case.rerouted` | close D3, D4, D5/D6 and 督办 responses (the units lost the case) |
//! | `case.extended` | extend D5 into D6 |
//! | `case.reclassified` | recompute the handling deadline for the new type and branch |
//! | `case.replied`, `case.mediated` | close D5/D6 and the 督办 response deadlines; a handling opinion starts D7; a reply starts the evaluation window |
//! | `case.evaluated` | close the evaluation window |
//! | `case.final_without_appeal` | close D7, D9 |
//! | `case.remanded` (a 复查/复核 decision revoked or changed the opinion) | close D7, D9 (the revoked opinion's windows); start the new handling period for the department (a D5 clock of `remand_handling_days`, from the remand) |
//! | `case.terminated` | close everything |
//! | `review.requested` | 复查: close D7, start D8 · 复核: close D9, start D10 |
//! | `review.decided` | 复查: close D8, start D9 from service — not when it revoked or changed the opinion (no 复核 lies against it) · 复核: close D10 |
//! | `review.hearing_started` / `hearing_finished` | pause / resume D10 (Art 36 para 2) |

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::appeal::{AfterDecision, ReviewOutcome, after_decision};
use crate::county::CountyCode;
use crate::deadline::{CST, DeadlineKind};
use crate::directory::{Directory, OrganRef};
use crate::events::{
    self, Accepted, Assigned, Extended, Registered, Remanded, Replied, ReturnedForRedo,
    ReviewEvent, ReviewLevel, Transferred, kind,
};
use crate::petition::PetitionType;

/// Something supervision keeps a clock on: a statutory deadline, the satisfaction-evaluation
/// window (Decisions 5), the response deadline of a 督办 (Art 40) or a task a case conference
/// (会审) gave a department (`ref` = the decision's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tracked {
    Statutory(DeadlineKind),
    Evaluation,
    SupervisionResponse,
    /// A task decided at a case conference (会审) for a department, with its due time: a duty,
    /// warned, escalated as a 督办 when missed, closed when the department reports it done.
    ConferenceTask,
}

/// What happens when a tracked deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An organ must act by then (D1, D3, D5/D6, D8, D10, a 督办 response): the department is
    /// warned and told it is overdue.
    Duty,
    /// A right lapses (the objection window D4, the appeal windows D7/D9, the evaluation window):
    /// the passing is reported, nobody is at fault.
    Window,
}

impl Tracked {
    pub const EVALUATION: &'static str = "eval";
    pub const SUPERVISION: &'static str = "supervision";
    pub const TASK: &'static str = "task";

    /// Stable code: `D1`..`D11`, `eval`, `supervision`, `task`.
    pub fn code(self) -> &'static str {
        match self {
            Tracked::Statutory(k) => k.code(),
            Tracked::Evaluation => Self::EVALUATION,
            Tracked::SupervisionResponse => Self::SUPERVISION,
            Tracked::ConferenceTask => Self::TASK,
        }
    }

    pub fn role(self) -> Role {
        use DeadlineKind::*;
        match self {
            Tracked::Statutory(D4 | D7 | D9) | Tracked::Evaluation => Role::Window,
            _ => Role::Duty,
        }
    }

    /// Whether passing it is escalated to the bureau as a 督办 record. A 督办's own response
    /// deadline is not escalated again (that would chain 督办 without end).
    pub fn escalates(self) -> bool {
        self.role() == Role::Duty && self != Tracked::SupervisionResponse
    }

    /// Whether the responsible department gets its own copy (`xf.<county>.dept.<dept>.<event>`)
    /// of warnings (`warning`) and of the passing (`overdue`). The petitioner's windows concern
    /// no department; the objection window D4 is the unit's own right, so it gets the warning.
    pub fn tells_department(self, overdue: bool) -> bool {
        match self.role() {
            Role::Duty => true,
            Role::Window => !overdue && self == Tracked::Statutory(DeadlineKind::D4),
        }
    }
}

impl fmt::Display for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Tracked {
    type Err = crate::deadline::DeadlineError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            Self::EVALUATION => Ok(Tracked::Evaluation),
            Self::SUPERVISION => Ok(Tracked::SupervisionResponse),
            Self::TASK => Ok(Tracked::ConferenceTask),
            other => other.parse().map(Tracked::Statutory),
        }
    }
}

impl Serialize for Tracked {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Tracked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// The organ as the clocks record it: the department code for the case's own county, or
/// `<county>:<dept>` when the organ is another county's (a city department on a county's
/// matter), so its warnings go to that organ's subject.
pub fn organ_code(department: &str, organ_county: Option<&str>) -> String {
    match organ_county {
        Some(c) if !department.contains(':') => format!("{c}:{department}"),
        _ => department.to_owned(),
    }
}

/// Who the deadline binds, when a fact says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Responsible {
    /// The 信访部门 itself (D1).
    Bureau,
    /// A department or organ code (directory slug, or a review organ such as `411200:gov`).
    Department(String),
    /// Nobody in particular (the petitioner's windows); `department` is kept for reporting.
    Petitioner { department: Option<String> },
}

/// What to start: the clock's kind, its trigger and the extra facts the calculator needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub tracked: Tracked,
    pub trigger: DateTime<FixedOffset>,
    pub responsible: Responsible,
}

/// The `ref` of the handling clock a remand starts ([`Step::StartRemand`]), which tells it apart
/// from the first handling period's D5 (counted from acceptance, extendable).
pub const REMAND_REF: &str = "remand";

/// One change to the deadlines of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Start a clock; an open clock of the same kind on the case is replaced (re-assignment).
    Start(Start),
    /// Close open clocks of these kinds: done in time, or made moot.
    Close {
        tracked: Vec<Tracked>,
        reason: &'static str,
    },
    /// Close every open clock of the case.
    CloseAll {
        reason: &'static str,
    },
    /// Start the new handling period of a matter sent back by a 复查/复核 decision: a D5 clock
    /// of `remand_handling_days` from the trigger (the regulation sets none), replacing any
    /// open handling clock.
    StartRemand(Start),
    /// The one extension of the handling deadline (D5 → D6, Art 34).
    Extend {
        days: u32,
    },
    /// Hearing time is not counted for D10 (Art 36 para 2).
    Pause {
        at: DateTime<FixedOffset>,
    },
    Resume {
        at: DateTime<FixedOffset>,
    },
    /// A clerk's reclassification changes which handling deadline applies (Decisions 2: per type
    /// and branch): once the case is accepted, the running D5/D6 is recomputed from the
    /// acceptance date, started if none ran, or stopped if none applies now.
    RecomputeHandling,
    /// Facts that change no deadline but are of interest to the projection (evaluations).
    Nothing,
}

/// The part of a review fact's steps that the copy on `subject_county` carries. Review publishes a
/// fact at the reviewing organ's county and, when the case belongs to another county, copies it
/// there (review's `emit.rs`): the organ's county keeps the clock on the organ's decision (D8,
/// D10), the case's county the petitioner's windows (D7, D9). So split deployments do not both
/// track, warn and escalate the same deadline, and one serving both applies each step once.
pub fn review_steps_for(
    subject_county: &CountyCode,
    data: &ReviewEvent,
    steps: Vec<Step>,
) -> Vec<Step> {
    let organ_county = OrganRef::parse(&data.organ)
        .map(|o| o.county)
        .unwrap_or_else(|_| data.case_county.clone());
    if organ_county == data.case_county {
        return steps;
    }
    let organ_copy = *subject_county == organ_county;
    if !organ_copy && *subject_county != data.case_county {
        return steps;
    }
    let mine = |t: &Tracked| {
        let decision = matches!(t, Tracked::Statutory(DeadlineKind::D8 | DeadlineKind::D10));
        decision == organ_copy
    };
    steps
        .into_iter()
        .filter_map(|step| match step {
            Step::Start(s) => mine(&s.tracked).then_some(Step::Start(s)),
            Step::Close { tracked, reason } => {
                let tracked: Vec<Tracked> = tracked.into_iter().filter(|t| mine(t)).collect();
                (!tracked.is_empty()).then_some(Step::Close { tracked, reason })
            }
            // Hearings pause the organ's D10.
            Step::Pause { .. } | Step::Resume { .. } => organ_copy.then_some(step),
            other => Some(other),
        })
        .collect()
}

/// Art 23 para 4: when 纪检监察机关 handle an accusation (检举控告事项), the notice to the
/// petitioner follows their own rules, so the acceptance notice D3 of Art 23 para 3 is not
/// started for them. Routing sets `case.assigned`'s `notice_exempt` with this; the lead is the
/// directory's discipline department (`roles.discipline`).
pub fn acceptance_notice_exempt(
    dir: &Directory,
    lead_department: &str,
    petition_type: PetitionType,
    accuses_official: bool,
) -> bool {
    lead_department == dir.roles.discipline
        && (petition_type == PetitionType::Accusation || accuses_official)
}

/// Which subject family a fact arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Case,
    Review,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("payload of {event} does not match the event contract: {source}")]
    Payload {
        event: String,
        source: serde_json::Error,
    },
}

fn payload<T: serde::de::DeserializeOwned>(
    event: &str,
    data: &serde_json::Value,
) -> Result<T, PlanError> {
    serde_json::from_value(data.clone()).map_err(|source| PlanError::Payload {
        event: event.to_owned(),
        source,
    })
}

/// Midnight China time on `date`: a trigger whose day is `date` (counting starts the next day).
pub fn start_of_day(date: NaiveDate) -> DateTime<FixedOffset> {
    CST.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .single()
        .unwrap_or_else(|| {
            Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
                .fixed_offset()
        })
}

fn cst(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&CST)
}

const D: fn(DeadlineKind) -> Tracked = Tracked::Statutory;

/// The steps for one fact. Unknown event types (facts supervision does not track) give no steps.
pub fn plan(family: Family, event: &str, data: &serde_json::Value) -> Result<Vec<Step>, PlanError> {
    use DeadlineKind::*;
    let close = |tracked: Vec<Tracked>, reason| Step::Close { tracked, reason };
    Ok(match (family, event) {
        (Family::Case, kind::REGISTERED) => {
            let r: Registered = payload(event, data)?;
            // Merged into an open matter of the same petitioner: that case carries it and its
            // clocks apply; a disposition clock of its own would only run out unanswered.
            if r.repeat
                .as_ref()
                .is_some_and(|l| l.disposition == events::RepeatDisposition::Merged && !l.proposed)
            {
                return Ok(Vec::new());
            }
            // Art 22 para 1 binds the 信访部门 (D1); an organ that received the petition
            // directly owes the petitioner the written notice of Art 23 para 2 (D2) instead.
            let (tracked, responsible) = match r.received_by {
                Some(organ) => (D(D2), Responsible::Department(organ)),
                None => (D(D1), Responsible::Bureau),
            };
            vec![Step::Start(Start {
                tracked,
                trigger: cst(r.received_at),
                responsible,
            })]
        }
        (Family::Case, kind::ASSIGNED) => {
            let a: Assigned = payload(event, data)?;
            let lead =
                Responsible::Department(organ_code(&a.department, a.organ_county.as_deref()));
            let mut steps = vec![close(vec![D(D1)], "assigned")];
            if !a.notice_exempt {
                steps.push(Step::Start(Start {
                    tracked: D(D3),
                    trigger: cst(a.assigned_at),
                    responsible: lead.clone(),
                }));
            }
            steps.push(Step::Start(Start {
                tracked: D(D4),
                trigger: cst(a.assigned_at),
                responsible: lead,
            }));
            steps
        }
        (Family::Case, kind::DIVERTED)
            if data
                .get("after_acceptance")
                .and_then(serde_json::Value::as_bool)
                == Some(true) =>
        {
            // The handling unit found the matter belongs in a legal channel (Art 31(2)–(4)):
            // its handling ends here.
            vec![close(
                vec![D(D5), D(D6), Tracked::SupervisionResponse],
                "diverted",
            )]
        }
        (Family::Case, kind::DIVERTED | kind::NOT_ACCEPTED | kind::NOT_REACCEPTED) => {
            vec![close(vec![D(D1), D(D2), D(D3), D(D4)], "disposed")]
        }
        (Family::Case, kind::TRANSFERRED) => {
            // Approved by the bureau: the receiving unit's acceptance clocks start now and
            // replace the first unit's (a start replaces the open clock of its kind).
            let t: Transferred = payload(event, data)?;
            let unit = Responsible::Department(t.to.clone());
            let mut steps = Vec::new();
            if t.notice_exempt {
                steps.push(close(vec![D(D3)], "transferred"));
            } else {
                steps.push(Step::Start(Start {
                    tracked: D(D3),
                    trigger: cst(t.at),
                    responsible: unit.clone(),
                }));
            }
            steps.push(Step::Start(Start {
                tracked: D(D4),
                trigger: cst(t.at),
                responsible: unit,
            }));
            steps
        }
        (Family::Case, kind::RETURNED_FOR_REDO) => {
            // 退回重办: the handling deadline does not restart; it runs again from acceptance.
            let r: ReturnedForRedo = payload(event, data)?;
            let mut steps = vec![close(vec![D(D7), Tracked::Evaluation], "returned_for_redo")];
            if let Some(on) = r.accepted_on {
                steps.push(Step::Start(Start {
                    tracked: D(D5),
                    trigger: start_of_day(on),
                    responsible: Responsible::Department(r.department),
                }));
                if let Some(days) = r.extension_days {
                    steps.push(Step::Extend { days });
                }
            }
            steps
        }
        (Family::Case, kind::ACCEPTED) => {
            let a: Accepted = payload(event, data)?;
            vec![
                close(vec![D(D1), D(D2), D(D3), D(D4)], "accepted"),
                Step::Start(Start {
                    tracked: D(D5),
                    trigger: start_of_day(a.accepted_on),
                    responsible: Responsible::Department(organ_code(
                        &a.department,
                        a.organ_county.as_deref(),
                    )),
                }),
            ]
        }
        (Family::Case, kind::OBJECTED) => vec![close(vec![D(D3), D(D4)], "objected")],
        // The units that had the case lose it; the new lead's assignment starts its own.
        (Family::Case, kind::REROUTED) => vec![close(
            vec![D(D3), D(D4), D(D5), D(D6), Tracked::SupervisionResponse],
            "withdrawn",
        )],
        (Family::Case, kind::RECLASSIFIED) => {
            let _: events::Reclassified = payload(event, data)?;
            vec![Step::RecomputeHandling]
        }
        (Family::Case, kind::EXTENDED) => {
            let e: Extended = payload(event, data)?;
            vec![Step::Extend { days: e.days }]
        }
        (Family::Case, kind::REPLIED) => {
            let r: Replied = payload(event, data)?;
            let served = start_of_day(r.served_on);
            let mut steps = vec![close(
                vec![D(D5), D(D6), Tracked::SupervisionResponse],
                "replied",
            )];
            if r.is_handling_opinion {
                steps.push(Step::Start(Start {
                    tracked: D(D7),
                    trigger: served,
                    responsible: Responsible::Petitioner {
                        department: Some(r.department.clone()),
                    },
                }));
            }
            steps.push(Step::Start(Start {
                tracked: Tracked::Evaluation,
                trigger: served,
                responsible: Responsible::Petitioner {
                    department: Some(r.department),
                },
            }));
            steps
        }
        (Family::Case, kind::MEDIATED) => vec![close(
            vec![D(D5), D(D6), Tracked::SupervisionResponse],
            "mediated",
        )],
        (Family::Case, kind::EVALUATED) => {
            let _: events::Evaluated = payload(event, data)?;
            vec![close(vec![Tracked::Evaluation], "evaluated")]
        }
        (Family::Case, kind::FINAL_WITHOUT_APPEAL) => {
            vec![close(vec![D(D7), D(D9)], "final_without_appeal")]
        }
        (Family::Case, kind::TERMINATED) => vec![Step::CloseAll {
            reason: "terminated",
        }],
        (Family::Case, kind::REMANDED) => {
            let r: Remanded = payload(event, data)?;
            vec![
                close(vec![D(D7), D(D9)], "remanded"),
                Step::StartRemand(Start {
                    tracked: D(D5),
                    trigger: cst(r.at),
                    responsible: Responsible::Department(r.department),
                }),
            ]
        }
        (Family::Review, kind::REVIEW_REQUESTED) => {
            let r: ReviewEvent = payload(event, data)?;
            let (window, decision) = match r.level {
                ReviewLevel::Review => (D7, D8),
                ReviewLevel::Rereview => (D9, D10),
            };
            vec![
                close(vec![D(window)], "requested"),
                Step::Start(Start {
                    tracked: D(decision),
                    trigger: cst(r.at),
                    responsible: Responsible::Department(r.organ),
                }),
            ]
        }
        (Family::Review, kind::REVIEW_DECIDED) => {
            let r: ReviewEvent = payload(event, data)?;
            let outcome = r
                .decision
                .as_deref()
                .and_then(|d| ReviewOutcome::parse(d).ok());
            match r.level {
                // Revoked or changed: no 复核 lies against it (`case.remanded` follows).
                ReviewLevel::Review
                    if after_decision(r.level, outcome) == AfterDecision::SendsBack =>
                {
                    vec![close(vec![D(D8)], "decided")]
                }
                ReviewLevel::Review => vec![
                    close(vec![D(D8)], "decided"),
                    Step::Start(Start {
                        tracked: D(D9),
                        trigger: r.served_on.map(start_of_day).unwrap_or_else(|| cst(r.at)),
                        responsible: Responsible::Petitioner {
                            department: Some(r.organ),
                        },
                    }),
                ],
                ReviewLevel::Rereview => vec![close(vec![D(D10)], "decided")],
            }
        }
        (Family::Review, kind::HEARING_STARTED | kind::HEARING_FINISHED) => {
            let r: ReviewEvent = payload(event, data)?;
            // Only 复核 hearings are left out of a deadline (Art 36 para 2).
            match (r.level, event) {
                (ReviewLevel::Rereview, kind::HEARING_STARTED) => {
                    vec![Step::Pause { at: cst(r.at) }]
                }
                (ReviewLevel::Rereview, _) => vec![Step::Resume { at: cst(r.at) }],
                _ => vec![Step::Nothing],
            }
        }
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn starts(steps: &[Step]) -> Vec<(Tracked, DateTime<FixedOffset>, Responsible)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Start(st) => Some((st.tracked, st.trigger, st.responsible.clone())),
                _ => None,
            })
            .collect()
    }

    fn closes(steps: &[Step]) -> Vec<Tracked> {
        steps
            .iter()
            .flat_map(|s| match s {
                Step::Close { tracked, .. } => tracked.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn codes_round_trip_and_roles_follow_the_table() {
        for t in DeadlineKind::ALL
            .into_iter()
            .map(Tracked::Statutory)
            .chain([
                Tracked::Evaluation,
                Tracked::SupervisionResponse,
                Tracked::ConferenceTask,
            ])
        {
            assert_eq!(t.code().parse::<Tracked>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.code()));
        }
        assert!("D12".parse::<Tracked>().is_err());
        use DeadlineKind::*;
        for k in [D1, D3, D5, D6, D8, D10] {
            assert_eq!(D(k).role(), Role::Duty, "{k}");
            assert!(D(k).escalates());
            assert!(D(k).tells_department(true));
        }
        for t in [D(D4), D(D7), D(D9), Tracked::Evaluation] {
            assert_eq!(t.role(), Role::Window, "{t}");
            assert!(!t.escalates());
            assert!(!t.tells_department(true));
        }
        assert!(D(D4).tells_department(false));
        assert!(!D(D7).tells_department(false));
        assert!(!Tracked::SupervisionResponse.escalates());
        assert!(Tracked::SupervisionResponse.tells_department(true));
        // A conference's task: the department's duty, warned, told and escalated.
        assert_eq!("task".parse::<Tracked>().unwrap(), Tracked::ConferenceTask);
        assert_eq!(Tracked::ConferenceTask.role(), Role::Duty);
        assert!(Tracked::ConferenceTask.escalates());
        assert!(Tracked::ConferenceTask.tells_department(false));
        assert!(Tracked::ConferenceTask.tells_department(true));
    }

    #[test]
    fn registration_starts_d1_from_receipt_for_the_bureau() {
        let data = json!({
            "case_no": "XF-411282-2026-000001", "query_code": "q", "channel": "letter",
            "received_at": "2026-03-01T17:00:00Z", "registered_at": "2026-03-02T02:00:00Z",
            "county": "411282", "petition_type": "grievance", "branch": "31_6", "diversion": null,
            "department": "rsj", "accuses_official": false, "confidential": false, "urgent": false,
            "needs_triage": false, "confidence": 0.9, "group_size": 1, "repeat": null,
            "petitioner_key": "k", "contact": null, "text": "t"
        });
        let steps = plan(Family::Case, "registered", &data).unwrap();
        assert_eq!(
            starts(&steps),
            vec![(
                D(DeadlineKind::D1),
                ts("2026-03-02T01:00:00+08:00"),
                Responsible::Bureau
            )]
        );
    }

    #[test]
    fn a_petition_merged_into_an_open_matter_starts_no_clock_of_its_own() {
        let mut data = json!({
            "case_no": "XF-411282-2026-000003", "query_code": "q", "channel": "letter",
            "received_at": "2026-03-01T17:00:00Z", "registered_at": "2026-03-02T02:00:00Z",
            "county": "411282", "petition_type": "grievance", "branch": "31_6", "diversion": null,
            "department": "rsj", "accuses_official": false, "confidential": false, "urgent": false,
            "needs_triage": false, "confidence": 0.9, "group_size": 1,
            "repeat": {"of": "XF-411282-2026-000001", "disposition": "merged",
                       "similarity": 0.5, "count": 2},
            "petitioner_key": "k", "contact": null, "text": "t"
        });
        assert!(plan(Family::Case, "registered", &data).unwrap().is_empty());
        // A proposed refusal is the bureau's D1 work until a clerk decides it.
        data["repeat"]["disposition"] = json!("not_accepted");
        data["repeat"]["proposed"] = json!(true);
        let steps = plan(Family::Case, "registered", &data).unwrap();
        assert_eq!(starts(&steps)[0].0, D(DeadlineKind::D1));
    }

    #[test]
    fn a_petition_handed_directly_to_another_organ_starts_d2_for_it() {
        let mut data = json!({
            "case_no": "XF-411282-2026-000002", "query_code": "q", "channel": "visit",
            "received_at": "2026-09-16T01:00:00Z", "registered_at": "2026-09-16T02:00:00Z",
            "county": "411282", "petition_type": "grievance", "branch": "31_6", "diversion": null,
            "department": "rsj", "accuses_official": false, "confidential": false, "urgent": false,
            "needs_triage": false, "confidence": 0.9, "group_size": 1, "repeat": null,
            "petitioner_key": "k", "contact": null, "text": "t", "received_by": "rsj"
        });
        let steps = plan(Family::Case, "registered", &data).unwrap();
        assert_eq!(
            starts(&steps),
            vec![(
                D(DeadlineKind::D2),
                ts("2026-09-16T09:00:00+08:00"),
                Responsible::Department("rsj".into())
            )]
        );
        // Without the field (the bureau received it, or an older event): D1 as before.
        data.as_object_mut().unwrap().remove("received_by");
        let steps = plan(Family::Case, "registered", &data).unwrap();
        assert_eq!(starts(&steps)[0].0, D(DeadlineKind::D1));
        // D2 ends with the notice: acceptance, diversion or refusal closes it.
        let accepted = json!({"case_no": "c", "department": "rsj", "accepted_on": "2026-09-20",
                              "at": "2026-09-20T01:00:00Z"});
        assert!(
            closes(&plan(Family::Case, "accepted", &accepted).unwrap())
                .contains(&D(DeadlineKind::D2))
        );
        let refused = json!({"case_no": "c", "rule": "r", "reason": "r", "where_to_go": null,
                             "at": "2026-09-20T01:00:00Z"});
        assert!(
            closes(&plan(Family::Case, "not_accepted", &refused).unwrap())
                .contains(&D(DeadlineKind::D2))
        );
    }

    #[test]
    fn discipline_handling_an_accusation_owes_no_acceptance_notice() {
        let data = json!({
            "case_no": "c", "department": "jwjw", "mode": "forward", "report_required": false,
            "assisting": [], "petition_type": "accusation", "branch": null,
            "assigned_at": "2026-03-05T01:00:00Z", "notice_exempt": true
        });
        let steps = plan(Family::Case, "assigned", &data).unwrap();
        let kinds: Vec<Tracked> = starts(&steps).into_iter().map(|s| s.0).collect();
        // The objection window D4 stays (Art 23 para 3); D3 does not start (Art 23 para 4).
        assert_eq!(kinds, vec![D(DeadlineKind::D4)]);
        let dir = Directory::from_toml_str(include_str!("../../../config/directory.toml")).unwrap();
        assert!(acceptance_notice_exempt(
            &dir,
            "jwjw",
            PetitionType::Accusation,
            false
        ));
        assert!(acceptance_notice_exempt(
            &dir,
            "jwjw",
            PetitionType::Grievance,
            true
        ));
        // A grievance a clerk sent to 纪委监委 is not an accusation: D3 applies.
        assert!(!acceptance_notice_exempt(
            &dir,
            "jwjw",
            PetitionType::Grievance,
            false
        ));
        assert!(!acceptance_notice_exempt(
            &dir,
            "rsj",
            PetitionType::Accusation,
            true
        ));
    }

    #[test]
    fn assignment_closes_d1_and_starts_d3_and_d4_for_the_lead() {
        let data = json!({
            "case_no": "c", "department": "zjj", "mode": "assign", "report_required": true,
            "assisting": ["rsj"], "petition_type": "grievance", "branch": null,
            "assigned_at": "2026-03-05T01:00:00Z"
        });
        let steps = plan(Family::Case, "assigned", &data).unwrap();
        assert_eq!(closes(&steps), vec![D(DeadlineKind::D1)]);
        let s = starts(&steps);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, D(DeadlineKind::D3));
        assert_eq!(s[1].0, D(DeadlineKind::D4));
        assert!(
            s.iter()
                .all(|x| x.2 == Responsible::Department("zjj".into()))
        );
    }

    #[test]
    fn acceptance_starts_d5_from_the_acceptance_date() {
        let data = json!({"case_no": "c", "department": "zjj", "accepted_on": "2026-03-06",
                          "at": "2026-03-07T01:00:00Z"});
        let steps = plan(Family::Case, "accepted", &data).unwrap();
        assert_eq!(
            closes(&steps),
            vec![
                D(DeadlineKind::D1),
                D(DeadlineKind::D2),
                D(DeadlineKind::D3),
                D(DeadlineKind::D4)
            ]
        );
        assert_eq!(starts(&steps)[0].1, ts("2026-03-06T00:00:00+08:00"));
    }

    #[test]
    fn a_reclassification_recomputes_the_handling_deadline() {
        let data = json!({"case_no": "c", "petition_type": "grievance", "branch": "31_6",
                          "diversion": null, "department": "zjj", "county": "411282",
                          "accuses_official": false, "by": "clerk-1", "reason": "误分类"});
        let steps = plan(Family::Case, "reclassified", &data).unwrap();
        assert_eq!(steps, vec![Step::RecomputeHandling]);
        assert!(plan(Family::Case, "reclassified", &json!({"case_no": "c"})).is_err());
    }

    #[test]
    fn a_handling_opinion_opens_d7_and_every_reply_opens_the_evaluation() {
        let mk = |opinion: bool| {
            json!({"case_no": "c", "department": "zjj", "outcome": null,
                   "is_handling_opinion": opinion, "text": "t", "served_on": "2026-05-01",
                   "at": "2026-05-01T03:00:00Z"})
        };
        let steps = plan(Family::Case, "replied", &mk(true)).unwrap();
        assert!(closes(&steps).contains(&D(DeadlineKind::D5)));
        assert!(closes(&steps).contains(&D(DeadlineKind::D6)));
        let kinds: Vec<_> = starts(&steps).into_iter().map(|s| s.0).collect();
        assert_eq!(kinds, vec![D(DeadlineKind::D7), Tracked::Evaluation]);
        let steps = plan(Family::Case, "replied", &mk(false)).unwrap();
        let kinds: Vec<_> = starts(&steps).into_iter().map(|s| s.0).collect();
        assert_eq!(kinds, vec![Tracked::Evaluation]);
    }

    #[test]
    fn each_copy_of_a_cross_county_review_fact_carries_its_own_deadlines() {
        let county = CountyCode::parse("411282").unwrap();
        let city = CountyCode::parse("411200").unwrap();
        let data = json!({"case_no": "c", "case_county": "411282", "level": "review",
                          "organ": "411200:gov", "decision": null, "served_on": "2026-06-20",
                          "at": "2026-06-01T02:00:00Z"});
        let ev: ReviewEvent = serde_json::from_value(data.clone()).unwrap();
        let kinds = |steps: &[Step]| {
            let mut k: Vec<Tracked> = closes(steps);
            k.extend(starts(steps).into_iter().map(|s| s.0));
            k
        };
        // Requested at the city: the city tracks D8, the county closes the petitioner's D7.
        let all = plan(Family::Review, "requested", &data).unwrap();
        let at_city = review_steps_for(&city, &ev, all.clone());
        let at_home = review_steps_for(&county, &ev, all.clone());
        assert_eq!(kinds(&at_city), vec![D(DeadlineKind::D8)]);
        assert_eq!(kinds(&at_home), vec![D(DeadlineKind::D7)]);
        // Decided: the city closes D8, the county opens the petitioner's D9.
        let all = plan(Family::Review, "decided", &data).unwrap();
        assert_eq!(
            kinds(&review_steps_for(&city, &ev, all.clone())),
            vec![D(DeadlineKind::D8)]
        );
        assert_eq!(
            kinds(&review_steps_for(&county, &ev, all.clone())),
            vec![D(DeadlineKind::D9)]
        );
        // A review within the case's own county is one event: every step stays.
        let mut local = ev.clone();
        local.organ = "411282:gov".into();
        assert_eq!(review_steps_for(&county, &local, all.clone()), all);
    }

    #[test]
    fn review_facts_drive_d7_to_d10() {
        let mk = |level: &str, served: Option<&str>| {
            json!({"case_no": "c", "case_county": "411282", "level": level, "organ": "411200:gov",
                   "decision": null, "served_on": served, "at": "2026-06-01T02:00:00Z"})
        };
        let s = plan(Family::Review, "requested", &mk("review", None)).unwrap();
        assert_eq!(closes(&s), vec![D(DeadlineKind::D7)]);
        assert_eq!(starts(&s)[0].0, D(DeadlineKind::D8));
        let s = plan(Family::Review, "decided", &mk("review", Some("2026-06-20"))).unwrap();
        assert_eq!(closes(&s), vec![D(DeadlineKind::D8)]);
        assert_eq!(starts(&s)[0].0, D(DeadlineKind::D9));
        assert_eq!(starts(&s)[0].1, ts("2026-06-20T00:00:00+08:00"));
        let s = plan(Family::Review, "requested", &mk("rereview", None)).unwrap();
        assert_eq!(closes(&s), vec![D(DeadlineKind::D9)]);
        assert_eq!(starts(&s)[0].0, D(DeadlineKind::D10));
        let s = plan(Family::Review, "hearing_started", &mk("rereview", None)).unwrap();
        assert!(matches!(s[0], Step::Pause { .. }));
        let s = plan(Family::Review, "hearing_finished", &mk("rereview", None)).unwrap();
        assert!(matches!(s[0], Step::Resume { .. }));
        let s = plan(Family::Review, "hearing_started", &mk("review", None)).unwrap();
        assert_eq!(s, vec![Step::Nothing]);
        let s = plan(Family::Review, "decided", &mk("rereview", None)).unwrap();
        assert_eq!(closes(&s), vec![D(DeadlineKind::D10)]);
        assert!(starts(&s).is_empty());
    }

    /// Issue #20: a revoking or changing 复查 opens no D9; the remand closes the revoked
    /// opinion's windows and starts the department's new handling period.
    #[test]
    fn a_decision_that_sends_back_opens_no_rereview_window_and_restarts_handling() {
        for decision in ["revoke", "change", "撤销"] {
            let data = json!({"case_no": "c", "case_county": "411282", "level": "review",
                              "organ": "411282:gov", "decision": decision,
                              "served_on": "2026-06-20", "at": "2026-06-20T02:00:00Z"});
            let s = plan(Family::Review, "decided", &data).unwrap();
            assert_eq!(closes(&s), vec![D(DeadlineKind::D8)], "{decision}");
            assert!(starts(&s).is_empty(), "{decision}: {s:?}");
        }
        let uphold = json!({"case_no": "c", "case_county": "411282", "level": "review",
                            "organ": "411282:gov", "decision": "uphold",
                            "served_on": "2026-06-20", "at": "2026-06-20T02:00:00Z"});
        let s = plan(Family::Review, "decided", &uphold).unwrap();
        assert_eq!(starts(&s)[0].0, D(DeadlineKind::D9));
        let remanded = json!({"case_no": "c", "level": "review", "organ": "411282:gov",
                              "outcome": "revoke", "decision_served_on": "2026-06-20",
                              "department": "rsj", "round": 2,
                              "at": "2026-06-20T03:00:00Z"});
        let s = plan(Family::Case, "remanded", &remanded).unwrap();
        assert_eq!(closes(&s), vec![D(DeadlineKind::D7), D(DeadlineKind::D9)]);
        assert_eq!(
            s.last(),
            Some(&Step::StartRemand(Start {
                tracked: D(DeadlineKind::D5),
                trigger: ts("2026-06-20T11:00:00+08:00"),
                responsible: Responsible::Department("rsj".into()),
            }))
        );
        assert!(plan(Family::Case, "remanded", &json!({"case_no": "c"})).is_err());
    }

    #[test]
    fn the_same_token_means_different_things_per_family_and_bad_payloads_are_errors() {
        // review.accepted changes nothing; case.accepted needs its payload.
        assert!(
            plan(Family::Review, "accepted", &json!({}))
                .unwrap()
                .is_empty()
        );
        let err = plan(Family::Case, "accepted", &json!({"case_no": 1})).unwrap_err();
        assert!(err.to_string().contains("accepted"));
        assert!(
            plan(Family::Case, "supervised", &json!({}))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            plan(Family::Case, "terminated", &json!({})).unwrap(),
            vec![Step::CloseAll {
                reason: "terminated"
            }]
        );
    }

    /// Issue #13: a diversion after acceptance ends the handling deadline; an approved
    /// transfer starts the receiving unit's clocks; a failed check reopens D5 from acceptance.
    #[test]
    fn diversion_transfer_and_redo_move_the_handling_clocks() {
        use DeadlineKind::*;
        let intake = json!({"case_no": "c", "diversion": "arbitration", "organ": "411282:rsj",
                            "guidance": "g", "at": "2026-05-01T03:00:00Z"});
        assert_eq!(
            closes(&plan(Family::Case, "diverted", &intake).unwrap()),
            vec![D(D1), D(D2), D(D3), D(D4)]
        );
        let mut after = intake.clone();
        after["after_acceptance"] = json!(true);
        after["department"] = json!("zjj");
        after["served_on"] = json!("2026-05-01");
        let c = closes(&plan(Family::Case, "diverted", &after).unwrap());
        assert_eq!(c, vec![D(D5), D(D6), Tracked::SupervisionResponse]);

        let t = json!({"case_no": "c", "from": "sthjj", "to": "slj", "reason": "r",
                       "at": "2026-05-02T02:00:00Z", "approved_by": "411282:xfj"});
        let s = starts(&plan(Family::Case, "transferred", &t).unwrap());
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].0, s[1].0), (D(D3), D(D4)));
        assert_eq!(s[0].1, ts("2026-05-02T10:00:00+08:00"));
        assert!(
            s.iter()
                .all(|x| x.2 == Responsible::Department("slj".into()))
        );
        let mut exempt = t.clone();
        exempt["notice_exempt"] = json!(true);
        let steps = plan(Family::Case, "transferred", &exempt).unwrap();
        assert_eq!(closes(&steps), vec![D(D3)]);
        assert_eq!(starts(&steps).len(), 1);

        let redo = json!({"case_no": "c", "department": "zjj", "by": "411282:xfj",
                          "reason": "事实不清", "accepted_on": "2026-03-06", "extension_days": 20,
                          "at": "2026-05-10T02:00:00Z"});
        let steps = plan(Family::Case, "returned_for_redo", &redo).unwrap();
        assert_eq!(closes(&steps), vec![D(D7), Tracked::Evaluation]);
        let s = starts(&steps);
        assert_eq!(s[0].0, D(D5));
        assert_eq!(s[0].1, ts("2026-03-06T00:00:00+08:00"));
        assert!(steps.contains(&Step::Extend { days: 20 }));
        // Reports and closing by the bureau's check change no clock.
        assert!(
            plan(Family::Case, "submitted_for_check", &json!({}))
                .unwrap()
                .is_empty()
        );
    }
}
