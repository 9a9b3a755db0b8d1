//! The bureau's and the leaders' pages (supervisor, leader, operator): the deadline board with
//! 督办, the KPI dashboard and its CSV, and what waits for the bureau's approval. A leader
//! reads and signs nothing: no 督办, no approvals.

mod approvals;
mod board;
mod compare;
mod kpi;

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;

use crate::backend::{ApiFailure, Service};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/board", get(board::board))
        .route("/board/supervise", post(board::supervise))
        .route("/kpi", get(kpi::kpi))
        .route("/kpi.csv", get(kpi::csv))
        .route("/compare", get(compare::compare))
        .route("/approvals", get(approvals::approvals))
        .route("/approvals/{case_no}/{action}", post(approvals::decide))
}

/// Cases as intake lists them for the user, for a query (`state=…`, `overdue=true`, …).
async fn cases(state: &AppState, token: &str, query: &str) -> Result<Vec<Value>, ApiFailure> {
    let path = format!("/v1/cases?per_page={PER_PAGE}&{query}");
    let v = state
        .backend
        .get(Service::Intake, &path, Some(token))
        .await?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

/// How many cases one intake query brings (well below intake's `max_page_size`).
const PER_PAGE: usize = 100;

/// A county code, or nothing.
fn county_param(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}
