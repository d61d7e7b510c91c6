//! The TryItOn adapter against the strict TryItOn fake.

use std::time::Duration;

use secrecy::SecretString;
use tryon_proxy::providers::tryiton::TryItOn;
use tryon_proxy::providers::{Provider, ProviderError, TryItOnSettings};
use tryon_proxy::wire::{Category, CheckSource, ErrorCode, ProgressKind, Quality};

use crate::util::{KEY, Recorder, assert_no_key, fast_tuning, garment, job, lower_garment, person};
use tryon_fakes::Fake;
use tryon_fakes::Fault;
use tryon_fakes::tryiton::{CREATE, DEFAULT_STATUS_PATH, STATUS, TryItOnFake};

fn settings(fake: &TryItOnFake, status_path: &str, key: &str) -> TryItOnSettings {
    TryItOnSettings {
        api_key: SecretString::from(key),
        base_url: fake.base_url().parse().unwrap(),
        status_path: status_path.to_owned(),
        style: Default::default(),
        tuning: fast_tuning(60, Duration::from_secs(60)),
    }
}

pub(crate) fn adapter(fake: &TryItOnFake) -> TryItOn {
    TryItOn::new(settings(fake, DEFAULT_STATUS_PATH, KEY)).unwrap()
}

#[tokio::test]
async fn single_garment_categories_map_to_tryiton_words() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let tryiton = adapter(&fake);
    for (category, theirs) in [
        (Category::Upper, "tops"),
        (Category::Lower, "bottoms"),
        (Category::Full, "one-pieces"),
        (Category::Auto, "auto"),
    ] {
        fake.jobs.lock().unwrap().clear();
        let sink = Recorder::default();
        let output = tryiton
            .run(job(category, Quality::Balanced), &sink)
            .await
            .expect("try-on should succeed");
        let upstream = fake.only_job();
        assert_eq!(upstream.category, theirs);
        assert_eq!(upstream.output_format, "jpeg");
        assert_eq!(
            upstream.model_image,
            person().bytes.to_vec(),
            "the person photo goes up unchanged"
        );
        assert_eq!(output.bytes, upstream.result);
        assert_eq!(
            (output.width, output.height, output.content_type.as_str()),
            (96, 144, "image/jpeg")
        );
        sink.assert_well_formed(ProgressKind::Estimated);
        assert!(
            sink.distinct_values() >= 3,
            "{category:?}: {:?}",
            sink.values()
        );
    }
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn qualities_map_to_modes() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let tryiton = adapter(&fake);
    for quality in [Quality::Fast, Quality::Balanced, Quality::Best] {
        tryiton
            .run(job(Category::Upper, quality), &Recorder::default())
            .await
            .unwrap();
    }
    let modes: Vec<String> = fake.jobs().into_iter().map(|j| j.mode).collect();
    assert_eq!(modes, ["performance", "balanced", "quality"]);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn combo_chains_the_bottoms_onto_the_top_result_under_one_progress_bar() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let sink = Recorder::default();
    let output = adapter(&fake)
        .run(job(Category::Combo, Quality::Fast), &sink)
        .await
        .unwrap();
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 2, "combo is two TryItOn tasks");
    assert_eq!(
        (jobs[0].category.as_str(), jobs[1].category.as_str()),
        ("tops", "bottoms")
    );
    assert_eq!(jobs[0].garment_image, garment().bytes.to_vec());
    assert_eq!(jobs[1].garment_image, lower_garment().bytes.to_vec());
    assert_eq!(
        jobs[1].model_is_result_of.as_deref(),
        Some(jobs[0].id.as_str()),
        "the bottoms go onto the first result"
    );
    assert_eq!(output.bytes, jobs[1].result);
    sink.assert_well_formed(ProgressKind::Estimated);
    let values = sink.values();
    assert!(
        values.iter().any(|v| (10..50).contains(v)) && values.iter().any(|v| *v >= 60),
        "one bar across both: {values:?}"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn runtime_errors_map_onto_the_contract() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let tryiton = adapter(&fake);
    for (name, code, retryable) in [
        ("ContentModerationError", ErrorCode::ContentRejected, false),
        ("PoseError", ErrorCode::PoseNotDetected, false),
        ("ImageLoadError", ErrorCode::InvalidImage, false),
        ("PipelineError", ErrorCode::ProviderFailed, true),
    ] {
        fake.set(|b| b.fail_with = Some((name.into(), "details".into())));
        let error = tryiton
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap_err();
        let task_error = error.to_task_error();
        assert_eq!(
            (task_error.code, task_error.retryable),
            (code, retryable),
            "{name}: {error:?}"
        );
    }
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn http_errors_map_onto_the_contract() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    fake.set(|b| b.out_of_credit = true);
    let error = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::OutOfCredit(_)), "{error:?}");
    fake.set(|b| b.out_of_credit = false);

    let wrong = TryItOn::new(settings(
        &fake,
        DEFAULT_STATUS_PATH,
        "tk_DISTINCTIVE_K3Y_wrong",
    ))
    .unwrap();
    let error = wrong
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Auth(_)), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("DISTINCTIVE"));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_status_path_is_configurable() {
    let path = "/api/v1/tryon/clothes/{id}/status";
    let fake = TryItOnFake::start(path).await;
    let output = TryItOn::new(settings(&fake, path, KEY))
        .unwrap()
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(output.bytes, fake.only_job().result);
    assert!(fake.recorder.count(STATUS) >= 1);
    fake.recorder.assert_clean();
    assert!(
        TryItOn::new(settings(&fake, "/api/v1/status", KEY)).is_err(),
        "a status path needs {{id}}"
    );
}

