//! Issue 7 with a vendor behind the proxy: the real binary is SIGKILLed while a TryItOn combo
//! (two chained vendor jobs) runs upstream, and the restarted binary picks it up at the right
//! step from the embedded store: the top job is polled again, only the bottoms job is created,
//! and the shopper's result is delivered.

use std::time::Duration;

use serde_json::Value;
use tryon_fakes::tryiton::{DEFAULT_STATUS_PATH, TryItOnFake};
use tryon_fakes::{Fake, KEY, jpeg};

use crate::process::{DataDir, Proxy};

fn tryiton_env(fake: &TryItOnFake) -> Vec<(&'static str, String)> {
    vec![
        ("TRYITON_API_KEY", KEY.to_owned()),
        ("TRYITON_BASE_URL", fake.base_url()),
    ]
}

/// `POST /v1/tryons` of a combo: a person, a top and trousers.
async fn create_combo(proxy: &Proxy) -> Value {
    let part = |bytes: Vec<u8>, name: &str| {
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned())
    };
    let form = reqwest::multipart::Form::new()
        .part(
            "person",
            part(jpeg(600, 900, [180, 150, 130]), "person.jpg"),
        )
        .part("garment", part(jpeg(400, 400, [20, 60, 200]), "top.jpg"))
        .part(
            "lower_garment",
            part(jpeg(400, 400, [40, 40, 40]), "trousers.jpg"),
        )
        .text("category", "combo");
    let response = proxy
        .client
        .post(proxy.url("/v1/tryons"))
        .multipart(form)
        .send()
        .await
        .expect("POST /v1/tryons");
    assert_eq!(response.status(), 202, "the combo is accepted");
    response.json().await.expect("create answers JSON")
}

#[tokio::test]
async fn a_tryiton_combo_killed_during_its_top_job_resumes_with_only_the_bottoms_created() {
    let fake = TryItOnFake::start(DEFAULT_STATUS_PATH).await;
    fake.set(|behaviour| behaviour.processing_for = Duration::from_secs(2));
    let data = DataDir::new("vendor-restart");
    let args = ["--provider", "tryiton"];
    let first = Proxy::start_with_env(&data.0, &args, &tryiton_env(&fake)).await;
    let id = create_combo(&first).await["id"]
        .as_str()
        .expect("a task id")
        .to_owned();
    // The bar moves past "submitting" only once the job's id is in the store.
    first
        .wait_for(&id, "following the top job", |v| {
            v["progress"].as_u64() >= Some(4)
        })
        .await;
    first.kill();
    assert_eq!(fake.jobs().len(), 1, "killed while the top job ran");

    let second = Proxy::start_with_env(&data.0, &args, &tryiton_env(&fake)).await;
    let view = second
        .wait_for(&id, "succeeded after the restart", |v| {
            v["status"] == "succeeded" || v["status"] == "failed"
        })
        .await;
    assert_eq!(view["status"], "succeeded", "{view}");
    let jobs = fake.jobs();
    assert_eq!(
        jobs.len(),
        2,
        "the top job was polled again, not created again: {jobs:?}"
    );
    assert_eq!(
        (
            jobs[1].category.as_str(),
            jobs[1].model_is_result_of.as_ref()
        ),
        ("bottoms", Some(&jobs[0].id)),
        "the bottoms went onto the top job's result"
    );
    let result = second
        .client
        .get(second.url(&format!("/v1/tryons/{id}/result")))
        .send()
        .await
        .expect("GET result");
    assert_eq!(result.status(), 200);
    assert_eq!(
        result.bytes().await.unwrap().as_ref(),
        jobs[1].result.as_ref(),
        "the shopper gets the bottoms job's picture"
    );
    fake.recorder.assert_clean();
}
