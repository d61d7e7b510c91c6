//! Fetching garment images by URL without becoming an SSRF gadget.
//!
//! A shopper (or a page) names a garment image by URL, and the proxy downloads it: that makes
//! the proxy a fetcher anyone can aim. Every fetch therefore passes three gates, in order:
//! the URL text ([`policy`]: https, no userinfo, no IP literal, under a configured prefix),
//! every address the host resolves to ([`address`]: public unicast only), and the transfer
//! itself (no redirects, 5 s to connect, 5 s in total, a byte cap counted while streaming).
//! The connection is made to exactly the addresses that were checked ([`resolve::PinnedDns`]).
//! Successful downloads are kept in a byte-bounded cache keyed by URL.

pub mod address;
mod cache;
pub mod policy;
pub mod resolve;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

pub use address::ForbiddenAddress;
pub use policy::{PrefixError, UrlPolicy, UrlRefusal};
pub use resolve::{HostResolver, StaticResolver, SystemResolver};

use crate::wire::ErrorCode;
use cache::ByteCache;
use policy::AllowedUrl;
use resolve::PinnedDns;

/// How garment fetches are bounded.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Allowed URL prefixes, each ending in `/` (`TRYON_GARMENT_HOSTS`).
    pub prefixes: Vec<String>,
    /// Largest body accepted, counted on the bytes received (`TRYON_MAX_IMAGE_BYTES`).
    pub max_bytes: u64,
    pub connect_timeout: Duration,
    /// From the start of the request to the last body byte.
    pub total_timeout: Duration,
    /// Byte budget of the URL cache.
    pub cache_bytes: usize,
    /// Extra trusted roots (a private CDN's CA; tests trust their self-signed certificate).
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            prefixes: Vec::new(),
            max_bytes: 10_000_000,
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(5),
            cache_bytes: 64 * 1024 * 1024,
            extra_roots: Vec::new(),
        }
    }
}

/// Why a garment could not be fetched. Policy refusals are 400 `garment_url_not_allowed`.
#[derive(Debug, thiserror::Error)]
pub enum GarmentFetchError {
    #[error(transparent)]
    Url(#[from] UrlRefusal),
    #[error("garment host {host} resolves to a {}", why.as_str())]
    ForbiddenAddress {
        host: String,
        ip: IpAddr,
        why: ForbiddenAddress,
    },
    #[error("garment host {host} does not resolve")]
    Unresolvable { host: String },
    #[error("garment_url answered with a redirect, and redirects are not followed")]
    Redirect,
    #[error("the garment image is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("garment_url answered HTTP {0}")]
    Status(u16),
    #[error("garment_url did not answer in time")]
    Timeout,
    #[error("garment_url could not be fetched")]
    Network,
}

impl GarmentFetchError {
    /// The contract's code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Url(_)
            | Self::ForbiddenAddress { .. }
            | Self::Unresolvable { .. }
            | Self::Redirect => ErrorCode::GarmentUrlNotAllowed,
            Self::TooLarge { .. } => ErrorCode::ImageTooLarge,
            Self::Status(_) | Self::Timeout | Self::Network => ErrorCode::InvalidField,
        }
    }

    /// The HTTP status of the problem response.
    pub fn http_status(&self) -> u16 {
        match self.code() {
            ErrorCode::ImageTooLarge => 413,
            _ => 400,
        }
    }
}

/// Downloads garment images under the policy; one instance per process (it holds the cache).
pub struct GarmentFetcher {
    policy: UrlPolicy,
    resolver: Arc<dyn HostResolver>,
    pins: PinnedDns,
    client: reqwest::Client,
    max_bytes: u64,
    cache: Mutex<ByteCache>,
    in_flight: InFlight,
    /// Addresses the tests' loopback TLS server uses; absent from non-test builds.
    #[cfg(test)]
    exempt_for_tests: Vec<IpAddr>,
}

/// Building the fetcher failed: a bad prefix or an HTTP client that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FetcherSetupError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("cannot build the HTTP client for garment fetches: {0}")]
    Client(#[from] reqwest::Error),
}

