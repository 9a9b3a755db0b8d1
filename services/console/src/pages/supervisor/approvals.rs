//! `GET /approvals`: what waits for the petition bureau — transfer requests (routing's
//! `transfer`, decided by `transfer_decision`) and completion reports (`report`, checked by
//! `check`). No API lists either directly: reports are the cases intake lists in state
//! `pending_superior_check`; a transfer request leaves the case's state alone, so it is read
//! from routing's case view (a `transfer` done and no `transfer_decision` after it) of the
//! cases still forwarded or assigned.
//!
//! Routing lets only the bureau's own department principal (`xfj`) or an operator send those
//! decisions; a supervisor's token is refused. So supervisors see the list, and operators,
//! acting for the bureau, get the forms (`POST /approvals/{case_no}/{action}`).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use xinfang_domain::classify::Departments;

use super::cases;
use crate::backend::{Service, enc};
use crate::pages::PageError;
use crate::pages::template_value;
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;
use xinfang_domain::case_no::is_case_no;

/// The bureau's department code in the shipped directory (its `[roles] petition_bureau`).
fn bureau() -> String {
    Departments::embedded()
        .code_of("信访局")
        .unwrap_or("xfj")
        .to_owned()
}

fn dept_name(code: &str) -> String {
    Departments::embedded()
        .name_of(code)
        .map(str::to_owned)
        .unwrap_or_else(|| code.to_owned())
}

#[derive(Debug, Default, Deserialize)]
pub struct ApprovalsQuery {
    done: Option<String>,
}

#[derive(Debug, Serialize)]
struct Waiting {
    case_no: String,
    county: String,
    petition_type: String,
    /// Who asked (the requesting or reporting department), in Chinese.
    by: String,
    /// When it was asked, where known.
    at: Option<String>,
    /// The decision that just failed here: its values.
    failed: Option<HashMap<String, String>>,
    /// One per form: routing answers a repeated id with its first answer.
    request_id: String,
}

pub async fn approvals(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<ApprovalsQuery>,
) -> Result<Response, PageError> {
    s.require(&[ConsoleRole::Supervisor, ConsoleRole::Operator])?;
    let flash = match q.done.as_deref() {
        Some("transfer_decision") => Some("已作出转办决定。"),
        Some("check") => Some("已完成办结审核。"),
        _ => None,
    };
    render(&state, &s, &csrf, flash, None).await
}

/// The action of routing behind `raw`, and its decision field.
fn decision_of(raw: &str) -> Option<(&'static str, &'static str)> {
    match raw {
        "transfer_decision" => Some(("transfer_decision", "decision")),
        "check" => Some(("check", "result")),
        _ => None,
    }
}

