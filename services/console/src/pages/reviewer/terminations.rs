//! `GET /terminations`: the 终结库 (Art 36 para 3) — the cases in the user's scope that ended
//! with a 复核 (intake's registry, `state=terminated`), and the entries of one petitioner,
//! looked up by ID number (review's `POST /v1/terminations/search`: the number travels in the
//! body and review records who looked and why) or by the petitioner key of the events
//! (`GET /v1/terminations?petitioner_key=`). Both lookups are POST forms here, so neither the
//! number nor the key lands in a URL or a log.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::State;
use axum::response::Html;
use serde_json::{Value, json};

use super::{ROLES, explain, outcome_zh};
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::template_value;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

/// Terminated cases listed on the page (newest first).
const LISTED: usize = 100;

pub async fn page(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    s.require(ROLES)?;
    render(&state, &s, &csrf, BTreeMap::new(), None, None).await
}

pub async fn search(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(mut f): Form<BTreeMap<String, String>>,
) -> Result<Html<String>, PageError> {
    s.require(ROLES)?;
    f.remove("_csrf");
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("").to_owned();
    let result = if get("by") == "key" {
        let path = format!(
            "/v1/terminations?petitioner_key={}",
            enc(&get("petitioner_key"))
        );
        state
            .backend
            .get(Service::Review, &path, Some(&s.token))
            .await
    } else {
        let mut body = json!({"id_number": get("id_number")});
        if !get("reason").is_empty() {
            body["reason"] = json!(get("reason"));
        }
        state
            .backend
            .post(
                Service::Review,
                "/v1/terminations/search",
                Some(&s.token),
                &body,
            )
            .await
    };
    match result {
        Ok(v) => {
            // Found: the number has done its work and is not shown again.
            f.remove("id_number");
            let entries = v["terminations"]
                .as_array()
                .map(|t| t.iter().map(entry).collect::<Vec<_>>())
                .unwrap_or_default();
            render(&state, &s, &csrf, f, Some(entries), None).await
        }
        Err(failure) => render(&state, &s, &csrf, f, None, Some(&failure)).await,
    }
}

fn entry(t: &Value) -> Value {
    json!({
        "case_no": t["case_no"],
        "home_county": t["home_county"],
        "organ": t["rereview_organ"],
        "outcome_zh": t["outcome"].as_str().map(outcome_zh),
        "served_on": t["decision_served_on"],
        "terminated_at": t["terminated_at"],
    })
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    kept: BTreeMap<String, String>,
    found: Option<Vec<Value>>,
    failure: Option<&ApiFailure>,
) -> Result<Html<String>, PageError> {
    let path = format!("/v1/cases?state=terminated&per_page={LISTED}");
    let listed = state
        .backend
        .get(Service::Intake, &path, Some(&s.token))
        .await?;
    state.templates.page(
        "terminations.html",
        Some(s),
        csrf,
        template_value(&json!({
            "cases": listed["items"],
            "total": listed["total"],
            "found": found,
            "kept": kept,
            "error": failure.map(explain),
        })),
    )
}
