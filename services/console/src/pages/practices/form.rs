//! What the practices' pages share: calls to supervision with the user's token, a refused
//! form kept for the page (which form, what was typed, the field and rule in Chinese), the
//! counties of the user's scope, names of departments, and the times the forms send.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use serde_json::Value;
use xinfang_domain::access;
use xinfang_domain::classify::Departments;
use xinfang_domain::county::CountyCode;

use crate::backend::{ApiFailure, Service};
use crate::pages::{Fields, PageError};
use crate::role::ConsoleRole;
use crate::session::Session;
use crate::state::AppState;

/// A form the service refused (or the page could not send): which form, what was typed and
/// why, to show above the page with the form open and filled in again.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub form: String,
    pub values: BTreeMap<String, String>,
    pub message: String,
    #[serde(skip)]
    pub status: StatusCode,
}

impl Failed {
    /// `what` names the step (`列入清单`); the message names the field and the rule.
    pub fn new(form: impl Into<String>, f: &Fields, failure: &ApiFailure, what: &str) -> Self {
        Self {
            form: form.into(),
            values: f.kept(),
            message: format!("{what}未成功：{}", explain(failure)),
            status: StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_GATEWAY),
        }
    }

    /// What was typed into `form`, when it is the form that failed.
    pub fn values_for(failed: Option<&Failed>, form: &str) -> Option<BTreeMap<String, String>> {
        failed.filter(|x| x.form == form).map(|x| x.values.clone())
    }

    pub fn status(failed: Option<&Failed>) -> StatusCode {
        failed.map_or(StatusCode::OK, |x| x.status)
    }
}

/// What an API field is called on these pages (`decisions[1].due_at` reads as the decision's
/// due time).
fn field_label(field: &str) -> &'static str {
    let last = field.rsplit(['.', ']']).next().unwrap_or(field);
    let head = field.split(['[', '.']).next().unwrap_or("");
    match (head, last) {
        ("decisions", "text") => "决定事项",
        ("decisions", "department") => "承办任务的单位",
        ("decisions", "due_at") => "任务完成期限",
        ("participants", _) => "参加人员",
        ("advisers", _) => "参加接访的律师、心理咨询师",
        ("milestones", _) => "节点",
        _ => match head {
            "case_no" => "案件编号",
            "source" => "来源",
            "title" => "名称/职务",
            "who" => "填报人",
            "done" => "本周进展",
            "next_step" => "下一步工作",
            "due" => "完成时间",
            "note" => "说明",
            "kind" => "类别",
            "scheduled_at" => "会审时间",
            "place" => "地点",
            "held_at" => "召开时间",
            "minutes" => "会议纪要",
            "name" => "姓名",
            "organisation" => "所在单位",
            "speciality" => "专长",
            "county" => "县（市、区）",
            "id" | "leader_id" => "领导代码",
            "leader" => "领导",
            "at" => "接访时间",
            "adviser" | "adviser_id" => "律师/心理咨询师",
            "reception_day" => "接访日",
            "text" => "意见内容",
            "week" => "周次",
            "conference_id" => "会审",
            "decision_id" => "任务",
            _ => "",
        },
    }
}

/// One line: the field in Chinese and as the API names it, then the service's words.
pub fn explain(f: &ApiFailure) -> String {
    match f.field.as_deref() {
        Some(field) => {
            let label = match field_label(field) {
                "" => field.to_owned(),
                l => format!("{l}（{field}）"),
            };
            format!("{label}：{}", f.message)
        }
        None => f.line(),
    }
}

pub async fn get(state: &AppState, s: &Session, path: &str) -> Result<Value, ApiFailure> {
    state
        .backend
        .get(Service::Supervision, path, Some(&s.token))
        .await
}

/// Sends a form's body. A refusal of the user (401, 403) is the page's error; any other
/// refusal is the form's, to show with the form kept.
pub async fn send(
    state: &AppState,
    s: &Session,
    path: &str,
    body: &Value,
) -> Result<Result<Value, ApiFailure>, PageError> {
    match state
        .backend
        .post(Service::Supervision, path, Some(&s.token), body)
        .await
    {
        Ok(v) => Ok(Ok(v)),
        Err(f) if matches!(f.status, 401 | 403) => Err(PageError::Forbidden(f.message)),
        Err(f) => Ok(Err(f)),
    }
}

