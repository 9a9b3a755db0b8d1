//! `xinfang deadline <D1..D11> <trigger> [--extension-days N] [--json]`: the same computation
//! the services make, with the deployment's calendar file (`paths.calendar`) and its one
//! `[deadlines]` section.

use std::process::ExitCode;

use chrono::DateTime;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::deadline::{self, Adjustments, DeadlineKind, DeadlineRules};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// D1 … D11 (see docs/deadlines.md or `--help`): D1 register and dispose 15 d, D3 acceptance
    /// notice 15 d, D4 objection 5 working days, D5 handling 60 d, D6 extension, D7/D9 appeal
    /// windows 30 d from service, D8/D10 review decisions 30 d, D11 no limit.
    kind: String,
    /// The trigger time, RFC 3339 (e.g. 2026-09-30T10:00:00+08:00).
    trigger: String,
    /// Extension days for D5/D6 (1–30, Art 34).
    #[arg(long)]
    extension_days: Option<u32>,
    /// Print a JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// The deployment's calendar and deadline rules, as the services load them: a bad
/// configuration or calendar file is an error naming it, never a silent fallback.
fn deployment() -> anyhow::Result<(Calendar, DeadlineRules)> {
    let settings = xinfang_platform::config::load()?;
    let (calendar, _) = xinfang_platform::calendar::read_file(&settings.platform.paths.calendar)?;
    Ok((calendar, settings.platform.deadlines))
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let kind: DeadlineKind = match a.kind.parse() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let trigger = match DateTime::parse_from_rfc3339(&a.trigger) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "error: trigger: must be an RFC 3339 time such as 2026-09-30T10:00:00+08:00 ({e})"
            );
            return Ok(ExitCode::from(2));
        }
    };
    let (cal, rules) = match deployment() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let adj = Adjustments {
        extension_days: a.extension_days,
        paused: Vec::new(),
    };
    let due = match deadline::compute(kind, trigger, &cal, &rules, &adj) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    println!(
        "{} {} ({}; {})",
        due.kind.code(),
        due.kind.zh(),
        due.kind.en(),
        due.kind.article()
    );
    println!("trigger: {}", due.trigger.to_rfc3339());
    match due.due {
        Some(d) => println!(
            "due:     {}  ({} {}{})",
            d.to_rfc3339(),
            due.days.unwrap_or(0),
            if due.working_days {
                "working days"
            } else {
                "calendar days"
            },
            due.extension_days
                .map(|e| format!(", including a {e}-day extension"))
                .unwrap_or_default()
        ),
        None => println!("due:     no time limit"),
    }
    if !due.skipped.is_empty() {
        let days: Vec<String> = due.skipped.iter().map(|d| d.to_string()).collect();
        println!("skipped rest days: {}", days.join(", "));
    }
    if let Some(from) = due.rolled_over_from {
        println!("rolled over from the rest day {from} to the next working day (民法典 Art 203)");
    }
    if due.is_provisional() {
        eprintln!(
            "warning: provisional: the calendar has no official holidays for a year this deadline spans; \
             Monday–Friday was assumed. Load that year's holidays and make-up workdays into the calendar file \
             and reload (xinfang calendar reload)."
        );
    }
    if a.json {
        let v = serde_json::json!({
            "kind": due.kind.code(),
            "trigger": due.trigger.to_rfc3339(),
            "due": due.due.map(|d| d.to_rfc3339()),
            "calendar_complete": due.calendar_complete,
            "provisional": due.is_provisional(),
            "rolled_over_from": due.rolled_over_from,
            "skipped": due.skipped,
        });
        println!("{v}");
    }
    Ok(ExitCode::SUCCESS)
}
