//! The OpenAPI document served at `/openapi.json`: the case view and each department action
//! with its own body (the fields every action shares plus the action's own).

use std::sync::OnceLock;

use axum::Json;
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};

use xinfang_domain::events::{
    DeadlineFired, DeadlineStatus, DeptAssignment, DeptDeadlineFired, DeptDeadlineStatus,
    DeptRemanded, DeptSupervised, DeptWithdrawn, Supervised, kind,
};

use crate::actions::{
    AcceptBody, CheckBody, DecisionBody, DivertBody, ExtendBody, MediateBody, ObjectBody,
    ReplyBody, ReportBody, TransferBody, TransferDecisionBody,
};

/// Fields every department action takes.
#[derive(ToSchema)]
pub struct ActionCommon {
    /// Chosen by the client for this request: the same request again has no further effect
    /// and gets the stored answer.
    #[schema(format = Uuid)]
    pub request_id: String,
    /// The case; the path's number is used.
    pub case_no: Option<String>,
    /// The acting department, for an operator acting for one (`rsj` or `411282:rsj`); a
    /// department token acts for its own. The `X-Xf-Department` header does the same.
    pub department: Option<String>,
    /// The acting department's county, when `department` names none (or `X-Xf-County`).
    #[schema(pattern = "^[0-9]{6}$")]
    pub county: Option<String>,
}

macro_rules! action_request {
    ($name:ident, $body:ty) => {
        /// Request body of this action: the common fields and its own.
        #[derive(ToSchema)]
        pub struct $name {
            #[serde(flatten)]
            pub common: ActionCommon,
            #[serde(flatten)]
            pub body: $body,
        }
    };
}

action_request!(AcceptRequest, AcceptBody);
action_request!(ObjectRequest, ObjectBody);
action_request!(TransferRequest, TransferBody);
action_request!(ExtendRequest, ExtendBody);
action_request!(MediateRequest, MediateBody);
action_request!(ReplyRequest, ReplyBody);
action_request!(DecisionRequest, DecisionBody);
action_request!(DivertRequest, DivertBody);
action_request!(ReportRequest, ReportBody);
action_request!(TransferDecisionRequest, TransferDecisionBody);
action_request!(CheckRequest, CheckBody);

/// An applied action.
#[derive(ToSchema)]
pub struct ActionDone {
    pub ok: bool,
    pub case_no: String,
    pub action: String,
    /// The case's lifecycle state after the action.
    pub state: String,
    /// The acting department's assignment after the action.
    #[schema(value_type = Option<Object>)]
    pub assignment: Option<Value>,
    /// The main event written, if any.
    #[schema(value_type = Option<Object>)]
    pub event: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

/// What routing knows of a case: state, assignments, actions; never the text or petitioner.
#[derive(ToSchema)]
pub struct CaseView {
    pub case_no: String,
    pub home_county: String,
    pub state: String,
    pub petition_type: String,
    pub confidential: bool,
    /// `county:department` of the lead unit.
    pub lead: Option<String>,
    pub mode: Option<String>,
    pub held_reason: Option<String>,
    pub decision: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub assignments: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Value>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[utoipa::path(get, path = "/v1/cases/{case_no}", tag = "cases",
    params(("case_no" = String, Path, description = "XF-<county>-<yyyy>-<seq>")),
    responses(
        (status = 200, description = "The case as routing knows it", body = CaseView),
        (status = 404, description = "No such case is known to routing"),
    ))]
#[allow(dead_code)]
fn case_view() {}

macro_rules! action_doc {
    ($fn:ident, $path:literal, $req:ty, $summary:literal) => {
        #[utoipa::path(post, path = $path, tag = "actions", summary = $summary,
            params(("case_no" = String, Path, description = "XF-<county>-<yyyy>-<seq>"),
                ("X-Xf-Department" = Option<String>, Header, description = "The acting department, for an operator (`rsj` or `411282:rsj`)"),
                ("X-Xf-County" = Option<String>, Header, description = "The acting department's county")),
            request_body = $req,
            responses(
                (status = 200, description = "Applied; events written", body = ActionDone),
                (status = 403, description = "The caller may not act as this department, or the case is not assigned to it; `error.rule` names the rule"),
                (status = 404, description = "No such case is known to routing"),
                (status = 409, description = "Refused by the lifecycle or a rule of the regulation (`error.rule`), or `request_id` reused for another request"),
                (status = 422, description = "A field is missing or invalid; `error.field` names it"),
            ))]
        #[allow(dead_code)]
        fn $fn() {}
    };
}

