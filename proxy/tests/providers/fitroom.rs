//! The Fitroom adapter against the strict Fitroom fake.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tryon_proxy::providers::fitroom::Fitroom;
use tryon_proxy::providers::{FitroomSettings, Provider, ProviderError, UpstreamTuning};
use tryon_proxy::wire::{
    Category, CheckSource, ErrorCode, GarmentKind, ProgressKind, Quality, Severity,
};

use crate::util::{KEY, Recorder, assert_no_key, fast_tuning, garment, job, person};
use tryon_fakes::Fake;
use tryon_fakes::Fault;
use tryon_fakes::fitroom::{CHECK_CLOTHES, CHECK_MODEL, CREATE, FitroomFake, STATUS};

fn adapter(fake: &FitroomFake, tuning: UpstreamTuning) -> Fitroom {
    adapter_with_key(fake, tuning, KEY)
}

fn adapter_with_key(fake: &FitroomFake, tuning: UpstreamTuning, key: &str) -> Fitroom {
    Fitroom::new(FitroomSettings {
        api_key: SecretString::from(key),
        base_url: fake.base_url().parse().unwrap(),
        tuning,
    })
    .unwrap()
}

fn tuning() -> UpstreamTuning {
    fast_tuning(60, Duration::from_secs(60))
}

