//! Intake's public HTTP API.

mod cases;
mod classifier;
mod error;
mod openapi;
mod petitions;
mod repeats;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use sqlx::PgPool;
use xinfang_platform::auth::Auth;
use xinfang_platform::rate_limit::{self, Guarded, RateLimiter};
use xinfang_platform::route_table::{Access, RouteTable, Verb};

pub use error::{ApiError, ApiJson};

use crate::crypto::Keys;
use crate::register::Registrar;

#[derive(Clone)]
pub struct AppState {
    pub registrar: Registrar,
    pub pool: PgPool,
    pub keys: Keys,
    pub auth: Auth,
    /// Limits on the petitioner's `GET /v1/query/{query_code}` (guessing codes).
    pub rate_limit: RateLimiter,
    /// The deployment's directory (reloadable: take a snapshot per request): which department
    /// is 纪委监委 (the only one that may learn an informant), which organ a decision is
    /// appealed to (Art 35–36).
    pub directory: std::sync::Arc<xinfang_platform::directory::DirectoryHandle>,
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

/// Every route, with who it lets in (the access tests walk this table).
pub fn routes() -> RouteTable<AppState> {
    RouteTable::new()
        .route(
            Verb::Post,
            "/v1/petitions",
            Access::Staff,
            petitions::register,
        )
        .route(Verb::Get, "/v1/cases", Access::Staff, cases::list)
        .route(Verb::Get, "/v1/cases.csv", Access::Staff, cases::csv_export)
        .route(Verb::Get, "/v1/cases/{case_no}", Access::Staff, cases::show)
        .route(
            Verb::Patch,
            "/v1/cases/{case_no}/classification",
            Access::Staff,
            cases::reclassify,
        )
        // A clerk confirms or rejects a proposed refusal of a repeat, or removes the link
        // (Decisions 7); `access::register` decides who.
        .route(
            Verb::Post,
            "/v1/cases/{case_no}/repeat",
            Access::Staff,
            repeats::decide,
        )
        // The petitioner's query code is the credential here.
        .route(
            Verb::Get,
            "/v1/query/{query_code}",
            Access::Petitioner,
            cases::query,
        )
        // Learning from clerks (issue #19).
        .route(
            Verb::Get,
            "/v1/classifier",
            Access::Staff,
            classifier::state,
        )
        .route(
            Verb::Post,
            "/v1/classifier/retrain",
            Access::Staff,
            classifier::retrain,
        )
        .route(Verb::Get, "/openapi.json", Access::Open, openapi::document)
        .map_router(|r| r.layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// The routes rate-limited per client address and per query code: every
/// [`Access::Petitioner`] route (tests/query_limits.rs holds the two lists equal).
pub fn rate_limited_routes() -> Vec<Guarded> {
    vec![Guarded::get("/v1/query/{query_code}", "query_code")]
}

pub fn router(state: AppState) -> Router {
    let petitioner_limits = axum::middleware::from_fn_with_state(
        state.rate_limit.guard(&rate_limited_routes()),
        rate_limit::enforce,
    );
    routes()
        .map_router(|r| r.layer(petitioner_limits))
        .with_state(state)
}
