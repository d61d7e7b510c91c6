//! The HTTP routes that talk to the provider directly rather than through a task: the
//! pre-flight checks (`POST /v1/checks/person`, `POST /v1/checks/garment`) and vendor
//! webhooks (`POST /v1/webhooks/fitinview`).
//!
//! Mount with `Router::merge(providers::routes::router(provider, images, max_image_bytes))`.
//! Checks take an uploaded file (`person`, `garment`), prepared exactly like a try-on's images
//! so the vendor judges what it would be sent; the provider caches verdicts by content, so the
//! same photo or product image is never paid for twice. A provider error is answered as
//! problem+json; a merchant's problem (no credit, refused key) is logged loudly and shown to
//! the shopper only as "unavailable".

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::fitinview::WEBHOOK_PATH;
use super::{Provider, ProviderError, WebhookError};
use crate::error::ApiError;
use crate::images::{ImagePreparer, ImageRole};
use crate::wire::{ErrorCode, PROBLEM_TYPE_BASE, Problem, fields, media, paths};

/// Multipart overhead allowed on top of one image.
const FORM_OVERHEAD: u64 = 64 * 1024;

struct Shared {
    provider: Arc<dyn Provider>,
    images: ImagePreparer,
    max_image_bytes: u64,
}

/// The check and webhook routes around `provider`, for any outer router state.
pub fn router<S: Clone + Send + Sync + 'static>(
    provider: Arc<dyn Provider>,
    images: ImagePreparer,
    max_image_bytes: u64,
) -> Router<S> {
    let limit =
        usize::try_from(max_image_bytes.saturating_add(FORM_OVERHEAD)).unwrap_or(usize::MAX);
    Router::new()
        .route(paths::CHECK_PERSON, post(check_person))
        .route(paths::CHECK_GARMENT, post(check_garment))
        .route(WEBHOOK_PATH, post(fitinview_webhook))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(Shared {
            provider,
            images,
            max_image_bytes,
        }))
}

async fn check_person(State(shared): State<Arc<Shared>>, form: Multipart) -> Response {
    let image = match read_image(&shared, form, fields::PERSON, ImageRole::Person).await {
        Ok(image) => image,
        Err(error) => return error.into_response(),
    };
    match shared.provider.check_person(&image).await {
        Ok(check) => Json(check).into_response(),
        Err(error) => provider_problem(&error),
    }
}

async fn check_garment(State(shared): State<Arc<Shared>>, form: Multipart) -> Response {
    let image = match read_image(&shared, form, fields::GARMENT, ImageRole::Garment).await {
        Ok(image) => image,
        Err(error) => return error.into_response(),
    };
    match shared.provider.check_garment(&image).await {
        Ok(check) => Json(check).into_response(),
        Err(error) => provider_problem(&error),
    }
}

/// Reads the file part `field` (other parts are skipped) and prepares it.
async fn read_image(
    shared: &Shared,
    mut form: Multipart,
    field: &'static str,
    role: ImageRole,
) -> Result<super::PreparedImage, ApiError> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::ImageTooLarge(format!(
                "`{field}` is over {} bytes",
                shared.max_image_bytes
            ))
        } else {
            ApiError::InvalidField(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    while let Some(part) = form.next_field().await.map_err(malformed)? {
        if part.name() != Some(field) {
            continue;
        }
        let bytes = part.bytes().await.map_err(malformed)?;
        if bytes.len() as u64 > shared.max_image_bytes {
            return Err(ApiError::ImageTooLarge(format!(
                "`{field}` is over {} bytes",
                shared.max_image_bytes
            )));
        }
        return shared.images.prepare(field, role, bytes).await;
    }
    Err(ApiError::MissingField(field))
}

/// A provider error as problem+json. The shopper never learns the merchant's account state.
fn provider_problem(error: &ProviderError) -> Response {
    let task_error = error.to_task_error();
    let (status, detail) = match error {
        ProviderError::InputRejected { message, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, message.clone())
        }
        ProviderError::OutOfCredit(_) | ProviderError::Auth(_) => {
            tracing::error!(code = task_error.code.as_str(), %error, "the provider refused a check: merchant action needed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "try-on is unavailable right now".to_owned(),
            )
        }
        ProviderError::Unavailable { .. } | ProviderError::Timeout(_) => {
            tracing::warn!(%error, "a check could not reach the provider");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the check service is unavailable right now".to_owned(),
            )
        }
        ProviderError::Failed(_) => (
            StatusCode::BAD_GATEWAY,
            "the check failed at the provider".to_owned(),
        ),
    };
    problem(status, task_error.code, detail)
}

fn problem(status: StatusCode, code: ErrorCode, detail: String) -> Response {
    let body = Problem {
        type_: format!("{PROBLEM_TYPE_BASE}{}", code.as_str()),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, media::PROBLEM_JSON)], json).into_response()
}

/// `X-FitInView-Signature` over the raw body; the adapter verifies before believing anything.
async fn fitinview_webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("x-fitinview-signature")
        .and_then(|v| v.to_str().ok());
    match shared.provider.webhook(signature, &body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(WebhookError::NotConfigured) => problem(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "this proxy takes no FitInView webhooks".into(),
        ),
        Err(WebhookError::BadSignature) => {
            tracing::warn!("a FitInView webhook with a missing or wrong signature was refused");
            problem(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "missing or wrong signature".into(),
            )
        }
        Err(WebhookError::Malformed) => problem(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "not a FitInView event".into(),
        ),
    }
}
