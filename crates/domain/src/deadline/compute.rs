use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, TimeZone};
use serde::{Deserialize, Serialize};

use super::{CST, DeadlineError, DeadlineKind, DeadlineRules, KindRule};
use crate::calendar::Calendar;
use crate::petition::{Art31Branch, PetitionType};

/// The last second of a day; deadlines end there (Decisions 1: "end of the last day").
const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_opt(23, 59, 59) {
    Some(t) => t,
    None => panic!("23:59:59 is a valid time"),
};

/// Facts that move a deadline beyond its rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustments {
    /// The one extension of the handling deadline (D5 → D6), 1..=30 days (Art 34).
    #[serde(default)]
    pub extension_days: Option<u32>,
    /// Hearing intervals (听证) excluded from the re-review deadline D10 (Art 36 para 2).
    /// Every China-time calendar day an interval touches is not counted.
    #[serde(default)]
    pub paused: Vec<(DateTime<FixedOffset>, DateTime<FixedOffset>)>,
}

/// A computed deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    /// The rule applied; D5 with an extension is reported as D6.
    pub kind: DeadlineKind,
    pub trigger: DateTime<FixedOffset>,
    /// End of the last day (23:59:59+08:00); `None` when there is no time limit
    /// (D11, or a handling deadline configured as none).
    pub due: Option<DateTime<FixedOffset>>,
    /// Days counted (calendar or working days), including any extension.
    pub days: Option<u32>,
    pub working_days: bool,
    /// Rest days passed over while counting working days (D4).
    pub skipped: Vec<NaiveDate>,
    /// Hearing days not counted (D10).
    pub paused: Vec<NaiveDate>,
    /// The original due date when roll-over moved it off a rest day.
    pub rolled_over_from: Option<NaiveDate>,
    pub extension_days: Option<u32>,
    /// False when the result depended on whether a day was a working day in a year the calendar
    /// does not cover (Monday–Friday was assumed): recompute once the year's data is published.
    /// Plain calendar-day counting without roll-over never consults the calendar; with roll-over
    /// (the default) the last day always is.
    pub calendar_complete: bool,
}

impl Due {
    fn open_ended(kind: DeadlineKind, trigger: DateTime<FixedOffset>) -> Due {
        Due {
            kind,
            trigger,
            due: None,
            days: None,
            working_days: false,
            skipped: Vec::new(),
            paused: Vec::new(),
            rolled_over_from: None,
            extension_days: None,
            calendar_complete: true,
        }
    }

    /// True when the due time is a guess: it depends on a year the calendar does not cover yet
    /// (shown as `provisional: true`; recomputed when the calendar grows).
    pub fn is_provisional(&self) -> bool {
        !self.calendar_complete
    }

    /// True when there is no time limit at all.
    pub fn is_open_ended(&self) -> bool {
        self.due.is_none()
    }

    /// True once `now` is past the end of the last day.
    pub fn is_overdue(&self, now: DateTime<FixedOffset>) -> bool {
        self.due.is_some_and(|d| now > d)
    }

    /// When to warn: `lead` before the deadline, but never before the trigger.
    pub fn warning_at(&self, lead: TimeDelta) -> Option<DateTime<FixedOffset>> {
        self.due.map(|d| warning_time(d, lead).max(self.trigger))
    }
}

/// `due` minus `lead`, saturating at the earliest representable time.
pub fn warning_time(due: DateTime<FixedOffset>, lead: TimeDelta) -> DateTime<FixedOffset> {
    due.checked_sub_signed(lead.max(TimeDelta::zero()))
        .unwrap_or(due)
}

/// The China-time calendar date of an instant, whatever offset it was written with.
pub fn cst_date(at: DateTime<FixedOffset>) -> NaiveDate {
    at.with_timezone(&CST).date_naive()
}

/// 23:59:59+08:00 on `date`.
pub fn end_of_day(date: NaiveDate) -> Result<DateTime<FixedOffset>, DeadlineError> {
    CST.from_local_datetime(&date.and_time(END_OF_DAY))
        .single()
        .ok_or(DeadlineError::OutOfRange)
}

/// Computes deadline `kind` from `trigger` (see [`DeadlineKind::trigger_en`] for what that is).
///
/// D5 uses D5's days; use [`compute_handling`] to apply per-type/branch overrides.
/// D5 with `extension_days`, and D6, give the extended handling deadline.
pub fn compute(
    kind: DeadlineKind,
    trigger: DateTime<FixedOffset>,
    calendar: &Calendar,
    rules: &DeadlineRules,
    adjustments: &Adjustments,
) -> Result<Due, DeadlineError> {
    let Some(rule) = rules.rule(kind) else {
        // D11: no time limit. Adjustments make no sense here either.
        check_adjustments(kind, adjustments)?;
        return Ok(Due::open_ended(kind, trigger));
    };
    match kind {
        DeadlineKind::D5 | DeadlineKind::D6 => {
            let base = rules.rule(DeadlineKind::D5).map_or(rule.days, |r| r.days);
            handling(kind, base, trigger, calendar, rules, adjustments)
        }
        _ => {
            check_adjustments(kind, adjustments)?;
            count(kind, rule, rule.days, trigger, calendar, adjustments, None)
        }
    }
}

