//! Upstream calls per successful try-on, per provider, with every duration and interval the
//! documents give scaled down by the same factor (1/20), so the counts are the ones a real
//! minute would show. Each test asserts the budget (one create per try-on, polls bounded by
//! the task's duration over the poll interval) and prints the figures for the closing note:
//! `cargo test -p tryon-proxy --test providers budget -- --nocapture`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tryon_proxy::providers::fitinview::FitInView;
use tryon_proxy::providers::fitroom::Fitroom;
use tryon_proxy::providers::tryiton::TryItOn;
use tryon_proxy::providers::vtryon::Vtryon;
use tryon_proxy::providers::{
    FitInViewSettings, FitroomSettings, Provider, TryItOnSettings, UpstreamTuning,
    VTRYON_CHECKED_PHOTO_KEPT_FOR, VendorKind, VtryonSettings,
};
use tryon_proxy::wire::{Category, Quality};

use crate::util::{KEY, Recorder, job};
use tryon_fakes::Fake;
use tryon_fakes::{fitinview, fitroom, tryiton, vtryon};

/// Real seconds become twentieths.
const SCALE: f64 = 1.0 / 20.0;
const TRY_ONS: usize = 3;

fn scaled(real: Duration) -> Duration {
    real.mul_f64(SCALE)
}

/// The vendor's own defaults, scaled; the documented duration stays the adapter's own.
fn tuning(kind: VendorKind) -> UpstreamTuning {
    let real = UpstreamTuning::for_vendor(kind);
    UpstreamTuning {
        rate_window: scaled(real.rate_window),
        poll_interval: scaled(real.poll_interval),
        backoff_base: scaled(real.backoff_base),
        backoff_cap: scaled(real.backoff_cap),
        expected_duration: None,
        ..real
    }
}

async fn run_all(provider: &dyn Provider, category: Category, quality: Quality) {
    for _ in 0..TRY_ONS {
        provider
            .run(job(category, quality), &Recorder::default())
            .await
            .expect("try-on should succeed");
    }
}

fn report(name: &str, creates: usize, polls: usize, other: &str) -> (f64, f64) {
    let per = |n: usize| n as f64 / TRY_ONS as f64;
    eprintln!(
        "budget {name}: per successful try-on {:.1} creates, {:.1} polls{other}",
        per(creates),
        per(polls)
    );
    (per(creates), per(polls))
}

