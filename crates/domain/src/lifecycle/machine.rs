use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::case::{Appeal, Case, Extension, Hearing, HearingStage, Opinion, Routing, RoutingMode};
use super::{CaseState, Command, LifecycleError, NotAcceptGround};
use crate::calendar::Calendar;
use crate::county::CountyCode;
use crate::deadline::{Adjustments, DeadlineKind, DeadlineRules, compute, compute_handling};
use crate::petition::{Art31Branch, PetitionType};
use crate::subject::{self, Subject, SubjectError};

/// The calendar and deadline settings the window guards (D4, D7, D9) are computed with.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub calendar: &'a Calendar,
    pub rules: &'a DeadlineRules,
}

impl Policy<'static> {
    /// The embedded calendar and the Decisions' default rules.
    pub fn standard() -> Policy<'static> {
        static CALENDAR: OnceLock<Calendar> = OnceLock::new();
        static RULES: OnceLock<DeadlineRules> = OnceLock::new();
        Policy {
            calendar: CALENDAR.get_or_init(Calendar::embedded),
            rules: RULES.get_or_init(DeadlineRules::default),
        }
    }
}

/// A [`Policy`] that holds its calendar: a snapshot of a calendar that may be reloaded while
/// the service runs. Take one per operation and use [`PolicySnapshot::get`].
#[derive(Debug, Clone)]
pub struct PolicySnapshot<'a> {
    pub calendar: std::sync::Arc<Calendar>,
    pub rules: &'a DeadlineRules,
}

impl PolicySnapshot<'_> {
    pub fn get(&self) -> Policy<'_> {
        Policy {
            calendar: &self.calendar,
            rules: self.rules,
        }
    }
}

/// A successful step: the case after it and the event to publish as `xf.<county>.case.<event>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: CaseState,
    pub to: CaseState,
    pub command: &'static str,
    /// Lowercase ASCII subject token, e.g. `accepted`, `extended`, `terminated`.
    pub event: &'static str,
    pub case: Case,
}

impl Transition {
    /// `xf.<county>.case.<event>`.
    pub fn subject(&self, county: &CountyCode) -> Result<Subject, SubjectError> {
        subject::case_event(county, self.event)
    }
}

use CaseState::*;

/// The states each command may start from (domain.md §10.2). Guards come on top.
const FROM: &[(&str, &[CaseState])] = &[
    ("register", &[Received]),
    (
        "classify",
        &[
            Registered,
            EscalatedToLeadership,
            Forwarded,
            Assigned,
            Objected,
            Accepted,
        ],
    ),
    ("forward", &[Registered, EscalatedToLeadership]),
    ("assign", &[Registered, EscalatedToLeadership]),
    ("escalate_to_leadership", &[Registered]),
    ("route_political_legal", &[Registered]),
    ("route_discipline", &[Registered]),
    ("guide_elsewhere", &[Registered]),
    ("not_accept", &[Registered]),
    ("not_reaccept", &[Registered]),
    // REGISTERED → ACCEPTED when the registering organ is itself competent (Art 23 para 1).
    ("accept", &[Registered, Forwarded, Assigned]),
    ("object", &[Forwarded, Assigned]),
    ("objection_upheld", &[Objected]),
    ("objection_rejected", &[Objected]),
    (
        "reroute",
        &[
            Forwarded,
            Assigned,
            Objected,
            Accepted,
            UnderInvestigation,
            Extended,
            // A wrong diversion at intake, corrected by a clerk (no unit accepted it).
            GuidedElsewhere,
            RoutedPoliticalLegal,
        ],
    ),
    ("channel", &[Accepted]),
    // Art 31(2)–(4) found by the handling organ after acceptance, before its opinion.
    ("divert", &[Accepted, UnderInvestigation, Extended]),
    ("perform_duty", &[Accepted]),
    ("start_investigation", &[Accepted]),
    // Admitted in EXTENDED so that a second extension meets its own Art 34 refusal.
    ("extend", &[UnderInvestigation, Extended]),
    (
        "start_hearing",
        &[UnderInvestigation, Extended, RereviewRequested],
    ),
    ("finish_hearing", &[InHearing]),
    ("mediate", &[Accepted, UnderInvestigation, Extended]),
    ("issue_opinion", &[UnderInvestigation, Extended, InHearing]),
    ("reply", &[Accepted]),
    (
        "submit_for_check",
        &[Mediated, OpinionIssued, DutyPerformed, Channelled, Replied],
    ),
    ("check_passed", &[PendingSuperiorCheck]),
    ("check_failed", &[PendingSuperiorCheck]),
    ("rework", &[ReturnedForRedo]),
    (
        "close",
        &[Mediated, OpinionIssued, DutyPerformed, Channelled, Replied],
    ),
    ("request_review", &[Closed]),
    ("decide_review", &[ReviewRequested]),
    ("request_rereview", &[ReviewDecided]),
    ("decide_rereview", &[RereviewRequested, InHearing]),
    ("lapse_appeal_window", &[Closed, ReviewDecided]),
    // A 复查/复核 decision that revokes or changes the opinion (Art 35-36). From the decided
    // states; and from the states a served result leaves the case in, because the handling
    // organ's copy of the case (routing) does not follow the appeals the review organs record.
    (
        "remand",
        &[
            OpinionIssued,
            DutyPerformed,
            Replied,
            PendingSuperiorCheck,
            Closed,
            ReviewDecided,
            RereviewDecided,
        ],
    ),
    // Decisions 4: only a 复核 decision leads to TERMINATED.
    ("terminate", &[RereviewDecided]),
];

