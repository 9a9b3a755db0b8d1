//! `/advisers`: lawyers and psychological counsellors (律师、心理咨询师参与信访工作) — the roster
//! (`GET /v1/advisers`; add with `POST /v1/advisers`, take off or put back with
//! `POST /v1/advisers/{id}`), their assignment to a case or a reception day
//! (`POST /v1/advisers/{id}/assignments`) and their written advice on a case
//! (`POST /v1/advice`, read with `GET /v1/advice?case_no=`). Supervisors and operators.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use xinfang_domain::practices::AdviserKind;

use super::form::{self, Failed};
use crate::backend::{ApiFailure, enc};
use crate::pages::{Fields, PageError, template_value};
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

const ROLES: [ConsoleRole; 2] = [ConsoleRole::Supervisor, ConsoleRole::Operator];

const DONE: [(&str, &str); 5] = [
    ("added", "已加入名册。"),
    ("deactivated", "已移出名册（记录保留）。"),
    ("activated", "已重新列入名册。"),
    ("assigned", "已安排参与。"),
    ("advice", "书面意见已记录。"),
];

#[derive(Debug, Default, Deserialize)]
pub struct AdvisersQuery {
    case_no: Option<String>,
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<AdvisersQuery>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let asked = q
        .case_no
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let flash = form::flash(q.done.as_deref(), &DONE);
    render(&state, &s, &csrf, asked, flash, None).await
}

/// The advice on the asked case, or why it cannot be read.
async fn advice_of(
    state: &AppState,
    s: &Session,
    case_no: Option<&str>,
) -> Result<Vec<Value>, String> {
    let Some(c) = case_no else {
        return Ok(Vec::new());
    };
    match form::get(state, s, &format!("/v1/advice?case_no={}", enc(c))).await {
        Ok(v) => Ok(v["advice"].as_array().cloned().unwrap_or_default()),
        Err(e) => Err(format!("{c}：{}", form::explain(&e))),
    }
}

/// The reception days of the coming weeks, `[(id, label)]`, for the assignment form.
fn day_options(v: &Value) -> Vec<(String, String)> {
    v["reception_days"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            let at = crate::words::cst_time(d["at"].as_str()?);
            let label = format!(
                "{at} {}（{}）",
                d["leader_name"].as_str()?,
                d["place"].as_str()?
            );
            Some((d["id"].as_str()?.to_owned(), label))
        })
        .collect()
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    asked: Option<String>,
    flash: Option<&str>,
    failed: Option<Failed>,
) -> Result<Response, PageError> {
    let (roster, days, advice) = tokio::join!(
        form::get(state, s, "/v1/advisers"),
        form::get(state, s, "/v1/reception-days"),
        advice_of(state, s, asked.as_deref()),
    );
    let mut advisers = roster?["advisers"].as_array().cloned().unwrap_or_default();
    for (i, a) in advisers.iter_mut().enumerate() {
        let kind = a["kind"].as_str().unwrap_or_default();
        a["kind_zh"] = json!(AdviserKind::parse("kind", kind).map_or(kind, |k| k.zh()));
        a["idx"] = json!(i + 1);
    }
    let (advice, lookup_error) = match advice {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let kinds: Vec<(&str, &str)> = AdviserKind::ALL
        .iter()
        .map(|k| (k.code(), k.zh()))
        .collect();
    let kept = |form: &str| Failed::values_for(failed.as_ref(), form);
    let status = Failed::status(failed.as_ref());
    let page = state.templates.page(
        "advisers.html",
        Some(s),
        csrf,
        context! {
            flash => flash,
            error => failed.as_ref().map(|f| f.message.clone()).or(lookup_error),
            advisers => template_value(&advisers),
            days => day_options(&days.unwrap_or_default()),
            advice => template_value(&advice),
            asked => asked,
            kinds => kinds,
            counties => form::counties(state, s),
            scope => s.scope.to_string(),
            failed_add => kept("add"),
            failed_assign => kept("assign"),
            failed_advice => kept("advice"),
        },
    )?;
    Ok((status, page).into_response())
}

/// Sends a form; on success to `to`, else the page again with the form kept.
async fn submit(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    (path, body): (String, Value),
    (form_key, f, what): (&str, Fields, &str),
    to: String,
) -> Result<Response, PageError> {
    match form::send(state, s, &path, &body).await? {
        Ok(_) => Ok(Redirect::to(&to).into_response()),
        Err(e) => {
            let asked = f.opt("case_no");
            let failed = Failed::new(form_key, &f, &e, what);
            render(state, s, csrf, asked, None, Some(failed)).await
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let f = Fields(pairs);
    let mut body = json!({
        "kind": f.get("kind").trim(),
        "name": f.get("name").trim(),
        "organisation": f.get("organisation").trim(),
    });
    for key in ["speciality", "county"] {
        if let Some(v) = f.opt(key) {
            body[key] = json!(v);
        }
    }
    let call = ("/v1/advisers".to_owned(), body);
    submit(
        &state,
        &s,
        &csrf,
        call,
        ("add", f, "加入名册"),
        "/advisers?done=added".into(),
    )
    .await
}

pub async fn set_active(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let id =
        uuid::Uuid::parse_str(&id).map_err(|_| PageError::NotFound("名册中没有此人".into()))?;
    let f = Fields(pairs);
    let active = f.get("active") == "true";
    let done = if active { "activated" } else { "deactivated" };
    let call = (format!("/v1/advisers/{id}"), json!({"active": active}));
    let to = format!("/advisers?done={done}");
    submit(&state, &s, &csrf, call, ("active", f, "修改名册"), to).await
}

/// A form's adviser id, checked before it goes into a path.
fn adviser_id(f: &Fields) -> Result<uuid::Uuid, ApiFailure> {
    uuid::Uuid::parse_str(f.get("adviser").trim()).map_err(|_| ApiFailure {
        status: 422,
        code: "required".into(),
        message: "请选择名册中的律师或心理咨询师".into(),
        field: Some("adviser".into()),
        ..Default::default()
    })
}

pub async fn assign(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let f = Fields(pairs);
    let id = match adviser_id(&f) {
        Ok(id) => id,
        Err(e) => {
            let failed = Failed::new("assign", &f, &e, "安排参与");
            return render(&state, &s, &csrf, None, None, Some(failed)).await;
        }
    };
    let mut body = json!({});
    for key in ["case_no", "reception_day"] {
        if let Some(v) = f.opt(key) {
            body[key] = json!(v);
        }
    }
    let call = (format!("/v1/advisers/{id}/assignments"), body);
    let to = "/advisers?done=assigned".to_owned();
    submit(&state, &s, &csrf, call, ("assign", f, "安排参与"), to).await
}

fn advice_body(f: &Fields) -> Value {
    json!({
        "case_no": f.get("case_no").trim(),
        "adviser": f.get("adviser").trim(),
        "text": f.get("text").trim(),
    })
}

pub async fn advice(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let f = Fields(pairs);
    let body = advice_body(&f);
    let to = format!(
        "/advisers?case_no={}&done=advice",
        enc(f.get("case_no").trim())
    );
    let call = ("/v1/advice".to_owned(), body);
    submit(&state, &s, &csrf, call, ("advice", f, "记录书面意见"), to).await
}
