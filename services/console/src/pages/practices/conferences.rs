//! `/conferences`: case conferences (会审) — 疑难案件会审 and 重大信访问题会审督办协调 — scheduled
//! and held, with their participants, minutes and decisions; a decision that gives a
//! department a task shows its clock's state. The bureau's clerks, supervisors and operators
//! schedule one on a case (`POST /v1/conferences`) and record its minutes with decisions and
//! tasks (`POST /v1/conferences/{id}/minutes`); the department reports a task done on its own
//! page (`/dept/tasks`).
//!
//! The page shows the case asked for (`?case_no=`) and the latest conferences of the user's
//! counties (`GET /v1/conferences?county=`), read from supervision with the user's token.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use xinfang_domain::case_no::is_case_no;
use xinfang_domain::practices::{ConferenceKind, ParticipantRole};

use super::form::{self, Failed};
use crate::backend::{ApiFailure, enc};
use crate::pages::{Fields, PageError, template_value};
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

const KEEPERS: [ConsoleRole; 3] = [
    ConsoleRole::Supervisor,
    ConsoleRole::Clerk,
    ConsoleRole::Operator,
];

/// Decision rows on the minutes form.
const DECISION_ROWS: usize = 3;
/// Conferences shown at most.
const SHOWN: usize = 60;

const DONE: [(&str, &str); 2] = [
    ("scheduled", "会审已安排。"),
    ("held", "会议纪要和决定事项已记录，交办任务已开始计时。"),
];

#[derive(Debug, Default, Deserialize)]
pub struct ConferencesQuery {
    case_no: Option<String>,
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<ConferencesQuery>,
) -> Result<Response, PageError> {
    s.require(&KEEPERS)?;
    let asked = q
        .case_no
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let flash = form::flash(q.done.as_deref(), &DONE);
    render(&state, &s, &csrf, asked, flash, None).await
}

async fn listed(state: &AppState, s: &Session, query: &str) -> Result<Vec<Value>, ApiFailure> {
    let v = form::get(state, s, &format!("/v1/conferences?{query}")).await?;
    Ok(v["conferences"].as_array().cloned().unwrap_or_default())
}

/// The asked case's conferences first, then those of the user's counties (supervision's
/// county calendar, newest first), each once; why the asked case's could not be read, if so.
async fn gather(
    state: &AppState,
    s: &Session,
    asked: Option<&str>,
) -> (Vec<Value>, Option<String>) {
    let mut all: Vec<Value> = Vec::new();
    let mut lookup_error = None;
    if let Some(a) = asked {
        match listed(state, s, &format!("case_no={}", enc(a))).await {
            Ok(list) => all.extend(list),
            Err(e) => lookup_error = Some(format!("{a}：{}", form::explain(&e))),
        }
    }
    let counties = form::counties(state, s);
    let found: Vec<Result<Vec<Value>, ApiFailure>> = futures::stream::iter(counties)
        .map(|c| async move { listed(state, s, &format!("county={}", enc(&c))).await })
        .buffered(4)
        .collect()
        .await;
    for r in found {
        match r {
            Ok(list) => {
                for c in list {
                    if !all.iter().any(|x| x["id"] == c["id"]) {
                        all.push(c);
                    }
                }
            }
            Err(e) => tracing::debug!(status = e.status, "county conferences unreadable"),
        }
    }
    all.truncate(SHOWN);
    (all, lookup_error)
}

fn decision_state_zh(state: Option<&str>, done: bool) -> &'static str {
    match (state, done) {
        (Some("met"), _) => "按期完成",
        (Some("met_late"), _) => "逾期完成",
        (Some("fired"), _) => "已超期",
        (Some("withdrawn"), _) => "已撤销",
        (_, true) => "已完成",
        (Some(_), false) => "办理中",
        (None, false) => "",
    }
}

