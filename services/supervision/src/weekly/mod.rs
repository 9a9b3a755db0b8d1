//! 周研判, the weekly analysis (issue #15 item 2): every Monday (China time, from
//! `[supervision.weekly_report] hour`) last week's report of each served county and of the city
//! (the whole deployment), and on demand. The figures are computed in
//! `xinfang_domain::weekly_report`; here they are loaded ([`load`]), rendered as HTML with
//! inline SVG charts ([`html`]), stored in `weekly_reports` and sent as
//! `xf.<county>.report.weekly` for notify to e-mail ([`generate`]).
//!
//! HTTP:
//! - `GET /v1/reports/weekly?county=&week=&format=json|html|csv` the stored report, else one
//!   computed now (not stored, not sent): staff (not departments) whose scope covers the
//!   county; the city's report only to the city's staff.
//! - `POST /v1/reports/weekly` `{county?, week?, resend?}` (re)generates one: supervisors and
//!   operators of the county. It is e-mailed when it is the first complete report of the week,
//!   or when `resend` is true.

pub mod generate;
pub mod html;
pub mod load;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};
use xinfang_domain::access::{self, Principal, Role};
use xinfang_domain::county::CountyCode;
use xinfang_domain::validation::ValidationError;
use xinfang_domain::weekly_report::{self, IsoWeek};
use xinfang_platform::auth::Caller;
use xinfang_platform::http_json::ApiQuery;
use xinfang_platform::route_table::{Access, RouteTable, Verb};

use crate::api::ApiState;
use crate::error::ApiError;
use generate::{Context, Mode, Stored};

/// ```toml
/// [supervision.weekly_report]
/// enabled = true               # generate last week's reports on Monday (in this instance)
/// hour = 8                     # ... from 08:00 China time
/// check_interval_secs = 300
/// max_rows = 100               # rows per list on the page (the CSV has all)
/// similarity = 0.22            # rising topics: similar at this overlap (the repeat threshold)
/// topic_min_cases = 3          # ... at least 3 matters
/// topic_min_petitioners = 2    # ... of at least 2 petitioners
/// max_topics = 10
/// group_min = 5                # a group petition has at least 5 people
/// ```
/// Who receives it by e-mail is notify's `[notify.weekly_report] recipients`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyReportSettings {
    pub enabled: bool,
    pub hour: u32,
    pub check_interval_secs: u64,
    pub max_rows: usize,
    pub similarity: f32,
    pub topic_min_cases: usize,
    pub topic_min_petitioners: usize,
    pub max_topics: usize,
    pub group_min: i32,
}

impl Default for WeeklyReportSettings {
    fn default() -> Self {
        let r = weekly_report::ReportRules::default();
        Self {
            enabled: true,
            hour: 8,
            check_interval_secs: 300,
            max_rows: 100,
            similarity: r.similarity,
            topic_min_cases: r.topic_min_cases,
            topic_min_petitioners: r.topic_min_petitioners,
            max_topics: r.max_topics,
            group_min: r.group_min,
        }
    }
}

impl WeeklyReportSettings {
    pub fn rules(&self) -> weekly_report::ReportRules {
        weekly_report::ReportRules {
            similarity: self.similarity,
            topic_min_cases: self.topic_min_cases,
            topic_min_petitioners: self.topic_min_petitioners,
            max_topics: self.max_topics,
            group_min: self.group_min,
        }
    }

    /// Errors name the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let p = "supervision.weekly_report";
        if self.hour > 23 {
            anyhow::bail!("{p}.hour: must be 0 to 23 (China time)");
        }
        if self.check_interval_secs == 0 {
            anyhow::bail!("{p}.check_interval_secs: must be positive");
        }
        if !(1..=10_000).contains(&self.max_rows) {
            anyhow::bail!("{p}.max_rows: must be 1 to 10000");
        }
        self.rules()
            .validate(p)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))
    }
}

pub fn routes(t: RouteTable<ApiState>) -> RouteTable<ApiState> {
    t.route(Verb::Get, "/v1/reports/weekly", Access::Staff, get_report)
        .route(Verb::Post, "/v1/reports/weekly", Access::Staff, post_report)
}

#[derive(OpenApi)]
#[openapi(paths(get_report, post_report))]
struct Doc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Doc::openapi()
}

fn forbid(d: access::Denied) -> ApiError {
    ApiError::Forbidden(d.to_string())
}

/// Reading a report: staff other than departments (a report names every department's
/// matters) whose scope covers the county.
pub fn may_read(who: &Principal, county: &CountyCode) -> Result<(), access::Denied> {
    if who.role == Role::Department {
        return Err(access::Denied(
            "departments do not read the weekly analysis",
        ));
    }
    if !access::covers(&who.scope, county) {
        return Err(access::Denied("the county is outside the caller's scope"));
    }
    Ok(())
}

/// The report's county: the one asked for, else the caller's scope; `allowed` decides who
/// may have it. A county outside the caller's scope is refused before it is validated, and a
/// caller whose own scope this deployment does not serve is refused too.
fn county(
    served: &[String],
    raw: Option<&str>,
    who: &Principal,
    allowed: impl Fn(&Principal, &CountyCode) -> Result<(), access::Denied>,
) -> Result<CountyCode, ApiError> {
    let (c, asked) = match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(c) => (CountyCode::parse(c)?, true),
        None => (who.scope.clone(), false),
    };
    allowed(who, &c).map_err(forbid)?;
    if !served.iter().any(|s| s == c.as_str()) {
        if !asked {
            return Err(forbid(access::Denied(
                "the caller's county is not one this deployment serves",
            )));
        }
        return Err(ValidationError::new(
            "county",
            "not_served",
            "is not a county this deployment serves",
        )
        .into());
    }
    Ok(c)
}

