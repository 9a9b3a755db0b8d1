//! `/listed`: listed matters (清单化管理、项目化推进) — supervision's lists per source
//! (`GET /v1/listed`), each matter with its milestones (overdue ones marked), its latest weekly
//! progress and whether this week's entry is missing, its open clocks; and the listed KPIs per
//! source (`GET /v1/listed/kpis`) with SVG bars.
//!
//! The bureau's clerks, supervisors and operators list a case, mark a milestone reached, enter
//! a week's progress and close a matter. A department sees the matters it handles and enters
//! their weekly progress (supervision refuses it anything else). A leader reads.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};

use super::form::{self, Failed};
use crate::backend::{Service, enc};
use crate::chart;
use crate::pages::department::deadlines::{countdown, kind_zh};
use crate::pages::{Fields, PageError, case_no_ok, template_value};
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

const READERS: [ConsoleRole; 5] = [
    ConsoleRole::Supervisor,
    ConsoleRole::Clerk,
    ConsoleRole::Operator,
    ConsoleRole::Leader,
    ConsoleRole::Department,
];

/// Who lists matters and keeps their milestones.
const KEEPERS: [ConsoleRole; 3] = [
    ConsoleRole::Supervisor,
    ConsoleRole::Clerk,
    ConsoleRole::Operator,
];

/// Who enters a week's progress: the keepers and the handling department.
const REPORTERS: [ConsoleRole; 4] = [
    ConsoleRole::Supervisor,
    ConsoleRole::Clerk,
    ConsoleRole::Operator,
    ConsoleRole::Department,
];

const DONE: [(&str, &str); 4] = [
    ("listed", "已列入清单，默认节点已生成。"),
    ("progress", "本周进展已填报。"),
    ("milestone", "节点已标记完成。"),
    ("closed", "清单事项已办结销号。"),
];

#[derive(Debug, Default, Deserialize)]
pub struct ListedQuery {
    county: Option<String>,
    source: Option<String>,
    closed: Option<String>,
    done: Option<String>,
}

/// The lists asked for, checked.
#[derive(Debug, Default)]
struct Selection {
    county: String,
    source: String,
    closed: bool,
}

impl Selection {
    fn from(q: &ListedQuery) -> Self {
        Self {
            county: form::county(q.county.as_deref()).unwrap_or_default(),
            source: form::slug(q.source.as_deref()).unwrap_or_default(),
            closed: q.closed.as_deref() == Some("true"),
        }
    }

    /// Supervision's query for these lists.
    fn api_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !self.county.is_empty() {
            q.append_pair("county", &self.county);
        }
        if !self.source.is_empty() {
            q.append_pair("source", &self.source);
        }
        if self.closed {
            q.append_pair("closed", "true");
        }
        q.finish()
    }
}

pub async fn page(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<ListedQuery>,
) -> Result<Response, PageError> {
    s.require(&READERS)?;
    let flash = form::flash(q.done.as_deref(), &DONE);
    render(&state, &s, &csrf, &Selection::from(&q), flash, None).await
}

