//! The official holiday calendar: days off (法定节假日) and make-up workdays (调休上班) per year.
//!
//! The State Council publishes each year's arrangement only weeks before the year starts, so the
//! data is a file the deployment keeps current (`config/calendar/holidays-cn.toml`), never code.
//! For a year the file does not cover we fall back to Monday–Friday and say so (`covered: false`),
//! because a guessed deadline must be visible as a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The calendar shipped with this build, a verbatim copy of the reference data.
pub const EMBEDDED_TOML: &str = include_str!("../../../config/calendar/holidays-cn.toml");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar is not valid TOML: {0}")]
    Toml(String),
    #[error("calendar key {0:?} is not a year (expected a table such as [2026])")]
    NotAYear(String),
    #[error("calendar [{year}]: {key:?} is not a known key (expected \"off\" and \"workdays\")")]
    UnknownKey { year: i32, key: String },
    #[error("calendar [{year}].{key} must be an array of \"YYYY-MM-DD\" strings")]
    NotAList { year: i32, key: &'static str },
    #[error("calendar [{year}].{key}: {value:?} is not a date in the form YYYY-MM-DD")]
    BadDate {
        year: i32,
        key: &'static str,
        value: String,
    },
    #[error("calendar [{year}].{key}: {date} belongs to year {}", date.year())]
    WrongYear {
        year: i32,
        key: &'static str,
        date: NaiveDate,
    },
    #[error("calendar [{year}]: {date} is listed both as a day off and as a make-up workday")]
    BothOffAndWorkday { year: i32, date: NaiveDate },
    #[error(
        "calendar [{year}].workdays: {date} is a {weekday}; make-up workdays (调休) are weekend days"
    )]
    WorkdayOnWeekday {
        year: i32,
        date: NaiveDate,
        weekday: Weekday,
    },
}

/// From how many days before the calendar's last covered day operators are warned (readiness
/// `warn`, `xf_calendar_days_left`): the State Council publishes next year's arrangement in
/// November, so 60 days leave a month to load it.
pub const WARN_DAYS: i64 = 60;

/// How far the calendar reaches from a given day, for readiness checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The last day of the run of covered years that contains `today`; `None` when today's
    /// year itself is not covered.
    pub covered_until: Option<NaiveDate>,
    /// Days from `today` to `covered_until` (0 on the last day; negative or absent past it).
    pub days_left: Option<i64>,
    /// `ok`, `warn` (at most [`WARN_DAYS`] left) or `ended` (today is not covered).
    pub state: CoverageState,
    pub years: Vec<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoverageState {
    Ok,
    Warn,
    Ended,
}

impl CoverageState {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageState::Ok => "ok",
            CoverageState::Warn => "warn",
            CoverageState::Ended => "ended",
        }
    }
}

impl Coverage {
    /// One line for operators: what is wrong and what to do.
    pub fn message(&self) -> String {
        match (self.state, self.covered_until, self.days_left) {
            (CoverageState::Ok, Some(until), Some(left)) => {
                format!("holiday calendar covers until {until} ({left} days left)")
            }
            (CoverageState::Warn, Some(until), Some(left)) => format!(
                "holiday calendar ends {until} ({left} days left): add next year's official holidays and make-up workdays (国务院办公厅 notice) to the calendar file and reload; deadlines past {until} are provisional"
            ),
            _ => "holiday calendar does not cover today: working days fall back to Monday-Friday and deadlines are provisional; add this year's official holidays to the calendar file and reload".to_owned(),
        }
    }
}

/// Whether a day is a working day, and whether that answer came from published data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingDay {
    pub working: bool,
    /// False when the year is not in the calendar and the Monday–Friday fallback answered.
    pub covered: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct YearArrangement {
    off: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

/// Holidays and make-up workdays by year. `Calendar::default()` covers no year at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<i32, YearArrangement>,
}

