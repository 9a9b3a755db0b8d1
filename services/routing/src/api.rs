//! HTTP: department actions (`POST /v1/cases/{case_no}/actions/{action}`) and a case's
//! routing view (`GET /v1/cases/{case_no}`). With tokens (the default), a department's token
//! says who is acting; an operator may act for a department named in the `X-Xf-Department`
//! header (`rsj` or `411282:rsj`) or the body's `department` (plus an optional `X-Xf-County`
//! header / `county` field). Without auth (local development, tests) the header decides.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{Value, json};
use sqlx::Row;
use xinfang_domain::access::{self, Principal, Role};
use xinfang_domain::county::CountyCode;
use xinfang_platform::auth::{Auth, Caller};
use xinfang_platform::http_error::error_response;
use xinfang_platform::http_json::JsonBody;
use xinfang_platform::route_table::{Access, RouteTable, Verb};

use crate::actions::{ACTIONS, ActionRequest, execute_as};
use crate::context::Ctx;
use crate::store::AssignmentRow;
use crate::{openapi, store};

pub const DEPARTMENT_HEADER: &str = "x-xf-department";
pub const COUNTY_HEADER: &str = "x-xf-county";

/// The router's state: the service context and the deployment's authentication.
#[derive(Clone)]
pub struct ApiState {
    pub ctx: Arc<Ctx>,
    pub auth: Auth,
}

impl FromRef<ApiState> for Arc<Ctx> {
    fn from_ref(s: &ApiState) -> Arc<Ctx> {
        s.ctx.clone()
    }
}

impl FromRef<ApiState> for Auth {
    fn from_ref(s: &ApiState) -> Auth {
        s.auth.clone()
    }
}

/// Every route, with who it lets in (the access tests walk this table). Each department
/// action is its own route, so the OpenAPI document gives each its own body.
pub fn routes() -> RouteTable<ApiState> {
    let mut t = RouteTable::new().route(Verb::Get, "/v1/cases/{case_no}", Access::Staff, case_view);
    for name in ACTIONS {
        t = t.route(
            Verb::Post,
            &format!("/v1/cases/{{case_no}}/actions/{name}"),
            Access::Staff,
            move |state, caller, path, headers, body| {
                action(state, caller, path, headers, body, name)
            },
        );
    }
    t.route(Verb::Get, "/openapi.json", Access::Open, openapi::document)
        .route(
            Verb::Get,
            "/v1/schemas/department",
            Access::Open,
            openapi::department_schema_document,
        )
        .route(
            Verb::Post,
            "/v1/directory/reload",
            Access::Staff,
            reload_directory,
        )
        .map_router(|r| r.layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// `POST /v1/directory/reload` (operators of a served county): re-reads the directory file for
/// every service of the process ([`xinfang_platform::directory`]); routing's part
/// ([`crate::directory::RoutingReload`]) creates the new departments' feeds and audits the load.
/// A bad file changes nothing (`422`, the problems listed), nor does one that drops a
/// department still on running cases.
async fn reload_directory(
    State(ctx): State<Arc<Ctx>>,
    State(auth): State<Auth>,
    Caller(who): Caller,
) -> Response {
    xinfang_platform::directory::reload_response(&ctx.directory, &auth, &who, &ctx.served).await
}

pub fn router(ctx: Arc<Ctx>, auth: Auth) -> Router {
    routes().with_state(ApiState { ctx, auth })
}

/// Replies and reasons are at most 20,000 characters; 256 KiB covers them.
const BODY_LIMIT: usize = 256 * 1024;

fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    error_response(status, code, message, field.map(str::to_owned))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

async fn action(
    State(ctx): State<Arc<Ctx>>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
    action: &'static str,
) -> Response {
    if !matches!(who.role, Role::Department | Role::Operator) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the department itself acts on its cases",
            Some("department"),
        );
    }
    let named = header(&headers, DEPARTMENT_HEADER).or_else(|| {
        body.get("department")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    // A department's token says who acts; naming another department is refused below.
    let raw_dept = match (who.role, &who.department) {
        (Role::Department, Some(d)) => Some(
            named
                .clone()
                .unwrap_or_else(|| format!("{}:{d}", who.scope)),
        ),
        _ => named,
    };
    let Some(raw_dept) = raw_dept else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
            "name the sending department in the X-Xf-Department header or the body's department",
            Some("department"),
        );
    };
    let (mut county, department) = match raw_dept.split_once(':') {
        Some((c, d)) => (Some(c.to_owned()), d.to_owned()),
        None => (None, raw_dept),
    };
    if county.is_none() {
        county = header(&headers, COUNTY_HEADER).or_else(|| {
            body.get("county")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    }
    let county = match county.as_deref().map(CountyCode::parse).transpose() {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.rule,
                &e.message,
                Some("county"),
            );
        }
    };
    // Without a county the case decides it; the department must then be the caller's own.
    let acting_county = county.clone().unwrap_or_else(|| who.scope.clone());
    if let Err(denied) = access::act_as_department(&who, &acting_county, &department) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            &denied.to_string(),
            Some("department"),
        );
    }
    // The department named without a county is resolved from the case; execute_as checks the
    // caller against the organ it resolves to.
    let answer = execute_as(
        &ctx,
        ActionRequest {
            county,
            department,
            action: action.to_owned(),
            case_no: Some(case_no),
            body,
        },
        &who,
        chrono::Utc::now(),
    )
    .await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer.body)).into_response()
}