impl GarmentFetcher {
    pub fn new(
        options: FetchOptions,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<Self, FetcherSetupError> {
        let policy = UrlPolicy::new(&options.prefixes)?;
        let pins = PinnedDns::default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            // An HTTP(S)_PROXY from the environment would resolve names itself, past our checks.
            .no_proxy()
            .connect_timeout(options.connect_timeout)
            .timeout(options.total_timeout)
            .dns_resolver(Arc::new(pins.clone()))
            .user_agent(concat!("tryon-proxy/", env!("CARGO_PKG_VERSION")));
        for root in options.extra_roots {
            builder = builder.tls_certs_merge([root]);
        }
        Ok(Self {
            policy,
            resolver,
            pins,
            client: builder.build()?,
            max_bytes: options.max_bytes,
            cache: Mutex::new(ByteCache::new(options.cache_bytes)),
            in_flight: Mutex::new(HashMap::new()),
            #[cfg(test)]
            exempt_for_tests: Vec::new(),
        })
    }

    /// Checks a URL without fetching it (for early validation of a create request).
    pub fn check_url(&self, raw: &str) -> Result<(), GarmentFetchError> {
        self.policy.check(raw).map(drop).map_err(Into::into)
    }

    /// The image bytes at `raw`, from the cache or fetched under every check.
    pub async fn fetch(&self, raw: &str) -> Result<Bytes, GarmentFetchError> {
        self.fetch_also_under(raw, None).await
    }

    /// Like [`GarmentFetcher::fetch`], and a URL under `extra` passes the prefix rule too:
    /// prefixes that hold for one request only (issue 5: a verified Shopify shop's own image
    /// CDN). Every other check (https, no IP literal, public addresses, limits) is the same.
    pub async fn fetch_also_under(
        &self,
        raw: &str,
        extra: Option<&UrlPolicy>,
    ) -> Result<Bytes, GarmentFetchError> {
        let allowed = match (self.policy.check(raw), extra) {
            (Err(UrlRefusal::PrefixNotAllowed), Some(extra)) => extra.check(raw)?,
            (checked, _) => checked?,
        };
        let key = allowed.url.as_str().to_owned();
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        // One download per URL at a time: concurrent shoppers of a new product wait for the
        // first download instead of each starting their own.
        // The guard, not the end of this function, releases the map entry: a shopper who
        // goes away mid-download drops this future, and an attacker doing that with unique URLs
        // must not grow the map.
        let flight = Flight::join(&self.in_flight, key);
        let _turn = flight.turn.lock().await;
        if let Some(hit) = self.cached(&flight.key) {
            return Ok(hit);
        }
        let bytes = self.download(&allowed).await?;
        let key = flight.key.clone();
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, bytes.clone());
        Ok(bytes)
    }

    fn cached(&self, key: &str) -> Option<Bytes> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
    }

    /// How many URLs have a download in flight or waiting (the attack benchmark reads it).
    pub fn in_flight_len(&self) -> usize {
        lock(&self.in_flight).len()
    }

    async fn download(&self, allowed: &AllowedUrl) -> Result<Bytes, GarmentFetchError> {
        let addrs = self.checked_addresses(allowed).await?;
        self.pins.pin(&allowed.host, addrs);
        let response = self
            .client
            .get(allowed.url.clone())
            .send()
            .await
            .map_err(transfer_error)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(GarmentFetchError::Redirect);
        }
        if !status.is_success() {
            return Err(GarmentFetchError::Status(status.as_u16()));
        }
        let limit = self.max_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(GarmentFetchError::TooLarge { limit });
        }
        let mut body = BytesMut::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transfer_error)?;
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(GarmentFetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// Every address of the host, each checked; one bad address refuses the whole host, so a
    /// round-robin answer cannot smuggle an internal address in beside a public one.
    async fn checked_addresses(
        &self,
        allowed: &AllowedUrl,
    ) -> Result<Vec<SocketAddr>, GarmentFetchError> {
        let host = &allowed.host;
        let ips = self
            .resolver
            .lookup(host, allowed.port)
            .await
            .map_err(|_| GarmentFetchError::Unresolvable { host: host.clone() })?;
        if ips.is_empty() {
            return Err(GarmentFetchError::Unresolvable { host: host.clone() });
        }
        for &ip in &ips {
            if let Some(why) = self.forbidden(ip) {
                tracing::warn!(%host, %ip, reason = why.as_str(), "garment fetch refused");
                return Err(GarmentFetchError::ForbiddenAddress {
                    host: host.clone(),
                    ip,
                    why,
                });
            }
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, allowed.port))
            .collect())
    }

    #[cfg(not(test))]
    fn forbidden(&self, ip: IpAddr) -> Option<ForbiddenAddress> {
        address::forbidden(ip)
    }

    #[cfg(test)]
    fn forbidden(&self, ip: IpAddr) -> Option<ForbiddenAddress> {
        address::forbidden(ip).filter(|_| !self.exempt_for_tests.contains(&ip))
    }
}

type InFlight = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One caller's share of a URL's download turn; the last share dropped, whether the download
/// finished, failed or was cancelled, removes the URL from the map.
struct Flight<'a> {
    map: &'a InFlight,
    key: String,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> Flight<'a> {
    fn join(map: &'a InFlight, key: String) -> Self {
        let turn = lock(map).entry(key.clone()).or_default().clone();
        Self { map, key, turn }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut map = lock(self.map);
        // Two references left: the map's and ours. Counted under the map's lock, so no one
        // can join between the count and the removal.
        if map
            .get(&self.key)
            .is_some_and(|turn| Arc::ptr_eq(turn, &self.turn) && Arc::strong_count(turn) == 2)
        {
            map.remove(&self.key);
        }
    }
}

fn transfer_error(error: reqwest::Error) -> GarmentFetchError {
    if error.is_timeout() {
        GarmentFetchError::Timeout
    } else {
        GarmentFetchError::Network
    }
}
