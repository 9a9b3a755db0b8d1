//! The petitioner's pages (no sign-in; made for a phone): `/q` asks for the query code
//! (查询码) and the ID number and shows the case's status, public timeline and deadlines in
//! plain Chinese; from there the petitioner asks for 复查/复核 (review's `POST /v1/reviews`,
//! which checks the ID number against the one registered) and rates the handling (`POST
//! /v1/evaluations`). Every step is a POST form re-sending the code and the ID number as
//! hidden fields, so neither ever appears in a URL, a redirect or the console's logs; pages
//! are `no-store`. The CSRF token is the anonymous double-submit cookie.
//!
//! Intake's query needs only the code and returns nothing personal, and no API checks an ID
//! number without filing something: the number is checked here for its form and by review
//! when it acts on it (a wrong one is refused there and counts toward the code's lockout).

mod public;
mod status;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::{get, post};
use reqwest::Method;
use serde_json::{Value, json};
use xinfang_domain::validation::IdNumber;

use super::PageError;
use crate::backend::Service;
use crate::pages::template_value;
use crate::session::CsrfToken;
use crate::state::AppState;
use public::Refusal;

/// The characters intake draws query codes from (no 0/O, 1/I/L).
const QUERY_ALPHABET: &str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/q", get(form).post(look))
        .route("/q/review", post(request_review))
        .route("/q/evaluate", post(evaluate))
}

/// One petitioner request: the form as sent and where it came from.
struct Visit {
    fields: BTreeMap<String, String>,
    forwarded: String,
}

impl Visit {
    fn new(peer: SocketAddr, headers: &HeaderMap, mut fields: BTreeMap<String, String>) -> Self {
        fields.remove("_csrf");
        Self {
            fields,
            forwarded: public::forwarded_for(peer, headers),
        }
    }

    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(|v| v.trim()).unwrap_or("")
    }

    /// The code as printed, forgiving spaces and lower case.
    fn code(&self) -> String {
        self.get("query_code")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase()
    }

    fn id_number(&self) -> String {
        self.get("id_number").to_ascii_uppercase()
    }

    async fn call(
        &self,
        state: &AppState,
        method: Method,
        service: Service,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        public::call(state, &self.forwarded, method, service, path, body).await
    }
}

pub async fn form(
    State(state): State<AppState>,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    ask(&state, &csrf, "", "", None)
}

/// The form again, with what was typed and why it did not work.
fn ask(
    state: &AppState,
    csrf: &CsrfToken,
    code: &str,
    id: &str,
    error: Option<String>,
) -> Result<Html<String>, PageError> {
    state.templates.page(
        "query.html",
        None,
        csrf,
        template_value(&json!({"query_code": code, "id_number": id, "error": error})),
    )
}

/// The code and the ID number, checked for their form before any service is asked.
fn checked(v: &Visit) -> Result<(String, String), String> {
    let code = v.code();
    if code.len() != 8 || !code.chars().all(|c| QUERY_ALPHABET.contains(c)) {
        return Err("查询码应为登记回执上的8位字母和数字，请核对后重新输入。".into());
    }
    let id = v.id_number();
    if let Err(e) = IdNumber::parse(&id, status::today()) {
        let why = match e.rule {
            "length" => "应为18位",
            "format" => "应为17位数字加1位数字或字母X",
            "region" => "前两位不是有效的省级行政区划代码",
            "birth_date" => "其中的出生日期不正确",
            "checksum" => "最后一位校验码不正确",
            _ => "格式不正确",
        };
        return Err(format!("身份证号码{why}，请核对后重新输入。"));
    }
    Ok((code, id))
}

pub async fn look(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    csrf: CsrfToken,
    Form(f): Form<BTreeMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let v = Visit::new(peer, &headers, f);
    let (code, id) = match checked(&v) {
        Ok(ok) => ok,
        Err(why) => return ask(&state, &csrf, &v.code(), &v.id_number(), Some(why)),
    };
    show(&state, &csrf, &v, &code, &id, Outcome::default()).await
}

/// What the last form did, for the status page.
#[derive(Default)]
struct Outcome {
    flash: Option<String>,
    error: Option<String>,
    /// Which form failed (`review`, `evaluate`), to keep its input.
    form: &'static str,
}

