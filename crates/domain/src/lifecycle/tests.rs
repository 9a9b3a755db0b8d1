use chrono::{DateTime, FixedOffset};

use super::*;
use crate::calendar::Calendar;
use crate::county::CountyCode;
use crate::deadline::{DeadlineKind, DeadlineRules, compute};
use crate::petition::{Art31Branch, Diversion, OpinionOutcome, PetitionType};
use crate::subject;
use CaseState::*;

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn ok(case: &Case, cmd: Command) -> Transition {
    let tr = apply(case, &cmd)
        .unwrap_or_else(|e| panic!("{} refused in {}: {e}", cmd.name(), case.state));
    assert!(EVENTS.contains(&tr.event), "{} not in EVENTS", tr.event);
    assert_eq!(tr.command, cmd.name());
    assert_eq!(tr.case.state, tr.to);
    tr
}

fn err(case: &Case, cmd: Command) -> LifecycleError {
    match apply(case, &cmd) {
        Ok(tr) => panic!("{} unexpectedly allowed: {:?}", cmd.name(), tr.to),
        Err(e) => e,
    }
}

fn run(case: Case, cmds: Vec<Command>) -> Case {
    cmds.into_iter().fold(case, |c, cmd| ok(&c, cmd).case)
}

fn registered() -> Case {
    run(
        Case::new(),
        vec![Command::Register {
            at: t("2026-09-28T09:00:00+08:00"),
        }],
    )
}

fn classified(tp: PetitionType, branch: Option<Art31Branch>) -> Case {
    run(
        registered(),
        vec![Command::Classify {
            petition_type: tp,
            branch,
        }],
    )
}

fn forwarded(report_required: bool) -> Case {
    run(
        registered(),
        vec![Command::Forward {
            at: t("2026-09-30T10:00:00+08:00"),
            report_required,
        }],
    )
}

fn assigned() -> Case {
    run(
        registered(),
        vec![Command::Assign {
            at: t("2026-09-30T10:00:00+08:00"),
            report_required: true,
        }],
    )
}

fn accepted_from(case: Case) -> Case {
    run(
        case,
        vec![Command::Accept {
            at: t("2026-10-08T10:00:00+08:00"),
        }],
    )
}

fn accepted() -> Case {
    accepted_from(registered())
}

fn investigating() -> Case {
    run(accepted(), vec![Command::StartInvestigation])
}

fn extend(days: u32) -> Command {
    extend_at(days, "2026-11-01T09:00:00+08:00")
}

fn extend_at(days: u32, at: &str) -> Command {
    Command::Extend {
        days,
        approver: "局长 王某".into(),
        reason: "涉及多个部门，需补充调查".into(),
        at: t(at),
    }
}

fn opinion(served_at: &str) -> Command {
    Command::IssueOpinion {
        outcome: OpinionOutcome::NotSupported,
        served_at: t(served_at),
    }
}

/// Closed after an Art 31(6) opinion served 2026-12-01 10:00: the 复查 window ends 2026-12-31.
fn closed_with_opinion() -> Case {
    run(
        investigating(),
        vec![opinion("2026-12-01T10:00:00+08:00"), Command::Close],
    )
}

/// 复查 opinion served 2027-01-20: the 复核 window ends 2027-02-19.
fn review_decided() -> Case {
    run(
        closed_with_opinion(),
        vec![
            Command::RequestReview {
                at: t("2026-12-20T09:00:00+08:00"),
            },
            Command::DecideReview {
                served_at: t("2027-01-20T15:00:00+08:00"),
            },
        ],
    )
}

fn rereview_requested() -> Case {
    run(
        review_decided(),
        vec![Command::RequestRereview {
            at: t("2027-02-01T09:00:00+08:00"),
        }],
    )
}

// ---------------------------------------------------------------- states and table

