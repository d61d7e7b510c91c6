//! The HTTP application: the router that maps the v1 contract's paths to their handlers, and
//! the layers around them (the state they share is `state.rs`'s).
//!
//! `app(state)` is the one entry point both `main` and the integration tests use, so the
//! tests exercise exactly the routes, limits and fallbacks the binary serves.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::abuse::{Client, Cost};
use crate::access_log::{REQUEST_ID, RandomRequestId, log_response, request_span};
use crate::config::Settings;
use crate::cors::{self, CorsPolicy};
use crate::error::ApiError;
use crate::photos;
use crate::providers::routes::{self, CheckJudged, CheckLimits};
use crate::serving::{handler_deadline, upload_deadline};
use crate::shopify;
pub use crate::state::{AppState, SetupError};
use crate::wire::paths;
use crate::{api, assets, create, events, metrics_endpoint, openapi};

/// The whole HTTP surface: the v1 API, health, the OpenAPI document, the widget's files and,
/// in demo mode, the demo storefront.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.settings.max_request_bytes).unwrap_or(usize::MAX);
    // Issue 6: a slow upload gets 408; other non-streaming handlers are bounded too. The event
    // stream is long-lived by design and has neither.
    let upload =
        axum::middleware::from_fn_with_state(state.settings.upload_timeout, upload_deadline);
    let bounded =
        axum::middleware::from_fn_with_state(state.settings.handler_timeout, handler_deadline);
    let photo_body_limit = usize::try_from(photos::max_body_bytes(&state)).unwrap_or(usize::MAX);
    let mut router = Router::new()
        .route(paths::CONFIG, get(api::get_config).layer(bounded.clone()))
        .route(
            paths::TRYONS,
            axum::routing::post(create::create_tryon)
                .layer(DefaultBodyLimit::max(body_limit))
                .layer(upload),
        )
        .route(
            paths::TRYON,
            get(api::get_tryon)
                .delete(api::delete_tryon)
                .layer(bounded.clone()),
        )
        .route(paths::TRYON_EVENTS, get(events::tryon_events))
        // Issue 14: the photo crosses the network once.
        .route(
            paths::PHOTOS,
            axum::routing::post(photos::upload_photo)
                .layer(DefaultBodyLimit::max(photo_body_limit))
                .layer(axum::middleware::from_fn_with_state(
                    state.settings.upload_timeout,
                    upload_deadline,
                )),
        )
        .route(
            paths::PHOTO,
            get(photos::get_photo)
                .delete(photos::delete_photo)
                .layer(bounded.clone()),
        )
        .route(
            paths::TRYON_RESULT,
            get(api::get_result).layer(bounded.clone()),
        )
        .route(
            paths::OPENAPI,
            get(openapi::openapi_json).layer(bounded.clone()),
        )
        .route(paths::HEALTHZ, get(api::healthz).layer(bounded.clone()))
        // Issue 7: operating it.
        .route("/readyz", get(api::readyz).layer(bounded.clone()))
        .route(
            "/metrics",
            get(metrics_endpoint::metrics).layer(bounded.clone()),
        )
        // Issue 3: the pre-flight checks, gated like creates (issue 6).
        .merge(check_routes(&state));
    if state.settings.demo {
        router = router
            .route("/", get(assets::demo_index))
            .route("/demo/{*path}", get(assets::demo_file));
    }
    // Issue 5: CORS for the listed storefronts, inside the Shopify layers that vouch for
    // App Proxy requests and stream tokens.
    let cors = Arc::new(
        CorsPolicy::new(&state.settings.allowed_origins)
            .with_own_origins(state.settings.own_origins()),
    );
    let shopify = state.shopify.clone();
    let provider = state.provider.clone();
    let router = router
        .fallback(assets::widget_file)
        .layer(axum::middleware::from_fn_with_state(cors, cors::enforce))
        .with_state(state);
    let router = match shopify {
        Some(config) => shopify::mount(router, config),
        None => router,
    };
    // Vendors call their webhooks server to server: top level only, never under `/shopify`.
    let webhooks = routes::webhooks(provider).layer(bounded);
    router
        .merge(webhooks)
        .layer(axum::middleware::from_fn(count_refusals))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), RandomRequestId))
}

