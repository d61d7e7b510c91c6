//! Credit abuse: every paid try-on costs the merchant money, so creates are limited per
//! client, per shop per day, and for the whole proxy per day.
//!
//! The per-client limit is a token bucket (default burst 3, then one per 20 s; checks have
//! their own, looser bucket, and so do replays of a completed `Idempotency-Key`, since every
//! body the proxy reads costs it; photo uploads have their own modest one: burst 5, then one
//! per 30 s, since a shopper uploads a photo once per session and again only when it expired).
//! A client is its address ([`Client::Address`]), or, for a request Shopify's App Proxy
//! relayed, the shopper's address within that shop ([`Client::Relayed`]). Daily quotas are
//! *reserved* when a create (or a paid check) is admitted and kept only when the provider may
//! have billed it ([`Charge::settle`]); a create that the provider refused gives its
//! reservation back, so a shopper is never charged for nothing, while concurrent creates can
//! never overshoot a quota. Counters sit behind [`CounterStore`] so a shared store can replace
//! [`MemoryStore`] when several instances run.

mod charge;
mod client_ip;
mod clock;
mod store;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use ipnet::IpNet;

pub use charge::{Charge, Cost};
pub use client_ip::{client_ip, parse_trusted_proxies, relayed_shopper};
pub use clock::{Clock, ManualClock, SystemClock};
pub use store::{BucketRule, CounterStore, MemoryStore, StoreError};
// The durable stores (crate::store) run the same bucket arithmetic.
pub(crate) use store::gcra;

use crate::error::ApiError;
use crate::wire::ErrorCode;

/// Every limit, as configured (`TRYON_CREATE_BURST`, `TRYON_CREATE_PERIOD_S`,
/// `TRYON_REPLAY_BURST`, `TRYON_SHOP_DAILY_QUOTA`, `TRYON_DAILY_BUDGET`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    pub create: BucketRule,
    pub check: BucketRule,
    /// Re-sent creates whose `Idempotency-Key` already made a task: their bodies are read and
    /// hashed to be compared, so they are not free, but looser than creates.
    pub replay: BucketRule,
    /// Photo uploads (`POST /v1/photos`, issue 14); free, but each is a decode and a stored photo.
    pub photo: BucketRule,
    /// Try-ons per shop per UTC day (paid checks count as their share of one); `None` =
    /// unlimited.
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
            replay: BucketRule {
                burst: 10,
                period: Duration::from_secs(3),
            },
            photo: BucketRule {
                burst: 5,
                period: Duration::from_secs(30),
            },
            shop_daily_quota: Some(DEFAULT_SHOP_DAILY_QUOTA),
            daily_budget: None,
        }
    }
}

/// Issue 13: try-ons one shop may start per UTC day unless configured otherwise. A busy shop
/// sees a few hundred try-ons a day; a thousand leaves room for its best days while one
/// shop's abuse (or bug) can spend at most this much of the merchant's credit.
pub const DEFAULT_SHOP_DAILY_QUOTA: u64 = 1000;

/// Whom the per-client buckets count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// The socket peer, or the client our own proxies vouch for (see [`client_ip`]).
    Address(IpAddr),
    /// A shopper relayed by Shopify's App Proxy for `shop`, at the address Shopify saw.
    Relayed { shop: String, shopper: IpAddr },
}

impl From<IpAddr> for Client {
    fn from(address: IpAddr) -> Self {
        Self::Address(address)
    }
}

impl Client {
    /// The client of a request from `peer` with `headers`. `relayed_for` is the shop of a
    /// request whose App Proxy signature verified: its shopper is keyed within that shop; when
    /// the shopper's address is missing or malformed the request counts as the relay's (one
    /// bucket for all of them: stricter, never looser). Unsigned requests keep the trusted
    /// proxies' rule.
    pub fn of_request(
        peer: IpAddr,
        headers: &HeaderMap,
        trusted: &[IpNet],
        relayed_for: Option<&str>,
    ) -> Self {
        if let Some(shop) = relayed_for {
            match relayed_shopper(peer, headers, trusted) {
                Some(shopper) => {
                    return Self::Relayed {
                        shop: shop.to_owned(),
                        shopper,
                    };
                }
                None => tracing::warn!(
                    "an App Proxy request carried no readable shopper address; counting it as the relay's"
                ),
            }
        }
        Self::Address(client_ip(peer, headers, trusted))
    }

