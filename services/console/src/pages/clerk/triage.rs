//! `GET /clerk/triage`: the cases routing holds for a clerk — a classification too uncertain
//! to route (when `routing.hold_for_triage` is on) and refusals of repeats awaiting a clerk's
//! confirmation (Decisions 7). Intake lists the registered cases not yet sent anywhere; routing's
//! case view says which of them it holds and why (it shows no text or personal data, so reading
//! it records no access to personal data).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use minijinja::context;

use serde_json::{Value, json};

use super::ROLES;
use crate::backend::{Service, enc};
use crate::pages::PageError;
use crate::pages::template_value;
use crate::session::{CsrfToken, Staff};
use crate::state::AppState;

/// Registered cases looked at per page load (intake's largest page by default).
const LOOK_AT: usize = 200;
/// Routing views fetched at once.
const PARALLEL: usize = 8;

/// What a clerk is asked to do about a held case, from routing's hold reason.
fn kind_of(held: &str) -> (&'static str, &'static str) {
    if held.starts_with("awaiting a clerk's confirmation") {
        ("repeat", "确认或驳回拟议的拒绝受理（重复信访）")
    } else if held.starts_with("classification needs triage") {
        ("triage", "人工分类（分类置信度低）")
    } else if held.starts_with("merged into") {
        ("merged", "已并入办理中的原案（如非同一事项可解除关联）")
    } else {
        ("held", "暂缓分流")
    }
}

/// Routing's hold reason as the clerk reads it: what to do, or the reason itself if it is not
/// one this page knows.
pub(super) fn held_zh(held: &str) -> String {
    match kind_of(held) {
        ("held", _) => held.to_owned(),
        (_, todo) => todo.to_owned(),
    }
}

pub async fn queue(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    let list = state
        .backend
        .get(
            Service::Intake,
            &format!("/v1/cases?state=registered&per_page={LOOK_AT}"),
            Some(&s.token),
        )
        .await?;
    let items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    let total = list["total"].as_u64().unwrap_or(items.len() as u64);
    let paths: Vec<String> = items
        .iter()
        .map(|it| format!("/v1/cases/{}", enc(it["case_no"].as_str().unwrap_or(""))))
        .collect();
    let backend = &state.backend;
    let token = s.token.as_str();
    let views: Vec<Option<Value>> = futures::stream::iter(paths)
        .map(|path| async move { backend.get(Service::Routing, &path, Some(token)).await.ok() })
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut rows = Vec::new();
    let mut in_flight = 0;
    for (item, view) in items.iter().zip(views) {
        let held = view.as_ref().and_then(|v| v["held_reason"].as_str());
        match held {
            Some(reason) => {
                let (kind, todo) = kind_of(reason);
                rows.push(json!({
                    "case_no": item["case_no"], "county": item["county"],
                    "petition_type": item["petition_type"], "registered_at": item["registered_at"],
                    "overdue": item["overdue"], "kind": kind, "todo": todo, "reason": reason,
                }));
            }
            // Not yet decided by routing (it is seconds behind registration).
            None => in_flight += 1,
        }
    }
    // What needs a decision first: proposed refusals, then triage, then the rest; oldest first.
    let rank = |k: &str| match k {
        "repeat" => 0,
        "triage" => 1,
        "held" => 2,
        _ => 3,
    };
    rows.sort_by(|a, b| {
        (
            rank(a["kind"].as_str().unwrap_or("")),
            a["registered_at"].as_str(),
        )
            .cmp(&(
                rank(b["kind"].as_str().unwrap_or("")),
                b["registered_at"].as_str(),
            ))
    });
    Ok(state
        .templates
        .page(
            "clerk_triage.html",
            Some(&s),
            &csrf,
            context! {
                live => true,
                rows => template_value(&Value::Array(rows)),
                in_flight => in_flight,
                truncated => total > items.len() as u64,
                looked_at => items.len(),
            },
        )?
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_hold_reasons_name_the_clerks_task() {
        assert_eq!(
            kind_of("awaiting a clerk's confirmation of the proposed refusal (不予受理, Art 19 para 3): repeat of XF-1").0,
            "repeat"
        );
        assert_eq!(
            kind_of("classification needs triage: awaiting a clerk's reclassification").0,
            "triage"
        );
        assert_eq!(
            kind_of("merged into open case XF-1; that case carries it").0,
            "merged"
        );
        assert_eq!(kind_of("something new").0, "held");
        assert_eq!(held_zh("something new"), "something new");
        assert_eq!(
            held_zh("classification needs triage: awaiting a clerk's reclassification"),
            "人工分类（分类置信度低）"
        );
    }
}