pub async fn decide(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path((case_no, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    s.require(&[ConsoleRole::Supervisor, ConsoleRole::Operator])?;
    if s.role != ConsoleRole::Operator {
        return Err(PageError::Forbidden(
            "转办审批和办结审核由信访部门作出；业务服务只接受信访局账号或运维人员的决定，督查督办账号不能提交".into(),
        ));
    }
    let Some((action, field)) = decision_of(&action) else {
        return Err(PageError::NotFound("没有这项审批".into()));
    };
    if !is_case_no(&case_no) {
        return Err(PageError::NotFound("没有这个案件编号".into()));
    }
    let get = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let request_id = uuid::Uuid::parse_str(&get("request_id"))
        .unwrap_or_else(|_| uuid::Uuid::now_v7())
        .to_string();
    let mut body = json!({
        "request_id": request_id,
        "department": bureau(),
        field: get(field),
        "by": s.display_name.chars().take(200).collect::<String>(),
    });
    let reason = get("reason");
    if !reason.is_empty() || action == "transfer_decision" {
        body["reason"] = json!(reason);
    }
    let path = format!("/v1/cases/{}/actions/{action}", enc(&case_no));
    match state
        .backend
        .post(Service::Routing, &path, Some(&s.token), &body)
        .await
    {
        Ok(_) => {
            tracing::info!(case_no = %case_no, action, "bureau decision sent");
            Ok(Redirect::to(&format!("/approvals?done={action}")).into_response())
        }
        Err(f) if matches!(f.status, 403 | 404) => Err(f.into()),
        Err(f) => {
            let label = match f.field.as_deref() {
                Some("decision") => "转办决定（decision）",
                Some("result") => "审核结果（result）",
                Some("reason") => "理由（reason）",
                _ => "",
            };
            let message = if label.is_empty() {
                format!("未提交成功：{}", f.line())
            } else {
                format!("未提交成功：{label}：{}", f.message)
            };
            let mut kept = form;
            kept.insert("case_no".into(), case_no);
            kept.insert("action".into(), action.into());
            let mut page = render(&state, &s, &csrf, None, Some((kept, message))).await?;
            *page.status_mut() = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
            Ok(page)
        }
    }
}

/// The transfer request waiting in routing's case view: a `transfer` done with no
/// `transfer_decision` done after it. Gives the requesting department and when.
fn pending_transfer(view: &Json) -> Option<(String, Option<String>)> {
    let mut pending = None;
    for a in view["actions"].as_array()? {
        if a["outcome"] != "done" {
            continue;
        }
        match a["action"].as_str() {
            Some("transfer") => {
                pending = Some((
                    a["department"].as_str().unwrap_or_default().to_owned(),
                    a["at"].as_str().map(str::to_owned),
                ))
            }
            Some("transfer_decision") => pending = None,
            _ => {}
        }
    }
    pending
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    flash: Option<&str>,
    failed: Option<(HashMap<String, String>, String)>,
) -> Result<Response, PageError> {
    let (reports, forwarded, assigned) = tokio::join!(
        cases(state, &s.token, "state=pending_superior_check"),
        cases(state, &s.token, "state=forwarded"),
        cases(state, &s.token, "state=assigned"),
    );
    let (reports, forwarded, assigned) = (reports?, forwarded?, assigned?);
    let kept = |no: &str, action: &str| {
        failed
            .as_ref()
            .map(|(v, _)| v)
            .filter(|v| v.get("case_no").map(String::as_str) == Some(no))
            .filter(|v| v.get("action").map(String::as_str) == Some(action))
            .cloned()
    };
    let base = |c: &Json| {
        (
            c["case_no"].as_str().unwrap_or_default().to_owned(),
            c["county"].as_str().unwrap_or_default().to_owned(),
            c["petition_type"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let reports: Vec<Waiting> = reports
        .iter()
        .map(|c| {
            let (case_no, county, petition_type) = base(c);
            Waiting {
                by: dept_name(c["current_department"].as_str().unwrap_or_default()),
                at: None,
                failed: kept(&case_no, "check"),
                request_id: uuid::Uuid::now_v7().to_string(),
                case_no,
                county,
                petition_type,
            }
        })
        .collect();
    let token = s.token.as_str();
    let views: Vec<(Json, Option<Json>)> =
        futures::stream::iter(forwarded.into_iter().chain(assigned))
            .map(|c| async move {
                let path = format!(
                    "/v1/cases/{}",
                    enc(c["case_no"].as_str().unwrap_or_default())
                );
                let v = state
                    .backend
                    .get(Service::Routing, &path, Some(token))
                    .await
                    .ok();
                (c, v)
            })
            .buffer_unordered(8)
            .collect()
            .await;
    let mut transfers: Vec<Waiting> = views
        .iter()
        .filter_map(|(c, v)| {
            let (dept, at) = pending_transfer(v.as_ref()?)?;
            let (case_no, county, petition_type) = base(c);
            Some(Waiting {
                by: dept_name(&dept),
                at,
                failed: kept(&case_no, "transfer_decision"),
                request_id: uuid::Uuid::now_v7().to_string(),
                case_no,
                county,
                petition_type,
            })
        })
        .collect();
    transfers.sort_by(|a, b| a.at.cmp(&b.at));
    let error = failed.map(|(_, m)| m);
    let page = state.templates.page(
        "approvals.html",
        Some(s),
        csrf,
        context! {
            flash => flash,
            error => error,
            transfers => template_value(&transfers),
            reports => template_value(&reports),
            may_decide => s.role == ConsoleRole::Operator,
            bureau => dept_name(&bureau()),
        },
    )?;
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_waits_until_the_bureau_decides() {
        let v = json!({"actions": [
            {"action": "transfer", "outcome": "refused", "department": "rsj", "at": "t0"},
            {"action": "transfer", "outcome": "done", "department": "rsj", "at": "t1"}
        ]});
        assert_eq!(
            pending_transfer(&v),
            Some(("rsj".into(), Some("t1".into())))
        );
        let decided = json!({"actions": [
            {"action": "transfer", "outcome": "done", "department": "rsj", "at": "t1"},
            {"action": "transfer_decision", "outcome": "done", "department": "xfj", "at": "t2"}
        ]});
        assert_eq!(pending_transfer(&decided), None);
        assert_eq!(bureau(), "xfj");
        assert!(decision_of("objection_decision").is_none());
    }
}