/// The handling deadline of an accepted matter (D5, or D6 with an extension), honouring the
/// per-type and per-branch overrides (Decisions 2). A matter configured with no handling
/// deadline yields an open-ended [`Due`].
pub fn compute_handling(
    accepted_at: DateTime<FixedOffset>,
    petition_type: Option<PetitionType>,
    branch: Option<Art31Branch>,
    calendar: &Calendar,
    rules: &DeadlineRules,
    adjustments: &Adjustments,
) -> Result<Due, DeadlineError> {
    let kind = if adjustments.extension_days.is_some() {
        DeadlineKind::D6
    } else {
        DeadlineKind::D5
    };
    match rules.handling_days(petition_type, branch) {
        Some(base) => handling(kind, base, accepted_at, calendar, rules, adjustments),
        None if adjustments.extension_days.is_some() => Err(DeadlineError::NothingToExtend),
        None => {
            check_adjustments(DeadlineKind::D5, adjustments)?;
            Ok(Due::open_ended(DeadlineKind::D5, accepted_at))
        }
    }
}

/// The new handling period after a 复查 or 复核 decision revoked or changed the opinion and
/// sent the matter back (`remand_handling_days`, counted and rolled over like D5), from the
/// remand. A D5 clock: the organ's duty to give its new opinion.
pub fn compute_remand(
    remanded_at: DateTime<FixedOffset>,
    calendar: &Calendar,
    rules: &DeadlineRules,
) -> Result<Due, DeadlineError> {
    handling(
        DeadlineKind::D5,
        rules.remand_handling_days(),
        remanded_at,
        calendar,
        rules,
        &Adjustments::default(),
    )
}

/// The end of the satisfaction-evaluation window (Decisions 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowEnd {
    /// End of the last day (23:59:59+08:00).
    pub closes: DateTime<FixedOffset>,
    /// The original last day when roll-over moved it off a rest day.
    pub rolled_over_from: Option<NaiveDate>,
    /// False when the last day fell in a year the calendar does not cover (provisional).
    pub calendar_complete: bool,
}

/// The satisfaction-evaluation window (Decisions 5): calendar days after the reply is served;
/// a last day that is a rest day rolls over to the next working day unless switched off
/// (`evaluation_roll_over`, Decisions 1).
pub fn evaluation_window(
    served_at: DateTime<FixedOffset>,
    calendar: &Calendar,
    rules: &DeadlineRules,
) -> Result<WindowEnd, DeadlineError> {
    let last = cst_date(served_at)
        .checked_add_days(chrono::Days::new(u64::from(rules.evaluation_window_days())))
        .ok_or(DeadlineError::OutOfRange)?;
    let mut complete = true;
    let day = if rules.evaluation_roll_over() {
        roll_over(last, calendar, &mut complete)?
    } else {
        last
    };
    Ok(WindowEnd {
        closes: end_of_day(day)?,
        rolled_over_from: (day != last).then_some(last),
        calendar_complete: complete,
    })
}

/// When the satisfaction evaluation closes: [`evaluation_window`]'s end.
pub fn evaluation_closes(
    served_at: DateTime<FixedOffset>,
    calendar: &Calendar,
    rules: &DeadlineRules,
) -> Result<DateTime<FixedOffset>, DeadlineError> {
    evaluation_window(served_at, calendar, rules).map(|w| w.closes)
}

/// 民法典 Art 203: the first working day from `day` on (`day` itself when it is one). Clears
/// `complete` when a day of a year the calendar does not cover was consulted.
fn roll_over(
    mut day: NaiveDate,
    calendar: &Calendar,
    complete: &mut bool,
) -> Result<NaiveDate, DeadlineError> {
    loop {
        let wd = calendar.is_working_day(day);
        *complete &= wd.covered;
        if wd.working {
            return Ok(day);
        }
        day = day.succ_opt().ok_or(DeadlineError::OutOfRange)?;
    }
}

