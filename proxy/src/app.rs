//! The HTTP application: shared state and the router that maps the v1 contract's paths to
//! their handlers.
//!
//! `app(state)` is the one entry point both `main` and the integration tests use, so the
//! tests exercise exactly the routes, limits and fallbacks the binary serves.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::abuse::{Client, Cost, CounterStore, Limiter, SystemClock};
use crate::config::Settings;
use crate::cors::{self, CorsPolicy};
use crate::error::ApiError;
use crate::garment_fetch::{FetchOptions, FetcherSetupError, GarmentFetcher, SystemResolver};
use crate::garments::GarmentSource;
use crate::idempotency::IdempotencyKeys;
use crate::images::ImagePreparer;
use crate::photos::{self, Photos};
use crate::providers::Provider;
use crate::providers::routes::{self, CheckJudged, CheckLimits};
use crate::providers::standing::Standing;
use crate::recent::RecentSubmissions;
use crate::registry::{Registry, RegistryOptions};
use crate::serving::{handler_deadline, upload_deadline};
use crate::shopify::{self, ShopifyConfig};
use crate::store::{MemoryStore, Store, StoreError, off_runtime};
use crate::wire::paths;
use crate::{api, assets, create, events, metrics, openapi};

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// The provider tasks and checks go to; with a failover list, the one serving now.
    pub provider: Arc<dyn Provider>,
    pub registry: Registry,
    pub images: ImagePreparer,
    pub garments: Arc<GarmentSource>,
    pub idempotency: Arc<IdempotencyKeys>,
    /// Per-client rate limits and daily quotas (issue 6).
    pub limiter: Arc<Limiter>,
    /// Identical submissions of the last ten minutes (issue 6).
    pub recent: Arc<RecentSubmissions>,
    /// Uploaded photos (issue 14), named by `photo_id` in checks and creates.
    pub photos: Arc<Photos>,
    /// Shopify's App Proxy (issue 5): when set, [`app`] also serves `/shopify`.
    pub shopify: Option<Arc<ShopifyConfig>>,
    shutdown: Arc<watch::Sender<bool>>,
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Fetcher(#[from] FetcherSetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppState {
    /// Builds the state around a provider, keeping everything in memory (tests, embedding);
    /// must be called inside a Tokio runtime (it starts the registry's dispatcher and the
    /// sweeper).
    pub fn new(settings: Settings, provider: Arc<dyn Provider>) -> Result<Self, SetupError> {
        Self::with_store(settings, provider, Arc::new(MemoryStore::default()))
    }

    /// Builds the state on `store` (issue 7): tasks, idempotency keys and counters live
    /// there, and the tasks it holds are reloaded and the unfinished ones resumed.
    pub fn with_store(
        settings: Settings,
        provider: Arc<dyn Provider>,
        store: Arc<dyn Store>,
    ) -> Result<Self, SetupError> {
        let fetch_options = FetchOptions {
            prefixes: settings.garment_hosts.clone(),
            max_bytes: settings.max_image_bytes,
            ..FetchOptions::default()
        };
        let fetcher = GarmentFetcher::new(fetch_options, Arc::new(SystemResolver))?;
        let demo_dir = settings.demo.then(|| settings.www_dir.join("demo"));
        // Issue 13: an account refusal is remembered and said before a shopper uploads.
        let provider: Arc<dyn Provider> = Arc::new(Standing::new(provider));
        if store.shared() {
            // Issue 7: the vendor's per-key limit and check answers hold across every
            // instance on the store.
            provider.share_through(&store);
        }
        let recent = if store.shared() {
            RecentSubmissions::shared_through(store.clone())
        } else {
            RecentSubmissions::default()
        };
        let photos = Arc::new(Photos::new(store.clone(), settings.photo_ttl));
        photos.spawn_sweeper();
        let state = Self {
            photos,
            registry: Registry::with_store(
                provider.clone(),
                RegistryOptions {
                    max_running: settings.max_running_tasks,
                    retention: settings.result_retention,
                },
                store.clone(),
            )?,
            images: ImagePreparer::new(settings.person_max_edge, settings.garment_max_edge)
                .with_max_pixels(settings.max_pixels),
            garments: Arc::new(GarmentSource::new(
                fetcher,
                demo_dir,
                settings.max_image_bytes,
            )),
            idempotency: Arc::new(IdempotencyKeys::with_store(
                settings.result_retention,
                store.clone(),
            )),
            limiter: Arc::new(Limiter::new(
                settings.abuse.clone(),
                store as Arc<dyn CounterStore>,
                Arc::new(SystemClock),
            )),
            recent: Arc::new(recent),
            provider,
            shopify: None,
            shutdown: Arc::new(watch::Sender::new(false)),
            settings: Arc::new(settings),
        };
        state.spawn_sweeper();
        Ok(state)
    }

    /// Serves Shopify's App Proxy too (issue 5), or not, with `None`.
    pub fn with_shopify(mut self, config: Option<Arc<ShopifyConfig>>) -> Self {
        self.shopify = config;
        self
    }

    /// Tells long-lived responses (event streams) to end, so a graceful shutdown can finish.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether [`AppState::begin_shutdown`] has been called (issue 7: no new creates, not ready).
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once [`AppState::begin_shutdown`] has been called.
    pub fn shutting_down(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut flag = self.shutdown.subscribe();
        async move {
            let _ = flag.wait_for(|down| *down).await;
        }
    }

    /// Removes expired tasks and idempotency keys, often enough that a short test retention
    /// is honoured and rarely enough to cost nothing.
    fn spawn_sweeper(&self) {
        let every = (self.settings.result_retention / 10)
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        let registry = self.registry.clone();
        let idempotency = Arc::downgrade(&self.idempotency);
        let recent = Arc::downgrade(&self.recent);
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop.wait_for(|down| *down) => return,
                }
                let Some(idempotency) = idempotency.upgrade() else {
                    return;
                };
                let (registry, recent) = (registry.clone(), recent.clone());
                // Both sweeps delete from the store: off the runtime's threads.
                let swept = off_runtime(move || {
                    let swept = registry.sweep();
                    idempotency.sweep();
                    if let Some(recent) = recent.upgrade() {
                        recent.sweep();
                    }
                    swept
                })
                .await;
                if swept > 0 {
                    tracing::info!(swept, "expired try-ons removed");
                }
            }
        });
    }
}

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
        .route("/metrics", get(metrics::metrics).layer(bounded.clone()))
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

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A random UUID (version 4) for each request without one, as tower-http's `MakeRequestUuid`
/// makes, but drawn from the thread's generator (`rand`, seeded once from the system) instead
/// of one `getrandom` system call per request.
#[derive(Debug, Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid_v4(rand::random());
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
}

