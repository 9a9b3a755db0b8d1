//! Appeals (复查 Art 35, 复核 Art 36), termination (终结, Art 36 para 3) and the petitioner's
//! satisfaction evaluation (Decisions 5): the pure rules the review service applies.
//!
//! The window and order guards are the lifecycle's ([`crate::lifecycle`]): each check builds
//! the lifecycle [`Case`] the stored facts describe and applies the matching [`Command`], so a
//! refusal carries the lifecycle's error, which names the rule and its article. What the
//! lifecycle cannot know (a second request, a terminated matter, the review organ) is refused
//! here with an [`AppealError`] of its own.
//!
//! Review organs come from the [`Directory`]: 复查 goes to the next-higher organ of the original
//! handler, 复核 to the next-higher organ of the 复查 organ. When the directory has none (the
//! city government's parent is the province), the organ is [`Organ::External`] and the bureau
//! records the request and the decision by hand.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::deadline::{
    Adjustments, CST, DeadlineError, DeadlineKind, compute, cst_date, evaluation_window,
};
use crate::directory::{Directory, OrganRef};
use crate::events::ReviewLevel;
use crate::lifecycle::{
    Appeal, Case, CaseState, Command, Hearing, HearingStage, LifecycleError, Opinion, Policy,
    apply_with,
};
use crate::petition::{Art31Branch, OpinionOutcome, PetitionType, Rating};
use crate::validation::ValidationError;

/// The longest free text the petitioner or a clerk attaches (grounds, reasons, opinions).
pub const MAX_NOTE_CHARS: usize = 5_000;

/// The decision of a 复查 or 复核 organ on the opinion below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// 维持: the opinion below stands.
    Uphold,
    /// 变更: the opinion below is changed.
    Change,
    /// 撤销: the opinion below is revoked.
    Revoke,
}

impl ReviewOutcome {
    pub const ALL: [ReviewOutcome; 3] = [Self::Uphold, Self::Change, Self::Revoke];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uphold => "uphold",
            Self::Change => "change",
            Self::Revoke => "revoke",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Self::Uphold => "维持",
            Self::Change => "变更",
            Self::Revoke => "撤销",
        }
    }

    /// Whether the decision sends the matter back to the organ that handled it: a revoked
    /// (撤销) or changed (变更) opinion is given again by that organ (Art 35-36).
    pub fn sends_back(self) -> bool {
        matches!(self, Self::Change | Self::Revoke)
    }

    /// Accepts the wire spelling or the Chinese term.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == raw || o.zh() == raw)
            .ok_or_else(|| {
                ValidationError::new(
                    "outcome",
                    "unknown_value",
                    "must be one of: uphold, change, revoke",
                )
            })
    }
}

impl fmt::Display for ReviewOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReviewOutcome {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What follows a 复查 or 复核 decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDecision {
    /// 复查 upheld the opinion: the 复核 window (D9) opens from service (Art 36).
    RereviewWindowOpens,
    /// 复核 upheld it: TERMINATED, into the 终结库 (Art 36 para 3, Decisions 4).
    Terminates,
    /// Revoked or changed: back to the organ that handled it for a new opinion within the
    /// remand period; the revoked opinion's windows close, no 复核 lies against it, and the
    /// new opinion opens a new 复查 window (D7).
    SendsBack,
}

/// The consequence of a decision of `level` with `outcome`. An outcome not known (an older
/// event without it) is taken as upheld, as before the outcome was recorded.
pub fn after_decision(level: ReviewLevel, outcome: Option<ReviewOutcome>) -> AfterDecision {
    match (level, outcome) {
        (_, Some(o)) if o.sends_back() => AfterDecision::SendsBack,
        (ReviewLevel::Review, _) => AfterDecision::RereviewWindowOpens,
        (ReviewLevel::Rereview, _) => AfterDecision::Terminates,
    }
}

/// `review` / `rereview`, the wire spelling of [`ReviewLevel`].
pub fn level_str(level: ReviewLevel) -> &'static str {
    match level {
        ReviewLevel::Review => "review",
        ReviewLevel::Rereview => "rereview",
    }
}

/// Parses `review` / `rereview` (or 复查 / 复核).
pub fn parse_level(raw: &str) -> Result<ReviewLevel, ValidationError> {
    match raw {
        "review" | "复查" => Ok(ReviewLevel::Review),
        "rereview" | "复核" => Ok(ReviewLevel::Rereview),
        _ => Err(ValidationError::new(
            "level",
            "unknown_value",
            "must be one of: review, rereview",
        )),
    }
}

/// The Chinese name of a level.
pub fn level_zh(level: ReviewLevel) -> &'static str {
    match level {
        ReviewLevel::Review => "复查",
        ReviewLevel::Rereview => "复核",
    }
}

/// Where an appeal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Organ {
    /// An organ of the directory; its county's subjects carry the appeal.
    Internal(OrganRef),
    /// Above the directory (e.g. the provincial government): recorded by hand.
    External,
}

/// The prefix of an external organ's code in events (`external:<name>`).
pub const EXTERNAL_PREFIX: &str = "external:";

/// The next-higher organ above `below` (Art 35–36 "上一级").
pub fn next_organ(directory: &Directory, below: &OrganRef) -> Result<Organ, AppealError> {
    if directory.organ(below).is_none() {
        return Err(AppealError::UnknownOrgan {
            organ: below.to_string(),
        });
    }
    Ok(match directory.review_parent(below) {
        Some(o) => Organ::Internal(o),
        None => Organ::External,
    })
}

