//! The access log: a request id for every request, one span per request naming its method,
//! its path (task ids cut short) and that id, and one line per answer.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use tower_http::request_id::{MakeRequestId, RequestId};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A random UUID (version 4) for each request without one, as tower-http's `MakeRequestUuid`
/// makes, but drawn from the thread's generator (`rand`, seeded once from the system) instead
/// of one `getrandom` system call per request.
#[derive(Debug, Clone, Copy)]
pub struct RandomRequestId;

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
pub fn request_span(request: &Request<Body>) -> tracing::Span {
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
pub fn log_response<B>(response: &Response<B>, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency = latency.as_millis();
    if response.extensions().get::<RoutineRead>().is_some() && response.status().is_success() {
        tracing::debug!(status, latency = %format_args!("{latency} ms"), "finished processing request");
    } else {
        tracing::info!(status, latency = %format_args!("{latency} ms"), "finished processing request");
    }
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
