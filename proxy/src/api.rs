//! The small JSON routes of the v1 contract: configuration, task status, result, delete, health.
//!
//! Each handler only translates between HTTP and the registry; the `#[utoipa::path]` on each
//! is what `GET /v1/openapi.json` publishes, so the document follows the code.

use std::collections::HashMap;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use crate::access_log::RoutineRead;
use crate::error::{ApiError, ProviderFailure};
use crate::providers::{ProcessedSizes, fixed_message};
use crate::registry::{ResultLookup, is_task_id};
use crate::shopify::AppProxyRequest;
use crate::state::AppState;
use crate::wire::{
    CheckSource, CheckSources, ChecksAvailable, ConfigResponse, Limits, Problem, Quality, TryOnView,
};

/// What the widget needs to know before it prepares a photo, or, when no try-on could be
/// made now whatever the shopper does, the refusal a create would get (issue 13): the widget
/// then says "not available here" when the dialog opens, before any photo is uploaded.
#[utoipa::path(get, path = "/v1/config", tag = "tryon",
    responses(
        (status = 200, description = "Provider, options and upload limits", body = ConfigResponse),
        (status = 429, description = "`quota_exhausted`: the daily budget (or, through the App Proxy, the shop's quota) is spent",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`provider_out_of_credit` or `provider_auth`: the provider refuses the merchant's account",
            body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_config(
    State(state): State<AppState>,
    app_proxy: Option<Extension<AppProxyRequest>>,
) -> Result<Json<ConfigResponse>, ApiError> {
    if let Some(code) = state.provider.refusing() {
        return Err(ApiError::Provider {
            code,
            detail: fixed_message(code),
            kind: ProviderFailure::Unavailable,
        });
    }
    let shop = app_proxy
        .as_ref()
        .map(|Extension(relayed)| relayed.proxy.shop.as_str());
    match state.limiter.quota_refusal(shop).await {
        Ok(None) => {}
        Ok(Some(refusal)) => return Err(refusal.into()),
        // The create fails closed on the same store; the configuration is still true.
        Err(error) => tracing::warn!(%error, "daily quotas unreadable for /v1/config"),
    }
    let settings = &state.settings;
    // With a failover list this is the provider new tasks and checks go to now.
    let provider = state.provider.info();
    // What the provider (with a failover list, the most demanding one) processes, within the
    // operator's limits: a larger photo would only cost the shopper upload time.
    let sizes = state.provider.processed_sizes().min(ProcessedSizes {
        person_max_edge: settings.person_max_edge,
        garment_max_edge: settings.garment_max_edge,
    });
    // Both check routes always answer: with the vendor's check where it has one, with the
    // proxy's local checks otherwise.
    let source = |by_vendor: bool| {
        if by_vendor {
            CheckSource::Provider
        } else {
            CheckSource::Local
        }
    };
    Ok(Json(ConfigResponse {
        provider: provider.name.to_owned(),
        categories: provider.categories,
        qualities: Quality::ALL.to_vec(),
        checks: ChecksAvailable {
            person: true,
            garment: true,
        },
        limits: Limits {
            max_upload_bytes: settings.max_image_bytes,
            person_max_edge: sizes.person_max_edge,
            garment_max_edge: sizes.garment_max_edge,
            ..Limits::default()
        },
        check_sources: Some(CheckSources {
            person: source(provider.checks.person),
            garment: source(provider.checks.garment),
        }),
        photo_ttl_s: Some(state.photos.ttl().as_secs()),
    }))
}

/// The current state of a try-on.
#[utoipa::path(get, path = "/v1/tryons/{id}", tag = "tryon",
    params(("id" = String, Path, description = "Task id")),
    responses(
        (status = 200, description = "Current state", body = TryOnView),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_tryon(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(Extension<RoutineRead>, Json<TryOnView>), ApiError> {
    well_formed(&id)?;
    let registry = state.registry.clone();
    let view = match registry.view_held(&id) {
        Some(view) => view,
        // A task created on another instance (or none at all) is looked up in the shared
        // store, a blocking call with a timeout of its own: off the runtime's threads, so a
        // slow or paused Redis stalls this read only, not every request on this instance.
        None if registry.shares_store() => tokio::task::spawn_blocking(move || registry.view(&id))
            .await
            .map_err(|_| ApiError::Internal("reading a task panicked".into()))?
            .ok_or(ApiError::NotFound)?,
        None => return Err(ApiError::NotFound),
    };
    Ok((Extension(RoutineRead), Json(view)))
}

/// The finished image, once the task has succeeded.
#[utoipa::path(get, path = "/v1/tryons/{id}/result", tag = "tryon",
    params(
        ("id" = String, Path, description = "Task id"),
        ("width" = Option<u32>, Query, description = "Fit the result to this many pixels wide \
            (a JPEG, aspect kept) for a client showing it at that size; without it, or at least \
            the result's width, the full result"),
    ),
    responses(
        (status = 200, description = "The result image; private, not for shared caches",
            content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"))),
        (status = 400, description = "`invalid_field`: a `width` that is not a whole number above 0",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, or `not_ready` before success", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn get_result(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    app_proxy: Option<Extension<AppProxyRequest>>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    well_formed(&id)?;
    let width = query
        .get(crate::wire::query::RESULT_WIDTH)
        .map(|width| {
            width.parse::<u32>().ok().filter(|&w| w > 0).ok_or_else(|| {
                ApiError::InvalidField("`width` must be a whole number of pixels above 0".into())
            })
        })
        .transpose()?;
    // The image is read from the store (SQLite or Redis), synchronously: off the runtime's
    // threads, which serve every other request meanwhile.
    let registry = state.registry.clone();
    let lookup = tokio::task::spawn_blocking(move || registry.result(&id))
        .await
        .map_err(|_| ApiError::Internal("reading a result panicked".into()))?;
    let output = match lookup {
        ResultLookup::Unknown => return Err(ApiError::NotFound),
        ResultLookup::NotReady => return Err(ApiError::NotReady),
        ResultLookup::Ready(output) => output,
    };
    // Fitting costs a decode and an encode: past the client's bucket the result comes in
    // full (more bytes, no CPU), never refused.
    let fits = match width {
        Some(width) => {
            let peer = peer.map(|Extension(peer)| peer);
            let relayed = app_proxy.map(|Extension(relayed)| relayed);
            let client = state.client_of(peer.as_ref(), relayed.as_ref(), &request_headers);
            state
                .limiter
                .admit_fit(client)
                .await
                .is_ok()
                .then_some(width)
        }
        None => None,
    };
    let output = match fits {
        Some(width) => state.images.fit_result(output, width).await?,
        None => output,
    };
    let content_type = HeaderValue::from_str(&output.content_type)
        .map_err(|_| ApiError::Internal("result content type is not a header value".into()))?;
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, HeaderValue::from_static("private")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    Ok((headers, output.bytes).into_response())
}

/// Forgets a try-on at once: cancels it if still running, deletes photos and result.
#[utoipa::path(delete, path = "/v1/tryons/{id}", tag = "tryon",
    params(("id" = String, Path, description = "Task id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_tryon(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    well_formed(&id)?;
    // A store call (on Redis a network round trip): off the runtime's threads (issue 13).
    let registry = state.registry.clone();
    let deleted = tokio::task::spawn_blocking(move || registry.delete(&id))
        .await
        .map_err(|_| ApiError::Internal("deleting a task panicked".into()))?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// An id no task can have is not found without asking the registry or the store.
pub(crate) fn well_formed(id: &str) -> Result<(), ApiError> {
    if is_task_id(id) {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// 200 when this instance should get traffic: the store answers, a provider is configured,
/// and it is not draining for shutdown. 503 otherwise, so a load balancer moves on.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    // A ping of the store (on Redis a network round trip, up to its timeout when Redis is
    // stuck): off the runtime's threads, like every other store call (issue 13).
    let registry = state.registry.clone();
    let store = tokio::task::spawn_blocking(move || registry.store_ready())
        .await
        .unwrap_or_else(|panic| Err(crate::store::StoreError(panic.to_string())));
    if let Err(error) = &store {
        tracing::error!(%error, "readiness: store unavailable");
    }
    let draining = state.is_shutting_down();
    let provider = state.provider.info().name;
    let ready = store.is_ok() && !provider.is_empty() && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": ready,
        "store": if store.is_ok() { "ok" } else { "unavailable" },
        "provider": provider,
        "draining": draining,
    });
    (status, Json(body))
}

/// 200 while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Serving", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}