#[test]
fn every_state_has_a_snake_case_name_and_a_chinese_term() {
    assert_eq!(CaseState::ALL.len(), 28);
    let mut zh = std::collections::BTreeSet::new();
    for s in CaseState::ALL {
        assert_eq!(
            serde_json::to_string(s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
        assert_eq!(
            serde_json::from_str::<CaseState>(&format!("\"{}\"", s.as_str())).unwrap(),
            *s
        );
        assert!(zh.insert(s.zh()), "duplicate zh {}", s.zh());
    }
    assert_eq!(RereviewDecided.as_str(), "rereview_decided");
    assert_eq!(Terminated.zh(), "终结");
    assert_eq!(
        serde_json::to_string(&EscalatedToLeadership).unwrap(),
        "\"escalated_to_leadership\""
    );
}

#[test]
fn the_command_table_is_domain_md_10_2() {
    let expect = |s: CaseState, names: &[&str]| {
        let mut got = allowed_commands(s);
        got.sort_unstable();
        let mut want = names.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{s}");
    };
    expect(Received, &["register"]);
    expect(
        Registered,
        &[
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
        ],
    );
    expect(EscalatedToLeadership, &["classify", "forward", "assign"]);
    expect(Forwarded, &["classify", "object", "accept", "reroute"]);
    expect(Assigned, &["classify", "object", "accept", "reroute"]);
    expect(
        Objected,
        &[
            "classify",
            "objection_upheld",
            "objection_rejected",
            "reroute",
        ],
    );
    expect(
        Accepted,
        &[
            "classify",
            "channel",
            "divert",
            "perform_duty",
            "start_investigation",
            "reply",
            "mediate",
            "reroute",
        ],
    );
    expect(
        UnderInvestigation,
        &[
            "extend",
            "start_hearing",
            "mediate",
            "issue_opinion",
            "divert",
            "reroute",
        ],
    );
    expect(
        Extended,
        &[
            "extend",
            "start_hearing",
            "mediate",
            "issue_opinion",
            "divert",
            "reroute",
        ],
    );
    expect(
        InHearing,
        &["finish_hearing", "issue_opinion", "decide_rereview"],
    );
    for s in [Mediated, Channelled] {
        expect(s, &["submit_for_check", "close"]);
    }
    // A served result may be sent back by a 复查/复核 decision (routing's copy of the case
    // does not follow the appeals).
    for s in [OpinionIssued, DutyPerformed, Replied] {
        expect(s, &["submit_for_check", "close", "remand"]);
    }
    expect(
        PendingSuperiorCheck,
        &["check_passed", "check_failed", "remand"],
    );
    expect(ReturnedForRedo, &["rework"]);
    expect(Closed, &["request_review", "lapse_appeal_window", "remand"]);
    expect(ReviewRequested, &["decide_review"]);
    expect(
        ReviewDecided,
        &["request_rereview", "lapse_appeal_window", "remand"],
    );
    expect(RereviewRequested, &["start_hearing", "decide_rereview"]);
    expect(RereviewDecided, &["remand", "terminate"]);
    // A wrong diversion at intake is corrected by routing the matter again.
    for s in [GuidedElsewhere, RoutedPoliticalLegal] {
        expect(s, &["reroute"]);
    }
    for s in [RoutedDiscipline, NotAccepted, NotReaccepted, Terminated] {
        expect(s, &[]);
        assert!(s.is_terminal());
    }
    assert!(!Closed.is_terminal());
    // Every named command starts from somewhere.
    for name in Command::NAMES {
        assert!(
            CaseState::ALL
                .iter()
                .any(|s| allowed_commands(*s).contains(name)),
            "{name} is never allowed"
        );
    }
}

#[test]
fn event_names_are_subject_tokens() {
    let county = CountyCode::parse("411282").unwrap();
    for e in EVENTS {
        assert!(subject::token("event", e).is_ok(), "{e}");
        assert!(subject::case_event(&county, e).is_ok());
    }
    let tr = ok(
        &registered(),
        Command::Accept {
            at: t("2026-09-28T10:00:00+08:00"),
        },
    );
    assert_eq!(
        tr.subject(&county).unwrap().as_str(),
        "xf.411282.case.accepted"
    );
}

#[test]
fn command_names_match_their_serde_tags() {
    let cmds = vec![
        Command::Register {
            at: t("2026-01-01T00:00:00+08:00"),
        },
        extend(10),
        Command::Channel {
            diversion: Diversion::Arbitration,
        },
        Command::NotAccept {
            ground: NotAcceptGround::Other { reason: "r".into() },
        },
        Command::LapseAppealWindow {
            now: t("2026-01-01T00:00:00+08:00"),
        },
        Command::Terminate,
        Command::EscalateToLeadership,
    ];
    for c in cmds {
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["command"], c.name());
        assert!(Command::NAMES.contains(&c.name()));
        assert_eq!(serde_json::from_value::<Command>(v).unwrap(), c);
    }
    // 交办 requires a completion report unless the sender says otherwise (Art 22 para 1(3)).
    let a: Command =
        serde_json::from_str(r#"{"command":"assign","at":"2026-01-05T09:00:00+08:00"}"#).unwrap();
    assert_eq!(
        a,
        Command::Assign {
            at: t("2026-01-05T09:00:00+08:00"),
            report_required: true
        }
    );
    let f: Command =
        serde_json::from_str(r#"{"command":"forward","at":"2026-01-05T09:00:00+08:00"}"#).unwrap();
    assert!(matches!(
        f,
        Command::Forward {
            report_required: false,
            ..
        }
    ));
}

// ---------------------------------------------------------------- allowed transitions

#[test]
fn received_to_registered() {
    let tr = ok(
        &Case::new(),
        Command::Register {
            at: t("2026-09-28T09:00:00+08:00"),
        },
    );
    assert_eq!(
        (tr.from, tr.to, tr.event),
        (Received, Registered, "registered")
    );
    assert_eq!(tr.case.registered_at, Some(t("2026-09-28T09:00:00+08:00")));
    assert_eq!(tr.case.state, Registered);
}

#[test]
fn registered_dispositions() {
    let at = t("2026-09-30T10:00:00+08:00");
    let cases: Vec<(Command, CaseState, &str)> = vec![
        (
            Command::Forward {
                at,
                report_required: false,
            },
            Forwarded,
            "forwarded",
        ),
        (
            Command::Assign {
                at,
                report_required: true,
            },
            Assigned,
            "assigned",
        ),
        (
            Command::EscalateToLeadership,
            EscalatedToLeadership,
            "escalated",
        ),
        (
            Command::RoutePoliticalLegal,
            RoutedPoliticalLegal,
            "routed_political_legal",
        ),
        (
            Command::RouteDiscipline,
            RoutedDiscipline,
            "routed_discipline",
        ),
        (Command::GuideElsewhere, GuidedElsewhere, "guided_elsewhere"),
        (
            Command::NotAccept {
                ground: NotAcceptGround::PendingElsewhere {
                    earlier_case: "XF-411282-2026-000007".into(),
                    earlier_due: t("2026-10-15T23:59:59+08:00"),
                    at,
                },
            },
            NotAccepted,
            "not_accepted",
        ),
        (
            Command::NotAccept {
                ground: NotAcceptGround::Other {
                    reason: "内容无法核实".into(),
                },
            },
            NotAccepted,
            "not_accepted",
        ),
        (
            Command::NotReaccept {
                repeat_of: "XF-411282-2025-000042".into(),
            },
            NotReaccepted,
            "not_reaccepted",
        ),
        (Command::Accept { at }, Accepted, "accepted"),
    ];
    for (cmd, to, event) in cases {
        let tr = ok(&registered(), cmd);
        assert_eq!((tr.from, tr.to, tr.event), (Registered, to, event));
    }
}

#[test]
fn registered_facts_recorded_by_dispositions() {
    let tr = ok(&registered(), Command::RouteDiscipline);
    assert!(tr.case.confidential);
    assert_eq!(tr.case.petition_type, Some(PetitionType::Accusation));
    let tr = ok(&registered(), Command::EscalateToLeadership);
    assert!(tr.case.urgent);
    let tr = ok(
        &registered(),
        Command::NotReaccept {
            repeat_of: " XF-411282-2025-000042 ".into(),
        },
    );
    assert_eq!(tr.case.repeat_of.as_deref(), Some("XF-411282-2025-000042"));
    let a = assigned();
    let r = a.routing.as_ref().unwrap();
    assert_eq!(r.mode, RoutingMode::Assigned);
    assert!(a.report_required());
    assert_eq!(
        forwarded(false).routing.unwrap().mode,
        RoutingMode::Forwarded
    );
    let acc = accepted();
    assert_eq!(acc.accepted_at, Some(t("2026-10-08T10:00:00+08:00")));
}

#[test]
fn escalated_then_forwarded_or_assigned() {
    let esc = run(registered(), vec![Command::EscalateToLeadership]);
    let at = t("2026-10-09T10:00:00+08:00");
    let tr = ok(
        &esc,
        Command::Forward {
            at,
            report_required: false,
        },
    );
    assert_eq!((tr.from, tr.to), (EscalatedToLeadership, Forwarded));
    let tr = ok(
        &esc,
        Command::Assign {
            at,
            report_required: true,
        },
    );
    assert_eq!(tr.to, Assigned);
    assert!(tr.case.urgent);
}

#[test]
fn forwarded_or_assigned_then_objected_or_accepted() {
    for case in [forwarded(false), assigned()] {
        let tr = ok(
            &case,
            Command::Object {
                at: t("2026-10-09T10:00:00+08:00"),
                reason: "不属于本部门职权".into(),
            },
        );
        assert_eq!((tr.to, tr.event), (Objected, "objected"));
        let tr = ok(
            &case,
            Command::Accept {
                at: t("2026-10-09T10:00:00+08:00"),
            },
        );
        assert_eq!((tr.to, tr.event), (Accepted, "accepted"));
    }
}

#[test]
fn objection_upheld_reroutes_and_rejected_accepts() {
    let objected = run(
        assigned(),
        vec![Command::Object {
            at: t("2026-10-09T10:00:00+08:00"),
            reason: "不属于本部门职权".into(),
        }],
    );
    let tr = ok(&objected, Command::ObjectionUpheld);
    assert_eq!((tr.to, tr.event), (Registered, "objection_decided"));
    assert_eq!(tr.case.routing, None);
    // Re-routed to another department afterwards.
    let again = ok(
        &tr.case,
        Command::Forward {
            at: t("2026-10-12T10:00:00+08:00"),
            report_required: false,
        },
    );
    assert_eq!(again.to, Forwarded);
    let tr = ok(
        &objected,
        Command::ObjectionRejected {
            at: t("2026-10-12T10:00:00+08:00"),
        },
    );
    assert_eq!((tr.to, tr.event), (Accepted, "objection_decided"));
    assert_eq!(tr.case.accepted_at, Some(t("2026-10-12T10:00:00+08:00")));
}

#[test]
fn accepted_branches() {
    let tr = ok(
        &accepted(),
        Command::Channel {
            diversion: Diversion::Arbitration,
        },
    );
    assert_eq!((tr.to, tr.event), (Channelled, "diverted"));
    assert_eq!(tr.case.branch, Some(Art31Branch::Arbitration));
    assert_eq!(tr.case.diversion, Some(Diversion::Arbitration));
    assert_eq!(tr.case.petition_type, Some(PetitionType::Grievance));

    let tr = ok(&accepted(), Command::PerformDuty);
    assert_eq!((tr.to, tr.event), (DutyPerformed, "duty_performed"));
    assert_eq!(tr.case.branch, Some(Art31Branch::DutyPerformance));

    let tr = ok(&accepted(), Command::StartInvestigation);
    assert_eq!(
        (tr.to, tr.event),
        (UnderInvestigation, "investigation_started")
    );
    assert_eq!(tr.case.branch, Some(Art31Branch::Residual));

    let tr = ok(&accepted(), Command::Mediate);
    assert_eq!((tr.to, tr.event), (Mediated, "mediated"));

    for tp in [PetitionType::Suggestion, PetitionType::Accusation] {
        let case = accepted_from(classified(tp, None));
        let tr = ok(&case, Command::Reply);
        assert_eq!((tr.to, tr.event), (Replied, "replied"));
    }
}

#[test]
fn investigation_paths() {
    let tr = ok(&investigating(), extend(30));
    assert_eq!((tr.to, tr.event), (Extended, "extended"));
    let ext = tr.case.extension.clone().unwrap();
    assert_eq!(ext.days, 30);
    assert_eq!(ext.approver, "局长 王某");
    assert!(!ext.reason.is_empty());
    assert_eq!(tr.case.handling_adjustments().extension_days, Some(30));

    for from in [investigating(), tr.case.clone()] {
        let h = ok(
            &from,
            Command::StartHearing {
                at: t("2026-11-01T09:00:00+08:00"),
            },
        );
        assert_eq!((h.to, h.event), (InHearing, "hearing_started"));
        assert_eq!(h.case.hearing, Some(HearingStage::FirstInstance));
        let m = ok(&from, Command::Mediate);
        assert_eq!(m.to, Mediated);
        let o = ok(&from, opinion("2026-11-20T10:00:00+08:00"));
        assert_eq!((o.to, o.event), (OpinionIssued, "opinion_issued"));
        assert_eq!(
            o.case.opinion,
            Some(Opinion {
                outcome: OpinionOutcome::NotSupported,
                served_at: t("2026-11-20T10:00:00+08:00")
            })
        );
    }
}

#[test]
fn first_instance_hearing_ends_in_an_opinion_or_resumes() {
    let hearing = run(
        investigating(),
        vec![Command::StartHearing {
            at: t("2026-11-01T09:00:00+08:00"),
        }],
    );
    let tr = ok(&hearing, opinion("2026-11-20T10:00:00+08:00"));
    assert_eq!((tr.from, tr.to), (InHearing, OpinionIssued));
    assert_eq!(tr.case.hearing, None);
    assert_eq!(
        tr.case.hearings[0].finished_at,
        Some(t("2026-11-20T10:00:00+08:00"))
    );

    let tr = ok(
        &hearing,
        Command::FinishHearing {
            at: t("2026-11-01T12:00:00+08:00"),
        },
    );
    assert_eq!((tr.to, tr.event), (UnderInvestigation, "hearing_finished"));
    assert_eq!(
        tr.case.hearings[0].finished_at,
        Some(t("2026-11-01T12:00:00+08:00"))
    );

    // A hearing during an extension resumes the extension.
    let extended_hearing = run(
        investigating(),
        vec![
            extend(10),
            Command::StartHearing {
                at: t("2026-11-01T09:00:00+08:00"),
            },
        ],
    );
    let tr = ok(
        &extended_hearing,
        Command::FinishHearing {
            at: t("2026-11-01T12:00:00+08:00"),
        },
    );
    assert_eq!(tr.to, Extended);
}

#[test]
fn results_go_to_check_or_close() {
    let results = [
        run(accepted(), vec![Command::Mediate]),
        run(investigating(), vec![opinion("2026-11-20T10:00:00+08:00")]),
        run(accepted(), vec![Command::PerformDuty]),
        run(
            accepted(),
            vec![Command::Channel {
                diversion: Diversion::Litigation,
            }],
        ),
        run(
            accepted_from(classified(PetitionType::Suggestion, None)),
            vec![Command::Reply],
        ),
    ];
    for r in &results {
        let tr = ok(r, Command::Close);
        assert_eq!((tr.to, tr.event), (Closed, "closed"));
    }
    // The same results for an assigned matter must pass the check first.
    let assigned_mediated = run(accepted_from(assigned()), vec![Command::Mediate]);
    let tr = ok(&assigned_mediated, Command::SubmitForCheck);
    assert_eq!(
        (tr.to, tr.event),
        (PendingSuperiorCheck, "submitted_for_check")
    );
    let passed = ok(&tr.case, Command::CheckPassed);
    assert_eq!((passed.to, passed.event), (Closed, "closed"));
    let failed = ok(&tr.case, Command::CheckFailed);
    assert_eq!(
        (failed.to, failed.event),
        (ReturnedForRedo, "returned_for_redo")
    );
    // A forwarded matter without a report may close directly or be sent for a check.
    let fwd = run(accepted_from(forwarded(false)), vec![Command::PerformDuty]);
    assert_eq!(ok(&fwd, Command::Close).to, Closed);
    assert_eq!(ok(&fwd, Command::SubmitForCheck).to, PendingSuperiorCheck);
}

#[test]
fn rework_returns_to_accepted_and_keeps_the_clock_and_the_spent_extension() {
    let returned = run(
        accepted_from(assigned()),
        vec![
            Command::StartInvestigation,
            extend(15),
            opinion("2026-11-20T10:00:00+08:00"),
            Command::SubmitForCheck,
            Command::CheckFailed,
        ],
    );
    let tr = ok(&returned, Command::Rework);
    assert_eq!((tr.to, tr.event), (Accepted, "reworked"));
    assert_eq!(tr.case.opinion, None);
    assert_eq!(tr.case.branch, None);
    assert_eq!(tr.case.accepted_at, returned.accepted_at);
    assert_eq!(tr.case.extension.as_ref().map(|e| e.days), Some(15));
    // The redo may take another route.
    assert_eq!(ok(&tr.case, Command::PerformDuty).to, DutyPerformed);
    // Investigating again shows the spent extension, and a second one is refused.
    let again = ok(&tr.case, Command::StartInvestigation);
    assert_eq!(again.to, Extended);
    assert_eq!(
        err(&again.case, extend(5)),
        LifecycleError::ExtensionAlreadyUsed
    );
}

#[test]
fn appeal_chain_to_termination() {
    let closed = closed_with_opinion();
    assert!(closed.has_handling_opinion());
    let tr = ok(
        &closed,
        Command::RequestReview {
            at: t("2026-12-20T09:00:00+08:00"),
        },
    );
    assert_eq!((tr.to, tr.event), (ReviewRequested, "review_requested"));
    let tr = ok(
        &tr.case,
        Command::DecideReview {
            served_at: t("2027-01-20T15:00:00+08:00"),
        },
    );
    assert_eq!((tr.to, tr.event), (ReviewDecided, "review_decided"));
    let tr = ok(
        &tr.case,
        Command::RequestRereview {
            at: t("2027-02-01T09:00:00+08:00"),
        },
    );
    assert_eq!((tr.to, tr.event), (RereviewRequested, "rereview_requested"));
    let tr = ok(
        &tr.case,
        Command::DecideRereview {
            served_at: t("2027-02-25T10:00:00+08:00"),
        },
    );
    assert_eq!((tr.to, tr.event), (RereviewDecided, "rereview_decided"));
    let tr = ok(&tr.case, Command::Terminate);
    assert_eq!((tr.to, tr.event), (Terminated, "terminated"));
    let c = tr.case;
    assert_eq!(
        c.review.unwrap().decision_served_at,
        Some(t("2027-01-20T15:00:00+08:00"))
    );
    assert_eq!(
        c.rereview.unwrap().decision_served_at,
        Some(t("2027-02-25T10:00:00+08:00"))
    );
}

/// Issue #20: a 复查 that revokes the opinion sends the matter back to the organ that handled
/// it; its new opinion opens a new 复查 window, and no 复核 lies against the revoked one.
#[test]
fn a_revoking_review_sends_the_matter_back_for_a_new_opinion() {
    let decided = review_decided();
    let remand_at = t("2027-01-21T09:00:00+08:00");
    let tr = ok(&decided, Command::Remand { at: remand_at });
    assert_eq!(
        (tr.from, tr.to, tr.event),
        (ReviewDecided, UnderInvestigation, "remanded")
    );
    let back = tr.case;
    assert_eq!(back.remanded_at, Some(remand_at));
    assert!(back.opinion.is_none() && back.review.is_none() && back.rereview.is_none());
    assert_eq!(back.accepted_at, decided.accepted_at);
    // The revoked opinion's windows are gone with it.
    assert!(matches!(
        err(
            &back,
            Command::RequestRereview {
                at: t("2027-01-22T09:00:00+08:00")
            }
        ),
        LifecycleError::NotAllowed { .. }
    ));
    assert!(matches!(
        err(
            &back,
            Command::LapseAppealWindow {
                now: t("2027-06-01T00:00:00+08:00")
            }
        ),
        LifecycleError::NotAllowed { .. }
    ));
    // The new period is not extended (the Art 34 extension belongs to the first handling).
    assert_eq!(
        err(&back, extend_at(10, "2027-01-25T09:00:00+08:00")),
        LifecycleError::ExtensionAfterRemand {
            remanded_at: remand_at
        }
    );
    // The organ's new opinion, and a new 复查 against it within D7 of its service.
    let second = run(
        back,
        vec![opinion("2027-02-10T10:00:00+08:00"), Command::Close],
    );
    assert!(second.has_handling_opinion());
    let tr = ok(
        &second,
        Command::RequestReview {
            at: t("2027-03-01T09:00:00+08:00"),
        },
    );
    assert_eq!(tr.to, ReviewRequested);
    // Not before the decision that sent it back was served.
    assert!(matches!(
        err(
            &decided,
            Command::Remand {
                at: t("2027-01-19T09:00:00+08:00")
            }
        ),
        LifecycleError::OutOfOrder { .. }
    ));
}

#[test]
fn a_revoking_rereview_sends_back_instead_of_terminating() {
    let decided = run(
        review_decided(),
        vec![
            Command::RequestRereview {
                at: t("2027-02-01T09:00:00+08:00"),
            },
            Command::DecideRereview {
                served_at: t("2027-02-25T10:00:00+08:00"),
            },
        ],
    );
    assert_eq!(decided.state, RereviewDecided);
    let tr = ok(
        &decided,
        Command::Remand {
            at: t("2027-02-26T09:00:00+08:00"),
        },
    );
    assert_eq!(tr.to, UnderInvestigation);
    assert!(matches!(
        err(&tr.case, Command::Terminate),
        LifecycleError::NotAllowed { .. }
    ));
    // Before the decision was served: out of order.
    assert!(matches!(
        err(
            &decided,
            Command::Remand {
                at: t("2027-02-24T09:00:00+08:00")
            }
        ),
        LifecycleError::OutOfOrder { .. }
    ));
}

/// Routing's copy of the case stays where the served result left it; the remand takes it back
/// to handling there too, and a reply (not an opinion) is given again from acceptance.
#[test]
fn the_handling_organs_copy_is_sent_back_from_its_result() {
    let issued = run(investigating(), vec![opinion("2026-12-01T10:00:00+08:00")]);
    let tr = ok(
        &issued,
        Command::Remand {
            at: t("2027-01-21T09:00:00+08:00"),
        },
    );
    assert_eq!(tr.to, UnderInvestigation);
    assert_eq!(
        ok(&tr.case, opinion("2027-02-01T10:00:00+08:00")).to,
        OpinionIssued
    );
    let replied = run(
        accepted_from(classified(PetitionType::Suggestion, None)),
        vec![Command::Reply],
    );
    let tr = ok(
        &replied,
        Command::Remand {
            at: t("2027-01-21T09:00:00+08:00"),
        },
    );
    assert_eq!(tr.to, Accepted);
    assert_eq!(ok(&tr.case, Command::Reply).to, Replied);
    // Nothing to send back before a result.
    assert!(matches!(
        err(
            &investigating(),
            Command::Remand {
                at: t("2027-01-21T09:00:00+08:00")
            }
        ),
        LifecycleError::NotAllowed { .. }
    ));
}

#[test]
fn rereview_hearing_is_remembered_and_excluded_from_d10() {
    let req = rereview_requested();
    let h = ok(
        &req,
        Command::StartHearing {
            at: t("2027-02-10T09:00:00+08:00"),
        },
    );
    assert_eq!(h.case.hearing, Some(HearingStage::Rereview));
    let back = ok(
        &h.case,
        Command::FinishHearing {
            at: t("2027-02-11T17:00:00+08:00"),
        },
    );
    assert_eq!(
        (back.to, back.event),
        (RereviewRequested, "hearing_finished")
    );
    // D10 from the request (2027-02-01) is 03-03; two hearing days push it to 03-05.
    let adj = back
        .case
        .rereview_adjustments(t("2027-03-01T00:00:00+08:00"));
    assert_eq!(adj.paused.len(), 1);
    let due = compute(
        DeadlineKind::D10,
        back.case.rereview.as_ref().unwrap().requested_at,
        &Calendar::embedded(),
        &DeadlineRules::default(),
        &adj,
    )
    .unwrap();
    assert_eq!(due.due.unwrap().to_rfc3339(), "2027-03-05T23:59:59+08:00");
    // Deciding straight from the hearing closes it at the decision's service.
    let decided = ok(
        &h.case,
        Command::DecideRereview {
            served_at: t("2027-02-20T10:00:00+08:00"),
        },
    );
    assert_eq!((decided.from, decided.to), (InHearing, RereviewDecided));
    assert_eq!(
        decided.case.hearings[0].finished_at,
        Some(t("2027-02-20T10:00:00+08:00"))
    );
    // First-instance hearings never count toward D10.
    let first = run(
        investigating(),
        vec![Command::StartHearing {
            at: t("2026-11-01T09:00:00+08:00"),
        }],
    );
    assert!(
        first
            .rereview_adjustments(t("2026-11-02T00:00:00+08:00"))
            .paused
            .is_empty()
    );
}

#[test]
fn classify_sets_type_branch_and_confidentiality_without_moving() {
    let tr = ok(
        &registered(),
        Command::Classify {
            petition_type: PetitionType::Grievance,
            branch: Some(Art31Branch::Residual),
        },
    );
    assert_eq!(
        (tr.from, tr.to, tr.event),
        (Registered, Registered, "reclassified")
    );
    assert_eq!(tr.case.branch, Some(Art31Branch::Residual));
    let tr = ok(
        &accepted(),
        Command::Classify {
            petition_type: PetitionType::Accusation,
            branch: None,
        },
    );
    assert_eq!(tr.to, Accepted);
    assert!(tr.case.confidential);
}

// ---------------------------------------------------------------- lapsed windows (Decisions 4)

#[test]
fn a_lapsed_review_window_marks_final_without_terminating() {
    let closed = closed_with_opinion();
    let e = err(
        &closed,
        Command::LapseAppealWindow {
            now: t("2026-12-31T23:59:59+08:00"),
        },
    );
    assert!(matches!(
        e,
        LifecycleError::AppealWindowOpen {
            window: "复查 (D7, Art 35)",
            ..
        }
    ));
    let tr = ok(
        &closed,
        Command::LapseAppealWindow {
            now: t("2027-01-01T00:00:00+08:00"),
        },
    );
    assert_eq!(
        (tr.from, tr.to, tr.event),
        (Closed, Closed, "final_without_appeal")
    );
    assert!(tr.case.final_without_appeal);
    assert_eq!(
        err(
            &tr.case,
            Command::LapseAppealWindow {
                now: t("2027-02-01T00:00:00+08:00")
            }
        ),
        LifecycleError::AlreadyFinal
    );
    // Not TERMINATED: that needs a 复核 decision.
    assert!(matches!(
        err(&tr.case, Command::Terminate),
        LifecycleError::NotAllowed { state: Closed, .. }
    ));
    // A request dated inside the window (arriving late by post) still counts and clears the mark.
    let late_post = ok(
        &tr.case,
        Command::RequestReview {
            at: t("2026-12-30T09:00:00+08:00"),
        },
    );
    assert!(!late_post.case.final_without_appeal);
}

#[test]
fn a_lapsed_rereview_window_marks_final_without_terminating() {
    let decided = review_decided();
    assert!(matches!(
        err(
            &decided,
            Command::LapseAppealWindow {
                now: t("2027-02-19T12:00:00+08:00")
            }
        ),
        LifecycleError::AppealWindowOpen {
            window: "复核 (D9, Art 36)",
            ..
        }
    ));
    let tr = ok(
        &decided,
        Command::LapseAppealWindow {
            now: t("2027-02-20T00:00:01+08:00"),
        },
    );
    assert_eq!(tr.to, ReviewDecided);
    assert!(tr.case.final_without_appeal);
    assert!(matches!(
        err(&tr.case, Command::Terminate),
        LifecycleError::NotAllowed {
            state: ReviewDecided,
            ..
        }
    ));
}

#[test]
fn no_appeal_window_without_an_art31_6_opinion() {
    let closed = run(accepted(), vec![Command::PerformDuty, Command::Close]);
    assert_eq!(
        err(
            &closed,
            Command::LapseAppealWindow {
                now: t("2027-06-01T00:00:00+08:00")
            }
        ),
        LifecycleError::NoAppealWindow
    );
}

// ---------------------------------------------------------------- guards

#[test]
fn commands_outside_the_table_are_refused_listing_the_allowed_ones() {
    let e = err(
        &Case::new(),
        Command::Accept {
            at: t("2026-01-01T00:00:00+08:00"),
        },
    );
    assert_eq!(
        e,
        LifecycleError::NotAllowed {
            command: "accept",
            state: Received,
            allowed: vec!["register"]
        }
    );
    assert_eq!(e.code(), "not_allowed");
    let msg = e.to_string();
    assert!(msg.contains("`accept`") && msg.contains("received") && msg.contains("register"));
    assert!(msg.contains("收件"));
    let terminated = run(
        rereview_requested(),
        vec![
            Command::DecideRereview {
                served_at: t("2027-02-25T10:00:00+08:00"),
            },
            Command::Terminate,
        ],
    );
    let e = err(
        &terminated,
        Command::RequestReview {
            at: t("2027-02-26T10:00:00+08:00"),
        },
    );
    assert!(e.to_string().contains("none, the state is final"), "{e}");
    // Extending from ACCEPTED (no investigation) is not in §10.2.
    assert!(matches!(
        err(&accepted(), extend(10)),
        LifecycleError::NotAllowed {
            state: Accepted,
            ..
        }
    ));
}

#[test]
fn review_needs_an_art31_6_opinion() {
    for closed in [
        run(accepted(), vec![Command::PerformDuty, Command::Close]),
        run(accepted(), vec![Command::Mediate, Command::Close]),
        run(
            accepted(),
            vec![
                Command::Channel {
                    diversion: Diversion::AdministrativeReconsideration,
                },
                Command::Close,
            ],
        ),
    ] {
        let e = err(
            &closed,
            Command::RequestReview {
                at: t("2026-12-20T09:00:00+08:00"),
            },
        );
        assert_eq!(e, LifecycleError::ReviewNeedsHandlingOpinion);
        assert!(e.to_string().contains("Art 35"));
        assert!(e.to_string().contains("Art 31(6)"));
    }
}

#[test]
fn review_request_must_come_within_30_days_of_service() {
    let closed = closed_with_opinion();
    // Served 2026-12-01: the last day is 2026-12-31.
    assert_eq!(
        ok(
            &closed,
            Command::RequestReview {
                at: t("2026-12-31T23:59:00+08:00")
            }
        )
        .to,
        ReviewRequested
    );
    let e = err(
        &closed,
        Command::RequestReview {
            at: t("2027-01-01T00:00:00+08:00"),
        },
    );
    assert_eq!(
        e,
        LifecycleError::ReviewWindowClosed {
            window_ended: t("2026-12-31T23:59:59+08:00")
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("Art 35") && msg.contains("D7"), "{msg}");
    // Before service is impossible.
    assert_eq!(
        err(
            &closed,
            Command::RequestReview {
                at: t("2026-11-30T09:00:00+08:00")
            }
        ),
        LifecycleError::OutOfOrder {
            what: "the review request",
            earlier: "service of the opinion"
        }
    );
}

#[test]
fn the_review_window_follows_the_configured_rules() {
    let cal = Calendar::embedded();
    // Roll-over switched off for D7, with a service date whose 30th day is National Day.
    let rules = DeadlineRules::default()
        .with_roll_over(DeadlineKind::D7, false)
        .unwrap();
    let policy = Policy {
        calendar: &cal,
        rules: &rules,
    };
    let closed = run(
        Case::new(),
        vec![
            Command::Register {
                at: t("2026-07-20T09:00:00+08:00"),
            },
            Command::Accept {
                at: t("2026-07-21T09:00:00+08:00"),
            },
            Command::StartInvestigation,
            opinion("2026-09-01T10:00:00+08:00"),
            Command::Close,
        ],
    );
    // By default (Decisions 1) rolled over: ends 2026-10-08. Switched off: ends 2026-10-01.
    let request = Command::RequestReview {
        at: t("2026-10-08T10:00:00+08:00"),
    };
    assert_eq!(apply(&closed, &request).unwrap().to, ReviewRequested);
    assert!(matches!(
        apply_with(&closed, &request, &policy),
        Err(LifecycleError::ReviewWindowClosed { .. })
    ));
}

#[test]
fn rereview_request_must_come_within_30_days_of_the_review_service() {
    let decided = review_decided();
    assert_eq!(
        ok(
            &decided,
            Command::RequestRereview {
                at: t("2027-02-19T22:00:00+08:00")
            }
        )
        .to,
        RereviewRequested
    );
    let e = err(
        &decided,
        Command::RequestRereview {
            at: t("2027-02-20T08:00:00+08:00"),
        },
    );
    assert_eq!(
        e,
        LifecycleError::RereviewWindowClosed {
            window_ended: t("2027-02-19T23:59:59+08:00")
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("Art 36") && msg.contains("D9"), "{msg}");
    assert!(matches!(
        err(
            &decided,
            Command::RequestRereview {
                at: t("2027-01-19T08:00:00+08:00")
            }
        ),
        LifecycleError::OutOfOrder { .. }
    ));
}

#[test]
fn an_extension_must_come_before_the_handling_deadline_passes() {
    // Accepted 2026-10-08: D5 (60 days) ends Monday 2026-12-07.
    let inv = investigating();
    let tr = ok(&inv, extend_at(30, "2026-12-07T23:00:00+08:00"));
    assert_eq!(tr.to, Extended);
    let e = err(&inv, extend_at(30, "2026-12-08T00:00:01+08:00"));
    assert_eq!(
        e,
        LifecycleError::ExtensionTooLate {
            handling_ended: t("2026-12-07T23:59:59+08:00")
        }
    );
    assert_eq!(e.code(), "extension_after_deadline");
    assert!(
        e.to_string().contains("Art 34") && e.to_string().contains("2026-12-07"),
        "{e}"
    );
}

#[test]
fn extension_guards() {
    let inv = investigating();
    for bad in [0, 31, 60] {
        let e = err(&inv, extend(bad));
        assert_eq!(
            e,
            LifecycleError::ExtensionOutOfRange { days: bad, max: 30 }
        );
        assert!(e.to_string().contains("Art 34"));
    }
    let e = err(
        &inv,
        Command::Extend {
            days: 10,
            approver: "  ".into(),
            reason: "复杂".into(),
            at: t("2026-11-01T09:00:00+08:00"),
        },
    );
    assert!(matches!(e, LifecycleError::ExtensionIncomplete { .. }));
    assert!(e.to_string().contains("approving head"));
    let e = err(
        &inv,
        Command::Extend {
            days: 10,
            approver: "局长".into(),
            reason: String::new(),
            at: t("2026-11-01T09:00:00+08:00"),
        },
    );
    assert!(e.to_string().contains("reason"));
    assert!(e.to_string().contains("Art 34"));
    // A second extension, even within the 30 days in total, is refused.
    let extended = run(inv, vec![extend(10)]);
    let e = err(&extended, extend(5));
    assert_eq!(e, LifecycleError::ExtensionAlreadyUsed);
    assert_eq!(e.code(), "extension_already_used");
    assert!(e.to_string().contains("Art 34"));
    // A stricter configuration lowers the maximum.
    let cal = Calendar::embedded();
    let rules: DeadlineRules = toml::from_str("[kinds.D6]\ndays = 20\n").unwrap();
    let policy = Policy {
        calendar: &cal,
        rules: &rules,
    };
    assert_eq!(
        apply_with(&investigating(), &extend(21), &policy).unwrap_err(),
        LifecycleError::ExtensionOutOfRange { days: 21, max: 20 }
    );
    assert!(apply_with(&investigating(), &extend(20), &policy).is_ok());
}

#[test]
fn objection_must_come_within_5_working_days_with_reasons() {
    // Forwarded 2026-09-30: 5 working days end 2026-10-13 (National Day skipped, 10-10 worked).
    let fwd = forwarded(false);
    let object = |at: &str| Command::Object {
        at: t(at),
        reason: "属于市场监管部门职责".into(),
    };
    assert_eq!(ok(&fwd, object("2026-10-13T23:00:00+08:00")).to, Objected);
    let e = err(&fwd, object("2026-10-14T00:00:01+08:00"));
    assert_eq!(
        e,
        LifecycleError::ObjectionWindowClosed {
            window_ended: t("2026-10-13T23:59:59+08:00")
        }
    );
    assert!(e.to_string().contains("Art 23 para 3") && e.to_string().contains("D4"));
    let e = err(
        &fwd,
        Command::Object {
            at: t("2026-10-09T10:00:00+08:00"),
            reason: " ".into(),
        },
    );
    assert_eq!(e, LifecycleError::ObjectionWithoutReason);
    assert!(e.to_string().contains("Art 23 para 3"));
    assert!(matches!(
        err(&fwd, object("2026-09-29T10:00:00+08:00")),
        LifecycleError::OutOfOrder { .. }
    ));
}

#[test]
fn completion_report_and_check_guards() {
    let assigned_result = run(accepted_from(assigned()), vec![Command::PerformDuty]);
    let e = err(&assigned_result, Command::Close);
    assert_eq!(e, LifecycleError::CompletionReportRequired);
    assert!(e.to_string().contains("Art 22"));
    let forwarded_with_report = run(accepted_from(forwarded(true)), vec![Command::PerformDuty]);
    assert_eq!(
        err(&forwarded_with_report, Command::Close),
        LifecycleError::CompletionReportRequired
    );
    // Accepted directly by the registering organ: nobody to check it.
    let direct = run(accepted(), vec![Command::PerformDuty]);
    let e = err(&direct, Command::SubmitForCheck);
    assert_eq!(e, LifecycleError::NothingToCheck);
    assert!(e.to_string().contains("Art 22"));
}

#[test]
fn type_and_branch_guards() {
    // Reply is for 建议意见 / 检举控告 only.
    let grievance = accepted_from(classified(PetitionType::Grievance, None));
    let e = err(&grievance, Command::Reply);
    assert!(matches!(
        e,
        LifecycleError::WrongType {
            command: "reply",
            found: PetitionType::Grievance,
            ..
        }
    ));
    assert!(e.to_string().contains("Art 29"));
    let e = err(&accepted(), Command::Reply);
    assert!(matches!(
        e,
        LifecycleError::NotClassified {
            command: "reply",
            ..
        }
    ));

    // Art 31 routes are for 申诉求决 only.
    let suggestion = accepted_from(classified(PetitionType::Suggestion, None));
    for cmd in [
        Command::Channel {
            diversion: Diversion::Litigation,
        },
        Command::PerformDuty,
        Command::StartInvestigation,
        Command::Mediate,
    ] {
        let name = cmd.name();
        let e = err(&suggestion, cmd);
        assert!(
            matches!(
                e,
                LifecycleError::WrongType {
                    found: PetitionType::Suggestion,
                    ..
                }
            ),
            "{name}: {e}"
        );
        assert!(e.to_string().contains("Art 3"), "{name}: {e}");
    }

    // A matter already in branch 31(6) is not channelled into arbitration without reclassifying.
    let residual = accepted_from(classified(
        PetitionType::Grievance,
        Some(Art31Branch::Residual),
    ));
    let e = err(
        &residual,
        Command::Channel {
            diversion: Diversion::Arbitration,
        },
    );
    assert_eq!(
        e,
        LifecycleError::WrongBranch {
            command: "channel",
            expected: Art31Branch::Arbitration,
            found: Art31Branch::Residual
        }
    );
    assert!(e.to_string().contains("31_2") && e.to_string().contains("Art 31"));
    assert!(matches!(
        err(&residual, Command::PerformDuty),
        LifecycleError::WrongBranch { .. }
    ));
    let duty = accepted_from(classified(
        PetitionType::Grievance,
        Some(Art31Branch::DutyPerformance),
    ));
    assert!(matches!(
        err(&duty, Command::StartInvestigation),
        LifecycleError::WrongBranch { .. }
    ));
    // Branches exist only for 申诉求决.
    let e = err(
        &registered(),
        Command::Classify {
            petition_type: PetitionType::Suggestion,
            branch: Some(Art31Branch::Residual),
        },
    );
    assert_eq!(e, LifecycleError::BranchWithoutGrievance);
    // Discipline routing is for 检举控告.
    let e = err(
        &classified(PetitionType::Suggestion, None),
        Command::RouteDiscipline,
    );
    assert!(e.to_string().contains("Art 30"), "{e}");
}

#[test]
fn hearing_stage_guards() {
    let rereview_hearing = run(
        rereview_requested(),
        vec![Command::StartHearing {
            at: t("2027-02-10T09:00:00+08:00"),
        }],
    );
    let e = err(&rereview_hearing, opinion("2027-02-20T10:00:00+08:00"));
    assert_eq!(e, LifecycleError::HearingIsRereview);
    assert!(e.to_string().contains("Art 36"));
    let first_hearing = run(
        investigating(),
        vec![Command::StartHearing {
            at: t("2026-11-01T09:00:00+08:00"),
        }],
    );
    let e = err(
        &first_hearing,
        Command::DecideRereview {
            served_at: t("2026-11-20T10:00:00+08:00"),
        },
    );
    assert_eq!(e, LifecycleError::HearingIsFirstInstance);
    assert!(e.to_string().contains("Art 31(6)"));
    assert!(matches!(
        err(
            &first_hearing,
            Command::FinishHearing {
                at: t("2026-10-31T09:00:00+08:00")
            }
        ),
        LifecycleError::OutOfOrder { .. }
    ));
}

#[test]
fn not_accepted_and_not_reaccepted_guards() {
    let e = err(
        &registered(),
        Command::NotAccept {
            ground: NotAcceptGround::PendingElsewhere {
                earlier_case: "XF-411282-2026-000007".into(),
                earlier_due: t("2026-09-20T23:59:59+08:00"),
                at: t("2026-09-28T10:00:00+08:00"),
            },
        },
    );
    assert_eq!(
        e,
        LifecycleError::EarlierMatterOutOfTime {
            earlier_due: t("2026-09-20T23:59:59+08:00")
        }
    );
    assert!(e.to_string().contains("Art 19 para 3"));
    let e = err(
        &registered(),
        Command::NotAccept {
            ground: NotAcceptGround::PendingElsewhere {
                earlier_case: "".into(),
                earlier_due: t("2026-10-20T23:59:59+08:00"),
                at: t("2026-09-28T10:00:00+08:00"),
            },
        },
    );
    assert!(matches!(e, LifecycleError::MissingRecord { .. }));
    assert!(e.to_string().contains("Art 19 para 3"));
    let e = err(
        &registered(),
        Command::NotAccept {
            ground: NotAcceptGround::Other { reason: "".into() },
        },
    );
    assert!(matches!(e, LifecycleError::MissingRecord { .. }));
    let e = err(
        &registered(),
        Command::NotReaccept {
            repeat_of: " ".into(),
        },
    );
    assert!(e.to_string().contains("Art 36 para 3"));
}

#[test]
fn decisions_cannot_be_served_before_their_requests() {
    let requested = run(
        closed_with_opinion(),
        vec![Command::RequestReview {
            at: t("2026-12-20T09:00:00+08:00"),
        }],
    );
    assert!(matches!(
        err(
            &requested,
            Command::DecideReview {
                served_at: t("2026-12-19T09:00:00+08:00")
            }
        ),
        LifecycleError::OutOfOrder { .. }
    ));
    assert!(matches!(
        err(
            &rereview_requested(),
            Command::DecideRereview {
                served_at: t("2027-01-31T09:00:00+08:00")
            }
        ),
        LifecycleError::OutOfOrder { .. }
    ));
    // An opinion served before acceptance is refused.
    assert!(matches!(
        err(&investigating(), opinion("2026-10-01T09:00:00+08:00")),
        LifecycleError::OutOfOrder { .. }
    ));
}

#[test]
fn the_input_case_is_never_modified_and_cases_round_trip() {
    let before = investigating();
    let copy = before.clone();
    let _ = apply(&before, &extend(10));
    let _ = apply(&before, &extend(99));
    assert_eq!(before, copy);
    let c = run(
        rereview_requested(),
        vec![Command::StartHearing {
            at: t("2027-02-10T09:00:00+08:00"),
        }],
    );
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"state\":\"in_hearing\""));
    assert!(json.contains("\"hearing\":\"rereview\""));
    assert_eq!(serde_json::from_str::<Case>(&json).unwrap(), c);
}

#[test]
fn a_reroute_takes_the_case_back_before_any_opinion() {
    let accepted = run(
        forwarded(false),
        vec![
            Command::Classify {
                petition_type: PetitionType::Suggestion,
                branch: None,
            },
            Command::Accept {
                at: t("2026-10-08T10:00:00+08:00"),
            },
        ],
    );
    let tr = ok(&accepted, Command::Reroute);
    assert_eq!(tr.event, "rerouted");
    assert_eq!(tr.case.state, Registered);
    assert!(tr.case.routing.is_none() && tr.case.accepted_at.is_none());
    // Once replied, there is nothing left to take back.
    let replied = ok(&accepted, Command::Reply).case;
    assert!(matches!(
        err(&replied, Command::Reroute),
        LifecycleError::NotAllowed { .. }
    ));
}
