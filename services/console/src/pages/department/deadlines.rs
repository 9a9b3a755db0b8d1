//! Deadlines as the pages show them: supervision's clocks of a case (`GET /v1/deadlines`), the
//! running ones, each with a countdown in Beijing calendar days. Shared by the department's
//! inbox and the supervisors' board.
//!
//! Supervision lists clocks one case at a time (`case_no` is its only parameter), so a list
//! page asks for each of its cases, a few at a time.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use xinfang_domain::classify::Departments;
use xinfang_domain::deadline::{CST, DeadlineKind};

use crate::backend::{ApiFailure, Service};
use crate::state::AppState;

/// "Soon": due within this many calendar days (the issue's ≤ 3 days).
pub const SOON_DAYS: i64 = 3;

/// The petitioner's own windows (复查, 复核 requests and the evaluation): nobody is late
/// for them, so they are not duties to count down for an organ.
const PETITIONER_WINDOWS: [&str; 3] = ["D7", "D9", "eval"];

/// One running clock, ready for a template.
#[derive(Debug, Clone, Serialize)]
pub struct Clock {
    pub case_no: String,
    pub county: String,
    /// As supervision records it: a department code (`rsj`) or an organ (`411200:gov`).
    pub department: Option<String>,
    /// The department code alone (what a 督办 names).
    pub dept_code: Option<String>,
    /// Its Chinese name when the directory knows it, else the code.
    pub dept_name: String,
    pub kind: String,
    pub kind_zh: String,
    pub kind_full: String,
    pub due_at: String,
    /// Due day in Beijing time, `2026-12-04`.
    pub due_date: String,
    pub days_left: i64,
    /// `due-ok`, `due-soon` or `due-late` (console.css).
    pub class: &'static str,
    pub countdown: String,
    pub paused: bool,
    /// A duty of an organ (not one of the petitioner's windows).
    pub duty: bool,
}

/// A short Chinese name of a clock kind, for tables.
pub fn kind_zh(kind: &str) -> String {
    match kind {
        "D1" => "登记转送交办",
        "D2" => "书面告知信访人",
        "D3" => "受理告知",
        "D4" => "提出异议",
        "D5" => "办理期限",
        "D6" => "延长后的办理期限",
        "D7" => "申请复查",
        "D8" => "出具复查意见",
        "D9" => "申请复核",
        "D10" => "出具复核意见",
        "supervision" => "督办答复",
        "eval" => "信访人评价",
        "task" => "会审交办任务",
        k => return k.to_owned(),
    }
    .to_owned()
}

/// What the statute says of a clock kind (shown as the short name's title).
pub fn kind_full(kind: &str) -> String {
    DeadlineKind::from_str(kind)
        .map(|d| d.zh().to_owned())
        .unwrap_or_else(|_| kind_zh(kind))
}

/// Days left (negative when overdue), the CSS class and the words, counted in Beijing
/// calendar days: a clock due 23:59:59 today has 0 days left and is not late yet.
pub fn countdown(due: DateTime<Utc>, now: DateTime<Utc>) -> (i64, &'static str, String) {
    let days = day(due).signed_duration_since(day(now)).num_days();
    if due < now {
        let late = days.abs().max(1);
        (days.min(-1), "due-late", format!("已超期 {late} 天"))
    } else if days == 0 {
        (0, "due-soon", "今天到期".to_owned())
    } else if days <= SOON_DAYS {
        (days, "due-soon", format!("剩 {days} 天"))
    } else {
        (days, "due-ok", format!("剩 {days} 天"))
    }
}

fn day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&CST).date_naive()
}

/// The running clocks of supervision's answer (`{deadlines: [...]}`): pending, paused, or
/// passed and still open; soonest first.
pub fn running(answer: &Value, now: DateTime<Utc>) -> Vec<Clock> {
    let departments = Departments::embedded();
    let mut out: Vec<Clock> = answer["deadlines"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            let state = d["state"].as_str()?;
            let open = matches!(state, "pending" | "paused")
                || (state == "fired" && d["closed_at"].is_null());
            if !open {
                return None;
            }
            let due = DateTime::parse_from_rfc3339(d["due_at"].as_str()?)
                .ok()?
                .with_timezone(&Utc);
            let kind = d["kind"].as_str().unwrap_or_default().to_owned();
            let department = d["department"].as_str().map(str::to_owned);
            let dept_code = department
                .as_deref()
                .map(|x| x.rsplit(':').next().unwrap_or(x).to_owned());
            let dept_name = match (&department, &dept_code) {
                (Some(full), Some(code)) => departments
                    .name_of(code)
                    .map(|n| {
                        if full.contains(':') {
                            format!("{n}（{full}）")
                        } else {
                            n.to_owned()
                        }
                    })
                    .unwrap_or_else(|| full.clone()),
                _ => "—".to_owned(),
            };
            let paused = state == "paused";
            let (days_left, class, mut words) = countdown(due, now);
            if paused {
                words = format!("已暂停（{words}）");
            }
            Some(Clock {
                case_no: d["case_no"].as_str().unwrap_or_default().to_owned(),
                county: d["county"].as_str().unwrap_or_default().to_owned(),
                department,
                dept_code,
                dept_name,
                kind_zh: kind_zh(&kind),
                kind_full: kind_full(&kind),
                duty: !PETITIONER_WINDOWS.contains(&kind.as_str()),
                kind,
                due_at: due.to_rfc3339(),
                due_date: day(due).format("%Y-%m-%d").to_string(),
                days_left,
                class: if paused { "due-ok" } else { class },
                countdown: words,
                paused,
            })
        })
        .collect();
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at));
    out
}