#[tokio::test]
async fn no_double_create_after_a_dropped_connection() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    fake.recorder.fault(CREATE, Fault::DropAfterReading);
    let error = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Timeout(_)), "{error:?}");
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "the create must not be re-sent"
    );
    fake.only_job();
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_result_is_kept_although_the_signed_url_expires() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    *fake.storage.ttl.lock().unwrap() = Duration::from_millis(200);
    let output = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = fake.only_job();
    let late = reqwest::get(format!("{}/files/{}.jpg", fake.base_url(), job.id))
        .await
        .unwrap();
    assert_eq!(
        late.status(),
        403,
        "the signed URL should have expired by now"
    );
    assert_eq!(output.bytes, job.result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn checks_are_the_proxys_local_ones() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let tryiton = adapter(&fake);
    let check = tryiton.check_person(&person()).await.unwrap();
    assert_eq!(check.source, CheckSource::Local);
    assert_eq!(
        tryiton.check_garment(&garment()).await.unwrap().source,
        CheckSource::Local
    );
    assert!(!tryiton.info().checks.person && !tryiton.info().checks.garment);
    assert_eq!(
        fake.recorder.count(CREATE) + fake.recorder.count(STATUS),
        0,
        "local checks cost no upstream call"
    );
}

#[tokio::test]
async fn the_key_appears_in_no_error_and_no_debug_output() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let tryiton = adapter(&fake);
    for fault in [
        Fault::Status(400, None),
        Fault::Status(402, None),
        Fault::Status(500, None),
        Fault::DropAfterReading,
    ] {
        fake.recorder.fault(CREATE, fault);
        let error = tryiton
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap_err();
        assert_no_key("an error's Display", &error.to_string());
        assert_no_key("an error's Debug", &format!("{error:?}"));
    }
    assert_no_key(
        "the settings' Debug",
        &format!("{:?}", settings(&fake, DEFAULT_STATUS_PATH, KEY)),
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_fake_rejects_deviations_from_the_document() {
    use base64::Engine;
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/tryon/clothes", fake.base_url());
    let raw = base64::engine::general_purpose::STANDARD.encode(&person().bytes);
    let prefixed = format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&garment().bytes)
    );
    let no_prefix = serde_json::json!({"model_image": raw, "garment_image": prefixed});
    assert_eq!(
        http.post(&url)
            .bearer_auth(KEY)
            .json(&no_prefix)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let bad_category = serde_json::json!({"model_image": prefixed, "garment_image": prefixed, "category": "upper"});
    assert_eq!(
        http.post(&url)
            .bearer_auth(KEY)
            .json(&bad_category)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let x_api_key = serde_json::json!({"model_image": prefixed, "garment_image": prefixed});
    assert_eq!(
        http.post(&url)
            .header("x-api-key", KEY)
            .json(&x_api_key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let violations = fake.recorder.violations().join("\n");
    for expected in [
        "model_image is not a data URL",
        "category \"upper\"",
        "not X-API-KEY",
    ] {
        assert!(
            violations.contains(expected),
            "the fake missed {expected:?}; it recorded:\n{violations}"
        );
    }
    assert!(fake.jobs().is_empty());
}
