//! Diversion and handling (issue #13): the rules around a matter once it has left the bureau —
//! a clerk's correction of a diversion made at intake, a department's transfer that waits for
//! the bureau's approval (Art 23 para 3), the bureau's check of a completion report
//! (Art 22 para 1(3)) — as plain functions. The lifecycle steps themselves are in
//! [`crate::lifecycle`] (`divert`, `reroute`, `submit_for_check`, `check_passed`,
//! `check_failed`, `rework`); the routing to the 纪委监委 with authority is
//! [`crate::directory::Directory::discipline_with_authority`].

use crate::lifecycle::{CaseState, allowed_commands};
use crate::petition::{Art31Branch, Diversion, PetitionType};
use crate::validation::ValidationError;

/// A clerk's change to one classification field: leave it, clear it, or set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<T> {
    Keep,
    Clear,
    Set(T),
}

impl<T: Copy> Change<T> {
    fn apply(self, before: Option<T>) -> Option<T> {
        match self {
            Change::Keep => before,
            Change::Clear => None,
            Change::Set(v) => Some(v),
        }
    }
}

/// The Art 31 branch and the legal channel of a matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Channelling {
    pub branch: Option<Art31Branch>,
    pub diversion: Option<Diversion>,
}

/// True for the branches that leave the petition track (Art 31(1)–(4)).
pub fn is_diversion_branch(branch: Art31Branch) -> bool {
    !matches!(branch, Art31Branch::DutyPerformance | Art31Branch::Residual)
}

/// The branch and diversion after a clerk's correction (domain.md §5.5). Branches and
/// diversions exist only for 申诉求决 matters (Art 31), so other types have neither. The two
/// fields are kept consistent, so that routing reads the clerk's intent:
/// - clearing the diversion also clears a diversion branch (31(1)–(4)) the clerk left as it
///   was: the matter is then routed to a handling unit;
/// - a new diversion brings its branch, and a new branch 31(5)/31(6) drops the diversion;
/// - a new branch and a new diversion that disagree are refused, naming `diversion`.
pub fn correct_channel(
    petition_type: PetitionType,
    before: Channelling,
    branch: Change<Art31Branch>,
    diversion: Change<Diversion>,
) -> Result<Channelling, ValidationError> {
    if petition_type != PetitionType::Grievance {
        return Ok(Channelling::default());
    }
    if let (Change::Set(b), Change::Set(d)) = (branch, diversion)
        && d.branch() != b
    {
        return Err(ValidationError::new(
            "diversion",
            "diversion_branch_mismatch",
            format!(
                "the diversion {} belongs to Art 31 branch {}, not {} (Art 31)",
                d.as_str(),
                d.branch().as_str(),
                b.as_str()
            ),
        ));
    }
    let mut new_branch = branch.apply(before.branch);
    let mut new_diversion = diversion.apply(before.diversion);
    match (branch, diversion) {
        (Change::Keep, Change::Clear) => {
            new_branch = new_branch.filter(|b| !is_diversion_branch(*b));
        }
        (Change::Keep | Change::Clear, Change::Set(d)) => new_branch = Some(d.branch()),
        (Change::Set(b), Change::Keep) => {
            new_diversion = new_diversion.filter(|d| d.branch() == b);
        }
        (Change::Clear, Change::Keep) => {
            // No branch: a diversion alone still decides the channel.
        }
        _ => {}
    }
    Ok(Channelling {
        branch: new_branch,
        diversion: new_diversion,
    })
}

/// Registry statuses in which no handling unit has accepted the matter.
const NOT_YET_ACCEPTED: &[&str] = &["registered", "forwarded", "assigned", "objected"];

/// May a clerk correct the classification of a case in registry `status`? Only before a
/// handling unit has accepted it. A matter diverted at intake (`diverted`, never accepted) is
/// the bureau's own disposition and can be corrected; a diversion by the handling unit after
/// acceptance is that unit's finding and cannot.
pub fn clerk_may_reclassify(status: &str, accepted_by_a_unit: bool) -> bool {
    NOT_YET_ACCEPTED.contains(&status) || (status == "diverted" && !accepted_by_a_unit)
}

/// A transfer between departments is possible while the matter is forwarded or assigned and
/// not yet accepted — the window in which the unit may also object (Art 23 para 3).
pub fn transfer_window_open(state: CaseState) -> bool {
    allowed_commands(state).contains(&"object")
}

/// The bureau's answer to a department's request (a transfer, a completion report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BureauAnswer {
    /// Approved / check passed.
    pub yes: bool,
    /// Why; required when refusing, recorded when given.
    pub reason: Option<String>,
}

