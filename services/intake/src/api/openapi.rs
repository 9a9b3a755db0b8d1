//! The OpenAPI document served at `/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "xinfang intake API",
        description = "Petition (信访) registration, case registry and petitioner queries."
    ),
    paths(
        super::petitions::register,
        super::cases::show,
        super::cases::list,
        super::cases::csv_export,
        super::cases::reclassify,
        super::cases::query,
    ),
    components(schemas(crate::register::Receipt))
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
