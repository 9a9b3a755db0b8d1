//! `GET /clerk` and `POST /clerk`: registering a petition (Art 19, 21–22) through intake's
//! `POST /v1/petitions`. Intake validates; a refusal re-renders the form with everything the
//! clerk typed and the error at the field it names.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use minijinja::context;

use serde_json::{Value, json};
use xinfang_domain::deadline::CST;
use xinfang_domain::petition::Channel;

use super::{Fields, ROLES, department_options, explain};
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::template_value;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

/// The `datetime-local` format (Beijing time, as the clerk reads the clock).
const LOCAL_MINUTE: &str = "%Y-%m-%dT%H:%M";

pub async fn form(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    let mut kept = BTreeMap::new();
    // A county clerk registers for the county; a city clerk must say which organ registers.
    if !s.scope.is_city() {
        kept.insert("county".to_owned(), s.scope.to_string());
    }
    kept.insert("received_at".to_owned(), now_local());
    render(&state, &s, &csrf, kept, None, StatusCode::OK)
}

pub async fn submit(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    let f = Fields(pairs);
    let result = match request(&f, &s, Utc::now()) {
        Ok(body) => {
            state
                .backend
                .post(Service::Intake, "/v1/petitions", Some(&s.token), &body)
                .await
        }
        Err(local) => Err(local),
    };
    match result {
        Ok(receipt) => match receipt["case_no"].as_str() {
            Some(no) => Ok(
                Redirect::to(&format!("/clerk/cases/{}?done=registered", enc(no))).into_response(),
            ),
            None => {
                tracing::error!(
                    "intake registered a petition without a case number in its receipt"
                );
                Err(PageError::Internal)
            }
        },
        Err(failure) => {
            let mut kept = f.kept();
            // Left blank means "now" (as `request` reads it): show the time that would be used.
            if kept.get("received_at").is_none_or(|v| v.trim().is_empty()) {
                kept.insert("received_at".to_owned(), now_local());
            }
            let status = StatusCode::from_u16(failure.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            render(&state, &s, &csrf, kept, Some(&failure), status)
        }
    }
}

fn now_local() -> String {
    Utc::now()
        .with_timezone(&CST)
        .format(LOCAL_MINUTE)
        .to_string()
}

fn render(
    state: &AppState,
    s: &Session,
    csrf: &CsrfToken,
    kept: BTreeMap<String, String>,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let channels: Value = Channel::ALL
        .iter()
        .map(|c| json!({"value": c.as_str(), "zh": c.zh()}))
        .collect();
    let mut errors = BTreeMap::new();
    if let Some(f) = failure {
        let input = f.field.as_deref().map(input_of).unwrap_or("");
        if !input.is_empty() {
            errors.insert(input, f.message.clone());
        }
    }
    let page = state.templates.page(
        "clerk_register.html",
        Some(s),
        csrf,
        context! {
            form => kept,
            channels => template_value(&channels),
            sources => template_value(&state.sources.all()),
            departments => template_value(&department_options()),
            errors => errors,
            error => failure.map(explain),
            city_clerk => s.scope.is_city(),
            scope => s.scope.to_string(),
        },
    )?;
    Ok((status, page).into_response())
}

/// The form's input that an API field path points at.
fn input_of(field: &str) -> &'static str {
    match field {
        "petitioner.name" | "petitioner" => "name",
        "petitioner.id_number" => "id_number",
        "petitioner.mobile" => "mobile",
        "petitioner.email" => "email",
        "petitioner.address" => "address",
        _ => match field.split(['[', '.']).next().unwrap_or("") {
            "channel" => "channel",
            "co_petitioners" => "co_petitioners",
            "representatives" => "representatives",
            "group_size" => "group_size",
            "text" => "text",
            "county" => "county",
            "received_at" => "received_at",
            "received_by" => "received_by",
            "source" => "source",
            _ => "",
        },
    }
}

fn local(field: &str, rule: &str, message: &str) -> ApiFailure {
    ApiFailure {
        status: 422,
        code: rule.to_owned(),
        message: message.to_owned(),
        field: Some(field.to_owned()),
        ..Default::default()
    }
}