/// The bureau's decision on a transfer request (Art 23 para 3: the bureau verifies and
/// agrees): `approved` or `rejected`, with a reason either way.
pub fn transfer_decision(
    decision: Option<&str>,
    reason: Option<&str>,
) -> Result<BureauAnswer, ValidationError> {
    let yes = match decision.map(str::trim) {
        Some("approved" | "approve" | "同意") => true,
        Some("rejected" | "reject" | "不同意") => false,
        _ => {
            return Err(ValidationError::new(
                "decision",
                "unknown_value",
                "must be one of: approved, rejected",
            ));
        }
    };
    let reason = required_reason(
        reason,
        "the bureau records why it approves or rejects a transfer (Art 23 para 3)",
    )?;
    Ok(BureauAnswer {
        yes,
        reason: Some(reason),
    })
}

/// The bureau's check of a completion report (Art 22 para 1(3)): `passed` (办结) or `failed`
/// (退回重办, with the reason the department must address).
pub fn check_result(
    result: Option<&str>,
    reason: Option<&str>,
) -> Result<BureauAnswer, ValidationError> {
    let yes = match result.map(str::trim) {
        Some("passed" | "通过") => true,
        Some("failed" | "退回重办") => false,
        _ => {
            return Err(ValidationError::new(
                "result",
                "unknown_value",
                "must be one of: passed, failed",
            ));
        }
    };
    let reason = if yes {
        reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
    } else {
        Some(required_reason(
            reason,
            "a failed check states what the department must redo (Art 22 para 1(3))",
        )?)
    };
    Ok(BureauAnswer { yes, reason })
}

