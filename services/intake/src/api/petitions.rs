//! `POST /v1/petitions`: register one petition.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use xinfang_domain::access;
use xinfang_domain::county::CountyCode;
use xinfang_domain::registration::RegistrationInput;
use xinfang_platform::auth::Caller;

use super::{ApiError, ApiJson, AppState};
use crate::register::Receipt;

#[utoipa::path(
    post,
    path = "/v1/petitions",
    tag = "petitions",
    request_body = RegistrationInput,
    responses(
        (status = 201, description = "Registered", body = Receipt),
        (status = 400, description = "Malformed JSON"),
        (status = 422, description = "A field breaks a rule; `error.field` names it"),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiJson(input): ApiJson<RegistrationInput>,
) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    // A county that is unparsable or not served is left to validation, which names the field.
    let county = match input.county.trim() {
        "unknown" | "" => Some(state.registrar.city.clone()),
        raw => CountyCode::parse(raw).ok(),
    }
    .filter(|c| state.registrar.served.contains(c));
    if let Some(county) = county {
        access::register(&who, &county).map_err(super::forbidden)?;
    }
    let receipt = state.registrar.register(&input, chrono::Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}