    fn bucket_key(&self) -> String {
        match self {
            Self::Address(address) => address_key(*address),
            Self::Relayed { shop, shopper } => format!("{shop}|{}", address_key(*shopper)),
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

/// One daily counter and its limit, in halves of a try-on.
struct Quota {
    key: String,
    limit: u64,
    scope: QuotaScope,
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
    pub async fn admit_check(&self, client: impl Into<Client>) -> Result<(), Refusal> {
        self.take("check", &client.into(), self.limits.check).await
    }

    /// Admits the body of a create whose `Idempotency-Key` already made a task (a replay):
    /// reading and hashing it costs, so it takes a token of the client's replay bucket.
    pub async fn admit_replay(&self, client: impl Into<Client>) -> Result<(), Refusal> {
        self.take("replay", &client.into(), self.limits.replay)
            .await
    }

    /// Admits fitting a result to a screen (`GET …/result?width=`) for `client`: a decode and an
    /// encode on the proxy, as costly as reading a replayed body, so it follows the replay
    /// bucket's rule in a bucket of its own. Past it the caller serves the result in full.
    pub async fn admit_fit(&self, client: impl Into<Client>) -> Result<(), Refusal> {
        self.take("fit", &client.into(), self.limits.replay).await
    }

    /// Admits a photo upload from `client`.
    pub async fn admit_photo(&self, client: impl Into<Client>) -> Result<(), Refusal> {
        self.take("photo", &client.into(), self.limits.photo).await
    }

    /// Admits a create from `client` for `shop` (when known), reserving one try-on of each
    /// daily quota. The returned [`Charge`] must be settled once the provider has answered.
    pub async fn admit_create(
        &self,
        client: impl Into<Client>,
        shop: Option<&str>,
    ) -> Result<Charge, Refusal> {
        self.take("create", &client.into(), self.limits.create)
            .await?;
        self.charge(shop, Cost::TRY_ON).await
    }

    /// Reserves `cost` of each daily quota for a paid call other than a create (a vendor's
    /// check); the client's own bucket has been taken by [`Limiter::admit_check`].
    pub async fn charge(&self, shop: Option<&str>, cost: Cost) -> Result<Charge, Refusal> {
        let now = self.clock.now_ms();
        let mut charge = Charge::new(self.store.clone(), clock::day_of(now), cost);
        for quota in self.quotas(shop) {
            charge
                .reserve(quota.key, quota.limit, quota.scope, now)
                .await?;
        }
        Ok(charge)
    }

    /// The refusal a try-on for `shop` would get from the daily quotas now, if any, without
    /// reserving anything (issue 13: a spent budget is said when the dialog opens, before the
    /// shopper uploads a photo).
    pub async fn quota_refusal(&self, shop: Option<&str>) -> Result<Option<Refusal>, Refusal> {
        let now = self.clock.now_ms();
        for quota in self.quotas(shop) {
            let used = self
                .store
                .daily_count(&quota.key, clock::day_of(now))
                .await?;
            if used.saturating_add(Cost::TRY_ON.halves()) > quota.limit {
                return Ok(Some(Refusal::QuotaExhausted {
                    scope: quota.scope,
                    retry_after: clock::until_next_day(now),
                }));
            }
        }
        Ok(None)
    }

    /// The daily quotas a paid call for `shop` counts against: the shop's, then the proxy's.
    fn quotas(&self, shop: Option<&str>) -> Vec<Quota> {
        let shop = shop
            .zip(self.limits.shop_daily_quota)
            .map(|(shop, quota)| Quota {
                key: format!("cost:shop:{shop}"),
                limit: charge::quota_in_halves(quota),
                scope: QuotaScope::Shop,
            });
        let proxy = self.limits.daily_budget.map(|budget| Quota {
            key: "cost:budget".to_owned(),
            limit: charge::quota_in_halves(budget),
            scope: QuotaScope::Proxy,
        });
        shop.into_iter().chain(proxy).collect()
    }

    async fn take(&self, kind: &str, client: &Client, rule: BucketRule) -> Result<(), Refusal> {
        let key = format!("{kind}:{}", client.bucket_key());
        let verdict = self.store.take(&key, rule, self.clock.now_ms()).await?;
        verdict.map_err(|retry_after| Refusal::RateLimited { retry_after })
    }
}

/// IPv6 clients are limited per /64: one subscriber usually holds a whole /64 and could
/// otherwise rotate through 2^64 addresses. Also the key of `serving`'s per-address
/// connection share.
pub(crate) fn address_key(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::RateLimited { retry_after } => Self::RateLimited { retry_after },
            Refusal::QuotaExhausted { retry_after, .. } => Self::QuotaExhausted { retry_after },
            Refusal::Store(error) => {
                tracing::error!(%error, "limit store unavailable");
                Self::StoreUnavailable
            }
        }
    }
}

#[cfg(test)]
mod tests;
