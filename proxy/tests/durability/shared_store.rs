//! Issue 7 with `TRYON_STORE=redis://…`: real `tryon-proxy` binaries on one real
//! `redis-server`, driving a strict fake of a vendor (Fitroom's) that counts every call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tryon_fakes::Fake;
use tryon_fakes::fitroom::{CREATE, FitroomFake};

use crate::process::{DataDir, Proxy};
use crate::redis_server::RedisServer;

/// The fake vendor, slow enough that a test can act while a task runs upstream.
async fn slow_fitroom(processing: Duration) -> Arc<FitroomFake> {
    let fake = FitroomFake::start().await;
    fake.set(|behaviour| behaviour.processing_for = processing);
    fake
}

/// The environment that points the proxy's Fitroom adapter at `fake`.
fn fitroom_env(fake: &FitroomFake) -> Vec<(&'static str, String)> {
    vec![
        ("FITROOM_API_KEY", tryon_fakes::KEY.to_owned()),
        ("FITROOM_BASE_URL", fake.base_url()),
    ]
}

async fn start_on_redis(data: &DataDir, redis: &RedisServer, fake: &FitroomFake) -> Proxy {
    let url = redis.url(0);
    Proxy::start_with_env(
        &data.0,
        &["--store", &url, "--provider", "fitroom"],
        &fitroom_env(fake),
    )
    .await
}

#[tokio::test]
async fn a_paused_redis_refuses_creates_quickly_with_503_and_the_vendor_sees_no_create() {
    let redis = RedisServer::start();
    let fake = slow_fitroom(Duration::from_millis(200)).await;
    let data = DataDir::new("redis-paused");
    let proxy = start_on_redis(&data, &redis, &fake).await;
    let (status, created) = proxy.create(1, None).await;
    assert_eq!(status, 202, "a create with Redis up: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    proxy
        .wait_for(&id, "success", |v| v["status"] == "succeeded")
        .await;
    assert_eq!(fake.recorder.count(CREATE), 1);

    redis.pause();
    let started = Instant::now();
    let (status, problem) = proxy.create(2, None).await;
    let took = started.elapsed();
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("store_unavailable")),
        "a create while Redis is paused: {problem}"
    );
    assert!(
        took < Duration::from_secs(5),
        "the create must fail after the store's ~1 s timeout, not hang; took {took:?}"
    );
    assert_eq!(
        fake.recorder.count(CREATE),
        1,
        "nothing reaches the vendor (nor is charged) while the store is unavailable"
    );
    let (status, readiness) = proxy.text("/readyz").await;
    assert_eq!(status, 503, "not ready while Redis is paused: {readiness}");

    redis.resume();
    let (status, created) = proxy.create(3, None).await;
    assert_eq!(status, 202, "creates work again after SIGCONT: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    proxy
        .wait_for(&id, "success after SIGCONT", |v| v["status"] == "succeeded")
        .await;
    assert_eq!(fake.recorder.count(CREATE), 2);
}
