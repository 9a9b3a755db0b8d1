use chrono::{DateTime, FixedOffset};

use super::CaseState;
use crate::deadline::DeadlineError;
use crate::petition::{Art31Branch, PetitionType};

/// A refused transition. Every message names the rule and its article.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "`{command}` is not allowed in state {state} ({}); allowed: {} (domain.md §10.2)",
        state.zh(),
        if allowed.is_empty() { "none, the state is final".to_owned() } else { allowed.join(", ") }
    )]
    NotAllowed {
        command: &'static str,
        state: CaseState,
        allowed: Vec<&'static str>,
    },
    #[error("复查 (review) may only be requested against an Art 31(6) 信访处理意见 (Art 35)")]
    ReviewNeedsHandlingOpinion,
    #[error(
        "复查 request refused: more than the allowed days after the opinion was served; the window ended {window_ended} (Art 35, D7: 30 days from service)"
    )]
    ReviewWindowClosed { window_ended: DateTime<FixedOffset> },
    #[error(
        "复核 request refused: more than the allowed days after the 复查 opinion was served; the window ended {window_ended} (Art 36 para 1, D9: 30 days from service)"
    )]
    RereviewWindowClosed { window_ended: DateTime<FixedOffset> },
    #[error(
        "the handling deadline has already been extended once; a second extension is not allowed (Art 34)"
    )]
    ExtensionAlreadyUsed,
    #[error("an extension must be 1 to {max} days, not {days} (Art 34: at most 30 days)")]
    ExtensionOutOfRange { days: u32, max: u32 },
    #[error("an extension must record the {missing} (Art 34, Decisions 3)")]
    ExtensionIncomplete { missing: &'static str },
    #[error(
        "extension refused: the handling deadline (D5) ended {handling_ended}; an extension must be approved and requested before the deadline passes (Art 34: 情况复杂的，经本机关、单位负责人批准，可以适当延长办理期限)"
    )]
    ExtensionTooLate {
        handling_ended: DateTime<FixedOffset>,
    },
    #[error(
        "extension refused: the matter was sent back by the 复查/复核 organ on {remanded_at} and its new handling period (deadlines.remand_handling_days) is not extended; the Art 34 extension belongs to the first handling"
    )]
    ExtensionAfterRemand { remanded_at: DateTime<FixedOffset> },
    #[error("objection refused: the 5-working-day window ended {window_ended} (Art 23 para 3, D4)")]
    ObjectionWindowClosed { window_ended: DateTime<FixedOffset> },
    #[error("an objection must state detailed reasons (Art 23 para 3)")]
    ObjectionWithoutReason,
    #[error(
        "the matter was sent with a completion report (办结报告) due; its result must pass the sender's check before closing (Art 22 para 1(3))"
    )]
    CompletionReportRequired,
    #[error(
        "only a forwarded or assigned matter goes back to the sending body for a check (Art 22 para 1)"
    )]
    NothingToCheck,
    #[error("`{command}` applies to {required} matters ({article}), not {}", found.zh())]
    WrongType {
        command: &'static str,
        required: &'static str,
        article: &'static str,
        found: PetitionType,
    },
    #[error("`{command}` needs the matter classified first: it applies to {required} ({article})")]
    NotClassified {
        command: &'static str,
        required: &'static str,
        article: &'static str,
    },
    #[error(
        "`{command}` belongs to Art 31 branch {}, but the matter is in branch {} (Art 31)",
        expected.as_str(),
        found.as_str()
    )]
    WrongBranch {
        command: &'static str,
        expected: Art31Branch,
        found: Art31Branch,
    },
    #[error("Art 31 branches apply only to 申诉求决类 matters (Art 31)")]
    BranchWithoutGrievance,
    #[error(
        "the hearing under way belongs to first-instance handling; it ends in a 信访处理意见书 (Art 31(6)), not a 复核 decision"
    )]
    HearingIsFirstInstance,
    #[error(
        "the hearing under way belongs to 复核; it ends in the 复核 opinion (Art 36), not a 信访处理意见书"
    )]
    HearingIsRereview,
    #[error(
        "不予受理 under Art 19 para 3 only while the earlier handling is within its time limit, which ended {earlier_due}"
    )]
    EarlierMatterOutOfTime { earlier_due: DateTime<FixedOffset> },
    #[error("`{command}` must record {what} ({article})")]
    MissingRecord {
        command: &'static str,
        what: &'static str,
        article: &'static str,
    },
    #[error("{what} is dated before {earlier}")]
    OutOfOrder {
        what: &'static str,
        earlier: &'static str,
    },
    #[error("the {window} window is open until {window_ends}; it has not lapsed (Decisions 4)")]
    AppealWindowOpen {
        window: &'static str,
        window_ends: DateTime<FixedOffset>,
    },
    #[error("the case is already final without appeal (Decisions 4)")]
    AlreadyFinal,
    #[error("no 复查 window to lapse: the case has no Art 31(6) 信访处理意见 (Art 35)")]
    NoAppealWindow,
    #[error("case facts are inconsistent: {0}")]
    Inconsistent(&'static str),
    #[error(transparent)]
    Deadline(#[from] DeadlineError),
}

impl LifecycleError {
    /// A stable snake_case code for API error bodies (`{error: {code, message}}`).
    pub fn code(&self) -> &'static str {
        match self {
            LifecycleError::NotAllowed { .. } => "not_allowed",
            LifecycleError::ReviewNeedsHandlingOpinion => "review_needs_handling_opinion",
            LifecycleError::ReviewWindowClosed { .. } => "review_window_closed",
            LifecycleError::RereviewWindowClosed { .. } => "rereview_window_closed",
            LifecycleError::ExtensionAlreadyUsed => "extension_already_used",
            LifecycleError::ExtensionOutOfRange { .. } => "extension_out_of_range",
            LifecycleError::ExtensionIncomplete { .. } => "extension_incomplete",
            LifecycleError::ExtensionTooLate { .. } => "extension_after_deadline",
            LifecycleError::ExtensionAfterRemand { .. } => "extension_after_remand",
            LifecycleError::ObjectionWindowClosed { .. } => "objection_window_closed",
            LifecycleError::ObjectionWithoutReason => "objection_without_reason",
            LifecycleError::CompletionReportRequired => "completion_report_required",
            LifecycleError::NothingToCheck => "nothing_to_check",
            LifecycleError::WrongType { .. } => "wrong_type",
            LifecycleError::NotClassified { .. } => "not_classified",
            LifecycleError::WrongBranch { .. } => "wrong_branch",
            LifecycleError::BranchWithoutGrievance => "branch_without_grievance",
            LifecycleError::HearingIsFirstInstance => "hearing_is_first_instance",
            LifecycleError::HearingIsRereview => "hearing_is_rereview",
            LifecycleError::EarlierMatterOutOfTime { .. } => "earlier_matter_out_of_time",
            LifecycleError::MissingRecord { .. } => "missing_record",
            LifecycleError::OutOfOrder { .. } => "out_of_order",
            LifecycleError::AppealWindowOpen { .. } => "appeal_window_open",
            LifecycleError::AlreadyFinal => "already_final",
            LifecycleError::NoAppealWindow => "no_appeal_window",
            LifecycleError::Inconsistent(_) => "inconsistent",
            LifecycleError::Deadline(_) => "deadline",
        }
    }
}
