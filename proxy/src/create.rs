//! `POST /v1/tryons`: from a multipart upload to a queued task, in that order:
//! size check on `Content-Length` (before a byte of the body is read), streamed form with
//! per-field caps, field validation, `Idempotency-Key`, garment URLs, image preparation, and
//! finally the registry. Nothing reaches the registry (or the provider) unless every image
//! decoded within its limits.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{ConnectInfo, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::ToSchema;

use crate::abuse::{Charge, Client};
use crate::error::ApiError;
use crate::garments::Requester;
use crate::idempotency::{self, Claim};
use crate::images::ImageRole;
use crate::job::{PreparedImage, TryOnJob};
use crate::photos;
use crate::recent::Submission;
use crate::shopify::AppProxyRequest;
use crate::state::AppState;
use crate::store::off_runtime;
use crate::upload::{self, GarmentInput, TryOnForm};
use crate::wire::TaskStatus;
use crate::wire::{CreatedTryOn, DirectStream, Problem, TryOnLinks, fields};

/// The multipart form of `POST /v1/tryons`, for the OpenAPI document only: the handler reads
/// the parts as they stream in (see [`upload`]).
#[derive(ToSchema)]
pub struct CreateTryOnForm {
    /// The shopper's photo: JPEG, PNG or WebP (sniffed from the bytes); this or `photo_id`.
    #[schema(content_media_type = "application/octet-stream")]
    pub person: Option<Vec<u8>>,
    /// The id `POST /v1/photos` answered, instead of `person`; 404 `photo_not_found` once
    /// it expired or was deleted (upload it again).
    pub photo_id: Option<String>,
    /// The garment photo; this or `garment_url` is required.
    #[schema(content_media_type = "application/octet-stream")]
    pub garment: Option<Vec<u8>>,
    /// URL of the garment image, under an allowed prefix; this or `garment` is required.
    pub garment_url: Option<String>,
    /// Lower garment for `category=combo`.
    #[schema(content_media_type = "application/octet-stream")]
    pub lower_garment: Option<Vec<u8>>,
    /// URL of the lower garment for `category=combo`.
    pub lower_garment_url: Option<String>,
    /// `upper|lower|full|combo|auto`, default `auto`.
    pub category: Option<String>,
    /// `fast|balanced|best`, default `balanced`.
    pub quality: Option<String>,
}