/// The listed sources, `[(code, name)]`, in configured order.
fn listed_sources(v: &Value) -> Vec<(String, String)> {
    v["sources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|x| x["listed"].as_bool() == Some(true))
        .filter_map(|x| Some((x["code"].as_str()?.into(), x["name"].as_str()?.into())))
        .collect()
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One matter as the page shows it: milestones marked overdue, the open clocks counted down,
/// the department named, the failed form's values where they belong.
fn item_view(item: &Value, idx: usize, now: DateTime<Utc>, failed: Option<&Failed>) -> Value {
    let mut v = item.clone();
    let case_no = v["case_no"].as_str().unwrap_or_default().to_owned();
    if let Some(ms) = v["milestones"].as_array_mut() {
        for m in ms {
            let late = m["done_at"].is_null() && instant(&m["due_at"]).is_some_and(|d| d < now);
            let form_key = format!("milestone:{}", m["id"].as_str().unwrap_or_default());
            m["overdue"] = json!(late);
            m["failed"] = json!(Failed::values_for(failed, &form_key));
        }
    }
    let clocks: Vec<Value> = v["open_deadlines"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            let (_, class, words) = countdown(instant(&d["due_at"])?, now);
            let kind = d["kind"].as_str().unwrap_or_default();
            Some(
                json!({"kind_zh": kind_zh(kind), "class": class, "countdown": words,
                "department": d["department"].as_str().map(form::dept_name)}),
            )
        })
        .collect();
    v["clocks"] = json!(clocks);
    v["dept_name"] = json!(v["department"].as_str().map(form::dept_name));
    v["idx"] = json!(idx);
    v["failed_progress"] = json!(Failed::values_for(failed, &format!("progress:{case_no}")));
    v["failed_close"] = json!(Failed::values_for(failed, &format!("close:{case_no}")));
    v
}

/// The KPI rows with their shares, and two charts over the sources.
fn kpi_view(kpis: &Value, names: &[(String, String)]) -> (Vec<Value>, Vec<String>) {
    let name = |code: &str| {
        names
            .iter()
            .find(|(c, _)| c == code)
            .map_or_else(|| code.to_owned(), |(_, n)| n.clone())
    };
    let pct = |n: i64, d: i64| (d > 0).then(|| n as f64 * 100.0 / d as f64);
    let mut reported = Vec::new();
    let mut overdue = Vec::new();
    let rows = kpis["sources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|k| {
            let n = |f: &str| k[f].as_i64().unwrap_or(0);
            let label = name(k["source"].as_str().unwrap_or_default());
            let reported_pct = pct(n("progressed_this_week"), n("open"));
            let on_time_pct = pct(n("milestones_done_on_time"), n("milestones_done"));
            if let Some(p) = reported_pct {
                reported.push((label.clone(), p));
            }
            overdue.push((label.clone(), n("milestones_overdue") as f64));
            let mut row = k.clone();
            row["name"] = json!(label);
            row["reported_shown"] = json!(reported_pct.map(|p| format!("{p:.1}%")));
            row["on_time_shown"] = json!(on_time_pct.map(|p| format!("{p:.1}%")));
            row
        })
        .collect();
    let charts = vec![
        chart::bars("本周进展填报率（未办结事项）", &reported, "%"),
        chart::bars("逾期未完成的节点", &overdue, "个"),
    ];
    (rows, charts)
}

/// What the page shows: the lists (`{week, lists: [{source, name, count, items}]}`), the
/// listed sources and the KPIs.
struct Loaded {
    lists: Value,
    sources: Vec<(String, String)>,
    kpis: Value,
    /// Leader id → `name（title）`, for the 包案 leader.
    leaders: BTreeMap<String, String>,
}

/// The bureau's view: supervision's lists, sources and KPIs of the selection.
async fn bureau_lists(state: &AppState, s: &Session, sel: &Selection) -> Result<Loaded, PageError> {
    let query = sel.api_query();
    let lists_path = format!("/v1/listed?{query}");
    let kpis_path = format!("/v1/listed/kpis?{query}");
    let (lists, kpis, sources, leaders) = tokio::join!(
        form::get(state, s, &lists_path),
        form::get(state, s, &kpis_path),
        form::get(state, s, "/v1/sources"),
        form::get(state, s, "/v1/leaders"),
    );
    let leaders = leaders.unwrap_or_default()["leaders"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| {
            let shown = format!("{}（{}）", l["name"].as_str()?, l["title"].as_str()?);
            Some((l["id"].as_str()?.to_owned(), shown))
        })
        .collect();
    Ok(Loaded {
        lists: lists?,
        sources: listed_sources(&sources.unwrap_or_default()),
        kpis: kpis?,
        leaders,
    })
}

