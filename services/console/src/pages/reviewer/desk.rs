//! `GET /reviews`: the 复查/复核 requests waiting for a decision in the user's scope, the most
//! urgent first. Review has no list of appeals, so the cases come from intake's registry
//! (`state=review_requested|rereview_requested`, within the token's scope) and each one's
//! open appeal, organ and D8/D10 due time from review's `GET /v1/reviews/{no}`.

use axum::extract::State;
use axum::response::Html;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{ROLES, due_words, level_zh};
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::template_value;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

/// Cases read per state: a desk of more than this many open requests shows the first ones.
const PER_STATE: usize = 200;
/// Review calls in flight at once.
const PARALLEL: usize = 8;

pub async fn desk(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    s.require(ROLES)?;
    let mut cases = Vec::new();
    let mut more = false;
    for status in ["review_requested", "rereview_requested"] {
        let path = format!("/v1/cases?state={status}&per_page={PER_STATE}");
        let v = state
            .backend
            .get(Service::Intake, &path, Some(&s.token))
            .await?;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        more |= v["total"].as_u64().unwrap_or(0) > items.len() as u64;
        cases.extend(
            items
                .iter()
                .filter_map(|i| i["case_no"].as_str().map(str::to_owned)),
        );
    }
    let details: Vec<(String, Result<Value, ApiFailure>)> = futures::stream::iter(cases)
        .map(|no| {
            let state = &state;
            let token = s.token.clone();
            async move {
                let path = format!("/v1/reviews/{}", enc(&no));
                let r = state
                    .backend
                    .get(Service::Review, &path, Some(&token))
                    .await;
                (no, r)
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for (no, r) in details {
        match r {
            Ok(v) => rows.extend(open_appeals(&v, &s)),
            // Review has not learnt of the request yet, or the case is outside its reach:
            // listed so nobody thinks it vanished.
            Err(f) => unreadable.push(json!({"case_no": no, "why": f.line()})),
        }
    }
    rows.sort_by(|a, b| {
        let due = |r: &Value| r["decide_by"].as_str().map(str::to_owned);
        // Unknown due dates last.
        (due(a).is_none(), due(a)).cmp(&(due(b).is_none(), due(b)))
    });
    state.templates.page(
        "reviews.html",
        Some(&s),
        &csrf,
        template_value(&json!({
            "live": true,
            "rows": rows,
            "unreadable": unreadable,
            "more": more,
            "per_state": PER_STATE,
        })),
    )
}

/// The undecided appeals of the current round, as table rows.
fn open_appeals(v: &Value, s: &Session) -> Vec<Value> {
    let round = v["round"].as_i64();
    let county = v["county"].as_str().unwrap_or("");
    v["appeals"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|a| a["outcome"].is_null() && a["round"].as_i64() == round)
        .map(|a| {
            let level = a["level"].as_str().unwrap_or("");
            let (due, due_class) = due_words(a["decide_by"].as_str(), &format!("{}意见", level_zh(level)));
            let in_hearing = a["hearings"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| h["finished_at"].is_null()));
            json!({
                "case_no": v["case_no"],
                "level_zh": level_zh(level),
                "organ_name": a["organ_name"],
                "requested_at": a["requested_at"],
                "requested_by": if a["requested_by"] == "clerk" { "登记人员代为提出" } else { "信访人" },
                "decide_by": a["decide_by"],
                "due": due,
                "due_class": due_class,
                "in_hearing": in_hearing,
                "mine": acts_for(s, a, county),
            })
        })
        .collect()
}

/// Whether the user acts for the organ an appeal is addressed to (review's rule,
/// `access::act_for_review_organ`: a reviewer for its own county's organs; an external organ's
/// decision is recorded in the case's county; an operator in scope). Only a hint on the page:
/// review decides.
pub(super) fn acts_for(s: &Session, appeal: &Value, case_county: &str) -> bool {
    if s.role == crate::role::ConsoleRole::Operator {
        return true;
    }
    let organ_county = if appeal["external"] == true {
        case_county
    } else {
        appeal["organ"]
            .as_str()
            .and_then(|o| o.split(':').next())
            .unwrap_or("")
    };
    organ_county == s.scope.as_str()
}
