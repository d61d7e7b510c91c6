//! The SSE frame of one task event, in the one format both its makers share: the registry
//! builds each event's frame once when it is published, and `events.rs` sends that buffer to
//! every watcher.

use std::io::Write;

use bytes::Bytes;

use crate::wire::STATUS_EVENT;

/// One `status` event whose data is a view's JSON: built once by the registry when the
/// event is published, and the same buffer sent to every watcher. The JSON serialiser escapes
/// every control character, and the registry already replaced them in provider text, so the
/// data can never carry a bare CR or LF (which would end the field early).
pub fn status_frame(event_id: u64, data: &str) -> Bytes {
    debug_assert!(
        !data.contains(['\r', '\n']),
        "an SSE data line holds no line break"
    );
    let mut frame = Vec::with_capacity(data.len() + 48);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(STATUS_EVENT.as_bytes());
    frame.extend_from_slice(b"\nid: ");
    let _ = write!(frame, "{event_id}");
    frame.extend_from_slice(b"\ndata: ");
    frame.extend_from_slice(data.as_bytes());
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}