/// Starts a try-on. Answers as soon as the task is queued; follow it with `links.events`.
#[utoipa::path(post, path = "/v1/tryons", tag = "tryon",
    request_body(content = inline(CreateTryOnForm), content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Same key and body: the same task again; same key, other body: 422")),
    responses(
        (status = 202, description = "Queued", body = CreatedTryOn),
        (status = 400, description = "`missing_field`, `invalid_field` or `garment_url_not_allowed`", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "`photo_not_found`: `photo_id` is unknown, expired or deleted", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "`image_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_image` or `idempotency_key_reused`", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn create_tryon(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    app_proxy: Option<Extension<AppProxyRequest>>,
    request_headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    // Issue 7: a draining instance starts nothing new; the client retries on another.
    if state.is_shutting_down() {
        return Err(ApiError::StoreUnavailable);
    }
    upload::check_declared_length(&request_headers, state.settings.max_request_bytes)?;
    let key = idempotency::key_of(&request_headers)?;
    // Issue 6: everything that can refuse without the body does so before reading it.
    let admission = Admission {
        state: &state,
        peer,
        app_proxy,
        headers: &request_headers,
    };
    let charge = admission.before_body(key.as_deref()).await?;
    let multipart = multipart.map_err(|rejection| {
        ApiError::InvalidField(format!(
            "expected a multipart/form-data body: {}",
            rejection.body_text()
        ))
    })?;
    let form = upload::read_form(multipart, state.settings.max_image_bytes).await?;
    let form = photos::resolve_person(&state, form).await?;
    let requester = admission.requester();
    let mut created = match key {
        None => submit_once(&state, form, &requester, admission.charge(charge).await?).await?,
        Some(key) => match state.idempotency.claim(&key, form.fingerprint).await? {
            Claim::Replay(id) => replay(&state, &id).await?,
            Claim::Fresh(guard) => {
                let created =
                    submit_once(&state, form, &requester, admission.charge(charge).await?).await?;
                guard.complete(created.id.clone()).await;
                created
            }
        },
    };
    created.stream = admission.direct_stream(&created.id);
    Ok(accepted(created))
}

/// The issue 6 gate in front of a create: a required key for browsers, 409 for a key in
/// flight, and the client's rate limit and the daily quotas. Issue 13: a replay of a finished
/// key is not free either (its body is read and hashed to be compared): it takes a token of
/// the client's looser replay bucket. The client of a request the App Proxy relayed is the
/// shopper within the shop, not Shopify's relay.
struct Admission<'a> {
    state: &'a AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    app_proxy: Option<Extension<AppProxyRequest>>,
    headers: &'a HeaderMap,
}

impl Admission<'_> {
    async fn before_body(&self, key: Option<&str>) -> Result<Option<Charge>, ApiError> {
        match key {
            // Browsers always send `Origin` on a POST; server-to-server callers need no key.
            None if self.headers.contains_key(header::ORIGIN) => Err(ApiError::MissingField(
                "Idempotency-Key header (browsers must send one with every create)",
            )),
            Some(key) if self.state.idempotency.in_flight(key) => {
                Err(ApiError::IdempotencyKeyInUse)
            }
            Some(key) if self.state.idempotency.completed(key).await => {
                self.state.limiter.admit_replay(self.client()).await?;
                Ok(None)
            }
            _ => self.admit().await.map(Some),
        }
    }

    /// The reservation for a task about to be created, taken now if the key looked like a replay.
    async fn charge(&self, reserved: Option<Charge>) -> Result<Charge, ApiError> {
        match reserved {
            Some(charge) => Ok(charge),
            None => self.admit().await,
        }
    }

    /// Where this request's garment URLs may point (see [`Requester::of_request`]).
    fn requester(&self) -> Requester {
        let relayed = self.app_proxy.as_ref().map(|Extension(relayed)| relayed);
        Requester::of_request(self.headers, relayed)
    }

    /// Issue 5: a create relayed by the App Proxy gets a link to open the task's event stream
    /// directly, since the App Proxy may not pass streams through.
    fn direct_stream(&self, task_id: &str) -> Option<DirectStream> {
        let Extension(relayed) = self.app_proxy.as_ref()?;
        let shopify = self.state.shopify.as_ref()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or_default();
        shopify.direct_stream(task_id, relayed, now)
    }

    async fn admit(&self) -> Result<Charge, ApiError> {
        Ok(self
            .state
            .limiter
            .admit_create(self.client(), self.shop())
            .await?)
    }

    /// The shop of a request the App Proxy relayed (its signature verified).
    fn shop(&self) -> Option<&str> {
        self.app_proxy
            .as_ref()
            .map(|Extension(request)| request.proxy.shop.as_str())
    }

    fn client(&self) -> Client {
        let peer = self.peer.as_ref().map(|Extension(peer)| peer);
        let relayed = self.app_proxy.as_ref().map(|Extension(relayed)| relayed);
        self.state.client_of(peer, relayed, self.headers)
    }
}

/// Creates the task unless the same submission (photo, garment, options) made one within the
/// last ten minutes, so a double click is never a double charge.
async fn submit_once(
    state: &AppState,
    form: TryOnForm,
    requester: &Requester,
    charge: Charge,
) -> Result<CreatedTryOn, ApiError> {
    // Both the lookup and `reusable` may read a shared store: off the runtime's threads.
    let (recent, registry, fingerprint) = (
        state.recent.clone(),
        state.registry.clone(),
        form.fingerprint,
    );
    let submission = tokio::task::spawn_blocking(move || {
        recent.begin(fingerprint, |id| {
            registry
                .view(id)
                .is_some_and(|view| view.status != TaskStatus::Failed)
        })
    })
    .await
    .map_err(|_| ApiError::Internal("looking a submission up panicked".into()))?;
    match submission {
        Submission::Existing(id) => replay(state, &id).await,
        Submission::InFlight => Err(ApiError::IdempotencyKeyInUse),
        Submission::Fresh(guard) => {
            let created = submit(state, form, requester, charge).await?;
            guard.created(created.id.clone()).await;
            Ok(created)
        }
    }
}

/// Prepares every image and queues the task.
async fn submit(
    state: &AppState,
    form: TryOnForm,
    requester: &Requester,
    charge: Charge,
) -> Result<CreatedTryOn, ApiError> {
    let lower = async {
        match form.lower_garment {
            Some(input) => prepare_garment(
                state,
                fields::LOWER_GARMENT,
                fields::LOWER_GARMENT_URL,
                input,
                requester,
            )
            .await
            .map(Some),
            None => Ok(None),
        }
    };
    let (person, garment, lower_garment) = tokio::try_join!(
        photos::person_image(state, form.person),
        prepare_garment(
            state,
            fields::GARMENT,
            fields::GARMENT_URL,
            form.garment,
            requester
        ),
        lower,
    )?;
    let job = TryOnJob {
        person,
        garment,
        lower_garment,
        category: form.category,
        quality: form.quality,
    };
    let settle = move |accepted: bool| {
        tokio::spawn(charge.settle(accepted));
    };
    // Store writes (on Redis network round trips): off the runtime's threads (issue 13).
    let registry = state.registry.clone();
    let view =
        tokio::task::spawn_blocking(move || registry.create_then(job, Some(Box::new(settle))))
            .await
            .map_err(|_| ApiError::Internal("creating a task panicked".into()))?
            .map_err(|error| {
                // Fail closed: no task, so the reservation is given back when `settle` drops.
                tracing::error!(%error, "creating a task failed");
                ApiError::StoreUnavailable
            })?;
    Ok(CreatedTryOn {
        links: TryOnLinks::for_task(&view.id),
        id: view.id,
        status: view.status,
        stream: None,
    })
}

async fn prepare_garment(
    state: &AppState,
    file_field: &'static str,
    url_field: &'static str,
    input: GarmentInput,
    requester: &Requester,
) -> Result<PreparedImage, ApiError> {
    match input {
        GarmentInput::Upload(bytes) => {
            state
                .images
                .prepare(file_field, ImageRole::Garment, bytes)
                .await
        }
        GarmentInput::Url(url) => {
            let bytes = state.garments.load(&url, requester).await?;
            state
                .images
                .prepare(url_field, ImageRole::Garment, bytes)
                .await
        }
    }
}

/// The answer a repeated request with the same key and body gets: the same task, which on a
/// shared store may have to be read from it (off the runtime's threads).
async fn replay(state: &AppState, id: &str) -> Result<CreatedTryOn, ApiError> {
    let (registry, id) = (state.registry.clone(), id.to_owned());
    let view = off_runtime(move || registry.view(&id))
        .await
        .ok_or(ApiError::NotFound)?;
    Ok(CreatedTryOn {
        id: view.id.clone(),
        status: view.status,
        links: TryOnLinks::for_task(&view.id),
        stream: None,
    })
}

fn accepted(created: CreatedTryOn) -> Response {
    let location = HeaderValue::from_str(&created.links.self_).expect("task paths are ASCII");
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(created),
    )
        .into_response()
}