/// A department's view: supervision gives it no lists, only its own matters one by one, so
/// its cases (intake lists only its own) are looked up and the listed ones grouped by source.
async fn department_lists(
    state: &AppState,
    s: &Session,
    sel: &Selection,
) -> Result<Loaded, PageError> {
    let cases = state
        .backend
        .get(Service::Intake, "/v1/cases?per_page=100", Some(&s.token))
        .await?;
    let numbers: Vec<String> = cases["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c["case_no"].as_str().map(str::to_owned))
        .collect();
    let found: Vec<Value> = futures::stream::iter(numbers)
        .map(|c| async move { form::get(state, s, &format!("/v1/listed/{}", enc(&c))).await })
        .buffered(8)
        .filter_map(|r| async move { r.ok() })
        .filter(|i| std::future::ready(sel.closed || i["closed_at"].is_null()))
        .collect()
        .await;
    let mut lists: Vec<Value> = Vec::new();
    for item in found {
        let source = item["source"].clone();
        match lists.iter_mut().find(|l| l["source"] == source) {
            Some(l) => {
                if let Some(a) = l["items"].as_array_mut() {
                    a.push(item);
                }
            }
            None => {
                lists.push(json!({"source": source, "name": item["source_name"], "items": [item]}))
            }
        }
    }
    for l in &mut lists {
        l["count"] = json!(l["items"].as_array().map_or(0, Vec::len));
    }
    let week = xinfang_domain::weekly_report::IsoWeek::containing(Utc::now()).to_string();
    Ok(Loaded {
        lists: json!({"week": week, "lists": lists}),
        sources: Vec::new(),
        kpis: Value::Null,
        leaders: BTreeMap::new(),
    })
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    sel: &Selection,
    flash: Option<&str>,
    failed: Option<Failed>,
) -> Result<Response, PageError> {
    let loaded = if s.role == ConsoleRole::Department {
        department_lists(state, s, sel).await?
    } else {
        bureau_lists(state, s, sel).await?
    };
    let week = loaded.lists["week"].as_str().unwrap_or_default().to_owned();
    let (kpi_rows, charts) = kpi_view(&loaded.kpis, &loaded.sources);
    let sources = loaded.sources;
    let now = Utc::now();
    let mut idx = 0;
    let lists: Vec<Value> = loaded.lists["lists"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|l| {
            let items: Vec<Value> = l["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|i| {
                    idx += 1;
                    let mut v = item_view(i, idx, now, failed.as_ref());
                    if let Some(name) = i["leader"].as_str().and_then(|l| loaded.leaders.get(l)) {
                        v["leader"] = json!(name);
                    }
                    v
                })
                .collect();
            json!({"source": l["source"], "name": l["name"], "count": l["count"], "items": items})
        })
        .collect();
    let status = Failed::status(failed.as_ref());
    let page = state.templates.page(
        "listed.html",
        Some(s),
        csrf,
        context! {
            flash => flash,
            error => failed.as_ref().map(|f| f.message.clone()),
            week => week,
            lists => template_value(&lists),
            sources => template_value(&sources),
            kpis => template_value(&kpi_rows),
            charts => charts,
            counties => form::counties(state, s),
            sel_county => sel.county.clone(),
            sel_source => sel.source.clone(),
            sel_closed => sel.closed,
            may_keep => KEEPERS.contains(&s.role),
            may_report => REPORTERS.contains(&s.role),
            failed_list => Failed::values_for(failed.as_ref(), "list"),
            reporter => s.display_name.clone(),
            next_week => form::day_from_today(7),
        },
    )?;
    Ok((status, page).into_response())
}

/// Sends one of the page's forms; on success back to the lists, else the lists again with
/// the form kept.
async fn submit(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    (path, body): (String, Value),
    (form_key, f, what): (String, Fields, &str),
    done: &str,
) -> Result<Response, PageError> {
    match form::send(state, s, &path, &body).await? {
        Ok(_) => Ok(Redirect::to(&format!("/listed?done={done}")).into_response()),
        Err(e) => {
            let failed = Failed::new(form_key, &f, &e, what);
            render(state, s, csrf, &Selection::default(), None, Some(failed)).await
        }
    }
}

