//! Credit abuse: every paid try-on costs the merchant money, so creates are limited per
//! client address, per shop per day, and for the whole proxy per day.
//!
//! The per-address limit is a token bucket (default burst 3, then one per 20 s; checks have
//! their own, looser bucket, and photo uploads their own modest one: burst 5, then one per
//! 30 s, since a shopper uploads a photo once per session and again only when it expired). Daily quotas are *reserved* when a create is admitted and kept
//! only when the provider accepted the task ([`Charge::settle`]); a create that the provider
//! refused gives its reservation back, so a shopper is never charged for nothing, while
//! concurrent creates can never overshoot a quota. Counters sit behind [`CounterStore`] so a
//! shared store can replace [`MemoryStore`] when several instances run.

mod client_ip;
mod clock;
mod store;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use client_ip::{client_ip, parse_trusted_proxies};
pub use clock::{Clock, ManualClock, SystemClock};
pub use store::{BucketRule, CounterStore, MemoryStore, StoreError};
// The durable stores (crate::store) run the same bucket arithmetic.
pub(crate) use store::gcra;

use crate::providers::ProviderError;
use crate::wire::ErrorCode;

/// Every limit, as configured (`TRYON_CREATE_BURST`, `TRYON_CREATE_PERIOD_S`,
/// `TRYON_SHOP_DAILY_QUOTA`, `TRYON_DAILY_BUDGET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    pub create: BucketRule,
    pub check: BucketRule,
    /// Photo uploads (`POST /v1/photos`, issue 14); free, but each is a decode and a stored photo.
    pub photo: BucketRule,
    /// Try-ons per shop per UTC day; `None` = unlimited.
    pub shop_daily_quota: Option<u64>,
    /// Paid try-ons for the whole proxy per UTC day; `None` = unlimited.
    pub daily_budget: Option<u64>,
}

impl Default for AbuseLimits {
    fn default() -> Self {
        Self {
            create: BucketRule {
                burst: 3,
                period: Duration::from_secs(20),
            },
            check: BucketRule {
                burst: 10,
                period: Duration::from_secs(3),
            },
            photo: BucketRule {
                burst: 5,
                period: Duration::from_secs(30),
            },
            shop_daily_quota: None,
            daily_budget: None,
        }
    }
}

/// Why a request is not admitted. Each maps to a 429 (or 503) with `Retry-After`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error("too many requests from this address")]
    RateLimited { retry_after: Duration },
    #[error("the {scope} daily quota is used up")]
    QuotaExhausted {
        scope: QuotaScope,
        retry_after: Duration,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    Shop,
    Proxy,
}

impl std::fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Shop => "shop's",
            Self::Proxy => "service's",
        })
    }
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::QuotaExhausted { .. } => ErrorCode::QuotaExhausted,
            Self::Store(_) => ErrorCode::StoreUnavailable,
        }
    }

    pub fn http_status(&self) -> u16 {
        match self {
            Self::Store(_) => 503,
            _ => 429,
        }
    }

    /// Whole seconds for `Retry-After`, rounded up so a client that waits exactly that long
    /// is admitted.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::RateLimited { retry_after } | Self::QuotaExhausted { retry_after, .. } => {
                retry_after.as_millis().div_ceil(1000).max(1) as u64
            }
            Self::Store(_) => 1,
        }
    }
}

/// The gate in front of every create and check.
pub struct Limiter {
    limits: AbuseLimits,
    store: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
}

impl Limiter {
    pub fn new(limits: AbuseLimits, store: Arc<dyn CounterStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            limits,
            store,
            clock,
        }
    }

    /// One process, real time.
    pub fn in_memory(limits: AbuseLimits) -> Self {
        Self::new(
            limits,
            Arc::new(MemoryStore::default()),
            Arc::new(SystemClock),
        )
    }

    pub fn limits(&self) -> &AbuseLimits {
        &self.limits
    }

    /// Admits a pre-flight check from `client`.
    pub async fn admit_check(&self, client: IpAddr) -> Result<(), Refusal> {
        self.take("check", client, self.limits.check).await
    }

    /// Admits a photo upload from `client`.
    pub async fn admit_photo(&self, client: IpAddr) -> Result<(), Refusal> {
        self.take("photo", client, self.limits.photo).await
    }

    /// Admits a create from `client` for `shop` (when known), reserving one unit of each daily
    /// quota. The returned [`Charge`] must be settled once the provider has answered.
    pub async fn admit_create(
        &self,
        client: IpAddr,
        shop: Option<&str>,
    ) -> Result<Charge, Refusal> {
        self.take("create", client, self.limits.create).await?;
        let now = self.clock.now_ms();
        let day = clock::day_of(now);
        let mut charge = Charge {
            store: self.store.clone(),
            day,
            reserved: Vec::new(),
            settled: false,
        };
        if let (Some(shop), Some(quota)) = (shop, self.limits.shop_daily_quota) {
            charge
                .reserve(format!("shop:{shop}"), quota, QuotaScope::Shop, now)
                .await?;
        }
        if let Some(budget) = self.limits.daily_budget {
            charge
                .reserve("budget".to_owned(), budget, QuotaScope::Proxy, now)
                .await?;
        }
        Ok(charge)
    }

    async fn take(&self, kind: &str, client: IpAddr, rule: BucketRule) -> Result<(), Refusal> {
        let key = format!("{kind}:{}", bucket_key(client));
        let verdict = self.store.take(&key, rule, self.clock.now_ms()).await?;
        verdict.map_err(|retry_after| Refusal::RateLimited { retry_after })
    }
}

/// IPv6 clients are limited per /64: one subscriber usually holds a whole /64 and could
/// otherwise rotate through 2^64 addresses.
fn bucket_key(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Daily-quota units reserved for one create. Dropping it unsettled gives them back (the
/// create failed before reaching the provider).
pub struct Charge {
    store: Arc<dyn CounterStore>,
    day: u64,
    reserved: Vec<String>,
    settled: bool,
}

impl Charge {
    async fn reserve(
        &mut self,
        key: String,
        limit: u64,
        scope: QuotaScope,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        if self.store.reserve_daily(&key, self.day, limit).await? {
            self.reserved.push(key);
            return Ok(());
        }
        Err(Refusal::QuotaExhausted {
            scope,
            retry_after: clock::until_next_day(now_ms),
        })
    }

    /// Keeps the reservations if the provider accepted the task, gives them back otherwise.
    pub async fn settle(mut self, provider_accepted: bool) {
        self.settled = true;
        if !provider_accepted {
            release_all(
                self.store.clone(),
                self.day,
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
        let (store, day, keys) = (
            self.store.clone(),
            self.day,
            std::mem::take(&mut self.reserved),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release_all(store, day, keys));
        }
    }
}

async fn release_all(store: Arc<dyn CounterStore>, day: u64, keys: Vec<String>) {
    for key in keys {
        if let Err(error) = store.release_daily(&key, day).await {
            tracing::warn!(%error, "could not give back a quota reservation");
        }
    }
}

/// Whether a provider run means the vendor accepted (and will bill) the task. Refusals before
/// acceptance (bad input, vendor unavailable, no credit, bad key) are free; a task that was accepted and then
/// failed, or whose fate is unknown after a timeout, is assumed billed.
pub fn provider_accepted<T>(outcome: &Result<T, ProviderError>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(
            ProviderError::InputRejected { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::OutOfCredit(_)
            | ProviderError::Auth(_),
        ) => false,
        Err(ProviderError::Failed(_) | ProviderError::Timeout(_)) => true,
    }
}

#[cfg(test)]
mod tests;
