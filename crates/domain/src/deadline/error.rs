use super::DeadlineKind;

/// Why a deadline could not be computed. Messages name the rule and its article.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("unknown deadline rule {0:?}: expected one of D1..D11")]
    UnknownKind(String),
    #[error("an extension must be 1 to {max} days, not {days} (Art 34: at most 30 days)")]
    ExtensionOutOfRange { days: u32, max: u32 },
    #[error("D6 (extension of the handling deadline, Art 34) needs the number of extension days")]
    ExtensionRequired,
    #[error("only the handling deadline (D5/D6, Art 34) can be extended, not {0}")]
    ExtensionNotApplicable(DeadlineKind),
    #[error(
        "the handling deadline of this matter is configured as none, so it cannot be extended (Art 34)"
    )]
    NothingToExtend,
    #[error(
        "only the re-review deadline D10 leaves hearing time uncounted (Art 36 para 2), not {0}"
    )]
    PauseNotApplicable(DeadlineKind),
    #[error("paused interval {index} ends before it starts")]
    PauseReversed { index: usize },
    #[error("the deadline falls outside the supported date range")]
    OutOfRange,
    #[error("deadline rule {rule}: {reason}")]
    InvalidRule { rule: String, reason: String },
}

impl DeadlineError {
    /// A stable snake_case code for API error bodies and CLI exit messages.
    pub fn code(&self) -> &'static str {
        match self {
            DeadlineError::UnknownKind(_) => "unknown_kind",
            DeadlineError::ExtensionOutOfRange { .. } => "extension_out_of_range",
            DeadlineError::ExtensionRequired => "extension_required",
            DeadlineError::ExtensionNotApplicable(_) => "extension_not_applicable",
            DeadlineError::NothingToExtend => "nothing_to_extend",
            DeadlineError::PauseNotApplicable(_) => "pause_not_applicable",
            DeadlineError::PauseReversed { .. } => "pause_reversed",
            DeadlineError::OutOfRange => "out_of_range",
            DeadlineError::InvalidRule { .. } => "invalid_rule",
        }
    }
}