/// Every event name a transition can carry.
pub const EVENTS: &[&str] = &[
    "registered",
    "reclassified",
    "forwarded",
    "assigned",
    "escalated",
    "routed_political_legal",
    "routed_discipline",
    "guided_elsewhere",
    "not_accepted",
    "not_reaccepted",
    "accepted",
    "objected",
    "objection_decided",
    "rerouted",
    "diverted",
    "duty_performed",
    "investigation_started",
    "extended",
    "hearing_started",
    "hearing_finished",
    "mediated",
    "opinion_issued",
    "replied",
    "submitted_for_check",
    "closed",
    "returned_for_redo",
    "reworked",
    "review_requested",
    "review_decided",
    "rereview_requested",
    "rereview_decided",
    "final_without_appeal",
    "remanded",
    "terminated",
];

/// Commands `state` admits, before guards.
pub fn allowed_commands(state: CaseState) -> Vec<&'static str> {
    FROM.iter()
        .filter(|(_, states)| states.contains(&state))
        .map(|(name, _)| *name)
        .collect()
}

/// [`apply_with`] under [`Policy::standard`].
pub fn apply(case: &Case, command: &Command) -> Result<Transition, LifecycleError> {
    apply_with(case, command, &Policy::standard())
}

/// Applies `command` to `case`, or says which rule refuses it.
pub fn apply_with(
    case: &Case,
    command: &Command,
    policy: &Policy<'_>,
) -> Result<Transition, LifecycleError> {
    let name = command.name();
    let allowed = allowed_commands(case.state);
    if !allowed.contains(&name) {
        return Err(LifecycleError::NotAllowed {
            command: name,
            state: case.state,
            allowed,
        });
    }
    let mut next = case.clone();
    let (to, event) = step(case, &mut next, command, policy)?;
    next.state = to;
    Ok(Transition {
        from: case.state,
        to,
        command: name,
        event,
        case: next,
    })
}

