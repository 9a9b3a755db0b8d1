//! The practices' routes and their OpenAPI document.

use utoipa::OpenApi;
use xinfang_platform::route_table::{Access, RouteTable, Verb};

use super::{advisers, conferences, leaders, reception};
use crate::api::ApiState;

pub fn routes(t: RouteTable<ApiState>) -> RouteTable<ApiState> {
    t.route(
        Verb::Post,
        "/v1/conferences",
        Access::Staff,
        conferences::schedule,
    )
    .route(
        Verb::Get,
        "/v1/conferences",
        Access::Staff,
        conferences::list,
    )
    .route(
        Verb::Get,
        "/v1/conferences/{conference_id}",
        Access::Staff,
        conferences::show,
    )
    .route(
        Verb::Post,
        "/v1/conferences/{conference_id}/minutes",
        Access::Staff,
        conferences::minutes,
    )
    .route(
        Verb::Post,
        "/v1/conferences/{conference_id}/tasks/{decision_id}/done",
        Access::Staff,
        conferences::task_done,
    )
    // What a department's task message names (`action_routes`, action `task_done`).
    .route(
        Verb::Post,
        "/v1/conference-tasks/{decision_id}/done",
        Access::Staff,
        conferences::task_done_by_decision,
    )
    .route(Verb::Post, "/v1/advisers", Access::Staff, advisers::create)
    .route(Verb::Get, "/v1/advisers", Access::Staff, advisers::list)
    .route(
        Verb::Post,
        "/v1/advisers/{adviser_id}",
        Access::Staff,
        advisers::update,
    )
    .route(
        Verb::Post,
        "/v1/advisers/{adviser_id}/assignments",
        Access::Staff,
        advisers::assign,
    )
    .route(
        Verb::Post,
        "/v1/advice",
        Access::Staff,
        advisers::record_advice,
    )
    .route(
        Verb::Get,
        "/v1/advice",
        Access::Staff,
        advisers::list_advice,
    )
    .route(Verb::Post, "/v1/leaders", Access::Staff, leaders::upsert)
    .route(Verb::Get, "/v1/leaders", Access::Staff, leaders::list)
    .route(
        Verb::Post,
        "/v1/leaders/{leader_id}/cases",
        Access::Staff,
        leaders::assign_case,
    )
    .route(
        Verb::Get,
        "/v1/leaders/{leader_id}/cases",
        Access::Staff,
        leaders::cases,
    )
    .route(
        Verb::Post,
        "/v1/reception-days",
        Access::Staff,
        reception::create,
    )
    .route(
        Verb::Get,
        "/v1/reception-days",
        Access::Staff,
        reception::list,
    )
    .route(
        Verb::Post,
        "/v1/reception-days/{reception_day_id}/cases",
        Access::Staff,
        reception::receive_case,
    )
}

#[derive(OpenApi)]
#[openapi(
    paths(
        conferences::schedule,
        conferences::list,
        conferences::show,
        conferences::minutes,
        conferences::task_done,
        conferences::task_done_by_decision,
        advisers::create,
        advisers::list,
        advisers::update,
        advisers::assign,
        advisers::record_advice,
        advisers::list_advice,
        leaders::upsert,
        leaders::list,
        leaders::assign_case,
        leaders::cases,
        reception::create,
        reception::list,
        reception::receive_case,
    ),
    components(schemas(
        conferences::ScheduleRequest,
        conferences::ParticipantInput,
        conferences::MinutesRequest,
        conferences::DecisionInput,
        conferences::DoneRequest,
        conferences::ConferenceView,
        conferences::ParticipantView,
        conferences::DecisionView,
        advisers::NewAdviserRequest,
        advisers::UpdateAdviserRequest,
        advisers::AssignRequest,
        advisers::AdviserView,
        advisers::AdviceRequest,
        advisers::AdviceView,
        leaders::LeaderRequest,
        leaders::LeaderView,
        leaders::CaseRequest,
        leaders::LeaderCase,
        reception::ReceptionDayRequest,
        reception::ReceptionDayView,
    )),
    tags((name = "practices", description = "The bureau's practices: case conferences (会审), lawyers and counsellors, leaders' reception days and 包案"))
)]
struct PracticesDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    PracticesDoc::openapi()
}