/// State, assignments and actions of a case; never the text or the petitioner.
async fn case_view(
    State(ctx): State<Arc<Ctx>>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
) -> Response {
    match view(&ctx, &case_no).await {
        Ok(Some((v, home, assignments))) => match may_view(&who, &home, &assignments) {
            Ok(()) => Json(v).into_response(),
            Err(d) => error(StatusCode::FORBIDDEN, "forbidden", &d.to_string(), None),
        },
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such case is known to routing",
            None,
        ),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "case view failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; it has been logged",
                None,
            )
        }
    }
}

/// `access::view_case` for the case's home county and for each county it is assigned in, with
/// the departments assigned there: a county sees the cases of its own and those it handles, a
/// department only the cases it is or was assigned.
fn may_view(
    who: &Principal,
    home: &CountyCode,
    assignments: &[AssignmentRow],
) -> Result<(), access::Denied> {
    let mut counties = vec![home.clone()];
    counties.extend(assignments.iter().map(|a| a.organ.county.clone()));
    let mut refusal = access::Denied("the case is outside the caller's county");
    for county in &counties {
        let departments: Vec<String> = assignments
            .iter()
            .filter(|a| &a.organ.county == county)
            .map(|a| a.organ.dept.clone())
            .collect();
        match access::view_case(
            who,
            access::CaseScope {
                county,
                departments: &departments,
            },
        ) {
            Ok(()) => return Ok(()),
            Err(d) => refusal = d,
        }
    }
    Err(refusal)
}

/// The view, with what the access check needs: the home county and the assignments.
type View = (Value, CountyCode, Vec<AssignmentRow>);

async fn view(ctx: &Ctx, case_no: &str) -> anyhow::Result<Option<View>> {
    let mut conn = ctx.pool.acquire().await?;
    let row = sqlx::query(
        "select case_no, home_county, state, petition_type, confidential, lead_county,
                lead_department, mode, held_reason, decision, updated_at
         from cases where case_no = $1",
    )
    .bind(case_no)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let assignments = store::assignments(&mut conn, case_no).await?;
    let actions = sqlx::query(
        "select county, department, action, outcome, rule, event_id, at from actions
         where case_no = $1 order by id",
    )
    .bind(case_no)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|a| -> anyhow::Result<Value> {
        Ok(json!({
            "county": a.try_get::<String, _>("county")?,
            "department": a.try_get::<String, _>("department")?,
            "action": a.try_get::<String, _>("action")?,
            "outcome": a.try_get::<String, _>("outcome")?,
            "rule": a.try_get::<Option<String>, _>("rule")?,
            "event_id": a.try_get::<Option<uuid::Uuid>, _>("event_id")?,
            "at": a.try_get::<chrono::DateTime<chrono::Utc>, _>("at")?,
        }))
    })
    .collect::<anyhow::Result<Vec<_>>>()?;
    let decision: Option<Value> = r.try_get("decision")?;
    let home = CountyCode::parse(&r.try_get::<String, _>("home_county")?)?;
    let v = json!({
        "case_no": r.try_get::<String, _>("case_no")?,
        "home_county": r.try_get::<String, _>("home_county")?,
        "state": r.try_get::<String, _>("state")?,
        "petition_type": r.try_get::<String, _>("petition_type")?,
        "confidential": r.try_get::<bool, _>("confidential")?,
        "lead": match (r.try_get::<Option<String>, _>("lead_county")?, r.try_get::<Option<String>, _>("lead_department")?) {
            (Some(c), Some(d)) => json!(format!("{c}:{d}")),
            _ => Value::Null,
        },
        "mode": r.try_get::<Option<String>, _>("mode")?,
        "held_reason": r.try_get::<Option<String>, _>("held_reason")?,
        "decision": decision.as_ref().and_then(|d| d.get("decision")).cloned(),
        "assignments": assignments,
        "actions": actions,
        "updated_at": r.try_get::<chrono::DateTime<chrono::Utc>, _>("updated_at")?,
    });
    Ok(Some((v, home, assignments)))
}
