//! Repeat petitions (domain.md §7, Decisions 7): the same petitioner raising the same matter
//! again. Art 19 para 3 and Art 36 para 3 decide what happens to the new petition — but the
//! similarity only *proposes* a refusal: a clerk confirms that the facts and reasons are the
//! same (or rejects the proposal, or removes the link) before anything reaches the petitioner
//! (Art 44(2) makes a wrongful refusal an accountability matter).

use chrono::{DateTime, Utc};

use crate::county::CountyCode;
use crate::deadline_plan::{Role, Tracked};
use crate::events::{RepeatDecision, RepeatDisposition, RepeatLink};
use crate::validation::ValidationError;

/// An earlier case of the same petitioner, as the registry knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlierCase {
    pub case_no: String,
    /// The organ (division) that registered it.
    pub registered_by: CountyCode,
    /// Text similarity to the new petition, 0..1 ([`crate::classify::MatterWords::overlap`]).
    pub similarity: f32,
    /// The new petition is classified to the department the earlier case was classified or
    /// assigned to: a second, independent sign of the same matter.
    pub same_department: bool,
    /// Terminated after 复核 (in the 终结库).
    pub terminated: bool,
    /// Handling finished (replied, diverted, not accepted, closed, final) — no longer pending.
    pub finished: bool,
    /// Petitions the earlier case has absorbed so far (itself included).
    pub count: u32,
    /// The earlier handling is past a time limit its organs owed ([`time_limit`]): it is no
    /// longer "在规定期限内" (Art 19 para 3).
    pub out_of_time: bool,
    /// When the earlier handling's time limit ends, when the registry knows it.
    pub due: Option<DateTime<Utc>>,
}

/// How similar one petitioner's two petitions must be to be one matter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// On text alone.
    pub any: f32,
    /// When both are for the same department (lower: the department agrees).
    pub same_department: f32,
    /// When both are for the same department and the new petition says it raised this before
    /// (lowest: the petitioner says so, and the department agrees).
    pub follow_up: f32,
}

impl Default for Thresholds {
    /// Chosen on the example sets' same-person pairs (see `classify/dev_set.rs`): with these,
    /// 86% of the repeat pairs are admitted at 94% precision, where 0.3 / 0.16 / 0.08 admitted
    /// 83% at 95%. Lexical overlap cannot do much better: some follow-ups share only a word or
    /// two with the first petition.
    fn default() -> Self {
        Self {
            any: 0.22,
            same_department: 0.16,
            follow_up: 0.08,
        }
    }
}

/// What a new petition says about its petitioner's earlier ones
/// ([`crate::classify::Classifier::follow_up`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// Nothing either way.
    Unsaid,
    /// It raises something raised before ("上次反映过", "还是那件事").
    Again,
    /// It says this time it is another matter ("这次是另一件事").
    AnotherMatter,
}

impl Thresholds {
    fn admits(&self, e: &EarlierCase, refers_back: bool) -> bool {
        let t = match (e.same_department, refers_back) {
            (true, true) => self.follow_up.min(self.same_department).min(self.any),
            (true, false) => self.same_department.min(self.any),
            (false, _) => self.any,
        };
        e.similarity >= t
    }
}

