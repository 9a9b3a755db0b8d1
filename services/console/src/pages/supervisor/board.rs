//! `GET /board`: the deadline board — running duty deadlines in the user's scope that fall due
//! within a few days or are overdue, by county and department, as supervision's
//! `GET /v1/deadlines` (without a case number) lists them.
//!
//! `POST /board/supervise` issues a 督办 (supervision `POST /v1/supervisions`): supervisors
//! and operators only; a leader reads the board and signs nothing.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::county_param;
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::department::deadlines::{self, Clock};
use crate::pages::template_value;
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;
use xinfang_domain::case_no::is_case_no;

/// The most clocks one board shows (supervision's own cap is 1000).
const BOARD_LIMIT: usize = 500;

/// The windows a user can pick, in days; the first is the default (the "≤ 3 days").
const WINDOWS: [i64; 4] = [3, 7, 15, 30];

/// 督办 forms (supervision's `FORMS`) in Chinese.
pub const FORMS: [(&str, &str); 4] = [
    ("written_notice", "发函督办"),
    ("summons", "约谈督办"),
    ("on_site", "现场督办"),
    ("joint", "联合督办"),
];

#[derive(Debug, Default, Clone, Deserialize)]
pub struct BoardQuery {
    county: Option<String>,
    dept: Option<String>,
    within: Option<String>,
    sort: Option<String>,
    flash: Option<String>,
}

/// The board's filters, checked.
#[derive(Debug, Clone, Serialize)]
struct Filters {
    county: String,
    dept: String,
    within: i64,
    sort: &'static str,
}

impl Filters {
    fn from(q: &BoardQuery) -> Self {
        let within = q
            .within
            .as_deref()
            .and_then(|w| w.parse::<i64>().ok())
            .filter(|w| WINDOWS.contains(w))
            .unwrap_or(WINDOWS[0]);
        let sort = match q.sort.as_deref() {
            Some("county") => "county",
            Some("dept") => "dept",
            _ => "due",
        };
        let dept = q
            .dept
            .as_deref()
            .map(str::trim)
            .filter(|d| {
                !d.is_empty()
                    && d.len() <= 32
                    && d.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
            .unwrap_or_default()
            .to_owned();
        Self {
            county: county_param(q.county.as_deref()).unwrap_or_default(),
            dept,
            within,
            sort,
        }
    }

    /// The query string that shows this board again.
    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("county", &self.county)
            .append_pair("dept", &self.dept)
            .append_pair("within", &self.within.to_string())
            .append_pair("sort", self.sort)
            .finish()
    }
}

#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    clock: Clock,
    /// Unique on the page (form field ids).
    idx: usize,
    /// The 督办 that just failed for this row: its values, form open.
    failed: Option<SuperviseForm>,
}

#[derive(Debug, Serialize)]
struct Group {
    title: String,
    rows: Vec<Row>,
}

pub async fn board(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<BoardQuery>,
) -> Result<Response, PageError> {
    s.require(&[
        ConsoleRole::Supervisor,
        ConsoleRole::Leader,
        ConsoleRole::Operator,
    ])?;
    let flash = (q.flash.as_deref() == Some("supervised"))
        .then_some("已发出督办，督办答复期限已开始计算。");
    render(&state, &s, &csrf, &Filters::from(&q), flash, None).await
}