/// The running clocks of `case_nos` from one board call (supervision's `GET /v1/deadlines`
/// without a case number: the user's own clocks for a department, the scope's for others).
/// A failed call maps every case to the failure.
pub async fn of_listed_cases(
    state: &AppState,
    token: &str,
    case_nos: &[String],
) -> HashMap<String, Result<Vec<Clock>, ApiFailure>> {
    let answer = state
        .backend
        .get(
            Service::Supervision,
            "/v1/deadlines?within_days=366&limit=1000",
            Some(token),
        )
        .await;
    match answer {
        Ok(v) => {
            let mut by_case: HashMap<String, Vec<Clock>> = HashMap::new();
            for c in running(&v, Utc::now()) {
                by_case.entry(c.case_no.clone()).or_default().push(c);
            }
            case_nos
                .iter()
                .map(|no| (no.clone(), Ok(by_case.remove(no).unwrap_or_default())))
                .collect()
        }
        Err(e) => case_nos
            .iter()
            .map(|no| (no.clone(), Err(e.clone())))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn countdown_counts_beijing_days_and_colours_them() {
        let now = t("2026-03-02T02:00:00Z"); // 10:00 on 2 March in Beijing
        assert_eq!(countdown(t("2026-03-02T15:59:59Z"), now).1, "due-soon");
        assert_eq!(countdown(t("2026-03-02T15:59:59Z"), now).2, "今天到期");
        assert_eq!(
            countdown(t("2026-03-05T15:59:59Z"), now),
            (3, "due-soon", "剩 3 天".into())
        );
        assert_eq!(
            countdown(t("2026-03-06T15:59:59Z"), now),
            (4, "due-ok", "剩 4 天".into())
        );
        assert_eq!(
            countdown(t("2026-02-27T15:59:59Z"), now),
            (-3, "due-late", "已超期 3 天".into())
        );
        // Passed an hour ago, the same day: late, counted as one day.
        assert_eq!(countdown(t("2026-03-02T01:00:00Z"), now).1, "due-late");
    }

    #[test]
    fn only_running_clocks_are_kept_soonest_first() {
        let now = t("2026-03-02T02:00:00Z");
        let v = json!({"deadlines": [
            {"case_no": "XF-1", "county": "411282", "department": "rsj", "kind": "D5",
             "state": "pending", "due_at": "2026-04-30T15:59:59Z", "closed_at": null},
            {"case_no": "XF-1", "county": "411282", "department": "rsj", "kind": "D3",
             "state": "met", "due_at": "2026-03-01T15:59:59Z", "closed_at": "2026-02-20T00:00:00Z"},
            {"case_no": "XF-1", "county": "411282", "department": "411200:gov", "kind": "D8",
             "state": "fired", "due_at": "2026-03-01T15:59:59Z", "closed_at": null},
            {"case_no": "XF-1", "county": "411282", "department": "rsj", "kind": "D7",
             "state": "paused", "due_at": "2026-03-03T15:59:59Z", "closed_at": null}
        ]});
        let c = running(&v, now);
        assert_eq!(
            c.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(),
            ["D8", "D7", "D5"]
        );
        assert_eq!(c[0].class, "due-late");
        assert_eq!(c[0].dept_code.as_deref(), Some("gov"));
        assert!(c[1].paused && !c[1].duty);
        assert_eq!(c[2].dept_name, "人社局");
        assert_eq!(c[2].due_date, "2026-04-30");
        assert_eq!(kind_zh("supervision"), "督办答复");
        assert_eq!(kind_zh("D4"), "提出异议");
        assert!(kind_full("D4").contains("5个工作日"));
    }
}
