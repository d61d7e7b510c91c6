//! How the proxy is configured: command-line flags, environment variables and an optional TOML
//! file, resolved once at start-up into [`Settings`].
//!
//! Precedence is flag > environment variable > TOML file > built-in default. clap reads flags
//! and environment variables together (every option has `env`), so the [`Cli`] fields are all
//! optional and the defaults are applied only after the file has had its say; that is why the
//! defaults live in [`Settings::resolve`] and are spelled out in each option's help text.
//! API keys are deliberately not options here: they come from the environment only and are
//! read by the provider that needs them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;
use serde::Deserialize;

use crate::abuse::{AbuseLimits, BucketRule, DEFAULT_SHOP_DAILY_QUOTA, parse_trusted_proxies};
use crate::cors::{OriginError, normalize_origin};
use crate::providers::{ProviderKind, VendorKind};
use crate::serving::{ServeOptions, default_share_per_ip};
use crate::shopify::{self, ShopifyConfig, ShopifyConfigError};

/// The try-on proxy: holds the provider keys, drives try-on tasks, serves the widget.
///
/// Every option can also be set by its environment variable or in the TOML file given by
/// `--config`; a flag beats the environment, which beats the file.
#[derive(Debug, Default, Parser, Deserialize)]
#[command(name = "tryon-proxy", version, about, long_about = None)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Cli {
    /// TOML file with any of the options below (keys spelled like the long flags, e.g.
    /// `max-running-tasks = 8`).
    #[arg(long, env = "TRYON_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TRYON_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Try-on service to use [default: local].
    #[arg(long, env = "TRYON_PROVIDER", value_enum)]
    pub provider: Option<ProviderKind>,

    /// Comma-separated vendors that take new try-ons, in this order, when the --provider is
    /// out of credit, refuses its key or stays unavailable after its retries (the names
    /// --provider takes, e.g. `a,b`); each reads its key and base URL from the environment
    /// like --provider does. The same try-on moves on at once only when the refusal certainly cost
    /// nothing (out of credit, refused key); a provider that failed is tried again after five
    /// minutes. Needs a vendor --provider; `local` cannot be in the list [default: none].
    #[arg(
        long,
        env = "TRYON_FAILOVER",
        value_name = "PROVIDERS",
        value_enum,
        value_delimiter = ','
    )]
    pub failover: Option<Vec<ProviderKind>>,

    /// Folder with the built widget (`cargo xtask dist`), served at the root path
    /// [default: target/dist].
    #[arg(long, env = "TRYON_ASSETS_DIR", value_name = "DIR")]
    pub assets_dir: Option<PathBuf>,

    /// Folder holding the demo storefront (`<www-dir>/demo/`) [default: www].
    #[arg(long, env = "TRYON_WWW_DIR", value_name = "DIR")]
    pub www_dir: Option<PathBuf>,

    /// Serve the demo storefront at `/` and its files under `/demo/`; garment URLs pointing at
    /// this server's `/demo/` are read from disk instead of fetched.
    #[arg(long, env = "TRYON_DEMO")]
    #[serde(default)]
    pub demo: bool,

    /// How long one try-on of the local provider takes, in milliseconds [default: 3000].
    #[arg(long, env = "TRYON_LOCAL_DURATION_MS", value_name = "MS")]
    pub local_duration_ms: Option<u64>,

    /// Try-ons running upstream at once; more wait in a first-in-first-out queue
    /// [default: 4].
    #[arg(long, env = "TRYON_MAX_RUNNING_TASKS", value_name = "N")]
    pub max_running_tasks: Option<usize>,

    /// Seconds a finished try-on (status and result image) is kept [default: 86400].
    #[arg(long, env = "TRYON_RESULT_RETENTION_S", value_name = "SECONDS")]
    pub result_retention_s: Option<u64>,

    /// Largest accepted image, in bytes, per file or fetched garment [default: 10000000].
    #[arg(long, env = "TRYON_MAX_IMAGE_BYTES", value_name = "BYTES")]
    pub max_image_bytes: Option<u64>,

    /// Largest accepted create request body, in bytes [default: 25000000].
    #[arg(long, env = "TRYON_MAX_REQUEST_BYTES", value_name = "BYTES")]
    pub max_request_bytes: Option<u64>,

    /// Longest edge, in pixels, person photos are resized to [default: 2048].
    #[arg(long, env = "TRYON_PERSON_MAX_EDGE", value_name = "PX")]
    pub person_max_edge: Option<u32>,

    /// Longest edge, in pixels, garment images are resized to [default: 1024].
    #[arg(long, env = "TRYON_GARMENT_MAX_EDGE", value_name = "PX")]
    pub garment_max_edge: Option<u32>,

    /// Comma-separated URL prefixes a `garment_url` may start with; each must be `https://`
    /// and end in `/` (e.g. `https://cdn.shopify.com/`) [default: none, so only uploads and,
    /// with --demo, the demo garments].
    #[arg(
        long,
        env = "TRYON_GARMENT_HOSTS",
        value_name = "PREFIXES",
        value_delimiter = ','
    )]
    pub garment_hosts: Option<Vec<String>>,

    // Issue 6: limits that keep bad input, credit abuse and slow clients from costing anything.
    /// Largest decoded image, in megapixels (width × height), checked from the header before
    /// any pixel is allocated [default: 25].
    #[arg(long, env = "TRYON_MAX_MEGAPIXELS", value_name = "MP")]
    pub max_megapixels: Option<f64>,

    /// Try-on creates one client address may make at once before it is limited [default: 3].
    #[arg(long, env = "TRYON_CREATE_BURST", value_name = "N")]
    pub create_burst: Option<u32>,

    /// Seconds after which a limited client address may create one more try-on [default: 20].
    #[arg(long, env = "TRYON_CREATE_PERIOD_S", value_name = "SECONDS")]
    pub create_period_s: Option<u64>,

    /// Pre-flight checks one client address may make at once [default: 10].
    #[arg(long, env = "TRYON_CHECK_BURST", value_name = "N")]
    pub check_burst: Option<u32>,

    /// Seconds per further check once the burst is spent [default: 3].
    #[arg(long, env = "TRYON_CHECK_PERIOD_S", value_name = "SECONDS")]
    pub check_period_s: Option<u64>,

    /// Re-sent creates whose Idempotency-Key already made a task (their bodies are read and
    /// compared) one client may send at once [default: 10].
    #[arg(long, env = "TRYON_REPLAY_BURST", value_name = "N")]
    pub replay_burst: Option<u32>,

    /// Seconds per further re-sent create once the replay burst is spent [default: 3].
    #[arg(long, env = "TRYON_REPLAY_PERIOD_S", value_name = "SECONDS")]
    pub replay_period_s: Option<u64>,

    /// Try-ons each Shopify shop may start per UTC day, counted when the provider may have
    /// billed them; a paid check counts as its share of a try-on (half, for a vendor whose
    /// check costs half a credit), rounded up to a half. `off` removes the quota [default: 1000].
    #[arg(long, env = "TRYON_SHOP_DAILY_QUOTA", value_name = "N|off")]
    pub shop_daily_quota: Option<DailyQuota>,

    /// Photo uploads (`POST /v1/photos`) one client address may make at once [default: 5].
    #[arg(long, env = "TRYON_PHOTO_BURST", value_name = "N")]
    pub photo_burst: Option<u32>,

    /// Seconds per further photo upload once the burst is spent [default: 30].
    #[arg(long, env = "TRYON_PHOTO_PERIOD_S", value_name = "SECONDS")]
    pub photo_period_s: Option<u64>,

    /// Seconds an uploaded photo is kept for the check and try-ons that name it, then
    /// deleted [default: 1800].
    #[arg(long, env = "TRYON_PHOTO_TTL", value_name = "SECONDS")]
    pub photo_ttl: Option<u64>,

    /// Paid try-ons the whole proxy may start per UTC day; counted only when the provider
    /// accepted the task [default: unlimited].
    #[arg(long, env = "TRYON_DAILY_BUDGET", value_name = "N")]
    pub daily_budget: Option<u64>,

    /// Comma-separated CIDRs of our own reverse proxies; only requests from them may name the
    /// client in X-Forwarded-For (the right-most address not in this list is used)
    /// [default: none, so the socket peer is the client].
    #[arg(
        long,
        env = "TRYON_TRUSTED_PROXIES",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,

    /// Seconds a client has to send a complete request head; also how long an idle kept-alive
    /// connection stays open [default: 10].
    #[arg(long, env = "TRYON_HEADER_TIMEOUT_S", value_name = "SECONDS")]
    pub header_timeout_s: Option<u64>,

    /// Seconds a client has to upload a create request's body; slower uploads get 408
    /// [default: 30].
    #[arg(long, env = "TRYON_UPLOAD_TIMEOUT_S", value_name = "SECONDS")]
    pub upload_timeout_s: Option<u64>,

    /// Seconds any other non-streaming request may take [default: 10].
    #[arg(long, env = "TRYON_HANDLER_TIMEOUT_S", value_name = "SECONDS")]
    pub handler_timeout_s: Option<u64>,

    /// Connections served at once; more wait in the listen backlog [default: 2048].
    #[arg(long, env = "TRYON_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Connections one client address (an IPv6 /64) may hold at once; more from it are closed
    /// at once. Counted by the socket peer, so --trusted-proxies are exempt; behind Shopify's
    /// App Proxy each Shopify relay address has this share [default: an eighth of
    /// --max-connections, 256].
    #[arg(long, env = "TRYON_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    // Issue 7: durable state.
    /// Folder of the embedded store (tasks, results until their retention, idempotency keys,
    /// counters), so a restart loses no try-on [default: ./data].
    #[arg(long, env = "TRYON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Shared store for several instances, e.g. `redis://127.0.0.1:6379/0`: tasks, events,
    /// results, idempotency keys and counters live in Redis instead of the data directory
    /// [default: none, the embedded store].
    #[arg(long, env = "TRYON_STORE", value_name = "URL")]
    pub store: Option<String>,

    // Issue 5: embedding on storefronts of other origins and in Shopify themes.
    /// Comma-separated storefront origins whose pages may call the API, spelled as browsers
    /// send `Origin` (e.g. `https://www.shop.example,https://shop.example`); other origins get
    /// 403 `origin_not_allowed`. The proxy's own pages (the demo) are always allowed
    /// [default: none].
    #[arg(
        long,
        env = "TRYON_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Option<Vec<String>>,

    /// Comma-separated Shopify shops (`my-shop.myshopify.com`) served through the App Proxy,
    /// whose target URL is this proxy's `/shopify`; requests there must carry a valid App
    /// Proxy signature, made with the app's shared secret in the environment variable
    /// SHOPIFY_API_SECRET (environment only; required with this option) [default: none, so no
    /// `/shopify` routes].
    #[arg(
        long,
        env = "TRYON_SHOPIFY_SHOPS",
        value_name = "SHOPS",
        value_delimiter = ','
    )]
    pub shopify_shops: Option<Vec<String>>,

    /// This proxy's public base URL (e.g. `https://tryon.example.com`). Pages on its origin
    /// (the demo storefront) call the API as same-origin; requests are never judged by their
    /// `Host` header. With Shopify, a create relayed by the App Proxy gets a short-lived link
    /// to open its event stream here directly; without it the widget polls through the App
    /// Proxy [default: none; the own origin is then `http://` and the --listen address, with
    /// `localhost` for loopback].
    #[arg(long, env = "TRYON_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    // Issue 13: the operator's figures are not the public's.
    /// A second address serving only `GET /metrics`, without a token; keep it private (e.g.
    /// `127.0.0.1:9090`). On the main address `/metrics` answers only with the bearer token
    /// in the environment variable TRYON_METRICS_TOKEN (environment only), and is 404
    /// without one [default: none].
    #[arg(long, env = "TRYON_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Environment variable holding the bearer token of `GET /metrics` on the main address.
