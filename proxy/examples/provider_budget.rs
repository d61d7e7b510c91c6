//! Issue 3's upstream benchmark: upstream calls per successful try-on for each vendor
//! (creates, polls, checks and the rest), and how many concurrent try-ons each vendor sustains
//! within its rate limit with the proxy's scheduling (the per-key limiter, creates before polls,
//! the adapters' poll plans and task timeout), against the strict fakes on loopback.
//!
//! ```text
//! cargo run -p tryon-proxy --example provider_budget [-- waves=1,5,10,20,40]
//! ```
//!
//! Every duration, interval, rate window and timeout the documents and the proxy's defaults
//! give is divided by 20 and every figure is scaled back, so a real minute of traffic takes
//! three seconds and the counts are the ones a real minute would show. Each try-on is what the
//! widget does: the person check on the shopper's own photo (a different photo each time),
//! then the try-on of the one product. A wave starts N try-ons at once on a fresh fake and a
//! fresh adapter. "Sustained" is the largest N up to which, in every wave, every try-on succeeded
//! and none took more than twice as long as a try-on alone (so nobody waited more than about
//! one task length for the key's budget). Bounded: at most a few minutes; loopback only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use secrecy::SecretString;
use tokio::time::Instant;
use tryon_fakes::{Fake, KEY, fitinview, fitroom, tryiton, vtryon};
use tryon_proxy::providers::VendorSettings;
use tryon_proxy::providers::{
    FitInViewSettings, FitroomSettings, PreparedImage, ProgressSink, ProgressUpdate, Provider,
    TryItOnSettings, TryOnJob, UpstreamTuning, VTRYON_CHECKED_PHOTO_KEPT_FOR, VendorKind,
    VtryonSettings, build_vendor,
};
use tryon_proxy::wire::{Category, Quality};

/// Real seconds become twentieths.
const SCALE: f64 = 1.0 / 20.0;
const MINUTE: Duration = Duration::from_secs(60);

fn scaled(real: Duration) -> Duration {
    real.mul_f64(SCALE)
}

fn real_secs(scaled: Duration) -> f64 {
    scaled.as_secs_f64() / SCALE
}

/// One vendor as benchmarked: its limit per real minute and how long its tasks take.
struct Vendor {
    kind: VendorKind,
    label: &'static str,
    limit_per_min: u32,
    task: Duration,
}

const VENDORS: [Vendor; 4] = [
    Vendor {
        kind: VendorKind::Fitroom,
        label: "fitroom (60/min documented, ~9 s)",
        limit_per_min: 60,
        task: Duration::from_secs(9),
    },
    Vendor {
        kind: VendorKind::TryItOn,
        label: "tryiton (60/min assumed, 9 s balanced)",
        limit_per_min: 60,
        task: Duration::from_secs(9),
    },
    Vendor {
        kind: VendorKind::Vtryon,
        label: "vtryon (60/min assumed, 20 s assumed)",
        limit_per_min: 60,
        task: Duration::from_secs(20),
    },
    Vendor {
        kind: VendorKind::FitInView,
        label: "fitinview (20/min from /account, 18.5 s)",
        limit_per_min: 20,
        task: Duration::from_millis(18_452),
    },
];

/// A fake vendor as the benchmark reads it, whatever its type.
struct Upstream {
    base_url: String,
    recorder: &'static tryon_fakes::Recorder,
}

/// The fake serves until the process ends (its server task holds it anyway).
fn leak<F: Fake>(fake: Arc<F>) -> Upstream {
    let fake: &'static Arc<F> = Box::leak(Box::new(fake));
    Upstream {
        base_url: fake.base_url(),
        recorder: fake.recorder(),
    }
}

