//! Where the limiter's counters live, behind a trait so issue 7 can move them to Redis.
//!
//! Two primitives cover every limit: a GCRA token bucket (one timestamp per key, which maps to
//! a single Redis value updated by a script) and a daily counter with reserve/release (which
//! maps to `INCR` + `EXPIRE`, and `DECR` to release).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

/// A burst of `burst` events, refilled at one per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRule {
    pub burst: u32,
    pub period: Duration,
}

/// The store could not be reached; callers fail closed (nothing is admitted or charged).
#[derive(Debug, Clone, thiserror::Error)]
#[error("limit store unavailable: {0}")]
pub struct StoreError(pub String);

#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Admits one event for `key` under `rule`, or says how long until one would be admitted.
    async fn take(
        &self,
        key: &str,
        rule: BucketRule,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, StoreError>;

    /// Adds one to the counter `key` of UTC day `day` if it is below `limit`; false when full.
    async fn reserve_daily(&self, key: &str, day: u64, limit: u64) -> Result<bool, StoreError>;

    /// Gives back one reservation made by [`CounterStore::reserve_daily`].
    async fn release_daily(&self, key: &str, day: u64) -> Result<(), StoreError>;

    /// How many reservations the counter `key` of UTC day `day` holds, without taking one.
    async fn daily_count(&self, key: &str, day: u64) -> Result<u64, StoreError>;
}

/// GCRA ("virtual scheduling"): `tat` is the theoretical arrival time of the next event at the
/// sustained rate; an event is admitted while `tat` is at most `(burst - 1) × period` ahead.
/// Returns the new `tat`, or the wait.
pub(crate) fn gcra(tat_ms: Option<u64>, rule: BucketRule, now_ms: u64) -> Result<u64, Duration> {
    let period = rule.period.as_millis() as u64;
    let tolerance = period.saturating_mul(u64::from(rule.burst.max(1) - 1));
    let tat = tat_ms.unwrap_or(now_ms).max(now_ms);
    if tat - now_ms > tolerance {
        return Err(Duration::from_millis(tat - now_ms - tolerance));
    }
    Ok(tat + period)
}

/// Above this many bucket keys, keys whose bucket is full again are dropped (they are
/// indistinguishable from absent ones), so a scan over many addresses cannot grow memory.
const PRUNE_ABOVE: usize = 100_000;

/// Counters in this process's memory: correct for one instance.
#[derive(Debug, Default)]
pub struct MemoryStore {
    buckets: Mutex<HashMap<String, u64>>,
    daily: Mutex<HashMap<String, (u64, u64)>>,
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn take(
        &self,
        key: &str,
        rule: BucketRule,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, StoreError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, tat| *tat > now_ms);
        }
        let verdict = gcra(buckets.get(key).copied(), rule, now_ms);
        Ok(verdict.map(|tat| {
            buckets.insert(key.to_owned(), tat);
        }))
    }

    async fn reserve_daily(&self, key: &str, day: u64, limit: u64) -> Result<bool, StoreError> {
        let mut daily = self.daily.lock().unwrap_or_else(|e| e.into_inner());
        daily.retain(|_, (d, _)| *d >= day);
        let (stored_day, count) = daily.entry(key.to_owned()).or_insert((day, 0));
        if *stored_day != day {
            (*stored_day, *count) = (day, 0);
        }
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }

    async fn release_daily(&self, key: &str, day: u64) -> Result<(), StoreError> {
        let mut daily = self.daily.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((stored_day, count)) = daily.get_mut(key)
            && *stored_day == day
        {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }

    async fn daily_count(&self, key: &str, day: u64) -> Result<u64, StoreError> {
        let daily = self.daily.lock().unwrap_or_else(|e| e.into_inner());
        Ok(daily
            .get(key)
            .filter(|(stored_day, _)| *stored_day == day)
            .map_or(0, |(_, count)| *count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: BucketRule = BucketRule {
        burst: 3,
        period: Duration::from_secs(20),
    };

    #[test]
    fn gcra_admits_the_burst_then_one_per_period() {
        let mut tat = None;
        for i in 0..3 {
            tat = Some(
                gcra(tat, RULE, 0).unwrap_or_else(|w| panic!("event {i} refused, wait {w:?}")),
            );
        }
        assert_eq!(gcra(tat, RULE, 0), Err(Duration::from_secs(20)));
        assert_eq!(gcra(tat, RULE, 19_999), Err(Duration::from_millis(1)));
        assert!(gcra(tat, RULE, 20_000).is_ok());
    }

    #[tokio::test]
    async fn daily_counters_stop_at_the_limit_and_release_gives_back() {
        let store = MemoryStore::default();
        assert!(store.reserve_daily("shop", 1, 2).await.unwrap());
        assert!(store.reserve_daily("shop", 1, 2).await.unwrap());
        assert!(!store.reserve_daily("shop", 1, 2).await.unwrap());
        store.release_daily("shop", 1).await.unwrap();
        assert!(store.reserve_daily("shop", 1, 2).await.unwrap());
        assert!(
            store.reserve_daily("shop", 2, 2).await.unwrap(),
            "a new day starts from zero"
        );
    }
}
