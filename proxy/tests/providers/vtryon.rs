//! The Vtryon adapter against the strict Vtryon fake.

use std::time::Duration;

use secrecy::SecretString;
use tryon_proxy::providers::vtryon::Vtryon;
use tryon_proxy::providers::{Provider, ProviderError, VtryonSettings};
use tryon_proxy::wire::{Category, CheckSource, ErrorCode, ProgressKind, Quality, Severity};

use crate::util::{KEY, Recorder, assert_no_key, fast_tuning, garment, job, person};
use tryon_fakes::Fake;
use tryon_fakes::Fault;
use tryon_fakes::vtryon::{
    CREATE, DELETE_PERSON, STATUS, UPLOAD_GARMENT, UPLOAD_PERSON, VALIDATE, VtryonFake,
};

fn settings(fake: &VtryonFake, key: &str) -> VtryonSettings {
    VtryonSettings {
        api_key: SecretString::from(key),
        base_url: fake.base_url().parse().unwrap(),
        tuning: fast_tuning(60, Duration::from_secs(60)),
    }
}

pub(crate) fn adapter(fake: &VtryonFake) -> Vtryon {
    Vtryon::new(settings(fake, KEY)).unwrap()
}

#[tokio::test]
async fn every_category_succeeds_and_the_photo_is_deleted_afterwards() {
    let fake = VtryonFake::start().await;
    let vtryon = adapter(&fake);
    for (category, garments) in [
        (Category::Upper, 1),
        (Category::Lower, 1),
        (Category::Full, 1),
        (Category::Combo, 2),
    ] {
        fake.tasks.lock().unwrap().clear();
        let sink = Recorder::default();
        let output = vtryon
            .run(job(category, Quality::Balanced), &sink)
            .await
            .expect("try-on should succeed");
        let task = fake.only_task();
        assert_eq!(task.garment_image_ids.len(), garments, "{category:?}");
        assert_eq!(output.bytes, task.result);
        assert_eq!((output.width, output.height), (72, 108));
        sink.assert_well_formed(ProgressKind::Estimated);
        assert!(
            sink.distinct_values() >= 3,
            "{category:?}: {:?}",
            sink.values()
        );
        fake.assert_no_person_images_left().await;
    }
    assert_eq!(fake.recorder.count(UPLOAD_PERSON), 4);
    assert_eq!(fake.recorder.count(DELETE_PERSON), 4);
    assert_eq!(
        fake.recorder.count(UPLOAD_GARMENT),
        2,
        "the top and the bottoms are each uploaded once"
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_garment_is_uploaded_once_per_content() {
    let fake = VtryonFake::start().await;
    let vtryon = adapter(&fake);
    for _ in 0..3 {
        vtryon
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap();
    }
    assert_eq!(fake.recorder.count(UPLOAD_GARMENT), 1);
    assert_eq!(fake.recorder.count(UPLOAD_PERSON), 3);
    let ids: Vec<Vec<u64>> = fake
        .tasks()
        .into_iter()
        .map(|t| t.garment_image_ids)
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "every task reuses the same garment id: {ids:?}"
    );
    let mut people: Vec<u64> = fake
        .tasks()
        .into_iter()
        .map(|t| t.person_image_id)
        .collect();
    people.dedup();
    assert_eq!(people.len(), 3, "each try-on uploads its own person photo");
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_photo_is_deleted_whatever_the_outcome() {
    let fake = VtryonFake::start().await;
    let vtryon = adapter(&fake);

    fake.set(|b| b.fail_with = Some("generation error".into()));
    let error = vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(error.to_task_error().code, ErrorCode::ProviderFailed);
    fake.assert_no_person_images_left().await;
    fake.set(|b| b.fail_with = None);

    fake.set(|b| b.out_of_credit = true);
    let error = vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::OutOfCredit(_)), "{error:?}");
    fake.assert_no_person_images_left().await;
    fake.set(|b| b.out_of_credit = false);

    // The task is abandoned mid-way (deleted by the shopper): the driver's future is dropped.
    fake.set(|b| b.processing_for = Duration::from_secs(5));
    let abandoned = tokio::time::timeout(
        Duration::from_millis(400),
        vtryon.run(job(Category::Upper, Quality::Fast), &Recorder::default()),
    )
    .await;
    assert!(abandoned.is_err(), "the run should still have been going");
    fake.assert_no_person_images_left().await;
    assert_eq!(fake.recorder.count(DELETE_PERSON), 3);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn no_double_create_after_a_dropped_connection() {
    let fake = VtryonFake::start().await;
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
    fake.only_task();
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_person_check_uses_vtryon_validation_and_deletes_the_photo() {
    let fake = VtryonFake::start().await;
    fake.set(|b| b.validation = serde_json::json!({"is_valid": false, "issues": [{"code": "multiple_people", "message": "Two people found"}]}));
    let vtryon = adapter(&fake);
    let check = vtryon.check_person(&person()).await.unwrap();
    assert!(!check.ok);
    assert_eq!(check.source, CheckSource::Provider);
    assert_eq!(
        (check.issues[0].code.as_str(), check.issues[0].severity),
        ("multiple_people", Severity::Error)
    );
    assert_eq!(vtryon.check_person(&person()).await.unwrap(), check);
    assert_eq!(
        fake.recorder.count(VALIDATE),
        1,
        "the same photo is validated once"
    );
    fake.assert_no_person_images_left().await;
    assert_eq!(
        vtryon.check_garment(&garment()).await.unwrap().source,
        CheckSource::Local
    );
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_wrong_key_is_provider_auth() {
    let fake = VtryonFake::start().await;
    let vtryon = Vtryon::new(settings(&fake, "vt_DISTINCTIVE_K3Y_wrong")).unwrap();
    let error = vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Auth(_)), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("DISTINCTIVE"));
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn polls_survive_a_slow_answer_and_a_503() {
    let fake = VtryonFake::start().await;
    fake.recorder
        .fault(STATUS, Fault::Delay(Duration::from_millis(300)));
    fake.recorder.fault(STATUS, Fault::Status(503, Some(0)));
    let output = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(output.bytes, fake.only_task().result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_result_is_kept_although_the_signed_url_expires() {
    let fake = VtryonFake::start().await;
    *fake.storage.ttl.lock().unwrap() = Duration::from_millis(200);
    let output = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let task_id = *fake.tasks.lock().unwrap().keys().next().unwrap();
    let late = reqwest::get(format!("{}/files/res-{task_id}.png", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(
        late.status(),
        403,
        "the signed URL should have expired by now"
    );
    assert_eq!(output.bytes, fake.only_task().result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_key_appears_in_no_error_and_no_debug_output() {
    let fake = VtryonFake::start().await;
    let vtryon = adapter(&fake);
    for fault in [
        Fault::Status(400, None),
        Fault::Status(402, None),
        Fault::Status(500, None),
        Fault::DropAfterReading,
    ] {
        fake.recorder.fault(CREATE, fault);
        let error = vtryon
            .run(job(Category::Upper, Quality::Fast), &Recorder::default())
            .await
            .unwrap_err();
        assert_no_key("an error's Display", &error.to_string());
        assert_no_key("an error's Debug", &format!("{error:?}"));
    }
    assert_no_key(
        "the settings' Debug",
        &format!("{:?}", settings(&fake, KEY)),
    );
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn the_fake_rejects_deviations_from_the_document() {
    let fake = VtryonFake::start().await;
    let http = reqwest::Client::new();
    let base = fake.base_url();
    let form = |name: &str| {
        reqwest::multipart::Form::new().part(
            name.to_owned(),
            reqwest::multipart::Part::bytes(person().bytes.to_vec())
                .file_name("p.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
    };
    let no_slash = http
        .post(format!("{base}/v2/tryon/person-images"))
        .header("x-api-key", KEY)
        .multipart(form("image"));
    assert_eq!(no_slash.send().await.unwrap().status(), 404);
    let misnamed = http
        .post(format!("{base}/v2/tryon/person-images/"))
        .header("x-api-key", KEY)
        .multipart(form("file"));
    assert_eq!(misnamed.send().await.unwrap().status(), 400);
    let bearer = http
        .post(format!("{base}/v2/tryon/tasks/"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"tryon_person_image_id": 1, "garment_image_ids": [2]}));
    assert_eq!(bearer.send().await.unwrap().status(), 401);
    let violations = fake.recorder.violations().join("\n");
    for expected in [
        "undocumented endpoint POST /v2/tryon/person-images",
        "undocumented field \"file\"",
        "not Authorization",
    ] {
        assert!(
            violations.contains(expected),
            "the fake missed {expected:?}; it recorded:\n{violations}"
        );
    }
    assert!(fake.person_images.lock().unwrap().is_empty() && fake.tasks().is_empty());
}
