//! How a deadline's record ends, and who hears about it. Pure: supervision applies it when a
//! fact closes a clock, the registry and the KPIs read the states it writes.
//!
//! A clock ends in one of three ways (issue #20; before, all three read `cancelled`):
//!
//! | state | meaning |
//! |---|---|
//! | `met` | the act the clock waited for happened by the due time (a disposal, an acceptance notice, an objection, a reply, a decision, a request, a rating, a 督办 response) |
//! | `met_late` | that act happened, but after the due time (the clock had passed) |
//! | `withdrawn` | the clock became moot before it passed: the matter left the unit, was disposed of another way, was re-classified, the clock was started anew, the case was terminated |
//!
//! Late or not is the act's own time against the due time, not whether the timer had fired
//! (a fact can reach supervision after its clock fired). A clock that passed (`fired`) and was
//! then made moot after its due time stays `fired`, with the time and reason it was closed: it
//! was missed, and withdrawing it must not hide that.

use crate::county::CountyCode;
use crate::deadline::DeadlineKind;
use crate::deadline_plan::Tracked;
use crate::directory::OrganRef;

/// Record states of a deadline (`deadlines.state` in supervision, `state` in its events).
pub mod state {
    /// Running.
    pub const PENDING: &str = "pending";
    /// Stopped while a 复核 hearing runs (Art 36 para 2).
    pub const PAUSED: &str = "paused";
    /// Passed without the act; closed or not.
    pub const FIRED: &str = "fired";
    /// The act happened in time.
    pub const MET: &str = "met";
    /// The act happened after the due time.
    pub const MET_LATE: &str = "met_late";
    /// Made moot before it passed.
    pub const WITHDRAWN: &str = "withdrawn";
    /// Records closed before these states existed; a migration renamed them.
    pub const LEGACY_CANCELLED: &str = "cancelled";

    /// The states a record can end in (besides a `fired` record closed later).
    pub const FINAL: [&str; 3] = [MET, MET_LATE, WITHDRAWN];
}

/// What a fact that closes a clock means for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The act the clock waited for.
    Met,
    /// Something that makes the clock moot.
    Withdrawn,
}

/// Close reasons (see [`crate::deadline_plan::plan`]) that are the awaited act itself.
pub const MET_REASONS: [&str; 11] = [
    // D1: the bureau disposed of the matter (assigned, diverted, refused or accepted).
    "assigned",
    "disposed",
    "accepted",
    // D3/D4: the unit answered with an objection.
    "objected",
    // D5/D6 and 督办 responses: the unit's result.
    "replied",
    "mediated",
    "diverted",
    // The evaluation window, the appeal windows, the review organs' decisions.
    "evaluated",
    "requested",
    "decided",
    // A 督办 answered.
    "responded",
];

/// Whether closing `tracked` for `reason` meets it or withdraws it. A diversion or refusal by
/// the bureau (`disposed`) answers the bureau's D1 and the direct organ's D2 but makes the
/// unit's acceptance notice (D3) and objection window (D4) moot; an acceptance makes the
/// objection window moot. Unknown reasons withdraw.
pub fn closing(tracked: Tracked, reason: &str) -> Closing {
    use DeadlineKind::*;
    match (tracked, reason) {
        (Tracked::Statutory(D3 | D4), "disposed") => Closing::Withdrawn,
        (Tracked::Statutory(D4), "accepted") => Closing::Withdrawn,
        // A matter is terminated by the 复核 decision (Art 36 para 3): the termination that
        // reaches supervision before the decision itself (they travel on different streams)
        // still means the re-review organ decided.
        (Tracked::Statutory(D10), "terminated") => Closing::Met,
        // A conference's task reported done by its department.
        (Tracked::ConferenceTask, "done") => Closing::Met,
        (_, r) if MET_REASONS.contains(&r) => Closing::Met,
        _ => Closing::Withdrawn,
    }
}

/// The state a record takes when closed: `fired` says whether the timer had fired it, `late`
/// whether the closing fact came after the due time.
pub fn final_state(closing: Closing, fired: bool, late: bool) -> &'static str {
    match closing {
        Closing::Met if late => state::MET_LATE,
        Closing::Met => state::MET,
        Closing::Withdrawn if fired && late => state::FIRED,
        Closing::Withdrawn => state::WITHDRAWN,
    }
}

/// [`final_state`] for a clock of code `code` (`D1`..`D11`, `eval`, `supervision`); an
/// unknown code is withdrawn.
pub fn final_state_of(code: &str, reason: &str, fired: bool, late: bool) -> &'static str {
    let c = code
        .parse::<Tracked>()
        .map(|t| closing(t, reason))
        .unwrap_or(Closing::Withdrawn);
    final_state(c, fired, late)
}

