//! `/dept/tasks`: the department's open conference tasks (会审交办任务) — its running `task`
//! clocks from supervision (`GET /v1/deadlines`, ref = the decision), each with the decision's
//! words from its conference (`GET /v1/conferences?case_no=`) and a form reporting it done
//! (`POST /v1/conferences/{id}/tasks/{decision}/done`), which closes the clock.

use std::collections::{BTreeSet, HashMap};

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use futures::StreamExt;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::deadlines::{self, Clock};
use crate::backend::{Service, enc};
use crate::pages::practices::form::{self, Failed};
use crate::pages::{Fields, PageError, template_value};
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

const ROLES: [ConsoleRole; 2] = [ConsoleRole::Department, ConsoleRole::Operator];

#[derive(Debug, Default, Deserialize)]
pub struct TasksQuery {
    done: Option<String>,
}

/// One open task.
#[derive(Debug, Serialize)]
struct Task {
    #[serde(flatten)]
    clock: Clock,
    conference: String,
    decision: String,
    text: String,
    kind_name: String,
    held_at: Option<String>,
    idx: usize,
    failed: Option<std::collections::BTreeMap<String, String>>,
}

pub async fn tasks(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<TasksQuery>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let flash = form::flash(
        q.done.as_deref(),
        &[("done", "已报告任务完成，期限已结束。")],
    );
    render(&state, &s, &csrf, flash, None).await
}

/// Each decision of the cases' conferences by its id: (conference id, decision, conference).
async fn decisions(
    state: &AppState,
    s: &Session,
    cases: BTreeSet<String>,
) -> HashMap<String, (String, Value, Value)> {
    let answers: Vec<Value> = futures::stream::iter(cases)
        .map(|c| async move {
            let path = format!("/v1/conferences?case_no={}", enc(&c));
            form::get(state, s, &path).await.unwrap_or_default()
        })
        .buffered(6)
        .collect()
        .await;
    let mut out = HashMap::new();
    for a in answers {
        for c in a["conferences"].as_array().cloned().unwrap_or_default() {
            let id = c["id"].as_str().unwrap_or_default().to_owned();
            for d in c["decisions"].as_array().cloned().unwrap_or_default() {
                let key = d["id"].as_str().unwrap_or_default().to_owned();
                out.insert(key, (id.clone(), d, c.clone()));
            }
        }
    }
    out
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    flash: Option<&str>,
    failed: Option<Failed>,
) -> Result<Response, PageError> {
    let answer = state
        .backend
        .get(
            Service::Supervision,
            "/v1/deadlines?within_days=366&limit=1000",
            Some(&s.token),
        )
        .await?;
    // Each open task clock with its ref (the decision that gave it).
    let now = Utc::now();
    let open: Vec<(Clock, String)> = answer["deadlines"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|d| d["kind"] == "task")
        .filter_map(|d| {
            let clock = deadlines::running(&json!({"deadlines": [d]}), now).pop()?;
            Some((clock, d["ref"].as_str()?.to_owned()))
        })
        .collect();
    let cases: BTreeSet<String> = open.iter().map(|(c, _)| c.case_no.clone()).collect();
    let by_decision = decisions(state, s, cases).await;
    let mut tasks: Vec<Task> = open
        .into_iter()
        .enumerate()
        .filter_map(|(i, (clock, decision))| {
            let (conference, d, c) = by_decision.get(&decision)?.clone();
            let form_key = format!("task:{decision}");
            Some(Task {
                text: d["text"].as_str().unwrap_or_default().to_owned(),
                kind_name: c["kind_name"].as_str().unwrap_or_default().to_owned(),
                held_at: c["held_at"].as_str().map(str::to_owned),
                failed: Failed::values_for(failed.as_ref(), &form_key),
                idx: i + 1,
                clock,
                conference,
                decision,
            })
        })
        .collect();
    tasks.sort_by(|a, b| a.clock.due_at.cmp(&b.clock.due_at));
    let status = Failed::status(failed.as_ref());
    let page = state.templates.page(
        "dept_tasks.html",
        Some(s),
        csrf,
        context! {
            flash => flash,
            error => failed.as_ref().map(|f| f.message.clone()),
            tasks => template_value(&tasks),
        },
    )?;
    Ok((status, page).into_response())
}

pub async fn done(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path((conference, decision)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let not_found = |_| PageError::NotFound("没有这项任务".into());
    let conference = uuid::Uuid::parse_str(&conference).map_err(not_found)?;
    let decision = uuid::Uuid::parse_str(&decision).map_err(not_found)?;
    let f = Fields(pairs);
    let body = json!({"note": f.get("note").trim()});
    let path = format!("/v1/conferences/{conference}/tasks/{decision}/done");
    match form::send(&state, &s, &path, &body).await? {
        Ok(_) => Ok(Redirect::to("/dept/tasks?done=done").into_response()),
        Err(e) => {
            let failed = Failed::new(format!("task:{decision}"), &f, &e, "报告任务完成");
            render(&state, &s, &csrf, None, Some(failed)).await
        }
    }
}