#[tokio::test]
async fn every_category_succeeds_with_the_documented_cloth_type_and_reported_progress() {
    let fake = FitroomFake::start().await;
    let fitroom = adapter(&fake, tuning());
    for (category, cloth_type) in [
        (Category::Upper, "upper"),
        (Category::Lower, "lower"),
        (Category::Full, "full_set"),
        (Category::Combo, "combo"),
    ] {
        let before = fake.created().len();
        let sink = Recorder::default();
        let output = fitroom
            .run(job(category, Quality::Balanced), &sink)
            .await
            .expect("try-on should succeed");
        let task = fake.created().pop().unwrap();
        assert_eq!(
            fake.created().len(),
            before + 1,
            "{category:?}: one create per try-on"
        );
        assert_eq!(task.cloth_type, cloth_type, "{category:?}");
        assert_eq!(task.has_lower, category == Category::Combo);
        assert_eq!(task.hd_mode, None, "balanced must not ask for HD");
        assert_eq!(
            output.bytes, task.result,
            "{category:?}: the result must be the vendor's image"
        );
        assert_eq!(
            (output.width, output.height, output.content_type.as_str()),
            (64, 96, "image/png")
        );
        sink.assert_well_formed(ProgressKind::Reported);
        assert!(
            sink.distinct_values() >= 3,
            "{category:?}: the vendor's progress should show: {:?}",
            sink.values()
        );
    }
    assert_eq!(
        fake.recorder.count(CHECK_CLOTHES),
        0,
        "explicit categories need no check"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn best_quality_asks_for_hd_mode() {
    let fake = FitroomFake::start().await;
    adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Best), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.only_task().hd_mode.as_deref(), Some("true"));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn auto_classifies_each_garment_once_with_the_clothes_check() {
    let fake = FitroomFake::start().await;
    fake.set(|b| {
        b.clothes_verdict = serde_json::json!({"clothes_type": "full", "is_clothes": true})
    });
    let fitroom = adapter(&fake, tuning());
    for _ in 0..3 {
        fitroom
            .run(job(Category::Auto, Quality::Fast), &Recorder::default())
            .await
            .unwrap();
    }
    assert!(fake.created().iter().all(|t| t.cloth_type == "full_set"));
    assert_eq!(fake.created().len(), 3);
    assert_eq!(
        fake.recorder.count(CHECK_CLOTHES),
        1,
        "the garment must be classified once"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_person_check_maps_fitroom_codes_and_is_paid_once_per_photo() {
    let fake = FitroomFake::start().await;
    let fitroom = adapter(&fake, tuning());
    fake.set(|b| {
        b.model_verdict =
            serde_json::json!({"is_good": false, "error_code": "400002", "good_clothes_types": []})
    });
    let check = fitroom.check_person(&person()).await.unwrap();
    assert!(!check.ok);
    assert_eq!(check.source, CheckSource::Provider);
    assert_eq!(
        (check.issues[0].code.as_str(), check.issues[0].severity),
        ("multiple_people", Severity::Error)
    );
    let again = fitroom.check_person(&person()).await.unwrap();
    assert_eq!(again, check);
    assert_eq!(
        fake.recorder.count(CHECK_MODEL),
        1,
        "the same photo must not be checked twice"
    );

    fake.set(|b| b.model_verdict = serde_json::json!({"is_good": true, "error_code": "410001", "good_clothes_types": ["upper"]}));
    let other_photo = crate::util::jpeg(600, 900, [1, 2, 3]);
    let warned = fitroom.check_person(&other_photo).await.unwrap();
    assert!(warned.ok, "a 410xxx code is a warning");
    assert_eq!(
        (warned.issues[0].code.as_str(), warned.issues[0].severity),
        ("person_slightly_small", Severity::Warning)
    );
    assert_eq!(warned.garment_kinds, Some(vec![GarmentKind::Upper]));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_garment_check_reports_the_kind_and_shares_the_cache_with_auto() {
    let fake = FitroomFake::start().await;
    fake.set(|b| {
        b.clothes_verdict = serde_json::json!({"clothes_type": "lower", "is_clothes": true})
    });
    let fitroom = adapter(&fake, tuning());
    let check = fitroom.check_garment(&garment()).await.unwrap();
    assert!(check.ok);
    assert_eq!(
        (check.kind, check.source),
        (Some(GarmentKind::Lower), CheckSource::Provider)
    );
    fitroom
        .run(job(Category::Auto, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.only_task().cloth_type, "lower");
    assert_eq!(fake.recorder.count(CHECK_CLOTHES), 1);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn out_of_credit_is_the_merchants_problem_and_not_retryable() {
    let fake = FitroomFake::start().await;
    fake.set(|b| b.out_of_credit = true);
    let error = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::OutOfCredit(_)), "{error:?}");
    let task_error = error.to_task_error();
    assert_eq!(
        (task_error.code, task_error.retryable),
        (ErrorCode::ProviderOutOfCredit, false)
    );
    assert!(error.fails_over());
    assert_eq!(fake.recorder.count(CREATE), 1, "a 402 is final");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_wrong_key_is_provider_auth_and_never_leaks() {
    let fake = FitroomFake::start().await;
    let wrong = "sk_live_DISTINCTIVE_K3Y_wrong";
    let error = adapter_with_key(&fake, tuning(), wrong)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Auth(_)), "{error:?}");
    let task_error = error.to_task_error();
    assert_eq!(
        (task_error.code, task_error.retryable),
        (ErrorCode::ProviderAuth, false)
    );
    assert_eq!(fake.recorder.auth_failures(), 1);
    for text in [error.to_string(), format!("{error:?}"), task_error.message] {
        assert!(
            !text.contains(wrong) && !text.contains("DISTINCTIVE"),
            "key leaked: {text}"
        );
    }
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_failed_task_is_provider_failed_and_retryable() {
    let fake = FitroomFake::start().await;
    fake.set(|b| b.fail_with = Some("Failed to process try-on task".into()));
    let error = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Failed(m) if m.contains("Failed to process")),
        "{error:?}"
    );
    let task_error = error.to_task_error();
    assert_eq!(
        (task_error.code, task_error.retryable),
        (ErrorCode::ProviderFailed, true)
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_bad_request_is_invalid_image() {
    let fake = FitroomFake::start().await;
    fake.fault(CREATE, Fault::Status(400, None));
    let error = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_task_error().code,
        ErrorCode::InvalidImage,
        "{error:?}"
    );
    assert!(!error.to_task_error().retryable);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_the_create_goes_through_once() {
    let fake = FitroomFake::start().await;
    fake.fault(CREATE, Fault::Status(429, Some(1)));
    let started = std::time::Instant::now();
    adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 must be honoured"
    );
    assert_eq!(fake.recorder.count(CREATE), 2);
    assert_eq!(fake.created().len(), 1, "one task, one credit");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_503_is_retried_with_backoff_until_the_attempts_run_out() {
    let fake = FitroomFake::start().await;
    for _ in 0..3 {
        fake.fault(CREATE, Fault::Status(503, None));
    }
    let error = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(error.to_task_error().retryable);
    assert_eq!(fake.recorder.count(CREATE), 3, "max_attempts is 3");
    assert!(fake.created().is_empty());
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_500_to_a_create_is_not_resent_because_it_may_have_been_charged() {
    let fake = FitroomFake::start().await;
    fake.fault(CREATE, Fault::Status(500, None));
    let error = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Unavailable { .. }),
        "{error:?}"
    );
    assert_eq!(fake.recorder.count(CREATE), 1);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn no_double_create_after_a_dropped_connection() {
    let fake = FitroomFake::start().await;
    fake.fault(CREATE, Fault::DropAfterReading);
    let error = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Timeout(_)),
        "the create's fate is unknown: {error:?}"
    );
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "the create must not be re-sent"
    );
    assert_eq!(
        fake.created().len(),
        1,
        "the vendor did create (and charge) once"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_create_answered_too_late_is_not_resent() {
    let fake = FitroomFake::start().await;
    let mut tuning = tuning();
    tuning.request_timeout = Duration::from_millis(300);
    fake.fault(CREATE, Fault::Delay(Duration::from_millis(900)));
    let error = adapter(&fake, tuning)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Timeout(_)), "{error:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "the create must not be re-sent"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn polls_survive_transient_errors_and_slow_answers() {
    let fake = FitroomFake::start().await;
    fake.fault(STATUS, Fault::Status(500, None));
    fake.fault(STATUS, Fault::Status(503, Some(0)));
    fake.fault(STATUS, Fault::Delay(Duration::from_millis(200)));
    let output = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(output.bytes, fake.only_task().result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_result_is_kept_although_the_signed_url_expires() {
    let fake = FitroomFake::start().await;
    *fake.storage.ttl.lock().unwrap() = Duration::from_millis(200);
    let output = adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("{}/files/tryon-{}.png", fake.base_url(), 123456);
    let late = reqwest::get(&url).await.unwrap();
    assert_eq!(
        late.status(),
        403,
        "the signed URL should have expired by now"
    );
    assert_eq!(
        output.bytes,
        fake.only_task().result,
        "the adapter downloaded it in time"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn twenty_concurrent_try_ons_stay_within_the_rate_limit() {
    let fake = FitroomFake::start().await;
    // Fitroom's 60 per minute, scaled to 12 per second so the test takes seconds.
    let window = Duration::from_secs(1);
    fake.recorder.set_rate_limit(12, window);
    fake.set(|b| b.processing_for = Duration::from_millis(300));
    let fitroom = Arc::new(adapter(&fake, fast_tuning(12, window)));
    let runs: Vec<_> = (0..20)
        .map(|_| {
            let fitroom = fitroom.clone();
            tokio::spawn(async move {
                let sink = Recorder::default();
                let result = fitroom
                    .run(job(Category::Upper, Quality::Fast), &sink)
                    .await;
                (result, sink)
            })
        })
        .collect();
    let mut waited_in_line = 0;
    for run in runs {
        let (result, sink) = run.await.unwrap();
        result.expect("every try-on should succeed within the budget");
        sink.assert_well_formed(ProgressKind::Reported);
        if sink.queued.lock().unwrap().iter().any(Option::is_some) {
            waited_in_line += 1;
        }
    }
    fake.recorder.assert_clean();
    assert_eq!(fake.created().len(), 20);
    let busiest = fake.recorder.max_in_window(window);
    assert!(busiest <= 12, "{busiest} calls arrived within one window");
    assert!(
        waited_in_line > 0,
        "with 20 creates against 12 per window someone must have seen a queue position"
    );
    eprintln!(
        "fitroom: 20 try-ons, {} creates, {} polls, busiest window {busiest}",
        fake.recorder.count(CREATE),
        fake.recorder.count(STATUS)
    );
}

#[tokio::test]
async fn the_key_appears_in_no_error_and_no_debug_output() {
    let fake = FitroomFake::start().await;
    let fitroom = adapter(&fake, tuning());
    let faults = [
        Fault::Status(400, None),
        Fault::Status(402, None),
        Fault::Status(500, None),
        Fault::DropAfterReading,
    ];
    for fault in faults {
        fake.fault(CREATE, fault);
        let error = fitroom
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap_err();
        assert_no_key("an error's Display", &error.to_string());
        assert_no_key("an error's Debug", &format!("{error:?}"));
        assert_no_key(
            "a task error",
            &serde_json::to_string(&error.to_task_error()).unwrap(),
        );
    }
    let settings = FitroomSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        tuning: tuning(),
    };
    assert_no_key("the settings' Debug", &format!("{settings:?}"));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_fake_rejects_deviations_from_the_document() {
    let fake = FitroomFake::start().await;
    let http = reqwest::Client::new();
    let base = fake.base_url();
    let form = || {
        reqwest::multipart::Form::new()
            .part(
                "model_image",
                reqwest::multipart::Part::bytes(person().bytes.to_vec())
                    .file_name("m.jpg")
                    .mime_str("image/jpeg")
                    .unwrap(),
            )
            .part(
                "cloth_image",
                reqwest::multipart::Part::bytes(garment().bytes.to_vec())
                    .file_name("c.jpg")
                    .mime_str("image/jpeg")
                    .unwrap(),
            )
    };
    let bearer = http
        .post(format!("{base}/api/tryon/v2/tasks"))
        .bearer_auth(KEY)
        .multipart(form().text("cloth_type", "upper"));
    assert_eq!(bearer.send().await.unwrap().status(), 401);
    let slash = http
        .post(format!("{base}/api/tryon/v2/tasks/"))
        .header("X-API-KEY", KEY)
        .multipart(form().text("cloth_type", "upper"));
    assert_eq!(slash.send().await.unwrap().status(), 404);
    let misnamed = http
        .post(format!("{base}/api/tryon/v2/tasks"))
        .header("X-API-KEY", KEY)
        .multipart(form().text("clothes_type", "upper"));
    assert_eq!(misnamed.send().await.unwrap().status(), 400);
    let full = http
        .post(format!("{base}/api/tryon/v2/tasks"))
        .header("X-API-KEY", KEY)
        .multipart(form().text("cloth_type", "full"));
    assert_eq!(
        full.send().await.unwrap().status(),
        400,
        "the create spells it full_set"
    );
    let violations = fake.recorder.violations().join("\n");
    for expected in [
        "not Authorization",
        "undocumented endpoint POST /api/tryon/v2/tasks/",
        "undocumented field \"clothes_type\"",
        "\"full\"",
    ] {
        assert!(
            violations.contains(expected),
            "the fake missed {expected:?}; it recorded:\n{violations}"
        );
    }
    assert!(fake.created().is_empty());
}

#[tokio::test]
async fn after_a_restart_the_task_is_polled_again_and_never_created_twice() {
    let fake = FitroomFake::start().await;
    let sink = Recorder::default();
    adapter(&fake, tuning())
        .run(job(Category::Upper, Quality::Balanced), &sink)
        .await
        .expect("the first run succeeds");
    let state = sink
        .last_upstream()
        .expect("the adapter recorded its upstream task");
    let (creates, polls) = (fake.created().len(), fake.recorder.count(STATUS));

    // A new process: a fresh adapter, only the stored state carried over.
    let output = adapter(&fake, tuning())
        .resume(
            job(Category::Upper, Quality::Balanced),
            state,
            &Recorder::default(),
        )
        .await
        .expect("the resumed task succeeds");
    assert_eq!(fake.created().len(), creates, "a resume creates nothing");
    assert!(
        fake.recorder.count(STATUS) > polls,
        "a resume polls the vendor's task"
    );
    assert_eq!(output.bytes, fake.created().pop().unwrap().result);
    fake.recorder.assert_clean();

    let metrics = tryon_proxy::metrics::render(0);
    assert!(
        metrics.contains("status=\"200\"}")
            && metrics.contains("tryon_upstream_request_duration_seconds_count{endpoint="),
        "the vendor calls are counted and timed for /metrics:\n{metrics}"
    );
}