/// Starts `vendor`'s fake with its limit and task length, scaled.
async fn start_fake(vendor: &Vendor) -> Upstream {
    let window = scaled(MINUTE);
    let task = scaled(vendor.task);
    match vendor.kind {
        VendorKind::Fitroom => {
            let fake = fitroom::FitroomFake::start().await;
            fake.recorder.set_rate_limit(vendor.limit_per_min, window);
            fake.set(|b| (b.queued_for, b.processing_for) = (task / 9, task * 8 / 9));
            leak(fake)
        }
        VendorKind::TryItOn => {
            let fake = tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
            fake.recorder.set_rate_limit(vendor.limit_per_min, window);
            fake.set(|b| b.processing_for = task);
            leak(fake)
        }
        VendorKind::Vtryon => {
            let fake = vtryon::VtryonFake::start().await;
            fake.recorder.set_rate_limit(vendor.limit_per_min, window);
            fake.set(|b| b.processing_for = task);
            leak(fake)
        }
        VendorKind::FitInView => {
            let fake = fitinview::FitInViewFake::start(window).await;
            fake.set(|b| {
                b.processing_for = task;
                b.rate_limit_per_min = vendor.limit_per_min;
            });
            leak(fake)
        }
    }
}

/// The adapter as `TRYON_PROVIDER` would build it, with the vendor's default tuning scaled.
fn adapter(vendor: &Vendor, base_url: &str) -> Arc<dyn Provider> {
    let real = UpstreamTuning::for_vendor(vendor.kind);
    let tuning = UpstreamTuning {
        rate_window: scaled(real.rate_window),
        poll_interval: scaled(real.poll_interval),
        task_timeout: scaled(real.task_timeout),
        backoff_base: scaled(real.backoff_base),
        backoff_cap: scaled(real.backoff_cap),
        max_retry_after: scaled(real.max_retry_after),
        expected_duration: Some(scaled(vendor.task)),
        ..real
    };
    let api_key = SecretString::from(KEY);
    let base_url = base_url.parse().expect("the fake's URL parses");
    let settings = match vendor.kind {
        VendorKind::Fitroom => VendorSettings::Fitroom(FitroomSettings {
            api_key,
            base_url,
            tuning,
        }),
        VendorKind::TryItOn => VendorSettings::TryItOn(TryItOnSettings {
            api_key,
            base_url,
            status_path: tryiton::DEFAULT_STATUS_PATH.into(),
            style: Default::default(),
            tuning,
        }),
        VendorKind::Vtryon => VendorSettings::Vtryon(VtryonSettings {
            api_key,
            base_url,
            webhook_secret: None,
            checked_photo_kept_for: VTRYON_CHECKED_PHOTO_KEPT_FOR,
            tuning,
        }),
        VendorKind::FitInView => VendorSettings::FitInView(FitInViewSettings {
            api_key,
            base_url,
            webhook_secret: None,
            public_url: None,
            tuning,
        }),
    };
    build_vendor(settings).expect("the adapter builds")
}

fn jpeg(width: u32, height: u32, colour: [u8; 3]) -> PreparedImage {
    PreparedImage {
        bytes: Bytes::from(tryon_fakes::jpeg(width, height, colour)),
        width,
        height,
        content_type: "image/jpeg",
    }
}

/// Notes whether the try-on ever waited in line for the key's budget.
#[derive(Default)]
struct Sink {
    waited: AtomicBool,
}

impl ProgressSink for Sink {
    fn report(&self, _update: ProgressUpdate) {}

    fn queued(&self, ahead: Option<u32>) {
        if ahead.is_some() {
            self.waited.store(true, Ordering::Relaxed);
        }
    }
}

/// One shopper: the person check on her photo, then the try-on; how long it took and whether
/// it succeeded and waited in line.
async fn shopper(
    provider: Arc<dyn Provider>,
    person: PreparedImage,
    garment: PreparedImage,
) -> Outcome {
    let started = Instant::now();
    let sink = Sink::default();
    let checked = provider.check_person(&person).await;
    let job = TryOnJob {
        person,
        garment,
        lower_garment: None,
        category: Category::Upper,
        quality: Quality::Balanced,
    };
    let ran = match checked {
        Ok(_) => provider.run(job, &sink).await.map(drop),
        Err(error) => Err(error),
    };
    Outcome {
        ok: ran.is_ok(),
        error: ran.err().map(|e| e.to_string()),
        took: started.elapsed(),
        waited: sink.waited.load(Ordering::Relaxed),
    }
}

struct Outcome {
    ok: bool,
    error: Option<String>,
    took: Duration,
    waited: bool,
}

