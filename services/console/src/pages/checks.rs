//! `POST /check/{field}`: the registration rules a clerk's form checks as they type (the same
//! functions the API validates with). Answers `{"ok": bool, "message": "…"}`; the value is
//! sent in the body, never in the URL, and is not logged.

use axum::extract::Path;
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use xinfang_domain::validation::{IdNumber, Mobile};

#[derive(Deserialize)]
pub struct Check {
    value: String,
}

pub async fn check(Path(field): Path<String>, Form(c): Form<Check>) -> Json<Value> {
    let today = xinfang_domain::deadline::cst_date(
        chrono::Utc::now().with_timezone(&xinfang_domain::deadline::CST),
    );
    let r = match field.as_str() {
        "id_number" => IdNumber::parse(c.value.trim(), today).map(|_| ()),
        "mobile" => Mobile::parse(c.value.trim()).map(|_| ()),
        _ => return Json(json!({"ok": false, "message": "未知的检查项"})),
    };
    Json(match r {
        Ok(()) => json!({"ok": true, "message": ""}),
        Err(e) => json!({"ok": false, "message": e.message}),
    })
}
