//! TryItOn as it behaves in 2026 (issue 13): its newer answer shapes, 429 `OutOfCredits`,
//! the SDKs' request form behind `TRYITON_API_STYLE`, the balance on `/metrics`, a fresh
//! seed per create, and WebP results.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tryon_proxy::providers::failover::Failover;
use tryon_proxy::providers::tryiton::TryItOn;
use tryon_proxy::providers::{Provider, ProviderError, TryItOnSettings, TryItOnStyle};
use tryon_proxy::wire::{Category, ErrorCode, Quality};

use crate::util::{KEY, Recorder, assert_no_key, fast_tuning, job};
use tryon_fakes::tryiton::{CREATE, CREDITS, DEFAULT_STATUS_PATH, Style, TryItOnFake};
use tryon_fakes::{Fake, Fault, is_jpeg};

fn adapter(fake: &TryItOnFake, style: TryItOnStyle) -> TryItOn {
    TryItOn::new(TryItOnSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        status_path: DEFAULT_STATUS_PATH.to_owned(),
        style,
        tuning: fast_tuning(60, Duration::from_secs(60)),
    })
    .unwrap()
}

/// A TryItOn that takes `style`'s form and answers in the 2026 shape.
async fn fake_2026(style: Style) -> Arc<TryItOnFake> {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    fake.set(|b| {
        b.style = style;
        b.answers = Style::Sdk2026;
    });
    fake
}

#[tokio::test]
async fn new_shape_create_status_and_error_answers_are_understood() {
    // Our documented request, answered the 2026 way.
    let fake = fake_2026(Style::Documented).await;
    let tryiton = adapter(&fake, TryItOnStyle::Documented);
    let output = tryiton
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .expect("a {ok, jobId} create and an {ok, status, output} status are a try-on");
    assert_eq!(output.bytes, fake.only_job().result);

    fake.set(|b| b.fail_with = Some(("PoseError".into(), "no body found".into())));
    let error = tryiton
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_task_error().code,
        ErrorCode::PoseNotDetected,
        "{error:?}"
    );
    fake.set(|b| b.fail_with = None);

    // HTTP errors as {"error": "<Name>", "message": …}.
    fake.fault(CREATE, Fault::Status(400, None));
    let error = tryiton
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_task_error().code,
        ErrorCode::InvalidImage,
        "{error:?}"
    );
    fake.fault(CREATE, Fault::Status(401, None));
    let error = tryiton
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Auth(_)), "{error:?}");
    assert_no_key("an error", &format!("{error} {error:?}"));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_429_out_of_credits_fails_over_at_once_and_is_never_retried() {
    let tryiton = fake_2026(Style::Documented).await;
    tryiton.set(|b| b.out_of_credit = true);
    let alone = adapter(&tryiton, TryItOnStyle::Documented);
    let error = alone
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::OutOfCredit(_)), "{error:?}");
    assert_eq!(
        (error.to_task_error().code, error.to_task_error().retryable),
        (ErrorCode::ProviderOutOfCredit, false)
    );
    assert_eq!(
        tryiton.recorder.count(CREATE),
        1,
        "an empty balance is not retried"
    );

    let backup = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let chain = Failover::new(
        vec![
            Arc::new(adapter(&tryiton, TryItOnStyle::Documented)) as Arc<dyn Provider>,
            Arc::new(adapter(&backup, TryItOnStyle::Documented)),
        ],
        Duration::from_secs(300),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let output = chain
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .expect("the task moves to the next provider");
    assert_eq!(output.bytes, backup.only_job().result);
    assert_eq!(
        tryiton.recorder.count(CREATE),
        2,
        "one create per task, no retry"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no pause was waited out for an empty balance: {:?}",
        started.elapsed()
    );
    tryiton.recorder.assert_clean();
    backup.recorder.assert_clean();
}

