//! `POST /v1/photos`, `GET` and `DELETE /v1/photos/{id}` (issue 14): the shopper's photo
//! crosses her slow uplink once. The person check and every try-on then name it with a
//! `photo_id` field instead of sending it again.
//!
//! An upload passes the same gates as a create (declared length, `Idempotency-Key`, a per-IP
//! bucket of its own, the multipart caps, sniffing, the decode gate and the re-encode), and
//! what is kept is the proxy's re-encoded copy, in the store (so every instance on a shared
//! store finds it) until `TRYON_PHOTO_TTL` passes. A task created from a photo copies the image
//! into its own job, so deleting the photo never breaks a running try-on. Photos are never
//! logged: only their id and size reach a log line.

use std::net::SocketAddr;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{ConnectInfo, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::ToSchema;

use crate::abuse::Client;
use crate::error::ApiError;
use crate::idempotency::Claim;
use crate::images::ImageRole;
use crate::job::PreparedImage;
use crate::kept_photos::uploaded;
use crate::shopify::AppProxyRequest;
use crate::state::AppState;
use crate::upload::{self, PersonInput, TryOnForm};
use crate::wire::{Problem, UploadedPhoto, fields, paths};

/// Multipart overhead allowed on top of the one image of an upload.
const FORM_OVERHEAD: u64 = 64 * 1024;

/// A create's form with its `photo_id` replaced by the photo, and the photo's content hash in
/// its fingerprint (so a re-upload of the same photo is still the same submission).
pub async fn resolve_person(state: &AppState, form: TryOnForm) -> Result<TryOnForm, ApiError> {
    let PersonInput::Uploaded(id) = &form.person else {
        return Ok(form);
    };
    let photo = state.photos.find(id).await?;
    Ok(TryOnForm {
        person: PersonInput::Prepared(photo.image),
        ..form
    }
    .with_photo_hash(&photo.content_hash))
}

/// The person image of a create: re-encoded now if it was sent, the kept copy if it was named.
pub async fn person_image(
    state: &AppState,
    person: PersonInput,
) -> Result<PreparedImage, ApiError> {
    match person {
        PersonInput::Upload(bytes) => {
            state
                .images
                .prepare(fields::PERSON, ImageRole::Person, bytes)
                .await
        }
        PersonInput::Uploaded(id) => Ok(state.photos.find(&id).await?.image),
        PersonInput::Prepared(image) => Ok(image),
    }
}

/// The multipart form of `POST /v1/photos`, for the OpenAPI document only.
#[derive(ToSchema)]
pub struct UploadPhotoForm {
    /// The shopper's photo: JPEG, PNG or WebP (sniffed from the bytes).
    #[schema(content_media_type = "application/octet-stream")]
    pub person: Vec<u8>,
}

/// Keeps the shopper's photo for `TRYON_PHOTO_TTL` (see `/v1/config`'s `photo_ttl_s`), so the
/// person check and every try-on can name it with `photo_id` instead of sending it again.
#[utoipa::path(post, path = "/v1/photos", tag = "photos",
    request_body(content = inline(UploadPhotoForm), content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Required from browsers. Same key and body: the same photo again; same key, other body: 422")),
    responses(
        (status = 201, description = "Kept until `expires_at`", body = UploadedPhoto),
        (status = 400, description = "`missing_field` or `invalid_field`", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "`image_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_image` or `idempotency_key_reused`", body = Problem,
            content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn upload_photo(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    app_proxy: Option<Extension<AppProxyRequest>>,
    request_headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::StoreUnavailable);
    }
    upload::check_declared_length(&request_headers, max_body_bytes(&state))?;
    // A namespace of its own, so a key reused for a create is not this upload's replay.
    let key = crate::idempotency::key_of(&request_headers)?.map(|key| format!("photo:{key}"));
    let replay = match &key {
        None if request_headers.contains_key(header::ORIGIN) => {
            return Err(ApiError::MissingField(
                "Idempotency-Key header (browsers must send one with every upload)",
            ));
        }
        None => false,
        Some(key) if state.idempotency.in_flight(key) => {
            return Err(ApiError::IdempotencyKeyInUse);
        }
        Some(key) => state.idempotency.completed(key).await,
    };
    let client = client(&state, peer, app_proxy, &request_headers);
    if replay {
        // Issue 13: reading and hashing a replayed body costs too, as for a create's replay.
        state.limiter.admit_replay(client).await?;
    } else {
        state.limiter.admit_photo(client).await?;
    }
    let multipart = multipart.map_err(|rejection| {
        ApiError::InvalidField(format!(
            "expected a multipart/form-data body: {}",
            rejection.body_text()
        ))
    })?;
    let (bytes, fingerprint) =
        upload::read_photo_form(multipart, state.settings.max_image_bytes).await?;
    let prepare = || async {
        let image = state
            .images
            .prepare(fields::PERSON, ImageRole::Person, bytes)
            .await?;
        state.photos.keep(image).await
    };
    let photo = match key {
        None => prepare().await?,
        Some(key) => match state.idempotency.claim(&key, fingerprint).await? {
            Claim::Replay(id) => uploaded(&id, state.photos.find(&id).await?.expires_ms),
            Claim::Fresh(guard) => {
                let photo = prepare().await?;
                guard.complete(photo.id.clone()).await;
                photo
            }
        },
    };
    let location = HeaderValue::from_str(&paths::photo(&photo.id)).expect("photo ids are hex");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(photo),
    )
        .into_response())
}

/// The largest upload body: one image and its multipart framing.
pub fn max_body_bytes(state: &AppState) -> u64 {
    state.settings.max_image_bytes.saturating_add(FORM_OVERHEAD)
}

/// The photo bucket of the client (issue 14): uploads are free but each costs a decode.
/// Who the upload's buckets belong to, as for a create: the address, or behind Shopify's App
/// Proxy the shopper within the shop (else every shopper would share the relay's bucket).
fn client(
    state: &AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    app_proxy: Option<Extension<AppProxyRequest>>,
    request_headers: &HeaderMap,
) -> Client {
    let peer = peer.map(|Extension(peer)| peer);
    let relayed = app_proxy.map(|Extension(relayed)| relayed);
    state.client_of(peer.as_ref(), relayed.as_ref(), request_headers)
}

/// When an uploaded photo expires.
#[utoipa::path(get, path = "/v1/photos/{id}", tag = "photos",
    params(("id" = String, Path, description = "Photo id")),
    responses(
        (status = 200, description = "The photo is kept until `expires_at`", body = UploadedPhoto),
        (status = 404, description = "`photo_not_found`: unknown, expired or deleted", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn get_photo(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UploadedPhoto>, ApiError> {
    let photo = state.photos.find(&id).await?;
    Ok(Json(uploaded(&id, photo.expires_ms)))
}

/// Deletes an uploaded photo now ("Delete my photo now"); try-ons already created from it
/// keep their own copy until they end.
#[utoipa::path(delete, path = "/v1/photos/{id}", tag = "photos",
    params(("id" = String, Path, description = "Photo id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`photo_not_found`: unknown, expired or already deleted", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn delete_photo(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.photos.forget(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::PhotoNotFound)
    }
}