fn handling(
    requested: DeadlineKind,
    base_days: u32,
    trigger: DateTime<FixedOffset>,
    calendar: &Calendar,
    rules: &DeadlineRules,
    adjustments: &Adjustments,
) -> Result<Due, DeadlineError> {
    if !adjustments.paused.is_empty() {
        return Err(DeadlineError::PauseNotApplicable(requested));
    }
    let extension = match (requested, adjustments.extension_days) {
        (DeadlineKind::D6, None) => return Err(DeadlineError::ExtensionRequired),
        (_, Some(days)) => {
            let max = rules.max_extension_days();
            if !(1..=max).contains(&days) {
                return Err(DeadlineError::ExtensionOutOfRange { days, max });
            }
            Some(days)
        }
        (_, None) => None,
    };
    // D5 and D6 are one clock: D6's own switches govern the extended date.
    let kind = if extension.is_some() {
        DeadlineKind::D6
    } else {
        DeadlineKind::D5
    };
    let rule = rules
        .rule(kind)
        .ok_or(DeadlineError::ExtensionNotApplicable(kind))?;
    let counting = rules.rule(DeadlineKind::D5).unwrap_or(rule);
    let rule = KindRule {
        working_days: counting.working_days,
        ..rule
    };
    let days = base_days + extension.unwrap_or(0);
    count(kind, rule, days, trigger, calendar, adjustments, extension)
}

fn check_adjustments(kind: DeadlineKind, adjustments: &Adjustments) -> Result<(), DeadlineError> {
    if adjustments.extension_days.is_some() {
        return Err(DeadlineError::ExtensionNotApplicable(kind));
    }
    if !adjustments.paused.is_empty() && kind != DeadlineKind::D10 {
        return Err(DeadlineError::PauseNotApplicable(kind));
    }
    Ok(())
}

/// Calendar dates (China time) covered by the paused intervals.
fn paused_dates(adjustments: &Adjustments) -> Result<BTreeSet<NaiveDate>, DeadlineError> {
    let mut dates = BTreeSet::new();
    for (index, (start, end)) in adjustments.paused.iter().enumerate() {
        if end < start {
            return Err(DeadlineError::PauseReversed { index });
        }
        let last = cst_date(*end);
        let mut day = cst_date(*start);
        while day <= last {
            dates.insert(day);
            day = day.succ_opt().ok_or(DeadlineError::OutOfRange)?;
        }
    }
    Ok(dates)
}

