//! The petitioner's status page from intake's public query: the status, the public timeline,
//! each decision served with what can be done against it and by when, in plain Chinese, and
//! which of the two forms (复查/复核 request, evaluation) to offer. Pure (unit-tested).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use xinfang_domain::deadline::CST;

/// Deadline record states that mean the window is still open (supervision's `pending`, or
/// `paused` by a hearing; the registry shows `fired` as `overdue`).
const RUNNING: [&str; 2] = ["pending", "paused"];

/// `2026年12月20日`.
pub fn zh_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// An RFC 3339 instant's day in Beijing (a due time is the end of its last day there).
pub fn cst_day(raw: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&CST).date_naive())
}

/// A `YYYY-MM-DD` or RFC 3339 date in words.
fn day_words(raw: &str) -> String {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .or_else(|| cst_day(raw))
        .map(zh_date)
        .unwrap_or_else(|| raw.to_owned())
}

/// A timeline line in Chinese. Intake writes them for staff as `中文 english (中文 english):
/// detail`; the petitioner reads the Chinese head, the Chinese of any brackets, and the detail
/// (a reason or guidance, written in Chinese by whoever gave it).
pub fn zh_summary(summary: &str) -> String {
    let (main, detail) = match summary.split_once(": ") {
        Some((m, d)) => (m, d.trim()),
        None => (summary, ""),
    };
    let head = |s: &str| -> String {
        s.split(|c: char| c.is_ascii_alphabetic())
            .next()
            .unwrap_or("")
            .trim_end_matches([' ', '(', '→', '-', ','])
            .trim()
            .to_owned()
    };
    let mut out = head(main);
    if out.is_empty() {
        return summary.to_owned();
    }
    for part in main.split('(').skip(1) {
        let inner = head(part.split(')').next().unwrap_or(""));
        if !inner.is_empty() {
            out += &format!("（{inner}）");
        }
    }
    if !detail.is_empty() {
        out += &format!("：{detail}");
    }
    out
}

/// Everything the page shows, from `GET /v1/query/{code}`.
pub fn view(q: &Value, today: NaiveDate) -> Value {
    let timeline: Vec<Value> = q["timeline"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| json!({"at": t["at"], "text": zh_summary(t["summary"].as_str().unwrap_or(""))}))
        .collect();
    let decisions: Vec<&Value> = q["decisions"]
        .as_array()
        .map(|d| d.iter().collect())
        .unwrap_or_default();
    let shown: Vec<Value> = decisions.iter().map(|d| decision(d, today)).collect();
    // Only the latest decision can still be appealed: a request closes the one before it.
    let next = decisions.last().and_then(|d| open_appeal(d, today));
    let replied = decisions.iter().any(|d| d["level"] == "reply");
    json!({
        "case_no": q["case_no"],
        "status": q["status"],
        "registered_at": q["registered_at"],
        "timeline": timeline,
        "decisions": shown,
        "next": next,
        "can_evaluate": replied,
    })
}

/// The appeal a decision leaves open today, if any.
fn open_appeal(d: &Value, today: NaiveDate) -> Option<Value> {
    let a = d.get("appeal").filter(|a| a.is_object())?;
    let running = a["window"].as_str().is_none_or(|w| RUNNING.contains(&w));
    let due = a["due"].as_str().and_then(cst_day);
    if !running || due.is_some_and(|d| d < today) {
        return None;
    }
    Some(json!({
        "level": a["level"],
        "name": a["name"],
        "organ_name": a["organ_name"],
        "due_words": due.map(|d| format!("应于{}前提出", zh_date(d))),
    }))
}