#[tokio::test]
async fn the_sdk_2026_style_posts_clothing_with_a_subcategory_to_fashion() {
    let fake = fake_2026(Style::Sdk2026).await;
    let tryiton = adapter(&fake, TryItOnStyle::Sdk2026);
    for (category, theirs, sub) in [
        (Category::Upper, "clothing", Some("tops")),
        (Category::Lower, "clothing", Some("bottoms")),
        (Category::Full, "clothing", Some("dresses")),
        (Category::Auto, "auto", None),
    ] {
        fake.jobs.lock().unwrap().clear();
        let output = tryiton
            .run(job(category, Quality::Balanced), &Recorder::default())
            .await
            .expect("try-on should succeed");
        let upstream = fake.only_job();
        assert_eq!(
            (upstream.category.as_str(), upstream.subcategory.as_deref()),
            (theirs, sub),
            "{category:?}"
        );
        assert_eq!(upstream.seed, None, "the SDKs' form is sent without a seed");
        assert_eq!(output.bytes, upstream.result);
    }
    fake.jobs.lock().unwrap().clear();
    tryiton
        .run(job(Category::Combo, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    let subs: Vec<_> = fake.jobs().into_iter().map(|j| j.subcategory).collect();
    assert_eq!(subs, [Some("tops".into()), Some("bottoms".into())]);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn each_form_is_refused_by_a_tryiton_expecting_the_other() {
    // The strict fake records a create in the wrong form, so a style mix-up cannot pass.
    let fake = fake_2026(Style::Documented).await;
    let error = adapter(&fake, TryItOnStyle::Sdk2026)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Failed(_)), "{error:?}");
    let violations = fake.recorder.violations().join("\n");
    assert!(violations.contains("Sdk2026 form"), "{violations}");
}

#[tokio::test]
async fn the_credit_balance_is_read_and_shown_on_metrics() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    // The fakes all report 40 spendable (30 + 10 + 2 − 2 reserved here), so concurrent tests
    // never show another value under the same provider label.
    fake.set(|b| {
        b.credits.on_demand = 30;
        b.credits.subscription = 10;
        b.credits.purchased = 2;
        b.credits.reserved = 2;
    });
    let tryiton = adapter(&fake, TryItOnStyle::Documented);
    for _ in 0..2 {
        tryiton
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while fake.recorder.count(CREDITS) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the balance was never read"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        fake.recorder.count(CREDITS),
        1,
        "read once per refresh interval, not per try-on"
    );
    let metrics = tryon_proxy::metrics::render(0);
    assert!(
        metrics.contains("# TYPE tryon_provider_credits gauge")
            && metrics.contains("tryon_provider_credits{provider=\"tryiton\"} 40\n"),
        "{metrics}"
    );
    assert_no_key("/metrics", &metrics);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_retry_of_the_same_try_on_sends_a_fresh_seed() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let tryiton = adapter(&fake, TryItOnStyle::Documented);
    for _ in 0..2 {
        tryiton
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap();
    }
    let seeds: Vec<_> = fake.jobs().into_iter().map(|j| j.seed).collect();
    assert!(
        seeds.iter().all(Option::is_some),
        "the documented default seed is a fixed 42: {seeds:?}"
    );
    assert_ne!(
        seeds[0], seeds[1],
        "the retry was a paid copy of the same picture"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn webp_results_are_kept_as_webp_and_chained_as_jpeg() {
    let fake = fake_2026(Style::Documented).await;
    fake.set(|b| b.webp_results = true);
    let tryiton = adapter(&fake, TryItOnStyle::Documented);
    let output = tryiton
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(
        (output.content_type.as_str(), output.width, output.height),
        ("image/webp", 96, 144)
    );
    assert_eq!(output.bytes, fake.only_job().result);

    fake.jobs.lock().unwrap().clear();
    tryiton
        .run(job(Category::Combo, Quality::Fast), &Recorder::default())
        .await
        .expect("a WebP first result goes back as a JPEG data URL");
    let jobs = fake.jobs();
    assert!(
        is_jpeg(&jobs[1].model_image),
        "the bottoms went onto a non-JPEG"
    );
    fake.recorder.assert_clean();
}
