//! Issue 7: a proxy killed while a try-on runs upstream picks it up after the restart from the
//! state it persisted, and never pays for it twice.
//!
//! Each test runs an adapter until the moment of the simulated SIGKILL (nothing of the first
//! run executes after it, destructors included), then resumes the task on a fresh adapter
//! (a new process) from nothing but the upstream state the first run handed over, and asserts
//! what the strict fake saw: no second create, the result delivered, no deviation.

use std::time::Duration;

use serde_json::Value;
use tryon_fakes::tryiton::{DEFAULT_STATUS_PATH, TryItOnFake};
use tryon_fakes::vtryon::{DELETE_PERSON, UPLOAD_GARMENT, UPLOAD_PERSON, VtryonFake};
use tryon_fakes::{Fake, Fault, fitinview, tryiton, vtryon};
use tryon_proxy::providers::{Provider, TryOnOutput};
use tryon_proxy::wire::{Category, ProgressKind, Quality};

use crate::util::{Recorder, job, run_until_killed};

/// Runs `provider` until `killed_now` holds for the upstream state it handed over; returns
/// that state, as the store would hold it after the crash.
async fn crash_when(
    provider: &dyn Provider,
    category: Category,
    killed_now: impl Fn(&Value) -> bool,
) -> Value {
    let sink = Recorder::default();
    run_until_killed(
        provider.run(job(category, Quality::Balanced), &sink),
        || sink.last_upstream().as_ref().is_some_and(&killed_now),
    )
    .await;
    sink.last_upstream().expect("state was handed over")
}

/// Resumes on `provider` (a fresh adapter: a new process) and checks the bar it showed.
async fn resume(provider: &dyn Provider, category: Category, state: Value) -> TryOnOutput {
    let sink = Recorder::default();
    let output = provider
        .resume(job(category, Quality::Balanced), state, &sink)
        .await
        .expect("the resumed try-on succeeds");
    sink.assert_well_formed(ProgressKind::Estimated);
    output
}