fn step(
    case: &Case,
    next: &mut Case,
    command: &Command,
    policy: &Policy<'_>,
) -> Result<(CaseState, &'static str), LifecycleError> {
    let name = command.name();
    Ok(match command {
        Command::Register { at } => {
            next.registered_at = Some(*at);
            (Registered, "registered")
        }
        Command::Classify {
            petition_type,
            branch,
        } => {
            if branch.is_some() && *petition_type != PetitionType::Grievance {
                return Err(LifecycleError::BranchWithoutGrievance);
            }
            next.petition_type = Some(*petition_type);
            next.branch = *branch;
            if *petition_type == PetitionType::Accusation {
                next.confidential = true;
            }
            (case.state, "reclassified")
        }
        Command::Forward {
            at,
            report_required,
        } => {
            next.routing = Some(Routing {
                mode: RoutingMode::Forwarded,
                at: *at,
                report_required: *report_required,
            });
            (Forwarded, "forwarded")
        }
        Command::Assign {
            at,
            report_required,
        } => {
            next.routing = Some(Routing {
                mode: RoutingMode::Assigned,
                at: *at,
                report_required: *report_required,
            });
            (Assigned, "assigned")
        }
        Command::EscalateToLeadership => {
            next.urgent = true;
            (EscalatedToLeadership, "escalated")
        }
        Command::RoutePoliticalLegal => (RoutedPoliticalLegal, "routed_political_legal"),
        Command::RouteDiscipline => {
            if let Some(found) = case
                .petition_type
                .filter(|t| *t != PetitionType::Accusation)
            {
                return Err(LifecycleError::WrongType {
                    command: name,
                    required: "检举控告类",
                    article: "Art 22 para 2, Art 30",
                    found,
                });
            }
            next.petition_type = Some(PetitionType::Accusation);
            // Whistle-blower material must never reach the accused (Art 30 para 3).
            next.confidential = true;
            (RoutedDiscipline, "routed_discipline")
        }
        Command::GuideElsewhere => (GuidedElsewhere, "guided_elsewhere"),
        Command::NotAccept { ground } => {
            match ground {
                NotAcceptGround::PendingElsewhere {
                    earlier_case,
                    earlier_due,
                    at,
                } => {
                    require_text(name, earlier_case, "the earlier case", "Art 19 para 3")?;
                    if at > earlier_due {
                        return Err(LifecycleError::EarlierMatterOutOfTime {
                            earlier_due: *earlier_due,
                        });
                    }
                    next.repeat_of = Some(earlier_case.trim().to_owned());
                }
                NotAcceptGround::Other { reason } => {
                    require_text(name, reason, "the reason", "Art 19")?;
                }
            }
            (NotAccepted, "not_accepted")
        }
        Command::NotReaccept { repeat_of } => {
            require_text(
                name,
                repeat_of,
                "the re-reviewed case it repeats",
                "Art 36 para 3",
            )?;
            next.repeat_of = Some(repeat_of.trim().to_owned());
            (NotReaccepted, "not_reaccepted")
        }
        Command::Accept { at } => {
            next.accepted_at = Some(*at);
            (Accepted, "accepted")
        }
        Command::Object { at, reason } => {
            if reason.trim().is_empty() {
                return Err(LifecycleError::ObjectionWithoutReason);
            }
            let routing = case.routing.as_ref().ok_or(LifecycleError::Inconsistent(
                "forwarded without a forwarding",
            ))?;
            not_before("the objection", *at, "the forwarding", routing.at)?;
            let window_ended = due(DeadlineKind::D4, routing.at, policy)?;
            if *at > window_ended {
                return Err(LifecycleError::ObjectionWindowClosed { window_ended });
            }
            (Objected, "objected")
        }
        Command::ObjectionUpheld => {
            next.routing = None;
            (Registered, "objection_decided")
        }
        Command::Reroute => {
            // The new unit starts afresh: its own acceptance, its own handling deadline.
            next.routing = None;
            next.accepted_at = None;
            next.extension = None;
            (Registered, "rerouted")
        }
        Command::ObjectionRejected { at } => {
            next.accepted_at = Some(*at);
            (Accepted, "objection_decided")
        }
        Command::Channel { diversion } => {
            enter_branch(case, next, name, diversion.branch(), "Art 31(1)-(4)")?;
            next.diversion = Some(*diversion);
            (Channelled, "diverted")
        }
        Command::Divert {
            diversion,
            served_at,
        } => {
            // The handling organ's finding replaces the registration's branch (domain.md §5.5
            // rows 7–10 are the handling organ's); only 申诉求决 matters have Art 31 branches.
            only_grievance(case, name, "Art 31(1)-(4)")?;
            let accepted = case.accepted_at.ok_or(LifecycleError::Inconsistent(
                "accepted without an acceptance date",
            ))?;
            not_before(
                "service of the guidance",
                *served_at,
                "acceptance",
                accepted,
            )?;
            next.petition_type = Some(PetitionType::Grievance);
            next.branch = Some(diversion.branch());
            next.diversion = Some(*diversion);
            (Channelled, "diverted")
        }
        Command::PerformDuty => {
            enter_branch(case, next, name, Art31Branch::DutyPerformance, "Art 31(5)")?;
            (DutyPerformed, "duty_performed")
        }
        Command::StartInvestigation => {
            enter_branch(case, next, name, Art31Branch::Residual, "Art 31(6)")?;
            // After a rework the one extension stays spent, and the state says so.
            let to = if case.extension.is_some() {
                Extended
            } else {
                UnderInvestigation
            };
            (to, "investigation_started")
        }
        Command::Extend {
            days,
            approver,
            reason,
            at,
        } => {
            if case.extension.is_some() {
                return Err(LifecycleError::ExtensionAlreadyUsed);
            }
            if let Some(remanded_at) = case.remanded_at {
                return Err(LifecycleError::ExtensionAfterRemand { remanded_at });
            }
            // Art 34 extends a running handling deadline; once D5 has passed there is nothing
            // left to extend (the organ is overdue, and the 督办 has started).
            if let Some(accepted_at) = case.accepted_at {
                let handling = compute_handling(
                    accepted_at,
                    case.petition_type,
                    case.branch,
                    policy.calendar,
                    policy.rules,
                    &Adjustments::default(),
                )?;
                if let Some(handling_ended) = handling.due
                    && *at > handling_ended
                {
                    return Err(LifecycleError::ExtensionTooLate { handling_ended });
                }
            }
            let max = policy.rules.max_extension_days();
            if !(1..=max).contains(days) {
                return Err(LifecycleError::ExtensionOutOfRange { days: *days, max });
            }
            if approver.trim().is_empty() {
                return Err(LifecycleError::ExtensionIncomplete {
                    missing: "approving head of the organ",
                });
            }
            if reason.trim().is_empty() {
                return Err(LifecycleError::ExtensionIncomplete {
                    missing: "reason told to the petitioner",
                });
            }
            next.extension = Some(Extension {
                days: *days,
                approver: approver.trim().to_owned(),
                reason: reason.trim().to_owned(),
            });
            (Extended, "extended")
        }
        Command::StartHearing { at } => {
            let stage = if case.state == RereviewRequested {
                HearingStage::Rereview
            } else {
                HearingStage::FirstInstance
            };
            next.hearing = Some(stage);
            next.hearings.push(Hearing {
                stage,
                started_at: *at,
                finished_at: None,
            });
            (InHearing, "hearing_started")
        }
        Command::FinishHearing { at } => {
            let stage = case.hearing.ok_or(LifecycleError::Inconsistent(
                "in hearing without a hearing stage",
            ))?;
            finish_hearing(next, *at)?;
            let to = match stage {
                HearingStage::Rereview => RereviewRequested,
                HearingStage::FirstInstance if case.extension.is_some() => Extended,
                HearingStage::FirstInstance => UnderInvestigation,
            };
            (to, "hearing_finished")
        }
        Command::Mediate => {
            only_grievance(case, name, "Art 33")?;
            next.petition_type = Some(PetitionType::Grievance);
            (Mediated, "mediated")
        }
        Command::IssueOpinion { outcome, served_at } => {
            if case.state == InHearing {
                if case.hearing == Some(HearingStage::Rereview) {
                    return Err(LifecycleError::HearingIsRereview);
                }
                finish_hearing(next, *served_at)?;
            }
            if let Some(accepted) = case.accepted_at {
                not_before("service of the opinion", *served_at, "acceptance", accepted)?;
            }
            next.opinion = Some(Opinion {
                outcome: *outcome,
                served_at: *served_at,
            });
            (OpinionIssued, "opinion_issued")
        }
        Command::Reply => {
            const REQUIRED: &str = "建议意见类 and 检举控告类";
            const ARTICLE: &str = "Art 29, Art 30";
            match case.petition_type {
                Some(PetitionType::Suggestion | PetitionType::Accusation) => {}
                Some(found) => {
                    return Err(LifecycleError::WrongType {
                        command: name,
                        required: REQUIRED,
                        article: ARTICLE,
                        found,
                    });
                }
                None => {
                    return Err(LifecycleError::NotClassified {
                        command: name,
                        required: REQUIRED,
                        article: ARTICLE,
                    });
                }
            }
            (Replied, "replied")
        }
        Command::SubmitForCheck => {
            if case.routing.is_none() {
                return Err(LifecycleError::NothingToCheck);
            }
            (PendingSuperiorCheck, "submitted_for_check")
        }
        Command::CheckPassed => (Closed, "closed"),
        Command::CheckFailed => (ReturnedForRedo, "returned_for_redo"),
        Command::Rework => {
            // The redo may take another route, so the route's results go; acceptance and the
            // spent extension stay, because the handling clock does not restart.
            next.branch = None;
            next.diversion = None;
            next.opinion = None;
            next.hearing = None;
            (Accepted, "reworked")
        }
        Command::Close => {
            if case.report_required() {
                return Err(LifecycleError::CompletionReportRequired);
            }
            (Closed, "closed")
        }
        Command::RequestReview { at } => {
            if !case.has_handling_opinion() {
                return Err(LifecycleError::ReviewNeedsHandlingOpinion);
            }
            let served = case
                .opinion
                .as_ref()
                .map(|o| o.served_at)
                .ok_or(LifecycleError::ReviewNeedsHandlingOpinion)?;
            not_before("the review request", *at, "service of the opinion", served)?;
            let window_ended = due(DeadlineKind::D7, served, policy)?;
            if *at > window_ended {
                return Err(LifecycleError::ReviewWindowClosed { window_ended });
            }
            next.review = Some(Appeal {
                requested_at: *at,
                decision_served_at: None,
            });
            // A request made in time wins over an earlier inference that the window lapsed.
            next.final_without_appeal = false;
            (ReviewRequested, "review_requested")
        }
        Command::DecideReview { served_at } => {
            let review = next.review.as_mut().ok_or(LifecycleError::Inconsistent(
                "review requested without a request",
            ))?;
            not_before(
                "service of the review opinion",
                *served_at,
                "the review request",
                review.requested_at,
            )?;
            review.decision_served_at = Some(*served_at);
            (ReviewDecided, "review_decided")
        }
        Command::RequestRereview { at } => {
            let served = case
                .review
                .as_ref()
                .and_then(|r| r.decision_served_at)
                .ok_or(LifecycleError::Inconsistent(
                    "review decided without service",
                ))?;
            not_before(
                "the re-review request",
                *at,
                "service of the review opinion",
                served,
            )?;
            let window_ended = due(DeadlineKind::D9, served, policy)?;
            if *at > window_ended {
                return Err(LifecycleError::RereviewWindowClosed { window_ended });
            }
            next.rereview = Some(Appeal {
                requested_at: *at,
                decision_served_at: None,
            });
            next.final_without_appeal = false;
            (RereviewRequested, "rereview_requested")
        }
        Command::DecideRereview { served_at } => {
            if case.state == InHearing {
                if case.hearing == Some(HearingStage::FirstInstance) {
                    return Err(LifecycleError::HearingIsFirstInstance);
                }
                finish_hearing(next, *served_at)?;
            }
            let rereview = next.rereview.as_mut().ok_or(LifecycleError::Inconsistent(
                "re-review requested without a request",
            ))?;
            not_before(
                "service of the re-review opinion",
                *served_at,
                "the re-review request",
                rereview.requested_at,
            )?;
            rereview.decision_served_at = Some(*served_at);
            (RereviewDecided, "rereview_decided")
        }
        Command::LapseAppealWindow { now } => {
            if case.final_without_appeal {
                return Err(LifecycleError::AlreadyFinal);
            }
            let (kind, window, served) = if case.state == Closed {
                if !case.has_handling_opinion() {
                    return Err(LifecycleError::NoAppealWindow);
                }
                (
                    DeadlineKind::D7,
                    "复查 (D7, Art 35)",
                    case.opinion.as_ref().map(|o| o.served_at),
                )
            } else {
                (
                    DeadlineKind::D9,
                    "复核 (D9, Art 36)",
                    case.review.as_ref().and_then(|r| r.decision_served_at),
                )
            };
            let served = served.ok_or(LifecycleError::Inconsistent(
                "appeal window without service",
            ))?;
            let window_ends = due(kind, served, policy)?;
            if *now <= window_ends {
                return Err(LifecycleError::AppealWindowOpen {
                    window,
                    window_ends,
                });
            }
            // Decisions 4: stays in its state, marked final; only 复核 terminates.
            next.final_without_appeal = true;
            (case.state, "final_without_appeal")
        }
        Command::Remand { at } => {
            let served = case
                .rereview
                .as_ref()
                .and_then(|r| r.decision_served_at)
                .or_else(|| case.review.as_ref().and_then(|r| r.decision_served_at))
                .or_else(|| case.opinion.as_ref().map(|o| o.served_at));
            if let Some(served) = served {
                not_before("the remand", *at, "service of the decision", served)?;
            }
            // The revoked result and its appeals go (their windows with them); acceptance
            // stays, and the spent extension stays spent.
            next.opinion = None;
            next.review = None;
            next.rereview = None;
            next.hearing = None;
            next.hearings
                .retain(|h| h.stage == HearingStage::FirstInstance);
            next.final_without_appeal = false;
            next.remanded_at = Some(*at);
            // An Art 31(6) matter is investigated again and ends in a new 信访处理意见书;
            // any other result is given again from acceptance.
            let investigates = case.petition_type == Some(PetitionType::Grievance)
                && matches!(case.branch, None | Some(Art31Branch::Residual));
            let to = if investigates {
                next.petition_type = Some(PetitionType::Grievance);
                next.branch = Some(Art31Branch::Residual);
                UnderInvestigation
            } else {
                Accepted
            };
            (to, "remanded")
        }
        Command::Terminate => (Terminated, "terminated"),
    })
}

