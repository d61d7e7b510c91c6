//! Time as the limiter sees it: wall-clock milliseconds, injectable so tests can move it.
//!
//! Wall-clock (not monotonic) because daily quotas reset at UTC midnight and because a shared
//! store (issue 7) compares times written by several processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    pub fn at(now_ms: u64) -> Self {
        Self {
            now_ms: AtomicU64::new(now_ms),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

pub(crate) const DAY_MS: u64 = 86_400_000;

/// The UTC day number of `now_ms`, the key of daily counters.
pub(crate) fn day_of(now_ms: u64) -> u64 {
    now_ms / DAY_MS
}

/// Time until the next UTC midnight, when daily counters start again.
pub(crate) fn until_next_day(now_ms: u64) -> Duration {
    Duration::from_millis(DAY_MS - now_ms % DAY_MS)
}
