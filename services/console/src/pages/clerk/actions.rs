//! The clerk's two decisions on a case page: correcting the classification (intake's
//! `PATCH /v1/cases/{no}/classification`) and deciding on a proposed refusal of a repeat
//! (`POST /v1/cases/{no}/repeat`). Each needs a reason, which intake records with the clerk
//! the token names. Success redirects back with a banner; a refusal re-renders the page with
//! the field and rule and the clerk's input kept.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

use super::case::{Kept, view};
use super::{Fields, ROLES};
use crate::backend::{ApiFailure, Service, enc};
use crate::pages::PageError;
use crate::pages::case_no_ok;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

pub async fn reclassify(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    case_no_ok(&case_no)?;
    let f = Fields(pairs);
    let path = format!("/v1/cases/{}/classification", enc(&case_no));
    match state
        .backend
        .patch(
            Service::Intake,
            &path,
            Some(&s.token),
            &override_body(&f, &s),
        )
        .await
    {
        Ok(_) => Ok(back(&case_no, "reclassified")),
        Err(failure) => {
            let kept = Kept {
                form: "classification",
                classification: f.kept(),
                assisting: f.all("assisting"),
                ..Kept::default()
            };
            view(&state, &s, &csrf, &case_no, kept, None, Some(&failure)).await
        }
    }
}

pub async fn repeat(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Path(case_no): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    s.require(ROLES)?;
    case_no_ok(&case_no)?;
    let f = Fields(pairs);
    let decision = f.get("decision").trim().to_owned();
    let result = if ["confirm", "reject", "unlink"].contains(&decision.as_str()) {
        let body = json!({"decision": decision, "reason": f.get("reason")});
        let path = format!("/v1/cases/{}/repeat", enc(&case_no));
        state
            .backend
            .post(Service::Intake, &path, Some(&s.token), &body)
            .await
    } else {
        Err(ApiFailure {
            status: 422,
            code: "required".into(),
            message: "请选择：确认拒绝受理、不予确认或解除关联".into(),
            field: Some("decision".into()),
            ..Default::default()
        })
    };
    match result {
        Ok(_) => Ok(back(&case_no, &decision)),
        Err(failure) => {
            let kept = Kept {
                form: "repeat",
                repeat: f.kept(),
                ..Kept::default()
            };
            view(&state, &s, &csrf, &case_no, kept, None, Some(&failure)).await
        }
    }
}

fn back(case_no: &str, done: &str) -> Response {
    Redirect::to(&format!("/clerk/cases/{}?done={done}", enc(case_no))).into_response()
}

/// The override as intake takes it: a field the clerk left at “保持不变” is not sent (kept);
/// `none` clears branch, diversion or the accused's level.
fn override_body(f: &Fields, s: &Session) -> Value {
    let mut o = Map::new();
    for key in [
        "petition_type",
        "branch",
        "diversion",
        "accused_level",
        "department",
        "county",
    ] {
        if let Some(v) = f.opt(key) {
            o.insert(key.into(), v.into());
        }
    }
    match f.get("accuses_official") {
        "yes" => {
            o.insert("accuses_official".into(), true.into());
        }
        "no" => {
            o.insert("accuses_official".into(), false.into());
        }
        _ => {}
    }
    o.insert("assisting".into(), f.all("assisting").into());
    o.insert("by".into(), s.username.clone().into());
    o.insert("reason".into(), f.get("reason").into());
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::ConsoleRole;
    use xinfang_domain::county::CountyCode;

    #[test]
    fn only_what_the_clerk_changed_is_sent() {
        let s = Session {
            username: "clerk1".into(),
            display_name: "c".into(),
            role: ConsoleRole::Clerk,
            scope: CountyCode::parse("901200").unwrap(),
            department: None,
            token: String::new(),
            token_id: String::new(),
            csrf: String::new(),
        };
        let f = Fields(
            [
                ("petition_type", "grievance"),
                ("branch", ""),
                ("diversion", "none"),
                ("department", "rsj"),
                ("accuses_official", ""),
                ("assisting", "gaj"),
                ("reason", "实为劳动报酬争议"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let v = override_body(&f, &s);
        assert_eq!(v["petition_type"], "grievance");
        assert!(v.get("branch").is_none(), "kept");
        assert_eq!(v["diversion"], "none");
        assert!(v.get("accuses_official").is_none());
        assert_eq!(v["assisting"], json!(["gaj"]));
        assert_eq!(v["by"], "clerk1");
    }
}
