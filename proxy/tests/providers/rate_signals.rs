//! What vendors say about the key's budget and account, followed (issue 13): a 429 pauses the
//! key's shared limiter (for its `Retry-After`, or the rest of the window when there is none,
//! as with every vendor but FitInView), FitInView's `X-RateLimit-*` headers hold calls back
//! until its reset, its 403 (account ineligible) stops all sending and fails over, and its
//! billed `content_blocked` is reported as billed.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use secrecy::SecretString;
use tokio::time::Instant;
use tryon_proxy::providers::failover::Failover;
use tryon_proxy::providers::fitinview::FitInView;
use tryon_proxy::providers::fitroom::Fitroom;
use tryon_proxy::providers::tryiton::TryItOn;
use tryon_proxy::providers::vtryon::Vtryon;
use tryon_proxy::providers::{
    FitInViewSettings, FitroomSettings, Provider, ProviderError, TryItOnSettings, UpstreamTuning,
    VtryonSettings,
};
use tryon_proxy::wire::{Category, ErrorCode, Quality};

use crate::util::{KEY, Recorder, fast_tuning, job};
use tryon_fakes::fitinview::{CREATE, FitInViewFake};
use tryon_fakes::tryiton::{DEFAULT_STATUS_PATH, TryItOnFake};
use tryon_fakes::{Call, Fake, Fault, fitroom::FitroomFake, vtryon::VtryonFake};

const MINUTE: Duration = Duration::from_secs(60);

fn fitinview(fake: &FitInViewFake, tuning: UpstreamTuning) -> FitInView {
    FitInView::new(FitInViewSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: None,
        public_url: None,
        tuning,
    })
    .unwrap()
}

fn tryiton(fake: &TryItOnFake) -> TryItOn {
    TryItOn::new(TryItOnSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        status_path: DEFAULT_STATUS_PATH.into(),
        style: Default::default(),
        tuning: fast_tuning(60, MINUTE),
    })
    .unwrap()
}

/// When each call to `endpoint` arrived.
fn arrivals(calls: &[Call], endpoint: &str) -> Vec<Instant> {
    calls
        .iter()
        .filter(|c| c.endpoint == endpoint)
        .map(|c| c.at)
        .collect()
}

