//! `GET /v1/tryons/{id}/events`: a task's progress as Server-Sent Events.
//!
//! Each `status` event carries a [`crate::wire::TryOnView`] and the registry's event id, so a
//! reconnecting `EventSource` (which sends `Last-Event-ID`) receives exactly the events it
//! missed: no gap, no repeat. The stream ends after the terminal status. Answering 204 when
//! there is nothing more to say (unknown task, or terminal and already seen) is what makes an
//! `EventSource` stop reconnecting. Proxies must not buffer the stream (`X-Accel-Buffering`),
//! and a comment every 15 s keeps idle connections from being cut.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::app::AppState;
use crate::wire::{STATUS_EVENT, TryOnView, headers};

const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long an `EventSource` waits before reconnecting after a dropped connection.
const RETRY: Duration = Duration::from_millis(3000);

/// Follows a try-on: `event: status` with the task JSON, at once and on every change.
#[utoipa::path(get, path = "/v1/tryons/{id}/events", tag = "tryon",
    params(
        ("id" = String, Path, description = "Task id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "`text/event-stream` of `status` events whose data is a TryOnView",
            content_type = "text/event-stream", body = TryOnView),
        (status = 204, description = "Unknown task, or finished and nothing left to send"),
    ))]
pub async fn tryon_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request_headers: HeaderMap,
) -> Response {
    let after = last_event_id(&request_headers);
    let Some(position) = state.registry.watch_state(&id) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    if position.terminal && after >= position.last_event {
        return StatusCode::NO_CONTENT.into_response();
    }
    let Some(events) = state.registry.event_frames(&id, after) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let mut first = true;
    // Counted while the stream lives (issue 7's connected-watchers gauge).
    let connected = crate::metrics::watcher_connected();
    let stream = events
        .map(move |(event_id, data)| {
            let _ = &connected;
            let event = status_event(event_id, &data);
            let event = if std::mem::take(&mut first) {
                event.retry(RETRY)
            } else {
                event
            };
            Ok::<_, Infallible>(event)
        })
        .take_until(state.shutting_down());
    let no_buffering = (
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    (
        [no_buffering],
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    )
        .into_response()
}

/// The id of the last event the client saw; 0 (everything) when absent or malformed.
fn last_event_id(request_headers: &HeaderMap) -> u64 {
    request_headers
        .get(headers::LAST_EVENT_ID)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// One `status` event whose data is a view's JSON (serialised once by the registry). The JSON
/// serialiser escapes every control character, and the registry already replaced them in
/// provider text, so the data can never carry a bare CR or LF.
fn status_event(event_id: u64, data: &str) -> Event {
    Event::default()
        .event(STATUS_EVENT)
        .id(event_id.to_string())
        .data(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_id_defaults_to_zero() {
        let mut request_headers = HeaderMap::new();
        assert_eq!(last_event_id(&request_headers), 0);
        request_headers.insert("last-event-id", HeaderValue::from_static(" 12 "));
        assert_eq!(last_event_id(&request_headers), 12);
        request_headers.insert("last-event-id", HeaderValue::from_static("x"));
        assert_eq!(last_event_id(&request_headers), 0);
    }
}