/// Links a new petition registered by `registering` to the most similar earlier case that
/// `thresholds` admit, and proposes its fate:
/// - the earlier matter was terminated after 复核 → 不再受理 (Art 36 para 3), proposed;
/// - it is finished (replied, diverted, not accepted, closed) → `related`: the petition gets a
///   disposition of its own within D1 — never a silent merge;
/// - it is still pending at a lower level, within its time limit, and is now raised with a
///   higher organ → 不予受理 (Art 19 para 3), proposed, with the earlier due time when known;
///   past its time limit → `related` (the higher organ handles it);
/// - otherwise (still open at the same level) the petition is merged into the earlier case.
///
/// A proposed refusal waits for a clerk ([`review`]). A different matter from the same person
/// (below the thresholds, or one the petitioner says is another matter) is not a repeat:
/// `follow_up` lowers the bar when the petition says it raised this before, and removes the
/// link when it says this time it is something else, however much the texts share (the same
/// employer, the same village).
pub fn link(
    registering: &CountyCode,
    earlier: &[EarlierCase],
    thresholds: Thresholds,
    follow_up: FollowUp,
) -> Option<RepeatLink> {
    if follow_up == FollowUp::AnotherMatter {
        return None;
    }
    let refers_back = follow_up == FollowUp::Again;
    let best = earlier
        .iter()
        .filter(|e| thresholds.admits(e, refers_back))
        .max_by(|a, b| {
            // Prefer a terminated match (it decides 不再受理), then an open one (the matter as
            // it is handled now, e.g. a `related` repeat of a finished case), then the most
            // similar.
            (a.terminated, !a.finished, a.similarity)
                .partial_cmp(&(b.terminated, !b.finished, b.similarity))
                .unwrap_or(std::cmp::Ordering::Equal)
        })?;
    let disposition = if best.terminated {
        RepeatDisposition::NotReaccepted
    } else if best.finished {
        RepeatDisposition::Related
    } else if is_higher(registering, &best.registered_by) {
        if best.out_of_time {
            RepeatDisposition::Related
        } else {
            RepeatDisposition::NotAccepted
        }
    } else {
        RepeatDisposition::Merged
    };
    Some(RepeatLink {
        of: best.case_no.clone(),
        disposition,
        similarity: best.similarity,
        count: best.count.saturating_add(1),
        proposed: disposition.is_refusal(),
        earlier_due: best
            .due
            .filter(|_| disposition == RepeatDisposition::NotAccepted),
    })
}

/// True when `upper` is the city of a county `lower` (one level up in this system).
fn is_higher(upper: &CountyCode, lower: &CountyCode) -> bool {
    upper.is_city() && !lower.is_city() && lower.city() == *upper
}

/// A deadline of an earlier case as the registry last heard of it (`deadline.warning` or
/// `deadline.overdue`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeadlineHeard<'a> {
    /// `D1`..`D11`, `eval`, `supervision`.
    pub code: &'a str,
    pub due: DateTime<Utc>,
    pub overdue: bool,
}

/// The earlier handling's time limit as far as the registry knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeLimit {
    /// The end of the handling deadline (D6 when extended, else D5), once a warning or the
    /// passing has been heard.
    pub due: Option<DateTime<Utc>>,
    /// A time limit the handling organs owed (a duty deadline: D1–D3, D5/D6, a 督办 response)
    /// has passed, or the known handling deadline is behind `now`. The petitioner's own
    /// windows (D4 is the unit's, D7, D9, the evaluation) do not count.
    pub passed: bool,
}

/// Whether the earlier matter is still "在规定期限内" (Art 19 para 3), from the deadlines the
/// registry has heard of.
pub fn time_limit(heard: &[DeadlineHeard<'_>], now: DateTime<Utc>) -> TimeLimit {
    let duty = |code: &str| {
        code.parse::<Tracked>()
            .is_ok_and(|t| t.role() == Role::Duty)
    };
    let handling = heard
        .iter()
        .find(|d| d.code == "D6")
        .or_else(|| heard.iter().find(|d| d.code == "D5"));
    let due = handling.map(|d| d.due);
    TimeLimit {
        due,
        passed: heard.iter().any(|d| d.overdue && duty(d.code)) || due.is_some_and(|d| now > d),
    }
}

/// A case's repeat link as the registry holds it when a clerk decides on it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkOnRecord {
    pub of: String,
    pub disposition: RepeatDisposition,
    /// The refusal waits for a clerk (set at registration, cleared by a decision).
    pub proposed: bool,
    /// A clerk has confirmed the refusal.
    pub confirmed: bool,
    /// The earlier matter is still pending at its level (not finished).
    pub earlier_pending: bool,
    /// The earlier matter is past its time limit ([`time_limit`]).
    pub earlier_out_of_time: bool,
}

/// Why a clerk's decision on a repeat link is refused (a conflict with the case's state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionRefused {
    #[error("the case is not linked to an earlier case as a repeat")]
    NotLinked,
    #[error(
        "the link is `{0}` and proposes no refusal: only a proposed 不予受理/不再受理 is confirmed or rejected (`unlink` removes a link)"
    )]
    NothingProposed(&'static str),
    #[error("the refusal has been confirmed: the petitioner is told it, and it is not undone here")]
    AlreadyConfirmed,
    #[error(
        "不予受理 under Art 19 para 3 no longer applies: the earlier matter {of} is {why}; reject the proposal so that the petition is handled"
    )]
    EarlierNotPendingInTime { of: String, why: &'static str },
}