#[tokio::test]
async fn fitroom_spends_one_create_and_a_poll_per_interval() {
    let fake = fitroom::FitroomFake::start().await;
    fake.recorder
        .set_rate_limit(60, scaled(Duration::from_secs(60)));
    // Normal mode takes ~9 s: in CREATED ~1 s, then PROCESSING.
    fake.set(|b| {
        b.queued_for = scaled(Duration::from_secs(1));
        b.processing_for = scaled(Duration::from_secs(8));
    });
    let mut tuning = tuning(VendorKind::Fitroom);
    tuning.expected_duration = Some(scaled(Duration::from_secs(9)));
    let settings = FitroomSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        tuning,
    };
    let adapter = Fitroom::new(settings).unwrap();
    run_all(&adapter, Category::Auto, Quality::Balanced).await;
    let checks = fake.recorder.count(fitroom::CHECK_CLOTHES);
    let (creates, polls) = report(
        "fitroom",
        fake.recorder.count(fitroom::CREATE),
        fake.recorder.count(fitroom::STATUS),
        &format!(", {checks} clothes check for {TRY_ONS} try-ons of one garment (auto)"),
    );
    assert_eq!(creates, 1.0);
    assert_eq!(checks, 1);
    // 9 s at one poll per 1.5 s, give or take the scheduling.
    assert!((5.0..=9.0).contains(&polls), "{polls} polls per try-on");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn tryiton_polls_only_near_the_expected_end() {
    let fake = tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
    fake.set(|b| b.processing_for = scaled(Duration::from_secs(9)));
    let settings = TryItOnSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        status_path: tryiton::DEFAULT_STATUS_PATH.into(),
        style: Default::default(),
        tuning: UpstreamTuning {
            expected_duration: Some(scaled(Duration::from_secs(9))),
            ..tuning(VendorKind::TryItOn)
        },
    };
    let adapter = TryItOn::new(settings).unwrap();
    run_all(&adapter, Category::Upper, Quality::Balanced).await;
    let (creates, polls) = report(
        "tryiton",
        fake.recorder.count(tryiton::CREATE),
        fake.recorder.count(tryiton::STATUS),
        " (combo: twice this)",
    );
    assert_eq!(creates, 1.0);
    assert!(polls <= 5.0, "{polls} polls per try-on");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_reads_its_account_once_and_polls_near_the_end() {
    let fake = fitinview::FitInViewFake::start(scaled(Duration::from_secs(60))).await;
    fake.set(|b| b.processing_for = scaled(Duration::from_millis(18_452)));
    let mut tuning = tuning(VendorKind::FitInView);
    tuning.expected_duration = Some(scaled(Duration::from_millis(18_452)));
    let settings = FitInViewSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: None,
        public_url: None,
        tuning,
    };
    let adapter = Arc::new(FitInView::new(settings).unwrap());
    run_all(adapter.as_ref(), Category::Upper, Quality::Balanced).await;
    let account = fake.recorder.count(fitinview::ACCOUNT);
    let (creates, polls) = report(
        "fitinview",
        fake.recorder.count(fitinview::CREATE),
        fake.recorder.count(fitinview::STATUS),
        &format!(", {account} account read per process; with webhooks: 0 polls"),
    );
    assert_eq!((creates, account), (1.0, 1));
    assert!(polls <= 5.0, "{polls} polls per try-on");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn vtryon_uploads_the_garment_once_and_always_deletes_the_photo() {
    let fake = vtryon::VtryonFake::start().await;
    fake.set(|b| b.processing_for = scaled(Duration::from_secs(20)));
    let settings = VtryonSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: None,
        checked_photo_kept_for: VTRYON_CHECKED_PHOTO_KEPT_FOR,
        tuning: UpstreamTuning {
            expected_duration: Some(scaled(Duration::from_secs(20))),
            ..tuning(VendorKind::Vtryon)
        },
    };
    let adapter = Vtryon::new(settings).unwrap();
    run_all(&adapter, Category::Upper, Quality::Balanced).await;
    let r = &fake.recorder;
    let (uploads, garments, deletes) = (
        r.count(vtryon::UPLOAD_PERSON),
        r.count(vtryon::UPLOAD_GARMENT),
        r.count(vtryon::DELETE_PERSON),
    );
    let (creates, polls) = report(
        "vtryon",
        r.count(vtryon::CREATE),
        r.count(vtryon::STATUS),
        &format!(
            ", {uploads} person uploads + {deletes} deletes, {garments} garment upload for {TRY_ONS} try-ons"
        ),
    );
    assert_eq!(creates, 1.0);
    assert_eq!((uploads, deletes, garments), (TRY_ONS, TRY_ONS, 1));
    assert!(polls <= 5.0, "{polls} polls per try-on");
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

/// Twenty try-ons at once against the vendor's rate limit (scaled like everything else): all
/// must succeed without the fake ever seeing the limit exceeded. Prints the calls per try-on
/// and the throughput in real-time terms for the closing note.
async fn twenty_at_once(
    name: &str,
    provider: Arc<dyn Provider>,
    recorder: &tryon_fakes::Recorder,
    limit_per_min: u32,
) {
    let started = tokio::time::Instant::now();
    let runs: Vec<_> = (0..20)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move {
                provider
                    .run(
                        job(Category::Upper, Quality::Balanced),
                        &Recorder::default(),
                    )
                    .await
            })
        })
        .collect();
    for run in runs {
        run.await
            .unwrap()
            .expect("every try-on should succeed within the limit");
    }
    let real = started.elapsed().div_f64(SCALE);
    let window = scaled(Duration::from_secs(60));
    let busiest = recorder.max_in_window(window);
    recorder.assert_clean();
    assert!(
        busiest as u32 <= limit_per_min,
        "{busiest} calls in one (scaled) minute"
    );
    eprintln!(
        "budget {name}: 20 concurrent try-ons in {:.0} s real time ({:.1} try-ons/min), {:.1} upstream calls per try-on, busiest minute {busiest}/{limit_per_min}",
        real.as_secs_f64(),
        20.0 / real.as_secs_f64() * 60.0,
        recorder.calls_total() as f64 / 20.0,
    );
}

