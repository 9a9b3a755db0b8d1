//! Facts of the bureau's practices on a case (issue #15 items 3–5), published by supervision
//! as `xf.<county>.case.<kind>` through its outbox. The case registry turns them into timeline
//! lines: the petitioner sees only that a conference was held; the rest is for staff. Other
//! consumers of `case.*` ignore them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::practices::{AdviserKind, ConferenceKind, Participant};

/// Event type tokens (`type` in the envelope, last token of `xf.<county>.case.<kind>`).
pub mod kind {
    /// A case conference (会审) was scheduled ([`super::ConferenceScheduled`]).
    pub const CONFERENCE_SCHEDULED: &str = "conference_scheduled";
    /// A conference was held: minutes, decisions and the tasks it gave departments
    /// ([`super::ConferenceHeld`]).
    pub const CONFERENCE_HELD: &str = "conference_held";
    /// A department reported a conference task done ([`super::ConferenceTaskDone`]).
    pub const CONFERENCE_TASK_DONE: &str = "conference_task_done";
    /// A lawyer's or counsellor's written advice was recorded ([`super::AdviceRecorded`]).
    pub const ADVICE_RECORDED: &str = "advice_recorded";
    /// The case was received by a leader on a reception day ([`super::LeaderReceived`]).
    pub const LEADER_RECEIVED: &str = "leader_received";
    /// A leader took the case on (包案, [`super::LeaderAssigned`]).
    pub const LEADER_ASSIGNED: &str = "leader_assigned";

    /// Every kind above.
    pub const ALL: [&str; 6] = [
        CONFERENCE_SCHEDULED,
        CONFERENCE_HELD,
        CONFERENCE_TASK_DONE,
        ADVICE_RECORDED,
        LEADER_RECEIVED,
        LEADER_ASSIGNED,
    ];
}

/// `case.conference_scheduled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConferenceScheduled {
    pub case_no: String,
    pub conference: Uuid,
    pub kind: ConferenceKind,
    pub scheduled_at: DateTime<Utc>,
    pub place: String,
    pub participants: Vec<Participant>,
    /// Who scheduled it (`<role>:<token id>`).
    pub by: String,
    pub at: DateTime<Utc>,
}

/// One decision of a conference; with a department and a due time it is a task, tracked as a
/// `task` deadline whose `ref` is the decision's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConferenceDecision {
    pub id: Uuid,
    /// 1-based position in the minutes.
    pub position: u32,
    pub text: String,
    /// The department given the task (a directory code; `<county>:<code>` for another
    /// county's organ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

impl ConferenceDecision {
    pub fn is_task(&self) -> bool {
        self.department.is_some() && self.due_at.is_some()
    }
}

/// `case.conference_held`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConferenceHeld {
    pub case_no: String,
    pub conference: Uuid,
    pub kind: ConferenceKind,
    pub held_at: DateTime<Utc>,
    pub minutes: String,
    pub decisions: Vec<ConferenceDecision>,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// `case.conference_task_done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConferenceTaskDone {
    pub case_no: String,
    pub conference: Uuid,
    pub decision: Uuid,
    pub department: String,
    pub due_at: DateTime<Utc>,
    /// Reported after the due time.
    pub late: bool,
    pub note: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// `case.advice_recorded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdviceRecorded {
    pub case_no: String,
    pub advice: Uuid,
    pub adviser: Uuid,
    pub adviser_kind: AdviserKind,
    pub adviser_name: String,
    pub text: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// `case.leader_received`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderReceived {
    pub case_no: String,
    pub leader: String,
    pub leader_name: String,
    pub leader_title: String,
    pub reception_day: Uuid,
    /// The reception day's date, China time.
    pub received_on: NaiveDate,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// `case.leader_assigned` (包案).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderAssigned {
    pub case_no: String,
    pub leader: String,
    pub leader_name: String,
    pub leader_title: String,
    /// The leader who owned it before, if another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::practices::ParticipantRole;

    #[test]
    fn kinds_are_subject_tokens_and_payloads_round_trip() {
        for k in kind::ALL {
            crate::subject::token("kind", k).unwrap();
        }
        let held = ConferenceHeld {
            case_no: "XF-411282-2026-000001".into(),
            conference: Uuid::now_v7(),
            kind: ConferenceKind::DifficultCase,
            held_at: Utc::now(),
            minutes: "纪要".into(),
            decisions: vec![ConferenceDecision {
                id: Uuid::now_v7(),
                position: 1,
                text: "人社局七日内核实".into(),
                department: Some("rsj".into()),
                due_at: Some(Utc::now()),
            }],
            by: "supervisor:t1".into(),
            at: Utc::now(),
        };
        let v = serde_json::to_value(&held).unwrap();
        assert_eq!(v["kind"], "difficult_case");
        assert!(held.decisions[0].is_task());
        let back: ConferenceHeld = serde_json::from_value(v).unwrap();
        assert_eq!(back, held);
        let p: Participant =
            serde_json::from_value(serde_json::json!({"role": "lawyer", "id": "x"})).unwrap();
        assert_eq!(p.role, ParticipantRole::Lawyer);
        let note = ConferenceDecision {
            department: None,
            due_at: None,
            ..held.decisions[0].clone()
        };
        assert!(!note.is_task());
        assert!(
            !serde_json::to_value(&note)
                .unwrap()
                .as_object()
                .unwrap()
                .contains_key("department")
        );
    }
}