/// A clerk's decision on a case's repeat link (Decisions 7): the link's disposition after it
/// (`None`: unlinked), or why it cannot be taken.
/// - `confirm`: only a proposed refusal; for 不予受理 (Art 19 para 3) only while the earlier
///   matter is still pending and within its time limit;
/// - `reject`: only a proposed refusal; the petition is handled on its own, linked as `related`;
/// - `unlink`: any link whose refusal has not been confirmed.
pub fn review(
    link: Option<&LinkOnRecord>,
    decision: RepeatDecision,
) -> Result<Option<RepeatDisposition>, DecisionRefused> {
    let link = link.ok_or(DecisionRefused::NotLinked)?;
    if link.confirmed {
        return Err(DecisionRefused::AlreadyConfirmed);
    }
    match decision {
        RepeatDecision::Unlink => Ok(None),
        RepeatDecision::Confirm | RepeatDecision::Reject
            if !(link.proposed && link.disposition.is_refusal()) =>
        {
            Err(DecisionRefused::NothingProposed(link.disposition.as_str()))
        }
        RepeatDecision::Reject => Ok(Some(RepeatDisposition::Related)),
        RepeatDecision::Confirm => {
            if link.disposition == RepeatDisposition::NotAccepted {
                let why = if !link.earlier_pending {
                    Some("finished")
                } else if link.earlier_out_of_time {
                    Some("past its time limit")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(DecisionRefused::EarlierNotPendingInTime {
                        of: link.of.clone(),
                        why,
                    });
                }
            }
            Ok(Some(link.disposition))
        }
    }
}

/// A matter of the provincial terminated-matters registry (省级终结库): terminated after 复核
/// elsewhere in the province and imported here from the province's list
/// ([`crate::termination_registry`]), with the same petitioner as a new petition. Only its
/// fingerprint is known, not its text.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryMatch {
    pub case_no: String,
    /// Estimated Jaccard similarity of the two fingerprints
    /// ([`crate::classify::similarity::similarity`]), 0..1.
    pub similarity: f32,
}

/// The registry matter most similar to the new petition, if it reaches `threshold` (a
/// fingerprint similarity, by default
/// [`crate::classify::similarity::DEFAULT_REPEAT_THRESHOLD`]).
pub fn best_registry_match(
    candidates: impl IntoIterator<Item = RegistryMatch>,
    threshold: f32,
) -> Option<RegistryMatch> {
    // On a tie the first given wins (intake gives the most recently terminated first).
    candidates
        .into_iter()
        .filter(|m| m.similarity >= threshold)
        .fold(None, |best: Option<RegistryMatch>, m| match best {
            Some(b) if b.similarity >= m.similarity => Some(b),
            _ => Some(m),
        })
}

/// [`link`]'s answer with the registry added: a matter terminated elsewhere in the province
/// is as final as one terminated here, so the new petition is proposed for 不再受理 (Art 36
/// para 3) and waits for a clerk like any other repeat. A terminated local matter stays the
/// link (the deployment's own, compared on its text); any other local link gives way, as
/// [`link`] prefers a terminated matter to an open or finished one.
pub fn with_registry(
    local: Option<RepeatLink>,
    registry: Option<RegistryMatch>,
) -> Option<RepeatLink> {
    match (local, registry) {
        (Some(l), _) if l.disposition == RepeatDisposition::NotReaccepted => Some(l),
        (local, None) => local,
        (_, Some(m)) => Some(RepeatLink {
            of: m.case_no,
            disposition: RepeatDisposition::NotReaccepted,
            similarity: m.similarity,
            // The earlier matter and this petition.
            count: 2,
            proposed: true,
            earlier_due: None,
        }),
    }
}

/// Longest reason a clerk records for a decision.
pub const MAX_REASON_CHARS: usize = 500;

