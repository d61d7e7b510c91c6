//! The HTTP routes that talk to the provider directly rather than through a task: the
//! pre-flight checks (`POST /v1/checks/person`, `POST /v1/checks/garment`) and vendor
//! webhooks (`POST /v1/webhooks/fitinview`, `POST /v1/webhooks/vtryon`).
//!
//! `app` mounts [`checks`] beside the other v1 routes (so they share the CORS gate, the App
//! Proxy mount and the per-client check bucket) and [`webhooks`] at the top level only, since
//! vendors call it, not browsers. [`router`] serves both on their own, for the adapter tests.
//! Checks take an uploaded file (`person`, or the `photo_id` of a photo uploaded before;
//! `garment`, or a `garment_url` read like a create's),
//! prepared exactly like a try-on's images so the vendor judges what it would be sent; the provider caches verdicts by content, so the
//! same photo or product image is never paid for twice. A provider error is answered as
//! problem+json; a merchant's problem (no credit, refused key) is logged loudly and shown to
//! the shopper only as "unavailable".

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json};
use utoipa::ToSchema;

use super::{Provider, ProviderError, WebhookError};
use super::{fitinview, vtryon};
use crate::error::{ApiError, ProviderFailure};
use crate::garments::{GarmentSource, Requester};
use crate::images::{ImagePreparer, ImageRole};
use crate::shopify::AppProxyRequest;
use crate::upload::{read_url_field, refuse_contradicting_type};
use crate::wire::{GarmentCheck, PersonCheck, Problem, fields, paths};

/// Multipart overhead allowed on top of one image.
const FORM_OVERHEAD: u64 = 64 * 1024;
/// Vendor events are small JSON documents; anything bigger is not one.
const WEBHOOK_BODY_LIMIT: usize = 256 * 1024;

/// How much a check may upload and how long the provider may take to judge it.
#[derive(Debug, Clone, Copy)]
pub struct CheckLimits {
    pub max_image_bytes: u64,
    /// A vendor that has not answered by then is "unavailable" (503), not the client's fault.
    pub provider_timeout: Duration,
}

impl CheckLimits {
    /// The largest check request body: one image and its multipart framing.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_image_bytes.saturating_add(FORM_OVERHEAD)
    }
}

/// Where a person check finds the photo a `photo_id` names: the proxy's kept, re-encoded
/// copy (issue 14), so the check needs no upload of its own.
#[async_trait::async_trait]
pub trait UploadedPhotos: Send + Sync {
    /// The photo, or 404 `photo_not_found`.
    async fn person(&self, id: &str) -> Result<super::PreparedImage, ApiError>;
}

/// What the check handlers share.
pub(crate) struct Shared {
    provider: Arc<dyn Provider>,
    images: ImagePreparer,
    /// Where a `photo_id` is looked up; `None` takes person checks as uploads only.
    photos: Option<Arc<dyn UploadedPhotos>>,
    /// Where a `garment_url` is read from; `None` takes garment checks as uploads only.
    garments: Option<Arc<GarmentSource>>,
    limits: CheckLimits,
}

/// The check and webhook routes around `provider` on their own, for any outer router state.
pub fn router<S: Clone + Send + Sync + 'static>(
    provider: Arc<dyn Provider>,
    images: ImagePreparer,
    max_image_bytes: u64,
) -> Router<S> {
    let limits = CheckLimits {
        max_image_bytes,
        provider_timeout: Duration::from_secs(10),
    };
    checks(provider.clone(), images, None, None, limits).merge(webhooks(provider))
}

/// `POST /v1/checks/person` and `POST /v1/checks/garment`; garment URLs are read through
/// `garments` (the same source, policy and cache as a create's), photo ids from `photos`.
pub fn checks<S: Clone + Send + Sync + 'static>(
    provider: Arc<dyn Provider>,
    images: ImagePreparer,
    photos: Option<Arc<dyn UploadedPhotos>>,
    garments: Option<Arc<GarmentSource>>,
    limits: CheckLimits,
) -> Router<S> {
    let body_limit = usize::try_from(limits.max_body_bytes()).unwrap_or(usize::MAX);
    Router::new()
        .route(paths::CHECK_PERSON, post(check_person))
        .route(paths::CHECK_GARMENT, post(check_garment))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(Arc::new(Shared {
            provider,
            images,
            photos,
            garments,
            limits,
        }))
}