/// The hyphenated text of a version 4 UUID made of `bytes`.
fn uuid_v4(mut bytes: [u8; 16]) -> [u8; 36] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in bytes.into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0x0f)];
        at += 2;
    }
    text
}

/// The span every log line of a request carries: method, path (never the query string, which
/// may hold a garment URL's signed parameters) and the request id, also sent back in
/// `X-Request-Id` so a support ticket can name it.
fn request_span(request: &Request<Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %masked_path(request.uri().path()),
        request_id = %request_id,
    )
}

/// Task ids are capabilities (whoever knows one may read the shopper's result), so an access
/// log shows only their first [`SHOWN_ID_CHARS`] digits: enough to tell tasks apart in a
/// support case, far too few to open one (issue 13).
fn masked_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.split('/').any(crate::registry::is_task_id) {
        return path.into();
    }
    path.split('/')
        .map(|segment| {
            if crate::registry::is_task_id(segment) {
                format!("{}…", &segment[..SHOWN_ID_CHARS])
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
        .into()
}

/// Digits of a task id an access log keeps: 32 of its 128 bits.
const SHOWN_ID_CHARS: usize = 8;

/// Marks an answer whose access line is routine: a status read that found its task, which a
/// widget that lost its event stream repeats every second for each shopper (README, "Logs").
/// Its line goes to DEBUG, so at thousands of reads a second the log (and its cost, a JSON
/// line written to stderr per request) holds what matters; a failed read, like every other
/// answer, is logged at INFO.
#[derive(Debug, Clone, Copy)]
pub struct RoutineRead;

/// The access line of every answer, inside the request's span (so it names the request id):
/// the status and the time to the response head.
fn log_response<B>(response: &Response<B>, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency = latency.as_millis();
    if response.extensions().get::<RoutineRead>().is_some() && response.status().is_success() {
        tracing::debug!(status, latency = %format_args!("{latency} ms"), "finished processing request");
    } else {
        tracing::info!(status, latency = %format_args!("{latency} ms"), "finished processing request");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_in_logged_paths_are_cut_to_their_first_digits() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            masked_path(&format!("/v1/tryons/{id}")),
            "/v1/tryons/01234567…"
        );
        assert_eq!(
            masked_path(&format!("/shopify/v1/tryons/{id}/events")),
            "/shopify/v1/tryons/01234567…/events"
        );
        assert_eq!(masked_path("/v1/tryons"), "/v1/tryons");
        assert_eq!(masked_path("/v1/tryons/short"), "/v1/tryons/short");
    }

    #[test]
    fn request_ids_are_version_4_uuids() {
        let bytes = std::array::from_fn(|i| i as u8);
        assert_eq!(&uuid_v4(bytes), b"00010203-0405-4607-8809-0a0b0c0d0e0f");
        assert_eq!(
            &uuid_v4([0xff; 16]),
            b"ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        let request = Request::new(());
        let mut make = RandomRequestId;
        let first = make.make_request_id(&request).expect("an id");
        let second = make.make_request_id(&request).expect("an id");
        assert_ne!(first.header_value(), second.header_value());
        assert_eq!(first.header_value().len(), 36);
    }
}
