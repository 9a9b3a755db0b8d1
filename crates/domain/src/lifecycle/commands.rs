use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::petition::{Art31Branch, Diversion, OpinionOutcome, PetitionType};

/// Why a matter is not accepted (不予受理).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotAcceptGround {
    /// Art 19 para 3: the same matter is being handled by a lower organ and still within its
    /// time limit; the higher organ does not accept it.
    PendingElsewhere {
        earlier_case: String,
        /// When the earlier handling's time limit ends.
        earlier_due: DateTime<FixedOffset>,
        at: DateTime<FixedOffset>,
    },
    /// Another recorded ground (e.g. a channel's own not-accepted list).
    Other { reason: String },
}

/// Everything that moves a case (domain.md §10.2). Times are the facts' own times, so a replayed
/// command gives the same result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Register {
        at: DateTime<FixedOffset>,
    },
    /// Sets or corrects the type (Art 29–31) and the Art 31 branch before handling starts.
    Classify {
        petition_type: PetitionType,
        #[serde(default)]
        branch: Option<Art31Branch>,
    },
    Forward {
        at: DateTime<FixedOffset>,
        #[serde(default)]
        report_required: bool,
    },
    Assign {
        at: DateTime<FixedOffset>,
        #[serde(default = "yes")]
        report_required: bool,
    },
    EscalateToLeadership,
    RoutePoliticalLegal,
    RouteDiscipline,
    GuideElsewhere,
    NotAccept {
        ground: NotAcceptGround,
    },
    NotReaccept {
        repeat_of: String,
    },
    Accept {
        at: DateTime<FixedOffset>,
    },
    Object {
        at: DateTime<FixedOffset>,
        reason: String,
    },
    /// The forwarder agrees with the objection: back to REGISTERED to re-route.
    ObjectionUpheld,
    /// The forwarder rejects the objection: the organ must accept.
    ObjectionRejected {
        at: DateTime<FixedOffset>,
    },
    /// The bureau takes the matter back from the units handling it to route it again: a
    /// reclassification into 检举控告 must reach the competent organ, and the unit that had it
    /// loses it (Art 30 para 3). Back to REGISTERED, before any opinion or reply. Also a
    /// clerk's correction of a wrong diversion at intake (GUIDED_ELSEWHERE,
    /// ROUTED_POLITICAL_LEGAL): no unit accepted the matter, so the bureau routes it again.
    Reroute,
    Channel {
        diversion: Diversion,
    },
    /// The handling organ finds, after accepting the matter, that it belongs in a statutory
    /// procedure (Art 31(1)–(4)): its finding replaces the branch given at registration, and
    /// the matter leaves the petition track with the written guidance served at `served_at`.
    Divert {
        diversion: Diversion,
        served_at: DateTime<FixedOffset>,
    },
    PerformDuty,
    StartInvestigation,
    /// Requested at `at`: before the handling deadline (D5) has passed (Art 34).
    Extend {
        days: u32,
        approver: String,
        reason: String,
        at: DateTime<FixedOffset>,
    },
    StartHearing {
        at: DateTime<FixedOffset>,
    },
    FinishHearing {
        at: DateTime<FixedOffset>,
    },
    Mediate,
    IssueOpinion {
        outcome: OpinionOutcome,
        served_at: DateTime<FixedOffset>,
    },
    Reply,
    SubmitForCheck,
    CheckPassed,
    CheckFailed,
    Rework,
    Close,
    RequestReview {
        at: DateTime<FixedOffset>,
    },
    DecideReview {
        served_at: DateTime<FixedOffset>,
    },
    RequestRereview {
        at: DateTime<FixedOffset>,
    },
    DecideRereview {
        served_at: DateTime<FixedOffset>,
    },
    LapseAppealWindow {
        now: DateTime<FixedOffset>,
    },
    /// The 复查 or 复核 organ revoked (撤销) or changed (变更) the opinion: the matter goes back
    /// to the organ that handled it, for a new opinion within a new handling period that runs
    /// from `at` (the remand; `deadlines.remand_handling_days`). The revoked opinion and its
    /// appeals go, and with them their windows; the new opinion opens a new 复查 window.
    Remand {
        at: DateTime<FixedOffset>,
    },
    Terminate,
}

fn yes() -> bool {
    true
}

impl Command {
    /// Every command name, in §10.2 order.
    pub const NAMES: &'static [&'static str] = &[
        "register",
        "classify",
        "forward",
        "assign",
        "escalate_to_leadership",
        "route_political_legal",
        "route_discipline",
        "guide_elsewhere",
        "not_accept",
        "not_reaccept",
        "accept",
        "object",
        "objection_upheld",
        "objection_rejected",
        "reroute",
        "channel",
        "divert",
        "perform_duty",
        "start_investigation",
        "extend",
        "start_hearing",
        "finish_hearing",
        "mediate",
        "issue_opinion",
        "reply",
        "submit_for_check",
        "check_passed",
        "check_failed",
        "rework",
        "close",
        "request_review",
        "decide_review",
        "request_rereview",
        "decide_rereview",
        "lapse_appeal_window",
        "remand",
        "terminate",
    ];

    /// The snake_case name, as in the serde tag.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Register { .. } => "register",
            Command::Classify { .. } => "classify",
            Command::Forward { .. } => "forward",
            Command::Assign { .. } => "assign",
            Command::EscalateToLeadership => "escalate_to_leadership",
            Command::RoutePoliticalLegal => "route_political_legal",
            Command::RouteDiscipline => "route_discipline",
            Command::GuideElsewhere => "guide_elsewhere",
            Command::NotAccept { .. } => "not_accept",
            Command::NotReaccept { .. } => "not_reaccept",
            Command::Accept { .. } => "accept",
            Command::Object { .. } => "object",
            Command::ObjectionUpheld => "objection_upheld",
            Command::ObjectionRejected { .. } => "objection_rejected",
            Command::Reroute => "reroute",
            Command::Channel { .. } => "channel",
            Command::Divert { .. } => "divert",
            Command::PerformDuty => "perform_duty",
            Command::StartInvestigation => "start_investigation",
            Command::Extend { .. } => "extend",
            Command::StartHearing { .. } => "start_hearing",
            Command::FinishHearing { .. } => "finish_hearing",
            Command::Mediate => "mediate",
            Command::IssueOpinion { .. } => "issue_opinion",
            Command::Reply => "reply",
            Command::SubmitForCheck => "submit_for_check",
            Command::CheckPassed => "check_passed",
            Command::CheckFailed => "check_failed",
            Command::Rework => "rework",
            Command::Close => "close",
            Command::RequestReview { .. } => "request_review",
            Command::DecideReview { .. } => "decide_review",
            Command::RequestRereview { .. } => "request_rereview",
            Command::DecideRereview { .. } => "decide_rereview",
            Command::LapseAppealWindow { .. } => "lapse_appeal_window",
            Command::Remand { .. } => "remand",
            Command::Terminate => "terminate",
        }
    }
}