/// `POST /v1/checks/{person,garment}` behind the same gates as a create: a declared body over
/// the limit is refused unread, then the client's check bucket is charged, and the upload has
/// the upload deadline; only then is the image decoded (through the shared decode gate) and
/// the provider asked.
fn check_routes(state: &AppState) -> Router<AppState> {
    routes::checks(
        state.provider.clone(),
        state.images.clone(),
        Some(state.photos.clone()),
        Some(state.garments.clone()),
        check_limits(&state.settings),
    )
    .route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        admit_check,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.settings.upload_timeout,
        upload_deadline,
    ))
}

/// Issue 6 for checks: 413 for a declared body over the limit, 429 `rate_limited` with
/// `Retry-After` once the client's check bucket is empty; neither reaches the provider.
/// Issue 13: the client of a check the App Proxy relayed is the shopper within the shop, and a
/// check the vendor bills reserves its share of a try-on of the daily quotas (429
/// `quota_exhausted` when they are spent), kept only if the vendor may have billed it.
async fn admit_check(
    State(state): State<AppState>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let limit = check_limits(&state.settings).max_body_bytes();
    if let Some(declared) = declared_length(request.headers()).filter(|&n| n > limit) {
        return ApiError::ImageTooLarge(format!(
            "the request body is {declared} bytes, over the limit of {limit}"
        ))
        .into_response();
    }
    // Without connection info (a server not started by `serving::serve`) every client shares
    // one bucket, as for creates: stricter, never looser.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip());
    let shop = request
        .extensions()
        .get::<shopify::AppProxyRequest>()
        .map(|relayed| relayed.proxy.shop.clone());
    let trusted = &state.settings.trusted_proxies;
    let client = Client::of_request(peer, request.headers(), trusted, shop.as_deref());
    if let Err(refusal) = state.limiter.admit_check(client).await {
        return ApiError::from(refusal).into_response();
    }
    let charge = match paid_check_cost(&state, request.uri().path()) {
        None => None,
        Some(cost) => match state.limiter.charge(shop.as_deref(), cost).await {
            Ok(charge) => Some(charge),
            Err(refusal) => return ApiError::from(refusal).into_response(),
        },
    };
    let response = next.run(request).await;
    if let Some(charge) = charge {
        let billed = response
            .extensions()
            .get::<CheckJudged>()
            .is_some_and(|judged| judged.may_be_billed);
        charge.settle(billed).await;
    }
    response
}

/// What a check on `path` costs when the provider performs it itself and bills for it.
fn paid_check_cost(state: &AppState, path: &str) -> Option<Cost> {
    let performs = state.provider.info().checks;
    let by_vendor = if path.ends_with(paths::CHECK_PERSON) {
        performs.person
    } else {
        path.ends_with(paths::CHECK_GARMENT) && performs.garment
    };
    if by_vendor {
        Cost::of_try_ons(state.provider.check_cost())
    } else {
        None
    }
}

/// One image per check; a vendor slower than any other handler may be is "unavailable".
fn check_limits(settings: &Settings) -> CheckLimits {
    CheckLimits {
        max_image_bytes: settings.max_image_bytes,
        provider_timeout: settings.handler_timeout,
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Counts 429 answers for `/metrics` (rate limits and quotas refuse with it).
async fn count_refusals(request: Request<Body>, next: axum::middleware::Next) -> Response {
    // A clone of the parsed URI shares its bytes: no copy of the path for every request.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        crate::metrics::rate_limit_refused(&crate::metrics::endpoint_of(uri.path()));
    }
    response
}