/// One conference for the page: participants and decisions in Chinese, ids for its form.
fn conference_view(c: &Value, idx: usize, failed: Option<&Failed>) -> Value {
    let mut v = c.clone();
    if let Some(ps) = v["participants"].as_array_mut() {
        for p in ps {
            let role = p["role"].as_str().unwrap_or_default().to_owned();
            let id = p["id"].as_str().unwrap_or_default().to_owned();
            let role = role.as_str();
            p["role_zh"] = json!(ParticipantRole::parse("role", role).map_or(role, |r| r.zh()));
            p["shown"] = json!(match (role, p["name"].as_str()) {
                ("department", _) => form::dept_name(&id),
                (_, Some(n)) => n.to_owned(),
                _ => id.clone(),
            });
        }
    }
    if let Some(ds) = v["decisions"].as_array_mut() {
        for d in ds {
            let done = !d["done_at"].is_null();
            d["state_zh"] = json!(decision_state_zh(d["deadline_state"].as_str(), done));
            d["dept_name"] = json!(d["department"].as_str().map(form::dept_name));
        }
    }
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    v["idx"] = json!(idx);
    v["failed"] = json!(Failed::values_for(failed, &format!("minutes:{id}")));
    v
}

/// Leaders and advisers of the roster for the participants' lists: `[(value, label)]`, an
/// adviser's value naming its kind (`lawyer:<id>`).
async fn roster(state: &AppState, s: &Session) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let (l, a) = tokio::join!(
        form::get(state, s, "/v1/leaders?active=true"),
        form::get(state, s, "/v1/advisers?active=true"),
    );
    let list = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    let leaders = list(&l.unwrap_or_default(), "leaders")
        .iter()
        .filter_map(|x| {
            let label = format!("{}（{}）", x["name"].as_str()?, x["title"].as_str()?);
            Some((x["id"].as_str()?.to_owned(), label))
        })
        .collect();
    let advisers = list(&a.unwrap_or_default(), "advisers")
        .iter()
        .filter_map(|x| {
            let kind = x["kind"].as_str()?;
            let zh = ParticipantRole::parse("kind", kind).ok()?.zh();
            let label = format!(
                "{zh} {}（{}）",
                x["name"].as_str()?,
                x["organisation"].as_str()?
            );
            Some((format!("{kind}:{}", x["id"].as_str()?), label))
        })
        .collect();
    (leaders, advisers)
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    asked: Option<String>,
    flash: Option<&str>,
    failed: Option<Failed>,
) -> Result<Response, PageError> {
    let ((all, lookup_error), (leaders, advisers)) =
        tokio::join!(gather(state, s, asked.as_deref()), roster(state, s));
    let views: Vec<Value> = all
        .iter()
        .enumerate()
        .map(|(i, c)| conference_view(c, i + 1, failed.as_ref()))
        .collect();
    let (mut upcoming, mut held): (Vec<Value>, Vec<Value>) =
        views.into_iter().partition(|c| c["state"] == "scheduled");
    let at = |c: &Value, k: &str| c[k].as_str().unwrap_or_default().to_owned();
    upcoming.sort_by_key(|c| at(c, "scheduled_at"));
    held.sort_by_key(|c| std::cmp::Reverse(at(c, "held_at")));
    let kinds: Vec<(&str, &str)> = ConferenceKind::ALL
        .iter()
        .map(|k| (k.code(), k.zh()))
        .collect();
    let status = Failed::status(failed.as_ref());
    let page = state.templates.page(
        "conferences.html",
        Some(s),
        csrf,
        context! {
            flash => flash,
            error => failed.as_ref().map(|f| f.message.clone()).or(lookup_error),
            asked => asked,
            upcoming => template_value(&upcoming),
            held => template_value(&held),
            kinds => kinds,
            departments => form::department_options(),
            leaders => leaders,
            advisers => advisers,
            rows => (1..=DECISION_ROWS).collect::<Vec<_>>(),
            failed_schedule => Failed::values_for(failed.as_ref(), "schedule"),
            default_at => format!("{}T09:00", form::day_from_today(1)),
            default_due => form::day_from_today(15),
        },
    )?;
    Ok((status, page).into_response())
}

