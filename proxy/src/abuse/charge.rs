//! Daily quotas in halves of a try-on, reserved before the provider is asked and kept only
//! when it may have billed.
//!
//! Issue 13: paid checks count too, and a vendor's check may cost half a try-on (0.5 credit
//! against 1).
//! Counters therefore count halves of a try-on: a try-on reserves two, a check whose cost is a
//! fraction of a try-on reserves that fraction rounded up to whole halves (so no paid call is
//! ever counted as free), and a quota of N try-ons is 2N halves. The stores' counters add one
//! at a time (`CounterStore::reserve_daily`); a cost of several halves takes them one by one and
//! gives back what it took if one is refused, so concurrent reservations never overshoot.

use std::sync::Arc;

use super::clock;
use super::{CounterStore, QuotaScope, Refusal};

/// What a call costs against the daily quotas, in halves of a try-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    halves: u64,
}

impl Cost {
    /// One try-on.
    pub const TRY_ON: Cost = Cost { halves: 2 };

    /// A call costing `share` of a try-on (0.5 for a check at half a try-on's price), rounded
    /// up to whole halves; `None` when it costs nothing.
    pub fn of_try_ons(share: f64) -> Option<Cost> {
        let halves = (share * 2.0).ceil();
        (halves >= 1.0).then(|| Cost {
            halves: halves.min(u64::MAX as f64) as u64,
        })
    }

    pub fn halves(self) -> u64 {
        self.halves
    }
}

/// A daily quota of `try_ons`, as the counters count it.
pub(crate) fn quota_in_halves(try_ons: u64) -> u64 {
    try_ons.saturating_mul(Cost::TRY_ON.halves)
}

/// Daily-quota units reserved for one paid call. Dropping it unsettled gives them back (the
/// call failed before reaching the provider).
pub struct Charge {
    store: Arc<dyn CounterStore>,
    day: u64,
    cost: Cost,
    reserved: Vec<String>,
    settled: bool,
}

impl Charge {
    pub(crate) fn new(store: Arc<dyn CounterStore>, day: u64, cost: Cost) -> Self {
        Self {
            store,
            day,
            cost,
            reserved: Vec::new(),
            settled: false,
        }
    }

    /// Reserves this charge's cost on the counter `key`, whose limit is `limit` halves.
    pub(crate) async fn reserve(
        &mut self,
        key: String,
        limit: u64,
        scope: QuotaScope,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        for taken in 0..self.cost.halves {
            let admitted = match self.store.reserve_daily(&key, self.day, limit).await {
                Ok(admitted) => admitted,
                Err(error) => {
                    release(&self.store, self.day, &key, taken).await;
                    return Err(error.into());
                }
            };
            if !admitted {
                release(&self.store, self.day, &key, taken).await;
                return Err(Refusal::QuotaExhausted {
                    scope,
                    retry_after: clock::until_next_day(now_ms),
                });
            }
        }
        self.reserved.push(key);
        Ok(())
    }

    /// Keeps the reservations if the provider may have billed the call, gives them back
    /// otherwise.
    pub async fn settle(mut self, billed: bool) {
        self.settled = true;
        if !billed {
            release_all(
                self.store.clone(),
                self.day,
                self.cost,
                std::mem::take(&mut self.reserved),
            )
            .await;
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.settled || self.reserved.is_empty() {
            return;
        }
        let (store, day, cost, keys) = (
            self.store.clone(),
            self.day,
            self.cost,
            std::mem::take(&mut self.reserved),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release_all(store, day, cost, keys));
        }
    }
}

async fn release_all(store: Arc<dyn CounterStore>, day: u64, cost: Cost, keys: Vec<String>) {
    for key in keys {
        release(&store, day, &key, cost.halves).await;
    }
}

async fn release(store: &Arc<dyn CounterStore>, day: u64, key: &str, halves: u64) {
    for _ in 0..halves {
        if let Err(error) = store.release_daily(key, day).await {
            tracing::warn!(%error, "could not give back a quota reservation");
            return;
        }
    }
}