#[tokio::test]
async fn tryiton_polls_the_job_it_had_created_and_creates_nothing() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let state = crash_when(&crate::tryiton::adapter(&fake), Category::Upper, |s| {
        s["stage"] == "single"
    })
    .await;
    assert_eq!(fake.recorder.count(tryiton::CREATE), 1);

    let output = resume(&crate::tryiton::adapter(&fake), Category::Upper, state).await;
    assert_eq!(
        fake.recorder.count(tryiton::CREATE),
        1,
        "a resume never creates the job again"
    );
    assert_eq!(output.bytes, fake.only_job().result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_tryiton_combo_killed_during_its_top_job_goes_on_with_the_bottoms_once() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let state = crash_when(&crate::tryiton::adapter(&fake), Category::Combo, |s| {
        s["stage"] == "combo_top"
    })
    .await;
    assert_eq!(fake.recorder.count(tryiton::CREATE), 1);

    let output = resume(&crate::tryiton::adapter(&fake), Category::Combo, state).await;
    let jobs = fake.jobs();
    assert_eq!(
        jobs.len(),
        2,
        "the top job is polled, only the bottoms job is created: {jobs:?}"
    );
    assert_eq!(
        (
            jobs[1].category.as_str(),
            jobs[1].model_is_result_of.as_ref()
        ),
        ("bottoms", Some(&jobs[0].id)),
        "the bottoms go onto the top job's result"
    );
    assert_eq!(output.bytes, jobs[1].result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn a_tryiton_combo_killed_during_its_bottoms_job_only_polls_it() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    let state = crash_when(&crate::tryiton::adapter(&fake), Category::Combo, |s| {
        s["stage"] == "combo_bottoms"
    })
    .await;
    assert_eq!(fake.recorder.count(tryiton::CREATE), 2);

    let output = resume(&crate::tryiton::adapter(&fake), Category::Combo, state).await;
    assert_eq!(
        fake.recorder.count(tryiton::CREATE),
        2,
        "neither job is created again"
    );
    assert_eq!(output.bytes, fake.jobs()[1].result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn vtryon_polls_the_task_it_had_created_and_still_deletes_the_photo() {
    let fake = VtryonFake::start().await;
    let state = crash_when(&crate::vtryon::adapter(&fake), Category::Upper, |s| {
        s["task_id"].is_string()
    })
    .await;
    assert_eq!(fake.recorder.count(vtryon::CREATE), 1);
    assert_eq!(
        fake.person_images.lock().unwrap().len(),
        1,
        "the killed process could not delete the photo"
    );

    let output = resume(&crate::vtryon::adapter(&fake), Category::Upper, state).await;
    assert_eq!(
        fake.recorder.count(vtryon::CREATE),
        1,
        "a resume never creates the task again"
    );
    assert_eq!(fake.recorder.count(UPLOAD_PERSON), 1);
    assert_eq!(output.bytes, fake.only_task().result);
    fake.assert_no_person_images_left().await;
    assert_eq!(fake.recorder.count(DELETE_PERSON), 1);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn vtryon_killed_before_its_task_existed_creates_it_once_with_the_stored_photo() {
    let fake = VtryonFake::start().await;
    // The garment upload is slow, so the process dies between the photo and the task.
    fake.fault(UPLOAD_GARMENT, Fault::Delay(Duration::from_millis(300)));
    let state = crash_when(&crate::vtryon::adapter(&fake), Category::Upper, |s| {
        s["task_id"].is_null()
    })
    .await;
    assert_eq!(fake.recorder.count(vtryon::CREATE), 0);

    let output = resume(
        &crate::vtryon::adapter(&fake),
        Category::Upper,
        state.clone(),
    )
    .await;
    let task = fake.only_task();
    assert_eq!(
        task.person_image_id.to_string(),
        state["person_image_id"].as_str().unwrap(),
        "the photo uploaded before the crash is used, not uploaded again"
    );
    assert_eq!(fake.recorder.count(UPLOAD_PERSON), 1);
    assert_eq!(output.bytes, task.result);
    fake.assert_no_person_images_left().await;
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_polls_the_job_it_had_created_and_creates_nothing() {
    let fake = fitinview::FitInViewFake::start(Duration::from_secs(60)).await;
    let state = crash_when(&crate::fitinview::adapter(&fake), Category::Combo, |s| {
        s["job_id"].is_string()
    })
    .await;
    assert_eq!(fake.recorder.count(fitinview::CREATE), 1);

    let output = resume(&crate::fitinview::adapter(&fake), Category::Combo, state).await;
    assert_eq!(
        fake.recorder.count(fitinview::CREATE),
        1,
        "a resume never sends the create again once the job is known"
    );
    assert_eq!(output.bytes, fake.only_job().result);
    fake.recorder.assert_clean();
}

#[tokio::test]
async fn fitinview_killed_while_its_create_was_unanswered_resends_it_with_the_same_key() {
    let fake = fitinview::FitInViewFake::start(Duration::from_secs(60)).await;
    // The vendor takes its time: the process dies after sending the create, before the answer.
    fake.fault(fitinview::CREATE, Fault::Delay(Duration::from_millis(300)));
    let state = crash_when(&crate::fitinview::adapter(&fake), Category::Upper, |s| {
        s["job_id"].is_null() && fake.recorder.count(fitinview::CREATE) == 1
    })
    .await;
    for _ in 0..100 {
        if !fake.jobs().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.jobs().len(), 1, "the unanswered create made a job");

    let output = resume(
        &crate::fitinview::adapter(&fake),
        Category::Upper,
        state.clone(),
    )
    .await;
    let upstream = fake.only_job();
    assert_eq!(
        upstream.idempotency_key,
        state["idempotency_key"].as_str().unwrap(),
        "the create is re-sent with the key recorded before it was first sent"
    );
    assert_eq!(output.bytes, upstream.result);
    fake.recorder.assert_clean();
}
