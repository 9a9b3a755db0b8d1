//! The 复查/复核 desk (Art 35, 36): the requests waiting in the reviewer's scope with the day
//! each decision is due, one review with forms for the organ's hearing and decision, and the
//! 终结库 (Art 36 para 3). Everything goes through intake's and review's APIs with the
//! reviewer's own token: review decides who may act for which organ, the pages only say why.

mod case;
mod desk;
mod terminations;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use xinfang_domain::appeal::ReviewOutcome;
use xinfang_domain::deadline::CST;

use crate::backend::ApiFailure;
use crate::role::ConsoleRole;
use crate::state::AppState;

/// Who may use these pages.
const ROLES: &[ConsoleRole] = &[ConsoleRole::Reviewer, ConsoleRole::Operator];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reviews", get(desk::desk))
        .route("/reviews/{case_no}", get(case::show))
        .route("/reviews/{case_no}/hearing", post(case::hearing))
        .route("/reviews/{case_no}/decision", post(case::decision))
        .route(
            "/terminations",
            get(terminations::page).post(terminations::search),
        )
}

/// What review's request fields are called on the pages.
fn field_label(field: &str) -> &'static str {
    match field {
        "level" => "复查/复核",
        "outcome" => "决定",
        "text" => "意见正文",
        "served_on" => "送达日期",
        "action" => "听证",
        "at" => "时间",
        "id_number" => "身份证号码",
        "petitioner_key" => "信访人标识",
        "reason" => "查询理由",
        "county" => "区划代码",
        "case_no" => "案件编号",
        _ => "",
    }
}

/// One line naming the field (in Chinese and as the API calls it) and the rule applied.
fn explain(f: &ApiFailure) -> String {
    let label = f.field.as_deref().map(field_label).unwrap_or("");
    let rule = match f.code.as_str() {
        "" | "error" => String::new(),
        c => format!("（规则：{c}）"),
    };
    if label.is_empty() {
        format!("{}{rule}", f.line())
    } else {
        format!("{label} — {}{rule}", f.line())
    }
}

fn level_zh(level: &str) -> &'static str {
    match level {
        "review" => "复查",
        "rereview" => "复核",
        _ => "复查/复核",
    }
}

fn outcome_zh(raw: &str) -> String {
    ReviewOutcome::parse(raw)
        .map(|o| o.zh().to_owned())
        .unwrap_or_else(|_| raw.to_owned())
}

/// An RFC 3339 instant's day in Beijing.
fn cst_day(raw: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&CST).date_naive())
}

fn today() -> NaiveDate {
    Utc::now().with_timezone(&CST).date_naive()
}

/// `2026年12月20日`.
fn zh_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// How a decision deadline reads, and its CSS class: late, within three days, or in time.
fn due_words(raw: Option<&str>, what: &str) -> (String, &'static str) {
    let Some(day) = raw.and_then(cst_day) else {
        return ("期限待定".to_owned(), "");
    };
    let left = (day - today()).num_days();
    let (tail, class) = match left {
        n if n < 0 => (format!("已逾期{}天", -n), "due-late"),
        0 => ("今天到期".to_owned(), "due-soon"),
        n if n <= 3 => (format!("还剩{n}天"), "due-soon"),
        n => (format!("还剩{n}天"), "due-ok"),
    };
    (format!("应于{}前作出{what}（{tail}）", zh_date(day)), class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::case_no_ok;

    #[test]
    fn deadlines_read_in_plain_words_and_case_numbers_are_checked() {
        let soon = (Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
        let (words, class) = due_words(Some(&soon), "复查意见");
        assert!(
            words.starts_with("应于") && words.contains("复查意见"),
            "{words}"
        );
        assert_eq!(class, "due-soon");
        let late = (Utc::now() - chrono::TimeDelta::days(10)).to_rfc3339();
        assert_eq!(due_words(Some(&late), "复核意见").1, "due-late");
        assert_eq!(due_words(None, "复查意见").0, "期限待定");
        assert_eq!(
            zh_date(NaiveDate::from_ymd_opt(2026, 12, 20).unwrap()),
            "2026年12月20日"
        );
        assert!(case_no_ok("XF-901201-2026-000001").is_ok());
        assert!(case_no_ok("XF-901201-2026-1/../x").is_err());
        let e = explain(&ApiFailure {
            status: 422,
            code: "required".into(),
            message: "the opinion's text is required".into(),
            field: Some("text".into()),
            ..Default::default()
        });
        assert!(e.contains("意见正文") && e.contains("text: ") && e.contains("required"));
        assert_eq!(outcome_zh("revoke"), "撤销");
    }
}
