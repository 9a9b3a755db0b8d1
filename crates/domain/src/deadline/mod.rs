//! Statutory deadlines D1–D11 (domain.md §2) under the day-counting Decisions (§3, "Decisions" 1–3, 5).
//!
//! - "日" are calendar days counted from the day after the trigger; a deadline ends at the end of its
//!   last day in China Standard Time, written as that date 23:59:59+08:00 (China has no DST, so a
//!   fixed offset is exact and needs no time-zone database).
//! - D4 counts working days from the [`Calendar`](crate::calendar::Calendar).
//! - A due date that falls on a rest day (weekend or public holiday as the calendar has them; a
//!   make-up workday is a working day) rolls over to the next working day (民法典 Art 203,
//!   Decisions 1), for every day-counted deadline and the evaluation window; one switch per kind
//!   (`[deadlines.kinds.Dn] roll_over`, `evaluation_roll_over`) turns it off.
//! - D11 has no time limit: [`compute`] returns a [`Due`] without a due time rather than an error.

mod compute;
mod error;
mod kind;
#[cfg(test)]
mod proptests;
mod rules;

pub use compute::{
    Adjustments, Due, WindowEnd, compute, compute_handling, compute_remand, cst_date, end_of_day,
    evaluation_closes, evaluation_window, warning_time,
};
pub use error::DeadlineError;
pub use kind::DeadlineKind;
pub use rules::{DeadlineRules, HandlingLimit, KindRule};

use chrono::FixedOffset;

/// China Standard Time, UTC+08:00 all year.
pub const CST: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+08:00 is a valid offset"),
};

/// Art 34: an extension may add at most 30 days, whatever the configuration says.
pub const MAX_EXTENSION_DAYS: u32 = 30;

/// Upper bound on any configured day count; a year is far beyond every statutory period, so a
/// larger number is a configuration typo rather than a policy.
pub const MAX_RULE_DAYS: u32 = 366;
