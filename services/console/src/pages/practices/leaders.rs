//! `/leaders`: the bureau's leaders (`GET /v1/leaders`), their reception days (领导接访日,
//! `GET /v1/reception-days`) with the lawyers and counsellors taking part and the cases
//! received there, and per leader the cases they own (领导包案, `GET /v1/leaders/{id}/cases`)
//! with their open deadlines counted down. Supervisors and operators put a leader on the
//! roster, schedule a reception day, record a case received and make a leader own a case;
//! a leader reads.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};

use super::form::{self, Failed};
use crate::backend::{ApiFailure, enc};
use crate::pages::department::deadlines::{countdown, kind_zh};
use crate::pages::{Fields, PageError, template_value};
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

const READERS: [ConsoleRole; 3] = [
    ConsoleRole::Supervisor,
    ConsoleRole::Leader,
    ConsoleRole::Operator,
];

const WRITERS: [ConsoleRole; 2] = [ConsoleRole::Supervisor, ConsoleRole::Operator];

const DONE: [(&str, &str); 4] = [
    ("leader", "领导名册已更新。"),
    ("owned", "已确定包案领导。"),
    ("day", "领导接访日已安排。"),
    ("received", "已记录接访案件。"),
];

#[derive(Debug, Default, Deserialize)]
pub struct LeadersQuery {
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<LeadersQuery>,
) -> Result<Response, PageError> {
    s.require(&READERS)?;
    let flash = form::flash(q.done.as_deref(), &DONE);
    render(&state, &s, &csrf, flash, None).await
}

/// One owned case's open clocks, counted down.
fn clocks(deadlines: &Value, now: DateTime<Utc>) -> Vec<Value> {
    deadlines
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            let due = DateTime::parse_from_rfc3339(d["due_at"].as_str()?).ok()?;
            let (_, class, words) = countdown(due.with_timezone(&Utc), now);
            let kind = d["kind"].as_str().unwrap_or_default();
            Some(json!({"kind_zh": kind_zh(kind), "class": class, "countdown": words,
                "due_at": d["due_at"], "department": d["department"].as_str().map(form::dept_name)}))
        })
        .collect()
}

/// A leader's cases (包案) with their clocks, or why they cannot be read.
async fn owned(state: &AppState, s: &Session, id: &str) -> Result<Vec<Value>, ApiFailure> {
    let v = form::get(state, s, &format!("/v1/leaders/{}/cases", enc(id))).await?;
    let now = Utc::now();
    Ok(v["cases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c["clocks"] = json!(clocks(&c["deadlines"], now));
            c["dept_name"] = json!(c["department"].as_str().map(form::dept_name));
            c
        })
        .collect())
}

