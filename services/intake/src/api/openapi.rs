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
        super::repeats::decide,
        super::classifier::state,
        super::classifier::retrain,
    ),
    components(schemas(
        crate::register::Receipt,
        crate::repeats::DecisionRequest,
        crate::repeats::DecisionReceipt,
        xinfang_domain::registration::RegistrationInput
    ))
)]
pub struct ApiDoc;

/// The document, completed with the platform's statuses and error schema.
pub fn value() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        xinfang_platform::api_doc::complete(&ApiDoc::openapi(), super::routes().routes())
    })
}

pub async fn document() -> Json<serde_json::Value> {
    Json(value().clone())
}