/// The status page; if the code is refused, the form again with the reason.
async fn show(
    state: &AppState,
    csrf: &CsrfToken,
    v: &Visit,
    code: &str,
    id: &str,
    o: Outcome,
) -> Result<Html<String>, PageError> {
    let q = match v
        .call(
            state,
            Method::GET,
            Service::Intake,
            &format!("/v1/query/{code}"),
            None,
        )
        .await
    {
        Ok(q) => q,
        Err(r) => return ask(state, csrf, code, id, Some(r.words())),
    };
    let mut kept = v.fields.clone();
    kept.remove("query_code");
    kept.remove("id_number");
    let case = status::view(&q, status::today());
    // A refusal is told next to its form; if the form is gone (say, the window closed), at the top.
    let at_form = match o.form {
        "review" => !case["next"].is_null(),
        "evaluate" => case["can_evaluate"] == true,
        _ => false,
    };
    let (form_error, error) = if at_form {
        (o.error, None)
    } else {
        (None, o.error)
    };
    state.templates.page(
        "query_case.html",
        None,
        csrf,
        template_value(&json!({
            "case": case,
            "query_code": code,
            "id_number": id,
            "flash": o.flash,
            "error": error,
            "form_error": form_error,
            "form": o.form,
            "kept": kept,
        })),
    )
}

pub async fn request_review(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    csrf: CsrfToken,
    Form(f): Form<BTreeMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let v = Visit::new(peer, &headers, f);
    let (code, id) = match checked(&v) {
        Ok(ok) => ok,
        Err(why) => return ask(&state, &csrf, &v.code(), &v.id_number(), Some(why)),
    };
    let mut body = json!({"query_code": code, "id_number": id});
    for k in ["level", "grounds"] {
        if !v.get(k).is_empty() {
            body[k] = json!(v.get(k));
        }
    }
    let o = match v
        .call(
            &state,
            Method::POST,
            Service::Review,
            "/v1/reviews",
            Some(&body),
        )
        .await
    {
        Ok(r) => Outcome {
            flash: Some(requested_words(&r)),
            ..Outcome::default()
        },
        Err(r) => Outcome {
            error: Some(r.words()),
            form: "review",
            ..Outcome::default()
        },
    };
    show(&state, &csrf, &v, &code, &id, o).await
}

/// The receipt of a request in words: to whom, and by when they must decide (D8/D10).
fn requested_words(r: &Value) -> String {
    let level = if r["level"] == "rereview" {
        "复核"
    } else {
        "复查"
    };
    let organ = r["organ_name"].as_str().unwrap_or("上一级机关");
    let mut s = format!("您的{level}申请已提交给{organ}。");
    if let Some(day) = r["decide_by"].as_str().and_then(status::cst_day) {
        s += &format!("{organ}应于{}前作出{level}意见", status::zh_date(day));
        s += if r["provisional"] == true {
            "（日期为暂定，以节假日安排公布后为准）。"
        } else {
            "。"
        };
    }
    s
}

pub async fn evaluate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    csrf: CsrfToken,
    Form(f): Form<BTreeMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let v = Visit::new(peer, &headers, f);
    let (code, id) = match checked(&v) {
        Ok(ok) => ok,
        Err(why) => return ask(&state, &csrf, &v.code(), &v.id_number(), Some(why)),
    };
    let mut body = json!({"query_code": code, "bureau": v.get("bureau"), "unit": v.get("unit")});
    if !v.get("reason").is_empty() {
        body["reason"] = json!(v.get("reason"));
    }
    let o = match v
        .call(
            &state,
            Method::POST,
            Service::Review,
            "/v1/evaluations",
            Some(&body),
        )
        .await
    {
        Ok(_) => Outcome {
            flash: Some("感谢您的评价，评价结果已记录。".into()),
            ..Outcome::default()
        },
        Err(r) => Outcome {
            error: Some(r.words()),
            form: "evaluate",
            ..Outcome::default()
        },
    };
    show(&state, &csrf, &v, &code, &id, o).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(code: &str, id: &str) -> Visit {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let fields = BTreeMap::from([
            ("query_code".to_owned(), code.to_owned()),
            ("id_number".to_owned(), id.to_owned()),
            ("_csrf".to_owned(), "t".to_owned()),
        ]);
        Visit::new(peer, &HeaderMap::new(), fields)
    }

    #[test]
    fn codes_and_id_numbers_are_checked_for_their_form() {
        assert!(!visit("x", "").fields.contains_key("_csrf"));
        assert_eq!(
            checked(&visit(" abcd 2345 ", "11010519491231002x")),
            Ok(("ABCD2345".to_owned(), "11010519491231002X".to_owned()))
        );
        assert!(
            checked(&visit("ABCD234O", "11010519491231002X"))
                .unwrap_err()
                .contains("查询码")
        );
        assert!(
            checked(&visit("ABCD2345", "110105194912310021"))
                .unwrap_err()
                .contains("身份证号码")
        );
        assert!(
            checked(&visit("ABCD2345", "1101"))
                .unwrap_err()
                .contains("18位")
        );
    }

    #[test]
    fn a_receipt_tells_the_organ_and_the_day() {
        let r = json!({"level": "review", "organ_name": "测试县人民政府",
            "decide_by": "2026-12-20T23:59:59+08:00", "provisional": false});
        assert_eq!(
            requested_words(&r),
            "您的复查申请已提交给测试县人民政府。测试县人民政府应于2026年12月20日前作出复查意见。"
        );
    }
}