#[tokio::test]
async fn a_429_without_retry_after_pauses_the_key_for_the_rest_of_its_window() {
    // 1 s windows (1.1 s enforced): the rest of a window is long against the backoff's
    // 20–200 ms, so three quick retries would show.
    let window = Duration::from_secs(1);
    let tuning = || fast_tuning(60, window);
    let fitroom = FitroomFake::start().await;
    let tryiton_fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let vtryon = VtryonFake::start().await;
    let fitinview_fake = FitInViewFake::start(MINUTE).await;
    let url = |base: String| -> reqwest::Url { base.parse().unwrap() };
    let cases: Vec<(&str, Arc<dyn Provider>, &tryon_fakes::Recorder)> = vec![
        (
            "fitroom",
            Arc::new(
                Fitroom::new(FitroomSettings {
                    api_key: SecretString::from(KEY),
                    base_url: url(fitroom.base_url()),
                    tuning: tuning(),
                })
                .unwrap(),
            ) as Arc<dyn Provider>,
            &fitroom.recorder,
        ),
        (
            "tryiton",
            Arc::new(
                TryItOn::new(TryItOnSettings {
                    api_key: SecretString::from(KEY),
                    base_url: url(tryiton_fake.base_url()),
                    status_path: DEFAULT_STATUS_PATH.into(),
                    style: Default::default(),
                    tuning: tuning(),
                })
                .unwrap(),
            ) as Arc<dyn Provider>,
            &tryiton_fake.recorder,
        ),
        (
            "vtryon",
            Arc::new(
                Vtryon::new(VtryonSettings {
                    api_key: SecretString::from(KEY),
                    base_url: url(vtryon.base_url()),
                    tuning: tuning(),
                    webhook_secret: None,
                    checked_photo_kept_for: tryon_proxy::providers::VTRYON_CHECKED_PHOTO_KEPT_FOR,
                })
                .unwrap(),
            ) as Arc<dyn Provider>,
            &vtryon.recorder,
        ),
        (
            "fitinview",
            Arc::new(fitinview(&fitinview_fake, tuning())) as Arc<dyn Provider>,
            &fitinview_fake.recorder,
        ),
    ];
    // Every vendor names its create endpoint `create`; none of these 429s says when to retry.
    for (_, _, recorder) in &cases {
        recorder.fault("create", Fault::Status(429, None));
    }
    let runs = cases.iter().map(|(name, provider, recorder)| async move {
        let outcome = provider
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await;
        (*name, outcome, recorder.calls())
    });
    for (name, outcome, calls) in join_all(runs).await {
        outcome.unwrap_or_else(|e| panic!("{name}: the create should go through: {e:?}"));
        let creates = arrivals(&calls, "create");
        assert_eq!(creates.len(), 2, "{name}: one refused create, one retry");
        let pause = creates[1] - creates[0];
        assert!(
            pause >= Duration::from_millis(700),
            "{name}: retried {pause:?} after a 429 without Retry-After, within the window"
        );
        let meanwhile = calls
            .iter()
            .filter(|c| c.at > creates[0] && c.at < creates[1])
            .count();
        assert_eq!(meanwhile, 0, "{name}: the key sent calls while paused");
    }
    fitroom.recorder.assert_clean();
    tryiton_fake.recorder.assert_clean();
    vtryon.recorder.assert_clean();
    fitinview_fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_remaining_zero_holds_the_next_call_until_the_reset() {
    let window = Duration::from_secs(2);
    let fake = FitInViewFake::start(window).await;
    // Another client of the same key spent 19 of the 20 calls: only FitInView's headers say so.
    fake.recorder.count_foreign_calls(19);
    let spent_at = Instant::now();
    let adapter = fitinview(&fake, fast_tuning(20, window));
    adapter
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .expect("the try-on waits for the vendor's window, then succeeds");
    let calls = fake.recorder.calls();
    let create = arrivals(&calls, CREATE)[0];
    assert!(
        create - spent_at >= window - Duration::from_millis(100),
        "the create went {:?} after the window was spent, before X-RateLimit-Reset",
        create - spent_at
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_retry_after_pauses_every_call_of_the_key() {
    let fake = FitInViewFake::start(MINUTE).await;
    // Room for a poll every 60 ms: only the 429 may hold calls back here.
    fake.set(|b| {
        b.processing_for = Duration::from_millis(2500);
        b.rate_limit_per_min = 600;
    });
    let adapter = Arc::new(fitinview(&fake, fast_tuning(600, MINUTE)));
    let first = tokio::spawn({
        let adapter = adapter.clone();
        async move {
            adapter
                .run(job(Category::Upper, Quality::Fast), &Recorder::default())
                .await
        }
    });
    // The first task is being polled when the second one's create is refused.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.recorder.count(tryon_fakes::fitinview::STATUS) < 2 {
        assert!(Instant::now() < deadline, "the first task was never polled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.recorder.fault(CREATE, Fault::Status(429, Some(1)));
    adapter
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    first.await.unwrap().unwrap();
    let calls = fake.recorder.calls();
    let creates = arrivals(&calls, CREATE);
    assert_eq!(creates.len(), 3, "two tasks, one refused create");
    let refused = creates[1];
    let during: Vec<_> = calls
        .iter()
        .filter(|c| c.at > refused && c.at < refused + Duration::from_millis(950))
        .map(|c| c.endpoint)
        .collect();
    assert!(
        during.is_empty(),
        "calls went out during Retry-After: {during:?}"
    );
    assert!(creates[2] - refused >= Duration::from_secs(1));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_403_fails_over_and_nothing_more_is_sent() {
    let fake = FitInViewFake::start(MINUTE).await;
    fake.set(|b| b.ineligible = true);
    let backup = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    // No cool-down: every task asks FitInView first, as after the failover's cool-down.
    let chain = Failover::new(
        vec![
            Arc::new(fitinview(&fake, fast_tuning(20, MINUTE))) as Arc<dyn Provider>,
            Arc::new(tryiton(&backup)),
        ],
        Duration::ZERO,
    )
    .unwrap();
    for _ in 0..3 {
        chain
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .expect("the task fails over to the next provider");
    }
    assert_eq!(backup.jobs().len(), 3);
    assert_eq!(
        fake.recorder.calls_total(),
        1,
        "FitInView heard from us again after saying the account is ineligible"
    );

    let alone = fitinview(&fake, fast_tuning(20, MINUTE));
    let error = alone
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Auth(_)), "{error:?}");
    assert!(error.fails_over());
    assert_eq!(error.to_task_error().code, ErrorCode::ProviderAuth);
    fake.recorder.assert_clean();
    backup.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_content_blocked_is_reported_as_a_billed_refusal() {
    let fake = FitInViewFake::start(MINUTE).await;
    fake.set(|b| b.fail_with = Some(("generation_failed".into(), "content_blocked".into())));
    let error = fitinview(&fake, fast_tuning(20, MINUTE))
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::RejectedBilled { .. }),
        "content_blocked is billed, not a free refusal: {error:?}"
    );
    assert_eq!(
        (error.to_task_error().code, error.to_task_error().retryable),
        (ErrorCode::ContentRejected, false)
    );
    assert!(!error.fails_over(), "the shopper's input, not the provider");
    let outcome: Result<(), _> = Err(error);
    assert!(
        tryon_proxy::providers::may_have_billed(&outcome),
        "a billed refusal counts as a spent try-on"
    );
    fake.recorder.assert_clean();
}
