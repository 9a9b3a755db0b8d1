//! The OpenAPI document served at `/openapi.json`: the case view and each department action
//! with its own body (the fields every action shares plus the action's own).

use std::sync::OnceLock;

use axum::Json;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

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
        check
    )
)]
pub struct ApiDoc;

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