/// The organ that handled the matter: `department` of the matter's county (the city's when the
/// county lacks it), as routing resolves it.
pub fn original_handler(
    directory: &Directory,
    matter_county: &CountyCode,
    department: &str,
) -> Result<OrganRef, AppealError> {
    directory
        .resolve(matter_county, department)
        .ok_or_else(|| AppealError::UnknownOrgan {
            organ: format!("{matter_county}:{department}"),
        })
}

/// The reply served on the petitioner (`case.replied`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedReply {
    pub outcome: Option<OpinionOutcome>,
    /// An Art 31(6) 信访处理意见书.
    pub is_handling_opinion: bool,
    pub served_on: NaiveDate,
}

/// A 复查 or 复核 as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealRecord {
    pub requested_at: DateTime<FixedOffset>,
    pub decision_served_on: Option<NaiveDate>,
    /// The decision's outcome, once decided (unknown for decisions learnt without one).
    pub outcome: Option<ReviewOutcome>,
    /// 复核 hearings (听证): start and, once finished, end.
    pub hearings: Vec<(DateTime<FixedOffset>, Option<DateTime<FixedOffset>>)>,
}

impl AppealRecord {
    pub fn decided(&self) -> bool {
        self.decision_served_on.is_some()
    }

    /// The start of the hearing under way, if one is.
    pub fn open_hearing(&self) -> Option<DateTime<FixedOffset>> {
        self.hearings
            .iter()
            .rev()
            .find(|(_, end)| end.is_none())
            .map(|(start, _)| *start)
    }
}

/// What the review service knows of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealFacts {
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub reply: Option<ServedReply>,
    pub review: Option<AppealRecord>,
    pub rereview: Option<AppealRecord>,
    pub final_without_appeal: bool,
    pub terminated: bool,
    /// A 复查/复核 decision sent the matter back (level, outcome) and the handling organ's new
    /// opinion has not been served yet.
    pub awaiting_new_opinion: Option<(ReviewLevel, ReviewOutcome)>,
}

/// Types and branches a deployment opens to 复查 besides Art 31(6) handling opinions
/// (configuration; the regulation ties review to 信访处理意见, Art 35).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewScope {
    pub types: Vec<PetitionType>,
    pub branches: Vec<Art31Branch>,
}

impl ReviewScope {
    /// Whether a served reply of this case can be reviewed.
    pub fn reviewable(&self, facts: &AppealFacts) -> bool {
        let Some(reply) = &facts.reply else {
            return false;
        };
        reply.is_handling_opinion
            || self.types.contains(&facts.petition_type)
            || facts.branch.is_some_and(|b| self.branches.contains(&b))
    }
}

/// A refused appeal step. Every message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppealError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(
        "{} has already been requested for this matter; it is requested once (Art {})",
        level_zh(*level),
        if *level == ReviewLevel::Review { "35" } else { "36" }
    )]
    AlreadyRequested { level: ReviewLevel },
    #[error(
        "the {} decision has already been recorded (Art {})",
        level_zh(*level),
        if *level == ReviewLevel::Review { "35" } else { "36" }
    )]
    AlreadyDecided { level: ReviewLevel },
    #[error(
        "no {} has been requested for this matter (Art {})",
        level_zh(*level),
        if *level == ReviewLevel::Review { "35" } else { "36" }
    )]
    NotRequested { level: ReviewLevel },
    #[error(
        "the matter was terminated (终结) after 复核; the same facts and reasons are no longer accepted (Art 36 para 3)"
    )]
    Terminated,
    #[error(
        "organ {organ} is not in the directory, so its next-higher organ cannot be determined (Art 35-36); record the appeal by hand"
    )]
    UnknownOrgan { organ: String },
    #[error(
        "a hearing (听证) is held only in 复核, whose time it leaves out of D10 (Art 36 para 2)"
    )]
    HearingOnlyInRereview,
    #[error("no hearing is under way to finish (Art 36 para 2)")]
    NoHearing,
    #[error(
        "the {} organ decided to {} ({}) the opinion and sent the matter back to the organ that handled it: no appeal lies against the {} opinion, and the new opinion, once served, opens a new 复查 window (D7, Art 35)",
        level_zh(*level),
        outcome.as_str(),
        outcome.zh(),
        if *outcome == ReviewOutcome::Revoke { "revoked" } else { "changed" }
    )]
    SentBack {
        level: ReviewLevel,
        outcome: ReviewOutcome,
    },
    #[error("a hearing is already under way since {since} (Art 36 para 2)")]
    HearingOpen { since: DateTime<FixedOffset> },
    #[error(
        "posted_on {posted_on} is after today ({today}, China time): a request cannot have been posted in the future"
    )]
    PostedInFuture {
        posted_on: NaiveDate,
        today: NaiveDate,
    },
    #[error(
        "posted_on {posted_on} is before the {} appealed against was served ({served_on}); a request is posted after service (Art {})",
        if *level == ReviewLevel::Review { "信访处理意见" } else { "复查意见" },
        if *level == ReviewLevel::Review { "35" } else { "36" }
    )]
    PostedBeforeService {
        level: ReviewLevel,
        posted_on: NaiveDate,
        served_on: NaiveDate,
    },
}

impl AppealError {
    /// A stable snake_case code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AppealError::Lifecycle(e) => e.code(),
            AppealError::AlreadyRequested { .. } => "already_requested",
            AppealError::AlreadyDecided { .. } => "already_decided",
            AppealError::NotRequested { .. } => "not_requested",
            AppealError::Terminated => "terminated",
            AppealError::UnknownOrgan { .. } => "unknown_organ",
            AppealError::HearingOnlyInRereview => "hearing_only_in_rereview",
            AppealError::NoHearing => "no_hearing",
            AppealError::SentBack { .. } => "opinion_sent_back",
            AppealError::HearingOpen { .. } => "hearing_open",
            AppealError::PostedInFuture { .. } => "posted_in_future",
            AppealError::PostedBeforeService { .. } => "posted_before_service",
        }
    }

    /// The request field an error is about, for validation errors.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppealError::PostedInFuture { .. } | AppealError::PostedBeforeService { .. } => {
                Some("posted_on")
            }
            _ => None,
        }
    }
}