/// The roster's leaders, each with the cases they own.
async fn leaders(state: &AppState, s: &Session) -> Result<Vec<Value>, ApiFailure> {
    let list = form::get(state, s, "/v1/leaders").await?["leaders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let with_cases = futures::stream::iter(list)
        .map(|mut l| async move {
            let id = l["id"].as_str().unwrap_or_default().to_owned();
            match owned(state, s, &id).await {
                Ok(cases) => l["cases"] = json!(cases),
                Err(e) => l["cases_error"] = json!(form::explain(&e)),
            }
            l
        })
        .buffered(6)
        .collect()
        .await;
    Ok(with_cases)
}

/// Reception days with their form ids and failed values.
fn days_view(v: &Value, failed: Option<&Failed>) -> Vec<Value> {
    let mut days = v["reception_days"].as_array().cloned().unwrap_or_default();
    for (i, d) in days.iter_mut().enumerate() {
        let form_key = format!("receive:{}", d["id"].as_str().unwrap_or_default());
        d["idx"] = json!(i + 1);
        d["failed"] = json!(Failed::values_for(failed, &form_key));
    }
    days
}

async fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    flash: Option<&str>,
    failed: Option<Failed>,
) -> Result<Response, PageError> {
    let (leaders, days, advisers) = tokio::join!(
        leaders(state, s),
        form::get(state, s, "/v1/reception-days"),
        form::get(state, s, "/v1/advisers?active=true"),
    );
    let leaders = leaders?;
    let days = days_view(&days?, failed.as_ref());
    let advisers = advisers.unwrap_or_default()["advisers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kept = |form: &str| Failed::values_for(failed.as_ref(), form);
    let status = Failed::status(failed.as_ref());
    let page = state.templates.page(
        "leaders.html",
        Some(s),
        csrf,
        context! {
            flash => flash,
            error => failed.as_ref().map(|f| f.message.clone()),
            leaders => template_value(&leaders),
            days => template_value(&days),
            advisers => template_value(&advisers),
            counties => form::counties(state, s),
            scope => s.scope.to_string(),
            may_write => WRITERS.contains(&s.role),
            failed_leader => kept("leader"),
            failed_own => kept("own"),
            failed_day => kept("day"),
            default_at => format!("{}T09:00", form::day_from_today(7)),
        },
    )?;
    Ok((status, page).into_response())
}

/// Sends a form; on success back with `done`, else the page with the form kept.
async fn submit(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    (path, body): (String, Value),
    (form_key, f, what): (String, Fields, &str),
    done: &str,
) -> Result<Response, PageError> {
    match form::send(state, s, &path, &body).await? {
        Ok(_) => Ok(Redirect::to(&format!("/leaders?done={done}")).into_response()),
        Err(e) => {
            let failed = Failed::new(form_key, &f, &e, what);
            render(state, s, csrf, None, Some(failed)).await
        }
    }
}

/// The form's leader, checked before it goes into a path.
fn leader_id(f: &Fields) -> Result<String, ApiFailure> {
    form::slug(Some(f.get("leader"))).ok_or_else(|| ApiFailure {
        status: 422,
        code: "required".into(),
        message: "请选择名册中的领导".into(),
        field: Some("leader".into()),
        ..Default::default()
    })
}

pub async fn upsert(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &WRITERS, "领导名册")?;
    let f = Fields(pairs);
    let mut body = json!({
        "id": f.get("id").trim(),
        "name": f.get("name").trim(),
        "title": f.get("title").trim(),
    });
    if let Some(c) = f.opt("county") {
        body["county"] = json!(c);
    }
    let call = ("/v1/leaders".to_owned(), body);
    submit(
        &state,
        &s,
        &csrf,
        call,
        ("leader".into(), f, "更新领导名册"),
        "leader",
    )
    .await
}

pub async fn own_case(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &WRITERS, "领导包案")?;
    let f = Fields(pairs);
    let leader = match leader_id(&f) {
        Ok(l) => l,
        Err(e) => {
            let failed = Failed::new("own", &f, &e, "确定包案领导");
            return render(&state, &s, &csrf, None, Some(failed)).await;
        }
    };
    let body = json!({"case_no": f.get("case_no").trim()});
    let call = (format!("/v1/leaders/{}/cases", enc(&leader)), body);
    submit(
        &state,
        &s,
        &csrf,
        call,
        ("own".into(), f, "确定包案领导"),
        "owned",
    )
    .await
}

pub async fn schedule_day(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &WRITERS, "领导接访日")?;
    let f = Fields(pairs);
    let body = json!({
        "leader": f.get("leader").trim(),
        "at": form::local_time(f.get("at")),
        "place": f.get("place").trim(),
        "advisers": f.all("adviser"),
    });
    let call = ("/v1/reception-days".to_owned(), body);
    submit(
        &state,
        &s,
        &csrf,
        call,
        ("day".into(), f, "安排领导接访日"),
        "day",
    )
    .await
}

pub async fn receive_case(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    form::may_write(&s, &WRITERS, "领导接访日")?;
    let id =
        uuid::Uuid::parse_str(&id).map_err(|_| PageError::NotFound("没有这个接访日".into()))?;
    let f = Fields(pairs);
    let body = json!({"case_no": f.get("case_no").trim()});
    let call = (format!("/v1/reception-days/{id}/cases"), body);
    let form_key = format!("receive:{id}");
    submit(
        &state,
        &s,
        &csrf,
        call,
        (form_key, f, "记录接访案件"),
        "received",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_cases_count_their_clocks_down() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = clocks(
            &json!([{"kind": "task", "department": "rsj", "due_at": "2026-12-01T00:00:00Z", "state": "fired"},
                    {"kind": "D5", "department": null, "due_at": "2026-12-30T00:00:00Z", "state": "pending"}]),
            now,
        );
        assert_eq!(c[0]["kind_zh"], "会审交办任务");
        assert_eq!(c[0]["class"], "due-late");
        assert_eq!(c[0]["department"], "人社局");
        assert_eq!(c[1]["class"], "due-ok");
        let days = days_view(&json!({"reception_days": [{"id": "d1"}]}), None);
        assert_eq!(days[0]["idx"], 1);
        assert!(leader_id(&Fields(vec![("leader".into(), "../x".into())])).is_err());
    }
}
