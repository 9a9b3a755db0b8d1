//! `GET /clerk/cases/{case_no}`: the case as intake shows it to the clerk — status, the
//! proposed classification and why, the repeat link with both petitions side by side — with
//! the forms to correct the classification and to decide on a proposed refusal
//! ([`super::actions`]). `GET …/receipt`: the printable 登记回执.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use serde_json::{Value, json};
use xinfang_domain::petition::{Art31Branch, CadreLevel, Diversion, PetitionType};

use super::{ROLES, department_names, department_options, explain};
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::case_no_ok;
use crate::pages::template_value;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

/// What the clerk typed into the case page's forms, kept when an action is refused.
#[derive(Default)]
pub(super) struct Kept {
    /// The form that was refused: `classification` or `repeat`.
    pub form: &'static str,
    pub classification: BTreeMap<String, String>,
    pub assisting: Vec<String>,
    pub repeat: BTreeMap<String, String>,
}

pub async fn show(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    case_no_ok(&case_no)?;
    // The flash is one of a fixed set of messages: nothing from the URL reaches the page.
    let flash = q.get("done").and_then(|d| done_message(d));
    view(&state, &s, &csrf, &case_no, Kept::default(), flash, None).await
}

/// The banner after an action that succeeded.
fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "registered" => "已登记。请打印登记回执（含查询码）交信访人。",
        "reclassified" => "分类已更正，已记录更正理由并通知分流。",
        "confirm" => "已确认拒绝受理（重复信访），将按规定告知信访人。",
        "reject" => "已不予确认拟议的拒绝受理，本件按新的信访事项办理。",
        "unlink" => "已解除重复件关联，本件按新的信访事项办理。",
        _ => return None,
    })
}

fn disposition_zh(raw: &str) -> &str {
    match raw {
        "merged" => "并入办理中的原案",
        "not_accepted" => "不予受理（第十九条第三款：原案正在有权机关办理期限内）",
        "not_reaccepted" => "不再受理（第三十六条第三款：原案已复核终结）",
        "related" => "与原案相关，单独办理",
        other => other,
    }
}

/// `[{value, zh}]` for a `<select>`.
fn options<T: Copy>(all: &[T], wire: fn(T) -> &'static str, zh: fn(T) -> &'static str) -> Value {
    all.iter()
        .map(|v| json!({"value": wire(*v), "zh": zh(*v)}))
        .collect()
}

/// Renders the case page; `failure` is a refused action, shown with its field and rule above
/// the forms that keep the clerk's input.
pub(super) async fn view(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    case_no: &str,
    kept: Kept,
    flash: Option<&str>,
    failure: Option<&ApiFailure>,
) -> Result<Response, PageError> {
    let path = format!("/v1/cases/{}", enc(case_no));
    let case = state
        .backend
        .get(Service::Intake, &path, Some(&s.token))
        .await?;
    // The earlier petition, to compare the two texts; the clerk may lack access to it (another
    // county's case) and still decides on this one.
    let (earlier, earlier_error) = match case["repeat_of"].as_str() {
        Some(of) => {
            let p = format!("/v1/cases/{}", enc(of));
            match state.backend.get(Service::Intake, &p, Some(&s.token)).await {
                Ok(v) => (Some(v), None),
                Err(f) => (None, Some(explain(&f))),
            }
        }
        None => (None, None),
    };
    // Why routing holds the case, if it does; a case routing has not seen yet has no view.
    let routing = state
        .backend
        .get(Service::Routing, &path, Some(&s.token))
        .await
        .ok();
    let reasons: Vec<String> = match &case["reasons"] {
        Value::Array(items) => items
            .iter()
            .map(|r| {
                r.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| r.to_string())
            })
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    };
    let failed_form = failure.map(|_| kept.form);
    let status = failure
        .and_then(|f| StatusCode::from_u16(f.status).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::OK);
    let page = state.templates.page(
        "clerk_case.html",
        Some(s),
        csrf,
        context! {
            case => template_value(&case),
            reasons => reasons,
            disposition_zh => case["repeat_disposition"].as_str().map(disposition_zh),
            earlier => earlier.as_ref().map(template_value),
            earlier_error => earlier_error,
            held_zh => routing
                .as_ref()
                .and_then(|r| r["held_reason"].as_str())
                .map(super::triage::held_zh),
            routing => routing.as_ref().map(template_value),
            departments => department_names(),
            department_options => template_value(&department_options()),
            types => template_value(&options(PetitionType::ALL, PetitionType::as_str, PetitionType::zh)),
            branches => template_value(&options(Art31Branch::ALL, Art31Branch::as_str, Art31Branch::zh)),
            diversions => template_value(&options(Diversion::ALL, Diversion::as_str, Diversion::zh)),
            levels => template_value(&options(CadreLevel::ALL, CadreLevel::as_str, CadreLevel::zh)),
            cls => kept.classification,
            assisting => kept.assisting,
            rep => kept.repeat,
            flash => flash,
            error => failure.map(explain),
            failed_form => failed_form,
        },
    )?;
    Ok((status, page).into_response())
}

pub async fn receipt(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    headers: HeaderMap,
    Path(case_no): Path<String>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    case_no_ok(&case_no)?;
    // Intake shows the 查询码 to the case's clerks, so the receipt can be printed again later;
    // it is never put in a URL.
    let case = state
        .backend
        .get(
            Service::Intake,
            &format!("/v1/cases/{}", enc(&case_no)),
            Some(&s.token),
        )
        .await?;
    // Where the petitioner queries: this console's /q, as the clerk's browser reached it.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .map(str::to_owned);
    Ok(state
        .templates
        .page(
            "clerk_receipt.html",
            Some(&s),
            &csrf,
            context! { case => template_value(&case), host => host },
        )?
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flashes_are_a_fixed_set() {
        assert!(done_message("registered").is_some());
        assert!(done_message("<script>").is_none());
        assert!(disposition_zh("not_accepted").contains("第十九条"));
        assert_eq!(disposition_zh("odd"), "odd");
    }
}
