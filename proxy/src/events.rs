//! `GET /v1/tryons/{id}/events`: a task's progress as Server-Sent Events.
//!
//! Each `status` event carries a [`crate::wire::TryOnView`] and the registry's event id, so a
//! reconnecting `EventSource` (which sends `Last-Event-ID`) receives exactly the events it
//! missed: no gap, no repeat. The stream ends after the terminal status. Answering 204 when
//! there is nothing more to say (unknown task, or terminal and already seen) is what makes an
//! `EventSource` stop reconnecting. Proxies must not buffer the stream (`X-Accel-Buffering`),
//! and a comment every 15 s keeps idle connections from being cut.
//!
//! The frames are written here rather than with axum's `Sse` (issue 7, 10,000 watchers on
//! one instance): the registry builds each event's frame once ([`status_frame`]) and every
//! watcher sends that same buffer (only a stream's first frame is copied, to add `retry`), and
//! the keep-alive timer is re-armed only when it fires instead of on every event, which took
//! several percent of the proxy's CPU per delivered event.

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::metrics::WatcherGuard;
use crate::state::AppState;
use crate::wire::{TryOnView, headers};

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
        (status = 404, description = "`not_found`: not a task id at all", body = crate::wire::Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn tryon_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request_headers: HeaderMap,
) -> Response {
    if let Err(malformed) = crate::api::well_formed(&id) {
        return malformed.into_response();
    }
    let after = last_event_id(&request_headers);
    // A task held elsewhere is read from the shared store: on a blocking thread (issue 13).
    let registry = state.registry.clone();
    let position = if registry.shares_store() {
        let id = id.clone();
        tokio::task::spawn_blocking(move || registry.watch_state(&id))
            .await
            .ok()
            .flatten()
    } else {
        registry.watch_state(&id)
    };
    let Some(position) = position else {
        return StatusCode::NO_CONTENT.into_response();
    };
    if position.terminal && after >= position.last_event {
        return StatusCode::NO_CONTENT.into_response();
    }
    let Some(events) = state.registry.event_frames(&id, after) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let stream = StatusStream {
        events: Box::pin(events),
        shutdown: Box::pin(state.shutting_down()),
        keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
        last_sent: Instant::now(),
        first: true,
        // Counted while the stream lives (issue 7's connected-watchers gauge).
        _connected: crate::metrics::watcher_connected(),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

type Events = Pin<Box<dyn Stream<Item = (u64, Bytes)> + Send>>;

/// One watcher's SSE body: the task's events as frames, a keep-alive comment after
/// [`KEEP_ALIVE`] without a frame, and the end at shutdown.
struct StatusStream {
    events: Events,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    keep_alive: Pin<Box<Sleep>>,
    last_sent: Instant,
    /// The first frame also tells the client how long to wait before reconnecting.
    first: bool,
    _connected: WatcherGuard,
}

impl Stream for StatusStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.events.as_mut().poll_next(cx) {
            Poll::Ready(Some((_, frame))) => {
                this.last_sent = Instant::now();
                let frame = if std::mem::take(&mut this.first) {
                    add_retry(&frame)
                } else {
                    frame
                };
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            // Shutdown is looked at only when there is nothing to send: the stream is polled
            // again right after each frame, so it still ends at once, and the busy path skips
            // a poll of the shutdown flag per frame.
            Poll::Pending if this.shutdown.as_mut().poll(cx).is_ready() => Poll::Ready(None),
            Poll::Pending => this.poll_keep_alive(cx),
        }
    }
}

impl StatusStream {
    /// The keep-alive comment once [`KEEP_ALIVE`] has passed since the last frame. The timer
    /// is left alone while events flow and re-armed to the real deadline when it fires early.
    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        loop {
            std::task::ready!(self.keep_alive.as_mut().poll(cx));
            let due = self.last_sent + KEEP_ALIVE;
            let now = Instant::now();
            if now >= due {
                self.last_sent = now;
                self.keep_alive.as_mut().reset(now + KEEP_ALIVE);
                return Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE_COMMENT))));
            }
            self.keep_alive.as_mut().reset(due);
        }
    }
}

/// An SSE comment: ignored by `EventSource`, but traffic for every proxy on the way.
const KEEP_ALIVE_COMMENT: &[u8] = b":\n\n";