/// The week asked for, else the last complete one; never a week that has not begun.
fn week(raw: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Result<IsoWeek, ApiError> {
    let w = match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(w) => IsoWeek::parse(w)?,
        None => IsoWeek::last_complete(now),
    };
    if w.start() > now {
        return Err(ValidationError::new("week", "future", "has not begun yet").into());
    }
    Ok(w)
}

/// `GET /v1/reports/weekly` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// A served county, or the city for the whole deployment (default: the caller's scope).
    #[param(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    county: Option<String>,
    /// ISO week, `2026-W49` (default: last week).
    #[param(value_type = Option<String>, pattern = "^[0-9]{4}-W[0-9]{2}$")]
    week: Option<String>,
    /// `json` (default: the figures), `html` (the page with its charts) or `csv`.
    #[param(value_type = Option<String>)]
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
    Csv,
}

fn format(raw: Option<&str>) -> Result<Format, ValidationError> {
    match raw.map(str::trim).unwrap_or("json") {
        "" | "json" => Ok(Format::Json),
        "html" => Ok(Format::Html),
        "csv" => Ok(Format::Csv),
        _ => Err(ValidationError::new(
            "format",
            "unknown_value",
            "must be one of: json, html, csv",
        )),
    }
}

fn respond(r: Stored, stored: bool, f: Format, status: StatusCode) -> Response {
    match f {
        Format::Json => (
            status,
            Json(json!({
                "county": r.county,
                "week": r.week,
                "generated_at": r.generated_at,
                "complete": r.complete,
                "stored": stored,
                "sent_at": r.sent_at,
                "figures": r.figures,
            })),
        )
            .into_response(),
        Format::Html => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'".to_owned(),
                ),
            ],
            r.html,
        )
            .into_response(),
        Format::Csv => (
            status,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}\"",
                        weekly_report::csv_name(&r.county, r.week)
                    ),
                ),
            ],
            r.csv,
        )
            .into_response(),
    }
}

fn context(s: &ApiState) -> Context {
    Context {
        pool: s.pool.clone(),
        clock: s.clock.clone(),
        rules: s.rules.clone(),
    }
}

#[utoipa::path(get, path = "/v1/reports/weekly", tag = "reports",
    summary = "周研判: the weekly analysis of a county (or of the whole deployment under the city's code): the stored report, else computed now without storing it",
    params(ReportQuery),
    responses(
        (status = 200, description = "{county, week, generated_at, complete, stored, sent_at, figures}; or the page (`format=html`) or the CSV (`format=csv`)", body = Object)))]
async fn get_report(
    State(s): State<ApiState>,
    Caller(who): Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let county = county(&s.served, q.county.as_deref(), &who, may_read)?;
    let f = format(q.format.as_deref())?;
    let week = week(q.week.as_deref(), s.clock.now())?;
    if let Some(stored) = generate::find(&s.pool, county.as_str(), week).await? {
        return Ok(respond(stored, true, f, StatusCode::OK));
    }
    let (figures, _, html, csv) = generate::build(&context(&s), &county, week).await?;
    let fresh = Stored {
        county: county.to_string(),
        week,
        generated_at: figures.generated_at,
        complete: figures.complete,
        figures: serde_json::to_value(&figures).map_err(|e| ApiError::Internal(e.into()))?,
        html,
        csv,
        sent_at: None,
    };
    Ok(respond(fresh, false, f, StatusCode::OK))
}

/// `POST /v1/reports/weekly` body (an empty body takes every default).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// A served county, or the city (default: the caller's scope).
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
    /// ISO week, `2026-W49` (default: last week). The running week gives a partial report.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{4}-W[0-9]{2}$", example = "2026-W49")]
    pub week: Option<String>,
    /// E-mail it again even if it was sent (or send a partial report).
    #[serde(default)]
    pub resend: bool,
    /// What to answer with: json (default), html or csv.
    #[schema(value_type = Option<String>)]
    pub format: Option<String>,
}

/// The body: empty for every default, else JSON.
fn generate_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<GenerateRequest, xinfang_platform::http_json::BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(GenerateRequest::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(xinfang_platform::http_json::BodyError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "content_type",
            message: "the body must be JSON, sent with Content-Type: application/json".into(),
            field: None,
        });
    }
    xinfang_platform::http_json::parse_json(body)
}

#[utoipa::path(post, path = "/v1/reports/weekly", tag = "reports",
    summary = "(Re)generate and store a weekly analysis now; it is e-mailed when it is the week's first complete one, or with `resend`",
    request_body = GenerateRequest,
    responses((status = 201, description = "The stored report, as `GET` returns it", body = Object)))]
async fn post_report(
    State(s): State<ApiState>,
    Caller(who): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let req = generate_request(&headers, &body).map_err(IntoResponse::into_response)?;
    let run = async {
        let county = county(&s.served, req.county.as_deref(), &who, access::supervise)?;
        let f = format(req.format.as_deref())?;
        let week = week(req.week.as_deref(), s.clock.now())?;
        let stored = generate::generate(
            &context(&s),
            &county,
            week,
            Mode::OnDemand { resend: req.resend },
        )
        .await?
        .ok_or(ApiError::NotFound("weekly report"))?;
        Ok::<_, ApiError>(respond(stored, true, f, StatusCode::CREATED))
    };
    run.await.map_err(IntoResponse::into_response)
}
