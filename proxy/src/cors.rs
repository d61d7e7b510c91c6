//! Which web pages may call the API from a browser (issue 5).
//!
//! The widget runs inside storefront pages on other origins, so the v1 API answers CORS, but
//! only for the storefront origins the operator lists (`TRYON_ALLOWED_ORIGINS`): a page on any
//! other origin must not spend the operator's try-on credit. Same-origin requests (the demo
//! page, server-to-server callers that send no `Origin`) always pass. Requests that Shopify's
//! App Proxy relayed ([`AppProxyRequest`]) come from the shop's own origin and are checked by
//! their signature instead; requests carrying a [`StreamGrant`] were checked against the shop's
//! origins by [`crate::shopify::grant_stream_by_token`]. Both are let through untouched.
//! Static files are not policed here: they carry `Access-Control-Allow-Origin: *`
//! ([`crate::assets`]) so any page can load the widget.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::error::ApiError;
use crate::shopify::{AppProxyRequest, StreamGrant};
use crate::wire::headers;

/// Paths under this prefix are the API; only they refuse unknown origins.
const API_PREFIX: &str = "/v1/";
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";
const ALLOWED_METHODS: &str = "GET, POST, DELETE";
/// Headers the widget sets itself; `Content-Type` for the multipart upload.
const ALLOWED_HEADERS: [&str; 3] = [
    "Content-Type",
    headers::IDEMPOTENCY_KEY,
    headers::LAST_EVENT_ID,
];
/// Response headers the widget reads besides the CORS-safelisted ones.
const EXPOSED_HEADERS: [&str; 2] = ["Location", headers::RETRY_AFTER];

/// A configured origin that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "allowed origin {0:?} is not an origin like `https://shop.example` (scheme, host and optional port; no path)"
)]
pub struct OriginError(pub String);

/// Spells `raw` the way browsers send it in `Origin`: lowercase scheme and host, no default
/// port, no trailing `/`. Paths, queries, user names and non-http(s) schemes are refused.
pub fn normalize_origin(raw: &str) -> Result<String, OriginError> {
    let fail = || OriginError(raw.to_owned());
    let url = Url::parse(raw.trim()).map_err(|_| fail())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(fail());
    }
    Ok(url.origin().ascii_serialization())
}

/// The storefront origins whose pages may call the API.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    /// Normalised with [`normalize_origin`].
    allowed: Vec<String>,
    /// The proxy's own origins (its public URL, [`crate::config::Settings::own_origins`]):
    /// pages there are same-origin. Judged from the configuration, never from the request's
    /// `Host`, which a DNS-rebinding page controls (issue 13).
    own: Vec<String>,
}

impl CorsPolicy {
    /// `origins` must already be normalised (the configuration does it at start-up).
    pub fn new(origins: &[String]) -> Self {
        Self {
            allowed: origins.to_vec(),
            own: Vec::new(),
        }
    }

    /// The proxy's own origins, normalised.
    pub fn with_own_origins(mut self, own: Vec<String>) -> Self {
        self.own = own;
        self
    }

    fn allows(&self, origin: &str) -> bool {
        self.allowed.iter().any(|allowed| allowed == origin)
    }
}

/// What the policy decides for one request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Same origin, no `Origin`, a Shopify-verified request, or a static file: no CORS part.
    Pass,
    /// A listed origin's preflight: answered here.
    Preflight(HeaderValue),
    /// A listed origin's request: served, with CORS headers for that origin.
    Cors(HeaderValue),
    /// An API request from an origin not on the list.
    Refuse,
}

impl CorsPolicy {
    fn judge(&self, request: &Request) -> Verdict {
        let extensions = request.extensions();
        let vouched_for = extensions.get::<AppProxyRequest>().is_some()
            || extensions.get::<StreamGrant>().is_some();
        // Static files answer `*` themselves, the same for every page and so safe to cache.
        if vouched_for || !is_api(request.uri().path()) {
            return Verdict::Pass;
        }
        let headers = request.headers();
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Verdict::Pass;
        };
        let text = origin.to_str().unwrap_or_default();
        if self.own.iter().any(|own| own == text) {
            Verdict::Pass
        } else if !self.allows(text) {
            Verdict::Refuse
        } else if request.method() == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            Verdict::Preflight(origin.clone())
        } else {
            Verdict::Cors(origin.clone())
        }
    }
}

/// The middleware: see the module documentation. [`crate::app::app`] layers it inside
/// [`crate::shopify::mount`], so the Shopify extensions are already set when it runs.
pub async fn enforce(
    State(policy): State<Arc<CorsPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let api = is_api(request.uri().path());
    let mut response = match policy.judge(&request) {
        Verdict::Pass => next.run(request).await,
        Verdict::Preflight(origin) => preflight(origin),
        Verdict::Cors(origin) => {
            let mut response = next.run(request).await;
            allow(response.headers_mut(), origin);
            response
        }
        Verdict::Refuse => refuse(&request),
    };
    // API answers differ by Origin, so shared caches must key on it.
    if api {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_str(&EXPOSED_HEADERS.join(", ")).expect("ASCII header names"),
    );
}

