//! `GET /reviews/{no}`: one case's appeals as review holds them, with the organ's two acts:
//! a hearing of the 复核 (`POST /v1/reviews/{no}/hearing`; its days do not count in D10) and
//! the 复查/复核 decision (`POST /v1/reviews/{no}/decision`). Review records the signed-in
//! user's token as who acted. Success redirects back with a banner; a refusal re-renders the
//! page with the field and the rule, the user's input kept.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use serde::Deserialize;
use serde_json::{Value, json};
use xinfang_domain::classify::Departments;
use xinfang_domain::deadline::CST;
use xinfang_domain::petition::Rating;

use super::desk::acts_for;
use super::{ROLES, due_words, explain, level_zh, outcome_zh, today};
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::case_no_ok;
use crate::pages::template_value;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

/// The directory's departments, read once.
static DEPARTMENTS: LazyLock<Departments> = LazyLock::new(Departments::embedded);

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The banner after a redirect: fixed texts only, so a link cannot put words on the page.
fn banner(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "decision" => "决定已记录，并已通知相关单位。",
        "hearing_start" => "听证开始时间已记录，听证期间不计入复核期限。",
        "hearing_finish" => "听证结束时间已记录，复核期限恢复计算。",
        _ => return None,
    })
}

/// The form that failed and what was typed into it.
#[derive(Default)]
struct Kept {
    form: &'static str,
    fields: BTreeMap<String, String>,
}

pub async fn show(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    case_no_ok(&case_no)?;
    let flash = banner(q.done.as_deref());
    view(&state, &s, &csrf, &case_no, Kept::default(), flash, None).await
}

async fn view(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    case_no: &str,
    kept: Kept,
    flash: Option<&str>,
    failure: Option<&ApiFailure>,
) -> Result<Response, PageError> {
    let path = format!("/v1/reviews/{}", enc(case_no));
    let v = state
        .backend
        .get(Service::Review, &path, Some(&s.token))
        .await?;
    let county = v["county"].as_str().unwrap_or("");
    let round = v["round"].as_i64();
    let appeals: Vec<Value> = v["appeals"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| appeal_row(a, round, s, county))
        .collect();
    // What the forms offer: the open appeals this user acts for.
    let open: Vec<&Value> = appeals
        .iter()
        .filter(|a| a["open"] == true && a["mine"] == true)
        .collect();
    let levels: Vec<Value> = open
        .iter()
        .map(|a| json!({"value": a["level"], "zh": a["level_zh"]}))
        .collect();
    let rereview = open.iter().find(|a| a["level"] == "rereview");
    let others_open = appeals
        .iter()
        .any(|a| a["open"] == true && a["mine"] == false);
    let mut fields = kept.fields;
    fields
        .entry("served_on".into())
        .or_insert_with(|| today().to_string());
    // A refusal is told next to its form while the form is on the page, else at the top.
    let at_form = match kept.form {
        "decision" => !levels.is_empty(),
        "hearing" => rereview.is_some(),
        _ => false,
    };
    let message = failure.map(explain);
    let (form_error, error) = if at_form {
        (message, None)
    } else {
        (None, message)
    };
    let outcomes: Vec<Value> = ["uphold", "change", "revoke"]
        .iter()
        .map(|o| json!({"value": o, "zh": outcome_zh(o)}))
        .collect();
    let page = state.templates.page(
        "review_case.html",
        Some(s),
        csrf,
        template_value(&json!({
            "case_no": case_no,
            "case": facts(&v),
            "appeals": appeals,
            "levels": levels,
            "outcomes": outcomes,
            "hearing": rereview.map(|a| json!({"open": a["in_hearing"]})),
            "others_open": others_open,
            "form": kept.form,
            "kept": fields,
            "flash": flash,
            "error": error,
            "form_error": form_error,
        })),
    )?;
    Ok(page.into_response())
}

/// The case's facts as review holds them, in words.
fn facts(v: &Value) -> Value {
    let dept = v["department"].as_str().unwrap_or("");
    let dept_name = DEPARTMENTS
        .iter()
        .find(|d| d.code == dept)
        .map(|d| d.name.clone())
        .unwrap_or_else(|| dept.to_owned());
    let rating = |k: &str| {
        v["evaluation"][k].as_str().map(|r| {
            Rating::parse(r)
                .map(|r| r.zh().to_owned())
                .unwrap_or_else(|_| r.to_owned())
        })
    };
    json!({
        "held_here": v["held_here"],
        "county": v["county"],
        "department": dept_name,
        "is_handling_opinion": v["is_handling_opinion"],
        "served_on": v["served_on"],
        "final_without_appeal": v["final_without_appeal"],
        "terminated_at": v["terminated_at"],
        "round": v["round"],
        "remanded": v["remanded"].as_object().map(|r| json!({
            "at": r.get("at"),
            "level_zh": level_zh(r.get("level").and_then(Value::as_str).unwrap_or("")),
            "outcome_zh": outcome_zh(r.get("outcome").and_then(Value::as_str).unwrap_or("")),
            "awaiting": r.get("awaiting_new_opinion"),
        })),
        "termination": v["termination"].as_object().map(|t| json!({
            "organ": t.get("rereview_organ"),
            "outcome_zh": outcome_zh(t.get("outcome").and_then(Value::as_str).unwrap_or("")),
            "served_on": t.get("decision_served_on"),
            "at": t.get("terminated_at"),
        })),
        "evaluation": v["evaluation"].as_object().map(|_| json!({
            "bureau": rating("bureau"),
            "unit": rating("unit"),
            "reason": v["evaluation"]["reason"],
            "at": v["evaluation"]["evaluated_at"],
        })),
    })
}

