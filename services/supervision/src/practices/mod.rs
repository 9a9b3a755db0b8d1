//! The bureau's practices (issue #15 items 3–5), over HTTP:
//! - case conferences (会审, [`conferences`]): `POST /v1/conferences`, `GET /v1/conferences?case_no=`,
//!   `GET /v1/conferences/{id}`, `POST …/{id}/minutes` (decisions; tasks get `task` clocks),
//!   `POST …/{id}/tasks/{decision_id}/done`;
//! - lawyers and counsellors ([`advisers`]): `POST /v1/advisers`, `GET /v1/advisers`,
//!   `POST /v1/advisers/{id}`, `POST /v1/advisers/{id}/assignments`, `POST /v1/advice`,
//!   `GET /v1/advice?case_no=`;
//! - leaders and 包案 ([`leaders`]): `POST /v1/leaders`, `GET /v1/leaders`,
//!   `POST /v1/leaders/{id}/cases`, `GET /v1/leaders/{id}/cases`;
//! - leaders' reception days ([`reception`]): `POST /v1/reception-days`,
//!   `GET /v1/reception-days?county=&from=&to=`, `POST /v1/reception-days/{id}/cases`;
//! - counts for reports ([`counts::adviser_counts`]).
//!
//! The bureau's clerks, supervisors and operators of the county keep these records; a
//! department reads the cases it handles and reports its own tasks done. Facts on a case go
//! out as `xf.<county>.case.<kind>` ([`xinfang_domain::practice_events`]) through the outbox.

pub mod advisers;
pub mod conferences;
pub mod counts;
mod events;
mod guard;
mod input;
pub mod leaders;
pub mod reception;
mod routes;

pub use counts::{AdviserCounts, adviser_counts};

use xinfang_platform::route_table::RouteTable;

use crate::api::ApiState;

pub fn routes(t: RouteTable<ApiState>) -> RouteTable<ApiState> {
    routes::routes(t)
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::openapi()
}