impl Calendar {
    /// Parses the `holidays-cn.toml` format: one `[YYYY]` table per year with `off` and
    /// `workdays` arrays of `"YYYY-MM-DD"` strings.
    pub fn from_toml_str(raw: &str) -> Result<Calendar, CalendarError> {
        let table: toml::Table =
            toml::from_str(raw).map_err(|e| CalendarError::Toml(e.to_string()))?;
        let mut years = BTreeMap::new();
        for (key, value) in &table {
            let year = parse_year(key)?;
            let Some(section) = value.as_table() else {
                return Err(CalendarError::NotAYear(key.clone()));
            };
            let mut arrangement = YearArrangement::default();
            for (name, list) in section {
                let (field, set) = match name.as_str() {
                    "off" => ("off", &mut arrangement.off),
                    "workdays" => ("workdays", &mut arrangement.workdays),
                    _ => {
                        return Err(CalendarError::UnknownKey {
                            year,
                            key: name.clone(),
                        });
                    }
                };
                *set = parse_dates(year, field, list)?;
            }
            if let Some(date) = arrangement.off.intersection(&arrangement.workdays).next() {
                return Err(CalendarError::BothOffAndWorkday { year, date: *date });
            }
            // A make-up workday on a weekday would change nothing, so it is a typo for another date.
            if let Some(date) = arrangement.workdays.iter().find(|d| !is_weekend(**d)) {
                return Err(CalendarError::WorkdayOnWeekday {
                    year,
                    date: *date,
                    weekday: date.weekday(),
                });
            }
            years.insert(year, arrangement);
        }
        Ok(Calendar { years })
    }

    /// The calendar compiled into this build (`config/calendar/holidays-cn.toml`).
    pub fn embedded() -> Calendar {
        // The embedded file is fixed at compile time and parsed by a unit test, so this
        // cannot fail in a build that passed its tests.
        Calendar::from_toml_str(EMBEDDED_TOML).expect("embedded holiday calendar is valid")
    }

    /// Weekends are off unless listed as make-up workdays; listed holidays are off.
    pub fn is_working_day(&self, date: NaiveDate) -> WorkingDay {
        match self.years.get(&date.year()) {
            Some(y) => WorkingDay {
                working: y.workdays.contains(&date)
                    || (!is_weekend(date) && !y.off.contains(&date)),
                covered: true,
            },
            None => WorkingDay {
                working: !is_weekend(date),
                covered: false,
            },
        }
    }

    /// True when the calendar holds the official arrangement for `year`.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// The covered years, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    /// How far the calendar reaches from `today` (see [`Coverage`]).
    pub fn coverage(&self, today: NaiveDate) -> Coverage {
        let years = self.years();
        let mut last = None;
        let mut year = today.year();
        while self.covers(year) {
            last = Some(year);
            year += 1;
        }
        let covered_until = last.and_then(|y| NaiveDate::from_ymd_opt(y, 12, 31));
        let days_left = covered_until.map(|u| (u - today).num_days());
        let state = match days_left {
            None => CoverageState::Ended,
            Some(d) if d <= WARN_DAYS => CoverageState::Warn,
            Some(_) => CoverageState::Ok,
        };
        Coverage {
            covered_until,
            days_left,
            state,
            years,
        }
    }

    /// Every listed day off, ascending.
    pub fn days_off(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.years.values().flat_map(|y| y.off.iter().copied())
    }

