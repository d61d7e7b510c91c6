//! Static files: the built widget (router fallback) and, in demo mode, the demo storefront.
//!
//! The widget is embedded in other sites' pages, so its files carry
//! `Access-Control-Allow-Origin: *` (the loader fetches its JS modules, wasm and worker with
//! CORS). Content-hashed names (`name-<8+ hex>.ext`) never change and are cached for a year;
//! the loader `widget.js` keeps its name across releases, so it gets five minutes; anything
//! else revalidates. `tower_http`'s `ServeDir` does the file serving itself (path traversal
//! checks, `Content-Type` — `application/wasm` for `.wasm` —, conditional and range requests)
//! and sends the `<name>.gz` copy `cargo xtask dist` writes beside each file to browsers that
//! accept gzip, so nothing is compressed per request.

use std::path::Path;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;
use crate::state::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const LOADER: &str = "public, max-age=300";
const REVALIDATE: &str = "no-cache";
const LOADER_NAME: &str = "widget.js";

/// Any path no route claims: a file of `--assets-dir`, or 404 problem+json.
pub async fn widget_file(State(state): State<AppState>, request: Request) -> Response {
    let name = file_name(request.uri().path()).to_owned();
    let asked = asked_for(&request);
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::NoRoute(asked).into_response();
    }
    let files = ServeDir::new(&state.settings.assets_dir).precompressed_gzip();
    let response = serve(files, request).await;
    let mut response = with_headers(response, cache_policy(&name), true, asked);
    // The body depends on Accept-Encoding, so shared caches must keep the two forms apart.
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// `GET /` in demo mode: the demo product page.
pub async fn demo_index(State(state): State<AppState>, request: Request) -> Response {
    let page = state.settings.www_dir.join("demo").join("index.html");
    let asked = asked_for(&request);
    with_headers(
        serve(ServeFile::new(page), request).await,
        REVALIDATE,
        false,
        asked,
    )
}

/// `GET /demo/*` in demo mode: files of `<www-dir>/demo/`.
pub async fn demo_file(State(state): State<AppState>, request: Request) -> Response {
    let asked = asked_for(&request);
    let (mut parts, body) = request.into_parts();
    // ServeDir serves relative to its folder, so strip the `/demo` the route matched.
    let inner = parts
        .uri
        .path()
        .strip_prefix("/demo")
        .unwrap_or("/")
        .to_owned();
    parts.uri = inner.parse().unwrap_or_default();
    let dir = state.settings.www_dir.join("demo");
    with_headers(
        serve(ServeDir::new(dir), Request::from_parts(parts, body)).await,
        REVALIDATE,
        false,
        asked,
    )
}

async fn serve<S>(service: S, request: Request) -> Response
where
    S: tower::Service<Request, Error = std::convert::Infallible> + Send,
    S::Response: IntoResponse,
    S::Future: Send,
{
    match service.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// `GET /path` for a 404's detail (issue 13: say what was not found, not "no such try-on"),
/// cut short so a long path cannot make the answer long.
fn asked_for(request: &Request) -> String {
    let path: String = request.uri().path().chars().take(200).collect();
    format!("{} {path}", request.method())
}

fn with_headers(
    response: Response,
    cache: &'static str,
    cross_origin: bool,
    asked: String,
) -> Response {
    if response.status() == StatusCode::NOT_FOUND {
        return ApiError::NoRoute(asked).into_response();
    }
    let mut response = response.map(Body::new);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if cross_origin {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

fn file_name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("")
}

fn cache_policy(name: &str) -> &'static str {
    if is_content_hashed(name) {
        IMMUTABLE
    } else if name == LOADER_NAME {
        LOADER
    } else {
        REVALIDATE
    }
}

/// `tryon_widget-1a2b3c4d.wasm`, `worker-0123456789abcdef.js`: a `-`, at least 8 hex digits, a `.`.
fn is_content_hashed(name: &str) -> bool {
    name.match_indices('-').any(|(dash, _)| {
        let rest = &name[dash + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        digits >= 8 && rest.as_bytes().get(digits) == Some(&b'.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        for hashed in [
            "tryon_widget-1a2b3c4d.wasm",
            "worker-0123456789abcdef.js",
            "a-b-deadbeef.css",
        ] {
            assert!(is_content_hashed(hashed), "{hashed}");
            assert_eq!(cache_policy(hashed), IMMUTABLE);
        }
        for plain in [
            "widget.js",
            "tryon-widget.wasm",
            "x-1a2b3c.js",
            "x-1a2b3c4dz.js",
            "x-1a2b3c4d",
        ] {
            assert!(!is_content_hashed(plain), "{plain}");
        }
        assert_eq!(cache_policy("widget.js"), LOADER);
        assert_eq!(cache_policy("index.html"), REVALIDATE);
    }
}
