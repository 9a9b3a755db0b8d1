//! The classifier over HTTP (issue #19, learning from clerks):
//! - `GET /v1/classifier` what the classifier in use was trained on (shipped examples,
//!   clerks' corrections, when);
//! - `POST /v1/classifier/retrain` retrains it now on the shipped examples plus every
//!   correction and swaps it in (operators of the deployment's city).

use axum::Json;
use axum::extract::State;
use xinfang_domain::access::Role;
use xinfang_platform::auth::Caller;

use super::{ApiError, AppState};
use crate::learning::TrainingState;

fn operator(
    who: &xinfang_domain::access::Principal,
    city: &xinfang_domain::county::CountyCode,
) -> Result<(), ApiError> {
    if who.role == Role::Operator && who.scope == *city {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "the classifier is the deployment's: an operator of the city retrains it",
        ))
    }
}

#[utoipa::path(get, path = "/v1/classifier", tag = "classifier",
    summary = "What the classifier in use was trained on: shipped examples and clerks' corrections",
    responses((status = 200, description = "Training state", body = Object)))]
pub async fn state(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<TrainingState>, ApiError> {
    operator(&who, &state.registrar.city)?;
    Ok(Json(state.registrar.classifier.state()))
}

#[utoipa::path(post, path = "/v1/classifier/retrain", tag = "classifier",
    summary = "Retrain the term models on the shipped examples plus every clerk's correction, without a restart",
    responses((status = 200, description = "The new training state", body = Object)))]
pub async fn retrain(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<TrainingState>, ApiError> {
    operator(&who, &state.registrar.city)?;
    let s = state
        .registrar
        .classifier
        .retrain(&state.pool)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(s))
}
