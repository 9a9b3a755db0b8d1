//! The handling unit's pages (role department; an operator may look): its inbox of assigned
//! cases with a countdown to each deadline, a case page with routing's department actions as
//! small forms, and the tasks conferences gave it with a form reporting each done.

mod actions;
mod case;
pub mod deadlines;
mod inbox;
mod tasks;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dept", get(inbox::inbox))
        .route("/dept/cases/{case_no}", get(case::show))
        .route("/dept/cases/{case_no}/actions/{name}", post(case::act))
        .route("/dept/tasks", get(tasks::tasks))
        .route(
            "/dept/tasks/{conference}/{decision}/done",
            post(tasks::done),
        )
}

/// Today in Beijing, `2026-03-02`: the default of the forms' dates.
pub(crate) fn today() -> String {
    chrono::Utc::now()
        .with_timezone(&xinfang_domain::deadline::CST)
        .format("%Y-%m-%d")
        .to_string()
}
