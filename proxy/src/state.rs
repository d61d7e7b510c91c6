//! What every handler shares, built once at start-up: the settings, the provider, the task
//! registry, the limiter, the stores of keys, submissions and photos.
//!
//! Why a module of its own, below the handlers: every handler takes [`AppState`], and
//! `app.rs` (the router) takes every handler; with the state in the router's file the two
//! would import each other.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use tokio::sync::watch;

use crate::abuse::{Client, CounterStore, Limiter, SystemClock};
use crate::config::Settings;
use crate::garment_fetch::{FetchOptions, FetcherSetupError, GarmentFetcher, SystemResolver};
use crate::garments::GarmentSource;
use crate::idempotency::IdempotencyKeys;
use crate::images::ImagePreparer;
use crate::kept_photos::Photos;
use crate::providers::Provider;
use crate::providers::standing::Standing;
use crate::recent::RecentSubmissions;
use crate::registry::{Registry, RegistryOptions};
use crate::shopify::{AppProxyRequest, ShopifyConfig};
use crate::store::{MemoryStore, Store, StoreError, off_runtime};

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// The provider tasks and checks go to; with a failover list, the one serving now.
    pub provider: Arc<dyn Provider>,
    pub registry: Registry,
    pub images: ImagePreparer,
    pub garments: Arc<GarmentSource>,
    pub idempotency: Arc<IdempotencyKeys>,
    /// Per-client rate limits and daily quotas (issue 6).
    pub limiter: Arc<Limiter>,
    /// Identical submissions of the last ten minutes (issue 6).
    pub recent: Arc<RecentSubmissions>,
    /// Uploaded photos (issue 14), named by `photo_id` in checks and creates.
    pub photos: Arc<Photos>,
    /// Shopify's App Proxy (issue 5): when set, [`app`] also serves `/shopify`.
    pub shopify: Option<Arc<ShopifyConfig>>,
    shutdown: Arc<watch::Sender<bool>>,
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Fetcher(#[from] FetcherSetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppState {
    /// Who a request counts as for the per-client limits: its address (from trusted proxies
    /// only), or for a request the App Proxy relayed, the shopper within her shop. Without
    /// connection info (a server not started by `serving::serve`) every client shares one
    /// bucket: stricter, never looser.
    pub fn client_of(
        &self,
        peer: Option<&ConnectInfo<SocketAddr>>,
        app_proxy: Option<&AppProxyRequest>,
        headers: &HeaderMap,
    ) -> Client {
        let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip());
        let shop = app_proxy.map(|request| request.proxy.shop.as_str());
        Client::of_request(peer, headers, &self.settings.trusted_proxies, shop)
    }

    /// Builds the state around a provider, keeping everything in memory (tests, embedding);
    /// must be called inside a Tokio runtime (it starts the registry's dispatcher and the
    /// sweeper).
    pub fn new(settings: Settings, provider: Arc<dyn Provider>) -> Result<Self, SetupError> {
        Self::with_store(settings, provider, Arc::new(MemoryStore::default()))
    }

    /// Builds the state on `store` (issue 7): tasks, idempotency keys and counters live
    /// there, and the tasks it holds are reloaded and the unfinished ones resumed.
    pub fn with_store(
        settings: Settings,
        provider: Arc<dyn Provider>,
        store: Arc<dyn Store>,
    ) -> Result<Self, SetupError> {
        let fetch_options = FetchOptions {
            prefixes: settings.garment_hosts.clone(),
            max_bytes: settings.max_image_bytes,
            ..FetchOptions::default()
        };
        let fetcher = GarmentFetcher::new(fetch_options, Arc::new(SystemResolver))?;
        let demo_dir = settings.demo.then(|| settings.www_dir.join("demo"));
        // Issue 13: an account refusal is remembered and said before a shopper uploads.
        let provider: Arc<dyn Provider> = Arc::new(Standing::new(provider));
        if store.shared() {
            // Issue 7: the vendor's per-key limit and check answers hold across every
            // instance on the store.
            provider.share_through(&store);
        }
        let recent = if store.shared() {
            RecentSubmissions::shared_through(store.clone())
        } else {
            RecentSubmissions::default()
        };
        let photos = Arc::new(Photos::new(store.clone(), settings.photo_ttl));
        photos.spawn_sweeper();
        let state = Self {
            photos,
            registry: Registry::with_store(
                provider.clone(),
                RegistryOptions {
                    max_running: settings.max_running_tasks,
                    retention: settings.result_retention,
                },
                store.clone(),
            )?,
            images: ImagePreparer::new(settings.person_max_edge, settings.garment_max_edge)
                .with_max_pixels(settings.max_pixels),
            garments: Arc::new(GarmentSource::new(
                fetcher,
                demo_dir,
                settings.max_image_bytes,
            )),
            idempotency: Arc::new(IdempotencyKeys::with_store(
                settings.result_retention,
                store.clone(),
            )),
            limiter: Arc::new(Limiter::new(
                settings.abuse.clone(),
                store as Arc<dyn CounterStore>,
                Arc::new(SystemClock),
            )),
            recent: Arc::new(recent),
            provider,
            shopify: None,
            shutdown: Arc::new(watch::Sender::new(false)),
            settings: Arc::new(settings),
        };
        state.spawn_sweeper();
        Ok(state)
    }

    /// Serves Shopify's App Proxy too (issue 5), or not, with `None`.
    pub fn with_shopify(mut self, config: Option<Arc<ShopifyConfig>>) -> Self {
        self.shopify = config;
        self
    }

    /// Tells long-lived responses (event streams) to end, so a graceful shutdown can finish.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether [`AppState::begin_shutdown`] has been called (issue 7: no new creates, not ready).
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once [`AppState::begin_shutdown`] has been called.
    pub fn shutting_down(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut flag = self.shutdown.subscribe();
        async move {
            let _ = flag.wait_for(|down| *down).await;
        }
    }

    /// Removes expired tasks and idempotency keys, often enough that a short test retention
    /// is honoured and rarely enough to cost nothing.
    fn spawn_sweeper(&self) {
        let every = (self.settings.result_retention / 10)
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        let registry = self.registry.clone();
        let idempotency = Arc::downgrade(&self.idempotency);
        let recent = Arc::downgrade(&self.recent);
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop.wait_for(|down| *down) => return,
                }
                let Some(idempotency) = idempotency.upgrade() else {
                    return;
                };
                let (registry, recent) = (registry.clone(), recent.clone());
                // Both sweeps delete from the store: off the runtime's threads.
                let swept = off_runtime(move || {
                    let swept = registry.sweep();
                    idempotency.sweep();
                    if let Some(recent) = recent.upgrade() {
                        recent.sweep();
                    }
                    swept
                })
                .await;
                if swept > 0 {
                    tracing::info!(swept, "expired try-ons removed");
                }
            }
        });
    }
}