action_doc!(
    accept,
    "/v1/cases/{case_no}/actions/accept",
    AcceptRequest,
    "受理告知: the department accepts the matter (Art 23 para 3)"
);
action_doc!(
    object,
    "/v1/cases/{case_no}/actions/object",
    ObjectRequest,
    "异议: the matter is not the department's (Art 23 para 3, within 5 working days)"
);
action_doc!(
    transfer,
    "/v1/cases/{case_no}/actions/transfer",
    TransferRequest,
    "Ask the petition bureau to let a not-yet-accepted matter go to another department (Art 23 para 3); nothing moves until it approves"
);
action_doc!(
    extend,
    "/v1/cases/{case_no}/actions/extend",
    ExtendRequest,
    "延期: extend handling once, by at most 30 days (Art 34)"
);
action_doc!(
    mediate,
    "/v1/cases/{case_no}/actions/mediate",
    MediateRequest,
    "调解/和解: an agreement was signed (Art 33)"
);
action_doc!(
    reply,
    "/v1/cases/{case_no}/actions/reply",
    ReplyRequest,
    "The handling result served on the petitioner (Art 29, 30, 32)"
);
action_doc!(
    objection_decision,
    "/v1/cases/{case_no}/actions/objection_decision",
    DecisionRequest,
    "The forwarding petition bureau decides a department's objection"
);

action_doc!(
    divert,
    "/v1/cases/{case_no}/actions/divert",
    DivertRequest,
    "导入法定途径 after acceptance: the matter belongs in a statutory procedure (Art 31(1)-(4)); the petitioner is served the written guidance"
);
action_doc!(
    report,
    "/v1/cases/{case_no}/actions/report",
    ReportRequest,
    "办结报告: the completion report on the handling result, for the bureau's check (Art 22 para 1(3))"
);
action_doc!(
    transfer_decision,
    "/v1/cases/{case_no}/actions/transfer_decision",
    TransferDecisionRequest,
    "The forwarding petition bureau approves or rejects a department's transfer request (Art 23 para 3)"
);
action_doc!(
    check,
    "/v1/cases/{case_no}/actions/check",
    CheckRequest,
    "The assigning petition bureau checks a completion report: passed (办结) or failed (退回重办) (Art 22 para 1(3))"
);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "xinfang routing API",
        description = "A case's routing view, the department actions (accept, object, transfer, extend, mediate, reply, divert, report) and the bureau's decisions (objections, transfers, completion-report checks)."
    ),
    paths(
        case_view,
        accept,
        object,
        transfer,
        extend,
        mediate,
        reply,
        divert,
        report,
        objection_decision,
        transfer_decision,
        check,
        department_schema_doc,
        directory_reload_doc
    ),
    components(schemas(
        DeptAssignment,
        DeptWithdrawn,
        DeptRemanded,
        DeadlineFired,
        DeadlineStatus,
        Supervised,
        DeptDeadlineFired,
        DeptDeadlineStatus,
        DeptSupervised
    ))
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/v1/schemas/department", tag = "schemas",
    responses(
        (status = 200, description = "JSON Schema (draft 2020-12) of every department message's `data` (by event, the last token of `xf.<county>.dept.<dept>.<event>`) and every department command's body (by action, `xf.<county>.cmd.<dept>.<action>`); also in docs/department-messages.schema.json", body = Object),
    ))]
#[allow(dead_code)]
fn department_schema_doc() {}

#[utoipa::path(post, path = "/v1/directory/reload", tag = "directory",
    summary = "Re-read the department directory without a restart (operators)",
    description = "A valid file gets every new department its durable feed, is audited like a load at start (`directory_audit`: who, hash, changes) and replaces the running directory; running cases keep their organs. A bad file changes nothing.",
    responses(
        (status = 200, description = "Reloaded: hash, previous hash, changes, feeds created or updated", body = Object),
        (status = 403, description = "Not an operator"),
        (status = 422, description = "The file is unreadable or invalid (`directory_unreadable`, `directory_invalid`); the running directory stays"),
    ))]