/// Midnight China time at the start of `date` (a served date as a trigger: counting starts the
/// next day, Decisions 1).
pub fn served_instant(date: NaiveDate) -> DateTime<FixedOffset> {
    CST.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .single()
        .unwrap_or_else(|| {
            chrono::Utc
                .from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
                .fixed_offset()
        })
}

/// The lifecycle case the facts describe: closed with a 信访处理意见 (the scope already decided
/// the reply is reviewable), and the appeals so far.
fn lifecycle_case(facts: &AppealFacts, reply: &ServedReply) -> Case {
    let mut case = Case::new();
    case.petition_type = Some(PetitionType::Grievance);
    case.branch = Some(Art31Branch::Residual);
    case.opinion = Some(Opinion {
        outcome: reply.outcome.unwrap_or(OpinionOutcome::Explained),
        served_at: served_instant(reply.served_on),
    });
    case.final_without_appeal = facts.final_without_appeal;
    case.state = CaseState::Closed;
    if let Some(r) = &facts.review {
        case.review = Some(Appeal {
            requested_at: r.requested_at,
            decision_served_at: r.decision_served_on.map(served_instant),
        });
        case.state = if r.decided() {
            CaseState::ReviewDecided
        } else {
            CaseState::ReviewRequested
        };
    }
    if let Some(r) = &facts.rereview {
        case.rereview = Some(Appeal {
            requested_at: r.requested_at,
            decision_served_at: r.decision_served_on.map(served_instant),
        });
        case.hearings = r
            .hearings
            .iter()
            .map(|(s, e)| Hearing {
                stage: HearingStage::Rereview,
                started_at: *s,
                finished_at: *e,
            })
            .collect();
        case.state = if r.decided() {
            CaseState::RereviewDecided
        } else if r.open_hearing().is_some() {
            case.hearing = Some(HearingStage::Rereview);
            CaseState::InHearing
        } else {
            CaseState::RereviewRequested
        };
    }
    if facts.terminated {
        case.state = CaseState::Terminated;
    }
    case
}

/// Refuses every appeal step on an opinion a decision has sent back: while the organ's new
/// opinion is awaited, and between the decision and the remand that follows it.
fn sent_back(facts: &AppealFacts) -> Result<(), AppealError> {
    if let Some((level, outcome)) = facts.awaiting_new_opinion {
        return Err(AppealError::SentBack { level, outcome });
    }
    for (level, record) in [
        (ReviewLevel::Review, &facts.review),
        (ReviewLevel::Rereview, &facts.rereview),
    ] {
        if let Some(outcome) = record
            .as_ref()
            .filter(|r| r.decided())
            .and_then(|r| r.outcome)
            .filter(|o| o.sends_back())
        {
            return Err(AppealError::SentBack { level, outcome });
        }
    }
    Ok(())
}

/// Checks a 复查 or 复核 request received at `at` and returns its level. Without `level`, the
/// next one the facts admit is taken (复核 once the 复查 decision has been served).
///
/// A request sent by post is in time when it was posted in time (Decisions 1): with
/// `posted_on` (the postmark date the clerk keyed in) the window (D7/D9) is checked against that
/// day, not against the day it was keyed in. The postmark may not be after the day of receipt
/// `at`, nor before the opinion appealed against was served.
pub fn check_request(
    facts: &AppealFacts,
    level: Option<ReviewLevel>,
    at: DateTime<FixedOffset>,
    posted_on: Option<NaiveDate>,
    scope: &ReviewScope,
    policy: &Policy<'_>,
) -> Result<ReviewLevel, AppealError> {
    if facts.terminated {
        return Err(AppealError::Terminated);
    }
    sent_back(facts)?;
    let level = level.unwrap_or(match &facts.review {
        Some(r) if r.decided() => ReviewLevel::Rereview,
        _ => ReviewLevel::Review,
    });
    let existing = match level {
        ReviewLevel::Review => &facts.review,
        ReviewLevel::Rereview => &facts.rereview,
    };
    if existing.is_some() {
        return Err(AppealError::AlreadyRequested { level });
    }
    let reply = match &facts.reply {
        Some(r) if scope.reviewable(facts) => r,
        _ => return Err(LifecycleError::ReviewNeedsHandlingOpinion.into()),
    };
    let made_at = match posted_on {
        None => at,
        Some(posted_on) => {
            let today = cst_date(at);
            if posted_on > today {
                return Err(AppealError::PostedInFuture { posted_on, today });
            }
            let served_on = match level {
                ReviewLevel::Review => Some(reply.served_on),
                ReviewLevel::Rereview => facts.review.as_ref().and_then(|r| r.decision_served_on),
            };
            if let Some(served_on) = served_on
                && posted_on < served_on
            {
                return Err(AppealError::PostedBeforeService {
                    level,
                    posted_on,
                    served_on,
                });
            }
            // Posted on that day: in time if the day is not after the window's last day.
            served_instant(posted_on)
        }
    };
    let case = lifecycle_case(facts, reply);
    let command = match level {
        ReviewLevel::Review => Command::RequestReview { at: made_at },
        ReviewLevel::Rereview => Command::RequestRereview { at: made_at },
    };
    apply_with(&case, &command, policy)?;
    Ok(level)
}