fn required_reason(reason: Option<&str>, why: &str) -> Result<String, ValidationError> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Ok(r.to_owned()),
        None => Err(ValidationError::new("reason", "required", why)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, FixedOffset};

    use super::*;
    use crate::lifecycle::{Case, Command, LifecycleError, Transition, apply};
    use CaseState::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn ok(case: &Case, cmd: Command) -> Transition {
        apply(case, &cmd)
            .unwrap_or_else(|e| panic!("{} refused in {}: {e}", cmd.name(), case.state))
    }

    fn run(case: Case, cmds: Vec<Command>) -> Case {
        cmds.into_iter().fold(case, |c, cmd| ok(&c, cmd).case)
    }

    fn assigned(report_required: bool, branch: Option<Art31Branch>) -> Case {
        run(
            Case::new(),
            vec![
                Command::Register {
                    at: t("2026-09-28T09:00:00+08:00"),
                },
                Command::Classify {
                    petition_type: PetitionType::Grievance,
                    branch,
                },
                Command::Assign {
                    at: t("2026-09-30T10:00:00+08:00"),
                    report_required,
                },
            ],
        )
    }

    fn investigating(report_required: bool) -> Case {
        run(
            assigned(report_required, Some(Art31Branch::Residual)),
            vec![
                Command::Accept {
                    at: t("2026-10-08T10:00:00+08:00"),
                },
                Command::StartInvestigation,
            ],
        )
    }

    fn divert(diversion: Diversion, served: &str) -> Command {
        Command::Divert {
            diversion,
            served_at: t(served),
        }
    }

    /// Art 31(2)–(4): found during handling, the matter leaves the petition track.
    #[test]
    fn a_handling_unit_diverts_an_accepted_matter_into_a_legal_channel() {
        for (diversion, branch) in [
            (
                Diversion::AdministrativeReconsideration,
                Art31Branch::AdministrativeProcedure,
            ),
            (Diversion::Arbitration, Art31Branch::Arbitration),
            (Diversion::Litigation, Art31Branch::LegalProcedure),
        ] {
            let tr = ok(
                &investigating(false),
                divert(diversion, "2026-10-20T10:00:00+08:00"),
            );
            assert_eq!((tr.to, tr.event), (Channelled, "diverted"));
            assert_eq!(tr.case.branch, Some(branch));
            assert_eq!(tr.case.diversion, Some(diversion));
            // Out of the petition track: no opinion, no extension, no hearing any more.
            for cmd in [
                Command::Extend {
                    days: 10,
                    approver: "局长".into(),
                    reason: "复杂".into(),
                    at: t("2026-10-21T10:00:00+08:00"),
                },
                Command::IssueOpinion {
                    outcome: crate::petition::OpinionOutcome::Supported,
                    served_at: t("2026-10-21T10:00:00+08:00"),
                },
            ] {
                assert!(matches!(
                    apply(&tr.case, &cmd),
                    Err(LifecycleError::NotAllowed { .. })
                ));
            }
        }
        // Right after acceptance too, and after an extension.
        let accepted = run(
            assigned(false, None),
            vec![Command::Accept {
                at: t("2026-10-08T10:00:00+08:00"),
            }],
        );
        ok(
            &accepted,
            divert(Diversion::Arbitration, "2026-10-08T10:00:00+08:00"),
        );
        let extended = ok(
            &investigating(false),
            Command::Extend {
                days: 20,
                approver: "局长".into(),
                reason: "复杂".into(),
                at: t("2026-10-10T10:00:00+08:00"),
            },
        )
        .case;
        ok(
            &extended,
            divert(Diversion::PartyAppeal, "2026-10-20T10:00:00+08:00"),
        );
    }

    #[test]
    fn a_diversion_after_acceptance_needs_a_grievance_accepted_and_served_in_order() {
        // Before acceptance it is the objection or transfer path, not a diversion.
        assert!(matches!(
            apply(
                &assigned(false, None),
                &divert(Diversion::Arbitration, "2026-10-20T10:00:00+08:00")
            ),
            Err(LifecycleError::NotAllowed { .. })
        ));
        // Guidance served before the acceptance is out of order.
        assert!(matches!(
            apply(
                &investigating(false),
                &divert(Diversion::Arbitration, "2026-10-01T10:00:00+08:00")
            ),
            Err(LifecycleError::OutOfOrder { .. })
        ));
        // Suggestions have no Art 31 branch.
        let suggestion = run(
            Case::new(),
            vec![
                Command::Register {
                    at: t("2026-09-28T09:00:00+08:00"),
                },
                Command::Classify {
                    petition_type: PetitionType::Suggestion,
                    branch: None,
                },
                Command::Forward {
                    at: t("2026-09-30T10:00:00+08:00"),
                    report_required: false,
                },
                Command::Accept {
                    at: t("2026-10-08T10:00:00+08:00"),
                },
            ],
        );
        assert!(matches!(
            apply(
                &suggestion,
                &divert(Diversion::Arbitration, "2026-10-20T10:00:00+08:00")
            ),
            Err(LifecycleError::WrongType { .. })
        ));
    }

    /// Art 22 para 1(3): a 交办 matter's result goes to the bureau's check before it closes.
    #[test]
    fn a_completion_report_is_checked_reworked_and_closed() {
        let opinion = ok(
            &investigating(true),
            Command::IssueOpinion {
                outcome: crate::petition::OpinionOutcome::Explained,
                served_at: t("2026-10-25T10:00:00+08:00"),
            },
        )
        .case;
        assert_eq!(
            apply(&opinion, &Command::Close).unwrap_err(),
            LifecycleError::CompletionReportRequired
        );
        let pending = ok(&opinion, Command::SubmitForCheck);
        assert_eq!(
            (pending.to, pending.event),
            (PendingSuperiorCheck, "submitted_for_check")
        );
        let returned = ok(&pending.case, Command::CheckFailed);
        assert_eq!(
            (returned.to, returned.event),
            (ReturnedForRedo, "returned_for_redo")
        );
        let reworked = ok(&returned.case, Command::Rework);
        assert_eq!(reworked.to, Accepted);
        // The handling clock does not restart.
        assert_eq!(reworked.case.accepted_at, opinion.accepted_at);
        assert!(reworked.case.opinion.is_none());
        let again = run(
            reworked.case,
            vec![
                Command::Classify {
                    petition_type: PetitionType::Grievance,
                    branch: Some(Art31Branch::Residual),
                },
                Command::StartInvestigation,
                Command::IssueOpinion {
                    outcome: crate::petition::OpinionOutcome::Supported,
                    served_at: t("2026-11-05T10:00:00+08:00"),
                },
                Command::SubmitForCheck,
            ],
        );
        let closed = ok(&again, Command::CheckPassed);
        assert_eq!((closed.to, closed.event), (Closed, "closed"));
        // A diversion after acceptance on a 交办 matter is reported too.
        let diverted = ok(
            &investigating(true),
            divert(Diversion::Arbitration, "2026-10-20T10:00:00+08:00"),
        )
        .case;
        assert_eq!(
            apply(&diverted, &Command::Close).unwrap_err(),
            LifecycleError::CompletionReportRequired
        );
        assert_eq!(
            ok(&diverted, Command::SubmitForCheck).to,
            PendingSuperiorCheck
        );
    }

    /// A wrong diversion at intake (no unit ever accepted it) is routed again.
    #[test]
    fn a_diversion_at_intake_can_be_taken_back_and_routed_again() {
        let registered = run(
            Case::new(),
            vec![Command::Register {
                at: t("2026-09-28T09:00:00+08:00"),
            }],
        );
        for cmd in [Command::GuideElsewhere, Command::RoutePoliticalLegal] {
            let diverted = ok(&registered, cmd).case;
            let back = ok(&diverted, Command::Reroute);
            assert_eq!((back.to, back.event), (Registered, "rerouted"));
            // Routed afresh: forwarded to a handling unit.
            assert_eq!(
                ok(
                    &back.case,
                    Command::Forward {
                        at: t("2026-10-02T10:00:00+08:00"),
                        report_required: false,
                    }
                )
                .to,
                Forwarded
            );
        }
    }

    #[test]
    fn a_clerk_clearing_the_diversion_sends_the_matter_to_a_handling_unit() {
        let diverted = Channelling {
            branch: Some(Art31Branch::Arbitration),
            diversion: Some(Diversion::Arbitration),
        };
        let g = PetitionType::Grievance;
        // Diversion set back to none: the arbitration branch goes with it.
        assert_eq!(
            correct_channel(g, diverted, Change::Keep, Change::Clear).unwrap(),
            Channelling::default()
        );
        // A diversion-free branch drops the diversion.
        assert_eq!(
            correct_channel(
                g,
                diverted,
                Change::Set(Art31Branch::Residual),
                Change::Keep
            )
            .unwrap(),
            Channelling {
                branch: Some(Art31Branch::Residual),
                diversion: None
            }
        );
        // Another channel brings its branch.
        assert_eq!(
            correct_channel(
                g,
                diverted,
                Change::Keep,
                Change::Set(Diversion::AdministrativeReconsideration)
            )
            .unwrap(),
            Channelling {
                branch: Some(Art31Branch::AdministrativeProcedure),
                diversion: Some(Diversion::AdministrativeReconsideration)
            }
        );
        // Another diversion branch without a diversion: routing picks the channel of the branch.
        assert_eq!(
            correct_channel(
                g,
                diverted,
                Change::Set(Art31Branch::PartyAppeal),
                Change::Keep
            )
            .unwrap(),
            Channelling {
                branch: Some(Art31Branch::PartyAppeal),
                diversion: None
            }
        );
        let e = correct_channel(
            g,
            diverted,
            Change::Set(Art31Branch::Residual),
            Change::Set(Diversion::Litigation),
        )
        .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.rule),
            ("diversion", "diversion_branch_mismatch")
        );
        assert!(e.message.contains("31_1") && e.message.contains("31_6"));
        // Untouched fields stay; other types have no branch.
        assert_eq!(
            correct_channel(g, diverted, Change::Keep, Change::Keep).unwrap(),
            diverted
        );
        assert_eq!(
            correct_channel(
                PetitionType::Suggestion,
                diverted,
                Change::Keep,
                Change::Keep
            )
            .unwrap(),
            Channelling::default()
        );
    }

    #[test]
    fn only_a_matter_no_unit_accepted_is_reclassified() {
        for s in ["registered", "forwarded", "assigned", "objected"] {
            assert!(clerk_may_reclassify(s, false), "{s}");
        }
        assert!(clerk_may_reclassify("diverted", false));
        assert!(!clerk_may_reclassify("diverted", true));
        for s in ["accepted", "replied", "extended", "closed", "not_accepted"] {
            assert!(!clerk_may_reclassify(s, true), "{s}");
        }
        assert!(transfer_window_open(Forwarded) && transfer_window_open(Assigned));
        assert!(!transfer_window_open(Accepted) && !transfer_window_open(Objected));
    }

    #[test]
    fn the_bureau_answers_with_a_reason() {
        let a = transfer_decision(Some("approved"), Some(" 属水利局职责 ")).unwrap();
        assert!(a.yes);
        assert_eq!(a.reason.as_deref(), Some("属水利局职责"));
        assert!(
            !transfer_decision(Some("rejected"), Some("仍属本单位"))
                .unwrap()
                .yes
        );
        let e = transfer_decision(Some("rejected"), Some("  ")).unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("reason", "required"));
        assert!(e.message.contains("Art 23 para 3"));
        assert_eq!(
            transfer_decision(Some("maybe"), Some("x"))
                .unwrap_err()
                .field,
            "decision"
        );
        assert!(check_result(Some("passed"), None).unwrap().yes);
        let e = check_result(Some("failed"), None).unwrap_err();
        assert_eq!(e.field, "reason");
        assert!(e.message.contains("Art 22 para 1(3)"));
        assert_eq!(check_result(None, None).unwrap_err().field, "result");
    }
}