fn may_supervise(s: &Session) -> bool {
    matches!(s.role, ConsoleRole::Supervisor | ConsoleRole::Operator)
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    f: &Filters,
    flash: Option<&str>,
    failed: Option<(SuperviseForm, String, StatusCode)>,
) -> Result<Response, PageError> {
    // One call: supervision lists the scope's open clocks due within the window (overdue
    // ones included), soonest first.
    let mut path = format!("/v1/deadlines?within_days={}&limit={BOARD_LIMIT}", f.within);
    if !f.county.is_empty() {
        path += &format!("&county={}", enc(&f.county));
    }
    if !f.dept.is_empty() {
        path += &format!("&department={}", enc(&f.dept));
    }
    let answer = state
        .backend
        .get(Service::Supervision, &path, Some(&s.token))
        .await?;
    let listed = answer["deadlines"].as_array().map_or(0, Vec::len);
    let truncated = listed >= BOARD_LIMIT;
    let all: Vec<Clock> = deadlines::running(&answer, chrono::Utc::now())
        .into_iter()
        .filter(|c| c.duty)
        .collect();
    let counties: Vec<String> = all
        .iter()
        .map(|c| c.county.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let depts: BTreeMap<String, String> = all
        .iter()
        .filter_map(|c| Some((c.dept_code.clone()?, c.dept_name.clone())))
        .collect();
    let mut rows: Vec<Clock> = all
        .into_iter()
        .filter(|c| f.dept.is_empty() || c.dept_code.as_deref() == Some(f.dept.as_str()))
        .collect();
    rows.sort_by(|a, b| {
        a.due_at
            .cmp(&b.due_at)
            .then_with(|| a.case_no.cmp(&b.case_no))
    });
    let late = rows.iter().filter(|c| c.class == "due-late").count();
    let soon = rows.len() - late;
    let mut failed_row = failed.as_ref().map(|(v, _, _)| v.clone());
    let mut groups: Vec<Group> = Vec::new();
    for (idx, clock) in rows.into_iter().enumerate() {
        let title = match f.sort {
            "county" => format!(
                "{} · {}",
                state.names.county(&clock.county),
                clock.dept_name
            ),
            "dept" => format!(
                "{} · {}",
                clock.dept_name,
                state.names.county(&clock.county)
            ),
            _ => String::new(),
        };
        let mine = failed_row.as_ref().is_some_and(|v| {
            v.case_no == clock.case_no && Some(&v.department) == clock.dept_code.as_ref()
        });
        let row = Row {
            failed: if mine { failed_row.take() } else { None },
            idx,
            clock,
        };
        match groups.iter_mut().find(|g| g.title == title) {
            Some(g) => g.rows.push(row),
            None => groups.push(Group {
                title,
                rows: vec![row],
            }),
        }
    }
    groups.sort_by(|a, b| a.title.cmp(&b.title));
    let default_respond_by = (chrono::Utc::now().with_timezone(&xinfang_domain::deadline::CST)
        + chrono::TimeDelta::days(3))
    .format("%Y-%m-%d")
    .to_string();
    let (error, code) = match failed {
        Some((_, m, code)) => (Some(m), code),
        None => (None, StatusCode::OK),
    };
    let page = state.templates.page(
        "board.html",
        Some(s),
        csrf,
        context! {
            live => true,
            flash => flash,
            error => error,
            filters => template_value(f),
            back => f.query(),
            windows => WINDOWS.to_vec(),
            counties => counties,
            depts => template_value(&depts),
            groups => template_value(&groups),
            grouped => f.sort != "due",
            late => late,
            soon => soon,
            truncated => truncated,
            listed => listed,
            may_supervise => may_supervise(s),
            forms => template_value(&FORMS),
            default_respond_by => default_respond_by,
        },
    )?;
    Ok((code, page).into_response())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SuperviseForm {
    case_no: String,
    department: String,
    form: String,
    /// A day (Beijing): the department answers by its end.
    respond_by: String,
    #[serde(default)]
    note: String,
    /// The board's query string, to return to.
    #[serde(default)]
    back: String,
}

pub async fn supervise(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(v): Form<SuperviseForm>,
) -> Result<Response, PageError> {
    if !may_supervise(&s) {
        return Err(PageError::Forbidden(format!(
            "{}只能查看期限看板，不能发出督办",
            s.role.title()
        )));
    }
    if !is_case_no(v.case_no.trim()) {
        return Err(PageError::NotFound("没有这个案件编号".into()));
    }
    let filters = Filters::from(&back_query(&v.back));
    let respond_by = v.respond_by.trim();
    let respond_by = if chrono::NaiveDate::parse_from_str(respond_by, "%Y-%m-%d").is_ok() {
        format!("{respond_by}T23:59:59+08:00")
    } else {
        // Sent as typed: supervision names the field and the rule.
        respond_by.to_owned()
    };
    let body = json!({
        "case_no": v.case_no.trim(),
        "department": v.department.trim(),
        "form": v.form.trim(),
        "issuer": s.display_name.chars().take(64).collect::<String>(),
        "note": v.note.trim(),
        "respond_by": respond_by,
    });
    match state
        .backend
        .post(
            Service::Supervision,
            "/v1/supervisions",
            Some(&s.token),
            &body,
        )
        .await
    {
        Ok(_) => {
            tracing::info!(case_no = %v.case_no.trim(), department = %v.department.trim(), "督办 issued");
            Ok(
                Redirect::to(&format!("/board?{}&flash=supervised", filters.query()))
                    .into_response(),
            )
        }
        Err(f) if matches!(f.status, 403 | 404) => Err(f.into()),
        Err(f) => {
            let message = format!("督办未发出：{}", explain(&f));
            let code = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
            render(&state, &s, &csrf, &filters, None, Some((v, message, code))).await
        }
    }
}

fn explain(f: &ApiFailure) -> String {
    let label = match f.field.as_deref() {
        Some("form") => "督办方式",
        Some("respond_by") => "答复期限",
        Some("note") => "督办要求",
        Some("department") => "被督办单位",
        Some("case_no") => "案件编号",
        Some("issuer") => "督办人",
        _ => return f.line(),
    };
    format!(
        "{label}（{}）：{}",
        f.field.as_deref().unwrap_or_default(),
        f.message
    )
}

fn back_query(raw: &str) -> BoardQuery {
    let mut q = BoardQuery::default();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "county" => q.county = v,
            "dept" => q.dept = v,
            "within" => q.within = v,
            "sort" => q.sort = v,
            _ => {}
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_and_round_trip() {
        let f = Filters::from(&BoardQuery {
            county: Some("901201".into()),
            dept: Some("rsj".into()),
            within: Some("30".into()),
            sort: Some("county".into()),
            flash: None,
        });
        let again = Filters::from(&back_query(&f.query()));
        assert_eq!(
            (again.county, again.dept, again.within, again.sort),
            ("901201".into(), "rsj".into(), 30, "county")
        );
        let bad = Filters::from(&back_query("county=x&dept=R%26D&within=999&sort=evil"));
        assert_eq!(
            (bad.county, bad.dept, bad.within, bad.sort),
            (String::new(), String::new(), 3, "due")
        );
    }
}