#[tokio::test]
async fn twenty_concurrent_try_ons_per_vendor_stay_within_each_rate_limit() {
    let fitroom = fitroom::FitroomFake::start().await;
    fitroom
        .recorder
        .set_rate_limit(60, scaled(Duration::from_secs(60)));
    fitroom.set(|b| {
        b.queued_for = scaled(Duration::from_secs(1));
        b.processing_for = scaled(Duration::from_secs(8));
    });
    let settings = FitroomSettings {
        api_key: SecretString::from(KEY),
        base_url: fitroom.base_url().parse().unwrap(),
        tuning: UpstreamTuning {
            expected_duration: Some(scaled(Duration::from_secs(9))),
            ..tuning(VendorKind::Fitroom)
        },
    };
    twenty_at_once(
        "fitroom",
        Arc::new(Fitroom::new(settings).unwrap()),
        &fitroom.recorder,
        60,
    )
    .await;

    let tryiton = tryiton::TryItOnFake::start(tryiton::DEFAULT_STATUS_PATH).await;
    tryiton
        .recorder
        .set_rate_limit(60, scaled(Duration::from_secs(60)));
    tryiton.set(|b| b.processing_for = scaled(Duration::from_secs(9)));
    let settings = TryItOnSettings {
        api_key: SecretString::from(KEY),
        base_url: tryiton.base_url().parse().unwrap(),
        status_path: tryiton::DEFAULT_STATUS_PATH.into(),
        style: Default::default(),
        tuning: UpstreamTuning {
            expected_duration: Some(scaled(Duration::from_secs(9))),
            ..tuning(VendorKind::TryItOn)
        },
    };
    twenty_at_once(
        "tryiton (assumed 60/min)",
        Arc::new(TryItOn::new(settings).unwrap()),
        &tryiton.recorder,
        60,
    )
    .await;

    let fitinview = fitinview::FitInViewFake::start(scaled(Duration::from_secs(60))).await;
    fitinview.set(|b| b.processing_for = scaled(Duration::from_millis(18_452)));
    let settings = FitInViewSettings {
        api_key: SecretString::from(KEY),
        base_url: fitinview.base_url().parse().unwrap(),
        webhook_secret: None,
        public_url: None,
        tuning: UpstreamTuning {
            expected_duration: Some(scaled(Duration::from_millis(18_452))),
            ..tuning(VendorKind::FitInView)
        },
    };
    twenty_at_once(
        "fitinview (20/min, polling)",
        Arc::new(FitInView::new(settings).unwrap()),
        &fitinview.recorder,
        20,
    )
    .await;

    let vtryon = vtryon::VtryonFake::start().await;
    vtryon
        .recorder
        .set_rate_limit(60, scaled(Duration::from_secs(60)));
    vtryon.set(|b| b.processing_for = scaled(Duration::from_secs(20)));
    let settings = VtryonSettings {
        api_key: SecretString::from(KEY),
        base_url: vtryon.base_url().parse().unwrap(),
        webhook_secret: None,
        checked_photo_kept_for: VTRYON_CHECKED_PHOTO_KEPT_FOR,
        tuning: UpstreamTuning {
            expected_duration: Some(scaled(Duration::from_secs(20))),
            ..tuning(VendorKind::Vtryon)
        },
    };
    twenty_at_once(
        "vtryon (assumed 60/min)",
        Arc::new(Vtryon::new(settings).unwrap()),
        &vtryon.recorder,
        60,
    )
    .await;
    vtryon.assert_no_person_images_left().await;
}