#[allow(dead_code)]
fn directory_reload_doc() {}

/// Department message events (`xf.<county>.dept.<dept>.<event>`) and the schema of each
/// one's envelope `data`: routing's (`assigned`, `withdrawn`, `remanded`) and supervision's
/// (`warning`, `overdue`, `supervision`, `scheduled`).
pub const DEPARTMENT_MESSAGES: &[(&str, &str)] = &[
    (kind::ASSIGNED, "DeptAssignment"),
    (kind::WITHDRAWN, "DeptWithdrawn"),
    (kind::REMANDED, "DeptRemanded"),
    (kind::WARNING, "DeptDeadlineFired"),
    (kind::OVERDUE, "DeptDeadlineFired"),
    (kind::SUPERVISION, "DeptSupervised"),
    (kind::DEADLINE_SCHEDULED, "DeptDeadlineStatus"),
];

/// Department commands (`xf.<county>.cmd.<dept>.<action>`, or the HTTP action route) and the
/// schema of each one's body.
pub const DEPARTMENT_COMMANDS: &[(&str, &str)] = &[
    ("accept", "AcceptRequest"),
    ("object", "ObjectRequest"),
    ("transfer", "TransferRequest"),
    ("extend", "ExtendRequest"),
    ("mediate", "MediateRequest"),
    ("reply", "ReplyRequest"),
    ("divert", "DivertRequest"),
    ("report", "ReportRequest"),
    ("objection_decision", "DecisionRequest"),
    ("transfer_decision", "TransferDecisionRequest"),
    ("check", "CheckRequest"),
];

/// The JSON Schema of department messages and commands, generated from the Rust types (the
/// OpenAPI components, with `#/components/schemas/` references made `#/$defs/`).
pub fn department_schema() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut defs = serde_json::Map::new();
        if let Some(all) = value()["components"]["schemas"].as_object() {
            let mut wanted: Vec<&str> = DEPARTMENT_MESSAGES
                .iter()
                .chain(DEPARTMENT_COMMANDS)
                .map(|(_, s)| *s)
                .collect();
            // Everything the wanted schemas refer to, transitively.
            while let Some(name) = wanted.pop() {
                if defs.contains_key(name) {
                    continue;
                }
                let Some(schema) = all.get(name) else {
                    continue;
                };
                let mut refs = Vec::new();
                collect_refs(schema, &mut refs);
                wanted.extend(refs.iter().filter_map(|r| {
                    all.get_key_value(r.as_str()).map(|(k, _)| k.as_str())
                }));
                defs.insert(name.to_owned(), rewrite_refs(schema.clone()));
            }
        }
        let refs = |list: &[(&str, &str)]| -> Value {
            list.iter()
                .map(|(k, s)| ((*k).to_owned(), json!({ "$ref": format!("#/$defs/{s}") })))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://xinfang.local/schemas/department.json",
            "title": "xinfang department messages and commands",
            "description": "Generated from the Rust types (routing's `openapi::department_schema`); do not edit. `messages` gives, by event (`xf.<county>.dept.<dept>.<event>`), the schema of the envelope's `data`; `commands` gives, by action (`xf.<county>.cmd.<dept>.<action>`), the schema of the request body.",
            "messages": refs(DEPARTMENT_MESSAGES),
            "commands": refs(DEPARTMENT_COMMANDS),
            "$defs": defs,
        })
    })
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => {
                        if let Some(name) = r.strip_prefix("#/components/schemas/") {
                            out.push(name.to_owned());
                        }
                    }
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn rewrite_refs(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => {
                        let r = r.replace("#/components/schemas/", "#/$defs/");
                        (k, Value::String(r))
                    }
                    _ => (k, rewrite_refs(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(rewrite_refs).collect()),
        other => other,
    }
}

pub async fn department_schema_document() -> Json<Value> {
    Json(department_schema().clone())
}

/// The document, completed with the platform's statuses and error schema.
pub fn value() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        xinfang_platform::api_doc::complete(&ApiDoc::openapi(), crate::api::routes().routes())
    })
}

pub async fn document() -> Json<Value> {
    Json(value().clone())
}
