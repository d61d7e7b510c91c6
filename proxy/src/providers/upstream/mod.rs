//! What every vendor adapter needs and none should write twice.
//!
//! - [`client`]: the one path to a vendor's API — key header, shared rate limit, retries that
//!   never charge a shopper twice, vendor errors classified.
//! - [`limiter`]: the per-key request budget, creates before polls.
//! - [`poll`]: following a task to its end without wasting the budget.
//! - [`progress`]: one monotonic bar per task, reported or estimated from durations.
//! - [`download`]: fetching the result from its signed URL before it expires.
//! - [`cache`]: vendor answers keyed by image content, so an image is never paid for twice.
//! - [`balance`]: the vendor's credit balance, read in the background for `/metrics`.
//! - [`webhooks`]: vendor webhooks wake a task's poll loop, on whichever instance drives it.
//!
//! [`record_in_flight`] hands what a restart needs (vendor ids) to the task registry, and
//! [`read_in_flight`] reads it back in `resume`.

pub mod balance;
pub mod cache;
pub mod client;
pub mod download;
pub mod limiter;
pub mod poll;
pub mod progress;
pub mod webhooks;

pub use balance::Balance;
pub use cache::{ContentCache, ContentHash, content_hash};
pub use client::{KeyHeader, Replay, Reply, Upstream, UpstreamError};
pub use download::Downloader;
pub use limiter::{Priority, RateLimiter};
pub use poll::{FIRST_POLL_SHARE, PollPlan, Polled, until_done};
pub use progress::{DurationBook, Progress, Span};
pub use webhooks::WebhookInbox;

/// Hands the vendor-side state of a task to the registry, which persists it so that a restart
/// [`resume`](super::Provider::resume)s the task from it instead of paying for it again.
pub fn record_in_flight(sink: &dyn super::ProgressSink, state: &impl serde::Serialize) {
    sink.upstream_started(serde_json::to_value(state).expect("upstream state is plain data"));
}

/// The state [`record_in_flight`] recorded, as a resumed adapter reads it; a state it cannot
/// read fails the task (retryable) rather than risk paying for it twice.
pub fn read_in_flight<T: serde::de::DeserializeOwned>(
    state: serde_json::Value,
    vendor: &str,
) -> Result<T, super::ProviderError> {
    serde_json::from_value(state).map_err(|_| {
        super::ProviderError::Failed(format!("no {vendor} task to resume after the restart"))
    })
}