/// The participants a schedule form names: departments, leaders and advisers.
fn participants(f: &Fields) -> Vec<Value> {
    let mut out: Vec<Value> = f
        .all("department")
        .into_iter()
        .map(|d| json!({"role": "department", "id": d}))
        .collect();
    out.extend(
        f.all("leader")
            .into_iter()
            .map(|l| json!({"role": "leader", "id": l})),
    );
    out.extend(
        f.all("adviser")
            .into_iter()
            .map(|a| match a.split_once(':') {
                Some((kind, id)) => json!({"role": kind, "id": id}),
                None => json!({"role": "lawyer", "id": a}),
            }),
    );
    out
}

pub async fn schedule(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &KEEPERS, "会审")?;
    let f = Fields(pairs);
    let case_no = f.get("case_no").trim().to_owned();
    let body = json!({
        "case_no": case_no,
        "kind": f.get("kind").trim(),
        "scheduled_at": form::local_time(f.get("scheduled_at")),
        "place": f.get("place").trim(),
        "participants": participants(&f),
    });
    match form::send(&state, &s, "/v1/conferences", &body).await? {
        Ok(_) => {
            let to = format!("/conferences?case_no={}&done=scheduled", enc(&case_no));
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            let failed = Failed::new("schedule", &f, &e, "安排会审");
            render(&state, &s, &csrf, None, None, Some(failed)).await
        }
    }
}

/// The minutes form's decisions: each row with a text; a department and a due day make it a
/// task (due at the end of that day).
fn decisions(f: &Fields) -> Vec<Value> {
    (1..=DECISION_ROWS)
        .filter_map(|i| {
            let text = f.get(&format!("decision_{i}_text")).trim();
            let dept = f.get(&format!("decision_{i}_department")).trim();
            let due = f.get(&format!("decision_{i}_due")).trim();
            if text.is_empty() && dept.is_empty() && due.is_empty() {
                return None;
            }
            let mut d = json!({"text": text});
            if !dept.is_empty() {
                d["department"] = json!(dept);
            }
            if !due.is_empty() {
                d["due_at"] = json!(form::day_end(due));
            }
            Some(d)
        })
        .collect()
}

pub async fn minutes(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &KEEPERS, "会审")?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| PageError::NotFound("没有这次会审".into()))?;
    let f = Fields(pairs);
    let case_no = f.opt("case_no").filter(|c| is_case_no(c));
    let mut body = json!({"minutes": f.get("minutes").trim(), "decisions": decisions(&f)});
    if let Some(h) = f.opt("held_at") {
        body["held_at"] = json!(form::local_time(&h));
    }
    match form::send(&state, &s, &format!("/v1/conferences/{id}/minutes"), &body).await? {
        Ok(_) => {
            let case = case_no.map(|c| format!("case_no={}&", enc(&c)));
            let to = format!("/conferences?{}done=held", case.unwrap_or_default());
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            let failed = Failed::new(format!("minutes:{id}"), &f, &e, "记录会议纪要");
            render(&state, &s, &csrf, case_no, None, Some(failed)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn forms_become_participants_and_tasks() {
        let f = fields(&[
            ("department", "rsj"),
            ("department", "zjj"),
            ("leader", "wang_fxz"),
            ("adviser", "counsellor:0190"),
            ("decision_1_text", "调查核实"),
            ("decision_1_department", "rsj"),
            ("decision_1_due", "2026-12-20"),
            ("decision_2_text", "形成意见"),
        ]);
        let p = participants(&f);
        assert_eq!(p.len(), 4);
        assert_eq!(p[3], json!({"role": "counsellor", "id": "0190"}));
        let d = decisions(&f);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0]["due_at"], "2026-12-20T23:59:59+08:00");
        assert!(d[1].get("department").is_none());
        let c = conference_view(
            &json!({"id": "c1", "participants": [{"role": "department", "id": "rsj", "name": null}],
                "decisions": [{"deadline_state": "fired", "done_at": null, "department": "rsj"}]}),
            1,
            None,
        );
        assert_eq!(c["participants"][0]["shown"], "人社局");
        assert_eq!(c["participants"][0]["role_zh"], "部门");
        assert_eq!(c["decisions"][0]["state_zh"], "已超期");
    }
}