pub async fn list_case(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &KEEPERS, "清单事项")?;
    let f = Fields(pairs);
    let mut body = json!({"case_no": f.get("case_no").trim(), "source": f.get("source").trim()});
    if let Some(t) = f.opt("title") {
        body["title"] = json!(t);
    }
    let call = ("/v1/listed".to_owned(), body);
    submit(
        &state,
        &s,
        &csrf,
        call,
        ("list".into(), f, "列入清单"),
        "listed",
    )
    .await
}

pub async fn progress(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &REPORTERS, "清单事项")?;
    case_no_ok(&case_no)?;
    let f = Fields(pairs);
    let mut body = json!({
        "who": f.get("who").trim(),
        "done": f.get("done").trim(),
        "next_step": f.get("next_step").trim(),
    });
    if let Some(d) = f.opt("due") {
        body["due"] = json!(d);
    }
    let call = (format!("/v1/listed/{}/progress", enc(&case_no)), body);
    let form_key = format!("progress:{case_no}");
    submit(
        &state,
        &s,
        &csrf,
        call,
        (form_key, f, "填报进展"),
        "progress",
    )
    .await
}

pub async fn milestone_done(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path((case_no, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &KEEPERS, "清单事项")?;
    case_no_ok(&case_no)?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| PageError::NotFound("没有这个节点".into()))?;
    let f = Fields(pairs);
    let body = match f.opt("note") {
        Some(n) => json!({"note": n}),
        None => json!({}),
    };
    let path = format!("/v1/listed/{}/milestones/{id}/done", enc(&case_no));
    let form_key = format!("milestone:{id}");
    submit(
        &state,
        &s,
        &csrf,
        (path, body),
        (form_key, f, "标记节点完成"),
        "milestone",
    )
    .await
}

pub async fn close(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &KEEPERS, "清单事项")?;
    case_no_ok(&case_no)?;
    let f = Fields(pairs);
    let body = match f.opt("note") {
        Some(n) => json!({"note": n}),
        None => json!({}),
    };
    let path = format!("/v1/listed/{}/close", enc(&case_no));
    let form_key = format!("close:{case_no}");
    submit(
        &state,
        &s,
        &csrf,
        (path, body),
        (form_key, f, "办结销号"),
        "closed",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overdue_milestones_are_marked_and_kpis_become_shares() {
        let now = instant(&json!("2026-12-04T00:00:00Z")).unwrap();
        let item = json!({"case_no": "XF-411282-2026-000001", "department": "rsj",
            "milestones": [
                {"id": "a", "due_at": "2026-12-01T00:00:00Z", "done_at": null},
                {"id": "b", "due_at": "2026-12-01T00:00:00Z", "done_at": "2026-11-30T00:00:00Z"},
                {"id": "c", "due_at": "2026-12-09T00:00:00Z", "done_at": null}],
            "open_deadlines": [{"kind": "D5", "department": "rsj", "due_at": "2026-12-02T00:00:00Z"}]});
        let v = item_view(&item, 1, now, None);
        let marks: Vec<bool> = v["milestones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["overdue"].as_bool().unwrap())
            .collect();
        assert_eq!(marks, [true, false, false]);
        assert_eq!(v["clocks"][0]["class"], "due-late");
        assert_eq!(v["dept_name"], "人社局");
        let kpis = json!({"sources": [{"source": "superior", "open": 4, "progressed_this_week": 1,
            "milestones_done": 2, "milestones_done_on_time": 1, "milestones_overdue": 3}]});
        let (rows, charts) = kpi_view(&kpis, &[("superior".into(), "上级交办".into())]);
        assert_eq!(rows[0]["name"], "上级交办");
        assert_eq!(rows[0]["reported_shown"], "25.0%");
        assert_eq!(rows[0]["on_time_shown"], "50.0%");
        assert!(charts[1].contains("上级交办") && charts[1].contains("3个"));
        let sel = Selection::from(&ListedQuery {
            county: Some("411282".into()),
            source: Some("x&y".into()),
            closed: Some("true".into()),
            done: None,
        });
        assert_eq!(sel.api_query(), "county=411282&closed=true");
    }
}
