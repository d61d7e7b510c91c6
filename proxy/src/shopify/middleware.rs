//! Axum middleware for Shopify storefronts.
//!
//! [`require_app_proxy_signature`] guards the `/shopify` nest (the App Proxy's target): a request
//! without a valid signature never reaches a handler, and a verified one carries an
//! [`AppProxyRequest`] in its extensions so handlers know the shop (e.g. to mint a stream token).
//! [`grant_stream_by_token`] sits on the events route of the plain `/v1` routes and lets a
//! browser holding a valid stream token read that task's stream from the shop's origin.
//! Both answer refusals with the contract's problem+json, so the widget shows its sentence.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::signature::{VerifiedAppProxy, verify_app_proxy_query};
use super::stream_token::{STREAM_TOKEN_PARAM, StreamTokenKey};
use super::{ShopifyConfig, StreamGrant};
use crate::error::ApiError;

/// Seconds since the Unix epoch; injected so tests can pin time.
pub type Clock = fn() -> u64;

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

/// State of [`require_app_proxy_signature`].
#[derive(Debug, Clone)]
pub struct AppProxyAuth {
    config: Arc<ShopifyConfig>,
    clock: Clock,
}

impl AppProxyAuth {
    pub fn new(config: Arc<ShopifyConfig>) -> Self {
        Self {
            config,
            clock: system_clock,
        }
    }

    /// Same, reading the time from `clock` instead of the system clock.
    pub fn with_clock(config: Arc<ShopifyConfig>, clock: Clock) -> Self {
        Self { config, clock }
    }
}

/// A request Shopify's App Proxy relayed and signed; in the request extensions of every handler
/// behind [`require_app_proxy_signature`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppProxyRequest {
    pub proxy: VerifiedAppProxy,
    /// `https://` plus the `X-Forwarded-Host` Shopify adds (the shop domain the shopper used,
    /// possibly a custom one), when it is a plain host name.
    pub storefront_origin: Option<String>,
}

/// Refuses requests without a valid App Proxy signature (401 `unauthorized`); records the
/// verified shop as an [`AppProxyRequest`] extension otherwise.
///
/// [`super::mount`] layers it onto the `/shopify` nest.
pub async fn require_app_proxy_signature(
    State(auth): State<AppProxyAuth>,
    mut request: Request,
    next: Next,
) -> Response {
    let query = request.uri().query().unwrap_or_default();
    match verify_app_proxy_query(&auth.config, query, (auth.clock)()) {
        Ok(proxy) => {
            let storefront_origin = forwarded_origin(request.headers(), &auth.config, &proxy.shop);
            request.extensions_mut().insert(AppProxyRequest {
                proxy,
                storefront_origin,
            });
            next.run(request).await
        }
        Err(refusal) => {
            tracing::warn!(%refusal, "refused an App Proxy request");
            ApiError::BadSignature(refusal.to_string()).into_response()
        }
    }
}

/// State of [`grant_stream_by_token`].
#[derive(Debug, Clone)]
pub struct StreamAuth {
    key: Arc<StreamTokenKey>,
    clock: Clock,
}

impl StreamAuth {
    pub fn new(key: Arc<StreamTokenKey>) -> Self {
        Self {
            key,
            clock: system_clock,
        }
    }

    /// Same, reading the time from `clock` instead of the system clock.
    pub fn with_clock(key: Arc<StreamTokenKey>, clock: Clock) -> Self {
        Self { key, clock }
    }
}