/// The id of the last event the client saw; 0 (everything) when absent or malformed.
fn last_event_id(request_headers: &HeaderMap) -> u64 {
    request_headers
        .get(headers::LAST_EVENT_ID)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// A stream's first frame also tells the client how long to wait before reconnecting: the
/// shared frame with a `retry` field before the blank line that ends it.
fn add_retry(frame: &[u8]) -> Bytes {
    let fields = frame.strip_suffix(b"\n").unwrap_or(frame);
    let mut first = Vec::with_capacity(frame.len() + 16);
    first.extend_from_slice(fields);
    let _ = write!(first, "retry: {}\n\n", RETRY.as_millis());
    Bytes::from(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::status_frame;
    use crate::wire::STATUS_EVENT;
    use axum::response::sse::{Event, Sse};
    use futures::StreamExt;

    #[test]
    fn last_event_id_defaults_to_zero() {
        let mut request_headers = HeaderMap::new();
        assert_eq!(last_event_id(&request_headers), 0);
        request_headers.insert("last-event-id", HeaderValue::from_static(" 12 "));
        assert_eq!(last_event_id(&request_headers), 12);
        request_headers.insert("last-event-id", HeaderValue::from_static("x"));
        assert_eq!(last_event_id(&request_headers), 0);
    }

    /// The bytes axum's own SSE encoder writes for the same event.
    async fn axum_frame(event_id: u64, data: &str, with_retry: bool) -> Bytes {
        let event = Event::default()
            .event(STATUS_EVENT)
            .id(event_id.to_string())
            .data(data);
        let event = if with_retry {
            event.retry(RETRY)
        } else {
            event
        };
        let stream = futures::stream::iter([Ok::<_, Infallible>(event)]);
        let body = Sse::new(stream).into_response().into_body();
        axum::body::to_bytes(body, usize::MAX).await.unwrap()
    }

    #[tokio::test]
    async fn frames_are_byte_for_byte_what_axum_writes() {
        let data = r#"{"id":"ab","status":"running","progress":40}"#;
        for (event_id, with_retry) in [(1, true), (17, false), (12_345, true)] {
            let frame = status_frame(event_id, data);
            let sent = if with_retry { add_retry(&frame) } else { frame };
            assert_eq!(
                sent,
                axum_frame(event_id, data, with_retry).await,
                "event {event_id}, retry {with_retry}"
            );
        }
    }

    fn stream_of(events: Events) -> StatusStream {
        StatusStream {
            events,
            shutdown: Box::pin(futures::future::pending()),
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            last_sent: Instant::now(),
            first: true,
            _connected: crate::metrics::watcher_connected(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_comes_after_a_quiet_interval_since_the_last_frame() {
        let one_event_after_10s = futures::stream::once(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            (1, status_frame(1, "{}"))
        })
        .chain(futures::stream::pending());
        let mut stream = stream_of(Box::pin(one_event_after_10s));
        let start = Instant::now();
        let first = stream.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"event: status\nid: 1\n"), "{first:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        let comment = stream.next().await.unwrap().unwrap();
        assert_eq!(&comment[..], KEEP_ALIVE_COMMENT);
        assert_eq!(start.elapsed(), Duration::from_secs(10) + KEEP_ALIVE);
        let comment = stream.next().await.unwrap().unwrap();
        assert_eq!(&comment[..], KEEP_ALIVE_COMMENT);
        assert_eq!(start.elapsed(), Duration::from_secs(10) + 2 * KEEP_ALIVE);
    }

    #[tokio::test]
    async fn only_the_first_frame_is_copied_the_rest_are_the_shared_buffers() {
        let published = [status_frame(1, "{}"), status_frame(2, "{}")];
        let mut stream = stream_of(Box::pin(futures::stream::iter(
            published.clone().map(|frame| (0, frame)),
        )));
        let first = stream.next().await.unwrap().unwrap();
        assert!(first.ends_with(b"retry: 3000\n\n"), "{first:?}");
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!(second, published[1]);
        assert_eq!(
            second.as_ptr(),
            published[1].as_ptr(),
            "the second frame is the registry's buffer, not a copy"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_stream() {
        let mut stream = stream_of(Box::pin(futures::stream::pending()));
        stream.shutdown = Box::pin(tokio::time::sleep(Duration::from_secs(1)));
        assert!(stream.next().await.is_none());
    }
}
