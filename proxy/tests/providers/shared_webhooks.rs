//! Issue 13: FitInView webhooks with several instances on one real `redis-server`. The
//! instance that creates a try-on drives it; the webhook lands wherever the load balancer
//! sends it. Delivered to the other instance, it reaches the driver through the store before
//! the driver's first poll; never delivered, the driver polls exactly as it would without
//! webhooks. Both are judged by the fake's call counts, not by the clock.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;
use tryon_fakes::fitinview::{FitInViewFake, STATUS, WEBHOOK_SECRET};
use tryon_fakes::{Delivery, Fake};
use tryon_proxy::app::{AppState, app};
use tryon_proxy::config::{Cli, Settings};
use tryon_proxy::providers::fitinview::FitInView;
use tryon_proxy::providers::{FitInViewSettings, UpstreamTuning};
use tryon_proxy::store::{RedisStore, Store};

use crate::redis_server::RedisServer;
use crate::util::{KEY, fast_tuning, garment, person};

const PATIENCE: Duration = Duration::from_secs(20);

/// One instance of the proxy on `redis`'s store (keys under `prefix`), with a FitInView
/// adapter that asks for webhooks at its own address when `webhooks` is on; its base URL.
async fn instance(
    redis: &RedisServer,
    prefix: &str,
    fake: &FitInViewFake,
    tuning: UpstreamTuning,
    webhooks: bool,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = FitInView::new(FitInViewSettings {
        api_key: SecretString::from(KEY),
        base_url: fake.base_url().parse().unwrap(),
        webhook_secret: webhooks.then(|| SecretString::from(WEBHOOK_SECRET)),
        public_url: Some(base.parse().unwrap()),
        tuning,
    })
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::open_with_prefix(&redis.url(0), Duration::from_secs(600), prefix).unwrap(),
    );
    let cli = Cli::try_parse_from(["tryon-proxy", "--create-burst", "1000000"]).unwrap();
    let settings = Settings::from_cli(cli).unwrap();
    let state = AppState::with_store(settings, Arc::new(provider), store).unwrap();
    let options = state.settings.serve.clone();
    let router = app(state);
    tokio::spawn(async move {
        tryon_proxy::serving::serve(listener, router, options, std::future::pending()).await
    });
    base
}

/// Creates a try-on on `base` and waits, reading its status there, until it ends.
async fn try_on(base: &str) -> Value {
    let file = |bytes: &[u8], name: &str| {
        reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(name.to_owned())
            .mime_str("image/jpeg")
            .unwrap()
    };
    let form = reqwest::multipart::Form::new()
        .part("person", file(&person().bytes, "me.jpg"))
        .part("garment", file(&garment().bytes, "shirt.jpg"))
        .text("category", "upper")
        .text("quality", "fast");
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/v1/tryons"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("a task id").to_owned();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let view: Value = http
            .get(format!("{base}/v1/tryons/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if view["status"] == "succeeded" || view["status"] == "failed" {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the try-on did not end: {view}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn prefix() -> String {
    format!("t{:x}:", rand::random::<u64>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivered_to_another_instance_reaches_the_driver_through_the_store() {
    let redis = RedisServer::start();
    let fake = FitInViewFake::start(Duration::from_secs(60)).await;
    fake.set(|b| b.processing_for = Duration::from_millis(300));
    // Expected to take 3 s: the driver's first poll is due after 2.4 s, long after the
    // webhook (0.3 s). Hearing of it any other way would show as a poll at the fake.
    let mut tuning = fast_tuning(20, Duration::from_secs(60));
    tuning.expected_duration = Some(Duration::from_secs(3));
    let prefix = prefix();
    let driver = instance(&redis, &prefix, &fake, tuning.clone(), true).await;
    let other = instance(&redis, &prefix, &fake, tuning, true).await;
    fake.set(|b| b.webhook_delivery = Delivery::ElsewhereAt(other.clone()));

    let view = try_on(&driver).await;
    assert_eq!(view["status"], "succeeded", "{view}");
    assert_eq!(
        *fake.webhook_statuses.lock().unwrap(),
        [204],
        "the other instance accepted the webhook"
    );
    assert_eq!(
        fake.recorder.count(STATUS),
        0,
        "the driver learned of the webhook through the store, before its first poll"
    );
    fake.only_job();
    fake.recorder.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_comes_costs_no_time() {
    let redis = RedisServer::start();
    let fake = FitInViewFake::start(Duration::from_secs(60)).await;
    // The job takes longer than expected, so the driver polls while it runs: the number of
    // polls shows the poll plan. Any slower plan with webhooks on shows as fewer polls.
    fake.set(|b| {
        b.processing_for = Duration::from_millis(900);
        b.rate_limit_per_min = 120;
    });
    let mut tuning = fast_tuning(60, Duration::from_secs(60));
    tuning.expected_duration = Some(Duration::from_millis(400));
    tuning.poll_interval = Duration::from_millis(100);

    let plain = instance(&redis, &prefix(), &fake, tuning.clone(), false).await;
    assert_eq!(try_on(&plain).await["status"], "succeeded");
    let without_webhooks = fake.recorder.count(STATUS);

    let prefix = prefix();
    let driver = instance(&redis, &prefix, &fake, tuning.clone(), true).await;
    let _other = instance(&redis, &prefix, &fake, tuning, true).await;
    fake.set(|b| b.webhook_delivery = Delivery::Lost);
    assert_eq!(try_on(&driver).await["status"], "succeeded");
    let with_lost_webhook = fake.recorder.count(STATUS) - without_webhooks;

    assert!(
        without_webhooks >= 3,
        "the plan polls while the job runs: {without_webhooks} polls"
    );
    assert!(
        with_lost_webhook + 1 >= without_webhooks,
        "with webhooks on and none delivered, the driver polls on the same plan as without \
         ({with_lost_webhook} polls, against {without_webhooks} without webhooks)"
    );
    assert!(fake.webhook_statuses.lock().unwrap().is_empty());
    assert_eq!(fake.jobs().len(), 2);
    fake.recorder.assert_clean();
}
