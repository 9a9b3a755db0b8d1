//! Intake's public HTTP API.

mod cases;
mod error;
mod openapi;
mod petitions;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, patch, post};
use sqlx::PgPool;
use xinfang_platform::auth::Auth;

pub use error::{ApiError, ApiJson};

use crate::crypto::Keys;
use crate::register::Registrar;

#[derive(Clone)]
pub struct AppState {
    pub registrar: Registrar,
    pub pool: PgPool,
    pub keys: Keys,
    pub auth: Auth,
}

impl FromRef<AppState> for Auth {
    fn from_ref(s: &AppState) -> Auth {
        s.auth.clone()
    }
}

/// 403 naming the access rule that refused.
pub fn forbidden(d: xinfang_domain::access::Denied) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "forbidden",
        d.to_string(),
    )
}

/// Petitions are at most 20,000 characters; 256 KiB covers them and their metadata.
const BODY_LIMIT: usize = 256 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/petitions", post(petitions::register))
        .route("/v1/cases", get(cases::list))
        .route("/v1/cases.csv", get(cases::csv_export))
        .route("/v1/cases/{case_no}", get(cases::show))
        .route(
            "/v1/cases/{case_no}/classification",
            patch(cases::reclassify),
        )
        .route("/v1/query/{query_code}", get(cases::query))
        .route("/openapi.json", get(openapi::document))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
