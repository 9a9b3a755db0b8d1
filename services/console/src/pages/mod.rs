//! Server-rendered pages (minijinja templates compiled into the binary, in Chinese). Every form
//! works without JavaScript; `static/console.js` adds checks as you type and live updates.

pub mod checks;
pub mod clerk;
pub mod department;
pub mod petitioner;
pub mod practices;
pub mod reviewer;
pub mod sign_in;
pub mod supervisor;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

use crate::backend::ApiFailure;
use crate::session::{CsrfToken, Session};

/// Every template, compiled in (a deployment carries no template files).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    (
        "clerk_register.html",
        include_str!("../../templates/clerk_register.html"),
    ),
    (
        "clerk_case.html",
        include_str!("../../templates/clerk_case.html"),
    ),
    (
        "clerk_receipt.html",
        include_str!("../../templates/clerk_receipt.html"),
    ),
    (
        "clerk_triage.html",
        include_str!("../../templates/clerk_triage.html"),
    ),
    (
        "dept_inbox.html",
        include_str!("../../templates/dept_inbox.html"),
    ),
    (
        "dept_case.html",
        include_str!("../../templates/dept_case.html"),
    ),
    ("board.html", include_str!("../../templates/board.html")),
    ("kpi.html", include_str!("../../templates/kpi.html")),
    ("compare.html", include_str!("../../templates/compare.html")),
    (
        "approvals.html",
        include_str!("../../templates/approvals.html"),
    ),
    ("reviews.html", include_str!("../../templates/reviews.html")),
    (
        "review_case.html",
        include_str!("../../templates/review_case.html"),
    ),
    ("query.html", include_str!("../../templates/query.html")),
    (
        "query_case.html",
        include_str!("../../templates/query_case.html"),
    ),
    (
        "terminations.html",
        include_str!("../../templates/terminations.html"),
    ),
    ("listed.html", include_str!("../../templates/listed.html")),
    ("weekly.html", include_str!("../../templates/weekly.html")),
    (
        "conferences.html",
        include_str!("../../templates/conferences.html"),
    ),
    (
        "advisers.html",
        include_str!("../../templates/advisers.html"),
    ),
    ("leaders.html", include_str!("../../templates/leaders.html")),
    (
        "dept_tasks.html",
        include_str!("../../templates/dept_tasks.html"),
    ),
];

/// A case number as intake writes it; anything else is not looked up, so it never reaches a
/// service URL.
pub(crate) fn case_no_ok(raw: &str) -> Result<(), PageError> {
    if xinfang_domain::case_no::is_case_no(raw) {
        Ok(())
    } else {
        Err(PageError::NotFound(format!("没有编号为 {raw} 的案件")))
    }
}

/// A submitted form, every pair as sent: repeated keys (a multiple select) stay apart, and
/// the whole form can be handed back to the template to keep the user's input.
pub(crate) struct Fields(pub(crate) Vec<(String, String)>);

impl Fields {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Trimmed, `None` when blank.
    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The first value of each field (the CSRF token left out), for re-rendering.
    pub(crate) fn kept(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (k, v) in &self.0 {
            if k != "_csrf" {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        m
    }
}

/// Any serializable value (a service's JSON, a row) as a template value.
pub(crate) fn template_value<T: serde::Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

#[derive(Clone)]
pub struct Templates(Arc<Environment<'static>>);

impl Templates {
    /// Compiles every template; a broken one stops the start with its name and line.
    /// `names` puts the directory's names on codes (`county`, `organ` filters).
    pub fn load(names: crate::names::Names) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .map_err(|e| anyhow::anyhow!("console template {name}: {e}"))?;
        }
        env.add_filter("status_zh", crate::words::status_zh);
        env.add_filter("type_zh", crate::words::petition_type_zh);
        env.add_filter("art31_item", crate::words::art31_item);
        env.add_filter("channel_zh", crate::words::channel_zh);
        env.add_filter("kind_zh", crate::words::deadline_kind_zh);
        env.add_filter("cst", crate::words::cst_time);
        env.add_filter("dept", practices::form::dept_name);
        env.add_filter("clock_zh", department::deadlines::kind_zh);
        let n = names.clone();
        env.add_filter("county", move |code: &str| n.county(code));
        env.add_filter("organ", move |organ: &str| names.organ(organ));
        Ok(Self(Arc::new(env)))
    }

    /// Renders `name` with `ctx` plus what every page has: the user (if any), the CSRF token.
    pub fn page(
        &self,
        name: &str,
        session: Option<&Session>,
        csrf: &CsrfToken,
        ctx: Value,
    ) -> Result<Html<String>, PageError> {
        let user = session.map(|s| {
            context! {
                name => s.display_name.clone(),
                role => s.role.as_str(),
                role_title => s.role.title(),
                scope => s.scope.as_str(),
                department => s.department.clone(),
            }
        });
        let full = context! { user => user, csrf => csrf.0.clone(), ..ctx };
        self.0
            .get_template(name)
            .and_then(|t| t.render(full))
            .map(Html)
            .map_err(|e| {
                tracing::error!(template = name, error = %e, "page rendering failed");
                PageError::Internal
            })
    }
}

/// What a page handler can fail with; each renders a page in Chinese.
#[derive(Debug)]
pub enum PageError {
    /// 403: the user's role or scope does not cover this.
    Forbidden(String),
    NotFound(String),
    /// The service said no (its message is shown as given).
    Api(ApiFailure),
    Internal,
}

impl From<ApiFailure> for PageError {
    fn from(f: ApiFailure) -> Self {
        match f.status {
            403 => PageError::Forbidden(f.message),
            404 => PageError::NotFound(f.message),
            _ => PageError::Api(f),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "无权访问", m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "未找到", m),
            PageError::Api(f) => (
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
                "请求未成功",
                f.line(),
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "系统错误",
                "页面生成失败，已记录，请稍后重试".to_owned(),
            ),
        };
        // A plain page: the error template must not be able to fail itself.
        let body = format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <link rel=\"stylesheet\" href=\"/static/console.css\"><title>{title}</title></head>\
             <body><main class=\"narrow\"><h1>{title}</h1><p role=\"alert\">{}</p>\
             <p><a href=\"/\">返回首页</a></p></main></body></html>",
            minijinja::HtmlEscape(&message)
        );
        (status, Html(body)).into_response()
    }
}
