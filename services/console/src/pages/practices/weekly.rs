//! `/weekly`: the weekly analysis (周研判) of a county (or of the whole deployment under the
//! city's code) and an ISO week, last week by default — supervision's stored report
//! (`GET /v1/reports/weekly?format=json`) drawn as tables and SVG bars. `/weekly/report.csv`
//! and `/weekly/report.html` download the service's own CSV and page with the user's token
//! (the `/v1` gateway passes no session, so a plain link to it would carry none).
//! `POST /weekly` (re)generates the report (`POST /v1/reports/weekly`): supervisors and
//! operators; a leader reads.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use xinfang_domain::weekly_report::IsoWeek;

use super::form::{self, Failed};
use crate::backend::{ApiFailure, Service};
use crate::chart;
use crate::pages::{Fields, PageError, template_value};
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

const READERS: [ConsoleRole; 3] = [
    ConsoleRole::Supervisor,
    ConsoleRole::Leader,
    ConsoleRole::Operator,
];

const WRITERS: [ConsoleRole; 2] = [ConsoleRole::Supervisor, ConsoleRole::Operator];

#[derive(Debug, Default, Deserialize)]
pub struct WeeklyQuery {
    county: Option<String>,
    week: Option<String>,
    done: Option<String>,
}

/// The report asked for: a county of the user's scope (their own by default) and a week that
/// has begun (last week by default).
#[derive(Debug, Clone)]
struct Selection {
    county: String,
    week: IsoWeek,
}

impl Selection {
    fn from(county: Option<&str>, week: Option<&str>, state: &AppState, s: &Session) -> Self {
        let now = Utc::now();
        let county = form::county(county)
            .filter(|c| form::counties(state, s).contains(c))
            .unwrap_or_else(|| s.scope.to_string());
        let week = week
            .and_then(|w| IsoWeek::parse(w).ok())
            .filter(|w| w.start() <= now)
            .unwrap_or_else(|| IsoWeek::last_complete(now));
        Self { county, week }
    }

    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("county", &self.county)
            .append_pair("week", &self.week.to_string())
            .finish()
    }
}

pub async fn page(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<WeeklyQuery>,
) -> Result<Response, PageError> {
    s.require(&READERS)?;
    let sel = Selection::from(q.county.as_deref(), q.week.as_deref(), &state, &s);
    let flash = form::flash(q.done.as_deref(), &[("generated", "周研判已重新生成。")]);
    render(&state, &s, &csrf, &sel, flash, None).await
}

/// `+25%`, `-10%`, or `—` from nothing.
fn change(now: i64, before: i64) -> String {
    if before > 0 {
        format!("{:+.0}%", (now - before) as f64 * 100.0 / before as f64)
    } else {
        "—".to_owned()
    }
}

/// A count this week, the week before and a year ago, with the changes.
fn count3(v: &Value) -> Value {
    let n = |f: &str| v[f].as_i64().unwrap_or(0);
    let (this, prev, year) = (n("this_week"), n("previous_week"), n("same_week_last_year"));
    json!({"this_week": this, "previous_week": prev, "same_week_last_year": year,
        "vs_previous": change(this, prev), "vs_last_year": change(this, year)})
}

/// One breakdown (by channel, type, …): its rows in Chinese and its bars of this week.
fn breakdown(title: &str, lines: &Value, label: impl Fn(&str) -> String) -> Value {
    let rows: Vec<Value> = lines
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|l| {
            let key = l["key"].as_str().unwrap_or_default();
            let mut row = count3(l);
            row["label"] = json!(if key == "unknown" {
                "未填".to_owned()
            } else {
                label(key)
            });
            row
        })
        .collect();
    let bars: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| Some((r["label"].as_str()?.to_owned(), r["this_week"].as_f64()?)))
        .collect();
    let chart = (!bars.is_empty()).then(|| chart::bars(&format!("{title}（本周）"), &bars, "件"));
    json!({"title": title, "rows": rows, "chart": chart})
}

/// The report's figures as the page shows them.
fn view(figures: &Value, sources: &Value) -> Value {
    let source_name = |code: &str| {
        sources["sources"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["code"] == code))
            .and_then(|s| s["name"].as_str())
            .unwrap_or(code)
            .to_owned()
    };
    let breakdowns = vec![
        breakdown("按渠道", &figures["by_channel"], crate::words::channel_zh),
        breakdown(
            "按类型",
            &figures["by_type"],
            crate::words::petition_type_zh,
        ),
        breakdown("按承办单位", &figures["by_department"], form::dept_name),
        breakdown("按乡镇（街道）", &figures["by_town"], str::to_owned),
        breakdown("按来源", &figures["by_source"], source_name),
    ];
    json!({
        "total": count3(&figures["total"]),
        "listed_registered": count3(&figures["listed_registered"]),
        "groups": count3(&figures["groups"]["cases"]),
        "repeats": count3(&figures["repeats"]["repeat_cases"]),
        "leapfrog": count3(&figures["leapfrog"]["cases"]),
        "breakdowns": breakdowns,
    })
}