/// What one wave of N simultaneous try-ons showed.
struct Wave {
    n: usize,
    succeeded: usize,
    wall: Duration,
    p50: Duration,
    max: Duration,
    waited: usize,
    calls: BTreeMap<&'static str, usize>,
    busiest_minute: usize,
    deviations: usize,
    first_error: Option<String>,
}

async fn wave(vendor: &Vendor, n: usize, garment: &PreparedImage) -> Wave {
    let upstream = start_fake(vendor).await;
    let provider = adapter(vendor, &upstream.base_url);
    // Every shopper has her own photo (checks are cached per photo, so each one is paid),
    // encoded before the clock starts so that all N arrive at once.
    let people: Vec<PreparedImage> = (0..n)
        .map(|i| jpeg(600, 900, [(i * 5 % 250) as u8, 150, 130]))
        .collect();
    let started = Instant::now();
    let shoppers: Vec<_> = people
        .into_iter()
        .map(|person| tokio::spawn(shopper(provider.clone(), person, garment.clone())))
        .collect();
    let mut outcomes = Vec::with_capacity(n);
    for shopper in shoppers {
        outcomes.push(shopper.await.expect("a shopper task panicked"));
    }
    let wall = started.elapsed();
    let mut times: Vec<Duration> = outcomes.iter().map(|o| o.took).collect();
    times.sort();
    let recorder = upstream.recorder;
    Wave {
        n,
        succeeded: outcomes.iter().filter(|o| o.ok).count(),
        wall,
        p50: times[times.len() / 2],
        max: *times.last().expect("at least one shopper"),
        waited: outcomes.iter().filter(|o| o.waited).count(),
        calls: recorder.counts(),
        busiest_minute: recorder.max_in_window(scaled(MINUTE)),
        deviations: recorder.violations().len(),
        first_error: outcomes.into_iter().find_map(|o| o.error),
    }
}

fn calls_per_try_on(wave: &Wave) -> String {
    let per = wave.succeeded.max(1) as f64;
    wave.calls
        .iter()
        .map(|(endpoint, count)| format!("{endpoint} {:.2}", *count as f64 / per))
        .collect::<Vec<_>>()
        .join(", ")
}

fn waves_from_args() -> Vec<usize> {
    std::env::args()
        .skip(1)
        .find_map(|arg| arg.strip_prefix("waves=").map(str::to_owned))
        .map(|list| {
            list.split(',')
                .map(|n| n.parse().expect("waves=1,5,10 takes whole numbers"))
                .collect()
        })
        .unwrap_or_else(|| vec![1, 5, 10, 20, 40])
}

#[tokio::main]
async fn main() {
    let waves = waves_from_args();
    let garment = jpeg(400, 400, [20, 60, 200]);
    println!("Upstream budget per vendor (times in real seconds; everything ran 20x faster)\n");
    for vendor in &VENDORS {
        println!("{}", vendor.label);
        println!(
            "  {:>3} {:>5} {:>8} {:>11} {:>7} {:>7} {:>7} {:>9}  calls per successful try-on",
            "N", "ok", "wall s", "try-ons/min", "p50 s", "max s", "waited", "busiest"
        );
        let mut solo: Option<Duration> = None;
        // The largest N up to which every wave kept up.
        let (mut sustained, mut keeping_up) = (0, true);
        for &n in &waves {
            let wave = wave(vendor, n, &garment).await;
            let solo_time = *solo.get_or_insert(wave.p50);
            keeping_up &= wave.succeeded == n && wave.max <= solo_time * 2;
            if keeping_up {
                sustained = n;
            }
            println!(
                "  {:>3} {:>5} {:>8.0} {:>11.1} {:>7.1} {:>7.1} {:>7} {:>6}/{:<2}  {}",
                wave.n,
                wave.succeeded,
                real_secs(wave.wall),
                wave.succeeded as f64 / (real_secs(wave.wall) / 60.0),
                real_secs(wave.p50),
                real_secs(wave.max),
                wave.waited,
                wave.busiest_minute,
                vendor.limit_per_min,
                calls_per_try_on(&wave),
            );
            if wave.deviations > 0 {
                println!("      the fake recorded {} deviations", wave.deviations);
            }
            if let Some(error) = wave.first_error {
                println!("      first failure: {error}");
            }
        }
        println!("  sustained: {sustained} concurrent try-ons (of the waves run)\n");
    }
}
