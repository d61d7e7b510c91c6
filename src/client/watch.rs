//! Following a task: Server-Sent Events first, polling `GET /v1/tryons/{id}` if the stream fails.
//!
//! Some paths between shopper and proxy do not pass event streams through (Shopify's App Proxy
//! is not documented to), and mobile networks drop long connections; the shopper must still see
//! the task finish. So the first stream error switches to polling, which needs nothing but
//! plain GETs, and so does a stream that stays silent: the proxy sends the task's status as
//! soon as a stream opens, so no first event within [`FIRST_EVENT_TIMEOUT_MS`] means something
//! in between holds the stream back (a buffering proxy, a firewall that accepts and stalls).
//! Behind the App Proxy the stream is the create answer's direct link to the proxy's own
//! origin, while polls still go through the App Proxy. Statuses from either channel go through
//! the same callback; the state machine keeps the bar monotonic whichever channel a status came
//! from.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use tryon_proxy::wire::{ErrorCode, STATUS_EVENT, TryOnView};
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

use super::ProxyClient;
use crate::dom::{EventListener, Timeout};
use crate::state::Failure;

/// Time between two polls.
const POLL_INTERVAL_MS: i32 = 1000;
/// How long a freshly opened stream may stay silent before polling takes over.
pub const FIRST_EVENT_TIMEOUT_MS: i32 = 5000;
/// Polls that may fail in a row (a phone switching networks) before the shopper is told.
const POLL_ATTEMPTS: u32 = 5;

/// What a watch tells its owner.
pub struct Callbacks {
    pub on_status: Box<dyn Fn(TryOnView)>,
    /// The task can no longer be followed; called at most once.
    pub on_lost: Box<dyn Fn(Failure)>,
}

/// A task being followed; the stream is closed and polling stops on drop.
pub struct TaskWatch {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    client: ProxyClient,
    status_path: String,
    callbacks: Rc<Callbacks>,
    channel: Channel,
    failed_polls: u32,
}

enum Channel {
    /// Held only so it stays open (and closes when replaced). `first_event` runs until the
    /// stream delivers its first status, then is dropped.
    Streaming {
        _stream: Stream,
        first_event: Option<Timeout>,
    },
    /// Waiting for the next poll (`None` while a poll request is in flight).
    Polling(Option<Timeout>),
    Ended,
}

struct Stream {
    source: EventSource,
    _listeners: [EventListener; 2],
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.source.close();
    }
}

impl TaskWatch {
    /// Follows the task whose event stream and `self` link are given: `events` is a path
    /// relative to the proxy or an absolute URL (the create answer's direct stream), `status_path`
    /// is polled through `client` if the stream fails.
    pub fn start(
        client: ProxyClient,
        events: &str,
        status_path: &str,
        callbacks: Callbacks,
    ) -> Self {
        let inner = Rc::new(RefCell::new(Inner {
            client: client.clone(),
            status_path: status_path.to_owned(),
            callbacks: Rc::new(callbacks),
            channel: Channel::Ended,
            failed_polls: 0,
        }));
        let channel = match open_stream(&inner, &client.url(events)) {
            Some(stream) => Channel::Streaming {
                _stream: stream,
                first_event: Timeout::new(FIRST_EVENT_TIMEOUT_MS, {
                    let inner = Rc::downgrade(&inner);
                    // Deferred: falling back drops this very timer.
                    move || crate::spawn(async move { fall_back_to_polling(&inner) })
                }),
            },
            None => Channel::Polling(schedule_poll(Rc::downgrade(&inner), 0)),
        };
        inner.borrow_mut().channel = channel;
        Self { inner }
    }
}

impl Drop for TaskWatch {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner.channel = Channel::Ended;
        }
    }
}

