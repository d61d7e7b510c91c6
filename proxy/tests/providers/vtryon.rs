//! The Vtryon adapter against the strict Vtryon fake.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tryon_proxy::providers::routes;
use tryon_proxy::providers::vtryon::{Vtryon, WEBHOOK_PATH};
use tryon_proxy::providers::{
    Provider, ProviderError, VTRYON_CHECKED_PHOTO_KEPT_FOR, VtryonSettings,
};
use tryon_proxy::wire::{Category, CheckSource, ErrorCode, ProgressKind, Quality, Severity};

use crate::util::{KEY, Recorder, assert_no_key, fast_tuning, garment, job, person};
use tryon_fakes::Fake;
use tryon_fakes::Fault;
use tryon_fakes::vtryon::{
    CREATE, DELETE_PERSON, LIST_GARMENT, LIST_PERSON, LIST_TASKS, STATUS, UPLOAD_GARMENT,
    UPLOAD_PERSON, VALIDATE, VtryonFake, sign, webhook_secret,
};

fn settings(fake: &VtryonFake, key: &str) -> VtryonSettings {
    VtryonSettings {
        api_key: SecretString::from(key),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: None,
        checked_photo_kept_for: VTRYON_CHECKED_PHOTO_KEPT_FOR,
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
async fn a_lost_create_answer_is_found_by_its_person_image_and_finished_once() {
    let fake = VtryonFake::start().await;
    fake.recorder.fault(CREATE, Fault::DropAfterReading);
    let sink = Recorder::default();
    let output = adapter(&fake)
        .run(job(Category::Upper, Quality::Fast), &sink)
        .await
        .expect("the task Vtryon created (and billed) is followed, not failed");
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "the create must not be re-sent"
    );
    assert_eq!(fake.recorder.count(LIST_TASKS), 1);
    let task = fake.only_task();
    assert_eq!(
        output.bytes, task.result,
        "exactly one billed task, and its result"
    );
    let task_id = *fake.tasks.lock().unwrap().keys().next().unwrap();
    assert_eq!(
        sink.last_upstream().unwrap()["task_id"],
        task_id.to_string(),
        "the found task is recorded for a restart"
    );
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_lost_upload_answer_is_found_by_its_name_and_no_copy_is_left() {
    let fake = VtryonFake::start().await;
    let vtryon = adapter(&fake);
    fake.recorder.fault(UPLOAD_PERSON, Fault::DropAfterReading);
    fake.recorder.fault(UPLOAD_GARMENT, Fault::DropAfterReading);
    vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .expect("the uploads Vtryon stored are found again and used");
    let counts = |endpoints: [&str; 4]| endpoints.map(|e| fake.recorder.count(e));
    assert_eq!(
        counts([UPLOAD_PERSON, LIST_PERSON, UPLOAD_GARMENT, LIST_GARMENT]),
        [1, 1, 1, 1],
        "each lost upload is looked up by its image_name, not sent again"
    );
    let task = fake.only_task();
    assert_eq!(
        fake.garment_images.lock().unwrap().len(),
        1,
        "no second copy of the garment"
    );
    fake.assert_no_person_images_left().await;
    assert_eq!(fake.recorder.count(DELETE_PERSON), 1);
    // The found garment id is remembered like an answered one.
    vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(fake.recorder.count(UPLOAD_GARMENT), 1);
    assert_eq!(
        fake.tasks().last().unwrap().garment_image_ids,
        task.garment_image_ids
    );
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_garment_id_vtryon_forgot_is_uploaded_again_once_not_blamed_on_the_photo() {
    let fake = VtryonFake::start().await;
    let vtryon = adapter(&fake);
    vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    fake.forget_garment_images();
    let output = vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .expect("a stale garment id is uploaded again, not shown as a bad photo");
    assert_eq!(
        fake.recorder.count(UPLOAD_GARMENT),
        2,
        "uploaded again once"
    );
    assert_eq!(
        fake.recorder.count(CREATE),
        3,
        "one create, its 404, and the one with the new id"
    );
    assert_eq!(output.bytes, fake.tasks().last().unwrap().result);
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_checked_photo_is_uploaded_once_for_its_try_on() {
    let fake = VtryonFake::start().await;
    let vtryon = adapter(&fake);
    let check = vtryon.check_person(&person()).await.unwrap();
    assert!(check.ok, "{check:?}");
    let kept: Vec<u64> = fake.person_images.lock().unwrap().keys().copied().collect();
    assert_eq!(kept.len(), 1, "the checked upload waits for the try-on");
    vtryon
        .run(job(Category::Upper, Quality::Fast), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(
        fake.recorder.count(UPLOAD_PERSON),
        1,
        "the check's upload is the try-on's"
    );
    assert_eq!(fake.only_task().person_image_id, kept[0]);
    fake.assert_no_person_images_left().await;
    assert_eq!(fake.recorder.count(DELETE_PERSON), 1);

    // A check with no try-on after it: its upload is deleted once the keeping time is over.
    let mut settings = settings(&fake, KEY);
    settings.checked_photo_kept_for = Duration::from_millis(300);
    let vtryon = Vtryon::new(settings).unwrap();
    vtryon.check_person(&person()).await.unwrap();
    assert_eq!(fake.person_images.lock().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.assert_no_person_images_left().await;
    assert_eq!(fake.recorder.count(DELETE_PERSON), 2);
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

/// The adapter with webhooks on, behind the proxy's real webhook route on a loopback port;
/// the route's URL, as the merchant enters it in Vtryon's dashboard.
async fn with_webhooks(fake: &VtryonFake, expected: Duration) -> (Arc<Vtryon>, String) {
    let mut settings = settings(fake, KEY);
    settings.webhook_secret = Some(SecretString::from(webhook_secret()));
    settings.tuning.expected_duration = Some(expected);
    settings.tuning.task_timeout = expected * 2;
    let vtryon = Arc::new(Vtryon::new(settings).unwrap());
    assert!(vtryon.accepts_webhooks());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr().unwrap());
    let router: axum::Router = routes::webhooks(vtryon.clone() as Arc<dyn Provider>);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (vtryon, url)
}

#[tokio::test]
async fn a_signed_webhook_ends_the_wait_at_once() {
    let fake = VtryonFake::start().await;
    // Without the webhook, the first poll would come at 0.8 × 60 s.
    let (vtryon, url) = with_webhooks(&fake, Duration::from_secs(60)).await;
    fake.set(|b| b.webhook_url = Some(url));
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        vtryon.run(job(Category::Upper, Quality::Fast), &Recorder::default()),
    )
    .await
    .expect("the webhook, not the 48 s first poll, ends the wait")
    .unwrap();
    assert_eq!(output.bytes, fake.only_task().result);
    assert_eq!(
        fake.recorder.count(STATUS),
        1,
        "one status read, when the webhook came"
    );
    assert_eq!(*fake.webhook_statuses.lock().unwrap(), [204]);
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn webhooks_with_a_bad_or_missing_signature_are_refused_without_effect() {
    let fake = VtryonFake::start().await;
    // No webhook from the fake: only forged ones. The first poll is due after 0.8 × 2 s.
    let (vtryon, url) = with_webhooks(&fake, Duration::from_secs(2)).await;
    let run = tokio::spawn({
        let vtryon = vtryon.clone();
        async move {
            vtryon
                .run(job(Category::Upper, Quality::Fast), &Recorder::default())
                .await
        }
    });
    let task_id = loop {
        if let Some(id) = fake.tasks.lock().unwrap().keys().next() {
            break *id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let body = serde_json::to_vec(
        &serde_json::json!({"event": "task.completed", "data": {"id": task_id, "status": "completed"}}),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let send = |signature: Option<String>| {
        let mut request = http.post(&url).body(body.clone());
        if let Some(signature) = signature {
            request = request.header("x-vtryon-signature", signature);
        }
        request.send()
    };
    let other_body = sign(b"{\"data\":{\"id\":1}}");
    for signature in [
        None,
        Some("v1,AAAA".to_owned()),
        Some(format!("v1,{other_body}")),
    ] {
        let answer = send(signature.clone()).await.unwrap();
        assert_eq!(answer.status(), 401, "{signature:?}");
        let problem: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], "unauthorized");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.recorder.count(STATUS),
        0,
        "a forged webhook wakes nothing"
    );
    let output = run.await.unwrap().expect("the task ends by its own polls");
    assert_eq!(output.bytes, fake.only_task().result);
    // A correctly signed event for a task nobody waits for is accepted and ignored.
    let late = send(Some(format!("v1,{}", sign(&body)))).await.unwrap();
    assert_eq!(late.status(), 204);
    fake.recorder.assert_clean();
}