/// `POST /v1/webhooks/fitinview` and `POST /v1/webhooks/vtryon`.
pub fn webhooks<S: Clone + Send + Sync + 'static>(provider: Arc<dyn Provider>) -> Router<S> {
    Router::new()
        .route(fitinview::WEBHOOK_PATH, post(fitinview_webhook))
        .route(vtryon::WEBHOOK_PATH, post(vtryon_webhook))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(provider)
}

/// The multipart form of `POST /v1/checks/person`, for the OpenAPI document only.
#[derive(ToSchema)]
pub struct PersonCheckForm {
    /// The shopper's photo: JPEG, PNG or WebP (sniffed from the bytes); this or `photo_id`.
    #[schema(content_media_type = "application/octet-stream")]
    pub person: Option<Vec<u8>>,
    /// The id `POST /v1/photos` answered: the check runs on the proxy's copy.
    pub photo_id: Option<String>,
}

/// The multipart form of `POST /v1/checks/garment`, for the OpenAPI document only.
#[derive(ToSchema)]
pub struct GarmentCheckForm {
    /// The garment photo: JPEG, PNG or WebP (sniffed from the bytes); this or `garment_url`.
    #[schema(content_media_type = "application/octet-stream")]
    pub garment: Option<Vec<u8>>,
    /// URL of the garment image, under an allowed prefix, as for `POST /v1/tryons`.
    pub garment_url: Option<String>,
}