/// For `GET /v1/tryons/{id}/events?stream_token=…`: checks the token against the task id in the
/// path, puts the [`StreamGrant`] in the request extensions (so an origin check further in can
/// let it through) and answers with CORS for the shop's origin. Requests without the parameter
/// pass untouched; a bad token is 401 `unauthorized`, a foreign `Origin` 403 `origin_not_allowed`.
pub async fn grant_stream_by_token(
    State(auth): State<StreamAuth>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = query_param(
        request.uri().query().unwrap_or_default(),
        STREAM_TOKEN_PARAM,
    ) else {
        return next.run(request).await;
    };
    let Some(task_id) = events_task_id(request.uri().path()) else {
        return ApiError::BadSignature("A stream token only opens a task's event stream.".into())
            .into_response();
    };
    let grant = match auth.key.verify(&token, task_id, (auth.clock)()) {
        Ok(grant) => grant,
        Err(refusal) => return ApiError::BadSignature(refusal.to_string()).into_response(),
    };
    let origin = request.headers().get(header::ORIGIN).cloned();
    if let Some(origin) = &origin
        && !origin
            .to_str()
            .is_ok_and(|origin| grant.allows_origin(origin))
    {
        return ApiError::OriginNotAllowed(
            "The stream token was issued for another shop's storefront.",
        )
        .into_response();
    }
    request.extensions_mut().insert::<StreamGrant>(grant);
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// `https://host` from the right-most `X-Forwarded-Host` value (the one Shopify appended;
/// anything left of it came from the client), without its port, and only when the host is the
/// verified shop or a shop or storefront domain the proxy knows: anything else is ignored
/// rather than echoed into a CORS header later. A port is kept only when `https://host:port`
/// is itself a listed storefront origin (`TRYON_ALLOWED_ORIGINS`).
fn forwarded_origin(headers: &HeaderMap, config: &ShopifyConfig, shop: &str) -> Option<String> {
    let value = headers.get_all("x-forwarded-host").iter().next_back()?;
    let host = value
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .to_ascii_lowercase();
    let with_port = format!("https://{host}");
    if host.contains(':') && config.knows_origin(&with_port) {
        return Some(with_port);
    }
    let name = host.split(':').next()?;
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.starts_with(['.', '-']);
    (name_ok && (name == shop || config.knows_host(name))).then(|| format!("https://{name}"))
}

/// The `{id}` of a `…/tryons/{id}/events` path.
fn events_task_id(path: &str) -> Option<&str> {
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let (events, id, tryons) = (segments.next()?, segments.next()?, segments.next()?);
    (events == "events" && tryons == "tryons" && !id.is_empty()).then_some(id)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shopify::signature::sign_app_proxy_params;
    use crate::wire::{Problem, media};
    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    const NOW: u64 = 1_700_000_000;
    const SHOP: &str = "shop-name.myshopify.com";

    fn fixed_clock() -> u64 {
        NOW
    }

    fn config() -> Arc<ShopifyConfig> {
        Arc::new(
            ShopifyConfig::new("app-secret", [SHOP])
                .unwrap()
                .with_storefronts(&["https://www.shop.example".to_owned()]),
        )
    }

    /// A `/shopify` nest whose one handler reports the shop the middleware verified.
    fn shopify_app() -> Router {
        let inner = Router::new()
            .route(
                "/v1/config",
                get(|request: Request| async move {
                    let verified = request
                        .extensions()
                        .get::<AppProxyRequest>()
                        .cloned()
                        .expect("extension set");
                    format!(
                        "{} {}",
                        verified.proxy.shop,
                        verified.storefront_origin.unwrap_or_default()
                    )
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                AppProxyAuth::with_clock(config(), fixed_clock),
                require_app_proxy_signature,
            ));
        Router::new().nest("/shopify", inner)
    }

    fn signed_query(shop: &str, timestamp: u64) -> String {
        let timestamp = timestamp.to_string();
        let params = [
            ("shop", shop),
            ("logged_in_customer_id", ""),
            ("path_prefix", "/apps/tryon"),
            ("timestamp", &timestamp),
        ];
        let signature = sign_app_proxy_params(&config(), &params);
        format!(
            "shop={shop}&logged_in_customer_id=&path_prefix=%2Fapps%2Ftryon&timestamp={timestamp}&signature={signature}"
        )
    }

    async fn send(
        app: Router,
        request: axum::http::Request<Body>,
    ) -> (StatusCode, HeaderMap, String) {
        let response = app.oneshot(request).await.expect("router is infallible");
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, 1 << 20).await.expect("body fits");
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
        )
    }

    fn get_request(uri: &str) -> axum::http::Request<Body> {
        axum::http::Request::get(uri).body(Body::empty()).unwrap()
    }

    fn assert_problem(
        status: StatusCode,
        headers: &HeaderMap,
        body: &str,
        expected: StatusCode,
        code: &str,
    ) {
        assert_eq!(status, expected, "body: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], media::PROBLEM_JSON);
        let problem: Problem = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(problem.code.as_str(), code);
        assert_eq!(problem.status, expected.as_u16());
    }

    #[tokio::test]
    async fn a_signed_request_reaches_the_handler_with_the_shop_recorded() {
        let request =
            axum::http::Request::get(format!("/shopify/v1/config?{}", signed_query(SHOP, NOW)))
                .header("x-forwarded-host", "www.shop.example")
                .body(Body::empty())
                .unwrap();
        let (status, _, body) = send(shopify_app(), request).await;
        assert_eq!(status, StatusCode::OK, "body: {body}");
        assert_eq!(body, "shop-name.myshopify.com https://www.shop.example");
    }

    #[tokio::test]
    async fn unsigned_wrong_stale_and_unknown_shop_requests_get_401_problems() {
        let mut tampered = signed_query(SHOP, NOW);
        tampered = tampered.replace("path_prefix=%2Fapps%2Ftryon", "path_prefix=%2Fapps%2Fother");
        let other_shop = "other.myshopify.com";
        for (case, query) in [
            ("unsigned", String::new()),
            ("tampered", tampered),
            ("stale", signed_query(SHOP, NOW - 91)),
            ("unknown shop", signed_query(other_shop, NOW)),
        ] {
            let (status, headers, body) = send(
                shopify_app(),
                get_request(&format!("/shopify/v1/config?{query}")),
            )
            .await;
            assert!(
                !body.contains("app-secret"),
                "{case}: the secret leaked: {body}"
            );
            assert_problem(
                status,
                &headers,
                &body,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
        }
    }

    #[test]
    fn only_the_last_forwarded_host_of_a_known_shop_becomes_an_origin() {
        let config = ShopifyConfig::new("app-secret", [SHOP])
            .unwrap()
            .with_storefronts(&["https://www.shop.example".to_owned()]);
        let origin_of = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append("x-forwarded-host", HeaderValue::from_str(value).unwrap());
            }
            forwarded_origin(&headers, &config, SHOP)
        };
        assert_eq!(
            origin_of(&["Www.Shop.Example"]),
            Some("https://www.shop.example".into())
        );
        assert_eq!(
            origin_of(&["evil.example, www.shop.example:8443"]),
            Some("https://www.shop.example".into()),
            "the right-most value, without its port"
        );
        assert_eq!(
            origin_of(&["evil.example", SHOP]),
            Some(format!("https://{SHOP}")),
            "the last of several headers"
        );
        assert_eq!(
            origin_of(&["www.shop.example, evil.example"]),
            None,
            "a host the proxy does not know"
        );
        assert_eq!(origin_of(&["evil.example/path"]), None);
        let on_a_port = ShopifyConfig::new("app-secret", [SHOP])
            .unwrap()
            .with_storefronts(&["https://127.0.0.1:8443".to_owned()]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("127.0.0.1:8443"),
        );
        assert_eq!(
            forwarded_origin(&headers, &on_a_port, SHOP),
            Some("https://127.0.0.1:8443".into()),
            "a storefront origin listed with its port keeps it"
        );
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("127.0.0.1:9443"),
        );
        assert_eq!(
            forwarded_origin(&headers, &on_a_port, SHOP),
            Some("https://127.0.0.1".into()),
            "another port of a known host is the host alone"
        );
        assert_eq!(origin_of(&["a b"]), None);
        assert_eq!(origin_of(&[""]), None);
        assert_eq!(origin_of(&[]), None);
    }

    fn stream_key() -> Arc<StreamTokenKey> {
        Arc::new(StreamTokenKey::derive(&config()))
    }

    fn events_app() -> Router {
        Router::new()
            .route(
                "/v1/tryons/{id}/events",
                get(|request: Request| async move {
                    match request.extensions().get::<StreamGrant>() {
                        Some(grant) => format!("granted {}", grant.shop),
                        None => "no grant".to_owned(),
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                StreamAuth::with_clock(stream_key(), fixed_clock),
                grant_stream_by_token,
            ))
    }

    fn events_request(url: &str, origin: Option<&str>) -> axum::http::Request<Body> {
        let path = url.strip_prefix("https://tryon.example.com").unwrap_or(url);
        let mut builder = axum::http::Request::get(path);
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_valid_stream_token_opens_the_stream_with_cors_for_the_shop() {
        let stream = stream_key().direct_stream(
            "https://tryon.example.com",
            "task1",
            SHOP,
            Some("https://www.shop.example"),
            NOW,
        );
        for origin in [
            "https://shop-name.myshopify.com",
            "https://www.shop.example",
        ] {
            let (status, headers, body) =
                send(events_app(), events_request(&stream.url, Some(origin))).await;
            assert_eq!(status, StatusCode::OK, "body: {body}");
            assert_eq!(body, "granted shop-name.myshopify.com");
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
            assert!(headers.get_all(header::VARY).iter().any(|v| v == "Origin"));
        }
    }

    #[tokio::test]
    async fn stream_tokens_are_refused_for_other_tasks_origins_or_after_expiry() {
        let key = stream_key();
        let stream = key.direct_stream("https://tryon.example.com", "task1", SHOP, None, NOW);
        let other_task = stream.url.replace("/tryons/task1/", "/tryons/task2/");
        let (status, headers, body) = send(events_app(), events_request(&other_task, None)).await;
        assert_problem(
            status,
            &headers,
            &body,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );

        let (status, headers, body) = send(
            events_app(),
            events_request(&stream.url, Some("https://evil.example")),
        )
        .await;
        assert_problem(
            status,
            &headers,
            &body,
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
        );
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

        let expired =
            key.direct_stream("https://tryon.example.com", "task1", SHOP, None, NOW - 601);
        let (status, headers, body) = send(events_app(), events_request(&expired.url, None)).await;
        assert_problem(
            status,
            &headers,
            &body,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }

    #[tokio::test]
    async fn requests_without_a_token_pass_untouched() {
        let (status, headers, body) = send(
            events_app(),
            events_request("/v1/tryons/task1/events", Some("https://any.example")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "no grant");
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }

    #[test]
    fn the_task_id_comes_from_an_events_path_only() {
        assert_eq!(events_task_id("/v1/tryons/abc/events"), Some("abc"));
        assert_eq!(
            events_task_id("/shopify/v1/tryons/abc/events/"),
            Some("abc")
        );
        assert_eq!(events_task_id("/v1/tryons/abc"), None);
        assert_eq!(events_task_id("/v1/tryons/abc/result"), None);
    }
}