fn open_stream(inner: &Rc<RefCell<Inner>>, url: &str) -> Option<Stream> {
    let source = EventSource::new(url).ok()?;
    let on_status = EventListener::new(&source, STATUS_EVENT, {
        let inner = Rc::downgrade(inner);
        move |event| {
            let view = event
                .dyn_ref::<MessageEvent>()
                .and_then(|event| event.data().as_string())
                .and_then(|data| super::json::parse::<TryOnView>(&data).ok());
            if let Some(view) = view {
                heard_from_stream(&inner);
                deliver(&inner, view);
            }
        }
    });
    // Any stream error before the end means this path does not carry the stream well:
    // switch to polling rather than let EventSource retry forever.
    let on_error = EventListener::new(&source, "error", {
        let inner = Rc::downgrade(inner);
        move |_| fall_back_to_polling(&inner)
    });
    Some(Stream {
        source,
        _listeners: [on_status, on_error],
    })
}

/// The stream works: its silence timer is no longer needed.
fn heard_from_stream(inner: &Weak<RefCell<Inner>>) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    if let Ok(mut state) = strong.try_borrow_mut()
        && let Channel::Streaming { first_event, .. } = &mut state.channel
    {
        *first_event = None;
    }
}

fn fall_back_to_polling(inner: &Weak<RefCell<Inner>>) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let Ok(mut state) = strong.try_borrow_mut() else {
        return;
    };
    if matches!(state.channel, Channel::Streaming { .. }) {
        // The `Stream` (and the listener running this code) is dropped here; wasm-bindgen
        // defers freeing a closure until its current call returns.
        state.channel = Channel::Polling(schedule_poll(inner.clone(), 0));
    }
}

fn schedule_poll(inner: Weak<RefCell<Inner>>, delay_ms: i32) -> Option<Timeout> {
    Timeout::new(delay_ms, move || crate::spawn(poll(inner)))
}

async fn poll(inner: Weak<RefCell<Inner>>) {
    let request = {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let mut state = strong.borrow_mut();
        if !matches!(state.channel, Channel::Polling(_)) {
            return;
        }
        state.channel = Channel::Polling(None);
        (state.client.clone(), state.status_path.clone())
    };
    let outcome = request.0.status(&request.1).await;
    let Some(strong) = inner.upgrade() else {
        return;
    };
    match outcome {
        Ok(view) => {
            let terminal = view.status.is_terminal();
            strong.borrow_mut().failed_polls = 0;
            deliver(&inner, view);
            if !terminal {
                reschedule(&inner);
            }
        }
        // The task is gone (deleted, expired, or another proxy instance forgot it): polling
        // again cannot bring it back.
        Err(failure @ Failure::Code(ErrorCode::NotFound)) => lose(&inner, failure),
        Err(failure) => {
            let attempts = {
                let mut state = strong.borrow_mut();
                state.failed_polls += 1;
                state.failed_polls
            };
            if attempts >= POLL_ATTEMPTS {
                lose(&inner, failure)
            } else {
                reschedule(&inner)
            }
        }
    }
}

fn reschedule(inner: &Weak<RefCell<Inner>>) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let Ok(mut state) = strong.try_borrow_mut() else {
        return;
    };
    if matches!(state.channel, Channel::Polling(None)) {
        state.channel = Channel::Polling(schedule_poll(inner.clone(), POLL_INTERVAL_MS));
    }
}

/// Hands a status to the owner; a terminal status ends the watch first, so the owner may drop it.
fn deliver(inner: &Weak<RefCell<Inner>>, view: TryOnView) {
    let Some(callbacks) = end_if(inner, view.status.is_terminal()) else {
        return;
    };
    (callbacks.on_status)(view);
}

fn lose(inner: &Weak<RefCell<Inner>>, failure: Failure) {
    let Some(callbacks) = end_if(inner, true) else {
        return;
    };
    (callbacks.on_lost)(failure);
}

/// The callbacks, unless the watch is already over; ends it when `end` is set. No borrow is
/// held when the callbacks run, since they may drop the watch.
fn end_if(inner: &Weak<RefCell<Inner>>, end: bool) -> Option<Rc<Callbacks>> {
    let strong = inner.upgrade()?;
    let mut state = strong.try_borrow_mut().ok()?;
    if matches!(state.channel, Channel::Ended) {
        return None;
    }
    if end {
        state.channel = Channel::Ended;
    }
    Some(Rc::clone(&state.callbacks))
}
