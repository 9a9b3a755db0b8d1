use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! states {
    ($($(#[$m:meta])* $var:ident = $wire:literal / $zh:literal),+ $(,)?) => {
        /// The states of domain.md §10.1.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum CaseState {
            $($(#[$m])* $var),+
        }

        impl CaseState {
            pub const ALL: &'static [CaseState] = &[$(CaseState::$var),+];

            /// The snake_case wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(CaseState::$var => $wire),+ }
            }

            /// The Chinese term.
            pub fn zh(self) -> &'static str {
                match self { $(CaseState::$var => $zh),+ }
            }
        }
    };
}

states! {
    /// Arrived through a channel, not yet registered (Art 17, 21).
    Received = "received" / "收件",
    /// Registered; the D1/D2 clock runs (Art 22, 23).
    Registered = "registered" / "已登记",
    /// Sent to the organ with authority (Art 22(1)(2)).
    Forwarded = "forwarded" / "已转送",
    /// Sent with a deadline and, usually, a completion report (Art 22(3)).
    Assigned = "assigned" / "已交办",
    /// Major or urgent: reported to the same-level Party committee and government (Art 22(1), 25).
    EscalatedToLeadership = "escalated_to_leadership" / "报请决定",
    /// Sent to courts, procuratorate, police or justice (Art 22 para 2, 28).
    RoutedPoliticalLegal = "routed_political_legal" / "转政法",
    /// Sent to the discipline and supervision commission (Art 22 para 2, 30).
    RoutedDiscipline = "routed_discipline" / "转纪检监察",
    /// Petitioner told which organ to approach (Art 23 para 1).
    GuidedElsewhere = "guided_elsewhere" / "告知向有权机关提出",
    /// The handling organ says "not ours" within 5 working days (Art 23 para 3).
    Objected = "objected" / "提出异议",
    /// Written notice of receipt and route sent (Art 23 paras 2–3); D5 runs from here.
    Accepted = "accepted" / "已受理",
    /// Refused with written notice (Art 19 para 3).
    NotAccepted = "not_accepted" / "不予受理",
    /// Same facts and reasons after 复核 (Art 36 para 3).
    NotReaccepted = "not_reaccepted" / "不再受理",
    /// Channelled into a statutory procedure, Art 31(1)–(4).
    Channelled = "channelled" / "已导入法定途径",
    /// Duty performed or answered, Art 31(5).
    DutyPerformed = "duty_performed" / "依法履职/答复",
    /// Investigating an Art 31(6) matter; the 60-day clock runs.
    UnderInvestigation = "under_investigation" / "调查核实中",
    /// Head-approved extension of at most 30 days (Art 34).
    Extended = "extended" / "已延期",
    /// Hearing (听证), in first-instance handling or in 复核 (Art 31(6), 36).
    InHearing = "in_hearing" / "听证中",
    /// Mediation or settlement agreement signed (Art 33).
    Mediated = "mediated" / "调解/和解",
    /// 信访处理意见书 issued and served (Art 32).
    OpinionIssued = "opinion_issued" / "已出具处理意见",
    /// Reply (建议意见) or feedback (检举控告) given (Art 29, 30).
    Replied = "replied" / "已答复",
    /// Result sent back to the forwarding or assigning body for a check (practice).
    PendingSuperiorCheck = "pending_superior_check" / "送上级审核",
    /// Check failed, to be redone (practice).
    ReturnedForRedo = "returned_for_redo" / "退回重办",
    /// First-instance handling complete.
    Closed = "closed" / "办结",
    /// 复查 requested within 30 days of service (Art 35).
    ReviewRequested = "review_requested" / "申请复查",
    /// 复查 opinion issued (Art 35).
    ReviewDecided = "review_decided" / "复查意见已出",
    /// 复核 requested within 30 days of service of the 复查 opinion (Art 36).
    RereviewRequested = "rereview_requested" / "申请复核",
    /// 复核 opinion issued (Art 36).
    RereviewDecided = "rereview_decided" / "复核意见已出",
    /// Terminated after 复核 and entered in the 终结库 (Art 36 para 3).
    Terminated = "terminated" / "终结",
}

impl CaseState {
    /// States no command leaves.
    pub fn is_terminal(self) -> bool {
        super::machine::allowed_commands(self).is_empty()
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
