//! The bureau's practices (issue #15), each on its own page over supervision's APIs with the
//! user's token:
//! - `/listed` listed matters (清单化管理、项目化推进): lists per source, milestones, weekly
//!   progress and the listed KPIs;
//! - `/weekly` the weekly analysis (周研判) of a county and week, its CSV and HTML;
//! - `/conferences` case conferences (会审): scheduled and held, minutes and tasks;
//! - `/advisers` the lawyers and counsellors: roster, assignments, advice on a case;
//! - `/leaders` leaders, their reception days (领导接访日) and the cases they own (包案).
//!
//! A leader reads and signs nothing; a department's part (its conference tasks, its listed
//! matters' progress) is on its own pages and on `/listed`.

mod advisers;
mod conferences;
pub(crate) mod form;
mod leaders;
mod listed;
mod weekly;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/listed", get(listed::page).post(listed::list_case))
        .route("/listed/{case_no}/progress", post(listed::progress))
        .route(
            "/listed/{case_no}/milestones/{id}/done",
            post(listed::milestone_done),
        )
        .route("/listed/{case_no}/close", post(listed::close))
        .route("/weekly", get(weekly::page).post(weekly::regenerate))
        .route("/weekly/report.csv", get(weekly::csv))
        .route("/weekly/report.html", get(weekly::html))
        .route(
            "/conferences",
            get(conferences::page).post(conferences::schedule),
        )
        .route("/conferences/{id}/minutes", post(conferences::minutes))
        .route("/advisers", get(advisers::page).post(advisers::create))
        .route("/advisers/{id}/active", post(advisers::set_active))
        .route("/advisers/assign", post(advisers::assign))
        .route("/advisers/advice", post(advisers::advice))
        .route("/leaders", get(leaders::page).post(leaders::upsert))
        .route("/leaders/cases", post(leaders::own_case))
        .route("/leaders/reception-days", post(leaders::schedule_day))
        .route(
            "/leaders/reception-days/{id}/cases",
            post(leaders::receive_case),
        )
}