/// Checks the decision of the `level` appeal, served on `served_on`.
pub fn check_decision(
    facts: &AppealFacts,
    level: ReviewLevel,
    served_on: NaiveDate,
    policy: &Policy<'_>,
) -> Result<(), AppealError> {
    let record = match level {
        ReviewLevel::Review => &facts.review,
        ReviewLevel::Rereview => &facts.rereview,
    };
    let record = record.as_ref().ok_or(AppealError::NotRequested { level })?;
    if record.decided() {
        return Err(AppealError::AlreadyDecided { level });
    }
    // Only the appeal's own record matters here: the organ deciding it may not hold the
    // original reply (a county case reviewed at the city).
    let mut case = Case::new();
    let served_at = served_instant(served_on);
    let appeal = Appeal {
        requested_at: record.requested_at,
        decision_served_at: None,
    };
    let command = match level {
        ReviewLevel::Review => {
            case.state = CaseState::ReviewRequested;
            case.review = Some(appeal);
            Command::DecideReview { served_at }
        }
        ReviewLevel::Rereview => {
            case.state = CaseState::RereviewRequested;
            case.rereview = Some(appeal);
            if let Some(since) = record.open_hearing() {
                case.state = CaseState::InHearing;
                case.hearing = Some(HearingStage::Rereview);
                case.hearings = vec![Hearing {
                    stage: HearingStage::Rereview,
                    started_at: since,
                    finished_at: None,
                }];
            }
            Command::DecideRereview { served_at }
        }
    };
    // A decision is served on a day; the request may be later that same day.
    let same_day = crate::deadline::cst_date(record.requested_at) == served_on;
    match apply_with(&case, &command, policy) {
        Ok(_) => Ok(()),
        Err(LifecycleError::OutOfOrder { .. }) if same_day => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a hearing starts (`true`) or finishes (`false`) at `at` in the 复核.
pub fn check_hearing(
    facts: &AppealFacts,
    level: ReviewLevel,
    start: bool,
    at: DateTime<FixedOffset>,
    policy: &Policy<'_>,
) -> Result<(), AppealError> {
    if level != ReviewLevel::Rereview {
        return Err(AppealError::HearingOnlyInRereview);
    }
    let record = facts.rereview.as_ref().ok_or(AppealError::NotRequested {
        level: ReviewLevel::Rereview,
    })?;
    if record.decided() {
        return Err(AppealError::AlreadyDecided {
            level: ReviewLevel::Rereview,
        });
    }
    let open = record.open_hearing();
    match (start, open) {
        (true, Some(since)) => return Err(AppealError::HearingOpen { since }),
        (false, None) => return Err(AppealError::NoHearing),
        _ => {}
    }
    let mut case = Case::new();
    case.rereview = Some(Appeal {
        requested_at: record.requested_at,
        decision_served_at: None,
    });
    let command = if start {
        case.state = CaseState::RereviewRequested;
        if at < record.requested_at {
            return Err(LifecycleError::OutOfOrder {
                what: "the start of the hearing",
                earlier: "the re-review request",
            }
            .into());
        }
        Command::StartHearing { at }
    } else {
        case.state = CaseState::InHearing;
        case.hearing = Some(HearingStage::Rereview);
        case.hearings = vec![Hearing {
            stage: HearingStage::Rereview,
            started_at: open.unwrap_or(at),
            finished_at: None,
        }];
        Command::FinishHearing { at }
    };
    apply_with(&case, &command, policy)?;
    Ok(())
}

/// The decision deadline of an appeal: D8 for 复查, D10 for 复核 with its hearing days left
/// out (Art 36 para 2); an unfinished hearing counts as running until `now`.
pub fn decision_due(
    level: ReviewLevel,
    record: &AppealRecord,
    now: DateTime<FixedOffset>,
    policy: &Policy<'_>,
) -> Result<Option<DateTime<FixedOffset>>, DeadlineError> {
    Ok(decision_deadline(level, record, now, policy)?.due)
}

/// [`decision_due`] with the whole computation (whether it is provisional, rolled over, which
/// hearing days were left out).
pub fn decision_deadline(
    level: ReviewLevel,
    record: &AppealRecord,
    now: DateTime<FixedOffset>,
    policy: &Policy<'_>,
) -> Result<crate::deadline::Due, DeadlineError> {
    let (kind, adjustments) = match level {
        ReviewLevel::Review => (DeadlineKind::D8, Adjustments::default()),
        ReviewLevel::Rereview => (
            DeadlineKind::D10,
            Adjustments {
                extension_days: None,
                paused: record
                    .hearings
                    .iter()
                    .map(|(s, e)| (*s, e.unwrap_or(now).max(*s)))
                    .collect(),
            },
        ),
    };
    compute(
        kind,
        record.requested_at,
        policy.calendar,
        policy.rules,
        &adjustments,
    )
}

/// Which appeal window passed unused by `now` (Decisions 4): D7 when no 复查 was requested,
/// D9 when the 复查 was decided and no 复核 requested. Refused while the window is open.
pub fn check_lapse(
    facts: &AppealFacts,
    now: DateTime<FixedOffset>,
    scope: &ReviewScope,
    policy: &Policy<'_>,
) -> Result<DeadlineKind, AppealError> {
    if facts.terminated {
        return Err(AppealError::Terminated);
    }
    sent_back(facts)?;
    let reply = match &facts.reply {
        Some(r) if scope.reviewable(facts) => r,
        _ => return Err(LifecycleError::NoAppealWindow.into()),
    };
    let case = lifecycle_case(facts, reply);
    let kind = if case.state == CaseState::Closed {
        DeadlineKind::D7
    } else {
        DeadlineKind::D9
    };
    apply_with(&case, &Command::LapseAppealWindow { now }, policy)?;
    Ok(kind)
}

/// A refused satisfaction evaluation (Decisions 5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    #[error(
        "the matter has no served reply yet; evaluation opens when the reply is served (Decisions 5)"
    )]
    NotServed,
    #[error(
        "the evaluation window closed {closed} ({days} days from service of the reply, Decisions 5)"
    )]
    WindowClosed {
        closed: DateTime<FixedOffset>,
        days: u32,
    },
    #[error("the matter has already been evaluated; a matter is evaluated once (Decisions 5)")]
    AlreadyEvaluated,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Deadline(#[from] DeadlineError),
}