    /// Every listed make-up workday, ascending.
    pub fn make_up_workdays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.years.values().flat_map(|y| y.workdays.iter().copied())
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn parse_year(key: &str) -> Result<i32, CalendarError> {
    let ok = key.len() == 4 && key.bytes().all(|b| b.is_ascii_digit());
    match key.parse::<i32>() {
        Ok(year) if ok && year >= 1900 => Ok(year),
        _ => Err(CalendarError::NotAYear(key.to_owned())),
    }
}

fn parse_dates(
    year: i32,
    key: &'static str,
    list: &toml::Value,
) -> Result<BTreeSet<NaiveDate>, CalendarError> {
    let Some(items) = list.as_array() else {
        return Err(CalendarError::NotAList { year, key });
    };
    let mut dates = BTreeSet::new();
    for item in items {
        let Some(text) = item.as_str() else {
            return Err(CalendarError::NotAList { year, key });
        };
        let date = parse_date(text).ok_or_else(|| CalendarError::BadDate {
            year,
            key,
            value: text.to_owned(),
        })?;
        if date.year() != year {
            return Err(CalendarError::WrongYear { year, key, date });
        }
        dates.insert(date);
    }
    Ok(dates)
}

/// Strict `YYYY-MM-DD`: chrono alone would also take `2026-1-1`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn embedded_calendar_is_the_reference_file_and_parses() {
        let cal = Calendar::embedded();
        assert_eq!(cal.years(), vec![2025, 2026]);
        assert!(cal.covers(2026));
        assert!(!cal.covers(2027));
        assert_eq!(cal.days_off().filter(|x| x.year() == 2026).count(), 33);
        assert_eq!(
            cal.make_up_workdays().filter(|x| x.year() == 2025).count(),
            5
        );
    }

    #[test]
    fn national_day_2026() {
        let cal = Calendar::embedded();
        // 2026-10-01 (Thu) .. 10-07 off; 10-10 (Sat) make-up workday; 10-11 (Sun) off.
        for day in 1..=7 {
            assert_eq!(
                cal.is_working_day(d(2026, 10, day)),
                WorkingDay {
                    working: false,
                    covered: true
                },
                "2026-10-{day:02}"
            );
        }
        assert!(cal.is_working_day(d(2026, 10, 8)).working);
        assert!(cal.is_working_day(d(2026, 10, 10)).working);
        assert!(!cal.is_working_day(d(2026, 10, 11)).working);
        // 2026-09-20 is a Sunday make-up workday.
        assert!(cal.is_working_day(d(2026, 9, 20)).working);
        // An ordinary weekend and an ordinary weekday.
        assert!(!cal.is_working_day(d(2026, 3, 7)).working);
        assert!(cal.is_working_day(d(2026, 3, 9)).working);
    }

    #[test]
    fn uncovered_year_falls_back_to_monday_to_friday() {
        let cal = Calendar::embedded();
        // 2027-01-01 is a Friday: a holiday in reality, but the data does not know that yet.
        assert_eq!(
            cal.is_working_day(d(2027, 1, 1)),
            WorkingDay {
                working: true,
                covered: false
            }
        );
        assert_eq!(
            cal.is_working_day(d(2027, 1, 2)),
            WorkingDay {
                working: false,
                covered: false
            }
        );
        let empty = Calendar::default();
        assert!(empty.years().is_empty());
        assert!(!empty.is_working_day(d(2026, 10, 1)).covered);
        assert!(empty.is_working_day(d(2026, 10, 1)).working);
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "2026-1-05",
            "2026/01/05",
            "2026-02-30",
            "20260105",
            "2026-01-05 ",
            "",
        ] {
            let raw = format!("[2026]\noff = [\"{bad}\"]\nworkdays = []\n");
            assert!(
                matches!(
                    Calendar::from_toml_str(&raw),
                    Err(CalendarError::BadDate { year: 2026, .. })
                ),
                "{bad:?} accepted"
            );
        }
        let not_string = "[2026]\noff = [2026-01-05]\n";
        assert!(matches!(
            Calendar::from_toml_str(not_string),
            Err(CalendarError::NotAList { key: "off", .. })
        ));
    }

    #[test]
    fn rejects_a_date_both_off_and_workday() {
        let raw = "[2026]\noff = [\"2026-02-14\"]\nworkdays = [\"2026-02-14\"]\n";
        let err = Calendar::from_toml_str(raw).unwrap_err();
        assert_eq!(
            err,
            CalendarError::BothOffAndWorkday {
                year: 2026,
                date: d(2026, 2, 14)
            }
        );
        assert!(err.to_string().contains("2026-02-14"));
    }

    #[test]
    fn rejects_a_date_under_the_wrong_year() {
        let raw = "[2026]\noff = [\"2025-10-01\"]\n";
        assert_eq!(
            Calendar::from_toml_str(raw).unwrap_err(),
            CalendarError::WrongYear {
                year: 2026,
                key: "off",
                date: d(2025, 10, 1)
            }
        );
        let raw = "[2026]\nworkdays = [\"2027-01-02\"]\n";
        assert!(matches!(
            Calendar::from_toml_str(raw),
            Err(CalendarError::WrongYear {
                key: "workdays",
                ..
            })
        ));
    }

    #[test]
    fn rejects_bad_structure() {
        assert!(matches!(
            Calendar::from_toml_str("[2026\n"),
            Err(CalendarError::Toml(_))
        ));
        assert!(matches!(
            Calendar::from_toml_str("[year2026]\noff = []\n"),
            Err(CalendarError::NotAYear(_))
        ));
        assert!(matches!(
            Calendar::from_toml_str("2026 = 1\n"),
            Err(CalendarError::NotAYear(_))
        ));
        assert!(matches!(
            Calendar::from_toml_str("[2026]\nholidays = []\n"),
            Err(CalendarError::UnknownKey { year: 2026, .. })
        ));
        assert!(matches!(
            Calendar::from_toml_str("[2026]\noff = \"2026-01-01\"\n"),
            Err(CalendarError::NotAList { key: "off", .. })
        ));
        // 2026-02-16 is a Monday: listing it as a make-up workday is a typo.
        assert!(matches!(
            Calendar::from_toml_str("[2026]\nworkdays = [\"2026-02-16\"]\n"),
            Err(CalendarError::WorkdayOnWeekday { .. })
        ));
    }

    #[test]
    fn coverage_counts_the_days_left_and_warns_from_sixty_days_before_the_end() {
        let cal = Calendar::embedded();
        // Issue #13: on 2026-12-04 the calendar ends in 27 days.
        let c = cal.coverage(d(2026, 12, 4));
        assert_eq!(c.covered_until, Some(d(2026, 12, 31)));
        assert_eq!(c.days_left, Some(27));
        assert_eq!(c.state, CoverageState::Warn);
        assert!(c.message().contains("2026-12-31"), "{}", c.message());
        // 61 days before the end: ok; 60: warn; the last day: warn with 0 left.
        assert_eq!(cal.coverage(d(2026, 10, 31)).state, CoverageState::Ok);
        assert_eq!(cal.coverage(d(2026, 11, 1)).days_left, Some(60));
        assert_eq!(cal.coverage(d(2026, 11, 1)).state, CoverageState::Warn);
        assert_eq!(cal.coverage(d(2026, 12, 31)).days_left, Some(0));
        // From 2025 the run of covered years reaches to the end of 2026.
        assert_eq!(
            cal.coverage(d(2025, 3, 1)).covered_until,
            Some(d(2026, 12, 31))
        );
        assert_eq!(cal.coverage(d(2025, 3, 1)).state, CoverageState::Ok);
        // After the end: ended, no days left.
        let c = cal.coverage(d(2027, 1, 1));
        assert_eq!(
            (c.state, c.covered_until, c.days_left),
            (CoverageState::Ended, None, None)
        );
        assert!(c.message().contains("Monday-Friday"));
        // Adding 2027 moves the end a year on.
        let grown = Calendar::from_toml_str(&format!("{EMBEDDED_TOML}\n[2027]\n")).unwrap();
        let c = grown.coverage(d(2026, 12, 4));
        assert_eq!(c.covered_until, Some(d(2027, 12, 31)));
        assert_eq!(c.state, CoverageState::Ok);
        assert_eq!(c.years, vec![2025, 2026, 2027]);
    }

    #[test]
    fn a_year_without_lists_is_covered_and_follows_the_normal_week() {
        let cal = Calendar::from_toml_str("[2030]\n").unwrap();
        assert!(cal.covers(2030));
        assert_eq!(
            cal.is_working_day(d(2030, 1, 1)),
            WorkingDay {
                working: true,
                covered: true
            }
        );
    }
}
