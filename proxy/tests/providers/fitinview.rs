//! The FitInView adapter against the strict FitInView fake.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::SecretString;
use tryon_proxy::providers::fitinview::{FitInView, WEBHOOK_PATH};
use tryon_proxy::providers::{
    FitInViewSettings, Provider, ProviderError, UpstreamTuning, WebhookError,
};
use tryon_proxy::wire::{Category, ErrorCode, ProgressKind, Quality};

use crate::util::{KEY, Recorder, assert_no_key, fast_tuning, job};
use tryon_fakes::Fake;
use tryon_fakes::Fault;
use tryon_fakes::fitinview::{ACCOUNT, CREATE, FitInViewFake, STATUS, WEBHOOK_SECRET};

const MINUTE: Duration = Duration::from_secs(60);

fn settings(fake: &FitInViewFake, tuning: UpstreamTuning, key: &str) -> FitInViewSettings {
    FitInViewSettings {
        api_key: SecretString::from(key),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: None,
        public_url: None,
        tuning,
    }
}

pub(crate) fn adapter(fake: &FitInViewFake) -> FitInView {
    FitInView::new(settings(fake, fast_tuning(20, MINUTE), KEY)).unwrap()
}

#[tokio::test]
async fn every_category_succeeds_with_estimated_progress() {
    let fake = FitInViewFake::start(MINUTE).await;
    let fitinview = adapter(&fake);
    for (category, garments) in [
        (Category::Upper, 1),
        (Category::Lower, 1),
        (Category::Full, 1),
        (Category::Combo, 2),
    ] {
        fake.jobs.lock().unwrap().clear();
        let sink = Recorder::default();
        let output = fitinview
            .run(job(category, Quality::Balanced), &sink)
            .await
            .expect("try-on should succeed");
        let upstream = fake.only_job();
        assert_eq!(upstream.garments, garments, "{category:?}");
        assert_eq!(upstream.output_size, "1K");
        assert_eq!(output.bytes, upstream.result);
        assert_eq!((output.width, output.height), (80, 120));
        sink.assert_well_formed(ProgressKind::Estimated);
        assert!(
            sink.distinct_values() >= 3,
            "{category:?}: {:?}",
            sink.values()
        );
    }
    assert_eq!(fake.recorder.count(ACCOUNT), 1, "the account is read once");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn best_quality_is_2k() {
    let fake = FitInViewFake::start(MINUTE).await;
    adapter(&fake)
        .run(job(Category::Upper, Quality::Best), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.only_job().output_size, "2K");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_resent_with_the_same_idempotency_key() {
    let fake = FitInViewFake::start(MINUTE).await;
    fake.recorder.fault(CREATE, Fault::DropAfterReading);
    let output = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.recorder.count(CREATE), 2, "the create is re-sent once");
    assert_eq!(
        output.bytes,
        fake.only_job().result,
        "and FitInView created one job"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_500_to_a_create_is_retried_safely() {
    let fake = FitInViewFake::start(MINUTE).await;
    fake.recorder.fault(CREATE, Fault::Status(500, None));
    adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.recorder.count(CREATE), 2);
    fake.only_job();
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn errors_map_onto_the_contract() {
    let fake = FitInViewFake::start(MINUTE).await;
    let fitinview = adapter(&fake);
    let sink = Recorder::default();
    let run = || fitinview.run(job(Category::Upper, Quality::Fast), &sink);

    fake.set(|b| b.out_of_credit = true);
    let error = run().await.unwrap_err();
    assert_eq!(
        (error.to_task_error().code, error.to_task_error().retryable),
        (ErrorCode::ProviderOutOfCredit, false)
    );
    fake.set(|b| b.out_of_credit = false);

    fake.recorder.fault(CREATE, Fault::Status(400, None));
    assert_eq!(
        run().await.unwrap_err().to_task_error().code,
        ErrorCode::InvalidImage
    );

    fake.set(|b| b.fail_with = Some(("generation_failed".into(), "content_blocked".into())));
    let error = run().await.unwrap_err();
    assert_eq!(
        (error.to_task_error().code, error.to_task_error().retryable),
        (ErrorCode::ContentRejected, false)
    );

    fake.set(|b| b.fail_with = Some(("generation_failed".into(), "storage failed".into())));
    let error = run().await.unwrap_err();
    assert_eq!(
        (error.to_task_error().code, error.to_task_error().retryable),
        (ErrorCode::ProviderFailed, true)
    );

    // Last: a 403 (account ineligible) stops this adapter sending anything more.
    fake.recorder.fault(CREATE, Fault::Status(403, None));
    let error = run().await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Auth(_)),
        "a disabled key is a configuration error: {error:?}"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_wrong_key_is_provider_auth_from_the_account_call() {
    let fake = FitInViewFake::start(MINUTE).await;
    let wrong = "fiv_live_DISTINCTIVE_K3Y_wrong";
    let fitinview = FitInView::new(settings(&fake, fast_tuning(20, MINUTE), wrong)).unwrap();
    let error = fitinview
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Auth(_)), "{error:?}");
    assert_eq!(
        fake.recorder.count(CREATE),
        0,
        "nothing is created with a refused key"
    );
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("DISTINCTIVE"), "key leaked: {text}");
    }
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_rate_limit_reported_by_the_account_is_obeyed() {
    let window = Duration::from_secs(1);
    let fake = FitInViewFake::start(window).await;
    // The account says 6 per window although the adapter was configured for 50.
    fake.set(|b| b.rate_limit_per_min = 6);
    let fitinview =
        Arc::new(FitInView::new(settings(&fake, fast_tuning(50, window), KEY)).unwrap());
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let fitinview = fitinview.clone();
            tokio::spawn(async move {
                fitinview
                    .run(job(Category::Upper, Quality::Fast), &Recorder::default())
                    .await
            })
        })
        .collect();
    for run in runs {
        run.await
            .unwrap()
            .expect("every try-on should succeed within the reported limit");
    }
    assert_eq!(fake.jobs().len(), 8);
    assert!(fake.recorder.max_in_window(window) <= 6);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_result_is_kept_although_the_signed_url_expires() {
    let fake = FitInViewFake::start(MINUTE).await;
    *fake.storage.ttl.lock().unwrap() = Duration::from_millis(200);
    let output = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = reqwest::get(format!("{}/files/job_000001.png", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(
        late.status(),
        403,
        "the signed URL should have expired by now"
    );
    assert_eq!(output.bytes, fake.only_job().result);
    fake.recorder.assert_clean();
}

/// Routes webhooks to the adapter, as the proxy's `POST /v1/webhooks/fitinview` does.
async fn webhook_route(
    State(fitinview): State<Arc<FitInView>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get("x-fitinview-signature")
        .and_then(|v| v.to_str().ok());
    match fitinview.webhook("fitinview", signature, &body).await {
        Ok(()) => StatusCode::OK,
        Err(WebhookError::BadSignature) => StatusCode::UNAUTHORIZED,
        Err(WebhookError::Malformed) => StatusCode::BAD_REQUEST,
        Err(WebhookError::NotConfigured) => StatusCode::NOT_FOUND,
    }
}

#[tokio::test]
async fn a_signed_webhook_ends_the_wait_without_polling_and_duplicates_are_ignored() {
    let fake = FitInViewFake::start(MINUTE).await;
    fake.set(|b| b.webhook_deliveries = 2);
    // The proxy's public URL must exist before the adapter does; bind first, route after.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    // Polls keep their plan with webhooks on; expected to take 2 s, the job is first
    // polled after 1.6 s, long after the fake's webhook (0.4 s).
    let mut tuning = fast_tuning(20, MINUTE);
    tuning.expected_duration = Some(Duration::from_secs(2));
    let mut settings = settings(&fake, tuning, KEY);
    settings.webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
    settings.public_url = Some(public.parse().unwrap());
    let fitinview = Arc::new(FitInView::new(settings).unwrap());
    assert!(fitinview.accepts_webhooks());
    let router = axum::Router::new()
        .route(WEBHOOK_PATH, post(webhook_route))
        .with_state(fitinview.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let output = fitinview
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    let upstream = fake.only_job();
    assert_eq!(
        upstream.webhook_url.as_deref(),
        Some(format!("{public}{WEBHOOK_PATH}").as_str())
    );
    assert_eq!(output.bytes, upstream.result);
    assert_eq!(
        fake.recorder.count(STATUS),
        0,
        "the webhook arrived before any poll was due"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        *fake.webhook_statuses.lock().unwrap(),
        [200, 200],
        "the repeat is accepted and ignored"
    );

    let forged = fitinview
        .webhook(
            "fitinview",
            Some("sha256=00"),
            br#"{"event":"tryon.completed","job_id":"job_000001","status":"succeeded"}"#,
        )
        .await;
    assert_eq!(forged, Err(WebhookError::BadSignature));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_key_appears_in_no_error_and_no_debug_output() {
    let fake = FitInViewFake::start(MINUTE).await;
    let fitinview = adapter(&fake);
    for fault in [
        Fault::Status(400, None),
        Fault::Status(402, None),
        Fault::Status(429, Some(60)),
    ] {
        fake.recorder.fault(CREATE, fault);
        let error = fitinview
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap_err();
        assert_no_key("an error's Display", &error.to_string());
        assert_no_key("an error's Debug", &format!("{error:?}"));
    }
    assert_no_key(
        "the settings' Debug",
        &format!("{:?}", settings(&fake, fast_tuning(20, MINUTE), KEY)),
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_fake_rejects_deviations_from_the_document() {
    let fake = FitInViewFake::start(MINUTE).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/tryon", fake.base_url());
    let person = base64_of(&crate::util::person().bytes);
    let garment = base64_of(&crate::util::garment().bytes);
    let send = |body: serde_json::Value, key: Option<&str>| {
        let mut request = http.post(&url).bearer_auth(KEY).json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };
    let prefixed = serde_json::json!({"person_image_b64": format!("data:image/jpeg;base64,{person}"), "garment_images_b64": [garment], "wait": false});
    assert_eq!(send(prefixed, Some("a")).await.unwrap().status(), 400);
    let alias =
        serde_json::json!({"person_image_b64": person, "garments": [garment], "wait": false});
    assert_eq!(send(alias, Some("b")).await.unwrap().status(), 400);
    let sync = serde_json::json!({"person_image_b64": person, "garment_images_b64": [garment]});
    assert_eq!(send(sync, Some("c")).await.unwrap().status(), 400);
    let no_key = serde_json::json!({"person_image_b64": person, "garment_images_b64": [garment], "wait": false});
    assert_eq!(send(no_key, None).await.unwrap().status(), 400);
    let violations = fake.recorder.violations().join("\n");
    for expected in [
        "no data: prefix",
        "\"garments\" is not a canonical field",
        "wait must be false",
        "no Idempotency-Key",
    ] {
        assert!(
            violations.contains(expected),
            "the fake missed {expected:?}; it recorded:\n{violations}"
        );
    }
    assert!(fake.jobs().is_empty());
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