impl EvaluationError {
    pub fn code(&self) -> &'static str {
        match self {
            EvaluationError::NotServed => "not_served",
            EvaluationError::WindowClosed { .. } => "evaluation_window_closed",
            EvaluationError::AlreadyEvaluated => "already_evaluated",
            EvaluationError::Invalid(v) => v.rule,
            EvaluationError::Deadline(d) => d.code(),
        }
    }
}

/// Checks an evaluation of the bureau and the handling unit made at `now`; returns the reason
/// to record (trimmed). 不满意 of either needs a reason. The window's last day rolls over off a
/// rest day like the statutory windows (Decisions 1).
pub fn check_evaluation(
    served_on: Option<NaiveDate>,
    already_evaluated: bool,
    bureau: Rating,
    unit: Rating,
    reason: Option<&str>,
    now: DateTime<FixedOffset>,
    policy: &Policy<'_>,
) -> Result<Option<String>, EvaluationError> {
    let rules = policy.rules;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason
        && r.chars().count() > MAX_NOTE_CHARS
    {
        return Err(ValidationError::new(
            "reason",
            "too_long",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        )
        .into());
    }
    if reason.is_none() && (bureau == Rating::Dissatisfied || unit == Rating::Dissatisfied) {
        return Err(ValidationError::new(
            "reason",
            "reason_required",
            "a rating of 不满意 (dissatisfied) must give the reason (Decisions 5)",
        )
        .into());
    }
    let served_on = served_on.ok_or(EvaluationError::NotServed)?;
    if already_evaluated {
        return Err(EvaluationError::AlreadyEvaluated);
    }
    let closed = evaluation_window(served_instant(served_on), policy.calendar, rules)?.closes;
    if now > closed {
        return Err(EvaluationError::WindowClosed {
            closed,
            days: rules.evaluation_window_days(),
        });
    }
    if now < served_instant(served_on) {
        return Err(EvaluationError::NotServed);
    }
    Ok(reason.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::DeadlineRules;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn facts(is_opinion: bool, served: &str) -> AppealFacts {
        AppealFacts {
            petition_type: PetitionType::Grievance,
            branch: Some(if is_opinion {
                Art31Branch::Residual
            } else {
                Art31Branch::DutyPerformance
            }),
            reply: Some(ServedReply {
                outcome: Some(OpinionOutcome::NotSupported),
                is_handling_opinion: is_opinion,
                served_on: d(served),
            }),
            review: None,
            rereview: None,
            final_without_appeal: false,
            terminated: false,
            awaiting_new_opinion: None,
        }
    }

    fn record(at: &str, decided: Option<&str>) -> AppealRecord {
        AppealRecord {
            requested_at: t(at),
            decision_served_on: decided.map(d),
            outcome: decided.map(|_| ReviewOutcome::Uphold),
            hearings: Vec::new(),
        }
    }

    fn p() -> Policy<'static> {
        Policy::standard()
    }

    #[test]
    fn review_needs_an_opinion_unless_the_scope_opens_the_branch() {
        let f = facts(false, "2026-03-02");
        let at = t("2026-03-10T10:00:00+08:00");
        let e = check_request(&f, None, at, None, &ReviewScope::default(), &p()).unwrap_err();
        assert_eq!(e.code(), "review_needs_handling_opinion");
        assert!(e.to_string().contains("Art 35"), "{e}");
        let open = ReviewScope {
            types: vec![],
            branches: vec![Art31Branch::DutyPerformance],
        };
        assert_eq!(
            check_request(&f, None, at, None, &open, &p()).unwrap(),
            ReviewLevel::Review
        );
        let mut none = facts(true, "2026-03-02");
        none.reply = None;
        assert_eq!(
            check_request(&none, None, at, None, &ReviewScope::default(), &p())
                .unwrap_err()
                .code(),
            "review_needs_handling_opinion"
        );
    }

    #[test]
    fn the_d7_window_is_thirty_days_from_service() {
        let f = facts(true, "2026-03-02");
        let s = ReviewScope::default();
        // Served 2 March: the window ends 1 April 23:59:59 China time.
        assert!(check_request(&f, None, t("2026-04-01T23:59:59+08:00"), None, &s, &p()).is_ok());
        let e =
            check_request(&f, None, t("2026-04-02T00:00:00+08:00"), None, &s, &p()).unwrap_err();
        assert_eq!(e.code(), "review_window_closed");
        assert!(e.to_string().contains("D7"), "{e}");
        // Before service: out of order.
        let e =
            check_request(&f, None, t("2026-03-01T10:00:00+08:00"), None, &s, &p()).unwrap_err();
        assert_eq!(e.code(), "out_of_order");
    }

    #[test]
    fn a_review_window_ending_on_national_day_rolls_over_to_the_next_working_day() {
        // Issue #13: served 2026-09-01, 30 days end on 10-01 (National Day, 10-01..07 off):
        // the petitioner may still ask on 10-08.
        let f = facts(true, "2026-09-01");
        let s = ReviewScope::default();
        assert_eq!(
            check_request(&f, None, t("2026-10-08T16:00:00+08:00"), None, &s, &p()).unwrap(),
            ReviewLevel::Review
        );
        let e =
            check_request(&f, None, t("2026-10-09T00:00:01+08:00"), None, &s, &p()).unwrap_err();
        assert_eq!(e.code(), "review_window_closed");
        assert!(e.to_string().contains("2026-10-08"), "{e}");
    }

    #[test]
    fn a_mailed_request_is_in_time_when_posted_in_time() {
        let f = facts(true, "2026-09-01");
        let s = ReviewScope::default();
        let keyed_in = t("2026-10-12T10:00:00+08:00");
        // Keyed in on 10-12 without a postmark: too late.
        assert_eq!(
            check_request(&f, None, keyed_in, None, &s, &p())
                .unwrap_err()
                .code(),
            "review_window_closed"
        );
        // Posted on the last day of the window: in time.
        assert_eq!(
            check_request(&f, None, keyed_in, Some(d("2026-10-08")), &s, &p()).unwrap(),
            ReviewLevel::Review
        );
        // Posted the day after: too late, whenever it arrives.
        assert_eq!(
            check_request(&f, None, keyed_in, Some(d("2026-10-09")), &s, &p())
                .unwrap_err()
                .code(),
            "review_window_closed"
        );
        // A postmark after the day of receipt, or before service, is refused naming the field.
        let e = check_request(&f, None, keyed_in, Some(d("2026-10-13")), &s, &p()).unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("posted_in_future", Some("posted_on"))
        );
        let e = check_request(&f, None, keyed_in, Some(d("2026-08-31")), &s, &p()).unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("posted_before_service", Some("posted_on"))
        );
        assert!(e.to_string().contains("2026-09-01"), "{e}");
        // Posted on the day of service is fine.
        assert!(check_request(&f, None, keyed_in, Some(d("2026-09-01")), &s, &p()).is_ok());
        // 复核: the postmark is checked against the service of the 复查 opinion.
        let mut f = facts(true, "2026-03-02");
        f.review = Some(record("2026-03-05T10:00:00+08:00", Some("2026-03-20")));
        let keyed_in = t("2026-04-24T10:00:00+08:00");
        assert_eq!(
            check_request(&f, None, keyed_in, Some(d("2026-04-20")), &s, &p()).unwrap(),
            ReviewLevel::Rereview
        );
        assert_eq!(
            check_request(&f, None, keyed_in, Some(d("2026-03-19")), &s, &p())
                .unwrap_err()
                .code(),
            "posted_before_service"
        );
    }

    #[test]
    fn requests_are_made_once_and_rereview_follows_a_served_review() {
        let s = ReviewScope::default();
        let mut f = facts(true, "2026-03-02");
        f.review = Some(record("2026-03-05T10:00:00+08:00", None));
        let at = t("2026-03-10T10:00:00+08:00");
        let e = check_request(&f, None, at, None, &s, &p()).unwrap_err();
        assert_eq!(
            e,
            AppealError::AlreadyRequested {
                level: ReviewLevel::Review
            }
        );
        // 复核 before the 复查 decision: the lifecycle refuses it.
        let e = check_request(&f, Some(ReviewLevel::Rereview), at, None, &s, &p()).unwrap_err();
        assert_eq!(e.code(), "not_allowed");
        f.review = Some(record("2026-03-05T10:00:00+08:00", Some("2026-03-20")));
        // Served 20 March: 30 days end on Sunday 19 April, rolled over to Monday 20 April.
        assert_eq!(
            check_request(&f, None, t("2026-04-20T12:00:00+08:00"), None, &s, &p()).unwrap(),
            ReviewLevel::Rereview
        );
        let e =
            check_request(&f, None, t("2026-04-21T00:00:01+08:00"), None, &s, &p()).unwrap_err();
        assert_eq!(e.code(), "rereview_window_closed");
        f.rereview = Some(record("2026-03-25T10:00:00+08:00", None));
        assert_eq!(
            check_request(&f, None, at, None, &s, &p())
                .unwrap_err()
                .code(),
            "already_requested"
        );
        f.terminated = true;
        assert_eq!(
            check_request(&f, None, at, None, &s, &p()).unwrap_err(),
            AppealError::Terminated
        );
    }

    /// Issue #20: no 复核 (and no lapse of D9) against a 复查 that revoked or changed the
    /// opinion — neither before the remand is recorded nor while the new opinion is awaited.
    #[test]
    fn a_revoked_or_changed_opinion_opens_no_rereview() {
        let s = ReviewScope::default();
        for outcome in [ReviewOutcome::Revoke, ReviewOutcome::Change] {
            let mut f = facts(true, "2026-03-02");
            let mut review = record("2026-03-05T10:00:00+08:00", Some("2026-03-20"));
            review.outcome = Some(outcome);
            f.review = Some(review);
            let at = t("2026-03-25T10:00:00+08:00");
            let e = check_request(&f, None, at, None, &s, &p()).unwrap_err();
            assert_eq!(
                e,
                AppealError::SentBack {
                    level: ReviewLevel::Review,
                    outcome
                }
            );
            assert_eq!(e.code(), "opinion_sent_back");
            assert!(e.to_string().contains("复查"), "{e}");
            let e = check_request(&f, Some(ReviewLevel::Rereview), at, None, &s, &p()).unwrap_err();
            assert_eq!(e.code(), "opinion_sent_back");
            assert_eq!(
                check_lapse(&f, t("2026-06-01T00:00:00+08:00"), &s, &p())
                    .unwrap_err()
                    .code(),
                "opinion_sent_back"
            );
        }
        // After the remand: refused until the new opinion is served, then a new 复查.
        let mut f = facts(true, "2026-03-02");
        f.reply = None;
        f.awaiting_new_opinion = Some((ReviewLevel::Rereview, ReviewOutcome::Revoke));
        let at = t("2026-04-10T10:00:00+08:00");
        let e = check_request(&f, None, at, None, &s, &p()).unwrap_err();
        assert!(e.to_string().contains("复核"), "{e}");
        let second = facts(true, "2026-04-08");
        assert_eq!(
            check_request(&second, None, at, None, &s, &p()).unwrap(),
            ReviewLevel::Review
        );
    }

    #[test]
    fn what_follows_a_decision() {
        use AfterDecision::*;
        let r = ReviewLevel::Review;
        let rr = ReviewLevel::Rereview;
        assert_eq!(
            after_decision(r, Some(ReviewOutcome::Uphold)),
            RereviewWindowOpens
        );
        assert_eq!(after_decision(r, None), RereviewWindowOpens);
        assert_eq!(after_decision(rr, Some(ReviewOutcome::Uphold)), Terminates);
        assert_eq!(after_decision(rr, None), Terminates);
        for o in [ReviewOutcome::Revoke, ReviewOutcome::Change] {
            assert_eq!(after_decision(r, Some(o)), SendsBack);
            assert_eq!(after_decision(rr, Some(o)), SendsBack);
        }
    }

    #[test]
    fn decisions_need_a_pending_request_and_follow_it() {
        let mut f = facts(true, "2026-03-02");
        let e = check_decision(&f, ReviewLevel::Review, d("2026-03-20"), &p()).unwrap_err();
        assert_eq!(e.code(), "not_requested");
        f.review = Some(record("2026-03-05T10:00:00+08:00", None));
        check_decision(&f, ReviewLevel::Review, d("2026-03-20"), &p()).unwrap();
        check_decision(&f, ReviewLevel::Review, d("2026-03-05"), &p()).unwrap();
        let e = check_decision(&f, ReviewLevel::Review, d("2026-03-04"), &p()).unwrap_err();
        assert_eq!(e.code(), "out_of_order");
        f.review = Some(record("2026-03-05T10:00:00+08:00", Some("2026-03-20")));
        assert_eq!(
            check_decision(&f, ReviewLevel::Review, d("2026-03-21"), &p())
                .unwrap_err()
                .code(),
            "already_decided"
        );
    }

    #[test]
    fn hearings_belong_to_rereview_and_pause_d10() {
        let mut f = facts(true, "2026-03-02");
        f.review = Some(record("2026-03-05T10:00:00+08:00", Some("2026-03-20")));
        let at = t("2026-03-26T09:00:00+08:00");
        assert_eq!(
            check_hearing(&f, ReviewLevel::Review, true, at, &p())
                .unwrap_err()
                .code(),
            "hearing_only_in_rereview"
        );
        assert_eq!(
            check_hearing(&f, ReviewLevel::Rereview, true, at, &p())
                .unwrap_err()
                .code(),
            "not_requested"
        );
        let mut rr = record("2026-03-25T10:00:00+08:00", None);
        f.rereview = Some(rr.clone());
        check_hearing(&f, ReviewLevel::Rereview, true, at, &p()).unwrap();
        assert_eq!(
            check_hearing(&f, ReviewLevel::Rereview, false, at, &p())
                .unwrap_err()
                .code(),
            "no_hearing"
        );
        let plain = decision_due(ReviewLevel::Rereview, &rr, at, &p())
            .unwrap()
            .unwrap();
        assert_eq!(plain, t("2026-04-24T23:59:59+08:00"));
        rr.hearings.push((at, Some(t("2026-03-28T17:00:00+08:00"))));
        f.rereview = Some(rr.clone());
        // Three hearing days (26, 27, 28 March) are not counted.
        let paused = decision_due(ReviewLevel::Rereview, &rr, at, &p())
            .unwrap()
            .unwrap();
        assert_eq!(paused, t("2026-04-27T23:59:59+08:00"));
        rr.hearings.push((t("2026-04-01T09:00:00+08:00"), None));
        f.rereview = Some(rr);
        assert_eq!(
            check_hearing(&f, ReviewLevel::Rereview, true, at, &p())
                .unwrap_err()
                .code(),
            "hearing_open"
        );
        check_hearing(
            &f,
            ReviewLevel::Rereview,
            false,
            t("2026-04-02T09:00:00+08:00"),
            &p(),
        )
        .unwrap();
        // A decision during a hearing ends it (the lifecycle allows it).
        check_decision(&f, ReviewLevel::Rereview, d("2026-04-03"), &p()).unwrap();
    }

    #[test]
    fn lapsed_windows_are_reported_once_they_pass() {
        let s = ReviewScope::default();
        let mut f = facts(true, "2026-03-02");
        let e = check_lapse(&f, t("2026-04-01T12:00:00+08:00"), &s, &p()).unwrap_err();
        assert_eq!(e.code(), "appeal_window_open");
        assert_eq!(
            check_lapse(&f, t("2026-04-02T00:00:01+08:00"), &s, &p()).unwrap(),
            DeadlineKind::D7
        );
        f.review = Some(record("2026-03-05T10:00:00+08:00", None));
        assert_eq!(
            check_lapse(&f, t("2026-06-01T00:00:00+08:00"), &s, &p())
                .unwrap_err()
                .code(),
            "not_allowed"
        );
        f.review = Some(record("2026-03-05T10:00:00+08:00", Some("2026-03-20")));
        // The D9 window ends Monday 20 April (rolled over from Sunday 19 April).
        assert_eq!(
            check_lapse(&f, t("2026-04-20T00:00:01+08:00"), &s, &p())
                .unwrap_err()
                .code(),
            "appeal_window_open"
        );
        assert_eq!(
            check_lapse(&f, t("2026-04-21T00:00:01+08:00"), &s, &p()).unwrap(),
            DeadlineKind::D9
        );
        f.final_without_appeal = true;
        assert_eq!(
            check_lapse(&f, t("2026-04-21T00:00:01+08:00"), &s, &p())
                .unwrap_err()
                .code(),
            "already_final"
        );
        let no_opinion = facts(false, "2026-03-02");
        assert_eq!(
            check_lapse(&no_opinion, t("2026-06-01T00:00:00+08:00"), &s, &p())
                .unwrap_err()
                .code(),
            "no_appeal_window"
        );
    }

    #[test]
    fn evaluations_need_a_reason_for_dissatisfied_and_an_open_window() {
        let rules = DeadlineRules::default();
        let policy = Policy {
            calendar: p().calendar,
            rules: &rules,
        };
        let served = Some(d("2026-03-02"));
        let now = t("2026-03-10T10:00:00+08:00");
        let ok = check_evaluation(
            served,
            false,
            Rating::Satisfied,
            Rating::BasicallySatisfied,
            None,
            now,
            &policy,
        )
        .unwrap();
        assert_eq!(ok, None);
        let e = check_evaluation(
            served,
            false,
            Rating::Satisfied,
            Rating::Dissatisfied,
            Some("  "),
            now,
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.code(), "reason_required");
        assert!(matches!(&e, EvaluationError::Invalid(v) if v.field == "reason"));
        assert_eq!(
            check_evaluation(
                served,
                false,
                Rating::Dissatisfied,
                Rating::Satisfied,
                Some(" 态度差 "),
                now,
                &policy
            )
            .unwrap()
            .as_deref(),
            Some("态度差")
        );
        let late = t("2026-04-02T00:00:00+08:00");
        let e = check_evaluation(
            served,
            false,
            Rating::Satisfied,
            Rating::Satisfied,
            None,
            late,
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.code(), "evaluation_window_closed");
        let short_rules = DeadlineRules::default()
            .with_evaluation_window_days(5)
            .unwrap();
        let short = Policy {
            calendar: p().calendar,
            rules: &short_rules,
        };
        assert!(
            check_evaluation(
                served,
                false,
                Rating::Satisfied,
                Rating::Satisfied,
                None,
                now,
                &short
            )
            .is_err()
        );
        assert_eq!(
            check_evaluation(
                None,
                false,
                Rating::Satisfied,
                Rating::Satisfied,
                None,
                now,
                &policy
            )
            .unwrap_err(),
            EvaluationError::NotServed
        );
        assert_eq!(
            check_evaluation(
                served,
                true,
                Rating::Satisfied,
                Rating::Satisfied,
                None,
                now,
                &policy
            )
            .unwrap_err(),
            EvaluationError::AlreadyEvaluated
        );
    }

    #[test]
    fn the_evaluation_window_rolls_over_off_a_rest_day() {
        // Served 2026-09-01: 30 days end on 10-01 (National Day) → open until 10-08.
        let served = Some(d("2026-09-01"));
        let rate = |now: &str| {
            check_evaluation(
                served,
                false,
                Rating::Satisfied,
                Rating::Satisfied,
                None,
                t(now),
                &p(),
            )
        };
        assert!(rate("2026-10-08T20:00:00+08:00").is_ok());
        let e = rate("2026-10-09T00:00:01+08:00").unwrap_err();
        assert_eq!(e.code(), "evaluation_window_closed");
        assert!(e.to_string().contains("2026-10-08"), "{e}");
    }

    #[test]
    fn organs_follow_the_directory_and_end_outside_it() {
        let raw = include_str!("../../../config/directory.toml");
        let dir = Directory::from_toml_str(raw).unwrap();
        let c = |s: &str| CountyCode::parse(s).unwrap();
        let handler = original_handler(&dir, &c("411282"), "rsj").unwrap();
        assert_eq!(handler.to_string(), "411282:rsj");
        let review = next_organ(&dir, &handler).unwrap();
        assert_eq!(
            review,
            Organ::Internal(OrganRef::parse("411282:gov").unwrap())
        );
        let Organ::Internal(review) = review else {
            unreachable!()
        };
        assert_eq!(
            next_organ(&dir, &review).unwrap(),
            Organ::Internal(OrganRef::parse("411200:gov").unwrap())
        );
        assert_eq!(
            next_organ(&dir, &OrganRef::parse("411200:gov").unwrap()).unwrap(),
            Organ::External
        );
        assert_eq!(
            original_handler(&dir, &c("411282"), "nope")
                .unwrap_err()
                .code(),
            "unknown_organ"
        );
    }

    #[test]
    fn outcomes_and_levels_parse_both_spellings() {
        for o in ReviewOutcome::ALL {
            assert_eq!(ReviewOutcome::parse(o.as_str()).unwrap(), o);
            assert_eq!(ReviewOutcome::parse(o.zh()).unwrap(), o);
        }
        assert_eq!(ReviewOutcome::parse("keep").unwrap_err().field, "outcome");
        assert_eq!(parse_level("复核").unwrap(), ReviewLevel::Rereview);
        assert_eq!(level_str(ReviewLevel::Review), "review");
        assert!(parse_level("appeal").is_err());
    }
}