/// Refuses a role that reads the page but may not change anything on it.
pub fn may_write(s: &Session, roles: &[ConsoleRole], what: &str) -> Result<(), PageError> {
    if roles.contains(&s.role) {
        Ok(())
    } else {
        Err(PageError::Forbidden(format!(
            "{}只能查看{what}，不能提交",
            s.role.title()
        )))
    }
}

/// The served counties the user's scope covers (the city first when it is one).
pub fn counties(state: &AppState, s: &Session) -> Vec<String> {
    state
        .served
        .iter()
        .filter(|c| CountyCode::parse(c).is_ok_and(|c| access::covers(&s.scope, &c)))
        .cloned()
        .collect()
}

/// A county code, or nothing.
pub fn county(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// A lowercase code (`provincial_joint`, `wang_fxz`), or nothing.
pub fn slug(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 40
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
        .map(str::to_owned)
}

/// A department's name: `rsj` → 人社局, `411200:rsj` → 人社局（411200）; unknown codes as given.
pub fn dept_name(code: &str) -> String {
    let (county, short) = match code.split_once(':') {
        Some((c, d)) => (Some(c), d),
        None => (None, code),
    };
    match (Departments::embedded().name_of(short), county) {
        (Some(n), Some(c)) => format!("{n}（{c}）"),
        (Some(n), None) => n.to_owned(),
        (None, _) => code.to_owned(),
    }
}

/// The directory's departments as `[[code, name]]` for a `<select>`.
pub fn department_options() -> Vec<(String, String)> {
    Departments::embedded()
        .iter()
        .map(|d| (d.code.clone(), d.name.clone()))
        .collect()
}

/// A `datetime-local` value (`2026-12-04T09:30`, Beijing time) as RFC 3339; anything else as
/// typed, for the service to name what is wrong.
pub fn local_time(raw: &str) -> String {
    let t = raw.trim();
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M")
        .map(|d| format!("{}+08:00", d.format("%Y-%m-%dT%H:%M:%S")))
        .unwrap_or_else(|_| t.to_owned())
}

/// A day (`2026-12-04`) as its last second in Beijing, RFC 3339; anything else as typed.
pub fn day_end(raw: &str) -> String {
    let t = raw.trim();
    match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        Ok(_) => format!("{t}T23:59:59+08:00"),
        Err(_) => t.to_owned(),
    }
}

/// A message for `?done=…` after a form went through.
pub fn flash(done: Option<&str>, known: &[(&str, &'static str)]) -> Option<&'static str> {
    let done = done?;
    known.iter().find(|(k, _)| *k == done).map(|(_, m)| *m)
}

/// Today and a few days from now in Beijing, `YYYY-MM-DD` (form defaults).
pub fn day_from_today(days: i64) -> String {
    (chrono::Utc::now().with_timezone(&xinfang_domain::deadline::CST)
        + chrono::TimeDelta::days(days))
    .format("%Y-%m-%d")
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_and_times_are_beijing() {
        let e = explain(&ApiFailure {
            status: 422,
            message: "is required for a task given to a department".into(),
            field: Some("decisions[1].due_at".into()),
            ..Default::default()
        });
        assert_eq!(
            e,
            "任务完成期限（decisions[1].due_at）：is required for a task given to a department"
        );
        assert!(
            explain(&ApiFailure {
                field: Some("next_step".into()),
                ..Default::default()
            })
            .starts_with("下一步工作（next_step）")
        );
        assert_eq!(local_time("2026-12-04T09:30"), "2026-12-04T09:30:00+08:00");
        assert_eq!(local_time(" bad "), "bad");
        assert_eq!(day_end("2026-12-04"), "2026-12-04T23:59:59+08:00");
        assert_eq!(dept_name("rsj"), "人社局");
        assert_eq!(dept_name("411200:rsj"), "人社局（411200）");
        assert_eq!(slug(Some("a/b")), None);
        assert_eq!(county(Some("41128")), None);
        assert_eq!(flash(Some("x"), &[("x", "好")]), Some("好"));
    }
}