/// Is this person photo usable, before a credit is spent? `source` says whether the vendor
/// judged it or the proxy's local checks did (resolution, aspect); the same photo is judged once.
#[utoipa::path(post, path = "/v1/checks/person", tag = "checks",
    request_body(content = inline(PersonCheckForm), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The verdict; `ok: false` means do not create the try-on", body = PersonCheck),
        (status = 400, description = "`missing_field` or `invalid_field`", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "`photo_not_found`: `photo_id` is unknown, expired or deleted", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "`image_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_image`, or the vendor refused the image", body = Problem,
            content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "`provider_unavailable`, `provider_out_of_credit` or `provider_auth`: go on without the check",
            body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn check_person(
    State(shared): State<Arc<Shared>>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let image = match read_person(&shared, form).await {
        Ok(image) => image,
        Err(error) => return error.into_response(),
    };
    let judged = shared.bounded(shared.provider.check_person(&image)).await;
    let billed = CheckJudged::of(&judged);
    let response = match judged {
        Ok(check) => Json(check).into_response(),
        Err(error) => provider_problem(&error),
    };
    billed.mark(response)
}

/// What kind of garment is this, and is it usable? `kind` is `null` when only the local
/// checks (size) ran.
#[utoipa::path(post, path = "/v1/checks/garment", tag = "checks",
    request_body(content = inline(GarmentCheckForm), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The verdict", body = GarmentCheck),
        (status = 400, description = "`missing_field`, `invalid_field` or `garment_url_not_allowed`", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "`image_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_image`, or the vendor refused the image", body = Problem,
            content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "`provider_unavailable`, `provider_out_of_credit` or `provider_auth`",
            body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn check_garment(
    State(shared): State<Arc<Shared>>,
    app_proxy: Option<Extension<AppProxyRequest>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let relayed = app_proxy.as_ref().map(|Extension(relayed)| relayed);
    let requester = Requester::of_request(&headers, relayed);
    let image = match read_garment(&shared, form, &requester).await {
        Ok(image) => image,
        Err(error) => return error.into_response(),
    };
    let judged = shared.bounded(shared.provider.check_garment(&image)).await;
    let billed = CheckJudged::of(&judged);
    let response = match judged {
        Ok(check) => Json(check).into_response(),
        Err(error) => provider_problem(&error),
    };
    billed.mark(response)
}

/// Issue 13: on the answer of a check the provider judged, whether the vendor may have billed
/// it ([`ProviderError::may_be_billed`]; a verdict from the provider's cache counts too, as
/// the route cannot tell). The check gate keeps a paid check's quota reservation only then;
/// an answer without it (refused before the provider was asked) gives it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckJudged {
    pub may_be_billed: bool,
}

impl CheckJudged {
    fn of<T>(judged: &Result<T, ProviderError>) -> Self {
        Self {
            may_be_billed: super::may_have_billed(judged),
        }
    }

    fn mark(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

impl Shared {
    /// The provider's verdict, or [`ProviderError::Timeout`] once the limit has passed.
    async fn bounded<T>(
        &self,
        judging: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let limit = self.limits.provider_timeout;
        tokio::time::timeout(limit, judging)
            .await
            .unwrap_or(Err(ProviderError::Timeout(limit)))
    }
}

/// An image as the client supplied it.
enum Supplied {
    File(Bytes),
    Url(String),
}

async fn read_person(
    shared: &Shared,
    form: Result<Multipart, MultipartRejection>,
) -> Result<super::PreparedImage, ApiError> {
    let bytes = match read_supplied(shared, form, fields::PERSON, Some(fields::PHOTO_ID)).await? {
        Supplied::File(bytes) => bytes,
        Supplied::Url(id) => {
            let photos = shared.photos.as_ref().ok_or(ApiError::PhotoNotFound)?;
            return photos.person(id.trim()).await;
        }
    };
    shared
        .images
        .prepare(fields::PERSON, ImageRole::Person, bytes)
        .await
}

async fn read_garment(
    shared: &Shared,
    form: Result<Multipart, MultipartRejection>,
    requester: &Requester,
) -> Result<super::PreparedImage, ApiError> {
    let url_field = fields::GARMENT_URL;
    let (field, bytes) = match read_supplied(shared, form, fields::GARMENT, Some(url_field)).await?
    {
        Supplied::File(bytes) => (fields::GARMENT, bytes),
        Supplied::Url(url) => {
            let garments = shared.garments.as_ref().ok_or_else(|| {
                ApiError::GarmentUrlNotAllowed("this server checks uploaded garments only".into())
            })?;
            (url_field, garments.load(url.trim(), requester).await?)
        }
    };
    shared
        .images
        .prepare(field, ImageRole::Garment, bytes)
        .await
}

/// Reads the file part `field`, or the text part `url_field` if there is one (other parts are
/// skipped), within the image byte limit.
async fn read_supplied(
    shared: &Shared,
    form: Result<Multipart, MultipartRejection>,
    field: &'static str,
    url_field: Option<&'static str>,
) -> Result<Supplied, ApiError> {
    let mut form = form.map_err(|rejection| {
        ApiError::InvalidField(format!(
            "expected a multipart/form-data body: {}",
            rejection.body_text()
        ))
    })?;
    let too_large = || {
        ApiError::ImageTooLarge(format!(
            "`{field}` is over {} bytes",
            shared.limits.max_image_bytes
        ))
    };
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::InvalidField(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    while let Some(part) = form.next_field().await.map_err(malformed)? {
        if let Some(url_field) = url_field.filter(|name| part.name() == Some(*name)) {
            return Ok(Supplied::Url(read_url_field(part, url_field).await?));
        }
        if part.name() != Some(field) {
            continue;
        }
        let declared = part.content_type().map(str::to_owned);
        let bytes = part.bytes().await.map_err(malformed)?;
        // The same rules as a create's parts (issue 6): a PNG declared as JPEG is a lie.
        refuse_contradicting_type(field, declared.as_deref(), &bytes)?;
        if bytes.len() as u64 > shared.limits.max_image_bytes {
            return Err(too_large());
        }
        return Ok(Supplied::File(bytes));
    }
    Err(ApiError::MissingField(field))
}

/// A provider error as problem+json. The shopper never learns the merchant's account state.
fn provider_problem(error: &ProviderError) -> Response {
    let code = error.to_task_error().code;
    // The vendor's words are logged here; the answer carries the fixed sentence of the code.
    let kind = match error {
        ProviderError::InputRejected { .. } | ProviderError::RejectedBilled { .. } => {
            tracing::info!(code = code.as_str(), %error, "the provider refused a checked image");
            ProviderFailure::RefusedImage
        }
        ProviderError::OutOfCredit(_) | ProviderError::Auth(_) => {
            tracing::error!(code = code.as_str(), %error, "the provider refused a check: merchant action needed");
            ProviderFailure::Unavailable
        }
        ProviderError::Unavailable { .. } | ProviderError::Timeout(_) => {
            tracing::warn!(%error, "a check could not reach the provider");
            ProviderFailure::Unavailable
        }
        ProviderError::Failed(_) => {
            tracing::warn!(%error, "the provider failed a check");
            ProviderFailure::Failed
        }
    };
    ApiError::Provider {
        code,
        detail: super::fixed_message(code),
        kind,
    }
    .into_response()
}

/// The webhook routes' part of the OpenAPI document (`openapi.rs` merges it in).
#[derive(utoipa::OpenApi)]
#[openapi(paths(fitinview_webhook, vtryon_webhook))]
pub struct WebhookDoc;

/// FitInView's job events, signed with the `whsec_` secret (`X-FitInView-Signature`, HMAC-SHA256
/// of the raw body); the adapter verifies before believing anything. Called by FitInView only.
#[utoipa::path(post, path = "/v1/webhooks/fitinview", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "A FitInView job event"),
    params(("X-FitInView-Signature" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the body")),
    responses(
        (status = 204, description = "Accepted (duplicates and unknown jobs are accepted and ignored)"),
        (status = 400, description = "`invalid_field`: not a FitInView event", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: missing or wrong signature", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: this proxy takes no FitInView webhooks", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn fitinview_webhook(
    State(provider): State<Arc<dyn Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&*provider, &FITINVIEW, &headers, &body).await
}

/// Vtryon's task events (the URL is set in Vtryon's dashboard), signed with the `whsec_`
/// secret in `x-vtryon-signature` over the raw body; the adapter verifies before believing
/// anything. An event only makes the task's status be read at once. Called by Vtryon only.
#[utoipa::path(post, path = "/v1/webhooks/vtryon", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "A Vtryon task event"),
    params(("x-vtryon-signature" = String, Header, description = "`v1,` and the base64 HMAC-SHA256 of the body, keyed with the base64-decoded secret after `whsec_` (several may be listed, space-separated)")),
    responses(
        (status = 204, description = "Accepted (duplicates and unknown tasks are accepted and ignored)"),
        (status = 400, description = "`invalid_field`: not a Vtryon task event", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: missing or wrong signature", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: this proxy takes no Vtryon webhooks", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn vtryon_webhook(
    State(provider): State<Arc<dyn Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&*provider, &VTRYON, &headers, &body).await
}

/// Where a vendor's webhooks arrive and how they are signed.
struct WebhookRoute {
    vendor: &'static str,
    path: &'static str,
    /// The vendor's own spelling, for messages.
    display: &'static str,
    signature_header: &'static str,
}

const FITINVIEW: WebhookRoute = WebhookRoute {
    vendor: "fitinview",
    path: fitinview::WEBHOOK_PATH,
    display: "FitInView",
    signature_header: "x-fitinview-signature",
};

const VTRYON: WebhookRoute = WebhookRoute {
    vendor: "vtryon",
    path: vtryon::WEBHOOK_PATH,
    display: "Vtryon",
    signature_header: "x-vtryon-signature",
};

async fn receive(
    provider: &dyn Provider,
    route: &WebhookRoute,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let signature = headers
        .get(route.signature_header)
        .and_then(|v| v.to_str().ok());
    let display = route.display;
    match provider.webhook(route.vendor, signature, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(WebhookError::NotConfigured) => ApiError::NoRoute(format!(
            "POST {}: this proxy takes no {display} webhooks",
            route.path
        ))
        .into_response(),
        Err(WebhookError::BadSignature) => {
            tracing::warn!(
                vendor = route.vendor,
                "a webhook with a missing or wrong signature was refused"
            );
            ApiError::BadSignature("missing or wrong signature".into()).into_response()
        }
        Err(WebhookError::Malformed) => {
            ApiError::InvalidField(format!("not a {display} event")).into_response()
        }
    }
}
