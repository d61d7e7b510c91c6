//! A vendor's credit balance, read now and then and shown on `/metrics` (issue 13), so the
//! merchant sees the account running dry before shoppers see `provider_out_of_credit`.
//!
//! Reading it must not cost a shopper anything: it runs in the background, at poll priority,
//! at most once per [`REFRESH`], and a vendor that does not answer it only leaves the gauge
//! as it was.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::client::{Replay, Upstream};
use super::limiter::Priority;

/// The least time between two readings.
pub const REFRESH: Duration = Duration::from_secs(60);

pub struct Balance {
    provider: &'static str,
    /// The vendor's balance endpoint, and how to read its answer.
    path: &'static str,
    read: fn(&[u8]) -> Option<f64>,
    last: Mutex<Option<Instant>>,
}

impl Balance {
    pub fn new(provider: &'static str, path: &'static str, read: fn(&[u8]) -> Option<f64>) -> Self {
        Self {
            provider,
            path,
            read,
            last: Mutex::new(None),
        }
    }

    /// Reads the balance in the background unless it was read less than [`REFRESH`] ago.
    pub fn refresh(&self, api: &Arc<Upstream>) {
        {
            let mut last = self.lock();
            if last.is_some_and(|at| at.elapsed() < REFRESH) {
                return;
            }
            *last = Some(Instant::now());
        }
        let (api, provider, path, read) = (api.clone(), self.provider, self.path, self.read);
        tokio::spawn(async move {
            let reply = api
                .call(Replay::Safe, Priority::Poll, None, |http| {
                    http.get(api.url(path))
                })
                .await;
            match reply.map(|reply| read(&reply.body)) {
                Ok(Some(credits)) => crate::metrics::provider_credits(provider, credits),
                Ok(None) => {
                    tracing::warn!(provider, "the vendor's balance answer was not understood")
                }
                Err(error) => {
                    tracing::debug!(provider, %error, "the vendor's balance could not be read")
                }
            }
        });
    }

    /// A balance the vendor reported on another answer: shown, and counts as a reading.
    pub fn record(&self, credits: f64) {
        *self.lock() = Some(Instant::now());
        crate::metrics::provider_credits(self.provider, credits);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}