fn due(
    kind: DeadlineKind,
    trigger: DateTime<FixedOffset>,
    policy: &Policy<'_>,
) -> Result<DateTime<FixedOffset>, LifecycleError> {
    compute(
        kind,
        trigger,
        policy.calendar,
        policy.rules,
        &Adjustments::default(),
    )?
    .due
    .ok_or(LifecycleError::Inconsistent(
        "window rule without a time limit",
    ))
}

fn not_before(
    what: &'static str,
    at: DateTime<FixedOffset>,
    earlier: &'static str,
    earlier_at: DateTime<FixedOffset>,
) -> Result<(), LifecycleError> {
    if at < earlier_at {
        Err(LifecycleError::OutOfOrder { what, earlier })
    } else {
        Ok(())
    }
}

fn require_text(
    command: &'static str,
    value: &str,
    what: &'static str,
    article: &'static str,
) -> Result<(), LifecycleError> {
    if value.trim().is_empty() {
        Err(LifecycleError::MissingRecord {
            command,
            what,
            article,
        })
    } else {
        Ok(())
    }
}

fn only_grievance(
    case: &Case,
    command: &'static str,
    article: &'static str,
) -> Result<(), LifecycleError> {
    match case.petition_type {
        Some(found) if found != PetitionType::Grievance => Err(LifecycleError::WrongType {
            command,
            required: "申诉求决类",
            article,
            found,
        }),
        _ => Ok(()),
    }
}

/// Takes an Art 31 branch: the matter must be (or become) 申诉求决类 and not already be
/// classified into another branch.
fn enter_branch(
    case: &Case,
    next: &mut Case,
    command: &'static str,
    branch: Art31Branch,
    article: &'static str,
) -> Result<(), LifecycleError> {
    only_grievance(case, command, article)?;
    if let Some(found) = case.branch.filter(|b| *b != branch) {
        return Err(LifecycleError::WrongBranch {
            command,
            expected: branch,
            found,
        });
    }
    next.petition_type = Some(PetitionType::Grievance);
    next.branch = Some(branch);
    Ok(())
}

/// Ends the open hearing at `at`, clearing the stage.
fn finish_hearing(next: &mut Case, at: DateTime<FixedOffset>) -> Result<(), LifecycleError> {
    next.hearing = None;
    if let Some(open) = next
        .hearings
        .iter_mut()
        .rev()
        .find(|h| h.finished_at.is_none())
    {
        not_before("the end of the hearing", at, "its start", open.started_at)?;
        open.finished_at = Some(at);
    }
    Ok(())
}
