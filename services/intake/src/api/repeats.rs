//! A clerk's decision on a case's repeat link over HTTP (Decisions 7; see `crate::repeats`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use xinfang_platform::auth::Caller;

use super::{ApiError, ApiJson, AppState};
use crate::repeats::{self, DecideError, DecisionReceipt, DecisionRequest};

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Invalid(v) => v.into(),
            DecideError::NotFound => ApiError::not_found("case"),
            DecideError::Forbidden(d) => super::forbidden(d),
            DecideError::Conflict(c) => ApiError::new(StatusCode::CONFLICT, "state", c.to_string()),
            DecideError::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

#[utoipa::path(post, path = "/v1/cases/{case_no}/repeat", tag = "cases",
    request_body = DecisionRequest,
    params(("case_no" = String, Path, description = "XF-<county>-<yyyy>-<seq>")),
    responses((status = 200, description = "Decision recorded (who: the token's clerk, when, why) and published: `confirm` → case.refusal_confirmed (routing then refuses, and the petitioner is told); `reject` → case.refusal_rejected (handled on its own, linked as related); `unlink` → case.repeat_unlinked (handled as a fresh matter)", body = DecisionReceipt),
        (status = 403, description = "Not a clerk or operator of the case's county"),
        (status = 404, description = "No such case"),
        (status = 409, description = "The case's link admits no such decision: not a repeat, no refusal proposed, the refusal already confirmed, or (Art 19 para 3) the earlier matter no longer pending within its time limit"),
        (status = 422, description = "A field breaks a rule; `error.field` names it")))]
pub async fn decide(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(case_no): Path<String>,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionReceipt>, ApiError> {
    let receipt = repeats::decide(&state.pool, &who, &case_no, &req, chrono::Utc::now()).await?;
    Ok(Json(receipt))
}
