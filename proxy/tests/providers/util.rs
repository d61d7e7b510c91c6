//! Helpers shared by the provider tests: images, a recording progress sink, fast tuning.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tryon_proxy::providers::{
    PreparedImage, ProgressSink, ProgressUpdate, TryOnJob, UpstreamTuning,
};
use tryon_proxy::wire::{Category, ProgressKind, Quality};

/// The key the fakes accept: distinctive enough that finding it anywhere is a leak.
pub use tryon_fakes::KEY;

/// A JPEG of `width`×`height` in one colour; different colours give different content hashes.
pub fn jpeg(width: u32, height: u32, colour: [u8; 3]) -> PreparedImage {
    PreparedImage {
        bytes: Bytes::from(tryon_fakes::jpeg(width, height, colour)),
        width,
        height,
        content_type: "image/jpeg",
    }
}

/// Encoded once per test binary: encoding is CPU work that would otherwise stall the
/// single-threaded test runtime the fakes share with the adapters.
fn cached(cell: &'static OnceLock<PreparedImage>, make: fn() -> PreparedImage) -> PreparedImage {
    cell.get_or_init(make).clone()
}

pub fn person() -> PreparedImage {
    static CELL: OnceLock<PreparedImage> = OnceLock::new();
    cached(&CELL, || jpeg(600, 900, [180, 150, 130]))
}

pub fn garment() -> PreparedImage {
    static CELL: OnceLock<PreparedImage> = OnceLock::new();
    cached(&CELL, || jpeg(400, 400, [20, 60, 200]))
}

pub fn lower_garment() -> PreparedImage {
    static CELL: OnceLock<PreparedImage> = OnceLock::new();
    cached(&CELL, || jpeg(400, 400, [40, 40, 40]))
}

pub fn job(category: Category, quality: Quality) -> TryOnJob {
    TryOnJob {
        person: person(),
        garment: garment(),
        lower_garment: (category == Category::Combo).then(lower_garment),
        category,
        quality,
    }
}

/// Everything in seconds instead of minutes; the rate limit stays the vendor's unless a test
/// shrinks it.
pub fn fast_tuning(rate_limit: u32, rate_window: Duration) -> UpstreamTuning {
    UpstreamTuning {
        rate_limit,
        rate_window,
        poll_interval: Duration::from_millis(60),
        request_timeout: Duration::from_millis(1500),
        task_timeout: Duration::from_secs(20),
        expected_duration: Some(Duration::from_millis(400)),
        max_attempts: 3,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
        max_result_bytes: 5_000_000,
    }
}

/// A progress sink that keeps every update, as the registry would fan them out, and the
/// upstream state the registry would persist for a restart.
#[derive(Default)]
pub struct Recorder {
    pub updates: Mutex<Vec<ProgressUpdate>>,
    pub queued: Mutex<Vec<Option<u32>>>,
    pub upstream: Mutex<Vec<serde_json::Value>>,
}

impl ProgressSink for Recorder {
    fn report(&self, update: ProgressUpdate) {
        self.updates.lock().unwrap().push(update);
    }

    fn queued(&self, ahead: Option<u32>) {
        self.queued.lock().unwrap().push(ahead);
    }

    fn upstream_started(&self, state: serde_json::Value) {
        self.upstream.lock().unwrap().push(state);
    }
}

impl Recorder {
    /// The upstream state last handed over: what the store would hold at a crash now.
    pub fn last_upstream(&self) -> Option<serde_json::Value> {
        self.upstream.lock().unwrap().last().cloned()
    }

    pub fn values(&self) -> Vec<u8> {
        self.updates
            .lock()
            .unwrap()
            .iter()
            .map(|u| u.progress)
            .collect()
    }