pub const ENV_METRICS_TOKEN: &str = "TRYON_METRICS_TOKEN";

/// The bearer token `/metrics` asks for; compared in constant time, never printed.
#[derive(Clone)]
pub struct MetricsToken(std::sync::Arc<secrecy::SecretString>);

impl MetricsToken {
    pub fn new(token: &str) -> Self {
        Self(std::sync::Arc::new(secrecy::SecretString::from(token)))
    }

    /// Whether `presented` is the token. Both sides are hashed first, so the comparison takes
    /// the same time whatever the length or the first wrong byte.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use secrecy::ExposeSecret;
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let expected = Sha256::digest(self.0.expose_secret().as_bytes());
        let presented = Sha256::digest(presented);
        expected.as_slice().ct_eq(presented.as_slice()).into()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken([redacted])")
    }
}

impl PartialEq for MetricsToken {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.matches(other.0.expose_secret().as_bytes())
    }
}

/// A daily quota as configured: a positive number, or `off` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyQuota(pub Option<u64>);

impl std::str::FromStr for DailyQuota {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "off" | "unlimited" => Ok(Self(None)),
            number => match number.parse::<u64>() {
                Ok(0) | Err(_) => Err(format!("{text:?} is not a positive number or `off`")),
                Ok(n) => Ok(Self(Some(n))),
            },
        }
    }
}