fn preflight(origin: HeaderValue) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_str(&ALLOWED_HEADERS.join(", ")).expect("ASCII header names"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    headers.append(
        header::VARY,
        HeaderValue::from_static("Access-Control-Request-Method, Access-Control-Request-Headers"),
    );
    response
}

/// The 403 for an unlisted origin, readable by the page it refuses.
///
/// Without CORS headers the browser hides this answer from the widget, which then cannot tell
/// "this page is not on the list" from "no network", and tells the shopper to check her
/// connection while the merchant gets no hint. So the refusal echoes the refused `Origin` in
/// `Access-Control-Allow-Origin`, and a preflight from that origin is answered as a listed one's
/// is, so the widget's real request (with `Idempotency-Key`) goes out and reads its 403.
///
/// This grants nothing. CORS protects what a page may *read*, never what reaches the server, and
/// the server refuses every request from this origin here, before any handler, counter or
/// provider: the preflight only lets the browser send a request that gets this same 403 (and a
/// multipart POST without our headers is a simple request, sent without asking anyway). What
/// the page can read is this fixed problem, the same for every caller and saying nothing but
/// what `curl` learns too; no `Access-Control-Allow-Credentials` (no cookie, no auth header is
/// ever honoured cross-origin), and no `Access-Control-Expose-Headers`, so of the headers only
/// the CORS-safelisted ones are readable. Every API answer varies by `Origin` (see [`enforce`]),
/// so no cache hands this to a listed page or a listed page's answer to this one.
fn refuse(request: &Request) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let asks_to_send = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if let (Some(origin), true) = (&origin, asks_to_send) {
        return preflight(origin.clone());
    }
    let mut response = ApiError::OriginNotAllowed(
        "This page's origin is not on the try-on proxy's list of allowed origins \
         (TRYON_ALLOWED_ORIGINS).",
    )
    .into_response();
    if let Some(origin) = origin {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

fn is_api(path: &str) -> bool {
    path.starts_with(API_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn policy() -> CorsPolicy {
        CorsPolicy::new(&[normalize_origin("https://shop.example").unwrap()])
    }

    #[test]
    fn origins_are_spelled_as_browsers_send_them() {
        assert_eq!(
            normalize_origin("HTTPS://Shop.Example:443/").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "shop.example",
            "https://shop.example/products",
            "https://shop.example?x=1",
            "https://u@shop.example",
            "ftp://shop.example",
            "*",
            "",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listed_origins_get_cors_and_their_preflights_are_answered() {
        let origin = ("origin", "https://shop.example");
        assert!(matches!(
            policy().judge(&request(Method::POST, "/v1/tryons", &[origin])),
            Verdict::Cors(_)
        ));
        assert!(matches!(
            policy().judge(&request(
                Method::OPTIONS,
                "/v1/tryons",
                &[origin, ("access-control-request-method", "POST")]
            )),
            Verdict::Preflight(_)
        ));
    }

    #[test]
    fn other_origins_are_refused_on_the_api_only() {
        let foreign = ("origin", "https://evil.example");
        assert_eq!(
            policy().judge(&request(Method::GET, "/v1/config", &[foreign])),
            Verdict::Refuse
        );
        for origin in [foreign, ("origin", "https://shop.example")] {
            assert_eq!(
                policy().judge(&request(Method::GET, "/widget.js", &[origin])),
                Verdict::Pass,
                "static files keep their own `*`"
            );
        }
    }

    #[test]
    fn same_origin_is_the_configured_own_origin_whatever_the_host_header() {
        let policy = policy().with_own_origins(vec!["https://proxy.example".to_owned()]);
        for headers in [
            vec![],
            vec![
                ("origin", "https://proxy.example"),
                ("host", "proxy.example"),
            ],
            vec![
                ("origin", "https://proxy.example"),
                ("host", "10.0.0.7:8080"),
            ],
        ] {
            assert_eq!(
                policy.judge(&request(Method::POST, "/v1/tryons", &headers)),
                Verdict::Pass,
                "{headers:?}"
            );
        }
        // DNS rebinding: the attacker's name now points at the proxy, so `Host` and `Origin`
        // agree, and the page is still the attacker's.
        for (origin, host) in [
            ("http://rebind.evil.example", "rebind.evil.example"),
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("https://proxy.example:8443", "proxy.example:8443"),
        ] {
            assert_eq!(
                policy.judge(&request(
                    Method::POST,
                    "/v1/tryons",
                    &[("origin", origin), ("host", host)]
                )),
                Verdict::Refuse,
                "{origin} on {host}"
            );
        }
    }

    #[test]
    fn shopify_verified_requests_pass_whatever_their_origin() {
        let mut relayed = request(
            Method::POST,
            "/v1/tryons",
            &[("origin", "https://shop-name.myshopify.com")],
        );
        relayed.extensions_mut().insert(AppProxyRequest {
            proxy: crate::shopify::VerifiedAppProxy {
                shop: "shop-name.myshopify.com".into(),
                logged_in_customer_id: None,
                path_prefix: Some("/apps/tryon".into()),
            },
            storefront_origin: None,
        });
        assert_eq!(policy().judge(&relayed), Verdict::Pass);
    }
}
