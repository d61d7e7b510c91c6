//! Arbitrary provider text (a stage name, an error message) on its way into a Server-Sent
//! Event, exactly as the proxy builds `status` events: `registry::sanitise_text`, the view as
//! JSON, axum's `Event` builder (which panics on CR or LF). Nothing may panic, and the encoded
//! stream must hold exactly one event whose data is the JSON that went in.
#![no_main]

use axum::response::IntoResponse;
use axum::response::sse::{Event, Sse};
use libfuzzer_sys::fuzz_target;
use tryon_proxy::registry::sanitise_text;
use tryon_proxy::wire::{ErrorCode, ProgressKind, STATUS_EVENT, TaskError, TaskStatus, TryOnView};

fuzz_target!(|raw: &[u8]| {
    let text = String::from_utf8_lossy(raw);
    let clean = sanitise_text(&text);
    assert!(
        !clean.chars().any(char::is_control),
        "control character survived: {clean:?}"
    );
    let view = TryOnView {
        id: "0".repeat(32),
        status: TaskStatus::Failed,
        progress: 50,
        progress_kind: ProgressKind::Reported,
        stage: Some(clean.clone()),
        queue_position: None,
        result: None,
        error: Some(TaskError {
            code: ErrorCode::ProviderFailed,
            message: clean.clone(),
            retryable: true,
        }),
        created_at: String::new(),
        updated_at: String::new(),
    };
    let data = serde_json::to_string(&view).expect("views serialise");
    let events = vec![
        Event::default()
            .event(STATUS_EVENT)
            .id("7")
            .data(data.clone()),
        // Provider text used directly as a field value must be safe too.
        Event::default().event(clean.clone()).data(clean.clone()),
        Event::default().comment(clean.clone()),
    ];
    let stream = futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>));
    let body = Sse::new(stream).into_response().into_body();
    let bytes = futures::executor::block_on(axum::body::to_bytes(body, usize::MAX)).expect("body");
    let text = std::str::from_utf8(&bytes).expect("events are UTF-8");
    let first = text.split("\n\n").next().expect("one frame");
    let data_lines: Vec<&str> = first
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(
        data_lines,
        [data.as_str()],
        "the status event must be one data line: {first:?}"
    );
    assert_eq!(
        text.matches("\n\n").count(),
        3,
        "three frames, no extra terminators: {text:?}"
    );
});