impl<'de> Deserialize<'de> for DailyQuota {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u64),
            Word(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(n) => n.to_string().parse(),
            Written::Word(word) => word.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// Why the configuration cannot be used; printed at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("garment host prefix {0:?} must start with https:// and end with /")]
    GarmentHost(String),
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error("--trusted-proxies: {0}")]
    TrustedProxies(String),
    #[error("--allowed-origins: {0}")]
    AllowedOrigin(#[from] OriginError),
    #[error("--failover: {0}")]
    Failover(&'static str),
}

/// The resolved configuration every part of the server reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub provider: ProviderKind,
    /// The vendors after `provider`, in order of preference (issue 3); empty without failover.
    pub failover: Vec<VendorKind>,
    pub assets_dir: PathBuf,
    pub www_dir: PathBuf,
    pub demo: bool,
    pub local_duration: Duration,
    pub max_running_tasks: usize,
    pub result_retention: Duration,
    /// How long an uploaded photo lives (issue 14, `TRYON_PHOTO_TTL`).
    pub photo_ttl: Duration,
    pub max_image_bytes: u64,
    pub max_request_bytes: u64,
    pub person_max_edge: u32,
    pub garment_max_edge: u32,
    pub garment_hosts: Vec<String>,
    /// Largest decoded image, in pixels.
    pub max_pixels: u64,
    pub abuse: AbuseLimits,
    pub trusted_proxies: Vec<IpNet>,
    pub serve: ServeOptions,
    pub upload_timeout: Duration,
    pub handler_timeout: Duration,
    /// Where the embedded store keeps its file (issue 7).
    pub data_dir: PathBuf,
    /// A shared store's URL (`redis://…`); `None` keeps the embedded one (issue 7).
    pub store: Option<String>,
    /// Storefront origins allowed to call the API, normalised (issue 5).
    pub allowed_origins: Vec<String>,
    /// Shopify shops served through the App Proxy (issue 5); see [`Settings::shopify`].
    pub shopify_shops: Vec<String>,
    pub public_url: Option<String>,
    /// The address of the metrics-only listener (issue 13).
    pub metrics_listen: Option<SocketAddr>,
    /// From [`ENV_METRICS_TOKEN`] only (see [`Settings::load`]); `None` keeps `/metrics` off the
    /// main address.
    pub metrics_token: Option<MetricsToken>,
}