fn count(
    kind: DeadlineKind,
    rule: KindRule,
    days: u32,
    trigger: DateTime<FixedOffset>,
    calendar: &Calendar,
    adjustments: &Adjustments,
    extension_days: Option<u32>,
) -> Result<Due, DeadlineError> {
    let paused_set = paused_dates(adjustments)?;
    let mut skipped = Vec::new();
    let mut paused = Vec::new();
    let mut complete = true;
    // Counting starts the day after the trigger (Decisions 1).
    let mut day = cst_date(trigger);
    let mut counted = 0;
    while counted < days {
        day = day.succ_opt().ok_or(DeadlineError::OutOfRange)?;
        if paused_set.contains(&day) {
            paused.push(day);
            continue;
        }
        if rule.working_days {
            let wd = calendar.is_working_day(day);
            complete &= wd.covered;
            if !wd.working {
                skipped.push(day);
                continue;
            }
        }
        counted += 1;
    }
    let mut rolled_over_from = None;
    if rule.roll_over {
        let original = day;
        day = roll_over(day, calendar, &mut complete)?;
        if day != original {
            rolled_over_from = Some(original);
        }
    }
    Ok(Due {
        kind,
        trigger,
        due: Some(end_of_day(day)?),
        days: Some(days),
        working_days: rule.working_days,
        skipped,
        paused,
        rolled_over_from,
        extension_days,
        calendar_complete: complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeadlineKind::*;

    fn cal() -> Calendar {
        Calendar::embedded()
    }

    fn at(rfc3339: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn run(kind: DeadlineKind, trigger: &str) -> Due {
        compute(
            kind,
            at(trigger),
            &cal(),
            &DeadlineRules::default(),
            &Adjustments::default(),
        )
        .unwrap()
    }

    fn due_str(d: &Due) -> String {
        d.due.unwrap().to_rfc3339()
    }

    #[test]
    fn d1_d2_d3_are_15_calendar_days_from_the_day_after() {
        for k in [D1, D2, D3] {
            let d = run(k, "2026-03-02T10:00:00+08:00");
            assert_eq!(due_str(&d), "2026-03-17T23:59:59+08:00", "{k}");
            assert_eq!(d.days, Some(15));
            assert!(d.skipped.is_empty());
            assert!(d.calendar_complete);
        }
        // Calendar days run straight through the Spring Festival holiday (no roll-over).
        let d = run(D1, "2026-02-10T09:00:00+08:00");
        assert_eq!(due_str(&d), "2026-02-25T23:59:59+08:00");
        // 2026-09-16 + 15 = 2026-10-01, National Day: rolled over to 10-08 (Decisions 1).
        let d = run(D3, "2026-09-16T09:00:00+08:00");
        assert_eq!(due_str(&d), "2026-10-08T23:59:59+08:00");
        assert_eq!(d.rolled_over_from, Some(date("2026-10-01")));
    }

    #[test]
    fn the_trigger_date_is_taken_in_china_time() {
        // 2026-03-01T17:00Z is 2026-03-02 01:00 in Beijing.
        let d = run(D1, "2026-03-01T17:00:00Z");
        assert_eq!(due_str(&d), "2026-03-17T23:59:59+08:00");
        // 23:59:59 on the trigger day is still that day.
        let d = run(D1, "2026-03-02T23:59:59+08:00");
        assert_eq!(due_str(&d), "2026-03-17T23:59:59+08:00");
        assert_eq!(d.trigger, at("2026-03-02T23:59:59+08:00"));
    }

    #[test]
    fn d4_from_2026_09_30_skips_national_day_and_counts_the_make_up_saturday() {
        let d = run(D4, "2026-09-30T15:00:00+08:00");
        // 10-01..07 holiday, 10-08 Thu (1), 10-09 Fri (2), 10-10 Sat make-up (3),
        // 10-11 Sun off, 10-12 Mon (4), 10-13 Tue (5).
        assert_eq!(due_str(&d), "2026-10-13T23:59:59+08:00");
        let expected: Vec<NaiveDate> = [
            "2026-10-01",
            "2026-10-02",
            "2026-10-03",
            "2026-10-04",
            "2026-10-05",
            "2026-10-06",
            "2026-10-07",
            "2026-10-11",
        ]
        .into_iter()
        .map(date)
        .collect();
        assert_eq!(d.skipped, expected);
        assert!(!d.skipped.contains(&date("2026-10-10")));
        assert!(d.working_days);
        assert!(d.calendar_complete);
    }

    #[test]
    fn d4_over_an_ordinary_weekend() {
        // Thu 2026-03-05 → Fri (1), Sat/Sun skipped, Mon..Thu (2..5) = 2026-03-12.
        let d = run(D4, "2026-03-05T09:00:00+08:00");
        assert_eq!(due_str(&d), "2026-03-12T23:59:59+08:00");
        assert_eq!(d.skipped, vec![date("2026-03-07"), date("2026-03-08")]);
    }

    #[test]
    fn d4_over_spring_festival_counts_the_make_up_saturdays() {
        // Fri 2026-02-13 → 02-14 Sat make-up (1), 02-15..23 off, 02-24 (2), 25 (3), 26 (4), 27 (5).
        let d = run(D4, "2026-02-13T09:00:00+08:00");
        assert_eq!(due_str(&d), "2026-02-27T23:59:59+08:00");
        assert_eq!(d.skipped.len(), 9);
        assert_eq!(d.skipped.first(), Some(&date("2026-02-15")));
        assert_eq!(d.skipped.last(), Some(&date("2026-02-23")));
    }

    #[test]
    fn d5_is_60_days_from_acceptance() {
        let d = run(D5, "2026-01-05T10:00:00+08:00");
        assert_eq!(due_str(&d), "2026-03-06T23:59:59+08:00");
        assert_eq!(d.kind, D5);
        assert_eq!(d.extension_days, None);
    }

    #[test]
    fn d6_extends_d5_by_1_to_30_days() {
        let rules = DeadlineRules::default();
        let adj = |n| Adjustments {
            extension_days: Some(n),
            ..Adjustments::default()
        };
        let d = compute(
            D6,
            at("2026-01-05T10:00:00+08:00"),
            &cal(),
            &rules,
            &adj(30),
        )
        .unwrap();
        // 90 days end on Sunday 04-05, in 清明 (04-04..06): the next working day is 04-07.
        assert_eq!(due_str(&d), "2026-04-07T23:59:59+08:00");
        assert_eq!(d.rolled_over_from, Some(date("2026-04-05")));
        assert_eq!(d.days, Some(90));
        assert_eq!(d.extension_days, Some(30));
        // D5 with an extension is the same clock, reported as D6.
        let d5 = compute(D5, at("2026-01-05T10:00:00+08:00"), &cal(), &rules, &adj(1)).unwrap();
        assert_eq!(d5.kind, D6);
        // 61 days end on Saturday 03-07: Monday 03-09.
        assert_eq!(due_str(&d5), "2026-03-09T23:59:59+08:00");
        for bad in [0, 31, 90] {
            let err = compute(
                D6,
                at("2026-01-05T10:00:00+08:00"),
                &cal(),
                &rules,
                &adj(bad),
            )
            .unwrap_err();
            assert_eq!(
                err,
                DeadlineError::ExtensionOutOfRange { days: bad, max: 30 }
            );
            assert!(err.to_string().contains("Art 34"));
        }
        let err = compute(
            D6,
            at("2026-01-05T10:00:00+08:00"),
            &cal(),
            &rules,
            &Adjustments::default(),
        )
        .unwrap_err();
        assert_eq!(err, DeadlineError::ExtensionRequired);
        assert!(err.to_string().contains("Art 34"));
    }

    #[test]
    fn extensions_and_pauses_apply_only_where_the_law_says() {
        let rules = DeadlineRules::default();
        let ext = Adjustments {
            extension_days: Some(10),
            ..Adjustments::default()
        };
        for k in [D1, D4, D7, D10, D11] {
            assert_eq!(
                compute(k, at("2026-01-05T10:00:00+08:00"), &cal(), &rules, &ext).unwrap_err(),
                DeadlineError::ExtensionNotApplicable(k)
            );
        }
        let pause = Adjustments {
            paused: vec![(
                at("2026-01-06T09:00:00+08:00"),
                at("2026-01-06T12:00:00+08:00"),
            )],
            ..Adjustments::default()
        };
        for k in [D5, D6, D8, D9] {
            let err =
                compute(k, at("2026-01-05T10:00:00+08:00"), &cal(), &rules, &pause).unwrap_err();
            assert_eq!(err, DeadlineError::PauseNotApplicable(k));
            assert!(err.to_string().contains("Art 36 para 2"));
        }
    }

    #[test]
    fn d7_and_d9_run_30_days_from_service() {
        for k in [D7, D9] {
            let d = run(k, "2026-09-10T16:30:00+08:00");
            assert_eq!(due_str(&d), "2026-10-10T23:59:59+08:00", "{k}");
        }
        // Served on the last day of January: 30 days lands in March.
        assert_eq!(
            due_str(&run(D7, "2026-01-31T08:00:00+08:00")),
            "2026-03-02T23:59:59+08:00"
        );
    }

    #[test]
    fn d8_is_30_days_from_the_request() {
        let d = run(D8, "2026-04-01T11:00:00+08:00");
        // 05-01 is Labour Day (05-01..05 off): the organ has until 05-06.
        assert_eq!(due_str(&d), "2026-05-06T23:59:59+08:00");
        assert_eq!(d.rolled_over_from, Some(date("2026-05-01")));
        assert!(d.paused.is_empty());
        let d = run(D8, "2026-03-10T11:00:00+08:00");
        assert_eq!(due_str(&d), "2026-04-09T23:59:59+08:00");
        assert_eq!(d.rolled_over_from, None);
    }

    #[test]
    fn d10_leaves_hearing_days_uncounted() {
        // By default 05-01 (Labour Day) rolls to 05-06, which would hide the pauses below.
        assert_eq!(
            due_str(&run(D10, "2026-04-01T11:00:00+08:00")),
            "2026-05-06T23:59:59+08:00"
        );
        let rules = DeadlineRules::default().with_roll_over(D10, false).unwrap();
        let plain = compute(
            D10,
            at("2026-04-01T11:00:00+08:00"),
            &cal(),
            &rules,
            &Adjustments::default(),
        )
        .unwrap();
        assert_eq!(due_str(&plain), "2026-05-01T23:59:59+08:00");
        let adj = Adjustments {
            paused: vec![
                // One morning: one day.
                (
                    at("2026-04-10T09:00:00+08:00"),
                    at("2026-04-10T11:30:00+08:00"),
                ),
                // Across two days, given in UTC: 04-20 14:00 .. 04-21 10:00 China time.
                (at("2026-04-20T06:00:00Z"), at("2026-04-21T02:00:00Z")),
                // Overlaps the previous one: 04-21 is not counted twice.
                (
                    at("2026-04-21T14:00:00+08:00"),
                    at("2026-04-21T16:00:00+08:00"),
                ),
            ],
            ..Adjustments::default()
        };
        let d = compute(D10, at("2026-04-01T11:00:00+08:00"), &cal(), &rules, &adj).unwrap();
        assert_eq!(due_str(&d), "2026-05-04T23:59:59+08:00");
        assert_eq!(
            d.paused,
            vec![date("2026-04-10"), date("2026-04-20"), date("2026-04-21")]
        );
        // A hearing after the (extended) deadline changes nothing; one on the trigger day neither.
        let late = Adjustments {
            paused: vec![
                (
                    at("2026-06-01T09:00:00+08:00"),
                    at("2026-06-01T10:00:00+08:00"),
                ),
                (
                    at("2026-04-01T14:00:00+08:00"),
                    at("2026-04-01T15:00:00+08:00"),
                ),
            ],
            ..Adjustments::default()
        };
        let d = compute(D10, at("2026-04-01T11:00:00+08:00"), &cal(), &rules, &late).unwrap();
        assert_eq!(due_str(&d), "2026-05-01T23:59:59+08:00");
        assert!(d.paused.is_empty());
        // A hearing that starts on the original last day pushes the deadline out.
        let edge = Adjustments {
            paused: vec![(
                at("2026-05-01T09:00:00+08:00"),
                at("2026-05-02T10:00:00+08:00"),
            )],
            ..Adjustments::default()
        };
        let d = compute(D10, at("2026-04-01T11:00:00+08:00"), &cal(), &rules, &edge).unwrap();
        assert_eq!(due_str(&d), "2026-05-03T23:59:59+08:00");
        let reversed = Adjustments {
            paused: vec![(
                at("2026-04-10T11:00:00+08:00"),
                at("2026-04-10T09:00:00+08:00"),
            )],
            ..Adjustments::default()
        };
        assert_eq!(
            compute(
                D10,
                at("2026-04-01T11:00:00+08:00"),
                &cal(),
                &rules,
                &reversed
            )
            .unwrap_err(),
            DeadlineError::PauseReversed { index: 0 }
        );
    }

    #[test]
    fn d11_has_no_deadline_and_is_not_an_error() {
        let d = run(D11, "2026-04-01T11:00:00+08:00");
        assert_eq!(d.kind, D11);
        assert!(d.is_open_ended());
        assert_eq!(d.due, None);
        assert!(!d.is_overdue(at("2099-01-01T00:00:00+08:00")));
        assert_eq!(d.warning_at(TimeDelta::days(3)), None);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["due"], serde_json::Value::Null);
        assert_eq!(json["kind"], "D11");
    }

    /// Hand-computed vectors (Decisions 1, 民法典 Art 203) against the 2025 and 2026 notices
    /// of the 国务院办公厅: the last day of a day-counted period that is a rest day moves to the
    /// end of the next working day; a make-up workday (调休) is a working day.
    #[test]
    fn roll_over_moves_a_rest_day_due_date_to_the_next_working_day() {
        for (kind, trigger, due, from) in [
            // 国庆 2026 (10-01..07 off): the acceptance case of issue #13.
            (
                D7,
                "2026-09-01T15:00:00+08:00",
                "2026-10-08",
                Some("2026-10-01"),
            ),
            (
                D9,
                "2026-09-02T09:00:00+08:00",
                "2026-10-08",
                Some("2026-10-02"),
            ),
            (
                D3,
                "2026-09-16T09:00:00+08:00",
                "2026-10-08",
                Some("2026-10-01"),
            ),
            (
                D5,
                "2026-08-02T09:00:00+08:00",
                "2026-10-08",
                Some("2026-10-01"),
            ),
            // Ends on 10-10, a make-up Saturday: a working day, no roll-over.
            (D7, "2026-09-10T09:00:00+08:00", "2026-10-10", None),
            // Ends on Sunday 10-11: Monday 10-12.
            (
                D7,
                "2026-09-11T09:00:00+08:00",
                "2026-10-12",
                Some("2026-10-11"),
            ),
            // 春节 2026 (02-15..23 off, 02-14 and 02-28 make-up Saturdays).
            (
                D9,
                "2026-01-16T10:00:00+08:00",
                "2026-02-24",
                Some("2026-02-15"),
            ),
            (
                D1,
                "2026-02-05T10:00:00+08:00",
                "2026-02-24",
                Some("2026-02-20"),
            ),
            (D1, "2026-01-30T10:00:00+08:00", "2026-02-14", None),
            (D9, "2026-01-14T10:00:00+08:00", "2026-02-13", None),
            // 元旦 2026 (01-01..03 off) ending on Sunday 01-04, a make-up workday.
            (
                D1,
                "2025-12-17T10:00:00+08:00",
                "2026-01-04",
                Some("2026-01-01"),
            ),
            // 春节 2025 (01-28..02-04 off) and 国庆 2025 (10-01..08 off).
            (
                D1,
                "2025-01-13T10:00:00+08:00",
                "2025-02-05",
                Some("2025-01-28"),
            ),
            (
                D7,
                "2025-09-01T10:00:00+08:00",
                "2025-10-09",
                Some("2025-10-01"),
            ),
            // Ordinary weekends; 清明 2026 (04-04..06 off).
            (
                D2,
                "2026-03-13T10:00:00+08:00",
                "2026-03-30",
                Some("2026-03-28"),
            ),
            (
                D8,
                "2026-03-07T10:00:00+08:00",
                "2026-04-07",
                Some("2026-04-06"),
            ),
            (
                D10,
                "2026-03-07T10:00:00+08:00",
                "2026-04-07",
                Some("2026-04-06"),
            ),
        ] {
            let d = run(kind, trigger);
            assert_eq!(
                due_str(&d),
                format!("{due}T23:59:59+08:00"),
                "{kind} from {trigger}"
            );
            assert_eq!(d.rolled_over_from, from.map(date), "{kind} from {trigger}");
            assert!(d.calendar_complete && !d.is_provisional());
        }
    }

    #[test]
    fn roll_over_can_be_switched_off_per_kind() {
        let rules = DeadlineRules::default().with_roll_over(D7, false).unwrap();
        let t = at("2026-09-01T15:00:00+08:00");
        let d7 = compute(D7, t, &cal(), &rules, &Adjustments::default()).unwrap();
        assert_eq!(due_str(&d7), "2026-10-01T23:59:59+08:00");
        assert_eq!(d7.rolled_over_from, None);
        // The switch is per deadline: D9 with the same trigger still rolls over.
        let d9 = compute(D9, t, &cal(), &rules, &Adjustments::default()).unwrap();
        assert_eq!(due_str(&d9), "2026-10-08T23:59:59+08:00");
    }

    #[test]
    fn uncovered_years_fall_back_to_monday_to_friday_and_say_so() {
        // 2027 is not in the data: D4 from Thu 2027-09-30 counts Mon–Fri only.
        let d = run(D4, "2027-09-30T09:00:00+08:00");
        assert_eq!(due_str(&d), "2027-10-07T23:59:59+08:00");
        assert_eq!(d.skipped, vec![date("2027-10-02"), date("2027-10-03")]);
        assert!(!d.calendar_complete);
        // A count starting in a covered year and ending in an uncovered one is incomplete too.
        let d = run(D4, "2026-12-30T09:00:00+08:00");
        assert!(!d.calendar_complete);
        assert_eq!(due_str(&d), "2027-01-06T23:59:59+08:00");
        // Roll-over (the default) looks the last day up: past the calendar's end the answer is
        // provisional even for calendar days.
        let d = run(D1, "2027-09-30T09:00:00+08:00");
        assert!(!d.calendar_complete && d.is_provisional());
        // 2026-12-17 + 15 = 2027-01-01, New Year's Day in reality; the fallback thinks a Friday
        // is a working day, so it stays, provisional.
        let d = run(D3, "2026-12-17T09:00:00+08:00");
        assert_eq!(due_str(&d), "2027-01-01T23:59:59+08:00");
        assert!(d.is_provisional());
        let d = run(D10, "2026-12-15T09:00:00+08:00");
        assert_eq!(due_str(&d), "2027-01-14T23:59:59+08:00");
        assert!(d.is_provisional());
        // A period ending inside the covered calendar is not provisional.
        assert!(!run(D1, "2026-12-01T09:00:00+08:00").is_provisional());
        // Plain calendar days without roll-over never consult the calendar.
        let rules = DeadlineRules::default().with_roll_over(D1, false).unwrap();
        let d = compute(
            D1,
            at("2027-03-01T09:00:00+08:00"),
            &cal(),
            &rules,
            &Adjustments::default(),
        )
        .unwrap();
        assert!(d.calendar_complete);
    }

    #[test]
    fn working_day_mode_can_be_switched_on_for_any_rule() {
        let rules = DeadlineRules::default()
            .with_rule(
                D1,
                KindRule {
                    days: 15,
                    working_days: true,
                    roll_over: true,
                },
            )
            .unwrap();
        // 15 working days from Wed 2026-09-23: 24 (1), 25-27 中秋 off, 28-30 (2-4), 10-01..07 off,
        // 8, 9, 10 (make-up Sat) (5-7), 12-16 (8-12), 19, 20, 21 (13-15).
        let d = compute(
            D1,
            at("2026-09-23T09:00:00+08:00"),
            &cal(),
            &rules,
            &Adjustments::default(),
        )
        .unwrap();
        assert_eq!(due_str(&d), "2026-10-21T23:59:59+08:00");
        assert!(d.skipped.contains(&date("2026-09-25")));
        assert!(!d.skipped.contains(&date("2026-10-10")));
    }

    #[test]
    fn handling_deadline_follows_type_and_branch_overrides() {
        use crate::deadline::HandlingLimit;
        let rules = DeadlineRules::default()
            .with_handling_for_type(PetitionType::Suggestion, HandlingLimit::NoDeadline)
            .unwrap()
            .with_handling_for_branch(Art31Branch::DutyPerformance, HandlingLimit::Days(20))
            .unwrap();
        let t = at("2026-03-02T10:00:00+08:00");
        let none = Adjustments::default();
        let d = compute_handling(
            t,
            Some(PetitionType::Grievance),
            Some(Art31Branch::Residual),
            &cal(),
            &rules,
            &none,
        )
        .unwrap();
        // 60 days end on 05-01 (Labour Day): 05-06.
        assert_eq!(due_str(&d), "2026-05-06T23:59:59+08:00");
        let d = compute_handling(
            t,
            Some(PetitionType::Grievance),
            Some(Art31Branch::DutyPerformance),
            &cal(),
            &rules,
            &none,
        )
        .unwrap();
        // 20 days end on Sunday 03-22: 03-23.
        assert_eq!(due_str(&d), "2026-03-23T23:59:59+08:00");
        let d = compute_handling(
            t,
            Some(PetitionType::Suggestion),
            None,
            &cal(),
            &rules,
            &none,
        )
        .unwrap();
        assert!(d.is_open_ended());
        let ext = Adjustments {
            extension_days: Some(5),
            ..Adjustments::default()
        };
        assert_eq!(
            compute_handling(
                t,
                Some(PetitionType::Suggestion),
                None,
                &cal(),
                &rules,
                &ext
            )
            .unwrap_err(),
            DeadlineError::NothingToExtend
        );
        let d = compute_handling(t, None, None, &cal(), &rules, &ext).unwrap();
        assert_eq!(d.kind, D6);
        assert_eq!(due_str(&d), "2026-05-06T23:59:59+08:00");
    }

    #[test]
    fn warning_time_is_due_minus_lead_but_not_before_the_trigger() {
        let d = run(D1, "2026-03-02T10:00:00+08:00");
        assert_eq!(
            d.warning_at(TimeDelta::days(3)).unwrap().to_rfc3339(),
            "2026-03-14T23:59:59+08:00"
        );
        assert_eq!(d.warning_at(TimeDelta::days(100)), Some(d.trigger));
        assert_eq!(
            warning_time(d.due.unwrap(), TimeDelta::hours(-5)),
            d.due.unwrap()
        );
        assert!(!d.is_overdue(at("2026-03-17T23:59:59+08:00")));
        assert!(d.is_overdue(at("2026-03-18T00:00:00+08:00")));
        assert!(d.is_overdue(at("2026-03-17T16:00:00Z")));
    }

    #[test]
    fn a_remand_gives_30_days_from_the_remand_unless_configured() {
        // Sent back 2026-03-02: 30 days end 2026-04-01 (a Wednesday).
        let remanded = at("2026-03-02T10:00:00+08:00");
        let d = compute_remand(remanded, &cal(), &DeadlineRules::default()).unwrap();
        assert_eq!(d.kind, D5);
        assert_eq!(due_str(&d), "2026-04-01T23:59:59+08:00");
        // 2026-09-01 + 30 = 10-01, National Day: rolled over like D5 to 10-08.
        let d = compute_remand(
            at("2026-09-01T10:00:00+08:00"),
            &cal(),
            &DeadlineRules::default(),
        )
        .unwrap();
        assert_eq!(due_str(&d), "2026-10-08T23:59:59+08:00");
        let rules = DeadlineRules::default()
            .with_remand_handling_days(45)
            .unwrap();
        let d = compute_remand(remanded, &cal(), &rules).unwrap();
        assert_eq!(due_str(&d), "2026-04-16T23:59:59+08:00");
    }

    #[test]
    fn evaluation_window_defaults_to_30_days_and_is_configurable() {
        let served = at("2026-09-20T10:00:00+08:00");
        assert_eq!(
            evaluation_closes(served, &cal(), &DeadlineRules::default())
                .unwrap()
                .to_rfc3339(),
            "2026-10-20T23:59:59+08:00"
        );
        let rules = DeadlineRules::default()
            .with_evaluation_window_days(7)
            .unwrap();
        // 7 days end on Sunday 09-27 (中秋 09-25..27): rolled over to Monday 09-28.
        let w = evaluation_window(served, &cal(), &rules).unwrap();
        assert_eq!(w.closes.to_rfc3339(), "2026-09-28T23:59:59+08:00");
        assert_eq!(w.rolled_over_from, Some(date("2026-09-27")));
        // Served 09-01: 30 days end on 10-01 (National Day) → 10-08; the switch turns it off.
        let served = at("2026-09-01T10:00:00+08:00");
        let rules = DeadlineRules::default();
        assert_eq!(
            evaluation_closes(served, &cal(), &rules)
                .unwrap()
                .to_rfc3339(),
            "2026-10-08T23:59:59+08:00"
        );
        let off = rules.with_evaluation_roll_over(false);
        assert_eq!(
            evaluation_closes(served, &cal(), &off)
                .unwrap()
                .to_rfc3339(),
            "2026-10-01T23:59:59+08:00"
        );
        // Past the calendar's end the window's end is provisional.
        let late = evaluation_window(
            at("2026-12-20T10:00:00+08:00"),
            &cal(),
            &off.with_evaluation_roll_over(true),
        )
        .unwrap();
        assert!(!late.calendar_complete);
    }

    #[test]
    fn due_serialises_for_the_cli() {
        let d = run(D4, "2026-09-30T15:00:00+08:00");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["kind"], "D4");
        assert_eq!(v["due"], "2026-10-13T23:59:59+08:00");
        assert_eq!(v["trigger"], "2026-09-30T15:00:00+08:00");
        assert_eq!(v["skipped"][0], "2026-10-01");
        assert_eq!(v["calendar_complete"], true);
        let back: Due = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn dates_beyond_chrono_range_are_errors_not_panics() {
        let far = NaiveDate::MAX
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_local_timezone(CST)
            .unwrap();
        assert_eq!(
            compute(
                D1,
                far,
                &cal(),
                &DeadlineRules::default(),
                &Adjustments::default()
            )
            .unwrap_err(),
            DeadlineError::OutOfRange
        );
    }
}