/// The clerk's reason, trimmed: required (who, when and *why*), at most
/// [`MAX_REASON_CHARS`] characters.
pub fn check_reason(raw: &str) -> Result<&str, ValidationError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ValidationError::new(
            "reason",
            "required",
            format!("a reason of at most {MAX_REASON_CHARS} characters is required"),
        ));
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> CountyCode {
        CountyCode::parse(code).unwrap()
    }

    #[test]
    fn a_matter_terminated_elsewhere_in_the_province_proposes_not_reaccepted() {
        let m = |case_no: &str, similarity: f32| RegistryMatch {
            case_no: case_no.into(),
            similarity,
        };
        let best = best_registry_match(
            [
                m("XF-411202-2025-000009", 0.1),
                m("XF-411202-2025-000007", 0.4),
            ],
            0.15,
        );
        assert_eq!(best, Some(m("XF-411202-2025-000007", 0.4)));
        assert_eq!(
            best_registry_match(
                [
                    m("XF-411202-2025-000003", 0.4),
                    m("XF-411202-2025-000001", 0.4)
                ],
                0.15
            )
            .unwrap()
            .case_no,
            "XF-411202-2025-000003"
        );
        assert_eq!(
            best_registry_match([m("XF-411202-2025-000009", 0.1)], 0.15),
            None
        );
        // Nothing local: the registry's matter, proposed for a clerk.
        let l = with_registry(None, best.clone()).unwrap();
        assert_eq!(l.of, "XF-411202-2025-000007");
        assert_eq!(l.disposition, RepeatDisposition::NotReaccepted);
        assert!(l.proposed);
        assert_eq!(l.earlier_due, None);
        // A local open matter gives way; a local terminated one stays.
        let merged = link(
            &c("411282"),
            &[earlier(0.5, "411282", false, false)],
            T,
            FollowUp::Unsaid,
        );
        assert_eq!(
            merged.as_ref().unwrap().disposition,
            RepeatDisposition::Merged
        );
        assert_eq!(
            with_registry(merged.clone(), best.clone()).unwrap().of,
            "XF-411202-2025-000007"
        );
        assert_eq!(with_registry(merged.clone(), None), merged);
        let terminated = link(
            &c("411282"),
            &[earlier(0.5, "411282", true, true)],
            T,
            FollowUp::Unsaid,
        );
        assert_eq!(with_registry(terminated.clone(), best), terminated);
    }

    const T: Thresholds = Thresholds {
        any: 0.5,
        same_department: 0.3,
        follow_up: 0.1,
    };

    fn earlier(sim: f32, by: &str, terminated: bool, finished: bool) -> EarlierCase {
        EarlierCase {
            case_no: format!("XF-{by}-2026-000001"),
            registered_by: c(by),
            similarity: sim,
            same_department: false,
            terminated,
            finished,
            count: 1,
            out_of_time: false,
            due: None,
        }
    }

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_petition_saying_it_is_another_matter_is_not_linked() {
        let mut e = earlier(0.9, "411282", false, false);
        e.same_department = true;
        assert!(link(&c("411282"), std::slice::from_ref(&e), T, FollowUp::Unsaid).is_some());
        assert_eq!(link(&c("411282"), &[e], T, FollowUp::AnotherMatter), None);
    }

    #[test]
    fn a_different_matter_is_not_a_repeat() {
        assert_eq!(
            link(
                &c("411282"),
                &[earlier(0.2, "411282", false, false)],
                T,
                FollowUp::Unsaid
            ),
            None
        );
        assert_eq!(link(&c("411282"), &[], T, FollowUp::Unsaid), None);
    }

    #[test]
    fn the_same_department_lowers_the_bar() {
        let mut e = earlier(0.4, "411282", false, false);
        assert_eq!(
            link(&c("411282"), std::slice::from_ref(&e), T, FollowUp::Unsaid),
            None
        );
        e.same_department = true;
        assert!(link(&c("411282"), std::slice::from_ref(&e), T, FollowUp::Unsaid).is_some());
        e.similarity = 0.29;
        assert_eq!(link(&c("411282"), &[e], T, FollowUp::Unsaid), None);
    }

    #[test]
    fn saying_it_was_raised_before_lowers_the_bar_only_for_the_same_department() {
        let mut e = earlier(0.12, "411282", false, false);
        assert_eq!(
            link(&c("411282"), std::slice::from_ref(&e), T, FollowUp::Again),
            None
        );
        e.same_department = true;
        assert_eq!(
            link(&c("411282"), std::slice::from_ref(&e), T, FollowUp::Unsaid),
            None
        );
        assert!(link(&c("411282"), std::slice::from_ref(&e), T, FollowUp::Again).is_some());
        e.similarity = 0.05;
        assert_eq!(link(&c("411282"), &[e], T, FollowUp::Again), None);
    }

    #[test]
    fn the_most_similar_admitted_case_wins() {
        let mut a = earlier(0.35, "411282", false, false);
        a.same_department = true;
        a.case_no = "A".into();
        let mut b = earlier(0.6, "411282", false, false);
        b.case_no = "B".into();
        assert_eq!(
            link(&c("411282"), &[a, b], T, FollowUp::Unsaid).map(|l| l.of),
            Some("B".into())
        );
    }

    #[test]
    fn same_matter_same_level_is_merged_with_the_count_kept() {
        let mut e = earlier(0.8, "411282", false, false);
        e.count = 2;
        let l = link(&c("411282"), &[e], T, FollowUp::Unsaid).unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Merged);
        assert_eq!(l.count, 3);
    }

    #[test]
    fn pending_lower_level_raised_higher_is_not_accepted() {
        let l = link(
            &c("411200"),
            &[earlier(0.8, "411282", false, false)],
            T,
            FollowUp::Unsaid,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::NotAccepted);
        // Only proposed: a clerk confirms it before the petitioner hears of it.
        assert!(l.proposed);
        // Once the lower level has finished, going up is not Art 19 para 3: the petition is
        // handled on its own, linked for staff.
        let l = link(
            &c("411200"),
            &[earlier(0.8, "411282", false, true)],
            T,
            FollowUp::Unsaid,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Related);
        assert!(!l.proposed);
        // Another city's county is not "lower".
        let l = link(
            &c("411200"),
            &[earlier(0.8, "410102", false, false)],
            T,
            FollowUp::Unsaid,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Merged);
    }

    /// Art 19 para 3 "在规定期限内": a matter the county let pass its time limit is not refused
    /// by the city, and the earlier due time travels with a proposal when the registry knows it.
    #[test]
    fn art19_refusal_is_proposed_only_within_the_earlier_time_limit() {
        let mut e = earlier(0.8, "411282", false, false);
        e.due = Some(ts("2026-03-01T15:59:59Z"));
        let l = link(&c("411200"), std::slice::from_ref(&e), T, FollowUp::Unsaid).unwrap();
        assert_eq!(l.disposition, RepeatDisposition::NotAccepted);
        assert_eq!(l.earlier_due, Some(ts("2026-03-01T15:59:59Z")));
        e.out_of_time = true;
        let l = link(&c("411200"), &[e], T, FollowUp::Unsaid).unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Related);
        assert!(!l.proposed && l.earlier_due.is_none());
    }

    /// Decisions 7: a repeat of a finished matter (replied, diverted, not accepted) gets its
    /// own disposition; only a still-open matter at the same level absorbs the petition.
    #[test]
    fn a_repeat_of_a_finished_matter_is_related_not_merged() {
        let l = link(
            &c("411282"),
            &[earlier(0.9, "411282", false, true)],
            T,
            FollowUp::Unsaid,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Related);
        assert!(!l.proposed);
        let l = link(
            &c("411282"),
            &[earlier(0.9, "411282", false, false)],
            T,
            FollowUp::Unsaid,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Merged);
    }

    /// A matter raised again after a `related` repeat reopened it is linked to the open case,
    /// not to the finished one it was first raised in.
    #[test]
    fn an_open_match_wins_over_a_finished_one() {
        let mut done = earlier(0.95, "411282", false, true);
        done.case_no = "DONE".into();
        let mut open = earlier(0.6, "411282", false, false);
        open.case_no = "OPEN".into();
        let l = link(&c("411282"), &[open, done], T, FollowUp::Unsaid).unwrap();
        assert_eq!(
            (l.of.as_str(), l.disposition),
            ("OPEN", RepeatDisposition::Merged)
        );
    }

    #[test]
    fn the_time_limit_counts_duty_deadlines_not_the_petitioners_windows() {
        let now = ts("2026-02-01T00:00:00Z");
        let heard = |code, due, overdue| DeadlineHeard {
            code,
            due: ts(due),
            overdue,
        };
        assert_eq!(time_limit(&[], now), TimeLimit::default());
        // A warning of the handling deadline: its end is known, not yet passed.
        let t = time_limit(&[heard("D5", "2026-02-10T15:59:59Z", false)], now);
        assert_eq!((t.due, t.passed), (Some(ts("2026-02-10T15:59:59Z")), false));
        // The extension's end wins over D5.
        let t = time_limit(
            &[
                heard("D5", "2026-01-10T15:59:59Z", false),
                heard("D6", "2026-03-10T15:59:59Z", false),
            ],
            now,
        );
        assert_eq!((t.due, t.passed), (Some(ts("2026-03-10T15:59:59Z")), false));
        // The known end has passed even though no overdue was heard yet.
        assert!(time_limit(&[heard("D5", "2026-01-31T15:59:59Z", false)], now).passed);
        // A duty deadline passed (acceptance notice D3).
        assert!(time_limit(&[heard("D3", "2026-01-20T15:59:59Z", true)], now).passed);
        // The objection window (D4) or an appeal window passing is nobody's lateness.
        assert!(!time_limit(&[heard("D4", "2026-01-20T15:59:59Z", true)], now).passed);
        assert!(!time_limit(&[heard("D7", "2026-01-20T15:59:59Z", true)], now).passed);
    }

    fn on_record(disposition: RepeatDisposition, proposed: bool) -> LinkOnRecord {
        LinkOnRecord {
            of: "XF-411282-2026-000001".into(),
            disposition,
            proposed,
            confirmed: false,
            earlier_pending: true,
            earlier_out_of_time: false,
        }
    }

    #[test]
    fn a_clerk_confirms_or_rejects_only_a_proposed_refusal_and_unlinks_any_open_link() {
        use RepeatDecision::*;
        use RepeatDisposition::*;
        assert_eq!(review(None, Confirm), Err(DecisionRefused::NotLinked));
        assert_eq!(review(None, Unlink), Err(DecisionRefused::NotLinked));
        let p = on_record(NotReaccepted, true);
        assert_eq!(review(Some(&p), Confirm), Ok(Some(NotReaccepted)));
        assert_eq!(review(Some(&p), Reject), Ok(Some(Related)));
        assert_eq!(review(Some(&p), Unlink), Ok(None));
        let p = on_record(NotAccepted, true);
        assert_eq!(review(Some(&p), Confirm), Ok(Some(NotAccepted)));
        // A merge or a related link proposes nothing to confirm, but can be unlinked.
        for d in [Merged, Related] {
            let l = on_record(d, false);
            assert!(matches!(
                review(Some(&l), Confirm),
                Err(DecisionRefused::NothingProposed(_))
            ));
            assert!(matches!(
                review(Some(&l), Reject),
                Err(DecisionRefused::NothingProposed(_))
            ));
            assert_eq!(review(Some(&l), Unlink), Ok(None));
        }
        // Once confirmed, nothing more here.
        let mut c = on_record(NotReaccepted, false);
        c.confirmed = true;
        for d in [Confirm, Reject, Unlink] {
            assert_eq!(review(Some(&c), d), Err(DecisionRefused::AlreadyConfirmed));
        }
    }

    #[test]
    fn art19_confirmation_needs_the_earlier_matter_still_pending_in_time() {
        let mut l = on_record(RepeatDisposition::NotAccepted, true);
        l.earlier_out_of_time = true;
        let e = review(Some(&l), RepeatDecision::Confirm).unwrap_err();
        assert!(e.to_string().contains("past its time limit"), "{e}");
        // The clerk can still reject it, so the petition is handled.
        assert_eq!(
            review(Some(&l), RepeatDecision::Reject),
            Ok(Some(RepeatDisposition::Related))
        );
        l.earlier_out_of_time = false;
        l.earlier_pending = false;
        assert!(matches!(
            review(Some(&l), RepeatDecision::Confirm),
            Err(DecisionRefused::EarlierNotPendingInTime {
                why: "finished",
                ..
            })
        ));
        // Art 36 para 3 does not depend on the earlier time limit.
        let mut l = on_record(RepeatDisposition::NotReaccepted, true);
        l.earlier_pending = false;
        l.earlier_out_of_time = true;
        assert!(review(Some(&l), RepeatDecision::Confirm).is_ok());
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert_eq!(
            check_reason("  同一事实和理由  ").unwrap(),
            "同一事实和理由"
        );
        assert_eq!(check_reason("  ").unwrap_err().field, "reason");
        assert!(check_reason(&"理".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert!(check_reason(&"理".repeat(MAX_REASON_CHARS)).is_ok());
    }

    /// Supervision keeps the bureau's D1 open while a proposal waits: registration starts it,
    /// a clerk's decision closes nothing, and only the disposition (the refusal routing
    /// publishes, or the assignment) closes it.
    #[test]
    fn a_proposal_awaiting_a_clerk_keeps_the_bureaus_d1_open() {
        use crate::deadline::DeadlineKind;
        use crate::deadline_plan::{Family, Step, plan};
        use crate::events::{Registered, RepeatDecided, kind};
        use crate::petition::{Art31Branch, Channel, PetitionType};
        let at = ts("2026-02-01T01:00:00Z");
        let r = Registered {
            case_no: "XF-411200-2026-000002".into(),
            query_code: "Q1234567".into(),
            channel: Channel::Letter,
            received_at: at,
            registered_at: at,
            county: c("411282"),
            petition_type: PetitionType::Grievance,
            branch: Some(Art31Branch::Residual),
            diversion: None,
            department: "rsj".into(),
            accuses_official: false,
            confidential: false,
            urgent: false,
            needs_triage: false,
            confidence: 0.9,
            group_size: 1,
            repeat: link(
                &c("411200"),
                &[earlier(0.9, "411282", false, false)],
                T,
                FollowUp::Unsaid,
            ),
            petitioner_key: "k".into(),
            contact: None,
            text: "t".into(),
            received_by: None,
            redacted_text: None,
            source: None,
            listed: false,
            town: None,
            matter_words: None,
        };
        let wire = serde_json::to_value(&r).unwrap();
        assert_eq!(wire["repeat"]["proposed"], serde_json::json!(true));
        let steps = plan(Family::Case, kind::REGISTERED, &wire).unwrap();
        assert!(steps.iter().any(|s| matches!(s,
            Step::Start(st) if st.tracked == Tracked::Statutory(DeadlineKind::D1))));
        for decision in [
            RepeatDecision::Confirm,
            RepeatDecision::Reject,
            RepeatDecision::Unlink,
        ] {
            let d = RepeatDecided {
                case_no: r.case_no.clone(),
                repeat_of: "XF-411282-2026-000001".into(),
                decision,
                was: RepeatDisposition::NotAccepted,
                disposition: None,
                by: "t1".into(),
                reason: "同一事实和理由".into(),
                earlier_due: None,
                at,
            };
            let steps = plan(
                Family::Case,
                decision.event_kind(),
                &serde_json::to_value(&d).unwrap(),
            )
            .unwrap();
            assert!(steps.is_empty(), "{decision:?} closes nothing: {steps:?}");
        }
        let refused = serde_json::json!({"case_no": r.case_no, "rule": "Art 19 para 3",
            "reason": "r", "where_to_go": null, "at": at});
        let steps = plan(Family::Case, kind::NOT_ACCEPTED, &refused).unwrap();
        assert!(steps.iter().any(|s| matches!(s,
            Step::Close { tracked, .. } if tracked.contains(&Tracked::Statutory(DeadlineKind::D1)))));
    }

    #[test]
    fn links_of_older_releases_read_as_applied_not_proposed() {
        let l: RepeatLink = serde_json::from_value(serde_json::json!({
            "of": "XF-411282-2025-000009", "disposition": "not_accepted",
            "similarity": 0.9, "count": 2}))
        .unwrap();
        assert!(!l.proposed && l.earlier_due.is_none());
        assert_eq!(
            RepeatDisposition::parse("related"),
            Some(RepeatDisposition::Related)
        );
        assert_eq!(RepeatDisposition::parse("nope"), None);
    }

    #[test]
    fn terminated_matter_is_no_longer_accepted_even_if_a_closer_match_exists() {
        let l = link(
            &c("411282"),
            &[
                earlier(0.95, "411282", false, true),
                earlier(0.7, "411282", true, true),
            ],
            T,
            FollowUp::Unsaid,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::NotReaccepted);
    }
}