fn appeal_row(a: &Value, round: Option<i64>, s: &Session, county: &str) -> Value {
    let level = a["level"].as_str().unwrap_or("");
    let open = a["outcome"].is_null() && a["round"].as_i64() == round;
    let (due, due_class) = due_words(a["decide_by"].as_str(), &format!("{}意见", level_zh(level)));
    let hearings = a["hearings"].as_array().cloned().unwrap_or_default();
    json!({
        "round": a["round"],
        "level": level,
        "level_zh": level_zh(level),
        "organ_name": a["organ_name"],
        "external": a["external"],
        "handled_here": a["handled_here"],
        "requested_at": a["requested_at"],
        "posted_on": a["posted_on"],
        "requested_by": match a["requested_by"].as_str() {
            Some("clerk") => "登记人员代为提出",
            Some("event") => "其他系统转来",
            _ => "信访人",
        },
        "grounds": a["grounds"],
        "outcome_zh": a["outcome"].as_str().map(outcome_zh),
        "decision_text": a["decision_text"],
        "decision_served_on": a["decision_served_on"],
        "decided_at": a["decided_at"],
        "decided_by": a["decided_by"],
        "due": open.then_some(due),
        "due_class": due_class,
        "provisional": a["provisional"],
        "hearings": hearings,
        "in_hearing": hearings.iter().any(|h| h["finished_at"].is_null()),
        "open": open,
        "mine": open && a["handled_here"] == true && acts_for(s, a, county),
    })
}

pub async fn decision(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    case_no_ok(&case_no)?;
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let served_on = NaiveDate::parse_from_str(get("served_on"), "%Y-%m-%d");
    let result = match served_on {
        Ok(day) => {
            let body = json!({
                "level": get("level"),
                "outcome": get("outcome"),
                "text": get("text"),
                "served_on": day,
            });
            let path = format!("/v1/reviews/{}/decision", enc(&case_no));
            state
                .backend
                .post(Service::Review, &path, Some(&s.token), &body)
                .await
        }
        Err(_) => Err(local(
            "served_on",
            "date",
            "请填写意见书送达信访人的日期（年-月-日）",
        )),
    };
    match result {
        Ok(_) => Ok(back(&case_no, "decision")),
        Err(failure) => {
            let kept = Kept {
                form: "decision",
                fields: keep(f),
            };
            view(&state, &s, &csrf, &case_no, kept, None, Some(&failure)).await
        }
    }
}

pub async fn hearing(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    case_no_ok(&case_no)?;
    let action = f.get("action").map(|v| v.trim()).unwrap_or("").to_owned();
    // `datetime-local` is Beijing time without a zone; blank means now.
    let at = match f.get("at").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|t| CST.from_local_datetime(&t).single())
            .map(|t| Some(t.to_utc()))
            .ok_or_else(|| {
                local(
                    "at",
                    "datetime",
                    "请填写听证时间（年-月-日 时:分），或留空表示现在",
                )
            }),
    };
    let result = match at {
        Ok(at) => {
            let mut body = json!({"action": action});
            if let Some(at) = at {
                body["at"] = json!(at);
            }
            let path = format!("/v1/reviews/{}/hearing", enc(&case_no));
            state
                .backend
                .post(Service::Review, &path, Some(&s.token), &body)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) if action == "start" => Ok(back(&case_no, "hearing_start")),
        Ok(_) => Ok(back(&case_no, "hearing_finish")),
        Err(failure) => {
            let kept = Kept {
                form: "hearing",
                fields: keep(f),
            };
            view(&state, &s, &csrf, &case_no, kept, None, Some(&failure)).await
        }
    }
}

fn keep(mut f: BTreeMap<String, String>) -> BTreeMap<String, String> {
    f.remove("_csrf");
    f
}

/// A field the page checks before asking review (review would only see a malformed body).
fn local(field: &str, rule: &str, message: &str) -> ApiFailure {
    ApiFailure {
        status: 422,
        code: rule.to_owned(),
        message: message.to_owned(),
        field: Some(field.to_owned()),
        ..Default::default()
    }
}

fn back(case_no: &str, done: &str) -> Response {
    Redirect::to(&format!("/reviews/{}?done={done}", enc(case_no))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_are_fixed_texts() {
        assert!(banner(Some("decision")).is_some());
        assert!(banner(Some("<script>")).is_none());
        assert!(banner(None).is_none());
    }
}
