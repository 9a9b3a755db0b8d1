//! `GET /dept/cases/{case_no}`: the case as intake shows it to this department (the API
//! withholds an informant where the law says so), its deadlines and 督办, and routing's
//! department actions as forms. `POST /dept/cases/{case_no}/actions/{name}` forwards a form
//! as the JSON body routing expects, then sends the browser back with a flash, or shows the
//! page again with routing's refusal (field and rule) and the input kept.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::Value as Json;

use super::actions::{self, ActionView};
use super::deadlines;
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::template_value;
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    /// The action just done (a name of [`actions::ACTIONS`]), for the flash.
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    s.require(&[ConsoleRole::Department, ConsoleRole::Operator])?;
    if !xinfang_domain::case_no::is_case_no(&case_no) {
        return Err(PageError::NotFound("没有这个案件编号".into()));
    }
    let flash = q
        .done
        .as_deref()
        .and_then(actions::find)
        .map(|a| format!("已提交：{}。", a.title));
    render(&state, &s, &csrf, &case_no, flash, None).await
}

pub async fn act(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path((case_no, name)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    // An operator looks; the unit itself acts (routing would want the unit named anyway).
    s.require(&[ConsoleRole::Department])?;
    let Some(def) = actions::find(&name) else {
        return Err(PageError::NotFound("没有这项办理操作".into()));
    };
    if !xinfang_domain::case_no::is_case_no(&case_no) {
        return Err(PageError::NotFound("没有这个案件编号".into()));
    }
    let body = actions::body(def, &form);
    let path = format!("/v1/cases/{}/actions/{}", enc(&case_no), def.name);
    match state
        .backend
        .post(Service::Routing, &path, Some(&s.token), &body)
        .await
    {
        Ok(_) => {
            tracing::info!(case_no = %case_no, action = def.name, "department action sent");
            Ok(
                Redirect::to(&format!("/dept/cases/{}?done={}", enc(&case_no), def.name))
                    .into_response(),
            )
        }
        Err(f) if matches!(f.status, 403 | 404) => Err(f.into()),
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let failed = Failed {
                action: def.name,
                message: format!("{}未成功：{}", def.title, explain(def.name, &f)),
                values: form,
            };
            let mut page = render(&state, &s, &csrf, &case_no, None, Some(failed)).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

/// A refusal in the page's words: the field's label and code, then routing's rule.
fn explain(action: &str, f: &ApiFailure) -> String {
    match &f.field {
        Some(field) => match actions::field_label(action, field) {
            Some(label) => format!("{label}（{field}）：{}", f.message),
            None => f.line(),
        },
        None => f.line(),
    }
}

/// The form that failed, to show again.
struct Failed {
    action: &'static str,
    message: String,
    values: HashMap<String, String>,
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    case_no: &str,
    flash: Option<String>,
    failed: Option<Failed>,
) -> Result<Response, PageError> {
    let no = enc(case_no);
    let token = Some(s.token.as_str());
    let b = &state.backend;
    let intake_path = format!("/v1/cases/{no}");
    let routing_path = format!("/v1/cases/{no}");
    let deadlines_path = format!("/v1/deadlines?case_no={no}");
    let supervisions_path = format!("/v1/supervisions?case_no={no}");
    let (case, routing, clocks, supervisions) = tokio::join!(
        b.get(Service::Intake, &intake_path, token),
        b.get(Service::Routing, &routing_path, token),
        b.get(Service::Supervision, &deadlines_path, token),
        b.get(Service::Supervision, &supervisions_path, token),
    );
    // Intake decides who may see the case (another department: 403).
    let case = case?;
    let routing = routing.ok();
    let clocks = clocks.map(|v| deadlines::running(&v, chrono::Utc::now()));
    let clocks_known = clocks.is_ok();
    let clocks = clocks.unwrap_or_default();
    let supervisions = supervisions
        .ok()
        .and_then(|v| v["supervisions"].as_array().cloned())
        .unwrap_or_default();

    let mine = routing.as_ref().and_then(|r| own_assignment(r, s));
    let assisting = mine.as_ref().is_some_and(|a| a["role"] == "assisting");
    let object_by = clocks
        .iter()
        .find(|c| c.kind == "D4")
        .map(|c| c.due_date.clone());
    let state_wire = routing.as_ref().and_then(|r| r["state"].as_str());
    let forms: Vec<ActionView> = if s.role == ConsoleRole::Department {
        actions::views(
            state_wire,
            assisting,
            s.department.as_deref(),
            &super::today(),
            object_by.as_deref(),
            failed.as_ref().map(|f| (f.action, &f.values)),
        )
    } else {
        Vec::new()
    };
    let (suggested, others): (Vec<ActionView>, Vec<ActionView>) =
        forms.into_iter().partition(|a| a.suggested || a.open);
    let page = state.templates.page(
        "dept_case.html",
        Some(s),
        csrf,
        context! {
            live => true,
            flash => flash,
            error => failed.as_ref().map(|f| f.message.clone()),
            case => template_value(&case),
            routing => routing.as_ref().map(template_value::<Json>),
            mine => mine.as_ref().map(template_value::<Json>),
            clocks => template_value(&clocks),
            clocks_known => clocks_known,
            supervisions => template_value(&supervisions),
            suggested => template_value(&suggested),
            others => template_value(&others),
            may_act => s.role == ConsoleRole::Department,
        },
    )?;
    Ok(page.into_response())
}

/// This department's assignment in routing's view (`organ` is `<county>:<dept>`).
fn own_assignment(routing: &Json, s: &Session) -> Option<Json> {
    let dept = s.department.as_deref()?;
    let organ = format!("{}:{dept}", s.scope);
    routing["assignments"]
        .as_array()?
        .iter()
        .rev()
        .find(|a| a["organ"].as_str() == Some(organ.as_str()))
        .cloned()
}
