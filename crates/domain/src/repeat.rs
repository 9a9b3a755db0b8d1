//! Repeat petitions (domain.md §7, Decisions 7): the same petitioner raising the same matter
//! again. Art 19 para 3 and Art 36 para 3 decide what happens to the new petition.

use crate::county::CountyCode;
use crate::events::{RepeatDisposition, RepeatLink};

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
    /// Handling finished (replied, closed, final) — no longer pending.
    pub finished: bool,
    /// Petitions the earlier case has absorbed so far (itself included).
    pub count: u32,
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
/// `thresholds` admit, and decides its fate:
/// - the earlier matter was terminated after 复核 → 不再受理 (Art 36 para 3);
/// - it is still pending at a lower level and is now raised with a higher organ →
///   不予受理 (Art 19 para 3);
/// - otherwise the petition is merged into the earlier case as a repeat.
///
/// A different matter from the same person (below the thresholds) is not a repeat.
/// `refers_back`: the new petition says it raises something raised before
/// ([`crate::classify::Classifier::refers_to_earlier_petition`]).
pub fn link(
    registering: &CountyCode,
    earlier: &[EarlierCase],
    thresholds: Thresholds,
    refers_back: bool,
) -> Option<RepeatLink> {
    let best = earlier
        .iter()
        .filter(|e| thresholds.admits(e, refers_back))
        .max_by(|a, b| {
            // Prefer a terminated match (it decides 不再受理), then the most similar.
            (a.terminated, a.similarity)
                .partial_cmp(&(b.terminated, b.similarity))
                .unwrap_or(std::cmp::Ordering::Equal)
        })?;
    let disposition = if best.terminated {
        RepeatDisposition::NotReaccepted
    } else if !best.finished && is_higher(registering, &best.registered_by) {
        RepeatDisposition::NotAccepted
    } else {
        RepeatDisposition::Merged
    };
    Some(RepeatLink {
        of: best.case_no.clone(),
        disposition,
        similarity: best.similarity,
        count: best.count.saturating_add(1),
    })
}

/// True when `upper` is the city of a county `lower` (one level up in this system).
fn is_higher(upper: &CountyCode, lower: &CountyCode) -> bool {
    upper.is_city() && !lower.is_city() && lower.city() == *upper
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> CountyCode {
        CountyCode::parse(code).unwrap()
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
        }
    }

    #[test]
    fn a_different_matter_is_not_a_repeat() {
        assert_eq!(
            link(
                &c("411282"),
                &[earlier(0.2, "411282", false, false)],
                T,
                false
            ),
            None
        );
        assert_eq!(link(&c("411282"), &[], T, false), None);
    }

    #[test]
    fn the_same_department_lowers_the_bar() {
        let mut e = earlier(0.4, "411282", false, false);
        assert_eq!(link(&c("411282"), std::slice::from_ref(&e), T, false), None);
        e.same_department = true;
        assert!(link(&c("411282"), std::slice::from_ref(&e), T, false).is_some());
        e.similarity = 0.29;
        assert_eq!(link(&c("411282"), &[e], T, false), None);
    }

    #[test]
    fn saying_it_was_raised_before_lowers_the_bar_only_for_the_same_department() {
        let mut e = earlier(0.12, "411282", false, false);
        assert_eq!(link(&c("411282"), std::slice::from_ref(&e), T, true), None);
        e.same_department = true;
        assert_eq!(link(&c("411282"), std::slice::from_ref(&e), T, false), None);
        assert!(link(&c("411282"), std::slice::from_ref(&e), T, true).is_some());
        e.similarity = 0.05;
        assert_eq!(link(&c("411282"), &[e], T, true), None);
    }

    #[test]
    fn the_most_similar_admitted_case_wins() {
        let mut a = earlier(0.35, "411282", false, false);
        a.same_department = true;
        a.case_no = "A".into();
        let mut b = earlier(0.6, "411282", false, false);
        b.case_no = "B".into();
        assert_eq!(
            link(&c("411282"), &[a, b], T, false).map(|l| l.of),
            Some("B".into())
        );
    }

    #[test]
    fn same_matter_same_level_is_merged_with_the_count_kept() {
        let mut e = earlier(0.8, "411282", false, false);
        e.count = 2;
        let l = link(&c("411282"), &[e], T, false).unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Merged);
        assert_eq!(l.count, 3);
    }

    #[test]
    fn pending_lower_level_raised_higher_is_not_accepted() {
        let l = link(
            &c("411200"),
            &[earlier(0.8, "411282", false, false)],
            T,
            false,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::NotAccepted);
        // Once the lower level has finished, going up is not Art 19 para 3.
        let l = link(
            &c("411200"),
            &[earlier(0.8, "411282", false, true)],
            T,
            false,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Merged);
        // Another city's county is not "lower".
        let l = link(
            &c("411200"),
            &[earlier(0.8, "410102", false, false)],
            T,
            false,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::Merged);
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
            false,
        )
        .unwrap();
        assert_eq!(l.disposition, RepeatDisposition::NotReaccepted);
    }
}