/// The organ a deadline binds, on whose department subjects (`xf.<county>.dept.<dept>.…`) its
/// warnings and notices go: a department code of the deadline's county, or a review organ
/// written `411200:gov`. `None` for an organ of another county (its own deployment tells it)
/// or a code that is no subject token.
pub fn department_subject(county: &CountyCode, department: &str) -> Option<String> {
    let dept = match department.split_once(':') {
        Some(_) => {
            let organ = OrganRef::parse(department).ok()?;
            if &organ.county != county {
                return None;
            }
            organ.dept
        }
        None => department.to_owned(),
    };
    crate::subject::token("dept", &dept).ok()?;
    Some(dept)
}

/// Whether a clock's start is announced to the organ it binds (`dept.<d>.scheduled`): the
/// review organs' decision deadlines, which no other event tells them (a request addressed to
/// them, Art 35–36). The handling units learn theirs from the assignment.
pub fn announced_to_organ(tracked: Tracked) -> bool {
    matches!(
        tracked,
        Tracked::Statutory(DeadlineKind::D8 | DeadlineKind::D10)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeadlineKind::*;

    const D: fn(DeadlineKind) -> Tracked = Tracked::Statutory;

    #[test]
    fn the_awaited_act_meets_a_clock_and_anything_else_withdraws_it() {
        for (t, reason) in [
            (D(D1), "assigned"),
            (D(D1), "disposed"),
            (D(D2), "disposed"),
            (D(D2), "accepted"),
            (D(D3), "accepted"),
            (D(D3), "objected"),
            (D(D4), "objected"),
            (D(D5), "replied"),
            (D(D6), "mediated"),
            (D(D5), "diverted"),
            (D(D7), "requested"),
            (D(D8), "decided"),
            (D(D9), "requested"),
            (D(D10), "decided"),
            (D(D10), "terminated"),
            (Tracked::Evaluation, "evaluated"),
            (Tracked::SupervisionResponse, "responded"),
            (Tracked::SupervisionResponse, "replied"),
            (Tracked::ConferenceTask, "done"),
        ] {
            assert_eq!(closing(t, reason), Closing::Met, "{t} {reason}");
        }
        for (t, reason) in [
            (D(D3), "disposed"),
            (D(D4), "disposed"),
            (D(D4), "accepted"),
            (D(D3), "transferred"),
            (D(D3), "restarted"),
            (D(D5), "withdrawn"),
            (D(D5), "reclassified"),
            (D(D7), "returned_for_redo"),
            (D(D7), "final_without_appeal"),
            (D(D8), "terminated"),
            (Tracked::Evaluation, "returned_for_redo"),
            (D(D1), "something new"),
            (D(D5), "done"),
            (Tracked::ConferenceTask, "terminated"),
        ] {
            assert_eq!(closing(t, reason), Closing::Withdrawn, "{t} {reason}");
        }
    }

    #[test]
    fn a_late_act_is_met_late_and_a_missed_clock_stays_fired() {
        assert_eq!(final_state(Closing::Met, false, false), "met");
        assert_eq!(final_state(Closing::Met, true, true), "met_late");
        assert_eq!(final_state(Closing::Met, false, true), "met_late");
        // The act was in time; the fact reached supervision after its timer fired.
        assert_eq!(final_state(Closing::Met, true, false), "met");
        assert_eq!(final_state(Closing::Withdrawn, false, false), "withdrawn");
        assert_eq!(final_state(Closing::Withdrawn, false, true), "withdrawn");
        assert_eq!(final_state(Closing::Withdrawn, true, false), "withdrawn");
        assert_eq!(final_state(Closing::Withdrawn, true, true), "fired");
        assert_eq!(final_state_of("D5", "replied", false, false), "met");
        assert_eq!(final_state_of("D4", "accepted", false, false), "withdrawn");
        assert_eq!(final_state_of("X1", "replied", false, false), "withdrawn");
        assert_eq!(
            final_state_of("supervision", "responded", true, true),
            "met_late"
        );
    }

    #[test]
    fn review_organs_hear_on_their_own_county_subjects() {
        let city = CountyCode::parse("411200").unwrap();
        let county = CountyCode::parse("411282").unwrap();
        assert_eq!(
            department_subject(&city, "411200:gov").as_deref(),
            Some("gov")
        );
        assert_eq!(department_subject(&county, "411200:gov"), None);
        assert_eq!(department_subject(&county, "rsj").as_deref(), Some("rsj"));
        assert_eq!(department_subject(&county, "a.b"), None);
        assert_eq!(department_subject(&county, "411282:"), None);
        assert!(announced_to_organ(D(D8)));
        assert!(announced_to_organ(D(D10)));
        assert!(!announced_to_organ(D(D5)));
        assert!(!announced_to_organ(Tracked::SupervisionResponse));
    }
}