/// One decision served, and in plain words what lies against it.
fn decision(d: &Value, today: NaiveDate) -> Value {
    let name = d["name"].as_str().unwrap_or("处理意见");
    let by = d["by_name"].as_str().unwrap_or("");
    let outcome = d["outcome_zh"].as_str();
    let served = d["served_on"].as_str().map(day_words);
    let mut said = format!("{by}出具{name}");
    if let Some(o) = outcome {
        said += &format!("（{o}）");
    }
    if let Some(s) = &served {
        said += &format!("，于{s}送达");
    }
    let next = if d["final"] == true {
        format!(
            "{name}为最终意见。对同一事实和理由再次提出信访的，不再受理（《信访工作条例》第三十六条）。"
        )
    } else if d["sent_back"] == true {
        "原处理意见已被撤销或变更，原处理机关将重新出具处理意见。".to_owned()
    } else if let Some(a) = d.get("appeal").filter(|a| a.is_object()) {
        let level = a["name"].as_str().unwrap_or("复查");
        let organ = a["organ_name"].as_str().unwrap_or("上一级机关");
        let due = a["due"].as_str().and_then(cst_day);
        match (a["window"].as_str(), due) {
            (Some("met" | "met_late"), _) => format!("已向{organ}申请{level}。"),
            (Some("overdue" | "fired"), Some(day)) => {
                format!("申请{level}的期限已于{}届满。", zh_date(day))
            }
            (_, Some(day)) if day < today => format!("申请{level}的期限已于{}届满。", zh_date(day)),
            (_, Some(day)) => format!("如不服，应于{}前向{organ}申请{level}。", zh_date(day)),
            (_, None) => format!("如不服，可自收到之日起30日内向{organ}申请{level}。"),
        }
    } else {
        String::new()
    };
    json!({"said": said, "next": next})
}

pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&CST).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_summaries_read_in_chinese() {
        assert_eq!(zh_summary("已登记 registered"), "已登记");
        assert_eq!(zh_summary("已交办 assigned → zjj"), "已交办");
        assert_eq!(
            zh_summary("已受理 accepted (受理告知)"),
            "已受理（受理告知）"
        );
        assert_eq!(
            zh_summary("复查意见已出 review decided (维持 uphold)"),
            "复查意见已出（维持）"
        );
        assert_eq!(
            zh_summary("不予受理 not accepted: 不属于信访事项"),
            "不予受理：不属于信访事项"
        );
        assert_eq!(zh_summary("only english"), "only english");
    }

    #[test]
    fn deadlines_are_plain_words_and_only_an_open_window_offers_a_request() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let q = json!({
            "case_no": "XF-901201-2026-000001", "status": "opinion_issued",
            "timeline": [{"at": "2026-11-01T02:00:00Z", "summary": "已登记 registered"}],
            "decisions": [{"level": "reply", "name": "信访处理意见书", "by_name": "测试县住建局",
                "outcome_zh": "不予支持", "served_on": "2026-11-20",
                "appeal": {"level": "review", "name": "复查", "organ_name": "测试县人民政府",
                    "due": "2026-12-20T15:59:59Z", "window": "pending"}}],
        });
        let v = view(&q, today);
        assert_eq!(
            v["decisions"][0]["next"],
            "如不服，应于2026年12月20日前向测试县人民政府申请复查。"
        );
        assert!(
            v["decisions"][0]["said"]
                .as_str()
                .unwrap()
                .contains("2026年11月20日")
        );
        assert_eq!(v["next"]["level"], "review");
        assert_eq!(v["next"]["due_words"], "应于2026年12月20日前提出");
        assert_eq!(v["can_evaluate"], true);
        assert_eq!(v["timeline"][0]["text"], "已登记");

        // Requested already, or the window passed: nothing more to offer.
        let mut met = q.clone();
        met["decisions"][0]["appeal"]["window"] = json!("met");
        let v = view(&met, today);
        assert!(v["next"].is_null());
        assert_eq!(v["decisions"][0]["next"], "已向测试县人民政府申请复查。");
        let late = view(&q, NaiveDate::from_ymd_opt(2026, 12, 21).unwrap());
        assert!(late["next"].is_null());
        assert!(
            late["decisions"][0]["next"]
                .as_str()
                .unwrap()
                .contains("届满")
        );

        // Nothing served yet: no request, no evaluation.
        let v = view(&json!({"status": "accepted", "decisions": []}), today);
        assert!(v["next"].is_null());
        assert_eq!(v["can_evaluate"], false);
    }
}