/// The stored report, or `None` when there is none for the county and week yet.
async fn stored(
    state: &AppState,
    s: &Session,
    sel: &Selection,
) -> Result<Option<Value>, ApiFailure> {
    let path = format!("/v1/reports/weekly?{}&format=json", sel.query());
    match form::get(state, s, &path).await {
        Ok(v) => Ok(Some(v)),
        Err(f) if f.status == 404 => Ok(None),
        Err(f) => Err(f),
    }
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    sel: &Selection,
    flash: Option<&str>,
    failed: Option<Failed>,
) -> Result<Response, PageError> {
    let (report, sources) = tokio::join!(stored(state, s, sel), form::get(state, s, "/v1/sources"));
    let report = report?;
    let shown = report
        .as_ref()
        .map(|r| view(&r["figures"], &sources.unwrap_or_default()));
    let status = Failed::status(failed.as_ref());
    let page = state.templates.page(
        "weekly.html",
        Some(s),
        csrf,
        context! {
            flash => flash,
            error => failed.as_ref().map(|f| f.message.clone()),
            county => sel.county.clone(),
            week => sel.week.to_string(),
            from => sel.week.monday().to_string(),
            to => sel.week.sunday().to_string(),
            counties => form::counties(state, s),
            report => report.as_ref().map(template_value),
            figures => report.as_ref().map(|r| template_value(&r["figures"])),
            shown => shown.as_ref().map(template_value),
            query => sel.query(),
            may_generate => WRITERS.contains(&s.role),
        },
    )?;
    Ok((status, page).into_response())
}

pub async fn regenerate(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(&READERS)?;
    form::may_write(&s, &WRITERS, "周研判")?;
    let f = Fields(pairs);
    let sel = Selection::from(Some(f.get("county")), Some(f.get("week")), &state, &s);
    let body = json!({"county": sel.county, "week": sel.week.to_string()});
    match form::send(&state, &s, "/v1/reports/weekly", &body).await? {
        Ok(_) => {
            Ok(Redirect::to(&format!("/weekly?{}&done=generated", sel.query())).into_response())
        }
        Err(e) => {
            let failed = Failed::new("generate", &f, &e, "生成周研判");
            render(&state, &s, &csrf, &sel, None, Some(failed)).await
        }
    }
}

pub async fn csv(
    State(state): State<AppState>,
    Staff(s): Staff,
    Query(q): Query<WeeklyQuery>,
) -> Result<Response, PageError> {
    download(&state, &s, &q, "csv", "text/csv; charset=utf-8").await
}

pub async fn html(
    State(state): State<AppState>,
    Staff(s): Staff,
    Query(q): Query<WeeklyQuery>,
) -> Result<Response, PageError> {
    download(&state, &s, &q, "html", "text/html; charset=utf-8").await
}

/// The service's own file of the report, as an attachment (the HTML is saved, not shown on
/// the console's origin).
async fn download(
    state: &AppState,
    s: &Session,
    q: &WeeklyQuery,
    format: &str,
    content_type: &'static str,
) -> Result<Response, PageError> {
    s.require(&READERS)?;
    let sel = Selection::from(q.county.as_deref(), q.week.as_deref(), state, s);
    let path = format!("/v1/reports/weekly?{}&format={format}", sel.query());
    let body = state
        .backend
        .get_text(Service::Supervision, &path, Some(&s.token))
        .await?;
    let name = format!("weekly-{}-{}.{format}", sel.county, sel.week);
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_compare_with_the_week_before_and_breakdowns_read_in_chinese() {
        let c = count3(&json!({"this_week": 6, "previous_week": 4, "same_week_last_year": 0}));
        assert_eq!(c["vs_previous"], "+50%");
        assert_eq!(c["vs_last_year"], "—");
        let b = breakdown(
            "按渠道",
            &json!([{"key": "visit", "this_week": 2, "previous_week": 1, "same_week_last_year": 0},
                    {"key": "unknown", "this_week": 1, "previous_week": 0, "same_week_last_year": 0}]),
            crate::words::channel_zh,
        );
        assert_eq!(b["rows"][0]["label"], "走访");
        assert_eq!(b["rows"][1]["label"], "未填");
        assert!(b["chart"].as_str().unwrap().contains("<svg"));
        assert!(breakdown("空", &json!([]), str::to_owned)["chart"].is_null());
    }
}