impl Settings {
    /// Parses flags and environment, reads the TOML file if one is named, and applies defaults.
    pub fn load() -> Result<Self, ConfigError> {
        let mut settings = Self::from_cli(Cli::parse())?;
        settings.metrics_token = std::env::var(ENV_METRICS_TOKEN)
            .ok()
            .filter(|token| !token.trim().is_empty())
            .map(|token| MetricsToken::new(token.trim()));
        Ok(settings)
    }

    /// Like [`Settings::load`] for an already parsed command line (tests build one with
    /// `Cli::parse_from`).
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => Cli::default(),
        };
        Self::resolve(cli, file)
    }

    fn resolve(cli: Cli, file: Cli) -> Result<Self, ConfigError> {
        let garment_hosts = cli.garment_hosts.or(file.garment_hosts).unwrap_or_default();
        let garment_hosts: Vec<String> = garment_hosts
            .into_iter()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(bad) = garment_hosts
            .iter()
            .find(|h| !(h.starts_with("https://") && h.ends_with('/')))
        {
            return Err(ConfigError::GarmentHost(bad.clone()));
        }
        let provider = cli
            .provider
            .or(file.provider)
            .unwrap_or(ProviderKind::Local);
        let failover = failover_vendors(provider, cli.failover.or(file.failover))?;
        let trusted_proxies = parse_trusted_proxies(
            &cli.trusted_proxies
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .join(","),
        )
        .map_err(ConfigError::TrustedProxies)?;
        let max_connections = cli.max_connections.or(file.max_connections).unwrap_or(2048);
        let settings = Self {
            listen: cli
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            provider,
            failover,
            assets_dir: cli
                .assets_dir
                .or(file.assets_dir)
                .unwrap_or_else(|| "target/dist".into()),
            www_dir: cli.www_dir.or(file.www_dir).unwrap_or_else(|| "www".into()),
            demo: cli.demo || file.demo,
            local_duration: Duration::from_millis(
                cli.local_duration_ms
                    .or(file.local_duration_ms)
                    .unwrap_or(3000),
            ),
            max_running_tasks: cli
                .max_running_tasks
                .or(file.max_running_tasks)
                .unwrap_or(4),
            result_retention: Duration::from_secs(
                cli.result_retention_s
                    .or(file.result_retention_s)
                    .unwrap_or(86_400),
            ),
            photo_ttl: Duration::from_secs(cli.photo_ttl.or(file.photo_ttl).unwrap_or(1800)),
            max_image_bytes: cli
                .max_image_bytes
                .or(file.max_image_bytes)
                .unwrap_or(10_000_000),
            max_request_bytes: cli
                .max_request_bytes
                .or(file.max_request_bytes)
                .unwrap_or(25_000_000),
            person_max_edge: cli.person_max_edge.or(file.person_max_edge).unwrap_or(2048),
            garment_max_edge: cli
                .garment_max_edge
                .or(file.garment_max_edge)
                .unwrap_or(1024),
            garment_hosts,
            max_pixels: (cli
                .max_megapixels
                .or(file.max_megapixels)
                .unwrap_or(25.0)
                .max(0.0)
                * 1e6) as u64,
            abuse: AbuseLimits {
                create: BucketRule {
                    burst: cli.create_burst.or(file.create_burst).unwrap_or(3),
                    period: Duration::from_secs(
                        cli.create_period_s.or(file.create_period_s).unwrap_or(20),
                    ),
                },
                check: BucketRule {
                    burst: cli.check_burst.or(file.check_burst).unwrap_or(10),
                    period: Duration::from_secs(
                        cli.check_period_s.or(file.check_period_s).unwrap_or(3),
                    ),
                },
                replay: BucketRule {
                    burst: cli.replay_burst.or(file.replay_burst).unwrap_or(10),
                    period: Duration::from_secs(
                        cli.replay_period_s.or(file.replay_period_s).unwrap_or(3),
                    ),
                },
                shop_daily_quota: match cli.shop_daily_quota.or(file.shop_daily_quota) {
                    None => Some(DEFAULT_SHOP_DAILY_QUOTA),
                    Some(DailyQuota(quota)) => quota,
                },
                photo: BucketRule {
                    burst: cli.photo_burst.or(file.photo_burst).unwrap_or(5),
                    period: Duration::from_secs(
                        cli.photo_period_s.or(file.photo_period_s).unwrap_or(30),
                    ),
                },
                daily_budget: cli.daily_budget.or(file.daily_budget),
            },
            serve: ServeOptions {
                header_read_timeout: Duration::from_secs(
                    cli.header_timeout_s.or(file.header_timeout_s).unwrap_or(10),
                ),
                max_connections,
                max_connections_per_ip: cli
                    .max_connections_per_ip
                    .or(file.max_connections_per_ip)
                    .unwrap_or(default_share_per_ip(max_connections)),
                shared_peers: trusted_proxies.iter().copied().collect(),
                ..ServeOptions::default()
            },
            trusted_proxies,
            upload_timeout: Duration::from_secs(
                cli.upload_timeout_s.or(file.upload_timeout_s).unwrap_or(30),
            ),
            handler_timeout: Duration::from_secs(
                cli.handler_timeout_s
                    .or(file.handler_timeout_s)
                    .unwrap_or(10),
            ),
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| "data".into()),
            store: cli.store.or(file.store),
            allowed_origins: cli
                .allowed_origins
                .or(file.allowed_origins)
                .unwrap_or_default()
                .iter()
                .filter(|origin| !origin.trim().is_empty())
                .map(|origin| normalize_origin(origin))
                .collect::<Result<_, _>>()?,
            shopify_shops: cli.shopify_shops.or(file.shopify_shops).unwrap_or_default(),
            public_url: cli.public_url.or(file.public_url),
            metrics_listen: cli.metrics_listen.or(file.metrics_listen),
            metrics_token: None,
        };
        settings.check_positive()?;
        Ok(settings)
    }

    /// The origins of the proxy's own pages (the demo storefront), which the API treats as
    /// same-origin (issue 13: from the configuration, never from a request's `Host`): the
    /// origin of `--public-url`, or without one the `--listen` address as `http://` (a
    /// loopback or unspecified address also as `localhost` and `127.0.0.1`).
    pub fn own_origins(&self) -> Vec<String> {
        if let Some(origin) = self
            .public_url
            .as_deref()
            .and_then(|url| url::Url::parse(url).ok())
            .map(|url| url.origin().ascii_serialization())
        {
            return vec![origin];
        }
        let port = self.listen.port();
        let ip = self.listen.ip();
        let mut own = vec![format!("http://{}", self.listen)];
        if ip.is_loopback() || ip.is_unspecified() {
            own.push(format!("http://localhost:{port}"));
            own.push(format!("http://127.0.0.1:{port}"));
            own.push(format!("http://[::1]:{port}"));
        }
        own.sort();
        own.dedup();
        own.retain(|origin| normalize_origin(origin).is_ok_and(|normal| &normal == origin));
        own
    }

    /// The Shopify App Proxy configuration (issue 5): the shops and public URL of these
    /// settings with the secret from `SHOPIFY_API_SECRET`. `Ok(None)` when Shopify is off; a
    /// half configuration is an error, so the proxy refuses to start.
    pub fn shopify(&self) -> Result<Option<ShopifyConfig>, ShopifyConfigError> {
        self.shopify_with_secret(std::env::var(shopify::ENV_API_SECRET).ok())
    }

    fn shopify_with_secret(
        &self,
        secret: Option<String>,
    ) -> Result<Option<ShopifyConfig>, ShopifyConfigError> {
        let shops = self.shopify_shops.join(",");
        let config = ShopifyConfig::from_lookup(|name| match name {
            shopify::ENV_API_SECRET => secret.clone(),
            shopify::ENV_SHOPS => Some(shops.clone()),
            shopify::ENV_PUBLIC_URL => self.public_url.clone(),
            _ => None,
        })?;
        Ok(config.map(|config| config.with_storefronts(&self.allowed_origins)))
    }

    fn check_positive(&self) -> Result<(), ConfigError> {
        let checks = [
            ("--max-running-tasks", self.max_running_tasks as u64),
            ("--max-image-bytes", self.max_image_bytes),
            ("--max-request-bytes", self.max_request_bytes),
            ("--person-max-edge", u64::from(self.person_max_edge)),
            ("--garment-max-edge", u64::from(self.garment_max_edge)),
            ("--result-retention-s", self.result_retention.as_secs()),
            ("--max-megapixels", self.max_pixels),
            ("--create-burst", u64::from(self.abuse.create.burst)),
            ("--check-burst", u64::from(self.abuse.check.burst)),
            ("--replay-burst", u64::from(self.abuse.replay.burst)),
            ("--photo-burst", u64::from(self.abuse.photo.burst)),
            ("--photo-ttl", self.photo_ttl.as_secs()),
            (
                "--header-timeout-s",
                self.serve.header_read_timeout.as_secs(),
            ),
            ("--upload-timeout-s", self.upload_timeout.as_secs()),
            ("--handler-timeout-s", self.handler_timeout.as_secs()),
            ("--max-connections", self.serve.max_connections as u64),
            (
                "--max-connections-per-ip",
                self.serve.max_connections_per_ip as u64,
            ),
        ];
        match checks.into_iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(ConfigError::Zero(name)),
            None => Ok(()),
        }
    }
}