/// The `RegistrationInput` for intake. Only what the form cannot express is checked here (the
/// time's format, a number, a city clerk's choice of organ); intake checks everything else.
fn request(f: &Fields, s: &Session, now: DateTime<Utc>) -> Result<Value, ApiFailure> {
    let received_at = match f.opt("received_at") {
        None => now,
        Some(raw) => NaiveDateTime::parse_from_str(&raw, LOCAL_MINUTE)
            .or_else(|_| NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M:%S"))
            .ok()
            .and_then(|t| CST.from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| local("received_at", "format", "须为“年-月-日T时:分”（北京时间）"))?,
    };
    let county = match f.opt("county") {
        Some(c) => c,
        None if s.scope.is_city() => {
            return Err(local(
                "county",
                "required",
                "市级登记人员须填写登记机关的行政区划代码（本市信访局填市级代码）",
            ));
        }
        None => s.scope.to_string(),
    };
    let group_size = match f.opt("group_size") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u32>()
                .map_err(|_| local("group_size", "range", "须为 1 至 100000 的整数"))?,
        ),
    };
    Ok(json!({
        "channel": f.get("channel").trim(),
        "petitioner": {
            "name": f.get("name").trim(),
            "id_number": f.opt("id_number"),
            "mobile": f.opt("mobile"),
            "email": f.opt("email"),
            "address": f.opt("address"),
        },
        "co_petitioners": people(f.get("co_petitioners")),
        "group_size": group_size,
        "representatives": people(f.get("representatives")),
        "text": f.get("text"),
        "county": county,
        "received_at": received_at,
        // The signed-in user registers: never a name the form could claim.
        "clerk_id": s.username,
        "urgent": !f.get("urgent").is_empty(),
        "received_by": f.opt("received_by"),
        "source": f.opt("source"),
    }))
}

/// One person a line: the name, then optionally a mobile number after a space.
fn people(raw: &str) -> Vec<Value> {
    raw.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (last, rest) = words.split_last()?;
            let phone_like = !rest.is_empty()
                && last.len() >= 5
                && last
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '+' || c == '-');
            Some(if phone_like {
                json!({"name": rest.join(" "), "mobile": last})
            } else {
                json!({"name": words.join(" ")})
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::ConsoleRole;
    use xinfang_domain::county::CountyCode;

    fn session(scope: &str) -> Session {
        Session {
            username: "clerk1".into(),
            display_name: "c".into(),
            role: ConsoleRole::Clerk,
            scope: CountyCode::parse(scope).unwrap(),
            department: None,
            token: String::new(),
            token_id: String::new(),
            csrf: String::new(),
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_form_becomes_intakes_request() {
        let now = Utc::now();
        let f = fields(&[
            ("channel", "visit"),
            ("name", "张三"),
            ("id_number", " 11010519491231002X "),
            ("mobile", ""),
            ("received_at", "2026-03-02T09:30"),
            ("representatives", "李四 13800138000\n\n王 五\n"),
            ("text", "拖欠工资"),
            ("urgent", "on"),
            ("source", "provincial_joint"),
        ]);
        let v = request(&f, &session("901201"), now).unwrap();
        assert_eq!(v["source"], "provincial_joint");
        assert_eq!(v["county"], "901201");
        assert_eq!(v["clerk_id"], "clerk1");
        assert_eq!(v["petitioner"]["id_number"], "11010519491231002X");
        assert!(v["petitioner"]["mobile"].is_null());
        assert_eq!(v["received_at"], "2026-03-02T01:30:00Z");
        assert_eq!(v["urgent"], true);
        assert_eq!(
            v["representatives"][0],
            json!({"name": "李四", "mobile": "13800138000"})
        );
        assert_eq!(v["representatives"][1], json!({"name": "王 五"}));
        // A city clerk must name the registering organ.
        let e = request(&f, &session("901200"), now).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("county"));
        let bad = fields(&[("received_at", "yesterday")]);
        assert_eq!(
            request(&bad, &session("901201"), now)
                .unwrap_err()
                .field
                .as_deref(),
            Some("received_at")
        );
        assert_eq!(input_of("petitioner.id_number"), "id_number");
        assert_eq!(input_of("co_petitioners[1].mobile"), "co_petitioners");
    }
}
