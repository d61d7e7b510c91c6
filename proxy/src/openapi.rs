//! `GET /v1/openapi.json`: the v1 contract as an OpenAPI 3.1 document, generated from the
//! handlers' `#[utoipa::path]` attributes and the [`crate::wire`] types, so it cannot drift
//! from what the server does.

use axum::Json;
use utoipa::OpenApi;

use crate::wire::{
    Category, CheckIssue, CheckSource, CheckSources, ChecksAvailable, ConfigResponse, CreatedTryOn,
    DirectStream, ErrorCode, GarmentCheck, GarmentKind, Limits, PersonCheck, Problem, ProgressKind,
    Quality, ResultInfo, Severity, TaskError, TaskStatus, TryOnLinks, TryOnView, UploadedPhoto,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Try-on proxy",
        description = "The v1 contract between the <try-on-button> widget and its proxy."
    ),
    paths(
        crate::api::get_config,
        crate::create::create_tryon,
        crate::api::get_tryon,
        crate::events::tryon_events,
        crate::api::get_result,
        crate::api::delete_tryon,
        crate::api::healthz,
        crate::photos::upload_photo,
        crate::photos::get_photo,
        crate::photos::delete_photo,
        crate::providers::routes::check_person,
        crate::providers::routes::check_garment,
        openapi_json,
    ),
    components(schemas(
        ConfigResponse,
        ChecksAvailable,
        Limits,
        Category,
        Quality,
        CreatedTryOn,
        DirectStream,
        TryOnLinks,
        TryOnView,
        TaskStatus,
        ProgressKind,
        ResultInfo,
        TaskError,
        Problem,
        ErrorCode,
        CheckSources,
        CheckSource,
        PersonCheck,
        CheckIssue,
        Severity,
        GarmentCheck,
        GarmentKind,
        UploadedPhoto,
    ))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    let mut document = ApiDoc::openapi();
    // The vendors' webhook routes, which only `providers/` may name.
    document.merge(crate::providers::routes::WebhookDoc::openapi());
    Json(document)
}
