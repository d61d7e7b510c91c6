//! `GET /metrics`: the exposition of [`crate::metrics`], on the main address behind the
//! bearer token of `TRYON_METRICS_TOKEN`, or without one on `--metrics-listen`'s own address.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::metrics::render;
use crate::state::AppState;

/// `GET /metrics` on the main address (issue 13): only with the bearer token of
/// `TRYON_METRICS_TOKEN`; without a token configured it does not exist there (404), so a
/// public proxy publishes none of its figures by default.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.settings.metrics_token else {
        return ApiError::NoRoute("GET /metrics".into()).into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    if !presented.is_some_and(|presented| token.matches(presented)) {
        return ApiError::Unauthorized(
            "GET /metrics needs the bearer token of TRYON_METRICS_TOKEN",
        )
        .into_response();
    }
    exposition(&state)
}

/// The router of `--metrics-listen`: `GET /metrics` and nothing else, without a token (the
/// address is the operator's to keep private).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { exposition(&state) }),
        )
        .with_state(state)
}

fn exposition(state: &AppState) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        render(state.registry.queue_depth()),
    )
        .into_response()
}