/// The failover list as vendors: after a vendor only, without `local`, no vendor twice.
fn failover_vendors(
    provider: ProviderKind,
    listed: Option<Vec<ProviderKind>>,
) -> Result<Vec<VendorKind>, ConfigError> {
    let listed = listed.unwrap_or_default();
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let Some(first) = provider.vendor() else {
        return Err(ConfigError::Failover(
            "needs a vendor --provider to fail over from",
        ));
    };
    let mut vendors = Vec::with_capacity(listed.len());
    for kind in listed {
        let vendor = kind.vendor().ok_or(ConfigError::Failover(
            "the local compositor is a demo, not a stand-in for a vendor",
        ))?;
        if vendor == first || vendors.contains(&vendor) {
            return Err(ConfigError::Failover("each provider may appear only once"));
        }
        vendors.push(vendor);
    }
    Ok(vendors)
}

fn read_file(path: &Path) -> Result<Cli, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.into(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("tryon-proxy").chain(args.iter().copied()))
            .expect("valid flags")
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let s = Settings::resolve(cli(&[]), Cli::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.provider, ProviderKind::Local);
        assert_eq!(s.assets_dir, PathBuf::from("target/dist"));
        assert_eq!(s.local_duration, Duration::from_millis(3000));
        assert_eq!(s.max_running_tasks, 4);
        assert_eq!(s.result_retention, Duration::from_secs(86_400));
        assert_eq!(
            (s.max_image_bytes, s.max_request_bytes),
            (10_000_000, 25_000_000)
        );
        assert_eq!((s.person_max_edge, s.garment_max_edge), (2048, 1024));
        assert!(!s.demo && s.garment_hosts.is_empty());
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let file: Cli = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nmax-running-tasks = 8\ndemo = true\ngarment-hosts = [\"https://cdn.example/\"]",
        )
        .unwrap();
        let s = Settings::resolve(cli(&["--max-running-tasks", "2"]), file).unwrap();
        assert_eq!(s.max_running_tasks, 2, "flag wins");
        assert_eq!(
            s.listen,
            "127.0.0.1:9000".parse().unwrap(),
            "file beats default"
        );
        assert!(s.demo);
        assert_eq!(s.garment_hosts, ["https://cdn.example/"]);
    }

    #[test]
    fn garment_hosts_are_comma_separated_https_prefixes() {
        let s = Settings::resolve(
            cli(&[
                "--garment-hosts",
                "https://a.example/,https://b.example/img/",
            ]),
            Cli::default(),
        )
        .unwrap();
        assert_eq!(
            s.garment_hosts,
            ["https://a.example/", "https://b.example/img/"]
        );
        for bad in ["http://a.example/", "https://a.example"] {
            let err =
                Settings::resolve(cli(&["--garment-hosts", bad]), Cli::default()).unwrap_err();
            assert!(matches!(err, ConfigError::GarmentHost(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn abuse_and_slow_client_defaults_are_the_issue_6_values() {
        let s = Settings::resolve(cli(&[]), Cli::default()).unwrap();
        assert_eq!(
            (s.abuse.create.burst, s.abuse.create.period),
            (3, Duration::from_secs(20))
        );
        assert_eq!(
            (s.abuse.shop_daily_quota, s.abuse.daily_budget),
            (Some(1000), None),
            "issue 13: a shop quota is on by default"
        );
        assert_eq!(
            (s.abuse.replay.burst, s.abuse.replay.period),
            (10, Duration::from_secs(3))
        );
        assert_eq!(
            (s.serve.max_connections, s.serve.max_connections_per_ip),
            (2048, 256)
        );
        assert_eq!(s.max_pixels, 25_000_000);
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.serve.header_read_timeout, Duration::from_secs(10));
        assert_eq!(
            (s.upload_timeout, s.handler_timeout),
            (Duration::from_secs(30), Duration::from_secs(10))
        );
        let s = Settings::resolve(
            cli(&[
                "--create-burst",
                "5",
                "--daily-budget",
                "100",
                "--trusted-proxies",
                "10.0.0.0/8,192.168.0.1",
            ]),
            Cli::default(),
        )
        .unwrap();
        assert_eq!((s.abuse.create.burst, s.abuse.daily_budget), (5, Some(100)));
        assert_eq!(s.trusted_proxies.len(), 2);
        let err = Settings::resolve(cli(&["--trusted-proxies", "not-a-cidr"]), Cli::default())
            .unwrap_err();
        assert!(matches!(err, ConfigError::TrustedProxies(_)), "{err}");
    }

    #[test]
    fn the_shop_quota_takes_a_number_or_off_and_trusted_proxies_share_connections() {
        let resolve =
            |args: &[&str], file: &str| Settings::resolve(cli(args), toml::from_str(file).unwrap());
        let off = resolve(&["--shop-daily-quota", "off"], "").unwrap();
        assert_eq!(off.abuse.shop_daily_quota, None);
        let set = resolve(&[], "shop-daily-quota = 250").unwrap();
        assert_eq!(set.abuse.shop_daily_quota, Some(250));
        let word = resolve(&[], "shop-daily-quota = \"off\"").unwrap();
        assert_eq!(word.abuse.shop_daily_quota, None);
        assert!(Cli::try_parse_from(["tryon-proxy", "--shop-daily-quota", "0"]).is_err());
        assert!(Cli::try_parse_from(["tryon-proxy", "--shop-daily-quota", "lots"]).is_err());
        let shared = resolve(
            &[
                "--max-connections",
                "100",
                "--trusted-proxies",
                "10.0.0.0/8",
            ],
            "",
        )
        .unwrap();
        assert_eq!(shared.serve.max_connections_per_ip, 12, "an eighth");
        assert_eq!(shared.serve.shared_peers.len(), 1);
        let err = resolve(&["--max-connections-per-ip", "0"], "").unwrap_err();
        assert!(
            matches!(err, ConfigError::Zero("--max-connections-per-ip")),
            "{err}"
        );
    }

    #[test]
    fn the_config_file_is_read_from_the_path_given() {
        let path =
            std::env::temp_dir().join(format!("tryon-proxy-config-{}.toml", std::process::id()));
        std::fs::write(&path, "max-running-tasks = 7\nperson-max-edge = 1600\n").unwrap();
        let loaded = Settings::from_cli(cli(&[
            "--config",
            path.to_str().unwrap(),
            "--person-max-edge",
            "1200",
        ]));
        std::fs::remove_file(&path).unwrap();
        let s = loaded.unwrap();
        assert_eq!((s.max_running_tasks, s.person_max_edge), (7, 1200));

        let missing =
            Settings::from_cli(cli(&["--config", "/nonexistent/tryon.toml"])).unwrap_err();
        assert!(matches!(missing, ConfigError::Read { .. }), "{missing}");
    }

    #[test]
    fn allowed_origins_are_normalised_and_bad_ones_refused() {
        let s = Settings::resolve(
            cli(&[
                "--allowed-origins",
                "https://Shop.Example/,http://127.0.0.1:3000",
            ]),
            Cli::default(),
        )
        .unwrap();
        assert_eq!(
            s.allowed_origins,
            ["https://shop.example", "http://127.0.0.1:3000"]
        );
        let err = Settings::resolve(
            cli(&["--allowed-origins", "https://shop.example/products"]),
            Cli::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::AllowedOrigin(_)), "{err}");
    }

    #[test]
    fn shopify_is_off_unless_configured_and_half_configurations_are_refused() {
        let none = Settings::resolve(cli(&[]), Cli::default()).unwrap();
        assert!(none.shopify_with_secret(None).unwrap().is_none());
        let shops = Settings::resolve(
            cli(&[
                "--shopify-shops",
                "a.myshopify.com,b.myshopify.com",
                "--public-url",
                "https://tryon.example.com/",
            ]),
            Cli::default(),
        )
        .unwrap();
        assert_eq!(
            shops.shopify_with_secret(None).unwrap_err(),
            ShopifyConfigError::MissingSecret
        );
        let config = shops
            .shopify_with_secret(Some("s3cret".into()))
            .unwrap()
            .expect("configured");
        assert_eq!(config.shops, ["a.myshopify.com", "b.myshopify.com"]);
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://tryon.example.com")
        );
        assert_eq!(
            none.shopify_with_secret(Some("s3cret".into())).unwrap_err(),
            ShopifyConfigError::NoShops
        );
    }

    #[test]
    fn failover_lists_vendors_after_the_provider_once_each() {
        let s = Settings::resolve(
            cli(&["--provider", "fitroom", "--failover", "fitinview,tryiton"]),
            Cli::default(),
        )
        .unwrap();
        assert_eq!(s.provider, ProviderKind::Fitroom);
        assert_eq!(s.failover, [VendorKind::FitInView, VendorKind::TryItOn]);
        let file: Cli = toml::from_str("provider = \"vtryon\"\nfailover = [\"fitroom\"]").unwrap();
        let s = Settings::resolve(cli(&[]), file).unwrap();
        assert_eq!(s.failover, [VendorKind::Fitroom]);
        assert!(
            Settings::resolve(cli(&[]), Cli::default())
                .unwrap()
                .failover
                .is_empty()
        );
        for bad in [
            &["--failover", "fitroom"][..],
            &["--provider", "fitroom", "--failover", "local"],
            &["--provider", "fitroom", "--failover", "fitroom"],
            &["--provider", "fitroom", "--failover", "tryiton,tryiton"],
        ] {
            let err = Settings::resolve(cli(bad), Cli::default()).unwrap_err();
            assert!(matches!(err, ConfigError::Failover(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<Cli>("lisen = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn zero_limits_are_refused() {
        let err =
            Settings::resolve(cli(&["--max-running-tasks", "0"]), Cli::default()).unwrap_err();
        assert!(
            matches!(err, ConfigError::Zero("--max-running-tasks")),
            "{err}"
        );
    }

    #[test]
    fn help_documents_every_option() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for flag in [
            "--config",
            "--listen",
            "--provider",
            "TRYON_PROVIDER",
            "--failover",
            "TRYON_FAILOVER",
            "--assets-dir",
            "--www-dir",
            "--demo",
            "--local-duration-ms",
            "--max-running-tasks",
            "--result-retention-s",
            "--max-image-bytes",
            "--max-request-bytes",
            "--person-max-edge",
            "--garment-max-edge",
            "--garment-hosts",
            "TRYON_LISTEN",
            "TRYON_GARMENT_HOSTS",
            "TRYON_CREATE_BURST",
            "TRYON_CREATE_PERIOD_S",
            "TRYON_SHOP_DAILY_QUOTA",
            "TRYON_DAILY_BUDGET",
            "TRYON_TRUSTED_PROXIES",
            "TRYON_MAX_IMAGE_BYTES",
            "TRYON_MAX_MEGAPIXELS",
            "TRYON_HEADER_TIMEOUT_S",
            "TRYON_UPLOAD_TIMEOUT_S",
            "TRYON_HANDLER_TIMEOUT_S",
            "TRYON_MAX_CONNECTIONS",
            "TRYON_MAX_CONNECTIONS_PER_IP",
            "TRYON_REPLAY_BURST",
            "TRYON_REPLAY_PERIOD_S",
            "TRYON_DATA_DIR",
            "TRYON_ALLOWED_ORIGINS",
            "TRYON_SHOPIFY_SHOPS",
            "SHOPIFY_API_SECRET",
            "TRYON_PUBLIC_URL",
        ] {
            assert!(
                help.contains(flag),
                "--help does not mention {flag}:\n{help}"
            );
        }
    }
}
