//! Property tests of the deadline engine over the embedded calendar and random calendars.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeZone, Weekday};
use proptest::prelude::*;

use super::*;
use crate::calendar::Calendar;

fn day_in(year_from: i32, years: u64) -> impl Strategy<Value = NaiveDate> {
    let start = NaiveDate::from_ymd_opt(year_from, 1, 1).unwrap();
    (0..years * 365).prop_map(move |n| start + Days::new(n))
}

/// A trigger at any second of a day, written with any whole-hour offset from -12 to +14.
fn trigger() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (day_in(2025, 3), 0u32..86_400, -12i32..=14).prop_map(|(d, secs, off)| {
        let offset = FixedOffset::east_opt(off * 3600).unwrap();
        let naive = d
            .and_hms_opt(secs / 3600, (secs / 60) % 60, secs % 60)
            .unwrap();
        offset.from_local_datetime(&naive).unwrap()
    })
}

/// A random 2026 arrangement: some days off, some weekend make-up workdays, never both.
fn random_calendar() -> impl Strategy<Value = Calendar> {
    (
        proptest::collection::btree_set(0u64..365, 0..60),
        proptest::collection::btree_set(0u64..365, 0..12),
    )
        .prop_map(|(off, work)| {
            let jan1 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            let off: BTreeSet<NaiveDate> = off.into_iter().map(|n| jan1 + Days::new(n)).collect();
            let work: Vec<NaiveDate> = work
                .into_iter()
                .map(|n| jan1 + Days::new(n))
                .filter(|d| matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
                .filter(|d| !off.contains(d))
                .collect();
            let list = |v: &mut dyn Iterator<Item = &NaiveDate>| {
                v.map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(", ")
            };
            let raw = format!(
                "[2026]\noff = [{}]\nworkdays = [{}]\n",
                list(&mut off.iter()),
                list(&mut work.iter())
            );
            Calendar::from_toml_str(&raw).unwrap()
        })
}

fn working_rule(days: u32, roll_over: bool) -> DeadlineRules {
    DeadlineRules::default()
        .with_rule(
            DeadlineKind::D4,
            KindRule {
                days,
                working_days: true,
                roll_over,
            },
        )
        .unwrap()
}

/// Dates strictly after `from` up to and including `to`.
fn interval(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().skip(1).take_while(move |d| *d <= to)
}

proptest! {
    #[test]
    fn a_deadline_never_lands_before_its_trigger(
        t in trigger(),
        k in 0usize..10,
        roll in any::<bool>(),
        working in any::<bool>(),
        days in 1u32..=60,
    ) {
        let kind = DeadlineKind::ALL[k];
        let days = if kind == DeadlineKind::D6 { days.min(30) } else { days };
        let rules = DeadlineRules::default()
            .with_rule(kind, KindRule { days, working_days: working, roll_over: roll })
            .unwrap();
        let adj = Adjustments {
            extension_days: (kind == DeadlineKind::D6).then_some(days),
            ..Adjustments::default()
        };
        let due = compute(kind, t, &Calendar::embedded(), &rules, &adj).unwrap();
        let end = due.due.unwrap();
        prop_assert!(end > t);
        // At least `days` whole China-time days after the trigger's date.
        prop_assert!(cst_date(end) > cst_date(t));
        prop_assert_eq!(end.offset().local_minus_utc(), 8 * 3600);
        prop_assert_eq!(end.time(), chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap());
    }

    #[test]
    fn working_day_counting_skips_every_listed_holiday(t in trigger(), n in 1u32..=40, roll in any::<bool>()) {
        let cal = Calendar::embedded();
        let due = compute(DeadlineKind::D4, t, &cal, &working_rule(n, roll), &Adjustments::default()).unwrap();
        let last = cst_date(due.due.unwrap());
        let start = cst_date(t);
        let holidays: BTreeSet<NaiveDate> = cal.days_off().collect();
        for d in interval(start, last) {
            if holidays.contains(&d) {
                prop_assert!(due.skipped.contains(&d), "holiday {} was counted", d);
            }
        }
        for d in &due.skipped {
            prop_assert!(!cal.is_working_day(*d).working);
            prop_assert!(*d > start && *d < last);
        }
        // Make-up workdays in the interval are counted, never skipped.
        for d in cal.make_up_workdays() {
            prop_assert!(!due.skipped.contains(&d));
        }
    }

    #[test]
    fn counting_n_working_days_yields_exactly_n(
        cal in random_calendar(),
        t in trigger(),
        n in 1u32..=40,
    ) {
        let due = compute(DeadlineKind::D4, t, &cal, &working_rule(n, false), &Adjustments::default()).unwrap();
        let last = cst_date(due.due.unwrap());
        let start = cst_date(t);
        let working = interval(start, last).filter(|d| cal.is_working_day(*d).working).count();
        prop_assert_eq!(working, n as usize);
        prop_assert!(cal.is_working_day(last).working);
        let all = interval(start, last).count();
        prop_assert_eq!(all, n as usize + due.skipped.len());
        let covered = interval(start, last).all(|d| cal.covers(d.year()));
        prop_assert_eq!(due.calendar_complete, covered);
    }

    #[test]
    fn roll_over_lands_on_the_first_working_day_at_or_after_the_plain_date(
        cal in random_calendar(),
        t in trigger(),
        k in prop::sample::select(vec![DeadlineKind::D1, DeadlineKind::D7, DeadlineKind::D8]),
    ) {
        let off = DeadlineRules::default().with_roll_over(k, false).unwrap();
        let plain = compute(k, t, &cal, &off, &Adjustments::default()).unwrap();
        let rules = DeadlineRules::default();
        let rolled = compute(k, t, &cal, &rules, &Adjustments::default()).unwrap();
        let p = cst_date(plain.due.unwrap());
        let r = cst_date(rolled.due.unwrap());
        prop_assert!(r >= p);
        prop_assert!(cal.is_working_day(r).working);
        prop_assert!(interval(p.pred_opt().unwrap(), r.pred_opt().unwrap()).all(|d| !cal.is_working_day(d).working));
        prop_assert_eq!(rolled.rolled_over_from.is_some(), r != p);
    }

    #[test]
    fn hearing_days_push_d10_out_one_for_one(
        t in trigger(),
        hearings in proptest::collection::vec((1u64..60, 0u64..3), 0..5),
    ) {
        let start = cst_date(t);
        let cst = super::CST;
        let paused: Vec<_> = hearings
            .iter()
            .map(|(offset, len)| {
                let a = start + Days::new(*offset);
                let b = a + Days::new(*len);
                (
                    cst.from_local_datetime(&a.and_hms_opt(9, 0, 0).unwrap()).unwrap(),
                    cst.from_local_datetime(&b.and_hms_opt(17, 0, 0).unwrap()).unwrap(),
                )
            })
            .collect();
        let adj = Adjustments { paused, ..Adjustments::default() };
        // Without roll-over, so the count itself is visible.
        let rules = DeadlineRules::default().with_roll_over(DeadlineKind::D10, false).unwrap();
        let due = compute(DeadlineKind::D10, t, &Calendar::embedded(), &rules, &adj).unwrap();
        let last = cst_date(due.due.unwrap());
        prop_assert_eq!((last - start).num_days(), 30 + due.paused.len() as i64);
        prop_assert!(!due.paused.contains(&last));
    }

    #[test]
    fn by_default_every_day_counted_deadline_ends_on_a_working_day(
        cal in random_calendar(),
        t in trigger(),
        k in prop::sample::select(vec![
            DeadlineKind::D1, DeadlineKind::D2, DeadlineKind::D3, DeadlineKind::D4,
            DeadlineKind::D5, DeadlineKind::D7, DeadlineKind::D8, DeadlineKind::D9,
            DeadlineKind::D10,
        ]),
    ) {
        let due = compute(k, t, &cal, &DeadlineRules::default(), &Adjustments::default()).unwrap();
        let last = cst_date(due.due.unwrap());
        prop_assert!(cal.is_working_day(last).working, "{} ends on rest day {}", k, last);
        // Roll-over consults the days from the plain last day to the rolled one: provisional
        // exactly when one of them lies in a year the calendar does not cover (D4 also
        // consults every day it counts).
        if k != DeadlineKind::D4 {
            let first = due.rolled_over_from.unwrap_or(last);
            let consulted_covered = first.iter_days().take_while(|d| *d <= last).all(|d| cal.covers(d.year()));
            prop_assert_eq!(due.is_provisional(), !consulted_covered);
        }
    }
}