    /// Progress never went backwards, never showed 100, and was always of `kind`.
    pub fn assert_well_formed(&self, kind: ProgressKind) {
        let updates = self.updates.lock().unwrap();
        assert!(!updates.is_empty(), "no progress was reported");
        for pair in updates.windows(2) {
            assert!(
                pair[0].progress <= pair[1].progress,
                "progress went backwards: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
        for update in updates.iter() {
            assert!(update.progress < 100, "a running task showed {update:?}");
            assert_eq!(update.kind, kind, "wrong progress kind in {update:?}");
        }
    }

    /// How many distinct values the bar showed.
    pub fn distinct_values(&self) -> usize {
        let mut values = self.values();
        values.dedup();
        values.len()
    }
}

/// Asserts that `text` does not contain the test key.
pub fn assert_no_key(what: &str, text: &str) {
    assert!(
        !text.contains(KEY),
        "the API key leaked into {what}: {text}"
    );
    assert!(
        !text.contains("DISTINCTIVE_K3Y"),
        "part of the API key leaked into {what}: {text}"
    );
}

/// Drives `run` (a provider's `run`) until `killed_now()` says the process dies here, then
/// abandons it as SIGKILL would: nothing of it runs again, not even its destructors (which
/// is why it is leaked, not dropped). Panics if the try-on ends before that point.
pub async fn run_until_killed<F: Future>(run: F, killed_now: impl Fn() -> bool) {
    let mut run = Box::pin(run);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !killed_now() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the simulated crash point was never reached"
        );
        tokio::select! {
            _ = &mut run => panic!("the try-on ended before the simulated crash"),
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    std::mem::forget(run);
}

/// Queues one fault at the vendor's create endpoint of a fake, for tables over every vendor.
pub type FaultAtCreate<'a> = Box<dyn Fn(tryon_fakes::Fault) + 'a>;

/// The four vendors' fakes, started once for a table test over every vendor.
pub struct EveryVendor {
    pub fitroom: std::sync::Arc<tryon_fakes::fitroom::FitroomFake>,
    pub tryiton: std::sync::Arc<tryon_fakes::tryiton::TryItOnFake>,
    pub fitinview: std::sync::Arc<tryon_fakes::fitinview::FitInViewFake>,
    pub vtryon: std::sync::Arc<tryon_fakes::vtryon::VtryonFake>,
}

/// One row of an [`EveryVendor`] table: the vendor's name, its adapter pointed at its fake,
/// and a way to queue a fault at the fake's create endpoint.
pub type VendorRow<'a> = (
    &'static str,
    std::sync::Arc<dyn tryon_proxy::providers::Provider>,
    FaultAtCreate<'a>,
);

impl EveryVendor {
    pub async fn start() -> Self {
        use tryon_fakes::{fitinview, fitroom, tryiton, vtryon};
        Self {
            fitroom: fitroom::FitroomFake::start().await,
            tryiton: tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await,
            fitinview: fitinview::FitInViewFake::start(Duration::from_secs(60)).await,
            vtryon: vtryon::VtryonFake::start().await,
        }
    }

    /// Each vendor's adapter with the fast tuning and its documented defaults (no webhooks).
    pub fn rows(&self) -> Vec<VendorRow<'_>> {
        use secrecy::SecretString;
        use std::sync::Arc;
        use tryon_fakes::{Fake, fitinview, fitroom, tryiton, vtryon};
        use tryon_proxy::providers::fitinview::FitInView;
        use tryon_proxy::providers::fitroom::Fitroom;
        use tryon_proxy::providers::tryiton::TryItOn;
        use tryon_proxy::providers::vtryon::Vtryon;
        use tryon_proxy::providers::{
            FitInViewSettings, FitroomSettings, TryItOnSettings, VTRYON_CHECKED_PHOTO_KEPT_FOR,
            VtryonSettings,
        };
        let tuning = || fast_tuning(60, Duration::from_secs(60));
        let key = || SecretString::from(KEY);
        vec![
            (
                "fitroom",
                Arc::new(
                    Fitroom::new(FitroomSettings {
                        api_key: key(),
                        base_url: self.fitroom.base_url().parse().unwrap(),
                        tuning: tuning(),
                    })
                    .unwrap(),
                ),
                Box::new(|fault| self.fitroom.fault(fitroom::CREATE, fault)),
            ),
            (
                "tryiton",
                Arc::new(
                    TryItOn::new(TryItOnSettings {
                        api_key: key(),
                        base_url: self.tryiton.base_url().parse().unwrap(),
                        status_path: tryiton::DEFAULT_STATUS_PATH.into(),
                        style: Default::default(),
                        tuning: tuning(),
                    })
                    .unwrap(),
                ),
                Box::new(|fault| self.tryiton.fault(tryiton::CREATE, fault)),
            ),
            (
                "fitinview",
                Arc::new(
                    FitInView::new(FitInViewSettings {
                        api_key: key(),
                        base_url: self.fitinview.base_url().parse().unwrap(),
                        webhook_secret: None,
                        public_url: None,
                        // FitInView's documented limit is 20 a minute.
                        tuning: fast_tuning(20, Duration::from_secs(60)),
                    })
                    .unwrap(),
                ),
                Box::new(|fault| self.fitinview.fault(fitinview::CREATE, fault)),
            ),
            (
                "vtryon",
                Arc::new(
                    Vtryon::new(VtryonSettings {
                        api_key: key(),
                        base_url: self.vtryon.base_url().parse().unwrap(),
                        tuning: tuning(),
                        webhook_secret: None,
                        checked_photo_kept_for: VTRYON_CHECKED_PHOTO_KEPT_FOR,
                    })
                    .unwrap(),
                ),
                Box::new(|fault| self.vtryon.fault(vtryon::CREATE, fault)),
            ),
        ]
    }
}
